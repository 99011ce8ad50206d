/* selsa init-weights: write freshly initialised weights of a model preset as a .params file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "selsa/model_official.h"

static void usage(void) {
    printf("usage: selsa init-weights --preset NAME --out FILE.params [--seed N]\n\n"
           "Writes initial (untrained) weights in the official MXNet .params layout: new layers\n"
           "N(0, 0.01) with zero biases as the official code initialises them, the backbone\n"
           "He-normal with identity batch-norm (as when no ImageNet model is available).\n"
           "Presets: r101, r50, tiny, and the single-frame baselines r101-baseline, r50-baseline,\n"
           "tiny-baseline.\n\n"
           "exit codes: 0 ok, 2 usage, 3 output not writable\n");
}


int selsa_cmd_init_weights(int argc, char **argv) {
    if (selsa_cli_wants_help(argc, argv)) {
        usage();
        return SELSA_EXIT_OK;
    }
    const char *preset = NULL, *out = NULL;
    unsigned long long seed = 0;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) return selsa_cli_usage_error("init-weights", "'%s' needs a value", argv[i]);
        const char *a = argv[i], *v = argv[++i];
        char *end;
        if (!strcmp(a, "--preset")) preset = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--seed")) {
            seed = strtoull(v, &end, 10);
            if (*end) return selsa_cli_usage_error("init-weights", "bad --seed '%s'", v);
        } else return selsa_cli_usage_error("init-weights", "unknown option '%s'", a);
    }
    if (!preset) return selsa_cli_usage_error("init-weights", "missing --preset NAME");
    if (!out) return selsa_cli_usage_error("init-weights", "missing --out FILE");
    selsa_official_config cfg;
    if (!selsa_cli_official_preset(preset, &cfg))
        return selsa_cli_usage_error("init-weights", "unknown --preset '%s'", preset);
    selsa_weights w;
    selsa_weights_init(&w);
    selsa_status s = selsa_official_init_weights(&cfg, seed, &w);
    if (s == SELSA_OK) s = selsa_weights_save_params(out, &w);
    int rc = s == SELSA_OK ? SELSA_EXIT_OK : selsa_cli_fail("init-weights", s, SELSA_EXIT_INPUT);
    if (s == SELSA_OK) printf("wrote %lld tensors to %s\n", (long long)w.count, out);
    selsa_weights_free(&w);
    return rc;
}
