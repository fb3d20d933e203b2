/*
 * Round-trip time estimation and the retransmission timeout (RFC 6298), in microseconds.
 *
 * Samples come from the newest segment an ACK covers that was never retransmitted (Karn's rule,
 * RFC 6298 3), measured with the stack's clock; for retransmitted segments, from the timestamp
 * echo, which is unambiguous (RFC 7323 4). Following Linux rather than RFC 6298 2.4's clamp,
 * the minimum RTO bounds the variance term: RTO = SRTT + max(4 * RTTVAR, min_rto), so on a
 * 50-microsecond path the RTO is min_rto plus the RTT, not exactly min_rto.
 */
#include "net/stack.h"
#include "tcp/tcb.h"

#define RTO_INITIAL_US 1000000u   /* RFC 6298 2.1: one second */

static uint32_t clamp_rto(const struct tcb *tp, uint64_t rto)
{
    uint64_t lo = (uint64_t)tp->stack->cfg.tcp_min_rto_ms * 1000;
    uint64_t hi = (uint64_t)tp->stack->cfg.tcp_max_rto_ms * 1000;
    if (rto < lo)
        rto = lo;
    if (rto > hi)
        rto = hi;
    return (uint32_t)rto;
}

void tcp_rtt_init(struct tcb *tp)
{
    tp->srtt_us = 0;
    tp->rttvar_us = 0;
    tp->min_rtt_us = 0;
    tp->rto_us = clamp_rto(tp, RTO_INITIAL_US);
    tp->backoff = 0;
}

void tcp_rtt_sample(struct tcb *tp, uint32_t r)
{
    if (r == 0)
        r = 1;
    if (!tp->min_rtt_us || r < tp->min_rtt_us)
        tp->min_rtt_us = r;
    if (!tp->srtt_us) {
        /* RFC 6298 2.2: the first measurement. */
        tp->srtt_us = r;
        tp->rttvar_us = r / 2;
    } else {
        /* RFC 6298 2.3: beta = 1/4, alpha = 1/8; RTTVAR first, with the old SRTT. */
        uint32_t delta = tp->srtt_us > r ? tp->srtt_us - r : r - tp->srtt_us;
        tp->rttvar_us = tp->rttvar_us - tp->rttvar_us / 4 + delta / 4;
        tp->srtt_us = tp->srtt_us - tp->srtt_us / 8 + r / 8;
    }
    uint64_t var = (uint64_t)tp->rttvar_us * 4;   /* K = 4 */
    uint64_t floor = (uint64_t)tp->stack->cfg.tcp_min_rto_ms * 1000;
    tp->rto_us = clamp_rto(tp, tp->srtt_us + (var > floor ? var : floor));
}

uint32_t tcp_rto_us(const struct tcb *tp)
{
    /* RFC 6298 5.5: back off by doubling, up to the maximum. */
    uint64_t rto = (uint64_t)tp->rto_us << (tp->backoff < 16 ? tp->backoff : 16);
    return clamp_rto(tp, rto);
}
