/* selsa — configuration → model configuration (selsa_config_to_official). Kept apart from
 * config.c so the YAML layer does not depend on the model headers. */
#include <string.h>

#include "selsa/config.h"
#include "selsa/model_mmtrack.h"
#include "selsa/model_official.h"

selsa_status selsa_config_to_official(const selsa_config *cfg, selsa_official_config *o) {
    if (!cfg || !o) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_config_to_official: NULL");
    SELSA_TRY(selsa_config_validate(cfg));
    const selsa_config_network *n = &cfg->network;
    if (n->family != SELSA_FAMILY_OFFICIAL)
        return selsa_error(SELSA_ERR_UNSUPPORTED,
                           "config: network.family is mmtrack; the official model needs official");
    if (n->n_anchor_scales != 3 || n->n_anchor_ratios != 3)
        return selsa_error(SELSA_ERR_UNSUPPORTED,
                           "config: the official model has 3 anchor scales × 3 ratios (got %d × %d)",
                           n->n_anchor_scales, n->n_anchor_ratios);
    if (n->image_stride != 0)
        return selsa_error(SELSA_ERR_UNSUPPORTED,
                           "config: network.IMAGE_STRIDE = %d: the official model does not pad",
                           n->image_stride);
    for (int i = 0; i < 3; i++)
        if (n->pixel_stds[i] != 1.0)
            return selsa_error(SELSA_ERR_UNSUPPORTED,
                               "config: network.PIXEL_STDS must be 1 for the official model");
    selsa_official_config_r101(o);
    int blocks[4];
    SELSA_TRY(selsa_config_blocks(cfg, blocks));
    o->depth = n->depth;
    memcpy(o->units, blocks, sizeof blocks);
    /* MSRA ResNet-101/152 files number the res3/res4 units (b1, b2, ...); ResNet-50 and custom
     * block counts use letters (official-selsa.md §2). */
    bool standard = !(n->blocks[0] || n->blocks[1] || n->blocks[2] || n->blocks[3]);
    o->msra_numbered = standard && (n->depth == 101 || n->depth == 152);
    o->base_channels = n->base_channels;
    o->rpn_channels = n->rpn_channels;
    o->conv_new_channels = n->conv_new_channels;
    o->fc_dim = n->fc_dim;
    o->num_classes = cfg->dataset.num_classes;
    o->selsa = n->selsa;
    o->scale_short = cfg->scale_short;
    o->scale_long = cfg->scale_long;
    o->key_interval = cfg->test.key_frame_interval;
    for (int i = 0; i < 3; i++) {
        o->anchor_scales[i] = (float)n->anchor_scales[i];
        o->anchor_ratios[i] = (float)n->anchor_ratios[i];
    }
    o->proposal.feat_stride = n->rpn_feat_stride;
    o->proposal.pre_nms_top_n = cfg->test.rpn_pre_nms_top_n;
    o->proposal.post_nms_top_n = cfg->test.rpn_post_nms_top_n;
    o->proposal.nms_thresh = (float)cfg->test.rpn_nms_thresh;
    o->proposal.min_size = (float)cfg->test.rpn_min_size;
    for (int i = 0; i < 4; i++) {
        o->proposal.delta_means[i] = n->normalize_rpn ? (float)n->anchor_means[i] : 0.0f;
        o->proposal.delta_stds[i] = n->normalize_rpn ? (float)n->anchor_stds[i] : 1.0f;
    }
    o->detect.num_classes = o->num_classes;
    o->detect.score_thresh = (float)cfg->test.thresh;
    o->detect.nms_thresh = cfg->test.nms;
    o->detect.max_per_image = cfg->test.max_per_image;
    o->detect.class_agnostic = cfg->class_agnostic;
    selsa_official_config_fix_pointers(o);
    return selsa_official_config_validate(o);
}

selsa_status selsa_config_to_mmtrack(const selsa_config *cfg, selsa_mmtrack_config *o) {
    if (!cfg || !o) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_config_to_mmtrack: NULL");
    SELSA_TRY(selsa_config_validate(cfg));
    const selsa_config_network *n = &cfg->network;
    if (n->family != SELSA_FAMILY_MMTRACK)
        return selsa_error(SELSA_ERR_UNSUPPORTED,
                           "config: network.family is official; the MMTracking model needs mmtrack");
    if (!n->selsa)
        return selsa_error(SELSA_ERR_UNSUPPORTED,
                           "config: network.selsa = false: the MMTracking family has no "
                           "single-frame model");
    if (n->n_anchor_scales != 4 || n->n_anchor_ratios != 3)
        return selsa_error(SELSA_ERR_UNSUPPORTED,
                           "config: the MMTracking model has 4 anchor scales × 3 ratios (got %d × "
                           "%d)", n->n_anchor_scales, n->n_anchor_ratios);
    if (n->rpn_channels != n->conv_new_channels)
        return selsa_error(SELSA_ERR_UNSUPPORTED,
                           "config: network.rpn_channels (%d) and conv_new_channels (%d) must be "
                           "equal for mmtrack (one ChannelMapper output)", n->rpn_channels,
                           n->conv_new_channels);
    selsa_mmtrack_config_r50(o);
    SELSA_TRY(selsa_config_blocks(cfg, o->blocks));
    o->depth = n->depth;
    o->base_planes = n->base_channels;
    o->groups = n->groups;
    o->base_width = n->base_width;
    o->neck_channels = n->rpn_channels;
    o->fc_dim = n->fc_dim;
    o->num_classes = cfg->dataset.num_classes - 1; /* mmdet counts foreground classes */
    o->agg_heads = n->attention_heads;
    o->scale_long = cfg->scale_long;
    o->scale_short = cfg->scale_short;
    o->rpn.stride = (float)n->rpn_feat_stride;
    o->rpn.n_scales = n->n_anchor_scales;
    o->rpn.n_ratios = n->n_anchor_ratios;
    for (int i = 0; i < n->n_anchor_scales; i++) o->anchor_scales[i] = (float)n->anchor_scales[i];
    for (int i = 0; i < n->n_anchor_ratios; i++) o->anchor_ratios[i] = (float)n->anchor_ratios[i];
    o->rpn.nms_pre = cfg->test.rpn_pre_nms_top_n;
    o->rpn.max_per_img = cfg->test.rpn_post_nms_top_n;
    o->rpn.nms_thresh = (float)cfg->test.rpn_nms_thresh;
    o->rpn.min_bbox_size = (float)cfg->test.rpn_min_size;
    for (int i = 0; i < 4; i++) {
        o->rpn.means[i] = n->normalize_rpn ? (float)n->anchor_means[i] : 0.0f;
        o->rpn.stds[i] = n->normalize_rpn ? (float)n->anchor_stds[i] : 1.0f;
        o->rcnn_stds[i] = (float)cfg->train.bbox_stds[i];
    }
    o->rcnn.num_classes = cfg->dataset.num_classes;
    o->rcnn.score_thr = (float)cfg->test.thresh;
    o->rcnn.iou_thr = (float)cfg->test.nms;
    o->rcnn.max_num = cfg->test.max_per_image;
    o->n_ref = cfg->test.num_ref_imgs;
    o->online_ring = cfg->test.online_ring > 0 ? cfg->test.online_ring
                                               : 2 * cfg->test.key_frame_interval + 1;
    o->online_stride = cfg->test.online_stride;
    selsa_mmtrack_config_fix_pointers(o);
    return selsa_mmtrack_config_validate(o);
}
