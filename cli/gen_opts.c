// Options, model loading and speed report shared by `agir generate` and `agir chat`.
#include "cli/gen_opts.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoints/gguf.h"
#include "core/fsio.h"
#include "core/utf8.h"
#include "models/adapter.h"

static int opt_float(const agir_args *a, const char *name, float *out, agir_err *e) {
    const char *s = agir_args_get(a, name);
    if (!s) return 0;
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || isnan(v))
        return AGIR_BAD(e, "--%s: '%s' is not a number (hint: e.g. --%s 0.7)", name, s, name);
    if (!isfinite(v) || fabs(v) > 1e6)
        return AGIR_BAD(e, "--%s: %s is out of range (hint: at most 1e6 in size; e.g. --%s 0.7)", name, s, name);
    *out = (float)v;
    return 0;
}

static int read_opts(agir_gen_setup *g, const agir_args *a, int max_tokens, agir_err *e) {
    unsigned long long max_new = (unsigned long long)max_tokens, k = 0, seed = 0;
    AGIR_TRY(agir_args_uint(a, "max-tokens", 0, 1 << 20, &max_new, e));
    AGIR_TRY(agir_args_uint(a, "top-k", 0, 1 << 24, &k, e));
    AGIR_TRY(agir_args_uint(a, "seed", 0, UINT64_MAX, &seed, e));
    agir_sample_cfg sc = {.temperature = 0, .top_k = (int)k, .top_p = 1};
    AGIR_TRY(opt_float(a, "temperature", &sc.temperature, e));
    AGIR_TRY(opt_float(a, "top-p", &sc.top_p, e));
    AGIR_TRY(agir_sample_check(&sc, e));
    for (int i = 0; i < a->nopt; i++) {
        if (strncmp(a->opt[i].name, "stop", 4) || (a->opt[i].name[4] && a->opt[i].name[4] != '=')) continue;
        if (g->n_stop_str == (int)(sizeof g->stop_str / sizeof *g->stop_str))
            return AGIR_BAD(e, "--stop: more than %d stop strings", g->n_stop_str);
        if (!*a->opt[i].value) return AGIR_BAD(e, "--stop: empty stop string (hint: --stop '###')");
        g->stop_str[g->n_stop_str++] = a->opt[i].value;
    }
    g->seed = seed;
    g->system = agir_args_get(a, "system");
    if (g->system) AGIR_TRY(agir_gen_check_utf8("--system", g->system, e));
    for (int i = 0; i < g->n_stop_str; i++) AGIR_TRY(agir_gen_check_utf8("--stop", g->stop_str[i], e));
    g->stats = agir_args_get(a, "stats") != NULL;
    const char *w = agir_args_get(a, "weights");
    if (w && strcmp(w, "f32") && strcmp(w, "bf16"))
        return AGIR_BAD(e, "--weights: '%s' is not a weight type (hint: f32 or bf16)", w);
    g->w.wdt = w && !strcmp(w, "bf16") ? AGIR_BF16 : AGIR_F32;
    g->cfg = (agir_gen_cfg){.max_new = (int)max_new, .sample = sc, .seed = &g->seed, .stats = &g->st};
    return 0;
}

int agir_gen_check_utf8(const char *what, const char *text, agir_err *e) {
    long bad = agir_utf8_invalid_at(text, strlen(text));
    if (bad >= 0)
        return AGIR_BAD(e, "%s: invalid UTF-8 at byte %ld of the text given (0x%02x) (hint: give UTF-8 text; "
                        "convert other encodings with iconv)", what, bad, (unsigned char)text[bad]);
    return AGIR_OK;
}

// <arch>.context_length of a GGUF file, 0 when absent.
static long long gguf_context(const char *path) {
    agir_gguf f;
    agir_err e = {0};
    if (agir_gguf_open(path, &f, &e)) return 0;
    long long n = 0;
    char *arch = NULL, key[128];
    int64_t v;
    if (!agir_gguf_get_str(&f, "general.architecture", &arch, &e) &&
        snprintf(key, sizeof key, "%s.context_length", arch) < (int)sizeof key &&
        !agir_gguf_get_i64(&f, key, &v, &e) && v > 0)
        n = v;
    free(arch);
    agir_gguf_close(&f);
    return n;
}

// max_position_embeddings of a HF folder's config.json, 0 when absent.
static long long hf_context(const char *dir) {
    char path[4200], *text;
    size_t len;
    agir_err e = {0};
    if (agir_path_join(path, sizeof path, dir, "config.json", &e) || agir_read_file(path, 1 << 20, &text, &len, &e))
        return 0;
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "max_position_embeddings");
    long long n = cJSON_IsNumber(m) && m->valuedouble >= 1 && m->valuedouble < 1e12 ? (long long)m->valuedouble : 0;
    cJSON_Delete(j);
    return n;
}

// The positions the model was trained for, as its files say (0 when they do not).
static long long model_context(const char *source) {
    struct stat st;
    if (stat(source, &st) != 0) return 0;
    return S_ISDIR(st.st_mode) ? hf_context(source) : gguf_context(source);
}

// Prefills up to this many tokens draw no progress: they take a second or two.
enum { PREFILL_QUIET = 1024 };

static void prefill_progress(void *ctx, long long done, long long total) {
    agir_gen_setup *g = ctx;
    if (total <= PREFILL_QUIET) return;
    if (!g->bar_on) agir_progress_start(&g->bar, &g->log, "prefill", total);
    g->bar_on = done < total;
    agir_progress_add(&g->bar, done - g->bar.done);
    if (!g->bar_on) agir_progress_finish(&g->bar);
}

static void on_text(void *ctx, const char *text, size_t n) {
    (void)ctx;
    fwrite(text, 1, n, stdout);
    fflush(stdout);
}

int agir_gen_setup_open(agir_gen_setup *g, const agir_args *a, int max_tokens, agir_err *e) {
    memset(g, 0, sizeof *g);
    AGIR_TRY(read_opts(g, a, max_tokens, e));
    const char *tname = agir_args_get(a, "template");
    // Check a template name before the model loads; "auto" is resolved against the model below.
    if (tname && *tname && strcmp(tname, "auto") && !agir_chat_template_find(tname))
        return AGIR_BAD(e, "--template: unknown template '%s' (hint: auto, %s)", tname, agir_chat_template_names());
    AGIR_TRY(agir_llm_load(agir_args_get(a, "model"), &g->llm, e));
    g->loaded = 1;
    const char *adapter = agir_args_get(a, "adapter");
    int rc = 0;
    if (adapter && !(rc = agir_adapter_load(adapter, &g->llm, &g->lora, e))) g->adapter = &g->lora;
    if (!rc) rc = agir_chat_template_pick(tname ? tname : "auto", g->llm.tok, g->llm.chat_jinja, &g->tp, e);
    agir_ftype wdt = g->w.wdt;
    if (!rc) rc = agir_ctx_open(&g->ctx, AGIR_DEV_CPU, e);
    if (!rc) rc = agir_llama_weights_open(&g->w, &g->ctx, wdt, &g->llm.model, g->adapter, e);
    if (!rc && wdt == AGIR_BF16) rc = agir_llama_drop_frozen(&g->llm.model, e);  // keep the bf16 copy only
    if (rc) {
        agir_gen_setup_close(g);
        return rc;
    }
    g->cfg.stop = g->stop_ids;
    g->cfg.n_stop = agir_gen_stop_ids(g->llm.tok, g->llm.eos, g->tp, g->stop_ids);
    g->context = model_context(g->llm.source);
    agir_log_init(&g->log, AGIR_LOG_INFO);
    g->cfg.on_prefill = prefill_progress;
    g->cfg.prefill_ctx = g;
    g->cfg.on_text = on_text;
    return 0;
}

int agir_gen_infer_open(agir_gen_setup *g, agir_infer *s, int T_max, agir_err *e) {
    return agir_infer_open(s, &g->w, 1, T_max, e);
}

void agir_gen_setup_close(agir_gen_setup *g) {
    agir_llama_weights_close(&g->w);
    agir_ctx_close(&g->ctx);
    if (g->adapter) agir_lora_free(&g->lora);
    if (g->loaded) agir_llm_free(&g->llm);
    g->adapter = NULL;
    g->loaded = 0;
}

int agir_gen_encode_chat(const agir_gen_setup *g, const agir_chat_msg *msgs, size_t n, agir_ids *ids, agir_err *e) {
    agir_chat_text ct = {0};
    AGIR_TRY(agir_chat_render(g->tp, msgs, n, 1, &ct, e));
    int rc = agir_tok_encode(g->llm.tok, ct.text, ct.len, ids, e);
    agir_chat_text_free(&ct);
    return rc;
}

void agir_gen_report(const agir_gen_setup *g) {
    if (!g->stats) return;
    const agir_gen_stats *s = &g->st;
    fprintf(stderr, "prefill %lld tokens in %.3f s (%.1f tokens/s), decode %lld tokens in %.3f s (%.1f tokens/s)\n",
            s->prefill_tokens, s->prefill_s, s->prefill_s > 0 ? s->prefill_tokens / s->prefill_s : 0.0,
            s->decode_tokens, s->decode_s, s->decode_s > 0 ? s->decode_tokens / s->decode_s : 0.0);
}
