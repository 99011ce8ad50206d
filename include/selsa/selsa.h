/* selsa — SELSA video object detection in C. Umbrella header of the public API.
 *
 * Layers (docs/ARCHITECTURE.md): core (status, tensor, arena, rng, context) → ops (dispatched
 * to a backend) → model → io/data/train/eval → cli. Include this header, or the specific ones. */
#ifndef SELSA_SELSA_H
#define SELSA_SELSA_H

#define SELSA_VERSION_MAJOR 0
#define SELSA_VERSION_MINOR 1
#define SELSA_VERSION_PATCH 0
#define SELSA_VERSION_STRING "0.1.0"

/* core */
#include "selsa/arena.h"
#include "selsa/context.h"
#include "selsa/fileio.h"
#include "selsa/rng.h"
#include "selsa/status.h"
#include "selsa/tensor.h"
/* ops (dispatched to the context's backend) */
#include "selsa/boxes.h"
#include "selsa/ops_attn.h"
#include "selsa/ops_dense.h"
#include "selsa/ops_elem.h"
#include "selsa/ops_roi.h"
/* formats, data, configuration */
#include "selsa/classes.h"
#include "selsa/config.h"
#include "selsa/dataset.h"
#include "selsa/detections_json.h"
#include "selsa/frames.h"
#include "selsa/image.h"
#include "selsa/weights.h"
/* models: loading, per-video schedules and streaming (online) detection */
#include "selsa/model_mmtrack.h"
#include "selsa/model_official.h"
/* evaluation */
#include "selsa/eval.h"

#endif
