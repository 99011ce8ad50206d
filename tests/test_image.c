/* Images: OpenCV-bit-exact uint8 resize (vs cv2 fixtures from tests/ref/gen_image.py), the
 * official 600/1000 and mmcv size rules, the tensor transforms, JPEG/PNG decoding vs cv2.imread,
 * PNG round trip, and errors on corrupt/truncated files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "harness.h"
#include "selsa/image.h"

/* Same formula as hash_image() in gen_image.py. */
static void hash_image(uint8_t *d, int h, int w, int cn) {
    for (uint32_t y = 0; y < (uint32_t)h; y++)
        for (uint32_t x = 0; x < (uint32_t)w; x++)
            for (uint32_t c = 0; c < (uint32_t)cn; c++) {
                uint32_t v = (x * 73856093u) ^ (y * 19349663u) ^ (c * 83492791u);
                d[((size_t)y * w + x) * cn + c] = (uint8_t)((v >> 7) & 255u);
            }
}

static int count_diff(const uint8_t *a, const uint8_t *b, size_t n, int *maxd, size_t *first) {
    int cnt = 0;
    *maxd = 0;
    *first = (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        if (d) {
            if (!cnt) *first = i;
            cnt++;
            if (d > *maxd) *maxd = d;
        }
    }
    return cnt;
}

static void test_resize_vs_cv2(void) {
    th_fixture *fx = th_fixture_open(th_fixture_path("image_resize.slfx"));
    if (!fx) {
        TH_CHECK(0, "image_resize.slfx missing (run tests/ref/gen_image.py)");
        return;
    }
    int n = (int)th_fx_scalar(fx, "count");
    int exact = 0;
    char name[64];
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "meta%d", i);
        const int32_t *m = th_fx_i32(fx, name);
        snprintf(name, sizeof name, "scale%d", i);
        const double *sc = th_fx_f64(fx, name);
        int h = m[0], w = m[1], cn = m[2], dh = m[3], dw = m[4], by_fx = m[5];
        uint8_t *src = (uint8_t *)malloc((size_t)h * w * cn);
        snprintf(name, sizeof name, "src%d", i);
        if (th_fx_numel(fx, name) > 0)
            memcpy(src, th_fx_i32(fx, name), (size_t)h * w * cn);
        else
            hash_image(src, h, w, cn);
        snprintf(name, sizeof name, "dst%d", i);
        const uint8_t *want = (const uint8_t *)th_fx_i32(fx, name);
        if (by_fx) {
            /* the output size rule of cv2.resize(None, fx, fy) */
            TH_CHECK(selsa_cv_round_size(w, sc[0]) == dw && selsa_cv_round_size(h, sc[1]) == dh,
                     "case %d: size %dx%d*(%g,%g) -> want %dx%d", i, h, w, sc[0], sc[1], dh, dw);
        }
        uint8_t *got = (uint8_t *)malloc((size_t)dh * dw * cn);
        TH_OK(selsa_resize_u8_linear(src, h, w, cn, got, dh, dw, sc[0], sc[1]));
        int maxd;
        size_t first;
        int nd = count_diff(got, want, (size_t)dh * dw * cn, &maxd, &first);
        if (TH_CHECK(nd == 0, "case %d (%dx%dx%d -> %dx%d, fx %.9g fy %.9g): %d bytes differ from cv2, "
                     "max %d, first at y=%zu x=%zu c=%zu",
                     i, h, w, cn, dh, dw, sc[0], sc[1], nd, maxd, first / ((size_t)dw * cn),
                     (first / cn) % dw, first % cn))
            exact++;
        free(got);
        free(src);
    }
    printf("  resize: %d/%d cases bit-exact vs cv2\n", exact, n);
    th_fixture_close(fx);
}

static void test_rules(void) {
    double s;
    int oh, ow;
    TH_OK(selsa_resize_rule_official(720, 1280, 600, 1000, &s, &oh, &ow));
    TH_CHECK(s == 0.78125 && oh == 562 && ow == 1000, "1280x720: scale %g -> %dx%d", s, ow, oh);
    TH_OK(selsa_resize_rule_official(1280, 720, 600, 1000, &s, &oh, &ow));
    TH_CHECK(oh == 1000 && ow == 562, "portrait 720x1280 -> %dx%d", ow, oh);
    TH_OK(selsa_resize_rule_official(375, 500, 600, 1000, &s, &oh, &ow));
    TH_CHECK(s == 1.6 && oh == 600 && ow == 800, "500x375 -> %dx%d", ow, oh);
    TH_OK(selsa_resize_rule_official(1080, 1920, 600, 1000, &s, &oh, &ow));
    TH_CHECK(oh == 562 && ow == 1000, "1920x1080 -> %dx%d (scale %g)", ow, oh, s);
    double sx, sy;
    TH_OK(selsa_resize_rule_mmcv(720, 1280, 1000, 600, &oh, &ow, &sx, &sy));
    TH_CHECK(oh == 563 && ow == 1000 && sx == 1000.0 / 1280 && sy == 563.0 / 720,
             "mmcv 1280x720 -> %dx%d", ow, oh);
    TH_FAILS(selsa_resize_rule_official(0, 5, 600, 1000, &s, &oh, &ow), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_resize_rule_mmcv(5, -1, 1000, 600, &oh, &ow, NULL, NULL), SELSA_ERR_INVALID_ARG);

    th_fixture *fx = th_fixture_open(th_fixture_path("image_rules.slfx"));
    if (!fx) {
        TH_CHECK(0, "image_rules.slfx missing");
        return;
    }
    int64_t dims[8];
    th_fx_shape(fx, "rows", dims);
    const int32_t *r = th_fx_i32(fx, "rows");
    const double *sc = th_fx_f64(fx, "scale");
    int bad = 0;
    for (int64_t i = 0; i < dims[0]; i++) {
        const int32_t *q = r + i * 6;
        int mh, mw;
        selsa_resize_rule_official(q[0], q[1], 600, 1000, &s, &oh, &ow);
        selsa_resize_rule_mmcv(q[0], q[1], 1000, 600, &mh, &mw, NULL, NULL);
        if (s != sc[i] || oh != q[2] || ow != q[3] || mh != q[4] || mw != q[5]) {
            if (bad++ < 5)
                TH_CHECK(0, "rule for %dx%d: official %dx%d (s %.17g) want %dx%d (s %.17g); mmcv %dx%d want %dx%d",
                         q[0], q[1], oh, ow, s, q[2], q[3], sc[i], mh, mw, q[4], q[5]);
        }
    }
    TH_CHECK(bad == 0, "%d of %lld size rules differ", bad, (long long)dims[0]);
    th_fixture_close(fx);
}

static void test_tensor(void) {
    th_fixture *fx = th_fixture_open(th_fixture_path("image_tensor.slfx"));
    if (!fx) {
        TH_CHECK(0, "image_tensor.slfx missing");
        return;
    }
    selsa_image im = {0};
    TH_OK(selsa_image_alloc(&im, 13, 21));
    memcpy(im.data, th_fx_i32(fx, "img"), 13 * 21 * 3);
    float *buf = (float *)malloc(sizeof(float) * 2 * 3 * 16 * 32);
    selsa_norm_cfg off = selsa_norm_official();
    int ph, pw;
    selsa_norm_padded_size(&off, 13, 21, &ph, &pw);
    TH_CHECK(ph == 13 && pw == 21, "official: no padding");
    selsa_tensor t = selsa_tensor_view(buf, 1, 3, 13, 21);
    TH_OK(selsa_image_to_tensor(&im, &off, &t, 0));
    /* exact: both sides compute (float)((double)v - mean) */
    th_allclose("official tensor", buf, th_fx_f32(fx, "official"), 3 * 13 * 21, 0, 0);
    selsa_norm_cfg mm = selsa_norm_mmdet();
    selsa_norm_padded_size(&mm, 13, 21, &ph, &pw);
    TH_CHECK(ph == 16 && pw == 32, "mmdet pad to 16: %dx%d", ph, pw);
    t = selsa_tensor_view(buf, 2, 3, 16, 32);
    for (int i = 0; i < 2 * 3 * 16 * 32; i++) buf[i] = 777.f; /* padding must be overwritten */
    TH_OK(selsa_image_to_tensor(&im, &mm, &t, 1));
    /* exact: same float32 operations as cv2.subtract/cv2.multiply in imnormalize_ */
    th_allclose("mmdet tensor (slot 1)", buf + 3 * 16 * 32, th_fx_f32(fx, "mmdet"), 3 * 16 * 32, 0, 0);
    TH_CHECK(buf[0] == 777.f, "slot 0 untouched");
    TH_FAILS(selsa_image_to_tensor(&im, &mm, &t, 2), SELSA_ERR_INVALID_ARG);
    selsa_tensor small = selsa_tensor_view(buf, 1, 3, 12, 21);
    TH_FAILS(selsa_image_to_tensor(&im, &off, &small, 0), SELSA_ERR_SHAPE);
    free(buf);
    selsa_image_free(&im);
    th_fixture_close(fx);
}

static void test_decode(void) {
    th_fixture *fx = th_fixture_open(th_fixture_path("image_decode.slfx"));
    if (!fx) {
        TH_CHECK(0, "image_decode.slfx missing");
        return;
    }
    static const char *files[] = {"img_q90.jpg", "img_gray.jpg", "img_rgb.png",
                                  "img_rgba.png", "img_16.png",  "img_gray.png"};
    int n = (int)th_fx_scalar(fx, "count");
    selsa_image im = {0};
    char name[64], path[1024];
    for (int i = 0; i < n && i < 6; i++) {
        snprintf(path, sizeof path, "%s", th_fixture_path(files[i]));
        snprintf(name, sizeof name, "dec%d_shape", i);
        const int32_t *sh = th_fx_i32(fx, name);
        snprintf(name, sizeof name, "dec%d", i);
        const uint8_t *want = (const uint8_t *)th_fx_i32(fx, name);
        if (!TH_OK(selsa_image_read(path, &im))) continue;
        if (!TH_CHECK(im.h == sh[0] && im.w == sh[1], "%s: %dx%d want %dx%d", files[i], im.h,
                      im.w, sh[0], sh[1]))
            continue;
        int maxd;
        size_t first;
        int nd = count_diff(im.data, want, (size_t)im.h * im.w * 3, &maxd, &first);
        TH_CHECK(nd == 0, "%s: %d bytes differ from cv2.imread (max %d)", files[i], nd, maxd);
    }
    /* errors name the file */
    const char *bad[] = {"img_trunc.jpg", "img_garbage.jpg", "img_trunc.png", "image_rules.slfx"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s", th_fixture_path(bad[i]));
        TH_FAILS(selsa_image_read(path, &im), SELSA_ERR_FORMAT);
        TH_CHECK(strstr(selsa_last_error(), bad[i]) != NULL, "message names the file: %s",
                 selsa_last_error());
    }
    TH_FAILS(selsa_image_read("/nonexistent/x.jpg", &im), SELSA_ERR_IO);
    TH_CHECK(strstr(selsa_last_error(), "/nonexistent/x.jpg") != NULL, "%s", selsa_last_error());

    /* the real frame */
    const char *real = "../shared/data/ILSVRC2015_val_00007010/000000.JPEG";
    if (access(real, R_OK) != 0 || th_fx_numel(fx, "real") < 0) {
        th_skip("../shared/data/ILSVRC2015_val_00007010/000000.JPEG absent (or fixture made without it)");
    } else if (TH_OK(selsa_image_read(real, &im))) {
        const int32_t *sh = th_fx_i32(fx, "real_shape");
        TH_CHECK(im.h == sh[0] && im.w == sh[1] && im.h == 720 && im.w == 1280, "real frame size %dx%d", im.w, im.h);
        int maxd;
        size_t first;
        int nd = count_diff(im.data, (const uint8_t *)th_fx_i32(fx, "real"), (size_t)im.h * im.w * 3,
                            &maxd, &first);
        printf("  real JPEG vs cv2.imread: %d of %d bytes differ, max |diff| %d\n", nd,
               im.h * im.w * 3, maxd);
        /* Same libjpeg-turbo build as cv2 here: bit-exact. Another libjpeg-turbo version could
         * differ by +-1 in rare pixels (IDCT/upsampling); this machine measures 0. */
        TH_CHECK(nd == 0, "real frame differs from cv2.imread in %d bytes (max %d)", nd, maxd);
        selsa_image r = {0};
        double s;
        TH_OK(selsa_image_resize_official(&im, &r, 600, 1000, &s));
        const int32_t *rs = th_fx_i32(fx, "real_resized_shape");
        if (TH_CHECK(r.h == rs[0] && r.w == rs[1] && s == 0.78125, "resized real %dx%d", r.w, r.h)) {
            nd = count_diff(r.data, (const uint8_t *)th_fx_i32(fx, "real_resized"),
                            (size_t)r.h * r.w * 3, &maxd, &first);
            TH_CHECK(nd == 0, "real frame resize differs from cv2 in %d bytes", nd);
        }
        selsa_image_free(&r);
    }
    selsa_image_free(&im);
    th_fixture_close(fx);
}

static void test_png_roundtrip(void) {
    char dir[] = "/tmp/selsa_test_image_XXXXXX";
    if (!mkdtemp(dir)) {
        TH_CHECK(0, "mkdtemp");
        return;
    }
    char path[256];
    snprintf(path, sizeof path, "%s/rt.png", dir);
    selsa_image a = {0}, b = {0};
    TH_OK(selsa_image_alloc(&a, 37, 53));
    hash_image(a.data, 37, 53, 3);
    TH_OK(selsa_image_write_png(path, &a));
    TH_OK(selsa_image_read(path, &b));
    TH_CHECK(b.h == 37 && b.w == 53 && memcmp(a.data, b.data, 37 * 53 * 3) == 0, "PNG round trip");
    /* decode into an existing larger buffer: no reallocation */
    size_t cap = b.cap;
    uint8_t *p = b.data;
    TH_OK(selsa_image_alloc(&a, 5, 7));
    hash_image(a.data, 5, 7, 3);
    TH_OK(selsa_image_write_png(path, &a));
    TH_OK(selsa_image_read(path, &b));
    TH_CHECK(b.data == p && b.cap == cap && b.h == 5 && b.w == 7 &&
                 memcmp(a.data, b.data, 5 * 7 * 3) == 0,
             "decode reuses the buffer");
    snprintf(path, sizeof path, "%s/nodir/x.png", dir);
    TH_FAILS(selsa_image_write_png(path, &a), SELSA_ERR_IO);
    selsa_image empty = {0};
    TH_FAILS(selsa_image_write_png(path, &empty), SELSA_ERR_INVALID_ARG);
    snprintf(path, sizeof path, "%s/rt.png", dir);
    unlink(path);
    rmdir(dir);
    selsa_image_free(&a);
    selsa_image_free(&b);

    uint8_t s[12] = {0}, d[12];
    TH_FAILS(selsa_resize_u8_linear(s, 2, 2, 3, d, 0, 2, 1, 1), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_resize_u8_linear(s, 2, 2, 3, d, 2, 2, 0, 1), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_resize_u8_linear(s, 2, 2, 5, d, 2, 2, 1, 1), SELSA_ERR_INVALID_ARG);
    TH_FAILS(selsa_resize_u8_linear(s, 2, 2, 3, s, 2, 2, 1, 1), SELSA_ERR_INVALID_ARG);
}

int main(int argc, char **argv) {
    th_init(argc, argv, "image");
    test_rules();
    test_resize_vs_cv2();
    test_tensor();
    test_decode();
    test_png_roundtrip();
    return th_finish();
}
