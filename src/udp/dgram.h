/*
 * Private to src/udp: the pieces UDP and ping sockets share (udp.c) and the ping sender (ping.c).
 */
#ifndef UST_UDP_DGRAM_H
#define UST_UDP_DGRAM_H

#include "net/ipv4.h"
#include "udp/udp.h"

/* Where the addresses of a received datagram are kept: just before its payload. */
struct dgram_meta {
    uint32_t saddr, daddr;
    uint16_t sport, dport;
};

size_t dgram_iov_total(const struct iovec *iov, size_t iovcnt);
/* Copies the iovec to dst and returns the one's complement sum of what it copied. */
uint32_t dgram_copy_iov(uint8_t *dst, const struct iovec *iov, size_t iovcnt);
/* A buffer with room for len bytes after the headroom: a frame buffer if len fits one (NULL when
 * none is free), else a big one. */
struct pkt *dgram_alloc(struct ust_stack *s, uint32_t len);
/* The socket that should receive a datagram (Linux's scoring), or NULL. */
struct udp_pcb *dgram_lookup(struct ust_stack *s, uint8_t protocol, uint32_t saddr,
                             uint16_t sport, uint32_t daddr, uint16_t dport);
/* Queues p (data at the protocol header, hdr_len long) on pcb, or drops it if the receive buffer
 * is full. Consumes p. */
void dgram_enqueue(struct udp_pcb *pcb, struct pkt *p, const struct dgram_meta *meta,
                   uint32_t hdr_len, size_t payload_len);
struct udp_ctrs *udp_counters(struct ust_stack *s);

/* Sends the user's ICMP echo request (ping.c). */
ssize_t ping_send(struct udp_pcb *pcb, const struct route *rt, uint32_t saddr, uint32_t daddr,
                  const struct iovec *iov, size_t iovcnt, size_t len);

#endif
