// Fuzz harness for the GGUF model loader (models/llama_gguf.c). Input: a whole GGUF file. Files
// the GGUF reader accepts go on to agir_llama_load_gguf (metadata -> configuration, tensors ->
// weights); both must fail only as one-line input errors naming the file, and an accepted model
// must have the shapes its configuration describes with finite weights.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "checkpoints/gguf.h"
#include "fuzz_util.h"
#include "models/llama_load.h"

#define NAME "fuzz/model.gguf"

static int all_finite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    agir_gguf g;
    agir_err e = {0};
    int rc = agir_gguf_open_mem(data, size, NAME, &g, &e);
    fuzz_check_error(rc, &e, NAME);
    if (rc) return 0;
    agir_llama m;
    rc = agir_llama_load_gguf(&g, &m, &e);
    fuzz_check_error(rc, &e, NAME);
    if (!rc) {
        const agir_llama_config *c = &m.cfg;
        // The embedding came from the file (at least 4.5 bits per weight), which bounds its size.
        if (c->vocab < 1 || c->dim < 1 || (uint64_t)c->vocab * (uint64_t)c->dim > 2 * (uint64_t)size) abort();
        if (m.v0 != c->vocab || (c->tied != (m.head == m.embed))) abort();
        if (!all_finite(m.embed, (size_t)c->vocab * c->dim) || !all_finite(m.norm, (size_t)c->dim)) abort();
        if (!all_finite(m.inv_freq, (size_t)c->head_dim / 2)) abort();
        agir_llama_free(&m);
    }
    agir_gguf_close(&g);
    return 0;
}
