/* selsa — Caffe/MSRA-style ResNet-v1 backbone of the official SELSA model (internal).
 *
 * official-selsa.md §2: bias-less convs each followed by a frozen BN (folded into the conv at
 * load time, so every conv below carries a bias), stride on the 1×1 branch2a (and branch1) of
 * the first unit of res3/res4, res5 at stride 1 with every branch2b dilated 2 / pad 2, max-pool
 * 3×3/2 pad 1 with MXNet 'valid' rounding.
 *
 * Per-layer structs keep their parameters (and hyperparameters) so a backward pass can be
 * added later (it would additionally need the unfolded BN scale for the frozen affine). */
#ifndef SELSA_MODEL_RESNET_V1_H
#define SELSA_MODEL_RESNET_V1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "selsa/arena.h"
#include "selsa/context.h"
#include "selsa/model_official.h"
#include "selsa/ops_dense.h"
#include "selsa/weights.h"

/* One conv (+ folded BN) layer. */
typedef struct selsa_rv1_conv {
    char name[48];          /* weight name without "_weight", e.g. "res4a_branch2b" */
    selsa_tensor weight;    /* (Cout, Cin, k, k), BN scale folded in */
    float *bias;            /* [Cout]: own bias (heads) or folded BN shift (backbone) */
    selsa_conv2d_params p;
} selsa_rv1_conv;

typedef struct selsa_rv1_unit {
    bool has_branch1;       /* first unit of each stage: 1×1 projection shortcut */
    selsa_rv1_conv branch1; /* (out, in, 1, 1), stride s */
    selsa_rv1_conv b2a;     /* (mid, in, 1, 1), stride s */
    selsa_rv1_conv b2b;     /* (mid, mid, 3, 3), pad = dilation = d (1, res5: 2) */
    selsa_rv1_conv b2c;     /* (out, mid, 1, 1) */
} selsa_rv1_unit;

typedef struct selsa_rv1_net {
    selsa_rv1_conv conv1;         /* (base, 3, 7, 7) stride 2 pad 3, + bn_conv1 */
    selsa_rv1_unit *units[4];     /* res2..res5, [n_units[i]] (malloc'd) */
    int n_units[4];
} selsa_rv1_net;

/* Allocate (and, unless dry, fetch + fold) the backbone parameters from `w` into `arena`.
 * dry: arena is measuring; only allocations happen (w may be NULL). */
selsa_status selsa_rv1_load(selsa_rv1_net *net, const selsa_official_config *cfg,
                            selsa_arena *arena, selsa_weights *w, bool dry);
void selsa_rv1_free(selsa_rv1_net *net);

/* Generic layer loader shared with the heads: weight `<name>_weight` (cout, cin, k, k) (or
 * (cout, cin) when fc is true, stored as (cout, cin, 1, 1)); bias `<name>_bias` when has_bias;
 * BN `<bn>_{gamma,beta,moving_mean,moving_var}` folded when bn != NULL. */
selsa_status selsa_rv1_conv_load(selsa_rv1_conv *c, selsa_arena *arena, selsa_weights *w,
                                 bool dry, const char *name, const char *bn, int64_t cout,
                                 int64_t cin, int k, bool fc, bool has_bias, double eps,
                                 selsa_conv2d_params p);

/* Running a conv through the activation pipeline: dry (shape-only) calls just record the
 * scratch need. */
typedef struct selsa_rv1_exec {
    selsa_ctx *ctx;
    selsa_arena *arena;     /* activations */
    bool dry;               /* arena measuring: allocate only, run nothing */
    size_t scratch_need;    /* max scratch bytes any op asked for (updated in both modes) */
} selsa_rv1_exec;

/* out = act(conv(in)); allocates out from ex->arena. */
selsa_status selsa_rv1_conv_run(selsa_rv1_exec *ex, const selsa_rv1_conv *c,
                                const selsa_tensor *in, selsa_tensor *out, selsa_activation act);
/* The same into a caller-provided out (shape set here). */
selsa_status selsa_rv1_conv_into(selsa_rv1_exec *ex, const selsa_rv1_conv *c,
                                 const selsa_tensor *in, selsa_tensor *out, selsa_activation act);

/* conv1 + ReLU + max-pool: out (1, base, ...) allocated first, temporaries released. */
selsa_status selsa_rv1_stem(selsa_rv1_exec *ex, const selsa_rv1_net *net, const selsa_tensor *in,
                            selsa_tensor *out);
/* Stages s_from..s_to (2..5) on `in`; out allocated first, temporaries released after. */
selsa_status selsa_rv1_stages(selsa_rv1_exec *ex, const selsa_rv1_net *net, int s_from, int s_to,
                              const selsa_tensor *in, selsa_tensor *out);

#endif
