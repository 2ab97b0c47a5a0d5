// BMCLab metadata sheet (CSV export): subject ids and the UPDRS-III walking item ON and OFF
// medication. Columns are found by header name; fields follow RFC 4180 quoting.
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsio.h"
#include "datasets/bmclab.h"

#define MAX_FIELDS 512
#define HEADER_SEARCH 10  // records searched for the header row (title rows above it are skipped)

// One record: fields decoded into buf (quotes removed, "" unescaped), NUL-separated.
typedef struct record {
    int n;
    char *f[MAX_FIELDS];
    int line;  // line where the record starts
} record;

typedef struct csv {
    const char *s;
    size_t len, pos;
    int line;
    char delim;
    char *buf;  // len + 1 bytes: decoded text never outgrows the input
    const char *name;
} csv;

// Reads the next record; returns 0 at the end of the input.
static int next_record(csv *c, record *r, int *more, agir_err *e) {
    *more = c->pos < c->len;
    if (!*more) return AGIR_OK;
    r->n = 0;
    r->line = c->line;
    size_t k = 0;
    int quoted = 0, was_quoted = 0;
    r->f[r->n++] = c->buf + k;
    while (c->pos < c->len) {
        char ch = c->s[c->pos++];
        if (quoted) {
            if (ch == '"' && c->pos < c->len && c->s[c->pos] == '"') {
                c->buf[k++] = '"';
                c->pos++;
            } else if (ch == '"') {
                quoted = 0;
            } else {
                if (ch == '\n') c->line++;
                c->buf[k++] = ch;
            }
            continue;
        }
        if (ch == '\r' || ch == '\n') {
            if (ch == '\r' && c->pos < c->len && c->s[c->pos] == '\n') c->pos++;
            c->line++;
            break;
        }
        if (ch == c->delim) {
            c->buf[k++] = '\0';
            if (r->n == MAX_FIELDS)
                return AGIR_BAD(e, "%s:%d: more than %d fields (hint: is this the metadata sheet?)", c->name, r->line,
                                MAX_FIELDS);
            r->f[r->n++] = c->buf + k;
            was_quoted = 0;
        } else if (ch == '"' && r->f[r->n - 1] == c->buf + k && !was_quoted) {
            quoted = was_quoted = 1;
        } else if (was_quoted) {
            return AGIR_BAD(e, "%s:%d: text after a closing quote (hint: double the quote inside quoted fields)",
                            c->name, c->line);
        } else {
            c->buf[k++] = ch;
        }
    }
    if (quoted)
        return AGIR_BAD(e, "%s:%d: quoted field never closed (hint: the file is cut or a quote is missing)", c->name,
                        r->line);
    c->buf[k] = '\0';
    return AGIR_OK;
}

// Header names compared on letters and digits only, lower-cased.
static void squash(const char *s, char *out, size_t outsz) {
    size_t k = 0;
    for (; *s && k + 1 < outsz; s++)
        if (isalnum((unsigned char)*s)) out[k++] = (char)tolower((unsigned char)*s);
    out[k] = '\0';
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    return s;
}

enum { COL_ID, COL_ON, COL_OFF, NCOLS };
static const char *const col_names[NCOLS] = {"ID", "ON - UPDRS-III - walking", "OFF - UPDRS-III - walking"};

static int col_kind(const char *field) {
    char k[128];
    squash(field, k, sizeof k);
    if (!strcmp(k, "id") || !strcmp(k, "subject") || !strcmp(k, "subjectid") || !strcmp(k, "participant") ||
        !strcmp(k, "participantid"))
        return COL_ID;
    if (!strcmp(k, "onupdrsiiiwalking")) return COL_ON;
    if (!strcmp(k, "offupdrsiiiwalking")) return COL_OFF;
    return -1;
}

// Fills col[] from a header candidate; returns the number of columns found (duplicates refused).
static int find_cols(const csv *c, const record *r, int col[NCOLS], int *found, agir_err *e) {
    for (int k = 0; k < NCOLS; k++) col[k] = -1;
    *found = 0;
    for (int i = 0; i < r->n; i++) {
        int k = col_kind(r->f[i]);
        if (k < 0) continue;
        if (col[k] >= 0)
            return AGIR_BAD(e, "%s:%d: columns %d and %d are both '%s' (hint: keep one)", c->name, r->line, col[k] + 1,
                            i + 1, col_names[k]);
        col[k] = i;
        (*found)++;
    }
    return AGIR_OK;
}

// The delimiter most frequent outside quotes on the first line: ',', ';' or tab.
static char sniff_delim(const char *s, size_t len) {
    int n[3] = {0, 0, 0}, q = 0;
    const char d[3] = {',', ';', '\t'};
    for (size_t i = 0; i < len && s[i] != '\n' && s[i] != '\r'; i++) {
        if (s[i] == '"') q = !q;
        for (int k = 0; k < 3 && !q; k++) n[k] += s[i] == d[k];
    }
    int best = 0;
    for (int k = 1; k < 3; k++)
        if (n[k] > n[best]) best = k;
    return d[best];
}

static int parse_id(const csv *c, int line, const char *v, char out[16], agir_err *e) {
    const char *digits = !strncasecmp(v, "sub", 3) ? v + 3 : v;
    size_t n = strlen(digits);
    if (n < 1 || n > 2 || strspn(digits, "0123456789") != n)
        return AGIR_BAD(e, "%s:%d: subject id '%.40s' is not SUBxx (hint: ids look like SUB01)", c->name, line, v);
    snprintf(out, 16, "SUB%02d", atoi(digits));
    return AGIR_OK;
}

// A score 0..4 ("2", "2.0", "2,0"); empty and NA-like values are unknown (-1).
static int parse_score(const csv *c, int line, int col, const char *v, int *out, agir_err *e) {
    char low[16];
    size_t n = strlen(v);
    for (size_t i = 0; i < sizeof low; i++) low[i] = i < n ? (char)tolower((unsigned char)v[i]) : '\0';
    low[sizeof low - 1] = '\0';
    if (!n || !strcmp(low, "na") || !strcmp(low, "n/a") || !strcmp(low, "nan") || !strcmp(low, "-") ||
        !strcmp(low, "none") || !strcmp(low, "?")) {
        *out = -1;
        return AGIR_OK;
    }
    int ok = n >= 1 && v[0] >= '0' && v[0] <= '4' &&
             (n == 1 || ((v[1] == '.' || v[1] == ',') && n > 2 && strspn(v + 2, "0") == n - 2));
    if (!ok)
        return AGIR_BAD(e, "%s:%d: '%s' value '%.40s' is not a score 0-4 (hint: leave the cell empty when unknown)",
                        c->name, line, col_names[col], v);
    *out = v[0] - '0';
    return AGIR_OK;
}

static int add_row(const csv *c, const record *r, const int col[NCOLS], agir_bmclab_meta *m, agir_err *e) {
    const char *v[NCOLS];
    for (int k = 0; k < NCOLS; k++) v[k] = col[k] < r->n ? trim(r->f[col[k]]) : "";
    if (!*v[COL_ID]) {
        if (*v[COL_ON] || *v[COL_OFF])
            return AGIR_BAD(e, "%s:%d: scores without a subject id (hint: fill the '%s' cell)", c->name, r->line,
                            col_names[COL_ID]);
        return AGIR_OK;
    }
    agir_bmclab_subject s = {.line = r->line};
    AGIR_TRY(parse_id(c, r->line, v[COL_ID], s.id, e));
    AGIR_TRY(parse_score(c, r->line, COL_ON, v[COL_ON], &s.on, e));
    AGIR_TRY(parse_score(c, r->line, COL_OFF, v[COL_OFF], &s.off, e));
    const agir_bmclab_subject *prev = agir_bmclab_meta_find(m, s.id);
    if (prev)
        return AGIR_BAD(e, "%s:%d: subject %s is already listed at line %d (hint: keep one row per subject)", c->name,
                        r->line, s.id, prev->line);
    m->s[m->n++] = s;
    return AGIR_OK;
}

static int parse_rows(csv *c, agir_bmclab_meta *m, agir_err *e) {
    record r;
    int more, col[NCOLS], found = 0, header = 0;
    for (int i = 0; i < HEADER_SEARCH && !header; i++) {
        AGIR_TRY(next_record(c, &r, &more, e));
        if (!more) break;
        AGIR_TRY(find_cols(c, &r, col, &found, e));
        header = found == NCOLS;
    }
    if (!header)
        return AGIR_BAD(e, "%s: no header row with columns '%s', '%s' and '%s' in the first %d rows (hint: export "
                        "the metadata sheet as CSV with its header)", c->name, col_names[0], col_names[1],
                        col_names[2], HEADER_SEARCH);
    // At most one subject per remaining line.
    m->s = calloc((size_t)(c->len - c->pos) / 2 + 1, sizeof *m->s);
    if (!m->s) return AGIR_BUG(e, "out of memory for the metadata rows");
    for (;;) {
        AGIR_TRY(next_record(c, &r, &more, e));
        if (!more) break;
        AGIR_TRY(add_row(c, &r, col, m, e));
    }
    if (m->n == 0) return AGIR_BAD(e, "%s: no subject rows below the header (hint: is the sheet empty?)", c->name);
    return AGIR_OK;
}

int agir_bmclab_meta_parse(const char *text, size_t len, const char *name, agir_bmclab_meta *m, agir_err *e) {
    memset(m, 0, sizeof *m);
    if (memchr(text, '\0', len))
        return AGIR_BAD(e, "%s: contains a NUL byte (hint: export the sheet as CSV text, not .xlsx)", name);
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) {
        text += 3;
        len -= 3;
    }
    csv c = {text, len, 0, 1, sniff_delim(text, len), malloc(len + 1), name};
    if (!c.buf) return AGIR_BUG(e, "out of memory for %zu bytes", len);
    int rc = parse_rows(&c, m, e);
    free(c.buf);
    if (rc) agir_bmclab_meta_free(m);
    return rc;
}

int agir_bmclab_meta_read(const char *path, agir_bmclab_meta *m, agir_err *e) {
    memset(m, 0, sizeof *m);
    char *buf;
    size_t len;
    AGIR_TRY(agir_read_file(path, AGIR_BMCLAB_META_MAX_BYTES, &buf, &len, e));
    int rc = agir_bmclab_meta_parse(buf, len, path, m, e);
    free(buf);
    return rc;
}

void agir_bmclab_meta_free(agir_bmclab_meta *m) {
    free(m->s);
    memset(m, 0, sizeof *m);
}

const agir_bmclab_subject *agir_bmclab_meta_find(const agir_bmclab_meta *m, const char *subject) {
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->s[i].id, subject)) return &m->s[i];
    return NULL;
}
