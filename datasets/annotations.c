// AGIR rationale annotations: parsing and checking the JSON file (cJSON), attaching to a dataset.
#include "datasets/annotations.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "core/fsio.h"
#include "core/json.h"
#include "core/utf8.h"

int agir_annot_key_ok(const char *k) {
    if (strncmp(k, "SUB", 3) || !isdigit((unsigned char)k[3]) || !isdigit((unsigned char)k[4]) || k[5] != '_')
        return 0;
    k += 6;
    if (!strncmp(k, "on_", 3)) k += 3;
    else if (!strncmp(k, "off_", 4)) k += 4;
    else return 0;
    if (strncmp(k, "walk_", 5)) return 0;
    k += 5;
    size_t d = strspn(k, "0123456789");
    if (d == 0) return 0;
    k += d;
    if (*k >= 'a' && *k <= 'z') k++;
    return *k == '\0';
}


static int check_entry(const cJSON *it, const char *name, agir_err *e) {
    const char *key = it->string;
    if (!agir_annot_key_ok(key))
        return AGIR_BAD(e, "%s: key '%s' is not a sequence id like SUB01_off_walk_1 (hint: keys must match "
                        "SUBxx_on|off_walk_N)", name, agir_show(key).s);
    if (!cJSON_IsString(it) || !it->valuestring)
        return AGIR_BAD(e, "%s: key '%s': value is %s, not a rationale string", name, key, agir_json_kind(it));
    const char *v = it->valuestring;
    while (isspace((unsigned char)*v)) v++;
    if (!*v) return AGIR_BAD(e, "%s: key '%s': the rationale is empty (hint: delete the entry instead)", name, key);
    long bad = agir_utf8_invalid_at(it->valuestring, strlen(it->valuestring));
    if (bad >= 0)
        return AGIR_BAD(e, "%s: key '%s': the rationale is not valid UTF-8 at byte %ld (hint: save the file as UTF-8)",
                        name, key, bad);
    return AGIR_OK;
}

static int cmp_str(const void *a, const void *b) {
    int c = strcmp(*(char *const *)a, *(char *const *)b);
    if (c) return c;
    return *(char *const *)a < *(char *const *)b ? -1 : 1;  // file order among equals
}

// cJSON keeps every member of an object, so repeated keys are found here: sorted copies of the
// key pointers put equal keys next to each other.
static int check_duplicates(const agir_annot *a, const char *name, agir_err *e) {
    if (a->n < 2) return AGIR_OK;
    char **k = malloc((size_t)a->n * sizeof *k);
    if (!k) return AGIR_BUG(e, "out of memory for %lld keys", (long long)a->n);
    memcpy(k, a->keys, (size_t)a->n * sizeof *k);
    qsort(k, (size_t)a->n, sizeof *k, cmp_str);
    int rc = AGIR_OK;
    for (int64_t i = 1; i < a->n && !rc; i++)
        if (!strcmp(k[i], k[i - 1]))
            rc = AGIR_BAD(e, "%s: key '%s' appears more than once (hint: keep one rationale per sequence)", name, k[i]);
    free(k);
    return rc;
}

static int syntax_error(const char *text, const char *end, const char *name, agir_err *e) {
    int line = 1, col = 1, in_string = 0;
    for (const char *p = text; end && p < end; p++) {
        if (*p == '\n') line++, col = 1;
        else col++;
        if (in_string && *p == '\\' && p + 1 < end) p++, col++;
        else if (*p == '"') in_string = !in_string;
    }
    if (end && !*end)
        return AGIR_BAD(e, "%s:%d:%d: the JSON ends too early (hint: the file is cut)", name, line, col);
    if (end && in_string && !strchr(end, '"'))
        return AGIR_BAD(e, "%s:%d:%d: a string here never ends (hint: the file is cut)", name, line, col);
    return AGIR_BAD(e, "%s:%d:%d: invalid JSON here (hint: check quotes, commas and braces)", name, line, col);
}

static int collect(const cJSON *root, const char *name, agir_annot *a, agir_err *e) {
    int64_t n = 0;
    for (const cJSON *it = root->child; it; it = it->next) n++;
    a->keys = calloc(n ? (size_t)n : 1, sizeof *a->keys);
    a->values = calloc(n ? (size_t)n : 1, sizeof *a->values);
    if (!a->keys || !a->values) return AGIR_BUG(e, "out of memory for %lld annotations", (long long)n);
    for (const cJSON *it = root->child; it; it = it->next) {
        AGIR_TRY(check_entry(it, name, e));
        a->keys[a->n] = strdup(it->string);
        a->values[a->n] = strdup(it->valuestring);
        a->n++;
        if (!a->keys[a->n - 1] || !a->values[a->n - 1]) return AGIR_BUG(e, "out of memory copying annotations");
        if (strncmp(it->valuestring, "Foot:", 5) && a->n_style++ == 0)
            snprintf(a->style_key, sizeof a->style_key, "%s", it->string);
    }
    return check_duplicates(a, name, e);
}

int agir_annot_parse(const char *text, size_t len, const char *name, agir_annot *a, agir_err *e) {
    memset(a, 0, sizeof *a);
    if (len > AGIR_ANNOT_MAX_BYTES)
        return AGIR_BAD(e, "%s: %zu bytes is more than the %zu MiB limit for annotation files", name, len,
                        AGIR_ANNOT_MAX_BYTES >> 20);
    if (memchr(text, '\0', len)) return AGIR_BAD(e, "%s: contains a NUL byte (hint: not a JSON text file)", name);
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) {  // a UTF-8 byte-order mark, as some editors write
        text += 3;
        len -= 3;
    }
    // cJSON's end check wants the terminating NUL inside the length it is given.
    char *z = malloc(len + 1);
    if (!z) return AGIR_BUG(e, "out of memory for %zu bytes", len);
    memcpy(z, text, len);
    z[len] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(z, len + 1, &end, 1);
    int rc;
    if (!root) rc = syntax_error(z, end, name, e);
    else if (!cJSON_IsObject(root))
        rc = AGIR_BAD(e, "%s: the top level is %s, not an object of sequence id -> rationale", name, agir_json_kind(root));
    else rc = collect(root, name, a, e);
    cJSON_Delete(root);
    free(z);
    if (rc) agir_annot_free(a);
    return rc;
}

int agir_annot_read(const char *path, agir_annot *a, agir_err *e) {
    memset(a, 0, sizeof *a);
    char *buf;
    size_t len;
    AGIR_TRY(agir_read_file(path, AGIR_ANNOT_MAX_BYTES, &buf, &len, e));
    int rc = agir_annot_parse(buf, len, path, a, e);
    free(buf);
    return rc;
}

void agir_annot_free(agir_annot *a) {
    for (int64_t i = 0; i < a->n; i++) {
        free(a->keys[i]);
        free(a->values[i]);
    }
    free(a->keys);
    free(a->values);
    memset(a, 0, sizeof *a);
}

int agir_annot_attach(const agir_annot *a, agir_gait *g, int64_t *matched, int64_t *unmatched, agir_err *e) {
    *matched = *unmatched = 0;
    for (int64_t i = 0; i < a->n; i++) {
        int64_t s = agir_gait_find(g, a->keys[i]);
        if (s < 0) {
            (*unmatched)++;
            continue;
        }
        AGIR_TRY(agir_gait_set_text(g, s, g->seq[s].description, a->values[i], e));
        (*matched)++;
    }
    return AGIR_OK;
}
