// `agir describe DATA.h5 --out OUT.h5`: measures every walk's gait features and writes its
// analytic description and, where the UPDRS gait score is known, its rationale with score line
// (datasets/gait_text.h). Existing texts are kept unless --overwrite-text.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "core/fsio.h"
#include "core/log.h"
#include "core/rng.h"
#include "datasets/features.h"
#include "datasets/gait.h"
#include "datasets/gait_text.h"

#define DESCRIBE_USAGE \
    "DATA.h5 (--out OUT.h5 | --print N) [--seed N] [--overwrite-text] [--skip-invalid] [--force] [--quiet]"

const agir_opt agir_opts_describe[] = {
    {"out", "OUT.h5", "the dataset to write: DATA with the texts added"},
    {"print", "N", "show the texts of the first N walks (with --print alone nothing is saved)"},
    {"seed", "N", "seed of the texts' random choices (default 0); a walk's texts depend on it and its id only"},
    {"overwrite-text", NULL, "replace texts DATA already holds (e.g. imported annotations); default: keep them"},
    {"skip-invalid", NULL, "leave out walks whose features cannot be measured instead of stopping"},
    AGIR_OPT_FORCE,
    AGIR_OPT_QUIET,
    AGIR_OPTS_END,
};

typedef struct describe_opts {
    const char *data, *out;
    uint64_t seed;
    long print;
    int overwrite, skip_invalid;
} describe_opts;

// FNV-1a of the sequence id: each walk's text depends on the seed and its id only, not on its
// position in the file.
static uint64_t id_hash(const char *id) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) h = (h ^ *p) * 0x100000001b3ull;
    return h;
}

typedef struct describe_counts {
    int64_t desc, rat, kept, no_score, no_features;
} describe_counts;

// Texts of sequence s from its features; the existing ones stay unless overwrite.
static int describe_seq(agir_gait *g, int64_t s, const agir_features *f, const describe_opts *o, describe_counts *c,
                        agir_err *e) {
    const agir_seq *q = &g->seq[s];
    agir_rng root, rd, rr;
    agir_rng_init(&root, o->seed, 0);
    agir_rng_child(&root, id_hash(q->id), &rd);
    agir_rng_child(&rd, 1, &rr);  // the rationale's stream, independent of the description's draws
    char desc[AGIR_TEXT_MAX], rat[AGIR_TEXT_MAX];
    const char *new_desc = q->description, *new_rat = q->rationale;
    if (!q->description || o->overwrite) {
        AGIR_TRY(agir_text_describe(f, &rd, desc, sizeof desc, e));
        new_desc = desc;
        c->desc++;
    } else {
        c->kept++;
    }
    if (q->updrs_gait < 0) {
        c->no_score++;
    } else if (!q->rationale || o->overwrite) {
        AGIR_TRY(agir_text_rationale(f, q->updrs_gait, &rr, rat, sizeof rat, e));
        new_rat = rat;
        c->rat++;
    } else {
        c->kept++;
    }
    return agir_gait_set_text(g, s, new_desc, new_rat, e);
}

static void print_example(const agir_seq *q) {
    printf("%s (UPDRS gait %d)\n  description: %s\n", q->id, q->updrs_gait, q->description ? q->description : "-");
    if (!q->rationale) return;
    printf("  rationale:   ");
    for (const char *p = q->rationale; *p; p++) {
        putchar(*p);
        if (*p == '\n') fputs("               ", stdout);  // the score line under the rationale
    }
    putchar('\n');
}

static int run(agir_gait *g, const describe_opts *o, const agir_log *log, agir_err *e) {
    size_t n = (size_t)g->n_seq;
    agir_features *f = calloc(n, sizeof *f);
    uint8_t *ok = calloc(n, 1);
    int rc = f && ok ? AGIR_OK : AGIR_BUG(e, "out of memory for %lld sequences", (long long)g->n_seq);
    if (!rc) rc = agir_features_dataset(g, o->skip_invalid, log, f, ok, e);
    describe_counts c = {0};
    long shown = 0;
    for (int64_t s = 0; s < g->n_seq && !rc; s++) {
        if (!ok[s]) {
            c.no_features++;
            continue;
        }
        rc = describe_seq(g, s, &f[s], o, &c, e);
        if (!rc && shown < o->print) {
            print_example(&g->seq[s]);
            shown++;
        }
    }
    if (!rc && o->out) rc = agir_gait_write(g, o->out, e);
    if (!rc)
        agir_info(log,
                  "%lld descriptions and %lld rationales written%s%s; %lld texts kept (--overwrite-text replaces "
                  "them), %lld walks without a score, %lld without features",
                  (long long)c.desc, (long long)c.rat, o->out ? " to " : " (not saved: no --out)", o->out ? o->out : "",
                  (long long)c.kept, (long long)c.no_score, (long long)c.no_features);
    free(f);
    free(ok);
    return rc;
}

int agir_cmd_describe(int argc, char **argv, agir_err *e) {
    agir_args a;
    AGIR_TRY(agir_args_command("describe", argc, argv, agir_opts_describe, 1, 1, DESCRIBE_USAGE, &a, e));
    if (a.nsets) return AGIR_BAD(e, "agir describe: takes no --set (hint: usage: agir describe %s)", DESCRIBE_USAGE);
    describe_opts o = {.data = a.pos[0], .out = agir_args_get(&a, "out")};
    o.overwrite = agir_args_get(&a, "overwrite-text") != NULL;
    o.skip_invalid = agir_args_get(&a, "skip-invalid") != NULL;
    unsigned long long seed = 0, print = 0;
    AGIR_TRY(agir_args_uint(&a, "seed", 0, UINT64_MAX, &seed, e));
    AGIR_TRY(agir_args_uint(&a, "print", 0, 1000000, &print, e));
    o.seed = seed;
    o.print = (long)print;
    if (o.out && !*o.out) return AGIR_BAD(e, "agir describe: --out needs a file name (hint: --out described.h5)");
    if (!o.out && !o.print)
        return AGIR_BAD(e, "agir describe: nothing to do (hint: --out OUT.h5 saves the texts, --print N shows some)");
    if (o.out) AGIR_TRY(agir_output_check(o.out, &o.data, 1, agir_args_get(&a, "force") != NULL, e));
    agir_gait g;
    AGIR_TRY(agir_gait_read(&g, o.data, e));
    agir_log log;
    agir_log_init(&log, agir_args_get(&a, "quiet") ? AGIR_LOG_QUIET : AGIR_LOG_INFO);
    int rc = g.n_seq ? AGIR_OK : AGIR_BAD(e, "%s: the dataset holds no sequences (hint: nothing to describe)", o.data);
    if (!rc) rc = run(&g, &o, &log, e);
    agir_gait_free(&g);
    agir_log_close(&log);
    return rc;
}
