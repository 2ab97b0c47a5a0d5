// SFT examples and the SFT job on a tiny random Llama model (tests/tools/tiny_llm.h) and tiny
// stores: trained-token counts made from each example's structure, packing (labels, segments,
// positions, and the loss of packed rows equal to unpacked ones), the example stream and its
// position, dropping of over-long examples, and the job: resume bit for bit, stage 2 from stage 1,
// held-out loss going down, refusals.
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsio.h"
#include "models/adapter.h"
#include "tiny_llm.h"
#include "train/sft_job.h"

enum { K = AGIR_TINY_CODES };

typedef struct fixture {
    char dir[256], model[512], tokens[512], texts[512];
} fixture;

static void ok(int rc, const agir_err *e) {
    if (rc) print_error("%s\n", e->msg);
    assert_int_equal(rc, AGIR_OK);
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    agir_test_tmpdir(f->dir, sizeof f->dir);
    snprintf(f->model, sizeof f->model, "%s/tiny", f->dir);
    snprintf(f->tokens, sizeof f->tokens, "%s/tokens.h5", f->dir);
    snprintf(f->texts, sizeof f->texts, "%s/texts.h5", f->dir);
    char tok[512];
    agir_test_src("tests/fixtures/tokenizer/smollm.json", tok, sizeof tok);
    agir_err e = {0};
    ok(agir_tiny_llm_write(f->model, tok, 1, &e), &e);
    ok(agir_tiny_sft_data(f->texts, f->tokens, &e), &e);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    free(*state);
    return 0;
}

// A run of the tiny configuration; extra: more overrides (NULL-terminated).
static int open_run(const fixture *f, const char *dir, const char *const *extra, agir_run *run, agir_err *e) {
    char s[5][600];
    snprintf(s[0], sizeof s[0], "data.tokens=%s", f->tokens);
    snprintf(s[1], sizeof s[1], "data.texts=%s", f->texts);
    snprintf(s[2], sizeof s[2], "model.path=%s", f->model);
    snprintf(s[3], sizeof s[3], "run.dir=%s/%s", f->dir, dir);
    const char *sets[48] = {"run.job=sft", "run.log_level=quiet", "run.threads=1", s[0], s[1], s[2], s[3],
                            "data.tokenizer=", "split.mode=list", "split.test=SYN002", "sft.max_len=256",
                            "train.batch_tokens=512", "lora.rank=4", "lora.alpha=8", "optim.lr=1e-2",
                            "rows.lr=1e-2", "optim.warmup=2", "train.epochs=2", "train.log_every=2",
                            "train.val_every=0", "train.ckpt_every=3", "train.keep=0"};
    int n = 22;
    for (int i = 0; extra && extra[i] && n < 48; i++) sets[n++] = extra[i];
    const agir_key *const schema[] = {agir_run_keys, agir_sft_keys, NULL};
    return agir_run_load(run, "sft", schema, NULL, sets, n, e);
}

static int train_hooked(const fixture *f, const char *dir, const char *const *extra, int64_t steps,
                        agir_resume_mode mode, agir_sft_update_hook hook, void *arg, agir_sft_train_result *r,
                        agir_err *e) {
    agir_run run;
    int rc = open_run(f, dir, extra, &run, e);
    agir_sft_train_opts o = {steps, mode, hook, arg};
    if (!rc) rc = agir_sft_train(&run, &o, r, e);
    agir_run_close(&run);
    return rc;
}

static int train(const fixture *f, const char *dir, const char *const *extra, int64_t steps, agir_resume_mode mode,
                 agir_sft_train_result *r, agir_err *e) {
    return train_hooked(f, dir, extra, steps, mode, NULL, NULL, r, e);
}

// The inputs of a config, with its model.
typedef struct loaded {
    agir_run run;
    agir_sft_inputs in;
    agir_llm llm;
} loaded;

static void load(const fixture *f, const char *const *extra, loaded *L) {
    agir_err e = {0};
    ok(open_run(f, "inputs", extra, &L->run, &e), &e);
    ok(agir_sft_inputs_open(&L->in, &L->run.cfg, &L->run.log, &e), &e);
    ok(agir_sft_load_model(&L->run.cfg, &L->in, &L->llm, &e), &e);
    ok(agir_sft_inputs_build(&L->in, &L->run.cfg, &L->llm, &L->run.log, &e), &e);
}

static void unload(loaded *L) {
    agir_sft_inputs_close(&L->in);
    agir_llm_free(&L->llm);
    agir_run_close(&L->run);
}

static int encoded_len(const agir_llm *l, const char *text) {
    agir_ids ids = {0};
    agir_err e = {0};
    ok(agir_tok_encode(l->tok, text, strlen(text), &ids, &e), &e);
    int n = (int)ids.n;
    agir_ids_free(&ids);
    return n;
}

// Trained tokens counted from each example's structure, not from the mask: the answer's tokens
// plus the end-of-turn token; the example is the prompt rendered up to the assistant header, then
// the answer, <|im_end|> and "\n". A t2m answer is <som>, one token per code, <eom>.
static void test_mask_counts_by_hand(void **state) {
    const fixture *f = *state;
    static const char *const extra[] = {"sft.tasks=t2m, m2t, rationale, score", "sft.phrasing=0", NULL};
    loaded L;
    load(f, extra, &L);
    const agir_sft_set *set = &L.in.set[0];
    int64_t total[AGIR_SFT_NTASK] = {0}, trained[AGIR_SFT_NTASK] = {0};
    agir_sft_render r = {.tp = L.in.tp, .tok = L.llm.tok, .system = ""};
    for (int64_t i = 0; i < set->n; i++) {
        const agir_sft_seq *q = &set->s[i];
        const agir_sft_conv *c = &L.in.conv[0].c[q->conv];
        agir_chat_msg m[3] = {{"user", c->user}};
        agir_chat_text prompt = {0};
        agir_err e = {0};
        ok(agir_chat_render(r.tp, m, 1, 1, &prompt, &e), &e);
        int answer = q->task == AGIR_SFT_T2M ? (int)L.in.tokens.seq[c->walk].length + 2 : encoded_len(&L.llm, c->answer);
        int want_trained = answer + 1, want_len = encoded_len(&L.llm, prompt.text) + answer + 2;
        agir_chat_text_free(&prompt);
        assert_int_equal(q->n_train, want_trained);
        assert_int_equal(q->len, want_len);
        // The trained tokens are the last ones but the final "\n".
        for (int j = 0; j < q->len; j++) assert_int_equal(q->train[j], j >= q->len - 1 - want_trained && j < q->len - 1);
        total[q->task] += want_len, trained[q->task] += want_trained;
    }
    for (int t = 0; t < AGIR_SFT_NTASK; t++) {
        assert_int_equal(set->counts.examples[t], 10);  // 10 training walks, one example each
        assert_int_equal(set->counts.tokens[t], total[t]);
        assert_int_equal(set->counts.trained[t], trained[t]);
    }
    // 2 held-out walks of SYN002.
    assert_int_equal(L.in.set[1].n, 2 * AGIR_SFT_NTASK);
    unload(&L);
}

// A small example counted on paper: a t2m conversation under the plain template ("user: ...\n"
// "assistant: " answer eos "\n"), whose answer is <som>, one token per code, <eom>, and the
// template's end of turn <|endoftext|>: codes + 3 trained tokens, exactly those ids, then "\n".
static void test_plain_template_by_hand(void **state) {
    const fixture *f = *state;
    static const char *const extra[] = {"sft.tasks=t2m", "sft.phrasing=0", "model.template=plain", NULL};
    loaded L;
    load(f, extra, &L);
    const agir_sft_seq *q = &L.in.set[0].s[0];
    int64_t walk = L.in.conv[0].c[q->conv].walk;
    int codes = (int)L.in.tokens.seq[walk].length;
    const int32_t *code = agir_tokens_seq_codes(&L.in.tokens, walk);
    assert_int_equal(q->n_train, codes + 3);
    const int32_t *ans = q->ids + q->len - 1 - (codes + 3);
    assert_int_equal(ans[0], L.llm.motion_first + K);  // <som>
    for (int i = 0; i < codes; i++) assert_int_equal(ans[1 + i], L.llm.motion_first + code[i]);
    assert_int_equal(ans[codes + 1], L.llm.motion_first + K + 1);  // <eom>
    assert_int_equal(ans[codes + 2], agir_tok_find(L.llm.tok, "<|endoftext|>", 13));
    for (int j = 0; j < q->len; j++) assert_int_equal(q->train[j], q->ids + j >= ans && j < q->len - 1);
    // The fraction show-mask prints for the task: the sum over the 10 training examples.
    int64_t trained = 0, tokens = 0;
    for (int64_t i = 0; i < L.in.set[0].n; i++) {
        const agir_sft_seq *x = &L.in.set[0].s[i];
        trained += L.in.tokens.seq[L.in.conv[0].c[x->conv].walk].length + 3, tokens += x->len;
    }
    assert_int_equal(L.in.set[0].counts.trained[AGIR_SFT_T2M], trained);
    assert_int_equal(L.in.set[0].counts.tokens[AGIR_SFT_T2M], tokens);
    unload(&L);
}

static void test_packing(void **state) {
    const fixture *f = *state;
    static const char *const extra[] = {"sft.tasks=m2t, t2m", NULL};
    loaded L;
    load(f, extra, &L);
    const agir_sft_set *set = &L.in.set[0];
    agir_err e = {0};
    agir_sft_stream st;
    ok(agir_sft_stream_open(&st, set, 3, 1, &e), &e);
    agir_sft_batch b;
    ok(agir_sft_batch_alloc(&b, 2, 256, &e), &e);
    agir_sft_pos p = {0, 0};
    agir_sft_stream_fill(&st, &p, &b);
    assert_true(b.n_examples >= 2);
    assert_int_equal(p.epoch * set->n + p.cursor, b.n_examples);
    // Every example: contiguous, positions from 0, one segment, labels = next trained token.
    int64_t seen = 0, valid = 0, tokens = 0;
    for (int row = 0; row < b.B; row++)
        for (int c = 0; c < b.T;) {
            size_t at = (size_t)row * b.T + c;
            if (b.seg[at] < 0) {
                assert_int_equal(b.labels[at], -1);
                c++;
                continue;
            }
            int seg = b.seg[at], len = 0;
            while (c + len < b.T && b.seg[at + len] == seg) {
                assert_int_equal(b.pos[at + len], len);
                len++;
            }
            for (int j = 0; j < len; j++) {
                if (b.labels[at + j] >= 0) {
                    assert_int_equal(b.labels[at + j], b.tokens[at + j + 1]);
                    valid++;
                }
            }
            assert_int_equal(b.labels[at + len - 1], -1);
            tokens += len, seen++, c += len;
        }
    assert_int_equal(seen, b.n_examples);
    assert_int_equal(tokens, b.n_tokens);
    assert_int_equal(valid, b.n_valid);
    agir_sft_batch_free(&b);
    agir_sft_stream_close(&st);
    unload(&L);
}

// First-fit: a later example fills the gap an earlier row left. Lengths 300, 250, 200, 250 in two
// rows of 512: rows [300 + 200] and [250 + 250] hold all four (next-fit would stop at three).
static void test_first_fit(void **state) {
    (void)state;
    agir_sft_seq q[4];
    int len[4] = {300, 250, 200, 250};
    int32_t ids[300];
    uint8_t train[300];
    for (int i = 0; i < 300; i++) ids[i] = i, train[i] = i % 2;
    for (int i = 0; i < 4; i++) q[i] = (agir_sft_seq){.task = AGIR_SFT_M2T, .len = len[i], .ids = ids, .train = train};
    agir_sft_set set = {.n = 4, .s = q};
    int64_t idx[4] = {0, 1, 2, 3}, next = 0;
    agir_sft_batch b;
    agir_err e = {0};
    ok(agir_sft_batch_alloc(&b, 2, 512, &e), &e);
    agir_sft_batch_fill_list(&b, &set, idx, 4, 1, &next);
    assert_int_equal(next, 4);
    assert_int_equal(b.n_tokens, 1000);
    assert_int_equal(b.seg[300], 2);        // the 200-token example right after the first, in row 0
    assert_int_equal(b.seg[512 + 250], 3);  // the last one after the second, in row 1
    assert_int_equal(b.pos[512 + 250], 0);
    assert_int_equal(b.seg[500], -1);       // row 0's 12 free slots
    agir_sft_batch_free(&b);
}

// The loss of examples packed into shared rows equals their loss one per row.
static void test_packed_loss_equals_unpacked(void **state) {
    const fixture *f = *state;
    static const char *const extra[] = {"sft.tasks=m2t, t2m", NULL};
    loaded L;
    load(f, extra, &L);
    agir_err e = {0};
    const agir_sft_set *set = &L.in.set[0];
    int64_t idx[6];
    for (int i = 0; i < 6; i++) idx[i] = i;
    agir_ctx ctx;
    ok(agir_ctx_open(&ctx, AGIR_DEV_CPU, &e), &e);
    agir_llama_weights w;
    ok(agir_llama_weights_open(&w, &ctx, AGIR_F32, &L.llm.model, NULL, &e), &e);
    double loss[2];
    int64_t valid[2];
    for (int pack = 0; pack < 2; pack++) {
        int B = pack ? 2 : 6, T = pack ? 512 : 256;
        agir_llama_acts a;
        ok(agir_llama_acts_alloc(&a, &w, B, T, &e), &e);
        agir_sft_batch b;
        ok(agir_sft_batch_alloc(&b, B, T, &e), &e);
        int64_t next = 0;
        agir_sft_batch_fill_list(&b, set, idx, 6, pack, &next);
        assert_int_equal(next, 6);
        ok(agir_llama_forward(&w, &a, b.tokens, b.pos, b.seg, NULL, &e), &e);
        ok(agir_llama_loss(&w, &a, b.labels, b.n_valid, 0, &loss[pack], &e), &e);
        valid[pack] = b.n_valid;
        agir_sft_batch_free(&b);
        agir_llama_acts_free(&a);
    }
    assert_int_equal(valid[0], valid[1]);
    assert_true(fabs(loss[0] - loss[1]) < 1e-5 * fabs(loss[0]));
    agir_llama_weights_close(&w);
    agir_ctx_close(&ctx);
    unload(&L);
}

// The training forward's head over the trained rows only gives the loss and gradients of the head
// over every row.
static void test_head_rows_equal_full(void **state) {
    const fixture *f = *state;
    static const char *const extra[] = {"sft.tasks=m2t, t2m", NULL};
    loaded L;
    load(f, extra, &L);
    agir_err e = {0};
    agir_lora lora;
    agir_lora_cfg lc = {.rank = 4, .alpha = 8, .targets = (1u << AGIR_LORA_NTARGET) - 1};
    int dims[AGIR_LORA_NTARGET][2];
    agir_llama_lora_dims(&L.llm.model.cfg, dims);
    ok(agir_lora_alloc(&lora, &lc, L.llm.model.cfg.n_layer, dims, &e), &e);
    agir_rng r;
    agir_rng_init(&r, 3, 4);
    agir_lora_init(&lora, &r);
    for (size_t i = 0; i < lora.n_params; i++) lora.mem[i] += 0.01f * (float)((i * 37) % 11) - 0.05f;  // B ≠ 0
    agir_ctx ctx;
    ok(agir_ctx_open(&ctx, AGIR_DEV_CPU, &e), &e);
    agir_llama_weights w;
    ok(agir_llama_weights_open(&w, &ctx, AGIR_F32, &L.llm.model, &lora, &e), &e);
    agir_llama_acts a;
    ok(agir_llama_acts_alloc(&a, &w, 2, 256, &e), &e);
    agir_sft_stream st;
    agir_sft_batch b;
    agir_sft_pos p = {0, 0};
    ok(agir_sft_stream_open(&st, &L.in.set[0], 5, 1, &e), &e);
    ok(agir_sft_batch_alloc(&b, 2, 256, &e), &e);
    agir_sft_stream_fill(&st, &p, &b);
    agir_llama_grads g[2];
    double loss[2];
    for (int k = 0; k < 2; k++) {
        ok(agir_llama_grads_alloc(&g[k], &w, &e), &e);
        if (k) ok(agir_llama_forward_train(&w, &a, b.tokens, b.pos, b.seg, b.labels, NULL, &e), &e);
        else ok(agir_llama_forward(&w, &a, b.tokens, b.pos, b.seg, NULL, &e), &e);
        assert_int_equal(a.n_rows, k ? b.n_valid : -1);
        ok(agir_llama_loss(&w, &a, b.labels, b.n_valid, 1, &loss[k], &e), &e);
        ok(agir_llama_backward(&w, &g[k], &a, &e), &e);
    }
    assert_true(fabs(loss[0] - loss[1]) <= 1e-6 * fabs(loss[0]));
    double rel = agir_test_max_rel(g[1].mem, g[0].mem, g[0].n);
    print_message("head over %lld of %d rows: loss %.6f vs %.6f, gradients max rel %.2g\n", (long long)b.n_valid,
                  2 * 256, loss[1], loss[0], rel);
    assert_true(rel < 1e-5);
    for (int k = 0; k < 2; k++) agir_llama_grads_free(&g[k]);
    agir_sft_batch_free(&b);
    agir_sft_stream_close(&st);
    agir_llama_acts_free(&a);
    agir_llama_weights_close(&w);
    agir_ctx_close(&ctx);
    agir_lora_free(&lora);
    unload(&L);
}

// The stream from a saved position repeats the batches the uninterrupted stream gave; the count of
// micro-batches per epoch matches the stream.
static void test_stream_position(void **state) {
    const fixture *f = *state;
    static const char *const extra[] = {"sft.tasks=m2t, t2m, score", NULL};
    loaded L;
    load(f, extra, &L);
    agir_err e = {0};
    const agir_sft_set *set = &L.in.set[0];
    agir_sft_stream a, b;
    ok(agir_sft_stream_open(&a, set, 11, 1, &e), &e);
    ok(agir_sft_stream_open(&b, set, 11, 1, &e), &e);
    agir_sft_batch x, y;
    ok(agir_sft_batch_alloc(&x, 2, 256, &e), &e);
    ok(agir_sft_batch_alloc(&y, 2, 256, &e), &e);
    agir_sft_pos p = {0, 0}, saved = {0, 0};
    int64_t epoch_batches = 0;
    for (int k = 0; k < 24; k++) {
        if (k == 5) saved = p;
        agir_sft_pos before = p;
        agir_sft_stream_fill(&a, &p, &x);
        if (before.epoch == 0) epoch_batches++;
    }
    assert_true(p.epoch >= 1);
    int64_t count = agir_sft_stream_count(&b, 2, 256, 1, &e);
    // batches that started in epoch 0 = micro-batches needed to finish epoch 0
    assert_int_equal(count, epoch_batches);
    // replay from the saved position with a fresh stream
    agir_sft_stream_close(&a);
    ok(agir_sft_stream_open(&a, set, 11, 1, &e), &e);
    agir_sft_pos q = {0, 0};
    for (int k = 0; k < 5; k++) agir_sft_stream_fill(&a, &q, &x);
    assert_memory_equal(&q, &saved, sizeof q);
    agir_sft_stream_fill(&a, &q, &x);
    agir_sft_stream_fill(&b, &saved, &y);
    assert_memory_equal(x.tokens, y.tokens, sizeof(int32_t) * 512);
    assert_memory_equal(x.labels, y.labels, sizeof(int32_t) * 512);
    // another seed gives another order
    agir_sft_stream c;
    ok(agir_sft_stream_open(&c, set, 12, 1, &e), &e);
    agir_sft_pos z = {0, 0};
    agir_sft_batch_free(&y);
    ok(agir_sft_batch_alloc(&y, 2, 256, &e), &e);
    agir_sft_pos p0 = {0, 0};
    agir_sft_stream_fill(&b, &p0, &x);
    agir_sft_stream_fill(&c, &z, &y);
    assert_true(memcmp(x.tokens, y.tokens, sizeof(int32_t) * 512) != 0);
    agir_sft_stream_close(&c);
    agir_sft_batch_free(&x);
    agir_sft_batch_free(&y);
    agir_sft_stream_close(&a);
    agir_sft_stream_close(&b);
    unload(&L);
}

static void test_too_long_dropped(void **state) {
    const fixture *f = *state;
    static const char *const extra[] = {"sft.tasks=m2t, t2m", "sft.max_len=48", NULL};
    loaded L;
    load(f, extra, &L);
    const agir_sft_counts *c = &L.in.set[0].counts;
    for (int t = 0; t < 2; t++) {
        assert_int_equal(c->examples[t] + c->dropped[t], 10);
        assert_true(c->longest[t] > 0);
    }
    for (int64_t i = 0; i < L.in.set[0].n; i++) assert_true(L.in.set[0].s[i].len <= 48);
    unload(&L);
    static const char *const none[] = {"sft.tasks=m2t", "sft.max_len=8", NULL};
    load(f, none, &L);
    agir_err e = {0};
    assert_int_equal(agir_sft_inputs_check(&L.in, &L.run.cfg, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "no example to train on (10 dropped"));
    unload(&L);
}

static char *slurp(const char *path, size_t *len) {
    char *text;
    agir_err e = {0};
    ok(agir_read_file(path, 1 << 26, &text, len, &e), &e);
    return text;
}

static void assert_same_file(const char *a, const char *b) {
    size_t na, nb;
    char *x = slurp(a, &na), *y = slurp(b, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(x, y, na);
    free(x), free(y);
}

// Two invocations (3 updates, then the rest) end with the bytes of one uninterrupted run.
static void test_resume_bit_identical(void **state) {
    const fixture *f = *state;
    agir_err e = {0};
    agir_sft_train_result r;
    static const char *const extra[] = {"lora.dropout=0.1", "train.ckpt_every=100", NULL};
    ok(train(f, "whole", extra, 0, AGIR_RESUME_NEVER, &r, &e), &e);
    int64_t total = r.total;
    assert_true(total >= 6);
    assert_int_equal(r.step, total);
    ok(train(f, "split", extra, 3, AGIR_RESUME_AUTO, &r, &e), &e);
    assert_int_equal(r.step, 3);
    ok(train(f, "split", extra, 0, AGIR_RESUME_REQUIRE, &r, &e), &e);
    assert_int_equal(r.resumed_from, 3);
    assert_int_equal(r.step, total);
    char a[800], b[800];
    for (int i = 0; i < 2; i++) {
        const char *name = i ? "optim.safetensors" : "adapter.safetensors";
        snprintf(a, sizeof a, "%s/whole/ckpt-%lld/%s", f->dir, (long long)total, name);
        snprintf(b, sizeof b, "%s/split/ckpt-%lld/%s", f->dir, (long long)total, name);
        assert_same_file(a, b);
    }
    // The same run folder again: complete, nothing to do.
    ok(train(f, "split", extra, 0, AGIR_RESUME_AUTO, &r, &e), &e);
    // A key that shapes the run, changed: refused in one line naming it.
    static const char *const other[] = {"lora.dropout=0.2", "train.ckpt_every=100", "train.epochs=3", NULL};
    assert_int_equal(train(f, "split", other, 0, AGIR_RESUME_AUTO, &r, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "lora.dropout is '0.2' but this run was trained with '0.1'"));
    // --fresh on a folder with checkpoints, --resume on an empty one.
    assert_int_equal(train(f, "split", extra, 0, AGIR_RESUME_NEVER, &r, &e), AGIR_EINPUT);
    assert_int_equal(train(f, "empty", extra, 0, AGIR_RESUME_REQUIRE, &r, &e), AGIR_EINPUT);
    // The checkpoint's adapter is a plain adapter file.
    agir_llm l;
    ok(agir_llm_load(f->model, &l, &e), &e);
    agir_lora lora;
    snprintf(a, sizeof a, "%s/whole/ckpt-%lld/adapter.safetensors", f->dir, (long long)total);
    ok(agir_adapter_load(a, &l, &lora, &e), &e);
    assert_int_equal(l.motion_k, K);
    assert_int_equal(lora.cfg.rank, 4);
    agir_lora_free(&lora);
    agir_llm_free(&l);
}

// Stage 2 starts from stage 1's adapter; a LoRA shape other than stage 1's is refused; the
// held-out loss of each stage falls.
static void test_two_stages(void **state) {
    const fixture *f = *state;
    agir_err e = {0};
    agir_sft_train_result r;
    static const char *const s1[] = {"sft.tasks=m2t, t2m", "train.epochs=20", "optim.lr=1e-2", "rows.lr=3e-2", NULL};
    ok(train(f, "stage1", s1, 0, AGIR_RESUME_AUTO, &r, &e), &e);
    assert_int_equal(r.first.tasks, 3);
    for (int t = 0; t < 2; t++) {
        print_message("stage 1 %s: %.3f -> %.3f\n", agir_sft_task_name((agir_sft_task)t), r.first.loss[t], r.last.loss[t]);
    }
    for (int t = 0; t < 2; t++) assert_true(r.last.loss[t] < 0.7 * r.first.loss[t]);
    char init[700];
    snprintf(init, sizeof init, "model.init=%s/stage1", f->dir);
    const char *s2[] = {"sft.tasks=rationale", "train.epochs=12", "optim.lr=1e-2", "rows.lr=3e-2", init, NULL};
    ok(train(f, "stage2", s2, 0, AGIR_RESUME_AUTO, &r, &e), &e);
    int t = AGIR_SFT_RATIONALE;
    print_message("stage 2 rationale: %.3f -> %.3f\n", r.first.loss[t], r.last.loss[t]);
    assert_true(r.last.loss[t] < 0.85 * r.first.loss[t]);
    const char *bad[] = {"sft.tasks=rationale", init, "lora.rank=8", NULL};
    assert_int_equal(train(f, "stage2b", bad, 0, AGIR_RESUME_AUTO, &r, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "make [lora] match the stage-1 run"));
    const char *none[] = {"sft.tasks=rationale", "model.init=/nonexistent/stage1", NULL};
    assert_int_equal(train(f, "stage2c", none, 0, AGIR_RESUME_AUTO, &r, &e), AGIR_EINPUT);
}

// NaN put into a LoRA weight before updates [from, to): those updates are skipped and logged (the
// weight is put back after them); max_bad_steps in a row stop the run with one line, and no
// checkpoint ever holds non-finite values.
typedef struct poison {
    int64_t from, to;
    float saved;
} poison;

static void poison_hook(void *arg, int64_t iter, float *lora, size_t n) {
    poison *p = arg;
    assert_true(n > 0);
    if (iter == p->from) p->saved = lora[0];
    if (iter >= p->from && iter < p->to) lora[0] = NAN;
    if (iter == p->to) lora[0] = p->saved;
}

static void test_non_finite_updates(void **state) {
    const fixture *f = *state;
    agir_err e = {0};
    agir_sft_train_result r;
    static const char *const extra[] = {"train.max_bad_steps=3", "train.ckpt_every=1", "train.steps=8", NULL};
    poison two = {2, 4, 0};  // two bad updates, then training goes on
    assert_int_equal(train_hooked(f, "nan2", extra, 0, AGIR_RESUME_AUTO, poison_hook, &two, &r, &e), AGIR_OK);
    assert_int_equal(r.skipped, 2);
    assert_int_equal(r.step, 8);
    char path[700];
    size_t len;
    snprintf(path, sizeof path, "%s/nan2/metrics.jsonl", f->dir);
    char *m = slurp(path, &len);
    int skips = 0;
    for (const char *p = m; (p = strstr(p, "\"event\":\"skip\"")); p++) skips++;
    assert_int_equal(skips, 2);
    free(m);
    poison many = {3, 100, 0};  // from the 4th update on: the run stops after 3 in a row
    assert_int_equal(train_hooked(f, "nan3", extra, 0, AGIR_RESUME_AUTO, poison_hook, &many, &r, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "after 3 non-finite steps in a row"));
    assert_int_equal(r.step, 3);
    // The newest checkpoint is the last good update's, and it loads.
    agir_ckpt c;
    snprintf(path, sizeof path, "%s/nan3", f->dir);
    assert_int_equal(agir_ckpt_load_latest(path, AGIR_SFT_MODEL_TYPE, NULL, &c, &e), AGIR_OK);
    assert_int_equal(c.state.step, 3);
    agir_ckpt_close(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mask_counts_by_hand),     cmocka_unit_test(test_plain_template_by_hand),
        cmocka_unit_test(test_packing),                 cmocka_unit_test(test_first_fit),                 cmocka_unit_test(test_packed_loss_equals_unpacked),
        cmocka_unit_test(test_head_rows_equal_full),    cmocka_unit_test(test_stream_position),         cmocka_unit_test(test_too_long_dropped),
        cmocka_unit_test(test_resume_bit_identical),    cmocka_unit_test(test_two_stages),
        cmocka_unit_test(test_non_finite_updates),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
