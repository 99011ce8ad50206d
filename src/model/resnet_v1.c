/* selsa — ResNet-v1 (Caffe/MSRA style) backbone of the official SELSA model: parameter loading
 * with BN folding, and the forward pass over the activation arena (official-selsa.md §2). */
#include "model/resnet_v1.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "selsa/ops_elem.h"

static selsa_conv2d_params conv_params(int stride, int pad, int dil) {
    selsa_conv2d_params p = {stride, stride, pad, pad, dil, dil, 1};
    return p;
}

/* Fetch `name` with the expected shape and copy it to dst (numel floats). */
static selsa_status fetch(selsa_weights *w, const char *name, int ndim, const int64_t *dims,
                          float *dst, int64_t numel) {
    const float *src;
    SELSA_TRY(selsa_weights_get(w, name, ndim, dims, &src));
    memcpy(dst, src, (size_t)numel * sizeof(float));
    return SELSA_OK;
}

selsa_status selsa_rv1_conv_load(selsa_rv1_conv *c, selsa_arena *arena, selsa_weights *w,
                                 bool dry, const char *name, const char *bn, int64_t cout,
                                 int64_t cin, int k, bool fc, bool has_bias, double eps,
                                 selsa_conv2d_params p) {
    snprintf(c->name, sizeof c->name, "%s", name);
    c->p = p;
    SELSA_TRY(selsa_arena_tensor(arena, &c->weight, cout, cin, k, k));
    void *b;
    SELSA_TRY(selsa_arena_alloc(arena, (size_t)cout * sizeof(float), &b));
    c->bias = b;
    if (dry) return SELSA_OK;
    char key[96];
    snprintf(key, sizeof key, "%s_weight", name);
    int64_t dims4[4] = {cout, cin, k, k};
    SELSA_TRY(fetch(w, key, fc ? 2 : 4, dims4, c->weight.data, selsa_tensor_numel(&c->weight)));
    if (has_bias) {
        snprintf(key, sizeof key, "%s_bias", name);
        SELSA_TRY(fetch(w, key, 1, &cout, c->bias, cout));
    } else {
        memset(c->bias, 0, (size_t)cout * sizeof(float));
    }
    if (bn) {
        static const char *const sfx[4] = {"gamma", "beta", "moving_mean", "moving_var"};
        const float *v[4];
        for (int i = 0; i < 4; i++) {
            snprintf(key, sizeof key, "%s_%s", bn, sfx[i]);
            SELSA_TRY(selsa_weights_get(w, key, 1, &cout, &v[i]));
        }
        /* official-selsa.md §2: y = gamma·(x − mean)/sqrt(var + eps) + beta, folded in double */
        SELSA_TRY(selsa_bn_fold_into_conv(&c->weight, has_bias ? c->bias : NULL, v[0], v[1], v[2],
                                          v[3], eps, bn, c->bias));
    }
    return SELSA_OK;
}

static int stage_mid(const selsa_official_config *cfg, int s) { return cfg->base_channels << (s - 2); }

selsa_status selsa_rv1_load(selsa_rv1_net *net, const selsa_official_config *cfg,
                            selsa_arena *arena, selsa_weights *w, bool dry) {
    double eps = cfg->bn_eps;
    SELSA_TRY(selsa_rv1_conv_load(&net->conv1, arena, w, dry, "conv1", "bn_conv1",
                                  cfg->base_channels, 3, 7, false, false, eps,
                                  conv_params(2, 3, 1)));
    int64_t in_c = cfg->base_channels;
    for (int si = 0; si < 4; si++) {
        int s = si + 2;
        int64_t mid = stage_mid(cfg, s), outc = 4 * mid;
        int stride = (s == 3 || s == 4) ? 2 : 1; /* §2: stride on branch2a/branch1 of res3a, res4a */
        int dil = s == 5 ? 2 : 1;                /* §2: res5 branch2b dilate 2 pad 2, stride 1 */
        if (!net->units[si]) {
            net->n_units[si] = cfg->units[si];
            net->units[si] = calloc((size_t)cfg->units[si], sizeof(selsa_rv1_unit));
            if (!net->units[si]) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "resnet_v1: unit table");
        }
        for (int u = 0; u < cfg->units[si]; u++) {
            selsa_rv1_unit *U = &net->units[si][u];
            char un[8], cn[48], bn[48];
            selsa_official_unit_name(cfg, s, u, un);
            int st = u == 0 ? stride : 1;
            int64_t cin = u == 0 ? in_c : outc;
            U->has_branch1 = u == 0;
            if (u == 0) {
                snprintf(cn, sizeof cn, "res%d%s_branch1", s, un);
                snprintf(bn, sizeof bn, "bn%d%s_branch1", s, un);
                SELSA_TRY(selsa_rv1_conv_load(&U->branch1, arena, w, dry, cn, bn, outc, cin, 1,
                                              false, false, eps, conv_params(st, 0, 1)));
            }
            snprintf(cn, sizeof cn, "res%d%s_branch2a", s, un);
            snprintf(bn, sizeof bn, "bn%d%s_branch2a", s, un);
            SELSA_TRY(selsa_rv1_conv_load(&U->b2a, arena, w, dry, cn, bn, mid, cin, 1, false,
                                          false, eps, conv_params(st, 0, 1)));
            snprintf(cn, sizeof cn, "res%d%s_branch2b", s, un);
            snprintf(bn, sizeof bn, "bn%d%s_branch2b", s, un);
            SELSA_TRY(selsa_rv1_conv_load(&U->b2b, arena, w, dry, cn, bn, mid, mid, 3, false,
                                          false, eps, conv_params(1, dil, dil)));
            snprintf(cn, sizeof cn, "res%d%s_branch2c", s, un);
            snprintf(bn, sizeof bn, "bn%d%s_branch2c", s, un);
            SELSA_TRY(selsa_rv1_conv_load(&U->b2c, arena, w, dry, cn, bn, outc, mid, 1, false,
                                          false, eps, conv_params(1, 0, 1)));
        }
        in_c = outc;
    }
    return SELSA_OK;
}

void selsa_rv1_free(selsa_rv1_net *net) {
    for (int i = 0; i < 4; i++) {
        free(net->units[i]);
        net->units[i] = NULL;
    }
}

/* ------------------------------------------------------------------ forward --------------- */

static void conv_out_shape(const selsa_rv1_conv *c, const selsa_tensor *in, int64_t *oh,
                           int64_t *ow) {
    *oh = selsa_conv2d_out_size(in->h, (int)c->weight.h, c->p.stride_h, c->p.pad_h, c->p.dilation_h);
    *ow = selsa_conv2d_out_size(in->w, (int)c->weight.w, c->p.stride_w, c->p.pad_w, c->p.dilation_w);
}

selsa_status selsa_rv1_conv_into(selsa_rv1_exec *ex, const selsa_rv1_conv *c,
                                 const selsa_tensor *in, selsa_tensor *out, selsa_activation act) {
    int64_t oh, ow;
    conv_out_shape(c, in, &oh, &ow);
    if (oh <= 0 || ow <= 0)
        return selsa_error(SELSA_ERR_SHAPE, "%s: input %lldx%lld is too small for this layer",
                           c->name, (long long)in->h, (long long)in->w);
    out->n = in->n;
    out->c = c->weight.n;
    out->h = oh;
    out->w = ow;
    size_t need = selsa_conv2d_scratch_bytes(in, &c->weight, &c->p);
    if (need > ex->scratch_need) ex->scratch_need = need;
    if (ex->dry) return SELSA_OK;
    selsa_status s = selsa_conv2d_forward(ex->ctx, out, in, &c->weight, c->bias, &c->p, act);
    if (s != SELSA_OK) return selsa_error_context(s, "layer %s", c->name);
    return SELSA_OK;
}

selsa_status selsa_rv1_conv_run(selsa_rv1_exec *ex, const selsa_rv1_conv *c,
                                const selsa_tensor *in, selsa_tensor *out, selsa_activation act) {
    int64_t oh, ow;
    conv_out_shape(c, in, &oh, &ow);
    if (oh <= 0 || ow <= 0)
        return selsa_error(SELSA_ERR_SHAPE, "%s: input %lldx%lld is too small for this layer",
                           c->name, (long long)in->h, (long long)in->w);
    SELSA_TRY(selsa_arena_tensor(ex->arena, out, in->n, c->weight.n, oh, ow));
    return selsa_rv1_conv_into(ex, c, in, out, act);
}

static const selsa_pool2d_params pool1_params = {3, 3, 2, 2, 1, 1, SELSA_POOL_MXNET_VALID};

selsa_status selsa_rv1_stem(selsa_rv1_exec *ex, const selsa_rv1_net *net, const selsa_tensor *in,
                            selsa_tensor *out) {
    int64_t ch, cw, ph, pw;
    conv_out_shape(&net->conv1, in, &ch, &cw);
    if (ch <= 0 || cw <= 0)
        return selsa_error(SELSA_ERR_SHAPE, "conv1: input %lldx%lld too small", (long long)in->h,
                           (long long)in->w);
    SELSA_TRY(selsa_maxpool2d_out_shape(ch, cw, &pool1_params, &ph, &pw));
    SELSA_TRY(selsa_arena_tensor(ex->arena, out, in->n, net->conv1.weight.n, ph, pw));
    size_t mark = selsa_arena_mark(ex->arena);
    selsa_tensor c1;
    selsa_status s = selsa_rv1_conv_run(ex, &net->conv1, in, &c1, SELSA_ACT_RELU);
    if (s == SELSA_OK && !ex->dry) {
        /* pool1: MXNet pooling_convention 'valid' (§2); argmax not needed for inference */
        s = selsa_maxpool2d_forward(ex->ctx, out, NULL, &c1, &pool1_params);
        if (s != SELSA_OK) s = selsa_error_context(s, "pool1");
    }
    selsa_arena_rewind(ex->arena, mark);
    return s;
}

/* Walk the shapes of stages s_from..s_to: max numel of unit outputs, mid tensors, and the
 * final shape. */
static selsa_status walk(const selsa_rv1_net *net, int s_from, int s_to, const selsa_tensor *in,
                         int64_t *max_out, int64_t *max_mid, selsa_tensor *final) {
    selsa_tensor cur = *in;
    *max_out = 0;
    *max_mid = 0;
    for (int s = s_from; s <= s_to; s++) {
        for (int u = 0; u < net->n_units[s - 2]; u++) {
            const selsa_rv1_unit *U = &net->units[s - 2][u];
            int64_t h1, w1, h2, w2;
            conv_out_shape(&U->b2a, &cur, &h1, &w1);
            selsa_tensor t = cur;
            t.h = h1;
            t.w = w1;
            conv_out_shape(&U->b2b, &t, &h2, &w2);
            if (h1 <= 0 || w1 <= 0 || h2 <= 0 || w2 <= 0)
                return selsa_error(SELSA_ERR_SHAPE, "%s: input %lldx%lld too small", U->b2a.name,
                                   (long long)cur.h, (long long)cur.w);
            int64_t mid = cur.n * U->b2a.weight.n * (h1 > h2 ? h1 : h2) * (w1 > w2 ? w1 : w2);
            if (mid > *max_mid) *max_mid = mid;
            cur.c = U->b2c.weight.n;
            cur.h = h2;
            cur.w = w2;
            int64_t o = selsa_tensor_numel(&cur);
            if (o > *max_out) *max_out = o;
        }
    }
    *final = cur;
    return SELSA_OK;
}

static selsa_status float_buf(selsa_rv1_exec *ex, int64_t n, float **p) {
    void *v;
    SELSA_TRY(selsa_arena_alloc(ex->arena, (size_t)n * sizeof(float), &v));
    *p = v;
    return SELSA_OK;
}

static selsa_status run_stages(selsa_rv1_exec *ex, const selsa_rv1_net *net, int s_from, int s_to,
                               const selsa_tensor *in, selsa_tensor *out, int64_t max_out,
                               int64_t max_mid) {
    float *ping, *pong, *t1, *t2, *t3;
    SELSA_TRY(float_buf(ex, max_out, &ping));
    SELSA_TRY(float_buf(ex, max_out, &pong));
    SELSA_TRY(float_buf(ex, max_mid, &t1));
    SELSA_TRY(float_buf(ex, max_mid, &t2));
    SELSA_TRY(float_buf(ex, max_out, &t3));
    selsa_tensor x = *in;
    int total = 0, done = 0;
    for (int s = s_from; s <= s_to; s++) total += net->n_units[s - 2];
    for (int s = s_from; s <= s_to; s++) {
        for (int u = 0; u < net->n_units[s - 2]; u++) {
            const selsa_rv1_unit *U = &net->units[s - 2][u];
            bool last = ++done == total;
            selsa_tensor y = {0}, a = {0}, b = {0}, c = {0};
            y.data = last ? out->data : (x.data == ping ? pong : ping);
            a.data = t1;
            b.data = t2;
            SELSA_TRY(selsa_rv1_conv_into(ex, &U->b2a, &x, &a, SELSA_ACT_RELU));
            SELSA_TRY(selsa_rv1_conv_into(ex, &U->b2b, &a, &b, SELSA_ACT_RELU));
            if (U->has_branch1) {
                c.data = t3;
                SELSA_TRY(selsa_rv1_conv_into(ex, &U->b2c, &b, &c, SELSA_ACT_NONE));
                SELSA_TRY(selsa_rv1_conv_into(ex, &U->branch1, &x, &y, SELSA_ACT_NONE));
                if (!ex->dry) SELSA_TRY(selsa_add_forward(ex->ctx, &y, &y, &c, SELSA_ACT_RELU));
            } else {
                SELSA_TRY(selsa_rv1_conv_into(ex, &U->b2c, &b, &y, SELSA_ACT_NONE));
                /* res{u}_relu = ReLU(x + branch2c) */
                if (!ex->dry) SELSA_TRY(selsa_add_forward(ex->ctx, &y, &y, &x, SELSA_ACT_RELU));
            }
            x = y;
        }
    }
    return SELSA_OK;
}

selsa_status selsa_rv1_stages(selsa_rv1_exec *ex, const selsa_rv1_net *net, int s_from, int s_to,
                              const selsa_tensor *in, selsa_tensor *out) {
    int64_t max_out, max_mid;
    selsa_tensor fin = *in;
    SELSA_TRY(walk(net, s_from, s_to, in, &max_out, &max_mid, &fin));
    SELSA_TRY(selsa_arena_tensor(ex->arena, out, fin.n, fin.c, fin.h, fin.w));
    size_t mark = selsa_arena_mark(ex->arena);
    selsa_status s = run_stages(ex, net, s_from, s_to, in, out, max_out, max_mid);
    selsa_arena_rewind(ex->arena, mark);
    return s;
}
