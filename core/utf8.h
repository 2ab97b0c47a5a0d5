// UTF-8 validation shared by every reader of text from files (HDF5 strings, JSON, tokenizers).
#ifndef AGIR_UTF8_H
#define AGIR_UTF8_H

#include <stddef.h>

// Offset of the first byte of s[0..n) that breaks UTF-8 (overlong forms, surrogates and code
// points past U+10FFFF included), or -1 when all of it is valid.
long agir_utf8_invalid_at(const char *s, size_t n);

static inline int agir_utf8_valid(const char *s, size_t n) { return agir_utf8_invalid_at(s, n) < 0; }

#endif
