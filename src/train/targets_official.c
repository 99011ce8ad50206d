/* selsa — official SELSA training targets (official-selsa.md §8.3–§8.4): RPN anchor targets
 * with the py-faster-rcnn assign_anchor rules and a seeded sampler, proposal targets on all
 * key-frame RoIs, OHEM selection. IoUs are computed in double with "+1" areas (numpy
 * bbox_overlaps in the official code works in float64). */
#include <math.h>
#include <string.h>

#include "selsa/boxes.h"
#include "selsa/train_official.h"

static double iou1(const float *a, const float *b) {
    double iw = fmin(a[2], b[2]) - fmax(a[0], b[0]) + 1.0;
    double ih = fmin(a[3], b[3]) - fmax(a[1], b[1]) + 1.0;
    if (iw <= 0 || ih <= 0) return 0.0;
    double inter = iw * ih;
    double ua = ((double)a[2] - a[0] + 1.0) * ((double)a[3] - a[1] + 1.0) +
                ((double)b[2] - b[0] + 1.0) * ((double)b[3] - b[1] + 1.0) - inter;
    return ua > 0 ? inter / ua : 0.0;
}

/* Disable (→ −1) all but `keep` of the anchors with label == which, chosen uniformly by a
 * partial Fisher–Yates shuffle of their indices. */
static void subsample(int32_t *labels, int64_t n, int32_t which, int64_t keep, selsa_rng *rng,
                      int32_t *idx) {
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (labels[i] == which) idx[m++] = (int32_t)i;
    if (m <= keep) return;
    /* the first `keep` entries after a partial shuffle are the survivors */
    for (int64_t i = 0; i < keep; i++) {
        int64_t j = i + (int64_t)selsa_rng_below(rng, (uint32_t)(m - i));
        int32_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    for (int64_t i = keep; i < m; i++) labels[idx[i]] = -1;
}

selsa_status selsa_official_anchor_targets(const float *anchors, int64_t n, float im_h, float im_w,
                                           const float *gt, int n_gt,
                                           const selsa_official_train_config *c, selsa_rng *rng,
                                           int32_t *labels, float *bbox_targets, int32_t *tmp) {
    if (!anchors || !labels || !bbox_targets || !tmp || !c || (n_gt > 0 && !gt))
        return selsa_error(SELSA_ERR_INVALID_ARG, "anchor_targets: NULL argument");
    if (n_gt < 0 || n < 0) return selsa_error(SELSA_ERR_INVALID_ARG, "anchor_targets: negative count");
    const float b = (float)c->allowed_border;
    static const float stds[4] = {0.1f, 0.1f, 0.4f, 0.4f}; /* ANCHOR_STDS (§8.4), means 0 */
    memset(bbox_targets, 0, (size_t)n * 4 * sizeof(float));
    /* gt max IoU over inside anchors (first pass), for the best-anchor rule with ties */
    double gmax[256];
    double *gm = gmax;
    if (n_gt > 256) return selsa_error(SELSA_ERR_UNSUPPORTED, "anchor_targets: %d gt boxes > 256", n_gt);
    for (int g = 0; g < n_gt; g++) gm[g] = -1.0;
    for (int64_t i = 0; i < n; i++) {
        const float *a = anchors + 4 * i;
        bool inside = a[0] >= -b && a[1] >= -b && a[2] < im_w + b && a[3] < im_h + b;
        labels[i] = inside ? 0 : -2; /* −2: outside (final −1) */
        if (!inside) continue;
        for (int g = 0; g < n_gt; g++) {
            double v = iou1(a, gt + 4 * g);
            if (v > gm[g]) gm[g] = v;
        }
    }
    for (int64_t i = 0; i < n; i++) {
        if (labels[i] == -2) {
            labels[i] = -1;
            continue;
        }
        if (n_gt == 0) {
            labels[i] = 0; /* no gt: every inside anchor is background */
            continue;
        }
        const float *a = anchors + 4 * i;
        double best = -1.0;
        int bg = 0;
        bool is_gt_best = false;
        for (int g = 0; g < n_gt; g++) {
            double v = iou1(a, gt + 4 * g);
            if (v > best) { /* argmax: first maximum */
                best = v;
                bg = g;
            }
            /* py-faster-rcnn: np.where(overlaps == gt_max_overlaps) — exact equality, ties
             * included (also IoU 0 when a gt overlaps no inside anchor at all) */
            if (v == gm[g]) is_gt_best = true;
        }
        int32_t l = -1;
        if (best < c->rpn_neg_iou) l = 0; /* not clobbering: negatives first */
        if (is_gt_best) l = 1;
        if (best >= c->rpn_pos_iou) l = 1;
        labels[i] = l;
        selsa_bbox_encode_mxnet(bbox_targets + 4 * i, a, gt + 4 * bg, 1, NULL, stds);
    }
    if (rng) {
        int64_t num_fg = (int64_t)(c->rpn_fg_fraction * (float)c->rpn_batch);
        subsample(labels, n, 1, num_fg, rng, tmp);
        int64_t nfg = 0;
        for (int64_t i = 0; i < n; i++) nfg += labels[i] == 1;
        subsample(labels, n, 0, c->rpn_batch - nfg, rng, tmp);
    }
    return SELSA_OK;
}

void selsa_official_proposal_targets(const float *rois, int R, const float *gt,
                                     const int32_t *gt_classes, int n_gt, float fg_iou,
                                     int32_t *labels, float *targets, float *weights) {
    static const float stds[4] = {0.1f, 0.1f, 0.2f, 0.2f}; /* BBOX_STDS (§8.3), means 0 */
    memset(targets, 0, (size_t)R * 8 * sizeof(float));
    memset(weights, 0, (size_t)R * 8 * sizeof(float));
    for (int r = 0; r < R; r++) {
        const float *box = rois + 5 * r + 1;
        labels[r] = 0;
        if (n_gt == 0) continue;
        double best = -1.0;
        int bg = 0;
        for (int g = 0; g < n_gt; g++) {
            double v = iou1(box, gt + 4 * g);
            if (v > best) {
                best = v;
                bg = g;
            }
        }
        if (best >= fg_iou) {
            labels[r] = gt_classes[bg];
            /* class-agnostic: the object box is columns 4:8 (§4.1) */
            selsa_bbox_encode_mxnet(targets + 8 * r + 4, box, gt + 4 * bg, 1, NULL, stds);
            for (int k = 4; k < 8; k++) weights[8 * r + k] = 1.0f;
        }
    }
}

void selsa_official_ohem_select(const float *roi_loss, int R, int k, int32_t *keep,
                                int32_t *order, void *tmp) {
    selsa_argsort_desc_stable(roi_loss, R, order, tmp);
    if (k > R) k = R;
    for (int i = 0; i < k; i++) keep[i] = order[i];
}
