// Fuzz harness for the BMCLab metadata CSV parser (quoting, delimiters, header search, scores).
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/bmclab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    agir_bmclab_meta m;
    agir_err e;
    agir_err_clear(&e);
    int rc = agir_bmclab_meta_parse((const char *)data, size, "fuzz.csv", &m, &e);
    if (rc) {
        if (rc != AGIR_EINPUT || !e.msg[0] || strchr(e.msg, '\n')) abort();
        return 0;
    }
    for (int i = 0; i < m.n; i++)
        if (m.s[i].on < -1 || m.s[i].on > 4 || m.s[i].off < -1 || m.s[i].off > 4 || strncmp(m.s[i].id, "SUB", 3))
            abort();
    agir_bmclab_meta_free(&m);
    return 0;
}
