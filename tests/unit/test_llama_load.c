// Loading Llama-family models (models/llama_load.c, llama_gguf.c) on the tiny golden fixtures of
// tests/fixtures/llama/ (tools/make_llama_fixtures.py, tools/make_gguf_llama_fixture.py):
//  - GGUF equals HF: the GGUF copies written as llama.cpp's converter writes them (q/k rows
//    permuted, Llama 3 scaling as rope_freqs) load to the same weights and logits as the HF
//    safetensors: F32 exactly, F16 within 1e-3; the mixed Q8_0/Q4_0/Q4_1/F16/BF16 copy gives the
//    logits transformers computes from the gguf package's dequantization (1e-4);
//  - sharded equals single: model.safetensors split over three shards with an index loads to the
//    same bytes; inconsistent indexes are refused with one line;
//  - vocabulary extension: new rows initialised by mean, mean + noise, or text; tokenizer ids;
//  - adapters: save/load round trip and refusals.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "checkpoints/gguf.h"
#include "checkpoints/safetensors.h"
#include "core/fsio.h"
#include "models/adapter.h"
#include "models/llama_load.h"
#include "testutil.h"

static void fixture_path(const char *fixture, const char *file, char *out, size_t n) {
    char rel[512];
    snprintf(rel, sizeof rel, "tests/fixtures/llama/%s%s%s", fixture, file ? "/" : "", file ? file : "");
    agir_test_src(rel, out, n);
}

static void load_hf(const char *fixture, agir_llama *m) {
    char dir[4096];
    agir_err e = {0};
    fixture_path(fixture, NULL, dir, sizeof dir);
    if (agir_llama_load_hf(dir, 0, m, &e)) fail_msg("%s", e.msg);
}

static void load_gguf(const char *fixture, const char *file, agir_llama *m) {
    char path[4096];
    agir_err e = {0};
    agir_gguf g;
    fixture_path(fixture, file, path, sizeof path);
    if (agir_gguf_open(path, &g, &e)) fail_msg("%s", e.msg);
    if (agir_llama_load_gguf(&g, m, &e)) fail_msg("%s", e.msg);
    agir_gguf_close(&g);
}

// The fixture's (B, T) tokens from expected.safetensors.
static int32_t *fixture_tokens(const char *fixture, int *B, int *T) {
    char path[4096];
    agir_err e = {0};
    agir_st_file f;
    fixture_path(fixture, "expected.safetensors", path, sizeof path);
    if (agir_st_open(path, &f, &e)) fail_msg("%s", e.msg);
    const agir_tensor_view *v = agir_st_find(&f, "tokens");
    assert_non_null(v);
    assert_int_equal(v->ndim, 2);
    *B = (int)v->shape[0], *T = (int)v->shape[1];
    int32_t *t = malloc(v->nbytes);
    memcpy(t, v->data, v->nbytes);
    agir_st_close(&f);
    return t;
}

// Logits (B, T, V) of m on the fixture's tokens, without LoRA.
static float *logits_of(const agir_llama *m, const char *fixture, size_t *n) {
    int B, T;
    int32_t *tok = fixture_tokens(fixture, &B, &T);
    int32_t *pos = malloc(sizeof(int32_t) * B * T), *seg = calloc((size_t)B * T, sizeof(int32_t));
    for (int i = 0; i < B * T; i++) pos[i] = i % T;
    agir_llama_acts a;
    agir_err e = {0};
    agir_test_llama tl;
    agir_test_llama_open(&tl, m, NULL);
    assert_int_equal(agir_llama_acts_alloc(&a, &tl.w, B, T, &e), 0);
    if (agir_llama_forward(&tl.w, &a, tok, pos, seg, NULL, &e)) fail_msg("%s", e.msg);
    *n = (size_t)B * T * m->cfg.vocab;
    float *out = malloc(*n * sizeof(float));
    memcpy(out, a.logits, *n * sizeof(float));
    agir_llama_acts_free(&a);
    agir_test_llama_close(&tl);
    free(tok), free(pos), free(seg);
    return out;
}

static void same_config(const agir_llama_config *a, const agir_llama_config *b) {
    assert_int_equal(a->vocab, b->vocab);
    assert_int_equal(a->dim, b->dim);
    assert_int_equal(a->ffn, b->ffn);
    assert_int_equal(a->n_layer, b->n_layer);
    assert_int_equal(a->n_head, b->n_head);
    assert_int_equal(a->n_kv_head, b->n_kv_head);
    assert_int_equal(a->head_dim, b->head_dim);
    assert_int_equal(a->tied, b->tied);
    assert_int_equal(a->qkv_bias, b->qkv_bias);
    assert_true(a->eps == b->eps);
    assert_true(fabs(a->rope.theta / b->rope.theta - 1) < 1e-7);
}

// GGUF variant `file` of `fixture` against its HF load: weights (when exact) and logits.
static void gguf_vs_hf(const char *fixture, const char *file, int exact, double tol) {
    agir_llama hf, gg;
    load_hf(fixture, &hf);
    load_gguf(fixture, file, &gg);
    same_config(&hf.cfg, &gg.cfg);
    assert_int_equal(hf.n_floats, gg.n_floats);
    double inv = agir_test_max_rel(gg.inv_freq, hf.inv_freq, (size_t)hf.cfg.head_dim / 2);
    if (inv > 1e-6) fail_msg("%s/%s: RoPE frequencies differ by %.3g", fixture, file, inv);
    if (exact && memcmp(hf.layers[0].w[AGIR_LORA_Q], gg.layers[0].w[AGIR_LORA_Q],
                        sizeof(float) * hf.cfg.n_head * hf.cfg.head_dim * hf.cfg.dim))
        fail_msg("%s/%s: q_proj rows differ (permutation not undone?)", fixture, file);
    if (exact && memcmp(hf.mem, gg.mem, sizeof(float) * hf.n_floats))
        fail_msg("%s/%s: weights differ from the HF load", fixture, file);
    size_t n;
    float *a = logits_of(&hf, fixture, &n), *b = logits_of(&gg, fixture, &n);
    double r = agir_test_max_rel(b, a, n);
    print_message("%-12s %-16s logits rel err vs HF %.2e (tolerance %.0e)\n", fixture, file, r, tol);
    if (!(r <= tol)) fail_msg("%s/%s: logits differ from the HF load by %.3g", fixture, file, r);
    free(a), free(b);
    agir_llama_free(&hf);
    agir_llama_free(&gg);
}

static void gguf_f32_llama(void **state) {
    (void)state;
    gguf_vs_hf("gqa_untied", "model.f32.gguf", 1, 1e-6);
}

static void gguf_f32_qwen2(void **state) {
    (void)state;
    gguf_vs_hf("qwen2_bias", "model.f32.gguf", 1, 1e-6);
}

// F16 weights: rounding to 11 significant bits moves the logits by about 1e-4 relative.
static void gguf_f16_llama3(void **state) {
    (void)state;
    gguf_vs_hf("llama3_tied", "model.f16.gguf", 0, 1e-3);
}

// The raw GGUF q rows really are in llama.cpp's order, so the exact comparisons above can fail.
static void gguf_rows_are_permuted(void **state) {
    (void)state;
    char path[4096];
    agir_err e = {0};
    agir_gguf g;
    agir_llama hf;
    load_hf("gqa_untied", &hf);
    fixture_path("gqa_untied", "model.f32.gguf", path, sizeof path);
    assert_int_equal(agir_gguf_open(path, &g, &e), 0);
    const agir_gguf_tensor *q = agir_gguf_tensor_by_name(&g, "blk.0.attn_q.weight");
    assert_non_null(q);
    size_t n = (size_t)hf.cfg.n_head * hf.cfg.head_dim * hf.cfg.dim;
    float *raw = malloc(n * sizeof(float));
    assert_int_equal(agir_view_to_f32(&q->view, raw, &e), 0);
    assert_true(memcmp(raw, hf.layers[0].w[AGIR_LORA_Q], n * sizeof(float)) != 0);
    // Row 1 of head 0 in GGUF is HF row D/2 (the partner of row 0 under rotate_half).
    assert_memory_equal(raw + hf.cfg.dim, hf.layers[0].w[AGIR_LORA_Q] + (size_t)hf.cfg.head_dim / 2 * hf.cfg.dim,
                        hf.cfg.dim * sizeof(float));
    free(raw);
    agir_gguf_close(&g);
    agir_llama_free(&hf);
}

// Every quantized type: logits equal transformers' on gguf-py's dequantized weights.
static void gguf_quantized(void **state) {
    (void)state;
    char path[4096];
    agir_err e = {0};
    agir_llama gg, hf;
    load_gguf("gqa_untied", "model.quant.gguf", &gg);
    load_hf("gqa_untied", &hf);
    size_t n;
    float *got = logits_of(&gg, "gqa_untied", &n), *full = logits_of(&hf, "gqa_untied", &n);
    agir_st_file f;
    fixture_path("gqa_untied", "expected_quant.safetensors", path, sizeof path);
    assert_int_equal(agir_st_open(path, &f, &e), 0);
    const agir_tensor_view *v = agir_st_find(&f, "logits");
    assert_non_null(v);
    assert_int_equal(v->nbytes, n * sizeof(float));
    double r = agir_test_max_rel(got, v->data, n), q = agir_test_max_rel(got, full, n);
    print_message("quantized logits: rel err %.2e vs reference, %.2e vs unquantized weights\n", r, q);
    if (!(r <= 1e-4)) fail_msg("quantized GGUF logits differ from the reference by %.3g", r);
    // Quantization itself must be visible, or the reference would not test dequantization.
    assert_true(q > 1e-3);
    free(got), free(full);
    agir_st_close(&f);
    agir_llama_free(&gg);
    agir_llama_free(&hf);
}

// A GGUF whose bytes were changed in one place: the first occurrence of `from` becomes `to` (same
// length), or, with from NULL, the float at the start of tensor `nan_tensor` becomes NaN.
static void expect_gguf_refused(const char *from, const char *to, const char *nan_tensor, const char *want) {
    char path[4096], *bytes;
    size_t len;
    agir_err e = {0};
    fixture_path("gqa_untied", "model.f32.gguf", path, sizeof path);
    assert_int_equal(agir_read_file(path, 1 << 20, &bytes, &len, &e), 0);
    agir_gguf g;
    if (from) {
        char *at = memmem(bytes, len, from, strlen(from));
        assert_non_null(at);
        memcpy(at, to, strlen(to));
    } else {
        assert_int_equal(agir_gguf_open_mem(bytes, len, "patched.gguf", &g, &e), 0);
        const agir_gguf_tensor *t = agir_gguf_tensor_by_name(&g, nan_tensor);
        assert_non_null(t);
        float nan = NAN;
        memcpy(bytes + g.data_offset + t->offset, &nan, sizeof nan);
        agir_gguf_close(&g);
    }
    agir_llama m;
    int rc = agir_gguf_open_mem(bytes, len, "patched.gguf", &g, &e);
    if (!rc) {
        rc = agir_llama_load_gguf(&g, &m, &e);
        agir_gguf_close(&g);
    }
    print_message("refused: %s\n", e.msg);
    assert_int_equal(rc, AGIR_EINPUT);
    assert_null(strchr(e.msg, '\n'));
    if (!strstr(e.msg, want)) fail_msg("message '%s' lacks '%s'", e.msg, want);
    free(bytes);
}

static void gguf_refusals(void **state) {
    (void)state;
    expect_gguf_refused("llama.block_count", "llama.block_counx", NULL, "key 'llama.block_count' is missing");
    expect_gguf_refused("blk.1.ffn_up.weight", "blk.1.ffn_uq.weight", NULL, "tensor 'blk.1.ffn_up.weight' is missing");
    expect_gguf_refused("llama", "llamb", NULL, "general.architecture 'llamb' is not supported");
    // Without head_count_kv the KV heads default to the 4 query heads: attn_k no longer fits.
    expect_gguf_refused("head_count_kv", "head_count_kx", NULL, "tensor 'blk.0.attn_k.weight' has shape [32, 64]");
    expect_gguf_refused(NULL, NULL, "blk.1.ffn_norm.weight", "tensor 'blk.1.ffn_norm.weight' holds NaN");
}

// ---- sharded HF checkpoints ----

static void write_text(const char *dir, const char *name, const char *text) {
    char path[4096];
    agir_err e = {0};
    assert_int_equal(agir_path_join(path, sizeof path, dir, name, &e), 0);
    assert_int_equal(agir_write_atomic(path, text, strlen(text), &e), 0);
}

static void copy_file(const char *from, const char *dir, const char *name) {
    char *text;
    size_t len;
    agir_err e = {0};
    assert_int_equal(agir_read_file(from, 1 << 20, &text, &len, &e), 0);
    write_text(dir, name, text);
    free(text);
}

// Splits the fixture's model.safetensors into shards: tensor i goes to shard i % 3, and also to
// shard `dup` when i == 0 (dup < 0: nowhere else). The index maps every tensor to its shard,
// except that `bad_name` (when set) is mapped to `bad_file`.
static void make_shards(const char *fixture, const char *dir, int dup, const char *bad_name, const char *bad_file) {
    char path[4096], file[64];
    agir_err e = {0};
    agir_st_file f;
    fixture_path(fixture, "model.safetensors", path, sizeof path);
    assert_int_equal(agir_st_open(path, &f, &e), 0);
    fixture_path(fixture, "config.json", path, sizeof path);
    copy_file(path, dir, "config.json");
    agir_tensor_view *part = malloc(sizeof *part * (size_t)(f.n + 1));
    size_t cap = 256 + (size_t)f.n * 128, len = 0;
    char *index = malloc(cap);
    len += (size_t)snprintf(index, cap, "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
    for (int s = 0; s < 3; s++) {
        int64_t k = 0;
        for (int64_t i = 0; i < f.n; i++) {
            if (i % 3 != s && !(i == 0 && s == dup)) continue;
            part[k++] = f.t[i];
            if (i % 3 != s) continue;
            const char *target = bad_name && !strcmp(f.t[i].name, bad_name) ? bad_file : NULL;
            snprintf(file, sizeof file, "model-0000%d-of-00003.safetensors", s + 1);
            len += (size_t)snprintf(index + len, cap - len, "%s\"%s\": \"%s\"", len > 60 ? ", " : "", f.t[i].name,
                                    target ? target : file);
        }
        snprintf(file, sizeof file, "model-0000%d-of-00003.safetensors", s + 1);
        assert_int_equal(agir_path_join(path, sizeof path, dir, file, &e), 0);
        if (agir_st_write(path, part, k, NULL, 0, &e)) fail_msg("%s", e.msg);
    }
    snprintf(index + len, cap - len, "}}");
    write_text(dir, "model.safetensors.index.json", index);
    free(index);
    free(part);
    agir_st_close(&f);
}

static void sharded_equals_single(void **state) {
    (void)state;
    const char *fixtures[] = {"gqa_untied", "qwen2_bias"};
    for (int i = 0; i < 2; i++) {
        char dir[4096];
        agir_err e = {0};
        agir_test_tmpdir(dir, sizeof dir);
        make_shards(fixtures[i], dir, -1, NULL, NULL);
        agir_llama single, sharded;
        load_hf(fixtures[i], &single);
        if (agir_llama_load_hf(dir, 0, &sharded, &e)) fail_msg("%s", e.msg);
        assert_int_equal(single.n_floats, sharded.n_floats);
        assert_memory_equal(single.mem, sharded.mem, sizeof(float) * single.n_floats);
        agir_llama_free(&single);
        agir_llama_free(&sharded);
    }
}

static void expect_refused(const char *dir, const char *want) {
    agir_llama m;
    agir_err e = {0};
    int rc = agir_llama_load_hf(dir, 0, &m, &e);
    print_message("refused: %s\n", e.msg);
    assert_int_equal(rc, AGIR_EINPUT);
    assert_null(strchr(e.msg, '\n'));
    if (!strstr(e.msg, want)) fail_msg("message '%s' lacks '%s'", e.msg, want);
}

static void sharded_refusals(void **state) {
    (void)state;
    char dir[4096];
    // A tensor in two shards.
    agir_test_tmpdir(dir, sizeof dir);
    make_shards("gqa_untied", dir, 1, NULL, NULL);
    expect_refused(dir, "is not assigned to this shard");
    // The index names the wrong shard for a tensor.
    agir_test_tmpdir(dir, sizeof dir);
    make_shards("gqa_untied", dir, -1, "model.norm.weight", "model-00001-of-00003.safetensors");
    expect_refused(dir, "missing from it");
    // A shard named with a path.
    agir_test_tmpdir(dir, sizeof dir);
    make_shards("gqa_untied", dir, -1, "model.norm.weight", "../model.safetensors");
    expect_refused(dir, "is not a file name in the model folder");
    // A shard that does not exist.
    agir_test_tmpdir(dir, sizeof dir);
    make_shards("gqa_untied", dir, -1, "model.norm.weight", "model-00004-of-00003.safetensors");
    expect_refused(dir, "model-00004-of-00003.safetensors");
    // Not an index.
    agir_test_tmpdir(dir, sizeof dir);
    make_shards("gqa_untied", dir, -1, NULL, NULL);
    write_text(dir, "model.safetensors.index.json", "{\"weight_map\": [1, 2]}");
    expect_refused(dir, "weight_map");
    // A config.json whose sizes imply far more weights than the shards hold is refused before the
    // model is allocated (a few bytes of config must not cost gigabytes of memory).
    agir_test_tmpdir(dir, sizeof dir);
    make_shards("gqa_untied", dir, -1, NULL, NULL);
    char path[4096], *text;
    size_t len;
    agir_err e = {0};
    fixture_path("gqa_untied", "config.json", path, sizeof path);
    assert_int_equal(agir_read_file(path, 1 << 20, &text, &len, &e), 0);
    cJSON *cfg = cJSON_Parse(text);
    free(text);
    assert_non_null(cfg);
    cJSON_ReplaceItemInObject(cfg, "num_hidden_layers", cJSON_CreateNumber(4096));
    cJSON_ReplaceItemInObject(cfg, "intermediate_size", cJSON_CreateNumber(65536));
    text = cJSON_Print(cfg);
    write_text(dir, "config.json", text);
    free(text);
    cJSON_Delete(cfg);
    expect_refused(dir, "the configuration implies at least");
}

// ---- a small HF folder with a real tokenizer (tests/fixtures/tokenizer/smollm.json, 636 tokens) ----

enum { TOK_N = 636, SM_DIM = 32, SM_FFN = 64, SM_LAYERS = 2, SM_HEADS = 4, SM_KV = 2 };

static agir_tensor_view view2(const char *name, const float *p, int64_t rows, int64_t cols) {
    agir_tensor_view v = {.name = name, .dtype = AGIR_DT_F32, .ndim = cols ? 2 : 1, .shape = {rows, cols},
                          .data = p, .nbytes = sizeof(float) * (size_t)rows * (size_t)(cols ? cols : 1)};
    return v;
}

// Writes config.json, model.safetensors (random weights, HF names), tokenizer.json and
// tokenizer_config.json for a model with `pad` embedding rows past the tokenizer. tok_file: the
// tokenizer under tests/fixtures/tokenizer/. Returns the weights written (caller frees).
static void make_model_dir(const char *dir, int tied, int pad, const char *tok_file, uint64_t seed, agir_llama *w) {
    char path[4096], text[1024];
    agir_err e = {0};
    snprintf(text, sizeof text,
             "{\"model_type\": \"llama\", \"hidden_size\": %d, \"intermediate_size\": %d, \"num_hidden_layers\": %d, "
             "\"num_attention_heads\": %d, \"num_key_value_heads\": %d, \"vocab_size\": %d, \"rms_norm_eps\": 1e-5, "
             "\"rope_theta\": 10000.0, \"tie_word_embeddings\": %s, \"hidden_act\": \"silu\"}",
             SM_DIM, SM_FFN, SM_LAYERS, SM_HEADS, SM_KV, TOK_N + pad, tied ? "true" : "false");
    write_text(dir, "config.json", text);
    write_text(dir, "tokenizer_config.json",
               "{\"chat_template\": \"{% for m in messages %}{{ m.content }}{% endfor %}\", \"bos_token\": null, "
               "\"eos_token\": {\"content\": \"<|im_end|>\", \"lstrip\": false}}");
    snprintf(text, sizeof text, "tests/fixtures/tokenizer/%s", tok_file);
    agir_test_src(text, path, sizeof path);
    copy_file(path, dir, "tokenizer.json");
    agir_llama_config cfg;
    assert_int_equal(agir_hf_config_parse("{}", 2, "x", &cfg, &e), AGIR_EINPUT);  // (sanity of the parser)
    agir_path_join(path, sizeof path, dir, "config.json", &e);
    if (agir_hf_config_load(path, &cfg, &e)) fail_msg("%s", e.msg);
    assert_int_equal(agir_llama_alloc(w, &cfg, 0, &e), 0);
    agir_rng r;
    agir_rng_init(&r, seed, 0);
    for (size_t i = 0; i < w->n_floats; i++) w->mem[i] = (float)(0.5 * agir_rng_normal(&r));
    agir_rope_inv_freq(w->inv_freq, cfg.head_dim, &cfg.rope);  // not a weight: keep it as the loader computes it
    static const char *const proj[AGIR_LORA_NTARGET] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                                       "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj",
                                                       "mlp.down_proj"};
    int dims[AGIR_LORA_NTARGET][2];
    agir_llama_lora_dims(&cfg, dims);
    enum { MAXV = 3 + SM_LAYERS * 9 };
    agir_tensor_view v[MAXV];
    char names[MAXV][96];
    int n = 0;
    v[n++] = view2("model.embed_tokens.weight", w->embed, cfg.vocab, SM_DIM);
    if (!tied) v[n++] = view2("lm_head.weight", w->head, cfg.vocab, SM_DIM);
    v[n++] = view2("model.norm.weight", w->norm, SM_DIM, 0);
    for (int l = 0; l < SM_LAYERS; l++) {
        snprintf(names[n], 96, "model.layers.%d.input_layernorm.weight", l);
        v[n] = view2(names[n], w->layers[l].attn_norm, SM_DIM, 0), n++;
        snprintf(names[n], 96, "model.layers.%d.post_attention_layernorm.weight", l);
        v[n] = view2(names[n], w->layers[l].mlp_norm, SM_DIM, 0), n++;
        for (int t = 0; t < AGIR_LORA_NTARGET; t++) {
            snprintf(names[n], 96, "model.layers.%d.%s.weight", l, proj[t]);
            v[n] = view2(names[n], w->layers[l].w[t], dims[t][1], dims[t][0]), n++;
        }
    }
    agir_path_join(path, sizeof path, dir, "model.safetensors", &e);
    if (agir_st_write(path, v, n, NULL, 0, &e)) fail_msg("%s", e.msg);
}

static void load_llm(const char *dir, agir_llm *l) {
    agir_err e = {0};
    if (agir_llm_load(dir, l, &e)) fail_msg("%s", e.msg);
}

static void hf_folder_bundle(void **state) {
    (void)state;
    char dir[4096];
    agir_test_tmpdir(dir, sizeof dir);
    agir_llama w;
    make_model_dir(dir, 0, 4, "smollm.json", 1, &w);
    agir_llm l;
    load_llm(dir, &l);
    assert_int_equal(agir_tok_n_vocab(l.tok), TOK_N);
    assert_int_equal(l.model.cfg.vocab, TOK_N + 4);
    assert_int_equal(l.model.n_floats, w.n_floats);
    assert_memory_equal(l.model.mem, w.mem, sizeof(float) * w.n_floats);
    assert_int_equal(l.bos, -1);  // bos_token: null
    assert_int_equal(l.eos, 2);   // <|im_end|> given as an AddedToken object
    assert_string_equal(l.chat_jinja, "{% for m in messages %}{{ m.content }}{% endfor %}");
    assert_int_equal(l.motion_first, -1);
    agir_llm_free(&l);
    // chat_template.jinja, when present, is the template (as newer transformers save it).
    write_text(dir, "chat_template.jinja", "{{ messages[0].content }}");
    load_llm(dir, &l);
    assert_string_equal(l.chat_jinja, "{{ messages[0].content }}");
    agir_llm_free(&l);
    // An eos_token the tokenizer lacks is one clear line.
    write_text(dir, "tokenizer_config.json", "{\"eos_token\": \"<|nope|>\"}");
    agir_err e = {0};
    assert_int_equal(agir_llm_load(dir, &l, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "tokenizer_config.json: eos_token '<|nope|>'"));
    agir_llama_free(&w);
}

// ---- vocabulary extension ----

enum { K = 5 };

static void expect_rows_equal_mean(const float *rows, const float *w, const int32_t *ids, int n, int n_new) {
    for (int j = 0; j < SM_DIM; j++) {
        long double acc = 0;
        for (int i = 0; i < n; i++) acc += w[(size_t)(ids ? ids[i] : i) * SM_DIM + j];
        float mean = (float)(acc / n);
        for (int r = 0; r < n_new; r++)
            if (fabsf(rows[(size_t)r * SM_DIM + j] - mean) > 1e-6f * fmaxf(1.0f, fabsf(mean)))
                fail_msg("new row %d, column %d: %g, mean of the rows %g", r, j, rows[(size_t)r * SM_DIM + j], mean);
    }
}

// The extended model keeps every old weight and the tokenizer ids follow the base vocabulary.
static void check_extended(const agir_llm *l, const agir_llama *w) {
    const agir_llama *m = &l->model;
    assert_int_equal(l->motion_first, TOK_N);
    assert_int_equal(l->motion_k, K);
    assert_int_equal(m->v0, TOK_N);
    assert_int_equal(m->cfg.vocab, TOK_N + K + 2);  // padding rows of the base are dropped
    assert_memory_equal(m->embed, w->embed, sizeof(float) * TOK_N * SM_DIM);
    if (!m->cfg.tied) assert_memory_equal(m->head, w->head, sizeof(float) * TOK_N * SM_DIM);
    assert_ptr_equal(m->new_embed, m->embed + (size_t)TOK_N * SM_DIM);
    for (int layer = 0; layer < SM_LAYERS; layer++)
        for (int t = 0; t < AGIR_LORA_NTARGET; t++) {
            int dims[AGIR_LORA_NTARGET][2];
            agir_llama_lora_dims(&m->cfg, dims);
            assert_memory_equal(m->layers[layer].w[t], w->layers[layer].w[t], sizeof(float) * dims[t][0] * dims[t][1]);
        }
    assert_int_equal(agir_tok_find(l->tok, "<motion_id_0>", 13), TOK_N);
    assert_int_equal(agir_tok_find(l->tok, "<motion_id_4>", 13), TOK_N + 4);
    assert_int_equal(agir_tok_find(l->tok, "<som>", 5), TOK_N + K);
    assert_int_equal(agir_tok_find(l->tok, "<eom>", 5), TOK_N + K + 1);
    agir_ids ids = {0};
    agir_err e = {0};
    const char *s = "walk<som><motion_id_3><motion_id_0><eom>";
    assert_int_equal(agir_tok_encode(l->tok, s, strlen(s), &ids, &e), 0);
    assert_true(ids.n >= 4);
    assert_int_equal(ids.id[ids.n - 4], TOK_N + K);
    assert_int_equal(ids.id[ids.n - 3], TOK_N + 3);
    assert_int_equal(ids.id[ids.n - 2], TOK_N);
    assert_int_equal(ids.id[ids.n - 1], TOK_N + K + 1);
    // The new ids run through the model.
    int32_t pos[4] = {0, 1, 2, 3}, seg[4] = {0};
    agir_llama_acts a;
    agir_test_llama tl;
    agir_test_llama_open(&tl, m, NULL);
    assert_int_equal(agir_llama_acts_alloc(&a, &tl.w, 1, 4, &e), 0);
    assert_int_equal(agir_llama_forward(&tl.w, &a, ids.id + ids.n - 4, pos, seg, NULL, &e), 0);
    agir_llama_acts_free(&a);
    agir_test_llama_close(&tl);
    agir_ids_free(&ids);
}

static void extend_mean(void **state) {
    (void)state;
    for (int tied = 0; tied < 2; tied++) {
        char dir[4096];
        agir_test_tmpdir(dir, sizeof dir);
        agir_llama w;
        make_model_dir(dir, tied, 3, "smollm.json", 2, &w);
        agir_llm l;
        load_llm(dir, &l);
        agir_new_rows_opts o = {.init = AGIR_NEW_ROWS_MEAN};
        agir_err e = {0};
        if (agir_llm_add_motion(&l, K, &o, NULL, &e)) fail_msg("%s", e.msg);
        check_extended(&l, &w);
        expect_rows_equal_mean(l.model.new_embed, w.embed, NULL, TOK_N, K + 2);
        if (!tied) expect_rows_equal_mean(l.model.new_head, w.head, NULL, TOK_N, K + 2);
        else assert_ptr_equal(l.model.new_head, l.model.new_embed);
        // A second extension is refused by the tokenizer-level check (strings already present).
        assert_int_not_equal(agir_llm_add_motion(&l, K, &o, NULL, &e), 0);
        agir_llm_free(&l);
        agir_llama_free(&w);
    }
}

// mean + N(0, noise²): the residual has the requested spread, streams differ per row and matrix,
// and the same generator gives the same rows.
static void extend_noise(void **state) {
    (void)state;
    char dir[4096];
    agir_test_tmpdir(dir, sizeof dir);
    agir_llama w;
    make_model_dir(dir, 0, 0, "smollm.json", 3, &w);
    const float noise = 0.05f;
    agir_new_rows_opts o = {.init = AGIR_NEW_ROWS_MEAN_NOISE, .noise = noise};
    agir_rng r;
    agir_rng_init(&r, 42, 7);
    agir_llm a, b;
    agir_err e = {0};
    load_llm(dir, &a);
    load_llm(dir, &b);
    enum { KN = 254 };  // 256 rows of 32: 8192 values, so the spread is measured to about 1%
    assert_int_equal(agir_llm_add_motion(&a, KN, &o, &r, &e), 0);
    assert_int_equal(agir_llm_add_motion(&b, KN, &o, &r, &e), 0);
    assert_memory_equal(a.model.embed, w.embed, sizeof(float) * TOK_N * SM_DIM);
    size_t n = (size_t)(KN + 2) * SM_DIM;
    assert_memory_equal(a.model.new_embed, b.model.new_embed, n * sizeof(float));
    assert_memory_equal(a.model.new_head, b.model.new_head, n * sizeof(float));
    const float *mats[2] = {w.embed, w.head}, *rows[2] = {a.model.new_embed, a.model.new_head};
    for (int k = 0; k < 2; k++) {
        double s = 0, s2 = 0, mean_col[SM_DIM];
        for (int j = 0; j < SM_DIM; j++) {
            long double acc = 0;
            for (int t = 0; t < TOK_N; t++) acc += mats[k][(size_t)t * SM_DIM + j];
            mean_col[j] = (double)(acc / TOK_N);
        }
        for (size_t i = 0; i < n; i++) {
            double d = rows[k][i] - mean_col[i % SM_DIM];
            s += d, s2 += d * d;
        }
        double mean = s / n, sd = sqrt(s2 / n - mean * mean);
        print_message("noise init (%s): residual mean %.4f, std %.4f (requested %.3f, %zu values)\n",
                      k ? "lm_head" : "embed", mean, sd, noise, n);
        assert_true(fabs(sd / noise - 1) < 0.04);  // about 5 standard errors
        assert_true(fabs(mean) < 4 * noise / sqrt((double)n));
    }
    assert_true(memcmp(a.model.new_embed, a.model.new_head, n * sizeof(float)) != 0);
    assert_true(memcmp(a.model.new_embed, a.model.new_embed + SM_DIM, SM_DIM * sizeof(float)) != 0);
    agir_llm_free(&a);
    agir_llm_free(&b);
    agir_llama_free(&w);
}

// Text mode: each row is the mean embedding of its text's tokens (base tokenizer); NULL = mean.
static void extend_text(void **state) {
    (void)state;
    char dir[4096], path[4200];
    agir_test_tmpdir(dir, sizeof dir);
    agir_llama w;
    make_model_dir(dir, 0, 0, "smollm.json", 4, &w);
    const char *text[K + 2] = {"slow steps", "short shuffling steps", NULL, "arm swing", "a", "start of motion",
                               "end of motion"};
    agir_new_rows_opts o = {.init = AGIR_NEW_ROWS_TEXT, .text = text};
    agir_llm l;
    agir_err e = {0};
    load_llm(dir, &l);
    agir_tok *base;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    assert_int_equal(agir_tok_load_json(&base, path, &e), 0);
    if (agir_llm_add_motion(&l, K, &o, NULL, &e)) fail_msg("%s", e.msg);
    check_extended(&l, &w);
    for (int i = 0; i < K + 2; i++) {
        const float *row_e = l.model.new_embed + (size_t)i * SM_DIM, *row_h = l.model.new_head + (size_t)i * SM_DIM;
        if (!text[i]) {
            expect_rows_equal_mean(row_e, w.embed, NULL, TOK_N, 1);
            continue;
        }
        agir_ids ids = {0};
        assert_int_equal(agir_tok_encode(base, text[i], strlen(text[i]), &ids, &e), 0);
        assert_true(ids.n >= 1);
        if (i == 1) assert_true(ids.n >= 2);  // a real mean over several tokens
        expect_rows_equal_mean(row_e, w.embed, ids.id, (int)ids.n, 1);
        expect_rows_equal_mean(row_h, w.head, ids.id, (int)ids.n, 1);
        agir_ids_free(&ids);
    }
    agir_tok_free(base);
    agir_llm_free(&l);
    // A text without tokens is refused before anything changes.
    load_llm(dir, &l);
    text[0] = "";
    assert_int_equal(agir_llm_add_motion(&l, K, &o, NULL, &e), AGIR_EINPUT);
    assert_int_equal(l.motion_k, 0);
    assert_int_equal(agir_tok_n_vocab(l.tok), TOK_N);
    assert_int_equal(agir_llm_add_motion(&l, 0, &o, NULL, &e), AGIR_EINPUT);
    agir_llm_free(&l);
    agir_llama_free(&w);
}

// ---- adapters ----

static void random_lora(const agir_llm *l, agir_lora *lora, uint64_t seed) {
    agir_lora_cfg lc = {.rank = 4, .alpha = 8, .dropout = 0.05f, .rslora = 1};
    agir_err e = {0};
    assert_int_equal(agir_lora_parse_targets("q,v,down", "targets", &lc.targets, &e), 0);
    int dims[AGIR_LORA_NTARGET][2];
    agir_llama_lora_dims(&l->model.cfg, dims);
    assert_int_equal(agir_lora_alloc(lora, &lc, l->model.cfg.n_layer, dims, &e), 0);
    agir_rng r;
    agir_rng_init(&r, seed, 0);
    for (size_t i = 0; i < lora->n_params; i++) lora->mem[i] = (float)agir_rng_normal(&r);
}

// An extended model with a random LoRA and noisy new rows, saved to <dir>/adapter.safetensors.
static void make_adapter(const char *dir, int tied, agir_llm *l, agir_lora *lora, char *path, size_t n) {
    agir_llama w;
    agir_err e = {0};
    make_model_dir(dir, tied, 0, "smollm.json", 5, &w);
    agir_llama_free(&w);
    load_llm(dir, l);
    agir_new_rows_opts o = {.init = AGIR_NEW_ROWS_MEAN_NOISE, .noise = 0.3f};
    agir_rng r;
    agir_rng_init(&r, 9, 0);
    assert_int_equal(agir_llm_add_motion(l, K, &o, &r, &e), 0);
    random_lora(l, lora, 11);
    snprintf(path, n, "%s/adapter.safetensors", dir);
    if (agir_adapter_save(path, l, lora, &e)) fail_msg("%s", e.msg);
}

static void adapter_round_trip(void **state) {
    (void)state;
    for (int tied = 0; tied < 2; tied++) {
        char dir[4096], path[4200];
        agir_test_tmpdir(dir, sizeof dir);
        agir_llm a, b, c;
        agir_lora la, lb, lc;
        agir_err e = {0};
        make_adapter(dir, tied, &a, &la, path, sizeof path);
        // PEFT names and metadata.
        agir_st_file f;
        assert_int_equal(agir_st_open(path, &f, &e), 0);
        assert_non_null(agir_st_find(&f, "base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight"));
        assert_non_null(agir_st_find(&f, "base_model.model.model.layers.0.mlp.down_proj.lora_B.weight"));
        assert_null(agir_st_find(&f, "base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight"));
        assert_string_equal(agir_st_meta(&f, "targets"), "q,v,down");
        assert_string_equal(agir_st_meta(&f, "base_vocab"), "636");
        assert_non_null(strstr(agir_st_meta(&f, "new_tokens"), "[636,\"<motion_id_0>\"]"));
        assert_non_null(strstr(agir_st_meta(&f, "new_tokens"), "[642,\"<eom>\"]"));
        assert_int_equal(f.n, SM_LAYERS * 3 * 2 + (tied ? 1 : 2));
        agir_st_close(&f);
        // Onto the plain base: extended by the loader, rows and LoRA restored bit for bit.
        load_llm(dir, &b);
        if (agir_adapter_load(path, &b, &lb, &e)) fail_msg("%s", e.msg);
        assert_int_equal(b.motion_first, a.motion_first);
        assert_int_equal(b.model.cfg.vocab, a.model.cfg.vocab);
        assert_memory_equal(b.model.mem, a.model.mem, sizeof(float) * a.model.n_floats);
        assert_int_equal(lb.n_params, la.n_params);
        assert_memory_equal(lb.mem, la.mem, sizeof(float) * la.n_params);
        assert_int_equal(lb.cfg.rank, 4);
        assert_true(lb.cfg.alpha == 8 && lb.cfg.rslora == 1 && lb.cfg.dropout == 0.05f);
        assert_true(lb.scale == la.scale);
        // Onto a base already extended the same way (mean init): only the rows are replaced.
        load_llm(dir, &c);
        agir_new_rows_opts o = {.init = AGIR_NEW_ROWS_MEAN};
        assert_int_equal(agir_llm_add_motion(&c, K, &o, NULL, &e), 0);
        if (agir_adapter_load(path, &c, &lc, &e)) fail_msg("%s", e.msg);
        assert_memory_equal(c.model.mem, a.model.mem, sizeof(float) * a.model.n_floats);
        agir_llm_free(&a), agir_llm_free(&b), agir_llm_free(&c);
        agir_lora_free(&la), agir_lora_free(&lb), agir_lora_free(&lc);
    }
}

// Copies the adapter at src to dst with one change: tensor `drop` left out, `extra` added, or
// metadata `key` set to `val` (NULL: removed).
static void rewrite_adapter(const char *src, const char *dst, const char *drop, int extra, const char *key,
                            const char *val, int nan_in_first) {
    agir_st_file f;
    agir_err e = {0};
    assert_int_equal(agir_st_open(src, &f, &e), 0);
    agir_tensor_view *v = calloc((size_t)f.n + 1, sizeof *v);
    agir_st_kv *meta = calloc((size_t)f.n_meta + 1, sizeof *meta);
    int64_t n = 0, nm = 0;
    for (int64_t i = 0; i < f.n; i++)
        if (!drop || strcmp(f.t[i].name, drop)) v[n++] = f.t[i];
    float stray[4] = {1, 2, 3, 4}, *copy = NULL;
    if (extra) v[n++] = view2("base_model.model.lm_head.weight", stray, 2, 2);
    if (nan_in_first) {
        copy = malloc(v[0].nbytes);
        memcpy(copy, v[0].data, v[0].nbytes);
        copy[1] = NAN;
        v[0].data = copy;
    }
    for (int64_t i = 0; i < f.n_meta; i++) {
        if (key && !strcmp(f.meta[i].key, key)) {
            if (val) meta[nm++] = (agir_st_kv){key, val};
        } else {
            meta[nm++] = f.meta[i];
        }
    }
    if (agir_st_write(dst, v, n, meta, nm, &e)) fail_msg("%s", e.msg);
    free(copy), free(v), free(meta);
    agir_st_close(&f);
}

static void expect_adapter_refused(const char *base_dir, const char *path, int extend_k, const char *want) {
    agir_llm l;
    agir_lora lora;
    agir_err e = {0};
    load_llm(base_dir, &l);
    if (extend_k) {
        agir_new_rows_opts o = {.init = AGIR_NEW_ROWS_MEAN};
        assert_int_equal(agir_llm_add_motion(&l, extend_k, &o, NULL, &e), 0);
    }
    int rc = agir_adapter_load(path, &l, &lora, &e);
    print_message("refused: %s\n", e.msg);
    assert_int_equal(rc, AGIR_EINPUT);
    assert_null(strchr(e.msg, '\n'));
    if (!strstr(e.msg, want)) fail_msg("message '%s' lacks '%s'", e.msg, want);
    assert_null(lora.mem);
    if (!extend_k) assert_int_equal(l.motion_k, 0);  // the base is left as it was
    agir_llm_free(&l);
}

static void adapter_refusals(void **state) {
    (void)state;
    char dir[4096], other[4096], path[4200], bad[4200];
    agir_llm a;
    agir_lora la;
    agir_test_tmpdir(dir, sizeof dir);
    make_adapter(dir, 0, &a, &la, path, sizeof path);
    agir_llm_free(&a);
    agir_lora_free(&la);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    agir_llama w;
    // A base with another vocabulary: other size (gpt2.json), or same size but other strings.
    agir_test_tmpdir(other, sizeof other);
    make_model_dir(other, 0, 30, "gpt2.json", 5, &w);
    write_text(other, "tokenizer_config.json", "{}");
    agir_llama_free(&w);
    expect_adapter_refused(other, path, 0, "load the base it was trained on");
    rewrite_adapter(path, bad, NULL, 0, "base_vocab_hash", "0123456789abcdef", 0);
    expect_adapter_refused(dir, bad, 0, "hash 0123456789abcdef");
    // Another number of motion tokens on an extended base.
    expect_adapter_refused(dir, path, K + 1, "new tokens");
    // Token list that does not follow the base vocabulary.
    rewrite_adapter(path, bad, NULL, 0, "new_tokens",
                    "[[637,\"<motion_id_0>\"],[638,\"<motion_id_1>\"],[639,\"<som>\"],[640,\"<eom>\"]]", 0);
    expect_adapter_refused(dir, bad, 0, "new_tokens'[0] is not [636, \"<motion_id_0>\"]");
    // Tensors: missing, stray, non-finite; metadata missing or malformed.
    rewrite_adapter(path, bad, "agir.new_head", 0, NULL, NULL, 0);
    expect_adapter_refused(dir, bad, 0, "tensor 'agir.new_head' is missing");
    rewrite_adapter(path, bad, NULL, 1, NULL, NULL, 0);
    expect_adapter_refused(dir, bad, 0, "stray tensors");
    rewrite_adapter(path, bad, NULL, 0, NULL, NULL, 1);
    expect_adapter_refused(dir, bad, 0, "NaN or infinite");
    rewrite_adapter(path, bad, NULL, 0, "rank", "four", 0);
    expect_adapter_refused(dir, bad, 0, "metadata 'rank'");
    rewrite_adapter(path, bad, NULL, 0, "agir.adapter", NULL, 0);
    expect_adapter_refused(dir, bad, 0, "not an AGIR adapter");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gguf_f32_llama),        cmocka_unit_test(gguf_f32_qwen2),
        cmocka_unit_test(gguf_f16_llama3),       cmocka_unit_test(gguf_rows_are_permuted),
        cmocka_unit_test(gguf_quantized),        cmocka_unit_test(gguf_refusals),
        cmocka_unit_test(sharded_equals_single),
        cmocka_unit_test(sharded_refusals),      cmocka_unit_test(hf_folder_bundle),
        cmocka_unit_test(extend_mean),           cmocka_unit_test(extend_noise),
        cmocka_unit_test(extend_text),           cmocka_unit_test(adapter_round_trip),
        cmocka_unit_test(adapter_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
