// Text tokenizer against HF `tokenizers`: ids and decoded text for an edge-case corpus on tiny
// tokenizers of every supported style (fixtures made by tools/make_tokenizer_fixtures.py), the
// encode/decode round trip, token offsets, the motion-token extension, and error classes.
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsio.h"
#include "models/tokenizer.h"
#include "testutil.h"


// name: a fixture file, "smollm.json" or "smollm.gguf"; a bare name means the .json.
static agir_tok *load_tok(const char *name) {
    char rel[256], path[4096];
    int gguf = strstr(name, ".gguf") != NULL;
    snprintf(rel, sizeof rel, "tests/fixtures/tokenizer/%s%s", name, gguf ? "" : ".json");
    agir_test_src(rel, path, sizeof path);
    agir_tok *t = NULL;
    agir_err e = {0};
    int rc = gguf ? agir_tok_load_gguf_file(&t, path, &e) : agir_tok_load_json(&t, path, &e);
    if (rc) fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
    return t;
}

static void expect_ids(const agir_ids *got, const cJSON *want, const char *what) {
    int n = cJSON_GetArraySize(want), ok = (size_t)n == got->n;
    for (int i = 0; ok && i < n; i++) ok = got->id[i] == cJSON_GetArrayItem(want, i)->valueint;
    if (!ok) {
        fprintf(stderr, "%s:\n  got ", what);
        for (size_t i = 0; i < got->n; i++) fprintf(stderr, " %d", got->id[i]);
        fprintf(stderr, "\n  want");
        for (int i = 0; i < n; i++) fprintf(stderr, " %d", cJSON_GetArrayItem(want, i)->valueint);
        fprintf(stderr, "\n");
    }
    assert_true(ok);
}

// Every corpus string: ids equal HF's, decode equals HF's decode, offsets rise, and for the
// byte-level models decode(encode(s)) == s.
static void check_corpus(const char *name, const char *file) {
    cJSON *corpus = agir_test_load_json("tests/fixtures/tokenizer/corpus.json");
    char rel[256];
    snprintf(rel, sizeof rel, "tests/fixtures/tokenizer/%s.expected.json", name);
    cJSON *exp = agir_test_load_json(rel);
    const cJSON *ids = cJSON_GetObjectItem(exp, "ids"), *dec = cJSON_GetObjectItem(exp, "decoded");
    assert_int_equal(cJSON_GetArraySize(ids), cJSON_GetArraySize(corpus));
    agir_tok *t = load_tok(file);
    for (int i = 0; i < cJSON_GetArraySize(corpus); i++) {
        const char *s = cJSON_GetArrayItem(corpus, i)->valuestring;
        agir_ids got = {0};
        agir_err e = {0};
        assert_int_equal(agir_tok_encode(t, s, strlen(s), &got, &e), 0);
        char what[512];
        snprintf(what, sizeof what, "%s corpus[%d] '%.60s'", file, i, s);
        expect_ids(&got, cJSON_GetArrayItem(ids, i), what);
        assert_int_equal(got.dropped, 0);  // the fixtures cover every byte or fall back to bytes
        // Offsets rise; only SentencePiece's prepended ▁ (no bytes of its own) may share one.
        int spm = agir_tok_kind(t) == AGIR_TOK_SPM_BPE;
        for (size_t k = 1; k < got.n; k++) assert_true(got.off[k] > got.off[k - 1] || (spm && got.off[k] == got.off[k - 1]));
        char *text;
        size_t len;
        assert_int_equal(agir_tok_decode(t, got.id, got.n, 0, &text, &len, &e), 0);
        const char *want = cJSON_GetArrayItem(dec, i)->valuestring;
        if (strcmp(text, want)) fprintf(stderr, "%s: decoded '%s', HF '%s'\n", what, text, want);
        assert_string_equal(text, want);
        if (agir_tok_kind(t) == AGIR_TOK_BYTE_BPE) assert_string_equal(text, s);
        free(text);
        agir_ids_free(&got);
    }
    agir_tok_free(t);
    cJSON_Delete(exp);
    cJSON_Delete(corpus);
}

static void gpt2(void **state) { (void)state; check_corpus("gpt2", "gpt2"); }
static void smollm(void **state) { (void)state; check_corpus("smollm", "smollm"); }
static void llama3(void **state) { (void)state; check_corpus("llama3", "llama3"); }
static void qwen2(void **state) { (void)state; check_corpus("qwen2", "qwen2"); }
static void spm_metaspace(void **state) { (void)state; check_corpus("spm", "spm"); }
static void spm_legacy(void **state) { (void)state; check_corpus("spm_legacy", "spm_legacy"); }
// The GGUF route (tokenizer.ggml.* written by the gguf package) gives HF's ids too.
static void smollm_gguf(void **state) { (void)state; check_corpus("smollm", "smollm.gguf"); }
static void qwen2_gguf(void **state) { (void)state; check_corpus("qwen2", "qwen2.gguf"); }

// K motion tokens + <som>/<eom>: ids and the encoding of a probe text equal HF's add_special_tokens.
static void check_motion(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/fixtures/tokenizer/%s.expected.json", name);
    cJSON *exp = agir_test_load_json(rel);
    const cJSON *m = cJSON_GetObjectItem(exp, "motion");
    agir_tok *t = load_tok(name);
    int32_t n0 = agir_tok_n_vocab(t), first;
    agir_err e = {0};
    int k = cJSON_GetObjectItem(m, "k")->valueint;
    assert_int_equal(agir_tok_add_motion(t, k, &first, &e), 0);
    assert_int_equal(first, n0);
    assert_int_equal(first, cJSON_GetObjectItem(m, "first")->valueint);
    assert_int_equal(first + k, cJSON_GetObjectItem(m, "som")->valueint);
    assert_int_equal(first + k + 1, cJSON_GetObjectItem(m, "eom")->valueint);
    assert_int_equal(agir_tok_n_vocab(t), n0 + k + 2);
    const char *probe = cJSON_GetObjectItem(m, "text")->valuestring;
    agir_ids got = {0};
    assert_int_equal(agir_tok_encode(t, probe, strlen(probe), &got, &e), 0);
    expect_ids(&got, cJSON_GetObjectItem(m, "ids"), "motion probe");
    char *text;
    size_t len;
    assert_int_equal(agir_tok_decode(t, got.id, got.n, 0, &text, &len, &e), 0);
    if (agir_tok_kind(t) == AGIR_TOK_BYTE_BPE) assert_string_equal(text, probe);
    free(text);
    // Extending twice is refused: the names exist already.
    assert_int_equal(agir_tok_add_motion(t, k, &first, &e), AGIR_EINPUT);
    agir_ids_free(&got);
    agir_tok_free(t);
    cJSON_Delete(exp);
}

static void motion_byte_level(void **state) { (void)state; check_motion("smollm"); }
static void motion_spm(void **state) { (void)state; check_motion("spm"); }

// Text with NUL and every byte value round-trips through the byte-level model; offsets point at
// the bytes each token covers.
static void bytes_round_trip(void **state) {
    (void)state;
    agir_tok *t = load_tok("llama3");
    char s[600];
    size_t n = 0;
    for (int b = 0; b < 128; b++) s[n++] = (char)b;
    memcpy(s + n, "caf\xc3\xa9 \xf0\x9f\x98\x80 \x00 end", 17);
    n += 17;
    agir_ids ids = {0};
    agir_err e = {0};
    assert_int_equal(agir_tok_encode(t, s, n, &ids, &e), 0);
    char *text;
    size_t len;
    assert_int_equal(agir_tok_decode(t, ids.id, ids.n, 0, &text, &len, &e), 0);
    assert_int_equal(len, n);
    assert_memory_equal(text, s, n);
    free(text);
    for (size_t i = 0; i < ids.n; i++) {  // each token decodes to the bytes between its offsets
        size_t end = i + 1 < ids.n ? ids.off[i + 1] : n;
        assert_int_equal(agir_tok_decode(t, &ids.id[i], 1, 0, &text, &len, &e), 0);
        assert_int_equal(len, end - ids.off[i]);
        assert_memory_equal(text, s + ids.off[i], len);
        free(text);
    }
    agir_ids_free(&ids);
    agir_tok_free(t);
}

// A Split regex that matches empty strings ("x*") ends a piece at each empty match, as in HF.
static void empty_regex_matches(void **state) {
    (void)state;
    cJSON *exp = agir_test_load_json("tests/fixtures/tokenizer/smollm.expected.json");
    const cJSON *em = cJSON_GetObjectItem(exp, "empty_match");
    cJSON *tj = agir_test_load_json("tests/fixtures/tokenizer/smollm.json");
    cJSON_ReplaceItemInObject(tj, "pre_tokenizer", cJSON_Duplicate(cJSON_GetObjectItem(em, "pre_tokenizer"), 1));
    char *text = cJSON_PrintUnformatted(tj);
    agir_tok *t = NULL;
    agir_err e = {0};
    assert_int_equal(agir_tok_parse_json(&t, text, strlen(text), "empty_match.json", &e), 0);
    const char *probe = cJSON_GetObjectItem(em, "text")->valuestring;
    agir_ids got = {0};
    assert_int_equal(agir_tok_encode(t, probe, strlen(probe), &got, &e), 0);
    expect_ids(&got, cJSON_GetObjectItem(em, "ids"), "x* split");
    agir_ids_free(&got);
    agir_tok_free(t);
    free(text);
    cJSON_Delete(tj);
    cJSON_Delete(exp);
}

static void bad_inputs(void **state) {
    (void)state;
    agir_tok *t = load_tok("gpt2");
    agir_ids ids = {0};
    agir_err e = {0};
    assert_int_equal(agir_tok_encode(t, "ok \xff\xfe", 5, &ids, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "UTF-8"));
    char *text;
    size_t len;
    int32_t bad[] = {1, 100000};
    agir_err_clear(&e);
    assert_int_equal(agir_tok_decode(t, bad, 2, 0, &text, &len, &e), AGIR_EINPUT);
    assert_null(strchr(e.msg, '\n'));
    agir_tok_free(t);
    // Unsupported model type: one clear line, input error.
    agir_tok *u = NULL;
    const char *unigram = "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", 0.0]]}}";
    agir_err_clear(&e);
    assert_int_equal(agir_tok_parse_json(&u, unigram, strlen(unigram), "uni.json", &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "Unigram"));
    assert_null(u);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gpt2),          cmocka_unit_test(smollm),       cmocka_unit_test(llama3),
        cmocka_unit_test(qwen2),         cmocka_unit_test(spm_metaspace), cmocka_unit_test(spm_legacy),
        cmocka_unit_test(motion_byte_level), cmocka_unit_test(motion_spm), cmocka_unit_test(bytes_round_trip),
        cmocka_unit_test(bad_inputs),    cmocka_unit_test(smollm_gguf),  cmocka_unit_test(qwen2_gguf),
        cmocka_unit_test(empty_regex_matches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
