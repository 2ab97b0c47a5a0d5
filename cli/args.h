// Command-line parsing shared by the subcommands: positionals, --set overrides and declared options.
#ifndef AGIR_ARGS_H
#define AGIR_ARGS_H

#include <stdio.h>

#include "core/error.h"

// One option of a command: parsed by agir_args_parse and listed by `agir help COMMAND`.
typedef struct agir_opt {
    const char *name;  // without dashes; NULL ends a table
    const char *arg;   // placeholder of its value ("FILE"); NULL for a flag
    const char *help;  // one line
} agir_opt;
#define AGIR_OPTS_END {NULL, NULL, NULL}
// Rows every command that writes files shares.
#define AGIR_OPT_FORCE {"force", NULL, "replace output files that already exist (without it they are refused)"}
#define AGIR_OPT_QUIET {"quiet", NULL, "print only errors and the results"}
#define AGIR_OPT_SET {"set", "section.key=value", "override one key of the config (repeatable; 'agir config --explain' lists them)"}

typedef struct agir_args {
    const char *cmd;
    int npos;
    const char *pos[32];
    int nsets;
    const char *sets[64];
    int nopt;
    struct {
        const char *name;
        const char *value;  // "" for flags
    } opt[32];
} agir_args;

// opts: the command's options; "--name=value" works too. "--set k=v" is always accepted (commands
// that take none refuse a.nsets themselves).
int agir_args_parse(const char *cmd, int argc, char **argv, const agir_opt *opts, agir_args *a, agir_err *e);

// Refuses options given that are not in `names` (space-separated), for subcommands that share one
// table: "agir import c3d: option '--meta' does not apply here".
int agir_args_only(const agir_args *a, const char *names, agir_err *e);

// Prints a table as `agir help` shows it: one line per option.
void agir_opts_print(const agir_opt *opts, FILE *out);

// Value of an option: NULL if not given, "" for a flag.
const char *agir_args_get(const agir_args *a, const char *name);

// Integer option --name in [min, max]: leaves *out unchanged when the option is absent.
int agir_args_uint(const agir_args *a, const char *name, unsigned long long min, unsigned long long max,
                   unsigned long long *out, agir_err *e);

// Checks the number of positionals, with a usage hint on failure.
int agir_args_need(const agir_args *a, int min, int max, const char *usage, agir_err *e);

// What most commands start with: agir_args_parse, then agir_args_need(min, max, usage).
int agir_args_command(const char *cmd, int argc, char **argv, const agir_opt *opts, int min, int max,
                      const char *usage, agir_args *a, agir_err *e);

#endif
