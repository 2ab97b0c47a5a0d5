// Helpers shared by the unit tests (cmocka).
#ifndef AGIR_TESTUTIL_H
#define AGIR_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
// cmocka needs the includes above first.
#include <cmocka.h>

#include "core/rng.h"
#include "datasets/features.h"
#include "models/llama.h"

// Gait features of a healthy walk, every value in its normal band.
agir_features agir_test_features_baseline(void);
// Features drawn uniformly over ranges that cross every band edge, about 4 % of them missing (NaN).
agir_features agir_test_features_random(agir_rng *r);

// Every text the generator writes for f from stream seed: its description (score -1), then its
// rationales for scores 0..4, each passed to check with arg.
typedef void (*agir_test_text_check)(const char *text, const agir_features *f, int score, void *arg);
void agir_test_each_text(const agir_features *f, uint64_t seed, agir_test_text_check check, void *arg);

// A fresh temporary folder (removed by the OS's tmp cleaning; tests keep their outputs small).
void agir_test_tmpdir(char *out, size_t outsz);
// Absolute path of a file in the source tree (AGIR_SOURCE_DIR from ctest).
void agir_test_src(const char *rel, char *out, size_t outsz);
// Path of the agir executable (AGIR_BIN from ctest), or NULL.
const char *agir_test_bin(void);
// Exit code 77 tells ctest the test was skipped; prints why.
void agir_test_skip(const char *why);

// A JSON fixture from the source tree (fails the test when missing or unparsable).
struct cJSON;
struct cJSON *agir_test_load_json(const char *rel);

// Synthetic walks: `sets` are --set overrides applied after `base` (both NULL-terminated lists);
// phase receives the walker's per-frame foot phases (n_frames, 2), caller frees.
struct agir_gait;
void agir_test_synth(struct agir_gait *g, uint8_t **phase, const char *const *base, const char *const *sets);

// Entries of dir other than . and .. whose name starts with prefix ("" for all of them).
int agir_test_count_entries(const char *dir, const char *prefix);
// Largest absolute difference between got and ref over the largest |ref| (the difference itself
// when ref is all zeros): got, ref: (n,) float32.
double agir_test_max_rel(const float *got, const float *ref, size_t n);

// A model placed on a CPU context with fp32 weights (aliases m and lora: no copy), for tests that run
// the model directly. Must not move while open (w points at ctx).
typedef struct agir_test_llama {
    agir_ctx ctx;
    agir_llama_weights w;
} agir_test_llama;
void agir_test_llama_open(agir_test_llama *t, const agir_llama *m, const agir_lora *lora);
void agir_test_llama_close(agir_test_llama *t);

#endif
