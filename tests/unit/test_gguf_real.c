// The embedded default model, models-cache/SmolLM2-135M-Instruct.Q4_1.gguf (tools/fetch_model.sh),
// when present: its metadata, its tensor inventory, every tensor dequantized to finite values of
// sane magnitude, and the RoPE row order of its q/k projections. Skipped (77) without the file.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoints/default_model.h"
#include "checkpoints/gguf.h"
#include "testutil.h"

enum { N_LAYER = 30, D_MODEL = 576, N_HEAD = 9, N_KV_HEAD = 3, HEAD_DIM = 64, VOCAB = 49152 };

static agir_gguf model;

static int setup(void **state) {
    (void)state;
    char path[4096];
    agir_test_src("models-cache/" AGIR_DEFAULT_MODEL_FILE, path, sizeof path);
    if (access(path, R_OK) != 0) agir_test_skip("models-cache/" AGIR_DEFAULT_MODEL_FILE " absent (run tools/fetch_model.sh)");
    agir_err e = {0};
    if (agir_gguf_open(path, &model, &e)) fail_msg("%s", e.msg);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    agir_gguf_close(&model);
    return 0;
}

static void expect_u32(const char *key, uint32_t want) {
    uint32_t v;
    agir_err e = {0};
    if (agir_gguf_get_u32(&model, key, &v, &e)) fail_msg("%s", e.msg);
    if (v != want) fail_msg("%s = %u, expected %u", key, v, want);
}

static void expect_str(const char *key, const char *want) {
    char *s;
    agir_err e = {0};
    if (agir_gguf_get_str(&model, key, &s, &e)) fail_msg("%s", e.msg);
    assert_string_equal(s, want);
    free(s);
}

static void metadata(void **state) {
    (void)state;
    // docs/architecture.md, "Models, jobs and run folders": Llama architecture, 30 layers, d=576,
    // 9 heads, 3 KV heads, vocab 49152, ChatML.
    expect_str("general.architecture", "llama");
    expect_u32("llama.block_count", N_LAYER);
    expect_u32("llama.embedding_length", D_MODEL);
    expect_u32("llama.attention.head_count", N_HEAD);
    expect_u32("llama.attention.head_count_kv", N_KV_HEAD);
    expect_u32("llama.rope.dimension_count", HEAD_DIM);
    expect_u32("llama.context_length", 8192);
    expect_u32("llama.feed_forward_length", 1536);
    expect_u32("llama.vocab_size", VOCAB);
    expect_str("tokenizer.ggml.model", "gpt2");
    expect_str("tokenizer.ggml.pre", "smollm");
    expect_u32("tokenizer.ggml.bos_token_id", 1);
    expect_u32("tokenizer.ggml.eos_token_id", 2);
    agir_err e = {0};
    float theta, eps;
    assert_int_equal(agir_gguf_get_f32(&model, "llama.rope.freq_base", &theta, &e), 0);
    assert_true(theta == 100000.0f);
    assert_int_equal(agir_gguf_get_f32(&model, "llama.attention.layer_norm_rms_epsilon", &eps, &e), 0);
    assert_true(fabsf(eps - 1e-5f) < 1e-9f);
    agir_gguf_str *tok;
    uint64_t n;
    assert_int_equal(agir_gguf_get_strs(&model, "tokenizer.ggml.tokens", &tok, &n, &e), 0);
    assert_int_equal(n, VOCAB);
    assert_true(tok[1].n == 12 && !memcmp(tok[1].p, "<|im_start|>", 12));
    assert_true(tok[2].n == 10 && !memcmp(tok[2].p, "<|im_end|>", 10));
    free(tok);
    char *tmpl;
    assert_int_equal(agir_gguf_get_str(&model, "tokenizer.chat_template", &tmpl, &e), 0);
    assert_non_null(strstr(tmpl, "<|im_start|>"));
    assert_non_null(strstr(tmpl, "<|im_end|>"));
    free(tmpl);
}

static const agir_gguf_tensor *layer_tensor(int layer, const char *what) {
    char name[64];
    snprintf(name, sizeof name, "blk.%d.%s.weight", layer, what);
    const agir_gguf_tensor *t = agir_gguf_tensor_by_name(&model, name);
    if (!t) fail_msg("missing %s", name);
    return t;
}

static void inventory(void **state) {
    (void)state;
    // 9 tensors per layer, the embedding and the final norm; tied embeddings: no output.weight.
    assert_int_equal(model.n_tensors, N_LAYER * 9 + 2);
    assert_null(agir_gguf_tensor_by_name(&model, "output.weight"));
    const agir_gguf_tensor *emb = agir_gguf_tensor_by_name(&model, "token_embd.weight");
    assert_non_null(emb);
    assert_true(emb->view.ndim == 2 && emb->view.shape[0] == VOCAB && emb->view.shape[1] == D_MODEL);
    const agir_gguf_tensor *q = layer_tensor(7, "attn_q"), *k = layer_tensor(7, "attn_k");
    assert_true(q->view.shape[0] == N_HEAD * HEAD_DIM && q->view.shape[1] == D_MODEL);
    assert_true(k->view.shape[0] == N_KV_HEAD * HEAD_DIM && k->view.shape[1] == D_MODEL);
    const agir_gguf_tensor *down = layer_tensor(7, "ffn_down");
    assert_true(down->view.shape[0] == D_MODEL && down->view.shape[1] == 1536);
    for (int64_t i = 0; i < model.n_tensors; i++) {
        agir_dtype t = model.tensors[i].view.dtype;
        assert_true(t == AGIR_DT_F32 || t == AGIR_DT_Q4_1 || t == AGIR_DT_Q8_0);
    }
}

static float *dequant(const agir_gguf_tensor *t, uint64_t *n) {
    assert_int_equal(agir_view_numel(&t->view, n), 0);
    float *x = malloc(*n * sizeof *x);
    agir_err e = {0};
    if (agir_view_to_f32(&t->view, x, &e)) fail_msg("%s", e.msg);
    return x;
}

static void every_tensor_is_sane(void **state) {
    (void)state;
    for (int64_t i = 0; i < model.n_tensors; i++) {
        const agir_gguf_tensor *t = &model.tensors[i];
        uint64_t n;
        float *x = dequant(t, &n);
        double s = 0, s2 = 0, amax = 0;
        for (uint64_t j = 0; j < n; j++) {
            if (!isfinite(x[j])) fail_msg("%s[%llu] is not finite", t->view.name, (unsigned long long)j);
            s += x[j];
            s2 += (double)x[j] * x[j];
            amax = fmax(amax, fabs(x[j]));
        }
        double mean = s / (double)n, sd = sqrt(fmax(s2 / (double)n - mean * mean, 0));
        // RMSNorm gains (0.001 to 1.8 on average here, layer 0's are tiny) are not all zero and
        // stay small; weight matrices are centred with a spread well under 1. Loose bounds: they
        // catch garbage (a wrong block layout or scale), not drift.
        if (t->view.ndim == 1) {
            if (!(mean > 0 && amax > 1e-3 && amax < 100)) fail_msg("%s: mean %g max %g", t->view.name, mean, amax);
        } else if (!(fabs(mean) < 0.05 && sd > 1e-3 && sd < 1 && amax < 50)) {
            fail_msg("%s: mean %g sd %g max %g", t->view.name, mean, sd, amax);
        }
        free(x);
    }
}

// Mean relative difference of the norms of row pairs (a, b) of each head, for two pairings of
// the 64 rows of a head: adjacent (2i, 2i+1) and half-split (i, i+32).
static void pair_spread(const agir_gguf_tensor *t, int heads, double *adjacent, double *half) {
    uint64_t n;
    float *w = dequant(t, &n);
    double norm[N_HEAD * HEAD_DIM];
    for (int r = 0; r < heads * HEAD_DIM; r++) {
        double s = 0;
        for (int c = 0; c < D_MODEL; c++) s += (double)w[r * D_MODEL + c] * w[r * D_MODEL + c];
        norm[r] = sqrt(s);
    }
    *adjacent = *half = 0;
    for (int h = 0; h < heads; h++) {
        const double *p = norm + h * HEAD_DIM;
        for (int i = 0; i < HEAD_DIM / 2; i++) {
            *adjacent += fabs(p[2 * i] - p[2 * i + 1]) / (p[2 * i] + p[2 * i + 1]);
            *half += fabs(p[i] - p[i + HEAD_DIM / 2]) / (p[i] + p[i + HEAD_DIM / 2]);
        }
    }
    *adjacent /= heads * HEAD_DIM / 2;
    *half /= heads * HEAD_DIM / 2;
    free(w);
}

// The two rows that RoPE rotates together play symmetric roles, so trained weights give them
// similar norms. llama.cpp's converter permutes HF's q/k rows (pairs (i, i+32) per head) into
// the interleaved order (pairs (2i, 2i+1)), so in the GGUF adjacent rows must match far better
// than half-split ones, in every layer; v, which RoPE does not touch, is the control.
static void qk_rows_are_interleaved_pairs(void **state) {
    (void)state;
    static const struct {
        const char *what;
        int heads;
    } proj[3] = {{"attn_q", N_HEAD}, {"attn_k", N_KV_HEAD}, {"attn_v", N_KV_HEAD}};
    for (int p = 0; p < 3; p++) {
        double adj = 0, half = 0;
        int layers_adjacent_closer = 0;
        for (int l = 0; l < N_LAYER; l++) {
            double a, h;
            pair_spread(layer_tensor(l, proj[p].what), proj[p].heads, &a, &h);
            adj += a, half += h;
            layers_adjacent_closer += a < h;
        }
        print_message("%s: adjacent-pair spread %.4f, half-split %.4f, adjacent closer in %d/%d layers\n",
                      proj[p].what, adj / N_LAYER, half / N_LAYER, layers_adjacent_closer, N_LAYER);
        if (p < 2) {
            assert_int_equal(layers_adjacent_closer, N_LAYER);
            assert_true(adj < 0.6 * half);
        } else {
            assert_true(adj > 0.8 * half && adj < 1.25 * half);
        }
    }
}

static void found_without_configuration(void **state) {
    (void)state;
    unsetenv("AGIR_MODEL");  // the lookup without it is what is tested
    char path[4096];
    agir_err e = {0};
    if (agir_default_model_path(path, sizeof path, &e)) fail_msg("%s", e.msg);
    assert_non_null(strstr(path, "models-cache/" AGIR_DEFAULT_MODEL_FILE));
    assert_int_equal(access(path, R_OK), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(metadata),
        cmocka_unit_test(inventory),
        cmocka_unit_test(every_tensor_is_sane),
        cmocka_unit_test(qk_rows_are_interleaved_pairs),
        cmocka_unit_test(found_without_configuration),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
