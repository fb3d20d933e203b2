/*
 * ICMP echo sockets, as Linux's "ping sockets" (socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)):
 * an unprivileged way to send echo requests and receive their replies.
 *
 * The application writes a whole ICMP echo request (8-byte header and data); the stack replaces
 * the identifier with the socket's own (its "port", chosen at bind or automatically), computes the
 * checksum and sends it. Echo replies carrying that identifier are queued on the socket and read
 * back whole, header included, with the sender's address. Anything but an echo request with code
 * 0 is refused with EINVAL, as Linux does.
 */
#include <errno.h>

#include "net/stack.h"
#include "udp/dgram.h"
#include "wire/checksum.h"
#include "wire/icmp.h"

ssize_t ping_send(struct udp_pcb *pcb, const struct route *rt, uint32_t saddr, uint32_t daddr,
                  const struct iovec *iov, size_t iovcnt, size_t len)
{
    struct ust_stack *s = pcb->stack;
    if (len < ICMP_HDR_LEN)
        return -EINVAL;
    struct pkt *p = dgram_alloc(s, (uint32_t)len);
    if (!p) {
        udp_counters(s)->out_nobufs++;
        return -ENOBUFS;
    }
    uint8_t *msg = pkt_put(p, (uint32_t)len);
    dgram_copy_iov(msg, iov, iovcnt);
    struct icmp_repr m;
    /* The checksum is the application's business no more: parse the header without it. */
    if (icmp_parse_header(msg, len, &m) != 0 || m.type != ICMP_ECHO_REQUEST || m.code != 0) {
        pkt_free(p);
        return -EINVAL;
    }
    m.rest = (uint32_t)pcb->lport << 16 | icmp_echo_seq(&m);
    m.data = msg + ICMP_HDR_LEN;
    m.data_len = len - ICMP_HDR_LEN;
    icmp_emit(&m, msg, len);
    struct ipv4_tx h = { .src = saddr, .dst = daddr, .protocol = IPPROTO_ICMP, .ttl = pcb->ttl,
                         .tos = pcb->tos, .df = len <= ipv4_max_unfragmented(rt) };
    int err = ipv4_output(s, rt, &h, p);
    if (err)
        return err;
    udp_counters(s)->ping_out++;
    return (ssize_t)len;
}

void ping_input(struct iface *ifc, const struct ipv4_repr *ip, uint16_t id, struct pkt *p)
{
    struct ust_stack *s = ifc->stack;
    struct udp_pcb *pcb = dgram_lookup(s, IPPROTO_ICMP, ip->src, 0, ip->dst, id);
    if (!pcb) {
        pkt_free(p);
        return;
    }
    struct dgram_meta m = { .saddr = ip->src, .daddr = ip->dst, .sport = 0, .dport = id };
    dgram_enqueue(pcb, p, &m, 0, p->len);
}
