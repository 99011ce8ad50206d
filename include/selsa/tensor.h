/* selsa — the tensor: a view of contiguous float32 NCHW memory owned by an arena.
 *
 * A tensor never owns its memory; arenas do (see arena.h). Shapes travel with the data so
 * every op checks them. Conventions used throughout the library:
 *   feature maps      (N, C, H, W)     N = frames (or images) in a batch
 *   matrices          (N, C, 1, 1)     e.g. FC activations: N rows (RoIs) × C features
 *   RoIs / boxes      (R, 5, 1, 1)     [batch_index, x1, y1, x2, y2]
 * Integer side arrays (labels, argmax indices, keep lists) are plain int32_t pointers whose
 * length is implied by the tensor they belong to. */
#ifndef SELSA_TENSOR_H
#define SELSA_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "selsa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum selsa_device { SELSA_DEVICE_CPU = 0, SELSA_DEVICE_CUDA = 1 } selsa_device;

typedef struct selsa_tensor {
    float *data;           /* n*c*h*w floats, row-major NCHW; host or device pointer */
    int64_t n, c, h, w;    /* all >= 0; a (N, C) matrix has h = w = 1 */
    selsa_device device;
} selsa_tensor;

/* A tensor view over existing memory (CPU). */
static inline selsa_tensor selsa_tensor_view(float *data, int64_t n, int64_t c, int64_t h,
                                             int64_t w) {
    selsa_tensor t = {data, n, c, h, w, SELSA_DEVICE_CPU};
    return t;
}

static inline int64_t selsa_tensor_numel(const selsa_tensor *t) { return t->n * t->c * t->h * t->w; }

static inline bool selsa_tensor_same_shape(const selsa_tensor *a, const selsa_tensor *b) {
    return a->n == b->n && a->c == b->c && a->h == b->h && a->w == b->w;
}

/* Fails with SELSA_ERR_SHAPE naming `what` unless t is (n, c, h, w); a negative expected
 * dimension is a wildcard. Also fails on a NULL tensor or a NULL data pointer with numel > 0. */
selsa_status selsa_tensor_check(const selsa_tensor *t, const char *what, int64_t n, int64_t c,
                                int64_t h, int64_t w);

/* "(2, 3, 4, 5)" into buf; returns buf. */
const char *selsa_tensor_shape_str(const selsa_tensor *t, char *buf, size_t cap);

/* Fill helpers (CPU). */
void selsa_tensor_fill(selsa_tensor *t, float value);

/* SELSA_ERR_NUMERIC naming `what` if any element is NaN or Inf. */
selsa_status selsa_tensor_check_finite(const selsa_tensor *t, const char *what);

#ifdef __cplusplus
}
#endif
#endif
