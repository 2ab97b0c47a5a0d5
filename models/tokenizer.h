// Text tokenizer of the LLM: byte-level BPE (GPT-2, SmolLM2, Llama-3, Qwen2) and
// SentencePiece-style BPE (Llama-2: "▁" for spaces, <0xXX> byte fallback), loaded from a HF
// tokenizer.json or from GGUF tokenizer.ggml.* metadata through one neutral description.
//
// Token ids are int32 everywhere (docs/architecture.md, "Models, jobs and run folders"). Added
// tokens (special or not) are matched on the raw text before any pre-tokenization and never split.
// Encoding does not add BOS/EOS: the chat template writes them into the text, so training,
// generation and exports agree on one string.
#ifndef AGIR_TOKENIZER_H
#define AGIR_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct agir_tok agir_tok;

enum agir_tok_kind {
    AGIR_TOK_BYTE_BPE = 1,  // GPT-2 byte-to-unicode alphabet, regex pre-tokenizer
    AGIR_TOK_SPM_BPE = 2,   // SentencePiece BPE: spaces as U+2581, unknown chars as <0xXX> bytes
};

// Token flags.
enum {
    AGIR_TOKF_ADDED = 1,    // matched on raw text and never split (HF added_tokens)
    AGIR_TOKF_SPECIAL = 2,  // control token: skipped by decode when asked
};

// How the SentencePiece style puts "▁" in front of a run of text (HF Metaspace prepend_scheme,
// or the legacy Llama-2 normalizer Prepend("▁") which prepends unconditionally).
enum agir_spm_prepend {
    AGIR_SPM_PREPEND_NEVER = 0,
    AGIR_SPM_PREPEND_FIRST,   // only at the very start of the text
    AGIR_SPM_PREPEND_ALWAYS,  // at the start of every text segment unless it already starts with ▁
    AGIR_SPM_PREPEND_LEGACY,  // Prepend normalizer: every non-empty segment, before ' ' -> '▁'
};

// ---- neutral description: the loaders (tokenizer.json, GGUF) call these ----
int agir_tok_new(agir_tok **out, int kind, agir_err *e);
void agir_tok_free(agir_tok *t);
// The source declares n tokens: ids must lie below n, so a file cannot make us allocate more
// than it describes. Without this call ids may go up to 2^24.
int agir_tok_expect(agir_tok *t, int64_t n, const char *src, agir_err *e);
// Token `id` (0 <= id < the bound above) is the byte string s[0..n). `src` names the origin for messages.
int agir_tok_set(agir_tok *t, int64_t id, const char *s, size_t n, unsigned flags, const char *src, agir_err *e);
// Merge rule of rank = call order: tokens a and b become token a+b.
int agir_tok_add_merge(agir_tok *t, const char *a, size_t na, const char *b, size_t nb, const char *src,
                       agir_err *e);
// Pre-tokenizer regexes (PCRE2 syntax, UTF + UCP), applied in order as "isolated" splits.
int agir_tok_add_regex(agir_tok *t, const char *pattern, const char *src, agir_err *e);
// Named pre-tokenizer styles (llama.cpp's tokenizer.ggml.pre names): "gpt2", "llama-bpe" (Llama-3),
// "qwen2", "smollm". Returns AGIR_EINPUT for other names.
int agir_tok_add_style(agir_tok *t, const char *name, const char *src, agir_err *e);
typedef struct agir_tok_opts {
    int byte_fallback, fuse_unk, ignore_merges;
    int spm_prepend, spm_split;  // SentencePiece style only
    const char *unk;             // content of the unknown token, or NULL
} agir_tok_opts;
// Validates the description (dense ids, merges resolvable, byte alphabet present) and builds the
// lookup tables. Must be called once, after the tokens and merges and before encoding.
int agir_tok_finish(agir_tok *t, const agir_tok_opts *o, const char *src, agir_err *e);

// ---- loaders ----
// A HF tokenizer.json. Unsupported model or pipeline pieces are AGIR_EINPUT with one clear line.
int agir_tok_load_json(agir_tok **out, const char *path, agir_err *e);
int agir_tok_parse_json(agir_tok **out, const char *text, size_t n, const char *src, agir_err *e);
// GGUF tokenizer.ggml.* metadata (byte-level "gpt2" model with a named tokenizer.ggml.pre).
struct agir_gguf;
int agir_tok_load_gguf(agir_tok **out, const struct agir_gguf *g, agir_err *e);
int agir_tok_load_gguf_file(agir_tok **out, const char *path, agir_err *e);

// ---- queries ----
int32_t agir_tok_n_vocab(const agir_tok *t);
int agir_tok_kind(const agir_tok *t);
size_t agir_tok_n_merges(const agir_tok *t);
// Id of the token whose string is s[0..n), or -1.
int32_t agir_tok_find(const agir_tok *t, const char *s, size_t n);
// Token string (vocabulary form, e.g. "Ġhello" or "▁hi") and flags; NULL for a bad id.
const char *agir_tok_str(const agir_tok *t, int32_t id, size_t *len, unsigned *flags);

// ---- encode / decode ----
typedef struct agir_ids {
    int32_t *id;   // (n,) token ids
    uint32_t *off; // (n,) byte offset in the text where each token starts
    size_t n, cap;
    size_t dropped;  // characters (bytes, byte-level) with no token and no <unk>, left out as HF does
} agir_ids;
void agir_ids_free(agir_ids *ids);
// Appends the tokens of text[0..n) (valid UTF-8, at most 2^31 bytes) to `out`.
int agir_tok_encode(const agir_tok *t, const char *text, size_t n, agir_ids *out, agir_err *e);
// Text of ids[0..n) (fresh buffer, NUL-terminated). Bad ids are AGIR_EINPUT.
int agir_tok_decode(const agir_tok *t, const int32_t *ids, size_t n, int skip_special, char **out,
                    size_t *len, agir_err *e);

// ---- vocabulary extension (docs/architecture.md, "Models, jobs and run folders") ----
// Appends <motion_id_0>..<motion_id_{k-1}>, <som>, <eom> as special tokens with consecutive ids
// after the current vocabulary: motion i gets *first + i, <som> *first + k, <eom> *first + k + 1.
// Refuses a tokenizer that already holds any of these strings.
int agir_tok_add_motion(agir_tok *t, int k, int32_t *first, agir_err *e);

#endif
