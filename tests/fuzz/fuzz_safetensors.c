// Fuzz harness for the safetensors reader. What it accepts must be self-consistent: views packed
// from offset 0 inside the input, byte counts matching shape and dtype, every name found again.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    agir_st_file f;
    agir_err e;
    agir_err_clear(&e);
    int rc = agir_st_open_mem(data, size, "fuzz.safetensors", &f, &e);
    if (rc) {
        if (rc != AGIR_EINPUT || !e.msg[0] || strchr(e.msg, '\n')) abort();
        return 0;
    }
    const uint8_t *at = data + 8 + f.header_len;
    for (int64_t i = 0; i < f.n; i++) {
        const agir_tensor_view *v = &f.t[i];
        if ((const uint8_t *)v->data != at || agir_st_find(&f, v->name) != v || !agir_st_dtype_name(v->dtype)) abort();
        uint64_t numel = 1;
        for (int d = 0; d < v->ndim; d++) numel *= (uint64_t)v->shape[d];
        if (v->nbytes && numel == 0) abort();
        at += v->nbytes;
    }
    if (at != data + size) abort();
    for (int64_t i = 0; i < f.n_meta; i++)
        if (agir_st_meta(&f, f.meta[i].key) != f.meta[i].value) abort();
    agir_st_close(&f);
    return 0;
}
