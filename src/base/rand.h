/*
 * A small, fast, seedable pseudo-random generator (xoshiro256**, seeded through splitmix64).
 *
 * For simulation and randomised choices that must be reproducible from a seed: fault injection,
 * test traffic, jitter. NOT for anything an attacker must not predict (initial sequence numbers,
 * ephemeral ports): those use a keyed hash over a secret.
 */
#ifndef UST_BASE_RAND_H
#define UST_BASE_RAND_H

#include <stdint.h>

struct rng {
    uint64_t s[4];
};

void rng_seed(struct rng *r, uint64_t seed);

static inline uint64_t rng_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rng_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rng_rotl(s[3], 45);
    return result;
}

/* Uniform in [0, bound) (bound > 0), without modulo bias worth caring about for bound < 2^32. */
static inline uint32_t rng_below(struct rng *r, uint32_t bound)
{
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)bound) >> 32);
}

/* Uniform in [0, 1). */
static inline double rng_unit(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* True with probability p (p <= 0 never, p >= 1 always). */
static inline int rng_chance(struct rng *r, double p)
{
    return p > 0 && rng_unit(r) < p;
}

#endif
