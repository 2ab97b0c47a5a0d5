// Human-readable summary of an opened GGUF file (for `agir gguf-info` and `agir inspect`).
#include <inttypes.h>
#include <string.h>

#include "checkpoints/gguf.h"

enum {
    STR_SHOWN = 72,  // characters of a string value shown before "..."
    ARR_SHOWN = 4,   // array elements shown
};

// A string with control and non-ASCII bytes escaped, so every entry stays on one line.
static void put_str(FILE *out, const char *p, size_t n) {
    fputc('"', out);
    for (size_t i = 0; i < n && i < STR_SHOWN; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch == '\n') fputs("\\n", out);
        else if (ch == '"' || ch == '\\') fprintf(out, "\\%c", ch);
        else if (ch < 0x20 || ch >= 0x7f) fprintf(out, "\\x%02x", ch);
        else fputc(ch, out);
    }
    fputs(n > STR_SHOWN ? "\"..." : "\"", out);
}

// One scalar at p (checked by the reader); returns the bytes it takes.
static size_t put_scalar(FILE *out, agir_gguf_vtype t, const unsigned char *p) {
    union {
        uint8_t u8;
        int8_t i8;
        uint16_t u16;
        int16_t i16;
        uint32_t u32;
        int32_t i32;
        uint64_t u64;
        int64_t i64;
        float f32;
        double f64;
    } v;
    switch (t) {
    case AGIR_GGUF_U8: fprintf(out, "%u", p[0]); return 1;
    case AGIR_GGUF_I8: memcpy(&v.i8, p, 1); fprintf(out, "%d", v.i8); return 1;
    case AGIR_GGUF_BOOL: fputs(p[0] ? "true" : "false", out); return 1;
    case AGIR_GGUF_U16: memcpy(&v.u16, p, 2); fprintf(out, "%u", v.u16); return 2;
    case AGIR_GGUF_I16: memcpy(&v.i16, p, 2); fprintf(out, "%d", v.i16); return 2;
    case AGIR_GGUF_U32: memcpy(&v.u32, p, 4); fprintf(out, "%" PRIu32, v.u32); return 4;
    case AGIR_GGUF_I32: memcpy(&v.i32, p, 4); fprintf(out, "%" PRId32, v.i32); return 4;
    case AGIR_GGUF_F32: memcpy(&v.f32, p, 4); fprintf(out, "%.9g", v.f32); return 4;
    case AGIR_GGUF_U64: memcpy(&v.u64, p, 8); fprintf(out, "%" PRIu64, v.u64); return 8;
    case AGIR_GGUF_I64: memcpy(&v.i64, p, 8); fprintf(out, "%" PRId64, v.i64); return 8;
    case AGIR_GGUF_F64: memcpy(&v.f64, p, 8); fprintf(out, "%.17g", v.f64); return 8;
    case AGIR_GGUF_STRING: {
        uint64_t n;
        memcpy(&n, p, 8);
        put_str(out, (const char *)p + 8, (size_t)n);
        return 8 + (size_t)n;
    }
    default: return 0;  // arrays never nest (refused by the reader)
    }
}

static void put_kv(FILE *out, const agir_gguf_kv *kv) {
    fprintf(out, "  %-44s ", kv->key);
    if (kv->type != AGIR_GGUF_ARRAY) {
        fprintf(out, "%-8s ", agir_gguf_vtype_name(kv->type));
        put_scalar(out, kv->type, kv->val);
        fputc('\n', out);
        return;
    }
    fprintf(out, "%s[%" PRIu64 "] [", agir_gguf_vtype_name(kv->elem), kv->n);
    const unsigned char *p = kv->val;
    for (uint64_t i = 0; i < kv->n && i < ARR_SHOWN; i++) {
        if (i) fputs(", ", out);
        p += put_scalar(out, kv->elem, p);
    }
    fputs(kv->n > ARR_SHOWN ? ", ...]\n" : "]\n", out);
}

void agir_gguf_print_summary(const agir_gguf *g, FILE *out) {
    fprintf(out, "%s: GGUF v%u, %zu bytes, %" PRId64 " keys, %" PRId64 " tensors, alignment %u, data at %zu\n",
            g->path, g->version, g->size, g->n_kv, g->n_tensors, g->alignment, g->data_offset);
    fprintf(out, "metadata:\n");
    for (int64_t i = 0; i < g->n_kv; i++) put_kv(out, &g->kv[i]);
    fprintf(out, "tensors (shape outermost first):\n");
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const agir_gguf_tensor *t = &g->tensors[i];
        char shape[128] = "(";
        size_t len = 1;
        for (int k = 0; k < t->view.ndim; k++)
            len += (size_t)snprintf(shape + len, sizeof shape - len, "%s%" PRId64, k ? ", " : "", t->view.shape[k]);
        snprintf(shape + len, sizeof shape - len, ")");
        fprintf(out, "  %-32s %-5s %-16s %10zu bytes at %" PRIu64 "\n", t->view.name, agir_dtype_name(t->view.dtype),
                shape, t->view.nbytes, t->offset);
    }
}
