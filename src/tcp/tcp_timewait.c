/*
 * TIME_WAIT (RFC 9293 3.6, 2 MSL; Linux's 60 s by default).
 *
 * A connection its user has closed keeps only what TIME_WAIT needs, in a compact entry (the
 * connection header, both sequence numbers, the timestamp state and a timer: about 120 bytes
 * instead of a full TCB), which takes its place in both tables. It acknowledges a repeated FIN
 * and restarts its timer; an RST ends it (as Linux, tcp_rfc1337 = 0); a SYN with a higher
 * sequence number, or a newer timestamp (RFC 6191), ends it and opens a new connection through
 * the listener, so a busy client can reconnect at once. A connection that reaches TIME_WAIT while
 * its user still holds the socket waits in its full TCB, and moves into a compact entry, for the
 * time left, when the user closes it.
 */
#include <stdlib.h>

#include "net/stack.h"
#include "tcp/table.h"
#include "tcp/tcb.h"

struct tcp_tw {
    struct tcp_conn c;           /* c.compact = true, c.state = TCPS_TIME_WAIT */
    struct ust_stack *stack;
    uint32_t snd_nxt, rcv_nxt;
    uint32_t ts_recent, ts_offset;
    uint64_t ts_recent_ns;
    bool ts_ok;
    uint16_t window;             /* window field of our ACKs: the window last advertised */
    struct timer timer;
};

static void tw_timer_fn(struct timer *t, uint64_t now)
{
    struct tcp_tw *tw = container_of(t, struct tcp_tw, timer);
    (void)now;
    tcp_tw_kill(tw->stack, &tw->c);
}

void tcp_tw_kill(struct ust_stack *s, struct tcp_conn *c)
{
    struct tcp_tw *tw = (struct tcp_tw *)c;
    timer_cancel(&s->wheel, &tw->timer);
    tcp_ehash_remove(s, c);
    tcp_bhash_remove(s, c);
    s->tcp->tws--;
    free(tw);
}

static void tw_restart(struct tcp_tw *tw)
{
    struct ust_stack *s = tw->stack;
    timer_arm(&s->wheel, &tw->timer, s->now + (uint64_t)s->cfg.tcp_time_wait_ms * NS_PER_MS);
}

/* Replaces the orphaned tp by a compact entry that lasts until `expires`. */
static void tw_replace(struct tcb *tp, uint64_t expires)
{
    struct ust_stack *s = tp->stack;
    struct tcp_tw *tw = NULL;
    /* At most tcp_max_tw_buckets entries: beyond, as Linux ("time wait bucket table
     * overflow"), the connection closes without TIME_WAIT. */
    if (s->tcp->tws < s->cfg.tcp_max_tw_buckets)
        tw = calloc(1, sizeof(*tw));
    else
        tcp_counters(s)->tw_overflows++;
    if (tw) {
        tw->c = (struct tcp_conn){ .laddr = tp->c.laddr, .raddr = tp->c.raddr,
                                   .lport = tp->c.lport, .rport = tp->c.rport,
                                   .state = TCPS_TIME_WAIT, .compact = true };
        tw->stack = s;
        tw->snd_nxt = tp->snd_nxt;
        tw->rcv_nxt = tp->rcv_nxt;
        tw->ts_ok = tp->ts_ok;
        tw->ts_recent = tp->ts_recent;
        tw->ts_recent_ns = tp->ts_recent_ns;
        tw->ts_offset = tp->ts_offset;
        /* As Linux (tw_rcv_wnd): what remains of the last window, not zero. */
        uint32_t wnd = seq_gt(tp->rcv_adv, tp->rcv_nxt) ? tp->rcv_adv - tp->rcv_nxt : 0;
        wnd >>= tp->rcv_wscale;
        tw->window = (uint16_t)(wnd > 0xffff ? 0xffff : wnd);
        timer_init(&tw->timer, tw_timer_fn);
    }
    tcp_done(tp);   /* an orphan: off the tables and freed */
    if (!tw)
        return;     /* no memory: skip TIME_WAIT rather than fail */
    tcp_ehash_insert(s, &tw->c);
    tcp_bhash_insert(s, &tw->c);
    s->tcp->tws++;
    timer_arm(&s->wheel, &tw->timer, expires);
}

void tcp_time_wait(struct tcb *tp)
{
    struct ust_stack *s = tp->stack;
    uint64_t expires = s->now + (uint64_t)s->cfg.tcp_time_wait_ms * NS_PER_MS;
    tcp_counters(s)->tw_created++;
    if (!tp->orphan) {
        /* The user still holds the socket: the full TCB waits out TIME_WAIT itself, until
         * the user closes it (tcp_time_wait_closed). */
        tcp_timers_stop(tp);
        tcp_set_state(tp, TCPS_TIME_WAIT);
        timer_arm(&s->wheel, &tp->keep_timer, expires);
        tcp_notify(tp);
        return;
    }
    tw_replace(tp, expires);
}

void tcp_time_wait_closed(struct tcb *tp)
{
    struct ust_stack *s = tp->stack;
    /* The time left of the full TCB's 2 MSL (keep_timer), as Linux's TIME_WAIT socket would
     * have, having started its timer when the connection got there. */
    uint64_t expires = timer_is_armed(&tp->keep_timer) ? tp->keep_timer.deadline_ns : s->now;
    tw_replace(tp, expires);
}

static void tw_send_ack(struct tcp_tw *tw)
{
    struct ust_stack *s = tw->stack;
    struct tcp_repr r = { .sport = tw->c.lport, .dport = tw->c.rport, .seq = tw->snd_nxt,
                          .ack = tw->rcv_nxt, .flags = TCP_ACK, .window = tw->window };
    if (tw->ts_ok) {
        r.opt.present = TCP_HAS_TIMESTAMP;
        r.opt.ts_val = tcp_ts_clock(s) + tw->ts_offset;
        r.opt.ts_ecr = tw->ts_recent;
    }
    tcp_send_raw(s, &r, tw->c.laddr, tw->c.raddr);
}

/* RFC 6191 / RFC 1122 4.2.2.13: a new incarnation may start if its SYN is beyond the old
 * sequence space, or (with timestamps) newer than the old connection's last timestamp. */
static bool syn_may_reopen(const struct tcp_tw *tw, const struct tcp_repr *th)
{
    if (tw->ts_ok && (th->opt.present & TCP_HAS_TIMESTAMP))
        return seq_gt(th->opt.ts_val, tw->ts_recent);
    return seq_gt(th->seq, tw->rcv_nxt);
}

void tcp_tw_input(struct ust_stack *s, struct tcp_conn *c, struct iface *ifc,
                  const struct ipv4_repr *ip, const struct tcp_repr *th, struct pkt *p)
{
    struct tcp_tw *tw = (struct tcp_tw *)c;
    if (th->flags & TCP_RST) {
        tcp_tw_kill(s, c);
    } else if ((th->flags & TCP_SYN) && !(th->flags & TCP_ACK) && syn_may_reopen(tw, th)) {
        tcp_tw_kill(s, c);
        struct tcb *lp = tcp_listener_lookup(s, ip->dst, th->dport);
        if (lp) {
            tcp_counters(s)->tw_recycled++;
            tcp_listen_input(lp, ifc, ip, th, p);
            return;
        }
        tcp_send_reset(s, ifc, ip, th, 1);
    } else if ((th->flags & (TCP_FIN | TCP_SYN)) || th->payload_len) {
        /* A repeated FIN (our last ACK was lost), or anything else that needs an answer. */
        tw_send_ack(tw);
        if (th->flags & TCP_FIN)
            tw_restart(tw);
    }
    pkt_free(p);
}
