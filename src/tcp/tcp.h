/*
 * TCP (RFC 9293 and the documents RFC 7414 lists): what the rest of the stack sees.
 *
 * For sock/: a connection is a `struct tcb`, created by tcp_create (or handed out by tcp_accept),
 * driven by the calls below, which return 0 / a byte count or a negative errno as Linux reports
 * it, and released by tcp_close: after that the connection may live on by itself (FIN_WAIT,
 * TIME_WAIT) and is freed by TCP. TCP tells its owner that something changed through the notify
 * function registered at creation: the only call from TCP into the socket layer.
 *
 * For net/: tcp_input (consumes the segment), tcp_err (ICMP errors about our segments).
 */
#ifndef UST_TCP_TCP_H
#define UST_TCP_TCP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "base/counters.h"
#include "base/pkt.h"
#include "wire/ipv4.h"

struct iface;
struct ust_stack;
struct tcb;
struct ust_tcp_info;

enum tcp_state {
    TCPS_CLOSED = 0,
    TCPS_LISTEN,
    TCPS_SYN_SENT,
    TCPS_SYN_RECEIVED,
    TCPS_ESTABLISHED,
    TCPS_FIN_WAIT_1,
    TCPS_FIN_WAIT_2,
    TCPS_CLOSE_WAIT,
    TCPS_CLOSING,
    TCPS_LAST_ACK,
    TCPS_TIME_WAIT,
};

enum tcp_shut { TCP_SHUT_RD = 1, TCP_SHUT_WR = 2 };

#define TCP_COUNTERS(X)                                                             \
    X(active_opens, "connections opened by connect (TcpActiveOpens)")               \
    X(passive_opens, "connections accepted from a listener (TcpPassiveOpens)")      \
    X(attempt_fails, "connection attempts that failed (TcpAttemptFails)")           \
    X(estab_resets, "connections reset from ESTABLISHED or CLOSE_WAIT (TcpEstabResets)") \
    X(curr_estab, "connections in ESTABLISHED or CLOSE_WAIT (TcpCurrEstab)")        \
    X(in_segs, "segments received (TcpInSegs)")                                     \
    X(out_segs, "segments sent (TcpOutSegs)")                                       \
    X(retrans_segs, "segments retransmitted (TcpRetransSegs)")                      \
    X(in_errs, "segments dropped: malformed or bad checksum (TcpInErrs)")           \
    X(in_csum_errors, "segments dropped: bad checksum (TcpInCsumErrors)")           \
    X(out_rsts, "resets sent (TcpOutRsts)")                                         \
    X(in_rsts, "resets accepted")                                                   \
    X(no_port, "segments for no connection or listener (reset sent unless RST)")     \
    X(timeouts, "retransmission timeouts")                                          \
    X(fast_retrans, "fast retransmissions (loss recovery entered)")                 \
    X(sack_recoveries, "recoveries driven by SACK (RFC 6675)")                      \
    X(reno_recoveries, "recoveries without SACK (RFC 6582)")                        \
    X(dsack_recv, "D-SACK blocks received")                                         \
    X(rack_lost, "segments RACK deemed lost (RFC 8985 6.2), retransmissions included") \
    X(rack_reo_timeouts, "RACK reordering timer expirations (RFC 8985 6.3)")        \
    X(tlp_probes, "tail loss probes sent (RFC 8985 7.3)")                           \
    X(tlp_losses, "losses a tail loss probe repaired (RFC 8985 7.4)")               \
    X(undo_eifel, "recoveries undone: timestamps showed the original arrived (RFC 3522)") \
    X(undo_dsack, "recoveries undone: D-SACKs showed every retransmission spurious")  \
    X(challenge_acks, "challenge ACKs sent (RFC 5961)")                             \
    X(challenge_limited, "challenge ACKs suppressed by the rate limit")             \
    X(paws_drops, "segments dropped by PAWS (RFC 7323 5)")                          \
    X(ooo_segs, "segments queued out of order")                                     \
    X(ooo_drops, "out-of-order segments dropped: queue or receive memory limit (TCPOFODrop)") \
    X(ooo_pruned, "out-of-order segments dropped to make room for earlier ones (OfoPruned)") \
    X(rcvq_drops, "segments dropped: receive memory exhausted")                     \
    X(outside_window, "segments outside the receive window (answered with an ACK)") \
    X(oow_acks_limited, "ACKs not sent for unacceptable pure ACKs: rate limit (TCPACKSkipped*)") \
    X(delayed_acks, "ACKs sent by the delayed-ACK timer")                           \
    X(zero_window_probes, "zero-window probes sent")                                \
    X(keepalive_probes, "keepalive probes sent")                                    \
    X(keepalive_timeouts, "connections dropped by keepalive")                       \
    X(timeout_aborts, "connections ended by retransmission or zero-window probe timeouts, TCP_USER_TIMEOUT included (TCPAbortOnTimeout)") \
    X(syn_queue_drops, "SYNs dropped: SYN queue full and no cookies")               \
    X(syn_fin_drops, "SYNs with FIN dropped at a listener (as Linux)")              \
    X(listen_overflows, "handshakes completed but the accept queue was full")       \
    X(syncookies_sent, "SYN-ACKs with a SYN cookie")                                \
    X(syncookies_recv, "connections established from a valid cookie")              \
    X(syncookies_failed, "ACKs with an invalid cookie")                             \
    X(tw_created, "connections that entered TIME_WAIT")                            \
    X(tw_recycled, "TIME_WAIT entries reused by a new SYN (RFC 6191)")              \
    X(pmtu_updates, "MSS lowered by ICMP fragmentation needed (RFC 1191)")          \
    X(pmtu_ignored, "fragmentation-needed messages ignored (RFC 5927 checks)")      \
    X(nobufs, "segments not sent: no buffer")                                       \
    X(iface_down_resets, "connections reset because their interface went down for good") \
    X(orphan_aborts, "connections reset at close: tcp_max_orphans reached (Linux's TCPAbortOnMemory)") \
    X(tw_overflows, "connections that skipped TIME_WAIT: tcp_max_tw_buckets reached")

CTR_DEFINE(tcp_ctrs, TCP_COUNTERS)

typedef void tcp_notify_fn(void *owner);

int tcp_init(struct ust_stack *s);
void tcp_destroy(struct ust_stack *s);
struct ctr_group tcp_ctr_group(struct ust_stack *s);
struct tcp_ctrs *tcp_counters(struct ust_stack *s);

struct tcb *tcp_create(struct ust_stack *s, tcp_notify_fn *notify, void *owner);
int tcp_bind(struct tcb *tp, uint32_t addr, uint16_t port);
int tcp_listen(struct tcb *tp, int backlog);
/* Starts the handshake: 0 (it completes later: wait for writability), or a negative errno. */
int tcp_connect(struct tcb *tp, uint32_t addr, uint16_t port);
/* The next established connection, or NULL (-EAGAIN in *err) / an error. */
struct tcb *tcp_accept(struct tcb *lp, tcp_notify_fn *notify, void *owner, int *err);
/* A listener with nothing to accept: tcp_accept would say -EAGAIN. */
bool tcp_accept_would_block(const struct tcb *lp);
void tcp_set_owner(struct tcb *tp, tcp_notify_fn *notify, void *owner);
/* SO_LINGER's timeout in seconds, or -1 when lingering is off. */
int tcp_linger_seconds(const struct tcb *tp);
ssize_t tcp_send(struct tcb *tp, const struct iovec *iov, size_t iovcnt, int flags);
/* Bytes copied; 0 at end of stream; -EAGAIN when nothing is there yet. MSG_PEEK supported. */
ssize_t tcp_recv(struct tcb *tp, const struct iovec *iov, size_t iovcnt, int flags);
int tcp_shutdown(struct tcb *tp, int how);
/* The user lets go: graceful close (or RST per SO_LINGER 0 / unread data). The tcb must not be
 * used by the caller afterwards. */
void tcp_close(struct tcb *tp);
/* Linger support: true while the graceful close has not finished. */
bool tcp_close_pending(const struct tcb *tp);
unsigned tcp_poll_events(const struct tcb *tp);
int tcp_setsockopt(struct tcb *tp, int level, int name, const void *val, socklen_t len);
int tcp_getsockopt(struct tcb *tp, int level, int name, void *val, socklen_t *len);
enum tcp_state tcp_state(const struct tcb *tp);
int tcp_take_error(struct tcb *tp);
void tcp_get_info(const struct tcb *tp, struct ust_tcp_info *info);
void tcp_local(const struct tcb *tp, uint32_t *addr, uint16_t *port);
bool tcp_peer(const struct tcb *tp, uint32_t *addr, uint16_t *port);
uint32_t tcp_readable_bytes(const struct tcb *tp);   /* FIONREAD */
uint32_t tcp_unsent_bytes(const struct tcb *tp);     /* SIOCOUTQ: unacked + unsent */
/* Sets SO_RCVBUF / SO_SNDBUF (already Linux-doubled). */
void tcp_set_buffers(struct tcb *tp, uint32_t rcvbuf, uint32_t sndbuf);
void tcp_get_buffers(const struct tcb *tp, uint32_t *rcvbuf, uint32_t *sndbuf);
void tcp_set_reuse(struct tcb *tp, bool reuseaddr, bool reuseport);
/* IP_TTL (-1: the default) and IP_TOS for the connection's segments; -2 leaves one alone. */
int tcp_set_ip_options(struct tcb *tp, int ttl, int tos);

void tcp_input(struct iface *ifc, const struct ipv4_repr *ip, struct pkt *p);
void tcp_err(struct ust_stack *s, const struct ipv4_repr *quoted, uint8_t type, uint8_t code,
             uint32_t info);

/* FOR TESTS ONLY (packet tests put initial sequence numbers near 2^32): the next connection
 * this stack opens, actively or from a listener's SYN, gets `isn` as its initial sequence
 * number instead of RFC 6528's keyed hash. One-shot: later connections are back to RFC 6528.
 * Nothing in the library or the tools calls it. */
void tcp_isn_override_for_tests(struct ust_stack *s, uint32_t isn);

/* Interface ifc went down for good (net/stack.c: a point-to-point link whose peer is gone).
 * Every connection whose segments leave by it is reset (ECONNRESET), its user woken; listeners
 * and TIME_WAIT entries stay. Called only where no connection is being worked on. */
void tcp_iface_down(struct ust_stack *s, struct iface *ifc);

/* Number of live connections (not counting listeners), for tests and leak checks. */
uint32_t tcp_connection_count(struct ust_stack *s);
/* Control blocks allocated (listeners and orphans included) and TIME_WAIT entries: for leak
 * checks (tests/soak). */
uint32_t tcp_tcb_count(struct ust_stack *s);
uint32_t tcp_time_wait_count(struct ust_stack *s);

#endif
