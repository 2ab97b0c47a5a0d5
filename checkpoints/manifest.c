// Checkpoint manifests: SHA-256 of files (OpenSSL EVP) and manifest.json writing and verification.
#include "checkpoints/manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <openssl/evp.h>

#include "core/fsio.h"

static const char MANIFEST[] = "manifest.json";
static const char FORMAT[] = "agir-checkpoint";
enum { MANIFEST_VERSION = 1, MANIFEST_MAX_BYTES = 1 << 20 };

static int sha256(const void *data, size_t len, char hex[65], agir_err *e) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        return AGIR_BUG(e, "OpenSSL SHA-256 failed");
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return AGIR_OK;
}

int agir_sha256_file(const char *path, char hex[65], size_t *bytes, agir_err *e) {
    agir_map m;
    AGIR_TRY(agir_map_file(path, &m, e));
    int rc = sha256(m.data ? (const void *)m.data : "", m.size, hex, e);
    *bytes = m.size;
    agir_unmap(&m);
    return rc;
}

// File names a manifest may list: plain names in the folder, never paths or hidden files.
static int name_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n >= AGIR_MANIFEST_NAME_MAX || s[0] == '.' || !strcmp(s, MANIFEST)) return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

int agir_manifest_write(const char *dir, int64_t step, const char *const *names, int n, agir_err *e) {
    if (n > AGIR_MANIFEST_MAX_FILES) return AGIR_BUG(e, "%s: %d files, more than a manifest holds", dir, n);
    cJSON *root = cJSON_CreateObject();
    cJSON *files = root ? cJSON_CreateObject() : NULL;
    int ok = files && cJSON_AddStringToObject(root, "format", FORMAT) &&
             cJSON_AddNumberToObject(root, "version", MANIFEST_VERSION) &&
             cJSON_AddNumberToObject(root, "step", (double)step) && cJSON_AddItemToObject(root, "files", files);
    if (!ok) cJSON_Delete(files);
    int rc = ok ? AGIR_OK : AGIR_BUG(e, "out of memory building %s/%s", dir, MANIFEST);
    for (int i = 0; i < n && !rc; i++) {
        char path[4096], hex[65];
        size_t bytes = 0;
        if (!name_ok(names[i])) rc = AGIR_BUG(e, "%s: '%s' is not a valid checkpoint file name", dir, names[i]);
        if (!rc) rc = agir_path_join(path, sizeof path, dir, names[i], e);
        if (!rc) rc = agir_sha256_file(path, hex, &bytes, e);
        cJSON *f = rc ? NULL : cJSON_AddObjectToObject(files, names[i]);
        if (!rc && !(f && cJSON_AddNumberToObject(f, "bytes", (double)bytes) && cJSON_AddStringToObject(f, "sha256", hex)))
            rc = AGIR_BUG(e, "out of memory building %s/%s", dir, MANIFEST);
    }
    char *text = rc ? NULL : cJSON_Print(root);
    cJSON_Delete(root);
    if (rc) return rc;
    if (!text) return AGIR_BUG(e, "out of memory printing %s/%s", dir, MANIFEST);
    char path[4096];
    rc = agir_path_join(path, sizeof path, dir, MANIFEST, e);
    if (!rc) rc = agir_write_atomic(path, text, strlen(text), e);
    free(text);
    return rc;
}

int agir_ckpt_json_count(const cJSON *o, const char *key, const char *path, const char *where, int64_t *out,
                         agir_err *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
    if (d < 0 || d >= 9007199254740992.0 || d != (double)(int64_t)d)
        return AGIR_BAD(e, "%s: %s%s \"%s\" is missing or not a non-negative integer (hint: the checkpoint is "
                        "corrupt)", path, where, where[0] ? ":" : "", key);
    *out = (int64_t)d;
    return AGIR_OK;
}

static int check_file(const cJSON *f, const char *dir, const char *path, agir_manifest *m, agir_err *e) {
    const char *name = f->string;
    if (!name_ok(name))
        return AGIR_BAD(e, "%s: lists '%.80s', which is not a plain file name (hint: the checkpoint is corrupt)", path,
                        name);
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->name[i], name)) return AGIR_BAD(e, "%s: lists %s twice", path, name);
    if (m->n == AGIR_MANIFEST_MAX_FILES)
        return AGIR_BAD(e, "%s: lists more than %d files (hint: the checkpoint is corrupt)", path,
                        AGIR_MANIFEST_MAX_FILES);
    int64_t want = 0;
    AGIR_TRY(agir_ckpt_json_count(f, "bytes", path, name, &want, e));
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(f, "sha256");
    if (!cJSON_IsString(h) || strlen(h->valuestring) != 64 || strspn(h->valuestring, "0123456789abcdef") != 64)
        return AGIR_BAD(e, "%s: %s: \"sha256\" is not 64 lowercase hex digits (hint: the checkpoint is corrupt)", path,
                        name);
    char fpath[4096], hex[65];
    size_t bytes;
    AGIR_TRY(agir_path_join(fpath, sizeof fpath, dir, name, e));
    AGIR_TRY(agir_sha256_file(fpath, hex, &bytes, e));
    if ((int64_t)bytes != want)
        return AGIR_BAD(e, "%s: is %zu bytes, the manifest records %lld (hint: the file was cut or changed)", fpath,
                        bytes, (long long)want);
    if (strcmp(hex, h->valuestring))
        return AGIR_BAD(e, "%s: SHA-256 differs from the manifest (hint: the file is corrupt)", fpath);
    memcpy(m->sha256[m->n], hex, sizeof hex);
    snprintf(m->name[m->n++], AGIR_MANIFEST_NAME_MAX, "%s", name);
    return AGIR_OK;
}

static int check_root(const cJSON *root, const char *dir, const char *path, int64_t step, agir_manifest *m,
                      agir_err *e) {
    if (!cJSON_IsObject(root)) return AGIR_BAD(e, "%s: not a JSON object (hint: the checkpoint is corrupt)", path);
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, FORMAT))
        return AGIR_BAD(e, "%s: \"format\" is not \"%s\" (hint: not an AGIR checkpoint)", path, FORMAT);
    int64_t version = 0;
    AGIR_TRY(agir_ckpt_json_count(root, "version", path, "", &version, e));
    if (version != MANIFEST_VERSION)
        return AGIR_BAD(e, "%s: manifest version %lld, this AGIR reads version %d (hint: use a matching AGIR)", path,
                        (long long)version, MANIFEST_VERSION);
    AGIR_TRY(agir_ckpt_json_count(root, "step", path, "", &m->step, e));
    if (m->step != step)
        return AGIR_BAD(e, "%s: records step %lld but the folder is for step %lld (hint: the checkpoint is corrupt)",
                        path, (long long)m->step, (long long)step);
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(root, "files");
    if (!cJSON_IsObject(files))
        return AGIR_BAD(e, "%s: \"files\" is not an object (hint: the checkpoint is corrupt)", path);
    for (const cJSON *f = files->child; f; f = f->next) {
        if (!cJSON_IsObject(f)) return AGIR_BAD(e, "%s: entry of %.80s is not an object", path, f->string);
        AGIR_TRY(check_file(f, dir, path, m, e));
    }
    return AGIR_OK;
}

int agir_manifest_verify(const char *dir, int64_t step, agir_manifest *m, agir_err *e) {
    memset(m, 0, sizeof *m);
    char path[4096];
    AGIR_TRY(agir_path_join(path, sizeof path, dir, MANIFEST, e));
    char *text;
    size_t len;
    AGIR_TRY(agir_read_file(path, MANIFEST_MAX_BYTES, &text, &len, e));
    cJSON *root = cJSON_ParseWithLength(text, len);
    int rc = root ? check_root(root, dir, path, step, m, e)
                  : AGIR_BAD(e, "%s: not valid JSON (hint: the checkpoint is corrupt)", path);
    cJSON_Delete(root);
    free(text);
    return rc;
}
