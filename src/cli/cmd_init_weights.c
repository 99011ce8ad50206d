/* selsa init-weights: write freshly initialised weights of a model preset, optionally with the
 * backbone taken from an ImageNet-pretrained model: the official family as an MXNet .params file
 * (selsa_official_init_weights / selsa_train_initial_weights), the MMTracking family as a PyTorch
 * .pth state dict (zip layout, selsa_mmtrack_init_weights). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "selsa/fileio.h"
#include "selsa/config.h"
#include "selsa/model_mmtrack.h"
#include "selsa/model_official.h"
#include "selsa/train_run.h"
#include "selsa/weights.h"
#include "selsa/weights_pth.h"

static void usage(void) {
    printf("usage: selsa init-weights --preset NAME --out FILE [--seed N] [--pretrained FILE]\n\n"
           "Writes initial (untrained) weights for a model preset.\n\n"
           "Official presets (r101, r50, tiny, and the single-frame baselines r101-baseline,\n"
           "r50-baseline, tiny-baseline) are written in the official MXNet .params layout: new layers\n"
           "N(0, 0.01) with zero biases as the official code initialises them; the backbone He-normal\n"
           "with identity batch-norm (bn_conv1 scaled for raw pixels), or, with --pretrained, every\n"
           "tensor of an ImageNet model in the resnet_v1 .params layout (resnet_v1_101-0000.params;\n"
           "a PREFIX that is not a file means PREFIX-0000.params) whose name the detector uses.\n\n"
           "MMTracking presets (mmtrack-r50, mmtrack-r101, mmtrack-x101, mmtrack-tiny, mmtrack-tiny-x)\n"
           "are written as a PyTorch .pth state dict (torch.save zip layout, keys detector.backbone...,\n"
           "detector.neck..., detector.rpn_head..., detector.roi_head...) as mmdet/mmcv initialise a\n"
           "new model: ChannelMapper and shared_fcs Xavier-uniform, RPN convs N(0, 0.01), fc_cls\n"
           "N(0, 0.01), fc_reg N(0, 0.001), zero biases, aggregator linears PyTorch's nn.Linear default;\n"
           "the backbone Kaiming-normal (fan_out, relu) with identity batch-norm, or, with --pretrained,\n"
           "copied from a torchvision-style ImageNet ResNet/ResNeXt state dict (.pth: conv1.weight,\n"
           "bn1.*, layer1.0.downsample.0.weight, ...; keys may carry a 'backbone.' or 'module.' prefix\n"
           "or sit inside 'state_dict'), e.g. torchvision's resnet50 file for mmtrack-r50. Shapes are\n"
           "checked; tensors it does not use (fc.*) are listed in a warning.\n\n"
           "--seed N (default 0) makes the random layers reproducible.\n\n"
           "exit codes: 0 ok, 2 usage, 3 output not writable, 4 unreadable or mismatched --pretrained\n");
}

/* The --pretrained file must be of the family's format (checked before the long load). */
static int check_pretrained_format(const char *path, int mmtrack) {
    selsa_weights_format fmt;
    selsa_status s = selsa_weights_detect(path, &fmt);
    if (s != SELSA_OK) return selsa_cli_fail("init-weights", s, SELSA_EXIT_MODEL);
    int pth = fmt == SELSA_WEIGHTS_PTH_ZIP || fmt == SELSA_WEIGHTS_PTH_LEGACY;
    if (mmtrack && !pth)
        return selsa_cli_fail("init-weights",
                              selsa_error(SELSA_ERR_FORMAT, "--pretrained '%s' is %s, not a PyTorch .pth file: the "
                                                            "MMTracking presets take a torchvision-style ImageNet "
                                                            "state dict",
                                          path, selsa_weights_format_name(fmt)),
                              SELSA_EXIT_MODEL);
    if (!mmtrack && fmt != SELSA_WEIGHTS_MXNET_PARAMS)
        return selsa_cli_fail("init-weights",
                              selsa_error(SELSA_ERR_FORMAT, "--pretrained '%s' is %s, not an MXNet .params file: the "
                                                            "official presets take the resnet_v1 ImageNet model "
                                                            "(e.g. resnet_v1_101-0000.params)",
                                          path, selsa_weights_format_name(fmt)),
                              SELSA_EXIT_MODEL);
    return SELSA_EXIT_OK;
}

static int init_mmtrack(const char *preset, const char *out, uint64_t seed, const char *pretrained) {
    selsa_mmtrack_config mc;
    if (selsa_mmtrack_config_preset(&mc, preset + strlen("mmtrack-")) != SELSA_OK)
        return selsa_cli_usage_error("init-weights", "unknown --preset '%s' (MMTracking presets: mmtrack-r50, "
                                                     "mmtrack-r101, mmtrack-x101, mmtrack-tiny, mmtrack-tiny-x)",
                                     preset);
    selsa_weights in, w;
    selsa_weights_init(&in);
    selsa_weights_init(&w);
    if (pretrained) {
        int rc = check_pretrained_format(pretrained, 1);
        if (rc != SELSA_EXIT_OK) return rc;
        selsa_status s = selsa_weights_load(pretrained, &in);
        if (s != SELSA_OK)
            return selsa_cli_fail("init-weights", selsa_error_context(s, "--pretrained '%s'", pretrained),
                                  SELSA_EXIT_MODEL);
    }
    selsa_status s = selsa_mmtrack_init_weights(&mc, seed, pretrained ? &in : NULL, &w);
    selsa_weights_free(&in);
    if (s != SELSA_OK) {
        if (pretrained) s = selsa_error_context(s, "--pretrained '%s'", pretrained);
        return selsa_cli_fail("init-weights", s, SELSA_EXIT_MODEL);
    }
    s = selsa_weights_save_pth(out, &w, NULL);
    int rc = s == SELSA_OK ? SELSA_EXIT_OK : selsa_cli_fail("init-weights", s, SELSA_EXIT_INPUT);
    if (s == SELSA_OK)
        printf("wrote %lld tensors (PyTorch .pth state dict, MMTracking %s) to %s\n", (long long)w.count,
               preset + strlen("mmtrack-"), out);
    selsa_weights_free(&w);
    return rc;
}

static int init_official(const char *preset, const char *out, uint64_t seed, const char *pretrained) {
    selsa_official_config cfg;
    if (!selsa_cli_official_preset(preset, &cfg))
        return selsa_cli_usage_error("init-weights", "unknown --preset '%s' (official: r101, r50, tiny, and *-baseline; "
                                                     "MMTracking: mmtrack-r50, mmtrack-r101, mmtrack-x101, "
                                                     "mmtrack-tiny, mmtrack-tiny-x)",
                                     preset);
    selsa_weights w;
    selsa_weights_init(&w);
    selsa_status s;
    if (pretrained) {
        if (strlen(pretrained) >= SELSA_CONFIG_PATH_MAX)
            return selsa_cli_usage_error("init-weights", "--pretrained path too long");
        if (selsa_file_exists(pretrained)) {
            int rc = check_pretrained_format(pretrained, 0);
            if (rc != SELSA_EXIT_OK) return rc;
        }
        /* the training run's initialiser: selsa_official_init_weights(seed) overlaid with the
         * ImageNet model's tensors (a path, or PREFIX -> PREFIX-0000.params) */
        selsa_config *yc = malloc(sizeof *yc); /* large: keep it off the stack */
        if (!yc) return selsa_cli_fail("init-weights", selsa_error(SELSA_ERR_OUT_OF_MEMORY, "configuration"),
                                       SELSA_EXIT_INTERNAL);
        selsa_config_default(yc);
        yc->seed = seed;
        snprintf(yc->network.pretrained, sizeof yc->network.pretrained, "%s", pretrained);
        yc->network.pretrained_epoch = 0;
        s = selsa_train_initial_weights(yc, &cfg, &w);
        free(yc);
        if (s != SELSA_OK) {
            selsa_weights_free(&w);
            return selsa_cli_fail("init-weights", s, SELSA_EXIT_MODEL);
        }
    } else {
        s = selsa_official_init_weights(&cfg, seed, &w);
        if (s != SELSA_OK) {
            selsa_weights_free(&w);
            return selsa_cli_fail("init-weights", s, SELSA_EXIT_INTERNAL);
        }
    }
    s = selsa_weights_save_params(out, &w);
    int rc = s == SELSA_OK ? SELSA_EXIT_OK : selsa_cli_fail("init-weights", s, SELSA_EXIT_INPUT);
    if (s == SELSA_OK) printf("wrote %lld tensors (MXNet .params, official %s) to %s\n", (long long)w.count, preset, out);
    selsa_weights_free(&w);
    return rc;
}

int selsa_cmd_init_weights(int argc, char **argv) {
    if (selsa_cli_wants_help(argc, argv)) {
        usage();
        return SELSA_EXIT_OK;
    }
    const char *preset = NULL, *out = NULL, *pretrained = NULL;
    unsigned long long seed = 0;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) return selsa_cli_usage_error("init-weights", "'%s' needs a value", argv[i]);
        const char *a = argv[i], *v = argv[++i];
        char *end;
        if (!strcmp(a, "--preset")) preset = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--pretrained")) pretrained = v;
        else if (!strcmp(a, "--seed")) {
            seed = strtoull(v, &end, 10);
            if (!*v || *end) return selsa_cli_usage_error("init-weights", "bad --seed '%s'", v);
        } else return selsa_cli_usage_error("init-weights", "unknown option '%s'", a);
    }
    if (!preset) return selsa_cli_usage_error("init-weights", "missing --preset NAME");
    if (!out) return selsa_cli_usage_error("init-weights", "missing --out FILE");
    if (pretrained && !pretrained[0]) return selsa_cli_usage_error("init-weights", "empty --pretrained");
    selsa_cli_install_logger(0);
    if (!strncmp(preset, "mmtrack-", 8)) return init_mmtrack(preset, out, seed, pretrained);
    return init_official(preset, out, seed, pretrained);
}
