// Error reporting shared by the library and the CLI.
//
// Library code never exits or aborts on bad input: it fills an agir_err and returns its code.
// The CLI prints the message as one line and exits with the code (0 ok, 1 internal, 2 bad input,
// 130 a job stopped cleanly by SIGINT or SIGTERM).
// Messages follow one shape so users can act on them:
//   "<file>[:<line>]: <what is wrong> (hint: <what to do>)"
#ifndef AGIR_ERROR_H
#define AGIR_ERROR_H

#include <stddef.h>

enum { AGIR_OK = 0, AGIR_EINTERNAL = 1, AGIR_EINPUT = 2, AGIR_EINTERRUPTED = 130 };

typedef struct agir_err {
    int code;        // AGIR_OK when no error has been recorded
    char msg[1024];  // one line, no trailing newline
} agir_err;

// Records the first error only: later calls keep the original message (the root cause) but
// return their own code so callers can propagate with `return agir_errf(...)`.
int agir_errf(agir_err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

// Internal errors carry the source location, since they point at a bug or the environment.
int agir_errf_at(agir_err *e, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

// errno-based I/O failure on `path`, e.g. "out/x.h5: cannot open for writing: Permission denied".
// File-system failures are the user's to fix (paths, permissions, disk), hence AGIR_EINPUT.
int agir_err_io(agir_err *e, const char *path, const char *what);

void agir_err_clear(agir_err *e);

#define AGIR_BAD(e, ...) agir_errf((e), AGIR_EINPUT, __VA_ARGS__)
#define AGIR_BUG(e, ...) agir_errf_at((e), __FILE__, __LINE__, __VA_ARGS__)

// Propagate a non-zero status from a call that already filled the error.
#define AGIR_TRY(call)              \
    do {                            \
        int agir_try_rc_ = (call);  \
        if (agir_try_rc_) return agir_try_rc_; \
    } while (0)

// Checked size arithmetic for everything derived from file contents (docs/architecture.md,
// "Robustness").
// Return 0 on success, 1 on overflow.
static inline int agir_mul_ok(size_t a, size_t b, size_t *out) {
    return __builtin_mul_overflow(a, b, out) ? 1 : 0;
}
static inline int agir_add_ok(size_t a, size_t b, size_t *out) {
    return __builtin_add_overflow(a, b, out) ? 1 : 0;
}

#endif
