// UTF-8 validation shared by every reader of text from files (HDF5 strings, JSON, tokenizers).
#ifndef AGIR_UTF8_H
#define AGIR_UTF8_H

#include <stddef.h>

// Offset of the first byte of s[0..n) that breaks UTF-8 (overlong forms, surrogates and code
// points past U+10FFFF included), or -1 when all of it is valid.
long agir_utf8_invalid_at(const char *s, size_t n);

static inline int agir_utf8_valid(const char *s, size_t n) { return agir_utf8_invalid_at(s, n) < 0; }

// n minus the bytes of an incomplete character at the end of s[0..n): a lead byte followed by
// fewer continuation bytes than it announces (which more bytes could still complete). Text
// streamed out piece by piece is cut there, so that no piece ends inside a character.
size_t agir_utf8_complete(const char *s, size_t n);

// Copies s[0..n) to out (room for 3n bytes) with every byte that does not start a valid UTF-8
// character replaced by U+FFFD; returns the bytes written. Cutting the input where
// agir_utf8_complete says gives pieces whose sanitised forms concatenate to the whole's.
size_t agir_utf8_sanitize(const char *s, size_t n, char *out);

#endif
