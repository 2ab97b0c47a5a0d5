// `agir model-info [PATH] [--motion K]`: loads an LLM the way training and generation do (a GGUF
// file, a HF folder, or the embedded default when PATH is absent) and prints its configuration,
// tokenizer and chat template; with --motion K also extends it with motion tokens. A PATH ending
// in .json is read as a HF config.json alone (validated and printed).
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "models/chat_template.h"
#include "models/llama_load.h"

#define MODEL_INFO_USAGE "[MODEL.gguf|HF_DIR|config.json] [--motion K]"

static void print_config(const agir_llama_config *c) {
    printf("layers %d, width %d, ffn %d, heads %d (kv %d) of %d, vocabulary %d\n", c->n_layer, c->dim, c->ffn,
           c->n_head, c->n_kv_head, c->head_dim, c->vocab);
    printf("rms eps %g, rope theta %g%s, %s embeddings%s\n", c->eps, c->rope.theta,
           c->rope.factor > 0 ? " (llama3 scaling)" : "", c->tied ? "tied" : "untied", c->qkv_bias ? ", qkv bias" : "");
}

static int is_json(const char *p) {
    size_t n = strlen(p);
    return n >= 5 && !strcmp(p + n - 5, ".json");
}

const agir_opt agir_opts_model_info[] = {
    {"motion", "K", "also extend the model with K motion tokens plus <som> and <eom>, and show their ids"},
    AGIR_OPTS_END,
};

int agir_cmd_model_info(int argc, char **argv, agir_err *e) {
    agir_args a;
    AGIR_TRY(agir_args_command("model-info", argc, argv, agir_opts_model_info, 0, 1, MODEL_INFO_USAGE, &a, e));
    unsigned long long k = 0;
    AGIR_TRY(agir_args_uint(&a, "motion", 1, 65536, &k, e));
    const char *path = a.npos ? a.pos[0] : NULL;
    if (path && is_json(path)) {
        agir_llama_config c;
        AGIR_TRY(agir_hf_config_load(path, &c, e));
        print_config(&c);
        return 0;
    }
    agir_llm l;
    AGIR_TRY(agir_llm_load(path, &l, e));
    int rc = 0;
    if (k) {
        agir_new_rows_opts o = {.init = AGIR_NEW_ROWS_MEAN};
        rc = agir_llm_add_motion(&l, (int)k, &o, NULL, e);
    }
    if (!rc) {
        const agir_chat_template *tp = l.chat_jinja ? agir_chat_template_by_jinja(l.chat_jinja) : NULL;
        printf("%s\n", l.source);
        print_config(&l.model.cfg);
        printf("weights %zu floats; tokenizer %d tokens; bos %d, eos %d; chat template %s\n", l.model.n_floats,
               agir_tok_n_vocab(l.tok), l.bos, l.eos, tp ? tp->name : l.chat_jinja ? "(the model's own)" : "(none)");
        if (k)
            printf("motion tokens <motion_id_0>..<motion_id_%llu> = ids %d..%d, <som> %d, <eom> %d (trainable rows "
                   "from %d)\n", k - 1, l.motion_first, l.motion_first + (int)k - 1, l.motion_first + (int)k,
                   l.motion_first + (int)k + 1, l.model.v0);
    }
    agir_llm_free(&l);
    return rc;
}
