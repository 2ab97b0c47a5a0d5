// The real SmolLM2-135M-Instruct GGUF tokenizer against HF `tokenizers` ids recorded from the same
// file (tests/fixtures/tokenizer/smollm2_real.expected.json, made by
// `tools/make_tokenizer_fixtures.py DIR --gguf MODEL.gguf`), and its chat template against ours.
// Skipped (exit 77) when the model file or the recorded ids are absent.
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoints/default_model.h"
#include "checkpoints/gguf.h"
#include "core/fsio.h"
#include "models/chat_template.h"
#include "testutil.h"

static char model[4096], golden[4096];

static void same_ids_as_hf(void **state) {
    (void)state;
    char *text;
    size_t n;
    agir_err e = {0};
    assert_int_equal(agir_read_file(golden, 1 << 26, &text, &n, &e), 0);
    cJSON *exp = cJSON_ParseWithLength(text, n);
    free(text);
    assert_non_null(exp);
    cJSON *corpus;
    char path[4096];
    agir_test_src("tests/fixtures/tokenizer/corpus.json", path, sizeof path);
    assert_int_equal(agir_read_file(path, 1 << 24, &text, &n, &e), 0);
    corpus = cJSON_ParseWithLength(text, n);
    free(text);
    agir_gguf g;
    assert_int_equal(agir_gguf_open(model, &g, &e), 0);
    agir_tok *t;
    int rc = agir_tok_load_gguf(&t, &g, &e);
    if (rc) fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(agir_tok_n_vocab(t), cJSON_GetObjectItem(exp, "n_vocab")->valueint);
    const cJSON *ids = cJSON_GetObjectItem(exp, "ids");
    assert_int_equal(cJSON_GetArraySize(ids), cJSON_GetArraySize(corpus));
    size_t dropped = 0;
    for (int i = 0; i < cJSON_GetArraySize(corpus); i++) {
        const char *s = cJSON_GetArrayItem(corpus, i)->valuestring;
        agir_ids got = {0};
        assert_int_equal(agir_tok_encode(t, s, strlen(s), &got, &e), 0);
        const cJSON *want = cJSON_GetArrayItem(ids, i);
        int ok = (size_t)cJSON_GetArraySize(want) == got.n;
        for (size_t k = 0; ok && k < got.n; k++) ok = got.id[k] == cJSON_GetArrayItem(want, (int)k)->valueint;
        if (!ok) fprintf(stderr, "corpus[%d] '%.60s' differs from HF\n", i, s);
        assert_true(ok);
        dropped += got.dropped;
        agir_ids_free(&got);
    }
    assert_int_equal(dropped, 3);  // SmolLM2 has no symbol for byte 0x04: HF drops it, and so do we
    // The file's chat template is the one our chatml definition renders and exports.
    const cJSON *tmpl = cJSON_GetObjectItem(exp, "chat_template");
    if (cJSON_IsString(tmpl)) {
        const agir_chat_template *tp = agir_chat_template_by_jinja(tmpl->valuestring);
        if (!tp) fprintf(stderr, "GGUF chat template differs from ours:\n%s\n", tmpl->valuestring);
        assert_non_null(tp);
        assert_string_equal(tp->name, "chatml");
    }
    agir_tok_free(t);
    agir_gguf_close(&g);
    cJSON_Delete(corpus);
    cJSON_Delete(exp);
}

int main(void) {
    agir_err e = {0};
    if (agir_default_model_path(model, sizeof model, &e)) agir_test_skip("SmolLM2 GGUF not fetched (tools/fetch_model.sh)");
    agir_test_src("tests/fixtures/tokenizer/smollm2_real.expected.json", golden, sizeof golden);
    if (access(golden, R_OK))
        agir_test_skip("no recorded HF ids for the real model (run tools/make_tokenizer_fixtures.py DIR --gguf MODEL)");
    const struct CMUnitTest tests[] = {cmocka_unit_test(same_ids_as_hf)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
