// Chat templates: one definition per name serves training (rendered text + which bytes are the
// response), generation (the prompt and the end-of-turn token) and every export (the Jinja source
// for HF tokenizer_config.json "chat_template" and GGUF tokenizer.chat_template).
//
// The C renderer and the Jinja source describe the same text; tests/unit/test_chat_template.c
// checks the renderer against jinja2's rendering of the Jinja source.
#ifndef AGIR_CHAT_TEMPLATE_H
#define AGIR_CHAT_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "models/tokenizer.h"

typedef struct agir_chat_template {
    const char *name;   // "chatml", "llama-3", "llama-2", "plain"
    const char *jinja;  // HF/GGUF chat_template source
    const char *bos;    // bos_token the template writes ("" when none)
    const char *eos;    // eos_token the template writes ("" when none)
    const char *eot;    // end-of-turn token: ends every assistant turn; generation stops on it
} agir_chat_template;

// The template called name, or NULL. names: "chatml, llama-3, llama-2, plain" for messages.
const agir_chat_template *agir_chat_template_find(const char *name);
const char *agir_chat_template_names(void);
// The template a tokenizer's special tokens call for: <|im_start|> -> chatml, <|start_header_id|>
// -> llama-3, SentencePiece with <s> -> llama-2, otherwise plain.
const agir_chat_template *agir_chat_template_for(const agir_tok *t);
// The template whose Jinja source equals src exactly (a GGUF's tokenizer.chat_template), or NULL.
const agir_chat_template *agir_chat_template_by_jinja(const char *src);

// The template a configuration names: "auto" (or "") follows the model, i.e. the template whose
// Jinja source equals model_jinja (a GGUF's tokenizer.chat_template; NULL when none) or else
// agir_chat_template_for(t); other names must be one of agir_chat_template_names().
int agir_chat_template_pick(const char *name, const agir_tok *t, const char *model_jinja,
                            const agir_chat_template **out, agir_err *e);

typedef struct agir_chat_msg {
    const char *role;     // "system", "user", "assistant"
    const char *content;  // UTF-8
} agir_chat_msg;

// Rendered conversation. Response spans cover what the model must learn to write: each
// assistant turn's content and its end-of-turn token; everything else is prompt.
typedef struct agir_chat_text {
    char *text;  // NUL-terminated
    size_t len;
    size_t *span;  // (n_span, 2) byte ranges [start, end) of responses, increasing
    size_t n_span;
} agir_chat_text;

// add_generation_prompt: end with the header of an assistant turn (generation).
int agir_chat_render(const agir_chat_template *tp, const agir_chat_msg *msgs, size_t n, int add_generation_prompt,
                     agir_chat_text *out, agir_err *e);
void agir_chat_text_free(agir_chat_text *c);

// Loss mask of encoded text: mask[i] = 1 when token i starts inside a response span (ids must be
// the encoding of c->text, whose offsets say where each token starts).
void agir_chat_mask(const agir_chat_text *c, const agir_ids *ids, uint8_t *mask);

#endif
