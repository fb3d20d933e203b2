/*
 * Scaffolding shared by the benchmark programs (bench_base, bench_csum).
 *
 * A program is invoked as `PROG SCENARIO [key=value ...]` and prints exactly one line of JSON on
 * stdout: {"scenario": ..., "value": ..., "unit": ..., ...}. bench/run.py runs it many times,
 * interleaved with its baseline, and does all the statistics; a program measures one run only.
 *
 * Every scenario is a "kernel": a function that performs the measured operation n times (n chosen
 * by the driver) and returns how many operations it did. Two drivers run kernels:
 *
 *   bench_time()    warms up, sizes n so that the timed run lasts about `ms` milliseconds, and
 *                   times one run with clock_gettime: value = ns per op, or GB/s given bytes/op.
 *   bench_icount()  for callgrind: runs a short warm-up, then exactly `icount` operations with
 *                   collection switched on (CALLGRIND_TOGGLE_COLLECT); the program runs under
 *                   `valgrind --tool=callgrind --collect-atstart=no`, and run.py reads the totals.
 *
 * Options common to every program: ms=N (duration of the timed run, default 50), icount=N
 * (select the callgrind driver with N operations) and collect=fn (with icount: do not toggle
 * collection around the loop, because valgrind runs with --toggle-collect=FUNCTION and counts
 * only inside that function). Programs add their own (e.g. size=1500).
 */
#ifndef UST_BENCH_BENCH_H
#define UST_BENCH_BENCH_H

#include <stdint.h>

/* Performs the measured operation n times; returns the number of operations done (usually n). */
typedef uint64_t bench_kernel(void *ctx, uint64_t n);

/* Makes the compiler believe v is used, so the work producing it is not optimised away. */
#define bench_escape(v) __asm__ volatile("" : : "g"(v) : "memory")

/* Makes the compiler forget what it knows about memory (e.g. that a buffer was just written). */
#define bench_clobber() __asm__ volatile("" : : : "memory")

struct bench_args {
    int argc;
    char **argv;
    const char *scenario;
    uint64_t ms;        /* ms=: duration of the timed run */
    uint64_t icount;    /* icount=: if nonzero, run this many ops for callgrind instead */
};

/* Parses `PROG SCENARIO key=value...`; `known` lists the program's own keys (NULL-terminated),
 * ms and icount are always accepted. Exits with a usage message on anything else. */
void bench_args_parse(struct bench_args *a, int argc, char **argv, const char *const *known,
                      const char *usage);
/* The value of key=... as a string, or def. */
const char *bench_arg_str(const struct bench_args *a, const char *key, const char *def);
/* The value of key=... as an unsigned integer (suffixes k, M, G: powers of 1024), or def. */
uint64_t bench_arg_u64(const struct bench_args *a, const char *key, uint64_t def);

struct bench_result {
    uint64_t ops;
    uint64_t elapsed_ns;
};

/* Warm-up, then one timed run of about ms milliseconds. */
struct bench_result bench_time(bench_kernel *k, void *ctx, uint64_t ms);

/* Warm-up, then exactly `ops` operations (kernel called with n = ops) between two
 * CALLGRIND_TOGGLE_COLLECT requests. Does nothing special when not under valgrind. */
struct bench_result bench_icount(bench_kernel *k, void *ctx, uint64_t ops);

/* Runs k with the driver that a->icount selects and prints the result line. bytes_per_op > 0
 * reports GB/s (10^9 bytes per second) instead of ns/op. `extra` is added to the JSON object
 * verbatim (e.g. "\"impl\": \"avx2\""), or NULL. */
void bench_run(const struct bench_args *a, bench_kernel *k, void *ctx, uint64_t bytes_per_op,
               const char *extra);

/* Exits with status 2 after printing a message to stderr. */
void bench_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* A buffer of `size` bytes aligned to 4 KiB, every page touched (no page faults when timing). */
void *bench_alloc_buffer(uint64_t size);

#endif
