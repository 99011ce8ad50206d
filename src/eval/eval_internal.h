/* Internal helpers shared by src/eval/vid_eval.c and src/eval/motion_iou.c. */
#ifndef SELSA_EVAL_INTERNAL_H
#define SELSA_EVAL_INTERNAL_H

/* Inclusive-pixel IoU exactly as the official evaluator computes it (vid-eval.md §3):
 * iw = min(x2) − max(x1) + 1, ih likewise; only iw > 0 and ih > 0 overlap; union with +1 areas.
 * Returns −1 when the boxes do not overlap (callers decide what that means). The expression
 * order matches the Python code so the result is bit-identical (no FMA: -std=c11 implies
 * -ffp-contract=off in GCC). */
static inline double selsa_vid_iou_or_neg(const double *bb, const double *gt) {
    double bi0 = bb[0] > gt[0] ? bb[0] : gt[0];
    double bi1 = bb[1] > gt[1] ? bb[1] : gt[1];
    double bi2 = bb[2] < gt[2] ? bb[2] : gt[2];
    double bi3 = bb[3] < gt[3] ? bb[3] : gt[3];
    double iw = bi2 - bi0 + 1.0;
    double ih = bi3 - bi1 + 1.0;
    if (!(iw > 0 && ih > 0)) return -1.0;
    double ua = (bb[2] - bb[0] + 1.) * (bb[3] - bb[1] + 1.) +
                (gt[2] - gt[0] + 1.) * (gt[3] - gt[1] + 1.) - iw * ih;
    return iw * ih / ua;
}

#endif
