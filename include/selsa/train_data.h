/* selsa — training data pipeline: roidb (DET + VID lists with flipped copies), epoch order with
 * aspect-ratio grouping, the official SSD-style augmentation, reference-frame sampling and a
 * background loader with in-order delivery (official-selsa.md §8.2, §8.5, §1, §11;
 * mmtracking-selsa.md §1.5).
 *
 * Determinism: every random draw comes from selsa_rng. The epoch order depends only on
 * (seed, epoch); the augmentation and reference frames of the sample at position p of an epoch
 * come from an rng seeded with (seed, epoch, p), so the delivered samples are identical for any
 * number of worker threads and any thread timing (and a resumed run can restart at any epoch).
 *
 * Typical use:
 *   selsa_roidb db; selsa_roidb_build(root, &ropts, &db);
 *   selsa_train_loader *L; selsa_train_loader_open(&L, &db, &cfg);
 *   for epoch: selsa_train_loader_start_epoch(L, epoch);
 *              while (selsa_train_loader_next(L, &s) == SELSA_OK && s) { ... train on s ... }
 *   selsa_train_loader_close(L); selsa_roidb_free(&db);
 */
#ifndef SELSA_TRAIN_DATA_H
#define SELSA_TRAIN_DATA_H

#include <stdbool.h>
#include <stdint.h>

#include "selsa/dataset.h"
#include "selsa/image.h"
#include "selsa/rng.h"
#include "selsa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- roidb */

enum { SELSA_ROIDB_DET = 0, SELSA_ROIDB_VID = 1 };

typedef struct selsa_roidb_entry {
    int32_t set;        /* SELSA_ROIDB_DET / SELSA_ROIDB_VID (which list) */
    int32_t index;      /* line index in that list */
    int32_t flipped;    /* 1: horizontally flipped copy (image and boxes) */
    int32_t width, height; /* size/width, size/height from the XML */
    int32_t frame;      /* VID: frame_seg_id (the key frame); DET: 0 */
    int32_t seg_len;    /* VID: frame_seg_len; DET: 1 */
    int32_t n_boxes;    /* >= 1 (entries without boxes are filtered) */
    int64_t box_offset; /* first row in selsa_roidb.boxes / classes */
} selsa_roidb_entry;

typedef struct selsa_roidb_opts {
    bool use_det;  /* ImageSets/DET_train_30classes.txt (skipped if absent when use_vid) */
    bool use_vid;  /* ImageSets/VID_train_15frames.txt */
    bool flip;     /* TRAIN.FLIP: append a flipped copy of every entry */
} selsa_roidb_opts;

typedef struct selsa_roidb {
    char *root;                  /* dataset root (owned copy) */
    selsa_imageset det, vid;     /* the lists (n = 0 when unused / absent) */
    selsa_roidb_entry *entries;  /* [n]: DET entries, then VID entries, then (flip) the
                                    flipped copies in the same order (merge_roidb + flip) */
    int64_t n;
    float *boxes;                /* [n_boxes_total][4] x1 y1 x2 y2, TRAIN-clamped, flipped for
                                    flipped entries (x1' = W − x2 − 1, x2' = W − x1 − 1) */
    int32_t *classes;            /* [n_boxes_total] 1..30 */
    int64_t n_boxes_total;
    int64_t n_corrupt;           /* list entries skipped: unreadable / broken XML (warned) */
    int64_t n_no_boxes;          /* list entries filtered for having no boxes (filter_roidb) */
} selsa_roidb;

/* Read the lists and every annotation under root (official-selsa.md §11). A corrupt entry
 * (missing or malformed XML) is skipped with a SELSA_LOG_WARN naming the file and counted in
 * n_corrupt; it never fails the build. Errors: missing lists, nothing usable (SELSA_ERR_FORMAT). */
selsa_status selsa_roidb_build(const char *root, const selsa_roidb_opts *opts, selsa_roidb *out);
void selsa_roidb_free(selsa_roidb *db);

/* 1 when width >= height (official AnchorLoader: horz = widths >= heights). */
int selsa_roidb_is_landscape(const selsa_roidb_entry *e);

/* Entry order for one epoch, written into order[cap] (cap >= db->n); *n_out receives the number
 * of positions. Depends only on (seed, epoch).
 *  - shuffle false: 0..n−1 (then truncated to a multiple of batch).
 *  - shuffle, no grouping: a permutation, truncated to a multiple of batch.
 *  - shuffle + aspect_grouping: landscape and portrait entries are permuted separately and cut
 *    into batches of `batch` within each group; the batches of both groups are permuted
 *    together. Each group's remainder (< batch entries) is dropped for this epoch, so every
 *    batch lies within one group. (Official: concatenated permutations, permuted rows, the last
 *    n mod batch entries dropped by iter_next; one row may straddle the groups there.)
 * With batch 1 nothing is dropped. */
selsa_status selsa_roidb_epoch_order(const selsa_roidb *db, bool shuffle, bool aspect_grouping,
                                     int batch, uint64_t seed, int64_t epoch, int32_t *order,
                                     int64_t cap, int64_t *n_out);

/* ---------------------------------------------------------------- augmentation (§8.5) */

/* Float HWC BGR image (the numpy float32 array of SSDAugmentation). */
typedef struct selsa_fimage {
    float *data; /* h*w*3 */
    int h, w;
    size_t cap;  /* floats allocated */
} selsa_fimage;

selsa_status selsa_fimage_alloc(selsa_fimage *im, int h, int w);
void selsa_fimage_free(selsa_fimage *im);
/* ConvertFromInts: uint8 → float32. */
selsa_status selsa_fimage_from_u8(const selsa_image *src, selsa_fimage *dst);
/* astype(np.uint8) WITHOUT clipping: each value is truncated toward zero to an integer and
 * reduced modulo 256 (C: (uint8_t)((int32_t)v & 0xFF)); e.g. 282.7 → 26, −5.5 → 251,
 * −0.7 → 0. This is what numpy 1.x float32→uint8 gives on x86-64 (measured with numpy
 * 1.24: [282.7, −5.5, 300.2, −0.7, −300.3, 1000.5] → [26, 251, 44, 0, 212, 232]); values
 * beyond ±2^31 (impossible here: |v| < 2000) are clamped first. NaN gives 0. */
uint8_t selsa_u8_wrap(float v);
selsa_status selsa_fimage_to_u8(const selsa_fimage *src, selsa_image *dst);

/* What one SSDAugmentation call did (for tests, logs and the dump grid). */
typedef struct selsa_aug_record {
    int brightness;  float brightness_delta; /* fired?, delta in [−32, 32) */
    int contrast_first;                      /* 1: contrast, HSV ops (pd[:-1]); 0: HSV ops,
                                                contrast (pd[1:]) */
    int contrast;    float contrast_alpha;   /* ×U(0.5, 1.5) */
    int saturation;  float saturation_factor;/* ×U(0.5, 1.5) on S */
    int hue;         float hue_delta;        /* ±18 degrees, wrapped into [0, 360] */
    int permute;     int perm;               /* channel permutation index 0..5 */
    int expand;      float expand_ratio;     /* U(1, expand_scale) */
    int expand_left, expand_top;             /* int(left), int(top) of the pasted image */
    int crop_mode;                           /* 0 = "no crop" (returned), 1..5 crop modes */
    int crop_x, crop_y, crop_w, crop_h;      /* rect[0], rect[1], rect[2]-rect[0], rect[3]-rect[1] */
    int crop_tries;                          /* tries drawn over all modes */
    int n_in, n_out;                         /* boxes before / after the crop */
} selsa_aug_record;

typedef struct selsa_aug_params {
    double mean_bgr[3];  /* expand fill (PIXEL_MEANS, BGR) */
    double expand_scale; /* 2.0 (official aug config): ratio U(1, expand_scale) */
    double crop_pert;    /* 0.3: crop width U(crop_pert·W, W) (double, as the Python float) */
    int max_tries;       /* 50 per mode */
    int max_rounds;      /* mode draws before giving up with "no crop" (ours: 1000; the
                            original loops forever if no crop can keep a box) */
} selsa_aug_params;

selsa_aug_params selsa_aug_params_official(const double pixel_means_bgr[3]);

/* The three stages, usable separately (in place on the float image / boxes).
 * boxes: [n][4] float x1 y1 x2 y2; classes [n]. */
void selsa_aug_photometric(selsa_rng *rng, selsa_fimage *im, selsa_aug_record *rec);
selsa_status selsa_aug_expand(selsa_rng *rng, selsa_fimage *im, selsa_fimage *tmp, float *boxes,
                              int n, const selsa_aug_params *p, selsa_aug_record *rec);
/* Crop: keeps the boxes whose centres lie strictly inside, clipped to the crop and shifted;
 * *n is updated and boxes/classes compacted. */
selsa_status selsa_aug_crop(selsa_rng *rng, selsa_fimage *im, selsa_fimage *tmp, float *boxes,
                            int32_t *classes, int *n, const selsa_aug_params *p,
                            selsa_aug_record *rec);
/* Whole SSDAugmentation on a uint8 image: ConvertFromInts, PhotometricDistort, Expand,
 * RandomSampleCrop, astype(uint8) (wrap, see selsa_u8_wrap). img is replaced by the result;
 * boxes/classes are updated in place (*n may shrink; boxes are float). tmp0/tmp1 are work
 * buffers (reused). rec may be NULL. */
selsa_status selsa_aug_ssd(selsa_rng *rng, selsa_image *img, float *boxes, int32_t *classes,
                           int *n, const selsa_aug_params *p, selsa_fimage *tmp0,
                           selsa_fimage *tmp1, selsa_aug_record *rec);

/* HSV conversion of OpenCV's float path (cv2.cvtColor on float32: H in degrees [0, 360),
 * S = (max−min)/(|max|+FLT_EPSILON), V = max), in place on one image. */
void selsa_fimage_bgr2hsv(selsa_fimage *im);
void selsa_fimage_hsv2bgr(selsa_fimage *im);

/* ---------------------------------------------------------------- samples and loader */

enum { SELSA_REFS_OFFICIAL = 0, SELSA_REFS_BILATERAL = 1 };
/* Preprocessing family. OFFICIAL: §1 resize (cvRound sizes), SSD augmentation when data_aug,
 * flips come from the roidb's flipped copies (build it with flip = true).
 * MMTRACK (mmtracking-selsa.md §1.4): SeqResize with the mmcv rule (int(x + 0.5) sizes, one size
 * for all frames), then SeqRandomFlip(share_params, 0.5) drawn per sample AFTER the resize with
 * mmdet's flip x1' = W − x2, x2' = W − x1 (no −1); no SSD augmentation (data_aug ignored); build
 * the roidb with flip = false. Boxes come from the same TRAIN-clamped XML values as the official
 * roidb (mmtracking's json conversion is not reproduced: it may differ at the image borders,
 * (unverified)). Normalisation / padding are the caller's (selsa_image_to_tensor). */
enum { SELSA_DATA_OFFICIAL = 0, SELSA_DATA_MMTRACK = 1 };
#define SELSA_TRAIN_FRAMES 3   /* key + 2 references */
#define SELSA_TRAIN_MAX_BOXES 256

typedef struct selsa_train_data_cfg {
    int family;              /* SELSA_DATA_OFFICIAL / SELSA_DATA_MMTRACK */
    int ref_mode;            /* SELSA_REFS_OFFICIAL: offsets in [min_offset, max_offset] w/o
                                replacement, clipped; SELSA_REFS_BILATERAL: MMTracking ±max_offset */
    int min_offset, max_offset; /* official −1000, 1000; bilateral: frame_range 9 in max_offset */
    int scale_short, scale_long; /* SCALES (600, 1000) */
    bool data_aug;           /* TRAIN.data_aug */
    double pixel_means[3];   /* BGR */
    bool shuffle, aspect_grouping;
    int batch;               /* key images per step (batch of the aspect grouping) */
    uint64_t seed;
    int n_workers;           /* background threads, 0 = decode in the caller (synchronous) */
    int ring_size;           /* prepared samples held at most (>= 1) */
} selsa_train_data_cfg;

/* Official defaults: refs official ±1000, (600, 1000), data_aug, official means, shuffle,
 * grouping, batch 1, seed 1, 2 workers, ring 4. */
selsa_train_data_cfg selsa_train_data_cfg_default(void);
/* MMTracking defaults: family MMTRACK, bilateral ±9, (600, 1000) as (short, long), no SSD aug,
 * shuffle with aspect grouping (mmdet GroupSampler), batch 1, seed 1, 2 workers, ring 4. */
selsa_train_data_cfg selsa_train_data_cfg_mmtrack(void);

typedef struct selsa_train_sample {
    selsa_image img[SELSA_TRAIN_FRAMES];  /* key, ref 0, ref 1: BGR uint8, all h×w (final) */
    float boxes[SELSA_TRAIN_FRAMES][SELSA_TRAIN_MAX_BOXES][4]; /* in final image pixels */
    int32_t classes[SELSA_TRAIN_FRAMES][SELSA_TRAIN_MAX_BOXES];
    int n_boxes[SELSA_TRAIN_FRAMES];      /* key >= 1 */
    int n_frames;              /* frames that are real samples: 3 for the official family (refs may
                                  coincide); MMTRACK: 1 + number of bilateral refs (2 at a video
                                  end, 1 for a 1-frame video; DET 3). img/boxes of the unused slots
                                  repeat the last reference so [0, 3) is always valid */
    float im_info[3];          /* final H, final W, first resize scale (§8.5: im_info[2] keeps
                                  the first scale; MMTRACK: the x scale new_w/w) */
    int64_t epoch, position;   /* where in the epoch order */
    int64_t roidb_index;
    int set, flipped;          /* roidb entry fields */
    int frame[SELSA_TRAIN_FRAMES]; /* VID frame numbers (key, refs); DET: 0 */
    selsa_aug_record aug[SELSA_TRAIN_FRAMES]; /* what the augmentation did (if data_aug) */
} selsa_train_sample;

void selsa_train_sample_free(selsa_train_sample *s);

/* Reference frames for a VID key frame `f` of a video of `len` frames (f in [0, len)).
 * Official: two distinct offsets from [min_off, max_off] (without replacement), f + off clipped
 * to [0, len−1]; always 2 refs (they may coincide). Bilateral: one uniform frame from
 * [max(0, f−R), f−1] and one from [f+1, min(f+R, len−1)] (R = max_off), sorted; a side without
 * candidates gives none, so 1 ref at a video end (0 when len == 1). Returns the number of refs
 * written to refs[2]. */
int selsa_train_sample_refs(selsa_rng *rng, int mode, int min_off, int max_off, int f, int len,
                            int refs[2]);

/* Prepare the sample for position `position` of `epoch` (roidb entry `roidb_index`)
 * synchronously: decode key + refs (flipping as the entry says), resize (§1), augment (§8.5)
 * and resize the refs to the key's final size. For a 1-ref (bilateral) case the single ref is
 * duplicated. Errors (missing/corrupt image or ref XML) name the file. */
selsa_status selsa_train_sample_load(const selsa_roidb *db, const selsa_train_data_cfg *cfg,
                                     int64_t epoch, int64_t position, int64_t roidb_index,
                                     selsa_train_sample *out);

typedef struct selsa_train_loader selsa_train_loader;

selsa_status selsa_train_loader_open(selsa_train_loader **out, const selsa_roidb *db,
                                     const selsa_train_data_cfg *cfg);
/* (Re)start at `epoch`, position `start` (0 for a fresh epoch; a resumed run passes its
 * position). Stops the workers of the previous epoch. */
selsa_status selsa_train_loader_start_epoch(selsa_train_loader *L, int64_t epoch, int64_t start);
/* Next sample in epoch order (*out valid until the next call); *out = NULL at the end of the
 * epoch. Corrupt samples are skipped with a SELSA_LOG_WARN naming the file and counted. */
selsa_status selsa_train_loader_next(selsa_train_loader *L, const selsa_train_sample **out);
int64_t selsa_train_loader_epoch_size(const selsa_train_loader *L); /* positions this epoch */
int64_t selsa_train_loader_skipped(const selsa_train_loader *L);    /* corrupt, all epochs */
int64_t selsa_train_loader_max_ready(const selsa_train_loader *L);  /* high-water mark of
                                                                       prepared samples held */
void selsa_train_loader_close(selsa_train_loader *L);

/* PNG grid of `n_triplets` augmented samples of epoch 0 (rows; key, ref 0, ref 1 columns) with
 * their gt boxes drawn in the class colours, each tile shrunk to at most tile_w pixels wide. */
selsa_status selsa_train_data_dump_grid(const selsa_roidb *db, const selsa_train_data_cfg *cfg,
                                        int n_triplets, int tile_w, const char *png_path);

#ifdef __cplusplus
}
#endif
#endif
