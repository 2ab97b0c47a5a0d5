// GGUF tokenizer reader: tokenizer.ggml.* metadata (llama.cpp's convert_hf_to_gguf layout) into
// the neutral description of tokenizer.h. Only byte-level BPE ("gpt2" model) is read: llama.cpp's
// "llama" model is a score-driven SentencePiece without merges, which this tokenizer does not do.
// Token types (llama.cpp llama_token_type): 1 normal, 2 unknown, 3 control, 4 user-defined,
// 5 unused, 6 byte; control and user-defined tokens are matched on raw text like HF added tokens.
#include <stdlib.h>
#include <string.h>

#include "checkpoints/gguf.h"
#include "models/tokenizer.h"

enum { GGUF_TOKEN_UNKNOWN = 2, GGUF_TOKEN_CONTROL = 3, GGUF_TOKEN_USER = 4 };

static int vocab(agir_tok *t, const agir_gguf *g, const char *src, agir_err *e) {
    agir_gguf_str *tok = NULL;
    int32_t *type = NULL;
    uint64_t n, nt = 0;
    AGIR_TRY(agir_gguf_get_strs(g, "tokenizer.ggml.tokens", &tok, &n, e));
    int rc = agir_tok_expect(t, (int64_t)n, src, e);
    if (!rc && agir_gguf_find(g, "tokenizer.ggml.token_type"))
        rc = agir_gguf_get_i32s(g, "tokenizer.ggml.token_type", &type, &nt, e);
    if (!rc && type && nt != n) rc = AGIR_BAD(e, "%s: tokenizer.ggml.token_type has %llu entries for %llu tokens", src,
                                              (unsigned long long)nt, (unsigned long long)n);
    for (uint64_t i = 0; i < n && !rc; i++) {
        int ty = type ? type[i] : 1;
        unsigned flags = ty == GGUF_TOKEN_CONTROL ? AGIR_TOKF_ADDED | AGIR_TOKF_SPECIAL
                         : ty == GGUF_TOKEN_USER  ? AGIR_TOKF_ADDED
                                                  : 0u;
        rc = agir_tok_set(t, (int64_t)i, tok[i].p, tok[i].n, flags, src, e);
    }
    free(tok);
    free(type);
    return rc;
}

static int merges(agir_tok *t, const agir_gguf *g, const char *src, agir_err *e) {
    agir_gguf_str *m;
    uint64_t n;
    AGIR_TRY(agir_gguf_get_strs(g, "tokenizer.ggml.merges", &m, &n, e));
    int rc = AGIR_OK;
    for (uint64_t i = 0; i < n && !rc; i++) {
        const char *sp = memchr(m[i].p, ' ', m[i].n);
        size_t na = sp ? (size_t)(sp - m[i].p) : 0;
        if (!sp || na == 0 || na + 1 >= m[i].n || memchr(sp + 1, ' ', m[i].n - na - 1))
            rc = AGIR_BAD(e, "%s: tokenizer.ggml.merges[%llu] is not two tokens separated by one space", src,
                          (unsigned long long)i);
        else
            rc = agir_tok_add_merge(t, m[i].p, na, sp + 1, m[i].n - na - 1, src, e);
    }
    free(m);
    return rc;
}

int agir_tok_load_gguf(agir_tok **out, const agir_gguf *g, agir_err *e) {
    *out = NULL;
    const char *src = g->path;
    char *model = NULL, *pre = NULL;
    AGIR_TRY(agir_gguf_get_str(g, "tokenizer.ggml.model", &model, e));
    int rc = AGIR_OK;
    if (strcmp(model, "gpt2"))
        rc = AGIR_BAD(e, "%s: unsupported tokenizer model '%.40s' in tokenizer.ggml.model (hint: AGIR reads byte-level BPE, \"gpt2\")",
                      src, model);
    if (!rc && !agir_gguf_find(g, "tokenizer.ggml.pre"))
        rc = AGIR_BAD(e, "%s: tokenizer.ggml.pre is missing (hint: re-convert with a llama.cpp that records the pre-tokenizer)", src);
    if (!rc) rc = agir_gguf_get_str(g, "tokenizer.ggml.pre", &pre, e);
    agir_tok *t = NULL;
    if (!rc) rc = agir_tok_new(&t, AGIR_TOK_BYTE_BPE, e);
    if (!rc) rc = agir_tok_add_style(t, pre, src, e);
    if (!rc) rc = vocab(t, g, src, e);
    if (!rc) rc = merges(t, g, src, e);
    agir_tok_opts o = {0};
    // llama-bpe (Llama-3) checkpoints come from tokenizer.json files with ignore_merges set.
    o.ignore_merges = !rc && !strcmp(pre, "llama-bpe");
    if (!rc) rc = agir_tok_finish(t, &o, src, e);
    free(model);
    free(pre);
    if (rc) {
        agir_tok_free(t);
        return rc;
    }
    *out = t;
    return AGIR_OK;
}

int agir_tok_load_gguf_file(agir_tok **out, const char *path, agir_err *e) {
    agir_gguf g;
    *out = NULL;
    AGIR_TRY(agir_gguf_open(path, &g, e));
    int rc = agir_tok_load_gguf(out, &g, e);
    agir_gguf_close(&g);
    return rc;
}
