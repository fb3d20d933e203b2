/*
 * Congestion control: the registry of modules (cc_find, cc_names) and the RFC 5681 building
 * blocks the modules compose (slow start, additive increase, Reno's ssthresh, the restart window).
 *
 * The building blocks are pure: they read the MSS (and, for the restart window, cwnd) from the
 * view and work on the cwnd/ssthresh held in `out`, so a module can chain them in one hook (slow
 * start up to ssthresh, then congestion avoidance with what is left of the ACK) or apply them to a
 * window of its own (CUBIC grows its Reno estimate W_est with cc_additive_increase).
 *
 * Windows are bytes and never wrap: every increase saturates at UINT32_MAX.
 */
#include "tcp/cc/cc.h"

#include <string.h>

/* RFC 6928 initial window: 10 segments. RFC 6928 2 caps it at 14600 bytes for large MSSs; ustack
 * follows Linux (TCP_INIT_CWND), which uses 10 segments whatever the MSS. */
#define CC_IW_SEGMENTS 10u
/* RFC 3465 2.2: slow start grows by at most L * SMSS per ACK, L = 2. */
#define CC_ABC_L 2u

static const struct {
    const char *name;
    const struct cc_ops *ops;
} cc_modules[] = {
    { "newreno", &cc_newreno },
    { "reno", &cc_newreno },   /* Linux's name for the same algorithm (RFC 5681 + RFC 6582) */
    { "cubic", &cc_cubic },
};

const struct cc_ops *cc_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof cc_modules / sizeof cc_modules[0]; i++)
        if (strcmp(name, cc_modules[i].name) == 0)
            return cc_modules[i].ops;
    return NULL;
}

const char *cc_names(void)
{
    /* The modules' own names ("reno" is an alias); test_cc checks this matches cc_modules. */
    return "newreno,cubic";
}

static uint32_t add_sat(uint32_t a, uint64_t b)
{
    uint64_t sum = (uint64_t)a + b;
    return sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
}

uint32_t cc_slow_start(const struct cc_view *v, uint32_t acked, struct cc_out *out)
{
    /* RFC 5681 3.1: slow start while cwnd < ssthresh (at equality ustack, like Linux, uses
     * congestion avoidance). */
    if (out->cwnd >= out->ssthresh)
        return acked;
    /* RFC 3465 2.2: cwnd += min(N, L * SMSS) for an ACK of N new bytes. Bytes beyond L * SMSS
     * are not carried over: a stretch ACK must not produce a burst. */
    uint64_t grow = acked;
    if (grow > (uint64_t)CC_ABC_L * v->mss)
        grow = (uint64_t)CC_ABC_L * v->mss;
    uint32_t room = out->ssthresh - out->cwnd;
    if (grow < room) {
        out->cwnd += (uint32_t)grow;
        return 0;
    }
    /* ssthresh reached: the rest of the ACK counts toward congestion avoidance. */
    out->cwnd = out->ssthresh;
    return acked - room;
}

void cc_additive_increase(const struct cc_view *v, uint32_t w, uint32_t acked, uint32_t *credit,
                          struct cc_out *out)
{
    /* RFC 5681 3.1 (eqn 3) counted in bytes as RFC 3465 2.1 does: every w bytes acknowledged
     * add one SMSS. w below one MSS would grow faster than slow start: never. */
    uint32_t mss = v->mss ? v->mss : 1;
    if (w < mss)
        w = mss;
    uint64_t bytes = (uint64_t)*credit + acked;
    if (bytes >= w) {
        uint64_t steps = bytes / w;
        bytes -= steps * w;
        out->cwnd = add_sat(out->cwnd, steps * mss);
    }
    *credit = (uint32_t)bytes;   /* < w, so it fits */
}

uint32_t cc_reno_ssthresh(const struct cc_view *v)
{
    /* RFC 5681 eqn 4: ssthresh = max(FlightSize / 2, 2 * SMSS). */
    uint32_t half = v->flight / 2;
    uint32_t floor = 2 * v->mss;
    return half > floor ? half : floor;
}

uint32_t cc_restart_window(const struct cc_view *v)
{
    /* RFC 5681 4.1: RW = min(IW, cwnd). */
    uint64_t iw = (uint64_t)CC_IW_SEGMENTS * v->mss;
    return iw < v->cwnd ? (uint32_t)iw : v->cwnd;
}
