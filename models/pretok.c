// Pre-tokenization: PCRE2 regex splits for byte-level BPE (named styles of GPT-2, Llama-3, Qwen2,
// SmolLM2) and the SentencePiece "▁" normalization, both producing the pieces BPE merges within.
//
// Regex sources (the same strings llama.cpp uses in src/llama-vocab.cpp for tokenizer.ggml.pre):
//   gpt2:      openai/gpt-2 src/encoder.py, also HF tokenizers pre_tokenizers/byte_level.rs.
//   llama-bpe: meta-llama/llama3 llama/tokenizer.py pat_str (Llama-3's tokenizer.json Split regex).
//   qwen2:     Qwen2 tokenizer.json Split regex (Llama-3's with single digits, \p{N}).
//   smollm:    SmolLM2's tokenizer.json: Digits(individual_digits) then the GPT-2 ByteLevel regex,
//              i.e. \p{N} isolated first (llama.cpp LLAMA_VOCAB_PRE_TYPE_SMOLLM).
// PCRE2 runs with UTF and UCP so \s, \p{L}, \p{N} follow Unicode properties as Oniguruma's do in
// HF tokenizers.
#include <string.h>

#include "models/tokenizer_impl.h"

#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define RE_LLAMA3_HEAD "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
#define RE_LLAMA3_TAIL "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

static const struct {
    const char *name;
    const char *re[2];
} styles[] = {
    {"gpt2", {RE_GPT2, NULL}},
    {"gpt-2", {RE_GPT2, NULL}},
    {"llama-bpe", {RE_LLAMA3_HEAD "\\p{N}{1,3}" RE_LLAMA3_TAIL, NULL}},
    {"llama3", {RE_LLAMA3_HEAD "\\p{N}{1,3}" RE_LLAMA3_TAIL, NULL}},
    {"qwen2", {RE_LLAMA3_HEAD "\\p{N}" RE_LLAMA3_TAIL, NULL}},
    {"smollm", {"\\p{N}", RE_GPT2}},
};

int tok_regex_compile(agir_tok *t, const char *pattern, const char *src, agir_err *e) {
    if (t->nre == TOK_MAX_REGEX)
        return AGIR_BAD(e, "%s: more than %d pre-tokenizer regexes (hint: AGIR chains at most %d)", src,
                        TOK_MAX_REGEX, TOK_MAX_REGEX);
    int err;
    PCRE2_SIZE at;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &at, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return AGIR_BAD(e, "%s: pre-tokenizer regex does not compile at offset %zu: %s (hint: PCRE2 syntax)", src,
                        (size_t)at, (const char *)msg);
    }
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);  // the interpreter is the fallback
    t->re[t->nre++] = re;
    return AGIR_OK;
}

int agir_tok_add_style(agir_tok *t, const char *name, const char *src, agir_err *e) {
    for (size_t i = 0; i < sizeof styles / sizeof *styles; i++) {
        if (strcmp(styles[i].name, name)) continue;
        for (int j = 0; j < 2 && styles[i].re[j]; j++) AGIR_TRY(agir_tok_add_regex(t, styles[i].re[j], src, e));
        return AGIR_OK;
    }
    return AGIR_BAD(e, "%s: unsupported pre-tokenizer '%.64s' (hint: one of gpt2, llama-bpe, qwen2, smollm)", src, name);
}

// HF Split(behavior=Isolated): every match is a piece and so is every gap between matches; each
// piece then goes through the next regex, and after the last one through BPE. An empty match
// still ends the gap before it (HF's find_matches), so "x*" splits between every character.
static int split_level(tok_enc *c, int lvl, const char *p, size_t n, uint32_t off) {
    if (n == 0) return AGIR_OK;
    if (lvl == c->t->nre) return tok_bpe_bytes(c, p, n, off);
    pcre2_match_data *md = c->md[lvl];
    size_t at = 0, last = 0;
    while (at < n) {
        int rc = pcre2_match(c->t->re[lvl], (PCRE2_SPTR)p, n, at, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) return AGIR_BAD(c->e, "input text: byte %u: pre-tokenizer regex failed (PCRE2 error %d)", off, rc);
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        // Clamped so that odd patterns (\K) cannot move a piece backwards.
        size_t s = ov[0] > last ? ov[0] : last, e = ov[1] > s ? (ov[1] < n ? ov[1] : n) : s;
        AGIR_TRY(split_level(c, lvl + 1, p + last, s - last, off + (uint32_t)last));
        AGIR_TRY(split_level(c, lvl + 1, p + s, e - s, off + (uint32_t)s));
        last = e;
        size_t next = e > s ? e : s < n ? s + tok_utf8_len((unsigned char)p[s]) : n;
        at = next > at ? next : at + tok_utf8_len((unsigned char)p[at]);  // always moves on
    }
    return split_level(c, lvl + 1, p + last, n - last, off + (uint32_t)last);
}

static int put(tok_enc *c, size_t *len, const char *s, size_t n, uint32_t off) {
    size_t cap = c->buf_cap;
    AGIR_TRY(tok_grow((void **)&c->buf, &c->buf_cap, *len + n, 1, c->e));
    AGIR_TRY(tok_grow((void **)&c->bmap, &cap, *len + n, sizeof *c->bmap, c->e));
    if (cap != c->buf_cap) return AGIR_BUG(c->e, "tokenizer buffers out of step");
    memcpy(c->buf + *len, s, n);
    for (size_t i = 0; i < n; i++) c->bmap[*len + i] = off;
    *len += n;
    return AGIR_OK;
}

#define SPM_SPACE "\xe2\x96\x81"  // U+2581, SentencePiece's visible space

// SentencePiece style (HF Metaspace, or Llama-2's legacy Prepend + Replace normalizer): spaces
// become ▁, a ▁ is put in front as the prepend scheme says, and with `split` every ▁ starts a new
// piece (MergedWithNext).
static int spm_segment(tok_enc *c, const char *p, size_t n, uint32_t off) {
    int scheme = c->t->o.spm_prepend;
    int starts = (n > 0 && p[0] == ' ') || (n >= 3 && !memcmp(p, SPM_SPACE, 3));
    int prepend = scheme == AGIR_SPM_PREPEND_LEGACY || (scheme == AGIR_SPM_PREPEND_ALWAYS && !starts) ||
                  (scheme == AGIR_SPM_PREPEND_FIRST && !starts && off == 0);
    size_t len = 0;
    if (prepend) AGIR_TRY(put(c, &len, SPM_SPACE, 3, off));
    for (size_t i = 0; i < n; i++) {
        if (p[i] == ' ')
            AGIR_TRY(put(c, &len, SPM_SPACE, 3, off + (uint32_t)i));
        else
            AGIR_TRY(put(c, &len, p + i, 1, off + (uint32_t)i));
    }
    if (!c->t->o.spm_split) return tok_bpe_spm(c, c->buf, len, c->bmap);
    size_t start = 0;
    for (size_t i = 1; i + 3 <= len; i++)
        if (!memcmp(c->buf + i, SPM_SPACE, 3)) {
            AGIR_TRY(tok_bpe_spm(c, c->buf + start, i - start, c->bmap + start));
            start = i;
        }
    return tok_bpe_spm(c, c->buf + start, len - start, c->bmap + start);
}

int tok_segment(tok_enc *c, const char *p, size_t n, uint32_t off) {
    if (c->t->kind == AGIR_TOK_SPM_BPE) return spm_segment(c, p, n, off);
    return split_level(c, 0, p, n, off);
}
