// Chat templates: the C renderer against jinja2's rendering of the published Jinja sources
// (tests/fixtures/tokenizer/chat.expected.json from tools/make_tokenizer_fixtures.py), response
// spans, loss masks from token offsets, and the default template a tokenizer calls for.
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsio.h"
#include "models/chat_template.h"
#include "testutil.h"


static agir_tok *load_tok(const char *name) {
    char rel[256], path[4096];
    snprintf(rel, sizeof rel, "tests/fixtures/tokenizer/%s.json", name);
    agir_test_src(rel, path, sizeof path);
    agir_tok *t = NULL;
    agir_err e = {0};
    assert_int_equal(agir_tok_load_json(&t, path, &e), 0);
    return t;
}

// Each case: same Jinja source, same text as jinja2 (or a refusal where jinja2 raised), and one
// response span per rendered assistant turn, ending with the template's end-of-turn token.
static void matches_jinja2(void **state) {
    (void)state;
    cJSON *j = agir_test_load_json("tests/fixtures/tokenizer/chat.expected.json");
    const cJSON *srcs = cJSON_GetObjectItem(j, "templates"), *c;
    int ncase = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "cases")) {
        const char *name = cJSON_GetObjectItem(c, "template")->valuestring;
        const agir_chat_template *tp = agir_chat_template_find(name);
        assert_non_null(tp);
        assert_string_equal(tp->jinja, cJSON_GetObjectItem(srcs, name)->valuestring);
        assert_ptr_equal(agir_chat_template_by_jinja(tp->jinja), tp);
        agir_chat_msg m[16];
        size_t n = 0, n_assistant = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, cJSON_GetObjectItem(c, "messages")) {
            m[n].role = cJSON_GetArrayItem(x, 0)->valuestring;
            m[n].content = cJSON_GetArrayItem(x, 1)->valuestring;
            n_assistant += !strcmp(m[n].role, "assistant");
            n++;
        }
        const cJSON *want = cJSON_GetObjectItem(c, "text");
        agir_chat_text out;
        agir_err e = {0};
        int rc = agir_chat_render(tp, m, n, cJSON_IsTrue(cJSON_GetObjectItem(c, "add_generation_prompt")), &out, &e);
        if (cJSON_IsNull(want)) {
            assert_int_equal(rc, AGIR_EINPUT);
            assert_null(strchr(e.msg, '\n'));
            continue;
        }
        assert_int_equal(rc, 0);
        if (strcmp(out.text, want->valuestring)) fprintf(stderr, "%s:\n got [%s]\nwant [%s]\n", name, out.text, want->valuestring);
        assert_string_equal(out.text, want->valuestring);
        assert_int_equal(out.n_span, n_assistant);
        for (size_t s = 0; s < out.n_span; s++) {
            size_t a = out.span[2 * s], b = out.span[2 * s + 1], k = strlen(tp->eot);
            assert_true(a < b && b <= out.len && (s == 0 || a >= out.span[2 * s - 1]));
            assert_true(b - a >= k);
            assert_memory_equal(out.text + b - k, tp->eot, k);
        }
        agir_chat_text_free(&out);
        ncase++;
    }
    assert_true(ncase >= 12);
    cJSON_Delete(j);
}

// The masked tokens of an encoded conversation decode to exactly the response spans' text.
static void mask_covers_responses(void **state) {
    (void)state;
    agir_tok *t = load_tok("smollm");
    const agir_chat_template *tp = agir_chat_template_for(t);
    assert_string_equal(tp->name, "chatml");
    agir_chat_msg m[] = {{"system", "Rate the gait."},
                         {"user", "Walk: <som>"},
                         {"assistant", "Foot: shuffling, short steps. Overall: 2."},
                         {"user", "And now?"},
                         {"assistant", " 3\n\n"}};
    agir_chat_text c;
    agir_err e = {0};
    assert_int_equal(agir_chat_render(tp, m, 5, 0, &c, &e), 0);
    agir_ids ids = {0};
    assert_int_equal(agir_tok_encode(t, c.text, c.len, &ids, &e), 0);
    uint8_t *mask = calloc(ids.n, 1);
    agir_chat_mask(&c, &ids, mask);
    int32_t *resp = malloc(ids.n * sizeof *resp);
    size_t nr = 0, nspan = 0;
    for (size_t i = 0; i < ids.n; i++)
        if (mask[i]) resp[nr++] = ids.id[i];
    char want[512] = "";
    for (size_t s = 0; s < c.n_span; s++) strncat(want, c.text + c.span[2 * s], c.span[2 * s + 1] - c.span[2 * s]);
    char *got;
    size_t len;
    assert_int_equal(agir_tok_decode(t, resp, nr, 0, &got, &len, &e), 0);
    assert_string_equal(got, want);
    for (size_t i = 0; i < ids.n; i++) nspan += mask[i] && (i == 0 || !mask[i - 1]);
    assert_int_equal(nspan, 2);  // two assistant turns, two runs of trained tokens
    free(got);
    free(resp);
    free(mask);
    agir_ids_free(&ids);
    agir_chat_text_free(&c);
    agir_tok_free(t);
}

static void defaults_follow_the_model(void **state) {
    (void)state;
    const char *want[][2] = {{"smollm", "chatml"}, {"qwen2", "chatml"}, {"llama3", "llama-3"},
                             {"spm", "llama-2"},   {"gpt2", "plain"}};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        agir_tok *t = load_tok(want[i][0]);
        assert_string_equal(agir_chat_template_for(t)->name, want[i][1]);
        const agir_chat_template *tp = agir_chat_template_for(t);
        // The end-of-turn token is one token of this vocabulary (except plain, which borrows eos).
        if (strcmp(tp->name, "plain")) assert_true(agir_tok_find(t, tp->eot, strlen(tp->eot)) >= 0);
        agir_tok_free(t);
    }
    assert_null(agir_chat_template_find("vicuna"));
    // Configuration: "auto" follows the model (its Jinja source first), names pick, typos are input errors.
    agir_tok *t = load_tok("gpt2");
    const agir_chat_template *tp;
    agir_err e = {0};
    assert_int_equal(agir_chat_template_pick("auto", t, NULL, &tp, &e), 0);
    assert_string_equal(tp->name, "plain");
    assert_int_equal(agir_chat_template_pick("auto", t, agir_chat_template_find("llama-3")->jinja, &tp, &e), 0);
    assert_string_equal(tp->name, "llama-3");
    assert_int_equal(agir_chat_template_pick("chatml", t, NULL, &tp, &e), 0);
    assert_string_equal(tp->name, "chatml");
    assert_int_equal(agir_chat_template_pick("chatlm", t, NULL, &tp, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "chatml"));
    agir_tok_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_jinja2),
        cmocka_unit_test(mask_covers_responses),
        cmocka_unit_test(defaults_follow_the_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
