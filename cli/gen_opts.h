// What `agir generate` and `agir chat` share: their sampling and model options, loading the model
// with its chat template and stop tokens, streaming the text out, and the speed report.
#ifndef AGIR_CLI_GEN_OPTS_H
#define AGIR_CLI_GEN_OPTS_H

#include <stdint.h>

#include "cli/args.h"
#include "core/error.h"
#include "core/log.h"
#include "infer/generate.h"
#include "infer/kv_cache.h"
#include "models/llama_load.h"
#include "models/lora.h"

// Option rows both commands accept (part of their agir_opt tables).
#define AGIR_GEN_OPT_ROWS                                                                                           \
    {"model", "M.gguf|HF_DIR", "the model: a GGUF file or a Hugging Face folder (default: SmolLM2-135M-Instruct)"},  \
    {"adapter", "A.safetensors", "apply this LoRA adapter and add its new token rows (motion tokens)"},              \
    {"max-tokens", "N", "generate at most N tokens (0 to 2^20)"},                                                     \
    {"temperature", "T", "0 = greedy (the default); above 0 samples (0.7 is common)"},                               \
    {"top-k", "K", "sample among the K most likely tokens only (0 = off, the default)"},                            \
    {"top-p", "P", "nucleus sampling: the most likely tokens up to probability P (1 = off, the default)"},          \
    {"seed", "S", "seed of the sampling stream (default 0)"},                                                         \
    {"system", "TEXT", "a system turn before the user's"},                                                            \
    {"template", "NAME", "chat template: auto (the model's own; default), chatml, llama-3, llama-2, plain"},        \
    {"stop", "STR", "stop when the text contains STR, which is cut with what follows (repeatable)"},                \
    {"weights", "f32|bf16", "store the model's weights as f32 (the default) or bf16: half the memory, widened on the fly"}, \
    {"stats", NULL, "print the prefill and decode speed on stderr"}
#define AGIR_GEN_USAGE                                                                                             \
    "[--model M.gguf|HF_DIR] [--adapter A.safetensors] [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S] "              \
    "[--system TEXT] [--template auto|chatml|llama-3|llama-2|plain] [--stop STR ...] [--weights f32|bf16] [--stats]"

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
    long long context;   // positions the model was trained for; 0 when the model does not say
    agir_ctx ctx;        // the CPU
    agir_llama_weights w;  // the model (and adapter) placed on it as --weights says
    agir_log log;        // progress of long prefills on stderr
    agir_progress bar;
    int bar_on;
} agir_gen_setup;

// Reads the options (refusing bad values before anything slow), then loads the model (and the
// adapter: its LoRA and new token rows) and picks its chat template and stop tokens. The text is
// streamed to stdout as it is generated (complete characters only), and prefills of long prompts
// show their progress on stderr. max_tokens: the default of --max-tokens.
int agir_gen_setup_open(agir_gen_setup *g, const agir_args *a, int max_tokens, agir_err *e);
void agir_gen_setup_close(agir_gen_setup *g);

// A KV-cached generator of one sequence of up to T_max positions over the placed model.
int agir_gen_infer_open(agir_gen_setup *g, agir_infer *s, int T_max, agir_err *e);

// Refuses text that is not valid UTF-8, naming the byte offset in the text as the user gave it
// (what: "prompt", "--system", ...).
int agir_gen_check_utf8(const char *what, const char *text, agir_err *e);

// msgs rendered with the assistant header appended, then encoded (caller frees ids).
int agir_gen_encode_chat(const agir_gen_setup *g, const agir_chat_msg *msgs, size_t n, agir_ids *ids, agir_err *e);

// "prefill N tokens in S s (R tokens/s), decode ..." on stderr when --stats was given.
void agir_gen_report(const agir_gen_setup *g);

#endif
