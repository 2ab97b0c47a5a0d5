// `agir features DATA.h5`: clinical gait parameters of every sequence as CSV and JSONL tables,
// and a summary of the main ones per UPDRS gait score.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "core/fsio.h"
#include "core/log.h"
#include "datasets/features.h"

#define FEATURES_USAGE "DATA.h5 [--csv OUT.csv] [--jsonl OUT.jsonl] [--out DIR] [--skip-invalid] [--force] [--quiet]"

const agir_opt agir_opts_features[] = {
    {"csv", "OUT.csv", "the CSV table to write (default: DATA.features.csv, beside DATA or in --out)"},
    {"jsonl", "OUT.jsonl", "the JSONL table to write (default: DATA.features.jsonl, beside DATA or in --out)"},
    {"out", "DIR", "folder for the default outputs (created when missing)"},
    {"skip-invalid", NULL, "leave out walks whose features cannot be measured instead of stopping"},
    AGIR_OPT_FORCE,
    AGIR_OPT_QUIET,
    AGIR_OPTS_END,
};

// DATA's name without its .h5/.hdf5 extension plus `suffix`: beside DATA, or inside `dir`.
static int default_path(const char *data, const char *dir, const char *suffix, char *out, size_t outsz, agir_err *e) {
    const char *base = data;
    if (dir) {
        const char *slash = strrchr(data, '/');
        base = slash ? slash + 1 : data;
    }
    size_t n = strlen(base);
    static const char *const exts[] = {".h5", ".hdf5"};
    for (size_t i = 0; i < sizeof exts / sizeof *exts; i++) {
        size_t k = strlen(exts[i]);
        if (n > k && !strcmp(base + n - k, exts[i])) {
            n -= k;
            break;
        }
    }
    char name[4096];
    int k = snprintf(name, sizeof name, "%.*s%s", (int)n, base, suffix);
    if (k < 0 || (size_t)k >= sizeof name) return AGIR_BAD(e, "%s: path too long (hint: use a shorter name)", data);
    if (dir) return agir_path_join(out, outsz, dir, name, e);
    if ((size_t)k >= outsz) return AGIR_BAD(e, "%s: path too long (hint: use a shorter name)", data);
    memcpy(out, name, (size_t)k + 1);
    return AGIR_OK;
}

// Mean speed, cadence, step length and arm swing per UPDRS gait score (-1 = unknown).
static void print_summary(const agir_gait *g, const agir_features *f, const uint8_t *ok) {
    printf("%-7s %6s %10s %14s %14s %12s\n", "score", "walks", "speed m/s", "cadence /min", "step length m",
           "arm swing m");
    for (int score = -1; score <= 4; score++) {
        double sum[4] = {0, 0, 0, 0};
        int n = 0;
        for (int64_t s = 0; s < g->n_seq; s++) {
            if (!ok[s] || g->seq[s].updrs_gait != score) continue;
            sum[0] += f[s].speed, sum[1] += f[s].cadence, sum[2] += f[s].step_length;
            sum[3] += 0.5 * (f[s].arm_swing_l + f[s].arm_swing_r);
            n++;
        }
        if (!n) continue;
        char label[16];
        snprintf(label, sizeof label, score < 0 ? "unknown" : "%d", score);
        printf("%-7s %6d %10.3f %14.1f %14.3f %12.3f\n", label, n, sum[0] / n, sum[1] / n, sum[2] / n, sum[3] / n);
    }
}

static int run(const agir_gait *g, const char *csv, const char *jsonl, int skip, const agir_log *log, agir_err *e) {
    size_t n = g->n_seq ? (size_t)g->n_seq : 1;
    agir_features *f = calloc(n, sizeof *f);
    uint8_t *ok = calloc(n, 1);
    int rc = f && ok ? AGIR_OK : AGIR_BUG(e, "out of memory for %lld sequences", (long long)g->n_seq);
    if (!rc) rc = agir_features_dataset(g, skip, log, f, ok, e);
    if (!rc) rc = agir_features_write_csv(csv, g, f, ok, e);
    if (!rc) rc = agir_features_write_jsonl(jsonl, g, f, ok, e);
    if (!rc) {
        int64_t rows = 0;
        for (int64_t s = 0; s < g->n_seq; s++) rows += ok[s];
        agir_info(log, "features of %lld of %lld sequences written to %s and %s", (long long)rows,
                  (long long)g->n_seq, csv, jsonl);
        print_summary(g, f, ok);
    }
    free(f);
    free(ok);
    return rc;
}

int agir_cmd_features(int argc, char **argv, agir_err *e) {
    agir_args a;
    AGIR_TRY(agir_args_command("features", argc, argv, agir_opts_features, 1, 1, FEATURES_USAGE, &a, e));
    if (a.nsets) return AGIR_BAD(e, "agir features: takes no --set (hint: usage: agir features %s)", FEATURES_USAGE);
    const char *data = a.pos[0], *dir = agir_args_get(&a, "out");
    if (dir && !*dir) return AGIR_BAD(e, "agir features: --out needs a folder");
    char csv[4096], jsonl[4096];
    const char *opt_csv = agir_args_get(&a, "csv"), *opt_jsonl = agir_args_get(&a, "jsonl");
    if (opt_csv)
        snprintf(csv, sizeof csv, "%s", opt_csv);
    else
        AGIR_TRY(default_path(data, dir, ".features.csv", csv, sizeof csv, e));
    if (opt_jsonl)
        snprintf(jsonl, sizeof jsonl, "%s", opt_jsonl);
    else
        AGIR_TRY(default_path(data, dir, ".features.jsonl", jsonl, sizeof jsonl, e));
    if (dir) AGIR_TRY(agir_mkdirs(dir, e));
    int force = agir_args_get(&a, "force") != NULL;
    if (agir_same_file(csv, jsonl))
        return AGIR_BAD(e, "agir features: the CSV and JSONL outputs are the same file %s (hint: give --csv and "
                        "--jsonl different names)", csv);
    AGIR_TRY(agir_output_check(csv, &data, 1, force, e));
    AGIR_TRY(agir_output_check(jsonl, &data, 1, force, e));
    agir_log log;
    agir_log_init(&log, agir_args_get(&a, "quiet") ? AGIR_LOG_QUIET : AGIR_LOG_INFO);
    agir_gait g;
    AGIR_TRY(agir_gait_read(&g, data, e));
    int rc = g.n_seq ? AGIR_OK : AGIR_BAD(e, "%s: the dataset holds no sequences (hint: nothing to measure)", data);
    if (!rc) rc = run(&g, csv, jsonl, agir_args_get(&a, "skip-invalid") != NULL, &log, e);
    agir_gait_free(&g);
    agir_log_close(&log);
    return rc;
}
