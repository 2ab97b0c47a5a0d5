// Declarations shared by the CLI's files: command entry points and the job registry.
#ifndef AGIR_CLI_H
#define AGIR_CLI_H

#include "cli/args.h"
#include "core/config.h"
#include "core/error.h"

// Each command's entry point and its options (the table its parser uses and `agir help` prints).
#define AGIR_COMMAND(id, name, usage, summary)                   \
    int agir_cmd_##id(int argc, char **argv, agir_err *e); \
    extern const agir_opt agir_opts_##id[];
#include "cli/commands.h"
#undef AGIR_COMMAND

// The schema (NULL-terminated list of key tables) of a job, or NULL for an unknown job.
const agir_key *const *agir_job_schema(const char *job);
// "synth, vqvae" for messages.
void agir_job_names(char *out, size_t outsz);
// Reads [run] job of the config at `path` into job and checks that `agir <command>` runs it: an
// unknown job, or one another command runs, is refused with the command to use.
int agir_job_expect(const char *path, const char *command, char *job, size_t jobsz, agir_err *e);

#endif
