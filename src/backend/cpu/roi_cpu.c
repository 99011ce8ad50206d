/* CPU implementation of the RoI group: MXNet ROIPooling and mmcv/torchvision RoIAlign (avg).
 *
 * Determinism: every backward partitions the OUTPUT (dfeat) by channel, so no two threads write
 * the same element, and each element receives its contributions in the fixed order
 * (RoI, bin, sample) whatever the thread count. RoIAlign forward partitions its output the same
 * way, so forward results do not depend on the thread count either. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/roi_ops.h"

/* ---------------------------------------------------------------- ROIPooling (MXNet) ---- */

/* Integer RoI box on the feature grid (official-selsa.md §4.1). Products x*s are float32 as in
 * roi_pooling.cu (Dtype = float); roundf() rounds half away from zero like C round(). */
typedef struct {
    int b;          /* batch index; < 0 means "output 0" */
    int xs, ys;     /* rounded start */
    float bin_w, bin_h;
} pool_box;

static pool_box pool_box_of(const float *row, float s, int ph, int pw) {
    pool_box bx;
    bx.b = (int)row[0]; /* truncation toward zero, as the (int) conversion in MXNet */
    bx.xs = (int)roundf(row[1] * s);
    bx.ys = (int)roundf(row[2] * s);
    int xe = (int)roundf(row[3] * s);
    int ye = (int)roundf(row[4] * s);
    int rw = xe - bx.xs + 1, rh = ye - bx.ys + 1;
    if (rw < 1) rw = 1; /* malformed (x2 < x1) RoIs are forced to 1x1 */
    if (rh < 1) rh = 1;
    bx.bin_w = (float)rw / (float)pw;
    bx.bin_h = (float)rh / (float)ph;
    return bx;
}

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

static selsa_status roi_pool_forward_cpu(selsa_ctx *ctx, selsa_tensor *out, int32_t *argmax,
                                         const selsa_tensor *feat, const selsa_tensor *rois,
                                         float spatial_scale) {
    const int64_t R = rois->n, C = feat->c, H = feat->h, W = feat->w;
    const int ph = (int)out->h, pw = (int)out->w;
    const int64_t PP = (int64_t)ph * pw, HW = H * W;
    const float *X = feat->data, *B = rois->data;
    float *Y = out->data;
#pragma omp parallel for schedule(static)
    for (int64_t rc = 0; rc < R * C; rc++) {
        const int64_t r = rc / C, c = rc % C;
        const pool_box bx = pool_box_of(B + r * 5, spatial_scale, ph, pw);
        float *y = Y + rc * PP;
        int32_t *am = argmax + rc * PP;
        if (bx.b < 0) { /* MXNet: negative batch index -> zeros */
            for (int64_t i = 0; i < PP; i++) y[i] = 0.0f, am[i] = -1;
            continue;
        }
        const float *plane = X + ((int64_t)bx.b * C + c) * HW;
        for (int i = 0; i < ph; i++) {
            /* floor/ceil of float bin edges, then shift and clip to [0, H] */
            int hs = clampi((int)floorf((float)i * bx.bin_h) + bx.ys, 0, (int)H);
            int he = clampi((int)ceilf((float)(i + 1) * bx.bin_h) + bx.ys, 0, (int)H);
            for (int j = 0; j < pw; j++) {
                int ws = clampi((int)floorf((float)j * bx.bin_w) + bx.xs, 0, (int)W);
                int we = clampi((int)ceilf((float)(j + 1) * bx.bin_w) + bx.xs, 0, (int)W);
                const bool empty = he <= hs || we <= ws;
                float m = empty ? 0.0f : -FLT_MAX;
                int32_t idx = -1;
                for (int h = hs; h < he; h++)
                    for (int w = ws; w < we; w++) {
                        float v = plane[(int64_t)h * W + w];
                        if (v > m) m = v, idx = (int32_t)(h * W + w); /* first max wins */
                    }
                y[i * pw + j] = m;
                am[i * pw + j] = idx;
            }
        }
    }
    return SELSA_OK;
}

static selsa_status roi_pool_backward_cpu(selsa_ctx *ctx, selsa_tensor *dfeat,
                                          const selsa_tensor *dout, const int32_t *argmax,
                                          const selsa_tensor *rois) {
    const int64_t R = rois->n, N = dfeat->n, C = dfeat->c, HW = dfeat->h * dfeat->w;
    const int64_t PP = dout->h * dout->w;
    const float *B = rois->data, *G = dout->data;
    float *D = dfeat->data;
    /* One feature plane (b, c) per iteration; RoIs visited in order -> fixed summation order. */
#pragma omp parallel for schedule(static)
    for (int64_t bc = 0; bc < N * C; bc++) {
        const int64_t b = bc / C, c = bc % C;
        float *plane = D + bc * HW;
        for (int64_t r = 0; r < R; r++) {
            if ((int64_t)(int)B[r * 5] != b) continue;
            const int32_t *am = argmax + (r * C + c) * PP;
            const float *g = G + (r * C + c) * PP;
            for (int64_t i = 0; i < PP; i++)
                if (am[i] >= 0) plane[am[i]] += g[i];
        }
    }
    return SELSA_OK;
}

/* ------------------------------------------------------------ RoIAlign (mmcv, avg) ------ */

/* Per-RoI sampling geometry, float32 exactly as mmcv/torchvision compute it. */
typedef struct {
    float sx, sy;      /* start (feature coords, after the aligned -0.5 shift) */
    float bw, bh;      /* bin size (may be negative for x2 < x1 when aligned) */
    int32_t gw, gh;    /* samples per bin side; <= 0 means no samples */
    int32_t b;         /* batch index */
    float count;       /* max(gh*gw, 1): divisor of the average */
    int64_t first;     /* index of the RoI's first sample in the global enumeration */
} align_geom;

/* One bilinear sample: (RoI, bin) it belongs to, 4 taps in the plane, 4 weights.
 * pos[0] = -1 marks a sample outside [-1, H] x [-1, W] (contributes nothing). The samples of
 * one bin are consecutive in the enumeration (RoI, bin, iy, ix). */
typedef struct {
    int32_t r, bin;
    int32_t pos[4];
    float w[4];
} align_sample;

enum { ALIGN_PIECE = 8192 };           /* samples processed per piece (~320 KiB) */
#define ALIGN_MAX_SAMPLES_PER_ROI (1LL << 30)

static size_t align64(size_t n) { return (n + 63) / 64 * 64; }

size_t selsa_roi_align_scratch_bytes(int64_t R) {
    return align64((size_t)(R > 0 ? R : 0) * sizeof(align_geom)) +
           align64((size_t)ALIGN_PIECE * sizeof(align_sample)) + 128;
}

/* Fill geom[0..R) and return the total sample count in *total. */
static selsa_status align_geometry(const selsa_tensor *rois, const selsa_roi_align_params *p,
                                   align_geom *geom, int64_t *total) {
    const float s = p->spatial_scale, offset = p->aligned ? 0.5f : 0.0f;
    int64_t acc = 0;
    for (int64_t r = 0; r < rois->n; r++) {
        const float *row = rois->data + r * 5;
        align_geom *g = &geom[r];
        g->b = (int32_t)row[0];
        g->sx = row[1] * s - offset;
        g->sy = row[2] * s - offset;
        float ex = row[3] * s - offset, ey = row[4] * s - offset;
        float rw = ex - g->sx, rh = ey - g->sy;
        if (!p->aligned) { /* legacy mode: minimum RoI size 1 */
            rw = fmaxf(rw, 1.0f);
            rh = fmaxf(rh, 1.0f);
        }
        g->bh = rh / (float)p->pooled_h;
        g->bw = rw / (float)p->pooled_w;
        if (p->sampling_ratio > 0) {
            g->gh = g->gw = p->sampling_ratio;
        } else {
            /* adaptive: ceil(roi_size / pooled); guard absurd RoIs before the int cast */
            float fh = ceilf(rh / (float)p->pooled_h), fw = ceilf(rw / (float)p->pooled_w);
            if (fh > 65536.0f || fw > 65536.0f)
                return selsa_error(SELSA_ERR_UNSUPPORTED,
                                   "roi_align: RoI %lld is too large for adaptive sampling "
                                   "(%g x %g samples per bin)",
                                   (long long)r, (double)fh, (double)fw);
            g->gh = (int32_t)fh;
            g->gw = (int32_t)fw;
        }
        int64_t cnt = (int64_t)g->gh * g->gw; /* may be <= 0 or a product of two negatives */
        g->count = (float)(cnt > 1 ? cnt : 1);
        int64_t ns = (g->gh > 0 && g->gw > 0)
                         ? (int64_t)p->pooled_h * p->pooled_w * g->gh * g->gw : 0;
        if (ns > ALIGN_MAX_SAMPLES_PER_ROI)
            return selsa_error(SELSA_ERR_UNSUPPORTED, "roi_align: RoI %lld needs %lld samples",
                               (long long)r, (long long)ns);
        g->first = acc;
        acc += ns;
    }
    *total = acc;
    return SELSA_OK;
}

/* The RoI owning global sample s: the last r with geom[r].first <= s and samples > 0. */
static int64_t find_roi(const align_geom *geom, int64_t R, int64_t s) {
    int64_t lo = 0, hi = R - 1;
    while (lo < hi) {
        int64_t mid = (lo + hi + 1) / 2;
        if (geom[mid].first <= s) lo = mid; else hi = mid - 1;
    }
    /* RoIs with zero samples share `first` with the next one; bisection picks the last. */
    return lo;
}

/* Bilinear taps for (y, x) — mmcv / torchvision bilinear_interpolate, verbatim rules (the two
 * agree: mmcv common_cuda_helper.hpp and torchvision roi_align_kernel.cpp). Note: the
 * `y = y_low` reset in the y_low >= H-1 branch cannot change the result, because y_high ==
 * y_low there and the two row weights hy + ly = 1 land on the same pixel; kept for fidelity. */
static void bilinear_taps(int H, int W, float y, float x, align_sample *o) {
    if (y < -1.0f || y > (float)H || x < -1.0f || x > (float)W) { /* outside: empty */
        o->pos[0] = -1;
        return;
    }
    if (y <= 0) y = 0;
    if (x <= 0) x = 0;
    int yl = (int)y, xl = (int)x, yh, xh;
    if (yl >= H - 1) { yh = yl = H - 1; y = (float)yl; } else yh = yl + 1;
    if (xl >= W - 1) { xh = xl = W - 1; x = (float)xl; } else xh = xl + 1;
    float ly = y - (float)yl, lx = x - (float)xl, hy = 1.0f - ly, hx = 1.0f - lx;
    o->pos[0] = yl * W + xl; o->pos[1] = yl * W + xh;
    o->pos[2] = yh * W + xl; o->pos[3] = yh * W + xh;
    o->w[0] = hy * hx; o->w[1] = hy * lx; o->w[2] = ly * hx; o->w[3] = ly * lx;
}

/* Decode samples [s0, s1) into buf (parallel, disjoint writes). */
static void align_precompute(const align_geom *geom, int64_t R, const selsa_roi_align_params *p,
                             int H, int W, int64_t s0, int64_t s1, align_sample *buf) {
#pragma omp parallel for schedule(static)
    for (int64_t s = s0; s < s1; s++) {
        const int64_t r = find_roi(geom, R, s);
        const align_geom *g = &geom[r];
        int64_t local = s - g->first, per_bin = (int64_t)g->gh * g->gw;
        int64_t bin = local / per_bin, q = local % per_bin;
        int iy = (int)(q / g->gw), ix = (int)(q % g->gw);
        int i = (int)(bin / p->pooled_w), j = (int)(bin % p->pooled_w);
        /* same expression order as the reference kernels */
        float y = g->sy + (float)i * g->bh + ((float)iy + 0.5f) * g->bh / (float)g->gh;
        float x = g->sx + (float)j * g->bw + ((float)ix + 0.5f) * g->bw / (float)g->gw;
        align_sample *o = &buf[s - s0];
        o->r = (int32_t)r;
        o->bin = (int32_t)bin;
        bilinear_taps(H, W, y, x, o);
    }
}

typedef struct {
    align_geom *geom;
    align_sample *buf;
    int64_t total;
} align_plan;

static selsa_status align_plan_make(selsa_ctx *ctx, const selsa_tensor *rois,
                                    const selsa_roi_align_params *p, align_plan *pl) {
    void *g = NULL, *b = NULL;
    SELSA_TRY(selsa_arena_alloc(&ctx->scratch, (size_t)rois->n * sizeof(align_geom), &g));
    SELSA_TRY(selsa_arena_alloc(&ctx->scratch, (size_t)ALIGN_PIECE * sizeof(align_sample), &b));
    pl->geom = g;
    pl->buf = b;
    return align_geometry(rois, p, pl->geom, &pl->total);
}

static selsa_status roi_align_forward_cpu(selsa_ctx *ctx, selsa_tensor *out,
                                          const selsa_tensor *feat, const selsa_tensor *rois,
                                          const selsa_roi_align_params *p) {
    const int64_t R = rois->n, C = feat->c, HW = feat->h * feat->w;
    const int64_t PP = (int64_t)p->pooled_h * p->pooled_w;
    if (R == 0 || C == 0) return SELSA_OK;
    const size_t mark = selsa_arena_mark(&ctx->scratch);
    align_plan pl;
    selsa_status st = align_plan_make(ctx, rois, p, &pl);
    if (st != SELSA_OK) {
        selsa_arena_rewind(&ctx->scratch, mark);
        return st;
    }
    float *Y = out->data;
    const float *X = feat->data;
    memset(Y, 0, (size_t)selsa_tensor_numel(out) * sizeof(float));
    for (int64_t s0 = 0; s0 < pl.total; s0 += ALIGN_PIECE) {
        const int64_t s1 = s0 + ALIGN_PIECE < pl.total ? s0 + ALIGN_PIECE : pl.total;
        align_precompute(pl.geom, R, p, (int)feat->h, (int)feat->w, s0, s1, pl.buf);
        const align_sample *buf = pl.buf;
        const align_geom *geom = pl.geom;
        /* each thread owns channel c of every output RoI -> disjoint writes, fixed order */
#pragma omp parallel for schedule(static)
        for (int64_t c = 0; c < C; c++) {
            const int64_t n = s1 - s0;
            int64_t k = 0;
            while (k < n) {
                /* one run = the samples of one (RoI, bin) inside this piece; summed in a
                 * register from 0 in sample order, as the reference's output_val */
                const int32_t r = buf[k].r, bin = buf[k].bin;
                const float *plane = X + ((int64_t)geom[r].b * C + c) * HW;
                float acc = 0.0f;
                do {
                    const align_sample *o = &buf[k];
                    if (o->pos[0] >= 0)
                        acc += o->w[0] * plane[o->pos[0]] + o->w[1] * plane[o->pos[1]] +
                               o->w[2] * plane[o->pos[2]] + o->w[3] * plane[o->pos[3]];
                    k++;
                } while (k < n && buf[k].r == r && buf[k].bin == bin);
                Y[((int64_t)r * C + c) * PP + bin] += acc;
            }
        }
    }
    /* average: divide each bin's sum by count = max(gh*gw, 1) */
    const align_geom *geom = pl.geom;
#pragma omp parallel for schedule(static)
    for (int64_t rc = 0; rc < R * C; rc++) {
        const float cnt = geom[rc / C].count;
        for (int64_t i = 0; i < PP; i++) Y[rc * PP + i] /= cnt;
    }
    selsa_arena_rewind(&ctx->scratch, mark);
    return SELSA_OK;
}

static selsa_status roi_align_backward_cpu(selsa_ctx *ctx, selsa_tensor *dfeat,
                                           const selsa_tensor *dout, const selsa_tensor *rois,
                                           const selsa_roi_align_params *p) {
    const int64_t R = rois->n, C = dfeat->c, HW = dfeat->h * dfeat->w;
    const int64_t PP = (int64_t)p->pooled_h * p->pooled_w;
    if (R == 0 || C == 0) return SELSA_OK;
    const size_t mark = selsa_arena_mark(&ctx->scratch);
    align_plan pl;
    selsa_status st = align_plan_make(ctx, rois, p, &pl);
    if (st != SELSA_OK) {
        selsa_arena_rewind(&ctx->scratch, mark);
        return st;
    }
    const float *G = dout->data;
    float *D = dfeat->data;
    for (int64_t s0 = 0; s0 < pl.total; s0 += ALIGN_PIECE) {
        const int64_t s1 = s0 + ALIGN_PIECE < pl.total ? s0 + ALIGN_PIECE : pl.total;
        align_precompute(pl.geom, R, p, (int)dfeat->h, (int)dfeat->w, s0, s1, pl.buf);
        const align_sample *buf = pl.buf;
        const align_geom *geom = pl.geom;
        /* each thread owns the planes (b, c) of channel c -> no two threads write one element */
#pragma omp parallel for schedule(static)
        for (int64_t c = 0; c < C; c++) {
            for (int64_t k = 0; k < s1 - s0; k++) {
                const align_sample *o = &buf[k];
                if (o->pos[0] < 0) continue;
                const align_geom *g = &geom[o->r];
                float gr = G[((int64_t)o->r * C + c) * PP + o->bin] / g->count;
                float *plane = D + ((int64_t)g->b * C + c) * HW;
                plane[o->pos[0]] += gr * o->w[0];
                plane[o->pos[1]] += gr * o->w[1];
                plane[o->pos[2]] += gr * o->w[2];
                plane[o->pos[3]] += gr * o->w[3];
            }
        }
    }
    selsa_arena_rewind(&ctx->scratch, mark);
    return SELSA_OK;
}

const struct selsa_roi_ops selsa_cpu_roi_ops = {
    .roi_pool_forward = roi_pool_forward_cpu,
    .roi_pool_backward = roi_pool_backward_cpu,
    .roi_align_forward = roi_align_forward_cpu,
    .roi_align_backward = roi_align_backward_cpu,
};
