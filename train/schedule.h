// Learning-rate schedules shared by the training jobs: a linear warm-up, then a constant rate, step
// decay (PyTorch's MultiStepLR: the rate is multiplied by gamma at each milestone) or cosine decay
// to a floor (Loshchilov & Hutter, "SGDR", ICLR 2017, one cycle without restarts).
//
// Steps are 0-based update indices: agir_schedule_lr(s, k) is the rate of the (k+1)-th update.
// Warm-up: lr·(k+1)/warmup for k < warmup, so the first update already moves and update `warmup`
// runs at the full rate. Milestones count updates from the start of the run, warm-up included.
// A schedule is a pure function of k, so resuming needs only the step (agir_ckpt_state.sched_step).
#ifndef AGIR_TRAIN_SCHEDULE_H
#define AGIR_TRAIN_SCHEDULE_H

#include <stdint.h>

#include "core/config.h"
#include "core/error.h"

enum { AGIR_SCHED_MAX_MILESTONES = 16 };

typedef enum { AGIR_SCHED_CONSTANT, AGIR_SCHED_STEP, AGIR_SCHED_COSINE } agir_sched_kind;

typedef struct agir_schedule {
    agir_sched_kind kind;
    double lr;       // peak rate, reached at the end of the warm-up
    int64_t warmup;  // updates of linear warm-up (0: none)
    int64_t total;   // updates of the whole run (the cosine reaches min_lr there)
    double min_lr;   // cosine floor
    double gamma;    // step decay factor
    int n_milestones;
    int64_t milestones[AGIR_SCHED_MAX_MILESTONES];  // strictly increasing
} agir_schedule;

// Reads the keys lr, warmup, schedule (constant|step|cosine), milestones ("200000,250000"),
// gamma and min_lr of `section` (a job declares them in its key table) for a run of `total`
// updates, and checks them together; errors name the key's origin (file:line or --set).
int agir_schedule_from_cfg(const agir_cfg *cfg, const char *section, int64_t total, agir_schedule *s, agir_err *e);

// Parses a comma-separated list of strictly increasing positive update counts into s->milestones;
// `where` names the value's origin in messages.
int agir_schedule_parse_milestones(agir_schedule *s, const char *text, const char *where, agir_err *e);

// The learning rate of update k (0-based).
double agir_schedule_lr(const agir_schedule *s, int64_t k);

#endif
