// Normative ranges of gait features in healthy older adults, and the bands the text generator
// puts each measured feature in.
//
// The edges are round numbers chosen from the literature below, for comfortable over-ground
// walking of people in their sixties to eighties (the age of the Parkinson's cohorts AGIR scores).
// A "mild" band starts where a value leaves the usual healthy spread; a "marked" band where it is
// well past it. They are the generator's judgement calls, not published cut-offs, except where a
// comment says so; docs/text_generation.md lists them.
#include <math.h>

#include "datasets/gait_text.h"

const agir_norm agir_norms[AGIR_TF_COUNT] = {
    // Bohannon & Williams Andrews 2011 (Physiotherapy 97:182-189, meta-analysis): healthy people
    // in their sixties and seventies walk at roughly 1.1-1.35 m/s on average. Studenski et al. 2011
    // (JAMA 305:50-58) link speeds under about 0.8 m/s with poor survival and above 1.0 m/s with
    // better than expected survival: we call under 1.0 slow and under 0.8 markedly slow.
    [AGIR_TF_SPEED] = {"speed", "m/s", 0.80f, 1.00f, 1.60f, INFINITY, 0.0f, 4.0f},
    // Hollman et al. 2011 (Gait Posture 34:111-118, 294 adults over seventy): cadence about
    // 100-115 steps/min. Parkinsonian hastening raises it, so both directions are bands.
    [AGIR_TF_CADENCE] = {"cadence", "steps/min", 90.0f, 100.0f, 125.0f, 140.0f, 20.0f, 300.0f},
    // Hollman et al. 2011: step length around 0.55-0.65 m in the seventies. Short steps are the
    // hallmark of Parkinsonian gait (Morris et al. 1994, Brain 117:1169-1181).
    [AGIR_TF_STEP_LENGTH] = {"step_length", "m", 0.40f, 0.50f, INFINITY, INFINITY, 0.0f, 2.5f},
    // Hollman et al. 2011: step width (base of support) around 0.08-0.10 m. Narrow placement is
    // common in Parkinson's disease, a wide base suggests compensation for instability.
    [AGIR_TF_STEP_WIDTH] = {"step_width", "m", -INFINITY, 0.05f, 0.16f, 0.22f, 0.0f, 1.0f},
    // Hausdorff 2005 (J NeuroEng Rehabil 2:19, "Gait variability: methods, modeling and meaning"):
    // stride-time CV is about 1-3% in healthy adults and higher in Parkinson's disease and fallers.
    [AGIR_TF_VARIABILITY] = {"step_time_cv", "", -INFINITY, -INFINITY, 0.03f, 0.05f, 0.0f, 2.0f},
    // Yogev et al. 2007 (Exp Brain Res 177:336-346): left-right asymmetry of step timing is larger
    // in Parkinson's disease than in healthy older adults, whose sides differ by a few percent.
    [AGIR_TF_STEP_ASYM] = {"step_time_asym", "", -INFINITY, -INFINITY, 0.05f, 0.10f, 0.0f, 2.0f},
    // Peak lift of the ankle joint during swing (not minimum toe clearance): around 0.1 m in healthy
    // gait (Winter 1992, Phys Ther 72:45-53, foot trajectory); shuffling flattens it.
    [AGIR_TF_CLEARANCE] = {"foot_clearance", "m", 0.04f, 0.07f, INFINITY, INFINITY, 0.0f, 1.0f},
    // Moore et al. 2008 (J Neurosci Methods 167:340-348): freeze index above about 2 marks
    // freezing episodes (their threshold is tuned per subject); continuous walking stays below.
    [AGIR_TF_FREEZING] = {"freezing_index", "", -INFINITY, -INFINITY, 2.0f, 3.0f, 0.0f, 1e4f},
    // Forward wrist excursion relative to the pelvis, mean of both arms. Lewek et al. 2010 (Gait
    // Posture 31:256-260) and Mirelman et al. 2016 (Mov Disord 31:1527-1534) find arm swing
    // amplitude reduced already in early and prodromal Parkinson's disease; healthy older adults
    // swing the wrist over a few tenths of a metre.
    [AGIR_TF_ARM_SWING] = {"arm_swing", "m", 0.12f, 0.20f, INFINITY, INFINITY, 0.0f, 2.0f},
    // |L - R| / max(L, R). Lewek et al. 2010 and Mirelman et al. 2016: asymmetry is the most
    // sensitive arm swing marker of early Parkinson's disease; healthy sides differ by well under
    // a fifth.
    [AGIR_TF_ARM_ASYM] = {"arm_swing_asym", "", -INFINITY, -INFINITY, 0.20f, 0.40f, 0.0f, 1.0f},
    // Pelvis-to-thorax lean from vertical, degrees. Stooped posture is a frequent Parkinsonian
    // deformity (Doherty et al. 2011, Lancet Neurol 10:538-549); camptocormia begins far beyond
    // our marked edge (30-45 degrees), so these bands describe a stoop, not a deformity.
    [AGIR_TF_TRUNK] = {"trunk_flexion", "deg", -INFINITY, -INFINITY, 12.0f, 25.0f, -90.0f, 90.0f},
};

int agir_norm_band(int tf, float value) {
    if (tf < 0 || tf >= AGIR_TF_COUNT || !isfinite(value)) return AGIR_BAND_UNKNOWN;
    const agir_norm *n = &agir_norms[tf];
    if (value < n->vmin || value > n->vmax) return AGIR_BAND_UNKNOWN;
    if (value < n->lo2) return AGIR_BAND_MARKED_LOW;
    if (value < n->lo1) return AGIR_BAND_LOW;
    if (value > n->hi2) return AGIR_BAND_MARKED_HIGH;
    if (value > n->hi1) return AGIR_BAND_HIGH;
    return AGIR_BAND_NORMAL;
}

static int valid(int tf, float v) { return agir_norm_band(tf, v) != AGIR_BAND_UNKNOWN; }

void agir_text_findings(const agir_features *f, agir_finding out[AGIR_TF_COUNT]) {
    const int enough_steps = f->n_steps >= AGIR_TEXT_MIN_STEPS;
    const float raw[AGIR_TF_COUNT] = {
        [AGIR_TF_SPEED] = f->speed,
        [AGIR_TF_CADENCE] = f->cadence,
        [AGIR_TF_STEP_LENGTH] = f->step_length,
        [AGIR_TF_STEP_WIDTH] = f->step_width,
        [AGIR_TF_VARIABILITY] = enough_steps ? f->step_time_cv : NAN,
        [AGIR_TF_STEP_ASYM] = enough_steps ? f->step_time_asym : NAN,
        [AGIR_TF_CLEARANCE] = f->foot_clearance,
        [AGIR_TF_FREEZING] = f->freezing_index,
        [AGIR_TF_ARM_SWING] = NAN,
        [AGIR_TF_ARM_ASYM] = f->arm_swing_asym,
        [AGIR_TF_TRUNK] = f->trunk_flexion,
    };
    for (int i = 0; i < AGIR_TF_COUNT; i++) out[i] = (agir_finding){agir_norm_band(i, raw[i]), AGIR_SIDE_NONE};

    // Both arms are needed for a swing amplitude: one arm alone would hide the asymmetry that
    // matters most in Parkinson's disease.
    const float l = f->arm_swing_l, r = f->arm_swing_r;
    const int arms = valid(AGIR_TF_ARM_SWING, l) && valid(AGIR_TF_ARM_SWING, r);
    if (arms) out[AGIR_TF_ARM_SWING].band = agir_norm_band(AGIR_TF_ARM_SWING, 0.5f * (l + r));
    if (out[AGIR_TF_ARM_ASYM].band == AGIR_BAND_UNKNOWN && arms && fmaxf(l, r) > 0)
        out[AGIR_TF_ARM_ASYM].band = agir_norm_band(AGIR_TF_ARM_ASYM, fabsf(l - r) / fmaxf(l, r));
    const int asym = out[AGIR_TF_ARM_ASYM].band;
    if (arms && l != r && asym != AGIR_BAND_UNKNOWN && asym >= AGIR_BAND_HIGH) {
        int side = l < r ? AGIR_SIDE_LEFT : AGIR_SIDE_RIGHT;
        out[AGIR_TF_ARM_SWING].side = side;
        out[AGIR_TF_ARM_ASYM].side = side;
    }
}
