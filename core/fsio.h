// File-system helpers: bounded whole-file reads and atomic writes.
//
// Every file AGIR writes goes through the atomic protocol of docs/architecture.md ("Robustness"):
// write to a temporary name in the same folder, fsync it, rename it over the target, fsync the
// folder. A kill at any moment leaves either the old file or the new one, never a torn one.
#ifndef AGIR_FSIO_H
#define AGIR_FSIO_H

#include <stddef.h>
#include <stdio.h>

#include "core/error.h"

// Reads all of `path` into a fresh NUL-terminated buffer (*out, caller frees). Files larger than
// max_bytes are refused with a clear error instead of being loaded.
int agir_read_file(const char *path, size_t max_bytes, char **out, size_t *len, agir_err *e);

// Writes `data` to `path` atomically.
int agir_write_atomic(const char *path, const void *data, size_t len, agir_err *e);

// For writers that need a path to hand to another library (HDF5, cairo): fills `tmp` with a
// temporary sibling of `path`; after the library has closed it, agir_atomic_commit() makes it
// final, and agir_atomic_abort() removes it on failure.
int agir_atomic_tmpname(const char *path, char *tmp, size_t tmpsz, agir_err *e);
int agir_atomic_commit(const char *tmp, const char *path, agir_err *e);
void agir_atomic_abort(const char *tmp);

// An open stdio stream on a temporary sibling, committed by agir_atomic_fclose(ok=1).
typedef struct agir_afile {
    FILE *f;
    char tmp[4096];
    char path[4096];
} agir_afile;
int agir_atomic_fopen(agir_afile *a, const char *path, agir_err *e);
int agir_atomic_fclose(agir_afile *a, int ok, agir_err *e);

// A read-only memory map of a whole file (model weights, checkpoints). Empty files map to
// data == NULL, size == 0.
typedef struct agir_map {
    const unsigned char *data;
    size_t size;
} agir_map;
int agir_map_file(const char *path, agir_map *m, agir_err *e);
void agir_unmap(agir_map *m);

// mkdir -p.
int agir_mkdirs(const char *path, agir_err *e);

// fsync on a folder so a rename inside it is durable.
int agir_fsync_dir(const char *dir, agir_err *e);

// Joins a folder and a name into out ("dir/name"); refuses results that do not fit.
int agir_path_join(char *out, size_t outsz, const char *dir, const char *name, agir_err *e);

#endif
