// Bounded reads and the atomic write protocol (temp file, fsync, rename, folder fsync).
#include "core/fsio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int agir_read_file(const char *path, size_t max_bytes, char **out, size_t *len, agir_err *e) {
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return agir_err_io(e, path, "cannot open");
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        return agir_err_io(e, path, "cannot stat");
    }
    if (!S_ISREG(st.st_mode)) {
        fclose(f);
        return AGIR_BAD(e, "%s: not a regular file (hint: pass the path of a file)", path);
    }
    if ((unsigned long long)st.st_size > max_bytes) {
        fclose(f);
        return AGIR_BAD(e, "%s: file is %lld bytes, more than the %zu allowed (hint: is this the right file?)",
                        path, (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return AGIR_BUG(e, "out of memory reading %s (%zu bytes)", path, n);
    }
    size_t got = fread(buf, 1, n, f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr || got != n) {
        free(buf);
        return agir_err_io(e, path, "read failed");
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return AGIR_OK;
}

static int dir_of(const char *path, char *dir, size_t dirsz) {
    size_t n = strlen(path);
    if (n + 1 > dirsz) return 1;
    memcpy(dir, path, n + 1);
    char *d = dirname(dir);  // may return a static "." or point into dir
    if (d != dir) {
        size_t k = strlen(d);
        memmove(dir, d, k + 1);
    }
    return 0;
}

int agir_fsync_dir(const char *dir, agir_err *e) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return agir_err_io(e, dir, "cannot open folder for fsync");
    int rc = fsync(fd);
    close(fd);
    if (rc != 0 && errno != EINVAL) return agir_err_io(e, dir, "folder fsync failed");
    return AGIR_OK;
}

int agir_atomic_tmpname(const char *path, char *tmp, size_t tmpsz, agir_err *e) {
    char dir[4096];
    if (dir_of(path, dir, sizeof dir)) return AGIR_BAD(e, "%s: path too long", path);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (!*base) return AGIR_BAD(e, "%s: path names a folder, not a file (hint: add a file name)", path);
    int k = snprintf(tmp, tmpsz, "%s/.%s.tmp.%ld", dir, base, (long)getpid());
    if (k < 0 || (size_t)k >= tmpsz) return AGIR_BAD(e, "%s: path too long", path);
    return AGIR_OK;
}

static int fsync_path(const char *p, agir_err *e) {
    int fd = open(p, O_RDONLY);
    if (fd < 0) return agir_err_io(e, p, "cannot reopen for fsync");
    int rc = fsync(fd);
    close(fd);
    if (rc != 0) return agir_err_io(e, p, "fsync failed");
    return AGIR_OK;
}

int agir_atomic_commit(const char *tmp, const char *path, agir_err *e) {
    if (fsync_path(tmp, e)) {
        unlink(tmp);
        return e->code;
    }
    if (rename(tmp, path) != 0) {
        int rc = agir_err_io(e, path, "cannot rename temporary file into place");
        unlink(tmp);
        return rc;
    }
    char dir[4096];
    if (dir_of(path, dir, sizeof dir)) return AGIR_BAD(e, "%s: path too long", path);
    return agir_fsync_dir(dir, e);
}

void agir_atomic_abort(const char *tmp) { unlink(tmp); }

int agir_atomic_fopen(agir_afile *a, const char *path, agir_err *e) {
    a->f = NULL;
    size_t n = strlen(path);
    if (n + 1 > sizeof a->path) return AGIR_BAD(e, "%s: path too long", path);
    memcpy(a->path, path, n + 1);
    AGIR_TRY(agir_atomic_tmpname(path, a->tmp, sizeof a->tmp, e));
    a->f = fopen(a->tmp, "wb");
    if (!a->f) return agir_err_io(e, path, "cannot open for writing");
    return AGIR_OK;
}

int agir_atomic_fclose(agir_afile *a, int ok, agir_err *e) {
    if (!a->f) return ok ? AGIR_BUG(e, "atomic file %s was not open", a->path) : AGIR_OK;
    int werr = ferror(a->f);
    int cerr = fclose(a->f);
    a->f = NULL;
    if (!ok) {
        unlink(a->tmp);
        return AGIR_OK;
    }
    if (werr || cerr) {
        unlink(a->tmp);
        return agir_err_io(e, a->path, "write failed");
    }
    return agir_atomic_commit(a->tmp, a->path, e);
}

int agir_write_atomic(const char *path, const void *data, size_t len, agir_err *e) {
    agir_afile a;
    AGIR_TRY(agir_atomic_fopen(&a, path, e));
    int ok = fwrite(data, 1, len, a.f) == len;
    if (!ok) {
        int rc = agir_err_io(e, path, "write failed");
        agir_atomic_fclose(&a, 0, e);
        return rc;
    }
    return agir_atomic_fclose(&a, 1, e);
}

int agir_mkdirs(const char *path, agir_err *e) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0) return AGIR_OK;
    if (n + 1 > sizeof buf) return AGIR_BAD(e, "%s: path too long", path);
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return agir_err_io(e, buf, "cannot create folder");
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) return agir_err_io(e, buf, "cannot create folder");
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
        return AGIR_BAD(e, "%s: exists and is not a folder (hint: choose another output folder)", buf);
    return AGIR_OK;
}

int agir_path_join(char *out, size_t outsz, const char *dir, const char *name, agir_err *e) {
    int k = snprintf(out, outsz, "%s/%s", dir, name);
    if (k < 0 || (size_t)k >= outsz) return AGIR_BAD(e, "%s/%s: path too long", dir, name);
    return AGIR_OK;
}

int agir_map_file(const char *path, agir_map *m, agir_err *e) {
    m->data = NULL;
    m->size = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return agir_err_io(e, path, "cannot open");
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return agir_err_io(e, path, "cannot stat");
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return AGIR_BAD(e, "%s: not a regular file (hint: pass the path of a file)", path);
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return agir_err_io(e, path, "cannot map");
        }
        m->data = p;
        m->size = (size_t)st.st_size;
    }
    close(fd);
    return AGIR_OK;
}

void agir_unmap(agir_map *m) {
    if (m->data) munmap((void *)m->data, m->size);
    m->data = NULL;
    m->size = 0;
}
