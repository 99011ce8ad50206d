/* selsa — training samples (key + 2 reference frames, official-selsa.md §8.2, §8.5;
 * mmtracking-selsa.md §1.5) and the background loader: N pthread workers fill a ring of
 * `ring_size` prepared samples (memory bounded) and the consumer receives them strictly in epoch
 * order, so the stream is identical for any worker count and thread timing. Each sample's
 * randomness comes from its own rng seeded by (seed, epoch, position). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "selsa/train_data.h"

selsa_train_data_cfg selsa_train_data_cfg_default(void)
{
    selsa_train_data_cfg c;
    memset(&c, 0, sizeof c);
    c.ref_mode = SELSA_REFS_OFFICIAL;
    c.min_offset = -1000;
    c.max_offset = 1000;
    c.scale_short = 600;
    c.scale_long = 1000;
    c.data_aug = true;
    c.pixel_means[0] = 103.06; /* BGR (§1) */
    c.pixel_means[1] = 115.90;
    c.pixel_means[2] = 123.15;
    c.shuffle = true;
    c.aspect_grouping = true;
    c.batch = 1;
    c.seed = 1;
    c.n_workers = 2;
    c.ring_size = 4;
    return c;
}

selsa_train_data_cfg selsa_train_data_cfg_mmtrack(void)
{
    selsa_train_data_cfg c = selsa_train_data_cfg_default();
    c.family = SELSA_DATA_MMTRACK;
    c.ref_mode = SELSA_REFS_BILATERAL;
    c.min_offset = -9;
    c.max_offset = 9;
    c.data_aug = false;
    c.pixel_means[0] = 103.53; /* BGR of mmdet's RGB mean (unused: no expand) */
    c.pixel_means[1] = 116.28;
    c.pixel_means[2] = 123.675;
    return c;
}

void selsa_train_sample_free(selsa_train_sample *s)
{
    if (!s) return;
    for (int j = 0; j < SELSA_TRAIN_FRAMES; j++) selsa_image_free(&s->img[j]);
}

int selsa_train_sample_refs(selsa_rng *r, int mode, int min_off, int max_off, int f, int len,
                            int refs[2])
{
    if (len <= 0) return 0;
    if (mode == SELSA_REFS_BILATERAL) {
        int n = 0;
        int lo = f - max_off < 0 ? 0 : f - max_off;
        int hi = f + max_off > len - 1 ? len - 1 : f + max_off;
        if (f - 1 >= lo) refs[n++] = lo + (int)selsa_rng_below(r, (uint32_t)(f - lo));
        if (hi >= f + 1) refs[n++] = f + 1 + (int)selsa_rng_below(r, (uint32_t)(hi - f));
        return n; /* left < f < right: already sorted by frame id */
    }
    /* official: np.random.choice(range(MIN_OFFSET, MAX_OFFSET + 1), 2, replace=False) */
    uint32_t span = (uint32_t)(max_off - min_off + 1);
    int o0 = min_off + (int)selsa_rng_below(r, span);
    int o1 = o0;
    if (span > 1) {
        uint32_t k = selsa_rng_below(r, span - 1); /* the other span − 1 values */
        o1 = min_off + (int)k;
        if (o1 >= o0) o1++;
    }
    int offs[2] = {o0, o1};
    for (int j = 0; j < 2; j++) {
        int v = f + offs[j];
        refs[j] = v < 0 ? 0 : (v > len - 1 ? len - 1 : v); /* clipped to the video */
    }
    return 2;
}

/* ---- sample preparation ---- */

typedef struct workspace {
    selsa_fimage t0, t1;
    selsa_image raw, rs;
} workspace;

static void ws_free(workspace *w)
{
    selsa_fimage_free(&w->t0);
    selsa_fimage_free(&w->t1);
    selsa_image_free(&w->raw);
    selsa_image_free(&w->rs);
}

static void flip_image(selsa_image *im)
{
    for (int y = 0; y < im->h; y++) {
        uint8_t *row = im->data + (size_t)y * im->w * 3;
        for (int a = 0, b = im->w - 1; a < b; a++, b--)
            for (int c = 0; c < 3; c++) {
                uint8_t t = row[3 * a + c];
                row[3 * a + c] = row[3 * b + c];
                row[3 * b + c] = t;
            }
    }
}

static void scale_boxes(float (*b)[4], int n, double sx, double sy)
{
    for (int k = 0; k < n; k++) {
        b[k][0] = (float)(b[k][0] * sx);
        b[k][1] = (float)(b[k][1] * sy);
        b[k][2] = (float)(b[k][2] * sx);
        b[k][3] = (float)(b[k][3] * sy);
    }
}

/* Resize `ws->raw` by the §1 rule into dst, scaling boxes; returns the scale. */
static selsa_status resize_rule(const selsa_train_data_cfg *cfg, const selsa_image *src,
                                selsa_image *dst, float (*b)[4], int n, double *scale)
{
    SELSA_TRY(selsa_image_resize_official(src, dst, cfg->scale_short, cfg->scale_long, scale));
    scale_boxes(b, n, *scale, *scale);
    return SELSA_OK;
}

static selsa_status load_frame_image(const selsa_roidb *db, const selsa_roidb_entry *e, int frame,
                                     selsa_image *img)
{
    const selsa_imageset *is = e->set == SELSA_ROIDB_DET ? &db->det : &db->vid;
    char path[4096];
    SELSA_TRY(selsa_imageset_image_path(db->root, is, e->index, frame, path, sizeof path));
    SELSA_TRY(selsa_image_read(path, img));
    if (e->flipped) flip_image(img);
    return SELSA_OK;
}

static selsa_status load_ref_boxes(const selsa_roidb *db, const selsa_roidb_entry *e, int frame,
                                   float (*b)[4], int32_t *cls, int *n)
{
    char path[4096];
    SELSA_TRY(selsa_imageset_annotation_path(db->root, &db->vid, e->index, frame, path, sizeof path));
    selsa_annotation a = {0};
    SELSA_TRY(selsa_annotation_read(path, SELSA_BOXES_TRAIN, &a));
    if (e->flipped) selsa_annotation_flip(&a); /* references are flipped with the key */
    int m = a.n_objects < SELSA_TRAIN_MAX_BOXES ? a.n_objects : SELSA_TRAIN_MAX_BOXES;
    for (int k = 0; k < m; k++) {
        b[k][0] = a.objects[k].x1;
        b[k][1] = a.objects[k].y1;
        b[k][2] = a.objects[k].x2;
        b[k][3] = a.objects[k].y2;
        cls[k] = a.objects[k].label;
    }
    *n = m;
    selsa_annotation_free(&a);
    return SELSA_OK;
}

static void sample_rng(selsa_rng *r, uint64_t seed, int64_t epoch, int64_t position)
{
    uint64_t stream = ((uint64_t)epoch << 40) ^ (uint64_t)position ^ 0x9e3779b97f4a7c15ULL;
    selsa_rng_seed(r, seed, stream);
}

/* MMTracking preprocessing (mmtracking-selsa.md §1.4): SeqResize (mmcv rule, the key's size
 * for every frame), SeqRandomFlip(share_params, 0.5) after the resize with the mmdet flip rule.
 * The roidb entry must not be a flipped copy (flips are drawn here). */
static selsa_status load_sample_mmtrack(const selsa_roidb *db, const selsa_train_data_cfg *cfg,
                                        const selsa_roidb_entry *e, selsa_rng *r,
                                        selsa_train_sample *s, workspace *ws)
{
    if (e->flipped)
        return selsa_error(SELSA_ERR_INVALID_ARG,
                           "train sample: MMTracking family needs a roidb built with flip = false");
    int flip = (int)selsa_rng_below(r, 2); /* flip_ratio 0.5, shared by key and refs */
    s->flipped = flip;
    int H = 0, W = 0;
    for (int j = 0; j < SELSA_TRAIN_FRAMES; j++) {
        int fr = s->frame[j];
        int *nb = &s->n_boxes[j];
        SELSA_TRY(load_frame_image(db, e, fr, &ws->raw));
        if (j == 0 || e->set == SELSA_ROIDB_DET) {
            *nb = e->n_boxes;
            memcpy(s->boxes[j], db->boxes + e->box_offset * 4, (size_t)*nb * 4 * sizeof(float));
            memcpy(s->classes[j], db->classes + e->box_offset, (size_t)*nb * sizeof(int32_t));
        } else {
            SELSA_TRY(load_ref_boxes(db, e, fr, s->boxes[j], s->classes[j], nb));
        }
        double sx, sy;
        if (j == 0) {
            SELSA_TRY(selsa_image_resize_mmcv(&ws->raw, &s->img[0], cfg->scale_long, cfg->scale_short,
                                              &sx, &sy));
            H = s->img[0].h;
            W = s->img[0].w;
            s->im_info[0] = (float)H;
            s->im_info[1] = (float)W;
            s->im_info[2] = (float)sx;
        } else { /* share_params: the key's output size (same-size frames of one video) */
            sx = (double)W / ws->raw.w;
            sy = (double)H / ws->raw.h;
            SELSA_TRY(selsa_image_resize(&ws->raw, &s->img[j], H, W, sx, sy));
        }
        /* mmdet scales boxes by the float32 scale_factor */
        scale_boxes(s->boxes[j], *nb, (float)sx, (float)sy);
        if (flip) {
            flip_image(&s->img[j]);
            for (int k = 0; k < *nb; k++) { /* mmdet bbox_flip: x1' = W − x2, x2' = W − x1 */
                float x1 = s->boxes[j][k][0], x2 = s->boxes[j][k][2];
                s->boxes[j][k][0] = (float)W - x2;
                s->boxes[j][k][2] = (float)W - x1;
            }
        }
    }
    return SELSA_OK;
}

static selsa_status load_sample_ws(const selsa_roidb *db, const selsa_train_data_cfg *cfg,
                                   int64_t epoch, int64_t position, int64_t idx,
                                   selsa_train_sample *s, workspace *ws)
{
    if (idx < 0 || idx >= db->n)
        return selsa_error(SELSA_ERR_INVALID_ARG, "train sample: roidb index %lld out of range [0, %lld)",
                           (long long)idx, (long long)db->n);
    const selsa_roidb_entry *e = &db->entries[idx];
    selsa_rng r;
    sample_rng(&r, cfg->seed, epoch, position);
    s->epoch = epoch;
    s->position = position;
    s->roidb_index = idx;
    s->set = e->set;
    s->flipped = e->flipped;
    memset(s->aug, 0, sizeof s->aug);
    s->n_frames = SELSA_TRAIN_FRAMES;

    /* reference frames (drawn first) */
    int refs[2] = {e->frame, e->frame};
    if (e->set == SELSA_ROIDB_VID) {
        int nr = selsa_train_sample_refs(&r, cfg->ref_mode, cfg->min_offset, cfg->max_offset,
                                         e->frame, e->seg_len, refs);
        if (cfg->family == SELSA_DATA_MMTRACK) s->n_frames = 1 + (nr > 0 ? nr : 0);
        if (nr == 0) refs[0] = refs[1] = e->frame; /* one-frame video: the key itself */
        else if (nr == 1) refs[1] = refs[0];       /* bilateral at a video end: duplicate */
    }
    s->frame[0] = e->frame;
    s->frame[1] = refs[0];
    s->frame[2] = refs[1];
    if (cfg->family == SELSA_DATA_MMTRACK) return load_sample_mmtrack(db, cfg, e, &r, s, ws);

    selsa_aug_params ap = selsa_aug_params_official(cfg->pixel_means);

    /* key frame */
    SELSA_TRY(load_frame_image(db, e, e->frame, &ws->raw));
    s->n_boxes[0] = e->n_boxes;
    memcpy(s->boxes[0], db->boxes + e->box_offset * 4, (size_t)e->n_boxes * 4 * sizeof(float));
    memcpy(s->classes[0], db->classes + e->box_offset, (size_t)e->n_boxes * sizeof(int32_t));
    double scale1;
    SELSA_TRY(resize_rule(cfg, &ws->raw, &s->img[0], s->boxes[0], s->n_boxes[0], &scale1));
    if (cfg->data_aug) {
        SELSA_TRY(selsa_aug_ssd(&r, &s->img[0], &s->boxes[0][0][0], s->classes[0], &s->n_boxes[0],
                                &ap, &ws->t0, &ws->t1, &s->aug[0]));
        double scale2;
        SELSA_TRY(resize_rule(cfg, &s->img[0], &ws->rs, s->boxes[0], s->n_boxes[0], &scale2));
        selsa_image t = s->img[0];
        s->img[0] = ws->rs;
        ws->rs = t;
    }
    int H = s->img[0].h, W = s->img[0].w;
    s->im_info[0] = (float)H;
    s->im_info[1] = (float)W;
    s->im_info[2] = (float)scale1; /* §8.5: im_info keeps the first resize scale */

    /* references: DET = copies of the key image; VID = their own frame and XML */
    for (int j = 1; j < SELSA_TRAIN_FRAMES; j++) {
        int fr = s->frame[j];
        int *nb = &s->n_boxes[j];
        if (e->set == SELSA_ROIDB_DET) {
            SELSA_TRY(load_frame_image(db, e, fr, &ws->raw));
            *nb = e->n_boxes;
            memcpy(s->boxes[j], db->boxes + e->box_offset * 4, (size_t)*nb * 4 * sizeof(float));
            memcpy(s->classes[j], db->classes + e->box_offset, (size_t)*nb * sizeof(int32_t));
        } else {
            SELSA_TRY(load_frame_image(db, e, fr, &ws->raw));
            SELSA_TRY(load_ref_boxes(db, e, fr, s->boxes[j], s->classes[j], nb));
        }
        double rs1;
        SELSA_TRY(resize_rule(cfg, &ws->raw, &ws->rs, s->boxes[j], *nb, &rs1));
        if (cfg->data_aug && *nb > 0) /* a reference without boxes is only resized */
            SELSA_TRY(selsa_aug_ssd(&r, &ws->rs, &s->boxes[j][0][0], s->classes[j], nb, &ap,
                                    &ws->t0, &ws->t1, &s->aug[j]));
        /* resize_to the key's final H×W exactly (non-uniform; cv2.resize with dsize) */
        double sx = (double)W / ws->rs.w, sy = (double)H / ws->rs.h;
        SELSA_TRY(selsa_image_resize(&ws->rs, &s->img[j], H, W, sx, sy));
        scale_boxes(s->boxes[j], *nb, sx, sy);
    }
    return SELSA_OK;
}

selsa_status selsa_train_sample_load(const selsa_roidb *db, const selsa_train_data_cfg *cfg,
                                     int64_t epoch, int64_t position, int64_t roidb_index,
                                     selsa_train_sample *out)
{
    if (!db || !cfg || !out)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_train_sample_load: NULL argument");
    workspace ws;
    memset(&ws, 0, sizeof ws);
    selsa_status st = load_sample_ws(db, cfg, epoch, position, roidb_index, out, &ws);
    ws_free(&ws);
    return st;
}

/* ---- loader ---- */

enum { SLOT_FREE = 0, SLOT_BUSY = 1, SLOT_READY = 2 };

typedef struct slot {
    selsa_train_sample s;
    int state;
    int64_t pos;
    selsa_status st;
    char msg[768];
} slot;

typedef struct worker {
    selsa_train_loader *L;
    pthread_t th;
    workspace ws;
} worker;

struct selsa_train_loader {
    const selsa_roidb *db;
    selsa_train_data_cfg cfg;
    int32_t *order;         /* [db->n] */
    int64_t n_order, epoch;
    slot *slots;            /* [ring] */
    int ring;
    worker *workers;        /* [n_workers] */
    int n_workers, running;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_ready;
    int64_t next_claim;     /* next position a worker takes */
    int64_t next_deliver;   /* next position handed to the consumer */
    int64_t released;       /* positions < released have freed their slot */
    int64_t held;           /* position the consumer holds, −1 if none */
    int stop;
    int64_t skipped, in_use, max_in_use;
    workspace sync_ws;      /* n_workers == 0 */
};

static void *worker_main(void *arg)
{
    worker *w = arg;
    selsa_train_loader *L = w->L;
    pthread_mutex_lock(&L->mu);
    for (;;) {
        if (L->stop || L->next_claim >= L->n_order) break;
        if (L->next_claim >= L->released + L->ring) { /* ring full: wait for the consumer */
            pthread_cond_wait(&L->cv_work, &L->mu);
            continue;
        }
        int64_t p = L->next_claim++;
        slot *sl = &L->slots[p % L->ring];
        sl->state = SLOT_BUSY;
        sl->pos = p;
        L->in_use++;
        if (L->in_use > L->max_in_use) L->max_in_use = L->in_use;
        int64_t epoch = L->epoch, idx = L->order[p];
        pthread_mutex_unlock(&L->mu);
        selsa_status st = load_sample_ws(L->db, &L->cfg, epoch, p, idx, &sl->s, &w->ws);
        pthread_mutex_lock(&L->mu);
        sl->st = st;
        if (st != SELSA_OK) snprintf(sl->msg, sizeof sl->msg, "%s", selsa_last_error());
        sl->state = SLOT_READY;
        pthread_cond_broadcast(&L->cv_ready);
    }
    pthread_mutex_unlock(&L->mu);
    return NULL;
}

static void stop_workers(selsa_train_loader *L)
{
    if (!L->running) return;
    pthread_mutex_lock(&L->mu);
    L->stop = 1;
    pthread_cond_broadcast(&L->cv_work);
    pthread_mutex_unlock(&L->mu);
    for (int i = 0; i < L->n_workers; i++) pthread_join(L->workers[i].th, NULL);
    L->running = 0;
    L->stop = 0;
}

selsa_status selsa_train_loader_open(selsa_train_loader **out, const selsa_roidb *db,
                                     const selsa_train_data_cfg *cfg)
{
    if (!out || !db || !cfg)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_train_loader_open: NULL argument");
    *out = NULL;
    if (cfg->ring_size < 1)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_train_loader_open: ring_size %d < 1", cfg->ring_size);
    if (cfg->family != SELSA_DATA_OFFICIAL && cfg->family != SELSA_DATA_MMTRACK)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_train_loader_open: unknown family %d", cfg->family);
    if (cfg->ref_mode != SELSA_REFS_OFFICIAL && cfg->ref_mode != SELSA_REFS_BILATERAL)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_train_loader_open: unknown ref_mode %d", cfg->ref_mode);
    if (cfg->n_workers < 0 || cfg->n_workers > 64)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_train_loader_open: n_workers %d not in [0, 64]",
                           cfg->n_workers);
    if (cfg->batch < 1)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_train_loader_open: batch %d < 1", cfg->batch);
    if (cfg->min_offset > cfg->max_offset ||
        (cfg->ref_mode == SELSA_REFS_BILATERAL && cfg->max_offset < 1))
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_train_loader_open: bad reference offsets [%d, %d]",
                           cfg->min_offset, cfg->max_offset);
    if (cfg->ref_mode == SELSA_REFS_OFFICIAL && cfg->max_offset - cfg->min_offset < 1)
        return selsa_error(SELSA_ERR_INVALID_ARG,
                           "selsa_train_loader_open: official refs need 2 distinct offsets in [%d, %d]",
                           cfg->min_offset, cfg->max_offset);
    if (cfg->scale_short < 1 || cfg->scale_long < 1)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_train_loader_open: bad scales (%d, %d)",
                           cfg->scale_short, cfg->scale_long);
    selsa_train_loader *L = calloc(1, sizeof *L);
    if (!L) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "train loader: out of memory");
    pthread_mutex_init(&L->mu, NULL);
    pthread_cond_init(&L->cv_work, NULL);
    pthread_cond_init(&L->cv_ready, NULL);
    L->db = db;
    L->cfg = *cfg;
    L->ring = cfg->n_workers == 0 ? 1 : cfg->ring_size;
    L->n_workers = cfg->n_workers;
    L->order = malloc((size_t)(db->n > 0 ? db->n : 1) * sizeof(int32_t));
    L->slots = calloc((size_t)L->ring, sizeof(slot));
    L->workers = calloc((size_t)(L->n_workers > 0 ? L->n_workers : 1), sizeof(worker));
    if (!L->order || !L->slots || !L->workers) {
        selsa_train_loader_close(L);
        return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "train loader: out of memory");
    }
    L->held = -1;
    L->epoch = -1;
    *out = L;
    return SELSA_OK;
}

selsa_status selsa_train_loader_start_epoch(selsa_train_loader *L, int64_t epoch, int64_t start)
{
    if (!L) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_train_loader_start_epoch: NULL loader");
    stop_workers(L);
    L->epoch = -1; /* until this succeeds, next() refuses (no worker is running) */
    int64_t n = 0;
    SELSA_TRY(selsa_roidb_epoch_order(L->db, L->cfg.shuffle, L->cfg.aspect_grouping, L->cfg.batch,
                                      L->cfg.seed, epoch, L->order, L->db->n, &n));
    if (start < 0 || start > n)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_train_loader_start_epoch: start %lld not in [0, %lld]",
                           (long long)start, (long long)n);
    L->n_order = n;
    L->epoch = epoch;
    L->next_claim = L->next_deliver = L->released = start;
    L->held = -1;
    L->in_use = 0;
    for (int i = 0; i < L->ring; i++) L->slots[i].state = SLOT_FREE;
    for (int i = 0; i < L->n_workers; i++) {
        L->workers[i].L = L;
        if (pthread_create(&L->workers[i].th, NULL, worker_main, &L->workers[i]) != 0) {
            L->n_workers = i; /* join the ones started */
            L->running = 1;
            stop_workers(L);
            L->n_workers = L->cfg.n_workers;
            L->epoch = -1;
            return selsa_error(SELSA_ERR_INTERNAL, "train loader: pthread_create failed");
        }
    }
    L->running = L->n_workers > 0;
    return SELSA_OK;
}

selsa_status selsa_train_loader_next(selsa_train_loader *L, const selsa_train_sample **out)
{
    if (!L || !out) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_train_loader_next: NULL argument");
    *out = NULL;
    if (L->epoch < 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_train_loader_next: no epoch started");
    if (L->n_workers == 0) { /* synchronous */
        while (L->next_deliver < L->n_order) {
            int64_t p = L->next_deliver++;
            slot *sl = &L->slots[0];
            selsa_status st = load_sample_ws(L->db, &L->cfg, L->epoch, p, L->order[p], &sl->s, &L->sync_ws);
            if (st == SELSA_OK) {
                L->max_in_use = 1;
                *out = &sl->s;
                return SELSA_OK;
            }
            selsa_log(SELSA_LOG_WARN, "train data: skipping sample (epoch %lld, position %lld): %s",
                      (long long)L->epoch, (long long)p, selsa_last_error());
            L->skipped++;
        }
        return SELSA_OK;
    }
    pthread_mutex_lock(&L->mu);
    if (L->held >= 0) { /* release the sample handed out last time */
        L->slots[L->held % L->ring].state = SLOT_FREE;
        L->released = L->held + 1;
        L->in_use--;
        L->held = -1;
        pthread_cond_broadcast(&L->cv_work);
    }
    while (L->next_deliver < L->n_order) {
        slot *sl = &L->slots[L->next_deliver % L->ring];
        while (!(sl->state == SLOT_READY && sl->pos == L->next_deliver))
            pthread_cond_wait(&L->cv_ready, &L->mu);
        int64_t p = L->next_deliver++;
        if (sl->st != SELSA_OK) { /* corrupt entry: warn (the message names the file), count */
            selsa_log(SELSA_LOG_WARN, "train data: skipping sample (epoch %lld, position %lld): %s",
                      (long long)L->epoch, (long long)p, sl->msg);
            L->skipped++;
            sl->state = SLOT_FREE;
            L->released = p + 1;
            L->in_use--;
            pthread_cond_broadcast(&L->cv_work);
            continue;
        }
        L->held = p;
        *out = &sl->s;
        break;
    }
    pthread_mutex_unlock(&L->mu);
    return SELSA_OK;
}

int64_t selsa_train_loader_epoch_size(const selsa_train_loader *L) { return L ? L->n_order : 0; }
int64_t selsa_train_loader_skipped(const selsa_train_loader *L) { return L ? L->skipped : 0; }
int64_t selsa_train_loader_max_ready(const selsa_train_loader *L) { return L ? L->max_in_use : 0; }

void selsa_train_loader_close(selsa_train_loader *L)
{
    if (!L) return;
    stop_workers(L);
    pthread_mutex_destroy(&L->mu);
    pthread_cond_destroy(&L->cv_work);
    pthread_cond_destroy(&L->cv_ready);
    if (L->slots)
        for (int i = 0; i < L->ring; i++) selsa_train_sample_free(&L->slots[i].s);
    if (L->workers)
        for (int i = 0; i < (L->n_workers > 0 ? L->n_workers : 1); i++) ws_free(&L->workers[i].ws);
    ws_free(&L->sync_ws);
    free(L->workers);
    free(L->slots);
    free(L->order);
    free(L);
}
