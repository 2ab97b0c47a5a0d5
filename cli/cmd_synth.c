// `agir synth CONFIG`: generates the synthetic Parkinsonian gait dataset and writes it as HDF5.
#include <cJSON.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "core/fsio.h"
#include "core/run.h"
#include "datasets/synth.h"

// Creates the folder that will hold `path` (nothing to do for a bare file name).
static int make_parent(const char *path, agir_err *e) {
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path) return AGIR_OK;
    if ((size_t)(slash - path) >= sizeof dir) return AGIR_BAD(e, "synth.output: path too long (%s)", path);
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    return agir_mkdirs(dir, e);
}

// Walks per score and their mean realised speed and arm swing: the one-screen check that the
// severity gradient is there.
static void summarize(const agir_gait *g, double gen_s, double write_s, const agir_log *log) {
    int n[5] = {0};
    double speed[5] = {0}, arm[5] = {0};
    int cs = agir_gait_gt_col(g, "speed"), cl = agir_gait_gt_col(g, "arm_swing_l"), cr = agir_gait_gt_col(g, "arm_swing_r");
    for (int64_t s = 0; s < g->n_seq; s++) {
        int k = g->seq[s].updrs_gait;
        if (k < 0 || k > 4) continue;
        const float *row = g->gt + (size_t)s * (size_t)g->n_gt;
        n[k]++;
        speed[k] += row[cs];
        arm[k] += 0.5 * (row[cl] + row[cr]);
    }
    agir_info(log, "synth: %lld walks, %lld frames, generated in %.2f s, written in %.2f s", (long long)g->n_seq,
              (long long)g->n_frames, gen_s, write_s);
    for (int k = 0; k < 5; k++)
        if (n[k])
            agir_info(log, "  score %d: %3d walks, mean speed %.2f m/s, mean arm swing %.2f m", k, n[k], speed[k] / n[k],
                      arm[k] / n[k]);
    cJSON *m = cJSON_CreateObject();
    if (!m) return;
    cJSON_AddStringToObject(m, "event", "synth");
    cJSON_AddNumberToObject(m, "walks", (double)g->n_seq);
    cJSON_AddNumberToObject(m, "frames", (double)g->n_frames);
    cJSON_AddNumberToObject(m, "generate_s", gen_s);
    cJSON_AddNumberToObject(m, "write_s", write_s);
    int counts[4] = {n[0], n[1], n[2], n[3]};
    cJSON_AddItemToObject(m, "walks_per_score", cJSON_CreateIntArray(counts, 4));
    agir_metrics_emit(log, m);
}

const agir_opt agir_opts_synth[] = {
    AGIR_OPT_SET,
    {"force", NULL, "replace synth.output if it exists (without it an existing file is refused)"},
    AGIR_OPTS_END,
};

int agir_cmd_synth(int argc, char **argv, agir_err *e) {
    agir_args a;
    AGIR_TRY(agir_args_command("synth", argc, argv, agir_opts_synth, 1, 1,
                               "CONFIG [--set section.key=value ...] [--force]", &a, e));
    char job[64];
    AGIR_TRY(agir_job_expect(a.pos[0], "synth", job, sizeof job, e));
    agir_run run;
    int rc = agir_run_load(&run, "synth", agir_job_schema("synth"), a.pos[0], a.sets, a.nsets, e);
    // The output is checked before the work: an existing file, a folder, the config itself or an
    // unwritable place is refused at once.
    const char *out = rc ? NULL : agir_cfg_str(&run.cfg, "synth", "output");
    if (!rc) rc = make_parent(out, e);
    if (!rc) rc = agir_output_check(out, (const char *const *)a.pos, 1, agir_args_get(&a, "force") != NULL, e);
    if (!rc) rc = agir_run_start(&run, e);
    agir_gait g = {0};
    double t0 = agir_now();
    if (!rc) rc = agir_synth_generate(&run.cfg, &g, &run.log, e);
    double t1 = agir_now();
    if (!rc) rc = agir_gait_write(&g, out, e);
    if (!rc) {
        summarize(&g, t1 - t0, agir_now() - t1, &run.log);
        agir_info(&run.log, "synth: wrote %s", out);
    }
    agir_gait_free(&g);
    agir_run_close(&run);
    return rc;
}
