/*
 * A pure ACK frame from a template (Ethernet, IPv4 without options, TCP with no options or the
 * NOP, NOP, timestamp layout): the frame a connection sends as its ACK is the same every time
 * but for the IP identification, sequence and acknowledgment numbers, window, timestamps and
 * the two checksums. tcp_ack_tmpl_init writes the constant bytes once with the ordinary
 * emitters (eth_emit, ipv4_emit, tcp_emit) and keeps the checksums' partial sums over them;
 * tcp_ack_tmpl_emit copies the template and fills in the rest, adding only the changed words to
 * the sums (RFC 1071 2(C): the sum may be updated incrementally). The bytes are those the
 * emitters would write for the same fields.
 */
#ifndef UST_WIRE_TCP_ACK_H
#define UST_WIRE_TCP_ACK_H

#include "wire/eth.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"

#define TCP_ACK_FRAME_MAX (ETH_HDR_LEN + IPV4_HDR_LEN + TCP_HDR_LEN + 12)

struct tcp_ack_tmpl {
    uint8_t frame[TCP_ACK_FRAME_MAX];
    uint8_t len;                 /* frame bytes: 54, or 66 with timestamps */
    bool ts;                     /* carries NOP, NOP, timestamp */
    uint32_t ip_sum;             /* partial of the IP header, identification and checksum 0 */
    uint32_t tcp_sum;            /* partial of the pseudo-header and the TCP header with
                                  * seq, ack, window, checksum and timestamps 0 */
};

/* Builds the template from the three headers: e's addresses and type, ip's addresses, protocol,
 * TTL, TOS and DF (fragment fields, id and payload_len are ignored), th's ports and flags, and
 * TCP_HAS_TIMESTAMP as its only option or none (other fields ignored). */
void tcp_ack_tmpl_init(struct tcp_ack_tmpl *t, const struct eth_repr *e,
                       const struct ipv4_repr *ip, const struct tcp_repr *th);

/* Writes the frame (t->len bytes) to buf with these fields; ts_val and ts_ecr are ignored
 * without timestamps. */
void tcp_ack_tmpl_emit(const struct tcp_ack_tmpl *t, uint8_t *buf, uint16_t id, uint32_t seq,
                       uint32_t ack, uint16_t window, uint32_t ts_val, uint32_t ts_ecr);

#endif
