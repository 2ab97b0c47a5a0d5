// make_tiny_llm DIR TOKENIZER.json [SEED]: writes the tiny random Llama model of tiny_llm.h, for
// the integration tests of the fine-tuning job.
#include <stdio.h>
#include <stdlib.h>

#include "tiny_llm.h"

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: make_tiny_llm DIR TOKENIZER.json [SEED]\n");
        return 2;
    }
    agir_err e = {0};
    if (agir_tiny_llm_write(argv[1], argv[2], argc > 3 ? strtoull(argv[3], NULL, 10) : 1, &e)) {
        fprintf(stderr, "make_tiny_llm: %s\n", e.msg);
        return 2;
    }
    return 0;
}
