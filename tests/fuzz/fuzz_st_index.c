// Fuzz harness for the sharded safetensors index (model.safetensors.index.json, models/llama_load.c).
// The index is only read from a model folder, so the harness makes one folder per process holding a
// tiny config.json and two valid shards, then writes each input as the folder's index and loads the
// model with agir_llama_load_hf. Failures must be one-line input errors naming a file of the folder;
// an accepted index must give the model the shards hold.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoints/safetensors.h"
#include "fuzz_util.h"
#include "models/llama_load_impl.h"

enum { V = 16, C = 8, F = 16, HD = 8, KD = 4, N_TENSORS = 11 };

static const char config_json[] =
    "{\"model_type\": \"llama\", \"vocab_size\": 16, \"hidden_size\": 8, \"intermediate_size\": 16, "
    "\"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"num_key_value_heads\": 1, "
    "\"rms_norm_eps\": 1e-5, \"tie_word_embeddings\": true}";

static const char *const shard_names[2] = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"};

static char dir[64];

static void remove_folder(void) {
    const char *files[] = {"config.json", shard_names[0], shard_names[1], "model.safetensors.index.json"};
    char path[128];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

static void fail(const char *what, const agir_err *e) {
    fprintf(stderr, "fuzz_st_index: %s: %s\n", what, e ? e->msg : "");
    abort();
}

// The tiny model's tensors under HF names: embedding and norms in the first shard, the layer's
// matrices in the second. w holds every value (small, finite, all different).
static void write_shards(void) {
    static float w[V * C + 3 * C + HD * C + 2 * KD * C + C * HD + 3 * F * C];
    static char names[N_TENSORS][64];
    const agir_llama_names *nm = &agir_llama_format_names[AGIR_LLAMA_HF];
    int64_t shape[N_TENSORS][2] = {{V, C}, {C, 0}, {C, 0}, {C, 0}, {HD, C}, {KD, C}, {KD, C}, {C, HD},
                                   {F, C}, {F, C}, {C, F}};
    agir_tensor_view v[N_TENSORS];
    float *at = w;
    for (size_t i = 0; i < sizeof w / sizeof *w; i++) w[i] = (float)(i % 97) / 97.0f - 0.5f;
    snprintf(names[0], sizeof names[0], "%s", nm->embed);
    snprintf(names[1], sizeof names[1], "%s", nm->norm);
    for (int i = AGIR_LLAMA_ATTN_NORM; i < AGIR_LLAMA_BQ; i++)  // the norms, then the matrices
        snprintf(names[2 + i], sizeof names[2 + i], "%s0%s", nm->layer_prefix, agir_llama_layer_suffix[i][AGIR_LLAMA_HF]);
    for (int i = 0; i < N_TENSORS; i++) {
        int64_t n = shape[i][0] * (shape[i][1] ? shape[i][1] : 1);
        v[i] = (agir_tensor_view){.name = names[i], .dtype = AGIR_DT_F32, .ndim = shape[i][1] ? 2 : 1,
                                  .shape = {shape[i][0], shape[i][1]}, .data = at, .nbytes = (size_t)n * 4};
        at += n;
    }
    char path[128];
    agir_err e = {0};
    for (int s = 0; s < 2; s++) {
        snprintf(path, sizeof path, "%s/%s", dir, shard_names[s]);
        if (agir_st_write(path, s ? v + 4 : v, s ? N_TENSORS - 4 : 4, NULL, 0, &e)) fail("writing a shard", &e);
    }
}

static void write_file(const char *name, const void *data, size_t size) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    // Plain stdio, not agir_write_atomic: the folder is private and fsync per input would be slow.
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f)) fail(path, NULL);
}

static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/agir_fuzz_st_index_XXXXXX");
    if (!mkdtemp(dir)) fail("mkdtemp", NULL);
    atexit(remove_folder);
    write_file("config.json", config_json, sizeof config_json - 1);
    write_shards();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) setup();
    write_file("model.safetensors.index.json", data, size);
    agir_llama m;
    agir_err e = {0};
    int rc = agir_llama_load_hf(dir, 0, &m, &e);
    fuzz_check_error(rc, &e, dir);
    if (rc) return 0;
    // Every tensor was found exactly once, so the model holds the shards' values.
    if (m.cfg.vocab != V || m.cfg.dim != C || m.embed[1] != (float)1 / 97.0f - 0.5f) abort();
    agir_llama_free(&m);
    return 0;
}
