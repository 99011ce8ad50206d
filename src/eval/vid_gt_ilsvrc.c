/* Ground truth for the VID evaluator from an ILSVRC-layout dataset: every frame listed in
 * VID_val_videos.txt (global id = start + k), objects from Annotations/VID/<video>/%06d.xml with
 * raw boxes (official-selsa.md §10: evaluation uses the XML values unclamped). */
#include <stdio.h>

#include "selsa/dataset.h"
#include "selsa/eval.h"

selsa_status selsa_vid_gt_load_ilsvrc(const char *root, const char *val_list_path,
                                      selsa_vid_gt *gt) {
    if (!root || !val_list_path || !gt)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_vid_gt_load_ilsvrc: NULL argument");
    selsa_imageset set;
    SELSA_TRY(selsa_imageset_read(val_list_path, SELSA_IMAGESET_VID_VAL, &set));
    selsa_status s = SELSA_OK;
    char path[4096];
    for (int64_t v = 0; v < set.n && s == SELSA_OK; v++) {
        const selsa_imageset_entry *e = &set.entries[v];
        for (int k = 0; k < e->seg_len && s == SELSA_OK; k++) {
            s = selsa_vid_gt_add_frame(gt, e->id + k, (int32_t)v, k);
            if (s == SELSA_OK)
                s = selsa_imageset_annotation_path(root, &set, v, e->seg_id + k, path, sizeof path);
            if (s != SELSA_OK) break;
            selsa_annotation a;
            s = selsa_annotation_read(path, SELSA_BOXES_RAW, &a);
            if (s != SELSA_OK) break;
            for (int o = 0; o < a.n_objects && s == SELSA_OK; o++) {
                const selsa_object *ob = &a.objects[o];
                s = selsa_vid_gt_add_object(gt, ob->label, ob->trackid, ob->x1, ob->y1, ob->x2, ob->y2);
            }
            selsa_annotation_free(&a);
        }
    }
    selsa_imageset_free(&set);
    return s;
}
