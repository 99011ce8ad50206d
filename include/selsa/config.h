/* selsa — run configuration: the official SELSA YAML files (experiments/selsa/cfgs/…yaml, read
 * with libyaml exactly as they are), our presets in configs/, and key=value overrides.
 *
 * Keys are addressed by their path in the YAML tree, e.g. "TRAIN.lr", "TEST.KEY_FRAME_INTERVAL",
 * "network.PIXEL_MEANS", "SCALES". Every key the official config.py/yaml defines is either
 *   honoured  — mapped to a field of selsa_config (some only accept the value the official code
 *               supports; selsa_config_validate says which), or
 *   ignored   — accepted, reported once per load through selsa_log (INFO) with the reason.
 * Keys that are neither are an error (SELSA_ERR_FORMAT) naming the key path, file and line.
 * Our extensions (network.family, network.blocks, TEST.thresh, seed, ...) use the same tree.
 * docs/CONFIG.md lists every key (selsa_config_describe writes that table).
 *
 * Defaults are the official config.py defaults (official-selsa.md §3.3, §5, §8, §9) — NOT the
 * values of resnet_v1_101_rcnn_selsa_aug.yaml; loading that yaml gives the official run.
 *
 * Paths inside a configuration (output_path, dataset.*_path, network.pretrained, ...) are kept
 * as written; relative ones resolve from the current working directory, as in the official
 * code (not from the YAML file's folder). Only the `base:` key (a preset to start from) is
 * resolved relative to the file that contains it.
 *
 * Colour order: PIXEL_MEANS / PIXEL_STDS are in BGR order for both families (the official
 * yaml's convention); the MMTracking presets list their RGB mean/std reversed.
 *
 * The struct is plain data (fixed-size strings, no pointers): copy it by value. */
#ifndef SELSA_CONFIG_H
#define SELSA_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "selsa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SELSA_CONFIG_PATH_MAX 1024  /* bytes of every path field, including the NUL */
#define SELSA_CONFIG_NAME_MAX 64    /* bytes of short string fields */
#define SELSA_CONFIG_MAX_ANCHOR 8   /* anchor scales / ratios */
#define SELSA_CONFIG_MAX_LR_STEPS 8
#define SELSA_CONFIG_MAX_FIXED 16   /* network.FIXED_PARAMS entries */

typedef enum selsa_model_family {
    SELSA_FAMILY_OFFICIAL = 0, /* MXNet code: ResNet-v1 (Caffe style), ROIPooling, 1-head SELSA */
    SELSA_FAMILY_MMTRACK = 1   /* MMTracking: ResNet/ResNeXt DC5, ChannelMapper, RoIAlign, 16 heads */
} selsa_model_family;

typedef enum selsa_test_schedule {
    SELSA_SCHEDULE_OFFICIAL = 0, /* official §9 deque: window 2K+1 over a (shuffled) video */
    SELSA_SCHEDULE_ADAPTIVE = 1, /* MMTracking test_with_adaptive_stride: num_ref_imgs uniform */
    SELSA_SCHEDULE_ONLINE = 2    /* causal: a ring of the last online_ring frames, every stride */
} selsa_test_schedule;

typedef enum selsa_ref_sampling {
    SELSA_REF_OFFICIAL = 0,  /* two offsets in [MIN_OFFSET, MAX_OFFSET] w/o replacement, clipped */
    SELSA_REF_BILATERAL = 1  /* MMTracking bilateral_uniform: one left, one right in ±MAX_OFFSET */
} selsa_ref_sampling;

typedef enum selsa_warmup_method {
    SELSA_WARMUP_CONSTANT = 0, /* official: warmup_lr for warmup_step updates */
    SELSA_WARMUP_LINEAR = 1    /* mmcv: linear from warmup_lr to lr over warmup_step updates */
} selsa_warmup_method;

typedef struct selsa_config_network {
    selsa_model_family family;     /* network.family */
    int depth;                     /* network.depth (or from `symbol`): 50, 101, 152; other
                                      depths need network.blocks */
    bool selsa;                    /* network.selsa (or from `symbol`): false = single-frame
                                      Faster R-CNN baseline */
    int blocks[4];                 /* network.blocks: bottleneck units res2..res5; all 0 = the
                                      standard count for `depth` */
    int groups, base_width;        /* network.groups / base_width: ResNeXt (mmtrack X101: 64, 4);
                                      groups 1 = plain ResNet */
    int base_channels;             /* network.base_channels: 64 (conv1 outputs) */
    int rpn_channels;              /* network.rpn_channels: 512 (official rpn_conv_3x3 /
                                      mmtrack neck + rpn_conv) */
    int conv_new_channels;         /* network.conv_new_channels: 256 (official conv_new_1;
                                      mmtrack: = rpn_channels, the neck output) */
    int fc_dim;                    /* network.fc_dim: 1024 */
    int attention_heads;           /* network.attention_heads: 1 official, 16 mmtrack */
    double attention_qk_identity;  /* network.attention_qk_identity: 0 = the spec's N(0, 0.01)
                                      init of query/key; s > 0: both start as s·I (training from
                                      scratch: attention starts as feature similarity) */
    double attention_out_identity; /* network.attention_out_identity: 0 = the spec's N(0, 0.01)
                                      init of linear_out; s > 0: s·I (the aggregated features
                                      reach the classifier from the first update) */
    char pretrained[SELSA_CONFIG_PATH_MAX]; /* network.pretrained: ImageNet init prefix/file */
    int pretrained_epoch;          /* network.pretrained_epoch */
    double pixel_means[3];         /* network.PIXEL_MEANS, BGR */
    double pixel_stds[3];          /* network.PIXEL_STDS, BGR (official: 1, 1, 1) */
    int image_stride;              /* network.IMAGE_STRIDE: 0 (official), 16 (mmtrack pad) */
    int rpn_feat_stride;           /* network.RPN_FEAT_STRIDE: 16 (the only supported value) */
    char fixed_params[SELSA_CONFIG_MAX_FIXED][SELSA_CONFIG_NAME_MAX]; /* network.FIXED_PARAMS */
    int n_fixed_params;
    double anchor_scales[SELSA_CONFIG_MAX_ANCHOR]; int n_anchor_scales; /* ANCHOR_SCALES */
    double anchor_ratios[SELSA_CONFIG_MAX_ANCHOR]; int n_anchor_ratios; /* ANCHOR_RATIOS */
    bool normalize_rpn;            /* network.NORMALIZE_RPN: deltas ×ANCHOR_STDS +ANCHOR_MEANS */
    double anchor_means[4];        /* network.ANCHOR_MEANS */
    double anchor_stds[4];         /* network.ANCHOR_STDS */
    int num_anchors;               /* network.NUM_ANCHORS: must equal n_scales·n_ratios (0 = that) */
} selsa_config_network;

typedef struct selsa_config_dataset {
    char dataset[SELSA_CONFIG_NAME_MAX];         /* dataset.dataset: "ImageNetVID" */
    char dataset_path[SELSA_CONFIG_PATH_MAX];    /* dataset.dataset_path: ILSVRC root */
    char image_set[SELSA_CONFIG_PATH_MAX];       /* dataset.image_set: lists joined with '+' */
    char test_image_set[SELSA_CONFIG_PATH_MAX];  /* dataset.test_image_set */
    char proposal[SELSA_CONFIG_NAME_MAX];        /* dataset.proposal: "rpn" */
    char motion_iou_path[SELSA_CONFIG_PATH_MAX]; /* dataset.motion_iou_path (.mat) */
    bool enable_detailed_eval;                   /* dataset.enable_detailed_eval: slow/med/fast */
    int num_classes;                             /* dataset.NUM_CLASSES incl. background: 31 */
} selsa_config_dataset;

typedef struct selsa_config_train {
    double lr, lr_factor, momentum, wd;         /* TRAIN.lr / lr_factor / momentum / wd */
    double lr_step[SELSA_CONFIG_MAX_LR_STEPS];  /* TRAIN.lr_step: epochs ('4' -> {4}) */
    int n_lr_step;
    bool warmup;                                /* TRAIN.warmup */
    double warmup_lr;                           /* TRAIN.warmup_lr */
    int warmup_step;                            /* TRAIN.warmup_step (updates) */
    selsa_warmup_method warmup_method;          /* TRAIN.warmup_method */
    double clip_gradient;                       /* TRAIN.clip_gradient: global L2 max norm, 0 off */
    int begin_epoch, end_epoch;                 /* TRAIN.begin_epoch / end_epoch */
    char model_prefix[SELSA_CONFIG_PATH_MAX];   /* TRAIN.model_prefix (under output_path) */
    bool resume;                                /* TRAIN.RESUME */
    bool flip, shuffle, aspect_grouping;        /* TRAIN.FLIP / SHUFFLE / ASPECT_GROUPING */
    bool end2end;                               /* TRAIN.END2END: must be true */
    bool enable_ohem;                           /* TRAIN.ENABLE_OHEM */
    int batch_images;                           /* TRAIN.BATCH_IMAGES: key images per device */
    int batch_rois, batch_rois_ohem;            /* TRAIN.BATCH_ROIS (-1 = all) / BATCH_ROIS_OHEM */
    double fg_fraction, fg_thresh;              /* TRAIN.FG_FRACTION / FG_THRESH */
    double bg_thresh_hi, bg_thresh_lo;          /* TRAIN.BG_THRESH_HI / BG_THRESH_LO */
    double bbox_weights[4];                     /* TRAIN.BBOX_WEIGHTS */
    int rpn_batch_size;                         /* TRAIN.RPN_BATCH_SIZE */
    double rpn_fg_fraction;                     /* TRAIN.RPN_FG_FRACTION */
    double rpn_positive_overlap, rpn_negative_overlap; /* TRAIN.RPN_POSITIVE/NEGATIVE_OVERLAP */
    bool rpn_clobber_positives;                 /* TRAIN.RPN_CLOBBER_POSITIVES */
    double rpn_bbox_weights[4];                 /* TRAIN.RPN_BBOX_WEIGHTS */
    double rpn_nms_thresh;                      /* TRAIN.RPN_NMS_THRESH */
    int rpn_pre_nms_top_n, rpn_post_nms_top_n;  /* TRAIN.RPN_PRE/POST_NMS_TOP_N */
    double rpn_min_size;                        /* TRAIN.RPN_MIN_SIZE */
    bool bbox_normalization_precomputed;        /* TRAIN.BBOX_NORMALIZATION_PRECOMPUTED */
    double bbox_means[4], bbox_stds[4];         /* TRAIN.BBOX_MEANS / BBOX_STDS */
    bool append_gt;                             /* TRAIN.append_gt */
    int train_frames;                           /* TRAIN.train_frames: key + references (3) */
    int min_offset, max_offset;                 /* TRAIN.MIN_OFFSET / MAX_OFFSET */
    selsa_ref_sampling ref_sampling;            /* TRAIN.ref_sampling */
    bool data_aug;                              /* TRAIN.data_aug: SSD augmentation */
    bool ssd_color;                             /* TRAIN.ssd_color: photometric distortion */
    double color_factor;                        /* TRAIN.COLOR_FACTOR: must be 0 */
} selsa_config_train;

typedef struct selsa_config_test {
    bool has_rpn;                              /* TEST.HAS_RPN: must be true */
    int batch_images;                          /* TEST.BATCH_IMAGES: must be 1 */
    bool seq_nms;                              /* TEST.SEQ_NMS: must be false */
    double rpn_nms_thresh;                     /* TEST.RPN_NMS_THRESH */
    int rpn_pre_nms_top_n, rpn_post_nms_top_n; /* TEST.RPN_PRE/POST_NMS_TOP_N */
    double rpn_min_size;                       /* TEST.RPN_MIN_SIZE */
    double nms;                                /* TEST.NMS: per-class NMS IoU */
    double thresh;                             /* TEST.thresh: score threshold (official CLI
                                                  --thresh 1e-3) */
    int max_per_image;                         /* TEST.max_per_image */
    int test_epoch;                            /* TEST.test_epoch */
    int key_frame_interval;                    /* TEST.KEY_FRAME_INTERVAL: window 2K+1 */
    int sample_stride;                         /* TEST.sample_stride: must be 1 */
    bool single_frame_trans;                   /* TEST.single_frame_trans: must be false */
    bool video_shuffle;                        /* TEST.video_shuffle */
    uint64_t shuffle_seed;                     /* TEST.shuffle_seed (official: unseeded) */
    selsa_test_schedule schedule;              /* TEST.schedule */
    int num_ref_imgs;                          /* TEST.num_ref_imgs: adaptive schedule (14) */
    int online_ring;                           /* TEST.online_ring: frames kept; 0 = 2K+1 */
    int online_stride;                         /* TEST.online_stride: keep every n-th frame */
} selsa_config_test;

typedef struct selsa_config {
    char output_path[SELSA_CONFIG_PATH_MAX]; /* output_path */
    char gpus[SELSA_CONFIG_NAME_MAX];        /* gpus, as written ('0,1,2,3') */
    int num_devices;                         /* entries of gpus (>= 1). A training update sums
                                                the gradients of num_devices·TRAIN.BATCH_IMAGES
                                                key images (kvstore device, rescale_grad 1) */
    bool class_agnostic;                     /* CLASS_AGNOSTIC */
    int scale_short, scale_long;             /* SCALES: (600, 1000) */
    int threads;                             /* threads: 0 = all cores */
    uint64_t seed;                           /* seed: training sampling / augmentation */
    selsa_config_network network;
    selsa_config_dataset dataset;
    selsa_config_train train;
    selsa_config_test test;
} selsa_config;

/* The official config.py defaults (official family, R101 SELSA, see docs/CONFIG.md). */
void selsa_config_default(selsa_config *cfg);

/* Load a YAML file over `cfg` (call selsa_config_default first, or pass a config already
 * loaded to layer files). `base: FILE` inside the file loads FILE first (relative to the
 * including file's folder; at most 8 levels). Each ignored key is reported once per call at
 * INFO level: "config FILE:LINE: ignoring KEY (reason)". Errors (SELSA_ERR_FORMAT, message
 * "FILE:LINE: KEY: ..."): malformed YAML, unknown key, wrong type, wrong list length,
 * duplicate key; SELSA_ERR_IO: unreadable file; then selsa_config_validate's errors.
 * On error `cfg` may be partly updated. */
selsa_status selsa_config_load(selsa_config *cfg, const char *path);
/* The same from a string (`name` is used in messages; `base:` resolves from the cwd). */
selsa_status selsa_config_load_string(selsa_config *cfg, const char *yaml, const char *name);

/* Override one key: `value` is a YAML flow value ("10", "[600, 1000]", "false", "'0,1'").
 * Same key paths, types and messages as files (the location reads "override KEY=VALUE").
 * Ignored keys are reported (INFO) and have no effect. Does not validate the whole config:
 * call selsa_config_validate after the last override. */
selsa_status selsa_config_set(selsa_config *cfg, const char *key, const char *value);
/* "KEY=VALUE" (the CLI's --set argument). */
selsa_status selsa_config_set_arg(selsa_config *cfg, const char *key_eq_value);

/* Range and consistency checks; messages name the key path. Values the official code accepts
 * but selsa does not implement give SELSA_ERR_UNSUPPORTED. */
selsa_status selsa_config_validate(const selsa_config *cfg);

/* Write the effective configuration as YAML that selsa_config_load reads back to an equal
 * config (every honoured key, in docs order, doubles with 17 significant digits). */
selsa_status selsa_config_dump(const selsa_config *cfg, FILE *f);
selsa_status selsa_config_dump_file(const selsa_config *cfg, const char *path);

/* True if every honoured field is equal (doubles compared exactly). On a difference, writes
 * the first differing key path to `diff_key` (if not NULL, `diff_size` bytes). */
bool selsa_config_equal(const selsa_config *a, const selsa_config *b, char *diff_key,
                        size_t diff_size);

/* Key metadata. status: "honoured", "checked" (honoured; only the supported values pass
 * validation) or "ignored". origin: "official" (official yaml / config.py) or "selsa"
 * (our extension). doc: meaning, or the reason for ignoring. */
typedef struct selsa_config_key_info {
    const char *path, *type, *status, *origin, *doc;
} selsa_config_key_info;
int selsa_config_key_count(void);
/* i in [0, selsa_config_key_count()); false if out of range. */
bool selsa_config_key_get(int i, selsa_config_key_info *info);
/* Markdown table of every key: path | type | default | status | origin | meaning. */
selsa_status selsa_config_describe(FILE *f);

/* Standard bottleneck counts for a depth (50: 3,4,6,3; 101: 3,4,23,3; 152: 3,8,36,3).
 * If network.blocks is set, those are returned. SELSA_ERR_INVALID_ARG for other depths. */
selsa_status selsa_config_blocks(const selsa_config *cfg, int blocks[4]);

/* The official-family model configuration (include/selsa/model_official.h) for this run:
 * architecture, SCALES, KEY_FRAME_INTERVAL, TEST.RPN_* proposal parameters with the
 * ANCHOR_* normalisation, and TEST.thresh / NMS / max_per_image / CLASS_AGNOSTIC.
 * SELSA_ERR_UNSUPPORTED for the mmtrack family, groups > 1 or anchor lists that are not
 * 3 scales × 3 ratios. */
struct selsa_official_config;
selsa_status selsa_config_to_official(const selsa_config *cfg, struct selsa_official_config *out);

/* The MMTracking-family model configuration (include/selsa/model_mmtrack.h): architecture
 * (num_classes = NUM_CLASSES − 1 foreground classes), SCALES, TEST.RPN_* (nms_pre,
 * max_per_img, NMS, min_bbox_size), ANCHOR_*, TEST.thresh / NMS / max_per_image, BBOX_STDS,
 * TEST.num_ref_imgs / online_ring (0 = 2K+1) / online_stride. SELSA_ERR_UNSUPPORTED for the
 * official family, network.selsa false, anchors other than 4 scales × 3 ratios. */
struct selsa_mmtrack_config;
selsa_status selsa_config_to_mmtrack(const selsa_config *cfg, struct selsa_mmtrack_config *out);

#ifdef __cplusplus
}
#endif
#endif
