// Human log lines, JSONL metrics and a throttled terminal progress bar with rate and ETA.
#include "core/log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double agir_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void agir_log_init(agir_log *log, int level) {
    log->level = level;
    log->out = stderr;
    log->metrics = NULL;
    log->interactive = isatty(STDOUT_FILENO) && isatty(STDERR_FILENO);
}

void agir_log_close(agir_log *log) {
    if (log->metrics) fclose(log->metrics);
    log->metrics = NULL;
}

static void vline(const agir_log *log, int level, const char *tag, const char *fmt, va_list ap) {
    if (!log || log->level < level || !log->out) return;
    if (tag) fputs(tag, log->out);
    vfprintf(log->out, fmt, ap);
    fputc('\n', log->out);
    fflush(log->out);
}

void agir_info(const agir_log *log, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vline(log, AGIR_LOG_INFO, NULL, fmt, ap);
    va_end(ap);
}

void agir_warn(const agir_log *log, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vline(log, AGIR_LOG_QUIET, "warning: ", fmt, ap);
    va_end(ap);
}

void agir_debug(const agir_log *log, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vline(log, AGIR_LOG_DEBUG, "debug: ", fmt, ap);
    va_end(ap);
}

int agir_metrics_open(agir_log *log, const char *path, agir_err *e) {
    if (log->metrics) fclose(log->metrics);
    log->metrics = fopen(path, "ab");
    if (!log->metrics) return agir_err_io(e, path, "cannot open metrics file");
    return AGIR_OK;
}

void agir_metrics_emit(const agir_log *log, cJSON *obj) {
    if (!obj) return;
    if (log && log->metrics) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        cJSON_AddNumberToObject(obj, "time", (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec);
        char *s = cJSON_PrintUnformatted(obj);
        if (s) {
            fputs(s, log->metrics);
            fputc('\n', log->metrics);
            fflush(log->metrics);
            cJSON_free(s);
        }
    }
    cJSON_Delete(obj);
}

void agir_progress_start(agir_progress *p, const agir_log *log, const char *label, int64_t total) {
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label);
    p->total = total;
    p->t0 = agir_now();
    p->enabled = log && log->interactive && log->level >= AGIR_LOG_INFO && log->out;
    p->lines = log && !log->interactive && log->level >= AGIR_LOG_INFO && log->out;
    p->out = log ? log->out : NULL;
    p->last_draw = p->t0;
    p->every = 30;
    const char *ev = getenv("AGIR_PROGRESS_SECONDS");
    if (ev && *ev) {
        char *end;
        double v = strtod(ev, &end);
        if (!*end && v > 0 && v < 1e6) p->every = v;
    }
}

void agir_progress_resume(agir_progress *p, int64_t done) {
    p->done = p->base = done;
}

static void fmt_hms(double s, char *buf, size_t n) {
    if (!(s >= 0) || s > 359999) {
        snprintf(buf, n, "--:--");
        return;
    }
    int t = (int)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%d:%02d:%02d", t / 3600, (t / 60) % 60, t % 60);
    else
        snprintf(buf, n, "%02d:%02d", t / 60, t % 60);
}

static void draw(agir_progress *p, double now) {
    const int width = 28;
    double frac = p->total > 0 ? (double)p->done / (double)p->total : 0.0;
    if (frac > 1) frac = 1;
    int fill = (int)(frac * width);
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    double el = now - p->t0;
    double rate = el > 0 ? (double)(p->done - p->base) / el : 0.0;
    char eta[32], ela[32];
    fmt_hms(rate > 0 ? (double)(p->total - p->done) / rate : -1, eta, sizeof eta);
    fmt_hms(el, ela, sizeof ela);
    fprintf(p->out, "\r%s [%s] %lld/%lld %.1f/s %s%s%s ETA %s ", p->label, bar, (long long)p->done,
            (long long)p->total, rate, p->note, p->note[0] ? " " : "", ela, eta);
    fflush(p->out);
}

// The plain line of piped output: "train: 120/6000 (2.0%), 3.1/s, 00:38 elapsed, ETA 31:20".
static void line(agir_progress *p, double now) {
    double el = now - p->t0, rate = el > 0 ? (double)(p->done - p->base) / el : 0.0;
    char eta[32], ela[32];
    fmt_hms(rate > 0 ? (double)(p->total - p->done) / rate : -1, eta, sizeof eta);
    fmt_hms(el, ela, sizeof ela);
    fprintf(p->out, "%s: %lld/%lld (%.1f%%), %.3g/s, %s%s%s elapsed, ETA %s\n", p->label, (long long)p->done,
            (long long)p->total, p->total > 0 ? 100.0 * (double)p->done / (double)p->total : 0.0, rate, p->note,
            p->note[0] ? ", " : "", ela, eta);
    fflush(p->out);
}

void agir_progress_add(agir_progress *p, int64_t n) {
    p->done += n;
    if (p->lines) {
        double now = agir_now();
        if (now - p->last_draw >= p->every && p->done < p->total) {
            p->last_draw = now;
            line(p, now);
        }
        return;
    }
    if (!p->enabled) return;
    double now = agir_now();
    if (now - p->last_draw < 0.1 && p->done < p->total) return;
    p->last_draw = now;
    draw(p, now);
}

void agir_progress_note(agir_progress *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->note, sizeof p->note, fmt, ap);
    va_end(ap);
}

void agir_progress_finish(agir_progress *p) {
    if (!p->enabled) return;
    draw(p, agir_now());
    fputc('\n', p->out);
    fflush(p->out);
}
