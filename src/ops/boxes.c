/* Host box math: anchors (MXNet, mmdet), box coding (+1 MXNet/official, mmdet DeltaXYWH),
 * clipping, rescaling, IoU matrices and the stable descending arg-sort used by every NMS.
 * Specs: official-selsa.md §3.2, §3.3, §5; mmtracking-selsa.md §2.6. These run on host memory,
 * need no scratch and are not dispatched. */
#include <math.h>
#include <string.h>

#include "backend/box_ops.h"
#include "selsa/boxes.h"

/* ------------------------------------------------------------------------ anchors ---- */

static selsa_status check_anchor_args(const char *fn, const float *anchors, const float *ratios,
                                      int n_ratios, const float *scales, int n_scales) {
    if (!anchors) return selsa_error(SELSA_ERR_INVALID_ARG, "%s: anchors is NULL", fn);
    if (!ratios || n_ratios <= 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: need at least one ratio (got %d)", fn,
                           n_ratios);
    if (!scales || n_scales <= 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: need at least one scale (got %d)", fn,
                           n_scales);
    for (int i = 0; i < n_ratios; i++)
        if (!(ratios[i] > 0) || !isfinite(ratios[i]))
            return selsa_error(SELSA_ERR_INVALID_ARG, "%s: ratio %d is %g, must be > 0", fn, i,
                               (double)ratios[i]);
    for (int i = 0; i < n_scales; i++)
        if (!(scales[i] > 0) || !isfinite(scales[i]))
            return selsa_error(SELSA_ERR_INVALID_ARG, "%s: scale %d is %g, must be > 0", fn, i,
                               (double)scales[i]);
    return SELSA_OK;
}

selsa_status selsa_anchors_mxnet(float *anchors, int base_size, const float *ratios, int n_ratios,
                                 const float *scales, int n_scales) {
    SELSA_TRY(check_anchor_args("selsa_anchors_mxnet", anchors, ratios, n_ratios, scales,
                                n_scales));
    if (base_size <= 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_anchors_mxnet: base_size %d must be > 0",
                           base_size);
    /* proposal-inl.h::_Transform, float32 with the double sub-expressions of the C++ source */
    float w = (float)(base_size - 1) - 0.0f + 1.0f, h = w;
    float x_ctr = (float)(0.0 + 0.5 * (w - 1.0f)), y_ctr = (float)(0.0 + 0.5 * (h - 1.0f));
    float size = w * h;
    for (int i = 0; i < n_ratios; i++) {
        for (int j = 0; j < n_scales; j++) {
            float r = ratios[i], s = scales[j];
            float size_ratios = floorf(size / r);
            float new_w = floorf(sqrtf(size_ratios) + 0.5f) * s;
            float new_h = floorf((new_w / s * r) + 0.5f) * s;
            float *o = anchors + 4 * (i * n_scales + j);
            o[0] = x_ctr - 0.5f * (new_w - 1.0f);
            o[1] = y_ctr - 0.5f * (new_h - 1.0f);
            o[2] = x_ctr + 0.5f * (new_w - 1.0f);
            o[3] = y_ctr + 0.5f * (new_h - 1.0f);
        }
    }
    return SELSA_OK;
}

selsa_status selsa_anchors_mmdet(float *anchors, float base_size, const float *ratios,
                                 int n_ratios, const float *scales, int n_scales) {
    SELSA_TRY(check_anchor_args("selsa_anchors_mmdet", anchors, ratios, n_ratios, scales,
                                n_scales));
    if (!(base_size > 0))
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_anchors_mmdet: base_size %g must be > 0",
                           (double)base_size);
    /* float32 torch ops in mmdet's order: ws = (w * w_ratios) * scales; centre 0, so
     * x1 = 0 - 0.5*ws = -(0.5*ws) exactly. */
    for (int i = 0; i < n_ratios; i++) {
        float h_ratio = sqrtf(ratios[i]);
        float w_ratio = 1.0f / h_ratio;
        for (int j = 0; j < n_scales; j++) {
            float ws = base_size * w_ratio * scales[j];
            float hs = base_size * h_ratio * scales[j];
            float *o = anchors + 4 * (i * n_scales + j);
            o[0] = 0.0f - 0.5f * ws;
            o[1] = 0.0f - 0.5f * hs;
            o[2] = 0.0f + 0.5f * ws;
            o[3] = 0.0f + 0.5f * hs;
        }
    }
    return SELSA_OK;
}

void selsa_anchors_shift(float *out, const float *base, int A, int H, int W, float stride) {
    for (int y = 0; y < H; y++) {
        float sy = (float)y * stride;
        for (int x = 0; x < W; x++) {
            float sx = (float)x * stride;
            float *o = out + ((int64_t)y * W + x) * A * 4;
            for (int a = 0; a < A; a++) {
                o[4 * a + 0] = base[4 * a + 0] + sx;
                o[4 * a + 1] = base[4 * a + 1] + sy;
                o[4 * a + 2] = base[4 * a + 2] + sx;
                o[4 * a + 3] = base[4 * a + 3] + sy;
            }
        }
    }
}

/* --------------------------------------------------------------------- box coding ---- */

void selsa_bbox_encode_mxnet(float *deltas, const float *boxes, const float *gt, int64_t n,
                             const float means[4], const float stds[4]) {
    for (int64_t i = 0; i < n; i++) {
        const float *b = boxes + 4 * i, *g = gt + 4 * i;
        double w = (double)b[2] - b[0] + 1.0, h = (double)b[3] - b[1] + 1.0;
        double cx = b[0] + 0.5 * (w - 1.0), cy = b[1] + 0.5 * (h - 1.0);
        double gw = (double)g[2] - g[0] + 1.0, gh = (double)g[3] - g[1] + 1.0;
        double gcx = g[0] + 0.5 * (gw - 1.0), gcy = g[1] + 0.5 * (gh - 1.0);
        /* bbox_transform.py: (gt_ctr - ex_ctr) / (ex_w + 1e-14), log(gt_w / ex_w) */
        double t[4] = {(gcx - cx) / (w + 1e-14), (gcy - cy) / (h + 1e-14), log(gw / w),
                       log(gh / h)};
        for (int k = 0; k < 4; k++) {
            double m = means ? means[k] : 0.0, s = stds ? stds[k] : 1.0;
            deltas[4 * i + k] = (float)((t[k] - m) / s);
        }
    }
}

void selsa_bbox_decode_mxnet(float *out, const float *boxes, const float *deltas, int64_t n,
                             int k) {
    for (int64_t i = 0; i < n; i++) {
        const float *b = boxes + 4 * i;
        double w = (double)b[2] - b[0] + 1.0, h = (double)b[3] - b[1] + 1.0;
        double cx = b[0] + 0.5 * (w - 1.0), cy = b[1] + 0.5 * (h - 1.0);
        for (int c = 0; c < k; c++) {
            const float *d = deltas + (i * k + c) * 4;
            double dx = d[0], dy = d[1], dw = d[2], dh = d[3]; /* read before out may alias */
            double pcx = dx * w + cx, pcy = dy * h + cy;
            double pw = exp(dw) * w, ph = exp(dh) * h;
            float *o = out + (i * k + c) * 4;
            o[0] = (float)(pcx - 0.5 * (pw - 1.0));
            o[1] = (float)(pcy - 0.5 * (ph - 1.0));
            o[2] = (float)(pcx + 0.5 * (pw - 1.0));
            o[3] = (float)(pcy + 0.5 * (ph - 1.0));
        }
    }
}

void selsa_bbox_encode_mmdet(float *deltas, const float *boxes, const float *gt, int64_t n,
                             const float means[4], const float stds[4]) {
    for (int64_t i = 0; i < n; i++) {
        const float *p = boxes + 4 * i, *g = gt + 4 * i;
        float px = (p[0] + p[2]) * 0.5f, py = (p[1] + p[3]) * 0.5f;
        float pw = p[2] - p[0], ph = p[3] - p[1];
        float gx = (g[0] + g[2]) * 0.5f, gy = (g[1] + g[3]) * 0.5f;
        float gw = g[2] - g[0], gh = g[3] - g[1];
        float t[4] = {(gx - px) / pw, (gy - py) / ph, (float)log((double)(gw / pw)),
                      (float)log((double)(gh / ph))};
        for (int k = 0; k < 4; k++) {
            float m = means ? means[k] : 0.0f, s = stds ? stds[k] : 1.0f;
            deltas[4 * i + k] = (t[k] - m) / s; /* deltas.sub_(means).div_(stds) */
        }
    }
}

void selsa_bbox_decode_mmdet(float *out, const float *boxes, const float *deltas, int64_t n, int k,
                             const float means[4], const float stds[4], float wh_ratio_clip,
                             float max_h, float max_w) {
    static const float zero4[4] = {0, 0, 0, 0}, one4[4] = {1, 1, 1, 1};
    if (!means) means = zero4;
    if (!stds) stds = one4;
    /* max_ratio = |ln(wh_ratio_clip)| in double (np.log), then a float32 clamp bound as torch */
    float max_ratio = (float)fabs(log((double)wh_ratio_clip));
    bool clip = max_w > 0 && max_h > 0;
    for (int64_t i = 0; i < n; i++) {
        const float *b = boxes + 4 * i;
        float px = (b[0] + b[2]) * 0.5f, py = (b[1] + b[3]) * 0.5f;
        float pw = b[2] - b[0], ph = b[3] - b[1];
        for (int c = 0; c < k; c++) {
            const float *d = deltas + (i * k + c) * 4;
            float dx = d[0] * stds[0] + means[0], dy = d[1] * stds[1] + means[1];
            float dw = d[2] * stds[2] + means[2], dh = d[3] * stds[3] + means[3];
            dw = dw < -max_ratio ? -max_ratio : (dw > max_ratio ? max_ratio : dw);
            dh = dh < -max_ratio ? -max_ratio : (dh > max_ratio ? max_ratio : dh);
            float gx = px + pw * dx, gy = py + ph * dy;
            float gw = pw * (float)exp((double)dw), gh = ph * (float)exp((double)dh);
            float x1 = gx - gw * 0.5f, y1 = gy - gh * 0.5f;
            float x2 = gx + gw * 0.5f, y2 = gy + gh * 0.5f;
            if (clip) { /* torch clamp_(min=0, max=m) = min(max(v, 0), m) */
                x1 = fminf(fmaxf(x1, 0.0f), max_w), x2 = fminf(fmaxf(x2, 0.0f), max_w);
                y1 = fminf(fmaxf(y1, 0.0f), max_h), y2 = fminf(fmaxf(y2, 0.0f), max_h);
            }
            float *o = out + (i * k + c) * 4;
            o[0] = x1, o[1] = y1, o[2] = x2, o[3] = y2;
        }
    }
}

void selsa_bbox_clip(float *boxes, int64_t n, float x_max, float y_max) {
    for (int64_t i = 0; i < n; i++) {
        float *b = boxes + 4 * i;
        /* MXNet: max(min(v, lim), 0) */
        b[0] = fmaxf(fminf(b[0], x_max), 0.0f);
        b[1] = fmaxf(fminf(b[1], y_max), 0.0f);
        b[2] = fmaxf(fminf(b[2], x_max), 0.0f);
        b[3] = fmaxf(fminf(b[3], y_max), 0.0f);
    }
}

void selsa_bbox_rescale(float *boxes, int64_t n, const float scale[4]) {
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < 4; k++) boxes[4 * i + k] /= scale[k];
}

void selsa_iou_matrix(float *iou, const float *a, int64_t na, const float *b, int64_t nb,
                      float off) {
#pragma omp parallel for schedule(static) if (na * nb > 65536)
    for (int64_t i = 0; i < na; i++) {
        const float *p = a + 4 * i;
        float area_a = (p[2] - p[0] + off) * (p[3] - p[1] + off);
        float *row = iou + i * nb;
        for (int64_t j = 0; j < nb; j++) {
            const float *q = b + 4 * j;
            float area_b = (q[2] - q[0] + off) * (q[3] - q[1] + off);
            float xx1 = p[0] > q[0] ? p[0] : q[0], yy1 = p[1] > q[1] ? p[1] : q[1];
            float xx2 = p[2] < q[2] ? p[2] : q[2], yy2 = p[3] < q[3] ? p[3] : q[3];
            float w = xx2 - xx1 + off, h = yy2 - yy1 + off;
            w = w > 0.0f ? w : 0.0f;
            h = h > 0.0f ? h : 0.0f;
            float inter = w * h;
            float uni = area_a + area_b - inter;
            row[j] = uni > 0.0f ? inter / uni : 0.0f;
        }
    }
}

/* ------------------------------------------------------------------------ arg-sort ---- */

size_t selsa_argsort_scratch_bytes(int64_t n) { return (size_t)(n > 0 ? n : 0) * 12 + 64; }

/* Order-preserving map float -> uint32 for a DESCENDING sort: larger score, smaller key.
 * -0 == +0; every NaN maps to the largest key (sorts last). */
static inline uint32_t desc_key(float f) {
    if (isnan(f)) return 0xFFFFFFFFu;
    if (f == 0.0f) f = 0.0f;
    uint32_t u;
    memcpy(&u, &f, 4);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u); /* ascending key */
    return ~u;
}

/* LSD radix sort (3 passes of 11 bits) of keys carrying indices: stable, so equal keys keep the
 * initial order: ascending index, or descending index when ties_descending. */
void selsa_box_argsort_desc(const float *scores, int64_t n, int32_t *order, void *tmp,
                            bool ties_descending) {
    if (n <= 0) return;
    uint32_t *k0 = (uint32_t *)tmp, *k1 = k0 + n, *i1 = k1 + n;
    uint32_t *i0 = (uint32_t *)order;
    for (int64_t t = 0; t < n; t++) {
        int64_t i = ties_descending ? n - 1 - t : t;
        k0[t] = desc_key(scores[i]);
        i0[t] = (uint32_t)i;
    }
    enum { BITS = 11, NB = 1 << BITS };
    static const int shift[3] = {0, 11, 22};
    uint32_t cnt[3][NB];
    memset(cnt, 0, sizeof cnt);
    for (int64_t t = 0; t < n; t++)
        for (int p = 0; p < 3; p++) cnt[p][(k0[t] >> shift[p]) & (NB - 1)]++;
    uint32_t *ks = k0, *is = i0, *kd = k1, *id = i1;
    for (int p = 0; p < 3; p++) {
        if (cnt[p][(ks[0] >> shift[p]) & (NB - 1)] == (uint32_t)n) continue; /* one bucket */
        uint32_t sum = 0;
        for (int b = 0; b < NB; b++) {
            uint32_t c = cnt[p][b];
            cnt[p][b] = sum;
            sum += c;
        }
        for (int64_t t = 0; t < n; t++) {
            uint32_t pos = cnt[p][(ks[t] >> shift[p]) & (NB - 1)]++;
            kd[pos] = ks[t];
            id[pos] = is[t];
        }
        uint32_t *sw = ks; ks = kd; kd = sw;
        sw = is; is = id; id = sw;
    }
    if (is != i0) memcpy(i0, is, (size_t)n * sizeof *i0);
}

void selsa_argsort_desc_stable(const float *scores, int64_t n, int32_t *order, void *tmp) {
    selsa_box_argsort_desc(scores, n, order, tmp, false);
}
