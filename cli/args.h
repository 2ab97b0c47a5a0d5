// Command-line parsing shared by the subcommands: positionals, --set overrides and declared options.
#ifndef AGIR_ARGS_H
#define AGIR_ARGS_H

#include "core/error.h"

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

// spec: space-separated option names without dashes; a trailing '=' means the option takes a value,
// e.g. "out= csv= raw". "--set k=v" is always accepted; "--name=value" works too.
int agir_args_parse(const char *cmd, int argc, char **argv, const char *spec, agir_args *a, agir_err *e);

// Value of an option: NULL if not given, "" for a flag.
const char *agir_args_get(const agir_args *a, const char *name);

// Integer option --name in [min, max]: leaves *out unchanged when the option is absent.
int agir_args_uint(const agir_args *a, const char *name, unsigned long long min, unsigned long long max,
                   unsigned long long *out, agir_err *e);

// Checks the number of positionals, with a usage hint on failure.
int agir_args_need(const agir_args *a, int min, int max, const char *usage, agir_err *e);

#endif
