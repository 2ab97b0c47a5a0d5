// GGUF reader: a file written by llama.cpp's own Python package (tests/data/gguf/reference.gguf,
// made by tools/make_gguf_reference.py) read key by key and tensor by tensor against that
// package's dequantization; small files built here for layout rules and refusals; every
// truncation and random corruption of the reference file fails as an input error; the default
// model lookup honours $AGIR_MODEL.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/default_model.h"
#include "checkpoints/gguf.h"
#include "core/rng.h"
#include "testutil.h"

// ---- a tiny GGUF writer for hand-made cases ----

typedef struct gbuf {
    unsigned char d[4096];
    size_t n;
} gbuf;

static void put(gbuf *b, const void *p, size_t n) {
    assert_true(b->n + n <= sizeof b->d);
    memcpy(b->d + b->n, p, n);
    b->n += n;
}
static void put_u32(gbuf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(gbuf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(gbuf *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void put_header(gbuf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    b->n = 0;
    put(b, "GGUF", 4);
    put_u32(b, version);
    put_u64(b, n_tensors);
    put_u64(b, n_kv);
}
static void put_kv_u32(gbuf *b, const char *key, uint32_t v) {
    put_str(b, key);
    put_u32(b, AGIR_GGUF_U32);
    put_u32(b, v);
}
// A tensor info with dims innermost first, as in the file.
static void put_tensor(gbuf *b, const char *name, int nd, const uint64_t *dims, uint32_t type, uint64_t off) {
    put_str(b, name);
    put_u32(b, (uint32_t)nd);
    for (int i = 0; i < nd; i++) put_u64(b, dims[i]);
    put_u32(b, type);
    put_u64(b, off);
}
static void put_zeros(gbuf *b, size_t n) {
    static const unsigned char zero[256];
    assert_true(n <= sizeof zero);
    put(b, zero, n);
}
static void pad_to(gbuf *b, size_t align) { put_zeros(b, (align - b->n % align) % align); }

static int open_buf(const gbuf *b, agir_gguf *g, agir_err *e) {
    agir_err_clear(e);
    return agir_gguf_open_mem(b->d, b->n, "case.gguf", g, e);
}

// The case must be refused as an input error whose one-line message names the file and holds
// `needle`.
static void refused(const gbuf *b, const char *needle) {
    agir_gguf g;
    agir_err e;
    int rc = open_buf(b, &g, &e);
    if (rc != AGIR_EINPUT || !strstr(e.msg, needle)) print_error("rc %d, message: %s\n", rc, e.msg);
    assert_int_equal(rc, AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "case.gguf: "));
    assert_non_null(strstr(e.msg, needle));
    assert_null(strchr(e.msg, '\n'));
}

// ---- the reference file ----

static void open_reference(agir_gguf *g) {
    char path[4096];
    agir_test_src("tests/data/gguf/reference.gguf", path, sizeof path);
    agir_err e = {0};
    if (agir_gguf_open(path, g, &e)) fail_msg("%s", e.msg);
}

static void metadata_getters(void **state) {
    (void)state;
    agir_gguf g;
    open_reference(&g);
    agir_err e = {0};
    assert_int_equal(g.version, 3);
    assert_int_equal(g.alignment, 32);
    int64_t i;
    uint32_t u;
    float f;
    int b;
    assert_int_equal(agir_gguf_get_i64(&g, "test.u8", &i, &e), 0), assert_int_equal(i, 200);
    assert_int_equal(agir_gguf_get_i64(&g, "test.i8", &i, &e), 0), assert_int_equal(i, -100);
    assert_int_equal(agir_gguf_get_i64(&g, "test.u16", &i, &e), 0), assert_int_equal(i, 60000);
    assert_int_equal(agir_gguf_get_i64(&g, "test.i16", &i, &e), 0), assert_int_equal(i, -30000);
    assert_int_equal(agir_gguf_get_u32(&g, "test.u32", &u, &e), 0), assert_int_equal(u, 4000000000u);
    assert_int_equal(agir_gguf_get_i64(&g, "test.i32", &i, &e), 0), assert_int_equal(i, -2000000000);
    assert_int_equal(agir_gguf_get_i64(&g, "test.u64", &i, &e), 0), assert_true(i == (1LL << 40) + 5);
    assert_int_equal(agir_gguf_get_i64(&g, "test.i64", &i, &e), 0), assert_true(i == -(1LL << 40));
    assert_int_equal(agir_gguf_get_f32(&g, "test.f32", &f, &e), 0), assert_true(f == 0.15625f);
    assert_int_equal(agir_gguf_get_f32(&g, "test.f64", &f, &e), 0), assert_true(f == (float)(1.0 / 3.0));
    assert_int_equal(agir_gguf_get_bool(&g, "test.bool", &b, &e), 0), assert_int_equal(b, 1);
    char *s;
    assert_int_equal(agir_gguf_get_str(&g, "test.str", &s, &e), 0);
    assert_string_equal(s, "h\xc3\xa9llo\nworld");
    free(s);
    assert_int_equal(agir_gguf_get_str(&g, "general.architecture", &s, &e), 0);
    assert_string_equal(s, "test");
    free(s);
    agir_gguf_str *strs;
    uint64_t n;
    assert_int_equal(agir_gguf_get_strs(&g, "test.arr_str", &strs, &n, &e), 0);
    assert_int_equal(n, 3);
    assert_true(strs[0].n == 1 && strs[0].p[0] == 'a' && strs[1].n == 0 && strs[2].n == 3 && !memcmp(strs[2].p, "xyz", 3));
    free(strs);
    int32_t *ints;
    assert_int_equal(agir_gguf_get_i32s(&g, "test.arr_i32", &ints, &n, &e), 0);
    assert_true(n == 3 && ints[0] == 3 && ints[1] == -1 && ints[2] == 7);
    free(ints);
    float *fl;
    assert_int_equal(agir_gguf_get_f32s(&g, "test.arr_f32", &fl, &n, &e), 0);
    assert_true(n == 2 && fl[0] == 0.5f && fl[1] == -2.0f);
    free(fl);

    // Refusals name the key and stay on one line.
    assert_int_equal(agir_gguf_get_u32(&g, "test.i8", &u, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "'test.i8'"));
    agir_err_clear(&e);
    assert_int_equal(agir_gguf_get_u32(&g, "test.u64", &u, &e), AGIR_EINPUT);
    agir_err_clear(&e);
    assert_int_equal(agir_gguf_get_f32(&g, "test.str", &f, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "expected FLOAT32"));
    agir_err_clear(&e);
    assert_int_equal(agir_gguf_get_u32(&g, "no.such.key", &u, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "'no.such.key' is missing"));
    agir_err_clear(&e);
    assert_int_equal(agir_gguf_get_f32s(&g, "test.arr_i32", &fl, &n, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "array of INT32"));
    agir_err_clear(&e);
    assert_int_equal(agir_gguf_get_strs(&g, "test.str", &strs, &n, &e), AGIR_EINPUT);
    assert_null(agir_gguf_find(&g, "test"));
    agir_gguf_close(&g);
}

static const agir_gguf_tensor *tensor(const agir_gguf *g, const char *name) {
    const agir_gguf_tensor *t = agir_gguf_tensor_by_name(g, name);
    if (!t) fail_msg("no tensor %s", name);
    return t;
}

static float *to_f32(const agir_gguf_tensor *t) {
    uint64_t n;
    assert_int_equal(agir_view_numel(&t->view, &n), 0);
    float *out = malloc(n * sizeof *out);
    agir_err e = {0};
    assert_int_equal(agir_view_to_f32(&t->view, out, &e), 0);
    return out;
}

// Same float32 bits, except that any NaN matches any NaN.
static void same_values(const agir_gguf *g, const char *name, const char *ref_name) {
    const agir_gguf_tensor *t = tensor(g, name), *r = tensor(g, ref_name);
    uint64_t n, nr;
    agir_view_numel(&t->view, &n);
    agir_view_numel(&r->view, &nr);
    assert_true(n == nr && n > 0);
    float *x = to_f32(t), *y = to_f32(r);
    for (uint64_t i = 0; i < n; i++) {
        uint32_t a, b;
        memcpy(&a, &x[i], 4);
        memcpy(&b, &y[i], 4);
        if (!(a == b || (isnan(x[i]) && isnan(y[i]))))
            fail_msg("%s[%llu] = %.9g (0x%08x), reference %.9g (0x%08x)", name, (unsigned long long)i, x[i], a, y[i], b);
    }
    free(x);
    free(y);
}

static void dequantization_matches_gguf_package(void **state) {
    (void)state;
    agir_gguf g;
    open_reference(&g);
    same_values(&g, "q.Q8_0", "ref.Q8_0");
    same_values(&g, "q.Q4_0", "ref.Q4_0");
    same_values(&g, "q.Q4_1", "ref.Q4_1");
    same_values(&g, "q.BF16", "ref.BF16");
    same_values(&g, "half.all", "ref.half");  // all 65536 halves: subnormals, infinities, NaNs
    const agir_gguf_tensor *q = tensor(&g, "q.Q4_1");
    assert_int_equal(q->view.dtype, AGIR_DT_Q4_1);
    assert_int_equal(q->view.ndim, 2);
    assert_true(q->view.shape[0] == 4 && q->view.shape[1] == 64);
    // Rows from SmolLM2 itself, when the generator was given the model (it was for the
    // committed file): blk.0.attn_q (Q4_1) and token_embd (Q8_0).
    if (agir_gguf_tensor_by_name(&g, "real.token_embd.weight")) {
        same_values(&g, "real.token_embd.weight", "realref.token_embd.weight");
        same_values(&g, "real.blk.0.attn_q.weight", "realref.blk.0.attn_q.weight");
    }
    agir_gguf_close(&g);
}

static void shapes_are_outermost_first(void **state) {
    (void)state;
    agir_gguf g;
    open_reference(&g);
    // numpy shape (2, 3, 4), stored by the writer as GGUF dims [4, 3, 2].
    const agir_gguf_tensor *t = tensor(&g, "arange.3d");
    assert_int_equal(t->view.ndim, 3);
    assert_true(t->view.shape[0] == 2 && t->view.shape[1] == 3 && t->view.shape[2] == 4);
    float *x = to_f32(t);
    for (int i = 0; i < 24; i++) assert_true(x[i] == (float)i);  // row-major in that shape
    free(x);
    assert_true((size_t)((const unsigned char *)t->view.data - g.bytes) % g.alignment == 0);
    agir_gguf_close(&g);
}

// ---- hand-made files ----

static void minimal_and_aligned(void **state) {
    (void)state;
    gbuf b;
    agir_gguf g;
    agir_err e;
    put_header(&b, 3, 0, 0);
    assert_int_equal(open_buf(&b, &g, &e), 0);
    assert_true(g.n_kv == 0 && g.n_tensors == 0);
    agir_gguf_close(&g);
    put_header(&b, 2, 0, 0);
    assert_int_equal(open_buf(&b, &g, &e), 0);
    agir_gguf_close(&g);

    // general.alignment 64: the data section and the second tensor move to multiples of 64.
    put_header(&b, 3, 2, 1);
    put_kv_u32(&b, "general.alignment", 64);
    const uint64_t d1[2] = {3, 2}, d2[1] = {1};
    put_tensor(&b, "a", 2, d1, 0, 0);
    put_tensor(&b, "b", 1, d2, 0, 64);
    pad_to(&b, 64);
    size_t data = b.n;
    const float a[6] = {1, 2, 3, 4, 5, 6}, bv = 7;
    put(&b, a, sizeof a);
    pad_to(&b, 64);
    put(&b, &bv, 4);
    assert_int_equal(open_buf(&b, &g, &e), 0);
    assert_int_equal(g.alignment, 64);
    assert_int_equal(g.data_offset, data);
    const agir_gguf_tensor *t = agir_gguf_tensor_by_name(&g, "a");
    assert_true(t->view.shape[0] == 2 && t->view.shape[1] == 3 && t->view.nbytes == 24);
    assert_ptr_equal(t->view.data, b.d + data);
    assert_ptr_equal(agir_gguf_tensor_by_name(&g, "b")->view.data, b.d + data + 64);
    assert_int_equal(agir_gguf_check_values(&g, 32, &e), 0);
    agir_gguf_close(&g);
}

static void refusals(void **state) {
    (void)state;
    gbuf b;
    const uint64_t dims[2] = {32, 2};
    put_header(&b, 3, 0, 0);
    b.d[0] = 'X';
    refused(&b, "not a GGUF file");
    put_header(&b, 1, 0, 0);
    refused(&b, "version 1");
    put_header(&b, 3, 0, UINT64_MAX);
    refused(&b, "key/value count");
    put_header(&b, 3, 1ull << 40, 0);
    refused(&b, "tensor count");
    put_header(&b, 3, 0, 1);
    put_kv_u32(&b, "general.alignment", 0);
    refused(&b, "not a power of two");
    put_header(&b, 3, 0, 1);
    put_kv_u32(&b, "general.alignment", 48);
    refused(&b, "not a power of two");
    put_header(&b, 3, 0, 1);
    put_str(&b, "nested");
    put_u32(&b, AGIR_GGUF_ARRAY);
    put_u32(&b, AGIR_GGUF_ARRAY);
    put_u64(&b, 1);
    refused(&b, "arrays of arrays");
    put_header(&b, 3, 0, 1);
    put_u64(&b, UINT64_MAX - 3);  // key length
    put_zeros(&b, 16);
    refused(&b, "claims");
    put_header(&b, 3, 0, 2);
    put_kv_u32(&b, "k", 1);
    put_kv_u32(&b, "k", 2);
    refused(&b, "key 'k' appears twice");
    put_header(&b, 3, 1, 0);
    put_tensor(&b, "w", 2, dims, 14, 0);  // Q6_K
    refused(&b, "type Q6_K (14) is not supported");
    put_header(&b, 3, 1, 0);
    put_tensor(&b, "w", 2, (const uint64_t[2]){31, 2}, 3, 0);
    refused(&b, "not a multiple of the Q4_1 block");
    put_header(&b, 3, 1, 0);
    put_tensor(&b, "w", 3, (const uint64_t[3]){1ull << 32, 1ull << 31, 4}, 0, 0);
    refused(&b, "makes the element count overflow");
    put_header(&b, 3, 1, 0);
    put_tensor(&b, "w", 5, (const uint64_t[5]){1, 1, 1, 1, 1}, 0, 0);
    refused(&b, "5 dimensions");
    put_header(&b, 3, 1, 0);
    put_tensor(&b, "w", 2, dims, 0, 0);
    pad_to(&b, 32);
    put_zeros(&b, 255);  // 256 bytes are needed
    refused(&b, "run past the end");
    put_header(&b, 3, 2, 0);
    put_tensor(&b, "w", 1, dims, 0, 0);
    put_tensor(&b, "v", 1, dims, 0, 64);  // w takes 128 bytes
    pad_to(&b, 32);
    put_zeros(&b, 256);
    refused(&b, "overlap");
    put_header(&b, 3, 1, 0);
    put_tensor(&b, "w", 1, dims, 0, 16);
    refused(&b, "not a multiple of the alignment");
    put_header(&b, 3, 2, 0);
    put_tensor(&b, "w", 1, dims, 0, 0);
    put_tensor(&b, "w", 1, dims, 0, 128);
    refused(&b, "tensor 'w' appears twice");
    put_header(&b, 3, 0, 2);
    put_str(&b, "tokenizer.ggml.tokens");
    put_u32(&b, AGIR_GGUF_ARRAY);
    put_u32(&b, AGIR_GGUF_STRING);
    put_u64(&b, 2);
    put_str(&b, "a");
    put_str(&b, "b");
    put_kv_u32(&b, "tokenizer.ggml.eos_token_id", 2);
    refused(&b, "token id 2 is outside the vocabulary of 2 tokens");
    put_header(&b, 3, 0, 1);
    put_str(&b, "bad\nkey");
    refused(&b, "not printable");
}

// ---- every truncation and random corruptions of the reference file ----

static unsigned char *read_reference(size_t *len) {
    char path[4096];
    agir_test_src("tests/data/gguf/reference.gguf", path, sizeof path);
    char *data;
    agir_err e = {0};
    if (agir_read_file(path, 1 << 24, &data, len, &e)) fail_msg("%s", e.msg);
    return (unsigned char *)data;
}

static void expect_input_error_or_ok(const unsigned char *d, size_t n, int must_fail) {
    agir_gguf g;
    agir_err e;
    agir_err_clear(&e);
    int rc = agir_gguf_open_mem(d, n, "cut.gguf", &g, &e);
    if (rc == 0) {
        if (must_fail) fail_msg("a %zu-byte prefix opened", n);
        agir_err_clear(&e);
        rc = agir_gguf_check_values(&g, 4096, &e);
        agir_gguf_close(&g);
        if (rc == 0) return;
    }
    if (rc != AGIR_EINPUT || strchr(e.msg, '\n') || !strstr(e.msg, "cut.gguf: ")) fail_msg("rc %d: %s", rc, e.msg);
}

static void truncations_and_corruptions(void **state) {
    (void)state;
    size_t len;
    unsigned char *d = read_reference(&len);
    agir_gguf g;
    agir_err e = {0};
    assert_int_equal(agir_gguf_open_mem(d, len, "ref.gguf", &g, &e), 0);
    size_t data_offset = g.data_offset, end = 0;
    for (int64_t i = 0; i < g.n_tensors; i++) {
        size_t t_end = (size_t)((const unsigned char *)g.tensors[i].view.data - d) + g.tensors[i].view.nbytes;
        if (t_end > end) end = t_end;
    }
    agir_gguf_close(&g);
    // Every prefix that cuts into the header or a tensor is refused.
    for (size_t n = 0; n < end; n += n < data_offset ? 1 : 997) expect_input_error_or_ok(d, n, 1);
    expect_input_error_or_ok(d, end - 1, 1);

    agir_rng r;
    agir_rng_init(&r, 7, 0);
    unsigned char *m = malloc(len);
    for (int it = 0; it < 3000; it++) {
        memcpy(m, d, len);
        int flips = 1 + (int)agir_rng_below(&r, 4);
        for (int k = 0; k < flips; k++) m[agir_rng_below(&r, (uint32_t)data_offset)] = (unsigned char)agir_rng_u32(&r);
        expect_input_error_or_ok(m, len, 0);
    }
    free(m);
    free(d);
}

// $AGIR_MODEL wins when set, and must then name a readable file.
static void model_path_from_environment(void **state) {
    (void)state;
    char ref[4096], out[4096];
    agir_test_src("tests/data/gguf/reference.gguf", ref, sizeof ref);
    agir_err e = {0};
    setenv("AGIR_MODEL", ref, 1);
    assert_int_equal(agir_default_model_path(out, sizeof out, &e), 0);
    assert_string_equal(out, ref);
    setenv("AGIR_MODEL", "/nonexistent/model.gguf", 1);
    assert_int_equal(agir_default_model_path(out, sizeof out, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "AGIR_MODEL=/nonexistent/model.gguf"));
    unsetenv("AGIR_MODEL");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(metadata_getters),
        cmocka_unit_test(dequantization_matches_gguf_package),
        cmocka_unit_test(shapes_are_outermost_first),
        cmocka_unit_test(minimal_and_aligned),
        cmocka_unit_test(refusals),
        cmocka_unit_test(truncations_and_corruptions),
        cmocka_unit_test(model_path_from_environment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
