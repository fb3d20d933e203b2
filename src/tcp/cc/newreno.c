/*
 * NewReno congestion control (RFC 5681 with RFC 6582's recovery; Linux calls it "reno").
 *
 * The module only decides cwnd and ssthresh: slow start below ssthresh and byte-counted additive
 * increase above it (RFC 5681 3.1, RFC 3465), the halving on loss (RFC 5681 eqn 4), the loss window
 * after a timeout and the restart window after idle (RFC 5681 4.1). Fast retransmit, the inflation
 * and deflation of cwnd during recovery and the recovery point belong to TCP (RFC 6582, RFC 6675).
 *
 * Private state: the additive-increase credit and whether an RTO is still unanswered. Every hook
 * writes both fields of `out`, starting from the view.
 */
#include "tcp/cc/cc.h"

#include <string.h>

struct newreno {
    uint32_t credit;     /* bytes acked toward the next MSS of additive increase */
    bool rto_pending;    /* an RTO reduced ssthresh and no new data has been acked since */
};
_Static_assert(sizeof(struct newreno) <= CC_PRIV_SIZE, "newreno state exceeds CC_PRIV_SIZE");

/* The private area is a byte array with no alignment promise: copy the state in and out. */
static struct newreno newreno_load(const void *priv)
{
    struct newreno r;
    memcpy(&r, priv, sizeof r);
    return r;
}

static void newreno_store(void *priv, const struct newreno *r)
{
    memcpy(priv, r, sizeof *r);
}

static void out_from_view(const struct cc_view *v, struct cc_out *out)
{
    out->cwnd = v->cwnd;
    out->ssthresh = v->ssthresh;
}

static void newreno_init(void *priv, const struct cc_view *v, struct cc_out *out)
{
    (void)v;
    (void)out;   /* RFC 6928's initial window and the initial ssthresh stand */
    newreno_store(priv, &(struct newreno){ 0 });
}

static void newreno_on_ack(void *priv, const struct cc_view *v, uint32_t acked, uint32_t rtt_us,
                           struct cc_out *out)
{
    (void)rtt_us;
    struct newreno r = newreno_load(priv);
    out_from_view(v, out);
    r.rto_pending = false;   /* new data acked: a later RTO is about a new segment */
    /* cwnd grows only while it limits the sender (as Linux does, and RFC 7661's aim): an
     * application-limited flow has not tested the window it would grow into. */
    if (!v->in_recovery && v->cwnd_limited) {
        acked = cc_slow_start(v, acked, out);
        if (acked > 0)   /* RFC 5681 3.1 congestion avoidance: one SMSS per cwnd acked */
            cc_additive_increase(v, out->cwnd, acked, &r.credit, out);
    }
    newreno_store(priv, &r);
}

static void newreno_on_loss(void *priv, const struct cc_view *v, enum cc_loss kind,
                            struct cc_out *out)
{
    struct newreno r = newreno_load(priv);
    out_from_view(v, out);
    r.credit = 0;
    if (kind == CC_LOSS_RTO) {
        /* RFC 5681 3.1: ssthresh per eqn 4 only if this segment has not been resent by the
         * timer already (a backed-off RTO keeps it); cwnd = loss window, one segment. */
        if (!r.rto_pending)
            out->ssthresh = cc_reno_ssthresh(v);
        out->cwnd = v->mss;
        r.rto_pending = true;
    } else {
        /* RFC 5681 3.2 step 2 / RFC 6582 3.2 step 2 (and RFC 3168 6.1.2 for ECE): halve.
         * cwnd = ssthresh; the temporary inflation during recovery is TCP's. */
        out->ssthresh = cc_reno_ssthresh(v);
        out->cwnd = out->ssthresh;
    }
    newreno_store(priv, &r);
}

static void newreno_on_recovery_exit(void *priv, const struct cc_view *v, struct cc_out *out)
{
    struct newreno r = newreno_load(priv);
    out_from_view(v, out);
    /* RFC 6582 3.2 step 3 option 2 / RFC 5681 3.2 step 6: deflate to ssthresh. */
    out->cwnd = v->ssthresh;
    r.credit = 0;
    newreno_store(priv, &r);
}

static void newreno_after_idle(void *priv, const struct cc_view *v, struct cc_out *out)
{
    struct newreno r = newreno_load(priv);
    out_from_view(v, out);
    /* Keep a memory of the window before the restart, so slow start brings it back: ssthresh =
     * max(ssthresh, 3/4 cwnd). This is RFC 2861 3 and what Linux (tcp_cwnd_restart) does; RFC
     * 5681 4.1 itself leaves ssthresh alone. */
    uint32_t three_quarters = (uint32_t)((uint64_t)v->cwnd * 3 / 4);
    if (out->ssthresh < three_quarters)
        out->ssthresh = three_quarters;
    out->cwnd = cc_restart_window(v);   /* RFC 5681 4.1: cwnd = RW = min(IW, cwnd) */
    r.credit = 0;
    newreno_store(priv, &r);
}

const struct cc_ops cc_newreno = {
    .name = "newreno",
    .init = newreno_init,
    .on_ack = newreno_on_ack,
    .on_loss = newreno_on_loss,
    .on_recovery_exit = newreno_on_recovery_exit,
    .after_idle = newreno_after_idle,
};
