// C3D motion-capture files: a validating reader and a small writer.
//
// Format reference: "The C3D File Format User Guide", Motion Lab Systems (c3d.org). In short: the
// file is a sequence of 512-byte blocks. Block 1 is a header of 16-bit words (parameter-block
// pointer and the 0x50 key, point count, analog words per frame, first/last frame, scale factor,
// data start block, frame rate). The parameter section (usually from block 2) starts with 4 bytes
// whose last one is the processor type (84 Intel, 85 DEC, 86 MIPS) that fixes byte order and float
// format for the whole file, then a chain of group and parameter records. The data section holds,
// per frame, 4 words per point (x, y, z, residual/camera word; a negative residual marks a missing
// sample) followed by the analog samples of that frame. Words are int16 (coordinates times
// POINT:SCALE) when the scale is positive, float32 when it is negative.
//
// The reader prefers the parameter section where writers are known to deviate from the header
// (frame counts saturating at 65535, POINT:FRAMES stored as float, LABELS2... continuations), and
// checks every count and offset against the file length before allocating. Every fault is one
// AGIR_EINPUT line naming the file.
#ifndef AGIR_C3D_H
#define AGIR_C3D_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

enum { AGIR_C3D_INTEL = 84, AGIR_C3D_DEC = 85, AGIR_C3D_MIPS = 86 };

// Files larger than this are refused by agir_c3d_read before being loaded.
#define AGIR_C3D_MAX_BYTES ((size_t)1 << 31)

typedef struct agir_c3d {
    int64_t n_frames;
    int n_points;
    float rate;            // 3D frames per second
    int processor;         // AGIR_C3D_*
    int float_storage;     // 1: float32 words, 0: int16 words times scale
    float scale;           // |POINT:SCALE|
    int analog_per_frame;  // analog words stored after the points of each frame (skipped)
    char units[16];        // POINT:UNITS ("mm" in most files), "" when absent
    char **labels;         // (n_points,) trimmed, non-printable bytes replaced by '?'
    float *xyz;            // (n_frames, n_points, 3) float32, file units
    uint8_t *valid;        // (n_frames, n_points) 1: sample present (residual >= 0, finite)
} agir_c3d;

// Reads a whole file (path appears in messages).
int agir_c3d_read(const char *path, agir_c3d *c, agir_err *e);
// Reads from memory; `name` appears in messages. Never reads outside buf[0, len).
int agir_c3d_read_mem(const void *buf, size_t len, const char *name, agir_c3d *c, agir_err *e);
void agir_c3d_free(agir_c3d *c);

// An empty recording for writers: labels all NULL (the caller strdup()s them), xyz zero, every
// sample valid, units "mm". Freed by agir_c3d_free.
int agir_c3d_alloc(agir_c3d *c, int64_t n_frames, int n_points, float rate, agir_err *e);

// How the writer stores the frame count in POINT:FRAMES.
enum {
    AGIR_C3D_FRAMES_AUTO = 0,  // int16 up to 65535 frames, float beyond
    AGIR_C3D_FRAMES_FLOAT,     // always float
    AGIR_C3D_FRAMES_INT16,     // int16, saturating at 65535 like many writers
    AGIR_C3D_FRAMES_NONE,      // no POINT:FRAMES: only the (saturating) header count
};

typedef struct agir_c3d_write_opts {
    int processor;         // AGIR_C3D_*; 0 means Intel
    int float_storage;     // 1: float32 words; 0: int16 words
    float scale;           // int16 storage: units per step; <= 0 chooses one from the data range
    int labels_per_group;  // labels per LABELS/LABELS2/... parameter, 1..255; 0 means 255
    int frames_param;      // AGIR_C3D_FRAMES_*
    int analog_channels;   // analog channels (0: none)
    int analog_samples;    // samples per channel per 3D frame (>= 1 when channels > 0)
    const float *analog;   // (n_frames, analog_samples, analog_channels) or NULL for zeros
} agir_c3d_write_opts;

// Serialises c (labels, xyz, valid, rate, units; the storage fields of c are ignored in favour of
// opts) into a fresh buffer (*out, caller frees). opts may be NULL (Intel, float).
int agir_c3d_write_mem(const agir_c3d *c, const agir_c3d_write_opts *opts, uint8_t **out, size_t *len,
                       agir_err *e);
// Same, to a file (atomically).
int agir_c3d_write(const agir_c3d *c, const agir_c3d_write_opts *opts, const char *path, agir_err *e);

#endif
