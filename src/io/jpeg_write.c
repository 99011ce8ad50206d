/* JPEG encoding with libjpeg-turbo and atomic file writes (see selsa/image_write.h). */
#include "selsa/image_write.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>

typedef struct jw_err {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
    unsigned char *buf; /* jpeg_mem_dest output; kept here (not in a local) so the error
                           path after longjmp sees its current value */
    unsigned long len;
} jw_err;

static void jw_error_exit(j_common_ptr cinfo) {
    jw_err *e = (jw_err *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jb, 1);
}

static void jw_emit(j_common_ptr cinfo, int level) { (void)cinfo; (void)level; }

selsa_status selsa_jpeg_encode(const uint8_t *bgr, int h, int w, int quality, uint8_t **out,
                               size_t *out_len) {
    if (!bgr || !out || !out_len)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_jpeg_encode: NULL argument");
    if (h < 1 || w < 1 || h > 65500 || w > 65500)
        return selsa_error(SELSA_ERR_INVALID_ARG,
                           "selsa_jpeg_encode: image size %dx%d (h x w) must be in 1..65500", h, w);
    if (quality < 1 || quality > 100)
        return selsa_error(SELSA_ERR_INVALID_ARG,
                           "selsa_jpeg_encode: quality %d must be in 1..100", quality);
    *out = NULL;
    *out_len = 0;
    struct jpeg_compress_struct cinfo;
    jw_err err;
    memset(&cinfo, 0, sizeof cinfo);
    memset(&err, 0, sizeof err);
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = jw_error_exit;
    err.pub.emit_message = jw_emit;
    if (setjmp(err.jb)) {
        jpeg_destroy_compress(&cinfo);
        free(err.buf);
        return selsa_error(SELSA_ERR_INTERNAL, "selsa_jpeg_encode: libjpeg: %s", err.msg);
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &err.buf, &err.len);
    cinfo.image_width = (JDIMENSION)w;
    cinfo.image_height = (JDIMENSION)h;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_EXT_BGR; /* libjpeg-turbo extension: no BGR->RGB copy */
    jpeg_set_defaults(&cinfo);          /* YCbCr 4:2:0, baseline, islow DCT */
    jpeg_set_quality(&cinfo, quality, TRUE);
    cinfo.optimize_coding = FALSE;
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(bgr + (size_t)cinfo.next_scanline * (size_t)w * 3);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    *out = err.buf;
    *out_len = (size_t)err.len;
    return SELSA_OK;
}

selsa_status selsa_jpeg_write(const char *path, const uint8_t *bgr, int h, int w, int quality) {
    if (!path) return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_jpeg_write: NULL path");
    uint8_t *buf = NULL;
    size_t len = 0;
    selsa_status s = selsa_jpeg_encode(bgr, h, w, quality, &buf, &len);
    if (s != SELSA_OK) return selsa_error_context(s, "writing %s: ", path);
    s = selsa_file_write_atomic(path, buf, len);
    free(buf);
    return s;
}

