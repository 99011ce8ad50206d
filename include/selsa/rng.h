/* selsa — deterministic random numbers (PCG32, O'Neill 2014).
 *
 * Every random decision in the library (sampling, augmentation, reference frames, frame
 * shuffles, weight init) draws from an explicit selsa_rng, never from rand(). The state is two
 * integers, so it can be saved in a training checkpoint and restored exactly. */
#ifndef SELSA_RNG_H
#define SELSA_RNG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct selsa_rng {
    uint64_t state;
    uint64_t inc; /* stream selector, always odd */
} selsa_rng;

void selsa_rng_seed(selsa_rng *r, uint64_t seed, uint64_t stream);
uint32_t selsa_rng_u32(selsa_rng *r);
/* Uniform integer in [0, n), unbiased (n >= 1). */
uint32_t selsa_rng_below(selsa_rng *r, uint32_t n);
/* Uniform double in [0, 1) with 53 random bits. */
double selsa_rng_uniform(selsa_rng *r);
/* Uniform float in [lo, hi). */
float selsa_rng_uniform_range(selsa_rng *r, float lo, float hi);
/* Standard normal (Box–Muller, no cached second value so the state stays two integers). */
double selsa_rng_normal(selsa_rng *r);
/* Fisher–Yates shuffle of n int32 values. */
void selsa_rng_shuffle_i32(selsa_rng *r, int32_t *v, int64_t n);

#ifdef __cplusplus
}
#endif
#endif
