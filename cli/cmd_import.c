// `agir import bmclab|annotations|c3d ...`: external data into AGIR's gait store.
//   import bmclab ROOT --meta META.csv --out OUT.h5 [--annotations JSON] [--fps F] [--up auto|y|z]
//   import annotations JSON DATA.h5 --out OUT.h5      attach rationales to an existing store
//   import annotations JSON --check                   validate the JSON alone
//   import c3d FILE.c3d                               summary of one C3D file
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "core/fsio.h"
#include "datasets/annotations.h"
#include "datasets/bmclab.h"
#include "datasets/c3d.h"

#define USAGE_BMCLAB "bmclab ROOT --meta META.csv --out OUT.h5 [--annotations JSON] [--fps F] [--up auto|y|z] [--force]"
#define USAGE_ANNOT "annotations JSON (DATA.h5 --out OUT.h5 [--force] | --check)"
#define USAGE_C3D "c3d FILE.c3d"

// One table for the three sources (so `agir help import` lists them all); each source accepts
// only its own options (agir_args_only).
const agir_opt agir_opts_import[] = {
    {"meta", "META.csv", "bmclab: the metadata CSV with each subject's UPDRS walking score"},
    {"out", "OUT.h5", "bmclab, annotations: the gait dataset to write"},
    {"annotations", "JSON", "bmclab: also attach the paper's released rationales from this file"},
    {"fps", "F", "bmclab: resample the walks to F frames per second (default: as recorded)"},
    {"up", "auto|y|z", "bmclab: the vertical axis of the recordings (default auto: detected per file)"},
    {"check", NULL, "annotations: validate the JSON alone, write nothing"},
    AGIR_OPT_FORCE,
    AGIR_OPTS_END,
};

static void style_warning(const agir_annot *a, const char *path, const agir_log *log) {
    if (a->n_style)
        agir_warn(log, "%s: %lld rationale%s do not start with 'Foot:' (first: %s); kept as written", path,
                  (long long)a->n_style, a->n_style == 1 ? "" : "s", a->style_key);
}

static int attach(const agir_annot *a, const char *path, agir_gait *g, const agir_log *log, agir_err *e) {
    int64_t matched, unmatched, without = 0;
    AGIR_TRY(agir_annot_attach(a, g, &matched, &unmatched, e));
    for (int64_t s = 0; s < g->n_seq; s++) without += g->seq[s].rationale == NULL;
    agir_info(log, "%s: attached %lld of %lld rationales; keys matching no sequence: %lld; sequences without a "
              "rationale: %lld of %lld", path, (long long)matched, (long long)a->n, (long long)unmatched,
              (long long)without, (long long)g->n_seq);
    style_warning(a, path, log);
    return AGIR_OK;
}

static int parse_fps(const char *s, double *fps, agir_err *e) {
    *fps = 0;
    if (!s) return AGIR_OK;
    char *end;
    *fps = strtod(s, &end);
    if (end == s || *end || !(*fps > 0 && *fps <= 1000))
        return AGIR_BAD(e, "agir import bmclab: --fps '%s' is not a rate in (0, 1000] (hint: --fps 20)", s);
    return AGIR_OK;
}

static int parse_up(const char *s, int *up, agir_err *e) {
    if (!s || !strcmp(s, "auto")) *up = AGIR_UP_AUTO;
    else if (!strcmp(s, "y")) *up = AGIR_UP_Y;
    else if (!strcmp(s, "z")) *up = AGIR_UP_Z;
    else return AGIR_BAD(e, "agir import bmclab: --up '%s' is not auto, y or z", s);
    return AGIR_OK;
}

static int import_bmclab(int argc, char **argv, agir_err *e) {
    agir_args a;
    AGIR_TRY(agir_args_parse("import bmclab", argc, argv, agir_opts_import, &a, e));
    AGIR_TRY(agir_args_only(&a, "meta out annotations fps up force", e));
    AGIR_TRY(agir_args_need(&a, 1, 1, USAGE_BMCLAB, e));
    agir_bmclab_opts o = {.root = a.pos[0], .meta = agir_args_get(&a, "meta")};
    const char *out = agir_args_get(&a, "out"), *json = agir_args_get(&a, "annotations");
    if (!o.meta || !out)
        return AGIR_BAD(e, "agir import bmclab: --meta and --out are required (hint: agir import %s)", USAGE_BMCLAB);
    AGIR_TRY(parse_fps(agir_args_get(&a, "fps"), &o.fps, e));
    AGIR_TRY(parse_up(agir_args_get(&a, "up"), &o.up, e));
    const char *inputs[] = {o.root, o.meta, json};
    AGIR_TRY(agir_output_check(out, inputs, 3, agir_args_get(&a, "force") != NULL, e));
    agir_log log;
    agir_log_init(&log, AGIR_LOG_INFO);
    agir_annot ann = {0};
    if (json) AGIR_TRY(agir_annot_read(json, &ann, e));  // checked before the long part
    agir_gait g;
    agir_bmclab_summary sum;
    int rc = agir_bmclab_import(&o, &g, &sum, &log, e);
    if (!rc) {
        agir_info(&log, "%s: %d walk files, %lld sequences (%d skipped without usable frames); %lld frames kept, %lld "
                  "dropped for missing markers; vertical axis y in %d files, z in %d; %d files with a joint from "
                  "fewer markers; %d sequences without a score", o.root, sum.files, (long long)g.n_seq, sum.empty,
                  (long long)sum.frames, (long long)sum.dropped, sum.up_y, sum.up_z, sum.partial, sum.unscored);
        if (json) rc = attach(&ann, json, &g, &log, e);
        if (!rc) rc = agir_gait_write(&g, out, e);
        if (!rc) agir_info(&log, "wrote %s", out);
        agir_gait_free(&g);
    }
    agir_annot_free(&ann);
    return rc;
}

static int import_annotations(int argc, char **argv, agir_err *e) {
    agir_args a;
    AGIR_TRY(agir_args_parse("import annotations", argc, argv, agir_opts_import, &a, e));
    int check = agir_args_get(&a, "check") != NULL;
    AGIR_TRY(agir_args_only(&a, check ? "check" : "out force", e));
    AGIR_TRY(agir_args_need(&a, check ? 1 : 2, check ? 1 : 2, USAGE_ANNOT, e));
    const char *out = agir_args_get(&a, "out");
    if (!check && !out)
        return AGIR_BAD(e, "agir import annotations: --out is required (hint: agir import %s)", USAGE_ANNOT);
    if (!check) AGIR_TRY(agir_output_check(out, (const char *const *)a.pos, 2, agir_args_get(&a, "force") != NULL, e));
    agir_log log;
    agir_log_init(&log, AGIR_LOG_INFO);
    agir_annot ann;
    AGIR_TRY(agir_annot_read(a.pos[0], &ann, e));
    int rc = AGIR_OK;
    if (check) {
        printf("%s: %lld rationales; keys and values are valid\n", a.pos[0], (long long)ann.n);
        style_warning(&ann, a.pos[0], &log);
    } else {
        agir_gait g;
        rc = agir_gait_read(&g, a.pos[1], e);
        if (!rc) {
            rc = attach(&ann, a.pos[0], &g, &log, e);
            if (!rc) rc = agir_gait_write(&g, out, e);
            if (!rc) agir_info(&log, "wrote %s", out);
            agir_gait_free(&g);
        }
    }
    agir_annot_free(&ann);
    return rc;
}

static const char *proc_name(int p) {
    return p == AGIR_C3D_DEC ? "DEC" : p == AGIR_C3D_MIPS ? "MIPS" : "Intel";
}

static int import_c3d(int argc, char **argv, agir_err *e) {
    agir_args a;
    AGIR_TRY(agir_args_parse("import c3d", argc, argv, agir_opts_import, &a, e));
    AGIR_TRY(agir_args_only(&a, "", e));
    AGIR_TRY(agir_args_need(&a, 1, 1, USAGE_C3D, e));
    agir_c3d c;
    AGIR_TRY(agir_c3d_read(a.pos[0], &c, e));
    int64_t total = c.n_frames * c.n_points, missing = 0;
    for (int64_t i = 0; i < total; i++) missing += !c.valid[i];
    printf("%s: C3D, %s numbers, %s storage", a.pos[0], proc_name(c.processor), c.float_storage ? "float" : "int16");
    if (!c.float_storage) printf(" (scale %g)", c.scale);
    printf(", %lld frames at %g Hz (%.2f s), %d points, %d analog words per frame, units '%s'\n",
           (long long)c.n_frames, c.rate, (double)c.n_frames / c.rate, c.n_points, c.analog_per_frame, c.units);
    printf("missing samples: %lld of %lld (%.1f%%)\n", (long long)missing, (long long)total,
           total ? 100.0 * (double)missing / (double)total : 0.0);
    printf("labels:");
    for (int p = 0; p < c.n_points; p++) printf("%s %s", p ? "," : "", c.labels[p]);
    printf("\n");
    agir_c3d_free(&c);
    return AGIR_OK;
}

int agir_cmd_import(int argc, char **argv, agir_err *e) {
    const char *what = argc > 0 ? argv[0] : "";
    if (!strcmp(what, "bmclab")) return import_bmclab(argc - 1, argv + 1, e);
    if (!strcmp(what, "annotations")) return import_annotations(argc - 1, argv + 1, e);
    if (!strcmp(what, "c3d")) return import_c3d(argc - 1, argv + 1, e);
    return AGIR_BAD(e, "agir import: unknown source '%s' (hint: agir import %s | %s | %s)", what, USAGE_BMCLAB,
                    USAGE_ANNOT, USAGE_C3D);
}
