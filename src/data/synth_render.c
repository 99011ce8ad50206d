/* Synthetic dataset renderer: draws one frame of a simulated video (synth_internal.h).
 *
 * Pipeline per frame, in float BGR [0,1]:
 *   panning background (bilinear sample of the world image) → moving distractor blobs →
 *   objects (signed-distance shapes with textures, motion blur by averaging coverage and
 *   colour over sub-frame positions along the velocity, visibility / brightness multipliers)
 *   → foreground occluders → global gain → defocus (2× separable box blur) →
 *   sensor noise (triangular, from a per-frame rng stream) → uint8.
 * Coordinates: pixel centres at integers; a pixel belongs to a shape when its centre does
 * (signed distance < 0), and its anti-aliased coverage is clamp(0.5 − d, 0, 1). */
#include "synth_internal.h"

#include <math.h>
#include <string.h>

static inline float clampf(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }
static inline float tri(float x) { return fabsf(2.0f * (x - floorf(x)) - 1.0f); }
static inline float fracf(float x) { return x - floorf(x); }

/* Signed distance (px, negative inside) of local point (lx, ly) to the unrotated shape with
 * half extents hw, hh. Exact for rectangles, a close approximation elsewhere (only the sign
 * and the ~1 px anti-aliasing band matter). */
static inline float shape_sdf(int shape, float lx, float ly, float hw, float hh) {
    float m = hw < hh ? hw : hh;
    float ax = fabsf(lx), ay = fabsf(ly);
    switch (shape) {
    case 0: { /* ellipse */
        float q = sqrtf((lx / hw) * (lx / hw) + (ly / hh) * (ly / hh));
        return (q - 1.0f) * m;
    }
    case 1: /* rectangle */
        return fmaxf(ax - hw, ay - hh);
    case 2: { /* isosceles triangle, apex up: (0,-hh), (±hw, hh) */
        float k = 2.0f * hh / hw;
        float slant = (k * ax - hh - ly) / sqrtf(k * k + 1.0f);
        return fmaxf(ly - hh, slant);
    }
    case 3: { /* ring: 0.4 <= q <= 1 */
        float q = sqrtf((lx / hw) * (lx / hw) + (ly / hh) * (ly / hh));
        return (fabsf(q - 0.7f) - 0.3f) * m;
    }
    case 4: { /* cross (plus), arm half-thickness 0.32 */
        float a = fmaxf(ax - hw, ay - 0.32f * hh);
        float b = fmaxf(ax - 0.32f * hw, ay - hh);
        return fminf(a, b);
    }
    case 5: { /* five-pointed star, polar radius R = 0.6 + 0.4 cos(5φ), φ from "up" */
        float nu = lx / hw, nv = ly / hh;
        float r = sqrtf(nu * nu + nv * nv);
        float c = r > 1e-6f ? -nv / r : 1.0f;
        float c2 = c * c;
        float c5 = c * (16.0f * c2 * c2 - 20.0f * c2 + 5.0f); /* Chebyshev T5(cos φ) = cos 5φ */
        return (r - (0.6f + 0.4f * c5)) * m;
    }
    case 6: /* diamond */
        return (ax / hw + ay / hh - 1.0f) * hw * hh / sqrtf(hw * hw + hh * hh);
    case 7: /* hexagon, vertices (±hw, 0), (±hw/2, ±hh) */
        return fmaxf(ay - hh, (ax / hw + ay / (2.0f * hh) - 1.0f) /
                                  sqrtf(1.0f / (hw * hw) + 1.0f / (4.0f * hh * hh)));
    default: { /* crescent: ellipse minus a shifted smaller ellipse */
        float q = sqrtf((lx / hw) * (lx / hw) + (ly / hh) * (ly / hh));
        float ux = (lx - 0.45f * hw) / (0.8f * hw), uy = (ly + 0.1f * hh) / (0.8f * hh);
        float q2 = sqrtf(ux * ux + uy * uy);
        return fmaxf((q - 1.0f) * m, -(q2 - 1.0f) * 0.8f * m);
    }
    }
}

/* Texture mix in [0,1] between the two colours, at object units u, v in [-1, 1]. */
static inline float texture_mix(int tex, float u, float v, float f, float ph, float k) {
    float m;
    switch (tex) {
    case 0: m = tri(0.5f * f * u + ph); break; /* stripes */
    case 1: { /* checker */
        float a = tri(0.5f * f * u + ph) - 0.5f, b = tri(0.5f * f * v + ph) - 0.5f;
        m = 0.5f + 4.0f * a * b;
        break;
    }
    case 2: { /* dots */
        float fx = fracf(0.5f * f * u + ph) - 0.5f, fy = fracf(0.5f * f * v + ph) - 0.5f;
        m = 0.5f + (0.3f - sqrtf(fx * fx + fy * fy)) * 4.0f;
        break;
    }
    case 3: m = tri(0.36f * f * (u + v) + ph); break; /* diagonal stripes */
    case 4: { /* grid lines */
        float a = tri(0.5f * f * u + ph), b = tri(0.5f * f * v + ph);
        m = 0.5f + (fmaxf(a, b) - 0.78f) * 3.0f;
        break;
    }
    case 5: m = tri(0.7f * f * sqrtf(u * u + v * v) + ph); break; /* concentric rings */
    case 6: m = tri(0.5f * f * v + 0.35f * tri(0.5f * f * u) + ph); break; /* zigzag bands */
    default: m = 0.5f + clampf(u * v * 6.0f, -0.5f, 0.5f); break;  /* quadrant sectors */
    }
    return clampf((m - 0.5f) * k + 0.5f, 0.0f, 1.0f);
}

void syn_shape_extent(int shape, const syn_state *s, float ext[4]) {
    /* boundary points in unit coordinates (u right, v down); curves sampled at 72 or 100
     * points (error < 0.1 % of the size) */
    float c = cosf(s->theta), sn = sinf(s->theta);
    float x0 = 1e30f, y0 = 1e30f, x1 = -1e30f, y1 = -1e30f;
#define SYN_PT(U, V)                                                     \
    do {                                                                 \
        float px_ = (U) * s->hw, py_ = (V) * s->hh;                      \
        float wx_ = s->cx + c * px_ - sn * py_, wy_ = s->cy + sn * px_ + c * py_; \
        x0 = fminf(x0, wx_); x1 = fmaxf(x1, wx_);                        \
        y0 = fminf(y0, wy_); y1 = fmaxf(y1, wy_);                        \
    } while (0)
    switch (shape) {
    case 1:
        SYN_PT(-1, -1); SYN_PT(1, -1); SYN_PT(1, 1); SYN_PT(-1, 1);
        break;
    case 2:
        SYN_PT(0, -1); SYN_PT(-1, 1); SYN_PT(1, 1);
        break;
    case 4:
        SYN_PT(-1, -0.32f); SYN_PT(-1, 0.32f); SYN_PT(1, -0.32f); SYN_PT(1, 0.32f);
        SYN_PT(-0.32f, -1); SYN_PT(0.32f, -1); SYN_PT(-0.32f, 1); SYN_PT(0.32f, 1);
        break;
    case 5:
        for (int i = 0; i < 100; i++) { /* includes the tips at multiples of 72° */
            float phi = (float)i * (6.28318530718f / 100.0f);
            float R = 0.6f + 0.4f * cosf(5.0f * phi);
            SYN_PT(R * sinf(phi), -R * cosf(phi));
        }
        break;
    case 6:
        SYN_PT(-1, 0); SYN_PT(1, 0); SYN_PT(0, -1); SYN_PT(0, 1);
        break;
    case 7:
        SYN_PT(-1, 0); SYN_PT(1, 0); SYN_PT(-0.5f, -1); SYN_PT(0.5f, -1); SYN_PT(-0.5f, 1);
        SYN_PT(0.5f, 1);
        break;
    default: /* ellipse, ring, crescent (outer ellipse) */
        for (int i = 0; i < 72; i++) {
            float phi = (float)i * (6.28318530718f / 72.0f);
            SYN_PT(cosf(phi), sinf(phi));
        }
        break;
    }
#undef SYN_PT
    ext[0] = x0;
    ext[1] = y0;
    ext[2] = x1;
    ext[3] = y1;
}

static void draw_background(const syn_video *v, int t, float *F) {
    int W = v->W, H = v->H, ww = v->ww;
    float cx = v->camx[t], cy = v->camy[t];
    int ix = (int)floorf(cx), iy = (int)floorf(cy);
    float fx = cx - (float)ix, fy = cy - (float)iy;
    /* the camera stays inside [0, ww-W-1] × [0, wh-H-1], so x+1, y+1 are in the world */
    for (int y = 0; y < H; y++) {
        const float *r0 = v->world + ((size_t)(y + iy) * (size_t)ww + (size_t)ix) * 3;
        const float *r1 = r0 + (size_t)ww * 3;
        float *o = F + (size_t)y * (size_t)W * 3;
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++) {
                int k = x * 3 + c;
                float a = r0[k] + (r0[k + 3] - r0[k]) * fx;
                float b = r1[k] + (r1[k + 3] - r1[k]) * fx;
                o[k] = a + (b - a) * fy;
            }
    }
}

void syn_draw_blob(int W, int H, float *F, float x, float y, float rx, float ry,
                      const float c[3], float sharp, float opacity) {
    int xa = (int)floorf(x - rx - 1), xb = (int)ceilf(x + rx + 1);
    int ya = (int)floorf(y - ry - 1), yb = (int)ceilf(y + ry + 1);
    if (xa < 0) xa = 0;
    if (ya < 0) ya = 0;
    if (xb > W - 1) xb = W - 1;
    if (yb > H - 1) yb = H - 1;
    for (int py = ya; py <= yb; py++)
        for (int px = xa; px <= xb; px++) {
            float dx = ((float)px - x) / rx, dy = ((float)py - y) / ry;
            float q = sqrtf(dx * dx + dy * dy);
            float a = clampf((1.0f - q) * sharp, 0.0f, 1.0f) * opacity;
            if (a <= 0.0f) continue;
            float *o = F + ((size_t)py * (size_t)W + (size_t)px) * 3;
            for (int ch = 0; ch < 3; ch++) o[ch] += (c[ch] - o[ch]) * a;
        }
}

/* Draw track i in frame t; counts its sharp mask and marks it in id (value i+1). */
static void draw_object(const syn_video *v, const syn_track *tr, const syn_state *s, int idx,
                        float *F, uint8_t *id) {
    int W = v->W, H = v->H;
    float dx = s->vx * v->exposure, dy = s->vy * v->exposure;
    int xa = (int)floorf(s->ext[0] - fabsf(dx) * 0.5f - 2.0f);
    int xb = (int)ceilf(s->ext[2] + fabsf(dx) * 0.5f + 2.0f);
    int ya = (int)floorf(s->ext[1] - fabsf(dy) * 0.5f - 2.0f);
    int yb = (int)ceilf(s->ext[3] + fabsf(dy) * 0.5f + 2.0f);
    if (xa < 0) xa = 0;
    if (ya < 0) ya = 0;
    if (xb > W - 1) xb = W - 1;
    if (yb > H - 1) yb = H - 1;
    if (xa > xb || ya > yb) return;
    float len = fmaxf(fabsf(dx), fabsf(dy));
    int M = len < 0.5f ? 1 : (int)ceilf(len) + 1; /* about one sample per pixel of blur */
    if (M > 24) M = 24;
    float c = cosf(s->theta), sn = sinf(s->theta);
    /* blur displacement in local coordinates */
    float dlx = c * dx + sn * dy, dly = -sn * dx + c * dy;
    float hw = s->hw, hh = s->hh, ihw = 1.0f / hw, ihh = 1.0f / hh;
    float period = 2.0f * fminf(hw, hh) / tr->freq; /* texture period in px */
    float k = clampf(period * 0.25f, 1.0f, 3.0f);  /* soften textures finer than ~4 px */
    float col1[3], col2[3];
    for (int ch = 0; ch < 3; ch++) {
        col1[ch] = tr->c1[ch] * s->bright;
        col2[ch] = tr->c2[ch] * s->bright;
    }
    float invM = 1.0f / (float)M;
    for (int py = ya; py <= yb; py++)
        for (int px = xa; px <= xb; px++) {
            float ox = (float)px - s->cx, oy = (float)py - s->cy;
            float lx0 = c * ox + sn * oy, ly0 = -sn * ox + c * oy;
            float asum = 0.0f, p0 = 0.0f, p1 = 0.0f, p2 = 0.0f;
            for (int m = 0; m < M; m++) {
                float tau = M == 1 ? 0.0f : ((float)m + 0.5f) * invM - 0.5f;
                float lx = lx0 - dlx * tau, ly = ly0 - dly * tau;
                float d = shape_sdf(tr->shape, lx, ly, hw, hh);
                float cov = clampf(0.5f - d, 0.0f, 1.0f);
                if (cov <= 0.0f) continue;
                float u = lx * ihw, w = ly * ihh;
                float mix = texture_mix(tr->texture, u, w, tr->freq, tr->phase, k);
                float shade = cov * (1.0f - 0.18f * w); /* light from above */
                p0 += shade * (col1[0] + (col2[0] - col1[0]) * mix);
                p1 += shade * (col1[1] + (col2[1] - col1[1]) * mix);
                p2 += shade * (col1[2] + (col2[2] - col1[2]) * mix);
                asum += cov;
            }
            size_t pix = (size_t)py * (size_t)W + (size_t)px;
            if (asum > 0.0f) {
                float a = asum * invM * s->vis, g = invM * s->vis;
                float *o = F + pix * 3;
                o[0] = o[0] * (1.0f - a) + p0 * g;
                o[1] = o[1] * (1.0f - a) + p1 * g;
                o[2] = o[2] * (1.0f - a) + p2 * g;
            }
            if (shape_sdf(tr->shape, lx0, ly0, hw, hh) < 0.0f) id[pix] = (uint8_t)(idx + 1);
        }
}

static void draw_occluder(const syn_video *v, const syn_occ *oc, int t, float *F, uint8_t *id) {
    int W = v->W, H = v->H;
    float x = oc->x + oc->vx * (float)(t - oc->t0), y = oc->y + oc->vy * (float)(t - oc->t0);
    int xa = (int)floorf(x - oc->hw - 1), xb = (int)ceilf(x + oc->hw + 1);
    int ya = (int)floorf(y - oc->hh - 1), yb = (int)ceilf(y + oc->hh + 1);
    if (xa < 0) xa = 0;
    if (ya < 0) ya = 0;
    if (xb > W - 1) xb = W - 1;
    if (yb > H - 1) yb = H - 1;
    int vertical = oc->hh >= oc->hw;
    for (int py = ya; py <= yb; py++)
        for (int px = xa; px <= xb; px++) {
            float ox = (float)px - x, oy = (float)py - y, a;
            if (oc->kind == 0) {
                a = clampf(0.5f + fminf(oc->hw - fabsf(ox), oc->hh - fabsf(oy)), 0.0f, 1.0f);
            } else {
                float q = sqrtf((ox / oc->hw) * (ox / oc->hw) + (oy / oc->hh) * (oy / oc->hh));
                a = clampf((1.0f - q) * fminf(oc->hw, oc->hh) * 0.5f, 0.0f, 1.0f);
            }
            if (a <= 0.0f) continue;
            float along = vertical ? oy / oc->hh : ox / oc->hw;
            float g = 1.0f + oc->shade * along;
            float *o = F + ((size_t)py * (size_t)W + (size_t)px) * 3;
            for (int ch = 0; ch < 3; ch++) o[ch] += (oc->c[ch] * g - o[ch]) * a;
            if (a > 0.5f) id[(size_t)py * (size_t)W + (size_t)px] = 255;
        }
}

/* One horizontal + one vertical box-blur pass of radius r (clamped borders), F → F.
 * tmp holds H*W*3 + W*3 floats (the last W*3 are the column running sums). */
static void box_blur(float *F, float *tmp, int H, int W, int r) {
    float inv = 1.0f / (float)(2 * r + 1);
    for (int y = 0; y < H; y++) {
        const float *in = F + (size_t)y * (size_t)W * 3;
        float *out = tmp + (size_t)y * (size_t)W * 3;
        for (int c = 0; c < 3; c++) {
            float acc = 0.0f;
            for (int k = -r; k <= r; k++) {
                int xx = k < 0 ? 0 : (k > W - 1 ? W - 1 : k);
                acc += in[xx * 3 + c];
            }
            for (int x = 0; x < W; x++) {
                out[x * 3 + c] = acc * inv;
                int xo = x - r, xi = x + r + 1;
                xo = xo < 0 ? 0 : xo;
                xi = xi > W - 1 ? W - 1 : xi;
                acc += in[xi * 3 + c] - in[xo * 3 + c];
            }
        }
    }
    /* vertical pass row by row with one running sum per column (cache friendly) */
    size_t row = (size_t)W * 3;
    float *sum = tmp + (size_t)H * row;
    for (size_t k = 0; k < row; k++) sum[k] = 0.0f;
    for (int j = -r; j <= r; j++) {
        int yy = j < 0 ? 0 : (j > H - 1 ? H - 1 : j);
        const float *ty = tmp + (size_t)yy * row;
        for (size_t k = 0; k < row; k++) sum[k] += ty[k];
    }
    for (int y = 0; y < H; y++) {
        int yo = y - r, yi = y + r + 1;
        yo = yo < 0 ? 0 : yo;
        yi = yi > H - 1 ? H - 1 : yi;
        float *out = F + (size_t)y * row;
        const float *ti = tmp + (size_t)yi * row, *to = tmp + (size_t)yo * row;
        for (size_t k = 0; k < row; k++) {
            out[k] = sum[k] * inv;
            sum[k] += ti[k] - to[k];
        }
    }
}

void syn_render(syn_video *v, int t, float *F, float *tmp, uint8_t *id, uint8_t *out) {
    int W = v->W, H = v->H;
    size_t npix = (size_t)W * (size_t)H;
    draw_background(v, t, F);
    for (int b = 0; b < v->n_blob; b++) {
        const syn_blob *bl = &v->blob[b];
        syn_draw_blob(W, H, F, bl->x + bl->vx * (float)t, bl->y + bl->vy * (float)t, bl->rx, bl->ry,
                  bl->c, bl->sharp, bl->opacity);
    }
    memset(id, 0, npix);
    for (int i = 0; i < v->n_tracks; i++) {
        syn_state *s = &v->tr[i].st[t];
        s->occluded = 0;
        draw_object(v, &v->tr[i], s, i, F, id);
    }
    for (int k = 0; k < v->n_occ; k++)
        if (t >= v->occ[k].t0 && t <= v->occ[k].t1) draw_occluder(v, &v->occ[k], t, F, id);
    /* occluded: more than half of the object's in-frame mask is covered by something drawn
     * later (another object or an occluder) */
    for (int i = 0; i < v->n_tracks; i++) {
        syn_state *s = &v->tr[i].st[t];
        if (!s->has_box) continue;
        int64_t mask = 0, seen = 0;
        float c = cosf(s->theta), sn = sinf(s->theta);
        /* the in-frame mask lies inside the (clipped) box by construction of the box */
        for (int py = s->box[1]; py <= s->box[3]; py++)
            for (int px = s->box[0]; px <= s->box[2]; px++) {
                float ox = (float)px - s->cx, oy = (float)py - s->cy;
                float lx = c * ox + sn * oy, ly = -sn * ox + c * oy;
                if (shape_sdf(v->tr[i].shape, lx, ly, s->hw, s->hh) < 0.0f) {
                    mask++;
                    seen += id[(size_t)py * (size_t)W + (size_t)px] == (uint8_t)(i + 1);
                }
            }
        s->occluded = (uint8_t)(mask > 0 && 2 * seen < mask);
    }
    float g = v->gain[t];
    if (g != 1.0f)
        for (size_t k = 0; k < npix * 3; k++) F[k] *= g;
    int r = v->defocus[t];
    if (r > 0) {
        box_blur(F, tmp, H, W, r);
        box_blur(F, tmp, H, W, r);
    }
    /* sensor noise: sum of two uniform bytes − 255 is triangular with std 255/sqrt(6) */
    selsa_rng nr;
    selsa_rng_seed(&nr, v->noise_seed + 0x9E3779B97F4A7C15ULL * (uint64_t)(t + 1), v->noise_stream);
    float scale = v->noise * 255.0f / 104.103f;
    for (size_t k = 0; k < npix * 3; k += 2) {
        uint32_t u = selsa_rng_u32(&nr);
        float n0 = (float)((int)(u & 255u) + (int)((u >> 8) & 255u) - 255) * scale;
        float n1 = (float)((int)((u >> 16) & 255u) + (int)(u >> 24) - 255) * scale;
        float a = clampf(F[k] * 255.0f + n0, 0.0f, 255.0f);
        out[k] = (uint8_t)(int)(a + 0.5f);
        if (k + 1 < npix * 3) {
            float b = clampf(F[k + 1] * 255.0f + n1, 0.0f, 255.0f);
            out[k + 1] = (uint8_t)(int)(b + 0.5f);
        }
    }
}
