/* Line-chart renderer (plot.h): series pixels at the positions given by the exposed layout
 * mapping (linear and log10 y axes), line breaks at NaN/Inf and skipped non-positive log
 * values, empty / all-NaN / constant series, nice ticks, legend placement, colour cycling,
 * argument errors, determinism, and the PNG round trip (write, decode, compare pixel for
 * pixel). No reference fixtures: expected positions come from the layout's data→pixel map. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "selsa/image.h"
#include "selsa/plot.h"

static bool is_color(const selsa_image *im, int x, int y, const uint8_t c[3]) {
    if (x < 0 || y < 0 || x >= im->w || y >= im->h) return false;
    const uint8_t *p = im->data + ((size_t)y * im->w + x) * 3;
    return p[0] == c[0] && p[1] == c[1] && p[2] == c[2];
}

static bool in_legend(const selsa_plot_layout *L, int x, int y) {
    return L->has_legend && x >= L->lx0 && x <= L->lx1 && y >= L->ly0 && y <= L->ly1;
}

/* A pixel of colour c within `r` pixels (Chebyshev) of (x, y), outside the legend. */
static bool color_near(const selsa_image *im, const selsa_plot_layout *L, double fx, double fy,
                       int r, const uint8_t c[3]) {
    int x = (int)lround(fx), y = (int)lround(fy);
    for (int dy = -r; dy <= r; dy++)
        for (int dx = -r; dx <= r; dx++)
            if (!in_legend(L, x + dx, y + dy) && is_color(im, x + dx, y + dy, c)) return true;
    return false;
}

/* Pixels of colour c outside the legend with column in [x0, x1]. */
static int count_color_cols(const selsa_image *im, const selsa_plot_layout *L, int x0, int x1,
                            const uint8_t c[3]) {
    int n = 0;
    for (int y = 0; y < im->h; y++)
        for (int x = x0 < 0 ? 0 : x0; x <= x1 && x < im->w; x++)
            if (!in_legend(L, x, y) && is_color(im, x, y, c)) n++;
    return n;
}

/* Ticks are consecutive multiples of a step 1, 2 or 5 · 10^k. */
static bool nice_ticks(const double *t, int n) {
    if (n < 2) return false;
    double step = t[1] - t[0];
    double e = floor(log10(step)), m = step / pow(10.0, e);
    if (!(fabs(m - 1) < 1e-6 || fabs(m - 2) < 1e-6 || fabs(m - 5) < 1e-6 || fabs(m - 10) < 1e-6))
        return false;
    for (int i = 0; i < n; i++) {
        double k = t[i] / step;
        if (fabs(k - round(k)) > 1e-6) return false;
        if (i > 0 && fabs((t[i] - t[i - 1]) - step) > 1e-9 * fabs(step) * (1 + fabs(k))) return false;
    }
    return true;
}

static void test_linear_known(void) {
    enum { N = 11 };
    double x[N], y[N];
    for (int i = 0; i < N; i++) x[i] = i, y[i] = i;
    selsa_plot_series s = {"y = x", x, y, N};
    selsa_plot_opts o;
    selsa_plot_opts_default(&o);
    TH_CHECK(o.width == 800 && o.height == 500 && !o.log_y, "defaults %dx%d", o.width, o.height);
    o.title = "identity";
    o.xlabel = "x";
    o.ylabel = "y";
    selsa_plot_layout L;
    TH_OK(selsa_plot_layout_compute(&s, 1, &o, &L));
    TH_CHECK(L.px0 > 20 && L.px1 < 790 && L.py0 > 10 && L.py1 < 490 && L.px1 - L.px0 > 500 &&
                 L.py1 - L.py0 > 300,
             "plot area [%d,%d]x[%d,%d]", L.px0, L.px1, L.py0, L.py1);
    /* 4 % padding each side */
    TH_CHECK(fabs(L.x_lo + 0.4) < 1e-12 && fabs(L.x_hi - 10.4) < 1e-12, "x range %g..%g", L.x_lo,
             L.x_hi);
    TH_CHECK(fabs(L.y_lo + 0.4) < 1e-12 && fabs(L.y_hi - 10.4) < 1e-12, "y range %g..%g", L.y_lo,
             L.y_hi);
    TH_CHECK(nice_ticks(L.xticks, L.n_xticks) && L.xticks[0] == 0 &&
                 L.xticks[L.n_xticks - 1] == 10,
             "x ticks n=%d %g..%g", L.n_xticks, L.xticks[0], L.xticks[L.n_xticks - 1]);
    TH_CHECK(nice_ticks(L.yticks, L.n_yticks) && L.yticks[0] == 0 &&
                 L.yticks[L.n_yticks - 1] == 10,
             "y ticks n=%d", L.n_yticks);
    TH_CHECK(fabs(selsa_plot_x_to_px(&L, -0.4) - L.px0) < 1e-9 &&
                 fabs(selsa_plot_x_to_px(&L, 10.4) - L.px1) < 1e-9 &&
                 fabs(selsa_plot_y_to_px(&L, -0.4) - L.py1) < 1e-9 &&
                 fabs(selsa_plot_y_to_px(&L, 10.4) - L.py0) < 1e-9,
             "mapping endpoints");
    TH_CHECK(isnan(selsa_plot_x_to_px(&L, NAN)) && isnan(selsa_plot_y_to_px(&L, INFINITY)),
             "non-finite map to NaN");
    /* y = x crosses the upper-right and lower-left corners: the legend goes upper left */
    TH_CHECK(L.has_legend && L.lx0 < (L.px0 + L.px1) / 2 && L.ly1 < (L.py0 + L.py1) / 2,
             "legend at [%d,%d]x[%d,%d]", L.lx0, L.lx1, L.ly0, L.ly1);

    selsa_image im = {0};
    TH_OK(selsa_plot_render(&s, 1, &o, &im));
    TH_CHECK(im.w == 800 && im.h == 500, "size %dx%d", im.w, im.h);
    uint8_t c[3];
    selsa_plot_series_color(0, c);
    int miss = 0;
    for (double t = 0; t <= 10.0001; t += 0.25)
        if (!color_near(&im, &L, selsa_plot_x_to_px(&L, t), selsa_plot_y_to_px(&L, t), 1, c)) miss++;
    TH_CHECK(miss == 0, "%d of 41 points on y = x without a series pixel within 1 px", miss);
    /* every series pixel outside the legend lies on the line (brush: 2 px right/down) */
    int far = 0, total = 0;
    double ax = selsa_plot_x_to_px(&L, 0), ay = selsa_plot_y_to_px(&L, 0);
    double bx = selsa_plot_x_to_px(&L, 10), by = selsa_plot_y_to_px(&L, 10);
    double len = hypot(bx - ax, by - ay);
    for (int yy = 0; yy < im.h; yy++)
        for (int xx = 0; xx < im.w; xx++) {
            if (in_legend(&L, xx, yy) || !is_color(&im, xx, yy, c)) continue;
            total++;
            double d = fabs((bx - ax) * (ay - yy) - (ax - xx) * (by - ay)) / len;
            if (d > 2.5) far++;
        }
    TH_CHECK(total > 400 && far == 0, "%d series pixels, %d farther than 2.5 px from the line",
             total, far);
    /* the legend shows the series colour; background white; axes box black */
    int in_leg = 0;
    for (int yy = L.ly0; yy <= L.ly1; yy++)
        for (int xx = L.lx0; xx <= L.lx1; xx++) in_leg += is_color(&im, xx, yy, c);
    TH_CHECK(in_leg >= 20, "legend sample has %d series pixels", in_leg);
    const uint8_t white[3] = {255, 255, 255}, black[3] = {0, 0, 0};
    TH_CHECK(is_color(&im, (int)lround(selsa_plot_x_to_px(&L, 9.1)),
                      (int)lround(selsa_plot_y_to_px(&L, 0.9)), white),
             "background below the line is white");
    TH_CHECK(is_color(&im, L.px0 - 1, (L.py0 + L.py1) / 2, black) &&
                 is_color(&im, L.px1 + 1, (L.py0 + L.py1) / 2, black) &&
                 is_color(&im, (L.px0 + L.px1) / 2, L.py0 - 1, black) &&
                 is_color(&im, (L.px0 + L.px1) / 2, L.py1 + 1, black),
             "axes box");
    /* text exists above the box (title) and left of it (tick labels) */
    int dark_title = 0, dark_left = 0;
    for (int yy = 0; yy < L.py0 - 2; yy++)
        for (int xx = 0; xx < im.w; xx++) dark_title += im.data[((size_t)yy * im.w + xx) * 3] < 100;
    for (int yy = L.py0; yy <= L.py1; yy++)
        for (int xx = 0; xx < L.px0 - 6; xx++) dark_left += im.data[((size_t)yy * im.w + xx) * 3] < 100;
    TH_CHECK(dark_title > 50 && dark_left > 50, "title %d / y labels %d dark pixels", dark_title,
             dark_left);

    /* deterministic, and reuses the buffer */
    selsa_image im2 = {0};
    TH_OK(selsa_plot_render(&s, 1, &o, &im2));
    TH_CHECK(im2.w == im.w && im2.h == im.h &&
                 memcmp(im.data, im2.data, (size_t)im.w * im.h * 3) == 0,
             "two renders differ");
    uint8_t *before = im2.data;
    TH_OK(selsa_plot_render(&s, 1, &o, &im2));
    TH_CHECK(im2.data == before, "output buffer reused");
    selsa_image_free(&im);
    selsa_image_free(&im2);
}

static void test_log_axis(void) {
    enum { N = 9 };
    double x[N], y[N];
    for (int i = 0; i < N; i++) x[i] = 0.5 * i, y[i] = pow(10.0, -0.5 * i); /* 1 .. 1e-4 */
    double x2[5] = {0, 1, 2, 3, 4}, y2[5] = {2, 0, -1, 0.02, 0.002}; /* y <= 0 skipped */
    selsa_plot_series s[2] = {{"decay", x, y, N}, {"with zeros", x2, y2, 5}};
    selsa_plot_opts o;
    selsa_plot_opts_default(&o);
    o.log_y = true;
    selsa_plot_layout L;
    TH_OK(selsa_plot_layout_compute(s, 2, &o, &L));
    double span = log10(2.0) + 4;
    TH_CHECK(L.log_y && fabs(L.y_lo - (-4 - 0.04 * span)) < 1e-12 &&
                 fabs(L.y_hi - (log10(2.0) + 0.04 * span)) < 1e-12,
             "log y range %g..%g", L.y_lo, L.y_hi);
    bool decades = L.n_yticks >= 3;
    for (int i = 0; i < L.n_yticks; i++) {
        double k = log10(L.yticks[i]);
        decades = decades && fabs(k - round(k)) < 1e-12;
    }
    TH_CHECK(decades && fabs(L.yticks[0] - 1e-4) < 1e-16 && L.yticks[L.n_yticks - 1] == 1.0,
             "log ticks are decades 1e-4..1 (n=%d)", L.n_yticks);
    TH_CHECK(isnan(selsa_plot_y_to_px(&L, 0.0)) && isnan(selsa_plot_y_to_px(&L, -1.0)),
             "non-positive y not mapped on a log axis");
    /* 10^-x is a straight line on the log axis: check interpolated points */
    selsa_image im = {0};
    TH_OK(selsa_plot_render(s, 2, &o, &im));
    uint8_t c0[3], c1[3];
    selsa_plot_series_color(0, c0);
    selsa_plot_series_color(1, c1);
    int miss = 0;
    for (double t = 0; t <= 4.0001; t += 0.125)
        if (!color_near(&im, &L, selsa_plot_x_to_px(&L, t), selsa_plot_y_to_px(&L, pow(10, -t)), 1,
                        c0))
            miss++;
    TH_CHECK(miss == 0, "%d of 33 points of 10^-x off the drawn line", miss);
    /* series 2: isolated point (0, 2) drawn as a marker; gap over x in (0, 3); line 3..4 */
    TH_CHECK(color_near(&im, &L, selsa_plot_x_to_px(&L, 0), selsa_plot_y_to_px(&L, 2), 1, c1),
             "isolated point drawn");
    TH_CHECK(color_near(&im, &L, selsa_plot_x_to_px(&L, 3.5), selsa_plot_y_to_px(&L, sqrt(0.02 * 0.002)),
                        1, c1),
             "segment 3..4 drawn");
    int gap = count_color_cols(&im, &L, (int)lround(selsa_plot_x_to_px(&L, 0)) + 4,
                               (int)lround(selsa_plot_x_to_px(&L, 3)) - 2, c1);
    TH_CHECK(gap == 0, "%d pixels of series 2 where y <= 0 breaks the line", gap);
    selsa_image_free(&im);

    /* narrow range on a log axis (less than a decade): still >= 2 labelled ticks */
    double xn[3] = {0, 1, 2}, yn[3] = {0.50, 0.52, 0.55};
    selsa_plot_series sn = {"narrow", xn, yn, 3};
    TH_OK(selsa_plot_layout_compute(&sn, 1, &o, &L));
    bool inside = L.n_yticks >= 2;
    for (int i = 0; i < L.n_yticks; i++)
        inside = inside && log10(L.yticks[i]) >= L.y_lo - 1e-9 && log10(L.yticks[i]) <= L.y_hi + 1e-9;
    TH_CHECK(inside, "narrow log range: %d ticks inside", L.n_yticks);
    /* ~1.5 decades: 1/2/5 mantissa ticks */
    double yw[3] = {0.03, 0.2, 0.9};
    sn.y = yw;
    TH_OK(selsa_plot_layout_compute(&sn, 1, &o, &L));
    TH_CHECK(L.n_yticks >= 3 && L.n_yticks <= 10, "1.5-decade log range: %d ticks", L.n_yticks);
    im = (selsa_image){0};
    TH_OK(selsa_plot_render(&sn, 1, &o, &im));
    selsa_image_free(&im);
}

static void test_nan_gaps(void) {
    enum { N = 21 };
    double x[N], y[N];
    for (int i = 0; i < N; i++) x[i] = i, y[i] = 10 + 0.5 * i;
    y[8] = NAN, y[9] = INFINITY, x[11] = NAN, y[12] = -INFINITY; /* point 10 is isolated */
    selsa_plot_series s = {"gappy", x, y, N};
    selsa_plot_opts o;
    selsa_plot_opts_default(&o);
    o.width = 640, o.height = 400;
    selsa_plot_layout L;
    TH_OK(selsa_plot_layout_compute(&s, 1, &o, &L));
    TH_CHECK(fabs(L.x_lo + 0.8) < 1e-12 && fabs(L.x_hi - 20.8) < 1e-12, "x range skips NaN");
    selsa_image im = {0};
    TH_OK(selsa_plot_render(&s, 1, &o, &im));
    uint8_t c[3];
    selsa_plot_series_color(0, c);
    int x7 = (int)lround(selsa_plot_x_to_px(&L, 7)), x10 = (int)lround(selsa_plot_x_to_px(&L, 10));
    int x13 = (int)lround(selsa_plot_x_to_px(&L, 13));
    /* brush: line_width px right of a point; isolated marker: 1 px around */
    int g1 = count_color_cols(&im, &L, x7 + L.line_width, x10 - 2, c);
    int g2 = count_color_cols(&im, &L, x10 + 1 + L.line_width, x13 - 1, c);
    TH_CHECK(g1 == 0 && g2 == 0, "series pixels inside the NaN gaps: %d, %d", g1, g2);
    TH_CHECK(color_near(&im, &L, x10, selsa_plot_y_to_px(&L, 15), 1, c), "isolated point drawn");
    TH_CHECK(color_near(&im, &L, selsa_plot_x_to_px(&L, 3.5), selsa_plot_y_to_px(&L, 11.75), 1, c) &&
                 color_near(&im, &L, selsa_plot_x_to_px(&L, 16.5), selsa_plot_y_to_px(&L, 18.25), 1,
                            c),
             "segments on both sides of the gap drawn");
    selsa_image_free(&im);
}

static int count_color(const selsa_image *im, const selsa_plot_layout *L, const uint8_t c[3],
                       bool outside_legend) {
    int n = 0;
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++)
            if ((!outside_legend || !in_legend(L, x, y)) && is_color(im, x, y, c)) n++;
    return n;
}

static void test_empty_and_degenerate(void) {
    selsa_plot_opts o;
    selsa_plot_opts_default(&o);
    selsa_plot_layout L;
    selsa_image im = {0};
    uint8_t c0[3], c1[3];
    selsa_plot_series_color(0, c0);
    selsa_plot_series_color(1, c1);

    /* no series at all */
    TH_OK(selsa_plot_layout_compute(NULL, 0, &o, &L));
    TH_CHECK(!L.has_legend && L.x_lo == 0 && L.x_hi == 1 && L.y_lo == 0 && L.y_hi == 1 &&
                 L.n_xticks >= 2 && L.n_yticks >= 2,
             "no series: default axes");
    TH_OK(selsa_plot_render(NULL, 0, &o, &im));
    TH_CHECK(im.w == 800 && im.h == 500, "no series: image made");

    /* an empty series and an all-NaN one: legend only */
    double nx[4] = {NAN, 1, INFINITY, 3}, ny[4] = {1, NAN, 2, -INFINITY};
    selsa_plot_series s[2] = {{"empty", NULL, NULL, 0}, {"all nan", nx, ny, 4}};
    for (int lg = 0; lg < 2; lg++) {
        o.log_y = lg;
        TH_OK(selsa_plot_layout_compute(s, 2, &o, &L));
        TH_CHECK(L.has_legend && L.x_lo == 0 && L.x_hi == 1 && L.y_lo == 0 && L.y_hi == 1 &&
                     L.n_yticks >= 2,
                 "empty/NaN series (log %d): default axes, legend", lg);
        TH_OK(selsa_plot_render(s, 2, &o, &im));
        TH_CHECK(count_color(&im, &L, c0, true) == 0 && count_color(&im, &L, c1, true) == 0,
                 "empty/NaN series (log %d): nothing drawn outside the legend", lg);
        TH_CHECK(count_color(&im, &L, c0, false) > 10 && count_color(&im, &L, c1, false) > 10,
                 "empty/NaN series (log %d): both in the legend", lg);
    }
    o.log_y = false;

    /* constant x and y (min == max): padded range, point drawn in the middle */
    double cx[3] = {5, 5, 5}, cy[3] = {0.25, 0.25, 0.25};
    selsa_plot_series sc = {"const", cx, cy, 3};
    TH_OK(selsa_plot_layout_compute(&sc, 1, &o, &L));
    TH_CHECK(L.x_lo < 5 && L.x_hi > 5 && L.y_lo < 0.25 && L.y_hi > 0.25 && L.n_xticks >= 2 &&
                 L.n_yticks >= 2,
             "constant data: x %g..%g y %g..%g", L.x_lo, L.x_hi, L.y_lo, L.y_hi);
    TH_OK(selsa_plot_render(&sc, 1, &o, &im));
    TH_CHECK(color_near(&im, &L, selsa_plot_x_to_px(&L, 5), selsa_plot_y_to_px(&L, 0.25), 1, c0),
             "constant point drawn");
    double zx[1] = {0}, zy[1] = {0};
    selsa_plot_series sz = {NULL, zx, zy, 1}; /* single point at 0, unnamed */
    TH_OK(selsa_plot_layout_compute(&sz, 1, &o, &L));
    TH_CHECK(L.x_lo == -1 && L.x_hi == 1 && L.y_lo == -1 && L.y_hi == 1, "zero point: +-1");
    TH_OK(selsa_plot_render(&sz, 1, &o, &im));

    /* extreme magnitudes: still renders, finite ranges, bounded ticks */
    double ex[4] = {-1e300, 0, 1e300, 2e300}, ey[4] = {1e-300, 1e15, 1e15 + 1, 5e299};
    selsa_plot_series se = {"extreme", ex, ey, 4};
    o.log_y = true;
    TH_OK(selsa_plot_layout_compute(&se, 1, &o, &L));
    TH_CHECK(isfinite(L.x_hi - L.x_lo) && isfinite(L.y_hi - L.y_lo) && L.n_xticks >= 1 &&
                 L.n_xticks <= SELSA_PLOT_MAX_TICKS && L.n_yticks >= 1,
             "extreme: x %g..%g, %d/%d ticks", L.x_lo, L.x_hi, L.n_xticks, L.n_yticks);
    TH_OK(selsa_plot_render(&se, 1, &o, &im));
    /* subnormal values on a log axis: ticks still inside the range */
    double sy[3] = {1e-320, 1e-321, 3e-322};
    se.x = cx, se.y = sy, se.n = 3;
    TH_OK(selsa_plot_layout_compute(&se, 1, &o, &L));
    bool in_range = L.n_yticks >= 2;
    for (int i = 0; i < L.n_yticks; i++)
        in_range = in_range && L.yticks[i] > 0 && log10(L.yticks[i]) >= L.y_lo - 1e-9 &&
                   log10(L.yticks[i]) <= L.y_hi + 1e-9;
    TH_CHECK(in_range, "subnormal log data: %d ticks, range %g..%g", L.n_yticks, L.y_lo, L.y_hi);
    TH_OK(selsa_plot_render(&se, 1, &o, &im));
    o.log_y = false;
    double fy[3] = {1e15, 1e15 + 1, 1e15 + 2};
    se.x = cx, se.y = fy, se.n = 3;
    TH_OK(selsa_plot_render(&se, 1, &o, &im));

    /* smallest image with everything on, many series (colours cycle), long names */
    double lx[2] = {0, 1}, ly[2] = {1, 2};
    selsa_plot_series many[10];
    for (int i = 0; i < 10; i++)
        many[i] = (selsa_plot_series){
            i == 3 ? "a very long series name that goes on and on and on and on" : "s", lx, ly, 2};
    o.width = 160, o.height = 160, o.title = "t", o.xlabel = "x", o.ylabel = "y";
    TH_OK(selsa_plot_render(many, 10, &o, &im));
    TH_CHECK(im.w == 160 && im.h == 160, "160x160 render");
    o.width = 4096, o.height = 160;
    TH_OK(selsa_plot_render(many, 3, &o, &im));
    selsa_image_free(&im);

    uint8_t a[3], b[3];
    bool distinct = true;
    for (int i = 0; i < SELSA_PLOT_N_COLORS; i++)
        for (int j = 0; j < i; j++) {
            selsa_plot_series_color(i, a);
            selsa_plot_series_color(j, b);
            distinct = distinct && memcmp(a, b, 3) != 0;
        }
    selsa_plot_series_color(SELSA_PLOT_N_COLORS + 2, a);
    selsa_plot_series_color(2, b);
    TH_CHECK(distinct && memcmp(a, b, 3) == 0, "8 distinct colours, then they cycle");
}

static void test_bad_args(void) {
    double x[2] = {0, 1}, y[2] = {0, 1};
    selsa_plot_series s = {"s", x, y, 2};
    selsa_plot_opts o;
    selsa_plot_opts_default(&o);
    selsa_image im = {0};
    TH_FAILS(selsa_plot_render(&s, 1, NULL, &im), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_plot_render(&s, 1, &o, NULL), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_plot_render(NULL, 1, &o, &im), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_plot_render(&s, -1, &o, &im), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_plot_layout_compute(&s, 1, &o, NULL), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_plot_write_png(NULL, &s, 1, &o), SELSA_ERR_INVALID_ARG);
    const int bad[4][2] = {{159, 500}, {4097, 500}, {800, 159}, {800, 4097}};
    for (int i = 0; i < 4; i++) {
        o.width = bad[i][0], o.height = bad[i][1];
        TH_FAILS(selsa_plot_render(&s, 1, &o, &im), SELSA_ERR_INVALID_ARG);
        TH_CHECK(strstr(selsa_last_error(), "outside") != NULL, "size message: %s",
                 selsa_last_error());
    }
    selsa_plot_opts_default(&o);
    selsa_plot_series bad_n = {"s", x, y, -1}, bad_x = {"s", NULL, y, 2}, bad_y = {"s", x, NULL, 2};
    TH_FAILS(selsa_plot_render(&bad_n, 1, &o, &im), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_plot_render(&bad_x, 1, &o, &im), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_plot_render(&bad_y, 1, &o, &im), SELSA_ERR_INVALID_ARG);
    TH_CHECK(im.data == NULL, "nothing allocated on errors");
    TH_FAILS(selsa_plot_write_png("/nonexistent-dir-selsa/plot.png", &s, 1, &o), SELSA_ERR_IO);
}

static void test_png_roundtrip(void) {
    enum { N = 50 };
    double x[N], a[N], b[N];
    for (int i = 0; i < N; i++) {
        x[i] = i + 1;
        a[i] = 2.5 * exp(-0.08 * i) + 0.05 * sin(1.7 * i);
        b[i] = 2.7 * exp(-0.06 * i) + 0.2;
    }
    b[20] = NAN;
    selsa_plot_series s[2] = {{"train loss", x, a, N}, {"val loss", x, b, N}};
    selsa_plot_opts o;
    selsa_plot_opts_default(&o);
    o.title = "loss", o.xlabel = "epoch", o.ylabel = "loss", o.log_y = true;
    char path[128];
    snprintf(path, sizeof(path), "/tmp/selsa_test_plot_%d.png", (int)getpid());
    TH_OK(selsa_plot_write_png(path, s, 2, &o));
    selsa_image want = {0}, got = {0};
    TH_OK(selsa_plot_render(s, 2, &o, &want));
    TH_OK(selsa_image_read(path, &got));
    TH_CHECK(got.w == want.w && got.h == want.h && want.data && got.data &&
                 memcmp(got.data, want.data, (size_t)want.w * want.h * 3) == 0,
             "PNG read back (%dx%d) differs from the render (%dx%d)", got.w, got.h, want.w,
             want.h);
    /* overwrite in place (atomic rename over the old file) */
    o.log_y = false;
    TH_OK(selsa_plot_write_png(path, s, 2, &o));
    TH_OK(selsa_plot_render(s, 2, &o, &want));
    TH_OK(selsa_image_read(path, &got));
    TH_CHECK(got.w == want.w && got.h == want.h &&
                 memcmp(got.data, want.data, (size_t)want.w * want.h * 3) == 0,
             "overwritten PNG differs from the render");
    unlink(path);
    selsa_image_free(&want);
    selsa_image_free(&got);
}

int main(int argc, char **argv) {
    th_init(argc, argv, "plot");
    test_linear_known();
    test_log_axis();
    test_nan_gaps();
    test_empty_and_degenerate();
    test_bad_args();
    test_png_roundtrip();
    return th_finish();
}
