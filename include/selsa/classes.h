/* selsa — the 30 ImageNet VID classes (official-selsa.md §11.1).
 *
 * Index 0 is __background__; object classes are 1..30 in the official order, which is the
 * label order of the detector outputs, of the detection text format (vid-eval.md §2.3) and of
 * every per-class table. Shared by the dataset reader, the evaluator and the CLI. */
#ifndef SELSA_CLASSES_H
#define SELSA_CLASSES_H

#ifdef __cplusplus
extern "C" {
#endif

#define SELSA_VID_NUM_CLASSES 30 /* object classes, labels 1..30 */

typedef struct selsa_vid_class {
    int index;        /* 0..30 (0 = background) */
    const char *wnid; /* WordNet id as in the XML <name>, e.g. "n02691156" */
    const char *name; /* human name, e.g. "airplane" */
} selsa_vid_class;

/* selsa_vid_classes[i].index == i for i = 0..30. */
extern const selsa_vid_class selsa_vid_classes[SELSA_VID_NUM_CLASSES + 1];

/* Label 1..30 of a wnid, or 0 if it is not one of the 30 classes (or NULL). */
int selsa_vid_class_from_wnid(const char *wnid);
/* Label 1..30 of a class name ("domestic_cat"), or 0 if unknown. */
int selsa_vid_class_from_name(const char *name);
/* Name of label 0..30, or "?" if out of range. */
const char *selsa_vid_class_name(int index);
/* WordNet id of label 0..30, or "?" if out of range. */
const char *selsa_vid_class_wnid(int index);

#ifdef __cplusplus
}
#endif
#endif
