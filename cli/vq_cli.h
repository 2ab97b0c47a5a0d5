// The shared start of the commands that put a gait dataset through a trained motion tokenizer
// (tokenize, eval-vq).
#ifndef AGIR_CLI_VQ_CLI_H
#define AGIR_CLI_VQ_CLI_H

#include "cli/args.h"
#include "datasets/gait.h"
#include "models/vqvae_io.h"

// The body of such a command, given the loaded tokenizer and dataset (a->pos[0] is its path).
typedef int (*agir_vq_gait_job)(const agir_vq_tokenizer *t, const agir_gait *g, const agir_args *a,
                                const agir_log *log, agir_err *e);

// Logs at info level unless --quiet, loads the tokenizer `model` first (a wrong model is reported
// whatever the data), then the gait dataset a->pos[0], and runs job on them.
int agir_cli_vq_gait(const agir_args *a, const char *model, agir_vq_gait_job job, agir_err *e);

#endif
