// Shared between the HF (llama_load.c) and GGUF (llama_gguf.c) loaders: one routine fills an
// allocated agir_llama from any named-tensor source, so both formats go through the same shape,
// dtype and finiteness checks.
#ifndef AGIR_MODELS_LLAMA_LOAD_IMPL_H
#define AGIR_MODELS_LLAMA_LOAD_IMPL_H

#include "checkpoints/tensor_view.h"
#include "core/error.h"
#include "models/llama.h"

typedef enum agir_llama_format { AGIR_LLAMA_HF, AGIR_LLAMA_GGUF, AGIR_LLAMA_NFORMAT } agir_llama_format;

// Tensor names of one format. Per-layer names are layer_prefix + layer index + the tensor's suffix
// in agir_llama_layer_suffix.
typedef struct agir_llama_names {
    agir_llama_format format;
    const char *embed, *head, *norm;  // (V, C), (V, C), (C)
    const char *layer_prefix;
} agir_llama_names;

// [format]: the whole-model tensor names and the layer prefix of each format.
extern const agir_llama_names agir_llama_format_names[AGIR_LLAMA_NFORMAT];

// [i][format]: the name suffix of layer tensor i (an agir_llama_tensor, shaped as
// agir_llama_layer_shapes says) in each format.
extern const char *const agir_llama_layer_suffix[AGIR_LLAMA_NTENSOR][AGIR_LLAMA_NFORMAT];

enum { AGIR_LLAMA_NAME_MAX = 256 };
// out = the name of tensor i of layer l in format nm.
void agir_llama_layer_name(const agir_llama_names *nm, int l, agir_llama_tensor i, char out[AGIR_LLAMA_NAME_MAX]);

// A tensor by name, and the file it lives in (for messages); NULL when absent.
typedef const agir_tensor_view *(*agir_tensor_lookup)(const void *ctx, const char *name, const char **file);

typedef struct agir_weight_src {
    agir_tensor_lookup find;
    const void *ctx;
    const agir_llama_names *names;
    int quantized;  // whether Q8_0 / Q4_0 / Q4_1 are accepted (GGUF) besides F32, F16, BF16
    const char *what;  // where the shapes come from, for messages ("config.json", "GGUF metadata")
} agir_weight_src;

// Refuses (AGIR_EINPUT) a configuration that implies far more weights than `held`, the element
// count of all tensors in the checkpoint `file`: each weight comes from its own tensor element, so
// this stops a small file from making the loader allocate a huge model. Call before agir_llama_alloc.
int agir_llama_check_held(const agir_llama_config *c, double held, const char *file, agir_err *e);

// Fills every weight of m (allocated for its cfg) from s: each tensor present, with its exact
// shape, a supported dtype and finite values.
int agir_llama_fill(agir_llama *m, const agir_weight_src *s, agir_err *e);

#endif
