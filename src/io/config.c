/* selsa — configuration: key table, defaults, YAML loading (libyaml document API), key=value
 * overrides, validation, dump and the key description table (include/selsa/config.h).
 *
 * Every key is one row of `keys[]`: its path in the YAML tree, how its value is parsed into a
 * field of selsa_config (by offset), whether it is honoured or ignored, and its documentation.
 * Loading walks the YAML mappings building "SECTION.KEY" paths and looks each up in the table,
 * so files, overrides, the dump and docs/CONFIG.md all use the same rows.
 *
 * Scalar typing is close to PyYAML's YAML 1.1 rules, as the official code reads the files
 * with yaml.safe_load: booleans true/false/yes/no/on/off in any of the three spellings
 * (TRUE, True, true); numbers only from plain (unquoted) scalars. Two deliberate differences:
 * a float without a dot (1e-3) is accepted as a number (PyYAML would give a string that breaks
 * the official code), and duplicate keys in one mapping are an error (PyYAML keeps the last). */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "selsa/config.h"

_Static_assert(sizeof(selsa_model_family) == sizeof(int), "enum fields are stored as int");
_Static_assert(sizeof(selsa_test_schedule) == sizeof(int), "enum fields are stored as int");

/* ================================================================== key table ============ */

typedef enum kind {
    K_INT, K_U64, K_DBL, K_BOOL, K_STR, /* scalars */
    K_DVEC,   /* double[n], exactly n items */
    K_IVEC,   /* int[n], exactly n items */
    K_DLIST,  /* double[max] + int count, 0..max items */
    K_SLIST,  /* char[max][NAME_MAX] + int count */
    K_ENUM,   /* int from a name list */
    K_SPECIAL,
    K_IGNORED
} kind;

typedef enum kstatus { ST_HONOURED, ST_CHECKED, ST_IGNORED } kstatus;

struct pctx;
typedef struct key_def key_def;
/* Special keys parse and print themselves. */
typedef selsa_status (*apply_fn)(struct pctx *p, selsa_config *c, yaml_node_t *n, const key_def *k);
typedef void (*format_fn)(const selsa_config *c, char *buf, size_t size);

struct key_def {
    const char *path;
    kind k;
    size_t off;              /* field offset in selsa_config */
    size_t size;             /* K_STR: buffer bytes */
    int n;                   /* K_DVEC/K_IVEC: count; K_DLIST/K_SLIST: max */
    size_t n_off;            /* K_DLIST/K_SLIST: offset of the int count */
    const char *const *names;/* K_ENUM: NULL-terminated */
    apply_fn apply;          /* K_SPECIAL */
    format_fn format;        /* K_SPECIAL (NULL: not dumped, e.g. `symbol`) */
    kstatus status;
    bool official;           /* a key of the official yaml / config.py */
    const char *type;        /* for docs */
    const char *doc;         /* meaning, or the reason it is ignored */
};

static const char *const family_names[] = {"official", "mmtrack", NULL};
static const char *const schedule_names[] = {"official", "adaptive", "online", NULL};
static const char *const refsamp_names[] = {"official", "bilateral_uniform", NULL};
static const char *const warmup_names[] = {"constant", "linear", NULL};

static selsa_status apply_symbol(struct pctx *, selsa_config *, yaml_node_t *, const key_def *);
static selsa_status apply_gpus(struct pctx *, selsa_config *, yaml_node_t *, const key_def *);
static selsa_status apply_scales(struct pctx *, selsa_config *, yaml_node_t *, const key_def *);
static selsa_status apply_lr_step(struct pctx *, selsa_config *, yaml_node_t *, const key_def *);
static void format_gpus(const selsa_config *, char *, size_t);
static void format_scales(const selsa_config *, char *, size_t);
static void format_lr_step(const selsa_config *, char *, size_t);

#define OFF(f) offsetof(selsa_config, f)
#define FSZ(f) sizeof(((selsa_config *)0)->f)
#define H ST_HONOURED
#define C ST_CHECKED
#define OF true  /* official key */
#define EX false /* selsa extension */
#define E_INT(p, f, st, o, d) {p, K_INT, OFF(f), 0, 0, 0, NULL, NULL, NULL, st, o, "int", d}
#define E_U64(p, f, st, o, d) {p, K_U64, OFF(f), 0, 0, 0, NULL, NULL, NULL, st, o, "uint64", d}
#define E_DBL(p, f, st, o, d) {p, K_DBL, OFF(f), 0, 0, 0, NULL, NULL, NULL, st, o, "float", d}
#define E_BOOL(p, f, st, o, d) {p, K_BOOL, OFF(f), 0, 0, 0, NULL, NULL, NULL, st, o, "bool", d}
#define E_STR(p, f, st, o, d) {p, K_STR, OFF(f), FSZ(f), 0, 0, NULL, NULL, NULL, st, o, "string", d}
#define E_DVEC(p, f, cnt, st, o, t, d) {p, K_DVEC, OFF(f), 0, cnt, 0, NULL, NULL, NULL, st, o, t, d}
#define E_IVEC(p, f, cnt, st, o, t, d) {p, K_IVEC, OFF(f), 0, cnt, 0, NULL, NULL, NULL, st, o, t, d}
#define E_DLIST(p, f, nf, mx, st, o, t, d) \
    {p, K_DLIST, OFF(f), 0, mx, OFF(nf), NULL, NULL, NULL, st, o, t, d}
#define E_SLIST(p, f, nf, st, o, d) \
    {p, K_SLIST, OFF(f), 0, SELSA_CONFIG_MAX_FIXED, OFF(nf), NULL, NULL, NULL, st, o, "string list", d}
#define E_ENUM(p, f, nm, st, o, t, d) {p, K_ENUM, OFF(f), 0, 0, 0, nm, NULL, NULL, st, o, t, d}
#define E_SPEC(p, ap, fm, st, o, t, d) {p, K_SPECIAL, 0, 0, 0, 0, NULL, ap, fm, st, o, t, d}
#define E_IGN(p, d) {p, K_IGNORED, 0, 0, 0, 0, NULL, NULL, NULL, ST_IGNORED, OF, "any", d}

/* Order = dump order = docs order: top-level keys first, then one block per section. */
static const key_def keys[] = {
    E_IGN("MXNET_VERSION", "MXNet-specific (selects the MXNet build to import)"),
    E_STR("output_path", output_path, H, OF,
          "output folder (checkpoints, detections, results); relative to the working directory"),
    E_SPEC("symbol", apply_symbol, NULL, H, OF, "string",
           "official network symbol resnet_v1_<depth>_rcnn[_selsa]: sets network.family official, "
           "network.depth and network.selsa (not dumped: those keys are)"),
    E_SPEC("gpus", apply_gpus, format_gpus, H, OF, "string",
           "device list '0,1,2,3': its length is the number of key images (×TRAIN.BATCH_IMAGES) "
           "whose gradients are summed per update (gradient accumulation on one device)"),
    E_BOOL("CLASS_AGNOSTIC", class_agnostic, H, OF,
           "class-agnostic box regression (bbox_pred has 8 outputs)"),
    E_SPEC("SCALES", apply_scales, format_scales, H, OF, "[int, int]",
           "(short, long): resize so the short side is `short` unless the long side would exceed "
           "`long`; [[600, 1000]] (config.py's list of one pair) is accepted too"),
    E_INT("threads", threads, H, EX, "worker threads (0 = all cores); --threads overrides"),
    E_U64("seed", seed, H, EX, "seed of training sampling and augmentation"),

    E_IGN("default.frequent", "log interval of MXNet's Speedometer: selsa train logs every update to train_log.jsonl and shows a progress bar"),
    E_IGN("default.kvstore", "MXNet gradient store: selsa always sums the gradients of the "
                             "accumulated key images (kvstore 'device', rescale_grad 1)"),

    E_ENUM("network.family", network.family, family_names, H, EX, "official|mmtrack",
           "model family: the official MXNet SELSA or the MMTracking port"),
    E_INT("network.depth", network.depth, H, EX, "ResNet/ResNeXt depth (50, 101, 152)"),
    E_BOOL("network.selsa", network.selsa, H, EX,
           "true: SELSA aggregation; false: single-frame Faster R-CNN baseline"),
    E_IVEC("network.blocks", network.blocks, 4, H, EX, "[int]*4",
           "bottleneck units in res2..res5; [0, 0, 0, 0] = the standard count for the depth"),
    E_INT("network.groups", network.groups, C, EX, "ResNeXt groups (1 = ResNet; mmtrack X101: 64)"),
    E_INT("network.base_width", network.base_width, H, EX, "ResNeXt base width (X101 64x4d: 4; ResNet: 64)"),
    E_INT("network.base_channels", network.base_channels, H, EX, "conv1 output channels"),
    E_INT("network.rpn_channels", network.rpn_channels, H, EX,
          "rpn_conv_3x3 channels (mmtrack: ChannelMapper neck and rpn_conv)"),
    E_INT("network.conv_new_channels", network.conv_new_channels, H, EX,
          "official conv_new_1 channels (the RoI feature depth)"),
    E_INT("network.fc_dim", network.fc_dim, H, EX, "fc_new_1/2 and attention width"),
    E_DBL("network.attention_qk_identity", network.attention_qk_identity, H, EX,
          "training from scratch: initialise the SELSA query/key projections as s*I (0: N(0, 0.01) as the spec)"),
    E_DBL("network.attention_out_identity", network.attention_out_identity, H, EX,
          "training: initialise the SELSA output projections (linear_out) as s*I (0: N(0, 0.01) as the spec)"),
    E_INT("network.attention_heads", network.attention_heads, C, EX,
          "SELSA attention groups (official 1, mmtrack 16); must divide fc_dim"),
    E_STR("network.pretrained", network.pretrained, H, OF,
          "ImageNet initialisation (checkpoint prefix or file) for training"),
    E_INT("network.pretrained_epoch", network.pretrained_epoch, H, OF,
          "epoch of the pretrained prefix (PREFIX-%04d.params)"),
    E_DVEC("network.PIXEL_MEANS", network.pixel_means, 3, H, OF, "[float]*3",
           "mean subtracted from the image, BGR order"),
    E_DVEC("network.PIXEL_STDS", network.pixel_stds, 3, H, EX, "[float]*3",
           "divisor after the mean, BGR order (official: none = 1)"),
    E_INT("network.IMAGE_STRIDE", network.image_stride, H, OF,
          "pad H and W up to a multiple of this (0 = no padding)"),
    E_IGN("network.RCNN_FEAT_STRIDE", "not read by the official symbol: the ROIPooling spatial "
                                      "scale is fixed at 1/16 as in the official code"),
    E_INT("network.RPN_FEAT_STRIDE", network.rpn_feat_stride, C, OF,
          "anchor stride; must be 16 (the backbone's stride)"),
    E_SLIST("network.FIXED_PARAMS", network.fixed_params, network.n_fixed_params, H, OF,
            "parameter-name prefixes frozen in training (`bn`: every BatchNorm)"),
    E_DLIST("network.ANCHOR_SCALES", network.anchor_scales, network.n_anchor_scales,
            SELSA_CONFIG_MAX_ANCHOR, H, OF, "[float]", "anchor scales (× stride 16)"),
    E_DLIST("network.ANCHOR_RATIOS", network.anchor_ratios, network.n_anchor_ratios,
            SELSA_CONFIG_MAX_ANCHOR, H, OF, "[float]", "anchor aspect ratios h/w"),
    E_BOOL("network.NORMALIZE_RPN", network.normalize_rpn, H, OF,
           "RPN deltas are normalised by ANCHOR_MEANS/ANCHOR_STDS"),
    E_DVEC("network.ANCHOR_MEANS", network.anchor_means, 4, H, OF, "[float]*4",
           "RPN delta means"),
    E_DVEC("network.ANCHOR_STDS", network.anchor_stds, 4, H, OF, "[float]*4", "RPN delta stds"),
    E_INT("network.NUM_ANCHORS", network.num_anchors, C, OF,
          "must equal len(ANCHOR_SCALES)·len(ANCHOR_RATIOS) (0 = that product)"),

    E_INT("dataset.NUM_CLASSES", dataset.num_classes, H, OF, "classes including background"),
    E_STR("dataset.dataset", dataset.dataset, C, OF,
          "dataset class; must be ImageNetVID (any ILSVRC-layout folder, e.g. `selsa synth`)"),
    E_STR("dataset.dataset_path", dataset.dataset_path, H, OF,
          "ILSVRC root (Data/, Annotations/, ImageSets/); relative to the working directory"),
    E_STR("dataset.image_set", dataset.image_set, H, OF,
          "training lists under ImageSets, joined with '+'"),
    E_IGN("dataset.root_path",
          "root of the official roidb/result cache (root_path/cache): selsa keeps no cache"),
    E_STR("dataset.test_image_set", dataset.test_image_set, H, OF, "test list under ImageSets"),
    E_STR("dataset.proposal", dataset.proposal, C, OF, "proposal source; must be rpn"),
    E_STR("dataset.motion_iou_path", dataset.motion_iou_path, H, OF,
          "motion-IoU .mat for the slow/medium/fast evaluation; relative to the working directory"),
    E_BOOL("dataset.enable_detailed_eval", dataset.enable_detailed_eval, H, OF,
           "also evaluate by motion speed (slow/medium/fast)"),

    E_IGN("TRAIN.single_frame", "not read by the official SELSA code (the symbol and "
                                "network.selsa decide)"),
    E_DBL("TRAIN.lr", train.lr, H, OF, "base learning rate (SGD)"),
    E_SPEC("TRAIN.lr_step", apply_lr_step, format_lr_step, H, OF, "string|[float]",
           "epochs after which the lr is multiplied by lr_factor ('4', '2,5' or a list)"),
    E_DBL("TRAIN.lr_factor", train.lr_factor, H, OF, "lr decay factor at each lr_step"),
    E_DBL("TRAIN.momentum", train.momentum, H, OF, "SGD momentum"),
    E_DBL("TRAIN.wd", train.wd, H, OF, "weight decay (on *_weight and *_gamma parameters only)"),
    E_BOOL("TRAIN.warmup", train.warmup, H, OF, "use a warm-up phase"),
    E_DBL("TRAIN.warmup_lr", train.warmup_lr, H, OF, "warm-up (starting) learning rate"),
    E_INT("TRAIN.warmup_step", train.warmup_step, H, OF, "warm-up length in updates"),
    E_ENUM("TRAIN.warmup_method", train.warmup_method, warmup_names, H, EX, "constant|linear",
           "constant (official) or linear (mmcv) warm-up"),
    E_DBL("TRAIN.clip_gradient", train.clip_gradient, H, EX,
          "global L2 gradient-norm clip, both families (0 = none, the official recipe; mmtrack 35)"),
    E_INT("TRAIN.begin_epoch", train.begin_epoch, H, OF, "first epoch (resume point)"),
    E_INT("TRAIN.end_epoch", train.end_epoch, H, OF, "training stops before this epoch"),
    E_STR("TRAIN.model_prefix", train.model_prefix, H, OF,
          "checkpoint prefix under output_path (PREFIX-%04d.params)"),
    E_BOOL("TRAIN.RESUME", train.resume, H, OF, "resume from begin_epoch's checkpoint"),
    E_BOOL("TRAIN.FLIP", train.flip, H, OF, "add horizontally flipped copies of every entry"),
    E_BOOL("TRAIN.SHUFFLE", train.shuffle, H, OF, "shuffle the training entries every epoch"),
    E_BOOL("TRAIN.ENABLE_OHEM", train.enable_ohem, H, OF,
           "online hard example mining over the key frame's RoIs"),
    E_INT("TRAIN.BATCH_IMAGES", train.batch_images, H, OF, "key images per device per update"),
    E_BOOL("TRAIN.END2END", train.end2end, C, OF, "end-to-end training; must be true"),
    E_BOOL("TRAIN.ASPECT_GROUPING", train.aspect_grouping, H, OF,
           "batch landscape and portrait images separately"),
    E_INT("TRAIN.BATCH_ROIS", train.batch_rois, H, OF,
          "sampled RoIs per image (-1 = all proposals, no fg/bg subsampling)"),
    E_INT("TRAIN.BATCH_ROIS_OHEM", train.batch_rois_ohem, H, OF, "RoIs kept by OHEM"),
    E_DBL("TRAIN.FG_FRACTION", train.fg_fraction, H, OF,
          "foreground fraction when BATCH_ROIS > 0"),
    E_DBL("TRAIN.FG_THRESH", train.fg_thresh, H, OF, "RoI IoU >= this is foreground"),
    E_DBL("TRAIN.BG_THRESH_HI", train.bg_thresh_hi, H, OF, "background IoU upper bound"),
    E_DBL("TRAIN.BG_THRESH_LO", train.bg_thresh_lo, H, OF, "background IoU lower bound"),
    E_IGN("TRAIN.BBOX_REGRESSION_THRESH",
          "not read by the official end-to-end code (official-selsa.md §8.6)"),
    E_DVEC("TRAIN.BBOX_WEIGHTS", train.bbox_weights, 4, H, OF, "[float]*4",
           "RCNN box-loss weights of foreground RoIs"),
    E_INT("TRAIN.RPN_BATCH_SIZE", train.rpn_batch_size, H, OF, "anchors sampled per image"),
    E_DBL("TRAIN.RPN_FG_FRACTION", train.rpn_fg_fraction, H, OF,
          "maximum positive fraction of the sampled anchors"),
    E_DBL("TRAIN.RPN_POSITIVE_OVERLAP", train.rpn_positive_overlap, H, OF,
          "anchor IoU >= this is positive"),
    E_DBL("TRAIN.RPN_NEGATIVE_OVERLAP", train.rpn_negative_overlap, H, OF,
          "anchor IoU < this is negative"),
    E_BOOL("TRAIN.RPN_CLOBBER_POSITIVES", train.rpn_clobber_positives, H, OF,
           "negatives override positives"),
    E_DVEC("TRAIN.RPN_BBOX_WEIGHTS", train.rpn_bbox_weights, 4, H, OF, "[float]*4",
           "RPN box-loss weights of positive anchors"),
    E_IGN("TRAIN.RPN_POSITIVE_WEIGHT", "not read by the official code (official-selsa.md §8.6)"),
    E_IGN("TRAIN.CXX_PROPOSAL", "selects MXNet's C++ Proposal op over the Python one: selsa "
                                "always uses its C implementation of the MXNet operator"),
    E_DBL("TRAIN.RPN_NMS_THRESH", train.rpn_nms_thresh, H, OF, "training proposal NMS IoU"),
    E_INT("TRAIN.RPN_PRE_NMS_TOP_N", train.rpn_pre_nms_top_n, H, OF,
          "training proposals kept before NMS"),
    E_INT("TRAIN.RPN_POST_NMS_TOP_N", train.rpn_post_nms_top_n, H, OF,
          "training proposals per frame after NMS"),
    E_DBL("TRAIN.RPN_MIN_SIZE", train.rpn_min_size, H, OF,
          "training proposal minimum size (× image scale)"),
    E_BOOL("TRAIN.BBOX_NORMALIZATION_PRECOMPUTED", train.bbox_normalization_precomputed, C, OF,
           "box targets normalised by BBOX_MEANS/BBOX_STDS; must be true"),
    E_DVEC("TRAIN.BBOX_MEANS", train.bbox_means, 4, H, OF, "[float]*4", "RCNN box target means"),
    E_DVEC("TRAIN.BBOX_STDS", train.bbox_stds, 4, H, OF, "[float]*4", "RCNN box target stds"),
    E_BOOL("TRAIN.append_gt", train.append_gt, H, OF, "add the ground-truth boxes to the RoIs"),
    E_INT("TRAIN.train_frames", train.train_frames, H, OF,
          "frames per training sample (key + references)"),
    E_INT("TRAIN.MIN_OFFSET", train.min_offset, H, OF, "smallest reference-frame offset"),
    E_INT("TRAIN.MAX_OFFSET", train.max_offset, H, OF, "largest reference-frame offset"),
    E_ENUM("TRAIN.ref_sampling", train.ref_sampling, refsamp_names, H, EX,
           "official|bilateral_uniform", "reference-frame sampling rule"),
    E_BOOL("TRAIN.data_aug", train.data_aug, H, OF, "SSD-style augmentation (expand, crop)"),
    E_IGN("TRAIN.ssd_aug", "not read anywhere in the official code (official-selsa.md §8.5)"),
    E_IGN("TRAIN.TRANS_FACTOR", "not read anywhere in the official code (official-selsa.md §8.5)"),
    E_DBL("TRAIN.COLOR_FACTOR", train.color_factor, C, OF,
          "official color_transform factor; must be 0 (a no-op in the official run)"),
    E_BOOL("TRAIN.ssd_color", train.ssd_color, H, OF,
           "photometric distortion inside the SSD augmentation"),

    E_BOOL("TEST.HAS_RPN", test.has_rpn, C, OF, "proposals from the RPN; must be true"),
    E_INT("TEST.BATCH_IMAGES", test.batch_images, C, OF, "must be 1"),
    E_BOOL("TEST.SEQ_NMS", test.seq_nms, C, OF, "sequence NMS; must be false"),
    E_IGN("TEST.CXX_PROPOSAL", "selects MXNet's C++ Proposal op over the Python one: selsa "
                               "always uses its C implementation of the MXNet operator"),
    E_DBL("TEST.RPN_NMS_THRESH", test.rpn_nms_thresh, H, OF,
          "test proposal NMS IoU (see docs: the official test graph reads TRAIN.RPN_*)"),
    E_INT("TEST.RPN_PRE_NMS_TOP_N", test.rpn_pre_nms_top_n, H, OF, "test proposals before NMS"),
    E_INT("TEST.RPN_POST_NMS_TOP_N", test.rpn_post_nms_top_n, H, OF,
          "test proposals per frame (R)"),
    E_DBL("TEST.RPN_MIN_SIZE", test.rpn_min_size, H, OF, "test proposal minimum size"),
    E_IGN("TEST.PROPOSAL_NMS_THRESH", "only for the official stand-alone RPN proposal generation"),
    E_IGN("TEST.PROPOSAL_PRE_NMS_TOP_N", "only for the official stand-alone RPN proposal generation"),
    E_IGN("TEST.PROPOSAL_POST_NMS_TOP_N", "only for the official stand-alone RPN proposal generation"),
    E_IGN("TEST.PROPOSAL_MIN_SIZE", "only for the official stand-alone RPN proposal generation"),
    E_DBL("TEST.NMS", test.nms, H, OF, "per-class NMS IoU of the detections"),
    E_DBL("TEST.thresh", test.thresh, H, EX, "score threshold (official test.py --thresh)"),
    E_INT("TEST.max_per_image", test.max_per_image, H, OF,
          "detections kept per frame over all classes (<= 0: no limit)"),
    E_INT("TEST.test_epoch", test.test_epoch, H, OF, "checkpoint epoch tested"),
    E_INT("TEST.KEY_FRAME_INTERVAL", test.key_frame_interval, H, OF,
          "K: the official window has 2K+1 frames, key at index K"),
    E_INT("TEST.sample_stride", test.sample_stride, C, OF, "must be 1"),
    E_BOOL("TEST.single_frame_trans", test.single_frame_trans, C, OF, "must be false"),
    E_BOOL("TEST.video_shuffle", test.video_shuffle, H, OF,
           "visit each video's frames in a random permutation (official schedule)"),
    E_U64("TEST.shuffle_seed", test.shuffle_seed, H, EX,
          "seed of video_shuffle (the official code is unseeded)"),
    E_ENUM("TEST.schedule", test.schedule, schedule_names, H, EX, "official|adaptive|online",
           "support frames: official deque window, mmtrack adaptive stride, or causal online ring"),
    E_INT("TEST.num_ref_imgs", test.num_ref_imgs, H, EX,
          "adaptive schedule: uniformly spaced support frames per video (mmtrack 14)"),
    E_INT("TEST.online_ring", test.online_ring, H, EX,
          "online schedule: past frames kept (0 = 2·KEY_FRAME_INTERVAL+1)"),
    E_INT("TEST.online_stride", test.online_stride, H, EX,
          "online schedule: keep every n-th frame in the ring"),
};
#undef H
#undef C
#define NKEYS ((int)(sizeof keys / sizeof keys[0]))

/* ================================================================== defaults ============= */

void selsa_config_default(selsa_config *c) {
    memset(c, 0, sizeof *c);
    /* Values the spec states as config.py defaults are marked (config.py); the others are
     * the official run's values (resnet_v1_101_rcnn_selsa_aug.yaml, official-selsa.md §8–§9). */
    strcpy(c->gpus, "0");
    c->num_devices = 1;
    c->class_agnostic = true;
    c->scale_short = 600;
    c->scale_long = 1000;
    c->threads = 0;
    c->seed = 0;

    selsa_config_network *n = &c->network;
    n->family = SELSA_FAMILY_OFFICIAL;
    n->depth = 101;
    n->selsa = true;
    n->groups = 1;
    n->base_width = 64; /* ResNet bottleneck (mmdet base_width 64 with groups 1) */
    n->base_channels = 64;
    n->rpn_channels = 512;
    n->conv_new_channels = 256;
    n->fc_dim = 1024;
    n->attention_heads = 1;
    n->pretrained_epoch = 0;
    n->pixel_means[0] = 103.06; /* BGR */
    n->pixel_means[1] = 115.90;
    n->pixel_means[2] = 123.15;
    for (int i = 0; i < 3; i++) n->pixel_stds[i] = 1.0;
    n->image_stride = 0;
    n->rpn_feat_stride = 16;
    const char *fixed[3] = {"conv1", "res2", "bn"};
    for (int i = 0; i < 3; i++) strcpy(n->fixed_params[i], fixed[i]);
    n->n_fixed_params = 3;
    const double sc[3] = {8, 16, 32}, ra[3] = {0.5, 1, 2};
    memcpy(n->anchor_scales, sc, sizeof sc);
    memcpy(n->anchor_ratios, ra, sizeof ra);
    n->n_anchor_scales = n->n_anchor_ratios = 3;
    n->normalize_rpn = true;
    n->anchor_stds[0] = n->anchor_stds[1] = 0.1;
    n->anchor_stds[2] = n->anchor_stds[3] = 0.4;
    n->num_anchors = 9;

    selsa_config_dataset *d = &c->dataset;
    strcpy(d->dataset, "ImageNetVID");
    strcpy(d->dataset_path, "./data/ILSVRC");
    strcpy(d->image_set, "DET_train_30classes+VID_train_15frames");
    strcpy(d->test_image_set, "VID_val_videos");
    strcpy(d->proposal, "rpn");
    strcpy(d->motion_iou_path, "./lib/dataset/imagenet_vid_groundtruth_motion_iou.mat");
    d->enable_detailed_eval = true;
    d->num_classes = 31;

    selsa_config_train *t = &c->train;
    t->lr = 0.00025;
    t->lr_step[0] = 4;
    t->n_lr_step = 1;
    t->lr_factor = 0.1;  /* config.py */
    t->momentum = 0.9;   /* config.py */
    t->wd = 0.0005;      /* config.py */
    t->warmup = false;
    t->warmup_method = SELSA_WARMUP_CONSTANT;
    t->begin_epoch = 0;
    t->end_epoch = 6;
    strcpy(t->model_prefix, "selsa_rcnn_vid");
    t->flip = t->shuffle = t->aspect_grouping = true;
    t->end2end = true;
    t->enable_ohem = true;
    t->batch_images = 1;
    t->batch_rois = -1;
    t->batch_rois_ohem = 128;
    t->fg_fraction = 0.25;
    t->fg_thresh = 0.5;
    t->bg_thresh_hi = 0.5;
    t->bg_thresh_lo = 0.0;
    for (int i = 0; i < 4; i++) t->bbox_weights[i] = t->rpn_bbox_weights[i] = 1.0;
    t->rpn_batch_size = 256;
    t->rpn_fg_fraction = 0.5;
    t->rpn_positive_overlap = 0.7;
    t->rpn_negative_overlap = 0.3;
    t->rpn_nms_thresh = 0.7;
    t->rpn_pre_nms_top_n = 12000; /* config.py (the yaml sets 6000) */
    t->rpn_post_nms_top_n = 2000; /* config.py (the yaml sets 300) */
    t->rpn_min_size = 16;         /* config.py = RPN_FEAT_STRIDE (the yaml sets 0) */
    t->bbox_normalization_precomputed = true;
    t->bbox_stds[0] = t->bbox_stds[1] = 0.1;
    t->bbox_stds[2] = t->bbox_stds[3] = 0.2;
    t->train_frames = 3; /* config.py */
    t->min_offset = -1000;
    t->max_offset = 1000;
    t->ref_sampling = SELSA_REF_OFFICIAL;
    t->data_aug = true;
    t->ssd_color = true;

    selsa_config_test *s = &c->test;
    s->has_rpn = true;
    s->batch_images = 1;
    s->rpn_nms_thresh = 0.7;
    s->rpn_pre_nms_top_n = 6000;
    s->rpn_post_nms_top_n = 300;
    s->rpn_min_size = 16;   /* config.py (the yaml sets 0) */
    s->nms = 0.3;
    s->thresh = 1e-3;       /* official test.py --thresh default */
    s->max_per_image = 300; /* config.py */
    s->test_epoch = 6;
    s->key_frame_interval = 10;
    s->sample_stride = 1;
    s->video_shuffle = true;
    s->schedule = SELSA_SCHEDULE_OFFICIAL;
    s->num_ref_imgs = 14;
    s->online_ring = 0;
    s->online_stride = 1;
}

/* ================================================================== parsing helpers ====== */

typedef struct pctx {
    const char *file;       /* file name for messages, or NULL for an override */
    const char *override;   /* "KEY=VALUE" text of an override */
    yaml_document_t *doc;
    unsigned char *reported; /* [NKEYS]: ignored key already reported in this call */
    int depth;               /* base: nesting */
} pctx;

static int node_line(const yaml_node_t *n) { return n ? (int)n->start_mark.line + 1 : 0; }

/* Error "FILE:LINE: KEY: message" (or "override K=V: KEY: message"). */
static selsa_status perr(const pctx *p, const yaml_node_t *n, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static selsa_status perr(const pctx *p, const yaml_node_t *n, const char *key, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p->file)
        return selsa_error(SELSA_ERR_FORMAT, "config %s:%d: %s: %s", p->file, node_line(n), key, msg);
    return selsa_error(SELSA_ERR_FORMAT, "config override '%s': %s: %s", p->override, key, msg);
}

static const char *sval(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }
static bool is_plain(const yaml_node_t *n) {
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}
static bool is_null(const yaml_node_t *n) {
    if (!is_plain(n)) return false;
    const char *s = sval(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* Short, printable description of a node for messages. */
static const char *describe_node(const yaml_node_t *n, char *buf, size_t size) {
    if (n->type == YAML_MAPPING_NODE) return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE) return "a list";
    const char *s = sval(n);
    snprintf(buf, size, "%s'%.60s%s'", is_plain(n) ? "" : "the quoted string ", s,
             strlen(s) > 60 ? "..." : "");
    return buf;
}

static selsa_status get_int64(pctx *p, yaml_node_t *n, const char *key, long long lo, long long hi,
                              long long *out) {
    char b[96];
    if (!is_plain(n) || !*sval(n))
        return perr(p, n, key, "expected an integer, got %s", describe_node(n, b, sizeof b));
    errno = 0;
    char *end;
    long long v = strtoll(sval(n), &end, 10);
    if (*end || errno)
        return perr(p, n, key, "expected an integer, got %s", describe_node(n, b, sizeof b));
    if (v < lo || v > hi) return perr(p, n, key, "%lld is out of range [%lld, %lld]", v, lo, hi);
    *out = v;
    return SELSA_OK;
}

static selsa_status get_int(pctx *p, yaml_node_t *n, const char *key, int *out) {
    long long v;
    SELSA_TRY(get_int64(p, n, key, INT_MIN, INT_MAX, &v));
    *out = (int)v;
    return SELSA_OK;
}

static selsa_status get_u64(pctx *p, yaml_node_t *n, const char *key, uint64_t *out) {
    char b[96];
    const char *s = is_plain(n) ? sval(n) : "";
    if (!*s || !isdigit((unsigned char)s[0]))
        return perr(p, n, key, "expected a non-negative integer, got %s",
                    describe_node(n, b, sizeof b));
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno)
        return perr(p, n, key, "expected a non-negative integer, got %s",
                    describe_node(n, b, sizeof b));
    *out = (uint64_t)v;
    return SELSA_OK;
}

static selsa_status get_double(pctx *p, yaml_node_t *n, const char *key, double *out) {
    char b[96];
    const char *s = is_plain(n) ? sval(n) : "";
    /* strtod also takes "inf"/"nan"/hex: require a digit or a dot-digit start. */
    const char *q = s + (*s == '+' || *s == '-');
    if (!(isdigit((unsigned char)*q) || (*q == '.' && isdigit((unsigned char)q[1]))))
        return perr(p, n, key, "expected a number, got %s", describe_node(n, b, sizeof b));
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (*end || !isfinite(v) || (q[0] == '0' && (q[1] == 'x' || q[1] == 'X')))
        return perr(p, n, key, "expected a finite number, got %s", describe_node(n, b, sizeof b));
    *out = v;
    return SELSA_OK;
}

static selsa_status get_bool(pctx *p, yaml_node_t *n, const char *key, bool *out) {
    static const char *const t[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "1"};
    static const char *const f[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "0"};
    if (is_plain(n)) {
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
            if (!strcmp(sval(n), t[i])) { *out = true; return SELSA_OK; }
            if (!strcmp(sval(n), f[i])) { *out = false; return SELSA_OK; }
        }
    }
    char b[96];
    return perr(p, n, key, "expected a boolean (true/false), got %s", describe_node(n, b, sizeof b));
}

static selsa_status get_str(pctx *p, yaml_node_t *n, const char *key, char *dst, size_t size) {
    char b[96];
    if (n->type != YAML_SCALAR_NODE)
        return perr(p, n, key, "expected a string, got %s", describe_node(n, b, sizeof b));
    const char *s = is_null(n) ? "" : sval(n);
    size_t len = strlen(s);
    if (len >= size) return perr(p, n, key, "string of %zu bytes is longer than %zu", len, size - 1);
    memcpy(dst, s, len + 1);
    return SELSA_OK;
}

/* Sequence items: returns the count, fills items (up to cap). */
static int seq_items(pctx *p, yaml_node_t *n, yaml_node_t **items, int cap) {
    int cnt = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        if (cnt < cap) items[cnt] = yaml_document_get_node(p->doc, *it);
        cnt++;
    }
    return cnt;
}

static selsa_status need_seq(pctx *p, yaml_node_t *n, const char *key, int lo, int hi, int *cnt,
                             yaml_node_t **items) {
    char b[96];
    if (n->type != YAML_SEQUENCE_NODE)
        return perr(p, n, key, "expected a list, got %s", describe_node(n, b, sizeof b));
    *cnt = seq_items(p, n, items, hi);
    if (*cnt < lo || *cnt > hi) {
        if (lo == hi) return perr(p, n, key, "expected a list of %d items, got %d", lo, *cnt);
        return perr(p, n, key, "expected a list of %d to %d items, got %d", lo, hi, *cnt);
    }
    return SELSA_OK;
}

/* ================================================================== special keys ========= */

static selsa_status apply_symbol(pctx *p, selsa_config *c, yaml_node_t *n, const key_def *k) {
    char s[SELSA_CONFIG_NAME_MAX];
    SELSA_TRY(get_str(p, n, k->path, s, sizeof s));
    int depth = 0, used = 0;
    char tail[SELSA_CONFIG_NAME_MAX] = "";
    if (sscanf(s, "resnet_v1_%d_rcnn%n", &depth, &used) != 1 || used == 0)
        return perr(p, n, k->path,
                    "unknown symbol '%s' (expected resnet_v1_<depth>_rcnn or "
                    "resnet_v1_<depth>_rcnn_selsa)", s);
    snprintf(tail, sizeof tail, "%s", s + used);
    if (strcmp(tail, "") && strcmp(tail, "_selsa"))
        return perr(p, n, k->path, "unknown symbol '%s' (suffix '%s'; expected '' or '_selsa')", s,
                    tail);
    c->network.family = SELSA_FAMILY_OFFICIAL;
    c->network.depth = depth;
    c->network.selsa = !strcmp(tail, "_selsa");
    return SELSA_OK;
}

static selsa_status apply_gpus(pctx *p, selsa_config *c, yaml_node_t *n, const key_def *k) {
    char s[SELSA_CONFIG_NAME_MAX];
    SELSA_TRY(get_str(p, n, k->path, s, sizeof s)); /* 0 (an int in PyYAML) reads as "0" */
    /* The official code does [int(i) for i in gpus.split(',')]. */
    int count = 0;
    const char *q = s;
    for (;;) {
        const char *e = strchr(q, ',');
        size_t len = e ? (size_t)(e - q) : strlen(q);
        char item[32];
        if (len == 0 || len >= sizeof item)
            return perr(p, n, k->path, "'%s' is not a comma-separated list of device numbers", s);
        memcpy(item, q, len);
        item[len] = 0;
        char *end;
        long v = strtol(item, &end, 10);
        if (*end || v < 0)
            return perr(p, n, k->path, "'%s' is not a comma-separated list of device numbers", s);
        count++;
        if (!e) break;
        q = e + 1;
    }
    strcpy(c->gpus, s);
    c->num_devices = count;
    return SELSA_OK;
}

static void format_gpus(const selsa_config *c, char *buf, size_t size) {
    snprintf(buf, size, "'%s'", c->gpus);
}

static selsa_status apply_scales(pctx *p, selsa_config *c, yaml_node_t *n, const key_def *k) {
    yaml_node_t *it[2];
    int cnt;
    char b[96];
    if (n->type != YAML_SEQUENCE_NODE)
        return perr(p, n, k->path, "expected [short, long], got %s", describe_node(n, b, sizeof b));
    yaml_node_t *first[2];
    int outer = seq_items(p, n, first, 2);
    if (outer >= 1 && first[0]->type == YAML_SEQUENCE_NODE) { /* [[600, 1000]] */
        if (outer != 1)
            return perr(p, n, k->path, "%d scales given; selsa supports exactly one (short, long)",
                        outer);
        n = first[0];
    }
    SELSA_TRY(need_seq(p, n, k->path, 2, 2, &cnt, it));
    int s, l;
    SELSA_TRY(get_int(p, it[0], k->path, &s));
    SELSA_TRY(get_int(p, it[1], k->path, &l));
    c->scale_short = s;
    c->scale_long = l;
    return SELSA_OK;
}

static void format_scales(const selsa_config *c, char *buf, size_t size) {
    snprintf(buf, size, "[%d, %d]", c->scale_short, c->scale_long);
}

static void fmt_double(double v, char *buf, size_t size);

static selsa_status apply_lr_step(pctx *p, selsa_config *c, yaml_node_t *n, const key_def *k) {
    double v[SELSA_CONFIG_MAX_LR_STEPS];
    int cnt = 0;
    if (n->type == YAML_SEQUENCE_NODE) {
        yaml_node_t *it[SELSA_CONFIG_MAX_LR_STEPS];
        SELSA_TRY(need_seq(p, n, k->path, 0, SELSA_CONFIG_MAX_LR_STEPS, &cnt, it));
        for (int i = 0; i < cnt; i++) SELSA_TRY(get_double(p, it[i], k->path, &v[i]));
    } else if (n->type == YAML_SCALAR_NODE) {
        /* official: [float(e) for e in lr_step.split(',')]; '' = no steps */
        char s[256];
        SELSA_TRY(get_str(p, n, k->path, s, sizeof s));
        const char *q = s;
        while (*s) {
            const char *e = strchr(q, ',');
            char item[64];
            size_t len = e ? (size_t)(e - q) : strlen(q);
            if (cnt == SELSA_CONFIG_MAX_LR_STEPS)
                return perr(p, n, k->path, "more than %d steps", SELSA_CONFIG_MAX_LR_STEPS);
            if (len == 0 || len >= sizeof item)
                return perr(p, n, k->path, "'%s' is not a comma-separated list of epochs", s);
            memcpy(item, q, len);
            item[len] = 0;
            char *end;
            errno = 0;
            v[cnt] = strtod(item, &end);
            if (*end || errno || !isfinite(v[cnt]))
                return perr(p, n, k->path, "'%s' is not a comma-separated list of epochs", s);
            cnt++;
            if (!e) break;
            q = e + 1;
        }
    } else {
        return perr(p, n, k->path, "expected '4,6' or a list of epochs, got a mapping");
    }
    memcpy(c->train.lr_step, v, sizeof(double) * (size_t)cnt);
    c->train.n_lr_step = cnt;
    return SELSA_OK;
}

static void format_lr_step(const selsa_config *c, char *buf, size_t size) {
    size_t o = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < c->train.n_lr_step && o < size; i++) {
        char d[40];
        fmt_double(c->train.lr_step[i], d, sizeof d);
        o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? ", " : "", d);
    }
    if (o < size) snprintf(buf + o, size - o, "]");
}

/* ================================================================== applying a key ======= */

static const key_def *find_key(const char *path) {
    for (int i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].path, path)) return &keys[i];
    return NULL;
}

/* True if `prefix` is a section (some key path starts with "prefix."). */
static bool is_section(const char *prefix) {
    size_t n = strlen(prefix);
    for (int i = 0; i < NKEYS; i++)
        if (!strncmp(keys[i].path, prefix, n) && keys[i].path[n] == '.') return true;
    return false;
}

static const char *suggest(const char *path) {
    for (int i = 0; i < NKEYS; i++)
        if (!strcasecmp(keys[i].path, path)) return keys[i].path;
    return NULL;
}

static selsa_status apply_key(pctx *p, selsa_config *c, const key_def *k, yaml_node_t *n) {
    char *base = (char *)c + k->off;
    switch (k->k) {
    case K_INT: return get_int(p, n, k->path, (int *)base);
    case K_U64: return get_u64(p, n, k->path, (uint64_t *)base);
    case K_DBL: return get_double(p, n, k->path, (double *)base);
    case K_BOOL: return get_bool(p, n, k->path, (bool *)base);
    case K_STR: return get_str(p, n, k->path, base, k->size);
    case K_DVEC:
    case K_IVEC: {
        yaml_node_t *it[8];
        int cnt;
        SELSA_TRY(need_seq(p, n, k->path, k->n, k->n, &cnt, it));
        double dv[8];
        int iv[8];
        for (int i = 0; i < cnt; i++) {
            if (k->k == K_DVEC) SELSA_TRY(get_double(p, it[i], k->path, &dv[i]));
            else SELSA_TRY(get_int(p, it[i], k->path, &iv[i]));
        }
        if (k->k == K_DVEC) memcpy(base, dv, sizeof(double) * (size_t)cnt);
        else memcpy(base, iv, sizeof(int) * (size_t)cnt);
        return SELSA_OK;
    }
    case K_DLIST: {
        yaml_node_t *it[SELSA_CONFIG_MAX_ANCHOR];
        double dv[SELSA_CONFIG_MAX_ANCHOR];
        int cnt;
        SELSA_TRY(need_seq(p, n, k->path, 1, k->n, &cnt, it));
        for (int i = 0; i < cnt; i++) SELSA_TRY(get_double(p, it[i], k->path, &dv[i]));
        memcpy(base, dv, sizeof(double) * (size_t)cnt);
        *(int *)((char *)c + k->n_off) = cnt;
        return SELSA_OK;
    }
    case K_SLIST: {
        yaml_node_t *it[SELSA_CONFIG_MAX_FIXED];
        char sv[SELSA_CONFIG_MAX_FIXED][SELSA_CONFIG_NAME_MAX];
        int cnt;
        SELSA_TRY(need_seq(p, n, k->path, 0, k->n, &cnt, it));
        for (int i = 0; i < cnt; i++) SELSA_TRY(get_str(p, it[i], k->path, sv[i], sizeof sv[i]));
        memcpy(base, sv, sizeof sv[0] * (size_t)cnt);
        *(int *)((char *)c + k->n_off) = cnt;
        return SELSA_OK;
    }
    case K_ENUM: {
        char b[96];
        if (n->type == YAML_SCALAR_NODE)
            for (int i = 0; k->names[i]; i++)
                if (!strcmp(sval(n), k->names[i])) { *(int *)base = i; return SELSA_OK; }
        return perr(p, n, k->path, "expected one of %s, got %s", k->type,
                    describe_node(n, b, sizeof b));
    }
    case K_SPECIAL: return k->apply(p, c, n, k);
    case K_IGNORED: {
        int idx = (int)(k - keys);
        if (!p->reported[idx]) {
            p->reported[idx] = 1;
            if (p->file)
                selsa_log(SELSA_LOG_INFO, "config %s:%d: ignoring %s (%s)", p->file, node_line(n),
                          k->path, k->doc);
            else
                selsa_log(SELSA_LOG_INFO, "config override '%s': ignoring %s (%s)", p->override,
                          k->path, k->doc);
        }
        return SELSA_OK;
    }
    }
    return selsa_error(SELSA_ERR_INTERNAL, "config: key %s has no kind", k->path);
}

static selsa_status load_text(selsa_config *c, const char *text, size_t len, const char *name,
                              const char *dir, unsigned char *reported, int depth);

/* Walk one mapping whose keys are children of `prefix` ("" for the root). */
static selsa_status walk_mapping(pctx *p, selsa_config *c, yaml_node_t *map, const char *prefix) {
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
        yaml_node_t *kn = yaml_document_get_node(p->doc, pr->key);
        yaml_node_t *vn = yaml_document_get_node(p->doc, pr->value);
        if (kn->type != YAML_SCALAR_NODE)
            return perr(p, kn, *prefix ? prefix : "(root)", "mapping keys must be plain names");
        char path[256];
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", sval(kn));
        /* duplicates inside this mapping */
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < pr; q++) {
            yaml_node_t *qk = yaml_document_get_node(p->doc, q->key);
            if (qk->type == YAML_SCALAR_NODE && !strcmp(sval(qk), sval(kn)))
                return perr(p, kn, path, "duplicate key (first at line %d)", node_line(qk));
        }
        if (!*prefix && !strcmp(sval(kn), "base")) continue; /* handled by the caller */
        const key_def *k = find_key(path);
        if (k) {
            SELSA_TRY(apply_key(p, c, k, vn));
            continue;
        }
        if (is_section(path)) {
            if (vn->type != YAML_MAPPING_NODE) {
                if (is_null(vn)) continue; /* "TEST:" with nothing under it */
                char b[96];
                return perr(p, vn, path, "is a section: expected a mapping, got %s",
                            describe_node(vn, b, sizeof b));
            }
            SELSA_TRY(walk_mapping(p, c, vn, path));
            continue;
        }
        const char *s = suggest(path);
        if (s) return perr(p, kn, path, "unknown key (did you mean %s?)", s);
        return perr(p, kn, path, "unknown key (docs/CONFIG.md lists every key)");
    }
    return SELSA_OK;
}

static selsa_status read_file_text(const char *path, char **out, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return selsa_error(SELSA_ERR_IO, "config %s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) { fclose(f); return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "config %s: out of memory", path); }
    size_t r;
    while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            if (cap >= ((size_t)64 << 20)) {
                free(buf);
                fclose(f);
                return selsa_error(SELSA_ERR_FORMAT, "config %s: larger than 64 MiB", path);
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); fclose(f); return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "config %s: out of memory", path); }
            buf = nb;
            cap *= 2;
        }
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) { free(buf); return selsa_error(SELSA_ERR_IO, "config %s: read error", path); }
    *out = buf;
    *len = n;
    return SELSA_OK;
}

static selsa_status load_path(selsa_config *c, const char *path, unsigned char *reported, int depth) {
    char *text = NULL;
    size_t len = 0;
    SELSA_TRY(read_file_text(path, &text, &len));
    char dir[SELSA_CONFIG_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) slash[1] = 0;
    else dir[0] = 0;
    selsa_status st = load_text(c, text, len, path, dir, reported, depth);
    free(text);
    return st;
}

static selsa_status load_text(selsa_config *c, const char *text, size_t len, const char *name,
                              const char *dir, unsigned char *reported, int depth) {
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "config %s: libyaml init failed", name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        selsa_status st = selsa_error(
            SELSA_ERR_FORMAT, "config %s:%d:%d: YAML syntax error: %s%s%s", name,
            (int)parser.problem_mark.line + 1, (int)parser.problem_mark.column + 1,
            parser.problem ? parser.problem : "unknown", parser.context ? " " : "",
            parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return st;
    }
    selsa_status st = SELSA_OK;
    pctx p = {name, NULL, &doc, reported, depth};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root) {
        /* A second document is not part of a configuration. */
        yaml_document_t doc2;
        if (yaml_parser_load(&parser, &doc2)) {
            bool more = yaml_document_get_root_node(&doc2) != NULL;
            int line = more ? node_line(yaml_document_get_root_node(&doc2)) : 0;
            yaml_document_delete(&doc2);
            if (more)
                st = selsa_error(SELSA_ERR_FORMAT,
                                 "config %s:%d: a second YAML document; a configuration is one "
                                 "mapping", name, line);
        }
    }
    if (st == SELSA_OK && root && !is_null(root)) {
        char b[96];
        if (root->type != YAML_MAPPING_NODE) {
            st = perr(&p, root, "(root)", "expected a mapping of keys, got %s",
                      describe_node(root, b, sizeof b));
        } else {
            /* `base: FILE` first, relative to this file's folder */
            for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
                 st == SELSA_OK && pr < root->data.mapping.pairs.top; pr++) {
                yaml_node_t *kn = yaml_document_get_node(&doc, pr->key);
                yaml_node_t *vn = yaml_document_get_node(&doc, pr->value);
                if (kn->type != YAML_SCALAR_NODE || strcmp(sval(kn), "base")) continue;
                char rel[SELSA_CONFIG_PATH_MAX], full[2 * SELSA_CONFIG_PATH_MAX];
                st = get_str(&p, vn, "base", rel, sizeof rel);
                if (st != SELSA_OK) break;
                if (!*rel) { st = perr(&p, vn, "base", "empty file name"); break; }
                if (depth >= 8) { st = perr(&p, vn, "base", "more than 8 nested base files"); break; }
                snprintf(full, sizeof full, "%s%s", rel[0] == '/' ? "" : dir, rel);
                st = load_path(c, full, reported, depth + 1);
                if (st != SELSA_OK)
                    selsa_error_context(st, "config %s:%d: base: ", name, node_line(vn));
            }
            if (st == SELSA_OK) st = walk_mapping(&p, c, root, "");
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return st;
}

selsa_status selsa_config_load(selsa_config *cfg, const char *path) {
    if (!cfg || !path) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_config_load: NULL argument");
    unsigned char reported[NKEYS];
    memset(reported, 0, sizeof reported);
    SELSA_TRY(load_path(cfg, path, reported, 0));
    selsa_status st = selsa_config_validate(cfg);
    if (st != SELSA_OK) return selsa_error_context(st, "config %s: ", path);
    return SELSA_OK;
}

selsa_status selsa_config_load_string(selsa_config *cfg, const char *yaml, const char *name) {
    if (!cfg || !yaml)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_config_load_string: NULL argument");
    if (!name) name = "(string)";
    unsigned char reported[NKEYS];
    memset(reported, 0, sizeof reported);
    SELSA_TRY(load_text(cfg, yaml, strlen(yaml), name, "", reported, 0));
    selsa_status st = selsa_config_validate(cfg);
    if (st != SELSA_OK) return selsa_error_context(st, "config %s: ", name);
    return SELSA_OK;
}

/* ================================================================== overrides ============ */

selsa_status selsa_config_set(selsa_config *cfg, const char *key, const char *value) {
    if (!cfg || !key || !value)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_config_set: NULL argument");
    char what[512];
    snprintf(what, sizeof what, "%s=%s", key, value);
    unsigned char reported[NKEYS];
    memset(reported, 0, sizeof reported);
    pctx p = {NULL, what, NULL, reported, 0};
    const key_def *k = find_key(key);
    if (!k) {
        if (is_section(key))
            return selsa_error(SELSA_ERR_FORMAT,
                               "config override '%s': %s is a section; set one of its keys, "
                               "e.g. %s.<KEY>", what, key, key);
        const char *s = suggest(key);
        if (s)
            return selsa_error(SELSA_ERR_FORMAT, "config override '%s': %s: unknown key (did you "
                               "mean %s?)", what, key, s);
        return selsa_error(SELSA_ERR_FORMAT, "config override '%s': %s: unknown key "
                           "(docs/CONFIG.md lists every key)", what, key);
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "config override: libyaml init failed");
    yaml_parser_set_input_string(&parser, (const unsigned char *)value, strlen(value));
    if (!yaml_parser_load(&parser, &doc)) {
        selsa_status st = selsa_error(SELSA_ERR_FORMAT, "config override '%s': %s: not a YAML "
                                      "value: %s", what, key,
                                      parser.problem ? parser.problem : "syntax error");
        yaml_parser_delete(&parser);
        return st;
    }
    p.doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    selsa_status st;
    if (!root) {
        /* empty value: an empty plain scalar */
        int id = yaml_document_add_scalar(&doc, NULL, (yaml_char_t *)"", 0, YAML_PLAIN_SCALAR_STYLE);
        root = id ? yaml_document_get_node(&doc, id) : NULL;
    }
    if (!root) st = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "config override '%s': out of memory", what);
    else if (root->type == YAML_MAPPING_NODE)
        st = perr(&p, root, key, "a mapping is not a value; set its keys one by one");
    else st = apply_key(&p, cfg, k, root);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return st;
}

selsa_status selsa_config_set_arg(selsa_config *cfg, const char *arg) {
    if (!cfg || !arg) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_config_set_arg: NULL argument");
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return selsa_error(SELSA_ERR_FORMAT, "config override '%s': expected KEY=VALUE, e.g. "
                           "TEST.KEY_FRAME_INTERVAL=10", arg);
    char key[256];
    size_t n = (size_t)(eq - arg);
    if (n >= sizeof key)
        return selsa_error(SELSA_ERR_FORMAT, "config override '%s': key too long", arg);
    memcpy(key, arg, n);
    key[n] = 0;
    /* tolerate spaces around the key: "TRAIN.lr = 0.1" */
    while (n && key[n - 1] == ' ') key[--n] = 0;
    const char *k = key;
    while (*k == ' ') k++;
    return selsa_config_set(cfg, k, eq + 1);
}

/* ================================================================== validation =========== */

static const char *family_name(const selsa_config *c) {
    return c->network.family == SELSA_FAMILY_MMTRACK ? "mmtrack" : "official";
}

selsa_status selsa_config_blocks(const selsa_config *c, int blocks[4]) {
    if (!c || !blocks) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_config_blocks: NULL");
    const int *b = c->network.blocks;
    if (b[0] || b[1] || b[2] || b[3]) {
        for (int i = 0; i < 4; i++)
            if (b[i] < 1 || b[i] > 64)
                return selsa_error(SELSA_ERR_INVALID_ARG,
                                   "network.blocks[%d] = %d must be in [1, 64] (or all 0)", i, b[i]);
        memcpy(blocks, b, 4 * sizeof(int));
        return SELSA_OK;
    }
    static const int std50[4] = {3, 4, 6, 3}, std101[4] = {3, 4, 23, 3}, std152[4] = {3, 8, 36, 3};
    const int *s = c->network.depth == 50 ? std50 : c->network.depth == 101 ? std101
                 : c->network.depth == 152 ? std152 : NULL;
    if (!s)
        return selsa_error(SELSA_ERR_INVALID_ARG,
                           "network.depth = %d has no standard block counts (50, 101, 152); set "
                           "network.blocks", c->network.depth);
    memcpy(blocks, s, 4 * sizeof(int));
    return SELSA_OK;
}

selsa_status selsa_config_validate(const selsa_config *c) {
    if (!c) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_config_validate: NULL");
#define REQ(cond, ...) \
    if (!(cond)) return selsa_error(SELSA_ERR_INVALID_ARG, __VA_ARGS__)
#define SUP(cond, ...) \
    if (!(cond)) return selsa_error(SELSA_ERR_UNSUPPORTED, __VA_ARGS__)
    const selsa_config_network *n = &c->network;
    const selsa_config_dataset *d = &c->dataset;
    const selsa_config_train *t = &c->train;
    const selsa_config_test *s = &c->test;
    REQ(c->num_devices >= 1, "gpus: at least one device");
    REQ(c->scale_short >= 1 && c->scale_long >= 1 && c->scale_short <= 8192 && c->scale_long <= 8192,
        "SCALES = (%d, %d): both must be in [1, 8192]", c->scale_short, c->scale_long);
    REQ(c->threads >= 0 && c->threads <= 4096, "threads = %d must be in [0, 4096]", c->threads);
    REQ(n->family == SELSA_FAMILY_OFFICIAL || n->family == SELSA_FAMILY_MMTRACK,
        "network.family: invalid value %d", (int)n->family);
    int blocks[4];
    SELSA_TRY(selsa_config_blocks(c, blocks));
    REQ(n->groups >= 1 && n->groups <= 1024, "network.groups = %d must be in [1, 1024]", n->groups);
    SUP(n->groups == 1 || n->family == SELSA_FAMILY_MMTRACK,
        "network.groups = %d: ResNeXt is only available for network.family mmtrack", n->groups);
    REQ(n->base_width >= 1, "network.base_width = %d must be >= 1", n->base_width);
    REQ(n->base_channels >= 1, "network.base_channels = %d must be >= 1", n->base_channels);
    REQ(n->rpn_channels >= 1, "network.rpn_channels = %d must be >= 1", n->rpn_channels);
    REQ(n->conv_new_channels >= 1, "network.conv_new_channels = %d must be >= 1",
        n->conv_new_channels);
    REQ(n->fc_dim >= 1, "network.fc_dim = %d must be >= 1", n->fc_dim);
    REQ(n->attention_qk_identity >= 0 && n->attention_qk_identity <= 100,
        "network.attention_qk_identity = %g must be in [0, 100]", n->attention_qk_identity);
    REQ(n->attention_out_identity >= 0 && n->attention_out_identity <= 100,
        "network.attention_out_identity = %g must be in [0, 100]", n->attention_out_identity);
    REQ(n->attention_heads >= 1 && n->fc_dim % n->attention_heads == 0,
        "network.attention_heads = %d must be >= 1 and divide network.fc_dim = %d",
        n->attention_heads, n->fc_dim);
    SUP(n->attention_heads == 1 || n->family == SELSA_FAMILY_MMTRACK,
        "network.attention_heads = %d: the official family has one attention head",
        n->attention_heads);
    REQ(n->pretrained_epoch >= 0, "network.pretrained_epoch = %d must be >= 0", n->pretrained_epoch);
    for (int i = 0; i < 3; i++)
        REQ(n->pixel_stds[i] > 0, "network.PIXEL_STDS[%d] = %g must be > 0", i, n->pixel_stds[i]);
    REQ(n->image_stride >= 0 && n->image_stride <= 1024, "network.IMAGE_STRIDE = %d must be in "
        "[0, 1024]", n->image_stride);
    SUP(n->rpn_feat_stride == 16, "network.RPN_FEAT_STRIDE = %d: the backbone has stride 16",
        n->rpn_feat_stride);
    for (int i = 0; i < n->n_anchor_scales; i++)
        REQ(n->anchor_scales[i] > 0, "network.ANCHOR_SCALES[%d] = %g must be > 0", i,
            n->anchor_scales[i]);
    for (int i = 0; i < n->n_anchor_ratios; i++)
        REQ(n->anchor_ratios[i] > 0, "network.ANCHOR_RATIOS[%d] = %g must be > 0", i,
            n->anchor_ratios[i]);
    REQ(n->n_anchor_scales >= 1 && n->n_anchor_ratios >= 1, "network.ANCHOR_SCALES/RATIOS: empty");
    REQ(n->num_anchors == 0 || n->num_anchors == n->n_anchor_scales * n->n_anchor_ratios,
        "network.NUM_ANCHORS = %d but ANCHOR_SCALES × ANCHOR_RATIOS gives %d anchors",
        n->num_anchors, n->n_anchor_scales * n->n_anchor_ratios);
    for (int i = 0; i < 4; i++)
        REQ(n->anchor_stds[i] > 0, "network.ANCHOR_STDS[%d] = %g must be > 0", i, n->anchor_stds[i]);

    SUP(!strcmp(d->dataset, "ImageNetVID"), "dataset.dataset = '%s': only ImageNetVID (the "
        "ILSVRC layout) is implemented", d->dataset);
    SUP(!strcmp(d->proposal, "rpn"), "dataset.proposal = '%s': only rpn is implemented", d->proposal);
    REQ(d->num_classes >= 2 && d->num_classes <= 1000, "dataset.NUM_CLASSES = %d must be in "
        "[2, 1000] (classes including background)", d->num_classes);

    REQ(t->lr >= 0, "TRAIN.lr = %g must be >= 0", t->lr);
    REQ(t->lr_factor > 0, "TRAIN.lr_factor = %g must be > 0", t->lr_factor);
    REQ(t->momentum >= 0 && t->momentum < 1, "TRAIN.momentum = %g must be in [0, 1)", t->momentum);
    REQ(t->wd >= 0, "TRAIN.wd = %g must be >= 0", t->wd);
    for (int i = 0; i < t->n_lr_step; i++)
        REQ(t->lr_step[i] >= 0 && (i == 0 || t->lr_step[i] >= t->lr_step[i - 1]),
            "TRAIN.lr_step: epochs must be >= 0 and ascending (step %d = %g)", i, t->lr_step[i]);
    REQ(t->warmup_lr >= 0, "TRAIN.warmup_lr = %g must be >= 0", t->warmup_lr);
    REQ(t->warmup_step >= 0, "TRAIN.warmup_step = %d must be >= 0", t->warmup_step);
    REQ(t->clip_gradient >= 0, "TRAIN.clip_gradient = %g must be >= 0", t->clip_gradient);
    REQ(t->begin_epoch >= 0 && t->end_epoch >= t->begin_epoch,
        "TRAIN.begin_epoch = %d / end_epoch = %d: need 0 <= begin_epoch <= end_epoch",
        t->begin_epoch, t->end_epoch);
    SUP(t->end2end, "TRAIN.END2END = false: only end-to-end training is implemented");
    REQ(t->batch_images >= 1 && t->batch_images <= 64, "TRAIN.BATCH_IMAGES = %d must be in [1, 64]",
        t->batch_images);
    REQ(t->batch_rois == -1 || t->batch_rois >= 1, "TRAIN.BATCH_ROIS = %d must be -1 (all) or >= 1",
        t->batch_rois);
    REQ(t->batch_rois_ohem >= 1, "TRAIN.BATCH_ROIS_OHEM = %d must be >= 1", t->batch_rois_ohem);
#define UNIT(v, name) REQ((v) >= 0 && (v) <= 1, name " = %g must be in [0, 1]", (v))
    UNIT(t->fg_fraction, "TRAIN.FG_FRACTION");
    UNIT(t->fg_thresh, "TRAIN.FG_THRESH");
    UNIT(t->bg_thresh_hi, "TRAIN.BG_THRESH_HI");
    UNIT(t->bg_thresh_lo, "TRAIN.BG_THRESH_LO");
    REQ(t->bg_thresh_lo <= t->bg_thresh_hi, "TRAIN.BG_THRESH_LO = %g > BG_THRESH_HI = %g",
        t->bg_thresh_lo, t->bg_thresh_hi);
    REQ(t->rpn_batch_size >= 1, "TRAIN.RPN_BATCH_SIZE = %d must be >= 1", t->rpn_batch_size);
    UNIT(t->rpn_fg_fraction, "TRAIN.RPN_FG_FRACTION");
    UNIT(t->rpn_positive_overlap, "TRAIN.RPN_POSITIVE_OVERLAP");
    UNIT(t->rpn_negative_overlap, "TRAIN.RPN_NEGATIVE_OVERLAP");
    UNIT(t->rpn_nms_thresh, "TRAIN.RPN_NMS_THRESH");
    UNIT(s->rpn_nms_thresh, "TEST.RPN_NMS_THRESH");
    UNIT(s->nms, "TEST.NMS");
#undef UNIT
    REQ(t->rpn_post_nms_top_n >= 1, "TRAIN.RPN_POST_NMS_TOP_N = %d must be >= 1",
        t->rpn_post_nms_top_n);
    REQ(s->rpn_post_nms_top_n >= 1, "TEST.RPN_POST_NMS_TOP_N = %d must be >= 1",
        s->rpn_post_nms_top_n);
    REQ(t->rpn_min_size >= 0 && s->rpn_min_size >= 0, "TRAIN/TEST.RPN_MIN_SIZE must be >= 0");
    SUP(t->bbox_normalization_precomputed, "TRAIN.BBOX_NORMALIZATION_PRECOMPUTED = false: "
        "computing target statistics from the data is not implemented");
    for (int i = 0; i < 4; i++)
        REQ(t->bbox_stds[i] > 0, "TRAIN.BBOX_STDS[%d] = %g must be > 0", i, t->bbox_stds[i]);
    REQ(t->train_frames >= 1 && t->train_frames <= 64, "TRAIN.train_frames = %d must be in [1, 64]",
        t->train_frames);
    REQ(t->min_offset <= t->max_offset, "TRAIN.MIN_OFFSET = %d > MAX_OFFSET = %d", t->min_offset,
        t->max_offset);
    SUP(t->color_factor == 0, "TRAIN.COLOR_FACTOR = %g: color_transform is not implemented (the "
        "official run uses 0, a no-op)", t->color_factor);

    SUP(s->has_rpn, "TEST.HAS_RPN = false: external proposals are not implemented");
    SUP(s->batch_images == 1, "TEST.BATCH_IMAGES = %d: only 1 is implemented", s->batch_images);
    SUP(!s->seq_nms, "TEST.SEQ_NMS = true: Seq-NMS is not implemented");
    SUP(s->sample_stride == 1, "TEST.sample_stride = %d: only 1 is implemented", s->sample_stride);
    SUP(!s->single_frame_trans, "TEST.single_frame_trans = true is not implemented");
    REQ(s->thresh >= 0, "TEST.thresh = %g must be >= 0", s->thresh);
    REQ(s->test_epoch >= 0, "TEST.test_epoch = %d must be >= 0", s->test_epoch);
    REQ(s->key_frame_interval >= 0 && s->key_frame_interval <= 1000,
        "TEST.KEY_FRAME_INTERVAL = %d must be in [0, 1000]", s->key_frame_interval);
    REQ(s->schedule >= SELSA_SCHEDULE_OFFICIAL && s->schedule <= SELSA_SCHEDULE_ONLINE,
        "TEST.schedule: invalid value %d", (int)s->schedule);
    REQ(s->num_ref_imgs >= 1 && s->num_ref_imgs <= 1000, "TEST.num_ref_imgs = %d must be in "
        "[1, 1000]", s->num_ref_imgs);
    REQ(s->online_ring >= 0 && s->online_ring <= 10000, "TEST.online_ring = %d must be in "
        "[0, 10000]", s->online_ring);
    REQ(s->online_stride >= 1, "TEST.online_stride = %d must be >= 1", s->online_stride);
    (void)family_name;
#undef REQ
#undef SUP
    return SELSA_OK;
}

/* ================================================================== dump / compare ======== */

/* Shortest of %.15g/%.16g/%.17g that reads back exactly. */
static void fmt_double(double v, char *buf, size_t size) {
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    /* keep it a number for YAML readers that need a dot ("600" stays an int-looking float;
     * our loader takes both) */
}

static void fmt_string(const char *s, char *buf, size_t size) {
    size_t o = 0;
    if (size < 3) { if (size) buf[0] = 0; return; }
    buf[o++] = '"';
    for (; *s && o + 5 < size; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') { buf[o++] = '\\'; buf[o++] = (char)ch; }
        else if (ch == '\n') { buf[o++] = '\\'; buf[o++] = 'n'; }
        else if (ch == '\t') { buf[o++] = '\\'; buf[o++] = 't'; }
        else if (ch < 0x20) o += (size_t)snprintf(buf + o, size - o, "\\x%02x", ch);
        else buf[o++] = (char)ch;
    }
    buf[o++] = '"';
    buf[o] = 0;
}

/* YAML flow text of a key's value; false for keys that are not dumped. */
static bool format_key(const key_def *k, const selsa_config *c, char *buf, size_t size) {
    const char *base = (const char *)c + k->off;
    size_t o = 0;
    char d[48];
    switch (k->k) {
    case K_INT: snprintf(buf, size, "%d", *(const int *)base); return true;
    case K_U64: snprintf(buf, size, "%llu", (unsigned long long)*(const uint64_t *)base); return true;
    case K_DBL: fmt_double(*(const double *)base, buf, size); return true;
    case K_BOOL: snprintf(buf, size, "%s", *(const bool *)base ? "true" : "false"); return true;
    case K_STR: fmt_string(base, buf, size); return true;
    case K_DVEC:
    case K_IVEC:
    case K_DLIST: {
        int cnt = k->k == K_DLIST ? *(const int *)((const char *)c + k->n_off) : k->n;
        o += (size_t)snprintf(buf, size, "[");
        for (int i = 0; i < cnt && o < size; i++) {
            if (k->k == K_IVEC) snprintf(d, sizeof d, "%d", ((const int *)base)[i]);
            else fmt_double(((const double *)base)[i], d, sizeof d);
            o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? ", " : "", d);
        }
        if (o < size) snprintf(buf + o, size - o, "]");
        return true;
    }
    case K_SLIST: {
        int cnt = *(const int *)((const char *)c + k->n_off);
        o += (size_t)snprintf(buf, size, "[");
        for (int i = 0; i < cnt && o < size; i++) {
            char q[2 * SELSA_CONFIG_NAME_MAX + 8];
            fmt_string(base + (size_t)i * SELSA_CONFIG_NAME_MAX, q, sizeof q);
            o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? ", " : "", q);
        }
        if (o < size) snprintf(buf + o, size - o, "]");
        return true;
    }
    case K_ENUM: {
        int v = *(const int *)base, nn = 0;
        while (k->names[nn]) nn++;
        snprintf(buf, size, "%s", v >= 0 && v < nn ? k->names[v] : "?");
        return true;
    }
    case K_SPECIAL:
        if (!k->format) return false;
        k->format(c, buf, size);
        return true;
    case K_IGNORED: return false;
    }
    return false;
}

#define VALBUF (4 * SELSA_CONFIG_PATH_MAX + 64)

selsa_status selsa_config_dump(const selsa_config *c, FILE *f) {
    if (!c || !f) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_config_dump: NULL argument");
    char *val = malloc(VALBUF);
    if (!val) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "selsa_config_dump: out of memory");
    fprintf(f, "# selsa effective configuration (every honoured key; docs/CONFIG.md)\n");
    char section[64] = "";
    for (int i = 0; i < NKEYS; i++) {
        const key_def *k = &keys[i];
        if (!format_key(k, c, val, VALBUF)) continue;
        const char *dot = strchr(k->path, '.');
        char sec[64] = "";
        if (dot) snprintf(sec, sizeof sec, "%.*s", (int)(dot - k->path), k->path);
        if (strcmp(sec, section)) {
            fprintf(f, "%s:\n", sec);
            snprintf(section, sizeof section, "%s", sec);
        }
        fprintf(f, "%s%s: %s\n", dot ? "  " : "", dot ? dot + 1 : k->path, val);
    }
    free(val);
    if (ferror(f)) return selsa_error(SELSA_ERR_IO, "selsa_config_dump: write error");
    return SELSA_OK;
}

selsa_status selsa_config_dump_file(const selsa_config *c, const char *path) {
    if (!c || !path) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_config_dump_file: NULL argument");
    FILE *f = fopen(path, "w");
    if (!f) return selsa_error(SELSA_ERR_IO, "config dump %s: cannot create: %s", path, strerror(errno));
    selsa_status st = selsa_config_dump(c, f);
    if (fclose(f) != 0 && st == SELSA_OK)
        st = selsa_error(SELSA_ERR_IO, "config dump %s: write error", path);
    if (st != SELSA_OK) return selsa_error_context(st, "config dump %s: ", path);
    return SELSA_OK;
}

bool selsa_config_equal(const selsa_config *a, const selsa_config *b, char *diff_key,
                        size_t diff_size) {
    char *va = malloc(VALBUF), *vb = malloc(VALBUF);
    bool eq = va && vb;
    for (int i = 0; eq && i < NKEYS; i++) {
        if (!format_key(&keys[i], a, va, VALBUF)) continue;
        format_key(&keys[i], b, vb, VALBUF);
        if (strcmp(va, vb)) {
            eq = false;
            if (diff_key && diff_size) snprintf(diff_key, diff_size, "%s", keys[i].path);
        }
    }
    free(va);
    free(vb);
    return eq;
}

/* ================================================================== key metadata ========= */

static const char *status_name(kstatus s) {
    return s == ST_HONOURED ? "honoured" : s == ST_CHECKED ? "checked" : "ignored";
}

int selsa_config_key_count(void) { return NKEYS; }

bool selsa_config_key_get(int i, selsa_config_key_info *info) {
    if (i < 0 || i >= NKEYS || !info) return false;
    info->path = keys[i].path;
    info->type = keys[i].type;
    info->status = status_name(keys[i].status);
    info->origin = keys[i].official ? "official" : "selsa";
    info->doc = keys[i].doc;
    return true;
}

/* A markdown table cell: '|' escaped. */
static void md_cell(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '|') fputc('\\', f);
        fputc(*s, f);
    }
}

selsa_status selsa_config_describe(FILE *f) {
    if (!f) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_config_describe: NULL");
    selsa_config def;
    selsa_config_default(&def);
    char *val = malloc(VALBUF);
    if (!val) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "selsa_config_describe: out of memory");
    fprintf(f, "| key | type | default | status | origin | meaning / reason |\n");
    fprintf(f, "|---|---|---|---|---|---|\n");
    for (int i = 0; i < NKEYS; i++) {
        const key_def *k = &keys[i];
        if (!format_key(k, &def, val, VALBUF)) snprintf(val, VALBUF, "—");
        for (char *q = val; *q; q++)
            if (*q == '|') *q = '/';
        fprintf(f, "| `%s` | ", k->path);
        md_cell(f, k->type);
        fprintf(f, " | `%s` | %s | %s | ", val, status_name(k->status),
                k->official ? "official" : "selsa");
        md_cell(f, k->doc);
        fprintf(f, " |\n");
    }
    free(val);
    return ferror(f) ? selsa_error(SELSA_ERR_IO, "selsa_config_describe: write error") : SELSA_OK;
}
