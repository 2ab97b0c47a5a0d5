// Learning-rate schedules: warm-up, constant / step / cosine decay, and their configuration.
#include "train/schedule.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int agir_schedule_parse_milestones(agir_schedule *s, const char *text, const char *where, agir_err *e) {
    s->n_milestones = 0;
    const char *p = text;
    while (*p == ' ') p++;
    while (*p) {
        if (s->n_milestones == AGIR_SCHED_MAX_MILESTONES)
            return AGIR_BAD(e, "%s: more than %d milestones (hint: list at most %d update counts)", where,
                            AGIR_SCHED_MAX_MILESTONES, AGIR_SCHED_MAX_MILESTONES);
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 1 || (*p < '0' || *p > '9'))
            return AGIR_BAD(e, "%s: '%s' is not a comma-separated list of positive update counts (hint: e.g. "
                            "200000,250000)", where, text);
        int64_t prev = s->n_milestones ? s->milestones[s->n_milestones - 1] : 0;
        if (v <= prev)
            return AGIR_BAD(e, "%s: milestone %lld does not follow %lld (hint: list them in increasing order)", where,
                            v, (long long)prev);
        s->milestones[s->n_milestones++] = v;
        p = end;
        while (*p == ' ') p++;
        if (*p == ',') {
            p++;
            while (*p == ' ') p++;
            if (!*p) return AGIR_BAD(e, "%s: '%s' ends with a comma (hint: e.g. 200000,250000)", where, text);
        } else if (*p) {
            return AGIR_BAD(e, "%s: '%s' is not a comma-separated list of positive update counts (hint: e.g. "
                            "200000,250000)", where, text);
        }
    }
    return AGIR_OK;
}

int agir_schedule_from_cfg(const agir_cfg *cfg, const char *section, int64_t total, agir_schedule *s, agir_err *e) {
    memset(s, 0, sizeof *s);
    char at[1200];
    const char *kind = agir_cfg_str(cfg, section, "schedule");
    s->kind = !strcmp(kind, "cosine") ? AGIR_SCHED_COSINE
              : !strcmp(kind, "step") ? AGIR_SCHED_STEP
                                      : AGIR_SCHED_CONSTANT;
    s->lr = agir_cfg_float(cfg, section, "lr");
    s->warmup = agir_cfg_int(cfg, section, "warmup");
    s->total = total;
    s->min_lr = agir_cfg_float(cfg, section, "min_lr");
    s->gamma = agir_cfg_float(cfg, section, "gamma");
    agir_cfg_origin(cfg, section, "milestones", at, sizeof at);
    AGIR_TRY(agir_schedule_parse_milestones(s, agir_cfg_str(cfg, section, "milestones"), at, e));
    if (s->kind == AGIR_SCHED_STEP && s->n_milestones == 0)
        return AGIR_BAD(e, "%s: the step schedule needs at least one milestone (hint: e.g. milestones = 200000, or "
                        "schedule = constant)", at);
    agir_cfg_origin(cfg, section, "min_lr", at, sizeof at);
    if (s->kind == AGIR_SCHED_COSINE && s->min_lr > s->lr)
        return AGIR_BAD(e, "%s: min_lr %g is above lr %g (hint: the cosine decays from lr down to min_lr)", at,
                        s->min_lr, s->lr);
    agir_cfg_origin(cfg, section, "warmup", at, sizeof at);
    if (s->kind == AGIR_SCHED_COSINE && s->warmup >= total)
        return AGIR_BAD(e, "%s: warm-up of %lld updates leaves nothing of the %lld to decay over (hint: shorten the "
                        "warm-up)", at, (long long)s->warmup, (long long)total);
    return AGIR_OK;
}

double agir_schedule_lr(const agir_schedule *s, int64_t k) {
    if (k < s->warmup) return s->lr * (double)(k + 1) / (double)s->warmup;
    switch (s->kind) {
    case AGIR_SCHED_STEP: {
        double lr = s->lr;
        for (int i = 0; i < s->n_milestones && k >= s->milestones[i]; i++) lr *= s->gamma;
        return lr;
    }
    case AGIR_SCHED_COSINE: {
        double span = (double)(s->total - s->warmup), x = (double)(k - s->warmup) / span;
        if (x > 1) x = 1;
        return s->min_lr + 0.5 * (s->lr - s->min_lr) * (1 + cos(M_PI * x));
    }
    case AGIR_SCHED_CONSTANT:
        break;
    }
    return s->lr;
}
