/*
 * ARP (RFC 826) and the IPv4 neighbour cache (RFC 1122 2.3.2.1 and 2.3.2.2).
 *
 * Entry points: arp_output() sends an IPv4 packet to a next hop, resolving its MAC first if need
 * be; arp_input() handles a received ARP packet; arp_announce() sends a gratuitous ARP.
 *
 * The cache is a fixed array of entries (sized by the arp_cache option) in a hash table, allocated
 * when the stack is made. Each entry walks a small state machine, modelled on Linux's:
 *
 *   INCOMPLETE --reply--> REACHABLE --reachable time--> STALE --used--> DELAY --5 s--> PROBE
 *       | retries run out                 ^                                             |
 *       v                                 +------------- reply ----------------------+
 *    (freed; queued packets dropped and reported host-unreachable to their senders)
 *
 * While an address is resolved, up to arp_queue packets wait on the entry (the oldest is dropped
 * when it is full: RFC 1122 2.3.2.2 asks to keep at least the latest). Every drop is counted.
 * A packet waiting on an entry is owned by the entry.
 */
#ifndef UST_NET_ARP_H
#define UST_NET_ARP_H

#include <stdbool.h>
#include <stdint.h>

#include "base/counters.h"
#include "base/pkt.h"
#include "base/timer.h"
#include "wire/eth.h"

struct iface;
struct ust_stack;

enum neigh_state {
    NEIGH_FREE = 0,
    NEIGH_INCOMPLETE,    /* request sent, no answer yet; packets queue */
    NEIGH_REACHABLE,     /* confirmed within the reachable time */
    NEIGH_STALE,         /* usable but unconfirmed; the next use starts a check */
    NEIGH_DELAY,         /* used while stale; wait a little for a confirmation */
    NEIGH_PROBE,         /* unicast requests to confirm the address */
    NEIGH_STATIC,        /* configured; never changes and never expires */
};

struct neigh {
    uint32_t ip;                 /* host order */
    struct eth_addr mac;
    uint8_t state;               /* enum neigh_state */
    uint8_t probes;              /* requests sent in the current resolution or probe */
    uint16_t queue_len;
    struct iface *ifc;
    struct pkt *queue_head;      /* packets waiting for the address (data at the IP header) */
    struct pkt *queue_tail;
    struct neigh *hash_next;
    struct ust_stack *stack;
    struct timer timer;
    uint64_t updated_ns;         /* when the state last changed */
};

#define ARP_COUNTERS(X)                                                             \
    X(rx, "ARP packets received")                                                   \
    X(rx_requests, "requests received")                                             \
    X(rx_replies, "replies received")                                               \
    X(tx_requests, "requests sent (including gratuitous and probes)")               \
    X(tx_replies, "replies sent")                                                   \
    X(drop_malformed, "dropped: not a well-formed Ethernet/IPv4 ARP packet")        \
    X(drop_bad_sender, "dropped: sender address broadcast, multicast or zero MAC")  \
    X(drop_not_for_us, "requests for addresses that are not ours")                 \
    X(addr_conflicts, "packets from another host claiming one of our addresses")    \
    X(static_refused, "updates refused because the entry is static")               \
    X(lladdr_changes, "neighbours whose MAC address changed (a move, or flapping)")   \
    X(resolved, "addresses resolved")                                               \
    X(resolve_failed, "resolutions given up after the last retry")                  \
    X(queued, "packets queued waiting for resolution")                              \
    X(queue_drops, "queued packets dropped: queue full (oldest dropped)")          \
    X(unresolved_drops, "queued packets dropped: address never resolved")           \
    X(queue_total_drops, "packets dropped: a quarter of the packet pool already waits for resolution") \
    X(table_full, "packets dropped: no free cache entry")                           \
    X(queue_copy_drops, "packets dropped: a TSO super-frame, or a frame sent without a copy that no buffer was left to copy into, for an address being resolved") \
    X(evicted, "stale entries reused for new addresses")

CTR_DEFINE(arp_ctrs, ARP_COUNTERS)

struct arp_table {
    struct neigh *entries;       /* cfg.arp_cache entries */
    struct neigh **buckets;
    uint32_t n_entries;
    uint32_t n_buckets;          /* power of two */
    uint32_t used;
    uint32_t queued;             /* packets waiting in every entry's queue together */
    struct arp_ctrs ctrs;
};

int arp_init(struct ust_stack *s);
void arp_destroy(struct ust_stack *s);

/* Sends an IPv4 packet (p->data at the IP header) to next_hop on ifc (consumes p). */
void arp_output(struct iface *ifc, uint32_t next_hop, struct pkt *p);

/* True if a packet to next_hop on ifc would leave at once (its address is known), not wait in
 * the resolution queue. */
bool arp_can_send_now(struct ust_stack *s, const struct iface *ifc, uint32_t next_hop);

/* The MAC arp_output would address a packet to next_hop with, taking the same step it would
 * (a STALE entry in use moves to DELAY); NULL when arp_output would hold the packet (no entry,
 * or resolution incomplete). For a caller that builds whole frames itself. *hint (NULL at
 * first) remembers the entry between calls: entries live in one array for the stack's life,
 * and at most one live entry holds an address, so a remembered entry that still holds
 * next_hop on ifc is the one the table would find, without the hash. */
const struct eth_addr *arp_output_mac(struct iface *ifc, uint32_t next_hop,
                                      const struct neigh **hint);

/* Handles a received ARP packet (p->data at the ARP header; consumes p). */
void arp_input(struct iface *ifc, struct pkt *p);

/* Broadcasts a gratuitous ARP request for ifc's address (RFC 5227 2.4 "announcement"). */
void arp_announce(struct iface *ifc);

/* Adds or replaces a static entry. Returns 0 or -ENOSPC. */
int arp_add_static(struct iface *ifc, uint32_t ip, const struct eth_addr *mac);
/* Adds the arp_static option's entries ("IP=MAC[,IP=MAC...]") on interface ifc. Returns 0 or
 * -EINVAL (logged: which entry, and why) for an entry that does not parse, an IP that is not
 * another host on ifc's network, or a MAC that is multicast or zero. */
int arp_config_static(struct iface *ifc, const char *spec);

/* Removes ip's entry on ifc, static or learned, and drops what waits on it (as `ip neigh del`).
 * Returns 0 or -ENOENT. */
int arp_delete(struct iface *ifc, uint32_t ip);

/* The entry for ip on ifc, or NULL (for tests and tools). */
const struct neigh *arp_lookup(struct ust_stack *s, const struct iface *ifc, uint32_t ip);

#endif
