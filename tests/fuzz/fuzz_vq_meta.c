// Fuzz harness for the VQ-VAE checkpoint meta (state.json "extra" of a tokenizer checkpoint):
// whatever JSON comes in, agir_vq_meta_from_json either refuses it with one AGIR_EINPUT line or
// returns a meta the model accepts (window a multiple of 2^down, joint channels inside the
// features) that survives a to_json/from_json round trip unchanged.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "fuzz_util.h"
#include "models/vqvae_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cJSON *j = cJSON_ParseWithLength((const char *)data, size);
    if (!j) return 0;
    agir_vq_meta m, back;
    agir_err e;
    agir_err_clear(&e);
    int rc = agir_vq_meta_from_json(j, "fuzz: extra", &m, &e);
    cJSON_Delete(j);
    fuzz_check_error(rc, &e, "fuzz: extra");
    if (rc) return 0;
    const agir_vqvae_config *c = &m.cfg;
    if (m.window < 1 || m.window % (1 << c->down) || c->joint_c0 < 0 || c->joint_c1 < c->joint_c0 ||
        c->joint_c1 > c->in_dim || !(m.motion.fps > 0))
        abort();
    cJSON *again = agir_vq_meta_to_json(&m);
    if (!again) abort();
    rc = agir_vq_meta_from_json(again, "again", &back, &e);
    cJSON_Delete(again);
    if (rc || memcmp(&m.cfg, &back.cfg, sizeof m.cfg) || m.window != back.window || m.motion.fps != back.motion.fps ||
        m.motion.facing_sigma != back.motion.facing_sigma || m.motion.contact_speed != back.motion.contact_speed ||
        m.motion.contact_height != back.motion.contact_height)
        abort();
    return 0;
}
