/* selsa — ImageNet VID evaluation: overall mAP@0.5 and the slow / medium / fast breakdown.
 *
 * Implements the FGFA/SELSA evaluator bit for bit (vid-eval.md §3–§6, official-selsa.md §10):
 *   - per-gt IoU threshold thr = min(0.5, w·h / ((w+10)(h+10))), w = x2 − x1 + 1 (§3);
 *   - greedy matching per frame in score order, all-point AP, mean over classes (§4);
 *   - motion ranges all [0,1], fast [0,0.7], medium [0.7,0.9], slow [0.9,1] (inclusive ends),
 *     ignored gt, fractional false positives, empty_weight, AP = −1 classes excluded (§6).
 *
 * Score ties (vid-eval.md §4 step 1): the official code orders detections with np.argsort
 * (default "quicksort" = introsort, NOT stable; insertion sort below 17 elements; numpy >= 1.25
 * may use a SIMD sort), so the order of equal scores — which changes AP when a TP and an FP of
 * one class tie — is not defined by the official code. This evaluator is STABLE everywhere:
 *   within a frame, equal scores keep the input order of the detections;
 *   globally, equal scores keep the order (gt frame list position, rank within the frame).
 * tests/ref/_vid_eval_ref.py uses np.argsort(kind="stable") at the same places, so the two agree
 * exactly; with no exact score ties the result equals the official one.
 *
 * Deliberate deviations, only in degenerate cases the official code does not handle:
 *   - overall (vid_eval) AP of a class with no gt (npos = 0) is −1 and excluded from the mean,
 *     as in the motion evaluation (the official vid_eval gives 0 with no detections of the class
 *     and NaN otherwise; on ImageNet VID val every class has gt, so results are identical);
 *   - detections whose frame id is not in the gt frame list are ignored (as official) and counted
 *     in n_dets_ignored;
 *   - motion values come per frame (mapped by global id), so evaluating a subset of frames uses
 *     the subset's values for empty_weight (the official code always evaluates all 176,126).
 *
 * Units: boxes are x1 y1 x2 y2 in original-image pixels, inclusive ("+1" widths), doubles. */
#ifndef SELSA_EVAL_H
#define SELSA_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "selsa/classes.h"
#include "selsa/matv5.h"
#include "selsa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ ground truth ---------- */

typedef struct selsa_vid_gt_object {
    double box[4];     /* x1 y1 x2 y2 straight from the XML (no clamp), inclusive pixels */
    double motion_iou; /* in [0, 1]; NaN until a motion source (below) fills it */
    int32_t cls;       /* label 1..30 (selsa_vid_classes) */
    int32_t track_id;  /* <trackid>; -1 = none */
} selsa_vid_gt_object;

typedef struct selsa_vid_gt_frame {
    int64_t frame_id;    /* global 1-based frame id (the id used by detection files) */
    int32_t video;       /* video number: frames with equal values belong to one video */
    int32_t frame_index; /* 0-based index of the frame in its video (file <%06d>) */
    int64_t first;       /* index of the frame's first object in selsa_vid_gt.objects */
    int64_t count;       /* number of objects, in XML order (the .mat order, §5.4) */
} selsa_vid_gt_frame;

/* Frames in evaluation order (the official VID_val_videos_eval.txt order); objects of frame f
 * are objects[frames[f].first .. + frames[f].count). Arrays grow geometrically. */
typedef struct selsa_vid_gt {
    selsa_vid_gt_frame *frames; /* [n_frames] */
    int64_t n_frames, cap_frames;
    selsa_vid_gt_object *objects; /* [n_objects] */
    int64_t n_objects, cap_objects;
} selsa_vid_gt;

void selsa_vid_gt_init(selsa_vid_gt *gt);
void selsa_vid_gt_free(selsa_vid_gt *gt);
/* Append a frame (frame_id >= 1, frame_index >= 0). Frame ids must be unique (checked by
 * selsa_vid_eval). */
selsa_status selsa_vid_gt_add_frame(selsa_vid_gt *gt, int64_t frame_id, int32_t video,
                                    int32_t frame_index);
/* Append an object to the last added frame (cls 1..30, finite box). motion_iou starts NaN. */
selsa_status selsa_vid_gt_add_object(selsa_vid_gt *gt, int32_t cls, int32_t track_id, double x1,
                                     double y1, double x2, double y2);

/* ------------------------------------------------------------------ detections ------------ */

typedef struct selsa_vid_det {
    double box[4];    /* x1 y1 x2 y2, original-image pixels */
    double score;     /* confidence (finite) */
    int64_t frame_id; /* global 1-based frame id */
    int32_t cls;      /* label 1..30 */
} selsa_vid_det;

typedef struct selsa_vid_dets {
    selsa_vid_det *items; /* [n], input order (used to break score ties, see above) */
    int64_t n, cap;
} selsa_vid_dets;

void selsa_vid_dets_init(selsa_vid_dets *d);
void selsa_vid_dets_free(selsa_vid_dets *d);
selsa_status selsa_vid_dets_add(selsa_vid_dets *d, int64_t frame_id, int32_t cls, double score,
                                double x1, double y1, double x2, double y2);
/* Append the detections of a text file in the official format, one per line:
 * `frame_id cls score x1 y1 x2 y2` (whitespace separated; blank lines skipped). A malformed
 * line gives SELSA_ERR_FORMAT "<path>:<line>: ...". */
selsa_status selsa_vid_dets_read_txt(selsa_vid_dets *d, const char *path);
/* The same from text in memory (`what` names it in messages). */
selsa_status selsa_vid_dets_parse_txt(selsa_vid_dets *d, const char *text, size_t len,
                                      const char *what);
/* Write in the format of the SELSA tester, "%d %d %.4f %.2f %.2f %.2f %.2f" (atomic). */
selsa_status selsa_vid_dets_write_txt(const selsa_vid_dets *d, const char *path);

/* ------------------------------------------------------------------ VID_val_videos.txt ---- */

typedef struct selsa_vid_val_video {
    const char *name;   /* as in the file, e.g. "val/ILSVRC2015_val_00007010" */
    int64_t start;      /* global 1-based id of its frame 0 */
    int64_t first;      /* third column (0 in the official list) */
    int64_t num_frames; /* >= 1 */
} selsa_vid_val_video;

typedef struct selsa_vid_val_videos {
    selsa_vid_val_video *items; /* [n], file order; starts contiguous from 1 */
    int64_t n;
    int64_t total_frames;      /* sum of num_frames = last start + count − 1 */
    int64_t *by_name;          /* [n] indices sorted by name (reverse map) */
    char *text;                /* storage for the names */
} selsa_vid_val_videos;

/* Read `<video> <start 1-based> <first> <num frames>` lines; starts must be contiguous from 1
 * (each = previous start + previous count), names unique. Errors name file and line. */
selsa_status selsa_vid_val_videos_read(const char *path, selsa_vid_val_videos *out);
void selsa_vid_val_videos_free(selsa_vid_val_videos *v);
/* Index of the video `name` ("val/ILSVRC2015_val_00007010", or without the "val/" prefix),
 * or -1. */
int64_t selsa_vid_val_videos_find(const selsa_vid_val_videos *v, const char *name);
/* Index of the video holding global frame id `frame_id`, or -1. */
int64_t selsa_vid_val_videos_of_frame(const selsa_vid_val_videos *v, int64_t frame_id);

/* Build the ground truth of every frame listed in a VID_val_videos.txt-format list from an
 * ILSVRC-layout root (Annotations/VID/<video>/%06d.xml, raw boxes). Frame ids are
 * start + k; errors name the file (and line) that failed. */
selsa_status selsa_vid_gt_load_ilsvrc(const char *root, const char *val_list_path,
                                      selsa_vid_gt *gt);

/* CocoVID export (mmtracking-selsa.md §4.3) for cross-checking with COCO tools: the ground
 * truth of a VID_val_videos.txt-format list under an ILSVRC root (categories, videos, images,
 * annotations with bbox [x, y, w, h] = [xmin, ymin, xmax−xmin, ymax−ymin]) and detections as a
 * COCO results list (image_id = global frame id). Both written atomically. */
selsa_status selsa_cocovid_write_gt(const char *root, const char *val_list_path, const char *out_json);
selsa_status selsa_cocovid_write_dets(const selsa_vid_dets *d, const char *out_json);

/* ------------------------------------------------------------------ motion IoU ------------ */

/* Fill motion_iou from the official cells (vid-eval.md §5.4): the frame with global id g uses
 * cell g − 1, whose values are its objects in XML order. `videos` (may be NULL) validates the
 * mapping: the cell count must equal videos->total_frames and each frame's frame_index must be
 * g − start(v) of the video v holding g. Each frame's cell must hold exactly `count` values
 * (an empty cell for a frame without objects). */
selsa_status selsa_vid_motion_from_cells(selsa_vid_gt *gt, const selsa_mat_cells *cells,
                                         const selsa_vid_val_videos *videos);
/* Read the .mat (variable "motion_iou") and VID_val_videos.txt and apply them as above. */
selsa_status selsa_vid_motion_load_official(selsa_vid_gt *gt, const char *mat_path,
                                            const char *val_videos_path);
/* Compute motion_iou from the gt tracks, for any dataset (issue 5): for object o in frame t,
 * N = frames s of the same video with 0 < |s − t| <= 10 (frame_index) holding o's track id;
 * value = mean over N (summed in increasing s) of the inclusive-pixel IoU of o's boxes in t and
 * s; 1e-10/|N| when every IoU is 0 (as the official file holds); 1.0 when N is empty or o has
 * no track id (UNVERIFIED: the official handling of isolated objects is unknown). A track id
 * repeated within one frame uses its first object there. (video, frame_index) must be unique. */
selsa_status selsa_vid_motion_from_tracks(selsa_vid_gt *gt);

/* ------------------------------------------------------------------ evaluation ------------ */

#define SELSA_VID_NUM_RANGES 4
typedef enum selsa_vid_range {
    SELSA_VID_RANGE_ALL = 0,    /* [0, 1]   */
    SELSA_VID_RANGE_FAST = 1,   /* [0, 0.7] */
    SELSA_VID_RANGE_MEDIUM = 2, /* [0.7, 0.9] */
    SELSA_VID_RANGE_SLOW = 3    /* [0.9, 1] */
} selsa_vid_range;

/* [range][lo, hi], both ends inclusive (vid-eval.md §6.1). */
extern const double selsa_vid_motion_ranges[SELSA_VID_NUM_RANGES][2];
const char *selsa_vid_range_name(int range); /* "all", "fast", "medium", "slow" */

typedef struct selsa_vid_eval_opts {
    bool motion;            /* also run the motion-range evaluation (needs every motion_iou) */
    double area_lo, area_hi; /* area range of the motion evaluation, official [0, 1e10] */
} selsa_vid_eval_opts;

void selsa_vid_eval_opts_default(selsa_vid_eval_opts *o); /* motion = true, area [0, 1e10] */

typedef struct selsa_vid_eval_result {
    /* overall (vid_eval); index c-1 for class c */
    double ap[SELSA_VID_NUM_CLASSES];    /* AP in [0, 1]; −1 if the class has no gt */
    double map;                          /* mean of the ap >= 0; −1 if none */
    int64_t npos[SELSA_VID_NUM_CLASSES]; /* gt objects per class */
    int64_t n_frames, n_objects;
    int64_t n_dets;          /* detections given */
    int64_t n_dets_ignored;  /* of which in frames absent from the gt list */
    /* motion breakdown (vid_eval_motion), valid if has_motion */
    bool has_motion;
    double motion_ap[SELSA_VID_NUM_RANGES][SELSA_VID_NUM_CLASSES]; /* −1: no non-ignored gt */
    double motion_map[SELSA_VID_NUM_RANGES];                       /* −1 if no class counts */
    int64_t motion_npos[SELSA_VID_NUM_RANGES][SELSA_VID_NUM_CLASSES];
    double empty_weight[SELSA_VID_NUM_RANGES];
    int64_t range_count[SELSA_VID_NUM_RANGES]; /* loaded values inside each range */
    int64_t n_loaded; /* loaded motion values: objects + one dummy 0.0 per empty frame */
} selsa_vid_eval_result;

/* Evaluate `dets` against `gt`. opts NULL = defaults (then motion runs only if every object
 * has a motion_iou). */
selsa_status selsa_vid_eval(const selsa_vid_gt *gt, const selsa_vid_dets *dets,
                            const selsa_vid_eval_opts *opts, selsa_vid_eval_result *out);

/* Human-readable per-class table and the four mAPs into buf (snprintf semantics: returns the
 * length the full text needs; buf may be NULL when cap is 0). */
size_t selsa_vid_eval_format(const selsa_vid_eval_result *r, char *buf, size_t cap);
/* JSON with every number of the result (%.17g), written atomically (temp file, fsync,
 * rename). */
selsa_status selsa_vid_eval_write_json(const selsa_vid_eval_result *r, const char *path);

#ifdef __cplusplus
}
#endif
#endif
