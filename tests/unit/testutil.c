// Helpers shared by the unit tests.
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void agir_test_tmpdir(char *out, size_t outsz) {
    const char *base = getenv("TMPDIR");
    snprintf(out, outsz, "%s/agir-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(out)) {
        perror("mkdtemp");
        exit(1);
    }
}

void agir_test_src(const char *rel, char *out, size_t outsz) {
    const char *root = getenv("AGIR_SOURCE_DIR");
    snprintf(out, outsz, "%s/%s", root && *root ? root : "..", rel);
}

const char *agir_test_bin(void) {
    const char *b = getenv("AGIR_BIN");
    return b && *b ? b : NULL;
}

void agir_test_skip(const char *why) {
    printf("SKIPPED: %s\n", why);
    fflush(stdout);
    exit(77);
}
