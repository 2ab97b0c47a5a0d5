// Rationale annotations: key format, JSON checks (each fault one AGIR_EINPUT line naming the file),
// style warnings, the size cap, and attaching rationales to a dataset. The released file itself
// is checked by test_annotations_real (skipped where the file is absent).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets/annotations.h"
#include "testutil.h"

static void key_format(void **state) {
    (void)state;
    const char *good[] = {"SUB01_off_walk_1", "SUB26_on_walk_22", "SUB01_off_walk_12b", "SUB00_on_walk_0"};
    const char *bad[] = {"SUB1_on_walk_1",    "SUB01_ON_walk_1",   "SUB01_on_walk_",   "SUB01_on_walk_1bb",
                         "SUB01_on_walk_1B",  "sub01_on_walk_1",   "SUB01_on_walk_1 ", "SUB01_on_run_1",
                         "SUB001_on_walk_1",  "SUB01-on-walk-1",   "",                 "SUB01_onn_walk_1"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) assert_true(agir_annot_key_ok(good[i]));
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (agir_annot_key_ok(bad[i])) fail_msg("accepted '%s'", bad[i]);
}

static void parse_ok(const char *text, agir_annot *a) {
    agir_err e;
    agir_err_clear(&e);
    int rc = agir_annot_parse(text, strlen(text), "cot.json", a, &e);
    if (rc) print_error("%s\n", e.msg);
    assert_int_equal(rc, AGIR_OK);
}

static void parses(void **state) {
    (void)state;
    agir_annot a;
    parse_ok("{\n  \"SUB01_off_walk_1\": \"Foot: slow. Arm: reduced swing. Overall: impaired.\",\n"
             "  \"SUB02_on_walk_3b\": \"**Foot:** fine.\\nArm: caf\\u00e9. Overall: ok\",\n"
             "  \"SUB03_on_walk_2\": \"Arm first. Foot: later.\"\n}\n",
             &a);
    assert_int_equal(a.n, 3);
    assert_string_equal(a.keys[1], "SUB02_on_walk_3b");
    assert_string_equal(a.values[1], "**Foot:** fine.\nArm: caf\xc3\xa9. Overall: ok");
    assert_int_equal(a.n_style, 2);
    assert_string_equal(a.style_key, "SUB02_on_walk_3b");
    agir_annot_free(&a);
    parse_ok("\xEF\xBB\xBF {} ", &a);
    assert_int_equal(a.n, 0);
    agir_annot_free(&a);
}

static void fails(const char *text, size_t len, const char *needle) {
    agir_annot a;
    agir_err e;
    agir_err_clear(&e);
    int rc = agir_annot_parse(text, len, "cot.json", &a, &e);
    if (rc != AGIR_EINPUT || !strstr(e.msg, needle) || !strstr(e.msg, "cot.json") || strchr(e.msg, '\n')) {
        print_error("rc=%d msg='%s', expected '%s'\n", rc, e.msg, needle);
        fail();
    }
}

#define FAILS(text, needle) fails((text), strlen(text), (needle))

static void faults(void **state) {
    (void)state;
    FAILS("{\"SUB1_on_walk_1\": \"Foot: x\"}", "key 'SUB1_on_walk_1' is not a sequence id");
    FAILS("{\"SUB01_on_walk_1\\n\": \"Foot: x\"}", "key 'SUB01_on_walk_1\\x0a'");
    FAILS("{\"SUB01_on_walk_1\": 5}", "key 'SUB01_on_walk_1': value is a number");
    FAILS("{\"SUB01_on_walk_1\": [\"Foot: x\"]}", "value is an array");
    FAILS("{\"SUB01_on_walk_1\": null}", "value is null");
    FAILS("{\"SUB01_on_walk_1\": \" \\t \"}", "the rationale is empty");
    FAILS("{\"SUB01_on_walk_1\": \"Foot: a\", \"SUB01_on_walk_2\": \"Foot: b\", \"SUB01_on_walk_1\": \"Foot: c\"}",
          "key 'SUB01_on_walk_1' appears more than once");
    FAILS("{\n\"SUB01_on_walk_1\": \"Foot: x", "cot.json:2:21: a string here never ends");
    FAILS("{\n\"SUB01_on_walk_1\": \"Foot: x\"", "ends too early");
    FAILS("[\"Foot: x\"]", "the top level is an array");
    FAILS("\"Foot: x\"", "the top level is a string");
    FAILS("{\"SUB01_on_walk_1\": \"Foot: x\"} {}", "cot.json:1:32: invalid JSON");
    FAILS("{\"SUB01_on_walk_1\": \"Foot: \xff\"}", "not valid UTF-8 at byte 6");
    FAILS("{\"SUB01_on_walk_1\": \"Foot: \xed\xa0\x80\"}", "not valid UTF-8");  // a UTF-16 surrogate
    FAILS("{\"SUB01_on_walk_1\": \"Foot: \xc0\xaf\"}", "not valid UTF-8");      // overlong '/'
    FAILS("", "ends too early");
    fails("{\"SUB01_on_walk_1\": \"Foot:\0x\"}", 29, "NUL byte");
}

// The size cap applies before reading: a sparse file just over the limit is refused.
static void size_cap(void **state) {
    (void)state;
    char dir[256], path[512];
    agir_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/huge.json", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(ftruncate(fileno(f), (off_t)AGIR_ANNOT_MAX_BYTES + 1), 0);
    fclose(f);
    agir_annot a;
    agir_err e;
    agir_err_clear(&e);
    assert_int_equal(agir_annot_read(path, &a, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "huge.json"));
    unlink(path);
}

static void attaches(void **state) {
    (void)state;
    agir_gait g;
    agir_err e;
    agir_err_clear(&e);
    assert_int_equal(agir_gait_init(&g, &agir_skel_h36m17, 0, NULL, &e), AGIR_OK);
    float frames[2 * H36M_J * 3] = {0};
    const char *ids[3] = {"SUB01_off_walk_1", "SUB01_on_walk_1", "SUB02_on_walk_4"};
    for (int s = 0; s < 3; s++) {
        agir_seq m = {.id = (char *)ids[s], .subject = "SUB01", .updrs_gait = 1, .fps = 20, .source = "bmclab"};
        assert_int_equal(agir_gait_append(&g, &m, frames, 2, NULL, &e), AGIR_OK);
    }
    assert_int_equal(agir_gait_set_text(&g, 1, "a description", NULL, &e), AGIR_OK);
    agir_annot a;
    parse_ok("{\"SUB01_on_walk_1\": \"Foot: one\", \"SUB09_off_walk_1\": \"Foot: none\", "
             "\"SUB01_off_walk_1\": \"Foot: two\"}",
             &a);
    int64_t matched, unmatched;
    assert_int_equal(agir_annot_attach(&a, &g, &matched, &unmatched, &e), AGIR_OK);
    assert_int_equal(matched, 2);
    assert_int_equal(unmatched, 1);
    assert_string_equal(g.seq[0].rationale, "Foot: two");
    assert_string_equal(g.seq[1].rationale, "Foot: one");
    assert_string_equal(g.seq[1].description, "a description");
    assert_null(g.seq[2].rationale);
    agir_annot_free(&a);
    agir_gait_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_format), cmocka_unit_test(parses),   cmocka_unit_test(faults),
        cmocka_unit_test(size_cap),   cmocka_unit_test(attaches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
