// Fuzz harness for the tokenizer.json reader with the encode/decode round trip.
// Input: tokenizer.json bytes, optionally followed by a NUL byte and a text to encode.
// Checks: load errors are one-line input errors; a loaded tokenizer (extended with 3 motion
// tokens) encodes text or refuses it with a one-line input error; ids lie in the
// vocabulary; offsets never fall; when no character was dropped, decode gives the text back
// (byte-level exactly; SentencePiece up to the spaces its prepend rule adds or drops, when no
// character became <unk>).
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "models/tokenizer.h"

static void check_error(int rc, const agir_err *e) {
    if (rc != AGIR_EINPUT || !e->msg[0] || strchr(e->msg, '\n')) abort();
}

// Text without ' ' and U+2581 (SentencePiece's visible space), into a fresh buffer.
static char *squeeze(const char *s, size_t n, size_t *m) {
    char *o = malloc(n + 1);
    if (!o) abort();
    *m = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') continue;
        if (i + 3 <= n && !memcmp(s + i, "\xe2\x96\x81", 3)) {
            i += 2;
            continue;
        }
        o[(*m)++] = s[i];
    }
    return o;
}

static void round_trip(const agir_tok *t, const char *text, size_t n) {
    agir_ids ids = {0};
    agir_err e = {0};
    int rc = agir_tok_encode(t, text, n, &ids, &e);
    if (rc) {  // invalid UTF-8, or a character neither in the vocabulary nor coverable by <unk>
        check_error(rc, &e);
        agir_ids_free(&ids);
        return;
    }
    int32_t unk = agir_tok_find(t, "<unk>", 5);
    int has_unk = 0;
    for (size_t i = 0; i < ids.n; i++) {
        if (ids.id[i] < 0 || ids.id[i] >= agir_tok_n_vocab(t) || ids.off[i] > n) abort();
        if (i && ids.off[i] < ids.off[i - 1]) abort();
        has_unk |= ids.id[i] == unk;
    }
    char *out;
    size_t len;
    if (agir_tok_decode(t, ids.id, ids.n, 0, &out, &len, &e)) abort();
    int whole = ids.dropped == 0;  // characters without a token (and no <unk>) are gone, as in HF
    if (whole && agir_tok_kind(t) == AGIR_TOK_BYTE_BPE) {
        if (len != n || memcmp(out, text, n)) abort();
    } else if (whole && !has_unk) {
        size_t a, b;
        char *x = squeeze(out, len, &a), *y = squeeze(text, n, &b);
        if (a != b || memcmp(x, y, a)) abort();
        free(x);
        free(y);
    }
    free(out);
    agir_ids_free(&ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t json_len = nul ? (size_t)(nul - data) : size;
    agir_tok *t = NULL;
    agir_err e = {0};
    int rc = agir_tok_parse_json(&t, (const char *)data, json_len, "fuzz.json", &e);
    if (rc) {
        check_error(rc, &e);
        if (t) abort();
        return 0;
    }
    int32_t first;
    rc = agir_tok_add_motion(t, 3, &first, &e);
    if (rc) check_error(rc, &e);  // the file may hold <som> already
    else if (first + 5 != agir_tok_n_vocab(t)) abort();
    const char *text = nul ? (const char *)nul + 1 : "Hello  world 123 <som><motion_id_2><eom>\n";
    round_trip(t, text, nul ? size - json_len - 1 : strlen(text));
    agir_tok_free(t);
    return 0;
}
