// Fuzz harness for the HF config.json reader (models/hf_config.c).
// Input: config.json bytes. Checks: failures are one-line input errors naming the file; an
// accepted configuration has positive sizes and positive finite eps and RoPE parameters (how the
// sizes fit together is agir_llama_alloc's check, at load).
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "models/llama.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    agir_llama_config c;
    agir_err e = {0};
    int rc = agir_hf_config_parse((const char *)data, size, "fuzz/config.json", &c, &e);
    fuzz_check_error(rc, &e, "fuzz/config.json");
    if (rc) return 0;
    if (c.vocab < 1 || c.dim < 1 || c.ffn < 1 || c.n_layer < 1 || c.n_head < 1 || c.n_kv_head < 1 ||
        c.head_dim < 1)
        abort();
    if (!(c.eps > 0) || !isfinite(c.eps) || !(c.rope.theta > 0) || !isfinite(c.rope.theta)) abort();
    if (c.rope.factor != 0 && !(c.rope.high_freq_factor > c.rope.low_freq_factor && c.rope.original_max_pos > 0))
        abort();
    int dims[AGIR_LORA_NTARGET][2];
    agir_llama_lora_dims(&c, dims);
    for (int t = 0; t < AGIR_LORA_NTARGET; t++)
        if (dims[t][0] < 1 || dims[t][1] < 1) abort();
    return 0;
}
