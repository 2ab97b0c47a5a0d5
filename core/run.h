// A job's run: its configuration, logger and run folder.
//
// Every job's INI file has a [run] section (declared here) naming the job, so that a config can
// never be fed to the wrong command, plus the seed, run folder, threads, device and log level.
// Loading a run reads and checks its configuration and writes nothing; starting it creates the run
// folder, writes the effective config there and opens metrics.jsonl. Jobs that can still refuse
// to run after loading (training: a checkpoint that does not match) start only once they really
// begin, so that a failed start changes nothing on disk.
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
    int started;     // agir_run_start has written the folder
} agir_run;

// Loads `cfg_path` (NULL for defaults) with `schema` (which must include agir_run_keys), checks
// that [run] job names `job`, applies threads and log level and names the run folder; writes nothing.
int agir_run_load(agir_run *run, const char *job, const agir_key *const *schema, const char *cfg_path,
                  const char *const *sets, int nsets, agir_err *e);
// Creates the run folder and writes config.ini and metrics.jsonl there (once; later calls do nothing).
int agir_run_start(agir_run *run, agir_err *e);
// agir_run_load then agir_run_start.
int agir_run_open(agir_run *run, const char *job, const agir_key *const *schema, const char *cfg_path,
                  const char *const *sets, int nsets, agir_err *e);
void agir_run_close(agir_run *run);

// Path of a file inside the run folder.
int agir_run_path(const agir_run *run, const char *name, char *out, size_t outsz, agir_err *e);

#endif
