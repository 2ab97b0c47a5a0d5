// Fuzz harness for the INI config parser with --set overrides.
// Input: config text, optionally followed by a NUL byte and newline-separated --set strings.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

static const agir_key keys[] = {
    {"run", "job", AGIR_KEY_STRING, "fuzz", 0, 0, NULL, "job"},
    {"run", "seed", AGIR_KEY_INT, "1", 0, 1e9, NULL, "seed"},
    {"train", "lr", AGIR_KEY_FLOAT, "0.001", 0, 1, NULL, "learning rate"},
    {"train", "steps", AGIR_KEY_INT, "10", 1, 1e6, NULL, "steps"},
    {"train", "cosine", AGIR_KEY_BOOL, "true", 0, 0, NULL, "cosine decay"},
    {"train", "device", AGIR_KEY_CHOICE, "cpu", 0, 0, "cpu|cuda", "device"},
    {"data", "path", AGIR_KEY_STRING, "", 0, 0, NULL, "path"},
    {"data", "required", AGIR_KEY_STRING, NULL, 0, 0, NULL, "a required key"},
    AGIR_KEYS_END,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const agir_key *const schema[] = {keys, NULL};
    const uint8_t *nul = memchr(data, 0, size);
    size_t text_len = nul ? (size_t)(nul - data) : size;
    char *sets_buf = NULL;
    const char *sets[16];
    int nsets = 0;
    if (nul) {
        size_t n = size - text_len - 1;
        sets_buf = malloc(n + 1);
        memcpy(sets_buf, nul + 1, n);
        sets_buf[n] = '\0';
        for (char *p = sets_buf; p && *p && nsets < 16;) {
            sets[nsets++] = p;
            p = strchr(p, '\n');
            if (p) *p++ = '\0';
        }
    }
    agir_cfg cfg;
    agir_err e;
    agir_err_clear(&e);
    int rc = agir_cfg_load_text(&cfg, schema, "fuzz.ini", (const char *)data, text_len, sets, nsets, &e);
    if (rc == AGIR_OK) {
        (void)agir_cfg_int(&cfg, "train", "steps");
        (void)agir_cfg_str(&cfg, "data", "path");
    } else if (rc != AGIR_EINPUT || !e.msg[0] || strchr(e.msg, '\n')) {
        abort();  // parser errors must be input errors with a one-line message
    }
    agir_cfg_free(&cfg);
    free(sets_buf);
    return 0;
}
