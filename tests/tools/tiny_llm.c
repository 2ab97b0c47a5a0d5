// A tiny random Llama model as a Hugging Face folder (tiny_llm.h).
#include "tiny_llm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/safetensors.h"
#include "core/fsio.h"
#include "core/rng.h"
#include "datasets/gait.h"
#include "datasets/tokens.h"
#include "models/llama_load_impl.h"

static const char CONFIG[] =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": 64,\n"
    " \"intermediate_size\": 128, \"num_hidden_layers\": 2, \"num_attention_heads\": 2,\n"
    " \"num_key_value_heads\": 1, \"rms_norm_eps\": 1e-05, \"rope_theta\": 10000.0,\n"
    " \"tie_word_embeddings\": true, \"vocab_size\": 636, \"max_position_embeddings\": 2048,\n"
    " \"bos_token_id\": 1, \"eos_token_id\": 2, \"torch_dtype\": \"float32\"}\n";

static int copy_file(const char *from, const char *to, agir_err *e) {
    FILE *f = fopen(from, "rb");
    if (!f) return AGIR_BAD(e, "%s: cannot open", from);
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[65536];
    int rc = AGIR_OK;
    while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n > cap) {
            cap = 2 * (len + n);
            char *p = realloc(buf, cap);
            if (!p) rc = AGIR_BUG(e, "out of memory");
            else buf = p;
        }
        if (!rc) memcpy(buf + len, chunk, n), len += n;
    }
    fclose(f);
    if (!rc) rc = agir_write_atomic(to, buf, len, e);
    free(buf);
    return rc;
}

int agir_tiny_llm_write(const char *dir, const char *tokenizer_json, uint64_t seed, agir_err *e) {
    AGIR_TRY(agir_mkdirs(dir, e));
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    AGIR_TRY(agir_write_atomic(path, CONFIG, strlen(CONFIG), e));
    agir_llama_config c;
    AGIR_TRY(agir_hf_config_parse(CONFIG, strlen(CONFIG), "tiny config.json", &c, e));
    size_t shape[AGIR_LLAMA_NTENSOR][2];
    agir_llama_layer_shapes(&c, shape);
    enum { MAXT = 64 };
    agir_tensor_view v[MAXT];
    char names[MAXT][AGIR_LLAMA_NAME_MAX];
    float *data[MAXT];
    int n = 0, rc = AGIR_OK;
    agir_rng r;
    agir_rng_init(&r, seed, 0x74696e79ull);  // "tiny"
    const agir_llama_names *nm = &agir_llama_format_names[AGIR_LLAMA_HF];
    // (name, rows, cols): cols 0 = a vector (an RMSNorm weight: ones)
    for (int l = -1; !rc && l <= c.n_layer; l++) {
        int count = l < 0 || l == c.n_layer ? 1 : AGIR_LLAMA_NTENSOR;
        for (int i = 0; !rc && i < count; i++) {
            size_t rows, cols;
            if (l < 0) snprintf(names[n], AGIR_LLAMA_NAME_MAX, "%s", nm->embed), rows = (size_t)c.vocab, cols = (size_t)c.dim;
            else if (l == c.n_layer) snprintf(names[n], AGIR_LLAMA_NAME_MAX, "%s", nm->norm), rows = (size_t)c.dim, cols = 0;
            else {
                rows = shape[i][0], cols = shape[i][1];
                if (!rows) continue;  // a bias the config does not have
                agir_llama_layer_name(nm, l, (agir_llama_tensor)i, names[n]);
            }
            size_t cnt = rows * (cols ? cols : 1);
            if (!(data[n] = malloc(cnt * sizeof(float)))) {
                rc = AGIR_BUG(e, "out of memory");
                break;
            }
            for (size_t k = 0; k < cnt; k++) {
                if (!cols) data[n][k] = 1.0f;
                else {  // Box-Muller
                    double u1 = agir_rng_uniform(&r), u2 = agir_rng_uniform(&r);
                    data[n][k] = (float)(0.05 * sqrt(-2 * log(1 - u1)) * cos(6.283185307179586 * u2));
                }
            }
            v[n] = (agir_tensor_view){names[n], AGIR_DT_F32, cols ? 2 : 1, {(int64_t)rows, (int64_t)cols},
                                      data[n], cnt * sizeof(float)};
            n++;
        }
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    agir_st_kv meta[1] = {{"format", "pt"}};
    if (!rc) rc = agir_st_write(path, v, n, meta, 1, e);
    for (int i = 0; i < n; i++) free(data[i]);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (!rc) rc = copy_file(tokenizer_json, path, e);
    return rc;
}

static int tiny_walks(agir_gait *g, agir_tokens *t, agir_err *e) {
    enum { FRAMES = 8 };
    const agir_skeleton *sk = &agir_skel_h36m17;
    float frames[FRAMES * 17 * 3];
    for (int i = 0; i < FRAMES * sk->n_joints * 3; i++) frames[i] = 0.1f * (float)(i % 7);
    agir_rng r;
    agir_rng_init(&r, 7, 0);
    for (int s = 0; s < 12; s++) {
        int subject = s / 2 + 1, on = s % 2, score = (subject + on) % 4;
        char id[64], subj[16], desc[256], rat[320];
        snprintf(subj, sizeof subj, "SYN%03d", subject);
        snprintf(id, sizeof id, "%s_%s_walk_1", subj, on ? "on" : "off");
        snprintf(desc, sizeof desc, "Foot: steps are %s. Arm: swing is %s.", score > 1 ? "short" : "normal",
                 score > 0 ? "reduced" : "normal");
        snprintf(rat, sizeof rat, "%s Overall: %s gait.\nScore: %d", desc, score > 1 ? "impaired" : "mild", score);
        agir_seq meta = {.id = id, .subject = subj, .medication = on ? AGIR_MED_ON : AGIR_MED_OFF,
                         .updrs_gait = score, .fps = 20, .source = "synth", .description = desc, .rationale = rat};
        AGIR_TRY(agir_gait_append(g, &meta, frames, FRAMES, NULL, e));
        int32_t codes[12];
        int n = 5 + (int)agir_rng_below(&r, 8);
        for (int i = 0; i < n; i++) codes[i] = (int32_t)((score * 4 + (int)agir_rng_below(&r, 4)) % AGIR_TINY_CODES);
        AGIR_TRY(agir_tokens_append(t, &g->seq[s], codes, n, e));
    }
    return AGIR_OK;
}

int agir_tiny_sft_data(const char *texts_h5, const char *tokens_h5, agir_err *e) {
    agir_gait g;
    agir_tokens t;
    memset(&t, 0, sizeof t);
    AGIR_TRY(agir_gait_init(&g, &agir_skel_h36m17, 0, NULL, e));
    int rc = agir_tokens_init(&t, "test:tiny", AGIR_TINY_CODES, 4, 20, e);
    if (!rc) rc = tiny_walks(&g, &t, e);
    if (!rc) rc = agir_gait_write(&g, texts_h5, e);
    if (!rc) rc = agir_tokens_write(&t, tokens_h5, e);
    agir_tokens_free(&t);
    agir_gait_free(&g);
    return rc;
}
