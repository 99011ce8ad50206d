/* selsa — internals of the MMTracking SELSA trainer (mmtrack_train.c). */
#ifndef SELSA_TRAIN_MMTRACK_INTERNAL_H
#define SELSA_TRAIN_MMTRACK_INTERNAL_H

#include "model/mmtrack_internal.h"
#include "selsa/train_mmtrack.h"

/* One trainable layer: the model's layer (BN folded for backbone convs) plus its masters. */
typedef struct mtl {
    selsa_rt_conv *L;           /* model layer; weight (Cout, Cin/g, k, k), linear (Out, In, 1, 1) */
    selsa_mmtrack_param *pw;    /* "<name>.weight" (unfolded for backbone convs) */
    selsa_mmtrack_param *pb;    /* "<name>.bias", or for backbone convs the BN bias (beta) */
    selsa_mmtrack_param *pg;    /* backbone: BN weight (gamma); else NULL */
    float *mean;                /* [Cout] BN running mean (backbone) */
    double *istd;               /* [Cout] 1/sqrt(running_var + eps) (backbone) */
    bool bn;                    /* layer2..4 conv with frozen-statistics BN */
    bool fc;                    /* nn.Linear */
} mtl;

/* Saved activations of one trainable bottleneck (batched over the T frames). */
typedef struct bact {
    selsa_tensor a;  /* ReLU(bn1(conv1 x)) (T, width, h, w) */
    selsa_tensor b;  /* ReLU(bn2(conv2 a)) (T, width, h', w') */
    selsa_tensor y;  /* ReLU(bn3(conv3 b) + identity) (T, out, h', w') */
} bact;

struct selsa_mmtrack_trainer {
    selsa_mmtrack_config cfg;
    selsa_mmtrack_train_config tc;
    selsa_mmtrack_model *m;        /* owned; folded weights rewritten by sync */
    selsa_ctx *ctx;
    mtl *layers;                   /* [n_layers] network order */
    int n_layers;
    selsa_mmtrack_param *params;   /* [n_params] (storage for 3·n_layers) */
    int n_params;
    float *wtmp, *btmp;            /* ∂L/∂W', ∂L/∂b' of one backbone conv */
    selsa_arena pers;              /* masters, grads, buffers, BN statistics, wtmp/btmp */
    selsa_arena act;               /* per-step activations + backward temporaries */
    int res_H, res_W, res_T, res_G;/* reserved resized size, frames, gt count */
    int n_tb;                      /* trainable blocks (layer2..layer4) */
    selsa_rt_block **tb;           /* [n_tb] */
    bact *ba;                      /* [n_tb] */
    selsa_image resized[SELSA_MMTRACK_TRAIN_MAX_FRAMES];
    selsa_rng rng;                 /* both samplers */
    int64_t step;                  /* SGD updates done */
    /* decisions of the last forward (in act) */
    int32_t *labels;               /* A·h·w anchor order */
    int64_t n_labels;
    float *rois;                   /* (n_rois, 5) */
    int32_t *roi_labels;           /* (n_rois) */
    int n_rois;
    float *ref_rois;               /* (n_ref_rois, 5) */
    int64_t n_ref_rois;
};

#endif
