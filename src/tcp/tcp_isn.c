/*
 * Initial sequence numbers (RFC 6528) and our timestamp clock (RFC 7323).
 *
 * ISN = M + F(local address, local port, remote address, remote port, secret): M a clock ticking
 * every 4 microseconds (RFC 9293 3.4.1), F SipHash keyed with the stack's secret, so an off-path
 * attacker cannot predict the next connection's ISN while one peer still sees them increase
 * (which keeps old duplicates of a previous incarnation out of a new one's window).
 *
 * Timestamps tick once per millisecond (as Linux) with a per-connection random offset, so they do
 * not reveal uptime and differ between connections.
 */
#include "net/stack.h"
#include "tcp/table.h"
#include "tcp/tcb.h"

struct isn_key {
    uint32_t laddr, raddr;
    uint16_t lport, rport;
    uint32_t salt;
};

uint32_t tcp_isn(struct ust_stack *s, uint32_t laddr, uint16_t lport, uint32_t raddr,
                 uint16_t rport)
{
    struct tcp_table *t = s->tcp;
    if (t->isn_override) {
        t->isn_override = false;   /* a test chose this one ISN (tcp_isn_override_for_tests) */
        return t->isn_override_value;
    }
    struct isn_key k = { laddr, raddr, lport, rport, 0x15e };
    uint32_t f = (uint32_t)siphash24(&s->secret, &k, sizeof(k));
    uint32_t m = (uint32_t)(s->now / 4000);
    return m + f;
}

/* Test-only (see tcp.h): arms a one-shot ISN; RFC 6528 applies to every other connection. */
void tcp_isn_override_for_tests(struct ust_stack *s, uint32_t isn)
{
    s->tcp->isn_override = true;
    s->tcp->isn_override_value = isn;
}

uint32_t tcp_ts_clock(struct ust_stack *s)
{
    return (uint32_t)(s->now / NS_PER_MS);
}

uint32_t tcp_ts_now(const struct tcb *tp)
{
    return tcp_ts_clock(tp->stack) + tp->ts_offset;
}

uint32_t tcp_ts_offset(struct ust_stack *s, uint32_t laddr, uint32_t raddr)
{
    struct tcp_table *t = s->tcp;
    if (t->ts_off_valid && t->ts_off_laddr == laddr && t->ts_off_raddr == raddr)
        return t->ts_off;
    struct isn_key k = { laddr, raddr, 0, 0, 0x75 };
    t->ts_off = (uint32_t)siphash24(&s->secret, &k, sizeof(k));
    t->ts_off_laddr = laddr;
    t->ts_off_raddr = raddr;
    t->ts_off_valid = true;
    return t->ts_off;
}
