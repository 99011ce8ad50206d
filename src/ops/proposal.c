/* Public wrappers of the box group (NMS, proposal layers, detection post-processing): validate
 * every argument with a message naming it, then dispatch to ctx->backend->box. Also the default
 * parameter sets and the scratch-size functions (mirroring the allocations of
 * src/backend/cpu/box_cpu.c, in the same order). */
#include <math.h>

#include "backend/backend.h"
#include "backend/box_ops.h"
#include "selsa/boxes.h"

/* backend_cpu.c references the CPU op tables weakly, and a weak reference does not pull an
 * archive member into a static link: this strong reference makes every program that calls a
 * box op also link src/backend/cpu/box_cpu.o. */
extern const struct selsa_box_ops selsa_cpu_box_ops;
__attribute__((used)) static const struct selsa_box_ops *const link_cpu_box_ops = &selsa_cpu_box_ops;

enum { MAX_ANCHORS = 64 };           /* anchors per position (box_cpu.c keeps them on the stack) */
#define MAX_COUNT ((int64_t)INT32_MAX) /* indices are int32 */

#define AB(x) selsa_box_arena_bytes((size_t)(x))

static const float k_mxnet_scales[3] = {8, 16, 32};
static const float k_mmdet_scales[4] = {4, 8, 16, 32};
static const float k_ratios[3] = {0.5f, 1.0f, 2.0f};

selsa_proposal_mxnet_params selsa_proposal_mxnet_default_params(void) {
    selsa_proposal_mxnet_params p = {
        .feat_stride = 16,
        .scales = k_mxnet_scales,
        .n_scales = 3,
        .ratios = k_ratios,
        .n_ratios = 3,
        .pre_nms_top_n = 6000,
        .post_nms_top_n = 300,
        .nms_thresh = 0.7f,
        .min_size = 0.0f,
        .delta_means = {0, 0, 0, 0},
        .delta_stds = {0.1f, 0.1f, 0.4f, 0.4f}, /* NORMALIZE_RPN: ANCHOR_STDS (§3.1) */
    };
    return p;
}

selsa_rpn_mmdet_params selsa_rpn_mmdet_default_params(int max_per_img) {
    selsa_rpn_mmdet_params p = {
        .stride = 16,
        .scales = k_mmdet_scales,
        .n_scales = 4,
        .ratios = k_ratios,
        .n_ratios = 3,
        .nms_pre = 6000,
        .max_per_img = max_per_img,
        .nms_thresh = 0.7f,
        .min_bbox_size = 0.0f,
        .means = {0, 0, 0, 0},
        .stds = {1, 1, 1, 1},
    };
    return p;
}

selsa_detect_official_params selsa_detect_official_default_params(void) {
    selsa_detect_official_params p = {.num_classes = 31,
                                      .score_thresh = 1e-3f,
                                      .nms_thresh = 0.3,
                                      .max_per_image = 300,
                                      .class_agnostic = true};
    return p;
}

selsa_multiclass_nms_params selsa_multiclass_nms_default_params(void) {
    selsa_multiclass_nms_params p = {.num_classes = 31,
                                     .score_thr = 1e-4f,
                                     .iou_thr = 0.5f,
                                     .max_num = 100,
                                     .mode = SELSA_BATCHED_NMS_MMCV};
    return p;
}

/* ------------------------------------------------------------------- scratch sizes ---- */

size_t selsa_nms_scratch_bytes(int64_t n) {
    if (n <= 0) return 0;
    return AB(5 * n * sizeof(float)) + AB(n);
}

size_t selsa_proposal_mxnet_scratch_bytes(int64_t A, int64_t H, int64_t W,
                                          const selsa_proposal_mxnet_params *p) {
    int64_t count = A * H * W;
    int64_t pre = (p && p->pre_nms_top_n > 0 && p->pre_nms_top_n < count) ? p->pre_nms_top_n
                                                                           : count;
    int64_t post = p ? p->post_nms_top_n : 0;
    int64_t nkeep = post < pre ? post : pre;
    return AB(4 * count * sizeof(float)) + AB(count * sizeof(float)) +
           AB(count * sizeof(int32_t)) + AB(selsa_argsort_scratch_bytes(count)) +
           AB(5 * pre * sizeof(float)) + AB(pre) + AB((nkeep > 0 ? nkeep : 0) * sizeof(int32_t));
}

size_t selsa_rpn_proposals_mmdet_scratch_bytes(int64_t A, int64_t H, int64_t W,
                                               const selsa_rpn_mmdet_params *p) {
    int64_t count = A * H * W;
    int64_t m = (p && p->nms_pre > 0 && p->nms_pre < count) ? p->nms_pre : count;
    return AB(count * sizeof(float)) + AB(count * sizeof(int32_t)) +
           AB(selsa_argsort_scratch_bytes(count)) + 2 * AB(4 * m * sizeof(float)) +
           AB(5 * m * sizeof(float)) + AB(m * sizeof(int32_t)) + AB(m) +
           AB(m * sizeof(int32_t));
}

size_t selsa_detect_postprocess_official_scratch_bytes(int64_t R, int num_classes,
                                                       bool class_agnostic) {
    int64_t C = num_classes, KB = class_agnostic ? 1 : C, all = R * (C - 1);
    if (all < 0) all = 0;
    return AB(4 * R * KB * sizeof(double)) + AB(R * sizeof(int32_t)) + AB(R * sizeof(float)) +
           AB(R * sizeof(int32_t)) + AB(5 * R * sizeof(double)) + AB(R) +
           AB(R * sizeof(int32_t)) + 2 * AB(all * sizeof(int32_t)) + AB(all * sizeof(float)) +
           AB(all * sizeof(int32_t)) + AB(selsa_argsort_scratch_bytes(all > R ? all : R));
}

size_t selsa_multiclass_nms_mmdet_scratch_bytes(int64_t R, int num_classes) {
    int64_t all = R * (num_classes - 1);
    if (all < 0) all = 0;
    return AB(all * sizeof(int32_t)) + AB(all * sizeof(float)) + AB(all * sizeof(int32_t)) +
           AB(selsa_argsort_scratch_bytes(all)) + AB(5 * all * sizeof(float)) +
           AB(all * sizeof(int32_t)) + AB(all) + AB(all * sizeof(int32_t));
}

/* ---------------------------------------------------------------------- validation ---- */

static selsa_status check_finite4(const char *fn, const char *what, const float v[4]) {
    for (int k = 0; k < 4; k++)
        if (!isfinite(v[k]))
            return selsa_error(SELSA_ERR_INVALID_ARG, "%s: %s[%d] is not finite", fn, what, k);
    return SELSA_OK;
}

static selsa_status check_anchor_cfg(const char *fn, int64_t A, const float *ratios, int n_ratios,
                                     const float *scales, int n_scales) {
    if (!ratios || n_ratios <= 0 || !scales || n_scales <= 0)
        return selsa_error(SELSA_ERR_INVALID_ARG,
                           "%s: anchor ratios/scales missing (n_ratios %d, n_scales %d)", fn,
                           n_ratios, n_scales);
    if ((int64_t)n_ratios * n_scales != A)
        return selsa_error(SELSA_ERR_SHAPE,
                           "%s: the score map has %lld anchors per position but ratios x scales "
                           "= %d x %d", fn, (long long)A, n_ratios, n_scales);
    if (A > MAX_ANCHORS)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "%s: %lld anchors per position (at most %d)", fn,
                           (long long)A, MAX_ANCHORS);
    return SELSA_OK;
}

static selsa_status check_ctx(const char *fn, const selsa_ctx *ctx) {
    if (!ctx) return selsa_error(SELSA_ERR_INVALID_ARG, "%s: ctx is NULL", fn);
    return SELSA_OK;
}

/* ------------------------------------------------------------------------- wrappers ---- */

selsa_status selsa_nms(selsa_ctx *ctx, const float *boxes, int64_t n, float iou_thresh,
                       float area_offset, int64_t max_keep, int32_t *keep, int64_t *n_keep) {
    static const char *fn = "selsa_nms";
    SELSA_TRY(check_ctx(fn, ctx));
    if (!n_keep) return selsa_error(SELSA_ERR_INVALID_ARG, "%s: n_keep is NULL", fn);
    *n_keep = 0;
    if (n < 0 || n > MAX_COUNT)
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: box count %lld out of [0, 2^31)", fn,
                           (long long)n);
    if (n > 0 && (!boxes || !keep))
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: %s is NULL", fn, boxes ? "keep" : "boxes");
    if (!isfinite(iou_thresh))
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: iou_thresh is not finite", fn);
    if (!isfinite(area_offset) || area_offset < 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: area_offset %g must be 0 or 1", fn,
                           (double)area_offset);
    selsa_status (*f)(selsa_ctx *, const float *, int64_t, float, float, int64_t, int32_t *,
                      int64_t *);
    SELSA_BACKEND_FN(ctx, box, nms, f);
    return f(ctx, boxes, n, iou_thresh, area_offset, max_keep, keep, n_keep);
}

selsa_status selsa_proposal_mxnet(selsa_ctx *ctx, selsa_tensor *rois, float *roi_scores,
                                  const selsa_tensor *cls_prob, const selsa_tensor *bbox_pred,
                                  const float *im_info, const selsa_proposal_mxnet_params *p) {
    static const char *fn = "selsa_proposal_mxnet";
    SELSA_TRY(check_ctx(fn, ctx));
    if (!p) return selsa_error(SELSA_ERR_INVALID_ARG, "%s: params is NULL", fn);
    SELSA_TRY(selsa_tensor_check(cls_prob, "proposal cls_prob", -1, -1, -1, -1));
    if (cls_prob->c % 2 != 0)
        return selsa_error(SELSA_ERR_SHAPE, "%s: cls_prob has %lld channels, must be 2A", fn,
                           (long long)cls_prob->c);
    const int64_t N = cls_prob->n, A = cls_prob->c / 2, H = cls_prob->h, W = cls_prob->w;
    SELSA_TRY(check_anchor_cfg(fn, A, p->ratios, p->n_ratios, p->scales, p->n_scales));
    SELSA_TRY(selsa_tensor_check(bbox_pred, "proposal bbox_pred", N, 4 * A, H, W));
    if (p->feat_stride <= 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: feat_stride %d must be > 0", fn,
                           p->feat_stride);
    if (p->post_nms_top_n <= 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: post_nms_top_n %d must be > 0", fn,
                           p->post_nms_top_n);
    SELSA_TRY(selsa_tensor_check(rois, "proposal rois", N * p->post_nms_top_n, 5, 1, 1));
    if (!isfinite(p->nms_thresh))
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: nms_thresh is not finite", fn);
    if (!isfinite(p->min_size) || p->min_size < 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: min_size %g must be >= 0", fn,
                           (double)p->min_size);
    SELSA_TRY(check_finite4(fn, "delta_means", p->delta_means));
    SELSA_TRY(check_finite4(fn, "delta_stds", p->delta_stds));
    if (N == 0) return SELSA_OK;
    if (H * W == 0)
        return selsa_error(SELSA_ERR_SHAPE, "%s: empty feature map (%lld x %lld)", fn,
                           (long long)H, (long long)W);
    if (A * H * W > MAX_COUNT)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "%s: %lld anchors per image (at most 2^31-1)",
                           fn, (long long)(A * H * W));
    if (!im_info) return selsa_error(SELSA_ERR_INVALID_ARG, "%s: im_info is NULL", fn);
    for (int64_t b = 0; b < N; b++) {
        const float *ii = im_info + 3 * b;
        if (!(ii[0] > 0) || !(ii[1] > 0) || !(ii[2] > 0) || !isfinite(ii[0]) ||
            !isfinite(ii[1]) || !isfinite(ii[2]))
            return selsa_error(SELSA_ERR_INVALID_ARG,
                               "%s: im_info[%lld] = (%g, %g, %g) must be positive and finite", fn,
                               (long long)b, (double)ii[0], (double)ii[1], (double)ii[2]);
        /* MXNet CHECK_GE(height, real_height): the image must fit the feature map */
        int64_t rh = (int64_t)(ii[0] / (float)p->feat_stride);
        int64_t rw = (int64_t)(ii[1] / (float)p->feat_stride);
        if (rh > H || rw > W)
            return selsa_error(SELSA_ERR_SHAPE,
                               "%s: im_info[%lld] image %gx%g needs a %lldx%lld feature map at "
                               "stride %d, got %lldx%lld", fn, (long long)b, (double)ii[0],
                               (double)ii[1], (long long)rh, (long long)rw, p->feat_stride,
                               (long long)H, (long long)W);
    }
    selsa_status (*f)(selsa_ctx *, selsa_tensor *, float *, const selsa_tensor *,
                      const selsa_tensor *, const float *, const selsa_proposal_mxnet_params *);
    SELSA_BACKEND_FN(ctx, box, proposal_mxnet, f);
    return f(ctx, rois, roi_scores, cls_prob, bbox_pred, im_info, p);
}

selsa_status selsa_rpn_proposals_mmdet(selsa_ctx *ctx, float *boxes, float *scores,
                                       int64_t *n_out, const selsa_tensor *cls_logits,
                                       const selsa_tensor *bbox_pred, float img_h, float img_w,
                                       const selsa_rpn_mmdet_params *p) {
    static const char *fn = "selsa_rpn_proposals_mmdet";
    SELSA_TRY(check_ctx(fn, ctx));
    if (!n_out) return selsa_error(SELSA_ERR_INVALID_ARG, "%s: n_out is NULL", fn);
    *n_out = 0;
    if (!p) return selsa_error(SELSA_ERR_INVALID_ARG, "%s: params is NULL", fn);
    if (!boxes) return selsa_error(SELSA_ERR_INVALID_ARG, "%s: boxes is NULL", fn);
    SELSA_TRY(selsa_tensor_check(cls_logits, "rpn cls_logits", 1, -1, -1, -1));
    const int64_t A = cls_logits->c, H = cls_logits->h, W = cls_logits->w;
    SELSA_TRY(check_anchor_cfg(fn, A, p->ratios, p->n_ratios, p->scales, p->n_scales));
    SELSA_TRY(selsa_tensor_check(bbox_pred, "rpn bbox_pred", 1, 4 * A, H, W));
    if (A * H * W > MAX_COUNT)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "%s: %lld anchors (at most 2^31-1)", fn,
                           (long long)(A * H * W));
    if (!(p->stride > 0) || !isfinite(p->stride))
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: stride %g must be > 0", fn,
                           (double)p->stride);
    if (p->max_per_img <= 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: max_per_img %d must be > 0", fn,
                           p->max_per_img);
    if (!isfinite(p->nms_thresh) || !isfinite(p->min_bbox_size))
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: nms_thresh/min_bbox_size not finite", fn);
    if (!(img_h > 0) || !(img_w > 0) || !isfinite(img_h) || !isfinite(img_w))
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: image size %gx%g must be positive", fn,
                           (double)img_h, (double)img_w);
    SELSA_TRY(check_finite4(fn, "means", p->means));
    SELSA_TRY(check_finite4(fn, "stds", p->stds));
    selsa_status (*f)(selsa_ctx *, float *, float *, int64_t *, const selsa_tensor *,
                      const selsa_tensor *, float, float, const selsa_rpn_mmdet_params *);
    SELSA_BACKEND_FN(ctx, box, rpn_proposals_mmdet, f);
    return f(ctx, boxes, scores, n_out, cls_logits, bbox_pred, img_h, img_w, p);
}

selsa_status selsa_detect_postprocess_official(selsa_ctx *ctx, selsa_detection *dets,
                                               int64_t capacity, int64_t *n_dets,
                                               const selsa_tensor *rois,
                                               const selsa_tensor *scores,
                                               const selsa_tensor *deltas, float im_h, float im_w,
                                               float im_scale,
                                               const selsa_detect_official_params *p) {
    static const char *fn = "selsa_detect_postprocess_official";
    SELSA_TRY(check_ctx(fn, ctx));
    if (!n_dets) return selsa_error(SELSA_ERR_INVALID_ARG, "%s: n_dets is NULL", fn);
    *n_dets = 0;
    if (!p) return selsa_error(SELSA_ERR_INVALID_ARG, "%s: params is NULL", fn);
    if (p->num_classes < 2)
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: num_classes %d must be >= 2", fn,
                           p->num_classes);
    SELSA_TRY(selsa_tensor_check(rois, "detect rois", -1, 5, 1, 1));
    const int64_t R = rois->n, C = p->num_classes;
    if (R * C > MAX_COUNT)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "%s: %lld RoIs x %lld classes too many", fn,
                           (long long)R, (long long)C);
    SELSA_TRY(selsa_tensor_check(scores, "detect scores", R, C, 1, 1));
    SELSA_TRY(selsa_tensor_check(deltas, p->class_agnostic ? "detect deltas (class-agnostic)"
                                                           : "detect deltas (class-specific)",
                                 R, p->class_agnostic ? 8 : 4 * C, 1, 1));
    if (capacity < 0 || (capacity > 0 && !dets))
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: dets is NULL or capacity %lld < 0", fn,
                           (long long)capacity);
    if (!(im_h > 0) || !(im_w > 0) || !(im_scale > 0) || !isfinite(im_h) || !isfinite(im_w) ||
        !isfinite(im_scale))
        return selsa_error(SELSA_ERR_INVALID_ARG,
                           "%s: image %gx%g, scale %g must be positive and finite", fn,
                           (double)im_h, (double)im_w, (double)im_scale);
    if (!isfinite(p->nms_thresh) || !isfinite(p->score_thresh))
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: thresholds must be finite", fn);
    if (R == 0) return SELSA_OK;
    selsa_status (*f)(selsa_ctx *, selsa_detection *, int64_t, int64_t *, const selsa_tensor *,
                      const selsa_tensor *, const selsa_tensor *, float, float, float,
                      const selsa_detect_official_params *);
    SELSA_BACKEND_FN(ctx, box, detect_postprocess_official, f);
    return f(ctx, dets, capacity, n_dets, rois, scores, deltas, im_h, im_w, im_scale, p);
}

selsa_status selsa_multiclass_nms_mmdet(selsa_ctx *ctx, selsa_detection *dets, int64_t capacity,
                                        int64_t *n_dets, const selsa_tensor *bboxes,
                                        const selsa_tensor *scores,
                                        const selsa_multiclass_nms_params *p) {
    static const char *fn = "selsa_multiclass_nms_mmdet";
    SELSA_TRY(check_ctx(fn, ctx));
    if (!n_dets) return selsa_error(SELSA_ERR_INVALID_ARG, "%s: n_dets is NULL", fn);
    *n_dets = 0;
    if (!p) return selsa_error(SELSA_ERR_INVALID_ARG, "%s: params is NULL", fn);
    if (p->num_classes < 2)
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: num_classes %d must be >= 2", fn,
                           p->num_classes);
    if (p->mode != SELSA_BATCHED_NMS_MMCV && p->mode != SELSA_BATCHED_NMS_EXACT &&
        p->mode != SELSA_BATCHED_NMS_OFFSET)
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: unknown batched-NMS mode %d", fn,
                           (int)p->mode);
    SELSA_TRY(selsa_tensor_check(scores, "multiclass_nms scores", -1, p->num_classes, 1, 1));
    const int64_t R = scores->n, NC = p->num_classes - 1;
    if (R * NC > MAX_COUNT)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "%s: %lld candidates too many", fn,
                           (long long)(R * NC));
    SELSA_TRY(selsa_tensor_check(bboxes, "multiclass_nms bboxes", R, -1, 1, 1));
    if (bboxes->c != 4 && bboxes->c != 4 * NC)
        return selsa_error(SELSA_ERR_SHAPE,
                           "%s: bboxes has %lld columns, need 4 (shared) or 4*(num_classes-1) = "
                           "%lld", fn, (long long)bboxes->c, (long long)(4 * NC));
    if (capacity < 0 || (capacity > 0 && !dets))
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: dets is NULL or capacity %lld < 0", fn,
                           (long long)capacity);
    if (!isfinite(p->iou_thr) || !isfinite(p->score_thr))
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: thresholds must be finite", fn);
    if (R == 0) return SELSA_OK;
    selsa_status (*f)(selsa_ctx *, selsa_detection *, int64_t, int64_t *, const selsa_tensor *,
                      const selsa_tensor *, const selsa_multiclass_nms_params *);
    SELSA_BACKEND_FN(ctx, box, multiclass_nms_mmdet, f);
    return f(ctx, dets, capacity, n_dets, bboxes, scores, p);
}
