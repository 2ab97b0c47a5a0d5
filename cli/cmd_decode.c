// `agir decode --model RUN_OR_CKPT TOKENS.h5 --out JOINTS.h5`: codes back to joint positions with the
// tokenizer that made them, as a gait dataset at the model's frame rate (`agir plot skeleton` draws it).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "core/fsio.h"
#include "infer/vq_tokenize.h"

#define DECODE_USAGE "--model RUN_OR_CKPT TOKENS.h5 --out JOINTS.h5 [--seq ID] [--force] [--quiet]"

const agir_opt agir_opts_decode[] = {
    {"model", "RUN_OR_CKPT", "the tokenizer that made the codes: a training run folder or one ckpt-<step> folder"},
    {"out", "JOINTS.h5", "the gait dataset to write (at the model's frame rate)"},
    {"seq", "ID", "decode this sequence only"},
    AGIR_OPT_FORCE,
    AGIR_OPT_QUIET,
    AGIR_OPTS_END,
};

// Source recorded for decoded walks.
static const char SOURCE[] = "vq-decode";

// Decodes sequence s of tk and appends it to g.
static int decode_one(agir_vq_coder *c, const agir_tokens *tk, int64_t s, agir_gait *g, agir_err *e) {
    const agir_token_seq *q = &tk->seq[s];
    float *joints;
    int64_t frames;
    AGIR_TRY(agir_vq_decode_joints(c, agir_tokens_seq_codes(tk, s), q->length, &joints, &frames, e));
    agir_seq meta = {.id = q->id,
                     .subject = q->subject,
                     .medication = q->medication,
                     .updrs_gait = q->updrs_gait,
                     .fps = (float)tk->model_fps,
                     .source = (char *)SOURCE};
    int rc = agir_gait_append(g, &meta, joints, frames, NULL, e);
    free(joints);
    return rc;
}

static int run(const agir_vq_tokenizer *t, const agir_tokens *tk, const char *in, const char *only, const char *out,
               const agir_log *log, agir_err *e) {
    AGIR_TRY(agir_tokens_check_model(tk, in, t->hash, t->meta.cfg.n_codes, agir_vq_frames_per_code(t),
                                     (int64_t)t->meta.motion.fps, e));
    int64_t one = only ? agir_tokens_find(tk, only) : -1;
    if (only && one < 0) return AGIR_BAD(e, "%s: has no sequence '%s' (hint: 'agir info %s' lists them)", in, only, in);
    agir_gait g;
    AGIR_TRY(agir_gait_init(&g, &agir_skel_h36m17, 0, NULL, e));
    agir_vq_coder c;
    int rc = agir_vq_coder_init(&c, t, g.skel, e);
    agir_progress p;
    agir_progress_start(&p, log, "decode", only ? 1 : tk->n_seq);
    for (int64_t s = 0; s < tk->n_seq && !rc; s++) {
        if (only && s != one) continue;
        rc = decode_one(&c, tk, s, &g, e);
        agir_progress_add(&p, 1);
    }
    agir_progress_finish(&p);
    if (!rc) rc = agir_gait_write(&g, out, e);
    if (!rc)
        agir_info(log, "%lld sequences, %lld frames at %lld fps written to %s", (long long)g.n_seq,
                  (long long)g.n_frames, (long long)tk->model_fps, out);
    agir_vq_coder_free(&c);
    agir_gait_free(&g);
    return rc;
}

int agir_cmd_decode(int argc, char **argv, agir_err *e) {
    agir_args a;
    AGIR_TRY(agir_args_command("decode", argc, argv, agir_opts_decode, 1, 1, DECODE_USAGE, &a, e));
    const char *model = agir_args_get(&a, "model"), *out = agir_args_get(&a, "out"), *seq = agir_args_get(&a, "seq");
    if (a.nsets || !model || !*model || !out || !*out || (seq && !*seq))
        return AGIR_BAD(e, "agir decode: needs --model and --out, takes no --set (hint: usage: agir decode %s)",
                        DECODE_USAGE);
    const char *inputs[] = {a.pos[0], model};
    AGIR_TRY(agir_output_check(out, inputs, 2, agir_args_get(&a, "force") != NULL, e));
    agir_log log;
    agir_log_init(&log, agir_args_get(&a, "quiet") ? AGIR_LOG_QUIET : AGIR_LOG_INFO);
    // The model first: a wrong model is reported whatever the data.
    agir_vq_tokenizer t;
    int rc = agir_vq_tokenizer_load(model, 1, 0, &log, &t, e);
    agir_tokens tk;
    if (!rc && !(rc = agir_tokens_read(&tk, a.pos[0], e))) {
        rc = run(&t, &tk, a.pos[0], seq, out, &log, e);
        agir_tokens_free(&tk);
    }
    agir_vq_tokenizer_free(&t);
    agir_log_close(&log);
    return rc;
}
