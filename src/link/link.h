/*
 * The link driver interface: how frames get in and out of a stack.
 *
 * Every driver (loop, tap, afpacket, afxdp, shm) and every middleware (fault injection, pcap
 * capture) implements the same small vtable, so middleware stacks on any driver:
 *
 *     stack -> pcap -> fault -> loop            (each arrow is a struct link)
 *
 * Batching is the default: one call moves a burst of frames, so a driver that needs a system call
 * makes one per burst, not one per frame.
 *
 * OWNERSHIP (see base/pkt.h): rx_burst gives the frames it returns to the caller. tx_burst
 * consumes the frames it accepts: it returns how many it took, k, and the caller still owns
 * pkts[k..n) (a full ring is back-pressure, not a drop; the caller decides). Frames are whole
 * Ethernet frames starting at pkt->data, without FCS; a link offering LINK_OFF_SG also takes
 * frames continued in a ->frag chain and frees every buffer of it (pkt_free_frame).
 *
 * Time: drivers and middleware that hold frames for later (a delaying fault injector) read the
 * clock they were created with and report when they next need to run through next_event_ns, so
 * the stack can sleep until then.
 */
#ifndef UST_LINK_LINK_H
#define UST_LINK_LINK_H

#include <stdint.h>

#include "base/counters.h"
#include "base/pkt.h"

struct link;

/* Offloads a link may offer. */
enum link_offload {
    LINK_OFF_RX_CSUM = 1u << 0,   /* received L4 checksums may be marked valid or partial */
    LINK_OFF_TX_CSUM = 1u << 1,   /* may transmit with PKT_F_CSUM_PARTIAL */
    LINK_OFF_TSO4 = 1u << 2,      /* may transmit TCP/IPv4 super-frames with gso_size set */
    LINK_OFF_TSO6 = 1u << 3,
    LINK_TX_SYNC = 1u << 4,       /* tx_burst is done with each frame when it returns (it copied
                                   * it out), so it may be handed shared packets (pkt_ref) */
    LINK_OFF_SG = 1u << 5,        /* accepts frames continued in a ->frag chain (gather) */
    LINK_RX_LEVEL = 1u << 6,      /* wait_fd stays readable while frames wait (level-triggered),
                                   * so rx_burst returning fewer frames than asked lets the
                                   * stack treat the link as empty: the link may have stopped
                                   * early, but a sleeper on wait_fd wakes at once for what is
                                   * left; without it only a return of 0 says the link is empty */
};

struct link_caps {
    uint32_t mtu;                 /* largest IP packet, excluding the Ethernet header */
    uint32_t offloads;            /* enum link_offload */
    uint8_t mac[6];               /* the interface's own address, if it has one (else zero) */
};

struct link_ops {
    /* Receives up to n frames into pkts. Returns the number received (0 if none), or a negative
     * errno if the link failed (-ENETDOWN when the peer is gone). Never blocks. */
    int (*rx_burst)(struct link *l, struct pkt **pkts, unsigned n);
    /* Transmits up to n frames; consumes the ones it accepts (see OWNERSHIP). Returns the number
     * accepted, or a negative errno if the link failed. Never blocks. */
    int (*tx_burst)(struct link *l, struct pkt **pkts, unsigned n);
    /* The file descriptor that becomes readable when rx_burst may return frames, or -1. The
     * stack asks just before it sleeps, so a driver may use the call to arm its wakeup (shm
     * sets a flag its peer checks, and answers an always-readable descriptor if frames came in
     * meanwhile); the next rx_burst disarms. */
    int (*wait_fd)(struct link *l);
    /* The earliest time (ns, the link's clock) at which the link needs to be polled again even if
     * wait_fd stays quiet, or UINT64_MAX. Optional (NULL means never). */
    uint64_t (*next_event_ns)(struct link *l);
    /* Releases the link and every frame it still holds; a middleware also destroys the link it
     * wraps. */
    void (*destroy)(struct link *l);
    /* Adds the driver's own counter groups (beyond the common ones, struct link_ctrs) to set; a
     * middleware adds its own, then those of the link it wraps (link_add_counters). Group names
     * are the link's name and the kind, "afpacket:veth0.afpacket". Returns 0 or -ENOSPC (the
     * set is full). Optional. */
    int (*add_counters)(struct link *l, struct ctr_set *set);
};

#define LINK_COUNTERS(X)                                                            \
    X(rx_frames, "frames received")                                                 \
    X(rx_bytes, "bytes received")                                                   \
    X(tx_frames, "frames transmitted")                                              \
    X(tx_bytes, "bytes transmitted")                                                \
    X(tx_busy, "frames refused by tx_burst because the link was full")              \
    X(rx_nobufs, "frames lost because the packet pool was empty")

CTR_DEFINE(link_ctrs, LINK_COUNTERS)

struct link {
    const struct link_ops *ops;
    struct link_caps caps;
    struct link_ctrs ctrs;        /* maintained by the driver */
    char name[32];
};

static inline int link_rx_burst(struct link *l, struct pkt **pkts, unsigned n)
{
    return l->ops->rx_burst(l, pkts, n);
}

static inline int link_tx_burst(struct link *l, struct pkt **pkts, unsigned n)
{
    return l->ops->tx_burst(l, pkts, n);
}

static inline int link_wait_fd(struct link *l)
{
    return l->ops->wait_fd ? l->ops->wait_fd(l) : -1;
}

static inline uint64_t link_next_event_ns(struct link *l)
{
    return l->ops->next_event_ns ? l->ops->next_event_ns(l) : UINT64_MAX;
}

/* Destroys l (NULL is ignored). */
void link_destroy(struct link *l);

/* Transmits all n frames or frees what the link refused, counting those as tx_busy. Consumes
 * pkts[0..n). Returns the number sent, or a negative errno (all frames freed). */
int link_tx_all_or_drop(struct link *l, struct pkt **pkts, unsigned n);

/* Fills in the common part of a new link. */
void link_init(struct link *l, const struct link_ops *ops, const char *name);

struct ctr_group link_ctr_group(struct link *l);
/* Adds every counter group of l to set: its common counters (link_ctr_group) and its driver's
 * own, through a middleware to the links it wraps. Returns 0, or -ENOSPC if the set filled up
 * (the groups that fitted are in). */
int link_add_counters(struct link *l, struct ctr_set *set);

#endif
