// The SFT job's configuration and inputs: stores, tokenizer identity, split, examples (sft_job.h).
#include "train/sft_job.h"

#include <stdlib.h>
#include <string.h>

#include "models/vqvae_io.h"

// Defaults follow the pilot in docs/training.md: PEFT's usual LoRA settings on all seven
// projections of SmolLM2-135M, new rows from the mean plus noise with their own learning rate.
const agir_key agir_sft_keys[] = {
    {"data", "tokens", AGIR_KEY_STRING, "data/tokens.h5", 0, 0, NULL, "token store: the motion codes of every walk ('agir tokenize')"},
    {"data", "texts", AGIR_KEY_STRING, "data/synth_text.h5", 0, 0, NULL,
     "gait store with each walk's description and rationale ('agir describe' or imported annotations)"},
    {"data", "tokenizer", AGIR_KEY_STRING, "runs/vqvae_demo", 0, 0, NULL,
     "the motion tokenizer's run folder or checkpoint: the token store must come from it ('' = not checked)"},
    {"model", "path", AGIR_KEY_STRING, "", 0, 0, NULL, "the LLM: a GGUF file or a Hugging Face folder ('' = SmolLM2-135M-Instruct)"},
    {"model", "weights", AGIR_KEY_CHOICE, "f32", 0, 0, "f32|bf16", "storage of the frozen weights on the CPU (CUDA: bf16)"},
    {"model", "template", AGIR_KEY_STRING, "auto", 0, 0, NULL, "chat template: auto (the model's own), chatml, llama-3, llama-2, plain"},
    {"model", "system", AGIR_KEY_STRING, "", 0, 0, NULL, "system turn before every example ('' = none)"},
    {"model", "init", AGIR_KEY_STRING, "", 0, 0, NULL,
     "start from this SFT run's adapter and new rows (a run folder or ckpt-N) ('' = the base model, fresh adapter)"},
    {"split", "mode", AGIR_KEY_CHOICE, "kfold", 0, 0, "loso|kfold|list", "how subjects are held out"},
    {"split", "k", AGIR_KEY_INT, "5", 2, 100000, NULL, "kfold: number of folds"},
    {"split", "fold", AGIR_KEY_INT, "0", 0, 100000, NULL, "kfold: the held-out fold; loso: index of the held-out subject (sorted ids)"},
    {"split", "test", AGIR_KEY_STRING, "", 0, 0, NULL, "list: held-out subject ids, comma-separated"},
    {"split", "seed", AGIR_KEY_INT, "1234", 0, 9.2e18, NULL, "kfold: seed of the subject shuffle (keep it across stages and arms)"},
    {"sft", "tasks", AGIR_KEY_STRING, "m2t:1, t2m:1", 0, 0, NULL,
     "tasks and examples per walk and epoch: m2t, t2m (stage 1), rationale, score (stage 2)"},
    {"sft", "phrasing", AGIR_KEY_INT, "-1", -1, 1000, NULL, "instruction phrasing: -1 = drawn per example, k = always the k-th"},
    {"sft", "max_len", AGIR_KEY_INT, "512", 8, 1048576, NULL, "tokens per row; longer examples are dropped and counted"},
    {"sft", "pack", AGIR_KEY_BOOL, "true", 0, 0, NULL, "pack several examples per row (block-diagonal mask) instead of padding"},
    {"lora", "rank", AGIR_KEY_INT, "16", 1, 4096, NULL, "LoRA rank r"},
    {"lora", "alpha", AGIR_KEY_FLOAT, "32", 1e-6, 1e6, NULL, "LoRA alpha: the update is scaled by alpha / r"},
    {"lora", "dropout", AGIR_KEY_FLOAT, "0.05", 0, 0.99, NULL, "dropout on the LoRA branch's input"},
    {"lora", "targets", AGIR_KEY_STRING, "q,k,v,o,gate,up,down", 0, 0, NULL, "adapted projections"},
    {"lora", "rslora", AGIR_KEY_BOOL, "false", 0, 0, NULL, "scale by alpha / sqrt(r) (rsLoRA)"},
    {"rows", "init", AGIR_KEY_CHOICE, "mean_noise", 0, 0, "mean|mean_noise", "new token rows start at the mean row (plus noise)"},
    {"rows", "noise", AGIR_KEY_FLOAT, "0.02", 0, 10, NULL, "mean_noise: standard deviation of the noise"},
    {"rows", "lr", AGIR_KEY_FLOAT, "1e-3", 0, 1, NULL, "peak learning rate of the new rows"},
    {"rows", "weight_decay", AGIR_KEY_FLOAT, "0", 0, 1, NULL, "weight decay of the new rows"},
    {"optim", "lr", AGIR_KEY_FLOAT, "2e-4", 0, 1, NULL, "peak learning rate of the LoRA matrices"},
    {"optim", "weight_decay", AGIR_KEY_FLOAT, "0", 0, 1, NULL, "weight decay of the LoRA matrices"},
    {"optim", "beta1", AGIR_KEY_FLOAT, "0.9", 0, 0.99999, NULL, "AdamW first-moment decay"},
    {"optim", "beta2", AGIR_KEY_FLOAT, "0.999", 0, 0.99999, NULL, "AdamW second-moment decay"},
    {"optim", "eps", AGIR_KEY_FLOAT, "1e-8", 1e-12, 1, NULL, "AdamW denominator epsilon"},
    {"optim", "clip", AGIR_KEY_FLOAT, "1", 0, 1e9, NULL, "maximum global gradient norm (0 = no clipping)"},
    {"optim", "schedule", AGIR_KEY_CHOICE, "cosine", 0, 0, "constant|step|cosine", "decay after the warm-up"},
    {"optim", "warmup", AGIR_KEY_INT, "10", 0, 1e12, NULL, "updates of linear warm-up"},
    {"optim", "milestones", AGIR_KEY_STRING, "", 0, 0, NULL, "step schedule: updates at which the rate is multiplied by gamma"},
    {"optim", "gamma", AGIR_KEY_FLOAT, "0.1", 0, 1, NULL, "step schedule: factor at each milestone"},
    {"optim", "min_lr", AGIR_KEY_FLOAT, "0", 0, 1, NULL, "cosine schedule: LoRA rate at the last update"},
    {"train", "epochs", AGIR_KEY_INT, "1", 0, 1e6, NULL, "passes over the training examples (used when steps = 0)"},
    {"train", "steps", AGIR_KEY_INT, "0", 0, 1e12, NULL, "updates of the whole run (0 = as many as train.epochs take)"},
    {"train", "batch_tokens", AGIR_KEY_INT, "2048", 8, 1e9, NULL, "token slots per micro-batch: a multiple of sft.max_len"},
    {"train", "accum", AGIR_KEY_INT, "1", 1, 1e6, NULL, "micro-batches per update (gradient accumulation)"},
    {"train", "log_every", AGIR_KEY_INT, "10", 1, 1e12, NULL, "updates between log lines and metrics records"},
    {"train", "val_every", AGIR_KEY_INT, "50", 0, 1e12, NULL, "updates between held-out validations (0 = at the start and end only)"},
    {"train", "val_max", AGIR_KEY_INT, "64", 0, 1e9, NULL, "held-out examples per task in a validation (0 = all)"},
    {"train", "ckpt_every", AGIR_KEY_INT, "100", 1, 1e12, NULL, "updates between checkpoints (one is also saved at the end)"},
    {"train", "keep", AGIR_KEY_INT, "3", 0, 1e6, NULL, "checkpoints kept in the run folder (0 = all)"},
    {"train", "max_bad_steps", AGIR_KEY_INT, "5", 1, 1e6, NULL, "non-finite updates in a row that stop the run"},
    AGIR_KEYS_END,
};

void agir_sft_inputs_close(agir_sft_inputs *in) {
    agir_tokens_free(&in->tokens);
    agir_gait_free(&in->texts);
    agir_split_free(&in->split);
    for (int i = 0; i < 2; i++) {
        free(in->use[i]);
        agir_sft_convs_free(&in->conv[i]);
        agir_sft_set_free(&in->set[i]);
    }
    cJSON_Delete(in->tok_info);
    memset(in, 0, sizeof *in);
}

static int add_strings(cJSON *o, const char *name, char *const *s, int n) {
    cJSON *a = cJSON_AddArrayToObject(o, name);
    for (int i = 0; a && i < n; i++)
        if (!cJSON_AddItemToArray(a, cJSON_CreateString(s[i]))) return 0;
    return a != NULL;
}

// Which held-out subjects the tokenizer saw: those its own training did not hold out.
static int tokenizer_record(agir_sft_inputs *in, const char *path, const agir_vq_tokenizer *vt, const agir_log *log,
                            agir_err *e) {
    char **seen = calloc((size_t)in->split.n + 1, sizeof *seen);
    int n_seen = 0;
    if (!seen) return AGIR_BUG(e, "out of memory");
    for (int i = 0; i < in->split.n; i++) {
        if (!in->split.test[i]) continue;
        int held = 0;
        for (int j = 0; j < vt->n_val_subjects && !held; j++) held = !strcmp(vt->val_subjects[j], in->split.subjects[i]);
        if (!held) seen[n_seen++] = in->split.subjects[i];
    }
    cJSON *o = in->tok_info = cJSON_CreateObject();
    int ok = o && cJSON_AddStringToObject(o, "path", path) && cJSON_AddStringToObject(o, "hash", vt->hash) &&
             add_strings(o, "held_out", vt->val_subjects, vt->n_val_subjects) && add_strings(o, "test_seen", seen, n_seen);
    if (n_seen)
        agir_warn(log, "sft: %d of the %d held-out subjects were in the motion tokenizer's training data (%s%s); the "
                  "tokenizer is unsupervised, but report it (split.json records it)", n_seen, in->split.n_test,
                  seen[0], n_seen > 1 ? ", ..." : "");
    free(seen);
    return ok ? AGIR_OK : AGIR_BUG(e, "out of memory");
}

static int check_tokenizer(agir_sft_inputs *in, const agir_cfg *cfg, const agir_log *log, agir_err *e) {
    const char *path = agir_cfg_str(cfg, "data", "tokenizer");
    if (!*path) {
        agir_warn(log, "sft: data.tokenizer is empty: the token store's codes are not checked against a tokenizer");
        return AGIR_OK;
    }
    agir_vq_tokenizer vt;
    agir_log quiet = *log;
    quiet.level = AGIR_LOG_QUIET;
    AGIR_TRY(agir_vq_tokenizer_load(path, 1, 0, &quiet, &vt, e));
    const agir_vqvae_config *c = &vt.meta.cfg;
    int rc = agir_tokens_check_model(&in->tokens, agir_cfg_str(cfg, "data", "tokens"), vt.hash, c->n_codes,
                                     (int64_t)1 << c->down, (int64_t)(vt.meta.motion.fps + 0.5), e);
    if (!rc) snprintf(in->tok_hash, sizeof in->tok_hash, "%s", vt.hash);
    if (!rc) rc = tokenizer_record(in, path, &vt, log, e);
    agir_vq_tokenizer_free(&vt);
    return rc;
}

static int make_split(agir_sft_inputs *in, const agir_cfg *cfg, agir_err *e) {
    char where[1200];
    agir_cfg_origin(cfg, "split", "mode", where, sizeof where);
    agir_split_spec sp = {.k = (int)agir_cfg_int(cfg, "split", "k"), .fold = (int)agir_cfg_int(cfg, "split", "fold"),
                          .list = agir_cfg_str(cfg, "split", "test"),
                          .seed = (uint64_t)agir_cfg_int(cfg, "split", "seed"), .where = where};
    AGIR_TRY(agir_split_mode_parse(agir_cfg_str(cfg, "split", "mode"), where, &sp.mode, e));
    int64_t n = in->tokens.n_seq;
    const char **subj = malloc((size_t)(n ? n : 1) * sizeof *subj);
    if (!subj) return AGIR_BUG(e, "out of memory");
    for (int64_t s = 0; s < n; s++) subj[s] = in->tokens.seq[s].subject;
    int rc = agir_split_make(subj, n, &sp, &in->split, e);
    free(subj);
    AGIR_TRY(rc);
    for (int i = 0; i < 2; i++)
        if (!(in->use[i] = calloc((size_t)(n ? n : 1), 1))) return AGIR_BUG(e, "out of memory");
    for (int64_t s = 0; s < n; s++) {
        int test = agir_split_is_test(&in->split, in->tokens.seq[s].subject) == 1;
        in->use[test][s] = 1, in->walks[test]++;
    }
    return AGIR_OK;
}

int agir_sft_inputs_open(agir_sft_inputs *in, const agir_cfg *cfg, const agir_log *log, agir_err *e) {
    memset(in, 0, sizeof *in);
    const char *tpath = agir_cfg_str(cfg, "data", "tokens"), *gpath = agir_cfg_str(cfg, "data", "texts");
    int rc = agir_tokens_read(&in->tokens, tpath, e);
    if (!rc) rc = agir_gait_read(&in->texts, gpath, e);
    if (!rc) rc = make_split(in, cfg, e);
    if (!rc) rc = check_tokenizer(in, cfg, log, e);
    if (rc) {
        agir_sft_inputs_close(in);
        return rc;
    }
    agir_info(log, "sft: %s: %lld walks of %d subjects, %lld motion codes of %lld; held out: %d subjects, %lld walks "
              "(split %s)", tpath, (long long)in->tokens.n_seq, in->split.n, (long long)in->tokens.n_codes,
              (long long)in->tokens.codebook_size, in->split.n_test, (long long)in->walks[1],
              agir_cfg_str(cfg, "split", "mode"));
    return AGIR_OK;
}

static void log_counts(const agir_log *log, const char *what, const agir_sft_set *s, const agir_sft_skips *k) {
    for (int t = 0; t < AGIR_SFT_NTASK; t++) {
        const agir_sft_counts *c = &s->counts;
        if (!c->examples[t] && !c->dropped[t] && !k->no_text[t] && !k->no_score[t]) continue;
        agir_info(log, "sft: %s %-9s %6lld examples, %8lld tokens, %5.1f%% trained; longest %d; dropped: %lld too "
                  "long, %lld without text, %lld without score", what, agir_sft_task_name((agir_sft_task)t),
                  (long long)c->examples[t], (long long)c->tokens[t],
                  c->tokens[t] ? 100.0 * (double)c->trained[t] / (double)c->tokens[t] : 0.0, c->longest[t],
                  (long long)c->dropped[t], (long long)k->no_text[t], (long long)k->no_score[t]);
    }
}

int agir_sft_inputs_build(agir_sft_inputs *in, const agir_cfg *cfg, const agir_llm *l, const agir_log *log,
                          agir_err *e) {
    char where[1200];
    agir_cfg_origin(cfg, "sft", "tasks", where, sizeof where);
    agir_sft_build b = {.tokens = &in->tokens, .texts = &in->texts, .tokens_name = agir_cfg_str(cfg, "data", "tokens"),
                        .texts_name = agir_cfg_str(cfg, "data", "texts"),
                        .phrasing = (int)agir_cfg_int(cfg, "sft", "phrasing"),
                        .seed = (uint64_t)agir_cfg_int(cfg, "run", "seed")};
    AGIR_TRY(agir_sft_mix_parse(agir_cfg_str(cfg, "sft", "tasks"), where, &b.mix, e));
    AGIR_TRY(agir_chat_template_pick(agir_cfg_str(cfg, "model", "template"), l->tok, l->chat_jinja, &in->tp, e));
    agir_sft_render r = {.tp = in->tp, .tok = l->tok, .system = agir_cfg_str(cfg, "model", "system")};
    int max_len = (int)agir_cfg_int(cfg, "sft", "max_len");
    static const char *const what[2] = {"training", "held-out"};
    for (int i = 0; i < 2; i++) {
        b.use = in->use[i];
        AGIR_TRY(agir_sft_convs_build(&b, &in->conv[i], e));
        AGIR_TRY(agir_sft_set_build(&r, &in->conv[i], max_len, &in->set[i], e));
        log_counts(log, what[i], &in->set[i], &in->conv[i].skips);
    }
    return AGIR_OK;
}

int agir_sft_inputs_check(const agir_sft_inputs *in, const agir_cfg *cfg, agir_err *e) {
    char where[1200], msg[1300];
    agir_cfg_origin(cfg, "sft", "tasks", where, sizeof where);
    snprintf(msg, sizeof msg, "%s: training examples", where);
    return agir_sft_set_check(&in->set[0], msg, e);
}

int agir_sft_load_model(const agir_cfg *cfg, const agir_sft_inputs *in, agir_llm *l, agir_err *e) {
    AGIR_TRY(agir_llm_load(agir_cfg_str(cfg, "model", "path"), l, e));
    agir_new_rows_opts o = {.init = AGIR_NEW_ROWS_MEAN};
    int rc = agir_llm_add_motion(l, (int)in->tokens.codebook_size, &o, NULL, e);
    if (rc) agir_llm_free(l);
    return rc;
}
