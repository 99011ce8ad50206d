/* ImageNet VID evaluator: containers, detection text I/O, vid_eval and vid_eval_motion
 * (vid-eval.md §2–§6), the result table and the JSON writer. See include/selsa/eval.h for
 * the tie rule and the documented deviations. */
#include "selsa/eval.h"
#include "selsa/fileio.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval/eval_internal.h"

const double selsa_vid_motion_ranges[SELSA_VID_NUM_RANGES][2] = {
    {0.0, 1.0}, {0.0, 0.7}, {0.7, 0.9}, {0.9, 1.0}};

const char *selsa_vid_range_name(int range) {
    static const char *names[SELSA_VID_NUM_RANGES] = {"all", "fast", "medium", "slow"};
    return (range >= 0 && range < SELSA_VID_NUM_RANGES) ? names[range] : "?";
}

/* Grow *p (elements of size `elem`) to hold at least `need`, doubling. */
static selsa_status grow(void **p, int64_t *cap, int64_t need, size_t elem, const char *what) {
    if (need <= *cap) return SELSA_OK;
    int64_t nc = *cap > 0 ? *cap : 16;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q)
        return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "%s: no memory for %lld entries", what,
                           (long long)nc);
    *p = q;
    *cap = nc;
    return SELSA_OK;
}

/* ------------------------------------------------------------------ containers ------------ */

void selsa_vid_gt_init(selsa_vid_gt *gt) { memset(gt, 0, sizeof *gt); }

void selsa_vid_gt_free(selsa_vid_gt *gt) {
    if (!gt) return;
    free(gt->frames);
    free(gt->objects);
    memset(gt, 0, sizeof *gt);
}

selsa_status selsa_vid_gt_add_frame(selsa_vid_gt *gt, int64_t frame_id, int32_t video,
                                    int32_t frame_index) {
    if (!gt) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_vid_gt_add_frame: gt is NULL");
    if (frame_id < 1)
        return selsa_error(SELSA_ERR_INVALID_ARG, "gt frame id %lld: ids are 1-based",
                           (long long)frame_id);
    if (frame_index < 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "gt frame %lld: frame_index %d < 0",
                           (long long)frame_id, frame_index);
    SELSA_TRY(grow((void **)&gt->frames, &gt->cap_frames, gt->n_frames + 1, sizeof *gt->frames,
                   "gt frames"));
    selsa_vid_gt_frame *f = &gt->frames[gt->n_frames++];
    f->frame_id = frame_id;
    f->video = video;
    f->frame_index = frame_index;
    f->first = gt->n_objects;
    f->count = 0;
    return SELSA_OK;
}

selsa_status selsa_vid_gt_add_object(selsa_vid_gt *gt, int32_t cls, int32_t track_id, double x1,
                                     double y1, double x2, double y2) {
    if (!gt) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_vid_gt_add_object: gt is NULL");
    if (gt->n_frames == 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_vid_gt_add_object: add a frame first");
    selsa_vid_gt_frame *f = &gt->frames[gt->n_frames - 1];
    if (cls < 1 || cls > SELSA_VID_NUM_CLASSES)
        return selsa_error(SELSA_ERR_INVALID_ARG, "gt frame %lld: class %d out of range 1..%d",
                           (long long)f->frame_id, cls, SELSA_VID_NUM_CLASSES);
    if (!isfinite(x1) || !isfinite(y1) || !isfinite(x2) || !isfinite(y2))
        return selsa_error(SELSA_ERR_INVALID_ARG, "gt frame %lld: non-finite box",
                           (long long)f->frame_id);
    SELSA_TRY(grow((void **)&gt->objects, &gt->cap_objects, gt->n_objects + 1,
                   sizeof *gt->objects, "gt objects"));
    selsa_vid_gt_object *o = &gt->objects[gt->n_objects++];
    o->box[0] = x1;
    o->box[1] = y1;
    o->box[2] = x2;
    o->box[3] = y2;
    o->motion_iou = NAN;
    o->cls = cls;
    o->track_id = track_id;
    f->count++;
    return SELSA_OK;
}

void selsa_vid_dets_init(selsa_vid_dets *d) { memset(d, 0, sizeof *d); }

void selsa_vid_dets_free(selsa_vid_dets *d) {
    if (!d) return;
    free(d->items);
    memset(d, 0, sizeof *d);
}

selsa_status selsa_vid_dets_add(selsa_vid_dets *d, int64_t frame_id, int32_t cls, double score,
                                double x1, double y1, double x2, double y2) {
    if (!d) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_vid_dets_add: dets is NULL");
    if (frame_id < 1)
        return selsa_error(SELSA_ERR_INVALID_ARG, "detection frame id %lld: ids are 1-based",
                           (long long)frame_id);
    if (cls < 1 || cls > SELSA_VID_NUM_CLASSES)
        return selsa_error(SELSA_ERR_INVALID_ARG, "detection class %d out of range 1..%d", cls,
                           SELSA_VID_NUM_CLASSES);
    if (!isfinite(score) || !isfinite(x1) || !isfinite(y1) || !isfinite(x2) || !isfinite(y2))
        return selsa_error(SELSA_ERR_INVALID_ARG, "detection in frame %lld: non-finite score or "
                           "box", (long long)frame_id);
    SELSA_TRY(grow((void **)&d->items, &d->cap, d->n + 1, sizeof *d->items, "detections"));
    selsa_vid_det *e = &d->items[d->n++];
    e->box[0] = x1;
    e->box[1] = y1;
    e->box[2] = x2;
    e->box[3] = y2;
    e->score = score;
    e->frame_id = frame_id;
    e->cls = cls;
    return SELSA_OK;
}

/* ------------------------------------------------------------------ detection text -------- */

static const char *const det_fields[7] = {"frame_id", "cls", "score", "x1", "y1", "x2", "y2"};

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* Parse one line [s, e) (no '\n'). Returns SELSA_OK and *blank = true for a blank line. */
static selsa_status parse_det_line(selsa_vid_dets *d, const char *s, const char *e,
                                   const char *what, long long line, bool *blank) {
    char tok[7][64];
    int nf = 0;
    const char *p = s;
    *blank = false;
    while (p < e) {
        while (p < e && is_space(*p)) p++;
        if (p >= e) break;
        const char *q = p;
        while (q < e && !is_space(*q)) q++;
        if (nf >= 7) {
            nf++;
            p = q;
            continue;
        }
        size_t n = (size_t)(q - p);
        if (n >= sizeof tok[0])
            return selsa_error(SELSA_ERR_FORMAT, "%s:%lld: field %d (%s) is too long (%zu chars)",
                               what, line, nf + 1, det_fields[nf], n);
        memcpy(tok[nf], p, n);
        tok[nf][n] = '\0';
        nf++;
        p = q;
    }
    if (nf == 0) {
        *blank = true;
        return SELSA_OK;
    }
    if (nf != 7)
        return selsa_error(SELSA_ERR_FORMAT, "%s:%lld: expected 7 fields `frame_id cls score x1 "
                           "y1 x2 y2`, got %d", what, line, nf);
    long long ival[2];
    for (int i = 0; i < 2; i++) {
        char *end = NULL;
        errno = 0;
        ival[i] = strtoll(tok[i], &end, 10);
        if (end == tok[i] || *end != '\0' || errno == ERANGE)
            return selsa_error(SELSA_ERR_FORMAT, "%s:%lld: field %d (%s) \"%s\" is not an integer",
                               what, line, i + 1, det_fields[i], tok[i]);
    }
    double v[5];
    for (int i = 0; i < 5; i++) {
        char *end = NULL;
        v[i] = strtod(tok[i + 2], &end);
        if (end == tok[i + 2] || *end != '\0' || !isfinite(v[i]))
            return selsa_error(SELSA_ERR_FORMAT, "%s:%lld: field %d (%s) \"%s\" is not a finite "
                               "number", what, line, i + 3, det_fields[i + 2], tok[i + 2]);
    }
    if (ival[0] < 1)
        return selsa_error(SELSA_ERR_FORMAT, "%s:%lld: frame id %lld: ids are 1-based", what, line,
                           ival[0]);
    if (ival[1] < 1 || ival[1] > SELSA_VID_NUM_CLASSES)
        return selsa_error(SELSA_ERR_FORMAT, "%s:%lld: class %lld out of range 1..%d", what, line,
                           ival[1], SELSA_VID_NUM_CLASSES);
    selsa_status st = selsa_vid_dets_add(d, ival[0], (int32_t)ival[1], v[0], v[1], v[2], v[3], v[4]);
    if (st != SELSA_OK) return selsa_error_context(st, "%s:%lld: ", what, line);
    return SELSA_OK;
}

selsa_status selsa_vid_dets_parse_txt(selsa_vid_dets *d, const char *text, size_t len,
                                      const char *what) {
    if (!d || (!text && len))
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_vid_dets_parse_txt: NULL argument");
    if (!what) what = "detections";
    const char *p = text, *end = text + len;
    long long line = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        bool blank;
        line++;
        SELSA_TRY(parse_det_line(d, p, e, what, line, &blank));
        p = nl ? nl + 1 : end;
    }
    return SELSA_OK;
}

selsa_status selsa_vid_dets_read_txt(selsa_vid_dets *d, const char *path) {
    if (!d || !path)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_vid_dets_read_txt: NULL argument");
    FILE *f = fopen(path, "rb");
    if (!f) return selsa_error(SELSA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    long long line = 0;
    selsa_status st = SELSA_OK;
    while ((n = getline(&buf, &cap, f)) >= 0) {
        line++;
        if (memchr(buf, '\0', (size_t)n)) {
            st = selsa_error(SELSA_ERR_FORMAT, "%s:%lld: NUL byte (binary file?)", path, line);
            break;
        }
        size_t len = (size_t)n;
        if (len && buf[len - 1] == '\n') len--;
        bool blank;
        st = parse_det_line(d, buf, buf + len, path, line, &blank);
        if (st != SELSA_OK) break;
    }
    if (st == SELSA_OK && ferror(f))
        st = selsa_error(SELSA_ERR_IO, "%s: read error after line %lld", path, line);
    free(buf);
    fclose(f);
    return st;
}

static int write_dets_body(FILE *f, const void *user) {
    const selsa_vid_dets *d = user;
    for (int64_t i = 0; i < d->n; i++) {
        const selsa_vid_det *e = &d->items[i];
        if (fprintf(f, "%lld %d %.4f %.2f %.2f %.2f %.2f\n", (long long)e->frame_id, e->cls,
                    e->score, e->box[0], e->box[1], e->box[2], e->box[3]) < 0)
            return -1;
    }
    return 0;
}

selsa_status selsa_vid_dets_write_txt(const selsa_vid_dets *d, const char *path) {
    if (!d) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_vid_dets_write_txt: dets is NULL");
    return selsa_file_write_stream_atomic(path, write_dets_body, d);
}

/* ------------------------------------------------------------------ evaluation ------------ */

void selsa_vid_eval_opts_default(selsa_vid_eval_opts *o) {
    o->motion = true;
    o->area_lo = 0.0;
    o->area_hi = 1e10;
}

/* Sort keys. qsort with a total order (ties broken by a unique index) = a stable sort. */
typedef struct key_id { int64_t key; int64_t idx; } key_id;
typedef struct det_key { int64_t pos; double score; int64_t idx; } det_key;
typedef struct score_key { double score; int64_t idx; } score_key;

static int cmp_key_id(const void *a, const void *b) {
    const key_id *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}
/* frame position ascending, then score descending, then input order */
static int cmp_det_key(const void *a, const void *b) {
    const det_key *x = a, *y = b;
    if (x->pos != y->pos) return x->pos < y->pos ? -1 : 1;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}
/* score descending, then position in the concatenated per-frame list */
static int cmp_score_key(const void *a, const void *b) {
    const score_key *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* Per-gt threshold (vid-eval.md §3); np.min([thr, 0.5]) propagates NaN, so does this. */
static double gt_threshold(const double *b) {
    double w = b[2] - b[0] + 1, h = b[3] - b[1] + 1;
    double thr = (w * h) / ((w + 10) * (h + 10));
    return (thr < 0.5 || isnan(thr)) ? thr : 0.5;
}

/* All-point AP (vid_ap, §4 step 6) of one class from tp/fp in global score order.
 * mrec/mpre: scratch of n+2 doubles each. */
static double vid_ap(const double *rec, const double *prec, int64_t n, double *mrec,
                     double *mpre) {
    mrec[0] = 0.0;
    mpre[0] = 0.0;
    for (int64_t i = 0; i < n; i++) {
        mrec[i + 1] = rec[i];
        mpre[i + 1] = prec[i];
    }
    mrec[n + 1] = 1.0;
    mpre[n + 1] = 0.0;
    for (int64_t i = n + 1; i > 0; i--)
        if (mpre[i] > mpre[i - 1]) mpre[i - 1] = mpre[i];
    double ap = 0.0;
    for (int64_t i = 0; i < n + 1; i++)
        if (mrec[i + 1] != mrec[i]) ap += (mrec[i + 1] - mrec[i]) * mpre[i + 1];
    return ap;
}

/* AP per class over the concatenated detections (tp/fp/label/score in frame order, length n),
 * ordered by `gorder`. npos <= 0 gives −1 (excluded from the mean). Scratch: 4(n+2) doubles. */
static double class_aps(const double *tp, const double *fp, const int32_t *label,
                        const int64_t *gorder, int64_t n, const int64_t *npos, double *scratch,
                        double *ap) {
    double *rec = scratch, *prec = scratch + (n + 2), *mrec = scratch + 2 * (n + 2),
           *mpre = scratch + 3 * (n + 2);
    double sum = 0.0;
    int counted = 0;
    for (int c = 1; c <= SELSA_VID_NUM_CLASSES; c++) {
        if (npos[c - 1] <= 0) {
            ap[c - 1] = -1.0;
            continue;
        }
        double ctp = 0.0, cfp = 0.0;
        int64_t m = 0;
        for (int64_t g = 0; g < n; g++) {
            int64_t j = gorder[g];
            if (label[j] != c) continue;
            ctp += tp[j]; /* np.cumsum: sequential */
            cfp += fp[j];
            rec[m] = ctp / (double)npos[c - 1];
            double den = ctp + cfp;
            prec[m] = ctp / (den > DBL_EPSILON ? den : DBL_EPSILON);
            m++;
        }
        ap[c - 1] = vid_ap(rec, prec, m, mrec, mpre);
        sum += ap[c - 1];
        counted++;
    }
    return counted ? sum / counted : -1.0;
}

selsa_status selsa_vid_eval(const selsa_vid_gt *gt, const selsa_vid_dets *dets,
                            const selsa_vid_eval_opts *opts_in, selsa_vid_eval_result *out) {
    if (!gt || !dets || !out)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_vid_eval: NULL argument");
    memset(out, 0, sizeof *out);
    selsa_vid_eval_opts opts;
    selsa_vid_eval_opts_default(&opts);
    bool motion_required = false;
    if (opts_in) {
        opts = *opts_in;
        motion_required = opts.motion;
    }
    if (!(opts.area_lo <= opts.area_hi))
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_vid_eval: area range [%g, %g] is empty",
                           opts.area_lo, opts.area_hi);
    const int64_t F = gt->n_frames, N = dets->n;
    /* validate the gt: object ranges, classes, motion values */
    bool all_motion = true;
    int64_t max_objs = 0;
    for (int64_t f = 0; f < F; f++) {
        const selsa_vid_gt_frame *fr = &gt->frames[f];
        if (fr->first < 0 || fr->count < 0 || fr->first + fr->count > gt->n_objects)
            return selsa_error(SELSA_ERR_INVALID_ARG, "gt frame %lld: object range [%lld, +%lld) "
                               "outside the %lld objects", (long long)fr->frame_id,
                               (long long)fr->first, (long long)fr->count,
                               (long long)gt->n_objects);
        if (fr->count > max_objs) max_objs = fr->count;
        for (int64_t k = 0; k < fr->count; k++) {
            const selsa_vid_gt_object *o = &gt->objects[fr->first + k];
            if (o->cls < 1 || o->cls > SELSA_VID_NUM_CLASSES)
                return selsa_error(SELSA_ERR_INVALID_ARG, "gt frame %lld object %lld: class %d "
                                   "out of range 1..%d", (long long)fr->frame_id, (long long)k,
                                   o->cls, SELSA_VID_NUM_CLASSES);
            if (!(o->motion_iou >= 0.0 && o->motion_iou <= 1.0)) all_motion = false;
            out->npos[o->cls - 1]++;
        }
        out->n_objects += fr->count;
    }
    if (motion_required && !all_motion)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_vid_eval: motion evaluation requested but "
                           "some gt objects have no motion IoU in [0, 1] (load the official .mat "
                           "or compute it from tracks)");
    bool do_motion = opts.motion && all_motion;
    out->n_frames = F;
    out->n_dets = N;

    /* one allocation for all work arrays */
    size_t bytes = (size_t)F * sizeof(key_id) + (size_t)N * sizeof(det_key) +
                   (size_t)N * sizeof(score_key) + (size_t)(F + 1) * sizeof(int64_t) +
                   (size_t)N * (2 * sizeof(int64_t) + 2 * sizeof(double) + sizeof(int32_t)) +
                   (size_t)4 * (N + 2) * sizeof(double) + (size_t)(max_objs + 1) * 3;
    char *mem = malloc(bytes + 64);
    if (!mem)
        return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "selsa_vid_eval: no memory (%zu bytes)", bytes);
    char *mp = mem;
#define TAKE(ptr, count)                                                      \
    do {                                                                      \
        ptr = (void *)mp;                                                     \
        mp += (((size_t)(count) * sizeof *ptr) + 7) & ~(size_t)7;             \
    } while (0)
    key_id *fsort;
    det_key *dk;
    score_key *sk;
    int64_t *fbeg, *order, *gorder;
    double *tp, *fp, *scratch;
    int32_t *label;
    uint8_t *detected, *ig_m, *ig_a;
    TAKE(fsort, F);
    TAKE(dk, N);
    TAKE(sk, N);
    TAKE(fbeg, F + 1);
    TAKE(order, N);
    TAKE(gorder, N);
    TAKE(tp, N);
    TAKE(fp, N);
    TAKE(label, N);
    TAKE(scratch, 4 * (N + 2));
    TAKE(detected, max_objs + 1);
    TAKE(ig_m, max_objs + 1);
    TAKE(ig_a, max_objs + 1);
#undef TAKE
    selsa_status st = SELSA_OK;

    /* frame id -> position in the gt list (binary search); ids must be unique */
    for (int64_t f = 0; f < F; f++) {
        fsort[f].key = gt->frames[f].frame_id;
        fsort[f].idx = f;
    }
    qsort(fsort, (size_t)F, sizeof *fsort, cmp_key_id);
    for (int64_t f = 1; f < F; f++)
        if (fsort[f].key == fsort[f - 1].key) {
            st = selsa_error(SELSA_ERR_INVALID_ARG, "gt frame id %lld appears twice in the gt "
                             "list", (long long)fsort[f].key);
            goto done;
        }

    /* group the detections by frame (gt order), within a frame by score (stable) */
    int64_t kept = 0;
    for (int64_t i = 0; i < N; i++) {
        int64_t id = dets->items[i].frame_id, lo = 0, hi = F - 1, pos = -1;
        while (lo <= hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (fsort[mid].key == id) { pos = fsort[mid].idx; break; }
            if (fsort[mid].key < id) lo = mid + 1;
            else hi = mid - 1;
        }
        if (pos < 0) { out->n_dets_ignored++; continue; }
        dk[kept].pos = pos;
        dk[kept].score = dets->items[i].score;
        dk[kept].idx = i;
        kept++;
    }
    qsort(dk, (size_t)kept, sizeof *dk, cmp_det_key);
    for (int64_t f = 0, j = 0; f <= F; f++) {
        while (j < kept && dk[j].pos < f) j++;
        fbeg[f] = j;
    }
    for (int64_t j = 0; j < kept; j++) {
        order[j] = dk[j].idx;
        label[j] = dets->items[dk[j].idx].cls;
        sk[j].score = dk[j].score;
        sk[j].idx = j;
    }
    /* global order by score (stable w.r.t. the concatenation in gt frame order) */
    qsort(sk, (size_t)kept, sizeof *sk, cmp_score_key);
    for (int64_t j = 0; j < kept; j++) gorder[j] = sk[j].idx;

    /* ---- overall: vid_eval (§4) ---- */
    for (int64_t f = 0; f < F; f++) {
        const selsa_vid_gt_frame *fr = &gt->frames[f];
        const selsa_vid_gt_object *g = gt->objects + fr->first;
        memset(detected, 0, (size_t)fr->count);
        for (int64_t j = fbeg[f]; j < fbeg[f + 1]; j++) {
            const selsa_vid_det *d = &dets->items[order[j]];
            double ovmax = -1.0;
            int64_t kmax = -1;
            for (int64_t k = 0; k < fr->count; k++) {
                if (d->cls != g[k].cls || detected[k]) continue;
                double ov = selsa_vid_iou_or_neg(d->box, g[k].box);
                if (ov < 0) continue; /* iw <= 0 or ih <= 0: not a candidate */
                if (ov >= gt_threshold(g[k].box) && ov > ovmax) {
                    ovmax = ov;
                    kmax = k;
                }
            }
            if (kmax >= 0) {
                tp[j] = 1.0;
                fp[j] = 0.0;
                detected[kmax] = 1;
            } else {
                tp[j] = 0.0;
                fp[j] = 1.0;
            }
        }
    }
    out->map = class_aps(tp, fp, label, gorder, kept, out->npos, scratch, out->ap);

    if (!do_motion) goto done;
    out->has_motion = true;

    /* ---- motion ranges: vid_eval_motion (§6) ---- */
    int64_t n_loaded = 0;
    for (int64_t f = 0; f < F; f++) n_loaded += gt->frames[f].count > 0 ? gt->frames[f].count : 1;
    out->n_loaded = n_loaded;
    for (int r = 0; r < SELSA_VID_NUM_RANGES; r++) {
        const double lo = selsa_vid_motion_ranges[r][0], hi = selsa_vid_motion_ranges[r][1];
        /* empty_weight: fraction of ALL loaded values inside the range, the dummy 0.0 of every
         * frame without objects included (§6.2 step 1) */
        int64_t inside = 0;
        for (int64_t f = 0; f < F; f++) {
            const selsa_vid_gt_frame *fr = &gt->frames[f];
            if (fr->count == 0) inside += (0.0 >= lo && 0.0 <= hi);
            for (int64_t k = 0; k < fr->count; k++) {
                double v = gt->objects[fr->first + k].motion_iou;
                inside += (v >= lo && v <= hi);
            }
        }
        out->range_count[r] = inside;
        const double empty_weight = n_loaded ? (double)inside / (double)n_loaded : 0.0;
        out->empty_weight[r] = empty_weight;
        int64_t *npos = out->motion_npos[r];
        memcpy(npos, out->npos, sizeof out->npos);

        for (int64_t f = 0; f < F; f++) {
            const selsa_vid_gt_frame *fr = &gt->frames[f];
            const selsa_vid_gt_object *g = gt->objects + fr->first;
            const int64_t ng = fr->count;
            int64_t n_ig_motion = 0;
            for (int64_t k = 0; k < ng; k++) {
                const double *b = g[k].box;
                double v = g[k].motion_iou;
                double area = (b[3] - b[1] + 1) * (b[2] - b[0] + 1);
                ig_m[k] = v < lo || v > hi; /* inclusive ends (§6.1) */
                ig_a[k] = area < opts.area_lo || area > opts.area_hi;
                n_ig_motion += ig_m[k];
                if (ig_m[k] || ig_a[k]) npos[g[k].cls - 1]--;
                detected[k] = 0;
            }
            for (int64_t j = fbeg[f]; j < fbeg[f + 1]; j++) {
                const selsa_vid_det *d = &dets->items[order[j]];
                double ovmax = -1.0, ovmax_ig = -1.0, ovmax_nig = -1.0;
                int64_t kmax = -1;
                for (int64_t k = 0; k < ng; k++) {
                    /* the official code precomputes ov with 0 for non-overlapping pairs, so
                     * here (unlike vid_eval) a non-overlap is IoU 0: it raises ovmax_ig /
                     * ovmax_nig from −1 to 0 */
                    double ov = selsa_vid_iou_or_neg(d->box, g[k].box);
                    if (ov < 0) ov = 0.0;
                    if (ov >= gt_threshold(g[k].box) && ov > ovmax && !detected[k] &&
                        d->cls == g[k].cls) {
                        ovmax = ov;
                        kmax = k;
                    }
                    if (ig_m[k] && ov > ovmax_ig) ovmax_ig = ov;
                    if (!ig_m[k] && ov > ovmax_nig) ovmax_nig = ov;
                }
                tp[j] = 0.0;
                fp[j] = 0.0;
                if (kmax >= 0) {
                    detected[kmax] = 1;
                    if (!ig_m[kmax] && !ig_a[kmax]) tp[j] = 1.0; /* ignored gt: neither */
                } else {
                    const double *b = d->box;
                    double area = (b[3] - b[1] + 1) * (b[2] - b[0] + 1);
                    if (area < opts.area_lo || area > opts.area_hi) fp[j] = 0.0;
                    else if (ovmax_nig > ovmax_ig) fp[j] = 1.0;
                    else if (ovmax_ig > ovmax_nig) fp[j] = 0.0;
                    else if (ng == 0) fp[j] = empty_weight;
                    else fp[j] = (double)n_ig_motion / (double)ng; /* fractional, as official */
                }
            }
        }
        out->motion_map[r] = class_aps(tp, fp, label, gorder, kept, npos, scratch,
                                       out->motion_ap[r]);
    }

done:
    free(mem);
    return st;
}

/* ------------------------------------------------------------------ output ---------------- */

typedef struct sbuf { char *buf; size_t cap, len; } sbuf;

__attribute__((format(printf, 2, 3))) static void sb_printf(sbuf *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = s->len < s->cap ? s->cap - s->len : 0;
    int n = vsnprintf(room ? s->buf + s->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0) s->len += (size_t)n;
}

static void sb_ap(sbuf *s, double ap) {
    if (ap < 0) sb_printf(s, " %8s", "-");
    else sb_printf(s, " %8.4f", ap);
}

size_t selsa_vid_eval_format(const selsa_vid_eval_result *r, char *buf, size_t cap) {
    sbuf s = {buf, cap, 0};
    if (buf && cap) buf[0] = '\0';
    if (!r) return 0;
    sb_printf(&s, "%-14s %8s", "class", "AP@0.5");
    if (r->has_motion)
        for (int m = 1; m < SELSA_VID_NUM_RANGES; m++)
            sb_printf(&s, " %8s", selsa_vid_range_name(m));
    sb_printf(&s, " %8s\n", "npos");
    for (int c = 1; c <= SELSA_VID_NUM_CLASSES; c++) {
        sb_printf(&s, "%-14s", selsa_vid_class_name(c));
        sb_ap(&s, r->ap[c - 1]);
        if (r->has_motion)
            for (int m = 1; m < SELSA_VID_NUM_RANGES; m++) sb_ap(&s, r->motion_ap[m][c - 1]);
        sb_printf(&s, " %8lld\n", (long long)r->npos[c - 1]);
    }
    sb_printf(&s, "%-14s", "mean");
    sb_ap(&s, r->map);
    if (r->has_motion)
        for (int m = 1; m < SELSA_VID_NUM_RANGES; m++) sb_ap(&s, r->motion_map[m]);
    sb_printf(&s, "\n");
    sb_printf(&s, "mAP@0.5 %.4f", r->map);
    if (r->has_motion)
        sb_printf(&s, " | slow %.4f | medium %.4f | fast %.4f", r->motion_map[SELSA_VID_RANGE_SLOW],
                  r->motion_map[SELSA_VID_RANGE_MEDIUM], r->motion_map[SELSA_VID_RANGE_FAST]);
    sb_printf(&s, "  (%lld frames, %lld gt, %lld detections, %lld in frames without gt entry)\n",
              (long long)r->n_frames, (long long)r->n_objects, (long long)r->n_dets,
              (long long)r->n_dets_ignored);
    if (s.len >= s.cap && buf && cap) buf[cap - 1] = '\0';
    return s.len;
}

static int json_ap_object(FILE *f, const double *ap, const char *indent) {
    int bad = fprintf(f, "{") < 0;
    for (int c = 1; c <= SELSA_VID_NUM_CLASSES; c++)
        bad |= fprintf(f, "%s\n%s  \"%s\": %.17g", c > 1 ? "," : "", indent,
                       selsa_vid_class_name(c), ap[c - 1]) < 0;
    bad |= fprintf(f, "\n%s}", indent) < 0;
    return bad ? -1 : 0;
}

static int json_npos(FILE *f, const int64_t *npos) {
    int bad = fprintf(f, "[") < 0;
    for (int c = 0; c < SELSA_VID_NUM_CLASSES; c++)
        bad |= fprintf(f, "%s%lld", c ? ", " : "", (long long)npos[c]) < 0;
    bad |= fprintf(f, "]") < 0;
    return bad ? -1 : 0;
}

static int write_json_body(FILE *f, const void *user) {
    const selsa_vid_eval_result *r = user;
    int bad = 0;
    bad |= fprintf(f, "{\n  \"protocol\": \"ImageNet VID, FGFA/SELSA vid_eval + vid_eval_motion\",\n"
                      "  \"note\": \"AP -1 = class without (non-ignored) gt, excluded from the "
                      "mean\",\n") < 0;
    bad |= fprintf(f, "  \"n_frames\": %lld,\n  \"n_gt\": %lld,\n  \"n_detections\": %lld,\n"
                      "  \"n_detections_ignored\": %lld,\n", (long long)r->n_frames,
                   (long long)r->n_objects, (long long)r->n_dets, (long long)r->n_dets_ignored) < 0;
    bad |= fprintf(f, "  \"mAP\": %.17g,\n", r->map) < 0;
    if (r->has_motion)
        bad |= fprintf(f, "  \"mAP_slow\": %.17g,\n  \"mAP_medium\": %.17g,\n  \"mAP_fast\": %.17g,\n",
                       r->motion_map[SELSA_VID_RANGE_SLOW], r->motion_map[SELSA_VID_RANGE_MEDIUM],
                       r->motion_map[SELSA_VID_RANGE_FAST]) < 0;
    bad |= fprintf(f, "  \"classes\": [") < 0;
    for (int c = 1; c <= SELSA_VID_NUM_CLASSES; c++)
        bad |= fprintf(f, "%s\"%s\"", c > 1 ? ", " : "", selsa_vid_class_name(c)) < 0;
    bad |= fprintf(f, "],\n  \"npos\": ") < 0;
    bad |= json_npos(f, r->npos);
    bad |= fprintf(f, ",\n  \"ap\": ") < 0;
    bad |= json_ap_object(f, r->ap, "  ");
    if (r->has_motion) {
        bad |= fprintf(f, ",\n  \"motion\": {") < 0;
        for (int m = 0; m < SELSA_VID_NUM_RANGES; m++) {
            bad |= fprintf(f, "%s\n    \"%s\": {\n      \"range\": [%.17g, %.17g],\n"
                              "      \"mAP\": %.17g,\n      \"empty_weight\": %.17g,\n"
                              "      \"values_in_range\": %lld,\n      \"npos\": ",
                           m ? "," : "", selsa_vid_range_name(m), selsa_vid_motion_ranges[m][0],
                           selsa_vid_motion_ranges[m][1], r->motion_map[m], r->empty_weight[m],
                           (long long)r->range_count[m]) < 0;
            bad |= json_npos(f, r->motion_npos[m]);
            bad |= fprintf(f, ",\n      \"ap\": ") < 0;
            bad |= json_ap_object(f, r->motion_ap[m], "      ");
            bad |= fprintf(f, "\n    }") < 0;
        }
        bad |= fprintf(f, "\n  },\n  \"n_motion_values\": %lld", (long long)r->n_loaded) < 0;
    }
    bad |= fprintf(f, "\n}\n") < 0;
    return bad ? -1 : 0;
}

selsa_status selsa_vid_eval_write_json(const selsa_vid_eval_result *r, const char *path) {
    if (!r) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_vid_eval_write_json: result is NULL");
    return selsa_file_write_stream_atomic(path, write_json_body, r);
}
