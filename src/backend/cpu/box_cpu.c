/* CPU implementation of the box group: greedy NMS, the MXNet proposal layer, the mmdet RPN
 * post-processing, the official test post-processing and mmdet multiclass_nms.
 *
 * Every temporary comes from ctx->scratch (rewound before returning); the layouts are mirrored
 * by the *_scratch_bytes functions in src/ops/proposal.c (keep them in sync: each allocation
 * below is listed there in the same order). All results are deterministic and independent of
 * the thread count (the loops here are serial; they are O(n log n) + O(n·kept)). */
#include <math.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/box_ops.h"

#define SCRATCH(ptr, count)                                                                   \
    do {                                                                                      \
        void *p_;                                                                             \
        st = selsa_arena_alloc(&ctx->scratch, (size_t)(count) * sizeof *(ptr), &p_);          \
        if (st != SELSA_OK) goto done;                                                        \
        (ptr) = p_;                                                                           \
    } while (0)

/* ------------------------------------------------------------------ greedy NMS core ---- */

/* Greedy NMS over n boxes in SoA form, already in descending score order.
 * IoU in float32 exactly as MXNet proposal.cc / torchvision / mmcv nms_cpu:
 *   w = max(0, min(x2) - max(x1) + off), inter = w*h, ovr = inter / ((area_i + area_j) - inter)
 * and j is suppressed when ovr > thr (strict; a NaN ovr never suppresses). When label != NULL
 * only boxes of the same label suppress each other (exact per-class NMS).
 * The inner loop is branch-free over all later boxes (OR-ing into sup[] is equivalent to
 * skipping already-suppressed ones) so it vectorises. Returns the number kept (<= max_keep). */
static int64_t nms_core(int64_t n, const float *x1, const float *y1, const float *x2,
                        const float *y2, const float *area, const int32_t *label, uint8_t *sup,
                        float thr, float off, int64_t max_keep, int32_t *keep) {
    if (n <= 0) return 0;
    if (max_keep <= 0 || max_keep > n) max_keep = n;
    memset(sup, 0, (size_t)n);
    int64_t nk = 0;
    for (int64_t i = 0; i < n && nk < max_keep; i++) {
        if (sup[i]) continue;
        keep[nk++] = (int32_t)i;
        if (nk == max_keep) break; /* later suppressions cannot change the output */
        const float ix1 = x1[i], iy1 = y1[i], ix2 = x2[i], iy2 = y2[i], ia = area[i];
        if (label) {
            const int32_t li = label[i];
            for (int64_t j = i + 1; j < n; j++) {
                float xx1 = x1[j] > ix1 ? x1[j] : ix1, yy1 = y1[j] > iy1 ? y1[j] : iy1;
                float xx2 = x2[j] < ix2 ? x2[j] : ix2, yy2 = y2[j] < iy2 ? y2[j] : iy2;
                float w = xx2 - xx1 + off, h = yy2 - yy1 + off;
                w = w > 0.0f ? w : 0.0f;
                h = h > 0.0f ? h : 0.0f;
                float inter = w * h;
                float ovr = inter / (ia + area[j] - inter);
                sup[j] |= (uint8_t)((ovr > thr) & (label[j] == li));
            }
        } else {
            for (int64_t j = i + 1; j < n; j++) {
                float xx1 = x1[j] > ix1 ? x1[j] : ix1, yy1 = y1[j] > iy1 ? y1[j] : iy1;
                float xx2 = x2[j] < ix2 ? x2[j] : ix2, yy2 = y2[j] < iy2 ? y2[j] : iy2;
                float w = xx2 - xx1 + off, h = yy2 - yy1 + off;
                w = w > 0.0f ? w : 0.0f;
                h = h > 0.0f ? h : 0.0f;
                float inter = w * h;
                float ovr = inter / (ia + area[j] - inter);
                sup[j] |= (uint8_t)(ovr > thr);
            }
        }
    }
    return nk;
}

static selsa_status nms_cpu(selsa_ctx *ctx, const float *boxes, int64_t n, float iou_thresh,
                            float area_offset, int64_t max_keep, int32_t *keep, int64_t *n_keep) {
    selsa_status st = SELSA_OK;
    size_t mark = selsa_arena_mark(&ctx->scratch);
    float *soa = NULL;
    uint8_t *sup = NULL;
    *n_keep = 0;
    if (n == 0) return SELSA_OK;
    SCRATCH(soa, 5 * n);
    SCRATCH(sup, n);
    float *x1 = soa, *y1 = soa + n, *x2 = soa + 2 * n, *y2 = soa + 3 * n, *area = soa + 4 * n;
    for (int64_t i = 0; i < n; i++) {
        const float *b = boxes + 4 * i;
        x1[i] = b[0], y1[i] = b[1], x2[i] = b[2], y2[i] = b[3];
        area[i] = (b[2] - b[0] + area_offset) * (b[3] - b[1] + area_offset);
    }
    *n_keep = nms_core(n, x1, y1, x2, y2, area, NULL, sup, iou_thresh, area_offset, max_keep, keep);
done:
    selsa_arena_rewind(&ctx->scratch, mark);
    return st;
}

/* ------------------------------------------------------------- MXNet proposal layer ---- */

static selsa_status proposal_mxnet_cpu(selsa_ctx *ctx, selsa_tensor *rois, float *roi_scores,
                                       const selsa_tensor *cls_prob, const selsa_tensor *bbox_pred,
                                       const float *im_info, const selsa_proposal_mxnet_params *p) {
    selsa_status st = SELSA_OK;
    size_t mark = selsa_arena_mark(&ctx->scratch);
    const int64_t N = cls_prob->n, A = cls_prob->c / 2, H = cls_prob->h, W = cls_prob->w;
    const int64_t HW = H * W, count = A * HW;
    const int64_t pre = (p->pre_nms_top_n > 0 && p->pre_nms_top_n < count) ? p->pre_nms_top_n
                                                                            : count;
    const int64_t post = p->post_nms_top_n;
    const float stride = (float)p->feat_stride;
    float anchors[4 * 64], *props = NULL, *score = NULL, *soa = NULL;
    int32_t *order = NULL, *keep = NULL;
    uint8_t *sup = NULL;
    void *sort_tmp = NULL;
    SCRATCH(props, 4 * count);
    SCRATCH(score, count);
    SCRATCH(order, count);
    SCRATCH(sort_tmp, selsa_argsort_scratch_bytes(count));
    SCRATCH(soa, 5 * pre);
    SCRATCH(sup, pre);
    SCRATCH(keep, post < pre ? post : pre);
    st = selsa_anchors_mxnet(anchors, p->feat_stride, p->ratios, p->n_ratios, p->scales,
                             p->n_scales);
    if (st != SELSA_OK) goto done;

    for (int64_t b = 0; b < N; b++) {
        const float im_h = im_info[3 * b], im_w = im_info[3 * b + 1], im_s = im_info[3 * b + 2];
        /* §3.3 step 3: int(im_h / stride) in float32 as proposal.cc, truncated */
        const int64_t real_h = (int64_t)(im_h / stride), real_w = (int64_t)(im_w / stride);
        const float *fg = cls_prob->data + (b * 2 * A + A) * HW;
        const float *dl = bbox_pred->data + b * 4 * A * HW;
        const float min_size = p->min_size * im_s; /* FilterBox(rpn_min_size * im_info[2]) */
        /* steps 1-4 in enumeration order idx = (h*W + w)*A + a */
        for (int64_t h = 0; h < H; h++) {
            for (int64_t w = 0; w < W; w++) {
                for (int64_t a = 0; a < A; a++) {
                    const int64_t idx = (h * W + w) * A + a, pix = h * W + w;
                    const float *an = anchors + 4 * a;
                    /* anchor + (16w, 16h, 16w, 16h), float32 as proposal.cc */
                    float bx1 = an[0] + (float)w * stride, by1 = an[1] + (float)h * stride;
                    float bx2 = an[2] + (float)w * stride, by2 = an[3] + (float)h * stride;
                    float d[4];
                    for (int k = 0; k < 4; k++) /* rpn_inv_normalize (float32) */
                        d[k] = dl[(4 * a + k) * HW + pix] * p->delta_stds[k] + p->delta_means[k];
                    /* step 2: "+1" decode in double, rounded once, then clip [0, im-1] */
                    double bw = (double)bx2 - bx1 + 1.0, bh = (double)by2 - by1 + 1.0;
                    double cx = bx1 + 0.5 * (bw - 1.0), cy = by1 + 0.5 * (bh - 1.0);
                    double pcx = d[0] * bw + cx, pcy = d[1] * bh + cy;
                    double pw = exp((double)d[2]) * bw, ph = exp((double)d[3]) * bh;
                    float o[4] = {(float)(pcx - 0.5 * (pw - 1.0)), (float)(pcy - 0.5 * (ph - 1.0)),
                                  (float)(pcx + 0.5 * (pw - 1.0)), (float)(pcy + 0.5 * (ph - 1.0))};
                    o[0] = fmaxf(fminf(o[0], im_w - 1.0f), 0.0f);
                    o[1] = fmaxf(fminf(o[1], im_h - 1.0f), 0.0f);
                    o[2] = fmaxf(fminf(o[2], im_w - 1.0f), 0.0f);
                    o[3] = fmaxf(fminf(o[3], im_h - 1.0f), 0.0f);
                    float s = fg[a * HW + pix];
                    if (h >= real_h || w >= real_w) s = -1.0f; /* step 3: padded region */
                    /* step 4: FilterBox (a no-op at min_size 0: w, h >= 0 always) */
                    float iw = o[2] - o[0] + 1.0f, ih = o[3] - o[1] + 1.0f;
                    if (iw < min_size || ih < min_size) {
                        o[0] -= min_size / 2, o[1] -= min_size / 2;
                        o[2] += min_size / 2, o[3] += min_size / 2;
                        s = -1.0f;
                    }
                    memcpy(props + 4 * idx, o, sizeof o);
                    score[idx] = s;
                }
            }
        }
        /* step 5: stable sort descending (std::stable_sort), top `pre` */
        selsa_argsort_desc_stable(score, count, order, sort_tmp);
        float *x1 = soa, *y1 = soa + pre, *x2 = soa + 2 * pre, *y2 = soa + 3 * pre,
              *area = soa + 4 * pre;
        for (int64_t t = 0; t < pre; t++) {
            const float *q = props + 4 * (int64_t)order[t];
            x1[t] = q[0], y1[t] = q[1], x2[t] = q[2], y2[t] = q[3];
            area[t] = (q[2] - q[0] + 1.0f) * (q[3] - q[1] + 1.0f);
        }
        /* step 6: NMS (+1), at most min(post, pre) kept */
        int64_t nk = nms_core(pre, x1, y1, x2, y2, area, NULL, sup, p->nms_thresh, 1.0f,
                              post < pre ? post : pre, keep);
        /* step 7: exactly `post` rows, repeat-filled keep[i % nk]; nk >= 1 since pre >= 1 */
        float *out = rois->data + b * post * 5;
        for (int64_t i = 0; i < post; i++) {
            int64_t t = keep[i % nk];
            out[5 * i + 0] = (float)b;
            out[5 * i + 1] = x1[t], out[5 * i + 2] = y1[t];
            out[5 * i + 3] = x2[t], out[5 * i + 4] = y2[t];
            if (roi_scores) roi_scores[b * post + i] = score[order[t]];
        }
    }
done:
    selsa_arena_rewind(&ctx->scratch, mark);
    return st;
}

/* ---------------------------------------------------------------- mmdet RPN proposals ---- */

static selsa_status rpn_proposals_mmdet_cpu(selsa_ctx *ctx, float *boxes, float *scores,
                                            int64_t *n_out, const selsa_tensor *cls_logits,
                                            const selsa_tensor *bbox_pred, float img_h,
                                            float img_w, const selsa_rpn_mmdet_params *p) {
    selsa_status st = SELSA_OK;
    size_t mark = selsa_arena_mark(&ctx->scratch);
    const int64_t A = cls_logits->c, H = cls_logits->h, W = cls_logits->w, HW = H * W;
    const int64_t count = A * HW;
    const int64_t m = (p->nms_pre > 0 && p->nms_pre < count) ? p->nms_pre : count;
    float anchors[4 * 64], *score = NULL, *anc = NULL, *del = NULL, *soa = NULL;
    int32_t *order = NULL, *keep = NULL, *src = NULL;
    uint8_t *sup = NULL;
    void *sort_tmp = NULL;
    *n_out = 0;
    SCRATCH(score, count);
    SCRATCH(order, count);
    SCRATCH(sort_tmp, selsa_argsort_scratch_bytes(count));
    SCRATCH(anc, 4 * m);
    SCRATCH(del, 4 * m);
    SCRATCH(soa, 5 * m);
    SCRATCH(src, m);
    SCRATCH(sup, m);
    SCRATCH(keep, m);
    st = selsa_anchors_mmdet(anchors, p->stride, p->ratios, p->n_ratios, p->scales, p->n_scales);
    if (st != SELSA_OK) goto done;
    /* 1. sigmoid in double, rounded once; anchor order (y*W + x)*A + a = permute(1,2,0) */
    for (int64_t pix = 0; pix < HW; pix++)
        for (int64_t a = 0; a < A; a++)
            score[pix * A + a] =
                (float)(1.0 / (1.0 + exp(-(double)cls_logits->data[a * HW + pix])));
    /* 2. stable sort descending, keep the first m (mmdet: scores.sort(descending=True)) */
    selsa_argsort_desc_stable(score, count, order, sort_tmp);
    for (int64_t t = 0; t < m; t++) {
        int64_t idx = order[t], a = idx % A, pix = idx / A, y = pix / W, x = pix % W;
        const float sx = (float)x * p->stride, sy = (float)y * p->stride;
        anc[4 * t + 0] = anchors[4 * a + 0] + sx, anc[4 * t + 1] = anchors[4 * a + 1] + sy;
        anc[4 * t + 2] = anchors[4 * a + 2] + sx, anc[4 * t + 3] = anchors[4 * a + 3] + sy;
        for (int k = 0; k < 4; k++) del[4 * t + k] = bbox_pred->data[(4 * a + k) * HW + pix];
    }
    /* 3. decode with clip to [0, img_w] x [0, img_h] (wh_ratio_clip 16/1000) */
    selsa_bbox_decode_mmdet(del, anc, del, m, 1, p->means, p->stds, 16.0f / 1000.0f, img_h,
                            img_w);
    /* 4. drop w <= min_bbox_size or h <= min_bbox_size (if min_bbox_size >= 0) */
    float *x1 = soa, *y1 = soa + m, *x2 = soa + 2 * m, *y2 = soa + 3 * m, *area = soa + 4 * m;
    int64_t nv = 0;
    for (int64_t t = 0; t < m; t++) {
        const float *q = del + 4 * t;
        float w = q[2] - q[0], h = q[3] - q[1];
        if (p->min_bbox_size >= 0 && !(w > p->min_bbox_size && h > p->min_bbox_size)) continue;
        x1[nv] = q[0], y1[nv] = q[1], x2[nv] = q[2], y2[nv] = q[3];
        area[nv] = w * h;
        src[nv++] = (int32_t)t;
    }
    /* 5. NMS (offset 0; one level so batched_nms adds offset 0), first max_per_img */
    int64_t nk = nms_core(nv, x1, y1, x2, y2, area, NULL, sup, p->nms_thresh, 0.0f,
                          p->max_per_img, keep);
    for (int64_t i = 0; i < nk; i++) {
        int64_t t = keep[i];
        boxes[4 * i + 0] = x1[t], boxes[4 * i + 1] = y1[t];
        boxes[4 * i + 2] = x2[t], boxes[4 * i + 3] = y2[t];
        if (scores) scores[i] = score[order[src[t]]];
    }
    *n_out = nk;
done:
    selsa_arena_rewind(&ctx->scratch, mark);
    return st;
}

/* ------------------------------------------------- official test post-processing (§5) ---- */

/* lib/nms/nms.py::nms on float64 boxes in the given order: keep i, drop every later candidate
 * whose IoU with i is NOT <= thr (so a NaN IoU drops it, as `np.where(ovr <= thresh)`). */
static int64_t nms_official_f64(int64_t n, const double *x1, const double *y1, const double *x2,
                                const double *y2, const double *area, uint8_t *sup, double thr,
                                int32_t *keep) {
    if (n <= 0) return 0;
    memset(sup, 0, (size_t)n);
    int64_t nk = 0;
    for (int64_t i = 0; i < n; i++) {
        if (sup[i]) continue;
        keep[nk++] = (int32_t)i;
        const double ix1 = x1[i], iy1 = y1[i], ix2 = x2[i], iy2 = y2[i], ia = area[i];
        for (int64_t j = i + 1; j < n; j++) {
            double xx1 = x1[j] > ix1 ? x1[j] : ix1, yy1 = y1[j] > iy1 ? y1[j] : iy1;
            double xx2 = x2[j] < ix2 ? x2[j] : ix2, yy2 = y2[j] < iy2 ? y2[j] : iy2;
            double w = xx2 - xx1 + 1.0, h = yy2 - yy1 + 1.0;
            w = w > 0.0 ? w : 0.0; /* np.maximum(0.0, .) */
            h = h > 0.0 ? h : 0.0;
            double inter = w * h;
            double ovr = inter / (ia + area[j] - inter);
            sup[j] |= (uint8_t)!(ovr <= thr);
        }
    }
    return nk;
}

static selsa_status detect_postprocess_official_cpu(
    selsa_ctx *ctx, selsa_detection *dets, int64_t capacity, int64_t *n_dets,
    const selsa_tensor *rois, const selsa_tensor *scores, const selsa_tensor *deltas, float im_h,
    float im_w, float im_scale, const selsa_detect_official_params *p) {
    selsa_status st = SELSA_OK;
    size_t mark = selsa_arena_mark(&ctx->scratch);
    const int64_t R = rois->n, C = p->num_classes;
    const int64_t KB = p->class_agnostic ? 1 : C; /* decoded boxes per RoI */
    const int64_t DC = deltas->c / 4;             /* delta boxes per RoI: 2 or C */
    const int64_t cap_all = R * (C - 1);
    double *dec = NULL, *soa = NULL;
    int32_t *cand = NULL, *order = NULL, *keep = NULL, *kroi = NULL, *kcls = NULL,
            *korder = NULL;
    float *cscore = NULL, *kscore = NULL;
    uint8_t *sup = NULL;
    void *sort_tmp = NULL;
    *n_dets = 0;
    SCRATCH(dec, 4 * R * KB);
    SCRATCH(cand, R);
    SCRATCH(cscore, R);
    SCRATCH(order, R);
    SCRATCH(soa, 5 * R);
    SCRATCH(sup, R);
    SCRATCH(keep, R);
    SCRATCH(kroi, cap_all);
    SCRATCH(kcls, cap_all);
    SCRATCH(kscore, cap_all);
    SCRATCH(korder, cap_all);
    SCRATCH(sort_tmp, selsa_argsort_scratch_bytes(cap_all > R ? cap_all : R));
    /* bbox_pred (float64, +1, no clamp), clip_boxes to [0, W-1] x [0, H-1], / scale */
    for (int64_t r = 0; r < R; r++) {
        const float *q = rois->data + 5 * r + 1;
        double w = (double)q[2] - q[0] + 1.0, h = (double)q[3] - q[1] + 1.0;
        double cx = q[0] + 0.5 * (w - 1.0), cy = q[1] + 0.5 * (h - 1.0);
        for (int64_t kb = 0; kb < KB; kb++) {
            int64_t dcol = p->class_agnostic ? 1 : kb; /* agnostic: columns 4:8 */
            const float *d = deltas->data + (r * DC + dcol) * 4;
            double pcx = d[0] * w + cx, pcy = d[1] * h + cy;
            double pw = exp((double)d[2]) * w, ph = exp((double)d[3]) * h;
            double o[4] = {pcx - 0.5 * (pw - 1.0), pcy - 0.5 * (ph - 1.0),
                           pcx + 0.5 * (pw - 1.0), pcy + 0.5 * (ph - 1.0)};
            double lim[4] = {(double)im_w - 1.0, (double)im_h - 1.0, (double)im_w - 1.0,
                             (double)im_h - 1.0};
            for (int k = 0; k < 4; k++) {
                double v = o[k] < lim[k] ? o[k] : lim[k]; /* np.maximum(np.minimum(v, l), 0) */
                v = v > 0.0 ? v : 0.0;
                dec[(r * KB + kb) * 4 + k] = v / (double)im_scale;
            }
        }
    }
    int64_t nkept = 0;
    double *x1 = soa, *y1 = soa + R, *x2 = soa + 2 * R, *y2 = soa + 3 * R, *area = soa + 4 * R;
    for (int64_t j = 1; j < C; j++) {
        int64_t m = 0;
        for (int64_t r = 0; r < R; r++) {
            float s = scores->data[r * C + j];
            if (s > p->score_thresh) cand[m] = (int32_t)r, cscore[m++] = s;
        }
        if (m == 0) continue;
        /* order = scores.argsort()[::-1]: descending, ties by descending candidate row */
        selsa_box_argsort_desc(cscore, m, order, sort_tmp, true);
        for (int64_t t = 0; t < m; t++) {
            const double *q = dec + ((int64_t)cand[order[t]] * KB + (KB == 1 ? 0 : j)) * 4;
            x1[t] = q[0], y1[t] = q[1], x2[t] = q[2], y2[t] = q[3];
            area[t] = (q[2] - q[0] + 1.0) * (q[3] - q[1] + 1.0);
        }
        int64_t nk = nms_official_f64(m, x1, y1, x2, y2, area, sup, p->nms_thresh, keep);
        for (int64_t i = 0; i < nk; i++) {
            int64_t c = order[keep[i]];
            kroi[nkept] = cand[c], kcls[nkept] = (int32_t)j, kscore[nkept++] = cscore[c];
        }
    }
    /* max_per_image: keep score >= the max_per_image-th largest (ties kept) */
    float image_thresh = -INFINITY;
    bool limit = p->max_per_image > 0 && nkept > p->max_per_image;
    if (limit) {
        selsa_argsort_desc_stable(kscore, nkept, korder, sort_tmp);
        image_thresh = kscore[korder[p->max_per_image - 1]];
    }
    int64_t nd = 0;
    for (int64_t i = 0; i < nkept; i++) {
        if (limit && !(kscore[i] >= image_thresh)) continue;
        if (nd >= capacity) {
            st = selsa_error(SELSA_ERR_INVALID_ARG,
                             "selsa_detect_postprocess_official: more detections survive than "
                             "the capacity %lld of dets (R*(num_classes-1) = %lld always suffices)",
                             (long long)capacity, (long long)cap_all);
            goto done;
        }
        const double *q = dec + ((int64_t)kroi[i] * KB + (KB == 1 ? 0 : kcls[i])) * 4;
        selsa_detection *d = dets + nd++;
        d->x1 = q[0], d->y1 = q[1], d->x2 = q[2], d->y2 = q[3];
        d->score = kscore[i], d->cls = kcls[i], d->roi = kroi[i];
    }
    *n_dets = nd;
done:
    selsa_arena_rewind(&ctx->scratch, mark);
    return st;
}

/* ------------------------------------------------------------ mmdet multiclass_nms ---- */

static selsa_status multiclass_nms_mmdet_cpu(selsa_ctx *ctx, selsa_detection *dets,
                                             int64_t capacity, int64_t *n_dets,
                                             const selsa_tensor *bboxes,
                                             const selsa_tensor *scores,
                                             const selsa_multiclass_nms_params *p) {
    selsa_status st = SELSA_OK;
    size_t mark = selsa_arena_mark(&ctx->scratch);
    const int64_t R = scores->n, C = p->num_classes, NC = C - 1;
    const bool shared = bboxes->c == 4;
    const int64_t cap_all = R * NC;
    int32_t *cand = NULL, *order = NULL, *keep = NULL, *lab = NULL;
    float *cscore = NULL, *soa = NULL;
    uint8_t *sup = NULL;
    void *sort_tmp = NULL;
    *n_dets = 0;
    SCRATCH(cand, cap_all);
    SCRATCH(cscore, cap_all);
    SCRATCH(order, cap_all);
    SCRATCH(sort_tmp, selsa_argsort_scratch_bytes(cap_all));
    SCRATCH(soa, 5 * cap_all);
    SCRATCH(lab, cap_all);
    SCRATCH(sup, cap_all);
    SCRATCH(keep, cap_all);
    /* candidates in RoI-major, class-minor order; background (last column) dropped */
    int64_t m = 0;
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < NC; c++) {
            float s = scores->data[r * C + c];
            if (s > p->score_thr) cand[m] = (int32_t)(r * NC + c), cscore[m++] = s;
        }
    if (m == 0) goto done;
#define CAND_BOX(ci) (bboxes->data + ((shared ? (int64_t)(ci) / NC : (int64_t)(ci)) * 4))
    /* mmcv batched_nms: offset trick below split_thr = 10000 candidates */
    const bool trick = p->mode == SELSA_BATCHED_NMS_OFFSET ||
                       (p->mode == SELSA_BATCHED_NMS_MMCV && m < 10000);
    float step = 0.0f;
    if (trick) { /* max_coordinate = boxes.max(); offsets = label * (max_coordinate + 1) */
        float mx = -INFINITY;
        for (int64_t t = 0; t < m; t++) {
            const float *q = CAND_BOX(cand[t]);
            for (int k = 0; k < 4; k++) mx = q[k] > mx ? q[k] : mx;
        }
        step = mx + 1.0f;
    }
    selsa_argsort_desc_stable(cscore, m, order, sort_tmp);
    float *x1 = soa, *y1 = soa + m, *x2 = soa + 2 * m, *y2 = soa + 3 * m, *area = soa + 4 * m;
    for (int64_t t = 0; t < m; t++) {
        int32_t ci = cand[order[t]];
        const float *q = CAND_BOX(ci);
        float off = trick ? (float)(ci % NC) * step : 0.0f; /* float32, as idxs.to(boxes)*... */
        x1[t] = q[0] + off, y1[t] = q[1] + off, x2[t] = q[2] + off, y2[t] = q[3] + off;
        area[t] = (x2[t] - x1[t]) * (y2[t] - y1[t]);
        lab[t] = ci % NC;
    }
    int64_t nk = nms_core(m, x1, y1, x2, y2, area, trick ? NULL : lab, sup, p->iou_thr, 0.0f,
                          p->max_num > 0 ? p->max_num : m, keep);
    if (nk > capacity) {
        st = selsa_error(SELSA_ERR_INVALID_ARG,
                         "selsa_multiclass_nms_mmdet: %lld detections survive but dets holds %lld",
                         (long long)nk, (long long)capacity);
        goto done;
    }
    for (int64_t i = 0; i < nk; i++) {
        int64_t t = keep[i];
        int32_t ci = cand[order[t]];
        const float *q = CAND_BOX(ci);
        selsa_detection *d = dets + i;
        d->x1 = q[0], d->y1 = q[1], d->x2 = q[2], d->y2 = q[3];
        d->score = cscore[order[t]];
        d->cls = (int32_t)(ci % NC), d->roi = (int32_t)(ci / NC);
    }
    *n_dets = nk;
#undef CAND_BOX
done:
    selsa_arena_rewind(&ctx->scratch, mark);
    return st;
}

const struct selsa_box_ops selsa_cpu_box_ops = {
    .nms = nms_cpu,
    .proposal_mxnet = proposal_mxnet_cpu,
    .rpn_proposals_mmdet = rpn_proposals_mmdet_cpu,
    .detect_postprocess_official = detect_postprocess_official_cpu,
    .multiclass_nms_mmdet = multiclass_nms_mmdet_cpu,
};
