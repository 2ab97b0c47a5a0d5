// `agir eval-vq --model RUN_OR_CKPT DATA.h5`: how well a trained motion tokenizer reconstructs the
// walks of held-out subjects (MPJPE, codebook use, gait features after a round trip), as a table
// and optionally as JSON (metrics defined in infer/vq_eval.h).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/vq_cli.h"
#include "core/fsio.h"
#include "infer/vq_eval.h"

#define EVAL_VQ_USAGE \
    "--model RUN_OR_CKPT DATA.h5 [--subjects A,B,...] [--no-quantize] [--json OUT.json] [--force] [--quiet]"

const agir_opt agir_opts_eval_vq[] = {
    {"model", "RUN_OR_CKPT", "the tokenizer: a training run folder (its newest checkpoint) or one ckpt-<step> folder"},
    {"subjects", "A,B,...", "evaluate the walks of these subjects (default: the checkpoint's held-out subjects)"},
    {"no-quantize", NULL, "decode the encoder's output without its codebook: the autoencoder alone"},
    {"json", "OUT.json", "also write the results as JSON"},
    AGIR_OPT_FORCE,
    AGIR_OPT_QUIET,
    AGIR_OPTS_END,
};

enum { MAX_SUBJECTS = 4096 };

// The subjects to evaluate: --subjects split at commas (list points into buf), else the
// checkpoint's held-out ones; *n = 0 means every walk.
static int pick_subjects(const char *opt, const agir_vq_tokenizer *t, char *buf, size_t bufsz, const char **list,
                         int *n, agir_err *e) {
    *n = 0;
    if (!opt) {
        for (int i = 0; i < t->n_val_subjects && i < MAX_SUBJECTS; i++) list[(*n)++] = t->val_subjects[i];
        return AGIR_OK;
    }
    if (strlen(opt) >= bufsz) return AGIR_BAD(e, "agir eval-vq: --subjects is too long");
    snprintf(buf, bufsz, "%s", opt);
    for (char *p = buf, *tok; (tok = strsep(&p, ","));) {
        if (!*tok) return AGIR_BAD(e, "agir eval-vq: --subjects '%s' has an empty name (hint: --subjects S01,S02)", opt);
        if (*n == MAX_SUBJECTS) return AGIR_BAD(e, "agir eval-vq: more than %d subjects", MAX_SUBJECTS);
        list[(*n)++] = tok;
    }
    return AGIR_OK;
}

// A relative error, or "-" when no walk gave one.
static void print_rel(double x) {
    if (isnan(x))
        printf("%8s", "-");
    else
        printf("%8.3f", x);
}

static void print_table(const agir_vq_tokenizer *t, const char *data, const agir_vq_eval *r, const char *const *subj,
                        int n_subj, int held_out) {
    printf("tokenizer   %s (step %lld, %s)\n", t->ckpt_dir, (long long)t->step, t->hash);
    printf("walks       %lld from %s", (long long)r->n_seq, data);
    if (n_subj) {
        printf(", subjects");
        for (int i = 0; i < n_subj; i++) printf("%s %s", i ? "," : "", subj[i]);
    } else {
        printf(", every subject");
    }
    printf(" (%s)\n", held_out ? "held out in training" : "not the training job's held-out set");
    printf("            %lld frames at %g fps, %lld codes\n", (long long)r->n_frames, t->meta.motion.fps,
           (long long)r->n_codes);
    if (!r->quantized) printf("decoder     reads z_e, not its codes (--no-quantize): the autoencoder alone\n");
    printf("MPJPE       %.1f mm (root-aligned), %.1f mm global\n", r->mpjpe_mm, r->mpjpe_global_mm);
    printf("codebook    %lld of %d codes used (%.1f%%), perplexity %.1f\n", (long long)r->codes_used, r->codebook_size,
           100 * r->usage, r->perplexity);
    printf("gait features after the round trip: median relative error, %lld walks (%lld lost their steps)\n",
           (long long)r->n_features, (long long)r->n_features_lost);
    for (int i = 0; i < agir_n_features; i++) {
        printf("  %-16s ", agir_feature_table[i].name);
        print_rel(r->rel_median[i]);
        printf("  (%lld walks)\n", (long long)r->rel_count[i]);
    }
    printf("  %-16s ", "all");
    print_rel(r->rel_median_all);
    printf("\n");
}

static int write_json(const char *path, const agir_vq_tokenizer *t, const char *data, const agir_gait *g,
                      const agir_vq_eval *r, const char *const *subj, int n_subj, int held_out, agir_err *e) {
    cJSON *o = agir_vq_eval_json(r, g), *m = NULL, *s = NULL;
    int ok = o && (m = cJSON_AddObjectToObject(o, "model")) && cJSON_AddStringToObject(m, "checkpoint", t->ckpt_dir) &&
             cJSON_AddNumberToObject(m, "step", (double)t->step) && cJSON_AddStringToObject(m, "hash", t->hash) &&
             cJSON_AddStringToObject(o, "data", data) && cJSON_AddBoolToObject(o, "held_out", held_out) &&
             (s = cJSON_AddArrayToObject(o, "subjects"));
    for (int i = 0; ok && i < n_subj; i++) ok = cJSON_AddItemToArray(s, cJSON_CreateString(subj[i]));
    char *text = ok ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    if (!text) return AGIR_BUG(e, "out of memory writing %s", path);
    int rc = agir_write_atomic(path, text, strlen(text), e);
    cJSON_free(text);
    return rc;
}

static int run(const agir_vq_tokenizer *t, const agir_gait *g, const agir_args *a, const agir_log *log, agir_err *e) {
    const char *opt = agir_args_get(a, "subjects"), *json = agir_args_get(a, "json"), *data = a->pos[0];
    const char **list = malloc(MAX_SUBJECTS * sizeof *list);
    char buf[65536];
    int n = 0;
    if (!list) return AGIR_BUG(e, "out of memory");
    int rc = pick_subjects(opt, t, buf, sizeof buf, list, &n, e);
    if (rc) {
        free(list);
        return rc;
    }
    // Held out: the training job's own list, or a --subjects list inside it.
    int held_out = n > 0;
    for (int i = 0; i < n && held_out; i++) {
        int in = 0;
        for (int k = 0; k < t->n_val_subjects; k++) in |= !strcmp(list[i], t->val_subjects[k]);
        held_out = in;
    }
    if (!n) agir_warn(log, "%s records no held-out subjects: evaluating every walk of %s", t->ckpt_dir, data);
    uint8_t *sel = malloc((size_t)(g->n_seq ? g->n_seq : 1));
    rc = !sel ? AGIR_BUG(e, "out of memory") : n ? agir_vq_select_subjects(g, data, list, n, sel, e) : AGIR_OK;
    agir_vq_coder c;
    agir_vq_eval r;
    memset(&c, 0, sizeof c);
    memset(&r, 0, sizeof r);
    if (!rc) rc = agir_vq_coder_init(&c, t, g->skel, e);
    if (!rc) rc = agir_vq_evaluate(&c, g, n ? sel : NULL, !agir_args_get(a, "no-quantize"), log, &r, e);
    if (!rc) print_table(t, data, &r, list, n, held_out);
    if (!rc && json) rc = write_json(json, t, data, g, &r, list, n, held_out, e);
    agir_vq_eval_free(&r);
    agir_vq_coder_free(&c);
    free(sel);
    free(list);
    return rc;
}

int agir_cmd_eval_vq(int argc, char **argv, agir_err *e) {
    agir_args a;
    AGIR_TRY(agir_args_command("eval-vq", argc, argv, agir_opts_eval_vq, 1, 1, EVAL_VQ_USAGE, &a, e));
    const char *model = agir_args_get(&a, "model"), *json = agir_args_get(&a, "json");
    if (a.nsets || !model || !*model || (json && !*json))
        return AGIR_BAD(e, "agir eval-vq: needs --model, takes no --set (hint: usage: agir eval-vq %s)", EVAL_VQ_USAGE);
    const char *inputs[] = {a.pos[0], model};
    if (json) AGIR_TRY(agir_output_check(json, inputs, 2, agir_args_get(&a, "force") != NULL, e));
    return agir_cli_vq_gait(&a, model, run, e);
}
