// UTF-8 validation (RFC 3629).
#include "core/utf8.h"

long agir_utf8_invalid_at(const char *str, size_t n) {
    static const unsigned min_cp[4] = {0, 0x80, 0x800, 0x10000};
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        int k = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : -1;
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
