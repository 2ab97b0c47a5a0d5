// Training curves: reading metrics.jsonl and drawing it (curves.h).
#include "plot/curves.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "core/fsio.h"
#include "plot/plot.h"

void agir_curves_free(agir_curves *c) {
    for (int i = 0; i < c->n; i++) free(c->s[i].step), free(c->s[i].value);
    memset(c, 0, sizeof *c);
}

static agir_series *series(agir_curves *c, const char *name, int held_out) {
    for (int i = 0; i < c->n; i++)
        if (c->s[i].held_out == held_out && !strcmp(c->s[i].name, name)) return &c->s[i];
    if (c->n == AGIR_CURVES_MAX_SERIES || strlen(name) >= AGIR_CURVES_NAME) return NULL;
    agir_series *s = &c->s[c->n++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->held_out = held_out;
    return s;
}

// Appends (step, value), first dropping the points at or after step (a resumed run's repeats).
static int add(agir_series *s, double step, double value, agir_err *e) {
    while (s->n && s->step[s->n - 1] >= step) s->n--;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        double *a = realloc(s->step, cap * sizeof *a);
        if (a) s->step = a;
        double *b = a ? realloc(s->value, cap * sizeof *b) : NULL;
        if (!a || !b) return AGIR_BUG(e, "out of memory reading metrics");
        s->value = b, s->cap = cap;
    }
    s->step[s->n] = step, s->value[s->n] = value, s->n++;
    return AGIR_OK;
}

// The values of one record; *ok = 0 when it is not a record with an event and a finite step.
static int record(agir_curves *c, const cJSON *o, int *ok, agir_err *e) {
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(o, "event"), *st = cJSON_GetObjectItemCaseSensitive(o, "step");
    *ok = cJSON_IsString(ev) && cJSON_IsNumber(st) && isfinite(st->valuedouble);
    if (!*ok) return AGIR_OK;
    int train = !strcmp(ev->valuestring, "train"), val = !strcmp(ev->valuestring, "val");
    if (train) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "loss");
        agir_series *s = cJSON_IsNumber(l) ? series(c, "loss", 0) : NULL;
        if (s && isfinite(l->valuedouble)) AGIR_TRY(add(s, st->valuedouble, l->valuedouble, e));
    } else if (val) {
        for (const cJSON *k = o->child; k; k = k->next) {
            if (!cJSON_IsNumber(k) || !k->string || !strcmp(k->string, "step") || !strcmp(k->string, "time") ||
                !strcmp(k->string, "windows") || !isfinite(k->valuedouble))
                continue;
            agir_series *s = series(c, k->string, 1);
            if (s) AGIR_TRY(add(s, st->valuedouble, k->valuedouble, e));
        }
    }
    return AGIR_OK;
}

int agir_curves_parse(const char *text, size_t len, const char *name, agir_curves *c, agir_err *e) {
    memset(c, 0, sizeof *c);
    if (len > AGIR_CURVES_MAX_BYTES)
        return AGIR_BAD(e, "%s: %zu bytes, more than the %zu a metrics file may have (hint: is this a training run's "
                        "metrics.jsonl?)", name, len, AGIR_CURVES_MAX_BYTES);
    size_t at = 0;
    int rc = AGIR_OK;
    while (!rc && at < len) {
        const char *p = text + at, *nl = memchr(p, '\n', len - at);
        size_t n = nl ? (size_t)(nl - p) : len - at;
        at += n + 1;
        cJSON *o = cJSON_ParseWithLength(p, n);
        int ok = 0;
        if (cJSON_IsObject(o)) rc = record(c, o, &ok, e);
        if (!ok && n) c->skipped++;
        cJSON_Delete(o);
    }
    if (!rc && c->n == 0)
        rc = AGIR_BAD(e, "%s: no training or validation record (hint: the run has not logged an interval yet; "
                      "train.log_every sets how often it does)", name);
    if (rc) agir_curves_free(c);
    return rc;
}

int agir_curves_read(const char *path, agir_curves *c, agir_err *e) {
    char *text;
    size_t len;
    AGIR_TRY(agir_read_file(path, AGIR_CURVES_MAX_BYTES, &text, &len, e));
    int rc = agir_curves_parse(text, len, path, c, e);
    free(text);
    return rc;
}

// One panel: the series of one kind, x over every step, y over their values.
static void panel(agir_fig *f, agir_rect cell, const agir_curves *c, int held_out, const char *title) {
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int i = 0; i < c->n; i++)
        for (size_t k = 0; c->s[i].held_out == held_out && k < c->s[i].n; k++) {
            x0 = fmin(x0, c->s[i].step[k]), x1 = fmax(x1, c->s[i].step[k]);
            y0 = fmin(y0, c->s[i].value[k]), y1 = fmax(y1, c->s[i].value[k]);
        }
    agir_axes ax;
    agir_axes_setup(&ax, f, cell, &(agir_axes_spec){.title = title, .xlabel = "update", .ylabel = held_out ? "held-out value"
                                                    : "loss (nats per trained token)", .x0 = x0, .x1 = x1,
                                                    .y0 = y0 < 0 ? y0 : 0, .y1 = y1, .nice_x = 1, .nice_y = 1});
    agir_legend_item items[AGIR_CURVES_MAX_SERIES];
    int n = 0;
    for (int i = 0; i < c->n; i++) {
        if (c->s[i].held_out != held_out) continue;
        agir_style st = {.colour = agir_palette(n), .width = 2, .marker = held_out ? AGIR_MARK_CIRCLE : 0};
        agir_plot_line(&ax, c->s[i].step, c->s[i].value, c->s[i].n, &st);
        if (held_out) agir_plot_points(&ax, c->s[i].step, c->s[i].value, c->s[i].n, &st);
        items[n++] = (agir_legend_item){c->s[i].name, st, 0};
    }
    if (n) agir_axes_legend(&ax, items, n, 1);
}

int agir_plot_curves(const agir_curves *c, const char *title, const char *out_png, agir_err *e) {
    agir_fig f;
    AGIR_TRY(agir_fig_init(&f, 1400, 560, e));
    agir_fig_title(&f, title, "training loss of each logged interval; held-out values at each validation");
    agir_rect body = agir_fig_body(&f);
    panel(&f, agir_grid_cell(body, 1, 2, 0, 0, 30), c, 0, "training");
    panel(&f, agir_grid_cell(body, 1, 2, 0, 1, 30), c, 1, "held out");
    int rc = agir_fig_save_png(&f, out_png, e);
    agir_fig_free(&f);
    return rc;
}
