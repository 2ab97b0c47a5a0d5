// SFT text helpers: task names, the task mix of a stage and its per-walk copies, user turns from
// phrasings, motions spelled as tokens, and subject-wise train/test splits. The phrasing banks
// themselves are in sft_phrasings.c.
#include "datasets/sft_text.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Random streams under the run seed ("sftcopy" and "sftfold" in ASCII), distinct from every other
// stream so that the copies and the folds do not move when another consumer of the seed changes.
static const uint64_t COPIES_STREAM = 0x736674636f7079ull;
static const uint64_t KFOLD_STREAM = 0x736674666f6c64ull;

static const char *const TASK_NAMES[AGIR_SFT_NTASK] = {"m2t", "t2m", "rationale", "score"};
static const char *const TASK_HINT = "tasks are m2t, t2m, rationale, score; e.g. \"m2t:1, t2m:0.5\"";

// Weights above this would only repeat the same walk many times per epoch; almost surely a typo.
static const double MIX_MAX_WEIGHT = 16.0;

const char *agir_sft_task_name(agir_sft_task t) {
    return (unsigned)t < AGIR_SFT_NTASK ? TASK_NAMES[t] : "?";
}

int agir_sft_task_find(const char *name) {
    if (!name) return -1;
    for (int t = 0; t < AGIR_SFT_NTASK; t++)
        if (!strcmp(name, TASK_NAMES[t])) return t;
    return -1;
}

// ---- mix ----------------------------------------------------------------------------------------

// [*s, *end) without surrounding white space.
static void trim(const char **s, const char **end) {
    while (*s < *end && isspace((unsigned char)**s)) (*s)++;
    while (*end > *s && isspace((unsigned char)(*end)[-1])) (*end)--;
}

static int task_find_n(const char *s, size_t len) {
    for (int t = 0; t < AGIR_SFT_NTASK; t++)
        if (strlen(TASK_NAMES[t]) == len && !strncmp(s, TASK_NAMES[t], len)) return t;
    return -1;
}

// One "name[:weight]" entry [s, end) into mix; `seen` catches a task named twice.
static int mix_entry(const char *s, const char *end, const char *where, agir_sft_mix *mix, int *seen, agir_err *e) {
    trim(&s, &end);
    if (s == end) return AGIR_BAD(e, "%s: empty entry in the task mix (hint: %s)", where, TASK_HINT);
    const char *colon = memchr(s, ':', (size_t)(end - s));
    const char *name_end = colon ? colon : end;
    const char *name = s;
    trim(&name, &name_end);
    int name_len = (int)(name_end - name);
    int t = task_find_n(name, (size_t)name_len);
    if (t < 0)
        return AGIR_BAD(e, "%s: unknown task '%.*s' in the task mix (hint: %s)", where, name_len > 40 ? 40 : name_len,
                        name, TASK_HINT);
    if (seen[t])
        return AGIR_BAD(e, "%s: task %s is named twice in the task mix (hint: %s)", where, TASK_NAMES[t], TASK_HINT);
    seen[t] = 1;
    double w = 1.0;
    if (colon) {
        const char *v = colon + 1, *v_end = end;
        trim(&v, &v_end);
        char buf[64];
        size_t len = (size_t)(v_end - v);
        char *stop = buf;
        if (len > 0 && len < sizeof buf) {
            memcpy(buf, v, len);
            buf[len] = '\0';
            w = strtod(buf, &stop);
        }
        int vl = len > 40 ? 40 : (int)len;
        if (len == 0 || len >= sizeof buf || *stop != '\0' || stop == buf)
            return AGIR_BAD(e, "%s: weight '%.*s' of task %s is not a number (hint: %s)", where, vl, v, TASK_NAMES[t],
                            TASK_HINT);
        if (!(w >= 0 && w <= MIX_MAX_WEIGHT))
            return AGIR_BAD(e, "%s: weight %.*s of task %s is not in [0, %g] (hint: %s)", where, vl, v, TASK_NAMES[t],
                            MIX_MAX_WEIGHT, TASK_HINT);
    }
    mix->weight[t] = w;
    return AGIR_OK;
}

int agir_sft_mix_parse(const char *text, const char *where, agir_sft_mix *mix, agir_err *e) {
    if (!text || !mix) return AGIR_BUG(e, "agir_sft_mix_parse: NULL text or mix");
    if (!where) where = "task mix";
    // Built aside so that a refused text leaves *mix as it was.
    agir_sft_mix m = {{0}};
    int seen[AGIR_SFT_NTASK] = {0};
    const char *s = text, *end = text + strlen(text);
    trim(&s, &end);
    if (s == end) return AGIR_BAD(e, "%s: the task mix is empty (hint: %s)", where, TASK_HINT);
    for (;;) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        AGIR_TRY(mix_entry(s, comma ? comma : end, where, &m, seen, e));
        if (!comma) break;
        s = comma + 1;
    }
    int on = 0;
    for (int t = 0; t < AGIR_SFT_NTASK; t++) on |= m.weight[t] > 0;
    if (!on) return AGIR_BAD(e, "%s: every task in the mix has weight 0 (hint: %s)", where, TASK_HINT);
    *mix = m;
    return AGIR_OK;
}

int agir_sft_copies(const agir_sft_mix *mix, agir_sft_task t, uint64_t seed, int64_t walk) {
    if (!mix || (unsigned)t >= AGIR_SFT_NTASK) return 0;
    double w = mix->weight[t];
    if (!(w > 0)) return 0;
    double whole = floor(w);
    int n = (int)whole;
    if (w > whole) {
        // One stream per (task, walk): the draw for a walk ignores which walks were asked before.
        agir_rng root, per_task, r;
        agir_rng_init(&root, seed, COPIES_STREAM);
        agir_rng_child(&root, (uint64_t)t + 1, &per_task);
        agir_rng_child(&per_task, (uint64_t)walk, &r);
        n += agir_rng_uniform(&r) < w - whole;
    }
    return n;
}

// ---- strings ------------------------------------------------------------------------------------

int agir_sft_instruction(agir_sft_task t, int k, const char *payload, char **out, agir_err *e) {
    if (!out) return AGIR_BUG(e, "agir_sft_instruction: NULL out");
    *out = NULL;
    int n = 0;
    const char *const *bank = agir_sft_phrasings(t, &n);
    if (!bank) return AGIR_BUG(e, "agir_sft_instruction: task %d is not a task", (int)t);
    if (k < 0 || k >= n)
        return AGIR_BUG(e, "agir_sft_instruction: phrasing %d of task %s is not in [0, %d)", k, TASK_NAMES[t], n);
    if (!payload) return AGIR_BUG(e, "agir_sft_instruction: NULL payload");
    const char *p = bank[k];
    const char *hole = strstr(p, "{}");
    if (!hole) return AGIR_BUG(e, "phrasing %d of task %s has no {}", k, TASK_NAMES[t]);
    size_t head = (size_t)(hole - p), tail = strlen(hole + 2), mid = strlen(payload), len;
    if (agir_add_ok(head + tail, mid, &len) || agir_add_ok(len, 1, &len))
        return AGIR_BUG(e, "agir_sft_instruction: payload too long");
    char *s = malloc(len);
    if (!s) return AGIR_BUG(e, "out of memory for a %zu-byte instruction", len);
    memcpy(s, p, head);
    memcpy(s + head, payload, mid);
    memcpy(s + head + mid, hole + 2, tail + 1);
    *out = s;
    return AGIR_OK;
}

static const char SOM[] = "<som>", EOM[] = "<eom>", ID_OPEN[] = "<motion_id_", ID_CLOSE[] = ">";

static size_t decimal_digits(uint32_t v) {
    size_t d = 1;
    while (v >= 10) v /= 10, d++;
    return d;
}

int agir_sft_spell_motion(const int32_t *codes, int64_t n, char **out, agir_err *e) {
    if (!out) return AGIR_BUG(e, "agir_sft_spell_motion: NULL out");
    *out = NULL;
    if (n < 0 || (n > 0 && !codes))
        return AGIR_BUG(e, "agir_sft_spell_motion: %lld codes at %p", (long long)n, (const void *)codes);
    // Sized exactly first, so the string is written in one pass without reallocations.
    size_t len = sizeof SOM - 1 + sizeof EOM - 1 + 1;
    for (int64_t i = 0; i < n; i++) {
        if (codes[i] < 0) return AGIR_BUG(e, "agir_sft_spell_motion: code %lld is %d", (long long)i, (int)codes[i]);
        size_t one = sizeof ID_OPEN - 1 + sizeof ID_CLOSE - 1 + decimal_digits((uint32_t)codes[i]);
        if (agir_add_ok(len, one, &len))
            return AGIR_BUG(e, "agir_sft_spell_motion: %lld codes is too many", (long long)n);
    }
    char *s = malloc(len);
    if (!s) return AGIR_BUG(e, "out of memory for a %zu-byte motion string", len);
    char *w = s;
    w += sprintf(w, "%s", SOM);
    for (int64_t i = 0; i < n; i++) w += sprintf(w, "%s%d%s", ID_OPEN, (int)codes[i], ID_CLOSE);
    sprintf(w, "%s", EOM);
    *out = s;
    return AGIR_OK;
}

// ---- splits -------------------------------------------------------------------------------------

static const char *const MODE_NAMES[] = {"loso", "kfold", "list"};

int agir_split_mode_parse(const char *text, const char *where, agir_split_mode *mode, agir_err *e) {
    if (!mode) return AGIR_BUG(e, "agir_split_mode_parse: NULL mode");
    if (!where) where = "split";
    for (int m = 0; text && m < 3; m++)
        if (!strcmp(text, MODE_NAMES[m])) {
            *mode = (agir_split_mode)m;
            return AGIR_OK;
        }
    return AGIR_BAD(e, "%s: split mode '%.40s' is not loso, kfold or list (hint: loso holds out one subject, kfold "
                       "one of k groups, list the named subjects)",
                    where, text ? text : "");
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

void agir_split_free(agir_split *s) {
    if (!s) return;
    for (int i = 0; s->subjects && i < s->n; i++) free(s->subjects[i]);
    free(s->subjects);
    free(s->test);
    memset(s, 0, sizeof *s);
}

// The distinct subjects, sorted and copied into s->subjects, with s->test zeroed.
static int distinct_subjects(const char *const *subjects, int64_t n, agir_split *s, agir_err *e) {
    const char **sorted = malloc((size_t)(n ? n : 1) * sizeof *sorted);
    if (!sorted) return AGIR_BUG(e, "out of memory for %lld subject ids", (long long)n);
    if (n) memcpy(sorted, subjects, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_str);
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (m == 0 || strcmp(sorted[i], sorted[m - 1])) sorted[m++] = sorted[i];
    s->subjects = calloc((size_t)(m ? m : 1), sizeof *s->subjects);
    s->test = calloc((size_t)(m ? m : 1), 1);
    int rc = AGIR_OK;
    if (!s->subjects || !s->test) rc = AGIR_BUG(e, "out of memory for %lld subjects", (long long)m);
    if (!rc) s->n = (int)m;  // entries not copied yet stay NULL, which agir_split_free skips
    for (int64_t i = 0; !rc && i < m; i++)
        if (!(s->subjects[i] = strdup(sorted[i]))) rc = AGIR_BUG(e, "out of memory copying subject ids");
    free(sorted);
    return rc;
}

static int split_loso(agir_split *s, const agir_split_spec *spec, agir_err *e) {
    if (spec->fold < 0 || spec->fold >= s->n)
        return AGIR_BAD(e, "%s: loso fold %d is not in [0, %d) (hint: the fold is the index of the held-out subject "
                           "among the %d sorted subjects)",
                        spec->where, spec->fold, s->n, s->n);
    s->test[spec->fold] = 1;
    return AGIR_OK;
}

static int split_kfold(agir_split *s, const agir_split_spec *spec, agir_err *e) {
    int n = s->n, k = spec->k;
    if (k < 2 || k > n)
        return AGIR_BAD(e, "%s: kfold k = %d is not in [2, %d] (hint: k must be between 2 and the number of "
                           "subjects, %d)",
                        spec->where, k, n, n);
    if (spec->fold < 0 || spec->fold >= k)
        return AGIR_BAD(e, "%s: kfold fold %d is not in [0, %d) (hint: folds are numbered 0 to k - 1)", spec->where,
                        spec->fold, k);
    int *perm = malloc((size_t)n * sizeof *perm);
    if (!perm) return AGIR_BUG(e, "out of memory for %d subjects", n);
    for (int i = 0; i < n; i++) perm[i] = i;
    agir_rng r;
    agir_rng_init(&r, spec->seed, KFOLD_STREAM);
    for (int i = n - 1; i > 0; i--) {
        int j = (int)agir_rng_below(&r, (uint32_t)i + 1);
        int tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    // The first n % k groups take one subject more.
    int base = n / k, extra = n % k, f = spec->fold;
    int start = f * base + (f < extra ? f : extra), size = base + (f < extra);
    for (int i = start; i < start + size; i++) s->test[perm[i]] = 1;
    free(perm);
    return AGIR_OK;
}

static int subject_index(const agir_split *s, const char *subject) {
    if (!s || !s->subjects || !subject) return -1;
    char **hit = bsearch(&subject, s->subjects, (size_t)s->n, sizeof *s->subjects, cmp_str);
    return hit ? (int)(hit - s->subjects) : -1;
}

static int split_list(agir_split *s, const agir_split_spec *spec, agir_err *e) {
    const char *p = spec->list ? spec->list : "";
    int named = 0;
    while (*p) {
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        const char *a = p, *b = end;
        trim(&a, &b);
        if (a < b) {
            named++;
            char id[256];
            int len = (int)(b - a);
            int i = -1;
            if ((size_t)len < sizeof id) {
                memcpy(id, a, (size_t)len);
                id[len] = '\0';
                i = subject_index(s, id);
            }
            if (i < 0)
                return AGIR_BAD(e, "%s: held-out subject '%.*s' is not in the data (hint: the data has %d subjects, "
                                   "from %s to %s)",
                                spec->where, len > 60 ? 60 : len, a, s->n, s->subjects[0], s->subjects[s->n - 1]);
            s->test[i] = 1;
        }
        p = *end ? end + 1 : end;
    }
    if (!named)
        return AGIR_BAD(e, "%s: the list of held-out subjects is empty (hint: name them, e.g. \"%s\")", spec->where,
                        s->subjects[0]);
    return AGIR_OK;
}

int agir_split_make(const char *const *subjects, int64_t n, const agir_split_spec *spec, agir_split *out,
                    agir_err *e) {
    if (!out) return AGIR_BUG(e, "agir_split_make: NULL out");
    memset(out, 0, sizeof *out);
    if (!spec || n < 0 || n > INT_MAX || (n > 0 && !subjects))
        return AGIR_BUG(e, "agir_split_make: %lld subjects at %p, spec %p", (long long)n, (const void *)subjects,
                        (const void *)spec);
    for (int64_t i = 0; i < n; i++)
        if (!subjects[i]) return AGIR_BUG(e, "agir_split_make: subject %lld is NULL", (long long)i);
    agir_split_spec sp = *spec;
    if (!sp.where) sp.where = "split";
    agir_split s = {0};
    int rc = distinct_subjects(subjects, n, &s, e);
    if (!rc && s.n == 0)
        rc = AGIR_BAD(e, "%s: there are no subjects to split (hint: is the dataset empty?)", sp.where);
    if (!rc) {
        switch (sp.mode) {
        case AGIR_SPLIT_LOSO: rc = split_loso(&s, &sp, e); break;
        case AGIR_SPLIT_KFOLD: rc = split_kfold(&s, &sp, e); break;
        case AGIR_SPLIT_LIST: rc = split_list(&s, &sp, e); break;
        default: rc = AGIR_BUG(e, "agir_split_make: mode %d is not a split mode", (int)sp.mode);
        }
    }
    for (int i = 0; !rc && i < s.n; i++) s.n_test += s.test[i];
    if (!rc && s.n_test == s.n)
        rc = AGIR_BAD(e, "%s: all %d subjects are held out, none is left to train on (hint: hold out fewer subjects)",
                      sp.where, s.n);
    if (!rc && s.n_test == 0)
        rc = AGIR_BAD(e, "%s: no subject is held out (hint: hold out at least one subject)", sp.where);
    if (rc) {
        agir_split_free(&s);
        return rc;
    }
    *out = s;
    return AGIR_OK;
}

int agir_split_is_test(const agir_split *s, const char *subject) {
    int i = subject_index(s, subject);
    return i < 0 ? -1 : s->test[i];
}
