// Carving one allocation into aligned ranges (see arena.h).
#include "core/arena.h"

#include "core/error.h"

void *agir_arena_take(agir_arena *a, size_t count, size_t size) {
    size_t mask = a->align ? a->align - 1 : 0, n, end, start = (a->used + mask) & ~mask;
    if (start < a->used || agir_mul_ok(count, size, &n) || agir_add_ok(start, n, &end)) {
        a->overflow = 1;
        return NULL;
    }
    a->used = end;
    return a->base && !a->overflow ? a->base + start : NULL;
}
