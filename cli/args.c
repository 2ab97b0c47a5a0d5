// Command-line option parsing.
#include "cli/args.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const agir_opt *find_opt(const agir_opt *opts, const char *name, size_t n) {
    for (const agir_opt *o = opts; o && o->name; o++)
        if (strlen(o->name) == n && !strncmp(o->name, name, n)) return o;
    return NULL;
}

int agir_args_parse(const char *cmd, int argc, char **argv, const agir_opt *opts, agir_args *a, agir_err *e) {
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
        const agir_opt *o = find_opt(opts, name, n);
        if (!o)
            return AGIR_BAD(e, "agir %s: unknown option '--%.*s' (hint: 'agir help %s' lists the options)", cmd, (int)n,
                            name, cmd);
        if (!o->arg && value)
            return AGIR_BAD(e, "agir %s: option '--%s' takes no value (hint: %s)", cmd, o->name, o->help);
        if (o->arg && !value) {
            // A value that looks like the next option is taken for a forgotten value (give
            // --name=--text to mean it).
            if (i + 1 >= argc || (argv[i + 1][0] == '-' && argv[i + 1][1] == '-'))
                return AGIR_BAD(e, "agir %s: option '--%s' needs a value (hint: --%s %s: %s)", cmd, o->name, o->name,
                                o->arg, o->help);
            value = argv[++i];
        }
        if (a->nopt >= (int)(sizeof a->opt / sizeof *a->opt)) return AGIR_BAD(e, "agir %s: too many options", cmd);
        a->opt[a->nopt].name = name;
        a->opt[a->nopt].value = o->arg ? value : "";
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

int agir_args_only(const agir_args *a, const char *names, agir_err *e) {
    for (int i = 0; i < a->nopt; i++) {
        const char *o = a->opt[i].name;
        size_t n = strcspn(o, "=");
        int ok = 0;
        for (const char *p = names; *p && !ok;) {
            size_t k = strcspn(p, " ");
            ok = k == n && !strncmp(p, o, n);
            p += k;
            p += strspn(p, " ");
        }
        if (!ok)
            return AGIR_BAD(e, "agir %s: option '--%.*s' does not apply here (hint: 'agir help %.*s' says which "
                            "options go with what)", a->cmd, (int)n, o, (int)strcspn(a->cmd, " "), a->cmd);
    }
    return AGIR_OK;
}

void agir_opts_print(const agir_opt *opts, FILE *out) {
    for (const agir_opt *o = opts; o && o->name; o++) {
        char left[96];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        if (strlen(left) > 24)
            fprintf(out, "  %s\n  %-24s  %s\n", left, "", o->help);
        else
            fprintf(out, "  %-24s  %s\n", left, o->help);
    }
}

int agir_args_command(const char *cmd, int argc, char **argv, const agir_opt *opts, int min, int max,
                      const char *usage, agir_args *a, agir_err *e) {
    AGIR_TRY(agir_args_parse(cmd, argc, argv, opts, a, e));
    return agir_args_need(a, min, max, usage, e);
}
