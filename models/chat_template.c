// Chat templates by name: the published Jinja sources (SmolLM2-135M-Instruct's ChatML with its
// default system prompt, Meta-Llama-3-8B-Instruct's, Llama-2-7b-chat-hf's tokenizer_config.json)
// and a C renderer per template that writes the same text and records the response spans.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/chat_template.h"

#define CHATML_SYSTEM "You are a helpful AI assistant named SmolLM, trained by Hugging Face"

enum { T_CHATML, T_LLAMA3, T_LLAMA2, T_PLAIN };

static const agir_chat_template templates[] = {
    [T_CHATML] = {"chatml",
                  "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
                  "{{ '<|im_start|>system\n" CHATML_SYSTEM "<|im_end|>\n' }}"
                  "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
                  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
                  "", "", "<|im_end|>"},
    [T_LLAMA3] = {"llama-3",
                  "{% set loop_messages = messages %}{% for message in loop_messages %}"
                  "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
                  "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
                  "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
                  "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
                  "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"},
    [T_LLAMA2] = {"llama-2",
                  "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
                  "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
                  "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
                  "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
                  "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
                  "{% if loop.index0 == 0 and system_message != false %}"
                  "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
                  "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
                  "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
                  "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}",
                  "<s>", "</s>", "</s>"},
    // AGIR's own: "role: content", the assistant's turn closed by eos.
    [T_PLAIN] = {"plain",
                 "{% for message in messages %}{{ message['role'] + ': ' + message['content'] }}"
                 "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}{{ '\n' }}{% endfor %}"
                 "{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}",
                 "", "<|endoftext|>", "<|endoftext|>"},
};
enum { N_TEMPLATES = sizeof templates / sizeof *templates };

const agir_chat_template *agir_chat_template_find(const char *name) {
    for (int i = 0; i < N_TEMPLATES; i++)
        if (!strcmp(templates[i].name, name)) return &templates[i];
    return NULL;
}

const char *agir_chat_template_names(void) { return "chatml, llama-3, llama-2, plain"; }

const agir_chat_template *agir_chat_template_by_jinja(const char *src) {
    for (int i = 0; i < N_TEMPLATES; i++)
        if (!strcmp(templates[i].jinja, src)) return &templates[i];
    return NULL;
}

static int has(const agir_tok *t, const char *s) { return agir_tok_find(t, s, strlen(s)) >= 0; }

const agir_chat_template *agir_chat_template_for(const agir_tok *t) {
    if (has(t, "<|im_start|>") && has(t, "<|im_end|>")) return &templates[T_CHATML];
    if (has(t, "<|start_header_id|>") && has(t, "<|eot_id|>")) return &templates[T_LLAMA3];
    if (agir_tok_kind(t) == AGIR_TOK_SPM_BPE && has(t, "<s>") && has(t, "</s>")) return &templates[T_LLAMA2];
    return &templates[T_PLAIN];
}

int agir_chat_template_pick(const char *name, const agir_tok *t, const char *model_jinja,
                            const agir_chat_template **out, agir_err *e) {
    *out = NULL;
    if (!name[0] || !strcmp(name, "auto")) {
        *out = model_jinja ? agir_chat_template_by_jinja(model_jinja) : NULL;
        if (!*out) *out = agir_chat_template_for(t);
        return AGIR_OK;
    }
    *out = agir_chat_template_find(name);
    if (!*out)
        return AGIR_BAD(e, "chat template '%.40s' is unknown (hint: auto, %s)", name, agir_chat_template_names());
    return AGIR_OK;
}

typedef struct out_buf {
    agir_chat_text *c;
    size_t cap, span_cap;
    agir_err *e;
} out_buf;

static int put_n(out_buf *o, const char *s, size_t n) {
    agir_chat_text *c = o->c;
    size_t need;
    if (agir_add_ok(c->len, n + 1, &need)) return AGIR_BAD(o->e, "chat: conversation too long");
    if (need > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < need) cap *= 2;
        char *p = realloc(c->text, cap);
        if (!p) return AGIR_BUG(o->e, "out of memory");
        c->text = p;
        o->cap = cap;
    }
    memcpy(c->text + c->len, s, n);
    c->len += n;
    c->text[c->len] = '\0';
    return AGIR_OK;
}

static int put(out_buf *o, const char *s) { return put_n(o, s, strlen(s)); }

static int span(out_buf *o, size_t start) {
    agir_chat_text *c = o->c;
    if (c->n_span == o->span_cap) {
        size_t cap = o->span_cap ? o->span_cap * 2 : 8;
        size_t *p = realloc(c->span, cap * 2 * sizeof *p);
        if (!p) return AGIR_BUG(o->e, "out of memory");
        c->span = p;
        o->span_cap = cap;
    }
    c->span[2 * c->n_span] = start;
    c->span[2 * c->n_span + 1] = c->len;
    c->n_span++;
    return AGIR_OK;
}

// Python's str.strip() on ASCII whitespace (Jinja's trim filter and .strip()).
static int put_stripped(out_buf *o, const char *s) {
    const char *ws = " \t\n\v\f\r\x1c\x1d\x1e\x1f";
    size_t n = strlen(s), a = 0;
    while (a < n && strchr(ws, s[a])) a++;
    while (n > a && strchr(ws, s[n - 1])) n--;
    return put_n(o, s + a, n - a);
}

static int is(const char *role, const char *r) { return !strcmp(role, r); }

static int chatml(out_buf *o, const agir_chat_msg *m, size_t n) {
    if (n && !is(m[0].role, "system")) AGIR_TRY(put(o, "<|im_start|>system\n" CHATML_SYSTEM "<|im_end|>\n"));
    for (size_t i = 0; i < n; i++) {
        AGIR_TRY(put(o, "<|im_start|>"));
        AGIR_TRY(put(o, m[i].role));
        AGIR_TRY(put(o, "\n"));
        size_t start = o->c->len;
        AGIR_TRY(put(o, m[i].content));
        AGIR_TRY(put(o, "<|im_end|>"));
        if (is(m[i].role, "assistant")) AGIR_TRY(span(o, start));
        AGIR_TRY(put(o, "\n"));
    }
    return AGIR_OK;
}

static int llama3(out_buf *o, const agir_chat_template *tp, const agir_chat_msg *m, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (i == 0) AGIR_TRY(put(o, tp->bos));
        AGIR_TRY(put(o, "<|start_header_id|>"));
        AGIR_TRY(put(o, m[i].role));
        AGIR_TRY(put(o, "<|end_header_id|>\n\n"));
        size_t start = o->c->len;
        AGIR_TRY(put_stripped(o, m[i].content));
        AGIR_TRY(put(o, tp->eot));
        if (is(m[i].role, "assistant")) AGIR_TRY(span(o, start));
    }
    return AGIR_OK;
}

static int llama2(out_buf *o, const agir_chat_template *tp, const agir_chat_msg *m, size_t n) {
    const char *system = NULL;
    if (n && is(m[0].role, "system")) {
        system = m[0].content;
        m++;
        n--;
    }
    for (size_t i = 0; i < n; i++) {
        if (is(m[i].role, "user") != (i % 2 == 0))
            return AGIR_BAD(o->e, "chat: message %zu: roles must alternate user/assistant/user/... (llama-2 template)",
                            i + (system != NULL));
        if (is(m[i].role, "user")) {
            AGIR_TRY(put(o, tp->bos));
            AGIR_TRY(put(o, "[INST] "));
            if (i == 0 && system) {  // the system prompt joins the first user turn; strip() sees both
                size_t a = o->c->len;
                AGIR_TRY(put(o, "<<SYS>>\n"));
                AGIR_TRY(put(o, system));
                AGIR_TRY(put(o, "\n<</SYS>>\n\n"));
                AGIR_TRY(put(o, m[i].content));
                char *joined = strdup(o->c->text + a);
                if (!joined) return AGIR_BUG(o->e, "out of memory");
                o->c->len = a;
                int rc = put_stripped(o, joined);
                free(joined);
                AGIR_TRY(rc);
            } else {
                AGIR_TRY(put_stripped(o, m[i].content));
            }
            AGIR_TRY(put(o, " [/INST]"));
        } else if (is(m[i].role, "assistant")) {
            size_t start = o->c->len;
            AGIR_TRY(put(o, " "));
            AGIR_TRY(put_stripped(o, m[i].content));
            AGIR_TRY(put(o, " "));
            AGIR_TRY(put(o, tp->eos));
            AGIR_TRY(span(o, start));
        }
    }
    return AGIR_OK;
}

static int plain(out_buf *o, const agir_chat_template *tp, const agir_chat_msg *m, size_t n) {
    for (size_t i = 0; i < n; i++) {
        AGIR_TRY(put(o, m[i].role));
        AGIR_TRY(put(o, ": "));
        size_t start = o->c->len;
        AGIR_TRY(put(o, m[i].content));
        if (is(m[i].role, "assistant")) {
            AGIR_TRY(put(o, tp->eos));
            AGIR_TRY(span(o, start));
        }
        AGIR_TRY(put(o, "\n"));
    }
    return AGIR_OK;
}

void agir_chat_text_free(agir_chat_text *c) {
    free(c->text);
    free(c->span);
    *c = (agir_chat_text){0};
}

int agir_chat_render(const agir_chat_template *tp, const agir_chat_msg *msgs, size_t n, int add_generation_prompt,
                     agir_chat_text *out, agir_err *e) {
    *out = (agir_chat_text){0};
    out_buf o = {out, 0, 0, e};
    int rc = put(&o, "");
    int kind = (int)(tp - templates);
    if (kind < 0 || kind >= N_TEMPLATES) rc = AGIR_BUG(e, "chat template not from agir_chat_template_find");
    for (size_t i = 0; i < n && !rc; i++)
        if (!msgs[i].role || !msgs[i].content) rc = AGIR_BUG(e, "chat: message %zu has no role or content", i);
    if (!rc) {
        rc = kind == T_CHATML ? chatml(&o, msgs, n)
             : kind == T_LLAMA3 ? llama3(&o, tp, msgs, n)
             : kind == T_LLAMA2 ? llama2(&o, tp, msgs, n)
                                : plain(&o, tp, msgs, n);
    }
    if (!rc && add_generation_prompt) {
        rc = kind == T_CHATML ? put(&o, "<|im_start|>assistant\n")
             : kind == T_LLAMA3 ? put(&o, "<|start_header_id|>assistant<|end_header_id|>\n\n")
             : kind == T_PLAIN  ? put(&o, "assistant: ")
                                : AGIR_OK;
    }
    if (rc) agir_chat_text_free(out);
    return rc;
}

void agir_chat_mask(const agir_chat_text *c, const agir_ids *ids, uint8_t *mask) {
    size_t s = 0;
    for (size_t i = 0; i < ids->n; i++) {
        while (s < c->n_span && c->span[2 * s + 1] <= ids->off[i]) s++;
        mask[i] = s < c->n_span && ids->off[i] >= c->span[2 * s];
    }
}
