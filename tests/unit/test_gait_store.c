// Gait dataset: in-memory API, HDF5 round trip, byte determinism, atomic writes, and one case
// per validation rule of docs/dataset_format.md (bad files built here with the HDF5 API).
//
// With AGIR_H5PY_OUT=path set, writes the reference dataset described by ref_* below to that
// path and exits; tests/integration/h5py_readable.sh then checks it with h5py.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsio.h"
#include "datasets/gait.h"
#include "datasets/h5io.h"
#include "testutil.h"

// ---- the reference dataset -----------------------------------------------------------------
// Sequence s has ref_len[s] frames; coordinate (frame f of s, joint j, axis k) is
// s + 0.01 f + 0.1 j + 0.001 k (metres); gt columns "cadence" = 100 + s, "speed" = NaN for s == 1
// else 1 + 0.5 s. The h5py script recomputes these from the same description.

enum { REF_S = 3 };
static const int64_t ref_len[REF_S] = {10, 7, 5};
static const char *const ref_gt_names[2] = {"cadence", "speed"};

static float ref_coord(int s, int64_t f, int j, int k) { return (float)s + 0.01f * (float)f + 0.1f * (float)j + 0.001f * (float)k; }

static void make_ref(agir_gait *g) {
    agir_err e = {0};
    assert_int_equal(agir_gait_init(g, &agir_skel_h36m17, 2, ref_gt_names, &e), AGIR_OK);
    static const char *const ids[REF_S] = {"SUB01_on_walk_1", "SUB01_off_walk_1", "SUB02_off_walk_1"};
    static const char *const subj[REF_S] = {"SUB01", "SUB01", "SUB02"};
    static const char *const desc[REF_S] = {"Schrittlänge kurz, Armschwung ↓ — “slow”", NULL, ""};
    static const char *const rat[REF_S] = {"Foot: short steps. Arm: reduced swing. Overall: mild.", "Foot: ok.", NULL};
    static const int med[REF_S] = {AGIR_MED_ON, AGIR_MED_OFF, AGIR_MED_UNKNOWN};
    static const int score[REF_S] = {1, 2, -1};
    static const float fps[REF_S] = {20.0f, 150.0f, 30.0f};
    for (int s = 0; s < REF_S; s++) {
        float *fr = malloc((size_t)ref_len[s] * H36M_J * 3 * sizeof *fr);
        for (int64_t f = 0; f < ref_len[s]; f++)
            for (int j = 0; j < H36M_J; j++)
                for (int k = 0; k < 3; k++) fr[(f * H36M_J + j) * 3 + k] = ref_coord(s, f, j, k);
        agir_seq m = {.id = (char *)ids[s], .subject = (char *)subj[s], .medication = med[s], .updrs_gait = score[s],
                      .fps = fps[s], .source = "synth", .description = (char *)desc[s], .rationale = (char *)rat[s]};
        float gt[2] = {100.0f + (float)s, s == 1 ? NAN : 1.0f + 0.5f * (float)s};
        assert_int_equal(agir_gait_append(g, &m, fr, ref_len[s], gt, &e), AGIR_OK);
        free(fr);
    }
}

static void write_ref(const char *path) {
    agir_gait g;
    agir_err e = {0};
    make_ref(&g);
    int rc = agir_gait_write(&g, path, &e);
    if (rc) fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, AGIR_OK);
    agir_gait_free(&g);
}

static int str_eq(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

static void assert_same(const agir_gait *a, const agir_gait *b) {
    assert_ptr_equal(a->skel, b->skel);
    assert_int_equal(a->n_seq, b->n_seq);
    assert_int_equal(a->n_frames, b->n_frames);
    assert_int_equal(a->n_gt, b->n_gt);
    for (int i = 0; i < a->n_gt; i++) assert_string_equal(a->gt_names[i], b->gt_names[i]);
    for (int64_t s = 0; s < a->n_seq; s++) {
        const agir_seq *p = &a->seq[s], *q = &b->seq[s];
        assert_string_equal(p->id, q->id);
        assert_string_equal(p->subject, q->subject);
        assert_string_equal(p->source, q->source);
        // "" and NULL both mean "no text"; the store keeps one spelling of it (NULL).
        assert_true(str_eq(p->description && *p->description ? p->description : NULL, q->description));
        assert_true(str_eq(p->rationale && *p->rationale ? p->rationale : NULL, q->rationale));
        assert_int_equal(p->medication, q->medication);
        assert_int_equal(p->updrs_gait, q->updrs_gait);
        assert_true(p->fps == q->fps);
        assert_int_equal(p->length, q->length);
        size_t n = (size_t)p->length * (size_t)a->skel->n_joints * 3;
        assert_memory_equal(agir_gait_seq_frames(a, s), agir_gait_seq_frames(b, s), n * sizeof(float));
        for (int i = 0; i < a->n_gt; i++) {
            float x = a->gt[s * a->n_gt + i], y = b->gt[s * b->n_gt + i];
            assert_true((isnan(x) && isnan(y)) || x == y);
        }
    }
}

// ---- in-memory API --------------------------------------------------------------------------

static void test_append_and_lookup(void **state) {
    (void)state;
    agir_gait g;
    agir_err e = {0};
    make_ref(&g);
    assert_int_equal(g.n_seq, REF_S);
    assert_int_equal(g.n_frames, 22);
    assert_int_equal(g.seq[1].offset, 10);
    assert_int_equal(g.seq[2].offset, 17);
    assert_true(agir_gait_seq_frames(&g, 2)[3 * 4 + 1] == ref_coord(2, 0, 4, 1));
    assert_int_equal(agir_gait_find(&g, "SUB01_off_walk_1"), 1);
    assert_int_equal(agir_gait_find(&g, "nope"), -1);
    assert_int_equal(agir_gait_gt_col(&g, "speed"), 1);
    assert_int_equal(agir_gait_gt_col(&g, "stride"), -1);
    assert_true(isnan(g.gt[1 * 2 + 1]));
    // Only the rationale changes when the description's own pointer is passed back.
    assert_int_equal(agir_gait_set_text(&g, 0, g.seq[0].description, "Foot: new.", &e), AGIR_OK);
    assert_string_equal(g.seq[0].rationale, "Foot: new.");
    assert_string_equal(g.seq[0].description, "Schrittlänge kurz, Armschwung ↓ — “slow”");
    assert_int_equal(agir_gait_set_text(&g, 0, NULL, NULL, &e), AGIR_OK);
    assert_null(g.seq[0].description);
    assert_int_not_equal(agir_gait_set_text(&g, 9, NULL, NULL, &e), AGIR_OK);
    agir_gait_free(&g);
}

static void test_append_grows(void **state) {
    (void)state;
    agir_gait g;
    agir_err e = {0};
    assert_int_equal(agir_gait_init(&g, &agir_skel_h36m17, 1, ref_gt_names, &e), AGIR_OK);
    float fr[2 * H36M_J * 3];
    for (int i = 0; i < 2 * H36M_J * 3; i++) fr[i] = (float)i;
    char id[32];
    for (int s = 0; s < 1000; s++) {
        snprintf(id, sizeof id, "s%d", s);
        agir_seq m = {.id = id, .subject = "x", .fps = 20, .updrs_gait = -1, .medication = -1};
        float gt = (float)s;
        assert_int_equal(agir_gait_append(&g, &m, fr, 1 + s % 2, &gt, &e), AGIR_OK);
    }
    assert_int_equal(g.n_seq, 1000);
    assert_int_equal(g.n_frames, 1500);
    assert_true(g.cap_seq >= 1000 && g.cap_seq < 4000);
    assert_true(g.gt[999] == 999.0f);
    assert_true(agir_gait_seq_frames(&g, 999)[H36M_J * 3 + 5] == (float)(H36M_J * 3 + 5));
    assert_int_equal(agir_gait_find(&g, "s777"), 777);
    agir_gait_free(&g);
}

// ---- store ----------------------------------------------------------------------------------

static void path_in(char *out, size_t sz, const char *dir, const char *name) { snprintf(out, sz, "%s/%s", dir, name); }

static void test_round_trip(void **state) {
    (void)state;
    char dir[256], path[512];
    agir_test_tmpdir(dir, sizeof dir);
    path_in(path, sizeof path, dir, "ref.h5");
    agir_gait a, b;
    agir_err e = {0};
    make_ref(&a);
    assert_int_equal(agir_gait_write(&a, path, &e), AGIR_OK);
    int rc = agir_gait_read(&b, path, &e);
    if (rc) fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, AGIR_OK);
    assert_same(&a, &b);
    assert_null(b.seq[2].description);  // "" was stored as "no text"
    assert_null(b.seq[2].rationale);
    // A read dataset is a normal one: appending works.
    agir_seq m = {.id = "extra", .subject = "SUB09", .fps = 20, .updrs_gait = 0, .medication = 0};
    assert_int_equal(agir_gait_append(&b, &m, agir_gait_seq_frames(&a, 0), 3, NULL, &e), AGIR_OK);
    assert_true(isnan(b.gt[3 * 2]));
    agir_gait_free(&a);
    agir_gait_free(&b);
}

static void test_read_image(void **state) {
    (void)state;
    char dir[256], path[512];
    agir_test_tmpdir(dir, sizeof dir);
    path_in(path, sizeof path, dir, "ref.h5");
    write_ref(path);
    char *buf;
    size_t len;
    agir_err e = {0};
    assert_int_equal(agir_read_file(path, 1 << 24, &buf, &len, &e), AGIR_OK);
    agir_gait a, b;
    make_ref(&a);
    assert_int_equal(agir_gait_read_image(&b, buf, len, "mem.h5", &e), AGIR_OK);
    assert_same(&a, &b);
    agir_gait_free(&b);
    // A cut image is refused by name, before libhdf5 parses it.
    assert_int_equal(agir_gait_read_image(&b, buf, len / 2, "mem.h5", &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "mem.h5: file is truncated"));
    agir_gait_free(&a);
    free(buf);
}

static void test_empty_round_trip(void **state) {
    (void)state;
    char dir[256], path[512];
    agir_test_tmpdir(dir, sizeof dir);
    path_in(path, sizeof path, dir, "empty.h5");
    for (int n_gt = 0; n_gt <= 2; n_gt += 2) {
        agir_gait a, b;
        agir_err e = {0};
        assert_int_equal(agir_gait_init(&a, &agir_skel_h36m17, n_gt, ref_gt_names, &e), AGIR_OK);
        assert_int_equal(agir_gait_write(&a, path, &e), AGIR_OK);
        int rc = agir_gait_read(&b, path, &e);
        if (rc) fprintf(stderr, "%s\n", e.msg);
        assert_int_equal(rc, AGIR_OK);
        assert_same(&a, &b);
        agir_gait_free(&a);
        agir_gait_free(&b);
    }
}

static void read_bytes(const char *path, char **buf, size_t *len) {
    agir_err e = {0};
    assert_int_equal(agir_read_file(path, 1 << 26, buf, len, &e), AGIR_OK);
}

static void test_byte_deterministic(void **state) {
    (void)state;
    char dir[256], p1[512], p2[512];
    agir_test_tmpdir(dir, sizeof dir);
    path_in(p1, sizeof p1, dir, "a.h5");
    path_in(p2, sizeof p2, dir, "b.h5");
    write_ref(p1);
    sleep(1);  // time stamps, were any left, would now differ
    write_ref(p2);
    char *a, *b;
    size_t na, nb;
    read_bytes(p1, &a, &na);
    read_bytes(p2, &b, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    free(a);
    free(b);
}

static void test_atomic_write(void **state) {
    (void)state;
    char dir[256], path[512], bad[600];
    agir_test_tmpdir(dir, sizeof dir);
    path_in(path, sizeof path, dir, "data.h5");
    write_ref(path);
    assert_int_equal(agir_test_count_entries(dir, ""), 1);  // no temporary left behind
    char *before, *after;
    size_t nb, na;
    read_bytes(path, &before, &nb);
    // A dataset the reader would refuse is not written, and the previous file stays.
    agir_gait g;
    agir_err e = {0};
    make_ref(&g);
    g.frames[5] = NAN;
    assert_int_equal(agir_gait_write(&g, path, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "not written"));
    assert_non_null(strstr(e.msg, "SUB01_on_walk_1"));
    read_bytes(path, &after, &na);
    assert_int_equal(na, nb);
    assert_memory_equal(before, after, nb);
    assert_int_equal(agir_test_count_entries(dir, ""), 1);
    g.frames[5] = 0;
    // A missing folder is the user's to fix (exit 2), with the path in the message.
    snprintf(bad, sizeof bad, "%s/missing/data.h5", dir);
    agir_err_clear(&e);
    assert_int_equal(agir_gait_write(&g, bad, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, bad));
    assert_null(strchr(e.msg, '\n'));
    assert_int_equal(agir_test_count_entries(dir, ""), 1);
    agir_gait_free(&g);
    free(before);
    free(after);
}

// ---- validation: bad files ------------------------------------------------------------------

// Reads `path`, requires an input error whose one-line message names the file and holds `w1`
// and `w2` (when given), and a zeroed dataset afterwards.
static void expect_bad(const char *path, const char *w1, const char *w2) {
    agir_gait g;
    agir_err e = {0};
    int rc = agir_gait_read(&g, path, &e);
    if (rc != AGIR_EINPUT || !strstr(e.msg, w1) || (w2 && !strstr(e.msg, w2)))
        fprintf(stderr, "rc %d, message: %s (wanted '%s'%s%s)\n", rc, e.msg, w1, w2 ? ", " : "", w2 ? w2 : "");
    assert_int_equal(rc, AGIR_EINPUT);
    assert_int_equal(e.code, AGIR_EINPUT);
    assert_non_null(strstr(e.msg, path));
    assert_non_null(strstr(e.msg, "hint:"));
    assert_null(strchr(e.msg, '\n'));
    assert_non_null(strstr(e.msg, w1));
    if (w2) assert_non_null(strstr(e.msg, w2));
    assert_int_equal(g.n_seq, 0);
    assert_null(g.frames);
}

// A fresh copy of the reference file to spoil (one folder per process keeps /tmp tidy).
static void fresh(char *path, size_t sz) {
    static char dir[256];
    if (!dir[0]) agir_test_tmpdir(dir, sizeof dir);
    path_in(path, sz, dir, "data.h5");
    write_ref(path);
}

static agir_h5w open_rw(const char *path) {
    agir_h5w w = {H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT), path};
    assert_true(w.file >= 0);
    return w;
}

static void close_rw(agir_h5w *w) {
    agir_err e = {0};
    assert_int_equal(agir_h5w_close(w, &e), AGIR_OK);
}

static void unlink_obj(agir_h5w *w, const char *obj) { assert_true(H5Ldelete(w->file, obj, H5P_DEFAULT) >= 0); }

// Replaces dataset `obj` with a numeric one.
static void put(const char *path, const char *obj, agir_h5_type t, int rank, const int64_t *dims, const void *data) {
    agir_h5w w = open_rw(path);
    agir_err e = {0};
    unlink_obj(&w, obj);
    assert_int_equal(agir_h5w_write(&w, obj, t, rank, dims, data, &e), AGIR_OK);
    close_rw(&w);
}

static void put_strings(const char *path, const char *obj, int64_t n, const char *const *s) {
    agir_h5w w = open_rw(path);
    agir_err e = {0};
    unlink_obj(&w, obj);
    assert_int_equal(agir_h5w_strings(&w, obj, n, s, &e), AGIR_OK);
    close_rw(&w);
}

static void put_attr(const char *path, const char *attr, const char *value) {
    agir_h5w w = open_rw(path);
    agir_err e = {0};
    assert_true(H5Adelete(w.file, attr) >= 0);
    assert_int_equal(agir_h5w_attr_str(&w, "/", attr, value, &e), AGIR_OK);
    close_rw(&w);
}

// The reference's per-sequence int64 column with one entry changed.
static void put_i64(const char *path, const char *obj, const int64_t *v) {
    int64_t n = REF_S;
    put(path, obj, AGIR_H5_I64, 1, &n, v);
}

static void put_i8(const char *path, const char *obj, const int8_t *v) {
    int64_t n = REF_S;
    put(path, obj, AGIR_H5_I8, 1, &n, v);
}

static void test_bad_header(void **state) {
    (void)state;
    char p[512];
    fresh(p, sizeof p);
    put_attr(p, "format", "agir-tokens");
    expect_bad(p, "format attribute is 'agir-tokens'", NULL);

    fresh(p, sizeof p);
    {
        agir_h5w w = open_rw(p);
        agir_err e = {0};
        assert_true(H5Adelete(w.file, "version") >= 0);
        assert_int_equal(agir_h5w_attr_i64(&w, "/", "version", 2, &e), AGIR_OK);
        close_rw(&w);
    }
    expect_bad(p, "version 2", NULL);

    fresh(p, sizeof p);
    {
        agir_h5w w = open_rw(p);
        assert_true(H5Adelete(w.file, "version") >= 0);
        close_rw(&w);
    }
    expect_bad(p, "attribute 'version'", "missing");

    fresh(p, sizeof p);
    put_attr(p, "skeleton", "smpl24");
    expect_bad(p, "unknown skeleton 'smpl24'", NULL);

    fresh(p, sizeof p);
    const char *names[H36M_J];
    for (int j = 0; j < H36M_J; j++) names[j] = agir_skel_h36m17.joint_names[j];
    names[3] = "l_foot", names[6] = "r_foot";
    put_strings(p, "/skeleton/joint_names", H36M_J, names);
    expect_bad(p, "/skeleton/joint_names", "joint 3 is 'l_foot'");

    fresh(p, sizeof p);
    int32_t parents[H36M_J];
    for (int j = 0; j < H36M_J; j++) parents[j] = agir_skel_h36m17.parents[j];
    parents[10] = 7;
    int64_t nj = H36M_J;
    put(p, "/skeleton/parents", AGIR_H5_I32, 1, &nj, parents);
    expect_bad(p, "/skeleton/parents", "joint 10");

    fresh(p, sizeof p);
    int64_t nj1 = H36M_J - 1;
    put(p, "/skeleton/parents", AGIR_H5_I32, 1, &nj1, parents);
    expect_bad(p, "/skeleton/parents: expected shape (17)", "found (16)");
}

static void test_bad_frames(void **state) {
    (void)state;
    char p[512];
    static double d[22 * H36M_J * 3];
    static float f[22 * H36M_J * 3];
    fresh(p, sizeof p);
    int64_t dims[3] = {22, H36M_J, 3};
    put(p, "/frames", AGIR_H5_F64, 3, dims, d);
    expect_bad(p, "/frames: expected float32, found float64", NULL);

    fresh(p, sizeof p);
    int64_t d2[2] = {22, H36M_J * 3};
    put(p, "/frames", AGIR_H5_F32, 2, d2, f);
    expect_bad(p, "/frames: expected shape (*, 17, 3)", "found (22, 51)");

    fresh(p, sizeof p);
    int64_t d3[3] = {22, 3, H36M_J};
    put(p, "/frames", AGIR_H5_F32, 3, d3, f);
    expect_bad(p, "/frames: expected shape (*, 17, 3)", "found (22, 3, 17)");

    // NaN inside sequence 2 at its frame 1, joint 4 -> named by id.
    fresh(p, sizeof p);
    memset(f, 0, sizeof f);
    f[((17 + 1) * H36M_J + 4) * 3 + 2] = NAN;
    put(p, "/frames", AGIR_H5_F32, 3, dims, f);
    expect_bad(p, "sequence 'SUB02_off_walk_1': frame 1, joint 4 (l_hip)", "nan");

    fresh(p, sizeof p);
    f[((17 + 1) * H36M_J + 4) * 3 + 2] = -INFINITY;
    put(p, "/frames", AGIR_H5_F32, 3, dims, f);
    expect_bad(p, "sequence 'SUB02_off_walk_1'", "-inf");

    // Fewer frames than the sequences cover.
    fresh(p, sizeof p);
    int64_t d4[3] = {20, H36M_J, 3};
    memset(f, 0, sizeof f);
    put(p, "/frames", AGIR_H5_F32, 3, d4, f);
    expect_bad(p, "sequence 'SUB02_off_walk_1': offset 17 + length 5 runs past the 20 frames", NULL);
}

static void test_bad_slices(void **state) {
    (void)state;
    char p[512];
    fresh(p, sizeof p);
    put_i64(p, "/sequences/offset", (const int64_t[]){0, 10, 900});
    expect_bad(p, "sequence 'SUB02_off_walk_1': offset 900 + length 5 runs past the 22 frames", NULL);

    fresh(p, sizeof p);
    put_i64(p, "/sequences/offset", (const int64_t[]){0, 8, 17});
    expect_bad(p, "sequence 'SUB01_off_walk_1': frames 8..14 overlap sequence 'SUB01_on_walk_1'", NULL);

    fresh(p, sizeof p);
    put_i64(p, "/sequences/offset", (const int64_t[]){0, 10, -1});
    expect_bad(p, "sequence 'SUB02_off_walk_1': offset -1", NULL);

    fresh(p, sizeof p);
    put_i64(p, "/sequences/length", (const int64_t[]){10, 0, 5});
    expect_bad(p, "sequence 'SUB01_off_walk_1': length 0", "at least one of its frames");

    fresh(p, sizeof p);
    put_i64(p, "/sequences/length", (const int64_t[]){10, -3, 5});
    expect_bad(p, "sequence 'SUB01_off_walk_1': length -3", NULL);

    fresh(p, sizeof p);
    put_i64(p, "/sequences/length", (const int64_t[]){10, INT64_MAX, 5});
    expect_bad(p, "runs past", NULL);

    fresh(p, sizeof p);
    float off[REF_S] = {0, 10, 17};
    int64_t n = REF_S;
    put(p, "/sequences/offset", AGIR_H5_F32, 1, &n, off);
    expect_bad(p, "/sequences/offset: expected int64, found float32", NULL);

    fresh(p, sizeof p);
    int32_t off32[REF_S] = {0, 10, 17};
    put(p, "/sequences/offset", AGIR_H5_I32, 1, &n, off32);
    expect_bad(p, "/sequences/offset: expected int64, found int32", NULL);
}

static void test_bad_values(void **state) {
    (void)state;
    char p[512];
    int64_t n = REF_S;
    fresh(p, sizeof p);
    put(p, "/sequences/fps", AGIR_H5_F32, 1, &n, (const float[]){20, 0, 30});
    expect_bad(p, "sequence 'SUB01_off_walk_1': fps 0", NULL);

    fresh(p, sizeof p);
    put(p, "/sequences/fps", AGIR_H5_F32, 1, &n, (const float[]){20, 20, INFINITY});
    expect_bad(p, "sequence 'SUB02_off_walk_1': fps inf", NULL);

    fresh(p, sizeof p);
    put_i8(p, "/sequences/updrs_gait", (const int8_t[]){0, 7, 1});
    expect_bad(p, "sequence 'SUB01_off_walk_1': updrs_gait 7 outside -1..4", NULL);

    fresh(p, sizeof p);
    put_i8(p, "/sequences/updrs_gait", (const int8_t[]){-2, 0, 1});
    expect_bad(p, "updrs_gait -2", NULL);

    fresh(p, sizeof p);
    put_i8(p, "/sequences/medication", (const int8_t[]){0, 1, 2});
    expect_bad(p, "sequence 'SUB02_off_walk_1': medication 2 outside -1..1", NULL);

    fresh(p, sizeof p);
    put(p, "/sequences/medication", AGIR_H5_U8, 1, &n, (const uint8_t[]){0, 1, 1});
    expect_bad(p, "/sequences/medication: expected int8, found uint8", NULL);
}

static void test_bad_ids_and_lengths(void **state) {
    (void)state;
    char p[512];
    fresh(p, sizeof p);
    put_strings(p, "/sequences/id", REF_S, (const char *const[]){"a", "b", "a"});
    expect_bad(p, "sequence 'a': id used by sequences 0 and 2", NULL);

    fresh(p, sizeof p);
    put_strings(p, "/sequences/id", REF_S, (const char *const[]){"a", "", "c"});
    expect_bad(p, "sequence 1: empty id", NULL);

    fresh(p, sizeof p);
    put_strings(p, "/sequences/subject", REF_S, (const char *const[]){"a", "\xff\xfe", "c"});
    expect_bad(p, "/sequences/subject: string 1 is not valid UTF-8", NULL);

    // Every /sequences array has one entry per id.
    fresh(p, sizeof p);
    int64_t two = 2;
    put(p, "/sequences/fps", AGIR_H5_F32, 1, &two, (const float[]){20, 20});
    expect_bad(p, "/sequences/fps: expected shape (3) (one entry per /sequences/id), found (2)", NULL);

    fresh(p, sizeof p);
    put_strings(p, "/sequences/rationale", 4, (const char *const[]){"a", "b", "c", "d"});
    expect_bad(p, "/sequences/rationale: expected shape (3)", "found (4)");

    fresh(p, sizeof p);
    {
        agir_h5w w = open_rw(p);
        unlink_obj(&w, "/sequences/length");
        close_rw(&w);
    }
    expect_bad(p, "/sequences/length: missing", NULL);

    fresh(p, sizeof p);
    {
        static char text[70001];
        memset(text, 'a', sizeof text - 1);
        put_strings(p, "/sequences/description", REF_S, (const char *const[]){"x", text, "y"});
    }
    expect_bad(p, "/sequences/description", "more than the 65536 allowed");
}

static void test_bad_ground_truth(void **state) {
    (void)state;
    char p[512];
    float v[REF_S * 3] = {0};
    fresh(p, sizeof p);
    int64_t d[2] = {REF_S, 3};
    put(p, "/ground_truth/values", AGIR_H5_F32, 2, d, v);
    expect_bad(p, "/ground_truth/values: expected shape (3, 2)", "found (3, 3)");

    fresh(p, sizeof p);
    int64_t d2[2] = {REF_S, 2};
    v[3] = INFINITY;
    put(p, "/ground_truth/values", AGIR_H5_F32, 2, d2, v);
    expect_bad(p, "sequence 'SUB01_off_walk_1': ground-truth 'speed' is infinite", NULL);

    fresh(p, sizeof p);
    put_strings(p, "/ground_truth/names", 2, (const char *const[]){"speed", "speed"});
    expect_bad(p, "ground-truth column 'speed' appears twice", NULL);
}

// Links, storage and filters libhdf5 must never be asked to follow.
static void test_bad_storage(void **state) {
    (void)state;
    char p[512];
    fresh(p, sizeof p);
    {
        agir_h5w w = open_rw(p);
        unlink_obj(&w, "/frames");
        assert_true(H5Lcreate_external("/etc/other.h5", "/frames", w.file, "/frames", H5P_DEFAULT, H5P_DEFAULT) >= 0);
        close_rw(&w);
    }
    expect_bad(p, "/frames: is an external link", NULL);

    fresh(p, sizeof p);
    {
        agir_h5w w = open_rw(p);
        unlink_obj(&w, "/sequences");
        assert_true(H5Lcreate_external("other.h5", "/sequences", w.file, "/sequences", H5P_DEFAULT, H5P_DEFAULT) >= 0);
        close_rw(&w);
    }
    expect_bad(p, "/sequences: is an external link", NULL);

    fresh(p, sizeof p);
    {
        agir_h5w w = open_rw(p);
        unlink_obj(&w, "/sequences/fps");
        assert_true(H5Lcreate_soft("/sequences/length", w.file, "/sequences/fps", H5P_DEFAULT, H5P_DEFAULT) >= 0);
        close_rw(&w);
    }
    expect_bad(p, "/sequences/fps: is a soft", NULL);

    hsize_t dims[3] = {22, H36M_J, 3};
    fresh(p, sizeof p);
    {
        agir_h5w w = open_rw(p);
        unlink_obj(&w, "/frames");
        hid_t space = H5Screate_simple(3, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
        assert_true(H5Pset_virtual(dcpl, space, "other.h5", "/frames", space) >= 0);
        hid_t ds = H5Dcreate2(w.file, "/frames", H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        assert_true(ds >= 0);
        H5Dclose(ds), H5Pclose(dcpl), H5Sclose(space);
        close_rw(&w);
    }
    expect_bad(p, "/frames: is a virtual dataset", NULL);

    fresh(p, sizeof p);
    {
        agir_h5w w = open_rw(p);
        unlink_obj(&w, "/frames");
        hid_t space = H5Screate_simple(3, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
        assert_true(H5Pset_external(dcpl, "raw.bin", 0, 22 * H36M_J * 3 * 4) >= 0);
        hid_t ds = H5Dcreate2(w.file, "/frames", H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        assert_true(ds >= 0);
        H5Dclose(ds), H5Pclose(dcpl), H5Sclose(space);
        close_rw(&w);
    }
    expect_bad(p, "/frames: keeps its data in 1 external file", NULL);

    // A built-in filter outside the allowed set.
    fresh(p, sizeof p);
    {
        agir_h5w w = open_rw(p);
        unlink_obj(&w, "/frames");
        hid_t space = H5Screate_simple(3, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
        assert_true(H5Pset_chunk(dcpl, 3, dims) >= 0 && H5Pset_scaleoffset(dcpl, H5Z_SO_FLOAT_DSCALE, 3) >= 0);
        hid_t ds = H5Dcreate2(w.file, "/frames", H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        static float z[22 * H36M_J * 3];
        assert_true(ds >= 0 && H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, z) >= 0);
        H5Dclose(ds), H5Pclose(dcpl), H5Sclose(space);
        close_rw(&w);
    }
    expect_bad(p, "/frames: uses HDF5 filter 6", NULL);

    // A huge shape with nothing stored: refused before any allocation.
    fresh(p, sizeof p);
    {
        agir_h5w w = open_rw(p);
        unlink_obj(&w, "/frames");
        hsize_t big[3] = {(hsize_t)1 << 30, H36M_J, 3}, chunk[3] = {1024, H36M_J, 3};
        hid_t space = H5Screate_simple(3, big, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
        assert_true(H5Pset_chunk(dcpl, 3, chunk) >= 0 && H5Pset_deflate(dcpl, 1) >= 0);
        hid_t ds = H5Dcreate2(w.file, "/frames", H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        assert_true(ds >= 0);
        H5Dclose(ds), H5Pclose(dcpl), H5Sclose(space);
        close_rw(&w);
    }
    expect_bad(p, "/frames: its shape needs 219043332096 bytes but only 0 are stored", NULL);

    fresh(p, sizeof p);
    {
        agir_h5w w = open_rw(p);
        unlink_obj(&w, "/frames");
        agir_err e = {0};
        assert_int_equal(agir_h5w_group(&w, "/frames", &e), AGIR_OK);
        close_rw(&w);
    }
    expect_bad(p, "/frames: is a group, not a dataset", NULL);
}

static void test_bad_bytes(void **state) {
    (void)state;
    char p[512];
    fresh(p, sizeof p);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(truncate(p, st.st_size / 2), 0);
    char want[128];
    snprintf(want, sizeof want, "file is truncated (%lld bytes, expected %lld)", (long long)(st.st_size / 2),
             (long long)st.st_size);
    expect_bad(p, want, NULL);

    assert_int_equal(truncate(p, 0), 0);
    expect_bad(p, "file is empty", NULL);

    agir_err e = {0};
    assert_int_equal(agir_write_atomic(p, "hello, not hdf5\n", 16, &e), AGIR_OK);
    expect_bad(p, "not an HDF5 file", NULL);

    // A user block shifts the superblock; the end-of-file check must still hold.
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    assert_true(H5Pset_userblock(fcpl, 512) >= 0);
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    assert_true(f >= 0);
    H5Fclose(f), H5Pclose(fcpl);
    expect_bad(p, "attribute 'format' of /: missing", NULL);
}

// ---- global heap references (variable-length strings) ----------------------------------------

static uint64_t le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void pwrite_at(const char *path, uint64_t off, const void *b, size_t n) {
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, (long)off, SEEK_SET), 0);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

// File offset of element i of vlen string dataset obj, and the heap collection it points into.
static void vlen_element(const char *path, const char *obj, size_t i, uint64_t *elem, uint64_t *heap) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), d = H5Dopen2(f, obj, H5P_DEFAULT);
    haddr_t off = H5Dget_offset(d);
    H5Dclose(d), H5Fclose(f);
    assert_true(off != HADDR_UNDEF);
    *elem = off + i * 16;  // length (4), address (8), index (4)
    unsigned char b[16];
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, (long)*elem, SEEK_SET), 0);
    assert_int_equal(fread(b, 1, 16, fp), 16);
    fclose(fp);
    *heap = le(b + 4, 8);
}

static void test_bad_heap(void **state) {
    (void)state;
    char p[512];
    uint64_t elem, heap;
    static const unsigned char idx999[4] = {0xe7, 0x03, 0, 0}, big[8] = {0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0};
    static const unsigned char zero[16] = {0}, len99[4] = {99, 0, 0, 0}, sb_addr[8] = {8, 0, 0, 0, 0, 0, 0, 0};

    fresh(p, sizeof p);
    vlen_element(p, "/sequences/id", 1, &elem, &heap);
    pwrite_at(p, elem + 12, idx999, 4);
    expect_bad(p, "/sequences/id: a string's heap reference does not match its heap", NULL);

    fresh(p, sizeof p);
    vlen_element(p, "/sequences/id", 1, &elem, &heap);
    pwrite_at(p, elem, len99, 4);
    expect_bad(p, "/sequences/id: a string's heap reference does not match its heap", NULL);

    fresh(p, sizeof p);
    vlen_element(p, "/sequences/id", 0, &elem, &heap);
    pwrite_at(p, elem + 4, sb_addr, 8);
    expect_bad(p, "/sequences/id: a string points at something not a heap", NULL);

    fresh(p, sizeof p);
    vlen_element(p, "/sequences/id", 0, &elem, &heap);
    pwrite_at(p, elem + 4, big, 8);
    expect_bad(p, "/sequences/id: a string points past the end of the file", NULL);

    // First object of the collection (after its 16-byte header) claims 2 GB.
    fresh(p, sizeof p);
    vlen_element(p, "/sequences/id", 0, &elem, &heap);
    pwrite_at(p, heap + 16 + 8, big, 8);
    expect_bad(p, ": a heap object runs past its collection", NULL);  // the first dataset using that heap

    // A free-space object of size 0: libhdf5's collection parser would loop forever.
    fresh(p, sizeof p);
    vlen_element(p, "/sequences/id", 0, &elem, &heap);
    pwrite_at(p, heap + 16, zero, 16);
    expect_bad(p, ": a heap object runs past its collection", NULL);  // the first dataset using that heap

    // Chunked variable-length strings cannot be checked, so they are refused.
    fresh(p, sizeof p);
    {
        agir_h5w w = open_rw(p);
        unlink_obj(&w, "/sequences/subject");
        hsize_t n = REF_S;
        hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate_simple(1, &n, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
        assert_true(H5Tset_size(t, H5T_VARIABLE) >= 0 && H5Pset_chunk(dcpl, 1, &n) >= 0);
        hid_t d = H5Dcreate2(w.file, "/sequences/subject", t, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        const char *v[REF_S] = {"a", "b", "c"};
        assert_true(d >= 0 && H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
        H5Dclose(d), H5Pclose(dcpl), H5Sclose(sp), H5Tclose(t);
        close_rw(&w);
    }
    expect_bad(p, "/sequences/subject: variable-length strings stored in chunks", NULL);

    // String attributes must be fixed-length: a variable-length one's heap reference is unreachable.
    fresh(p, sizeof p);
    {
        agir_h5w w = open_rw(p);
        assert_true(H5Adelete(w.file, "format") >= 0);
        hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
        assert_true(H5Tset_size(t, H5T_VARIABLE) >= 0);
        hid_t a = H5Acreate2(w.file, "format", t, sp, H5P_DEFAULT, H5P_DEFAULT);
        const char *v = "agir-gait";
        assert_true(a >= 0 && H5Awrite(a, t, &v) >= 0);
        H5Aclose(a), H5Sclose(sp), H5Tclose(t);
        close_rw(&w);
    }
    expect_bad(p, "attribute 'format' of /: variable-length string", NULL);
}

// ---- storage layouts (datasets/h5verify.c, check_layout) ----------------------------------------

// The whole file at path (*n bytes); caller frees.
static unsigned char *slurp(const char *path, size_t *n) {
    char *b;
    read_bytes(path, &b, n);
    return (unsigned char *)b;
}

// Replaces the only occurrence of old (n bytes) in the file by new.
static void patch_once(const char *path, const void *old, const void *new, size_t n) {
    size_t len, at = SIZE_MAX;
    unsigned char *b = slurp(path, &len);
    for (size_t i = 0; i + n <= len; i++) {
        if (memcmp(b + i, old, n)) continue;
        assert_true(at == SIZE_MAX);  // ambiguous patterns would make the test meaningless
        at = i;
    }
    free(b);
    assert_true(at != SIZE_MAX);
    pwrite_at(path, at, new, n);
}

static void put_u32s(unsigned char *p, const uint32_t *v, int n) {
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 4; k++) p[4 * i + k] = (unsigned char)(v[i] >> (8 * k));
}

static void put_u64(unsigned char *p, uint64_t v) {
    for (int k = 0; k < 8; k++) p[k] = (unsigned char)(v >> (8 * k));
}

// Rewrites the chunk extents of /frames in its layout message (version 3: 4-byte extents, then
// the element size; HDF5 File Format Specification 3.0, IV.A.2.i). The reference file stores
// all 22 frames in one (22, 17, 3) float32 chunk.
static void patch_frame_chunk(const char *path, uint32_t d0, uint32_t d1) {
    static const uint32_t was[4] = {22, 17, 3, 4};
    const uint32_t now[4] = {d0, d1, 3, 4};
    unsigned char a[16], b[16];
    put_u32s(a, was, 4);
    put_u32s(b, now, 4);
    patch_once(path, a, b, sizeof a);
}

// Replaces /sequences/offset with a contiguous copy and patches its layout message (version 3:
// 3, 1, address, size) to the given address and size.
static void patch_contiguous_offset(const char *path, int64_t addr_delta, int64_t size_delta) {
    agir_h5w w = open_rw(path);
    unlink_obj(&w, "/sequences/offset");
    hsize_t n = REF_S;
    int64_t v[REF_S] = {0, ref_len[0], ref_len[0] + ref_len[1]};
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(w.file, "/sequences/offset", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(d >= 0 && H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    haddr_t off = H5Dget_offset(d);
    H5Dclose(d), H5Sclose(sp);
    close_rw(&w);
    assert_true(off != HADDR_UNDEF);
    unsigned char a[18] = {3, 1}, b[18] = {3, 1};
    put_u64(a + 2, off), put_u64(a + 10, sizeof v);
    put_u64(b + 2, (uint64_t)((int64_t)off + addr_delta)), put_u64(b + 10, (uint64_t)((int64_t)sizeof v + size_delta));
    patch_once(path, a, b, sizeof a);
}

// Layouts whose addresses or sizes libhdf5 1.10 would copy out of bounds with (the first one
// was found by tests/fuzz/fuzz_gait_h5.c): each must be refused before H5Dread.
static void test_bad_layout(void **state) {
    (void)state;
    char p[512];
    fresh(p, sizeof p);
    patch_frame_chunk(p, 22, 18);  // axis 1 has a fixed extent of 17
    expect_bad(p, "/frames: a chunk extent is 0 or larger than the dataset's fixed extent", NULL);

    // Axis 0 is unlimited, so a longer chunk is legal, but not one 1000x larger than deflate can
    // make the few hundred stored bytes.
    fresh(p, sizeof p);
    patch_frame_chunk(p, 22000, 17);
    expect_bad(p, "/frames: a chunk's stored size does not match its chunk shape", NULL);

    // Twice the rows passes that bound, but the stream inflates to half the chunk: libhdf5 would
    // copy the other half from past its buffer.
    fresh(p, sizeof p);
    patch_frame_chunk(p, 44, 17);
    expect_bad(p, "/frames: a chunk's stored size does not match its chunk shape", NULL);

    fresh(p, sizeof p);
    {
        hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT), d = H5Dopen2(f, "/frames", H5P_DEFAULT);
        hid_t sp = H5Dget_space(d);  // libhdf5 1.10 mishandles H5S_ALL here
        haddr_t addr;
        hsize_t size;
        assert_true(H5Dget_chunk_info(d, sp, 0, NULL, NULL, &addr, &size) >= 0);
        H5Sclose(sp), H5Dclose(d), H5Fclose(f);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        unsigned char a[8], b[8];
        put_u64(a, addr), put_u64(b, (uint64_t)st.st_size - size / 2);
        patch_once(p, a, b, sizeof a);  // the chunk index's only pointer to it
    }
    expect_bad(p, "/frames: a chunk lies past the end of the file", NULL);

    fresh(p, sizeof p);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    patch_contiguous_offset(p, 0, 64);
    expect_bad(p, "/sequences/offset: its stored size does not match its shape and type", NULL);

    fresh(p, sizeof p);
    patch_contiguous_offset(p, st.st_size, 0);
    expect_bad(p, "/sequences/offset: its data lies past the end of the file", NULL);
}

// A root attribute message whose datatype size runs past it: libhdf5 1.10 would read past its
// buffer when looking up any root attribute (found by tests/fuzz/fuzz_gait_h5.c). Attribute
// message version 1 (HDF5 File Format Specification 3.0, IV.A.2.m): version, reserved, name
// size, datatype size, dataspace size, then the name padded to 8 bytes.
static void test_bad_root_attr(void **state) {
    (void)state;
    char p[512];
    fresh(p, sizeof p);
    static const unsigned char was[4] = {1, 0, 8, 0};  // version 1, name of 8 bytes
    size_t len, at = SIZE_MAX;
    unsigned char *b = slurp(p, &len);
    for (size_t i = 0; i + 14 <= len; i++)  // header with unknown type/space sizes, then the name
        if (!memcmp(b + i, was, sizeof was) && !memcmp(b + i + 8, "version", 8)) at = i;
    free(b);
    assert_true(at != SIZE_MAX);
    static const unsigned char huge[2] = {0xff, 0x7f};
    pwrite_at(p, at + 4, huge, 2);
    expect_bad(p, "/: an attribute message's parts run past it", NULL);
}

// Valid deflated chunks of every block type must pass the inflated-length check: level 0 writes
// stored blocks, and short or random data gets fixed Huffman blocks rather than dynamic ones;
// with fletcher32 after deflate and without shuffle too.
static void test_deflate_kinds(void **state) {
    (void)state;
    enum { N = 5000, CH = 1000 };
    static int32_t x[N];
    uint32_t r = 12345;
    for (int i = 0; i < N; i++) {
        r = r * 1664525u + 1013904223u;
        x[i] = i < N / 2 ? (int32_t)(r >> 8) : i % 7;  // random half, then a repetitive half
    }
    char dir[256], p[512];
    agir_test_tmpdir(dir, sizeof dir);
    path_in(p, sizeof p, dir, "levels.h5");
    static const int levels[4] = {0, 1, 9, 6};
    for (int k = 0; k < 4; k++) {
        hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        hsize_t n = N, ch = CH;
        hid_t sp = H5Screate_simple(1, &n, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
        assert_true(H5Pset_chunk(dcpl, 1, &ch) >= 0);
        if (k < 3) assert_true(H5Pset_shuffle(dcpl) >= 0);
        assert_true(H5Pset_deflate(dcpl, (unsigned)levels[k]) >= 0);
        if (k == 3) assert_true(H5Pset_fletcher32(dcpl) >= 0);
        hid_t d = H5Dcreate2(f, "/x", H5T_STD_I32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        assert_true(d >= 0 && H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) >= 0);
        H5Dclose(d), H5Pclose(dcpl), H5Sclose(sp), H5Fclose(f);
        agir_h5 h;
        agir_err e = {0};
        int64_t dims[1] = {-1};
        int32_t *got = NULL;
        assert_int_equal(agir_h5_open(&h, p, &e), AGIR_OK);
        int rc = agir_h5_read(&h, "/x", AGIR_H5_I32, 1, dims, NULL, (void **)&got, &e);
        if (rc) fprintf(stderr, "level %d: %s\n", levels[k], e.msg);
        assert_int_equal(rc, AGIR_OK);
        assert_memory_equal(got, x, sizeof x);
        free(got);
        agir_h5_close(&h);
    }
}

// Heap and chunk addresses are relative to the base address, which a user block moves; the
// checks must follow libhdf5 there.
static void test_userblock(void **state) {
    (void)state;
    char dir[256], p[512];
    agir_test_tmpdir(dir, sizeof dir);
    path_in(p, sizeof p, dir, "ub.h5");
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    assert_true(H5Pset_userblock(fcpl, 1024) >= 0);
    agir_h5w w = {H5Fcreate(p, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT), p};
    H5Pclose(fcpl);
    assert_true(w.file >= 0);
    agir_err e = {0};
    const char *v[3] = {"first", "zwei ✓", NULL};
    assert_int_equal(agir_h5w_strings(&w, "/s", 3, v, &e), AGIR_OK);
    close_rw(&w);
    agir_h5 f;
    assert_int_equal(agir_h5_open(&f, p, &e), AGIR_OK);
    assert_int_equal((int)f.base, 1024);
    char **s;
    int64_t n = -1;
    assert_int_equal(agir_h5_read_strings(&f, "/s", &n, NULL, 64, &s, &e), AGIR_OK);
    assert_int_equal(n, 3);
    assert_string_equal(s[0], "first");
    assert_string_equal(s[1], "zwei ✓");
    assert_string_equal(s[2], "");
    agir_h5_free_strings(s, n);
    agir_h5_close(&f);

    // A chunked, deflated dataset: H5Dget_chunk_info gives addresses relative to the base.
    static const int32_t x[4] = {7, -1, 1 << 30, 42};
    w.file = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(w.file >= 0);
    int64_t dims[1] = {4};
    assert_int_equal(agir_h5w_write(&w, "/x", AGIR_H5_I32, 1, dims, x, &e), AGIR_OK);
    close_rw(&w);
    assert_int_equal(agir_h5_open(&f, p, &e), AGIR_OK);
    int32_t *got;
    dims[0] = -1;
    assert_int_equal(agir_h5_read(&f, "/x", AGIR_H5_I32, 1, dims, NULL, (void **)&got, &e), AGIR_OK);
    assert_int_equal(dims[0], 4);
    assert_memory_equal(got, x, sizeof x);
    free(got);
    agir_h5_close(&f);
}

int main(void) {
    agir_err e = {0};
    if (agir_h5_init(&e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    const char *out = getenv("AGIR_H5PY_OUT");
    if (out && *out) {
        write_ref(out);
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_lookup), cmocka_unit_test(test_append_grows),
        cmocka_unit_test(test_round_trip),        cmocka_unit_test(test_read_image),
        cmocka_unit_test(test_empty_round_trip),  cmocka_unit_test(test_byte_deterministic),
        cmocka_unit_test(test_atomic_write),      cmocka_unit_test(test_bad_header),
        cmocka_unit_test(test_bad_frames),        cmocka_unit_test(test_bad_slices),
        cmocka_unit_test(test_bad_values),        cmocka_unit_test(test_bad_ids_and_lengths),
        cmocka_unit_test(test_bad_ground_truth),  cmocka_unit_test(test_bad_storage),
        cmocka_unit_test(test_bad_bytes),         cmocka_unit_test(test_bad_heap),
        cmocka_unit_test(test_userblock),        cmocka_unit_test(test_bad_layout),
        cmocka_unit_test(test_deflate_kinds),     cmocka_unit_test(test_bad_root_attr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
