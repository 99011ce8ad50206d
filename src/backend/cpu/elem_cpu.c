/* CPU implementation of the elementwise / pooling / softmax / sigmoid ops, and the group's op
 * table (losses and SGD live in loss_cpu.c).
 *
 * Arguments were validated by the wrappers in src/ops/elem.c. Loops are OpenMP-parallel over
 * independent outputs (no reductions across threads), so results do not depend on the thread
 * count. Small problems run serially (the `if` clause) to avoid fork/join overhead. */
#include <float.h>
#include <math.h>

#include "backend/elem_ops.h"

#define PAR_MIN 32768 /* elements below which a loop stays serial */

/* ---- ReLU / add / accumulate -------------------------------------------------------------- */

static selsa_status relu_forward_cpu(selsa_ctx *ctx, selsa_tensor *out, const selsa_tensor *in) {
    int64_t n = selsa_tensor_numel(in);
    const float *x = in->data;
    float *y = out->data;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    return SELSA_OK;
}

static selsa_status relu_backward_cpu(selsa_ctx *ctx, selsa_tensor *din, const selsa_tensor *dout,
                                      const selsa_tensor *out) {
    int64_t n = selsa_tensor_numel(out);
    const float *g = dout->data, *y = out->data;
    float *dx = din->data;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) dx[i] += y[i] > 0.0f ? g[i] : 0.0f;
    return SELSA_OK;
}

static selsa_status add_forward_cpu(selsa_ctx *ctx, selsa_tensor *out, const selsa_tensor *a,
                                    const selsa_tensor *b, selsa_activation act) {
    int64_t n = selsa_tensor_numel(a);
    const float *x = a->data, *z = b->data;
    float *y = out->data;
    if (act == SELSA_ACT_RELU) {
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
        for (int64_t i = 0; i < n; i++) {
            float v = x[i] + z[i];
            y[i] = v > 0.0f ? v : 0.0f;
        }
    } else {
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
        for (int64_t i = 0; i < n; i++) y[i] = x[i] + z[i];
    }
    return SELSA_OK;
}

static selsa_status accumulate_cpu(selsa_ctx *ctx, selsa_tensor *dst, const selsa_tensor *src,
                                   float alpha) {
    int64_t n = selsa_tensor_numel(src);
    const float *x = src->data;
    float *y = dst->data;
    if (alpha == 1.0f) {
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
        for (int64_t i = 0; i < n; i++) y[i] += x[i];
    } else {
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
        for (int64_t i = 0; i < n; i++) y[i] += alpha * x[i];
    }
    return SELSA_OK;
}

static selsa_status add_backward_cpu(selsa_ctx *ctx, selsa_tensor *da, selsa_tensor *db,
                                     const selsa_tensor *dout, const selsa_tensor *out) {
    int64_t n = selsa_tensor_numel(dout);
    const float *g = dout->data;
    const float *y = out ? out->data : NULL;
    float *ga = da ? da->data : NULL, *gb = db ? db->data : NULL;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float v = (!y || y[i] > 0.0f) ? g[i] : 0.0f;
        if (ga) ga[i] += v;
        if (gb) gb[i] += v;
    }
    return SELSA_OK;
}

/* ---- per-channel affine ------------------------------------------------------------------- */

static selsa_status affine_channel_forward_cpu(selsa_ctx *ctx, selsa_tensor *out,
                                               const selsa_tensor *in, const float *scale,
                                               const float *shift, selsa_activation act) {
    const int64_t C = in->c, HW = in->h * in->w, planes = in->n * in->c;
    const int relu = act == SELSA_ACT_RELU;
#pragma omp parallel for schedule(static) if (planes * HW >= PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float s = scale[pl % C], t = shift[pl % C];
        const float *x = in->data + pl * HW;
        float *y = out->data + pl * HW;
        if (relu) {
            for (int64_t i = 0; i < HW; i++) {
                float v = x[i] * s + t;
                y[i] = v > 0.0f ? v : 0.0f;
            }
        } else {
            for (int64_t i = 0; i < HW; i++) y[i] = x[i] * s + t;
        }
    }
    return SELSA_OK;
}

static selsa_status affine_channel_backward_cpu(selsa_ctx *ctx, selsa_tensor *din,
                                                const selsa_tensor *dout, const selsa_tensor *out,
                                                const float *scale) {
    const int64_t C = dout->c, HW = dout->h * dout->w, planes = dout->n * dout->c;
#pragma omp parallel for schedule(static) if (planes * HW >= PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float s = scale[pl % C];
        const float *g = dout->data + pl * HW;
        float *dx = din->data + pl * HW;
        if (out) {
            const float *y = out->data + pl * HW;
            for (int64_t i = 0; i < HW; i++) dx[i] += y[i] > 0.0f ? g[i] * s : 0.0f;
        } else {
            for (int64_t i = 0; i < HW; i++) dx[i] += g[i] * s;
        }
    }
    return SELSA_OK;
}

/* ---- max-pooling ------------------------------------------------------------------------- */

static selsa_status maxpool2d_forward_cpu(selsa_ctx *ctx, selsa_tensor *out, int32_t *argmax,
                                          const selsa_tensor *in, const selsa_pool2d_params *p) {
    const int64_t H = in->h, W = in->w, OH = out->h, OW = out->w;
    const int64_t planes = in->n * in->c;
#pragma omp parallel for schedule(static) if (planes * OH * OW >= PAR_MIN / 4)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *x = in->data + pl * H * W;
        float *y = out->data + pl * OH * OW;
        int32_t *am = argmax ? argmax + pl * OH * OW : NULL;
        for (int64_t oh = 0; oh < OH; oh++) {
            /* window clipped to the input: padding never contributes (MXNet pool.h) */
            int64_t hs = oh * p->stride_h - p->pad_h;
            int64_t he = hs + p->kernel_h < H ? hs + p->kernel_h : H;
            if (hs < 0) hs = 0;
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t ws = ow * p->stride_w - p->pad_w;
                int64_t we = ws + p->kernel_w < W ? ws + p->kernel_w : W;
                if (ws < 0) ws = 0;
                float best;
                int64_t bi;
                if (hs >= he || ws >= we) {
                    /* only possible with MXNet 'full': MXNet leaves MinValue, no gradient */
                    best = -FLT_MAX;
                    bi = -1;
                } else {
                    best = -INFINITY;
                    bi = hs * W + ws;
                    for (int64_t h = hs; h < he; h++)
                        for (int64_t w = ws; w < we; w++) {
                            float v = x[h * W + w];
                            /* strict '>' keeps the first max (row-major); NaN propagates as
                             * in PyTorch's max_pool2d CPU kernel */
                            if (v > best || isnan(v)) {
                                best = v;
                                bi = h * W + w;
                            }
                        }
                }
                y[oh * OW + ow] = best;
                if (am) am[oh * OW + ow] = (int32_t)bi;
            }
        }
    }
    return SELSA_OK;
}

static selsa_status maxpool2d_backward_cpu(selsa_ctx *ctx, selsa_tensor *din,
                                           const selsa_tensor *dout, const int32_t *argmax) {
    const int64_t HW = din->h * din->w, OHW = dout->h * dout->w;
    const int64_t planes = din->n * din->c;
    /* one plane per iteration: scatter-adds within a plane stay in a fixed order */
#pragma omp parallel for schedule(static) if (planes * OHW >= PAR_MIN / 4)
    for (int64_t pl = 0; pl < planes; pl++) {
        float *dx = din->data + pl * HW;
        const float *g = dout->data + pl * OHW;
        const int32_t *am = argmax + pl * OHW;
        for (int64_t i = 0; i < OHW; i++)
            if (am[i] >= 0) dx[am[i]] += g[i];
    }
    return SELSA_OK;
}

/* ---- softmax over channels / sigmoid ------------------------------------------------------ */

static selsa_status softmax_channel_forward_cpu(selsa_ctx *ctx, selsa_tensor *out,
                                                const selsa_tensor *in) {
    const int64_t C = in->c, HW = in->h * in->w, P = in->n * HW;
#pragma omp parallel for schedule(static) if (P * C >= PAR_MIN / 4)
    for (int64_t pos = 0; pos < P; pos++) {
        const int64_t base = (pos / HW) * C * HW + pos % HW;
        const float *x = in->data + base;
        float *y = out->data + base;
        float m = -INFINITY;
        for (int64_t c = 0; c < C; c++)
            if (x[c * HW] > m) m = x[c * HW];
        double s = 0;
        for (int64_t c = 0; c < C; c++) s += exp((double)x[c * HW] - m);
        const double inv = 1.0 / s;
        for (int64_t c = 0; c < C; c++) y[c * HW] = (float)(exp((double)x[c * HW] - m) * inv);
    }
    return SELSA_OK;
}

static selsa_status softmax_channel_backward_cpu(selsa_ctx *ctx, selsa_tensor *din,
                                                 const selsa_tensor *dout,
                                                 const selsa_tensor *out) {
    const int64_t C = out->c, HW = out->h * out->w, P = out->n * HW;
#pragma omp parallel for schedule(static) if (P * C >= PAR_MIN / 4)
    for (int64_t pos = 0; pos < P; pos++) {
        const int64_t base = (pos / HW) * C * HW + pos % HW;
        const float *y = out->data + base, *g = dout->data + base;
        float *dx = din->data + base;
        double dot = 0;
        for (int64_t c = 0; c < C; c++) dot += (double)g[c * HW] * y[c * HW];
        for (int64_t c = 0; c < C; c++) dx[c * HW] += (float)((double)y[c * HW] * (g[c * HW] - dot));
    }
    return SELSA_OK;
}

static inline float sigmoidf_stable(float x) {
    /* never evaluates exp of a positive argument: no overflow for large |x| */
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

static selsa_status sigmoid_forward_cpu(selsa_ctx *ctx, selsa_tensor *out, const selsa_tensor *in) {
    int64_t n = selsa_tensor_numel(in);
    const float *x = in->data;
    float *y = out->data;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN / 4)
    for (int64_t i = 0; i < n; i++) y[i] = sigmoidf_stable(x[i]);
    return SELSA_OK;
}

static selsa_status sigmoid_backward_cpu(selsa_ctx *ctx, selsa_tensor *din, const selsa_tensor *dout,
                                         const selsa_tensor *out) {
    int64_t n = selsa_tensor_numel(out);
    const float *y = out->data, *g = dout->data;
    float *dx = din->data;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) dx[i] += g[i] * y[i] * (1.0f - y[i]);
    return SELSA_OK;
}

/* ---- losses and SGD (loss_cpu.c) ------------------------------------------------------------ */

selsa_status selsa_softmax_ce_forward_cpu(selsa_ctx *ctx, const selsa_tensor *logits,
                                          const int32_t *labels, const selsa_softmax_ce_params *p,
                                          selsa_tensor *prob, float *pos_loss, double *loss);
selsa_status selsa_softmax_ce_backward_cpu(selsa_ctx *ctx, selsa_tensor *dlogits,
                                           const selsa_tensor *prob, const int32_t *labels,
                                           const selsa_softmax_ce_params *p);
selsa_status selsa_sigmoid_bce_forward_cpu(selsa_ctx *ctx, const selsa_tensor *logits,
                                           const selsa_tensor *targets,
                                           const selsa_tensor *weights, double scale,
                                           float *elem_loss, double *loss);
selsa_status selsa_sigmoid_bce_backward_cpu(selsa_ctx *ctx, selsa_tensor *dlogits,
                                            const selsa_tensor *logits,
                                            const selsa_tensor *targets,
                                            const selsa_tensor *weights, double scale);
selsa_status selsa_smooth_l1_forward_cpu(selsa_ctx *ctx, const selsa_tensor *pred,
                                         const selsa_tensor *target, const selsa_tensor *weights,
                                         const selsa_smooth_l1_params *p, float *elem_loss,
                                         double *loss);
selsa_status selsa_smooth_l1_backward_cpu(selsa_ctx *ctx, selsa_tensor *dpred,
                                          const selsa_tensor *pred, const selsa_tensor *target,
                                          const selsa_tensor *weights,
                                          const selsa_smooth_l1_params *p);
selsa_status selsa_sgd_update_cpu(selsa_ctx *ctx, float *param, const float *grad,
                                  float *momentum_buf, int64_t n, const selsa_sgd_params *p);
selsa_status selsa_grad_norm_sq_cpu(selsa_ctx *ctx, const float *grad, int64_t n, double *out);

const struct selsa_elem_ops selsa_cpu_elem_ops = {
    .relu_forward = relu_forward_cpu,
    .relu_backward = relu_backward_cpu,
    .add_forward = add_forward_cpu,
    .accumulate = accumulate_cpu,
    .add_backward = add_backward_cpu,
    .affine_channel_forward = affine_channel_forward_cpu,
    .affine_channel_backward = affine_channel_backward_cpu,
    .maxpool2d_forward = maxpool2d_forward_cpu,
    .maxpool2d_backward = maxpool2d_backward_cpu,
    .softmax_channel_forward = softmax_channel_forward_cpu,
    .softmax_channel_backward = softmax_channel_backward_cpu,
    .sigmoid_forward = sigmoid_forward_cpu,
    .sigmoid_backward = sigmoid_backward_cpu,
    .softmax_ce_forward = selsa_softmax_ce_forward_cpu,
    .softmax_ce_backward = selsa_softmax_ce_backward_cpu,
    .sigmoid_bce_forward = selsa_sigmoid_bce_forward_cpu,
    .sigmoid_bce_backward = selsa_sigmoid_bce_backward_cpu,
    .smooth_l1_forward = selsa_smooth_l1_forward_cpu,
    .smooth_l1_backward = selsa_smooth_l1_backward_cpu,
    .sgd_update = selsa_sgd_update_cpu,
    .grad_norm_sq = selsa_grad_norm_sq_cpu,
};
