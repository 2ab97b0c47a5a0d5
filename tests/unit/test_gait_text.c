// Gait text generator: bands against the literature, every claim of every generated text checked
// against the measured features by an independent keyword reader, style rules, determinism,
// variety and the score line.
//
// The reader below knows nothing of the generator's phrase banks: it splits text into chunks at
// punctuation and at clause words (with, while, but, although, despite, ...), finds feature words
// and direction words in each chunk ("slow", "narrow", "reduced ... arm swing", "irregular",
// "asymmetric", "no ... freezing"), and turns them into claims (feature, low/high/normal, side).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "datasets/gait_text.h"
#include "testutil.h"

// ---------------------------------------------------------------------------------------------
// Words and chunks

#define MAXW 64
typedef struct chunk {
    int n;
    char w[MAXW][24];
} chunk;

enum { SEC_FOOT, SEC_ARM, SEC_OVERALL };

static int is_word(const chunk *c, int i, const char *w) { return i >= 0 && i < c->n && !strcmp(c->w[i], w); }
static int starts(const char *w, const char *prefix) { return !strncmp(w, prefix, strlen(prefix)); }

static int has(const chunk *c, const char *w) {
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->w[i], w)) return 1;
    return 0;
}
static int has_prefix(const chunk *c, const char *p) {
    for (int i = 0; i < c->n; i++)
        if (starts(c->w[i], p)) return 1;
    return 0;
}
static int has_pair(const chunk *c, const char *a, const char *b) {
    for (int i = 0; i + 1 < c->n; i++)
        if (!strcmp(c->w[i], a) && !strcmp(c->w[i + 1], b)) return 1;
    return 0;
}
static int has_any(const chunk *c, const char *const *ws) {
    for (; *ws; ws++)
        if (has(c, *ws)) return 1;
    return 0;
}

static const char *const SPLIT_WORDS[] = {"with", "while", "but", "although", "though", "despite", "yet", "whereas", NULL};

// Splits a section into chunks; returns their count.
static int chunks_of(const char *text, chunk *out, int max) {
    int n = 0;
    chunk cur = {0};
    char word[24];
    size_t wl = 0;
    for (const char *p = text;; p++) {
        char ch = *p;
        int letter = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '\'';
        if (letter) {
            if (wl + 1 < sizeof word) word[wl++] = (char)(ch | 0x20);
            continue;
        }
        if (wl) {
            word[wl] = 0;
            wl = 0;
            int split = 0;
            for (const char *const *s = SPLIT_WORDS; *s; s++) split |= !strcmp(word, *s);
            if (split) {
                if (cur.n && n < max) out[n++] = cur;
                memset(&cur, 0, sizeof cur);
            } else if (cur.n < MAXW) {
                snprintf(cur.w[cur.n++], sizeof cur.w[0], "%s", word);
            }
        }
        if (ch == '.' || ch == ',' || ch == ';' || ch == ':' || ch == '\0') {
            if (cur.n && n < max) out[n++] = cur;
            memset(&cur, 0, sizeof cur);
        }
        if (!ch) break;
    }
    return n;
}

// ---------------------------------------------------------------------------------------------
// Claims

enum { DIR_LOW = -1, DIR_NORMAL = 0, DIR_HIGH = 1, DIR_ABNORMAL = 2 };
enum { F_STABILITY = AGIR_TF_COUNT, F_ANY_ASYM, F_SIDE_ONLY, F_N };

typedef struct claim {
    int f, dir, side;
} claim;

static const char *const LOW_W[] = {"reduced", "reduction", "decreased", "decrease", "diminished", "limited", "low",
                                    "lower", "restricted", "smaller", "less", "fewer", "barely", "little", "minimal", NULL};
static const char *const HIGH_W[] = {"increased", "increase", "elevated", "high", "higher", "excessive",
                                     "large", "larger", "greater", "raised", NULL};
static const char *const NORMAL_W[] = {"normal", "typical", "adequate", "appropriate", "preserved", "good", "healthy",
                                       "intact", "natural", "naturally", "full", "consistent", "maintained", NULL};
static const char *const ABN_W[] = {"impaired", "impairment", "abnormal", "abnormalities", "abnormality", "problem",
                                    "problems", "issue", "issues", "disturbed", "altered", "difficulty", NULL};
static const char *const NEG_W[] = {"no", "not", "without", "absent", "absence", "never", "none", NULL};
static const char *const MILD_W[] = {"slightly", "slight", "mildly", "mild", "somewhat", NULL};
static const char *const MARKED_W[] = {"markedly", "marked", "considerably", "considerable", "substantially", "substantial",
                                       "pronounced", "clearly", "clear", "noticeably", "noticeable", "very", "greatly", NULL};

// Feature nouns: a chunk that names a feature and carries a direction word claims that direction.
static int mentions_noun(const chunk *c, int f, int sec, int asym_word) {
    switch (f) {
    case AGIR_TF_SPEED: return has(c, "speed") || has(c, "pace") || has(c, "velocity");
    case AGIR_TF_CADENCE: return has(c, "cadence") || has_pair(c, "step", "rate") || has_pair(c, "per", "minute");
    case AGIR_TF_STEP_LENGTH: return has_pair(c, "step", "length") || has_prefix(c, "stride");
    case AGIR_TF_STEP_WIDTH: return has_pair(c, "step", "width") || has(c, "base") || has_pair(c, "stance", "width");
    case AGIR_TF_VARIABILITY:
        return has_prefix(c, "variab") || has_prefix(c, "variation") || has(c, "rhythm") ||
               (!asym_word && !has_prefix(c, "symmetr") && (has(c, "timing") || has_pair(c, "step", "time") || has_pair(c, "step", "times")));
    case AGIR_TF_CLEARANCE: return has(c, "clearance") || has_prefix(c, "lift");
    case AGIR_TF_ARM_SWING:
        return has_prefix(c, "swing") || has_pair(c, "arm", "movement") || has_pair(c, "arm", "motion") ||
               (sec == SEC_ARM && has(c, "movement"));
    case AGIR_TF_TRUNK: return has(c, "trunk") || has(c, "posture") || has_pair(c, "upper", "body");
    case F_STABILITY: return has(c, "balance") || has(c, "stability");
    default: return 0;
    }
}

// Features that only deviate upwards: "little variability" means normal variability.
static int high_only(int f) {
    return f == AGIR_TF_VARIABILITY || f == AGIR_TF_STEP_ASYM || f == AGIR_TF_ARM_ASYM || f == AGIR_TF_FREEZING ||
           f == AGIR_TF_TRUNK || f == F_ANY_ASYM;
}

typedef struct reading {
    claim c[16];
    int n;
    int intensity;  // -1 none, 1 mild word, 2 marked word, 3 both
    int mixed;      // clashing generic directions in one chunk
} reading;

static void add_claim(reading *r, int f, int dir, int side) {
    if (r->n < 16) r->c[r->n++] = (claim){f, dir, side};
}

static void read_chunk(const chunk *c, int sec, reading *r) {
    memset(r, 0, sizeof *r);
    int claimed[F_N] = {0};
    // Side: the first side word names the arm that moves less.
    int side = 0;
    for (int i = 0; i < c->n && !side; i++)
        side = is_word(c, i, "left") ? AGIR_SIDE_LEFT : is_word(c, i, "right") ? AGIR_SIDE_RIGHT : 0;
    // Words that carry both the feature and the direction.
    int asym_word = has_prefix(c, "asymmetr") || has_prefix(c, "unequal") || has_prefix(c, "differ") || has(c, "lopsided");
    int sym_word = !asym_word && has_prefix(c, "symmetr");
    int asym_f = sec == SEC_ARM ? AGIR_TF_ARM_ASYM : sec == SEC_FOOT ? AGIR_TF_STEP_ASYM
                 : (has(c, "arm") || has(c, "arms") || has_prefix(c, "swing")) ? AGIR_TF_ARM_ASYM
                 : has_prefix(c, "step") ? AGIR_TF_STEP_ASYM : F_ANY_ASYM;
    struct {
        int f, dir, hit;
    } self[] = {
        {AGIR_TF_SPEED, DIR_LOW, has_prefix(c, "slow")},
        {AGIR_TF_SPEED, DIR_HIGH, has(c, "brisk") || has(c, "briskly") || has_prefix(c, "quick") || has(c, "fast")},
        {AGIR_TF_STEP_LENGTH, DIR_LOW, has_prefix(c, "short")},
        {AGIR_TF_STEP_WIDTH, DIR_LOW, has_prefix(c, "narrow") || has_pair(c, "close", "together") || has_pair(c, "closer", "together")},
        {AGIR_TF_STEP_WIDTH, DIR_HIGH, has(c, "wide") || has(c, "wider") || has(c, "widened") || has_prefix(c, "broad")},
        {AGIR_TF_VARIABILITY, DIR_HIGH,
         has_prefix(c, "irregular") || has(c, "variable") || has(c, "vary") || has(c, "varies") ||
             has(c, "inconsistent") || has_prefix(c, "erratic")},
        {AGIR_TF_VARIABILITY, DIR_NORMAL, has_prefix(c, "regular") || has_prefix(c, "rhythmic")},
        {asym_f, DIR_HIGH, asym_word},
        {asym_f, DIR_NORMAL, sym_word},
        {AGIR_TF_CLEARANCE, DIR_LOW, has_prefix(c, "shuffl") || has_prefix(c, "drag") || has_prefix(c, "scuff")},
        {AGIR_TF_FREEZING, DIR_HIGH, has_prefix(c, "freez") || has_prefix(c, "hesita")},
        {AGIR_TF_TRUNK, DIR_HIGH, has_prefix(c, "stoop") || has(c, "flexed") || has_prefix(c, "lean") || has_prefix(c, "hunch")},
        {AGIR_TF_TRUNK, DIR_NORMAL, has(c, "upright") || has(c, "erect")},
        {F_STABILITY, DIR_HIGH, has(c, "stable") || has(c, "steady") || has(c, "steadily") || has(c, "balanced")},
        {F_STABILITY, DIR_LOW, has(c, "unstable") || has(c, "unsteady") || has(c, "instability") || has(c, "imbalance")},
    };
    // Stability: HIGH here means "good balance", LOW "poor"; mapped to normal / abnormal below.
    const int neg = has_any(c, NEG_W);
    for (size_t i = 0; i < sizeof self / sizeof *self; i++) {
        if (!self[i].hit) continue;
        int f = self[i].f, dir = self[i].dir;
        if (f == F_STABILITY) dir = dir == DIR_HIGH ? DIR_NORMAL : DIR_ABNORMAL;
        claimed[f] = 1;
        add_claim(r, f, dir, f == AGIR_TF_ARM_ASYM ? side : 0);
    }
    // Generic direction words apply to every named feature not already claimed in the chunk.
    int low = has_any(c, LOW_W), high = has_any(c, HIGH_W), nor = has_any(c, NORMAL_W), abn = has_any(c, ABN_W);
    r->mixed = (low && high) || (nor && (low || high || abn));
    int generic = low ? DIR_LOW : high ? DIR_HIGH : nor ? DIR_NORMAL : abn ? DIR_ABNORMAL : -9;
    for (int f = 0; f < F_N; f++) {
        if (claimed[f] || !mentions_noun(c, f, sec, asym_word)) continue;
        int dir = generic;
        // A named variability with no direction word says it is there ("slight variability").
        if (dir == -9 && f == AGIR_TF_VARIABILITY && (has_prefix(c, "variab") || has_prefix(c, "variation")))
            dir = DIR_HIGH;
        if (dir == -9) continue;
        if (high_only(f) && dir == DIR_LOW) dir = DIR_NORMAL;
        if (f == F_STABILITY && dir != DIR_NORMAL) dir = DIR_ABNORMAL;
        add_claim(r, f, dir, f == AGIR_TF_ARM_SWING ? side : 0);
        claimed[f] = 1;
    }
    if (side && !claimed[AGIR_TF_ARM_SWING] && !claimed[AGIR_TF_ARM_ASYM]) add_claim(r, F_SIDE_ONLY, DIR_ABNORMAL, side);
    // Negation turns a finding into its absence ("no signs of freezing", "without shuffling").
    if (neg)
        for (int i = 0; i < r->n; i++) r->c[i].dir = r->c[i].dir == DIR_NORMAL ? DIR_ABNORMAL : DIR_NORMAL;
    int mild = has_any(c, MILD_W), marked = has_any(c, MARKED_W);
    r->intensity = mild && marked ? 3 : mild ? 1 : marked ? 2 : -1;
}

// ---------------------------------------------------------------------------------------------
// Checking claims against the features

typedef struct check_stats {
    long texts, claims, side_claims, abnormal_claims;
} check_stats;

static int band_of(const agir_finding *fx, int f) { return fx[f].band; }

// Whether a direction agrees with a band; also fails on unknown bands.
static int agrees(int f, int dir, int band) {
    if (band == AGIR_BAND_UNKNOWN) return 0;
    switch (dir) {
    case DIR_NORMAL: return band == 0;
    case DIR_ABNORMAL: return band != 0;
    case DIR_LOW: return agir_norms[f].lo1 > -INFINITY ? band < 0 : band == 0;
    case DIR_HIGH: return agir_norms[f].hi1 < INFINITY ? band > 0 : band == 0;
    }
    return 0;
}

// Literature-level sanity on raw values, independent of the generator's band edges: a claim that
// would be wrong under any reasonable norm for older adults.
static const char *raw_sanity(const agir_features *f, const claim *c) {
    if (c->f == AGIR_TF_SPEED && c->dir == DIR_LOW && f->speed > 1.2f) return "slow at >1.2 m/s";
    if (c->f == AGIR_TF_SPEED && c->dir == DIR_NORMAL && f->speed < 0.7f) return "normal speed at <0.7 m/s";
    if (c->f == AGIR_TF_ARM_SWING && c->dir == DIR_LOW && !c->side && (f->arm_swing_l + f->arm_swing_r) > 0.7f)
        return "reduced arm swing at >0.35 m per arm";
    if (c->f == AGIR_TF_VARIABILITY && c->dir == DIR_HIGH && f->step_time_cv < 0.02f) return "irregular at CV<2%";
    if (c->f == AGIR_TF_STEP_WIDTH && c->dir == DIR_LOW && f->step_width > 0.09f) return "narrow at >9 cm";
    return NULL;
}

static int reject(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int reject(char *why, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
    return 0;
}

static int check_section(const char *sec_text, int sec, const agir_features *f, const agir_finding *fx,
                         check_stats *st, char *why, size_t whysz) {
    chunk ch[48];
    int nch = chunks_of(sec_text, ch, 48);
    static const char *const names[F_N] = {"speed", "cadence", "step length", "step width", "variability",
                                            "step asymmetry", "clearance", "freezing", "arm swing", "arm asymmetry",
                                            "trunk", "stability", "asymmetry", "side"};
    for (int k = 0; k < nch; k++) {
        reading r;
        read_chunk(&ch[k], sec, &r);
        char ctext[MAXW * 25] = "";
        size_t cl = 0;
        for (int i = 0; i < ch[k].n; i++) cl += (size_t)snprintf(ctext + cl, sizeof ctext - cl, "%s ", ch[k].w[i]);
        if (r.mixed) return reject(why, whysz, "mixed directions in chunk '%s'", ctext);
        if (r.intensity == 3) return reject(why, whysz, "both mild and marked words in '%s'", ctext);
        for (int i = 0; i < r.n; i++) {
            const claim *c = &r.c[i];
            st->claims++;
            const char *nm = names[c->f];
            if (c->side) {
                st->side_claims++;
                if (sec != SEC_ARM) return reject(why, whysz, "side word outside the Arm section: '%s'", ctext);
                int smaller = f->arm_swing_l < f->arm_swing_r ? AGIR_SIDE_LEFT : AGIR_SIDE_RIGHT;
                if (!(isfinite(f->arm_swing_l) && isfinite(f->arm_swing_r)) || c->side != smaller)
                    return reject(why, whysz, "names the wrong arm: '%s'", ctext);
                float mx = fmaxf(f->arm_swing_l, f->arm_swing_r);
                if (band_of(fx, AGIR_TF_ARM_ASYM) < 1 || band_of(fx, AGIR_TF_ARM_ASYM) == AGIR_BAND_UNKNOWN ||
                    fabsf(f->arm_swing_l - f->arm_swing_r) < 0.15f * mx)
                    return reject(why, whysz, "side named without asymmetry: '%s'", ctext);
                if (c->f == F_SIDE_ONLY || c->f == AGIR_TF_ARM_ASYM) continue;
                if (c->f == AGIR_TF_ARM_SWING && c->dir == DIR_LOW) continue;  // one side swings less: shown above
            }
            if (c->dir != DIR_NORMAL) st->abnormal_claims++;
            int ok;
            if (c->f == F_STABILITY) {
                int v = band_of(fx, AGIR_TF_VARIABILITY), w = band_of(fx, AGIR_TF_STEP_WIDTH),
                    z = band_of(fx, AGIR_TF_FREEZING), a = band_of(fx, AGIR_TF_STEP_ASYM);
                if (c->dir == DIR_NORMAL)
                    ok = v == 0 && w == 0 && z == 0 && a == 0;
                else
                    ok = (v != 0 && v != AGIR_BAND_UNKNOWN) || (w != 0 && w != AGIR_BAND_UNKNOWN) ||
                         (z != 0 && z != AGIR_BAND_UNKNOWN) || (a != 0 && a != AGIR_BAND_UNKNOWN);
            } else if (c->f == F_ANY_ASYM) {
                int a = band_of(fx, AGIR_TF_ARM_ASYM), s = band_of(fx, AGIR_TF_STEP_ASYM);
                ok = c->dir == DIR_NORMAL ? a == 0 && s == 0
                                          : (a != AGIR_BAND_UNKNOWN && a > 0) || (s != AGIR_BAND_UNKNOWN && s > 0);
            } else {
                ok = agrees(c->f, c->dir, band_of(fx, c->f));
                const char *insane = raw_sanity(f, c);
                if (insane) return reject(why, whysz, "implausible claim (%s): '%s'", insane, ctext);
                // Intensity words in Foot and Arm must match the band's severity.
                if (ok && sec != SEC_OVERALL && c->dir != DIR_NORMAL && r.intensity > 0)
                    ok = abs(band_of(fx, c->f)) == r.intensity;
            }
            if (!ok) {
                char what[64];
                snprintf(what, sizeof what, "%s %s", nm,
                         c->dir == DIR_LOW ? "low" : c->dir == DIR_HIGH ? "high" : c->dir == DIR_NORMAL ? "normal" : "abnormal");
                return reject(why, whysz, "claim '%s' contradicts the features: '%s'", what, ctext);
            }
        }
    }
    return 1;
}

// Severity words of the Overall sentence, by MDS-UPDRS gait score.
static int severity_classes(const char *overall) {
    chunk ch[48];
    int nch = chunks_of(overall, ch, 48), mask = 0;
    static const char *const cls[5][12] = {
        {"normal", "unimpaired", NULL},
        {"slight", "slightly", "minor", "subtle", "subtly", NULL},
        {"mild", "mildly", "noticeable", "noticeably", "substantial", "substantially", "clear", "clearly", "evident", NULL},
        {"moderate", "moderately", "marked", "markedly", "assistive", "aid", "cane", "walker", NULL},
        {"severe", "severely", NULL},
    };
    for (int k = 0; k < nch; k++) {
        for (int s = 0; s < 5; s++)
            if (has_any(&ch[k], cls[s])) mask |= 1 << s;
        if (has_pair(&ch[k], "cannot", "walk") || has_pair(&ch[k], "another", "person")) mask |= 1 << 4;
        if (has(&ch[k], "independent") || has(&ch[k], "independently") || has(&ch[k], "unassisted") ||
            has_pair(&ch[k], "without", "assistance"))
            mask |= 1 << 5;
    }
    return mask;
}

static int word_count(const char *s, const char *end) {
    int n = 0, in = 0;
    for (; s < end && *s; s++) {
        int sp = *s == ' ' || *s == '\n' || *s == '\t';
        if (!sp && !in) n++;
        in = !sp;
    }
    return n;
}

// Checks one generated text: structure, style and every claim. score < 0: a description.
static int check_text(const char *text, const agir_features *f, int score, check_stats *st, char *why, size_t whysz) {
    agir_finding fx[AGIR_TF_COUNT];
    agir_text_findings(f, fx);
    st->texts++;
    if (strncmp(text, "Foot: ", 6)) return reject(why, whysz, "does not start with 'Foot: '");
    const char *arm = strstr(text, " Arm: ");
    const char *ov = strstr(text, " Overall: ");
    const char *sl = strstr(text, "\nScore: ");
    if (!arm) return reject(why, whysz, "no Arm section");
    if (score >= 0 && (!ov || ov < arm)) return reject(why, whysz, "no Overall section after Arm");
    if (score < 0 && (ov || sl)) return reject(why, whysz, "a description with a verdict");
    if (score >= 0 && (!sl || sl < ov)) return reject(why, whysz, "no score line at the end");
    const char *prose_end = sl ? sl : text + strlen(text);
    for (const char *p = text; p < prose_end; p++)
        if (*p >= '0' && *p <= '9') return reject(why, whysz, "digit in the prose");
    // No numbers in words either, like the released rationales.
    static const char *const numbers[] = {"one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                                          "half", "twice", "percent", NULL};
    chunk all[48];
    char prose[AGIR_TEXT_MAX];
    snprintf(prose, sizeof prose, "%.*s", (int)(prose_end - text), text);
    for (int k = 0, n = chunks_of(prose, all, 48); k < n; k++)
        if (has_any(&all[k], numbers)) return reject(why, whysz, "number word in the prose");
    int words = word_count(text, prose_end);
    if (words < 20 || words > 70) return reject(why, whysz, "%d words (want 20..70)", words);
    char foot[1024], armt[1024], overall[1024];
    snprintf(foot, sizeof foot, "%.*s", (int)(arm - text - 6), text + 6);
    const char *arm_end = ov ? ov : prose_end;
    snprintf(armt, sizeof armt, "%.*s", (int)(arm_end - arm - 6), arm + 6);
    if (!check_section(foot, SEC_FOOT, f, fx, st, why, whysz)) return 0;
    if (!check_section(armt, SEC_ARM, f, fx, st, why, whysz)) return 0;
    if (score < 0) return 1;
    snprintf(overall, sizeof overall, "%.*s", (int)(prose_end - ov - 10), ov + 10);
    if (!check_section(overall, SEC_OVERALL, f, fx, st, why, whysz)) return 0;
    int cls = severity_classes(overall), sev = cls & 31;
    if (sev != 1 << score) return reject(why, whysz, "Overall severity words do not match the score: '%s'", overall);
    if (score >= 3 && (cls & 32)) return reject(why, whysz, "independent walking claimed at score >= 3: '%s'", overall);
    // The score line, read back two ways.
    int parsed = -1, own = -1;
    if (agir_text_parse_score(text, &parsed) || parsed != score)
        return reject(why, whysz, "score line does not parse back");
    if (sscanf(sl, "\nScore: %d", &own) != 1 || own != score || strchr(sl + 1, '\n'))
        return reject(why, whysz, "score line is not the last line 'Score: N'");
    return 1;
}

// ---------------------------------------------------------------------------------------------
// Feature vectors


static void check_or_die(const char *text, const agir_features *f, int score, check_stats *st) {
    char why[700];
    if (!check_text(text, f, score, st, why, sizeof why)) {
        print_error("%s\n  text: %s\n  speed %.3f cadence %.1f length %.3f width %.3f cv %.3f asym %.3f arms %.3f/%.3f "
                    "(asym %.3f) trunk %.1f clearance %.3f freezing %.2f steps %d\n",
                    why, text, f->speed, f->cadence, f->step_length, f->step_width, f->step_time_cv, f->step_time_asym,
                    f->arm_swing_l, f->arm_swing_r, f->arm_swing_asym, f->trunk_flexion, f->foot_clearance,
                    f->freezing_index, f->n_steps);
        fail_msg("generated text failed the consistency check");
    }
}

static void check_each(const char *text, const agir_features *f, int score, void *st) {
    check_or_die(text, f, score, st);
}

static void generate_and_check(const agir_features *f, uint64_t seed, check_stats *st) {
    agir_test_each_text(f, seed, check_each, st);
}

// ---------------------------------------------------------------------------------------------
// Tests

// Bands at values whose meaning is clear from the literature, whatever the exact edges.
static void bands_follow_the_literature(void **state) {
    (void)state;
    assert_true(agir_norm_band(AGIR_TF_SPEED, 0.6f) < 0);   // well under 0.8 m/s: slow
    assert_int_equal(agir_norm_band(AGIR_TF_SPEED, 0.6f), AGIR_BAND_MARKED_LOW);
    assert_int_equal(agir_norm_band(AGIR_TF_SPEED, 1.25f), AGIR_BAND_NORMAL);
    assert_int_equal(agir_norm_band(AGIR_TF_CADENCE, 110.0f), AGIR_BAND_NORMAL);
    assert_true(agir_norm_band(AGIR_TF_CADENCE, 80.0f) < 0);
    assert_int_equal(agir_norm_band(AGIR_TF_STEP_LENGTH, 0.62f), AGIR_BAND_NORMAL);
    assert_true(agir_norm_band(AGIR_TF_STEP_LENGTH, 0.30f) < 0);
    assert_int_equal(agir_norm_band(AGIR_TF_STEP_WIDTH, 0.09f), AGIR_BAND_NORMAL);
    assert_true(agir_norm_band(AGIR_TF_STEP_WIDTH, 0.02f) < 0);
    assert_int_equal(agir_norm_band(AGIR_TF_VARIABILITY, 0.015f), AGIR_BAND_NORMAL);
    assert_int_equal(agir_norm_band(AGIR_TF_VARIABILITY, 0.09f), AGIR_BAND_MARKED_HIGH);
    assert_int_equal(agir_norm_band(AGIR_TF_ARM_ASYM, 0.05f), AGIR_BAND_NORMAL);
    assert_int_equal(agir_norm_band(AGIR_TF_ARM_ASYM, 0.6f), AGIR_BAND_MARKED_HIGH);
    assert_int_equal(agir_norm_band(AGIR_TF_ARM_SWING, 0.05f), AGIR_BAND_MARKED_LOW);
    assert_int_equal(agir_norm_band(AGIR_TF_TRUNK, 3.0f), AGIR_BAND_NORMAL);
    assert_true(agir_norm_band(AGIR_TF_TRUNK, 35.0f) > 0);
    // Not measured or impossible: unknown, never a band.
    assert_int_equal(agir_norm_band(AGIR_TF_SPEED, NAN), AGIR_BAND_UNKNOWN);
    assert_int_equal(agir_norm_band(AGIR_TF_SPEED, INFINITY), AGIR_BAND_UNKNOWN);
    assert_int_equal(agir_norm_band(AGIR_TF_SPEED, -0.5f), AGIR_BAND_UNKNOWN);
    assert_int_equal(agir_norm_band(AGIR_TF_CADENCE, 5000.0f), AGIR_BAND_UNKNOWN);
    assert_int_equal(agir_norm_band(-1, 1.0f), AGIR_BAND_UNKNOWN);
    assert_int_equal(agir_norm_band(AGIR_TF_COUNT, 1.0f), AGIR_BAND_UNKNOWN);
    // Bands never decrease as the value grows, for every feature over its valid range.
    for (int tf = 0; tf < AGIR_TF_COUNT; tf++) {
        const agir_norm *n = &agir_norms[tf];
        assert_true(n->lo2 <= n->lo1 && n->lo1 < n->hi1 && n->hi1 <= n->hi2);
        int prev = -3;
        for (int i = 0; i <= 2000; i++) {
            float v = n->vmin + (n->vmax - n->vmin) * (float)i / 2000.0f;
            int b = agir_norm_band(tf, v);
            assert_int_not_equal(b, AGIR_BAND_UNKNOWN);
            assert_true(b >= prev);
            prev = b;
        }
    }
}

static void findings_pick_the_weaker_arm(void **state) {
    (void)state;
    agir_features f = agir_test_features_baseline();
    agir_finding fx[AGIR_TF_COUNT];
    agir_text_findings(&f, fx);
    for (int tf = 0; tf < AGIR_TF_COUNT; tf++) assert_int_equal(fx[tf].band, AGIR_BAND_NORMAL);
    assert_int_equal(fx[AGIR_TF_ARM_SWING].side, AGIR_SIDE_NONE);
    f.arm_swing_l = 0.08f, f.arm_swing_r = 0.30f;
    f.arm_swing_asym = (0.30f - 0.08f) / 0.30f;
    agir_text_findings(&f, fx);
    assert_int_equal(fx[AGIR_TF_ARM_ASYM].side, AGIR_SIDE_LEFT);
    assert_int_equal(fx[AGIR_TF_ARM_SWING].side, AGIR_SIDE_LEFT);
    assert_true(fx[AGIR_TF_ARM_SWING].band < 0);  // mean 0.19 m
    f.arm_swing_l = 0.30f, f.arm_swing_r = 0.08f;
    agir_text_findings(&f, fx);
    assert_int_equal(fx[AGIR_TF_ARM_ASYM].side, AGIR_SIDE_RIGHT);
    // Asymmetry from the two amplitudes when the field is missing.
    f.arm_swing_asym = NAN;
    agir_text_findings(&f, fx);
    assert_int_equal(fx[AGIR_TF_ARM_ASYM].band, AGIR_BAND_MARKED_HIGH);
    // One arm missing: no amplitude and no side.
    f.arm_swing_l = NAN;
    agir_text_findings(&f, fx);
    assert_int_equal(fx[AGIR_TF_ARM_SWING].band, AGIR_BAND_UNKNOWN);
    assert_int_equal(fx[AGIR_TF_ARM_SWING].side, AGIR_SIDE_NONE);
    // Too few steps for variability and step asymmetry.
    f = agir_test_features_baseline();
    f.n_steps = AGIR_TEXT_MIN_STEPS - 1;
    agir_text_findings(&f, fx);
    assert_int_equal(fx[AGIR_TF_VARIABILITY].band, AGIR_BAND_UNKNOWN);
    assert_int_equal(fx[AGIR_TF_STEP_ASYM].band, AGIR_BAND_UNKNOWN);
    assert_int_equal(fx[AGIR_TF_SPEED].band, AGIR_BAND_NORMAL);
}

// The reader must catch contradictions, or the consistency tests below prove nothing.
static void reader_catches_contradictions(void **state) {
    (void)state;
    agir_features f = agir_test_features_baseline();  // everything normal, left arm a touch smaller
    check_stats st = {0};
    char why[700];
    const char *ok = "Foot: The walking speed and cadence are normal, with a regular rhythm. Arm: Both arms swing "
                     "naturally and symmetrically. Overall: The gait is normal, with good balance.\nScore: 0";
    assert_true(check_text(ok, &f, 0, &st, why, sizeof why));
    const char *bad[] = {
        "Foot: The walking speed is markedly reduced, with a regular rhythm and normal cadence. Arm: Both arms swing "
        "naturally and symmetrically. Overall: The gait is normal and stable overall.\nScore: 0",
        "Foot: Walking is slow, with a regular rhythm and a normal cadence and typical step width. Arm: Both arms "
        "swing naturally and symmetrically. Overall: The gait is normal and stable overall.\nScore: 0",
        "Foot: The walking speed and cadence are normal, with a narrow step width and nothing else to add. Arm: "
        "Both arms swing naturally. Overall: The gait is normal, with good balance here.\nScore: 0",
        "Foot: The walking speed and cadence are normal, with a regular rhythm. Arm: The arm swing is reduced, "
        "particularly on the left side. Overall: The gait is normal, with good balance.\nScore: 0",
        "Foot: The walking speed and cadence are normal, with a regular rhythm. Arm: Both arms swing naturally and "
        "symmetrically. Overall: There is slight gait impairment, but walking is independent.\nScore: 0",
        "Foot: The walking speed and cadence are normal, with a regular rhythm. Arm: Both arms swing naturally and "
        "symmetrically. Overall: The gait is normal, with no signs of freezing at all.\nScore: 1",
        "Foot: The walking speed and cadence are normal, and there are episodes of freezing. Arm: Both arms swing "
        "naturally and symmetrically. Overall: The gait is normal, with good balance.\nScore: 0",
        "Foot: The walking speed and cadence are normal, with a regular rhythm. Arm: Both arms swing naturally and "
        "symmetrically. Overall: The gait is normal, with good balance at 2 m/s.\nScore: 0",
        "Foot: The walking speed and cadence are normal. Arm: Both arms swing naturally. Overall: Normal.\nScore: 0",
        "Foot: The walking speed and cadence are normal, with a regular rhythm. Arm: Both arms swing naturally and "
        "symmetrically. Overall: The gait is normal, with good balance over two walks.\nScore: 0",
        "Foot: The walking speed is normal with reduced cadence and regular steps in a row. Arm: Both arms swing "
        "naturally and symmetrically. Overall: The gait is normal, with good balance.\nScore: 0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (check_text(bad[i], &f, i == 5 ? 1 : 0, &st, why, sizeof why)) fail_msg("reader accepted: %s", bad[i]);
        printf("  rejected as expected: %s\n", why);
    }
    // Intensity: the speed is mildly reduced, "markedly" overstates it.
    f.speed = 0.9f;
    const char *over = "Foot: The walking speed is markedly reduced, while the cadence is normal. Arm: Both arms swing "
                       "naturally and symmetrically. Overall: There is slight gait impairment, but walking is "
                       "independent.\nScore: 1";
    assert_false(check_text(over, &f, 1, &st, why, sizeof why));
    const char *right = "Foot: The walking speed is slightly reduced, while the cadence is normal. Arm: Both arms swing "
                        "naturally and symmetrically. Overall: There is slight gait impairment, but walking is "
                        "independent.\nScore: 1";
    assert_true(check_text(right, &f, 1, &st, why, sizeof why));
    // Wrong arm named.
    f = agir_test_features_baseline();
    f.arm_swing_l = 0.30f, f.arm_swing_r = 0.10f, f.arm_swing_asym = 2.0f / 3.0f;
    const char *wrong = "Foot: The walking speed and cadence are normal, with a regular rhythm. Arm: There is marked "
                        "asymmetry in arm swing, with less movement on the left side. Overall: There is slight gait "
                        "impairment, but walking is independent.\nScore: 1";
    assert_false(check_text(wrong, &f, 1, &st, why, sizeof why));
}

static void random_features_never_contradicted(void **state) {
    (void)state;
    agir_rng r;
    agir_rng_init(&r, 2024, 7);
    check_stats st = {0};
    const int n = 3000;
    for (int i = 0; i < n; i++) {
        agir_features f = agir_test_features_random(&r);
        generate_and_check(&f, 1000 + (uint64_t)i, &st);
    }
    printf("  %ld texts, %ld claims checked (%.1f per text; %ld abnormal, %ld naming a side)\n", st.texts, st.claims,
           (double)st.claims / (double)st.texts, st.abnormal_claims, st.side_claims);
    // The reader must find enough to check, or passing would mean little.
    assert_true(st.claims > 3 * st.texts);
    assert_true(st.abnormal_claims > st.texts);
    assert_true(st.side_claims > st.texts / 20);
}

// Values just inside and outside every band edge, the rest normal.
static void band_edges_never_contradicted(void **state) {
    (void)state;
    check_stats st = {0};
    for (int tf = 0; tf < AGIR_TF_COUNT; tf++) {
        const agir_norm *n = &agir_norms[tf];
        const float edges[4] = {n->lo2, n->lo1, n->hi1, n->hi2};
        for (int k = 0; k < 4; k++) {
            if (!isfinite(edges[k])) continue;
            for (int s = -1; s <= 1; s += 2) {
                float v = edges[k] + (float)s * 1e-3f * fmaxf(1.0f, fabsf(edges[k]));
                agir_features f = agir_test_features_baseline();
                switch (tf) {
                case AGIR_TF_SPEED: f.speed = v; break;
                case AGIR_TF_CADENCE: f.cadence = v; break;
                case AGIR_TF_STEP_LENGTH: f.step_length = v; break;
                case AGIR_TF_STEP_WIDTH: f.step_width = v; break;
                case AGIR_TF_VARIABILITY: f.step_time_cv = v; break;
                case AGIR_TF_STEP_ASYM: f.step_time_asym = v; break;
                case AGIR_TF_CLEARANCE: f.foot_clearance = v; break;
                case AGIR_TF_FREEZING: f.freezing_index = v; break;
                case AGIR_TF_ARM_SWING: f.arm_swing_l = f.arm_swing_r = v, f.arm_swing_asym = 0; break;
                case AGIR_TF_ARM_ASYM:
                    f.arm_swing_l = 0.30f, f.arm_swing_r = 0.30f * (1.0f - v), f.arm_swing_asym = v;
                    break;
                case AGIR_TF_TRUNK: f.trunk_flexion = v; break;
                }
                agir_finding fx[AGIR_TF_COUNT];
                agir_text_findings(&f, fx);
                assert_int_equal(fx[tf].band, agir_norm_band(tf, v));
                for (uint64_t seed = 0; seed < 30; seed++) generate_and_check(&f, seed, &st);
            }
        }
    }
    printf("  %ld texts at band edges, %ld claims checked\n", st.texts, st.claims);
}

// Missing values: still well-formed text, and nothing claimed about what was not measured (the
// reader fails any claim on an unknown band).
static void missing_features_are_not_described(void **state) {
    (void)state;
    check_stats st = {0};
    agir_features f = agir_test_features_baseline();
    f.arm_swing_l = f.arm_swing_r = f.arm_swing_asym = NAN;
    f.step_time_cv = NAN;
    f.trunk_flexion = NAN;
    for (uint64_t seed = 0; seed < 50; seed++) generate_and_check(&f, seed, &st);
    agir_features none;
    memset(&none, 0xff, sizeof none);  // all NaN floats, n_steps -1
    agir_err e;
    agir_err_clear(&e);
    char text[AGIR_TEXT_MAX];
    agir_rng rng;
    agir_rng_init(&rng, 1, 0);
    assert_int_equal(agir_text_rationale(&none, 2, &rng, text, sizeof text, &e), 0);
    printf("  nothing measured: %s\n", text);
    assert_non_null(strstr(text, "could not be assessed"));
    int sc = -1;
    assert_int_equal(agir_text_parse_score(text, &sc), 0);
    assert_int_equal(sc, 2);
}

static void deterministic_per_seed_and_varied_across_seeds(void **state) {
    (void)state;
    agir_err e;
    agir_err_clear(&e);
    agir_features f = agir_test_features_baseline();
    f.speed = 0.85f, f.arm_swing_l = 0.10f, f.arm_swing_r = 0.28f;
    f.arm_swing_asym = (0.28f - 0.10f) / 0.28f, f.step_time_cv = 0.04f;
    char a[AGIR_TEXT_MAX], b[AGIR_TEXT_MAX];
    enum { N = 200 };
    static char seen[N][AGIR_TEXT_MAX];
    int distinct = 0;
    for (int s = 0; s < N; s++) {
        agir_rng r1, r2;
        agir_rng_init(&r1, (uint64_t)s, 3);
        agir_rng_init(&r2, (uint64_t)s, 3);
        assert_int_equal(agir_text_rationale(&f, 2, &r1, a, sizeof a, &e), 0);
        assert_int_equal(agir_text_rationale(&f, 2, &r2, b, sizeof b, &e), 0);
        assert_string_equal(a, b);
        int dup = 0;
        for (int k = 0; k < distinct && !dup; k++) dup = !strcmp(seen[k], a);
        if (!dup) memcpy(seen[distinct++], a, sizeof a);
    }
    printf("  %d distinct rationales over %d seeds for one feature vector, e.g.\n  %s\n  %s\n", distinct, N, seen[0],
           seen[1]);
    assert_true(distinct >= N * 9 / 10);
    // Descriptions vary as well.
    int dd = 0;
    for (int s = 0; s < N; s++) {
        agir_rng r;
        agir_rng_init(&r, (uint64_t)s, 4);
        assert_int_equal(agir_text_describe(&f, &r, a, sizeof a, &e), 0);
        int dup = 0;
        for (int k = 0; k < dd && !dup; k++) dup = !strcmp(seen[k], a);
        if (!dup) memcpy(seen[dd++], a, sizeof a);
    }
    printf("  %d distinct descriptions over %d seeds, e.g.\n  %s\n", dd, N, seen[0]);
    assert_true(dd >= N * 3 / 4);
}

static void score_line_parses(void **state) {
    (void)state;
    int s = -1;
    assert_int_equal(agir_text_parse_score("Foot: a. Arm: b. Overall: c.\nScore: 3", &s), 0);
    assert_int_equal(s, 3);
    assert_int_equal(agir_text_parse_score("Score: 0", &s), 0);
    assert_int_equal(s, 0);
    assert_int_equal(agir_text_parse_score("x\n  Score:4.  \n\n", &s), 0);  // model output with padding
    assert_int_equal(s, 4);
    assert_int_equal(agir_text_parse_score("Score: 1\nmore\nScore: 2\r\n", &s), 0);  // the last one counts
    assert_int_equal(s, 2);
    s = 9;
    const char *bad[] = {"", "Foot: x. Arm: y. Overall: z.", "Score: 5", "Score: 12", "Score: two", "Score:", "score: 2",
                         "Score: -1", "Score: 2 points", "Score: 1\nScore: 7", NULL};
    for (const char **p = bad; *p; p++) {
        assert_int_equal(agir_text_parse_score(*p, &s), -1);
        assert_int_equal(s, 9);  // untouched
    }
    assert_int_equal(agir_text_parse_score(NULL, &s), -1);
    // append then parse: the round trip the SFT builder relies on
    agir_err e;
    agir_err_clear(&e);
    char buf[64] = "Foot: x. Arm: y. Overall: z.";
    assert_int_equal(agir_text_append_score(buf, sizeof buf, 4, &e), 0);
    assert_int_equal(agir_text_parse_score(buf, &s), 0);
    assert_int_equal(s, 4);
    char tiny[12] = "Foot: x.";
    assert_int_equal(agir_text_append_score(tiny, sizeof tiny, 1, &e), AGIR_EINTERNAL);
}

static void misuse_is_an_internal_error(void **state) {
    (void)state;
    agir_features f = agir_test_features_baseline();
    agir_rng rng;
    agir_rng_init(&rng, 1, 0);
    char text[AGIR_TEXT_MAX], small[64];
    agir_err e;
    agir_err_clear(&e);
    assert_int_equal(agir_text_rationale(&f, 5, &rng, text, sizeof text, &e), AGIR_EINTERNAL);
    assert_non_null(strstr(e.msg, "score 5"));
    agir_err_clear(&e);
    assert_int_equal(agir_text_rationale(&f, -1, &rng, text, sizeof text, &e), AGIR_EINTERNAL);
    agir_err_clear(&e);
    assert_int_equal(agir_text_describe(&f, &rng, small, sizeof small, &e), AGIR_EINTERNAL);
    assert_null(strchr(e.msg, '\n'));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bands_follow_the_literature),
        cmocka_unit_test(findings_pick_the_weaker_arm),
        cmocka_unit_test(reader_catches_contradictions),
        cmocka_unit_test(random_features_never_contradicted),
        cmocka_unit_test(band_edges_never_contradicted),
        cmocka_unit_test(missing_features_are_not_described),
        cmocka_unit_test(deterministic_per_seed_and_varied_across_seeds),
        cmocka_unit_test(score_line_parses),
        cmocka_unit_test(misuse_is_an_internal_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
