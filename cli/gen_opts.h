// What `agir generate` and `agir chat` share: their sampling and model options, loading the model
// with its chat template and stop tokens, and the speed report.
#ifndef AGIR_CLI_GEN_OPTS_H
#define AGIR_CLI_GEN_OPTS_H

#include <stdint.h>

#include "cli/args.h"
#include "core/error.h"
#include "infer/generate.h"
#include "models/llama_load.h"
#include "models/lora.h"

// Options both commands accept (agir_args_parse spec).
#define AGIR_GEN_OPTS "model= adapter= max-tokens= temperature= top-k= top-p= seed= system= template= stop= stats"
#define AGIR_GEN_USAGE                                                                                             \
    "[--model M.gguf|HF_DIR] [--adapter A.safetensors] [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S] "              \
    "[--system TEXT] [--template auto|chatml|llama-3|llama-2|plain] [--stop STR ...] [--stats]"

typedef struct agir_gen_setup {
    agir_llm llm;
    int loaded;
    agir_lora lora;  // --adapter's LoRA (n_layer 0 without one)
    const agir_lora *adapter;  // &lora or NULL
    const agir_chat_template *tp;
    agir_gen_cfg cfg;
    uint64_t seed;
    int32_t stop_ids[2];
    const char *stop_str[16];
    int n_stop_str;
    const char *system;  // system message or NULL
    int stats;           // --stats: print prefill and decode speed on stderr
    agir_gen_stats st;
} agir_gen_setup;

// Reads the options (refusing bad values before anything slow), then loads the model (and the
// adapter: its LoRA and new token rows) and picks its chat template and stop tokens.
// max_tokens: the default of --max-tokens.
int agir_gen_setup_open(agir_gen_setup *g, const agir_args *a, int max_tokens, agir_err *e);
void agir_gen_setup_close(agir_gen_setup *g);

// msgs rendered with the assistant header appended, then encoded (caller frees ids).
int agir_gen_encode_chat(const agir_gen_setup *g, const agir_chat_msg *msgs, size_t n, agir_ids *ids, agir_err *e);

// "prefill N tokens in S s (R tokens/s), decode ..." on stderr when --stats was given.
void agir_gen_report(const agir_gen_setup *g);

#endif
