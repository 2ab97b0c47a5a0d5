// Fuzz harness for the GGUF reader: the input is a whole file. Files that open are walked the
// way the model loader and `agir gguf-info` do (every getter on every key, the summary, every
// tensor dequantized), which must fail only as input errors and never read outside the input.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/gguf.h"

static void check_error(int rc, const agir_err *e) {
    if (rc != AGIR_EINPUT || !e->msg[0] || strchr(e->msg, '\n')) abort();
}

// Calls every typed getter on the key; each either succeeds or is a clean input error.
static void try_getters(const agir_gguf *g, const char *key) {
    agir_err e;
    uint32_t u;
    int64_t i;
    float f;
    int b;
    char *s;
    agir_gguf_str *strs;
    int32_t *ints;
    float *fl;
    uint64_t n;
    int rc;
#define TRY(call, cleanup)           \
    agir_err_clear(&e);              \
    rc = (call);                     \
    if (rc) check_error(rc, &e);     \
    else cleanup;
    TRY(agir_gguf_get_u32(g, key, &u, &e), (void)u)
    TRY(agir_gguf_get_i64(g, key, &i, &e), (void)i)
    TRY(agir_gguf_get_f32(g, key, &f, &e), (void)f)
    TRY(agir_gguf_get_bool(g, key, &b, &e), (void)b)
    TRY(agir_gguf_get_str(g, key, &s, &e), free(s))
    TRY(agir_gguf_get_strs(g, key, &strs, &n, &e), free(strs))
    TRY(agir_gguf_get_i32s(g, key, &ints, &n, &e), free(ints))
    TRY(agir_gguf_get_f32s(g, key, &fl, &n, &e), free(fl))
#undef TRY
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static FILE *sink;
    if (!sink) sink = fopen("/dev/null", "w");
    agir_gguf g;
    agir_err e;
    agir_err_clear(&e);
    int rc = agir_gguf_open_mem(data, size, "fuzz.gguf", &g, &e);
    if (rc) {
        check_error(rc, &e);
        return 0;
    }
    // What the reader promises: printable names, views inside the input.
    for (int64_t t = 0; t < g.n_tensors; t++) {
        const agir_tensor_view *v = &g.tensors[t].view;
        const uint8_t *p = v->data;
        if (!v->name[0] || p < data || v->nbytes > size || (size_t)(p - data) > size - v->nbytes) abort();
        for (const char *q = v->name; *q; q++)
            if ((unsigned char)*q < 32 || *q == 127) abort();
    }
    for (int64_t k = 0; k < g.n_kv; k++) try_getters(&g, g.kv[k].key);
    if (sink) agir_gguf_print_summary(&g, sink);
    agir_err_clear(&e);
    rc = agir_gguf_check_values(&g, 4096, &e);
    if (rc) check_error(rc, &e);
    agir_gguf_close(&g);
    return 0;
}
