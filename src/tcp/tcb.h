/*
 * The TCP control block and the declarations the TCP files share (private to src/tcp).
 *
 * Files, by phase (STYLE.md): tcp_input.c (RFC 9293 3.10.7 "SEGMENT ARRIVES", one function per
 * step), tcp_output.c (deciding what to send and building segments), tcp_timer.c
 * (retransmission, persist, delayed ACK, keepalive, FIN_WAIT_2 and TIME_WAIT), tcp_rtt.c
 * (RFC 6298), tcp_reass.c (out-of-order queue), tcp_sack.c (SACK blocks we send and the
 * scoreboard of what the peer has), tcp_listen.c (SYN queue, SYN cookies, accept queue),
 * tcp_table.c (demultiplexing, ports, allocation, state changes), tcp_isn.c (RFC 6528),
 * tcp_timewait.c (compact TIME_WAIT), tcp_user.c (the calls sockets make), cc/ (congestion
 * control modules).
 *
 * Buffers. Data to send lives in packets on the send queue, one segment per packet, payload at
 * cb->off in the buffer with headroom for our headers, already summed (cb->csum) when it was
 * copied from the user unless the link completes checksums (SEG_NOSUM). Segments from snd_una
 * up to send_head are in flight; from send_head on they are unsent. A segment is
 * (re)transmitted by prepending headers in place and handing the link a reference (pkt_ref)
 * when the link copies synchronously, or a copy otherwise; a shared packet is never modified.
 * Received data lives in packets on the receive queue, payload at p->data; out-of-order
 * segments wait on the reassembly queue.
 *
 * All sequence comparisons go through seq_lt() and friends (RFC 9293 3.4: modulo 2^32).
 */
#ifndef UST_TCP_TCB_H
#define UST_TCP_TCB_H

#include <stdbool.h>
#include <stdint.h>

#include "base/pkt.h"
#include "base/timer.h"
#include "net/ipv4.h"
#include "tcp/cc/cc.h"
#include "tcp/tcp.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"
#include "wire/tcp_ack.h"

struct iface;
struct ust_stack;

/* ---- Sequence arithmetic (RFC 9293 3.4) ---- */

static inline bool seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline bool seq_leq(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }
static inline bool seq_gt(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }
static inline bool seq_geq(uint32_t a, uint32_t b) { return (int32_t)(a - b) >= 0; }
/* lo <= x < hi */
static inline bool seq_in(uint32_t x, uint32_t lo, uint32_t hi)
{
    return seq_geq(x, lo) && seq_lt(x, hi);
}
static inline uint32_t seq_max(uint32_t a, uint32_t b) { return seq_gt(a, b) ? a : b; }
static inline uint32_t seq_min(uint32_t a, uint32_t b) { return seq_lt(a, b) ? a : b; }

/* ---- Per-segment state, in pkt->cb ---- */

enum tcp_seg_flag {
    SEG_SACKED = 1u << 0,        /* the peer reported it in a SACK block */
    SEG_LOST = 1u << 1,          /* deemed lost (RFC 6675 IsLost, or RTO) and not yet resent */
    SEG_RETRANS = 1u << 2,       /* retransmitted and not yet acknowledged or deemed lost again */
    SEG_EVER_RETRANS = 1u << 3,  /* retransmitted at least once (Karn: no RTT sample from it) */
    SEG_NOSUM = 1u << 4,         /* payload not summed (cb->csum unused): the route's link
                                  * completes TCP checksums (LINK_OFF_TX_CSUM) */
};

struct tcp_seg_cb {
    uint32_t seq;                /* first sequence number (a SYN counts one) */
    uint32_t end_seq;            /* seq + payload + SYN + FIN */
    uint64_t xmit_ns;            /* time of the last (re)transmission */
    uint32_t csum;               /* one's complement sum of the payload, unless SEG_NOSUM */
    uint16_t off;                /* payload offset from p->buf */
    uint16_t len;                /* payload bytes */
    uint8_t flags;               /* enum tcp_seg_flag */
    uint8_t tcp_flags;           /* TCP_SYN / TCP_FIN this segment carries */
    uint16_t xmits;              /* transmissions so far */
};

_Static_assert(sizeof(struct tcp_seg_cb) <= PKT_CB_SIZE, "tcp_seg_cb fits in pkt->cb");

static inline struct tcp_seg_cb *seg_cb(struct pkt *p)
{
    return (struct tcp_seg_cb *)(void *)p->cb;
}

/* ---- The connection header shared by full TCBs and TIME_WAIT entries ---- */

struct tcp_conn {
    struct tcp_conn *hash_next;  /* established table (4-tuple) */
    struct tcp_conn *bind_next;  /* bind table (local port) */
    struct tcp_conn **bind_pprev;   /* what points at it in the bind table; NULL: not in it */
    uint32_t laddr, raddr;       /* host order */
    uint16_t lport, rport;
    uint8_t state;               /* enum tcp_state */
    bool compact;                /* a struct tcp_tw (TIME_WAIT entry), not a struct tcb */
    bool in_ehash;
    bool bind_front;             /* bound by bind(): ahead of the port's connections */
};

struct neigh;

/* What a connection's pure ACK template was built from (struct tcp_ack_cache). */
struct tcp_ack_key {
    const struct iface *ifc;     /* NULL: nothing built yet */
    struct eth_addr mac;         /* the next hop's */
    uint32_t laddr, raddr;
    uint16_t lport, rport;
    uint8_t ttl, tos;
    bool ts;                     /* timestamps on */
    uint16_t *ip_id;             /* the flow's IP ID counter (ipv4_id_counter) */
    const struct neigh *neigh;   /* arp_output_mac's hint */
};

/* A connection's pure ACK frame, built once (tcp_output.c send_ack_from_template), and what it
 * was built from: it is rebuilt when any of these differs from the connection's now. Allocated
 * when a connection that has received data first sends a pure ACK, so idle connections do not
 * carry its ~130 bytes. */
struct tcp_ack_cache {
    struct tcp_ack_tmpl tmpl;
    struct tcp_ack_key key;
};


enum tcp_timer_mode {
    RTX_NONE,
    RTX_RETRANSMIT,              /* RFC 6298 retransmission timer (SYN, SYN-ACK, data, FIN) */
    RTX_PERSIST,                 /* RFC 9293 3.8.6.1 zero-window probes */
    RTX_REO,                     /* RFC 8985 6.3 RACK reordering timer */
    RTX_TLP,                     /* RFC 8985 7.2 tail loss probe timeout (PTO) */
};

/* RACK-TLP (RFC 8985) sender state: the most recently sent segment known delivered, the
 * reordering window, and the tail loss probe outstanding. */
struct tcp_rack {
    uint64_t xmit_ns;            /* RACK.xmit_ts (0: nothing delivered yet) */
    uint32_t end_seq;            /* RACK.end_seq */
    uint32_t rtt_us;             /* RACK.rtt: RTT of that segment */
    uint32_t fack;               /* RACK.fack: highest end_seq delivered (ACKed or SACKed) */
    uint32_t dsack_round;        /* RACK.dsack_round, valid while dsack_round_on */
    uint32_t tlp_end_seq;        /* TLP.end_seq, valid while tlp_pending */
    uint8_t reo_wnd_mult;        /* RACK.reo_wnd_mult (>= 1) */
    uint8_t reo_wnd_persist;     /* RACK.reo_wnd_persist: recoveries before mult resets */
    bool reordering_seen;        /* RACK.reordering_seen */
    bool dsack_round_on;
    bool tlp_pending;            /* a probe is out and its outcome not yet known (7.4) */
    bool tlp_is_retrans;         /* TLP.is_retrans: the probe resent old data */
};

/* Undoing a congestion response that proves spurious (RFC 3522 Eifel detection with
 * timestamps, RFC 2883 / RFC 3708 with D-SACKs; Linux's undo_marker and undo_retrans). */
struct tcp_undo {
    uint32_t marker;             /* snd_una when the episode began */
    uint32_t prior_cwnd, prior_ssthresh;
    uint32_t retrans_ts;         /* our timestamp on the episode's first retransmission */
    uint16_t retrans;            /* retransmissions not yet shown spurious by a D-SACK */
    bool on;                     /* an episode may still be undone */
    bool resent;                 /* the episode retransmitted something */
};

/* Proportional Rate Reduction (RFC 6937, as Linux) during fast recovery, in bytes: cwnd is set
 * on each ACK so that what is sent tracks what the peer received, scaled by ssthresh/RecoverFS. */
struct tcp_prr {
    uint32_t recover_fs;         /* RecoverFS: cwnd when recovery began (Linux's prior_cwnd) */
    uint32_t delivered;          /* prr_delivered: bytes newly ACKed or SACKed since then */
    uint32_t out;                /* prr_out: bytes sent since then, new or again */
};

/* Laid out for size (docs/design.md, "Memory per connection"): fields of a kind kept
 * together, but small ones placed where they leave no padding, and each type as narrow as its
 * range allows (Linux's limits: keepalive times up to 32767 s, 127 probes; errno values). */
struct tcb {
    struct tcp_conn c;
    struct ust_stack *stack;
    struct route rt;             /* where segments go */

    /* Send sequence space (RFC 9293 3.3.1) */
    uint32_t iss;                /* initial send sequence number */
    uint32_t snd_una;            /* oldest unacknowledged sequence number */
    uint32_t snd_nxt;            /* next new sequence number to send (never moves back) */
    uint32_t snd_wnd;            /* peer's window, scaled, from snd_una's viewpoint */
    uint32_t snd_wl1;            /* seq of the segment of the last window update */
    uint32_t snd_wl2;            /* ack of the segment of the last window update */
    uint32_t max_snd_wnd;        /* largest window the peer offered (sender SWS, RFC 1122) */
    /* Receive sequence space */
    uint32_t irs;                /* initial receive sequence number */
    uint32_t rcv_nxt;            /* next sequence number expected */
    uint32_t rcv_wnd;            /* window last advertised, bytes (right edge: rcv_adv) */
    uint32_t rcv_adv;            /* rcv_nxt + rcv_wnd when last advertised; never shrinks */

    /* Options negotiated */
    uint16_t mss;                /* send MSS: payload per segment, options excluded */
    uint16_t peer_mss;           /* as the peer announced (536 if it did not, RFC 9293) */
    uint16_t adv_mss;            /* what we announced */
    uint16_t user_mss;           /* TCP_MAXSEG, 0 if unset */
    uint16_t rcv_mss;            /* largest segment the peer has sent (delayed ACK judge) */
    uint8_t snd_wscale;          /* shift applied to windows the peer sends */
    uint8_t rcv_wscale;          /* shift applied to windows we send */
    uint32_t ts_recent;          /* RFC 7323 TS.Recent */
    uint32_t ts_offset;          /* per-connection random offset of our timestamps */
    uint64_t ts_recent_ns;       /* when TS.Recent was set (PAWS 24-day rule) */
    uint32_t last_ack_sent;      /* RFC 7323 4.3: Last.ACK.sent */
    bool ts_ok, sack_ok, wscale_ok;

    /* RTT and retransmission (RFC 6298), in microseconds */
    uint8_t backoff;             /* RTO doublings since the last new ACK */
    uint32_t srtt_us, rttvar_us, rto_us, min_rtt_us;
    uint8_t rtx_mode;            /* enum tcp_timer_mode */
    uint8_t probes;              /* keepalive or zero-window probes sent without answer */
    uint16_t retries;            /* consecutive timeouts without progress */
    uint32_t user_timeout_ms;    /* TCP_USER_TIMEOUT, 0: the retry count decides */
    uint64_t rto_start_ns;       /* first timeout of the current stall (for the retry limit) */
    uint64_t persist_start_ns;   /* first zero-window probe of the current closed window, 0:
                                  * none (TCP_USER_TIMEOUT counts from it, Linux's
                                  * icsk_probes_tstamp) */

    /* Congestion control */
    uint32_t cwnd, ssthresh;
    const struct cc_ops *cc;
    uint8_t cc_priv[CC_PRIV_SIZE];
    uint32_t recover;            /* RFC 6582 / 6675 RecoveryPoint: snd_nxt when recovery began */
    bool in_recovery;
    bool rto_recovery;           /* retransmitting after an RTO (go-back-N of lost segments) */
    uint8_t dupacks;
    bool cwnd_limited;
    uint32_t sacked_bytes;       /* bytes in flight marked SACKED */
    uint32_t lost_bytes;         /* bytes marked LOST and not resent */
    uint32_t retrans_bytes;      /* bytes retransmitted and not acked or lost again */
    uint32_t high_sacked;        /* highest sequence SACKed (RFC 6675 HighACK side) */
    uint64_t last_send_ns;       /* for the after-idle restart (RFC 5681 4.1) */
    uint64_t last_recv_ns;       /* for keepalive */
    struct tcp_rack rack;        /* RFC 8985 loss detection (SACK connections) */
    struct tcp_undo undo;
    struct tcp_prr prr;          /* valid while in_recovery */

    uint32_t write_seq;          /* sequence number after the last byte queued to send */
    uint32_t snd_sml;            /* end of the last sub-MSS segment sent (Minshall's Nagle) */
    uint16_t reno_dupacks;       /* without SACK: segments the dupacks say have left (Linux's
                                  * "reno SACKs"), counted like SACKed bytes in the pipe */

    /* Delayed ACK (RFC 1122 4.2.3.2, RFC 5681 4.2) */
    uint8_t unacked_segs;        /* full-sized segments received since our last ACK */
    uint8_t quickacks;           /* ACK at once for this many more segments (Linux quickack) */
    bool ack_now;                /* send an ACK on this pass */
    bool ack_pending;            /* data received that no ACK has covered yet */
    uint64_t delack_due_ns;      /* when the delayed ACK is due (0: none is); the timer may
                                  * still be armed for an earlier, stale deadline */

    /* SACK blocks we send */
    bool dsack_pending;
    uint8_t sack_recent_n;            /* blocks in sack_recent, most recent first (RFC 2018 4) */
    struct tcp_sack_block dsack;      /* a duplicate to report (RFC 2883), if dsack_pending */
    struct tcp_sack_block sack_recent[TCP_MAX_SACK_BLOCKS];

    /* Queues */
    uint32_t sndbuf;                  /* limit on snd_queued (SO_SNDBUF) */
    struct pkt *snd_head, *snd_tail;  /* every segment from snd_una on */
    struct pkt *send_head;            /* first segment not yet sent (NULL: all sent) */
    uint32_t snd_queued;              /* payload bytes on the send queue */
    uint32_t rcvbuf;                  /* SO_RCVBUF (payload bytes we may advertise) */
    struct pkt *rcv_head, *rcv_tail;  /* in-order data not yet read */
    uint32_t rcv_queued;              /* payload bytes on the receive queue */
    uint32_t rcv_mem;                 /* buffer bytes held by rcv and ooo queues */
    struct pkt *ooo_head;             /* out-of-order segments, sorted, disjoint */
    uint32_t ooo_bytes;
    uint32_t linger_s;                /* SO_LINGER's time, if linger_on */
    uint32_t snd_mem;                 /* buffer bytes held by the send queue */
    uint32_t mem_charged;             /* of rcv_mem + snd_mem, what the stack's socket memory
                                       * has been told (tcp_mem_sync; 4 GiB at most) */

    /* Timers */
    struct timer rtx_timer;      /* retransmission or persist */
    struct timer delack_timer;
    struct timer keep_timer;     /* keepalive, FIN_WAIT_2 timeout, SYN_RECEIVED lifetime */

    struct tcp_ack_cache *ack_cache;   /* pure ACK template, NULL until needed (freed with it) */

    /* User settings */
    uint16_t keepidle_s;         /* TCP_KEEPIDLE, 1..32767 (Linux's MAX_TCP_KEEPIDLE) */
    uint16_t keepintvl_s;        /* TCP_KEEPINTVL, 1..32767 */
    uint8_t keepcnt;             /* TCP_KEEPCNT, 1..127 */
    uint8_t ttl, tos;            /* IP_TTL (0: default), IP_TOS */
    bool nodelay, cork, keepalive, quickack_opt;
    bool sws_override;           /* persist timeout: send what the window allows (RFC 1122
                                  * 4.2.3.4 (4)), however small */
    bool linger_on;

    /* Connection life */
    uint8_t shutdown;            /* TCP_SHUT_RD | TCP_SHUT_WR as the user asked */
    bool fin_queued;             /* our FIN is on the send queue */
    bool fin_received;           /* the peer's FIN has been consumed in sequence */
    bool orphan;                 /* closed by the user; lives on only to finish the protocol */
    bool done;                   /* reached CLOSED after being connected (reset, timeout, end) */
    bool reuseaddr, reuseport;
    bool bound_by_user;          /* the local port came from bind() */
    bool accept_queued;          /* on (or taken from) a listener's accept queue */
    uint8_t error;               /* pending error for the user (positive errno, < 256) */
    uint8_t soft_error;          /* last ICMP error: reported if the connection times out */
    uint8_t synack_retries;

    /* Listening and accepting */
    uint16_t backlog;            /* listener: accept queue limit */
    uint16_t accept_len;
    uint16_t synq_len;           /* listener: connections in SYN_RECEIVED */
    struct tcb *parent;          /* the listener of an embryonic or unaccepted connection */
    struct tcb *accept_next;     /* on the parent's accept queue */
    struct tcb *accept_head, *accept_tail;  /* listener: established, not yet accepted */
    struct tcb *listen_next;     /* listener: the next on its port in the listener table */

    /* Upward notification (sock/) */
    tcp_notify_fn *notify;
    void *owner;

    /* Statistics for tcp_info */
    uint32_t total_retrans;
    uint32_t oow_ack_ms;         /* when we last answered an unacceptable segment (ms, wraps;
                                  * 0: never): the rate limit in check_sequence */
    uint64_t bytes_acked;        /* RFC 4898 tcpEStatsAppHCThruOctetsAcked */
    uint64_t bytes_received;
    uint64_t segs_out, segs_in;
};

/* ---- Shared between the TCP files ---- */

/* tcp_table.c */
struct tcb *tcb_alloc(struct ust_stack *s);
void tcb_free(struct tcb *tp);   /* frees queues and timers too */
void tcp_set_state(struct tcb *tp, enum tcp_state state);
void tcp_ehash_insert(struct ust_stack *s, struct tcp_conn *c);
void tcp_ehash_remove(struct ust_stack *s, struct tcp_conn *c);
void tcp_bhash_insert(struct ust_stack *s, struct tcp_conn *c);
void tcp_bhash_remove(struct ust_stack *s, struct tcp_conn *c);
struct tcp_conn *tcp_ehash_lookup(struct ust_stack *s, uint32_t laddr, uint16_t lport,
                                  uint32_t raddr, uint16_t rport);
/* c if it is the connection of this 4-tuple, else NULL (NULL-safe): the test of
 * tcp_ehash_lookup's walk and of its one-entry cache, which tcp_input checks before the call. */
static inline struct tcp_conn *tcp_conn_is(struct tcp_conn *c, uint32_t laddr, uint16_t lport,
                                           uint32_t raddr, uint16_t rport)
{
    return c && c->lport == lport && c->rport == rport && c->laddr == laddr && c->raddr == raddr
               ? c
               : NULL;
}
struct tcb *tcp_listener_lookup(struct ust_stack *s, uint32_t laddr, uint16_t lport);
/* The first listener on lport (then ->listen_next), NULL if none. */
struct tcb *tcp_listeners(struct ust_stack *s, uint16_t lport);
/* An ephemeral port for a connection to raddr:rport (RFC 6056 3.3.3). */
int tcp_pick_port(struct ust_stack *s, struct tcb *tp, uint32_t raddr, uint16_t rport,
                  uint16_t *port);
/* Closes the connection for good: CLOSED, off the tables, user told, freed if orphaned. */
void tcp_done(struct tcb *tp);
/* Reports err to the user and tears the connection down (tcp_done). */
void tcp_abort(struct tcb *tp, int err);
/* Marks tp orphaned (closed by its user), counted until it is freed. */
void tcp_orphan(struct tcb *tp);
/* Brings the stack's socket memory in line with what the queues hold (net/sockmem.h). */
void tcp_mem_sync(struct tcb *tp);
/* True if the queues may take one more buffer of `bytes` under the stack's mem_max. */
bool tcp_mem_may_grow(const struct tcb *tp, size_t bytes);
void tcp_notify(struct tcb *tp);

/* tcp_isn.c */
uint32_t tcp_isn(struct ust_stack *s, uint32_t laddr, uint16_t lport, uint32_t raddr,
                 uint16_t rport);
uint32_t tcp_ts_now(const struct tcb *tp);   /* our timestamp clock (1 ms ticks, as Linux) */
uint32_t tcp_ts_clock(struct ust_stack *s);

/* tcp_rtt.c */
void tcp_rtt_sample(struct tcb *tp, uint32_t rtt_us);
void tcp_rtt_init(struct tcb *tp);
uint32_t tcp_rto_us(const struct tcb *tp);   /* rto_us with the backoff applied */

/* tcp_output.c */
void tcp_output(struct tcb *tp);              /* send whatever windows and Nagle allow */
void tcp_send_ack(struct tcb *tp);
void tcp_send_syn(struct tcb *tp);            /* SYN or SYN-ACK, by state */
void tcp_send_probe(struct tcb *tp);          /* zero-window or keepalive probe */
void tcp_send_rst_for(struct tcb *tp);        /* RST from a connection (abort) */
int tcp_retransmit_seg(struct tcb *tp, struct pkt *p);
uint16_t tcp_adv_window(struct tcb *tp);      /* window field for the next segment */
uint32_t tcp_flight(const struct tcb *tp);    /* RFC 6675 pipe */
/* Appends user data to the send queue; returns bytes taken. */
size_t tcp_queue_data(struct tcb *tp, const struct iovec *iov, size_t iovcnt, size_t skip,
                      size_t max);
bool tcp_queue_fin(struct tcb *tp);

/* tcp_input.c */
void tcp_ack_sent(struct tcb *tp);            /* an ACK went out: delayed ACK state resets */
void tcp_rcv_append(struct tcb *tp, struct pkt *p);   /* in-order payload onto the rcv queue */
void tcp_apply_syn_options(struct tcb *tp, const struct tcp_options *o);
void tcp_init_windows(struct tcb *tp);        /* MSS, window scale choice, initial cwnd */
bool tcp_challenge_ack(struct tcb *tp);       /* RFC 5961 7 rate-limited; true if sent */
void tcp_established(struct tcb *tp);         /* handshake done (either side) */
uint8_t tcp_choose_wscale(const struct ust_stack *s);
uint32_t tcp_ts_offset(struct ust_stack *s, uint32_t laddr, uint32_t raddr);

/* tcp_timer.c */
void tcp_timers_init(struct tcb *tp);
void tcp_timers_stop(struct tcb *tp);
void tcp_arm_rtx(struct tcb *tp);             /* (re)start the retransmission timer */
void tcp_arm_persist(struct tcb *tp);
void tcp_arm_delack(struct tcb *tp);
void tcp_arm_keepalive(struct tcb *tp);
void tcp_cc_apply(struct tcb *tp, const struct cc_out *o);
void tcp_cc_view(const struct tcb *tp, struct cc_view *v);
void tcp_enter_loss(struct tcb *tp);          /* RTO: everything in flight is lost */
void tcp_enter_recovery(struct tcb *tp);      /* fast recovery (tcp_input.c) */

/* tcp_reass.c */
void tcp_ooo_insert(struct tcb *tp, struct pkt *p);   /* consumes p (data at payload) */
bool tcp_ooo_drain(struct tcb *tp);   /* moves what became in-order; true if it held the FIN */
void tcp_ooo_overlay(const struct tcb *tp, struct pkt *p, uint32_t seq);   /* held bytes win */
void tcp_ooo_purge(struct tcb *tp);

/* tcp_sack.c */
void tcp_sack_note_received(struct tcb *tp, uint32_t start, uint32_t end);
void tcp_sack_update_recent(struct tcb *tp);
unsigned tcp_sack_blocks(struct tcb *tp, struct tcp_sack_block *out, unsigned max);
/* Marks what the peer's blocks newly cover SACKED; returns true if the ACK carried a D-SACK. */
bool tcp_sack_process(struct tcb *tp, const struct tcp_options *opt, uint32_t ack);
struct pkt *tcp_sack_next_seg(struct tcb *tp);       /* RFC 6675 NextSeg() rule 1 */
/* Marks a segment in flight lost (again, if it was retransmitted); true if it was not already
 * waiting to be resent. */
bool tcp_seg_mark_lost(struct tcb *tp, struct pkt *p);

/* tcp_rack.c (RFC 8985) */
void tcp_rack_init(struct tcb *tp);
void tcp_rack_delivered(struct tcb *tp, const struct tcp_seg_cb *cb);   /* newly ACKed/SACKed */
/* After an ACK's SACK blocks and cumulative ACK were processed: D-SACK window adaptation, the
 * tail loss probe's outcome, loss detection, recovery entry and the reordering timer. */
void tcp_rack_ack_done(struct tcb *tp, uint32_t ack, bool advanced, bool dsack);
void tcp_rack_recovery_exit(struct tcb *tp);
/* Arms the timer that watches data in flight: the PTO if a tail loss probe may be sent
 * (RFC 8985 7.2), else the RTO. */
void tcp_arm_xmit_timer(struct tcb *tp);
/* After tcp_output sent something: re-arm the PTO when new data went, else make sure some
 * timer watches what is in flight. */
void tcp_xmit_timer_after_send(struct tcb *tp, bool new_data);
void tcp_rack_reo_timeout(struct tcb *tp);
bool tcp_tlp_in_recovery(const struct tcb *tp);   /* a probe may be scheduled in recovery */
/* Spurious loss recovery (tcp_rack.c): an episode begins (before cwnd is reduced), a segment
 * is retransmitted, a D-SACK reports [start, end), an ACK may show the episode was spurious. */
void tcp_undo_begin(struct tcb *tp);
void tcp_undo_note_retransmit(struct tcb *tp);
void tcp_undo_note_dsack(struct tcb *tp, uint32_t start, uint32_t end);
void tcp_undo_check(struct tcb *tp, const struct tcp_repr *th, bool advanced);
void tcp_tlp_timeout(struct tcb *tp);

/* tcp_listen.c */
/* Consumes the segment and returns NULL, or returns the connection a valid SYN cookie in it just
 * created (in SYN_RECEIVED), to which the caller hands the segment, still its own. */
struct tcb *tcp_listen_input(struct tcb *lp, struct iface *ifc, const struct ipv4_repr *ip,
                             const struct tcp_repr *th, struct pkt *p);
void tcp_child_established(struct tcb *tp);   /* a SYN_RECEIVED child completed */
void tcp_listen_close(struct tcb *lp);

/* tcp_timewait.c */
void tcp_time_wait(struct tcb *tp);           /* replaces tp by a compact entry */
/* The user closed tp, already in TIME_WAIT: a compact entry takes its place for the time left. */
void tcp_time_wait_closed(struct tcb *tp);
void tcp_tw_input(struct ust_stack *s, struct tcp_conn *c, struct iface *ifc,
                  const struct ipv4_repr *ip, const struct tcp_repr *th, struct pkt *p);
void tcp_tw_kill(struct ust_stack *s, struct tcp_conn *c);

/* A header-only segment from src to dst that no connection sends (tcp_output.c). */
void tcp_send_raw(struct ust_stack *s, const struct tcp_repr *r, uint32_t src, uint32_t dst);

/* A reply that does not belong to any connection (RFC 9293 3.10.7.1 and 3.5.2 "reset
 * generation"). */
void tcp_send_reset(struct ust_stack *s, struct iface *ifc, const struct ipv4_repr *ip,
                    const struct tcp_repr *th, uint32_t seg_len);

#endif
