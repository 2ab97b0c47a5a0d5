// Tokenizer core: the neutral description (vocabulary, merges, added tokens), its hash tables,
// the added-token split of the input text, encode/decode, and the motion-token extension.
// Behaviour follows HF `tokenizers` (github.com/huggingface/tokenizers: AddedVocabulary splits
// on added tokens leftmost-longest before normalizing; models/bpe merges by rank).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "models/tokenizer_impl.h"

int tok_grow(void **p, size_t *cap, size_t need, size_t elem, agir_err *e) {
    if (need <= *cap) return AGIR_OK;
    size_t ncap = *cap ? *cap : 64, bytes;
    while (ncap < need) ncap *= 2;
    if (agir_mul_ok(ncap, elem, &bytes)) return AGIR_BUG(e, "tokenizer buffer size overflows");
    void *q = realloc(*p, bytes);
    if (!q) return AGIR_BUG(e, "out of memory (%zu bytes) in the tokenizer", bytes);
    *p = q;
    *cap = ncap;
    return AGIR_OK;
}

// FNV-1a: vocabulary strings are short, so a simple byte hash is enough.
static uint32_t hash_str(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static uint64_t hash_u64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

int agir_tok_new(agir_tok **out, int kind, agir_err *e) {
    *out = NULL;
    if (kind != AGIR_TOK_BYTE_BPE && kind != AGIR_TOK_SPM_BPE) return AGIR_BUG(e, "bad tokenizer kind %d", kind);
    agir_tok *t = calloc(1, sizeof *t);
    if (!t) return AGIR_BUG(e, "out of memory");
    t->kind = kind;
    t->unk = -1;
    t->max_ids = TOK_MAX_ID;
    *out = t;
    return AGIR_OK;
}

void agir_tok_free(agir_tok *t) {
    if (!t) return;
    for (int32_t i = 0; i < t->cap; i++) free(t->tok[i].s);
    free(t->tok);
    free(t->smap);
    free(t->mmap);
    for (int i = 0; i < t->nre; i++) pcre2_code_free(t->re[i]);
    free(t->added);
    free(t);
}

int32_t agir_tok_find(const agir_tok *t, const char *s, size_t n) {
    if (!t->smap_cap) return -1;
    uint32_t mask = t->smap_cap - 1;
    for (uint32_t i = hash_str(s, n) & mask;; i = (i + 1) & mask) {
        int32_t id = t->smap[i];
        if (id < 0) return -1;
        if (t->tok[id].len == n && !memcmp(t->tok[id].s, s, n)) return id;
    }
}

static void smap_put(agir_tok *t, int32_t id) {
    uint32_t mask = t->smap_cap - 1;
    uint32_t i = hash_str(t->tok[id].s, t->tok[id].len) & mask;
    while (t->smap[i] >= 0) i = (i + 1) & mask;
    t->smap[i] = id;
    t->smap_used++;
}

// Keeps the string table at most half full.
static int smap_reserve(agir_tok *t, agir_err *e) {
    if ((uint64_t)(t->smap_used + 1) * 2 <= t->smap_cap) return AGIR_OK;
    uint32_t ncap = t->smap_cap ? t->smap_cap * 2 : 1024;
    int32_t *m = malloc(sizeof *m * ncap);
    if (!m) return AGIR_BUG(e, "out of memory");
    memset(m, 0xff, sizeof *m * ncap);
    free(t->smap);
    t->smap = m;
    t->smap_cap = ncap;
    t->smap_used = 0;
    for (int32_t id = 0; id < t->n; id++)
        if (t->tok[id].s) smap_put(t, id);
    return AGIR_OK;
}

int agir_tok_expect(agir_tok *t, int64_t n, const char *src, agir_err *e) {
    if (n < 1 || n > TOK_MAX_ID)
        return AGIR_BAD(e, "%s: %lld tokens (hint: a vocabulary holds 1..%d tokens)", src, (long long)n, TOK_MAX_ID);
    t->max_ids = n;
    return AGIR_OK;
}

int agir_tok_set(agir_tok *t, int64_t id, const char *s, size_t n, unsigned flags, const char *src, agir_err *e) {
    if (id < 0 || id >= t->max_ids)
        return AGIR_BAD(e, "%s: token id %lld out of range (hint: the file declares %lld tokens, so ids are 0..%lld)", src,
                        (long long)id, (long long)t->max_ids, (long long)t->max_ids - 1);
    if (n == 0 || n > 4096)
        return AGIR_BAD(e, "%s: token %lld has %s string (hint: token strings are 1..4096 bytes)", src,
                        (long long)id, n ? "an over-long" : "an empty");
    if (!agir_utf8_valid(s, n)) return AGIR_BAD(e, "%s: token %lld is not valid UTF-8 (hint: tokenizer files hold UTF-8 strings)", src, (long long)id);
    int32_t have = agir_tok_find(t, s, n);
    if (have >= 0 && have != id)
        return AGIR_BAD(e, "%s: token '%.*s' has two ids, %d and %lld (hint: each string needs one id)", src,
                        (int)(n > 64 ? 64 : n), s, have, (long long)id);
    if (id < t->cap && t->tok[id].s) {
        if (have != id)
            return AGIR_BAD(e, "%s: id %lld names two tokens, '%.*s' and '%.*s' (hint: each id needs one string)", src, (long long)id,
                            (int)(t->tok[id].len > 64 ? 64 : t->tok[id].len), t->tok[id].s, (int)(n > 64 ? 64 : n), s);
        t->tok[id].flags |= flags;
        return AGIR_OK;
    }
    size_t cap = (size_t)t->cap;
    if (tok_grow((void **)&t->tok, &cap, (size_t)id + 1, sizeof *t->tok, e)) return AGIR_EINTERNAL;
    memset(t->tok + t->cap, 0, (cap - (size_t)t->cap) * sizeof *t->tok);
    t->cap = (int32_t)cap;
    AGIR_TRY(smap_reserve(t, e));
    char *copy = malloc(n + 1);
    if (!copy) return AGIR_BUG(e, "out of memory");
    memcpy(copy, s, n);
    copy[n] = '\0';
    t->tok[id] = (tok_entry){copy, (uint32_t)n, flags};
    if (id >= t->n) t->n = (int32_t)id + 1;
    smap_put(t, (int32_t)id);
    return AGIR_OK;
}

static uint64_t pair_key(int32_t a, int32_t b) { return ((uint64_t)(a + 1) << 32) | (uint64_t)(b + 1); }

const tok_merge *tok_merge_find(const agir_tok *t, int32_t a, int32_t b) {
    if (!t->mmap_cap) return NULL;
    uint64_t key = pair_key(a, b);
    size_t mask = t->mmap_cap - 1;
    for (size_t i = hash_u64(key) & mask;; i = (i + 1) & mask) {
        if (t->mmap[i].key == key) return &t->mmap[i];
        if (!t->mmap[i].key) return NULL;
    }
}

static void mmap_put(tok_merge *m, size_t cap, tok_merge x) {
    size_t i = hash_u64(x.key) & (cap - 1);
    while (m[i].key) i = (i + 1) & (cap - 1);
    m[i] = x;
}

int agir_tok_add_merge(agir_tok *t, const char *a, size_t na, const char *b, size_t nb, const char *src,
                       agir_err *e) {
    int32_t ia = agir_tok_find(t, a, na), ib = agir_tok_find(t, b, nb);
    if (ia < 0 || ib < 0)
        return AGIR_BAD(e, "%s: merge %zu: '%.*s' is not in the vocabulary (hint: merges may only join vocabulary tokens)",
                        src, t->n_merges, (int)(ia < 0 ? (na > 64 ? 64 : na) : (nb > 64 ? 64 : nb)), ia < 0 ? a : b);
    char tmp[8192];
    if (na + nb > sizeof tmp) return AGIR_BAD(e, "%s: merge %zu: merged token too long", src, t->n_merges);
    memcpy(tmp, a, na);
    memcpy(tmp + na, b, nb);
    int32_t out = agir_tok_find(t, tmp, na + nb);
    if (out < 0)
        return AGIR_BAD(e, "%s: merge %zu: result '%.*s' is not in the vocabulary (hint: every merge needs its joined token)",
                        src, t->n_merges, (int)(na + nb > 64 ? 64 : na + nb), tmp);
    if (tok_merge_find(t, ia, ib))
        return AGIR_BAD(e, "%s: merge %zu: '%.*s %.*s' appears twice (hint: each pair merges once)", src, t->n_merges, (int)(na > 64 ? 64 : na), a,
                        (int)(nb > 64 ? 64 : nb), b);
    if ((t->n_merges + 1) * 2 > t->mmap_cap) {
        size_t ncap = t->mmap_cap ? t->mmap_cap * 2 : 4096;
        tok_merge *m = calloc(ncap, sizeof *m);
        if (!m) return AGIR_BUG(e, "out of memory");
        for (size_t i = 0; i < t->mmap_cap; i++)
            if (t->mmap[i].key) mmap_put(m, ncap, t->mmap[i]);
        free(t->mmap);
        t->mmap = m;
        t->mmap_cap = ncap;
    }
    if (t->n_merges >= INT32_MAX) return AGIR_BAD(e, "%s: too many merges", src);
    mmap_put(t->mmap, t->mmap_cap, (tok_merge){pair_key(ia, ib), (int32_t)t->n_merges, out});
    t->n_merges++;
    return AGIR_OK;
}

int agir_tok_add_regex(agir_tok *t, const char *pattern, const char *src, agir_err *e) {
    if (t->kind != AGIR_TOK_BYTE_BPE) return AGIR_BAD(e, "%s: regex pre-tokenizers need a byte-level model", src);
    return tok_regex_compile(t, pattern, src, e);
}

static int cmp_added(const void *pa, const void *pb, void *ctx) {
    const agir_tok *t = ctx;
    const tok_entry *a = &t->tok[*(const int32_t *)pa], *b = &t->tok[*(const int32_t *)pb];
    unsigned char fa = (unsigned char)a->s[0], fb = (unsigned char)b->s[0];
    if (fa != fb) return fa < fb ? -1 : 1;
    if (a->len != b->len) return a->len > b->len ? -1 : 1;  // longest first: leftmost-longest match
    return 0;
}

static int index_added(agir_tok *t, agir_err *e) {
    free(t->added);
    t->added = NULL;
    t->n_added = 0;
    for (int32_t id = 0; id < t->n; id++) t->n_added += (t->tok[id].flags & AGIR_TOKF_ADDED) != 0;
    t->added = malloc(sizeof *t->added * (size_t)(t->n_added ? t->n_added : 1));
    if (!t->added) return AGIR_BUG(e, "out of memory");
    int32_t k = 0;
    for (int32_t id = 0; id < t->n; id++)
        if (t->tok[id].flags & AGIR_TOKF_ADDED) t->added[k++] = id;
    qsort_r(t->added, (size_t)k, sizeof *t->added, cmp_added, t);
    uint32_t j = 0;
    for (int b = 0; b <= 256; b++) {
        while (j < (uint32_t)k && (unsigned char)t->tok[t->added[j]].s[0] < b) j++;
        t->added_at[b] = j;
    }
    return AGIR_OK;
}

int agir_tok_finish(agir_tok *t, const agir_tok_opts *o, const char *src, agir_err *e) {
    if (t->finished) return AGIR_BUG(e, "tokenizer finished twice");
    if (t->n == 0) return AGIR_BAD(e, "%s: the vocabulary is empty", src);
    for (int32_t id = 0; id < t->n; id++)
        if (!t->tok[id].s)
            return AGIR_BAD(e, "%s: token id %d is missing (hint: ids must be 0..%d without gaps)", src, id, t->n - 1);
    t->o = *o;
    t->o.unk = NULL;
    if (o->unk) {
        t->unk = agir_tok_find(t, o->unk, strlen(o->unk));
        if (t->unk < 0) return AGIR_BAD(e, "%s: unk token '%.64s' is not in the vocabulary (hint: add it to model.vocab or set unk_token to null)", src, o->unk);
    }
    for (int b = 0; b < 256; b++) {
        char s[8];
        int n = t->kind == AGIR_TOK_BYTE_BPE ? tok_byte_char((unsigned)b, s) : snprintf(s, sizeof s, "<0x%02X>", b);
        t->byte_id[b] = agir_tok_find(t, s, (size_t)n);  // -1: the byte becomes <unk> or is dropped
    }
    AGIR_TRY(index_added(t, e));
    t->finished = 1;
    return AGIR_OK;
}

int32_t agir_tok_n_vocab(const agir_tok *t) { return t->n; }
int agir_tok_kind(const agir_tok *t) { return t->kind; }
size_t agir_tok_n_merges(const agir_tok *t) { return t->n_merges; }

const char *agir_tok_str(const agir_tok *t, int32_t id, size_t *len, unsigned *flags) {
    if (id < 0 || id >= t->n) return NULL;
    if (len) *len = t->tok[id].len;
    if (flags) *flags = t->tok[id].flags;
    return t->tok[id].s;
}

void agir_ids_free(agir_ids *ids) {
    free(ids->id);
    free(ids->off);
    *ids = (agir_ids){0};
}

int tok_emit(tok_enc *c, int32_t id, uint32_t off) {
    agir_ids *o = c->out;
    if (o->n == o->cap) {
        size_t cap = o->cap, cap2 = o->cap;
        AGIR_TRY(tok_grow((void **)&o->id, &cap, o->n + 1, sizeof *o->id, c->e));
        AGIR_TRY(tok_grow((void **)&o->off, &cap2, o->n + 1, sizeof *o->off, c->e));
        o->cap = cap < cap2 ? cap : cap2;
    }
    o->id[o->n] = id;
    o->off[o->n++] = off;
    return AGIR_OK;
}

// Longest added token starting at p[0..n), or -1.
static int32_t match_added(const agir_tok *t, const char *p, size_t n, size_t *len) {
    unsigned char b = (unsigned char)p[0];
    for (uint32_t j = t->added_at[b]; j < t->added_at[b + 1]; j++) {
        const tok_entry *a = &t->tok[t->added[j]];
        if (a->len <= n && !memcmp(a->s, p, a->len)) {
            *len = a->len;
            return t->added[j];
        }
    }
    return -1;
}

static void enc_free(tok_enc *c) {
    for (int i = 0; i < TOK_MAX_REGEX; i++) pcre2_match_data_free(c->md[i]);
    free(c->sym);
    free(c->heap);
    free(c->buf);
    free(c->bmap);
}

int agir_tok_encode(const agir_tok *t, const char *text, size_t n, agir_ids *out, agir_err *e) {
    if (!t->finished) return AGIR_BUG(e, "tokenizer used before agir_tok_finish");
    if (n > (size_t)INT32_MAX) return AGIR_BAD(e, "input text: %zu bytes is too long (hint: at most 2 GiB)", n);
    long bad = agir_utf8_invalid_at(text, n);
    if (bad >= 0) return AGIR_BAD(e, "input text: invalid UTF-8 at byte %ld (hint: tokenizers take UTF-8 text)", bad);
    tok_enc c = {.t = t, .out = out, .e = e};
    int rc = AGIR_OK;
    for (int i = 0; i < t->nre && !rc; i++) {
        c.md[i] = pcre2_match_data_create_from_pattern(t->re[i], NULL);
        if (!c.md[i]) rc = AGIR_BUG(e, "out of memory");
    }
    size_t last = 0;
    for (size_t i = 0; i < n && !rc;) {
        size_t len;
        int32_t id = match_added(t, text + i, n - i, &len);
        if (id < 0) {
            i++;
            continue;
        }
        if (i > last) rc = tok_segment(&c, text + last, i - last, (uint32_t)last);
        if (!rc) rc = tok_emit(&c, id, (uint32_t)i);
        i += len;
        last = i;
    }
    if (!rc && last < n) rc = tok_segment(&c, text + last, n - last, (uint32_t)last);
    enc_free(&c);
    return rc;
}

static int buf_put(char **buf, size_t *len, size_t *cap, const void *s, size_t n, agir_err *e) {
    AGIR_TRY(tok_grow((void **)buf, cap, *len + n + 1, 1, e));
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return AGIR_OK;
}

static uint32_t utf8_next(const unsigned char *s, size_t n, size_t *i) {
    unsigned char c = s[*i];
    int k = (int)tok_utf8_len(c);
    uint32_t cp = k == 1 ? c : k == 2 ? c & 0x1f : k == 3 ? c & 0x0f : c & 0x07;
    for (int j = 1; j < k && *i + (size_t)j < n; j++) cp = (cp << 6) | (s[*i + (size_t)j] & 0x3f);
    *i += (size_t)k;
    return cp;
}

// Regular token text: byte-level tokens map their characters back to bytes (a token holding a
// character outside the alphabet is copied raw, as HF's ByteLevel decoder does); SentencePiece
// tokens turn ▁ into spaces and <0xXX> into the byte.
static int decode_piece(const agir_tok *t, int32_t id, char **buf, size_t *len, size_t *cap, agir_err *e) {
    const tok_entry *k = &t->tok[id];
    const unsigned char *s = (const unsigned char *)k->s;
    if (t->kind == AGIR_TOK_BYTE_BPE) {
        unsigned char tmp[4096];
        size_t m = 0;
        for (size_t i = 0; i < k->len;) {
            int b = tok_char_byte(utf8_next(s, k->len, &i));
            if (b < 0) return buf_put(buf, len, cap, k->s, k->len, e);
            tmp[m++] = (unsigned char)b;
        }
        return buf_put(buf, len, cap, tmp, m, e);
    }
    if (k->len == 6 && !memcmp(s, "<0x", 3)) {  // a byte-fallback token stands for its byte
        int b = (int)strtol((const char *)s + 3, NULL, 16);
        if (t->byte_id[b & 0xff] == id) {
            char c = (char)b;
            return buf_put(buf, len, cap, &c, 1, e);
        }
    }
    for (size_t i = 0; i < k->len;) {
        if (i + 3 <= k->len && !memcmp(s + i, "\xe2\x96\x81", 3)) {
            AGIR_TRY(buf_put(buf, len, cap, " ", 1, e));
            i += 3;
        } else {
            AGIR_TRY(buf_put(buf, len, cap, s + i, 1, e));
            i++;
        }
    }
    return AGIR_OK;
}

int agir_tok_decode(const agir_tok *t, const int32_t *ids, size_t n, int skip_special, char **out, size_t *len,
                    agir_err *e) {
    *out = NULL;
    *len = 0;
    char *buf = NULL;
    size_t blen = 0, cap = 0;
    int rc = tok_grow((void **)&buf, &cap, 1, 1, e);
    if (!rc) buf[0] = '\0';
    int first = 1;  // SentencePiece drops the space its first piece was given when encoding
    for (size_t i = 0; i < n && !rc; i++) {
        if (ids[i] < 0 || ids[i] >= t->n) {
            rc = AGIR_BAD(e, "ids[%zu]: token id %d out of range (hint: the vocabulary has %d tokens)", i, ids[i], t->n);
            break;
        }
        const tok_entry *k = &t->tok[ids[i]];
        if ((k->flags & AGIR_TOKF_SPECIAL) && skip_special) continue;
        size_t at = blen;
        if (k->flags & AGIR_TOKF_ADDED)
            rc = buf_put(&buf, &blen, &cap, k->s, k->len, e);
        else
            rc = decode_piece(t, ids[i], &buf, &blen, &cap, e);
        if (!rc && first && t->kind == AGIR_TOK_SPM_BPE && t->o.spm_prepend != AGIR_SPM_PREPEND_NEVER &&
            blen > at && buf[at] == ' ' && !(k->flags & AGIR_TOKF_ADDED) && k->len >= 3 && !memcmp(k->s, "\xe2\x96\x81", 3)) {
            memmove(buf + at, buf + at + 1, blen - at);
            blen--;
        }
        first = 0;
    }
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = blen;
    return AGIR_OK;
}

int agir_tok_add_motion(agir_tok *t, int k, int32_t *first, agir_err *e) {
    if (!t->finished) return AGIR_BUG(e, "tokenizer extended before agir_tok_finish");
    if (k < 1 || k > 65536) return AGIR_BAD(e, "motion codebook size %d out of range (hint: 1..65536)", k);
    char name[32];
    for (int i = 0; i < k + 2; i++) {
        int m = i < k ? snprintf(name, sizeof name, "<motion_id_%d>", i) : snprintf(name, sizeof name, i == k ? "<som>" : "<eom>");
        if (agir_tok_find(t, name, (size_t)m) >= 0)
            return AGIR_BAD(e, "tokenizer already holds '%s' (hint: extend the base tokenizer, not an extended one)", name);
    }
    *first = t->n;
    if ((int64_t)t->n + k + 2 > TOK_MAX_ID) return AGIR_BAD(e, "motion tokens: the vocabulary would pass %d tokens", TOK_MAX_ID);
    t->max_ids = (int64_t)t->n + k + 2;
    for (int i = 0; i < k + 2; i++) {
        int m = i < k ? snprintf(name, sizeof name, "<motion_id_%d>", i) : snprintf(name, sizeof name, i == k ? "<som>" : "<eom>");
        AGIR_TRY(agir_tok_set(t, t->n, name, (size_t)m, AGIR_TOKF_ADDED | AGIR_TOKF_SPECIAL, "motion tokens", e));
    }
    return index_added(t, e);
}
