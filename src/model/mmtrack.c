/* selsa — the MMTracking SELSA detector (mmtracking-selsa.md §1.1, §1.4, §2.2–§2.6, §3.2):
 * configuration presets, loading from an MMTracking state dict (exact keys, BN folded), and the
 * per-frame computation: preprocessing, backbone, neck, RPN, RoIAlign, the reference-path slot
 * (shared_fcs + aggregator key/value projections), the key path (aggregation, classifier) and
 * the mmdet post-processing. The cached and the uncached (MMTracking's batched) head paths share
 * the same layer code. */
#include "selsa/context.h"
#include "model/mmtrack_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "selsa/ops_attn.h"
#include "selsa/ops_elem.h"
#include "selsa/ops_roi.h"

/* ------------------------------------------------------------------ configuration ---------- */

void selsa_mmtrack_config_fix_pointers(selsa_mmtrack_config *c) {
    c->rpn.scales = c->anchor_scales;
    c->rpn.n_scales = 4;
    c->rpn.ratios = c->anchor_ratios;
    c->rpn.n_ratios = 3;
}

void selsa_mmtrack_config_r50(selsa_mmtrack_config *c) {
    memset(c, 0, sizeof *c);
    c->depth = 50;
    c->blocks[0] = 3; c->blocks[1] = 4; c->blocks[2] = 6; c->blocks[3] = 3;
    c->base_planes = 64;
    c->groups = 1;
    c->base_width = 64;
    c->neck_channels = 512;
    c->fc_dim = 1024;
    c->num_classes = 30;
    c->agg_heads = 16;
    c->roi_size = 7;
    c->roi_sampling_ratio = 2;
    c->spatial_scale = 1.0f / 16.0f;
    c->bn_eps = 1e-5;
    c->scale_long = 1000;
    c->scale_short = 600;
    /* §1.2 test.rpn: nms_pre 6000, NMS 0.7, max_per_img 300, min_bbox_size 0 */
    c->rpn = selsa_rpn_mmdet_default_params(300);
    static const float sc[4] = {4, 8, 16, 32}, ra[3] = {0.5f, 1.0f, 2.0f};
    memcpy(c->anchor_scales, sc, sizeof sc);
    memcpy(c->anchor_ratios, ra, sizeof ra);
    selsa_mmtrack_config_fix_pointers(c);
    /* §1.2 test.rcnn: score_thr 1e-4, NMS 0.5, max_per_img 100 (mmcv batched_nms) */
    c->rcnn = selsa_multiclass_nms_default_params();
    c->rcnn.num_classes = c->num_classes + 1;
    for (int i = 0; i < 4; i++) c->rcnn_stds[i] = 0.2f; /* §1.1 target_stds */
    c->n_ref = 14;
    c->online_ring = 14;
    c->online_stride = 10;
}

void selsa_mmtrack_config_r101(selsa_mmtrack_config *c) {
    selsa_mmtrack_config_r50(c);
    c->depth = 101;
    c->blocks[2] = 23;
}

void selsa_mmtrack_config_x101(selsa_mmtrack_config *c) {
    selsa_mmtrack_config_r101(c);
    c->groups = 64;
    c->base_width = 4;
}

void selsa_mmtrack_config_tiny(selsa_mmtrack_config *c, bool resnext) {
    selsa_mmtrack_config_r50(c);
    c->depth = 0;
    for (int i = 0; i < 4; i++) c->blocks[i] = 1;
    c->base_planes = 8;
    c->neck_channels = 32;
    c->fc_dim = 64;
    c->scale_long = 200;
    c->scale_short = 128;
    c->n_ref = 4;
    c->online_ring = 3;
    c->online_stride = 2;
    if (resnext) {
        /* contract: width = floor(planes·32/64)·4 = 2·planes */
        c->groups = 4;
        c->base_width = 32;
    }
}

selsa_status selsa_mmtrack_config_preset(selsa_mmtrack_config *c, const char *name) {
    if (!c || !name) return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack preset: NULL argument");
    if (!strcmp(name, "r50")) selsa_mmtrack_config_r50(c);
    else if (!strcmp(name, "r101")) selsa_mmtrack_config_r101(c);
    else if (!strcmp(name, "x101")) selsa_mmtrack_config_x101(c);
    else if (!strcmp(name, "tiny")) selsa_mmtrack_config_tiny(c, false);
    else if (!strcmp(name, "tiny-x")) selsa_mmtrack_config_tiny(c, true);
    else
        return selsa_error(SELSA_ERR_INVALID_ARG,
                           "unknown MMTracking preset '%s' (known: r50, r101, x101, tiny, tiny-x)",
                           name);
    return SELSA_OK;
}

selsa_status selsa_mmtrack_config_validate(const selsa_mmtrack_config *c) {
    if (!c) return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack config: NULL");
#define REQ(cond, ...) \
    if (!(cond)) return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack config: " __VA_ARGS__)
    for (int i = 0; i < 4; i++) REQ(c->blocks[i] >= 1 && c->blocks[i] <= 64, "blocks[%d] = %d must be in 1..64", i, c->blocks[i]);
    REQ(c->base_planes >= 1, "base_planes = %d must be >= 1", c->base_planes);
    REQ(c->groups >= 1, "groups = %d must be >= 1", c->groups);
    if (c->groups > 1) {
        REQ(c->base_width >= 1, "base_width = %d must be >= 1", c->base_width);
        REQ((c->base_planes * c->base_width / 64) >= 1, "ResNeXt width floor(base_planes·base_width/64) is 0");
    }
    REQ(c->neck_channels >= 1, "neck_channels = %d must be >= 1", c->neck_channels);
    REQ(c->agg_heads >= 1, "agg_heads = %d must be >= 1", c->agg_heads);
    REQ(c->fc_dim >= 1 && c->fc_dim % c->agg_heads == 0, "fc_dim = %d must be a positive multiple of agg_heads = %d", c->fc_dim, c->agg_heads);
    REQ(c->num_classes >= 1, "num_classes = %d must be >= 1", c->num_classes);
    REQ(c->roi_size >= 1, "roi_size = %d must be >= 1", c->roi_size);
    REQ(c->roi_sampling_ratio >= 0, "roi_sampling_ratio = %d must be >= 0", c->roi_sampling_ratio);
    REQ(c->spatial_scale > 0, "spatial_scale must be > 0");
    REQ(c->bn_eps > 0, "bn_eps must be > 0");
    REQ(c->scale_long >= 1 && c->scale_short >= 1, "scale (%d, %d) must be positive", c->scale_long, c->scale_short);
    REQ(c->rpn.scales == c->anchor_scales && c->rpn.ratios == c->anchor_ratios,
        "rpn.scales/ratios must point into the config (call selsa_mmtrack_config_fix_pointers after copying)");
    REQ(c->rpn.max_per_img >= 1, "rpn.max_per_img = %d must be >= 1", c->rpn.max_per_img);
    REQ(c->rpn.stride > 0, "rpn.stride must be > 0");
    REQ(c->rcnn.num_classes == c->num_classes + 1, "rcnn.num_classes = %d must be num_classes + 1 = %d", c->rcnn.num_classes, c->num_classes + 1);
    REQ(c->n_ref >= 1, "n_ref = %d must be >= 1", c->n_ref);
    REQ(c->online_ring >= 0, "online_ring = %d must be >= 0", c->online_ring);
    REQ(c->online_stride >= 1, "online_stride = %d must be >= 1", c->online_stride);
#undef REQ
    return SELSA_OK;
}

/* ------------------------------------------------------------------ parameter list --------- */

static int n_anchors(const selsa_mmtrack_config *c) { return c->rpn.n_scales * c->rpn.n_ratios; }

static void emit(selsa_mmtrack_param_fn fn, void *user, const char *name, int ndim, int64_t a,
                 int64_t b, int64_t c, int64_t d) {
    int64_t dims[4] = {a, b, c, d};
    fn(user, name, ndim, dims);
}

static void emit_bn(selsa_mmtrack_param_fn fn, void *user, const char *bn, int64_t ch) {
    static const char *const sfx[4] = {"weight", "bias", "running_mean", "running_var"};
    char k[200];
    for (int i = 0; i < 4; i++) {
        snprintf(k, sizeof k, "%s.%s", bn, sfx[i]);
        emit(fn, user, k, 1, ch, 0, 0, 0);
    }
    snprintf(k, sizeof k, "%s.num_batches_tracked", bn);
    emit(fn, user, k, 0, 0, 0, 0, 0);
}

static void emit_lin(selsa_mmtrack_param_fn fn, void *user, const char *nm, int64_t out, int64_t in) {
    char k[200];
    snprintf(k, sizeof k, "%s.weight", nm);
    emit(fn, user, k, 2, out, in, 0, 0);
    snprintf(k, sizeof k, "%s.bias", nm);
    emit(fn, user, k, 1, out, 0, 0, 0);
}

void selsa_mmtrack_enum_params(const selsa_mmtrack_config *c, selsa_mmtrack_param_fn fn, void *user) {
    char k[160], bn[160];
    const char *BB = "detector.backbone.";
    snprintf(k, sizeof k, "%sconv1.weight", BB);
    emit(fn, user, k, 4, c->base_planes, 3, 7, 7);
    snprintf(bn, sizeof bn, "%sbn1", BB);
    emit_bn(fn, user, bn, c->base_planes);
    int64_t in_c = c->base_planes;
    int g = c->groups < 1 ? 1 : c->groups;
    for (int s = 0; s < 4; s++) {
        int64_t planes = (int64_t)c->base_planes << s, outc = 4 * planes, width = selsa_rt_width(c, s);
        for (int b = 0; b < c->blocks[s]; b++) {
            int64_t cin = b == 0 ? in_c : outc;
            const int64_t sh[3][4] = {{width, cin, 1, 1}, {width, width / g, 3, 3}, {outc, width, 1, 1}};
            for (int j = 0; j < 3; j++) {
                snprintf(k, sizeof k, "%slayer%d.%d.conv%d.weight", BB, s + 1, b, j + 1);
                emit(fn, user, k, 4, sh[j][0], sh[j][1], sh[j][2], sh[j][3]);
                snprintf(bn, sizeof bn, "%slayer%d.%d.bn%d", BB, s + 1, b, j + 1);
                emit_bn(fn, user, bn, sh[j][0]);
            }
            if (b == 0) {
                snprintf(k, sizeof k, "%slayer%d.%d.downsample.0.weight", BB, s + 1, b);
                emit(fn, user, k, 4, outc, cin, 1, 1);
                snprintf(bn, sizeof bn, "%slayer%d.%d.downsample.1", BB, s + 1, b);
                emit_bn(fn, user, bn, outc);
            }
        }
        in_c = outc;
    }
    int64_t C5 = in_c, Cn = c->neck_channels, A = n_anchors(c), D = c->fc_dim;
    emit(fn, user, "detector.neck.convs.0.conv.weight", 4, Cn, C5, 3, 3);
    emit(fn, user, "detector.neck.convs.0.conv.bias", 1, Cn, 0, 0, 0);
    emit(fn, user, "detector.rpn_head.rpn_conv.weight", 4, Cn, Cn, 3, 3);
    emit(fn, user, "detector.rpn_head.rpn_conv.bias", 1, Cn, 0, 0, 0);
    emit(fn, user, "detector.rpn_head.rpn_cls.weight", 4, A, Cn, 1, 1);
    emit(fn, user, "detector.rpn_head.rpn_cls.bias", 1, A, 0, 0, 0);
    emit(fn, user, "detector.rpn_head.rpn_reg.weight", 4, 4 * A, Cn, 1, 1);
    emit(fn, user, "detector.rpn_head.rpn_reg.bias", 1, 4 * A, 0, 0, 0);
    const char *H = "detector.roi_head.bbox_head.";
    snprintf(k, sizeof k, "%sfc_cls", H);
    emit_lin(fn, user, k, c->num_classes + 1, D);
    snprintf(k, sizeof k, "%sfc_reg", H);
    emit_lin(fn, user, k, 4 * c->num_classes, D);
    snprintf(k, sizeof k, "%sshared_fcs.0", H);
    emit_lin(fn, user, k, D, Cn * c->roi_size * c->roi_size);
    snprintf(k, sizeof k, "%sshared_fcs.1", H);
    emit_lin(fn, user, k, D, D);
    static const char *const agg[4] = {"fc_embed", "ref_fc_embed", "fc", "ref_fc"};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) {
            snprintf(k, sizeof k, "%saggregator.%d.%s", H, i, agg[j]);
            emit_lin(fn, user, k, D, D);
        }
}

/* ------------------------------------------------------------------ checkpoint kind -------- */

static const char *const KEY_AGG = "detector.roi_head.bbox_head.aggregator.0.fc_embed.weight";

/* SELSA_ERR_FORMAT with a message saying what the dict looks like, unless it is an MMTracking
 * SELSA state dict. */
static selsa_status check_kind(const selsa_weights *w) {
    if (selsa_weights_find(w, "detector.roi_head.bbox_roi_extractor.embed_network.conv.weight"))
        return selsa_error(SELSA_ERR_UNSUPPORTED,
                           "this is an MMTracking Temporal RoI Align SELSA checkpoint "
                           "(bbox_roi_extractor.embed_network); only plain SELSA is supported");
    if (selsa_weights_find(w, KEY_AGG)) return SELSA_OK;
    if (selsa_weights_find(w, "detector.roi_head.bbox_head.shared_fcs.0.weight"))
        return selsa_error(SELSA_ERR_FORMAT,
                           "not a SELSA checkpoint: it has MMTracking 'detector.' keys but no "
                           "SelsaAggregator ('%s' missing; a DFF/FGFA or plain video detector?)",
                           KEY_AGG);
    if (selsa_weights_find(w, "roi_head.bbox_head.shared_fcs.0.weight") ||
        selsa_weights_find(w, "backbone.conv1.weight") ||
        selsa_weights_find(w, "roi_head.bbox_head.fc_cls.weight"))
        return selsa_error(SELSA_ERR_FORMAT,
                           "this looks like a plain mmdet Faster R-CNN state dict (keys without the "
                           "'detector.' prefix and no SelsaAggregator); an MMTracking SELSA checkpoint "
                           "has keys such as '%s'",
                           KEY_AGG);
    if (selsa_weights_find(w, "conv1_weight") || selsa_weights_find(w, "conv1_weight_test"))
        return selsa_error(SELSA_ERR_FORMAT,
                           "this looks like an official MXNet SELSA/R-FCN model (conv1_weight); load "
                           "it with the official architecture, not the MMTracking one");
    return selsa_error(SELSA_ERR_FORMAT,
                       "not an MMTracking SELSA state dict: '%s' not found (%lld tensors, first "
                       "'%s')",
                       KEY_AGG, (long long)w->count, w->count > 0 ? w->items[0].name : "(none)");
}

static int64_t count_blocks(const selsa_weights *w, int layer) {
    char k[128];
    int64_t b = 0;
    for (;; b++) {
        snprintf(k, sizeof k, "detector.backbone.layer%d.%lld.conv1.weight", layer, (long long)b);
        if (!selsa_weights_find(w, k)) break;
    }
    return b;
}

selsa_status selsa_mmtrack_config_from_weights(selsa_mmtrack_config *c, const selsa_weights *w) {
    if (!c || !w) return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack config from weights: NULL argument");
    SELSA_TRY(check_kind(w));
    selsa_mmtrack_config_r50(c);
    const selsa_weight *t = selsa_weights_find(w, "detector.backbone.conv1.weight");
    if (!t || t->ndim != 4)
        return selsa_error(SELSA_ERR_FORMAT, "tensor 'detector.backbone.conv1.weight' missing or not 4-D");
    c->base_planes = (int)t->dims[0];
    for (int L = 1; L <= 4; L++) {
        int64_t b = count_blocks(w, L);
        if (b < 1) return selsa_error(SELSA_ERR_FORMAT, "no blocks found for detector.backbone.layer%d", L);
        c->blocks[L - 1] = (int)b;
    }
    c->depth = c->blocks[2] == 23 ? 101 : c->blocks[2] == 6 ? 50 : 0;
    t = selsa_weights_find(w, "detector.backbone.layer1.0.conv2.weight");
    if (!t || t->ndim != 4 || t->dims[1] <= 0)
        return selsa_error(SELSA_ERR_FORMAT, "tensor 'detector.backbone.layer1.0.conv2.weight' missing or malformed");
    int64_t width = t->dims[0], g = t->dims[0] / t->dims[1];
    if (g <= 1) {
        c->groups = 1;
    } else {
        c->groups = (int)g;
        c->base_width = (int)(width / g * 64 / c->base_planes);
    }
    t = selsa_weights_find(w, "detector.neck.convs.0.conv.weight");
    if (t && t->ndim == 4) c->neck_channels = (int)t->dims[0];
    t = selsa_weights_find(w, "detector.roi_head.bbox_head.shared_fcs.1.weight");
    if (t && t->ndim == 2) c->fc_dim = (int)t->dims[0];
    t = selsa_weights_find(w, "detector.roi_head.bbox_head.fc_cls.weight");
    if (t && t->ndim == 2 && t->dims[0] >= 2) c->num_classes = (int)t->dims[0] - 1;
    c->rcnn.num_classes = c->num_classes + 1;
    if (c->fc_dim % c->agg_heads) c->agg_heads = 1;
    return selsa_mmtrack_config_validate(c);
}

/* ------------------------------------------------------------------ model ------------------ */

static selsa_conv2d_params cp(int stride, int pad) {
    selsa_conv2d_params p = {stride, stride, pad, pad, 1, 1, 1};
    return p;
}

static selsa_status model_params(selsa_mmtrack_model *m, selsa_weights *w, bool dry) {
    const selsa_mmtrack_config *c = &m->cfg;
    selsa_arena *a = &m->params;
    double eps = c->bn_eps;
    SELSA_TRY(selsa_rt_load(&m->net, c, a, w, dry));
    int64_t C5 = 4 * ((int64_t)c->base_planes << 3), Cn = c->neck_channels, A = n_anchors(c);
    int64_t D = c->fc_dim, RR = (int64_t)c->roi_size * c->roi_size;
    selsa_conv2d_params p0 = cp(1, 0), p1 = cp(1, 1);
    /* ChannelMapper ConvModule: conv3x3 pad 1 + bias (no norm) + ReLU (§1.1) */
    SELSA_TRY(selsa_rt_conv_load(&m->neck, a, w, dry, "detector.neck.convs.0.conv", NULL, Cn, C5, 3,
                                 false, true, eps, p1));
    SELSA_TRY(selsa_rt_conv_load(&m->rpn_conv, a, w, dry, "detector.rpn_head.rpn_conv", NULL, Cn, Cn,
                                 3, false, true, eps, p1));
    SELSA_TRY(selsa_rt_conv_load(&m->rpn_cls, a, w, dry, "detector.rpn_head.rpn_cls", NULL, A, Cn, 1,
                                 false, true, eps, p0));
    SELSA_TRY(selsa_rt_conv_load(&m->rpn_reg, a, w, dry, "detector.rpn_head.rpn_reg", NULL, 4 * A, Cn,
                                 1, false, true, eps, p0));
    const char *H = "detector.roi_head.bbox_head.";
    char k[160];
#define LIN(dst, nm, out, in)                                                               \
    do {                                                                                    \
        snprintf(k, sizeof k, "%s%s", H, nm);                                               \
        SELSA_TRY(selsa_rt_conv_load(dst, a, w, dry, k, NULL, out, in, 1, true, true, eps, p0)); \
    } while (0)
    LIN(&m->fc_cls, "fc_cls", c->num_classes + 1, D);
    LIN(&m->fc_reg, "fc_reg", 4 * c->num_classes, D);
    LIN(&m->fc0, "shared_fcs.0", D, Cn * RR);
    LIN(&m->fc1, "shared_fcs.1", D, D);
    for (int i = 0; i < 2; i++) {
        char nm[64];
        snprintf(nm, sizeof nm, "aggregator.%d.fc_embed", i);
        LIN(&m->fc_embed[i], nm, D, D);
        snprintf(nm, sizeof nm, "aggregator.%d.ref_fc_embed", i);
        LIN(&m->ref_fc_embed[i], nm, D, D);
        snprintf(nm, sizeof nm, "aggregator.%d.fc", i);
        LIN(&m->agg_fc[i], nm, D, D);
        snprintf(nm, sizeof nm, "aggregator.%d.ref_fc", i);
        LIN(&m->ref_fc[i], nm, D, D);
    }
#undef LIN
    return SELSA_OK;
}

selsa_status selsa_mmtrack_model_load(selsa_mmtrack_model **out, const selsa_mmtrack_config *cfg,
                                      selsa_weights *w, const char *what) {
    if (!out || !cfg || !w) return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack model load: NULL argument");
    *out = NULL;
    if (!what) what = "weights";
    selsa_mmtrack_config c = *cfg;
    selsa_mmtrack_config_fix_pointers(&c);
    SELSA_TRY(selsa_mmtrack_config_validate(&c));
    selsa_status s = check_kind(w);
    if (s != SELSA_OK) return selsa_error_context(s, "%s", what);
    /* a deeper checkpoint than the config (e.g. R101 weights with the R50 preset) would load
     * the first blocks silently: refuse it */
    for (int L = 1; L <= 4; L++) {
        int64_t b = count_blocks(w, L);
        if (b != c.blocks[L - 1])
            return selsa_error(SELSA_ERR_FORMAT,
                               "%s: the checkpoint has %lld blocks in detector.backbone.layer%d, the "
                               "config expects %d (wrong depth preset?)",
                               what, (long long)b, L, c.blocks[L - 1]);
    }
    selsa_mmtrack_model *m = calloc(1, sizeof *m);
    if (!m) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "mmtrack model: struct");
    m->cfg = c;
    selsa_mmtrack_config_fix_pointers(&m->cfg);
    selsa_arena_init_measure(&m->params, "params");
    s = model_params(m, NULL, true);
    if (s != SELSA_OK) goto fail;
    size_t bytes = m->params.peak;
    selsa_rt_free(&m->net);
    memset(&m->net, 0, sizeof m->net);
    s = selsa_arena_init(&m->params, "mmtrack params", bytes);
    if (s != SELSA_OK) goto fail;
    s = model_params(m, w, false);
    if (s != SELSA_OK) goto fail;
    selsa_weights_warn_unused(w, what);
    *out = m;
    return SELSA_OK;
fail:
    selsa_mmtrack_model_free(m);
    return selsa_error_context(s, "%s", what);
}

selsa_status selsa_mmtrack_model_load_file(selsa_mmtrack_model **out,
                                           const selsa_mmtrack_config *cfg, const char *path) {
    if (!path) return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack model load: NULL path");
    selsa_weights w;
    selsa_weights_init(&w);
    selsa_status s = selsa_weights_load(path, &w);
    if (s == SELSA_OK) s = selsa_mmtrack_model_load(out, cfg, &w, path);
    selsa_weights_free(&w);
    return s;
}

void selsa_mmtrack_model_free(selsa_mmtrack_model *m) {
    if (!m) return;
    selsa_rt_free(&m->net);
    selsa_arena_free(&m->params);
    free(m);
}

const selsa_mmtrack_config *selsa_mmtrack_model_config(const selsa_mmtrack_model *m) {
    return m ? &m->cfg : NULL;
}

size_t selsa_mmtrack_model_param_bytes(const selsa_mmtrack_model *m) {
    return m ? m->params.capacity : 0;
}

/* ------------------------------------------------------------------ runner ----------------- */

static selsa_status fbuf(selsa_arena *a, int64_t n, float **p) {
    void *v;
    SELSA_TRY(selsa_arena_alloc(a, (size_t)(n > 0 ? n : 0) * sizeof(float), &v));
    *p = v;
    return SELSA_OK;
}

static void debug_t(selsa_mmtrack_runner *r, const char *name, int64_t frame, const selsa_tensor *t) {
    if (r->debug) r->debug(r->debug_user, name, frame, t);
}

/* Feature stage of one frame (§1.4, §2.6): preprocessing, backbone, neck, RPN + proposals,
 * RoIAlign. Outputs (caller memory, R rows capacity): fo->props / fo->rois data and
 * feats (R · Cn·7·7). Dry: img is NULL and H × W is the resized size to plan for. */
static selsa_status feat_stage(selsa_mmtrack_runner *r, selsa_rt_exec *ex, const selsa_image *img,
                               int H, int W, int64_t frame, mm_frame_out *fo, float *feats) {
    const selsa_mmtrack_model *m = r->m;
    const selsa_mmtrack_config *c = &m->cfg;
    double t0 = selsa_monotonic_seconds(), t1;
    if (!ex->dry) {
        double sx, sy;
        SELSA_TRY(selsa_image_resize_mmcv(img, &r->resized, c->scale_long, c->scale_short, &sx, &sy));
        H = r->resized.h;
        W = r->resized.w;
        /* mmdet Resize: scale_factor = [w_s, h_s, w_s, h_s] as float32 */
        fo->scale_factor[0] = fo->scale_factor[2] = (float)sx;
        fo->scale_factor[1] = fo->scale_factor[3] = (float)sy;
    } else {
        for (int i = 0; i < 4; i++) fo->scale_factor[i] = 1.0f;
    }
    fo->img_h = H;
    fo->img_w = W;
    /* mmdet Normalize keeps mean/std as float32 arrays; mmcv imnormalize_ then uses
     * float64(mean) and 1/float64(std) (§1.4): round the constants to float32 first (with the
     * float64 literals ~11% of the values differ by 1 ulp) */
    selsa_norm_cfg nc = selsa_norm_mmdet();
    for (int i = 0; i < 3; i++) {
        nc.mean[i] = (double)(float)nc.mean[i];
        nc.std[i] = (double)(float)nc.std[i];
    }
    int Hp, Wp;
    selsa_norm_padded_size(&nc, H, W, &Hp, &Wp);
    size_t mark = selsa_arena_mark(ex->arena);
    selsa_status s = SELSA_OK;
    selsa_tensor in, c5, F, t, cls, reg;
    float *boxes = NULL, *scores = NULL;
#define CK(expr)                          \
    do {                                  \
        s = (expr);                       \
        if (s != SELSA_OK) goto done;     \
    } while (0)
    CK(selsa_arena_tensor(ex->arena, &in, 1, 3, Hp, Wp));
    if (!ex->dry) CK(selsa_image_to_tensor(&r->resized, &nc, &in, 0));
    t1 = selsa_monotonic_seconds();
    if (!ex->dry) r->stats.decode += t1 - t0;
    t0 = t1;
    CK(selsa_rt_forward(ex, &m->net, &in, &c5));
    t1 = selsa_monotonic_seconds();
    if (!ex->dry) r->stats.backbone += t1 - t0;
    t0 = t1;
    CK(selsa_rt_conv_run(ex, &m->neck, &c5, &F, SELSA_ACT_RELU));
    if (!ex->dry) debug_t(r, "neck", frame, &F);
    size_t mark2 = selsa_arena_mark(ex->arena);
    CK(selsa_rt_conv_run(ex, &m->rpn_conv, &F, &t, SELSA_ACT_RELU));
    CK(selsa_rt_conv_run(ex, &m->rpn_cls, &t, &cls, SELSA_ACT_NONE));
    CK(selsa_rt_conv_run(ex, &m->rpn_reg, &t, &reg, SELSA_ACT_NONE));
    if (!ex->dry) {
        debug_t(r, "rpn_cls", frame, &cls);
        debug_t(r, "rpn_reg", frame, &reg);
    }
    CK(fbuf(ex->arena, (int64_t)r->R * 4, &boxes));
    CK(fbuf(ex->arena, r->R, &scores));
    selsa_rt_need(ex, selsa_rpn_proposals_mmdet_scratch_bytes(n_anchors(c), cls.h, cls.w, &c->rpn));
    int64_t P = r->R;
    if (!ex->dry) {
        /* §2.6 RPN post-processing, boxes clipped to img_shape (unpadded resized size) */
        CK(selsa_rpn_proposals_mmdet(ex->ctx, boxes, scores, &P, &cls, &reg, (float)H, (float)W,
                                     &c->rpn));
        for (int64_t i = 0; i < P; i++) {
            float *pr = fo->props.data + i * 5, *ro = fo->rois.data + i * 5;
            memcpy(pr, boxes + i * 4, 4 * sizeof(float));
            pr[4] = scores[i];
            ro[0] = 0.0f;
            memcpy(ro + 1, boxes + i * 4, 4 * sizeof(float));
        }
    }
    fo->P = P;
    fo->props.n = fo->rois.n = P;
    selsa_arena_rewind(ex->arena, mark2); /* the RPN temporaries; F stays */
    t1 = selsa_monotonic_seconds();
    if (!ex->dry) r->stats.neck_rpn += t1 - t0;
    t0 = t1;
    /* §2.6 RoIAlign 7×7, sampling 2, aligned, on the (padded) neck output */
    selsa_roi_align_params rp = {c->roi_size, c->roi_size, c->spatial_scale, c->roi_sampling_ratio, true};
    selsa_tensor ft = selsa_tensor_view(feats, P, F.c, c->roi_size, c->roi_size);
    selsa_rt_need(ex, selsa_roi_align_scratch_bytes(r->R));
    if (!ex->dry && P > 0) CK(selsa_roi_align_forward(ex->ctx, &ft, &F, &fo->rois, &rp));
    if (!ex->dry) r->stats.head += selsa_monotonic_seconds() - t0;
done:
#undef CK
    selsa_arena_rewind(ex->arena, mark);
    return s;
}

/* Reference-path slot of n rows of RoI features (§2.4):
 *   x0 = shared_fcs.0(feats) (pre-ReLU) into x0 (n, D);
 *   K0 = ref_fc_embed0(x0), V0 = ref_fc0(x0), r1 = shared_fcs.1(relu(x0)),
 *   K1 = ref_fc_embed1(r1), V1 = ref_fc1(r1)   into Kd[i], Vd[i] (n, D). */
static selsa_status slot_stage(selsa_mmtrack_runner *r, selsa_rt_exec *ex, const float *feats,
                               int64_t n, int64_t frame, float *x0, float *const Kd[2],
                               float *const Vd[2]) {
    const selsa_mmtrack_model *m = r->m;
    const selsa_mmtrack_config *c = &m->cfg;
    int64_t D = r->D;
    double t0 = selsa_monotonic_seconds();
    selsa_tensor f = selsa_tensor_view((float *)feats, n, c->neck_channels, c->roi_size, c->roi_size);
    selsa_tensor x = selsa_tensor_view(x0, n, D, 1, 1), k, v, rr, r1;
    SELSA_TRY(selsa_rt_linear_into(ex, &m->fc0, &f, &x, SELSA_ACT_NONE));
    if (!ex->dry) debug_t(r, "shared_fc0", frame, &x);
    k = selsa_tensor_view(Kd[0], n, D, 1, 1);
    v = selsa_tensor_view(Vd[0], n, D, 1, 1);
    SELSA_TRY(selsa_rt_linear_into(ex, &m->ref_fc_embed[0], &x, &k, SELSA_ACT_NONE));
    SELSA_TRY(selsa_rt_linear_into(ex, &m->ref_fc[0], &x, &v, SELSA_ACT_NONE));
    size_t mark = selsa_arena_mark(ex->arena);
    selsa_status s = SELSA_OK;
    float *bufr = NULL, *buf1 = NULL;
    if ((s = fbuf(ex->arena, n * D, &bufr)) != SELSA_OK) goto done;
    if ((s = fbuf(ex->arena, n * D, &buf1)) != SELSA_OK) goto done;
    rr = selsa_tensor_view(bufr, n, D, 1, 1);
    r1 = selsa_tensor_view(buf1, n, D, 1, 1);
    if (!ex->dry && n > 0 && (s = selsa_relu_forward(ex->ctx, &rr, &x)) != SELSA_OK) goto done;
    if ((s = selsa_rt_linear_into(ex, &m->fc1, &rr, &r1, SELSA_ACT_NONE)) != SELSA_OK) goto done;
    k = selsa_tensor_view(Kd[1], n, D, 1, 1);
    v = selsa_tensor_view(Vd[1], n, D, 1, 1);
    if ((s = selsa_rt_linear_into(ex, &m->ref_fc_embed[1], &r1, &k, SELSA_ACT_NONE)) != SELSA_OK) goto done;
    s = selsa_rt_linear_into(ex, &m->ref_fc[1], &r1, &v, SELSA_ACT_NONE);
done:
    selsa_arena_rewind(ex->arena, mark);
    if (!ex->dry) r->stats.head += selsa_monotonic_seconds() - t0;
    return s;
}

/* Query rows per attention call: bounds the (G, Nb, M) probability buffer to ~4 M floats. */
static int64_t attn_block(const selsa_mmtrack_runner *r, int64_t M) {
    int64_t G = r->m->cfg.agg_heads, budget = (int64_t)4 << 20;
    int64_t nb = M > 0 ? budget / (G * M) : r->R;
    if (nb < 1) nb = 1;
    if (nb > r->R) nb = r->R;
    return nb;
}

/* Key path (§2.4, §2.5): x0 (P, D) pre-ReLU shared_fcs.0 output of the key RoIs; K[i], V[i]
 * (M, D) the support set's keys/values (key frame's rows last). Writes cls (P, C+1) and
 * reg (P, 4C). Dry: plans for P = R and M = max_m. */
static selsa_status key_path(selsa_mmtrack_runner *r, selsa_rt_exec *ex, const float *x0, int64_t P,
                             int64_t M, int64_t max_m, float *const K[2], float *const V[2],
                             float *cls_out, float *reg_out) {
    const selsa_mmtrack_model *m = r->m;
    const selsa_mmtrack_config *c = &m->cfg;
    int64_t D = r->D, G = c->agg_heads;
    double t0 = selsa_monotonic_seconds();
    size_t mark = selsa_arena_mark(ex->arena);
    selsa_status s = SELSA_OK;
    float *q, *o, *agg, *xa, *x1, *prob;
#define CK(expr)                      \
    do {                              \
        s = (expr);                   \
        if (s != SELSA_OK) goto done; \
    } while (0)
    CK(fbuf(ex->arena, (int64_t)r->R * D, &q));
    CK(fbuf(ex->arena, (int64_t)r->R * D, &o));
    CK(fbuf(ex->arena, (int64_t)r->R * D, &agg));
    CK(fbuf(ex->arena, (int64_t)r->R * D, &xa));
    CK(fbuf(ex->arena, (int64_t)r->R * D, &x1));
    /* prob capacity: enough for any M <= max_m with the block size attn_block(M) picks */
    int64_t pcap = G * (int64_t)r->R * max_m, budget = (int64_t)4 << 20;
    if (pcap > budget) pcap = budget > G * max_m ? budget : G * max_m;
    CK(fbuf(ex->arena, pcap, &prob));
    /* §2.5: scale = 1/sqrt(head dim) (1/8 for D = 1024: exact in fp32) */
    float scale = (float)(1.0 / sqrt((double)(D / G)));
    const float *xin = x0;
    selsa_tensor xa_t = selsa_tensor_view(xa, P, D, 1, 1);
    for (int i = 0; i < 2; i++) {
        selsa_tensor xi = selsa_tensor_view((float *)xin, P, D, 1, 1);
        selsa_tensor qt = selsa_tensor_view(q, P, D, 1, 1);
        CK(selsa_rt_linear_into(ex, &m->fc_embed[i], &xi, &qt, SELSA_ACT_NONE));
        if (!ex->dry && P > 0) {
            int64_t bsz = attn_block(r, M);
            selsa_tensor kt = selsa_tensor_view(K[i], M, D, 1, 1);
            selsa_tensor vt = selsa_tensor_view(V[i], M, D, 1, 1);
            for (int64_t r0 = 0; r0 < P; r0 += bsz) {
                int64_t nr = P - r0 < bsz ? P - r0 : bsz;
                selsa_tensor qb = selsa_tensor_view(q + r0 * D, nr, D, 1, 1);
                selsa_tensor ob = selsa_tensor_view(o + r0 * D, nr, D, 1, 1);
                selsa_tensor pb = selsa_tensor_view(prob, G, nr, M, 1);
                CK(selsa_attention_forward(ex->ctx, &ob, &pb, &qb, &kt, &vt, (int)G, scale));
            }
        }
        selsa_tensor ot = selsa_tensor_view(o, P, D, 1, 1);
        selsa_tensor at = selsa_tensor_view(agg, P, D, 1, 1);
        CK(selsa_rt_linear_into(ex, &m->agg_fc[i], &ot, &at, SELSA_ACT_NONE));
        /* x = relu(x + aggregator(x, r)) — residual on the pre-ReLU features */
        if (!ex->dry && P > 0) CK(selsa_add_forward(ex->ctx, &xa_t, &xi, &at, SELSA_ACT_RELU));
        if (i == 0) {
            selsa_tensor x1t = selsa_tensor_view(x1, P, D, 1, 1);
            CK(selsa_rt_linear_into(ex, &m->fc1, &xa_t, &x1t, SELSA_ACT_NONE));
            xin = x1;
        }
    }
    selsa_tensor ct = selsa_tensor_view(cls_out, P, c->num_classes + 1, 1, 1);
    selsa_tensor rt = selsa_tensor_view(reg_out, P, 4 * c->num_classes, 1, 1);
    CK(selsa_rt_linear_into(ex, &m->fc_cls, &xa_t, &ct, SELSA_ACT_NONE));
    CK(selsa_rt_linear_into(ex, &m->fc_reg, &xa_t, &rt, SELSA_ACT_NONE));
done:
#undef CK
    selsa_arena_rewind(ex->arena, mark);
    if (!ex->dry) r->stats.aggregation += selsa_monotonic_seconds() - t0;
    return s;
}

/* mmdet BBoxHead.get_bboxes + multiclass_nms (§2.6): softmax, class-specific decoding with
 * stds 0.2 clipped to img_shape, division by scale_factor, multiclass NMS; labels → 1..C. */
static selsa_status post_stage(selsa_mmtrack_runner *r, selsa_rt_exec *ex, const mm_frame_out *fo,
                               const float *cls, const float *reg, int64_t *n_dets) {
    const selsa_mmtrack_config *c = &r->m->cfg;
    int C = c->num_classes;
    double t0 = selsa_monotonic_seconds();
    int64_t P = ex->dry ? r->R : fo->P;
    *n_dets = 0;
    size_t mark = selsa_arena_mark(ex->arena);
    selsa_status s = SELSA_OK;
    float *sc, *bx, *dec;
    selsa_rt_need(ex, selsa_multiclass_nms_mmdet_scratch_bytes(r->R, C + 1));
    if ((s = fbuf(ex->arena, P * (C + 1), &sc)) != SELSA_OK) goto done;
    if ((s = fbuf(ex->arena, P * 4, &bx)) != SELSA_OK) goto done;
    if ((s = fbuf(ex->arena, P * 4 * C, &dec)) != SELSA_OK) goto done;
    if (ex->dry || P == 0) goto done;
    {
        selsa_tensor in = selsa_tensor_view((float *)cls, P, C + 1, 1, 1);
        selsa_tensor st = selsa_tensor_view(sc, P, C + 1, 1, 1);
        if ((s = selsa_softmax_channel_forward(ex->ctx, &st, &in)) != SELSA_OK) goto done;
        for (int64_t i = 0; i < P; i++) memcpy(bx + i * 4, fo->props.data + i * 5, 4 * sizeof(float));
        static const float means[4] = {0, 0, 0, 0};
        selsa_bbox_decode_mmdet(dec, bx, reg, P, C, means, c->rcnn_stds, 16.0f / 1000.0f,
                                (float)fo->img_h, (float)fo->img_w);
        selsa_bbox_rescale(dec, P * C, fo->scale_factor);
        selsa_tensor bt = selsa_tensor_view(dec, P, 4 * C, 1, 1);
        if ((s = selsa_multiclass_nms_mmdet(ex->ctx, r->dets, r->det_cap, n_dets, &bt, &st,
                                            &c->rcnn)) != SELSA_OK)
            goto done;
        for (int64_t i = 0; i < *n_dets; i++) r->dets[i].cls += 1; /* mmdet label → VID class */
    }
done:
    selsa_arena_rewind(ex->arena, mark);
    if (!ex->dry) r->stats.post += selsa_monotonic_seconds() - t0;
    return s;
}

static selsa_status grow(selsa_arena *a, const char *name, size_t bytes) {
    if (a->base && a->capacity >= bytes) return SELSA_OK;
    selsa_arena_free(a);
    return selsa_arena_init(a, name, bytes);
}

/* Allocation of one frame's outputs in `a` (props, rois: R rows; feats; x0). */
static selsa_status frame_bufs(selsa_mmtrack_runner *r, selsa_arena *a, mm_frame_out *fo,
                               float **feats) {
    const selsa_mmtrack_config *c = &r->m->cfg;
    memset(fo, 0, sizeof *fo);
    SELSA_TRY(selsa_arena_tensor(a, &fo->props, r->R, 5, 1, 1));
    SELSA_TRY(selsa_arena_tensor(a, &fo->rois, r->R, 5, 1, 1));
    SELSA_TRY(selsa_arena_tensor(a, &fo->x0, r->R, r->D, 1, 1));
    SELSA_TRY(fbuf(a, (int64_t)r->R * c->neck_channels * c->roi_size * c->roi_size, feats));
    return SELSA_OK;
}

/* Uncached path buffers (all support rows at once), in r->unc. */
typedef struct mm_unc_bufs {
    float *props, *rois, *feats, *r0, *K[2], *V[2], *x0;
} mm_unc_bufs;

static selsa_status unc_bufs(selsa_mmtrack_runner *r, selsa_arena *a, mm_unc_bufs *u) {
    const selsa_mmtrack_config *c = &r->m->cfg;
    int64_t M = r->max_rows, D = r->D;
    SELSA_TRY(fbuf(a, M * 5, &u->props));
    SELSA_TRY(fbuf(a, M * 5, &u->rois));
    SELSA_TRY(fbuf(a, M * c->neck_channels * c->roi_size * c->roi_size, &u->feats));
    SELSA_TRY(fbuf(a, M * D, &u->r0));
    for (int i = 0; i < 2; i++) {
        SELSA_TRY(fbuf(a, M * D, &u->K[i]));
        SELSA_TRY(fbuf(a, M * D, &u->V[i]));
    }
    SELSA_TRY(fbuf(a, (int64_t)r->R * D, &u->x0));
    return SELSA_OK;
}

/* Measuring passes for a resized H × W frame; grows the arenas and ctx->scratch. */
static selsa_status reserve_scaled(selsa_mmtrack_runner *r, int H, int W, bool uncached) {
    if (H < r->res_h) H = r->res_h;
    if (W < r->res_w) W = r->res_w;
    uncached = uncached || r->res_uncached;
    selsa_arena ma, mu;
    selsa_arena_init_measure(&ma, "activations");
    selsa_arena_init_measure(&mu, "uncached");
    selsa_rt_exec ex = {r->ctx, &ma, true, 0}, eu = {r->ctx, &mu, true, 0};
    mm_frame_out fo;
    float *feats;
    float *Kd[2] = {NULL, NULL}, *Vd[2] = {NULL, NULL};
    SELSA_TRY(frame_bufs(r, &ma, &fo, &feats));
    selsa_status s = feat_stage(r, &ex, NULL, H, W, -1, &fo, feats);
    if (s == SELSA_OK) s = slot_stage(r, &ex, feats, r->R, -1, fo.x0.data, Kd, Vd);
    if (s == SELSA_OK) s = key_path(r, &ex, fo.x0.data, r->R, r->max_rows, r->max_rows, Kd, Vd, NULL, NULL);
    int64_t nd;
    if (s == SELSA_OK) s = post_stage(r, &ex, &fo, NULL, NULL, &nd);
    if (s == SELSA_OK && uncached) {
        mm_unc_bufs u;
        s = unc_bufs(r, &mu, &u);
        if (s == SELSA_OK) s = slot_stage(r, &eu, u.feats, r->max_rows, -1, u.r0, u.K, u.V);
    }
    if (s != SELSA_OK) return selsa_error_context(s, "mmtrack runner: reserving for %dx%d", H, W);
    SELSA_TRY(grow(&r->act, "mmtrack activations", ma.peak));
    if (uncached) SELSA_TRY(grow(&r->unc, "mmtrack uncached", mu.peak));
    SELSA_TRY(selsa_image_alloc(&r->resized, H, W));
    size_t sneed = ex.scratch_need > eu.scratch_need ? ex.scratch_need : eu.scratch_need;
    if (r->ctx->scratch.capacity < sneed) {
        SELSA_TRY(selsa_ctx_reserve_scratch(r->ctx, sneed, "mmtrack runner"));
        selsa_log(SELSA_LOG_INFO, "mmtrack runner: scratch arena grown to %zu bytes", sneed);
    }
    r->res_h = H;
    r->res_w = W;
    r->res_uncached = uncached;
    return SELSA_OK;
}

selsa_status selsa_mmtrack_runner_reserve(selsa_mmtrack_runner *r, int orig_h, int orig_w,
                                          bool uncached) {
    if (!r) return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack reserve: NULL runner");
    const selsa_mmtrack_config *c = &r->m->cfg;
    int H, W;
    double sx, sy;
    SELSA_TRY(selsa_resize_rule_mmcv(orig_h, orig_w, c->scale_long, c->scale_short, &H, &W, &sx, &sy));
    return reserve_scaled(r, H, W, uncached);
}

static selsa_status ensure_reserved(selsa_mmtrack_runner *r, const selsa_image *img, bool uncached) {
    if (!img || !img->data || img->h <= 0 || img->w <= 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack: empty input image");
    const selsa_mmtrack_config *c = &r->m->cfg;
    int H, W;
    double sx, sy;
    SELSA_TRY(selsa_resize_rule_mmcv(img->h, img->w, c->scale_long, c->scale_short, &H, &W, &sx, &sy));
    if (H > r->res_h || W > r->res_w || (uncached && !r->res_uncached) || !r->act.base)
        return reserve_scaled(r, H, W, uncached);
    return SELSA_OK;
}

selsa_status selsa_mmtrack_runner_create(selsa_mmtrack_runner **out, const selsa_mmtrack_model *m,
                                         selsa_ctx *ctx, int max_support) {
    if (!out || !m || !ctx) return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack runner: NULL argument");
    *out = NULL;
    const selsa_mmtrack_config *c = &m->cfg;
    if (max_support <= 0) max_support = c->n_ref > c->online_ring ? c->n_ref : c->online_ring;
    if (max_support > 4096)
        return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack runner: max_support = %d is too large (<= 4096)", max_support);
    selsa_mmtrack_runner *r = calloc(1, sizeof *r);
    if (!r) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "mmtrack runner: struct");
    r->m = m;
    r->ctx = ctx;
    r->R = c->rpn.max_per_img;
    r->D = c->fc_dim;
    r->C = c->num_classes;
    r->cap = max_support;
    r->max_rows = (int64_t)(max_support + 1) * r->R;
    r->det_cap = c->rcnn.max_num > 0 ? c->rcnn.max_num : (int64_t)r->R * r->C;
    r->pending_rows = -1;
    /* cache: support K/V (4 × max_rows × D), bookkeeping, result buffers */
    selsa_arena mc;
    selsa_arena_init_measure(&mc, "cache");
    selsa_status s = SELSA_OK;
    for (int pass = 0; pass < 2 && s == SELSA_OK; pass++) {
        selsa_arena *a = pass == 0 ? &mc : &r->cache;
        if (pass == 1 && (s = selsa_arena_init(&r->cache, "mmtrack support cache", mc.peak)) != SELSA_OK) break;
        void *p;
        for (int i = 0; i < 2 && s == SELSA_OK; i++) {
            if ((s = fbuf(a, r->max_rows * r->D, &r->K[i])) != SELSA_OK) break;
            s = fbuf(a, r->max_rows * r->D, &r->V[i]);
        }
        if (s == SELSA_OK) s = selsa_arena_alloc(a, sizeof(int64_t) * (size_t)r->cap, &p);
        if (s == SELSA_OK) r->sup_frame = p;
        if (s == SELSA_OK) s = selsa_arena_alloc(a, sizeof(int64_t) * (size_t)(r->cap + 2), &p);
        if (s == SELSA_OK) r->sup_start = p;
        if (s == SELSA_OK) s = selsa_arena_alloc(a, sizeof(int64_t) * (size_t)(r->cap + 1), &p);
        if (s == SELSA_OK) r->res_support = p;
        if (s == SELSA_OK) s = fbuf(a, (int64_t)r->R * 5, &r->res_props);
        if (s == SELSA_OK) s = fbuf(a, (int64_t)r->R * (r->C + 1), &r->res_cls);
        if (s == SELSA_OK) s = fbuf(a, (int64_t)r->R * 4 * r->C, &r->res_reg);
        if (s == SELSA_OK) s = selsa_arena_alloc(a, sizeof(selsa_detection) * (size_t)r->det_cap, &p);
        if (s == SELSA_OK) r->dets = p;
    }
    if (s != SELSA_OK) {
        selsa_mmtrack_runner_free(r);
        return selsa_error_context(s, "mmtrack runner: support cache for %d frames", max_support);
    }
    r->sup_start[0] = 0;
    *out = r;
    return SELSA_OK;
}

void selsa_mmtrack_runner_free(selsa_mmtrack_runner *r) {
    if (!r) return;
    selsa_arena_free(&r->cache);
    selsa_arena_free(&r->act);
    selsa_arena_free(&r->unc);
    selsa_image_free(&r->resized);
    free(r);
}

void selsa_mmtrack_runner_set_debug(selsa_mmtrack_runner *r, selsa_mmtrack_debug_fn fn, void *user) {
    if (!r) return;
    r->debug = fn;
    r->debug_user = user;
}

const selsa_mmtrack_stats *selsa_mmtrack_runner_stats(const selsa_mmtrack_runner *r) {
    return r ? &r->stats : NULL;
}

void selsa_mmtrack_runner_reset_stats(selsa_mmtrack_runner *r) {
    if (r) memset(&r->stats, 0, sizeof r->stats);
}

size_t selsa_mmtrack_runner_bytes(const selsa_mmtrack_runner *r) {
    if (!r) return 0;
    return r->cache.capacity + r->act.capacity + r->unc.capacity + r->ctx->scratch.capacity +
           r->resized.cap;
}

/* ------------------------------------------------------------------ support set ------------ */

void selsa_mmtrack_support_clear(selsa_mmtrack_runner *r) {
    if (!r) return;
    r->n_sup = 0;
    r->sup_start[0] = 0;
    r->pending_rows = -1;
}

int selsa_mmtrack_support_count(const selsa_mmtrack_runner *r) { return r ? r->n_sup : 0; }

int64_t selsa_mmtrack_support_rows(const selsa_mmtrack_runner *r) {
    return r ? r->sup_start[r->n_sup] : 0;
}

static void rows_ptrs(selsa_mmtrack_runner *r, int64_t row, float *Kd[2], float *Vd[2]) {
    for (int i = 0; i < 2; i++) {
        Kd[i] = r->K[i] + row * r->D;
        Vd[i] = r->V[i] + row * r->D;
    }
}

selsa_status selsa_mmtrack_support_push_ref(selsa_mmtrack_runner *r, int64_t frame,
                                            const selsa_image *img) {
    if (!r) return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack push_ref: NULL runner");
    if (r->n_sup >= r->cap)
        return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack push_ref: support set full (%d frames)", r->cap);
    SELSA_TRY(ensure_reserved(r, img, false));
    r->pending_rows = -1;
    selsa_arena_reset(&r->act);
    selsa_rt_exec ex = {r->ctx, &r->act, false, 0};
    mm_frame_out fo;
    float *feats, *Kd[2], *Vd[2];
    SELSA_TRY(frame_bufs(r, &r->act, &fo, &feats));
    selsa_status s = feat_stage(r, &ex, img, 0, 0, frame, &fo, feats);
    if (s != SELSA_OK) return selsa_error_context(s, "reference frame %lld", (long long)frame);
    int64_t row = r->sup_start[r->n_sup];
    rows_ptrs(r, row, Kd, Vd);
    s = slot_stage(r, &ex, feats, fo.P, frame, fo.x0.data, Kd, Vd);
    if (s != SELSA_OK) return selsa_error_context(s, "reference frame %lld", (long long)frame);
    r->sup_frame[r->n_sup] = frame;
    r->sup_start[r->n_sup + 1] = row + fo.P;
    r->n_sup++;
    r->stats.frames++;
    return SELSA_OK;
}

selsa_status selsa_mmtrack_support_push_copy(selsa_mmtrack_runner *r, int i) {
    if (!r) return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack push_copy: NULL runner");
    if (i < 0 || i >= r->n_sup)
        return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack push_copy: entry %d not in 0..%d", i, r->n_sup - 1);
    if (r->n_sup >= r->cap)
        return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack push_copy: support set full (%d frames)", r->cap);
    r->pending_rows = -1;
    int64_t a = r->sup_start[i], n = r->sup_start[i + 1] - a, dst = r->sup_start[r->n_sup];
    for (int k = 0; k < 2; k++) {
        memcpy(r->K[k] + dst * r->D, r->K[k] + a * r->D, (size_t)(n * r->D) * sizeof(float));
        memcpy(r->V[k] + dst * r->D, r->V[k] + a * r->D, (size_t)(n * r->D) * sizeof(float));
    }
    r->sup_frame[r->n_sup] = r->sup_frame[i];
    r->sup_start[r->n_sup + 1] = dst + n;
    r->n_sup++;
    return SELSA_OK;
}

selsa_status selsa_mmtrack_support_drop_oldest(selsa_mmtrack_runner *r) {
    if (!r) return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack drop_oldest: NULL runner");
    if (r->n_sup == 0) return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack drop_oldest: support set is empty");
    int64_t cut = r->sup_start[1];
    /* rows after the support set (the pending key slot of the last detection) move too */
    int64_t end = r->sup_start[r->n_sup] + (r->pending_rows > 0 ? r->pending_rows : 0);
    for (int k = 0; k < 2; k++) {
        memmove(r->K[k], r->K[k] + cut * r->D, (size_t)((end - cut) * r->D) * sizeof(float));
        memmove(r->V[k], r->V[k] + cut * r->D, (size_t)((end - cut) * r->D) * sizeof(float));
    }
    for (int i = 0; i + 1 < r->n_sup; i++) {
        r->sup_frame[i] = r->sup_frame[i + 1];
        r->sup_start[i + 1] = r->sup_start[i + 2] - cut;
    }
    r->sup_start[0] = 0;
    r->n_sup--;
    return SELSA_OK;
}

selsa_status selsa_mmtrack_support_push_key(selsa_mmtrack_runner *r) {
    if (!r) return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack push_key: NULL runner");
    if (r->pending_rows < 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack push_key: no detection's key slot pending "
                                                  "(call right after selsa_mmtrack_detect)");
    if (r->n_sup >= r->cap)
        return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack push_key: support set full (%d frames); "
                                                  "drop_oldest first", r->cap);
    r->sup_frame[r->n_sup] = r->pending_frame;
    r->sup_start[r->n_sup + 1] = r->sup_start[r->n_sup] + r->pending_rows;
    r->n_sup++;
    r->pending_rows = -1;
    return SELSA_OK;
}

/* ------------------------------------------------------------------ detection -------------- */

static void fill_result(selsa_mmtrack_runner *r, const mm_frame_out *fo, int64_t frame,
                        int64_t n_dets, const int64_t *support, int n_support,
                        selsa_mmtrack_result *res) {
    int64_t P = fo->P;
    memcpy(r->res_props, fo->props.data, (size_t)(P * 5) * sizeof(float));
    r->t_props = selsa_tensor_view(r->res_props, P, 5, 1, 1);
    r->t_cls = selsa_tensor_view(r->res_cls, P, r->C + 1, 1, 1);
    r->t_reg = selsa_tensor_view(r->res_reg, P, 4 * r->C, 1, 1);
    if (support != r->res_support)
        memcpy(r->res_support, support, sizeof(int64_t) * (size_t)n_support);
    if (!res) return;
    memset(res, 0, sizeof *res);
    res->frame = frame;
    res->proposals = &r->t_props;
    res->cls_score = &r->t_cls;
    res->bbox_pred = &r->t_reg;
    res->dets = r->dets;
    res->n_dets = n_dets;
    res->support = r->res_support;
    res->n_support = n_support;
    res->img_h = fo->img_h;
    res->img_w = fo->img_w;
    memcpy(res->scale_factor, fo->scale_factor, sizeof res->scale_factor);
}

selsa_status selsa_mmtrack_detect(selsa_mmtrack_runner *r, int64_t frame, const selsa_image *img,
                                  selsa_mmtrack_result *res) {
    if (!r) return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack detect: NULL runner");
    SELSA_TRY(ensure_reserved(r, img, false));
    r->pending_rows = -1;
    selsa_arena_reset(&r->act);
    selsa_rt_exec ex = {r->ctx, &r->act, false, 0};
    mm_frame_out fo;
    float *feats, *Kd[2], *Vd[2];
    SELSA_TRY(frame_bufs(r, &r->act, &fo, &feats));
    selsa_status s = feat_stage(r, &ex, img, 0, 0, frame, &fo, feats);
    /* the key frame's own reference rows go right after the support rows (appended LAST) */
    int64_t tail = r->sup_start[r->n_sup];
    rows_ptrs(r, tail, Kd, Vd);
    if (s == SELSA_OK) s = slot_stage(r, &ex, feats, fo.P, frame, fo.x0.data, Kd, Vd);
    if (s == SELSA_OK)
        s = key_path(r, &ex, fo.x0.data, fo.P, tail + fo.P, r->max_rows, r->K, r->V, r->res_cls,
                     r->res_reg);
    int64_t nd = 0;
    if (s == SELSA_OK) s = post_stage(r, &ex, &fo, r->res_cls, r->res_reg, &nd);
    if (s != SELSA_OK) return selsa_error_context(s, "frame %lld", (long long)frame);
    fill_result(r, &fo, frame, nd, r->sup_frame, r->n_sup, res);
    r->pending_rows = fo.P;
    r->pending_frame = frame;
    r->stats.frames++;
    r->stats.detections++;
    return SELSA_OK;
}

selsa_status selsa_mmtrack_detect_uncached(selsa_mmtrack_runner *r, const selsa_image *const *imgs,
                                           const int64_t *frames, int T, selsa_mmtrack_result *res) {
    if (!r || !imgs || !frames) return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack detect_uncached: NULL argument");
    if (T < 1 || T > r->cap + 1)
        return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack detect_uncached: T = %d must be in 1..%d", T, r->cap + 1);
    for (int t = 0; t < T; t++) SELSA_TRY(ensure_reserved(r, imgs[t], true));
    selsa_arena_reset(&r->unc);
    mm_unc_bufs u;
    SELSA_TRY(unc_bufs(r, &r->unc, &u));
    const selsa_mmtrack_config *c = &r->m->cfg;
    int64_t fsz = (int64_t)c->neck_channels * c->roi_size * c->roi_size;
    int64_t M = 0;
    mm_frame_out key = {0};
    /* every support frame recomputed from its image: proposals and RoI features (§2.2) */
    for (int t = 0; t < T; t++) {
        selsa_arena_reset(&r->act);
        selsa_rt_exec ex = {r->ctx, &r->act, false, 0};
        mm_frame_out fo = {0};
        fo.props = selsa_tensor_view(u.props + M * 5, r->R, 5, 1, 1);
        fo.rois = selsa_tensor_view(u.rois + M * 5, r->R, 5, 1, 1);
        selsa_status s = feat_stage(r, &ex, imgs[t], 0, 0, frames[t], &fo, u.feats + M * fsz);
        if (s != SELSA_OK) return selsa_error_context(s, "support frame %lld", (long long)frames[t]);
        if (t == T - 1) key = fo;
        M += fo.P;
        r->stats.frames++;
    }
    /* MMTracking: shared_fcs / aggregator projections over all M reference rows at once */
    selsa_rt_exec eu = {r->ctx, &r->unc, false, 0};
    SELSA_TRY(slot_stage(r, &eu, u.feats, M, -1, u.r0, u.K, u.V));
    /* key features: shared_fcs.0 on the key RoIs (the last frame's rows) */
    selsa_arena_reset(&r->act);
    selsa_rt_exec ex = {r->ctx, &r->act, false, 0};
    int64_t P = key.P, kofs = M - P;
    selsa_tensor kf = selsa_tensor_view(u.feats + kofs * fsz, P, c->neck_channels, c->roi_size, c->roi_size);
    selsa_tensor kx = selsa_tensor_view(u.x0, P, r->D, 1, 1);
    SELSA_TRY(selsa_rt_linear_into(&ex, &r->m->fc0, &kf, &kx, SELSA_ACT_NONE));
    SELSA_TRY(key_path(r, &ex, u.x0, P, M, r->max_rows, u.K, u.V, r->res_cls, r->res_reg));
    int64_t nd = 0;
    SELSA_TRY(post_stage(r, &ex, &key, r->res_cls, r->res_reg, &nd));
    fill_result(r, &key, frames[T - 1], nd, frames, T - 1, res);
    r->pending_rows = -1;
    r->stats.detections++;
    return SELSA_OK;
}
