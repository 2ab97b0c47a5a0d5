// `agir chat [options]`: an interactive conversation on stdin/stdout. Each input line is a user
// turn; the reply is streamed as it is generated and followed by an empty line. /reset forgets the
// conversation (the --system message stays), /exit or end of input quits, /help lists the
// commands; other lines starting with '/' are refused rather than sent. Works with piped input.
// The KV cache keeps the earlier turns, so each turn only runs the model on its new tokens.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/gen_opts.h"

#define CHAT_USAGE AGIR_GEN_USAGE " [--context N]"

const agir_opt agir_opts_chat[] = {
    AGIR_GEN_OPT_ROWS,
    {"context", "N", "positions the conversation may use (KV cache size; default 2048, at most the model's)"},
    AGIR_OPTS_END,
};

static const char HELP[] =
    "chat commands (one per line):\n"
    "  /reset   forget the conversation (the --system turn stays)\n"
    "  /exit    quit (so does the end of input)\n"
    "  /help    this list\n"
    "Any other line is your next turn; a turn starting with '/' is written '//...'.\n";

typedef struct chat {
    agir_gen_setup *g;
    agir_infer s;
    agir_chat_msg *msg;  // contents are owned (strdup)
    size_t n, cap, first;  // first: messages kept by /reset (the system one)
    int turn;
} chat;

static int push(chat *c, const char *role, const char *content, agir_err *e) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 16;
        agir_chat_msg *m = realloc(c->msg, cap * sizeof *m);
        if (!m) return AGIR_BUG(e, "out of memory");
        c->msg = m, c->cap = cap;
    }
    char *dup = strdup(content);
    if (!dup) return AGIR_BUG(e, "out of memory");
    c->msg[c->n++] = (agir_chat_msg){role, dup};
    return 0;
}

static void forget(chat *c, size_t keep) {
    while (c->n > keep) free((char *)c->msg[--c->n].content);
}

// One user turn: render the whole conversation, generate (the cache reuses the shared prefix),
// print and keep the reply. A turn that does not fit the context is dropped with a warning.
static int turn(chat *c, const char *line, agir_err *e) {
    agir_gen_setup *g = c->g;
    agir_err bad = {0};
    if (agir_gen_check_utf8("chat: this line", line, &bad)) {
        fprintf(stderr, "%s; the turn is skipped\n", bad.msg);
        return 0;
    }
    AGIR_TRY(push(c, "user", line, e));
    agir_ids ids = {0};
    int rc = agir_gen_encode_chat(g, c->msg, c->n, &ids, e);
    if (!rc && (ids.n >= (size_t)c->s.kv.T_max)) {
        fprintf(stderr, "chat: the conversation is %zu tokens, the context holds %d (hint: /reset, or a larger "
                "--context)\n", ids.n, c->s.kv.T_max);
        forget(c, c->n - 1);
        agir_ids_free(&ids);
        return 0;
    }
    uint64_t seed = g->seed + (uint64_t)c->turn++;  // a fresh stream per turn
    agir_gen_cfg cfg = g->cfg;
    cfg.seed = &seed;
    char *reply = NULL;
    if (!rc) rc = agir_generate_text(&c->s, g->llm.tok, ids.id, (int)ids.n, &cfg, g->stop_str, g->n_stop_str, &reply,
                                     NULL, e);
    if (!rc) {
        printf("\n\n");  // the reply itself was streamed
        fflush(stdout);
        agir_gen_report(g);
        rc = push(c, "assistant", reply, e);
    }
    free(reply);
    agir_ids_free(&ids);
    return rc;
}

static int loop(chat *c, agir_err *e) {
    int tty = isatty(STDIN_FILENO);
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    for (;;) {
        if (tty) fputs("> ", stderr);
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) break;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
        if (!n) continue;
        if (!strcmp(line, "/exit")) break;
        if (!strcmp(line, "/reset")) {
            forget(c, c->first);
            continue;
        }
        if (!strcmp(line, "/help")) {
            fputs(HELP, stderr);
            continue;
        }
        const char *text = line;
        if (line[0] == '/' && line[1] == '/') {
            text = line + 1;  // "//x" is the turn "/x"
        } else if (line[0] == '/') {
            fprintf(stderr, "chat: unknown command '%s', not sent to the model (hint: /help lists the commands; "
                    "start the line with '//' to send it as text)\n", line);
            continue;
        }
        if ((rc = turn(c, text, e))) break;
    }
    free(line);
    return rc;
}

int agir_cmd_chat(int argc, char **argv, agir_err *e) {
    agir_args a;
    AGIR_TRY(agir_args_command("chat", argc, argv, agir_opts_chat, 0, 0, CHAT_USAGE, &a, e));
    unsigned long long context = 2048;
    AGIR_TRY(agir_args_uint(&a, "context", 16, 1 << 20, &context, e));
    agir_gen_setup g;
    AGIR_TRY(agir_gen_setup_open(&g, &a, 256, e));
    int rc = 0;
    if (g.context > 0 && (long long)context > g.context) {
        if (agir_args_get(&a, "context"))
            rc = AGIR_BAD(e, "--context: %llu positions, the model's context holds %lld (hint: --context %lld)",
                          context, g.context, g.context);
        context = (unsigned long long)g.context;
    }
    chat c = {.g = &g};
    if (!rc) rc = agir_gen_infer_open(&g, &c.s, (int)context, e);
    if (!rc && g.system) rc = push(&c, "system", g.system, e);
    c.first = c.n;
    if (!rc) rc = loop(&c, e);
    forget(&c, 0);
    free(c.msg);
    agir_infer_free(&c.s);
    agir_gen_setup_close(&g);
    return rc;
}
