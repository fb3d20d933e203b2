/*
 * The loop link: two links in one process wired back to back, like a crossover cable.
 *
 * Entry point: link_loop_pair() makes ends a and b. What a transmits, b receives, and the other
 * way round. Nothing is copied: the struct pkt pointer itself crosses, so a frame b receives still
 * belongs to the pool a allocated it from, and goes back there when b frees it.
 *
 * Each direction is a bounded single-producer, single-consumer ring (C11 atomics). One thread may
 * transmit on an end while another receives on the other end. The rings never share a writable
 * cache line between producer and consumer: each side keeps its own copy of the other's index and
 * rereads the shared one only when the ring looks full (producer) or empty (consumer). The same
 * design later carries the shared-memory wire between processes.
 *
 * OWNERSHIP: as link.h says. tx_burst consumes the frames it accepts; a full ring is back-pressure
 * (the return value is short and the caller keeps the rest). A frame longer than MTU + 14 bytes
 * (the Ethernet header; the loop carries no VLAN tags and no FCS) is also consumed: it is freed and
 * counted in tx_too_long, never returned, because retrying it could never succeed.
 *
 * Waking: each end has an eventfd (wait_fd) that becomes readable when its receive ring goes from
 * empty to non-empty, and is drained when rx_burst finds the ring empty, so a thread can sleep in
 * poll() on it. It also becomes readable when the peer is destroyed.
 *
 * Teardown: destroying one end frees the frames waiting in its receive ring. From then on the
 * peer's tx_burst fails with -ENETDOWN (its frames stay the caller's) and its rx_burst returns the
 * frames still queued towards it, then -ENETDOWN. The shared state is freed with the second end.
 *
 * Threads: the rings are thread-safe between one producer and one consumer, but the packet pool is
 * not. A frame is freed into its own pool by whoever consumes it last, so two ends driven by two
 * threads must either share nothing but frames that come back (ping-pong) or serialise their pools.
 */
#ifndef UST_LINK_LOOP_H
#define UST_LINK_LOOP_H

#include <stdint.h>

#include "link/link.h"

#define LINK_LOOP_DEFAULT_RING 256u
#define LINK_LOOP_MAX_RING (1u << 20)
#define LINK_LOOP_DEFAULT_MTU 1500u
#define LINK_LOOP_MIN_MTU 68u         /* the IPv4 minimum (RFC 791) */
#define LINK_LOOP_MAX_MTU 65535u

struct link_loop_config {
    uint32_t ring_size;     /* frames per direction, a power of two >= 2; 0: the default */
    uint32_t mtu;           /* largest IP packet, 68..65535; 0: 1500 */
    const char *name_a;     /* link names (copied); NULL: "loop.a", "loop.b" */
    const char *name_b;
};

#define LOOP_COUNTERS(X)                                                            \
    X(tx_too_long, "frames consumed and dropped by tx_burst: longer than MTU + 14")  \
    X(tx_wakeups, "eventfd signals sent to the peer (its ring went from empty to non-empty)")

CTR_DEFINE(loop_ctrs, LOOP_COUNTERS)

/* Creates a connected pair. cfg may be NULL (defaults). Returns 0 and both ends, -EINVAL for a
 * bad configuration, or -ENOMEM / -EMFILE when memory or eventfds run out. Each end is destroyed
 * with link_destroy(), in either order. */
int link_loop_pair(const struct link_loop_config *cfg, struct link **a, struct link **b);

/* The loop's own counters for end l (which must be a loop end), named "<link name>.loop". */
const struct loop_ctrs *link_loop_counters(struct link *l);
struct ctr_group link_loop_ctr_group(struct link *l);

#endif
