/* selsa — 8-bit BGR images: decoding (JPEG via libjpeg-turbo, PNG via libpng), PNG writing,
 * OpenCV-compatible uint8 bilinear resize, the official (600/1000) and mmcv resize-size rules,
 * and the image → float NCHW tensor transform (official-selsa.md §1, mmtracking-selsa.md §1.4).
 *
 * Ownership: a selsa_image owns `data` (malloc'd, `cap` bytes). Zero-initialise an image
 * (`selsa_image im = {0};`) before its first use; every function that writes an image reuses
 * the existing buffer when it is large enough and grows it otherwise, so a streaming loop that
 * decodes frame after frame into the same image allocates only on the first frame (or when the
 * frame size grows). Release with selsa_image_free(). */
#ifndef SELSA_IMAGE_H
#define SELSA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "selsa/status.h"
#include "selsa/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct selsa_image {
    uint8_t *data; /* h*w*3 bytes, row-major HWC, channel order B, G, R (as cv2.imread) */
    int h, w;      /* rows, columns (>= 0) */
    size_t cap;    /* bytes allocated in data (>= h*w*3) */
} selsa_image;

/* Make img h×w (contents undefined), reusing its buffer when cap suffices. */
selsa_status selsa_image_alloc(selsa_image *img, int h, int w);
void selsa_image_free(selsa_image *img);

/* Decode a JPEG or PNG file (type from its magic bytes, not its name) into img (8-bit BGR).
 * Grayscale and palette images are expanded to 3 channels; PNG alpha is dropped and 16-bit
 * PNG samples are reduced to 8 bits (as cv2.imread(IMREAD_COLOR) does). EXIF orientation is
 * ignored (the official code passes IMREAD_IGNORE_ORIENTATION). Unreadable, corrupt or
 * truncated files give SELSA_ERR_IO / SELSA_ERR_FORMAT with a message naming the file. */
selsa_status selsa_image_read(const char *path, selsa_image *img);
/* The same from memory; `name` is used in error messages. */
selsa_status selsa_image_decode(const uint8_t *buf, size_t len, const char *name, selsa_image *img);

/* Write img as an 8-bit RGB PNG (lossless; reading it back gives the same BGR bytes). */
selsa_status selsa_image_write_png(const char *path, const selsa_image *img);

/* ---- resize ---- */

/* cv2.resize(src, (dst_w, dst_h), fx, fy, INTER_LINEAR) on uint8 data with `cn` channels,
 * bit-exact with OpenCV 4.x (no IPP): 11-bit fixed-point coefficients, half-pixel centres,
 * replicated borders, and OpenCV's switch to the 2×2 INTER_AREA average when the scale is
 * exactly 1/2 in both axes, and a plain copy when the size is unchanged.
 * inv_scale_x/inv_scale_y are OpenCV's fx/fy (dst/src): pass the values cv2 would use, i.e.
 * the fx/fy given to cv2.resize, or dst_w/src_w and dst_h/src_h when cv2 was given dsize.
 * src is sh×sw×cn, dst is dh×dw×cn (must not overlap). Allocates small tables with malloc. */
selsa_status selsa_resize_u8_linear(const uint8_t *src, int sh, int sw, int cn, uint8_t *dst,
                                    int dh, int dw, double inv_scale_x, double inv_scale_y);

/* OpenCV's output size for cv2.resize(src, None, fx=s, fy=s): cvRound(s*size), i.e. rounding
 * half to even (lrint), so 720*0.78125 = 562.5 → 562. */
int selsa_cv_round_size(int size, double s);

/* Official rule (official-selsa.md §1, SCALES [(600, 1000)]):
 *   scale = target/min(h,w); if round(scale*max(h,w)) > max_size: scale = max_size/max(h,w)
 * (round = Python 3 round, half to even); out size = cvRound(size*scale).
 * 1280×720 → scale 0.78125, 1000×562. */
selsa_status selsa_resize_rule_official(int h, int w, int target, int max_size, double *scale,
                                        int *out_h, int *out_w);
/* mmcv.imrescale rule (mmtracking-selsa.md §1.4, img_scale (1000, 600), keep_ratio):
 *   s = min(long_edge/max(h,w), short_edge/min(h,w)); new = int(size*s + 0.5).
 * scale_x = new_w/w and scale_y = new_h/h (mmdet's scale_factor, float32 there; the values
 * cv2 receives as fx/fy when called with dsize). 1280×720 → 1000×563. */
selsa_status selsa_resize_rule_mmcv(int h, int w, int long_edge, int short_edge, int *out_h,
                                    int *out_w, double *scale_x, double *scale_y);

/* Resize an image to out_h×out_w with OpenCV fx/fy (see selsa_resize_u8_linear). */
selsa_status selsa_image_resize(const selsa_image *src, selsa_image *dst, int out_h, int out_w,
                                double inv_scale_x, double inv_scale_y);
/* Official preprocessing resize: cv2.resize(im, None, fx=scale, fy=scale) with the rule
 * above (target 600, max 1000 for the official config). *scale receives the scale. */
selsa_status selsa_image_resize_official(const selsa_image *src, selsa_image *dst, int target,
                                         int max_size, double *scale);
/* mmcv resize: cv2.resize(im, (new_w, new_h)). scale_x/scale_y may be NULL. */
selsa_status selsa_image_resize_mmcv(const selsa_image *src, selsa_image *dst, int long_edge,
                                     int short_edge, double *scale_x, double *scale_y);

/* ---- tensor transform ---- */

/* Normalisation. mean/std are in the OUTPUT channel order (RGB when to_rgb). Arithmetic:
 *   official (std all 1):  out = (float)((double)pixel - mean)        [numpy float64, then f32]
 *   mmcv (std given):      out = (float)((double)((float)pixel - (float)mean) * (1/std))
 *                          [cv2.subtract works in float32, cv2.multiply by a float64 scalar
 *                           in double — measured against mmcv.imnormalize_ with cv2 4.6]
 * pad_divisor > 0 pads bottom/right with zeros to a multiple of it (mmdet SeqPad: 16); 0 = none. */
typedef struct selsa_norm_cfg {
    int to_rgb;         /* 1: channel 0 of the tensor is R (both configs) */
    double mean[3];     /* per output channel */
    double std[3];      /* per output channel; all 1.0 = no division */
    int pad_divisor;    /* 0 or the divisor */
} selsa_norm_cfg;

/* Official SELSA: RGB, PIXEL_MEANS [103.06, 115.90, 123.15] (given in BGR order in the yaml,
 * so mean = {123.15, 115.90, 103.06} here), no std, no padding (IMAGE_STRIDE 0). */
selsa_norm_cfg selsa_norm_official(void);
/* MMTracking: RGB, mean {123.675, 116.28, 103.53}, std {58.395, 57.12, 57.375}, pad to 16. */
selsa_norm_cfg selsa_norm_mmdet(void);

/* Padded tensor size for an h×w image. */
void selsa_norm_padded_size(const selsa_norm_cfg *cfg, int h, int w, int *out_h, int *out_w);

/* Write img into batch slot `n_index` of out (N, 3, H, W): H >= img->h, W >= img->w (normally
 * the padded size); the area outside the image is zero. out is caller-provided (CPU). */
selsa_status selsa_image_to_tensor(const selsa_image *img, const selsa_norm_cfg *cfg,
                                   selsa_tensor *out, int64_t n_index);

#ifdef __cplusplus
}
#endif
#endif
