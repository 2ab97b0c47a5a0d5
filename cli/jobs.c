// The job registry behind `agir config --explain` and every job command.
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/run.h"

#define AGIR_JOB(name, keys) extern const agir_key keys[];
#include "cli/jobs.h"
#undef AGIR_JOB

typedef struct job_entry {
    const char *name;
    const agir_key *const schema[3];
} job_entry;

static const job_entry jobs[] = {
#define AGIR_JOB(name, keys) {name, {agir_run_keys, keys, NULL}},
#include "cli/jobs.h"
#undef AGIR_JOB
    {NULL, {NULL, NULL, NULL}},
};

const agir_key *const *agir_job_schema(const char *job) {
    for (const job_entry *j = jobs; j->name; j++)
        if (!strcmp(j->name, job)) return j->schema;
    return NULL;
}

void agir_job_names(char *out, size_t outsz) {
    size_t n = 0;
    out[0] = '\0';
    for (const job_entry *j = jobs; j->name && n < outsz; j++) {
        int k = snprintf(out + n, outsz - n, "%s%s", n ? ", " : "", j->name);
        if (k < 0) break;
        n += (size_t)k;
    }
}
