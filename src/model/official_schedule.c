/* selsa — the official SELSA test schedule (official-selsa.md §9) with the per-frame cache,
 * and the output writers (official text format, JSON).
 *
 * Memory: the deque refers to at most 2K+1 distinct frames, and one more frame is computed
 * while they are all referenced, so 2K+2 cache slots suffice for any video length; a slot is
 * reused as soon as no deque entry refers to it. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "selsa/context.h"
#include "model/official_internal.h"
#include "selsa/detections_json.h"
#include "selsa/fileio.h"
#include "selsa/rng.h"

void selsa_official_permutation(int64_t n, uint64_t seed, int64_t *perm) {
    selsa_rng rng;
    selsa_rng_seed(&rng, seed, 0x5e15a);
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    /* Fisher–Yates from the end (as numpy's shuffle; the draws are selsa_rng's) */
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)selsa_rng_below(&rng, (uint32_t)(i + 1));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

typedef struct sched {
    selsa_official_runner *r;
    const selsa_official_schedule_opts *o;
    int K, T;
    int64_t dq_frame[SELSA_OFFICIAL_MAX_T]; /* deque (oldest first) */
    int dq_slot[SELSA_OFFICIAL_MAX_T];
    int len;
    int *ref;                   /* [n_slots] deque entries referring to each slot */
    selsa_image *imgs;          /* [n_slots] uncached: the slots' decoded frames; else [1] */
    const selsa_image **img_ptrs; /* [T] */
    selsa_official_det_fn on_det;
    void *det_user;
} sched;

static void push(sched *s, int64_t frame, int slot) {
    if (s->len == s->T) { /* deque(maxlen=2K+1): the oldest entry drops out */
        s->ref[s->dq_slot[0]]--;
        memmove(s->dq_frame, s->dq_frame + 1, (size_t)(s->T - 1) * sizeof(int64_t));
        memmove(s->dq_slot, s->dq_slot + 1, (size_t)(s->T - 1) * sizeof(int));
        s->len--;
    }
    s->dq_frame[s->len] = frame;
    s->dq_slot[s->len] = slot;
    s->len++;
    s->ref[slot]++;
}

/* Detect on deque[K] with the whole deque as the window. */
static selsa_status detect(sched *s) {
    if (s->len != s->T)
        return selsa_error(SELSA_ERR_INTERNAL, "official schedule: window of %d entries, expected %d",
                           s->len, s->T);
    selsa_official_result res;
    if (s->o->uncached) {
        for (int t = 0; t < s->T; t++) s->img_ptrs[t] = &s->imgs[s->dq_slot[t]];
        SELSA_TRY(selsa_official_detect_window_uncached(s->r, s->img_ptrs, s->dq_frame, s->T, s->K, &res));
    } else {
        SELSA_TRY(selsa_official_detect_window(s->r, s->dq_slot, s->T, s->K, &res));
    }
    if (s->on_det) {
        selsa_status st = s->on_det(s->det_user, s->dq_frame[s->K], s->dq_frame, s->T, &res);
        if (st != SELSA_OK)
            return selsa_error_context(st, "detection callback for frame %lld", (long long)s->dq_frame[s->K]);
    }
    return SELSA_OK;
}

/* Read frame f into a free slot and (cached mode) run its per-frame stage once. */
static selsa_status visit(sched *s, int64_t f, selsa_official_read_fn read, void *read_user,
                          int *slot_out) {
    selsa_official_runner *r = s->r;
    int slot = -1;
    for (int i = 0; i < r->n_slots; i++)
        if (s->ref[i] == 0) {
            slot = i;
            break;
        }
    if (slot < 0) return selsa_error(SELSA_ERR_INTERNAL, "official schedule: no free cache slot");
    selsa_image *img = s->o->uncached ? &s->imgs[slot] : &s->imgs[0];
    double t0 = selsa_monotonic_seconds();
    selsa_status st = read(read_user, f, img);
    r->stats.decode += selsa_monotonic_seconds() - t0;
    if (st != SELSA_OK) return selsa_error_context(st, "reading frame %lld", (long long)f);
    if (!img->data || img->h <= 0 || img->w <= 0)
        return selsa_error(SELSA_ERR_FORMAT, "reading frame %lld: the reader returned an empty image",
                           (long long)f);
    if (!s->o->uncached) SELSA_TRY(selsa_official_compute_frame(r, slot, f, img));
    *slot_out = slot;
    return SELSA_OK;
}

static selsa_status run(sched *s, int64_t n, const int64_t *perm, selsa_official_read_fn read,
                        void *read_user) {
    const int K = s->K;
    for (int64_t idx = 0; idx < n; idx++) {
        int64_t f = perm[idx];
        int slot = -1;
        SELSA_TRY(visit(s, f, read, read_user, &slot));
        /* The loader flags the last frame (1), the first (0) and the others (2); with N = 1 the
         * only frame carries the "last" flag (§9), so it gets the last-frame rule only. */
        if (idx < n - 1) {
            if (idx == 0) {
                for (int i = 0; i < K + 1; i++) push(s, f, slot); /* f0 pushed K+1 times */
            } else if (s->len < 2 * K) {
                push(s, f, slot);
            } else {
                push(s, f, slot);
                SELSA_TRY(detect(s));
            }
        } else {
            while (s->len < 2 * K) push(s, f, slot);
            int64_t reps = n < K + 1 ? n : K + 1; /* min(N, K+1) */
            for (int64_t i = 0; i < reps; i++) {
                push(s, f, slot);
                SELSA_TRY(detect(s));
            }
        }
    }
    return SELSA_OK;
}

selsa_status selsa_official_run_video(selsa_official_runner *r, int64_t n_frames,
                                      const selsa_official_schedule_opts *opts,
                                      selsa_official_read_fn read, void *read_user,
                                      selsa_official_det_fn on_det, void *det_user) {
    if (!r || !read) return selsa_error(SELSA_ERR_INVALID_ARG, "official schedule: NULL runner or reader");
    if (n_frames < 1)
        return selsa_error(SELSA_ERR_INVALID_ARG, "official schedule: n_frames = %lld must be >= 1",
                           (long long)n_frames);
    selsa_official_schedule_opts def = {0};
    if (!opts) opts = &def;
    sched s;
    memset(&s, 0, sizeof s);
    s.r = r;
    s.o = opts;
    s.K = r->m->cfg.key_interval;
    s.T = 2 * s.K + 1;
    s.on_det = on_det;
    s.det_user = det_user;
    if (s.T > SELSA_OFFICIAL_MAX_T)
        return selsa_error(SELSA_ERR_UNSUPPORTED, "official schedule: window %d > %d", s.T, SELSA_OFFICIAL_MAX_T);
    int64_t *perm = malloc((size_t)n_frames * sizeof(int64_t));
    uint8_t *seen = calloc((size_t)n_frames, 1);
    s.ref = calloc((size_t)r->n_slots, sizeof(int));
    int n_imgs = opts->uncached ? r->n_slots : 1;
    s.imgs = calloc((size_t)n_imgs, sizeof(selsa_image));
    s.img_ptrs = calloc((size_t)s.T, sizeof(*s.img_ptrs));
    selsa_status st = SELSA_OK;
    if (!perm || !seen || !s.ref || !s.imgs || !s.img_ptrs) {
        st = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "official schedule: %lld frames", (long long)n_frames);
        goto done;
    }
    if (opts->perm) {
        for (int64_t i = 0; i < n_frames; i++) {
            int64_t f = opts->perm[i];
            if (f < 0 || f >= n_frames || seen[f]) {
                st = selsa_error(SELSA_ERR_INVALID_ARG,
                                 "official schedule: perm[%lld] = %lld is not a permutation of 0..%lld",
                                 (long long)i, (long long)f, (long long)(n_frames - 1));
                goto done;
            }
            seen[f] = 1;
            perm[i] = f;
        }
    } else if (opts->temporal_order) {
        for (int64_t i = 0; i < n_frames; i++) perm[i] = i;
    } else {
        selsa_official_permutation(n_frames, opts->seed, perm);
    }
    for (int i = 0; i < r->n_slots; i++) r->slots[i].valid = false;
    st = run(&s, n_frames, perm, read, read_user);
done:
    if (s.imgs)
        for (int i = 0; i < n_imgs; i++) selsa_image_free(&s.imgs[i]);
    free(s.imgs);
    free(s.img_ptrs);
    free(s.ref);
    free(seen);
    free(perm);
    return st;
}

selsa_status selsa_official_read_paths(void *user, int64_t index, selsa_image *img) {
    const char *const *paths = user;
    if (!paths || !paths[index]) return selsa_error(SELSA_ERR_INVALID_ARG, "frame %lld: no path", (long long)index);
    return selsa_image_read(paths[index], img);
}

/* ------------------------------------------------------------------ writers ---------------- */

selsa_status selsa_official_writer_open(selsa_official_writer *w, int64_t frame_id_base,
                                        int64_t n_frames, const char *json_path) {
    if (!w) return selsa_error(SELSA_ERR_INVALID_ARG, "official writer: NULL");
    memset(w, 0, sizeof *w);
    w->frame_id_base = frame_id_base;
    w->n_frames = n_frames;
    selsa_vid_dets_init(&w->dets);
    if (json_path && !(w->json_path = strdup(json_path)))
        return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "official writer: out of memory");
    return SELSA_OK;
}

selsa_status selsa_official_writer_on_det(void *user, int64_t index, const int64_t *window, int T,
                                          const selsa_official_result *res) {
    (void)window, (void)T;
    selsa_official_writer *w = user;
    int64_t fid = w->frame_id_base + index;
    for (int64_t i = 0; i < res->n_dets; i++) {
        const selsa_detection *d = &res->dets[i];
        SELSA_TRY(selsa_vid_dets_add(&w->dets, fid, d->cls, d->score, d->x1, d->y1, d->x2, d->y2));
    }
    w->json_records++;
    return SELSA_OK;
}

typedef struct { int64_t frame_id, pos; } det_key;
static int cmp_key(const void *a, const void *b) {
    const det_key *x = a, *y = b;
    if (x->frame_id != y->frame_id) return x->frame_id < y->frame_id ? -1 : 1;
    return x->pos < y->pos ? -1 : (x->pos > y->pos);
}

/* JSON Lines body (docs/FORMATS.md): one record per frame 0..n_frames-1, detections from the
 * frame-sorted list. */
typedef struct json_body {
    const selsa_official_writer *w;
    const selsa_vid_dets *sorted;
} json_body;

static int write_json_body(FILE *f, const void *user) {
    const json_body *b = user;
    const selsa_vid_dets *d = b->sorted;
    int64_t pos = 0, cap = 0;
    selsa_dets_json_det *buf = NULL;
    int rc = 0;
    for (int64_t index = 0; index < b->w->n_frames && rc == 0; index++) {
        int64_t fid = b->w->frame_id_base + index, n = 0;
        while (pos + n < d->n && d->items[pos + n].frame_id == fid) n++;
        if (n > cap) {
            selsa_dets_json_det *nb = realloc(buf, sizeof *nb * (size_t)n);
            if (!nb) { rc = -1; break; }
            buf = nb, cap = n;
        }
        for (int64_t i = 0; i < n; i++) {
            const selsa_vid_det *e = &d->items[pos + i];
            buf[i] = (selsa_dets_json_det){{e->box[0], e->box[1], e->box[2], e->box[3]}, e->score, e->cls};
        }
        selsa_dets_json_frame fr = {index, fid >= 1 ? fid : 0, NULL, 0, 0, buf, n};
        if (selsa_dets_json_write_frame(f, &fr) != SELSA_OK) rc = -1;
        pos += n;
    }
    free(buf);
    return rc;
}

selsa_status selsa_official_writer_close(selsa_official_writer *w, const char *txt_path) {
    selsa_status st = SELSA_OK;
    /* frames in increasing id order (as the official tester writes them), detections of a frame
     * in output order */
    int64_t n = w->dets.n;
    det_key *k = malloc((size_t)(n ? n : 1) * sizeof *k);
    selsa_vid_dets sorted;
    selsa_vid_dets_init(&sorted);
    sorted.items = malloc((size_t)(n ? n : 1) * sizeof(selsa_vid_det));
    if (!k || !sorted.items) {
        st = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "official writer: %lld detections", (long long)n);
    } else {
        for (int64_t i = 0; i < n; i++) k[i] = (det_key){w->dets.items[i].frame_id, i};
        qsort(k, (size_t)n, sizeof *k, cmp_key);
        for (int64_t i = 0; i < n; i++) sorted.items[i] = w->dets.items[k[i].pos];
        sorted.n = sorted.cap = n;
        if (txt_path) st = selsa_vid_dets_write_txt(&sorted, txt_path);
        if (st == SELSA_OK && w->json_path) {
            json_body b = {w, &sorted};
            st = selsa_file_write_stream_atomic(w->json_path, write_json_body, &b);
        }
    }
    free(k);
    selsa_vid_dets_free(&sorted);
    selsa_official_writer_free(w);
    return st;
}

void selsa_official_writer_free(selsa_official_writer *w) {
    if (!w) return;
    free(w->json_path);
    w->json_path = NULL;
    selsa_vid_dets_free(&w->dets);
}
