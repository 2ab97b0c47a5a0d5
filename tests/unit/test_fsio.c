// The output checks, temporary files and signal handling of core/fsio.c:
//  - agir_same_file sees through "./", "..", symbolic and hard links, also for files not yet made;
//  - agir_output_check refuses an output that is an input (even with force), an existing file
//    without force, a folder, a place where no file can be created, and leaves nothing behind;
//  - a write removes the temporaries of the same target left by processes that no longer exist,
//    and only those;
//  - SIGINT during a write removes its temporary file and ends the process by SIGINT; deferred, the
//    first signal is only recorded.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/fsio.h"
#include "testutil.h"

static void touch(const char *path) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("data\n", f);
    fclose(f);
}

static void join(char *out, size_t n, const char *dir, const char *name) {
    int k = snprintf(out, n, "%s/%s", dir, name);
    assert_true(k > 0 && (size_t)k < n);
}

// A folder holding data.h5, a symbolic link link.h5 and a hard link hard.h5 to it, other.h5 and
// a folder sub.
typedef struct fixture {
    char dir[512], data[700], lnk[700], hard[700], other[700], sub[700];
} fixture;

static void make_fixture(fixture *f) {
    agir_test_tmpdir(f->dir, sizeof f->dir);
    join(f->data, sizeof f->data, f->dir, "data.h5");
    join(f->lnk, sizeof f->lnk, f->dir, "link.h5");
    join(f->hard, sizeof f->hard, f->dir, "hard.h5");
    join(f->other, sizeof f->other, f->dir, "other.h5");
    join(f->sub, sizeof f->sub, f->dir, "sub");
    touch(f->data);
    touch(f->other);
    assert_int_equal(symlink(f->data, f->lnk), 0);
    assert_int_equal(link(f->data, f->hard), 0);
    assert_int_equal(mkdir(f->sub, 0777), 0);
}

static void same_file(void **state) {
    (void)state;
    fixture f;
    make_fixture(&f);
    char dotted[800];
    snprintf(dotted, sizeof dotted, "%s/./sub/../data.h5", f.dir);
    assert_true(agir_same_file(f.data, f.data));
    assert_true(agir_same_file(f.data, f.lnk));
    assert_true(agir_same_file(f.lnk, f.data));
    assert_true(agir_same_file(f.hard, f.data));
    assert_true(agir_same_file(dotted, f.data));
    assert_false(agir_same_file(f.data, f.other));
    assert_false(agir_same_file(f.data, f.sub));
    // Not made yet: the same name in the same folder, however it is spelled.
    char n1[700], n2[800], n3[700];
    join(n1, sizeof n1, f.dir, "new.csv");
    snprintf(n2, sizeof n2, "%s/sub/../new.csv", f.dir);
    join(n3, sizeof n3, f.dir, "other.csv");
    assert_true(agir_same_file(n1, n2));
    assert_false(agir_same_file(n1, n3));
    assert_false(agir_same_file(n1, f.data));
}

// Expects rc = 2 and msg containing `want`.
static void refused(int rc, const agir_err *e, const char *want) {
    if (rc != AGIR_EINPUT || !strstr(e->msg, want)) fail_msg("rc %d, message '%s', wanted '%s'", rc, e->msg, want);
}

static void output_check(void **state) {
    (void)state;
    fixture f;
    make_fixture(&f);
    char out[700], missing[700];
    join(out, sizeof out, f.dir, "out.h5");
    join(missing, sizeof missing, f.dir, "no/such/folder/out.h5");
    const char *inputs[] = {NULL, f.data};
    agir_err e = {0};
    assert_int_equal(agir_output_check(out, inputs, 2, 0, &e), AGIR_OK);
    // Nothing left behind by the check, and the output not made.
    assert_int_equal(agir_test_count_entries(f.dir, ".out.h5"), 0);
    assert_int_equal(access(out, F_OK), -1);
    agir_err_clear(&e);
    refused(agir_output_check(f.data, inputs, 2, 1, &e), &e, "is the same file as the input");
    agir_err_clear(&e);
    refused(agir_output_check(f.lnk, inputs, 2, 1, &e), &e, "writing it would destroy the input");
    agir_err_clear(&e);
    refused(agir_output_check(f.hard, inputs, 2, 1, &e), &e, "is the same file as the input");
    touch(out);
    agir_err_clear(&e);
    refused(agir_output_check(out, inputs, 2, 0, &e), &e, "already exists (hint: pass --force");
    agir_err_clear(&e);
    assert_int_equal(agir_output_check(out, inputs, 2, 1, &e), AGIR_OK);
    agir_err_clear(&e);
    refused(agir_output_check(f.sub, inputs, 2, 1, &e), &e, "is a folder");
    agir_err_clear(&e);
    refused(agir_output_check(missing, inputs, 2, 0, &e), &e, "cannot create a file in folder");
    agir_err_clear(&e);
    refused(agir_output_check("", inputs, 2, 0, &e), &e, "empty");
    agir_err_clear(&e);
    refused(agir_output_check("/dev/null", inputs, 2, 1, &e), &e, "not a regular file");
}

// A process id that no longer exists: a child that has exited and been reaped.
static long dead_pid(void) {
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) _exit(0);
    waitpid(p, NULL, 0);
    return (long)p;
}

static void stale_temporaries(void **state) {
    (void)state;
    char dir[512], out[700], dead[800], alive[800], other[800];
    agir_test_tmpdir(dir, sizeof dir);
    join(out, sizeof out, dir, "out.json");
    snprintf(dead, sizeof dead, "%s/.out.json.tmp.%ld", dir, dead_pid());
    snprintf(alive, sizeof alive, "%s/.out.json.tmp.%ld", dir, (long)getppid());
    snprintf(other, sizeof other, "%s/.other.json.tmp.%ld", dir, dead_pid());
    touch(dead);
    touch(alive);
    touch(other);
    agir_err e = {0};
    assert_int_equal(agir_write_atomic(out, "{}\n", 3, &e), AGIR_OK);
    assert_int_equal(access(dead, F_OK), -1);   // a dead process's temporary of this target: removed
    assert_int_equal(access(alive, F_OK), 0);   // a live process's: kept
    assert_int_equal(access(other, F_OK), 0);   // another target's: not this write's business
    assert_int_equal(access(out, F_OK), 0);
}

// In a child: installs the handlers, starts a write and stops itself with SIGINT.
static void interrupted_write(void **state) {
    (void)state;
    char dir[512], out[700], tmp[800];
    agir_test_tmpdir(dir, sizeof dir);
    join(out, sizeof out, dir, "big.h5");
    fflush(NULL);
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) {
        agir_err e = {0};
        signal(SIGINT, SIG_DFL);  // as in a foreground process (a background job inherits it ignored)
        agir_signals_install();
        if (agir_atomic_tmpname(out, tmp, sizeof tmp, &e)) _exit(3);
        FILE *f = fopen(tmp, "wb");
        if (!f) _exit(4);
        fputs("half", f);
        fflush(f);
        if (access(tmp, F_OK)) _exit(5);
        raise(SIGINT);
        _exit(6);  // not reached
    }
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGINT);
    assert_int_equal(agir_test_count_entries(dir, ""), 0);
}

static void deferred_signal(void **state) {
    (void)state;
    fflush(NULL);
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) {
        signal(SIGTERM, SIG_DFL);
        agir_signals_install();
        agir_signals_defer(1);
        raise(SIGTERM);
        if (agir_signal_pending() != SIGTERM) _exit(1);
        agir_signals_defer(0);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_file),
        cmocka_unit_test(output_check),
        cmocka_unit_test(stale_temporaries),
        cmocka_unit_test(interrupted_write),
        cmocka_unit_test(deferred_signal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
