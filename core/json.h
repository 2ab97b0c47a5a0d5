// Small helpers for messages about JSON and other text read from files.
#ifndef AGIR_JSON_H
#define AGIR_JSON_H

#include <cJSON.h>

// "an object", "an array", "a number", ... for "value is X, not Y" messages.
const char *agir_json_kind(const cJSON *v);

// A string from a file made printable (non-ASCII and control bytes as \xNN) and cut to about 70
// characters, so it can stand in a one-line message.
typedef struct agir_shown {
    char s[96];
} agir_shown;
agir_shown agir_show(const char *p);

#endif
