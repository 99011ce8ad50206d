/* selsa — internals of the official SELSA trainer shared by official_train.c and
 * sgd_official.c. */
#ifndef SELSA_TRAIN_OFFICIAL_INTERNAL_H
#define SELSA_TRAIN_OFFICIAL_INTERNAL_H

#include "model/official_internal.h"
#include "selsa/train_official.h"

/* One trainable layer: the model's (folded) layer plus its official-unit parameters. */
typedef struct tlayer {
    selsa_rv1_conv *L;          /* model layer; weight (Cout, Cin, k, k) folded for the backbone */
    selsa_official_param *pw;   /* <name>_weight */
    selsa_official_param *pb;   /* <name>_bias (heads) or NULL (backbone: no bias, BN frozen) */
    float *scale;               /* [Cout] frozen BN scale s (backbone) or NULL */
    bool backbone;              /* res3..res5 conv (+ folded frozen BN) */
    bool fc;                    /* run as FullyConnected (fc_new_*, query/key/linear_out, cls, bbox) */
} tlayer;

/* Saved activations of one bottleneck unit (its input is the previous unit's y, or res2's
 * output for the first res3 unit). */
typedef struct uact {
    selsa_tensor a;  /* ReLU(branch2a(x)) (1, mid, h, w) */
    selsa_tensor b;  /* ReLU(branch2b(a)) (1, mid, h, w) */
    selsa_tensor y;  /* ReLU(shortcut + branch2c(b)) (1, out, h, w) */
} uact;

/* Saved activations of one frame. */
typedef struct fact {
    selsa_tensor in;      /* (1, 3, H, W) normalised input */
    selsa_tensor x2;      /* (1, 4·base, H/4, W/4) res2 output = res3 input (frozen part ends) */
    uact *u;              /* [n_train_units] res3..res5 units in order (calloc'd once) */
    selsa_tensor rc;      /* (1, rpn, h, w) ReLU(rpn_conv_3x3) */
    selsa_tensor cls;     /* (1, 2A, h, w) rpn_cls_score logits */
    selsa_tensor prob;    /* (1, 2A, h, w) 2-class softmax (channel a bg, A + a fg) */
    selsa_tensor bb;      /* (1, 4A, h, w) rpn_bbox_pred (normalised deltas) */
    selsa_tensor cn;      /* (1, conv_new, h, w) ReLU(conv_new_1) */
    selsa_tensor pooled;  /* (R, conv_new, P, P) ROIPooling output */
    int32_t *argmax;      /* numel(pooled) ROIPooling argmax */
    float *rois;          /* (R, 5) this frame's RoIs */
} fact;

struct selsa_official_trainer {
    selsa_official_config cfg;
    selsa_official_train_config tc;
    selsa_official_model *m;       /* owned; folded weights rewritten by sync */
    selsa_ctx *ctx;
    tlayer *layers;                /* [n_layers] network order */
    int n_layers;
    selsa_official_param *params;  /* [n_params] (storage for 2·n_layers) */
    int n_params;
    float *wtmp;                   /* max backbone weight numel: ∂L/∂W' temporary */
    selsa_arena pers;              /* masters, grads, momenta, BN scales, wtmp */
    selsa_arena act;               /* per-step activations + backward temporaries */
    int res_H, res_W, res_T;   /* reserved scaled size and frame count */
    int n_train_units;             /* res3..res5 units */
    fact fr[SELSA_OFFICIAL_TRAIN_MAX_FRAMES];
    selsa_image resized[SELSA_OFFICIAL_TRAIN_MAX_FRAMES];
    double scale[SELSA_OFFICIAL_TRAIN_MAX_FRAMES];
    selsa_rng rng;                 /* anchor sampler */
    int64_t step;                  /* SGD updates done */
    /* decisions of the last forward (in act) */
    int32_t *labels;               /* A·H·W anchor order */
    int64_t n_labels;
    int32_t *keep;                 /* [n_keep] */
    int n_keep;
};

#endif
