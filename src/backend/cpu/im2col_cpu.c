/* selsa — tiled im2col / col2im for the CPU convolution (layout in im2col_cpu.h).
 *
 * Per (channel, ki, kj, output row) the valid output columns [lo, hi) are computed once, so the
 * interior has no per-element bounds checks: stride 1 copies the interior with memcpy, other
 * strides gather with a fixed step; only the padding margins are zeroed. */
#include "backend/cpu/im2col_cpu.h"

#include <stdint.h>
#include <string.h>

/* Below this many column elements a tile is filled on one thread (OpenMP start-up would cost
 * more than it saves; im2col is memory-bound, see docs/BENCHMARKS.md). */
#define IM2COL_PAR_MIN ((int64_t)1 << 16)

/* Valid output columns [lo, hi) for kernel column kj: 0 <= ow·sw + off < w, off = kj·dw − pw. */
static inline void valid_cols(const selsa_conv_geom *g, int kj, int64_t *lo, int64_t *hi) {
    int64_t off = (int64_t)kj * g->dw - g->pw;
    int64_t l = off >= 0 ? 0 : (-off + g->sw - 1) / g->sw;
    int64_t last = g->w - 1 - off; /* largest ow·sw allowed */
    int64_t h = last >= 0 ? last / g->sw + 1 : 0;
    if (l > g->wo) l = g->wo;
    if (h > g->wo) h = g->wo;
    if (h < l) h = l;
    *lo = l, *hi = h;
}

void selsa_im2col_tile_cpu(const selsa_conv_geom *g, const float *in, int64_t oh0, int64_t oh1,
                           float *col) {
    const int64_t nrows = oh1 - oh0, wo = g->wo, ncols = nrows * wo;
    const int kh = g->kh, kw = g->kw, sw = g->sw;
    const int64_t total = g->c * kh * kw * ncols;
#pragma omp parallel for collapse(2) schedule(static) if (total >= IM2COL_PAR_MIN)
    for (int64_t c = 0; c < g->c; c++) {
        for (int ki = 0; ki < kh; ki++) {
            const float *plane = in + c * g->h * g->w;
            for (int kj = 0; kj < kw; kj++) {
                float *dst = col + ((c * kh + ki) * kw + kj) * ncols;
                int64_t lo, hi;
                valid_cols(g, kj, &lo, &hi);
                const int64_t off = (int64_t)kj * g->dw - g->pw;
                for (int64_t oh = oh0; oh < oh1; oh++, dst += wo) {
                    int64_t ih = oh * g->sh - g->ph + (int64_t)ki * g->dh;
                    if (ih < 0 || ih >= g->h) {
                        memset(dst, 0, (size_t)wo * sizeof(float));
                        continue;
                    }
                    const float *row = plane + ih * g->w; /* row[ow·sw + off] = in[c][ih][iw] */
                    if (lo > 0) memset(dst, 0, (size_t)lo * sizeof(float));
                    if (sw == 1) {
                        if (hi > lo) memcpy(dst + lo, row + lo + off, (size_t)(hi - lo) * sizeof(float));
                    } else if (sw == 2) { /* constant stride: vectorised (even-lane shuffles) */
                        const float *r = row + 2 * lo + off; /* first valid input pixel */
                        float *d = dst + lo;
                        for (int64_t i = 0; i < hi - lo; i++) d[i] = r[2 * i];
                    } else {
                        for (int64_t ow = lo; ow < hi; ow++) dst[ow] = row[ow * sw + off];
                    }
                    if (hi < wo) memset(dst + hi, 0, (size_t)(wo - hi) * sizeof(float));
                }
            }
        }
    }
}

void selsa_col2im_tile_cpu(const selsa_conv_geom *g, const float *col, int64_t oh0, int64_t oh1,
                           float *din) {
    const int64_t nrows = oh1 - oh0, wo = g->wo, ncols = nrows * wo;
    const int kh = g->kh, kw = g->kw, sw = g->sw;
    const int64_t total = g->c * kh * kw * ncols;
    /* Parallel over channels only: channel c's plane receives only rows of channel c. */
#pragma omp parallel for schedule(static) if (total >= IM2COL_PAR_MIN)
    for (int64_t c = 0; c < g->c; c++) {
        float *plane = din + c * g->h * g->w;
        for (int ki = 0; ki < kh; ki++) {
            for (int kj = 0; kj < kw; kj++) {
                const float *src = col + ((c * kh + ki) * kw + kj) * ncols;
                int64_t lo, hi;
                valid_cols(g, kj, &lo, &hi);
                const int64_t off = (int64_t)kj * g->dw - g->pw;
                for (int64_t oh = oh0; oh < oh1; oh++, src += wo) {
                    int64_t ih = oh * g->sh - g->ph + (int64_t)ki * g->dh;
                    if (ih < 0 || ih >= g->h) continue;
                    float *row = plane + ih * g->w;
                    if (sw == 1) {
                        for (int64_t ow = lo; ow < hi; ow++) row[ow + off] += src[ow];
                    } else {
                        for (int64_t ow = lo; ow < hi; ow++) row[ow * sw + off] += src[ow];
                    }
                }
            }
        }
    }
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* n items in tiles of at most t: the same number of tiles, sizes balanced. */
static int64_t balance(int64_t n, int64_t t) { return ceil_div(n, ceil_div(n, t)); }

selsa_conv_plan selsa_conv_plan_cpu(const selsa_conv_geom *g, size_t budget) {
    const int64_t kk = (int64_t)g->kh * g->kw, k = g->c * kk, wo = g->wo, ho = g->ho;
    const int64_t fb = (int64_t)sizeof(float);
    const int64_t bud = budget > (size_t)INT64_MAX ? INT64_MAX : (int64_t)budget;
    selsa_conv_plan pl = {ho, g->c};
    if (k * wo * ho * fb <= bud) return pl; /* 1. everything */
    int64_t rows = bud / (k * wo * fb);
    if (rows >= 1 && rows * wo >= SELSA_CONV_TILE_MIN_COLS) { /* 2. row tiles, full K */
        pl.rows = balance(ho, rows);
        return pl;
    }
    /* 3. channel chunks over tiles of >= MIN_COLS columns (as many such tiles as fit in ho) */
    int64_t min_rows = ceil_div(SELSA_CONV_TILE_MIN_COLS, wo);
    int64_t ntiles = ho / min_rows;
    rows = ntiles <= 1 ? ho : ceil_div(ho, ntiles);
    int64_t chans = bud / (kk * rows * wo * fb);
    if (chans >= 1) {
        pl.rows = rows;
        pl.chans = balance(g->c, chans < g->c ? chans : g->c);
        return pl;
    }
    rows = bud / (kk * wo * fb); /* 4. one channel, as many rows as fit */
    pl.rows = rows < 1 ? 1 : balance(ho, rows > ho ? ho : rows);
    pl.chans = 1;
    return pl;
}

size_t selsa_conv_plan_bytes(const selsa_conv_geom *g, selsa_conv_plan pl) {
    return (size_t)(pl.chans * g->kh * g->kw * pl.rows * g->wo) * sizeof(float);
}
