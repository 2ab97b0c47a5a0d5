// Bounded reads and the atomic write protocol (temp file, fsync, rename, folder fsync).
#include "core/fsio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
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

// ---------------------------------------------------------------------------------------------
// Temporary files in flight, removed by the signal handlers

enum { LIVE_MAX = 16 };
static struct {
    volatile sig_atomic_t on;
    char path[4096];
} live[LIVE_MAX];

static void live_add(const char *tmp) {
    size_t n = strlen(tmp);
    if (n >= sizeof live[0].path) return;
    for (int i = 0; i < LIVE_MAX; i++) {
        if (live[i].on) continue;
        memcpy(live[i].path, tmp, n + 1);
        live[i].on = 1;
        return;
    }
}

static void live_del(const char *tmp) {
    for (int i = 0; i < LIVE_MAX; i++)
        if (live[i].on && !strcmp(live[i].path, tmp)) live[i].on = 0;
}

static volatile sig_atomic_t deferring, pending;

static void on_signal(int sig) {
    if (deferring && !pending) {
        pending = sig;
        return;
    }
    int removed = 0;
    for (int i = 0; i < LIVE_MAX; i++)
        if (live[i].on && unlink(live[i].path) == 0) removed++;
    static const char msg[] = "agir: interrupted\n", msg_rm[] = "agir: interrupted; temporary files removed\n";
    ssize_t w = removed ? write(STDERR_FILENO, msg_rm, sizeof msg_rm - 1) : write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    signal(sig, SIG_DFL);
    raise(sig);
}

void agir_signals_install(void) {
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
        struct sigaction old, sa;
        if (sigaction(sigs[i], NULL, &old) != 0 || old.sa_handler == SIG_IGN) continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

void agir_signals_defer(int on) { deferring = on; }

int agir_signal_pending(void) { return pending; }

// ---------------------------------------------------------------------------------------------
// Temporary names

// Removes ".BASE.tmp.PID" files in dir whose process no longer exists.
static void remove_stale(const char *dir, const char *base) {
    DIR *d = opendir(dir);
    if (!d) return;
    size_t bl = strlen(base);
    long self = (long)getpid();
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *s = de->d_name;
        if (s[0] != '.' || strncmp(s + 1, base, bl) || strncmp(s + 1 + bl, ".tmp.", 5)) continue;
        const char *digits = s + 1 + bl + 5;
        char *end;
        errno = 0;
        long pid = strtol(digits, &end, 10);
        if (!*digits || *end || errno || pid <= 0 || pid == self) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to judge
        char p[4096];
        struct stat st;
        int k = snprintf(p, sizeof p, "%s/%s", dir, s);
        if (k > 0 && (size_t)k < sizeof p && lstat(p, &st) == 0 && S_ISREG(st.st_mode)) unlink(p);
    }
    closedir(d);
}

// The folder and last component of path ("." for a bare name); refuses names of folders.
static int split_path(const char *path, char *dir, size_t dirsz, const char **base, agir_err *e) {
    if (dir_of(path, dir, dirsz)) return AGIR_BAD(e, "%s: path too long", path);
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    if (!*b || !strcmp(b, ".") || !strcmp(b, ".."))
        return AGIR_BAD(e, "%s: path names a folder, not a file (hint: add a file name)", path);
    *base = b;
    return AGIR_OK;
}

// tmp = "DIR/.BASE.tmp.PID" for path = DIR/BASE; *base points into path.
static int tmp_sibling(const char *path, char *tmp, size_t tmpsz, char *dir, size_t dirsz, const char **base,
                       agir_err *e) {
    AGIR_TRY(split_path(path, dir, dirsz, base, e));
    int k = snprintf(tmp, tmpsz, "%s/.%s.tmp.%ld", dir, *base, (long)getpid());
    if (k < 0 || (size_t)k >= tmpsz) return AGIR_BAD(e, "%s: path too long", path);
    return AGIR_OK;
}

int agir_atomic_tmpname(const char *path, char *tmp, size_t tmpsz, agir_err *e) {
    char dir[4096];
    const char *base;
    AGIR_TRY(tmp_sibling(path, tmp, tmpsz, dir, sizeof dir, &base, e));
    remove_stale(dir, base);  // once per write, here (agir_output_check's probe needs no scan)
    live_add(tmp);
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
        agir_atomic_abort(tmp);
        return e->code;
    }
    if (rename(tmp, path) != 0) {
        int rc = agir_err_io(e, path, "cannot rename temporary file into place");
        agir_atomic_abort(tmp);
        return rc;
    }
    live_del(tmp);
    char dir[4096];
    if (dir_of(path, dir, sizeof dir)) return AGIR_BAD(e, "%s: path too long", path);
    return agir_fsync_dir(dir, e);
}

void agir_atomic_abort(const char *tmp) {
    unlink(tmp);
    live_del(tmp);
}

int agir_atomic_fopen(agir_afile *a, const char *path, agir_err *e) {
    a->f = NULL;
    size_t n = strlen(path);
    if (n + 1 > sizeof a->path) return AGIR_BAD(e, "%s: path too long", path);
    memcpy(a->path, path, n + 1);
    AGIR_TRY(agir_atomic_tmpname(path, a->tmp, sizeof a->tmp, e));
    a->f = fopen(a->tmp, "wb");
    if (!a->f) {
        int rc = agir_err_io(e, path, "cannot open for writing");
        agir_atomic_abort(a->tmp);
        return rc;
    }
    return AGIR_OK;
}

int agir_atomic_fclose(agir_afile *a, int ok, agir_err *e) {
    if (!a->f) return ok ? AGIR_BUG(e, "atomic file %s was not open", a->path) : AGIR_OK;
    int werr = ferror(a->f);
    int cerr = fclose(a->f);
    a->f = NULL;
    if (!ok) {
        agir_atomic_abort(a->tmp);
        return AGIR_OK;
    }
    if (werr || cerr) {
        int rc = agir_err_io(e, a->path, "write failed");
        agir_atomic_abort(a->tmp);
        return rc;
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

// ---------------------------------------------------------------------------------------------
// Output checks

// Identity of a path: the file's device and inode when it exists, else its folder's plus its name.
typedef struct path_id {
    dev_t dev;
    ino_t ino;
    int exists;
    const char *base;  // NULL when the file exists
} path_id;

static int identify(const char *p, path_id *id) {
    struct stat st;
    memset(id, 0, sizeof *id);
    if (stat(p, &st) == 0) {
        id->dev = st.st_dev, id->ino = st.st_ino, id->exists = 1;
        return 0;
    }
    char dir[4096];
    if (dir_of(p, dir, sizeof dir) || stat(dir, &st) != 0) return 1;
    const char *b = strrchr(p, '/');
    id->base = b ? b + 1 : p;
    id->dev = st.st_dev, id->ino = st.st_ino;
    return 0;
}

int agir_same_file(const char *a, const char *b) {
    path_id x, y;
    if (identify(a, &x) || identify(b, &y) || x.exists != y.exists) return 0;
    if (x.dev != y.dev || x.ino != y.ino) return 0;
    return x.exists || !strcmp(x.base, y.base);
}

int agir_output_check(const char *out, const char *const *inputs, int n_inputs, int force, agir_err *e) {
    if (!out || !*out) return AGIR_BAD(e, "an output file name is empty (hint: give a file name)");
    for (int i = 0; i < n_inputs; i++)
        if (inputs[i] && agir_same_file(out, inputs[i]))
            return AGIR_BAD(e, "%s: is the same file as the input %s; writing it would destroy the input (hint: "
                            "choose another output file)", out, inputs[i]);
    struct stat st, lst;
    int exists = lstat(out, &lst) == 0;
    if (exists && stat(out, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return AGIR_BAD(e, "%s: is a folder, not a file (hint: name a file inside it, e.g. %s/out)", out, out);
        if (!S_ISREG(st.st_mode))
            return AGIR_BAD(e, "%s: exists and is not a regular file (hint: choose another output file)", out);
    }
    if (exists && !force)
        return AGIR_BAD(e, "%s: already exists (hint: pass --force to replace it, or choose another output file)",
                        out);
    // Can a file be created there? The same temporary name the write will use, created and removed.
    char tmp[4096], dir[4096];
    const char *base;
    AGIR_TRY(tmp_sibling(out, tmp, sizeof tmp, dir, sizeof dir, &base, e));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) {
        char what[4200];
        snprintf(what, sizeof what, "cannot create a file in folder '%s'", dir);
        return agir_err_io(e, out, what);
    }
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    return AGIR_OK;
}
