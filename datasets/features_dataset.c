// Gait features of a whole dataset: the parallel loop over sequences and the CSV / JSONL tables.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "core/fsio.h"
#include "datasets/features.h"

int agir_features_dataset(const agir_gait *g, int skip_invalid, const agir_log *log, agir_features *out, uint8_t *ok,
                          agir_err *e) {
    int64_t n = g->n_seq;
    agir_err *errs = calloc((size_t)(n ? n : 1), sizeof *errs);
    if (!errs) return AGIR_BUG(e, "out of memory for %lld sequences", (long long)n);
    agir_progress bar;
    agir_progress_start(&bar, log, "features", n);
    // Each sequence writes only its own slots, so the results do not depend on the schedule.
#pragma omp parallel for schedule(dynamic)
    for (int64_t s = 0; s < n; s++) {
        const agir_seq *q = &g->seq[s];
        ok[s] = agir_features_compute(agir_gait_seq_frames(g, s), q->length, q->fps, g->skel, q->id, &out[s], NULL,
                                      &errs[s]) == AGIR_OK;
#pragma omp critical(agir_features_progress)
        agir_progress_add(&bar, 1);
    }
    agir_progress_finish(&bar);
    int rc = AGIR_OK;
    for (int64_t s = 0; s < n && !rc; s++) {
        if (ok[s]) continue;
        if (errs[s].code == AGIR_EINPUT && skip_invalid)
            agir_warn(log, "skipped: %s", errs[s].msg);
        else
            rc = agir_errf(e, errs[s].code, "%s", errs[s].msg);
    }
    free(errs);
    return rc;
}

static const char *or_empty(const char *s) {
    return s ? s : "";
}

static const char *medication_name(int m) {
    return m == AGIR_MED_OFF ? "off" : m == AGIR_MED_ON ? "on" : "unknown";
}

// A CSV field, quoted when it holds a separator, quote or line break (RFC 4180).
static void csv_str(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

int agir_features_write_csv(const char *path, const agir_gait *g, const agir_features *f, const uint8_t *ok,
                            agir_err *e) {
    agir_afile a;
    AGIR_TRY(agir_atomic_fopen(&a, path, e));
    fputs("id,subject,medication,updrs_gait,fps", a.f);
    for (int i = 0; i < agir_n_features; i++) fprintf(a.f, ",%s", agir_feature_table[i].name);
    fputs(",n_steps\n", a.f);
    for (int64_t s = 0; s < g->n_seq; s++) {
        if (!ok[s]) continue;
        const agir_seq *q = &g->seq[s];
        csv_str(a.f, or_empty(q->id));
        fputc(',', a.f);
        csv_str(a.f, or_empty(q->subject));
        fprintf(a.f, ",%s,%d,%.6g", medication_name(q->medication), q->updrs_gait, (double)q->fps);
        for (int i = 0; i < agir_n_features; i++) fprintf(a.f, ",%.6g", (double)agir_feature_get(&f[s], i));
        fprintf(a.f, ",%d\n", f[s].n_steps);
    }
    return agir_atomic_fclose(&a, 1, e);
}

// Six significant digits, as in the CSV, so that JSON numbers do not show float32 round-off.
static double six_digits(float v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.6g", (double)v);
    return strtod(buf, NULL);
}

static cJSON *json_row(const agir_seq *q, const agir_features *f) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    int good = cJSON_AddStringToObject(o, "id", or_empty(q->id)) &&
               cJSON_AddStringToObject(o, "subject", or_empty(q->subject)) &&
               cJSON_AddStringToObject(o, "medication", medication_name(q->medication)) &&
               cJSON_AddNumberToObject(o, "updrs_gait", q->updrs_gait) &&
               cJSON_AddNumberToObject(o, "fps", six_digits(q->fps));
    for (int i = 0; good && i < agir_n_features; i++)
        good = cJSON_AddNumberToObject(o, agir_feature_table[i].name, six_digits(agir_feature_get(f, i))) != NULL;
    if (good) good = cJSON_AddNumberToObject(o, "n_steps", f->n_steps) != NULL;
    if (!good) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int agir_features_write_jsonl(const char *path, const agir_gait *g, const agir_features *f, const uint8_t *ok,
                              agir_err *e) {
    agir_afile a;
    AGIR_TRY(agir_atomic_fopen(&a, path, e));
    for (int64_t s = 0; s < g->n_seq; s++) {
        if (!ok[s]) continue;
        cJSON *o = json_row(&g->seq[s], &f[s]);
        char *line = o ? cJSON_PrintUnformatted(o) : NULL;
        cJSON_Delete(o);
        if (!line) {
            agir_atomic_fclose(&a, 0, e);
            return AGIR_BUG(e, "out of memory formatting the features of %s", g->seq[s].id);
        }
        fprintf(a.f, "%s\n", line);
        cJSON_free(line);
    }
    return agir_atomic_fclose(&a, 1, e);
}
