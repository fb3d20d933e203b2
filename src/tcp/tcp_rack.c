/*
 * RACK-TLP loss detection (RFC 8985) for connections with SACK, as Linux uses it by default.
 *
 * RACK ("recent acknowledgment") judges loss by time, not by counting: once a segment sent at
 * time T is known delivered (cumulatively ACKed or SACKed), any segment sent before T that is
 * still unacknowledged is lost when one RACK.rtt plus a reordering window has passed since it
 * was sent. Retransmissions are segments like any other, so a lost retransmission is found the
 * same way, without waiting for the RTO. The reordering window is zero until reordering has
 * been seen (then a quarter of the minimum RTT, widened when D-SACKs show that retransmissions
 * were spurious); segments not yet old enough arm the reordering timer.
 *
 * TLP ("tail loss probe") covers the losses at the end of a flight, which no later delivery
 * reveals: when nothing has been heard for about two RTTs, one segment goes (new data if any,
 * else the last one sent again), so that its ACK or SACK lets RACK and fast recovery repair the
 * tail instead of an RTO.
 *
 * Entry points: tcp_rack_delivered (from the SACK scoreboard and the cumulative ACK, for each
 * newly delivered segment), tcp_rack_ack_done (once per ACK), tcp_arm_xmit_timer and
 * tcp_xmit_timer_after_send (which timer watches the flight), and the two timer handlers.
 * The timer is the TCB's rtx_timer in mode RTX_REO or RTX_TLP (Linux's icsk_pending).
 * NewReno connections (no SACK) keep RFC 6582 and never come here past the first check.
 */
#include "net/stack.h"
#include "tcp/table.h"
#include "tcp/tcb.h"

#define DUPTHRESH 3
#define WCDELACKT_US 200000u     /* RFC 8985 7.2: worst-case delayed ACK timer */
#define PTO_SLACK_US 2000u       /* Linux's TCP_TIMEOUT_MIN added to 2 * SRTT */
#define PTO_NO_RTT_US 1000000u   /* RFC 8985 7.2: no RTT sample yet */
#define REO_PERSIST 16           /* RFC 8985 6.2 step 4: recoveries before the mult resets */

static void arm_pto(struct tcb *tp);

void tcp_rack_init(struct tcb *tp)
{
    tp->rack = (struct tcp_rack){ .fack = tp->snd_una, .end_seq = tp->snd_una,
                                  .reo_wnd_mult = 1 };
    tp->high_sacked = tp->snd_una;   /* nothing SACKed yet (read as RACK.fack's candidate) */
}

/* RFC 8985 6.1 RACK_sent_after: t1/seq1 was sent after t2/seq2. */
static bool sent_after(uint64_t t1, uint32_t seq1, uint64_t t2, uint32_t seq2)
{
    return t1 > t2 || (t1 == t2 && seq_gt(seq1, seq2));
}

void tcp_rack_delivered(struct tcb *tp, const struct tcp_seg_cb *cb)
{
    struct tcp_rack *r = &tp->rack;
    uint64_t now = tp->stack->now;
    bool retransmitted = cb->flags & SEG_EVER_RETRANS;
    /* Step 3: a segment delivered below the highest one delivered before this ACK, and never
     * retransmitted, arrived out of order. (Against the old RACK.fack: an ACK that SACKs high
     * and cumulatively acknowledges low at once shows no reordering.) */
    if (seq_lt(cb->end_seq, r->fack) && !retransmitted)
        r->reordering_seen = true;
    if (!cb->xmit_ns)
        return;
    uint64_t rtt_ns = now - cb->xmit_ns;
    /* Step 2: an ACK that may be for the original transmission of a retransmitted segment
     * says nothing about when the retransmission arrived (less than min_RTT since it went). */
    if (retransmitted && rtt_ns < (uint64_t)tp->min_rtt_us * NS_PER_US)
        return;
    if (sent_after(cb->xmit_ns, cb->end_seq, r->xmit_ns, r->end_seq) ||
        (cb->xmit_ns == r->xmit_ns && cb->end_seq == r->end_seq)) {
        r->xmit_ns = cb->xmit_ns;
        r->end_seq = cb->end_seq;
        r->rtt_us = (uint32_t)(rtt_ns / NS_PER_US);
    }
}

/* RFC 8985 6.2 step 4: the reordering window, in microseconds. */
static uint32_t reo_wnd_us(const struct tcb *tp)
{
    const struct tcp_rack *r = &tp->rack;
    if (!r->reordering_seen) {
        /* No reordering seen: in recovery, or with DupThresh segments SACKed (in bytes, as
         * RFC 6675 4 IsLost counts them), a hole is lost at once. */
        if (tp->in_recovery || tp->rto_recovery)
            return 0;
        if (tp->sacked_bytes > (DUPTHRESH - 1) * (uint32_t)tp->mss)
            return 0;
    }
    uint64_t w = (uint64_t)r->reo_wnd_mult * tp->min_rtt_us / 4;
    return w < tp->srtt_us ? (uint32_t)w : tp->srtt_us;
}

/* RFC 8985 6.2 step 4, first part: widen the window once per round trip that brings D-SACKs. */
static void update_reo_wnd_mult(struct tcb *tp, bool dsack)
{
    struct tcp_rack *r = &tp->rack;
    if (r->dsack_round_on && seq_geq(tp->snd_una, r->dsack_round))
        r->dsack_round_on = false;
    if (!r->dsack_round_on && dsack) {
        r->dsack_round_on = true;
        r->dsack_round = tp->snd_nxt;
        if (r->reo_wnd_mult < UINT8_MAX)
            r->reo_wnd_mult++;
        r->reo_wnd_persist = REO_PERSIST;
    }
}

void tcp_rack_recovery_exit(struct tcb *tp)
{
    struct tcp_rack *r = &tp->rack;
    if (r->reo_wnd_persist && --r->reo_wnd_persist == 0)
        r->reo_wnd_mult = 1;
}

/* RFC 8985 6.2 step 5: marks lost every segment sent before the most recently delivered one
 * whose RACK.rtt + reo_wnd has passed. Returns the time until the next one would be (0: none). */
static uint64_t detect_loss(struct tcb *tp)
{
    struct tcp_rack *r = &tp->rack;
    if (!r->xmit_ns)
        return 0;
    /* Only cumulative ACKs so far and nothing resent: every segment left was sent after the
     * last one delivered. (Keeps the walk off the common path.) */
    if (!tp->sacked_bytes && !tp->lost_bytes && !tp->in_recovery && !tp->rto_recovery)
        return 0;
    uint64_t now = tp->stack->now;
    uint64_t wait_ns = ((uint64_t)r->rtt_us + reo_wnd_us(tp)) * NS_PER_US;
    uint64_t timeout = 0;
    struct tcp_ctrs *c = tcp_counters(tp->stack);
    for (struct pkt *p = tp->snd_head; p && p != tp->send_head; p = p->next) {
        struct tcp_seg_cb *cb = seg_cb(p);
        if ((cb->flags & SEG_SACKED) || ((cb->flags & SEG_LOST) && !(cb->flags & SEG_RETRANS)))
            continue;   /* delivered, or already waiting to be resent */
        if (!sent_after(r->xmit_ns, r->end_seq, cb->xmit_ns, cb->end_seq))
            continue;
        /* The sequence tie-break assumes segments sent at one instant went in sequence
         * order; a retransmission went after every original sent at its instant. */
        if (cb->xmit_ns == r->xmit_ns && (cb->flags & SEG_EVER_RETRANS))
            continue;
        uint64_t deadline = cb->xmit_ns + wait_ns;
        if (deadline <= now) {
            if (tcp_seg_mark_lost(tp, p))
                c->rack_lost++;
        } else if (deadline - now > timeout) {
            timeout = deadline - now;
        }
    }
    return timeout;
}

/* Loss detection, recovery entry, and the reordering timer for what is not yet late. */
static void detect_and_recover(struct tcb *tp)
{
    uint64_t timeout = detect_loss(tp);
    /* RFC 8985 6.2 / RFC 6675 5: a segment deemed lost outside recovery starts one. */
    if (tp->lost_bytes && !tp->in_recovery && !tp->rto_recovery) {
        tcp_enter_recovery(tp);
        if (tp->rtx_mode == RTX_TLP && !tcp_tlp_in_recovery(tp))
            tcp_arm_rtx(tp);   /* no probes in recovery (7.2) */
    }
    if (timeout) {
        /* RFC 8985 6.3: the reordering timer. */
        tp->rtx_mode = RTX_REO;
        timer_arm(&tp->stack->wheel, &tp->rtx_timer, tp->stack->now + timeout);
    }
}

/* RFC 8985 7.4: was the tail loss probe repairing a loss? Linux's tcp_process_tlp_ack. */
static void tlp_ack(struct tcb *tp, uint32_t ack, bool advanced, bool dsack)
{
    struct tcp_rack *r = &tp->rack;
    if (!r->tlp_pending || seq_lt(ack, r->tlp_end_seq))
        return;
    if (!r->tlp_is_retrans || dsack) {
        r->tlp_pending = false;   /* new data, or the D-SACK says the original arrived */
        return;
    }
    if (seq_gt(ack, r->tlp_end_seq)) {
        /* 7.4.2: acknowledged beyond the probe and no D-SACK for it: the probe repaired a
         * loss, which congestion control must hear of (Linux: a CWR episode, ending at once). */
        r->tlp_pending = false;
        if (tp->in_recovery || tp->rto_recovery)
            return;
        tcp_counters(tp->stack)->tlp_losses++;
        struct cc_view v;
        struct cc_out o = { tp->cwnd, tp->ssthresh };
        tcp_cc_view(tp, &v);
        v.flight = tp->snd_nxt - tp->snd_una;
        if (tp->cc->on_loss)
            tp->cc->on_loss(tp->cc_priv, &v, CC_LOSS_FAST, &o);
        tcp_cc_apply(tp, &o);
        if (tp->cwnd > tp->ssthresh)
            tp->cwnd = tp->ssthresh;
        return;
    }
    if (!advanced)
        r->tlp_pending = false;   /* a duplicate ACK: both copies arrived, nothing was lost */
}

void tcp_rack_ack_done(struct tcb *tp, uint32_t ack, bool advanced, bool dsack)
{
    if (!tp->sack_ok)
        return;
    struct tcp_rack *r = &tp->rack;
    if (seq_gt(ack, r->fack))
        r->fack = ack;
    if (seq_gt(tp->high_sacked, r->fack) && seq_leq(tp->high_sacked, tp->snd_nxt))
        r->fack = tp->high_sacked;
    update_reo_wnd_mult(tp, dsack);
    tlp_ack(tp, ack, advanced, dsack);
    detect_and_recover(tp);
    /* In recovery, the PTO counts from the last ACK (tcp_tlp_in_recovery), unless the
     * reordering timer is already waiting for something to become late. */
    if (tcp_tlp_in_recovery(tp) && tp->rtx_mode != RTX_REO)
        arm_pto(tp);
}

/* ---- Which timer watches the flight ---- */

static bool data_state(const struct tcb *tp)
{
    uint8_t st = tp->c.state;
    return st == TCPS_ESTABLISHED || st == TCPS_CLOSE_WAIT || st == TCPS_FIN_WAIT_1 ||
           st == TCPS_CLOSING || st == TCPS_LAST_ACK;
}

/* RFC 8985 7.2: a probe may be scheduled with SACK, data in flight, outside recovery and
 * with nothing SACKed (Linux: the "Open" state), and no probe already outstanding. ustack also
 * probes in fast recovery (option tcp_tlp_recovery, a departure from 7.2 and Linux): there,
 * when the last ACKs of a small flight are lost, nothing else is coming back (RACK learns of a
 * lost retransmission only from a later delivery) and the RTO, 200 ms at least, would be all
 * that is left; one probe about two RTTs after the last ACK draws an answer instead (through
 * the 5%-loss interop bridge, about half of the RTOs that remained looked like this; the
 * measured gain is modest: tests/packet/golden and the commit that added it say how much). */
static bool tlp_may_probe(const struct tcb *tp)
{
    bool open = !tp->in_recovery && !tp->sacked_bytes;
    bool recovery = tp->in_recovery && tp->stack->cfg.tcp_tlp_recovery;
    return tp->sack_ok && tp->stack->cfg.tcp_tlp && data_state(tp) &&
           tp->snd_una != tp->snd_nxt && !tp->rto_recovery && !tp->rack.tlp_pending &&
           (open || recovery);
}

bool tcp_tlp_in_recovery(const struct tcb *tp)
{
    return tp->in_recovery && tlp_may_probe(tp);
}

/* RFC 8985 7.2 PTO: 2 * SRTT, plus the worst-case delayed ACK when one segment is in flight
 * (Linux adds 2 ms otherwise), never later than the RTO. */
static uint64_t pto_ns(const struct tcb *tp)
{
    uint64_t pto = PTO_NO_RTT_US;
    if (tp->srtt_us) {
        pto = 2ull * tp->srtt_us;
        pto += tp->snd_nxt - tp->snd_una <= tp->mss ? WCDELACKT_US : PTO_SLACK_US;
    }
    uint64_t rto = tcp_rto_us(tp);
    return (pto < rto ? pto : rto) * NS_PER_US;
}

static void arm_pto(struct tcb *tp)
{
    uint64_t deadline = tp->stack->now + pto_ns(tp);
    /* Never later than a pending RTO would fire (Linux's tcp_rto_delta_us bound). */
    if (tp->rtx_mode == RTX_RETRANSMIT && timer_is_armed(&tp->rtx_timer) &&
        tp->rtx_timer.deadline_ns < deadline)
        deadline = tp->rtx_timer.deadline_ns;
    tp->rtx_mode = RTX_TLP;
    timer_arm(&tp->stack->wheel, &tp->rtx_timer, deadline);
}

void tcp_arm_xmit_timer(struct tcb *tp)
{
    if (tlp_may_probe(tp)) {
        tp->rtx_mode = RTX_NONE;   /* the PTO replaces the RTO, not bounded by it */
        arm_pto(tp);
    } else {
        tcp_arm_rtx(tp);
    }
}

void tcp_xmit_timer_after_send(struct tcb *tp, bool new_data)
{
    if (tp->snd_nxt == tp->snd_una)
        return;
    if (new_data && tlp_may_probe(tp) &&
        (tp->rtx_mode == RTX_NONE || tp->rtx_mode == RTX_TLP || tp->rtx_mode == RTX_RETRANSMIT))
        arm_pto(tp);   /* 7.2: re-armed whenever new data is sent */
    else if (tp->rtx_mode == RTX_NONE || tp->rtx_mode == RTX_PERSIST)
        tcp_arm_rtx(tp);
}

/* ---- Timer handlers (the rtx_timer's mode was cleared by the caller) ---- */

void tcp_rack_reo_timeout(struct tcb *tp)
{
    tcp_counters(tp->stack)->rack_reo_timeouts++;
    detect_and_recover(tp);
    tcp_output(tp);
    if (tp->rtx_mode == RTX_NONE && tp->snd_una != tp->snd_nxt)
        tcp_arm_rtx(tp);
}

/* RFC 8985 7.3 (and Linux) make the probe new data whenever there is some. ustack does so only
 * when at most one segment is out (option tcp_tlp_resend, on by default; off: the RFC's rule).
 * With a flight of several segments and no SACK, the likely cause of the silence is that the
 * peer's ACK for all of them was lost (a receiver acknowledges a burst with one or two ACKs),
 * and a lone new segment then sits in its delayed-ACK timer (40 ms at Linux) before anything
 * comes back, while a copy of a segment it already has is not acceptable and is answered at
 * once (RFC 9293 3.10.7.4; Linux also enters quickack mode and reports it as a D-SACK, so no
 * loss is counted: 7.4). If instead the tail was lost, the copy repairs it. With one segment
 * out, new data is better: a receiver holding a delayed ACK for that segment releases it when a
 * second arrives (RFC 5681 4.2). Measured through the interop bridge at 5% loss both ways
 * (ustack sending 16 MiB to the kernel): 11-14 s with new-data probes, 5-8 s with this rule. */
static bool tlp_sends_new_data(const struct tcb *tp)
{
    if (!tp->send_head)
        return false;
    return !tp->stack->cfg.tcp_tlp_resend || tp->snd_nxt - tp->snd_una <= tp->mss;
}

/* The segment a probe sends again: the last one sent that the peer has not SACKed (in
 * recovery, a lost retransmission is repaired by it), else the last one sent, or NULL. */
static struct pkt *last_sent(struct tcb *tp)
{
    struct pkt *last = NULL, *unsacked = NULL;
    for (struct pkt *p = tp->snd_head; p && p != tp->send_head; p = p->next) {
        last = p;
        if (!(seg_cb(p)->flags & SEG_SACKED))
            unsacked = p;
    }
    return unsacked ? unsacked : last;
}

void tcp_tlp_timeout(struct tcb *tp)
{
    struct tcp_rack *r = &tp->rack;
    if (!tlp_may_probe(tp)) {
        tcp_arm_rtx(tp);   /* a probe is already out, or recovery began: the RTO watches */
        return;
    }
    /* RFC 8985 7.3: new data if the receive window allows it (one segment, whatever cwnd
     * says), else the last segment sent again; but see tlp_sends_new_data. */
    uint32_t nxt = tp->snd_nxt;
    r->tlp_pending = true;   /* no further PTO from the output path */
    if (tlp_sends_new_data(tp)) {
        uint32_t cwnd = tp->cwnd;
        bool nodelay = tp->nodelay;
        tp->cwnd = tcp_flight(tp) + tp->mss;
        tp->nodelay = true;
        tcp_output(tp);
        tp->cwnd = cwnd;
        tp->nodelay = nodelay;
    }
    if (tp->snd_nxt != nxt) {
        r->tlp_is_retrans = false;
    } else {
        struct pkt *p = last_sent(tp);
        if (!p || tcp_retransmit_seg(tp, p) != 0) {
            r->tlp_pending = false;
            tcp_arm_rtx(tp);
            return;
        }
        r->tlp_is_retrans = true;
    }
    r->tlp_end_seq = tp->snd_nxt;
    tcp_counters(tp->stack)->tlp_probes++;
    tcp_arm_rtx(tp);   /* 7.3: after the probe, the RTO */
}

/* ---- Undoing spurious recoveries ---- */

/* Linux's undo: a recovery (fast or after an RTO) whose retransmissions all prove unneeded
 * reduced cwnd for nothing, typically because of reordering or a delay spike; the window from
 * before it comes back. Evidence: the timestamp echoed by an ACK of new data is older than our
 * first retransmission, so the original segment arrived (Eifel, RFC 3522 2), or a D-SACK for
 * every retransmission (RFC 2883, RFC 3708 3). */

void tcp_undo_begin(struct tcb *tp)
{
    /* An RTO during a fast recovery keeps the earlier episode's window to go back to. */
    if (tp->undo.on && (tp->in_recovery || tp->rto_recovery))
        return;
    tp->undo = (struct tcp_undo){ .on = true, .marker = tp->snd_una, .prior_cwnd = tp->cwnd,
                                  .prior_ssthresh = tp->ssthresh };
}

void tcp_undo_note_retransmit(struct tcb *tp)
{
    struct tcp_undo *u = &tp->undo;
    if (!u->on)
        return;
    if (!u->resent)
        u->retrans_ts = tp->ts_ok ? tcp_ts_now(tp) : 0;
    u->resent = true;
    if (u->retrans < UINT16_MAX)
        u->retrans++;
}

void tcp_undo_note_dsack(struct tcb *tp, uint32_t start, uint32_t end)
{
    struct tcp_undo *u = &tp->undo;
    (void)end;
    if (u->on && u->retrans && seq_geq(start, u->marker))
        u->retrans--;
}

static void undo_recovery(struct tcb *tp)
{
    struct tcp_undo *u = &tp->undo;
    if (tp->cwnd < u->prior_cwnd)
        tp->cwnd = u->prior_cwnd;
    if (tp->ssthresh < u->prior_ssthresh)
        tp->ssthresh = u->prior_ssthresh;
    u->on = false;
    tp->rack.reordering_seen = true;   /* what made the recovery spurious */
    /* Back to normal sending, as Linux's undo returns to the Open state: what was deemed lost
     * is in flight after all (RACK judges it again, now with a reordering window), and no
     * recovery exit deflates the restored window. */
    for (struct pkt *p = tp->snd_head; p && p != tp->send_head; p = p->next)
        seg_cb(p)->flags &= (uint8_t)~(SEG_LOST | SEG_RETRANS);
    tp->lost_bytes = 0;
    tp->retrans_bytes = 0;
    if (tp->in_recovery || tp->rto_recovery)
        tcp_rack_recovery_exit(tp);
    tp->in_recovery = false;
    tp->rto_recovery = false;
    tp->reno_dupacks = 0;
}

void tcp_undo_check(struct tcb *tp, const struct tcp_repr *th, bool advanced)
{
    struct tcp_undo *u = &tp->undo;
    if (!u->on || !u->resent)
        return;
    bool eifel = advanced && u->retrans_ts && (th->opt.present & TCP_HAS_TIMESTAMP) &&
                 th->opt.ts_ecr && seq_lt(th->opt.ts_ecr, u->retrans_ts);
    bool dsacked = tp->sack_ok && u->retrans == 0;
    if (!eifel && !dsacked)
        return;
    tcp_counters(tp->stack)->undo_eifel += eifel;
    tcp_counters(tp->stack)->undo_dsack += !eifel;
    undo_recovery(tp);
}
