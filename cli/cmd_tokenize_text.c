// `agir tokenizer FILE.json [--encode TEXT | --encode-file F | --decode IDS | --bench F] [--motion K]`:
// loads a text tokenizer (validating it fully), then encodes, decodes, or measures throughput.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "core/fsio.h"
#include "models/chat_template.h"
#include "models/tokenizer.h"

#define TOK_USAGE "FILE.json|FILE.gguf [--encode TEXT | --encode-file F | --decode IDS | --bench F] [--motion K] [--skip-special]"

enum { TEXT_MAX_BYTES = 1 << 30 };

static void print_ids(const agir_ids *ids) {
    for (size_t i = 0; i < ids->n; i++) printf(i ? " %d" : "%d", ids->id[i]);
    printf("\n");
}

// "1 2 3" or "1,2,3" -> ids.
static int parse_ids(const char *s, int32_t **out, size_t *n, agir_err *e) {
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    for (const char *p = s;;) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) return AGIR_OK;
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > INT32_MAX) {
            free(*out);
            return AGIR_BAD(e, "--decode: '%.20s' is not a token id (hint: ids separated by spaces or commas)", p);
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            int32_t *q = realloc(*out, cap * sizeof *q);
            if (!q) {
                free(*out);
                return AGIR_BUG(e, "out of memory");
            }
            *out = q;
        }
        (*out)[(*n)++] = (int32_t)v;
        p = end;
    }
}

static int encode_text(const agir_tok *t, const char *text, size_t n, agir_err *e) {
    agir_ids ids = {0};
    int rc = agir_tok_encode(t, text, n, &ids, e);
    if (!rc) print_ids(&ids);
    if (!rc && ids.dropped)
        fprintf(stderr, "warning: %zu characters have no token and no <unk> to stand for them; they were left out\n",
                ids.dropped);
    agir_ids_free(&ids);
    return rc;
}

static int decode_ids(const agir_tok *t, const char *list, int skip, agir_err *e) {
    int32_t *ids;
    size_t n, len;
    char *text;
    AGIR_TRY(parse_ids(list, &ids, &n, e));
    int rc = agir_tok_decode(t, ids, n, skip, &text, &len, e);
    free(ids);
    if (rc) return rc;
    fwrite(text, 1, len, stdout);
    printf("\n");
    free(text);
    return AGIR_OK;
}

// Encodes every line of the file as one example, repeated until a second has passed.
static int bench(const agir_tok *t, const char *path, agir_err *e) {
    char *text;
    size_t n;
    AGIR_TRY(agir_read_file(path, TEXT_MAX_BYTES, &text, &n, e));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t tokens = 0, bytes = 0, rounds = 0;
    agir_ids ids = {0};
    double secs = 0;
    int rc = AGIR_OK;
    while (!rc && secs < 1.0) {
        for (char *p = text; !rc && p < text + n;) {
            char *nl = memchr(p, '\n', (size_t)(text + n - p));
            size_t len = nl ? (size_t)(nl - p) : (size_t)(text + n - p);
            ids.n = 0;
            rc = agir_tok_encode(t, p, len, &ids, e);
            tokens += ids.n;
            bytes += len;
            p += len + 1;
        }
        rounds++;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    }
    if (!rc)
        printf("%zu rounds, %zu tokens, %.1f MB in %.2f s: %.0f tokens/s, %.1f MB/s\n", rounds, tokens, bytes / 1e6, secs,
               tokens / secs, bytes / 1e6 / secs);
    agir_ids_free(&ids);
    free(text);
    return rc;
}

static void summary(const agir_tok *t, const char *path) {
    int32_t n = agir_tok_n_vocab(t), added = 0, special = 0;
    for (int32_t id = 0; id < n; id++) {
        unsigned f;
        agir_tok_str(t, id, NULL, &f);
        added += (f & AGIR_TOKF_ADDED) != 0;
        special += (f & AGIR_TOKF_SPECIAL) != 0;
    }
    printf("%s: %s BPE, %d tokens (%d added, %d special), %zu merges, default chat template %s\n", path,
           agir_tok_kind(t) == AGIR_TOK_BYTE_BPE ? "byte-level" : "SentencePiece-style", n, added, special,
           agir_tok_n_merges(t), agir_chat_template_for(t)->name);
}

// The one action the options ask for; a summary when none does.
static int act(const agir_tok *t, const agir_args *a, agir_err *e) {
    const char *enc = agir_args_get(a, "encode"), *encf = agir_args_get(a, "encode-file");
    const char *dec = agir_args_get(a, "decode"), *bf = agir_args_get(a, "bench");
    if ((enc != NULL) + (encf != NULL) + (dec != NULL) + (bf != NULL) > 1)
        return AGIR_BAD(e, "tokenizer: give one of --encode, --encode-file, --decode, --bench (hint: usage: agir tokenizer %s)",
                        TOK_USAGE);
    if (enc) return encode_text(t, enc, strlen(enc), e);
    if (dec) return decode_ids(t, dec, agir_args_get(a, "skip-special") != NULL, e);
    if (bf) return bench(t, bf, e);
    if (!encf) {
        summary(t, a->pos[0]);
        return AGIR_OK;
    }
    char *text;
    size_t n;
    AGIR_TRY(agir_read_file(encf, TEXT_MAX_BYTES, &text, &n, e));
    int rc = encode_text(t, text, n, e);
    free(text);
    return rc;
}

const agir_opt agir_opts_tokenizer[] = {
    {"encode", "TEXT", "print the token ids of TEXT"},
    {"encode-file", "F", "print the token ids of the text in file F"},
    {"decode", "IDS", "print the text of token ids (separated by spaces or commas)"},
    {"skip-special", NULL, "with --decode: leave special tokens out of the text"},
    {"bench", "F", "encode every line of file F for a second and print tokens/s"},
    {"motion", "K", "first add K motion tokens plus <som> and <eom> (and print their ids)"},
    AGIR_OPTS_END,
};

int agir_cmd_tokenizer(int argc, char **argv, agir_err *e) {
    agir_args a;
    AGIR_TRY(agir_args_command("tokenizer", argc, argv, agir_opts_tokenizer, 1, 1, TOK_USAGE, &a, e));
    unsigned long long k = 0;
    AGIR_TRY(agir_args_uint(&a, "motion", 1, 65536, &k, e));
    agir_tok *t;
    size_t plen = strlen(a.pos[0]);
    int gguf = plen > 5 && !strcmp(a.pos[0] + plen - 5, ".gguf");
    AGIR_TRY(gguf ? agir_tok_load_gguf_file(&t, a.pos[0], e) : agir_tok_load_json(&t, a.pos[0], e));
    int rc = AGIR_OK;
    if (k) {
        int32_t first;
        rc = agir_tok_add_motion(t, (int)k, &first, e);
        if (!rc)
            fprintf(stderr, "motion tokens: <motion_id_0>..<motion_id_%llu> = %d..%d, <som> = %d, <eom> = %d\n", k - 1,
                    first, first + (int32_t)k - 1, first + (int32_t)k, first + (int32_t)k + 1);
    }
    if (!rc) rc = act(t, &a, e);
    agir_tok_free(t);
    return rc;
}
