/* Public wrappers of the RoI group: validate every argument, then dispatch to the backend.
 * The checks here are the only ones: backends assume valid shapes, finite RoIs and batch
 * indices in range. */
#include <math.h>

#include "backend/backend.h"
#include "backend/roi_ops.h"
#include "selsa/ops_roi.h"

/* backend_cpu.c references the CPU op tables weakly, and a weak reference does not pull an
 * object out of libselsa.a: without this strong reference a program that links the static
 * library sees "not implemented on backend cpu". Referencing the table from the wrapper file
 * links the CPU implementation whenever the public API is used. */
extern const struct selsa_roi_ops selsa_cpu_roi_ops;
__attribute__((used)) static const struct selsa_roi_ops *const link_cpu_roi_ops = &selsa_cpu_roi_ops;

/* |coordinate · scale| must stay well inside int range: ROIPooling rounds it to int. */
#define ROI_COORD_LIMIT 1.0e8

/* rois (R, 5, 1, 1) with finite coordinates and batch indices (truncated like (int)) < n_batch;
 * allow_negative: a batch index <= -1 is accepted (MXNet ROIPooling outputs 0 for it). */
static selsa_status check_rois(const char *op, const selsa_tensor *rois, int64_t n_batch,
                               float spatial_scale, bool allow_negative) {
    selsa_status s = selsa_tensor_check(rois, "rois", -1, 5, 1, 1);
    if (s != SELSA_OK) return selsa_error_context(s, "%s", op);
    for (int64_t r = 0; r < rois->n; r++) {
        const float *row = rois->data + r * 5;
        for (int j = 0; j < 5; j++)
            if (!isfinite(row[j]))
                return selsa_error(SELSA_ERR_NUMERIC, "%s: rois[%lld][%d] is not finite", op,
                                   (long long)r, j);
        /* (int)b truncates toward zero, so b in (-1, n_batch) maps to a valid index. */
        if (!(row[0] < (float)n_batch) || (!allow_negative && row[0] <= -1.0f))
            return selsa_error(SELSA_ERR_INVALID_ARG,
                               "%s: rois[%lld] batch index %g outside [0, %lld) of the feature map",
                               op, (long long)r, (double)row[0], (long long)n_batch);
        for (int j = 1; j < 5; j++)
            if (fabs((double)row[j] * spatial_scale) > ROI_COORD_LIMIT)
                return selsa_error(SELSA_ERR_INVALID_ARG,
                                   "%s: rois[%lld][%d] = %g is out of range (|x*scale| > 1e8)", op,
                                   (long long)r, j, (double)row[j]);
    }
    return SELSA_OK;
}

static selsa_status check_scale(const char *op, float spatial_scale) {
    if (!(spatial_scale > 0.0f) || !isfinite(spatial_scale))
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: spatial_scale %g must be finite and > 0",
                           op, (double)spatial_scale);
    return SELSA_OK;
}

#define CHECK_T(op, t, name, n, c, h, w)                                                \
    do {                                                                                \
        selsa_status s_ = selsa_tensor_check((t), (name), (n), (c), (h), (w));          \
        if (s_ != SELSA_OK) return selsa_error_context(s_, "%s", (op));               \
    } while (0)

selsa_status selsa_roi_pool_forward(selsa_ctx *ctx, selsa_tensor *out, int32_t *argmax,
                                    const selsa_tensor *feat, const selsa_tensor *rois,
                                    float spatial_scale) {
    const char *op = "roi_pool_forward";
    CHECK_T(op, feat, "feat", -1, -1, -1, -1);
    CHECK_T(op, rois, "rois", -1, 5, 1, 1);
    CHECK_T(op, out, "out", rois->n, feat->c, -1, -1);
    if (out->h < 1 || out->w < 1)
        return selsa_error(SELSA_ERR_SHAPE, "%s: pooled size %lldx%lld (out h, w) must be >= 1",
                           op, (long long)out->h, (long long)out->w);
    if (!argmax && selsa_tensor_numel(out) > 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: argmax is NULL", op);
    if (feat->h * feat->w > INT32_MAX)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "%s: feature plane too large for int32 argmax", op);
    SELSA_TRY(check_scale(op, spatial_scale));
    SELSA_TRY(check_rois(op, rois, feat->n, spatial_scale, true));
    selsa_status (*f)(selsa_ctx *, selsa_tensor *, int32_t *, const selsa_tensor *,
                      const selsa_tensor *, float);
    SELSA_BACKEND_FN(ctx, roi, roi_pool_forward, f);
    return f(ctx, out, argmax, feat, rois, spatial_scale);
}

selsa_status selsa_roi_pool_backward(selsa_ctx *ctx, selsa_tensor *dfeat, const selsa_tensor *dout,
                                     const int32_t *argmax, const selsa_tensor *rois) {
    const char *op = "roi_pool_backward";
    CHECK_T(op, dfeat, "dfeat", -1, -1, -1, -1);
    CHECK_T(op, rois, "rois", -1, 5, 1, 1);
    CHECK_T(op, dout, "dout", rois->n, dfeat->c, -1, -1);
    if (dout->h < 1 || dout->w < 1)
        return selsa_error(SELSA_ERR_SHAPE, "%s: pooled size %lldx%lld (dout h, w) must be >= 1",
                           op, (long long)dout->h, (long long)dout->w);
    int64_t n = selsa_tensor_numel(dout), plane = dfeat->h * dfeat->w;
    if (!argmax && n > 0) return selsa_error(SELSA_ERR_INVALID_ARG, "%s: argmax is NULL", op);
    for (int64_t i = 0; i < n; i++)
        if (argmax[i] < -1 || argmax[i] >= plane)
            return selsa_error(SELSA_ERR_INVALID_ARG,
                               "%s: argmax[%lld] = %d outside [-1, H*W=%lld) (not from forward "
                               "with this feature size?)",
                               op, (long long)i, argmax[i], (long long)plane);
    SELSA_TRY(check_rois(op, rois, dfeat->n, 1.0f, true));
    selsa_status (*f)(selsa_ctx *, selsa_tensor *, const selsa_tensor *, const int32_t *,
                      const selsa_tensor *);
    SELSA_BACKEND_FN(ctx, roi, roi_pool_backward, f);
    return f(ctx, dfeat, dout, argmax, rois);
}

static selsa_status check_align(const char *op, const selsa_tensor *map, const char *map_name,
                                const selsa_tensor *pooled, const char *pooled_name,
                                const selsa_tensor *rois, const selsa_roi_align_params *p) {
    if (!p) return selsa_error(SELSA_ERR_INVALID_ARG, "%s: params is NULL", op);
    CHECK_T(op, map, map_name, -1, -1, -1, -1);
    CHECK_T(op, rois, "rois", -1, 5, 1, 1);
    if (p->pooled_h < 1 || p->pooled_w < 1)
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: pooled size %dx%d must be >= 1", op,
                           p->pooled_h, p->pooled_w);
    if (p->sampling_ratio < 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: sampling_ratio %d must be >= 0 (0 = adaptive)",
                           op, p->sampling_ratio);
    CHECK_T(op, pooled, pooled_name, rois->n, map->c, p->pooled_h, p->pooled_w);
    SELSA_TRY(check_scale(op, p->spatial_scale));
    if (rois->n > 0 && map->c > 0 && (map->h < 1 || map->w < 1))
        return selsa_error(SELSA_ERR_SHAPE, "%s: %s has an empty %lldx%lld plane", op, map_name,
                           (long long)map->h, (long long)map->w);
    if (map->h * map->w > INT32_MAX)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "%s: feature plane too large", op);
    return check_rois(op, rois, map->n, p->spatial_scale, false);
}

selsa_status selsa_roi_align_forward(selsa_ctx *ctx, selsa_tensor *out, const selsa_tensor *feat,
                                     const selsa_tensor *rois, const selsa_roi_align_params *p) {
    SELSA_TRY(check_align("roi_align_forward", feat, "feat", out, "out", rois, p));
    selsa_status (*f)(selsa_ctx *, selsa_tensor *, const selsa_tensor *, const selsa_tensor *,
                      const selsa_roi_align_params *);
    SELSA_BACKEND_FN(ctx, roi, roi_align_forward, f);
    return f(ctx, out, feat, rois, p);
}

selsa_status selsa_roi_align_backward(selsa_ctx *ctx, selsa_tensor *dfeat,
                                      const selsa_tensor *dout, const selsa_tensor *rois,
                                      const selsa_roi_align_params *p) {
    SELSA_TRY(check_align("roi_align_backward", dfeat, "dfeat", dout, "dout", rois, p));
    selsa_status (*f)(selsa_ctx *, selsa_tensor *, const selsa_tensor *, const selsa_tensor *,
                      const selsa_roi_align_params *);
    SELSA_BACKEND_FN(ctx, roi, roi_align_backward, f);
    return f(ctx, dfeat, dout, rois, p);
}
