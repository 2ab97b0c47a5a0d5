// INI configuration with a schema.
//
// Every job declares its keys (type, default, range, help). Files are parsed with inih; unknown
// sections and keys (with a "did you mean" suggestion), wrong types, values out of range and keys
// given twice are errors naming file:line. `--set section.key=value` overrides are applied after
// the file and named as such in errors. The effective configuration can be written back as INI.
#ifndef AGIR_CONFIG_H
#define AGIR_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "core/error.h"

typedef enum { AGIR_KEY_INT, AGIR_KEY_FLOAT, AGIR_KEY_BOOL, AGIR_KEY_STRING, AGIR_KEY_CHOICE } agir_key_type;

typedef struct agir_key {
    const char *section;
    const char *name;  // NULL terminates a key table
    agir_key_type type;
    const char *def;      // default as text; NULL means the key is required
    double min, max;      // inclusive range for INT and FLOAT
    const char *choices;  // "a|b|c" for CHOICE
    const char *help;     // one line
} agir_key;

#define AGIR_KEYS_END {NULL, NULL, AGIR_KEY_INT, NULL, 0, 0, NULL, NULL}

typedef struct agir_value {
    const agir_key *key;
    char *text;  // effective value as text (quotes removed)
    long long i;
    double f;
    int b;
    int line;  // 0: default, > 0: line in the file, -1: --set
} agir_value;

typedef struct agir_cfg {
    char path[1024];  // "" when built from defaults and --set only
    size_t n;
    agir_value *v;  // one per declared key, in declaration order
} agir_cfg;

// Size limit of a config file; larger files are refused before parsing.
#define AGIR_CFG_MAX_BYTES (1u << 20)

// schema: NULL-terminated list of key tables (each ended by AGIR_KEYS_END).
// path may be NULL (defaults + overrides only). sets: "section.key=value" strings.
int agir_cfg_load(agir_cfg *cfg, const agir_key *const *schema, const char *path, const char *const *sets,
                  int nsets, agir_err *e);
// Same, from a string already in memory (`name` is used in messages). Used by the fuzzer too.
int agir_cfg_load_text(agir_cfg *cfg, const agir_key *const *schema, const char *name, const char *text,
                       size_t len, const char *const *sets, int nsets, agir_err *e);
void agir_cfg_free(agir_cfg *cfg);

// Finds one raw value in a file without a schema (e.g. [run] job, to choose the schema).
// Writes "" when absent. Syntax errors are reported.
int agir_cfg_peek(const char *path, const char *section, const char *name, char *out, size_t outsz, agir_err *e);

// Typed getters. Asking for an undeclared key or the wrong type is a programming error (abort).
long long agir_cfg_int(const agir_cfg *cfg, const char *section, const char *name);
double agir_cfg_float(const agir_cfg *cfg, const char *section, const char *name);
int agir_cfg_bool(const agir_cfg *cfg, const char *section, const char *name);
const char *agir_cfg_str(const agir_cfg *cfg, const char *section, const char *name);
// Where a value came from, for messages: "cfg.ini:12", "--set", "default".
void agir_cfg_origin(const agir_cfg *cfg, const char *section, const char *name, char *out, size_t outsz);

// Writes the effective configuration as INI (atomically), each key with its help as a comment.
int agir_cfg_write(const agir_cfg *cfg, const char *job, const char *path, agir_err *e);
// Prints every key with its value, default, range and help.
void agir_cfg_explain(const agir_cfg *cfg, FILE *out);

// Levenshtein distance (bounded inputs), exposed for other "did you mean" messages.
size_t agir_edit_distance(const char *a, const char *b);

#endif
