/*
 * shm_pps: packets per second over the raw shared-memory wire (link/shm), one process per side,
 * each pinned to a core of its own, both spinning; side by side with a plain shared-memory SPSC
 * ring between the same two cores (the machine's figure for "a ring and nothing else": copy in,
 * copy out, 17.8 Mpps at 64 bytes in docs/ANCHORS).
 *
 *   shm_pps [--size 64] [--burst 32] [--seconds 1] [--runs 5] [--cores 0,1] [--slots 1024]
 *   shm_pps shm|ring [size=64] [burst=32] [seconds=1 | ms=N] [slots=1024] [cores=0,1]
 *
 * The second form is bench/run.py's (bench.h): one run of one side, one JSON line
 * {"scenario", "value": Mpps, "unit": "Mpps"}; the harness interleaves the sides and takes
 * medians (scenario shm/pps-64).
 *
 * Per run: a fresh wire in /dev/shm/ust-bench-PID-N (the receiver makes it, the sender joins;
 * the names are removed at the join, and again afterwards in case of failure). The parent is the
 * sender (side 0) on the first core: it allocates `burst` frames from its packet pool, writes
 * `size` bytes into each, and hands them to tx_burst (which copies them into the receiver's
 * buffers); frames the wire refuses are offered again. The child is the receiver (side 1) on the
 * second core: rx_burst hands over frames in place; it reads every byte of each (so the data
 * really crosses the cores) and frees them, which posts the buffers back. The receiver times from
 * its first frame to its last; the sender stops after `seconds` and closes the wire, which the
 * receiver sees as the link going down. The plain ring does the same with memcpy in and out.
 *
 * Prints one JSON line: {"value": median shm Mpps, "shm_mpps": [...], "ring_mpps": [...],
 * "ratio_to_ring": ..., "size", "burst", "cores", "polling": "spin"}. Exit status 0, or 1.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/pkt.h"
#include "base/log.h"
#include "link/shm.h"

#define MAX_RUNS 31
#define MAX_BURST 256

struct opts {
    unsigned size, burst, runs, slots;
    double seconds;
    int cores[2];
};

struct result {
    uint64_t frames;
    uint64_t ns;
    uint64_t checksum;
};

static void pin(int core)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(core, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0)
        fprintf(stderr, "shm_pps: cannot pin to core %d: %s\n", core, strerror(errno));
}

static uint64_t touch(const uint8_t *p, uint32_t len)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        sum += w;
    }
    return sum;
}

/* ---- The shm wire ---- */

static int shm_receiver(const struct opts *o, const char *path, int out_fd)
{
    pin(o->cores[1]);
    struct shm_config cfg = { .path = path, .side = 1, .mtu = 1500, .slots = o->slots };
    struct link *l;
    if (link_shm_open(&cfg, &l) != 0)
        return 1;
    if (write(out_fd, "r", 1) != 1)   /* attached: the sender may start */
        return 1;
    struct result r = { 0 };
    struct pkt *pkts[MAX_BURST];
    uint64_t first = 0, last = 0;
    for (;;) {
        int n = link_rx_burst(l, pkts, o->burst);
        if (n < 0)
            break;   /* the sender closed the wire */
        if (n == 0)
            continue;
        last = clk_mono_ns();
        if (!first)
            first = last;
        for (int i = 0; i < n; i++)
            r.checksum += touch(pkts[i]->data, pkts[i]->len);
        r.frames += (uint64_t)n;
        pkt_free_bulk(pkts, (unsigned)n);
    }
    r.frames -= r.frames ? 1 : 0;   /* frames after the first, over the time after the first */
    r.ns = last - first;
    link_destroy(l);
    return write(out_fd, &r, sizeof(r)) == (ssize_t)sizeof(r) ? 0 : 1;
}

static int shm_sender(const struct opts *o, const char *path)
{
    pin(o->cores[0]);
    struct shm_config cfg = { .path = path, .side = 0, .mtu = 1500, .slots = o->slots };
    struct link *l;
    if (link_shm_open(&cfg, &l) != 0)
        return -1;
    struct pkt_pool *pool;
    struct pkt_pool_config pc = { .name = "bench", .count = 4 * MAX_BURST, .buf_size = 2048,
                                  .headroom = 128 };
    if (pkt_pool_create(&pc, &pool) != 0)
        return -1;
    uint8_t frame[1514];
    for (unsigned i = 0; i < sizeof(frame); i++)
        frame[i] = (uint8_t)(i * 7 + 1);
    struct pkt *pkts[MAX_BURST];
    unsigned have = 0;
    uint64_t end = clk_mono_ns() + (uint64_t)(o->seconds * 1e9);
    for (unsigned round = 0;; round++) {
        if ((round & 1023) == 0 && clk_mono_ns() >= end)
            break;
        if (have < o->burst) {
            if (pkt_alloc_bulk(pool, pkts + have, o->burst - have) != 0)
                return -1;
            for (unsigned i = have; i < o->burst; i++)
                memcpy(pkt_put(pkts[i], o->size), frame, o->size);
            have = o->burst;
        }
        int sent = link_tx_burst(l, pkts, have);
        if (sent < 0)
            return -1;
        memmove(pkts, pkts + sent, (have - (unsigned)sent) * sizeof(pkts[0]));
        have -= (unsigned)sent;
    }
    pkt_free_bulk(pkts, have);
    link_destroy(l);
    pkt_pool_destroy(pool);
    return 0;
}

/* ---- A plain ring, for comparison: slots of `size` bytes, copy in, copy out ---- */

struct plain_ring {
    _Alignas(64) _Atomic uint32_t prod;
    _Alignas(64) _Atomic uint32_t cons;
    _Alignas(64) _Atomic uint32_t done;
    _Alignas(64) uint8_t slots[];
};

#define RING_SLOTS 1024u
#define SLOT_SIZE 2048u

static int ring_receiver(const struct opts *o, struct plain_ring *r, int out_fd)
{
    pin(o->cores[1]);
    if (write(out_fd, "r", 1) != 1)
        return 1;
    struct result res = { 0 };
    uint32_t cons = 0, prod_seen = 0;
    uint8_t buf[MAX_BURST][SLOT_SIZE];
    uint64_t first = 0, last = 0;
    for (;;) {
        if (prod_seen == cons) {
            prod_seen = atomic_load_explicit(&r->prod, memory_order_acquire);
            if (prod_seen == cons) {
                if (atomic_load_explicit(&r->done, memory_order_acquire) &&
                    atomic_load_explicit(&r->prod, memory_order_acquire) == cons)
                    break;
                continue;
            }
        }
        unsigned n = prod_seen - cons < o->burst ? prod_seen - cons : o->burst;
        for (unsigned i = 0; i < n; i++)
            memcpy(buf[i], r->slots + (size_t)((cons + i) & (RING_SLOTS - 1)) * SLOT_SIZE,
                   o->size);
        cons += n;
        atomic_store_explicit(&r->cons, cons, memory_order_release);
        last = clk_mono_ns();
        if (!first)
            first = last;
        for (unsigned i = 0; i < n; i++)
            res.checksum += touch(buf[i], o->size);
        res.frames += n;
    }
    res.frames -= res.frames ? 1 : 0;
    res.ns = last - first;
    return write(out_fd, &res, sizeof(res)) == (ssize_t)sizeof(res) ? 0 : 1;
}

static int ring_sender(const struct opts *o, struct plain_ring *r)
{
    pin(o->cores[0]);
    uint8_t frame[1514];
    for (unsigned i = 0; i < sizeof(frame); i++)
        frame[i] = (uint8_t)(i * 7 + 1);
    uint32_t prod = 0, cons_seen = 0;
    uint64_t end = clk_mono_ns() + (uint64_t)(o->seconds * 1e9);
    for (unsigned round = 0;; round++) {
        if ((round & 1023) == 0 && clk_mono_ns() >= end)
            break;
        if (RING_SLOTS - (prod - cons_seen) < o->burst) {
            cons_seen = atomic_load_explicit(&r->cons, memory_order_acquire);
            if (RING_SLOTS - (prod - cons_seen) < o->burst)
                continue;
        }
        for (unsigned i = 0; i < o->burst; i++)
            memcpy(r->slots + (size_t)((prod + i) & (RING_SLOTS - 1)) * SLOT_SIZE, frame,
                   o->size);
        prod += o->burst;
        atomic_store_explicit(&r->prod, prod, memory_order_release);
    }
    atomic_store_explicit(&r->done, 1, memory_order_release);
    return 0;
}

/* ---- Runs ---- */

static double one_run(const struct opts *o, bool shm, unsigned run)
{
    char path[96];
    snprintf(path, sizeof(path), "/dev/shm/ust-bench-%d-%u", (int)getpid(), run);
    size_t ring_size = sizeof(struct plain_ring) + (size_t)RING_SLOTS * SLOT_SIZE;
    struct plain_ring *ring = NULL;
    if (!shm) {
        ring = mmap(NULL, ring_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (ring == MAP_FAILED)
            return -1;
    }
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t child = fork();
    if (child < 0)
        return -1;
    if (child == 0) {
        close(fds[0]);
        _exit(shm ? shm_receiver(o, path, fds[1]) : ring_receiver(o, ring, fds[1]));
    }
    close(fds[1]);
    double mpps = -1;
    char ready;
    int err = -1;
    if (read(fds[0], &ready, 1) == 1)
        err = shm ? shm_sender(o, path) : ring_sender(o, ring);
    struct result r;
    if (err == 0 && read(fds[0], &r, sizeof(r)) == (ssize_t)sizeof(r) && r.ns)
        mpps = (double)r.frames * 1e3 / (double)r.ns;
    if (err != 0)
        kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    close(fds[0]);
    unlink(path);
    char door[112];
    for (int d = 0; d < 2; d++) {
        snprintf(door, sizeof(door), "%s.door%d", path, d);
        unlink(door);
    }
    if (ring)
        munmap(ring, ring_size);
    return mpps;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, unsigned n)
{
    double s[MAX_RUNS];
    memcpy(s, v, n * sizeof(*v));
    qsort(s, n, sizeof(*s), cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static void print_list(const char *name, const double *v, unsigned n)
{
    printf("\"%s\": [", name);
    for (unsigned i = 0; i < n; i++)
        printf("%s%.3f", i ? ", " : "", v[i]);
    printf("], ");
}

static bool opts_ok(const struct opts *o)
{
    return o->size >= 14 && o->size <= 1514 && o->burst >= 1 && o->burst <= MAX_BURST &&
           o->runs >= 1 && o->runs <= MAX_RUNS && o->seconds > 0 && o->seconds <= 60 &&
           o->slots >= 64 && o->slots <= 65536 && (o->slots & (o->slots - 1)) == 0;
}

/* bench/run.py's form: `shm_pps shm|ring key=value...`, one run, one JSON line. */
static int harness_main(int argc, char **argv, struct opts *o)
{
    bool shm = strcmp(argv[1], "shm") == 0, have_seconds = false;
    double ms_seconds = 0;
    for (int i = 2; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (!eq)
            return 2;
        const char *v = eq + 1;
        size_t k = (size_t)(eq - argv[i]);
        if (k == 4 && strncmp(argv[i], "size", 4) == 0)
            o->size = (unsigned)atoi(v);
        else if (k == 5 && strncmp(argv[i], "burst", 5) == 0)
            o->burst = (unsigned)atoi(v);
        else if (k == 5 && strncmp(argv[i], "slots", 5) == 0)
            o->slots = (unsigned)atoi(v);
        else if (k == 7 && strncmp(argv[i], "seconds", 7) == 0)
            o->seconds = atof(v), have_seconds = true;
        else if (k == 2 && strncmp(argv[i], "ms", 2) == 0)   /* the harness's run length */
            ms_seconds = atof(v) / 1000 < 0.2 ? 0.2 : atof(v) / 1000;
        else if (k == 5 && strncmp(argv[i], "cores", 5) == 0 &&
                 sscanf(v, "%d,%d", &o->cores[0], &o->cores[1]) == 2)
            ;
        else
            return fprintf(stderr, "shm_pps: unknown parameter %s\n", argv[i]), 2;
    }
    if (!have_seconds && ms_seconds > 0)
        o->seconds = ms_seconds;
    if (!opts_ok(o))
        return fprintf(stderr, "shm_pps: parameter out of range\n"), 2;
    double mpps = one_run(o, shm, 0);
    if (mpps < 0)
        return fprintf(stderr, "shm_pps: the run failed\n"), 1;
    printf("{\"scenario\": \"%s\", \"value\": %.3f, \"unit\": \"Mpps\", \"size\": %u, "
           "\"burst\": %u, \"cores\": \"%d,%d\", \"polling\": \"spin\"}\n", argv[1], mpps,
           o->size, o->burst, o->cores[0], o->cores[1]);
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o = { .size = 64, .burst = 32, .runs = 5, .slots = 1024, .seconds = 1,
                      .cores = { 0, 1 } };
    ust_log_set_level(UST_LOG_ERROR);   /* the receiver's "link is down" at each end is normal */
    if (argc > 1 && (strcmp(argv[1], "shm") == 0 || strcmp(argv[1], "ring") == 0))
        return harness_main(argc, argv, &o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            goto usage;
        if (strcmp(a, "--size") == 0)
            o.size = (unsigned)atoi(v);
        else if (strcmp(a, "--burst") == 0)
            o.burst = (unsigned)atoi(v);
        else if (strcmp(a, "--runs") == 0)
            o.runs = (unsigned)atoi(v);
        else if (strcmp(a, "--slots") == 0)
            o.slots = (unsigned)atoi(v);
        else if (strcmp(a, "--seconds") == 0)
            o.seconds = atof(v);
        else if (strcmp(a, "--cores") == 0 && sscanf(v, "%d,%d", &o.cores[0], &o.cores[1]) == 2)
            ;
        else
            goto usage;
        i++;
    }
    if (!opts_ok(&o))
        goto usage;
    double shm[MAX_RUNS], ring[MAX_RUNS];
    for (unsigned i = 0; i < o.runs; i++) {
        /* Interleaved, so drift on a shared machine hits both alike. */
        shm[i] = one_run(&o, true, i);
        ring[i] = one_run(&o, false, i);
        if (shm[i] < 0 || ring[i] < 0) {
            fprintf(stderr, "shm_pps: run %u failed\n", i);
            return 1;
        }
    }
    double ms = median(shm, o.runs), mr = median(ring, o.runs);
    printf("{\"value\": %.3f, \"unit\": \"Mpps\", ", ms);
    print_list("shm_mpps", shm, o.runs);
    print_list("ring_mpps", ring, o.runs);
    printf("\"ring_median\": %.3f, \"ratio_to_ring\": %.3f, \"size\": %u, \"burst\": %u, "
           "\"slots\": %u, \"cores\": \"%d,%d\", \"polling\": \"spin\", \"seconds\": %.1f}\n",
           mr, ms / mr, o.size, o.burst, o.slots, o.cores[0], o.cores[1], o.seconds);
    return 0;
usage:
    fprintf(stderr, "usage: shm_pps [--size 64] [--burst 32] [--seconds 1] [--runs 5] "
                    "[--cores 0,1] [--slots 1024]\n");
    return 2;
}
