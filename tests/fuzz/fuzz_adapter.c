// Fuzz harness for the adapter reader (models/adapter.c). Input: one mode byte, then the adapter
// file (safetensors with LoRA matrices, new token rows and metadata naming the base vocabulary and
// the new tokens). Mode bit 0 extends the base with K_BASE motion tokens before loading (so the
// "same tokens" path runs), bit 1 unties its output matrix. The base is a tiny model with a
// six-token tokenizer built per input, since a load may extend it. agir_adapter_load reads files
// only, so each input is written to a private temporary folder. Failures must be one-line input
// errors naming the file; an accepted adapter must leave a model and LoRA of consistent sizes.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "models/adapter.h"

enum { DIM = 8, FFN = 16, N_LAYER = 2, K_BASE = 2 };

static const char *const vocab[] = {"<unk>", "a", "b", "\u2581", "\u2581a", "ab"};  // U+2581: SentencePiece space
enum { N_VOCAB = sizeof vocab / sizeof *vocab };

static char dir[64], path[128];

static void remove_folder(void) {
    unlink(path);
    rmdir(dir);
}

static void fail(const char *what, const agir_err *e) {
    fprintf(stderr, "fuzz_adapter: %s: %s\n", what, e ? e->msg : "");
    abort();
}

// The base: SentencePiece-style tokenizer over `vocab`, weights small and all different.
static void make_base(agir_llm *l, int tied, int extend) {
    agir_err e = {0};
    memset(l, 0, sizeof *l);
    l->bos = l->eos = l->motion_first = -1;
    snprintf(l->source, sizeof l->source, "fuzz/base");
    if (agir_tok_new(&l->tok, AGIR_TOK_SPM_BPE, &e)) fail("agir_tok_new", &e);
    for (int i = 0; i < N_VOCAB; i++)
        if (agir_tok_set(l->tok, i, vocab[i], strlen(vocab[i]), 0, "base", &e)) fail("agir_tok_set", &e);
    agir_tok_opts o = {.unk = "<unk>"};
    if (agir_tok_finish(l->tok, &o, "base", &e)) fail("agir_tok_finish", &e);
    agir_llama_config c = {.vocab = N_VOCAB, .dim = DIM, .ffn = FFN, .n_layer = N_LAYER, .n_head = 2,
                           .n_kv_head = 1, .head_dim = DIM / 2, .eps = 1e-5f, .rope = {.theta = 10000}, .tied = tied};
    if (agir_llama_alloc(&l->model, &c, 0, &e)) fail("agir_llama_alloc", &e);
    for (size_t i = 0; i < l->model.n_floats; i++) l->model.mem[i] = (float)(i % 89) / 89.0f - 0.5f;
    agir_new_rows_opts mean = {.init = AGIR_NEW_ROWS_MEAN};
    if (extend && agir_llm_add_motion(l, K_BASE, &mean, NULL, &e)) fail("agir_llm_add_motion", &e);
}

static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/agir_fuzz_adapter_XXXXXX");
    if (!mkdtemp(dir)) fail("mkdtemp", NULL);
    snprintf(path, sizeof path, "%s/adapter.safetensors", dir);
    atexit(remove_folder);
}

static void write_input(const uint8_t *data, size_t size) {
    // Plain stdio, not agir_write_atomic: the folder is private and fsync per input would be slow.
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f)) fail(path, NULL);
}

// What a successful load promises: the base vocabulary kept, the new rows the adapter's tokens,
// and a LoRA for every layer of the model.
static void check_loaded(const agir_llm *l, const agir_lora *lora) {
    const agir_llama_config *c = &l->model.cfg;
    if (l->model.v0 != N_VOCAB || agir_tok_n_vocab(l->tok) != c->vocab) abort();
    if (c->vocab > N_VOCAB && (l->motion_first != N_VOCAB || l->motion_k != c->vocab - N_VOCAB - 2)) abort();
    if (lora->n_layer != N_LAYER || lora->cfg.rank < 1 || !lora->cfg.targets) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) setup();
    if (size < 1) return 0;
    write_input(data + 1, size - 1);
    agir_llm l;
    make_base(&l, !(data[0] & 2), data[0] & 1);
    agir_lora lora;
    agir_err e = {0};
    int rc = agir_adapter_load(path, &l, &lora, &e);
    fuzz_check_error(rc, &e, path);
    if (!rc) check_loaded(&l, &lora);
    agir_lora_free(&lora);
    agir_llm_free(&l);
    return 0;
}
