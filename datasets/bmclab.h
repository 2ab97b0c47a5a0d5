// BMCLab importer: the public Parkinson's walking data set of Shida et al. 2023, "A public data set
// of walking full-body kinematics and kinetics in individuals with Parkinson's disease" (Front.
// Neurosci. 17:992585): 26 patients walking ON and OFF medication, 150 Hz C3D marker files
// SUBxx/...walk....c3d and a metadata sheet with the MDS-UPDRS III walking item per state.
//
// Markers become H36M-17 joints with the mapping of the public benchmark on this data set
// (docs/architecture.md, "Data"): pelvis = mean(L/R ASIS, L/R PSIS); hip = mean(ASIS, PSIS) per
// side; knee = KNEE; foot = ANKLE; thorax = mean(C7, CLAV); spine = mean(STRN, T10); shoulder =
// SHO; elbow = mean(EL, EM); wrist = mean(WL, WM); neck and head = thorax + fixed offsets. Frames
// where a needed marker is missing or all-zero are dropped. docs/importing.md lists the accepted
// marker names, file-name patterns and the axis convention.
#ifndef AGIR_BMCLAB_H
#define AGIR_BMCLAB_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/log.h"
#include "datasets/c3d.h"
#include "datasets/gait.h"

// Marker roles of the mapping.
enum {
    BMC_LASIS, BMC_RASIS, BMC_LPSIS, BMC_RPSIS,
    BMC_LKNEE, BMC_RKNEE, BMC_LANKLE, BMC_RANKLE,
    BMC_C7, BMC_CLAV, BMC_STRN, BMC_T10,
    BMC_LSHO, BMC_RSHO, BMC_LEL, BMC_REL, BMC_LEM, BMC_REM,
    BMC_LWL, BMC_RWL, BMC_LWM, BMC_RWM,
    BMC_NROLES
};

typedef struct agir_bmclab_role {
    const char *name;     // role name used in messages, e.g. "L.ASIS"
    const char *aliases;  // space-separated normalised label names (see agir_bmclab_norm_label)
    int optional;         // may be absent: the joint is then the mean of its other markers
} agir_bmclab_role;

extern const agir_bmclab_role agir_bmclab_roles[BMC_NROLES];

// Label as matched against the aliases: the part after the last ':' (Vicon's "SUBJECT:" prefix),
// letters upper-cased, everything but letters and digits dropped ("SUB01:L.ASIS" -> "LASIS").
void agir_bmclab_norm_label(const char *label, char *out, size_t outsz);

// Marker index of each role in c->labels, -1 for an absent optional role. A missing required
// role, or two labels matching one role, is an error naming `name` and the role.
int agir_bmclab_match(const agir_c3d *c, const char *name, int idx[BMC_NROLES], agir_err *e);

enum { AGIR_UP_AUTO = 0, AGIR_UP_Y = 1, AGIR_UP_Z = 2 };

// Neck and head offsets from the thorax (mm, in AGIR's y-up frame), from the benchmark's mapping.
extern const float agir_bmclab_neck_mm[3], agir_bmclab_head_mm[3];

typedef struct agir_bmclab_trial {
    float *joints;       // (n, 17, 3) float32, metres, y up
    double *t;           // (n,) seconds since the file's first frame
    int64_t n;           // kept frames
    int64_t dropped;     // frames dropped for a missing or all-zero marker
    int up;              // AGIR_UP_Y or AGIR_UP_Z: the lab's vertical axis (found or given)
    int partial_joints;  // bit j set: joint j averaged fewer markers (optional roles absent)
} agir_bmclab_trial;

// Maps one file's markers to joints. Lab axes: y up is kept; z up becomes y up by the rotation
// (x, y, z) -> (x, z, -y). AGIR_UP_AUTO picks the axis along which the thorax sits above the feet.
// POINT:UNITS may be mm (or empty), cm or m.
int agir_bmclab_map(const agir_c3d *c, const char *name, int up, agir_bmclab_trial *t, agir_err *e);
void agir_bmclab_trial_free(agir_bmclab_trial *t);

// Linear interpolation of the kept frames at fps over [t[0], t[n-1]] (gaps left by dropped frames
// are bridged). out: (*n_out, 17, 3) float32, caller frees.
int agir_bmclab_resample(const agir_bmclab_trial *t, double fps, float **out, int64_t *n_out, agir_err *e);

// ---- trial names (bmclab_names.c) ----

typedef struct agir_bmclab_id {
    char id[40];       // "SUB01_off_walk_3", "SUB01_off_walk_12b"
    char subject[16];  // "SUB01"
    int medication;    // AGIR_MED_ON or AGIR_MED_OFF
    int trial;         // 3
    char suffix;       // 'b' or '\0'
} agir_bmclab_id;

// Derives the sequence id from a path below ROOT, e.g. "SUB01/SUB01_OFF_walk_03.c3d". Rules in
// docs/importing.md; names that do not give exactly one subject, state and trial are refused.
int agir_bmclab_trial_id(const char *relpath, agir_bmclab_id *out, agir_err *e);

typedef struct agir_bmclab_file {
    char *path;  // ROOT/...
    agir_bmclab_id id;
} agir_bmclab_file;

// Every *walk*.c3d (case-insensitive) below ROOT/SUBxx*/ folders, sorted by subject, state, trial.
// Two files with one id are refused.
int agir_bmclab_discover(const char *root, agir_bmclab_file **files, int *n, agir_err *e);
void agir_bmclab_files_free(agir_bmclab_file *files, int n);

// ---- metadata sheet (bmclab_meta.c) ----

typedef struct agir_bmclab_subject {
    char id[16];  // "SUB01"
    int on, off;  // UPDRS-III walking item ON / OFF medication, -1 unknown
    int line;
} agir_bmclab_subject;

typedef struct agir_bmclab_meta {
    int n;
    agir_bmclab_subject *s;  // (n,)
} agir_bmclab_meta;

#define AGIR_BMCLAB_META_MAX_BYTES (16u << 20)

// CSV export of the sheet: columns found by header name (an ID column and "ON - UPDRS-III -
// walking", "OFF - UPDRS-III - walking", compared ignoring case, spaces and punctuation); ',' ';'
// or tab separated; quotes, a UTF-8 BOM and CRLF line ends are fine.
int agir_bmclab_meta_parse(const char *text, size_t len, const char *name, agir_bmclab_meta *m, agir_err *e);
int agir_bmclab_meta_read(const char *path, agir_bmclab_meta *m, agir_err *e);
void agir_bmclab_meta_free(agir_bmclab_meta *m);
const agir_bmclab_subject *agir_bmclab_meta_find(const agir_bmclab_meta *m, const char *subject);

// ---- the whole import ----

typedef struct agir_bmclab_opts {
    const char *root, *meta;
    double fps;  // 0: keep the files' rate
    int up;      // AGIR_UP_*
} agir_bmclab_opts;

typedef struct agir_bmclab_summary {
    int files, empty;            // files read; files with no usable frame (skipped)
    int64_t frames, dropped;     // frames kept (before resampling) and dropped
    int up_y, up_z;              // files per detected vertical axis
    int partial;                 // files where some joint averaged fewer markers
    int unscored;                // sequences whose score is unknown in the sheet
} agir_bmclab_summary;

// Reads the sheet, discovers and maps every walk into g (initialised here, H36M-17).
int agir_bmclab_import(const agir_bmclab_opts *o, agir_gait *g, agir_bmclab_summary *sum, const agir_log *log,
                       agir_err *e);

#endif
