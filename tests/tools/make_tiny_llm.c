// make_tiny_llm DIR TOKENIZER.json [SEED [DATA_DIR]]: writes the tiny random Llama model of
// tiny_llm.h into DIR, and with DATA_DIR the tiny fine-tuning data there (texts.h5, tokens.h5), for
// the integration tests and the benchmark smoke test of the fine-tuning job.
#include <stdio.h>
#include <stdlib.h>

#include "tiny_llm.h"

int main(int argc, char **argv) {
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: make_tiny_llm DIR TOKENIZER.json [SEED [DATA_DIR]]\n");
        return 2;
    }
    agir_err e = {0};
    int rc = agir_tiny_llm_write(argv[1], argv[2], argc > 3 ? strtoull(argv[3], NULL, 10) : 1, &e);
    if (!rc && argc > 4) {
        char texts[4096], tokens[4096];
        snprintf(texts, sizeof texts, "%s/texts.h5", argv[4]);
        snprintf(tokens, sizeof tokens, "%s/tokens.h5", argv[4]);
        rc = agir_tiny_sft_data(texts, tokens, &e);
    }
    if (rc) {
        fprintf(stderr, "make_tiny_llm: %s\n", e.msg);
        return 2;
    }
    return 0;
}
