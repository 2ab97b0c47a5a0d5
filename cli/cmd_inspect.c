// `agir inspect FILE.safetensors`: validates a safetensors file fully and lists its metadata and
// tensors (name, dtype, shape, bytes) in file order.
#include <stdio.h>

#include "checkpoints/safetensors.h"
#include "cli/args.h"
#include "cli/cli.h"

#define INSPECT_USAGE "FILE.safetensors"

const agir_opt agir_opts_inspect[] = {AGIR_OPTS_END};

int agir_cmd_inspect(int argc, char **argv, agir_err *e) {
    agir_args a;
    AGIR_TRY(agir_args_command("inspect", argc, argv, agir_opts_inspect, 1, 1, INSPECT_USAGE, &a, e));
    agir_st_file f;
    AGIR_TRY(agir_st_open(a.pos[0], &f, e));
    size_t data = 0;
    for (int64_t i = 0; i < f.n; i++) data += f.t[i].nbytes;
    printf("%s: safetensors, %lld tensors, %zu bytes of data, %zu-byte header, %lld metadata entries\n", a.pos[0],
           (long long)f.n, data, f.header_len, (long long)f.n_meta);
    for (int64_t i = 0; i < f.n_meta; i++) printf("  meta %s = %s\n", f.meta[i].key, f.meta[i].value);
    for (int64_t i = 0; i < f.n; i++) {
        const agir_tensor_view *v = &f.t[i];
        char shape[256];
        agir_st_shape_str(v, shape, sizeof shape);
        printf("  %-40s %-5s %-24s %zu bytes\n", v->name, agir_st_dtype_name(v->dtype), shape, v->nbytes);
    }
    agir_st_close(&f);
    return AGIR_OK;
}
