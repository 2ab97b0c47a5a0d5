// Declarations shared by the CLI's files: command entry points and the job registry.
#ifndef AGIR_CLI_H
#define AGIR_CLI_H

#include "core/config.h"
#include "core/error.h"

#define AGIR_COMMAND(id, name, usage, summary) int agir_cmd_##id(int argc, char **argv, agir_err *e);
#include "cli/commands.h"
#undef AGIR_COMMAND

// The schema (NULL-terminated list of key tables) of a job, or NULL for an unknown job.
const agir_key *const *agir_job_schema(const char *job);
// "synth, features, ..." for messages.
void agir_job_names(char *out, size_t outsz);

#endif
