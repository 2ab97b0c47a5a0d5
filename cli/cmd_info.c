// `agir info DATA.h5 [--json]`: what a gait dataset holds, after full validation.
#include <cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "datasets/gait.h"

#define INFO_USAGE "DATA.h5 [--json]"

// Subjects listed in the text summary before "... and N more" (JSON lists all).
enum { TEXT_LIST_MAX = 24 };

// Distinct values with their counts, sorted.
typedef struct tally_item {
    const char *s;  // string key (borrowed from the dataset), or NULL for numeric keys
    double x;
    int64_t count;
} tally_item;

typedef struct tally {
    int64_t n;
    tally_item *v;
} tally;

typedef struct summary {
    double seconds, min_s, max_s;
    int64_t score[6];  // index: updrs_gait + 1 (-1 unknown .. 4)
    int64_t med[3];    // index: medication + 1
    int64_t n_desc, n_rat;
    tally subjects, sources, fps;
} summary;

static int cmp_item(const void *a, const void *b) {
    const tally_item *p = a, *q = b;
    if (p->s) return strcmp(p->s, q->s);
    return (p->x > q->x) - (p->x < q->x);
}

// Sorts the n keys in t->v (one per sequence, count 1 each) and merges equal ones.
static void merge_runs(tally *t, int64_t n) {
    if (n) qsort(t->v, (size_t)n, sizeof *t->v, cmp_item);
    t->n = 0;
    for (int64_t i = 0; i < n; i++) {
        if (t->n && !cmp_item(&t->v[t->n - 1], &t->v[i]))
            t->v[t->n - 1].count++;
        else
            t->v[t->n++] = t->v[i];
    }
}

// Tally of a string field (byte offset `field` in agir_seq), or of fps when `numeric`.
static int tally_of(const agir_gait *g, size_t field, int numeric, tally *t, agir_err *e) {
    t->v = calloc(g->n_seq ? (size_t)g->n_seq : 1, sizeof *t->v);
    if (!t->v) return AGIR_BUG(e, "out of memory summarising %lld sequences", (long long)g->n_seq);
    for (int64_t s = 0; s < g->n_seq; s++) {
        t->v[s].count = 1;
        if (numeric)
            t->v[s].x = g->seq[s].fps;
        else
            t->v[s].s = *(char *const *)((const char *)&g->seq[s] + field);
    }
    merge_runs(t, g->n_seq);
    return AGIR_OK;
}

static int summarise(const agir_gait *g, summary *m, agir_err *e) {
    memset(m, 0, sizeof *m);
    for (int64_t s = 0; s < g->n_seq; s++) {
        const agir_seq *q = &g->seq[s];
        double d = (double)q->length / q->fps;
        m->seconds += d;
        if (s == 0 || d < m->min_s) m->min_s = d;
        if (s == 0 || d > m->max_s) m->max_s = d;
        m->score[q->updrs_gait + 1]++;  // ranges checked by the reader
        m->med[q->medication + 1]++;
        m->n_desc += q->description != NULL;
        m->n_rat += q->rationale != NULL;
    }
    AGIR_TRY(tally_of(g, offsetof(agir_seq, subject), 0, &m->subjects, e));
    AGIR_TRY(tally_of(g, offsetof(agir_seq, source), 0, &m->sources, e));
    return tally_of(g, 0, 1, &m->fps, e);
}

static void free_summary(summary *m) {
    free(m->subjects.v);
    free(m->sources.v);
    free(m->fps.v);
}

// ---- JSON -----------------------------------------------------------------------------------

static cJSON *tally_json(const tally *t) {
    cJSON *o = cJSON_CreateObject();
    char key[64];
    for (int64_t i = 0; i < t->n; i++) {
        const char *k = t->v[i].s;
        if (!k) {
            snprintf(key, sizeof key, "%g", t->v[i].x);
            k = key;
        }
        cJSON_AddNumberToObject(o, k, (double)t->v[i].count);
    }
    return o;
}

static int print_json(const char *path, const agir_gait *g, const summary *m, agir_err *e) {
    static const char *const med_names[3] = {"unknown", "off", "on"};
    static const char *const score_names[6] = {"unknown", "0", "1", "2", "3", "4"};
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "file", path);
    cJSON_AddStringToObject(o, "skeleton", g->skel->name);
    cJSON_AddNumberToObject(o, "joints", g->skel->n_joints);
    cJSON_AddNumberToObject(o, "sequences", (double)g->n_seq);
    cJSON_AddNumberToObject(o, "frames", (double)g->n_frames);
    cJSON_AddNumberToObject(o, "seconds", m->seconds);
    cJSON_AddNumberToObject(o, "min_sequence_seconds", m->min_s);
    cJSON_AddNumberToObject(o, "max_sequence_seconds", m->max_s);
    cJSON *sc = cJSON_AddObjectToObject(o, "updrs_gait"), *md = cJSON_AddObjectToObject(o, "medication");
    for (int i = 0; i < 6; i++) cJSON_AddNumberToObject(sc, score_names[i], (double)m->score[i]);
    for (int i = 0; i < 3; i++) cJSON_AddNumberToObject(md, med_names[i], (double)m->med[i]);
    cJSON_AddItemToObject(o, "subjects", tally_json(&m->subjects));
    cJSON_AddItemToObject(o, "sources", tally_json(&m->sources));
    cJSON_AddItemToObject(o, "fps", tally_json(&m->fps));
    cJSON_AddNumberToObject(o, "with_description", (double)m->n_desc);
    cJSON_AddNumberToObject(o, "with_rationale", (double)m->n_rat);
    cJSON *gt = cJSON_AddArrayToObject(o, "ground_truth");
    for (int i = 0; i < g->n_gt; i++) cJSON_AddItemToArray(gt, cJSON_CreateString(g->gt_names[i]));
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text) return AGIR_BUG(e, "out of memory printing JSON");
    printf("%s\n", text);
    cJSON_free(text);
    return AGIR_OK;
}

// ---- text -----------------------------------------------------------------------------------

// "a (3), b (1), ... and 7 more"
static void print_tally(const char *label, const tally *t, int64_t max) {
    printf("  %-13s", label);
    if (t->n == 0) printf(" none");
    for (int64_t i = 0; i < t->n && i < max; i++) {
        if (t->v[i].s)
            printf("%s %s (%lld)", i ? "," : "", *t->v[i].s ? t->v[i].s : "\"\"", (long long)t->v[i].count);
        else
            printf("%s %g (%lld)", i ? "," : "", t->v[i].x, (long long)t->v[i].count);
    }
    if (t->n > max) printf(", ... and %lld more", (long long)(t->n - max));
    printf("\n");
}

static void print_text(const char *path, const agir_gait *g, const summary *m) {
    printf("%s: AGIR gait dataset\n", path);
    printf("  %-13s %s (%d joints)\n", "skeleton", g->skel->name, g->skel->n_joints);
    printf("  %-13s %lld from %lld subject%s\n", "sequences", (long long)g->n_seq, (long long)m->subjects.n,
           m->subjects.n == 1 ? "" : "s");
    printf("  %-13s %lld (%.1f s", "frames", (long long)g->n_frames, m->seconds);
    if (g->n_seq) printf("; a sequence lasts %.1f..%.1f s, %.1f s on average", m->min_s, m->max_s, m->seconds / (double)g->n_seq);
    printf(")\n");
    printf("  %-13s unknown %lld, 0: %lld, 1: %lld, 2: %lld, 3: %lld, 4: %lld\n", "UPDRS gait", (long long)m->score[0],
           (long long)m->score[1], (long long)m->score[2], (long long)m->score[3], (long long)m->score[4],
           (long long)m->score[5]);
    printf("  %-13s off %lld, on %lld, unknown %lld\n", "medication", (long long)m->med[1], (long long)m->med[2],
           (long long)m->med[0]);
    print_tally("fps", &m->fps, TEXT_LIST_MAX);
    print_tally("sources", &m->sources, TEXT_LIST_MAX);
    printf("  %-13s %lld with a description, %lld with a rationale\n", "texts", (long long)m->n_desc,
           (long long)m->n_rat);
    print_tally("subjects", &m->subjects, TEXT_LIST_MAX);
    printf("  %-13s", "ground truth");
    if (g->n_gt == 0) printf(" none");
    for (int i = 0; i < g->n_gt; i++) printf("%s %s", i ? "," : "", g->gt_names[i]);
    printf("\n");
}

int agir_cmd_info(int argc, char **argv, agir_err *e) {
    agir_args a;
    AGIR_TRY(agir_args_parse("info", argc, argv, "json", &a, e));
    AGIR_TRY(agir_args_need(&a, 1, 1, INFO_USAGE, e));
    const char *path = a.pos[0];
    agir_gait g;
    AGIR_TRY(agir_gait_read(&g, path, e));
    summary m;
    int rc = summarise(&g, &m, e);
    if (!rc && agir_args_get(&a, "json"))
        rc = print_json(path, &g, &m, e);
    else if (!rc)
        print_text(path, &g, &m);
    free_summary(&m);
    agir_gait_free(&g);
    return rc;
}
