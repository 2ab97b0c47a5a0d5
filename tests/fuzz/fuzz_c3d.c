// Fuzz harness for the C3D reader: the input is a whole file. Files that read are also mapped to
// H36M joints (marker matching, frame dropping, axis detection), which must fail only as input
// errors too.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/bmclab.h"
#include "datasets/c3d.h"

static void check_error(int rc, const agir_err *e) {
    if (rc != AGIR_EINPUT || !e->msg[0] || strchr(e->msg, '\n')) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    agir_c3d c;
    agir_err e;
    agir_err_clear(&e);
    int rc = agir_c3d_read_mem(data, size, "fuzz.c3d", &c, &e);
    if (rc) {
        check_error(rc, &e);
        return 0;
    }
    // What the reader promises: printable labels, a 0/1 mask, finite coordinates where valid.
    size_t n = (size_t)c.n_frames * (size_t)c.n_points;
    for (int p = 0; p < c.n_points; p++)
        for (const char *q = c.labels[p]; *q; q++)
            if ((unsigned char)*q < 32 || *q == 127) abort();
    for (size_t i = 0; i < n; i++) {
        if (c.valid[i] > 1) abort();
        if (c.valid[i] && !(isfinite(c.xyz[3 * i]) && isfinite(c.xyz[3 * i + 1]) && isfinite(c.xyz[3 * i + 2])))
            abort();
    }
    agir_bmclab_trial t;
    agir_err_clear(&e);
    rc = agir_bmclab_map(&c, "fuzz.c3d", AGIR_UP_AUTO, &t, &e);
    if (rc) check_error(rc, &e);
    else agir_bmclab_trial_free(&t);
    agir_c3d_free(&c);
    return 0;
}
