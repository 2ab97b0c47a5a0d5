// The embedded default model (SmolLM2-135M-Instruct, Q4_1 GGUF) loaded by agir_llm_load predicts
// sensible next tokens: on the committed paragraph tests/fixtures/smollm2/paragraph.txt its
// perplexity stays below a bound and within 2% of an independent implementation's
// (tools/smollm2_reference.py: HF transformers reading the same GGUF; tests/fixtures/smollm2/
// reference.json), and its arg-max next token agrees with the reference's at almost every position.
// The token ids must equal the reference tokenizer's, so both score the same input.
// Skipped (77) when models-cache/ lacks the file (AGIR_NO_MODEL=1 setups).
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoints/default_model.h"
#include "core/fsio.h"
#include "models/llama_load.h"
#include "testutil.h"

// transformers' perplexity on the paragraph is 16.19 (reference.json); a correct port lands within
// float32 noise of it, while a wrong q/k permutation, RoPE layout or dequantization gives hundreds
// or more. The bound leaves a small margin above the reference.
#define PPL_BOUND 17.0
#define PPL_REL_TOL 0.02
#define TOP1_MIN 0.95

static void check_model_shape(const agir_llm *l) {
    const agir_llama_config *c = &l->model.cfg;
    // docs/architecture.md, "Models, jobs and run folders": 30 layers, d=576, 9 heads, 3 KV heads,
    // vocab 49152, tied embeddings.
    assert_int_equal(c->n_layer, 30);
    assert_int_equal(c->dim, 576);
    assert_int_equal(c->n_head, 9);
    assert_int_equal(c->n_kv_head, 3);
    assert_int_equal(c->vocab, 49152);
    assert_true(c->tied);
    assert_false(c->qkv_bias);
    assert_int_equal(l->bos, 1);
    assert_int_equal(l->eos, 2);
    assert_non_null(l->chat_jinja);
    assert_non_null(strstr(l->chat_jinja, "<|im_start|>"));
}

static void paragraph(void **state) {
    (void)state;
    char path[4096];
    agir_test_src("models-cache/" AGIR_DEFAULT_MODEL_FILE, path, sizeof path);
    if (access(path, R_OK) != 0) agir_test_skip("models-cache/" AGIR_DEFAULT_MODEL_FILE " absent (run tools/fetch_model.sh)");
    agir_err e = {0};
    agir_llm l;
    if (agir_llm_load(path, &l, &e)) fail_msg("%s", e.msg);
    check_model_shape(&l);

    cJSON *ref = agir_test_load_json("tests/fixtures/smollm2/reference.json");
    const cJSON *rids = cJSON_GetObjectItem(ref, "ids"), *rarg = cJSON_GetObjectItem(ref, "argmax");
    double ref_ppl = cJSON_GetObjectItem(ref, "perplexity")->valuedouble;
    char tpath[4096], *text;
    size_t len;
    agir_test_src("tests/fixtures/smollm2/paragraph.txt", tpath, sizeof tpath);
    assert_int_equal(agir_read_file(tpath, 1 << 16, &text, &len, &e), 0);
    agir_ids ids = {0};
    assert_int_equal(agir_tok_encode(l.tok, text, len, &ids, &e), 0);
    int T = (int)ids.n;
    assert_int_equal(T, cJSON_GetArraySize(rids));
    for (int i = 0; i < T; i++)
        if (ids.id[i] != cJSON_GetArrayItem(rids, i)->valueint)
            fail_msg("token %d: id %d, the reference tokenizer gives %d", i, ids.id[i], cJSON_GetArrayItem(rids, i)->valueint);

    int32_t *pos = malloc(T * sizeof *pos), *seg = calloc(T, sizeof *seg), *labels = malloc(T * sizeof *labels);
    for (int i = 0; i < T; i++) pos[i] = i, labels[i] = i + 1 < T ? ids.id[i + 1] : -1;
    agir_llama_acts a;
    agir_test_llama tl;
    agir_test_llama_open(&tl, &l.model, NULL);
    assert_int_equal(agir_llama_acts_alloc(&a, &tl.w, 1, T, &e), 0);
    if (agir_llama_forward(&tl.w, &a, ids.id, pos, seg, NULL, &e)) fail_msg("%s", e.msg);
    int V = l.model.cfg.vocab, agree = 0;
    for (int i = 0; i + 1 < T; i++) {
        const float *row = (const float *)a.logits + (size_t)i * V;
        int best = 0;
        for (int v = 1; v < V; v++)
            if (row[v] > row[best]) best = v;
        agree += best == cJSON_GetArrayItem(rarg, i)->valueint;
    }
    double loss;
    assert_int_equal(agir_llama_loss(&tl.w, &a, labels, T - 1, 0, &loss, &e), 0);
    double ppl = exp(loss), top1 = (double)agree / (T - 1);
    print_message("SmolLM2 perplexity %.4f (reference %.4f, bound %.1f), top-1 agreement %.4f over %d tokens\n", ppl,
                  ref_ppl, PPL_BOUND, top1, T - 1);
    assert_true(ppl < PPL_BOUND);
    assert_true(fabs(ppl / ref_ppl - 1) <= PPL_REL_TOL);
    assert_true(top1 >= TOP1_MIN);

    agir_llama_acts_free(&a);
    agir_test_llama_close(&tl);
    free(pos), free(seg), free(labels), free(text);
    agir_ids_free(&ids);
    cJSON_Delete(ref);
    agir_llm_free(&l);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(paragraph)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
