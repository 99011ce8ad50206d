/* selsa — internals of the MMTracking SELSA model shared by mmtrack.c and mmtrack_schedule.c. */
#ifndef SELSA_MODEL_MMTRACK_INTERNAL_H
#define SELSA_MODEL_MMTRACK_INTERNAL_H

#include "model/resnet_torch.h"
#include "selsa/model_mmtrack.h"

struct selsa_mmtrack_model {
    selsa_mmtrack_config cfg;     /* rpn.scales/ratios point into cfg itself */
    selsa_arena params;           /* one persistent arena holding every parameter below */
    selsa_rt_net net;             /* backbone, BN folded */
    selsa_rt_conv neck;           /* (Cn, C5, 3, 3) pad 1 + bias, ReLU */
    selsa_rt_conv rpn_conv;       /* (Cn, Cn, 3, 3) pad 1 + bias, ReLU */
    selsa_rt_conv rpn_cls;        /* (A, Cn, 1, 1) */
    selsa_rt_conv rpn_reg;        /* (4A, Cn, 1, 1) */
    /* linear layers: weight (Out, In, 1, 1) */
    selsa_rt_conv fc0;            /* shared_fcs.0 (D, Cn·7·7) */
    selsa_rt_conv fc1;            /* shared_fcs.1 (D, D) */
    selsa_rt_conv fc_embed[2];    /* aggregator.i.fc_embed (D, D): queries */
    selsa_rt_conv ref_fc_embed[2];/* aggregator.i.ref_fc_embed (D, D): keys */
    selsa_rt_conv ref_fc[2];      /* aggregator.i.ref_fc (D, D): values */
    selsa_rt_conv agg_fc[2];      /* aggregator.i.fc (D, D): output projection */
    selsa_rt_conv fc_cls;         /* (C+1, D), background last */
    selsa_rt_conv fc_reg;         /* (4C, D) class-specific */
};

/* Per-frame outputs of the feature stage (views into the activation arena). */
typedef struct mm_frame_out {
    selsa_tensor props;    /* (P, 5, 1, 1) [x1, y1, x2, y2, score] */
    selsa_tensor rois;     /* (P, 5, 1, 1) [0, x1, y1, x2, y2] for RoIAlign */
    selsa_tensor x0;       /* (P, D, 1, 1) shared_fcs.0 output, pre-ReLU */
    int64_t P;             /* proposals (<= R) */
    int img_h, img_w;      /* resized, unpadded */
    float scale_factor[4];
} mm_frame_out;

struct selsa_mmtrack_runner {
    const selsa_mmtrack_model *m;
    selsa_ctx *ctx;
    int R, D, C;              /* RoIs per frame (rpn.max_per_img), fc_dim, num_classes */
    int cap;                  /* max support frames */
    int64_t max_rows;         /* (cap + 1)·R: support rows + the key's tail rows */
    /* support set: rows [sup_start[i], sup_start[i+1]) belong to support entry i */
    int n_sup;
    int64_t *sup_frame;       /* [cap] frame indices */
    int64_t *sup_start;       /* [cap + 2] row offsets */
    float *K[2], *V[2];       /* [max_rows·D] aggregator i keys / values, support rows then key */
    int64_t pending_rows;     /* key rows after the support rows from the last detect, or -1 */
    int64_t pending_frame;
    selsa_arena cache;        /* support set + result buffers, fixed at creation */
    selsa_arena act;          /* per-frame activations, reset per frame */
    selsa_arena unc;          /* uncached path (all support rows), reserved on demand */
    int res_h, res_w;         /* resized frame size the arenas are reserved for */
    bool res_uncached;
    selsa_image resized;      /* resized frame (buffer reused) */
    /* last result */
    float *res_props, *res_cls, *res_reg; /* [R·5], [R·(C+1)], [R·4C] */
    selsa_tensor t_props, t_cls, t_reg;
    selsa_detection *dets;    /* [det_cap] */
    int64_t det_cap;
    int64_t *res_support;     /* [cap] support frames of the last result (uncached path) */
    selsa_mmtrack_stats stats;
    selsa_mmtrack_debug_fn debug;
    void *debug_user;
};


#endif
