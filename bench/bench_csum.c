/*
 * Checksum throughput against memcpy.
 *
 *   bench_csum csum       size=N   csum_partial over an N-byte buffer, GB/s
 *   bench_csum csum-copy  size=N   csum_copy from one N-byte buffer to another, GB/s
 *   bench_csum memcpy     size=N   memcpy between the same two buffers (the baseline), GB/s
 *
 * GB/s counts the N bytes of one call (10^9 bytes per second), so memcpy's figure is the bytes
 * it copies, not the bytes it reads plus the bytes it writes. Buffers are page aligned (offset=
 * shifts the start), filled with random bytes, and reused call after call: sizes that fit in
 * cache measure the in-cache speed, 64 MiB measures memory. Options: size=, offset= (of the
 * source), dst_offset=, ms=, icount=, impl=generic|avx2|avx512 (default: the library's choice).
 */
#include <stdio.h>
#include <string.h>

#include "base/rand.h"
#include "bench.h"
#include "wire/checksum.h"
#include "wire/checksum_impl.h"

struct csum_ctx {
    uint8_t *src;
    uint8_t *dst;
    size_t len;
};

static uint64_t k_csum(void *ctx, uint64_t n)
{
    struct csum_ctx *c = ctx;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t s = csum_partial(c->src, c->len, 0);
        bench_escape(s);
    }
    return n;
}

static uint64_t k_csum_copy(void *ctx, uint64_t n)
{
    struct csum_ctx *c = ctx;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t s = csum_copy(c->dst, c->src, c->len, 0);
        bench_escape(s);
        bench_clobber();   /* the copied bytes count as used */
    }
    return n;
}

static uint64_t k_memcpy(void *ctx, uint64_t n)
{
    struct csum_ctx *c = ctx;
    for (uint64_t i = 0; i < n; i++) {
        memcpy(c->dst, c->src, c->len);
        bench_escape(c->dst);
        bench_clobber();
    }
    return n;
}

static void fill_random(uint8_t *p, size_t len)
{
    struct rng r;
    rng_seed(&r, 42);
    for (size_t i = 0; i < len; i += 8) {
        uint64_t v = rng_next(&r);
        memcpy(p + i, &v, len - i < 8 ? len - i : 8);
    }
}

static const struct {
    const char *name;
    bench_kernel *kernel;
} scenarios[] = {
    { "csum", k_csum },
    { "csum-copy", k_csum_copy },
    { "memcpy", k_memcpy },
};

int main(int argc, char **argv)
{
    static const char *const known[] = { "size", "offset", "dst_offset", "impl", NULL };
    struct bench_args a;
    bench_args_parse(&a, argc, argv, known,
                     "csum|csum-copy|memcpy size=N [offset=0] [dst_offset=0] [impl=NAME] [ms=50] [icount=N]");
    const char *impl = bench_arg_str(&a, "impl", NULL);
    if (impl && csum_select(impl) != 0)
        bench_die("impl=%s: unknown, or this CPU cannot run it", impl);
    struct csum_ctx c;
    c.len = (size_t)bench_arg_u64(&a, "size", 1500);
    size_t offset = (size_t)bench_arg_u64(&a, "offset", 0);
    size_t dst_offset = (size_t)bench_arg_u64(&a, "dst_offset", 0);
    if (c.len == 0 || offset >= 4096 || dst_offset >= 4096)
        bench_die("size must be positive, offset and dst_offset below 4096");
    c.src = (uint8_t *)bench_alloc_buffer(c.len + offset) + offset;
    c.dst = (uint8_t *)bench_alloc_buffer(c.len + dst_offset) + dst_offset;
    fill_random(c.src, c.len);

    char extra[64];
    snprintf(extra, sizeof(extra), "\"size\": %zu, \"impl\": \"%s\"", c.len, csum_impl_name());
    for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
        if (strcmp(scenarios[i].name, a.scenario) == 0) {
            bench_run(&a, scenarios[i].kernel, &c, c.len, extra);
            return 0;
        }
    }
    bench_die("bench_csum: unknown scenario '%s' (csum, csum-copy, memcpy)", a.scenario);
}
