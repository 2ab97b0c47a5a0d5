// A tiny random Llama model as a Hugging Face folder (config.json, model.safetensors and the
// 636-token ChatML tokenizer tests/fixtures/tokenizer/smollm.json as tokenizer.json), for tests
// that run whole fine-tuning jobs in seconds: 2 layers, width 64, 2 query heads and 1 key/value
// head of 32 (the smallest the CUDA attention kernels take), FFN 128, tied embeddings, weights N(0, 0.05²) from a seed (norms 1).
#ifndef AGIR_TESTS_TINY_LLM_H
#define AGIR_TESTS_TINY_LLM_H

#include <stdint.h>

#include "core/error.h"

// Writes the folder dir (created when missing). tokenizer_json: path of the tokenizer to copy.
int agir_tiny_llm_write(const char *dir, const char *tokenizer_json, uint64_t seed, agir_err *e);

// Tiny fine-tuning data: 6 subjects (SYN001..SYN006) with two walks each (OFF and ON medication,
// scores 0..3), written as a gait store with texts (8 still frames per walk, a description and a
// rationale with its score line, both a function of the score) and a token store of 5..12 codes
// in [0, AGIR_TINY_CODES) per walk (identity "test:tiny", so data.tokenizer must be '').
enum { AGIR_TINY_CODES = 16 };
int agir_tiny_sft_data(const char *texts_h5, const char *tokens_h5, agir_err *e);

#endif
