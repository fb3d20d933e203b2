/*
 * Fault-injection middleware (see fault.h for the stages and their semantics).
 *
 * Entry points: link_fault_create(), then the link vtable; fault_config_parse() and
 * fault_config_help() for the textual form of a configuration.
 *
 * Each direction owns two bounded holding areas, both allocated at creation:
 *   - a FIFO of frames held back by the reorder stage. Every hold uses the same gap and the same
 *     maximum hold time, and both the pass count and the clock only grow, so release targets and
 *     deadlines are in FIFO order and only the head ever needs checking;
 *   - a binary min-heap of delayed frames keyed by (release time, arrival sequence).
 * Frames leaving a direction are chained through pkt->next into a list: on transmit a local list
 * flushed to the inner link at the end of the call, on receive rx_ready, from which rx_burst
 * returns as many as the caller asked for (the rest wait for the next call; next_event_ns then
 * says "now"). rx_ready needs no cap of its own: the inner link is read only once it is empty,
 * a chunk at a time, so it never holds more than the released held frames plus two chunks.
 *
 * OWNERSHIP: a frame is always in exactly one place: the caller's array, a holding area, a list,
 * or the inner link. Drops free the frame at once.
 */
#include "link/fault.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/rand.h"

CTR_DESCRIBE(fault_ctrs, FAULT_COUNTERS)

/* Frames moved per inner call; bounds the on-stack arrays. */
#define FAULT_CHUNK 64u

/* One generator per fault, so that the faults' choices are independent of each other. */
enum fault_rng { RNG_DROP, RNG_DUP, RNG_CORRUPT, RNG_REORDER, RNG_JITTER, RNG_COUNT };

struct fault_hold {            /* a frame held back by the reorder stage */
    struct pkt *p;
    uint64_t pass_target;      /* released once this many frames have passed ... */
    uint64_t deadline_ns;      /* ... or at this time, whichever comes first */
};

struct fault_delayed {         /* a frame in the delay heap */
    uint64_t release_ns;
    uint64_t seq;              /* arrival order, to break ties */
    struct pkt *p;
};

struct pkt_list {
    struct pkt *head;
    struct pkt *tail;
    unsigned n;
};

struct fault_direction {
    struct fault_dir_config cfg;
    bool active;               /* some fault is configured */
    bool delays;               /* delay_ns or jitter_ns is set */
    struct rng rng[RNG_COUNT];
    uint64_t index;            /* frames seen, so the current one is index (1-based) */
    uint64_t passed;           /* frames that went through the reorder stage without a hold */
    uint64_t seq;              /* next arrival sequence for the heap */
    unsigned hold_max;
    struct fault_hold *fifo;   /* hold_max entries, a ring */
    unsigned fifo_head;
    unsigned fifo_n;
    struct fault_delayed *heap; /* hold_max entries */
    unsigned heap_n;
    struct fault_ctrs ctrs;
    char ctr_name[48];
};

struct fault_link {
    struct link link;
    struct link *inner;
    struct clk *clock;
    struct pkt_pool *pool;     /* duplicates come from here */
    struct fault_direction dir[2];   /* enum fault_dir */
    struct pkt_list rx_ready;  /* received frames released but not yet returned */
};

static const struct link_ops fault_ops;

static struct fault_link *fault_of(struct link *l)
{
    return (struct fault_link *)((char *)l - offsetof(struct fault_link, link));
}

/* ---- frame lists (chained through pkt->next) ---- */

static void list_append(struct pkt_list *l, struct pkt *p)
{
    p->next = NULL;
    if (l->tail)
        l->tail->next = p;
    else
        l->head = p;
    l->tail = p;
    l->n++;
}

static struct pkt *list_pop(struct pkt_list *l)
{
    struct pkt *p = l->head;
    l->head = p->next;
    if (!l->head)
        l->tail = NULL;
    l->n--;
    p->next = NULL;
    return p;
}

static unsigned list_take(struct pkt_list *l, struct pkt **pkts, unsigned n)
{
    unsigned k = 0;
    while (k < n && l->n)
        pkts[k++] = list_pop(l);
    return k;
}

/* ---- the delay heap, ordered by (release_ns, seq) ---- */

static bool delayed_before(const struct fault_delayed *a, const struct fault_delayed *b)
{
    return a->release_ns < b->release_ns || (a->release_ns == b->release_ns && a->seq < b->seq);
}

static void heap_push(struct fault_direction *d, uint64_t release_ns, struct pkt *p)
{
    assert(d->heap_n < d->hold_max);
    unsigned i = d->heap_n++;
    struct fault_delayed e = { .release_ns = release_ns, .seq = d->seq++, .p = p };
    while (i > 0) {
        unsigned parent = (i - 1) / 2;
        if (!delayed_before(&e, &d->heap[parent]))
            break;
        d->heap[i] = d->heap[parent];
        i = parent;
    }
    d->heap[i] = e;
}

static struct pkt *heap_pop(struct fault_direction *d)
{
    struct pkt *top = d->heap[0].p;
    struct fault_delayed last = d->heap[--d->heap_n];
    unsigned i = 0, n = d->heap_n;
    for (;;) {
        unsigned child = 2 * i + 1;
        if (child >= n)
            break;
        if (child + 1 < n && delayed_before(&d->heap[child + 1], &d->heap[child]))
            child++;
        if (!delayed_before(&d->heap[child], &last))
            break;
        d->heap[i] = d->heap[child];
        i = child;
    }
    if (n)
        d->heap[i] = last;
    return top;
}

/* ---- the stages ---- */

static unsigned held(const struct fault_direction *d)
{
    return d->fifo_n + d->heap_n;
}

static bool is_listed(const struct fault_direction *d, uint64_t index)
{
    for (unsigned i = 0; i < FAULT_DROP_LIST_MAX && d->cfg.drop_nth[i]; i++)
        if (d->cfg.drop_nth[i] == index)
            return true;
    return false;
}

static void drop_overflow(struct fault_direction *d, struct pkt *p)
{
    d->ctrs.hold_overflow++;
    pkt_free(p);
}

/* Stage 6: delay (or straight out when no delay is configured). */
static void stage_delay(struct fault_direction *d, struct pkt *p, uint64_t now, struct pkt_list *out)
{
    if (!d->delays) {
        d->ctrs.out++;
        list_append(out, p);
        return;
    }
    if (held(d) >= d->hold_max) {
        drop_overflow(d, p);
        return;
    }
    uint64_t release = now + d->cfg.delay_ns;
    /* Modulo bias is below 2^-20 for any jitter up to the one-hour limit. */
    if (d->cfg.jitter_ns)
        release += rng_next(&d->rng[RNG_JITTER]) % (d->cfg.jitter_ns + 1);
    d->ctrs.delayed++;
    heap_push(d, release, p);
}

static struct pkt *fifo_pop(struct fault_direction *d)
{
    struct pkt *p = d->fifo[d->fifo_head].p;
    d->fifo_head = (d->fifo_head + 1) % d->hold_max;
    d->fifo_n--;
    return p;
}

/* Stage 4: flip one bit at or after the configured offset. */
static void stage_corrupt(struct fault_direction *d, struct pkt *p)
{
    struct rng *r = &d->rng[RNG_CORRUPT];
    if (!rng_chance(r, d->cfg.corrupt_p))
        return;
    if (p->len <= d->cfg.corrupt_offset) {
        d->ctrs.corrupt_short++;
        return;
    }
    uint32_t byte = d->cfg.corrupt_offset + rng_below(r, p->len - d->cfg.corrupt_offset);
    p->data[byte] ^= (uint8_t)(1u << rng_below(r, 8));
    d->ctrs.corrupt++;
}

/* Stages 4 and 5 for one frame (an original or a duplicate), then on to stage 6. */
static void stage_reorder(struct fault_direction *d, struct pkt *p, uint64_t now, struct pkt_list *out)
{
    stage_corrupt(d, p);
    if (rng_chance(&d->rng[RNG_REORDER], d->cfg.reorder_p)) {
        if (held(d) >= d->hold_max) {
            drop_overflow(d, p);
            return;
        }
        unsigned tail = (d->fifo_head + d->fifo_n) % d->hold_max;
        d->fifo[tail] = (struct fault_hold){
            .p = p,
            .pass_target = d->passed + d->cfg.reorder_gap,
            .deadline_ns = now + d->cfg.reorder_max_hold_ns,
        };
        d->fifo_n++;
        d->ctrs.reorder_held++;
        return;
    }
    stage_delay(d, p, now, out);
    d->passed++;
    /* The held frames this one completed the gap for follow it. */
    while (d->fifo_n && d->fifo[d->fifo_head].pass_target <= d->passed)
        stage_delay(d, fifo_pop(d), now, out);
}

/* One frame into a direction (consumes p). Stages 1-3 here. */
static void fault_input(struct fault_link *f, struct fault_direction *d, struct pkt *p, uint64_t now,
                        struct pkt_list *out)
{
    d->ctrs.frames++;
    d->index++;
    if (is_listed(d, d->index)) {
        d->ctrs.drop_nth++;
        pkt_free(p);
        return;
    }
    if (rng_chance(&d->rng[RNG_DROP], d->cfg.drop_p)) {
        d->ctrs.drop_random++;
        pkt_free(p);
        return;
    }
    struct pkt *copy = NULL;
    if (rng_chance(&d->rng[RNG_DUP], d->cfg.dup_p)) {
        copy = pkt_copy(f->pool, p);
        if (copy)
            d->ctrs.dup++;
        else
            d->ctrs.dup_nobufs++;
    }
    stage_reorder(d, p, now, out);
    if (copy)
        stage_reorder(d, copy, now, out);
}

/* Moves out every held frame whose time has come: reorder holds past their deadline (into the
 * delay stage), then delayed frames whose release time is reached. */
static void fault_release(struct fault_direction *d, uint64_t now, struct pkt_list *out)
{
    while (d->fifo_n && d->fifo[d->fifo_head].deadline_ns <= now) {
        d->ctrs.reorder_timeout++;
        stage_delay(d, fifo_pop(d), now, out);
    }
    while (d->heap_n && d->heap[0].release_ns <= now) {
        d->ctrs.out++;
        list_append(out, heap_pop(d));
    }
}

/* ---- transmit ---- */

/* Hands up to FAULT_CHUNK frames to the inner link, counting what it accepted (it consumes
 * those). Returns the inner link's answer. */
static int tx_chunk(struct fault_link *f, struct pkt **pkts, unsigned m)
{
    uint32_t lens[FAULT_CHUNK];
    assert(m <= FAULT_CHUNK);
    for (unsigned i = 0; i < m; i++)
        lens[i] = pkts[i]->len;
    int sent = link_tx_burst(f->inner, pkts, m);
    for (int i = 0; i < sent; i++)
        f->link.ctrs.tx_bytes += lens[i];
    if (sent > 0)
        f->link.ctrs.tx_frames += (unsigned)sent;
    return sent;
}

/* No transmit fault: straight through, back-pressure and errors included. */
static int tx_pass(struct fault_link *f, struct pkt **pkts, unsigned n)
{
    if (n == 0)
        return link_tx_burst(f->inner, pkts, 0);
    unsigned done = 0;
    while (done < n) {
        unsigned m = n - done < FAULT_CHUNK ? n - done : FAULT_CHUNK;
        int sent = tx_chunk(f, pkts + done, m);
        if (sent < 0)
            return done ? (int)done : sent;
        done += (unsigned)sent;
        if ((unsigned)sent < m)
            break;
    }
    return (int)done;
}

/* Sends the frames leaving the transmit direction (consumes the list). Like a wire, whatever the
 * inner link refuses or fails is lost, and counted. */
static void tx_flush(struct fault_link *f, struct pkt_list *out)
{
    struct pkt *batch[FAULT_CHUNK];
    while (out->n) {
        unsigned m = list_take(out, batch, FAULT_CHUNK);
        int sent = tx_chunk(f, batch, m);
        unsigned ok = sent > 0 ? (unsigned)sent : 0;
        if (ok < m) {
            f->dir[FAULT_TX].ctrs.tx_refused += m - ok;
            pkt_free_bulk(batch + ok, m - ok);
        }
    }
}

/* Sends the transmit direction's frames whose time has come. */
static void tx_release(struct fault_link *f, uint64_t now)
{
    struct pkt_list out = { 0 };
    fault_release(&f->dir[FAULT_TX], now, &out);
    tx_flush(f, &out);
}

static int fault_tx_burst(struct link *l, struct pkt **pkts, unsigned n)
{
    struct fault_link *f = fault_of(l);
    struct fault_direction *d = &f->dir[FAULT_TX];
    if (!d->active)
        return tx_pass(f, pkts, n);
    /* Probe before consuming anything, so a failed inner link's error reaches the caller with
     * its frames still the caller's. */
    int err = link_tx_burst(f->inner, pkts, 0);
    if (err < 0)
        return err;
    uint64_t now = clk_now(f->clock);
    struct pkt_list out = { 0 };
    fault_release(d, now, &out);
    for (unsigned i = 0; i < n; i++)
        fault_input(f, d, pkts[i], now, &out);
    /* Frames whose delay is zero (jitter only) may be due already. */
    fault_release(d, now, &out);
    tx_flush(f, &out);
    return (int)n;
}

/* ---- receive ---- */

static unsigned rx_deliver(struct fault_link *f, struct pkt **pkts, unsigned n)
{
    unsigned k = list_take(&f->rx_ready, pkts, n);
    for (unsigned i = 0; i < k; i++)
        f->link.ctrs.rx_bytes += pkts[i]->len;
    f->link.ctrs.rx_frames += k;
    return k;
}

static int rx_pass(struct fault_link *f, struct pkt **pkts, unsigned n)
{
    int got = link_rx_burst(f->inner, pkts, n);
    for (int i = 0; i < got; i++)
        f->link.ctrs.rx_bytes += pkts[i]->len;
    if (got > 0)
        f->link.ctrs.rx_frames += (unsigned)got;
    return got;
}

static int fault_rx_burst(struct link *l, struct pkt **pkts, unsigned n)
{
    struct fault_link *f = fault_of(l);
    struct fault_direction *d = &f->dir[FAULT_RX];
    if (!d->active && !f->dir[FAULT_TX].active)
        return rx_pass(f, pkts, n);
    uint64_t now = clk_now(f->clock);
    if (f->dir[FAULT_TX].active)
        tx_release(f, now);
    if (!d->active)
        return rx_pass(f, pkts, n);

    fault_release(d, now, &f->rx_ready);
    unsigned got = rx_deliver(f, pkts, n);
    int err = 0;
    while (got < n) {
        struct pkt *in[FAULT_CHUNK];
        unsigned want = n - got < FAULT_CHUNK ? n - got : FAULT_CHUNK;
        int r = link_rx_burst(f->inner, in, want);
        if (r <= 0) {
            err = r;
            break;
        }
        for (int i = 0; i < r; i++)
            fault_input(f, d, in[i], now, &f->rx_ready);
        fault_release(d, now, &f->rx_ready);
        got += rx_deliver(f, pkts + got, n - got);
    }
    return got == 0 && err < 0 ? err : (int)got;
}

/* ---- the rest of the vtable ---- */

static int fault_wait_fd(struct link *l)
{
    return link_wait_fd(fault_of(l)->inner);
}

static uint64_t dir_next_event(const struct fault_direction *d)
{
    uint64_t t = UINT64_MAX;
    if (d->fifo_n && d->fifo[d->fifo_head].deadline_ns < t)
        t = d->fifo[d->fifo_head].deadline_ns;
    if (d->heap_n && d->heap[0].release_ns < t)
        t = d->heap[0].release_ns;
    return t;
}

static uint64_t fault_next_event_ns(struct link *l)
{
    struct fault_link *f = fault_of(l);
    if (f->rx_ready.n)
        return 0;   /* frames are waiting to be received now */
    uint64_t t = link_next_event_ns(f->inner);
    for (unsigned i = 0; i < 2; i++) {
        uint64_t u = dir_next_event(&f->dir[i]);
        if (u < t)
            t = u;
    }
    return t;
}

static void dir_free(struct fault_direction *d)
{
    while (d->fifo_n)
        pkt_free(fifo_pop(d));
    while (d->heap_n)
        pkt_free(heap_pop(d));
    free(d->fifo);
    free(d->heap);
}

static void fault_free(struct fault_link *f)
{
    while (f->rx_ready.n)
        pkt_free(list_pop(&f->rx_ready));
    dir_free(&f->dir[FAULT_TX]);
    dir_free(&f->dir[FAULT_RX]);
    free(f);
}

static void fault_destroy(struct link *l)
{
    struct fault_link *f = fault_of(l);
    struct link *inner = f->inner;
    fault_free(f);
    link_destroy(inner);
}

static int fault_add_counters(struct link *l, struct ctr_set *set)
{
    int err = ctr_set_add(set, link_fault_ctr_group(l, FAULT_TX));
    if (!err)
        err = ctr_set_add(set, link_fault_ctr_group(l, FAULT_RX));
    return err ? err : link_add_counters(fault_of(l)->inner, set);
}

static const struct link_ops fault_ops = {
    .rx_burst = fault_rx_burst,
    .tx_burst = fault_tx_burst,
    .wait_fd = fault_wait_fd,
    .next_event_ns = fault_next_event_ns,
    .destroy = fault_destroy,
    .add_counters = fault_add_counters,
};

/* ---- creation ---- */

static bool is_probability(double p)
{
    return p >= 0.0 && p <= 1.0;   /* false for NaN too */
}

static int dir_config_check(const struct fault_dir_config *c, const struct pkt_pool *pool)
{
    if (!is_probability(c->drop_p) || !is_probability(c->dup_p) ||
        !is_probability(c->corrupt_p) || !is_probability(c->reorder_p))
        return -EINVAL;
    if (c->dup_p > 0 && !pool)
        return -EINVAL;
    if (c->delay_ns > FAULT_MAX_DELAY_NS || c->jitter_ns > FAULT_MAX_DELAY_NS ||
        c->reorder_max_hold_ns > FAULT_MAX_DELAY_NS)
        return -EINVAL;
    return 0;
}

static bool dir_config_is_active(const struct fault_dir_config *c)
{
    return c->drop_nth[0] != 0 || c->drop_p > 0 || c->dup_p > 0 || c->corrupt_p > 0 ||
           c->reorder_p > 0 || c->delay_ns > 0 || c->jitter_ns > 0;
}

static int dir_init(struct fault_direction *d, const struct fault_dir_config *c, unsigned which,
                    uint64_t seed, unsigned hold_max, const char *link_name)
{
    d->cfg = *c;
    if (d->cfg.reorder_gap == 0)
        d->cfg.reorder_gap = 1;
    if (d->cfg.reorder_max_hold_ns == 0)
        d->cfg.reorder_max_hold_ns = FAULT_DEFAULT_REORDER_HOLD_NS;
    d->active = dir_config_is_active(c);
    d->delays = c->delay_ns > 0 || c->jitter_ns > 0;
    d->hold_max = hold_max;
    for (unsigned k = 0; k < RNG_COUNT; k++)
        rng_seed(&d->rng[k], seed ^ ((uint64_t)(which * RNG_COUNT + k + 1) << 56));
    snprintf(d->ctr_name, sizeof(d->ctr_name), "%s.fault.%s", link_name,
             which == FAULT_TX ? "tx" : "rx");
    if (c->reorder_p > 0) {
        d->fifo = calloc(hold_max, sizeof(*d->fifo));
        if (!d->fifo)
            return -ENOMEM;
    }
    if (d->delays) {
        d->heap = calloc(hold_max, sizeof(*d->heap));
        if (!d->heap)
            return -ENOMEM;
    }
    return 0;
}

int link_fault_create(struct link *inner, const struct fault_config *cfg, struct clk *clock,
                      struct pkt_pool *pool, struct link **out)
{
    if (!inner || !cfg || !clock || !out)
        return -EINVAL;
    unsigned hold_max = cfg->hold_max ? cfg->hold_max : FAULT_DEFAULT_HOLD_MAX;
    if (hold_max > FAULT_HOLD_MAX_LIMIT)
        return -EINVAL;
    int err = dir_config_check(&cfg->tx, pool);
    if (!err)
        err = dir_config_check(&cfg->rx, pool);
    if (err)
        return err;

    struct fault_link *f = calloc(1, sizeof(*f));
    if (!f)
        return -ENOMEM;
    char name[sizeof(f->link.name)];
    snprintf(name, sizeof(name), "%.25s+fault", inner->name);
    link_init(&f->link, &fault_ops, name);
    f->link.caps = inner->caps;
    /* Held frames outlive tx_burst, and duplicates copy only the first buffer of a frame. */
    f->link.caps.offloads &= ~(LINK_TX_SYNC | LINK_OFF_SG);
    f->inner = inner;
    f->clock = clock;
    f->pool = pool;
    err = dir_init(&f->dir[FAULT_TX], &cfg->tx, FAULT_TX, cfg->seed, hold_max, f->link.name);
    if (!err)
        err = dir_init(&f->dir[FAULT_RX], &cfg->rx, FAULT_RX, cfg->seed, hold_max, f->link.name);
    if (err) {
        fault_free(f);
        return err;
    }
    *out = &f->link;
    return 0;
}

const struct fault_ctrs *link_fault_counters(struct link *l, enum fault_dir dir)
{
    assert(l->ops == &fault_ops);
    return &fault_of(l)->dir[dir].ctrs;
}

struct ctr_group link_fault_ctr_group(struct link *l, enum fault_dir dir)
{
    assert(l->ops == &fault_ops);
    struct fault_direction *d = &fault_of(l)->dir[dir];
    return CTR_GROUP(d->ctr_name, fault_ctrs, &d->ctrs);
}

unsigned link_fault_held(struct link *l, enum fault_dir dir)
{
    assert(l->ops == &fault_ops);
    return held(&fault_of(l)->dir[dir]);
}

/* ---- the textual form: "loss=0.01,seed=7,tx.delay=5ms" ---- */

enum spec_type { SPEC_PROB, SPEC_TIME, SPEC_U32, SPEC_LIST };

struct spec_key {
    const char *name;
    enum spec_type type;
    size_t off;                /* in struct fault_dir_config */
    const char *doc;
};

#define DIR_FIELD(f) offsetof(struct fault_dir_config, f)

/* One table drives both the parser and the help text. */
static const struct spec_key spec_keys[] = {
    { "loss", SPEC_PROB, DIR_FIELD(drop_p), "drop each frame with this probability" },
    { "drop", SPEC_PROB, DIR_FIELD(drop_p), "the same as loss" },
    { "drop_nth", SPEC_LIST, DIR_FIELD(drop_nth), "drop these frames, by 1-based index (3/7)" },
    { "dup", SPEC_PROB, DIR_FIELD(dup_p), "also send a copy with this probability" },
    { "corrupt", SPEC_PROB, DIR_FIELD(corrupt_p), "flip one bit with this probability" },
    { "corrupt_offset", SPEC_U32, DIR_FIELD(corrupt_offset),
      "corrupt only at or after this byte of the frame" },
    { "reorder", SPEC_PROB, DIR_FIELD(reorder_p), "hold a frame back with this probability" },
    { "reorder_gap", SPEC_U32, DIR_FIELD(reorder_gap),
      "frames that overtake a held one (default 1)" },
    { "reorder_hold", SPEC_TIME, DIR_FIELD(reorder_max_hold_ns),
      "release a held frame after this long anyway (default 50ms)" },
    { "delay", SPEC_TIME, DIR_FIELD(delay_ns), "delay every frame by this much" },
    { "jitter", SPEC_TIME, DIR_FIELD(jitter_ns), "plus a uniform random 0..jitter" },
};

static int spec_prob(const char *v, double *out)
{
    char *end;
    double p = strtod(v, &end);
    if (end == v)
        return -EINVAL;
    if (*end == '%') {
        p /= 100;
        end++;
    }
    if (*end || !is_probability(p))
        return -EINVAL;
    *out = p;
    return 0;
}

static int spec_u64(const char *v, uint64_t max, char **end, uint64_t *out)
{
    if (*v < '0' || *v > '9')
        return -EINVAL;
    errno = 0;
    unsigned long long x = strtoull(v, end, 10);
    if (errno || x > max)
        return -EINVAL;
    *out = x;
    return 0;
}

static int spec_time(const char *v, uint64_t *out)
{
    static const struct { const char *unit; uint64_t ns; } units[] = {
        { "ns", 1 }, { "us", NS_PER_US }, { "ms", NS_PER_MS }, { "s", NS_PER_SEC },
    };
    char *end;
    uint64_t x;
    if (spec_u64(v, FAULT_MAX_DELAY_NS, &end, &x))
        return -EINVAL;
    if (!*end && x == 0) {
        *out = 0;
        return 0;
    }
    for (unsigned i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].unit) == 0 && x <= FAULT_MAX_DELAY_NS / units[i].ns) {
            *out = x * units[i].ns;
            return 0;
        }
    }
    return -EINVAL;    /* no unit, an unknown one, or more than an hour */
}

static int spec_list(const char *v, uint32_t *list)
{
    uint32_t tmp[FAULT_DROP_LIST_MAX] = { 0 };
    unsigned n = 0;
    for (;;) {
        char *end;
        uint64_t x;
        if (n == FAULT_DROP_LIST_MAX || spec_u64(v, UINT32_MAX, &end, &x) || x == 0)
            return -EINVAL;
        tmp[n++] = (uint32_t)x;
        if (!*end)
            break;
        if (*end != '/')
            return -EINVAL;
        v = end + 1;
    }
    memcpy(list, tmp, sizeof(tmp));
    return 0;
}

static int spec_value(const struct spec_key *k, const char *v, struct fault_dir_config *d)
{
    void *field = (char *)d + k->off;
    uint64_t x;
    switch (k->type) {
    case SPEC_PROB:
        return spec_prob(v, field);
    case SPEC_TIME:
        return spec_time(v, field);
    case SPEC_LIST:
        return spec_list(v, field);
    case SPEC_U32: {
        char *end;
        if (spec_u64(v, UINT32_MAX, &end, &x) || *end)
            return -EINVAL;
        *(uint32_t *)field = (uint32_t)x;
        return 0;
    }
    }
    return -EINVAL;
}

/* Applies one "key=value" item (NUL-terminated, in a scratch buffer). */
static int spec_item(char *item, struct fault_config *cfg)
{
    char *v = strchr(item, '=');
    if (!v)
        return -EINVAL;
    *v++ = 0;
    uint64_t x;
    char *end;
    if (strcmp(item, "seed") == 0) {
        if (spec_u64(v, UINT64_MAX, &end, &cfg->seed) || *end)
            return -EINVAL;
        return 0;
    }
    if (strcmp(item, "hold") == 0) {
        if (spec_u64(v, FAULT_HOLD_MAX_LIMIT, &end, &x) || *end || x == 0)
            return -EINVAL;
        cfg->hold_max = (uint32_t)x;
        return 0;
    }
    struct fault_dir_config *dirs[2] = { &cfg->tx, &cfg->rx };
    unsigned first = 0, last = 1;
    if (strncmp(item, "tx.", 3) == 0) {
        item += 3;
        last = 0;
    } else if (strncmp(item, "rx.", 3) == 0) {
        item += 3;
        first = 1;
    }
    for (unsigned i = 0; i < sizeof(spec_keys) / sizeof(spec_keys[0]); i++) {
        if (strcmp(item, spec_keys[i].name) != 0)
            continue;
        for (unsigned d = first; d <= last; d++)
            if (spec_value(&spec_keys[i], v, dirs[d]))
                return -EINVAL;
        return 0;
    }
    return -EINVAL;
}

int fault_config_parse(const char *spec, struct fault_config *cfg)
{
    *cfg = (struct fault_config){ 0 };
    while (spec && *spec) {
        size_t len = strcspn(spec, ",");
        char item[128];
        int err = -EINVAL;
        if (len > 0 && len < sizeof(item)) {
            memcpy(item, spec, len);
            item[len] = 0;
            err = spec_item(item, cfg);
        }
        if (err) {
            ust_log(UST_LOG_ERROR, "fault: bad item \"%.*s\" (see ustack help fault)",
                    (int)len, spec);
            *cfg = (struct fault_config){ 0 };
            return err;
        }
        spec += len;
        if (*spec == ',')
            spec++;
    }
    return 0;
}

void fault_config_help(FILE *f)
{
    fprintf(f, "Fault injection: comma-separated key=value items, e.g. loss=0.01,seed=7\n"
               "A key prefixed tx. or rx. sets one direction; without a prefix, both.\n"
               "Probabilities: 0..1 or N%%. Times: N with ns, us, ms or s (at most 1 hour).\n\n");
    fprintf(f, "  %-16s %s\n", "seed=N", "seed of the random choices (default 0)");
    fprintf(f, "  %-16s %s\n", "hold=N", "frames held per direction at most (default 1024)");
    static const char *const type_arg[] = { "=P", "=TIME", "=N", "=N/N/..." };
    for (unsigned i = 0; i < sizeof(spec_keys) / sizeof(spec_keys[0]); i++) {
        char key[40];
        snprintf(key, sizeof(key), "%s%s", spec_keys[i].name, type_arg[spec_keys[i].type]);
        fprintf(f, "  %-16s %s\n", key, spec_keys[i].doc);
    }
}
