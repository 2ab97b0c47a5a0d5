// Helpers shared by the structured fuzz harnesses (fuzz_gait_h5.c, fuzz_tokens.c): an input cursor whose missing bytes read as 0, so every input
// describes something, and the error-class oracle.
#ifndef AGIR_FUZZ_UTIL_H
#define AGIR_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

typedef struct fuzz_src {
    const uint8_t *p;
    size_t n;
} fuzz_src;

static inline uint8_t fuzz_u8(fuzz_src *s) {
    if (!s->n) return 0;
    s->n--;
    return *s->p++;
}

// A string of at most max bytes from the input: length byte % (max + 1), then raw bytes with
// the low bit set (no NUL inside). out holds max + 1 bytes.
static inline void fuzz_take_str(fuzz_src *s, char *out, int max) {
    int n = fuzz_u8(s) % (max + 1);
    for (int i = 0; i < n; i++) out[i] = (char)(fuzz_u8(s) | 1);
    out[n] = '\0';
}

// A parser's failure must be AGIR_EINPUT with one non-empty line that starts with `name`;
// anything else (an internal error, a wrong class, a bad message) is a finding.
static inline void fuzz_check_error(int rc, const agir_err *e, const char *name) {
    if (rc == AGIR_OK) return;
    if (rc != AGIR_EINPUT || e->code != AGIR_EINPUT || !e->msg[0] || strchr(e->msg, '\n') ||
        strncmp(e->msg, name, strlen(name))) {
        fprintf(stderr, "bad error: rc %d: %s\n", rc, e->msg);
        abort();
    }
}

#endif
