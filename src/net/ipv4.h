/*
 * IPv4 (RFC 791, RFC 1122 3.2.1, 3.3): input validation and demultiplexing, routing, output with
 * fragmentation, and reassembly (ipv4_reass.c).
 *
 * Entry points: ipv4_input() takes a received datagram; ipv4_route() picks the interface and next
 * hop for a destination; ipv4_output() sends a finished transport datagram, fragmenting it when
 * it is larger than the interface's MTU.
 *
 * Ownership: both ipv4_input and ipv4_output consume their packet. Transport input functions
 * receive p with p->data at their header and p->len the transport length; the IP header stays
 * in the buffer just before it (ip->payload - ip->hdr_len), so ICMP errors can quote it.
 */
#ifndef UST_NET_IPV4_H
#define UST_NET_IPV4_H

#include <stdbool.h>
#include <stdint.h>

#include "base/counters.h"
#include "base/pkt.h"
#include "base/timer.h"
#include "wire/ipv4.h"

struct iface;
struct ust_stack;

#define IPV4_COUNTERS(X)                                                            \
    X(in_receives, "datagrams received (IpInReceives)")                             \
    X(in_hdr_errors, "dropped: bad version, header length, total length or checksum (IpInHdrErrors)") \
    X(in_truncated, "dropped: frame shorter than the datagram's total length")      \
    X(in_bad_options, "dropped: malformed IP options")                              \
    X(in_addr_errors, "dropped: not addressed to us (IpInAddrErrors)")              \
    X(in_martian_source, "dropped: source address broadcast, multicast or zero")    \
    X(in_unknown_protos, "datagrams for a protocol we do not run (IpInUnknownProtos)") \
    X(in_delivers, "datagrams delivered to transport protocols (IpInDelivers)")     \
    X(out_requests, "datagrams sent by transport protocols (IpOutRequests)")        \
    X(out_no_routes, "dropped: no route to the destination (IpOutNoRoutes)")        \
    X(out_discards, "dropped on output: no buffer (IpOutDiscards)")                 \
    X(out_loopback, "datagrams delivered to ourselves")                             \
    X(frag_creates, "fragments created (IpFragCreates)")                            \
    X(frag_oks, "datagrams fragmented (IpFragOKs)")                                 \
    X(frag_fails, "dropped: needed fragmentation but DF was set (IpFragFails)")     \
    X(reasm_reqds, "fragments received (IpReasmReqds)")                             \
    X(reasm_oks, "datagrams reassembled (IpReasmOKs)")                              \
    X(reasm_fails, "datagrams abandoned by reassembly (IpReasmFails)")              \
    X(reasm_timeout, "datagrams whose reassembly timed out")                        \
    X(reasm_overlap, "datagrams dropped: overlapping fragments")                    \
    X(reasm_duplicate, "fragments dropped: exact duplicate of one already held")    \
    X(reasm_over_mem, "fragments dropped: reassembly memory limit reached")         \
    X(reasm_over_count, "fragments dropped: too many datagrams under reassembly")   \
    X(reasm_bad_length, "fragments dropped: impossible offset or length")           \
    X(reasm_no_big_buffer, "datagrams dropped: no buffer to reassemble into")

CTR_DEFINE(ipv4_ctrs, IPV4_COUNTERS)

/* One datagram being reassembled (RFC 791 3.2 "reassembly"; RFC 815 for the hole-free check). */
struct reasm {
    uint32_t src, dst;           /* the key: src, dst, id, protocol (RFC 791) */
    uint16_t id;
    uint8_t protocol;
    bool in_use;
    bool have_last;              /* the fragment without MF arrived: total is known */
    uint32_t total;              /* payload bytes of the whole datagram, once known */
    uint32_t held_bytes;         /* payload bytes held */
    uint32_t mem;                /* buffer bytes held (counted against reasm_mem) */
    uint8_t first_hdr_len;       /* header length of the first fragment, once it arrived */
    uint8_t ttl, tos;            /* from the first fragment, for the rebuilt header */
    struct pkt *frags;           /* sorted by offset, linked by next; p->frag_off is the offset */
    struct iface *ifc;
    struct reasm *hash_next;
    struct ust_stack *stack;
    struct timer timer;
};

struct ipv4_state {
    struct ipv4_ctrs ctrs;
    uint16_t ids[256];           /* IP ID counters, one per hash of (src, dst, protocol) */
    struct reasm *reasm;         /* cfg.reasm_max entries */
    struct reasm **reasm_buckets;
    uint32_t reasm_n_buckets;
    uint32_t reasm_count;
    uint32_t reasm_mem;          /* buffer bytes held by all of them */
};

/* Where a datagram goes. */
struct route {
    struct iface *ifc;
    uint32_t src;                /* our address on ifc */
    uint32_t next_hop;           /* host order; the destination itself when on-link */
    bool local;                  /* the destination is one of our addresses */
    bool broadcast;              /* limited or directed broadcast */
};

/* Header fields of a datagram to send. */
struct ipv4_tx {
    uint32_t src, dst;
    uint8_t protocol;
    uint8_t ttl;                 /* 0: the stack's default */
    uint8_t tos;
    bool df;
};

/* What the network layer remembers about a received datagram, in p->cb from eth_input (or the
 * loopback path) until a transport that keeps its own state in p->cb takes the packet. */
struct ipv4_rx_cb {
    bool link_broadcast;         /* came in a link-layer broadcast frame (Linux's pkt_type
                                  * PACKET_BROADCAST): never answered with an ICMP error */
    bool looped;                 /* sent by this stack to itself, not received from a link */
};

_Static_assert(sizeof(struct ipv4_rx_cb) <= PKT_CB_SIZE, "ipv4_rx_cb fits in pkt->cb");

static inline struct ipv4_rx_cb *ipv4_rx_cb(struct pkt *p)
{
    return (struct ipv4_rx_cb *)(void *)p->cb;
}

static inline bool ipv4_rx_link_broadcast(const struct pkt *p)
{
    return ((const struct ipv4_rx_cb *)(const void *)p->cb)->link_broadcast;
}

int ipv4_init(struct ust_stack *s);
void ipv4_destroy(struct ust_stack *s);

/* Handles a received datagram (p->data at the IP header, ipv4_rx_cb(p) filled in; consumes p). */
void ipv4_input(struct iface *ifc, struct pkt *p);

/* True for the limited broadcast address and our interfaces' directed broadcasts. */
bool ipv4_addr_is_broadcast(struct ust_stack *s, uint32_t addr);

/* Finds the route to dst: on-link prefix first, then the default gateway. Returns 0, or
 * -ENETUNREACH. */
int ipv4_route(struct ust_stack *s, uint32_t dst, struct route *rt);

/* Sends a transport datagram (p->data at its header, p->len its length) along rt; fragments it
 * if it exceeds the MTU and h->df is false. Consumes p. Returns 0, -EMSGSIZE (DF set and too
 * big), or -ENOBUFS. */
int ipv4_output(struct ust_stack *s, const struct route *rt, const struct ipv4_tx *h,
                struct pkt *p);

/* For a transport that builds whole frames itself (tcp_output.c's pure ACKs): the counter the
 * IDs of datagrams from src to dst of protocol proto are taken from (ipv4_output takes the next
 * ID as (*counter)++), fixed for the flow. */
uint16_t *ipv4_id_counter(struct ust_stack *s, uint32_t src, uint32_t dst, uint8_t proto);

/* Sends a frame built whole by the caller (Ethernet header and all, its IPv4 header's ID taken
 * from ipv4_id_counter) along rt, which is neither local nor broadcast and whose next hop's MAC
 * arp_output_mac gave; counted as ipv4_output counts a datagram. Consumes p. */
void ipv4_output_frame(struct ust_stack *s, const struct route *rt, struct pkt *p);

/* The largest transport datagram that fits in one unfragmented packet on rt. */
uint32_t ipv4_max_unfragmented(const struct route *rt);

/* Reassembly (ipv4_reass.c): takes a fragment, returns the whole datagram when it completes
 * (p->data at a rebuilt IP header, fully parsed into *ip) or NULL. Consumes p. */
struct pkt *ipv4_reass_input(struct iface *ifc, struct ipv4_repr *ip, struct pkt *p);
int ipv4_reass_init(struct ust_stack *s);
void ipv4_reass_destroy(struct ust_stack *s);

#endif
