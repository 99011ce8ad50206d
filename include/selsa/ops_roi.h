/* selsa — RoI feature extraction: MXNet ROIPooling (official SELSA) and mmcv RoIAlign
 * (MMTracking SELSA), forward and backward.
 *
 * Shapes:
 *   feat   (N, C, H, W)     feature map of N images/frames
 *   rois   (R, 5, 1, 1)     rows [batch_index, x1, y1, x2, y2] in input-image pixels
 *   out    (R, C, ph, pw)   pooled features; the pooled size is taken from out->h, out->w
 * Backward functions ACCUMULATE into dfeat (+=). Both backwards are deterministic: each
 * feature-map element receives its contributions in the fixed order (RoI, bin, sample),
 * independent of the thread count (no atomics).
 * The batch index is truncated toward zero, as (int) in MXNet/mmcv. R = 0 is allowed. */
#ifndef SELSA_OPS_ROI_H
#define SELSA_OPS_ROI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "selsa/context.h"
#include "selsa/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* MXNet ROIPooling, max mode (official-selsa.md §4.1; roi_pooling.cu, MXNet 1.3.0):
 *   xs = round(x1*s), ys = round(y1*s), xe = round(x2*s), ye = round(y2*s)  (C round(): half
 *   away from zero; products in float32); rw = max(xe-xs+1, 1), rh = max(ye-ys+1, 1);
 *   bin_h = rh/(float)ph; hstart = floor(i*bin_h)+ys, hend = ceil((i+1)*bin_h)+ys, clipped to
 *   [0, H] (same for w); max over the bin, first maximum in row-major scan order wins;
 *   an empty bin gives 0 (argmax -1); a negative batch index gives 0 (argmax -1).
 * argmax: numel(out) int32, the index h*W+w of the maximum inside the RoI's feature plane, or -1.
 * A batch index >= N is an error (SELSA_ERR_INVALID_ARG); RoI coordinates must be finite. */
selsa_status selsa_roi_pool_forward(selsa_ctx *ctx, selsa_tensor *out, int32_t *argmax,
                                    const selsa_tensor *feat, const selsa_tensor *rois,
                                    float spatial_scale);
/* dfeat (N, C, H, W) += dout (R, C, ph, pw) routed to the argmax positions saved by forward. */
selsa_status selsa_roi_pool_backward(selsa_ctx *ctx, selsa_tensor *dfeat, const selsa_tensor *dout,
                                     const int32_t *argmax, const selsa_tensor *rois);

typedef struct selsa_roi_align_params {
    int pooled_h, pooled_w; /* output bins, must equal out->h, out->w (7, 7 in MMTracking) */
    float spatial_scale;    /* 1/16 for the C4/DC5 feature */
    int sampling_ratio;     /* samples per bin side; 0 = adaptive ceil(roi_size/pooled) */
    bool aligned;           /* true: pixel shift -0.5 (MMTracking); false: legacy, size >= 1 */
} selsa_roi_align_params;

/* mmcv RoIAlign, avg mode (mmtracking-selsa.md §2.6). Identical to torchvision.ops.roi_align.
 * Bilinear sample: 0 if y < -1 || y > H || x < -1 || x > W; clamp negatives to 0; if
 * (int)y >= H-1 then y_low = y_high = H-1 (likewise x). Output = sum / max(gh*gw, 1).
 * RoIs with x2 < x1 (aligned) are computed with the same formulas as the CUDA kernels (negative
 * bin size; adaptive sampling then gives an empty grid and 0). A batch index outside [0, N) is
 * an error. RoI coordinates must be finite. */
selsa_status selsa_roi_align_forward(selsa_ctx *ctx, selsa_tensor *out, const selsa_tensor *feat,
                                     const selsa_tensor *rois, const selsa_roi_align_params *p);
/* dfeat (N, C, H, W) += bilinear-weighted dout (R, C, ph, pw) / count. */
selsa_status selsa_roi_align_backward(selsa_ctx *ctx, selsa_tensor *dfeat,
                                      const selsa_tensor *dout, const selsa_tensor *rois,
                                      const selsa_roi_align_params *p);
/* Scratch bytes RoIAlign forward/backward take from ctx->scratch for R RoIs. */
size_t selsa_roi_align_scratch_bytes(int64_t R);

#ifdef __cplusplus
}
#endif
#endif
