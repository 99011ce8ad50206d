/* selsa synth: generate a synthetic ImageNet-VID-layout dataset (docs/DATASETS.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "selsa/synth.h"

static void usage(const selsa_synth_config *d) {
    printf("usage: selsa synth --out DIR [options]\n\n"
           "Writes a deterministic synthetic video dataset in the ILSVRC2015 layout (Data/VID,\n"
           "Annotations/VID, Data/DET, Annotations/DET, ImageSets with the three official lists):\n"
           "textured object classes on cluttered moving backgrounds, slow/medium/fast motion and\n"
           "per-frame degradations (blur, occlusion, defocus, near-invisible frames).\n\n"
           "options (defaults in brackets):\n"
           "  --out DIR            output root (created if missing)\n"
           "  --seed N             master seed [%llu]\n"
           "  --size WxH           frame size [%dx%d]\n"
           "  --train-videos N     [%d]      --val-videos N   [%d]\n"
           "  --frames MIN:MAX     frames per video [%d:%d]\n"
           "  --classes K          the first K of the 30 VID classes [%d]\n"
           "  --det-images N       still images under Data/DET [%d]\n"
           "  --objects MIN:MAX    tracks per video [%d:%d]\n"
           "  --degrade X          degradation rate multiplier, 0 = clean [%g]\n"
           "  --contact-sheet PNG  also write a grid of sample val frames with boxes drawn\n\n"
           "exit codes: 0 ok, 2 usage, 3 output not writable\n",
           (unsigned long long)d->seed, d->width, d->height, d->n_train_videos, d->n_val_videos,
           d->min_frames, d->max_frames, d->n_classes, d->n_det_images, d->min_objects,
           d->max_objects, (double)d->degrade);
}

static int parse_pair(const char *s, char sep, int *a, int *b) {
    char *end;
    long x = strtol(s, &end, 10);
    if (*end != sep) return 0;
    long y = strtol(end + 1, &end, 10);
    if (*end) return 0;
    *a = (int)x, *b = (int)y;
    return 1;
}

int selsa_cmd_synth(int argc, char **argv) {
    selsa_synth_config cfg = selsa_synth_config_default();
    if (selsa_cli_wants_help(argc, argv)) {
        usage(&cfg);
        return SELSA_EXIT_OK;
    }
    const char *sheet = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) return selsa_cli_usage_error("synth", "'%s' needs a value", a);
        const char *v = argv[++i];
        char *end = NULL;
        int ok = 1;
        if (!strcmp(a, "--out")) cfg.root = v;
        else if (!strcmp(a, "--seed")) cfg.seed = strtoull(v, &end, 10), ok = *end == 0;
        else if (!strcmp(a, "--size")) ok = parse_pair(v, 'x', &cfg.width, &cfg.height);
        else if (!strcmp(a, "--train-videos")) cfg.n_train_videos = (int)strtol(v, &end, 10), ok = *end == 0;
        else if (!strcmp(a, "--val-videos")) cfg.n_val_videos = (int)strtol(v, &end, 10), ok = *end == 0;
        else if (!strcmp(a, "--frames")) ok = parse_pair(v, ':', &cfg.min_frames, &cfg.max_frames);
        else if (!strcmp(a, "--classes")) cfg.n_classes = (int)strtol(v, &end, 10), ok = *end == 0;
        else if (!strcmp(a, "--det-images")) cfg.n_det_images = (int)strtol(v, &end, 10), ok = *end == 0;
        else if (!strcmp(a, "--objects")) ok = parse_pair(v, ':', &cfg.min_objects, &cfg.max_objects);
        else if (!strcmp(a, "--degrade")) cfg.degrade = strtof(v, &end), ok = *end == 0;
        else if (!strcmp(a, "--contact-sheet")) sheet = v;
        else return selsa_cli_usage_error("synth", "unknown option '%s'", a);
        if (!ok) return selsa_cli_usage_error("synth", "bad value '%s' for %s", v, a);
    }
    if (!cfg.root) return selsa_cli_usage_error("synth", "missing --out DIR");
    selsa_status s = selsa_synth_config_check(&cfg);
    if (s != SELSA_OK) return selsa_cli_fail("synth", s, SELSA_EXIT_USAGE);
    selsa_synth_stats stats;
    s = selsa_synth_generate(&cfg, &stats);
    if (s == SELSA_OK && sheet) s = selsa_synth_contact_sheet(&cfg, sheet, 3, 4, 1);
    if (s != SELSA_OK) return selsa_cli_fail("synth", s, SELSA_EXIT_INPUT);
    int need = selsa_synth_stats_format(&stats, NULL, 0) + 1;
    char *text = malloc((size_t)need);
    if (text) {
        selsa_synth_stats_format(&stats, text, need);
        fputs(text, stdout);
        free(text);
    }
    printf("dataset written to %s\n", cfg.root);
    return SELSA_EXIT_OK;
}
