/*
 * TCP's timers, each a timer-wheel entry in the TCB:
 *   rtx_timer    retransmission (RFC 6298) of SYN, SYN-ACK, data and FIN, or zero-window
 *                probing (RFC 9293 3.8.6.1, "persist"), with exponential backoff;
 *   delack_timer the delayed ACK (RFC 1122 4.2.3.2: at most 500 ms; Linux's 40 ms here);
 *   keep_timer   keepalive probes (RFC 1122 4.2.3.6), the FIN_WAIT_2 timeout of a connection
 *                its user has closed (Linux's tcp_fin_timeout).
 * Plus the two congestion-control glue functions every loss path uses.
 */
#include <errno.h>

#include "base/log.h"
#include "net/stack.h"
#include "tcp/table.h"
#include "tcp/tcb.h"

/* ---- Congestion-control glue ---- */

void tcp_cc_view(const struct tcb *tp, struct cc_view *v)
{
    *v = (struct cc_view){
        .cwnd = tp->cwnd, .ssthresh = tp->ssthresh, .mss = tp->mss,
        .flight = tcp_flight(tp), .srtt_us = tp->srtt_us, .min_rtt_us = tp->min_rtt_us,
        .now_us = tp->stack->now / 1000, .in_recovery = tp->in_recovery,
        .cwnd_limited = tp->cwnd_limited,
    };
    /* Linux's tcp_is_cwnd_limited: in slow start, a flight of half the window counts, so a
     * sender that writes in bursts still grows its window. */
    if (tp->cwnd < tp->ssthresh && v->flight * 2 >= tp->cwnd)
        v->cwnd_limited = true;
}

void tcp_cc_apply(struct tcb *tp, const struct cc_out *o)
{
    /* A module's decision, within sane bounds: never below one segment. */
    tp->cwnd = o->cwnd < tp->mss ? tp->mss : o->cwnd;
    tp->ssthresh = o->ssthresh < 2u * tp->mss ? 2u * tp->mss : o->ssthresh;
}

/* Marks every unSACKed segment in flight lost (RFC 6675 5.1, RFC 5681 3.1 after an RTO). */
void tcp_enter_loss(struct tcb *tp)
{
    struct cc_view v;
    struct cc_out o = { tp->cwnd, tp->ssthresh };
    tcp_undo_begin(tp);
    tcp_cc_view(tp, &v);
    v.flight = tp->snd_nxt - tp->snd_una;   /* RFC 5681 eqn 4 FlightSize, not the pipe */
    if (tp->cc->on_loss)
        tp->cc->on_loss(tp->cc_priv, &v, CC_LOSS_RTO, &o);
    tcp_cc_apply(tp, &o);
    tp->cwnd = tp->mss;   /* RFC 5681 3.1: the loss window is one segment */
    tp->lost_bytes = 0;
    tp->retrans_bytes = 0;
    for (struct pkt *p = tp->snd_head; p && p != tp->send_head; p = p->next) {
        struct tcp_seg_cb *cb = seg_cb(p);
        cb->flags &= (uint8_t)~SEG_RETRANS;
        if (cb->flags & SEG_SACKED)
            continue;
        cb->flags |= SEG_LOST;
        tp->lost_bytes += cb->end_seq - cb->seq;
    }
    tp->in_recovery = false;
    tp->rto_recovery = true;
    tp->cwnd_limited = true;   /* lost data waits on the loss window: slow start must grow it */
    tp->recover = tp->snd_nxt;
    tp->dupacks = 0;
    tp->reno_dupacks = 0;
    tp->rack.tlp_pending = false;
}

/* ---- Arming ---- */

static void arm(struct tcb *tp, struct timer *t, uint64_t delay_ns)
{
    timer_arm(&tp->stack->wheel, t, tp->stack->now + delay_ns);
}

void tcp_arm_rtx(struct tcb *tp)
{
    tp->rtx_mode = RTX_RETRANSMIT;
    arm(tp, &tp->rtx_timer, (uint64_t)tcp_rto_us(tp) * NS_PER_US);
}

void tcp_arm_persist(struct tcb *tp)
{
    uint64_t delay = (uint64_t)tcp_rto_us(tp) * NS_PER_US;
    if (tp->user_timeout_ms && tp->persist_start_ns) {
        /* Never sleep past TCP_USER_TIMEOUT: the probe timer fires when it ends (Linux's
         * tcp_clamp_probe0_to_user_timeout, at least 2 ms away, its TCP_TIMEOUT_MIN). */
        uint64_t end = tp->persist_start_ns + (uint64_t)tp->user_timeout_ms * NS_PER_MS;
        uint64_t left = end > tp->stack->now ? end - tp->stack->now : 0;
        if (left < 2 * NS_PER_MS)
            left = 2 * NS_PER_MS;
        if (left < delay)
            delay = left;
    }
    tp->rtx_mode = RTX_PERSIST;
    arm(tp, &tp->rtx_timer, delay);
}

/* Due tcp_delack_ms after the first segment no ACK has covered. */
void tcp_arm_delack(struct tcb *tp)
{
    if (tp->delack_due_ns)
        return;
    tp->delack_due_ns = tp->stack->now + (uint64_t)tp->stack->cfg.tcp_delack_ms * NS_PER_MS;
    if (!timer_is_armed(&tp->delack_timer))
        timer_arm(&tp->stack->wheel, &tp->delack_timer, tp->delack_due_ns);
    /* else it is armed for an earlier deadline, left from an ACK since sent: it moves on
     * to this one when it fires. */
}

void tcp_arm_keepalive(struct tcb *tp)
{
    if (!tp->keepalive) {
        if (tp->c.state != TCPS_FIN_WAIT_2)
            timer_cancel(&tp->stack->wheel, &tp->keep_timer);
        return;
    }
    arm(tp, &tp->keep_timer, (uint64_t)tp->keepidle_s * NS_PER_SEC);
}

/* ---- Retransmission and persist ---- */

/* Whether the current stall has gone on too long (RFC 1122 4.2.3.5 "R2"): after tcp_retries2
 * timeouts, or TCP_USER_TIMEOUT since the first one. */
static bool retries_exhausted(struct tcb *tp, uint32_t limit)
{
    if (tp->user_timeout_ms)
        return tp->retries &&
               tp->stack->now - tp->rto_start_ns >= (uint64_t)tp->user_timeout_ms * NS_PER_MS;
    return tp->retries >= limit;
}

static void handshake_timeout(struct tcb *tp)
{
    const struct ust_config *c = &tp->stack->cfg;
    uint32_t limit = tp->c.state == TCPS_SYN_SENT ? c->tcp_syn_retries : c->tcp_synack_retries;
    if (retries_exhausted(tp, limit)) {
        if (tp->c.state == TCPS_SYN_SENT)
            tcp_counters(tp->stack)->attempt_fails++;
        /* Linux reports the last ICMP error heard, if any, rather than a bare timeout. */
        tcp_abort(tp, tp->soft_error ? tp->soft_error : ETIMEDOUT);
        return;
    }
    tp->retries++;
    tp->backoff++;
    tcp_send_syn(tp);
    tcp_arm_rtx(tp);
}

static void retransmit_timeout(struct tcb *tp)
{
    if (tp->snd_una == tp->snd_nxt) {
        tp->rtx_mode = RTX_NONE;
        return;
    }
    if (!tp->retries)
        tp->rto_start_ns = tp->stack->now;
    if (retries_exhausted(tp, tp->stack->cfg.tcp_retries2)) {
        ust_log(UST_LOG_INFO, "tcp: connection to port %u timed out", tp->c.rport);
        tcp_counters(tp->stack)->timeout_aborts++;
        tcp_abort(tp, tp->soft_error ? tp->soft_error : ETIMEDOUT);
        return;
    }
    tcp_counters(tp->stack)->timeouts++;
    tcp_enter_loss(tp);
    tp->retries++;
    tp->backoff++;
    /* The first lost segment goes now whatever the window says (RFC 6298 5.4). */
    struct pkt *p = tcp_sack_next_seg(tp);
    if (p)
        tcp_retransmit_seg(tp, p);
    tcp_arm_rtx(tp);
}

/* Whether zero-window probing must stop (Linux's tcp_probe_timer). RFC 1122 4.2.2.17: a peer
 * that answers the probes keeps the connection open indefinitely (answers reset tp->probes),
 * so only tcp_retries2 probes without any answer end it; and TCP_USER_TIMEOUT (RFC 5482, RFC
 * 9293 3.8.3 "USER TIMEOUT"): data may wait for a closed window at most that long, counted
 * from the first probe, answered or not. Without it a peer that never reads would hold the
 * connection and its send buffer for ever. */
static bool persist_gives_up(struct tcb *tp)
{
    uint64_t now = tp->stack->now;
    if (!tp->persist_start_ns)
        tp->persist_start_ns = now;
    else if (tp->user_timeout_ms &&
             now - tp->persist_start_ns >= (uint64_t)tp->user_timeout_ms * NS_PER_MS)
        return true;
    return tp->probes >= tp->stack->cfg.tcp_retries2;
}

static void persist_timeout(struct tcb *tp)
{
    bool zero_window = tp->snd_wnd == 0 && tp->send_head && tp->snd_una == tp->snd_nxt;
    if (!zero_window) {
        struct tcp_ctrs *c = tcp_counters(tp->stack);
        uint64_t nobufs = c->nobufs;
        tp->rtx_mode = RTX_NONE;
        tp->persist_start_ns = 0;
        /* A window too small for sender SWS avoidance: the override timeout has passed, send
         * what fits (RFC 1122 4.2.3.4 (4); Linux's tcp_write_wakeup). */
        tp->sws_override = tp->snd_wnd != 0;
        tcp_output(tp);
        tp->sws_override = false;
        /* Unless the window is open but no buffer was left to send in (the pool exhausted, by
         * other sockets' receive queues, say): then the timer tries again, and the tries count
         * as unanswered probes, so a connection that can never send (an orphan's FIN) ends
         * after tcp_retries2 of them instead of holding its buffers for ever. */
        if (c->nobufs == nobufs || tp->rtx_mode != RTX_PERSIST || tp->snd_una != tp->snd_nxt)
            return;
    }
    if (persist_gives_up(tp)) {
        ust_log(UST_LOG_INFO, "tcp: connection to port %u: %s", tp->c.rport,
                zero_window ? "zero window timed out" : "no buffer to send, gave up");
        tcp_counters(tp->stack)->timeout_aborts++;
        tcp_abort(tp, ETIMEDOUT);
        return;
    }
    tp->probes++;
    tp->backoff++;
    if (zero_window) {
        tcp_counters(tp->stack)->zero_window_probes++;
        tcp_send_probe(tp);
    }
    tcp_arm_persist(tp);   /* again, after the backed-off interval */
}

static void rtx_timer_fn(struct timer *t, uint64_t now)
{
    struct tcb *tp = container_of(t, struct tcb, rtx_timer);
    (void)now;
    uint8_t mode = tp->rtx_mode;
    tp->rtx_mode = RTX_NONE;
    if (tp->c.state == TCPS_SYN_SENT || tp->c.state == TCPS_SYN_RECEIVED)
        handshake_timeout(tp);
    else if (mode == RTX_PERSIST)
        persist_timeout(tp);
    else if (mode == RTX_RETRANSMIT)
        retransmit_timeout(tp);
    else if (mode == RTX_REO)
        tcp_rack_reo_timeout(tp);
    else if (mode == RTX_TLP)
        tcp_tlp_timeout(tp);
}

/* ---- Delayed ACK ---- */

static void delack_timer_fn(struct timer *t, uint64_t now)
{
    struct tcb *tp = container_of(t, struct tcb, delack_timer);
    if (!(tp->ack_pending || tp->ack_now))
        return;
    if (tp->delack_due_ns && now < tp->delack_due_ns) {
        timer_arm(&tp->stack->wheel, &tp->delack_timer, tp->delack_due_ns);
        return;   /* a stale deadline (see tcp_ack_sent) */
    }
    tcp_counters(tp->stack)->delayed_acks++;
    tcp_send_ack(tp);
}

/* ---- Keepalive and FIN_WAIT_2 ---- */

static void keepalive_fire(struct tcb *tp)
{
    struct ust_stack *s = tp->stack;
    uint64_t idle = s->now - tp->last_recv_ns;
    uint64_t keepidle = (uint64_t)tp->keepidle_s * NS_PER_SEC;
    if (tp->snd_una != tp->snd_nxt || tp->send_head) {
        /* Data in flight: the retransmission timer watches the peer. */
        tp->probes = 0;
        arm(tp, &tp->keep_timer, keepidle);
        return;
    }
    if (idle < keepidle && tp->probes == 0) {
        arm(tp, &tp->keep_timer, keepidle - idle);
        return;
    }
    if (tp->probes >= tp->keepcnt) {
        /* RFC 1122 4.2.3.6: the peer is gone. Linux resets the connection. */
        tcp_counters(s)->keepalive_timeouts++;
        tcp_send_rst_for(tp);
        tcp_abort(tp, ETIMEDOUT);
        return;
    }
    tp->probes++;
    tcp_counters(s)->keepalive_probes++;
    tcp_send_probe(tp);
    arm(tp, &tp->keep_timer, (uint64_t)tp->keepintvl_s * NS_PER_SEC);
}

static void keep_timer_fn(struct timer *t, uint64_t now)
{
    struct tcb *tp = container_of(t, struct tcb, keep_timer);
    (void)now;
    switch (tp->c.state) {
    case TCPS_TIME_WAIT:
        tcp_done(tp);   /* 2 MSL are over (a TCB its user still held when it got here) */
        return;
    case TCPS_FIN_WAIT_2:
        if (tp->orphan) {
            tcp_done(tp);   /* the peer never sent its FIN */
            return;
        }
        break;
    case TCPS_ESTABLISHED:
    case TCPS_CLOSE_WAIT:
        if (tp->keepalive)
            keepalive_fire(tp);
        break;
    default:
        break;
    }
}

void tcp_timers_init(struct tcb *tp)
{
    timer_init(&tp->rtx_timer, rtx_timer_fn);
    timer_init(&tp->delack_timer, delack_timer_fn);
    timer_init(&tp->keep_timer, keep_timer_fn);
}

void tcp_timers_stop(struct tcb *tp)
{
    struct timer_wheel *w = &tp->stack->wheel;
    timer_cancel(w, &tp->rtx_timer);
    timer_cancel(w, &tp->delack_timer);
    timer_cancel(w, &tp->keep_timer);
    tp->rtx_mode = RTX_NONE;
}
