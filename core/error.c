// Error recording: first message wins, every message stays on one line.
#include "core/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void one_line(char *s) {
    for (; *s; s++)
        if (*s == '\n' || *s == '\r') *s = ' ';
}

static int vrecord(agir_err *e, int code, const char *prefix, const char *fmt, va_list ap) {
    if (!e || e->code != AGIR_OK) return code;
    e->code = code;
    size_t n = 0;
    if (prefix) {
        int k = snprintf(e->msg, sizeof e->msg, "%s", prefix);
        n = k > 0 ? (size_t)k : 0;
        if (n >= sizeof e->msg) n = sizeof e->msg - 1;
    }
    vsnprintf(e->msg + n, sizeof e->msg - n, fmt, ap);
    one_line(e->msg);
    return code;
}

int agir_errf(agir_err *e, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = vrecord(e, code, NULL, fmt, ap);
    va_end(ap);
    return rc;
}

int agir_errf_at(agir_err *e, const char *file, int line, const char *fmt, ...) {
    char prefix[256];
    snprintf(prefix, sizeof prefix, "internal error at %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    int rc = vrecord(e, AGIR_EINTERNAL, prefix, fmt, ap);
    va_end(ap);
    return rc;
}

int agir_err_io(agir_err *e, const char *path, const char *what) {
    int saved = errno;
    return agir_errf(e, AGIR_EINPUT, "%s: %s: %s (hint: check the path, permissions and free space)",
                     path, what, strerror(saved));
}

void agir_err_clear(agir_err *e) {
    e->code = AGIR_OK;
    e->msg[0] = '\0';
}
