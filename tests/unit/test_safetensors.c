// safetensors: the reader accepts what the format allows (scalars, empty tensors, metadata, leading
// whitespace) and refuses each rule of the reference reader with one AGIR_EINPUT line naming the
// file; the writer round-trips tensors in the caller's order with an 8-byte padded header, and
// refuses names and types the format cannot hold. Files here are built byte by byte or by the
// reference implementation, so the reader is checked against the format, not our own writer.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/safetensors.h"
#include "testutil.h"

// A file image: 8-byte little-endian length of `hdr`, hdr, then `data` (dlen bytes).
typedef struct image {
    unsigned char b[4096];
    size_t n;
} image;

static image craft(const char *hdr, const void *data, size_t dlen) {
    image im;
    size_t h = strlen(hdr);
    assert_true(8 + h + dlen <= sizeof im.b);
    for (int i = 0; i < 8; i++) im.b[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(im.b + 8, hdr, h);
    if (dlen) memcpy(im.b + 8 + h, data, dlen);
    im.n = 8 + h + dlen;
    return im;
}

static const unsigned char zeros[256];

static void open_ok(const image *im, agir_st_file *f) {
    agir_err e;
    agir_err_clear(&e);
    int rc = agir_st_open_mem(im->b, im->n, "t.safetensors", f, &e);
    if (rc) print_error("unexpected error: %s\n", e.msg);
    assert_int_equal(rc, AGIR_OK);
}

static void refused(const image *im, const char *needle) {
    agir_st_file f;
    agir_err e;
    agir_err_clear(&e);
    int rc = agir_st_open_mem(im->b, im->n, "t.safetensors", &f, &e);
    if (rc != AGIR_EINPUT || !strstr(e.msg, needle) || !strstr(e.msg, "t.safetensors") || strchr(e.msg, '\n')) {
        print_error("rc=%d msg='%s', expected a line with '%s'\n", rc, e.msg, needle);
        fail();
    }
    assert_null(f.t);  // nothing left open
}

#define REFUSED(hdr, dlen, needle)                       \
    do {                                                 \
        image im_ = craft((hdr), zeros, (dlen));         \
        refused(&im_, (needle));                         \
    } while (0)

#define ENTRY(name, dt, shape, b, e) \
    "\"" name "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

static void reads_valid_files(void **state) {
    (void)state;
    float x[3] = {1.5f, -2.0f, 3.25f};
    unsigned char buf[20];
    memcpy(buf, x, 12);
    memcpy(buf + 12, "\x01\x00\x02\x00\x03\x00\x04\x00", 8);
    // Tensors listed out of offset order, metadata, an empty tensor sharing an offset.
    image im = craft("{\"__metadata__\":{\"format\":\"pt\",\"note\":\"caf\\u00e9\"}," ENTRY("b", "I16", "[2,2]", 12, 20)
                     "," ENTRY("a", "F32", "[3]", 0, 12) "," ENTRY("empty", "BF16", "[0,7]", 12, 12) "}",
                     buf, sizeof buf);
    agir_st_file f;
    open_ok(&im, &f);
    assert_int_equal(f.n, 3);
    assert_int_equal(f.n_meta, 2);
    assert_string_equal(agir_st_meta(&f, "format"), "pt");
    assert_string_equal(agir_st_meta(&f, "note"), "caf\xc3\xa9");
    assert_null(agir_st_meta(&f, "missing"));
    const agir_tensor_view *a = agir_st_find(&f, "a"), *b = agir_st_find(&f, "b"), *z = agir_st_find(&f, "empty");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(z);
    assert_null(agir_st_find(&f, "c"));
    assert_null(agir_st_find(&f, ""));
    assert_int_equal(a->dtype, AGIR_DT_F32);
    assert_int_equal(a->ndim, 1);
    assert_int_equal(a->shape[0], 3);
    assert_int_equal(a->nbytes, 12);
    assert_ptr_equal(a->data, im.b + im.n - 20);
    assert_memory_equal(a->data, x, 12);
    assert_int_equal(b->dtype, AGIR_DT_I16);
    assert_int_equal(b->ndim, 2);
    assert_int_equal(b->shape[1], 2);
    assert_ptr_equal(b->data, im.b + im.n - 8);
    assert_int_equal(z->nbytes, 0);
    assert_int_equal(z->shape[0], 0);
    assert_int_equal(z->shape[1], 7);
    // Views are in data-offset order.
    assert_string_equal(f.t[0].name, "a");
    assert_string_equal(f.t[2].name, "b");
    agir_st_close(&f);

    // Nothing at all; a scalar; whitespace around the object (the reference accepts both);
    // unknown fields inside an entry are ignored as serde does; null metadata.
    im = craft("{}", NULL, 0);
    open_ok(&im, &f);
    assert_int_equal(f.n, 0);
    assert_null(agir_st_find(&f, "a"));
    agir_st_close(&f);
    double d = 2.5;
    im = craft(" \n{\"s\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,8],\"extra\":[1]},\"__metadata__\":null}  ",
               &d, 8);
    open_ok(&im, &f);
    assert_int_equal(f.t[0].ndim, 0);
    assert_memory_equal(f.t[0].data, &d, 8);
    assert_int_equal(f.n_meta, 0);
    agir_st_close(&f);
    // Every dtype AGIR reads, one element each.
    im = craft("{" ENTRY("f64", "F64", "[1]", 0, 8) "," ENTRY("i64", "I64", "[1]", 8, 16) ","
               ENTRY("f32", "F32", "[1]", 16, 20) "," ENTRY("i32", "I32", "[1]", 20, 24) ","
               ENTRY("f16", "F16", "[1]", 24, 26) "," ENTRY("bf", "BF16", "[1]", 26, 28) ","
               ENTRY("i16", "I16", "[1]", 28, 30) "," ENTRY("i8", "I8", "[1]", 30, 31) ","
               ENTRY("u8", "U8", "[1]", 31, 32) "," ENTRY("b", "BOOL", "[1]", 32, 33) "}",
               zeros, 33);
    open_ok(&im, &f);
    assert_int_equal(f.n, 10);
    assert_int_equal(agir_st_find(&f, "bf")->dtype, AGIR_DT_BF16);
    assert_int_equal(agir_st_find(&f, "b")->dtype, AGIR_DT_BOOL);
    assert_int_equal(agir_st_find(&f, "i8")->dtype, AGIR_DT_I8);
    agir_st_close(&f);
}

// A file written by the reference implementation (tools/make_safetensors_reference.py): values
// are recomputed here from the script's formulas.
static void reads_reference_file(void **state) {
    (void)state;
    char path[1024];
    agir_test_src("tests/fixtures/safetensors/reference.safetensors", path, sizeof path);
    agir_st_file f;
    agir_err e;
    agir_err_clear(&e);
    int rc = agir_st_open(path, &f, &e);
    if (rc) print_error("%s\n", e.msg);
    assert_int_equal(rc, AGIR_OK);
    assert_int_equal(f.n, 10);
    assert_string_equal(agir_st_meta(&f, "producer"), "safetensors.numpy");
    const agir_tensor_view *v = agir_st_find(&f, "f32");
    assert_true(v && v->dtype == AGIR_DT_F32 && v->ndim == 2 && v->shape[0] == 2 && v->shape[1] == 3);
    for (int i = 0; i < 6; i++) {
        float x;
        memcpy(&x, (const char *)v->data + 4 * i, 4);
        assert_true(x == 0.5f * (float)i);
    }
    v = agir_st_find(&f, "f64");
    double d;
    assert_true(v && v->ndim == 0 && v->nbytes == 8);
    memcpy(&d, v->data, 8);
    assert_true(d == 2.5);
    v = agir_st_find(&f, "f16");
    assert_true(v && v->dtype == AGIR_DT_F16 && v->shape[0] == 4);
    for (int i = 0; i < 4; i++) {
        uint16_t h;
        memcpy(&h, (const char *)v->data + 2 * i, 2);
        assert_true(agir_f16_to_f32(h) == (float)(i - 1));
    }
    v = agir_st_find(&f, "i64");
    for (int i = 0; i < 5; i++) {
        int64_t x;
        memcpy(&x, (const char *)v->data + 8 * i, 8);
        assert_int_equal(x, -3 * i);
    }
    v = agir_st_find(&f, "i32");
    for (int i = 0; i < 3; i++) {
        int32_t x;
        memcpy(&x, (const char *)v->data + 4 * i, 4);
        assert_int_equal(x, i + 7);
    }
    v = agir_st_find(&f, "i16");
    for (int i = 0; i < 2; i++) {
        int16_t x;
        memcpy(&x, (const char *)v->data + 2 * i, 2);
        assert_int_equal(x, i - 300);
    }
    v = agir_st_find(&f, "i8");
    for (int i = 0; i < 4; i++) assert_int_equal(((const int8_t *)v->data)[i], i - 2);
    v = agir_st_find(&f, "u8");
    for (int i = 0; i < 3; i++) assert_int_equal(((const uint8_t *)v->data)[i], i + 250);
    v = agir_st_find(&f, "bool");
    assert_true(v->dtype == AGIR_DT_BOOL);
    assert_memory_equal(v->data, "\x01\x00\x01", 3);
    v = agir_st_find(&f, "empty");
    assert_true(v->dtype == AGIR_DT_I32 && v->ndim == 2 && v->shape[0] == 0 && v->shape[1] == 3 && v->nbytes == 0);
    agir_st_close(&f);
}

static void refuses_bad_framing(void **state) {
    (void)state;
    image im = craft("{}", NULL, 0);
    im.n = 0;
    refused(&im, "too short");
    im.n = 7;
    refused(&im, "too short");
    // Header length over 100,000,000 (the reference's limit), and one past the end of the file.
    im = craft("{}", NULL, 0);
    uint64_t big = 100000001ull;
    for (int i = 0; i < 8; i++) im.b[i] = (unsigned char)(big >> (8 * i));
    refused(&im, "limit");
    for (int i = 0; i < 8; i++) im.b[i] = 0xff;
    refused(&im, "limit");
    im = craft("{}", NULL, 0);
    im.b[0] = 3;
    refused(&im, "past the end");
    // Data missing at the end, or extra bytes after it.
    REFUSED("{" ENTRY("a", "F32", "[2]", 0, 8) "}", 7, "file holds only 7");
    REFUSED("{" ENTRY("a", "F32", "[2]", 0, 8) "}", 9, "1 trailing bytes");
    REFUSED("{}", 1, "trailing");
}

static void refuses_bad_json(void **state) {
    (void)state;
    REFUSED("{\"a\":", 0, "ends too early");
    REFUSED("{'a':1}", 0, "not valid JSON");
    REFUSED("{} {}", 0, "not valid JSON");
    REFUSED("[]", 0, "an array, not a JSON object");
    REFUSED("\"x\"", 0, "a string, not a JSON object");
    REFUSED("{\"a\xff\":1}", 0, "not valid UTF-8");
    REFUSED("{\"a\":\"\xc0\x80\"}", 0, "not valid UTF-8");  // overlong NUL
    REFUSED("{\"a\x01\":1}", 0, "control byte 0x01");
    REFUSED("{\"a\\u0000b\":1}", 0, "\\u0000");
    image im = craft("{}      ", NULL, 0);
    im.b[10] = '\0';  // a NUL inside the header, after the object
    refused(&im, "control byte 0x00");
}

static void refuses_bad_entries(void **state) {
    (void)state;
    REFUSED("{\"a\":5}", 0, "tensor 'a' is a number, not an object");
    REFUSED("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "has no dtype");
    REFUSED("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "has no shape");
    REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "has no data_offsets");
    REFUSED("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "dtype appears twice");
    REFUSED("{" ENTRY("a", "F33", "[1]", 0, 4) "}", 4, "unknown dtype 'F33'");
    REFUSED("{" ENTRY("a", "F8_E4M3", "[1]", 0, 1) "}", 1, "F8_E4M3 is not supported");
    REFUSED("{" ENTRY("a", "U32", "[1]", 0, 4) "}", 4, "U32 is not supported");
    REFUSED("{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "dtype is a number");
    REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,4]}}", 4, "shape is a number");
    REFUSED("{" ENTRY("a", "F32", "[-1]", 0, 4) "}", 4, "dimension 0 is negative");
    REFUSED("{" ENTRY("a", "F32", "[1.5]", 0, 4) "}", 4, "not an integer");
    REFUSED("{" ENTRY("a", "F32", "[\"1\"]", 0, 4) "}", 4, "dimension 0 is a string");
    REFUSED("{" ENTRY("a", "F32", "[1,1,1,1,1,1,1,1,1]", 0, 4) "}", 4, "9 dimensions");
    REFUSED("{" ENTRY("a", "F32", "[9007199254740992]", 0, 4) "}", 4, "too large");
    REFUSED("{" ENTRY("a", "F32", "[1e32]", 0, 4) "}", 4, "too large");  // found by the fuzzer (UB cast)
    REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,4]}}", 4, "two integers");
    REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "two integers");
    REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{\"0\":4}}}", 4, "two integers");
    REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,\"4\"]}}", 4, "data_offsets end is a string");
    REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0.5,4]}}", 4, "not an integer");
    REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,4]}}", 4, "negative");
}

static void refuses_bad_layout(void **state) {
    (void)state;
    REFUSED("{" ENTRY("a", "F32", "[1]", 4, 0) "}", 4, "end before they begin");
    REFUSED("{" ENTRY("a", "F32", "[1]", 4, 8) "}", 8, "a gap of 4 bytes");
    REFUSED("{" ENTRY("a", "F32", "[1]", 0, 4) "," ENTRY("b", "F32", "[1]", 8, 12) "}", 12, "'b': a gap of 4 bytes");
    REFUSED("{" ENTRY("a", "F32", "[2]", 0, 8) "," ENTRY("b", "F32", "[1]", 4, 8) "}", 8, "overlap");
    REFUSED("{" ENTRY("a", "F32", "[3]", 0, 8) "}", 8, "need 12 bytes");
    REFUSED("{" ENTRY("a", "I64", "[2]", 0, 8) "}", 8, "need 16 bytes");
    // 2^32 * 2^32 elements overflow 64 bits; 2^62 elements of 8 bytes overflow the byte count.
    REFUSED("{" ENTRY("a", "F32", "[4294967296,4294967296]", 0, 4) "}", 4, "overflows 64 bits");
    REFUSED("{" ENTRY("a", "F64", "[4611686018427387,1000]", 0, 4) "}", 4, "overflows 64 bits");
    REFUSED("{" ENTRY("a", "F32", "[1]", 0, 4) "," ENTRY("a", "F32", "[1]", 4, 8) "}", 8, "'a' appears more than once");
    REFUSED("{" ENTRY("z", "U8", "[0]", 0, 0) "," ENTRY("z", "U8", "[0]", 0, 0) "}", 0, "more than once");
}

static void refuses_bad_metadata(void **state) {
    (void)state;
    REFUSED("{\"__metadata__\":{\"k\":1}}", 0, "key 'k' is a number");
    REFUSED("{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", 0, "key 'k' is an object");
    REFUSED("{\"__metadata__\":[\"k\"]}", 0, "__metadata__ is an array");
    REFUSED("{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, "key 'k' appears more than once");
    REFUSED("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "__metadata__ appears more than once");
}

// ---------------------------------------------------------------------------------------------
// Writer

static agir_tensor_view view(const char *name, agir_dtype dt, int ndim, const int64_t *shape, const void *data,
                             size_t nbytes) {
    agir_tensor_view v;
    memset(&v, 0, sizeof v);
    v.name = name;
    v.dtype = dt;
    v.ndim = ndim;
    for (int d = 0; d < ndim; d++) v.shape[d] = shape[d];
    v.data = data;
    v.nbytes = nbytes;
    return v;
}

static void writer_round_trip(void **state) {
    (void)state;
    char dir[256], path[512];
    agir_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    float w[6] = {1, 2, 3, 4, 5, 6};
    int64_t ids[3] = {7, -8, 1LL << 40};
    unsigned char flags[3] = {1, 0, 1};
    uint16_t h[2] = {0x3c00, 0xc000};
    double s = 3.0;
    const int64_t sw[2] = {2, 3}, si[1] = {3}, sf[1] = {3}, sh[2] = {1, 2}, se[2] = {0, 5};
    // Caller order (not sorted by name or type), odd sizes, a scalar and an empty tensor.
    agir_tensor_view t[6] = {
        view("z.weight", AGIR_DT_F32, 2, sw, w, sizeof w),  view("flags", AGIR_DT_BOOL, 1, sf, flags, 3),
        view("ids", AGIR_DT_I64, 1, si, ids, sizeof ids),   view("half\"quote", AGIR_DT_F16, 2, sh, h, 4),
        view("scalar", AGIR_DT_F64, 0, NULL, &s, 8),        view("empty", AGIR_DT_F32, 2, se, NULL, 0),
    };
    agir_st_kv meta[2] = {{"format", "pt"}, {"step", "12"}};
    agir_err e;
    agir_err_clear(&e);
    assert_int_equal(agir_st_write(path, t, 6, meta, 2, &e), AGIR_OK);
    assert_int_equal(agir_test_count_entries(dir, ""), 1);  // no temporary left behind

    agir_st_file f;
    assert_int_equal(agir_st_open(path, &f, &e), AGIR_OK);
    assert_int_equal(f.n, 6);
    assert_int_equal(f.header_len % 8, 0);
    // Padding is spaces after the closing brace, as the reference writer does.
    const char *hdr = (const char *)f.map.data + 8;
    size_t k = f.header_len;
    while (k && hdr[k - 1] == ' ') k--;
    assert_true(k > 0 && hdr[k - 1] == '}');
    assert_true(f.header_len - k < 8);
    for (int i = 0; i < 6; i++) {
        // Stored in the caller's order, with the caller's bytes and shape.
        assert_string_equal(f.t[i].name, t[i].name);
        const agir_tensor_view *v = agir_st_find(&f, t[i].name);
        assert_ptr_equal(v, &f.t[i]);
        assert_int_equal(v->dtype, t[i].dtype);
        assert_int_equal(v->ndim, t[i].ndim);
        assert_memory_equal(v->shape, t[i].shape, sizeof v->shape);
        assert_int_equal(v->nbytes, t[i].nbytes);
        if (v->nbytes) assert_memory_equal(v->data, t[i].data, v->nbytes);
    }
    // The first tensor starts 8-byte aligned in the file.
    assert_int_equal(((const unsigned char *)f.t[0].data - f.map.data) % 8, 0);
    assert_string_equal(agir_st_meta(&f, "step"), "12");
    assert_string_equal(agir_st_meta(&f, "format"), "pt");
    agir_st_close(&f);

    // Nothing but metadata, then nothing at all.
    assert_int_equal(agir_st_write(path, NULL, 0, meta, 1, &e), AGIR_OK);
    assert_int_equal(agir_st_open(path, &f, &e), AGIR_OK);
    assert_int_equal(f.n, 0);
    assert_string_equal(agir_st_meta(&f, "format"), "pt");
    agir_st_close(&f);
    assert_int_equal(agir_st_write(path, NULL, 0, NULL, 0, &e), AGIR_OK);
    assert_int_equal(agir_st_open(path, &f, &e), AGIR_OK);
    assert_int_equal(f.n + f.n_meta, 0);
    agir_st_close(&f);
}

static void writer_refuses(void **state) {
    (void)state;
    char dir[256], path[512];
    agir_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    float x[2] = {0, 0};
    const int64_t s2[1] = {2}, s3[1] = {3};
    agir_tensor_view dup[2] = {view("a", AGIR_DT_F32, 1, s2, x, 8), view("a", AGIR_DT_F32, 1, s2, x, 8)};
    agir_err e;
    agir_err_clear(&e);
    assert_int_equal(agir_st_write(path, dup, 2, NULL, 0, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "'a' appears more than once"));
    agir_err_clear(&e);
    agir_tensor_view reserved = view("__metadata__", AGIR_DT_F32, 1, s2, x, 8);
    assert_int_equal(agir_st_write(path, &reserved, 1, NULL, 0, &e), AGIR_EINPUT);
    agir_err_clear(&e);
    agir_tensor_view q = view("q", AGIR_DT_Q4_1, 1, s2, x, 8);
    assert_int_equal(agir_st_write(path, &q, 1, NULL, 0, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "cannot be stored in safetensors"));
    agir_err_clear(&e);
    agir_tensor_view bad_utf8 = view("a\xff", AGIR_DT_F32, 1, s2, x, 8);
    assert_int_equal(agir_st_write(path, &bad_utf8, 1, NULL, 0, &e), AGIR_EINPUT);
    agir_err_clear(&e);
    agir_st_kv meta[2] = {{"k", "1"}, {"k", "2"}};
    assert_int_equal(agir_st_write(path, NULL, 0, meta, 2, &e), AGIR_EINPUT);
    // A view whose byte count disagrees with its shape is the caller's bug.
    agir_err_clear(&e);
    agir_tensor_view lying = view("a", AGIR_DT_F32, 1, s3, x, 8);
    assert_int_equal(agir_st_write(path, &lying, 1, NULL, 0, &e), AGIR_EINTERNAL);
    assert_int_equal(agir_test_count_entries(dir, ""), 0);  // nothing written by any refusal
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_valid_files),   cmocka_unit_test(reads_reference_file),
        cmocka_unit_test(refuses_bad_framing),
        cmocka_unit_test(refuses_bad_json),    cmocka_unit_test(refuses_bad_entries),
        cmocka_unit_test(refuses_bad_layout),  cmocka_unit_test(refuses_bad_metadata),
        cmocka_unit_test(writer_round_trip),   cmocka_unit_test(writer_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
