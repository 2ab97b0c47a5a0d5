// SFT text side: task names, phrasing banks, instructions, spelled motions, the task mix and its
// per-walk copies, and subject-wise splits (loso, kfold, list).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/sft_text.h"
#include "testutil.h"

static int count_holes(const char *s) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, "{}")); p += 2) n++;
    return n;
}

static void task_names_round_trip(void **state) {
    (void)state;
    const char *names[] = {"m2t", "t2m", "rationale", "score"};
    for (int t = 0; t < AGIR_SFT_NTASK; t++) {
        assert_string_equal(agir_sft_task_name((agir_sft_task)t), names[t]);
        assert_int_equal(agir_sft_task_find(names[t]), t);
    }
    assert_int_equal(agir_sft_task_find("M2T"), -1);
    assert_int_equal(agir_sft_task_find(""), -1);
    assert_int_equal(agir_sft_task_find(NULL), -1);
}

static void banks_are_large_distinct_and_have_one_hole(void **state) {
    (void)state;
    for (int t = 0; t < AGIR_SFT_NTASK; t++) {
        int n = 0;
        const char *const *bank = agir_sft_phrasings((agir_sft_task)t, &n);
        assert_non_null(bank);
        assert_true(n >= 20);
        for (int i = 0; i < n; i++) {
            assert_int_equal(count_holes(bank[i]), 1);
            for (const char *p = bank[i]; *p; p++) assert_true((unsigned char)*p < 128);
            for (int j = 0; j < i; j++) assert_string_not_equal(bank[i], bank[j]);
        }
    }
    int n = -1;
    assert_null(agir_sft_phrasings(AGIR_SFT_NTASK, &n));
    assert_int_equal(n, 0);
}

static void instruction_substitutes_the_payload(void **state) {
    (void)state;
    for (int t = 0; t < AGIR_SFT_NTASK; t++) {
        int n = 0;
        const char *const *bank = agir_sft_phrasings((agir_sft_task)t, &n);
        for (int k = 0; k < n; k++) {
            agir_err e = {0};
            char *s = NULL;
            assert_int_equal(agir_sft_instruction((agir_sft_task)t, k, "<som><motion_id_3><eom>", &s, &e), AGIR_OK);
            const char *hole = strstr(bank[k], "{}");
            size_t head = (size_t)(hole - bank[k]);
            assert_int_equal(strlen(s), strlen(bank[k]) - 2 + strlen("<som><motion_id_3><eom>"));
            assert_memory_equal(s, bank[k], head);
            assert_memory_equal(s + head, "<som><motion_id_3><eom>", 23);
            assert_string_equal(s + head + 23, hole + 2);
            assert_null(strstr(s, "{}"));
            free(s);
        }
    }
    // A payload holding "{}" is copied verbatim, not substituted again.
    agir_err e = {0};
    char *s = NULL;
    assert_int_equal(agir_sft_instruction(AGIR_SFT_T2M, 0, "a{}b", &s, &e), AGIR_OK);
    assert_int_equal(count_holes(s), 1);
    free(s);
}

static void instruction_misuse_is_a_bug(void **state) {
    (void)state;
    int n = 0;
    agir_sft_phrasings(AGIR_SFT_SCORE, &n);
    int bad_k[] = {-1, n};
    for (int i = 0; i < 2; i++) {
        agir_err e = {0};
        char *s = (char *)"untouched";
        assert_int_equal(agir_sft_instruction(AGIR_SFT_SCORE, bad_k[i], "x", &s, &e), AGIR_EINTERNAL);
        assert_null(s);
    }
    agir_err e = {0};
    char *s = NULL;
    assert_int_equal(agir_sft_instruction(AGIR_SFT_NTASK, 0, "x", &s, &e), AGIR_EINTERNAL);
}

static void spell_motion_exact(void **state) {
    (void)state;
    agir_err e = {0};
    char *s = NULL;
    const int32_t codes[] = {12, 7, 0, 1023};
    assert_int_equal(agir_sft_spell_motion(codes, 4, &s, &e), AGIR_OK);
    assert_string_equal(s, "<som><motion_id_12><motion_id_7><motion_id_0><motion_id_1023><eom>");
    free(s);
    assert_int_equal(agir_sft_spell_motion(NULL, 0, &s, &e), AGIR_OK);
    assert_string_equal(s, "<som><eom>");
    free(s);
    const int32_t big[] = {2147483647};
    assert_int_equal(agir_sft_spell_motion(big, 1, &s, &e), AGIR_OK);
    assert_string_equal(s, "<som><motion_id_2147483647><eom>");
    free(s);
    const int32_t neg[] = {3, -1};
    s = (char *)"untouched";
    assert_int_equal(agir_sft_spell_motion(neg, 2, &s, &e), AGIR_EINTERNAL);
    assert_null(s);
}

// ---- mix ----------------------------------------------------------------------------------------

static void mix_parses(void **state) {
    (void)state;
    agir_err e = {0};
    agir_sft_mix m;
    assert_int_equal(agir_sft_mix_parse("m2t:1, t2m:0.5", "x.ini:3", &m, &e), AGIR_OK);
    assert_true(m.weight[AGIR_SFT_M2T] == 1.0 && m.weight[AGIR_SFT_T2M] == 0.5);
    assert_true(m.weight[AGIR_SFT_RATIONALE] == 0 && m.weight[AGIR_SFT_SCORE] == 0);
    assert_int_equal(agir_sft_mix_parse("  rationale ,score : 2.25 ", "x.ini:3", &m, &e), AGIR_OK);
    assert_true(m.weight[AGIR_SFT_RATIONALE] == 1.0 && m.weight[AGIR_SFT_SCORE] == 2.25);
    assert_true(m.weight[AGIR_SFT_M2T] == 0 && m.weight[AGIR_SFT_T2M] == 0);
    assert_int_equal(agir_sft_mix_parse("m2t:0,t2m:16,rationale:0,score", "x.ini:3", &m, &e), AGIR_OK);
    assert_true(m.weight[AGIR_SFT_M2T] == 0 && m.weight[AGIR_SFT_T2M] == 16 && m.weight[AGIR_SFT_SCORE] == 1);
}

static void mix_refusals(void **state) {
    (void)state;
    const char *bad[] = {
        "m2t:1, walk:1",   // unknown task
        "m2t:17",          // above 16
        "m2t:-0.5",        // below 0
        "m2t:nan",         // not in range
        "m2t:1, m2t:0.5",  // twice
        "m2t:0, t2m:0",    // nothing on
        "",                // empty
        "m2t:abc",         // not a number
        "m2t:",            // missing weight
        "m2t:1,,t2m:1",    // empty entry
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        agir_err e = {0};
        agir_sft_mix m = {{9, 9, 9, 9}};
        assert_int_equal(agir_sft_mix_parse(bad[i], "sft_stage1.ini:40", &m, &e), AGIR_EINPUT);
        assert_non_null(strstr(e.msg, "sft_stage1.ini:40: "));
        assert_non_null(strstr(e.msg, "m2t, t2m, rationale, score"));
        assert_non_null(strstr(e.msg, "(hint: "));
        assert_null(strchr(e.msg, '\n'));
        assert_true(m.weight[0] == 9 && m.weight[3] == 9);  // untouched when refused
    }
    agir_err e = {0};
    agir_sft_mix m;
    agir_sft_mix_parse("m2t:1, walk:1", "a.ini:1", &m, &e);
    assert_non_null(strstr(e.msg, "'walk'"));
}

static void copies_follow_the_weights(void **state) {
    (void)state;
    agir_sft_mix m = {{2, 0, 0.5, 1}};
    for (int64_t w = 0; w < 1000; w++) {
        assert_int_equal(agir_sft_copies(&m, AGIR_SFT_M2T, 7, w), 2);
        assert_int_equal(agir_sft_copies(&m, AGIR_SFT_T2M, 7, w), 0);
        assert_int_equal(agir_sft_copies(&m, AGIR_SFT_SCORE, 7, w), 1);
    }
    enum { N = 10000 };
    int extra = 0;
    for (int64_t w = 0; w < N; w++) {
        int c = agir_sft_copies(&m, AGIR_SFT_RATIONALE, 7, w);
        assert_true(c == 0 || c == 1);
        extra += c;
    }
    // Binomial(10000, 0.5) has sd 50; 3% is six of them.
    assert_true(extra > N / 2 - 300 && extra < N / 2 + 300);
}

static void copies_are_deterministic_and_order_free(void **state) {
    (void)state;
    agir_sft_mix m = {{1.5, 0.25, 0.5, 3.75}};
    enum { N = 500 };
    static int fwd[AGIR_SFT_NTASK][N];
    for (int t = 0; t < AGIR_SFT_NTASK; t++)
        for (int64_t w = 0; w < N; w++) fwd[t][w] = agir_sft_copies(&m, (agir_sft_task)t, 42, w);
    // Backwards, tasks interleaved, with other seeds drawn in between: same answers.
    for (int64_t w = N - 1; w >= 0; w--)
        for (int t = AGIR_SFT_NTASK - 1; t >= 0; t--) {
            agir_sft_copies(&m, (agir_sft_task)t, 43, w);
            assert_int_equal(agir_sft_copies(&m, (agir_sft_task)t, 42, w), fwd[t][w]);
        }
    // Another seed picks other walks; two tasks with the same weight pick different walks.
    int differ_seed = 0, differ_task = 0;
    agir_sft_mix half = {{0.5, 0.5, 0.5, 0.5}};
    for (int64_t w = 0; w < N; w++) {
        differ_seed += agir_sft_copies(&half, AGIR_SFT_M2T, 42, w) != agir_sft_copies(&half, AGIR_SFT_M2T, 43, w);
        differ_task += agir_sft_copies(&half, AGIR_SFT_M2T, 42, w) != agir_sft_copies(&half, AGIR_SFT_T2M, 42, w);
    }
    assert_true(differ_seed > N / 4 && differ_task > N / 4);
}

// ---- splits -------------------------------------------------------------------------------------

static void split_mode_parse(void **state) {
    (void)state;
    agir_err e = {0};
    agir_split_mode m;
    assert_int_equal(agir_split_mode_parse("loso", "s.ini:[split]", &m, &e), AGIR_OK);
    assert_int_equal(m, AGIR_SPLIT_LOSO);
    assert_int_equal(agir_split_mode_parse("kfold", "s.ini:[split]", &m, &e), AGIR_OK);
    assert_int_equal(m, AGIR_SPLIT_KFOLD);
    assert_int_equal(agir_split_mode_parse("list", "s.ini:[split]", &m, &e), AGIR_OK);
    assert_int_equal(m, AGIR_SPLIT_LIST);
    assert_int_equal(agir_split_mode_parse("random", "s.ini:[split]", &m, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "s.ini:[split]: "));
    assert_non_null(strstr(e.msg, "'random'"));
}

static const char *const SUBJ[] = {"SYN004", "SYN001", "SYN003", "SYN002", "SYN001", "SYN004", "SYN004"};

static void loso_holds_out_the_sorted_index(void **state) {
    (void)state;
    const char *sorted[] = {"SYN001", "SYN002", "SYN003", "SYN004"};
    for (int f = 0; f < 4; f++) {
        agir_err e = {0};
        agir_split s;
        agir_split_spec spec = {.mode = AGIR_SPLIT_LOSO, .fold = f, .where = "w"};
        assert_int_equal(agir_split_make(SUBJ, 7, &spec, &s, &e), AGIR_OK);
        assert_int_equal(s.n, 4);  // duplicates collapse
        assert_int_equal(s.n_test, 1);
        for (int i = 0; i < 4; i++) {
            assert_string_equal(s.subjects[i], sorted[i]);
            assert_int_equal(s.test[i], i == f);
            assert_int_equal(agir_split_is_test(&s, sorted[i]), i == f);
        }
        assert_int_equal(agir_split_is_test(&s, "SYN005"), -1);
        assert_int_equal(agir_split_is_test(&s, NULL), -1);
        agir_split_free(&s);
        agir_split_free(&s);  // a freed split is zeroed
    }
    int bad_fold[] = {-1, 4};
    for (int i = 0; i < 2; i++) {
        agir_err e = {0};
        agir_split s;
        agir_split_spec spec = {.mode = AGIR_SPLIT_LOSO, .fold = bad_fold[i], .where = "run.ini:[split]"};
        assert_int_equal(agir_split_make(SUBJ, 7, &spec, &s, &e), AGIR_EINPUT);
        assert_non_null(strstr(e.msg, "run.ini:[split]: "));
        assert_null(s.subjects);
    }
    // One subject alone leaves nothing to train on.
    agir_err e = {0};
    agir_split s;
    agir_split_spec spec = {.mode = AGIR_SPLIT_LOSO, .fold = 0, .where = "w"};
    const char *one[] = {"SYN001", "SYN001"};
    assert_int_equal(agir_split_make(one, 2, &spec, &s, &e), AGIR_EINPUT);
}

enum { NS = 11 };

static void make_subjects(char ids[NS][8], const char *ptrs[NS]) {
    for (int i = 0; i < NS; i++) {
        snprintf(ids[i], 8, "S%02d", (i * 7) % NS);  // not in sorted order
        ptrs[i] = ids[i];
    }
}

static void kfold_partitions_the_subjects(void **state) {
    (void)state;
    char ids[NS][8];
    const char *ptrs[NS];
    make_subjects(ids, ptrs);
    for (int k = 2; k <= NS; k++) {
        int seen[NS] = {0}, min = NS, max = 0;
        for (int f = 0; f < k; f++) {
            agir_err e = {0};
            agir_split s;
            agir_split_spec spec = {.mode = AGIR_SPLIT_KFOLD, .k = k, .fold = f, .seed = 5, .where = "w"};
            assert_int_equal(agir_split_make(ptrs, NS, &spec, &s, &e), AGIR_OK);
            assert_int_equal(s.n, NS);
            for (int i = 0; i < NS; i++) seen[i] += s.test[i];
            if (s.n_test < min) min = s.n_test;
            if (s.n_test > max) max = s.n_test;
            // The same seed gives the same fold.
            agir_split again;
            assert_int_equal(agir_split_make(ptrs, NS, &spec, &again, &e), AGIR_OK);
            assert_memory_equal(s.test, again.test, NS);
            agir_split_free(&again);
            agir_split_free(&s);
        }
        for (int i = 0; i < NS; i++) assert_int_equal(seen[i], 1);
        assert_true(max - min <= 1);
        assert_int_equal(min, NS / k);
    }
}

static void kfold_seeds_shuffle(void **state) {
    (void)state;
    char ids[NS][8];
    const char *ptrs[NS];
    make_subjects(ids, ptrs);
    agir_err e = {0};
    agir_split ref;
    agir_split_spec spec = {.mode = AGIR_SPLIT_KFOLD, .k = 4, .fold = 1, .seed = 1, .where = "w"};
    assert_int_equal(agir_split_make(ptrs, NS, &spec, &ref, &e), AGIR_OK);
    int differ = 0;
    for (uint64_t seed = 2; seed < 22; seed++) {
        agir_split s;
        spec.seed = seed;
        assert_int_equal(agir_split_make(ptrs, NS, &spec, &s, &e), AGIR_OK);
        differ += memcmp(s.test, ref.test, NS) != 0;
        agir_split_free(&s);
    }
    agir_split_free(&ref);
    assert_true(differ >= 15);
}

static void kfold_refusals(void **state) {
    (void)state;
    char ids[NS][8];
    const char *ptrs[NS];
    make_subjects(ids, ptrs);
    int bad[][2] = {{1, 0}, {NS + 1, 0}, {3, 3}, {3, -1}};  // k, fold
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        agir_err e = {0};
        agir_split s;
        agir_split_spec spec = {.mode = AGIR_SPLIT_KFOLD, .k = bad[i][0], .fold = bad[i][1], .where = "k.ini:[split]"};
        assert_int_equal(agir_split_make(ptrs, NS, &spec, &s, &e), AGIR_EINPUT);
        assert_non_null(strstr(e.msg, "k.ini:[split]: "));
        assert_non_null(strstr(e.msg, "(hint: "));
    }
}

static void list_mode(void **state) {
    (void)state;
    agir_err e = {0};
    agir_split s;
    agir_split_spec spec = {.mode = AGIR_SPLIT_LIST, .list = " SYN003 ,SYN001,SYN003", .where = "l.ini:[split]"};
    assert_int_equal(agir_split_make(SUBJ, 7, &spec, &s, &e), AGIR_OK);
    assert_int_equal(s.n, 4);
    assert_int_equal(s.n_test, 2);
    assert_int_equal(agir_split_is_test(&s, "SYN001"), 1);
    assert_int_equal(agir_split_is_test(&s, "SYN002"), 0);
    assert_int_equal(agir_split_is_test(&s, "SYN003"), 1);
    assert_int_equal(agir_split_is_test(&s, "SYN004"), 0);
    assert_int_equal(agir_split_is_test(&s, "SYN009"), -1);
    agir_split_free(&s);

    spec.list = "SYN003,SYN099";
    assert_int_equal(agir_split_make(SUBJ, 7, &spec, &s, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "l.ini:[split]: "));
    assert_non_null(strstr(e.msg, "SYN099"));
    assert_null(s.subjects);

    const char *refused[] = {"SYN001,SYN002,SYN003,SYN004", "", " , ", NULL};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        agir_err e2 = {0};
        spec.list = refused[i];
        assert_int_equal(agir_split_make(SUBJ, 7, &spec, &s, &e2), AGIR_EINPUT);
        assert_non_null(strstr(e2.msg, "l.ini:[split]: "));
        assert_null(s.subjects);
    }
    agir_err e3 = {0};
    spec.list = "SYN004,SYN001,SYN002,SYN003";
    agir_split_make(SUBJ, 7, &spec, &s, &e3);
    assert_non_null(strstr(e3.msg, "train"));
}

static void no_subjects_refused(void **state) {
    (void)state;
    agir_err e = {0};
    agir_split s;
    agir_split_spec spec = {.mode = AGIR_SPLIT_LOSO, .fold = 0, .where = "w"};
    assert_int_equal(agir_split_make(NULL, 0, &spec, &s, &e), AGIR_EINPUT);
    agir_split zero = {0};
    agir_split_free(&zero);
    assert_int_equal(agir_split_is_test(&zero, "SYN001"), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(task_names_round_trip),
        cmocka_unit_test(banks_are_large_distinct_and_have_one_hole),
        cmocka_unit_test(instruction_substitutes_the_payload),
        cmocka_unit_test(instruction_misuse_is_a_bug),
        cmocka_unit_test(spell_motion_exact),
        cmocka_unit_test(mix_parses),
        cmocka_unit_test(mix_refusals),
        cmocka_unit_test(copies_follow_the_weights),
        cmocka_unit_test(copies_are_deterministic_and_order_free),
        cmocka_unit_test(split_mode_parse),
        cmocka_unit_test(loso_holds_out_the_sorted_index),
        cmocka_unit_test(kfold_partitions_the_subjects),
        cmocka_unit_test(kfold_seeds_shuffle),
        cmocka_unit_test(kfold_refusals),
        cmocka_unit_test(list_mode),
        cmocka_unit_test(no_subjects_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
