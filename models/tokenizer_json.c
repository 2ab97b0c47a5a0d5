// HF tokenizer.json reader: turns the BPE model, added tokens, normalizer and pre-tokenizer into
// the neutral description of tokenizer.h, refusing what AGIR does not implement with one line.
// Format: HF tokenizers' serialization (tokenizers/src/tokenizer/serialization.rs and the
// serde forms of each pipeline piece).
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsio.h"
#include "models/tokenizer.h"

enum { TOKJSON_MAX_BYTES = 256 << 20 };

// What the normalizer and pre-tokenizer amount to.
typedef struct pipe {
    int byte_level, metaspace, legacy;
    const char *re[4];
    char re_own[4][512];  // regexes built here (escaped literal splits)
    int nre;
    agir_tok_opts o;
} pipe;

static const cJSON *member(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }

static const char *type_of(const cJSON *o) {
    const cJSON *t = member(o, "type");
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

// Optional boolean member: default when absent or null.
static int opt_bool(const cJSON *o, const char *k, int def, const char *src, const char *where, int *out, agir_err *e) {
    const cJSON *v = member(o, k);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return AGIR_OK;
    }
    if (!cJSON_IsBool(v)) return AGIR_BAD(e, "%s: %s.%s is not true or false", src, where, k);
    *out = cJSON_IsTrue(v);
    return AGIR_OK;
}

static int add_re(pipe *p, const char *re, const char *src, agir_err *e) {
    if (p->nre == 4) return AGIR_BAD(e, "%s: pre_tokenizer: more than 4 splits (hint: AGIR chains at most 4)", src);
    p->re[p->nre++] = re;
    return AGIR_OK;
}

static int metaspace(const cJSON *o, pipe *p, const char *src, agir_err *e) {
    const cJSON *r = member(o, "replacement"), *s = member(o, "prepend_scheme");
    if (!cJSON_IsString(r) || strcmp(r->valuestring, "\xe2\x96\x81"))
        return AGIR_BAD(e, "%s: pre_tokenizer: Metaspace replacement must be \"\xe2\x96\x81\"", src);
    int add_prefix;
    AGIR_TRY(opt_bool(o, "add_prefix_space", 1, src, "pre_tokenizer", &add_prefix, e));
    p->o.spm_prepend = add_prefix ? AGIR_SPM_PREPEND_ALWAYS : AGIR_SPM_PREPEND_NEVER;
    if (cJSON_IsString(s)) {
        const char *v = s->valuestring;
        if (!strcmp(v, "always")) p->o.spm_prepend = AGIR_SPM_PREPEND_ALWAYS;
        else if (!strcmp(v, "first")) p->o.spm_prepend = AGIR_SPM_PREPEND_FIRST;
        else if (!strcmp(v, "never")) p->o.spm_prepend = AGIR_SPM_PREPEND_NEVER;
        else return AGIR_BAD(e, "%s: pre_tokenizer: Metaspace prepend_scheme '%.32s' unknown (hint: always, first or never)", src, v);
    } else if (s && !cJSON_IsNull(s)) {
        return AGIR_BAD(e, "%s: pre_tokenizer: Metaspace prepend_scheme is not a string", src);
    }
    AGIR_TRY(opt_bool(o, "split", 1, src, "pre_tokenizer", &p->o.spm_split, e));
    p->metaspace = 1;
    return AGIR_OK;
}

static int split(const cJSON *o, pipe *p, const char *src, agir_err *e) {
    const cJSON *pat = member(o, "pattern"), *beh = member(o, "behavior");
    int invert;
    AGIR_TRY(opt_bool(o, "invert", 0, src, "pre_tokenizer", &invert, e));
    if (!cJSON_IsString(beh) || strcmp(beh->valuestring, "Isolated") || invert)
        return AGIR_BAD(e, "%s: pre_tokenizer: only Split with behavior Isolated and invert false is supported", src);
    const cJSON *re = member(pat, "Regex"), *lit = member(pat, "String");
    if (cJSON_IsString(re)) return add_re(p, re->valuestring, src, e);
    if (!cJSON_IsString(lit) || !lit->valuestring[0] || strstr(lit->valuestring, "\\E"))
        return AGIR_BAD(e, "%s: pre_tokenizer: Split pattern needs a Regex or a plain String", src);
    char *own = p->re_own[p->nre];
    if (snprintf(own, sizeof p->re_own[0], "\\Q%s\\E", lit->valuestring) >= (int)sizeof p->re_own[0])
        return AGIR_BAD(e, "%s: pre_tokenizer: Split string too long", src);
    return add_re(p, own, src, e);
}

static int pretok_one(const cJSON *o, pipe *p, int depth, const char *src, agir_err *e) {
    const char *t = type_of(o);
    if (!t) return AGIR_BAD(e, "%s: pre_tokenizer: an entry has no \"type\" string", src);
    if (!strcmp(t, "Sequence") && depth == 0) {
        const cJSON *list = member(o, "pretokenizers"), *x;
        if (!cJSON_IsArray(list)) return AGIR_BAD(e, "%s: pre_tokenizer: Sequence without a pretokenizers list", src);
        cJSON_ArrayForEach(x, list) AGIR_TRY(pretok_one(x, p, 1, src, e));
        return AGIR_OK;
    }
    if (!strcmp(t, "ByteLevel")) {
        int prefix, use_re;
        AGIR_TRY(opt_bool(o, "add_prefix_space", 0, src, "pre_tokenizer", &prefix, e));
        AGIR_TRY(opt_bool(o, "use_regex", 1, src, "pre_tokenizer", &use_re, e));
        if (prefix) return AGIR_BAD(e, "%s: pre_tokenizer: ByteLevel add_prefix_space=true is not supported", src);
        p->byte_level = 1;
        return use_re ? add_re(p, "gpt2", src, e) : AGIR_OK;
    }
    if (!strcmp(t, "Digits")) {
        int single;
        AGIR_TRY(opt_bool(o, "individual_digits", 0, src, "pre_tokenizer", &single, e));
        return add_re(p, single ? "\\p{N}" : "\\p{N}+", src, e);
    }
    if (!strcmp(t, "Split")) return split(o, p, src, e);
    if (!strcmp(t, "Metaspace")) return metaspace(o, p, src, e);
    return AGIR_BAD(e, "%s: pre_tokenizer type '%.40s' is not supported (hint: ByteLevel, Split, Digits, Metaspace)", src, t);
}

// Llama-2's legacy normalizer, Sequence[Prepend("▁"), Replace(" " -> "▁")], is the only one read.
static int normalizer(const cJSON *o, pipe *p, const char *src, agir_err *e) {
    if (!o || cJSON_IsNull(o)) return AGIR_OK;
    const char *t = type_of(o);
    const cJSON *list = member(o, "normalizers");
    if (t && !strcmp(t, "Sequence") && cJSON_GetArraySize(list) == 2) {
        const cJSON *a = cJSON_GetArrayItem(list, 0), *b = cJSON_GetArrayItem(list, 1);
        const char *ta = type_of(a), *tb = type_of(b);
        const cJSON *pre = member(a, "prepend"), *pat = member(member(b, "pattern"), "String"), *con = member(b, "content");
        if (ta && tb && !strcmp(ta, "Prepend") && !strcmp(tb, "Replace") && cJSON_IsString(pre) &&
            !strcmp(pre->valuestring, "\xe2\x96\x81") && cJSON_IsString(pat) && !strcmp(pat->valuestring, " ") &&
            cJSON_IsString(con) && !strcmp(con->valuestring, "\xe2\x96\x81")) {
            p->legacy = 1;
            p->o.spm_prepend = AGIR_SPM_PREPEND_LEGACY;
            p->o.spm_split = 0;
            return AGIR_OK;
        }
    }
    return AGIR_BAD(e, "%s: normalizer '%.40s' is not supported (hint: AGIR reads none, or Llama-2's Prepend+Replace)", src,
                    t ? t : "?");
}

static int bpe_options(const cJSON *m, pipe *p, const char *src, agir_err *e) {
    const cJSON *d = member(m, "dropout"), *unk = member(m, "unk_token");
    if (d && !cJSON_IsNull(d))
        return AGIR_BAD(e, "%s: model.dropout is set (hint: BPE dropout is a training trick; export without it)", src);
    const char *affix[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const cJSON *a = member(m, affix[i]);
        if (a && !cJSON_IsNull(a) && !(cJSON_IsString(a) && !a->valuestring[0]))
            return AGIR_BAD(e, "%s: model.%s is not supported (hint: byte-level and SentencePiece BPE use none)", src, affix[i]);
    }
    AGIR_TRY(opt_bool(m, "byte_fallback", 0, src, "model", &p->o.byte_fallback, e));
    AGIR_TRY(opt_bool(m, "fuse_unk", 0, src, "model", &p->o.fuse_unk, e));
    AGIR_TRY(opt_bool(m, "ignore_merges", 0, src, "model", &p->o.ignore_merges, e));
    if (unk && !cJSON_IsNull(unk) && !cJSON_IsString(unk)) return AGIR_BAD(e, "%s: model.unk_token is not a string", src);
    p->o.unk = cJSON_IsString(unk) ? unk->valuestring : NULL;
    return AGIR_OK;
}

static int int_id(const cJSON *v, int64_t *out) {
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble != floor(v->valuedouble) ||
        v->valuedouble < 0 || v->valuedouble > 1e9)
        return 1;
    *out = (int64_t)v->valuedouble;
    return 0;
}

static int vocab(agir_tok *t, const cJSON *m, const char *src, agir_err *e) {
    const cJSON *v = member(m, "vocab"), *x;
    if (!cJSON_IsObject(v)) return AGIR_BAD(e, "%s: model.vocab is missing or not an object (hint: {\"token\": id, ...})", src);
    cJSON_ArrayForEach(x, v) {
        int64_t id;
        if (int_id(x, &id))
            return AGIR_BAD(e, "%s: model.vocab['%.64s'] is not a non-negative integer id (hint: ids are 0, 1, 2, ...)", src, x->string);
        AGIR_TRY(agir_tok_set(t, id, x->string, strlen(x->string), 0, src, e));
    }
    return AGIR_OK;
}

static int merges(agir_tok *t, const cJSON *m, const char *src, agir_err *e) {
    const cJSON *list = member(m, "merges"), *x;
    if (!cJSON_IsArray(list)) return AGIR_BAD(e, "%s: model.merges is missing or not a list", src);
    size_t i = 0;
    cJSON_ArrayForEach(x, list) {
        const char *a, *b;
        size_t na, nb;
        if (cJSON_IsString(x)) {  // "a b" (tokenizers < 0.20)
            a = x->valuestring;
            const char *sp = strchr(a, ' ');
            if (!sp || strchr(sp + 1, ' ') || sp == a || !sp[1])
                return AGIR_BAD(e, "%s: model.merges[%zu] is not two tokens separated by one space (hint: \"a b\" or [\"a\", \"b\"])", src, i);
            na = (size_t)(sp - a);
            b = sp + 1;
            nb = strlen(b);
        } else if (cJSON_IsArray(x) && cJSON_GetArraySize(x) == 2 && cJSON_IsString(x->child) &&
                   cJSON_IsString(x->child->next)) {  // ["a", "b"]
            a = x->child->valuestring;
            b = x->child->next->valuestring;
            na = strlen(a);
            nb = strlen(b);
        } else {
            return AGIR_BAD(e, "%s: model.merges[%zu] is neither \"a b\" nor [\"a\", \"b\"]", src, i);
        }
        AGIR_TRY(agir_tok_add_merge(t, a, na, b, nb, src, e));
        i++;
    }
    return AGIR_OK;
}

static int added(agir_tok *t, const cJSON *root, const char *src, agir_err *e) {
    const cJSON *list = member(root, "added_tokens"), *x;
    if (!list || cJSON_IsNull(list)) return AGIR_OK;
    if (!cJSON_IsArray(list)) return AGIR_BAD(e, "%s: added_tokens is not a list", src);
    size_t i = 0;
    cJSON_ArrayForEach(x, list) {
        const cJSON *c = member(x, "content");
        int64_t id;
        int special, lstrip, rstrip, single;
        if (int_id(member(x, "id"), &id) || !cJSON_IsString(c))
            return AGIR_BAD(e, "%s: added_tokens[%zu] needs an integer id and a content string", src, i);
        AGIR_TRY(opt_bool(x, "special", 0, src, "added_tokens", &special, e));
        AGIR_TRY(opt_bool(x, "lstrip", 0, src, "added_tokens", &lstrip, e));
        AGIR_TRY(opt_bool(x, "rstrip", 0, src, "added_tokens", &rstrip, e));
        AGIR_TRY(opt_bool(x, "single_word", 0, src, "added_tokens", &single, e));
        if (lstrip || rstrip || single)
            return AGIR_BAD(e, "%s: added_tokens[%zu] ('%.40s') uses lstrip/rstrip/single_word (hint: not supported)", src,
                            i, c->valuestring);
        AGIR_TRY(agir_tok_set(t, id, c->valuestring, strlen(c->valuestring),
                              AGIR_TOKF_ADDED | (special ? AGIR_TOKF_SPECIAL : 0u), src, e));
        i++;
    }
    return AGIR_OK;
}

static int build(agir_tok **out, const cJSON *root, const char *src, agir_err *e) {
    if (!cJSON_IsObject(root)) return AGIR_BAD(e, "%s: top level is not a JSON object (hint: a HF tokenizer.json)", src);
    const cJSON *m = member(root, "model");
    if (!cJSON_IsObject(m)) return AGIR_BAD(e, "%s: \"model\" is missing or not an object (hint: a HF tokenizer.json)", src);
    const char *mt = type_of(m);
    if (!mt) return AGIR_BAD(e, "%s: model.type is missing (hint: AGIR reads BPE tokenizer.json files)", src);
    if (strcmp(mt, "BPE"))
        return AGIR_BAD(e, "%s: unsupported tokenizer model type '%.40s' (hint: AGIR reads BPE models: GPT-2, Llama, Qwen, SmolLM)",
                        src, mt);
    pipe p = {0};
    AGIR_TRY(normalizer(member(root, "normalizer"), &p, src, e));
    const cJSON *pt = member(root, "pre_tokenizer");
    if (pt && !cJSON_IsNull(pt)) AGIR_TRY(pretok_one(pt, &p, 0, src, e));
    if (p.byte_level + p.metaspace + p.legacy != 1)
        return AGIR_BAD(e, "%s: the pipeline is neither byte-level (ByteLevel) nor SentencePiece (Metaspace or Llama-2 normalizer) "
                        "(hint: exactly one of them)", src);
    if (p.metaspace && p.nre) return AGIR_BAD(e, "%s: pre_tokenizer mixes Metaspace with regex splits (not supported)", src);
    AGIR_TRY(bpe_options(m, &p, src, e));
    agir_tok *t;
    AGIR_TRY(agir_tok_new(&t, p.byte_level ? AGIR_TOK_BYTE_BPE : AGIR_TOK_SPM_BPE, e));
    const cJSON *at = member(root, "added_tokens");
    int rc = agir_tok_expect(t, (int64_t)cJSON_GetArraySize(member(m, "vocab")) + cJSON_GetArraySize(at), src, e);
    if (!rc) rc = vocab(t, m, src, e);
    if (!rc) rc = added(t, root, src, e);
    if (!rc) rc = merges(t, m, src, e);
    for (int i = 0; i < p.nre && !rc; i++)
        rc = strcmp(p.re[i], "gpt2") ? agir_tok_add_regex(t, p.re[i], src, e) : agir_tok_add_style(t, "gpt2", src, e);
    if (!rc) rc = agir_tok_finish(t, &p.o, src, e);
    if (rc) {
        agir_tok_free(t);
        return rc;
    }
    *out = t;
    return AGIR_OK;
}

int agir_tok_parse_json(agir_tok **out, const char *text, size_t n, const char *src, agir_err *e) {
    *out = NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, n, &end, 0);
    if (!root) {
        size_t at = end && end >= text && end <= text + n ? (size_t)(end - text) : 0, line = 1;
        for (size_t i = 0; i < at; i++) line += text[i] == '\n';
        return AGIR_BAD(e, "%s:%zu: not valid JSON (hint: a HF tokenizer.json)", src, line);
    }
    for (const char *q = end; q && q < text + n; q++)
        if (*q != ' ' && *q != '\n' && *q != '\r' && *q != '\t' && *q != '\0') {
            cJSON_Delete(root);
            return AGIR_BAD(e, "%s: trailing bytes after the JSON value (hint: one JSON object per file)", src);
        }
    int rc = build(out, root, src, e);
    cJSON_Delete(root);
    return rc;
}

int agir_tok_load_json(agir_tok **out, const char *path, agir_err *e) {
    char *text;
    size_t n;
    *out = NULL;
    AGIR_TRY(agir_read_file(path, TOKJSON_MAX_BYTES, &text, &n, e));
    int rc = agir_tok_parse_json(out, text, n, path, e);
    free(text);
    return rc;
}
