// Where the embedded default LLM (SmolLM2-135M-Instruct, Q4_1 GGUF) lives, found without
// configuration. tools/fetch_model.sh puts it in <source dir>/models-cache/.
#ifndef AGIR_DEFAULT_MODEL_H
#define AGIR_DEFAULT_MODEL_H

#include <stddef.h>

#include "core/error.h"

#define AGIR_DEFAULT_MODEL_FILE "SmolLM2-135M-Instruct.Q4_1.gguf"

// Fills out with the first of: $AGIR_MODEL (which must then exist), <source dir>/models-cache/FILE,
// <executable dir>/models-cache/FILE, <executable dir>/../models-cache/FILE. An input error
// listing where it looked when none exists.
int agir_default_model_path(char *out, size_t outsz, agir_err *e);

#endif
