/* selsa — arenas: one allocation each, bump-allocated, reset as a whole.
 *
 * The library uses three kinds (see docs/ARCHITECTURE.md, "Memory"):
 *   persistent  parameters, gradients, optimiser state; allocated once
 *   activations per-step/per-frame tensors; selsa_arena_reset() at the start of each step
 *   scratch     im2col columns, sort buffers; ops take a mark and rewind before returning
 * Sizing: run the same allocation sequence once on a *measuring* arena (selsa_arena_init_measure:
 * allocations succeed with a NULL pointer and only the high-water mark is recorded), then
 * selsa_arena_init() with that size. An arena never grows: running out is SELSA_ERR_OUT_OF_MEMORY
 * with the requested and available byte counts in the message. */
#ifndef SELSA_ARENA_H
#define SELSA_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "selsa/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { SELSA_ARENA_ALIGN = 64 }; /* every allocation is 64-byte aligned (AVX-512/cache line) */

typedef struct selsa_arena {
    uint8_t *base;     /* NULL for a measuring arena */
    size_t capacity;   /* bytes */
    size_t used;       /* bytes handed out since the last reset */
    size_t peak;       /* high-water mark of `used` over the arena's life */
    int measuring;     /* 1: allocations only count */
    char name[32];     /* for error messages, e.g. "scratch" */
} selsa_arena;

selsa_status selsa_arena_init(selsa_arena *a, const char *name, size_t capacity);
void selsa_arena_init_measure(selsa_arena *a, const char *name);
void selsa_arena_free(selsa_arena *a);

/* `bytes` rounded up to the alignment. In measuring mode *out is NULL. Zero bytes is allowed. */
selsa_status selsa_arena_alloc(selsa_arena *a, size_t bytes, void **out);
/* Allocate an (n, c, h, w) float tensor (data NULL in measuring mode). */
selsa_status selsa_arena_tensor(selsa_arena *a, selsa_tensor *t, int64_t n, int64_t c, int64_t h,
                                int64_t w);

static inline size_t selsa_arena_mark(const selsa_arena *a) { return a->used; }
static inline void selsa_arena_rewind(selsa_arena *a, size_t mark) { a->used = mark; }
static inline void selsa_arena_reset(selsa_arena *a) { a->used = 0; }

#ifdef __cplusplus
}
#endif
#endif
