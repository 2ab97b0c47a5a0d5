// `agir info DATA.h5 [--json]`: what a gait dataset or a token store holds, after full validation.
// The root's format attribute picks the reader; any other value goes to the gait reader, whose
// messages explain what is wrong with the file.
#include <cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "datasets/gait.h"
#include "datasets/h5io.h"
#include "datasets/tokens.h"

#define INFO_USAGE "DATA.h5|TOKENS.h5 [--json]"

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

// ---- shared by gait and token stores ---------------------------------------------------------

// Sequences per UPDRS gait score and per medication state: score[0], med[0] count the unknown ones.
static void add_labels_json(cJSON *o, const int64_t score[6], const int64_t med[3]) {
    static const char *const med_names[3] = {"unknown", "off", "on"};
    static const char *const score_names[6] = {"unknown", "0", "1", "2", "3", "4"};
    cJSON *sc = cJSON_AddObjectToObject(o, "updrs_gait"), *md = cJSON_AddObjectToObject(o, "medication");
    for (int i = 0; i < 6; i++) cJSON_AddNumberToObject(sc, score_names[i], (double)score[i]);
    for (int i = 0; i < 3; i++) cJSON_AddNumberToObject(md, med_names[i], (double)med[i]);
}

// The same counts as two lines of the text summary.
static void print_labels(const int64_t score[6], const int64_t med[3]) {
    printf("  %-13s unknown %lld, 0: %lld, 1: %lld, 2: %lld, 3: %lld, 4: %lld\n", "UPDRS gait", (long long)score[0],
           (long long)score[1], (long long)score[2], (long long)score[3], (long long)score[4], (long long)score[5]);
    printf("  %-13s off %lld, on %lld, unknown %lld\n", "medication", (long long)med[1], (long long)med[2],
           (long long)med[0]);
}

// Prints o on stdout and frees it.
static int print_doc(cJSON *o, agir_err *e) {
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text) return AGIR_BUG(e, "out of memory printing JSON");
    printf("%s\n", text);
    cJSON_free(text);
    return AGIR_OK;
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
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "file", path);
    cJSON_AddStringToObject(o, "skeleton", g->skel->name);
    cJSON_AddNumberToObject(o, "joints", g->skel->n_joints);
    cJSON_AddNumberToObject(o, "sequences", (double)g->n_seq);
    cJSON_AddNumberToObject(o, "frames", (double)g->n_frames);
    cJSON_AddNumberToObject(o, "seconds", m->seconds);
    cJSON_AddNumberToObject(o, "min_sequence_seconds", m->min_s);
    cJSON_AddNumberToObject(o, "max_sequence_seconds", m->max_s);
    add_labels_json(o, m->score, m->med);
    cJSON_AddItemToObject(o, "subjects", tally_json(&m->subjects));
    cJSON_AddItemToObject(o, "sources", tally_json(&m->sources));
    cJSON_AddItemToObject(o, "fps", tally_json(&m->fps));
    cJSON_AddNumberToObject(o, "with_description", (double)m->n_desc);
    cJSON_AddNumberToObject(o, "with_rationale", (double)m->n_rat);
    cJSON *gt = cJSON_AddArrayToObject(o, "ground_truth");
    for (int i = 0; i < g->n_gt; i++) cJSON_AddItemToArray(gt, cJSON_CreateString(g->gt_names[i]));
    return print_doc(o, e);
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
    print_labels(m->score, m->med);
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

// ---- token stores ---------------------------------------------------------------------------

typedef struct token_summary {
    int64_t min_len, max_len, used;  // codes per sequence; distinct codes used
    int64_t score[6], med[3];        // as in summary
    int64_t subjects;
} token_summary;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int summarise_tokens(const agir_tokens *t, token_summary *m, agir_err *e) {
    memset(m, 0, sizeof *m);
    uint8_t *seen = calloc((size_t)t->codebook_size, 1);
    const char **subj = malloc(t->n_seq ? (size_t)t->n_seq * sizeof *subj : 1);
    if (!seen || !subj) {
        free(seen), free(subj);
        return AGIR_BUG(e, "out of memory summarising a codebook of %lld", (long long)t->codebook_size);
    }
    for (int64_t i = 0; i < t->n_codes; i++) m->used += !seen[t->codes[i]], seen[t->codes[i]] = 1;  // range checked
    for (int64_t s = 0; s < t->n_seq; s++) {
        const agir_token_seq *q = &t->seq[s];
        if (s == 0 || q->length < m->min_len) m->min_len = q->length;
        if (s == 0 || q->length > m->max_len) m->max_len = q->length;
        m->score[q->updrs_gait + 1]++;
        m->med[q->medication + 1]++;
        subj[s] = q->subject;
    }
    if (t->n_seq) qsort(subj, (size_t)t->n_seq, sizeof *subj, cmp_str);
    for (int64_t s = 0; s < t->n_seq; s++) m->subjects += s == 0 || strcmp(subj[s], subj[s - 1]);
    free(seen), free(subj);
    return AGIR_OK;
}

static int print_tokens_json(const char *path, const agir_tokens *t, const token_summary *m, agir_err *e) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "file", path);
    cJSON_AddStringToObject(o, "format", AGIR_TOKENS_FORMAT);
    cJSON_AddStringToObject(o, "model_hash", t->model_hash);
    cJSON_AddNumberToObject(o, "codebook_size", (double)t->codebook_size);
    cJSON_AddNumberToObject(o, "downsample", (double)t->downsample);
    cJSON_AddNumberToObject(o, "model_fps", (double)t->model_fps);
    cJSON_AddNumberToObject(o, "sequences", (double)t->n_seq);
    cJSON_AddNumberToObject(o, "subjects", (double)m->subjects);
    cJSON_AddNumberToObject(o, "codes", (double)t->n_codes);
    cJSON_AddNumberToObject(o, "seconds", (double)(t->n_codes * t->downsample) / (double)t->model_fps);
    cJSON_AddNumberToObject(o, "min_sequence_codes", (double)m->min_len);
    cJSON_AddNumberToObject(o, "max_sequence_codes", (double)m->max_len);
    cJSON_AddNumberToObject(o, "codes_used", (double)m->used);
    add_labels_json(o, m->score, m->med);
    return print_doc(o, e);
}

static void print_tokens_text(const char *path, const agir_tokens *t, const token_summary *m) {
    printf("%s: AGIR token store\n", path);
    printf("  %-13s %s\n", "model", t->model_hash);
    printf("  %-13s %lld codes, %lld frames per code at %lld fps (%.2f codes/s)\n", "tokenizer",
           (long long)t->codebook_size, (long long)t->downsample, (long long)t->model_fps,
           (double)t->model_fps / (double)t->downsample);
    printf("  %-13s %lld from %lld subject%s\n", "sequences", (long long)t->n_seq, (long long)m->subjects,
           m->subjects == 1 ? "" : "s");
    printf("  %-13s %lld (%.1f s", "codes", (long long)t->n_codes,
           (double)(t->n_codes * t->downsample) / (double)t->model_fps);
    if (t->n_seq) printf("; %lld..%lld per sequence", (long long)m->min_len, (long long)m->max_len);
    printf("), %lld of the %lld codebook entries used\n", (long long)m->used, (long long)t->codebook_size);
    print_labels(m->score, m->med);
}

static int info_tokens(const char *path, int json, agir_err *e) {
    agir_tokens t;
    AGIR_TRY(agir_tokens_read(&t, path, e));
    token_summary m;
    int rc = summarise_tokens(&t, &m, e);
    if (!rc && json)
        rc = print_tokens_json(path, &t, &m, e);
    else if (!rc)
        print_tokens_text(path, &t, &m);
    agir_tokens_free(&t);
    return rc;
}

const agir_opt agir_opts_info[] = {
    {"json", NULL, "print the summary as one JSON object"},
    AGIR_OPTS_END,
};

int agir_cmd_info(int argc, char **argv, agir_err *e) {
    agir_args a;
    AGIR_TRY(agir_args_command("info", argc, argv, agir_opts_info, 1, 1, INFO_USAGE, &a, e));
    const char *path = a.pos[0];
    // Peeking opens the file as every reader does and checks the root's attribute messages, so
    // its failures are the gait reader's own (not HDF5, truncated, no format attribute) or ones
    // that reader must not meet (corrupt attribute messages).
    char fmt[64];
    AGIR_TRY(agir_h5_peek_format(path, fmt, sizeof fmt, e));
    if (!strcmp(fmt, AGIR_TOKENS_FORMAT)) return info_tokens(path, agir_args_get(&a, "json") != NULL, e);
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
