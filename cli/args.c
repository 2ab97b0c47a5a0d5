// Command-line option parsing.
#include "cli/args.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

// Looks `name` (length n) up in spec; returns 0 unknown, 1 flag, 2 takes a value.
static int spec_kind(const char *spec, const char *name, size_t n) {
    const char *p = spec;
    while (p && *p) {
        while (*p == ' ') p++;
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int val = len > 0 && p[len - 1] == '=';
        size_t nl = val ? len - 1 : len;
        if (nl == n && nl > 0 && !strncmp(p, name, n)) return val ? 2 : 1;
        p = end;
    }
    return 0;
}

int agir_args_parse(const char *cmd, int argc, char **argv, const char *spec, agir_args *a, agir_err *e) {
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    int only_pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (only_pos || s[0] != '-' || s[1] != '-') {
            if (!only_pos && s[0] == '-' && s[1])
                return AGIR_BAD(e, "agir %s: unknown option '%s' (hint: long options start with '--'; see 'agir %s --help')",
                                cmd, s, cmd);
            if (a->npos >= (int)(sizeof a->pos / sizeof *a->pos)) return AGIR_BAD(e, "agir %s: too many arguments", cmd);
            a->pos[a->npos++] = s;
            continue;
        }
        if (!s[2]) {
            only_pos = 1;
            continue;
        }
        const char *name = s + 2;
        const char *eq = strchr(name, '=');
        size_t n = eq ? (size_t)(eq - name) : strlen(name);
        const char *value = eq ? eq + 1 : NULL;
        if (n == 3 && !strncmp(name, "set", 3)) {
            if (!value) {
                if (i + 1 >= argc) return AGIR_BAD(e, "agir %s: --set needs section.key=value (hint: --set run.seed=7)", cmd);
                value = argv[++i];
            }
            if (a->nsets >= (int)(sizeof a->sets / sizeof *a->sets)) return AGIR_BAD(e, "agir %s: too many --set", cmd);
            a->sets[a->nsets++] = value;
            continue;
        }
        int kind = spec_kind(spec, name, n);
        if (!kind)
            return AGIR_BAD(e, "agir %s: unknown option '--%.*s' (hint: see 'agir %s --help')", cmd, (int)n, name, cmd);
        if (kind == 1 && value) return AGIR_BAD(e, "agir %s: option '--%.*s' takes no value", cmd, (int)n, name);
        if (kind == 2 && !value) {
            if (i + 1 >= argc) return AGIR_BAD(e, "agir %s: option '--%.*s' needs a value", cmd, (int)n, name);
            value = argv[++i];
        }
        if (a->nopt >= (int)(sizeof a->opt / sizeof *a->opt)) return AGIR_BAD(e, "agir %s: too many options", cmd);
        a->opt[a->nopt].name = name;
        a->opt[a->nopt].value = kind == 1 ? "" : value;
        a->nopt++;
    }
    return AGIR_OK;
}

const char *agir_args_get(const agir_args *a, const char *name) {
    size_t n = strlen(name);
    const char *found = NULL;
    for (int i = 0; i < a->nopt; i++) {
        const char *o = a->opt[i].name;
        if (!strncmp(o, name, n) && (o[n] == '\0' || o[n] == '=')) found = a->opt[i].value;
    }
    return found;
}

int agir_args_need(const agir_args *a, int min, int max, const char *usage, agir_err *e) {
    if (a->npos < min || a->npos > max)
        return AGIR_BAD(e, "agir %s: got %d argument%s (hint: usage: agir %s %s)", a->cmd, a->npos,
                        a->npos == 1 ? "" : "s", a->cmd, usage);
    return AGIR_OK;
}

int agir_args_uint(const agir_args *a, const char *name, unsigned long long min, unsigned long long max,
                   unsigned long long *out, agir_err *e) {
    const char *s = agir_args_get(a, name);
    if (!s) return AGIR_OK;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (!*s || *s == '-' || *end || errno || x < min || x > max)
        return AGIR_BAD(e, "agir %s: --%s '%s' is not an integer in %llu..%llu (hint: e.g. --%s %llu)", a->cmd, name, s,
                        min, max, name, min > 1 ? min : (max < 8 ? max : 8));
    *out = x;
    return AGIR_OK;
}
