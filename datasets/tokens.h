// Token store: the motion-token codes of every sequence of a gait dataset, as written by
// `agir tokenize` and read by `agir decode` and SFT example building. Layout in
// docs/dataset_format.md ("Token store").
//
// Columnar like the gait store: all codes of all sequences in one (N,) int32 array, each sequence
// an (offset, length) slice plus the labels the experiments need (id, subject, medication, UPDRS
// gait score). Root attributes record which tokenizer made the codes, so a consumer can refuse
// codes from another model: its hash, codebook size, temporal down-sampling factor and frame rate.
#ifndef AGIR_TOKENS_H
#define AGIR_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "datasets/gait.h"

#define AGIR_TOKENS_FORMAT "agir-tokens"
// Longest model hash, in bytes (a hex SHA-256 with a "sha256:" prefix fits with room to spare).
enum { AGIR_TOKENS_HASH_MAX = 128 };

typedef struct agir_token_seq {
    char *id;       // the gait sequence's id
    char *subject;
    int medication;  // AGIR_MED_*
    int updrs_gait;  // 0..4, -1 unknown
    int64_t offset, length;  // code slice
} agir_token_seq;

typedef struct agir_tokens {
    char model_hash[AGIR_TOKENS_HASH_MAX + 1];  // [A-Za-z0-9:._-]+, identifies the tokenizer's weights
    int64_t codebook_size;  // codes lie in [0, codebook_size)
    int64_t downsample;     // model frames per code (4 for the default VQ-VAE)
    int64_t model_fps;      // frame rate of the model's features (20 by default): codes per second
                            // = model_fps / downsample
    int64_t n_codes, cap_codes;
    int32_t *codes;  // (n_codes,)
    int64_t n_seq, cap_seq;
    agir_token_seq *seq;  // (n_seq,)
} agir_tokens;

// Limits of the identity attributes (checked by init, write and read).
enum { AGIR_TOKENS_MAX_DOWNSAMPLE = 1024, AGIR_TOKENS_MAX_FPS = 1000 };

// An empty store for a tokenizer; the identity is checked (AGIR_EINPUT naming the bad value).
int agir_tokens_init(agir_tokens *t, const char *model_hash, int64_t codebook_size, int64_t downsample,
                     int64_t model_fps, agir_err *e);
void agir_tokens_free(agir_tokens *t);

// Appends the codes (n,) of one sequence, taking id, subject, medication and updrs_gait from a
// gait sequence's metadata (copied). Codes outside the codebook are refused.
int agir_tokens_append(agir_tokens *t, const agir_seq *meta, const int32_t *codes, int64_t n, agir_err *e);

// codes of sequence s: (seq[s].length,)
static inline const int32_t *agir_tokens_seq_codes(const agir_tokens *t, int64_t s) {
    return t->codes + t->seq[s].offset;
}

// Index of a sequence by id, or -1.
int64_t agir_tokens_find(const agir_tokens *t, const char *id);

// Refuses a store made by another tokenizer than the one described (its hash and shape); `name`
// (the store's path) prefixes the message. For consumers that decode or extend a store.
int agir_tokens_check_model(const agir_tokens *t, const char *name, const char *model_hash, int64_t codebook_size,
                            int64_t downsample, int64_t model_fps, agir_err *e);

// HDF5 store. Writing is atomic and validates first. Reading validates everything (every code
// within the codebook) and names the bad sequence.
int agir_tokens_write(const agir_tokens *t, const char *path, agir_err *e);
int agir_tokens_read(agir_tokens *t, const char *path, agir_err *e);
// From an HDF5 file image in memory (`name` appears in messages); for fuzzing and tests.
int agir_tokens_read_image(agir_tokens *t, const void *buf, size_t len, const char *name, agir_err *e);

#endif
