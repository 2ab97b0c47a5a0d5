// UTF-8 validation (RFC 3629).
#include "core/utf8.h"

// Bytes that follow a lead byte c (0 for ASCII, -1 for a byte that cannot start a character).
static int follow(unsigned c) {
    return c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : -1;
}

long agir_utf8_invalid_at(const char *str, size_t n) {
    static const unsigned min_cp[4] = {0, 0x80, 0x800, 0x10000};
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        int k = follow(c);
        if (k < 0 || n - i <= (size_t)k) return (long)i;
        unsigned cp = k == 0 ? c : c & (0x3fu >> k);
        for (int j = 1; j <= k; j++) {
            if ((s[i + (size_t)j] & 0xc0) != 0x80) return (long)i;
            cp = cp << 6 | (s[i + (size_t)j] & 0x3fu);
        }
        if (cp < min_cp[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return (long)i;
        i += (size_t)k + 1;
    }
    return -1;
}

size_t agir_utf8_complete(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    // The last byte that is not a continuation byte, within the 3 before the end.
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned c = s[n - back];
        if ((c & 0xc0) == 0x80) continue;
        int k = follow(c);
        return k > 0 && (size_t)k >= back ? n - back : n;
    }
    return n;
}

size_t agir_utf8_sanitize(const char *str, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        int k = follow((unsigned char)str[i]);
        if (k >= 0 && n - i > (size_t)k && agir_utf8_invalid_at(str + i, (size_t)k + 1) < 0) {
            for (int j = 0; j <= k; j++) out[o++] = str[i + (size_t)j];
            i += (size_t)k + 1;
        } else {
            out[o++] = (char)0xef, out[o++] = (char)0xbf, out[o++] = (char)0xbd;
            i++;
        }
    }
    return o;
}
