// What `agir show-mask` and `agir sft-data` share: loading an SFT config (refusing configs of
// other jobs), its stores and split, its model extended with the motion tokens, and the rendered
// examples of both sides of the split.
#ifndef AGIR_CLI_SFT_CLI_H
#define AGIR_CLI_SFT_CLI_H

#include "cli/args.h"
#include "core/run.h"
#include "models/llama_load.h"
#include "train/sft_job.h"

typedef struct agir_sft_cli {
    agir_run run;  // loaded, never started: these commands write nothing into the run folder
    agir_sft_inputs in;
    agir_llm llm;
    int have_llm;
} agir_sft_cli;

// a->pos[0] is the config; command names the command in messages.
int agir_sft_cli_open(agir_sft_cli *s, const agir_args *a, const char *command, agir_err *e);
void agir_sft_cli_close(agir_sft_cli *s);

#endif
