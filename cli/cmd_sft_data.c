// `agir sft-data CONFIG --out FILE.jsonl`: the SFT examples of a config in the chat "messages"
// JSONL that TRL's SFTTrainer, axolotl (type chat_template) and LLaMA-Factory (sharegpt/openai
// format) read: one object per line, {"messages": [{"role", "content"}, ...]}, plus the task, walk
// and subject for reference. The messages are those the job renders with the model's template
// (examples longer than sft.max_len are left out, as in training).
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/sft_cli.h"
#include "core/fsio.h"

static const char USAGE[] = "CONFIG --out FILE.jsonl [--set section.key=value ...] [--held-out] [--force]";

const agir_opt agir_opts_sft_data[] = {
    AGIR_OPT_SET,
    {"out", "FILE.jsonl", "where to write the examples"},
    {"held-out", NULL, "write the held-out subjects' examples instead of the training ones"},
    AGIR_OPT_FORCE,
    AGIR_OPTS_END,
};

static cJSON *example(const agir_sft_cli *s, const agir_sft_conv *c) {
    agir_sft_render r = {.tp = s->in.tp, .tok = s->llm.tok, .system = agir_cfg_str(&s->run.cfg, "model", "system")};
    agir_chat_msg msgs[3];
    int n = agir_sft_messages(&r, c, msgs);
    cJSON *o = cJSON_CreateObject(), *m = o ? cJSON_AddArrayToObject(o, "messages") : NULL;
    int ok = m != NULL;
    for (int i = 0; ok && i < n; i++) {
        cJSON *x = cJSON_CreateObject();
        ok = x && cJSON_AddItemToArray(m, x) && cJSON_AddStringToObject(x, "role", msgs[i].role) &&
             cJSON_AddStringToObject(x, "content", msgs[i].content);
    }
    const agir_token_seq *q = &s->in.tokens.seq[c->walk];
    ok = ok && cJSON_AddStringToObject(o, "task", agir_sft_task_name(c->task)) &&
         cJSON_AddStringToObject(o, "walk", q->id) && cJSON_AddStringToObject(o, "subject", q->subject);
    if (!ok) cJSON_Delete(o);
    return ok ? o : NULL;
}

static int write_jsonl(const agir_sft_cli *s, int side, const char *out, agir_err *e) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return AGIR_BUG(e, "out of memory");
    int rc = AGIR_OK;
    const agir_sft_set *set = &s->in.set[side];
    for (int64_t i = 0; !rc && i < set->n; i++) {
        cJSON *o = example(s, &s->in.conv[side].c[set->s[i].conv]);
        char *line = o ? cJSON_PrintUnformatted(o) : NULL;
        if (!line) rc = AGIR_BUG(e, "out of memory");
        else fprintf(f, "%s\n", line);
        free(line);
        cJSON_Delete(o);
    }
    fclose(f);
    if (!rc) rc = agir_write_atomic(out, buf, len, e);
    free(buf);
    if (!rc)
        agir_info(&s->run.log, "sft-data: %lld %s examples written to %s", (long long)set->n,
                  side ? "held-out" : "training", out);
    return rc;
}

int agir_cmd_sft_data(int argc, char **argv, agir_err *e) {
    agir_args a;
    AGIR_TRY(agir_args_command("sft-data", argc, argv, agir_opts_sft_data, 1, 1, USAGE, &a, e));
    const char *out = agir_args_get(&a, "out");
    if (!out) return AGIR_BAD(e, "sft-data: --out FILE.jsonl is required (hint: agir sft-data %s --out train.jsonl)",
                              a.pos[0]);
    AGIR_TRY(agir_output_check(out, (const char *const *)a.pos, 1, agir_args_get(&a, "force") != NULL, e));
    agir_sft_cli s;
    AGIR_TRY(agir_sft_cli_open(&s, &a, "sft-data", e));
    int rc = write_jsonl(&s, agir_args_get(&a, "held-out") != NULL, out, e);
    agir_sft_cli_close(&s);
    return rc;
}
