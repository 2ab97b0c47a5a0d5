// Fuzz harness for the rationale annotation parser (JSON via cJSON, key and value checks). What it
// accepts must hold only well-formed keys and non-empty values.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/annotations.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    agir_annot a;
    agir_err e;
    agir_err_clear(&e);
    int rc = agir_annot_parse((const char *)data, size, "fuzz.json", &a, &e);
    if (rc) {
        if (rc != AGIR_EINPUT || !e.msg[0] || strchr(e.msg, '\n')) abort();
        return 0;
    }
    for (int64_t i = 0; i < a.n; i++)
        if (!agir_annot_key_ok(a.keys[i]) || !a.values[i][0]) abort();
    agir_annot_free(&a);
    return 0;
}
