/*
 * The loop link (see loop.h): two ends, two single-producer single-consumer rings of packet
 * pointers, two eventfds.
 *
 * Entry points: link_loop_pair(), then the link vtable on each end.
 *
 * Ring protocol. Indices are free-running uint32_t; slot i lives at slots[i & mask] and the ring
 * holds frames [cons, prod). The producer alone writes prod, the consumer alone writes cons, and
 * each lives on its own cache line. Each end keeps a private copy of its own index and of the last
 * value it read of the other's, and rereads the shared one only when its copy says the ring is
 * full (producer) or empty (consumer), so in a busy exchange the lines cross between cores once
 * per burst rather than once per frame.
 *
 * Wakeup protocol (no lost wakeups, no system call while both sides are busy). When rx_burst finds
 * the ring empty it drains its eventfd, sets ring->sleeping, and rereads prod. After publishing,
 * the producer reads ring->sleeping and, if set, clears it and writes the eventfd. A seq_cst fence
 * on each side between the store and the load (the store-buffer pattern) guarantees that either
 * the consumer sees the new frames or the producer sees the flag.
 *
 * OWNERSHIP: frames in a ring belong to the loop. Whoever drains a ring at teardown frees them:
 * the destroyed end frees its receive ring; the last end destroyed frees anything left anywhere.
 */
#include "link/loop.h"

#include <assert.h>
#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

CTR_DESCRIBE(loop_ctrs, LOOP_COUNTERS)

#define CACHE_LINE 64
#define ETH_HDR_LEN 14u

struct loop_ring {
    alignas(CACHE_LINE) _Atomic uint32_t prod;     /* next slot to fill; producer writes */
    alignas(CACHE_LINE) _Atomic uint32_t cons;     /* next slot to empty; consumer writes */
    /* Set by the consumer when it found the ring empty and may sleep; cleared by the producer
     * when it signals. Written rarely by both, so it gets a line of its own. */
    alignas(CACHE_LINE) _Atomic uint32_t sleeping;
    alignas(CACHE_LINE) struct pkt **slots;        /* read-only after creation */
    uint32_t mask;                                 /* ring size - 1 */
};

struct loop_pair;

struct loop_end {
    alignas(CACHE_LINE) struct link link;
    struct loop_pair *pair;
    struct loop_end *peer;
    unsigned side;                 /* index in pair->ends */
    struct loop_ring *tx_ring;     /* this end produces into it */
    struct loop_ring *rx_ring;     /* this end consumes from it */
    uint32_t tx_prod;              /* our own copy of tx_ring->prod */
    uint32_t tx_cons_seen;         /* tx_ring->cons as last read; may be behind */
    uint32_t rx_cons;              /* our own copy of rx_ring->cons */
    uint32_t rx_prod_seen;         /* rx_ring->prod as last read; may be behind */
    uint32_t max_frame;            /* MTU + Ethernet header */
    int efd;                       /* readable when rx_ring has frames or the peer is gone */
    struct loop_ctrs ctrs;
    char ctr_name[48];
};

struct loop_pair {
    struct loop_end ends[2];
    struct loop_ring rings[2];     /* rings[i] carries frames from ends[i] to ends[1 - i] */
    /* Written once each, at destroy; read on every burst by the other end. */
    alignas(CACHE_LINE) _Atomic bool closed[2];
    _Atomic int refs;              /* ends not yet destroyed */
};

static const struct link_ops loop_ops;

static struct loop_end *end_of(struct link *l)
{
    return (struct loop_end *)((char *)l - offsetof(struct loop_end, link));
}

static bool peer_is_closed(const struct loop_end *e)
{
    return atomic_load_explicit(&e->pair->closed[e->peer->side], memory_order_acquire);
}

static void efd_signal(int fd)
{
    uint64_t one = 1;
    /* Fails only if the counter would overflow, when the fd is readable anyway. */
    ssize_t r = write(fd, &one, sizeof(one));
    (void)r;
}

static void efd_drain(int fd)
{
    uint64_t v;
    /* EAGAIN when nothing was signalled, which is fine. */
    ssize_t r = read(fd, &v, sizeof(v));
    (void)r;
}

/* ---- producer side ---- */

/* Free slots as the producer sees them; rereads the consumer's index only when the ring looks
 * full. Acquire: the consumer has finished reading the slots it released. */
static uint32_t tx_room(struct loop_end *e)
{
    uint32_t size = e->tx_ring->mask + 1;
    uint32_t room = size - (e->tx_prod - e->tx_cons_seen);
    if (room == 0) {
        e->tx_cons_seen = atomic_load_explicit(&e->tx_ring->cons, memory_order_acquire);
        room = size - (e->tx_prod - e->tx_cons_seen);
    }
    return room;
}

/* Makes the frames written since the last publish visible, then wakes the consumer if it said it
 * might sleep. */
static void tx_publish(struct loop_end *e)
{
    struct loop_ring *r = e->tx_ring;
    atomic_store_explicit(&r->prod, e->tx_prod, memory_order_release);
    /* Pairs with the fence in rx_arm(). */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&r->sleeping, memory_order_relaxed) &&
        atomic_exchange_explicit(&r->sleeping, 0, memory_order_relaxed)) {
        efd_signal(e->peer->efd);
        e->ctrs.tx_wakeups++;
    }
}

static int loop_tx_burst(struct link *l, struct pkt **pkts, unsigned n)
{
    struct loop_end *e = end_of(l);
    if (peer_is_closed(e))
        return -ENETDOWN;
    struct loop_ring *r = e->tx_ring;
    uint32_t start = e->tx_prod;
    uint32_t room = tx_room(e);
    unsigned i;
    for (i = 0; i < n; i++) {
        struct pkt *p = pkts[i];
        if (p->len > e->max_frame) {
            /* Consumed, not returned: it would never fit (see loop.h). */
            e->ctrs.tx_too_long++;
            pkt_free(p);
            continue;
        }
        if (room == 0 && (room = tx_room(e)) == 0)
            break;
        e->link.ctrs.tx_frames++;
        e->link.ctrs.tx_bytes += p->len;
        r->slots[e->tx_prod & r->mask] = p;
        e->tx_prod++;
        room--;
    }
    if (e->tx_prod != start)
        tx_publish(e);
    return (int)i;
}

/* ---- consumer side ---- */

/* Frames waiting as the consumer sees them; rereads the producer's index only when the ring
 * looks empty. Acquire: the slots the producer filled are visible. */
static uint32_t rx_ready(struct loop_end *e)
{
    uint32_t avail = e->rx_prod_seen - e->rx_cons;
    if (avail == 0) {
        e->rx_prod_seen = atomic_load_explicit(&e->rx_ring->prod, memory_order_acquire);
        avail = e->rx_prod_seen - e->rx_cons;
    }
    return avail;
}

/* The ring is empty: drain the eventfd so that poll() may sleep, ask the producer for a signal,
 * and look once more for frames that raced in. Returns the frames now waiting. */
static uint32_t rx_arm(struct loop_end *e)
{
    struct loop_ring *r = e->rx_ring;
    /* Already armed means already drained and nothing signalled since; a dead peer's fd stays
     * readable. */
    if (atomic_load_explicit(&r->sleeping, memory_order_relaxed) || peer_is_closed(e))
        return 0;
    efd_drain(e->efd);
    atomic_store_explicit(&r->sleeping, 1, memory_order_relaxed);
    /* Pairs with the fence in tx_publish(). */
    atomic_thread_fence(memory_order_seq_cst);
    e->rx_prod_seen = atomic_load_explicit(&r->prod, memory_order_acquire);
    return e->rx_prod_seen - e->rx_cons;
}

static int loop_rx_burst(struct link *l, struct pkt **pkts, unsigned n)
{
    struct loop_end *e = end_of(l);
    struct loop_ring *r = e->rx_ring;
    uint32_t avail = rx_ready(e);
    if (avail == 0)
        avail = rx_arm(e);
    if (avail == 0) {
        if (!peer_is_closed(e))
            return 0;
        /* Seeing the peer closed makes everything it sent before closing visible: read prod
         * again so that those frames are delivered before the error. */
        avail = rx_ready(e);
        if (avail == 0)
            return -ENETDOWN;
    }
    unsigned k = avail < n ? avail : n;
    for (unsigned i = 0; i < k; i++) {
        struct pkt *p = r->slots[(e->rx_cons + i) & r->mask];
        e->link.ctrs.rx_frames++;
        e->link.ctrs.rx_bytes += p->len;
        pkts[i] = p;
    }
    e->rx_cons += k;
    atomic_store_explicit(&r->cons, e->rx_cons, memory_order_release);
    return (int)k;
}

static int loop_wait_fd(struct link *l)
{
    return end_of(l)->efd;
}

/* ---- teardown ---- */

/* Frees the frames in r from index `from` to its producer index; returns that index. Called only
 * by the ring's consumer, or when nobody else can touch the ring. */
static uint32_t ring_free_from(struct loop_ring *r, uint32_t from)
{
    uint32_t prod = atomic_load_explicit(&r->prod, memory_order_acquire);
    for (uint32_t i = from; i != prod; i++)
        pkt_free(r->slots[i & r->mask]);
    atomic_store_explicit(&r->cons, prod, memory_order_release);
    return prod;
}

static void pair_free(struct loop_pair *pair)
{
    for (unsigned i = 0; i < 2; i++) {
        struct loop_ring *r = &pair->rings[i];
        if (r->slots)
            ring_free_from(r, atomic_load_explicit(&r->cons, memory_order_relaxed));
        free(r->slots);
        if (pair->ends[i].efd >= 0)
            close(pair->ends[i].efd);
    }
    free(pair);
}

static void loop_destroy(struct link *l)
{
    struct loop_end *e = end_of(l);
    struct loop_pair *pair = e->pair;
    atomic_store_explicit(&pair->closed[e->side], true, memory_order_release);
    e->rx_cons = ring_free_from(e->rx_ring, e->rx_cons);
    /* Wake a peer asleep on its fd so that it sees -ENETDOWN. The fds are closed only with the
     * pair, so this never writes to a descriptor number that was reused. */
    efd_signal(e->peer->efd);
    if (atomic_fetch_sub_explicit(&pair->refs, 1, memory_order_acq_rel) == 1)
        pair_free(pair);
}

static int loop_add_counters(struct link *l, struct ctr_set *set)
{
    return ctr_set_add(set, link_loop_ctr_group(l));
}

static const struct link_ops loop_ops = {
    .rx_burst = loop_rx_burst,
    .tx_burst = loop_tx_burst,
    .wait_fd = loop_wait_fd,
    .next_event_ns = NULL,
    .destroy = loop_destroy,
    .add_counters = loop_add_counters,
};

/* ---- creation ---- */

static int loop_config_check(const struct link_loop_config *cfg, struct link_loop_config *out)
{
    *out = cfg ? *cfg : (struct link_loop_config){ 0 };
    if (out->ring_size == 0)
        out->ring_size = LINK_LOOP_DEFAULT_RING;
    if (out->mtu == 0)
        out->mtu = LINK_LOOP_DEFAULT_MTU;
    if (out->ring_size < 2 || out->ring_size > LINK_LOOP_MAX_RING ||
        (out->ring_size & (out->ring_size - 1)) != 0)
        return -EINVAL;
    if (out->mtu < LINK_LOOP_MIN_MTU || out->mtu > LINK_LOOP_MAX_MTU)
        return -EINVAL;
    if (!out->name_a)
        out->name_a = "loop.a";
    if (!out->name_b)
        out->name_b = "loop.b";
    return 0;
}

static int ring_init(struct loop_ring *r, uint32_t size)
{
    r->slots = calloc(size, sizeof(*r->slots));
    if (!r->slots)
        return -ENOMEM;
    r->mask = size - 1;
    atomic_init(&r->prod, 0);
    atomic_init(&r->cons, 0);
    /* An empty ring starts armed: the first frame signals. */
    atomic_init(&r->sleeping, 1);
    return 0;
}

static void end_init(struct loop_pair *pair, unsigned side, const struct link_loop_config *cfg)
{
    struct loop_end *e = &pair->ends[side];
    link_init(&e->link, &loop_ops, side == 0 ? cfg->name_a : cfg->name_b);
    e->link.caps = (struct link_caps){ .mtu = cfg->mtu };
    e->pair = pair;
    e->peer = &pair->ends[1 - side];
    e->side = side;
    e->tx_ring = &pair->rings[side];
    e->rx_ring = &pair->rings[1 - side];
    e->max_frame = cfg->mtu + ETH_HDR_LEN;
    snprintf(e->ctr_name, sizeof(e->ctr_name), "%s.loop", e->link.name);
    atomic_init(&pair->closed[side], false);
}

int link_loop_pair(const struct link_loop_config *cfg, struct link **a, struct link **b)
{
    struct link_loop_config c;
    int err = loop_config_check(cfg, &c);
    if (err)
        return err;
    struct loop_pair *pair = aligned_alloc(CACHE_LINE, sizeof(*pair));
    if (!pair)
        return -ENOMEM;
    memset(pair, 0, sizeof(*pair));
    pair->ends[0].efd = pair->ends[1].efd = -1;
    atomic_init(&pair->refs, 2);
    for (unsigned i = 0; i < 2; i++) {
        end_init(pair, i, &c);
        err = ring_init(&pair->rings[i], c.ring_size);
        if (err)
            goto fail;
        pair->ends[i].efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (pair->ends[i].efd < 0) {
            err = -errno;
            goto fail;
        }
    }
    *a = &pair->ends[0].link;
    *b = &pair->ends[1].link;
    return 0;
fail:
    pair_free(pair);
    return err;
}

const struct loop_ctrs *link_loop_counters(struct link *l)
{
    assert(l->ops == &loop_ops);
    return &end_of(l)->ctrs;
}

struct ctr_group link_loop_ctr_group(struct link *l)
{
    assert(l->ops == &loop_ops);
    struct loop_end *e = end_of(l);
    return CTR_GROUP(e->ctr_name, loop_ctrs, &e->ctrs);
}
