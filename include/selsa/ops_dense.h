/* selsa — dense ops: 2-D convolution and fully connected (linear) layers, forward and backward.
 *
 * Layout: every tensor is NCHW float32 (tensor.h). Convolution weights are OIHW,
 * (Cout, Cin/groups, kh, kw), as in MXNet and PyTorch, so checkpoints load without transposes.
 * Output size (MXNet and PyTorch agree, official-selsa.md §2):
 *     out = floor((in + 2·pad − dilation·(k − 1) − 1) / stride) + 1
 * Backward functions ACCUMULATE (+=) into their gradient buffers; the caller zeroes them once
 * per step. A gradient output must not overlap any input of the same call, and a forward output
 * must not overlap its input (convolution cannot run in place).
 * A batch of N = 0 frames/rows is a valid no-op.
 *
 * Scratch: the CPU backend takes the im2col column buffer from ctx->scratch, tiled by output
 * rows so that it stays bounded (selsa_conv2d_scratch_bytes gives the size to reserve). A smaller
 * scratch arena still works (smaller tiles) down to one input channel × one output row per
 * tile; below that the op fails with SELSA_ERR_OUT_OF_MEMORY. With a *measuring* scratch arena
 * (selsa_arena_init_measure) the conv ops only record their scratch need and compute nothing. */
#ifndef SELSA_OPS_DENSE_H
#define SELSA_OPS_DENSE_H

#include <stddef.h>
#include <stdint.h>

#include "selsa/context.h"
#include "selsa/status.h"
#include "selsa/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Activation fused into an op's epilogue (also used by the elementwise group). */
#ifndef SELSA_ACTIVATION_DEFINED
#define SELSA_ACTIVATION_DEFINED
typedef enum selsa_activation { SELSA_ACT_NONE = 0, SELSA_ACT_RELU = 1 } selsa_activation;
#endif

/* Convolution hyperparameters. All must be set: stride >= 1, pad >= 0, dilation >= 1,
 * groups >= 1 dividing both Cin and Cout (ResNeXt conv2 uses groups = 64). */
typedef struct selsa_conv2d_params {
    int stride_h, stride_w;     /* >= 1 */
    int pad_h, pad_w;           /* >= 0, zero padding on both sides */
    int dilation_h, dilation_w; /* >= 1 (res5 of the official model: 2) */
    int groups;                 /* >= 1 */
} selsa_conv2d_params;

/* floor((in + 2·pad − dilation·(kernel − 1) − 1) / stride) + 1; <= 0 means "no valid output"
 * (the ops reject that with SELSA_ERR_SHAPE). */
int64_t selsa_conv2d_out_size(int64_t in, int kernel, int stride, int pad, int dilation);

/* Bytes of ctx->scratch that selsa_conv2d_forward / _backward_data / _backward_weight need at
 * most for this layer (the column buffer of one tile, plus alignment; 0 for a 1×1 stride-1
 * pad-0 conv, which runs as a plain GEMM on the input). The bound per call is
 * SELSA_CONV2D_COL_BUDGET bytes unless a single output row needs more. Invalid shapes give 0. */
size_t selsa_conv2d_scratch_bytes(const selsa_tensor *in, const selsa_tensor *weight,
                                  const selsa_conv2d_params *p);

/* out (N, Cout, Ho, Wo) = act(conv(in, weight) + bias).
 *   in     (N, Cin, H, W)
 *   weight (Cout, Cin/groups, kh, kw)
 *   bias   Cout floats or NULL
 *   act    fused epilogue (bias and ReLU in one pass over the output) */
selsa_status selsa_conv2d_forward(selsa_ctx *ctx, selsa_tensor *out, const selsa_tensor *in,
                                  const selsa_tensor *weight, const float *bias,
                                  const selsa_conv2d_params *p, selsa_activation act);

/* din (N, Cin, H, W) += ∂L/∂in given dout (N, Cout, Ho, Wo) = ∂L/∂out (pre-activation: apply
 * the ReLU mask before calling). weight (Cout, Cin/groups, kh, kw). */
selsa_status selsa_conv2d_backward_data(selsa_ctx *ctx, selsa_tensor *din, const selsa_tensor *dout,
                                        const selsa_tensor *weight, const selsa_conv2d_params *p);

/* dweight (Cout, Cin/groups, kh, kw) += ∂L/∂weight and, if dbias is not NULL,
 * dbias (Cout floats) += ∂L/∂bias (sums of dout over N, Ho, Wo).
 * dout (N, Cout, Ho, Wo), in (N, Cin, H, W) the forward input. */
selsa_status selsa_conv2d_backward_weight(selsa_ctx *ctx, selsa_tensor *dweight, float *dbias,
                                          const selsa_tensor *dout, const selsa_tensor *in,
                                          const selsa_conv2d_params *p);

/* Fully connected: each of the N rows of `in` (N, C, H, W) is flattened in C order
 * (index c·H·W + h·W + w, as MXNet FullyConnected and torch.flatten do) to In = C·H·W values.
 *   weight (Out, In, 1, 1), bias Out floats or NULL, out (N, Out, 1, 1)
 *   out = act(in · weightᵀ + bias) */
selsa_status selsa_linear_forward(selsa_ctx *ctx, selsa_tensor *out, const selsa_tensor *in,
                                  const selsa_tensor *weight, const float *bias,
                                  selsa_activation act);

/* din (N, C, H, W) += dout (N, Out, 1, 1) · weight (Out, In, 1, 1). */
selsa_status selsa_linear_backward_data(selsa_ctx *ctx, selsa_tensor *din, const selsa_tensor *dout,
                                        const selsa_tensor *weight);

/* dweight (Out, In, 1, 1) += doutᵀ · in; dbias (Out floats, or NULL) += column sums of dout. */
selsa_status selsa_linear_backward_weight(selsa_ctx *ctx, selsa_tensor *dweight, float *dbias,
                                          const selsa_tensor *dout, const selsa_tensor *in);

#ifdef __cplusplus
}
#endif
#endif
