// Fuzz harness for the token store's validation (agir_tokens_read_image); modes and oracles are
// those of every HDF5 store harness (fuzz_h5.h).
//
// Structured mode (first byte < 0xF0): bytes 0..1 = fault flags (below), then counts, lengths,
// codes and string bytes, each read as needed (missing bytes read as 0). Bounded: <= 6 sequences,
// <= 8 codes each.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/h5io.h"
#include "datasets/tokens.h"
#include "fuzz_h5.h"

enum {
    F_FORMAT = 1 << 0,    // wrong format attribute
    F_VERSION = 1 << 1,   // version from input bytes
    F_HASH = 1 << 2,      // model hash from input bytes (may be empty or hold bad characters)
    F_IDENT = 1 << 3,     // codebook size, downsample, fps from a table with bad values
    F_CODES = 1 << 4,     // codes from input bytes (may be negative or past the codebook)
    F_IDS = 1 << 5,       // ids from input bytes (may be empty or collide)
    F_SLICES = 1 << 6,    // offsets/lengths from input bytes
    F_LABELS = 1 << 7,    // medication/score from input bytes
    F_COUNT = 1 << 8,     // one column one entry short or long
    F_CODES_T = 1 << 9,   // codes stored as int64
    F_EXTLINK = 1 << 10,  // an object replaced by an external link
    F_SOFTLINK = 1 << 11, // an object replaced by a soft link
    F_MISSING = 1 << 12,  // an object deleted
    F_FIXED = 1 << 13,    // fixed-length strings (valid: not a fault)
    F_NOATTRS = 1 << 14,  // no root attributes
};
#define FAULTS (0x7fff & ~F_FIXED)

enum { MAX_SEQ = 6, MAX_LEN = 8, MAX_STR = 12, MAX_CODES = MAX_SEQ * MAX_LEN };

typedef struct plan {
    uint32_t flags;
    int n_seq, n_codes;
    char hash[MAX_STR + 1], id[MAX_SEQ][MAX_STR + 1];
    int64_t book, down, fps;
    int64_t offset[MAX_SEQ + 1], length[MAX_SEQ + 1];
    int8_t med[MAX_SEQ + 1], score[MAX_SEQ + 1];
    int32_t codes[MAX_CODES + 1];
} plan;

static uint32_t decode(fuzz_src *s, plan *p) {
    memset(p, 0, sizeof *p);
    p->flags = (uint32_t)fuzz_u8(s) | (uint32_t)fuzz_u8(s) << 8;
    p->n_seq = fuzz_u8(s) % (MAX_SEQ + 1);
    static const int64_t books[4] = {512, 8, 1, 65536}, bad[8] = {0, -1, 1, 4, 1025, 1001, INT64_MAX, 20};
    p->book = books[fuzz_u8(s) % 4], p->down = 4, p->fps = 20;
    if (p->flags & F_IDENT) {
        p->book = bad[fuzz_u8(s) % 8], p->down = bad[fuzz_u8(s) % 8], p->fps = bad[fuzz_u8(s) % 8];
    }
    if (p->flags & F_HASH)
        fuzz_take_str(s, p->hash, MAX_STR);
    else
        snprintf(p->hash, sizeof p->hash, "sha256:%02x", fuzz_u8(s));
    for (int i = 0; i < p->n_seq; i++) {
        if (p->flags & F_IDS)
            fuzz_take_str(s, p->id[i], MAX_STR);
        else
            snprintf(p->id[i], sizeof p->id[i], "s%d", i);
        p->length[i] = 1 + fuzz_u8(s) % MAX_LEN;
        p->offset[i] = p->n_codes;
        p->n_codes += (int)p->length[i];
        if (p->flags & F_SLICES) p->offset[i] = (int8_t)fuzz_u8(s), p->length[i] = (int8_t)fuzz_u8(s);
        p->med[i] = (p->flags & F_LABELS) ? (int8_t)fuzz_u8(s) : (int8_t)(fuzz_u8(s) % 3 - 1);
        p->score[i] = (p->flags & F_LABELS) ? (int8_t)fuzz_u8(s) : (int8_t)(fuzz_u8(s) % 6 - 1);
    }
    int64_t book = p->book > 0 ? p->book : 1;
    for (int i = 0; i < p->n_codes; i++)
        p->codes[i] = (p->flags & F_CODES) ? (int32_t)(int8_t)fuzz_u8(s) * 97 : (int32_t)(fuzz_u8(s) % book);
    return p->flags & FAULTS;
}

// ---- writing the plan -----------------------------------------------------------------------

static int strings(agir_h5w *w, const plan *p, const char *path, int64_t n, const char *const *v, agir_err *e) {
    return fuzz_h5_strings(w, (p->flags & F_FIXED) != 0, path, n, v, e);
}

static int write_header(agir_h5w *w, const plan *p, fuzz_src *s, agir_err *e) {
    if (p->flags & F_NOATTRS) return AGIR_OK;
    AGIR_TRY(agir_h5w_attr_str(w, "/", "format", (p->flags & F_FORMAT) ? "agir-gait" : AGIR_TOKENS_FORMAT, e));
    AGIR_TRY(agir_h5w_attr_i64(w, "/", "version", (p->flags & F_VERSION) ? (int8_t)fuzz_u8(s) : 1, e));
    AGIR_TRY(agir_h5w_attr_str(w, "/", "model_hash", p->hash, e));
    AGIR_TRY(agir_h5w_attr_i64(w, "/", "codebook_size", p->book, e));
    AGIR_TRY(agir_h5w_attr_i64(w, "/", "downsample", p->down, e));
    return agir_h5w_attr_i64(w, "/", "model_fps", p->fps, e);
}

static int write_codes(agir_h5w *w, const plan *p, agir_err *e) {
    int64_t n = p->n_codes;
    if (!(p->flags & F_CODES_T)) return agir_h5w_write(w, "/codes", AGIR_H5_I32, 1, &n, p->codes, e);
    int64_t wide[MAX_CODES + 1];
    for (int i = 0; i < p->n_codes; i++) wide[i] = p->codes[i];
    return agir_h5w_write(w, "/codes", AGIR_H5_I64, 1, &n, wide, e);
}

static int write_sequences(agir_h5w *w, const plan *p, fuzz_src *s, agir_err *e) {
    int pick = fuzz_u8(s) % 6;
    const char *ids[MAX_SEQ + 1], *subj[MAX_SEQ + 1];
    for (int i = 0; i <= MAX_SEQ; i++) ids[i] = i < p->n_seq ? p->id[i] : "extra", subj[i] = "SUB01";
    int64_t n[6];
    for (int c = 0; c < 6; c++) n[c] = (p->flags & F_COUNT) && c == pick ? (p->n_seq ? p->n_seq - 1 : 1) : p->n_seq;
    // Buffers hold MAX_SEQ + 1 entries so a column one entry long still reads valid memory.
    AGIR_TRY(agir_h5w_group(w, "/sequences", e));
    AGIR_TRY(strings(w, p, "/sequences/id", n[0], ids, e));
    AGIR_TRY(strings(w, p, "/sequences/subject", n[1], subj, e));
    AGIR_TRY(agir_h5w_write(w, "/sequences/offset", AGIR_H5_I64, 1, &n[2], p->offset, e));
    AGIR_TRY(agir_h5w_write(w, "/sequences/length", AGIR_H5_I64, 1, &n[3], p->length, e));
    AGIR_TRY(agir_h5w_write(w, "/sequences/medication", AGIR_H5_I8, 1, &n[4], p->med, e));
    return agir_h5w_write(w, "/sequences/updrs_gait", AGIR_H5_I8, 1, &n[5], p->score, e);
}

static const char *const objects[] = {"/codes", "/sequences", "/sequences/id", "/sequences/offset",
                                      "/sequences/length", "/sequences/updrs_gait"};

static int build(agir_h5w *w, const plan *p, fuzz_src *s, agir_err *e) {
    AGIR_TRY(write_header(w, p, s, e));
    AGIR_TRY(write_codes(w, p, e));
    AGIR_TRY(write_sequences(w, p, s, e));
    fuzz_h5_spoil_link(w, objects, sizeof objects / sizeof *objects, s, p->flags & F_EXTLINK, p->flags & F_SOFTLINK,
                       p->flags & F_MISSING);
    return AGIR_OK;
}

// ---- oracles --------------------------------------------------------------------------------

// Every rule an accepted store must satisfy, checked without the reader's code.
static void check_accepted(const agir_tokens *t) {
    size_t hn = strlen(t->model_hash);
    if (hn == 0 || hn > AGIR_TOKENS_HASH_MAX || strspn(t->model_hash, "0123456789abcdefghijklmnopqrstuvwxyz"
                                                                      "ABCDEFGHIJKLMNOPQRSTUVWXYZ:._-") != hn)
        abort();
    if (t->codebook_size < 1 || t->codebook_size > INT32_MAX || t->downsample < 1 || t->model_fps < 1) abort();
    for (int64_t s = 0; s < t->n_seq; s++) {
        const agir_token_seq *q = &t->seq[s];
        if (!q->id[0] || q->length < 1 || q->offset < 0 || q->offset + q->length > t->n_codes) abort();
        if (q->updrs_gait < -1 || q->updrs_gait > 4 || q->medication < -1 || q->medication > 1) abort();
        for (int64_t r = 0; r < s; r++) {
            const agir_token_seq *o = &t->seq[r];
            if (!strcmp(q->id, o->id)) abort();
            if (q->offset < o->offset + o->length && o->offset < q->offset + q->length) abort();
        }
        for (int64_t i = 0; i < q->length; i++)
            if (agir_tokens_seq_codes(t, s)[i] < 0 || agir_tokens_seq_codes(t, s)[i] >= t->codebook_size) abort();
    }
}

// A description without faults must come back as written.
static void check_round_trip(const plan *p, const agir_tokens *t) {
    if (t->n_seq != p->n_seq || t->n_codes != p->n_codes || strcmp(t->model_hash, p->hash)) abort();
    if (t->codebook_size != p->book || t->downsample != p->down || t->model_fps != p->fps) abort();
    for (int i = 0; i < p->n_seq; i++) {
        const agir_token_seq *q = &t->seq[i];
        if (strcmp(q->id, p->id[i]) || q->offset != p->offset[i] || q->length != p->length[i]) abort();
        if (q->medication != p->med[i] || q->updrs_gait != p->score[i]) abort();
    }
    if (p->n_codes && memcmp(t->codes, p->codes, (size_t)p->n_codes * sizeof *p->codes)) abort();
}

FUZZ_H5_MAIN(plan, decode, build,
             agir_tokens, agir_tokens_read_image, agir_tokens_free, check_accepted, check_round_trip)
