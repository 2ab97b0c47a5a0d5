// `agir gguf-info FILE.gguf [--quiet]`: validates a GGUF file fully (header, metadata, tensor
// infos, and every tensor dequantized once) and prints its metadata and tensors.
#include <stdio.h>

#include "checkpoints/gguf.h"
#include "cli/args.h"
#include "cli/cli.h"

#define GGUF_INFO_USAGE "FILE.gguf [--quiet]"

// Floats dequantized at a time: bounds the scratch memory whatever the tensor sizes.
enum { SCRATCH_FLOATS = 1 << 20 };

const agir_opt agir_opts_gguf_info[] = {
    {"quiet", NULL, "validate only: print nothing unless the file is bad"},
    AGIR_OPTS_END,
};

int agir_cmd_gguf_info(int argc, char **argv, agir_err *e) {
    agir_args a;
    AGIR_TRY(agir_args_command("gguf-info", argc, argv, agir_opts_gguf_info, 1, 1, GGUF_INFO_USAGE, &a, e));
    agir_gguf g;
    AGIR_TRY(agir_gguf_open(a.pos[0], &g, e));
    int rc = agir_gguf_check_values(&g, SCRATCH_FLOATS, e);
    if (!rc && !agir_args_get(&a, "quiet")) {
        agir_gguf_print_summary(&g, stdout);
        printf("%s: every tensor read and finite\n", a.pos[0]);
    }
    agir_gguf_close(&g);
    return rc;
}
