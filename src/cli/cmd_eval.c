/* selsa eval: ImageNet VID evaluation (overall mAP and slow / medium / fast) of a detection file
 * against an ILSVRC-layout dataset. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "selsa/detections_json.h"
#include "selsa/eval.h"

static void usage(void) {
    printf("usage: selsa eval --root DIR --dets FILE [options]\n\n"
           "Evaluates detections in the official text format (`frame_id cls score x1 y1 x2 y2`, one\n"
           "per line, global 1-based frame ids) against the ground truth of an ILSVRC2015-layout\n"
           "dataset, exactly as the official SELSA/FGFA evaluator: per-class AP@0.5 with the\n"
           "small-object threshold, mean AP, and the motion breakdown (fast / medium / slow).\n\n"
           "options:\n"
           "  --root DIR          dataset root holding Annotations/VID and ImageSets\n"
           "  --dets FILE         detections (official text format)\n"
           "  --list FILE         frame list (default DIR/ImageSets/VID_val_videos.txt)\n"
           "  --motion-mat FILE   motion IoU from the official .mat file (imagenet_vid_groundtruth_\n"
           "                      motion_iou.mat; needs the official val list). Default: motion IoU\n"
           "                      computed from the ground-truth tracks\n"
           "  --no-motion         overall mAP only\n"
           "  --json FILE         also write every number as JSON (atomic write)\n"
           "  --coco-gt FILE      also export the ground truth as CocoVID JSON\n"
           "  --coco-dets FILE    also export the detections as a COCO results list\n\n"
           "exit codes: 0 ok, 2 usage, 3 unreadable or malformed input\n");
}

int selsa_cmd_eval(int argc, char **argv) {
    if (selsa_cli_wants_help(argc, argv)) {
        usage();
        return SELSA_EXIT_OK;
    }
    const char *root = NULL, *dets_path = NULL, *list = NULL, *mat = NULL, *json = NULL,
               *coco_gt = NULL, *coco_dets = NULL;
    int motion = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **target = !strcmp(a, "--root") ? &root : !strcmp(a, "--dets") ? &dets_path
                            : !strcmp(a, "--list") ? &list : !strcmp(a, "--motion-mat") ? &mat
                            : !strcmp(a, "--json") ? &json : !strcmp(a, "--coco-gt") ? &coco_gt
                            : !strcmp(a, "--coco-dets") ? &coco_dets : NULL;
        if (target) {
            if (i + 1 >= argc) return selsa_cli_usage_error("eval", "%s needs a value", a);
            *target = argv[++i];
        } else if (!strcmp(a, "--no-motion")) {
            motion = 0;
        } else {
            return selsa_cli_usage_error("eval", "unknown argument '%s'", a);
        }
    }
    if (!root) return selsa_cli_usage_error("eval", "missing --root DIR");
    if (!dets_path) return selsa_cli_usage_error("eval", "missing --dets FILE");
    selsa_cli_install_logger(0);
    char list_buf[4096];
    if (!list) {
        snprintf(list_buf, sizeof list_buf, "%s/ImageSets/VID_val_videos.txt", root);
        list = list_buf;
    }
    selsa_vid_gt gt;
    selsa_vid_dets dets;
    selsa_vid_gt_init(&gt);
    selsa_vid_dets_init(&dets);
    selsa_vid_eval_result *res = calloc(1, sizeof *res);
    int rc = SELSA_EXIT_OK;
    selsa_status s = res ? SELSA_OK : selsa_error(SELSA_ERR_OUT_OF_MEMORY, "eval: out of memory");
    if (s == SELSA_OK) s = selsa_vid_gt_load_ilsvrc(root, list, &gt);
    if (s == SELSA_OK && motion)
        s = mat ? selsa_vid_motion_load_official(&gt, mat, list) : selsa_vid_motion_from_tracks(&gt);
    if (s == SELSA_OK) s = selsa_vid_dets_read_any(&dets, dets_path);
    if (s == SELSA_OK) {
        selsa_vid_eval_opts opts;
        selsa_vid_eval_opts_default(&opts);
        opts.motion = motion;
        s = selsa_vid_eval(&gt, &dets, &opts, res);
    }
    if (s == SELSA_OK) {
        size_t need = selsa_vid_eval_format(res, NULL, 0) + 1;
        char *text = malloc(need);
        if (text) {
            selsa_vid_eval_format(res, text, need);
            fputs(text, stdout);
            free(text);
        }
        if (json) s = selsa_vid_eval_write_json(res, json);
        if (s == SELSA_OK && coco_gt) s = selsa_cocovid_write_gt(root, list, coco_gt);
        if (s == SELSA_OK && coco_dets) s = selsa_cocovid_write_dets(&dets, coco_dets);
    }
    if (s != SELSA_OK) rc = selsa_cli_fail("eval", s, SELSA_EXIT_INPUT);
    free(res);
    selsa_vid_dets_free(&dets);
    selsa_vid_gt_free(&gt);
    return rc;
}
