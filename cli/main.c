// `agir`: one executable, one subcommand per job. Exit codes: 0 ok, 1 internal error, 2 bad input.
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/fsio.h"
#include "core/threads.h"

#ifndef AGIR_VERSION
#define AGIR_VERSION "0.0.0"
#endif

typedef struct command {
    const char *name, *usage, *summary;
    int (*fn)(int, char **, agir_err *);
    const agir_opt *opts;
} command;

static const command commands[] = {
#define AGIR_COMMAND(id, name, usage, summary) {name, usage, summary, agir_cmd_##id, agir_opts_##id},
#include "cli/commands.h"
#undef AGIR_COMMAND
    {NULL, NULL, NULL, NULL, NULL},
};

static void usage(FILE *out) {
    fprintf(out, "agir %s: gait impairment assessment with motion tokens and LLM reasoning\n\n", AGIR_VERSION);
    fprintf(out, "usage: agir COMMAND [ARGS...] [--set section.key=value ...]\n\ncommands:\n");
    for (const command *c = commands; c->name; c++) fprintf(out, "  %-10s %s\n", c->name, c->summary);
    fprintf(out, "\n'agir help COMMAND' shows a command's usage and options. Exit codes: 0 ok, 1 internal error, 2 bad "
            "input, 130 interrupted (SIGINT).\n");
}

// `agir help COMMAND`: usage, summary and every option with one line.
static void help(const command *c) {
    printf("usage: agir %s %s\n  %s\n", c->name, c->usage, c->summary);
    printf("\noptions:\n");
    agir_opts_print(c->opts, stdout);
    printf("  %-24s  %s\n", "-h, --help", "show this help");
}

static const command *find(const char *name) {
    for (const command *c = commands; c->name; c++)
        if (!strcmp(c->name, name)) return c;
    return NULL;
}

static int unknown(const char *name) {
    const command *best = NULL;
    size_t bd = (size_t)-1;
    for (const command *c = commands; c->name; c++) {
        size_t d = agir_edit_distance(name, c->name);
        if (d < bd) bd = d, best = c;
    }
    if (best && bd <= 2)
        fprintf(stderr, "agir: unknown command '%s' (hint: did you mean '%s'?)\n", name, best->name);
    else
        fprintf(stderr, "agir: unknown command '%s' (hint: 'agir help' lists the commands)\n", name);
    return AGIR_EINPUT;
}

int main(int argc, char **argv) {
    agir_thread_env(argv);
    agir_signals_install();
    if (argc < 2) {
        usage(stderr);
        return AGIR_EINPUT;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        if (argc > 2) {
            const command *c = find(argv[2]);
            if (!c) return unknown(argv[2]);
            help(c);
            return AGIR_OK;
        }
        usage(stdout);
        return AGIR_OK;
    }
    if (!strcmp(name, "--version")) {
        printf("agir %s\n", AGIR_VERSION);
        return AGIR_OK;
    }
    const command *c = find(name);
    if (!c) return unknown(name);
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--")) break;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help(c);
            return AGIR_OK;
        }
    }
    agir_err e;
    agir_err_clear(&e);
    int rc = c->fn(argc - 2, argv + 2, &e);
    if (rc != AGIR_OK) {
        fprintf(stderr, "agir: %s\n", e.code ? e.msg : "failed without a message (internal error)");
        return e.code ? e.code : AGIR_EINTERNAL;
    }
    return AGIR_OK;
}
