// The rationales released with the AGIR paper (docs/architecture.md, "Data":
// ../shared/data/CoT_annotation.json, not part of the repository) parse and check: 886 entries,
// every key a BMCLab sequence id. Skipped (exit 77) where the file is absent; AGIR_COT_ANNOTATION
// overrides its path.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets/annotations.h"
#include "testutil.h"

static char path[1024];

static void released_file(void **state) {
    (void)state;
    agir_annot a;
    agir_err e;
    agir_err_clear(&e);
    int rc = agir_annot_read(path, &a, &e);
    if (rc) print_error("%s\n", e.msg);
    assert_int_equal(rc, AGIR_OK);
    assert_int_equal(a.n, 886);
    for (int64_t i = 0; i < a.n; i++) assert_true(agir_annot_key_ok(a.keys[i]));
    // Counted independently with Python's json module: 4 values open with "**Foot:**" and two keys
    // carry a letter suffix (SUB01_off_walk_12b, SUB01_off_walk_14b).
    assert_int_equal(a.n_style, 4);
    int suffixed = 0;
    for (int64_t i = 0; i < a.n; i++) suffixed += a.keys[i][strlen(a.keys[i]) - 1] == 'b';
    assert_int_equal(suffixed, 2);
    assert_string_equal(a.keys[0], "SUB01_off_walk_1");
    assert_memory_equal(a.values[0], "Foot: The walking speed and cadence are reduced", 47);
    agir_annot_free(&a);
}

int main(void) {
    const char *env = getenv("AGIR_COT_ANNOTATION");
    if (env && *env) snprintf(path, sizeof path, "%s", env);
    else agir_test_src("../shared/data/CoT_annotation.json", path, sizeof path);
    if (access(path, R_OK)) {
        char why[1200];
        snprintf(why, sizeof why, "%s is absent (the released annotations are not in the repository)", path);
        agir_test_skip(why);
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(released_file)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
