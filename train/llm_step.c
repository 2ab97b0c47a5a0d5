// LoRA fine-tuning step: accumulation, reduce points, global-norm clipping, AdamW per parameter
// group (see llm_step.h).
#include "train/llm_step.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "train/grad.h"

agir_llm_opt_cfg agir_llm_opt_defaults(void) {
    return (agir_llm_opt_cfg){.lr_lora = 2e-4f, .lr_rows = 2e-4f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                              .clip = 1.0f};
}

static int check_nonneg(const char *key, float v, agir_err *e) {
    if (!(v >= 0 && isfinite(v))) return AGIR_BAD(e, "%s: %g must be a finite number >= 0", key, v);
    return 0;
}

static int check_cfg(const agir_llm_opt_cfg *c, agir_err *e) {
    AGIR_TRY(check_nonneg("lr", c->lr_lora, e));
    AGIR_TRY(check_nonneg("weight_decay", c->wd_lora, e));
    AGIR_TRY(check_nonneg("lr_new_rows", c->lr_rows, e));
    AGIR_TRY(check_nonneg("weight_decay_new_rows", c->wd_rows, e));
    AGIR_TRY(check_nonneg("max_grad_norm", c->clip, e));
    if (!(c->beta1 >= 0 && c->beta1 < 1)) return AGIR_BAD(e, "beta1: %g out of range (hint: 0 <= beta1 < 1)", c->beta1);
    if (!(c->beta2 >= 0 && c->beta2 < 1)) return AGIR_BAD(e, "beta2: %g out of range (hint: 0 <= beta2 < 1)", c->beta2);
    if (!(c->eps > 0 && isfinite(c->eps))) return AGIR_BAD(e, "eps: %g must be positive", c->eps);
    return 0;
}

int agir_llm_trainer_init(agir_llm_trainer *t, agir_llama_weights *w, const agir_llm_opt_cfg *cfg,
                          const agir_llm_reduce *reduce, agir_err *e) {
    memset(t, 0, sizeof *t);
    AGIR_TRY(check_cfg(cfg, e));
    if (!w->lora) return AGIR_BUG(e, "LoRA trainer without an adapter");
    t->cfg = *cfg;
    t->w = w;
    if (reduce) t->reduce = *reduce;
    int rc = agir_gradnorm_open(&t->gn, w->ctx, e);
    if (!rc) rc = agir_llama_grads_alloc(&t->g, w, e);
    size_t bytes = 2 * t->g.n * sizeof(float);
    if (!rc) rc = agir_dev_alloc(w->ctx, bytes ? bytes : 1, (void **)&t->mom, e);
    if (!rc) rc = agir_dev_zero(w->ctx, t->mom, bytes, e);
    if (rc) agir_llm_trainer_free(t);  // safe on the parts not yet allocated
    return rc;
}

void agir_llm_trainer_free(agir_llm_trainer *t) {
    agir_llama_grads_free(&t->g);
    agir_gradnorm_close(&t->gn);
    if (t->w) agir_dev_free(t->w->ctx, t->mom);
    memset(t, 0, sizeof *t);
}

int agir_llm_step_begin(agir_llm_trainer *t, int64_t n_valid_local, agir_err *e) {
    AGIR_TRY(agir_llama_grads_zero(&t->g, e));
    t->loss = 0;
    int64_t n = n_valid_local;
    // Reduce point 1: every rank normalises its loss by the count of the whole global batch.
    if (t->reduce.sum_i64) AGIR_TRY(t->reduce.sum_i64(t->reduce.ctx, &n, 1, e));
    if (n < 1) return AGIR_BAD(e, "loss: no trained token in the global batch (hint: check the loss masks)");
    t->n_valid = n;
    return 0;
}

int agir_llm_step_micro(agir_llm_trainer *t, agir_llama_acts *a, const int32_t *tokens, const int32_t *pos,
                        const int32_t *seg, const int32_t *labels, const agir_rng *dropout, double *loss, agir_err *e) {
    if (t->n_valid < 1) return AGIR_BUG(e, "micro-step outside agir_llm_step_begin/apply");
    AGIR_TRY(agir_llama_forward_train(t->w, a, tokens, pos, seg, labels, dropout, e));
    double l;
    AGIR_TRY(agir_llama_loss(t->w, a, labels, t->n_valid, 1, &l, e));
    AGIR_TRY(agir_llama_backward(t->w, &t->g, a, e));
    t->loss += l;
    if (loss) *loss = l;
    return 0;
}

int agir_llm_step_apply(agir_llm_trainer *t, agir_llm_step_stats *st, agir_err *e) {
    if (t->n_valid < 1) return AGIR_BUG(e, "agir_llm_step_apply without agir_llm_step_begin");
    memset(st, 0, sizeof *st);
    st->loss = t->loss;
    t->n_valid = 0;
    agir_llama_weights *w = t->w;
    size_t nl = t->g.n_lora, nr = t->g.n_rows;
    // Reduce point 2: the gradients of all ranks summed (each is already divided by the global count).
    if (t->reduce.sum_f32) AGIR_TRY(t->reduce.sum_f32(t->reduce.ctx, t->g.mem, t->g.n, e));
    const float *bufs[2] = {t->g.lora, t->g.new_embed};
    size_t lens[2] = {nl, nr};
    double ss;
    AGIR_TRY(agir_gradnorm_sumsq(&t->gn, bufs, lens, 2, &ss, e));
    st->grad_norm = sqrt(ss);
    st->clip_scale = 1;
    if (!isfinite(st->grad_norm) || !isfinite(st->loss)) {
        st->skipped = 1;
        return 0;
    }
    st->clip_scale = (float)agir_clip_scale(st->grad_norm, t->cfg.clip);
    // Moments: [m, v] of the LoRA group, then [m, v] of the rows group, each laid out like the
    // gradients (new_embed, then new_head when untied).
    agir_llama_trainable tt[3];
    agir_llama_trainables(w, tt);
    float *grad[3] = {t->g.lora, t->g.new_embed, t->g.new_head};
    float *mom[3] = {t->mom, t->mom + 2 * nl, t->mom + 2 * nl + tt[1].n};
    size_t group_n[3] = {nl, nr, nr};  // m and v of a group are its size apart
    t->step++;
    for (int i = 0; i < 3; i++) {
        int rows = i > 0;
        agir_adamw_hp hp = {.lr = rows ? t->cfg.lr_rows : t->cfg.lr_lora, .beta1 = t->cfg.beta1,
                            .beta2 = t->cfg.beta2, .eps = t->cfg.eps,
                            .weight_decay = rows ? t->cfg.wd_rows : t->cfg.wd_lora, .grad_scale = st->clip_scale,
                            .step = t->step};
        float *m = mom[i], *v = mom[i] + group_n[i];
        if (agir_llama_weights_aliased(w))
            AGIR_TRY(agir_op_adamw(w->ctx, tt[i].master, grad[i], m, v, tt[i].n, &hp, e));
        else  // the bf16 copy the passes read is refreshed by the same op
            AGIR_TRY(agir_op_adamw_bf16(w->ctx, tt[i].master, tt[i].copy, grad[i], m, v, tt[i].n, &hp, e));
    }
    return 0;
}
