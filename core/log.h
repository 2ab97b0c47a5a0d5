// Logging: human lines on stderr and machine-readable JSONL metrics, plus a progress bar.
//
// A logger is a value passed to jobs (no global state). The progress bar draws only when both
// stdout and stderr are terminals; otherwise (output piped or redirected) a plain progress line is
// printed at most every 30 seconds (AGIR_PROGRESS_SECONDS overrides the interval), so logs of batch
// jobs stay clean and a long job still shows it is alive.
#ifndef AGIR_LOG_H
#define AGIR_LOG_H

#include <stdint.h>
#include <stdio.h>

#include <cJSON.h>

#include "core/error.h"

enum { AGIR_LOG_QUIET = 0, AGIR_LOG_INFO = 1, AGIR_LOG_DEBUG = 2 };

typedef struct agir_log {
    int level;
    FILE *out;      // human lines (stderr unless redirected by tests)
    FILE *metrics;  // JSONL metrics, NULL when the job has no run folder
    int interactive;  // progress bars allowed
} agir_log;

void agir_log_init(agir_log *log, int level);
void agir_log_close(agir_log *log);

void agir_info(const agir_log *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void agir_warn(const agir_log *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void agir_debug(const agir_log *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Opens (appending, so resumed runs continue the file) a JSONL metrics file.
int agir_metrics_open(agir_log *log, const char *path, agir_err *e);
// Writes one object as one line with a "time" field added; takes ownership of obj.
void agir_metrics_emit(const agir_log *log, cJSON *obj);

double agir_now(void);  // monotonic seconds

typedef struct agir_progress {
    char label[48];
    int64_t total, done, base;  // base: units done before this process (a resumed run)
    double t0, last_draw, every;
    int enabled;  // the terminal bar
    int lines;    // plain lines every `every` seconds
    FILE *out;
    char note[96];  // shown after the rate (a job's running loss, its tokens/s); "" for none
} agir_progress;

void agir_progress_start(agir_progress *p, const agir_log *log, const char *label, int64_t total);
// Work already done before the start (a resumed run): counted as done, not in the rate.
void agir_progress_resume(agir_progress *p, int64_t done);
void agir_progress_add(agir_progress *p, int64_t n);
// Sets the note shown after the rate from the next draw on.
void agir_progress_note(agir_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void agir_progress_finish(agir_progress *p);

#endif
