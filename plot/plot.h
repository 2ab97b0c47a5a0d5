// A small plotting layer on cairo: a figure (white raster canvas) holding panels, axes with
// round-number ticks and labels, lines, markers, strip and box plots, text, legends and a
// colour-blind-safe palette. Figures are saved as PNG through the atomic-write protocol.
//
// Coordinates: "px" are figure pixels (origin top-left, y down); "data" are axis units (y up).
// Typical use:
//   agir_fig f; agir_fig_init(&f, 1200, 800, e);
//   agir_fig_title(&f, "Title", "subtitle");
//   agir_axes ax;
//   agir_axes_setup(&ax, &f, agir_grid_cell(agir_fig_body(&f), 2, 3, 0, 0),
//                   &(agir_axes_spec){.title = "Speed", .xlabel = "t (s)", .x0 = 0, .x1 = 10, ...});
//   agir_plot_line(&ax, x, y, n, &(agir_style){.colour = agir_palette(0), .width = 2});
//   agir_fig_save_png(&f, "out.png", e); agir_fig_free(&f);
#ifndef AGIR_PLOT_H
#define AGIR_PLOT_H

#include <stddef.h>

#include <cairo.h>

#include "core/error.h"

typedef struct agir_rgb {
    double r, g, b;  // 0..1
} agir_rgb;

// Okabe & Ito's colour-universal-design palette (2008), ordered so that the first colours are the
// most distinct: 0 blue, 1 vermillion, 2 bluish green, 3 orange, 4 reddish purple, 5 sky blue,
// 6 yellow, 7 black. Indices wrap around.
enum {
    AGIR_PAL_BLUE = 0,
    AGIR_PAL_VERMILLION = 1,
    AGIR_PAL_GREEN = 2,
    AGIR_PAL_ORANGE = 3,
    AGIR_PAL_PURPLE = 4,
    AGIR_PAL_SKY = 5,
    AGIR_PAL_YELLOW = 6,
    AGIR_PAL_BLACK = 7,
    AGIR_PAL_N = 8,
};
agir_rgb agir_palette(int i);
agir_rgb agir_grey(double level);  // 0 black .. 1 white

typedef struct agir_rect {
    double x, y, w, h;  // px
} agir_rect;

// Cell (row, col) of an nrows x ncols grid over `area`, with `gap` px between cells.
agir_rect agir_grid_cell(agir_rect area, int nrows, int ncols, int row, int col, double gap);
// Splits `area` vertically: the top `top_h` (a fraction of the height when <= 1, else px), a gap,
// the rest.
void agir_rect_split_v(agir_rect area, double top_h, double gap, agir_rect *top, agir_rect *bottom);

typedef struct agir_fig {
    cairo_surface_t *surf;
    cairo_t *cr;
    int w, h;        // px
    double title_h;  // px taken by agir_fig_title at the top
} agir_fig;

// px: the title band of agir_fig_title without and with a subtitle, and the margin around the body.
// Figures sized for their content add these to the panels' heights.
enum { AGIR_TITLE_H = 44, AGIR_TITLE_SUB_H = 68, AGIR_FIG_MARGIN = 12 };

// A white w x h canvas. Sizes are bounded (AGIR_FIG_MAX_PX per side).
#define AGIR_FIG_MAX_PX 8192
int agir_fig_init(agir_fig *f, int w, int h, agir_err *e);
void agir_fig_free(agir_fig *f);
// Figure title (bold) and an optional one-line subtitle under it; sets title_h.
void agir_fig_title(agir_fig *f, const char *title, const char *subtitle);
// The figure minus its title band and outer margins: where panels go.
agir_rect agir_fig_body(const agir_fig *f);
// Writes the figure as PNG: to a temporary sibling, then renamed into place (core/fsio.h).
int agir_fig_save_png(agir_fig *f, const char *path, agir_err *e);

// Text at a px position. halign: 0 left, 0.5 centre, 1 right; valign: 0 top, 0.5 middle,
// 1 baseline-bottom. angle in radians, counter-clockwise (pi/2 for a y-axis label).
typedef struct agir_font {
    double size;  // px; 0 means 13
    int bold;
    agir_rgb colour;  // black by default ({0,0,0})
} agir_font;
void agir_text(agir_fig *f, double x, double y, double halign, double valign, double angle, const agir_font *font,
               const char *text);
// Width of `text` in px with `font`, for layout.
double agir_text_width(agir_fig *f, const agir_font *font, const char *text);

// Round tick positions covering [lo, hi] with at most about max_ticks ticks
// (Heckbert, "Nice numbers for graph labels", Graphics Gems, 1990): steps are 1, 2 or 5 x 10^k.
// Writes *first (a multiple of *step <= lo) and *step; returns the tick count covering [lo, hi].
int agir_nice_ticks(double lo, double hi, int max_ticks, double *first, double *step);
// Decimal places that print every multiple of `step` exactly ("0.25" -> 2, "5" -> 0).
int agir_tick_decimals(double step);

// Quantile q in [0, 1] of sorted values v[0..n-1], linear between order statistics (Hyndman and
// Fan's type 7, the default of R and numpy). n >= 1.
double agir_quantile_sorted(const double *v, size_t n, double q);

// What an axes shows. Zero-initialise and set what is needed (designated initialisers).
typedef struct agir_axes_spec {
    const char *title, *xlabel, *ylabel;  // NULL: none
    double x0, x1, y0, y1;               // data limits; x0 == x1 or non-finite: [0, 1] or widened
    int nice_x, nice_y;                  // widen limits to the enclosing round ticks
    int equal;                           // same units per px on both axes (widens one range)
    int no_ticks;                        // frame only (e.g. skeleton cells with a scale bar)
    int ncat;                            // > 0: categorical x at 0..ncat-1 labelled by xcat
    const char *const *xcat;
} agir_axes_spec;

typedef struct agir_axes {
    agir_fig *fig;
    agir_rect box;          // px: the plotting area inside the frame
    double x0, x1, y0, y1;  // data limits mapped onto box
} agir_axes;

// Lays out the panel inside `outer` (room for title, tick labels and axis labels), draws the frame,
// light grid, ticks and labels. Later plot calls are clipped to the box.
void agir_axes_setup(agir_axes *ax, agir_fig *f, agir_rect outer, const agir_axes_spec *spec);
// data -> px
double agir_axes_px_x(const agir_axes *ax, double x);
double agir_axes_px_y(const agir_axes *ax, double y);

enum { AGIR_MARK_CIRCLE = 0, AGIR_MARK_SQUARE, AGIR_MARK_TRIANGLE, AGIR_MARK_DIAMOND };

typedef struct agir_style {
    agir_rgb colour;
    double width;  // line width px; 0 means 1.5
    double alpha;  // 0 means opaque
    int dash;      // dashed line
    int marker;    // AGIR_MARK_*
    double size;   // marker diameter px; 0 means 6
    int hollow;    // marker outline only
} agir_style;

// Polyline through (x[i], y[i]); non-finite points break the line.
void agir_plot_line(agir_axes *ax, const double *x, const double *y, size_t n, const agir_style *s);
void agir_plot_segment(agir_axes *ax, double xa, double ya, double xb, double yb, const agir_style *s);
// Horizontal / vertical line across the whole box.
void agir_plot_hline(agir_axes *ax, double y, const agir_style *s);
void agir_plot_vline(agir_axes *ax, double x, const agir_style *s);
// Filled rectangle between two data corners (shaded spans, ground, matrix cells).
void agir_plot_rect(agir_axes *ax, double xa, double ya, double xb, double yb, const agir_style *s);
void agir_plot_points(agir_axes *ax, const double *x, const double *y, size_t n, const agir_style *s);
// Text at a data position (alignment as agir_text), clipped like the data.
void agir_plot_text(agir_axes *ax, double x, double y, double halign, double valign, const agir_font *font,
                    const char *text);

// One group of a categorical plot at x = xc: the values v (non-finite ones skipped) as points
// spread over +-half_width by a deterministic low-discrepancy jitter (strip plot) ...
void agir_plot_strip(agir_axes *ax, double xc, double half_width, const double *v, size_t n, const agir_style *s);
// ... and as a Tukey box plot: box from the first to the third quartile, median bar, whiskers to the
// most extreme values within 1.5 IQR of the box (Tukey, Exploratory Data Analysis, 1977).
// Needs scratch for sorting; returns AGIR_BUG only if that allocation fails.
int agir_plot_box(agir_axes *ax, double xc, double half_width, const double *v, size_t n, const agir_style *s,
                  agir_err *e);

typedef struct agir_legend_item {
    const char *label;
    agir_style style;
    int as_marker;  // draw a marker instead of a line sample
} agir_legend_item;
// Legend in a corner of the box: 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right.
void agir_axes_legend(agir_axes *ax, const agir_legend_item *items, int n, int corner);
// Metric scale bar of `length` data units with a label, at the bottom-left of the box.
void agir_axes_scalebar(agir_axes *ax, double length, const char *label);

#endif
