/* selsa — op table of the elementwise / pooling / loss / optimiser group (internal).
 *
 * Each entry has the signature of its public wrapper in include/selsa/ops_elem.h; the wrappers
 * (src/ops/elem.c) validate every argument, so implementations may assume valid inputs. */
#ifndef SELSA_ELEM_OPS_H
#define SELSA_ELEM_OPS_H

#include "selsa/ops_elem.h"

struct selsa_elem_ops {
    selsa_status (*relu_forward)(selsa_ctx *ctx, selsa_tensor *out, const selsa_tensor *in);
    selsa_status (*relu_backward)(selsa_ctx *ctx, selsa_tensor *din, const selsa_tensor *dout,
                                  const selsa_tensor *out);
    selsa_status (*add_forward)(selsa_ctx *ctx, selsa_tensor *out, const selsa_tensor *a,
                                const selsa_tensor *b, selsa_activation act);
    selsa_status (*accumulate)(selsa_ctx *ctx, selsa_tensor *dst, const selsa_tensor *src,
                               float alpha);
    selsa_status (*add_backward)(selsa_ctx *ctx, selsa_tensor *da, selsa_tensor *db,
                                 const selsa_tensor *dout, const selsa_tensor *out);
    selsa_status (*affine_channel_forward)(selsa_ctx *ctx, selsa_tensor *out,
                                           const selsa_tensor *in, const float *scale,
                                           const float *shift, selsa_activation act);
    selsa_status (*affine_channel_backward)(selsa_ctx *ctx, selsa_tensor *din,
                                            const selsa_tensor *dout, const selsa_tensor *out,
                                            const float *scale);
    selsa_status (*maxpool2d_forward)(selsa_ctx *ctx, selsa_tensor *out, int32_t *argmax,
                                      const selsa_tensor *in, const selsa_pool2d_params *p);
    selsa_status (*maxpool2d_backward)(selsa_ctx *ctx, selsa_tensor *din,
                                       const selsa_tensor *dout, const int32_t *argmax);
    selsa_status (*softmax_channel_forward)(selsa_ctx *ctx, selsa_tensor *out,
                                            const selsa_tensor *in);
    selsa_status (*softmax_channel_backward)(selsa_ctx *ctx, selsa_tensor *din,
                                             const selsa_tensor *dout, const selsa_tensor *out);
    selsa_status (*sigmoid_forward)(selsa_ctx *ctx, selsa_tensor *out, const selsa_tensor *in);
    selsa_status (*sigmoid_backward)(selsa_ctx *ctx, selsa_tensor *din, const selsa_tensor *dout,
                                     const selsa_tensor *out);
    /* labels already validated (in [0, C) or the ignore label) by the wrapper */
    selsa_status (*softmax_ce_forward)(selsa_ctx *ctx, const selsa_tensor *logits,
                                       const int32_t *labels, const selsa_softmax_ce_params *p,
                                       selsa_tensor *prob, float *pos_loss, double *loss);
    selsa_status (*softmax_ce_backward)(selsa_ctx *ctx, selsa_tensor *dlogits,
                                        const selsa_tensor *prob, const int32_t *labels,
                                        const selsa_softmax_ce_params *p);
    selsa_status (*sigmoid_bce_forward)(selsa_ctx *ctx, const selsa_tensor *logits,
                                        const selsa_tensor *targets, const selsa_tensor *weights,
                                        double scale, float *elem_loss, double *loss);
    selsa_status (*sigmoid_bce_backward)(selsa_ctx *ctx, selsa_tensor *dlogits,
                                         const selsa_tensor *logits, const selsa_tensor *targets,
                                         const selsa_tensor *weights, double scale);
    selsa_status (*smooth_l1_forward)(selsa_ctx *ctx, const selsa_tensor *pred,
                                      const selsa_tensor *target, const selsa_tensor *weights,
                                      const selsa_smooth_l1_params *p, float *elem_loss,
                                      double *loss);
    selsa_status (*smooth_l1_backward)(selsa_ctx *ctx, selsa_tensor *dpred,
                                       const selsa_tensor *pred, const selsa_tensor *target,
                                       const selsa_tensor *weights,
                                       const selsa_smooth_l1_params *p);
    selsa_status (*sgd_update)(selsa_ctx *ctx, float *param, const float *grad,
                               float *momentum_buf, int64_t n, const selsa_sgd_params *p);
    selsa_status (*grad_norm_sq)(selsa_ctx *ctx, const float *grad, int64_t n, double *out);
};

#endif
