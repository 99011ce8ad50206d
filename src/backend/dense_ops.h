/* selsa — op table of the dense group (convolution, fully connected), internal.
 *
 * Each entry has the signature of the public wrapper in include/selsa/ops_dense.h; the wrappers
 * (src/ops/dense.c) validate every argument first, so an implementation may assume valid,
 * non-overlapping inputs, N >= 1 and output sizes >= 1. */
#ifndef SELSA_DENSE_OPS_H
#define SELSA_DENSE_OPS_H

#include "selsa/ops_dense.h"

/* Upper bound on the column buffer one conv call takes from ctx->scratch (CPU backend): the
 * column matrix is tiled by output rows (and input channels for deep K) to fit, see
 * selsa_conv_plan_cpu. 8 MiB measured best against 16 and 32 MiB over the ResNet-101 shapes
 * (docs/BENCHMARKS.md): the tile stays in cache between im2col and the GEMM's packing.
 * Overridable at build time (-DSELSA_CONV2D_COL_BUDGET=...) for experiments. */
#ifndef SELSA_CONV2D_COL_BUDGET
#define SELSA_CONV2D_COL_BUDGET ((size_t)8 << 20)
#endif

struct selsa_dense_ops {
    selsa_status (*conv2d_forward)(selsa_ctx *ctx, selsa_tensor *out, const selsa_tensor *in,
                                   const selsa_tensor *weight, const float *bias,
                                   const selsa_conv2d_params *p, selsa_activation act);
    selsa_status (*conv2d_backward_data)(selsa_ctx *ctx, selsa_tensor *din,
                                         const selsa_tensor *dout, const selsa_tensor *weight,
                                         const selsa_conv2d_params *p);
    selsa_status (*conv2d_backward_weight)(selsa_ctx *ctx, selsa_tensor *dweight, float *dbias,
                                           const selsa_tensor *dout, const selsa_tensor *in,
                                           const selsa_conv2d_params *p);
    selsa_status (*linear_forward)(selsa_ctx *ctx, selsa_tensor *out, const selsa_tensor *in,
                                   const selsa_tensor *weight, const float *bias,
                                   selsa_activation act);
    selsa_status (*linear_backward_data)(selsa_ctx *ctx, selsa_tensor *din,
                                         const selsa_tensor *dout, const selsa_tensor *weight);
    selsa_status (*linear_backward_weight)(selsa_ctx *ctx, selsa_tensor *dweight, float *dbias,
                                           const selsa_tensor *dout, const selsa_tensor *in);
};

#endif
