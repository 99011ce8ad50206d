/* selsa — MMTracking training targets (mmtracking-selsa.md §1.2; mmdet 2.x): MaxIoUAssigner,
 * RandomSampler (seeded selsa_rng; the sampled indices are returned sorted ascending, as
 * BaseSampler.sample's `.unique()` does), and anchor_inside_flags. */
#include <stdlib.h>
#include <string.h>

#include "selsa/train_mmtrack.h"

int64_t selsa_mmtrack_assign_tmp_floats(int64_t n, int n_gt) {
    return n + n_gt + (int64_t)n_gt * n + 1;
}

/* mmdet bbox_overlaps(gt, boxes) (float32, eps 1e-6): ov / max(area_gt + area_box − ov, eps). */
static float iou_mmdet(const float *g, const float *b) {
    float ag = (g[2] - g[0]) * (g[3] - g[1]), ab = (b[2] - b[0]) * (b[3] - b[1]);
    float w = (g[2] < b[2] ? g[2] : b[2]) - (g[0] > b[0] ? g[0] : b[0]);
    float h = (g[3] < b[3] ? g[3] : b[3]) - (g[1] > b[1] ? g[1] : b[1]);
    if (w < 0) w = 0;
    if (h < 0) h = 0;
    float ov = w * h, un = ag + ab - ov;
    if (un < 1e-6f) un = 1e-6f;
    return ov / un;
}

void selsa_mmtrack_assign(const float *boxes, int64_t n, const uint8_t *valid, const float *gt,
                          int n_gt, const selsa_max_iou_assigner *a, int32_t *assigned,
                          float *max_iou, float *tmp) {
    float *mo = tmp, *gmo = tmp + n, *ov = tmp + n + n_gt;
    for (int64_t i = 0; i < n; i++) {
        assigned[i] = -1;
        mo[i] = 0;
    }
    if (n_gt == 0) {
        for (int64_t i = 0; i < n; i++)
            if (!valid || valid[i]) assigned[i] = 0;
        if (max_iou) memset(max_iou, 0, (size_t)n * sizeof(float));
        return;
    }
    for (int g = 0; g < n_gt; g++) gmo[g] = -1.0f;
    for (int g = 0; g < n_gt; g++)
        for (int64_t i = 0; i < n; i++) {
            if (valid && !valid[i]) continue;
            float v = iou_mmdet(gt + 4 * g, boxes + 4 * i);
            ov[(int64_t)g * n + i] = v;
            if (v > gmo[g]) gmo[g] = v;
        }
    for (int64_t i = 0; i < n; i++) {
        if (valid && !valid[i]) continue;
        int best = 0;
        float bv = ov[i];
        for (int g = 1; g < n_gt; g++)
            if (ov[(int64_t)g * n + i] > bv) { /* first max on ties (torch.max) */
                bv = ov[(int64_t)g * n + i];
                best = g;
            }
        mo[i] = bv;
        if (bv >= 0 && bv < a->neg_iou) assigned[i] = 0;
        if (bv >= a->pos_iou) assigned[i] = best + 1;
    }
    if (a->match_low_quality) {
        /* gts in order: a later gt overrides an earlier one (mmdet loop) */
        for (int g = 0; g < n_gt; g++) {
            if (!(gmo[g] >= a->min_pos_iou)) continue;
            for (int64_t i = 0; i < n; i++) {
                if (valid && !valid[i]) continue;
                if (ov[(int64_t)g * n + i] == gmo[g]) {
                    assigned[i] = g + 1;
                    if (!a->gt_max_assign_all) break; /* argmax: the first max */
                }
            }
        }
    }
    if (max_iou) memcpy(max_iou, mo, (size_t)n * sizeof(float));
}

static int cmp_i32(const void *x, const void *y) {
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    return (a > b) - (a < b);
}

/* Choose k of the m indices in idx (in place) uniformly at random: partial Fisher–Yates. */
static void choose(int32_t *idx, int m, int k, selsa_rng *rng) {
    for (int i = 0; i < k; i++) {
        int j = i + (int)selsa_rng_below(rng, (uint32_t)(m - i));
        int32_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

void selsa_mmtrack_sample(const int32_t *assigned, int64_t n, const selsa_random_sampler *s,
                          selsa_rng *rng, int32_t *pos, int *n_pos, int32_t *neg, int *n_neg,
                          int32_t *tmp) {
    int np = 0, nn = 0;
    for (int64_t i = 0; i < n; i++)
        if (assigned[i] > 0) tmp[np++] = (int32_t)i;
    int exp_pos = (int)(s->num * s->pos_fraction); /* int() truncation as mmdet */
    if (exp_pos < 0) exp_pos = 0;
    if (np > exp_pos) {
        choose(tmp, np, exp_pos, rng);
        np = exp_pos;
    }
    for (int i = 0; i < np; i++) pos[i] = tmp[i];
    qsort(pos, (size_t)np, sizeof(int32_t), cmp_i32);
    for (int64_t i = 0; i < n; i++)
        if (assigned[i] == 0) tmp[nn++] = (int32_t)i;
    int exp_neg = s->num - np;
    if (exp_neg < 0) exp_neg = 0;
    if (nn > exp_neg) {
        choose(tmp, nn, exp_neg, rng);
        nn = exp_neg;
    }
    for (int i = 0; i < nn; i++) neg[i] = tmp[i];
    qsort(neg, (size_t)nn, sizeof(int32_t), cmp_i32);
    *n_pos = np;
    *n_neg = nn;
}

void selsa_mmtrack_anchor_inside(const float *anchors, int64_t n, int img_h, int img_w,
                                 int allowed_border, uint8_t *inside) {
    float b = (float)allowed_border;
    for (int64_t i = 0; i < n; i++) {
        const float *a = anchors + 4 * i;
        inside[i] = allowed_border >= 0
                        ? (a[0] >= -b && a[1] >= -b && a[2] < (float)img_w + b && a[3] < (float)img_h + b)
                        : 1;
    }
}
