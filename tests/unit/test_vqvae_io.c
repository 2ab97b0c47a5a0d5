// VQ-VAE checkpoint I/O: meta JSON round trip and refusal of every bad field (agreeing with
// agir_vqvae_init's own validation); save with the views → load (from the run folder and from the
// ckpt-<step> folder) gives identical weights, normalisation and encoder output, the manifest's
// hash and the held-out subjects; refusal of another model type, of tensors of another width, of
// a zero standard deviation and of a bad meta; a truncated model.safetensors falls back to the
// previous checkpoint in a run folder and is refused when named directly.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoints/manifest.h"
#include "core/rng.h"
#include "kernels/ops.h"
#include "models/vqvae_io.h"
#include "testutil.h"

static agir_vq_meta tiny_meta(int width) {
    agir_vq_meta m;
    memset(&m, 0, sizeof m);
    m.cfg = agir_vqvae_t2m_config(9);
    m.cfg.width = width, m.cfg.depth = 2, m.cfg.n_codes = 16, m.cfg.code_dim = 8;
    m.cfg.joint_c0 = 4, m.cfg.joint_c1 = 7;
    m.motion = agir_motion_default_opts(20);
    m.window = 16;
    return m;
}

// One-line input error whose message contains `want`.
static void assert_refused(int rc, const agir_err *e, const char *want) {
    if (rc != AGIR_EINPUT) fail_msg("expected AGIR_EINPUT, got %d: %s", rc, e->msg);
    if (!strstr(e->msg, want)) fail_msg("message lacks '%s': %s", want, e->msg);
    assert_null(strchr(e->msg, '\n'));
}

static void meta_round_trip(void **state) {
    (void)state;
    agir_vq_meta a = tiny_meta(12), b;
    a.cfg.mu = 0.97f, a.cfg.commit = 0.03125f, a.motion.facing_sigma = 3.3;
    cJSON *j = agir_vq_meta_to_json(&a);
    assert_non_null(j);
    agir_err e = {0};
    assert_int_equal(agir_vq_meta_from_json(j, "x", &b, &e), AGIR_OK);
    assert_memory_equal(&a.cfg, &b.cfg, sizeof a.cfg);
    assert_true(a.motion.fps == b.motion.fps && a.motion.facing_sigma == b.motion.facing_sigma &&
                a.motion.contact_speed == b.motion.contact_speed && a.motion.contact_height == b.motion.contact_height);
    assert_int_equal(a.window, b.window);
    cJSON_Delete(j);
}

// Sets path "sub.key" (or "key") of j to a number, a string, or removes it.
static void edit(cJSON *j, const char *sub, const char *key, const char *how, double x) {
    cJSON *o = sub ? cJSON_GetObjectItemCaseSensitive(j, sub) : j;
    assert_non_null(o);
    cJSON_DeleteItemFromObjectCaseSensitive(o, key);
    if (!strcmp(how, "num")) cJSON_AddNumberToObject(o, key, x);
    if (!strcmp(how, "str")) cJSON_AddStringToObject(o, key, "12");
}

static void meta_refusals(void **state) {
    (void)state;
    static const struct {
        const char *sub, *key, *how;
        double x;
        const char *want;
    } cases[] = {
        {"vqvae", "width", "num", 0, "vqvae.\"width\""},
        {"vqvae", "width", "str", 0, "vqvae.\"width\" is a string"},
        {"vqvae", "width", "num", 8.5, "\"width\""},
        {"vqvae", "depth", "del", 0, "vqvae.\"depth\" is missing"},
        {"vqvae", "down", "num", 9, "\"down\""},
        {"vqvae", "n_codes", "num", -1, "\"n_codes\""},
        {"vqvae", "mu", "num", 1, "\"mu\""},
        {"vqvae", "commit", "num", -0.1, "\"commit\""},
        {"vqvae", "joint_c1", "num", 10, "joint_c0/joint_c1"},
        {"vqvae", "dilation_growth", "num", 65, "\"dilation_growth\""},
        {"motion", "fps", "num", 0, "motion.\"fps\""},
        {"motion", "contact_height", "del", 0, "motion.\"contact_height\" is missing"},
        {NULL, "window", "num", 18, "\"window\" 18 is not a multiple of 2^down = 4"},
        {NULL, "window", "del", 0, "\"window\" is missing"},
        {NULL, "motion", "num", 3, "\"motion\" is a number, not an object"},
    };
    agir_vq_meta a = tiny_meta(12), b;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *j = agir_vq_meta_to_json(&a);
        edit(j, cases[i].sub, cases[i].key, cases[i].how, cases[i].x);
        agir_err e = {0};
        int rc = agir_vq_meta_from_json(j, "ck/state.json: extra", &b, &e);
        assert_refused(rc, &e, cases[i].want);
        assert_non_null(strstr(e.msg, "ck/state.json: extra: "));
        cJSON_Delete(j);
    }
    agir_err e = {0};
    assert_refused(agir_vq_meta_from_json(NULL, "w", &b, &e), &e, "w: is missing");
}

static int *cfg_field(agir_vqvae_config *c, const char *key) {
    return !strcmp(key, "in_dim")            ? &c->in_dim
           : !strcmp(key, "width")           ? &c->width
           : !strcmp(key, "depth")           ? &c->depth
           : !strcmp(key, "dilation_growth") ? &c->dilation_growth
           : !strcmp(key, "down")            ? &c->down
           : !strcmp(key, "n_codes")         ? &c->n_codes
                                             : &c->code_dim;
}

// Whether the meta accepts `key` = x (the other fields those of tiny_meta).
static int meta_accepts(const char *key, long x) {
    agir_vq_meta a = tiny_meta(8), b;
    a.cfg.joint_c0 = a.cfg.joint_c1 = 0;
    *cfg_field(&a.cfg, key) = (int)x;
    cJSON *j = agir_vq_meta_to_json(&a);
    agir_err e = {0};
    int rc = agir_vq_meta_from_json(j, "w", &b, &e);
    cJSON_Delete(j);
    return rc == AGIR_OK;
}

static int init_accepts(const char *key, long x) {
    agir_vq_meta a = tiny_meta(8);
    a.cfg.joint_c0 = a.cfg.joint_c1 = 0;
    *cfg_field(&a.cfg, key) = (int)x;
    agir_vqvae m;
    agir_err e = {0};
    int rc = agir_vqvae_init(&m, &a.cfg, 1, a.window, 1, &e);
    if (rc == AGIR_OK) agir_vqvae_free(&m);
    return rc == AGIR_OK;
}

// The meta's bounds are found by probing it, then the model is asked about the values on both
// sides: the first value refused above and below must be refused by agir_vqvae_init too, and the
// lowest accepted value accepted by it (the highest would allocate too much to try).
static void meta_agrees_with_init(void **state) {
    (void)state;
    static const char *const keys[] = {"in_dim", "width", "depth", "dilation_growth", "down", "n_codes", "code_dim"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        agir_vq_meta a = tiny_meta(8);
        long lo = *cfg_field(&a.cfg, keys[i]), hi = lo;
        assert_true(meta_accepts(keys[i], lo));
        while (meta_accepts(keys[i], lo - 1)) lo--;
        long up = hi;
        while (up < (1L << 30) && meta_accepts(keys[i], up)) hi = up, up *= 2;
        while (up - hi > 1) {  // hi accepted, up refused
            long mid = hi + (up - hi) / 2;
            *(meta_accepts(keys[i], mid) ? &hi : &up) = mid;
        }
        if (init_accepts(keys[i], lo - 1)) fail_msg("%s = %ld: refused by the meta, accepted by the model", keys[i], lo - 1);
        if (init_accepts(keys[i], up)) fail_msg("%s = %ld: refused by the meta, accepted by the model", keys[i], up);
        if (!init_accepts(keys[i], lo)) fail_msg("%s = %ld: accepted by the meta, refused by the model", keys[i], lo);
    }
}

// A tiny model with a random codebook and normalisation, ready to save.
typedef struct saved {
    agir_vq_meta meta;
    agir_vqvae m;
    float mean[9], std[9];
    agir_vq_views v;
} saved;

static void saved_init(saved *s, int width, uint64_t seed) {
    memset(s, 0, sizeof *s);
    s->meta = tiny_meta(width);
    agir_err e = {0};
    assert_int_equal(agir_vqvae_init(&s->m, &s->meta.cfg, 2, s->meta.window, seed, &e), AGIR_OK);
    agir_rng r;
    agir_rng_init(&r, seed, 7);
    for (int i = 0; i < 16 * 8; i++) s->m.codebook[i] = (float)agir_rng_normal(&r), s->m.ema_sum[i] = (float)i;
    for (int i = 0; i < 16; i++) s->m.ema_count[i] = (float)i + 0.5f;
    for (int i = 0; i < 9; i++) s->mean[i] = (float)agir_rng_normal(&r), s->std[i] = 0.5f + (float)i;
    assert_int_equal(agir_vq_views_make(&s->v, &s->m, s->mean, s->std, &e), AGIR_OK);
}

static void saved_free(saved *s) {
    agir_vq_views_free(&s->v);
    agir_vqvae_free(&s->m);
}

// Saves s at `step` into run_dir as model type `type`, with val_subjects and the meta of `meta`
// (s's own when NULL).
static void save(const saved *s, const char *run_dir, int64_t step, const char *type, const agir_vq_meta *meta) {
    agir_ckpt_state st;
    memset(&st, 0, sizeof st);
    snprintf(st.model_type, sizeof st.model_type, "%s", type);
    st.step = step, st.world_size = 1;
    st.extra = agir_vq_meta_to_json(meta ? meta : &s->meta);
    cJSON *vs = cJSON_AddArrayToObject(st.extra, "val_subjects");
    cJSON_AddItemToArray(vs, cJSON_CreateString("S02"));
    cJSON_AddItemToArray(vs, cJSON_CreateString("S05"));
    agir_ckpt_group g[2] = {{"model", s->v.model, s->v.n_model, NULL, 0}, {"ema", s->v.ema, s->v.n_ema, NULL, 0}};
    agir_err e = {0};
    int rc = agir_ckpt_save(run_dir, &st, g, 2, NULL, &e);
    if (rc) fail_msg("save: %s", e.msg);
    cJSON_Delete(st.extra);
}

static void views_named_in_layer_order(void **state) {
    (void)state;
    saved s;
    saved_init(&s, 8, 1);
    // enc: conv, 2 × (conv4 + 2 blocks of 2 convs), conv; dec: conv, 2 × (2 blocks + conv), conv, conv:
    // each conv a weight and a bias; then codebook and the normalisation.
    assert_int_equal(s.v.n_model, 2 * (1 + 2 * 5 + 1) + 2 * (1 + 2 * 5 + 2) + 3);
    assert_string_equal(s.v.model[0].name, "enc.0.weight");
    assert_int_equal(s.v.model[0].shape[0], 8);
    assert_int_equal(s.v.model[0].shape[1], 3);
    assert_int_equal(s.v.model[0].shape[2], 9);
    assert_string_equal(s.v.model[2].name, "enc.2.weight");  // after the ReLU, the stride-2 conv
    assert_int_equal(s.v.model[2].shape[1], 4);
    assert_string_equal(s.v.model[4].name, "enc.3.conv1.weight");
    assert_string_equal(s.v.model[s.v.n_model - 3].name, "codebook");
    assert_string_equal(s.v.model[s.v.n_model - 1].name, "norm.std");
    // Together the conv views tile the parameter buffer exactly, in order.
    const float *at = s.m.params;
    for (int64_t i = 0; i < s.v.n_model - 3; i++) {
        assert_ptr_equal(s.v.model[i].data, at);
        at += s.v.model[i].nbytes / sizeof(float);
    }
    assert_ptr_equal(at, s.m.params + s.m.n_params);
    assert_string_equal(s.v.ema[1].name, "ema_sum");
    // The views named as the encoder's and the decoder's last biases are what the model adds last:
    // with every other parameter zero, z_e and the output are those biases.
    memset(s.m.params, 0, s.m.n_params * sizeof(float));
    int64_t enc_last = 2 * (1 + 2 * 5 + 1) - 1, dec_last = s.v.n_model - 4;
    assert_string_equal(s.v.model[enc_last].name, "enc.8.bias");
    assert_string_equal(s.v.model[dec_last].name, "dec.12.bias");
    for (int k = 0; k < 8; k++) ((float *)s.v.model[enc_last].data)[k] = (float)k + 1;
    for (int k = 0; k < 9; k++) ((float *)s.v.model[dec_last].data)[k] = 0.5f - (float)k;
    agir_ctx c;
    agir_err e = {0};
    assert_int_equal(agir_ctx_open(&c, AGIR_DEV_CPU, &e), AGIR_OK);
    float x[2 * 16 * 9] = {0};
    assert_int_equal(agir_vqvae_encode(&c, &s.m, x, &e), AGIR_OK);
    for (int r = 0; r < 2 * 4; r++)
        for (int k = 0; k < 8; k++) assert_true(s.m.ze[r * 8 + k] == (float)k + 1);
    assert_int_equal(agir_vqvae_decode(&c, &s.m, s.m.ze, &e), AGIR_OK);
    for (int r = 0; r < 2 * 16; r++)
        for (int k = 0; k < 9; k++) assert_true(s.m.out[r * 9 + k] == 0.5f - (float)k);
    agir_ctx_close(&c);
    saved_free(&s);
}

static void assert_same_model(const saved *s, const agir_vq_tokenizer *t) {
    assert_memory_equal(&s->meta.cfg, &t->meta.cfg, sizeof s->meta.cfg);
    assert_int_equal(s->m.n_params, t->model.n_params);
    assert_memory_equal(s->m.params, t->model.params, s->m.n_params * sizeof(float));
    assert_memory_equal(s->m.codebook, t->model.codebook, 16 * 8 * sizeof(float));
    assert_memory_equal(s->mean, t->mean, sizeof s->mean);
    assert_memory_equal(s->std, t->std, sizeof s->std);
    // The encoder gives the same latents and codes.
    agir_ctx c;
    agir_err e = {0};
    assert_int_equal(agir_ctx_open(&c, AGIR_DEV_CPU, &e), AGIR_OK);
    int n = 2 * 16 * 9;
    float x[2 * 16 * 9];
    agir_rng r;
    agir_rng_init(&r, 5, 5);
    for (int i = 0; i < n; i++) x[i] = (float)agir_rng_normal(&r);
    agir_vqvae *a = (agir_vqvae *)&s->m, *b = (agir_vqvae *)&t->model;
    assert_int_equal(agir_vqvae_encode(&c, a, x, &e), AGIR_OK);
    assert_int_equal(agir_vqvae_encode(&c, b, x, &e), AGIR_OK);
    assert_memory_equal(a->ze, b->ze, 2 * 4 * 8 * sizeof(float));
    assert_int_equal(agir_vqvae_quantize(&c, a, 0, NULL, NULL, &e), AGIR_OK);
    assert_int_equal(agir_vqvae_quantize(&c, b, 0, NULL, NULL, &e), AGIR_OK);
    assert_memory_equal(a->idx, b->idx, 2 * 4 * sizeof(int32_t));
    agir_ctx_close(&c);
}

static void save_load_round_trip(void **state) {
    (void)state;
    char dir[512], ck[600], st[700], hex[65];
    agir_test_tmpdir(dir, sizeof dir);
    saved s;
    saved_init(&s, 8, 2);
    save(&s, dir, 40, "vqvae", NULL);
    agir_vq_tokenizer t;
    agir_err e = {0};
    int rc = agir_vq_tokenizer_load(dir, 2, 0, NULL, &t, &e);
    if (rc) fail_msg("%s", e.msg);
    assert_same_model(&s, &t);
    assert_int_equal(t.step, 40);
    assert_int_equal(t.model.T, 16);
    assert_int_equal(t.n_val_subjects, 2);
    assert_string_equal(t.val_subjects[1], "S05");
    // The identity is the hash of the weights file itself.
    size_t bytes;
    snprintf(ck, sizeof ck, "%s/ckpt-40", dir);
    snprintf(st, sizeof st, "%s/model.safetensors", ck);
    assert_int_equal(agir_sha256_file(st, hex, &bytes, &e), AGIR_OK);
    assert_int_equal(strlen(t.hash), 7 + 64);
    assert_memory_equal(t.hash, "sha256:", 7);
    assert_string_equal(t.hash + 7, hex);
    agir_vq_tokenizer_free(&t);
    // The checkpoint folder itself, with a trailing slash and another geometry.
    snprintf(ck, sizeof ck, "%s/ckpt-40/", dir);
    rc = agir_vq_tokenizer_load(ck, 1, 32, NULL, &t, &e);
    if (rc) fail_msg("%s", e.msg);
    assert_int_equal(t.model.B, 1);
    assert_int_equal(t.model.T, 32);
    assert_memory_equal(s.m.params, t.model.params, s.m.n_params * sizeof(float));
    assert_string_equal(t.hash + 7, hex);
    agir_vq_tokenizer_free(&t);
    saved_free(&s);
}

static void refuses_mismatches(void **state) {
    (void)state;
    char dir[512], sub[600];
    agir_test_tmpdir(dir, sizeof dir);
    saved s;
    saved_init(&s, 8, 3);
    agir_vq_tokenizer t;
    agir_err e = {0};
    // Another model type.
    snprintf(sub, sizeof sub, "%s/llm", dir);
    save(&s, sub, 1, "llama-lora", NULL);
    assert_refused(agir_vq_tokenizer_load(sub, 1, 0, NULL, &t, &e), &e, "checkpoint of a llama-lora model, not vqvae");
    snprintf(sub, sizeof sub, "%s/llm/ckpt-1", dir);
    agir_err_clear(&e);
    assert_refused(agir_vq_tokenizer_load(sub, 1, 0, NULL, &t, &e), &e, "not vqvae");
    // Tensors of width 8 under a meta that says width 16.
    agir_vq_meta wide = tiny_meta(16);
    snprintf(sub, sizeof sub, "%s/wide", dir);
    save(&s, sub, 1, "vqvae", &wide);
    agir_err_clear(&e);
    assert_refused(agir_vq_tokenizer_load(sub, 1, 0, NULL, &t, &e), &e, "tensor 'enc.0.weight' is F32 [8, 3, 9]");
    // A meta the model cannot have.
    agir_vq_meta bad = tiny_meta(8);
    bad.window = 10;
    snprintf(sub, sizeof sub, "%s/badmeta", dir);
    save(&s, sub, 1, "vqvae", &bad);
    agir_err_clear(&e);
    assert_refused(agir_vq_tokenizer_load(sub, 1, 0, NULL, &t, &e), &e, "state.json: extra: \"window\" 10");
    // A zero standard deviation would make every normalised feature infinite.
    s.std[3] = 0;
    snprintf(sub, sizeof sub, "%s/zerostd", dir);
    save(&s, sub, 1, "vqvae", NULL);
    agir_err_clear(&e);
    assert_refused(agir_vq_tokenizer_load(sub, 1, 0, NULL, &t, &e), &e,
                   "tensor 'norm.std' holds a non-positive standard deviation (0) at element 3");
    // A checkpoint folder renamed: its manifest records a step its name no longer carries.
    char from[700], to[700];
    snprintf(from, sizeof from, "%s/wide/ckpt-1", dir);
    snprintf(to, sizeof to, "%s/wide/copy", dir);
    assert_int_equal(rename(from, to), 0);
    agir_err_clear(&e);
    assert_refused(agir_vq_tokenizer_load(to, 1, 0, NULL, &t, &e), &e, "wide/copy: not a checkpoint folder");
    // Not a checkpoint at all: a path that does not exist, a file, an empty folder.
    snprintf(sub, sizeof sub, "%s/empty", dir);
    agir_err_clear(&e);
    assert_refused(agir_vq_tokenizer_load(sub, 1, 0, NULL, &t, &e), &e, "empty: does not exist");
    snprintf(sub, sizeof sub, "%s/wide/copy/manifest.json", dir);
    agir_err_clear(&e);
    assert_refused(agir_vq_tokenizer_load(sub, 1, 0, NULL, &t, &e), &e, "is a file, not a tokenizer folder");
    snprintf(sub, sizeof sub, "%s/empty", dir);
    assert_int_equal(mkdir(sub, 0777), 0);
    agir_err_clear(&e);
    assert_refused(agir_vq_tokenizer_load(sub, 1, 0, NULL, &t, &e), &e, "holds no checkpoint");
    saved_free(&s);
}

static void truncated_weights(void **state) {
    (void)state;
    char dir[512], path[700];
    agir_test_tmpdir(dir, sizeof dir);
    saved a, b;
    saved_init(&a, 8, 4);
    saved_init(&b, 8, 5);
    save(&a, dir, 1, "vqvae", NULL);
    save(&b, dir, 2, "vqvae", NULL);
    snprintf(path, sizeof path, "%s/ckpt-2/model.safetensors", dir);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    fclose(f);
    assert_int_equal(truncate(path, len / 2), 0);
    // The run folder falls back to step 1, with a warning.
    char *logbuf = NULL;
    size_t logsz = 0;
    agir_log log;
    agir_log_init(&log, AGIR_LOG_QUIET);
    log.out = open_memstream(&logbuf, &logsz);
    agir_vq_tokenizer t;
    agir_err e = {0};
    int rc = agir_vq_tokenizer_load(dir, 2, 0, &log, &t, &e);
    fclose(log.out);
    if (rc) fail_msg("%s", e.msg);
    assert_int_equal(t.step, 1);
    assert_same_model(&a, &t);
    assert_non_null(strstr(logbuf, "skipping checkpoint step 2"));
    free(logbuf);
    agir_vq_tokenizer_free(&t);
    // Named directly, the damaged checkpoint is refused.
    snprintf(path, sizeof path, "%s/ckpt-2", dir);
    assert_refused(agir_vq_tokenizer_load(path, 1, 0, NULL, &t, &e), &e, "manifest records");
    // A run folder whose only checkpoint is damaged: one error line, no warnings besides it.
    snprintf(path, sizeof path, "%s/ckpt-1/model.safetensors", dir);
    assert_int_equal(truncate(path, len / 3), 0);
    logbuf = NULL;
    log.out = open_memstream(&logbuf, &logsz);
    agir_err_clear(&e);
    rc = agir_vq_tokenizer_load(dir, 1, 0, &log, &t, &e);
    fclose(log.out);
    assert_refused(rc, &e, "no intact checkpoint among 2 tried");
    assert_int_equal(logsz, 0);
    free(logbuf);
    saved_free(&a);
    saved_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(meta_round_trip),        cmocka_unit_test(meta_refusals),
        cmocka_unit_test(meta_agrees_with_init),  cmocka_unit_test(views_named_in_layer_order),
        cmocka_unit_test(save_load_round_trip),   cmocka_unit_test(refuses_mismatches),
        cmocka_unit_test(truncated_weights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
