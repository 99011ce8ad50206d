/* selsa — internals of the official SELSA model shared by official.c and official_schedule.c. */
#ifndef SELSA_MODEL_OFFICIAL_INTERNAL_H
#define SELSA_MODEL_OFFICIAL_INTERNAL_H

#include "model/resnet_v1.h"
#include "selsa/model_official.h"

enum { SELSA_OFFICIAL_MAX_T = 257 }; /* windows up to K = 128 */

struct selsa_official_model {
    selsa_official_config cfg;   /* proposal.scales/ratios point into cfg itself */
    selsa_arena params;          /* one persistent arena holding every parameter below */
    selsa_rv1_net net;           /* conv1 .. res5, BN folded */
    selsa_rv1_conv rpn_conv;     /* (rpn, C4, 3, 3) pad 1, + ReLU */
    selsa_rv1_conv rpn_cls;      /* (2A, rpn, 1, 1) */
    selsa_rv1_conv rpn_bbox;     /* (4A, rpn, 1, 1) */
    selsa_rv1_conv conv_new_1;   /* (conv_new, C5, 1, 1), + ReLU */
    /* fully connected layers: weight (Out, In, 1, 1) */
    selsa_rv1_conv fc_new_1;     /* (D, conv_new·P·P) */
    selsa_rv1_conv fc_new_2;     /* (D, D) */
    selsa_rv1_conv query[2];     /* (D, D), SELSA only */
    selsa_rv1_conv key[2];       /* (D, D), SELSA only */
    selsa_rv1_conv linear_out[2];/* (D, D, 1, 1) 1×1 conv = FC, SELSA only */
    selsa_rv1_conv cls_score;    /* (C, D) */
    selsa_rv1_conv bbox_pred;    /* (8, D) class-agnostic, `_test` (de-normalised) weights */
};

/* One cached frame: everything the window stage needs from it. */
typedef struct selsa_official_frame {
    int64_t frame;     /* frame id given to compute_frame; -1 = empty */
    bool valid;
    float *rois;       /* (R, 5) [0, x1, y1, x2, y2] scaled-image pixels */
    float *x1;         /* (R, D) fc_new_1, pre-ReLU */
    float *q1, *k1;    /* (R, D) query_1(X1), key_1(X1); NULL for the baseline */
    float im_info[3];  /* scaled h, w, scale */
} selsa_official_frame;

struct selsa_official_runner {
    const selsa_official_model *m;
    selsa_ctx *ctx;
    int R, D;               /* RoIs per frame (post_nms_top_n), fc_dim */
    int T_max;              /* 2K + 1 */
    int n_slots;            /* 2K + 2 */
    selsa_official_frame *slots; /* [n_slots] */
    selsa_arena cache;      /* slot storage, fixed at creation */
    selsa_arena act;        /* per-frame activations, reset per frame */
    selsa_arena win;        /* window activations (and uncached frame outputs) */
    int res_h, res_w;       /* scaled frame size the arenas are reserved for */
    bool res_uncached;
    selsa_image resized;    /* resized frame (buffer reused) */
    selsa_detection *dets;  /* [det_cap] = R·(C−1) */
    int64_t det_cap;
    selsa_tensor cls, bbox, rois; /* last window's outputs (views) */
    selsa_official_stats stats;
    selsa_official_debug_fn debug;
    void *debug_user;
};

/* selsa_official_model_load for the trainer: the same model, with the bbox_pred
 * de-normalisation (expected there: training weights have no `_test` copies) logged at debug
 * level instead of info. */
selsa_status selsa_official_model_load_for_training(selsa_official_model **out, const selsa_official_config *cfg,
                                                    selsa_weights *w);

#endif
