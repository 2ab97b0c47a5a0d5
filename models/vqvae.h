// The VQ-VAE motion tokenizer: T2M-GPT's convolutional encoder, EMA quantizer and decoder (Zhang et
// al., CVPR 2023; models/encdec.py, resnet.py and quantize_cnn.py of Mael-zys/T2M-GPT), composed from
// the ops of kernels/vq_ops.h over a batch of windows.
//
// Encoder: conv3(C_in→W), ReLU, down × [conv4 stride 2 (W→W), depth × ResBlock], conv3(W→D).
// Decoder: conv3(D→W), ReLU, down × [depth × ResBlock, up-sample ×2, conv3(W→W)], conv3(W→W), ReLU,
// conv3(W→C_in). ResBlock(dilation d): x + conv1(ReLU(conv3_d(ReLU(x)))), with dilations
// growth^(depth-1), …, growth, 1 (9-3-1 for T2M-GPT). conv3 pads 1 (or d when dilated).
// Loss = smooth-L1(out, x) + w_joint · smooth-L1 over the joint-position channels + commit · MSE(z_e,
// z_q), each a mean over unmasked frames; z_q reaches the decoder through the straight-through
// estimator (gradients of z_q are handed to z_e unchanged).
#ifndef AGIR_MODELS_VQVAE_H
#define AGIR_MODELS_VQVAE_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "kernels/vq_ops.h"

typedef struct agir_vqvae_config {
    int in_dim;           // C_in: motion features per frame
    int width;            // W: channels of every hidden conv (512)
    int depth;            // residual blocks per stage (3)
    int dilation_growth;  // 3: dilations 9, 3, 1
    int down;             // stride-2 stages (2): T' = T / 2^down
    int n_codes;          // K (512)
    int code_dim;         // D (512)
    float mu;             // EMA decay (0.99)
    float commit;         // commitment weight (0.02)
    float w_joint;        // joint-position term weight (0.5)
    int joint_c0, joint_c1;  // its channel range [c0, c1) of the motion features; c0 == c1: none
} agir_vqvae_config;

// T2M-GPT's sizes for a motion of in_dim features.
agir_vqvae_config agir_vqvae_t2m_config(int in_dim);

// The integer fields of agir_vqvae_config with the ranges a model accepts, in declaration order
// (joint_c0 and joint_c1 must besides lie within in_dim). Readers of stored configurations use it to
// name the key that is wrong; the key is the field's name.
typedef struct agir_vqvae_int_field {
    const char *key;
    size_t off;  // offsetof(agir_vqvae_config, <key>)
    int lo, hi;  // inclusive
} agir_vqvae_int_field;
enum { AGIR_VQVAE_N_INT_FIELDS = 9 };
extern const agir_vqvae_int_field agir_vqvae_int_fields[AGIR_VQVAE_N_INT_FIELDS];

// Checks every field of cfg and the rules across fields (AGIR_EINPUT, one "vqvae: ..." line); the
// batch geometry is agir_vqvae_init's to check.
int agir_vqvae_check_config(const agir_vqvae_config *cfg, agir_err *e);

struct agir_vq_layer;

// Every tensor below lives on the device of the context the model was made with (ctx): host memory
// for agir_vqvae_init, device memory for agir_vqvae_init_ctx on a CUDA context (read and write them
// through agir_dev_upload / agir_dev_download there).
typedef struct agir_vqvae {
    agir_vqvae_config cfg;
    agir_ctx ctx;  // a copy of the context the buffers live on; the original stays open until free
    int B, T, Tq;  // batch geometry the buffers are sized for; Tq = T / 2^down
    size_t n_params;
    float *params, *grads;          // (n_params,): every conv weight (C_out, K, C_in) then its bias
    float *codebook;                // (K, D)
    float *ema_count, *ema_sum;     // (K,), (K, D): running statistics (checkpointed)
    float *batch_count, *batch_sum; // (K,), (K, D): this batch's statistics (all-reduced before update)
    float *reset_rows;              // (K, D)
    int32_t *reset_ws;
    int codebook_ready;             // 0 until the first training batch initialises the codebook
    int n_enc, n_layers;            // layers [0, n_enc) encode, [n_enc, n_layers) decode
    struct agir_vq_layer *layers;
    float *ze, *zq;                 // (B, Tq, D)
    int32_t *idx;                   // (B·Tq,)
    float *out;                     // (B, T, C_in): the decoder's output (owned by its last layer)
    const float *dec_in;            // what the last decode read
    float *ws, *dist_ws;            // conv and distance workspaces
    float *g[4];                    // gradient scratch, each of the largest activation
    double flops_fwd;               // of one forward pass through the convs (agir_conv1d_flops)
} agir_vqvae;

typedef struct agir_vqvae_losses {
    double rec, joint, commit, total;  // weighted as in the total
} agir_vqvae_losses;

typedef struct agir_vqvae_qstats {
    double perplexity, usage;  // of this batch's assignments
    int n_reset;               // codes replaced by the EMA update (training only)
} agir_vqvae_qstats;

// Validates cfg (AGIR_EINPUT, "vqvae: ..." messages) and allocates for batches (B, T, in_dim); T must
// be a multiple of 2^down. Parameters get PyTorch's Conv1d initialisation U(±1/sqrt(C_in·K)) from
// Philox streams of `seed`.
int agir_vqvae_init(agir_vqvae *m, const agir_vqvae_config *cfg, int B, int T, uint64_t seed, agir_err *e);
// The same on the device of c (the same parameters for the same seed); every later call on the model
// must pass a context of that device.
int agir_vqvae_init_ctx(const agir_ctx *c, agir_vqvae *m, const agir_vqvae_config *cfg, int B, int T, uint64_t seed,
                        agir_err *e);
void agir_vqvae_free(agir_vqvae *m);  // safe on a zeroed model

// One parameter tensor of a model: a conv's weight (C_out, K, C_in) or bias (C_out,) at
// m->params + off. Named "<part>.<layer>[.<sub>].weight|bias": part "enc" or "dec", layer the
// layer's index within its part (ReLU and up-sampling layers count too), sub "conv1" (3-tap) or
// "conv2" (1×1) inside a residual block. These names are the checkpoint's (models/vqvae_io.h).
enum { AGIR_VQVAE_TENSOR_NAME = 32 };
typedef struct agir_vqvae_tensor {
    char name[AGIR_VQVAE_TENSOR_NAME];
    int ndim;
    int64_t shape[3];
    size_t off, numel;
} agir_vqvae_tensor;
// Writes the first cap tensors in layer order (each conv's weight, then its bias; they tile
// m->params) to out and returns how many there are: call with cap 0 to count.
int agir_vqvae_tensors(const agir_vqvae *m, agir_vqvae_tensor *out, int cap);

// x: (B, T, in_dim) → m->ze.
int agir_vqvae_encode(const agir_ctx *c, agir_vqvae *m, const float *x, agir_err *e);
// m->ze → m->idx, m->zq (the codebook before this batch's update), m->batch_count and m->batch_sum
// (this batch's statistics). With train: the first call initialises the codebook
// (agir_vqvae_init_codebook); every call then updates it (agir_vqvae_update_codebook), both drawing
// from r. qs may be NULL. A trainer that all-reduces the batch statistics between the two passes
// train = 0 and calls those functions itself.
int agir_vqvae_quantize(const agir_ctx *c, agir_vqvae *m, int train, agir_rng *r, agir_vqvae_qstats *qs,
                        agir_err *e);
// T2M-GPT's init_codebook from m->ze: K random encoder outputs (agir_op_vq_reset_rows, drawn from r),
// each counted once. It is the EMA update with μ = 0 and unit counts, so codebook = ema_sum = the
// rows and ema_count = 1. Sets m->codebook_ready.
int agir_vqvae_init_codebook(const agir_ctx *c, agir_vqvae *m, agir_rng *r, agir_err *e);
// T2M-GPT's EMA update with dead-code reset from m->batch_count and m->batch_sum: codes whose EMA
// count falls under 1 get a random row of m->ze (drawn from r). *n_reset: the codes replaced.
int agir_vqvae_update_codebook(const agir_ctx *c, agir_vqvae *m, agir_rng *r, int *n_reset, agir_err *e);
// zin: (B, Tq, D) (normally m->zq) → m->out.
int agir_vqvae_decode(const agir_ctx *c, agir_vqvae *m, const float *zin, agir_err *e);
// The losses of m->out against x and of m->ze against m->zq. mask: (B·T,) uint8 frames that count
// (on the model's device, like x), or NULL.
int agir_vqvae_loss(const agir_ctx *c, const agir_vqvae *m, const float *x, const uint8_t *mask,
                    agir_vqvae_losses *l, agir_err *e);
// m->grads = d(total loss)/d(params) for the last encode/quantize/decode, straight-through at z_q.
int agir_vqvae_backward(const agir_ctx *c, agir_vqvae *m, const float *x, const uint8_t *mask, agir_err *e);

#endif
