// Shared by the HDF5 store harnesses (fuzz_gait_h5.c, fuzz_tokens.c): the harness body, writing
// helpers for the file image a harness builds, and the libhdf5 leak suppression.
//
// libhdf5 is not hardened against crafted bytes (docs/architecture.md, "Robustness"), so the main
// mode fuzzes OUR checks: the input is a compact description of a store (a "plan") that the
// harness builds with the HDF5 API in memory (core driver, no disk) and hands to the reader as a
// file image.
// Structured mode (first byte < 0xF0): decode the plan, build the image, read it. Byte mode
// (first byte >= 0xF0): the rest is the file image itself, so libhdf5 parses mutated bytes, but
// only after the checks of datasets/h5verify.c. Oracles, both modes: the reader returns AGIR_OK
// or AGIR_EINPUT with one non-empty line naming the file, and an accepted store satisfies every
// documented rule (the harness checks them without the reader's code); a plan without faults
// must be accepted and read back as written.
//
// Each harness is its own program that includes this header once, so the definitions below
// (static helpers and the sanitizer hook) exist once per program.
#ifndef AGIR_FUZZ_H5_H
#define AGIR_FUZZ_H5_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/h5io.h"
#include "fuzz_util.h"

// What differs between harnesses, through untyped pointers to the harness's own plan and store
// structs; FUZZ_H5_MAIN (end of file) fills it from typed functions.
typedef struct fuzz_h5_harness {
    size_t plan_size, store_size;
    // Fills the plan from the input; returns its fault flags (0: a valid description).
    uint32_t (*decode)(fuzz_src *s, void *plan);
    // Writes the plan into the empty file w; faults may read more input.
    int (*build)(agir_h5w *w, const void *plan, fuzz_src *s, agir_err *e);
    // The reader under test, and how to free what it returns.
    int (*read_image)(void *store, const void *buf, size_t len, const char *name, agir_err *e);
    void (*clear)(void *store);
    // Oracles: abort() on a violation.
    void (*check_accepted)(const void *store);
    void (*check_round_trip)(const void *plan, const void *store);
} fuzz_h5_harness;

// n strings, fixed-length (the longest one's width, at least 1), contiguous.
static inline int fuzz_h5_fixed_strings(agir_h5w *w, const char *path, int64_t n, const char *const *v, agir_err *e) {
    size_t width = 1;
    for (int64_t i = 0; i < n; i++)
        if (strlen(v[i]) > width) width = strlen(v[i]);
    char *buf = calloc((size_t)n * width + 1, 1);
    if (!buf) return AGIR_BUG(e, "fixed strings: out of memory");
    for (int64_t i = 0; i < n; i++) memcpy(buf + (size_t)i * width, v[i], strlen(v[i]));
    hsize_t hn = (hsize_t)n;
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate_simple(1, &hn, NULL), d = H5I_INVALID_HID;
    H5Tset_size(t, width);
    d = H5Dcreate2(w->file, path, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = d < 0 || (n && H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) ? AGIR_BUG(e, "fixed strings") : 0;
    agir_h5_close_id(d), agir_h5_close_id(sp), agir_h5_close_id(t);
    free(buf);
    return rc;
}

// Fixed-length strings when `fixed` (valid too), else the writer's variable-length ones.
static inline int fuzz_h5_strings(agir_h5w *w, int fixed, const char *path, int64_t n, const char *const *v,
                                  agir_err *e) {
    return fixed ? fuzz_h5_fixed_strings(w, path, n, v, e) : agir_h5w_strings(w, path, n, v, e);
}

// Link faults: picks one of objects[0..n_obj) (always one input byte) and, when it exists and a
// fault is asked for, deletes it and puts an external link (ext) or a soft link to
// /sequences/length (soft) in its place, or nothing (missing).
static inline void fuzz_h5_spoil_link(agir_h5w *w, const char *const *objects, size_t n_obj, fuzz_src *s, int ext,
                               int soft, int missing) {
    const char *obj = objects[fuzz_u8(s) % n_obj];
    if (!(ext || soft || missing) || H5Lexists(w->file, obj, H5P_DEFAULT) <= 0) return;
    H5Ldelete(w->file, obj, H5P_DEFAULT);
    if (ext)
        H5Lcreate_external("other.h5", obj, w->file, obj, H5P_DEFAULT, H5P_DEFAULT);
    else if (soft)
        H5Lcreate_soft("/sequences/length", w->file, obj, H5P_DEFAULT, H5P_DEFAULT);
}

static inline int fuzz_h5_build_image(const fuzz_h5_harness *h, const void *plan, fuzz_src *s, void **img, size_t *len,
                               agir_err *e) {
    agir_h5w w;
    int rc = agir_h5w_create_mem(&w, "fuzz.h5", e);
    if (!rc) rc = h->build(&w, plan, s, e);
    if (!rc) rc = agir_h5w_image(&w, img, len, e);
    int rc2 = agir_h5w_close(&w, e);
    return rc ? rc : rc2;
}

// Reads an image and applies the oracles; plan is NULL in byte mode.
static inline void fuzz_h5_read(const fuzz_h5_harness *h, const void *img, size_t len, const void *plan,
                                uint32_t faults) {
    void *store = malloc(h->store_size);
    if (!store) abort();
    agir_err e = {0};
    int rc = h->read_image(store, img, len, "fuzz.h5", &e);
    fuzz_check_error(rc, &e, "fuzz.h5");
    if (rc == AGIR_OK) h->check_accepted(store);
    if (plan && !faults) {
        if (rc != AGIR_OK) {
            fprintf(stderr, "valid description refused: %s\n", e.msg);
            abort();
        }
        h->check_round_trip(plan, store);
    }
    h->clear(store);
    free(store);
}

// The whole harness body: LLVMFuzzerTestOneInput returns this.
static inline int fuzz_h5_run(const fuzz_h5_harness *h, const uint8_t *data, size_t size) {
    if (size && data[0] >= 0xF0) {
        fuzz_h5_read(h, data + 1, size - 1, NULL, 0);
        return 0;
    }
    fuzz_src s = {data, size};
    void *plan = malloc(h->plan_size);
    if (!plan) abort();
    uint32_t faults = h->decode(&s, plan);
    void *img = NULL;
    size_t len = 0;
    agir_err e = {0};
    if (fuzz_h5_build_image(h, plan, &s, &img, &len, &e)) {
        fprintf(stderr, "harness could not build its file: %s\n", e.msg);
        abort();
    }
    fuzz_h5_read(h, img, len, plan, faults);
    free(img);
    free(plan);
    return 0;
}

// libhdf5 1.10.8 leaks a decoded message when an object header's layout message is corrupt
// (a calloc under H5O_msg_read_oh, reached from H5Oopen; tests/fuzz/crashes/gait_h5/leak-*).
// That is the library's, not ours. Its frames carry no frame pointers, so a leak report stops at
// the first libhdf5 frame and only the module can be matched; leaks of memory we own (strings
// read through our allocator) stay covered by the unit tests under the sanitizers. The
// sanitizer runtime reads this hook at start-up.
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libhdf5\n"; }

// Defines a harness's LLVMFuzzerTestOneInput: plan_t and store_t are its plan and store types;
// decode_fn (uint32_t (fuzz_src *, plan_t *), returns the fault flags) and build_fn (int
// (agir_h5w *, const plan_t *, fuzz_src *, agir_err *)) describe and write the plan; read_fn and
// free_fn are the store's image reader and free function; accepted_fn (const store_t *) and
// round_trip_fn (const plan_t *, const store_t *) are its oracles.
#define FUZZ_H5_MAIN(plan_t, decode_fn, build_fn, store_t, read_fn, free_fn, accepted_fn, round_trip_fn)               \
    static uint32_t fuzz_h5_decode(fuzz_src *s, void *p) { return decode_fn(s, p); }                                   \
    static int fuzz_h5_build(agir_h5w *w, const void *p, fuzz_src *s, agir_err *e) {                                   \
        return build_fn(w, p, s, e);                                                                                   \
    }                                                                                                                  \
    static int fuzz_h5_read_image(void *st, const void *buf, size_t len, const char *name, agir_err *e) {              \
        return read_fn(st, buf, len, name, e);                                                                         \
    }                                                                                                                  \
    static void fuzz_h5_clear(void *st) { free_fn(st); }                                                               \
    static void fuzz_h5_accepted(const void *st) { accepted_fn(st); }                                                  \
    static void fuzz_h5_round_trip(const void *p, const void *st) { round_trip_fn(p, st); }                            \
    static const fuzz_h5_harness fuzz_h5_harness_ = {                                                                  \
        .plan_size = sizeof(plan_t),                                                                                   \
        .store_size = sizeof(store_t),                                                                                 \
        .decode = fuzz_h5_decode,                                                                                      \
        .build = fuzz_h5_build,                                                                                        \
        .read_image = fuzz_h5_read_image,                                                                              \
        .clear = fuzz_h5_clear,                                                                                        \
        .check_accepted = fuzz_h5_accepted,                                                                            \
        .check_round_trip = fuzz_h5_round_trip,                                                                        \
    };                                                                                                                 \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {                                                     \
        return fuzz_h5_run(&fuzz_h5_harness_, data, size);                                                             \
    }

#endif
