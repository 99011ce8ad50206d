/* selsa — test schedules of the MMTracking SELSA model (mmtracking-selsa.md §1.6, §2.2, §2.8):
 *   ADAPTIVE  test_with_adaptive_stride: n_ref frames spread evenly over the video, their slots
 *             computed ONCE per video; every frame detected with them plus itself (key last);
 *   ONLINE    past frames only: a ring of the R most recent frames f with f % S == 0.
 * Both have an uncached variant that recomputes every support frame for every key frame from
 * its image (MMTracking's own computation), used to prove the cached path. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "selsa/context.h"
#include "model/mmtrack_internal.h"

void selsa_mmtrack_adaptive_refs(int64_t L, int n, int64_t *refs) {
    if (!refs || n < 1 || L < 1) return;
    if (n == 1) {
        refs[0] = 0; /* MMTracking divides by n−1 = 0 here; frame 0 is the natural choice */
        return;
    }
    /* stride = float(L − 1)/(n − 1); refs = round(i·stride): Python's round is half to even,
     * which is rint() in the default rounding mode (the product is formed in double first) */
    double stride = (double)(L - 1) / (double)(n - 1);
    for (int i = 0; i < n; i++) {
        int64_t v = (int64_t)rint((double)i * stride);
        refs[i] = v < 0 ? 0 : v > L - 1 ? L - 1 : v;
    }
}

static selsa_status read_frame(selsa_mmtrack_runner *r, selsa_mmtrack_read_fn read, void *user,
                               int64_t index, selsa_image *img) {
    double t0 = selsa_monotonic_seconds();
    selsa_status s = read(user, index, img);
    r->stats.decode += selsa_monotonic_seconds() - t0;
    if (s != SELSA_OK) return selsa_error_context(s, "reading frame %lld", (long long)index);
    return SELSA_OK;
}

static selsa_status copy_image(selsa_image *dst, const selsa_image *src) {
    SELSA_TRY(selsa_image_alloc(dst, src->h, src->w));
    memcpy(dst->data, src->data, (size_t)src->h * (size_t)src->w * 3);
    return SELSA_OK;
}

static selsa_status run_adaptive(selsa_mmtrack_runner *r, int64_t L, int n, bool uncached,
                                 selsa_mmtrack_read_fn read, void *ru, selsa_mmtrack_det_fn on_det,
                                 void *du) {
    selsa_status s = SELSA_OK;
    int64_t *refs = calloc((size_t)n + 1, sizeof(int64_t));
    selsa_image *rimg = uncached ? calloc((size_t)n, sizeof(selsa_image)) : NULL;
    const selsa_image **ptrs = uncached ? calloc((size_t)n + 1, sizeof(selsa_image *)) : NULL;
    selsa_image img = {0};
    if (!refs || (uncached && (!rimg || !ptrs))) {
        s = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "mmtrack schedule: reference tables");
        goto done;
    }
    selsa_mmtrack_adaptive_refs(L, n, refs);
    selsa_mmtrack_support_clear(r);
    /* the memo of frame 0 (§2.2): reference slots computed once for the whole video */
    for (int i = 0; i < n && s == SELSA_OK; i++) {
        int dup = -1;
        for (int j = 0; j < i; j++)
            if (refs[j] == refs[i]) dup = j;
        if (uncached) {
            if (dup >= 0) s = copy_image(&rimg[i], &rimg[dup]);
            else s = read_frame(r, read, ru, refs[i], &rimg[i]);
            ptrs[i] = &rimg[i];
        } else if (dup >= 0) {
            s = selsa_mmtrack_support_push_copy(r, dup); /* duplicates count in the softmax */
        } else {
            s = read_frame(r, read, ru, refs[i], &img);
            if (s == SELSA_OK) s = selsa_mmtrack_support_push_ref(r, refs[i], &img);
        }
    }
    for (int64_t f = 0; f < L && s == SELSA_OK; f++) {
        selsa_mmtrack_result res;
        s = read_frame(r, read, ru, f, &img);
        if (s != SELSA_OK) break;
        if (uncached) {
            ptrs[n] = &img;
            refs[n] = f;
            s = selsa_mmtrack_detect_uncached(r, ptrs, refs, n + 1, &res);
        } else {
            s = selsa_mmtrack_detect(r, f, &img, &res);
        }
        if (s == SELSA_OK) s = on_det(du, f, &res);
    }
done:
    if (rimg)
        for (int i = 0; i < n; i++) selsa_image_free(&rimg[i]);
    free(rimg);
    free(ptrs);
    free(refs);
    selsa_image_free(&img);
    return s;
}

static selsa_status run_online(selsa_mmtrack_runner *r, int64_t L, int R, int S, bool uncached,
                               selsa_mmtrack_read_fn read, void *ru, selsa_mmtrack_det_fn on_det,
                               void *du) {
    selsa_status s = SELSA_OK;
    selsa_image img = {0};
    /* uncached: the ring's images (R + 1 buffers rotate; memory bounded by R frames) */
    selsa_image *rimg = uncached ? calloc((size_t)R + 1, sizeof(selsa_image)) : NULL;
    const selsa_image **ptrs = uncached ? calloc((size_t)R + 1, sizeof(selsa_image *)) : NULL;
    int64_t *frames = calloc((size_t)R + 1, sizeof(int64_t));
    int *order = calloc((size_t)R + 1, sizeof(int)); /* ring position i → image buffer */
    int n_ring = 0;
    if (!frames || !order || (uncached && (!rimg || !ptrs))) {
        s = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "mmtrack schedule: ring tables");
        goto done;
    }
    for (int i = 0; i <= R; i++) order[i] = i;
    selsa_mmtrack_support_clear(r);
    for (int64_t f = 0; f < L && s == SELSA_OK; f++) {
        selsa_mmtrack_result res;
        bool join = R > 0 && f % S == 0;
        if (uncached) {
            /* read the key straight into the spare buffer so it can join the ring */
            selsa_image *kimg = &rimg[order[n_ring < R ? n_ring : R]];
            s = read_frame(r, read, ru, f, kimg);
            if (s != SELSA_OK) break;
            for (int i = 0; i < n_ring; i++) ptrs[i] = &rimg[order[i]];
            ptrs[n_ring] = kimg;
            frames[n_ring] = f;
            s = selsa_mmtrack_detect_uncached(r, ptrs, frames, n_ring + 1, &res);
            if (s == SELSA_OK) s = on_det(du, f, &res);
            if (s == SELSA_OK && join) {
                if (n_ring == R) { /* evict the oldest: rotate buffer order and frame ids */
                    int o0 = order[0];
                    for (int i = 0; i < R; i++) {
                        order[i] = order[i + 1];
                        frames[i] = frames[i + 1];
                    }
                    order[R] = o0;
                    n_ring--;
                }
                n_ring++; /* kimg (= order[n_ring−1] now) and frames[n_ring−1] = f */
            }
        } else {
            s = read_frame(r, read, ru, f, &img);
            if (s == SELSA_OK) s = selsa_mmtrack_detect(r, f, &img, &res);
            if (s == SELSA_OK) s = on_det(du, f, &res);
            if (s == SELSA_OK && join) {
                /* the key's slot is already computed: it joins the ring without recomputation */
                if (selsa_mmtrack_support_count(r) >= R) s = selsa_mmtrack_support_drop_oldest(r);
                if (s == SELSA_OK) s = selsa_mmtrack_support_push_key(r);
            }
        }
    }
done:
    if (rimg)
        for (int i = 0; i <= R; i++) selsa_image_free(&rimg[i]);
    free(rimg);
    free(ptrs);
    free(frames);
    free(order);
    selsa_image_free(&img);
    return s;
}

selsa_status selsa_mmtrack_run_video(selsa_mmtrack_runner *r, int64_t n_frames,
                                     const selsa_mmtrack_schedule_opts *opts,
                                     selsa_mmtrack_read_fn read, void *read_user,
                                     selsa_mmtrack_det_fn on_det, void *det_user) {
    if (!r || !opts || !read || !on_det)
        return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack run_video: NULL argument");
    if (n_frames < 1) return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack run_video: n_frames = %lld must be >= 1", (long long)n_frames);
    const selsa_mmtrack_config *c = &r->m->cfg;
    if (opts->mode == SELSA_MMTRACK_ADAPTIVE) {
        int n = opts->n_ref > 0 ? opts->n_ref : c->n_ref;
        if (n > r->cap)
            return selsa_error(SELSA_ERR_INVALID_ARG,
                               "mmtrack run_video: n_ref = %d exceeds the runner's max_support = %d", n, r->cap);
        return run_adaptive(r, n_frames, n, opts->uncached, read, read_user, on_det, det_user);
    }
    if (opts->mode == SELSA_MMTRACK_ONLINE) {
        int R = opts->ring > 0 ? opts->ring : c->online_ring;
        int S = opts->stride > 0 ? opts->stride : c->online_stride;
        if (R > r->cap)
            return selsa_error(SELSA_ERR_INVALID_ARG,
                               "mmtrack run_video: ring = %d exceeds the runner's max_support = %d", R, r->cap);
        if (S < 1) return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack run_video: stride = %d must be >= 1", S);
        return run_online(r, n_frames, R, S, opts->uncached, read, read_user, on_det, det_user);
    }
    return selsa_error(SELSA_ERR_INVALID_ARG, "mmtrack run_video: unknown mode %d", (int)opts->mode);
}
