// Carving one allocation into consecutive, aligned ranges: a layout function runs once over an arena
// with no base to count the bytes, then again over the allocated block to hand out the pointers, so
// a struct of many tensors costs one allocation and its layout is written once.
#ifndef AGIR_CORE_ARENA_H
#define AGIR_CORE_ARENA_H

#include <stddef.h>

typedef struct agir_arena {
    char *base;      // NULL: only count
    size_t used;     // bytes handed out so far
    size_t align;    // every range starts at a multiple of this (a power of two; 0 means 1)
    int overflow;    // set when a size overflowed; pointers are then NULL
} agir_arena;

// The next count · size bytes, aligned; NULL while counting or after an overflow.
void *agir_arena_take(agir_arena *a, size_t count, size_t size);

#endif
