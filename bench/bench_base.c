/*
 * Benchmarks of the base layer: the packet pool (against glibc malloc) and the timer wheel.
 *
 *   bench_base pkt-alloc-free          pkt_alloc + pkt_free of one packet, ns per pair
 *   bench_base pkt-alloc-free-burst    burst= allocations, then as many frees; ns per pair
 *   bench_base malloc-free             malloc(size=2048) + free, ns per pair (the baseline)
 *   bench_base malloc-free-burst       the same in bursts
 *   bench_base timer-arm-cancel        timer_arm of one timer + timer_cancel of another, ns/pair
 *   bench_base timer-rearm             timer_arm of an armed timer to a new deadline, ns/op
 *   bench_base timer-arm-fire          timers re-armed from their callbacks while the clock
 *                                      moves in 50 us steps: ns per fired timer, advance included
 *   bench_base spin                    a dependent multiply-add chain: the vCPU's current speed
 *   bench_base syscall                 getppid(2) through syscall(): what entering and leaving
 *                                      the kernel costs at the moment
 *
 * Options: burst=N (32), size=N (malloc size, 2048), timers=N (timers in use, 16384), ms=,
 * icount=.
 *
 * Timer deadlines are not one hot timer: thousands of timers stay armed, and deadlines are drawn
 * (from a fixed seed) log-uniformly from bands that look like a TCP stack's timers, so they land
 * on every level of the wheel from 0 to 4: see deadline_bands.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/pkt.h"
#include "base/rand.h"
#include "base/timer.h"
#include "bench.h"

#define POOL_COUNT 4096u
#define MAX_BURST 256u
/* Deadline tables are indexed with a mask, so their sizes are powers of two. */
#define DEADLINES 8192u
/* Somewhere in the middle of the clock's range, not at zero. */
#define T_START (UINT64_C(1) << 40)

/* ---- packet pool and malloc ---- */

struct alloc_ctx {
    struct pkt_pool *pool;
    unsigned burst;
    size_t size;
    void *ptrs[MAX_BURST];
};

static uint64_t k_pkt_alloc_free(void *ctx, uint64_t n)
{
    struct alloc_ctx *c = ctx;
    for (uint64_t i = 0; i < n; i++) {
        struct pkt *p = pkt_alloc(c->pool);
        bench_escape(p);
        pkt_free(p);
    }
    return n;
}

static uint64_t k_pkt_alloc_free_burst(void *ctx, uint64_t n)
{
    struct alloc_ctx *c = ctx;
    struct pkt **pkts = (struct pkt **)c->ptrs;
    uint64_t rounds = (n + c->burst - 1) / c->burst;
    for (uint64_t r = 0; r < rounds; r++) {
        for (unsigned i = 0; i < c->burst; i++)
            pkts[i] = pkt_alloc(c->pool);
        bench_clobber();
        for (unsigned i = 0; i < c->burst; i++)
            pkt_free(pkts[i]);
    }
    return rounds * c->burst;
}

static uint64_t k_malloc_free(void *ctx, uint64_t n)
{
    struct alloc_ctx *c = ctx;
    for (uint64_t i = 0; i < n; i++) {
        void *p = malloc(c->size);
        bench_escape(p);
        free(p);
    }
    return n;
}

static uint64_t k_malloc_free_burst(void *ctx, uint64_t n)
{
    struct alloc_ctx *c = ctx;
    uint64_t rounds = (n + c->burst - 1) / c->burst;
    for (uint64_t r = 0; r < rounds; r++) {
        for (unsigned i = 0; i < c->burst; i++)
            c->ptrs[i] = malloc(c->size);
        bench_clobber();
        for (unsigned i = 0; i < c->burst; i++)
            free(c->ptrs[i]);
    }
    return rounds * c->burst;
}

static void alloc_setup(struct alloc_ctx *c, const struct bench_args *a)
{
    c->burst = (unsigned)bench_arg_u64(a, "burst", 32);
    c->size = (size_t)bench_arg_u64(a, "size", 2048);
    if (c->burst == 0 || c->burst > MAX_BURST)
        bench_die("burst must be 1..%u", MAX_BURST);
    struct pkt_pool_config cfg = { .name = "bench", .count = POOL_COUNT,
                                   .buf_size = PKT_DEFAULT_BUF_SIZE,
                                   .headroom = PKT_DEFAULT_HEADROOM };
    if (pkt_pool_create(&cfg, &c->pool) != 0)
        bench_die("pkt_pool_create failed");
}

/* ---- timer wheel ---- */

/* Deadline distances: log-uniform within each band, bands chosen with these weights. With the
 * default 65.5 us tick, level 0 ends at 4.2 ms, level 1 at 268 ms, level 2 at 17 s, level 3 at
 * 18 min and level 4 at 20 h. */
struct band {
    uint64_t lo_ns, hi_ns;
    unsigned weight;
};

static const struct band deadline_bands[] = {
    { 50 * NS_PER_US, 4 * NS_PER_MS, 25 },        /* pacing, delayed ACK at its shortest */
    { 4 * NS_PER_MS, 1 * NS_PER_SEC, 35 },        /* delayed ACK, RTO */
    { 1 * NS_PER_SEC, 120 * NS_PER_SEC, 20 },     /* backed-off RTO, TIME_WAIT, FIN_WAIT_2 */
    { 120 * NS_PER_SEC, 7200 * NS_PER_SEC, 20 },  /* keepalive, idle timeouts */
};

/* Only short deadlines for the firing benchmark, so that timers really fire during a run. */
static const struct band fire_bands[] = {
    { 50 * NS_PER_US, 4 * NS_PER_MS, 40 },
    { 4 * NS_PER_MS, 1 * NS_PER_SEC, 60 },
};

static uint64_t draw_log_uniform(struct rng *r, uint64_t lo, uint64_t hi)
{
    double u = (double)(rng_next(r) >> 11) / (double)(UINT64_C(1) << 53);
    double ratio = (double)hi / (double)lo;
    return (uint64_t)((double)lo * pow(ratio, u));
}

static void fill_deadlines(uint64_t *out, unsigned n, const struct band *bands, unsigned nbands,
                           uint64_t seed)
{
    struct rng r;
    rng_seed(&r, seed);
    unsigned total = 0;
    for (unsigned b = 0; b < nbands; b++)
        total += bands[b].weight;
    for (unsigned i = 0; i < n; i++) {
        unsigned pick = rng_below(&r, total), b = 0;
        while (pick >= bands[b].weight)
            pick -= bands[b++].weight;
        out[i] = draw_log_uniform(&r, bands[b].lo_ns, bands[b].hi_ns);
    }
}

struct btimer {
    struct timer t;
    struct timer_ctx *ctx;
};

struct timer_ctx {
    struct timer_wheel wheel;
    uint64_t now;
    uint64_t step_ns;        /* clock step between advance() calls (arm-fire) */
    uint64_t next;           /* running index into the timers and deadlines */
    unsigned count;          /* timers in use, a power of two */
    uint64_t fired;
    struct btimer *timers;
    uint64_t deadline[DEADLINES];
};

static void on_fire_ignore(struct timer *t, uint64_t now)
{
    (void)t;
    (void)now;
}

/* Fired timers come back at once with the next deadline from the table. */
static void on_fire_rearm(struct timer *t, uint64_t now)
{
    struct btimer *bt = container_of(t, struct btimer, t);
    struct timer_ctx *c = bt->ctx;
    c->fired++;
    timer_arm(&c->wheel, t, now + c->deadline[c->next++ & (DEADLINES - 1)]);
}

/* Arms timer i, cancels the one armed count/2 operations ago: half the timers stay armed. */
static uint64_t k_timer_arm_cancel(void *ctx, uint64_t n)
{
    struct timer_ctx *c = ctx;
    /* Locals, so the loop's own bookkeeping stays in registers across the calls. */
    struct timer_wheel *w = &c->wheel;
    struct btimer *timers = c->timers;
    const uint64_t *deadline = c->deadline;
    uint64_t now = c->now, j = c->next;
    unsigned mask = c->count - 1, half = c->count / 2;
    for (uint64_t end = j + n; j != end; j++) {
        timer_arm(w, &timers[j & mask].t, now + deadline[j & (DEADLINES - 1)]);
        timer_cancel(w, &timers[(j + half) & mask].t);
    }
    c->next = j;
    return n;
}

/* Every timer is armed; each operation moves one to a new deadline (TCP restarting its RTO). */
static uint64_t k_timer_rearm(void *ctx, uint64_t n)
{
    struct timer_ctx *c = ctx;
    struct timer_wheel *w = &c->wheel;
    struct btimer *timers = c->timers;
    const uint64_t *deadline = c->deadline;
    uint64_t now = c->now, j = c->next;
    unsigned mask = c->count - 1;
    for (uint64_t end = j + n; j != end; j++)
        timer_arm(w, &timers[j & mask].t, now + deadline[j & (DEADLINES - 1)]);
    c->next = j;
    return n;
}

/* n steps of the clock; the operations counted are the timers fired (each re-arms itself). */
static uint64_t k_timer_arm_fire(void *ctx, uint64_t n)
{
    struct timer_ctx *c = ctx;
    uint64_t before = c->fired;
    for (uint64_t i = 0; i < n; i++) {
        c->now += c->step_ns;
        timer_wheel_advance(&c->wheel, c->now);
    }
    return c->fired - before;
}

static void timer_setup(struct timer_ctx *c, const struct bench_args *a, bool firing)
{
    uint64_t count = bench_arg_u64(a, "timers", 16384);
    if (count < 2 || count > (1u << 24) || (count & (count - 1)))
        bench_die("timers must be a power of two from 2 to 2^24");
    c->count = (unsigned)count;
    c->now = T_START;
    c->step_ns = 50 * NS_PER_US;
    timer_wheel_init(&c->wheel, c->now, 0);
    if (firing)
        fill_deadlines(c->deadline, DEADLINES, fire_bands, 2, 2);
    else
        fill_deadlines(c->deadline, DEADLINES, deadline_bands, 4, 1);

    c->timers = calloc(c->count, sizeof(*c->timers));
    if (!c->timers)
        bench_die("out of memory");
    for (unsigned i = 0; i < c->count; i++) {
        timer_init(&c->timers[i].t, firing ? on_fire_rearm : on_fire_ignore);
        c->timers[i].ctx = c;
        timer_arm(&c->wheel, &c->timers[i].t, c->now + c->deadline[c->next++ & (DEADLINES - 1)]);
    }
}

/* ---- the machine's own speed ---- */

/* A chain of dependent multiply-adds (4 cycles each on current x86 cores): how fast this vCPU
 * runs at the moment. When the host is busy it slows down, and so does every other figure. */
static uint64_t k_spin(void *ctx, uint64_t n)
{
    uint64_t x = (uint64_t)(uintptr_t)ctx;
    for (uint64_t i = 0; i < n; i++) {
        x = x * UINT64_C(6364136223846793005) + 1;
        __asm__ volatile("" : "+r"(x));   /* one step at a time: no closed form */
    }
    bench_escape(x);
    return n;
}

/* The cheapest system call there is: the price of crossing into the kernel and back, which
 * every network round trip pays several times. In a virtual machine it depends on the host. */
static uint64_t k_syscall(void *ctx, uint64_t n)
{
    (void)ctx;
    for (uint64_t i = 0; i < n; i++)
        bench_escape(syscall(SYS_getppid));
    return n;
}

/* ---- scenario table ---- */

/* Which set-up a scenario needs before its kernel runs. */
enum setup_kind { ALLOC, TIMER, TIMER_FIRE, NOTHING };

struct scenario {
    const char *name;
    bench_kernel *kernel;
    enum setup_kind kind;
};

static const struct scenario scenarios[] = {
    { "spin", k_spin, NOTHING },
    { "syscall", k_syscall, NOTHING },
    { "pkt-alloc-free", k_pkt_alloc_free, ALLOC },
    { "pkt-alloc-free-burst", k_pkt_alloc_free_burst, ALLOC },
    { "malloc-free", k_malloc_free, ALLOC },
    { "malloc-free-burst", k_malloc_free_burst, ALLOC },
    { "timer-arm-cancel", k_timer_arm_cancel, TIMER },
    { "timer-rearm", k_timer_rearm, TIMER },
    { "timer-arm-fire", k_timer_arm_fire, TIMER_FIRE },
};

int main(int argc, char **argv)
{
    static const char *const known[] = { "burst", "size", "timers", NULL };
    struct bench_args a;
    bench_args_parse(&a, argc, argv, known,
                     "SCENARIO [burst=32] [size=2048] [timers=16384] [ms=50] [icount=N]");
    for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
        const struct scenario *s = &scenarios[i];
        if (strcmp(s->name, a.scenario) != 0)
            continue;
        if (s->kind == NOTHING) {
            bench_run(&a, s->kernel, &a, 0, NULL);
        } else if (s->kind == ALLOC) {
            static struct alloc_ctx c;
            alloc_setup(&c, &a);
            bench_run(&a, s->kernel, &c, 0, NULL);
        } else {
            static struct timer_ctx c;
            timer_setup(&c, &a, s->kind == TIMER_FIRE);
            bench_run(&a, s->kernel, &c, 0, NULL);
        }
        return 0;
    }
    fprintf(stderr, "bench_base: unknown scenario '%s'; one of:", a.scenario);
    for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
        fprintf(stderr, " %s", scenarios[i].name);
    fputc('\n', stderr);
    return 2;
}
