// Fine-tuned adapters: a LoRA (models/lora.h) plus the new token rows of an extended vocabulary,
// saved together as one safetensors file with the metadata needed to apply them to the right base.
//
// Tensors (float32):
//   base_model.model.model.layers.<l>.self_attn.{q,k,v,o}_proj.lora_A.weight  (r, in)
//   base_model.model.model.layers.<l>.mlp.{gate,up,down}_proj.lora_A.weight    (r, in)
//   ... .lora_B.weight                                                          (out, r)
//     (PEFT's names for a LlamaForCausalLM, so the LoRA part reads as a PEFT adapter)
//   agir.new_embed  (n_new, C)  rows [v0, vocab) of the embedding
//   agir.new_head   (n_new, C)  rows of the untied output matrix (absent when tied)
// Metadata (strings): format "pt"; agir.adapter "1"; rank, alpha, rslora, dropout, targets (short
// names, comma-separated); n_layer, dim; base_vocab (v0, the vocabulary before extension),
// base_vocab_hash (FNV-1a 64 of the base token strings, hex), base_name (file name of the base);
// new_tokens: JSON array of [id, "string"] for every new row, in id order.
//
// Loading refuses (AGIR_EINPUT, one line) an adapter whose base vocabulary (size or hash), layer
// count, width or new tokens differ from the model it is applied to.
#ifndef AGIR_MODELS_ADAPTER_H
#define AGIR_MODELS_ADAPTER_H

#include "checkpoints/safetensors.h"
#include "core/error.h"
#include "models/llama_load.h"
#include "models/lora.h"

enum { AGIR_ADAPTER_N_META = 14, AGIR_ADAPTER_NAME_LEN = 96 };

// An adapter as tensor views and metadata, as the file holds them: what agir_adapter_save writes,
// and what a training job writes as a checkpoint group so that the group file is an adapter.
// Views point into l's new rows and lora's matrices.
typedef struct agir_adapter_views {
    agir_tensor_view *t;
    int64_t n;
    agir_st_kv meta[AGIR_ADAPTER_N_META];
    char (*names)[AGIR_ADAPTER_NAME_LEN];
    char num[8][40], *targets, *tokens;  // storage of the metadata values
} agir_adapter_views;
int agir_adapter_views_make(agir_adapter_views *p, const agir_llm *l, const agir_lora *lora, agir_err *e);
void agir_adapter_views_free(agir_adapter_views *p);  // safe on a zeroed one

// Writes the adapter of l (extended with agir_llm_add_motion) and lora atomically to path.
int agir_adapter_save(const char *path, const agir_llm *l, const agir_lora *lora, agir_err *e);

// Reads path and applies it to l: a base that was not extended yet gets the adapter's motion
// tokens (agir_llm_add_motion), an extended one must hold the same tokens with the same ids; the new
// rows are then replaced by the saved ones. lora is allocated from the saved configuration and
// filled (caller frees with agir_lora_free).
int agir_adapter_load(const char *path, agir_llm *l, agir_lora *lora, agir_err *e);
// The same from an adapter file already open (a verified checkpoint's group); name is for messages.
int agir_adapter_apply(const agir_st_file *f, const char *name, agir_llm *l, agir_lora *lora, agir_err *e);

// FNV-1a 64 over the base vocabulary's token strings [0, n), each followed by its length: the
// identity an adapter records of its base.
uint64_t agir_vocab_hash(const agir_tok *t, int32_t n);

#endif
