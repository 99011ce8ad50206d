/* Private helpers shared by the weight-file readers (weights.c, params.c, pth.c, pickle.c). */
#ifndef SELSA_IO_WEIGHTS_INTERNAL_H
#define SELSA_IO_WEIGHTS_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "selsa/weights.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "selsa weight readers assume a little-endian host"
#endif

/* Unaligned little-endian loads (files have no alignment guarantees). */
static inline uint16_t wi_u16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint32_t wi_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t wi_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* Add a tensor taking ownership of `data` (malloc'd, numel floats; freed on error too).
 * `name` has `name_len` bytes (no NUL needed). replace: an existing entry of the same name is
 * overwritten (Python dict semantics) instead of being an error. */
selsa_status selsa_weights_add_owned(selsa_weights *w, const char *name, size_t name_len,
                                     selsa_weight_kind kind, int ndim, const int64_t *dims,
                                     int64_t numel, selsa_dtype src_dtype, float *data,
                                     bool replace);

/* Convert n contiguous elements of type t at src (any alignment) to float32. */
void selsa_weights_convert(selsa_dtype t, const uint8_t *src, int64_t n, float *dst);
/* One element. */
float selsa_weights_elem(selsa_dtype t, const uint8_t *p);

/* Read-only mapping of a whole file (empty files give size 0, buf non-NULL). */
typedef struct wi_map {
    const uint8_t *buf;
    size_t size;
    void *addr; /* mmap address (NULL for empty) */
} wi_map;
selsa_status wi_map_file(const char *path, wi_map *m);
void wi_unmap(wi_map *m);

/* Shared state_dict upper bound on converted floats: 4 * file bytes + 16 Mi floats, which only
 * stride-0 (broadcast) tensors can exceed; protects against hostile size/stride tuples. */
#define WI_EXTRA_FLOATS ((int64_t)16 << 20)

#endif
