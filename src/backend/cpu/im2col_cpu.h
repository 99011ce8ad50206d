/* selsa — internal to the CPU dense group: the convolution geometry, the tiled im2col/col2im
 * kernels, and the entry points shared between conv_cpu.c and linear_cpu.c.
 *
 * Column layout (Caffe/darknet, NCHW): for one group of C input channels and output rows
 * [oh0, oh1), the column buffer is a (C·kh·kw) × ((oh1−oh0)·Wo) row-major matrix with
 *     row    r = (c·kh + ki)·kw + kj      (the flattening of an OIHW weight's I, H, W axes)
 *     column j = (oh − oh0)·Wo + ow
 *     value    = in[c][oh·sh − ph + ki·dh][ow·sw − pw + kj·dw]   (0 outside the input)
 * so W_g (Cout_g × C·kh·kw) · col gives output rows [oh0, oh1) of the group, NCHW, directly. */
#ifndef SELSA_IM2COL_CPU_H
#define SELSA_IM2COL_CPU_H

#include <stddef.h>
#include <stdint.h>

#include "backend/dense_ops.h"

typedef struct selsa_conv_geom {
    int64_t c;          /* input channels of one group (Cin / groups) */
    int64_t h, w;       /* input plane */
    int64_t ho, wo;     /* output plane, >= 1 */
    int kh, kw;         /* kernel */
    int sh, sw;         /* stride >= 1 */
    int ph, pw;         /* zero padding >= 0 */
    int dh, dw;         /* dilation >= 1 */
} selsa_conv_geom;

/* Fill col for output rows [oh0, oh1) from one group's input in (c × h × w). */
void selsa_im2col_tile_cpu(const selsa_conv_geom *g, const float *in, int64_t oh0, int64_t oh1,
                           float *col);
/* The adjoint: din (c × h × w) += the scatter of col for output rows [oh0, oh1). Deterministic
 * (parallel over channels, each channel's plane written by one thread in a fixed order). */
void selsa_col2im_tile_cpu(const selsa_conv_geom *g, const float *col, int64_t oh0, int64_t oh1,
                           float *din);

/* How a conv's column matrix (K = c·kh·kw rows × ho·wo columns) is cut to fit a byte budget:
 * tiles of `rows` output rows × `chans` input channels (the last tile of each kind may be
 * smaller). Policy (selsa_conv_plan_cpu):
 *   1. the whole matrix if it fits;
 *   2. else row tiles with all K rows, if a tile still has >= SELSA_CONV_TILE_MIN_COLS columns
 *      (GEMM efficiency drops when N is small: A is re-packed for every call);
 *   3. else (deep K: rpn_conv, the neck) about SELSA_CONV_TILE_MIN_COLS columns per tile and
 *      the channels split into chunks whose GEMMs accumulate (beta = 1);
 *   4. at worst one channel and as many rows as fit (tiny arenas), at least one row.
 * Tile counts are balanced (equal-sized tiles rather than a small remainder). */
#define SELSA_CONV_TILE_MIN_COLS 2048
typedef struct selsa_conv_plan {
    int64_t rows;  /* output rows per tile, 1..ho */
    int64_t chans; /* input channels per chunk, 1..c */
} selsa_conv_plan;
selsa_conv_plan selsa_conv_plan_cpu(const selsa_conv_geom *g, size_t budget);
/* Bytes of the column tile of a plan (K_chunk × rows·wo floats). */
size_t selsa_conv_plan_bytes(const selsa_conv_geom *g, selsa_conv_plan pl);
/* Column-buffer bytes (aligned) a conv with this geometry needs under the default budget;
 * 0 for the 1×1 stride-1 pad-0 case. Used by selsa_conv2d_scratch_bytes. */
size_t selsa_conv2d_col_bytes_cpu(const selsa_conv_geom *g);

/* Linear (fully connected) CPU implementations, linked into the table in conv_cpu.c. */
selsa_status selsa_linear_forward_cpu(selsa_ctx *ctx, selsa_tensor *out, const selsa_tensor *in,
                                      const selsa_tensor *weight, const float *bias,
                                      selsa_activation act);
selsa_status selsa_linear_backward_data_cpu(selsa_ctx *ctx, selsa_tensor *din,
                                            const selsa_tensor *dout, const selsa_tensor *weight);
selsa_status selsa_linear_backward_weight_cpu(selsa_ctx *ctx, selsa_tensor *dweight, float *dbias,
                                              const selsa_tensor *dout, const selsa_tensor *in);

#endif
