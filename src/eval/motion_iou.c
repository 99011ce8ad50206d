/* Motion IoU sources for the VID motion-range evaluation (vid-eval.md §5):
 *   (a) the official .mat cells, mapped to gt frames by global id through VID_val_videos.txt;
 *   (b) computed from the gt tracks (the rule of issue 5, see include/selsa/eval.h).
 * Also the minimal VID_val_videos.txt reader (video name <-> global start id). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval_internal.h"
#include "selsa/eval.h"

/* ------------------------------------------------------------------ VID_val_videos.txt ---- */

#define VAL_LIST_MAX_BYTES ((long)64 << 20)

typedef struct name_idx { const char *name; int64_t idx; } name_idx;

static int cmp_name_idx(const void *a, const void *b) {
    const name_idx *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

void selsa_vid_val_videos_free(selsa_vid_val_videos *v) {
    if (!v) return;
    free(v->items);
    free(v->by_name);
    free(v->text);
    memset(v, 0, sizeof *v);
}

static bool parse_i64(const char *s, int64_t *out) {
    char *end = NULL;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE) return false;
    *out = x;
    return true;
}

selsa_status selsa_vid_val_videos_read(const char *path, selsa_vid_val_videos *out) {
    if (!out) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_vid_val_videos_read: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_vid_val_videos_read: path is NULL");
    FILE *f = fopen(path, "rb");
    if (!f) return selsa_error(SELSA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size < 0 || size > VAL_LIST_MAX_BYTES || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return selsa_error(SELSA_ERR_IO, "%s: cannot read (size %ld, at most %ld bytes)", path,
                           size, VAL_LIST_MAX_BYTES);
    }
    char *text = malloc((size_t)size + 1);
    if (!text) {
        fclose(f);
        return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "%s: no memory", path);
    }
    size_t got = fread(text, 1, (size_t)size, f);
    fclose(f);
    if ((long)got != size) {
        free(text);
        return selsa_error(SELSA_ERR_IO, "%s: short read", path);
    }
    text[size] = '\0';
    int64_t lines = 1;
    for (long i = 0; i < size; i++) lines += text[i] == '\n';
    out->text = text;
    out->items = malloc((size_t)lines * sizeof *out->items);
    if (!out->items) {
        selsa_vid_val_videos_free(out);
        return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "%s: no memory", path);
    }
    selsa_status st = SELSA_OK;
    if (memchr(text, '\0', (size_t)size))
        st = selsa_error(SELSA_ERR_FORMAT, "%s: NUL byte (not a text file)", path);
    char *p = text, *end = text + size;
    long long line = 0;
    int64_t expect = 1;
    while (st == SELSA_OK && p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl) *nl = '\0';
        line++;
        char *tok[5];
        int nf = 0;
        char *save = NULL;
        for (char *t = strtok_r(p, " \t\r", &save); t; t = strtok_r(NULL, " \t\r", &save)) {
            if (nf < 5) tok[nf] = t;
            nf++;
        }
        if (nf != 0) {
            int64_t v[3];
            if (nf != 4) {
                st = selsa_error(SELSA_ERR_FORMAT, "%s:%lld: expected 4 fields `<video> <start id> "
                                 "<first frame> <num frames>`, got %d", path, line, nf);
                break;
            }
            bool ok = true;
            for (int i = 0; i < 3 && ok; i++) ok = parse_i64(tok[i + 1], &v[i]);
            if (!ok || v[0] < 1 || v[1] < 0 || v[2] < 1) {
                st = selsa_error(SELSA_ERR_FORMAT, "%s:%lld: bad numbers \"%s %s %s\" (start >= 1, "
                                 "first >= 0, num frames >= 1)", path, line, tok[1], tok[2],
                                 tok[3]);
                break;
            }
            if (v[0] != expect) {
                st = selsa_error(SELSA_ERR_FORMAT, "%s:%lld: start id %lld, expected %lld (ids "
                                 "must be contiguous from 1)", path, line, (long long)v[0],
                                 (long long)expect);
                break;
            }
            selsa_vid_val_video *it = &out->items[out->n++];
            it->name = tok[0];
            it->start = v[0];
            it->first = v[1];
            it->num_frames = v[2];
            expect = v[0] + v[2];
        }
        if (!nl) break;
        p = nl + 1;
    }
    if (st == SELSA_OK && out->n == 0)
        st = selsa_error(SELSA_ERR_FORMAT, "%s: no videos listed", path);
    if (st == SELSA_OK) {
        out->total_frames = expect - 1;
        out->by_name = malloc((size_t)out->n * sizeof *out->by_name);
        if (!out->by_name) st = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "%s: no memory", path);
    }
    if (st == SELSA_OK) {
        name_idx *tmp = malloc((size_t)out->n * sizeof *tmp);
        if (!tmp) {
            selsa_vid_val_videos_free(out);
            return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "%s: no memory", path);
        }
        for (int64_t i = 0; i < out->n; i++) tmp[i] = (name_idx){out->items[i].name, i};
        qsort(tmp, (size_t)out->n, sizeof *tmp, cmp_name_idx);
        for (int64_t i = 0; i < out->n; i++) out->by_name[i] = tmp[i].idx;
        free(tmp);
        for (int64_t i = 1; i < out->n; i++) {
            const char *a = out->items[out->by_name[i - 1]].name;
            if (strcmp(a, out->items[out->by_name[i]].name) == 0) {
                st = selsa_error(SELSA_ERR_FORMAT, "%s: video %s is listed twice", path, a);
                break;
            }
        }
    }
    if (st != SELSA_OK) selsa_vid_val_videos_free(out);
    return st;
}

static int64_t find_exact(const selsa_vid_val_videos *v, const char *name) {
    int64_t lo = 0, hi = v->n - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(v->items[v->by_name[mid]].name, name);
        if (c == 0) return v->by_name[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

int64_t selsa_vid_val_videos_find(const selsa_vid_val_videos *v, const char *name) {
    if (!v || !name || !v->by_name) return -1;
    int64_t i = find_exact(v, name);
    if (i >= 0 || strncmp(name, "val/", 4) == 0) return i;
    char buf[512];
    if (snprintf(buf, sizeof buf, "val/%s", name) >= (int)sizeof buf) return -1;
    return find_exact(v, buf);
}

int64_t selsa_vid_val_videos_of_frame(const selsa_vid_val_videos *v, int64_t frame_id) {
    if (!v || v->n == 0 || frame_id < 1 || frame_id > v->total_frames) return -1;
    int64_t lo = 0, hi = v->n - 1; /* last video with start <= frame_id */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo + 1) / 2;
        if (v->items[mid].start <= frame_id) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

/* ------------------------------------------------------------------ (a) official cells ---- */

selsa_status selsa_vid_motion_from_cells(selsa_vid_gt *gt, const selsa_mat_cells *cells,
                                         const selsa_vid_val_videos *videos) {
    if (!gt || !cells)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_vid_motion_from_cells: NULL argument");
    if (videos && cells->n_cells != videos->total_frames)
        return selsa_error(SELSA_ERR_FORMAT, "motion IoU file has %lld cells but the video list "
                           "holds %lld frames", (long long)cells->n_cells,
                           (long long)videos->total_frames);
    /* validate everything first so that an error leaves gt unchanged */
    for (int pass = 0; pass < 2; pass++) {
        for (int64_t f = 0; f < gt->n_frames; f++) {
            const selsa_vid_gt_frame *fr = &gt->frames[f];
            int64_t cell = fr->frame_id - 1; /* cell index = start(v) - 1 + k (§5.4) */
            if (pass == 0) {
                if (cell < 0 || cell >= cells->n_cells)
                    return selsa_error(SELSA_ERR_INVALID_ARG, "gt frame id %lld has no motion IoU "
                                       "cell (the file holds %lld)", (long long)fr->frame_id,
                                       (long long)cells->n_cells);
                if (videos) {
                    int64_t vi = selsa_vid_val_videos_of_frame(videos, fr->frame_id);
                    const selsa_vid_val_video *v = &videos->items[vi];
                    if (fr->frame_index != fr->frame_id - v->start)
                        return selsa_error(SELSA_ERR_INVALID_ARG, "gt frame id %lld has "
                                           "frame_index %d, but the video list maps that id to "
                                           "frame %lld of %s", (long long)fr->frame_id,
                                           fr->frame_index, (long long)(fr->frame_id - v->start),
                                           v->name);
                }
                int64_t k = cells->offsets[cell + 1] - cells->offsets[cell];
                if (k != fr->count)
                    return selsa_error(SELSA_ERR_INVALID_ARG, "gt frame id %lld has %lld objects "
                                       "but its motion IoU cell holds %lld values",
                                       (long long)fr->frame_id, (long long)fr->count,
                                       (long long)k);
                for (int64_t j = 0; j < k; j++) {
                    double x = cells->values[cells->offsets[cell] + j];
                    if (!(x >= 0.0 && x <= 1.0))
                        return selsa_error(SELSA_ERR_FORMAT, "motion IoU cell %lld value %lld is "
                                           "%g, outside [0, 1]", (long long)cell, (long long)j, x);
                }
            } else {
                for (int64_t j = 0; j < fr->count; j++)
                    gt->objects[fr->first + j].motion_iou =
                        cells->values[cells->offsets[cell] + j];
            }
        }
    }
    return SELSA_OK;
}

selsa_status selsa_vid_motion_load_official(selsa_vid_gt *gt, const char *mat_path,
                                            const char *val_videos_path) {
    if (!gt || !mat_path || !val_videos_path)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_vid_motion_load_official: NULL argument");
    selsa_vid_val_videos videos;
    SELSA_TRY(selsa_vid_val_videos_read(val_videos_path, &videos));
    selsa_mat_cells cells;
    selsa_status st = selsa_mat_read_cells(mat_path, "motion_iou", &cells);
    if (st == SELSA_OK) {
        st = selsa_vid_motion_from_cells(gt, &cells, &videos);
        selsa_mat_cells_free(&cells);
    }
    selsa_vid_val_videos_free(&videos);
    return st;
}

/* ------------------------------------------------------------------ (b) from tracks ------- */

typedef struct vf_key { int64_t video, index, pos; } vf_key;

static int cmp_vf(const void *a, const void *b) {
    const vf_key *x = a, *y = b;
    if (x->video != y->video) return x->video < y->video ? -1 : 1;
    if (x->index != y->index) return x->index < y->index ? -1 : 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

#define MOTION_WINDOW 10 /* frames on each side (vid-eval.md §5.1) */

selsa_status selsa_vid_motion_from_tracks(selsa_vid_gt *gt) {
    if (!gt) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_vid_motion_from_tracks: gt is NULL");
    const int64_t F = gt->n_frames;
    for (int64_t f = 0; f < F; f++) {
        const selsa_vid_gt_frame *fr = &gt->frames[f];
        if (fr->first < 0 || fr->count < 0 || fr->first + fr->count > gt->n_objects)
            return selsa_error(SELSA_ERR_INVALID_ARG, "gt frame %lld: object range outside the "
                               "object array", (long long)fr->frame_id);
    }
    vf_key *keys = malloc((size_t)(F > 0 ? F : 1) * sizeof *keys);
    if (!keys) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "motion from tracks: no memory");
    for (int64_t f = 0; f < F; f++) {
        keys[f].video = gt->frames[f].video;
        keys[f].index = gt->frames[f].frame_index;
        keys[f].pos = f;
    }
    qsort(keys, (size_t)F, sizeof *keys, cmp_vf);
    for (int64_t q = 1; q < F; q++)
        if (keys[q].video == keys[q - 1].video && keys[q].index == keys[q - 1].index) {
            selsa_status st = selsa_error(SELSA_ERR_INVALID_ARG, "gt frames %lld and %lld are both "
                                          "frame %lld of video %lld", (long long)
                                          gt->frames[keys[q - 1].pos].frame_id,
                                          (long long)gt->frames[keys[q].pos].frame_id,
                                          (long long)keys[q].index, (long long)keys[q].video);
            free(keys);
            return st;
        }
    /* frames are independent: each writes only its own objects */
    #pragma omp parallel for schedule(dynamic, 64)
    for (int64_t q = 0; q < F; q++) {
        const selsa_vid_gt_frame *ft = &gt->frames[keys[q].pos];
        /* window [a, b] of sorted positions: same video, |index - t| <= 10 */
        int64_t a = q, b = q;
        while (a > 0 && keys[a - 1].video == keys[q].video &&
               keys[q].index - keys[a - 1].index <= MOTION_WINDOW)
            a--;
        while (b + 1 < F && keys[b + 1].video == keys[q].video &&
               keys[b + 1].index - keys[q].index <= MOTION_WINDOW)
            b++;
        for (int64_t k = 0; k < ft->count; k++) {
            selsa_vid_gt_object *o = &gt->objects[ft->first + k];
            if (o->track_id < 0) {
                o->motion_iou = 1.0; /* no track: treated as isolated (unverified) */
                continue;
            }
            double sum = 0.0;
            int64_t n = 0;
            for (int64_t s = a; s <= b; s++) { /* increasing frame index */
                if (s == q) continue;
                const selsa_vid_gt_frame *fs = &gt->frames[keys[s].pos];
                for (int64_t m = 0; m < fs->count; m++) {
                    const selsa_vid_gt_object *p = &gt->objects[fs->first + m];
                    if (p->track_id != o->track_id) continue;
                    double iou = selsa_vid_iou_or_neg(o->box, p->box);
                    sum += iou > 0 ? iou : 0.0;
                    n++;
                    break; /* first object of the track in that frame */
                }
            }
            if (n == 0) o->motion_iou = 1.0;           /* isolated object (unverified) */
            else if (sum == 0.0) o->motion_iou = 1e-10 / (double)n; /* as the official file */
            else o->motion_iou = sum / (double)n;
        }
    }
    free(keys);
    return SELSA_OK;
}
