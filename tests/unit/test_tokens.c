// Token store: in-memory API, HDF5 round trip (file and image), byte determinism, identity
// checks, and one case per validation rule of docs/dataset_format.md ("Token store"): each bad
// file is a valid one with one object rewritten through the HDF5 API here.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsio.h"
#include "datasets/h5io.h"
#include "datasets/tokens.h"
#include "testutil.h"

// The reference store: 3 sequences of 5, 3 and 7 codes; code i of sequence s is (7 s + 3 i) % 512.
enum { REF_S = 3, REF_BOOK = 512 };
static const int64_t ref_len[REF_S] = {5, 3, 7};
static const char *const ref_ids[REF_S] = {"SUB01_on_walk_1", "SUB01_off_walk_1", "SUB02_off_walk_1"};

static void make_ref(agir_tokens *t) {
    agir_err e = {0};
    assert_int_equal(agir_tokens_init(t, "sha256:0123abcd", REF_BOOK, 4, 20, &e), AGIR_OK);
    static const char *const subj[REF_S] = {"SUB01", "SUB01", "SUB02"};
    static const int med[REF_S] = {AGIR_MED_ON, AGIR_MED_OFF, AGIR_MED_UNKNOWN}, score[REF_S] = {1, 2, -1};
    for (int s = 0; s < REF_S; s++) {
        int32_t codes[16];
        for (int64_t i = 0; i < ref_len[s]; i++) codes[i] = (int32_t)((7 * s + 3 * i) % REF_BOOK);
        agir_seq m = {.id = (char *)ref_ids[s], .subject = (char *)subj[s], .medication = med[s],
                      .updrs_gait = score[s], .fps = 150, .source = "synth"};
        assert_int_equal(agir_tokens_append(t, &m, codes, ref_len[s], &e), AGIR_OK);
    }
}

static void write_ref(const char *path) {
    agir_tokens t;
    agir_err e = {0};
    make_ref(&t);
    int rc = agir_tokens_write(&t, path, &e);
    if (rc) fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, AGIR_OK);
    agir_tokens_free(&t);
}

static void check_ref(const agir_tokens *t) {
    assert_string_equal(t->model_hash, "sha256:0123abcd");
    assert_int_equal(t->codebook_size, REF_BOOK);
    assert_int_equal(t->downsample, 4);
    assert_int_equal(t->model_fps, 20);
    assert_int_equal(t->n_seq, REF_S);
    assert_int_equal(t->n_codes, 15);
    for (int s = 0; s < REF_S; s++) {
        assert_string_equal(t->seq[s].id, ref_ids[s]);
        assert_int_equal(t->seq[s].length, ref_len[s]);
        const int32_t *c = agir_tokens_seq_codes(t, s);
        for (int64_t i = 0; i < ref_len[s]; i++) assert_int_equal(c[i], (7 * s + 3 * i) % REF_BOOK);
    }
    assert_string_equal(t->seq[2].subject, "SUB02");
    assert_int_equal(t->seq[0].medication, AGIR_MED_ON);
    assert_int_equal(t->seq[2].medication, AGIR_MED_UNKNOWN);
    assert_int_equal(t->seq[1].updrs_gait, 2);
    assert_int_equal(t->seq[2].updrs_gait, -1);
    assert_int_equal(agir_tokens_find(t, "SUB02_off_walk_1"), 2);
    assert_int_equal(agir_tokens_find(t, "SUB09"), -1);
}

static char *slurp(const char *path, size_t *len) {
    char *buf = NULL;
    agir_err e = {0};
    assert_int_equal(agir_read_file(path, 1 << 24, &buf, len, &e), AGIR_OK);
    return buf;
}

static void round_trip(void **state) {
    (void)state;
    char dir[256], a[512], b[512];
    agir_test_tmpdir(dir, sizeof dir);
    snprintf(a, sizeof a, "%s/a.h5", dir);
    snprintf(b, sizeof b, "%s/b.h5", dir);
    write_ref(a);
    write_ref(b);
    agir_tokens t;
    agir_err e = {0};
    int rc = agir_tokens_read(&t, a, &e);
    if (rc) fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, AGIR_OK);
    check_ref(&t);
    assert_int_equal(agir_tokens_check_model(&t, a, "sha256:0123abcd", REF_BOOK, 4, 20, &e), AGIR_OK);
    assert_int_equal(agir_tokens_check_model(&t, a, "sha256:0123abce", REF_BOOK, 4, 20, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "not by this one"));
    agir_err_clear(&e);
    assert_int_equal(agir_tokens_check_model(&t, a, "sha256:0123abcd", REF_BOOK, 2, 20, &e), AGIR_EINPUT);
    agir_err_clear(&e);
    agir_tokens_free(&t);
    // Same store, same bytes; and the image reader sees what the file reader sees.
    size_t la, lb;
    char *ba = slurp(a, &la), *bb = slurp(b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(ba, bb, la);
    assert_int_equal(agir_tokens_read_image(&t, ba, la, "image.h5", &e), AGIR_OK);
    check_ref(&t);
    agir_tokens_free(&t);
    // The format attribute tells the stores apart without reading them.
    char fmt[32];
    assert_int_equal(agir_h5_peek_format(a, fmt, sizeof fmt, &e), AGIR_OK);
    assert_string_equal(fmt, "agir-tokens");
    free(ba), free(bb);
    unlink(a), unlink(b), rmdir(dir);
}

static void empty_store(void **state) {
    (void)state;
    char dir[256], p[512];
    agir_test_tmpdir(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/empty.h5", dir);
    agir_tokens t;
    agir_err e = {0};
    assert_int_equal(agir_tokens_init(&t, "m1", 8, 2, 25, &e), AGIR_OK);
    assert_int_equal(agir_tokens_write(&t, p, &e), AGIR_OK);
    agir_tokens_free(&t);
    assert_int_equal(agir_tokens_read(&t, p, &e), AGIR_OK);
    assert_int_equal(t.n_seq, 0);
    assert_int_equal(t.n_codes, 0);
    assert_int_equal(t.model_fps, 25);
    agir_tokens_free(&t);
    unlink(p), rmdir(dir);
}

// The in-memory API refuses what the file format forbids.
static void api_checks(void **state) {
    (void)state;
    agir_tokens t;
    agir_err e = {0};
    assert_int_equal(agir_tokens_init(&t, "", 512, 4, 20, &e), AGIR_EINPUT);
    agir_err_clear(&e);
    assert_int_equal(agir_tokens_init(&t, "sha256 abc", 512, 4, 20, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "model_hash"));
    agir_err_clear(&e);
    assert_int_equal(agir_tokens_init(&t, "abc", 0, 4, 20, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "codebook_size"));
    agir_err_clear(&e);
    assert_int_equal(agir_tokens_init(&t, "abc", 512, 0, 20, &e), AGIR_EINPUT);
    agir_err_clear(&e);
    assert_int_equal(agir_tokens_init(&t, "abc", 512, 4, 0, &e), AGIR_EINPUT);
    agir_err_clear(&e);
    assert_int_equal(agir_tokens_init(&t, "abc", 4, 4, 20, &e), AGIR_OK);
    agir_seq m = {.id = "w1", .subject = "S1", .medication = 0, .updrs_gait = 1};
    int32_t codes[3] = {0, 3, 4};
    assert_int_equal(agir_tokens_append(&t, &m, codes, 3, &e), AGIR_EINTERNAL);  // 4 is past the codebook
    assert_int_equal(t.n_seq, 0);
    agir_err_clear(&e);
    assert_int_equal(agir_tokens_append(&t, &m, codes, 0, &e), AGIR_EINPUT);
    agir_err_clear(&e);
    assert_int_equal(agir_tokens_append(&t, &m, codes, 2, &e), AGIR_OK);
    assert_int_equal(agir_tokens_append(&t, &m, codes, 2, &e), AGIR_OK);  // duplicate id: refused on write
    char dir[256], p[512];
    agir_test_tmpdir(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/dup.h5", dir);
    assert_int_equal(agir_tokens_write(&t, p, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "(not written)"));
    assert_non_null(strstr(e.msg, "'w1'"));
    struct stat st;
    assert_int_not_equal(stat(p, &st), 0);
    agir_tokens_free(&t);
    rmdir(dir);
}

// ---- bad files ------------------------------------------------------------------------------

typedef enum change_kind { ATTR_STR, ATTR_I64, DATA_I64, DATA_I32, DATA_I8, DATA_STR, DATA_F32, DELETE } change_kind;

typedef struct bad_case {
    const char *name;  // also the file name
    const char *obj;   // "/" for root attributes
    const char *attr;  // attribute name, or NULL for a dataset
    change_kind kind;
    int64_t n;         // entries of a dataset
    const void *data;  // values (a const char * for ATTR_STR, an int64_t * for ATTR_I64)
    const char *want;  // expected in the message
} bad_case;

static const int64_t i64_2[] = {2}, i64_0[] = {0}, i64_3000[] = {3000};
static const int32_t codes_neg[] = {0, 3, 6, 9, -1, 7, 10, 13, 14, 17, 20, 23, 26, 29, 32};
static const int32_t codes_book[] = {0, 3, 6, 9, 12, 7, 10, 13, 512, 17, 20, 23, 26, 29, 32};
static const float codes_f[15] = {0};
static const int64_t off_past[] = {0, 5, 9}, off_overlap[] = {0, 4, 8}, off_neg[] = {-1, 5, 8};
static const int64_t len_zero[] = {5, 0, 7}, len_short[] = {5, 3};
static const int8_t med_bad[] = {1, 0, 2}, score_bad[] = {1, 7, -1};
static const char *const ids_dup[] = {"a", "b", "a"}, *const ids_empty[] = {"a", "", "c"};

static const bad_case bad_cases[] = {
    {"format", "/", "format", ATTR_STR, 0, "agir-gait", "not 'agir-tokens'"},
    {"version", "/", "version", ATTR_I64, 0, i64_2, "version 2"},
    {"hash", "/", "model_hash", ATTR_STR, 0, "a b", "model_hash"},
    {"codebook", "/", "codebook_size", ATTR_I64, 0, i64_0, "codebook_size 0"},
    {"downsample", "/", "downsample", ATTR_I64, 0, i64_3000, "downsample 3000"},
    {"fps", "/", "model_fps", ATTR_I64, 0, i64_0, "model_fps 0"},
    {"no_hash", "/", "model_hash", DELETE, 0, NULL, "missing"},
    {"code_negative", "/codes", NULL, DATA_I32, 15, codes_neg, "code 4 is -1"},
    {"code_past_book", "/codes", NULL, DATA_I32, 15, codes_book, "'SUB02_off_walk_1': code 0 is 512"},
    {"codes_float", "/codes", NULL, DATA_F32, 15, codes_f, "expected int32, found float32"},
    {"no_codes", "/codes", NULL, DELETE, 0, NULL, "/codes: missing"},
    {"offset_past_end", "/sequences/offset", NULL, DATA_I64, 3, off_past, "runs past the 15 codes"},
    {"offset_negative", "/sequences/offset", NULL, DATA_I64, 3, off_neg, "offset -1"},
    {"overlap", "/sequences/offset", NULL, DATA_I64, 3, off_overlap, "overlap"},
    {"length_zero", "/sequences/length", NULL, DATA_I64, 3, len_zero, "length 0"},
    {"length_count", "/sequences/length", NULL, DATA_I64, 2, len_short, "one entry per /sequences/id"},
    {"medication", "/sequences/medication", NULL, DATA_I8, 3, med_bad, "medication 2"},
    {"score", "/sequences/updrs_gait", NULL, DATA_I8, 3, score_bad, "updrs_gait 7"},
    {"ids_dup", "/sequences/id", NULL, DATA_STR, 3, ids_dup, "id used by sequences 0 and 2"},
    {"ids_empty", "/sequences/id", NULL, DATA_STR, 3, ids_empty, "sequence 1: empty id"},
};

// Rewrites one object of the file at path (deleted first, then written by the h5io writers).
static void apply(const char *path, const bad_case *c) {
    agir_err e = {0};
    assert_int_equal(agir_h5_init(&e), AGIR_OK);
    agir_h5w w = {H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT), path};
    assert_true(w.file >= 0);
    if (c->attr)
        assert_true(H5Adelete_by_name(w.file, c->obj, c->attr, H5P_DEFAULT) >= 0);
    else
        assert_true(H5Ldelete(w.file, c->obj, H5P_DEFAULT) >= 0);
    int rc = AGIR_OK;
    switch (c->kind) {
    case ATTR_STR: rc = agir_h5w_attr_str(&w, c->obj, c->attr, c->data, &e); break;
    case ATTR_I64: rc = agir_h5w_attr_i64(&w, c->obj, c->attr, *(const int64_t *)c->data, &e); break;
    case DATA_I64: rc = agir_h5w_write(&w, c->obj, AGIR_H5_I64, 1, &c->n, c->data, &e); break;
    case DATA_I32: rc = agir_h5w_write(&w, c->obj, AGIR_H5_I32, 1, &c->n, c->data, &e); break;
    case DATA_I8: rc = agir_h5w_write(&w, c->obj, AGIR_H5_I8, 1, &c->n, c->data, &e); break;
    case DATA_F32: rc = agir_h5w_write(&w, c->obj, AGIR_H5_F32, 1, &c->n, c->data, &e); break;
    case DATA_STR: rc = agir_h5w_strings(&w, c->obj, c->n, c->data, &e); break;
    case DELETE: break;
    }
    if (rc) fprintf(stderr, "%s: %s\n", c->name, e.msg);
    assert_int_equal(rc, AGIR_OK);
    assert_int_equal(agir_h5w_close(&w, &e), AGIR_OK);
}

static void bad_files(void **state) {
    (void)state;
    char dir[256], p[512];
    agir_test_tmpdir(dir, sizeof dir);
    for (size_t i = 0; i < sizeof bad_cases / sizeof *bad_cases; i++) {
        const bad_case *c = &bad_cases[i];
        snprintf(p, sizeof p, "%s/%s.h5", dir, c->name);
        write_ref(p);
        apply(p, c);
        agir_tokens t;
        agir_err e = {0};
        int rc = agir_tokens_read(&t, p, &e);
        printf("%-16s -> %s\n", c->name, e.msg);
        assert_int_equal(rc, AGIR_EINPUT);
        assert_int_equal(e.code, AGIR_EINPUT);
        assert_null(strchr(e.msg, '\n'));
        assert_non_null(strstr(e.msg, p));
        if (!strstr(e.msg, c->want)) {
            print_error("%s: message lacks '%s'\n", c->name, c->want);
            fail();
        }
        assert_null(t.seq);  // nothing left allocated on failure
        unlink(p);
    }
    rmdir(dir);
}

// Root attributes only, in a file with version 1 object headers (libhdf5's default) or version 2
// ones (libver latest, as h5py writes with libver="latest").
static void attrs_file(const char *path, int latest) {
    agir_err e = {0};
    assert_int_equal(agir_h5_init(&e), AGIR_OK);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (latest) assert_true(H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST) >= 0);
    agir_h5w w = {H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl), path};
    H5Pclose(fapl);
    assert_true(w.file >= 0);
    assert_int_equal(agir_h5w_attr_str(&w, "/", "format", AGIR_TOKENS_FORMAT, &e), AGIR_OK);
    assert_int_equal(agir_h5w_attr_i64(&w, "/", "version", 1, &e), AGIR_OK);
    assert_int_equal(agir_h5w_attr_str(&w, "/", "model_hash", "m", &e), AGIR_OK);
    assert_int_equal(agir_h5w_attr_i64(&w, "/", "codebook_size", 8, &e), AGIR_OK);
    assert_int_equal(agir_h5w_attr_i64(&w, "/", "downsample", 4, &e), AGIR_OK);
    assert_int_equal(agir_h5w_attr_i64(&w, "/", "model_fps", 20, &e), AGIR_OK);
    assert_int_equal(agir_h5w_close(&w, &e), AGIR_OK);
}

// An attribute message whose dataspace size runs past the message made libhdf5 read out of
// bounds on any attribute lookup (tests/fuzz/fuzz_tokens.c found it); the reader refuses it
// first. The name is found in the bytes; the dataspace size field sits 2 (message version 1) or
// 3 (version 3, with an encoding byte) bytes before it.
static void corrupt_attribute_message(void **state) {
    (void)state;
    char dir[256], p[512];
    agir_test_tmpdir(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/attrs.h5", dir);
    for (int latest = 0; latest < 2; latest++) {
        attrs_file(p, latest);
        agir_tokens t;
        agir_err e = {0};
        assert_int_equal(agir_tokens_read(&t, p, &e), AGIR_EINPUT);
        assert_non_null(strstr(e.msg, "/codes: missing"));  // the attributes passed
        size_t len;
        char *b = slurp(p, &len);
        char *name = memmem(b, len, "model_fps", 10);
        assert_non_null(name);
        size_t at = (size_t)(name - b) - (latest ? 3 : 2);
        b[at] = 0x10, b[at + 1] = (char)0x96;
        assert_int_equal(agir_write_atomic(p, b, len, &e), AGIR_OK);
        free(b);
        agir_err_clear(&e);
        assert_int_equal(agir_tokens_read(&t, p, &e), AGIR_EINPUT);
        printf("headers v%d: %s\n", latest + 1, e.msg);
        assert_non_null(strstr(e.msg, "attribute message's parts run past it"));
        agir_err_clear(&e);
        char fmt[32];
        assert_int_equal(agir_h5_peek_format(p, fmt, sizeof fmt, &e), AGIR_EINPUT);
    }
    unlink(p), rmdir(dir);
}

// A gait file is not a token store (and says so).
static void gait_file_refused(void **state) {
    (void)state;
    char dir[256], p[512];
    agir_test_tmpdir(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/gait.h5", dir);
    agir_gait g;
    agir_err e = {0};
    assert_int_equal(agir_gait_init(&g, &agir_skel_h36m17, 0, NULL, &e), AGIR_OK);
    assert_int_equal(agir_gait_write(&g, p, &e), AGIR_OK);
    agir_gait_free(&g);
    char fmt[32];
    assert_int_equal(agir_h5_peek_format(p, fmt, sizeof fmt, &e), AGIR_OK);
    assert_string_equal(fmt, "agir-gait");
    agir_tokens t;
    assert_int_equal(agir_tokens_read(&t, p, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "not 'agir-tokens'"));
    unlink(p), rmdir(dir);
}

// `agir info` recognises a token store by its format attribute and summarises it.
static void cli_info(void **state) {
    (void)state;
    const char *bin = agir_test_bin();
    if (!bin) agir_test_skip("AGIR_BIN is not set (run through ctest)");
    char dir[256], p[512], cmd[2048], out[4096];
    agir_test_tmpdir(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/tokens.h5", dir);
    write_ref(p);
    snprintf(cmd, sizeof cmd, "'%s' info '%s' --json", bin, p);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    assert_int_equal(pclose(f), 0);
    assert_non_null(strstr(out, "\"format\":\t\"agir-tokens\""));
    assert_non_null(strstr(out, "\"model_hash\":\t\"sha256:0123abcd\""));
    assert_non_null(strstr(out, "\"codes\":\t15,\n"));
    assert_non_null(strstr(out, "\"sequences\":\t3"));
    assert_non_null(strstr(out, "\"subjects\":\t2"));
    assert_non_null(strstr(out, "\"seconds\":\t3,\n"));  // 15 codes x 4 frames / 20 fps
    unlink(p), rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip), cmocka_unit_test(empty_store),       cmocka_unit_test(api_checks),
        cmocka_unit_test(bad_files),  cmocka_unit_test(gait_file_refused), cmocka_unit_test(corrupt_attribute_message),
        cmocka_unit_test(cli_info),  // last: it skips the rest when AGIR_BIN is not set
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
