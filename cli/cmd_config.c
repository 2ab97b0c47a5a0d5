// `agir config --explain FILE`: every key of the file's job with value, default, range and help.
#include <stdio.h>

#include "cli/args.h"
#include "cli/cli.h"

const agir_opt agir_opts_config[] = {
    {"explain", "FILE", "the config file to explain: every key with value, default, range, origin and help"},
    {"job", "NAME", "explain FILE as a config of job NAME (when its [run] job is missing or wrong)"},
    AGIR_OPT_SET,
    AGIR_OPTS_END,
};

int agir_cmd_config(int argc, char **argv, agir_err *e) {
    agir_args a;
    AGIR_TRY(agir_args_parse("config", argc, argv, agir_opts_config, &a, e));
    const char *path = agir_args_get(&a, "explain");
    if (!path || a.npos)
        return AGIR_BAD(e, "agir config: nothing to do (hint: agir config --explain FILE [--job NAME] [--set s.k=v])");
    char job[64];
    const char *forced = agir_args_get(&a, "job");
    if (forced) {
        snprintf(job, sizeof job, "%s", forced);
    } else {
        AGIR_TRY(agir_cfg_peek(path, "run", "job", job, sizeof job, e));
        if (!*job)
            return AGIR_BAD(e, "%s: no 'job' key in [run] (hint: add 'job = NAME' under [run], or pass --job NAME)",
                            path);
    }
    const agir_key *const *schema = agir_job_schema(job);
    if (!schema) {
        char names[512];
        agir_job_names(names, sizeof names);
        return AGIR_BAD(e, "%s: unknown job '%s' (hint: jobs are %s)", path, job, names);
    }
    agir_cfg cfg;
    int rc = agir_cfg_load(&cfg, schema, path, a.sets, a.nsets, e);
    if (!rc) {
        printf("# job '%s', configured by %s\n", job, path);
        agir_cfg_explain(&cfg, stdout);
    }
    agir_cfg_free(&cfg);
    return rc;
}
