/*
 * ICMP for IPv4 (see icmp.h).
 */
#include "net/icmp.h"

#include <errno.h>
#include <string.h>

#include "net/stack.h"
#include "tcp/tcp.h"
#include "udp/udp.h"
#include "wire/icmp.h"

CTR_DESCRIBE(icmp_ctrs, ICMP_COUNTERS)

/* RFC 1812 4.3.2.3 (followed by Linux for hosts too): an error quotes as much of the offending
 * datagram as fits in a 576-byte reply. */
#define ICMP_ERROR_MAX 576
/* Linux's type of service for ICMP errors: precedence "internetwork control". */
#define ICMP_ERROR_TOS 0xc0

int icmp_init(struct ust_stack *s)
{
    s->icmp.refill_ns = s->now;
    s->icmp.tokens = s->cfg.icmp_rate ? (uint64_t)s->cfg.icmp_burst * NS_PER_SEC / s->cfg.icmp_rate
                                      : 0;
    return 0;
}

/* ---- Echo ---- */

/* RFC 792 / RFC 1122 3.2.2.6: answer with the same identifier, sequence and data, from the
 * address the request was sent to. The request's buffer becomes the reply: only the header is
 * rewritten, the data stays where it is. */
static void echo_reply(struct iface *ifc, const struct ipv4_repr *ip, struct icmp_repr *m,
                       struct pkt *p)
{
    struct ust_stack *s = ifc->stack;
    struct route rt;
    if (ipv4_route(s, ip->src, &rt) != 0) {
        s->ipv4.ctrs.out_no_routes++;
        pkt_free(p);
        return;
    }
    m->type = ICMP_ECHO_REPLY;
    m->code = 0;
    icmp_emit(m, p->data, p->len);
    struct ipv4_tx h = { .src = ip->dst, .dst = ip->src, .protocol = IPPROTO_ICMP,
                         .tos = ip->tos };
    s->icmp.ctrs.out_msgs++;
    s->icmp.ctrs.out_echo_replies++;
    ipv4_output(s, &rt, &h, p);
}

/* ---- Received errors ---- */

/* Linux's icmp_err_convert: for each "destination unreachable" code, the errno a socket sees and
 * whether the error is hard ("fatal": reported to a connected datagram socket) or soft. */
static const struct {
    int err;
    bool hard;
} unreach_errors[16] = {
    { ENETUNREACH, false },   /* 0 net unreachable */
    { EHOSTUNREACH, false },  /* 1 host unreachable */
    { ENOPROTOOPT, true },    /* 2 protocol unreachable */
    { ECONNREFUSED, true },   /* 3 port unreachable */
    { EMSGSIZE, false },      /* 4 fragmentation needed (see icmp_error_is_hard) */
    { EOPNOTSUPP, false },    /* 5 source route failed */
    { ENETUNREACH, true },    /* 6 destination network unknown */
    { EHOSTDOWN, true },      /* 7 destination host unknown */
    { ENONET, true },         /* 8 source host isolated */
    { ENETUNREACH, true },    /* 9 network administratively prohibited */
    { EHOSTUNREACH, true },   /* 10 host administratively prohibited */
    { ENETUNREACH, false },   /* 11 network unreachable for TOS */
    { EHOSTUNREACH, false },  /* 12 host unreachable for TOS */
    { EHOSTUNREACH, true },   /* 13 communication administratively prohibited */
    { EHOSTUNREACH, true },   /* 14 host precedence violation */
    { EHOSTUNREACH, true },   /* 15 precedence cutoff in effect */
};

int icmp_errno(uint8_t type, uint8_t code)
{
    switch (type) {
    case ICMP_DEST_UNREACH:
        return code < 16 ? unreach_errors[code].err : EHOSTUNREACH;
    case ICMP_TIME_EXCEEDED:
        return EHOSTUNREACH;
    case ICMP_PARAM_PROBLEM:
        return EPROTO;
    default:
        return 0;    /* source quench (RFC 6633: ignored), redirects */
    }
}

bool icmp_error_is_hard(uint8_t type, uint8_t code)
{
    switch (type) {
    case ICMP_DEST_UNREACH:
        /* Fragmentation needed is hard for datagram sockets doing path MTU discovery, which is
         * Linux's default (IP_PMTUDISC_WANT) and ustack's only mode. */
        if (code == ICMP_FRAG_NEEDED)
            return true;
        return code < 16 && unreach_errors[code].hard;
    case ICMP_PARAM_PROBLEM:
        return true;
    default:
        return false;   /* time exceeded is soft */
    }
}

/* Hands an error to the transport whose datagram `quoted` was. */
static void deliver_error(struct ust_stack *s, const struct ipv4_repr *quoted, uint8_t type,
                          uint8_t code, uint32_t info)
{
    switch (quoted->protocol) {
    case IPPROTO_UDP:
        udp_err(s, quoted, type, code, info);
        break;
    case IPPROTO_TCP:
        tcp_err(s, quoted, type, code, info);
        break;
    default:
        break;
    }
}

static void error_input(struct iface *ifc, const struct icmp_repr *m)
{
    struct ust_stack *s = ifc->stack;
    struct ipv4_repr q;
    /* RFC 1122 3.2.2: the quote is the IP header and at least 8 bytes of the transport's. */
    if (ipv4_parse_quoted(m->data, m->data_len, &q) != 0 || q.payload_len < 8 ||
        !stack_is_local_addr(s, q.src)) {
        s->icmp.ctrs.in_bad_quote++;
        return;
    }
    deliver_error(s, &q, m->type, m->code, m->rest);
}

void icmp_report_local(struct ust_stack *s, const struct pkt *sent, uint8_t type, uint8_t code)
{
    struct ipv4_repr q;
    if (ipv4_parse_quoted(sent->data, sent->len, &q) == 0)
        deliver_error(s, &q, type, code, 0);
}

void icmp_input(struct iface *ifc, const struct ipv4_repr *ip, struct pkt *p)
{
    struct ust_stack *s = ifc->stack;
    struct icmp_ctrs *c = &s->icmp.ctrs;
    struct icmp_repr m;
    c->in_msgs++;
    if (icmp_parse(p->data, p->len, &m) != 0) {
        c->in_errors++;
        goto out;
    }
    switch (m.type) {
    case ICMP_ECHO_REQUEST:
        c->in_echos++;
        if (ipv4_addr_is_broadcast(s, ip->dst)) {
            /* Linux's icmp_echo_ignore_broadcasts=1 (RFC 1122 3.2.2.6 allows either). */
            c->in_broadcast_echo++;
            goto out;
        }
        echo_reply(ifc, ip, &m, p);
        return;
    case ICMP_ECHO_REPLY:
        c->in_echo_replies++;
        ping_input(ifc, ip, icmp_echo_id(&m), p);   /* consumes p */
        return;
    case ICMP_DEST_UNREACH:
        c->in_dest_unreachs++;
        error_input(ifc, &m);
        break;
    case ICMP_TIME_EXCEEDED:
        c->in_time_excds++;
        error_input(ifc, &m);
        break;
    case ICMP_PARAM_PROBLEM:
    case ICMP_SOURCE_QUENCH:
        error_input(ifc, &m);
        break;
    default:
        c->in_other++;
        break;
    }
out:
    pkt_free(p);
}

/* ---- Sending errors ---- */

/* RFC 1122 3.2.2: never an error about an ICMP error, a datagram to a broadcast or multicast
 * address, a datagram sent as a link-layer broadcast, a fragment other than the first, or a
 * datagram whose source does not name a single host. */
static bool error_is_allowed(struct ust_stack *s, const struct pkt *p,
                             const struct ipv4_repr *orig)
{
    if (orig->frag_off != 0 || ipv4_rx_link_broadcast(p))
        return false;
    if (ipv4_addr_is_broadcast(s, orig->dst) || (orig->dst >> 28) == 14)
        return false;
    if (orig->src == 0 || (orig->src >> 24) == 127 || (orig->src >> 28) >= 14 ||
        ipv4_addr_is_broadcast(s, orig->src))
        return false;
    if (orig->protocol == IPPROTO_ICMP) {
        /* The quoted message's type is its first byte; a message too short to have one is
         * not an error message. */
        if (orig->payload_len >= 1 && icmp_is_error(orig->payload[0]))
            return false;
    }
    return true;
}

/* Token bucket: icmp_rate messages per second on average, icmp_burst at once. Credit is kept in
 * nanoseconds so that no division happens per message. */
static bool rate_allows(struct ust_stack *s)
{
    struct icmp_state *st = &s->icmp;
    uint32_t rate = s->cfg.icmp_rate;
    if (!rate)
        return false;
    uint64_t cost = NS_PER_SEC / rate;
    uint64_t cap = cost * s->cfg.icmp_burst;
    st->tokens += s->now - st->refill_ns;
    st->refill_ns = s->now;
    if (st->tokens > cap)
        st->tokens = cap;
    if (st->tokens < cost)
        return false;
    st->tokens -= cost;
    return true;
}

void icmp_send_error(struct iface *ifc, const struct pkt *orig_pkt, const struct ipv4_repr *orig,
                     uint32_t avail, uint8_t type, uint8_t code, uint32_t info)
{
    struct ust_stack *s = ifc->stack;
    struct icmp_ctrs *c = &s->icmp.ctrs;
    if (!error_is_allowed(s, orig_pkt, orig)) {
        c->out_suppressed++;
        return;
    }
    if (!rate_allows(s)) {
        c->out_rate_limited++;
        return;
    }
    struct route rt;
    if (ipv4_route(s, orig->src, &rt) != 0) {
        s->ipv4.ctrs.out_no_routes++;
        return;
    }
    uint32_t quote = avail < ICMP_ERROR_MAX - IPV4_HDR_LEN - ICMP_HDR_LEN
                         ? avail : ICMP_ERROR_MAX - IPV4_HDR_LEN - ICMP_HDR_LEN;
    struct pkt *p = stack_alloc(s);
    if (!p) {
        c->out_no_buffer++;
        return;
    }
    struct icmp_repr m = { .type = type, .code = code, .rest = info,
                           .data = orig->payload - orig->hdr_len, .data_len = quote };
    icmp_emit(&m, pkt_put(p, ICMP_HDR_LEN + quote), ICMP_HDR_LEN + quote);
    /* Answer from the address the datagram was sent to when it is ours (never a broadcast). */
    uint32_t src = stack_is_local_addr(s, orig->dst) ? orig->dst : rt.src;
    struct ipv4_tx h = { .src = src, .dst = orig->src, .protocol = IPPROTO_ICMP,
                         .tos = ICMP_ERROR_TOS };
    c->out_msgs++;
    if (type == ICMP_DEST_UNREACH)
        c->out_dest_unreachs++;
    else if (type == ICMP_TIME_EXCEEDED)
        c->out_time_excds++;
    ipv4_output(s, &rt, &h, p);
}
