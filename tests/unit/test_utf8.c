// UTF-8 helpers of core/utf8.c: validation offsets, where a stream of text may be cut
// (agir_utf8_complete), and sanitising (agir_utf8_sanitize), including that text cut where
// agir_utf8_complete says sanitises piece by piece to the same bytes as in one go.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/utf8.h"
#include "testutil.h"

static void invalid_at(void **state) {
    (void)state;
    assert_int_equal(agir_utf8_invalid_at("abc", 3), -1);
    assert_int_equal(agir_utf8_invalid_at("\xe4\xbd\xa0\xe5\xa5\xbd", 6), -1);  // 你好
    assert_int_equal(agir_utf8_invalid_at("ab\xff", 3), 2);
    assert_int_equal(agir_utf8_invalid_at("a\xe4\xbd", 3), 1);   // cut short
    assert_int_equal(agir_utf8_invalid_at("\xc0\xaf", 2), 0);    // overlong
    assert_int_equal(agir_utf8_invalid_at("\xed\xa0\x80", 3), 0);  // surrogate
}

static void complete(void **state) {
    (void)state;
    const char *hello = "\xe4\xbd\xa0\xe5\xa5\xbd";  // 你好
    assert_int_equal(agir_utf8_complete(hello, 6), 6);
    assert_int_equal(agir_utf8_complete(hello, 5), 3);
    assert_int_equal(agir_utf8_complete(hello, 4), 3);
    assert_int_equal(agir_utf8_complete(hello, 3), 3);
    assert_int_equal(agir_utf8_complete(hello, 1), 0);
    const char *smile = "a\xf0\x9f\x98\x80";  // a😀
    for (size_t n = 2; n < 5; n++) assert_int_equal(agir_utf8_complete(smile, n), 1);
    assert_int_equal(agir_utf8_complete(smile, 5), 5);
    assert_int_equal(agir_utf8_complete("ab", 2), 2);
    assert_int_equal(agir_utf8_complete("", 0), 0);
    // Bytes that can never complete are not held back: sanitising decides about them.
    assert_int_equal(agir_utf8_complete("a\xff", 2), 2);
    assert_int_equal(agir_utf8_complete("a\x80", 2), 2);
}

static void sanitize(void **state) {
    (void)state;
    char out[64];
    size_t n = agir_utf8_sanitize("a\xffz", 3, out);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "a\xef\xbf\xbdz", 5);
    n = agir_utf8_sanitize("\xe4\xbd\xa0", 3, out);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "\xe4\xbd\xa0", 3);
    n = agir_utf8_sanitize("\xe4\xbd" "A", 3, out);  // a broken character: one U+FFFD per byte
    assert_int_equal(n, 7);
    assert_memory_equal(out, "\xef\xbf\xbd\xef\xbf\xbd" "A", 7);
}

// Random byte strings of likely-UTF-8 material cut at random places, each piece ending where
// agir_utf8_complete says (as a stream does): the pieces' sanitised bytes are the whole's, and valid.
static void pieces_match_whole(void **state) {
    (void)state;
    static const unsigned char material[] = {'a', ' ', 0xc3, 0xa9, 0xe4, 0xbd, 0xa0, 0xf0, 0x9f, 0x98, 0x80, 0x80,
                                             0xff, 0xed, 0xa0, 0xc0};
    agir_rng r;
    agir_rng_init(&r, 11, 0);
    for (int round = 0; round < 2000; round++) {
        char s[48], whole[200], parts[200];
        size_t n = agir_rng_below(&r, sizeof s);
        for (size_t i = 0; i < n; i++) s[i] = (char)material[agir_rng_below(&r, sizeof material)];
        size_t end = agir_utf8_complete(s, n);  // the final piece drops an incomplete character
        size_t w = agir_utf8_sanitize(s, end, whole), p = 0, at = 0;
        while (at < end) {
            size_t upto = at + agir_rng_below(&r, (uint32_t)(end - at) + 1);
            upto = agir_utf8_complete(s, upto);
            if (upto <= at) upto = end;
            p += agir_utf8_sanitize(s + at, upto - at, parts + p);
            at = upto;
        }
        assert_int_equal(p, w);
        assert_memory_equal(parts, whole, w);
        assert_int_equal(agir_utf8_invalid_at(whole, w), -1);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(invalid_at),
        cmocka_unit_test(complete),
        cmocka_unit_test(sanitize),
        cmocka_unit_test(pieces_match_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
