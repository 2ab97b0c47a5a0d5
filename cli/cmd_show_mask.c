// `agir show-mask CONFIG`: SFT examples exactly as the model sees them (the rendered chat, token by
// token), with the trained tokens marked, and the trained-token fraction of every task; exits 2
// when a task trains on no token, as the job would refuse it.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/sft_cli.h"

static const char USAGE[] = "CONFIG [--set section.key=value ...] [--n N] [--held-out]";

const agir_opt agir_opts_show_mask[] = {
    AGIR_OPT_SET,
    {"n", "N", "examples shown per task (default 1; 0 = only the fractions)"},
    {"held-out", NULL, "show the held-out subjects' examples instead of the training ones"},
    AGIR_OPTS_END,
};

// The example's text with each run of trained tokens between "[[" and "]]".
static int show(const agir_sft_cli *s, const agir_sft_seq *q, const agir_sft_conv *c, agir_err *e) {
    printf("--- %s example: walk %s, %d tokens, %d trained (%.1f%%)\n", agir_sft_task_name(q->task),
           s->in.tokens.seq[c->walk].id, q->len, q->n_train, q->len ? 100.0 * q->n_train / q->len : 0.0);
    for (int i = 0; i < q->len;) {
        int j = i;
        while (j < q->len && q->train[j] == q->train[i]) j++;
        char *text;
        size_t len;
        AGIR_TRY(agir_tok_decode(s->llm.tok, q->ids + i, (size_t)(j - i), 0, &text, &len, e));
        printf("%s%.*s%s", q->train[i] ? "[[" : "", (int)len, text, q->train[i] ? "]]" : "");
        free(text);
        i = j;
    }
    printf("\n");
    return AGIR_OK;
}

static void fractions(const agir_sft_set *set, const char *what) {
    printf("%-9s %-9s %9s %10s %10s %9s %8s\n", what, "task", "examples", "tokens", "trained", "fraction", "dropped");
    for (int t = 0; t < AGIR_SFT_NTASK; t++) {
        const agir_sft_counts *c = &set->counts;
        if (!c->examples[t] && !c->dropped[t]) continue;
        printf("%-9s %-9s %9lld %10lld %10lld %9.4f %8lld\n", what, agir_sft_task_name((agir_sft_task)t),
               (long long)c->examples[t], (long long)c->tokens[t], (long long)c->trained[t],
               c->tokens[t] ? (double)c->trained[t] / (double)c->tokens[t] : 0.0, (long long)c->dropped[t]);
    }
}

int agir_cmd_show_mask(int argc, char **argv, agir_err *e) {
    agir_args a;
    AGIR_TRY(agir_args_command("show-mask", argc, argv, agir_opts_show_mask, 1, 1, USAGE, &a, e));
    unsigned long long n = 1;
    AGIR_TRY(agir_args_uint(&a, "n", 0, 1000000, &n, e));
    int side = agir_args_get(&a, "held-out") != NULL;
    agir_sft_cli s;
    AGIR_TRY(agir_sft_cli_open(&s, &a, "show-mask", e));
    const agir_sft_set *set = &s.in.set[side];
    int rc = AGIR_OK;
    for (int t = 0; !rc && t < AGIR_SFT_NTASK; t++) {
        unsigned long long shown = 0;
        for (int64_t i = 0; !rc && i < set->n && shown < n; i++)
            if (set->s[i].task == (agir_sft_task)t) {
                rc = show(&s, &set->s[i], &s.in.conv[side].c[set->s[i].conv], e);
                shown++;
            }
    }
    if (!rc) {
        printf("--- trained-token fractions (template %s, sft.max_len %lld)\n", s.in.tp->name,
               (long long)agir_cfg_int(&s.run.cfg, "sft", "max_len"));
        fractions(&s.in.set[0], "training");
        fractions(&s.in.set[1], "held-out");
        fflush(stdout);
        rc = agir_sft_inputs_check(&s.in, &s.run.cfg, e);
    }
    agir_sft_cli_close(&s);
    return rc;
}
