// The VQ-VAE tokenizer: layer list, parameter layout, forward and backward (architecture in vqvae.h).
// Tensors live on the model's context (m->ctx); host-side work (parameter and codebook statistics
// initialisation, perplexity) goes through agir_dev_upload / agir_dev_download, which are plain
// copies on the CPU.
#include "models/vqvae.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum layer_kind { L_CONV, L_RELU, L_UP, L_RES } layer_kind;

// One step of the network. Its input is the previous layer's output (or the model's input). A
// residual block keeps ReLU(x) in a1 and ReLU(conv3_d(a1)) in a2 for its backward pass.
struct agir_vq_layer {
    layer_kind kind;
    int T_in, C_in, T_out, C_out;
    agir_conv1d_shape conv, conv2;  // conv2: the residual block's 1×1 conv
    size_t w, b, w2, b2;            // parameter offsets
    float *out, *a1, *a2;
};

agir_vqvae_config agir_vqvae_t2m_config(int in_dim) {
    return (agir_vqvae_config){.in_dim = in_dim,
                               .width = 512,
                               .depth = 3,
                               .dilation_growth = 3,
                               .down = 2,
                               .n_codes = 512,
                               .code_dim = 512,
                               .mu = 0.99f,
                               .commit = 0.02f,
                               .w_joint = 0.5f,
                               .joint_c0 = 0,
                               .joint_c1 = 0};
}

const agir_vqvae_int_field agir_vqvae_int_fields[] = {
    {"in_dim", offsetof(agir_vqvae_config, in_dim), 1, 1 << 16},
    {"width", offsetof(agir_vqvae_config, width), 1, 1 << 14},
    {"depth", offsetof(agir_vqvae_config, depth), 0, 64},
    {"dilation_growth", offsetof(agir_vqvae_config, dilation_growth), 1, 64},
    {"down", offsetof(agir_vqvae_config, down), 0, 8},
    {"n_codes", offsetof(agir_vqvae_config, n_codes), 1, 1 << 20},
    {"code_dim", offsetof(agir_vqvae_config, code_dim), 1, 1 << 14},
    {"joint_c0", offsetof(agir_vqvae_config, joint_c0), 0, 1 << 16},
    {"joint_c1", offsetof(agir_vqvae_config, joint_c1), 0, 1 << 16},
};

static int range(const char *name, int v, int lo, int hi, agir_err *e) {
    if (v >= lo && v <= hi) return AGIR_OK;
    return AGIR_BAD(e, "vqvae: %s = %d outside [%d, %d] (hint: fix the config)", name, v, lo, hi);
}

int agir_vqvae_check_config(const agir_vqvae_config *c, agir_err *e) {
    for (int i = 0; i < AGIR_VQVAE_N_INT_FIELDS; i++) {
        const agir_vqvae_int_field *f = &agir_vqvae_int_fields[i];
        AGIR_TRY(range(f->key, *(const int *)((const char *)c + f->off), f->lo, f->hi, e));
    }
    if (!(c->mu >= 0 && c->mu < 1) || !(c->commit >= 0) || !(c->w_joint >= 0))
        return AGIR_BAD(e, "vqvae: mu %g must be in [0, 1), commit %g and w_joint %g >= 0 (hint: fix the config)",
                        c->mu, c->commit, c->w_joint);
    if (c->joint_c1 < c->joint_c0 || c->joint_c1 > c->in_dim)
        return AGIR_BAD(e, "vqvae: joint channels joint_c0/joint_c1 [%d, %d) lie outside the %d features (hint: fix "
                        "the config)", c->joint_c0, c->joint_c1, c->in_dim);
    double dil = pow(c->dilation_growth, c->depth > 0 ? c->depth - 1 : 0);
    if (dil > 1 << 20)
        return AGIR_BAD(e, "vqvae: dilation_growth^(depth - 1) = %g is too large (hint: lower depth or "
                        "dilation_growth)", dil);
    return AGIR_OK;
}

static int check_batch(const agir_vqvae_config *c, int B, int T, agir_err *e) {
    AGIR_TRY(range("batch", B, 1, 1 << 20, e));
    AGIR_TRY(range("window", T, 1, 1 << 20, e));
    // Row counts (B·T) are BLAS ints.
    if ((long long)B * T > 1 << 28)
        return AGIR_BAD(e, "vqvae: batch of %d windows of %d frames is too large (hint: use smaller batches)", B, T);
    if (T % (1 << c->down))
        return AGIR_BAD(e, "vqvae: window of %d frames is not a multiple of 2^down = %d (hint: change the window)", T,
                        1 << c->down);
    return AGIR_OK;
}

// Appends layers to L (or only counts them while L is NULL), tracking the running shape and the
// parameter offsets; buffers are allocated afterwards.
typedef struct builder {
    struct agir_vq_layer *L;
    int n, B, T, C;  // running time length and channels
    size_t params;
} builder;

static void push(builder *b, struct agir_vq_layer l) {
    l.T_in = b->T, l.C_in = b->C;
    if (l.kind == L_CONV) {
        l.conv.B = b->B, l.conv.T_in = b->T, l.conv.C_in = b->C;
        l.w = b->params, b->params += (size_t)l.conv.C_out * l.conv.K * l.conv.C_in;
        l.b = b->params, b->params += l.conv.C_out;
        l.T_out = agir_conv1d_t_out(&l.conv), l.C_out = l.conv.C_out;
    } else if (l.kind == L_RES) {
        l.conv = (agir_conv1d_shape){b->B, b->T, b->C, b->C, 3, 1, l.conv.dilation, l.conv.dilation};
        l.conv2 = (agir_conv1d_shape){b->B, b->T, b->C, b->C, 1, 1, 1, 0};
        l.w = b->params, b->params += (size_t)b->C * 3 * b->C;
        l.b = b->params, b->params += b->C;
        l.w2 = b->params, b->params += (size_t)b->C * b->C;
        l.b2 = b->params, b->params += b->C;
        l.T_out = b->T, l.C_out = b->C;
    } else {
        l.T_out = l.kind == L_UP ? 2 * b->T : b->T, l.C_out = b->C;
    }
    b->T = l.T_out, b->C = l.C_out;
    if (b->L) b->L[b->n] = l;
    b->n++;
}

static void conv(builder *b, int C_out, int K, int stride, int pad) {
    agir_conv1d_shape s = {.C_out = C_out, .K = K, .stride = stride, .dilation = 1, .pad = pad};
    push(b, (struct agir_vq_layer){.kind = L_CONV, .conv = s});
}
static void relu(builder *b) { push(b, (struct agir_vq_layer){.kind = L_RELU}); }
static void resnet(builder *b, const agir_vqvae_config *c) {
    int dil = 1;
    for (int i = 1; i < c->depth; i++) dil *= c->dilation_growth;
    for (int i = 0; i < c->depth; i++, dil /= c->dilation_growth)
        push(b, (struct agir_vq_layer){.kind = L_RES, .conv = {.dilation = dil}});
}

// Encoder then decoder (see vqvae.h); returns the encoder's layer count.
static int build(builder *b, const agir_vqvae_config *c) {
    b->C = c->in_dim;
    conv(b, c->width, 3, 1, 1);
    relu(b);
    for (int i = 0; i < c->down; i++) {
        conv(b, c->width, 4, 2, 1);
        resnet(b, c);
    }
    conv(b, c->code_dim, 3, 1, 1);
    int n_enc = b->n;
    conv(b, c->width, 3, 1, 1);
    relu(b);
    for (int i = 0; i < c->down; i++) {
        resnet(b, c);
        push(b, (struct agir_vq_layer){.kind = L_UP});
        conv(b, c->width, 3, 1, 1);
    }
    conv(b, c->width, 3, 1, 1);
    relu(b);
    conv(b, c->in_dim, 3, 1, 1);
    return n_enc;
}

// n floats (ints) on the model's device.
static int alloc_f(agir_vqvae *m, float **p, size_t n, agir_err *e) {
    void *q = NULL;
    int rc = agir_dev_alloc(&m->ctx, n * sizeof **p, &q, e);
    *p = q;
    return rc;
}

static int alloc_i(agir_vqvae *m, int32_t **p, size_t n, agir_err *e) {
    void *q = NULL;
    int rc = agir_dev_alloc(&m->ctx, n * sizeof **p, &q, e);
    *p = q;
    return rc;
}

static size_t max_z(size_t a, size_t b) { return a > b ? a : b; }

static int alloc_layers(agir_vqvae *m, agir_err *e) {
    size_t act = (size_t)m->B * m->T * m->cfg.in_dim, ws = 0;
    for (int i = 0; i < m->n_layers; i++) {
        struct agir_vq_layer *l = &m->layers[i];
        size_t n = (size_t)m->B * l->T_out * l->C_out;
        act = max_z(act, n);
        AGIR_TRY(alloc_f(m, &l->out, n, e));
        if (l->kind == L_CONV) ws = max_z(ws, agir_conv1d_ws_floats(&l->conv));
        if (l->kind == L_RES) {
            ws = max_z(ws, agir_conv1d_ws_floats(&l->conv));
            AGIR_TRY(alloc_f(m, &l->a1, n, e));
            AGIR_TRY(alloc_f(m, &l->a2, n, e));
        }
        m->flops_fwd += l->kind == L_CONV ? agir_conv1d_flops(&l->conv)
                        : l->kind == L_RES ? agir_conv1d_flops(&l->conv) + agir_conv1d_flops(&l->conv2)
                                           : 0;
    }
    AGIR_TRY(alloc_f(m, &m->ws, ws, e));
    for (int i = 0; i < 4; i++) AGIR_TRY(alloc_f(m, &m->g[i], act, e));
    return AGIR_OK;
}

// PyTorch's Conv1d default: weight and bias ~ U(±1/sqrt(fan_in)), fan_in = C_in·K.
static void init_conv(float *p, size_t n_w, size_t n_b, int fan_in, agir_rng *parent, uint64_t label) {
    agir_rng r;
    agir_rng_child(parent, label, &r);
    double bound = 1 / sqrt((double)fan_in);
    for (size_t i = 0; i < n_w + n_b; i++) p[i] = (float)agir_rng_range(&r, -bound, bound);
}

// Draws every conv's parameters into p (n_params,) on the host.
static void init_params(const agir_vqvae *m, float *p, uint64_t seed) {
    agir_rng root;
    agir_rng_init(&root, seed, 0x76717661u);
    for (int i = 0; i < m->n_layers; i++) {
        struct agir_vq_layer *l = &m->layers[i];
        if (l->kind != L_CONV && l->kind != L_RES) continue;
        const agir_conv1d_shape *s = &l->conv;
        init_conv(p + l->w, (size_t)s->C_out * s->K * s->C_in, s->C_out, s->K * s->C_in, &root,
                  2 * (uint64_t)i);
        if (l->kind == L_RES)
            init_conv(p + l->w2, (size_t)s->C_out * s->C_out, s->C_out, s->C_out, &root, 2 * (uint64_t)i + 1);
    }
}

static int upload_params(agir_vqvae *m, uint64_t seed, agir_err *e) {
    float *h = malloc(m->n_params * sizeof *h);
    if (!h) return AGIR_BAD(e, "vqvae: out of memory (hint: use smaller batches)");
    init_params(m, h, seed);
    int rc = agir_dev_upload(&m->ctx, m->params, h, m->n_params * sizeof *h, e);
    free(h);
    return rc;
}

static int alloc_model(agir_vqvae *m, size_t N, agir_err *e) {
    int K = m->cfg.n_codes, D = m->cfg.code_dim;
    AGIR_TRY(alloc_f(m, &m->params, m->n_params, e));
    AGIR_TRY(alloc_f(m, &m->grads, m->n_params, e));
    AGIR_TRY(alloc_f(m, &m->codebook, (size_t)K * D, e));
    AGIR_TRY(alloc_f(m, &m->ema_count, K, e));
    AGIR_TRY(alloc_f(m, &m->ema_sum, (size_t)K * D, e));
    AGIR_TRY(alloc_f(m, &m->batch_count, K, e));
    AGIR_TRY(alloc_f(m, &m->batch_sum, (size_t)K * D, e));
    AGIR_TRY(alloc_f(m, &m->reset_rows, (size_t)K * D, e));
    AGIR_TRY(alloc_f(m, &m->zq, N * D, e));
    AGIR_TRY(alloc_f(m, &m->dist_ws, agir_vq_ws_floats((int)N, K), e));
    AGIR_TRY(alloc_layers(m, e));
    AGIR_TRY(alloc_i(m, &m->idx, N, e));
    AGIR_TRY(alloc_i(m, &m->reset_ws, agir_vq_reset_ws_ints((int)N, K), e));
    m->ze = m->layers[m->n_enc - 1].out;
    m->out = m->layers[m->n_layers - 1].out;
    AGIR_TRY(agir_dev_zero(&m->ctx, m->codebook, sizeof(float) * K * D, e));
    AGIR_TRY(agir_dev_zero(&m->ctx, m->ema_sum, sizeof(float) * K * D, e));
    return agir_dev_zero(&m->ctx, m->ema_count, sizeof(float) * K, e);
}

int agir_vqvae_init(agir_vqvae *m, const agir_vqvae_config *cfg, int B, int T, uint64_t seed, agir_err *e) {
    agir_ctx cpu;
    AGIR_TRY(agir_ctx_open(&cpu, AGIR_DEV_CPU, e));
    int rc = agir_vqvae_init_ctx(&cpu, m, cfg, B, T, seed, e);
    agir_ctx_close(&cpu);  // a CPU context holds nothing; the model keeps its copy
    return rc;
}

int agir_vqvae_init_ctx(const agir_ctx *c, agir_vqvae *m, const agir_vqvae_config *cfg, int B, int T, uint64_t seed,
                        agir_err *e) {
    memset(m, 0, sizeof *m);
    AGIR_TRY(agir_vqvae_check_config(cfg, e));
    AGIR_TRY(check_batch(cfg, B, T, e));
    m->ctx = *c;
    m->cfg = *cfg, m->B = B, m->T = T, m->Tq = T >> cfg->down;
    builder b = {.B = B, .T = T};
    build(&b, cfg);
    m->layers = calloc((size_t)b.n, sizeof *m->layers);
    if (!m->layers) return AGIR_BAD(e, "vqvae: out of memory (hint: use smaller batches)");
    b = (builder){.L = m->layers, .B = B, .T = T};
    m->n_enc = build(&b, cfg);
    m->n_layers = b.n, m->n_params = b.params;
    int rc = alloc_model(m, (size_t)B * m->Tq, e);
    if (!rc) rc = upload_params(m, seed, e);
    if (rc) agir_vqvae_free(m);
    return rc;
}

void agir_vqvae_free(agir_vqvae *m) {
    const agir_ctx *c = &m->ctx;
    for (int i = 0; m->layers && i < m->n_layers; i++) {
        agir_dev_free(c, m->layers[i].out);
        agir_dev_free(c, m->layers[i].a1);
        agir_dev_free(c, m->layers[i].a2);
    }
    free(m->layers);
    float *f[] = {m->params, m->grads, m->codebook, m->ema_count, m->ema_sum, m->batch_count, m->batch_sum,
                  m->reset_rows, m->zq, m->dist_ws, m->ws, m->g[0], m->g[1], m->g[2], m->g[3]};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) agir_dev_free(c, f[i]);
    agir_dev_free(c, m->idx);
    agir_dev_free(c, m->reset_ws);
    memset(m, 0, sizeof *m);
}

// A conv's weight and bias as entries n and n + 1 of out (those below cap); returns the new count.
static int add_conv_tensors(agir_vqvae_tensor *out, int cap, int n, const char *part, int layer, const char *sub,
                            const agir_conv1d_shape *s, size_t w, size_t b) {
    const char *dot = sub[0] ? "." : "";
    if (n < cap) {
        agir_vqvae_tensor *t = &out[n];
        *t = (agir_vqvae_tensor){.ndim = 3, .shape = {s->C_out, s->K, s->C_in}, .off = w,
                                 .numel = (size_t)s->C_out * s->K * s->C_in};
        snprintf(t->name, sizeof t->name, "%s.%d%s%s.weight", part, layer, dot, sub);
    }
    if (n + 1 < cap) {
        agir_vqvae_tensor *t = &out[n + 1];
        *t = (agir_vqvae_tensor){.ndim = 1, .shape = {s->C_out}, .off = b, .numel = (size_t)s->C_out};
        snprintf(t->name, sizeof t->name, "%s.%d%s%s.bias", part, layer, dot, sub);
    }
    return n + 2;
}

int agir_vqvae_tensors(const agir_vqvae *m, agir_vqvae_tensor *out, int cap) {
    int n = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const struct agir_vq_layer *l = &m->layers[i];
        const char *part = i < m->n_enc ? "enc" : "dec";
        int li = i < m->n_enc ? i : i - m->n_enc;
        if (l->kind == L_CONV) n = add_conv_tensors(out, cap, n, part, li, "", &l->conv, l->w, l->b);
        if (l->kind == L_RES) {
            n = add_conv_tensors(out, cap, n, part, li, "conv1", &l->conv, l->w, l->b);
            n = add_conv_tensors(out, cap, n, part, li, "conv2", &l->conv2, l->w2, l->b2);
        }
    }
    return n;
}

// Every call must use a context of the device the model's buffers are on.
static int same_device(const agir_ctx *c, const agir_vqvae *m, agir_err *e) {
    if (c->dev == m->ctx.dev) return AGIR_OK;
    return AGIR_BUG(e, "vqvae on %s called with a %s context", agir_device_name(m->ctx.dev), agir_device_name(c->dev));
}

static size_t out_n(const agir_vqvae *m, const struct agir_vq_layer *l) { return (size_t)m->B * l->T_out * l->C_out; }

static int layer_fwd(const agir_ctx *c, agir_vqvae *m, struct agir_vq_layer *l, const float *x, agir_err *e) {
    const float *P = m->params;
    size_t n = out_n(m, l);
    switch (l->kind) {
    case L_CONV:
        return agir_op_conv1d_fwd(c, &l->conv, x, P + l->w, P + l->b, l->out, m->ws, e);
    case L_RELU:
        return agir_op_relu_fwd(c, x, l->out, n, e);
    case L_UP:
        return agir_op_upsample2_fwd(c, x, l->out, m->B, l->T_in, l->C_in, e);
    case L_RES:
        AGIR_TRY(agir_op_relu_fwd(c, x, l->a1, n, e));
        AGIR_TRY(agir_op_conv1d_fwd(c, &l->conv, l->a1, P + l->w, P + l->b, l->a2, m->ws, e));
        AGIR_TRY(agir_op_relu_fwd(c, l->a2, l->a2, n, e));
        AGIR_TRY(agir_op_conv1d_fwd(c, &l->conv2, l->a2, P + l->w2, P + l->b2, l->out, NULL, e));
        return agir_op_add_into(c, x, l->out, n, e);  // the skip connection
    }
    return AGIR_BUG(e, "unknown layer kind %d", (int)l->kind);
}

static int run_layers(const agir_ctx *c, agir_vqvae *m, int lo, int hi, const float *x, agir_err *e) {
    for (int i = lo; i < hi; i++) {
        AGIR_TRY(layer_fwd(c, m, &m->layers[i], x, e));
        x = m->layers[i].out;
    }
    return AGIR_OK;
}

int agir_vqvae_encode(const agir_ctx *c, agir_vqvae *m, const float *x, agir_err *e) {
    AGIR_TRY(same_device(c, m, e));
    return run_layers(c, m, 0, m->n_enc, x, e);
}

int agir_vqvae_decode(const agir_ctx *c, agir_vqvae *m, const float *zin, agir_err *e) {
    AGIR_TRY(same_device(c, m, e));
    m->dec_in = zin;
    return run_layers(c, m, m->n_enc, m->n_layers, zin, e);
}

// The rows drawn go to m->reset_rows and the unit counts to m->batch_count, both free until the
// batch's quantize fills them.
int agir_vqvae_init_codebook(const agir_ctx *c, agir_vqvae *m, agir_rng *r, agir_err *e) {
    AGIR_TRY(same_device(c, m, e));
    int N = m->B * m->Tq, K = m->cfg.n_codes, D = m->cfg.code_dim, n_reset;
    float *ones = malloc(sizeof *ones * K);
    if (!ones) return AGIR_BAD(e, "vqvae: out of memory (hint: use fewer codes)");
    for (int k = 0; k < K; k++) ones[k] = 1;
    int rc = agir_dev_upload(c, m->batch_count, ones, sizeof *ones * K, e);
    free(ones);
    AGIR_TRY(rc);
    AGIR_TRY(agir_op_vq_reset_rows(c, r, m->ze, N, K, D, m->reset_rows, m->reset_ws, e));
    AGIR_TRY(agir_op_vq_ema_update(c, m->ema_count, m->ema_sum, m->batch_count, m->reset_rows, m->reset_rows, 0, K, D,
                                   m->codebook, &n_reset, e));
    m->codebook_ready = 1;
    return AGIR_OK;
}

int agir_vqvae_update_codebook(const agir_ctx *c, agir_vqvae *m, agir_rng *r, int *n_reset, agir_err *e) {
    AGIR_TRY(same_device(c, m, e));
    int N = m->B * m->Tq, K = m->cfg.n_codes, D = m->cfg.code_dim;
    AGIR_TRY(agir_op_vq_reset_rows(c, r, m->ze, N, K, D, m->reset_rows, m->reset_ws, e));
    return agir_op_vq_ema_update(c, m->ema_count, m->ema_sum, m->batch_count, m->batch_sum, m->reset_rows, m->cfg.mu,
                                 K, D, m->codebook, n_reset, e);
}

// Perplexity and usage of this batch's counts, on the host.
static int batch_usage(const agir_ctx *c, const agir_vqvae *m, agir_vqvae_qstats *qs, agir_err *e) {
    int K = m->cfg.n_codes;
    float *counts = malloc(sizeof *counts * K);
    if (!counts) return AGIR_BAD(e, "vqvae: out of memory (hint: use fewer codes)");
    int rc = agir_dev_download(c, counts, m->batch_count, sizeof *counts * K, e);
    if (!rc) {
        qs->perplexity = agir_vq_perplexity(counts, K);
        qs->usage = agir_vq_usage(counts, K);
    }
    free(counts);
    return rc;
}

int agir_vqvae_quantize(const agir_ctx *c, agir_vqvae *m, int train, agir_rng *r, agir_vqvae_qstats *qs,
                        agir_err *e) {
    AGIR_TRY(same_device(c, m, e));
    int N = m->B * m->Tq, K = m->cfg.n_codes, D = m->cfg.code_dim;
    if (train && !m->codebook_ready) AGIR_TRY(agir_vqvae_init_codebook(c, m, r, e));
    AGIR_TRY(agir_op_vq_assign(c, m->ze, m->codebook, N, K, D, m->idx, m->dist_ws, e));
    AGIR_TRY(agir_op_vq_gather(c, m->codebook, m->idx, N, K, D, m->zq, e));
    AGIR_TRY(agir_op_vq_stats(c, m->ze, m->idx, N, K, D, m->batch_count, m->batch_sum, e));
    int n_reset = 0;
    if (train) AGIR_TRY(agir_vqvae_update_codebook(c, m, r, &n_reset, e));
    if (!qs) return AGIR_OK;
    qs->n_reset = n_reset;
    return batch_usage(c, m, qs, e);
}

// The reconstruction terms (with dout: their gradient is added to it, (B, T, C_in)).
static int rec_losses(const agir_ctx *c, const agir_vqvae *m, const float *x, const uint8_t *mask,
                      agir_vqvae_losses *l, float *dout, agir_err *e) {
    const agir_vqvae_config *k = &m->cfg;
    int frames = m->B * m->T;
    agir_loss_spec rec = {AGIR_LOSS_SMOOTH_L1, frames, k->in_dim, 0, k->in_dim, 1.0f};
    AGIR_TRY(agir_op_loss(c, &rec, m->out, x, mask, &l->rec, dout, e));
    l->joint = 0;
    if (k->joint_c1 > k->joint_c0) {
        agir_loss_spec jt = {AGIR_LOSS_SMOOTH_L1, frames, k->in_dim, k->joint_c0, k->joint_c1, k->w_joint};
        AGIR_TRY(agir_op_loss(c, &jt, m->out, x, mask, &l->joint, dout, e));
    }
    return AGIR_OK;
}

// T2M-GPT's commitment term, F.mse_loss(z_e, z_q.detach()) over every latent frame (with dze: its
// gradient is added to it, (B, Tq, D)).
static int commit_loss(const agir_ctx *c, const agir_vqvae *m, double *loss, float *dze, agir_err *e) {
    agir_loss_spec cm = {AGIR_LOSS_L2, m->B * m->Tq, m->cfg.code_dim, 0, m->cfg.code_dim, m->cfg.commit};
    return agir_op_loss(c, &cm, m->ze, m->zq, NULL, loss, dze, e);
}

int agir_vqvae_loss(const agir_ctx *c, const agir_vqvae *m, const float *x, const uint8_t *mask,
                    agir_vqvae_losses *l, agir_err *e) {
    AGIR_TRY(same_device(c, m, e));
    AGIR_TRY(rec_losses(c, m, x, mask, l, NULL, e));
    AGIR_TRY(commit_loss(c, m, &l->commit, NULL, e));
    l->total = l->rec + l->joint + l->commit;
    return AGIR_OK;
}

// dy: gradient of the layer's output; dx: receives the gradient of its input (NULL for the model's
// input), zeroed by the caller except for residual blocks, which start it with a copy of dy.
// t1, t2: scratch of the layer's size.
static int layer_bwd(const agir_ctx *c, agir_vqvae *m, struct agir_vq_layer *l, const float *x, const float *dy,
                     float *dx, float *t1, float *t2, agir_err *e) {
    const float *P = m->params;
    float *G = m->grads;
    size_t n = out_n(m, l);
    switch (l->kind) {
    case L_CONV:
        return agir_op_conv1d_bwd(c, &l->conv, x, P + l->w, dy, dx, G + l->w, G + l->b, m->ws, e);
    case L_RELU:
        return agir_op_relu_bwd(c, l->out, dy, dx, n, e);
    case L_UP:
        return agir_op_upsample2_bwd(c, dy, dx, m->B, l->T_in, l->C_in, e);
    case L_RES:
        AGIR_TRY(agir_dev_zero(c, t1, n * sizeof(float), e));
        AGIR_TRY(agir_op_conv1d_bwd(c, &l->conv2, l->a2, P + l->w2, dy, t1, G + l->w2, G + l->b2, NULL, e));
        AGIR_TRY(agir_dev_zero(c, t2, n * sizeof(float), e));
        AGIR_TRY(agir_op_relu_bwd(c, l->a2, t1, t2, n, e));
        AGIR_TRY(agir_dev_zero(c, t1, n * sizeof(float), e));
        AGIR_TRY(agir_op_conv1d_bwd(c, &l->conv, l->a1, P + l->w, t2, t1, G + l->w, G + l->b, m->ws, e));
        AGIR_TRY(agir_dev_copy(c, dx, dy, n * sizeof(float), e));  // the skip connection
        return agir_op_relu_bwd(c, l->a1, t1, dx, n, e);
    }
    return AGIR_BUG(e, "unknown layer kind %d", (int)l->kind);
}

// Back through layers [lo, hi) whose first input is x0. *dy holds the gradient of layer hi-1's
// output in g[0] or g[1]; on return it points at the gradient of x0 (NULL without want_dx0).
static int back_layers(const agir_ctx *c, agir_vqvae *m, int lo, int hi, const float *x0, int want_dx0, float **dy,
                       agir_err *e) {
    for (int i = hi - 1; i >= lo; i--) {
        struct agir_vq_layer *l = &m->layers[i];
        const float *x = i > lo ? m->layers[i - 1].out : x0;
        float *dx = *dy == m->g[0] ? m->g[1] : m->g[0];
        if (i == lo && !want_dx0) dx = NULL;
        if (dx && l->kind != L_RES)
            AGIR_TRY(agir_dev_zero(c, dx, (size_t)m->B * l->T_in * l->C_in * sizeof(float), e));
        AGIR_TRY(layer_bwd(c, m, l, x, *dy, dx, m->g[2], m->g[3], e));
        *dy = dx;
    }
    return AGIR_OK;
}

int agir_vqvae_backward(const agir_ctx *c, agir_vqvae *m, const float *x, const uint8_t *mask, agir_err *e) {
    AGIR_TRY(same_device(c, m, e));
    if (!m->dec_in) return AGIR_BUG(e, "vqvae backward before a forward pass");
    AGIR_TRY(agir_dev_zero(c, m->grads, m->n_params * sizeof(float), e));
    float *dy = m->g[0];
    AGIR_TRY(agir_dev_zero(c, dy, (size_t)m->B * m->T * m->cfg.in_dim * sizeof(float), e));
    agir_vqvae_losses l;
    AGIR_TRY(rec_losses(c, m, x, mask, &l, dy, e));
    AGIR_TRY(back_layers(c, m, m->n_enc, m->n_layers, m->dec_in, 1, &dy, e));
    // Straight-through: dy, the gradient of z_q, is taken as z_e's; the commitment term adds its own.
    AGIR_TRY(commit_loss(c, m, &l.commit, dy, e));
    return back_layers(c, m, 0, m->n_enc, x, 0, &dy, e);
}
