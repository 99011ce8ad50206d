/* selsa — line charts of training curves as BGR images / PNG files (include/selsa/plot.h).
 *
 * Layout first (margins from the text sizes, data ranges, "nice" ticks whose labels do not
 * overlap, legend corner), then integer drawing: background, grid, series polylines
 * (Bresenham, clipped to the plot area), axes box, ticks and labels, legend, title, axis
 * labels. Text uses the 5×7 font of render.h; the vertical y label rotates its glyphs here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "selsa/fileio.h"
#include "selsa/plot.h"
#include "selsa/render.h"

enum {
    PLOT_MIN_SIZE = 160,
    PLOT_MAX_SIZE = 4096,
    NAME_MAX_CHARS = 40, /* legend names are cut to this many characters */
    LABEL_LEN = 24,      /* tick label buffer (labels are at most ~12 characters) */
    TICK_LEN = 4,        /* tick marks, pixels outside the axes box */
    LEGEND_INSET = 8,    /* legend distance from the plot-area edges */
};

#define PLOT_BIG 1e300 /* larger magnitudes are treated as non-finite (keeps spans finite) */

static const uint8_t k_white[3] = {255, 255, 255};
static const uint8_t k_text[3] = {30, 30, 30};
static const uint8_t k_axis[3] = {0, 0, 0};
static const uint8_t k_grid[3] = {226, 226, 226};
static const uint8_t k_legend_border[3] = {160, 160, 160};

/* matplotlib's "tab10" colours without its grey and olive, as 0xRRGGBB. */
static const uint32_t k_palette[SELSA_PLOT_N_COLORS] = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728,
                                                        0x9467bd, 0x8c564b, 0xe377c2, 0x17becf};

void selsa_plot_series_color(int i, uint8_t bgr[3]) {
    int k = i % SELSA_PLOT_N_COLORS;
    if (k < 0) k += SELSA_PLOT_N_COLORS;
    uint32_t c = k_palette[k];
    bgr[0] = (uint8_t)(c & 255u), bgr[1] = (uint8_t)((c >> 8) & 255u),
    bgr[2] = (uint8_t)((c >> 16) & 255u);
}

void selsa_plot_opts_default(selsa_plot_opts *o) {
    if (!o) return;
    memset(o, 0, sizeof(*o));
    o->width = 800;
    o->height = 500;
}

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }
static int iclamp(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

static bool usable(double v) { return isfinite(v) && fabs(v) <= PLOT_BIG; }

/* y on the axis scale (log10 on a log axis); NaN when not drawable. */
static double y_axis_value(double y, bool log_y) {
    if (!usable(y)) return NAN;
    if (log_y) return y > 0 ? log10(y) : NAN;
    return y;
}

double selsa_plot_x_to_px(const selsa_plot_layout *L, double x) {
    if (!L || !usable(x)) return NAN;
    return L->px0 + (x - L->x_lo) / (L->x_hi - L->x_lo) * (double)(L->px1 - L->px0);
}

double selsa_plot_y_to_px(const selsa_plot_layout *L, double y) {
    if (!L) return NAN;
    double v = y_axis_value(y, L->log_y);
    if (isnan(v)) return NAN;
    return L->py1 - (v - L->y_lo) / (L->y_hi - L->y_lo) * (double)(L->py1 - L->py0);
}

/* Rounded pixel of a mapped coordinate (mapped data always lies inside the plot area; the
 * clamp only guards the int conversion). */
static int px_round(double v) {
    if (!(v > -1e6)) v = -1e6;
    if (!(v < 1e6)) v = 1e6;
    return (int)lround(v);
}

static selsa_status check_args(const char *fn, const selsa_plot_series *s, int n_series,
                               const selsa_plot_opts *o) {
    if (!o) return selsa_error(SELSA_ERR_INVALID_ARG, "%s: NULL options", fn);
    if (n_series < 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: n_series = %d must be >= 0", fn, n_series);
    if (n_series > 0 && !s)
        return selsa_error(SELSA_ERR_INVALID_ARG, "%s: NULL series array with n_series = %d", fn,
                           n_series);
    if (o->width < PLOT_MIN_SIZE || o->width > PLOT_MAX_SIZE || o->height < PLOT_MIN_SIZE ||
        o->height > PLOT_MAX_SIZE)
        return selsa_error(SELSA_ERR_INVALID_ARG,
                           "%s: image size %d x %d (width x height) outside [%d, %d]", fn,
                           o->width, o->height, PLOT_MIN_SIZE, PLOT_MAX_SIZE);
    for (int i = 0; i < n_series; i++) {
        if (s[i].n < 0)
            return selsa_error(SELSA_ERR_INVALID_ARG, "%s: series %d has n = %lld < 0", fn, i,
                               (long long)s[i].n);
        if (s[i].n > 0 && (!s[i].x || !s[i].y))
            return selsa_error(SELSA_ERR_INVALID_ARG, "%s: series %d has n = %lld but NULL %s", fn,
                               i, (long long)s[i].n, !s[i].x ? "x" : "y");
    }
    return SELSA_OK;
}

/* ---- ranges and ticks ---- */

/* Pad a data range: 4 % of the span each side; a (near-)constant range gets ±5 % of its
 * magnitude (±1 at 0), or ±0.05 decades on a log axis; no data gives [dlo, dhi]. */
static void pad_range(double *lo, double *hi, bool any, bool log_space, double dlo, double dhi) {
    if (!any) {
        *lo = dlo, *hi = dhi;
        return;
    }
    double a = *lo, b = *hi, m = fmax(fabs(a), fabs(b));
    if (b - a <= m * 1e-9) { /* equal to ~9 digits: labels could not tell ticks apart */
        double c = 0.5 * (a + b), h = log_space ? 0.05 : fabs(c) * 0.05;
        if (!(h > 1e-290)) h = 1.0;
        *lo = c - h, *hi = c + h;
        return;
    }
    double p = 0.04 * (b - a);
    *lo = a - p, *hi = b + p;
}

/* A tick step m·10^e with m in {1, 2, 5}. */
typedef struct nstep {
    int m, e;
} nstep;

static double pow10i(int e) { return pow(10.0, (double)e); }

/* v·10^e, computed so that decimal values (0.3, 0.05) are the nearest doubles (dividing by
 * an exact power of ten) while 10^-e is finite. */
static double scale10(double v, int e) {
    if (e >= 0) return v * pow10i(e);
    if (e >= -300) return v / pow10i(-e);
    return v * pow10i(e);
}

/* k·m·10^e without -0. */
static double step_mul(double k, nstep st) {
    double v = scale10(k * st.m, st.e);
    return v == 0 ? 0.0 : v;
}

static nstep nice_step(double raw) {
    nstep st = {1, 0};
    if (!(raw > 0) || !isfinite(raw)) return st;
    st.e = (int)floor(log10(raw));
    double norm = pow(10.0, log10(raw) - st.e); /* in [1, 10) */
    if (norm < 1.5) st.m = 1;
    else if (norm < 3.0) st.m = 2;
    else if (norm < 7.0) st.m = 5;
    else st.m = 1, st.e++;
    return st;
}

static nstep next_step(nstep st) {
    if (st.m == 1) st.m = 2;
    else if (st.m == 2) st.m = 5;
    else st.m = 1, st.e++;
    return st;
}

/* Multiples of the step inside [lo, hi]; -1 when there would be more than max. */
static int linear_ticks(double lo, double hi, nstep st, double *out, int max) {
    double step = step_mul(1.0, st);
    if (!(step > 0) || !isfinite(step)) return 0;
    double k0 = ceil(lo / step - 1e-9), k1 = floor(hi / step + 1e-9);
    if (!(k1 - k0 < max)) return -1;
    int n = 0;
    for (double k = k0; k <= k1 && n < max; k++) out[n++] = step_mul(k, st);
    return n;
}

/* "1.5e+06" -> "1.5e6", "2e-05" -> "2e-5". */
static void compact_exp(char *s) {
    char *e = strchr(s, 'e');
    if (!e) return;
    char *src = e + 1, *dst = e + 1;
    if (*src == '+') src++;
    else if (*src == '-') *dst++ = *src++;
    while (*src == '0' && src[1]) src++;
    memmove(dst, src, strlen(src) + 1);
}

/* Labels for linear ticks: fixed decimals from the step, or scientific notation for large /
 * tiny values; one style for the whole axis. */
static void linear_labels(const double *t, int n, nstep st, char (*lab)[LABEL_LEN]) {
    double amax = 0;
    for (int i = 0; i < n; i++) amax = fmax(amax, fabs(t[i]));
    int dec = st.e < 0 ? -st.e : 0;
    bool sci = amax >= 1e6 || dec > 4;
    int prec = 0;
    if (sci && amax > 0) prec = iclamp((int)floor(log10(amax)) - st.e, 0, 6);
    for (int i = 0; i < n; i++) {
        if (t[i] == 0) snprintf(lab[i], LABEL_LEN, "0");
        else if (sci) snprintf(lab[i], LABEL_LEN, "%.*e", prec, t[i]);
        else snprintf(lab[i], LABEL_LEN, "%.*f", dec, t[i]);
        compact_exp(lab[i]);
    }
}

/* Labels for 1/2/5·10^k ticks on a log axis. */
static void log_labels(const double *t, int n, char (*lab)[LABEL_LEN]) {
    for (int i = 0; i < n; i++) {
        snprintf(lab[i], LABEL_LEN, "%.4g", t[i]);
        compact_exp(lab[i]);
    }
}

static int max_label_width(char (*lab)[LABEL_LEN], int n, int sc) {
    int w = 0;
    for (int i = 0; i < n; i++) w = imax(w, selsa_render_text_width(lab[i], sc));
    return w;
}

/* Linear axis ticks over [lo, hi] drawn on `len_px` pixels: start from ~target ticks and take
 * the next nicer step until neighbouring labels are at least `gap_fn` pixels apart (label
 * extent along the axis + spacing; horizontal axis: widest label, vertical: text height). */
static int axis_linear(double lo, double hi, int len_px, int target, bool horizontal, int sc,
                       double *ticks, char (*lab)[LABEL_LEN]) {
    double span = hi - lo;
    nstep st = nice_step(span / target);
    int n = 0;
    for (int it = 0; it < 40; it++, st = next_step(st)) {
        n = linear_ticks(lo, hi, st, ticks, SELSA_PLOT_MAX_TICKS);
        if (n < 0) continue;
        linear_labels(ticks, n, st, lab);
        double gap_px = step_mul(1.0, st) / span * len_px;
        int need = horizontal ? max_label_width(lab, n, sc) + 8 * sc
                              : selsa_render_text_height(sc) + 6;
        if (n <= 1 || gap_px >= need) return n;
    }
    return n < 0 ? 0 : n;
}

/* Ticks m·10^k (m from the 0-terminated set) inside [a, b] (log10 units); *ok is false when
 * two neighbours are closer than `need` pixels or there would be too many. */
static int mantissa_ticks(double a, double b, const int *set, double ppu, int need, double *out,
                          bool *ok) {
    int n = 0;
    double prev = -INFINITY;
    *ok = true;
    for (int k = (int)floor(a); k <= (int)ceil(b); k++)
        for (int j = 0; set[j]; j++) {
            double lv = k + log10((double)set[j]);
            if (lv < a - 1e-9 || lv > b + 1e-9) continue;
            if (n == SELSA_PLOT_MAX_TICKS || (lv - prev) * ppu < need) {
                *ok = false;
                return n;
            }
            prev = lv;
            out[n++] = scale10(set[j], k);
        }
    return n;
}

/* Log axis ticks over [a, b] (log10 units) on len_px pixels: decades (every 1, 2, 5, ...
 * decades) for spans over 3 decades; else, of the mantissa sets {1}, {1,2,5}, {1..9} giving
 * 2+ well-spaced ticks, the one with most ticks up to 2·target + 2; else linear ticks on
 * the values. */
static int axis_log(double a, double b, int len_px, int target, int sc, double *ticks,
                    char (*lab)[LABEL_LEN]) {
    double span = b - a, ppu = len_px / span;
    int need = selsa_render_text_height(sc) + 6;
    if (span > 3.0) {
        nstep st = nice_step(span / target);
        if (st.e < 0) st.m = 1, st.e = 0;
        for (int it = 0; it < 40; it++, st = next_step(st)) {
            double d = step_mul(1.0, st); /* decades per tick (an integer) */
            int n = linear_ticks(a, b, st, ticks, SELSA_PLOT_MAX_TICKS);
            if (n < 0) continue;
            if (n <= 1 || d * ppu >= need) {
                for (int i = 0; i < n; i++) {
                    int k = (int)lround(ticks[i]);
                    ticks[i] = scale10(1.0, k);
                }
                log_labels(ticks, n, lab);
                return n;
            }
        }
    }
    static const int sets[3][10] = {{1, 0}, {1, 2, 5, 0}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 0}};
    int best_set = -1, best_n = 0, cap = 2 * target + 2;
    for (int si = 0; si < 3; si++) {
        bool ok;
        int n = mantissa_ticks(a, b, sets[si], ppu, need, ticks, &ok);
        if (!ok || n < 2) continue;
        /* most ticks up to the cap, else the fewest above it */
        bool better = best_set < 0 || (n <= cap ? (best_n > cap || n > best_n) : n < best_n);
        if (better) best_n = n, best_set = si;
    }
    if (best_set >= 0) {
        bool ok;
        int n = mantissa_ticks(a, b, sets[best_set], ppu, need, ticks, &ok);
        log_labels(ticks, n, lab);
        return n;
    }
    /* Narrow range: linear ticks on the values, placed on the log scale. */
    double vlo = pow(10.0, a), vhi = pow(10.0, b);
    nstep st = nice_step((vhi - vlo) / target);
    for (int it = 0; it < 40; it++, st = next_step(st)) {
        int n = linear_ticks(vlo, vhi, st, ticks, SELSA_PLOT_MAX_TICKS);
        if (n < 0) continue;
        int m = 0;
        double min_gap = INFINITY;
        for (int i = 0; i < n; i++) {
            if (!(ticks[i] > 0)) continue;
            if (m > 0) min_gap = fmin(min_gap, (log10(ticks[i]) - log10(ticks[m - 1])) * ppu);
            ticks[m++] = ticks[i];
        }
        if (m <= 1 || min_gap >= need) {
            linear_labels(ticks, m, st, lab);
            return m;
        }
    }
    return 0;
}

/* ---- layout ---- */

typedef struct plot_text {
    char xl[SELSA_PLOT_MAX_TICKS][LABEL_LEN];
    char yl[SELSA_PLOT_MAX_TICKS][LABEL_LEN];
} plot_text;

static bool has_text(const char *t) { return t && *t; }

/* The title is drawn at twice the text scale when it fits the image width, else at 1×. */
static int title_scale(const char *title, int W, int sc) {
    return selsa_render_text_width(title, 2 * sc) - 2 * sc <= W - 8 ? 2 * sc : sc;
}

static void legend_name(const selsa_plot_series *s, int i, char buf[NAME_MAX_CHARS + 1]) {
    if (s[i].name) snprintf(buf, NAME_MAX_CHARS + 1, "%s", s[i].name);
    else snprintf(buf, NAME_MAX_CHARS + 1, "series %d", i + 1);
}

/* Pixels of a series path: Bresenham segments between consecutive drawable points, a 3×3
 * square for an isolated drawable point. The visitor applies the brush. */
typedef void (*pix_fn)(void *user, int x, int y);

static bool point_px(const selsa_plot_layout *L, const selsa_plot_series *s, int64_t i, int *x,
                     int *y) {
    double fx = selsa_plot_x_to_px(L, s->x[i]), fy = selsa_plot_y_to_px(L, s->y[i]);
    if (isnan(fx) || isnan(fy)) return false;
    *x = px_round(fx), *y = px_round(fy);
    return true;
}

static void walk_line(int x0, int y0, int x1, int y1, pix_fn fn, void *u) {
    int dx = abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
    int dy = -abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    for (;;) {
        fn(u, x0, y0);
        if (x0 == x1 && y0 == y1) break;
        int e2 = 2 * err;
        if (e2 >= dy) err += dy, x0 += sx;
        if (e2 <= dx) err += dx, y0 += sy;
    }
}

static void walk_series(const selsa_plot_layout *L, const selsa_plot_series *s, pix_fn fn,
                        void *u) {
    int px = 0, py = 0, cx, cy, nx, ny;
    bool prev = false;
    for (int64_t i = 0; i < s->n; i++) {
        if (!point_px(L, s, i, &cx, &cy)) {
            prev = false;
            continue;
        }
        if (prev) walk_line(px, py, cx, cy, fn, u);
        else if (i + 1 >= s->n || !point_px(L, s, i + 1, &nx, &ny))
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) fn(u, cx + dx, cy + dy);
        px = cx, py = cy, prev = true;
    }
}

typedef struct corner_count {
    int rect[4][4]; /* x0, y0, x1, y1 of each candidate legend box */
    int64_t count[4];
    int lw;
} corner_count;

static void count_pixel(void *user, int x, int y) {
    corner_count *c = user;
    for (int k = 0; k < 4; k++) {
        const int *r = c->rect[k];
        if (x + c->lw - 1 >= r[0] && x <= r[2] && y + c->lw - 1 >= r[1] && y <= r[3]) c->count[k]++;
    }
}

static void legend_size(const selsa_plot_series *s, int n_series, int sc, int *w, int *h,
                        int *pad, int *row_h, int *sample) {
    char name[NAME_MAX_CHARS + 1];
    int wmax = 0;
    for (int i = 0; i < n_series; i++) {
        legend_name(s, i, name);
        wmax = imax(wmax, selsa_render_text_width(name, sc));
    }
    *pad = 4 + 2 * sc;
    *row_h = selsa_render_text_height(sc) + 2;
    *sample = 20 * sc;
    *w = *pad + *sample + 6 * sc + wmax + *pad - sc; /* last glyph cell has 1 column spacing */
    *h = *pad + n_series * *row_h - 2 + *pad - 2 * sc;
}

static selsa_status layout_impl(const selsa_plot_series *s, int n_series, const selsa_plot_opts *o,
                                selsa_plot_layout *L, plot_text *txt) {
    memset(L, 0, sizeof(*L));
    const int W = o->width, H = o->height;
    const int sc = imax(1, imin(W, H) / 500);
    const int th = selsa_render_text_height(sc);
    L->text_scale = sc;
    L->line_width = imin(W, H) >= 300 ? 2 : 1;
    L->log_y = o->log_y;

    /* data ranges on the axis scales */
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    bool any = false;
    for (int i = 0; i < n_series; i++)
        for (int64_t j = 0; j < s[i].n; j++) {
            double x = s[i].x[j], y = y_axis_value(s[i].y[j], o->log_y);
            if (!usable(x) || isnan(y)) continue;
            any = true;
            xlo = fmin(xlo, x), xhi = fmax(xhi, x), ylo = fmin(ylo, y), yhi = fmax(yhi, y);
        }
    pad_range(&xlo, &xhi, any, false, 0.0, 1.0);
    pad_range(&ylo, &yhi, any, o->log_y, 0.0, 1.0); /* log default: 10^0..10^1 */
    L->x_lo = xlo, L->x_hi = xhi, L->y_lo = ylo, L->y_hi = yhi;

    /* vertical margins; the axes box lies one pixel outside the plot area */
    int top = 10 + (has_text(o->title)
                        ? selsa_render_text_height(title_scale(o->title, W, sc)) + 4
                        : 0);
    int bottom = TICK_LEN + 3 + th + (has_text(o->xlabel) ? 3 + th : 0) + 8;
    L->py0 = top + 1;
    L->py1 = H - 1 - bottom - 1;
    int plot_h = L->py1 - L->py0 + 1;

    /* y ticks (depend on the plot height only), then the left margin from their labels */
    int ty = iclamp(plot_h / 50, 2, 10);
    L->n_yticks = o->log_y ? axis_log(ylo, yhi, plot_h, ty, sc, L->yticks, txt->yl)
                           : axis_linear(ylo, yhi, plot_h, ty, false, sc, L->yticks, txt->yl);
    int left = 8 + (has_text(o->ylabel) ? th + 4 : 0) + max_label_width(txt->yl, L->n_yticks, sc) +
               3 + TICK_LEN;
    L->px0 = left + 1;

    /* x ticks; the right margin must hold half of the last label */
    int right = 16;
    for (int it = 0; it < 3; it++) {
        L->px1 = W - 1 - right - 1;
        int plot_w = L->px1 - L->px0 + 1;
        int tx = iclamp(plot_w / 90, 2, 10);
        L->n_xticks = axis_linear(xlo, xhi, plot_w, tx, true, sc, L->xticks, txt->xl);
        int need = 16;
        if (L->n_xticks > 0) {
            int last = L->n_xticks - 1;
            int c = px_round(selsa_plot_x_to_px(L, L->xticks[last]));
            int half = selsa_render_text_width(txt->xl[last], sc) / 2;
            need = imax(16, (c + half + 6) - (L->px1 + 1) + right);
        }
        if (need <= right) break;
        right = need;
    }
    if (L->px1 - L->px0 < 20 || L->py1 - L->py0 < 20)
        return selsa_error(SELSA_ERR_INTERNAL, "plot: no room for the plot area in %d x %d", W, H);

    /* legend: the candidate corner crossed by the fewest series pixels (ties: upper right,
     * upper left, lower right, lower left) */
    L->has_legend = false;
    if (n_series > 0) {
        int lw, lh, pad, row_h, sample;
        legend_size(s, n_series, sc, &lw, &lh, &pad, &row_h, &sample);
        if (lw <= L->px1 - L->px0 + 1 - 2 * LEGEND_INSET &&
            lh <= L->py1 - L->py0 + 1 - 2 * LEGEND_INSET) {
            corner_count cc;
            memset(&cc, 0, sizeof(cc));
            cc.lw = L->line_width;
            int xr = L->px1 - LEGEND_INSET - lw + 1, xl = L->px0 + LEGEND_INSET;
            int yt = L->py0 + LEGEND_INSET, yb = L->py1 - LEGEND_INSET - lh + 1;
            const int org[4][2] = {{xr, yt}, {xl, yt}, {xr, yb}, {xl, yb}};
            for (int k = 0; k < 4; k++) {
                cc.rect[k][0] = org[k][0], cc.rect[k][1] = org[k][1];
                cc.rect[k][2] = org[k][0] + lw - 1, cc.rect[k][3] = org[k][1] + lh - 1;
            }
            for (int i = 0; i < n_series; i++) walk_series(L, &s[i], count_pixel, &cc);
            int best = 0;
            for (int k = 1; k < 4; k++)
                if (cc.count[k] < cc.count[best]) best = k;
            L->has_legend = true;
            L->lx0 = cc.rect[best][0], L->ly0 = cc.rect[best][1];
            L->lx1 = cc.rect[best][2], L->ly1 = cc.rect[best][3];
        }
    }
    return SELSA_OK;
}

selsa_status selsa_plot_layout_compute(const selsa_plot_series *s, int n_series,
                                       const selsa_plot_opts *o, selsa_plot_layout *L) {
    SELSA_TRY(check_args("selsa_plot_layout_compute", s, n_series, o));
    if (!L) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_plot_layout_compute: NULL layout");
    plot_text txt;
    return layout_impl(s, n_series, o, L, &txt);
}

/* ---- drawing ---- */

typedef struct draw_ctx {
    selsa_image *img;
    const selsa_plot_layout *L;
    uint8_t c[3];
} draw_ctx;

/* line_width × line_width brush, clipped to the plot area */
static void draw_pixel(void *user, int x, int y) {
    draw_ctx *d = user;
    const selsa_plot_layout *L = d->L;
    int w = L->line_width;
    int x0 = imax(x, L->px0), x1 = imin(x + w - 1, L->px1);
    int y0 = imax(y, L->py0), y1 = imin(y + w - 1, L->py1);
    for (int yy = y0; yy <= y1; yy++)
        for (int xx = x0; xx <= x1; xx++) {
            uint8_t *p = d->img->data + ((size_t)yy * (size_t)d->img->w + (size_t)xx) * 3;
            p[0] = d->c[0], p[1] = d->c[1], p[2] = d->c[2];
        }
}

/* Text rotated 90° counter-clockwise (reads bottom to top); (x, y_bottom) is the left column
 * and bottom row of the rotated cell run. */
static void text_vertical(selsa_image *img, int x, int y_bottom, const char *t,
                          const uint8_t c[3], int sc) {
    int cy = y_bottom;
    for (; *t; t++, cy -= SELSA_FONT_CELL_W * sc) {
        const uint8_t *g = selsa_font_glyph(*t);
        for (int r = 0; r < SELSA_FONT_H; r++)
            for (int k = 0; k < SELSA_FONT_W; k++)
                if (g[r] & (0x10 >> k)) {
                    int px = x + (r + 1) * sc, py = cy - (k + 1) * sc + 1;
                    selsa_render_fill(img, px, py, px + sc - 1, py + sc - 1, c);
                }
    }
}

selsa_status selsa_plot_render(const selsa_plot_series *s, int n_series, const selsa_plot_opts *o,
                               selsa_image *out) {
    SELSA_TRY(check_args("selsa_plot_render", s, n_series, o));
    if (!out) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_plot_render: NULL output image");
    selsa_plot_layout L;
    plot_text txt;
    SELSA_TRY(layout_impl(s, n_series, o, &L, &txt));
    SELSA_TRY(selsa_image_alloc(out, o->height, o->width));
    selsa_image *img = out;
    const int sc = L.text_scale, th = selsa_render_text_height(sc);
    selsa_render_fill(img, 0, 0, img->w - 1, img->h - 1, k_white);

    /* grid */
    int xt_px[SELSA_PLOT_MAX_TICKS], yt_px[SELSA_PLOT_MAX_TICKS];
    for (int i = 0; i < L.n_xticks; i++) {
        xt_px[i] = iclamp(px_round(selsa_plot_x_to_px(&L, L.xticks[i])), L.px0, L.px1);
        selsa_render_fill(img, xt_px[i], L.py0, xt_px[i], L.py1, k_grid);
    }
    for (int i = 0; i < L.n_yticks; i++) {
        yt_px[i] = iclamp(px_round(selsa_plot_y_to_px(&L, L.yticks[i])), L.py0, L.py1);
        selsa_render_fill(img, L.px0, yt_px[i], L.px1, yt_px[i], k_grid);
    }

    /* series, first one on the bottom */
    draw_ctx d = {img, &L, {0, 0, 0}};
    for (int i = 0; i < n_series; i++) {
        selsa_plot_series_color(i, d.c);
        walk_series(&L, &s[i], draw_pixel, &d);
    }

    /* axes box, ticks, tick labels */
    selsa_render_rect(img, L.px0 - 1, L.py0 - 1, L.px1 + 1, L.py1 + 1, k_axis, 1);
    for (int i = 0; i < L.n_xticks; i++) {
        int c = xt_px[i];
        selsa_render_fill(img, c, L.py1 + 2, c, L.py1 + 1 + TICK_LEN, k_axis);
        int w = selsa_render_text_width(txt.xl[i], sc) - sc; /* drop the trailing spacing column */
        selsa_render_text(img, c - w / 2, L.py1 + 2 + TICK_LEN + 1, txt.xl[i], k_text, sc);
    }
    for (int i = 0; i < L.n_yticks; i++) {
        int r = yt_px[i];
        selsa_render_fill(img, L.px0 - 1 - TICK_LEN, r, L.px0 - 2, r, k_axis);
        int w = selsa_render_text_width(txt.yl[i], sc) - sc;
        selsa_render_text(img, L.px0 - 2 - TICK_LEN - 3 - w, r - th / 2, txt.yl[i], k_text, sc);
    }

    /* legend */
    if (L.has_legend) {
        int lw, lh, pad, row_h, sample;
        legend_size(s, n_series, sc, &lw, &lh, &pad, &row_h, &sample);
        selsa_render_fill(img, L.lx0, L.ly0, L.lx1, L.ly1, k_white);
        selsa_render_rect(img, L.lx0, L.ly0, L.lx1, L.ly1, k_legend_border, 1);
        char name[NAME_MAX_CHARS + 1];
        for (int i = 0; i < n_series; i++) {
            uint8_t c[3];
            selsa_plot_series_color(i, c);
            int ry = L.ly0 + pad - sc + i * row_h; /* text cell top (its first row is blank) */
            int yc = ry + sc + (SELSA_FONT_H * sc) / 2;
            int x = L.lx0 + pad;
            selsa_render_fill(img, x, yc - L.line_width / 2, x + sample - 1,
                              yc - L.line_width / 2 + L.line_width - 1, c);
            legend_name(s, i, name);
            selsa_render_text(img, x + sample + 6 * sc, ry, name, k_text, sc);
        }
    }

    /* title, axis labels */
    int cx = (L.px0 + L.px1) / 2, cy = (L.py0 + L.py1) / 2;
    if (has_text(o->title)) {
        int ts = title_scale(o->title, img->w, sc);
        int w = selsa_render_text_width(o->title, ts) - ts;
        int x = imin(cx - w / 2, img->w - 4 - w); /* centred over the plot area if it fits */
        selsa_render_text(img, imax(4, x), 6, o->title, k_text, ts);
    }
    if (has_text(o->xlabel)) {
        int w = selsa_render_text_width(o->xlabel, sc) - sc;
        selsa_render_text(img, imax(4, cx - w / 2), L.py1 + 2 + TICK_LEN + 1 + th + 3, o->xlabel,
                          k_text, sc);
    }
    if (has_text(o->ylabel)) {
        int h = selsa_render_text_width(o->ylabel, sc) - sc;
        text_vertical(img, 8 - sc, imin(img->h - 5, cy + h / 2), o->ylabel, k_text, sc);
    }
    return SELSA_OK;
}

selsa_status selsa_plot_write_png(const char *path, const selsa_plot_series *s, int n_series,
                                  const selsa_plot_opts *o) {
    if (!path) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_plot_write_png: NULL path");
    selsa_image im = {0};
    selsa_status st = selsa_plot_render(s, n_series, o, &im);
    if (st != SELSA_OK) {
        selsa_image_free(&im);
        return st;
    }
    char *tmp = NULL;
    st = selsa_file_tmp_create(path, &tmp, NULL);
    if (st == SELSA_OK) {
        st = selsa_image_write_png(tmp, &im);
        if (st == SELSA_OK) st = selsa_file_tmp_commit(tmp, path);
        else unlink(tmp);
    }
    free(tmp);
    selsa_image_free(&im);
    if (st != SELSA_OK) return selsa_error_context(st, "writing plot '%s': ", path);
    return SELSA_OK;
}
