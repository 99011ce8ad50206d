/* selsa — internals of the training-run driver (include/selsa/train_run.h): what a model family
 * provides to the shared driver in train_run.c. The driver owns everything family-independent
 * (run folder and prefix, roidb, background loader, the epoch/position loop with gradient
 * accumulation, progress, signals, checkpoint naming and resume, the training-state file, the
 * JSON Lines log, the loss history and plot); a family owns its configuration mapping, initial
 * weights, trainer (forward/backward, update) and weight-file format.
 *
 * Call order (driver): configure -> initial_weights (fresh run; a resumed run loads the newest
 * checkpoint's weights instead) -> create -> state_tensors -> [set_steps after a resume] ->
 * per key image forward_backward, per update update -> checkpoint_weights + save_weights at
 * checkpoints -> destroy. */
#ifndef SELSA_TRAIN_RUN_INTERNAL_H
#define SELSA_TRAIN_RUN_INTERNAL_H

#include "selsa/context.h"
#include "selsa/train_data.h"
#include "selsa/train_run.h"
#include "selsa/weights.h"

typedef struct selsa_train_family {
    const char *name;              /* "official" / "mmtrack" (log, messages) */
    const char *weights_ext;       /* checkpoint weights extension: "params" / "pth" */
    const char *loss_names[5];     /* log keys and plot series, the last is the total */
    const char *count_key;         /* per-update count logged ("fg_rois" / "pos_rois") */
    bool roidb_flip;               /* roidb with flipped copies when TRAIN.FLIP (official); false:
                                      never (MMTracking flips in the loader) */
    bool log_grad_norm;            /* the update reports the pre-clip gradient norm */
    void *self;                    /* family state (owned; freed by destroy) */

    /* Map the configuration (validated) for a roidb of n entries whose epoch has `positions`
     * positions (batch = key images per update); fill the loader configuration *dc (whose
     * generic fields, seed/batch/workers/shuffle/grouping/scales/offsets, the driver sets
     * afterwards) and *upe, the updates per epoch used for the plot's x axis and the ETA.
     * Unsupported settings: SELSA_ERR_UNSUPPORTED naming the key. */
    selsa_status (*configure)(void *self, const selsa_config *cfg, int64_t roidb_n, int64_t positions,
                              int batch, selsa_train_data_cfg *dc, double *upe);
    /* Initial weights of a fresh run (every tensor of the model). */
    selsa_status (*initial_weights)(void *self, const selsa_config *cfg, selsa_weights *out);
    /* Build the trainer from `w` (every tensor of the model; read only). */
    selsa_status (*create)(void *self, const selsa_weights *w, selsa_ctx *ctx);
    /* The optimiser buffers stored in the state file (owned by the family, valid until destroy). */
    void (*state_tensors)(void *self, const selsa_train_state_tensor **list, int *n);
    int64_t (*steps)(void *self);
    void (*set_steps)(void *self, int64_t steps);
    /* One key image: reseed the target samplers from (seed, epoch, position), forward +
     * backward, gradients accumulated. *out: the losses in loss_names order in the slots
     * rpn_cls, rpn_bbox, rcnn_cls, rcnn_bbox, total; n_fg_rois is the count logged under
     * count_key. */
    selsa_status (*forward_backward)(void *self, const selsa_train_sample *smp, uint64_t seed, int64_t epoch,
                                     selsa_official_losses *out);
    /* One update over the n_images key images accumulated since the last one, then zero the
     * gradients (also on error). *lr: the rate used; *grad_norm: pre-clip norm (or NAN). */
    selsa_status (*update)(void *self, int n_images, double *lr, double *grad_norm);
    /* Checkpoint dictionary: `base` (every tensor of the model) with the trainer's values. */
    selsa_status (*checkpoint_weights)(void *self, const selsa_weights *base, selsa_weights *out);
    /* Write a checkpoint dictionary (atomically). */
    selsa_status (*save_weights)(const char *path, const selsa_weights *w);
    void (*destroy)(void *self);
} selsa_train_family;

/* The families (fill *f; *f owns its state until f->destroy(f->self)). */
selsa_status selsa_train_family_official(selsa_train_family *f);
selsa_status selsa_train_family_mmtrack(selsa_train_family *f);

/* dst (empty) = src without the *_test entries (skip_test) or all of it; keeps kinds and dtypes. */
selsa_status selsa_train_weights_copy(selsa_weights *dst, const selsa_weights *src, bool skip_test);
/* dst[name] := data (numel values): a trainer's master value written into a checkpoint
 * dictionary; SELSA_ERR_INTERNAL when the name is missing or the size differs. */
selsa_status selsa_train_weights_overwrite(selsa_weights *dst, const char *name, const float *data, int64_t numel);

#endif
