// BMCLab importer: markers built from a known H36M pose map back to it (z-up and y-up labs, mixed
// label styles, Plug-in Gait names), frame dropping, resampling, sequence ids from file names,
// discovery, the metadata CSV, and a whole import from C3D files written to a temporary tree.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "datasets/annotations.h"
#include "datasets/bmclab.h"
#include "testutil.h"

// ---- a known pose and the markers around it ----

// H36M-17 pose in AGIR axes (metres, y up) at frame f: a standing body drifting forward along x.
static void pose(int64_t f, float j[H36M_J][3]) {
    static const float base[H36M_J][3] = {
        [H36M_RHIP] = {-0.10f, 0.90f, 0.00f},     [H36M_LHIP] = {0.10f, 0.90f, 0.00f},
        [H36M_RKNEE] = {-0.10f, 0.50f, 0.02f},    [H36M_LKNEE] = {0.10f, 0.50f, -0.02f},
        [H36M_RFOOT] = {-0.10f, 0.10f, 0.00f},    [H36M_LFOOT] = {0.10f, 0.10f, 0.05f},
        [H36M_SPINE] = {0.00f, 1.15f, 0.01f},     [H36M_THORAX] = {0.00f, 1.40f, 0.00f},
        [H36M_LSHOULDER] = {0.18f, 1.38f, 0.0f},  [H36M_LELBOW] = {0.20f, 1.10f, 0.05f},
        [H36M_LWRIST] = {0.21f, 0.85f, 0.10f},    [H36M_RSHOULDER] = {-0.18f, 1.38f, 0.0f},
        [H36M_RELBOW] = {-0.20f, 1.10f, -0.05f},  [H36M_RWRIST] = {-0.21f, 0.85f, -0.10f},
    };
    memcpy(j, base, sizeof base);
    for (int a = 0; a < 3; a++) {
        j[H36M_PELVIS][a] = 0.5f * (j[H36M_LHIP][a] + j[H36M_RHIP][a]);
        j[H36M_NECK][a] = j[H36M_THORAX][a] + 1e-3f * agir_bmclab_neck_mm[a];
        j[H36M_HEAD][a] = j[H36M_THORAX][a] + 1e-3f * agir_bmclab_head_mm[a];
    }
    for (int k = 0; k < H36M_J; k++) j[k][0] += 0.01f * (float)f + 0.05f * sinf(0.3f * (float)f);
}

typedef struct marker {
    const char *label;
    int joint;
    float d[3];  // offset from the joint (AGIR axes, metres); pairs use +d and -d
} marker;

// The data set's own style mixed with Plug-in Gait names and a subject prefix; LHEE and *12 are
// markers the mapping does not use.
static const marker full_set[] = {
    {"SUB01:L.ASIS", H36M_LHIP, {0.01f, 0.02f, 0.08f}},   {"L.PSIS", H36M_LHIP, {-0.01f, -0.02f, -0.08f}},
    {"RASI", H36M_RHIP, {-0.01f, 0.02f, 0.08f}},          {"R.PSIS", H36M_RHIP, {0.01f, -0.02f, -0.08f}},
    {"LKNE", H36M_LKNEE, {0}},                            {"R.Knee", H36M_RKNEE, {0}},
    {"L.Ankle", H36M_LFOOT, {0}},                         {"RANK", H36M_RFOOT, {0}},
    {"C7", H36M_THORAX, {0.0f, 0.01f, -0.07f}},           {"CLAV", H36M_THORAX, {0.0f, -0.01f, 0.07f}},
    {"STRN", H36M_SPINE, {0.0f, 0.0f, 0.09f}},            {"SUB01:T10", H36M_SPINE, {0.0f, 0.0f, -0.09f}},
    {"LSHO", H36M_LSHOULDER, {0}},                        {"R.SHO", H36M_RSHOULDER, {0}},
    {"L.EL", H36M_LELBOW, {0.03f, 0.0f, 0.0f}},           {"L.EM", H36M_LELBOW, {-0.03f, 0.0f, 0.0f}},
    {"R.EL", H36M_RELBOW, {-0.03f, 0.0f, 0.0f}},          {"R.EM", H36M_RELBOW, {0.03f, 0.0f, 0.0f}},
    {"LWRA", H36M_LWRIST, {0.02f, 0.0f, 0.01f}},          {"LWRB", H36M_LWRIST, {-0.02f, 0.0f, -0.01f}},
    {"R.WL", H36M_RWRIST, {-0.02f, 0.0f, 0.01f}},         {"R.WM", H36M_RWRIST, {0.02f, 0.0f, -0.01f}},
    {"LHEE", H36M_LFOOT, {0.0f, -0.05f, -0.05f}},         {"*12", H36M_PELVIS, {0.3f, 0.3f, 0.3f}},
};
#define N_FULL (int)(sizeof full_set / sizeof *full_set)

// Markers of `set` over F frames, in lab axes (z up: (x, -z, y) of AGIR's; else AGIR's) and mm.
static void markers(agir_c3d *c, const marker *set, int n, int64_t F, int z_up) {
    agir_err e;
    agir_err_clear(&e);
    assert_int_equal(agir_c3d_alloc(c, F, n, 150, &e), AGIR_OK);
    for (int m = 0; m < n; m++) c->labels[m] = strdup(set[m].label);
    for (int64_t f = 0; f < F; f++) {
        float j[H36M_J][3];
        pose(f, j);
        for (int m = 0; m < n; m++) {
            float p[3];
            for (int a = 0; a < 3; a++) p[a] = j[set[m].joint][a] + set[m].d[a];
            float *o = c->xyz + 3 * ((size_t)f * (size_t)n + (size_t)m);
            o[0] = 1000 * p[0];
            o[1] = 1000 * (z_up ? -p[2] : p[1]);
            o[2] = 1000 * (z_up ? p[1] : p[2]);
        }
    }
}

static void expect_pose(const float *joints, int64_t f, float tol) {
    float j[H36M_J][3];
    pose(f, j);
    for (int k = 0; k < H36M_J; k++)
        for (int a = 0; a < 3; a++) {
            if (fabsf(joints[3 * k + a] - j[k][a]) > tol) {
                print_error("frame %lld joint %d axis %d: %g, expected %g\n", (long long)f, k, a,
                            (double)joints[3 * k + a], (double)j[k][a]);
                fail();
            }
        }
}

static void map_ok(const agir_c3d *c, int up, agir_bmclab_trial *t) {
    agir_err e;
    agir_err_clear(&e);
    int rc = agir_bmclab_map(c, "t.c3d", up, t, &e);
    if (rc) print_error("%s\n", e.msg);
    assert_int_equal(rc, AGIR_OK);
}

static void recovers_pose(void **state) {
    (void)state;
    for (int z_up = 0; z_up < 2; z_up++) {
        agir_c3d c;
        markers(&c, full_set, N_FULL, 12, z_up);
        agir_bmclab_trial t;
        map_ok(&c, AGIR_UP_AUTO, &t);
        assert_int_equal(t.up, z_up ? AGIR_UP_Z : AGIR_UP_Y);
        assert_int_equal(t.n, 12);
        assert_int_equal(t.dropped, 0);
        assert_int_equal(t.partial_joints, 0);
        for (int64_t f = 0; f < t.n; f++) {
            expect_pose(t.joints + f * H36M_J * 3, f, 1e-5f);
            assert_float_equal(t.t[f], (double)f / 150.0, 1e-12);
        }
        agir_bmclab_trial_free(&t);
        // Forcing the other axis must change the result (the option is honoured).
        map_ok(&c, z_up ? AGIR_UP_Y : AGIR_UP_Z, &t);
        float j[H36M_J][3];
        pose(0, j);
        assert_true(fabsf(t.joints[3 * H36M_HEAD + 1] - j[H36M_HEAD][1]) > 0.1f);
        agir_bmclab_trial_free(&t);
        // Centimetres are converted too.
        for (size_t i = 0; i < 3 * (size_t)c.n_frames * (size_t)c.n_points; i++) c.xyz[i] /= 10;
        snprintf(c.units, sizeof c.units, "cm");
        map_ok(&c, AGIR_UP_AUTO, &t);
        expect_pose(t.joints, 0, 1e-5f);
        agir_bmclab_trial_free(&t);
        agir_c3d_free(&c);
    }
}

static void drops_frames(void **state) {
    (void)state;
    agir_c3d c;
    markers(&c, full_set, N_FULL, 12, 1);
    int lwrb = 19, c7 = 8, lhee = 22;
    c.valid[3 * N_FULL + lwrb] = 0;                       // missing sample
    memset(c.xyz + 3 * (7 * N_FULL + c7), 0, 3 * sizeof(float));  // all-zero sample
    c.valid[10 * N_FULL + lhee] = 0;                      // unused marker: frame kept
    agir_bmclab_trial t;
    map_ok(&c, AGIR_UP_AUTO, &t);
    assert_int_equal(t.n, 10);
    assert_int_equal(t.dropped, 2);
    const int64_t kept[10] = {0, 1, 2, 4, 5, 6, 8, 9, 10, 11};
    for (int i = 0; i < 10; i++) {
        assert_float_equal(t.t[i], (double)kept[i] / 150.0, 1e-12);
        expect_pose(t.joints + (size_t)i * H36M_J * 3, kept[i], 1e-5f);
    }
    agir_bmclab_trial_free(&t);
    // No frame at all: an empty trial, not an error.
    memset(c.valid, 0, (size_t)c.n_frames * (size_t)c.n_points);
    map_ok(&c, AGIR_UP_AUTO, &t);
    assert_int_equal(t.n, 0);
    assert_int_equal(t.dropped, 12);
    agir_bmclab_trial_free(&t);
    agir_c3d_free(&c);
}

// Plug-in Gait has no medial elbow marker: the elbow is then the lateral marker alone.
static void plug_in_gait(void **state) {
    (void)state;
    marker set[N_FULL];
    int n = 0;
    for (int m = 0; m < N_FULL; m++) {
        if (strstr(full_set[m].label, ".EM")) continue;
        set[n] = full_set[m];
        if (!strcmp(set[n].label, "L.EL")) set[n].label = "LELB";
        if (!strcmp(set[n].label, "R.EL")) set[n].label = "RELB";
        n++;
    }
    agir_c3d c;
    markers(&c, set, n, 3, 1);
    agir_bmclab_trial t;
    map_ok(&c, AGIR_UP_AUTO, &t);
    assert_int_equal(t.partial_joints, 1 << H36M_LELBOW | 1 << H36M_RELBOW);
    float j[H36M_J][3];
    pose(0, j);
    assert_float_equal(t.joints[3 * H36M_LELBOW + 0], j[H36M_LELBOW][0] + 0.03f, 1e-5);
    assert_float_equal(t.joints[3 * H36M_RELBOW + 0], j[H36M_RELBOW][0] - 0.03f, 1e-5);
    assert_float_equal(t.joints[3 * H36M_LWRIST + 0], j[H36M_LWRIST][0], 1e-5);
    agir_bmclab_trial_free(&t);
    agir_c3d_free(&c);
}

static void map_fails(agir_c3d *c, int up, const char *needle) {
    agir_bmclab_trial t;
    agir_err e;
    agir_err_clear(&e);
    int rc = agir_bmclab_map(c, "t.c3d", up, &t, &e);
    if (rc != AGIR_EINPUT || !strstr(e.msg, needle) || !strstr(e.msg, "t.c3d")) {
        print_error("rc=%d msg='%s', expected '%s'\n", rc, e.msg, needle);
        fail();
    }
}

static void marker_errors(void **state) {
    (void)state;
    agir_c3d c;
    markers(&c, full_set, N_FULL, 2, 1);
    free(c.labels[8]);
    c.labels[8] = strdup("C7_old");
    map_fails(&c, AGIR_UP_AUTO, "no marker for C7");
    free(c.labels[8]);
    c.labels[8] = strdup("LASI");  // a second name for L.ASIS
    map_fails(&c, AGIR_UP_AUTO, "both name marker L.ASIS");
    agir_c3d_free(&c);
    markers(&c, full_set, N_FULL, 2, 1);
    snprintf(c.units, sizeof c.units, "ft");
    map_fails(&c, AGIR_UP_AUTO, "POINT:UNITS is 'ft'");
    agir_c3d_free(&c);
    // Upside down (feet above the thorax) cannot be told apart: ask for --up.
    markers(&c, full_set, N_FULL, 2, 1);
    for (size_t i = 0; i < (size_t)c.n_frames * (size_t)c.n_points; i++) c.xyz[3 * i + 2] *= -1;
    map_fails(&c, AGIR_UP_AUTO, "cannot tell the vertical axis");
    agir_c3d_free(&c);

    char norm[32];
    agir_bmclab_norm_label("SUB01:L.Knee.Lat", norm, sizeof norm);
    assert_string_equal(norm, "LKNEELAT");
}

// Every alias is in normalised form and names one role only, or matching would depend on order.
static void alias_table(void **state) {
    (void)state;
    for (int r = 0; r < BMC_NROLES; r++) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", agir_bmclab_roles[r].aliases);
        for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " ")) {
            char norm[64];
            agir_bmclab_norm_label(tok, norm, sizeof norm);
            assert_string_equal(norm, tok);
            for (int q = 0; q < BMC_NROLES; q++) {
                if (q == r) continue;
                char other[256];
                snprintf(other, sizeof other, " %s ", agir_bmclab_roles[q].aliases);
                char needle[72];
                snprintf(needle, sizeof needle, " %s ", tok);
                if (strstr(other, needle)) fail_msg("alias %s names %s and %s", tok, agir_bmclab_roles[r].name,
                                                    agir_bmclab_roles[q].name);
            }
        }
    }
}

static void resamples(void **state) {
    (void)state;
    double times[4] = {0.0, 0.1, 0.2, 0.4};  // a gap between 0.2 and 0.4
    float joints[4 * H36M_J * 3];
    for (int f = 0; f < 4; f++)
        for (int q = 0; q < H36M_J * 3; q++) joints[f * H36M_J * 3 + q] = (float)(10 * times[f] + q);
    agir_bmclab_trial t = {.joints = joints, .t = times, .n = 4};
    float *out;
    int64_t n;
    agir_err e;
    agir_err_clear(&e);
    assert_int_equal(agir_bmclab_resample(&t, 20, &out, &n, &e), AGIR_OK);
    assert_int_equal(n, 9);  // 0, 0.05, ..., 0.4
    for (int64_t k = 0; k < n; k++)
        for (int q = 0; q < H36M_J * 3; q++)
            assert_float_equal(out[k * H36M_J * 3 + q], 0.5f * (float)k + (float)q, 1e-4);
    free(out);
    t.n = 1;
    assert_int_equal(agir_bmclab_resample(&t, 20, &out, &n, &e), AGIR_OK);
    assert_int_equal(n, 1);
    assert_float_equal(out[5], joints[5], 0);
    free(out);
    assert_int_equal(agir_bmclab_resample(&t, 0, &out, &n, &e), AGIR_EINPUT);
}

// ---- names ----

static void ids_from_names(void **state) {
    (void)state;
    struct {
        const char *path, *id;
    } good[] = {
        {"SUB01/SUB01_off_walk_1.c3d", "SUB01_off_walk_1"},
        {"SUB01/SUB01_OFF_Walk_03.C3D", "SUB01_off_walk_3"},
        {"SUB02/SUB02_on_walk_12b.c3d", "SUB02_on_walk_12b"},
        {"SUB05/on/walk-4.c3d", "SUB05_on_walk_4"},
        {"SUB07_off/SUB07_walk2.c3d", "SUB07_off_walk_2"},
        {"sub3/SUB3 on walk 1.c3d", "SUB03_on_walk_1"},
        {"SUB10/SUB10_on_walk_5_filtered.c3d", "SUB10_on_walk_5"},
    };
    agir_err e;
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        agir_bmclab_id id;
        agir_err_clear(&e);
        int rc = agir_bmclab_trial_id(good[i].path, &id, &e);
        if (rc) print_error("%s: %s\n", good[i].path, e.msg);
        assert_int_equal(rc, AGIR_OK);
        assert_string_equal(id.id, good[i].id);
        assert_true(agir_annot_key_ok(id.id));
    }
    struct {
        const char *path, *needle;
    } bad[] = {
        {"SUB01/SUB01_on_off_walk_1.c3d", "both on and off"},
        {"SUB01/SUB01_off_walk.c3d", "no walk number"},
        {"SUB01/SUB01_off_walk_1_walk_2.c3d", "more than one walk number"},
        {"SUB01/SUB02_off_walk_1.c3d", "says SUB02 but a folder says SUB01"},
        {"SUB01/SUB01_walk_1.c3d", "on or off"},
        {"SUB01_on/SUB01_off_walk_1.c3d", "says OFF medication but a folder says ON"},
        {"data/walk_1_off.c3d", "name a subject"},
        {"SUB01/SUB01_SUB02_off_walk_1.c3d", "two subjects"},
        {"SUB01/SUB01_off_walking_1.c3d", "no walk number"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        agir_bmclab_id id;
        agir_err_clear(&e);
        int rc = agir_bmclab_trial_id(bad[i].path, &id, &e);
        if (rc != AGIR_EINPUT || !strstr(e.msg, bad[i].needle) || !strstr(e.msg, bad[i].path)) {
            print_error("%s: rc=%d msg='%s', expected '%s'\n", bad[i].path, rc, e.msg, bad[i].needle);
            fail();
        }
    }
}

static void touch(const char *root, const char *rel, const void *data, size_t len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len) assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void discovers(void **state) {
    (void)state;
    char root[256];
    agir_test_tmpdir(root, sizeof root);
    const char *files[] = {"SUB02/SUB02_on_walk_1.c3d", "SUB01/SUB01_off_walk_10.c3d", "SUB01/SUB01_off_walk_2.c3d",
                           "SUB01/SUB01_static.c3d",    "SUB01/notes_walk.txt",        "other/SUB09_on_walk_1.c3d",
                           "SUB01/.SUB01_on_walk_1.c3d", "SUB02/on/SUB02_WALK_3.C3D"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) touch(root, files[i], NULL, 0);
    agir_bmclab_file *found;
    int n;
    agir_err e;
    agir_err_clear(&e);
    assert_int_equal(agir_bmclab_discover(root, &found, &n, &e), AGIR_OK);
    const char *want[] = {"SUB01_off_walk_2", "SUB01_off_walk_10", "SUB02_on_walk_1", "SUB02_on_walk_3"};
    assert_int_equal(n, 4);
    for (int i = 0; i < n; i++) assert_string_equal(found[i].id.id, want[i]);
    assert_non_null(strstr(found[0].path, "SUB01/SUB01_off_walk_2.c3d"));
    agir_bmclab_files_free(found, n);
    touch(root, "SUB01/SUB01_OFF_walk_02.c3d", NULL, 0);
    assert_int_equal(agir_bmclab_discover(root, &found, &n, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "both give sequence id SUB01_off_walk_2"));
    char empty[256];
    agir_test_tmpdir(empty, sizeof empty);
    agir_err_clear(&e);
    assert_int_equal(agir_bmclab_discover(empty, &found, &n, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "no *walk*.c3d files"));
}

// ---- metadata sheet ----

static void meta_ok(const char *text, agir_bmclab_meta *m) {
    agir_err e;
    agir_err_clear(&e);
    int rc = agir_bmclab_meta_parse(text, strlen(text), "meta.csv", m, &e);
    if (rc) print_error("%s\n", e.msg);
    assert_int_equal(rc, AGIR_OK);
}

static void expect_subject(const agir_bmclab_meta *m, const char *id, int on, int off) {
    const agir_bmclab_subject *s = agir_bmclab_meta_find(m, id);
    assert_non_null(s);
    assert_int_equal(s->on, on);
    assert_int_equal(s->off, off);
}

static void meta_csv(void **state) {
    (void)state;
    agir_bmclab_meta m;
    meta_ok("\xEF\xBB\xBFID;Gender;ON - UPDRS-III - walking;OFF - UPDRS-III - walking\r\n"
            "SUB01;M;1;2\r\n\"SUB02\";\"F; or not\";0;\"1\"\r\nSUB03;M;;NA\r\n;;;\r\n",
            &m);
    assert_int_equal(m.n, 3);
    expect_subject(&m, "SUB01", 1, 2);
    expect_subject(&m, "SUB02", 0, 1);
    expect_subject(&m, "SUB03", -1, -1);
    assert_null(agir_bmclab_meta_find(&m, "SUB04"));
    agir_bmclab_meta_free(&m);
    // Commas, quoted header names with commas and extra spaces, a title row, numbers as "2.0".
    meta_ok("Patient data,,,\n\"Age, years\",\" ON  -  UPDRS-III - Walking \",ID,\"OFF - UPDRS-III - walking\"\n"
            "60,2.0,1,\"2\"\n61,1,sub12,0\n",
            &m);
    assert_int_equal(m.n, 2);
    expect_subject(&m, "SUB01", 2, 2);
    expect_subject(&m, "SUB12", 1, 0);
    assert_int_equal(m.s[1].line, 4);
    agir_bmclab_meta_free(&m);
    // Tabs, and a quoted field spanning lines (line numbers keep counting).
    meta_ok("ID\tnote\tON - UPDRS-III - walking\tOFF - UPDRS-III - walking\nSUB05\t\"two\nlines\"\t1\t1\nSUB06\t\t2\t0",
            &m);
    assert_int_equal(m.n, 2);
    assert_int_equal(m.s[1].line, 4);
    expect_subject(&m, "SUB06", 2, 0);
    agir_bmclab_meta_free(&m);
}

static void meta_fails(const char *text, const char *needle) {
    agir_bmclab_meta m;
    agir_err e;
    agir_err_clear(&e);
    int rc = agir_bmclab_meta_parse(text, strlen(text), "meta.csv", &m, &e);
    if (rc != AGIR_EINPUT || !strstr(e.msg, needle) || !strstr(e.msg, "meta.csv") || strchr(e.msg, '\n')) {
        print_error("rc=%d msg='%s', expected '%s'\n", rc, e.msg, needle);
        fail();
    }
}

static void meta_errors(void **state) {
    (void)state;
    const char *h = "ID,ON - UPDRS-III - walking,OFF - UPDRS-III - walking\n";
    char buf[512];
    meta_fails("ID,ON - UPDRS-II - walking,OFF - UPDRS-III - walking\nSUB01,1,1\n", "no header row");
    snprintf(buf, sizeof buf, "%sSUB01,1,1\nSUB02,5,1\n", h);
    meta_fails(buf, "meta.csv:3: 'ON - UPDRS-III - walking' value '5' is not a score 0-4");
    snprintf(buf, sizeof buf, "%sSUB01,1,1\nSUB01,1,1\n", h);
    meta_fails(buf, "meta.csv:3: subject SUB01 is already listed at line 2");
    snprintf(buf, sizeof buf, "%sPatient X,1,1\n", h);
    meta_fails(buf, "meta.csv:2: subject id 'Patient X' is not SUBxx");
    snprintf(buf, sizeof buf, "%sSUB01,\"1,1\n", h);
    meta_fails(buf, "meta.csv:2: quoted field never closed");
    snprintf(buf, sizeof buf, "%sSUB01,\"1\"x,1\n", h);
    meta_fails(buf, "meta.csv:2: text after a closing quote");
    snprintf(buf, sizeof buf, "%s,1,\n", h);
    meta_fails(buf, "meta.csv:2: scores without a subject id");
    snprintf(buf, sizeof buf, "%sSUB01,1.5,1\n", h);
    meta_fails(buf, "not a score");
    meta_fails(h, "no subject rows");
    meta_fails("ID,ID,ON - UPDRS-III - walking,OFF - UPDRS-III - walking\n", "columns 1 and 2 are both 'ID'");
    agir_bmclab_meta m;
    agir_err e;
    agir_err_clear(&e);
    assert_int_equal(agir_bmclab_meta_parse("ID\0", 3, "meta.csv", &m, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "NUL byte"));
}

// ---- the whole import ----

static void write_walk(const char *root, const char *rel, int64_t F) {
    agir_c3d c;
    markers(&c, full_set, N_FULL, F, 1);
    uint8_t *buf;
    size_t len;
    agir_err e;
    agir_err_clear(&e);
    agir_c3d_write_opts o = {.processor = AGIR_C3D_INTEL, .float_storage = 0};
    assert_int_equal(agir_c3d_write_mem(&c, &o, &buf, &len, &e), AGIR_OK);
    touch(root, rel, buf, len);
    free(buf);
    agir_c3d_free(&c);
}

static void imports(void **state) {
    (void)state;
    char root[256], meta[512];
    agir_test_tmpdir(root, sizeof root);
    write_walk(root, "SUB02/SUB02_on_walk_1.c3d", 151);
    write_walk(root, "SUB01/SUB01_off_walk_2.c3d", 151);
    write_walk(root, "SUB01/SUB01_on_walk_1.c3d", 76);
    snprintf(meta, sizeof meta, "%s/meta.csv", root);
    const char *sheet = "ID,ON - UPDRS-III - walking,OFF - UPDRS-III - walking\nSUB01,0,2\nSUB02,,1\n";
    touch(root, "meta.csv", sheet, strlen(sheet));

    agir_bmclab_opts o = {.root = root, .meta = meta, .fps = 0, .up = AGIR_UP_AUTO};
    agir_gait g;
    agir_bmclab_summary sum;
    agir_err e;
    agir_err_clear(&e);
    int rc = agir_bmclab_import(&o, &g, &sum, NULL, &e);
    if (rc) print_error("%s\n", e.msg);
    assert_int_equal(rc, AGIR_OK);
    assert_int_equal(g.n_seq, 3);
    assert_int_equal(sum.files, 3);
    assert_int_equal(sum.up_z, 3);
    assert_int_equal(sum.unscored, 1);
    const char *ids[3] = {"SUB01_off_walk_2", "SUB01_on_walk_1", "SUB02_on_walk_1"};
    const int scores[3] = {2, 0, -1}, meds[3] = {AGIR_MED_OFF, AGIR_MED_ON, AGIR_MED_ON};
    const int64_t lens[3] = {151, 76, 151};
    for (int s = 0; s < 3; s++) {
        assert_string_equal(g.seq[s].id, ids[s]);
        assert_int_equal(g.seq[s].updrs_gait, scores[s]);
        assert_int_equal(g.seq[s].medication, meds[s]);
        assert_int_equal(g.seq[s].length, lens[s]);
        assert_string_equal(g.seq[s].source, "bmclab");
        assert_float_equal(g.seq[s].fps, 150, 0);
        // int16 storage quantises the mm coordinates: a fraction of a millimetre.
        for (int64_t f = 0; f < lens[s]; f += 25) expect_pose(agir_gait_seq_frames(&g, s) + f * H36M_J * 3, f, 5e-4f);
    }
    assert_string_equal(g.seq[0].subject, "SUB01");
    agir_gait_free(&g);

    o.fps = 50;  // 150 Hz -> 50 Hz: every third frame
    assert_int_equal(agir_bmclab_import(&o, &g, &sum, NULL, &e), AGIR_OK);
    assert_int_equal(g.seq[0].length, 51);
    assert_int_equal(g.seq[1].length, 26);
    assert_float_equal(g.seq[0].fps, 50, 0);
    expect_pose(agir_gait_seq_frames(&g, 0) + 10 * H36M_J * 3, 30, 5e-4f);
    agir_gait_free(&g);

    const char *partial = "ID,ON - UPDRS-III - walking,OFF - UPDRS-III - walking\nSUB01,0,2\n";
    touch(root, "meta.csv", partial, strlen(partial));
    agir_err_clear(&e);
    assert_int_equal(agir_bmclab_import(&o, &g, &sum, NULL, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "no row for subject SUB02"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(recovers_pose), cmocka_unit_test(drops_frames), cmocka_unit_test(plug_in_gait),
        cmocka_unit_test(marker_errors), cmocka_unit_test(alias_table),  cmocka_unit_test(resamples),    cmocka_unit_test(ids_from_names),
        cmocka_unit_test(discovers),     cmocka_unit_test(meta_csv),     cmocka_unit_test(meta_errors),
        cmocka_unit_test(imports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
