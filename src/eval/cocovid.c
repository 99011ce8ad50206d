/* CocoVID JSON export (mmtracking-selsa.md §4.3) of ILSVRC ground truth and of detections, so
 * results can be cross-checked with pycocotools / MMTracking tooling.
 *   gt:   {categories, videos, images, annotations}; image ids are the global 1-based frame ids
 *         of the list, frame_id 0-based, bbox [xmin, ymin, xmax − xmin, ymax − ymin] (no +1, as
 *         MMTracking's converter), instance_id global over videos (first-seen trackid order).
 *   dets: the COCO results list [{image_id, category_id, bbox [x1, y1, x2 − x1, y2 − y1], score}]. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "selsa/dataset.h"
#include "selsa/eval.h"
#include "selsa/fileio.h"

typedef struct strbuf {
    char *p;
    size_t n, cap;
    int oom;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int need = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (need < 0) { b->oom = 1; return; }
        if (b->p && b->n + (size_t)need < b->cap) { b->n += (size_t)need; return; }
        size_t cap = b->cap ? b->cap * 2 : 1 << 16;
        while (cap < b->n + (size_t)need + 1) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) { b->oom = 1; return; }
        b->p = q, b->cap = cap;
    }
}

/* JSON string body of a path/name (the only characters needing escapes are " and \). */
static void sb_json_str(strbuf *b, const char *s) {
    sb_printf(b, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') sb_printf(b, "\\%c", *s);
        else if ((unsigned char)*s < 0x20) sb_printf(b, "\\u%04x", (unsigned char)*s);
        else sb_printf(b, "%c", *s);
    }
    sb_printf(b, "\"");
}

static int write_buf(FILE *f, const void *user) {
    const strbuf *b = user;
    return fwrite(b->p, 1, b->n, f) == b->n ? 0 : -1;
}

static selsa_status finish(strbuf *b, const char *out_json) {
    selsa_status s = b->oom ? selsa_error(SELSA_ERR_OUT_OF_MEMORY, "%s: out of memory building JSON", out_json)
                            : selsa_file_write_stream_atomic(out_json, write_buf, b);
    free(b->p);
    return s;
}

static void write_categories(strbuf *b) {
    sb_printf(b, "\"categories\": [");
    for (int c = 1; c <= SELSA_VID_NUM_CLASSES; c++)
        sb_printf(b, "%s{\"id\": %d, \"name\": \"%s\", \"encode_name\": \"%s\"}", c > 1 ? ", " : "", c,
                  selsa_vid_class_name(c), selsa_vid_class_wnid(c));
    sb_printf(b, "]");
}

selsa_status selsa_cocovid_write_gt(const char *root, const char *val_list_path, const char *out_json) {
    if (!root || !val_list_path || !out_json)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_cocovid_write_gt: NULL argument");
    selsa_imageset set;
    SELSA_TRY(selsa_imageset_read(val_list_path, SELSA_IMAGESET_VID_VAL, &set));
    strbuf images = {0}, anns = {0}, b = {0};
    selsa_status s = SELSA_OK;
    int64_t ann_id = 0, next_instance = 1;
    enum { MAX_TRACK = 4096 };
    int64_t *instance_of = malloc(sizeof(int64_t) * MAX_TRACK);
    if (!instance_of) s = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "cocovid: out of memory");
    char path[4096];
    for (int64_t v = 0; v < set.n && s == SELSA_OK; v++) {
        const selsa_imageset_entry *e = &set.entries[v];
        for (int t = 0; t < MAX_TRACK; t++) instance_of[t] = 0;
        for (int k = 0; k < e->seg_len && s == SELSA_OK; k++) {
            s = selsa_imageset_annotation_path(root, &set, v, e->seg_id + k, path, sizeof path);
            selsa_annotation a;
            if (s == SELSA_OK) s = selsa_annotation_read(path, SELSA_BOXES_RAW, &a);
            if (s != SELSA_OK) break;
            int64_t image_id = e->id + k;
            sb_printf(&images, "%s{\"file_name\": \"%s/%06d.JPEG\", \"height\": %d, \"width\": %d, \"id\": %lld, "
                      "\"frame_id\": %d, \"video_id\": %lld, \"is_vid_train_frame\": false}",
                      images.n ? ", " : "", e->path, e->seg_id + k, a.height, a.width, (long long)image_id, k,
                      (long long)(v + 1));
            for (int o = 0; o < a.n_objects; o++) {
                const selsa_object *ob = &a.objects[o];
                int64_t inst = -1;
                if (ob->trackid >= 0 && ob->trackid < MAX_TRACK) {
                    if (!instance_of[ob->trackid]) instance_of[ob->trackid] = next_instance++;
                    inst = instance_of[ob->trackid];
                } else if (ob->trackid >= MAX_TRACK) {
                    s = selsa_error(SELSA_ERR_FORMAT, "%s:%d: trackid %d too large", path, ob->line, ob->trackid);
                    break;
                }
                double w = ob->x2 - ob->x1, h = ob->y2 - ob->y1;
                sb_printf(&anns, "%s{\"id\": %lld, \"video_id\": %lld, \"image_id\": %lld, \"category_id\": %d, "
                          "\"instance_id\": %lld, \"bbox\": [%g, %g, %g, %g], \"area\": %g, \"iscrowd\": false, "
                          "\"occluded\": %s, \"generated\": %s}",
                          anns.n ? ", " : "", (long long)++ann_id, (long long)(v + 1), (long long)image_id,
                          ob->label, (long long)inst, ob->x1, ob->y1, w, h, w * h,
                          ob->occluded > 0 ? "true" : "false", ob->generated > 0 ? "true" : "false");
            }
            selsa_annotation_free(&a);
        }
    }
    if (s == SELSA_OK) {
        sb_printf(&b, "{");
        write_categories(&b);
        sb_printf(&b, ", \"videos\": [");
        for (int64_t v = 0; v < set.n; v++) {
            sb_printf(&b, "%s{\"id\": %lld, \"name\": ", v ? ", " : "", (long long)(v + 1));
            sb_json_str(&b, set.entries[v].path);
            sb_printf(&b, ", \"vid_train_frames\": []}");
        }
        sb_printf(&b, "], \"images\": [%s], \"annotations\": [%s]}\n", images.p ? images.p : "",
                  anns.p ? anns.p : "");
        b.oom |= images.oom | anns.oom;
        s = finish(&b, out_json);
    } else {
        free(b.p);
    }
    free(images.p), free(anns.p), free(instance_of);
    selsa_imageset_free(&set);
    return s;
}

selsa_status selsa_cocovid_write_dets(const selsa_vid_dets *d, const char *out_json) {
    if (!d || !out_json) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_cocovid_write_dets: NULL argument");
    strbuf b = {0};
    sb_printf(&b, "[");
    for (int64_t i = 0; i < d->n; i++) {
        const selsa_vid_det *e = &d->items[i];
        sb_printf(&b, "%s{\"image_id\": %lld, \"category_id\": %d, \"bbox\": [%.2f, %.2f, %.2f, %.2f], \"score\": %.6g}",
                  i ? ",\n " : "", (long long)e->frame_id, e->cls, e->box[0], e->box[1], e->box[2] - e->box[0],
                  e->box[3] - e->box[1], e->score);
    }
    sb_printf(&b, "]\n");
    return finish(&b, out_json);
}
