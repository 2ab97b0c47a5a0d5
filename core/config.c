// Schema-checked INI parsing on top of inih (https://github.com/benhoyt/inih).
//
// inih is fed through ini_parse_stream with our own line reader: that is how we know the line of
// each key (the distribution's build has no INI_HANDLER_LINENO) and how over-long lines become an
// error instead of being split silently.
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsio.h"

typedef struct reader {
    const char *p, *end;
    int line;
    int too_long;  // line number of an over-long line, 0 if none
} reader;

static char *read_line(char *buf, int num, void *stream) {
    reader *r = stream;
    if (r->p >= r->end || r->too_long) return NULL;
    const char *nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
    size_t n = nl ? (size_t)(nl - r->p) + 1 : (size_t)(r->end - r->p);
    r->line++;
    if (num < 2 || n > (size_t)num - 1) {
        r->too_long = r->line;
        return NULL;
    }
    memcpy(buf, r->p, n);
    buf[n] = '\0';
    r->p += n;
    return buf;
}

typedef struct parse_ctx {
    agir_cfg *cfg;
    const agir_key *const *schema;
    reader *rd;
    const char *name;
    agir_err *e;
    int err_line;
    // for agir_cfg_peek
    const char *want_section, *want_name;
    char *peek_out;
    size_t peek_sz;
} parse_ctx;

size_t agir_edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return (size_t)-1;
    size_t prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++) prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof *prev);
    }
    return prev[lb];
}

static int close_enough(size_t d, const char *word) {
    size_t n = strlen(word);
    return d != (size_t)-1 && d <= (n > 6 ? n / 3 : 2);
}

static agir_value *find_value(const agir_cfg *cfg, const char *section, const char *name) {
    for (size_t i = 0; i < cfg->n; i++)
        if (!strcmp(cfg->v[i].key->section, section) && !strcmp(cfg->v[i].key->name, name)) return &cfg->v[i];
    return NULL;
}

static int section_known(const agir_cfg *cfg, const char *section) {
    for (size_t i = 0; i < cfg->n; i++)
        if (!strcmp(cfg->v[i].key->section, section)) return 1;
    return 0;
}

// Best "did you mean" for an unknown section.key: the same name in another section first (a key
// put under the wrong section), then near names in the same section, then near names anywhere.
// dotted: "train.steps" (for --set) instead of "'steps' in [train]".
static void suggest(const agir_cfg *cfg, const char *section, const char *name, int dotted, char *out, size_t outsz) {
    size_t best = (size_t)-1;
    out[0] = '\0';
    int sec_ok = section_known(cfg, section);
    for (size_t i = 0; i < cfg->n; i++) {
        const agir_key *k = cfg->v[i].key;
        size_t d;
        if (name) {
            d = agir_edit_distance(name, k->name);
            int other = !sec_ok || strcmp(k->section, section);
            if (other && d != 0 && d != (size_t)-1) d += sec_ok ? 2 : 0;
            if (!close_enough(d, name)) continue;
            if (d < best) {
                best = d;
                if (dotted)
                    snprintf(out, outsz, "%s.%s", k->section, k->name);
                else if (!other)
                    snprintf(out, outsz, "'%s'", k->name);
                else
                    snprintf(out, outsz, "'%s' in [%s]", k->name, k->section);
            }
        } else {
            d = agir_edit_distance(section, k->section);
            if (!close_enough(d, section) || d >= best) continue;
            best = d;
            snprintf(out, outsz, "[%s]", k->section);
        }
    }
}

static void where(const parse_ctx *c, int line, char *out, size_t outsz) {
    if (line < 0)
        snprintf(out, outsz, "--set");
    else
        snprintf(out, outsz, "%s:%d", c->name, line);
}

// Parses `text` as the value of v's key; on failure records an error naming `at`.
static int set_value(agir_value *v, const char *text, int line, const char *at, agir_err *e) {
    const agir_key *k = v->key;
    size_t n = strlen(text);
    char *t;
    // Matching double quotes around a value are syntax, not content.
    if (n >= 2 && text[0] == '"' && text[n - 1] == '"') {
        t = strndup(text + 1, n - 2);
    } else {
        t = strdup(text);
    }
    if (!t) return AGIR_BUG(e, "out of memory");
    if (strstr(t, " ;") || strstr(t, "\t;")) {
        free(t);
        return AGIR_BAD(e, "%s: %s.%s: value contains ' ;', which INI files read as the start of a comment (hint: "
                        "remove the space before ';')", at, k->section, k->name);
    }
    char *end = NULL;
    int bad = 0;
    const char *what = "";
    switch (k->type) {
    case AGIR_KEY_INT: {
        errno = 0;
        long long x = strtoll(t, &end, 10);
        if (!*t || *end || errno) {
            bad = 1, what = "is not an integer";
        } else if ((double)x < k->min || (double)x > k->max) {
            bad = 2;
        } else {
            v->i = x;
            v->f = (double)x;
        }
        break;
    }
    case AGIR_KEY_FLOAT: {
        errno = 0;
        double x = strtod(t, &end);
        if (!*t || *end || errno || !isfinite(x)) {
            bad = 1, what = "is not a finite number";
        } else if (x < k->min || x > k->max) {
            bad = 2;
        } else {
            v->f = x;
        }
        break;
    }
    case AGIR_KEY_BOOL: {
        static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
        int found = 0;
        for (int i = 0; i < 4 && !found; i++) {
            if (!strcasecmp(t, yes[i])) v->b = 1, found = 1;
            if (!strcasecmp(t, no[i])) v->b = 0, found = 1;
        }
        if (!found) bad = 1, what = "is not a boolean (true/false, yes/no, on/off, 1/0)";
        break;
    }
    case AGIR_KEY_CHOICE: {
        int found = 0;
        const char *c = k->choices;
        while (c && *c && !found) {
            const char *bar = strchr(c, '|');
            size_t len = bar ? (size_t)(bar - c) : strlen(c);
            if (strlen(t) == len && !strncmp(t, c, len)) found = 1;
            c = bar ? bar + 1 : NULL;
        }
        if (!found) bad = 3;
        break;
    }
    case AGIR_KEY_STRING:
        break;
    }
    if (bad) {
        int rc;
        if (bad == 2)
            rc = AGIR_BAD(e, "%s: %s.%s = %s is out of range [%g, %g] (hint: %s)", at, k->section, k->name, t,
                          k->min, k->max, k->help);
        else if (bad == 3)
            rc = AGIR_BAD(e, "%s: %s.%s = '%s' is not one of %s (hint: %s)", at, k->section, k->name, t,
                          k->choices, k->help);
        else
            rc = AGIR_BAD(e, "%s: %s.%s = '%s' %s (hint: %s)", at, k->section, k->name, t, what, k->help);
        free(t);
        return rc;
    }
    free(v->text);
    v->text = t;
    v->line = line;
    return AGIR_OK;
}

static int on_key(void *user, const char *section, const char *name, const char *value) {
    parse_ctx *c = user;
    int line = c->rd->line;
    if (c->e->code) return 1;  // keep only the first error
    char at[1100];
    where(c, line, at, sizeof at);
    if (!*section) {
        AGIR_BAD(c->e, "%s: key '%s' is outside any [section] (hint: put it under a section such as [run])", at,
                 name);
        c->err_line = line;
        return 0;
    }
    if (c->peek_out) {
        if (!strcmp(section, c->want_section) && !strcmp(name, c->want_name))
            snprintf(c->peek_out, c->peek_sz, "%s", value);
        return 1;
    }
    if (!section_known(c->cfg, section)) {
        char s[200];
        suggest(c->cfg, section, NULL, 0, s, sizeof s);
        if (*s)
            AGIR_BAD(c->e, "%s: unknown section [%s] (hint: did you mean %s?)", at, section, s);
        else
            AGIR_BAD(c->e, "%s: unknown section [%s] (hint: 'agir config --explain' lists the sections of this job)",
                     at, section);
        c->err_line = line;
        return 0;
    }
    agir_value *v = find_value(c->cfg, section, name);
    if (!v) {
        char s[200];
        suggest(c->cfg, section, name, 0, s, sizeof s);
        if (*s)
            AGIR_BAD(c->e, "%s: unknown key '%s' in [%s] (hint: did you mean %s?)", at, name, section, s);
        else
            AGIR_BAD(c->e, "%s: unknown key '%s' in [%s] (hint: 'agir config --explain' lists the keys of this job)",
                     at, name, section);
        c->err_line = line;
        return 0;
    }
    if (v->line > 0) {
        AGIR_BAD(c->e,
                 "%s: key %s.%s given twice, first at line %d (hint: keep one; an indented line continues the key "
                 "above it)",
                 at, section, name, v->line);
        c->err_line = line;
        return 0;
    }
    if (set_value(v, value, line, at, c->e)) {
        c->err_line = line;
        return 0;
    }
    return 1;
}

static int run_parser(parse_ctx *c, const char *text, size_t len) {
    if (memchr(text, '\0', len))
        return AGIR_BAD(c->e, "%s: contains a NUL byte (hint: a config is a text file; is this the right file?)",
                        c->name);
    reader rd = {text, text + len, 0, 0};
    c->rd = &rd;
    int rc = ini_parse_stream(read_line, &rd, on_key, c);
    if (rd.too_long)
        return AGIR_BAD(c->e, "%s:%d: line longer than %d characters (hint: shorten it)", c->name, rd.too_long,
                        INI_MAX_LINE - 3);
    if (c->e->code && (rc == 0 || rc == c->err_line)) return c->e->code;
    if (rc > 0) {
        agir_err_clear(c->e);
        return AGIR_BAD(c->e, "%s:%d: syntax error (hint: lines are '[section]', 'key = value' or '# comment')",
                        c->name, rc);
    }
    if (rc < 0) return AGIR_BUG(c->e, "inih failed with %d", rc);
    return AGIR_OK;
}

static int apply_set(agir_cfg *cfg, const char *s, agir_err *e) {
    const char *eq = strchr(s, '=');
    const char *dot = strchr(s, '.');
    if (!eq || !dot || dot > eq || dot == s || eq == dot + 1)
        return AGIR_BAD(e, "--set %s: expected section.key=value (hint: e.g. --set run.seed=7)", s);
    char section[128], name[128];
    size_t ls = (size_t)(dot - s), ln = (size_t)(eq - dot - 1);
    if (ls >= sizeof section || ln >= sizeof name) return AGIR_BAD(e, "--set %s: name too long", s);
    memcpy(section, s, ls), section[ls] = '\0';
    memcpy(name, dot + 1, ln), name[ln] = '\0';
    agir_value *v = find_value(cfg, section, name);
    if (!v) {
        char sug[200];
        suggest(cfg, section, name, 1, sug, sizeof sug);
        if (*sug)
            return AGIR_BAD(e, "--set %s: unknown key %s.%s (hint: did you mean --set %s=%s?)", s, section, name, sug,
                            eq + 1);
        return AGIR_BAD(e, "--set %s: unknown key %s.%s (hint: 'agir config --explain' lists the keys)", s, section,
                        name);
    }
    char at[300];
    snprintf(at, sizeof at, "--set %s.%s", section, name);
    return set_value(v, eq + 1, -1, at, e);
}

static int init_defaults(agir_cfg *cfg, const agir_key *const *schema, agir_err *e) {
    size_t n = 0;
    for (size_t t = 0; schema[t]; t++)
        for (const agir_key *k = schema[t]; k->name; k++) n++;
    cfg->v = calloc(n ? n : 1, sizeof *cfg->v);
    if (!cfg->v) return AGIR_BUG(e, "out of memory");
    cfg->n = n;
    size_t i = 0;
    for (size_t t = 0; schema[t]; t++) {
        for (const agir_key *k = schema[t]; k->name; k++, i++) {
            cfg->v[i].key = k;
            if (k->def && set_value(&cfg->v[i], k->def, 0, "schema default", e)) return e->code;
            cfg->v[i].line = 0;
        }
    }
    return AGIR_OK;
}

int agir_cfg_load_text(agir_cfg *cfg, const agir_key *const *schema, const char *name, const char *text,
                       size_t len, const char *const *sets, int nsets, agir_err *e) {
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->path, sizeof cfg->path, "%s", name ? name : "");
    AGIR_TRY(init_defaults(cfg, schema, e));
    if (text) {
        parse_ctx c = {.cfg = cfg, .schema = schema, .name = cfg->path, .e = e};
        AGIR_TRY(run_parser(&c, text, len));
    }
    for (int i = 0; i < nsets; i++) AGIR_TRY(apply_set(cfg, sets[i], e));
    for (size_t i = 0; i < cfg->n; i++) {
        const agir_key *k = cfg->v[i].key;
        if (!cfg->v[i].text)
            return AGIR_BAD(e, "%s: missing required key %s.%s (hint: add '%s = ...' under [%s]: %s)",
                            *cfg->path ? cfg->path : "config", k->section, k->name, k->name, k->section, k->help);
    }
    return AGIR_OK;
}

int agir_cfg_load(agir_cfg *cfg, const agir_key *const *schema, const char *path, const char *const *sets,
                  int nsets, agir_err *e) {
    char *text = NULL;
    size_t len = 0;
    if (path) AGIR_TRY(agir_read_file(path, AGIR_CFG_MAX_BYTES, &text, &len, e));
    int rc = agir_cfg_load_text(cfg, schema, path, text, len, sets, nsets, e);
    free(text);
    return rc;
}

void agir_cfg_free(agir_cfg *cfg) {
    for (size_t i = 0; i < cfg->n; i++) free(cfg->v[i].text);
    free(cfg->v);
    cfg->v = NULL;
    cfg->n = 0;
}

int agir_cfg_peek(const char *path, const char *section, const char *name, char *out, size_t outsz, agir_err *e) {
    char *text = NULL;
    size_t len = 0;
    out[0] = '\0';
    AGIR_TRY(agir_read_file(path, AGIR_CFG_MAX_BYTES, &text, &len, e));
    parse_ctx c = {.name = path, .e = e, .want_section = section, .want_name = name, .peek_out = out, .peek_sz = outsz};
    int rc = run_parser(&c, text, len);
    free(text);
    return rc;
}

static const agir_value *get(const agir_cfg *cfg, const char *section, const char *name, int type) {
    const agir_value *v = find_value(cfg, section, name);
    if (!v || (type >= 0 && (int)v->key->type != type)) {
        fprintf(stderr, "agir: internal error: config key %s.%s not declared with that type\n", section, name);
        abort();
    }
    return v;
}

long long agir_cfg_int(const agir_cfg *cfg, const char *section, const char *name) {
    return get(cfg, section, name, AGIR_KEY_INT)->i;
}
double agir_cfg_float(const agir_cfg *cfg, const char *section, const char *name) {
    return get(cfg, section, name, AGIR_KEY_FLOAT)->f;
}
int agir_cfg_bool(const agir_cfg *cfg, const char *section, const char *name) {
    return get(cfg, section, name, AGIR_KEY_BOOL)->b;
}
const char *agir_cfg_str(const agir_cfg *cfg, const char *section, const char *name) {
    const agir_value *v = get(cfg, section, name, -1);
    return v->text;
}

void agir_cfg_origin(const agir_cfg *cfg, const char *section, const char *name, char *out, size_t outsz) {
    const agir_value *v = get(cfg, section, name, -1);
    if (v->line > 0)
        snprintf(out, outsz, "%s:%d", cfg->path, v->line);
    else
        snprintf(out, outsz, "%s", v->line < 0 ? "--set" : "default");
}

static void range_text(const agir_key *k, char *out, size_t outsz) {
    switch (k->type) {
    case AGIR_KEY_INT:
    case AGIR_KEY_FLOAT:
        snprintf(out, outsz, "%s in [%g, %g]", k->type == AGIR_KEY_INT ? "int" : "float", k->min, k->max);
        break;
    case AGIR_KEY_BOOL:
        snprintf(out, outsz, "bool");
        break;
    case AGIR_KEY_CHOICE:
        snprintf(out, outsz, "one of %s", k->choices);
        break;
    case AGIR_KEY_STRING:
        snprintf(out, outsz, "string");
        break;
    }
}

static int needs_quotes(const char *s) {
    size_t n = strlen(s);
    return n && (isspace((unsigned char)s[0]) || isspace((unsigned char)s[n - 1]) || (s[0] == '"' && s[n - 1] == '"'));
}

int agir_cfg_write(const agir_cfg *cfg, const char *job, const char *path, agir_err *e) {
    agir_afile a;
    AGIR_TRY(agir_atomic_fopen(&a, path, e));
    fprintf(a.f, "# Effective configuration of agir job '%s'%s%s.\n# Every key is listed; re-run with this file to repeat the job.\n",
            job, *cfg->path ? " from " : "", cfg->path);
    const char *section = NULL;
    for (size_t i = 0; i < cfg->n; i++) {
        const agir_key *k = cfg->v[i].key;
        if (!section || strcmp(section, k->section)) {
            section = k->section;
            fprintf(a.f, "\n[%s]\n", section);
        }
        char r[256];
        range_text(k, r, sizeof r);
        fprintf(a.f, "# %s (%s; default %s)\n", k->help, r, k->def ? (*k->def ? k->def : "''") : "required");
        const char *t = cfg->v[i].text;
        fprintf(a.f, needs_quotes(t) ? "%s = \"%s\"\n" : "%s = %s\n", k->name, t);
    }
    return agir_atomic_fclose(&a, 1, e);
}

void agir_cfg_explain(const agir_cfg *cfg, FILE *out) {
    const char *section = NULL;
    for (size_t i = 0; i < cfg->n; i++) {
        const agir_value *v = &cfg->v[i];
        const agir_key *k = v->key;
        if (!section || strcmp(section, k->section)) {
            section = k->section;
            fprintf(out, "[%s]\n", section);
        }
        char r[256], origin[1100];
        range_text(k, r, sizeof r);
        if (v->line > 0)
            snprintf(origin, sizeof origin, "%s:%d", cfg->path, v->line);
        else
            snprintf(origin, sizeof origin, "%s", v->line < 0 ? "--set" : "default");
        fprintf(out, "  %-22s = %-16s (%s; default %s; from %s)\n      %s\n", k->name, v->text, r,
                k->def ? (*k->def ? k->def : "''") : "required", origin, k->help);
    }
}
