// Checks of a ragged store's sequence table that need no HDF5, shared by the gait store
// (datasets/gait_h5.c) and the token store (datasets/tokens.c): sequence ids, the slices of the
// row array they own, and the gait labels (medication state, MDS-UPDRS gait score).
#include "datasets/seq_checks.h"

#include <stdlib.h>
#include <string.h>

static int cmp_slice_id(const void *a, const void *b) {
    return strcmp((*(const agir_seq_slice *const *)a)->id, (*(const agir_seq_slice *const *)b)->id);
}

static int cmp_slice_offset(const void *a, const void *b) {
    int64_t x = (*(const agir_seq_slice *const *)a)->offset, y = (*(const agir_seq_slice *const *)b)->offset;
    return (x > y) - (x < y);
}

// Uniqueness and disjointness on `by`, n pointers into s (sorted here).
static int check_sorted_slices(const char *name, const agir_seq_slice *s, const agir_seq_slice **by, size_t n,
                               const char *rows, agir_err *e) {
    if (n) qsort(by, n, sizeof *by, cmp_slice_id);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(by[i - 1]->id, by[i]->id))
            return AGIR_BAD(e, "%s: sequence '%s': id used by sequences %lld and %lld (hint: ids must be unique)", name,
                            by[i]->id, (long long)(by[i - 1] - s), (long long)(by[i] - s));
    if (n) qsort(by, n, sizeof *by, cmp_slice_offset);
    for (size_t i = 1; i < n; i++) {
        const agir_seq_slice *a = by[i - 1], *b = by[i];
        if (a->offset + a->length > b->offset)
            return AGIR_BAD(e, "%s: sequence '%s': %s %lld..%lld overlap sequence '%s' (%s %lld..%lld) (hint: each "
                               "sequence needs its own %s)",
                            name, b->id, rows, (long long)b->offset, (long long)(b->offset + b->length - 1), a->id,
                            rows, (long long)a->offset, (long long)(a->offset + a->length - 1), rows);
    }
    return AGIR_OK;
}

int agir_seq_check_slices(const char *name, const agir_seq_slice *s, int64_t n, int64_t n_rows, const char *rows,
                          agir_err *e) {
    for (int64_t i = 0; i < n; i++) {
        int64_t end;
        if (!s[i].id[0])
            return AGIR_BAD(e, "%s: sequence %lld: empty id (hint: every sequence needs a unique id)", name,
                            (long long)i);
        if (s[i].length < 1)
            return AGIR_BAD(e, "%s: sequence '%s': length %lld (hint: every sequence needs at least one of its %s)",
                            name, s[i].id, (long long)s[i].length, rows);
        if (s[i].offset < 0 || __builtin_add_overflow(s[i].offset, s[i].length, &end) || end > n_rows)
            return AGIR_BAD(e, "%s: sequence '%s': offset %lld + length %lld runs past the %lld %s (hint: a "
                               "sequence's %s are [offset, offset + length))",
                            name, s[i].id, (long long)s[i].offset, (long long)s[i].length, (long long)n_rows, rows,
                            rows);
    }
    const agir_seq_slice **by = malloc(n ? (size_t)n * sizeof *by : 1);
    if (!by) return AGIR_BUG(e, "out of memory validating %lld sequences", (long long)n);
    for (int64_t i = 0; i < n; i++) by[i] = &s[i];
    int rc = check_sorted_slices(name, s, by, (size_t)n, rows, e);
    free(by);
    return rc;
}

int agir_seq_check_labels(const char *name, const char *id, int medication, int updrs_gait, agir_err *e) {
    if (updrs_gait < -1 || updrs_gait > 4)
        return AGIR_BAD(e, "%s: sequence '%s': updrs_gait %d outside -1..4 (hint: MDS-UPDRS gait scores are 0..4, "
                           "-1 = unknown)",
                        name, id, updrs_gait);
    if (medication < -1 || medication > 1)
        return AGIR_BAD(e, "%s: sequence '%s': medication %d outside -1..1 (hint: 0 = off, 1 = on, -1 = unknown)",
                        name, id, medication);
    return AGIR_OK;
}
