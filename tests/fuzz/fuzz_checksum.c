/*
 * The checksum implementations against each other and against a naive byte-by-byte sum, on
 * arbitrary data at arbitrary alignments: csum_partial and csum_copy of every implementation the
 * CPU runs must be bit-identical to the generic one; sums of two pieces combine into the whole;
 * an incremental update equals recomputation.
 *
 * Input: 4 bytes of initial sum, a source and a destination alignment byte, a split point
 * byte, then the data.
 */
#include "fuzz_common.h"

#include "wire/checksum.h"
#include "wire/checksum_impl.h"

#define MAX_DATA 65536
#define PAD 64

static uint8_t src_area[MAX_DATA + 2 * PAD] __attribute__((aligned(64)));
static uint8_t dst_area[MAX_DATA + 2 * PAD] __attribute__((aligned(64)));

static uint32_t naive_partial(const uint8_t *p, size_t len, uint32_t sum)
{
    uint64_t s = 0;
    for (size_t i = 0; i < len; i += 2) {
        uint8_t pair[2] = { p[i], i + 1 < len ? p[i + 1] : 0 };
        uint16_t w;
        memcpy(&w, pair, sizeof w);
        s += w;
    }
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return csum_add(sum, (uint32_t)s);
}

static void check_impls(const uint8_t *src, size_t len, size_t dst_align, uint32_t sum)
{
    uint32_t want = naive_partial(src, len, sum);
    FUZZ_CHECK(csum_partial_generic(src, len, sum) == want);
    FUZZ_CHECK(csum_partial(src, len, sum) == want);
    const struct csum_impl *impls[CSUM_MAX_IMPLS];
    size_t n = csum_impls(impls, CSUM_MAX_IMPLS);
    for (size_t k = 0; k < n; k++) {
        FUZZ_CHECK(impls[k]->partial(src, len, sum) == want);
        uint8_t *dst = dst_area + PAD + dst_align;
        memset(dst - 1, 0x5a, len + 2);   /* the copy's place and a guard byte either side */
        FUZZ_CHECK(impls[k]->copy(dst, src, len, sum) == want);
        FUZZ_CHECK(memcmp(dst, src, len) == 0);
        FUZZ_CHECK(dst[-1] == 0x5a && dst[len] == 0x5a);
    }
}

static void check_split(const uint8_t *src, size_t len, size_t cut)
{
    uint32_t a = csum_partial(src, cut, 0), b = csum_partial(src + cut, len - cut, 0);
    FUZZ_CHECK(csum_fold(csum_add_at(a, b, cut)) == csum_fold(csum_partial(src, len, 0)));
}

/* Treats src as a header whose checksum field lies outside it, changes the 16-bit word at an
 * even offset, and compares RFC 1624's update with recomputation. */
static void check_replace(uint8_t *src, size_t len, size_t at, uint16_t new_val)
{
    if (len < 2)
        return;
    at = (at % (len / 2)) * 2;
    uint16_t check = csum_fold(csum_partial(src, len, 0));
    uint16_t old_val = wire_get16(src + at);
    wire_put16(src + at, new_val);
    uint16_t recomputed = csum_fold(csum_partial(src, len, 0));
    wire_put16(src + at, old_val);
    /* All-zero data, before or after, gives 0xffff, a field value no real header has (its
     * version or length field is never zero); the update gives 0x0000 there instead. */
    if (check == 0xffff || recomputed == 0xffff)
        return;
    FUZZ_CHECK(csum_replace16(check, old_val, new_val) == recomputed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 7)
        return 0;
    uint32_t sum = wire_get32(data);
    size_t src_align = data[4] % PAD, dst_align = data[5] % PAD, cut_byte = data[6];
    data += 7;
    size -= 7;
    if (size > MAX_DATA)
        size = MAX_DATA;
    uint8_t *src = src_area + PAD + src_align;
    memcpy(src, data, size);
    check_impls(src, size, dst_align, sum);
    check_split(src, size, size ? cut_byte % (size + 1) : 0);
    check_replace(src, size, cut_byte, (uint16_t)sum);
    return 0;
}
