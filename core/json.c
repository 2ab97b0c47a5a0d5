// Message helpers for JSON values and untrusted strings.
#include "core/json.h"

#include <stdio.h>

const char *agir_json_kind(const cJSON *v) {
    if (cJSON_IsObject(v)) return "an object";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    return "a string";
}

agir_shown agir_show(const char *p) {
    agir_shown o;
    size_t k = 0;
    for (; *p && k + 5 < 72; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch >= 32 && ch < 127)
            o.s[k++] = (char)ch;
        else
            k += (size_t)snprintf(o.s + k, sizeof o.s - k, "\\x%02x", ch);
    }
    snprintf(o.s + k, sizeof o.s - k, "%s", *p ? "..." : "");
    return o;
}
