/* selsa — boxes: anchors, box coding, clipping, IoU, stable arg-sort, NMS, the two RPN proposal
 * layers (MXNet `_contrib_Proposal`/`MultiProposal` and mmdet `RPNHead`) and the two test-time
 * detection post-processings (official `core/tester.py` and mmdet `multiclass_nms`).
 *
 * Box rows are always [x1, y1, x2, y2] (4 floats); RoI rows are [batch_index, x1, y1, x2, y2].
 * Two conventions coexist (never mix them):
 *   MXNet / official SELSA   "+1": width = x2 - x1 + 1, areas +1, clip to [0, W-1] x [0, H-1]
 *   mmdet / MMTracking       width = x2 - x1, areas without offset, clip to [0, W] x [0, H]
 * Forward only: nothing here has (or needs) a backward.
 *
 * Host functions (no ctx) work on host memory. The NMS, proposal and post-processing ops are
 * dispatched through the backend (`ctx->backend->box`); their temporaries come from
 * ctx->scratch (size them with the *_scratch_bytes functions). */
#ifndef SELSA_BOXES_H
#define SELSA_BOXES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "selsa/context.h"
#include "selsa/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ===================================================================== anchors ========== */

/* MXNet `GenerateAnchors` (official-selsa.md §3.2): base box [0, 0, base_size-1, base_size-1];
 * ratios are the outer loop, scales the inner: anchor a = i_ratio*n_scales + j_scale.
 * size_ratios = floor(base^2/r), w = floor(sqrt(size_ratios)+0.5)*s, h = floor(w/s*r+0.5)*s,
 * box = ctr ± 0.5(w-1), ctr ± 0.5(h-1).  anchors: (n_ratios*n_scales, 4). */
selsa_status selsa_anchors_mxnet(float *anchors, int base_size, const float *ratios, int n_ratios,
                                 const float *scales, int n_scales);

/* mmdet `AnchorGenerator.gen_single_level_base_anchors` with centre offset 0 (mmtracking-selsa.md
 * §2.6), float32 like torch: h_ratio = sqrt(r), w_ratio = 1/h_ratio, ws = base*w_ratio*scale,
 * anchor = [-ws/2, -hs/2, ws/2, hs/2]; a = i_ratio*n_scales + j_scale (scale_major).
 * anchors: (n_ratios*n_scales, 4). */
selsa_status selsa_anchors_mmdet(float *anchors, float base_size, const float *ratios,
                                 int n_ratios, const float *scales, int n_scales);

/* Shifted anchors on an H x W grid: out[((y*W + x)*A + a)*4 + k] = base[a*4+k] + stride*(x|y)
 * (float32 add, as mmdet `grid_priors`; also MXNet's enumeration h*(W*A) + w*A + a).
 * out: (H*W*A, 4). */
void selsa_anchors_shift(float *out, const float *base, int A, int H, int W, float stride);

/* ================================================================= box coding ========== */

/* MXNet/official "+1" encode (`bbox_transform.nonlinear_transform`), computed in double:
 * t = ((gcx-cx)/w, (gcy-cy)/h, ln(gw/w), ln(gh/h)), then (t - means)/stds.
 * boxes, gt, deltas: (n, 4). means/stds may be NULL (0 and 1). */
void selsa_bbox_encode_mxnet(float *deltas, const float *boxes, const float *gt, int64_t n,
                             const float means[4], const float stds[4]);

/* MXNet/official "+1" decode (official-selsa.md §3.3 step 2, §5 step 3), no delta clamp, no clip,
 * computed in double and rounded once. boxes: (n, 4); deltas, out: (n, 4k) — k boxes per row
 * (k = 1 for the RPN, 2 for the official class-agnostic head, 31 for class-specific).
 * out may alias deltas. */
void selsa_bbox_decode_mxnet(float *out, const float *boxes, const float *deltas, int64_t n, int k);

/* mmdet `bbox2delta` (float32): p* from boxes, g* from gt with width = x2-x1 (no +1);
 * ((gx-px)/pw, (gy-py)/ph, ln(gw/pw), ln(gh/ph)), then (d - means)/stds. NULL means/stds = 0/1. */
void selsa_bbox_encode_mmdet(float *deltas, const float *boxes, const float *gt, int64_t n,
                             const float means[4], const float stds[4]);

/* mmdet `delta2bbox` (DeltaXYWHBBoxCoder.decode, add_ctr_clamp=False), float32 op for op:
 * d = delta*std + mean; dw, dh clamped to ±|ln(wh_ratio_clip)| (16/1000 -> ±4.1351666);
 * gx = px + pw*dx, gw = pw*exp(dw) (exp in double, rounded), x1 = gx - gw*0.5, x2 = gx + gw*0.5.
 * If max_w > 0 and max_h > 0, clamp x to [0, max_w] and y to [0, max_h] (no -1).
 * boxes: (n, 4); deltas, out: (n, 4k). NULL means/stds = 0/1. out may alias deltas. */
void selsa_bbox_decode_mmdet(float *out, const float *boxes, const float *deltas, int64_t n, int k,
                             const float means[4], const float stds[4], float wh_ratio_clip,
                             float max_h, float max_w);

/* Clamp x to [0, x_max] and y to [0, y_max] (pass W-1, H-1 for MXNet, W, H for mmdet).
 * boxes: (n, 4). */
void selsa_bbox_clip(float *boxes, int64_t n, float x_max, float y_max);

/* Divide every row by scale[4] (mmdet rescale: [w_s, h_s, w_s, h_s]; official: all = scale). */
void selsa_bbox_rescale(float *boxes, int64_t n, const float scale[4]);

/* IoU matrix iou[i*nb + j] of a (na, 4) against b (nb, 4), float32:
 * inter = max(0, min(x2)-max(x1)+off) * max(0, min(y2)-max(y1)+off), area = (w+off)(h+off),
 * iou = inter / (area_a + area_b - inter); a union <= 0 gives 0 (torchvision would give NaN).
 * area_offset: 1 (MXNet) or 0 (mmdet, torchvision). */
void selsa_iou_matrix(float *iou, const float *a, int64_t na, const float *b, int64_t nb,
                      float area_offset);

/* =============================================================== sorting ========== */

/* Stable arg-sort by descending score (ties keep ascending index order; like std::stable_sort
 * with `>`; -0 and +0 are equal; NaN sorts after every number). order: (n) int32.
 * tmp: selsa_argsort_scratch_bytes(n) bytes (64-byte aligned not required). n < 2^31. */
size_t selsa_argsort_scratch_bytes(int64_t n);
void selsa_argsort_desc_stable(const float *scores, int64_t n, int32_t *order, void *tmp);

/* ======================================================= NMS (dispatched) ========== */

/* Greedy NMS over boxes ALREADY SORTED by descending score (the caller sorts, e.g. with
 * selsa_argsort_desc_stable): box i is kept unless an earlier kept box has IoU > iou_thresh
 * (strict: IoU == thresh is kept). IoU in float32 as MXNet/torchvision/mmcv CPU:
 * inter / ((area_i + area_j) - inter), areas with area_offset (1 MXNet, 0 torchvision/mmcv).
 * Stops once max_keep boxes are kept (max_keep <= 0: no limit).
 * boxes: (n, 4) host; keep: capacity min(n, max_keep) int32, indices into boxes, increasing. */
selsa_status selsa_nms(selsa_ctx *ctx, const float *boxes, int64_t n, float iou_thresh,
                       float area_offset, int64_t max_keep, int32_t *keep, int64_t *n_keep);
size_t selsa_nms_scratch_bytes(int64_t n);

/* ==================================================== MXNet proposal layer ========== */

typedef struct selsa_proposal_mxnet_params {
    int feat_stride;         /* 16: anchor base size and grid step */
    const float *scales;     /* (n_scales) (8, 16, 32) */
    int n_scales;
    const float *ratios;     /* (n_ratios) (0.5, 1, 2) */
    int n_ratios;
    int pre_nms_top_n;       /* 6000; <= 0: all anchors */
    int post_nms_top_n;      /* 300: rows per image, always filled */
    float nms_thresh;        /* 0.7 */
    float min_size;          /* 0: FilterBox threshold is min_size*im_info[2] */
    float delta_means[4];    /* rpn_inv_normalize: d = pred*std + mean per k = c%4 (float32); */
    float delta_stds[4];     /*   (0,0,0,0) / (1,1,1,1) is the identity */
} selsa_proposal_mxnet_params;

/* The official SELSA configuration: stride 16, scales (8,16,32), ratios (0.5,1,2), pre 6000,
 * post 300, NMS 0.7, min_size 0, rpn_inv_normalize stds (0.1,0.1,0.4,0.4), means 0. */
selsa_proposal_mxnet_params selsa_proposal_mxnet_default_params(void);

/* MXNet Proposal/MultiProposal (official-selsa.md §3.3), per image b:
 *   1. anchors enumerated idx = (h*W + w)*A + a, score = cls_prob[b, A+a, h, w] (foreground);
 *   2. deltas (after rpn_inv_normalize) decoded "+1" in double, clipped to [0,im_w-1]x[0,im_h-1];
 *   3. padded-region rule: h >= int(im_h/stride) or w >= int(im_w/stride) -> score -1;
 *   4. FilterBox: w or h (+1) < min_size*im_info[2] -> inflate by min_size*scale/2, score -1;
 *   5. stable sort by descending score, keep the first pre_nms_top_n (score -1 boxes included);
 *   6. greedy NMS (+1 areas, suppress IoU > thresh), stop at post_nms_top_n kept;
 *   7. row i of the image's post_nms_top_n rows = kept[i % n_kept]  (repeat-fill).
 * cls_prob: (N, 2A, H, W) softmaxed, channel a = background, A+a = foreground.
 * bbox_pred: (N, 4A, H, W), channel 4a+k = (dx, dy, dw, dh)[k].
 * im_info: (N, 3) host floats [im_h, im_w, scale] of the scaled (unpadded) image; it must not
 * be larger than the feature map (int(im_h/stride) <= H), as MXNet's CHECK_GE.
 * rois: (N*post, 5, 1, 1) rows [b, x1, y1, x2, y2]; roi_scores: (N*post) host or NULL.
 * Fails on an empty feature map (H*W == 0); N = 0 is allowed. */
selsa_status selsa_proposal_mxnet(selsa_ctx *ctx, selsa_tensor *rois, float *roi_scores,
                                  const selsa_tensor *cls_prob, const selsa_tensor *bbox_pred,
                                  const float *im_info, const selsa_proposal_mxnet_params *p);
size_t selsa_proposal_mxnet_scratch_bytes(int64_t A, int64_t H, int64_t W,
                                          const selsa_proposal_mxnet_params *p);

/* ====================================================== mmdet RPN proposals ========== */

typedef struct selsa_rpn_mmdet_params {
    float stride;            /* 16 */
    const float *scales;     /* (n_scales) (4, 8, 16, 32) */
    int n_scales;
    const float *ratios;     /* (n_ratios) (0.5, 1, 2) */
    int n_ratios;
    int nms_pre;             /* 6000; <= 0: all */
    int max_per_img;         /* 300 test, 600 train; > 0 */
    float nms_thresh;        /* 0.7 */
    float min_bbox_size;     /* 0: keep w > 0 && h > 0 (mmdet 2.25); < 0: no filter */
    float means[4];          /* (0,0,0,0) */
    float stds[4];           /* (1,1,1,1) */
} selsa_rpn_mmdet_params;

/* MMTracking SELSA R50-DC5 RPN: stride 16, scales (4,8,16,32), ratios (0.5,1,2), nms_pre 6000,
 * NMS 0.7, min_bbox_size 0, means 0, stds 1, and the given max_per_img. */
selsa_rpn_mmdet_params selsa_rpn_mmdet_default_params(int max_per_img);

/* mmdet 2.25 `RPNHead._get_bboxes_single` for one image and one level (mmtracking-selsa.md
 * §2.6): score = sigmoid(logit) (double, rounded) in anchor order (y*W + x)*A + a; stable sort
 * descending, keep nms_pre; decode (`delta2bbox`, clip to [0, img_w] x [0, img_h]); drop
 * w <= min_bbox_size or h <= min_bbox_size; NMS (offset 0, IoU > thresh suppressed); first
 * max_per_img. cls_logits: (1, A, H, W) raw logits; bbox_pred: (1, 4A, H, W).
 * boxes: (max_per_img, 4) host; scores: (max_per_img) host or NULL; *n_out = rows written
 * (<= max_per_img, possibly 0). Output is in descending score order. */
selsa_status selsa_rpn_proposals_mmdet(selsa_ctx *ctx, float *boxes, float *scores,
                                       int64_t *n_out, const selsa_tensor *cls_logits,
                                       const selsa_tensor *bbox_pred, float img_h, float img_w,
                                       const selsa_rpn_mmdet_params *p);
size_t selsa_rpn_proposals_mmdet_scratch_bytes(int64_t A, int64_t H, int64_t W,
                                               const selsa_rpn_mmdet_params *p);

/* ============================================= detection post-processing ========== */

/* One detection. Boxes are double: the official post-processing runs in float64 (NumPy). */
typedef struct selsa_detection {
    double x1, y1, x2, y2;   /* original-image pixels (after the caller's / op's rescale) */
    float score;
    int32_t cls;             /* official: 1..num_classes-1; mmdet: 0..num_classes-2 */
    int32_t roi;             /* row of the RoI it came from */
} selsa_detection;

typedef struct selsa_detect_official_params {
    int num_classes;         /* 31: score columns, column 0 = background */
    float score_thresh;      /* 1e-3: keep score > thresh (float32 compare) */
    double nms_thresh;       /* 0.3: keep while IoU <= thresh (float64, as the Python NMS) */
    int max_per_image;       /* 300; <= 0: no limit */
    bool class_agnostic;     /* true: deltas (R, 8), boxes from columns 4:8;
                                false: deltas (R, 4*num_classes), class j uses 4j:4j+4 */
} selsa_detect_official_params;

selsa_detect_official_params selsa_detect_official_default_params(void);

/* Official test post-processing (official-selsa.md §5, `core/tester.py`), all box math in
 * double as NumPy: decode "+1" (no clamp), clip to [0, im_w-1] x [0, im_h-1] (scaled image),
 * divide by im_scale; for j = 1..C-1: candidates score[:, j] > thresh, `nms` (+1 areas; order
 * = reverse of a stable ascending arg-sort, i.e. descending score, ties by DESCENDING row, as
 * numpy's `argsort()[::-1]` for small arrays; a candidate survives while IoU <= thresh, so a NaN
 * IoU suppresses); then if more than max_per_image detections remain, keep score >= the
 * max_per_image-th largest (ties kept, so the count may exceed max_per_image).
 * rois: (R, 5, 1, 1) [b, x1, y1, x2, y2] in scaled-image pixels; scores: (R, C, 1, 1);
 * deltas: (R, 8, 1, 1) or (R, 4C, 1, 1). Output order: class-major (1..C-1), NMS order within.
 * dets: capacity rows (R*(C-1) always suffices); fails with SELSA_ERR_INVALID_ARG if more
 * detections survive than capacity. */
selsa_status selsa_detect_postprocess_official(selsa_ctx *ctx, selsa_detection *dets,
                                               int64_t capacity, int64_t *n_dets,
                                               const selsa_tensor *rois,
                                               const selsa_tensor *scores,
                                               const selsa_tensor *deltas, float im_h, float im_w,
                                               float im_scale,
                                               const selsa_detect_official_params *p);
size_t selsa_detect_postprocess_official_scratch_bytes(int64_t R, int num_classes,
                                                       bool class_agnostic);

typedef enum selsa_batched_nms_mode {
    /* mmcv `batched_nms` exactly: below split_thr (10000) candidates it runs ONE NMS on
     * boxes + label*(max(boxes)+1) in float32 (the coordinate-offset trick; reproduced bit for
     * bit: float32 offsets, float32 IoU of the shifted boxes); otherwise per-class NMS. */
    SELSA_BATCHED_NMS_MMCV = 0,
    /* Per-class NMS on the unshifted boxes (what the offset trick approximates). */
    SELSA_BATCHED_NMS_EXACT = 1,
    /* Always the offset trick, whatever the count. */
    SELSA_BATCHED_NMS_OFFSET = 2
} selsa_batched_nms_mode;

typedef struct selsa_multiclass_nms_params {
    int num_classes;         /* C = 31 score columns, background LAST (mmdet) */
    float score_thr;         /* 1e-4: keep score > thr (strict) */
    float iou_thr;           /* 0.5: suppress IoU > thr (offset 0) */
    int max_num;             /* 100: first max_num by score; <= 0: all */
    selsa_batched_nms_mode mode;
} selsa_multiclass_nms_params;

selsa_multiclass_nms_params selsa_multiclass_nms_default_params(void);

/* mmdet `multiclass_nms` + mmcv `batched_nms` (mmtracking-selsa.md §2.6): drop the background
 * (last) column; candidates flattened RoI-major, class-minor; keep score > score_thr; stable
 * sort by descending score (ties by candidate order); class-aware greedy NMS (see mode); the
 * first max_num kept. bboxes: (R, 4, 1, 1) shared by all classes or (R, 4*(C-1), 1, 1)
 * class-specific, already decoded (and rescaled); scores: (R, C, 1, 1).
 * dets: capacity rows (min(R*(C-1), max_num) suffices); cls = 0-based mmdet label. */
selsa_status selsa_multiclass_nms_mmdet(selsa_ctx *ctx, selsa_detection *dets, int64_t capacity,
                                        int64_t *n_dets, const selsa_tensor *bboxes,
                                        const selsa_tensor *scores,
                                        const selsa_multiclass_nms_params *p);
size_t selsa_multiclass_nms_mmdet_scratch_bytes(int64_t R, int num_classes);

#ifdef __cplusplus
}
#endif
#endif
