/* selsa — the official SELSA detector (MXNet code, official-selsa.md §0–§6) and its test
 * schedule (§9), inference.
 *
 * Layers of the API:
 *   config   architecture + test parameters (presets: R101, R50, the tiny CI config), with a
 *            `selsa` flag (false = the single-frame Faster R-CNN baseline model type);
 *   model    parameters loaded from a selsa_weights dictionary (BN folded at load time), in one
 *            persistent arena; immutable after loading, shareable between runners;
 *   runner   activations, the per-frame cache and the post-processing buffers for one video
 *            stream; all memory comes from arenas sized by a measuring pass (reserve), so the
 *            per-frame loop does not allocate;
 *   schedule the official §9 deque schedule over a video with a frame-read callback.
 *
 * Per-frame / window split (§4.2 "exact-output optimisations"): everything that depends on one
 * frame (backbone, res5, RPN + proposals, conv_new_1, ROIPooling, fc_new_1, and for SELSA the
 * module-1 projections Q1, K1) is computed ONCE per frame into a cache slot:
 *     rois (R, 5)   X1 = fc_new_1 (R, D, pre-ReLU)   Q1, K1 (R, D)        R = 300, D = fc_dim
 * A window of T cached slots (duplicates allowed, each copy counts in the softmax) then runs
 * SELSA#1 over all M = R·T rows, fc_new_2 over all rows, SELSA#2 for the key frame's R query
 * rows only, the classifier and the official post-processing (§5).
 * The uncached path recomputes every frame of the window from its image and runs stage 2 on
 * all M rows (the official algorithm); it exists to prove the cached path exact. */
#ifndef SELSA_MODEL_OFFICIAL_H
#define SELSA_MODEL_OFFICIAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "selsa/boxes.h"
#include "selsa/context.h"
#include "selsa/eval.h"
#include "selsa/image.h"
#include "selsa/status.h"
#include "selsa/tensor.h"
#include "selsa/weights.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ configuration ---------- */

typedef struct selsa_official_config {
    int depth;              /* 50, 101, ...; informational (unit naming uses msra_numbered) */
    int units[4];           /* bottleneck units in res2..res5: R101 {3,4,23,3}, R50 {3,4,6,3} */
    bool msra_numbered;     /* unit names a, b1, b2, ... in res3/res4 (R101/R152 MSRA files);
                               false: letters a, b, c, ... everywhere (res2/res5 always letters) */
    int base_channels;      /* 64: conv1 outputs; stage s has mid = base·2^(s−2), out = 4·mid */
    int rpn_channels;       /* 512: rpn_conv_3x3 */
    int conv_new_channels;  /* 256: conv_new_1 */
    int fc_dim;             /* 1024: fc_new_1/2, query/key/linear_out (attention scale 1/sqrt) */
    int num_classes;        /* 31 (background + 30) */
    int pooled_size;        /* 7: ROIPooling output */
    float spatial_scale;    /* 1/16 */
    double bn_eps;          /* 1e-5 (MXNet BatchNorm) */
    bool selsa;             /* true: SELSA model; false: single-frame baseline (fc_all = fc_new,
                               no query_k, key_k, linear_out_k tensors) */
    /* preprocessing (§1) */
    int scale_short, scale_long; /* SCALES (600, 1000) */
    /* test schedule (§9) */
    int key_interval;       /* K = 10: window T = 2K+1, key = deque[K] */
    /* proposal layer (§3.3) and test post-processing (§5) */
    selsa_proposal_mxnet_params proposal;      /* post_nms_top_n = R rows per frame */
    selsa_detect_official_params detect;
    float anchor_scales[3];  /* (8, 16, 32); proposal.scales points here after a preset */
    float anchor_ratios[3];  /* (0.5, 1, 2) */
} selsa_official_config;

/* Presets. Pointers inside `proposal` refer to the struct's own arrays: re-point them
 * (selsa_official_config_fix_pointers) after copying a config by value. */
void selsa_official_config_r101(selsa_official_config *c);
void selsa_official_config_r50(selsa_official_config *c);
/* The CI contract config: units {1,1,1,1}, base 8, rpn 32, conv_new 16, fc 64, 31 classes,
 * SCALES (128, 200), K = 2. */
void selsa_official_config_tiny(selsa_official_config *c);
void selsa_official_config_fix_pointers(selsa_official_config *c);
/* Checks every field (messages name the field). */
selsa_status selsa_official_config_validate(const selsa_official_config *c);

/* Unit name for stage s (2..5) and unit index i (0-based): "a", "b", "b1", ... (see
 * msra_numbered). buf needs 8 bytes. */
const char *selsa_official_unit_name(const selsa_official_config *c, int stage, int unit, char *buf);

/* Enumerate every tensor the model reads (bare names, §6.1 shapes, kind ARG/AUX), in
 * network order. Used by tools (inspect/check) and by tests that build weight files. */
typedef void (*selsa_official_param_fn)(void *user, const char *name, selsa_weight_kind kind,
                                        int ndim, const int64_t *dims);
void selsa_official_enum_params(const selsa_official_config *c, selsa_official_param_fn fn,
                                void *user);

/* Fill `w` (initialised, empty) with initial weights for `cfg` (official-selsa.md §6.2): new
 * layers (rpn_*, conv_new_1, fc_new_*, query/key/linear_out_*, cls_score, bbox_pred) N(0, 0.01)
 * with zero biases; backbone convs He-normal and identity frozen BN (used when no ImageNet
 * model is given). Names carry arg:/aux: so selsa_weights_save_params writes the official
 * layout. Deterministic in `seed`. */
selsa_status selsa_official_init_weights(const selsa_official_config *cfg, uint64_t seed,
                                         selsa_weights *w);

/* ------------------------------------------------------------------ model ------------------ */

typedef struct selsa_official_model selsa_official_model;

/* Build the model from a dictionary:
 *   1. the official `*_test` rename (§6.3) is applied to `w` (so `w` is modified); if
 *      bbox_pred_weight_test is absent, the plain bbox_pred rows are multiplied by the stds
 *      (0.1, 0.1, 0.2, 0.2) tiled ×2 (logged at INFO);
 *   2. every tensor is fetched with its expected shape (missing: SELSA_ERR_FORMAT, wrong shape:
 *      SELSA_ERR_SHAPE; both name the tensor);
 *   3. every frozen BN is folded into the preceding conv (double precision; bias-less convs get
 *      a folded bias);
 *   4. unused tensors are listed in one warning (e.g. fc1000_*), prefixed with `what`.
 * The model copies what it needs; `w` may be freed afterwards. */
selsa_status selsa_official_model_load(selsa_official_model **out, const selsa_official_config *cfg,
                                       selsa_weights *w, const char *what);
/* selsa_weights_load(path) + the above. */
selsa_status selsa_official_model_load_file(selsa_official_model **out,
                                            const selsa_official_config *cfg, const char *path);
void selsa_official_model_free(selsa_official_model *m);
const selsa_official_config *selsa_official_model_config(const selsa_official_model *m);
/* Bytes of the persistent parameter arena. */
size_t selsa_official_model_param_bytes(const selsa_official_model *m);

/* ------------------------------------------------------------------ runner ----------------- */

typedef struct selsa_official_runner selsa_official_runner;

/* Seconds per phase, accumulated over the runner's life (benchmark hooks). */
typedef struct selsa_official_stats {
    double decode;       /* frame read callback (decode) + resize + to-tensor */
    double backbone;     /* conv1 .. res4 (conv4 feature) */
    double res5;         /* res5 (conv5 feature) */
    double rpn;          /* rpn_conv_3x3, cls/bbox convs, 2-class softmax, proposal layer */
    double head;         /* conv_new_1, ROIPooling, fc_new_1, Q1/K1 projections */
    double aggregation;  /* window stage: SELSA#1, fc_new_2, SELSA#2, cls_score, bbox_pred */
    double post;         /* class softmax, decoding, per-class NMS */
    int64_t frames;      /* per-frame stages run */
    int64_t windows;     /* window stages run */
} selsa_official_stats;

/* Optional observer of named per-frame intermediates ("conv4", "rpn_cls_prob" (after the
 * 2-class softmax, (1, 2A, H, W)), "rpn_bbox_pred" (raw), "conv5", "fc_new_1" (R, D)).
 * `frame` is the frame id given to selsa_official_compute_frame. Debugging/tests only. */
typedef void (*selsa_official_debug_fn)(void *user, const char *name, int64_t frame,
                                        const selsa_tensor *t);

/* The output of one window (pointers into the runner, valid until its next window call). */
typedef struct selsa_official_result {
    int64_t frame;                 /* frame id of the key slot */
    const selsa_tensor *rois;      /* (R, 5, 1, 1) key-frame proposals, scaled-image pixels */
    const selsa_tensor *cls_prob;  /* (R, num_classes, 1, 1) softmax */
    const selsa_tensor *bbox_pred; /* (R, 8, 1, 1) de-normalised deltas (_test weights) */
    const selsa_detection *dets;   /* [n_dets] original-image boxes, class-major (§5) */
    int64_t n_dets;
    float im_info[3];              /* scaled h, w, scale of the key frame */
} selsa_official_result;

/* A runner for one stream. ctx must outlive it; its scratch arena is grown at reserve time if
 * the ops need more. The cache has selsa_official_cache_slots() = 2K+2 slots (the deque can
 * refer to at most 2K+1 distinct frames while a new one is computed). */
selsa_status selsa_official_runner_create(selsa_official_runner **out,
                                          const selsa_official_model *m, selsa_ctx *ctx);
void selsa_official_runner_free(selsa_official_runner *r);
/* Size the arenas for original frames of up to orig_h × orig_w (measuring pass; done
 * automatically on the first frame that needs more). `uncached` also reserves the uncached
 * window path. Only this call (and the image buffers on a size increase) allocate. */
selsa_status selsa_official_runner_reserve(selsa_official_runner *r, int orig_h, int orig_w,
                                           bool uncached);
int selsa_official_cache_slots(const selsa_official_runner *r);
void selsa_official_runner_set_debug(selsa_official_runner *r, selsa_official_debug_fn fn,
                                     void *user);
const selsa_official_stats *selsa_official_runner_stats(const selsa_official_runner *r);
void selsa_official_runner_reset_stats(selsa_official_runner *r);
/* Bytes held by the activation arenas, the cache and the scratch arena (memory report). */
size_t selsa_official_runner_bytes(const selsa_official_runner *r);

/* Per-frame stage on original BGR image `img` (any size): results go to cache slot `slot`
 * (0 .. slots−1), tagged with `frame`. */
selsa_status selsa_official_compute_frame(selsa_official_runner *r, int slot, int64_t frame,
                                          const selsa_image *img);
/* Window stage over the cached slots slots[0..T) (T <= 2K+1, duplicates allowed), key frame
 * at position key_pos. */
selsa_status selsa_official_detect_window(selsa_official_runner *r, const int *slots, int T,
                                          int key_pos, selsa_official_result *res);
/* Uncached: recompute every frame of the window from imgs[0..T) (T <= 2K+1) and run stage 2
 * on all rows, then take the key frame's rows. Needs reserve(..., uncached = true) or does it
 * itself. Does not touch the cache. */
selsa_status selsa_official_detect_window_uncached(selsa_official_runner *r,
                                                   const selsa_image *const *imgs,
                                                   const int64_t *frames, int T, int key_pos,
                                                   selsa_official_result *res);

/* ------------------------------------------------------------------ schedule (§9) ---------- */

/* Decode frame `index` (0-based position in the video) into img (buffer reused). */
typedef selsa_status (*selsa_official_read_fn)(void *user, int64_t index, selsa_image *img);
/* Called once per frame with the detections of the window whose key is that frame.
 * window[0..T) = frame indices in deque order (key = window[K]). */
typedef selsa_status (*selsa_official_det_fn)(void *user, int64_t index, const int64_t *window,
                                              int T, const selsa_official_result *res);

typedef struct selsa_official_schedule_opts {
    const int64_t *perm;  /* visiting order (n_frames indices, a permutation) or NULL: */
    bool temporal_order;  /*   NULL perm + true: 0, 1, ..., N−1 */
    uint64_t seed;        /*   NULL perm + false: selsa_official_permutation(seed) */
    bool uncached;        /* run the uncached window path (keeps the window's images) */
} selsa_official_schedule_opts;

/* The permutation the schedule uses for a seed: Fisher–Yates with selsa_rng (stream 0x5e15a). */
void selsa_official_permutation(int64_t n, uint64_t seed, int64_t *perm);

/* Run the official test schedule on a video of n_frames frames (§9):
 *   first visited frame pushed K+1 times; each middle frame pushed, and once the deque held 2K
 *   entries before the push, detect on deque[K]; the last frame pushed until the length is 2K,
 *   then min(N, K+1) times push + detect (N = 1: the loader's "last frame" flag, so only the
 *   last-frame rule applies). Every frame is detected exactly once; each frame is read and its
 *   per-frame stage computed once, when first pushed. */
selsa_status selsa_official_run_video(selsa_official_runner *r, int64_t n_frames,
                                      const selsa_official_schedule_opts *opts,
                                      selsa_official_read_fn read, void *read_user,
                                      selsa_official_det_fn on_det, void *det_user);

/* Frame reader over an array of image paths (user = const char *const *paths). */
selsa_status selsa_official_read_paths(void *user, int64_t index, selsa_image *img);

/* ------------------------------------------------------------------ output writers --------- */

/* Collects a video's detections for the official text format and our JSON Lines format (one
 * record per frame, docs/FORMATS.md), both written atomically at close. Use
 * selsa_official_writer_on_det as the schedule's det callback (user = the writer). */
typedef struct selsa_official_writer {
    int64_t frame_id_base;   /* text frame_id = frame_id_base + index (official: video start id) */
    int64_t n_frames;
    selsa_vid_dets dets;     /* all detections, visit order */
    char *json_path;         /* NULL: no JSON */
    int64_t json_records;    /* frames detected so far */
} selsa_official_writer;

/* json_path may be NULL. */
selsa_status selsa_official_writer_open(selsa_official_writer *w, int64_t frame_id_base,
                                        int64_t n_frames, const char *json_path);
selsa_status selsa_official_writer_on_det(void *user, int64_t index, const int64_t *window, int T,
                                          const selsa_official_result *res);
/* Write the JSON Lines file (if opened with a path) and, if txt_path is not NULL, the text file
 * (frames in increasing id order, detections of a frame in output order; "%d %d %.4f %.2f ...").
 * Frees the writer. */
selsa_status selsa_official_writer_close(selsa_official_writer *w, const char *txt_path);
/* Frees without writing (error paths). */
void selsa_official_writer_free(selsa_official_writer *w);

#ifdef __cplusplus
}
#endif
#endif
