// Private layout of agir_tok, shared by tokenizer.c (vocabulary, added tokens, encode/decode),
// bpe.c (the merge loop) and pretok.c (regex and SentencePiece pre-tokenization).
#ifndef AGIR_TOKENIZER_IMPL_H
#define AGIR_TOKENIZER_IMPL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "models/tokenizer.h"

enum { TOK_MAX_ID = 1 << 24, TOK_MAX_REGEX = 4 };

typedef struct tok_entry {
    char *s;  // NULL while the id has no token yet
    uint32_t len;
    uint32_t flags;
} tok_entry;

// Merge (a, b) -> out with priority rank (lower merges first). key 0 marks an empty slot.
typedef struct tok_merge {
    uint64_t key;  // ((a + 1) << 32) | (b + 1)
    int32_t rank, out;
} tok_merge;

struct agir_tok {
    int kind;
    tok_entry *tok;     // (cap,) indexed by id; ids [0, n) are in use
    int32_t n, cap;
    int64_t max_ids;    // ids must stay below this (the count of entries the source declares)
    int32_t *smap;      // (smap_cap,) open-addressing string -> id, -1 empty
    uint32_t smap_cap, smap_used;
    tok_merge *mmap;    // (mmap_cap,) open-addressing pair -> merge
    size_t mmap_cap, n_merges;
    pcre2_code *re[TOK_MAX_REGEX];
    int nre;
    agir_tok_opts o;
    int32_t unk;            // -1 when there is none
    int32_t byte_id[256];   // byte-level: token of each byte's character; SPM: <0xXX> token or -1
    int32_t *added;         // (n_added,) added-token ids sorted by first byte, longest first
    int32_t n_added;
    uint32_t added_at[257]; // added[added_at[b] .. added_at[b+1]) start with byte b
    int finished;
};

typedef struct tok_sym {
    int32_t id, prev, next;
    uint32_t off;  // byte offset in the caller's text of the symbol's first byte
    int alive;
} tok_sym;

typedef struct tok_cand {
    int32_t rank, pos, out;
} tok_cand;

// Scratch state of one encode call (encode is re-entrant: nothing lives in agir_tok).
typedef struct tok_enc {
    const agir_tok *t;
    agir_ids *out;
    agir_err *e;
    pcre2_match_data *md[TOK_MAX_REGEX];
    tok_sym *sym;
    size_t sym_cap;
    tok_cand *heap;
    size_t heap_cap;
    char *buf;       // normalized text (SPM) or mapped word (byte-level)
    uint32_t *bmap;  // (buf_cap,) original offset of each byte of buf
    size_t buf_cap;
} tok_enc;

int tok_grow(void **p, size_t *cap, size_t need, size_t elem, agir_err *e);
// Length of the UTF-8 character starting with byte b (the text was validated beforehand).
static inline size_t tok_utf8_len(unsigned char b) { return b < 0x80 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4; }
int tok_emit(tok_enc *c, int32_t id, uint32_t off);
const tok_merge *tok_merge_find(const agir_tok *t, int32_t a, int32_t b);

// bpe.c
// UTF-8 of the GPT-2 byte-to-unicode character of byte b (1 or 2 bytes) into out; returns length.
int tok_byte_char(unsigned b, char out[2]);
// Byte of a GPT-2 alphabet code point, or -1.
int tok_char_byte(uint32_t cp);
// Byte-level BPE of one pre-token text[0..n) starting at byte `off` of the caller's text.
int tok_bpe_bytes(tok_enc *c, const char *p, size_t n, uint32_t off);
// SentencePiece BPE of normalized bytes p[0..n) whose original offsets are offs[0..n).
int tok_bpe_spm(tok_enc *c, const char *p, size_t n, const uint32_t *offs);

// pretok.c
int tok_regex_compile(agir_tok *t, const char *pattern, const char *src, agir_err *e);
// Pre-tokenizes one run of text between added tokens and encodes its pieces.
int tok_segment(tok_enc *c, const char *p, size_t n, uint32_t off);

#endif
