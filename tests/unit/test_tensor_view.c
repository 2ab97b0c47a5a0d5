// Tensor views: dtype sizes, element counts, and conversion to float32 of every type against
// values worked out by hand from the IEEE-754 and GGML block definitions.
#include <math.h>
#include <string.h>

#include "checkpoints/tensor_view.h"
#include "testutil.h"

static agir_tensor_view view_of(agir_dtype t, int64_t n, const void *data, size_t nbytes) {
    agir_tensor_view v = {.name = "t", .dtype = t, .ndim = 1, .data = data, .nbytes = nbytes};
    v.shape[0] = n;
    return v;
}

static void convert(agir_dtype t, int64_t n, const void *data, size_t nbytes, float *out) {
    agir_tensor_view v = view_of(t, n, data, nbytes);
    agir_err e = {0};
    assert_int_equal(agir_view_to_f32(&v, out, &e), 0);
}

static void names_and_sizes(void **state) {
    (void)state;
    assert_string_equal(agir_dtype_name(AGIR_DT_Q4_1), "Q4_1");
    assert_string_equal(agir_dtype_name(AGIR_DT_BF16), "BF16");
    assert_null(agir_dtype_name(AGIR_DT_COUNT));
    assert_null(agir_dtype_name((agir_dtype)-1));
    size_t b;
    assert_int_equal(agir_dtype_bytes(AGIR_DT_F32, 10, &b), 0);
    assert_int_equal(b, 40);
    // ggml-common.h: block_q8_0 = 2 + 32, block_q4_0 = 2 + 16, block_q4_1 = 4 + 16 bytes.
    assert_int_equal(agir_dtype_bytes(AGIR_DT_Q8_0, 64, &b), 0);
    assert_int_equal(b, 68);
    assert_int_equal(agir_dtype_bytes(AGIR_DT_Q4_0, 64, &b), 0);
    assert_int_equal(b, 36);
    assert_int_equal(agir_dtype_bytes(AGIR_DT_Q4_1, 64, &b), 0);
    assert_int_equal(b, 40);
    assert_int_equal(agir_dtype_bytes(AGIR_DT_Q4_1, 33, &b), 1);  // partial block
    assert_int_equal(agir_dtype_bytes(AGIR_DT_F64, UINT64_MAX / 4, &b), 1);  // overflow
    assert_int_equal(agir_dtype_bytes(AGIR_DT_COUNT, 1, &b), 1);
    assert_int_equal(agir_dtype_block_elems(AGIR_DT_Q8_0), 32);
    assert_int_equal(agir_dtype_block_elems(AGIR_DT_I16), 1);
}

static void numel(void **state) {
    (void)state;
    agir_tensor_view v = {.ndim = 3, .shape = {4, 5, 6}};
    uint64_t n;
    assert_int_equal(agir_view_numel(&v, &n), 0);
    assert_int_equal(n, 120);
    v.ndim = 0;  // a scalar
    assert_int_equal(agir_view_numel(&v, &n), 0);
    assert_int_equal(n, 1);
    agir_tensor_view big = {.ndim = 3, .shape = {INT64_MAX, INT64_MAX, 2}};
    assert_int_equal(agir_view_numel(&big, &n), 1);
    agir_tensor_view neg = {.ndim = 1, .shape = {-1}};
    assert_int_equal(agir_view_numel(&neg, &n), 1);
}

static void half_floats(void **state) {
    (void)state;
    // IEEE-754 binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits.
    assert_true(agir_f16_to_f32(0x3c00) == 1.0f);
    assert_true(agir_f16_to_f32(0xc000) == -2.0f);
    assert_true(agir_f16_to_f32(0x3555) == 0x1.554p-2f);
    assert_true(agir_f16_to_f32(0x7bff) == 65504.0f);           // largest finite
    assert_true(agir_f16_to_f32(0x0400) == ldexpf(1, -14));     // smallest normal
    assert_true(agir_f16_to_f32(0x0001) == ldexpf(1, -24));     // smallest subnormal
    assert_true(agir_f16_to_f32(0x03ff) == ldexpf(1023, -24));  // largest subnormal
    assert_true(agir_f16_to_f32(0x8200) == -ldexpf(512, -24));
    float nz = agir_f16_to_f32(0x8000);
    assert_true(nz == 0.0f && signbit(nz));
    assert_true(isinf(agir_f16_to_f32(0x7c00)) && agir_f16_to_f32(0x7c00) > 0);
    assert_true(isinf(agir_f16_to_f32(0xfc00)) && agir_f16_to_f32(0xfc00) < 0);
    assert_true(isnan(agir_f16_to_f32(0x7e00)));
    assert_true(isnan(agir_f16_to_f32(0xfc01)));
    // Through a view, from an unaligned address.
    unsigned char buf[1 + 4] = {0, 0x00, 0x3c, 0x01, 0x00};
    float out[2];
    convert(AGIR_DT_F16, 2, buf + 1, 4, out);
    assert_true(out[0] == 1.0f && out[1] == ldexpf(1, -24));
}

static void plain_types(void **state) {
    (void)state;
    float out[4];
    const uint16_t bf[3] = {0x3f80, 0xc0a0, 0x7f80};  // 1, -5, inf
    convert(AGIR_DT_BF16, 3, bf, sizeof bf, out);
    assert_true(out[0] == 1.0f && out[1] == -5.0f && isinf(out[2]));
    const double f64[3] = {0.1, -1e300, 1e300};
    convert(AGIR_DT_F64, 3, f64, sizeof f64, out);
    assert_true(out[0] == 0.1f && isinf(out[1]) && out[1] < 0 && isinf(out[2]));
    const int8_t i8[2] = {-128, 127};
    convert(AGIR_DT_I8, 2, i8, sizeof i8, out);
    assert_true(out[0] == -128.0f && out[1] == 127.0f);
    const uint8_t u8[2] = {0, 255};
    convert(AGIR_DT_U8, 2, u8, sizeof u8, out);
    assert_true(out[0] == 0.0f && out[1] == 255.0f);
    const int16_t i16[2] = {-32768, 1234};
    convert(AGIR_DT_I16, 2, i16, sizeof i16, out);
    assert_true(out[0] == -32768.0f && out[1] == 1234.0f);
    const int32_t i32[2] = {-7, 16777216};
    convert(AGIR_DT_I32, 2, i32, sizeof i32, out);
    assert_true(out[0] == -7.0f && out[1] == 16777216.0f);
    const int64_t i64[2] = {-3, (int64_t)1 << 40};
    convert(AGIR_DT_I64, 2, i64, sizeof i64, out);
    assert_true(out[0] == -3.0f && out[1] == ldexpf(1, 40));
    const uint8_t bools[3] = {0, 1, 7};
    convert(AGIR_DT_BOOL, 3, bools, sizeof bools, out);
    assert_true(out[0] == 0.0f && out[1] == 1.0f && out[2] == 1.0f);
    const float f32[2] = {3.5f, -0.25f};
    convert(AGIR_DT_F32, 2, f32, sizeof f32, out);
    assert_true(out[0] == 3.5f && out[1] == -0.25f);
}

// Block layouts (ggml-common.h): Q8_0 {f16 d; int8 qs[32]}, Q4_0 {f16 d; u8 qs[16]},
// Q4_1 {f16 d; f16 m; u8 qs[16]}; little-endian halves.
static void ggml_blocks(void **state) {
    (void)state;
    float out[64];
    unsigned char q8[2 * 34];
    for (int b = 0; b < 2; b++) {
        q8[34 * b] = 0x00;
        q8[34 * b + 1] = b ? 0xb8 : 0x38;  // d = 0.5, then -0.5
        for (int j = 0; j < 32; j++) q8[34 * b + 2 + j] = (unsigned char)(int8_t)(j * 8 - 128);
    }
    convert(AGIR_DT_Q8_0, 64, q8, sizeof q8, out);
    for (int j = 0; j < 32; j++) {
        assert_true(out[j] == 0.5f * (float)(j * 8 - 128));
        assert_true(out[32 + j] == -0.5f * (float)(j * 8 - 128));
    }

    // Q4_0: byte j holds weight j in its low nibble and weight j+16 in its high nibble; x=d*(q-8).
    unsigned char q40[18] = {0x00, 0x40};  // d = 2
    for (int j = 0; j < 16; j++) q40[2 + j] = (unsigned char)(j | (15 - j) << 4);
    convert(AGIR_DT_Q4_0, 32, q40, sizeof q40, out);
    for (int j = 0; j < 16; j++) {
        assert_true(out[j] == 2.0f * (float)(j - 8));
        assert_true(out[16 + j] == 2.0f * (float)(7 - j));
    }

    // Q4_1: x = d*q + m with d = 0.25, m = -1.
    unsigned char q41[20] = {0x00, 0x34, 0x00, 0xbc};
    for (int j = 0; j < 16; j++) q41[4 + j] = (unsigned char)(j | (15 - j) << 4);
    convert(AGIR_DT_Q4_1, 32, q41, sizeof q41, out);
    for (int j = 0; j < 16; j++) {
        assert_true(out[j] == 0.25f * (float)j - 1.0f);
        assert_true(out[16 + j] == 0.25f * (float)(15 - j) - 1.0f);
    }
}

static void inconsistent_view_is_a_bug(void **state) {
    (void)state;
    float out[32];
    unsigned char q41[20] = {0};
    agir_tensor_view v = view_of(AGIR_DT_Q4_1, 32, q41, 19);
    agir_err e = {0};
    assert_int_equal(agir_view_to_f32(&v, out, &e), AGIR_EINTERNAL);
    assert_non_null(strstr(e.msg, "'t'"));
    v = view_of(AGIR_DT_Q4_1, 31, q41, 20);
    agir_err_clear(&e);
    assert_int_equal(agir_view_to_f32(&v, out, &e), AGIR_EINTERNAL);
    v = view_of(AGIR_DT_COUNT, 1, q41, 1);
    agir_err_clear(&e);
    assert_int_equal(agir_view_to_f32(&v, out, &e), AGIR_EINTERNAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_and_sizes), cmocka_unit_test(numel),      cmocka_unit_test(half_floats),
        cmocka_unit_test(plain_types),     cmocka_unit_test(ggml_blocks), cmocka_unit_test(inconsistent_view_is_a_bug),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
