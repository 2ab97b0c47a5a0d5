// C3D reader and writer: round trips in every number format and storage, analog interleaving,
// LABELS2 continuations, files beyond 65535 frames, hand-checked header bytes, and damaged files
// (every prefix and single-byte corruptions must give one AGIR_EINPUT line, never a crash).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/c3d.h"
#include "testutil.h"

static float coord(int64_t f, int p, int k) {
    return 800.0f * sinf(0.05f * (float)f + (float)p) + 250.0f * (float)k - 30.0f * (float)p;
}

static int valid_at(int64_t f, int p) { return (f * 7 + p) % 11 != 0; }

// F frames of P points named M0, M1, ...; every 11th sample missing.
static void make(agir_c3d *c, int64_t F, int P, float rate) {
    agir_err e;
    agir_err_clear(&e);
    assert_int_equal(agir_c3d_alloc(c, F, P, rate, &e), AGIR_OK);
    for (int p = 0; p < P; p++) {
        char name[32];
        snprintf(name, sizeof name, "M%d", p);
        c->labels[p] = strdup(name);
    }
    for (int64_t f = 0; f < F; f++)
        for (int p = 0; p < P; p++) {
            size_t i = (size_t)f * (size_t)P + (size_t)p;
            for (int k = 0; k < 3; k++) c->xyz[3 * i + (size_t)k] = coord(f, p, k);
            c->valid[i] = (uint8_t)valid_at(f, p);
        }
}

static void write_mem(const agir_c3d *c, const agir_c3d_write_opts *o, uint8_t **buf, size_t *len) {
    agir_err e;
    agir_err_clear(&e);
    int rc = agir_c3d_write_mem(c, o, buf, len, &e);
    if (rc) print_error("%s\n", e.msg);
    assert_int_equal(rc, AGIR_OK);
}

static void read_ok(const uint8_t *buf, size_t len, agir_c3d *c) {
    agir_err e;
    agir_err_clear(&e);
    int rc = agir_c3d_read_mem(buf, len, "t.c3d", c, &e);
    if (rc) print_error("%s\n", e.msg);
    assert_int_equal(rc, AGIR_OK);
}

// Reading must fail with one AGIR_EINPUT line naming the file and containing `needle`.
static void read_fails(const uint8_t *buf, size_t len, const char *needle) {
    agir_c3d c;
    agir_err e;
    agir_err_clear(&e);
    int rc = agir_c3d_read_mem(buf, len, "bad.c3d", &c, &e);
    if (rc != AGIR_EINPUT || !strstr(e.msg, needle) || !strstr(e.msg, "bad.c3d") || strchr(e.msg, '\n')) {
        print_error("rc=%d msg='%s', expected '%s'\n", rc, e.msg, needle);
        fail();
    }
}

static void compare(const agir_c3d *in, const agir_c3d *out, float tol) {
    assert_int_equal(out->n_frames, in->n_frames);
    assert_int_equal(out->n_points, in->n_points);
    assert_float_equal(out->rate, in->rate, 0);
    for (int p = 0; p < in->n_points; p++) assert_string_equal(out->labels[p], in->labels[p]);
    size_t n = (size_t)in->n_frames * (size_t)in->n_points;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(out->valid[i], in->valid[i]);
        if (!in->valid[i]) continue;
        for (int k = 0; k < 3; k++) assert_float_equal(out->xyz[3 * i + k], in->xyz[3 * i + k], tol);
    }
}

// Reads buf back and checks it holds exactly `in`; frees buf and in.
static void read_back_exact(uint8_t *buf, size_t len, agir_c3d *in) {
    agir_c3d out;
    read_ok(buf, len, &out);
    compare(in, &out, 0);
    agir_c3d_free(&out);
    free(buf);
    agir_c3d_free(in);
}

static void round_trips(void **state) {
    (void)state;
    const int procs[3] = {AGIR_C3D_INTEL, AGIR_C3D_DEC, AGIR_C3D_MIPS};
    agir_c3d in;
    make(&in, 40, 5, 150);
    float analog[40 * 2 * 3];
    for (int i = 0; i < 40 * 2 * 3; i++) analog[i] = (float)(1000 + 37 * i % 20000);
    for (int pi = 0; pi < 3; pi++)
        for (int fl = 0; fl < 2; fl++)
            for (int an = 0; an < 2; an++) {
                agir_c3d_write_opts o = {.processor = procs[pi], .float_storage = fl};
                if (an) {
                    o.analog_channels = 3;
                    o.analog_samples = 2;
                    o.analog = analog;
                }
                uint8_t *buf;
                size_t len;
                write_mem(&in, &o, &buf, &len);
                assert_int_equal(len % 512, 0);
                agir_c3d out;
                read_ok(buf, len, &out);
                assert_int_equal(out.processor, procs[pi]);
                assert_int_equal(out.float_storage, fl);
                assert_int_equal(out.analog_per_frame, an ? 6 : 0);
                assert_string_equal(out.units, "mm");
                // VAX and IEEE singles share a 24-bit significand: float storage is exact;
                // int16 storage is off by at most half a step.
                compare(&in, &out, fl ? 0.0f : out.scale * 0.5f + 1e-3f);
                agir_c3d_free(&out);
                free(buf);
            }
    agir_c3d_free(&in);
}

// Header bytes checked against encodings worked out by hand: 150.0 = 0.5859375 * 2^8, so the VAX
// exponent byte pair is 0x4416 (bias 128) against IEEE's 0x4316 (bias 127, hidden bit).
static void header_bytes(void **state) {
    (void)state;
    agir_c3d in;
    make(&in, 3, 2, 150);
    struct {
        int proc;
        uint8_t rate[4], points[2];
    } cases[] = {
        {AGIR_C3D_INTEL, {0x00, 0x00, 0x16, 0x43}, {2, 0}},
        {AGIR_C3D_MIPS, {0x43, 0x16, 0x00, 0x00}, {0, 2}},
        {AGIR_C3D_DEC, {0x16, 0x44, 0x00, 0x00}, {2, 0}},
    };
    for (int i = 0; i < 3; i++) {
        agir_c3d_write_opts o = {.processor = cases[i].proc, .float_storage = 1};
        uint8_t *buf;
        size_t len;
        write_mem(&in, &o, &buf, &len);
        assert_memory_equal(buf + 20, cases[i].rate, 4);
        assert_memory_equal(buf + 2, cases[i].points, 2);
        assert_int_equal(buf[1], 0x50);
        assert_int_equal(buf[512 + 3], cases[i].proc);
        agir_c3d out;
        read_ok(buf, len, &out);
        assert_float_equal(out.rate, 150.0f, 0);
        agir_c3d_free(&out);
        free(buf);
    }
    agir_c3d_free(&in);
}

static int has_bytes(const uint8_t *buf, size_t len, const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i + n <= len; i++)
        if (!memcmp(buf + i, s, n)) return 1;
    return 0;
}

static void labels_continue(void **state) {
    (void)state;
    agir_c3d in;
    make(&in, 2, 300, 100);  // more than the 255 labels one parameter can hold
    uint8_t *buf;
    size_t len;
    write_mem(&in, NULL, &buf, &len);
    assert_true(has_bytes(buf, len, "LABELS2"));
    read_back_exact(buf, len, &in);

    make(&in, 2, 10, 100);
    agir_c3d_write_opts o = {.float_storage = 1, .labels_per_group = 4};
    write_mem(&in, &o, &buf, &len);
    assert_true(has_bytes(buf, len, "LABELS3"));
    read_back_exact(buf, len, &in);
}

// Long files: the header's last frame saturates at 65535; the count must come from POINT:FRAMES
// (float) or, when that saturates too or is absent, from the file size, without counting the
// zero padding of the final block as frames.
static void long_files(void **state) {
    (void)state;
    struct {
        int64_t frames;
        int mode;
    } cases[] = {
        {70000, AGIR_C3D_FRAMES_AUTO},  {70000, AGIR_C3D_FRAMES_INT16}, {70000, AGIR_C3D_FRAMES_NONE},
        {65535, AGIR_C3D_FRAMES_INT16}, {50, AGIR_C3D_FRAMES_FLOAT},    {50, AGIR_C3D_FRAMES_NONE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        agir_c3d in;
        make(&in, cases[i].frames, 1, 1000);
        agir_c3d_write_opts o = {.float_storage = 1, .frames_param = cases[i].mode};
        uint8_t *buf;
        size_t len;
        write_mem(&in, &o, &buf, &len);
        unsigned last = buf[8] | buf[9] << 8;
        assert_int_equal(last, cases[i].frames > 65535 ? 65535 : cases[i].frames);
        read_back_exact(buf, len, &in);
    }
}

// Offset of a parameter's record name (the first one of that name: POINT's come before ANALOG's).
static size_t find_param(const uint8_t *buf, size_t len, const char *name) {
    size_t n = strlen(name);
    for (size_t i = 512; i + n <= len; i++)
        if (buf[i - 2] == n && !memcmp(buf + i, name, n)) return i;
    fail_msg("parameter %s not found", name);
    return 0;
}

// Record layout after the name: next-offset (2 bytes), type, dimension count, dimensions, values.
static size_t type_at(const uint8_t *buf, size_t len, const char *name) {
    return find_param(buf, len, name) + strlen(name) + 2;
}

static size_t values_at(const uint8_t *buf, size_t len, const char *name) {  // scalars
    return type_at(buf, len, name) + 2;
}

// A fresh small file with analog data, for one corruption at a time.
static uint8_t *sample_file(size_t *len) {
    agir_c3d in;
    make(&in, 20, 3, 120);
    agir_c3d_write_opts o = {.float_storage = 1, .analog_channels = 2, .analog_samples = 1};
    uint8_t *buf;
    write_mem(&in, &o, &buf, len);
    agir_c3d_free(&in);
    return buf;
}

static void malformed(void **state) {
    (void)state;
    size_t len;
    uint8_t *b = sample_file(&len);
    uint8_t *t = malloc(len);
    size_t rate = find_param(b, len, "RATE"), rate_type = type_at(b, len, "RATE"), rate_v = values_at(b, len, "RATE");
    size_t used = values_at(b, len, "USED"), frames = values_at(b, len, "FRAMES");
    size_t scale = values_at(b, len, "SCALE"), ds = values_at(b, len, "DATA_START");
    size_t label_dims = type_at(b, len, "LABELS") + 2;  // width, count
#define CASE(edit, n, needle)         \
    do {                              \
        memcpy(t, b, len);            \
        edit;                         \
        read_fails(t, (n), (needle)); \
    } while (0)
    CASE((void)0, 100, "shorter than one 512-byte block");
    CASE(t[1] = 0x51, len, "key byte is 0x51, not 0x50");
    CASE(t[0] = 0, len, "parameter block 0 is out of range");
    CASE(t[0] = 200, len, "parameter block 200 is out of range");
    CASE(t[512 + 3] = 99, len, "processor type 99");
    CASE(t[512 + 2] = 250, len, "do not fit in the file");
    CASE((void)0, len - 512, "truncated");
    CASE((t[rate_type - 2] = 0xff, t[rate_type - 1] = 0x7f), len, "outside the section");
    CASE(t[rate_type] = 3, len, "has type 3");
    CASE(memset(t + rate_v, 0, 4), len, "frame rate 0");
    CASE((t[used] = 0xff, t[used + 1] = 0xff, t[2] = 0xff, t[3] = 0xff), len, "truncated");
    CASE((t[used] = 4), len, "POINT:USED is 4 but the header says 3 points");
    CASE((t[frames] = 0x60, t[frames + 1] = 0xea), len, "60000 frames");
    CASE(t[label_dims + 1] = 2, len, "holds 2 labels but POINT:USED is 3");
    CASE(memcpy(t + rate, "USED", 4), len, "POINT:USED is defined twice");
    CASE(t[scale + 3] = 0x3f, len, "disagree on float versus integer storage");  // -1.0f -> +1.0f
    CASE((t[16] = 1, t[ds] = 1, t[ds + 1] = 0), len, "data start block 1 is out of range");
    CASE(t[rate_type + 1] = 9, len, "dimensions");
    CASE(t[rate_type + 1] = 7, len, "more than its record holds");
    CASE(t[4] = 5, len, "header says 5 analog words per frame");
    size_t frames_name = find_param(b, len, "FRAMES");
    CASE((t[frames_name + 5] = 'Z', t[6] = 10, t[8] = 5), len, "last frame 5 is before first frame 10");
#undef CASE
    free(t);
    free(b);
}

static void one_line_input_error(const uint8_t *buf, size_t len) {
    agir_c3d c;
    agir_err e;
    agir_err_clear(&e);
    int rc = agir_c3d_read_mem(buf, len, "x.c3d", &c, &e);
    if (rc == AGIR_OK) {
        agir_c3d_free(&c);
        return;
    }
    if (rc != AGIR_EINPUT || !strstr(e.msg, "x.c3d") || strchr(e.msg, '\n')) {
        print_error("len %zu: rc=%d msg='%s'\n", len, rc, e.msg);
        fail();
    }
}

// Every prefix of a file, and every byte of its header and parameters set to 0x00, 0xff and 0x80,
// reads as valid or as one input-error line (ASan would catch a read outside the buffer: each
// prefix is copied into its own allocation of exactly that size).
static void corruptions(void **state) {
    (void)state;
    size_t len;
    uint8_t *b = sample_file(&len);
    size_t data_start = ((size_t)(b[16] | b[17] << 8) - 1) * 512;
    size_t data_end = data_start + 20 * (3 * 4 + 2) * 4;
    for (size_t n = 0; n <= len; n++) {
        uint8_t *t = malloc(n ? n : 1);
        memcpy(t, b, n);
        agir_c3d c;
        agir_err e;
        agir_err_clear(&e);
        int rc = agir_c3d_read_mem(t, n, "x.c3d", &c, &e);
        if (rc == AGIR_OK) agir_c3d_free(&c);
        assert_int_equal(rc, n < data_end ? AGIR_EINPUT : AGIR_OK);
        one_line_input_error(t, n);
        free(t);
    }
    uint8_t *t = malloc(len);
    const uint8_t vals[3] = {0x00, 0xff, 0x80};
    for (size_t i = 0; i < data_start; i++)
        for (int v = 0; v < 3; v++) {
            memcpy(t, b, len);
            t[i] = vals[v];
            one_line_input_error(t, len);
        }
    free(t);
    free(b);
}

static void files_on_disk(void **state) {
    (void)state;
    char dir[256], path[512];
    agir_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/walk.c3d", dir);
    agir_c3d in, out;
    make(&in, 10, 4, 150);
    agir_err e;
    agir_err_clear(&e);
    assert_int_equal(agir_c3d_write(&in, NULL, path, &e), AGIR_OK);
    assert_int_equal(agir_c3d_read(path, &out, &e), AGIR_OK);
    compare(&in, &out, 0);
    agir_c3d_free(&out);
    agir_c3d_free(&in);
    snprintf(path, sizeof path, "%s/missing.c3d", dir);
    assert_int_equal(agir_c3d_read(path, &out, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "missing.c3d"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trips),  cmocka_unit_test(header_bytes), cmocka_unit_test(labels_continue),
        cmocka_unit_test(long_files),   cmocka_unit_test(malformed),    cmocka_unit_test(corruptions),
        cmocka_unit_test(files_on_disk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
