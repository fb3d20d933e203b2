/*
 * The Internet checksum (see checksum.h): RFC 1071 sums, RFC 1624 incremental updates, the IPv4
 * pseudo-header, and copy-with-checksum.
 *
 * How a sum is formed. Every implementation adds the buffer's 16-bit words (memory order) into
 * wide accumulators and then reduces them to one canonical 16-bit value. End-around carries keep
 * the sum modulo 0xffff (2^16, 2^32 and 2^64 are all 1 modulo 0xffff) and never turn a non-zero
 * sum into zero, so the reduced value is 0 when every word is zero and otherwise the one value in
 * 1..0xffff congruent to the sum of the words. Only then is the caller's partial added
 * (csum_add). The result depends on the data alone, not on the order or width of accumulation,
 * so all implementations return the same 32-bit partial for the same input; the tests and the
 * fuzzer compare them bit for bit.
 *
 * Implementations: "generic" (portable C: 64-bit loads with end-around carry), "avx2" and
 * "avx512" (x86-64 only, compiled with target attributes so the build needs no -march flag).
 * The best one this CPU runs is chosen at load time (by a constructor, or by the first call if
 * that comes earlier) and can be changed with csum_select() (checksum_impl.h).
 */
#include "wire/checksum.h"

#include <errno.h>
#include <string.h>

#include "wire/checksum_impl.h"
#include "wire/wire.h"

/* ---- Arithmetic shared by every implementation ---- */

static inline uint64_t add_carry64(uint64_t a, uint64_t b)
{
    a += b;
    return a + (a < b);
}

/* The canonical 16-bit reduction described above. Each step adds the high part to the low part
 * (an end-around carry), so the value modulo 0xffff and its being non-zero are preserved. */
static inline uint32_t fold_to_16(uint64_t s)
{
    s = (s & 0xffffffffu) + (s >> 32);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    return (uint32_t)s;
}

static inline uint32_t finish(uint64_t acc, uint32_t sum)
{
    return csum_add(sum, fold_to_16(acc));
}

/* A host-order 16-bit value as it reads from memory once stored in network order. */
static inline uint16_t to_mem16(uint16_t host)
{
    uint8_t b[2];
    uint16_t v;
    wire_put16(b, host);
    memcpy(&v, b, sizeof v);
    return v;
}

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The last n < 8 bytes as a zero-padded word: an odd last byte gets a zero byte after it, which
 * is the padding RFC 1071 4.1 prescribes, whatever the host's byte order. */
static inline uint64_t load_tail64(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    memcpy(&v, p, n);
    return v;
}

/* ---- Portable implementation ---- */

static uint64_t sum_generic(const uint8_t *p, size_t len)
{
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (; len >= 32; p += 32, len -= 32) {
        a = add_carry64(a, load64(p));
        b = add_carry64(b, load64(p + 8));
        c = add_carry64(c, load64(p + 16));
        d = add_carry64(d, load64(p + 24));
    }
    for (; len >= 8; p += 8, len -= 8)
        a = add_carry64(a, load64(p));
    if (len)
        b = add_carry64(b, load_tail64(p, len));
    return add_carry64(add_carry64(a, b), add_carry64(c, d));
}

static uint64_t copy_sum_generic(uint8_t *dst, const uint8_t *src, size_t len)
{
    uint64_t a = 0, b = 0;
    for (; len >= 16; src += 16, dst += 16, len -= 16) {
        uint64_t x = load64(src), y = load64(src + 8);
        memcpy(dst, &x, sizeof x);
        memcpy(dst + 8, &y, sizeof y);
        a = add_carry64(a, x);
        b = add_carry64(b, y);
    }
    if (len >= 8) {
        uint64_t x = load64(src);
        memcpy(dst, &x, sizeof x);
        a = add_carry64(a, x);
        src += 8;
        dst += 8;
        len -= 8;
    }
    if (len) {
        memcpy(dst, src, len);
        b = add_carry64(b, load_tail64(src, len));
    }
    return add_carry64(a, b);
}

uint32_t csum_partial_generic(const void *buf, size_t len, uint32_t sum)
{
    return finish(sum_generic(buf, len), sum);
}

uint32_t csum_copy_generic(void *dst, const void *src, size_t len, uint32_t sum)
{
    return finish(copy_sum_generic(dst, src, len), sum);
}

/* ---- x86-64 vector implementations ----
 *
 * Both split each 64-bit lane into its two 32-bit halves and add them into 64-bit lane
 * accumulators: the halves' sum is congruent to the lane's four 16-bit words (2^32 = 1 modulo
 * 0xffff) and is exact, so no carry is ever lost. A lane gains less than 2^34 per step of four
 * vectors; summing at most SIMD_CHUNK bytes before reducing keeps every accumulator, and their
 * total, far below 2^64. (The chunk is small enough for the tests to cross its boundary; one
 * reduction per MiB costs nothing measurable.) */
#if defined(__x86_64__)
#include <immintrin.h>

#define SIMD_CHUNK ((size_t)1 << 20)
#define AVX2 __attribute__((target("avx2")))
#define AVX512 __attribute__((target("avx512f,avx512bw")))

AVX2 static inline __m256i lo32_256(__m256i v)
{
    return _mm256_and_si256(v, _mm256_set1_epi64x(0xffffffff));
}

AVX2 static inline __m256i hi32_256(__m256i v)
{
    return _mm256_srli_epi64(v, 32);
}

AVX2 static inline uint64_t hsum_256(__m256i v)
{
    __m128i s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    return (uint64_t)_mm_cvtsi128_si64(s) + (uint64_t)_mm_extract_epi64(s, 1);
}

/* Sums four vectors into the accumulators; a tree, so each accumulator takes one add per step. */
AVX2 static inline void acc4_256(__m256i v0, __m256i v1, __m256i v2, __m256i v3, __m256i *lo,
                                 __m256i *hi)
{
    __m256i l = _mm256_add_epi64(_mm256_add_epi64(lo32_256(v0), lo32_256(v1)),
                                 _mm256_add_epi64(lo32_256(v2), lo32_256(v3)));
    __m256i h = _mm256_add_epi64(_mm256_add_epi64(hi32_256(v0), hi32_256(v1)),
                                 _mm256_add_epi64(hi32_256(v2), hi32_256(v3)));
    *lo = _mm256_add_epi64(*lo, l);
    *hi = _mm256_add_epi64(*hi, h);
}

/* len <= SIMD_CHUNK. The last len % 32 bytes are summed by the portable code. */
AVX2 static uint64_t sum_avx2(const uint8_t *p, size_t len)
{
    __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
    for (; len >= 128; p += 128, len -= 128)
        acc4_256(_mm256_loadu_si256((const __m256i *)p),
                 _mm256_loadu_si256((const __m256i *)(p + 32)),
                 _mm256_loadu_si256((const __m256i *)(p + 64)),
                 _mm256_loadu_si256((const __m256i *)(p + 96)), &lo, &hi);
    for (; len >= 32; p += 32, len -= 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *)p);
        lo = _mm256_add_epi64(lo, lo32_256(v));
        hi = _mm256_add_epi64(hi, hi32_256(v));
    }
    return add_carry64(hsum_256(_mm256_add_epi64(lo, hi)), sum_generic(p, len));
}

AVX2 static uint64_t copy_sum_avx2(uint8_t *dst, const uint8_t *src, size_t len)
{
    __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
    for (; len >= 128; src += 128, dst += 128, len -= 128) {
        __m256i v0 = _mm256_loadu_si256((const __m256i *)src);
        __m256i v1 = _mm256_loadu_si256((const __m256i *)(src + 32));
        __m256i v2 = _mm256_loadu_si256((const __m256i *)(src + 64));
        __m256i v3 = _mm256_loadu_si256((const __m256i *)(src + 96));
        _mm256_storeu_si256((__m256i *)dst, v0);
        _mm256_storeu_si256((__m256i *)(dst + 32), v1);
        _mm256_storeu_si256((__m256i *)(dst + 64), v2);
        _mm256_storeu_si256((__m256i *)(dst + 96), v3);
        acc4_256(v0, v1, v2, v3, &lo, &hi);
    }
    for (; len >= 32; src += 32, dst += 32, len -= 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *)src);
        _mm256_storeu_si256((__m256i *)dst, v);
        lo = _mm256_add_epi64(lo, lo32_256(v));
        hi = _mm256_add_epi64(hi, hi32_256(v));
    }
    return add_carry64(hsum_256(_mm256_add_epi64(lo, hi)), copy_sum_generic(dst, src, len));
}

AVX512 static inline __m512i lo32_512(__m512i v)
{
    return _mm512_and_si512(v, _mm512_set1_epi64(0xffffffff));
}

AVX512 static inline __m512i hi32_512(__m512i v)
{
    return _mm512_srli_epi64(v, 32);
}

AVX512 static inline void acc1_512(__m512i v, __m512i *lo, __m512i *hi)
{
    *lo = _mm512_add_epi64(*lo, lo32_512(v));
    *hi = _mm512_add_epi64(*hi, hi32_512(v));
}

AVX512 static inline void acc4_512(__m512i v0, __m512i v1, __m512i v2, __m512i v3, __m512i *lo,
                                   __m512i *hi)
{
    __m512i l = _mm512_add_epi64(_mm512_add_epi64(lo32_512(v0), lo32_512(v1)),
                                 _mm512_add_epi64(lo32_512(v2), lo32_512(v3)));
    __m512i h = _mm512_add_epi64(_mm512_add_epi64(hi32_512(v0), hi32_512(v1)),
                                 _mm512_add_epi64(hi32_512(v2), hi32_512(v3)));
    *lo = _mm512_add_epi64(*lo, l);
    *hi = _mm512_add_epi64(*hi, h);
}

/* The first n < 64 bytes; masked-off bytes are neither read (no fault past the end) nor
 * written, and read as zero, which is also RFC 1071's padding of an odd last byte. */
static inline __mmask64 tail_mask(size_t n)
{
    return ((__mmask64)1 << n) - 1;
}

/* len <= SIMD_CHUNK. Loads are aligned to 64 bytes whatever p's alignment (a load across two
 * cache lines costs two): the first load takes the whole aligned block holding p, with the bytes
 * before p masked off. Words are then formed on the aligned grid, which, when p is odd, pairs
 * each byte with the neighbour on its other side: the caller swaps the bytes of the folded sum
 * to undo that (RFC 1071 2(B)). */
AVX512 static uint64_t sum_avx512_aligned(const uint8_t *p, size_t len)
{
    __m512i lo = _mm512_setzero_si512(), hi = _mm512_setzero_si512();
    size_t skip = (uintptr_t)p & 63;
    const uint8_t *a = (const uint8_t *)((uintptr_t)p & ~(uintptr_t)63);
    __mmask64 first = ~(__mmask64)0 << skip;
    if (len < 64 - skip) {            /* all within the first block */
        acc1_512(_mm512_maskz_loadu_epi8(first & tail_mask(skip + len), a), &lo, &hi);
        return (uint64_t)_mm512_reduce_add_epi64(_mm512_add_epi64(lo, hi));
    }
    acc1_512(_mm512_maskz_loadu_epi8(first, a), &lo, &hi);
    a += 64;
    len -= 64 - skip;
    for (; len >= 256; a += 256, len -= 256)
        acc4_512(_mm512_load_si512(a), _mm512_load_si512(a + 64), _mm512_load_si512(a + 128),
                 _mm512_load_si512(a + 192), &lo, &hi);
    for (; len >= 64; a += 64, len -= 64)
        acc1_512(_mm512_load_si512(a), &lo, &hi);
    if (len)
        acc1_512(_mm512_maskz_loadu_epi8(tail_mask(len), a), &lo, &hi);
    return (uint64_t)_mm512_reduce_add_epi64(_mm512_add_epi64(lo, hi));
}

AVX512 static uint64_t copy_sum_avx512(uint8_t *dst, const uint8_t *src, size_t len)
{
    __m512i lo = _mm512_setzero_si512(), hi = _mm512_setzero_si512();
    for (; len >= 256; src += 256, dst += 256, len -= 256) {
        __m512i v0 = _mm512_loadu_si512(src);
        __m512i v1 = _mm512_loadu_si512(src + 64);
        __m512i v2 = _mm512_loadu_si512(src + 128);
        __m512i v3 = _mm512_loadu_si512(src + 192);
        _mm512_storeu_si512(dst, v0);
        _mm512_storeu_si512(dst + 64, v1);
        _mm512_storeu_si512(dst + 128, v2);
        _mm512_storeu_si512(dst + 192, v3);
        acc4_512(v0, v1, v2, v3, &lo, &hi);
    }
    for (; len >= 64; src += 64, dst += 64, len -= 64) {
        __m512i v = _mm512_loadu_si512(src);
        _mm512_storeu_si512(dst, v);
        acc1_512(v, &lo, &hi);
    }
    if (len) {
        __mmask64 k = tail_mask(len);
        __m512i v = _mm512_maskz_loadu_epi8(k, src);
        _mm512_mask_storeu_epi8(dst, k, v);
        acc1_512(v, &lo, &hi);
    }
    return (uint64_t)_mm512_reduce_add_epi64(_mm512_add_epi64(lo, hi));
}

/* The entry points: long buffers go in chunks (even-sized, so word boundaries are kept). They
 * carry the target attribute too, so that the kernels above are inlined into them.
 *
 * Short buffers go to the portable loop, which is faster there (the vector reduction costs more
 * than the vectors save); the result is the same bit for bit. Measured on AMD Zen 5: the
 * portable sum wins below 128 bytes and the portable copy below 64 bytes against AVX2's; the
 * AVX-512 copy, with its masked tail, wins at every length. */
#define SIMD_MIN_SUM 128
#define AVX2_MIN_COPY 64

AVX2 static uint32_t csum_partial_avx2(const void *buf, size_t len, uint32_t sum)
{
    if (len < SIMD_MIN_SUM)
        return finish(sum_generic(buf, len), sum);
    const uint8_t *p = buf;
    uint64_t acc = 0;
    for (; len > SIMD_CHUNK; p += SIMD_CHUNK, len -= SIMD_CHUNK)
        acc = add_carry64(acc, sum_avx2(p, SIMD_CHUNK));
    return finish(add_carry64(acc, sum_avx2(p, len)), sum);
}

AVX2 static uint32_t csum_copy_avx2(void *dst, const void *src, size_t len, uint32_t sum)
{
    if (len < AVX2_MIN_COPY)
        return finish(copy_sum_generic(dst, src, len), sum);
    uint8_t *d = dst;
    const uint8_t *s = src;
    uint64_t acc = 0;
    for (; len > SIMD_CHUNK; d += SIMD_CHUNK, s += SIMD_CHUNK, len -= SIMD_CHUNK)
        acc = add_carry64(acc, copy_sum_avx2(d, s, SIMD_CHUNK));
    return finish(add_carry64(acc, copy_sum_avx2(d, s, len)), sum);
}

AVX512 static uint32_t csum_partial_avx512(const void *buf, size_t len, uint32_t sum)
{
    if (len < SIMD_MIN_SUM)
        return finish(sum_generic(buf, len), sum);
    const uint8_t *p = buf;
    uint64_t acc = 0;
    for (; len > SIMD_CHUNK; p += SIMD_CHUNK, len -= SIMD_CHUNK)
        acc = add_carry64(acc, sum_avx512_aligned(p, SIMD_CHUNK));
    uint32_t folded = fold_to_16(add_carry64(acc, sum_avx512_aligned(p, len)));
    if ((uintptr_t)buf & 1)
        folded = ((folded & 0xff) << 8) | (folded >> 8);
    return csum_add(sum, folded);
}

AVX512 static uint32_t csum_copy_avx512(void *dst, const void *src, size_t len, uint32_t sum)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    uint64_t acc = 0;
    for (; len > SIMD_CHUNK; d += SIMD_CHUNK, s += SIMD_CHUNK, len -= SIMD_CHUNK)
        acc = add_carry64(acc, copy_sum_avx512(d, s, SIMD_CHUNK));
    return finish(add_carry64(acc, copy_sum_avx512(d, s, len)), sum);
}

static bool cpu_runs_avx2(void)
{
    __builtin_cpu_init();   /* we may run from a constructor, before the compiler runtime's */
    return __builtin_cpu_supports("avx2");
}

static bool cpu_runs_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
}
#endif /* __x86_64__ */

/* ---- Choosing an implementation ---- */

struct csum_candidate {
    struct csum_impl impl;
    bool (*runnable)(void);      /* NULL: always */
};

/* Worst to best. */
static const struct csum_candidate csum_candidates[] = {
    { { "generic", csum_partial_generic, csum_copy_generic }, NULL },
#if defined(__x86_64__)
    { { "avx2", csum_partial_avx2, csum_copy_avx2 }, cpu_runs_avx2 },
    { { "avx512", csum_partial_avx512, csum_copy_avx512 }, cpu_runs_avx512 },
#endif
};

#define CSUM_NCANDIDATES (sizeof csum_candidates / sizeof csum_candidates[0])
_Static_assert(CSUM_NCANDIDATES <= CSUM_MAX_IMPLS, "CSUM_MAX_IMPLS is too small");

/* The implementation in use; NULL until chosen. It points at constant data, so relaxed atomic
 * access is all a concurrent first use needs. */
static const struct csum_impl *csum_active;

static bool candidate_runs(const struct csum_candidate *c)
{
    return c->runnable == NULL || c->runnable();
}

size_t csum_impls(const struct csum_impl **out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < CSUM_NCANDIDATES && n < cap; i++)
        if (candidate_runs(&csum_candidates[i]))
            out[n++] = &csum_candidates[i].impl;
    return n;
}

static const struct csum_impl *csum_choose(void)
{
    const struct csum_impl *all[CSUM_MAX_IMPLS];
    size_t n = csum_impls(all, CSUM_MAX_IMPLS);
    const struct csum_impl *best = all[n - 1];   /* n >= 1: generic always runs */
    __atomic_store_n(&csum_active, best, __ATOMIC_RELAXED);
    return best;
}

__attribute__((constructor)) static void csum_choose_at_load(void)
{
    if (__atomic_load_n(&csum_active, __ATOMIC_RELAXED) == NULL)
        csum_choose();
}

static inline const struct csum_impl *active_impl(void)
{
    const struct csum_impl *impl = __atomic_load_n(&csum_active, __ATOMIC_RELAXED);
    if (__builtin_expect(impl == NULL, 0))
        impl = csum_choose();
    return impl;
}

int csum_select(const char *name)
{
    for (size_t i = 0; i < CSUM_NCANDIDATES; i++) {
        const struct csum_candidate *c = &csum_candidates[i];
        if (strcmp(c->impl.name, name) != 0)
            continue;
        if (!candidate_runs(c))
            return -ENOTSUP;
        __atomic_store_n(&csum_active, &c->impl, __ATOMIC_RELAXED);
        return 0;
    }
    return -ENOENT;
}

const char *csum_impl_name(void)
{
    return active_impl()->name;
}

uint32_t csum_partial(const void *buf, size_t len, uint32_t sum)
{
    return active_impl()->partial(buf, len, sum);
}

uint32_t csum_copy(void *dst, const void *src, size_t len, uint32_t sum)
{
    return active_impl()->copy(dst, src, len, sum);
}

/* ---- Pseudo-header and incremental update ---- */

uint32_t csum_ipv4_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t l4_len)
{
    /* RFC 793 3.1 and RFC 768: source address, destination address, a zero byte, the protocol
     * and the transport length. Summed here as host-order words and then byte-swapped into
     * memory order: swapping the bytes of every word swaps those of the sum (RFC 1071 2(B)), and
     * the canonical reduction makes this equal to csum_partial over the same 12 bytes. */
    uint64_t s = (uint64_t)(src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto +
                 l4_len;
    return to_mem16((uint16_t)fold_to_16(s));
}

uint16_t csum_replace16(uint16_t check, uint16_t old_val, uint16_t new_val)
{
    /* RFC 1624 3, eqn. 3: HC' = ~(~HC + ~m + m'). Unlike RFC 1141's HC + m + ~m' (eqn. 2) it
     * never gives 0xffff where recomputing from scratch gives 0x0000 (RFC 1624 4). */
    uint32_t s = (uint32_t)(uint16_t)~check + (uint16_t)~to_mem16(old_val) + to_mem16(new_val);
    return csum_fold(s);
}

uint16_t csum_replace32(uint16_t check, uint32_t old_val, uint32_t new_val)
{
    /* RFC 1624 eqn. 3 applied to both halves at once. */
    uint32_t s = (uint32_t)(uint16_t)~check + (uint16_t)~to_mem16((uint16_t)(old_val >> 16)) +
                 (uint16_t)~to_mem16((uint16_t)old_val) + to_mem16((uint16_t)(new_val >> 16)) +
                 to_mem16((uint16_t)new_val);
    return csum_fold(s);
}
