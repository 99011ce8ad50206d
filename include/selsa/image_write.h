/* selsa — writing images and files atomically.
 *
 * selsa_jpeg_write encodes an 8-bit BGR image (the layout of selsa_image / cv2) with
 * libjpeg-turbo: baseline JPEG, 4:2:0 chroma subsampling, standard Huffman tables (no
 * optimisation, no progressive mode), so the same pixels and quality give the same bytes on
 * every run. Files are written atomically: the bytes go to "<path>.tmp.XXXXXX" in the same
 * folder, are fsync'ed and then renamed over <path>, so a reader never sees a half-written
 * file and a crash leaves either the old file or the new one. */
#ifndef SELSA_IMAGE_WRITE_H
#define SELSA_IMAGE_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "selsa/fileio.h" /* selsa_file_write_atomic, selsa_mkdirs */
#include "selsa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Encode bgr (h×w×3 bytes, row-major, B G R) as a JPEG in memory. *out is malloc'd (caller
 * frees), *out_len its size. quality 1..100; h, w in 1..65500. */
selsa_status selsa_jpeg_encode(const uint8_t *bgr, int h, int w, int quality, uint8_t **out,
                               size_t *out_len);

/* Encode as above and write atomically to path. */
selsa_status selsa_jpeg_write(const char *path, const uint8_t *bgr, int h, int w, int quality);

#ifdef __cplusplus
}
#endif
#endif
