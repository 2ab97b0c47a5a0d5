// The VQ-VAE's training data: subject split, normalised feature sequences, reproducible windows and
// the held-out windows with their original joints.
#include "train/vq_data.h"

#include <stdlib.h>
#include <string.h>

// Stream labels under the run seed ("vqdata", "vqsplit" in ASCII).
static const uint64_t DATA_STREAM = 0x767164617461ull, SPLIT_STREAM = 0x767173706c6974ull;
// Child labels of the data root: epoch orders have the top bit set, windows do not.
static const uint64_t ORDER_LABEL = 1ull << 63;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int in_list(char *const *list, int n, const char *s) {
    return n > 0 && bsearch(&s, list, (size_t)n, sizeof *list, cmp_str) != NULL;
}

// Sorted distinct subject ids of g (pointers into g), malloc'ed.
static int subjects_of(const agir_gait *g, char ***out, int *n, agir_err *e) {
    char **s = malloc((size_t)(g->n_seq ? g->n_seq : 1) * sizeof *s);
    if (!s) return AGIR_BUG(e, "out of memory listing subjects");
    for (int64_t i = 0; i < g->n_seq; i++) s[i] = g->seq[i].subject;
    qsort(s, (size_t)g->n_seq, sizeof *s, cmp_str);
    int k = 0;
    for (int64_t i = 0; i < g->n_seq; i++)
        if (k == 0 || strcmp(s[k - 1], s[i])) s[k++] = s[i];
    *out = s;
    *n = k;
    return AGIR_OK;
}

static int keep_subject(agir_vq_data *d, const char *id, agir_err *e) {
    char *c = strdup(id);
    if (!c) return AGIR_BUG(e, "out of memory for subject ids");
    d->val_subjects[d->n_val_subjects++] = c;
    return AGIR_OK;
}

// Held-out subjects named in a comma-separated list; each must occur in the data.
static int split_list(agir_vq_data *d, char **subj, int n, const agir_vq_split *sp, const char *name, agir_err *e) {
    const char *p = sp->subjects;
    while (*p) {
        size_t k = strcspn(p, ","), a = 0, b = k;
        while (a < b && p[a] == ' ') a++;
        while (b > a && p[b - 1] == ' ') b--;
        char id[256];
        if (b == a || b - a >= sizeof id)
            return AGIR_BAD(e, "%s: '%s' is not a comma-separated list of subject ids (hint: e.g. SYN003,SYN011)",
                            sp->where, sp->subjects);
        memcpy(id, p + a, b - a);
        id[b - a] = '\0';
        if (!in_list(subj, n, id))
            return AGIR_BAD(e, "%s: subject '%s' is not in %s (hint: 'agir info %s' lists the subjects)", sp->where, id,
                            name, name);
        if (!in_list(d->val_subjects, d->n_val_subjects, id)) {
            AGIR_TRY(keep_subject(d, id, e));
            qsort(d->val_subjects, (size_t)d->n_val_subjects, sizeof *d->val_subjects, cmp_str);
        }
        p += k + (p[k] == ',');
    }
    return AGIR_OK;
}

// round(fraction · n) subjects (at least one when fraction > 0) by a seeded shuffle.
static int split_fraction(agir_vq_data *d, char **subj, int n, const agir_vq_split *sp, agir_err *e) {
    int k = (int)(sp->fraction * n + 0.5);
    if (sp->fraction > 0 && k == 0) k = 1;
    if (k >= n) k = n - 1;  // a single subject trains, with nothing held out
    if (k <= 0) return AGIR_OK;
    int *order = malloc((size_t)n * sizeof *order);
    if (!order) return AGIR_BUG(e, "out of memory for the subject split");
    for (int i = 0; i < n; i++) order[i] = i;
    agir_rng r;
    agir_rng_init(&r, sp->seed, SPLIT_STREAM);
    for (int i = n - 1; i > 0; i--) {
        int j = (int)agir_rng_below(&r, (uint32_t)i + 1), t = order[i];
        order[i] = order[j], order[j] = t;
    }
    int rc = AGIR_OK;
    for (int i = 0; !rc && i < k && i < n; i++) rc = keep_subject(d, subj[order[i]], e);
    free(order);
    qsort(d->val_subjects, (size_t)d->n_val_subjects, sizeof *d->val_subjects, cmp_str);
    return rc;
}

static int choose_split(agir_vq_data *d, const agir_gait *g, const char *name, const agir_vq_split *sp, agir_err *e) {
    char **subj = NULL;
    int n = 0;
    AGIR_TRY(subjects_of(g, &subj, &n, e));
    d->n_subjects = n;
    d->val_subjects = calloc((size_t)n + 1, sizeof *d->val_subjects);
    int rc = d->val_subjects ? AGIR_OK : AGIR_BUG(e, "out of memory for the subject split");
    if (!rc) rc = *sp->subjects ? split_list(d, subj, n, sp, name, e) : split_fraction(d, subj, n, sp, e);
    if (!rc && d->n_val_subjects >= n)
        rc = AGIR_BAD(e, "%s: holding out %d of the %d subjects of %s leaves none to train on (hint: hold out fewer)",
                      sp->where, d->n_val_subjects, n, name);
    free(subj);
    return rc;
}

// The training subjects' sequences, each followed by its mirror image when `mirror` is set
// (HumanML3D likewise adds a mirrored copy of every motion): the mirror exchanges the sides, so a
// walk with a weak left arm teaches the model the weak right arm too, and asymmetries of held-out
// subjects on the side the training subjects happen not to show are still representable.
static int train_set(agir_vq_data *d, const agir_gait *g, int mirror, agir_gait *sub, agir_err *e) {
    int J = g->skel->n_joints, map[256];
    if (mirror && (J > 256 || agir_skeleton_mirror_map(g->skel, map)))
        return AGIR_BAD(e, "skeleton '%s' has a side joint without its counterpart (hint: set data.mirror = false)",
                        g->skel->name);
    AGIR_TRY(agir_gait_init(sub, g->skel, 0, NULL, e));
    float *buf = NULL;
    int rc = AGIR_OK;
    for (int64_t s = 0; !rc && s < g->n_seq; s++) {
        if (in_list(d->val_subjects, d->n_val_subjects, g->seq[s].subject)) continue;
        const float *f = agir_gait_seq_frames(g, s);
        int64_t n = g->seq[s].length;
        rc = agir_gait_append(sub, &g->seq[s], f, n, NULL, e);
        if (rc || !mirror) continue;
        float *nb = realloc(buf, (size_t)n * (size_t)J * 3 * sizeof *nb);
        if (!nb) {
            rc = AGIR_BUG(e, "out of memory mirroring %s", g->seq[s].id);
            break;
        }
        buf = nb;
        agir_skeleton_mirror(map, J, f, n, buf);
        rc = agir_gait_append(sub, &g->seq[s], buf, n, NULL, e);
    }
    free(buf);
    return rc;
}

static void add_train(agir_vq_data *d, float *feat, int64_t rows) {
    agir_motion_normalize(feat, rows, d->dim, d->mean, d->std);
    d->train[d->n_train] = feat;
    d->train_rows[d->n_train++] = rows;
}

// Cuts the non-overlapping windows of one held-out sequence (raw features, (rows, D)).
static int add_val(agir_vq_data *d, const float *feat, int64_t rows, agir_err *e) {
    int W = d->window, D = d->dim;
    size_t per_x = (size_t)W * D, per_j = (size_t)W * d->layout.n_joints * 3;
    int64_t k = rows / W;
    if (k == 0) return AGIR_OK;
    float *x = realloc(d->val_x, (size_t)(d->n_val + k) * per_x * sizeof *x);
    if (x) d->val_x = x;
    float *j = x ? realloc(d->val_joints, (size_t)(d->n_val + k) * per_j * sizeof *j) : NULL;
    if (j) d->val_joints = j;
    if (!x || !j) return AGIR_BUG(e, "out of memory for the held-out windows");
    for (int64_t w = 0; w < k; w++, d->n_val++) {
        float *xw = d->val_x + (size_t)d->n_val * per_x;
        memcpy(xw, feat + (size_t)w * per_x, per_x * sizeof *xw);
        AGIR_TRY(agir_motion_decode(&d->layout, &d->motion, xw, W, d->val_joints + (size_t)d->n_val * per_j, e));
        agir_motion_normalize(xw, W, D, d->mean, d->std);
    }
    d->n_val_seq++;
    return AGIR_OK;
}

// Held-out windows from g; training sequences from `sub` (train_set), normalised.
static int load_sequences(agir_vq_data *d, const agir_gait *g, const agir_gait *sub, agir_err *e) {
    d->train = calloc((size_t)sub->n_seq + 1, sizeof *d->train);
    d->train_rows = calloc((size_t)sub->n_seq + 1, sizeof *d->train_rows);
    if (!d->train || !d->train_rows) return AGIR_BUG(e, "out of memory for the training sequences");
    float *feat;
    int64_t rows;
    for (int64_t s = 0; s < g->n_seq; s++) {
        if (!in_list(d->val_subjects, d->n_val_subjects, g->seq[s].subject)) continue;
        AGIR_TRY(agir_motion_from_seq(g, s, &d->layout, &d->motion, &feat, &rows, e));
        int rc = add_val(d, feat, rows, e);
        free(feat);
        AGIR_TRY(rc);
    }
    for (int64_t s = 0; s < sub->n_seq; s++) {
        AGIR_TRY(agir_motion_from_seq(sub, s, &d->layout, &d->motion, &feat, &rows, e));
        if (rows < d->window) {
            d->n_short++;
            free(feat);
        } else {
            add_train(d, feat, rows);
        }
    }
    return AGIR_OK;
}

int agir_vq_data_load(agir_vq_data *d, const agir_gait *g, const char *name, const agir_motion_opts *o,
                      const agir_vq_data_opts *opt, const agir_vq_split *split, uint64_t seed, agir_err *e) {
    int window = opt->window;
    memset(d, 0, sizeof *d);
    d->perm_epoch = -1;
    d->motion = *o;
    d->window = window;
    agir_rng_init(&d->root, seed, DATA_STREAM);
    if (g->n_seq == 0) return AGIR_BAD(e, "%s: holds no sequences (hint: generate one with 'agir synth')", name);
    AGIR_TRY(agir_motion_layout_init(&d->layout, g->skel, e));
    d->dim = d->layout.dim;
    d->mean = malloc((size_t)d->dim * sizeof *d->mean);
    d->std = malloc((size_t)d->dim * sizeof *d->std);
    if (!d->mean || !d->std) return AGIR_BUG(e, "out of memory for feature statistics");
    AGIR_TRY(choose_split(d, g, name, split, e));
    agir_gait sub;
    AGIR_TRY(train_set(d, g, opt->mirror, &sub, e));
    int64_t rows;
    int rc = agir_motion_stats(&sub, &d->layout, &d->motion, opt->std_floor, d->mean, d->std, &rows, e);
    if (!rc && opt->pool) agir_motion_pool_std(&d->layout, opt->feat_bias, d->std);
    if (!rc) rc = load_sequences(d, g, &sub, e);
    agir_gait_free(&sub);
    AGIR_TRY(rc);
    if (d->n_train == 0)
        return AGIR_BAD(e, "%s: no training sequence has the %d frames of a window at %g fps (hint: lower "
                        "data.window or use longer walks)", name, window + 1, o->fps);
    d->perm = malloc((size_t)d->n_train * sizeof *d->perm);
    if (!d->perm) return AGIR_BUG(e, "out of memory for the epoch order");
    return AGIR_OK;
}

void agir_vq_data_free(agir_vq_data *d) {
    for (int i = 0; d->train && i < d->n_train; i++) free(d->train[i]);
    for (int i = 0; d->val_subjects && i < d->n_val_subjects; i++) free(d->val_subjects[i]);
    free(d->train);
    free(d->train_rows);
    free(d->val_subjects);
    free(d->val_x);
    free(d->val_joints);
    free(d->mean);
    free(d->std);
    free(d->perm);
    memset(d, 0, sizeof *d);
}

// The visiting order of epoch `epoch` (Fisher-Yates over a stream of its own).
static void order_of(agir_vq_data *d, int64_t epoch) {
    if (d->perm_epoch == epoch) return;
    agir_rng r;
    agir_rng_child(&d->root, ORDER_LABEL | (uint64_t)epoch, &r);
    for (int i = 0; i < d->n_train; i++) d->perm[i] = i;
    for (int i = d->n_train - 1; i > 0; i--) {
        int j = (int)agir_rng_below(&r, (uint32_t)i + 1);
        int32_t t = d->perm[i];
        d->perm[i] = d->perm[j], d->perm[j] = t;
    }
    d->perm_epoch = epoch;
}

void agir_vq_data_windows(agir_vq_data *d, const agir_vq_pos *p, int n, float *x) {
    agir_vq_pos at = *p;
    size_t per = (size_t)d->window * d->dim;
    for (int i = 0; i < n; i++) {
        order_of(d, at.epoch);
        int s = d->perm[at.cursor];
        agir_rng r;
        agir_rng_child(&d->root, ((uint64_t)at.epoch << 32) | (uint64_t)at.cursor, &r);
        int64_t start = agir_rng_below(&r, (uint32_t)(d->train_rows[s] - d->window + 1));
        memcpy(x + (size_t)i * per, d->train[s] + (size_t)start * d->dim, per * sizeof *x);
        agir_vq_pos_advance(d, &at, 1);
    }
}

void agir_vq_pos_advance(const agir_vq_data *d, agir_vq_pos *p, int64_t n) {
    p->cursor += n;
    p->epoch += p->cursor / d->n_train;
    p->cursor %= d->n_train;
}
