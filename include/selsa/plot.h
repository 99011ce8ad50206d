/* selsa — a small line-chart renderer for training curves (issue 7: "a PNG plot of the loss
 * curves written at the end of each epoch").
 *
 * Draws one or more (x, y) series as polylines on a white 8-bit BGR image (selsa_image,
 * image.h): an axes box, light grid lines and numeric labels at "nice" tick values
 * (1/2/5 · 10^k), an optional log10 y axis, one colour per series (8 colours, then they
 * repeat), a legend with the series names (placed in the plot-area corner the curves cross
 * least), a title and axis labels, in the built-in 5×7 font of render.h. Pure integer drawing
 * (Bresenham lines, no antialiasing), so the output is deterministic.
 *
 * Points whose x or y is NaN, ±Inf or larger than 1e300 in magnitude (and points with y <= 0
 * on a log axis) are skipped and break the line there; an isolated point between two skipped
 * ones is drawn as a small square. Series with no points appear in the legend only; when no
 * series has a drawable point the axes get a default range (x 0..1, y 0..1, or 1..10 on a log
 * axis). The axis ranges are the data ranges padded by 4 % of their span on each side (a
 * constant coordinate gets ±5 % of its magnitude, or ±1 when it is 0).
 *
 *   selsa_plot_series s[2] = {{"train loss", ep, train, n}, {"val loss", ep, val, n}};
 *   selsa_plot_opts o;
 *   selsa_plot_opts_default(&o);
 *   o.title = "loss"; o.xlabel = "epoch"; o.log_y = true;
 *   selsa_plot_write_png("work/loss.png", s, 2, &o);
 */
#ifndef SELSA_PLOT_H
#define SELSA_PLOT_H

#include <stdbool.h>
#include <stdint.h>

#include "selsa/image.h"
#include "selsa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One curve: n points (x[i], y[i]) drawn in order (x need not be sorted). */
typedef struct selsa_plot_series {
    const char *name; /* legend text (NULL: "series <i+1>"); at most 40 characters are shown */
    const double *x;  /* [n]; may be NULL only when n == 0 */
    const double *y;  /* [n]; may be NULL only when n == 0 */
    int64_t n;        /* number of points, >= 0 */
} selsa_plot_series;

typedef struct selsa_plot_opts {
    int width, height;  /* image size in pixels, each in [160, 4096] */
    const char *title;  /* drawn above the plot (NULL or "": none) */
    const char *xlabel; /* drawn below the x tick labels (NULL or "": none) */
    const char *ylabel; /* drawn vertically left of the y tick labels (NULL or "": none) */
    bool log_y;         /* log10 y axis; points with y <= 0 are skipped */
} selsa_plot_opts;

/* 800×500, no title or axis labels, linear y axis. */
void selsa_plot_opts_default(selsa_plot_opts *o);

enum { SELSA_PLOT_MAX_TICKS = 32, SELSA_PLOT_N_COLORS = 8 };

/* Where everything goes, computed from the data and the options alone (no image needed), so
 * callers and tests can locate data points in the rendered image. */
typedef struct selsa_plot_layout {
    int px0, py0, px1, py1; /* plot area: inclusive pixel rectangle inside the axes box (the box
                               itself is drawn one pixel outside it) */
    double x_lo, x_hi;      /* data x shown at column px0 / px1 */
    double y_lo, y_hi;      /* data y (log10(y) when log_y) shown at row py1 / py0 */
    bool log_y;
    int n_xticks, n_yticks;                                 /* <= SELSA_PLOT_MAX_TICKS */
    double xticks[SELSA_PLOT_MAX_TICKS];                    /* tick values, data units */
    double yticks[SELSA_PLOT_MAX_TICKS];                    /* tick values, data units (not log) */
    bool has_legend;        /* false when there are no series or the legend does not fit */
    int lx0, ly0, lx1, ly1; /* legend box, inclusive pixel rectangle (when has_legend) */
    int text_scale;         /* font scale of tick labels, legend and axis labels (title: 2×
                               when it fits the width) */
    int line_width;         /* series line thickness in pixels (1 or 2) */
} selsa_plot_layout;

/* Compute the layout. Same argument rules and errors as selsa_plot_render. */
selsa_status selsa_plot_layout_compute(const selsa_plot_series *s, int n_series,
                                       const selsa_plot_opts *o, selsa_plot_layout *L);

/* Data → pixel mapping of a layout, before rounding: the column of x and the row of y (on a
 * log axis y is the data value, not its log). A series point is drawn at
 * (lround(column), lround(row)) with the line's brush covering line_width pixels to the right
 * and below. Returns NaN for values that are not drawable (non-finite, or y <= 0 on a log
 * axis). */
double selsa_plot_x_to_px(const selsa_plot_layout *L, double x);
double selsa_plot_y_to_px(const selsa_plot_layout *L, double y);

/* Colour of series i (i mod SELSA_PLOT_N_COLORS), as B, G, R. */
void selsa_plot_series_color(int i, uint8_t bgr[3]);

/* Render into out (o->height × o->width, allocated or reused as by selsa_image_alloc).
 * SELSA_ERR_INVALID_ARG (with a message) on NULL out/o, s == NULL with n_series > 0,
 * n_series < 0, a series with n < 0 or NULL x/y with n > 0, width/height outside
 * [160, 4096]. No allocation other than the output image. */
selsa_status selsa_plot_render(const selsa_plot_series *s, int n_series, const selsa_plot_opts *o,
                               selsa_image *out);

/* Render and write an RGB PNG to path, atomically (temporary file renamed over path). */
selsa_status selsa_plot_write_png(const char *path, const selsa_plot_series *s, int n_series,
                                  const selsa_plot_opts *o);

#ifdef __cplusplus
}
#endif
#endif
