// C3D reader: header, parameter section and point data, each validated against the file length.
// Format summary and reference in datasets/c3d.h ("The C3D File Format User Guide", c3d.org).
#include "datasets/c3d.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsio.h"

#define BLOCK 512
#define MAX_RATE 1e6

// The file's bytes, read with its processor's byte order and float format.
typedef struct src {
    const uint8_t *b;
    size_t len;
    const char *name;
    int proc;
} src;

// All reads below happen at offsets the caller has checked against s->len.
static unsigned rd_u16(const src *s, size_t off) {
    const uint8_t *p = s->b + off;
    return s->proc == AGIR_C3D_MIPS ? (unsigned)p[0] << 8 | p[1] : (unsigned)p[1] << 8 | p[0];
}

static int rd_i16(const src *s, size_t off) {
    unsigned u = rd_u16(s, off);
    return u >= 0x8000u ? (int)u - 0x10000 : (int)u;
}

// VAX F_floating, as stored by DEC processors: 16-bit little-endian words, the first holding sign,
// 8-bit exponent (bias 128) and the top mantissa bits; value = 0.1mmm (binary) * 2^(exp - 128).
// Exponent 0 is zero, or the "reserved operand" when the sign is set (read as NaN).
static float dec_f32(const uint8_t *p) {
    uint32_t u = (uint32_t)p[2] | (uint32_t)p[3] << 8 | (uint32_t)p[0] << 16 | (uint32_t)p[1] << 24;
    int ex = (int)(u >> 23 & 0xff);
    if (ex == 0) return u >> 31 ? NAN : 0.0f;
    float v = ldexpf((float)(0x800000u | (u & 0x7fffffu)), ex - 128 - 24);
    return u >> 31 ? -v : v;
}

static float rd_f32(const src *s, size_t off) {
    const uint8_t *p = s->b + off;
    if (s->proc == AGIR_C3D_DEC) return dec_f32(p);
    uint32_t u = s->proc == AGIR_C3D_MIPS
                     ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
                     : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

// ---- parameter section ----

typedef struct group {
    int id;
    const uint8_t *name;
    int name_len;
} group;

typedef struct param {
    int group;
    const uint8_t *name;
    int name_len;
    int type;  // -1 char, 1 byte, 2 int16, 4 float
    int nd;
    int dims[7];
    size_t data;  // file offset of the values
    size_t n;     // number of values
} param;

typedef struct params {
    group *g;
    int ng;
    param *p;
    int np;
} params;

static void params_free(params *ps) {
    free(ps->g);
    free(ps->p);
}

// A name from the file, made safe for a one-line message (printable, bounded).
typedef struct safe_name {
    char s[52];
} safe_name;

static safe_name show(const uint8_t *p, size_t n) {
    safe_name out;
    size_t k = n < 48 ? n : 48;
    for (size_t i = 0; i < k; i++) out.s[i] = p[i] < 32 || p[i] > 126 ? '?' : (char)p[i];
    strcpy(out.s + k, n > k ? "..." : "");
    return out;
}

static int name_is(const uint8_t *name, int len, const char *want) {
    size_t n = strlen(want);
    if ((size_t)len != n) return 0;
    for (size_t i = 0; i < n; i++) {
        int c = name[i];
        if (c >= 'a' && c <= 'z') c -= 32;
        if (c != want[i]) return 0;
    }
    return 1;
}

// Parses the chain of group and parameter records in [start, end). Each record: signed name
// length (negative = locked), signed group id (negative = a group, positive = a parameter of that
// group), the name, a signed 16-bit offset from itself to the next record (0 = last record), then
// for a parameter: type, dimension count, dimensions and values. A zero name length also ends it.
static int parse_params(const src *s, size_t start, size_t end, params *ps, agir_err *e) {
    size_t cap = (end - start) / 5 + 1;  // a record takes at least 5 bytes
    ps->g = calloc(cap, sizeof *ps->g);
    ps->p = calloc(cap, sizeof *ps->p);
    if (!ps->g || !ps->p) return AGIR_BUG(e, "out of memory for %zu parameter records", cap);
    size_t pos = start;
    while (pos < end) {
        if (end - pos < 2)
            return AGIR_BAD(e, "%s: parameter section: record at byte %zu is cut off (hint: the file is damaged)",
                            s->name, pos);
        int nlen = (int8_t)s->b[pos];
        int gid = (int8_t)s->b[pos + 1];
        if (nlen == 0 || gid == 0) break;
        size_t alen = (size_t)abs(nlen);
        size_t offpos = pos + 2 + alen;
        if (offpos + 2 > end)
            return AGIR_BAD(e, "%s: parameter section: record at byte %zu runs past the section end (byte %zu) "
                            "(hint: the file is damaged)", s->name, pos, end);
        int next = rd_i16(s, offpos);
        size_t item_end = end;
        if (next != 0) {
            if (next < 2 || (size_t)next > end - offpos)
                return AGIR_BAD(e, "%s: parameter section: record '%s' at byte %zu points to the next one at "
                                "offset %d, outside the section (hint: the file is damaged)",
                                s->name, show(s->b + pos + 2, alen).s, pos, next);
            item_end = offpos + (size_t)next;
        }
        size_t body = offpos + 2;
        if (gid < 0) {
            group *g = &ps->g[ps->ng++];
            g->id = -gid;
            g->name = s->b + pos + 2;
            g->name_len = (int)alen;
        } else {
            param *p = &ps->p[ps->np];
            p->group = gid;
            p->name = s->b + pos + 2;
            p->name_len = (int)alen;
            safe_name pname = show(p->name, alen);
            if (item_end - body < 2)
                return AGIR_BAD(e, "%s: parameter section: parameter '%s' at byte %zu is cut off "
                                "(hint: the file is damaged)", s->name, pname.s, pos);
            p->type = (int8_t)s->b[body];
            p->nd = s->b[body + 1];
            if (p->type != -1 && p->type != 1 && p->type != 2 && p->type != 4)
                return AGIR_BAD(e, "%s: parameter section: parameter '%s' has type %d, not -1, 1, 2 or 4 "
                                "(hint: the file is damaged)", s->name, pname.s, p->type);
            if (p->nd > 7 || (size_t)p->nd > item_end - body - 2)
                return AGIR_BAD(e, "%s: parameter section: parameter '%s' has %d dimensions, more than its "
                                "record holds (hint: the file is damaged)", s->name, pname.s, p->nd);
            size_t n = 1, bytes;
            for (int d = 0; d < p->nd; d++) {
                p->dims[d] = s->b[body + 2 + d];
                n *= (size_t)p->dims[d];  // at most 255^7: no overflow in 64 bits
            }
            p->data = body + 2 + (size_t)p->nd;
            p->n = n;
            if (agir_mul_ok(n, (size_t)abs(p->type), &bytes) || bytes > item_end - p->data)
                return AGIR_BAD(e, "%s: parameter section: parameter '%s' declares %zu values, more than its "
                                "record holds (hint: the file is damaged)", s->name, pname.s, n);
            ps->np++;
        }
        if (next == 0) break;
        pos = item_end;
    }
    return AGIR_OK;
}

// Finds GROUP:NAME; *out is NULL when absent. A name defined twice is refused, so a crafted file
// cannot show one value to us and another to other tools.
static int lookup(const src *s, const params *ps, const char *grp, const char *name, const param **out,
                  agir_err *e) {
    *out = NULL;
    int gid = 0;
    for (int i = 0; i < ps->ng; i++) {
        if (!name_is(ps->g[i].name, ps->g[i].name_len, grp)) continue;
        if (gid) return AGIR_BAD(e, "%s: parameter section: group %s is defined twice", s->name, grp);
        gid = ps->g[i].id;
    }
    if (!gid) return AGIR_OK;
    for (int i = 0; i < ps->np; i++) {
        const param *p = &ps->p[i];
        if (p->group != gid || !name_is(p->name, p->name_len, name)) continue;
        if (*out) return AGIR_BAD(e, "%s: parameter %s:%s is defined twice", s->name, grp, name);
        *out = p;
    }
    return AGIR_OK;
}

// Value i of a numeric parameter; int16 and byte values read as unsigned when `u` (counts that
// writers store above 32767).
static double num_at(const src *s, const param *p, size_t i, int u) {
    size_t off = p->data + i * (size_t)abs(p->type);
    switch (p->type) {
    case 1: return u ? (double)s->b[off] : (double)(int8_t)s->b[off];
    case 2: return u ? (double)rd_u16(s, off) : (double)rd_i16(s, off);
    default: return (double)rd_f32(s, off);
    }
}

// First value of a numeric parameter, if present (*have = 0 otherwise).
static int get_num(const src *s, const params *ps, const char *grp, const char *name, int u, double *v, int *have,
                   agir_err *e) {
    const param *p;
    AGIR_TRY(lookup(s, ps, grp, name, &p, e));
    *have = 0;
    if (!p) return AGIR_OK;
    if (p->type == -1 || p->n == 0)
        return AGIR_BAD(e, "%s: parameter %s:%s should hold a number (hint: the file is damaged)", s->name, grp,
                        name);
    *v = num_at(s, p, 0, u);
    *have = 1;
    return AGIR_OK;
}

// A count: finite, whole, within [0, max].
static int get_count(const src *s, const params *ps, const char *grp, const char *name, double max, int64_t *v,
                     int *have, agir_err *e) {
    double d;
    AGIR_TRY(get_num(s, ps, grp, name, 1, &d, have, e));
    if (!*have) return AGIR_OK;
    if (!(d >= 0 && d <= max) || d != floor(d))
        return AGIR_BAD(e, "%s: parameter %s:%s is %g, not a whole number in [0, %.0f] (hint: the file is damaged)",
                        s->name, grp, name, d, max);
    *v = (int64_t)d;
    return AGIR_OK;
}

// Copies a fixed-width label, trimming spaces and NULs, replacing control bytes so messages stay
// one printable line.
static char *label_dup(const uint8_t *p, size_t w) {
    size_t a = 0, b = w;
    while (a < b && (p[a] == ' ' || p[a] == 0)) a++;
    while (b > a && (p[b - 1] == ' ' || p[b - 1] == 0)) b--;
    char *out = malloc(b - a + 1);
    if (!out) return NULL;
    for (size_t i = a; i < b; i++) out[i - a] = p[i] < 32 || p[i] == 127 ? '?' : (char)p[i];
    out[b - a] = '\0';
    return out;
}

// POINT:LABELS, then LABELS2, LABELS3, ... while present; the first n_points labels are kept.
static int read_labels(const src *s, const params *ps, agir_c3d *c, agir_err *e) {
    c->labels = calloc(c->n_points ? (size_t)c->n_points : 1, sizeof *c->labels);
    if (!c->labels) return AGIR_BUG(e, "out of memory for %d labels", c->n_points);
    int have = 0;
    for (int k = 1; k <= 99 && have < c->n_points; k++) {
        char name[16];
        snprintf(name, sizeof name, k == 1 ? "LABELS" : "LABELS%d", k);
        const param *p;
        AGIR_TRY(lookup(s, ps, "POINT", name, &p, e));
        if (!p) break;
        if (p->type != -1 || p->nd > 2)
            return AGIR_BAD(e, "%s: parameter POINT:%s should be a character array of up to 2 dimensions "
                            "(hint: the file is damaged)", s->name, name);
        size_t w = p->nd >= 1 ? (size_t)p->dims[0] : 1;
        size_t count = p->nd == 2 ? (size_t)p->dims[1] : 1;
        for (size_t i = 0; i < count && have < c->n_points; i++) {
            c->labels[have] = label_dup(s->b + p->data + i * w, w);
            if (!c->labels[have]) return AGIR_BUG(e, "out of memory for a label");
            have++;
        }
    }
    if (have < c->n_points)
        return AGIR_BAD(e, "%s: POINT:LABELS (with LABELS2...) holds %d labels but POINT:USED is %d "
                        "(hint: the file is damaged or was cut by its writer)", s->name, have, c->n_points);
    return AGIR_OK;
}

static void read_units(const src *s, const params *ps, agir_c3d *c) {
    const param *p;
    agir_err ignore;
    agir_err_clear(&ignore);
    if (lookup(s, ps, "POINT", "UNITS", &p, &ignore) || !p || p->type != -1) return;
    size_t w = p->nd >= 1 ? (size_t)p->dims[0] : 1;
    if (w > p->n) w = p->n;
    char *u = label_dup(s->b + p->data, w);
    if (u) snprintf(c->units, sizeof c->units, "%s", u);
    free(u);
}

// ---- header and layout ----

typedef struct layout {
    size_t param_off, param_end;  // parameter section bytes
    int h_points, h_analog, h_first, h_last, h_data_start;
    float h_scale, h_rate;
    size_t data_off, frame_bytes;
} layout;

static int read_header(src *s, layout *L, agir_err *e) {
    if (s->len < BLOCK)
        return AGIR_BAD(e, "%s: header: file is %zu bytes, shorter than one 512-byte block (hint: not a C3D file?)",
                        s->name, s->len);
    int pblock = s->b[0];
    if (s->b[1] != 0x50)
        return AGIR_BAD(e, "%s: header: key byte is 0x%02x, not 0x50 (hint: not a C3D file?)", s->name, s->b[1]);
    L->param_off = (size_t)(pblock > 0 ? pblock - 1 : 0) * BLOCK;
    if (pblock < 2 || L->param_off + 4 > s->len)
        return AGIR_BAD(e, "%s: header: parameter block %d is out of range (hint: not a C3D file?)", s->name, pblock);
    int nblocks = s->b[L->param_off + 2];
    s->proc = s->b[L->param_off + 3];
    if (s->proc != AGIR_C3D_INTEL && s->proc != AGIR_C3D_DEC && s->proc != AGIR_C3D_MIPS)
        return AGIR_BAD(e, "%s: parameter section: processor type %d is not 84 (Intel), 85 (DEC) or 86 (MIPS) "
                        "(hint: not a C3D file?)", s->name, s->proc);
    if (nblocks == 0 || (size_t)nblocks * BLOCK > s->len - L->param_off)
        return AGIR_BAD(e, "%s: parameter section: %d blocks from block %d do not fit in the file (%zu bytes) "
                        "(hint: the file is truncated)", s->name, nblocks, pblock, s->len);
    L->param_end = L->param_off + (size_t)nblocks * BLOCK;
    L->h_points = (int)rd_u16(s, 2);
    L->h_analog = (int)rd_u16(s, 4);
    L->h_first = (int)rd_u16(s, 6);
    L->h_last = (int)rd_u16(s, 8);
    L->h_scale = rd_f32(s, 12);
    L->h_data_start = (int)rd_u16(s, 16);
    L->h_rate = rd_f32(s, 20);
    return AGIR_OK;
}

// Point count, storage, rate and data start: from the parameters where present, else the header.
static int read_layout(const src *s, const params *ps, layout *L, agir_c3d *c, agir_err *e) {
    int64_t used = L->h_points;
    int have;
    AGIR_TRY(get_count(s, ps, "POINT", "USED", 65535, &used, &have, e));
    if (have && used != L->h_points)
        return AGIR_BAD(e, "%s: POINT:USED is %lld but the header says %d points (hint: the file is inconsistent; "
                        "re-export it)", s->name, (long long)used, L->h_points);
    c->n_points = (int)used;

    double scale = L->h_scale;
    AGIR_TRY(get_num(s, ps, "POINT", "SCALE", 0, &scale, &have, e));
    if (!isfinite(scale) || scale == 0)
        return AGIR_BAD(e, "%s: point scale factor is %g (hint: the file is damaged)", s->name, scale);
    if (have && isfinite(L->h_scale) && L->h_scale != 0 && (scale < 0) != (L->h_scale < 0))
        return AGIR_BAD(e, "%s: POINT:SCALE (%g) and the header scale (%g) disagree on float versus integer storage "
                        "(hint: the file is inconsistent; re-export it)", s->name, scale, (double)L->h_scale);
    c->float_storage = scale < 0;
    c->scale = (float)fabs(scale);

    double rate = L->h_rate;
    AGIR_TRY(get_num(s, ps, "POINT", "RATE", 0, &rate, &have, e));
    if (!(rate > 0 && rate <= MAX_RATE))
        return AGIR_BAD(e, "%s: frame rate %g is not in (0, %g] (hint: the file is damaged)", s->name, rate, MAX_RATE);
    c->rate = (float)rate;

    int64_t ds = L->h_data_start;
    AGIR_TRY(get_count(s, ps, "POINT", "DATA_START", 65535, &ds, &have, e));
    size_t first_free = L->param_end / BLOCK + 1;  // first block after the parameters
    if (ds < (int64_t)first_free || (size_t)(ds - 1) * BLOCK > s->len)
        return AGIR_BAD(e, "%s: data start block %lld is out of range (parameters end at block %zu, file has %zu "
                        "blocks) (hint: the file is damaged)", s->name, (long long)ds, first_free - 1,
                        (s->len + BLOCK - 1) / BLOCK);
    L->data_off = (size_t)(ds - 1) * BLOCK;

    // Analog words per frame come from the header; ANALOG:USED * (ANALOG:RATE / POINT:RATE), when
    // both are present and whole, must agree, or the frame layout is ambiguous.
    c->analog_per_frame = L->h_analog;
    double au, ar;
    int hau, har;
    AGIR_TRY(get_num(s, ps, "ANALOG", "USED", 1, &au, &hau, e));
    AGIR_TRY(get_num(s, ps, "ANALOG", "RATE", 0, &ar, &har, e));
    if (hau && har && au > 0 && isfinite(ar) && ar > 0) {
        double spf = ar / rate;
        double r = floor(spf + 0.5);
        if (fabs(spf - r) < 1e-3 && au * r != (double)L->h_analog)
            return AGIR_BAD(e, "%s: header says %d analog words per frame but ANALOG:USED x ANALOG:RATE / POINT:RATE "
                            "= %g (hint: the file is inconsistent; re-export it)", s->name, L->h_analog, au * r);
    }
    size_t words = 4 * (size_t)c->n_points + (size_t)c->analog_per_frame;
    L->frame_bytes = words * (c->float_storage ? 4 : 2);
    return AGIR_OK;
}

static int frame_is_zero(const src *s, size_t off, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s->b[off + i]) return 0;
    return 1;
}

// Frame count: POINT:FRAMES (int16 or float) if present, else the header's last - first + 1. A
// count stuck at 65535 (both fields saturate in long files) is replaced by the number of whole
// frames in the data section, less all-zero frames in the final block's padding.
static int frame_count(const src *s, const params *ps, const layout *L, int64_t *out, agir_err *e) {
    int64_t pf;
    int have;
    AGIR_TRY(get_count(s, ps, "POINT", "FRAMES", 2147483647.0, &pf, &have, e));
    if (!have && L->h_last + 1 < L->h_first)
        return AGIR_BAD(e, "%s: header: last frame %d is before first frame %d (hint: the file is damaged)", s->name,
                        L->h_last, L->h_first);
    int64_t f = have ? pf : (L->h_last >= L->h_first ? (int64_t)L->h_last - L->h_first + 1 : 0);
    int saturated = have ? pf == 65535 : L->h_last == 65535;
    if (L->frame_bytes == 0) {
        *out = f;
        return AGIR_OK;
    }
    size_t avail = (s->len - L->data_off) / L->frame_bytes;
    if (saturated && avail > (size_t)f) {
        size_t n = avail;
        while (n > (size_t)f && s->len - (L->data_off + (n - 1) * L->frame_bytes) < BLOCK &&
               frame_is_zero(s, L->data_off + (n - 1) * L->frame_bytes, L->frame_bytes))
            n--;
        f = (int64_t)n;
    }
    if ((uint64_t)f > avail)
        return AGIR_BAD(e, "%s: data: %lld frames of %zu bytes from byte %zu need more than the file's %zu bytes "
                        "(hint: the file is truncated)", s->name, (long long)f, L->frame_bytes, L->data_off, s->len);
    *out = f;
    return AGIR_OK;
}

static int read_points(const src *s, const layout *L, agir_c3d *c, agir_err *e) {
    size_t P = (size_t)c->n_points, F = (size_t)c->n_frames, n, nxyz;
    if (agir_mul_ok(F, P, &n) || agir_mul_ok(n, 3 * sizeof(float), &nxyz))
        return AGIR_BAD(e, "%s: data: %zu frames x %zu points is too large", s->name, F, P);
    c->xyz = malloc(nxyz ? nxyz : 1);
    c->valid = malloc(n ? n : 1);
    if (!c->xyz || !c->valid) return AGIR_BUG(e, "out of memory for %zu frames x %zu points", F, P);
    if (P == 0) return AGIR_OK;
    size_t ws = c->float_storage ? 4 : 2;
    for (size_t f = 0; f < F; f++) {
        size_t base = L->data_off + f * L->frame_bytes;
        for (size_t p = 0; p < P; p++) {
            size_t off = base + p * 4 * ws;
            float v[3];
            int ok;
            if (c->float_storage) {
                for (int k = 0; k < 3; k++) v[k] = rd_f32(s, off + 4 * (size_t)k);
                float res = rd_f32(s, off + 12);
                ok = res >= 0;  // false for NaN too
            } else {
                for (int k = 0; k < 3; k++) v[k] = (float)rd_i16(s, off + 2 * (size_t)k) * c->scale;
                ok = rd_i16(s, off + 6) >= 0;
            }
            ok = ok && isfinite(v[0]) && isfinite(v[1]) && isfinite(v[2]);
            memcpy(c->xyz + (f * P + p) * 3, v, sizeof v);
            c->valid[f * P + p] = (uint8_t)ok;
        }
    }
    return AGIR_OK;
}

int agir_c3d_read_mem(const void *buf, size_t len, const char *name, agir_c3d *c, agir_err *e) {
    memset(c, 0, sizeof *c);
    src s = {buf, len, name, AGIR_C3D_INTEL};
    layout L;
    memset(&L, 0, sizeof L);
    params ps = {0};
    int rc = read_header(&s, &L, e);
    if (!rc) rc = parse_params(&s, L.param_off + 4, L.param_end, &ps, e);
    if (!rc) rc = read_layout(&s, &ps, &L, c, e);
    if (!rc) rc = frame_count(&s, &ps, &L, &c->n_frames, e);
    if (!rc) rc = read_labels(&s, &ps, c, e);
    if (!rc) rc = read_points(&s, &L, c, e);
    if (!rc) {
        c->processor = s.proc;
        read_units(&s, &ps, c);
    }
    params_free(&ps);
    if (rc) agir_c3d_free(c);
    return rc;
}

int agir_c3d_read(const char *path, agir_c3d *c, agir_err *e) {
    memset(c, 0, sizeof *c);
    char *buf;
    size_t len;
    AGIR_TRY(agir_read_file(path, AGIR_C3D_MAX_BYTES, &buf, &len, e));
    int rc = agir_c3d_read_mem(buf, len, path, c, e);
    free(buf);
    return rc;
}

void agir_c3d_free(agir_c3d *c) {
    if (c->labels)
        for (int i = 0; i < c->n_points; i++) free(c->labels[i]);
    free(c->labels);
    free(c->xyz);
    free(c->valid);
    memset(c, 0, sizeof *c);
}

int agir_c3d_alloc(agir_c3d *c, int64_t n_frames, int n_points, float rate, agir_err *e) {
    memset(c, 0, sizeof *c);
    size_t n, nxyz;
    if (n_frames < 0 || n_points < 0 || agir_mul_ok((size_t)n_frames, (size_t)n_points, &n) ||
        agir_mul_ok(n, 3 * sizeof(float), &nxyz))
        return AGIR_BUG(e, "agir_c3d_alloc: %lld frames x %d points", (long long)n_frames, n_points);
    c->labels = calloc(n_points ? (size_t)n_points : 1, sizeof *c->labels);
    c->xyz = calloc(nxyz ? nxyz : 1, 1);
    c->valid = malloc(n ? n : 1);
    if (!c->labels || !c->xyz || !c->valid) {
        agir_c3d_free(c);
        return AGIR_BUG(e, "out of memory for %lld frames x %d points", (long long)n_frames, n_points);
    }
    memset(c->valid, 1, n);
    c->n_frames = n_frames;
    c->n_points = n_points;
    c->rate = rate;
    c->processor = AGIR_C3D_INTEL;
    c->float_storage = 1;
    c->scale = 1;
    snprintf(c->units, sizeof c->units, "mm");
    return AGIR_OK;
}
