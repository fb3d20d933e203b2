/*
 * Shared by the libFuzzer targets: each parses arbitrary bytes; what a parser accepts must
 * satisfy its invariants and survive emit + parse unchanged. Any violation aborts, which
 * libFuzzer reports as a crash and saves as an artifact.
 */
#ifndef UST_FUZZ_COMMON_H
#define UST_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                               \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                   \
        }                                                                              \
    } while (0)

/* A parse result is either success or one of the named errors. */
static inline bool fuzz_is_wire_result(int err)
{
    return err <= 0 && err > -WIRE_NERR;
}

/* [p, p + n) lies inside [base, base + len). */
static inline bool fuzz_within(const uint8_t *base, size_t len, const uint8_t *p, size_t n)
{
    return p >= base && n <= len && (size_t)(p - base) <= len - n;
}

#endif
