/* Public wrappers of the elementwise / pooling / loss / optimiser group (ops_elem.h).
 *
 * Each wrapper validates shapes, pointers, aliasing and hyperparameters once for every backend
 * (messages name the op and the argument), then dispatches to ctx->backend->elem. */
#include <math.h>

#include "backend/backend.h"
#include "backend/elem_ops.h"
#include "selsa/ops_elem.h"

/* backend_cpu.c refers to the CPU table through a WEAK extern, and a weak reference does not
 * pull an object out of a static archive: without this strong reference a program linked
 * against libselsa.a would see a NULL table ("op ... is not implemented on backend cpu"). */
extern const struct selsa_elem_ops selsa_cpu_elem_ops;
__attribute__((used)) static const struct selsa_elem_ops *const elem_cpu_table_anchor =
    &selsa_cpu_elem_ops;

/* ---- helpers ---------------------------------------------------------------------------- */

static selsa_status check_any(const selsa_tensor *t, const char *what) {
    return selsa_tensor_check(t, what, -1, -1, -1, -1);
}

static selsa_status check_same(const selsa_tensor *t, const char *what, const selsa_tensor *ref) {
    return selsa_tensor_check(t, what, ref->n, ref->c, ref->h, ref->w);
}

/* A gradient output must not share memory with an input of the same call. */
static selsa_status check_no_alias(const selsa_tensor *g, const char *gname, const selsa_tensor *x,
                                   const char *xname) {
    if (g && x && g->data && g->data == x->data && selsa_tensor_numel(g) > 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s must not alias %s", gname, xname);
    return SELSA_OK;
}

static selsa_status check_act(selsa_activation act, const char *op) {
    if (act != SELSA_ACT_NONE && act != SELSA_ACT_RELU)
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: unknown activation %d", op, (int)act);
    return SELSA_OK;
}

/* ---- ReLU / add / accumulate -------------------------------------------------------------- */

selsa_status selsa_relu_forward(selsa_ctx *ctx, selsa_tensor *out, const selsa_tensor *in) {
    SELSA_TRY(check_any(in, "relu_forward in"));
    SELSA_TRY(check_same(out, "relu_forward out", in));
    selsa_status (*f)(selsa_ctx *, selsa_tensor *, const selsa_tensor *);
    SELSA_BACKEND_FN(ctx, elem, relu_forward, f);
    return f(ctx, out, in);
}

selsa_status selsa_relu_backward(selsa_ctx *ctx, selsa_tensor *din, const selsa_tensor *dout,
                                 const selsa_tensor *out) {
    SELSA_TRY(check_any(out, "relu_backward out"));
    SELSA_TRY(check_same(dout, "relu_backward dout", out));
    SELSA_TRY(check_same(din, "relu_backward din", out));
    SELSA_TRY(check_no_alias(din, "relu_backward din", dout, "dout"));
    SELSA_TRY(check_no_alias(din, "relu_backward din", out, "out"));
    selsa_status (*f)(selsa_ctx *, selsa_tensor *, const selsa_tensor *, const selsa_tensor *);
    SELSA_BACKEND_FN(ctx, elem, relu_backward, f);
    return f(ctx, din, dout, out);
}

selsa_status selsa_add_forward(selsa_ctx *ctx, selsa_tensor *out, const selsa_tensor *a,
                               const selsa_tensor *b, selsa_activation act) {
    SELSA_TRY(check_any(a, "add_forward a"));
    SELSA_TRY(check_same(b, "add_forward b", a));
    SELSA_TRY(check_same(out, "add_forward out", a));
    SELSA_TRY(check_act(act, "add_forward"));
    selsa_status (*f)(selsa_ctx *, selsa_tensor *, const selsa_tensor *, const selsa_tensor *,
                      selsa_activation);
    SELSA_BACKEND_FN(ctx, elem, add_forward, f);
    return f(ctx, out, a, b, act);
}

selsa_status selsa_accumulate(selsa_ctx *ctx, selsa_tensor *dst, const selsa_tensor *src,
                              float alpha) {
    SELSA_TRY(check_any(src, "accumulate src"));
    SELSA_TRY(check_same(dst, "accumulate dst", src));
    SELSA_TRY(check_no_alias(dst, "accumulate dst", src, "src"));
    if (!isfinite(alpha))
        return selsa_error(SELSA_ERR_INVALID_ARG, "accumulate: alpha is not finite (%g)",
                           (double)alpha);
    selsa_status (*f)(selsa_ctx *, selsa_tensor *, const selsa_tensor *, float);
    SELSA_BACKEND_FN(ctx, elem, accumulate, f);
    return f(ctx, dst, src, alpha);
}

selsa_status selsa_add_backward(selsa_ctx *ctx, selsa_tensor *da, selsa_tensor *db,
                                const selsa_tensor *dout, const selsa_tensor *out) {
    SELSA_TRY(check_any(dout, "add_backward dout"));
    if (out) SELSA_TRY(check_same(out, "add_backward out", dout));
    if (da) {
        SELSA_TRY(check_same(da, "add_backward da", dout));
        SELSA_TRY(check_no_alias(da, "add_backward da", dout, "dout"));
        SELSA_TRY(check_no_alias(da, "add_backward da", out, "out"));
        SELSA_TRY(check_no_alias(da, "add_backward da", db, "db"));
    }
    if (db) {
        SELSA_TRY(check_same(db, "add_backward db", dout));
        SELSA_TRY(check_no_alias(db, "add_backward db", dout, "dout"));
        SELSA_TRY(check_no_alias(db, "add_backward db", out, "out"));
    }
    selsa_status (*f)(selsa_ctx *, selsa_tensor *, selsa_tensor *, const selsa_tensor *,
                      const selsa_tensor *);
    SELSA_BACKEND_FN(ctx, elem, add_backward, f);
    return f(ctx, da, db, dout, out);
}

/* ---- per-channel affine (frozen BN) ------------------------------------------------------- */

selsa_status selsa_affine_channel_forward(selsa_ctx *ctx, selsa_tensor *out,
                                          const selsa_tensor *in, const float *scale,
                                          const float *shift, selsa_activation act) {
    SELSA_TRY(check_any(in, "affine_channel_forward in"));
    SELSA_TRY(check_same(out, "affine_channel_forward out", in));
    SELSA_TRY(check_act(act, "affine_channel_forward"));
    if (in->c > 0 && (!scale || !shift))
        return selsa_error(SELSA_ERR_INVALID_ARG, "affine_channel_forward: scale or shift is NULL");
    selsa_status (*f)(selsa_ctx *, selsa_tensor *, const selsa_tensor *, const float *,
                      const float *, selsa_activation);
    SELSA_BACKEND_FN(ctx, elem, affine_channel_forward, f);
    return f(ctx, out, in, scale, shift, act);
}

selsa_status selsa_affine_channel_backward(selsa_ctx *ctx, selsa_tensor *din,
                                           const selsa_tensor *dout, const selsa_tensor *out,
                                           const float *scale) {
    SELSA_TRY(check_any(dout, "affine_channel_backward dout"));
    SELSA_TRY(check_same(din, "affine_channel_backward din", dout));
    if (out) SELSA_TRY(check_same(out, "affine_channel_backward out", dout));
    SELSA_TRY(check_no_alias(din, "affine_channel_backward din", dout, "dout"));
    SELSA_TRY(check_no_alias(din, "affine_channel_backward din", out, "out"));
    if (dout->c > 0 && !scale)
        return selsa_error(SELSA_ERR_INVALID_ARG, "affine_channel_backward: scale is NULL");
    selsa_status (*f)(selsa_ctx *, selsa_tensor *, const selsa_tensor *, const selsa_tensor *,
                      const float *);
    SELSA_BACKEND_FN(ctx, elem, affine_channel_backward, f);
    return f(ctx, din, dout, out, scale);
}

/* ---- max-pooling ------------------------------------------------------------------------- */

int64_t selsa_pool2d_out_size(int64_t in, int k, int s, int p, selsa_pool_convention convention) {
    if (in < 0 || k < 1 || s < 1 || p < 0 || p >= k) return -1;
    int64_t span = in + 2 * (int64_t)p - k; /* last valid window start, relative to -p */
    if (span < 0) return -1;
    switch (convention) {
    case SELSA_POOL_MXNET_VALID:
    case SELSA_POOL_TORCH_FLOOR:
        if (convention == SELSA_POOL_TORCH_FLOOR && 2 * p > k) return -1;
        return span / s + 1;
    case SELSA_POOL_MXNET_FULL:
        return (span + s - 1) / s + 1;
    case SELSA_POOL_TORCH_CEIL: {
        if (2 * p > k) return -1;
        int64_t out = (span + s - 1) / s + 1;
        /* PyTorch pooling_output_shape: the last window must start inside the input or the
         * left padding, i.e. (out-1)*s < in + p; otherwise it is dropped. */
        if ((out - 1) * s >= in + p) out--;
        return out;
    }
    }
    return -1;
}

static const char *conv_name(selsa_pool_convention c) {
    switch (c) {
    case SELSA_POOL_MXNET_VALID: return "mxnet-valid";
    case SELSA_POOL_MXNET_FULL: return "mxnet-full";
    case SELSA_POOL_TORCH_FLOOR: return "torch-floor";
    case SELSA_POOL_TORCH_CEIL: return "torch-ceil";
    }
    return "?";
}

selsa_status selsa_maxpool2d_out_shape(int64_t H, int64_t W, const selsa_pool2d_params *p,
                                       int64_t *out_h, int64_t *out_w) {
    if (!p || !out_h || !out_w)
        return selsa_error(SELSA_ERR_INVALID_ARG, "maxpool2d: params or output pointer is NULL");
    if ((unsigned)p->convention > (unsigned)SELSA_POOL_TORCH_CEIL)
        return selsa_error(SELSA_ERR_INVALID_ARG, "maxpool2d: unknown convention %d",
                           (int)p->convention);
    if (p->kernel_h < 1 || p->kernel_w < 1)
        return selsa_error(SELSA_ERR_INVALID_ARG, "maxpool2d: kernel %dx%d must be >= 1",
                           p->kernel_h, p->kernel_w);
    if (p->stride_h < 1 || p->stride_w < 1)
        return selsa_error(SELSA_ERR_INVALID_ARG, "maxpool2d: stride %dx%d must be >= 1",
                           p->stride_h, p->stride_w);
    if (p->pad_h < 0 || p->pad_w < 0 || p->pad_h >= p->kernel_h || p->pad_w >= p->kernel_w)
        return selsa_error(SELSA_ERR_INVALID_ARG,
                           "maxpool2d: pad %dx%d must be >= 0 and < kernel %dx%d (a window "
                           "entirely in the padding has no maximum)",
                           p->pad_h, p->pad_w, p->kernel_h, p->kernel_w);
    if ((p->convention == SELSA_POOL_TORCH_FLOOR || p->convention == SELSA_POOL_TORCH_CEIL) &&
        (2 * p->pad_h > p->kernel_h || 2 * p->pad_w > p->kernel_w))
        return selsa_error(SELSA_ERR_INVALID_ARG,
                           "maxpool2d (%s): pad %dx%d must be <= half of kernel %dx%d (PyTorch rule)",
                           conv_name(p->convention), p->pad_h, p->pad_w, p->kernel_h, p->kernel_w);
    if (H + 2 * (int64_t)p->pad_h < p->kernel_h || W + 2 * (int64_t)p->pad_w < p->kernel_w)
        return selsa_error(SELSA_ERR_SHAPE,
                           "maxpool2d: input %lldx%lld plus padding %dx%d is smaller than kernel %dx%d",
                           (long long)H, (long long)W, p->pad_h, p->pad_w, p->kernel_h,
                           p->kernel_w);
    *out_h = selsa_pool2d_out_size(H, p->kernel_h, p->stride_h, p->pad_h, p->convention);
    *out_w = selsa_pool2d_out_size(W, p->kernel_w, p->stride_w, p->pad_w, p->convention);
    if (*out_h < 0 || *out_w < 0)
        return selsa_error(SELSA_ERR_INTERNAL, "maxpool2d: inconsistent output size");
    if (H * W > INT32_MAX)
        return selsa_error(SELSA_ERR_SHAPE, "maxpool2d: plane %lldx%lld too large for int32 argmax",
                           (long long)H, (long long)W);
    return SELSA_OK;
}

selsa_status selsa_maxpool2d_forward(selsa_ctx *ctx, selsa_tensor *out, int32_t *argmax,
                                     const selsa_tensor *in, const selsa_pool2d_params *p) {
    SELSA_TRY(check_any(in, "maxpool2d_forward in"));
    int64_t oh, ow;
    SELSA_TRY(selsa_maxpool2d_out_shape(in->h, in->w, p, &oh, &ow));
    SELSA_TRY(selsa_tensor_check(out, "maxpool2d_forward out", in->n, in->c, oh, ow));
    SELSA_TRY(check_no_alias(out, "maxpool2d_forward out", in, "in"));
    selsa_status (*f)(selsa_ctx *, selsa_tensor *, int32_t *, const selsa_tensor *,
                      const selsa_pool2d_params *);
    SELSA_BACKEND_FN(ctx, elem, maxpool2d_forward, f);
    return f(ctx, out, argmax, in, p);
}

selsa_status selsa_maxpool2d_backward(selsa_ctx *ctx, selsa_tensor *din, const selsa_tensor *dout,
                                      const int32_t *argmax) {
    SELSA_TRY(check_any(din, "maxpool2d_backward din"));
    SELSA_TRY(selsa_tensor_check(dout, "maxpool2d_backward dout", din->n, din->c, -1, -1));
    SELSA_TRY(check_no_alias(din, "maxpool2d_backward din", dout, "dout"));
    int64_t m = selsa_tensor_numel(dout);
    if (m > 0 && !argmax)
        return selsa_error(SELSA_ERR_INVALID_ARG,
                           "maxpool2d_backward: argmax is NULL (pass an argmax buffer to the forward)");
    int64_t plane = din->h * din->w;
    for (int64_t i = 0; i < m; i++)
        if (argmax[i] < -1 || argmax[i] >= plane)
            return selsa_error(SELSA_ERR_INVALID_ARG,
                               "maxpool2d_backward: argmax[%lld] = %d outside the %lldx%lld plane",
                               (long long)i, argmax[i], (long long)din->h, (long long)din->w);
    selsa_status (*f)(selsa_ctx *, selsa_tensor *, const selsa_tensor *, const int32_t *);
    SELSA_BACKEND_FN(ctx, elem, maxpool2d_backward, f);
    return f(ctx, din, dout, argmax);
}

/* ---- softmax / sigmoid -------------------------------------------------------------------- */

selsa_status selsa_softmax_channel_forward(selsa_ctx *ctx, selsa_tensor *out,
                                           const selsa_tensor *in) {
    SELSA_TRY(check_any(in, "softmax_channel_forward in"));
    SELSA_TRY(check_same(out, "softmax_channel_forward out", in));
    selsa_status (*f)(selsa_ctx *, selsa_tensor *, const selsa_tensor *);
    SELSA_BACKEND_FN(ctx, elem, softmax_channel_forward, f);
    return f(ctx, out, in);
}

selsa_status selsa_softmax_channel_backward(selsa_ctx *ctx, selsa_tensor *din,
                                            const selsa_tensor *dout, const selsa_tensor *out) {
    SELSA_TRY(check_any(out, "softmax_channel_backward out"));
    SELSA_TRY(check_same(dout, "softmax_channel_backward dout", out));
    SELSA_TRY(check_same(din, "softmax_channel_backward din", out));
    SELSA_TRY(check_no_alias(din, "softmax_channel_backward din", dout, "dout"));
    SELSA_TRY(check_no_alias(din, "softmax_channel_backward din", out, "out"));
    selsa_status (*f)(selsa_ctx *, selsa_tensor *, const selsa_tensor *, const selsa_tensor *);
    SELSA_BACKEND_FN(ctx, elem, softmax_channel_backward, f);
    return f(ctx, din, dout, out);
}

selsa_status selsa_sigmoid_forward(selsa_ctx *ctx, selsa_tensor *out, const selsa_tensor *in) {
    SELSA_TRY(check_any(in, "sigmoid_forward in"));
    SELSA_TRY(check_same(out, "sigmoid_forward out", in));
    selsa_status (*f)(selsa_ctx *, selsa_tensor *, const selsa_tensor *);
    SELSA_BACKEND_FN(ctx, elem, sigmoid_forward, f);
    return f(ctx, out, in);
}

selsa_status selsa_sigmoid_backward(selsa_ctx *ctx, selsa_tensor *din, const selsa_tensor *dout,
                                    const selsa_tensor *out) {
    SELSA_TRY(check_any(out, "sigmoid_backward out"));
    SELSA_TRY(check_same(dout, "sigmoid_backward dout", out));
    SELSA_TRY(check_same(din, "sigmoid_backward din", out));
    SELSA_TRY(check_no_alias(din, "sigmoid_backward din", dout, "dout"));
    SELSA_TRY(check_no_alias(din, "sigmoid_backward din", out, "out"));
    selsa_status (*f)(selsa_ctx *, selsa_tensor *, const selsa_tensor *, const selsa_tensor *);
    SELSA_BACKEND_FN(ctx, elem, sigmoid_backward, f);
    return f(ctx, din, dout, out);
}

/* ---- softmax cross-entropy ---------------------------------------------------------------- */

static selsa_status check_ce(const char *op, const selsa_tensor *x, const int32_t *labels,
                             const selsa_softmax_ce_params *p) {
    if (!p) return selsa_error(SELSA_ERR_INVALID_ARG, "%s: params is NULL", op);
    if ((unsigned)p->normalization > (unsigned)SELSA_NORM_VALID)
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: unknown normalization %d", op,
                           (int)p->normalization);
    if (!isfinite(p->grad_scale))
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: grad_scale is not finite", op);
    int64_t npos = x->n * x->h * x->w;
    if (npos > 0 && x->c == 0)
        return selsa_error(SELSA_ERR_SHAPE, "%s: logits have 0 classes", op);
    if (npos > 0 && !labels) return selsa_error(SELSA_ERR_INVALID_ARG, "%s: labels is NULL", op);
    for (int64_t i = 0; i < npos; i++) {
        int32_t l = labels[i];
        if (p->use_ignore && l == p->ignore_label) continue;
        if (l < 0 || l >= x->c) {
            int64_t hw = x->h * x->w;
            return selsa_error(SELSA_ERR_INVALID_ARG,
                               "%s: label %d at position %lld (n=%lld, h=%lld, w=%lld) is outside "
                               "[0, %lld) and is not the ignore label%s",
                               op, l, (long long)i, (long long)(i / hw),
                               (long long)(i % hw / x->w), (long long)(i % x->w),
                               (long long)x->c, p->use_ignore ? "" : " (use_ignore is off)");
        }
    }
    return SELSA_OK;
}

selsa_status selsa_softmax_ce_forward(selsa_ctx *ctx, const selsa_tensor *logits,
                                      const int32_t *labels, const selsa_softmax_ce_params *p,
                                      selsa_tensor *prob, float *pos_loss, double *loss) {
    SELSA_TRY(check_any(logits, "softmax_ce_forward logits"));
    if (prob) SELSA_TRY(check_same(prob, "softmax_ce_forward prob", logits));
    if (!loss) return selsa_error(SELSA_ERR_INVALID_ARG, "softmax_ce_forward: loss is NULL");
    SELSA_TRY(check_ce("softmax_ce_forward", logits, labels, p));
    selsa_status (*f)(selsa_ctx *, const selsa_tensor *, const int32_t *,
                      const selsa_softmax_ce_params *, selsa_tensor *, float *, double *);
    SELSA_BACKEND_FN(ctx, elem, softmax_ce_forward, f);
    return f(ctx, logits, labels, p, prob, pos_loss, loss);
}

selsa_status selsa_softmax_ce_backward(selsa_ctx *ctx, selsa_tensor *dlogits,
                                       const selsa_tensor *prob, const int32_t *labels,
                                       const selsa_softmax_ce_params *p) {
    if (!prob)
        return selsa_error(SELSA_ERR_INVALID_ARG,
                           "softmax_ce_backward: prob is NULL (save it in the forward)");
    SELSA_TRY(check_any(prob, "softmax_ce_backward prob"));
    SELSA_TRY(check_same(dlogits, "softmax_ce_backward dlogits", prob));
    SELSA_TRY(check_no_alias(dlogits, "softmax_ce_backward dlogits", prob, "prob"));
    SELSA_TRY(check_ce("softmax_ce_backward", prob, labels, p));
    selsa_status (*f)(selsa_ctx *, selsa_tensor *, const selsa_tensor *, const int32_t *,
                      const selsa_softmax_ce_params *);
    SELSA_BACKEND_FN(ctx, elem, softmax_ce_backward, f);
    return f(ctx, dlogits, prob, labels, p);
}

/* ---- sigmoid BCE --------------------------------------------------------------------------- */

selsa_status selsa_sigmoid_bce_forward(selsa_ctx *ctx, const selsa_tensor *logits,
                                       const selsa_tensor *targets, const selsa_tensor *weights,
                                       double scale, float *elem_loss, double *loss) {
    SELSA_TRY(check_any(logits, "sigmoid_bce_forward logits"));
    SELSA_TRY(check_same(targets, "sigmoid_bce_forward targets", logits));
    if (weights) SELSA_TRY(check_same(weights, "sigmoid_bce_forward weights", logits));
    if (!loss) return selsa_error(SELSA_ERR_INVALID_ARG, "sigmoid_bce_forward: loss is NULL");
    if (!isfinite(scale))
        return selsa_error(SELSA_ERR_INVALID_ARG, "sigmoid_bce_forward: scale is not finite "
                                                  "(avg_factor 0?)");
    selsa_status (*f)(selsa_ctx *, const selsa_tensor *, const selsa_tensor *,
                      const selsa_tensor *, double, float *, double *);
    SELSA_BACKEND_FN(ctx, elem, sigmoid_bce_forward, f);
    return f(ctx, logits, targets, weights, scale, elem_loss, loss);
}

selsa_status selsa_sigmoid_bce_backward(selsa_ctx *ctx, selsa_tensor *dlogits,
                                        const selsa_tensor *logits, const selsa_tensor *targets,
                                        const selsa_tensor *weights, double scale) {
    SELSA_TRY(check_any(logits, "sigmoid_bce_backward logits"));
    SELSA_TRY(check_same(targets, "sigmoid_bce_backward targets", logits));
    if (weights) SELSA_TRY(check_same(weights, "sigmoid_bce_backward weights", logits));
    SELSA_TRY(check_same(dlogits, "sigmoid_bce_backward dlogits", logits));
    SELSA_TRY(check_no_alias(dlogits, "sigmoid_bce_backward dlogits", logits, "logits"));
    SELSA_TRY(check_no_alias(dlogits, "sigmoid_bce_backward dlogits", targets, "targets"));
    SELSA_TRY(check_no_alias(dlogits, "sigmoid_bce_backward dlogits", weights, "weights"));
    if (!isfinite(scale))
        return selsa_error(SELSA_ERR_INVALID_ARG, "sigmoid_bce_backward: scale is not finite");
    selsa_status (*f)(selsa_ctx *, selsa_tensor *, const selsa_tensor *, const selsa_tensor *,
                      const selsa_tensor *, double);
    SELSA_BACKEND_FN(ctx, elem, sigmoid_bce_backward, f);
    return f(ctx, dlogits, logits, targets, weights, scale);
}

/* ---- smooth-L1 ----------------------------------------------------------------------------- */

static selsa_status check_sl1(const char *op, const selsa_smooth_l1_params *p) {
    if (!p) return selsa_error(SELSA_ERR_INVALID_ARG, "%s: params is NULL", op);
    if (!isfinite(p->scale))
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: scale is not finite", op);
    if (p->kind == SELSA_SMOOTH_L1_MXNET) {
        if (!(p->sigma > 0) || !isfinite(p->sigma))
            return selsa_error(SELSA_ERR_INVALID_ARG, "%s: MXNet smooth_l1 sigma must be > 0 (got %g)",
                               op, (double)p->sigma);
    } else if (p->kind == SELSA_SMOOTH_L1_MMDET) {
        if (!(p->beta >= 0) || !isfinite(p->beta))
            return selsa_error(SELSA_ERR_INVALID_ARG, "%s: mmdet smooth_l1 beta must be >= 0 (got %g)",
                               op, (double)p->beta);
    } else {
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: unknown smooth_l1 kind %d", op, (int)p->kind);
    }
    return SELSA_OK;
}

selsa_status selsa_smooth_l1_forward(selsa_ctx *ctx, const selsa_tensor *pred,
                                     const selsa_tensor *target, const selsa_tensor *weights,
                                     const selsa_smooth_l1_params *p, float *elem_loss,
                                     double *loss) {
    SELSA_TRY(check_any(pred, "smooth_l1_forward pred"));
    SELSA_TRY(check_same(target, "smooth_l1_forward target", pred));
    if (weights) SELSA_TRY(check_same(weights, "smooth_l1_forward weights", pred));
    if (!loss) return selsa_error(SELSA_ERR_INVALID_ARG, "smooth_l1_forward: loss is NULL");
    SELSA_TRY(check_sl1("smooth_l1_forward", p));
    selsa_status (*f)(selsa_ctx *, const selsa_tensor *, const selsa_tensor *,
                      const selsa_tensor *, const selsa_smooth_l1_params *, float *, double *);
    SELSA_BACKEND_FN(ctx, elem, smooth_l1_forward, f);
    return f(ctx, pred, target, weights, p, elem_loss, loss);
}

selsa_status selsa_smooth_l1_backward(selsa_ctx *ctx, selsa_tensor *dpred,
                                      const selsa_tensor *pred, const selsa_tensor *target,
                                      const selsa_tensor *weights,
                                      const selsa_smooth_l1_params *p) {
    SELSA_TRY(check_any(pred, "smooth_l1_backward pred"));
    SELSA_TRY(check_same(target, "smooth_l1_backward target", pred));
    if (weights) SELSA_TRY(check_same(weights, "smooth_l1_backward weights", pred));
    SELSA_TRY(check_same(dpred, "smooth_l1_backward dpred", pred));
    SELSA_TRY(check_no_alias(dpred, "smooth_l1_backward dpred", pred, "pred"));
    SELSA_TRY(check_no_alias(dpred, "smooth_l1_backward dpred", target, "target"));
    SELSA_TRY(check_no_alias(dpred, "smooth_l1_backward dpred", weights, "weights"));
    SELSA_TRY(check_sl1("smooth_l1_backward", p));
    selsa_status (*f)(selsa_ctx *, selsa_tensor *, const selsa_tensor *, const selsa_tensor *,
                      const selsa_tensor *, const selsa_smooth_l1_params *);
    SELSA_BACKEND_FN(ctx, elem, smooth_l1_backward, f);
    return f(ctx, dpred, pred, target, weights, p);
}

/* ---- SGD ----------------------------------------------------------------------------------- */

selsa_status selsa_sgd_update(selsa_ctx *ctx, float *param, const float *grad,
                              float *momentum_buf, int64_t n, const selsa_sgd_params *p) {
    if (!p) return selsa_error(SELSA_ERR_INVALID_ARG, "sgd_update: params is NULL");
    if (n < 0) return selsa_error(SELSA_ERR_INVALID_ARG, "sgd_update: n = %lld < 0", (long long)n);
    if (p->kind != SELSA_SGD_MXNET && p->kind != SELSA_SGD_PYTORCH)
        return selsa_error(SELSA_ERR_INVALID_ARG, "sgd_update: unknown kind %d", (int)p->kind);
    if (!(p->lr >= 0) || !isfinite(p->lr))
        return selsa_error(SELSA_ERR_INVALID_ARG, "sgd_update: lr must be finite and >= 0 (got %g)",
                           (double)p->lr);
    if (!(p->momentum >= 0 && p->momentum < 1))
        return selsa_error(SELSA_ERR_INVALID_ARG, "sgd_update: momentum must be in [0, 1) (got %g)",
                           (double)p->momentum);
    if (!(p->weight_decay >= 0) || !isfinite(p->weight_decay))
        return selsa_error(SELSA_ERR_INVALID_ARG,
                           "sgd_update: weight_decay must be finite and >= 0 (got %g)",
                           (double)p->weight_decay);
    if (!isfinite(p->rescale_grad))
        return selsa_error(SELSA_ERR_INVALID_ARG, "sgd_update: rescale_grad is not finite");
    if (n > 0 && (!param || !grad))
        return selsa_error(SELSA_ERR_INVALID_ARG, "sgd_update: param or grad is NULL");
    if (n > 0 && p->momentum != 0 && !momentum_buf)
        return selsa_error(SELSA_ERR_INVALID_ARG,
                           "sgd_update: momentum %g needs a momentum buffer (got NULL)",
                           (double)p->momentum);
    if (n > 0 && ((const float *)param == grad || (momentum_buf && (momentum_buf == param ||
                                                                     momentum_buf == grad))))
        return selsa_error(SELSA_ERR_INVALID_ARG,
                           "sgd_update: param, grad and momentum buffer must be distinct");
    selsa_status (*f)(selsa_ctx *, float *, const float *, float *, int64_t,
                      const selsa_sgd_params *);
    SELSA_BACKEND_FN(ctx, elem, sgd_update, f);
    return f(ctx, param, grad, momentum_buf, n, p);
}

selsa_status selsa_grad_norm_sq(selsa_ctx *ctx, const float *grad, int64_t n, double *out) {
    if (!out) return selsa_error(SELSA_ERR_INVALID_ARG, "grad_norm_sq: out is NULL");
    if (n < 0) return selsa_error(SELSA_ERR_INVALID_ARG, "grad_norm_sq: n = %lld < 0", (long long)n);
    if (n > 0 && !grad) return selsa_error(SELSA_ERR_INVALID_ARG, "grad_norm_sq: grad is NULL");
    selsa_status (*f)(selsa_ctx *, const float *, int64_t, double *);
    SELSA_BACKEND_FN(ctx, elem, grad_norm_sq, f);
    return f(ctx, grad, n, out);
}
