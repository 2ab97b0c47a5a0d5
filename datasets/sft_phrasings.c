// Instruction phrasings of the SFT tasks: the user turns a clinician or researcher would write about
// a gait recording spelled as motion tokens. "{}" marks where the payload goes (the motion, or the
// description for t2m).
//
// Many wordings per task keep the model from tying a task to one fixed sentence: the payload sits
// first, last, in the middle or on its own line, and the requests range from terse imperatives to
// questions and clinical requests. Examples pick a phrasing by index from the seed, so editing a
// bank changes which wording a given example draws (the data stay valid, not byte-identical).
#include "datasets/sft_text.h"

static const char *const M2T[] = {
    "Describe the gait in this motion: {}",
    "{}\nWhat do you observe about the feet and the arms in this walk?",
    "Here is a 3D gait recording encoded as motion tokens: {}. Give an analytic description of the foot and arm "
    "findings.",
    "Please write a clinical description of this walking pattern, covering the feet first and then the arms.\n{}",
    "What are the notable foot and arm features of the gait in {}?",
    "As a movement specialist, summarise the gait captured in {} with separate notes on the feet and the arms.",
    "Motion:\n{}\nDescribe the steps, the foot clearance and the arm swing you see.",
    "I recorded a patient walking. The motion tokens are {}. How would you characterise the gait?",
    "{}\nGive an analytic gait description: first the feet, then the arms.",
    "Analyse the walk below and report what the feet and the arms are doing:\n{}",
    "Could you describe the gait pattern of this subject? Motion: {}",
    "Report the foot findings and the arm findings for the walking sequence {}.",
    "For our gait lab notes, characterise the following walk in terms of step length, cadence, base of support and "
    "arm swing:\n{}",
    "Look at this motion, {}, and tell me how the person walks.",
    "Write a short analytic description, with a Foot part and an Arm part, of the gait encoded in {}.",
    "What does the gait in this recording look like?\n{}",
    "{} -- describe the walking pattern shown here, paying attention to the feet and to the arm swing.",
    "Summarise how the legs and the arms behave during walking in the motion {}.",
    "Given the motion tokens {}, produce an objective description of the gait.",
    "Please examine this gait and describe it as you would in a clinical report: {}",
    "How are the feet and the arms moving in this walk? {}",
    "Translate this walking motion into a textual gait description:\n{}",
    "Describe, without scoring it, the gait of the person in {}.",
    "Observation request: {}\nList what stands out in the steps and in the arm movement.",
};

static const char *const T2M[] = {
    "Generate a walking motion that matches this description: {}",
    "{}\nProduce the corresponding gait as motion tokens.",
    "Write the motion tokens for a walk described as follows:\n{}",
    "Can you synthesise a 3D walking sequence with these characteristics? {}",
    "Here is a gait description: {}. Turn it into a motion.",
    "Create motion tokens for a person whose gait is described as: {}",
    "Simulate the walk of a patient with the following findings:\n{}",
    "Description:\n{}\nGenerate the matching walking motion.",
    "Show me, as motion tokens, how someone walks when their gait is: {}",
    "Please produce a gait recording in motion tokens consistent with this clinical note: {}",
    "{} -- output a walking motion that fits this description.",
    "What would the motion tokens look like for a walk described as \"{}\"?",
    "Animate a walking person whose gait fits the description {}, and give the result as motion tokens.",
    "Convert this gait description into a motion: {}",
    "Given the findings below, generate the walking sequence.\n{}",
    "I need a synthetic gait example. Target description: {}",
    "Produce a motion token sequence of a walk with these foot and arm features: {}",
    "Render this description as a walking motion:\n{}",
    "How would a person walk if their gait were described like this? Answer with motion tokens. {}",
    "Generate the gait of a subject matching the report {} as a sequence of motion tokens.",
    "From the gait description that follows, produce the motion.\n{}",
    "{}\nWalk like this: give me the motion tokens.",
    "Model a walking trial for the clinical description below and reply with motion tokens only:\n{}",
    "Please turn the following text into a walking motion: {}",
};

static const char *const RATIONALE[] = {
    "Assess the gait impairment in this motion step by step and finish with the MDS-UPDRS gait score: {}",
    "{}\nReason through the feet, the arms and the overall picture, then give the MDS-UPDRS gait score (0-4) on a "
    "last line \"Score: N\".",
    "How impaired is the gait in {}? Explain your reasoning about the feet, the arms and the walk as a whole, and end "
    "with \"Score: N\" (0-4).",
    "As a movement disorders clinician, rate the gait shown in the motion below. Go through the foot findings, the arm "
    "findings and an overall impression, then state the MDS-UPDRS gait item score as \"Score: N\".\n{}",
    "Motion:\n{}\nEvaluate this gait for parkinsonian features, explaining each step, and close with the line "
    "\"Score: N\" where N is 0 to 4.",
    "Please score the gait in {} on the MDS-UPDRS gait item (0-4), showing your reasoning about the feet, the arms "
    "and the overall gait first.",
    "Give a reasoned gait assessment of this recording: {}. Cover the feet, the arms and the overall gait, and finish "
    "with \"Score: N\".",
    "What MDS-UPDRS gait score would you give to {}? Think it through (feet, then arms, then overall) before the final "
    "line \"Score: N\".",
    "{} -- analyse this walk step by step and conclude with the MDS-UPDRS 3.10 gait score as \"Score: N\".",
    "Rate the severity of gait impairment in the following motion. Explain what you see in the feet and the arms, "
    "give an overall judgement, and put the score (0-4) alone on the last line as \"Score: N\".\n{}",
    "Walk me through your assessment of this gait, {}, and end with the MDS-UPDRS gait rating in the form "
    "\"Score: N\".",
    "Examine the gait below as you would during an MDS-UPDRS exam: reason about the feet, the arms and the whole "
    "walk, then score it 0-4 on a final line \"Score: N\".\n{}",
    "Here is a patient's walk: {}. Justify an MDS-UPDRS gait score step by step and write it last as \"Score: N\".",
    "Explain, step by step, how impaired this gait is and which MDS-UPDRS gait score (0-4) it deserves, ending with "
    "\"Score: N\". Motion: {}",
    "Is the gait in {} normal or impaired? Reason about the feet, the arms and the overall gait, and finish with "
    "\"Score: N\".",
    "Assess:\n{}\nDescribe the foot and arm findings, summarise the overall gait, and give the MDS-UPDRS gait item "
    "score as the final line \"Score: N\".",
    "Provide a step-by-step rationale for the MDS-UPDRS gait score of the motion {}, ending with \"Score: N\".",
    "Score this gait from 0 (normal) to 4 (cannot walk) on the MDS-UPDRS gait item, reasoning first about the feet, "
    "then the arms, then the overall gait, and write the result last as \"Score: N\": {}",
    "I would like your clinical reasoning on this walking trial: {}. Conclude with the gait score on its own line, "
    "\"Score: N\".",
    "{}\nWhat gait impairment do you see? Think aloud about the steps and the arm swing, give an overall impression, "
    "and end with \"Score: N\" (0-4).",
    "Grade the gait in the recording below on the MDS-UPDRS scale. Before the grade, explain your observations of the "
    "feet, the arms and the gait as a whole. Last line: \"Score: N\".\n{}",
    "Using the motion {} as the exam, reason through the MDS-UPDRS gait item and give the final rating as "
    "\"Score: N\".",
    "Review this gait for signs of Parkinson's disease, {}, and give an explained MDS-UPDRS gait score (0-4) ending "
    "in \"Score: N\".",
    "Evaluate the walk encoded in {} step by step: feet, arms, overall. Then state \"Score: N\" with N from 0 to 4.",
};

static const char *const SCORE[] = {
    "What is the MDS-UPDRS gait score of this motion? {}\nAnswer only with \"Score: N\".",
    "{}\nRate this gait on the MDS-UPDRS gait item (0-4). Reply with \"Score: N\" and nothing else.",
    "Give the MDS-UPDRS gait score (0-4) for {} as \"Score: N\", without explanation.",
    "Score the gait in the following motion from 0 to 4. Respond only with \"Score: N\".\n{}",
    "Motion:\n{}\nMDS-UPDRS gait item score? Answer in the form \"Score: N\" with no explanation.",
    "Without any reasoning, what MDS-UPDRS 3.10 gait score does {} deserve? Reply \"Score: N\".",
    "Just the score, please: rate the gait in {} on the MDS-UPDRS gait item, as \"Score: N\".",
    "{} -- give only the MDS-UPDRS gait rating, formatted \"Score: N\".",
    "Assign an MDS-UPDRS gait score between 0 and 4 to this walk and output only \"Score: N\": {}",
    "As an expert rater, score the gait of this patient (MDS-UPDRS gait item, 0-4). No explanation; answer "
    "\"Score: N\".\n{}",
    "How severe is the gait impairment in {} on the MDS-UPDRS gait item? Answer with \"Score: N\" only.",
    "Rate the gait:\n{}\nOutput format: \"Score: N\" (N from 0 to 4), no other text.",
    "Quick rating needed. Which gait score (MDS-UPDRS, 0-4) fits the motion {}? Reply as \"Score: N\".",
    "Provide the MDS-UPDRS gait item score for this recording as \"Score: N\", with no commentary: {}",
    "Give a single MDS-UPDRS gait score for the walk {} in the form \"Score: N\" and do not explain it.",
    "Here is a gait recording: {}. What is its MDS-UPDRS gait score? Only write \"Score: N\".",
    "Classify the gait severity of {} on the 0-4 MDS-UPDRS gait scale. Reply with exactly one line, \"Score: N\".",
    "Score only (MDS-UPDRS gait, 0-4), answered as \"Score: N\":\n{}",
    "On the MDS-UPDRS gait item, where 0 is normal and 4 means the patient cannot walk, what score does this motion "
    "get? {}\nReply \"Score: N\" only.",
    "Output the MDS-UPDRS gait score of the following walking motion as \"Score: N\", with no explanation.\n{}",
    "{}\nWhat gait score would you record for this patient? Answer with \"Score: N\" only, no reasoning.",
    "Rate this walking trial, {}, on the MDS-UPDRS gait item and reply with nothing but \"Score: N\".",
    "Please give the gait item score (MDS-UPDRS part III, 0-4) of the motion {} as a single line \"Score: N\".",
    "Determine the MDS-UPDRS gait score for this motion and answer only \"Score: N\":\n{}",
};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

const char *const *agir_sft_phrasings(agir_sft_task t, int *n) {
    const char *const *bank = NULL;
    int count = 0;
    switch (t) {
    case AGIR_SFT_M2T: bank = M2T, count = COUNT(M2T); break;
    case AGIR_SFT_T2M: bank = T2M, count = COUNT(T2M); break;
    case AGIR_SFT_RATIONALE: bank = RATIONALE, count = COUNT(RATIONALE); break;
    case AGIR_SFT_SCORE: bank = SCORE, count = COUNT(SCORE); break;
    default: break;
    }
    if (n) *n = count;
    return bank;
}
