// Training curves from a run folder's metrics.jsonl: the training loss of the "train" records and
// every number of the "val" records (the SFT job's held-out loss per task, the VQ-VAE job's
// held-out errors), against the update step, drawn as one PNG.
//
// The reader takes hostile input: at most AGIR_CURVES_MAX_BYTES, one JSON object per line (other
// lines are counted and skipped: a killed run can leave a torn last line), at most
// AGIR_CURVES_MAX_SERIES series. A resumed run logs again the steps after its checkpoint: a record
// whose step is not after the series' last point replaces the points from that step on, so the
// curve is the run's final trajectory.
#ifndef AGIR_PLOT_CURVES_H
#define AGIR_PLOT_CURVES_H

#include <stddef.h>

#include "core/error.h"

#define AGIR_CURVES_MAX_BYTES ((size_t)256 << 20)
enum { AGIR_CURVES_MAX_SERIES = 16, AGIR_CURVES_NAME = 48 };

typedef struct agir_series {
    char name[AGIR_CURVES_NAME];  // "loss" for training, the key for held-out values
    int held_out;                 // from "val" records
    size_t n, cap;
    double *step, *value;         // (n,)
} agir_series;

typedef struct agir_curves {
    int n;
    agir_series s[AGIR_CURVES_MAX_SERIES];
    size_t skipped;  // lines that were not a JSON object with a numeric "step"
} agir_curves;

// From the text of a metrics file (len bytes, need not be NUL-terminated); `name` is for messages.
// Refuses (AGIR_EINPUT) text with no training or held-out record at all.
int agir_curves_parse(const char *text, size_t len, const char *name, agir_curves *c, agir_err *e);
int agir_curves_read(const char *path, agir_curves *c, agir_err *e);
void agir_curves_free(agir_curves *c);

// Training loss (left) and held-out values (right) against the step, titled with `title`.
int agir_plot_curves(const agir_curves *c, const char *title, const char *out_png, agir_err *e);

#endif
