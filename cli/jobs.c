// The job registry behind `agir config --explain` and every job command.
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/run.h"

#define AGIR_JOB(name, command, keys) extern const agir_key keys[];
#include "cli/jobs.h"
#undef AGIR_JOB

typedef struct job_entry {
    const char *name, *command;
    const agir_key *const schema[3];
} job_entry;

static const job_entry jobs[] = {
#define AGIR_JOB(name, command, keys) {name, command, {agir_run_keys, keys, NULL}},
#include "cli/jobs.h"
#undef AGIR_JOB
    {NULL, NULL, {NULL, NULL, NULL}},
};

static const job_entry *find(const char *job) {
    for (const job_entry *j = jobs; j->name; j++)
        if (!strcmp(j->name, job)) return j;
    return NULL;
}

const agir_key *const *agir_job_schema(const char *job) {
    const job_entry *j = find(job);
    return j ? j->schema : NULL;
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

int agir_job_expect(const char *path, const char *command, char *job, size_t jobsz, agir_err *e) {
    AGIR_TRY(agir_cfg_peek(path, "run", "job", job, jobsz, e));
    char list[512];
    size_t n = 0;
    list[0] = '\0';
    for (const job_entry *k = jobs; k->name && n < sizeof list; k++) {
        if (strcmp(k->command, command)) continue;
        int w = snprintf(list + n, sizeof list - n, "%s%s", n ? ", " : "", k->name);
        if (w < 0) break;
        n += (size_t)w;
    }
    if (!*job) return AGIR_BAD(e, "%s: no 'job' key in [run] (hint: add 'job = %s' under [run])", path, list);
    const job_entry *j = find(job);
    if (!j) {
        char names[512];
        agir_job_names(names, sizeof names);
        return AGIR_BAD(e, "%s: [run] job = '%s' is not a job (hint: 'agir %s' runs job = %s; the jobs are %s)", path,
                        job, command, list, names);
    }
    if (strcmp(j->command, command))
        return AGIR_BAD(e, "%s: [run] job = '%s' is run by 'agir %s', not 'agir %s' (hint: agir %s %s)", path, job,
                        j->command, command, j->command, path);
    return AGIR_OK;
}
