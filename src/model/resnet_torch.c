/* selsa — PyTorch/mmdet-style ResNet / ResNeXt DC5 backbone of the MMTracking SELSA model:
 * parameter loading with BN folding (double precision) and the forward pass over the
 * activation arena (mmtracking-selsa.md §1.1, §2.6). */
#include "model/resnet_torch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "selsa/ops_elem.h"

static selsa_conv2d_params cp(int stride, int pad, int dil, int groups) {
    selsa_conv2d_params p = {stride, stride, pad, pad, dil, dil, groups};
    return p;
}

int64_t selsa_rt_width(const selsa_mmtrack_config *cfg, int stage) {
    int64_t planes = (int64_t)cfg->base_planes << stage;
    if (cfg->groups <= 1) return planes;
    /* mmdet ResNeXt Bottleneck: width = floor(planes * (base_width / base_channels)) * groups,
     * base_channels = 64 (integer arithmetic gives the same floor for positive values) */
    return (planes * cfg->base_width / 64) * cfg->groups;
}

selsa_status selsa_rt_conv_load(selsa_rt_conv *c, selsa_arena *arena, selsa_weights *w, bool dry,
                                const char *name, const char *bn, int64_t cout, int64_t cin, int k,
                                bool fc, bool has_bias, double eps, selsa_conv2d_params p) {
    snprintf(c->name, sizeof c->name, "%s", name);
    c->p = p;
    SELSA_TRY(selsa_arena_tensor(arena, &c->weight, cout, cin, k, k));
    void *b;
    SELSA_TRY(selsa_arena_alloc(arena, (size_t)cout * sizeof(float), &b));
    c->bias = b;
    if (dry) return SELSA_OK;
    char key[160];
    snprintf(key, sizeof key, "%s.weight", name);
    int64_t dims[4] = {cout, cin, k, k};
    const float *src;
    SELSA_TRY(selsa_weights_get(w, key, fc ? 2 : 4, dims, &src));
    memcpy(c->weight.data, src, (size_t)selsa_tensor_numel(&c->weight) * sizeof(float));
    if (has_bias) {
        snprintf(key, sizeof key, "%s.bias", name);
        SELSA_TRY(selsa_weights_get(w, key, 1, &cout, &src));
        memcpy(c->bias, src, (size_t)cout * sizeof(float));
    } else {
        memset(c->bias, 0, (size_t)cout * sizeof(float));
    }
    if (bn) {
        static const char *const sfx[4] = {"weight", "bias", "running_mean", "running_var"};
        const float *v[4];
        for (int i = 0; i < 4; i++) {
            snprintf(key, sizeof key, "%s.%s", bn, sfx[i]);
            SELSA_TRY(selsa_weights_get(w, key, 1, &cout, &v[i]));
        }
        /* num_batches_tracked is a training counter: ignored silently (absent is fine too) */
        snprintf(key, sizeof key, "%s.num_batches_tracked", bn);
        if (selsa_weights_find(w, key)) (void)selsa_weights_mark_used(w, key);
        /* nn.BatchNorm2d eval: y = (x − mean)/sqrt(var + eps)·weight + bias, folded in double */
        SELSA_TRY(selsa_bn_fold_into_conv(&c->weight, has_bias ? c->bias : NULL, v[0], v[1], v[2],
                                          v[3], eps, bn, c->bias));
    }
    return SELSA_OK;
}

static const char *const BB = "detector.backbone.";

selsa_status selsa_rt_load(selsa_rt_net *net, const selsa_mmtrack_config *cfg, selsa_arena *arena,
                           selsa_weights *w, bool dry) {
    double eps = cfg->bn_eps;
    char cn[96], bn[96];
    snprintf(cn, sizeof cn, "%sconv1", BB);
    snprintf(bn, sizeof bn, "%sbn1", BB);
    SELSA_TRY(selsa_rt_conv_load(&net->conv1, arena, w, dry, cn, bn, cfg->base_planes, 3, 7, false,
                                 false, eps, cp(2, 3, 1, 1)));
    int64_t in_c = cfg->base_planes;
    static const int strides[4] = {1, 2, 2, 1};   /* DC5 (§1.1) */
    static const int dilations[4] = {1, 1, 1, 2};
    for (int s = 0; s < 4; s++) {
        int64_t planes = (int64_t)cfg->base_planes << s, outc = 4 * planes;
        int64_t width = selsa_rt_width(cfg, s);
        int g = cfg->groups < 1 ? 1 : cfg->groups;
        if (!net->blocks[s]) {
            net->n_blocks[s] = cfg->blocks[s];
            net->blocks[s] = calloc((size_t)cfg->blocks[s], sizeof(selsa_rt_block));
            if (!net->blocks[s]) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "resnet: block table");
        }
        for (int b = 0; b < cfg->blocks[s]; b++) {
            selsa_rt_block *B = &net->blocks[s][b];
            int st = b == 0 ? strides[s] : 1, d = dilations[s];
            int64_t cin = b == 0 ? in_c : outc;
            B->has_down = b == 0;
            if (b == 0) {
                snprintf(cn, sizeof cn, "%slayer%d.%d.downsample.0", BB, s + 1, b);
                snprintf(bn, sizeof bn, "%slayer%d.%d.downsample.1", BB, s + 1, b);
                SELSA_TRY(selsa_rt_conv_load(&B->down, arena, w, dry, cn, bn, outc, cin, 1, false,
                                             false, eps, cp(st, 0, 1, 1)));
            }
            snprintf(cn, sizeof cn, "%slayer%d.%d.conv1", BB, s + 1, b);
            snprintf(bn, sizeof bn, "%slayer%d.%d.bn1", BB, s + 1, b);
            SELSA_TRY(selsa_rt_conv_load(&B->c1, arena, w, dry, cn, bn, width, cin, 1, false, false,
                                         eps, cp(1, 0, 1, 1)));
            /* style 'pytorch': stride on conv2; pad = dilation (every layer4 block: 2) */
            snprintf(cn, sizeof cn, "%slayer%d.%d.conv2", BB, s + 1, b);
            snprintf(bn, sizeof bn, "%slayer%d.%d.bn2", BB, s + 1, b);
            SELSA_TRY(selsa_rt_conv_load(&B->c2, arena, w, dry, cn, bn, width, width / g, 3, false,
                                         false, eps, cp(st, d, d, g)));
            snprintf(cn, sizeof cn, "%slayer%d.%d.conv3", BB, s + 1, b);
            snprintf(bn, sizeof bn, "%slayer%d.%d.bn3", BB, s + 1, b);
            SELSA_TRY(selsa_rt_conv_load(&B->c3, arena, w, dry, cn, bn, outc, width, 1, false,
                                         false, eps, cp(1, 0, 1, 1)));
        }
        in_c = outc;
    }
    return SELSA_OK;
}

void selsa_rt_free(selsa_rt_net *net) {
    for (int i = 0; i < 4; i++) {
        free(net->blocks[i]);
        net->blocks[i] = NULL;
    }
}

/* ------------------------------------------------------------------ forward --------------- */

static void out_hw(const selsa_rt_conv *c, int64_t h, int64_t w, int64_t *oh, int64_t *ow) {
    *oh = selsa_conv2d_out_size(h, (int)c->weight.h, c->p.stride_h, c->p.pad_h, c->p.dilation_h);
    *ow = selsa_conv2d_out_size(w, (int)c->weight.w, c->p.stride_w, c->p.pad_w, c->p.dilation_w);
}

selsa_status selsa_rt_conv_into(selsa_rt_exec *ex, const selsa_rt_conv *c, const selsa_tensor *in,
                                selsa_tensor *out, selsa_activation act) {
    int64_t oh, ow;
    out_hw(c, in->h, in->w, &oh, &ow);
    if (oh <= 0 || ow <= 0)
        return selsa_error(SELSA_ERR_SHAPE, "%s: input %lldx%lld is too small for this layer",
                           c->name, (long long)in->h, (long long)in->w);
    out->n = in->n;
    out->c = c->weight.n;
    out->h = oh;
    out->w = ow;
    out->device = in->device;
    selsa_rt_need(ex, selsa_conv2d_scratch_bytes(in, &c->weight, &c->p));
    if (ex->dry) return SELSA_OK;
    selsa_status s = selsa_conv2d_forward(ex->ctx, out, in, &c->weight, c->bias, &c->p, act);
    if (s != SELSA_OK) return selsa_error_context(s, "layer %s", c->name);
    return SELSA_OK;
}

selsa_status selsa_rt_conv_run(selsa_rt_exec *ex, const selsa_rt_conv *c, const selsa_tensor *in,
                               selsa_tensor *out, selsa_activation act) {
    int64_t oh, ow;
    out_hw(c, in->h, in->w, &oh, &ow);
    if (oh <= 0 || ow <= 0)
        return selsa_error(SELSA_ERR_SHAPE, "%s: input %lldx%lld is too small for this layer",
                           c->name, (long long)in->h, (long long)in->w);
    SELSA_TRY(selsa_arena_tensor(ex->arena, out, in->n, c->weight.n, oh, ow));
    return selsa_rt_conv_into(ex, c, in, out, act);
}

selsa_status selsa_rt_linear_into(selsa_rt_exec *ex, const selsa_rt_conv *l, const selsa_tensor *in,
                                  selsa_tensor *out, selsa_activation act) {
    int64_t in_f = in->c * in->h * in->w;
    if (in_f != l->weight.c)
        return selsa_error(SELSA_ERR_SHAPE, "%s: input has %lld features, the layer expects %lld",
                           l->name, (long long)in_f, (long long)l->weight.c);
    out->n = in->n;
    out->c = l->weight.n;
    out->h = 1;
    out->w = 1;
    out->device = in->device;
    if (ex->dry || in->n == 0) return SELSA_OK;
    selsa_status s = selsa_linear_forward(ex->ctx, out, in, &l->weight, l->bias, act);
    if (s != SELSA_OK) return selsa_error_context(s, "layer %s", l->name);
    return SELSA_OK;
}

/* max-pool 3×3/2 pad 1, PyTorch ceil_mode=False (§2.6 stem) */
static const selsa_pool2d_params pool_params = {3, 3, 2, 2, 1, 1, SELSA_POOL_TORCH_FLOOR};

static selsa_status f_buf(selsa_rt_exec *ex, int64_t n, float **p) {
    void *v;
    SELSA_TRY(selsa_arena_alloc(ex->arena, (size_t)n * sizeof(float), &v));
    *p = v;
    return SELSA_OK;
}

/* Shapes of the whole net: stem output, max block output / mid numel, final C5 shape. */
static selsa_status walk(const selsa_rt_net *net, const selsa_tensor *in, int64_t *c1_numel,
                         selsa_tensor *stem, int64_t *max_out, int64_t *max_mid,
                         selsa_tensor *fin) {
    int64_t h, w;
    out_hw(&net->conv1, in->h, in->w, &h, &w);
    if (h <= 0 || w <= 0)
        return selsa_error(SELSA_ERR_SHAPE, "backbone conv1: input %lldx%lld too small",
                           (long long)in->h, (long long)in->w);
    *c1_numel = in->n * net->conv1.weight.n * h * w;
    int64_t ph, pw;
    SELSA_TRY(selsa_maxpool2d_out_shape(h, w, &pool_params, &ph, &pw));
    *stem = selsa_tensor_view(NULL, in->n, net->conv1.weight.n, ph, pw);
    selsa_tensor cur = *stem;
    *max_out = 0;
    *max_mid = 0;
    for (int s = 0; s < 4; s++) {
        for (int b = 0; b < net->n_blocks[s]; b++) {
            const selsa_rt_block *B = &net->blocks[s][b];
            int64_t h1, w1, h2, w2;
            out_hw(&B->c1, cur.h, cur.w, &h1, &w1);
            out_hw(&B->c2, h1, w1, &h2, &w2);
            if (h1 <= 0 || w1 <= 0 || h2 <= 0 || w2 <= 0)
                return selsa_error(SELSA_ERR_SHAPE, "%s: input %lldx%lld too small", B->c2.name,
                                   (long long)cur.h, (long long)cur.w);
            int64_t mid = cur.n * B->c1.weight.n * (h1 > h2 ? h1 : h2) * (w1 > w2 ? w1 : w2);
            if (mid > *max_mid) *max_mid = mid;
            cur.c = B->c3.weight.n;
            cur.h = h2;
            cur.w = w2;
            int64_t o = selsa_tensor_numel(&cur);
            if (o > *max_out) *max_out = o;
        }
    }
    int64_t sn = selsa_tensor_numel(stem);
    if (sn > *max_out) *max_out = sn;
    *fin = cur;
    return SELSA_OK;
}

static selsa_status run(selsa_rt_exec *ex, const selsa_rt_net *net, const selsa_tensor *in,
                        selsa_tensor *out, int64_t c1_numel, const selsa_tensor *stem_shape,
                        int64_t max_out, int64_t max_mid) {
    float *ping, *pong, *t1, *t2, *t3, *c1;
    SELSA_TRY(f_buf(ex, max_out, &ping));
    SELSA_TRY(f_buf(ex, max_out, &pong));
    SELSA_TRY(f_buf(ex, max_mid, &t1));
    SELSA_TRY(f_buf(ex, max_mid, &t2));
    SELSA_TRY(f_buf(ex, max_out, &t3));
    /* stem: conv1 (+bn1 folded) + ReLU, then max-pool into ping */
    SELSA_TRY(f_buf(ex, c1_numel, &c1));
    selsa_tensor c1t = {0};
    c1t.data = c1;
    SELSA_TRY(selsa_rt_conv_into(ex, &net->conv1, in, &c1t, SELSA_ACT_RELU));
    selsa_tensor x = *stem_shape;
    x.data = ping;
    if (!ex->dry) {
        selsa_status s = selsa_maxpool2d_forward(ex->ctx, &x, NULL, &c1t, &pool_params);
        if (s != SELSA_OK) return selsa_error_context(s, "backbone maxpool");
    }
    int total = 0, done = 0;
    for (int s = 0; s < 4; s++) total += net->n_blocks[s];
    for (int s = 0; s < 4; s++) {
        for (int b = 0; b < net->n_blocks[s]; b++) {
            const selsa_rt_block *B = &net->blocks[s][b];
            bool last = ++done == total;
            selsa_tensor y = {0}, a = {0}, bb = {0}, c = {0};
            y.data = last ? out->data : (x.data == ping ? pong : ping);
            a.data = t1;
            bb.data = t2;
            SELSA_TRY(selsa_rt_conv_into(ex, &B->c1, &x, &a, SELSA_ACT_RELU));
            SELSA_TRY(selsa_rt_conv_into(ex, &B->c2, &a, &bb, SELSA_ACT_RELU));
            if (B->has_down) {
                c.data = t3;
                SELSA_TRY(selsa_rt_conv_into(ex, &B->c3, &bb, &c, SELSA_ACT_NONE));
                SELSA_TRY(selsa_rt_conv_into(ex, &B->down, &x, &y, SELSA_ACT_NONE));
                /* out = ReLU(bn3(conv3) + downsample(x)) */
                if (!ex->dry) SELSA_TRY(selsa_add_forward(ex->ctx, &y, &y, &c, SELSA_ACT_RELU));
            } else {
                SELSA_TRY(selsa_rt_conv_into(ex, &B->c3, &bb, &y, SELSA_ACT_NONE));
                if (!ex->dry) SELSA_TRY(selsa_add_forward(ex->ctx, &y, &y, &x, SELSA_ACT_RELU));
            }
            x = y;
        }
    }
    return SELSA_OK;
}

selsa_status selsa_rt_forward(selsa_rt_exec *ex, const selsa_rt_net *net, const selsa_tensor *in,
                              selsa_tensor *out) {
    int64_t c1n = 0, max_out = 0, max_mid = 0;
    selsa_tensor stem = {0}, fin = {0};
    SELSA_TRY(walk(net, in, &c1n, &stem, &max_out, &max_mid, &fin));
    SELSA_TRY(selsa_arena_tensor(ex->arena, out, fin.n, fin.c, fin.h, fin.w));
    size_t mark = selsa_arena_mark(ex->arena);
    selsa_status s = run(ex, net, in, out, c1n, &stem, max_out, max_mid);
    selsa_arena_rewind(ex->arena, mark);
    return s;
}
