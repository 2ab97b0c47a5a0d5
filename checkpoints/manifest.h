// Checkpoint manifests: the size and SHA-256 of every file of a checkpoint folder, written last
// into the folder and verified before anything in it is trusted (docs/architecture.md,
// "Robustness").
//
// manifest.json: {"format": "agir-checkpoint", "version": 1, "step": N,
//                 "files": {"state.json": {"bytes": B, "sha256": "<64 hex>"}, ...}}
#ifndef AGIR_MANIFEST_H
#define AGIR_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "core/error.h"

enum { AGIR_MANIFEST_MAX_FILES = 32, AGIR_MANIFEST_NAME_MAX = 64 };

typedef struct agir_manifest {
    int64_t step;
    int n;
    char name[AGIR_MANIFEST_MAX_FILES][AGIR_MANIFEST_NAME_MAX];  // plain file names inside the folder
    char sha256[AGIR_MANIFEST_MAX_FILES][65];                    // their verified SHA-256 (hex)
} agir_manifest;

// SHA-256 (FIPS 180-4, through OpenSSL's EVP interface) of a whole file, as 64 lowercase hex
// digits; *bytes gets its size.
int agir_sha256_file(const char *path, char hex[65], size_t *bytes, agir_err *e);

// Field `key` of object o as an integer in [0, 2^53) (exact in JSON's doubles); anything else is
// one AGIR_EINPUT line naming path and `where` (a sub-object's name, or ""). Shared by the readers
// of checkpoint JSON files.
int agir_ckpt_json_count(const cJSON *o, const char *key, const char *path, const char *where, int64_t *out,
                         agir_err *e);

// Writes dir/manifest.json atomically, hashing files names[0..n) of dir as they are on disk.
int agir_manifest_write(const char *dir, int64_t step, const char *const *names, int n, agir_err *e);

// Reads dir/manifest.json and checks that it records `step` and that every file it lists has the
// recorded size and hash. Any fault is one AGIR_EINPUT line naming the file.
int agir_manifest_verify(const char *dir, int64_t step, agir_manifest *m, agir_err *e);

#endif
