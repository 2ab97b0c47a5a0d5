// What `agir show-mask` and `agir sft-data` share: an SFT config's examples, rendered for its model.
#include "cli/sft_cli.h"

#include <string.h>

#include "cli/cli.h"

int agir_sft_cli_open(agir_sft_cli *s, const agir_args *a, const char *command, agir_err *e) {
    memset(s, 0, sizeof *s);
    char job[64];
    AGIR_TRY(agir_job_expect(a->pos[0], "train", job, sizeof job, e));
    if (strcmp(job, "sft"))
        return AGIR_BAD(e, "%s: [run] job = %s, but 'agir %s' reads SFT configs (hint: job = sft, as in "
                        "configs/sft_stage1.ini)", a->pos[0], job, command);
    AGIR_TRY(agir_run_load(&s->run, "sft", agir_job_schema("sft"), a->pos[0], a->sets, a->nsets, e));
    int rc = agir_sft_inputs_open(&s->in, &s->run.cfg, &s->run.log, e);
    if (!rc && !(rc = agir_sft_load_model(&s->run.cfg, &s->in, &s->llm, e))) s->have_llm = 1;
    if (!rc) rc = agir_sft_inputs_build(&s->in, &s->run.cfg, &s->llm, &s->run.log, e);
    if (rc) agir_sft_cli_close(s);
    return rc;
}

void agir_sft_cli_close(agir_sft_cli *s) {
    agir_sft_inputs_close(&s->in);
    if (s->have_llm) agir_llm_free(&s->llm);
    agir_run_close(&s->run);
    memset(s, 0, sizeof *s);
}
