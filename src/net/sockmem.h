/*
 * Socket memory of the whole stack: one budget for every buffer that sockets hold on their
 * queues, as Linux's tcp_mem and udp_mem.
 *
 * What is charged: each packet buffer on a TCP send queue, TCP receive queue or out-of-order
 * queue, and on a UDP or ping socket's receive queue, by its buffer size (a 1-byte segment holds
 * a whole 2 KiB frame buffer; Linux likewise charges an skb's truesize, not its payload). The
 * per-socket buffer limits (SO_SNDBUF, SO_RCVBUF) still apply; this one bounds their sum, so
 * that sockets together cannot take the packet pool the stack needs for ACKs, ARP and
 * handshakes.
 *
 * Who charges: TCP keeps, per connection, what it has charged and brings it in line with what
 * its queues hold (tcp_mem_sync, tcp_table.c) after each operation that changes them; UDP
 * charges when it queues a datagram and uncharges when it is read or the socket closes.
 *
 * At the limit (cfg.mem_max), as Linux at tcp_mem[2] / udp_mem[2]: a TCP send that would need a
 * new buffer waits (blocking socket) or fails with EAGAIN, unless the connection's send queue is
 * empty (Linux's sk_forced_mem_schedule: each connection may always queue one segment, so none
 * deadlocks); received TCP data is dropped without being acknowledged (the peer retransmits),
 * unless the receive queue is empty (again one segment always fits); out-of-order TCP segments
 * are dropped; UDP datagrams are dropped; a UDP send fails with ENOBUFS (Linux does not limit
 * UDP sends by udp_mem; ustack's datagram buffers come from the same pool as everything else).
 * Above cfg.mem_pressure (Linux's tcp_mem[1]) TCP offers no receive window beyond four
 * segments (Linux's tcp_adjust_rcv_ssthresh under memory pressure), so senders slow down
 * before anything must be dropped. Every refusal is counted in the "sockmem" counter group.
 *
 * All under the stack lock.
 */
#ifndef UST_NET_SOCKMEM_H
#define UST_NET_SOCKMEM_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/counters.h"

struct ust_config;

#define SOCKMEM_COUNTERS(X)                                                         \
    X(used, "socket buffer bytes held now by all sockets (a gauge)")                 \
    X(peak, "most socket buffer bytes held at once (a gauge)")                      \
    X(limit, "mem_max in effect, bytes (a gauge)")                                   \
    X(pressure_entered, "times socket memory rose past mem_pressure")              \
    X(tcp_send_limited, "TCP sends cut short (waited, or EAGAIN): mem_max reached") \
    X(tcp_rcv_drops, "TCP in-order segments dropped unacknowledged: mem_max reached") \
    X(tcp_ofo_drops, "TCP out-of-order segments dropped: mem_max reached")         \
    X(udp_send_nobufs, "UDP and ping sends refused with ENOBUFS: mem_max reached") \
    X(udp_rcv_drops, "UDP and ping datagrams dropped: mem_max reached")

CTR_DEFINE(sockmem_ctrs, SOCKMEM_COUNTERS)

struct sockmem {
    uint64_t pressure;           /* bytes above which TCP windows are held small */
    bool under_pressure;
    struct sockmem_ctrs ctrs;    /* ctrs.used is the running total, ctrs.limit the hard limit */
};

/* Sets the limits from cfg.mem_max and cfg.mem_pressure (0: automatic, from `pool_bytes`, the
 * bytes of the stack's packet pools). */
void sockmem_init(struct sockmem *m, const struct ust_config *cfg, uint64_t pool_bytes);

/* True if `bytes` more may be charged without passing the hard limit. */
static inline bool sockmem_may_charge(const struct sockmem *m, size_t bytes)
{
    return m->ctrs.used + bytes <= m->ctrs.limit;
}

/* True if the next buffer, whatever its size (64 KiB at most), might not fit: a fast path that
 * skips the checks must take the full one. */
static inline bool sockmem_near_limit(const struct sockmem *m)
{
    return m->ctrs.used + 65536 > m->ctrs.limit;
}

static inline void sockmem_charge(struct sockmem *m, size_t bytes)
{
    m->ctrs.used += bytes;
    if (m->ctrs.used > m->ctrs.peak)
        m->ctrs.peak = m->ctrs.used;
    if (!m->under_pressure && m->ctrs.used > m->pressure) {
        m->under_pressure = true;
        m->ctrs.pressure_entered++;
    }
}

static inline void sockmem_uncharge(struct sockmem *m, size_t bytes)
{
    assert(bytes <= m->ctrs.used);   /* every uncharge matches an earlier charge */
    m->ctrs.used -= bytes;
    if (m->under_pressure && m->ctrs.used <= m->pressure)
        m->under_pressure = false;
}

#endif
