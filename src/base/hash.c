/*
 * SipHash-2-4, written from the algorithm's description: a 256-bit state initialised from the
 * key and four constants, two ARX rounds per 64-bit message word, the length in the last word's
 * top byte, four finalisation rounds.
 */
#include "base/hash.h"

#include <string.h>
#include <sys/random.h>

#include "base/clock.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

struct sip_state {
    uint64_t v0, v1, v2, v3;
};

static inline void sip_round(struct sip_state *s)
{
    s->v0 += s->v1;
    s->v1 = ROTL(s->v1, 13);
    s->v1 ^= s->v0;
    s->v0 = ROTL(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = ROTL(s->v3, 16);
    s->v3 ^= s->v2;
    s->v0 += s->v3;
    s->v3 = ROTL(s->v3, 21);
    s->v3 ^= s->v0;
    s->v2 += s->v1;
    s->v1 = ROTL(s->v1, 17);
    s->v1 ^= s->v2;
    s->v2 = ROTL(s->v2, 32);
}

static inline void sip_absorb(struct sip_state *s, uint64_t m)
{
    s->v3 ^= m;
    sip_round(s);
    sip_round(s);
    s->v0 ^= m;
}

uint64_t siphash24(const struct hash_key *key, const void *data, size_t len)
{
    struct sip_state s = {
        .v0 = key->k0 ^ UINT64_C(0x736f6d6570736575),
        .v1 = key->k1 ^ UINT64_C(0x646f72616e646f6d),
        .v2 = key->k0 ^ UINT64_C(0x6c7967656e657261),
        .v3 = key->k1 ^ UINT64_C(0x7465646279746573),
    };
    const uint8_t *p = data;
    size_t whole = len & ~(size_t)7;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m;
        memcpy(&m, p + i, 8);   /* little-endian words, as the algorithm specifies (x86) */
        sip_absorb(&s, m);
    }
    uint64_t last = (uint64_t)len << 56;
    for (size_t i = 0; i < (len & 7); i++)
        last |= (uint64_t)p[whole + i] << (8 * i);
    sip_absorb(&s, last);
    s.v2 ^= 0xff;
    for (int i = 0; i < 4; i++)
        sip_round(&s);
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

void hash_key_random(struct hash_key *key)
{
    if (getrandom(key, sizeof(*key), 0) == (ssize_t)sizeof(*key))
        return;
    /* getrandom cannot fail for 16 bytes once the pool is initialised; if it ever does, fall
     * back to something that at least differs per process and per call. */
    uint64_t t = clk_mono_ns();
    key->k0 = t * UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t)(uintptr_t)key;
    key->k1 = ROTL(t, 17) ^ UINT64_C(0xa0761d6478bd642f);
}
