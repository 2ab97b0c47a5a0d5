// Plotting layer on cairo: figure, layout, axes with nice ticks, lines, markers, strip/box plots,
// legends and PNG output.
#include "plot/plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsio.h"

// cairo and fontconfig keep process-wide font caches that nothing frees (only
// cairo_debug_reset_static_data() plus fontconfig's FcFini() would, at exit). Under
// AddressSanitizer the allocations made while laying out text are therefore kept out of leak
// checking, so that leak reports point at AGIR's own memory.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AGIR_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define AGIR_ASAN 1
#endif
#ifdef AGIR_ASAN
#include <sanitizer/lsan_interface.h>
#define FONT_CACHE_BEGIN() __lsan_disable()
#define FONT_CACHE_END() __lsan_enable()
#else
#define FONT_CACHE_BEGIN() ((void)0)
#define FONT_CACHE_END() ((void)0)
#endif

static const agir_rgb ink = {0.15, 0.15, 0.15};

agir_rgb agir_palette(int i) {
    static const unsigned hex[AGIR_PAL_N] = {0x0072B2, 0xD55E00, 0x009E73, 0xE69F00,
                                             0xCC79A7, 0x56B4E9, 0xF0E442, 0x000000};
    unsigned h = hex[((i % AGIR_PAL_N) + AGIR_PAL_N) % AGIR_PAL_N];
    return (agir_rgb){((h >> 16) & 255) / 255.0, ((h >> 8) & 255) / 255.0, (h & 255) / 255.0};
}

agir_rgb agir_grey(double level) { return (agir_rgb){level, level, level}; }

agir_rect agir_grid_cell(agir_rect area, int nrows, int ncols, int row, int col, double gap) {
    double w = (area.w - gap * (ncols - 1)) / ncols;
    double h = (area.h - gap * (nrows - 1)) / nrows;
    return (agir_rect){area.x + col * (w + gap), area.y + row * (h + gap), w, h};
}

void agir_rect_split_v(agir_rect area, double top_h, double gap, agir_rect *top, agir_rect *bottom) {
    double th = top_h > 1 ? top_h : (area.h - gap) * top_h;
    *top = (agir_rect){area.x, area.y, area.w, th};
    *bottom = (agir_rect){area.x, area.y + th + gap, area.w, area.h - th - gap};
}

int agir_fig_init(agir_fig *f, int w, int h, agir_err *e) {
    memset(f, 0, sizeof *f);
    if (w < 1 || h < 1 || w > AGIR_FIG_MAX_PX || h > AGIR_FIG_MAX_PX)
        return AGIR_BUG(e, "figure size %dx%d outside 1..%d px", w, h, AGIR_FIG_MAX_PX);
    f->surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    if (cairo_surface_status(f->surf) != CAIRO_STATUS_SUCCESS) {
        cairo_status_t st = cairo_surface_status(f->surf);
        agir_fig_free(f);
        return AGIR_BUG(e, "cannot create a %dx%d image: %s", w, h, cairo_status_to_string(st));
    }
    f->cr = cairo_create(f->surf);
    f->w = w, f->h = h;
    cairo_set_source_rgb(f->cr, 1, 1, 1);
    cairo_paint(f->cr);
    return AGIR_OK;
}

void agir_fig_free(agir_fig *f) {
    if (f->cr) cairo_destroy(f->cr);
    if (f->surf) cairo_surface_destroy(f->surf);
    memset(f, 0, sizeof *f);
}

static void set_colour(cairo_t *cr, agir_rgb c, double alpha) {
    cairo_set_source_rgba(cr, c.r, c.g, c.b, alpha > 0 ? alpha : 1.0);
}

static void set_font(cairo_t *cr, const agir_font *font) {
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                           font && font->bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, font && font->size > 0 ? font->size : 13);
}

double agir_text_width(agir_fig *f, const agir_font *font, const char *text) {
    FONT_CACHE_BEGIN();
    cairo_save(f->cr);
    set_font(f->cr, font);
    cairo_text_extents_t te;
    cairo_text_extents(f->cr, text, &te);
    cairo_restore(f->cr);
    FONT_CACHE_END();
    return te.x_advance;
}

void agir_text(agir_fig *f, double x, double y, double halign, double valign, double angle, const agir_font *font,
               const char *text) {
    cairo_t *cr = f->cr;
    FONT_CACHE_BEGIN();
    cairo_save(cr);
    set_font(cr, font);
    set_colour(cr, font ? font->colour : (agir_rgb){0, 0, 0}, 1);
    cairo_text_extents_t te;
    cairo_text_extents(cr, text, &te);
    // Vertical alignment uses the font's cap height rather than each string's ink, so that labels
    // with and without descenders line up.
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    double cap = fe.ascent * 0.75;
    double dy = valign >= 1 ? 0 : cap * (1 - valign);
    cairo_translate(cr, x, y);
    cairo_rotate(cr, -angle);
    cairo_move_to(cr, -halign * te.x_advance, dy);
    cairo_show_text(cr, text);
    cairo_restore(cr);
    FONT_CACHE_END();
}

void agir_fig_title(agir_fig *f, const char *title, const char *subtitle) {
    agir_text(f, 16, 14, 0, 0, 0, &(agir_font){.size = 20, .bold = 1}, title);
    f->title_h = AGIR_TITLE_H;
    if (subtitle && *subtitle) {
        agir_text(f, 16, 44, 0, 0, 0, &(agir_font){.size = 13, .colour = agir_grey(0.3)}, subtitle);
        f->title_h = AGIR_TITLE_SUB_H;
    }
}

agir_rect agir_fig_body(const agir_fig *f) {
    double top = f->title_h > 0 ? f->title_h : AGIR_FIG_MARGIN;
    return (agir_rect){AGIR_FIG_MARGIN, top, f->w - 2 * AGIR_FIG_MARGIN, f->h - top - AGIR_FIG_MARGIN};
}

int agir_fig_save_png(agir_fig *f, const char *path, agir_err *e) {
    if (cairo_status(f->cr) != CAIRO_STATUS_SUCCESS)
        return AGIR_BUG(e, "%s: drawing failed: %s", path, cairo_status_to_string(cairo_status(f->cr)));
    cairo_surface_flush(f->surf);
    char tmp[4096];
    AGIR_TRY(agir_atomic_tmpname(path, tmp, sizeof tmp, e));
    cairo_status_t st = cairo_surface_write_to_png(f->surf, tmp);
    if (st != CAIRO_STATUS_SUCCESS) {
        agir_atomic_abort(tmp);
        if (st == CAIRO_STATUS_WRITE_ERROR)
            return AGIR_BAD(e, "%s: cannot write PNG (hint: check that the folder exists, is writable and has space)",
                            path);
        return AGIR_BUG(e, "%s: cannot write PNG: %s", path, cairo_status_to_string(st));
    }
    return agir_atomic_commit(tmp, path, e);
}

// Heckbert's nice number: x rounded to 1, 2, 5 or 10 times a power of ten.
static double nicenum(double x) {
    double p = pow(10, floor(log10(x) + 1e-9));
    double fr = x / p;
    return (fr < 1.5 ? 1 : fr < 3 ? 2 : fr < 7 ? 5 : 10) * p;
}

int agir_nice_ticks(double lo, double hi, int max_ticks, double *first, double *step) {
    if (max_ticks < 2) max_ticks = 2;
    if (!(hi > lo) || !isfinite(lo) || !isfinite(hi)) {
        *first = isfinite(lo) ? lo : 0;
        *step = 1;
        return 1;
    }
    // Heckbert first rounds the range up to a nice number, which can halve the tick count
    // (1.13 -> 2 -> step 0.5); rounding the raw step keeps the count close to max_ticks.
    double d = nicenum((hi - lo) / (max_ticks - 1));
    double f0 = floor(lo / d) * d, f1 = ceil(hi / d) * d;
    *first = f0;
    *step = d;
    return (int)lround((f1 - f0) / d) + 1;
}

int agir_tick_decimals(double step) {
    for (int d = 0; d < 10; d++) {
        double s = fabs(step) * pow(10, d);
        if (fabs(s - round(s)) < 1e-6 * s) return d;
    }
    return 10;
}

double agir_quantile_sorted(const double *v, size_t n, double q) {
    double h = (double)(n - 1) * q;
    size_t i = (size_t)floor(h);
    if (i + 1 >= n) return v[n - 1];
    return v[i] + (h - (double)i) * (v[i + 1] - v[i]);
}

double agir_axes_px_x(const agir_axes *ax, double x) {
    return ax->box.x + (x - ax->x0) / (ax->x1 - ax->x0) * ax->box.w;
}

double agir_axes_px_y(const agir_axes *ax, double y) {
    return ax->box.y + ax->box.h - (y - ax->y0) / (ax->y1 - ax->y0) * ax->box.h;
}

// A usable, non-empty interval from possibly empty or degenerate limits.
static void fix_limits(double *lo, double *hi) {
    if (!isfinite(*lo) || !isfinite(*hi) || *lo > *hi) *lo = 0, *hi = 1;
    if (*hi - *lo < 1e-12 * fmax(1, fabs(*lo))) {
        double pad = fabs(*lo) > 0 ? fabs(*lo) * 0.1 : 0.5;
        *lo -= pad, *hi += pad;
    }
}

static void widen_nice(double *lo, double *hi, int max_ticks) {
    double first, step;
    int n = agir_nice_ticks(*lo, *hi, max_ticks, &first, &step);
    *lo = first;
    *hi = first + (n - 1) * step;
}

static void tick_label(char *buf, size_t sz, double v, double step) {
    if (fabs(v) < fabs(step) * 1e-9) v = 0;  // no "-0.0"
    snprintf(buf, sz, "%.*f", agir_tick_decimals(step), v);
}

enum { TICK_LEN = 4 };
static const agir_font tick_font = {.size = 12, .colour = {0.25, 0.25, 0.25}};
static const agir_font label_font = {.size = 13, .colour = {0.1, 0.1, 0.1}};
static const agir_font title_font = {.size = 14, .bold = 1};

static int max_ticks_for(double px) { return px / 45 < 2 ? 2 : (int)(px / 45); }

// Widest y tick label for the current limits and box height.
static double ytick_width(agir_axes *ax) {
    double first, step, w = 0;
    int n = agir_nice_ticks(ax->y0, ax->y1, max_ticks_for(ax->box.h), &first, &step);
    for (int i = 0; i < n; i++) {
        char buf[64];
        tick_label(buf, sizeof buf, first + i * step, step);
        w = fmax(w, agir_text_width(ax->fig, &tick_font, buf));
    }
    return w;
}

// Widens one range so that both axes have the same data units per px.
static void equalise(agir_axes *ax) {
    double sx = (ax->x1 - ax->x0) / ax->box.w, sy = (ax->y1 - ax->y0) / ax->box.h;
    if (sx > sy) {
        double c = 0.5 * (ax->y0 + ax->y1), half = 0.5 * sx * ax->box.h;
        ax->y0 = c - half, ax->y1 = c + half;
    } else {
        double c = 0.5 * (ax->x0 + ax->x1), half = 0.5 * sy * ax->box.w;
        ax->x0 = c - half, ax->x1 = c + half;
    }
}

// px above and below the box: title band; tick labels and axis label.
static double margin_top(const agir_axes_spec *sp) { return 4 + (sp->title ? 24 : 0); }
static double margin_bottom(const agir_axes_spec *sp) {
    return 4 + (sp->no_ticks ? 0 : TICK_LEN + 18) + (sp->xlabel ? 20 : 0);
}

static void layout(agir_axes *ax, agir_rect outer, const agir_axes_spec *sp) {
    double top = margin_top(sp), bottom = margin_bottom(sp);
    double left_fixed = 4 + (sp->ylabel ? 22 : 0) + (sp->no_ticks ? 0 : TICK_LEN + 4);
    ax->box.y = round(outer.y + top);
    ax->box.h = round(outer.h - top - bottom);
    // Two passes: equal aspect changes the y limits, which can change the tick label width.
    for (int pass = 0; pass < 2; pass++) {
        double left = left_fixed + (sp->no_ticks ? 0 : ytick_width(ax));
        ax->box.x = round(outer.x + left);
        ax->box.w = round(outer.w - left - (sp->no_ticks ? 4 : 10));
        if (ax->box.w < 1) ax->box.w = 1;
        if (ax->box.h < 1) ax->box.h = 1;
        if (sp->equal) equalise(ax);
    }
}

static void stroke_line(cairo_t *cr, double xa, double ya, double xb, double yb, agir_rgb c, double w) {
    set_colour(cr, c, 1);
    cairo_set_line_width(cr, w);
    cairo_move_to(cr, xa, ya);
    cairo_line_to(cr, xb, yb);
    cairo_stroke(cr);
}

// Grid, ticks and labels of one axis. Ticks are drawn only inside the limits.
static void draw_yaxis(agir_axes *ax) {
    cairo_t *cr = ax->fig->cr;
    double first, step;
    int n = agir_nice_ticks(ax->y0, ax->y1, max_ticks_for(ax->box.h), &first, &step);
    double eps = 1e-9 * (ax->y1 - ax->y0);
    for (int i = 0; i < n; i++) {
        double v = first + i * step;
        if (v < ax->y0 - eps || v > ax->y1 + eps) continue;
        double py = round(agir_axes_px_y(ax, v)) + 0.5;
        stroke_line(cr, ax->box.x, py, ax->box.x + ax->box.w, py, agir_grey(0.91), 1);
        stroke_line(cr, ax->box.x - TICK_LEN, py, ax->box.x, py, ink, 1);
        char buf[64];
        tick_label(buf, sizeof buf, v, step);
        agir_text(ax->fig, ax->box.x - TICK_LEN - 3, py, 1, 0.5, 0, &tick_font, buf);
    }
}

static void draw_xaxis(agir_axes *ax, const agir_axes_spec *sp) {
    cairo_t *cr = ax->fig->cr;
    double first = 0, step = 1;
    int n = sp->ncat > 0 ? sp->ncat : agir_nice_ticks(ax->x0, ax->x1, max_ticks_for(ax->box.w * 0.8), &first, &step);
    double eps = 1e-9 * (ax->x1 - ax->x0);
    for (int i = 0; i < n; i++) {
        double v = first + i * step;
        if (v < ax->x0 - eps || v > ax->x1 + eps) continue;
        double px = round(agir_axes_px_x(ax, v)) + 0.5, yb = ax->box.y + ax->box.h;
        if (sp->ncat <= 0) stroke_line(cr, px, ax->box.y, px, yb, agir_grey(0.91), 1);
        stroke_line(cr, px, yb, px, yb + TICK_LEN, ink, 1);
        char buf[64];
        if (sp->ncat > 0)
            snprintf(buf, sizeof buf, "%s", sp->xcat ? sp->xcat[i] : "");
        else
            tick_label(buf, sizeof buf, v, step);
        agir_text(ax->fig, px, yb + TICK_LEN + 3, 0.5, 0, 0, &tick_font, buf);
    }
}

void agir_axes_setup(agir_axes *ax, agir_fig *f, agir_rect outer, const agir_axes_spec *sp) {
    memset(ax, 0, sizeof *ax);
    ax->fig = f;
    ax->x0 = sp->x0, ax->x1 = sp->x1, ax->y0 = sp->y0, ax->y1 = sp->y1;
    if (sp->ncat > 0) ax->x0 = -0.5, ax->x1 = sp->ncat - 0.5;
    fix_limits(&ax->x0, &ax->x1);
    fix_limits(&ax->y0, &ax->y1);
    // The y tick count depends on the box height, known before the width.
    double box_h = outer.h - margin_top(sp) - margin_bottom(sp);
    if (sp->nice_y) widen_nice(&ax->y0, &ax->y1, max_ticks_for(box_h));
    if (sp->nice_x && sp->ncat <= 0) widen_nice(&ax->x0, &ax->x1, max_ticks_for(outer.w * 0.8));
    layout(ax, outer, sp);

    cairo_t *cr = f->cr;
    cairo_save(cr);
    if (!sp->no_ticks) {
        draw_yaxis(ax);
        draw_xaxis(ax, sp);
    }
    set_colour(cr, agir_grey(0.35), 1);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, ax->box.x + 0.5, ax->box.y + 0.5, ax->box.w - 1, ax->box.h - 1);
    cairo_stroke(cr);
    double cx = ax->box.x + ax->box.w / 2;
    if (sp->title) agir_text(f, cx, outer.y + 4, 0.5, 0, 0, &title_font, sp->title);
    if (sp->xlabel) agir_text(f, cx, outer.y + outer.h - 4, 0.5, 1, 0, &label_font, sp->xlabel);
    if (sp->ylabel) agir_text(f, outer.x + 4, ax->box.y + ax->box.h / 2, 0.5, 0, M_PI / 2, &label_font, sp->ylabel);
    cairo_restore(cr);
}

// Saves the state and clips to the box; pair with cairo_restore.
static cairo_t *begin(agir_axes *ax) {
    cairo_t *cr = ax->fig->cr;
    cairo_save(cr);
    cairo_rectangle(cr, ax->box.x + 1, ax->box.y + 1, ax->box.w - 2, ax->box.h - 2);
    cairo_clip(cr);
    return cr;
}

static void line_style(cairo_t *cr, const agir_style *s) {
    set_colour(cr, s->colour, s->alpha);
    double w = s->width > 0 ? s->width : 1.5;
    cairo_set_line_width(cr, w);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, s->dash ? CAIRO_LINE_CAP_BUTT : CAIRO_LINE_CAP_ROUND);
    double d[2] = {4 * w, 2.5 * w};
    cairo_set_dash(cr, d, s->dash ? 2 : 0, 0);
}

void agir_plot_line(agir_axes *ax, const double *x, const double *y, size_t n, const agir_style *s) {
    cairo_t *cr = begin(ax);
    line_style(cr, s);
    int pen = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) {
            pen = 0;
            continue;
        }
        double px = agir_axes_px_x(ax, x[i]), py = agir_axes_px_y(ax, y[i]);
        if (pen)
            cairo_line_to(cr, px, py);
        else
            cairo_move_to(cr, px, py);
        pen = 1;
    }
    cairo_stroke(cr);
    cairo_restore(cr);
}

void agir_plot_segment(agir_axes *ax, double xa, double ya, double xb, double yb, const agir_style *s) {
    double x[2] = {xa, xb}, y[2] = {ya, yb};
    agir_plot_line(ax, x, y, 2, s);
}

void agir_plot_hline(agir_axes *ax, double y, const agir_style *s) { agir_plot_segment(ax, ax->x0, y, ax->x1, y, s); }

void agir_plot_vline(agir_axes *ax, double x, const agir_style *s) { agir_plot_segment(ax, x, ax->y0, x, ax->y1, s); }

void agir_plot_rect(agir_axes *ax, double xa, double ya, double xb, double yb, const agir_style *s) {
    cairo_t *cr = begin(ax);
    double pa = agir_axes_px_x(ax, xa), pb = agir_axes_px_x(ax, xb);
    double qa = agir_axes_px_y(ax, ya), qb = agir_axes_px_y(ax, yb);
    cairo_rectangle(cr, fmin(pa, pb), fmin(qa, qb), fabs(pb - pa), fabs(qb - qa));
    set_colour(cr, s->colour, s->alpha);
    cairo_fill(cr);
    cairo_restore(cr);
}

static void marker_path(cairo_t *cr, double px, double py, int kind, double d) {
    double r = d / 2;
    switch (kind) {
        case AGIR_MARK_SQUARE:
            cairo_rectangle(cr, px - r, py - r, d, d);
            break;
        case AGIR_MARK_TRIANGLE:
            cairo_move_to(cr, px, py - r * 1.15);
            cairo_line_to(cr, px + r * 1.1, py + r * 0.75);
            cairo_line_to(cr, px - r * 1.1, py + r * 0.75);
            cairo_close_path(cr);
            break;
        case AGIR_MARK_DIAMOND:
            cairo_move_to(cr, px, py - r * 1.3);
            cairo_line_to(cr, px + r, py);
            cairo_line_to(cr, px, py + r * 1.3);
            cairo_line_to(cr, px - r, py);
            cairo_close_path(cr);
            break;
        default:
            cairo_new_sub_path(cr);
            cairo_arc(cr, px, py, r, 0, 2 * M_PI);
    }
}

static void draw_marker(cairo_t *cr, double px, double py, const agir_style *s) {
    marker_path(cr, px, py, s->marker, s->size > 0 ? s->size : 6);
    set_colour(cr, s->colour, s->alpha);
    if (s->hollow) {
        cairo_set_line_width(cr, s->width > 0 ? s->width : 1.2);
        cairo_stroke(cr);
    } else {
        cairo_fill(cr);
    }
}

void agir_plot_points(agir_axes *ax, const double *x, const double *y, size_t n, const agir_style *s) {
    cairo_t *cr = begin(ax);
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i])) draw_marker(cr, agir_axes_px_x(ax, x[i]), agir_axes_px_y(ax, y[i]), s);
    cairo_restore(cr);
}

void agir_plot_text(agir_axes *ax, double x, double y, double halign, double valign, const agir_font *font,
                    const char *text) {
    begin(ax);
    agir_text(ax->fig, agir_axes_px_x(ax, x), agir_axes_px_y(ax, y), halign, valign, 0, font, text);
    cairo_restore(ax->fig->cr);
}

void agir_plot_strip(agir_axes *ax, double xc, double half_width, const double *v, size_t n, const agir_style *s) {
    cairo_t *cr = begin(ax);
    // Additive recurrence with the golden ratio: evenly spread, reproducible offsets without an RNG.
    double u = 0.5;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i])) continue;
        double x = xc + half_width * (2 * u - 1);
        u += 0.6180339887498949;
        u -= floor(u);
        draw_marker(cr, agir_axes_px_x(ax, x), agir_axes_px_y(ax, v[i]), s);
    }
    cairo_restore(cr);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int agir_plot_box(agir_axes *ax, double xc, double half_width, const double *v, size_t n, const agir_style *s,
                  agir_err *e) {
    double *w = malloc((n ? n : 1) * sizeof *w);
    if (!w) return AGIR_BUG(e, "out of memory sorting %zu values for a box plot", n);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i])) w[m++] = v[i];
    if (m == 0) {
        free(w);
        return AGIR_OK;
    }
    qsort(w, m, sizeof *w, cmp_double);
    double q1 = agir_quantile_sorted(w, m, 0.25), med = agir_quantile_sorted(w, m, 0.5);
    double q3 = agir_quantile_sorted(w, m, 0.75), iqr = q3 - q1;
    double lo = q1, hi = q3;
    for (size_t i = 0; i < m; i++) {
        if (w[i] >= q1 - 1.5 * iqr && w[i] < lo) lo = w[i];
        if (w[i] <= q3 + 1.5 * iqr && w[i] > hi) hi = w[i];
    }
    free(w);

    cairo_t *cr = begin(ax);
    double xa = agir_axes_px_x(ax, xc - half_width), xb = agir_axes_px_x(ax, xc + half_width);
    double pc = agir_axes_px_x(ax, xc), cap = 0.25 * (xb - xa);
    double p1 = agir_axes_px_y(ax, q1), p3 = agir_axes_px_y(ax, q3);
    cairo_rectangle(cr, xa, p3, xb - xa, p1 - p3);
    set_colour(cr, s->colour, 0.15);
    cairo_fill_preserve(cr);
    set_colour(cr, s->colour, 1);
    cairo_set_line_width(cr, 1.5);
    cairo_stroke(cr);
    double plo = agir_axes_px_y(ax, lo), phi = agir_axes_px_y(ax, hi);
    stroke_line(cr, pc, p1, pc, plo, s->colour, 1.2);
    stroke_line(cr, pc, p3, pc, phi, s->colour, 1.2);
    stroke_line(cr, pc - cap, plo, pc + cap, plo, s->colour, 1.2);
    stroke_line(cr, pc - cap, phi, pc + cap, phi, s->colour, 1.2);
    double pm = agir_axes_px_y(ax, med);
    stroke_line(cr, xa, pm, xb, pm, s->colour, 3);
    cairo_restore(cr);
    return AGIR_OK;
}

void agir_axes_legend(agir_axes *ax, const agir_legend_item *items, int n, int corner) {
    if (n <= 0) return;
    const agir_font font = {.size = 12, .colour = {0.1, 0.1, 0.1}};
    double tw = 0;
    for (int i = 0; i < n; i++) tw = fmax(tw, agir_text_width(ax->fig, &font, items[i].label));
    double row = 18, sample = 24, pad = 6;
    double w = pad + sample + 6 + tw + pad, h = pad + n * row + pad - 4;
    double x = corner & 1 ? ax->box.x + ax->box.w - w - 6 : ax->box.x + 6;
    double y = corner & 2 ? ax->box.y + ax->box.h - h - 6 : ax->box.y + 6;
    cairo_t *cr = ax->fig->cr;
    cairo_save(cr);
    cairo_rectangle(cr, round(x) + 0.5, round(y) + 0.5, round(w), round(h));
    cairo_set_source_rgba(cr, 1, 1, 1, 0.88);
    cairo_fill_preserve(cr);
    set_colour(cr, agir_grey(0.75), 1);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    for (int i = 0; i < n; i++) {
        double cy = y + pad + i * row + row / 2 - 2;
        const agir_style *s = &items[i].style;
        if (items[i].as_marker) {
            draw_marker(cr, x + pad + sample / 2, cy, s);
        } else {
            line_style(cr, s);
            cairo_move_to(cr, x + pad, cy);
            cairo_line_to(cr, x + pad + sample, cy);
            cairo_stroke(cr);
        }
        agir_text(ax->fig, x + pad + sample + 6, cy, 0, 0.5, 0, &font, items[i].label);
    }
    cairo_restore(cr);
}

void agir_axes_scalebar(agir_axes *ax, double length, const char *label) {
    double len_px = length / (ax->x1 - ax->x0) * ax->box.w;
    double x = ax->box.x + 10, y = ax->box.y + ax->box.h - 10;
    cairo_t *cr = ax->fig->cr;
    cairo_save(cr);
    stroke_line(cr, x, y, x + len_px, y, ink, 2);
    stroke_line(cr, x, y - 4, x, y + 1, ink, 1.5);
    stroke_line(cr, x + len_px, y - 4, x + len_px, y + 1, ink, 1.5);
    agir_text(ax->fig, x + len_px / 2, y - 6, 0.5, 1, 0, &(agir_font){.size = 11, .colour = ink}, label);
    cairo_restore(cr);
}
