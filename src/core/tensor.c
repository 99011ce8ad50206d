#include "selsa/tensor.h"

#include <math.h>
#include <stdio.h>

const char *selsa_tensor_shape_str(const selsa_tensor *t, char *buf, size_t cap) {
    snprintf(buf, cap, "(%lld, %lld, %lld, %lld)", (long long)t->n, (long long)t->c,
             (long long)t->h, (long long)t->w);
    return buf;
}

selsa_status selsa_tensor_check(const selsa_tensor *t, const char *what, int64_t n, int64_t c,
                                int64_t h, int64_t w) {
    if (!t) return selsa_error(SELSA_ERR_INVALID_ARG, "%s: tensor is NULL", what);
    if (t->n < 0 || t->c < 0 || t->h < 0 || t->w < 0)
        return selsa_error(SELSA_ERR_SHAPE, "%s: negative dimension", what);
    if ((n >= 0 && t->n != n) || (c >= 0 && t->c != c) || (h >= 0 && t->h != h) ||
        (w >= 0 && t->w != w)) {
        char got[96];
        return selsa_error(SELSA_ERR_SHAPE, "%s: shape %s, expected (%lld, %lld, %lld, %lld) (-1 = any)",
                           what, selsa_tensor_shape_str(t, got, sizeof got), (long long)n,
                           (long long)c, (long long)h, (long long)w);
    }
    if (!t->data && selsa_tensor_numel(t) > 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: data pointer is NULL", what);
    return SELSA_OK;
}

void selsa_tensor_fill(selsa_tensor *t, float value) {
    int64_t n = selsa_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) t->data[i] = value;
}

selsa_status selsa_tensor_check_finite(const selsa_tensor *t, const char *what) {
    int64_t n = selsa_tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(t->data[i]))
            return selsa_error(SELSA_ERR_NUMERIC, "%s: non-finite value %g at element %lld", what,
                               (double)t->data[i], (long long)i);
    return SELSA_OK;
}
