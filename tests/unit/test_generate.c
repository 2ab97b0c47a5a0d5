// Generation (infer/kv_cache.c, sample.c, generate.c) on the tiny HF fixtures of
// tests/fixtures/llama and on hand-made distributions:
//  - KV-cached logits equal the full forward's (agir_llama_forward) at every position, with and
//    without a LoRA adapter, to 1e-5 relative, also after a prompt longer than the cache's attention
//    chunk (128 rows);
//  - a batch of prompts of different lengths gives each prompt's logits and tokens as when it runs
//    alone; greedy tokens are the argmax of the full forward over prompt + generated text;
//  - top-k / top-p keep exactly the expected sets; sampled frequencies match the probabilities
//    (chi-square, fixed seed); stop tokens, the token limit, the context limit and prefix reuse.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer/generate.h"
#include "models/llama.h"
#include "testutil.h"

static const char *const FIXTURES[] = {"gqa_untied", "llama3_tied", "qwen2_bias"};

static void load(const char *name, agir_llama *m) {
    char rel[256], dir[4096];
    agir_err e = {0};
    snprintf(rel, sizeof rel, "tests/fixtures/llama/%s", name);
    agir_test_src(rel, dir, sizeof dir);
    if (agir_llama_load_hf(dir, 2, m, &e)) fail_msg("%s", e.msg);
}

static void random_tokens(int32_t *t, int n, int V, uint64_t seed) {
    agir_rng r;
    agir_rng_init(&r, seed, 7);
    for (int i = 0; i < n; i++) t[i] = (int32_t)agir_rng_below(&r, (uint32_t)V);
}

// A rank-4 adapter on every target with non-zero A and B.
static void random_lora(const agir_llama *m, agir_lora *l, float dropout) {
    agir_err e = {0};
    int dims[AGIR_LORA_NTARGET][2];
    agir_llama_lora_dims(&m->cfg, dims);
    agir_lora_cfg c = {.rank = 4, .alpha = 8, .dropout = dropout, .targets = (1u << AGIR_LORA_NTARGET) - 1};
    assert_int_equal(agir_lora_alloc(l, &c, m->cfg.n_layer, dims, &e), 0);
    agir_rng r;
    agir_rng_init(&r, 5, 0);
    for (size_t i = 0; i < l->n_params; i++) l->mem[i] = (float)agir_rng_range(&r, -0.3, 0.3);
}

// Full-forward logits (T, V) of one sequence.
static float *full_logits(const agir_llama *m, const agir_lora *lora, const int32_t *tok, int T) {
    agir_llama_acts a;
    agir_err e = {0};
    agir_test_llama tl;
    agir_test_llama_open(&tl, m, lora);
    assert_int_equal(agir_llama_acts_alloc(&a, &tl.w, 1, T, &e), 0);
    int32_t *pos = malloc(sizeof(int32_t) * T), *seg = calloc((size_t)T, sizeof(int32_t));
    for (int t = 0; t < T; t++) pos[t] = t;
    if (agir_llama_forward(&tl.w, &a, tok, pos, seg, NULL, &e)) fail_msg("%s", e.msg);
    float *out = malloc(sizeof(float) * (size_t)T * m->cfg.vocab);
    memcpy(out, a.logits, sizeof(float) * (size_t)T * m->cfg.vocab);
    agir_llama_acts_free(&a);
    agir_test_llama_close(&tl);
    free(pos), free(seg);
    return out;
}

// Feeds a prefix of `prefix` tokens, then one token at a time up to T, checking the logits of the
// prefix's last token and of every later one.
static void cached_equals_full(const char *name, int with_lora, int T, int prefix) {
    agir_llama m;
    agir_lora lora = {0}, ref = {0};
    agir_err e = {0};
    load(name, &m);
    int V = m.cfg.vocab;
    if (with_lora) {
        random_lora(&m, &lora, 0.1f);  // dropout must be ignored at inference
        ref = lora;
        ref.cfg.dropout = 0;
    }
    int32_t *tok = malloc(sizeof(int32_t) * T);
    random_tokens(tok, T, V, 11);
    float *want = full_logits(&m, with_lora ? &ref : NULL, tok, T);
    agir_infer s;
    assert_int_equal(agir_infer_init(&s, &m, with_lora ? &lora : NULL, 1, T, &e), 0);
    float *got = malloc(sizeof(float) * V);
    double worst = 0;
    for (int t = prefix - 1; t < T; t++) {
        int n = t == prefix - 1 ? prefix : 1;
        if (agir_infer_step(&s, tok + t + 1 - n, &n, got, &e)) fail_msg("%s", e.msg);
        worst = fmax(worst, agir_test_max_rel(got, want + (size_t)t * V, V));
    }
    print_message("%-12s lora=%d T=%d cached vs full: rel err %.2e\n", name, with_lora, T, worst);
    if (!(worst <= 1e-5)) fail_msg("%s: cached logits differ from the full forward by %.3g", name, worst);
    assert_int_equal(s.kv.len[0], T);
    // One more token passes the context: refused with one line, nothing changed.
    int one = 1;
    assert_int_equal(agir_infer_step(&s, tok, &one, got, &e), AGIR_EINPUT);
    assert_null(strchr(e.msg, '\n'));
    agir_infer_free(&s);
    free(tok), free(want), free(got);
    agir_lora_free(&lora);
    agir_llama_free(&m);
}

static void cached_logits(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof FIXTURES / sizeof *FIXTURES; i++) {
        cached_equals_full(FIXTURES[i], 0, 12, 3);
        cached_equals_full(FIXTURES[i], 1, 12, 3);
    }
    cached_equals_full(FIXTURES[0], 1, 300, 290);  // prefill in attention chunks at offsets 0, 128, 256
}

enum { NB = 3, MAXP = 9, NEW = 6 };
static const int PLEN[NB] = {5, 9, 2};

static void prompts(int V, int32_t p[NB][MAXP], const int32_t *ptr[NB]) {
    for (int b = 0; b < NB; b++) {
        random_tokens(p[b], PLEN[b], V, 100 + b);
        ptr[b] = p[b];
    }
}

static void gen(const agir_llama *m, int B, const int32_t *const *p, const int *plen, const agir_gen_cfg *c,
                agir_gen_seq *out) {
    agir_infer s;
    agir_err e = {0};
    int T = 0;
    for (int b = 0; b < B; b++) T = plen[b] > T ? plen[b] : T;
    assert_int_equal(agir_infer_init(&s, m, NULL, B, T + c->max_new, &e), 0);
    if (agir_generate(&s, p, plen, c, out, &e)) fail_msg("%s", e.msg);
    agir_infer_free(&s);
}

// Prefill of a batch with mixed lengths (and in small chunks) gives each prompt's logits alone.
static void batch_prefill_logits(const agir_llama *m) {
    int V = m->cfg.vocab;
    int32_t p[NB][MAXP], flat[MAXP * NB];
    const int32_t *ptr[NB];
    prompts(V, p, ptr);
    agir_err e = {0};
    agir_infer s;
    float *batch = malloc(sizeof(float) * NB * V), *alone = malloc(sizeof(float) * V);
    assert_int_equal(agir_infer_init(&s, m, NULL, NB, MAXP, &e), 0);
    int k = 0;
    for (int b = 0; b < NB; b++)
        for (int i = 0; i < PLEN[b]; i++) flat[k++] = p[b][i];
    if (agir_infer_step(&s, flat, PLEN, batch, &e)) fail_msg("%s", e.msg);
    agir_infer_free(&s);
    for (int b = 0; b < NB; b++) {
        assert_int_equal(agir_infer_init(&s, m, NULL, 1, MAXP, &e), 0);
        if (agir_infer_step(&s, p[b], &PLEN[b], alone, &e)) fail_msg("%s", e.msg);
        double r = agir_test_max_rel(batch + (size_t)b * V, alone, V);
        if (!(r <= 1e-5)) fail_msg("prompt %d: batched logits differ from alone by %.3g", b, r);
        agir_infer_free(&s);
    }
    free(batch), free(alone);
}

static void batch_equals_alone(void **state) {
    (void)state;
    agir_llama m;
    load("gqa_untied", &m);
    batch_prefill_logits(&m);
    int32_t p[NB][MAXP];
    const int32_t *ptr[NB];
    prompts(m.cfg.vocab, p, ptr);
    uint64_t seeds[NB] = {3, 4, 5};
    for (int mode = 0; mode < 2; mode++) {
        // greedy, then sampling with a small prefill chunk that splits prompts across steps
        agir_gen_cfg c = {.max_new = NEW, .sample = {mode ? 1.0f : 0, mode ? 20 : 0, mode ? 0.95f : 1},
                          .seed = seeds, .prefill_chunk = mode ? 4 : 0};
        agir_gen_seq all[NB], one[1];
        gen(&m, NB, ptr, PLEN, &c, all);
        for (int b = 0; b < NB; b++) {
            agir_gen_cfg c1 = c;
            c1.seed = &seeds[b];
            gen(&m, 1, &ptr[b], &PLEN[b], &c1, one);
            assert_int_equal(all[b].n, NEW);
            assert_int_equal(one[0].n, NEW);
            assert_int_equal(all[b].stop, AGIR_GEN_MAX_TOKENS);
            assert_memory_equal(all[b].ids, one[0].ids, sizeof(int32_t) * NEW);
            agir_gen_seq_free(one, 1);
        }
        agir_gen_seq_free(all, NB);
    }
    agir_llama_free(&m);
}

// Every greedy token is the argmax of the full forward over the prompt and the tokens before it.
static void greedy_is_argmax(void **state) {
    (void)state;
    for (size_t f = 0; f < sizeof FIXTURES / sizeof *FIXTURES; f++) {
        agir_llama m;
        load(FIXTURES[f], &m);
        int V = m.cfg.vocab, plen = 4;
        int32_t seq[4 + NEW];
        random_tokens(seq, plen, V, 9);
        const int32_t *ptr = seq;
        agir_gen_cfg c = {.max_new = NEW};
        agir_gen_seq out;
        gen(&m, 1, &ptr, &plen, &c, &out);
        assert_int_equal(out.n, NEW);
        memcpy(seq + plen, out.ids, sizeof(int32_t) * NEW);
        float *full = full_logits(&m, NULL, seq, plen + NEW - 1);
        for (int i = 0; i < NEW; i++) {
            const float *row = full + (size_t)(plen - 1 + i) * V;
            int32_t want = 0;
            for (int v = 1; v < V; v++)
                if (row[v] > row[want]) want = v;
            assert_int_equal(out.ids[i], want);
        }
        free(full);
        agir_gen_seq_free(&out, 1);
        agir_llama_free(&m);
    }
}

// Stop tokens end a sequence before the token; the limit, the context and on_token end it after.
static int stop_at_two(void *ctx, int b, const int32_t *ids, int n) {
    (void)ctx, (void)b, (void)ids;
    return n == 2;
}

static void stops(void **state) {
    (void)state;
    agir_llama m;
    load("llama3_tied", &m);
    int V = m.cfg.vocab, plen = 5;
    int32_t p[5];
    random_tokens(p, plen, V, 21);
    const int32_t *ptr = p;
    // Sampling (seeded, so every run below draws the same tokens) gives varied tokens on this
    // random model, where greedy repeats one.
    const uint64_t seed = 8;
    const agir_gen_cfg sampled = {.max_new = NEW, .sample = {1.0f, 0, 0}, .seed = &seed};
    agir_gen_cfg c = sampled;
    agir_gen_seq free_run, out;
    gen(&m, 1, &ptr, &plen, &c, &free_run);
    // The first token not seen before it becomes the stop token.
    int at = 1;
    while (at < NEW) {
        int seen = 0;
        for (int j = 0; j < at; j++) seen |= free_run.ids[j] == free_run.ids[at];
        if (!seen) break;
        at++;
    }
    if (at == NEW) fail_msg("the sampled run repeats one token; pick another seed");
    c.stop = &free_run.ids[at];
    c.n_stop = 1;
    gen(&m, 1, &ptr, &plen, &c, &out);
    assert_int_equal(out.stop, AGIR_GEN_STOP_TOKEN);
    assert_int_equal(out.n, at);
    assert_memory_equal(out.ids, free_run.ids, sizeof(int32_t) * at);
    agir_gen_seq_free(&out, 1);
    c = sampled;
    c.on_token = stop_at_two;
    gen(&m, 1, &ptr, &plen, &c, &out);
    assert_int_equal(out.stop, AGIR_GEN_STOP_TEST);
    assert_int_equal(out.n, 2);
    agir_gen_seq_free(&out, 1);
    // A context of plen + 2 positions: tokens are drawn until the cache cannot take the next one.
    agir_infer s;
    agir_err e = {0};
    assert_int_equal(agir_infer_init(&s, &m, NULL, 1, plen + 2, &e), 0);
    c = sampled;
    c.max_new = 50;
    assert_int_equal(agir_generate(&s, &ptr, &plen, &c, &out, &e), 0);
    assert_int_equal(out.stop, AGIR_GEN_CONTEXT);
    assert_int_equal(out.n, 3);
    assert_memory_equal(out.ids, free_run.ids, sizeof(int32_t) * 3);
    agir_gen_seq_free(&out, 1);
    agir_infer_free(&s);
    agir_gen_seq_free(&free_run, 1);
    agir_llama_free(&m);
}

// A second prompt that extends the first reuses the cached prefix and gives what a fresh cache gives.
static void prefix_reuse(void **state) {
    (void)state;
    agir_llama m;
    load("qwen2_bias", &m);
    int V = m.cfg.vocab, plen = 4;
    int32_t p[4 + NEW + 2];
    random_tokens(p, plen, V, 33);
    const int32_t *ptr = p;
    agir_gen_cfg c = {.max_new = NEW};
    agir_gen_seq first, again, fresh;
    agir_infer s;
    agir_err e = {0};
    assert_int_equal(agir_infer_init(&s, &m, NULL, 1, 32, &e), 0);
    assert_int_equal(agir_generate(&s, &ptr, &plen, &c, &first, &e), 0);
    memcpy(p + plen, first.ids, sizeof(int32_t) * NEW);
    random_tokens(p + plen + NEW, 2, V, 34);  // a "user turn" after the reply
    int plen2 = plen + NEW + 2;
    assert_int_equal(agir_generate(&s, &ptr, &plen2, &c, &again, &e), 0);
    agir_infer_free(&s);
    gen(&m, 1, &ptr, &plen2, &c, &fresh);
    assert_int_equal(again.n, fresh.n);
    assert_memory_equal(again.ids, fresh.ids, sizeof(int32_t) * (size_t)fresh.n);
    agir_gen_seq_free(&again, 1);
    // An unrelated prompt after that must not reuse anything wrong.
    int32_t q[3];
    random_tokens(q, 3, V, 35);
    const int32_t *qp = q;
    int ql = 3;
    agir_gen_seq other, other_fresh;
    assert_int_equal(agir_infer_init(&s, &m, NULL, 1, 32, &e), 0);
    assert_int_equal(agir_generate(&s, &ptr, &plen2, &c, &again, &e), 0);
    agir_gen_seq_free(&again, 1);
    assert_int_equal(agir_generate(&s, &qp, &ql, &c, &other, &e), 0);
    agir_infer_free(&s);
    gen(&m, 1, &qp, &ql, &c, &other_fresh);
    assert_memory_equal(other.ids, other_fresh.ids, sizeof(int32_t) * NEW);
    agir_gen_seq_free(&first, 1);
    agir_gen_seq_free(&fresh, 1);
    agir_gen_seq_free(&other, 1);
    agir_gen_seq_free(&other_fresh, 1);
    agir_llama_free(&m);
}

// ---- sampling on hand-made distributions ----

// logits[perm[i]] = log p[i]: ids are shuffled so the kept set cannot follow id order by luck.
enum { HV = 6 };
static const int PERM[HV] = {3, 0, 5, 1, 4, 2};

static void hand_logits(const double *p, float *logits) {
    for (int i = 0; i < HV; i++) logits[PERM[i]] = (float)log(p[i]);
}

// The kept ids must be perm[0..n) in that order.
static void expect_kept(const float *logits, agir_sample_cfg c, int n) {
    agir_cand cand[HV];
    int got = agir_sample_keep(logits, HV, &c, cand);
    if (got != n) fail_msg("T=%g k=%d p=%g: kept %d tokens, expected %d", c.temperature, c.top_k, c.top_p, got, n);
    double sum = 0;
    for (int i = 0; i < n; i++) {
        assert_int_equal(cand[i].id, PERM[i]);
        sum += cand[i].p;
    }
    assert_true(fabs(sum - 1) < 1e-6);
}

static void top_k_top_p_sets(void **state) {
    (void)state;
    const double p[HV] = {0.4, 0.25, 0.15, 0.1, 0.06, 0.04};
    float lg[HV];
    hand_logits(p, lg);
    expect_kept(lg, (agir_sample_cfg){1, 0, 1}, 6);
    expect_kept(lg, (agir_sample_cfg){1, 0, 0}, 6);
    expect_kept(lg, (agir_sample_cfg){1, 0, 0.3f}, 1);    // 0.4 ≥ 0.3
    expect_kept(lg, (agir_sample_cfg){1, 0, 0.5f}, 2);    // 0.4 < 0.5 ≤ 0.65
    expect_kept(lg, (agir_sample_cfg){1, 0, 0.7f}, 3);    // 0.65 < 0.7 ≤ 0.8
    expect_kept(lg, (agir_sample_cfg){1, 0, 0.97f}, 6);   // 0.96 < 0.97
    expect_kept(lg, (agir_sample_cfg){1, 3, 1}, 3);
    expect_kept(lg, (agir_sample_cfg){1, 100, 1}, 6);
    // top-p after top-k: over {0.4, 0.25, 0.15} / 0.8 = {0.5, 0.3125, 0.1875}, 0.6 keeps two
    expect_kept(lg, (agir_sample_cfg){1, 3, 0.6f}, 2);
    // 0.4 + 0.25 = 0.65 < 0.66: the third token is needed
    expect_kept(lg, (agir_sample_cfg){1, 0, 0.66f}, 3);
    // Temperature 0.5 squares the odds: p² normalised = {0.615, 0.240, ...}, so 0.6 keeps one.
    expect_kept(lg, (agir_sample_cfg){0.5f, 0, 0.6f}, 1);
    expect_kept(lg, (agir_sample_cfg){2.0f, 0, 0.6f}, 3);  // √p normalised: 0.277, 0.219, 0.170, ...
    agir_cand cand[HV];
    assert_int_equal(agir_sample_keep(lg, HV, &(agir_sample_cfg){1, 3, 0.6f}, cand), 2);
    assert_true(fabs(cand[0].p - 0.5 / 0.8125) < 1e-5);  // renormalised over the kept pair
    // Ties with the k-th logit are all kept (HF TopKLogitsWarper), in id order.
    const float tie[HV] = {0, 2, 1, 2, 2, -1};
    assert_int_equal(agir_sample_keep(tie, HV, &(agir_sample_cfg){1, 2, 1}, cand), 3);
    assert_int_equal(cand[0].id, 1);
    assert_int_equal(cand[1].id, 3);
    assert_int_equal(cand[2].id, 4);
}

static void greedy_argmax(void **state) {
    (void)state;
    const float x[5] = {0.5f, 2.0f, -1.0f, 2.0f, 1.9f};
    assert_int_equal(agir_argmax(x, 5), 1);  // lowest id among the maxima
    agir_rng r;
    agir_rng_init(&r, 1, 0);
    agir_cand cand[5];
    for (int i = 0; i < 10; i++) assert_int_equal(agir_sample(x, 5, &(agir_sample_cfg){0, 0, 1}, &r, cand), 1);
    agir_err e = {0};
    assert_int_equal(agir_sample_check(&(agir_sample_cfg){-1, 0, 1}, &e), AGIR_EINPUT);
    assert_int_equal(agir_sample_check(&(agir_sample_cfg){NAN, 0, 1}, &e), AGIR_EINPUT);
    assert_int_equal(agir_sample_check(&(agir_sample_cfg){1, -2, 1}, &e), AGIR_EINPUT);
    assert_int_equal(agir_sample_check(&(agir_sample_cfg){1, 0, -0.1f}, &e), AGIR_EINPUT);
    assert_int_equal(agir_sample_check(&(agir_sample_cfg){1, 0, 1.5f}, &e), AGIR_EINPUT);
    assert_int_equal(agir_sample_check(&(agir_sample_cfg){0.7f, 40, 0.9f}, &e), 0);
}

// Pearson's chi-square of counts against expected probabilities q (zero-q cells must be empty).
static double chi2(const int *count, const double *q, int n, int draws) {
    double x = 0;
    for (int i = 0; i < n; i++) {
        if (q[i] == 0) {
            if (count[i]) fail_msg("token %d drawn %d times with probability 0", i, count[i]);
            continue;
        }
        double want = q[i] * draws;
        x += (count[i] - want) * (count[i] - want) / want;
    }
    return x;
}

static void frequencies(const float *logits, agir_sample_cfg c, const double *q, double limit) {
    enum { DRAWS = 20000 };
    int count[HV] = {0};
    agir_rng r;
    agir_rng_init(&r, 2024, 0);
    agir_cand cand[HV];
    for (int i = 0; i < DRAWS; i++) count[agir_sample(logits, HV, &c, &r, cand)]++;
    double x = chi2(count, q, HV, DRAWS);
    print_message("T=%g k=%d p=%g: chi-square %.2f (limit %.2f)\n", c.temperature, c.top_k, c.top_p, x, limit);
    if (!(x < limit)) fail_msg("sampled frequencies do not match the probabilities: chi-square %.2f", x);
}

static void sampling_frequencies(void **state) {
    (void)state;
    const double p[HV] = {0.4, 0.25, 0.15, 0.1, 0.06, 0.04};
    float lg[HV];
    hand_logits(p, lg);
    double q[HV] = {0};
    // Limits: the 0.999 quantiles of chi-square with 5 and 2 degrees of freedom.
    for (int i = 0; i < HV; i++) q[PERM[i]] = p[i];
    frequencies(lg, (agir_sample_cfg){1, 0, 1}, q, 20.52);
    double z = 0;
    for (int i = 0; i < HV; i++) z += sqrt(p[i]);
    for (int i = 0; i < HV; i++) q[PERM[i]] = sqrt(p[i]) / z;
    frequencies(lg, (agir_sample_cfg){2, 0, 1}, q, 20.52);
    memset(q, 0, sizeof q);
    for (int i = 0; i < 3; i++) q[PERM[i]] = p[i] / 0.8;
    frequencies(lg, (agir_sample_cfg){1, 0, 0.7f}, q, 13.82);
    frequencies(lg, (agir_sample_cfg){1, 3, 1}, q, 13.82);
}

static void bad_tokens(void **state) {
    (void)state;
    agir_llama m;
    load("gqa_untied", &m);
    agir_infer s;
    agir_err e = {0};
    assert_int_equal(agir_infer_init(&s, &m, NULL, 1, 8, &e), 0);
    int32_t bad[2] = {1, m.cfg.vocab};
    int n = 2;
    float *lg = malloc(sizeof(float) * m.cfg.vocab);
    assert_int_equal(agir_infer_step(&s, bad, &n, lg, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "outside the vocabulary"));
    assert_int_equal(s.kv.len[0], 0);
    free(lg);
    agir_infer_free(&s);
    assert_int_equal(agir_infer_init(&s, &m, NULL, 0, 8, &e), AGIR_EINPUT);
    agir_llama_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cached_logits),        cmocka_unit_test(batch_equals_alone),
        cmocka_unit_test(greedy_is_argmax),     cmocka_unit_test(stops),
        cmocka_unit_test(prefix_reuse),         cmocka_unit_test(top_k_top_p_sets),
        cmocka_unit_test(greedy_argmax),        cmocka_unit_test(sampling_frequencies),
        cmocka_unit_test(bad_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
