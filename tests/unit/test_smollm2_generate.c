// Generation with the embedded default model, SmolLM2-135M-Instruct (Q4_1 GGUF in models-cache/),
// through its own chat template: greedy answers to simple questions are right ("Paris" for the
// capital of France, "cold" as the opposite of hot), end on the end-of-turn token, the two
// questions batched give the answers each gives alone, and a stop string cuts the text. Last, an
// adapter (motion tokens + a LoRA) saved to a file gives through `agir generate --adapter` the text
// the library gives in process with that LoRA, which differs from the base model's.
// Skipped (exit 77) when the model file is absent.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/default_model.h"
#include "infer/generate.h"
#include "models/adapter.h"
#include "models/llama_load.h"
#include "testutil.h"

enum { MAX_NEW = 16, NQ = 2 };
static const char *const QUESTION[NQ] = {"What is the capital of France?",
                                         "What is the opposite of hot? Answer in one word."};
static const char *const ANSWER[NQ] = {"Paris", "old"};  // "Cold" or "cold"

typedef struct model {
    agir_llm l;
    const agir_chat_template *tp;
    int32_t stop[2];
    int n_stop;
    agir_ids prompt[NQ];
    agir_gen_seq alone[NQ];  // each question's answer generated alone (by `answers`)
} model;

static model M;

static int setup(void **state) {
    (void)state;
    char path[4096];
    agir_err e = {0};
    if (agir_default_model_path(path, sizeof path, &e)) agir_test_skip("default model file absent");
    if (agir_llm_load(path, &M.l, &e)) fail_msg("%s", e.msg);
    if (agir_chat_template_pick("auto", M.l.tok, M.l.chat_jinja, &M.tp, &e)) fail_msg("%s", e.msg);
    assert_string_equal(M.tp->name, "chatml");
    M.n_stop = agir_gen_stop_ids(M.l.tok, M.l.eos, M.tp, M.stop);
    assert_true(M.n_stop >= 1);
    for (int q = 0; q < NQ; q++) {
        agir_chat_msg msg = {"user", QUESTION[q]};
        agir_chat_text ct = {0};
        if (agir_chat_render(M.tp, &msg, 1, 1, &ct, &e)) fail_msg("%s", e.msg);
        if (agir_tok_encode(M.l.tok, ct.text, ct.len, &M.prompt[q], &e)) fail_msg("%s", e.msg);
        agir_chat_text_free(&ct);
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    for (int q = 0; q < NQ; q++) agir_ids_free(&M.prompt[q]);
    agir_gen_seq_free(M.alone, NQ);
    agir_llm_free(&M.l);
    return 0;
}

static char *decode(const agir_gen_seq *q) {
    char *text;
    size_t len;
    agir_err e = {0};
    if (agir_tok_decode(M.l.tok, q->ids, (size_t)q->n, 1, &text, &len, &e)) fail_msg("%s", e.msg);
    return text;
}

static void generate(int B, const int *which, agir_gen_seq *out, agir_gen_stats *st) {
    const int32_t *p[NQ];
    int len[NQ], T = 0;
    for (int b = 0; b < B; b++) {
        p[b] = M.prompt[which[b]].id;
        len[b] = (int)M.prompt[which[b]].n;
        T = len[b] > T ? len[b] : T;
    }
    agir_infer s;
    agir_err e = {0};
    agir_gen_cfg c = {.max_new = MAX_NEW, .stop = M.stop, .n_stop = M.n_stop, .stats = st};
    if (agir_infer_init(&s, &M.l.model, NULL, B, T + MAX_NEW, &e)) fail_msg("%s", e.msg);
    if (agir_generate(&s, p, len, &c, out, &e)) fail_msg("%s", e.msg);
    agir_infer_free(&s);
}

static void answers(void **state) {
    (void)state;
    for (int q = 0; q < NQ; q++) {
        agir_gen_seq out;
        agir_gen_stats st;
        generate(1, &q, &out, &st);
        M.alone[q] = out;
        char *text = decode(&out);
        print_message("Q: %s\nA: %s\n(prefill %lld tokens %.1f tokens/s, decode %lld tokens %.1f tokens/s)\n",
                      QUESTION[q], text, st.prefill_tokens, st.prefill_tokens / st.prefill_s, st.decode_tokens,
                      st.decode_tokens / st.decode_s);
        if (!strstr(text, ANSWER[q])) fail_msg("answer to '%s' lacks '%s': %s", QUESTION[q], ANSWER[q], text);
        assert_int_equal(out.stop, AGIR_GEN_STOP_TOKEN);
        free(text);
    }
}

static void batched_equals_alone(void **state) {
    (void)state;
    const int both[NQ] = {0, 1};
    agir_gen_seq all[NQ];
    for (int q = 0; q < NQ; q++)
        if (!M.alone[q].ids) fail_msg("needs the answers of the first test");
    generate(NQ, both, all, NULL);
    for (int q = 0; q < NQ; q++) {
        assert_int_equal(all[q].n, M.alone[q].n);
        assert_memory_equal(all[q].ids, M.alone[q].ids, sizeof(int32_t) * (size_t)all[q].n);
    }
    agir_gen_seq_free(all, NQ);
}

static void stop_string(void **state) {
    (void)state;
    agir_infer s;
    agir_err e = {0};
    int plen = (int)M.prompt[0].n;
    agir_gen_cfg c = {.max_new = MAX_NEW, .stop = M.stop, .n_stop = M.n_stop};
    const char *stop[1] = {"Paris"};
    char *text;
    agir_gen_seq seq;
    if (agir_infer_init(&s, &M.l.model, NULL, 1, plen + MAX_NEW, &e)) fail_msg("%s", e.msg);
    if (agir_generate_text(&s, M.l.tok, M.prompt[0].id, plen, &c, stop, 1, &text, &seq, &e)) fail_msg("%s", e.msg);
    assert_int_equal(seq.stop, AGIR_GEN_STOP_TEST);
    assert_null(strstr(text, "Paris"));
    assert_true(strlen(text) > 0);  // what came before "Paris" is kept
    free(text);
    agir_gen_seq_free(&seq, 1);
    agir_infer_free(&s);
}

// Greedy text for question 0 with lora.
static char *answer_with(const agir_lora *lora, agir_gen_seq *seq) {
    agir_infer s;
    agir_err e = {0};
    int plen = (int)M.prompt[0].n;
    agir_gen_cfg c = {.max_new = 8, .stop = M.stop, .n_stop = M.n_stop};
    char *text;
    if (agir_infer_init(&s, &M.l.model, lora, 1, plen + c.max_new, &e)) fail_msg("%s", e.msg);
    if (agir_generate_text(&s, M.l.tok, M.prompt[0].id, plen, &c, NULL, 0, &text, seq, &e)) fail_msg("%s", e.msg);
    agir_infer_free(&s);
    return text;
}

// Runs last: it extends the shared model's vocabulary.
static void adapter_cli(void **state) {
    (void)state;
    const char *bin = agir_test_bin();
    if (!bin) agir_test_skip("AGIR_BIN not set");
    agir_err e = {0};
    agir_rng r;
    agir_rng_init(&r, 77, 0);
    agir_new_rows_opts o = {.init = AGIR_NEW_ROWS_MEAN};
    if (agir_llm_add_motion(&M.l, 4, &o, &r, &e)) fail_msg("%s", e.msg);
    int dims[AGIR_LORA_NTARGET][2];
    agir_llama_lora_dims(&M.l.model.cfg, dims);
    agir_lora lora;
    agir_lora_cfg lc = {.rank = 2, .alpha = 8, .targets = 1u << AGIR_LORA_Q | 1u << AGIR_LORA_V | 1u << AGIR_LORA_DOWN};
    if (agir_lora_alloc(&lora, &lc, M.l.model.cfg.n_layer, dims, &e)) fail_msg("%s", e.msg);
    agir_lora_init(&lora, &r);
    for (int l = 0; l < lora.n_layer; l++)
        for (int t = 0; t < AGIR_LORA_NTARGET; t++) {
            agir_lora_mat *mt = agir_lora_at(&lora, l, (agir_lora_target)t);
            for (int i = 0; mt->A && i < lc.rank * mt->out; i++) mt->B[i] = (float)agir_rng_range(&r, -0.6, 0.6);
        }
    char dir[4096], path[4200], cmd[9000];
    agir_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/adapter.safetensors", dir);
    if (agir_adapter_save(path, &M.l, &lora, &e)) fail_msg("%s", e.msg);
    agir_gen_seq with;
    char *want = answer_with(&lora, &with);
    const agir_gen_seq *base = &M.alone[0];  // the same question without the adapter
    print_message("with adapter: %s\n", want);
    if (!base->ids) fail_msg("needs the answers of the first test");
    if (with.n <= base->n && !memcmp(with.ids, base->ids, sizeof(int32_t) * (size_t)with.n))
        fail_msg("the adapter changes nothing; the test could not tell it was applied");
    snprintf(cmd, sizeof cmd, "'%s' generate --adapter '%s' --max-tokens 8 '%s'", bin, path, QUESTION[0]);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char got[4096];
    size_t n = fread(got, 1, sizeof got - 1, p);
    got[n] = '\0';
    assert_int_equal(pclose(p), 0);
    if (n && got[n - 1] == '\n') got[n - 1] = '\0';
    assert_string_equal(got, want);
    free(want);
    agir_gen_seq_free(&with, 1);
    agir_lora_free(&lora);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(answers),
        cmocka_unit_test(batched_equals_alone),
        cmocka_unit_test(stop_string),
        cmocka_unit_test(adapter_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
