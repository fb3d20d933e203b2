/*
 * ICMP for IPv4 (RFC 792, RFC 1122 3.2.2): echo replies, error generation with its rules and
 * rate limit, and delivery of received errors to the transport that caused them.
 *
 * Entry points: icmp_input() (consumes its packet); icmp_send_error() (borrows the offending
 * datagram's packet and quotes it); icmp_report_local() hands an error to the local transport as
 * though it had arrived, for failures detected inside the stack (an address that never resolved).
 */
#ifndef UST_NET_ICMP_H
#define UST_NET_ICMP_H

#include <stdbool.h>
#include <stdint.h>

#include "base/counters.h"
#include "base/pkt.h"
#include "wire/ipv4.h"

struct iface;
struct ust_stack;

#define ICMP_COUNTERS(X)                                                            \
    X(in_msgs, "ICMP messages received (IcmpInMsgs)")                               \
    X(in_errors, "dropped: bad checksum or too short (IcmpInErrors)")               \
    X(in_echos, "echo requests received")                                           \
    X(in_echo_replies, "echo replies received")                                     \
    X(in_dest_unreachs, "destination unreachable messages received")                \
    X(in_time_excds, "time exceeded messages received")                             \
    X(in_bad_quote, "errors dropped: quoted datagram unusable")                     \
    X(in_other, "other types received and ignored")                                 \
    X(in_broadcast_echo, "echo requests to a broadcast address ignored")            \
    X(out_msgs, "ICMP messages sent (IcmpOutMsgs)")                                 \
    X(out_echo_replies, "echo replies sent")                                        \
    X(out_dest_unreachs, "destination unreachable messages sent")                   \
    X(out_time_excds, "time exceeded messages sent")                                \
    X(out_rate_limited, "errors not sent: rate limit")                              \
    X(out_suppressed, "errors not sent: about an ICMP error, a broadcast, a fragment or a bad source") \
    X(out_no_buffer, "messages not sent: no buffer")

CTR_DEFINE(icmp_ctrs, ICMP_COUNTERS)

struct icmp_state {
    struct icmp_ctrs ctrs;
    uint64_t tokens;             /* rate limiter, in nanoseconds of credit */
    uint64_t refill_ns;          /* when tokens were last topped up */
};

int icmp_init(struct ust_stack *s);

/* Handles a received ICMP message (p->data at the ICMP header; consumes p). */
void icmp_input(struct iface *ifc, const struct ipv4_repr *ip, struct pkt *p);

/* Sends an error about datagram `orig` (parsed; its IP header bytes start at orig->payload -
 * orig->hdr_len and `avail` bytes from there are in the buffer of `orig_pkt`, borrowed to see
 * how the datagram arrived), unless RFC 1122 3.2.2 forbids it or the rate limit says no. `info`
 * fills the 4 "rest of header" bytes (e.g. next-hop MTU). */
void icmp_send_error(struct iface *ifc, const struct pkt *orig_pkt, const struct ipv4_repr *orig,
                     uint32_t avail, uint8_t type, uint8_t code, uint32_t info);

/* Reports an error about a datagram we sent (data at its IP header) to the local transport,
 * without sending anything. */
void icmp_report_local(struct ust_stack *s, const struct pkt *sent, uint8_t type, uint8_t code);

/* The errno a transport reports for an ICMP error (Linux's mapping), or 0 to ignore it. */
int icmp_errno(uint8_t type, uint8_t code);
/* True for the errors Linux calls hard (fatal): the ones a connected datagram socket is told
 * about without IP_RECVERR. Soft ones (net or host unreachable, time exceeded) are not. */
bool icmp_error_is_hard(uint8_t type, uint8_t code);

#endif
