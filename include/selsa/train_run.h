/* selsa — a whole training run (`selsa train`; official-selsa.md §8 / the seed's
 * train_end2end.py for the official family, mmtracking-selsa.md §1.3–§1.5 / mmtrack's
 * tools/train.py for the MMTracking family): configuration -> roidb -> background loader ->
 * training steps -> checkpoints, a JSON Lines log and a loss-curve plot. `selsa train` is a thin
 * CLI over this. network.family picks the family; everything but the weights, the trainer and
 * the checkpoint format is shared (src/train/train_run.c; the families in train_run_official.c
 * and train_run_mmtrack.c behind src/train/train_run_internal.h).
 *
 * Files written under out_dir (all checkpoint writes are atomic: temp file, fsync, rename):
 *   PREFIX-EEEE.params   official family: MXNet layout (arg:/aux:), after epoch EEEE (1-based,
 *                        as MXNet's do_checkpoint), with bbox_pred_weight_test /
 *                        bbox_pred_bias_test (de-normalised by TRAIN.BBOX_STDS / BBOX_MEANS)
 *                        next to the raw normalised bbox_pred_* — loadable by `selsa test` as is;
 *   PREFIX-EEEE.pth      MMTracking family: a PyTorch zip .pth, {"meta": {"CLASSES": (30
 *                        names)}, "state_dict": every tensor under its exact MMTracking key}
 *                        (mmcv's checkpoint shape without the optimizer) — loadable by
 *                        `selsa test` / `selsa detect` and by mmtracking;
 *   PREFIX-EEEE.state    training state (momenta, counters; format below);
 *   PREFIX-last.params|pth / PREFIX-last.state   mid-epoch checkpoints (checkpoint_every, or on
 *                        request), overwritten atomically;
 *   train_log.jsonl      one JSON record per update ({"type":"step",...}) plus run/epoch/
 *                        checkpoint events; a resumed run first drops the records after its
 *                        checkpoint so the log describes one consistent run;
 *   loss.png             loss curves (rewritten at the end of every epoch);
 *   config.yaml          the effective configuration.
 *
 * Updates. One update = num_devices × TRAIN.BATCH_IMAGES key images. Official family: their
 * gradients are SUMMED (MXNet kvstore, rescale_grad 1), MXNet SGD, constant warm-up, and an
 * optional global-norm clip (TRAIN.clip_gradient, off in the official recipe).
 * MMTracking family: AVERAGED (DDP over 8 GPUs × 1 image), gradient-norm clip
 * (TRAIN.clip_gradient), PyTorch SGD, mmcv linear warm-up; TRAIN.lr_step epochs become update
 * counts epoch × ceil(positions per epoch / batch) (mmcv by-epoch steps).
 *
 * Determinism and resume. The loader delivers the sample at (epoch, position) as a pure function
 * of (seed, epoch, position) (train_data.h), and the trainer's target samplers are reseeded per
 * sample from the same triple, so the only state carried between updates is the weights, the
 * momenta and the counters. A run resumed from a checkpoint therefore performs exactly the
 * updates an uninterrupted run performs (bit-identical with the same thread count).
 *
 * State file ("SLTS", little-endian, shared by both families): "SLTS" u32 version(1) u32
 * json_len, JSON text {"epoch","position","steps","images","skipped","seed","params",
 * "elapsed_s"}, u32 n_tensors, per tensor u16 name_len, name, u64 numel, float32[numel] (the
 * momentum buffer of the trainable tensor of that name: MXNet momentum for the official family,
 * the PyTorch SGD momentum_buffer for the MMTracking family), then u32 CRC-32 (zlib) of every
 * preceding byte.
 *
 * Memory: the trainer's arenas are sized once (measuring pass at the largest sample size seen);
 * the loss history is kept at a bounded resolution (at most SELSA_TRAIN_HISTORY points, merging
 * pairs when full), so a long run does not grow memory. */
#ifndef SELSA_TRAIN_RUN_H
#define SELSA_TRAIN_RUN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "selsa/config.h"
#include "selsa/status.h"
#include "selsa/train_mmtrack.h"
#include "selsa/train_official.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SELSA_TRAIN_HISTORY 2048 /* loss-plot points kept (bounded memory) */
#define SELSA_TRAIN_SMOOTH 20    /* updates in the moving average shown by the progress bar */

/* What the progress callback sees after every update. */
typedef struct selsa_train_progress {
    int64_t epoch;          /* 0-based epoch being run */
    int64_t end_epoch;      /* TRAIN.end_epoch */
    int64_t position;       /* samples consumed in this epoch (positions, incl. skipped) */
    int64_t epoch_size;     /* positions in this epoch */
    int64_t step;           /* updates done since the start of training (resume included) */
    int64_t total_steps;    /* updates of the whole run (to end_epoch) */
    double lr;              /* learning rate of the update just done */
    selsa_official_losses last;   /* losses of the last key image (MMTracking family: cls /
                                     bbox in rcnn_cls / rcnn_bbox, positive RoIs in n_fg_rois);
                                     last_losses has the same five values */
    double last_losses[5];  /* losses of the last key image, in loss_names order */
    const char *const *loss_names; /* [5] official: rpn_cls, rpn_bbox, rcnn_cls, rcnn_bbox,
                                      total; MMTracking: rpn_cls, rpn_bbox, cls, bbox, total */
    double smooth[5];       /* moving averages (SELSA_TRAIN_SMOOTH updates) of the mean loss
                               per update, in loss_names order */
    double images_per_s;    /* key images per second since this process started training */
    double elapsed_s;       /* seconds since this process started training */
    double eta_s;           /* estimated seconds to end_epoch */
    int64_t skipped;        /* corrupt samples skipped so far (this process) */
} selsa_train_progress;

/* Return non-zero to stop the run after a checkpoint (as a stop request). */
typedef int (*selsa_train_progress_fn)(void *user, const selsa_train_progress *p);

typedef struct selsa_train_run_opts {
    const selsa_config *cfg;  /* the run (network.family official or mmtrack); copied */
    const char *out_dir;      /* checkpoints, log, plot; NULL: cfg->output_path */
    bool resume;              /* continue from the newest checkpoint in out_dir (TRAIN.RESUME) */
    int64_t checkpoint_every; /* also write PREFIX-last every N updates (0: epoch ends only) */
    int64_t max_steps;        /* stop (after a checkpoint) once this many updates are done
                                 (0: run to TRAIN.end_epoch) */
    volatile sig_atomic_t *checkpoint_request; /* non-zero: write PREFIX-last at the next update
                                                  boundary and clear it (SIGUSR1); may be NULL */
    volatile sig_atomic_t *stop_request;       /* non-zero: checkpoint and stop (SIGINT); may
                                                  be NULL */
    int n_threads;            /* compute threads (0: all cores) */
    int n_workers;            /* data loader threads (default 2 when 0; < 0: synchronous) */
    selsa_train_progress_fn progress;
    void *progress_user;
} selsa_train_run_opts;

typedef struct selsa_train_run_result {
    int64_t steps;            /* updates done in total (resume included) */
    int64_t steps_this_run;   /* updates done by this call */
    int64_t images;           /* key images trained on by this call */
    int64_t skipped;          /* corrupt samples skipped by this call */
    int64_t resumed_from;     /* update count of the checkpoint resumed from (-1: fresh start) */
    bool finished;            /* reached TRAIN.end_epoch */
    double seconds;           /* wall time of this call */
    char last_checkpoint[SELSA_CONFIG_PATH_MAX]; /* newest .params/.pth written ("" if none) */
} selsa_train_run_result;

selsa_status selsa_train_run(const selsa_train_run_opts *opts, selsa_train_run_result *result);

/* ---- building blocks (also used by tests and tools) ---- */

/* The official trainer configuration and the model configuration used for training: TEST.*
 * proposal/detection settings replaced by TRAIN.RPN_* (pre/post NMS top N, NMS, min size);
 * TRAIN.* targets, OHEM, optimiser; lr_steps from TRAIN.lr_step epochs with
 * updates_per_epoch = ceil-free int(epoch · roidb_size / batch) (official lr_iters).
 * SELSA_ERR_UNSUPPORTED for settings the trainer does not implement (no OHEM, class-specific
 * regression, the MMTracking family). */
selsa_status selsa_train_official_configs(const selsa_config *cfg, int64_t roidb_size,
                                          struct selsa_official_config *model_cfg,
                                          selsa_official_train_config *train_cfg);

/* Initial weights of a training run: selsa_official_init_weights(seed) overlaid with every
 * tensor of the ImageNet model network.pretrained (prefix -> PREFIX-EPOCH.params with
 * network.pretrained_epoch, or a file path) whose name the detector uses (shapes checked;
 * tensors the detector does not use, e.g. fc1000_*, are listed in one warning). SELSA models:
 * network.attention_qk_identity = s > 0 sets query_k/key_k to s·I and attention_out_identity
 * = t > 0 sets linear_out_k to t·I before the overlay (selsa extensions; 0 = the spec). */
selsa_status selsa_train_initial_weights(const selsa_config *cfg,
                                         const struct selsa_official_config *model_cfg,
                                         selsa_weights *out);

/* Checkpoint dictionary: `base` (every tensor of the model, arg:/aux:) with the trainer's
 * masters written in and the *_test bbox keys added. */
selsa_status selsa_train_checkpoint_weights(selsa_official_trainer *t, const selsa_weights *base,
                                            const double bbox_means[4], const double bbox_stds[4],
                                            selsa_weights *out);

/* The MMTracking trainer configuration and the model configuration used for training
 * (selsa_config_to_mmtrack: TEST.RPN_* for the reference frames' proposals):
 *   RPN assigner/sampler   TRAIN.RPN_POSITIVE_OVERLAP / RPN_NEGATIVE_OVERLAP, RPN_BATCH_SIZE,
 *                          RPN_FG_FRACTION; key-frame proposals TRAIN.RPN_POST_NMS_TOP_N (600),
 *                          the rest of the training proposal cfg must equal TEST.RPN_* (mmdet
 *                          uses nms_pre 6000, NMS 0.7, min size 0 for both);
 *   RCNN assigner/sampler  TRAIN.FG_THRESH (pos) / BG_THRESH_HI (neg), BATCH_ROIS, FG_FRACTION,
 *                          append_gt (add_gt_as_proposals);
 *   optimiser              TRAIN.lr, momentum, wd, clip_gradient, lr_factor; lr_steps =
 *                          lr_step[i] · updates_per_epoch; warm-up (TRAIN.warmup,
 *                          warmup_method linear) warmup_step updates from ratio warmup_lr / lr.
 * SELSA_ERR_UNSUPPORTED for settings this pipeline does not have (OHEM, SSD augmentation,
 * TRAIN.FLIP false, class-agnostic regression, constant warm-up, frozen stages other than
 * backbone.conv1/bn1/layer1, training-proposal NMS settings other than TEST.RPN_*). */
selsa_status selsa_train_mmtrack_configs(const selsa_config *cfg, int64_t updates_per_epoch,
                                         selsa_mmtrack_config *model_cfg,
                                         selsa_mmtrack_train_config *train_cfg);

/* State file I/O (format above). */
typedef struct selsa_train_state {
    int64_t epoch;       /* epoch to continue (0-based) */
    int64_t position;    /* first position of that epoch still to run */
    int64_t steps;       /* updates done */
    int64_t images;      /* key images trained on */
    int64_t skipped;     /* corrupt samples skipped */
    uint64_t seed;       /* cfg seed of the run (a resume with another seed is refused) */
    double elapsed_s;    /* training seconds so far */
    char params[SELSA_CONFIG_PATH_MAX]; /* the weights file written with this state (basename) */
} selsa_train_state;

/* One optimiser buffer stored in the state file: the momentum of the trainable tensor `name`. */
typedef struct selsa_train_state_tensor {
    const char *name;    /* trainable tensor name (at most 255 bytes) */
    float *data;         /* [numel] the buffer (written from / read into) */
    int64_t numel;
} selsa_train_state_tensor;

/* Write st and the n buffers (in list order). */
selsa_status selsa_train_state_write(const char *path, const selsa_train_state *st,
                                     const selsa_train_state_tensor *tensors, int n);
/* Read st; with tensors (n entries) also the buffers, matched by name: a missing, extra,
 * repeated or mis-sized tensor is SELSA_ERR_FORMAT naming it, as are a bad checksum, a
 * truncated file and trailing bytes; on any error every listed buffer is zeroed (never
 * half-loaded). tensors NULL: the header only. */
selsa_status selsa_train_state_read(const char *path, selsa_train_state *st,
                                    const selsa_train_state_tensor *tensors, int n);

/* The same for the official trainer's momenta (its trainable tensors in trainer order). */
selsa_status selsa_train_state_save(const char *path, const selsa_train_state *st,
                                    selsa_official_trainer *t);
/* t may be NULL (reads the header only). */
selsa_status selsa_train_state_load(const char *path, selsa_train_state *st,
                                    selsa_official_trainer *t);

#ifdef __cplusplus
}
#endif
#endif
