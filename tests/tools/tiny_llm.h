// A tiny random Llama model as a Hugging Face folder (config.json, model.safetensors and the
// 636-token ChatML tokenizer tests/fixtures/tokenizer/smollm.json as tokenizer.json), for tests
// that run whole fine-tuning jobs in seconds: 2 layers, width 32, 4 query and 2 key/value heads,
// FFN 64, tied embeddings, weights N(0, 0.05²) from a seed (norms 1).
#ifndef AGIR_TESTS_TINY_LLM_H
#define AGIR_TESTS_TINY_LLM_H

#include <stdint.h>

#include "core/error.h"

// Writes the folder dir (created when missing). tokenizer_json: path of the tokenizer to copy.
int agir_tiny_llm_write(const char *dir, const char *tokenizer_json, uint64_t seed, agir_err *e);

#endif
