/* Op table of the RoI group (ROIPooling, RoIAlign); one instance per backend.
 * Signatures equal the public wrappers in include/selsa/ops_roi.h; implementations may assume
 * arguments were validated by the wrapper (shapes, batch indices, finite RoIs). */
#ifndef SELSA_BACKEND_ROI_OPS_H
#define SELSA_BACKEND_ROI_OPS_H

#include "selsa/ops_roi.h"

struct selsa_roi_ops {
    selsa_status (*roi_pool_forward)(selsa_ctx *ctx, selsa_tensor *out, int32_t *argmax,
                                     const selsa_tensor *feat, const selsa_tensor *rois,
                                     float spatial_scale);
    selsa_status (*roi_pool_backward)(selsa_ctx *ctx, selsa_tensor *dfeat,
                                      const selsa_tensor *dout, const int32_t *argmax,
                                      const selsa_tensor *rois);
    selsa_status (*roi_align_forward)(selsa_ctx *ctx, selsa_tensor *out, const selsa_tensor *feat,
                                      const selsa_tensor *rois, const selsa_roi_align_params *p);
    selsa_status (*roi_align_backward)(selsa_ctx *ctx, selsa_tensor *dfeat,
                                       const selsa_tensor *dout, const selsa_tensor *rois,
                                       const selsa_roi_align_params *p);
};

#endif
