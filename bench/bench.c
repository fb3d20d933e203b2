/*
 * The benchmark drivers and the result line (see bench.h).
 */
#include "bench.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <valgrind/callgrind.h>

#include "base/clock.h"

/* Warm-up lasts at least this long, and sizes the timed run from its last (longest) batch. */
#define WARMUP_MIN_NS (10 * NS_PER_MS)
/* A warm-up batch must last this long before its rate is trusted for sizing. */
#define SIZING_MIN_NS (2 * NS_PER_MS)
/* Operations run before the callgrind window opens (pools and wheels reach steady state). */
#define ICOUNT_WARMUP_OPS 4096u

void bench_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static const char *arg_value(const struct bench_args *a, const char *key)
{
    size_t klen = strlen(key);
    for (int i = 2; i < a->argc; i++) {
        if (strncmp(a->argv[i], key, klen) == 0 && a->argv[i][klen] == '=')
            return a->argv[i] + klen + 1;
    }
    return NULL;
}

static bool key_is_known(const char *arg, const char *const *known)
{
    static const char *const common[] = { "ms", "icount", "collect", NULL };
    const char *eq = strchr(arg, '=');
    if (!eq)
        return false;
    size_t klen = (size_t)(eq - arg);
    for (const char *const *k = common; *k; k++) {
        if (strlen(*k) == klen && strncmp(arg, *k, klen) == 0)
            return true;
    }
    for (const char *const *k = known; k && *k; k++) {
        if (strlen(*k) == klen && strncmp(arg, *k, klen) == 0)
            return true;
    }
    return false;
}

void bench_args_parse(struct bench_args *a, int argc, char **argv, const char *const *known,
                      const char *usage)
{
    if (argc < 2)
        bench_die("usage: %s %s", argv[0], usage);
    *a = (struct bench_args){ .argc = argc, .argv = argv, .scenario = argv[1] };
    for (int i = 2; i < argc; i++) {
        if (!key_is_known(argv[i], known))
            bench_die("%s: unknown option '%s'\nusage: %s %s", argv[0], argv[i], argv[0], usage);
    }
    a->ms = bench_arg_u64(a, "ms", 50);
    a->icount = bench_arg_u64(a, "icount", 0);
    if (a->ms == 0)
        bench_die("%s: ms must be at least 1", argv[0]);
}

const char *bench_arg_str(const struct bench_args *a, const char *key, const char *def)
{
    const char *v = arg_value(a, key);
    return v ? v : def;
}

uint64_t bench_arg_u64(const struct bench_args *a, const char *key, uint64_t def)
{
    const char *v = arg_value(a, key);
    if (!v)
        return def;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || end == v)
        bench_die("%s=%s: not a number", key, v);
    switch (*end) {
    case 'k': n <<= 10; end++; break;
    case 'M': n <<= 20; end++; break;
    case 'G': n <<= 30; end++; break;
    default: break;
    }
    if (*end)
        bench_die("%s=%s: not a number", key, v);
    return n;
}

static struct bench_result timed(bench_kernel *k, void *ctx, uint64_t n)
{
    uint64_t t0 = clk_mono_ns();
    uint64_t ops = k(ctx, n);
    uint64_t t1 = clk_mono_ns();
    return (struct bench_result){ .ops = ops, .elapsed_ns = t1 - t0 };
}

struct bench_result bench_time(bench_kernel *k, void *ctx, uint64_t ms)
{
    /* Double the batch until batches are long enough to size from and the warm-up has lasted
     * long enough for caches, branch predictors and the CPU clock to settle. */
    uint64_t n = 1, warm_ns = 0;
    struct bench_result r;
    for (;;) {
        r = timed(k, ctx, n);
        warm_ns += r.elapsed_ns;
        if (r.elapsed_ns >= SIZING_MIN_NS && warm_ns >= WARMUP_MIN_NS)
            break;
        if (n > (UINT64_C(1) << 40))
            bench_die("kernel does no measurable work");
        n *= 2;
    }
    double ns_per_call = (double)r.elapsed_ns / (double)n;
    uint64_t want = (uint64_t)((double)(ms * NS_PER_MS) / ns_per_call);
    return timed(k, ctx, want ? want : 1);
}

/* collect=fn: valgrind toggles collection itself (--toggle-collect=FUNCTION), on entering and
 * leaving one function; a toggle of ours around the loop would invert it. */
static bool collect_by_function;

struct bench_result bench_icount(bench_kernel *k, void *ctx, uint64_t ops)
{
    k(ctx, ICOUNT_WARMUP_OPS);
    if (!collect_by_function)
        CALLGRIND_TOGGLE_COLLECT;
    uint64_t done = k(ctx, ops);
    if (!collect_by_function)
        CALLGRIND_TOGGLE_COLLECT;
    return (struct bench_result){ .ops = done, .elapsed_ns = 0 };
}

void bench_run(const struct bench_args *a, bench_kernel *k, void *ctx, uint64_t bytes_per_op,
               const char *extra)
{
    const char *mode = a->icount ? "icount" : "time";
    const char *collect = bench_arg_str(a, "collect", "loop");
    if (strcmp(collect, "fn") != 0 && strcmp(collect, "loop") != 0)
        bench_die("collect=%s: expected loop (the driver toggles collection around the "
                  "measured loop) or fn (valgrind's --toggle-collect does)", collect);
    collect_by_function = strcmp(collect, "fn") == 0;
    struct bench_result r = a->icount ? bench_icount(k, ctx, a->icount) : bench_time(k, ctx, a->ms);
    if (r.ops == 0)
        bench_die("%s: no operations done", a->scenario);

    double value;
    const char *unit;
    if (a->icount) {
        value = 0;   /* the figure comes from callgrind's output, not from us */
        unit = "instructions";
    } else if (bytes_per_op) {
        value = (double)bytes_per_op * (double)r.ops / (double)r.elapsed_ns;  /* bytes/ns = GB/s */
        unit = "GB/s";
    } else {
        value = (double)r.elapsed_ns / (double)r.ops;
        unit = "ns/op";
    }
    printf("{\"scenario\": \"%s\", \"mode\": \"%s\", \"value\": %.6g, \"unit\": \"%s\", "
           "\"ops\": %" PRIu64 ", \"elapsed_ns\": %" PRIu64 "%s%s}\n",
           a->scenario, mode, value, unit, r.ops, r.elapsed_ns, extra ? ", " : "",
           extra ? extra : "");
    fflush(stdout);
}

void *bench_alloc_buffer(uint64_t size)
{
    size_t len = (size_t)((size + 4095) & ~UINT64_C(4095));
    void *p = mmap(NULL, len ? len : 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED)
        bench_die("mmap of %" PRIu64 " bytes failed", size);
    memset(p, 0x5a, len);
    return p;
}
