/* selsa — CPU convolution: im2col + OpenBLAS sgemm in NCHW, forward and backward, and the CPU
 * dense op table.
 *
 * Per frame n and group g (Cin_g = Cin/G, Cout_g = Cout/G, K = Cin_g·kh·kw):
 *   forward        out_g[Cout_g × Ho·Wo]  = W_g[Cout_g × K] · col[K × Ho·Wo], then one fused
 *                  epilogue pass (bias, ReLU) over each output tile while it is in cache
 *   backward data  col = W_gᵀ · dout_g, then din_g += col2im(col)
 *   backward wt    dW_g += dout_g · colᵀ;  dbias += row sums of dout (double accumulation)
 * The column buffer is tiled by output rows, and for deep K also by input channels (at most
 * SELSA_CONV2D_COL_BUDGET bytes and never more than the scratch arena has left; policy in
 * selsa_conv_plan_cpu). A tile of rows [oh0, oh1) is a contiguous column range [oh0·Wo, oh1·Wo)
 * of every output channel, so the GEMM writes NCHW output in place with ldc = Ho·Wo; channel
 * chunks [c0, c1) are the K-slice W_g[:, c0·kh·kw : c1·kh·kw] (lda = K) and their forward GEMMs
 * accumulate (beta = 1 after the first), their backward GEMMs touch disjoint din channels /
 * dW columns. Tiles and frames run in a fixed order: results are deterministic at a fixed
 * thread count. A 1×1 stride-1 pad-0 conv needs no columns (the input is the column matrix).
 * A 1×1 stride-2 conv goes through the same tiled path, where im2col is a cheap strided gather
 * (K = Cin rows, a quarter of the input). */
#include <stdbool.h>

#include "backend/backend.h"
#include "backend/cpu/blas_cpu.h"
#include "backend/cpu/im2col_cpu.h"
#include "backend/dense_ops.h"

/* Epilogue over nch channel rows of ncols values each, row stride ld: v = act(v + bias[c]). */
static void conv_epilogue(float *out, int64_t nch, int64_t ld, int64_t ncols, const float *bias,
                          selsa_activation act) {
    if (!bias && act == SELSA_ACT_NONE) return;
    const bool relu = act == SELSA_ACT_RELU;
#pragma omp parallel for schedule(static) if (nch * ncols >= ((int64_t)1 << 15))
    for (int64_t c = 0; c < nch; c++) {
        float *row = out + c * ld;
        const float b = bias ? bias[c] : 0.0f;
        if (relu) {
            for (int64_t j = 0; j < ncols; j++) {
                float v = row[j] + b;
                row[j] = v > 0.0f ? v : 0.0f;
            }
        } else {
            for (int64_t j = 0; j < ncols; j++) row[j] += b;
        }
    }
}

static selsa_conv_geom make_geom(const selsa_tensor *in, const selsa_tensor *weight,
                                 const selsa_conv2d_params *p, int64_t ho, int64_t wo) {
    selsa_conv_geom g = {
        .c = in->c / p->groups, .h = in->h, .w = in->w, .ho = ho, .wo = wo,
        .kh = (int)weight->h, .kw = (int)weight->w, .sh = p->stride_h, .sw = p->stride_w,
        .ph = p->pad_h, .pw = p->pad_w, .dh = p->dilation_h, .dw = p->dilation_w,
    };
    return g;
}

/* 1×1, stride 1, pad 0: the input plane is already the column matrix (dilation is irrelevant). */
static bool is_direct(const selsa_conv_geom *g) {
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
}

size_t selsa_conv2d_col_bytes_cpu(const selsa_conv_geom *g) {
    if (is_direct(g)) return 0;
    size_t bytes = selsa_conv_plan_bytes(g, selsa_conv_plan_cpu(g, SELSA_CONV2D_COL_BUDGET));
    return (bytes + SELSA_ARENA_ALIGN - 1) / SELSA_ARENA_ALIGN * SELSA_ARENA_ALIGN;
}

/* Take the column tile from the scratch arena, planned for min(SELSA_CONV2D_COL_BUDGET, what
 * the arena has left) (at worst one channel × one row, else the arena's OUT_OF_MEMORY).
 * *col is NULL on a measuring arena: the caller then only records the need and returns. */
static selsa_status alloc_col(selsa_ctx *ctx, const selsa_conv_geom *g, selsa_conv_plan *pl,
                              float **col) {
    selsa_arena *a = &ctx->scratch;
    size_t budget = SELSA_CONV2D_COL_BUDGET;
    if (!a->measuring) {
        size_t left = a->capacity - a->used;
        if (left < budget) budget = left;
    }
    *pl = selsa_conv_plan_cpu(g, budget);
    void *p = NULL;
    selsa_status s = selsa_arena_alloc(a, selsa_conv_plan_bytes(g, *pl), &p);
    if (s != SELSA_OK)
        return selsa_error_context(s, "conv2d column buffer (at least %d x %lld floats; reserve "
                                   "selsa_conv2d_scratch_bytes() in the scratch arena): ",
                                   g->kh * g->kw, (long long)g->wo);
    *col = p;
    return SELSA_OK;
}

#define TRY_REWIND(expr)                                \
    do {                                                \
        selsa_status s_ = (expr);                       \
        if (s_ != SELSA_OK) {                           \
            selsa_arena_rewind(&ctx->scratch, mark);    \
            return s_;                                  \
        }                                               \
    } while (0)

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

static selsa_status conv2d_forward_cpu(selsa_ctx *ctx, selsa_tensor *out, const selsa_tensor *in,
                                       const selsa_tensor *weight, const float *bias,
                                       const selsa_conv2d_params *p, selsa_activation act) {
    const selsa_conv_geom g = make_geom(in, weight, p, out->h, out->w);
    const int64_t G = p->groups, cout = out->c, cout_g = cout / G, kk = g.kh * g.kw, k = g.c * kk;
    const int64_t hw = g.h * g.w, hwo = g.ho * g.wo;
    if (is_direct(&g)) {
        if (ctx->scratch.measuring) return SELSA_OK;
        for (int64_t n = 0; n < in->n; n++) {
            for (int64_t gi = 0; gi < G; gi++) {
                SELSA_TRY(selsa_sgemm_cpu(false, false, cout_g, hwo, k, 1.0f,
                                          weight->data + gi * cout_g * k, k,
                                          in->data + (n * in->c + gi * g.c) * hw, hw, 0.0f,
                                          out->data + (n * cout + gi * cout_g) * hwo, hwo));
            }
            conv_epilogue(out->data + n * cout * hwo, cout, hwo, hwo, bias, act);
        }
        return SELSA_OK;
    }
    const size_t mark = selsa_arena_mark(&ctx->scratch);
    selsa_conv_plan pl;
    float *col = NULL;
    TRY_REWIND(alloc_col(ctx, &g, &pl, &col));
    if (!col) { /* measuring arena: the need is recorded (peak), nothing is computed */
        selsa_arena_rewind(&ctx->scratch, mark);
        return SELSA_OK;
    }
    for (int64_t n = 0; n < in->n; n++) {
        for (int64_t gi = 0; gi < G; gi++) {
            const float *in_g = in->data + (n * in->c + gi * g.c) * hw;
            const float *w_g = weight->data + gi * cout_g * k;
            float *out_g = out->data + (n * cout + gi * cout_g) * hwo;
            for (int64_t oh0 = 0; oh0 < g.ho; oh0 += pl.rows) {
                const int64_t oh1 = min64(oh0 + pl.rows, g.ho), ncols = (oh1 - oh0) * g.wo;
                for (int64_t c0 = 0; c0 < g.c; c0 += pl.chans) { /* channel chunk [c0, c0+gc.c) */
                    selsa_conv_geom gc = g;
                    gc.c = min64(pl.chans, g.c - c0);
                    selsa_im2col_tile_cpu(&gc, in_g + c0 * hw, oh0, oh1, col);
                    /* out tile (+)= W_g[:, chunk] · col; the first chunk overwrites */
                    TRY_REWIND(selsa_sgemm_cpu(false, false, cout_g, ncols, gc.c * kk, 1.0f,
                                               w_g + c0 * kk, k, col, ncols, c0 == 0 ? 0.0f : 1.0f,
                                               out_g + oh0 * g.wo, hwo));
                    if (c0 + gc.c == g.c)
                        conv_epilogue(out_g + oh0 * g.wo, cout_g, hwo, ncols,
                                      bias ? bias + gi * cout_g : NULL, act);
                }
            }
        }
    }
    selsa_arena_rewind(&ctx->scratch, mark);
    return SELSA_OK;
}

static selsa_status conv2d_backward_data_cpu(selsa_ctx *ctx, selsa_tensor *din,
                                             const selsa_tensor *dout, const selsa_tensor *weight,
                                             const selsa_conv2d_params *p) {
    const selsa_conv_geom g = make_geom(din, weight, p, dout->h, dout->w);
    const int64_t G = p->groups, cout = dout->c, cout_g = cout / G, kk = g.kh * g.kw, k = g.c * kk;
    const int64_t hw = g.h * g.w, hwo = g.ho * g.wo;
    if (is_direct(&g)) {
        if (ctx->scratch.measuring) return SELSA_OK;
        for (int64_t n = 0; n < din->n; n++)
            for (int64_t gi = 0; gi < G; gi++)
                SELSA_TRY(selsa_sgemm_cpu(true, false, g.c, hw, cout_g, 1.0f,
                                          weight->data + gi * cout_g * k, k,
                                          dout->data + (n * cout + gi * cout_g) * hwo, hwo, 1.0f,
                                          din->data + (n * din->c + gi * g.c) * hw, hw));
        return SELSA_OK;
    }
    const size_t mark = selsa_arena_mark(&ctx->scratch);
    selsa_conv_plan pl;
    float *col = NULL;
    TRY_REWIND(alloc_col(ctx, &g, &pl, &col));
    if (!col) {
        selsa_arena_rewind(&ctx->scratch, mark);
        return SELSA_OK;
    }
    for (int64_t n = 0; n < din->n; n++) {
        for (int64_t gi = 0; gi < G; gi++) {
            float *din_g = din->data + (n * din->c + gi * g.c) * hw;
            const float *w_g = weight->data + gi * cout_g * k;
            const float *dout_g = dout->data + (n * cout + gi * cout_g) * hwo;
            for (int64_t oh0 = 0; oh0 < g.ho; oh0 += pl.rows) {
                const int64_t oh1 = min64(oh0 + pl.rows, g.ho), ncols = (oh1 - oh0) * g.wo;
                for (int64_t c0 = 0; c0 < g.c; c0 += pl.chans) { /* channel chunk [c0, c0+gc.c) */
                    selsa_conv_geom gc = g;
                    gc.c = min64(pl.chans, g.c - c0);
                    /* col[K_chunk × ncols] = W_g[:, chunk]ᵀ · dout_g[:, tile] */
                    TRY_REWIND(selsa_sgemm_cpu(true, false, gc.c * kk, ncols, cout_g, 1.0f, w_g + c0 * kk,
                                               k, dout_g + oh0 * g.wo, hwo, 0.0f, col, ncols));
                    selsa_col2im_tile_cpu(&gc, col, oh0, oh1, din_g + c0 * hw);
                }
            }
        }
    }
    selsa_arena_rewind(&ctx->scratch, mark);
    return SELSA_OK;
}

/* dbias[c] += Σ_{n, j} dout[n][c][j], accumulated in double per channel (fixed order). */
static void conv_bias_grad(float *dbias, const selsa_tensor *dout) {
    const int64_t hwo = dout->h * dout->w, cout = dout->c, nn = dout->n;
#pragma omp parallel for schedule(static) if (cout * nn * hwo >= ((int64_t)1 << 15))
    for (int64_t c = 0; c < cout; c++) {
        double s = 0.0;
        for (int64_t n = 0; n < nn; n++) {
            const float *row = dout->data + (n * cout + c) * hwo;
            float part[8] = {0}; /* 8 float lanes over <= 8-element strides, then double */
            int64_t j = 0;
            for (; j + 8 <= hwo; j += 8)
                for (int l = 0; l < 8; l++) part[l] += row[j + l];
            double rs = 0.0;
            for (int l = 0; l < 8; l++) rs += part[l];
            for (; j < hwo; j++) rs += row[j];
            s += rs;
        }
        dbias[c] += (float)s;
    }
}

static selsa_status conv2d_backward_weight_cpu(selsa_ctx *ctx, selsa_tensor *dweight, float *dbias,
                                               const selsa_tensor *dout, const selsa_tensor *in,
                                               const selsa_conv2d_params *p) {
    const selsa_conv_geom g = make_geom(in, dweight, p, dout->h, dout->w);
    const int64_t G = p->groups, cout = dout->c, cout_g = cout / G, kk = g.kh * g.kw, k = g.c * kk;
    const int64_t hw = g.h * g.w, hwo = g.ho * g.wo;
    const size_t mark = selsa_arena_mark(&ctx->scratch);
    float *col = NULL;
    selsa_conv_plan pl = {g.ho, g.c};
    const bool direct = is_direct(&g);
    if (!direct) {
        TRY_REWIND(alloc_col(ctx, &g, &pl, &col));
        if (!col) {
            selsa_arena_rewind(&ctx->scratch, mark);
            return SELSA_OK;
        }
    } else if (ctx->scratch.measuring) {
        return SELSA_OK;
    }
    for (int64_t n = 0; n < in->n; n++) {
        for (int64_t gi = 0; gi < G; gi++) {
            const float *in_g = in->data + (n * in->c + gi * g.c) * hw;
            const float *dout_g = dout->data + (n * cout + gi * cout_g) * hwo;
            float *dw_g = dweight->data + gi * cout_g * k;
            if (direct) { /* dW_g[Cout_g × Cin_g] += dout_g · in_gᵀ */
                TRY_REWIND(selsa_sgemm_cpu(false, true, cout_g, k, hwo, 1.0f, dout_g, hwo, in_g, hw,
                                           1.0f, dw_g, k));
                continue;
            }
            for (int64_t oh0 = 0; oh0 < g.ho; oh0 += pl.rows) {
                const int64_t oh1 = min64(oh0 + pl.rows, g.ho), ncols = (oh1 - oh0) * g.wo;
                for (int64_t c0 = 0; c0 < g.c; c0 += pl.chans) { /* channel chunk [c0, c0+gc.c) */
                    selsa_conv_geom gc = g;
                    gc.c = min64(pl.chans, g.c - c0);
                    selsa_im2col_tile_cpu(&gc, in_g + c0 * hw, oh0, oh1, col);
                    /* dW_g[:, chunk] += dout_g[:, tile] · colᵀ */
                    TRY_REWIND(selsa_sgemm_cpu(false, true, cout_g, gc.c * kk, ncols, 1.0f,
                                               dout_g + oh0 * g.wo, hwo, col, ncols, 1.0f,
                                               dw_g + c0 * kk, k));
                }
            }
        }
    }
    if (dbias) conv_bias_grad(dbias, dout);
    selsa_arena_rewind(&ctx->scratch, mark);
    return SELSA_OK;
}

/* The CPU table of the dense group (referenced weakly by backend_cpu.c). */
const struct selsa_dense_ops selsa_cpu_dense_ops = {
    .conv2d_forward = conv2d_forward_cpu,
    .conv2d_backward_data = conv2d_backward_data_cpu,
    .conv2d_backward_weight = conv2d_backward_weight_cpu,
    .linear_forward = selsa_linear_forward_cpu,
    .linear_backward_data = selsa_linear_backward_data_cpu,
    .linear_backward_weight = selsa_linear_backward_weight_cpu,
};
