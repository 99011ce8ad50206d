#include "selsa/rng.h"

#include <math.h>

void selsa_rng_seed(selsa_rng *r, uint64_t seed, uint64_t stream) {
    r->state = 0;
    r->inc = (stream << 1u) | 1u;
    (void)selsa_rng_u32(r);
    r->state += seed;
    (void)selsa_rng_u32(r);
}

uint32_t selsa_rng_u32(selsa_rng *r) {
    uint64_t old = r->state;
    r->state = old * 6364136223846793005ULL + r->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31));
}

uint32_t selsa_rng_below(selsa_rng *r, uint32_t n) {
    if (n <= 1) return 0;
    uint32_t threshold = (uint32_t)(-n) % n; /* rejection removes modulo bias */
    for (;;) {
        uint32_t x = selsa_rng_u32(r);
        if (x >= threshold) return x % n;
    }
}

double selsa_rng_uniform(selsa_rng *r) {
    uint64_t hi = selsa_rng_u32(r) >> 5;  /* 27 bits */
    uint64_t lo = selsa_rng_u32(r) >> 6;  /* 26 bits */
    return (double)(hi * 67108864ULL + lo) * (1.0 / 9007199254740992.0);
}

float selsa_rng_uniform_range(selsa_rng *r, float lo, float hi) {
    float v = (float)(lo + (hi - lo) * selsa_rng_uniform(r));
    return v < hi ? v : lo; /* guard the rounding edge */
}

double selsa_rng_normal(selsa_rng *r) {
    double u1 = selsa_rng_uniform(r);
    double u2 = selsa_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void selsa_rng_shuffle_i32(selsa_rng *r, int32_t *v, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = selsa_rng_below(r, (uint32_t)(i + 1));
        int32_t t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}
