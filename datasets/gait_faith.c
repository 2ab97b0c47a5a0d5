// Faithfulness checker: claims of a text about gait features, checked against measured bands.
//
// Pipeline: tokens (lower-cased words with byte offsets, boundaries between them) -> generator
// phrase templates matched in each punctuation clause (their bank gives feature and direction) ->
// keyword reading of each clause segment for what the templates did not cover -> direction
// agreement with agir_text_findings. See gait_faith.h for the reading rules.
#include "datasets/gait_faith.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------------------------
// Tokens

enum { BRK_NONE, BRK_AND, BRK_CLAUSE, BRK_COMMA, BRK_HARD };
enum { SEC_NONE, SEC_FOOT, SEC_ARM, SEC_OVERALL };

#define MAX_TOK 1024
#define WLEN 32

typedef struct token {
    char w[WLEN];
    size_t s, e;  // bytes in the text
    int brk;      // boundary before this token (BRK_*)
    int split;    // "and" or a clause word: a segment boundary, kept for template matching
    int sec;      // section the token is in
    int masked;   // covered by a template match
} token;

typedef struct reader {
    token t[MAX_TOK];
    int n;
} reader;

static int is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '\''; }

static const char *const CLAUSE_W[] = {"with", "while", "whilst", "but", "although", "though", "despite", "yet", "whereas", NULL};

static int in_list(const char *w, const char *const *ws) {
    for (; *ws; ws++)
        if (!strcmp(w, *ws)) return 1;
    return 0;
}

static void tokenize(const char *text, reader *r) {
    r->n = 0;
    int brk = BRK_HARD, sec = SEC_NONE;
    const char *p = text;
    while (*p && r->n < MAX_TOK) {
        char c = *p;
        if (!is_letter(c)) {
            int b = c == ',' ? BRK_COMMA : (c == '.' || c == ';' || c == ':' || c == '!' || c == '?' || c == '\n') ? BRK_HARD : BRK_NONE;
            if (b > brk) brk = b;
            p++;
            continue;
        }
        token *k = &r->t[r->n];
        size_t wl = 0;
        const char *s = p;
        // A word: letters, with hyphens between letters ("step-to-step").
        while (is_letter(*p) || (*p == '-' && p > s && is_letter(p[-1]) && is_letter(p[1]))) {
            if (wl + 1 < WLEN) k->w[wl++] = (char)(*p >= 'A' && *p <= 'Z' ? *p | 0x20 : *p);
            p++;
        }
        k->w[wl] = '\0';
        k->s = (size_t)(s - text), k->e = (size_t)(p - text);
        // Section headers: "Foot:", "Arm:", "Overall:", "Score:".
        if (*p == ':') {
            int h = !strcmp(k->w, "foot") ? SEC_FOOT : !strcmp(k->w, "arm") ? SEC_ARM
                    : !strcmp(k->w, "overall") ? SEC_OVERALL : !strcmp(k->w, "score") ? SEC_NONE : -1;
            if (h >= 0) {
                sec = h, brk = BRK_HARD;
                continue;
            }
        }
        k->split = !strcmp(k->w, "and") ? BRK_AND : in_list(k->w, CLAUSE_W) ? BRK_CLAUSE : 0;
        k->brk = brk;
        k->sec = sec;
        k->masked = 0;
        brk = BRK_NONE;
        r->n++;
    }
}

// ---------------------------------------------------------------------------------------------
// Claims

typedef struct claims {
    agir_faith *out;
    const agir_finding *fx;
} claims;

static int one_sided_low(int tf) { return !(agir_norms[tf].lo1 > -INFINITY); }
static int one_sided_high(int tf) { return !(agir_norms[tf].hi1 < INFINITY); }

static void add_claim(claims *c, int tf, int dir, size_t s, size_t e) {
    agir_faith *o = c->out;
    if (dir < 0 && one_sided_low(tf)) dir = 0;   // "little variability": normal
    if (dir > 0 && one_sided_high(tf)) dir = 0;  // "increased step length": not abnormal
    if (o->n_claims >= AGIR_FAITH_MAX_CLAIMS) return;
    agir_claim *k = &o->claims[o->n_claims++];
    k->feature = tf, k->direction = dir, k->start = s, k->end = e;
    int band = c->fx[tf].band;
    if (band == AGIR_BAND_UNKNOWN) {
        k->consistent = -1;
        return;
    }
    k->consistent = dir < 0 ? band < 0 : dir > 0 ? band > 0 : band == 0;
    o->n_scored++, o->scored[tf]++;
    o->n_consistent += k->consistent, o->consistent[tf] += k->consistent;
}

// ---------------------------------------------------------------------------------------------
// Templates of the generator's phrase banks

static const char *const INTENSITY_W[] = {
    "slightly", "mildly", "somewhat", "markedly", "considerably", "clearly", "substantially", "noticeably",
    "slight", "mild", "some", "marked", "considerable", "pronounced", "clear", "substantial",
    "very", "moderately", "moderate", "severely", "severe", "significantly", "significant", "greatly", "notably", NULL};
static const char *const SIDE_W[] = {"left", "right", NULL};
static const char *const NEG_W[] = {"no", "not", "without", "absent", "absence", "never", "none", "nor", "lack", NULL};

// Matches template text tp (tag stripped) against tokens from i within [i, end); returns the
// number of tokens matched, 0 when it does not match.
static int match_template(const reader *r, int i, int end, const char *tp) {
    int j = i;
    const char *p = tp;
    while (*p) {
        while (*p && !is_letter(*p) && *p != '%') p++;
        if (!*p) break;
        if (*p == '%') {
            char kind = p[1];
            p += p[1] ? 2 : 1;
            if (kind == 'a' || kind == 'j') {
                if (j < end && !r->t[j].masked && in_list(r->t[j].w, INTENSITY_W)) j++;
            } else {
                if (j >= end || r->t[j].masked || !in_list(r->t[j].w, SIDE_W)) return 0;
                j++;
            }
            continue;
        }
        char w[WLEN];
        size_t wl = 0;
        const char *s = p;
        while (is_letter(*p) || (*p == '-' && p > s && is_letter(p[-1]) && is_letter(p[1]))) {
            if (wl + 1 < WLEN) w[wl++] = (char)(*p >= 'A' && *p <= 'Z' ? *p | 0x20 : *p);
            p++;
        }
        w[wl] = '\0';
        if (j >= end || r->t[j].masked) return 0;
        const char *tw = r->t[j].w;
        if (strcmp(tw, w) && !(!strcmp(w, "a") && !strcmp(tw, "an"))) return 0;
        j++;
    }
    return j - i;
}

// Template matches in the clause [a, b): the longest at each position, unless a negation word
// shortly before it turns it around (then the keyword reading decides).
static void match_templates(reader *r, int a, int b, claims *c) {
    for (int i = a; i < b; i++) {
        int best = 0, best_tf = -1, best_dir = 0;
        for (int tf = 0; tf < AGIR_TF_COUNT; tf++)
            for (int dir = -1; dir <= 1; dir++)
                for (int k = 0;; k++) {
                    const char *t = agir_text_template(tf, dir, k);
                    if (!t) break;
                    int m = match_template(r, i, b, t + 1);
                    if (m > best) best = m, best_tf = tf, best_dir = dir;
                }
        if (!best) continue;
        int neg = 0;
        for (int j = i - 1; j >= a && j >= i - 3 && !r->t[j + 1].split; j--) neg |= in_list(r->t[j].w, NEG_W);
        if (neg) continue;
        add_claim(c, best_tf, best_dir, r->t[i].s, r->t[i + best - 1].e);
        for (int j = i; j < i + best; j++) r->t[j].masked = 1;
        i += best - 1;
    }
}

// ---------------------------------------------------------------------------------------------
// Keyword reading of one segment

typedef struct segment {
    int a, b;    // tokens [a, b), split words excluded
    int brk;     // boundary before the segment
    int gdir;    // direction of its generic words, -9 none or mixed
    int need;    // features named without a direction (bit mask)
    int sec;
} segment;

static const char *const LOW_W[] = {"reduced", "reduction", "decreased", "decrease", "diminished", "limited", "low",
                                    "lower", "restricted", "smaller", "less", "fewer", "barely", "little", "minimal",
                                    "poor", "weak", "weaker", NULL};
static const char *const HIGH_W[] = {"increased", "increase", "elevated", "high", "higher", "excessive", "large",
                                     "larger", "greater", "raised", "hurried", "exaggerated", NULL};
static const char *const NORMAL_W[] = {"normal", "typical", "adequate", "appropriate", "preserved", "good", "healthy",
                                       "intact", "natural", "naturally", "full", "consistent", "maintained",
                                       "unremarkable", "unimpaired", NULL};

static int starts(const char *w, const char *prefix) { return !strncmp(w, prefix, strlen(prefix)); }

typedef struct words {
    const reader *r;
    int a, b;
    int all;  // include masked tokens
} words;

static int use(const words *s, int i) { return s->all || !s->r->t[i].masked; }
static int has(const words *s, const char *w) {
    for (int i = s->a; i < s->b; i++)
        if (use(s, i) && !strcmp(s->r->t[i].w, w)) return 1;
    return 0;
}
static int has_prefix(const words *s, const char *p) {
    for (int i = s->a; i < s->b; i++)
        if (use(s, i) && starts(s->r->t[i].w, p)) return 1;
    return 0;
}
static int has_pair(const words *s, const char *x, const char *y) {
    for (int i = s->a; i + 1 < s->b; i++)
        if (use(s, i) && use(s, i + 1) && !strcmp(s->r->t[i].w, x) && !strcmp(s->r->t[i + 1].w, y)) return 1;
    return 0;
}
static int has_any(const words *s, const char *const *ws) {
    for (; *ws; ws++)
        if (has(s, *ws)) return 1;
    return 0;
}

static int generic_dir(const words *s) {
    int low = has_any(s, LOW_W), high = has_any(s, HIGH_W), nor = has_any(s, NORMAL_W);
    if (low + high + nor != 1) return -9;
    return low ? -1 : high ? 1 : 0;
}

static int asym_word(const words *s) {
    return has_prefix(s, "asymmetr") || has_prefix(s, "unequal") || has_prefix(s, "differ") || has(s, "lopsided") ||
           has(s, "uneven");
}

// Whether the segment names feature tf.
static int names(const words *s, int tf, int sec) {
    switch (tf) {
    case AGIR_TF_SPEED: return has(s, "speed") || has(s, "pace") || has(s, "velocity");
    case AGIR_TF_CADENCE: return has(s, "cadence") || has_pair(s, "step", "rate") || has_pair(s, "per", "minute");
    case AGIR_TF_STEP_LENGTH: return has_pair(s, "step", "length") || has_pair(s, "stride", "length") || has_prefix(s, "stride");
    case AGIR_TF_STEP_WIDTH: return has_pair(s, "step", "width") || has(s, "base") || has_pair(s, "stance", "width");
    case AGIR_TF_VARIABILITY:
        return has_prefix(s, "variab") || has_prefix(s, "variation") || has(s, "rhythm") ||
               (!asym_word(s) && !has_prefix(s, "symmetr") &&
                (has(s, "timing") || has_pair(s, "step", "time") || has_pair(s, "step", "times")));
    case AGIR_TF_CLEARANCE: return has(s, "clearance") || has_prefix(s, "lift");
    case AGIR_TF_FREEZING: return has_prefix(s, "freez");
    case AGIR_TF_ARM_SWING:
        return has_prefix(s, "swing") || has_pair(s, "arm", "movement") || has_pair(s, "arm", "motion") ||
               (sec == SEC_ARM && (has(s, "movement") || has(s, "motion")));
    case AGIR_TF_TRUNK: return has(s, "trunk") || has(s, "posture") || has_pair(s, "upper", "body");
    default: return 0;
    }
}

// The asymmetry a segment talks about: arms in the Arm section or next to arm words, steps in the
// Foot section or next to step words; -1 when it cannot tell.
static int asym_feature(const words *s, int sec) {
    if (sec == SEC_ARM) return AGIR_TF_ARM_ASYM;
    if (sec == SEC_FOOT) return AGIR_TF_STEP_ASYM;
    if (has(s, "arm") || has(s, "arms") || has_prefix(s, "swing")) return AGIR_TF_ARM_ASYM;
    if (has_prefix(s, "step") || has_prefix(s, "stride") || has(s, "legs") || has(s, "leg")) return AGIR_TF_STEP_ASYM;
    return -1;
}

// Reads segment g; features named without any direction are left in g->need for the list rule.
static void read_segment(const reader *r, segment *g, claims *c) {
    const words s = {r, g->a, g->b, 0}, all = {r, g->a, g->b, 1};
    const size_t bs = r->t[g->a].s, be = r->t[g->b - 1].e;
    g->gdir = generic_dir(&all);
    g->need = 0;
    int claimed[AGIR_TF_COUNT] = {0};
    // Features claimed by templates in this segment are not read again.
    const agir_faith *o = c->out;
    for (int k = 0; k < o->n_claims; k++)
        if (o->claims[k].start < be && o->claims[k].end > bs) claimed[o->claims[k].feature] = 1;
    const int neg = has_any(&s, NEG_W);
    if (has_any(&all, NEG_W)) g->gdir = -9;  // "not reduced" lends no direction
    const int side = has(&s, "left") || has(&s, "right");
    const int aw = asym_word(&s), sw = !aw && has_prefix(&s, "symmetr");
    const int af = asym_feature(&s, g->sec);
    struct {
        int tf, dir, hit;
    } self[] = {
        {AGIR_TF_SPEED, -1, has_prefix(&s, "slow")},
        {AGIR_TF_SPEED, 1, has(&s, "brisk") || has(&s, "briskly") || has_prefix(&s, "quick") || has(&s, "fast") || has(&s, "faster")},
        {AGIR_TF_STEP_LENGTH, -1, has_prefix(&s, "short")},
        {AGIR_TF_STEP_LENGTH, 1, has(&s, "long") || has(&s, "longer") || has(&s, "lengthened")},
        {AGIR_TF_STEP_WIDTH, -1, has_prefix(&s, "narrow") || has_pair(&s, "close", "together") || has_pair(&s, "closer", "together")},
        {AGIR_TF_STEP_WIDTH, 1, has(&s, "wide") || has(&s, "wider") || has(&s, "widened") || has_prefix(&s, "broad")},
        {AGIR_TF_VARIABILITY, 1,
         has_prefix(&s, "irregular") || has(&s, "variable") || has(&s, "vary") || has(&s, "varies") ||
             has(&s, "inconsistent") || has_prefix(&s, "erratic") || has_prefix(&s, "arrhythm")},
        {AGIR_TF_VARIABILITY, 0, has_prefix(&s, "regular") || has_prefix(&s, "rhythmic")},
        {af, 1, af >= 0 && aw},
        {af, 0, af >= 0 && sw},
        {AGIR_TF_CLEARANCE, -1, has_prefix(&s, "shuffl") || has_prefix(&s, "drag") || has_prefix(&s, "scuff")},
        {AGIR_TF_FREEZING, 1, has_prefix(&s, "freez") || has_prefix(&s, "hesita")},
        {AGIR_TF_TRUNK, 1, has_prefix(&s, "stoop") || has(&s, "flexed") || has_prefix(&s, "lean") || has_prefix(&s, "hunch") || has(&s, "bent")},
        {AGIR_TF_TRUNK, 0, has(&s, "upright") || has(&s, "erect")},
    };
    int dir_of[AGIR_TF_COUNT], any_self = 0;
    for (int tf = 0; tf < AGIR_TF_COUNT; tf++) dir_of[tf] = -9;
    for (size_t i = 0; i < sizeof self / sizeof *self; i++) {
        any_self |= self[i].hit;
        if (self[i].hit && !claimed[self[i].tf] && dir_of[self[i].tf] == -9) dir_of[self[i].tf] = self[i].dir;
    }
    // Generic direction words apply to the named features that carry no word of their own.
    const int gen = generic_dir(&s);
    for (int tf = 0; tf < AGIR_TF_COUNT; tf++) {
        if (claimed[tf] || dir_of[tf] != -9 || !names(&s, tf, g->sec)) continue;
        int d = gen;
        // A named variability with no direction word says it is there ("slight variability").
        if (d == -9 && tf == AGIR_TF_VARIABILITY && (has_prefix(&s, "variab") || has_prefix(&s, "variation"))) d = 1;
        // Features named next to a word of another feature are its object ("asymmetric arm swing"),
        // not list items waiting for a direction.
        if (d == -9 && !neg && !side && !any_self) g->need |= 1 << tf;
        dir_of[tf] = d;
    }
    // "the left arm swings less": one arm swings less than the other, an asymmetry.
    if (side && (dir_of[AGIR_TF_ARM_SWING] == -1 || (gen == -1 && (has(&s, "arm") || has(&s, "arms"))))) {
        dir_of[AGIR_TF_ARM_SWING] = -9;
        if (dir_of[AGIR_TF_ARM_ASYM] == -9 && !claimed[AGIR_TF_ARM_ASYM]) dir_of[AGIR_TF_ARM_ASYM] = 1;
    }
    for (int tf = 0; tf < AGIR_TF_COUNT; tf++) {
        int d = dir_of[tf];
        if (d == -9) continue;
        if (neg) {
            // Absence of a finding: normal; "not normal" says abnormal, which way only when the
            // feature can deviate one way only.
            if (d != 0)
                d = 0;
            else if (one_sided_low(tf) && !one_sided_high(tf))
                d = 1;
            else if (one_sided_high(tf) && !one_sided_low(tf))
                d = -1;
            else
                continue;
        }
        add_claim(c, tf, d, bs, be);
    }
}

// ---------------------------------------------------------------------------------------------
// Checking

static void sort_claims(agir_faith *o) {
    for (int i = 1; i < o->n_claims; i++)
        for (int j = i; j > 0 && o->claims[j].start < o->claims[j - 1].start; j--) {
            agir_claim t = o->claims[j];
            o->claims[j] = o->claims[j - 1], o->claims[j - 1] = t;
        }
}

// Whether a segment may lend its direction across its boundary brk to the bare list item
// `item` next to it ("the walking speed, cadence and step length are normal", "normal speed,
// cadence and step width"): over " and " always, over a comma only from or to a short item.
static int may_share(int brk, const segment *item) {
    return brk == BRK_AND || (brk == BRK_COMMA && item->b - item->a <= 3);
}

int agir_faith_check_findings(const char *text, const agir_finding *fx, agir_faith *out, agir_err *e) {
    if (!text || !fx || !out) return AGIR_BUG(e, "faithfulness check called with a NULL argument");
    memset(out, 0, sizeof *out);
    reader *rp = malloc(sizeof *rp);
    segment *seg = malloc(MAX_TOK * sizeof *seg);
    if (!rp || !seg) {
        free(rp), free(seg);
        return AGIR_BUG(e, "out of memory in the faithfulness check");
    }
    tokenize(text, rp);
    claims c = {out, fx};
    // Punctuation clauses: templates first.
    for (int a = 0; a < rp->n;) {
        int b = a + 1;
        while (b < rp->n && rp->t[b].brk < BRK_COMMA) b++;
        match_templates(rp, a, b, &c);
        a = b;
    }
    // Segments: clauses split further at "and" and clause words.
    int ns = 0, pending = BRK_HARD;
    for (int i = 0; i < rp->n;) {
        if (rp->t[i].brk > pending) pending = rp->t[i].brk;
        if (rp->t[i].split) {
            if (rp->t[i].split > pending) pending = rp->t[i].split;
            i++;
            continue;
        }
        int j = i + 1;
        while (j < rp->n && rp->t[j].brk == BRK_NONE && !rp->t[j].split) j++;
        seg[ns++] = (segment){.a = i, .b = j, .brk = pending, .sec = rp->t[i].sec};
        pending = BRK_NONE;
        i = j;
    }
    for (int k = 0; k < ns; k++) read_segment(rp, &seg[k], &c);
    // List rule: named features without a direction take the one of the segment they are listed with.
    for (int k = 0; k < ns; k++) {
        if (!seg[k].need) continue;
        int d = -9;
        // Forwards to the end of the list: the item after " and " is its last; the last item
        // does not look past its list.
        for (int j = k + 1; j < ns && d == -9 && seg[j - 1].brk != BRK_AND; j++) {
            if (!may_share(seg[j].brk, &seg[j - 1])) break;
            d = seg[j].gdir;
            if (seg[j].brk == BRK_AND) break;
        }
        // Backwards to the start of the list.
        for (int j = k - 1; j >= 0 && d == -9; j--) {
            if (!may_share(seg[j + 1].brk, &seg[j + 1])) break;
            d = seg[j].gdir;
        }
        if (d == -9) continue;
        for (int tf = 0; tf < AGIR_TF_COUNT; tf++)
            if (seg[k].need & (1 << tf)) add_claim(&c, tf, d, rp->t[seg[k].a].s, rp->t[seg[k].b - 1].e);
    }
    sort_claims(out);
    free(rp), free(seg);
    return AGIR_OK;
}

int agir_faith_check(const char *text, const agir_features *f, agir_faith *out, agir_err *e) {
    if (!text || !f || !out) return AGIR_BUG(e, "faithfulness check called with a NULL argument");
    agir_finding fx[AGIR_TF_COUNT];
    agir_text_findings(f, fx);
    return agir_faith_check_findings(text, fx, out, e);
}
