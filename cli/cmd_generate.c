// `agir generate [options] PROMPT`: one prompt in, the model's text out. The prompt goes through
// the model's chat template as a user turn (with --system as the system turn) unless --raw.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/gen_opts.h"

#define GEN_USAGE AGIR_GEN_USAGE " [--raw] PROMPT"

static int encode_prompt(const agir_gen_setup *g, const char *prompt, int raw, agir_ids *ids, agir_err *e) {
    if (raw) return agir_tok_encode(g->llm.tok, prompt, strlen(prompt), ids, e);
    agir_chat_msg msgs[2];
    size_t n = 0;
    if (g->system) msgs[n++] = (agir_chat_msg){"system", g->system};
    msgs[n++] = (agir_chat_msg){"user", prompt};
    return agir_gen_encode_chat(g, msgs, n, ids, e);
}

static int run(agir_gen_setup *g, const char *prompt, int raw, agir_err *e) {
    agir_ids ids = {0};
    AGIR_TRY(encode_prompt(g, prompt, raw, &ids, e));
    if (ids.n == 0 || ids.n > (1u << 20)) {
        agir_ids_free(&ids);
        return AGIR_BAD(e, "prompt: %zu tokens (hint: give a non-empty prompt of at most 2^20 tokens)", ids.n);
    }
    agir_infer s;
    int rc = agir_infer_init(&s, &g->llm.model, g->adapter, 1, (int)ids.n + g->cfg.max_new, e);
    char *text = NULL;
    if (!rc) {
        rc = agir_generate_text(&s, g->llm.tok, ids.id, (int)ids.n, &g->cfg, g->stop_str, g->n_stop_str, &text, NULL,
                                e);
        agir_infer_free(&s);
    }
    if (!rc) {
        printf("%s\n", text);
        agir_gen_report(g);
    }
    free(text);
    agir_ids_free(&ids);
    return rc;
}

int agir_cmd_generate(int argc, char **argv, agir_err *e) {
    agir_args a;
    AGIR_TRY(agir_args_parse("generate", argc, argv, AGIR_GEN_OPTS " raw", &a, e));
    AGIR_TRY(agir_args_need(&a, 1, 1, GEN_USAGE, e));
    agir_gen_setup g;
    AGIR_TRY(agir_gen_setup_open(&g, &a, 128, e));
    int rc = run(&g, a.pos[0], agir_args_get(&a, "raw") != NULL, e);
    agir_gen_setup_close(&g);
    return rc;
}
