/*
 * Keyed hashing.
 *
 * siphash24() is SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed pseudo-random function, for
 * values an off-path attacker must not predict (ephemeral ports per RFC 6056, IPv4 IDs, initial
 * sequence numbers per RFC 6528). hash_flow() is a fast keyed mix for spreading connections over
 * hash buckets; with a secret seed an attacker cannot aim many flows at one bucket cheaply.
 */
#ifndef UST_BASE_HASH_H
#define UST_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

struct hash_key {
    uint64_t k0, k1;
};

/* Fills a key from the kernel's random source (getrandom). */
void hash_key_random(struct hash_key *key);

uint64_t siphash24(const struct hash_key *key, const void *data, size_t len);

/* Keyed 32-bit mix of up to 96 bits of flow identity (two addresses and two ports). */
static inline uint32_t hash_flow(uint64_t seed, uint32_t a, uint32_t b, uint32_t ports)
{
    uint64_t h = seed ^ ((uint64_t)a << 32 | b);
    h ^= (uint64_t)ports * UINT64_C(0x9e3779b97f4a7c15);
    h ^= h >> 31;
    h *= UINT64_C(0xd6e8feb86659fd93);
    h ^= h >> 29;
    h *= UINT64_C(0xbf58476d1ce4e5b9);
    h ^= h >> 32;
    return (uint32_t)h;
}

#endif
