/*
 * IPv4 input, routing and output (see ipv4.h). Reassembly is in ipv4_reass.c.
 */
#include "net/ipv4.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net/stack.h"
#include "tcp/tcp.h"
#include "udp/udp.h"
#include "wire/checksum.h"
#include "wire/icmp.h"

CTR_DESCRIBE(ipv4_ctrs, IPV4_COUNTERS)

#define IPV4_LIMITED_BROADCAST 0xffffffffu

int ipv4_init(struct ust_stack *s)
{
    /* RFC 7739 4.3-style IDs: counters picked by a keyed hash of the flow, started at random. */
    for (unsigned i = 0; i < 256; i++)
        s->ipv4.ids[i] = (uint16_t)siphash24(&s->secret, &i, sizeof(i));
    return ipv4_reass_init(s);
}

void ipv4_destroy(struct ust_stack *s)
{
    ipv4_reass_destroy(s);
}

static bool is_directed_broadcast(const struct iface *ifc, uint32_t addr)
{
    return ifc->prefix_len < 31 && addr == ifc->bcast;
}

bool ipv4_addr_is_broadcast(struct ust_stack *s, uint32_t addr)
{
    if (addr == IPV4_LIMITED_BROADCAST)
        return true;
    for (unsigned i = 0; i < s->n_ifaces; i++)
        if (is_directed_broadcast(&s->ifaces[i], addr))
            return true;
    return false;
}

enum addr_verdict { ADDR_OK, ADDR_NOT_OURS, ADDR_MARTIAN };

/* The address checks of input, in one pass over the interfaces.
 * RFC 1122 3.2.1.3: a host accepts datagrams for its addresses and broadcasts; we do not
 * forward (3.3.1.1: a host that is not a router silently discards the rest). A source must be a
 * unicast address of some host, and never a loopback address ((g): 127/8 "MUST NOT appear
 * outside a host"; Linux drops it as a martian); as Linux (fib_validate_source), one of our own
 * addresses as the source of a datagram that came from a link is spoofed, a martian too. */
static enum addr_verdict check_addresses(struct ust_stack *s, uint32_t src, uint32_t dst,
                                         bool looped)
{
    bool ours = dst == IPV4_LIMITED_BROADCAST;
    /* 0/8 as a whole is not checked: only 0.0.0.0 itself, as before. Class D and E (and the
     * limited broadcast) are >= 224.0.0.0. */
    bool martian = src == 0 || (src >> 24) == 127 || (src >> 28) >= 14;
    /* ifc->bcast is the directed broadcast, or the limited one where there is none: that one
     * is ours as a destination and a martian as a source already. */
    for (unsigned i = 0; i < s->n_ifaces; i++) {
        const struct iface *ifc = &s->ifaces[i];
        ours |= dst == ifc->addr || dst == ifc->bcast;
        martian |= src == ifc->bcast || (!looped && src == ifc->addr);
    }
    return !ours ? ADDR_NOT_OURS : martian ? ADDR_MARTIAN : ADDR_OK;
}

/* ---- Input ---- */

static void count_parse_error(struct ipv4_ctrs *c, int err)
{
    switch (err) {
    case WIRE_ETRUNC:
        c->in_truncated++;
        break;
    case WIRE_EOPT:
        c->in_bad_options++;
        break;
    default:
        c->in_hdr_errors++;
        break;
    }
}

static void deliver(struct iface *ifc, const struct ipv4_repr *ip, struct pkt *p)
{
    struct ust_stack *s = ifc->stack;
    pkt_pull(p, ip->hdr_len);
    switch (ip->protocol) {
    case IPPROTO_ICMP:
        s->ipv4.ctrs.in_delivers++;
        icmp_input(ifc, ip, p);
        return;
    case IPPROTO_UDP:
        s->ipv4.ctrs.in_delivers++;
        udp_input(ifc, ip, p);
        return;
    case IPPROTO_TCP:
        s->ipv4.ctrs.in_delivers++;
        tcp_input(ifc, ip, p);
        return;
    default:
        s->ipv4.ctrs.in_unknown_protos++;
        /* RFC 1122 3.2.2.1: protocol unreachable (ICMP's own rules filter broadcasts). */
        icmp_send_error(ifc, p, ip, ip->hdr_len + ip->payload_len, ICMP_DEST_UNREACH,
                        ICMP_PROTO_UNREACH, 0);
        pkt_free(p);
        return;
    }
}

void ipv4_input(struct iface *ifc, struct pkt *p)
{
    struct ust_stack *s = ifc->stack;
    struct ipv4_ctrs *c = &s->ipv4.ctrs;
    struct ipv4_repr ip;
    c->in_receives++;
    int err = ipv4_parse(p->data, p->len, &ip);
    if (err) {
        count_parse_error(c, err);
        goto drop;
    }
    switch (check_addresses(s, ip.src, ip.dst, ipv4_rx_cb(p)->looped)) {
    case ADDR_OK:
        break;
    case ADDR_NOT_OURS:
        c->in_addr_errors++;
        goto drop;
    case ADDR_MARTIAN:
        c->in_martian_source++;
        goto drop;
    }
    pkt_trim(p, ip.total_len);   /* Ethernet padding is not part of the datagram */
    if (ipv4_is_fragment(&ip)) {
        p = ipv4_reass_input(ifc, &ip, p);
        if (!p)
            return;
    }
    deliver(ifc, &ip, p);
    return;
drop:
    pkt_free(p);
}

/* ---- Routing ---- */

int ipv4_route(struct ust_stack *s, uint32_t dst, struct route *rt)
{
    *rt = (struct route){ 0 };
    struct iface *local = stack_iface_by_addr(s, dst);
    if (local) {
        *rt = (struct route){ .ifc = local, .src = dst, .next_hop = dst, .local = true };
        return 0;
    }
    if (dst == IPV4_LIMITED_BROADCAST) {
        /* RFC 1122 3.3.6: sent on the first interface (the "primary" one). */
        struct iface *ifc = &s->ifaces[0];
        *rt = (struct route){ .ifc = ifc, .src = ifc->addr, .next_hop = dst, .broadcast = true };
        return 0;
    }
    /* An interface whose link failed for good has no routes any more, as a Linux device that
     * is gone (a veth whose peer's namespace died) takes its routes with it: a new connection
     * gets ENETUNREACH at once instead of sending SYNs into a dead link. */
    for (unsigned i = 0; i < s->n_ifaces; i++) {
        struct iface *ifc = &s->ifaces[i];
        if (!ifc->down && (dst & ifc->netmask) == (ifc->addr & ifc->netmask)) {
            *rt = (struct route){ .ifc = ifc, .src = ifc->addr, .next_hop = dst,
                                  .broadcast = is_directed_broadcast(ifc, dst) };
            return 0;
        }
    }
    /* Only unicast goes through the gateway: a loopback destination never leaves the host
     * (RFC 1122 3.2.1.3 (g)) and multicast (RFC 1112) is not supported, so neither has a route
     * rather than going out as a unicast frame to the gateway. */
    if (s->gateway && dst != 0 && (dst >> 24) != 127 && (dst >> 28) != 14 &&
        !s->ifaces[0].down) {
        struct iface *ifc = &s->ifaces[0];
        *rt = (struct route){ .ifc = ifc, .src = ifc->addr, .next_hop = s->gateway };
        return 0;
    }
    return -ENETUNREACH;
}

uint32_t ipv4_max_unfragmented(const struct route *rt)
{
    return rt->local ? IPV4_MAX_LEN - IPV4_HDR_LEN : rt->ifc->mtu - IPV4_HDR_LEN;
}

/* ---- Output ---- */

uint16_t *ipv4_id_counter(struct ust_stack *s, uint32_t src, uint32_t dst, uint8_t proto)
{
    return &s->ipv4.ids[hash_flow(s->secret.k1, src, dst, proto) & 255];
}

static uint16_t next_id(struct ust_stack *s, const struct ipv4_tx *h)
{
    return (*ipv4_id_counter(s, h->src, h->dst, h->protocol))++;
}

void ipv4_output_frame(struct ust_stack *s, const struct route *rt, struct pkt *p)
{
    s->ipv4.ctrs.out_requests++;
    iface_xmit(rt->ifc, p);
}

/* Prepends the IP header to p (data at the transport header). NULL-safe on no headroom. */
static bool push_header(struct ust_stack *s, const struct ipv4_tx *h, struct pkt *p,
                        uint16_t id, uint16_t frag_off, bool mf, bool df)
{
    struct ipv4_repr r = {
        .src = h->src, .dst = h->dst, .protocol = h->protocol,
        .ttl = h->ttl ? h->ttl : (uint8_t)s->cfg.ttl, .tos = h->tos,
        .df = df, .mf = mf, .id = id, .frag_off = frag_off,
        .payload_len = (uint16_t)pkt_frame_len(p),
    };
    uint8_t *hdr = pkt_push(p, IPV4_HDR_LEN);
    if (!hdr)
        return false;
    ipv4_emit(&r, hdr, IPV4_HDR_LEN);
    return true;
}

/* Hands a finished datagram (data at the IP header) to the link layer. */
static void send_datagram(struct ust_stack *s, const struct route *rt, struct pkt *p)
{
    static const struct eth_addr bcast = { { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } };
    if (rt->local) {
        s->ipv4.ctrs.out_loopback++;
        *ipv4_rx_cb(p) = (struct ipv4_rx_cb){ .looped = true };
        stack_loopback(s, p);
    } else if (rt->broadcast) {
        eth_output(rt->ifc, p, &bcast, ETHERTYPE_IPV4);
    } else {
        arp_output(rt->ifc, rt->next_hop, p);
    }
}

/* RFC 791 3.2 "fragmentation": pieces of a multiple of 8 bytes, all but the last with MF. */
static int fragment(struct ust_stack *s, const struct route *rt, const struct ipv4_tx *h,
                    struct pkt *p)
{
    uint32_t piece = (rt->ifc->mtu - IPV4_HDR_LEN) & ~7u;
    uint16_t id = next_id(s, h);
    uint32_t total = p->len;
    for (uint32_t off = 0; off < total; off += piece) {
        uint32_t len = total - off < piece ? total - off : piece;
        struct pkt *f = stack_alloc(s);
        if (!f) {
            s->ipv4.ctrs.out_discards++;
            pkt_free(p);
            return -ENOBUFS;
        }
        memcpy(pkt_put(f, len), p->data + off, len);
        if (!push_header(s, h, f, id, (uint16_t)off, off + len < total, false)) {
            pkt_free(f);
            pkt_free(p);
            s->ipv4.ctrs.out_discards++;
            return -ENOBUFS;
        }
        s->ipv4.ctrs.frag_creates++;
        send_datagram(s, rt, f);
    }
    s->ipv4.ctrs.frag_oks++;
    pkt_free(p);
    return 0;
}

int ipv4_output(struct ust_stack *s, const struct route *rt, const struct ipv4_tx *h,
                struct pkt *p)
{
    s->ipv4.ctrs.out_requests++;
    uint32_t len = pkt_frame_len(p);
    if (len > IPV4_MAX_LEN - IPV4_HDR_LEN) {
        pkt_free_frame(p);
        return -EMSGSIZE;
    }
    /* A segmentation-offload frame is cut to the MTU by the link, not here. */
    if (len > ipv4_max_unfragmented(rt) && !p->gso_size) {
        if (h->df) {
            s->ipv4.ctrs.frag_fails++;
            pkt_free_frame(p);
            return -EMSGSIZE;
        }
        return fragment(s, rt, h, p);
    }
    if (!push_header(s, h, p, next_id(s, h), 0, false, h->df)) {
        s->ipv4.ctrs.out_discards++;
        pkt_free_frame(p);
        return -ENOBUFS;
    }
    send_datagram(s, rt, p);
    return 0;
}
