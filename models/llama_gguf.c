// GGUF (llama.cpp) Llama-family models into agir_llama: hyper-parameters from the <arch>.* keys,
// weights from the llama.cpp tensor names, dequantized to float32 by the shared fill routine.
//
// llama.cpp's converter (convert_hf_to_gguf.py, LlamaModel.permute) reorders the rows of q_proj
// and k_proj (and their biases) inside each head from HF's rotate_half layout (pairs i, i + D/2)
// to the interleaved one its RoPE uses (pairs 2i, 2i + 1): GGUF row h·D + 2i + s holds HF row
// h·D + s·D/2 + i. The loader applies the inverse for architecture "llama"; "qwen2" uses NEOX
// RoPE in llama.cpp and is stored unpermuted. Llama 3 frequency scaling arrives as the tensor
// rope_freqs.weight (D/2 divisors of the base frequencies), as llama.cpp applies it.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/gguf.h"
#include "models/llama_load.h"
#include "models/llama_load_impl.h"

enum { MAX_PARAM = 1 << 30 };

#define GGUF_NAMES (&agir_llama_format_names[AGIR_LLAMA_GGUF])

static const agir_tensor_view *gguf_find(const void *ctx, const char *name, const char **file) {
    const agir_gguf *g = ctx;
    const agir_gguf_tensor *t = agir_gguf_tensor_by_name(g, name);
    *file = g->path;
    return t ? &t->view : NULL;
}

// "<arch>.<key>" as a positive int; def 0 means required.
static int get_int(const agir_gguf *g, const char *arch, const char *key, int def, int *out, agir_err *e) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    if (!agir_gguf_find(g, k)) {
        if (!def) return AGIR_BAD(e, "%s: key '%s' is missing (hint: is this a llama.cpp model file?)", g->path, k);
        *out = def;
        return 0;
    }
    uint32_t v;
    AGIR_TRY(agir_gguf_get_u32(g, k, &v, e));
    if (v < 1 || v > MAX_PARAM) return AGIR_BAD(e, "%s: key '%s': %u is out of range (hint: 1 to %d)", g->path, k, v, MAX_PARAM);
    *out = (int)v;
    return 0;
}

static int get_float(const agir_gguf *g, const char *arch, const char *key, float def, float *out, agir_err *e) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    if (!agir_gguf_find(g, k)) {
        if (!(def > 0)) return AGIR_BAD(e, "%s: key '%s' is missing (hint: is this a llama.cpp model file?)", g->path, k);
        *out = def;
        return 0;
    }
    AGIR_TRY(agir_gguf_get_f32(g, k, out, e));
    if (!(*out > 0)) return AGIR_BAD(e, "%s: key '%s': %g must be positive", g->path, k, *out);
    return 0;
}

// Refuses RoPE variants the model does not compute (linear, YaRN, partial rotary dimensions).
static int check_rope(const agir_gguf *g, const char *arch, int head_dim, agir_err *e) {
    char k[128];
    snprintf(k, sizeof k, "%s.rope.scaling.type", arch);
    if (agir_gguf_find(g, k)) {
        char *type;
        AGIR_TRY(agir_gguf_get_str(g, k, &type, e));
        int bad = strcmp(type, "none") != 0;
        if (bad) AGIR_BAD(e, "%s: key '%s': RoPE scaling '%.40s' is not supported (hint: none, or Llama 3 rope_freqs)",
                          g->path, k, type);
        free(type);
        if (bad) return AGIR_EINPUT;
    }
    int rot, vlen;
    AGIR_TRY(get_int(g, arch, "rope.dimension_count", head_dim, &rot, e));
    if (rot != head_dim)
        return AGIR_BAD(e, "%s: key '%s.rope.dimension_count': %d differs from the head size %d (hint: partial "
                        "rotary embeddings are not supported)", g->path, arch, rot, head_dim);
    AGIR_TRY(get_int(g, arch, "attention.value_length", head_dim, &vlen, e));
    if (vlen != head_dim)
        return AGIR_BAD(e, "%s: key '%s.attention.value_length': %d differs from key_length %d", g->path, arch, vlen,
                        head_dim);
    return 0;
}

static int gguf_config(const agir_gguf *g, const char *arch, agir_llama_config *c, agir_err *e) {
    memset(c, 0, sizeof *c);
    AGIR_TRY(get_int(g, arch, "block_count", 0, &c->n_layer, e));
    AGIR_TRY(get_int(g, arch, "embedding_length", 0, &c->dim, e));
    AGIR_TRY(get_int(g, arch, "feed_forward_length", 0, &c->ffn, e));
    AGIR_TRY(get_int(g, arch, "attention.head_count", 0, &c->n_head, e));
    AGIR_TRY(get_int(g, arch, "attention.head_count_kv", c->n_head, &c->n_kv_head, e));
    char k[128];
    snprintf(k, sizeof k, "%s.attention.key_length", arch);
    if (!agir_gguf_find(g, k) && c->dim % c->n_head)
        return AGIR_BAD(e, "%s: embedding_length %d is not a multiple of head_count %d and %s is missing", g->path,
                        c->dim, c->n_head, k);
    AGIR_TRY(get_int(g, arch, "attention.key_length", c->dim / c->n_head, &c->head_dim, e));
    AGIR_TRY(check_rope(g, arch, c->head_dim, e));
    float theta;
    AGIR_TRY(get_float(g, arch, "attention.layer_norm_rms_epsilon", 0, &c->eps, e));
    AGIR_TRY(get_float(g, arch, "rope.freq_base", 10000.0f, &theta, e));
    c->rope.theta = theta;
    const agir_gguf_tensor *emb = agir_gguf_tensor_by_name(g, GGUF_NAMES->embed);
    if (!emb || emb->view.ndim != 2 || emb->view.shape[1] != c->dim || emb->view.shape[0] > MAX_PARAM)
        return AGIR_BAD(e, "%s: tensor '%s' is missing or not (vocab, %d)", g->path, GGUF_NAMES->embed,
                        c->dim);
    c->vocab = (int)emb->view.shape[0];
    int vocab_key;
    AGIR_TRY(get_int(g, arch, "vocab_size", c->vocab, &vocab_key, e));
    if (vocab_key != c->vocab)
        return AGIR_BAD(e, "%s: key '%s.vocab_size' is %d but %s has %d rows", g->path, arch, vocab_key,
                        GGUF_NAMES->embed, c->vocab);
    c->tied = !agir_gguf_tensor_by_name(g, GGUF_NAMES->head);
    char bq[AGIR_LLAMA_NAME_MAX];
    agir_llama_layer_name(GGUF_NAMES, 0, AGIR_LLAMA_BQ, bq);
    c->qkv_bias = !strcmp(arch, "qwen2") || agir_gguf_tensor_by_name(g, bq);
    return 0;
}

// Rows of x: (n_head·D, cols) back from llama.cpp's interleaved order to HF's (file comment).
static int unpermute(float *x, int n_head, int D, size_t cols, agir_err *e) {
    float *tmp = malloc((size_t)D * cols * sizeof *tmp);
    if (!tmp) return AGIR_BUG(e, "out of memory");
    for (int h = 0; h < n_head; h++) {
        float *head = x + (size_t)h * D * cols;
        memcpy(tmp, head, (size_t)D * cols * sizeof *tmp);
        for (int i = 0; i < D / 2; i++)
            for (int s = 0; s < 2; s++)
                memcpy(head + (size_t)(s * D / 2 + i) * cols, tmp + (size_t)(2 * i + s) * cols, cols * sizeof *tmp);
    }
    free(tmp);
    return 0;
}

static int unpermute_qk(agir_llama *m, agir_err *e) {
    const agir_llama_config *c = &m->cfg;
    for (int l = 0; l < c->n_layer; l++) {
        agir_llama_layer *L = &m->layers[l];
        AGIR_TRY(unpermute(L->w[AGIR_LORA_Q], c->n_head, c->head_dim, (size_t)c->dim, e));
        AGIR_TRY(unpermute(L->w[AGIR_LORA_K], c->n_kv_head, c->head_dim, (size_t)c->dim, e));
        if (!c->qkv_bias) continue;
        AGIR_TRY(unpermute(L->bq, c->n_head, c->head_dim, 1, e));
        AGIR_TRY(unpermute(L->bk, c->n_kv_head, c->head_dim, 1, e));
    }
    return 0;
}

// Llama 3 scaling: llama.cpp divides each base frequency by its rope_freqs factor.
static int rope_freqs(const agir_gguf *g, agir_llama *m, agir_err *e) {
    const agir_gguf_tensor *t = agir_gguf_tensor_by_name(g, "rope_freqs.weight");
    if (!t) return 0;
    int half = m->cfg.head_dim / 2;
    if (t->view.ndim != 1 || t->view.shape[0] != half || t->view.dtype != AGIR_DT_F32)
        return AGIR_BAD(e, "%s: tensor 'rope_freqs.weight' must be F32 of shape [%d]", g->path, half);
    float *f = malloc((size_t)half * sizeof *f);
    if (!f) return AGIR_BUG(e, "out of memory");
    AGIR_TRY(agir_view_to_f32(&t->view, f, e));
    int rc = 0;
    for (int i = 0; i < half && !rc; i++) {
        if (!(f[i] > 0 && f[i] < 1e30f))
            rc = AGIR_BAD(e, "%s: tensor 'rope_freqs.weight'[%d] = %g must be positive and finite", g->path, i, f[i]);
        else
            m->inv_freq[i] /= f[i];
    }
    free(f);
    return rc;
}

int agir_llama_load_gguf(const agir_gguf *g, agir_llama *m, agir_err *e) {
    char *arch;
    memset(m, 0, sizeof *m);
    AGIR_TRY(agir_gguf_get_str(g, "general.architecture", &arch, e));
    int llama = !strcmp(arch, "llama"), rc = 0;
    if (!llama && strcmp(arch, "qwen2"))
        rc = AGIR_BAD(e, "%s: general.architecture '%.40s' is not supported (hint: llama or qwen2)", g->path, arch);
    agir_llama_config cfg;
    if (!rc) rc = gguf_config(g, arch, &cfg, e);
    free(arch);
    AGIR_TRY(rc);
    double held = 0;
    for (int64_t t = 0; t < g->n_tensors; t++) {
        uint64_t n = 0;
        agir_view_numel(&g->tensors[t].view, &n);  // cannot overflow: the reader matched it to the bytes
        held += (double)n;
    }
    AGIR_TRY(agir_llama_check_held(&cfg, held, g->path, e));
    agir_err sub = {0};
    if (agir_llama_alloc(m, &cfg, 0, &sub)) return agir_errf(e, sub.code, "%s: %s", g->path, sub.msg);
    agir_weight_src s = {gguf_find, g, GGUF_NAMES, 1, "the GGUF metadata"};
    rc = agir_llama_fill(m, &s, e);
    if (!rc && llama) rc = unpermute_qk(m, e);
    if (!rc) rc = rope_freqs(g, m, e);
    if (rc) agir_llama_free(m);
    return rc;
}
