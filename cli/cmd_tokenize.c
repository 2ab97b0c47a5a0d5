// `agir tokenize --model RUN_OR_CKPT DATA.h5 --out TOKENS.h5`: every walk of a gait dataset through a
// trained motion tokenizer, into a token store that records which tokenizer made the codes.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/vq_cli.h"
#include "core/fsio.h"
#include "infer/vq_tokenize.h"

#define TOKENIZE_USAGE "--model RUN_OR_CKPT DATA.h5 --out TOKENS.h5 [--force] [--quiet]"

const agir_opt agir_opts_tokenize[] = {
    {"model", "RUN_OR_CKPT", "the tokenizer: a training run folder (its newest checkpoint) or one ckpt-<step> folder"},
    {"out", "TOKENS.h5", "the token store to write"},
    AGIR_OPT_FORCE,
    AGIR_OPT_QUIET,
    AGIR_OPTS_END,
};

// The frame rate as a token store records it (a whole number of frames per second).
static int model_fps(const agir_vq_tokenizer *t, int64_t *fps, agir_err *e) {
    double f = t->meta.motion.fps;
    if (f != floor(f))
        return AGIR_BAD(e, "%s: the model's frame rate %g is not a whole number, which token stores require (hint: "
                        "train the tokenizer at an integer fps)", t->ckpt_dir, f);
    *fps = (int64_t)f;
    return AGIR_OK;
}

static int run(const agir_vq_tokenizer *t, const agir_gait *g, const agir_args *a, const agir_log *log, agir_err *e) {
    const char *out = agir_args_get(a, "out");
    int64_t fps = 0;
    AGIR_TRY(model_fps(t, &fps, e));
    agir_tokens tk;
    AGIR_TRY(agir_tokens_init(&tk, t->hash, t->meta.cfg.n_codes, agir_vq_frames_per_code(t), fps, e));
    agir_vq_coder c;
    int rc = agir_vq_coder_init(&c, t, g->skel, e);
    if (!rc) rc = agir_vq_tokenize_dataset(&c, g, log, &tk, e);
    if (!rc) rc = agir_tokens_write(&tk, out, e);
    if (!rc)
        agir_info(log, "%lld sequences, %lld codes (%lld per second of motion) from %s (step %lld, %.19s...) written "
                  "to %s", (long long)tk.n_seq, (long long)tk.n_codes, (long long)(fps / tk.downsample), t->ckpt_dir,
                  (long long)t->step, t->hash, out);
    agir_vq_coder_free(&c);
    agir_tokens_free(&tk);
    return rc;
}

int agir_cmd_tokenize(int argc, char **argv, agir_err *e) {
    agir_args a;
    AGIR_TRY(agir_args_command("tokenize", argc, argv, agir_opts_tokenize, 1, 1, TOKENIZE_USAGE, &a, e));
    const char *model = agir_args_get(&a, "model"), *out = agir_args_get(&a, "out");
    if (a.nsets || !model || !*model || !out || !*out)
        return AGIR_BAD(e, "agir tokenize: needs --model and --out, takes no --set (hint: usage: agir tokenize %s)",
                        TOKENIZE_USAGE);
    const char *inputs[] = {a.pos[0], model};
    AGIR_TRY(agir_output_check(out, inputs, 2, agir_args_get(&a, "force") != NULL, e));
    return agir_cli_vq_gait(&a, model, run, e);
}
