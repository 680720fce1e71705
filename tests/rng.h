/*
 * splitmix64: a tiny seeded generator for reproducible tests and benchmarks
 * (the same seed gives the same schedule, so a failing seed can be re-run).
 * Not for anything secret: keys and nonces come from libsodium.
 */
#ifndef FIELDSYNC_TEST_RNG_H
#define FIELDSYNC_TEST_RNG_H

#include <stdint.h>

typedef struct rng {
    uint64_t s;
} rng;

static inline uint64_t rng_next(rng *g)
{
    uint64_t z = (g->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform enough below n (n > 0) for tests. */
static inline unsigned rng_below(rng *g, unsigned n)
{
    return (unsigned)(rng_next(g) % n);
}

#endif
