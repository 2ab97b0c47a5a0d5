// The BPE merge loop (a min-heap of candidate pairs by merge rank, as in HF tokenizers'
// models/bpe/word.rs), the GPT-2 byte-to-unicode alphabet, and the two ways a word becomes
// initial symbols: bytes (byte-level BPE) or characters with <0xXX> byte fallback (SentencePiece).
#include <string.h>

#include "models/tokenizer_impl.h"

// GPT-2's bytes_to_unicode (openai/gpt-2 src/encoder.py): printable Latin-1 bytes stand for
// themselves, the other 68 bytes are shifted to U+0100.. in byte order, so no byte maps to a
// space or control character.
static int printable(unsigned b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174; }

static uint32_t byte_cp(unsigned b) {
    if (printable(b)) return b;
    uint32_t k = 0;
    for (unsigned x = 0; x < b; x++) k += !printable(x);
    return 256 + k;
}

int tok_byte_char(unsigned b, char out[2]) {
    uint32_t cp = byte_cp(b);
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xc0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
}

int tok_char_byte(uint32_t cp) {
    if (cp < 256) return printable(cp) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1;
    uint32_t k = 0;
    for (unsigned x = 0; x < 256; x++)
        if (!printable(x) && k++ == cp - 256) return (int)x;
    return -1;
}

static int heap_less(const tok_cand *a, const tok_cand *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static int heap_push(tok_enc *c, size_t *n, tok_cand x) {
    AGIR_TRY(tok_grow((void **)&c->heap, &c->heap_cap, *n + 1, sizeof *c->heap, c->e));
    size_t i = (*n)++;
    while (i && heap_less(&x, &c->heap[(i - 1) / 2])) {
        c->heap[i] = c->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    c->heap[i] = x;
    return AGIR_OK;
}

static tok_cand heap_pop(tok_enc *c, size_t *n) {
    tok_cand top = c->heap[0], x = c->heap[--*n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        const tok_cand *best = &x;
        if (l < *n && heap_less(&c->heap[l], best)) best = &c->heap[m = l];
        if (l + 1 < *n && heap_less(&c->heap[l + 1], best)) best = &c->heap[m = l + 1];
        if (m == i) break;
        c->heap[i] = *best;
        i = m;
    }
    if (*n) c->heap[i] = x;
    return top;
}

// Queues the pair starting at symbol i when a merge exists for it.
static int candidate(tok_enc *c, size_t *nh, int32_t i) {
    int32_t j = c->sym[i].next;
    if (j < 0) return AGIR_OK;
    const tok_merge *m = tok_merge_find(c->t, c->sym[i].id, c->sym[j].id);
    return m ? heap_push(c, nh, (tok_cand){m->rank, i, m->out}) : AGIR_OK;
}

// Merges the n linked symbols in c->sym until no ranked pair is left, then emits them.
static int merge_and_emit(tok_enc *c, int32_t n) {
    size_t nh = 0;
    for (int32_t i = 0; i + 1 < n; i++) AGIR_TRY(candidate(c, &nh, i));
    while (nh) {
        tok_cand top = heap_pop(c, &nh);
        tok_sym *s = &c->sym[top.pos];
        if (!s->alive || s->next < 0) continue;
        tok_sym *r = &c->sym[s->next];
        const tok_merge *m = tok_merge_find(c->t, s->id, r->id);
        if (!m || m->out != top.out) continue;  // stale: one side was merged since it was queued
        s->id = top.out;
        r->alive = 0;
        s->next = r->next;
        if (s->next >= 0) c->sym[s->next].prev = top.pos;
        if (s->prev >= 0) AGIR_TRY(candidate(c, &nh, s->prev));
        AGIR_TRY(candidate(c, &nh, top.pos));
    }
    for (int32_t i = 0; i >= 0 && i < n; i = c->sym[i].next) AGIR_TRY(tok_emit(c, c->sym[i].id, c->sym[i].off));
    return AGIR_OK;
}

static int add_sym(tok_enc *c, int32_t *n, int32_t id, uint32_t off) {
    AGIR_TRY(tok_grow((void **)&c->sym, &c->sym_cap, (size_t)*n + 1, sizeof *c->sym, c->e));
    c->sym[*n] = (tok_sym){id, *n - 1, -1, off, 1};
    if (*n) c->sym[*n - 1].next = *n;
    (*n)++;
    return AGIR_OK;
}

// A character (or byte) with no symbol: <unk>, fused with a preceding <unk> when fuse_unk, or
// dropped and counted when the model has no unk token, as HF's BPE does.
static int unknown(tok_enc *c, int32_t *ns, int *unk_open, uint32_t off) {
    const agir_tok *t = c->t;
    if (t->unk < 0) {
        c->out->dropped++;
        return AGIR_OK;
    }
    if (*unk_open && t->o.fuse_unk) return AGIR_OK;
    *unk_open = 1;
    return add_sym(c, ns, t->unk, off);
}

int tok_bpe_bytes(tok_enc *c, const char *p, size_t n, uint32_t off) {
    const agir_tok *t = c->t;
    if (t->o.ignore_merges) {  // Llama-3: a word that is a whole vocabulary token is not merged
        size_t len = 0;
        AGIR_TRY(tok_grow((void **)&c->buf, &c->buf_cap, 2 * n, 1, c->e));
        for (size_t i = 0; i < n; i++) len += (size_t)tok_byte_char((unsigned char)p[i], c->buf + len);
        int32_t id = agir_tok_find(t, c->buf, len);
        if (id >= 0) return tok_emit(c, id, off);
    }
    int32_t ns = 0;
    int unk_open = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->byte_id[(unsigned char)p[i]];
        if (id < 0) {
            AGIR_TRY(unknown(c, &ns, &unk_open, off + (uint32_t)i));
            continue;
        }
        AGIR_TRY(add_sym(c, &ns, id, off + (uint32_t)i));
        unk_open = 0;
    }
    return merge_and_emit(c, ns);
}

int tok_bpe_spm(tok_enc *c, const char *p, size_t n, const uint32_t *offs) {
    const agir_tok *t = c->t;
    int32_t ns = 0;
    int unk_open = 0;  // the last symbol is an unknown-character run (fuse_unk joins them)
    for (size_t i = 0; i < n;) {
        size_t k = tok_utf8_len((unsigned char)p[i]);
        int32_t id = agir_tok_find(t, p + i, k);
        int fallback = id < 0 && t->o.byte_fallback;
        for (size_t j = 0; fallback && j < k; j++) fallback = t->byte_id[(unsigned char)p[i + j]] >= 0;
        if (id >= 0 || fallback) {
            for (size_t j = 0; j < (id >= 0 ? 1 : k); j++)
                AGIR_TRY(add_sym(c, &ns, id >= 0 ? id : t->byte_id[(unsigned char)p[i + j]], offs[i + j]));
            unk_open = 0;
        } else {
            AGIR_TRY(unknown(c, &ns, &unk_open, offs[i]));
        }
        i += k;
    }
    return merge_and_emit(c, ns);
}
