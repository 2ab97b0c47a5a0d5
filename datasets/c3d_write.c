// C3D writer: header block, parameter section (POINT and ANALOG groups) and interleaved point and
// analog data, in Intel, DEC or MIPS number formats. Used by tests to build files with every
// layout the reader must handle, and available to exporters. Spec reference in datasets/c3d.h.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsio.h"
#include "datasets/c3d.h"

#define BLOCK 512
#define MAX_ABS 1e30f  // beyond every format's range (VAX floats stop near 1.7e38)

typedef struct wbuf {
    uint8_t *p;
    size_t n, cap;
    int proc;
    int oom;
} wbuf;

static uint8_t *grow(wbuf *b, size_t n) {
    if (b->oom) return NULL;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return NULL;
        }
        b->p = p;
        b->cap = cap;
    }
    uint8_t *at = b->p + b->n;
    b->n += n;
    return at;
}

static void set_u16(uint8_t *p, unsigned v, int proc) {
    if (proc == AGIR_C3D_MIPS) {
        p[0] = (uint8_t)(v >> 8);
        p[1] = (uint8_t)v;
    } else {
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
    }
}

// IEEE single to VAX F_floating (see dec_f32 in c3d.c for the layout). Inputs are finite and
// below MAX_ABS; values too small for VAX become 0.
static void set_dec(uint8_t *p, float v) {
    uint32_t u = 0;
    if (v != 0) {
        int ex;
        float fr = frexpf(fabsf(v), &ex);  // |v| = fr * 2^ex, fr in [0.5, 1)
        int vex = ex + 128;
        if (vex >= 1)
            u = (v < 0 ? 1u << 31 : 0) | (uint32_t)vex << 23 | ((uint32_t)ldexpf(fr, 24) & 0x7fffffu);
    }
    p[0] = (uint8_t)(u >> 16);
    p[1] = (uint8_t)(u >> 24);
    p[2] = (uint8_t)u;
    p[3] = (uint8_t)(u >> 8);
}

static void set_f32(uint8_t *p, float v, int proc) {
    if (proc == AGIR_C3D_DEC) {
        set_dec(p, v);
        return;
    }
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    for (int i = 0; i < 4; i++) p[proc == AGIR_C3D_MIPS ? 3 - i : i] = (uint8_t)(u >> (8 * i));
}

static void put_u8(wbuf *b, int v) {
    uint8_t *p = grow(b, 1);
    if (p) *p = (uint8_t)v;
}

static void put_u16(wbuf *b, unsigned v) {
    uint8_t *p = grow(b, 2);
    if (p) set_u16(p, v, b->proc);
}

static void put_f32(wbuf *b, float v) {
    uint8_t *p = grow(b, 4);
    if (p) set_f32(p, v, b->proc);
}

// ---- parameter section ----

typedef struct pwriter {
    wbuf *b;
    size_t last_offset;  // position of the latest record's next-offset word
} pwriter;

static void put_name(pwriter *w, const char *name, int gid) {
    size_t n = strlen(name);
    put_u8(w->b, (int)n);
    put_u8(w->b, gid);
    uint8_t *p = grow(w->b, n);
    if (p) memcpy(p, name, n);
    w->last_offset = w->b->n;
}

static void put_group(pwriter *w, const char *name, int id) {
    put_name(w, name, -id);
    put_u16(w->b, 3);  // offset word + empty description
    put_u8(w->b, 0);
}

// A parameter record; its values follow (written by the caller), then finish_param.
static void start_param(pwriter *w, const char *name, int gid, int type, int nd, const int *dims) {
    size_t bytes = (size_t)abs(type);
    for (int d = 0; d < nd; d++) bytes *= (size_t)dims[d];
    put_name(w, name, gid);
    put_u16(w->b, (unsigned)(2 + 2 + nd + bytes + 1));
    put_u8(w->b, type);
    put_u8(w->b, nd);
    for (int d = 0; d < nd; d++) put_u8(w->b, dims[d]);
}

static void finish_param(pwriter *w) {
    put_u8(w->b, 0);  // empty description
}

static void param_i16(pwriter *w, const char *name, int gid, unsigned v) {
    start_param(w, name, gid, 2, 0, NULL);
    put_u16(w->b, v);
    finish_param(w);
}

static void param_f32(pwriter *w, const char *name, int gid, float v) {
    start_param(w, name, gid, 4, 0, NULL);
    put_f32(w->b, v);
    finish_param(w);
}

static void param_str(pwriter *w, const char *name, int gid, const char *v) {
    int dims[1] = {(int)strlen(v)};
    start_param(w, name, gid, -1, 1, dims);
    uint8_t *p = grow(w->b, (size_t)dims[0]);
    if (p) memcpy(p, v, (size_t)dims[0]);
    finish_param(w);
}

// LABELS, LABELS2, ...: `per` labels of `width` characters each, space padded.
static void param_labels(pwriter *w, const agir_c3d *c, int per, int width) {
    for (int first = 0, k = 1; first < c->n_points || k == 1; first += per, k++) {
        int count = c->n_points - first < per ? c->n_points - first : per;
        char name[16];
        snprintf(name, sizeof name, k == 1 ? "LABELS" : "LABELS%d", k);
        int dims[2] = {width, count};
        start_param(w, name, 1, -1, 2, dims);
        for (int i = 0; i < count; i++) {
            uint8_t *p = grow(w->b, (size_t)width);
            if (!p) return;
            memset(p, ' ', (size_t)width);
            memcpy(p, c->labels[first + i], strlen(c->labels[first + i]));
        }
        finish_param(w);
    }
}

typedef struct plan {
    int proc, float_storage, analog_words;
    float scale;  // int16: units per step; float: 1
    unsigned data_start;
} plan;

static void build_params(wbuf *b, const agir_c3d *c, const agir_c3d_write_opts *o, const plan *pl, int per,
                         int width) {
    b->n = 0;
    put_u8(b, 1);
    put_u8(b, 0x50);
    put_u8(b, 0);  // block count, patched by the caller
    put_u8(b, pl->proc);
    pwriter w = {b, 0};
    put_group(&w, "POINT", 1);
    param_i16(&w, "USED", 1, (unsigned)c->n_points);
    param_f32(&w, "SCALE", 1, pl->float_storage ? -pl->scale : pl->scale);
    param_f32(&w, "RATE", 1, c->rate);
    param_i16(&w, "DATA_START", 1, pl->data_start);
    int mode = o->frames_param;
    int64_t F = c->n_frames;
    if (mode == AGIR_C3D_FRAMES_FLOAT || (mode == AGIR_C3D_FRAMES_AUTO && F > 65535))
        param_f32(&w, "FRAMES", 1, (float)F);
    else if (mode != AGIR_C3D_FRAMES_NONE)
        param_i16(&w, "FRAMES", 1, (unsigned)(F > 65535 ? 65535 : F));
    param_labels(&w, c, per, width);
    param_str(&w, "UNITS", 1, c->units[0] ? c->units : "mm");
    put_group(&w, "ANALOG", 2);
    param_i16(&w, "USED", 2, (unsigned)o->analog_channels);
    param_f32(&w, "RATE", 2, c->rate * (float)(o->analog_channels ? o->analog_samples : 1));
    if (!b->oom) set_u16(b->p + w.last_offset, 0, pl->proc);  // the last record
    size_t nblocks = (b->n + BLOCK - 1) / BLOCK, padn = nblocks * BLOCK - b->n;
    if (!b->oom) b->p[2] = (uint8_t)nblocks;
    uint8_t *pad = grow(b, padn);
    if (pad) memset(pad, 0, padn);
}

// ---- validation and data ----

static int check_input(const agir_c3d *c, const agir_c3d_write_opts *o, plan *pl, agir_err *e) {
    if (c->n_points < 0 || c->n_points > 65535 || c->n_frames < 0 || c->n_frames > (1 << 24))
        return AGIR_BAD(e, "c3d writer: %d points x %lld frames is out of range", c->n_points,
                        (long long)c->n_frames);
    if (!(c->rate > 0 && c->rate <= 1e6f)) return AGIR_BAD(e, "c3d writer: rate %g is out of range", c->rate);
    if (o->analog_channels < 0 || o->analog_samples < 0 || (o->analog_channels > 0 && o->analog_samples < 1) ||
        (int64_t)o->analog_channels * o->analog_samples > 65535)
        return AGIR_BAD(e, "c3d writer: %d analog channels x %d samples is out of range", o->analog_channels,
                        o->analog_samples);
    if (o->labels_per_group < 0 || o->labels_per_group > 255)
        return AGIR_BAD(e, "c3d writer: labels_per_group %d is not in 0..255", o->labels_per_group);
    pl->proc = o->processor ? o->processor : AGIR_C3D_INTEL;
    if (pl->proc != AGIR_C3D_INTEL && pl->proc != AGIR_C3D_DEC && pl->proc != AGIR_C3D_MIPS)
        return AGIR_BAD(e, "c3d writer: processor %d is not 84, 85 or 86", pl->proc);
    pl->float_storage = o->float_storage;
    pl->analog_words = o->analog_channels * (o->analog_channels ? o->analog_samples : 0);
    float maxabs = 0;
    size_t n = (size_t)c->n_frames * (size_t)c->n_points;
    for (size_t i = 0; i < n; i++) {
        if (!c->valid[i]) continue;
        for (int k = 0; k < 3; k++) {
            float v = c->xyz[3 * i + (size_t)k];
            if (!(fabsf(v) < MAX_ABS)) return AGIR_BAD(e, "c3d writer: coordinate %g cannot be stored", v);
            if (fabsf(v) > maxabs) maxabs = fabsf(v);
        }
    }
    pl->scale = 1;
    if (!pl->float_storage) {
        pl->scale = o->scale > 0 ? o->scale : (maxabs > 0 ? maxabs / 32000.0f : 1.0f);
        if (maxabs / pl->scale > 32767.0f)
            return AGIR_BAD(e, "c3d writer: coordinate %g does not fit int16 storage at scale %g", maxabs, pl->scale);
    }
    size_t na = (size_t)c->n_frames * (size_t)pl->analog_words;
    for (size_t i = 0; o->analog && i < na; i++) {
        float v = o->analog[i];
        if (!(fabsf(v) < MAX_ABS) || (!pl->float_storage && !(fabsf(v) <= 32767.0f)))
            return AGIR_BAD(e, "c3d writer: analog value %g cannot be stored", v);
    }
    for (int p = 0; p < c->n_points; p++)
        if (!c->labels[p] || strlen(c->labels[p]) > 255)
            return AGIR_BAD(e, "c3d writer: label %d is missing or longer than 255 characters", p);
    return AGIR_OK;
}

static void put_word(wbuf *b, float v, const plan *pl) {
    if (pl->float_storage)
        put_f32(b, v);
    else
        put_u16(b, (unsigned)(int)lrintf(v) & 0xffffu);
}

static void put_data(wbuf *b, const agir_c3d *c, const agir_c3d_write_opts *o, const plan *pl) {
    size_t P = (size_t)c->n_points;
    for (int64_t f = 0; f < c->n_frames; f++) {
        for (size_t p = 0; p < P; p++) {
            size_t i = (size_t)f * P + p;
            int ok = c->valid[i];
            for (int k = 0; k < 3; k++) put_word(b, ok ? c->xyz[3 * i + (size_t)k] / pl->scale : 0.0f, pl);
            put_word(b, ok ? 0.0f : -1.0f, pl);
        }
        for (int a = 0; a < pl->analog_words; a++)
            put_word(b, o->analog ? o->analog[(size_t)f * (size_t)pl->analog_words + (size_t)a] : 0.0f, pl);
    }
}

int agir_c3d_write_mem(const agir_c3d *c, const agir_c3d_write_opts *opts, uint8_t **out, size_t *len,
                       agir_err *e) {
    *out = NULL;
    *len = 0;
    agir_c3d_write_opts o = {0};
    if (opts) o = *opts;
    if (!opts) o.float_storage = 1;
    plan pl;
    AGIR_TRY(check_input(c, &o, &pl, e));
    int width = 1;
    for (int p = 0; p < c->n_points; p++)
        if ((int)strlen(c->labels[p]) > width) width = (int)strlen(c->labels[p]);
    int per = o.labels_per_group ? o.labels_per_group : 255;
    if (per > 32000 / width) per = 32000 / width;  // a record's offset word is a signed 16-bit value

    wbuf params = {.proc = pl.proc};
    pl.data_start = 0;
    build_params(&params, c, &o, &pl, per, width);  // sized once to learn where the data starts
    if (params.n / BLOCK > 255) {
        free(params.p);
        return AGIR_BAD(e, "c3d writer: the parameter section needs %zu blocks, more than 255", params.n / BLOCK);
    }
    pl.data_start = (unsigned)(2 + params.n / BLOCK);
    build_params(&params, c, &o, &pl, per, width);

    wbuf b = {.proc = pl.proc};
    uint8_t *h = grow(&b, BLOCK);
    if (h) {
        memset(h, 0, BLOCK);
        h[0] = 2;
        h[1] = 0x50;
        set_u16(h + 2, (unsigned)c->n_points, pl.proc);
        set_u16(h + 4, (unsigned)pl.analog_words, pl.proc);
        set_u16(h + 6, 1, pl.proc);
        set_u16(h + 8, (unsigned)(c->n_frames > 65535 ? 65535 : c->n_frames), pl.proc);
        set_f32(h + 12, pl.float_storage ? -pl.scale : pl.scale, pl.proc);
        set_u16(h + 16, pl.data_start, pl.proc);
        set_u16(h + 18, (unsigned)(o.analog_channels ? o.analog_samples : 0), pl.proc);
        set_f32(h + 20, c->rate, pl.proc);
    }
    uint8_t *p = grow(&b, params.n);
    if (p) memcpy(p, params.p, params.n);
    free(params.p);
    put_data(&b, c, &o, &pl);
    size_t pad = (BLOCK - b.n % BLOCK) % BLOCK;
    p = grow(&b, pad);
    if (p) memset(p, 0, pad);
    if (b.oom || params.oom) {
        free(b.p);
        return AGIR_BUG(e, "out of memory writing a C3D file");
    }
    *out = b.p;
    *len = b.n;
    return AGIR_OK;
}

int agir_c3d_write(const agir_c3d *c, const agir_c3d_write_opts *opts, const char *path, agir_err *e) {
    uint8_t *buf;
    size_t len;
    AGIR_TRY(agir_c3d_write_mem(c, opts, &buf, &len, e));
    int rc = agir_write_atomic(path, buf, len, e);
    free(buf);
    return rc;
}
