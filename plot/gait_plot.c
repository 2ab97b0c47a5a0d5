// Gait pictures: the skeleton contact sheet of one walk and per-score feature distributions.
#include "plot/gait_plot.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "datasets/features.h"

enum { LEFT = 0, RIGHT = 1, CENTRE = -1 };

static agir_rgb side_colour(int side) {
    return side == LEFT    ? agir_palette(AGIR_PAL_BLUE)
           : side == RIGHT ? agir_palette(AGIR_PAL_VERMILLION)
                           : agir_grey(0.25);
}

static const char *med_name(int m) { return m == AGIR_MED_ON ? "ON" : m == AGIR_MED_OFF ? "OFF" : "unknown"; }

// Index of sequence `id`, or an input error suggesting the closest id.
static int64_t find_seq(const agir_gait *g, const char *name, const char *id, agir_err *e) {
    int64_t s = agir_gait_find(g, id);
    if (s >= 0) return s;
    if (g->n_seq == 0) {
        AGIR_BAD(e, "%s: holds no sequences (hint: check the file, e.g. make one with 'agir synth')", name);
        return -1;
    }
    int64_t best = 0;
    size_t bd = (size_t)-1;
    for (int64_t i = 0; i < g->n_seq; i++) {
        size_t d = agir_edit_distance(id, g->seq[i].id);
        if (d < bd) bd = d, best = i;
    }
    if (bd <= 2 + strlen(id) / 4)
        AGIR_BAD(e, "%s: no sequence '%s' (hint: did you mean '%s'?)", name, id, g->seq[best].id);
    else
        AGIR_BAD(e, "%s: no sequence '%s' (hint: it holds %lld sequences, e.g. '%s')", name, id, (long long)g->n_seq,
                 g->seq[0].id);
    return -1;
}

// One walk seen in the walker's frame: horizontal coordinates along forward and right, y as is.
typedef struct walk_view {
    const agir_seq *seq;
    const float *p;  // (T, J, 3)
    int64_t T;
    int J;
    const int *parents;
    double *fwd, *lat;  // (T, J)
    int *side;          // (J,) LEFT, RIGHT or CENTRE, from the joint names' "l_"/"r_" prefixes
    int pelvis, foot[2], wrist[2], hip[2];
    double forward[3], right[3], origin[3];
    double ground;
} walk_view;

static int joint_index(const agir_skeleton *s, const char *nm) {
    for (int j = 0; j < s->n_joints; j++)
        if (!strcmp(s->joint_names[j], nm)) return j;
    return -1;
}

static int need_joints(walk_view *v, const agir_skeleton *s, const char *name, agir_err *e) {
    static const char *const names[7] = {"pelvis", "l_foot", "r_foot", "l_wrist", "r_wrist", "l_hip", "r_hip"};
    int *slot[7] = {&v->pelvis,       &v->foot[LEFT], &v->foot[RIGHT], &v->wrist[LEFT],
                    &v->wrist[RIGHT], &v->hip[LEFT],  &v->hip[RIGHT]};
    for (int i = 0; i < 7; i++) {
        *slot[i] = joint_index(s, names[i]);
        if (*slot[i] < 0)
            return AGIR_BAD(e, "%s: skeleton '%s' has no joint '%s' (hint: gait plots need pelvis, hips, feet, wrists)",
                            name, s->name, names[i]);
    }
    return AGIR_OK;
}

static const float *joint_at(const walk_view *v, int64_t t, int j) { return v->p + ((size_t)t * v->J + j) * 3; }

// Unit horizontal vector (x, z) in out[0], out[2]; returns 0 when the input is too short to trust.
static int unit_xz(double x, double z, double min_len, double out[3]) {
    double n = hypot(x, z);
    if (!(n > min_len)) return 0;
    out[0] = x / n, out[1] = 0, out[2] = z / n;
    return 1;
}

// Forward from the pelvis path (first to last finite frame); when the pelvis moves less than
// 0.3 m (treadmill, standing), from the mean hip axis instead. right = forward x up.
static void walker_frame(walk_view *v) {
    int64_t a = -1, b = -1;
    for (int64_t t = 0; t < v->T; t++) {
        const float *q = joint_at(v, t, v->pelvis);
        if (isfinite(q[0]) && isfinite(q[2])) {
            if (a < 0) a = t;
            b = t;
        }
    }
    const float *pa = joint_at(v, a < 0 ? 0 : a, v->pelvis), *pb = joint_at(v, b < 0 ? 0 : b, v->pelvis);
    if (!unit_xz((double)pb[0] - pa[0], (double)pb[2] - pa[2], 0.3, v->forward)) {
        double rx = 0, rz = 0;
        for (int64_t t = 0; t < v->T; t++) {
            const float *l = joint_at(v, t, v->hip[LEFT]), *r = joint_at(v, t, v->hip[RIGHT]);
            if (isfinite(l[0]) && isfinite(r[0]) && isfinite(l[2]) && isfinite(r[2]))
                rx += r[0] - l[0], rz += r[2] - l[2];
        }
        double right[3];
        if (unit_xz(rx, rz, 1e-6, right))
            v->forward[0] = right[2], v->forward[1] = 0, v->forward[2] = -right[0];  // up x right
        else
            v->forward[0] = 1, v->forward[1] = 0, v->forward[2] = 0;
    }
    v->right[0] = -v->forward[2], v->right[1] = 0, v->right[2] = v->forward[0];
    v->origin[0] = isfinite(pa[0]) ? pa[0] : 0, v->origin[1] = 0, v->origin[2] = isfinite(pa[2]) ? pa[2] : 0;
}

static void walk_view_free(walk_view *v) {
    free(v->fwd);
    free(v->side);
    memset(v, 0, sizeof *v);
}

static int walk_view_init(walk_view *v, const agir_gait *g, int64_t s, const char *name, agir_err *e) {
    memset(v, 0, sizeof *v);
    v->seq = &g->seq[s];
    v->p = agir_gait_seq_frames(g, s);
    v->T = g->seq[s].length;
    v->J = g->skel->n_joints;
    v->parents = g->skel->parents;
    AGIR_TRY(need_joints(v, g->skel, name, e));
    if (v->T < 1)
        return AGIR_BAD(e, "%s:%s: sequence has no frames (hint: nothing to draw; pick another --seq)", name,
                        v->seq->id);
    size_t n, bytes;
    if (agir_mul_ok((size_t)v->T, (size_t)v->J, &n) || agir_mul_ok(n, 2 * sizeof(double), &bytes))
        return AGIR_BUG(e, "%s:%s: %lld frames overflow", name, v->seq->id, (long long)v->T);
    v->fwd = malloc(bytes);
    v->side = malloc((size_t)v->J * sizeof *v->side);
    if (!v->fwd || !v->side) {
        walk_view_free(v);
        return AGIR_BUG(e, "out of memory projecting %s", v->seq->id);
    }
    v->lat = v->fwd + n;
    for (int j = 0; j < v->J; j++) {
        const char *jn = g->skel->joint_names[j];
        v->side[j] = !strncmp(jn, "l_", 2) ? LEFT : !strncmp(jn, "r_", 2) ? RIGHT : CENTRE;
    }
    walker_frame(v);
    // Ground: y = 0 when the data stands on it; lower when the joints go below 0 (root-centred
    // poses), then the lowest foot position.
    double low = 0;
    for (int64_t t = 0; t < v->T; t++) {
        for (int j = 0; j < v->J; j++) {
            const float *q = joint_at(v, t, j);
            double dx = q[0] - v->origin[0], dz = q[2] - v->origin[2];
            v->fwd[t * v->J + j] = dx * v->forward[0] + dz * v->forward[2];
            v->lat[t * v->J + j] = dx * v->right[0] + dz * v->right[2];
        }
        for (int k = 0; k < 2; k++) {
            double y = joint_at(v, t, v->foot[k])[1];
            if (y < low) low = y;
        }
    }
    v->ground = low;
    return AGIR_OK;
}

// ---- contact sheet ----------------------------------------------------------------------------

static double fy(const walk_view *v, int64_t t, int j) { return joint_at(v, t, j)[1]; }

// Bones of frame t in one view (h: fwd or lat). Far-side bones first, thinner and lighter, so the
// near limbs stay on top: in the sagittal view the camera is on the walker's right.
static void draw_pose(agir_axes *ax, const walk_view *v, int64_t t, const double *h, int depth_cue) {
    static const int order[3] = {LEFT, CENTRE, RIGHT};
    const double *row = h + t * v->J;
    for (int o = 0; o < 3; o++) {
        int far = depth_cue && order[o] == LEFT;
        agir_style bone = {.colour = side_colour(order[o]), .width = far ? 2.2 : 3.2, .alpha = far ? 0.75 : 1};
        for (int j = 0; j < v->J; j++) {
            int p = v->parents[j];
            if (p < 0 || v->side[j] != order[o]) continue;
            agir_plot_segment(ax, row[p], fy(v, t, p), row[j], fy(v, t, j), &bone);
        }
    }
    for (int j = 0; j < v->J; j++) {
        double x = row[j], y = fy(v, t, j);
        agir_plot_points(ax, &x, &y, 1, &(agir_style){.colour = agir_grey(0.15), .size = 4});
    }
}

// Largest horizontal distance of any joint from the pelvis over the shown frames.
static double half_span(const walk_view *v, const double *h, const int64_t *frames, int n) {
    double m = 0;
    for (int k = 0; k < n; k++) {
        const double *row = h + frames[k] * v->J;
        for (int j = 0; j < v->J; j++)
            if (isfinite(row[j] - row[v->pelvis])) m = fmax(m, fabs(row[j] - row[v->pelvis]));
    }
    return m;
}

// What every cell shares, so that all cells have one scale: y from below the ground (room for the
// scale bar) to above the highest joint, and a half width holding every joint of every shown frame
// around its pelvis in either view.
typedef struct sheet_geom {
    double y0, y1, half;
    double box_h;  // px height of a cell's plotting box
} sheet_geom;

// px: row label band, gap between cells and rows, band of the trajectory panels. A cell adds
// about 8 px of padding around its box, plus 24 for its title in the sagittal row.
enum { ROW_LABEL_W = 24, CELL_GAP = 4, ROW_GAP = 6, CELLS_TRAJ_GAP = 14, TRAJ_H = 330 };

static double cells_height(const sheet_geom *g) { return 2 * g->box_h + 40 + ROW_GAP; }

// Cell boxes as tall as the cells' aspect needs for their width (within 120..300 px); the axes keep
// the aspect exact by widening a range, so the estimate of the padding need not be.
static sheet_geom sheet_geometry(const walk_view *v, const int64_t *frames, int n, double cells_w) {
    sheet_geom g;
    double top = v->ground;
    for (int k = 0; k < n; k++)
        for (int j = 0; j < v->J; j++)
            if (isfinite(fy(v, frames[k], j))) top = fmax(top, fy(v, frames[k], j));
    g.y0 = v->ground - 0.3, g.y1 = top + 0.1;
    g.half = fmax(half_span(v, v->fwd, frames, n), half_span(v, v->lat, frames, n)) + 0.12;
    double box_w = (cells_w - ROW_LABEL_W - CELL_GAP * (n - 1)) / n - 8;
    double h = box_w * (g.y1 - g.y0) / (2 * g.half);
    g.box_h = h < 120 ? 120 : h > 300 ? 300 : h;
    return g;
}

// Vertical label left of a row of cells: the long form when it fits the row's height.
static void row_label(agir_fig *f, agir_rect row, const char *long_form, const char *short_form) {
    const agir_font font = {.size = 13, .bold = 1, .colour = {0.2, 0.2, 0.2}};
    const char *text = agir_text_width(f, &font, long_form) <= row.h - 8 ? long_form : short_form;
    agir_text(f, row.x + 2, row.y + row.h / 2, 0.5, 0, M_PI / 2, &font, text);
}

static void draw_cells(agir_fig *f, agir_rect area, const walk_view *v, const int64_t *frames, int n,
                       const sheet_geom *g, agir_sheet_layout *L) {
    agir_rect row_s = {area.x, area.y, area.w, g->box_h + 32};
    agir_rect row_f = {area.x, row_s.y + row_s.h + ROW_GAP, area.w, g->box_h + 8};
    row_label(f, row_s, "Sagittal (seen from the right)", "Sagittal");
    row_label(f, row_f, "Frontal (seen from behind)", "Frontal");
    row_s.x += ROW_LABEL_W, row_s.w -= ROW_LABEL_W, row_f.x += ROW_LABEL_W, row_f.w -= ROW_LABEL_W;
    const agir_style ground = {.colour = agir_grey(0.45), .width = 1.5};
    for (int k = 0; k < n; k++) {
        int64_t t = frames[k];
        char title[64];
        snprintf(title, sizeof title, "t = %.2f s", (double)t / v->seq->fps);
        double cs = v->fwd[t * v->J + v->pelvis], cl = v->lat[t * v->J + v->pelvis];
        if (!isfinite(cs)) cs = 0;
        if (!isfinite(cl)) cl = 0;
        agir_axes *as = &L->sagittal[k], *af = &L->frontal[k];
        agir_axes_setup(as, f, agir_grid_cell(row_s, 1, n, 0, k, CELL_GAP),
                        &(agir_axes_spec){.title = title,
                                          .x0 = cs - g->half,
                                          .x1 = cs + g->half,
                                          .y0 = g->y0,
                                          .y1 = g->y1,
                                          .equal = 1,
                                          .no_ticks = 1});
        agir_axes_setup(
            af, f, agir_grid_cell(row_f, 1, n, 0, k, CELL_GAP),
            &(agir_axes_spec){
                .x0 = cl - g->half, .x1 = cl + g->half, .y0 = g->y0, .y1 = g->y1, .equal = 1, .no_ticks = 1});
        for (int r = 0; r < 2; r++) {
            agir_axes *ax = r ? af : as;
            agir_plot_rect(ax, ax->x0, ax->y0, ax->x1, v->ground, &(agir_style){.colour = agir_grey(0.94)});
            agir_plot_hline(ax, v->ground, &ground);
        }
        draw_pose(as, v, t, v->fwd, 1);
        draw_pose(af, v, t, v->lat, 0);
    }
    agir_axes_scalebar(&L->sagittal[0], 0.5, "0.5 m");
    agir_axes_scalebar(&L->frontal[0], 0.5, "0.5 m");
}

// The trajectory row: foot heights, forward positions, and forward positions relative to the pelvis.
typedef struct series {
    const char *label;
    int joint, side, dash;
} series;

static void draw_series(agir_axes *ax, const walk_view *v, const double *t, double *buf, const series *s, int relative,
                        int height) {
    for (int64_t i = 0; i < v->T; i++) {
        size_t r = (size_t)i * v->J;
        buf[i] =
            height ? fy(v, i, s->joint) - v->ground : v->fwd[r + s->joint] - (relative ? v->fwd[r + v->pelvis] : 0);
    }
    agir_rgb c = s->side == CENTRE ? agir_grey(0.1) : side_colour(s->side);
    agir_plot_line(ax, t, buf, (size_t)v->T, &(agir_style){.colour = c, .width = s->dash ? 1.6 : 2, .dash = s->dash});
}

static void mark_strikes(agir_axes *ax, const walk_view *v, const agir_gait_events *ev, const double *t, int relative,
                         int height) {
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < ev->n_hs[k]; i++) {
            int64_t f = ev->hs[k][i];
            if (f < 0 || f >= v->T) continue;
            size_t r = (size_t)f * v->J;
            double y = height ? fy(v, f, v->foot[k]) - v->ground
                              : v->fwd[r + v->foot[k]] - (relative ? v->fwd[r + v->pelvis] : 0);
            agir_plot_points(ax, &t[f], &y, 1,
                             &(agir_style){.colour = side_colour(k), .marker = AGIR_MARK_TRIANGLE, .size = 9});
            agir_plot_points(
                ax, &t[f], &y, 1,
                &(agir_style){
                    .colour = agir_grey(0.1), .marker = AGIR_MARK_TRIANGLE, .size = 9, .hollow = 1, .width = 0.8});
        }
    }
}

// Min and max of a series over the walk (non-finite values skipped).
static void extent(const walk_view *v, const series *s, int n, int relative, int height, double *lo, double *hi) {
    *lo = INFINITY, *hi = -INFINITY;
    for (int64_t i = 0; i < v->T; i++) {
        size_t r = (size_t)i * v->J;
        for (int k = 0; k < n; k++) {
            double y = height ? fy(v, i, s[k].joint) - v->ground
                              : v->fwd[r + s[k].joint] - (relative ? v->fwd[r + v->pelvis] : 0);
            if (isfinite(y)) *lo = fmin(*lo, y), *hi = fmax(*hi, y);
        }
    }
}

static int draw_trajectories(agir_fig *f, agir_rect area, const walk_view *v, const agir_gait_events *ev,
                             const int64_t *frames, int n, agir_sheet_layout *L, agir_err *e) {
    double *t = malloc((size_t)v->T * 2 * sizeof *t);
    if (!t) return AGIR_BUG(e, "out of memory plotting %s", v->seq->id);
    double *buf = t + v->T;
    for (int64_t i = 0; i < v->T; i++) t[i] = (double)i / v->seq->fps;
    double t1 = (double)(v->T - 1) / v->seq->fps;
    const series feet[2] = {{"left foot", v->foot[LEFT], LEFT, 0}, {"right foot", v->foot[RIGHT], RIGHT, 0}};
    const series all[5] = {{"pelvis", v->pelvis, CENTRE, 0},
                           feet[0],
                           feet[1],
                           {"left wrist", v->wrist[LEFT], LEFT, 1},
                           {"right wrist", v->wrist[RIGHT], RIGHT, 1}};
    struct {
        agir_axes *ax;
        const char *title, *ylabel;
        const series *s;
        int ns, relative, height;
        double headroom;  // fraction of the range kept free above the data for the legend
    } panel[3] = {
        {&L->foot_height, "Foot height", "height above ground (m)", feet, 2, 0, 1, 0.7},
        {&L->forward_pos, "Forward position", "forward (m)", all, 5, 0, 0, 0.04},
        {&L->relative_pos, "Forward position relative to pelvis", "forward \u2212 pelvis (m)", all + 1, 4, 1, 0, 0.04},
    };
    for (int p = 0; p < 3; p++) {
        double lo, hi;
        extent(v, panel[p].s, panel[p].ns, panel[p].relative, panel[p].height, &lo, &hi);
        if (hi > lo) {
            double r = hi - lo;
            lo -= 0.04 * r, hi += panel[p].headroom * r;
        }
        agir_axes *ax = panel[p].ax;
        agir_axes_setup(ax, f, agir_grid_cell(area, 1, 3, 0, p, 18),
                        &(agir_axes_spec){.title = panel[p].title,
                                          .xlabel = "time (s)",
                                          .ylabel = panel[p].ylabel,
                                          .x0 = 0,
                                          .x1 = t1,
                                          .y0 = lo,
                                          .y1 = hi});
        for (int k = 0; k < n; k++)
            agir_plot_vline(ax, t[frames[k]], &(agir_style){.colour = agir_grey(0.7), .width = 1, .dash = 1});
        for (int k = 0; k < panel[p].ns; k++)
            draw_series(ax, v, t, buf, &panel[p].s[k], panel[p].relative, panel[p].height);
        if (ev) mark_strikes(ax, v, ev, t, panel[p].relative, panel[p].height);
    }
    free(t);
    agir_legend_item items[5];
    for (int k = 0; k < 5; k++)
        items[k] =
            (agir_legend_item){.label = all[k].label,
                               .style = {.colour = all[k].side == CENTRE ? agir_grey(0.1) : side_colour(all[k].side),
                                         .width = 2,
                                         .dash = all[k].dash}};
    agir_axes_legend(&L->forward_pos, items, 5, 0);
    agir_legend_item fh[3] = {
        items[1], items[2], {"heel strike", {.colour = agir_grey(0.4), .marker = AGIR_MARK_TRIANGLE, .size = 9}, 1}};
    agir_axes_legend(&L->foot_height, fh, ev ? 3 : 2, 1);
    return AGIR_OK;
}

static void clear_figs(agir_axes *ax, int n) {
    for (int i = 0; i < n; i++) ax[i].fig = NULL;
}

static int render_sheet(const walk_view *v, const char *png, int n_frames, const agir_skeleton *skel,
                        agir_sheet_layout *L, agir_err *e) {
    const agir_seq *sq = v->seq;
    int n = (int)(v->T < n_frames ? v->T : n_frames);
    L->n_cells = n;
    for (int k = 0; k < n; k++) L->frame[k] = n == 1 ? v->T / 2 : (int64_t)llround((double)k * (v->T - 1) / (n - 1));
    memcpy(L->forward, v->forward, sizeof L->forward);
    memcpy(L->right, v->right, sizeof L->right);
    memcpy(L->origin, v->origin, sizeof L->origin);
    L->ground = v->ground;

    // Heel strikes come from the feature extractor; a walk too short for it is still drawn.
    agir_features feat;
    agir_gait_events ev;
    memset(&ev, 0, sizeof ev);
    agir_err fe;
    agir_err_clear(&fe);
    int have_ev = agir_features_compute(v->p, v->T, sq->fps, skel, sq->id, &feat, &ev, &fe) == AGIR_OK;
    L->n_heel_strikes = have_ev ? ev.n_hs[0] + ev.n_hs[1] : 0;

    char title[512], sub[1024], score[32];
    if (sq->updrs_gait >= 0)
        snprintf(score, sizeof score, "UPDRS gait %d", sq->updrs_gait);
    else
        snprintf(score, sizeof score, "UPDRS gait unknown");
    snprintf(title, sizeof title, "%s  \u2014  %s, medication %s, %g fps", sq->id, score, med_name(sq->medication),
             sq->fps);
    int k = snprintf(sub, sizeof sub, "subject %s \u00b7 source %s \u00b7 %lld frames (%.1f s)", sq->subject,
                     sq->source ? sq->source : "?", (long long)v->T, (double)v->T / sq->fps);
    if (have_ev)
        snprintf(sub + k, sizeof sub - k, " \u00b7 speed %.2f m/s \u00b7 cadence %.0f steps/min \u00b7 %d heel strikes",
                 feat.speed, feat.cadence, L->n_heel_strikes);
    else
        snprintf(sub + k, sizeof sub - k, " \u00b7 heel strikes not detected: %s", fe.msg);

    int w = 70 + n * 170;
    w = w < 1200 ? 1200 : w > 2400 ? 2400 : w;
    sheet_geom g = sheet_geometry(v, L->frame, n, w - 2 * AGIR_FIG_MARGIN);
    int h = (int)ceil(AGIR_TITLE_SUB_H + cells_height(&g) + CELLS_TRAJ_GAP + TRAJ_H + AGIR_FIG_MARGIN);
    agir_fig f;
    int rc = agir_fig_init(&f, w, h, e);
    if (!rc) {
        agir_fig_title(&f, title, sub);
        agir_rect cells, traj;
        agir_rect_split_v(agir_fig_body(&f), cells_height(&g), CELLS_TRAJ_GAP, &cells, &traj);
        draw_cells(&f, cells, v, L->frame, n, &g, L);
        rc = draw_trajectories(&f, traj, v, have_ev ? &ev : NULL, L->frame, n, L, e);
        if (!rc) rc = agir_fig_save_png(&f, png, e);
        agir_fig_free(&f);
    }
    if (have_ev) agir_gait_events_free(&ev);
    clear_figs(L->sagittal, n);
    clear_figs(L->frontal, n);
    clear_figs(&L->foot_height, 1);
    clear_figs(&L->forward_pos, 1);
    clear_figs(&L->relative_pos, 1);
    return rc;
}

int agir_plot_gait_sheet(const agir_gait *g, const char *name, const char *id, int n_frames, const char *png,
                         agir_sheet_layout *layout, agir_err *e) {
    if (n_frames < 1 || n_frames > AGIR_SHEET_MAX_FRAMES)
        return AGIR_BAD(e, "%s: %d frames asked for the contact sheet (hint: 1..%d)", name, n_frames,
                        AGIR_SHEET_MAX_FRAMES);
    int64_t s = find_seq(g, name, id, e);
    if (s < 0) return e->code;
    if (!(g->seq[s].fps > 0) || !isfinite(g->seq[s].fps))
        return AGIR_BAD(e, "%s:%s: fps %g is not positive (hint: fix the sequence's fps)", name, id, g->seq[s].fps);
    walk_view v;
    AGIR_TRY(walk_view_init(&v, g, s, name, e));
    agir_sheet_layout local;
    int rc = render_sheet(&v, png, n_frames, g->skel, layout ? layout : &local, e);
    walk_view_free(&v);
    return rc;
}

// ---- feature distributions --------------------------------------------------------------------

// A panel's value: the mean of two fields (the same field twice for a plain one). min_span: the
// smallest y range shown, so that differences far below clinical relevance (e.g. the 1e-7
// asymmetry of a perfectly symmetric synthetic walk) do not fill the panel as if they mattered.
typedef struct panel_def {
    const char *name, *title;
    size_t a, b;
    double min_span;
    int nonneg;  // the quantity cannot be negative: keep the axis at or above 0
} panel_def;

#define ONE(f) offsetof(agir_features, f), offsetof(agir_features, f)
static const panel_def panels[AGIR_FEATURE_PANELS] = {
    {"speed", "Walking speed", ONE(speed), 0.2, 1},
    {"cadence", "Cadence", ONE(cadence), 10, 1},
    {"step_length", "Step length", ONE(step_length), 0.1, 1},
    {"step_width", "Step width", ONE(step_width), 0.05, 1},
    {"arm_swing", "Arm swing (mean of L/R)", offsetof(agir_features, arm_swing_l), offsetof(agir_features, arm_swing_r),
     0.1, 1},
    {"arm_swing_asym", "Arm-swing asymmetry", ONE(arm_swing_asym), 0.1, 1},
    {"step_time_cv", "Step-time variability (CV)", ONE(step_time_cv), 0.02, 1},
    {"trunk_flexion", "Trunk flexion", ONE(trunk_flexion), 5, 0},
};
#undef ONE

// y limits for a panel: the data with 5% padding, at least min_span wide; a non-negative quantity
// starts just below 0 so that zeros stay visible above the frame.
static void panel_limits(const panel_def *p, double *lo, double *hi) {
    if (!(*hi >= *lo)) return;  // no data: the axes choose
    double pad = 0.05 * (*hi - *lo);
    *lo -= pad, *hi += pad;
    if (*hi - *lo < p->min_span) {
        double c = 0.5 * (*lo + *hi);
        *lo = c - p->min_span / 2, *hi = c + p->min_span / 2;
    }
    if (p->nonneg && *lo < 0) {  // same span, 0 just above the frame
        double span = *hi - *lo;
        *lo = -0.03 * span, *hi = 0.97 * span;
    }
}

static double panel_value(const panel_def *p, const agir_features *f) {
    float a = *(const float *)((const char *)f + p->a), b = *(const float *)((const char *)f + p->b);
    return 0.5 * ((double)a + (double)b);
}

// The unit of a field as agir_feature_table states it.
static const char *unit_of(size_t offset) {
    for (int i = 0; i < agir_n_features; i++)
        if (agir_feature_table[i].offset == offset) return agir_feature_table[i].unit;
    return "";
}

static agir_rgb score_colour(int s) {
    static const int pal[AGIR_SCORES] = {AGIR_PAL_GREEN, AGIR_PAL_BLUE, AGIR_PAL_ORANGE, AGIR_PAL_VERMILLION,
                                         AGIR_PAL_PURPLE};
    return agir_palette(pal[s]);
}

// One panel: per score, the values of the walks with that score.
static int draw_feature_panel(agir_fig *f, agir_rect cell, const panel_def *p, const double *val, const int *score,
                              int64_t n, double *group, agir_axes *ax, agir_err *e) {
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (score[i] >= 0 && isfinite(val[i])) lo = fmin(lo, val[i]), hi = fmax(hi, val[i]);
    panel_limits(p, &lo, &hi);
    static const char *const cats[AGIR_SCORES] = {"0", "1", "2", "3", "4"};
    const char *unit = unit_of(p->a);
    const char *ylabel = *unit && strcmp(unit, "1") ? unit : "ratio";
    agir_axes_setup(ax, f, cell,
                    &(agir_axes_spec){.title = p->title,
                                      .xlabel = "UPDRS gait score",
                                      .ylabel = ylabel,
                                      .y0 = lo,
                                      .y1 = hi,
                                      .ncat = AGIR_SCORES,
                                      .xcat = cats});
    for (int s = 0; s < AGIR_SCORES; s++) {
        size_t m = 0;
        for (int64_t i = 0; i < n; i++)
            if (score[i] == s) group[m++] = val[i];
        agir_style st = {.colour = score_colour(s), .alpha = 0.6, .size = 5};
        AGIR_TRY(agir_plot_box(ax, s, 0.32, group, m, &st, e));
        agir_plot_strip(ax, s, 0.22, group, m, &st);
    }
    return AGIR_OK;
}

// Features of every walk: val (AGIR_FEATURE_PANELS, n_seq) and score (n_seq), -1 when not drawn.
static void compute_all(const agir_gait *g, double *val, int *score, agir_features_layout *L) {
    for (int64_t s = 0; s < g->n_seq; s++) {
        const agir_seq *q = &g->seq[s];
        score[s] = -1;
        if (q->updrs_gait < 0 || q->updrs_gait >= AGIR_SCORES) {
            L->n_unscored++;
            continue;
        }
        agir_features ft;
        agir_err fe;
        agir_err_clear(&fe);
        if (agir_features_compute(agir_gait_seq_frames(g, s), q->length, q->fps, g->skel, q->id, &ft, NULL, &fe)) {
            L->n_failed++;
            continue;
        }
        score[s] = q->updrs_gait;
        L->n_per_score[q->updrs_gait]++;
        for (int p = 0; p < AGIR_FEATURE_PANELS; p++) val[(size_t)p * g->n_seq + s] = panel_value(&panels[p], &ft);
    }
}

static int render_features(const agir_gait *g, const char *name, const char *png, const double *val, const int *score,
                           double *group, agir_features_layout *L, agir_err *e) {
    int drawn = 0;
    for (int s = 0; s < AGIR_SCORES; s++) drawn += L->n_per_score[s];
    if (!drawn)
        return AGIR_BAD(e,
                        "%s: no walk has both a UPDRS gait score and computable features (%d unscored, %d too short)",
                        name, L->n_unscored, L->n_failed);
    char sub[512];
    int k = snprintf(sub, sizeof sub, "%s \u00b7 %d walks \u00b7 per score", name, drawn);
    for (int s = 0; s < AGIR_SCORES && k > 0 && (size_t)k < sizeof sub; s++)
        k += snprintf(sub + k, sizeof sub - k, "%s %d: %d", s ? "," : "", s, L->n_per_score[s]);
    if ((L->n_unscored || L->n_failed) && k > 0 && (size_t)k < sizeof sub)
        snprintf(sub + k, sizeof sub - k, " \u00b7 not shown: %d without score, %d too short for features",
                 L->n_unscored, L->n_failed);
    agir_fig f;
    AGIR_TRY(agir_fig_init(&f, 1500, 860, e));
    agir_fig_title(&f, "Gait features by MDS-UPDRS gait score", sub);
    agir_rect body = agir_fig_body(&f);
    int rc = AGIR_OK;
    for (int p = 0; p < AGIR_FEATURE_PANELS && !rc; p++) {
        L->panel_name[p] = panels[p].name;
        rc = draw_feature_panel(&f, agir_grid_cell(body, 2, 4, p / 4, p % 4, 16), &panels[p],
                                val + (size_t)p * g->n_seq, score, g->n_seq, group, &L->panel[p], e);
    }
    if (!rc) rc = agir_fig_save_png(&f, png, e);
    agir_fig_free(&f);
    clear_figs(L->panel, AGIR_FEATURE_PANELS);
    return rc;
}

int agir_plot_gait_features(const agir_gait *g, const char *name, const char *png, agir_features_layout *layout,
                            agir_err *e) {
    agir_features_layout local;
    agir_features_layout *L = layout ? layout : &local;
    memset(L, 0, sizeof *L);
    size_t n = (size_t)(g->n_seq > 0 ? g->n_seq : 1), nv, bytes;
    if (agir_mul_ok(n, AGIR_FEATURE_PANELS + 1, &nv) || agir_mul_ok(nv, sizeof(double), &bytes))
        return AGIR_BUG(e, "%s: %lld sequences overflow", name, (long long)g->n_seq);
    double *val = malloc(bytes);
    int *score = malloc(n * sizeof *score);
    int rc;
    if (!val || !score) {
        rc = AGIR_BUG(e, "out of memory for the features of %lld walks", (long long)g->n_seq);
    } else {
        compute_all(g, val, score, L);
        rc = render_features(g, name, png, val, score, val + (size_t)AGIR_FEATURE_PANELS * n, L, e);
    }
    free(val);
    free(score);
    return rc;
}
