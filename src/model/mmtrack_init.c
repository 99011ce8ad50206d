/* Initial weights for the MMTracking SELSA model (model_mmtrack.h): every tensor of the state
 * dict (selsa_mmtrack_enum_params, exact "detector.*" keys, PLAIN kind), initialised as
 * mmdet 2.x / mmcv 1.x / mmtracking 0.14 initialise a freshly built model (model.init_weights())
 * for the configs of mmtracking-selsa.md §1.1, with the backbone optionally taken from a
 * torchvision-style ImageNet state dict (the config's `init_cfg=Pretrained('torchvision://
 * resnet50')`, which mmcv's load_checkpoint maps 1:1 onto the mmdet ResNet module names).
 *
 * The spec (§1.1) names the pretrained backbone but not the initialisers of the new layers; the
 * rules below are the mmdet/mmcv defaults of each layer type (init_cfg of the class):
 *   backbone, no ImageNet model (mmdet ResNet, pretrained=None, init_cfg=None):
 *       Conv2d       Kaiming normal, mode fan_out, relu: N(0, 2 / (C_out·kh·kw)) (no bias);
 *       BatchNorm    Constant 1: weight 1, bias 0; buffers mean 0, var 1, num_batches_tracked 0.
 *       (mmdet additionally zeroes norm3.weight of every Bottleneck, zero_init_residual=True; we
 *       keep weight 1 there, as the brief of this module asks, because with frozen_stages=1 a
 *       zero gamma would freeze layer1's residual branches at zero for a whole from-scratch run.)
 *   neck ChannelMapper (init_cfg Xavier, layer Conv2d, distribution uniform):
 *       weight U(±sqrt(6 / (fan_in + fan_out))), fan_in = C_in·k², fan_out = C_out·k²; bias 0;
 *   RPNHead (init_cfg Normal, layer Conv2d, std 0.01): rpn_conv, rpn_cls, rpn_reg weights
 *       N(0, 0.01²), biases 0;
 *   SelsaBBoxHead = ConvFCBBoxHead defaults: fc_cls N(0, 0.01²), fc_reg N(0, 0.001²), biases 0;
 *       shared_fcs Xavier uniform U(±sqrt(6 / (in + out))), biases 0;
 *   SelsaAggregator (BaseModule, init_cfg None: the nn.Linear defaults of PyTorch stay):
 *       weight kaiming_uniform(a = sqrt 5) = U(±1/sqrt(in)), bias U(±1/sqrt(in)).
 *
 * Randomness: each tensor draws from its own selsa_rng stream (seed, FNV-1a hash of its key), so
 * a tensor's values depend only on (seed, key, shape): the heads are the same with or without an
 * ImageNet backbone, and the result does not depend on the enumeration order.
 *
 * ImageNet mapping: "detector.backbone.<k>" <- "<P><k>", P the first of "", "backbone.",
 * "module.", "module.backbone.", "detector.backbone." that matches the most backbone keys
 * (the .pth reader has already unwrapped {"state_dict": ...}). Shapes must agree exactly
 * (SELSA_ERR_SHAPE naming the tensor and both shapes); a missing tensor is SELSA_ERR_FORMAT
 * naming it, except num_batches_tracked (absent from the older torchvision files, e.g.
 * resnet50-19c8e357.pth): 0 then. A stem/layerN tensor the model lacks (a ResNet-101 file for
 * the R50 preset) is SELSA_ERR_FORMAT naming it; the other unused tensors (fc.*) are listed in
 * one warning. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "selsa/model_mmtrack.h"
#include "selsa/rng.h"

#define BACKBONE "detector.backbone."

typedef struct entry {
    char name[160];
    int ndim;
    int64_t dims[4];
    int64_t numel;
} entry;

typedef struct entry_list {
    entry *v;
    int64_t n, cap;
    bool oom;
} entry_list;

static void collect(void *user, const char *name, int ndim, const int64_t *dims) {
    entry_list *L = user;
    if (L->oom) return;
    if (L->n == L->cap) {
        int64_t cap = L->cap ? 2 * L->cap : 512;
        entry *v = realloc(L->v, (size_t)cap * sizeof *v);
        if (!v) {
            L->oom = true;
            return;
        }
        L->v = v;
        L->cap = cap;
    }
    entry *e = &L->v[L->n++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->ndim = ndim;
    e->numel = 1;
    for (int i = 0; i < 4; i++) e->dims[i] = i < ndim ? dims[i] : 0;
    for (int i = 0; i < ndim; i++) e->numel *= dims[i];
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static bool starts_with(const char *s, const char *prefix) { return !strncmp(s, prefix, strlen(prefix)); }

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    return h;
}

/* How a tensor is initialised. */
typedef enum rule_kind {
    R_CONST,   /* every value = a */
    R_NORMAL,  /* N(0, a²) */
    R_UNIFORM  /* U(−a, a) */
} rule_kind;

typedef struct rule {
    rule_kind kind;
    double a;
} rule;

/* The backbone BN tensors: "...bnK.<field>" and "...downsample.1.<field>". */
static bool is_backbone_bn(const char *name) {
    return strstr(name, ".bn") != NULL || strstr(name, ".downsample.1.") != NULL;
}

static selsa_status rule_for(const selsa_mmtrack_config *cfg, const entry *e, rule *r) {
    const char *n = e->name;
    const int64_t *d = e->dims;
    if (starts_with(n, BACKBONE)) {
        if (ends_with(n, ".num_batches_tracked") || ends_with(n, ".running_mean") ||
            (is_backbone_bn(n) && ends_with(n, ".bias"))) {
            *r = (rule){R_CONST, 0.0};
        } else if (ends_with(n, ".running_var") || (is_backbone_bn(n) && ends_with(n, ".weight"))) {
            *r = (rule){R_CONST, 1.0};
        } else if (e->ndim == 4 && ends_with(n, ".weight")) {
            /* mmcv KaimingInit defaults: a 0, mode fan_out, relu, normal; torch fan_out of a
             * (grouped) conv weight [C_out, C_in/g, kh, kw] = C_out·kh·kw */
            *r = (rule){R_NORMAL, sqrt(2.0 / (double)(d[0] * d[2] * d[3]))};
        } else {
            return selsa_error(SELSA_ERR_INTERNAL, "mmtrack init: no rule for backbone tensor %s", n);
        }
        return SELSA_OK;
    }
    if (starts_with(n, "detector.neck.")) {
        if (ends_with(n, ".bias")) *r = (rule){R_CONST, 0.0};
        else *r = (rule){R_UNIFORM, sqrt(6.0 / (double)((d[0] + d[1]) * d[2] * d[3]))};
        return SELSA_OK;
    }
    if (starts_with(n, "detector.rpn_head.")) {
        if (ends_with(n, ".bias")) *r = (rule){R_CONST, 0.0};
        else *r = (rule){R_NORMAL, 0.01};
        return SELSA_OK;
    }
    const char *H = "detector.roi_head.bbox_head.";
    if (starts_with(n, H)) {
        const char *k = n + strlen(H);
        bool bias = ends_with(k, ".bias");
        if (starts_with(k, "aggregator.")) {
            /* nn.Linear.reset_parameters: weight kaiming_uniform_(a=√5) → bound 1/√fan_in,
             * bias U(±1/√fan_in); every aggregator linear is fc_dim → fc_dim */
            *r = (rule){R_UNIFORM, 1.0 / sqrt((double)cfg->fc_dim)};
        } else if (bias) {
            *r = (rule){R_CONST, 0.0};
        } else if (starts_with(k, "fc_cls.")) {
            *r = (rule){R_NORMAL, 0.01};
        } else if (starts_with(k, "fc_reg.")) {
            *r = (rule){R_NORMAL, 0.001};
        } else if (starts_with(k, "shared_fcs.")) {
            *r = (rule){R_UNIFORM, sqrt(6.0 / (double)(d[0] + d[1]))};
        } else {
            return selsa_error(SELSA_ERR_INTERNAL, "mmtrack init: no rule for bbox-head tensor %s", n);
        }
        return SELSA_OK;
    }
    return selsa_error(SELSA_ERR_INTERNAL, "mmtrack init: no rule for tensor %s", n);
}

static void fill(float *v, const entry *e, rule r, uint64_t seed) {
    if (r.kind == R_CONST) {
        for (int64_t i = 0; i < e->numel; i++) v[i] = (float)r.a;
        return;
    }
    selsa_rng rng;
    selsa_rng_seed(&rng, seed, fnv1a(e->name));
    if (r.kind == R_NORMAL) {
        for (int64_t i = 0; i < e->numel; i++) v[i] = (float)(r.a * selsa_rng_normal(&rng));
    } else {
        for (int64_t i = 0; i < e->numel; i++) {
            float x = (float)(r.a * (2.0 * selsa_rng_uniform(&rng) - 1.0));
            /* keep the float32 value inside the closed interval after rounding */
            if (x > (float)r.a) x = (float)r.a;
            if (x < -(float)r.a) x = -(float)r.a;
            v[i] = x;
        }
    }
}

static const char *const PREFIXES[] = {"", "backbone.", "module.", "module.backbone.", BACKBONE};
enum { N_PREFIXES = sizeof PREFIXES / sizeof PREFIXES[0] };

static const selsa_weight *find_src(const selsa_weights *w, const char *prefix, const char *key) {
    char k[256];
    snprintf(k, sizeof k, "%s%s", prefix, key);
    return selsa_weights_find(w, k);
}

/* The key prefix of the ImageNet dict matching the most backbone keys (ties: earlier). */
static int pick_prefix(const selsa_weights *w, const entry_list *L) {
    int best = -1;
    int64_t best_n = 0;
    for (int p = 0; p < N_PREFIXES; p++) {
        int64_t n = 0;
        for (int64_t i = 0; i < L->n; i++)
            if (starts_with(L->v[i].name, BACKBONE) && find_src(w, PREFIXES[p], L->v[i].name + strlen(BACKBONE)))
                n++;
        if (n > best_n) {
            best_n = n;
            best = p;
        }
    }
    return best;
}

static void shape_str(int ndim, const int64_t *dims, char *buf, size_t size) {
    size_t o = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, "%s%lld", i ? ", " : "", (long long)dims[i]);
    if (o < size) snprintf(buf + o, size - o, "]");
}

/* Copy the ImageNet tensor for backbone entry e into v (shape-checked); *found = false for an
 * absent num_batches_tracked. */
static selsa_status copy_src(const selsa_weights *w, const char *prefix, const entry *e, float *v,
                             bool *used, bool *found) {
    const char *key = e->name + strlen(BACKBONE);
    const selsa_weight *s = find_src(w, prefix, key);
    bool nbt = ends_with(e->name, ".num_batches_tracked");
    *found = s != NULL;
    if (!s) {
        if (nbt) return SELSA_OK;
        return selsa_error(SELSA_ERR_FORMAT,
                           "ImageNet model: tensor '%s%s' (for %s) is missing; a torchvision-style "
                           "ResNet/ResNeXt state dict of the preset's depth and widths is needed",
                           prefix, key, e->name);
    }
    bool same = nbt ? s->numel == 1 : s->ndim == e->ndim;
    for (int i = 0; same && !nbt && i < e->ndim; i++) same = s->dims[i] == e->dims[i];
    if (!same) {
        char a[128], b[128];
        shape_str(s->ndim, s->dims, a, sizeof a);
        shape_str(e->ndim, e->dims, b, sizeof b);
        return selsa_error(SELSA_ERR_SHAPE, "ImageNet model: tensor '%s%s' has shape %s, the model's %s needs %s",
                           prefix, key, a, e->name, b);
    }
    if (e->numel > 0) memcpy(v, s->data, (size_t)e->numel * sizeof(float));
    used[s - w->items] = true;
    return SELSA_OK;
}

/* A backbone-looking tensor the model does not have (stem or layerN.* under the chosen prefix)
 * means another architecture (e.g. a ResNet-101 file for the R50 preset): SELSA_ERR_FORMAT
 * naming it, rather than a silently truncated backbone. */
static selsa_status check_extra_backbone(const selsa_weights *w, const char *prefix, const bool *used) {
    size_t pl = strlen(prefix);
    for (int64_t i = 0; i < w->count; i++) {
        const char *n = w->items[i].name;
        if (used[i] || strncmp(n, prefix, pl) != 0) continue;
        const char *k = n + pl;
        bool bb = starts_with(k, "conv1.") || starts_with(k, "bn1.") ||
                  (starts_with(k, "layer") && k[5] >= '1' && k[5] <= '4' && k[6] == '.');
        if (bb)
            return selsa_error(SELSA_ERR_FORMAT,
                               "ImageNet model: tensor '%s' is not part of this backbone (a deeper or different "
                               "architecture than the preset's?)",
                               n);
    }
    return SELSA_OK;
}

/* One warning listing the ImageNet tensors that were not used (selsa_weights_warn_unused's
 * format; the dict is const here, so the used flags are kept aside). */
static void warn_unused(const selsa_weights *w, const bool *used) {
    int64_t n = 0;
    for (int64_t i = 0; i < w->count; i++) n += !used[i];
    if (n == 0) return;
    char msg[2048];
    size_t o = (size_t)snprintf(msg, sizeof msg, "ImageNet model: %lld unused tensor%s in the weight file:",
                                (long long)n, n == 1 ? "" : "s");
    int64_t shown = 0;
    for (int64_t i = 0; i < w->count && shown < 20 && o < sizeof msg; i++) {
        if (used[i]) continue;
        o += (size_t)snprintf(msg + o, sizeof msg - o, " %s", w->items[i].name);
        shown++;
    }
    if (shown < n && o < sizeof msg) snprintf(msg + o, sizeof msg - o, " ... (%lld more)", (long long)(n - shown));
    selsa_log(SELSA_LOG_WARN, "%s", msg);
}

selsa_status selsa_mmtrack_init_weights(const selsa_mmtrack_config *cfg, uint64_t seed,
                                        const selsa_weights *imagenet, selsa_weights *out) {
    if (!cfg || !out) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_mmtrack_init_weights: NULL argument");
    if (out->count != 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_mmtrack_init_weights: the output dictionary must be empty "
                                                  "(it has %lld tensors)", (long long)out->count);
    SELSA_TRY(selsa_mmtrack_config_validate(cfg));
    entry_list L = {0};
    selsa_mmtrack_enum_params(cfg, collect, &L);
    if (L.oom) {
        free(L.v);
        return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "mmtrack init: parameter list");
    }
    int64_t max_numel = 1;
    for (int64_t i = 0; i < L.n; i++) max_numel = L.v[i].numel > max_numel ? L.v[i].numel : max_numel;
    float *buf = malloc((size_t)max_numel * sizeof(float));
    bool *used = imagenet ? calloc((size_t)(imagenet->count > 0 ? imagenet->count : 1), sizeof(bool)) : NULL;
    selsa_status s = SELSA_OK;
    if (!buf || (imagenet && !used)) s = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "mmtrack init: %lld-value buffer", (long long)max_numel);
    int prefix = -1;
    if (s == SELSA_OK && imagenet) {
        prefix = pick_prefix(imagenet, &L);
        if (prefix < 0)
            s = selsa_error(SELSA_ERR_FORMAT,
                            "ImageNet model: tensor 'conv1.weight' is missing and no backbone tensor was found (also "
                            "tried the prefixes 'backbone.', 'module.', 'module.backbone.', '" BACKBONE "'): give a "
                            "torchvision-style ResNet/ResNeXt state dict (%lld tensors given)",
                            (long long)imagenet->count);
    }
    int64_t copied = 0;
    for (int64_t i = 0; i < L.n && s == SELSA_OK; i++) {
        const entry *e = &L.v[i];
        bool found = false;
        if (imagenet && starts_with(e->name, BACKBONE)) s = copy_src(imagenet, PREFIXES[prefix], e, buf, used, &found);
        if (s != SELSA_OK) break;
        if (found) {
            copied++;
        } else {
            rule r = {R_CONST, 0.0};
            s = rule_for(cfg, e, &r);
            if (s != SELSA_OK) break;
            fill(buf, e, r, seed);
        }
        bool nbt = ends_with(e->name, ".num_batches_tracked");
        s = selsa_weights_add(out, e->name, e->ndim, e->dims, buf, nbt ? SELSA_DTYPE_I64 : SELSA_DTYPE_F32);
    }
    if (s == SELSA_OK && imagenet) s = check_extra_backbone(imagenet, PREFIXES[prefix], used);
    if (s == SELSA_OK && imagenet) {
        selsa_log(SELSA_LOG_INFO,
                  "initialised %lld backbone tensors from the ImageNet model (key prefix '%s'); the neck and "
                  "heads as mmdet initialises them",
                  (long long)copied, PREFIXES[prefix]);
        warn_unused(imagenet, used);
    }
    if (s != SELSA_OK) selsa_weights_free(out);
    free(buf);
    free(used);
    free(L.v);
    return s;
}
