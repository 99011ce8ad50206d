/* selsa — ImageNet VID/DET dataset reader (official-selsa.md §11, §8.2).
 *
 * Layout under a root (e.g. data/ILSVRC2015):
 *   Data/{DET,VID}/...      images      DET: Data/DET/<entry>.JPEG
 *   Annotations/{DET,VID}/  VOC XML     VID: Data/VID/<video>/%06d.JPEG, Annotations/VID/<video>/%06d.xml
 *   ImageSets/              the lists below
 * Lists (space-separated; parsed into selsa_imageset):
 *   DET_train_30classes.txt  "<path under Data/DET, no .JPEG> 1"                    (2 columns)
 *   VID_train_15frames.txt   "<video dir> 1 <frame_seg_id> <frame_seg_len>"         (4 columns)
 *   VID_val_videos.txt       "<video dir> <global start id, 1-based> 0 <num frames>" (4 columns)
 * Annotations are read with expat; objects of classes outside the 30 VID classes
 * (selsa/classes.h) are skipped. Boxes: SELSA_BOXES_TRAIN clamps to x1,y1 >= 0, x2 <= W-1,
 * y2 <= H-1 (training roidb); SELSA_BOXES_RAW keeps the XML values (evaluation). */
#ifndef SELSA_DATASET_H
#define SELSA_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "selsa/classes.h"
#include "selsa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- image-set lists ---- */

typedef enum selsa_imageset_kind {
    SELSA_IMAGESET_DET_TRAIN = 0, /* DET_train_30classes.txt */
    SELSA_IMAGESET_VID_TRAIN,     /* VID_train_15frames.txt */
    SELSA_IMAGESET_VID_VAL        /* VID_val_videos.txt */
} selsa_imageset_kind;

typedef struct selsa_imageset_entry {
    const char *path; /* column 1: DET entry or VID video dir (points into the set's text) */
    int64_t id;       /* column 2: frame_id (DET, VID train; always 1) or global start id (val) */
    int seg_id;       /* column 3: frame_seg_id (VID train) / first frame, 0 (val); 0 for DET */
    int seg_len;      /* column 4: frame_seg_len (VID train) / number of frames (val); 1 for DET */
} selsa_imageset_entry;

typedef struct selsa_imageset {
    selsa_imageset_kind kind;
    selsa_imageset_entry *entries; /* [n] in file order */
    int64_t n;
    char *text;                    /* owned file contents the paths point into */
} selsa_imageset;

/* Parse a list. Malformed lines (wrong column count, non-integer or out-of-range fields, seg_id
 * outside [0, seg_len), val ids not contiguous) give SELSA_ERR_FORMAT with "file:line: ...".
 * Empty lines are skipped (the official files have none; the last line may lack '\n'). */
selsa_status selsa_imageset_read(const char *path, selsa_imageset_kind kind, selsa_imageset *out);
void selsa_imageset_free(selsa_imageset *set);
/* Number of distinct paths (videos for VID lists, images for DET). */
int64_t selsa_imageset_count_unique(const selsa_imageset *set);
/* Sum of seg_len over entries (VID val: total frames). */
int64_t selsa_imageset_total_frames(const selsa_imageset *set);

/* Paths for entry i (frame = the VID frame number; ignored for DET; for VID train pass
 * entries[i].seg_id). Written into buf (cap bytes); SELSA_ERR_INVALID_ARG if it does not fit. */
selsa_status selsa_imageset_image_path(const char *root, const selsa_imageset *set, int64_t i,
                                       int frame, char *buf, size_t cap);
selsa_status selsa_imageset_annotation_path(const char *root, const selsa_imageset *set, int64_t i,
                                            int frame, char *buf, size_t cap);

/* ---- annotations ---- */

typedef enum selsa_box_mode {
    SELSA_BOXES_RAW = 0, /* XML values unchanged (evaluation) */
    SELSA_BOXES_TRAIN    /* clamped into the image (training) */
} selsa_box_mode;

typedef struct selsa_object {
    int label;         /* 1..30 (selsa/classes.h) */
    float x1, y1, x2, y2; /* inclusive pixel box (integers in the XML) */
    int trackid;       /* VID track id; -1 if absent (DET) */
    int occluded;      /* VID flag; -1 if absent */
    int generated;     /* VID flag; -1 if absent */
    int line;          /* XML line of the <object> element (for messages) */
} selsa_object;

typedef struct selsa_annotation {
    int width, height;      /* size/width, size/height */
    selsa_object *objects;  /* [n_objects], XML order of the kept objects */
    int n_objects;
    int n_skipped;          /* objects of other classes */
} selsa_annotation;

/* Parse one VOC-style XML file. Errors (all naming the file, and the line where known):
 * missing/unreadable file (SELSA_ERR_IO); malformed XML (expat's message and line); missing or
 * non-positive size; an object without name or bndbox; non-integer coordinates; an inverted box
 * (x2 < x1 or y2 < y1) or one lying entirely outside the image (SELSA_ERR_FORMAT). */
selsa_status selsa_annotation_read(const char *xml_path, selsa_box_mode mode, selsa_annotation *out);
/* The same from a string; `name` is used in messages. */
selsa_status selsa_annotation_parse(const char *xml, size_t len, const char *name,
                                    selsa_box_mode mode, selsa_annotation *out);
void selsa_annotation_free(selsa_annotation *a);
/* Horizontal flip of every box: x1' = W - x2 - 1, x2' = W - x1 - 1 (official flip rule). */
void selsa_annotation_flip(selsa_annotation *a);

#ifdef __cplusplus
}
#endif
#endif
