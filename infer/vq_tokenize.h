// Whole motions through a trained motion tokenizer: joints → features → codes, codes → features →
// joints, and a whole gait dataset into a token store.
//
// Lengths. The VQ-VAE is fully convolutional but its buffers are sized for one (B, T). A motion of
// n feature rows is encoded alone (B = 1) at exactly T = n rounded up to a multiple of f = 2^down,
// so its codes never depend on which other motions are encoded with it. The padding repeats the
// motion's last (normalised) row: it continues the walk's own statistics, where zero rows (the
// dataset mean after normalisation) would look like a jump at the end. n rows give ceil(n / f)
// codes; m codes decode to m·f rows. When the length changes the coder re-sizes its model (a fresh
// allocation holding copies of the trained weights), so callers encoding many motions go by length
// (agir_vq_tokenize_dataset sorts them).
#ifndef AGIR_INFER_VQ_TOKENIZE_H
#define AGIR_INFER_VQ_TOKENIZE_H

#include <stdint.h>

#include "core/log.h"
#include "datasets/gait.h"
#include "datasets/motion_rep.h"
#include "datasets/tokens.h"
#include "kernels/ops.h"
#include "models/vqvae_io.h"

typedef struct agir_vq_coder {
    const agir_vq_tokenizer *tok;
    agir_motion_layout layout;
    agir_ctx ctx;
    agir_vqvae m;  // sized (1, m.T) for the current length; m.T = 0 before the first use
    float *x;      // (m.T, in_dim): the normalised, padded motion
} agir_vq_coder;

// A coder for motions on skeleton sk; refuses a tokenizer whose feature count is not sk's
// (6 J + 3) with one AGIR_EINPUT line.
int agir_vq_coder_init(agir_vq_coder *c, const agir_vq_tokenizer *t, const agir_skeleton *sk, agir_err *e);
void agir_vq_coder_free(agir_vq_coder *c);

// Motion frames per code, f = 2^down.
static inline int64_t agir_vq_frames_per_code(const agir_vq_tokenizer *t) { return (int64_t)1 << t->meta.cfg.down; }
// Codes for n feature rows: ceil(n / f).
static inline int64_t agir_vq_codes_for(const agir_vq_tokenizer *t, int64_t n) {
    return (n + agir_vq_frames_per_code(t) - 1) / agir_vq_frames_per_code(t);
}

// feat: (n, in_dim) features as agir_motion_encode gives them (not normalised), n >= 1
// → codes: (agir_vq_codes_for(n),).
int agir_vq_encode(agir_vq_coder *c, const float *feat, int64_t n, int32_t *codes, agir_err *e);

// codes: (n,), each in [0, n_codes) → feat: (n · f, in_dim) features (de-normalised).
int agir_vq_decode(agir_vq_coder *c, const int32_t *codes, int64_t n, float *feat, agir_err *e);

// The round trip of agir_vq_encode and agir_vq_decode in one: feat: (n, in_dim) → codes:
// (agir_vq_codes_for(n),) and rec: (agir_vq_codes_for(n) · f, in_dim). Without quantize the decoder
// reads the encoder's output z_e itself instead of its nearest codes: the autoencoder's error alone,
// which tells how much of a reconstruction error the codebook adds.
int agir_vq_reconstruct(agir_vq_coder *c, const float *feat, int64_t n, int quantize, int32_t *codes, float *rec,
                        agir_err *e);

// codes: (n,) → *joints: (*frames = n · f, J, 3) malloc'ed, starting at the origin facing +z, at the
// model's frame rate.
int agir_vq_decode_joints(agir_vq_coder *c, const int32_t *codes, int64_t n, float **joints, int64_t *frames,
                          agir_err *e);

// The sequences of g with sel[s] (all when sel is NULL) ordered by their length at the model's frame
// rate, ties in dataset order, so that going through them re-sizes the model once per length.
// order: (*n,) out, room for every selected sequence; *n: how many were selected.
int agir_vq_length_order(const agir_vq_tokenizer *t, const agir_gait *g, const uint8_t *sel, int64_t *order,
                         int64_t *n, agir_err *e);

// Every sequence of g (resampled to the model's frame rate) → its codes appended to out (made by
// the caller with this tokenizer's identity), in g's order. Progress on log (may be NULL).
int agir_vq_tokenize_dataset(agir_vq_coder *c, const agir_gait *g, const agir_log *log, agir_tokens *out,
                             agir_err *e);

#endif
