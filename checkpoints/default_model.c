// Locating the default model file: environment, source tree, then next to the executable.
#include "checkpoints/default_model.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MODELS_DIR "models-cache"

static int is_file(const char *p) { return access(p, R_OK) == 0; }

// The source tree this library was built from: CMake compiles with absolute paths, so __FILE__
// is <source dir>/checkpoints/default_model.c. Empty when it is not absolute.
static void source_dir(char *out, size_t outsz) {
    const char *self = __FILE__, *tail = "/checkpoints/default_model.c";
    size_t n = strlen(self), t = strlen(tail);
    out[0] = '\0';
    if (self[0] == '/' && n > t && !strcmp(self + n - t, tail) && n - t < outsz) {
        memcpy(out, self, n - t);
        out[n - t] = '\0';
    }
}

// Folder of the running executable, or empty.
static void exe_dir(char *out, size_t outsz) {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    out[0] = '\0';
    if (n <= 0) return;
    buf[n] = '\0';
    snprintf(out, outsz, "%s", dirname(buf));
}

int agir_default_model_path(char *out, size_t outsz, agir_err *e) {
    const char *env = getenv("AGIR_MODEL");
    if (env && env[0]) {
        if (!is_file(env))
            return AGIR_BAD(e, "AGIR_MODEL=%s: no such readable file (hint: unset it to use the default model, or "
                            "point it at a .gguf file)", env);
        if ((size_t)snprintf(out, outsz, "%s", env) >= outsz) return AGIR_BAD(e, "AGIR_MODEL: path too long");
        return AGIR_OK;
    }
    char src[2048], exe[2048], cand[3][4096];
    source_dir(src, sizeof src);
    exe_dir(exe, sizeof exe);
    snprintf(cand[0], sizeof cand[0], "%s/" MODELS_DIR "/" AGIR_DEFAULT_MODEL_FILE, src);
    snprintf(cand[1], sizeof cand[1], "%s/" MODELS_DIR "/" AGIR_DEFAULT_MODEL_FILE, exe);
    snprintf(cand[2], sizeof cand[2], "%s/../" MODELS_DIR "/" AGIR_DEFAULT_MODEL_FILE, exe);
    for (int i = 0; i < 3; i++) {
        if ((i == 0 && !src[0]) || (i > 0 && !exe[0]) || !is_file(cand[i])) continue;
        if ((size_t)snprintf(out, outsz, "%s", cand[i]) >= outsz)
            return AGIR_BUG(e, "model path longer than %zu bytes", outsz);
        return AGIR_OK;
    }
    return AGIR_BAD(e, "%s: default model not found in %s/" MODELS_DIR " nor next to the executable (hint: run "
                    "tools/fetch_model.sh, or set AGIR_MODEL to a .gguf file)", AGIR_DEFAULT_MODEL_FILE,
                    src[0] ? src : "<source dir>");
}
