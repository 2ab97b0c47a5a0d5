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
// temporary sibling of `path` (".NAME.tmp.PID"); after the library has closed it,
// agir_atomic_commit() makes it final, and agir_atomic_abort() removes it on failure. Until then
// the temporary is removed if the process is stopped by SIGINT, SIGTERM or SIGHUP
// (agir_signals_install), and temporaries of `path` left by processes that no longer exist (a
// SIGKILL, a power cut) are removed here, at the next write to the same place.
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

// Checks, before any work, that a command may write its output file `out`; every command that
// writes a file the user names calls it first. Refused, each with one line and a hint:
//   - `out` is the same file as one of inputs[0..n_inputs) (device and inode, so symbolic links,
//     "./" and hard links are seen through; for paths that do not exist yet, the same name in the
//     same folder), even with force: the input would be destroyed;
//   - `out` is a folder, or exists and is not a regular file;
//   - `out` exists and force is 0 (the user says --force to replace it);
//   - no file can be created in `out`'s folder (missing folder, permissions, read-only disk): a
//     temporary file is created there and removed again.
// Inputs that do not exist are skipped (their reader reports them).
int agir_output_check(const char *out, const char *const *inputs, int n_inputs, int force, agir_err *e);

// 1 when a and b name the same file (see agir_output_check), else 0.
int agir_same_file(const char *a, const char *b);

// Installs handlers for SIGINT, SIGTERM and SIGHUP (unless the signal was ignored when the
// program started, as for nohup): they remove the temporary files of writes in progress, say so
// on stderr, and end the process by the same signal.
void agir_signals_install(void);
// While deferring, the first such signal is only recorded (a second one still ends the process):
// long jobs poll agir_signal_pending() and stop cleanly (training saves a checkpoint).
void agir_signals_defer(int on);
int agir_signal_pending(void);  // the recorded signal, 0 when none

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
