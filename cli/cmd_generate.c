// `agir generate [options] PROMPT`: one prompt in, the model's text out, streamed as it is
// generated. The prompt goes through the model's chat template as a user turn (with --system as
// the system turn) unless --raw.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/gen_opts.h"

#define GEN_USAGE AGIR_GEN_USAGE " [--raw] PROMPT"

const agir_opt agir_opts_generate[] = {
    AGIR_GEN_OPT_ROWS,
    {"raw", NULL, "give the prompt to the model as is, without the chat template"},
    AGIR_OPTS_END,
};

static int encode_prompt(const agir_gen_setup *g, const char *prompt, int raw, agir_ids *ids, agir_err *e) {
    if (raw) return agir_tok_encode(g->llm.tok, prompt, strlen(prompt), ids, e);
    agir_chat_msg msgs[2];
    size_t n = 0;
    if (g->system) msgs[n++] = (agir_chat_msg){"system", g->system};
    msgs[n++] = (agir_chat_msg){"user", prompt};
    return agir_gen_encode_chat(g, msgs, n, ids, e);
}

// The prompt must leave room for at least one new token in the model's context; generation stops
// at the end of the context.
static int fit(const agir_gen_setup *g, size_t n, int raw, int *positions, agir_err *e) {
    long long limit = g->context > 0 ? g->context : 1 << 20;
    if (n == 0) return AGIR_BAD(e, "prompt: empty (hint: give a non-empty prompt)");
    if ((long long)n >= limit)
        return AGIR_BAD(e, "prompt: %zu tokens%s, the model's context holds %lld (hint: give a shorter prompt)", n,
                        raw ? "" : " with the chat template", limit);
    long long want = (long long)n + g->cfg.max_new;
    *positions = (int)(want < limit ? want : limit);
    return AGIR_OK;
}

static int run(agir_gen_setup *g, const char *prompt, int raw, agir_err *e) {
    agir_ids ids = {0};
    AGIR_TRY(encode_prompt(g, prompt, raw, &ids, e));
    int positions = 0;
    int rc = fit(g, ids.n, raw, &positions, e);
    agir_infer s;
    if (!rc) rc = agir_gen_infer_open(g, &s, positions, e);
    char *text = NULL;
    if (!rc) {
        rc = agir_generate_text(&s, g->llm.tok, ids.id, (int)ids.n, &g->cfg, g->stop_str, g->n_stop_str, &text, NULL,
                                e);
        agir_infer_free(&s);
    }
    if (!rc) {
        printf("\n");  // the text itself was streamed
        fflush(stdout);
        agir_gen_report(g);
    }
    free(text);
    agir_ids_free(&ids);
    return rc;
}

int agir_cmd_generate(int argc, char **argv, agir_err *e) {
    agir_args a;
    AGIR_TRY(agir_args_command("generate", argc, argv, agir_opts_generate, 1, 1, GEN_USAGE, &a, e));
    AGIR_TRY(agir_gen_check_utf8("prompt", a.pos[0], e));
    agir_gen_setup g;
    AGIR_TRY(agir_gen_setup_open(&g, &a, 128, e));
    int rc = run(&g, a.pos[0], agir_args_get(&a, "raw") != NULL, e);
    agir_gen_setup_close(&g);
    return rc;
}
