/*
 * Pure ACK frames from a template (see tcp_ack.h).
 */
#include "wire/tcp_ack.h"

#include <arpa/inet.h>   /* htonl, htons */
#include <string.h>

#include "wire/checksum.h"

#define IP_OFF ETH_HDR_LEN
#define TCP_OFF (ETH_HDR_LEN + IPV4_HDR_LEN)
#define TS_OFF (TCP_OFF + TCP_HDR_LEN + 4)    /* after NOP, NOP, kind, length */

void tcp_ack_tmpl_init(struct tcp_ack_tmpl *t, const struct eth_repr *e,
                       const struct ipv4_repr *ip, const struct tcp_repr *th)
{
    struct tcp_repr tr = { .sport = th->sport, .dport = th->dport, .flags = th->flags };
    tr.opt.present = th->opt.present & TCP_HAS_TIMESTAMP;
    size_t tcp_len = tcp_header_len(&tr);
    struct ipv4_repr ir = *ip;
    ir.id = 0;
    ir.frag_off = 0;
    ir.mf = false;
    ir.payload_len = (uint16_t)tcp_len;
    memset(t, 0, sizeof(*t));
    t->ts = tr.opt.present != 0;
    t->len = (uint8_t)(TCP_OFF + tcp_len);
    eth_emit(e, t->frame, ETH_HDR_LEN);
    ipv4_emit(&ir, t->frame + IP_OFF, IPV4_HDR_LEN);
    memset(t->frame + IP_OFF + 10, 0, 2);   /* the checksum, filled per frame */
    t->ip_sum = csum_partial_20(t->frame + IP_OFF);
    tcp_emit(&tr, t->frame + TCP_OFF, tcp_len);   /* seq, ack, window, timestamps 0 */
    t->tcp_sum = csum_partial(t->frame + TCP_OFF, tcp_len,
                              csum_ipv4_pseudo(ip->src, ip->dst, IPPROTO_TCP,
                                               (uint16_t)tcp_len));
}

/* Stores a field in network order and returns it as the partial sums take it (memory order,
 * which is what the stored bytes read as). */
static inline uint32_t put32(uint8_t *p, uint32_t host)
{
    uint32_t v = htonl(host);
    memcpy(p, &v, sizeof v);
    return v;
}

static inline uint16_t put16(uint8_t *p, uint16_t host)
{
    uint16_t v = htons(host);
    memcpy(p, &v, sizeof v);
    return v;
}

/* A 64-bit sum of 32-bit words folded to a 32-bit partial (end-around carry, RFC 1071 4.1). */
static inline uint32_t fold64(uint64_t s)
{
    s = (s & 0xffffffffu) + (s >> 32);
    s = (s & 0xffffffffu) + (s >> 32);
    return (uint32_t)s;
}

void tcp_ack_tmpl_emit(const struct tcp_ack_tmpl *t, uint8_t *buf, uint16_t id, uint32_t seq,
                       uint32_t ack, uint16_t window, uint32_t ts_val, uint32_t ts_ecr)
{
    memcpy(buf, t->frame, TCP_ACK_FRAME_MAX);   /* a fixed size the compiler copies inline */
    uint8_t *ip = buf + IP_OFF, *tcp = buf + TCP_OFF;
    /* RFC 791 3.1: the identification at 4, the header checksum at 10. Every field summed
     * here starts at an even offset, so its memory-order value adds in as it is. */
    uint16_t ip_check = csum_fold(fold64((uint64_t)t->ip_sum + put16(ip + 4, id)));
    memcpy(ip + 10, &ip_check, sizeof ip_check);
    /* RFC 9293 3.1: sequence number at 4, acknowledgment at 8, window at 14, checksum at 16. */
    uint64_t sum = (uint64_t)t->tcp_sum + put32(tcp + 4, seq) + put32(tcp + 8, ack) +
                   put16(tcp + 14, window);
    /* RFC 7323 3.2: TSval and TSecr after NOP, NOP, kind 8, length 10. */
    if (t->ts)
        sum += (uint64_t)put32(buf + TS_OFF, ts_val) + put32(buf + TS_OFF + 4, ts_ecr);
    tcp_store_checksum(tcp, csum_fold(fold64(sum)));
}
