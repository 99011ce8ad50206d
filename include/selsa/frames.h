/* selsa — frame sources: one interface over a folder of frames, an ImageNet VID video
 * directory, a video file (FFmpeg) and an image list file. Each yields 8-bit BGR frames
 * (selsa_image, see image.h) with their 0-based position in the sequence, one at a time:
 * memory stays bounded by one decoded frame (plus the list of file names for folders/lists).
 *
 *   selsa_frame_source *fs;
 *   SELSA_TRY(selsa_frames_open("video.mp4", &fs));
 *   selsa_image im = {0};
 *   int64_t idx;
 *   while ((st = selsa_frames_next(fs, &im, &idx)) == SELSA_OK && idx >= 0) { ... }
 *   selsa_frames_close(fs); selsa_image_free(&im);
 */
#ifndef SELSA_FRAMES_H
#define SELSA_FRAMES_H

#include <stdint.h>

#include "selsa/image.h"
#include "selsa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum selsa_frames_kind {
    SELSA_FRAMES_FOLDER = 0, /* *.JPEG / *.jpg / *.jpeg / *.png, numeric order of the names */
    SELSA_FRAMES_VID_DIR,    /* ILSVRC Data/VID/<split>/<video>/%06d.JPEG, contiguous from 0 */
    SELSA_FRAMES_VIDEO,      /* any container/codec FFmpeg decodes (mp4, avi, mkv, ...) */
    SELSA_FRAMES_LIST        /* text file, one image path per line */
} selsa_frames_kind;

typedef struct selsa_frame_source selsa_frame_source;

/* Auto-detect: a directory → FOLDER (VID_DIR when every file is %06d.JPEG), a file ending in
 * .txt or .lst → LIST, any other file → VIDEO. */
selsa_status selsa_frames_open(const char *path, selsa_frame_source **out);

/* Folder of frames. Files with extension .JPEG/.jpg/.jpeg/.png (case-insensitive) are sorted
 * by the numeric value of the LAST run of digits in their name (2.jpg < 10.jpg; ties and files
 * without digits — placed after numbered ones — by name). Other files are ignored. Fails with
 * SELSA_ERR_IO if the folder cannot be read or holds no frames. */
selsa_status selsa_frames_open_folder(const char *dir, selsa_frame_source **out);
/* ImageNet VID video directory: <root>/Data/VID/<video>/ where <video> is e.g.
 * "val/ILSVRC2015_val_00007010" (root may be NULL, then `video` is the directory itself).
 * The frames must be 000000.JPEG … N-1 without gaps (SELSA_ERR_FORMAT naming the first gap). */
selsa_status selsa_frames_open_vid(const char *root, const char *video, selsa_frame_source **out);
/* Video file through libavformat/libavcodec/libswscale, converted to BGR24. */
selsa_status selsa_frames_open_video(const char *path, selsa_frame_source **out);
/* Image list: one path per line; empty lines and lines starting with '#' are skipped; relative
 * paths are relative to the list file's directory. */
selsa_status selsa_frames_open_list(const char *path, selsa_frame_source **out);

/* Decode the next frame into `frame` (its buffer is reused, see image.h). *index receives the
 * frame's 0-based position, or -1 at the end of the sequence (SELSA_OK, frame untouched).
 * Errors name the file (and frame) that failed. */
selsa_status selsa_frames_next(selsa_frame_source *fs, selsa_image *frame, int64_t *index);

/* Number of frames when known (folders, lists, VID dirs; videos whose container states it),
 * else -1. For videos the stated count is the container's and may be approximate. */
int64_t selsa_frames_count(const selsa_frame_source *fs);
selsa_frames_kind selsa_frames_get_kind(const selsa_frame_source *fs);
/* Path of the file the last frame came from (folder/list/VID dir), or the video path. */
const char *selsa_frames_current_path(const selsa_frame_source *fs);
void selsa_frames_close(selsa_frame_source *fs);

/* ---- the FFmpeg video decoder (src/io/video.c), usable on its own ---- */
typedef struct selsa_video selsa_video;
selsa_status selsa_video_open(const char *path, selsa_video **out);
/* Next decoded frame as BGR24; *got = 0 at the end of the stream. */
selsa_status selsa_video_read(selsa_video *v, selsa_image *frame, int *got);
int64_t selsa_video_frame_count(const selsa_video *v); /* -1 if the container does not say */
void selsa_video_size(const selsa_video *v, int *h, int *w);
double selsa_video_fps(const selsa_video *v); /* 0 if unknown */
void selsa_video_close(selsa_video *v);

#ifdef __cplusplus
}
#endif
#endif
