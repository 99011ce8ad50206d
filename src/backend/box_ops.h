/* Op table of the box group (NMS, proposal layers, detection post-processing); one instance
 * per backend. Signatures equal the public wrappers in include/selsa/boxes.h; implementations
 * may assume the wrapper validated every argument (shapes, counts, hyperparameters, capacities).
 *
 * Also declares the scratch layout helpers shared by the wrappers (sizing) and the CPU code. */
#ifndef SELSA_BACKEND_BOX_OPS_H
#define SELSA_BACKEND_BOX_OPS_H

#include "selsa/boxes.h"

struct selsa_box_ops {
    selsa_status (*nms)(selsa_ctx *ctx, const float *boxes, int64_t n, float iou_thresh,
                        float area_offset, int64_t max_keep, int32_t *keep, int64_t *n_keep);
    selsa_status (*proposal_mxnet)(selsa_ctx *ctx, selsa_tensor *rois, float *roi_scores,
                                   const selsa_tensor *cls_prob, const selsa_tensor *bbox_pred,
                                   const float *im_info, const selsa_proposal_mxnet_params *p);
    selsa_status (*rpn_proposals_mmdet)(selsa_ctx *ctx, float *boxes, float *scores,
                                        int64_t *n_out, const selsa_tensor *cls_logits,
                                        const selsa_tensor *bbox_pred, float img_h, float img_w,
                                        const selsa_rpn_mmdet_params *p);
    selsa_status (*detect_postprocess_official)(selsa_ctx *ctx, selsa_detection *dets,
                                                int64_t capacity, int64_t *n_dets,
                                                const selsa_tensor *rois,
                                                const selsa_tensor *scores,
                                                const selsa_tensor *deltas, float im_h,
                                                float im_w, float im_scale,
                                                const selsa_detect_official_params *p);
    selsa_status (*multiclass_nms_mmdet)(selsa_ctx *ctx, selsa_detection *dets, int64_t capacity,
                                         int64_t *n_dets, const selsa_tensor *bboxes,
                                         const selsa_tensor *scores,
                                         const selsa_multiclass_nms_params *p);
};

/* Bytes an arena hands out for `bytes` (rounded up to the arena alignment). */
static inline size_t selsa_box_arena_bytes(size_t bytes) {
    return (bytes + SELSA_ARENA_ALIGN - 1) / SELSA_ARENA_ALIGN * SELSA_ARENA_ALIGN;
}

/* Stable descending arg-sort (src/ops/boxes.c); ties in ascending index order, or descending
 * index order when ties_descending (numpy `argsort()[::-1]` on small arrays). tmp as
 * selsa_argsort_scratch_bytes(n). */
void selsa_box_argsort_desc(const float *scores, int64_t n, int32_t *order, void *tmp,
                            bool ties_descending);

#endif
