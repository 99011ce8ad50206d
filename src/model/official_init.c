/* Initial weights for the official SELSA model (official-selsa.md §6.2): the new layers get
 * Gaussian N(0, 0.01) weights and zero biases, as the official init_weight_* functions do. The
 * backbone normally comes from the ImageNet model (resnet_v1_101-0000.params); without one, conv
 * weights get He-normal N(0, 2/fan_in) and every frozen BN is the identity (gamma 1, beta 0,
 * mean 0, var 1) except bn_conv1, whose moving_var is 64² so conv1's output is divided by 64:
 * the network's input is raw 0–255 pixels minus the mean (std ≈ 60), and a pretrained model's
 * BN statistics bring activations to O(1) in the same way. He-normal preserves that scale
 * through the ReLUs, so the heads' N(0, 0.01) init sees O(1) features and training from scratch
 * starts stable (with identity BN everywhere the features are ~60× larger and the first
 * updates diverge). A model can thus be built, run and trained from scratch without any file. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "selsa/model_official.h"

#define INPUT_SCALE 64.0 /* ≈ std of mean-subtracted 8-bit pixels (see above) */

typedef struct init_state {
    selsa_weights *w;
    selsa_rng *rng;
    selsa_status status;
} init_state;

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* Layers that are new in the detector (everything not in the ImageNet backbone). */
static int is_new_layer(const char *name) {
    static const char *prefixes[] = {"rpn_", "conv_new_", "fc_new_", "cls_score", "bbox_pred",
                                     "query_", "key_", "linear_out_"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (!strncmp(name, prefixes[i], strlen(prefixes[i]))) return 1;
    return 0;
}

static void init_one(void *user, const char *name, selsa_weight_kind kind, int ndim, const int64_t *dims) {
    init_state *st = user;
    if (st->status != SELSA_OK) return;
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) numel *= dims[d];
    float *v = malloc(sizeof(float) * (size_t)(numel > 0 ? numel : 1));
    if (!v) {
        st->status = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "init weights: out of memory at %s", name);
        return;
    }
    double fan_in = numel / (double)(dims[0] > 0 ? dims[0] : 1);
    for (int64_t i = 0; i < numel; i++) {
        double x;
        if (!strcmp(name, "bn_conv1_moving_var")) x = INPUT_SCALE * INPUT_SCALE;
        else if (ends_with(name, "_moving_var") || ends_with(name, "_gamma")) x = 1.0;
        else if (ends_with(name, "_moving_mean") || ends_with(name, "_beta") || ends_with(name, "_bias")) x = 0.0;
        else if (is_new_layer(name)) x = 0.01 * selsa_rng_normal(st->rng);
        else x = sqrt(2.0 / fan_in) * selsa_rng_normal(st->rng);
        v[i] = (float)x;
    }
    char full[256];
    snprintf(full, sizeof full, "%s%s", kind == SELSA_WEIGHT_AUX ? "aux:" : "arg:", name);
    st->status = selsa_weights_add(st->w, full, ndim, dims, v, SELSA_DTYPE_F32);
    free(v);
}

selsa_status selsa_official_init_weights(const selsa_official_config *cfg, uint64_t seed, selsa_weights *w) {
    if (!cfg || !w) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_official_init_weights: NULL argument");
    SELSA_TRY(selsa_official_config_validate(cfg));
    selsa_rng rng;
    selsa_rng_seed(&rng, seed, 0x1417);
    init_state st = {w, &rng, SELSA_OK};
    selsa_official_enum_params(cfg, init_one, &st);
    return st.status;
}
