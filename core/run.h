// A job's run: its configuration, logger and run folder.
//
// Every job's INI file has a [run] section (declared here) naming the job, so that a config can
// never be fed to the wrong command, plus the seed, run folder, threads, device and log level.
// Opening a run writes the effective config into the run folder and opens metrics.jsonl there.
#ifndef AGIR_RUN_H
#define AGIR_RUN_H

#include "core/config.h"
#include "core/log.h"

extern const agir_key agir_run_keys[];

typedef struct agir_run {
    const char *job;
    agir_cfg cfg;
    agir_log log;
    char dir[1024];  // run folder
} agir_run;

// Loads `cfg_path` (NULL for defaults) with `schema` (which must include agir_run_keys), checks
// that [run] job names `job`, applies threads and log level, creates the run folder and writes
// config.ini and metrics.jsonl there.
int agir_run_open(agir_run *run, const char *job, const agir_key *const *schema, const char *cfg_path,
                  const char *const *sets, int nsets, agir_err *e);
void agir_run_close(agir_run *run);

// Path of a file inside the run folder.
int agir_run_path(const agir_run *run, const char *name, char *out, size_t outsz, agir_err *e);

#endif
