// BMCLab trial names: sequence ids (SUBxx_{on,off}_walk_N) from file paths, and discovery of the
// walk files below the data set's root.
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fsio.h"
#include "datasets/bmclab.h"

#define MAX_DEPTH 4
#define MAX_TOKENS 32

// A path component split into lower-case alphanumeric runs ("SUB01_OFF_walk-03" -> sub01 off walk 03).
typedef struct tokens {
    char buf[256];
    int n;
    const char *t[MAX_TOKENS];
} tokens;

static void tokenize(const char *s, size_t len, tokens *tk) {
    tk->n = 0;
    size_t k = 0;
    for (size_t i = 0; i < len && k + 1 < sizeof tk->buf; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (isalnum(ch)) {
            if ((i == 0 || !isalnum((unsigned char)s[i - 1])) && tk->n < MAX_TOKENS) tk->t[tk->n++] = tk->buf + k;
            tk->buf[k++] = (char)tolower(ch);
        } else if (k > 0 && tk->buf[k - 1] != '\0') {
            tk->buf[k++] = '\0';
        }
    }
    tk->buf[k] = '\0';
}

// "sub" + 1 or 2 digits -> subject number, else -1.
static int subject_of(const char *t) {
    if (strncmp(t, "sub", 3) || !isdigit((unsigned char)t[3])) return -1;
    size_t n = strlen(t + 3);
    if (n > 2 || strspn(t + 3, "0123456789") != n) return -1;
    return atoi(t + 3);
}

// Trial "3", "03", "12b": 1-6 digits and an optional letter; returns 0 when t is one.
static int trial_of(const char *t, int *num, char *suffix) {
    size_t d = strspn(t, "0123456789");
    if (d == 0 || d > 6) return -1;
    if (t[d] && (!isalpha((unsigned char)t[d]) || t[d + 1])) return -1;
    *num = atoi(t);
    *suffix = t[d];
    return 0;
}

typedef struct found {
    int subject;  // -1 none, -2 conflicting
    int med;      // -1 none, -2 both
    int walks, trial;
    char suffix;
} found;

static void scan_tokens(const tokens *tk, found *f) {
    f->subject = -1;
    f->med = -1;
    f->walks = 0;
    for (int i = 0; i < tk->n; i++) {
        const char *t = tk->t[i];
        int s = subject_of(t);
        if (s >= 0) f->subject = f->subject == -1 || f->subject == s ? s : -2;
        int m = !strcmp(t, "on") ? AGIR_MED_ON : !strcmp(t, "off") ? AGIR_MED_OFF : -1;
        if (m >= 0) f->med = f->med == -1 || f->med == m ? m : -2;
        if (!strncmp(t, "walk", 4)) {
            const char *num = t[4] ? t + 4 : (i + 1 < tk->n ? tk->t[i + 1] : "");
            if (!trial_of(num, &f->trial, &f->suffix)) f->walks++;
        }
    }
}

// Subject and state named by the folders of relpath (-1 when none); all folders must agree.
static int folder_names(const char *relpath, size_t dirlen, int *subject, int *med, agir_err *e) {
    *subject = *med = -1;
    for (const char *p = relpath, *end = relpath + dirlen; p < end;) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        size_t n = slash ? (size_t)(slash - p) : (size_t)(end - p);
        tokens tk;
        found f;
        tokenize(p, n, &tk);
        scan_tokens(&tk, &f);
        if (f.subject == -2 || (f.subject >= 0 && *subject >= 0 && f.subject != *subject))
            return AGIR_BAD(e, "%s: folders name different subjects (hint: keep one subject per SUBxx folder)",
                            relpath);
        if (f.med == -2 || (f.med >= 0 && *med >= 0 && f.med != *med))
            return AGIR_BAD(e, "%s: folders name both ON and OFF medication (hint: rename the folder)", relpath);
        if (f.subject >= 0) *subject = f.subject;
        if (f.med >= 0) *med = f.med;
        p += n + 1;
    }
    return AGIR_OK;
}

static const char *med_name(int med) { return med == AGIR_MED_ON ? "ON" : "OFF"; }

int agir_bmclab_trial_id(const char *relpath, agir_bmclab_id *out, agir_err *e) {
    memset(out, 0, sizeof *out);
    const char *base = strrchr(relpath, '/');
    base = base ? base + 1 : relpath;
    size_t len = strlen(base);
    if (len > 4 && !strcasecmp(base + len - 4, ".c3d")) len -= 4;
    tokens tk;
    found f;
    tokenize(base, len, &tk);
    scan_tokens(&tk, &f);
    const char *hint = "hint: name walks like SUB01_off_walk_1.c3d, or put them in SUBxx or SUBxx_on/_off folders";
    if (f.subject == -2) return AGIR_BAD(e, "%s: the file name names two subjects (%s)", relpath, hint);
    if (f.med == -2) return AGIR_BAD(e, "%s: the file name says both on and off (%s)", relpath, hint);
    if (f.walks != 1)
        return AGIR_BAD(e, "%s: the file name has %s walk number (%s)", relpath, f.walks ? "more than one" : "no",
                        hint);
    int subject, med;
    AGIR_TRY(folder_names(relpath, (size_t)(base - relpath), &subject, &med, e));
    if (f.subject >= 0 && subject >= 0 && f.subject != subject)
        return AGIR_BAD(e, "%s: the file name says SUB%02d but a folder says SUB%02d (hint: move or rename the file)",
                        relpath, f.subject, subject);
    if (f.med >= 0 && med >= 0 && f.med != med)
        return AGIR_BAD(e, "%s: the file name says %s medication but a folder says %s (hint: move or rename the file)",
                        relpath, med_name(f.med), med_name(med));
    if (f.subject >= 0) subject = f.subject;
    if (f.med >= 0) med = f.med;
    if (subject < 0)
        return AGIR_BAD(e, "%s: neither the file nor its folders name a subject SUBxx (%s)", relpath, hint);
    if (med < 0) return AGIR_BAD(e, "%s: neither the file nor its folders say on or off medication (%s)", relpath, hint);
    snprintf(out->subject, sizeof out->subject, "SUB%02d", subject);
    out->medication = med;
    out->trial = f.trial;
    out->suffix = f.suffix;
    char sfx[2] = {f.suffix, '\0'};
    snprintf(out->id, sizeof out->id, "%s_%s_walk_%d%s", out->subject, med == AGIR_MED_ON ? "on" : "off", f.trial,
             sfx);
    return AGIR_OK;
}

// ---- discovery ----

typedef struct flist {
    agir_bmclab_file *v;
    int n, cap;
} flist;

static int is_walk_file(const char *name) {
    size_t n = strlen(name);
    if (n < 4 || strcasecmp(name + n - 4, ".c3d")) return 0;
    for (size_t i = 0; i + 4 <= n; i++)
        if (!strncasecmp(name + i, "walk", 4)) return 1;
    return 0;
}

static int add_file(flist *l, const char *root, const char *rel, agir_err *e) {
    agir_bmclab_id id;
    AGIR_TRY(agir_bmclab_trial_id(rel, &id, e));
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        agir_bmclab_file *v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return AGIR_BUG(e, "out of memory listing files");
        l->v = v;
        l->cap = cap;
    }
    char path[4096];
    AGIR_TRY(agir_path_join(path, sizeof path, root, rel, e));
    char *dup = strdup(path);
    if (!dup) return AGIR_BUG(e, "out of memory listing files");
    l->v[l->n].path = dup;
    l->v[l->n].id = id;
    l->n++;
    return AGIR_OK;
}

// Scans ROOT/rel; at the top only folders named SUB<digit>... are entered.
static int scan(const char *root, const char *rel, int depth, flist *l, agir_err *e) {
    char dir[4096];
    if (depth)
        AGIR_TRY(agir_path_join(dir, sizeof dir, root, rel, e));
    else
        snprintf(dir, sizeof dir, "%s", root);
    DIR *d = opendir(dir);
    if (!d) return agir_err_io(e, dir, "cannot list folder");
    int rc = AGIR_OK;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        const char *name = de->d_name;
        if (name[0] == '.') continue;
        char sub[4096], full[4096];
        if (depth) {
            if (agir_path_join(sub, sizeof sub, rel, name, e)) {
                rc = AGIR_EINPUT;
                break;
            }
        } else {
            snprintf(sub, sizeof sub, "%s", name);
        }
        struct stat st;
        if (agir_path_join(full, sizeof full, root, sub, e)) {
            rc = AGIR_EINPUT;
            break;
        }
        if (stat(full, &st)) continue;  // dangling link
        if (S_ISDIR(st.st_mode)) {
            int subj = depth || (!strncasecmp(name, "sub", 3) && isdigit((unsigned char)name[3]));
            if (subj && depth < MAX_DEPTH) rc = scan(root, sub, depth + 1, l, e);
        } else if (depth && S_ISREG(st.st_mode) && is_walk_file(name)) {
            rc = add_file(l, root, sub, e);
        }
    }
    closedir(d);
    return rc;
}

static int cmp_file(const void *a, const void *b) {
    const agir_bmclab_id *x = &((const agir_bmclab_file *)a)->id, *y = &((const agir_bmclab_file *)b)->id;
    int c = strcmp(x->subject, y->subject);
    if (c) return c;
    if (x->medication != y->medication) return x->medication - y->medication;
    if (x->trial != y->trial) return x->trial < y->trial ? -1 : 1;
    if (x->suffix != y->suffix) return x->suffix - y->suffix;
    return strcmp(((const agir_bmclab_file *)a)->path, ((const agir_bmclab_file *)b)->path);
}

int agir_bmclab_discover(const char *root, agir_bmclab_file **files, int *n, agir_err *e) {
    *files = NULL;
    *n = 0;
    flist l = {0};
    int rc = scan(root, "", 0, &l, e);
    if (!rc && l.n == 0)
        rc = AGIR_BAD(e, "%s: no *walk*.c3d files in SUBxx folders (hint: ROOT is the folder that holds SUB01, "
                      "SUB02, ...)", root);
    if (!rc) {
        qsort(l.v, (size_t)l.n, sizeof *l.v, cmp_file);
        for (int i = 1; i < l.n && !rc; i++)
            if (!strcmp(l.v[i].id.id, l.v[i - 1].id.id))
                rc = AGIR_BAD(e, "%s and %s both give sequence id %s (hint: remove or rename one)", l.v[i - 1].path,
                              l.v[i].path, l.v[i].id.id);
    }
    if (rc) {
        agir_bmclab_files_free(l.v, l.n);
        return rc;
    }
    *files = l.v;
    *n = l.n;
    return AGIR_OK;
}

void agir_bmclab_files_free(agir_bmclab_file *files, int n) {
    for (int i = 0; files && i < n; i++) free(files[i].path);
    free(files);
}
