/*
 * TCP input: RFC 9293 3.10.7 "SEGMENT ARRIVES", one function per step, with the protections of
 * RFC 5961 (blind RST, SYN and data injection), PAWS (RFC 7323 5), SACK (RFC 2018, 6675) and
 * delayed ACKs (RFC 1122 4.2.3.2, RFC 5681 4.2).
 *
 * Entry point: tcp_input() (consumes the segment): validate, find the connection, and hand it to
 * the listener (tcp_listen.c), the TIME_WAIT entry (tcp_timewait.c), the SYN_SENT step, or the
 * steps for synchronized states below. Every path ends in tcp_output(), which sends whatever the
 * segment made possible, ACKs included.
 */
#include <errno.h>
#include <string.h>

#include "base/hash.h"
#include "base/log.h"
#include "net/stack.h"
#include "tcp/table.h"
#include "tcp/tcb.h"
#include "wire/checksum.h"

#define PAWS_24DAYS_NS (24ull * 24 * 3600 * NS_PER_SEC)
#define TCP_MIN_SND_MSS 48       /* Linux's floor for a peer's MSS option (min_snd_mss) */
#define QUICKACK_SEGMENTS 16     /* ACK every segment at first, as Linux's quickack mode */
#define RTO_FALLBACK_US 3000000u /* RFC 6298 5.7 (Linux's TCP_TIMEOUT_FALLBACK) */

struct segment {
    const struct ipv4_repr *ip;
    const struct tcp_repr *th;
    struct pkt *p;               /* payload (p->data, p->len); NULL once consumed */
    uint32_t len;                /* payload + SYN + FIN: the sequence space it occupies */
};

/* ---- Small helpers ---- */

void tcp_ack_sent(struct tcb *tp)
{
    tp->unacked_segs = 0;
    tp->ack_pending = false;
    tp->ack_now = false;
    tp->dsack_pending = false;
    if (tp->quickacks)
        tp->quickacks--;
    /* The timer is left armed (as Linux leaves its delack timer): when it fires with nothing
     * pending it does nothing, and a delayed ACK due later moves it on (tcp_timer.c). Saves
     * taking it off the wheel and putting it back for every other segment. */
    tp->delack_due_ns = 0;
}

/* The challenge ACKs one second may send: a secret random number between half the limit and
 * the limit. A fixed stack-wide budget is a side channel (CVE-2016-5696, "Off-Path TCP
 * Exploits", Cao et al. 2016): an off-path attacker spends it with guessed RSTs, counts the
 * challenge ACKs left on a connection of its own, and learns whether a guess hit a live
 * connection. Linux randomises the budget the same way (limit/2 + random(limit), 4.7); we keep
 * it at most the limit, so the option stays a ceiling. */
static uint32_t challenge_budget(const struct ust_stack *s)
{
    uint32_t limit = s->cfg.tcp_challenge_ack_limit;
    uint64_t r = siphash24(&s->secret, &s->now, sizeof(s->now));
    return limit - (uint32_t)(r % (limit / 2 + 1));
}

/* RFC 5961 7: challenge ACKs are rate limited (a stack-wide budget per second, as Linux). */
bool tcp_challenge_ack(struct tcb *tp)
{
    struct ust_stack *s = tp->stack;
    struct tcp_table *t = s->tcp;
    if (s->now - t->challenge_start_ns >= NS_PER_SEC) {
        t->challenge_start_ns = s->now;
        t->challenge_count = challenge_budget(s);
    }
    if (t->challenge_count == 0) {
        t->ctrs.challenge_limited++;
        return false;
    }
    t->challenge_count--;
    t->ctrs.challenge_acks++;
    tcp_send_ack(tp);
    return true;
}

uint8_t tcp_choose_wscale(const struct ust_stack *s)
{
    /* Room for the largest buffer a socket may ask for, and at least Linux's 7 (its 6 MB
     * default maximum), so captures look familiar. RFC 7323 2.3: at most 14. */
    uint32_t want = s->cfg.tcp_rmem > s->cfg.rmem_max ? s->cfg.tcp_rmem : s->cfg.rmem_max;
    uint8_t ws = 0;
    while (ws < 14 && (65535u << ws) < want)
        ws++;
    return ws < 7 ? 7 : ws;
}

/* Options from the peer's SYN (RFC 9293 3.7.1, RFC 7323, RFC 2018): an option is used only if
 * both sides offered it. */
void tcp_apply_syn_options(struct tcb *tp, const struct tcp_options *o)
{
    const struct ust_config *c = &tp->stack->cfg;
    tp->peer_mss = (o->present & TCP_HAS_MSS) ? o->mss : 536;   /* RFC 9293 3.7.1 default */
    if (tp->peer_mss < TCP_MIN_SND_MSS)
        tp->peer_mss = TCP_MIN_SND_MSS;
    tp->wscale_ok = c->tcp_window_scaling && (o->present & TCP_HAS_WSCALE);
    if (tp->wscale_ok) {
        if (o->wscale > 14)
            ust_debug("tcp: window scale %u clamped to 14 (RFC 7323 2.3)", o->wscale);
        tp->snd_wscale = o->wscale > 14 ? 14 : o->wscale;
    } else {
        tp->snd_wscale = 0;
        tp->rcv_wscale = 0;
    }
    tp->sack_ok = c->tcp_sack && (o->present & TCP_HAS_SACK_PERM);
    tp->ts_ok = c->tcp_timestamps && (o->present & TCP_HAS_TIMESTAMP);
    if (tp->ts_ok) {
        tp->ts_recent = o->ts_val;
        tp->ts_recent_ns = tp->stack->now;
    }
}

/* The send MSS once options are known, and the initial congestion window (RFC 6928). */
void tcp_init_windows(struct tcb *tp)
{
    uint32_t mss = tp->peer_mss;
    uint32_t route_mss = ipv4_max_unfragmented(&tp->rt) - TCP_HDR_LEN;
    if (route_mss < mss)
        mss = route_mss;
    if (tp->user_mss && tp->user_mss < mss)
        mss = tp->user_mss;
    /* A peer announcing MSS 1..47 would have us send segments of a few bytes (a CPU and
     * memory attack: CVE-2019-11479). Linux floors the MSS at tcp_min_snd_mss (48) before it
     * takes the options off (__tcp_mtu_to_mss, then tcp_mtu_to_mss): so do we. */
    if (mss < TCP_MIN_SND_MSS)
        mss = TCP_MIN_SND_MSS;
    if (tp->ts_ok)
        mss -= 12;   /* RFC 6691: options come out of the MSS; NOP NOP TS on every segment */
    tp->mss = (uint16_t)mss;
    struct cc_view v;
    tcp_cc_view(tp, &v);
    struct cc_out o = { .cwnd = 10u * tp->mss, .ssthresh = UINT32_MAX / 2 };
    memset(tp->cc_priv, 0, sizeof(tp->cc_priv));
    if (tp->cc->init)
        tp->cc->init(tp->cc_priv, &v, &o);
    tcp_cc_apply(tp, &o);
}

void tcp_established(struct tcb *tp)
{
    tcp_set_state(tp, TCPS_ESTABLISHED);
    tp->quickacks = QUICKACK_SEGMENTS;
    tp->snd_sml = tp->snd_una;   /* no small segment in flight yet (Nagle) */
    tp->recover = tp->iss;       /* RFC 6582 3.2: "recover" starts at the ISS */
    tcp_rack_init(tp);
    if (!tp->srtt_us && tp->rto_us < RTO_FALLBACK_US)
        tp->rto_us = RTO_FALLBACK_US;   /* RFC 6298 5.7: no RTT sample from the handshake */
    if (tp->retries > 1)
        tp->cwnd = tp->mss;   /* RFC 5681 3.1: SYN lost; as Linux, after 2+ retransmissions */
    tp->retries = 0;
    tp->backoff = 0;
    timer_cancel(&tp->stack->wheel, &tp->rtx_timer);
    tp->rtx_mode = RTX_NONE;
    tcp_arm_keepalive(tp);
}

/* ---- Receiving data ---- */

void tcp_rcv_append(struct tcb *tp, struct pkt *p)
{
    struct pkt *tail = tp->rcv_tail;
    tp->rcv_queued += p->len;
    tp->bytes_received += p->len;
    /* Coalesce a small segment into the previous buffer's free tail (the way Linux keeps
     * memory per byte bounded against a peer sending tiny segments). */
    if (tail && !pkt_is_shared(tail) && p->len <= pkt_tailroom(tail) && p->len < 512) {
        memcpy(pkt_put(tail, p->len), p->data, p->len);
        pkt_free(p);
        return;
    }
    p->next = NULL;
    if (tail)
        tail->next = p;
    else
        tp->rcv_head = p;
    tp->rcv_tail = p;
    tp->rcv_mem += pkt_buf_size(p);
}

/* RFC 7323 5.3: drop a segment whose timestamp is older than TS.Recent (PAWS), unless the
 * connection was idle for more than 24 days. RSTs are exempt (RFC 7323 5.2). */
static bool paws_rejects(struct tcb *tp, const struct tcp_repr *th)
{
    if (!tp->ts_ok || !(th->opt.present & TCP_HAS_TIMESTAMP) || (th->flags & TCP_RST))
        return false;
    if (!seq_lt(th->opt.ts_val, tp->ts_recent))
        return false;
    return tp->stack->now - tp->ts_recent_ns < PAWS_24DAYS_NS;
}

/* RFC 7323 4.3 (as Linux applies it): remember the newest timestamp of a segment that does not
 * start beyond what we last acknowledged. */
static void update_ts_recent(struct tcb *tp, const struct tcp_repr *th)
{
    /* RFC 7323 5.5: after 24 days idle TS.Recent is invalid: the segment PAWS let through
     * replaces it even if older (Linux's tcp_paws_check in tcp_replace_ts_recent). */
    bool expired = tp->stack->now - tp->ts_recent_ns >= PAWS_24DAYS_NS;
    if (tp->ts_ok && (th->opt.present & TCP_HAS_TIMESTAMP) &&
        seq_leq(th->seq, tp->last_ack_sent) &&
        (seq_geq(th->opt.ts_val, tp->ts_recent) || expired)) {
        tp->ts_recent = th->opt.ts_val;
        tp->ts_recent_ns = tp->stack->now;
    }
}

/* RFC 9293 3.10.7.4 first check, in Linux's form: acceptable if it ends at or after what we last
 * acknowledged and starts within the window we advertised. This accepts zero-window probes and
 * old duplicates (which the data step turns into a D-SACK). */
static bool seq_acceptable(const struct tcb *tp, const struct segment *sg)
{
    uint32_t wnd = tp->rcv_adv - tp->rcv_nxt;
    if (seq_lt(tp->rcv_adv, tp->rcv_nxt))
        wnd = 0;
    return seq_geq(sg->th->seq + sg->len, tp->last_ack_sent) &&
           seq_leq(sg->th->seq, tp->rcv_nxt + wnd);
}

static void schedule_ack(struct tcb *tp, uint32_t seg_bytes)
{
    /* "Full-sized" is judged against the largest segment the peer has sent (Linux's rcv_mss
     * estimate), since its MSS may be smaller than the one we announced. */
    if (seg_bytes > tp->rcv_mss)
        tp->rcv_mss = (uint16_t)(seg_bytes < tp->adv_mss ? seg_bytes : tp->adv_mss);
    if (seg_bytes && seg_bytes >= tp->rcv_mss)
        tp->unacked_segs++;   /* small segments wait for the timer or a full-sized one */
    tp->ack_pending = true;
    /* RFC 5681 4.2: an ACK for at least every second full-sized segment; Linux's quickack mode
     * acknowledges every segment while the connection starts. */
    if (tp->unacked_segs >= 2 || tp->quickacks || tp->quickack_opt)
        tp->ack_now = true;
    else
        tcp_arm_delack(tp);
}

/* The peer's FIN, reached in sequence (RFC 9293 3.10.7.4 eighth step). */
static void fin_arrives(struct tcb *tp)
{
    tp->rcv_nxt++;
    tcp_sack_update_recent(tp);   /* a block ending at the FIN is now cumulatively ACKed */
    tp->fin_received = true;
    tp->ack_now = true;
    switch (tp->c.state) {
    case TCPS_SYN_RECEIVED:
    case TCPS_ESTABLISHED:
        tcp_set_state(tp, TCPS_CLOSE_WAIT);
        break;
    case TCPS_FIN_WAIT_1:
        /* Our FIN not yet acknowledged (else we would be in FIN_WAIT_2): simultaneous close. */
        tcp_set_state(tp, TCPS_CLOSING);
        break;
    case TCPS_FIN_WAIT_2:
        tcp_send_ack(tp);
        tcp_time_wait(tp);
        return;
    default:
        break;
    }
    tcp_notify(tp);
}

/* Socket memory at mem_max (net/sockmem.h): in-order data is dropped, not acknowledged, so the
 * peer sends it again later, unless the receive queue is empty (one segment always fits, so the
 * reader can make progress), as Linux's tcp_data_queue (tcp_try_rmem_schedule failing: an
 * immediate ACK, LINUX_MIB_TCPRCVQDROP, the segment dropped). True if p was consumed. */
static bool rcv_mem_refuses(struct tcb *tp, struct pkt *p)
{
    if (!tp->rcv_head || (tp->shutdown & TCP_SHUT_RD) || tcp_mem_may_grow(tp, pkt_buf_size(p)))
        return false;
    tcp_counters(tp->stack)->rcvq_drops++;
    tp->stack->mem.ctrs.tcp_rcv_drops++;
    tp->ack_now = true;
    pkt_free(p);
    tcp_notify(tp);   /* prod the reader, as Linux's sk_data_ready does here */
    return true;
}

/* Data beyond RCV.NXT waits on the reassembly queue (RFC 5681 4.2: it draws an immediate
 * duplicate ACK, with SACK). Consumes p. */
static void data_out_of_order(struct tcb *tp, struct pkt *p)
{
    tp->ack_now = true;
    if (!tcp_mem_may_grow(tp, pkt_buf_size(p))) {
        /* Socket memory at mem_max: as Linux's tcp_data_queue_ofo, drop it. */
        tp->stack->mem.ctrs.tcp_ofo_drops++;
        pkt_free(p);
        return;
    }
    tcp_ooo_insert(tp, p);
    tcp_mem_sync(tp);
}

/* Cuts what we already have from the front (reported as a D-SACK, RFC 2883) and what lies
 * beyond the window we offered from the end: not ours to keep (RFC 9293 3.10.7.4). */
static void trim_to_window(struct tcb *tp, struct pkt *p, struct tcp_seg_cb *cb)
{
    if (seq_lt(cb->seq, tp->rcv_nxt)) {
        uint32_t dup = tp->rcv_nxt - cb->seq;
        if (tp->sack_ok) {
            tp->dsack = (struct tcp_sack_block){ cb->seq, tp->rcv_nxt };
            tp->dsack_pending = true;
        }
        pkt_pull(p, dup);
        cb->seq = tp->rcv_nxt;
    }
    if (seq_gt(cb->seq + p->len, tp->rcv_adv)) {
        uint32_t keep = seq_gt(tp->rcv_adv, cb->seq) ? tp->rcv_adv - cb->seq : 0;
        pkt_trim(p, keep);
        cb->tcp_flags = 0;
        tp->ack_now = true;
    }
}

/* Data and FIN in a synchronized state (seventh and eighth steps). Consumes sg->p. */
static void data_arrives(struct tcb *tp, struct segment *sg)
{
    const struct tcp_repr *th = sg->th;
    struct pkt *p = sg->p;
    sg->p = NULL;
    uint8_t st = tp->c.state;
    if (st != TCPS_ESTABLISHED && st != TCPS_FIN_WAIT_1 && st != TCPS_FIN_WAIT_2) {
        /* The peer has sent its FIN already: ignore the text (RFC 9293), but acknowledge a
         * repeated FIN, whose ACK was evidently lost. */
        tp->ack_now = true;
        pkt_free(p);
        return;
    }
    if (tp->orphan && p->len) {
        /* Data for a connection the user has closed: Linux resets (RFC 2525 2.17). */
        pkt_free(p);
        tcp_send_rst_for(tp);
        tcp_abort(tp, ECONNRESET);
        return;
    }
    struct tcp_seg_cb *cb = seg_cb(p);
    cb->seq = th->seq;
    cb->end_seq = th->seq + p->len + ((th->flags & TCP_FIN) ? 1 : 0);
    cb->tcp_flags = (uint8_t)(th->flags & TCP_FIN);
    if (seq_leq(cb->end_seq, tp->rcv_nxt)) {
        /* Entirely a duplicate: report it (RFC 2883) and acknowledge at once. */
        if (p->len && tp->sack_ok) {
            tp->dsack = (struct tcp_sack_block){ cb->seq, cb->seq + p->len };
            tp->dsack_pending = true;
        }
        tp->ack_now = true;
        pkt_free(p);
        return;
    }
    if (seq_gt(cb->seq, tp->rcv_nxt)) {
        data_out_of_order(tp, p);
        return;
    }
    trim_to_window(tp, p, cb);
    if (p->len && rcv_mem_refuses(tp, p))
        return;
    if (tp->ooo_head)
        tcp_ooo_overlay(tp, p, cb->seq);   /* held bytes win over this copy (tcp_reass.c) */
    bool fin = cb->tcp_flags & TCP_FIN;
    uint32_t bytes = p->len;
    tp->rcv_nxt += bytes;
    if (bytes && !(tp->shutdown & TCP_SHUT_RD))
        tcp_rcv_append(tp, p);
    else
        pkt_free(p);
    if (tp->ooo_head) {
        tp->ack_now = true;   /* RFC 5681 4.2: a segment that fills a hole is ACKed at once */
        fin |= tcp_ooo_drain(tp);
    }
    tcp_mem_sync(tp);
    tcp_sack_update_recent(tp);
    schedule_ack(tp, bytes);
    if (bytes)
        tcp_notify(tp);
    if (fin)
        fin_arrives(tp);
}

/* ---- The ACK step (RFC 9293 3.10.7.4 fifth check) ---- */

/* Takes an RTT sample from an ACK of new data; returns it (0 when there is none). */
static uint32_t rtt_from_ack(struct tcb *tp, const struct tcp_repr *th, uint64_t sent_ns,
                             bool clean)
{
    struct ust_stack *s = tp->stack;
    uint32_t rtt = 0;
    if (clean && sent_ns) {
        rtt = (uint32_t)((s->now - sent_ns) / 1000);
    } else if (tp->ts_ok && (th->opt.present & TCP_HAS_TIMESTAMP) && th->opt.ts_ecr) {
        /* RFC 7323 4.1: the echo is unambiguous even for a retransmission. */
        uint32_t ms = tcp_ts_now(tp) - th->opt.ts_ecr;
        if (ms < 60000)
            rtt = ms ? ms * 1000 : 500;
    }
    if (rtt)
        tcp_rtt_sample(tp, rtt);
    return rtt;
}

/* Drops what `ack` covers from the send queue. Returns the newest clean transmission time. */
static uint64_t clean_send_queue(struct tcb *tp, uint32_t ack, bool *clean)
{
    uint64_t sent_ns = 0;
    *clean = false;
    struct pkt *p;
    while ((p = tp->snd_head) && seq_leq(seg_cb(p)->end_seq, ack)) {
        struct tcp_seg_cb *cb = seg_cb(p);
        uint32_t span = cb->end_seq - cb->seq;
        if (cb->flags & SEG_SACKED)
            tp->sacked_bytes -= span;
        else if (cb->flags & SEG_LOST)
            tp->lost_bytes -= span;
        if ((cb->flags & SEG_RETRANS) && !(cb->flags & SEG_SACKED))
            tp->retrans_bytes -= span;
        if (!(cb->flags & SEG_SACKED))
            tcp_rack_delivered(tp, cb);   /* RFC 8985 6.2 steps 2 and 3 */
        *clean = !(cb->flags & SEG_EVER_RETRANS);
        sent_ns = cb->xmit_ns;
        tp->snd_queued -= cb->len;
        tp->snd_mem -= pkt_buf_size(p);
        tp->snd_head = p->next;
        if (tp->send_head == p)
            tp->send_head = p->next;
        pkt_free(p);
    }
    if (!tp->snd_head)
        tp->snd_tail = NULL;
    tcp_mem_sync(tp);
    return sent_ns;
}

static void exit_recovery(struct tcb *tp)
{
    struct cc_view v;
    struct cc_out o = { tp->cwnd, tp->ssthresh };
    tcp_cc_view(tp, &v);
    if (tp->cc->on_recovery_exit)
        tp->cc->on_recovery_exit(tp->cc_priv, &v, &o);
    tcp_cc_apply(tp, &o);
    tp->in_recovery = false;
    tp->reno_dupacks = 0;
    tcp_rack_recovery_exit(tp);
}

/* Marks the first unacknowledged segment lost (NewReno, and the head on recovery entry). */
static void mark_head_lost(struct tcb *tp)
{
    struct pkt *p = tp->snd_head;
    if (!p || p == tp->send_head)
        return;
    struct tcp_seg_cb *cb = seg_cb(p);
    if (cb->flags & (SEG_SACKED | SEG_LOST))
        return;
    cb->flags |= SEG_LOST;
    tp->lost_bytes += cb->end_seq - cb->seq;
}

/* RFC 6675 5 (4.3), RFC 5681 3.2 step 4, RFC 6582 3.2 step 5: the first segment deemed lost
 * is resent now, whatever the pipe says (Linux's PRR also lets at least one go). Left to
 * tcp_output, a large flight would hold it back until enough further duplicates arrived. */
static void resend_first_lost(struct tcb *tp)
{
    struct pkt *p = tcp_sack_next_seg(tp);
    if (p)
        tcp_retransmit_seg(tp, p);
}

void tcp_enter_recovery(struct tcb *tp)
{
    struct tcp_ctrs *c = tcp_counters(tp->stack);
    struct cc_view v;
    struct cc_out o = { tp->cwnd, tp->ssthresh };
    tcp_undo_begin(tp);
    /* RFC 6937 3: RecoverFS; Linux takes the window before the reduction (prior_cwnd). */
    tp->prr = (struct tcp_prr){ .recover_fs = tp->cwnd };
    tcp_cc_view(tp, &v);
    v.flight = tp->snd_nxt - tp->snd_una;   /* RFC 5681 eqn 4 FlightSize, not the pipe */
    if (tp->cc->on_loss)
        tp->cc->on_loss(tp->cc_priv, &v, CC_LOSS_FAST, &o);
    tcp_cc_apply(tp, &o);
    /* Until the first ACK sets it by PRR (tcp_prr_ack), e.g. entered from the RACK timer. */
    tp->cwnd = tp->ssthresh;
    tp->in_recovery = true;
    tp->recover = tp->snd_nxt;
    c->fast_retrans++;
    if (tp->sack_ok) {
        c->sack_recoveries++;   /* entered because RACK found a segment lost (tcp_rack.c) */
    } else {
        c->reno_recoveries++;
        tp->reno_dupacks = tp->dupacks;
        mark_head_lost(tp);   /* RFC 6582 3.2 step 2: the first unacknowledged segment */
    }
    resend_first_lost(tp);   /* RFC 6675 5 step 3: the first lost segment goes now */
}

/* RFC 6937 3 (in bytes, with Linux's refinements of tcp_cwnd_reduction): on each ACK in fast
 * recovery that reports data delivered, cwnd = pipe + sndcnt. While the pipe is above ssthresh,
 * sndcnt keeps what was sent since recovery began at ssthresh / RecoverFS of what was delivered
 * (proportional reduction); below it, slow start toward ssthresh (the SSRB bound: at most what
 * was delivered, plus one segment when the ACK advanced SND.UNA and found no new loss). The
 * first ACK always lets the fast retransmission go. Without it (RFC 6675's pipe < cwnd with cwnd
 * = ssthresh), the sender falls silent for half a window after a loss, so a retransmission is
 * often the last thing sent and, if lost too, is only repaired by the RTO. */
static void prr_ack(struct tcb *tp, uint32_t delivered, bool clean_advance)
{
    struct tcp_prr *r = &tp->prr;
    if (!delivered || !r->recover_fs)
        return;
    r->delivered += delivered;
    uint32_t pipe = tcp_flight(tp);
    uint64_t sndcnt;
    if (pipe > tp->ssthresh) {
        uint64_t target = ((uint64_t)r->delivered * tp->ssthresh + r->recover_fs - 1) /
                          r->recover_fs;   /* CEIL(prr_delivered * ssthresh / RecoverFS) */
        sndcnt = target > r->out ? target - r->out : 0;
    } else {
        uint64_t limit = r->delivered > r->out ? r->delivered - r->out : 0;
        if (limit < delivered)
            limit = delivered;
        if (clean_advance)
            limit += tp->mss;
        sndcnt = limit < tp->ssthresh - pipe ? limit : tp->ssthresh - pipe;
    }
    /* Segments, not bytes, leave: a part of one lets the whole one go (Linux counts packets). */
    if (sndcnt % tp->mss)
        sndcnt += tp->mss - sndcnt % tp->mss;
    if (!r->out && sndcnt < tp->mss)
        sndcnt = tp->mss;   /* the fast retransmission goes at once */
    tp->cwnd = pipe + (uint32_t)sndcnt;
}

/* New data acknowledged (RFC 9293 SND.UNA < SEG.ACK =< SND.NXT). */
static void new_ack(struct tcb *tp, const struct tcp_repr *th)
{
    uint32_t acked = th->ack - tp->snd_una;
    bool clean;
    uint64_t sent_ns = clean_send_queue(tp, th->ack, &clean);
    tp->snd_una = th->ack;
    tp->bytes_acked += acked;
    uint32_t rtt = rtt_from_ack(tp, th, sent_ns, clean);
    if (rtt)
        tp->backoff = 0;   /* RFC 6298 5 (Karn): only a valid sample collapses the RTO, as Linux */
    tp->retries = 0;
    tp->probes = 0;
    if (tp->in_recovery) {
        if (seq_geq(th->ack, tp->recover)) {
            exit_recovery(tp);
        } else if (!tp->sack_ok) {
            /* RFC 6582 3.2 step 5: a partial ACK; the next hole is lost too. */
            uint32_t segs = acked / tp->mss;
            tp->reno_dupacks = tp->reno_dupacks > segs ? (uint16_t)(tp->reno_dupacks - segs) : 0;
            mark_head_lost(tp);
            resend_first_lost(tp);
        }
    } else {
        if (tp->rto_recovery && seq_geq(th->ack, tp->recover)) {
            tp->rto_recovery = false;
            tcp_rack_recovery_exit(tp);
        }
        struct cc_view v;
        struct cc_out o = { tp->cwnd, tp->ssthresh };
        tcp_cc_view(tp, &v);
        if (tp->cc->on_ack)
            tp->cc->on_ack(tp->cc_priv, &v, acked, rtt, &o);
        tcp_cc_apply(tp, &o);
    }
    tp->dupacks = 0;
    /* RFC 6298 5.2 / 5.3: stop the timer when everything is acknowledged, else restart it. */
    if (tp->snd_una == tp->snd_nxt) {
        timer_cancel(&tp->stack->wheel, &tp->rtx_timer);
        tp->rtx_mode = RTX_NONE;
    } else {
        tcp_arm_xmit_timer(tp);   /* the RTO, or the PTO of a tail loss probe (RFC 8985 7.2) */
    }
    tcp_notify(tp);   /* room in the send buffer */
}

/* RFC 5681 2 "duplicate acknowledgment", and what three of them (or SACK) mean. */
static void dupack(struct tcb *tp)
{
    tp->dupacks++;
    if (tp->in_recovery) {
        if (!tp->sack_ok)
            tp->reno_dupacks++;   /* another segment has left the network */
        return;
    }
    if (tp->rto_recovery || tp->sack_ok)
        return;   /* with SACK, RACK decides what is lost (tcp_rack_ack_done) */
    /* RFC 6582 3.2 step 1: not again for losses from the window we already recovered. */
    if (tp->dupacks >= 3 && (seq_gt(tp->snd_una, tp->recover) || tp->recover == tp->iss))
        tcp_enter_recovery(tp);
}

/* The window update rule (RFC 9293 3.10.7.4): only from a segment newer than the last update. */
static bool update_window(struct tcb *tp, const struct tcp_repr *th)
{
    if (!(seq_lt(tp->snd_wl1, th->seq) ||
          (tp->snd_wl1 == th->seq && seq_leq(tp->snd_wl2, th->ack))))
        return false;
    uint32_t wnd = (uint32_t)th->window << tp->snd_wscale;
    bool changed = wnd != tp->snd_wnd;
    tp->snd_wnd = wnd;
    tp->snd_wl1 = th->seq;
    tp->snd_wl2 = th->ack;
    if (wnd > tp->max_snd_wnd)
        tp->max_snd_wnd = wnd;
    if (wnd && tp->rtx_mode == RTX_PERSIST) {
        timer_cancel(&tp->stack->wheel, &tp->rtx_timer);
        tp->rtx_mode = RTX_NONE;
        tp->probes = 0;
        tp->backoff = 0;
    }
    if (wnd)
        tp->persist_start_ns = 0;   /* the window opened: a later closed one starts afresh */
    return changed;
}

/* What an ACK delivered (RFC 6937 DeliveredData: the change in SND.UNA plus the change in
 * SACKed bytes, or duplicate ACKs counted as segments without SACK) and whether it revealed a
 * new loss, from the state before it. */
struct ack_delivery {
    uint32_t una, gone;          /* SND.UNA; bytes SACKed or counted by duplicate ACKs */
    uint64_t lost_marks;         /* tcp.rack_lost */
    bool in_recovery;
};

static uint32_t delivered_gone(const struct tcb *tp)
{
    return tp->sacked_bytes + (uint32_t)tp->reno_dupacks * tp->mss;
}

static struct ack_delivery delivery_before(struct tcb *tp)
{
    return (struct ack_delivery){ .una = tp->snd_una, .gone = delivered_gone(tp),
                                  .lost_marks = tcp_counters(tp->stack)->rack_lost,
                                  .in_recovery = tp->in_recovery };
}

static uint32_t delivered_by(struct tcb *tp, const struct ack_delivery *d, bool dup)
{
    uint32_t acked = tp->snd_una - d->una;
    if (!tp->sack_ok && !acked)
        return dup ? tp->mss : 0;   /* a duplicate ACK: one segment left the network */
    int64_t n = (int64_t)acked + delivered_gone(tp) - d->gone;
    /* Without SACK, a partial ACK delivered at least the hole it filled (Linux's
     * tcp_remove_reno_sacks); the rest it covers was counted by the duplicates. */
    if (!tp->sack_ok && n < tp->mss)
        n = tp->mss;
    return n > 0 ? (uint32_t)n : 0;
}

static bool newly_lost(struct tcb *tp, const struct ack_delivery *d)
{
    /* RACK marked something, or recovery just began (its first loss), or NewReno's partial
     * ACK marked the next hole (RFC 6582 3.2 step 5). */
    return tcp_counters(tp->stack)->rack_lost != d->lost_marks || !d->in_recovery ||
           !tp->sack_ok;
}

/* Returns false if the segment must be dropped here. */
static bool ack_arrives(struct tcb *tp, struct segment *sg)
{
    const struct tcp_repr *th = sg->th;
    if (seq_gt(th->ack, tp->snd_nxt)) {
        tp->ack_now = true;   /* acknowledges something not yet sent */
        return false;
    }
    if (seq_lt(th->ack, tp->snd_una - tp->max_snd_wnd)) {
        tcp_challenge_ack(tp);   /* RFC 5961 5.2: too old to be acceptable */
        return false;
    }
    /* The peer is alive: probes it answers do not count towards giving up (RFC 1122 4.2.2.17
     * for zero-window probes, 4.2.3.6 for keepalives), and an earlier ICMP error no longer
     * stands (Linux's tcp_ack clears icsk_probes_out and sk_err_soft on every ACK). */
    tp->probes = 0;
    tp->soft_error = 0;
    bool dsack = false;
    struct ack_delivery d = delivery_before(tp);
    if (tp->sack_ok && (th->opt.present & TCP_HAS_SACK))
        dsack = tcp_sack_process(tp, &th->opt, th->ack);
    bool wnd_changed = update_window(tp, th);
    bool advanced = seq_gt(th->ack, tp->snd_una);
    bool dup = !advanced && th->ack == tp->snd_una && sg->len == 0 && !wnd_changed &&
               tp->snd_una != tp->snd_nxt;
    if (advanced)
        new_ack(tp, th);
    else if (dup)
        dupack(tp);
    tcp_undo_check(tp, th, advanced);
    tcp_rack_ack_done(tp, th->ack, advanced, dsack);
    if (tp->in_recovery)
        prr_ack(tp, delivered_by(tp, &d, dup), advanced && !newly_lost(tp, &d));
    return true;
}

/* Our FIN acknowledged: the states that were waiting for it move on. */
static bool fin_acked_transition(struct tcb *tp)
{
    if (!tp->fin_queued || tp->snd_una != tp->write_seq)
        return true;
    switch (tp->c.state) {
    case TCPS_FIN_WAIT_1:
        tcp_set_state(tp, TCPS_FIN_WAIT_2);
        if (tp->orphan)
            timer_arm(&tp->stack->wheel, &tp->keep_timer,
                      tp->stack->now + (uint64_t)tp->stack->cfg.tcp_fin_timeout_s * NS_PER_SEC);
        tcp_notify(tp);
        return true;
    case TCPS_CLOSING:
        tcp_time_wait(tp);
        return false;
    case TCPS_LAST_ACK:
        tcp_done(tp);
        return false;
    default:
        return true;
    }
}

/* ---- RST and SYN in a synchronized state ---- */

/* RFC 9293 3.10.7.4 second check with RFC 5961 3.2: only an RST at exactly RCV.NXT resets; one
 * elsewhere in the window draws a challenge ACK. */
static void rst_arrives(struct tcb *tp, const struct tcp_repr *th)
{
    if (th->seq != tp->rcv_nxt) {
        tcp_challenge_ack(tp);
        return;
    }
    struct tcp_ctrs *c = tcp_counters(tp->stack);
    c->in_rsts++;
    switch (tp->c.state) {
    case TCPS_SYN_RECEIVED:
        /* A passive open goes back to LISTEN (the embryo is dropped); an active one failed. */
        tcp_abort(tp, tp->parent ? ECONNRESET : ECONNREFUSED);
        return;
    case TCPS_ESTABLISHED:
    case TCPS_CLOSE_WAIT:
        c->estab_resets++;
        /* fall through */
    case TCPS_FIN_WAIT_1:
    case TCPS_FIN_WAIT_2:
        tcp_abort(tp, tp->c.state == TCPS_CLOSE_WAIT ? EPIPE : ECONNRESET);
        return;
    default:
        tcp_done(tp);
        return;
    }
}

/* ---- SYN_SENT (RFC 9293 3.10.7.3) ---- */

static void syn_sent_input(struct tcb *tp, struct segment *sg)
{
    const struct tcp_repr *th = sg->th;
    bool has_ack = th->flags & TCP_ACK;
    if (has_ack && (seq_leq(th->ack, tp->iss) || seq_gt(th->ack, tp->snd_nxt))) {
        if (!(th->flags & TCP_RST))
            tcp_send_reset(tp->stack, tp->rt.ifc, sg->ip, th, sg->len);
        return;
    }
    if (th->flags & TCP_RST) {
        if (has_ack) {   /* RFC 5961 3.2: acceptable only if it acknowledges our SYN */
            tcp_counters(tp->stack)->attempt_fails++;
            tcp_abort(tp, ECONNREFUSED);
        }
        return;
    }
    if (!(th->flags & TCP_SYN))
        return;
    tp->irs = th->seq;
    tp->rcv_nxt = th->seq + 1;
    tp->last_ack_sent = tp->rcv_nxt;
    tp->rcv_adv = tp->rcv_nxt;
    tcp_apply_syn_options(tp, &th->opt);
    tcp_init_windows(tp);
    tp->snd_wnd = th->window;   /* RFC 7323 2.2: a SYN's window is never scaled */
    tp->max_snd_wnd = tp->snd_wnd;
    tp->snd_wl1 = th->seq;
    tp->snd_wl2 = th->ack;
    if (has_ack) {
        tp->snd_una = th->ack;
        if (tp->retries == 0 && tp->last_send_ns)
            tcp_rtt_sample(tp, (uint32_t)((tp->stack->now - tp->last_send_ns) / 1000));
        tcp_established(tp);
        tp->ack_now = true;
        tcp_notify(tp);
    } else {
        /* Simultaneous open: SYN_RECEIVED, answer with SYN-ACK (same ISS). */
        tcp_set_state(tp, TCPS_SYN_RECEIVED);
        tcp_send_syn(tp);
        tcp_arm_rtx(tp);
    }
}

/* ---- Synchronized states (RFC 9293 3.10.7.4) ---- */

/* An unacceptable segment is answered with an ACK (RFC 9293 3.10.7.4, RFC 7323 5.3), but a
 * pure ACK (no data, SYN or FIN) at most once per tcp_invalid_ratelimit_ms per connection, as
 * Linux's tcp_oow_rate_limited: two stacks that disagree about a window (or a forged stream of
 * out-of-window ACKs) could otherwise keep each other answering forever (RFC 5961 10 notes the
 * ACK storm). Segments that carry something always get their ACK: a retransmission needs it. */
static void answer_unacceptable(struct tcb *tp, const struct segment *sg)
{
    uint32_t limit = tp->stack->cfg.tcp_invalid_ratelimit_ms;
    if (limit && sg->len == 0) {
        uint32_t now_ms = (uint32_t)(tp->stack->now / NS_PER_MS);
        if (tp->oow_ack_ms && now_ms - tp->oow_ack_ms < limit) {
            tcp_counters(tp->stack)->oow_acks_limited++;
            return;
        }
        tp->oow_ack_ms = now_ms ? now_ms : 1;
    }
    tp->ack_now = true;
}

/* Returns false when the segment ends here (dropped, or the connection is gone). */
static bool check_sequence(struct tcb *tp, struct segment *sg)
{
    const struct tcp_repr *th = sg->th;
    if (paws_rejects(tp, th)) {
        tcp_counters(tp->stack)->paws_drops++;
        answer_unacceptable(tp, sg);
        return false;
    }
    if (!seq_acceptable(tp, sg)) {
        if (th->flags & TCP_RST)
            return false;   /* RFC 5961 3.2: outside the window: silently dropped */
        if (th->flags & TCP_SYN) {
            /* RFC 5961 4.2: a SYN, whatever its sequence number, draws a (rate-limited)
             * challenge ACK; Linux's tcp_validate_incoming does the same (syn_challenge). */
            tcp_challenge_ack(tp);
            return false;
        }
        tcp_counters(tp->stack)->outside_window++;
        answer_unacceptable(tp, sg);
        /* An old duplicate (a retransmission whose original arrived): report it as a D-SACK
         * (RFC 2883 4), as Linux's tcp_send_dupack does, so the sender can tell a spurious
         * retransmission (RFC 8985 6.2 step 4, undo) from a lost segment. */
        if (tp->sack_ok && sg->len && seq_lt(th->seq, tp->rcv_nxt)) {
            uint32_t end = th->seq + sg->len;
            tp->dsack = (struct tcp_sack_block){ th->seq, seq_min(end, tp->rcv_nxt) };
            tp->dsack_pending = true;
        }
        return false;
    }
    if (th->flags & TCP_RST) {
        rst_arrives(tp, th);
        return false;
    }
    if (th->flags & TCP_SYN) {
        if (tp->c.state == TCPS_SYN_RECEIVED && th->seq == tp->irs && !tp->parent &&
            (th->flags & TCP_ACK) && th->ack == tp->snd_nxt && sg->len == 1) {
            /* Simultaneous open (RFC 9293 figure 7): the peer's SYN-ACK answering our SYN
             * completes the handshake like an ACK; its SYN is a duplicate we acknowledge.
             * As Linux (tcp_validate_incoming), rather than a challenge ACK. */
            tp->ack_now = true;
            return true;
        }
        if (tp->c.state == TCPS_SYN_RECEIVED && th->seq == tp->irs) {
            tcp_send_syn(tp);   /* our SYN-ACK was lost: the peer repeats its SYN */
            return false;
        }
        tcp_challenge_ack(tp);  /* RFC 5961 4.2 */
        return false;
    }
    return (th->flags & TCP_ACK) != 0;   /* fifth check: no ACK, drop */
}

/* SYN_RECEIVED: the ACK that completes the handshake (RFC 9293 fifth check). */
static bool syn_received_ack(struct tcb *tp, struct segment *sg)
{
    const struct tcp_repr *th = sg->th;
    if (!(seq_lt(tp->snd_una, th->ack) && seq_leq(th->ack, tp->snd_nxt))) {
        tcp_send_reset(tp->stack, tp->rt.ifc, sg->ip, th, sg->len);
        return false;
    }
    if (tp->retries == 0 && tp->last_send_ns)
        tcp_rtt_sample(tp, (uint32_t)((tp->stack->now - tp->last_send_ns) / 1000));
    tp->snd_una = th->ack;
    tp->snd_wnd = (uint32_t)th->window << tp->snd_wscale;
    tp->max_snd_wnd = tp->snd_wnd;
    tp->snd_wl1 = th->seq;
    tp->snd_wl2 = th->ack;
    tcp_established(tp);
    if (tp->parent) {
        tcp_child_established(tp);
        if (tp->c.state != TCPS_ESTABLISHED)
            return false;   /* the accept queue was full: the ACK is forgotten (tcp_listen.c) */
    }
    tcp_notify(tp);
    return true;
}

static void synchronized_input(struct tcb *tp, struct segment *sg)
{
    const struct tcp_repr *th = sg->th;
    if (!check_sequence(tp, sg))
        return;
    if (tp->c.state == TCPS_SYN_RECEIVED && !syn_received_ack(tp, sg))
        return;
    update_ts_recent(tp, th);
    if (!ack_arrives(tp, sg))
        return;
    if (!fin_acked_transition(tp))
        return;   /* the connection was closed or replaced by a TIME_WAIT entry */
    if (tp->c.state == TCPS_TIME_WAIT) {
        if (th->flags & TCP_FIN) {
            tp->ack_now = true;   /* a retransmitted FIN: ACK it and restart 2 MSL */
            timer_arm(&tp->stack->wheel, &tp->keep_timer,
                      tp->stack->now + (uint64_t)tp->stack->cfg.tcp_time_wait_ms * NS_PER_MS);
        } else if (sg->p && sg->p->len) {
            tp->ack_now = true;   /* data: ACKed, as the compact entry and Linux's TIME_WAIT do */
        }
        return;
    }
    if (sg->p && (sg->p->len || (th->flags & TCP_FIN)))
        data_arrives(tp, sg);
}

/* ---- Entry ---- */

static bool checksum_ok(const struct ipv4_repr *ip, const struct pkt *p)
{
    if (p->flags & (PKT_F_CSUM_VALID | PKT_F_CSUM_PARTIAL))
        return true;
    return tcp_checksum_ok(p->data, p->len,
                           csum_ipv4_pseudo(ip->src, ip->dst, IPPROTO_TCP, (uint16_t)p->len));
}

/* ---- Header prediction ---- */

/* Jacobson's header prediction ("4BSD header prediction", 1990; Linux's tcp_rcv_established
 * fast path): in ESTABLISHED nearly every segment is the next in-order data, with an ACK that
 * says nothing new or acknowledges what we sent, the same window, at most a timestamp that
 * passes PAWS, and nothing out of order to merge. For such a segment the steps of RFC 9293
 * 3.10.7.4 reduce to remembering the timestamp, the ACK step and appending the data; this is
 * that reduction, giving the same result as the full path (synchronized_input), which takes
 * every other segment. */
static bool predicted(const struct tcb *tp, const struct tcp_repr *th)
{
    if (tp->c.state != TCPS_ESTABLISHED || (th->flags & ~TCP_PSH) != TCP_ACK)
        return false;
    uint32_t len = (uint32_t)th->payload_len;
    if (th->seq != tp->rcv_nxt || len == 0 || tp->ooo_head || tp->orphan ||
        (tp->shutdown & TCP_SHUT_RD) || seq_gt(th->seq + len, tp->rcv_adv))
        return false;
    if (((uint32_t)th->window << tp->snd_wscale) != tp->snd_wnd)
        return false;
    /* Socket memory near mem_max: the full path decides whether the data may stay. */
    if (sockmem_near_limit(&tp->stack->mem))
        return false;
    /* RFC 7323 5.3: PAWS passes (as it does for any timestamp not older than TS.Recent). */
    if (tp->ts_ok ? th->opt.present != TCP_HAS_TIMESTAMP || seq_lt(th->opt.ts_val, tp->ts_recent)
                  : th->opt.present != 0)
        return false;
    /* The ACK is acceptable: nothing new, or new data within what we have sent. */
    return seq_geq(th->ack, tp->snd_una) && seq_leq(th->ack, tp->snd_nxt);
}

/* Takes a predicted segment (see predicted()): consumes sg->p. Returns whether tcp_output
 * has anything to do: an ACK to send, or data the ACK may have let go. */
static bool fast_data_input(struct tcb *tp, struct segment *sg)
{
    const struct tcp_repr *th = sg->th;
    bool ack_step = th->ack != tp->snd_una || tp->snd_una != tp->snd_nxt;
    /* update_ts_recent, knowing what predicted() checked: with timestamps on, the segment has
     * one and it is not older than TS.Recent (RFC 7323 4.3: then only where the segment starts
     * decides). */
    if (tp->ts_ok && seq_leq(th->seq, tp->last_ack_sent)) {
        tp->ts_recent = th->opt.ts_val;
        tp->ts_recent_ns = tp->stack->now;
    }
    if (ack_step) {
        ack_arrives(tp, sg);   /* new data acknowledged, or data in flight to watch */
    } else {
        /* Nothing in flight and nothing new: what ack_arrives would do comes down to this. */
        tp->probes = 0;
        tp->soft_error = 0;
        tp->snd_wl1 = th->seq;
        tp->snd_wl2 = th->ack;
    }
    struct pkt *p = sg->p;
    sg->p = NULL;
    uint32_t bytes = p->len;
    tp->rcv_nxt += bytes;
    tcp_rcv_append(tp, p);
    tcp_mem_sync(tp);
    if (tp->sack_recent_n)
        tcp_sack_update_recent(tp);
    schedule_ack(tp, bytes);
    tcp_notify(tp);
    return tp->ack_now || ack_step || tp->send_head;
}

/* Returns false when tcp_output has nothing to do afterwards. */
static bool connection_input(struct tcb *tp, struct segment *sg)
{
    tp->segs_in++;
    tp->last_recv_ns = tp->stack->now;
    if (predicted(tp, sg->th))
        return fast_data_input(tp, sg);
    if (tp->c.state == TCPS_SYN_SENT)
        syn_sent_input(tp, sg);
    else
        synchronized_input(tp, sg);
    /* tp may be gone now (an orphan closed, or replaced by a TIME_WAIT entry). */
    return true;
}

void tcp_input(struct iface *ifc, const struct ipv4_repr *ip, struct pkt *p)
{
    struct ust_stack *s = ifc->stack;
    struct tcp_ctrs *c = &s->tcp->ctrs;
    struct tcp_repr th;
    c->in_segs++;
    if (tcp_parse(p->data, p->len, &th) != 0) {
        c->in_errs++;
        goto drop;
    }
    if (!checksum_ok(ip, p)) {
        c->in_errs++;
        c->in_csum_errors++;
        goto drop;
    }
    pkt_pull(p, th.hdr_len);
    pkt_trim(p, (uint32_t)th.payload_len);
    struct segment sg = { .ip = ip, .th = &th, .p = p,
                          .len = (uint32_t)th.payload_len + ((th.flags & TCP_SYN) ? 1 : 0) +
                                 ((th.flags & TCP_FIN) ? 1 : 0) };
    /* The table's one-entry cache checked here saves the call in a burst for one connection. */
    struct tcp_conn *conn = tcp_conn_is(s->tcp->ehash_last, ip->dst, th.dport, ip->src, th.sport);
    if (!conn)
        conn = tcp_ehash_lookup(s, ip->dst, th.dport, ip->src, th.sport);
    if (conn && conn->compact) {
        tcp_tw_input(s, conn, ifc, ip, &th, p);
        return;
    }
    /* RFC 1122 4.2.3.10: TCP is unicast. (A connection's local address never is a broadcast
     * address, so the check is needed only where no connection matched.) */
    if (!conn && ipv4_addr_is_broadcast(s, ip->dst))
        goto drop;
    struct tcb *lp = conn ? NULL : tcp_listener_lookup(s, ip->dst, th.dport);
    if (lp) {
        /* NULL: the listener consumed it; else the ACK of a SYN cookie, which completes the
         * connection the cookie made (with any data it carries) below. */
        struct tcb *child = tcp_listen_input(lp, ifc, ip, &th, p);
        if (!child)
            return;
        conn = &child->c;
    }
    if (conn) {
        struct tcb *tp = (struct tcb *)conn;
        uint64_t frees = s->tcp->tcb_frees;
        bool more = connection_input(tp, &sg);
        /* Still alive (not freed, not closed)? Then send what became possible. */
        if (more && s->tcp->tcb_frees == frees && tp->c.in_ehash)
            tcp_output(tp);
        pkt_free(sg.p);
        return;
    }
    c->no_port++;
    tcp_send_reset(s, ifc, ip, &th, sg.len);   /* RFC 9293 3.10.7.1: CLOSED */
drop:
    pkt_free(p);
}
