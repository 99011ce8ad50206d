/* selsa — image buffers, JPEG (libjpeg-turbo) and PNG (libpng) decoding to 8-bit BGR, PNG
 * writing, and the image → float NCHW tensor transform (official-selsa.md §1).
 *
 * The decoders follow OpenCV's imread(IMREAD_COLOR) settings so pixels match cv2:
 * JPEG: libjpeg defaults (ISLOW IDCT, fancy upsampling), output colour space JCS_EXT_BGR;
 * PNG: strip 16→8 bits, palette → RGB, gray → RGB, strip alpha, BGR order.
 * libjpeg/libpng report fatal errors through longjmp from our error handlers (never exit). */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include "selsa/image.h"

/* ------------------------------------------------------------------ buffers */

selsa_status selsa_image_alloc(selsa_image *img, int h, int w) {
    if (!img) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_image_alloc: img is NULL");
    if (h < 0 || w < 0 || (h > 0 && (size_t)w > ((size_t)1 << 40) / 3 / (size_t)h))
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_image_alloc: bad size %d x %d", h, w);
    size_t need = (size_t)h * (size_t)w * 3;
    if (need > img->cap || !img->data) {
        size_t cap = need ? need : 3;
        uint8_t *p = (uint8_t *)realloc(img->data, cap);
        if (!p)
            return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "image buffer of %zu bytes (%d x %d)", cap,
                               h, w);
        img->data = p;
        img->cap = cap;
    }
    img->h = h;
    img->w = w;
    return SELSA_OK;
}

void selsa_image_free(selsa_image *img) {
    if (!img) return;
    free(img->data);
    img->data = NULL;
    img->h = img->w = 0;
    img->cap = 0;
}

static selsa_status read_file(const char *path, uint8_t **buf, size_t *len) {
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return selsa_error(SELSA_ERR_IO, "cannot open image '%s': %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return selsa_error(SELSA_ERR_IO, "cannot seek in '%s' (not a regular file?)", path);
    }
    long n = ftell(f);
    if (n < 0) {
        fclose(f);
        return selsa_error(SELSA_ERR_IO, "cannot size '%s' (not a regular file?)", path);
    }
    rewind(f);
    uint8_t *p = (uint8_t *)malloc((size_t)n + 1);
    if (!p) {
        fclose(f);
        return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "reading '%s' (%ld bytes)", path, n);
    }
    size_t got = fread(p, 1, (size_t)n, f);
    int err = ferror(f);
    fclose(f);
    if (got != (size_t)n || err) {
        free(p);
        return selsa_error(SELSA_ERR_IO, "read error on '%s'", path);
    }
    *buf = p;
    *len = (size_t)n;
    return SELSA_OK;
}

/* ------------------------------------------------------------------ JPEG */

typedef struct jpeg_err_ctx {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
    int truncated; /* JWRN_JPEG_EOF seen: the data ended early */
} jpeg_err_ctx;

static void jpeg_error_exit_cb(j_common_ptr cinfo) {
    jpeg_err_ctx *e = (jpeg_err_ctx *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jb, 1);
}

static void jpeg_emit_cb(j_common_ptr cinfo, int level) {
    jpeg_err_ctx *e = (jpeg_err_ctx *)cinfo->err;
    if (level < 0) { /* warning */
        if (cinfo->err->msg_code == JWRN_JPEG_EOF) e->truncated = 1;
        if (cinfo->err->num_warnings == 0) (*cinfo->err->format_message)(cinfo, e->msg);
        cinfo->err->num_warnings++;
    }
}

static selsa_status decode_jpeg(const uint8_t *buf, size_t len, const char *name,
                                selsa_image *img) {
    struct jpeg_decompress_struct cinfo;
    jpeg_err_ctx err;
    memset(&err, 0, sizeof(err));
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = jpeg_error_exit_cb;
    err.pub.emit_message = jpeg_emit_cb;
    /* volatile: modified between setjmp and a possible longjmp */
    volatile selsa_status st = SELSA_OK;
    if (setjmp(err.jb)) {
        jpeg_destroy_decompress(&cinfo);
        return st != SELSA_OK ? st
                              : selsa_error(SELSA_ERR_FORMAT, "corrupt JPEG '%s': %s", name, err.msg);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, buf, (unsigned long)len);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.num_components == 4) {
        /* CMYK/YCCK: libjpeg-turbo cannot convert to BGR directly; decode CMYK and convert
         * like OpenCV (icvCvt_CMYK2BGR). */
        cinfo.out_color_space = JCS_CMYK;
    } else {
        cinfo.out_color_space = JCS_EXT_BGR;
    }
    jpeg_start_decompress(&cinfo);
    int w = (int)cinfo.output_width, h = (int)cinfo.output_height;
    st = selsa_image_alloc(img, h, w);
    if (st != SELSA_OK) longjmp(err.jb, 1);
    if (cinfo.out_color_space == JCS_CMYK) {
        JSAMPROW row = (JSAMPROW)malloc((size_t)w * 4);
        if (!row) {
            st = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "JPEG row buffer for '%s'", name);
            longjmp(err.jb, 1);
        }
        while (cinfo.output_scanline < cinfo.output_height) {
            uint8_t *d = img->data + (size_t)cinfo.output_scanline * (size_t)w * 3;
            JSAMPROW rp = row;
            jpeg_read_scanlines(&cinfo, &rp, 1);
            for (int x = 0; x < w; x++) {
                /* OpenCV icvCvt_CMYK2BGR_8u_C4C3R */
                int c = row[4 * x], m = row[4 * x + 1], yy = row[4 * x + 2], k = row[4 * x + 3];
                d[3 * x + 0] = (uint8_t)(k - (((255 - yy) * k) >> 8));
                d[3 * x + 1] = (uint8_t)(k - (((255 - m) * k) >> 8));
                d[3 * x + 2] = (uint8_t)(k - (((255 - c) * k) >> 8));
            }
        }
        free(row);
    } else {
        while (cinfo.output_scanline < cinfo.output_height) {
            JSAMPROW rp = img->data + (size_t)cinfo.output_scanline * (size_t)w * 3;
            jpeg_read_scanlines(&cinfo, &rp, 1);
        }
    }
    jpeg_finish_decompress(&cinfo);
    int truncated = err.truncated;
    long warnings = err.pub.num_warnings;
    jpeg_destroy_decompress(&cinfo);
    if (truncated)
        return selsa_error(SELSA_ERR_FORMAT, "truncated JPEG '%s' (%s)", name, err.msg);
    if (warnings > 0)
        selsa_log(SELSA_LOG_WARN, "JPEG '%s': %ld warning(s), first: %s", name, warnings, err.msg);
    return SELSA_OK;
}

/* ------------------------------------------------------------------ PNG */

typedef struct png_ctx {
    jmp_buf jb;
    char msg[256];
    const uint8_t *buf;
    size_t len, pos;
} png_ctx;

static void png_error_cb(png_structp png, png_const_charp msg) {
    png_ctx *c = (png_ctx *)png_get_error_ptr(png);
    snprintf(c->msg, sizeof(c->msg), "%s", msg);
    longjmp(c->jb, 1);
}

static void png_warn_cb(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static void png_read_cb(png_structp png, png_bytep out, png_size_t n) {
    png_ctx *c = (png_ctx *)png_get_io_ptr(png);
    if (n > c->len - c->pos) png_error(png, "unexpected end of file (truncated PNG)");
    memcpy(out, c->buf + c->pos, n);
    c->pos += n;
}

static selsa_status decode_png(const uint8_t *buf, size_t len, const char *name,
                               selsa_image *img) {
    png_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.buf = buf;
    ctx.len = len;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, png_error_cb, png_warn_cb);
    if (!png) return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "png_create_read_struct for '%s'", name);
    png_infop info = png_create_info_struct(png);
    png_bytep *volatile rows = NULL;
    volatile selsa_status st = SELSA_OK;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "png_create_info_struct for '%s'", name);
    }
    if (setjmp(ctx.jb)) {
        free((void *)rows);
        png_destroy_read_struct(&png, &info, NULL);
        return st != SELSA_OK ? st
                              : selsa_error(SELSA_ERR_FORMAT, "corrupt PNG '%s': %s", name, ctx.msg);
    }
    png_set_read_fn(png, &ctx, png_read_cb);
    png_read_info(png, info);
    png_uint_32 w32 = 0, h32 = 0;
    int depth = 0, ctype = 0;
    png_get_IHDR(png, info, &w32, &h32, &depth, &ctype, NULL, NULL, NULL);
    if (depth > 8) png_set_strip_16(png);
    if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if ((ctype & PNG_COLOR_MASK_COLOR) == 0 && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if ((ctype & PNG_COLOR_MASK_COLOR) || ctype == PNG_COLOR_TYPE_PALETTE)
        png_set_bgr(png);
    else
        png_set_gray_to_rgb(png);
    png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (png_size_t)w32 * 3) {
        snprintf(ctx.msg, sizeof(ctx.msg), "unsupported pixel layout (row %zu bytes for width %u)",
                 (size_t)png_get_rowbytes(png, info), (unsigned)w32);
        longjmp(ctx.jb, 1);
    }
    if (w32 > 1u << 20 || h32 > 1u << 20) {
        snprintf(ctx.msg, sizeof(ctx.msg), "image too large (%u x %u)", (unsigned)w32, (unsigned)h32);
        longjmp(ctx.jb, 1);
    }
    st = selsa_image_alloc(img, (int)h32, (int)w32);
    if (st != SELSA_OK) longjmp(ctx.jb, 1);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * (h32 ? h32 : 1));
    if (!rows) {
        st = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "PNG row table for '%s'", name);
        longjmp(ctx.jb, 1);
    }
    for (png_uint_32 y = 0; y < h32; y++) rows[y] = img->data + (size_t)y * w32 * 3;
    png_read_image(png, (png_bytepp)rows);
    png_read_end(png, NULL);
    free((void *)rows);
    png_destroy_read_struct(&png, &info, NULL);
    return SELSA_OK;
}

/* ------------------------------------------------------------------ public decode */

selsa_status selsa_image_decode(const uint8_t *buf, size_t len, const char *name,
                                selsa_image *img) {
    if (!img || (!buf && len))
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_image_decode: NULL argument");
    if (!name) name = "<memory>";
    if (len >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF)
        return decode_jpeg(buf, len, name, img);
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    if (len >= 8 && memcmp(buf, png_sig, 8) == 0) return decode_png(buf, len, name, img);
    if (len == 0) return selsa_error(SELSA_ERR_FORMAT, "image '%s' is empty (0 bytes)", name);
    return selsa_error(SELSA_ERR_FORMAT, "image '%s' is neither JPEG nor PNG (unknown signature)",
                       name);
}

selsa_status selsa_image_read(const char *path, selsa_image *img) {
    if (!path || !img) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_image_read: NULL argument");
    uint8_t *buf;
    size_t len;
    SELSA_TRY(read_file(path, &buf, &len));
    selsa_status st = selsa_image_decode(buf, len, path, img);
    free(buf);
    return st;
}

/* ------------------------------------------------------------------ PNG writer */

selsa_status selsa_image_write_png(const char *path, const selsa_image *img) {
    if (!path || !img || (!img->data && img->h * img->w > 0))
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_image_write_png: NULL argument");
    if (img->h <= 0 || img->w <= 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "cannot write empty image (%d x %d) to '%s'",
                           img->h, img->w, path);
    FILE *f = fopen(path, "wb");
    if (!f) return selsa_error(SELSA_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
    png_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, png_error_cb, png_warn_cb);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        if (png) png_destroy_write_struct(&png, NULL);
        fclose(f);
        return selsa_error(SELSA_ERR_OUT_OF_MEMORY, "libpng writer for '%s'", path);
    }
    if (setjmp(ctx.jb)) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return selsa_error(SELSA_ERR_IO, "writing PNG '%s': %s", path, ctx.msg);
    }
    png_init_io(png, f);
    png_set_compression_level(png, 3);
    png_set_IHDR(png, info, (png_uint_32)img->w, (png_uint_32)img->h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_set_bgr(png);
    for (int y = 0; y < img->h; y++)
        png_write_row(png, (png_const_bytep)(img->data + (size_t)y * (size_t)img->w * 3));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (fclose(f) != 0) return selsa_error(SELSA_ERR_IO, "closing '%s': %s", path, strerror(errno));
    return SELSA_OK;
}

/* ------------------------------------------------------------------ tensor transform */

selsa_norm_cfg selsa_norm_official(void) {
    /* yaml PIXEL_MEANS [103.06, 115.90, 123.15] is BGR; tensor channel 0 = R - 123.15 (§1) */
    selsa_norm_cfg c = {1, {123.15, 115.90, 103.06}, {1.0, 1.0, 1.0}, 0};
    return c;
}

selsa_norm_cfg selsa_norm_mmdet(void) {
    selsa_norm_cfg c = {1, {123.675, 116.28, 103.53}, {58.395, 57.12, 57.375}, 16};
    return c;
}

void selsa_norm_padded_size(const selsa_norm_cfg *cfg, int h, int w, int *out_h, int *out_w) {
    int d = cfg ? cfg->pad_divisor : 0;
    if (d > 0) {
        h = (h + d - 1) / d * d;
        w = (w + d - 1) / d * d;
    }
    if (out_h) *out_h = h;
    if (out_w) *out_w = w;
}

selsa_status selsa_image_to_tensor(const selsa_image *img, const selsa_norm_cfg *cfg,
                                   selsa_tensor *out, int64_t n_index) {
    if (!img || !cfg || !out)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_image_to_tensor: NULL argument");
    if (!img->data || img->h <= 0 || img->w <= 0)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_image_to_tensor: empty image");
    SELSA_TRY(selsa_tensor_check(out, "image tensor", -1, 3, -1, -1));
    if (out->device != SELSA_DEVICE_CPU)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_image_to_tensor: output must be on the CPU");
    if (n_index < 0 || n_index >= out->n)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_image_to_tensor: batch index %lld outside [0, %lld)",
                           (long long)n_index, (long long)out->n);
    if (out->h < img->h || out->w < img->w)
        return selsa_error(SELSA_ERR_SHAPE, "image tensor (%lld x %lld) smaller than the image (%d x %d)",
                           (long long)out->h, (long long)out->w, img->h, img->w);
    for (int c = 0; c < 3; c++)
        if (!(cfg->std[c] > 0))
            return selsa_error(SELSA_ERR_INVALID_ARG, "normalisation std[%d] = %g must be > 0", c, cfg->std[c]);
    int use_std = !(cfg->std[0] == 1.0 && cfg->std[1] == 1.0 && cfg->std[2] == 1.0);
    const int64_t H = out->h, W = out->w, h = img->h, w = img->w;
    float *base = out->data + n_index * 3 * H * W;
    for (int c = 0; c < 3; c++) {
        int src_c = cfg->to_rgb ? 2 - c : c; /* BGR source: R is byte 2 */
        float *plane = base + (int64_t)c * H * W;
        float lut[256];
        /* Per-value table: exactly the per-pixel formula of the docs above. */
        for (int v = 0; v < 256; v++) {
            if (use_std)
                /* mmdet keeps mean/std as float32 arrays and imnormalize_ uses 1 / float64(std) */
                lut[v] = (float)((double)((float)v - (float)cfg->mean[c]) * (1.0 / (double)(float)cfg->std[c]));
            else
                lut[v] = (float)((double)v - cfg->mean[c]);
        }
        for (int64_t y = 0; y < H; y++) {
            float *row = plane + y * W;
            if (y >= h) {
                memset(row, 0, sizeof(float) * (size_t)W);
                continue;
            }
            const uint8_t *s = img->data + (size_t)y * (size_t)w * 3 + src_c;
            for (int64_t x = 0; x < w; x++) row[x] = lut[s[3 * x]];
            for (int64_t x = w; x < W; x++) row[x] = 0.0f;
        }
    }
    return SELSA_OK;
}
