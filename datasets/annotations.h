// AGIR rationale annotations: a JSON object mapping sequence ids (SUBxx_{on,off}_walk_N) to
// chain-of-thought rationales in the style "Foot: ... Arm: ... Overall: ...", as released with the
// AGIR paper (886 entries for the BMCLab walks).
//
// Checks: size cap before parsing; valid JSON with nothing after it; a top-level object; every key
// of the form ^SUB[0-9]{2}_(on|off)_walk_[0-9]+[a-z]?$ (the optional letter covers repeated trials
// such as SUB01_off_walk_12b in the released file); no key twice; every value a non-empty, valid
// UTF-8 string. Values not starting with "Foot:" are accepted and counted as style warnings.
#ifndef AGIR_ANNOTATIONS_H
#define AGIR_ANNOTATIONS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "datasets/gait.h"

#define AGIR_ANNOT_MAX_BYTES ((size_t)64 << 20)

typedef struct agir_annot {
    int64_t n;
    char **keys;    // (n,) in file order
    char **values;  // (n,)
    int64_t n_style;      // values not starting with "Foot:"
    char style_key[64];   // the first of them
} agir_annot;

// 1 when key has the form above.
int agir_annot_key_ok(const char *key);

int agir_annot_parse(const char *text, size_t len, const char *name, agir_annot *a, agir_err *e);
int agir_annot_read(const char *path, agir_annot *a, agir_err *e);
void agir_annot_free(agir_annot *a);

// Sets the rationale of each sequence whose id is a key (descriptions are kept). *matched counts
// keys that found a sequence, *unmatched the others.
int agir_annot_attach(const agir_annot *a, agir_gait *g, int64_t *matched, int64_t *unmatched, agir_err *e);

#endif
