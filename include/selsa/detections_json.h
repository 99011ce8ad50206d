/* selsa — our JSON detection format (JSON Lines, one record per frame; docs/FORMATS.md).
 *
 *   {"frame": 12, "frame_id": 345, "video": "val/ILSVRC2015_val_00007010", "width": 1280,
 *    "height": 720, "detections": [{"class": 3, "name": "bear", "score": 0.912345,
 *    "box": [x1, y1, x2, y2]}, ...]}
 *
 * One record per line, each line a complete JSON object, so a long video streams and a file
 * cut short is still readable up to its last complete line.
 *   frame       required, integer >= 0: index of the frame within its video / input;
 *   frame_id    optional, integer >= 1: the global 1-based id the evaluator uses;
 *   video       optional, string (no NUL): the video / input name;
 *   width       optional, integer >= 1, with height: the original image size;
 *   height      optional, integer >= 1 (width and height: both or neither);
 *   (an optional key whose value is null counts as absent)
 *   detections  required, array (may be empty) of objects:
 *     class     integer 1..30 (selsa/classes.h), and/or
 *     name      the class name ("bear"); at least one of the two; both must agree;
 *     score     finite number in [0, 1];
 *     box       array of exactly 4 finite numbers x1 y1 x2 y2, inclusive pixel coordinates in
 *               the original image (not checked against width/height nor for x1 <= x2, as in
 *               the official text format).
 * Unknown keys (in records and in detections) are ignored, for forward compatibility;
 * duplicate keys are an error (json.h). Blank lines are skipped; a UTF-8 byte order mark at the
 * start of the file is skipped. Numbers are written as the shortest decimal that reads back to
 * the same double, so writer -> reader is bit exact. Errors: SELSA_ERR_FORMAT
 * "<file>:<line>:<column>: <what was wrong>". */
#ifndef SELSA_DETECTIONS_JSON_H
#define SELSA_DETECTIONS_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "selsa/classes.h"
#include "selsa/eval.h"
#include "selsa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct selsa_dets_json_det {
    double box[4]; /* x1 y1 x2 y2, inclusive pixels of the original image */
    double score;  /* finite, [0, 1] */
    int32_t cls;   /* 1..30 */
} selsa_dets_json_det;

typedef struct selsa_dets_json_frame {
    int64_t frame;                   /* >= 0: index within the video / input */
    int64_t frame_id;                /* >= 1: global id; 0 = unknown (key omitted) */
    const char *video;               /* NULL = unknown (key omitted) */
    int32_t width, height;           /* original image size; 0 = unknown (keys omitted) */
    const selsa_dets_json_det *dets; /* [n_dets] */
    int64_t n_dets;
} selsa_dets_json_frame;

/* ------------------------------------------------------------------ writer ---------------- */

/* Write one record and its '\n'. Validates the record first (frame >= 0, frame_id >= 0,
 * width/height both 0 or both >= 1, class 1..30, score in [0, 1], finite box); writes nothing
 * if invalid (SELSA_ERR_INVALID_ARG). SELSA_ERR_IO on a write error. The video name is written
 * as UTF-8; invalid UTF-8 bytes become U+FFFD. */
selsa_status selsa_dets_json_write_frame(FILE *f, const selsa_dets_json_frame *fr);

/* Write n_frames records atomically (temp file, fsync, rename: selsa/fileio.h). */
selsa_status selsa_dets_json_write_file(const char *path, const selsa_dets_json_frame *frames,
                                        int64_t n_frames);

/* Write the evaluator's detections as records, one per frame id in increasing id order,
 * detections of a frame in their input order (the order the evaluator uses for score ties, so
 * evaluating the file read back gives the same result). With videos == NULL: frame =
 * frame_id − 1 and no video; otherwise video = the list's video holding the id and frame =
 * frame_id − its start (an id outside the list is an error). Atomic. */
selsa_status selsa_vid_dets_write_json(const selsa_vid_dets *d, const selsa_vid_val_videos *videos,
                                       const char *path);

/* ------------------------------------------------------------------ reader ---------------- */

/* Called once per record, in file order. fr and everything it points to is valid only during
 * the call. `line` is the record's line number. A non-OK return stops the reading and is
 * returned as is. */
typedef selsa_status (*selsa_dets_json_frame_fn)(const selsa_dets_json_frame *fr, int64_t line,
                                                 void *user);

/* Reader flags. */
#define SELSA_DETS_JSON_ALLOW_TRUNCATED 1u /* an incomplete last line (no '\n', ends inside the
                                              record) is skipped with a warning (selsa_log)
                                              instead of being an error */

/* Parse records from text[0 .. len) (`what` names it in messages). */
selsa_status selsa_dets_json_parse(const char *text, size_t len, const char *what, unsigned flags,
                                   selsa_dets_json_frame_fn fn, void *user);
/* Stream the records of a file (read line by line: memory is bounded by the longest line). */
selsa_status selsa_dets_json_read(const char *path, unsigned flags, selsa_dets_json_frame_fn fn,
                                  void *user);

/* Every record of a file, owned. */
typedef struct selsa_dets_json_file {
    selsa_dets_json_frame *frames; /* [n_frames]; frames[i].dets / .video point into the arrays
                                      below */
    int64_t n_frames;
    selsa_dets_json_det *dets; /* [n_dets], all frames' detections in file order */
    int64_t n_dets;
    int64_t *lines;            /* [n_frames] line number of each record */
    char **names;              /* [n_names] owned video names (consecutive repeats shared) */
    int64_t n_names;
    int64_t cap_frames, cap_dets, cap_names;
} selsa_dets_json_file;

/* Read every record of a file into out (initialised here; free with the function below, also
 * after a failure). */
selsa_status selsa_dets_json_read_file(const char *path, unsigned flags, selsa_dets_json_file *out);
void selsa_dets_json_file_free(selsa_dets_json_file *f);

/* ------------------------------------------------------------------ evaluator inputs ------ */

/* Append every detection of a JSON Lines file to d (selsa_vid_dets_add), with the record's
 * frame_id. A record without frame_id is an error naming file:line:column, unless `videos`
 * (a VID_val_videos.txt list) maps it: then the record needs "video" (a name in the list, with
 * or without the "val/" prefix) and frame_id = start + frame (frame < the video's num_frames).
 * A given frame_id is used as is (and, with videos, must agree with that mapping when the
 * record also has "video"). All-or-nothing: on failure d is left as it was. */
selsa_status selsa_vid_dets_read_json_mapped(selsa_vid_dets *d, const char *path,
                                             const selsa_vid_val_videos *videos);
/* The same with videos == NULL: every record must carry frame_id. */
selsa_status selsa_vid_dets_read_json(selsa_vid_dets *d, const char *path);

/* Detect the format by content: first non-whitespace character (after an optional UTF-8 BOM)
 * '{' -> JSON Lines (selsa_vid_dets_read_json), otherwise the official text format
 * (selsa_vid_dets_read_txt; an empty file gives no detections). */
selsa_status selsa_vid_dets_read_any(selsa_vid_dets *d, const char *path);

#ifdef __cplusplus
}
#endif
#endif
