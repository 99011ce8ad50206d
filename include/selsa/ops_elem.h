/* selsa — elementwise, pooling, loss and optimiser ops (forward and backward).
 *
 * All tensors are float32 NCHW (tensor.h). Conventions (docs/ARCHITECTURE.md):
 *   - backward functions ACCUMULATE (+=) into gradient buffers; a gradient output must not
 *     alias an input of the same call;
 *   - forward ops marked "in-place allowed" accept out->data == in->data;
 *   - every wrapper validates its arguments and returns SELSA_ERR_SHAPE / _INVALID_ARG with a
 *     message naming the offending tensor or hyperparameter.
 *
 * Frozen batch-norm is a per-channel affine (selsa_affine_channel_*), computed from the BN
 * statistics by selsa_bn_frozen_affine, or folded into the preceding conv (selsa_bn_fold_into_conv).
 *
 * Sums of losses are evaluated in double over fixed-size blocks and the block partials are
 * added in a fixed order, so every result is bit-identical for any thread count. */
#ifndef SELSA_OPS_ELEM_H
#define SELSA_OPS_ELEM_H

#include <stdint.h>

#include "selsa/context.h"
#include "selsa/status.h"
#include "selsa/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef SELSA_ACTIVATION_DEFINED
#define SELSA_ACTIVATION_DEFINED
typedef enum selsa_activation { SELSA_ACT_NONE = 0, SELSA_ACT_RELU = 1 } selsa_activation;
#endif

/* ------------------------------------------------------------------------------------------
 * ReLU, add, accumulate */

/* out = max(in, 0). out and in have the same shape; in-place allowed. */
selsa_status selsa_relu_forward(selsa_ctx *ctx, selsa_tensor *out, const selsa_tensor *in);
/* din += dout · [out > 0]. The mask comes from the forward OUTPUT, so an in-place forward
 * works (out > 0 ⇔ in > 0). din, dout, out: same shape. */
selsa_status selsa_relu_backward(selsa_ctx *ctx, selsa_tensor *din, const selsa_tensor *dout,
                                 const selsa_tensor *out);

/* out = act(a + b); all three the same shape; out may alias a or b (residual + ReLU). */
selsa_status selsa_add_forward(selsa_ctx *ctx, selsa_tensor *out, const selsa_tensor *a,
                               const selsa_tensor *b, selsa_activation act);
/* dst += alpha · src (same shape; dst must not alias src). The backward of add without
 * activation, and the sum of gradient branches. */
selsa_status selsa_accumulate(selsa_ctx *ctx, selsa_tensor *dst, const selsa_tensor *src,
                              float alpha);
/* Backward of add with fused ReLU: g = dout · [out > 0]; da += g; db += g (either may be NULL;
 * da must not alias db). out = the forward output (NULL: no activation, g = dout). */
selsa_status selsa_add_backward(selsa_ctx *ctx, selsa_tensor *da, selsa_tensor *db,
                                const selsa_tensor *dout, const selsa_tensor *out);

/* ------------------------------------------------------------------------------------------
 * Frozen batch-norm as a per-channel affine */

/* out[n,c,h,w] = act(in[n,c,h,w] · scale[c] + shift[c]). scale, shift: C floats.
 * In-place allowed. */
selsa_status selsa_affine_channel_forward(selsa_ctx *ctx, selsa_tensor *out,
                                          const selsa_tensor *in, const float *scale,
                                          const float *shift, selsa_activation act);
/* din[n,c,h,w] += dout[n,c,h,w] · scale[c] · [out > 0 if out != NULL].
 * Frozen statistics and parameters: no gradient for scale/shift. `out` is the forward output
 * when the forward fused a ReLU (so the ReLU backward is fused too), else NULL. */
selsa_status selsa_affine_channel_backward(selsa_ctx *ctx, selsa_tensor *din,
                                           const selsa_tensor *dout, const selsa_tensor *out,
                                           const float *scale);

/* Host utilities (src/ops/bn_fold.c), computed in double and rounded once to float:
 *   y = gamma·(x − mean)/sqrt(var + eps) + beta = scale·x + shift,
 *   scale = gamma/sqrt(var + eps), shift = beta − mean·scale.
 * eps: 1e-5 for both the official model (MXNet BatchNorm eps) and mmdet (nn.BatchNorm2d).
 * `what` names the BN layer in error messages (may be NULL). Fails with SELSA_ERR_NUMERIC naming
 * the channel on a non-finite input or var + eps <= 0. scale_out/shift_out: C floats. */
selsa_status selsa_bn_frozen_affine(const float *gamma, const float *beta, const float *mean,
                                    const float *var, int64_t C, double eps, const char *what,
                                    float *scale_out, float *shift_out);
/* Fold a frozen BN (C = Cout) into the conv before it:
 *   weight[o,:,:,:] *= scale[o]           (weight: (Cout, Cin/groups, kh, kw), modified in place)
 *   bias_out[o] = (bias_in[o] − mean[o])·scale[o] + beta[o]
 * bias_in: Cout floats or NULL (a bias-less conv, bias 0). bias_out: Cout floats of new memory
 * supplied by the caller (may equal bias_in). On error nothing is modified. */
selsa_status selsa_bn_fold_into_conv(selsa_tensor *weight, const float *bias_in,
                                     const float *gamma, const float *beta, const float *mean,
                                     const float *var, double eps, const char *what,
                                     float *bias_out);

/* ------------------------------------------------------------------------------------------
 * Max-pooling 2d */

typedef enum selsa_pool_convention {
    /* MXNet pooling_convention='valid': out = floor((in + 2p − k)/s) + 1 */
    SELSA_POOL_MXNET_VALID = 0,
    /* MXNet pooling_convention='full':  out = ceil((in + 2p − k)/s) + 1 */
    SELSA_POOL_MXNET_FULL = 1,
    /* PyTorch ceil_mode=False: floor, as MXNet 'valid' (PyTorch also needs p <= k/2) */
    SELSA_POOL_TORCH_FLOOR = 2,
    /* PyTorch ceil_mode=True: ceil, but the last window must start inside the input or the
     * left padding: if (out − 1)·s >= in + p then out −= 1 (PyTorch also needs p <= k/2) */
    SELSA_POOL_TORCH_CEIL = 3
} selsa_pool_convention;

typedef struct selsa_pool2d_params {
    int kernel_h, kernel_w;  /* >= 1 */
    int stride_h, stride_w;  /* >= 1 */
    int pad_h, pad_w;        /* 0 <= pad < kernel (PyTorch conventions: 2·pad <= kernel) */
    selsa_pool_convention convention;
} selsa_pool2d_params;

/* Output length along one axis, or -1 when the arguments are invalid (k, s < 1, p < 0,
 * p >= k, or in + 2p < k). */
int64_t selsa_pool2d_out_size(int64_t in, int k, int s, int p, selsa_pool_convention convention);
/* Validates params for an input of H×W and gives the output size (messages name the field). */
selsa_status selsa_maxpool2d_out_shape(int64_t H, int64_t W, const selsa_pool2d_params *p,
                                       int64_t *out_h, int64_t *out_w);

/* out (N, C, OH, OW) = max over the in-bounds part of each window of in (N, C, H, W).
 * Padding never contributes (MXNet 1.3 pool.h pool_max_2d_cpu clips the window to the input
 * and starts from the lowest float; PyTorch pads with −inf — the same result). Ties: the FIRST
 * maximum in row-major window order wins (strict '>' as PyTorch and MXNet; MXNet's backward
 * also routes to the first element equal to the max). A window with no in-bounds element
 * (possible only with MXNet 'full' and stride > kernel − pad) gives −FLT_MAX (MXNet's
 * MinValue) and argmax −1 (no gradient). NaN inputs propagate (as PyTorch).
 * argmax: numel(out) int32 or NULL; argmax[i] = h·W + w within the (n, c) plane. */
selsa_status selsa_maxpool2d_forward(selsa_ctx *ctx, selsa_tensor *out, int32_t *argmax,
                                     const selsa_tensor *in, const selsa_pool2d_params *p);
/* din (N, C, H, W) += scatter of dout (N, C, OH, OW) through argmax (numel(dout) int32). */
selsa_status selsa_maxpool2d_backward(selsa_ctx *ctx, selsa_tensor *din, const selsa_tensor *dout,
                                      const int32_t *argmax);

/* ------------------------------------------------------------------------------------------
 * Softmax over channels, sigmoid */

/* out[n,:,h,w] = softmax over C of in[n,:,h,w] (max-subtracted, sums in double). In-place
 * allowed. */
selsa_status selsa_softmax_channel_forward(selsa_ctx *ctx, selsa_tensor *out,
                                           const selsa_tensor *in);
/* din += out ⊙ (dout − Σ_c dout⊙out) per (n, h, w). */
selsa_status selsa_softmax_channel_backward(selsa_ctx *ctx, selsa_tensor *din,
                                            const selsa_tensor *dout, const selsa_tensor *out);

/* out = 1/(1 + exp(−in)), evaluated without overflow for large |in|. In-place allowed. */
selsa_status selsa_sigmoid_forward(selsa_ctx *ctx, selsa_tensor *out, const selsa_tensor *in);
/* din += dout · out · (1 − out). */
selsa_status selsa_sigmoid_backward(selsa_ctx *ctx, selsa_tensor *din, const selsa_tensor *dout,
                                    const selsa_tensor *out);

/* ------------------------------------------------------------------------------------------
 * Softmax cross-entropy with ignore label (MXNet SoftmaxOutput, multi_output=True,
 * use_ignore=True; for (R, C, 1, 1) logits it is the plain per-row SoftmaxOutput). */

typedef enum selsa_loss_norm {
    SELSA_NORM_NONE = 0,  /* sum over valid positions */
    SELSA_NORM_BATCH = 1, /* sum / N */
    /* sum / max(valid, 1): MXNet softmax_output-inl.h, kValid: valid_cnt = #labels != ignore,
     * then `valid_cnt = valid_cnt == 0 ? 1 : valid_cnt` */
    SELSA_NORM_VALID = 2
} selsa_loss_norm;
/* Note: MXNet's multi_output backward additionally divides by H·W for 'null' and 'batch'
 * (grad_scale / s3[2] / valid_cnt); that quirk is NOT reproduced — fold it into grad_scale. */

typedef struct selsa_softmax_ce_params {
    int use_ignore;            /* 1: positions with label == ignore_label are skipped */
    int32_t ignore_label;      /* e.g. -1 */
    selsa_loss_norm normalization;
    float grad_scale;          /* MXNet grad_scale (RPN: 1, RCNN OHEM: 1) */
} selsa_softmax_ce_params;

/* logits (N, C, H, W); labels: N·H·W int32 in [0, C) or ignore_label, index (n·H + h)·W + w.
 * loss = grad_scale · Σ_valid −log softmax(logits)[label] / norm  (so d loss/d logits is exactly
 * what the backward adds). prob: (N, C, H, W) softmax output saved for the backward, or NULL;
 * may alias logits. pos_loss: N·H·W floats (−log p[label], unscaled, 0 at ignored) or NULL
 * (OHEM). A label outside [0, C) that is not ignored: SELSA_ERR_INVALID_ARG naming the
 * position. */
selsa_status selsa_softmax_ce_forward(selsa_ctx *ctx, const selsa_tensor *logits,
                                      const int32_t *labels, const selsa_softmax_ce_params *p,
                                      selsa_tensor *prob, float *pos_loss, double *loss);
/* dlogits += grad_scale · (prob − onehot(label)) / norm at valid positions (0 at ignored). */
selsa_status selsa_softmax_ce_backward(selsa_ctx *ctx, selsa_tensor *dlogits,
                                       const selsa_tensor *prob, const int32_t *labels,
                                       const selsa_softmax_ce_params *p);

/* ------------------------------------------------------------------------------------------
 * Sigmoid binary cross-entropy with logits (mmdet CrossEntropyLoss(use_sigmoid=True)) */

/* loss = scale · Σ_i w_i · [max(x,0) − x·t + log1p(exp(−|x|))]  (stable for any x).
 * logits, targets, weights (NULL: all 1): same shape. scale = loss_weight / avg_factor
 * (mmdet weight_reduce_loss 'mean' with avg_factor). elem_loss: numel floats (w·BCE, unscaled)
 * or NULL. */
selsa_status selsa_sigmoid_bce_forward(selsa_ctx *ctx, const selsa_tensor *logits,
                                       const selsa_tensor *targets, const selsa_tensor *weights,
                                       double scale, float *elem_loss, double *loss);
/* dlogits += scale · w · (sigmoid(x) − t). */
selsa_status selsa_sigmoid_bce_backward(selsa_ctx *ctx, selsa_tensor *dlogits,
                                        const selsa_tensor *logits, const selsa_tensor *targets,
                                        const selsa_tensor *weights, double scale);

/* ------------------------------------------------------------------------------------------
 * Smooth-L1 */

typedef enum selsa_smooth_l1_kind {
    /* MXNet smooth_l1(x, scalar=σ): 0.5(σx)² if |x| < 1/σ², else |x| − 0.5/σ²  (σ > 0) */
    SELSA_SMOOTH_L1_MXNET = 0,
    /* mmdet smooth_l1_loss(beta): 0.5x²/β if |x| < β, else |x| − 0.5β; β = 0 gives L1 */
    SELSA_SMOOTH_L1_MMDET = 1
} selsa_smooth_l1_kind;

typedef struct selsa_smooth_l1_params {
    selsa_smooth_l1_kind kind;
    float sigma;  /* MXNet scalar σ > 0 (official: 1.0) */
    float beta;   /* mmdet β >= 0 (RPN 1/9, RCNN 1.0) */
    double scale; /* loss = scale · Σ w·f(x); e.g. MXNet grad_scale, mmdet loss_weight/avg_factor */
} selsa_smooth_l1_params;

/* x = pred − target; pred, target, weights (NULL: all 1): same shape.
 * elem_loss: numel floats (w·f(x), unscaled) or NULL. */
selsa_status selsa_smooth_l1_forward(selsa_ctx *ctx, const selsa_tensor *pred,
                                     const selsa_tensor *target, const selsa_tensor *weights,
                                     const selsa_smooth_l1_params *p, float *elem_loss,
                                     double *loss);
/* dpred += scale · w · f'(pred − target); f'(x) = σ²x or sign(x) (MXNet), x/β or sign(x)
 * (mmdet; β = 0: sign(x) with f'(0) = 0). */
selsa_status selsa_smooth_l1_backward(selsa_ctx *ctx, selsa_tensor *dpred,
                                      const selsa_tensor *pred, const selsa_tensor *target,
                                      const selsa_tensor *weights,
                                      const selsa_smooth_l1_params *p);

/* ------------------------------------------------------------------------------------------
 * SGD with momentum and weight decay */

typedef enum selsa_sgd_kind {
    /* MXNet sgd_mom_update (clip_gradient off), momentum buffer starts at 0:
     *   mom = momentum·mom − lr·(rescale·grad + wd·w);  w += mom */
    SELSA_SGD_MXNET = 0,
    /* torch.optim.SGD (dampening 0, nesterov False):
     *   g = rescale·grad + wd·w;  buf = g on the first step, else momentum·buf + g;  w −= lr·buf
     * (momentum == 0: w −= lr·g and the buffer is not used) */
    SELSA_SGD_PYTORCH = 1
} selsa_sgd_kind;

typedef struct selsa_sgd_params {
    float lr;            /* learning rate, > 0 */
    float momentum;      /* [0, 1) */
    float weight_decay;  /* >= 0; pass 0 for parameters without decay (MXNet: biases, betas) */
    float rescale_grad;  /* multiplies grad first (MXNet rescale_grad; gradient clipping coef) */
    selsa_sgd_kind kind;
    int first_step;      /* PyTorch kind: 1 on the first update of this parameter (buf = g);
                            ignored by the MXNet kind (its buffer is zero-initialised) */
} selsa_sgd_params;

/* param, grad, momentum_buf: n floats each (momentum_buf may be NULL only if momentum == 0). */
selsa_status selsa_sgd_update(selsa_ctx *ctx, float *param, const float *grad,
                              float *momentum_buf, int64_t n, const selsa_sgd_params *p);

/* *out += Σ grad[i]² (in double, fixed block order: deterministic for any thread count). Sum
 * this over every parameter for the global L2 norm (MMTracking grad_clip max_norm 35:
 * coef = 35/(sqrt(total) + 1e-6), applied when < 1 through rescale_grad). */
selsa_status selsa_grad_norm_sq(selsa_ctx *ctx, const float *grad, int64_t n, double *out);

#ifdef __cplusplus
}
#endif
#endif
