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

#include "selsa/arena.h"
#include "selsa/context.h"
#include "selsa/rng.h"
#include "selsa/status.h"
#include "selsa/tensor.h"

#endif
