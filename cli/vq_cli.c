// Loading a tokenizer and a gait dataset for the commands of vq_cli.h.
#include "cli/vq_cli.h"

int agir_cli_vq_gait(const agir_args *a, const char *model, agir_vq_gait_job job, agir_err *e) {
    agir_log log;
    agir_log_init(&log, agir_args_get(a, "quiet") ? AGIR_LOG_QUIET : AGIR_LOG_INFO);
    agir_vq_tokenizer t;
    int rc = agir_vq_tokenizer_load(model, 1, 0, &log, &t, e);
    agir_gait g;
    if (!rc && !(rc = agir_gait_read(&g, a->pos[0], e))) {
        rc = job(&t, &g, a, &log, e);
        agir_gait_free(&g);
    }
    agir_vq_tokenizer_free(&t);
    agir_log_close(&log);
    return rc;
}
