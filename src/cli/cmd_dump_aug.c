/* selsa dump-aug: write a PNG grid of augmented training triplets (key, ref 0, ref 1) with their
 * gt boxes, exactly as the training loader prepares them (issue 7, `--dump-augmentations`).
 * Not yet listed in main.c's command table: add {"dump-aug", ..., selsa_cmd_dump_aug}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "selsa/train_data.h"

int selsa_cmd_dump_aug(int argc, char **argv);

static void usage(void)
{
    printf("usage: selsa dump-aug --data ROOT --out GRID.png [options]\n\n"
           "Prepares the first N training samples of epoch 0 (DET_train_30classes +\n"
           "VID_train_15frames under ROOT/ImageSets, flipped copies, shuffled with aspect\n"
           "grouping) as the trainer would and writes them as rows key | ref 0 | ref 1 with the\n"
           "gt boxes drawn in the class colours.\n\n"
           "options (defaults in brackets):\n"
           "  --n N              rows (triplets), 1..64 [8]\n"
           "  --seed N           sampling / augmentation seed [1]\n"
           "  --tile W           width of each tile in pixels [320]\n"
           "  --family F         official | mmtrack [official]\n"
           "  --no-aug           official family without the SSD augmentation (data_aug false)\n"
           "  --scale S,L        short,long resize targets [600,1000]\n"
           "  --vid-only         only VID_train_15frames\n\n"
           "exit codes: 0 ok, 2 usage, 3 unreadable dataset or output not writable\n");
}

int selsa_cmd_dump_aug(int argc, char **argv)
{
    if (selsa_cli_wants_help(argc, argv)) {
        usage();
        return SELSA_EXIT_OK;
    }
    const char *root = NULL, *out = NULL;
    int n = 8, tile = 320, no_aug = 0, vid_only = 0, family = SELSA_DATA_OFFICIAL;
    int s_short = 600, s_long = 1000;
    unsigned long long seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--no-aug")) { no_aug = 1; continue; }
        if (!strcmp(a, "--vid-only")) { vid_only = 1; continue; }
        if (i + 1 >= argc) return selsa_cli_usage_error("dump-aug", "'%s' needs a value", a);
        const char *v = argv[++i];
        char *end = NULL;
        int ok = 1;
        if (!strcmp(a, "--data")) root = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--n")) n = (int)strtol(v, &end, 10), ok = *end == 0 && n >= 1 && n <= 64;
        else if (!strcmp(a, "--seed")) seed = strtoull(v, &end, 10), ok = *end == 0;
        else if (!strcmp(a, "--tile")) tile = (int)strtol(v, &end, 10), ok = *end == 0 && tile >= 16;
        else if (!strcmp(a, "--family")) {
            if (!strcmp(v, "official")) family = SELSA_DATA_OFFICIAL;
            else if (!strcmp(v, "mmtrack")) family = SELSA_DATA_MMTRACK;
            else ok = 0;
        } else if (!strcmp(a, "--scale")) {
            ok = sscanf(v, "%d,%d", &s_short, &s_long) == 2 && s_short > 0 && s_long > 0;
        } else return selsa_cli_usage_error("dump-aug", "unknown option '%s' (see --help)", a);
        if (!ok) return selsa_cli_usage_error("dump-aug", "bad value '%s' for %s", v, a);
    }
    if (!root || !out) return selsa_cli_usage_error("dump-aug", "--data and --out are required");
    selsa_cli_install_logger(0);
    selsa_train_data_cfg cfg = family == SELSA_DATA_MMTRACK ? selsa_train_data_cfg_mmtrack()
                                                            : selsa_train_data_cfg_default();
    cfg.seed = seed;
    cfg.scale_short = s_short;
    cfg.scale_long = s_long;
    if (no_aug) cfg.data_aug = false;
    selsa_roidb db;
    selsa_roidb_opts ro = {!vid_only, true, family == SELSA_DATA_OFFICIAL};
    selsa_status st = selsa_roidb_build(root, &ro, &db);
    if (st != SELSA_OK) return selsa_cli_fail("dump-aug", st, SELSA_EXIT_INPUT);
    st = selsa_train_data_dump_grid(&db, &cfg, n, tile, out);
    if (st == SELSA_OK)
        printf("wrote %s (%d triplets; roidb %lld entries, %lld corrupt skipped)\n", out, n,
               (long long)db.n, (long long)db.n_corrupt);
    selsa_roidb_free(&db);
    if (st != SELSA_OK) return selsa_cli_fail("dump-aug", st, SELSA_EXIT_INPUT);
    return SELSA_EXIT_OK;
}
