// `agir plot KIND DATA ...`: pictures as PNG (plot/gait_plot.h, plot/curves.h).
//   skeleton DATA.h5 --seq ID [--frames N] [--out F.png]   contact sheet + trajectories of one walk
//   features DATA.h5 [--out F.png]                          per-score feature distributions
//   curves RUN_DIR [--out F.png]                            a training run's loss curves
// Without --out the picture goes next to the data: DATA.skeleton-ID.png, DATA.features.png,
// RUN_DIR/curves.png.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "core/fsio.h"
#include "plot/curves.h"
#include "plot/gait_plot.h"

#define PLOT_USAGE                                                                                                 \
    "skeleton DATA.h5 --seq ID [--frames N] [--out F.png] [--force] | features DATA.h5 [--out F.png] [--force] | " \
    "curves RUN_DIR [--out F.png] [--force]"

const agir_opt agir_opts_plot[] = {
    {"seq", "ID", "skeleton: the walk to draw"},
    {"frames", "N", "skeleton: poses on the contact sheet (default 8)"},
    {"out", "F.png", "the picture to write (default: DATA.skeleton-ID.png or DATA.features.png beside DATA, "
                     "RUN_DIR/curves.png)"},
    AGIR_OPT_FORCE,
    AGIR_OPTS_END,
};

// DATA.h5 -> DATA.<suffix>.png; characters of ids that are awkward in file names become '_'.
static int default_out(const char *data, const char *suffix, char *out, size_t sz, agir_err *e) {
    const char *base = strrchr(data, '/');
    base = base ? base + 1 : data;
    const char *dot = strrchr(base, '.');
    size_t stem = dot && dot != base ? (size_t)(dot - data) : strlen(data);
    int k = snprintf(out, sz, "%.*s.%s.png", (int)stem, data, suffix);
    if (k < 0 || (size_t)k >= sz)
        return AGIR_BAD(e, "%s: path too long for the default output (hint: use --out)", data);
    for (char *p = out + stem + 1; *p; p++)
        if (!(p[0] == '.' || p[0] == '-' || p[0] == '_' || (p[0] >= '0' && p[0] <= '9') ||
              (p[0] >= 'a' && p[0] <= 'z') || (p[0] >= 'A' && p[0] <= 'Z')))
            *p = '_';
    return AGIR_OK;
}

static int plot_skeleton(const agir_args *a, const agir_gait *g, const char *data, agir_err *e) {
    const char *id = agir_args_get(a, "seq");
    if (!id || !*id)
        return AGIR_BAD(e, "agir plot skeleton: --seq ID is required (hint: e.g. --seq %s)",
                        g->n_seq ? g->seq[0].id : "SUB01_off_walk_1");
    unsigned long long frames = 8;
    AGIR_TRY(agir_args_uint(a, "frames", 1, AGIR_SHEET_MAX_FRAMES, &frames, e));
    char def[4096], suffix[512];
    const char *out = agir_args_get(a, "out");
    if (!out) {
        snprintf(suffix, sizeof suffix, "skeleton-%s", id);
        AGIR_TRY(default_out(data, suffix, def, sizeof def, e));
        out = def;
    }
    AGIR_TRY(agir_output_check(out, &data, 1, agir_args_get(a, "force") != NULL, e));
    AGIR_TRY(agir_plot_gait_sheet(g, data, id, (int)frames, out, NULL, e));
    printf("%s\n", out);
    return AGIR_OK;
}

static int plot_features(const agir_args *a, const agir_gait *g, const char *data, agir_err *e) {
    if (agir_args_get(a, "seq") || agir_args_get(a, "frames"))
        return AGIR_BAD(e, "agir plot features: --seq and --frames belong to 'agir plot skeleton' (hint: %s)",
                        PLOT_USAGE);
    char def[4096];
    const char *out = agir_args_get(a, "out");
    if (!out) {
        AGIR_TRY(default_out(data, "features", def, sizeof def, e));
        out = def;
    }
    AGIR_TRY(agir_output_check(out, &data, 1, agir_args_get(a, "force") != NULL, e));
    agir_features_layout L;
    AGIR_TRY(agir_plot_gait_features(g, data, out, &L, e));
    if (L.n_unscored || L.n_failed)
        fprintf(stderr, "agir plot: %s: %d walks without a score and %d too short for features are not shown\n", data,
                L.n_unscored, L.n_failed);
    printf("%s\n", out);
    return AGIR_OK;
}

// RUN_DIR/metrics.jsonl -> RUN_DIR/curves.png (or --out).
static int plot_curves(const agir_args *a, const char *run, agir_err *e) {
    if (agir_args_get(a, "seq") || agir_args_get(a, "frames"))
        return AGIR_BAD(e, "agir plot curves: --seq and --frames belong to 'agir plot skeleton' (hint: %s)", PLOT_USAGE);
    char metrics[4200], def[4200];
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", run);
    snprintf(def, sizeof def, "%s/curves.png", run);
    const char *out = agir_args_get(a, "out") ? agir_args_get(a, "out") : def;
    const char *in = metrics;
    AGIR_TRY(agir_output_check(out, &in, 1, agir_args_get(a, "force") != NULL, e));
    agir_curves c;
    AGIR_TRY(agir_curves_read(metrics, &c, e));
    int rc = agir_plot_curves(&c, run, out, e);
    if (!rc && c.skipped) fprintf(stderr, "agir plot: %s: %zu lines that are not records were skipped\n", metrics, c.skipped);
    agir_curves_free(&c);
    if (!rc) printf("%s\n", out);
    return rc;
}

int agir_cmd_plot(int argc, char **argv, agir_err *e) {
    agir_args a;
    AGIR_TRY(agir_args_command("plot", argc, argv, agir_opts_plot, 2, 2, PLOT_USAGE, &a, e));
    static const char *const kinds[] = {"skeleton", "features", "curves"};
    enum { NKIND = sizeof kinds / sizeof *kinds };
    const char *kind = a.pos[0], *data = a.pos[1];
    int which = -1, best = 0;
    for (int i = 0; i < NKIND; i++) {
        if (!strcmp(kind, kinds[i])) which = i;
        if (agir_edit_distance(kind, kinds[i]) < agir_edit_distance(kind, kinds[best])) best = i;
    }
    if (which < 0) {
        if (agir_edit_distance(kind, kinds[best]) <= 3)
            return AGIR_BAD(e, "agir plot: unknown picture '%s' (hint: did you mean '%s'?)", kind, kinds[best]);
        return AGIR_BAD(e, "agir plot: unknown picture '%s' (hint: pictures are skeleton, features and curves)", kind);
    }
    if (which == 2) return plot_curves(&a, data, e);
    agir_gait g;
    AGIR_TRY(agir_gait_read(&g, data, e));
    int rc = which == 0 ? plot_skeleton(&a, &g, data, e) : plot_features(&a, &g, data, e);
    agir_gait_free(&g);
    return rc;
}
