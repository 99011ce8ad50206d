/* selsa — public wrappers of the dense group (convolution, fully connected): validate every
 * argument once for all backends, then dispatch through ctx->backend->dense. */
#include <limits.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"
#include "backend/cpu/im2col_cpu.h" /* selsa_conv2d_col_bytes_cpu: the CPU tiling policy. This
                                      * strong reference also pulls conv_cpu.o, which defines
                                      * the weakly referenced selsa_cpu_dense_ops, out of
                                      * libselsa.a (ld does not extract archive members for
                                      * weak references). */
#include "backend/dense_ops.h"
#include "selsa/ops_dense.h"

int64_t selsa_conv2d_out_size(int64_t in, int kernel, int stride, int pad, int dilation) {
    if (stride < 1 || kernel < 1 || dilation < 1) return 0;
    int64_t span = in + 2 * (int64_t)pad - (int64_t)dilation * (kernel - 1) - 1;
    if (span < 0) return 0; /* floor division of a negative span: no valid output position */
    return span / stride + 1;
}

/* ---------------------------------------------------------------- common checks */

static bool overlaps(const float *a, int64_t na, const float *b, int64_t nb) {
    if (!a || !b || na <= 0 || nb <= 0) return false;
    uintptr_t a0 = (uintptr_t)a, a1 = a0 + (uintptr_t)na * sizeof(float);
    uintptr_t b0 = (uintptr_t)b, b1 = b0 + (uintptr_t)nb * sizeof(float);
    return a0 < b1 && b0 < a1;
}

static selsa_status check_ctx(selsa_ctx *ctx, const char *op) {
    if (!ctx || !ctx->backend) return selsa_error(SELSA_ERR_INVALID_ARG, "%s: context is NULL or has no backend", op);
    return SELSA_OK;
}

/* A tensor must live on the device the backend computes on. */
static selsa_status check_device(const selsa_ctx *ctx, const selsa_tensor *t, const char *op,
                                 const char *what) {
    selsa_device want = ctx->backend->kind == SELSA_BACKEND_CUDA ? SELSA_DEVICE_CUDA : SELSA_DEVICE_CPU;
    if (t->device != want)
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: %s is on the %s but the backend is %s", op,
                           what, t->device == SELSA_DEVICE_CUDA ? "GPU" : "CPU", ctx->backend->name);
    return SELSA_OK;
}

static selsa_status check_act(selsa_activation act, const char *op) {
    if (act != SELSA_ACT_NONE && act != SELSA_ACT_RELU)
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: unknown activation %d (SELSA_ACT_NONE or SELSA_ACT_RELU)", op, (int)act);
    return SELSA_OK;
}

/* ---------------------------------------------------------------- convolution */

static selsa_status check_params(const selsa_conv2d_params *p, const char *op) {
    if (!p) return selsa_error(SELSA_ERR_INVALID_ARG, "%s: params is NULL", op);
    if (p->stride_h < 1 || p->stride_w < 1)
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: stride (%d, %d) must be >= 1", op, p->stride_h, p->stride_w);
    if (p->pad_h < 0 || p->pad_w < 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: pad (%d, %d) must be >= 0", op, p->pad_h, p->pad_w);
    if (p->dilation_h < 1 || p->dilation_w < 1)
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: dilation (%d, %d) must be >= 1", op, p->dilation_h, p->dilation_w);
    if (p->groups < 1) return selsa_error(SELSA_ERR_INVALID_ARG, "%s: groups %d must be >= 1", op, p->groups);
    return SELSA_OK;
}

/* selsa_tensor_check, or only the shape when the data is not needed (sizing queries). */
static selsa_status check_tensor(const selsa_tensor *t, const char *what, bool need_data) {
    if (need_data) return selsa_tensor_check(t, what, -1, -1, -1, -1);
    if (!t) return selsa_error(SELSA_ERR_INVALID_ARG, "%s: tensor is NULL", what);
    if (t->n < 0 || t->c < 0 || t->h < 0 || t->w < 0)
        return selsa_error(SELSA_ERR_SHAPE, "%s: negative dimension", what);
    return SELSA_OK;
}

/* Checks the input x (N, Cin, H, W) and weight w (Cout, Cin/groups, kh, kw) against p, and
 * computes the output plane. `xname`/`wname` name the tensors in messages. */
static selsa_status check_conv(const selsa_tensor *x, const char *xname, const selsa_tensor *w,
                               const char *wname, const selsa_conv2d_params *p, const char *op,
                               bool need_data, int64_t *ho, int64_t *wo) {
    char what[96];
    snprintf(what, sizeof what, "%s: %s", op, xname);
    SELSA_TRY(check_tensor(x, what, need_data));
    snprintf(what, sizeof what, "%s: %s", op, wname);
    SELSA_TRY(check_tensor(w, what, need_data));
    if (w->n < 1 || w->c < 1 || w->h < 1 || w->w < 1 || w->h > INT_MAX / 2 || w->w > INT_MAX / 2)
        return selsa_error(SELSA_ERR_SHAPE, "%s: %s has shape (%lld, %lld, %lld, %lld); expected "
                           "(Cout, Cin/groups, kh, kw) with every dimension >= 1", op, wname,
                           (long long)w->n, (long long)w->c, (long long)w->h, (long long)w->w);
    if (x->c % p->groups != 0)
        return selsa_error(SELSA_ERR_SHAPE, "%s: groups=%d does not divide the %lld input channels of %s",
                           op, p->groups, (long long)x->c, xname);
    if (w->n % p->groups != 0)
        return selsa_error(SELSA_ERR_SHAPE, "%s: groups=%d does not divide the %lld output channels (%s dim 0)",
                           op, p->groups, (long long)w->n, wname);
    if (w->c * p->groups != x->c)
        return selsa_error(SELSA_ERR_SHAPE, "%s: %s has %lld input channels per group but %s has "
                           "%lld channels / %d groups = %lld", op, wname, (long long)w->c, xname,
                           (long long)x->c, p->groups, (long long)(x->c / p->groups));
    *ho = selsa_conv2d_out_size(x->h, (int)w->h, p->stride_h, p->pad_h, p->dilation_h);
    *wo = selsa_conv2d_out_size(x->w, (int)w->w, p->stride_w, p->pad_w, p->dilation_w);
    if (*ho < 1 || *wo < 1)
        return selsa_error(SELSA_ERR_SHAPE, "%s: the %lldx%lld kernel (dilation %d, %d) does not fit "
                           "in the %lldx%lld input padded by (%d, %d): no output position", op,
                           (long long)w->h, (long long)w->w, p->dilation_h, p->dilation_w,
                           (long long)x->h, (long long)x->w, p->pad_h, p->pad_w);
    return SELSA_OK;
}

size_t selsa_conv2d_scratch_bytes(const selsa_tensor *in, const selsa_tensor *weight,
                                  const selsa_conv2d_params *p) {
    int64_t ho, wo;
    if (!in || !weight || check_params(p, "selsa_conv2d_scratch_bytes") != SELSA_OK ||
        check_conv(in, "in", weight, "weight", p, "selsa_conv2d_scratch_bytes", false, &ho, &wo) != SELSA_OK) {
        selsa_error_clear();
        return 0;
    }
    selsa_conv_geom g = {
        .c = in->c / p->groups, .h = in->h, .w = in->w, .ho = ho, .wo = wo,
        .kh = (int)weight->h, .kw = (int)weight->w, .sh = p->stride_h, .sw = p->stride_w,
        .ph = p->pad_h, .pw = p->pad_w, .dh = p->dilation_h, .dw = p->dilation_w,
    };
    return selsa_conv2d_col_bytes_cpu(&g);
}

selsa_status selsa_conv2d_forward(selsa_ctx *ctx, selsa_tensor *out, const selsa_tensor *in,
                                  const selsa_tensor *weight, const float *bias,
                                  const selsa_conv2d_params *p, selsa_activation act) {
    static const char op[] = "selsa_conv2d_forward";
    int64_t ho, wo;
    SELSA_TRY(check_ctx(ctx, op));
    SELSA_TRY(check_params(p, op));
    SELSA_TRY(check_act(act, op));
    SELSA_TRY(check_conv(in, "in", weight, "weight", p, op, true, &ho, &wo));
    SELSA_TRY(selsa_tensor_check(out, "selsa_conv2d_forward: out", in->n, weight->n, ho, wo));
    SELSA_TRY(check_device(ctx, in, op, "in"));
    SELSA_TRY(check_device(ctx, weight, op, "weight"));
    SELSA_TRY(check_device(ctx, out, op, "out"));
    const int64_t no = selsa_tensor_numel(out);
    if (overlaps(out->data, no, in->data, selsa_tensor_numel(in)) ||
        overlaps(out->data, no, weight->data, selsa_tensor_numel(weight)) ||
        overlaps(out->data, no, bias, bias ? weight->n : 0))
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: out overlaps in, weight or bias (convolution cannot run in place)", op);
    if (in->n == 0) return SELSA_OK;
    selsa_status (*f)(selsa_ctx *, selsa_tensor *, const selsa_tensor *, const selsa_tensor *,
                      const float *, const selsa_conv2d_params *, selsa_activation);
    SELSA_BACKEND_FN(ctx, dense, conv2d_forward, f);
    return f(ctx, out, in, weight, bias, p, act);
}

selsa_status selsa_conv2d_backward_data(selsa_ctx *ctx, selsa_tensor *din, const selsa_tensor *dout,
                                        const selsa_tensor *weight, const selsa_conv2d_params *p) {
    static const char op[] = "selsa_conv2d_backward_data";
    int64_t ho, wo;
    SELSA_TRY(check_ctx(ctx, op));
    SELSA_TRY(check_params(p, op));
    SELSA_TRY(check_conv(din, "din", weight, "weight", p, op, true, &ho, &wo));
    SELSA_TRY(selsa_tensor_check(dout, "selsa_conv2d_backward_data: dout", din->n, weight->n, ho, wo));
    SELSA_TRY(check_device(ctx, din, op, "din"));
    SELSA_TRY(check_device(ctx, dout, op, "dout"));
    SELSA_TRY(check_device(ctx, weight, op, "weight"));
    const int64_t ni = selsa_tensor_numel(din);
    if (overlaps(din->data, ni, dout->data, selsa_tensor_numel(dout)) ||
        overlaps(din->data, ni, weight->data, selsa_tensor_numel(weight)))
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: din overlaps dout or weight", op);
    if (din->n == 0) return SELSA_OK;
    selsa_status (*f)(selsa_ctx *, selsa_tensor *, const selsa_tensor *, const selsa_tensor *,
                      const selsa_conv2d_params *);
    SELSA_BACKEND_FN(ctx, dense, conv2d_backward_data, f);
    return f(ctx, din, dout, weight, p);
}

selsa_status selsa_conv2d_backward_weight(selsa_ctx *ctx, selsa_tensor *dweight, float *dbias,
                                          const selsa_tensor *dout, const selsa_tensor *in,
                                          const selsa_conv2d_params *p) {
    static const char op[] = "selsa_conv2d_backward_weight";
    int64_t ho, wo;
    SELSA_TRY(check_ctx(ctx, op));
    SELSA_TRY(check_params(p, op));
    SELSA_TRY(check_conv(in, "in", dweight, "dweight", p, op, true, &ho, &wo));
    SELSA_TRY(selsa_tensor_check(dout, "selsa_conv2d_backward_weight: dout", in->n, dweight->n, ho, wo));
    SELSA_TRY(check_device(ctx, dweight, op, "dweight"));
    SELSA_TRY(check_device(ctx, dout, op, "dout"));
    SELSA_TRY(check_device(ctx, in, op, "in"));
    const int64_t nw = selsa_tensor_numel(dweight), nd = selsa_tensor_numel(dout);
    const int64_t nx = selsa_tensor_numel(in);
    if (overlaps(dweight->data, nw, dout->data, nd) || overlaps(dweight->data, nw, in->data, nx) ||
        overlaps(dbias, dbias ? dweight->n : 0, dout->data, nd) ||
        overlaps(dbias, dbias ? dweight->n : 0, in->data, nx) ||
        overlaps(dbias, dbias ? dweight->n : 0, dweight->data, nw))
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: dweight or dbias overlaps dout, in or each other", op);
    if (in->n == 0) return SELSA_OK;
    selsa_status (*f)(selsa_ctx *, selsa_tensor *, float *, const selsa_tensor *,
                      const selsa_tensor *, const selsa_conv2d_params *);
    SELSA_BACKEND_FN(ctx, dense, conv2d_backward_weight, f);
    return f(ctx, dweight, dbias, dout, in, p);
}

/* ---------------------------------------------------------------- fully connected */

/* x (N, C, H, W) flattened to In = C·H·W features; w must be (Out, In, 1, 1). */
static selsa_status check_linear(const selsa_tensor *x, const char *xname, const selsa_tensor *w,
                                 const char *wname, const char *op) {
    char what[96];
    snprintf(what, sizeof what, "%s: %s", op, xname);
    SELSA_TRY(selsa_tensor_check(x, what, -1, -1, -1, -1));
    snprintf(what, sizeof what, "%s: %s (Out, In = C*H*W of %s = %lld, 1, 1)", op, wname, xname,
             (long long)(x->c * x->h * x->w));
    SELSA_TRY(selsa_tensor_check(w, what, -1, x->c * x->h * x->w, 1, 1));
    return SELSA_OK;
}

selsa_status selsa_linear_forward(selsa_ctx *ctx, selsa_tensor *out, const selsa_tensor *in,
                                  const selsa_tensor *weight, const float *bias,
                                  selsa_activation act) {
    static const char op[] = "selsa_linear_forward";
    SELSA_TRY(check_ctx(ctx, op));
    SELSA_TRY(check_act(act, op));
    SELSA_TRY(check_linear(in, "in", weight, "weight", op));
    SELSA_TRY(selsa_tensor_check(out, "selsa_linear_forward: out", in->n, weight->n, 1, 1));
    SELSA_TRY(check_device(ctx, in, op, "in"));
    SELSA_TRY(check_device(ctx, weight, op, "weight"));
    SELSA_TRY(check_device(ctx, out, op, "out"));
    const int64_t no = selsa_tensor_numel(out);
    if (overlaps(out->data, no, in->data, selsa_tensor_numel(in)) ||
        overlaps(out->data, no, weight->data, selsa_tensor_numel(weight)) ||
        overlaps(out->data, no, bias, bias ? weight->n : 0))
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: out overlaps in, weight or bias", op);
    if (in->n == 0) return SELSA_OK;
    selsa_status (*f)(selsa_ctx *, selsa_tensor *, const selsa_tensor *, const selsa_tensor *,
                      const float *, selsa_activation);
    SELSA_BACKEND_FN(ctx, dense, linear_forward, f);
    return f(ctx, out, in, weight, bias, act);
}

selsa_status selsa_linear_backward_data(selsa_ctx *ctx, selsa_tensor *din, const selsa_tensor *dout,
                                        const selsa_tensor *weight) {
    static const char op[] = "selsa_linear_backward_data";
    SELSA_TRY(check_ctx(ctx, op));
    SELSA_TRY(check_linear(din, "din", weight, "weight", op));
    SELSA_TRY(selsa_tensor_check(dout, "selsa_linear_backward_data: dout", din->n, weight->n, 1, 1));
    SELSA_TRY(check_device(ctx, din, op, "din"));
    SELSA_TRY(check_device(ctx, dout, op, "dout"));
    SELSA_TRY(check_device(ctx, weight, op, "weight"));
    const int64_t ni = selsa_tensor_numel(din);
    if (overlaps(din->data, ni, dout->data, selsa_tensor_numel(dout)) ||
        overlaps(din->data, ni, weight->data, selsa_tensor_numel(weight)))
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: din overlaps dout or weight", op);
    if (din->n == 0) return SELSA_OK;
    selsa_status (*f)(selsa_ctx *, selsa_tensor *, const selsa_tensor *, const selsa_tensor *);
    SELSA_BACKEND_FN(ctx, dense, linear_backward_data, f);
    return f(ctx, din, dout, weight);
}

selsa_status selsa_linear_backward_weight(selsa_ctx *ctx, selsa_tensor *dweight, float *dbias,
                                          const selsa_tensor *dout, const selsa_tensor *in) {
    static const char op[] = "selsa_linear_backward_weight";
    SELSA_TRY(check_ctx(ctx, op));
    SELSA_TRY(check_linear(in, "in", dweight, "dweight", op));
    SELSA_TRY(selsa_tensor_check(dout, "selsa_linear_backward_weight: dout", in->n, dweight->n, 1, 1));
    SELSA_TRY(check_device(ctx, dweight, op, "dweight"));
    SELSA_TRY(check_device(ctx, dout, op, "dout"));
    SELSA_TRY(check_device(ctx, in, op, "in"));
    const int64_t nw = selsa_tensor_numel(dweight), nd = selsa_tensor_numel(dout);
    const int64_t nx = selsa_tensor_numel(in);
    if (overlaps(dweight->data, nw, dout->data, nd) || overlaps(dweight->data, nw, in->data, nx) ||
        overlaps(dbias, dbias ? dweight->n : 0, dout->data, nd) ||
        overlaps(dbias, dbias ? dweight->n : 0, in->data, nx) ||
        overlaps(dbias, dbias ? dweight->n : 0, dweight->data, nw))
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: dweight or dbias overlaps dout, in or each other", op);
    if (in->n == 0) return SELSA_OK;
    selsa_status (*f)(selsa_ctx *, selsa_tensor *, float *, const selsa_tensor *,
                      const selsa_tensor *);
    SELSA_BACKEND_FN(ctx, dense, linear_backward_weight, f);
    return f(ctx, dweight, dbias, dout, in);
}
