// Plotting: nice ticks and quantiles, PNG output read back with cairo, and the gait pictures
// (pixels where the panels and the projected bones are; bad ids and unwritable outputs are refused).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cairo.h>

#include "datasets/features.h"
#include "datasets/gait.h"
#include "plot/gait_plot.h"
#include "plot/plot.h"
#include "testutil.h"

// ---- PNG reading ------------------------------------------------------------------------------

typedef struct image {
    cairo_surface_t *s;
    int w, h, stride;
    const unsigned char *px;
} image;

static void image_load(image *im, const char *path) {
    im->s = cairo_image_surface_create_from_png(path);
    if (cairo_surface_status(im->s) != CAIRO_STATUS_SUCCESS) {
        print_error("cannot read %s back: %s\n", path, cairo_status_to_string(cairo_surface_status(im->s)));
        fail();
    }
    im->w = cairo_image_surface_get_width(im->s);
    im->h = cairo_image_surface_get_height(im->s);
    im->stride = cairo_image_surface_get_stride(im->s);
    im->px = cairo_image_surface_get_data(im->s);
}

static void image_free(image *im) { cairo_surface_destroy(im->s); }

// 0xRRGGBB of pixel (x, y); white outside the image.
static unsigned rgb(const image *im, int x, int y) {
    if (x < 0 || y < 0 || x >= im->w || y >= im->h) return 0xFFFFFF;
    unsigned v;
    memcpy(&v, im->px + (size_t)y * im->stride + (size_t)x * 4, 4);
    return v & 0xFFFFFF;
}

// Pixels in a rectangle (px, inclusive-exclusive) that are not the white background.
static long ink_in(const image *im, double x, double y, double w, double h) {
    long n = 0;
    for (int j = (int)y; j < (int)(y + h); j++)
        for (int i = (int)x; i < (int)(x + w); i++) n += rgb(im, i, j) != 0xFFFFFF;
    return n;
}

// Whether a pixel within r px of (x, y) is saturated and leans to blue (side 0) or red (side 1):
// the left/right bone colours, as opposed to greys and white.
static int side_colour_near(const image *im, double x, double y, int r, int side) {
    for (int j = (int)y - r; j <= (int)y + r; j++)
        for (int i = (int)x - r; i <= (int)x + r; i++) {
            unsigned c = rgb(im, i, j);
            int R = (c >> 16) & 255, B = c & 255;
            if (side == 0 && B > R + 80) return 1;
            if (side == 1 && R > B + 80) return 1;
        }
    return 0;
}

static void assert_inside(const agir_rect *b, const image *im) {
    assert_true(b->x >= 0 && b->y >= 0 && b->w > 10 && b->h > 10);
    assert_true(b->x + b->w <= im->w && b->y + b->h <= im->h);
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

// ---- plot/plot.h ------------------------------------------------------------------------------

static void nice_ticks_cover_and_are_round(void **state) {
    (void)state;
    const double cases[][2] = {{0, 1}, {0.013, 0.97}, {-3.2, 7.9}, {98, 103}, {1e-4, 3e-4}, {-250, -10}, {0, 12.35}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        for (int maxt = 2; maxt <= 10; maxt++) {
            double lo = cases[c][0], hi = cases[c][1], first, step;
            int n = agir_nice_ticks(lo, hi, maxt, &first, &step);
            assert_true(first <= lo + 1e-12);
            assert_true(first + (n - 1) * step >= hi - 1e-12 * fabs(hi));
            assert_true(n >= 2 && n <= 2 * maxt + 1);
            double m = step / pow(10, floor(log10(step) + 1e-9));  // mantissa of the step
            assert_true(fabs(m - 1) < 1e-9 || fabs(m - 2) < 1e-9 || fabs(m - 5) < 1e-9);
            assert_true(fabs(first / step - round(first / step)) < 1e-6);
        }
    }
    assert_int_equal(agir_tick_decimals(5), 0);
    assert_int_equal(agir_tick_decimals(0.2), 1);
    assert_int_equal(agir_tick_decimals(0.25), 2);
    assert_int_equal(agir_tick_decimals(0.0005), 4);
}

static void quantiles_type7(void **state) {
    (void)state;
    const double v[4] = {1, 2, 3, 4};
    // Type 7: h = (n-1) q, interpolate between order statistics floor(h) and floor(h)+1 (0-based).
    assert_float_equal(agir_quantile_sorted(v, 4, 0.25), 1.75, 1e-12);
    assert_float_equal(agir_quantile_sorted(v, 4, 0.5), 2.5, 1e-12);
    assert_float_equal(agir_quantile_sorted(v, 4, 1.0), 4, 1e-12);
    assert_float_equal(agir_quantile_sorted(v, 4, 0.0), 1, 1e-12);
    assert_float_equal(agir_quantile_sorted(v, 1, 0.3), 1, 1e-12);
}

// Draws a line, points and a box plot, saves, reads the PNG back and looks for them.
static void figure_roundtrip(void **state) {
    (void)state;
    char dir[256], path[512];
    agir_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/fig.png", dir);
    agir_err e;
    agir_err_clear(&e);
    agir_fig f;
    assert_int_equal(agir_fig_init(&f, 640, 400, &e), AGIR_OK);
    agir_fig_title(&f, "A title", "a subtitle");
    agir_rect body = agir_fig_body(&f);
    agir_axes a, b;
    agir_axes_setup(&a, &f, agir_grid_cell(body, 1, 2, 0, 0, 10),
                    &(agir_axes_spec){.title = "line",
                                      .xlabel = "x",
                                      .ylabel = "y",
                                      .x0 = 0.3,
                                      .x1 = 9.6,
                                      .y0 = -0.93,
                                      .y1 = 0.97,
                                      .nice_x = 1,
                                      .nice_y = 1});
    // Widened to round ticks around the data limits.
    assert_true(a.x0 <= 0.3 && a.x0 > -2.1 && a.x1 >= 9.6 && a.x1 < 12.1);
    assert_true(a.y0 <= -0.93 && a.y1 >= 0.97);
    double x[2] = {0, 10}, y[2] = {0.5, 0.5};
    agir_plot_line(&a, x, y, 2, &(agir_style){.colour = agir_palette(AGIR_PAL_VERMILLION), .width = 3});
    static const char *const cats[3] = {"a", "b", "c"};
    agir_axes_setup(&b, &f, agir_grid_cell(body, 1, 2, 0, 1, 10),
                    &(agir_axes_spec){.title = "box", .y0 = 0, .y1 = 10, .ncat = 3, .xcat = cats});
    const double vals[5] = {2, 3, 4, 5, 6};
    assert_int_equal(agir_plot_box(&b, 1, 0.3, vals, 5, &(agir_style){.colour = agir_palette(AGIR_PAL_BLUE)}, &e),
                     AGIR_OK);
    // Each marker kind and a text label at data positions on the empty right half of the line panel.
    const double mx[4] = {6, 7, 8, 9}, my[4] = {-0.5, -0.5, -0.5, -0.5};
    for (int k = 0; k < 4; k++)
        agir_plot_points(&a, &mx[k], &my[k], 1,
                         &(agir_style){.colour = agir_palette(AGIR_PAL_BLUE), .marker = k, .size = 8});
    agir_plot_text(&a, 2, -0.5, 0.5, 0.5, &(agir_font){.size = 14}, "MMM");
    assert_int_equal(agir_fig_save_png(&f, path, &e), AGIR_OK);
    agir_fig_free(&f);

    image im;
    image_load(&im, path);
    assert_int_equal(im.w, 640);
    assert_int_equal(im.h, 400);
    assert_int_equal(rgb(&im, 1, im.h - 2), 0xFFFFFF);  // margins stay white
    assert_inside(&a.box, &im);
    assert_inside(&b.box, &im);
    // The line at y = 0.5, in the middle of the panel, is red.
    assert_true(side_colour_near(&im, agir_axes_px_x(&a, 5), agir_axes_px_y(&a, 0.5), 1, 1));
    assert_false(side_colour_near(&im, agir_axes_px_x(&a, 5), agir_axes_px_y(&a, -0.5), 3, 1));
    for (int k = 0; k < 4; k++)
        assert_true(side_colour_near(&im, agir_axes_px_x(&a, mx[k]), agir_axes_px_y(&a, -0.5), 1, 0));
    assert_false(side_colour_near(&im, agir_axes_px_x(&a, 5), agir_axes_px_y(&a, -0.5), 3, 0));
    assert_true(ink_in(&im, agir_axes_px_x(&a, 2) - 10, agir_axes_px_y(&a, -0.5) - 5, 20, 10) > 20);
    assert_int_equal(ink_in(&im, agir_axes_px_x(&a, 3.5) - 5, agir_axes_px_y(&a, -0.75) - 5, 10, 10), 0);
    // Box plot of 2..6: median bar at 4 and whiskers up to 6 are blue; nothing blue above 7.
    double cx = agir_axes_px_x(&b, 1);
    assert_true(side_colour_near(&im, cx + 10, agir_axes_px_y(&b, 4), 1, 0));
    assert_true(side_colour_near(&im, cx, agir_axes_px_y(&b, 5.5), 1, 0));
    assert_false(side_colour_near(&im, cx, agir_axes_px_y(&b, 7), 3, 0));
    // Title text was drawn in the title band.
    assert_true(ink_in(&im, 0, 0, im.w, body.y) > 50);
    image_free(&im);

    // No temporary file is left next to the output.
    char cmd[600];
    snprintf(cmd, sizeof cmd, "test $(ls -A %s | wc -l) -eq 1", dir);
    assert_int_equal(system(cmd), 0);
}

static void unwritable_output_is_input_error(void **state) {
    (void)state;
    agir_err e;
    agir_err_clear(&e);
    agir_fig f;
    assert_int_equal(agir_fig_init(&f, 50, 50, &e), AGIR_OK);
    assert_int_equal(agir_fig_save_png(&f, "/nonexistent-agir-dir/x.png", &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "/nonexistent-agir-dir/x.png"));
    assert_null(strchr(e.msg, '\n'));
    agir_fig_free(&f);
}

// ---- a walker for the gait pictures ------------------------------------------------------------

// A clean kinematic walk on H36M-17, heading `hd` radians from +x towards +z: each foot is planted
// for 60% of a stride and swings forward on a smooth profile, the pelvis advances at constant
// speed, knees by two-link inverse kinematics, arms swing against the legs.
typedef struct walk_params {
    double step, width, period, lean;  // m, m, s per stride, m of forward thorax offset
} walk_params;

static void put(float *p, int j, double f, double y, double r, double hd) {
    // walker frame -> world: forward (cos, 0, sin), right = forward x up = (-sin, 0, cos)
    p[j * 3 + 0] = (float)(f * cos(hd) - r * sin(hd));
    p[j * 3 + 1] = (float)y;
    p[j * 3 + 2] = (float)(f * sin(hd) + r * cos(hd));
}

static void leg(float *p, int hip, int knee, int foot, double hf, double hy, double r, double ff, double fy,
                double hd) {
    double dx = ff - hf, dy = fy - hy, d = hypot(dx, dy), l = 0.45;
    double kf = hf + dx / 2, ky = hy + dy / 2;
    if (d < 2 * l) {  // knee ahead of the hip-foot line
        double a = sqrt(l * l - d * d / 4);
        kf += -dy / d * a, ky += dx / d * a;
    }
    put(p, hip, hf, hy, r, hd);
    put(p, knee, kf, ky, r, hd);
    put(p, foot, ff, fy, r, hd);
}

static void make_walk(float *out, int T, double fps, const walk_params *w, double hd) {
    double stride = 2 * w->step, v = stride / w->period;
    for (int t = 0; t < T; t++) {
        float *p = out + (size_t)t * H36M_J * 3;
        double time = t / fps, pf = v * time, py = 0.93;
        put(p, H36M_PELVIS, pf, py, 0, hd);
        for (int side = 0; side < 2; side++) {  // 0 left, 1 right (half a stride later)
            // Stance of stride c begins (heel strike) with the foot 0.3 stride ahead of the pelvis.
            double o = side ? 0.5 : 0, ph = time / w->period + o;
            double c = floor(ph), u = ph - c;
            double ff = stride * (c - o + 0.3), fy = 0.08;
            if (u >= 0.6) {
                double s = (u - 0.6) / 0.4;
                ff += stride * (1 - cos(M_PI * s)) / 2;
                fy += 0.12 * sin(M_PI * s);
            }
            double r = side ? w->width / 2 : -w->width / 2;
            if (side)
                leg(p, H36M_RHIP, H36M_RKNEE, H36M_RFOOT, pf, py, r, ff, fy, hd);
            else
                leg(p, H36M_LHIP, H36M_LKNEE, H36M_LFOOT, pf, py, r, ff, fy, hd);
            double swing = -0.2 * cos(2 * M_PI * ph);  // back while the same-side foot is ahead
            int sh = side ? H36M_RSHOULDER : H36M_LSHOULDER, el = side ? H36M_RELBOW : H36M_LELBOW;
            int wr = side ? H36M_RWRIST : H36M_LWRIST;
            double rs = side ? 0.18 : -0.18;
            put(p, sh, pf + w->lean, 1.45, rs, hd);
            put(p, el, pf + w->lean + swing * 0.5, 1.17, rs * 1.1, hd);
            put(p, wr, pf + w->lean + swing, 0.92, rs * 1.1, hd);
        }
        put(p, H36M_SPINE, pf + w->lean * 0.4, 1.18, 0, hd);
        put(p, H36M_THORAX, pf + w->lean, 1.45, 0, hd);
        put(p, H36M_NECK, pf + w->lean * 1.1, 1.55, 0, hd);
        put(p, H36M_HEAD, pf + w->lean * 1.2, 1.72, 0, hd);
    }
}

static void add_walk(agir_gait *g, const char *id, const char *subject, int score, int T, double fps,
                     const walk_params *w, double hd) {
    float *fr = malloc((size_t)T * H36M_J * 3 * sizeof *fr);
    assert_non_null(fr);
    make_walk(fr, T, fps, w, hd);
    agir_seq m = {.id = (char *)id,
                  .subject = (char *)subject,
                  .medication = AGIR_MED_OFF,
                  .updrs_gait = score,
                  .fps = (float)fps,
                  .source = "test"};
    agir_err e;
    agir_err_clear(&e);
    assert_int_equal(agir_gait_append(g, &m, fr, T, NULL, &e), AGIR_OK);
    free(fr);
}

// An empty H36M-17 dataset; *e is cleared for the test's own calls.
static void empty_gait(agir_gait *g, agir_err *e) {
    agir_err_clear(e);
    assert_int_equal(agir_gait_init(g, &agir_skel_h36m17, 0, NULL, e), AGIR_OK);
}

// The walk most pictures show.
static const walk_params plain_walk = {.step = 0.6, .width = 0.2, .period = 1.1, .lean = 0.05};

// ---- plot/gait_plot.h ---------------------------------------------------------------------------

// Checks one sagittal and one frontal cell of the sheet against the frame's own joint positions,
// projected with the heading the walk was generated with.
static void check_cell(const image *im, const agir_sheet_layout *L, int k, const float *fr, double hd) {
    const float *p = fr + (size_t)L->frame[k] * H36M_J * 3;
    double fwd[3] = {cos(hd), 0, sin(hd)}, right[3] = {-sin(hd), 0, cos(hd)};
    const agir_axes *sa = &L->sagittal[k], *fa = &L->frontal[k];
    assert_true(ink_in(im, sa->box.x + 2, sa->box.y + 2, sa->box.w - 4, sa->box.h - 4) > 200);
    assert_true(ink_in(im, fa->box.x + 2, fa->box.y + 2, fa->box.w - 4, fa->box.h - 4) > 150);
    // Thigh midpoints: in the frontal view the legs are apart, so each has its side's colour.
    const int thigh[2][2] = {{H36M_LHIP, H36M_LKNEE}, {H36M_RHIP, H36M_RKNEE}};
    double sx[2], sy[2];
    for (int s = 0; s < 2; s++) {
        const float *a = p + thigh[s][0] * 3, *b = p + thigh[s][1] * 3;
        double mx = (a[0] + b[0]) / 2 - L->origin[0], my = (a[1] + b[1]) / 2, mz = (a[2] + b[2]) / 2 - L->origin[2];
        double lat = mx * right[0] + mz * right[2];
        assert_true(side_colour_near(im, agir_axes_px_x(fa, lat), agir_axes_px_y(fa, my), 2, s));
        sx[s] = agir_axes_px_x(sa, mx * fwd[0] + mz * fwd[2]);
        sy[s] = agir_axes_px_y(sa, my);
    }
    // Sagittal: the near (right) thigh is on top, so its colour is always there; the left one where
    // the legs do not overlap.
    assert_true(side_colour_near(im, sx[1], sy[1], 2, 1));
    if (fabs(sx[0] - sx[1]) > 8) assert_true(side_colour_near(im, sx[0], sy[0], 2, 0));
    // Nothing coloured far above the head.
    double hy = p[H36M_HEAD * 3 + 1] + 0.25;
    if (hy < sa->y1) assert_false(side_colour_near(im, sx[1], agir_axes_px_y(sa, hy), 3, 1));
}

static void sheet_draws_bones_where_joints_are(void **state) {
    (void)state;
    agir_gait g;
    agir_err e;
    empty_gait(&g, &e);
    const double headings[2] = {0, 2.4};  // along +x, and turned past the diagonal
    add_walk(&g, "walk_a", "S1", 1, 200, 20, &plain_walk, headings[0]);
    add_walk(&g, "walk_b", "S1", 2, 180, 30, &plain_walk, headings[1]);
    char dir[256], path[512];
    agir_test_tmpdir(dir, sizeof dir);
    for (int c = 0; c < 2; c++) {
        const agir_seq *q = &g.seq[c];
        snprintf(path, sizeof path, "%s/%s.png", dir, q->id);
        agir_sheet_layout L;
        assert_int_equal(agir_plot_gait_sheet(&g, "mem.h5", q->id, 6, path, &L, &e), AGIR_OK);
        assert_int_equal(L.n_cells, 6);
        assert_float_equal(L.forward[0], cos(headings[c]), 1e-3);
        assert_float_equal(L.forward[2], sin(headings[c]), 1e-3);
        assert_true(L.frame[0] == 0 && L.frame[5] == q->length - 1);
        assert_float_equal(L.ground, 0, 1e-6);  // feet never go below y = 0
        image im;
        image_load(&im, path);
        assert_true(im.w >= 800 && im.h >= 600);
        // One scale (px per metre, both directions) in every cell of both views.
        const double scale = L.sagittal[0].box.w / (L.sagittal[0].x1 - L.sagittal[0].x0);
        for (int k = 0; k < L.n_cells; k++) {
            for (int r = 0; r < 2; r++) {
                const agir_axes *ax = r ? &L.frontal[k] : &L.sagittal[k];
                assert_float_equal(ax->box.w / (ax->x1 - ax->x0), scale, 0.01 * scale);
                assert_float_equal(ax->box.h / (ax->y1 - ax->y0), scale, 0.01 * scale);
            }
            assert_inside(&L.sagittal[k].box, &im);
            assert_inside(&L.frontal[k].box, &im);
            check_cell(&im, &L, k, agir_gait_seq_frames(&g, c), headings[c]);
        }
        const agir_axes *tr[3] = {&L.foot_height, &L.forward_pos, &L.relative_pos};
        for (int p = 0; p < 3; p++) {
            assert_inside(&tr[p]->box, &im);
            assert_true(ink_in(&im, tr[p]->box.x + 2, tr[p]->box.y + 2, tr[p]->box.w - 4, tr[p]->box.h - 4) > 500);
            // The sheet's cells and the trajectory panels do not overlap.
            assert_true(tr[p]->box.y > L.frontal[0].box.y + L.frontal[0].box.h);
        }
        // The feet's forward positions at the end are drawn near the end of the walk's span.
        const float *last = agir_gait_seq_frames(&g, c) + (size_t)(q->length - 1) * H36M_J * 3;
        double lf = (last[H36M_PELVIS * 3] - L.origin[0]) * L.forward[0] +
                    (last[H36M_PELVIS * 3 + 2] - L.origin[2]) * L.forward[2];
        assert_true(lf <= L.forward_pos.y1 && lf >= L.forward_pos.y0 + 0.5 * (L.forward_pos.y1 - L.forward_pos.y0));
        // A clean walk of about 18 steps has its heel strikes detected and marked.
        assert_true(L.n_heel_strikes >= 8);
        image_free(&im);
    }
    agir_gait_free(&g);
}

static void bad_ids_and_frames_are_input_errors(void **state) {
    (void)state;
    agir_gait g;
    agir_err e;
    empty_gait(&g, &e);
    add_walk(&g, "SUB01_off_walk_1", "SUB01", 1, 60, 20, &plain_walk, 0);
    char dir[256], path[512];
    agir_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/x.png", dir);
    assert_int_equal(agir_plot_gait_sheet(&g, "d.h5", "SUB01_of_walk_1", 4, path, NULL, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "d.h5: no sequence 'SUB01_of_walk_1'"));
    assert_non_null(strstr(e.msg, "did you mean 'SUB01_off_walk_1'"));
    assert_null(strchr(e.msg, '\n'));
    agir_err_clear(&e);
    assert_int_equal(agir_plot_gait_sheet(&g, "d.h5", "zzzz", 4, path, NULL, &e), AGIR_EINPUT);
    assert_null(strstr(e.msg, "did you mean"));
    agir_err_clear(&e);
    assert_int_equal(agir_plot_gait_sheet(&g, "d.h5", "SUB01_off_walk_1", 0, path, NULL, &e), AGIR_EINPUT);
    agir_err_clear(&e);
    assert_int_equal(agir_plot_gait_sheet(&g, "d.h5", "SUB01_off_walk_1", 4, "/nonexistent-agir-dir/x.png", NULL, &e),
                     AGIR_EINPUT);
    assert_false(file_exists(path));
    // More columns than frames: one column per frame.
    agir_gait_free(&g);
    empty_gait(&g, &e);
    add_walk(&g, "tiny", "S", 0, 3, 20, &plain_walk, 0);
    agir_sheet_layout L;
    agir_err_clear(&e);
    assert_int_equal(agir_plot_gait_sheet(&g, "d.h5", "tiny", 8, path, &L, &e), AGIR_OK);
    assert_int_equal(L.n_cells, 3);
    assert_int_equal(L.n_heel_strikes, 0);  // too short for events, drawn anyway
    agir_gait_free(&g);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void features_by_score(void **state) {
    (void)state;
    agir_gait g;
    agir_err e;
    empty_gait(&g, &e);
    // Higher scores walk with shorter, slower steps.
    const int per_score[4] = {5, 4, 3, 2};
    for (int s = 0; s < 4; s++)
        for (int i = 0; i < per_score[s]; i++) {
            walk_params w = {.step = 0.72 - 0.12 * s + 0.02 * i,
                             .width = 0.18 + 0.02 * s,
                             .period = 1.0 + 0.1 * s,
                             .lean = 0.03 * s};
            char id[32];
            snprintf(id, sizeof id, "w%d_%d", s, i);
            add_walk(&g, id, "S", s, 240, 20, &w, 0.3 * i);
        }
    add_walk(&g, "unscored", "S", -1, 240, 20, &(walk_params){0.6, 0.2, 1.1, 0}, 0);
    char dir[256], path[512];
    agir_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/features.png", dir);
    agir_features_layout L;
    assert_int_equal(agir_plot_gait_features(&g, "mem.h5", path, &L, &e), AGIR_OK);
    for (int s = 0; s < 4; s++) assert_int_equal(L.n_per_score[s], per_score[s]);
    assert_int_equal(L.n_per_score[4], 0);
    assert_int_equal(L.n_unscored, 1);
    assert_int_equal(L.n_failed, 0);
    image im;
    image_load(&im, path);
    for (int p = 0; p < AGIR_FEATURE_PANELS; p++) {
        const agir_rect *b = &L.panel[p].box;
        assert_inside(b, &im);
        assert_true(ink_in(&im, b->x + 2, b->y + 2, b->w - 4, b->h - 4) > 300);
        for (int q = 0; q < p; q++) {  // panels do not overlap
            const agir_rect *c = &L.panel[q].box;
            assert_true(b->x >= c->x + c->w || c->x >= b->x + b->w || b->y >= c->y + c->h || c->y >= b->y + b->h);
        }
    }
    // The speed panel: each score's median bar is drawn at the median of the speeds the feature
    // extractor gives for that score's walks.
    assert_string_equal(L.panel_name[0], "speed");
    for (int s = 0; s < 4; s++) {
        double v[8];
        int m = 0;
        for (int64_t i = 0; i < g.n_seq; i++) {
            if (g.seq[i].updrs_gait != s) continue;
            agir_features f;
            assert_int_equal(agir_features_compute(agir_gait_seq_frames(&g, i), g.seq[i].length, g.seq[i].fps, g.skel,
                                                   g.seq[i].id, &f, NULL, &e),
                             AGIR_OK);
            v[m++] = f.speed;
        }
        qsort(v, (size_t)m, sizeof *v, cmp_d);
        double med = m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
        // Just right of the strip of points, at the box's edge, the median bar is the only ink.
        double x = agir_axes_px_x(&L.panel[0], s + 0.29), y = agir_axes_px_y(&L.panel[0], med);
        assert_true(ink_in(&im, x - 1, y - 1, 3, 3) > 0);
    }
    image_free(&im);
    agir_gait_free(&g);
}

// ---- the command ------------------------------------------------------------------------------

// Runs `agir ARGS`, returns its exit status and the number of lines it wrote to stderr.
static int run_agir(const char *args, const char *dir, int *err_lines) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' %s > %s/out.txt 2> %s/err.txt", agir_test_bin(), args, dir, dir);
    int st = system(cmd);
    snprintf(cmd, sizeof cmd, "%s/err.txt", dir);
    FILE *f = fopen(cmd, "r");
    *err_lines = 0;
    for (int c; f && (c = fgetc(f)) != EOF;) *err_lines += c == '\n';
    if (f) fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void command_writes_pngs_and_refuses_bad_input(void **state) {
    (void)state;
    if (!agir_test_bin()) agir_test_skip("AGIR_BIN not set (run through ctest)");
    agir_gait g;
    agir_err e;
    empty_gait(&g, &e);
    add_walk(&g, "SUB01_off_walk_1", "SUB01", 1, 160, 20, &plain_walk, 0);
    add_walk(&g, "SUB02_on_walk_1", "SUB02", 0, 160, 20, &plain_walk, 1);
    char dir[256], data[512], args[1024];
    agir_test_tmpdir(dir, sizeof dir);
    snprintf(data, sizeof data, "%s/d.h5", dir);
    assert_int_equal(agir_gait_write(&g, data, &e), AGIR_OK);
    agir_gait_free(&g);
    int lines;
    snprintf(args, sizeof args, "plot skeleton %s --seq SUB01_off_walk_1 --frames 5", data);
    assert_int_equal(run_agir(args, dir, &lines), 0);
    snprintf(args, sizeof args, "%s/d.skeleton-SUB01_off_walk_1.png", dir);
    assert_true(file_exists(args));
    snprintf(args, sizeof args, "plot features %s --out %s/f.png", data, dir);
    assert_int_equal(run_agir(args, dir, &lines), 0);
    snprintf(args, sizeof args, "%s/f.png", dir);
    assert_true(file_exists(args));
    const char *bad[] = {"plot skeleton %s --seq SUB01_of_walk_1",
                         "plot skeleton %s --seq SUB01_off_walk_1 --frames x",
                         "plot skeleton %s --seq SUB01_off_walk_1 --out /nonexistent-agir-dir/s.png",
                         "plot features %s --out /nonexistent-agir-dir/f.png",
                         "plot skeletn %s --seq x",
                         "plot skeleton %s"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(args, sizeof args, bad[i], data);
        int rc = run_agir(args, dir, &lines);
        if (rc != 2 || lines != 1) {
            print_error("'agir %s': exit %d with %d stderr lines, expected 2 and 1\n", args, rc, lines);
            fail();
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nice_ticks_cover_and_are_round),
        cmocka_unit_test(quantiles_type7),
        cmocka_unit_test(figure_roundtrip),
        cmocka_unit_test(unwritable_output_is_input_error),
        cmocka_unit_test(sheet_draws_bones_where_joints_are),
        cmocka_unit_test(bad_ids_and_frames_are_input_errors),
        cmocka_unit_test(features_by_score),
        cmocka_unit_test(command_writes_pngs_and_refuses_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
