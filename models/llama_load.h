// Loading a pretrained Llama-family model with its tokenizer and chat template, from either a GGUF
// file (llama.cpp) or a Hugging Face model folder (config.json, tokenizer.json, model.safetensors or
// model.safetensors.index.json with its shards), and extending its vocabulary with motion tokens.
//
// GGUF stores q_proj/k_proj rows permuted for llama.cpp's interleaved RoPE (pairs 2i, 2i+1, see
// convert_hf_to_gguf.py's LlamaModel.permute); the loader undoes it so that every model in memory
// uses HF's rotate_half layout (kernels/llm_ops.h). Quantized tensors (Q8_0, Q4_0, Q4_1) and
// F16/BF16 are converted to float32 at load.
#ifndef AGIR_MODELS_LLAMA_LOAD_H
#define AGIR_MODELS_LLAMA_LOAD_H

#include "core/error.h"
#include "core/rng.h"
#include "models/llama.h"
#include "models/tokenizer.h"

typedef struct agir_llm {
    agir_llama model;
    agir_tok *tok;
    char *chat_jinja;      // the model's own chat template source, or NULL
    int32_t bos, eos;      // -1 when the model names none
    int32_t motion_first;  // id of <motion_id_0> after agir_llm_add_motion, else -1
    int motion_k;          // K motion tokens added (0: none)
    char source[4096];     // the path loaded, for messages and adapter identity
} agir_llm;

// path: a .gguf file or a HF folder; NULL or "" = the embedded default (agir_default_model_path).
// Every tensor the configuration implies must be present with its exact shape; anything missing,
// mis-shaped, of an unsupported type or non-finite is one AGIR_EINPUT line naming the file and tensor.
int agir_llm_load(const char *path, agir_llm *l, agir_err *e);
void agir_llm_free(agir_llm *l);

// The weights alone of an opened GGUF file (architectures llama and qwen2), q/k rows in HF order.
// agir_llama_load_hf (llama.h) is the HF counterpart; both live in llama_load.c / llama_gguf.c.
struct agir_gguf;
int agir_llama_load_gguf(const struct agir_gguf *g, agir_llama *m, agir_err *e);

// How new token rows start (vocabulary extension: docs/architecture.md, "Models, jobs and run
// folders").
typedef enum agir_new_row_init {
    AGIR_NEW_ROWS_MEAN = 0,        // mean of the existing rows
    AGIR_NEW_ROWS_MEAN_NOISE = 1,  // that mean plus N(0, noise²) per element
    AGIR_NEW_ROWS_TEXT = 2,        // mean embedding of a text given per token
} agir_new_row_init;

typedef struct agir_new_rows_opts {
    agir_new_row_init init;
    float noise;              // standard deviation for AGIR_NEW_ROWS_MEAN_NOISE
    const char *const *text;  // (n_new,) texts for AGIR_NEW_ROWS_TEXT, tokenized with l->tok
} agir_new_rows_opts;

// Appends K motion tokens plus <som>, <eom> to the tokenizer (agir_tok_add_motion) and K + 2 rows to
// the embedding (and to the untied output matrix), which become the model's trainable new rows
// (agir_llama v0/new_embed/new_head), initialised as o says from streams of r.
int agir_llm_add_motion(agir_llm *l, int k, const agir_new_rows_opts *o, const agir_rng *r, agir_err *e);

#endif
