/*
 * UDP (see udp.h).
 */
#include "udp/udp.h"
#include "udp/dgram.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/stack.h"
#include "wire/checksum.h"
#include "wire/icmp.h"
#include "wire/udp.h"

CTR_DESCRIBE(udp_ctrs, UDP_COUNTERS)

#define UDP_HASH_SIZE 4096u
/* Linux's ip_unprivileged_port_start. */
#define PRIVILEGED_PORTS_BELOW 1024

struct udp_table {
    struct udp_pcb *buckets[2][UDP_HASH_SIZE];   /* [0]: UDP ports, [1]: ping identifiers */
    uint64_t port_counter;       /* input to the keyed hash that randomises ephemeral ports */
    struct udp_ctrs ctrs;
};

int udp_init(struct ust_stack *s)
{
    s->udp = calloc(1, sizeof(*s->udp));
    return s->udp ? 0 : -ENOMEM;
}

void udp_destroy(struct ust_stack *s)
{
    free(s->udp);
    s->udp = NULL;
}

struct ctr_group udp_ctr_group(struct ust_stack *s)
{
    return CTR_GROUP("udp", udp_ctrs, &s->udp->ctrs);
}

/* Linux doubles SO_RCVBUF/SO_SNDBUF requests to cover bookkeeping; the defaults come doubled. */
void udp_pcb_init(struct ust_stack *s, struct udp_pcb *pcb, uint8_t protocol,
                  udp_notify_fn *notify, void *owner)
{
    *pcb = (struct udp_pcb){ .stack = s, .protocol = protocol, .notify = notify,
                             .owner = owner, .rcvbuf = s->cfg.rmem_default,
                             .sndbuf = s->cfg.wmem_default };
}

struct udp_ctrs *udp_counters(struct ust_stack *s)
{
    return &s->udp->ctrs;
}

/* ---- The port table ---- */

static struct udp_pcb **bucket_of(struct ust_stack *s, uint8_t protocol, uint16_t port)
{
    return &s->udp->buckets[protocol == IPPROTO_ICMP][port & (UDP_HASH_SIZE - 1)];
}

static void pcb_hash(struct udp_pcb *pcb)
{
    struct udp_pcb **b = bucket_of(pcb->stack, pcb->protocol, pcb->lport);
    pcb->hash_next = *b;
    *b = pcb;
    pcb->hashed = true;
}

static void pcb_unhash(struct udp_pcb *pcb)
{
    if (!pcb->hashed)
        return;
    struct udp_pcb **pp = bucket_of(pcb->stack, pcb->protocol, pcb->lport);
    while (*pp != pcb)
        pp = &(*pp)->hash_next;
    *pp = pcb->hash_next;
    pcb->hash_next = NULL;
    pcb->hashed = false;
}

/* Linux's bind conflict rule: same port, overlapping local addresses (equal, or either the
 * wildcard), unless both sockets set SO_REUSEADDR. */
static bool port_conflicts(struct ust_stack *s, const struct udp_pcb *self, uint32_t addr,
                           uint16_t port, bool any_user)
{
    for (const struct udp_pcb *o = *bucket_of(s, self->protocol, port); o; o = o->hash_next) {
        if (o == self || o->lport != port)
            continue;
        if (any_user)
            return true;
        bool overlap = o->laddr == 0 || addr == 0 || o->laddr == addr;
        if (overlap && !(o->reuseaddr && self->reuseaddr))
            return true;
    }
    return false;
}

/* RFC 6056 3.3.1 (Algorithm 1): start at a point chosen by a keyed hash, walk the range. A port
 * with any socket on it is skipped. */
static int pick_ephemeral(struct udp_pcb *pcb, uint16_t *port)
{
    struct ust_stack *s = pcb->stack;
    uint32_t lo = s->cfg.port_min, n = s->cfg.port_max - s->cfg.port_min + 1;
    uint64_t ctr = s->udp->port_counter++;
    uint32_t start = (uint32_t)(siphash24(&s->secret, &ctr, sizeof(ctr)) % n);
    for (uint32_t i = 0; i < n; i++) {
        uint16_t p = (uint16_t)(lo + (start + i) % n);
        if (!port_conflicts(s, pcb, pcb->laddr, p, true)) {
            *port = p;
            return 0;
        }
    }
    return -EADDRINUSE;
}

static bool addr_is_bindable(struct ust_stack *s, uint32_t addr)
{
    return addr == 0 || stack_is_local_addr(s, addr) || ipv4_addr_is_broadcast(s, addr);
}

int udp_bind(struct udp_pcb *pcb, uint32_t addr, uint16_t port)
{
    struct ust_stack *s = pcb->stack;
    if (pcb->lport)
        return -EINVAL;
    if (!addr_is_bindable(s, addr))
        return -EADDRNOTAVAIL;
    if (port && port < PRIVILEGED_PORTS_BELOW && geteuid() != 0)
        return -EACCES;
    uint32_t old_addr = pcb->laddr;
    pcb->laddr = addr;
    if (port) {
        if (port_conflicts(s, pcb, addr, port, false)) {
            pcb->laddr = old_addr;
            return -EADDRINUSE;
        }
    } else if (pick_ephemeral(pcb, &port) != 0) {
        pcb->laddr = old_addr;
        return -EADDRINUSE;
    }
    pcb->lport = port;
    pcb->addr_locked = addr != 0;
    pcb->port_locked = true;
    pcb_hash(pcb);
    return 0;
}

static int autobind(struct udp_pcb *pcb)
{
    uint16_t port;
    if (pick_ephemeral(pcb, &port) != 0)
        return -EAGAIN;   /* as Linux's inet_autobind */
    pcb->lport = port;
    pcb_hash(pcb);
    return 0;
}

/* ---- Connecting ---- */

int udp_connect(struct udp_pcb *pcb, uint32_t addr, uint16_t port)
{
    struct ust_stack *s = pcb->stack;
    struct route rt;
    if (addr == 0)
        addr = s->ifaces[0].addr;   /* Linux: connecting to INADDR_ANY means this host */
    int err = ipv4_route(s, addr, &rt);
    if (err)
        return err;
    if (rt.broadcast && !pcb->broadcast)
        return -EACCES;
    if (!pcb->laddr)
        pcb->laddr = rt.src;
    if (!pcb->lport && (err = autobind(pcb)) != 0) {
        if (!pcb->addr_locked)
            pcb->laddr = 0;
        return err;
    }
    pcb->raddr = addr;
    pcb->rport = port;
    pcb->connected = true;
    return 0;
}

void udp_disconnect(struct udp_pcb *pcb)
{
    pcb->raddr = 0;
    pcb->rport = 0;
    pcb->connected = false;
    /* As Linux's __udp_disconnect: forget what connect chose, keep what bind set. */
    if (!pcb->addr_locked)
        pcb->laddr = 0;
    if (!pcb->port_locked) {
        pcb_unhash(pcb);
        pcb->lport = 0;
    }
}

/* ---- Output ---- */

size_t dgram_iov_total(const struct iovec *iov, size_t iovcnt)
{
    size_t total = 0;
    for (size_t i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    return total;
}

/* Copies the payload behind the header while summing it: one pass over the user's bytes. */
uint32_t dgram_copy_iov(uint8_t *dst, const struct iovec *iov, size_t iovcnt)
{
    uint32_t sum = 0;
    size_t off = 0;
    for (size_t i = 0; i < iovcnt; i++) {
        uint32_t piece = csum_copy(dst + off, iov[i].iov_base, iov[i].iov_len, 0);
        sum = csum_add_at(sum, piece, off);
        off += iov[i].iov_len;
    }
    return sum;
}

struct pkt *dgram_alloc(struct ust_stack *s, uint32_t len)
{
    /* What fits a frame buffer gets one or nothing: a big buffer has headroom for the IP header
     * only, so a datagram in one could not take its Ethernet header if it leaves unfragmented. */
    if (len <= pkt_pool_buf_size(s->pool) - pkt_pool_headroom(s->pool))
        return stack_alloc(s);
    return pkt_alloc(s->big_pool);
}

static int take_error(struct udp_pcb *pcb)
{
    int err = pcb->error;
    pcb->error = 0;
    return err;
}

/* The one's complement sum of a UDP header whose checksum field is still zero: its four 16-bit
 * words in memory order, as csum_partial would give (cheaper than a call for 8 bytes). */
static inline uint32_t udp_hdr_sum(const uint8_t *hdr)
{
    uint16_t w[4];
    memcpy(w, hdr, sizeof(w));
    return (uint32_t)w[0] + w[1] + w[2] + w[3];
}

/* Builds and sends one UDP datagram from the user's bytes (copied once, summed on the way). */
static ssize_t udp_send_datagram(struct udp_pcb *pcb, const struct route *rt, uint32_t saddr,
                                 uint32_t daddr, uint16_t dport, const struct iovec *iov,
                                 size_t iovcnt, size_t len)
{
    struct ust_stack *s = pcb->stack;
    uint32_t total = (uint32_t)len + UDP_HDR_LEN;
    struct pkt *p = dgram_alloc(s, total);
    if (!p) {
        s->udp->ctrs.out_nobufs++;
        return -ENOBUFS;
    }
    uint8_t *hdr = pkt_put(p, total);
    uint32_t sum = dgram_copy_iov(hdr + UDP_HDR_LEN, iov, iovcnt);
    struct udp_repr u = { .sport = pcb->lport, .dport = dport, .payload_len = len };
    udp_emit(&u, hdr, UDP_HDR_LEN);
    sum = csum_add(sum, udp_hdr_sum(hdr));
    sum = csum_add(sum, csum_ipv4_pseudo(saddr, daddr, IPPROTO_UDP, (uint16_t)total));
    udp_store_checksum(hdr, csum_fold(sum));

    /* Linux's IP_PMTUDISC_WANT default: DF when the datagram fits, fragments when it does not. */
    struct ipv4_tx h = { .src = saddr, .dst = daddr, .protocol = IPPROTO_UDP, .ttl = pcb->ttl,
                         .tos = pcb->tos, .df = total <= ipv4_max_unfragmented(rt) };
    int err = ipv4_output(s, rt, &h, p);
    if (err)
        return err;
    s->udp->ctrs.out_datagrams++;
    return (ssize_t)len;
}

ssize_t udp_sendmsg(struct udp_pcb *pcb, const struct iovec *iov, size_t iovcnt,
                    const struct sockaddr_in *dst, int flags)
{
    struct ust_stack *s = pcb->stack;
    (void)flags;
    uint32_t daddr = pcb->raddr;
    uint16_t dport = pcb->rport;
    if (dst) {
        daddr = ntohl(dst->sin_addr.s_addr);
        dport = ntohs(dst->sin_port);
        if (dport == 0 && pcb->protocol == IPPROTO_UDP)
            return -EINVAL;
        if (daddr == 0)
            daddr = s->ifaces[0].addr;
    } else if (!pcb->connected) {
        return -EDESTADDRREQ;
    }
    size_t len = dgram_iov_total(iov, iovcnt);
    /* What one IPv4 datagram carries: for UDP 65,507 bytes after its header; a ping socket's
     * message includes its ICMP header, so 65,515 bytes (as Linux's ping_v4_sendmsg). */
    if (len > (pcb->protocol == IPPROTO_UDP ? UDP_MAX_PAYLOAD : IPV4_MAX_LEN - IPV4_HDR_LEN))
        return -EMSGSIZE;
    struct route rt;
    int err = ipv4_route(s, daddr, &rt);
    if (err)
        return err;
    if (rt.broadcast && !pcb->broadcast)
        return -EACCES;
    if (!pcb->lport && (err = autobind(pcb)) != 0)
        return err;
    /* As Linux, a pending error is reported (and cleared) only when the datagram is about to be
     * built: argument errors (EINVAL, EMSGSIZE, EACCES ...) come first and leave it pending. */
    if (pcb->error)
        return -take_error(pcb);
    /* Socket memory at mem_max (net/sockmem.h): no new datagram. Linux limits only what UDP
     * receives by udp_mem; here a datagram's buffer comes from the pool the queues are
     * draining, so the send is refused too, with the errno of a send that finds no buffer. */
    if (!sockmem_may_charge(&s->mem, pkt_pool_buf_size(s->pool))) {
        s->mem.ctrs.udp_send_nobufs++;
        return -ENOBUFS;
    }
    uint32_t saddr = pcb->laddr && stack_is_local_addr(s, pcb->laddr) ? pcb->laddr : rt.src;
    if (pcb->protocol == IPPROTO_ICMP)
        return ping_send(pcb, &rt, saddr, daddr, iov, iovcnt, len);
    return udp_send_datagram(pcb, &rt, saddr, daddr, dport, iov, iovcnt, len);
}

/* ---- Input ---- */

/* Linux's lookup scoring: a socket matches if every field it has set matches; the one with the
 * most fields set wins; among equals the most recently bound. */
static int match_score(const struct udp_pcb *pcb, uint32_t saddr, uint16_t sport, uint32_t daddr,
                       uint16_t dport)
{
    if (pcb->lport != dport)
        return -1;
    int score = 0;
    if (pcb->laddr) {
        if (pcb->laddr != daddr)
            return -1;
        score += 4;
    }
    /* A ping socket matches on its identifier and local address only, connected or not
     * (Linux's ping_lookup): echo replies carry no port to compare with connect's. */
    if (pcb->connected && pcb->protocol == IPPROTO_UDP) {
        if (pcb->raddr != saddr || (pcb->rport && pcb->rport != sport))
            return -1;
        score += 8;
    }
    return score;
}

struct udp_pcb *dgram_lookup(struct ust_stack *s, uint8_t protocol, uint32_t saddr,
                             uint16_t sport, uint32_t daddr, uint16_t dport)
{
    struct udp_pcb *best = NULL;
    int best_score = -1;
    for (struct udp_pcb *pcb = *bucket_of(s, protocol, dport); pcb; pcb = pcb->hash_next) {
        int score = match_score(pcb, saddr, sport, daddr, dport);
        if (score > best_score) {
            best = pcb;
            best_score = score;
        }
    }
    return best;
}

void dgram_enqueue(struct udp_pcb *pcb, struct pkt *p, const struct dgram_meta *meta,
                   uint32_t hdr_len, size_t payload_len)
{
    struct ust_stack *s = pcb->stack;
    /* Linux's rule: refuse while the queue already holds more than the buffer allows, so one
     * datagram always fits, however large. */
    if (pcb->rx_bytes > pcb->rcvbuf) {
        s->udp->ctrs.rcvbuf_errors++;
        pcb->rx_drops++;
        pkt_free(p);
        return;
    }
    if (!sockmem_may_charge(&s->mem, pkt_buf_size(p))) {
        /* Socket memory at mem_max: dropped, as Linux's __udp_enqueue_schedule_skb when
         * udp_mem refuses (UdpMemErrors). */
        s->mem.ctrs.udp_rcv_drops++;
        pcb->rx_drops++;
        pkt_free(p);
        return;
    }
    pkt_pull(p, hdr_len);
    pkt_trim(p, (uint32_t)payload_len);
    memcpy(p->data - sizeof(*meta), meta, sizeof(*meta));
    p->next = NULL;
    if (pcb->rx_tail)
        pcb->rx_tail->next = p;
    else
        pcb->rx_head = p;
    pcb->rx_tail = p;
    pcb->rx_bytes += pkt_buf_size(p);
    sockmem_charge(&s->mem, pkt_buf_size(p));
    pcb->rx_count++;
    if (pcb->protocol == IPPROTO_UDP)
        s->udp->ctrs.in_datagrams++;
    else
        s->udp->ctrs.ping_in++;
    if (pcb->notify)
        pcb->notify(pcb->owner);
}

/* Broadcasts go to every matching socket (each gets its own copy). */
static void deliver_broadcast(struct ust_stack *s, struct pkt *p, const struct dgram_meta *m,
                              size_t payload_len)
{
    struct udp_pcb *last = NULL;
    for (struct udp_pcb *pcb = *bucket_of(s, IPPROTO_UDP, m->dport); pcb;
         pcb = pcb->hash_next) {
        if (match_score(pcb, m->saddr, m->sport, m->daddr, m->dport) < 0 &&
            !(pcb->lport == m->dport && ipv4_addr_is_broadcast(s, pcb->laddr)))
            continue;
        if (last) {
            struct pkt *copy = pkt_copy(p->pool, p);
            if (copy)
                dgram_enqueue(last, copy, m, UDP_HDR_LEN, payload_len);
        }
        last = pcb;
    }
    if (last)
        dgram_enqueue(last, p, m, UDP_HDR_LEN, payload_len);
    else {
        s->udp->ctrs.no_ports++;
        pkt_free(p);
    }
}

static bool checksum_ok(const struct ipv4_repr *ip, const struct pkt *p, size_t len)
{
    if (p->flags & (PKT_F_CSUM_VALID | PKT_F_CSUM_PARTIAL))
        return true;   /* verified by the link, or generated locally by the kernel (offload) */
    return udp_checksum_ok(p->data, len, csum_ipv4_pseudo(ip->src, ip->dst, IPPROTO_UDP,
                                                          (uint16_t)len));
}

void udp_input(struct iface *ifc, const struct ipv4_repr *ip, struct pkt *p)
{
    struct ust_stack *s = ifc->stack;
    struct udp_ctrs *c = &s->udp->ctrs;
    struct udp_repr u;
    if (udp_parse(p->data, p->len, &u) != 0) {
        c->in_errors++;
        goto drop;
    }
    size_t len = u.payload_len + UDP_HDR_LEN;
    if (!checksum_ok(ip, p, len)) {
        c->in_errors++;
        c->in_csum_errors++;
        goto drop;
    }
    struct dgram_meta m = { .saddr = ip->src, .daddr = ip->dst, .sport = u.sport,
                          .dport = u.dport };
    if (ipv4_addr_is_broadcast(s, ip->dst)) {
        deliver_broadcast(s, p, &m, u.payload_len);
        return;
    }
    struct udp_pcb *pcb = dgram_lookup(s, IPPROTO_UDP, ip->src, u.sport, ip->dst, u.dport);
    if (!pcb) {
        c->no_ports++;
        /* RFC 1122 4.1.3.1: port unreachable (ICMP's rules and rate limit apply). */
        icmp_send_error(ifc, p, ip, ip->hdr_len + ip->payload_len, ICMP_DEST_UNREACH,
                        ICMP_PORT_UNREACH, 0);
        goto drop;
    }
    dgram_enqueue(pcb, p, &m, UDP_HDR_LEN, u.payload_len);
    return;
drop:
    pkt_free(p);
}

void udp_err(struct ust_stack *s, const struct ipv4_repr *quoted, uint8_t type, uint8_t code,
             uint32_t info)
{
    struct udp_repr u;
    (void)info;
    if (udp_parse_quoted(quoted->payload, quoted->payload_len, &u) != 0)
        return;
    int err = icmp_errno(type, code);
    if (!err)
        return;
    /* The quoted datagram is one we sent: its source is our socket, its destination the peer.
     * As Linux's __udp4_lib_err without IP_RECVERR: only a connected socket hears about it, and
     * only about a hard error (port or protocol unreachable, prohibited, ...); soft ones such as
     * host unreachable or time exceeded are dropped. */
    struct udp_pcb *pcb = dgram_lookup(s, IPPROTO_UDP, quoted->dst, u.dport, quoted->src,
                                       u.sport);
    if (!pcb || !pcb->connected || !icmp_error_is_hard(type, code))
        return;
    pcb->error = err;
    s->udp->ctrs.icmp_errors++;
    if (pcb->notify)
        pcb->notify(pcb->owner);
}

/* ---- Receiving ---- */

static size_t copy_to_iov(const struct iovec *iov, size_t iovcnt, const uint8_t *src, size_t len)
{
    size_t done = 0;
    for (size_t i = 0; i < iovcnt && done < len; i++) {
        size_t n = iov[i].iov_len < len - done ? iov[i].iov_len : len - done;
        memcpy(iov[i].iov_base, src + done, n);
        done += n;
    }
    return done;
}

ssize_t udp_recvmsg(struct udp_pcb *pcb, const struct iovec *iov, size_t iovcnt, int flags,
                    struct sockaddr_in *from, int *msg_flags)
{
    if (pcb->error)
        return -take_error(pcb);
    struct pkt *p = pcb->rx_head;
    if (!p)
        return -EAGAIN;
    struct dgram_meta m;
    memcpy(&m, p->data - sizeof(m), sizeof(m));
    size_t copied = copy_to_iov(iov, iovcnt, p->data, p->len);
    if (copied < p->len)
        *msg_flags |= MSG_TRUNC;
    if (from)
        *from = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(m.sport),
                                      .sin_addr.s_addr = htonl(m.saddr) };
    ssize_t ret = (flags & MSG_TRUNC) ? (ssize_t)p->len : (ssize_t)copied;
    if (!(flags & MSG_PEEK)) {
        pcb->rx_head = p->next;
        if (!pcb->rx_head)
            pcb->rx_tail = NULL;
        pcb->rx_bytes -= pkt_buf_size(p);
        sockmem_uncharge(&pcb->stack->mem, pkt_buf_size(p));
        pcb->rx_count--;
        pkt_free(p);
    }
    return ret;
}

unsigned udp_poll_events(const struct udp_pcb *pcb)
{
    unsigned ev = POLLOUT | POLLWRNORM | POLLWRBAND;
    if (pcb->rx_head)
        ev |= POLLIN | POLLRDNORM;
    if (pcb->error)
        ev |= POLLERR;
    return ev;
}

uint32_t udp_next_size(const struct udp_pcb *pcb)
{
    return pcb->rx_head ? pcb->rx_head->len : 0;
}

void udp_close(struct udp_pcb *pcb)
{
    pcb_unhash(pcb);
    pkt_free_chain(pcb->rx_head);
    pcb->rx_head = pcb->rx_tail = NULL;
    sockmem_uncharge(&pcb->stack->mem, pcb->rx_bytes);
    pcb->rx_bytes = 0;
    pcb->rx_count = 0;
    pcb->lport = 0;
}
