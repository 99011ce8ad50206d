/* selsa — PyTorch/mmdet-style ResNet / ResNeXt backbone with DC5 for the MMTracking SELSA model
 * (internal; mmtracking-selsa.md §1.1, §2.6).
 *
 *   stem    conv1 7×7/2 pad 3 (no bias) + bn1 + ReLU + max-pool 3×3/2 pad 1 (PyTorch floor)
 *   layerL  (L = 1..4) Bottleneck blocks, style 'pytorch' (stride on the 3×3 conv2):
 *             relu(bn1(conv1 1×1)) → relu(bn2(conv2 3×3, stride s, pad d, dilation d, groups))
 *             → bn3(conv3 1×1) + identity (block 0: downsample.0 1×1 stride s + downsample.1 BN)
 *             → ReLU.
 *           DC5: strides (1, 2, 2, 1), dilations (1, 1, 1, 2) — EVERY conv2 of layer4 is dilated
 *           (mmdet ResLayer passes the dilation to every block, unlike torchvision).
 *   widths  planes_L = base·2^(L−1), out_L = 4·planes_L;
 *           conv2 width = planes (groups 1) or floor(planes·base_width/64)·groups (mmdet ResNeXt
 *           Bottleneck with base_channels 64; X101-64x4d: 256, 512, 1024, 2048).
 * Every frozen BN (eval mode, eps cfg->bn_eps) is folded into its conv at load time (in double),
 * so each conv below carries a bias. */
#ifndef SELSA_MODEL_RESNET_TORCH_H
#define SELSA_MODEL_RESNET_TORCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "selsa/arena.h"
#include "selsa/context.h"
#include "selsa/model_mmtrack.h"
#include "selsa/ops_dense.h"
#include "selsa/weights.h"

/* One conv / linear layer (BN folded in for backbone convs). */
typedef struct selsa_rt_conv {
    char name[96];          /* state-dict key prefix, e.g. "detector.backbone.layer1.0.conv2" */
    selsa_tensor weight;    /* conv (Cout, Cin/groups, k, k); linear (Out, In, 1, 1) */
    float *bias;            /* [Cout]: own bias or folded BN shift */
    selsa_conv2d_params p;  /* unused for linear layers */
} selsa_rt_conv;

typedef struct selsa_rt_block {
    bool has_down;          /* block 0 of every stage */
    selsa_rt_conv down;     /* (out, in, 1, 1) stride s + downsample.1 */
    selsa_rt_conv c1;       /* (width, in, 1, 1) */
    selsa_rt_conv c2;       /* (width, width/groups, 3, 3) stride s, pad = dilation = d */
    selsa_rt_conv c3;       /* (out, width, 1, 1) */
} selsa_rt_block;

typedef struct selsa_rt_net {
    selsa_rt_conv conv1;      /* (base, 3, 7, 7) s2 p3 + bn1 */
    selsa_rt_block *blocks[4];/* layer1..4, [n_blocks[i]] (malloc'd) */
    int n_blocks[4];
} selsa_rt_net;

/* conv2 width of stage `stage` (0..3) for the config (formula above). */
int64_t selsa_rt_width(const selsa_mmtrack_config *cfg, int stage);

/* Allocate (and, unless dry, fetch + fold) the backbone from `w` into `arena`; keys
 * "<prefix>conv1.weight", "<prefix>bn1.*", "<prefix>layerL.B.*" with prefix
 * "detector.backbone.". dry: arena is measuring; w may be NULL. */
selsa_status selsa_rt_load(selsa_rt_net *net, const selsa_mmtrack_config *cfg, selsa_arena *arena,
                           selsa_weights *w, bool dry);
void selsa_rt_free(selsa_rt_net *net);

/* Generic layer loader: weight "<name>.weight" with dims (cout, cin, k, k) (2-D (cout, cin)
 * when fc), bias "<name>.bias" when has_bias (else zero), BN "<bn>.{weight,bias,running_mean,
 * running_var}" folded when bn != NULL ("<bn>.num_batches_tracked" marked used if present). */
selsa_status selsa_rt_conv_load(selsa_rt_conv *c, selsa_arena *arena, selsa_weights *w, bool dry,
                                const char *name, const char *bn, int64_t cout, int64_t cin, int k,
                                bool fc, bool has_bias, double eps, selsa_conv2d_params p);

/* Execution over an activation arena; dry runs only allocate and record scratch needs. */
typedef struct selsa_rt_exec {
    selsa_ctx *ctx;
    selsa_arena *arena;     /* activations */
    bool dry;               /* measuring arena: allocate only, compute nothing */
    size_t scratch_need;    /* max scratch bytes any op asked for */
} selsa_rt_exec;

static inline void selsa_rt_need(selsa_rt_exec *ex, size_t bytes) {
    if (bytes > ex->scratch_need) ex->scratch_need = bytes;
}

/* out = act(conv(in)) into caller memory out->data (shape set here). */
selsa_status selsa_rt_conv_into(selsa_rt_exec *ex, const selsa_rt_conv *c, const selsa_tensor *in,
                                selsa_tensor *out, selsa_activation act);
/* The same, allocating out from ex->arena. */
selsa_status selsa_rt_conv_run(selsa_rt_exec *ex, const selsa_rt_conv *c, const selsa_tensor *in,
                               selsa_tensor *out, selsa_activation act);
/* out (N, Out, 1, 1) = act(in · Wᵀ + b) into caller memory out->data (shape set here). */
selsa_status selsa_rt_linear_into(selsa_rt_exec *ex, const selsa_rt_conv *l, const selsa_tensor *in,
                                  selsa_tensor *out, selsa_activation act);

/* Whole backbone on `in` (N, 3, H, W): out = C5 (N, 4·planes_4, H/16, W/16) allocated from the
 * arena first; temporaries are released before returning. */
selsa_status selsa_rt_forward(selsa_rt_exec *ex, const selsa_rt_net *net, const selsa_tensor *in,
                              selsa_tensor *out);

#endif
