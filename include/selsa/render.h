/* selsa — drawing detections onto 8-bit BGR images (selsa_image, image.h): rectangles, filled
 * label backgrounds and text in a built-in 5×7 bitmap font (printable ASCII 32..126, no font
 * file or library), one colour per class. Everything is clipped to the image: boxes partly or
 * wholly outside it, negative coordinates and NaN are safe. Deterministic (pure integer
 * drawing, no antialiasing).
 *
 *   selsa_render_opts o;
 *   selsa_render_opts_default(&o, img.h, img.w);
 *   selsa_render_detections(&img, dets, n_dets, &o);
 */
#ifndef SELSA_RENDER_H
#define SELSA_RENDER_H

#include <stdint.h>

#include "selsa/boxes.h"
#include "selsa/image.h"
#include "selsa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Glyph cell of the built-in font: 5×7 pixels drawn in a 6×9 cell (1 column of spacing, one
 * row above and below), each multiplied by the integer text scale. */
enum { SELSA_FONT_W = 5, SELSA_FONT_H = 7, SELSA_FONT_CELL_W = 6, SELSA_FONT_CELL_H = 9 };

/* The 7 row bit masks of a character (bit 4 = leftmost column). Characters outside 32..126
 * give the glyph of '?'. */
const uint8_t *selsa_font_glyph(char c);

/* Colour of class `cls` (1..30; any other value gets a neutral grey), as B, G, R. Distinct,
 * saturated colours, stable across runs. */
void selsa_render_class_color(int cls, uint8_t bgr[3]);

/* Fill the inclusive rectangle [x1, x2] × [y1, y2] (clipped). */
void selsa_render_fill(selsa_image *img, int x1, int y1, int x2, int y2, const uint8_t bgr[3]);
/* Outline of the inclusive rectangle, `thickness` >= 1 pixels drawn inwards from its edges. */
void selsa_render_rect(selsa_image *img, int x1, int y1, int x2, int y2, const uint8_t bgr[3],
                       int thickness);
/* Text with its cell's top-left corner at (x, y), glyph pixels only (no background).
 * Returns the width drawn = selsa_render_text_width(text, scale). */
int selsa_render_text(selsa_image *img, int x, int y, const char *text, const uint8_t bgr[3],
                      int scale);
int selsa_render_text_width(const char *text, int scale); /* strlen · 6 · scale */
int selsa_render_text_height(int scale);                  /* 9 · scale */

typedef struct selsa_render_opts {
    float score_thr;  /* detections with score < score_thr are not drawn (default 0.3) */
    int thickness;    /* box line width in pixels (default: max(1, round(min(h, w) / 300))) */
    int text_scale;   /* font scale (default: max(1, round(min(h, w) / 360))) */
} selsa_render_opts;

/* Defaults for an image of h × w. */
void selsa_render_opts_default(selsa_render_opts *o, int h, int w);

/* Draw every detection with score >= o->score_thr, lowest score first (so the strongest box
 * and label end up on top): the box outline in the class colour, and a label "name 0.87"
 * (class name from classes.h, score with 2 decimals) in black or white, whichever contrasts
 * with the class colour, on a filled background of the class colour, above the box's top edge
 * (inside the box when there is no room above). Boxes are inclusive pixel coordinates of the
 * image (selsa_detection's original-image boxes), rounded to the nearest pixel; cls is 1..30.
 * SELSA_ERR_INVALID_ARG on NULL arguments or an image without pixels. */
selsa_status selsa_render_detections(selsa_image *img, const selsa_detection *dets, int64_t n_dets,
                                     const selsa_render_opts *o);

#ifdef __cplusplus
}
#endif
#endif
