/*
 * The Internet checksum (RFC 1071), its incremental update (RFC 1624), and copy-with-checksum.
 *
 * Sums are kept as a 32-bit "partial" over 16-bit words taken in memory order; the one's
 * complement sum does not depend on byte order (RFC 1071 2(B)), so a folded result is stored
 * into a header as it is (memcpy, no byte swap) and a correct packet sums to 0xffff.
 *
 *   partial = csum_partial(buf, len, 0)              sum a buffer
 *   partial = csum_add(partial, other)                combine sums of adjacent pieces
 *   partial = csum_add_at(partial, other, offset)     ... when `other` starts at an odd offset
 *   field   = csum_fold(partial)                      the value to store in the checksum field
 *   ok      = csum_fold(partial_over_everything) == 0 verification
 *
 * csum_partial and csum_copy pick an AVX2 or AVX-512 implementation at load time where the CPU
 * has it, and a portable 64-bit one otherwise; all give identical results.
 */
#ifndef UST_WIRE_CHECKSUM_H
#define UST_WIRE_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* One's complement sum of buf[0..len) added to `sum`; an odd last byte is padded with zero. */
uint32_t csum_partial(const void *buf, size_t len, uint32_t sum);

/* Copies src to dst (non-overlapping) and returns csum_partial(src, len, sum). */
uint32_t csum_copy(void *dst, const void *src, size_t len, uint32_t sum);

/* The portable implementations, always available (tests compare the others against them). */
uint32_t csum_partial_generic(const void *buf, size_t len, uint32_t sum);
uint32_t csum_copy_generic(void *dst, const void *src, size_t len, uint32_t sum);
/* Name of the implementation csum_partial uses ("generic", "avx2", "avx512"). */
const char *csum_impl_name(void);

static inline uint32_t csum_add(uint32_t a, uint32_t b)
{
    uint32_t s = a + b;
    return s + (s < a);
}

/* Adds the partial sum of a piece that starts `offset` bytes into the summed range: a piece at
 * an odd offset has its bytes in the other halves of the 16-bit words. */
static inline uint32_t csum_add_at(uint32_t sum, uint32_t piece, size_t offset)
{
    if (offset & 1)
        piece = ((piece & 0x00ff00ffu) << 8) | ((piece >> 8) & 0x00ff00ffu);
    return csum_add(sum, piece);
}

/* Folds a partial to 16 bits and complements it: the checksum field value, in memory order. */
static inline uint16_t csum_fold(uint32_t sum)
{
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* csum_partial of a 20-byte IPv4 header (no options), without a call and a loop: five 32-bit
 * words added with end-around carry in 64 bits, the way RFC 1071 4.1 suggests for wider
 * machines. */
static inline uint32_t csum_partial_20(const void *buf)
{
    const uint8_t *b = buf;
    uint32_t w[5];
    __builtin_memcpy(w, b, sizeof w);   /* written out: -O2 does not unroll a loop of five */
    uint64_t s = (uint64_t)w[0] + w[1] + w[2] + w[3] + w[4];
    s = (s & 0xffffffffu) + (s >> 32);
    s = (s & 0xffffffffu) + (s >> 32);
    return (uint32_t)s;
}

/* The partial sum of the IPv4 pseudo-header (RFC 793 3.1, RFC 768). Addresses and length are
 * host order. */
uint32_t csum_ipv4_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t l4_len);

/* RFC 1624 eqn. 3: the new checksum field after a 16-bit field changes from old to new.
 * `check` and the result are in memory order (as stored); old/new are host-order values. */
uint16_t csum_replace16(uint16_t check, uint16_t old_val, uint16_t new_val);
uint16_t csum_replace32(uint16_t check, uint32_t old_val, uint32_t new_val);

#endif
