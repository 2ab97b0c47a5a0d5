// The VQ-VAE training job (train/vq_train.h) and its reusable parts: learning-rate schedules,
// gradient norm and clipping, resume bit for bit (N + N steps == 2N steps), non-finite steps
// (skipped, a run of them stops the job, no checkpoint with non-finite values), and refusal of
// damaged or mismatched checkpoints, in the library and through `agir train` (exit 2, one line).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "checkpoints/ckpt.h"
#include "core/fsio.h"
#include "core/run.h"
#include "datasets/gait.h"
#include "models/vqvae_io.h"
#include "testutil.h"
#include "train/grad.h"
#include "train/schedule.h"
#include "train/vq_train.h"

static void assert_close(double a, double b, double tol) {
    if (fabs(a - b) > tol) fail_msg("%.12g != %.12g (tolerance %g)", a, b, tol);
}

// ---------------------------------------------------------------------------------------------
// Schedules and clipping

static void schedules(void **state) {
    (void)state;
    agir_err e = {0};
    agir_schedule s = {.kind = AGIR_SCHED_STEP, .lr = 1e-3, .warmup = 4, .total = 100, .gamma = 0.1};
    assert_int_equal(agir_schedule_parse_milestones(&s, "10, 20", "test", &e), AGIR_OK);
    assert_int_equal(s.n_milestones, 2);
    // Warm-up: the k-th update (0-based) runs at lr·(k+1)/warmup.
    assert_close(agir_schedule_lr(&s, 0), 0.25e-3, 1e-15);
    assert_close(agir_schedule_lr(&s, 3), 1e-3, 1e-15);
    assert_close(agir_schedule_lr(&s, 9), 1e-3, 1e-15);
    assert_close(agir_schedule_lr(&s, 10), 1e-4, 1e-15);
    assert_close(agir_schedule_lr(&s, 19), 1e-4, 1e-15);
    assert_close(agir_schedule_lr(&s, 20), 1e-5, 1e-15);
    assert_close(agir_schedule_lr(&s, 99), 1e-5, 1e-15);
    s.kind = AGIR_SCHED_CONSTANT;
    assert_close(agir_schedule_lr(&s, 50), 1e-3, 1e-15);
    // Cosine from lr at the end of the warm-up to min_lr at `total`, half-way at the middle.
    s = (agir_schedule){.kind = AGIR_SCHED_COSINE, .lr = 1e-3, .min_lr = 1e-5, .warmup = 10, .total = 110};
    assert_close(agir_schedule_lr(&s, 10), 1e-3, 1e-15);
    assert_close(agir_schedule_lr(&s, 60), 0.5 * (1e-3 + 1e-5), 1e-15);
    assert_close(agir_schedule_lr(&s, 110), 1e-5, 1e-15);
    assert_close(agir_schedule_lr(&s, 500), 1e-5, 1e-15);
    assert_true(agir_schedule_lr(&s, 30) > agir_schedule_lr(&s, 31));
    const char *bad[] = {"20,10", "10,,20", "10,", "x", "-5", "0", "10 20"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        agir_err_clear(&e);
        assert_int_equal(agir_schedule_parse_milestones(&s, bad[i], "cfg.ini:7", &e), AGIR_EINPUT);
        assert_non_null(strstr(e.msg, "cfg.ini:7"));
        assert_null(strchr(e.msg, '\n'));
    }
    agir_err_clear(&e);
    assert_int_equal(agir_schedule_parse_milestones(&s, "", "t", &e), AGIR_OK);
    assert_int_equal(s.n_milestones, 0);
}

static void gradient_norm_and_clipping(void **state) {
    (void)state;
    agir_err e = {0};
    agir_ctx c;
    assert_int_equal(agir_ctx_open(&c, AGIR_DEV_CPU, &e), AGIR_OK);
    agir_gradnorm g;
    assert_int_equal(agir_gradnorm_open(&g, &c, &e), AGIR_OK);
    float a[3] = {3, 0, -4}, b[2] = {1, 2};
    const float *t[2] = {a, b};
    size_t n[2] = {3, 2};
    double s;
    assert_int_equal(agir_gradnorm_sumsq(&g, t, n, 2, &s, &e), AGIR_OK);
    assert_close(s, 9 + 16 + 1 + 4, 1e-6);
    b[1] = NAN;
    assert_int_equal(agir_gradnorm_sumsq(&g, t, n, 2, &s, &e), AGIR_OK);
    assert_false(isfinite(s));
    b[1] = INFINITY;
    assert_int_equal(agir_gradnorm_sumsq(&g, t, n, 2, &s, &e), AGIR_OK);
    assert_false(isfinite(s));
    agir_gradnorm_close(&g);
    agir_ctx_close(&c);
    assert_close(agir_clip_scale(0.5, 1.0), 1.0, 0);
    assert_close(agir_clip_scale(4.0, 1.0), 1.0 / (4.0 + 1e-6), 1e-15);
    assert_close(agir_clip_scale(4.0, 0), 1.0, 0);  // clipping off
}

// ---------------------------------------------------------------------------------------------
// Training runs on a tiny model and dataset

// A dataset of 4 subjects × 2 states × 2 walks of 4 s, written once per test.
static void write_dataset(const char *dir, char *path, size_t pathsz) {
    const char *sets[] = {"synth.subjects=4", "synth.walks_per_state=2", "synth.seconds=4", NULL};
    agir_gait g;
    agir_test_synth(&g, NULL, NULL, sets);
    snprintf(path, pathsz, "%s/walks.h5", dir);
    agir_err e = {0};
    int rc = agir_gait_write(&g, path, &e);
    if (rc) print_error("%s\n", e.msg);
    assert_int_equal(rc, AGIR_OK);
    agir_gait_free(&g);
}

typedef struct job {
    char data[512], dir[512];
    const char *extra[8];  // more --set overrides, NULL-terminated
} job;

// Opens a run of the tiny configuration (its log lines go to *log_out when given).
static int open_run(const job *j, agir_run *run, FILE *log_out, agir_err *e) {
    char data[600], dir[600];
    snprintf(data, sizeof data, "data.path=%s", j->data);
    snprintf(dir, sizeof dir, "run.dir=%s", j->dir);
    const char *sets[32] = {"run.job=vqvae", "run.log_level=info", "run.threads=1", data, dir,
                            "data.window=16", "data.val_fraction=0.25", "model.width=16", "model.depth=1",
                            "model.codes=16", "model.code_dim=8", "optim.lr=3e-3", "optim.schedule=cosine",
                            "optim.warmup=3", "optim.clip=1", "train.steps=40", "train.batch=8",
                            "train.log_every=5", "train.val_every=0", "train.ckpt_every=4", "train.keep=0"};
    int n = 21;
    for (int i = 0; j->extra[i] && n < 32; i++) sets[n++] = j->extra[i];
    const agir_key *const schema[] = {agir_run_keys, agir_vqvae_keys, NULL};
    int rc = agir_run_open(run, "vqvae", schema, NULL, sets, n, e);
    if (!rc) run->log.out = log_out;
    return rc;
}

static int train(const job *j, int64_t max_steps, agir_resume_mode mode, agir_vq_batch_hook hook, void *arg,
                 agir_vq_train_result *r, FILE *log_out, agir_err *e) {
    agir_run run;
    int rc = open_run(j, &run, log_out, e);
    agir_vq_train_opts o = {max_steps, mode, hook, arg};
    if (!rc) rc = agir_vq_train(&run, &o, r, e);
    agir_run_close(&run);
    return rc;
}

static void must_train(const job *j, int64_t max_steps, agir_resume_mode mode, agir_vq_train_result *r) {
    agir_err e = {0};
    int rc = train(j, max_steps, mode, NULL, NULL, r, NULL, &e);
    if (rc) print_error("%s\n", e.msg);
    assert_int_equal(rc, AGIR_OK);
}

static void new_job(job *j, const char *data, const char *name) {
    memset(j, 0, sizeof *j);
    snprintf(j->data, sizeof j->data, "%s", data);
    char tmp[256];
    agir_test_tmpdir(tmp, sizeof tmp);
    snprintf(j->dir, sizeof j->dir, "%s/%s", tmp, name);
}

static char *slurp(const char *path, size_t *len) {
    char *text;
    agir_err e = {0};
    int rc = agir_read_file(path, 1 << 26, &text, len, &e);
    if (rc) print_error("%s\n", e.msg);
    assert_int_equal(rc, AGIR_OK);
    return text;
}

static void assert_same_file(const char *a_dir, const char *b_dir, const char *name) {
    char pa[1200], pb[1200];
    snprintf(pa, sizeof pa, "%s/%s", a_dir, name);
    snprintf(pb, sizeof pb, "%s/%s", b_dir, name);
    size_t na, nb;
    char *a = slurp(pa, &na), *b = slurp(pb, &nb);
    if (na != nb || memcmp(a, b, na)) fail_msg("%s and %s differ", pa, pb);
    free(a);
    free(b);
}

static int same_file(const char *pa, const char *pb) {
    size_t na, nb;
    char *a = slurp(pa, &na), *b = slurp(pb, &nb);
    int same = na == nb && !memcmp(a, b, na);
    free(a);
    free(b);
    return same;
}

static void resume_is_bit_exact(void **state) {
    (void)state;
    char tmp[256], data[512];
    agir_test_tmpdir(tmp, sizeof tmp);
    write_dataset(tmp, data, sizeof data);
    // N + N with a resume in between, against 2N in one go. N = 7 is not a multiple of the
    // checkpoint cadence and the 8-window batches wrap the 12 training walks' epochs mid-batch.
    job a, b;
    new_job(&a, data, "split");
    new_job(&b, data, "whole");
    agir_vq_train_result r;
    must_train(&a, 7, AGIR_RESUME_AUTO, &r);
    assert_int_equal(r.resumed_from, -1);
    assert_int_equal(r.step, 7);
    must_train(&a, 7, AGIR_RESUME_AUTO, &r);
    assert_int_equal(r.resumed_from, 7);
    assert_int_equal(r.step, 14);
    must_train(&b, 14, AGIR_RESUME_NEVER, &r);
    assert_int_equal(r.step, 14);
    assert_true(r.val.windows > 0);
    char ca[1200], cb[1200], c7[1200];
    snprintf(ca, sizeof ca, "%s/ckpt-14", a.dir);
    snprintf(cb, sizeof cb, "%s/ckpt-14", b.dir);
    assert_same_file(ca, cb, "model.safetensors");
    assert_same_file(ca, cb, "ema.safetensors");
    assert_same_file(ca, cb, "optim.safetensors");
    // The comparison can fail: training moved the weights and statistics between steps 7 and 14.
    snprintf(c7, sizeof c7, "%s/ckpt-7/model.safetensors", a.dir);
    snprintf(ca, sizeof ca, "%s/ckpt-14/model.safetensors", a.dir);
    assert_false(same_file(c7, ca));
    snprintf(c7, sizeof c7, "%s/ckpt-7/ema.safetensors", a.dir);
    snprintf(ca, sizeof ca, "%s/ckpt-14/ema.safetensors", a.dir);
    assert_false(same_file(c7, ca));
    // The run records its held-out subjects for evaluation, and the tokenizer loads from the folder.
    agir_vq_tokenizer tk;
    agir_err e = {0};
    int rc = agir_vq_tokenizer_load(a.dir, 2, 0, NULL, &tk, &e);
    if (rc) print_error("%s\n", e.msg);
    assert_int_equal(rc, AGIR_OK);
    assert_int_equal(tk.step, 14);
    assert_int_equal(tk.n_val_subjects, 1);
    assert_int_equal(tk.meta.window, 16);
    agir_vq_tokenizer_free(&tk);
    // A finished run does nothing more; --resume on an empty folder and --fresh on a used one are refused.
    b.extra[0] = "train.steps=14";
    must_train(&b, 0, AGIR_RESUME_AUTO, &r);
    assert_int_equal(r.resumed_from, 14);
    assert_int_equal(r.step, 14);
    b.extra[0] = NULL;
    job c;
    new_job(&c, data, "empty");
    agir_err_clear(&e);
    assert_int_equal(train(&c, 1, AGIR_RESUME_REQUIRE, NULL, NULL, &r, NULL, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "no checkpoint to resume"));
    agir_err_clear(&e);
    assert_int_equal(train(&b, 1, AGIR_RESUME_NEVER, NULL, NULL, &r, NULL, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "already holds a checkpoint"));
}

// ---------------------------------------------------------------------------------------------
// Non-finite steps

typedef struct poison {
    int64_t from, to;  // batches [from, to) get a NaN
    int hits;
} poison;

static void poison_hook(void *arg, int64_t iter, float *x, size_t n) {
    poison *p = arg;
    if (iter < p->from || iter >= p->to) return;
    x[(size_t)iter * 7919 % n] = NAN;
    p->hits++;
}

static int count_in(const char *path, const char *needle) {
    size_t n;
    char *t = slurp(path, &n);
    int k = 0;
    for (const char *p = t; (p = strstr(p, needle)); p++) k++;
    free(t);
    return k;
}

// Every float of every tensor of the checkpoint LATEST names is finite; returns its step.
static int64_t latest_all_finite(const char *dir) {
    agir_ckpt c;
    agir_err e = {0};
    assert_int_equal(agir_ckpt_load_latest(dir, "vqvae", NULL, &c, &e), AGIR_OK);
    assert_true(c.found);
    for (int g = 0; g < c.n_groups; g++)
        for (int64_t i = 0; i < c.file[g].n; i++) {
            const agir_tensor_view *v = &c.file[g].t[i];
            assert_int_equal(v->dtype, AGIR_DT_F32);
            const float *f = v->data;
            for (size_t k = 0; k < v->nbytes / 4; k++)
                if (!isfinite(f[k])) fail_msg("%s/%s[%zu] is not finite", c.group[g], v->name, k);
        }
    int64_t step = c.state.step;
    agir_ckpt_close(&c);
    return step;
}

static void non_finite_steps(void **state) {
    (void)state;
    char tmp[256], data[512];
    agir_test_tmpdir(tmp, sizeof tmp);
    write_dataset(tmp, data, sizeof data);
    // Two bad batches in a row (the first one is the very first batch, which would seed the
    // codebook) and one more later: skipped, and the run reaches its end with finite weights.
    job j;
    new_job(&j, data, "skips");
    j.extra[0] = "train.max_bad_steps=3";
    j.extra[1] = "train.steps=10";
    poison p = {0, 2, 0};
    agir_vq_train_result r;
    agir_err e = {0};
    FILE *log = tmpfile();
    int rc = train(&j, 0, AGIR_RESUME_AUTO, poison_hook, &p, &r, log, &e);
    if (rc) print_error("%s\n", e.msg);
    assert_int_equal(rc, AGIR_OK);
    assert_int_equal(p.hits, 2);
    assert_int_equal(r.step, 10);
    assert_int_equal(r.skipped, 2);
    assert_int_equal(latest_all_finite(j.dir), 10);
    char metrics[1200];
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", j.dir);
    assert_int_equal(count_in(metrics, "\"event\":\"skip\""), 2);
    fclose(log);
    // Bad batches from the 6th on: three in a row stop the run with an error; the checkpoint at
    // step 4 stays the latest and nothing non-finite was written.
    new_job(&j, data, "stops");
    j.extra[0] = "train.max_bad_steps=3";
    p = (poison){5, 1000, 0};
    agir_err_clear(&e);
    rc = train(&j, 0, AGIR_RESUME_AUTO, poison_hook, &p, &r, NULL, &e);
    assert_int_equal(rc, AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "3 non-finite steps in a row"));
    assert_null(strchr(e.msg, '\n'));
    assert_int_equal(p.hits, 3);
    assert_int_equal(r.step, 5);
    assert_int_equal(latest_all_finite(j.dir), 4);
    snprintf(metrics, sizeof metrics, "%s/ckpt-5", j.dir);
    struct stat st;
    assert_int_not_equal(stat(metrics, &st), 0);
}

// ---------------------------------------------------------------------------------------------
// Damaged and mismatched checkpoints

static void truncate_file(const char *dir, const char *ckpt, const char *name) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s/%s", dir, ckpt, name);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(truncate(p, st.st_size / 2), 0);
}

// Saves into `to` a copy of the latest checkpoint of `from` with state.json's extra taken from the
// latest of `extra_from` and, optionally, another model type.
static void splice(const char *from, const char *extra_from, const char *to, const char *model_type) {
    agir_ckpt a, b;
    agir_err e = {0};
    assert_int_equal(agir_ckpt_load_latest(from, NULL, NULL, &a, &e), AGIR_OK);
    assert_int_equal(agir_ckpt_load_latest(extra_from, NULL, NULL, &b, &e), AGIR_OK);
    agir_ckpt_group g[AGIR_CKPT_MAX_GROUPS];
    for (int i = 0; i < a.n_groups; i++) g[i] = (agir_ckpt_group){a.group[i], a.file[i].t, a.file[i].n, NULL, 0};
    agir_ckpt_state s = a.state;
    s.extra = b.state.extra;
    if (model_type) snprintf(s.model_type, sizeof s.model_type, "%s", model_type);
    int rc = agir_ckpt_save(to, &s, g, a.n_groups, NULL, &e);
    if (rc) print_error("%s\n", e.msg);
    assert_int_equal(rc, AGIR_OK);
    agir_ckpt_close(&a);
    agir_ckpt_close(&b);
}

// Runs `agir train` on a config file and returns its exit code; *lines: stderr lines.
static int cli_train(const char *cfg, const char *set, int *lines, char *first, size_t firstsz) {
    const char *bin = agir_test_bin();
    char cmd[8192], err[1300];
    snprintf(err, sizeof err, "%s.stderr", cfg);
    snprintf(cmd, sizeof cmd, "'%s' train '%s' --steps 1 %s 2>'%s' >/dev/null", bin, cfg, set, err);
    int st = system(cmd);
    size_t n;
    char *text = slurp(err, &n);
    *lines = 0;
    for (size_t i = 0; i < n; i++) *lines += text[i] == '\n';
    snprintf(first, firstsz, "%s", text);
    free(text);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_config(const char *path, const job *j) {
    char text[2048];
    int k = snprintf(text, sizeof text,
                     "[run]\njob = vqvae\ndir = %s\nthreads = 1\nlog_level = quiet\n[data]\npath = %s\nwindow = 16\n"
                     "val_fraction = 0.25\n[model]\nwidth = 16\ndepth = 1\ncodes = 16\ncode_dim = 8\n"
                     "[optim]\nlr = 3e-3\n"
                     "schedule = cosine\nwarmup = 3\nclip = 1\n[train]\nsteps = 40\nbatch = 8\nlog_every = 5\n"
                     "val_every = 0\nckpt_every = 4\nkeep = 0\n",
                     j->dir, j->data);
    agir_err e = {0};
    assert_int_equal(agir_write_atomic(path, text, (size_t)k, &e), AGIR_OK);
}

static void refuses_bad_checkpoints(void **state) {
    (void)state;
    char tmp[256], data[512];
    agir_test_tmpdir(tmp, sizeof tmp);
    write_dataset(tmp, data, sizeof data);
    job j;
    new_job(&j, data, "run");
    agir_vq_train_result r;
    must_train(&j, 8, AGIR_RESUME_AUTO, &r);  // ckpt-4, ckpt-8
    // A truncated newest checkpoint: resume falls back to the previous one with a warning.
    truncate_file(j.dir, "ckpt-8", "model.safetensors");
    FILE *log = tmpfile();
    agir_err e = {0};
    int rc = train(&j, 1, AGIR_RESUME_AUTO, NULL, NULL, &r, log, &e);
    if (rc) print_error("%s\n", e.msg);
    assert_int_equal(rc, AGIR_OK);
    assert_int_equal(r.resumed_from, 4);
    assert_int_equal(r.step, 5);
    size_t n;
    rewind(log);
    char text[8192] = "";
    n = fread(text, 1, sizeof text - 1, log);
    text[n] = '\0';
    fclose(log);
    assert_non_null(strstr(text, "skipping checkpoint step 8"));
    assert_non_null(strstr(text, "resuming from the older checkpoint"));
    // Every checkpoint damaged: an error, not a silent fresh start.
    job d;
    new_job(&d, data, "damaged");
    must_train(&d, 4, AGIR_RESUME_AUTO, &r);
    truncate_file(d.dir, "ckpt-4", "optim.safetensors");
    agir_err_clear(&e);
    assert_int_equal(train(&d, 1, AGIR_RESUME_AUTO, NULL, NULL, &r, NULL, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "no intact checkpoint"));
    assert_null(strchr(e.msg, '\n'));
    // Another configuration (a narrower model) in the same folder: refused, naming the key.
    job w = j;
    w.extra[0] = "model.width=8";
    agir_err_clear(&e);
    assert_int_equal(train(&w, 1, AGIR_RESUME_AUTO, NULL, NULL, &r, NULL, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "model.width is '8' but this run was trained with '16'"));
    // Tensors of other shapes under a state that claims this configuration.
    job narrow;
    new_job(&narrow, data, "narrow");
    narrow.extra[0] = "model.width=8";
    must_train(&narrow, 4, AGIR_RESUME_AUTO, &r);
    job shapes;
    new_job(&shapes, data, "shapes");
    splice(narrow.dir, j.dir, shapes.dir, NULL);
    agir_err_clear(&e);
    assert_int_equal(train(&shapes, 1, AGIR_RESUME_AUTO, NULL, NULL, &r, NULL, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "this model expects F32 [16, 3, 105]"));
    // A checkpoint of another model type.
    job other;
    new_job(&other, data, "other");
    splice(j.dir, j.dir, other.dir, "llama-lora");
    agir_err_clear(&e);
    assert_int_equal(train(&other, 1, AGIR_RESUME_AUTO, NULL, NULL, &r, NULL, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "llama-lora model, not vqvae"));
    // The same refusals through the command line: exit code 2 and one line on stderr.
    if (!agir_test_bin()) agir_test_skip("AGIR_BIN is not set: the command-line half of this test needs agir");
    struct {
        const job *j;
        const char *set, *says;
    } cli[] = {{&d, "", "no intact checkpoint"},
               {&j, "--set model.width=8", "model.width is '8'"},
               {&shapes, "", "this model expects F32 [16, 3, 105]"},
               {&other, "", "llama-lora model, not vqvae"},
               {&j, "--fresh", "already holds a checkpoint"}};
    for (size_t i = 0; i < sizeof cli / sizeof cli[0]; i++) {
        char cfg[1200], first[1200];
        snprintf(cfg, sizeof cfg, "%s/case%zu.ini", tmp, i);
        write_config(cfg, cli[i].j);
        int lines;
        int code = cli_train(cfg, cli[i].set, &lines, first, sizeof first);
        if (code != 2 || lines != 1 || !strstr(first, cli[i].says))
            fail_msg("case %zu: exit %d, %d lines: %s", i, code, lines, first);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(schedules),
        cmocka_unit_test(gradient_norm_and_clipping),
        cmocka_unit_test(resume_is_bit_exact),
        cmocka_unit_test(non_finite_steps),
        cmocka_unit_test(refuses_bad_checkpoints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
