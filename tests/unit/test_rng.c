// Philox: the Random123 known-answer vectors, streams, determinism and distribution sanity.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "testutil.h"

static void known_answers(void **state) {
    (void)state;
    // Known-answer tests of Philox4x32-10 from Random123's kat_vectors.
    uint32_t out[4];
    const uint32_t c0[4] = {0, 0, 0, 0}, k0[2] = {0, 0};
    agir_philox4x32(c0, k0, out);
    assert_int_equal(out[0], 0x6627e8d5u);
    assert_int_equal(out[1], 0xe169c58du);
    assert_int_equal(out[2], 0xbc57ac4cu);
    assert_int_equal(out[3], 0x9b00dbd8u);
    const uint32_t c1[4] = {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, k1[2] = {0xffffffffu, 0xffffffffu};
    agir_philox4x32(c1, k1, out);
    assert_int_equal(out[0], 0x408f276du);
    assert_int_equal(out[1], 0x41c83b0eu);
    assert_int_equal(out[2], 0xa20bc7c6u);
    assert_int_equal(out[3], 0x6d5451fdu);
    const uint32_t c2[4] = {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, k2[2] = {0xa4093822u, 0x299f31d0u};
    agir_philox4x32(c2, k2, out);
    assert_int_equal(out[0], 0xd16cfe09u);
    assert_int_equal(out[1], 0x94fdccebu);
    assert_int_equal(out[2], 0x5001e420u);
    assert_int_equal(out[3], 0x24126ea1u);
}

static void streams_are_reproducible_and_distinct(void **state) {
    (void)state;
    agir_rng a, b, c;
    agir_rng_init(&a, 42, 1);
    agir_rng_init(&b, 42, 1);
    agir_rng_init(&c, 42, 2);
    int same_ac = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t x = agir_rng_u32(&a), y = agir_rng_u32(&b), z = agir_rng_u32(&c);
        assert_int_equal(x, y);
        same_ac += x == z;
    }
    assert_true(same_ac < 3);
    agir_rng p, ch1, ch2;
    agir_rng_init(&p, 7, 0);
    agir_rng_child(&p, 5, &ch1);
    for (int i = 0; i < 10; i++) agir_rng_u32(&p);
    agir_rng_child(&p, 5, &ch2);  // children do not depend on the parent's position
    assert_int_equal(agir_rng_u64(&ch1), agir_rng_u64(&ch2));
}

static void distributions(void **state) {
    (void)state;
    agir_rng r;
    agir_rng_init(&r, 1, 0);
    const int n = 200000;
    double s = 0, s2 = 0, us = 0;
    int hist[10];
    memset(hist, 0, sizeof hist);
    for (int i = 0; i < n; i++) {
        double x = agir_rng_normal(&r);
        s += x, s2 += x * x;
        double u = agir_rng_uniform(&r);
        assert_true(u >= 0 && u < 1);
        us += u;
        hist[agir_rng_below(&r, 10)]++;
    }
    assert_true(fabs(s / n) < 0.01);
    assert_true(fabs(s2 / n - 1) < 0.02);
    assert_true(fabs(us / n - 0.5) < 0.005);
    for (int k = 0; k < 10; k++) assert_true(abs(hist[k] - n / 10) < n / 100);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_answers),
        cmocka_unit_test(streams_are_reproducible_and_distinct),
        cmocka_unit_test(distributions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
