/*
 * Datagram sockets: UDP (RFC 768, RFC 1122 4.1) and ICMP echo ("ping") sockets as Linux has them
 * (socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP), see ping.c). Both use the same protocol control
 * block, port table (ping sockets have their own, keyed by echo identifier), receive queue and
 * receive path; they differ in what they put on the wire.
 *
 * Entry points for sock/: udp_pcb_init, udp_bind, udp_connect, udp_disconnect, udp_sendmsg,
 * udp_recvmsg, udp_poll_events, udp_close. For net/: udp_input (consumes the packet), udp_err.
 * Functions return 0 / a byte count, or a negative errno as Linux would report it.
 *
 * Upward notification: a pcb calls its `notify` function (registered by sock/) when it becomes
 * readable or gets an error; that is the only call from here into the socket layer.
 *
 * Received datagrams are kept as packets (no copy until the application reads them): p->data at
 * the payload, and the source and destination address and port stored just before it, in the
 * bytes that held the headers.
 */
#ifndef UST_UDP_UDP_H
#define UST_UDP_UDP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "base/counters.h"
#include "base/pkt.h"
#include "wire/ipv4.h"

struct iface;
struct ust_stack;

#define UDP_MAX_PAYLOAD (IPV4_MAX_LEN - IPV4_HDR_LEN - 8)   /* 65,507 */

#define UDP_COUNTERS(X)                                                             \
    X(ping_in, "echo replies delivered to ping sockets")                            \
    X(ping_out, "echo requests sent by ping sockets")                               \
    X(in_datagrams, "datagrams delivered to sockets (UdpInDatagrams)")              \
    X(no_ports, "datagrams for a port nobody listens on (UdpNoPorts)")              \
    X(in_errors, "dropped: malformed or bad checksum (UdpInErrors)")                \
    X(in_csum_errors, "dropped: bad checksum (UdpInCsumErrors)")                    \
    X(rcvbuf_errors, "dropped: socket receive buffer full (UdpRcvbufErrors)")      \
    X(out_datagrams, "datagrams sent (UdpOutDatagrams)")                            \
    X(out_nobufs, "sends refused: no buffer")                                       \
    X(icmp_errors, "ICMP errors delivered to sockets")

CTR_DEFINE(udp_ctrs, UDP_COUNTERS)

typedef void udp_notify_fn(void *owner);

struct udp_pcb {
    struct ust_stack *stack;
    uint8_t protocol;            /* IPPROTO_UDP, or IPPROTO_ICMP for a ping socket */
    uint32_t laddr;              /* local address, host order; 0 = any */
    uint32_t raddr;              /* remote address when connected */
    uint16_t lport;              /* 0 until bound */
    uint16_t rport;              /* 0 unless connected */
    bool connected;
    bool hashed;                 /* in the port table */
    bool addr_locked;            /* laddr set by bind (kept on disconnect) */
    bool port_locked;            /* lport set by bind (kept on disconnect) */
    bool reuseaddr;              /* SO_REUSEADDR */
    bool broadcast;              /* SO_BROADCAST */
    uint8_t ttl;                 /* IP_TTL; 0 = the stack's default */
    uint8_t tos;                 /* IP_TOS */
    int error;                   /* pending asynchronous error (positive errno) */
    uint32_t rcvbuf;             /* SO_RCVBUF as Linux stores it (twice the request) */
    uint32_t sndbuf;             /* SO_SNDBUF likewise */
    uint32_t rx_bytes;           /* buffer bytes held by rx queue (charged against rcvbuf) */
    uint32_t rx_count;
    uint64_t rx_drops;           /* datagrams dropped because the queue was full */
    struct pkt *rx_head;
    struct pkt *rx_tail;
    struct udp_pcb *hash_next;
    udp_notify_fn *notify;
    void *owner;
};

int udp_init(struct ust_stack *s);
void udp_destroy(struct ust_stack *s);
struct ctr_group udp_ctr_group(struct ust_stack *s);

void udp_pcb_init(struct ust_stack *s, struct udp_pcb *pcb, uint8_t protocol,
                  udp_notify_fn *notify, void *owner);
/* port 0 picks an ephemeral port. -EINVAL (already bound), -EADDRNOTAVAIL, -EADDRINUSE, -EACCES. */
int udp_bind(struct udp_pcb *pcb, uint32_t addr, uint16_t port);
/* -ENETUNREACH, -EACCES (broadcast without SO_BROADCAST), -EAGAIN (no ephemeral port). */
int udp_connect(struct udp_pcb *pcb, uint32_t addr, uint16_t port);
void udp_disconnect(struct udp_pcb *pcb);
/* dst NULL: the connected peer. Returns bytes sent or -errno. */
ssize_t udp_sendmsg(struct udp_pcb *pcb, const struct iovec *iov, size_t iovcnt,
                    const struct sockaddr_in *dst, int flags);
/* Returns bytes copied (or the datagram's length with MSG_TRUNC in flags), -EAGAIN when empty,
 * or a pending error. Sets MSG_TRUNC in *msg_flags when the datagram did not fit. */
ssize_t udp_recvmsg(struct udp_pcb *pcb, const struct iovec *iov, size_t iovcnt, int flags,
                    struct sockaddr_in *from, int *msg_flags);
/* POLLIN / POLLOUT / POLLERR as Linux's datagram_poll reports them. */
unsigned udp_poll_events(const struct udp_pcb *pcb);
/* Size of the next datagram (FIONREAD), 0 if none. */
uint32_t udp_next_size(const struct udp_pcb *pcb);
void udp_close(struct udp_pcb *pcb);

void udp_input(struct iface *ifc, const struct ipv4_repr *ip, struct pkt *p);
/* An ICMP echo reply (p->data at the ICMP header) for the ping socket owning identifier id. */
void ping_input(struct iface *ifc, const struct ipv4_repr *ip, uint16_t id, struct pkt *p);
void udp_err(struct ust_stack *s, const struct ipv4_repr *quoted, uint8_t type, uint8_t code,
             uint32_t info);

#endif
