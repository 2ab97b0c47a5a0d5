// Description and rationale text from gait findings: phrase banks, sentence plans, word budget,
// and the score line.
//
// Pipeline: findings (bands, gait_norms.c) -> plan (which findings to mention, most salient first,
// plus optional normal findings and clauses) -> realisation (phrase banks, chosen by the seeded
// generator) -> word-budget check (drop or add optional parts and realise again).
//
// The texts must stay parseable by a plain reader (tests/unit/test_gait_text.c checks every
// claim against the bands). Rules that keep them so, documented in docs/text_generation.md:
//   - a claim and its intensity word sit in one chunk; chunks end at , ; . and at with / while /
//     but / although / despite; two findings share a chunk ("A and B") only when they have the
//     same band and do not mix generic directions (each template carries a tag saying whether it
//     uses a generic low / high / normal word, e.g. "reduced", "increased", "normal");
//   - side words appear only in the Arm section and always name the arm that swings less first;
//   - the Overall sentence carries no intensity words, only the score's severity words.
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/gait_text.h"

// ---------------------------------------------------------------------------------------------
// Text buffer

typedef struct sbuf {
    char s[AGIR_TEXT_MAX];
    size_t n;
    int overflow;
} sbuf;

static void sb_putn(sbuf *b, const char *s, size_t len) {
    if (b->n + len >= sizeof b->s) {
        b->overflow = 1;
        return;
    }
    memcpy(b->s + b->n, s, len);
    b->n += len;
    b->s[b->n] = '\0';
}

static void sb_put(sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }

static void sb_reset(sbuf *b) {
    b->n = 0;
    b->s[0] = '\0';
    b->overflow = 0;
}

// ---------------------------------------------------------------------------------------------
// Phrase banks
//
// Templates: the first character is the tag (L, H, N: the phrase states its direction with a
// generic low / high / normal word; '-': it does not; '!': it is negated, "no signs of freezing"),
// the rest is text where %a is an intensity adverb and %j an intensity adjective for the band
// (empty for some draws), %s the arm that swings less and %o the other one. A bank holds up to
// BANK_MAX templates; a template listed twice is drawn twice as often. Every band that agir_norms
// allows has a non-empty bank (the tests generate every band of every feature).

#define BANK_MAX 7
typedef const char *bank[BANK_MAX];

typedef struct feature_phrases {
    const char *noun;  // for shared normal statements ("the walking speed and cadence are normal")
    bank low_np, low_cl, high_np, high_cl;
    bank marked_np, marked_cl;  // replace high_* for marked bands when given (freezing)
    bank norm_np, norm_cl;
    bank sum_low, sum_high, sum_marked;  // Overall summaries: no intensity words
} feature_phrases;

static const feature_phrases PH[AGIR_TF_COUNT] = {
    [AGIR_TF_SPEED] =
        {
            .noun = "walking speed",
            .low_np = {"L%a reduced walking speed", "L%a decreased gait speed", "La %j reduction in walking speed",
                       "-a %a slow walking speed", "-a %a slow pace"},
            .low_cl = {"Lthe walking speed is %a reduced", "Lwalking speed is %a decreased", "-walking is %a slow",
                       "-the walking speed is %a slow", "-the pace is %a slow"},
            .high_np = {"-a brisk walking speed", "-a fast walking pace"},
            .high_cl = {"-the individual walks briskly", "-the walking pace is fast"},
            .norm_np = {"Na normal walking speed", "Na appropriate pace", "Nadequate speed"},
            .norm_cl = {"Nthe walking speed is normal", "Nthe pace is appropriate"},
            .sum_low = {"-slowness", "Lreduced speed", "-slow walking"},
            .sum_high = {"-a brisk pace"},
        },
    [AGIR_TF_CADENCE] =
        {
            .noun = "cadence",
            .low_np = {"La %a reduced cadence", "La %a lower step rate", "La %j reduction in cadence"},
            .low_cl = {"Lthe cadence is %a reduced", "Lthe step rate is %a low", "Lcadence is %a decreased"},
            .high_np = {"Ha %a increased cadence", "Ha %a high step rate"},
            .high_cl = {"Hthe cadence is %a increased", "Hthe step rate is %a elevated"},
            .norm_np = {"Na normal cadence", "Na typical step rate"},
            .norm_cl = {"Nthe cadence is normal", "Ncadence is preserved"},
            .sum_low = {"Lreduced cadence", "La low step rate"},
            .sum_high = {"-a hurried cadence"},
        },
    [AGIR_TF_STEP_LENGTH] =
        {
            .noun = "step length",
            .low_np = {"-%a shortened steps", "L%a reduced step length", "-a %a shortened stride"},
            .low_cl = {"-the steps are %a shortened", "Lstep length is %a reduced", "-strides are %a short"},
            .norm_np = {"Nnormal step length", "Nadequate step length"},
            .norm_cl = {"Nstep length is preserved", "Nthe step length is normal"},
            .sum_low = {"-short steps", "-shortened strides"},
        },
    [AGIR_TF_STEP_WIDTH] =
        {
            .noun = "step width",
            .low_np = {"-a %a narrow step width", "-%a narrow steps", "-a %a narrowed base of support"},
            .low_cl = {"-the step width is %a narrow", "-the feet land %a closer together than usual"},
            .high_np = {"-a %a wide base of support", "H%a increased step width", "-a %a widened stance"},
            .high_cl = {"Hthe step width is %a increased", "-the feet are placed %a wider apart than usual"},
            .norm_np = {"Na normal step width", "Na typical base of support"},
            .norm_cl = {"Nthe step width is normal", "Nthe base of support is typical"},
            .sum_low = {"-a narrow base", "-narrow steps"},
            .sum_high = {"-a wide base"},
        },
    [AGIR_TF_VARIABILITY] =
        {
            .high_np = {"-%a irregular step timing", "-%j variability in step time", "-a %a irregular rhythm",
                        "-%j step-to-step variability", "-%j variability in stepping"},
            .high_cl = {"-step timing is %a irregular", "-the rhythm is %a irregular",
                        "-step times vary %a from step to step", "Hstep-to-step variability is %a increased"},
            .norm_np = {"-a regular rhythm", "Nconsistent step timing", "Llittle step-to-step variability",
                        "-regular step timing", "Llow variability in stepping"},
            .norm_cl = {"-the rhythm is regular", "Nstep timing is consistent", "-the steps follow a regular rhythm"},
            .sum_high = {"-irregular timing", "-a irregular rhythm", "-variable step timing"},
        },
    [AGIR_TF_STEP_ASYM] =
        {
            .high_np = {"-%j asymmetry in step time", "-%a asymmetric step timing", "-%j asymmetry between the legs",
                        "-%a asymmetric stepping"},
            .high_cl = {"-step timing is %a asymmetric between the legs", "-step times differ %a between the legs",
                        "-stepping is %a asymmetric"},
            .norm_np = {"-symmetric step timing"},
            .norm_cl = {"-step timing is symmetric between the legs"},
            .sum_high = {"-asymmetric stepping", "-step timing asymmetry"},
        },
    [AGIR_TF_CLEARANCE] =
        {
            .low_np = {"L%a reduced foot clearance", "-a %j shuffling tendency", "L%a low foot lift"},
            .low_cl = {"Lfoot clearance is %a reduced", "Lthe feet are lifted %a less than usual"},
            .norm_np = {"Ngood foot clearance", "Nadequate foot lift"},
            .norm_cl = {"!the feet clear the ground without shuffling"},
            .sum_low = {"-shuffling", "La low foot lift"},
        },
    [AGIR_TF_FREEZING] =
        {
            .high_np = {"-occasional hesitations in stepping", "-brief hesitations while stepping"},
            .high_cl = {"-stepping hesitates at times", "-there are brief hesitations in stepping"},
            .marked_np = {"-episodes suggestive of freezing of gait", "-freezing episodes"},
            .marked_cl = {"-there are episodes suggestive of freezing of gait", "-walking is interrupted by freezing"},
            .norm_np = {"!no hesitation in stepping"},
            .norm_cl = {"!there are no signs of freezing"},
            .sum_high = {"-hesitant stepping"},
            .sum_marked = {"-freezing episodes", "-episodes of freezing"},
        },
    [AGIR_TF_ARM_SWING] = {.sum_low = {"Lreduced arm swing", "Ldiminished arm movement"}},
    [AGIR_TF_ARM_ASYM] = {.sum_high = {"-asymmetric arm swing", "-arm swing asymmetry"}},
    [AGIR_TF_TRUNK] = {.sum_high = {"-a stooped posture", "-forward trunk lean"}},
};

static const bank MILD_ADV = {"slightly", "mildly", "somewhat", "slightly"};
static const bank MARKED_ADV = {"markedly", "considerably", "clearly", "substantially", "noticeably", ""};
static const bank MILD_ADJ = {"slight", "mild", "some", "slight"};
static const bank MARKED_ADJ = {"marked", "considerable", "pronounced", "clear", "substantial"};

static int bank_len(const bank b) {
    int n = 0;
    while (n < BANK_MAX && b[n]) n++;
    return n;
}

const char *agir_text_template(int tf, int dir, int i) {
    if (tf < 0 || tf >= AGIR_TF_COUNT || dir < -1 || dir > 1 || i < 0) return NULL;
    const feature_phrases *ph = &PH[tf];
    const bank *banks[6];
    int nb = 0;
    if (dir < 0) {
        banks[nb++] = &ph->low_np, banks[nb++] = &ph->low_cl, banks[nb++] = &ph->sum_low;
    } else if (dir > 0) {
        banks[nb++] = &ph->high_np, banks[nb++] = &ph->high_cl, banks[nb++] = &ph->marked_np;
        banks[nb++] = &ph->marked_cl, banks[nb++] = &ph->sum_high, banks[nb++] = &ph->sum_marked;
    } else {
        banks[nb++] = &ph->norm_np, banks[nb++] = &ph->norm_cl;
    }
    for (int k = 0; k < nb; k++) {
        int n = bank_len(*banks[k]);
        if (i < n) return (*banks[k])[i];
        i -= n;
    }
    return NULL;
}

static const char *pick(agir_rng *rng, const bank b) {
    int n = bank_len(b);
    return n ? b[agir_rng_below(rng, (uint32_t)n)] : NULL;
}

static int chance(agir_rng *rng, double p) { return agir_rng_uniform(rng) < p; }

static const char *side_word(int side) { return side == AGIR_SIDE_LEFT ? "left" : "right"; }
static const char *other_side_word(int side) { return side == AGIR_SIDE_LEFT ? "right" : "left"; }

// Expands a template's text (tag already stripped) for a band and side.
static void expand(sbuf *b, const char *t, int band, int side, agir_rng *rng) {
    const int marked = abs(band) >= 2;
    for (const char *p = t; *p; p++) {
        if (*p != '%' || !p[1]) {
            sb_putn(b, p, 1);
            continue;
        }
        const char *w = NULL;
        switch (*++p) {
        case 'a': w = pick(rng, marked ? MARKED_ADV : MILD_ADV); break;
        case 'j': w = pick(rng, marked ? MARKED_ADJ : MILD_ADJ); break;
        case 's': w = side_word(side); break;
        case 'o': w = other_side_word(side); break;
        default: w = ""; break;
        }
        sb_put(b, w);
        if (!*w && p[1] == ' ') p++;  // an empty intensity word takes its space with it
    }
}

// A realised phrase and its tag.
typedef struct phrase {
    char s[AGIR_TEXT_MAX];
    char tag;
    int band;
} phrase;

static void realise(phrase *out, const char *tmpl, int band, int side, agir_rng *rng) {
    sbuf b;
    sb_reset(&b);
    expand(&b, tmpl + 1, band, side, rng);
    snprintf(out->s, sizeof out->s, "%s", b.s);
    out->tag = tmpl[0];
    out->band = band;
}

// Whether two phrases may share a chunk ("A and B"): same band (one intensity word fits both)
// and same tag, so that a generic word of one ("reduced speed") cannot be read as applying to a
// noun of the other ("... and asymmetric arm swing"). Negated phrases stand alone.
static int compatible(const phrase *a, const phrase *b) {
    return a->band == b->band && a->tag == b->tag && a->tag != '!';
}

// Joins phrases as "A, B and C"; the last joint starts a new chunk when the two would mix:
// ", and" between clauses, ", along with" / ", as well as" / ", together with" between noun phrases.
static void join_list(sbuf *b, const phrase *p, int n, int clauses, agir_rng *rng) {
    static const bank apart = {", along with ", ", as well as ", ", together with "};
    for (int i = 0; i < n; i++) {
        if (i > 0) {
            const char *j = i < n - 1 ? ", " : compatible(&p[i - 1], &p[i]) ? " and " : clauses ? ", and " : pick(rng, apart);
            sb_put(b, j);
        }
        sb_put(b, p[i].s);
    }
}

// ---------------------------------------------------------------------------------------------
// Plans

typedef struct plan {
    agir_finding fx[AGIR_TF_COUNT];
    int abn[8], n_abn;    // abnormal foot findings, most salient first
    int norm[8], n_norm;  // normal foot findings to mention
    int arm_extra;        // asymmetry clause after reduced swing, or coordination after normal swing
    int trunk;            // mention the trunk (abnormal, or upright when normal)
    int summary;          // Overall: number of main findings named
    int stability;        // Overall: balance / rhythm clause
    int score;            // -1 for descriptions
} plan;

static const int FOOT_TF[] = {AGIR_TF_SPEED,       AGIR_TF_CADENCE,   AGIR_TF_STEP_LENGTH, AGIR_TF_STEP_WIDTH,
                              AGIR_TF_VARIABILITY, AGIR_TF_STEP_ASYM, AGIR_TF_CLEARANCE,   AGIR_TF_FREEZING};
#define N_FOOT ((int)(sizeof FOOT_TF / sizeof *FOOT_TF))

// How readily a finding is named, after its severity: the released rationales discuss arm swing
// and speed most, then asymmetry, cadence, rhythm and step width.
static const float PRIORITY[AGIR_TF_COUNT] = {
    [AGIR_TF_ARM_SWING] = 7, [AGIR_TF_SPEED] = 6,      [AGIR_TF_FREEZING] = 6,  [AGIR_TF_ARM_ASYM] = 5,
    [AGIR_TF_CADENCE] = 4,   [AGIR_TF_VARIABILITY] = 4, [AGIR_TF_STEP_WIDTH] = 3, [AGIR_TF_STEP_ASYM] = 3,
    [AGIR_TF_STEP_LENGTH] = 3, [AGIR_TF_CLEARANCE] = 3, [AGIR_TF_TRUNK] = 2,
};

static int known(const plan *p, int tf) { return p->fx[tf].band != AGIR_BAND_UNKNOWN; }
static int abnormal(const plan *p, int tf) { return known(p, tf) && p->fx[tf].band != AGIR_BAND_NORMAL; }
static int normal(const plan *p, int tf) { return p->fx[tf].band == AGIR_BAND_NORMAL; }

// Balance may be called good only when everything that bears on it was measured and is normal;
// called reduced only when something that bears on it is abnormal.
static int stable_ok(const plan *p) {
    return normal(p, AGIR_TF_VARIABILITY) && normal(p, AGIR_TF_STEP_WIDTH) && normal(p, AGIR_TF_FREEZING) &&
           normal(p, AGIR_TF_STEP_ASYM);
}
static int unstable_ok(const plan *p) {
    return abnormal(p, AGIR_TF_VARIABILITY) || abnormal(p, AGIR_TF_STEP_WIDTH) || abnormal(p, AGIR_TF_FREEZING);
}

// Sorts tfs[0..n) by salience, highest first; a little jitter varies the order of equals.
static void sort_salient(const plan *p, int *tfs, int n, agir_rng *rng) {
    float key[AGIR_TF_COUNT];
    for (int i = 0; i < n; i++) {
        int b = p->fx[tfs[i]].band;
        key[i] = 10.0f * (float)abs(b) + PRIORITY[tfs[i]] + (float)agir_rng_range(rng, 0.0, 2.5);
    }
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && key[j] > key[j - 1]; j--) {
            float k = key[j];
            key[j] = key[j - 1], key[j - 1] = k;
            int t = tfs[j];
            tfs[j] = tfs[j - 1], tfs[j - 1] = t;
        }
}

// How often a normal foot finding is mentioned, for rationales and descriptions. Speed and
// cadence are named in most released rationales even when normal.
static const float NORMAL_MENTION[AGIR_TF_COUNT][2] = {
    [AGIR_TF_SPEED] = {0.90f, 0.95f},      [AGIR_TF_CADENCE] = {0.70f, 0.90f},  [AGIR_TF_STEP_LENGTH] = {0.05f, 0.35f},
    [AGIR_TF_STEP_WIDTH] = {0.35f, 0.45f}, [AGIR_TF_VARIABILITY] = {0.40f, 0.6f}, [AGIR_TF_STEP_ASYM] = {0.05f, 0.3f},
    [AGIR_TF_CLEARANCE] = {0.08f, 0.35f},  [AGIR_TF_FREEZING] = {0.05f, 0.2f},
};

static void make_plan(plan *p, const agir_features *f, int score, agir_rng *rng) {
    memset(p, 0, sizeof *p);
    agir_text_findings(f, p->fx);
    p->score = score;
    const int desc = score < 0;
    for (int i = 0; i < N_FOOT; i++) {
        int tf = FOOT_TF[i];
        if (abnormal(p, tf)) p->abn[p->n_abn++] = tf;
    }
    sort_salient(p, p->abn, p->n_abn, rng);
    if (!desc && p->n_abn > 3) p->n_abn = 3;
    // With abnormal findings to report, fewer normal ones are worth the words.
    const float damp = p->n_abn ? 0.6f : 1.0f;
    for (int i = 0; i < N_FOOT; i++) {
        int tf = FOOT_TF[i];
        if (normal(p, tf) && chance(rng, damp * NORMAL_MENTION[tf][desc])) p->norm[p->n_norm++] = tf;
    }
    if (!p->n_abn && !p->n_norm)  // say something about the feet whenever anything was measured
        for (int i = 0; i < N_FOOT && !p->n_norm; i++)
            if (normal(p, FOOT_TF[i])) p->norm[p->n_norm++] = FOOT_TF[i];
    p->arm_extra = chance(rng, desc ? 0.8 : 0.6);
    p->trunk = abnormal(p, AGIR_TF_TRUNK) ? desc || chance(rng, 0.5) : normal(p, AGIR_TF_TRUNK) && chance(rng, desc ? 0.3 : 0.04);
    p->summary = chance(rng, 0.65) ? 1 + (int)agir_rng_below(rng, 2) : 0;
    p->stability = chance(rng, 0.65);
}

// One step smaller: drops the least needed optional part. Returns 0 when nothing is left to drop.
static int shrink(plan *p) {
    if (p->n_norm > 1) return p->n_norm--, 1;
    if (p->stability) return p->stability = 0, 1;
    if (p->arm_extra) return p->arm_extra = 0, 1;
    if (p->summary > 1) return p->summary--, 1;
    if (p->trunk && p->n_abn + p->n_norm) return p->trunk = 0, 1;
    if (p->n_norm && p->n_abn) return p->n_norm--, 1;
    if (p->n_abn > 2) return p->n_abn--, 1;
    if (p->summary) return p->summary = 0, 1;
    return 0;
}

// Adds a normal foot finding in feature order (keeps "speed and cadence" in that order).
static void add_normal(plan *p, int tf) {
    int i = p->n_norm++;
    for (; i > 0 && p->norm[i - 1] > tf; i--) p->norm[i] = p->norm[i - 1];
    p->norm[i] = tf;
}

// One step larger: adds an optional part. Returns 0 when nothing can be added.
static int grow(plan *p) {
    static const int order[] = {AGIR_TF_SPEED,      AGIR_TF_CADENCE,     AGIR_TF_VARIABILITY, AGIR_TF_STEP_WIDTH,
                                AGIR_TF_STEP_LENGTH, AGIR_TF_CLEARANCE,  AGIR_TF_STEP_ASYM,   AGIR_TF_FREEZING};
    for (int i = 0; i < N_FOOT; i++) {
        int tf = order[i], have = 0;
        for (int j = 0; j < p->n_norm; j++) have |= p->norm[j] == tf;
        if (normal(p, tf) && !have) return add_normal(p, tf), 1;
    }
    if (!p->trunk && known(p, AGIR_TF_TRUNK)) return p->trunk = 1, 1;
    if (!p->arm_extra) return p->arm_extra = 1, 1;
    if (p->score >= 0 && !p->stability) return p->stability = 1, 1;
    if (p->score >= 0 && p->summary < 2) return p->summary++, 1;
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Foot section

static const char *band_template(const feature_phrases *ph, int band, int clause, agir_rng *rng) {
    if (band > 0) {
        const bank *m = clause ? &ph->marked_cl : &ph->marked_np;
        if (band >= 2 && bank_len(*m)) return pick(rng, *m);
        return pick(rng, clause ? ph->high_cl : ph->high_np);
    }
    if (band < 0) return pick(rng, clause ? ph->low_cl : ph->low_np);
    return pick(rng, clause ? ph->norm_cl : ph->norm_np);
}

static void finding_phrase(phrase *out, const plan *p, int tf, int clause, agir_rng *rng) {
    const agir_finding *x = &p->fx[tf];
    realise(out, band_template(&PH[tf], x->band, clause, rng), x->band, x->side, rng);
}

// Features that share one normal statement ("normal speed and cadence").
static int groupable(int tf) {
    return tf == AGIR_TF_SPEED || tf == AGIR_TF_CADENCE || tf == AGIR_TF_STEP_LENGTH || tf == AGIR_TF_STEP_WIDTH;
}

static void noun_list(sbuf *b, const int *tfs, int n) {
    for (int i = 0; i < n; i++) {
        if (i > 0) sb_put(b, i < n - 1 ? ", " : " and ");
        sb_put(b, i == 0 || tfs[i] != AGIR_TF_SPEED ? PH[tfs[i]].noun : "speed");
    }
}

// Normal findings as phrases, in plan order; the groupable ones may share one ("normal speed and
// cadence"). The first phrase is a clause when first_clause, the others when rest_clause.
static int normal_phrases(const plan *p, phrase *out, int first_clause, int rest_clause, agir_rng *rng) {
    int grp[8], ng = 0, n = 0;
    for (int i = 0; i < p->n_norm; i++)
        if (groupable(p->norm[i])) grp[ng++] = p->norm[i];
    const int grouped = ng > 1 || (ng == 1 && chance(rng, 0.5));
    if (grouped) {
        static const bank adj = {"normal", "typical", "appropriate", "adequate"};
        static const bank pred = {"normal", "within normal limits", "preserved", "adequate"};
        sbuf b;
        sb_reset(&b);
        if (first_clause) {
            sb_put(&b, "the ");
            noun_list(&b, grp, ng);
            sb_put(&b, ng > 1 ? " are " : " is ");
            sb_put(&b, pick(rng, pred));
        } else {
            sb_put(&b, pick(rng, adj));
            sb_put(&b, " ");
            noun_list(&b, grp, ng);
        }
        snprintf(out[n].s, sizeof out[n].s, "%s", b.s);
        out[n].tag = 'N', out[n].band = 0;
        n++;
    }
    for (int i = 0; i < p->n_norm; i++) {
        if (grouped && groupable(p->norm[i])) continue;
        finding_phrase(&out[n], p, p->norm[i], n == 0 ? first_clause : rest_clause, rng);
        n++;
    }
    return n;
}

// "the walking speed and cadence are slightly reduced": both low with the same band.
static int speed_cadence_pair(const plan *p) {
    return p->n_abn >= 2 && p->abn[0] == AGIR_TF_SPEED && p->abn[1] == AGIR_TF_CADENCE &&
           p->fx[AGIR_TF_SPEED].band == p->fx[AGIR_TF_CADENCE].band && p->fx[AGIR_TF_SPEED].band < 0;
}

static void sentence_end(sbuf *b) { sb_put(b, ". "); }

// Up to three abnormal findings in one sentence, led by a clause ("the walking speed is reduced
// with ...") or a frame ("there is ..."); further ones (descriptions) in a second sentence.
static void foot_abnormal(sbuf *b, const plan *p, agir_rng *rng) {
    static const bank pair_cl = {"Lthe walking speed and cadence are %a reduced", "Lspeed and cadence are both %a reduced"};
    static const bank pair_np = {"L%a reduced walking speed and cadence", "L%a reduced speed and cadence"};
    // Frames that fit singular and plural findings alike ("shows shortened steps").
    static const bank lead = {"the gait shows ", "walking is characterized by ", "the walking pattern features ",
                              "the stepping pattern shows "};
    phrase ph[8];
    int n = 0, next = 0;
    const int lead_clause = chance(rng, 0.4);
    if (speed_cadence_pair(p) && chance(rng, 0.7)) {
        realise(&ph[n++], pick(rng, lead_clause ? pair_cl : pair_np), p->fx[AGIR_TF_SPEED].band, 0, rng);
        next = 2;
    }
    for (; next < p->n_abn && n < 3; next++) {
        finding_phrase(&ph[n], p, p->abn[next], lead_clause && n == 0, rng);
        n++;
    }
    if (lead_clause) {
        sb_put(b, ph[0].s);
        if (n > 1) {
            sb_put(b, " with ");
            join_list(b, ph + 1, n - 1, 0, rng);
        }
    } else {
        sb_put(b, pick(rng, lead));
        join_list(b, ph, n, 0, rng);
    }
    if (next < p->n_abn) {
        int m = 0;
        for (; next < p->n_abn; next++) finding_phrase(&ph[m++], p, p->abn[next], 0, rng);
        sentence_end(b);
        sb_put(b, chance(rng, 0.5) ? "the gait also shows " : "in addition, the walking pattern features ");
        join_list(b, ph, m, 0, rng);
    }
}

static void foot_section(sbuf *b, const plan *p, agir_rng *rng) {
    static const bank lead[] = {{"the gait shows ", "walking shows "},
                                {"the walking pattern is normal, with ", "the gait is typical, with "},
                                {"walking is steady, with ", "the gait is steady, with "},
                                {"the walking pattern is stable, with ", "the stepping pattern is stable, with "}};
    phrase nrm[8];
    sb_put(b, "Foot: ");
    if (p->n_abn) {
        foot_abnormal(b, p, rng);
        if (p->n_norm) {
            int n = normal_phrases(p, nrm, 1, 1, rng);
            if (chance(rng, 0.5))
                sb_put(b, ", while ");
            else
                sentence_end(b);
            join_list(b, nrm, n, 1, rng);
        }
    } else if (!p->n_norm) {
        sb_put(b, "the stepping pattern could not be assessed reliably");
    } else {
        // All normal: a clause then noun phrases, or a frame then noun phrases. "Steady" and
        // "stable" frames only when balance-related findings are all normal.
        int form = (int)agir_rng_below(rng, stable_ok(p) ? 5 : 3);
        if (form == 0) {
            int n = normal_phrases(p, nrm, 1, 0, rng);
            sb_put(b, nrm[0].s);
            if (n > 1) {
                sb_put(b, ", with ");
                join_list(b, nrm + 1, n - 1, 0, rng);
            }
        } else {
            sb_put(b, pick(rng, lead[form - 1]));
            int n = normal_phrases(p, nrm, 0, 0, rng);
            join_list(b, nrm, n, 0, rng);
        }
    }
    sentence_end(b);
}

// ---------------------------------------------------------------------------------------------
// Arm section

static void arm_swing_sentence(sbuf *b, const plan *p, agir_rng *rng) {
    const agir_finding sw = p->fx[AGIR_TF_ARM_SWING], as = p->fx[AGIR_TF_ARM_ASYM];
    const int side = sw.side;
    const int asym = as.band != AGIR_BAND_UNKNOWN && as.band > 0;
    static const bank reduced_side = {"-the arm swing is %a reduced, particularly on the %s side",
                                      "-there is %a reduced arm swing, more so on the %s side",
                                      "-arm movement is %a diminished, especially on the %s side",
                                      "-the swing of both arms is %a reduced, most of all on the %s side"};
    static const bank reduced_both = {"-the arm swing is %a reduced on both sides", "-both arms show %a reduced swing",
                                      "-there is %a diminished arm movement on both sides",
                                      "-the arms swing %a less than expected", "-arm swing is %a limited",
                                      "-there is %a reduced arm swing and arm movement"};
    static const bank asym_tail = {"-, with %j asymmetry between the arms", "-, and the swing is %a asymmetric",
                                   "-, with %j asymmetry in arm movement"};
    static const bank sym_tail = {"-, although it remains symmetric", "-, but both sides remain symmetrical"};
    static const bank asym_side = {"-the arm swing is %a asymmetric, with the %s arm moving less than the %o",
                                   "-there is %j asymmetry in arm swing, with less movement on the %s side",
                                   "-the %s arm swings less than the %o, a %j asymmetry in arm swing",
                                   "-arm movement is %a asymmetric, the %s arm swinging less"};
    static const bank asym_only = {"-the arm swing is %a asymmetric", "-there is %j asymmetry in arm swing"};
    static const bank normal_sym = {"-both arms swing naturally and symmetrically", "-the arm swing is normal and symmetric",
                                    "-there is a full, symmetric arm swing", "-both arms swing naturally",
                                    "-the arm swing is full and natural", "-arm movement is normal on both sides"};
    static const bank normal_only = {"-the arm swing is of normal amplitude", "-arm movement appears normal"};
    static const bank coord_tail = {"-, well coordinated with the legs", "-, in time with the steps",
                                    "-, matching the rhythm of the legs"};
    phrase ph;
    if (sw.band == AGIR_BAND_UNKNOWN && as.band == AGIR_BAND_UNKNOWN) {
        sb_put(b, "the arm swing could not be assessed");
        return;
    }
    if (sw.band == AGIR_BAND_UNKNOWN) {  // asymmetry without amplitudes
        realise(&ph, asym ? pick(rng, asym_only) : "-the arm swing is symmetric", as.band, 0, rng);
        sb_put(b, ph.s);
        return;
    }
    if (sw.band < 0) {
        realise(&ph, pick(rng, asym && side ? reduced_side : reduced_both), sw.band, side, rng);
        sb_put(b, ph.s);
        if (p->arm_extra && asym) {
            realise(&ph, pick(rng, asym_tail), as.band, side, rng);
            sb_put(b, ph.s);
        } else if (p->arm_extra && as.band == AGIR_BAND_NORMAL) {
            sb_put(b, pick(rng, sym_tail) + 1);
        }
        return;
    }
    if (asym) {
        realise(&ph, pick(rng, side ? asym_side : asym_only), as.band, side, rng);
        sb_put(b, ph.s);
        return;
    }
    sb_put(b, pick(rng, as.band == AGIR_BAND_NORMAL ? normal_sym : normal_only) + 1);
    if (p->arm_extra && as.band == AGIR_BAND_NORMAL) sb_put(b, pick(rng, coord_tail) + 1);
}

static void trunk_sentence(sbuf *b, const plan *p, agir_rng *rng) {
    static const bank flexed = {"-the trunk is %a flexed forward", "-the posture is %a stooped",
                                "-the upper body leans %a forward"};
    static const bank upright = {"-the trunk is held upright", "-posture is upright"};
    const agir_finding t = p->fx[AGIR_TF_TRUNK];
    phrase ph;
    realise(&ph, pick(rng, t.band > 0 ? flexed : upright), t.band, 0, rng);
    sb_put(b, ph.s);
}

static void arm_section(sbuf *b, const plan *p, agir_rng *rng) {
    sb_put(b, "Arm: ");
    arm_swing_sentence(b, p, rng);
    sentence_end(b);
    if (p->trunk) {
        trunk_sentence(b, p, rng);
        sentence_end(b);
    }
}

// ---------------------------------------------------------------------------------------------
// Overall section (rationales): the MDS-UPDRS 3.10 gait item in our words, 0 normal .. 4 severe:
// 1 walks on their own with minor changes, 2 walks on their own with substantial impairment,
// 3 needs a walking aid for safe walking, 4 cannot walk safely without another person's help.

static const bank SEVERITY[5] = {
    {"the gait is normal", "the walking pattern is within normal limits", "the gait appears normal and unimpaired",
     "walking is normal and unimpaired"},
    {"there is slight gait impairment, but the individual walks independently",
     "the gait shows minor abnormalities while walking remains independent",
     "the changes are subtle and amount to slight impairment", "walking is independent with only slight impairment"},
    {"the individual shows mild but noticeable gait impairment yet walks without assistance",
     "gait impairment is clearly present, although walking remains independent",
     "there is substantial gait impairment, but the individual can walk unassisted",
     "the gait is noticeably impaired, while walking is still independent"},
    {"the gait impairment is moderate, and safe walking likely requires an assistive device such as a cane or walker",
     "marked impairment means walking is safe only with a walking aid",
     "the gait is moderately impaired, to the point that a walking aid is needed"},
    {"the gait is severely impaired, and the individual cannot walk safely unless supported by another person",
     "walking is severely affected and possible only with support from another person"},
};

// Abnormal findings of all sections, most salient first.
static int main_findings(const plan *p, int *tfs, agir_rng *rng) {
    int n = 0;
    for (int tf = 0; tf < AGIR_TF_COUNT; tf++) {
        if (abnormal(p, tf)) tfs[n++] = tf;
    }
    sort_salient(p, tfs, n, rng);
    return n;
}

static void summary_phrase(phrase *out, const plan *p, int tf, agir_rng *rng) {
    const feature_phrases *ph = &PH[tf];
    const int band = p->fx[tf].band;
    const bank *bk = band < 0 ? &ph->sum_low : band >= 2 && bank_len(ph->sum_marked) ? &ph->sum_marked : &ph->sum_high;
    realise(out, pick(rng, *bk), 0, 0, rng);  // band 0: summaries carry no intensity
}

static void overall_section(sbuf *b, const plan *p, agir_rng *rng) {
    sb_put(b, "Overall: ");
    sb_put(b, pick(rng, SEVERITY[p->score]));
    int tfs[AGIR_TF_COUNT];
    int n = main_findings(p, tfs, rng), named_variability = 0;
    if (p->summary && n) {
        phrase ph[2];
        int m = p->summary < n ? p->summary : n;
        for (int i = 0; i < m; i++) {
            named_variability |= tfs[i] == AGIR_TF_VARIABILITY;
            summary_phrase(&ph[i], p, tfs[i], rng);
        }
        static const bank lead0 = {" despite ", ", despite "};
        static const bank lead = {", mainly reflecting ", ", driven chiefly by ", ", with the main signs being "};
        sb_put(b, pick(rng, p->score == 0 ? lead0 : lead));
        join_list(b, ph, m, 0, rng);
    }
    if (p->stability && p->score <= 2) {
        static const bank good = {", and balance is maintained", ", with good balance", ", remaining stable",
                                  ", with no balance problems"};
        static const bank poor = {", with reduced stability", ", and balance is less secure",
                                  ", with impaired balance"};
        static const bank irregular = {", and the rhythm is irregular", ", with an irregular rhythm"};
        // A normal verdict is not qualified by reduced stability.
        const char *clause = NULL;
        if (stable_ok(p))
            clause = pick(rng, good);
        else if (p->score > 0 && abnormal(p, AGIR_TF_VARIABILITY) && !named_variability && chance(rng, 0.5))
            clause = pick(rng, irregular);
        else if (p->score > 0 && unstable_ok(p))
            clause = pick(rng, poor);
        if (clause) sb_put(b, clause);
    }
    sentence_end(b);
}

// ---------------------------------------------------------------------------------------------
// Assembly

// Capitalises sentence starts, fixes "a" before vowels, trims the trailing blank.
static void finish(const char *in, char *out, size_t outsz) {
    size_t n = 0;
    int cap = 1;
    for (const char *p = in; *p && n + 2 < outsz; p++) {
        char c = *p;
        if (cap && isalpha((unsigned char)c)) {
            c = (char)toupper((unsigned char)c);
            cap = 0;
        }
        out[n++] = c;
        if (c == '.' || c == ':') cap = 1;
        // "a" as a word before a vowel sound becomes "an"
        if ((c == 'a' || c == 'A') && (p == in || p[-1] == ' ') && p[1] == ' ') {
            const char *w = p + 2;
            int vowel = strchr("aeiouAEIOU", w[0]) && strncmp(w, "uni", 3) && strncmp(w, "use", 3) &&
                        strncmp(w, "usu", 3) && strncmp(w, "one", 3);
            if (vowel) out[n++] = 'n';
        }
    }
    while (n && out[n - 1] == ' ') n--;
    out[n] = '\0';
}

static int word_count(const char *s) {
    int n = 0, in = 0;
    for (; *s; s++) {
        int sp = isspace((unsigned char)*s);
        if (!sp && !in) n++;
        in = !sp;
    }
    return n;
}

// Word budget, after the released rationales (23-66 words, mean 43): aim inside, never outside.
enum { WORDS_MIN = 24, WORDS_MAX = 62 };

static int generate(const agir_features *f, int score, agir_rng *rng, char *out, size_t outsz, agir_err *e) {
    if (!f || !rng || !out) return AGIR_BUG(e, "text generation called with a NULL argument");
    if (outsz < AGIR_TEXT_MAX) return AGIR_BUG(e, "text buffer of %zu bytes, need %d", outsz, AGIR_TEXT_MAX);
    plan p;
    make_plan(&p, f, score, rng);
    const agir_rng start = *rng;
    sbuf b;
    char text[AGIR_TEXT_MAX];
    // Realise, then shrink or grow the plan until the text fits the budget; each attempt draws the
    // same numbers, so the result depends only on the seed.
    for (int attempt = 0; attempt < 24; attempt++) {
        *rng = start;
        sb_reset(&b);
        foot_section(&b, &p, rng);
        arm_section(&b, &p, rng);
        if (score >= 0) overall_section(&b, &p, rng);
        if (b.overflow) return AGIR_BUG(e, "generated text longer than %d bytes", AGIR_TEXT_MAX);
        finish(b.s, text, sizeof text);
        int w = word_count(text);
        if (w > WORDS_MAX && shrink(&p)) continue;
        if (w < WORDS_MIN && grow(&p)) continue;
        break;
    }
    memcpy(out, text, strlen(text) + 1);
    if (score >= 0) AGIR_TRY(agir_text_append_score(out, outsz, score, e));
    return AGIR_OK;
}

int agir_text_describe(const agir_features *f, agir_rng *rng, char *out, size_t outsz, agir_err *e) {
    return generate(f, -1, rng, out, outsz, e);
}

int agir_text_rationale(const agir_features *f, int score, agir_rng *rng, char *out, size_t outsz, agir_err *e) {
    if (score < 0 || score > 4) return AGIR_BUG(e, "rationale asked for score %d (hint: scores are 0..4)", score);
    return generate(f, score, rng, out, outsz, e);
}

// ---------------------------------------------------------------------------------------------
// Score line

int agir_text_append_score(char *text, size_t textsz, int score, agir_err *e) {
    if (score < 0 || score > 4) return AGIR_BUG(e, "score %d outside 0..4", score);
    size_t n = strlen(text);
    if (n + sizeof "\nScore: 0" > textsz) return AGIR_BUG(e, "no room for the score line");
    snprintf(text + n, textsz - n, "\nScore: %d", score);
    return AGIR_OK;
}

static int blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

int agir_text_parse_score(const char *text, int *score) {
    if (!text) return -1;
    const char *last = NULL;
    for (const char *line = text; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        const char *p = line;
        while (blank(*p)) p++;
        if (!strncmp(p, "Score:", 6)) last = p + 6;
    }
    if (!last) return -1;
    const char *p = last;
    while (blank(*p)) p++;
    if (*p < '0' || *p > '4') return -1;
    int v = *p++ - '0';
    if (*p == '.') p++;
    while (blank(*p)) p++;
    if (*p && *p != '\n') return -1;
    *score = v;
    return 0;
}
