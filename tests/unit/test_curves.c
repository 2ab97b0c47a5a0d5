// Training curves from metrics.jsonl (plot/curves.h): a resumed run's repeated steps replaced,
// torn and foreign lines skipped and counted, held-out series per key, refusal of a file without
// records, and the PNG.
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "plot/curves.h"

static const char RESUMED[] =
    "{\"event\":\"start\",\"step\":0}\n"
    "{\"m2t\":4.0,\"t2m\":9.0,\"event\":\"val\",\"step\":0}\n"
    "{\"event\":\"train\",\"step\":5,\"loss\":3.0}\n"
    "{\"event\":\"train\",\"step\":10,\"loss\":2.5}\n"
    "{\"event\":\"checkpoint\",\"step\":5}\n"
    "{\"event\":\"resume\",\"step\":5}\n"
    "{\"event\":\"train\",\"step\":10,\"loss\":2.4}\n"
    "{\"event\":\"train\",\"step\":15,\"loss\":2.0}\n"
    "not json\n"
    "{\"m2t\":3.0,\"t2m\":5.0,\"event\":\"val\",\"step\":15,\"windows\":4}\n"
    "{\"event\":\"train\",\"st";

static void test_resumed_run(void **state) {
    (void)state;
    agir_curves c;
    agir_err e = {0};
    assert_int_equal(agir_curves_parse(RESUMED, strlen(RESUMED), "m.jsonl", &c, &e), AGIR_OK);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.s[0].name, "m2t");
    assert_string_equal(c.s[1].name, "t2m");
    assert_true(c.s[0].held_out && c.s[1].held_out);
    const agir_series *loss = &c.s[2];
    assert_string_equal(loss->name, "loss");
    assert_int_equal(loss->n, 3);
    double want_step[] = {5, 10, 15}, want[] = {3.0, 2.4, 2.0};
    for (int i = 0; i < 3; i++) {
        assert_true(loss->step[i] == want_step[i]);
        assert_true(loss->value[i] == want[i]);
    }
    assert_int_equal(c.s[1].n, 2);  // t2m at 0 and 15; "windows" is not a series
    assert_int_equal(c.skipped, 2);  // "not json" and the torn last line
    char dir[256], png[300];
    agir_test_tmpdir(dir, sizeof dir);
    snprintf(png, sizeof png, "%s/curves.png", dir);
    assert_int_equal(agir_plot_curves(&c, "run", png, &e), AGIR_OK);
    struct stat st;
    assert_int_equal(stat(png, &st), 0);
    assert_true(st.st_size > 1000);
    agir_curves_free(&c);
}

static void test_no_records(void **state) {
    (void)state;
    agir_curves c;
    agir_err e = {0};
    const char *t = "{\"event\":\"start\",\"step\":0}\n";
    assert_int_equal(agir_curves_parse(t, strlen(t), "m.jsonl", &c, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "m.jsonl: no training or validation record"));
    assert_int_equal(agir_curves_parse("", 0, "m.jsonl", &c, &e), AGIR_EINPUT);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_resumed_run), cmocka_unit_test(test_no_records)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
