/* selsa — writing 8-bit BGR frames (selsa_image) as a video file through FFmpeg
 * (libavformat muxing, libavcodec encoding, libswscale BGR24 → YUV 4:2:0 conversion).
 *
 * Codec: H.264 through libx264 when the FFmpeg build has it (CRF 23, preset "veryfast",
 * deterministic single-threaded encoding), otherwise MPEG-4 part 2 (AV_CODEC_ID_MPEG4, built
 * into every libavcodec; fixed quantiser 3). The container comes from the file name (.mp4, .mkv,
 * .avi, ...). Frames get consecutive timestamps 0, 1, 2, ... in a 1/fps time base.
 *
 * Size: 4:2:0 chroma needs even dimensions, so the video is the first frame's size rounded up
 * to even numbers; an odd last column / row is repeated into the padding. Later frames of a
 * different size are scaled to the video's size (bilinear).
 *
 * Atomic: the file is written to "<path>.tmp.XXXXXX" in the same folder and renamed over
 * `path` by selsa_video_writer_close after the encoder is flushed and the trailer written (and
 * fsync'ed); a failure or selsa_video_writer_abort removes the temporary file.
 *
 *   selsa_video_writer *vw;
 *   SELSA_TRY(selsa_video_writer_open(&vw, "out.mp4", h, w, 25.0, NULL));
 *   for (...) SELSA_TRY(selsa_video_writer_write(vw, &frame));
 *   SELSA_TRY(selsa_video_writer_close(vw));
 */
#ifndef SELSA_VIDEO_WRITE_H
#define SELSA_VIDEO_WRITE_H

#include <stdint.h>

#include "selsa/image.h"
#include "selsa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct selsa_video_writer selsa_video_writer;

/* Open `path` for frames of h × w (both >= 1; the stored size is rounded up to even) at `fps`
 * (> 0, e.g. the input video's rate, or 25). `codec`: NULL or "auto" (libx264 if available,
 * else mpeg4), or an FFmpeg encoder name ("libx264", "mpeg4", ...); an encoder that is not
 * available gives SELSA_ERR_UNSUPPORTED. Errors name the file. */
selsa_status selsa_video_writer_open(selsa_video_writer **out, const char *path, int h, int w,
                                     double fps, const char *codec);
/* Encode one frame (any size: see above). */
selsa_status selsa_video_writer_write(selsa_video_writer *vw, const selsa_image *frame);
/* Flush the encoder, write the trailer, fsync, rename to the final path, free. On failure the
 * temporary file is removed; vw is freed in every case. */
selsa_status selsa_video_writer_close(selsa_video_writer *vw);
/* Free without finishing; removes the temporary file. NULL is ignored. */
void selsa_video_writer_abort(selsa_video_writer *vw);

/* Name of the encoder in use ("libx264", "mpeg4"). */
const char *selsa_video_writer_codec(const selsa_video_writer *vw);
/* Stored (even) size. */
void selsa_video_writer_size(const selsa_video_writer *vw, int *h, int *w);
int64_t selsa_video_writer_frames(const selsa_video_writer *vw); /* frames written so far */

/* 1 if this FFmpeg build has a video encoder of that name, else 0. */
int selsa_video_writer_has_codec(const char *name);
/* The encoder "auto" picks in this FFmpeg build: "libx264" or "mpeg4" (NULL if neither). */
const char *selsa_video_writer_default_codec(void);

#ifdef __cplusplus
}
#endif
#endif
