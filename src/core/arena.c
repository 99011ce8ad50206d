#include "selsa/arena.h"

#include <stdlib.h>
#include <string.h>

static void set_name(selsa_arena *a, const char *name) {
    strncpy(a->name, name ? name : "arena", sizeof a->name - 1);
    a->name[sizeof a->name - 1] = '\0';
}

selsa_status selsa_arena_init(selsa_arena *a, const char *name, size_t capacity) {
    if (!a) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_arena_init: arena is NULL");
    memset(a, 0, sizeof *a);
    set_name(a, name);
    size_t cap = (capacity + SELSA_ARENA_ALIGN - 1) / SELSA_ARENA_ALIGN * SELSA_ARENA_ALIGN;
    if (cap == 0) cap = SELSA_ARENA_ALIGN;
    a->base = aligned_alloc(SELSA_ARENA_ALIGN, cap);
    if (!a->base)
        return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "arena '%s': cannot allocate %zu bytes",
                           a->name, cap);
    a->capacity = cap;
    return SELSA_OK;
}

void selsa_arena_init_measure(selsa_arena *a, const char *name) {
    memset(a, 0, sizeof *a);
    set_name(a, name);
    a->measuring = 1;
}

void selsa_arena_free(selsa_arena *a) {
    if (!a) return;
    free(a->base);
    memset(a, 0, sizeof *a);
}

selsa_status selsa_arena_alloc(selsa_arena *a, size_t bytes, void **out) {
    if (!a || !out) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_arena_alloc: NULL argument");
    size_t rounded = (bytes + SELSA_ARENA_ALIGN - 1) / SELSA_ARENA_ALIGN * SELSA_ARENA_ALIGN;
    if (rounded < bytes)
        return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "arena '%s': request of %zu bytes overflows",
                           a->name, bytes);
    if (a->measuring) {
        a->used += rounded;
        if (a->used > a->peak) a->peak = a->used;
        *out = NULL;
        return SELSA_OK;
    }
    if (rounded > a->capacity - a->used)
        return selsa_error(SELSA_ERR_OUT_OF_MEMORY,
                           "arena '%s' exhausted: need %zu more bytes, %zu of %zu in use "
                           "(size it with a measuring pass)",
                           a->name, rounded, a->used, a->capacity);
    *out = a->base + a->used;
    a->used += rounded;
    if (a->used > a->peak) a->peak = a->used;
    return SELSA_OK;
}

selsa_status selsa_arena_tensor(selsa_arena *a, selsa_tensor *t, int64_t n, int64_t c, int64_t h,
                                int64_t w) {
    if (!t) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_arena_tensor: tensor is NULL");
    if (n < 0 || c < 0 || h < 0 || w < 0)
        return selsa_error(SELSA_ERR_SHAPE, "arena '%s': negative tensor dimension", a->name);
    void *p = NULL;
    SELSA_TRY(selsa_arena_alloc(a, (size_t)(n * c * h * w) * sizeof(float), &p));
    *t = selsa_tensor_view(p, n, c, h, w);
    return SELSA_OK;
}
