// HF transformers config.json for Llama-family models (LlamaConfig, Qwen2Config) into an
// agir_llama_config. Only the features the CPU model implements are accepted; anything else
// (other RoPE scalings, sliding windows, MLP biases, other activations) is refused with one line
// rather than silently computed differently.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsio.h"
#include "models/llama.h"

enum { MAX_CONFIG_BYTES = 1 << 20 };

static const cJSON *item(const cJSON *o, const char *key) { return cJSON_GetObjectItemCaseSensitive(o, key); }

// An integer member in [1, 2^30]; def < 0 means required.
static int get_int(const cJSON *o, const char *name, const char *key, int def, int *out, agir_err *e) {
    const cJSON *v = item(o, key);
    if (!v || cJSON_IsNull(v)) {
        if (def < 0) return AGIR_BAD(e, "%s: %s: missing (hint: is this a HF Llama/Qwen2 config.json?)", name, key);
        *out = def;
        return 0;
    }
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(d >= 1 && d <= (1 << 30)) || d != floor(d))
        return AGIR_BAD(e, "%s: %s: expected a positive integer", name, key);
    *out = (int)d;
    return 0;
}

static int get_num(const cJSON *o, const char *name, const char *key, double def, double *out, agir_err *e) {
    const cJSON *v = item(o, key);
    if (!v || cJSON_IsNull(v)) {
        if (def < 0) return AGIR_BAD(e, "%s: %s: missing", name, key);
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble <= 0)
        return AGIR_BAD(e, "%s: %s: expected a positive number", name, key);
    *out = v->valuedouble;
    return 0;
}

static int get_bool(const cJSON *o, const char *name, const char *key, int def, int *out, agir_err *e) {
    const cJSON *v = item(o, key);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsBool(v)) return AGIR_BAD(e, "%s: %s: expected true or false", name, key);
    *out = cJSON_IsTrue(v);
    return 0;
}

static int get_str(const cJSON *o, const char *key, const char **out) {
    const cJSON *v = item(o, key);
    *out = cJSON_IsString(v) ? v->valuestring : NULL;
    return v && !cJSON_IsNull(v) && !*out;  // present but not a string
}

static int parse_rope_scaling(const cJSON *rs, const char *name, agir_rope_cfg *r, agir_err *e) {
    if (!rs || cJSON_IsNull(rs)) return 0;
    if (!cJSON_IsObject(rs)) return AGIR_BAD(e, "%s: rope_scaling: expected an object or null", name);
    const char *type;
    if (get_str(rs, "rope_type", &type)) return AGIR_BAD(e, "%s: rope_scaling.rope_type: expected a string", name);
    if (!type && get_str(rs, "type", &type)) return AGIR_BAD(e, "%s: rope_scaling.type: expected a string", name);
    if (type && !strcmp(type, "default")) return 0;
    if (!type || strcmp(type, "llama3"))
        return AGIR_BAD(e, "%s: rope_scaling: type '%s' is not supported (hint: only llama3 scaling is implemented)",
                        name, type ? type : "(none)");
    AGIR_TRY(get_num(rs, name, "factor", -1, &r->factor, e));
    AGIR_TRY(get_num(rs, name, "low_freq_factor", -1, &r->low_freq_factor, e));
    AGIR_TRY(get_num(rs, name, "high_freq_factor", -1, &r->high_freq_factor, e));
    AGIR_TRY(get_num(rs, name, "original_max_position_embeddings", -1, &r->original_max_pos, e));
    if (!(r->high_freq_factor > r->low_freq_factor))
        return AGIR_BAD(e, "%s: rope_scaling: high_freq_factor must exceed low_freq_factor", name);
    return 0;
}

static int parse(const cJSON *root, const char *name, agir_llama_config *c, agir_err *e) {
    if (!cJSON_IsObject(root)) return AGIR_BAD(e, "%s: expected a JSON object", name);
    const char *type, *act;
    if (get_str(root, "model_type", &type) || !type || (strcmp(type, "llama") && strcmp(type, "qwen2")))
        return AGIR_BAD(e, "%s: model_type: '%s' is not supported (hint: llama or qwen2)", name,
                        type ? type : "(missing)");
    int qwen2 = !strcmp(type, "qwen2");
    if (get_str(root, "hidden_act", &act) || (act && strcmp(act, "silu")))
        return AGIR_BAD(e, "%s: hidden_act: only silu is supported", name);
    AGIR_TRY(get_int(root, name, "vocab_size", -1, &c->vocab, e));
    AGIR_TRY(get_int(root, name, "hidden_size", -1, &c->dim, e));
    AGIR_TRY(get_int(root, name, "intermediate_size", -1, &c->ffn, e));
    AGIR_TRY(get_int(root, name, "num_hidden_layers", -1, &c->n_layer, e));
    AGIR_TRY(get_int(root, name, "num_attention_heads", -1, &c->n_head, e));
    AGIR_TRY(get_int(root, name, "num_key_value_heads", c->n_head, &c->n_kv_head, e));
    const cJSON *hd = item(root, "head_dim");
    if ((!hd || cJSON_IsNull(hd)) && c->dim % c->n_head)
        return AGIR_BAD(e, "%s: hidden_size %d is not a multiple of num_attention_heads %d (hint: give head_dim)", name,
                        c->dim, c->n_head);
    AGIR_TRY(get_int(root, name, "head_dim", c->dim / c->n_head, &c->head_dim, e));
    double eps, theta;
    AGIR_TRY(get_num(root, name, "rms_norm_eps", 1e-6, &eps, e));
    AGIR_TRY(get_num(root, name, "rope_theta", 10000.0, &theta, e));
    c->eps = (float)eps;
    if (!(c->eps > 0) || !isfinite(c->eps))
        return AGIR_BAD(e, "%s: rms_norm_eps: %g is not a positive float32 value", name, eps);
    c->rope.theta = theta;
    AGIR_TRY(parse_rope_scaling(item(root, "rope_scaling"), name, &c->rope, e));
    AGIR_TRY(get_bool(root, name, "tie_word_embeddings", 0, &c->tied, e));
    AGIR_TRY(get_bool(root, name, "attention_bias", qwen2, &c->qkv_bias, e));
    int flag;
    AGIR_TRY(get_bool(root, name, "mlp_bias", 0, &flag, e));
    if (flag) return AGIR_BAD(e, "%s: mlp_bias: MLP biases are not supported", name);
    AGIR_TRY(get_bool(root, name, "use_sliding_window", 0, &flag, e));
    if (flag) return AGIR_BAD(e, "%s: use_sliding_window: sliding-window attention is not supported", name);
    return 0;
}

int agir_hf_config_parse(const char *json, size_t len, const char *name, agir_llama_config *c, agir_err *e) {
    memset(c, 0, sizeof *c);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) return AGIR_BAD(e, "%s: not valid JSON near byte %td", name, end ? end - json : (ptrdiff_t)0);
    while (end < json + len && *end && strchr(" \t\r\n", *end)) end++;
    if (end < json + len) {
        cJSON_Delete(root);
        return AGIR_BAD(e, "%s: text after the JSON object at byte %td", name, end - json);
    }
    int rc = parse(root, name, c, e);
    cJSON_Delete(root);
    return rc;
}

int agir_hf_config_load(const char *path, agir_llama_config *c, agir_err *e) {
    char *text;
    size_t len;
    AGIR_TRY(agir_read_file(path, MAX_CONFIG_BYTES, &text, &len, e));
    int rc = agir_hf_config_parse(text, len, path, c, e);
    free(text);
    return rc;
}
