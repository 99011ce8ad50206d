/* Internal: the simulated scene of one synthetic video (or DET still) and its renderer.
 * synth.c simulates (all random draws, in a fixed order), synth_render.c draws frames from
 * the simulated state (no random draws except the per-frame sensor-noise stream). */
#ifndef SELSA_SYNTH_INTERNAL_H
#define SELSA_SYNTH_INTERNAL_H

#include <stdint.h>

#include "selsa/rng.h"
#include "selsa/synth.h"

#define SYN_N_SHAPES 9   /* 8 class shapes + the crescent of non-VID DET objects */
#define SYN_N_TEXTURES 8
#define SYN_SHAPE_CRESCENT 8
#define SYN_MAX_OCC 8    /* foreground occluders per video */
#define SYN_MAX_BLOB 4   /* moving background distractors per video */

/* One track in one frame. Coordinates are pixels with pixel centres at integers. */
typedef struct syn_state {
    float cx, cy;      /* centre of the shape at the middle of the exposure */
    float vx, vy;      /* velocity, px/frame (motion blur length = |v|·exposure) */
    float hw, hh;      /* half extents of the unrotated shape, px */
    float theta;       /* rotation, radians */
    float vis;         /* alpha multiplier: 1 normally, ~0.1–0.25 when nearly invisible */
    float bright;      /* colour multiplier (appearance changes) */
    float ext[4];      /* continuous extent of the sharp rotated shape: x0 y0 x1 y1 */
    int box[4];        /* annotated box x1 y1 x2 y2 inclusive, clipped; valid if has_box */
    double miou;       /* motion IoU of the box (vid-eval.md §5 rule), if has_box */
    uint8_t has_box;   /* the object is (at least 3×3 px) inside the frame */
    uint8_t occluded;  /* set by the renderer: more than half of its mask is hidden */
    uint8_t low;       /* nearly invisible in this frame */
} syn_state;

typedef struct syn_track {
    int label;          /* 1..30 (VID class), or 0 = a non-VID object (DET only) */
    int shape, texture; /* 0..SYN_N_SHAPES-1, 0..SYN_N_TEXTURES-1 */
    float c1[3], c2[3]; /* BGR in [0,1]: texture colours */
    float freq, phase;  /* texture periods across the object, phase */
    int speed_class;    /* SELSA_SYNTH_FAST / MEDIUM / SLOW (the drawn target) */
    syn_state *st;      /* [n_frames] */
} syn_track;

/* Foreground occluder (pole / branch / leaf): drawn over the objects during [t0, t1]. */
typedef struct syn_occ {
    int kind;           /* 0 = rectangle (bar), 1 = soft ellipse */
    float x, y;         /* centre at frame t0 */
    float vx, vy;       /* px/frame */
    float hw, hh;       /* half sizes */
    float c[3];         /* BGR */
    float shade;        /* colour gradient along the long side */
    int t0, t1;
} syn_occ;

/* Moving background distractor blob (class colours, no class shape or texture). */
typedef struct syn_blob {
    float x, y, vx, vy, rx, ry;
    float c[3];
    float sharp, opacity;
} syn_blob;

typedef struct syn_video {
    int W, H, n_frames, n_tracks;
    syn_track tr[SELSA_SYNTH_MAX_OBJECTS];
    int ww, wh;         /* background world size (camera pans inside it) */
    float *world;       /* [wh][ww][3] BGR */
    float *camx, *camy; /* [n_frames] camera offset in the world */
    int *defocus;       /* [n_frames] box-blur radius (0 = sharp) */
    float *gain;        /* [n_frames] global brightness */
    float noise;        /* sensor noise std, in [0,1] units */
    float exposure;     /* fraction of the frame interval the shutter is open */
    int n_occ;
    syn_occ occ[SYN_MAX_OCC];
    int n_blob;
    syn_blob blob[SYN_MAX_BLOB];
    uint64_t noise_seed, noise_stream; /* per-frame sensor noise rng */
} syn_video;

/* Render frame t: out is H×W×3 BGR uint8. Scratch: F [H*W*3] and tmp [(H+1)*W*3] floats,
 * id [H*W].
 * Sets tr[i].st[t].occluded. */
void syn_render(syn_video *v, int t, float *F, float *tmp, uint8_t *id, uint8_t *out);

/* Blend a soft ellipse (centre x, y; radii rx, ry) of colour c into the W×H×3 image F:
 * alpha = clamp((1 − q)·sharp, 0, 1)·opacity, q = normalised radius. */
void syn_draw_blob(int W, int H, float *F, float x, float y, float rx, float ry, const float c[3],
                   float sharp, float opacity);

/* Continuous extent (x0 y0 x1 y1) of the sharp shape of state s. */
void syn_shape_extent(int shape, const syn_state *s, float ext[4]);

#endif
