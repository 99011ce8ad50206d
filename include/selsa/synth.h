/* selsa — deterministic synthetic video dataset in the ImageNet VID (ILSVRC2015) layout.
 *
 * selsa_synth_generate writes, under cfg->root, exactly the files and list formats of the real
 * dataset (official-selsa.md §11), so every dataset code path (reader, training sampler,
 * evaluator, motion IoU from tracks) runs on it unchanged:
 *
 *   Data/VID/train/ILSVRC2015_VID_train_%04d/ILSVRC2015_train_%08d/%06d.JPEG
 *   Data/VID/val/ILSVRC2015_val_%08d/%06d.JPEG
 *   Annotations/VID/{train,val}/<video>/%06d.xml   VOC XML with trackid/occluded/generated
 *   Data/DET/train/ILSVRC2013_train/<wnid>/<wnid>_%d.JPEG and
 *   Data/DET/train/ILSVRC2014_train_0000/ILSVRC2014_train_%08d.JPEG (+ Annotations/DET/...)
 *   ImageSets/VID_train_15frames.txt   "<video> 1 <frame_seg_id> <frame_seg_len>"
 *   ImageSets/VID_val_videos.txt       "<video> <global start id, 1-based> 0 <num frames>"
 *   ImageSets/DET_train_30classes.txt  "<path without .JPEG> 1" (last line without '\n',
 *                                       as in the official file)
 *
 * Content (docs/DATASETS.md): K classes (the first K of the 30 VID classes, §11.1), each a
 * distinct shape + texture + colour palette; cluttered panning backgrounds with distractor
 * blobs in the class colours; 1–3 tracked objects per video with slow / medium / fast speeds
 * (motion IoU spread over the three evaluation ranges); per-frame degradations (motion blur
 * along the velocity, occluders, defocus, pose and brightness changes, nearly invisible
 * frames) that make single frames ambiguous while the XML still annotates every object.
 *
 * Deterministic: every random draw comes from selsa_rng streams derived from cfg->seed (one
 * stream per video / DET image), so the same config gives byte-identical files. The library
 * only writes; nothing is deleted (stale files of an earlier, larger run under the same root
 * stay). Every file is written atomically (temp file, fsync, rename). */
#ifndef SELSA_SYNTH_H
#define SELSA_SYNTH_H

#include <stdint.h>

#include "selsa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SELSA_SYNTH_MAX_OBJECTS 8 /* per video */

typedef struct selsa_synth_config {
    uint64_t seed;             /* master seed */
    const char *root;          /* output folder (created with parents if missing) */
    int width, height;         /* frame size in pixels, 64..4096 each (default 320×192) */
    int n_train_videos;        /* >= 0 (default 32) */
    int n_val_videos;          /* >= 0 (default 8) */
    int min_frames, max_frames; /* frames per video, uniform in [min, max], 1 <= min <= max
                                   <= 100000 (default 40..80) */
    int n_classes;             /* K in 1..30: the first K VID classes (default 6) */
    int n_det_images;          /* still images under Data/DET (default 64) */
    int min_objects, max_objects; /* tracks per video, 1 <= min <= max <= 8 (default 1..3) */
    int jpeg_quality;          /* 1..100 (default 90) */
    float min_box;             /* smallest object size (geometric mean of box sides), px,
                                  >= 4 (default 12) */
    float max_box_frac;        /* largest object size as a fraction of min(width, height),
                                  in (0, 1.5] (default 0.7: about half the frame width) */
    float speed_mix[3];        /* probabilities of fast / medium / slow tracks, >= 0, sum > 0
                                  (default 0.4, 0.3, 0.3) */
    float degrade;             /* multiplier of the rates of blur / occlusion / low contrast /
                                  pose events, in [0, 4] (default 1; 0 = clean frames) */
} selsa_synth_config;

/* The defaults above, root NULL (must be set), seed 1. */
selsa_synth_config selsa_synth_config_default(void);

/* SELSA_ERR_INVALID_ARG with a message naming the first bad field, else SELSA_OK. */
selsa_status selsa_synth_config_check(const selsa_synth_config *cfg);

/* Motion ranges of the histogram (vid-eval.md §6.1, each value counted once):
 * fast [0, 0.7], medium (0.7, 0.9], slow (0.9, 1]. */
enum { SELSA_SYNTH_FAST = 0, SELSA_SYNTH_MEDIUM = 1, SELSA_SYNTH_SLOW = 2 };

typedef struct selsa_synth_split_stats {
    int64_t videos;          /* videos written */
    int64_t frames;          /* frames (JPEG + XML pairs) */
    int64_t empty_frames;    /* frames whose XML has no object */
    int64_t tracks;          /* tracks with at least one annotated box */
    int64_t boxes;           /* annotated objects over all frames */
    int64_t occluded;        /* boxes with <occluded>1 (more than half hidden) */
    int64_t low_contrast;    /* boxes rendered nearly invisible */
    int64_t motion[3];       /* boxes per motion range (FAST, MEDIUM, SLOW) */
    int64_t motion_bins[10]; /* boxes per motion IoU decile [0,0.1), ..., [0.9,1] */
    int64_t class_boxes[30]; /* boxes per class (label - 1) */
} selsa_synth_split_stats;

typedef struct selsa_synth_stats {
    selsa_synth_split_stats train, val;
    int64_t det_images;  /* DET images written */
    int64_t det_objects; /* DET objects of the K classes */
    int64_t det_other;   /* DET objects of a non-VID wnid (readers must skip them) */
} selsa_synth_stats;

/* Generate the dataset. stats_out may be NULL. Errors: SELSA_ERR_INVALID_ARG (bad config),
 * SELSA_ERR_IO (root or a file cannot be created / written), SELSA_ERR_OUT_OF_MEMORY. */
selsa_status selsa_synth_generate(const selsa_synth_config *cfg, selsa_synth_stats *stats_out);

/* Motion IoU of every box of one track by the vid-eval.md rule: for the box in frame t,
 * N = frames s with 0 < |s − t| <= 10 where the track has a box; value = mean over N (summed
 * in increasing s) of the inclusive-pixel IoU; 1e-10/|N| if all IoUs are 0; 1.0 if N is empty.
 * boxes: [n_frames][4] x1 y1 x2 y2 inclusive; present[t] != 0 where the track has a box;
 * out[t] is written for present frames only. */
void selsa_synth_track_motion_iou(const int (*boxes)[4], const uint8_t *present, int n_frames,
                                  double *out);

/* Contact sheet: `rows` val videos (train videos when there are none) × `cols` frames evenly
 * spread over each video, rendered exactly as selsa_synth_generate writes them (before JPEG
 * compression), with the ground-truth boxes drawn (red fast, yellow medium, green slow;
 * dashed when occluded), each tile downscaled by the integer factor `shrink` (1..8, box
 * filter). Written as an 8-bit RGB PNG (atomically). Does not need the dataset on disk. */
selsa_status selsa_synth_contact_sheet(const selsa_synth_config *cfg, const char *out_png,
                                       int rows, int cols, int shrink);

/* Human-readable summary of stats (snprintf semantics: returns the length the full text
 * needs; buf may be NULL when cap is 0). */
int selsa_synth_stats_format(const selsa_synth_stats *s, char *buf, int cap);

#ifdef __cplusplus
}
#endif
#endif
