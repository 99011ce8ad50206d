/* Synthetic ImageNet-VID-layout dataset generator (see selsa/synth.h, docs/DATASETS.md).
 *
 * This file holds the configuration, the scene simulation (every random draw, in a fixed
 * order, from one selsa_rng stream per video / DET image), the motion IoU of the generated
 * tracks, the writers of the official file formats (official-selsa.md §11) and the contact
 * sheet. Rendering is in synth_render.c. */
#include "selsa/synth.h"

#include <math.h>
#include <png.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "selsa/classes.h"
#include "selsa/image_write.h"
#include "selsa/rng.h"
#include "synth_internal.h"

#define SYN_PI 3.14159265358979f
#define SYN_OTHER_WNID "n01443537" /* goldfish: an ILSVRC DET class that is not a VID class */

/* ------------------------------------------------------------------ config ---------------- */

selsa_synth_config selsa_synth_config_default(void) {
    selsa_synth_config c;
    memset(&c, 0, sizeof c);
    c.seed = 1;
    c.root = NULL;
    c.width = 320;
    c.height = 192;
    c.n_train_videos = 32;
    c.n_val_videos = 8;
    c.min_frames = 40;
    c.max_frames = 80;
    c.n_classes = 6;
    c.n_det_images = 64;
    c.min_objects = 1;
    c.max_objects = 3;
    c.jpeg_quality = 90;
    c.min_box = 12.0f;
    c.max_box_frac = 0.7f;
    c.speed_mix[0] = 0.4f;
    c.speed_mix[1] = 0.3f;
    c.speed_mix[2] = 0.3f;
    c.degrade = 1.0f;
    return c;
}

selsa_status selsa_synth_config_check(const selsa_synth_config *c) {
#define BAD(...) return selsa_error(SELSA_ERR_INVALID_ARG, "synth config: " __VA_ARGS__)
    if (!c) BAD("NULL config");
    if (!c->root || !c->root[0]) BAD("root (output folder) is not set");
    if (strlen(c->root) > 3000) BAD("root path is longer than 3000 characters");
    if (c->width < 64 || c->width > 4096) BAD("width %d must be in 64..4096", c->width);
    if (c->height < 64 || c->height > 4096) BAD("height %d must be in 64..4096", c->height);
    if (c->n_train_videos < 0 || c->n_train_videos > 9999999)
        BAD("n_train_videos %d must be in 0..9999999", c->n_train_videos);
    if (c->n_val_videos < 0 || c->n_val_videos > 99999999)
        BAD("n_val_videos %d must be in 0..99999999", c->n_val_videos);
    if (c->min_frames < 1 || c->max_frames < c->min_frames || c->max_frames > 100000)
        BAD("frames per video [%d, %d] must satisfy 1 <= min <= max <= 100000", c->min_frames,
            c->max_frames);
    if (c->n_classes < 1 || c->n_classes > SELSA_VID_NUM_CLASSES)
        BAD("n_classes %d must be in 1..%d", c->n_classes, SELSA_VID_NUM_CLASSES);
    if (c->n_det_images < 0 || c->n_det_images > 99999999)
        BAD("n_det_images %d must be in 0..99999999", c->n_det_images);
    if (c->min_objects < 1 || c->max_objects < c->min_objects ||
        c->max_objects > SELSA_SYNTH_MAX_OBJECTS)
        BAD("objects per video [%d, %d] must satisfy 1 <= min <= max <= %d", c->min_objects,
            c->max_objects, SELSA_SYNTH_MAX_OBJECTS);
    if (c->jpeg_quality < 1 || c->jpeg_quality > 100)
        BAD("jpeg_quality %d must be in 1..100", c->jpeg_quality);
    if (!(c->max_box_frac > 0.0f && c->max_box_frac <= 1.5f))
        BAD("max_box_frac %g must be in (0, 1.5]", (double)c->max_box_frac);
    float maxb = c->max_box_frac * (float)(c->width < c->height ? c->width : c->height);
    if (!(c->min_box >= 4.0f && c->min_box <= maxb))
        BAD("min_box %g must be in [4, max_box_frac*min(width,height) = %g]", (double)c->min_box,
            (double)maxb);
    double sum = 0;
    for (int i = 0; i < 3; i++) {
        if (!(c->speed_mix[i] >= 0.0f && c->speed_mix[i] < 1e6f))
            BAD("speed_mix[%d] = %g must be a finite value >= 0", i, (double)c->speed_mix[i]);
        sum += c->speed_mix[i];
    }
    if (!(sum > 0)) BAD("speed_mix must have a positive sum");
    if (!(c->degrade >= 0.0f && c->degrade <= 4.0f))
        BAD("degrade %g must be in [0, 4]", (double)c->degrade);
#undef BAD
    return SELSA_OK;
}

/* ------------------------------------------------------------------ helpers --------------- */

static float urand(selsa_rng *r, float lo, float hi) { return selsa_rng_uniform_range(r, lo, hi); }
static float nrand(selsa_rng *r) { return (float)selsa_rng_normal(r); }
static int chance(selsa_rng *r, float p) { return selsa_rng_uniform(r) < (double)p; }
static float logurand(selsa_rng *r, float lo, float hi) {
    return expf(urand(r, logf(lo), logf(hi)));
}
static float clampf_(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

/* HSV (all in [0,1]) to BGR. */
static void hsv_bgr(float h, float s, float v, float out[3]) {
    h = (h - floorf(h)) * 6.0f;
    int i = (int)h;
    float f = h - (float)i;
    float p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    float r, g, b;
    switch (i % 6) {
    case 0: r = v, g = t, b = p; break;
    case 1: r = q, g = v, b = p; break;
    case 2: r = p, g = v, b = t; break;
    case 3: r = p, g = q, b = v; break;
    case 4: r = t, g = p, b = v; break;
    default: r = v, g = p, b = q; break;
    }
    out[0] = b;
    out[1] = g;
    out[2] = r;
}

/* Class c (0-based) → shape, texture, aspect (h/w) and palette. Classes 0..7 have 8 distinct
 * shapes and 8 distinct textures; class c >= 8 reuses shape c%8 with another texture, so every
 * (shape, texture) pair is unique over the 30 classes. */
static const float k_shape_aspect[SYN_N_SHAPES] = {0.62f, 0.72f, 0.9f, 1.0f, 1.0f,
                                                   1.0f,  1.3f,  0.87f, 0.9f};
static int class_shape(int c) { return c % 8; }
static int class_texture(int c) { return (c + 3 * (c / 8)) % 8; }
static float class_hue(int c) { return 0.02f + 0.381966f * (float)c; }
static void class_colours(int c, selsa_rng *r, float c1[3], float c2[3]) {
    float h = class_hue(c) + (r ? urand(r, -0.03f, 0.03f) : 0.0f);
    float s1 = 0.6f + 0.3f * ((float)((c * 5) % 7) / 6.0f);
    float j1 = r ? urand(r, 0.85f, 1.1f) : 1.0f, j2 = r ? urand(r, 0.8f, 1.12f) : 1.0f;
    hsv_bgr(h, clampf_(s1 * j1, 0, 1), clampf_(0.88f * j2, 0, 1), c1);
    float j3 = r ? urand(r, 0.8f, 1.25f) : 1.0f;
    hsv_bgr(h + 0.08f, 0.55f, clampf_(0.28f * j3, 0, 1), c2);
}

/* Box (inclusive pixels, clipped) of a continuous extent: pixels whose centre lies inside.
 * Returns 0 when less than 3×3 pixels are inside the frame. */
static int extent_box(const float ext[4], int W, int H, int box[4]) {
    int x1 = (int)ceilf(ext[0]), y1 = (int)ceilf(ext[1]);
    int x2 = (int)floorf(ext[2]), y2 = (int)floorf(ext[3]);
    if (x1 < 0) x1 = 0;
    if (y1 < 0) y1 = 0;
    if (x2 > W - 1) x2 = W - 1;
    if (y2 > H - 1) y2 = H - 1;
    if (x2 - x1 + 1 < 3 || y2 - y1 + 1 < 3) return 0;
    box[0] = x1;
    box[1] = y1;
    box[2] = x2;
    box[3] = y2;
    return 1;
}

static double iou_incl(const int a[4], const int b[4]) {
    double iw = (double)((a[2] < b[2] ? a[2] : b[2]) - (a[0] > b[0] ? a[0] : b[0]) + 1);
    double ih = (double)((a[3] < b[3] ? a[3] : b[3]) - (a[1] > b[1] ? a[1] : b[1]) + 1);
    if (iw <= 0 || ih <= 0) return 0.0;
    double inter = iw * ih;
    double aa = (double)(a[2] - a[0] + 1) * (double)(a[3] - a[1] + 1);
    double ab = (double)(b[2] - b[0] + 1) * (double)(b[3] - b[1] + 1);
    return inter / (aa + ab - inter);
}

void selsa_synth_track_motion_iou(const int (*boxes)[4], const uint8_t *present, int n_frames,
                                  double *out) {
    for (int t = 0; t < n_frames; t++) {
        if (!present[t]) continue;
        double sum = 0.0;
        int n = 0;
        int lo = t - 10 < 0 ? 0 : t - 10, hi = t + 10 > n_frames - 1 ? n_frames - 1 : t + 10;
        for (int s = lo; s <= hi; s++) { /* increasing s (vid-eval.md §5 rule) */
            if (s == t || !present[s]) continue;
            sum += iou_incl(boxes[t], boxes[s]);
            n++;
        }
        out[t] = n == 0 ? 1.0 : (sum == 0.0 ? 1e-10 / n : sum / n);
    }
}

/* ------------------------------------------------------------------ simulation ------------ */

static void syn_video_free(syn_video *v) {
    for (int i = 0; i < SELSA_SYNTH_MAX_OBJECTS; i++) free(v->tr[i].st);
    free(v->world);
    free(v->camx);
    free(v->camy);
    free(v->defocus);
    free(v->gain);
    memset(v, 0, sizeof *v);
}

/* Background world: vertical gradient + three octaves of smooth value noise + soft distractor
 * blobs in the class colours (no class shape edges or textures). Returns 0 when out of memory. */
static int make_world(syn_video *v, const selsa_synth_config *cfg, selsa_rng *r, float sc) {
    int ww = v->ww, wh = v->wh;
    float top[3], bot[3];
    float h0 = urand(r, 0, 1);
    hsv_bgr(h0, urand(r, 0.08f, 0.35f), urand(r, 0.35f, 0.8f), top);
    hsv_bgr(h0 + urand(r, -0.15f, 0.15f), urand(r, 0.1f, 0.4f), urand(r, 0.2f, 0.7f), bot);
    for (int y = 0; y < wh; y++) {
        float a = (float)y / (float)(wh - 1);
        float *row = v->world + (size_t)y * (size_t)ww * 3;
        for (int x = 0; x < ww; x++)
            for (int c = 0; c < 3; c++) row[x * 3 + c] = top[c] + (bot[c] - top[c]) * a;
    }
    for (int oct = 0; oct < 3; oct++) {
        float cell = (oct == 0 ? 48.0f : (oct == 1 ? 12.0f : 3.0f)) * sc;
        float amp = oct == 0 ? urand(r, 0.05f, 0.16f)
                             : (oct == 1 ? urand(r, 0.02f, 0.07f) : urand(r, 0.0f, 0.05f));
        int gx = (int)((float)ww / cell) + 2, gy = (int)((float)wh / cell) + 2;
        float *lat = malloc(sizeof(float) * 3 * (size_t)gx * (size_t)gy);
        if (!lat) return 0;
        for (int k = 0; k < gx * gy; k++) {
            float l = urand(r, -1, 1);
            for (int c = 0; c < 3; c++) lat[k * 3 + c] = amp * (0.75f * l + 0.25f * urand(r, -1, 1));
        }
        for (int y = 0; y < wh; y++) {
            float fy = (float)y / cell;
            int iy = (int)fy;
            float ty = fy - (float)iy;
            ty = ty * ty * (3 - 2 * ty);
            float *row = v->world + (size_t)y * (size_t)ww * 3;
            for (int x = 0; x < ww; x++) {
                float fx = (float)x / cell;
                int ix = (int)fx;
                float tx = fx - (float)ix;
                tx = tx * tx * (3 - 2 * tx);
                const float *l00 = lat + ((size_t)iy * (size_t)gx + (size_t)ix) * 3;
                const float *l01 = l00 + 3, *l10 = l00 + (size_t)gx * 3, *l11 = l10 + 3;
                for (int c = 0; c < 3; c++) {
                    float a = l00[c] + (l01[c] - l00[c]) * tx, b = l10[c] + (l11[c] - l10[c]) * tx;
                    row[x * 3 + c] += a + (b - a) * ty;
                }
            }
        }
        free(lat);
    }
    float area = (float)(ww * wh) / (480.0f * 288.0f);
    int nb = (int)((float)(14 + (int)selsa_rng_below(r, 18)) * area);
    if (nb < 2) nb = 2;
    if (nb > 400) nb = 400;
    for (int b = 0; b < nb; b++) {
        float c1[3], c2[3], col[3];
        class_colours((int)selsa_rng_below(r, (uint32_t)cfg->n_classes), r, c1, c2);
        const float *base = chance(r, 0.6f) ? c1 : c2;
        for (int c = 0; c < 3; c++) col[c] = clampf_(base[c] * urand(r, 0.85f, 1.15f), 0, 1);
        float x = urand(r, 0, (float)ww), y = urand(r, 0, (float)wh);
        float rad = logurand(r, 4.0f * sc, 60.0f * sc), asp = logurand(r, 0.4f, 2.5f);
        int parts = 1 + (int)selsa_rng_below(r, 3);
        for (int p = 0; p < parts; p++) {
            float rx = rad * sqrtf(asp) * urand(r, 0.6f, 1.0f), ry = rad / sqrtf(asp) * urand(r, 0.6f, 1.0f);
            float sharp = chance(r, 0.5f) ? urand(r, 1.5f, 4.0f) : fminf(rx, ry) * urand(r, 0.3f, 1.0f);
            syn_draw_blob(ww, wh, v->world, x + urand(r, -0.7f, 0.7f) * rad * (float)(p > 0),
                          y + urand(r, -0.7f, 0.7f) * rad * (float)(p > 0), rx, ry, col,
                          fmaxf(sharp, 1.0f), urand(r, 0.4f, 0.9f));
        }
    }
    return 1;
}

/* Simulate a scene of n_frames frames at W×H. class_hint picks the class of the first track
 * (round-robin over videos keeps the classes balanced); still = 1 for DET images (no motion);
 * other_object adds a non-VID object (label 0, crescent) when still. */
static selsa_status make_scene(syn_video *v, const selsa_synth_config *cfg, selsa_rng *r, int W,
                               int H, int n_frames, int class_hint, int still, uint64_t stream) {
    memset(v, 0, sizeof *v);
    v->W = W;
    v->H = H;
    v->n_frames = n_frames;
    v->ww = W + W / 2 + 2;
    v->wh = H + H / 2 + 2;
    v->noise_seed = cfg->seed;
    v->noise_stream = stream + 0x10000000000ULL;
    const float sc = (float)(W < H ? W : H) / 192.0f; /* resolution scale of pixel sizes */
    const float deg = cfg->degrade;
    const int K = cfg->n_classes;
    v->world = malloc(sizeof(float) * 3 * (size_t)v->ww * (size_t)v->wh);
    v->camx = malloc(sizeof(float) * (size_t)n_frames);
    v->camy = malloc(sizeof(float) * (size_t)n_frames);
    v->defocus = malloc(sizeof(int) * (size_t)n_frames);
    v->gain = malloc(sizeof(float) * (size_t)n_frames);
    if (!v->world || !v->camx || !v->camy || !v->defocus || !v->gain) goto oom;
    if (!make_world(v, cfg, r, sc)) goto oom;

    /* camera: slow pan reflecting inside the world */
    float rx = (float)(v->ww - W - 1), ry = (float)(v->wh - H - 1);
    float cx = urand(r, 0, rx), cy = urand(r, 0, ry);
    float cang = urand(r, 0, 2 * SYN_PI), csp = still ? 0.0f : urand(r, 0.0f, 0.6f) * sc;
    float cvx = csp * cosf(cang), cvy = csp * sinf(cang);
    for (int t = 0; t < n_frames; t++) {
        v->camx[t] = cx;
        v->camy[t] = cy;
        cx += cvx;
        cy += cvy;
        if (cx < 0) cx = -cx, cvx = -cvx;
        if (cx > rx) cx = 2 * rx - cx, cvx = -cvx;
        if (cy < 0) cy = -cy, cvy = -cvy;
        if (cy > ry) cy = 2 * ry - cy, cvy = -cvy;
        cx = clampf_(cx, 0, rx);
        cy = clampf_(cy, 0, ry);
    }
    v->exposure = still ? 0.0f : urand(r, 0.5f, 1.0f);
    v->noise = urand(r, 1.5f, 4.5f) / 255.0f;

    /* lighting drift + rare flashes; defocus events */
    float amp = urand(r, 0.0f, 0.08f), per = urand(r, 30.0f, 120.0f), ph = urand(r, 0, 2 * SYN_PI);
    int soft = chance(r, 0.15f * deg) ? 1 : 0;
    int flash_left = 0, blur_left = 0, blur_r = 0;
    float flash = 1.0f;
    for (int t = 0; t < n_frames; t++) {
        if (flash_left > 0) flash_left--;
        else if (chance(r, 0.01f * deg)) {
            flash_left = 1 + (int)selsa_rng_below(r, 2);
            flash = chance(r, 0.5f) ? urand(r, 0.55f, 0.75f) : urand(r, 1.25f, 1.5f);
        }
        v->gain[t] = (1.0f + amp * sinf(2 * SYN_PI * (float)t / per + ph)) * (flash_left > 0 ? flash : 1.0f);
        if (blur_left > 0) blur_left--;
        else if (chance(r, 0.025f * deg)) {
            blur_left = 2 + (int)selsa_rng_below(r, 7);
            blur_r = (int)lrintf((float)(1 + (int)selsa_rng_below(r, 3)) * sc);
            if (blur_r < 1) blur_r = 1;
        }
        v->defocus[t] = blur_left > 0 ? blur_r : soft;
    }

    /* moving background distractors */
    v->n_blob = still ? 0 : (int)selsa_rng_below(r, SYN_MAX_BLOB + 1);
    for (int b = 0; b < v->n_blob; b++) {
        syn_blob *bl = &v->blob[b];
        float c1[3], c2[3];
        class_colours((int)selsa_rng_below(r, (uint32_t)K), r, c1, c2);
        memcpy(bl->c, chance(r, 0.7f) ? c1 : c2, sizeof bl->c);
        bl->x = urand(r, 0, (float)W);
        bl->y = urand(r, 0, (float)H);
        float a = urand(r, 0, 2 * SYN_PI), s = urand(r, 0.3f, 2.0f) * sc;
        bl->vx = s * cosf(a);
        bl->vy = s * sinf(a);
        float rad = logurand(r, 6.0f * sc, 30.0f * sc), asp = logurand(r, 0.5f, 2.0f);
        bl->rx = rad * sqrtf(asp);
        bl->ry = rad / sqrtf(asp);
        bl->sharp = urand(r, 1.5f, 6.0f);
        bl->opacity = urand(r, 0.5f, 0.9f);
    }

    /* tracks */
    const float mind = (float)(W < H ? W : H);
    const float min_box = cfg->min_box, max_box = cfg->max_box_frac * mind;
    int n_tr = cfg->min_objects + (int)selsa_rng_below(r, (uint32_t)(cfg->max_objects - cfg->min_objects + 1));
    v->n_tracks = n_tr;
    double mix_sum = (double)cfg->speed_mix[0] + cfg->speed_mix[1] + cfg->speed_mix[2];
    for (int i = 0; i < n_tr; i++) {
        syn_track *tr = &v->tr[i];
        tr->st = calloc((size_t)n_frames, sizeof(syn_state));
        if (!tr->st) goto oom;
        int c = i == 0 ? class_hint % K : (int)selsa_rng_below(r, (uint32_t)K);
        tr->label = c + 1;
        tr->shape = class_shape(c);
        tr->texture = class_texture(c);
        class_colours(c, r, tr->c1, tr->c2);
        tr->freq = 2.5f + 0.75f * (float)(c % 3) + urand(r, -0.3f, 0.3f);
        tr->phase = urand(r, 0, 1);
        float D = logurand(r, min_box, max_box);
        float asp = k_shape_aspect[tr->shape] * urand(r, 0.85f, 1.18f);
        float hw = 0.5f * D / sqrtf(asp), hh = 0.5f * D * sqrtf(asp);
        /* speed class by a golden-ratio low-discrepancy sequence over (video, track) rather
         * than an independent draw, so even a few videos get the configured mix */
        double u = fmod(0.5 + 0.6180339887498949 * (double)(class_hint * SELSA_SYNTH_MAX_OBJECTS + i), 1.0) * mix_sum;
        tr->speed_class = u < cfg->speed_mix[0] ? SELSA_SYNTH_FAST
                          : u < (double)cfg->speed_mix[0] + cfg->speed_mix[1] ? SELSA_SYNTH_MEDIUM
                                                                            : SELSA_SYNTH_SLOW;
        /* speed relative to the object size: the motion IoU over ±10 frames is about
         * 1 − 11·rel for a pure translation (rel = px per frame / size) */
        float rel, omega_sd, grow;
        switch (tr->speed_class) {
        case SELSA_SYNTH_FAST:
            rel = urand(r, 0.03f, 0.10f);
            omega_sd = 0.02f;
            grow = chance(r, 0.3f) ? urand(r, 0.005f, 0.02f) : urand(r, 0.0f, 0.004f);
            break;
        case SELSA_SYNTH_MEDIUM:
            rel = urand(r, 0.010f, 0.022f);
            omega_sd = 0.008f;
            grow = urand(r, 0.0f, 0.004f);
            break;
        default:
            rel = urand(r, 0.0f, 0.006f);
            omega_sd = 0.003f;
            grow = urand(r, 0.0f, 0.0015f);
            break;
        }
        if (chance(r, 0.5f)) grow = -grow;
        float omega = nrand(r) * omega_sd, theta = urand(r, -0.5f, 0.5f);
        float ang = urand(r, 0, 2 * SYN_PI), speed = rel * D;
        float px = urand(r, 0.1f, 0.9f) * (float)W, py = urand(r, 0.1f, 0.9f) * (float)H;
        if (still) speed = 0, omega = 0, grow = 0;
        else if (tr->speed_class != SELSA_SYNTH_SLOW && chance(r, 0.25f)) {
            /* enters the frame: starts just outside one border, heading inwards */
            int side = (int)selsa_rng_below(r, 4);
            float out = 0.6f * D + 2.0f;
            float inward = 0;
            if (side == 0) px = -out, inward = 0;
            if (side == 1) px = (float)W - 1 + out, inward = SYN_PI;
            if (side == 2) py = -out, inward = 0.5f * SYN_PI;
            if (side == 3) py = (float)H - 1 + out, inward = -0.5f * SYN_PI;
            ang = inward + urand(r, -0.7f, 0.7f);
        }
        int bounce = chance(r, 0.7f);
        float smul = 1.0f, scale = 1.0f;
        int low_left = 0, br_left = 0;
        float low_vis = 1.0f, br = 1.0f;
        for (int t = 0; t < n_frames; t++) {
            if (low_left > 0) low_left--;
            else if (chance(r, 0.012f * deg)) {
                low_left = 1 + (int)selsa_rng_below(r, 4);
                low_vis = urand(r, 0.08f, 0.22f);
            }
            if (br_left > 0) br_left--;
            else if (chance(r, 0.01f * deg)) {
                br_left = 2 + (int)selsa_rng_below(r, 7);
                br = chance(r, 0.5f) ? urand(r, 0.45f, 0.7f) : urand(r, 1.3f, 1.7f);
            }
            syn_state *s = &tr->st[t];
            float sp = speed * smul;
            s->cx = px;
            s->cy = py;
            s->vx = sp * cosf(ang);
            s->vy = sp * sinf(ang);
            s->hw = hw * scale;
            s->hh = hh * scale;
            s->theta = theta;
            s->vis = low_left > 0 ? low_vis : 1.0f;
            s->low = (uint8_t)(low_left > 0);
            s->bright = br_left > 0 ? br : 1.0f;
            syn_shape_extent(tr->shape, s, s->ext);
            s->has_box = (uint8_t)extent_box(s->ext, W, H, s->box);
            /* advance to t + 1 */
            px += s->vx;
            py += s->vy;
            if (!still) {
                ang += 0.05f * nrand(r);
                smul = clampf_(smul * expf(0.03f * nrand(r)), 0.7f, 1.4f);
                if (bounce) {
                    if ((px < 0 && cosf(ang) < 0) || (px > (float)(W - 1) && cosf(ang) > 0)) ang = SYN_PI - ang;
                    if ((py < 0 && sinf(ang) < 0) || (py > (float)(H - 1) && sinf(ang) > 0)) ang = -ang;
                }
                scale *= expf(grow);
                float Dn = D * scale;
                if ((Dn > max_box && grow > 0) || (Dn < 0.8f * min_box && grow < 0)) grow = -grow;
                theta += omega;
                if (chance(r, 0.006f * deg)) /* rare sudden pose change */
                    theta += (chance(r, 0.5f) ? 1.0f : -1.0f) * urand(r, 0.4f, 1.2f);
            }
        }
    }

    /* foreground occluders aimed at the tracks, so partial occlusion really happens */
    v->n_occ = 0;
    for (int i = 0; i < n_tr && v->n_occ < SYN_MAX_OCC; i++) {
        int tries = still ? 1 : 2;
        for (int k = 0; k < tries && v->n_occ < SYN_MAX_OCC; k++) {
            if (!chance(r, (still ? 0.25f : 0.4f) * deg)) continue;
            int tref = (int)selsa_rng_below(r, (uint32_t)n_frames);
            const syn_state *s = &v->tr[i].st[tref];
            if (!s->has_box) continue;
            syn_occ *oc = &v->occ[v->n_occ++];
            float ow = s->ext[2] - s->ext[0], oh = s->ext[3] - s->ext[1];
            oc->kind = chance(r, 0.6f) ? 0 : 1;
            if (oc->kind == 0) {
                if (chance(r, 0.6f)) { /* pole */
                    oc->hw = fmaxf(1.5f, urand(r, 0.12f, 0.35f) * ow);
                    oc->hh = urand(r, 1.0f, 3.0f) * oh + 4.0f;
                } else { /* branch */
                    oc->hw = urand(r, 1.0f, 3.0f) * ow + 4.0f;
                    oc->hh = fmaxf(1.5f, urand(r, 0.12f, 0.35f) * oh);
                }
            } else { /* leaf / blob */
                oc->hw = fmaxf(3.0f, urand(r, 0.3f, 0.6f) * ow);
                oc->hh = fmaxf(3.0f, urand(r, 0.3f, 0.6f) * oh);
            }
            float xr = s->cx + urand(r, -0.4f, 0.4f) * ow, yr = s->cy + urand(r, -0.4f, 0.4f) * oh;
            oc->vx = still ? 0 : s->vx * urand(r, 0.0f, 1.0f) + nrand(r) * 0.5f * sc;
            oc->vy = still ? 0 : s->vy * urand(r, 0.0f, 1.0f) + nrand(r) * 0.5f * sc;
            int len = still ? 0 : 3 + (int)selsa_rng_below(r, 14);
            oc->t0 = tref - len < 0 ? 0 : tref - len;
            oc->t1 = tref + len > n_frames - 1 ? n_frames - 1 : tref + len;
            oc->x = xr - oc->vx * (float)(tref - oc->t0);
            oc->y = yr - oc->vy * (float)(tref - oc->t0);
            if (chance(r, 0.3f)) {
                float c2[3];
                class_colours((int)selsa_rng_below(r, (uint32_t)K), r, oc->c, c2);
            } else {
                hsv_bgr(urand(r, 0, 1), urand(r, 0.05f, 0.4f), urand(r, 0.15f, 0.75f), oc->c);
            }
            oc->shade = urand(r, -0.25f, 0.25f);
        }
    }

    /* motion IoU of every box (depends only on the boxes) */
    int (*boxes)[4] = malloc(sizeof(int[4]) * (size_t)n_frames);
    uint8_t *present = calloc((size_t)n_frames, 1);
    double *miou = malloc(sizeof(double) * (size_t)n_frames);
    if (!boxes || !present || !miou) {
        free(boxes);
        free(present);
        free(miou);
        goto oom;
    }
    for (int i = 0; i < n_tr; i++) {
        for (int t = 0; t < n_frames; t++) {
            present[t] = v->tr[i].st[t].has_box;
            memcpy(boxes[t], v->tr[i].st[t].box, sizeof boxes[t]);
        }
        selsa_synth_track_motion_iou((const int(*)[4])boxes, present, n_frames, miou);
        for (int t = 0; t < n_frames; t++)
            v->tr[i].st[t].miou = present[t] ? miou[t] : 0.0;
    }
    free(boxes);
    free(present);
    free(miou);
    return SELSA_OK;
oom:
    syn_video_free(v);
    return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "synth: out of memory for a %dx%d scene of %d frames",
                       W, H, n_frames);
}

/* Stream ids: one selsa_rng stream per video / DET image. */
static uint64_t video_stream(int split, int index) {
    return ((uint64_t)(split + 1) << 32) + (uint64_t)index;
}

static void video_name(int split, int index, char *buf, size_t cap) {
    if (split == 0)
        snprintf(buf, cap, "train/ILSVRC2015_VID_train_%04d/ILSVRC2015_train_%08d", index / 1000,
                 index);
    else
        snprintf(buf, cap, "val/ILSVRC2015_val_%08d", index);
}

static selsa_status make_video(const selsa_synth_config *cfg, int split, int index, syn_video *v) {
    selsa_rng r;
    uint64_t stream = video_stream(split, index);
    selsa_rng_seed(&r, cfg->seed, stream);
    int n = cfg->min_frames + (int)selsa_rng_below(&r, (uint32_t)(cfg->max_frames - cfg->min_frames + 1));
    return make_scene(v, cfg, &r, cfg->width, cfg->height, n, index, 0, stream);
}

/* ------------------------------------------------------------------ writers --------------- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t nc = b->cap ? b->cap * 2 : 4096;
        while (nc < b->n + (size_t)k + 1) nc *= 2;
        char *q = realloc(b->p, nc);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = nc;
    }
}

static selsa_status sb_write(sbuf *b, const char *path) {
    if (b->oom) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "synth: out of memory building %s", path);
    return selsa_file_write_atomic(path, b->p ? b->p : "", b->n);
}

static selsa_status join(char *out, size_t cap, const char *a, const char *b, const char *c) {
    int k = snprintf(out, cap, "%s/%s%s", a, b, c ? c : "");
    if (k < 0 || (size_t)k >= cap)
        return selsa_error(SELSA_ERR_INVALID_ARG, "synth: path %s/%s%s is too long", a, b, c ? c : "");
    return SELSA_OK;
}

/* VOC XML of one VID frame, in the field order of the ImageNet VID annotations. */
static void vid_xml(sbuf *b, const char *folder, int t, const syn_video *v) {
    sb_printf(b, "<annotation>\n\t<folder>%s</folder>\n\t<filename>%06d</filename>\n", folder, t);
    sb_printf(b, "\t<source>\n\t\t<database>ILSVRC_2015</database>\n\t</source>\n");
    sb_printf(b, "\t<size>\n\t\t<width>%d</width>\n\t\t<height>%d</height>\n\t</size>\n", v->W, v->H);
    for (int i = 0; i < v->n_tracks; i++) {
        const syn_state *s = &v->tr[i].st[t];
        if (!s->has_box) continue;
        sb_printf(b, "\t<object>\n\t\t<trackid>%d</trackid>\n\t\t<name>%s</name>\n", i,
                  selsa_vid_class_wnid(v->tr[i].label));
        sb_printf(b,
                  "\t\t<bndbox>\n\t\t\t<xmax>%d</xmax>\n\t\t\t<xmin>%d</xmin>\n\t\t\t<ymax>%d</ymax>\n"
                  "\t\t\t<ymin>%d</ymin>\n\t\t</bndbox>\n",
                  s->box[2], s->box[0], s->box[3], s->box[1]);
        sb_printf(b, "\t\t<occluded>%d</occluded>\n\t\t<generated>0</generated>\n\t</object>\n",
                  s->occluded);
    }
    sb_printf(b, "</annotation>\n");
}

static void count_box(selsa_synth_split_stats *st, const syn_track *tr, const syn_state *s) {
    st->boxes++;
    st->occluded += s->occluded;
    st->low_contrast += s->low;
    int range = s->miou <= 0.7 ? SELSA_SYNTH_FAST : (s->miou <= 0.9 ? SELSA_SYNTH_MEDIUM : SELSA_SYNTH_SLOW);
    st->motion[range]++;
    int bin = (int)(s->miou * 10.0);
    st->motion_bins[bin < 0 ? 0 : (bin > 9 ? 9 : bin)]++;
    if (tr->label >= 1) st->class_boxes[tr->label - 1]++;
}

typedef struct gen_buffers {
    float *F, *tmp;
    uint8_t *id, *img;
    int cap_pix, cap_w;
} gen_buffers;

static selsa_status buffers_reserve(gen_buffers *g, int W, int H) {
    int n = W * H;
    if (n <= g->cap_pix && W <= g->cap_w) return SELSA_OK;
    free(g->F);
    free(g->tmp);
    free(g->id);
    free(g->img);
    g->F = malloc(sizeof(float) * 3 * (size_t)n);
    g->tmp = malloc(sizeof(float) * 3 * ((size_t)n + (size_t)W)); /* + column sums */
    g->id = malloc((size_t)n);
    g->img = malloc(3 * (size_t)n);
    g->cap_pix = n;
    g->cap_w = W;
    if (!g->F || !g->tmp || !g->id || !g->img) {
        g->cap_pix = g->cap_w = 0;
        return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "synth: out of memory for %dx%d frames", W, H);
    }
    return SELSA_OK;
}

static void buffers_free(gen_buffers *g) {
    free(g->F);
    free(g->tmp);
    free(g->id);
    free(g->img);
    memset(g, 0, sizeof *g);
}

static selsa_status write_video(const selsa_synth_config *cfg, int split, int index, gen_buffers *g,
                                sbuf *list, int64_t *next_start, selsa_synth_split_stats *st) {
    char name[128], dpath[4096], apath[4096], file[4200];
    video_name(split, index, name, sizeof name);
    syn_video v;
    SELSA_TRY(make_video(cfg, split, index, &v));
    selsa_status s = SELSA_OK;
    sbuf xml = {0};
    if ((s = join(dpath, sizeof dpath, cfg->root, "Data/VID/", name)) != SELSA_OK) goto done;
    if ((s = join(apath, sizeof apath, cfg->root, "Annotations/VID/", name)) != SELSA_OK) goto done;
    if ((s = selsa_mkdirs(dpath)) != SELSA_OK || (s = selsa_mkdirs(apath)) != SELSA_OK) goto done;
    const char *folder = strchr(name, '/') + 1; /* the XML folder omits "train/" / "val/" */
    int has[SELSA_SYNTH_MAX_OBJECTS] = {0};
    for (int t = 0; t < v.n_frames; t++) {
        syn_render(&v, t, g->F, g->tmp, g->id, g->img);
        snprintf(file, sizeof file, "%s/%06d.JPEG", dpath, t);
        if ((s = selsa_jpeg_write(file, g->img, v.H, v.W, cfg->jpeg_quality)) != SELSA_OK) goto done;
        xml.n = 0;
        vid_xml(&xml, folder, t, &v);
        snprintf(file, sizeof file, "%s/%06d.xml", apath, t);
        if ((s = sb_write(&xml, file)) != SELSA_OK) goto done;
        int n_obj = 0;
        for (int i = 0; i < v.n_tracks; i++)
            if (v.tr[i].st[t].has_box) {
                count_box(st, &v.tr[i], &v.tr[i].st[t]);
                has[i] = 1;
                n_obj++;
            }
        st->frames++;
        st->empty_frames += n_obj == 0;
    }
    for (int i = 0; i < v.n_tracks; i++) st->tracks += has[i];
    st->videos++;
    if (split == 0) {
        /* 15 frames roughly evenly spread: floor((k + 0.5)·len/15), duplicates dropped
         * (official-selsa.md §11: videos shorter than 15 frames list fewer) */
        int prev = -1;
        for (int k = 0; k < 15; k++) {
            int f = (int)(((double)k + 0.5) * (double)v.n_frames / 15.0);
            if (f == prev) continue;
            prev = f;
            sb_printf(list, "%s 1 %d %d\n", name, f, v.n_frames);
        }
    } else {
        sb_printf(list, "%s %lld 0 %d\n", name, (long long)*next_start, v.n_frames);
        *next_start += v.n_frames;
    }
done:
    free(xml.p);
    syn_video_free(&v);
    if (s != SELSA_OK) return selsa_error_context(s, "synth video %s: ", name);
    return s;
}

static selsa_status write_det(const selsa_synth_config *cfg, int j, gen_buffers *g, sbuf *list,
                              selsa_synth_stats *stats) {
    selsa_rng r;
    uint64_t stream = ((uint64_t)3 << 32) + (uint64_t)j;
    selsa_rng_seed(&r, cfg->seed, stream);
    /* DET images have varied sizes, as the real ones */
    int W = (int)lrintf((float)cfg->width * urand(&r, 0.75f, 1.25f));
    int H = (int)lrintf((float)cfg->height * urand(&r, 0.75f, 1.25f));
    if (W < 64) W = 64;
    if (H < 64) H = 64;
    int other = chance(&r, 0.12f);
    selsa_synth_config c2 = *cfg;
    c2.min_objects = 1;
    c2.max_objects = 2;
    float mind = (float)(W < H ? W : H);
    if (c2.min_box > c2.max_box_frac * mind) c2.min_box = c2.max_box_frac * mind;
    syn_video v;
    SELSA_TRY(make_scene(&v, &c2, &r, W, H, 1, j / 2, 1, stream));
    if (other && v.n_tracks < SELSA_SYNTH_MAX_OBJECTS) {
        /* turn an extra copy of track 0's motion into a non-VID object at another place */
        syn_track *tr = &v.tr[v.n_tracks];
        tr->st = calloc(1, sizeof(syn_state));
        if (tr->st) {
            tr->label = 0;
            tr->shape = SYN_SHAPE_CRESCENT;
            tr->texture = (int)selsa_rng_below(&r, SYN_N_TEXTURES);
            hsv_bgr(urand(&r, 0, 1), urand(&r, 0.4f, 0.9f), urand(&r, 0.5f, 0.95f), tr->c1);
            hsv_bgr(urand(&r, 0, 1), urand(&r, 0.4f, 0.9f), urand(&r, 0.2f, 0.5f), tr->c2);
            tr->freq = 3.0f;
            tr->phase = 0.0f;
            syn_state *s = &tr->st[0];
            float D = logurand(&r, c2.min_box, c2.max_box_frac * mind);
            s->hw = s->hh = 0.5f * D;
            s->cx = urand(&r, 0.15f, 0.85f) * (float)W;
            s->cy = urand(&r, 0.15f, 0.85f) * (float)H;
            s->theta = urand(&r, -0.5f, 0.5f);
            s->vis = s->bright = 1.0f;
            syn_shape_extent(tr->shape, s, s->ext);
            s->has_box = (uint8_t)extent_box(s->ext, W, H, s->box);
            s->miou = 1.0;
            v.n_tracks++;
        }
    }
    selsa_status st = buffers_reserve(g, W, H);
    char rel[256], dpath[4096], apath[4096], file[4400];
    const char *wnid = selsa_vid_class_wnid(v.tr[0].label);
    /* half under ILSVRC2013_train/<wnid>/<wnid>_<n>, half under ILSVRC2014_train_0000 */
    int y2013 = (j % 2) == 0;
    if (y2013) snprintf(rel, sizeof rel, "ILSVRC2013_train/%s", wnid);
    else snprintf(rel, sizeof rel, "ILSVRC2014_train_%04d", j / 2 / 1000);
    char base[128];
    if (y2013) snprintf(base, sizeof base, "%s_%d", wnid, j / 2);
    else snprintf(base, sizeof base, "ILSVRC2014_train_%08d", j / 2);
    sbuf xml = {0};
    if (st != SELSA_OK) goto done;
    if ((st = join(dpath, sizeof dpath, cfg->root, "Data/DET/train/", rel)) != SELSA_OK) goto done;
    if ((st = join(apath, sizeof apath, cfg->root, "Annotations/DET/train/", rel)) != SELSA_OK) goto done;
    if ((st = selsa_mkdirs(dpath)) != SELSA_OK || (st = selsa_mkdirs(apath)) != SELSA_OK) goto done;
    syn_render(&v, 0, g->F, g->tmp, g->id, g->img);
    snprintf(file, sizeof file, "%s/%s.JPEG", dpath, base);
    if ((st = selsa_jpeg_write(file, g->img, H, W, cfg->jpeg_quality)) != SELSA_OK) goto done;
    sb_printf(&xml, "<annotation>\n\t<folder>%s</folder>\n\t<filename>%s</filename>\n",
              y2013 ? wnid : rel, base);
    sb_printf(&xml, "\t<source>\n\t\t<database>%s</database>\n\t</source>\n",
              y2013 ? "ILSVRC_2013" : "ILSVRC_2014");
    sb_printf(&xml, "\t<size>\n\t\t<width>%d</width>\n\t\t<height>%d</height>\n\t</size>\n", W, H);
    for (int i = 0; i < v.n_tracks; i++) {
        const syn_state *s = &v.tr[i].st[0];
        if (!s->has_box) continue;
        sb_printf(&xml, "\t<object>\n\t\t<name>%s</name>\n",
                  v.tr[i].label ? selsa_vid_class_wnid(v.tr[i].label) : SYN_OTHER_WNID);
        sb_printf(&xml,
                  "\t\t<bndbox>\n\t\t\t<xmin>%d</xmin>\n\t\t\t<xmax>%d</xmax>\n\t\t\t<ymin>%d</ymin>\n"
                  "\t\t\t<ymax>%d</ymax>\n\t\t</bndbox>\n\t</object>\n",
                  s->box[0], s->box[2], s->box[1], s->box[3]);
        if (v.tr[i].label) stats->det_objects++;
        else stats->det_other++;
    }
    sb_printf(&xml, "</annotation>\n");
    snprintf(file, sizeof file, "%s/%s.xml", apath, base);
    if ((st = sb_write(&xml, file)) != SELSA_OK) goto done;
    /* the official list has no newline after its last line */
    sb_printf(list, "%strain/%s/%s 1", j > 0 ? "\n" : "", rel, base);
    stats->det_images++;
done:
    free(xml.p);
    syn_video_free(&v);
    if (st != SELSA_OK) return selsa_error_context(st, "synth DET image %d: ", j);
    return st;
}

selsa_status selsa_synth_generate(const selsa_synth_config *cfg, selsa_synth_stats *stats_out) {
    SELSA_TRY(selsa_synth_config_check(cfg));
    selsa_synth_stats stats;
    memset(&stats, 0, sizeof stats);
    char path[4096];
    static const char *dirs[] = {"ImageSets",      "Data/VID/train", "Data/VID/val",
                                 "Annotations/VID/train", "Annotations/VID/val",
                                 "Data/DET/train", "Annotations/DET/train"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        SELSA_TRY(join(path, sizeof path, cfg->root, dirs[i], NULL));
        selsa_status s = selsa_mkdirs(path);
        if (s != SELSA_OK) return selsa_error_context(s, "synth output root %s: ", cfg->root);
    }
    gen_buffers g = {0};
    sbuf train_list = {0}, val_list = {0}, det_list = {0};
    selsa_status s = buffers_reserve(&g, cfg->width, cfg->height);
    int64_t start = 1;
    for (int i = 0; s == SELSA_OK && i < cfg->n_train_videos; i++)
        s = write_video(cfg, 0, i, &g, &train_list, NULL, &stats.train);
    for (int i = 0; s == SELSA_OK && i < cfg->n_val_videos; i++)
        s = write_video(cfg, 1, i, &g, &val_list, &start, &stats.val);
    for (int j = 0; s == SELSA_OK && j < cfg->n_det_images; j++)
        s = write_det(cfg, j, &g, &det_list, &stats);
    if (s == SELSA_OK && (s = join(path, sizeof path, cfg->root, "ImageSets/VID_train_15frames.txt", NULL)) == SELSA_OK)
        s = sb_write(&train_list, path);
    if (s == SELSA_OK && (s = join(path, sizeof path, cfg->root, "ImageSets/VID_val_videos.txt", NULL)) == SELSA_OK)
        s = sb_write(&val_list, path);
    if (s == SELSA_OK && (s = join(path, sizeof path, cfg->root, "ImageSets/DET_train_30classes.txt", NULL)) == SELSA_OK)
        s = sb_write(&det_list, path);
    free(train_list.p);
    free(val_list.p);
    free(det_list.p);
    buffers_free(&g);
    if (s == SELSA_OK && stats_out) *stats_out = stats;
    return s;
}

/* ------------------------------------------------------------------ stats text ------------ */

int selsa_synth_stats_format(const selsa_synth_stats *s, char *buf, int cap) {
    sbuf b = {0};
    const selsa_synth_split_stats *sp[2] = {&s->train, &s->val};
    const char *nm[2] = {"train", "val"};
    for (int k = 0; k < 2; k++) {
        const selsa_synth_split_stats *t = sp[k];
        double n = t->boxes > 0 ? (double)t->boxes : 1.0;
        sb_printf(&b,
                  "%-5s: %lld videos, %lld frames (%lld without objects), %lld tracks, %lld boxes "
                  "(%lld occluded, %lld nearly invisible)\n",
                  nm[k], (long long)t->videos, (long long)t->frames, (long long)t->empty_frames,
                  (long long)t->tracks, (long long)t->boxes, (long long)t->occluded,
                  (long long)t->low_contrast);
        sb_printf(&b, "       motion IoU: fast [0,0.7] %lld (%.1f%%), medium (0.7,0.9] %lld (%.1f%%), "
                      "slow (0.9,1] %lld (%.1f%%)\n",
                  (long long)t->motion[0], 100.0 * (double)t->motion[0] / n, (long long)t->motion[1],
                  100.0 * (double)t->motion[1] / n, (long long)t->motion[2],
                  100.0 * (double)t->motion[2] / n);
        sb_printf(&b, "       deciles:");
        for (int i = 0; i < 10; i++) sb_printf(&b, " %lld", (long long)t->motion_bins[i]);
        sb_printf(&b, "\n");
    }
    sb_printf(&b, "DET  : %lld images, %lld objects of the VID classes, %lld of another class\n",
              (long long)s->det_images, (long long)s->det_objects, (long long)s->det_other);
    int len = (int)b.n;
    if (buf && cap > 0) {
        int k = len < cap - 1 ? len : cap - 1;
        if (b.p) memcpy(buf, b.p, (size_t)k);
        buf[k] = '\0';
    }
    free(b.p);
    return len;
}

/* ------------------------------------------------------------------ contact sheet --------- */

typedef struct png_mem {
    uint8_t *p;
    size_t n, cap;
    int oom;
} png_mem;

static void png_mem_write(png_structp png, png_bytep data, png_size_t len) {
    png_mem *m = (png_mem *)png_get_io_ptr(png);
    if (m->oom) return;
    if (m->n + len > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 65536;
        while (nc < m->n + len) nc *= 2;
        uint8_t *q = realloc(m->p, nc);
        if (!q) {
            m->oom = 1;
            return;
        }
        m->p = q;
        m->cap = nc;
    }
    memcpy(m->p + m->n, data, len);
    m->n += len;
}
static void png_mem_flush(png_structp png) { (void)png; }

/* Encode BGR as an RGB PNG (max compression) and write it atomically. */
static selsa_status write_png_bgr(const char *path, const uint8_t *bgr, int h, int w) {
    png_mem m = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        if (png) png_destroy_write_struct(&png, NULL);
        return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "contact sheet %s: libpng init failed", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(m.p);
        return selsa_error(SELSA_ERR_INTERNAL, "contact sheet %s: libpng error", path);
    }
    png_set_write_fn(png, &m, png_mem_write, png_mem_flush);
    png_set_compression_level(png, 9);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_set_bgr(png);
    for (int y = 0; y < h; y++) png_write_row(png, (png_const_bytep)(bgr + (size_t)y * (size_t)w * 3));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (m.oom) {
        free(m.p);
        return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "contact sheet %s: out of memory", path);
    }
    selsa_status s = selsa_file_write_atomic(path, m.p, m.n);
    free(m.p);
    return s;
}

static void put_px(uint8_t *img, int W, int H, int x, int y, const uint8_t c[3]) {
    if (x < 0 || y < 0 || x >= W || y >= H) return;
    memcpy(img + ((size_t)y * (size_t)W + (size_t)x) * 3, c, 3);
}

selsa_status selsa_synth_contact_sheet(const selsa_synth_config *cfg, const char *out_png, int rows,
                                       int cols, int shrink) {
    SELSA_TRY(selsa_synth_config_check(cfg));
    if (!out_png) return selsa_error(SELSA_ERR_INVALID_ARG, "contact sheet: NULL output path");
    if (rows < 1 || cols < 1 || rows > 64 || cols > 64)
        return selsa_error(SELSA_ERR_INVALID_ARG, "contact sheet: rows %d, cols %d must be in 1..64",
                           rows, cols);
    if (shrink < 1 || shrink > 8)
        return selsa_error(SELSA_ERR_INVALID_ARG, "contact sheet: shrink %d must be in 1..8", shrink);
    int split = cfg->n_val_videos > 0 ? 1 : 0;
    int nv = split ? cfg->n_val_videos : cfg->n_train_videos;
    if (nv < 1) return selsa_error(SELSA_ERR_INVALID_ARG, "contact sheet: the config has no videos");
    if (rows > nv) rows = nv;
    const int W = cfg->width, H = cfg->height, tw = W / shrink, th = H / shrink, gap = 4;
    const int SW = cols * (tw + gap) + gap, SH = rows * (th + gap) + gap;
    uint8_t *sheet = malloc((size_t)SW * (size_t)SH * 3);
    gen_buffers g = {0};
    selsa_status s = buffers_reserve(&g, W, H);
    if (!sheet) s = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "contact sheet: out of memory");
    if (s != SELSA_OK) {
        free(sheet);
        buffers_free(&g);
        return s;
    }
    memset(sheet, 40, (size_t)SW * (size_t)SH * 3);
    static const uint8_t colours[3][3] = {{0, 0, 255}, {0, 230, 255}, {0, 220, 0}}; /* BGR */
    for (int rw = 0; rw < rows && s == SELSA_OK; rw++) {
        syn_video v;
        /* spread the rows over the videos */
        int vi = rows == 1 ? 0 : (int)((long long)rw * (nv - 1) / (rows - 1));
        if ((s = make_video(cfg, split, vi, &v)) != SELSA_OK) break;
        for (int cl = 0; cl < cols; cl++) {
            int t = cols == 1 ? v.n_frames / 2 : (int)((long long)cl * (v.n_frames - 1) / (cols - 1));
            syn_render(&v, t, g.F, g.tmp, g.id, g.img);
            int ox = gap + cl * (tw + gap), oy = gap + rw * (th + gap);
            for (int y = 0; y < th; y++)
                for (int x = 0; x < tw; x++)
                    for (int c = 0; c < 3; c++) {
                        int acc = 0;
                        for (int dy = 0; dy < shrink; dy++)
                            for (int dx = 0; dx < shrink; dx++)
                                acc += g.img[((size_t)(y * shrink + dy) * (size_t)W + (size_t)(x * shrink + dx)) * 3 + c];
                        sheet[((size_t)(oy + y) * (size_t)SW + (size_t)(ox + x)) * 3 + c] =
                            (uint8_t)((acc + shrink * shrink / 2) / (shrink * shrink));
                    }
            for (int i = 0; i < v.n_tracks; i++) {
                const syn_state *st = &v.tr[i].st[t];
                if (!st->has_box) continue;
                int range = st->miou <= 0.7 ? 0 : (st->miou <= 0.9 ? 1 : 2);
                int x1 = st->box[0] / shrink, y1 = st->box[1] / shrink;
                int x2 = st->box[2] / shrink, y2 = st->box[3] / shrink;
                /* outline inside the tile only; dashed when occluded */
                for (int y = y1; y <= y2; y++)
                    for (int x = x1; x <= x2; x++) {
                        int on_edge = (y == y1 || y == y2 || x == x1 || x == x2);
                        if (!on_edge) continue;
                        int along = (y == y1 || y == y2) ? x - x1 : y - y1;
                        if (st->occluded && (along / 3) % 2) continue;
                        if (x < 0 || y < 0 || x >= tw || y >= th) continue;
                        put_px(sheet, SW, SH, ox + x, oy + y, colours[range]);
                    }
            }
        }
        syn_video_free(&v);
    }
    if (s == SELSA_OK) s = write_png_bgr(out_png, sheet, SH, SW);
    free(sheet);
    buffers_free(&g);
    return s;
}
