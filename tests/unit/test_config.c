// INI schema: defaults, types, ranges, unknown keys with suggestions, duplicates, --set, write-back.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "testutil.h"

static const agir_key keys[] = {
    {"run", "job", AGIR_KEY_STRING, NULL, 0, 0, NULL, "job name"},
    {"train", "learning_rate", AGIR_KEY_FLOAT, "0.001", 0, 1, NULL, "peak learning rate"},
    {"train", "steps", AGIR_KEY_INT, "10", 1, 1000, NULL, "optimizer steps"},
    {"train", "cosine", AGIR_KEY_BOOL, "true", 0, 0, NULL, "cosine decay"},
    {"train", "device", AGIR_KEY_CHOICE, "cpu", 0, 0, "cpu|cuda", "device"},
    {"data", "path", AGIR_KEY_STRING, "", 0, 0, NULL, "dataset"},
    AGIR_KEYS_END,
};
static const agir_key *const schema[] = {keys, NULL};

static int load(const char *text, const char *const *sets, int nsets, agir_cfg *cfg, agir_err *e) {
    agir_err_clear(e);
    return agir_cfg_load_text(cfg, schema, "t.ini", text, strlen(text), sets, nsets, e);
}

static void defaults_and_types(void **state) {
    (void)state;
    agir_cfg cfg;
    agir_err e;
    assert_int_equal(load("[run]\njob = x\n[train]\nsteps = 42\ncosine = off\ndevice = cuda\n[data]\npath = \"a b\"\n",
                          NULL, 0, &cfg, &e),
                     AGIR_OK);
    assert_int_equal(agir_cfg_int(&cfg, "train", "steps"), 42);
    assert_false(agir_cfg_bool(&cfg, "train", "cosine"));
    assert_string_equal(agir_cfg_str(&cfg, "train", "device"), "cuda");
    assert_string_equal(agir_cfg_str(&cfg, "data", "path"), "a b");
    assert_float_equal(agir_cfg_float(&cfg, "train", "learning_rate"), 0.001, 1e-12);
    char o[64];
    agir_cfg_origin(&cfg, "train", "steps", o, sizeof o);
    assert_string_equal(o, "t.ini:4");
    agir_cfg_origin(&cfg, "train", "learning_rate", o, sizeof o);
    assert_string_equal(o, "default");
    agir_cfg_free(&cfg);
}

static void expect_error(const char *text, const char *const *sets, int nsets, const char *needle) {
    agir_cfg cfg;
    agir_err e;
    int rc = load(text, sets, nsets, &cfg, &e);
    agir_cfg_free(&cfg);
    if (rc != AGIR_EINPUT || !strstr(e.msg, needle)) {
        print_error("rc=%d msg='%s' expected to contain '%s'\n", rc, e.msg, needle);
        fail();
    }
    assert_null(strchr(e.msg, '\n'));
}

static void errors_name_line_and_suggest(void **state) {
    (void)state;
    expect_error("[run]\njob = x\n[train]\nlerning_rate = 0.1\n", NULL, 0, "t.ini:4: unknown key 'lerning_rate'");
    expect_error("[run]\njob = x\n[train]\nlerning_rate = 0.1\n", NULL, 0, "did you mean 'learning_rate'");
    expect_error("[run]\njob = x\n[trian]\nsteps = 1\n", NULL, 0, "did you mean [train]");
    expect_error("[run]\njob = x\n[train]\nsteps = abc\n", NULL, 0, "t.ini:4: train.steps = 'abc' is not an integer");
    expect_error("[run]\njob = x\n[train]\nsteps = 0\n", NULL, 0, "out of range [1, 1000]");
    expect_error("[run]\njob = x\n[train]\nlearning_rate = nan\n", NULL, 0, "not a finite number");
    expect_error("[run]\njob = x\n[train]\ndevice = tpu\n", NULL, 0, "not one of cpu|cuda");
    expect_error("[run]\njob = x\n[train]\ncosine = maybe\n", NULL, 0, "not a boolean");
    expect_error("[run]\njob = x\n[train]\nsteps = 1\nsteps = 2\n", NULL, 0, "given twice, first at line 4");
    expect_error("[run]\njob = x\n[train\n", NULL, 0, "t.ini:3: syntax error");
    expect_error("[train]\nsteps = 1\n", NULL, 0, "missing required key run.job");
    expect_error("steps = 1\n", NULL, 0, "outside any [section]");
    agir_cfg cfg;
    agir_err e;
    agir_err_clear(&e);
    assert_int_equal(agir_cfg_load_text(&cfg, schema, "t.ini", "[run]\njob = a\0b\n", 14, NULL, 0, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "t.ini: contains a NUL byte"));
    agir_cfg_free(&cfg);
}

static void overrides(void **state) {
    (void)state;
    agir_cfg cfg;
    agir_err e;
    const char *sets[] = {"train.steps=7", "data.path=x.h5"};
    assert_int_equal(load("[run]\njob = x\n[train]\nsteps = 42\n", sets, 2, &cfg, &e), AGIR_OK);
    assert_int_equal(agir_cfg_int(&cfg, "train", "steps"), 7);
    char o[64];
    agir_cfg_origin(&cfg, "train", "steps", o, sizeof o);
    assert_string_equal(o, "--set");
    agir_cfg_free(&cfg);
    const char *bad[] = {"train.stepz=7"};
    expect_error("[run]\njob = x\n", bad, 1,
                 "--set train.stepz=7: unknown key train.stepz (hint: did you mean --set train.steps=7?)");
    // A key under the wrong section: the same name elsewhere beats a near name in the section given.
    const char *moved[] = {"data.steps=200"};
    expect_error("[run]\njob = x\n", moved, 1, "did you mean --set train.steps=200?");
    expect_error("[run]\njob = x\n[data]\nsteps = 200\n", NULL, 0, "did you mean 'steps' in [train]?");
    const char *badv[] = {"train.steps=9999"};
    expect_error("[run]\njob = x\n", badv, 1, "--set train.steps: train.steps = 9999 is out of range");
    const char *semi[] = {"data.path=a ;b"};
    expect_error("[run]\njob = x\n", semi, 1, "comment");
    const char *nodot[] = {"steps=1"};
    expect_error("[run]\njob = x\n", nodot, 1, "expected section.key=value");
}

static void long_line_is_an_error(void **state) {
    (void)state;
    char text[600];
    memset(text, 0, sizeof text);
    strcpy(text, "[run]\njob = x\n[data]\npath = ");
    size_t n = strlen(text);
    memset(text + n, 'a', 400);
    expect_error(text, NULL, 0, "t.ini:4: line longer than");
}

static void write_and_reload(void **state) {
    (void)state;
    char dir[256], path[512];
    agir_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/effective.ini", dir);
    agir_cfg cfg, again;
    agir_err e;
    const char *sets[] = {"data.path= spaced name "};
    assert_int_equal(load("[run]\njob = x\n[train]\nsteps = 3\n", sets, 1, &cfg, &e), AGIR_OK);
    agir_err_clear(&e);
    assert_int_equal(agir_cfg_write(&cfg, "x", path, &e), AGIR_OK);
    agir_err_clear(&e);
    assert_int_equal(agir_cfg_load(&again, schema, path, NULL, 0, &e), AGIR_OK);
    for (size_t i = 0; i < cfg.n; i++) assert_string_equal(cfg.v[i].text, again.v[i].text);
    agir_cfg_free(&cfg);
    agir_cfg_free(&again);
}

static void edit_distance(void **state) {
    (void)state;
    assert_int_equal(agir_edit_distance("kitten", "sitting"), 3);
    assert_int_equal(agir_edit_distance("", "abc"), 3);
    assert_int_equal(agir_edit_distance("Steps", "steps"), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_and_types), cmocka_unit_test(errors_name_line_and_suggest),
        cmocka_unit_test(overrides),          cmocka_unit_test(long_line_is_an_error),
        cmocka_unit_test(write_and_reload),   cmocka_unit_test(edit_distance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
