/* selsa — the official SSD-style training augmentation (official-selsa.md §8.5; ssd.pytorch
 * augmentations.py as modified by the official aug config: expand ratio U(1, 2), crop width
 * U(0.3W, W) with the aspect ratio kept, the min-IoU check dropped because it never fires).
 *
 * Random draws map numpy's as follows (each from the caller's selsa_rng, in the same order as
 * the Python code): random.randint(2) → selsa_rng_below(r, 2); random.uniform(a, b) →
 * a + (b − a)·selsa_rng_uniform(r) in double; random.choice of 6 → selsa_rng_below(r, 6).
 * Arithmetic on the image is float32 like the numpy float32 array (scalars are cast to float32
 * first, as numpy's value-based casting does for a Python float and a float32 array). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "selsa/train_data.h"

selsa_status selsa_fimage_alloc(selsa_fimage *im, int h, int w)
{
    if (!im || h < 0 || w < 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_fimage_alloc: bad size %dx%d", h, w);
    size_t need = (size_t)h * (size_t)w * 3;
    if (need > im->cap) {
        float *p = realloc(im->data, need * sizeof(float));
        if (!p) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "selsa_fimage_alloc: %dx%d", h, w);
        im->data = p;
        im->cap = need;
    }
    im->h = h;
    im->w = w;
    return SELSA_OK;
}

void selsa_fimage_free(selsa_fimage *im)
{
    if (!im) return;
    free(im->data);
    memset(im, 0, sizeof(*im));
}

selsa_status selsa_fimage_from_u8(const selsa_image *src, selsa_fimage *dst)
{
    SELSA_TRY(selsa_fimage_alloc(dst, src->h, src->w));
    size_t n = (size_t)src->h * src->w * 3;
    for (size_t i = 0; i < n; i++) dst->data[i] = (float)src->data[i];
    return SELSA_OK;
}

uint8_t selsa_u8_wrap(float v)
{
    /* numpy astype(uint8) on x86-64: truncation toward zero, then the low 8 bits */
    if (v != v) return 0;
    if (v >= 2147483647.0f) v = 2147483647.0f;
    if (v <= -2147483648.0f) v = -2147483648.0f;
    int32_t i = (int32_t)v;
    return (uint8_t)((uint32_t)i & 0xFFu);
}

selsa_status selsa_fimage_to_u8(const selsa_fimage *src, selsa_image *dst)
{
    SELSA_TRY(selsa_image_alloc(dst, src->h, src->w));
    size_t n = (size_t)src->h * src->w * 3;
    for (size_t i = 0; i < n; i++) dst->data[i] = selsa_u8_wrap(src->data[i]);
    return SELSA_OK;
}

selsa_aug_params selsa_aug_params_official(const double pixel_means_bgr[3])
{
    selsa_aug_params p;
    for (int c = 0; c < 3; c++) p.mean_bgr[c] = pixel_means_bgr[c];
    p.expand_scale = 2.0;
    p.crop_pert = 0.3;
    p.max_tries = 50;
    p.max_rounds = 1000;
    return p;
}

static inline int randint2(selsa_rng *r) { return (int)selsa_rng_below(r, 2); }
static inline double uniform(selsa_rng *r, double a, double b)
{
    return a + (b - a) * selsa_rng_uniform(r);
}

/* ---- HSV (OpenCV float path, cvtColor with hrange 360) ---- */

void selsa_fimage_bgr2hsv(selsa_fimage *im)
{
    size_t n = (size_t)im->h * im->w;
    for (size_t i = 0; i < n; i++) {
        float *px = im->data + 3 * i;
        float b = px[0], g = px[1], r = px[2];
        float v = r, vmin = r;
        if (v < g) v = g;
        if (v < b) v = b;
        if (vmin > g) vmin = g;
        if (vmin > b) vmin = b;
        float diff = v - vmin;
        float s = diff / (float)(fabsf(v) + FLT_EPSILON);
        diff = (float)(60. / (diff + FLT_EPSILON));
        float h;
        if (v == r) h = (g - b) * diff;
        else if (v == g) h = (b - r) * diff + 120.f;
        else h = (r - g) * diff + 240.f;
        if (h < 0) h += 360.f;
        px[0] = h;
        px[1] = s;
        px[2] = v;
    }
}

void selsa_fimage_hsv2bgr(selsa_fimage *im)
{
    static const int sector_data[6][3] = {{1, 3, 0}, {1, 0, 2}, {3, 0, 1},
                                          {0, 2, 1}, {0, 1, 3}, {2, 1, 0}};
    const float hscale = 6.f / 360.f;
    size_t n = (size_t)im->h * im->w;
    for (size_t i = 0; i < n; i++) {
        float *px = im->data + 3 * i;
        float h = px[0], s = px[1], v = px[2];
        if (s == 0) {
            px[0] = px[1] = px[2] = v;
            continue;
        }
        h *= hscale;
        h = fmodf(h, 6.f);
        if (h < 0) h += 6.f;
        int sector = (int)floorf(h);
        h -= (float)sector;
        if ((unsigned)sector >= 6u) {
            sector = 0;
            h = 0.f;
        }
        float tab[4];
        tab[0] = v;
        tab[1] = v * (1.f - s);
        tab[2] = v * (1.f - s * h);
        tab[3] = v * (1.f - s * (1.f - h));
        px[0] = tab[sector_data[sector][0]];
        px[1] = tab[sector_data[sector][1]];
        px[2] = tab[sector_data[sector][2]];
    }
}

/* ---- PhotometricDistort ---- */

static void random_contrast(selsa_rng *r, selsa_fimage *im, selsa_aug_record *rec)
{
    if (randint2(r)) {
        float alpha = (float)uniform(r, 0.5, 1.5);
        size_t n = (size_t)im->h * im->w * 3;
        for (size_t i = 0; i < n; i++) im->data[i] *= alpha;
        rec->contrast = 1;
        rec->contrast_alpha = alpha;
    }
}

static void hsv_ops(selsa_rng *r, selsa_fimage *im, selsa_aug_record *rec)
{
    size_t n = (size_t)im->h * im->w;
    selsa_fimage_bgr2hsv(im); /* ConvertColor(transform='HSV'), always (also when no op fires) */
    if (randint2(r)) {        /* RandomSaturation */
        float f = (float)uniform(r, 0.5, 1.5);
        for (size_t i = 0; i < n; i++) im->data[3 * i + 1] *= f;
        rec->saturation = 1;
        rec->saturation_factor = f;
    }
    if (randint2(r)) {        /* RandomHue: += U(−18, 18), then >360 −= 360, <0 += 360 */
        float d = (float)uniform(r, -18.0, 18.0);
        for (size_t i = 0; i < n; i++) {
            float h = im->data[3 * i] + d;
            if (h > 360.0f) h -= 360.0f;
            if (h < 0.0f) h += 360.0f;
            im->data[3 * i] = h;
        }
        rec->hue = 1;
        rec->hue_delta = d;
    }
    selsa_fimage_hsv2bgr(im); /* ConvertColor(current='HSV', transform='BGR') */
}

void selsa_aug_photometric(selsa_rng *r, selsa_fimage *im, selsa_aug_record *rec)
{
    selsa_aug_record dummy;
    if (!rec) rec = &dummy;
    size_t n = (size_t)im->h * im->w * 3;
    if (randint2(r)) { /* RandomBrightness ±32 */
        float d = (float)uniform(r, -32.0, 32.0);
        for (size_t i = 0; i < n; i++) im->data[i] += d;
        rec->brightness = 1;
        rec->brightness_delta = d;
    }
    if (randint2(r)) { /* distort = Compose(pd[:-1]): contrast, HSV, sat, hue, BGR */
        rec->contrast_first = 1;
        random_contrast(r, im, rec);
        hsv_ops(r, im, rec);
    } else {           /* Compose(pd[1:]): HSV, sat, hue, BGR, contrast */
        rec->contrast_first = 0;
        hsv_ops(r, im, rec);
        random_contrast(r, im, rec);
    }
    if (randint2(r)) { /* RandomLightingNoise: image[:, :, perms[randint(6)]] */
        static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                        {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
        int p = (int)selsa_rng_below(r, 6);
        size_t np = (size_t)im->h * im->w;
        for (size_t i = 0; i < np; i++) {
            float *px = im->data + 3 * i;
            float t[3] = {px[0], px[1], px[2]};
            px[0] = t[perms[p][0]];
            px[1] = t[perms[p][1]];
            px[2] = t[perms[p][2]];
        }
        rec->permute = 1;
        rec->perm = p;
    }
}

/* ---- Expand ---- */

selsa_status selsa_aug_expand(selsa_rng *r, selsa_fimage *im, selsa_fimage *tmp, float *boxes,
                              int n, const selsa_aug_params *p, selsa_aug_record *rec)
{
    selsa_aug_record dummy;
    if (!rec) rec = &dummy;
    if (randint2(r)) return SELSA_OK; /* `if random.randint(2): return` → fires with p 0.5 */
    int H = im->h, W = im->w;
    double ratio = uniform(r, 1.0, p->expand_scale);
    double left = uniform(r, 0.0, W * ratio - W);
    double top = uniform(r, 0.0, H * ratio - H);
    int EH = (int)(H * ratio), EW = (int)(W * ratio);
    int il = (int)left, it = (int)top;
    /* int(top) + H <= int(H·ratio) because top < H·ratio − H (see §8.5 notes) */
    if (it + H > EH) EH = it + H;
    if (il + W > EW) EW = il + W;
    SELSA_TRY(selsa_fimage_alloc(tmp, EH, EW));
    float m[3] = {(float)p->mean_bgr[0], (float)p->mean_bgr[1], (float)p->mean_bgr[2]};
    size_t ne = (size_t)EH * EW;
    for (size_t i = 0; i < ne; i++) {
        tmp->data[3 * i + 0] = m[0];
        tmp->data[3 * i + 1] = m[1];
        tmp->data[3 * i + 2] = m[2];
    }
    for (int y = 0; y < H; y++)
        memcpy(tmp->data + ((size_t)(y + it) * EW + il) * 3, im->data + (size_t)y * W * 3,
               (size_t)W * 3 * sizeof(float));
    for (int k = 0; k < n; k++) {
        boxes[4 * k + 0] += (float)il;
        boxes[4 * k + 1] += (float)it;
        boxes[4 * k + 2] += (float)il;
        boxes[4 * k + 3] += (float)it;
    }
    selsa_fimage t = *im;
    *im = *tmp;
    *tmp = t;
    rec->expand = 1;
    rec->expand_ratio = (float)ratio;
    rec->expand_left = il;
    rec->expand_top = it;
    return SELSA_OK;
}

/* ---- RandomSampleCrop (aspect kept) ---- */

selsa_status selsa_aug_crop(selsa_rng *r, selsa_fimage *im, selsa_fimage *tmp, float *boxes,
                            int32_t *classes, int *n, const selsa_aug_params *p,
                            selsa_aug_record *rec)
{
    selsa_aug_record dummy;
    if (!rec) rec = &dummy;
    int H = im->h, W = im->w;
    rec->n_in = *n;
    rec->n_out = *n;
    rec->crop_mode = 0;
    for (int round = 0; round < p->max_rounds; round++) {
        int mode = (int)selsa_rng_below(r, 6); /* random.choice(sample_options); 0 = None */
        if (mode == 0) return SELSA_OK;
        /* modes 1..5 carry min_iou 0.1/0.3/0.7/0.9/−inf with max_iou = inf, for which
         * `overlap.min() < min_iou and max_iou < overlap.max()` is always False: no IoU check */
        for (int t = 0; t < p->max_tries; t++) {
            rec->crop_tries++;
            double w = uniform(r, p->crop_pert * W, (double)W);
            double h = w * H / W; /* aspect ratio kept */
            /* numpy random.uniform(width − w) is uniform(low=width − w, high=1.0) (ssd.pytorch
             * passes one argument): reproduced as written */
            double left = uniform(r, W - w, 1.0);
            double top = uniform(r, H - h, 1.0);
            int rx0 = (int)left, ry0 = (int)top, rx1 = (int)(left + w), ry1 = (int)(top + h);
            int keep = 0;
            for (int k = 0; k < *n; k++) {
                float cx = (boxes[4 * k + 0] + boxes[4 * k + 2]) / 2.0f;
                float cy = (boxes[4 * k + 1] + boxes[4 * k + 3]) / 2.0f;
                /* centres strictly inside: rect[0] < cx < rect[2], rect[1] < cy < rect[3] */
                if ((float)rx0 < cx && (float)ry0 < cy && (float)rx1 > cx && (float)ry1 > cy) keep++;
            }
            if (keep == 0) continue;
            /* image slice [ry0:ry1, rx0:rx1] with numpy's clamping to the array */
            int cx0 = rx0 < 0 ? 0 : rx0, cy0 = ry0 < 0 ? 0 : ry0;
            int cx1 = rx1 > W ? W : rx1, cy1 = ry1 > H ? H : ry1;
            int cw = cx1 - cx0, ch = cy1 - cy0;
            if (cw <= 0 || ch <= 0) continue;
            SELSA_TRY(selsa_fimage_alloc(tmp, ch, cw));
            for (int y = 0; y < ch; y++)
                memcpy(tmp->data + (size_t)y * cw * 3, im->data + ((size_t)(y + cy0) * W + cx0) * 3,
                       (size_t)cw * 3 * sizeof(float));
            int m = 0;
            for (int k = 0; k < *n; k++) {
                float *b = boxes + 4 * k;
                float cx = (b[0] + b[2]) / 2.0f, cy = (b[1] + b[3]) / 2.0f;
                if (!((float)rx0 < cx && (float)ry0 < cy && (float)rx1 > cx && (float)ry1 > cy))
                    continue;
                float nb[4];
                nb[0] = fmaxf(b[0], (float)rx0) - (float)rx0;
                nb[1] = fmaxf(b[1], (float)ry0) - (float)ry0;
                nb[2] = fminf(b[2], (float)rx1) - (float)rx0;
                nb[3] = fminf(b[3], (float)ry1) - (float)ry0;
                memcpy(boxes + 4 * m, nb, sizeof nb);
                classes[m] = classes[k];
                m++;
            }
            *n = m;
            selsa_fimage tt = *im;
            *im = *tmp;
            *tmp = tt;
            rec->crop_mode = mode;
            rec->crop_x = rx0;
            rec->crop_y = ry0;
            rec->crop_w = cw;
            rec->crop_h = ch;
            rec->n_out = m;
            return SELSA_OK;
        }
    }
    /* the original would loop forever; every round drew "no crop" with p 1/6 before this */
    return SELSA_OK;
}

selsa_status selsa_aug_ssd(selsa_rng *r, selsa_image *img, float *boxes, int32_t *classes,
                           int *n, const selsa_aug_params *p, selsa_fimage *tmp0,
                           selsa_fimage *tmp1, selsa_aug_record *rec)
{
    if (!r || !img || !n || !p || !tmp0 || !tmp1 || (*n > 0 && (!boxes || !classes)))
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_aug_ssd: NULL argument");
    selsa_aug_record dummy;
    if (!rec) rec = &dummy;
    memset(rec, 0, sizeof(*rec));
    SELSA_TRY(selsa_fimage_from_u8(img, tmp0)); /* ConvertFromInts */
    selsa_aug_photometric(r, tmp0, rec);
    SELSA_TRY(selsa_aug_expand(r, tmp0, tmp1, boxes, *n, p, rec));
    SELSA_TRY(selsa_aug_crop(r, tmp0, tmp1, boxes, classes, n, p, rec));
    return selsa_fimage_to_u8(tmp0, img); /* astype(np.uint8), no clipping */
}
