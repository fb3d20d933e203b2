/*
 * The Internet checksum: known values from the RFCs and real headers; every implementation
 * (generic, AVX2, AVX-512, as this CPU allows) against a naive byte-by-byte reference and against
 * each other at every length and alignment, bit for bit; copy-with-checksum; combining partial
 * sums; the pseudo-header; RFC 1624 incremental updates.
 */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wire/checksum.h"
#include "wire/checksum_impl.h"
#include "wire/wire.h"

#define EXHAUSTIVE_MAX_LEN 1536      /* every length up to here, at every alignment */
#define ALIGNMENTS 64
#define GUARD 64                     /* bytes checked around a copy's destination */

/* The naive reference: 16-bit words in memory order, the odd last byte padded with zero
 * (RFC 1071 4.1), added into a wide integer, then end-around carries until 16 bits remain:
 * the canonical value checksum.c documents (0 only when all words are 0). */
static uint32_t ref_partial(const uint8_t *p, size_t len, uint32_t sum)
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

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void fill_random(uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)rng_next();
}

/* 64-byte aligned memory (C11 wants the size a multiple of the alignment). */
static uint8_t *alloc64(size_t size)
{
    uint8_t *p = aligned_alloc(64, (size + 63) & ~(size_t)63);
    assert_non_null(p);
    return p;
}

static size_t all_impls(const struct csum_impl **impls)
{
    size_t n = csum_impls(impls, CSUM_MAX_IMPLS);
    assert_true(n >= 1);
    assert_string_equal(impls[0]->name, "generic");
    return n;
}

/* The checksum field value as bytes in network order. */
static void folded_bytes(uint32_t partial, uint8_t out[2])
{
    uint16_t field = csum_fold(partial);
    memcpy(out, &field, sizeof field);
}

static void test_rfc1071_example_sums_to_ddf2(void **state)
{
    (void)state;
    /* RFC 1071 3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to dd f2 (big-endian). */
    static const uint8_t data[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
    uint8_t field[2];
    folded_bytes(csum_partial(data, sizeof data, 0), field);
    assert_int_equal(field[0], (uint8_t)~0xdd);
    assert_int_equal(field[1], (uint8_t)~0xf2);
}

static void test_ipv4_header_checksum_matches_captured_value(void **state)
{
    (void)state;
    /* A captured IPv4 header whose checksum field holds b8 61. */
    uint8_t hdr[20] = { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                        0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7 };
    assert_int_equal(csum_fold(csum_partial(hdr, sizeof hdr, 0)), 0);
    hdr[10] = hdr[11] = 0;
    uint8_t field[2];
    folded_bytes(csum_partial(hdr, sizeof hdr, 0), field);
    assert_int_equal(field[0], 0xb8);
    assert_int_equal(field[1], 0x61);
}

/* The unrolled 20-byte sum folds to what the general one gives, for random headers at every
 * alignment, all-ones and all-zero ones. */
static void test_partial_20_folds_like_csum_partial(void **state)
{
    (void)state;
    uint8_t mem[24 + 8];
    for (int round = 0; round < 4096; round++) {
        fill_random(mem, sizeof mem);
        if (round == 0)
            memset(mem, 0xff, sizeof mem);
        if (round == 1)
            memset(mem, 0, sizeof mem);
        const uint8_t *h = mem + round % 8;
        assert_int_equal(csum_fold(csum_partial_20(h)),
                         csum_fold(csum_partial_generic(h, 20, 0)));
    }
}

static void test_empty_buffer_returns_the_initial_sum(void **state)
{
    (void)state;
    const struct csum_impl *impls[CSUM_MAX_IMPLS];
    size_t n = all_impls(impls);
    uint8_t dst[1] = { 0x5a };
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(impls[k]->partial(NULL, 0, 0), 0);
        assert_int_equal(impls[k]->partial(dst, 0, 0x12345678), 0x12345678);
        assert_int_equal(impls[k]->copy(dst, "x", 0, 0xffffffff), 0xffffffff);
        assert_int_equal(dst[0], 0x5a);
    }
}

/* Compares every implementation with the reference on buf[0..len), for one initial sum. */
static void check_all_partials(const struct csum_impl **impls, size_t n, const uint8_t *buf,
                               size_t len, uint32_t sum)
{
    uint32_t want = ref_partial(buf, len, sum);
    for (size_t k = 0; k < n; k++) {
        uint32_t got = impls[k]->partial(buf, len, sum);
        if (got != want)
            fail_msg("%s: len %zu align %zu sum %#x: got %#x, reference %#x", impls[k]->name, len,
                     (size_t)((uintptr_t)buf & 63), sum, got, want);
    }
}

static void test_every_impl_matches_reference_at_every_length_and_alignment(void **state)
{
    (void)state;
    const struct csum_impl *impls[CSUM_MAX_IMPLS];
    size_t n = all_impls(impls);
    uint8_t *mem = alloc64(EXHAUSTIVE_MAX_LEN + 2 * ALIGNMENTS);
    fill_random(mem, EXHAUSTIVE_MAX_LEN + 2 * ALIGNMENTS);
    for (size_t align = 0; align < ALIGNMENTS; align++)
        for (size_t len = 0; len <= EXHAUSTIVE_MAX_LEN; len++)
            check_all_partials(impls, n, mem + align, len, (uint32_t)rng_next());
    free(mem);
}

/* All-ones data makes every addition carry: the worst case for lost carries. All-zero data is
 * the one input whose canonical sum is 0 rather than 0xffff. */
static void test_every_impl_handles_all_ones_and_all_zero_data(void **state)
{
    (void)state;
    const struct csum_impl *impls[CSUM_MAX_IMPLS];
    size_t n = all_impls(impls);
    size_t size = 70000 + ALIGNMENTS;
    uint8_t *mem = alloc64(size + 64);
    static const uint8_t fills[] = { 0xff, 0x00, 0x80 };
    static const uint32_t sums[] = { 0, 0xffffffff, 0xffff, 1 };
    for (size_t f = 0; f < sizeof fills; f++) {
        memset(mem, fills[f], size + 64);
        for (size_t align = 0; align < ALIGNMENTS; align += 7)
            for (size_t len = 0; len <= EXHAUSTIVE_MAX_LEN; len++)
                check_all_partials(impls, n, mem + align, len, sums[len % 4]);
        static const size_t long_lens[] = { 4095, 4096, 65535, 65536, 65537, 70000 };
        for (size_t i = 0; i < sizeof long_lens / sizeof long_lens[0]; i++)
            for (size_t align = 0; align < 4; align++)
                check_all_partials(impls, n, mem + align, long_lens[i], sums[i % 4]);
    }
    free(mem);
}

/* The vector code reduces its lane accumulators once per MiB: cross that boundary. */
static void test_every_impl_matches_reference_across_chunk_boundaries(void **state)
{
    (void)state;
    const struct csum_impl *impls[CSUM_MAX_IMPLS];
    size_t n = all_impls(impls);
    size_t mib = (size_t)1 << 20;
    size_t size = 3 * mib + 256;
    uint8_t *mem = alloc64(size);
    static const size_t lens[] = { (1u << 20) - 1, 1u << 20, (1u << 20) + 1, (2u << 20) + 65,
                                   (3u << 20) + 3 };
    for (int pattern = 0; pattern < 2; pattern++) {
        if (pattern == 0)
            fill_random(mem, size);
        else
            memset(mem, 0xff, size);
        for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
            for (size_t align = 0; align < 3; align++)
                check_all_partials(impls, n, mem + align * 33, lens[i], (uint32_t)rng_next());
    }
    free(mem);
}

/* One copy check: the result equals the reference, dst equals src, and the bytes around dst
 * are untouched. */
static void check_copy(const struct csum_impl *impl, uint8_t *dst_area, size_t dst_align,
                       const uint8_t *src, size_t len, uint32_t sum)
{
    size_t area = GUARD + ALIGNMENTS + len + GUARD;
    memset(dst_area, 0xa5, area);
    uint8_t *dst = dst_area + GUARD + dst_align;
    uint32_t got = impl->copy(dst, src, len, sum);
    uint32_t want = ref_partial(src, len, sum);
    if (got != want)
        fail_msg("%s copy: len %zu: got %#x, reference %#x", impl->name, len, got, want);
    if (len)
        assert_memory_equal(dst, src, len);
    for (uint8_t *p = dst_area; p < dst; p++)
        assert_int_equal(*p, 0xa5);
    for (uint8_t *p = dst + len; p < dst_area + area; p++)
        assert_int_equal(*p, 0xa5);
}

static void test_every_impl_copies_and_sums_at_every_length_and_alignment(void **state)
{
    (void)state;
    const struct csum_impl *impls[CSUM_MAX_IMPLS];
    size_t n = all_impls(impls);
    size_t max = 1100;
    uint8_t *src = alloc64(max + 2 * ALIGNMENTS);
    uint8_t *dst_area = alloc64(2 * GUARD + 2 * ALIGNMENTS + max + 64);
    fill_random(src, max + 2 * ALIGNMENTS);
    for (size_t k = 0; k < n; k++)
        for (size_t align = 0; align < ALIGNMENTS; align++)
            for (size_t len = 0; len <= max; len++)
                check_copy(impls[k], dst_area, (align * 7 + len) % ALIGNMENTS, src + align, len,
                           (uint32_t)rng_next());
    free(src);
    free(dst_area);
}

static void test_copy_of_large_buffers_matches_reference(void **state)
{
    (void)state;
    const struct csum_impl *impls[CSUM_MAX_IMPLS];
    size_t n = all_impls(impls);
    size_t max = (2u << 20) + 77;
    uint8_t *src = alloc64(max + 64);
    uint8_t *dst_area = alloc64(2 * GUARD + ALIGNMENTS + max + 64);
    fill_random(src, max + 64);
    static const size_t lens[] = { 65536, 65537, (1u << 20) + 1, (2u << 20) + 77 };
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
            check_copy(impls[k], dst_area, i * 5, src + i, lens[i], 0);
    free(src);
    free(dst_area);
}

static void test_dispatched_functions_agree_with_generic(void **state)
{
    (void)state;
    uint8_t buf[3000], dst[3000];
    fill_random(buf, sizeof buf);
    for (size_t len = 0; len < sizeof buf; len += 37) {
        assert_int_equal(csum_partial(buf + 1, len - (len > 0), 7),
                         csum_partial_generic(buf + 1, len - (len > 0), 7));
        assert_int_equal(csum_copy(dst, buf, len, 9), csum_copy_generic(dst + 1, buf, len, 9));
    }
}

static void test_best_impl_is_selected_and_can_be_changed(void **state)
{
    (void)state;
    const struct csum_impl *impls[CSUM_MAX_IMPLS];
    size_t n = all_impls(impls);
    const char *best = impls[n - 1]->name;
    assert_string_equal(csum_impl_name(), best);
    if (__builtin_cpu_supports("avx512bw"))
        assert_string_equal(best, "avx512");
    assert_int_equal(csum_select("generic"), 0);
    assert_string_equal(csum_impl_name(), "generic");
    assert_int_equal(csum_select("no-such-impl"), -ENOENT);
    assert_string_equal(csum_impl_name(), "generic");
    assert_int_equal(csum_select(best), 0);
    assert_string_equal(csum_impl_name(), best);
}

/* RFC 1071 2(A),(B): sums of pieces combine into the sum of the whole, whatever the split,
 * provided a piece starting at an odd offset is byte-swapped (csum_add_at). */
static void test_partial_sums_of_pieces_combine_at_any_split(void **state)
{
    (void)state;
    uint8_t buf[301];
    fill_random(buf, sizeof buf);
    for (size_t len = 0; len <= sizeof buf; len += 25) {
        uint16_t whole = csum_fold(csum_partial(buf, len, 0));
        for (size_t cut = 0; cut <= len; cut++) {
            uint32_t a = csum_partial(buf, cut, 0);
            uint32_t b = csum_partial(buf + cut, len - cut, 0);
            assert_int_equal(csum_fold(csum_add_at(a, b, cut)), whole);
        }
    }
}

static void test_pseudo_header_equals_sum_of_its_bytes(void **state)
{
    (void)state;
    for (int i = 0; i < 10000; i++) {
        uint32_t src = (uint32_t)rng_next(), dst = (uint32_t)rng_next();
        uint8_t proto = (uint8_t)rng_next();
        uint16_t len = (uint16_t)rng_next();
        if (i == 0)
            src = dst = proto = len = 0;
        /* RFC 793 3.1: source, destination, zero, protocol, TCP length. */
        uint8_t ph[12];
        wire_put32(ph, src);
        wire_put32(ph + 4, dst);
        ph[8] = 0;
        ph[9] = proto;
        wire_put16(ph + 10, len);
        assert_int_equal(csum_ipv4_pseudo(src, dst, proto, len), csum_partial(ph, sizeof ph, 0));
    }
}

static void store_check(uint8_t *p, uint16_t check)
{
    memcpy(p, &check, sizeof check);
}

static uint16_t load_check(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void test_replace16_matches_recomputation_of_ipv4_header(void **state)
{
    (void)state;
    uint8_t hdr[20] = { 0x45, 0x00, 0x00, 0x3c, 0x6b, 0x1c, 0x40, 0x00, 0x40, 0x06,
                        0x00, 0x00, 0xc6, 0x12, 0x00, 0x01, 0xc6, 0x12, 0x00, 0x02 };
    store_check(hdr + 10, csum_fold(csum_partial(hdr, sizeof hdr, 0)));
    for (int i = 0; i < 100000; i++) {
        size_t at = 2 * (rng_next() % 10);
        if (at == 10)
            continue;                         /* not the checksum field itself */
        uint16_t old_val = wire_get16(hdr + at);
        uint16_t new_val = (uint16_t)rng_next();
        if (i % 3 == 0)
            new_val = (uint16_t)(old_val - 0x100);   /* a TTL decrement */
        uint16_t incremental = csum_replace16(load_check(hdr + 10), old_val, new_val);
        wire_put16(hdr + at, new_val);
        store_check(hdr + 10, 0);
        uint16_t full = csum_fold(csum_partial(hdr, sizeof hdr, 0));
        assert_int_equal(incremental, full);
        store_check(hdr + 10, full);
    }
}

static void test_replace16_gives_rfc1624_example_result(void **state)
{
    (void)state;
    /* RFC 1624 4: the rest of the header sums to 0xcd7a; m = 0x5555 becomes 0x3285. The old
     * checksum is 0xdd2f; recomputation gives 0x0000, and so must eqn. 3 (RFC 1141's eqn. 2
     * would give 0xffff). */
    uint8_t old_field[2] = { 0xdd, 0x2f };
    uint8_t new_field[2];
    store_check(new_field, csum_replace16(load_check(old_field), 0x5555, 0x3285));
    assert_int_equal(new_field[0], 0x00);
    assert_int_equal(new_field[1], 0x00);
}

static void test_replace16_of_unchanged_field_keeps_zero_checksum(void **state)
{
    (void)state;
    /* RFC 1624 erratum 4782: with pure one's complement arithmetic, eqn. 3 turns a checksum of
     * 0x0000 into 0xffff when the field does not change. Ours must leave it alone. */
    assert_int_equal(csum_replace16(0x0000, 0x5555, 0x5555), 0x0000);
    assert_int_equal(csum_replace32(0x0000, 0x12345678, 0x12345678), 0x0000);
    for (int i = 0; i < 1000; i++) {
        uint16_t check = (uint16_t)rng_next(), v = (uint16_t)rng_next();
        if (check == 0xffff)
            continue;                  /* not a value a full computation produces */
        assert_int_equal(csum_replace16(check, v, v), check);
    }
}

static void test_replace32_matches_recomputation_after_address_rewrite(void **state)
{
    (void)state;
    uint8_t hdr[20] = { 0x45, 0x00, 0x00, 0x54, 0x3c, 0x5a, 0x40, 0x00, 0x40, 0x01,
                        0x00, 0x00, 0xc6, 0x12, 0x00, 0x01, 0xc6, 0x12, 0x00, 0x02 };
    store_check(hdr + 10, csum_fold(csum_partial(hdr, sizeof hdr, 0)));
    for (int i = 0; i < 100000; i++) {
        size_t at = (i & 1) ? 12 : 16;           /* a NAT rewriting source or destination */
        uint32_t old_val = wire_get32(hdr + at);
        uint32_t new_val = (uint32_t)rng_next();
        uint16_t incremental = csum_replace32(load_check(hdr + 10), old_val, new_val);
        wire_put32(hdr + at, new_val);
        store_check(hdr + 10, 0);
        uint16_t full = csum_fold(csum_partial(hdr, sizeof hdr, 0));
        assert_int_equal(incremental, full);
        store_check(hdr + 10, full);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc1071_example_sums_to_ddf2),
        cmocka_unit_test(test_ipv4_header_checksum_matches_captured_value),
        cmocka_unit_test(test_partial_20_folds_like_csum_partial),
        cmocka_unit_test(test_empty_buffer_returns_the_initial_sum),
        cmocka_unit_test(test_every_impl_matches_reference_at_every_length_and_alignment),
        cmocka_unit_test(test_every_impl_handles_all_ones_and_all_zero_data),
        cmocka_unit_test(test_every_impl_matches_reference_across_chunk_boundaries),
        cmocka_unit_test(test_every_impl_copies_and_sums_at_every_length_and_alignment),
        cmocka_unit_test(test_copy_of_large_buffers_matches_reference),
        cmocka_unit_test(test_dispatched_functions_agree_with_generic),
        cmocka_unit_test(test_best_impl_is_selected_and_can_be_changed),
        cmocka_unit_test(test_partial_sums_of_pieces_combine_at_any_split),
        cmocka_unit_test(test_pseudo_header_equals_sum_of_its_bytes),
        cmocka_unit_test(test_replace16_matches_recomputation_of_ipv4_header),
        cmocka_unit_test(test_replace16_gives_rfc1624_example_result),
        cmocka_unit_test(test_replace16_of_unchanged_field_keeps_zero_checksum),
        cmocka_unit_test(test_replace32_matches_recomputation_after_address_rewrite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
