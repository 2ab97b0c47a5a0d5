// Checks of a ragged store's sequence table that need no HDF5: ids and slices of the row array
// (frames, codes), and the gait labels. The gait and token stores run them when they validate.
#ifndef AGIR_SEQ_CHECKS_H
#define AGIR_SEQ_CHECKS_H

#include <stdint.h>

#include "core/error.h"

// One sequence of a ragged store: it owns rows [offset, offset + length) of the row array.
typedef struct agir_seq_slice {
    const char *id;
    int64_t offset, length;
} agir_seq_slice;

// Ids non-empty and unique, length >= 1, slices inside the n_rows rows (`rows` names them in
// messages, e.g. "codes") and pairwise disjoint. Messages start with `name` and the sequence:
// "tokens.h5: sequence 'SUB01_on_walk_1': offset 10 + length 5 runs past the 12 codes (hint: ...)".
int agir_seq_check_slices(const char *name, const agir_seq_slice *s, int64_t n, int64_t n_rows, const char *rows,
                          agir_err *e);

// medication in -1..1 and updrs_gait in -1..4 (AGIR_MED_*, MDS-UPDRS gait item or unknown).
int agir_seq_check_labels(const char *name, const char *id, int medication, int updrs_gait, agir_err *e);

#endif
