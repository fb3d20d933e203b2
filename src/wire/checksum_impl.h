/*
 * The implementations behind csum_partial and csum_copy, for the tests, fuzzers and benchmarks
 * that compare them. Everything else uses wire/checksum.h.
 */
#ifndef UST_WIRE_CHECKSUM_IMPL_H
#define UST_WIRE_CHECKSUM_IMPL_H

#include <stddef.h>
#include <stdint.h>

#define CSUM_MAX_IMPLS 3

struct csum_impl {
    const char *name;            /* "generic", "avx2", "avx512" */
    uint32_t (*partial)(const void *buf, size_t len, uint32_t sum);
    uint32_t (*copy)(void *dst, const void *src, size_t len, uint32_t sum);
};

/* Stores the implementations this CPU can run in out[0..n), generic first and the preferred one
 * last, and returns n (at most CSUM_MAX_IMPLS and at most cap). */
size_t csum_impls(const struct csum_impl **out, size_t cap);

/* Makes csum_partial and csum_copy use the named implementation from now on. Returns 0,
 * -ENOENT for an unknown name, or -ENOTSUP if this CPU cannot run it. */
int csum_select(const char *name);

#endif
