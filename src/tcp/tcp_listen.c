/*
 * Listening sockets: the SYN queue, SYN cookies, and the accept queue.
 *
 * A SYN for a listener makes an embryonic connection in SYN_RECEIVED (a full TCB, in the
 * established table so the handshake's ACK finds it), answered with a SYN-ACK that the
 * retransmission timer repeats up to tcp_synack_retries times. When the handshake completes the
 * connection moves to the listener's accept queue (at most `backlog` long); accept() takes it.
 *
 * When the SYN queue is full (tcp_max_syn_backlog, or the backlog), and tcp_syncookies is on,
 * the SYN-ACK carries a SYN cookie instead and nothing is kept: the ISS encodes a keyed hash of
 * the 4-tuple and a 64-second time counter, and the MSS as one of four values; with timestamps,
 * the low 6 bits of our TSval carry the window scale (4 bits) and SACK-permitted, as Linux does.
 * An ACK whose acknowledgment number decodes to a valid cookie (issued within the last two
 * counter periods) creates the connection directly.
 */
#include <errno.h>
#include <string.h>

#include "base/log.h"
#include "net/stack.h"
#include "tcp/table.h"
#include "tcp/tcb.h"

/* The MSS values a cookie can encode (Linux's table for IPv4). */
static const uint16_t cookie_mss[] = { 536, 1300, 1440, 1460 };
#define COOKIE_PERIOD_NS (64 * NS_PER_SEC)
#define COOKIE_MAX_AGE 2
#define TS_OPT_MASK 0x3fu
#define TS_NO_WSCALE 0xfu
#define TS_SACK_BIT 0x10u

/* ---- Embryonic connections ---- */

static uint32_t route_mss(const struct tcb *tp)
{
    return ipv4_max_unfragmented(&tp->rt) - TCP_HDR_LEN;
}

/* A child of listener lp for the segment's 4-tuple, in SYN_RECEIVED, not yet in any table. */
static struct tcb *child_new(struct tcb *lp, const struct ipv4_repr *ip, const struct tcp_repr *th)
{
    struct ust_stack *s = lp->stack;
    struct tcb *tp = tcb_alloc(s);
    if (!tp)
        return NULL;
    if (ipv4_route(s, ip->src, &tp->rt) != 0) {
        tcb_free(tp);
        return NULL;
    }
    tp->c.laddr = ip->dst;
    tp->c.lport = th->dport;
    tp->c.raddr = ip->src;
    tp->c.rport = th->sport;
    tp->parent = lp;
    tp->nodelay = lp->nodelay;
    tp->keepalive = lp->keepalive;
    tp->keepidle_s = lp->keepidle_s;
    tp->keepintvl_s = lp->keepintvl_s;
    tp->keepcnt = lp->keepcnt;
    tp->user_mss = lp->user_mss;
    tp->user_timeout_ms = lp->user_timeout_ms;   /* inherited, as Linux's sk_clone copies it */
    tp->rcvbuf = lp->rcvbuf;
    tp->sndbuf = lp->sndbuf;
    tp->cc = lp->cc;
    tp->irs = th->seq;
    tp->rcv_nxt = th->seq + 1;
    tp->last_ack_sent = tp->rcv_nxt;
    tp->rcv_adv = tp->rcv_nxt;
    tp->adv_mss = (uint16_t)route_mss(tp);
    tp->rcv_wscale = tcp_choose_wscale(s);
    tp->ts_offset = tcp_ts_offset(s, tp->c.laddr, tp->c.raddr);
    tcp_apply_syn_options(tp, &th->opt);
    tcp_set_state(tp, TCPS_SYN_RECEIVED);
    return tp;
}

static void child_insert(struct tcb *tp)
{
    struct ust_stack *s = tp->stack;
    tcp_ehash_insert(s, &tp->c);
    tcp_bhash_insert(s, &tp->c);
}

/* ---- Cookies ---- */

struct cookie_key {
    uint32_t laddr, raddr;
    uint16_t lport, rport;
    uint32_t count;
};

static uint32_t cookie_hash(struct ust_stack *s, const struct tcb *tp, uint32_t count)
{
    struct cookie_key k = { tp->c.laddr, tp->c.raddr, tp->c.lport, tp->c.rport, count };
    return (uint32_t)siphash24(&s->secret, &k, sizeof(k));
}

static uint32_t cookie_count(struct ust_stack *s)
{
    return (uint32_t)(s->now / COOKIE_PERIOD_NS);
}

/* ISS = hash(4-tuple, count) + peer ISN + (count << 24) + MSS index: the count sits in the top
 * byte, the index in the low bits. */
static uint32_t cookie_make(struct ust_stack *s, struct tcb *tp, uint16_t peer_mss)
{
    uint32_t idx = 0;
    for (uint32_t i = 0; i < 4; i++)
        if (cookie_mss[i] <= peer_mss)
            idx = i;
    uint32_t count = cookie_count(s);
    return cookie_hash(s, tp, 0) + tp->irs + (count << 24) +
           ((cookie_hash(s, tp, count) + idx) & 0xffffff);
}

/* Returns the MSS index, or -1 if the cookie is not ours or too old. */
static int cookie_check(struct ust_stack *s, struct tcb *tp, uint32_t iss)
{
    uint32_t v = iss - cookie_hash(s, tp, 0) - tp->irs;
    uint32_t now = cookie_count(s);
    uint32_t count = (now & ~0xffu) | (v >> 24);
    if (count > now)
        count -= 256;
    if (now - count > COOKIE_MAX_AGE)
        return -1;
    uint32_t idx = (v - cookie_hash(s, tp, count)) & 0xffffff;
    return idx < 4 ? (int)idx : -1;
}

static uint32_t ts_with_options(const struct tcb *tp)
{
    uint32_t bits = tp->wscale_ok ? tp->snd_wscale : TS_NO_WSCALE;
    if (tp->sack_ok)
        bits |= TS_SACK_BIT;
    uint32_t now = tcp_ts_now(tp);
    uint32_t ts = (now & ~TS_OPT_MASK) | bits;
    /* Never ahead of our clock (Linux's cookie_init_timestamp): the peer takes it as
     * TS.Recent, and PAWS would drop our next segments until the clock caught up. */
    if (seq_gt(ts, now))
        ts -= TS_OPT_MASK + 1;
    return ts;
}

/* Answers a SYN with a cookie SYN-ACK; nothing is kept. */
static void send_cookie(struct tcb *lp, const struct ipv4_repr *ip, const struct tcp_repr *th)
{
    struct ust_stack *s = lp->stack;
    struct tcb *tp = child_new(lp, ip, th);
    if (!tp)
        return;
    if (!tp->ts_ok) {
        /* Without timestamps the cookie cannot carry window scale and SACK-permitted, and the
         * connection it makes will use neither (cookie_accept): so the SYN-ACK must not offer
         * them either, or the peer would scale our windows (RFC 7323 2.2: in effect when both
         * SYNs carry the option). Linux clears the options the same way. */
        tp->wscale_ok = false;
        tp->snd_wscale = 0;
        tp->rcv_wscale = 0;
        tp->sack_ok = false;
    }
    tp->iss = cookie_make(s, tp, tp->peer_mss);
    tp->snd_nxt = tp->iss + 1;
    if (tp->ts_ok)
        tp->ts_offset += ts_with_options(tp) - tcp_ts_now(tp);   /* TSval = ts_with_options */
    tcp_counters(s)->syncookies_sent++;
    tcp_send_syn(tp);
    tp->parent = NULL;
    tcp_set_state(tp, TCPS_CLOSED);
    tcb_free(tp);
}

/* An ACK that may complete a cookie handshake. Returns the new connection or NULL. */
static struct tcb *cookie_accept(struct tcb *lp, const struct ipv4_repr *ip,
                                 const struct tcp_repr *th)
{
    struct ust_stack *s = lp->stack;
    struct tcp_repr syn = *th;
    syn.seq = th->seq - 1;        /* the peer's ISN */
    syn.opt.present = 0;          /* options come from the cookie */
    struct tcb *tp = child_new(lp, ip, &syn);
    if (!tp)
        return NULL;
    int idx = cookie_check(s, tp, th->ack - 1);
    if (idx < 0) {
        tcp_counters(s)->syncookies_failed++;
        tp->parent = NULL;
        tcp_set_state(tp, TCPS_CLOSED);
        tcb_free(tp);
        return NULL;
    }
    tp->peer_mss = cookie_mss[idx];
    if (s->cfg.tcp_timestamps && (th->opt.present & TCP_HAS_TIMESTAMP)) {
        uint32_t bits = th->opt.ts_ecr & TS_OPT_MASK;
        tp->ts_ok = true;
        tp->ts_recent = th->opt.ts_val;
        tp->ts_recent_ns = s->now;
        tp->sack_ok = s->cfg.tcp_sack && (bits & TS_SACK_BIT);
        tp->wscale_ok = s->cfg.tcp_window_scaling && (bits & 0xf) != TS_NO_WSCALE;
        tp->snd_wscale = tp->wscale_ok ? (uint8_t)(bits & 0xf) : 0;
        /* The shift our SYN-ACK announced (child_new's choice, which tcp_apply_syn_options
         * cleared for lack of options in this ACK). */
        tp->rcv_wscale = tp->wscale_ok ? tcp_choose_wscale(s) : 0;
    } else {
        /* Without timestamps nothing says what the SYN offered: no scaling, no SACK. */
        tp->rcv_wscale = 0;
    }
    tp->iss = th->ack - 1;
    tp->snd_una = tp->iss;        /* an embryo, as if the SYN had been queued: the ACK ... */
    tp->snd_nxt = th->ack;
    tp->write_seq = th->ack;
    /* The window the cookie SYN-ACK offered (unscaled, RFC 7323 2.2) is ours to honour: data
     * on this very ACK, or right behind it, must not be trimmed away. */
    tp->rcv_wnd = tp->rcvbuf < 0xffff ? tp->rcvbuf : 0xffff;
    tp->rcv_adv = tp->rcv_nxt + tp->rcv_wnd;
    tcp_init_windows(tp);
    child_insert(tp);
    lp->synq_len++;   /* tcp_child_established takes it back off */
    tcp_counters(s)->syncookies_recv++;
    /* ... then completes it through tcp_input like any handshake's, and its data (if it
     * carries any) is delivered, as Linux's tcp_child_process does. */
    return tp;
}

/* ---- The listener's input ---- */

static bool synq_full(const struct tcb *lp)
{
    uint32_t limit = lp->stack->cfg.tcp_max_syn_backlog;
    if (lp->backlog < limit)
        limit = lp->backlog;
    return lp->synq_len >= limit;
}

static void syn_arrives(struct tcb *lp, const struct ipv4_repr *ip, const struct tcp_repr *th)
{
    struct ust_stack *s = lp->stack;
    struct tcp_ctrs *c = tcp_counters(s);
    if (lp->accept_len >= lp->backlog) {
        c->listen_overflows++;   /* Linux drops SYNs while the accept queue is full */
        return;
    }
    if (synq_full(lp)) {
        if (s->cfg.tcp_syncookies)
            send_cookie(lp, ip, th);
        else
            c->syn_queue_drops++;
        return;
    }
    struct tcb *tp = child_new(lp, ip, th);
    if (!tp)
        return;
    tp->iss = tcp_isn(s, tp->c.laddr, tp->c.lport, tp->c.raddr, tp->c.rport);
    tp->snd_una = tp->iss;
    tp->snd_nxt = tp->iss + 1;
    tp->write_seq = tp->iss + 1;
    tcp_init_windows(tp);
    child_insert(tp);
    lp->synq_len++;
    tcp_send_syn(tp);
    tcp_arm_rtx(tp);
}

struct tcb *tcp_listen_input(struct tcb *lp, struct iface *ifc, const struct ipv4_repr *ip,
                             const struct tcp_repr *th, struct pkt *p)
{
    struct ust_stack *s = lp->stack;
    uint32_t seg_len = (uint32_t)th->payload_len + ((th->flags & TCP_SYN) ? 1 : 0) +
                       ((th->flags & TCP_FIN) ? 1 : 0);
    /* RFC 9293 3.10.7.2: an RST is ignored; an ACK gets an RST (unless it is a cookie); a
     * SYN starts a connection (not one with FIN, below); anything else is dropped. */
    if (th->flags & TCP_RST)
        goto out;
    if (th->flags & TCP_ACK) {
        struct tcb *child = NULL;
        if (!(th->flags & TCP_SYN) && s->cfg.tcp_syncookies)
            child = cookie_accept(lp, ip, th);
        if (child)
            return child;   /* the segment goes on to the new connection */
        tcp_send_reset(s, ifc, ip, th, seg_len);
        goto out;
    }
    if (th->flags & TCP_SYN) {
        /* A SYN with FIN opens nothing (a scan, or a way past filters that look at one flag):
         * Linux drops it at a listener (tcp_rcv_state_process), and so do we. */
        if (th->flags & TCP_FIN) {
            tcp_counters(s)->syn_fin_drops++;
            goto out;
        }
        syn_arrives(lp, ip, th);
    }
out:
    pkt_free(p);
    return NULL;
}

/* ---- Accept queue ---- */

void tcp_child_established(struct tcb *tp)
{
    struct tcb *lp = tp->parent;
    lp->synq_len--;
    if (lp->accept_len >= lp->backlog) {
        /* Linux (tcp_abort_on_overflow = 0): forget the ACK; the SYN-ACK is repeated and the
         * peer's next ACK may find room. Here: keep it out of the queue and count. */
        tcp_counters(tp->stack)->listen_overflows++;
        lp->synq_len++;
        tcp_set_state(tp, TCPS_SYN_RECEIVED);
        tp->snd_una = tp->iss;   /* as if the ACK never came: the next one must be accepted */
        tcp_arm_rtx(tp);
        return;
    }
    tp->accept_queued = true;
    tp->accept_next = NULL;
    if (lp->accept_tail)
        lp->accept_tail->accept_next = tp;
    else
        lp->accept_head = tp;
    lp->accept_tail = tp;
    lp->accept_len++;
    tcp_counters(tp->stack)->passive_opens++;
    tcp_notify(lp);
}

struct tcb *tcp_accept(struct tcb *lp, tcp_notify_fn *notify, void *owner, int *err)
{
    if (lp->c.state != TCPS_LISTEN) {
        *err = -EINVAL;
        return NULL;
    }
    struct tcb *tp = lp->accept_head;
    if (!tp) {
        *err = -EAGAIN;
        return NULL;
    }
    lp->accept_head = tp->accept_next;
    if (!lp->accept_head)
        lp->accept_tail = NULL;
    lp->accept_len--;
    tp->accept_next = NULL;
    tp->parent = NULL;
    tp->notify = notify;
    tp->owner = owner;
    *err = 0;
    return tp;
}

bool tcp_accept_would_block(const struct tcb *lp)
{
    return lp->c.state == TCPS_LISTEN && !lp->accept_head;
}

/* The listener closes: every connection it has not handed out is reset and freed. */
void tcp_listen_close(struct tcb *lp)
{
    struct ust_stack *s = lp->stack;
    while (lp->accept_head) {
        struct tcb *tp = lp->accept_head;
        lp->accept_head = tp->accept_next;
        tp->accept_queued = false;
        if (tp->c.state != TCPS_CLOSED)
            tcp_send_rst_for(tp);
        tcp_orphan(tp);
        tp->parent = NULL;
        tcp_done(tp);
    }
    lp->accept_tail = NULL;
    lp->accept_len = 0;
    /* Embryos in SYN_RECEIVED: found through the established table by their parent. */
    struct tcp_table *t = s->tcp;
    for (uint32_t i = 0; i < t->ehash_size && lp->synq_len; i++) {
        struct tcp_conn *c = t->ehash[i];
        while (c) {
            struct tcp_conn *next = c->hash_next;
            if (!c->compact && ((struct tcb *)c)->parent == lp) {
                struct tcb *tp = (struct tcb *)c;
                tcp_send_rst_for(tp);
                tcp_done(tp);   /* frees it: an embryo never queued */
            }
            c = next;
        }
    }
}
