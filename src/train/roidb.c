/* selsa — training roidb: DET_train_30classes + VID_train_15frames merged (merge_roidb), with
 * horizontally flipped copies (TRAIN.FLIP), entries without boxes filtered (filter_roidb), and
 * the per-epoch order with aspect-ratio grouping (official-selsa.md §8.2, §11). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "selsa/fileio.h"
#include "selsa/train_data.h"

void selsa_roidb_free(selsa_roidb *db)
{
    if (!db) return;
    free(db->root);
    selsa_imageset_free(&db->det);
    selsa_imageset_free(&db->vid);
    free(db->entries);
    free(db->boxes);
    free(db->classes);
    memset(db, 0, sizeof(*db));
}

int selsa_roidb_is_landscape(const selsa_roidb_entry *e) { return e->width >= e->height; }

/* Growable arrays for the build. */
typedef struct {
    selsa_roidb_entry *e; int64_t n, cap;
    float *b; int32_t *c; int64_t nb, capb;
} build_buf;

static selsa_status push_entry(build_buf *B, const selsa_roidb_entry *e, const float *boxes,
                               const int32_t *cls)
{
    if (B->n == B->cap) {
        int64_t nc = B->cap ? 2 * B->cap : 256;
        void *p = realloc(B->e, (size_t)nc * sizeof(*B->e));
        if (!p) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "roidb: out of memory (entries)");
        B->e = p; B->cap = nc;
    }
    if (B->nb + e->n_boxes > B->capb) {
        int64_t nc = B->capb ? 2 * B->capb : 1024;
        while (nc < B->nb + e->n_boxes) nc *= 2;
        float *pb = realloc(B->b, (size_t)nc * 4 * sizeof(float));
        if (!pb) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "roidb: out of memory (boxes)");
        B->b = pb;
        int32_t *pc = realloc(B->c, (size_t)nc * sizeof(int32_t));
        if (!pc) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "roidb: out of memory (classes)");
        B->c = pc; B->capb = nc;
    }
    selsa_roidb_entry ne = *e;
    ne.box_offset = B->nb;
    memcpy(B->b + B->nb * 4, boxes, (size_t)e->n_boxes * 4 * sizeof(float));
    memcpy(B->c + B->nb, cls, (size_t)e->n_boxes * sizeof(int32_t));
    B->nb += e->n_boxes;
    B->e[B->n++] = ne;
    return SELSA_OK;
}

static selsa_status add_list(selsa_roidb *db, build_buf *B, int set)
{
    const selsa_imageset *is = set == SELSA_ROIDB_DET ? &db->det : &db->vid;
    char path[4096];
    float *bx = NULL;
    int32_t *cl = NULL;
    int capb = 0;
    for (int64_t i = 0; i < is->n; i++) {
        int frame = is->entries[i].seg_id;
        selsa_status st = selsa_imageset_annotation_path(db->root, is, i, frame, path, sizeof path);
        if (st != SELSA_OK) { free(bx); free(cl); return st; }
        selsa_annotation a = {0};
        st = selsa_annotation_read(path, SELSA_BOXES_TRAIN, &a);
        if (st != SELSA_OK) {
            /* corrupt entry: warn (naming the file) and count, never stop the run */
            selsa_log(SELSA_LOG_WARN, "roidb: skipping %s: %s", path, selsa_last_error());
            db->n_corrupt++;
            continue;
        }
        if (a.n_objects == 0) {
            db->n_no_boxes++;
            selsa_annotation_free(&a);
            continue;
        }
        if (a.n_objects > capb) {
            capb = a.n_objects;
            float *nb = realloc(bx, (size_t)capb * 4 * sizeof(float));
            int32_t *nc = nb ? realloc(cl, (size_t)capb * sizeof(int32_t)) : NULL;
            if (nb) bx = nb;
            if (nc) cl = nc;
            if (!nb || !nc) {
                selsa_annotation_free(&a);
                free(bx); free(cl);
                return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "roidb: out of memory");
            }
        }
        int nkeep = a.n_objects < SELSA_TRAIN_MAX_BOXES ? a.n_objects : SELSA_TRAIN_MAX_BOXES;
        for (int k = 0; k < nkeep; k++) {
            bx[4 * k + 0] = a.objects[k].x1;
            bx[4 * k + 1] = a.objects[k].y1;
            bx[4 * k + 2] = a.objects[k].x2;
            bx[4 * k + 3] = a.objects[k].y2;
            cl[k] = a.objects[k].label;
        }
        selsa_roidb_entry e = {0};
        e.set = set;
        e.index = (int32_t)i;
        e.flipped = 0;
        e.width = a.width;
        e.height = a.height;
        e.frame = set == SELSA_ROIDB_VID ? is->entries[i].seg_id : 0;
        e.seg_len = set == SELSA_ROIDB_VID ? is->entries[i].seg_len : 1;
        e.n_boxes = nkeep;
        selsa_annotation_free(&a);
        st = push_entry(B, &e, bx, cl);
        if (st != SELSA_OK) { free(bx); free(cl); return st; }
    }
    free(bx);
    free(cl);
    return SELSA_OK;
}

selsa_status selsa_roidb_build(const char *root, const selsa_roidb_opts *opts, selsa_roidb *out)
{
    if (!root || !opts || !out)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_roidb_build: NULL argument");
    if (!opts->use_det && !opts->use_vid)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_roidb_build: neither DET nor VID selected");
    memset(out, 0, sizeof(*out));
    out->root = strdup(root);
    if (!out->root) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "roidb: out of memory");
    char path[4096];
    selsa_status st = SELSA_OK;
    build_buf B = {0};
    if (opts->use_det) {
        snprintf(path, sizeof path, "%s/ImageSets/DET_train_30classes.txt", root);
        if (selsa_file_exists(path) || !opts->use_vid) {
            st = selsa_imageset_read(path, SELSA_IMAGESET_DET_TRAIN, &out->det);
            if (st != SELSA_OK) goto fail;
        } else {
            selsa_log(SELSA_LOG_WARN, "roidb: %s not found; training on VID only", path);
        }
    }
    if (opts->use_vid) {
        snprintf(path, sizeof path, "%s/ImageSets/VID_train_15frames.txt", root);
        st = selsa_imageset_read(path, SELSA_IMAGESET_VID_TRAIN, &out->vid);
        if (st != SELSA_OK) goto fail;
    }
    /* merge_roidb: DET entries first, then VID (image_set order "DET...+VID...") */
    if (out->det.n > 0 && (st = add_list(out, &B, SELSA_ROIDB_DET)) != SELSA_OK) goto fail;
    if (out->vid.n > 0 && (st = add_list(out, &B, SELSA_ROIDB_VID)) != SELSA_OK) goto fail;
    if (opts->flip) {
        int64_t n0 = B.n;
        for (int64_t i = 0; i < n0; i++) {
            selsa_roidb_entry e = B.e[i];
            float fb[SELSA_TRAIN_MAX_BOXES * 4];
            const float *ob = B.b + e.box_offset * 4;
            int32_t fc[SELSA_TRAIN_MAX_BOXES];
            for (int k = 0; k < e.n_boxes; k++) {
                /* official flip rule (§11): x1' = W − x2 − 1, x2' = W − x1 − 1 */
                fb[4 * k + 0] = (float)e.width - ob[4 * k + 2] - 1.0f;
                fb[4 * k + 1] = ob[4 * k + 1];
                fb[4 * k + 2] = (float)e.width - ob[4 * k + 0] - 1.0f;
                fb[4 * k + 3] = ob[4 * k + 3];
                fc[k] = B.c[e.box_offset + k];
            }
            e.flipped = 1;
            if ((st = push_entry(&B, &e, fb, fc)) != SELSA_OK) goto fail;
        }
    }
    if (B.n == 0) {
        st = selsa_error(SELSA_ERR_FORMAT,
                         "roidb: no usable training entries under %s (%lld corrupt, %lld without boxes)",
                         root, (long long)out->n_corrupt, (long long)out->n_no_boxes);
        goto fail;
    }
    out->entries = B.e;
    out->n = B.n;
    out->boxes = B.b;
    out->classes = B.c;
    out->n_boxes_total = B.nb;
    if (out->n_corrupt > 0)
        selsa_log(SELSA_LOG_WARN, "roidb: %lld corrupt entries skipped", (long long)out->n_corrupt);
    return SELSA_OK;
fail:
    free(B.e); free(B.b); free(B.c);
    selsa_roidb_free(out);
    return st;
}

static void permute_i32(selsa_rng *r, int32_t *v, int64_t n) { selsa_rng_shuffle_i32(r, v, n); }

selsa_status selsa_roidb_epoch_order(const selsa_roidb *db, bool shuffle, bool aspect_grouping,
                                     int batch, uint64_t seed, int64_t epoch, int32_t *order,
                                     int64_t cap, int64_t *n_out)
{
    if (!db || !order || !n_out)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_roidb_epoch_order: NULL argument");
    if (batch < 1)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_roidb_epoch_order: batch %d < 1", batch);
    if (cap < db->n)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_roidb_epoch_order: cap %lld < roidb size %lld",
                           (long long)cap, (long long)db->n);
    int64_t n = db->n;
    selsa_rng r;
    /* one stream per epoch: the order depends only on (seed, epoch) (resumable) */
    selsa_rng_seed(&r, seed, 0x5e15a000ULL + (uint64_t)epoch);
    if (!shuffle) {
        for (int64_t i = 0; i < n; i++) order[i] = (int32_t)i;
        *n_out = n - n % batch;
        return SELSA_OK;
    }
    if (!aspect_grouping) {
        for (int64_t i = 0; i < n; i++) order[i] = (int32_t)i;
        permute_i32(&r, order, n);
        *n_out = n - n % batch;
        return SELSA_OK;
    }
    int32_t *grp = malloc((size_t)(n > 0 ? n : 1) * sizeof(int32_t));
    if (!grp) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "epoch order: out of memory");
    int64_t nh = 0, nv = 0;
    for (int64_t i = 0; i < n; i++)
        if (selsa_roidb_is_landscape(&db->entries[i])) grp[nh++] = (int32_t)i;
    for (int64_t i = 0; i < n; i++)
        if (!selsa_roidb_is_landscape(&db->entries[i])) grp[nh + nv++] = (int32_t)i;
    permute_i32(&r, grp, nh);       /* landscape permuted separately */
    permute_i32(&r, grp + nh, nv);  /* portrait permuted separately */
    int64_t bh = nh / batch, bv = nv / batch, nb = bh + bv;
    int32_t *rows = malloc((size_t)(nb > 0 ? nb : 1) * sizeof(int32_t));
    if (!rows) { free(grp); return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "epoch order: out of memory"); }
    /* batch b < bh starts at grp[b·batch]; batch b >= bh starts at grp[nh + (b−bh)·batch] */
    for (int64_t b = 0; b < nb; b++) rows[b] = (int32_t)b;
    permute_i32(&r, rows, nb);      /* batches of both groups permuted together */
    int64_t k = 0;
    for (int64_t b = 0; b < nb; b++) {
        int64_t row = rows[b];
        int64_t start = row < bh ? row * batch : nh + (row - bh) * batch;
        for (int j = 0; j < batch; j++) order[k++] = grp[start + j];
    }
    *n_out = k;
    free(rows);
    free(grp);
    return SELSA_OK;
}
