/*
 * Path MTU discovery (issue 4, item 9): an ICMP "fragmentation needed" about a segment we have in
 * flight lowers the MSS (RFC 1191) and what no longer fits is sent again, smaller; the message is
 * believed only if it quotes a sequence number between SND.UNA and SND.NXT (RFC 5927 4.1, 7.2)
 * and names a plausible MTU (at least Linux's min_pmtu, 552, and below the current one).
 */
#include "tcptest.h"

static uint8_t payload[16 * 1024];

/* Sends n full segments (from c->snd_nxt on) and returns the quote an ICMP error about the first
 * would carry. */
static size_t send_and_quote(struct st *t, struct conn *c, unsigned n, uint8_t *quote, size_t cap)
{
    st_pattern(payload, sizeof(payload), 0);
    conn_send(c, payload, n * c->mss);
    expect_tcp(t, .seq = c->snd_nxt, .len = c->mss);
    size_t q = st_quote_last(t, quote, cap, 8);
    for (unsigned k = 1; k < n; k++)
        expect_tcp(t, .seq = c->snd_nxt + k * c->mss, .len = c->mss);
    expect_no_tx(t);
    c->snd_nxt += n * c->mss;
    return q;
}

static struct st_frame frag_needed(const uint8_t *quote, size_t n, uint16_t mtu)
{
    /* RFC 1191 4: the next-hop MTU in the low 16 bits of the second word. */
    return icmp(.type = ICMP_DEST_UNREACH, .code = ICMP_FRAG_NEEDED, .rest = mtu, .data = quote,
                .len = n);
}

static void test_frag_needed_lowers_the_mss_and_resends_smaller(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t L = c.iss + 1;
    uint8_t quote[64];
    size_t n = send_and_quote(t, &c, 2, quote, sizeof(quote));
    feed(t, frag_needed(quote, n, 1200));
    /* MSS = 1200 - 40. Both segments in flight are too big: resent in pieces that fit, with
     * DF still set (RFC 1191: we keep probing at the new size). */
    const uint32_t mss = 1160;
    expect_tcp(t, .seq = L, .len = mss, .df = 1, .total_len = 1200);
    expect_tcp(t, .seq = L + mss, .len = ST_MSS - mss);
    expect_tcp(t, .seq = L + ST_MSS, .len = mss);
    expect_tcp(t, .seq = L + ST_MSS + mss, .len = ST_MSS - mss);
    expect_no_tx(t);
    assert_int_equal(st_tcp_info(c.fd).mss, mss);
    assert_int_equal(counter(t, "tcp.pmtu_updates"), 1);
    /* The peer gets them all; new data is cut to the new MSS. */
    feed(t, tcp(.flags = ACK, .seq = c.irs + 1, .ack = L + 2 * ST_MSS));
    conn_send(&c, payload, 2000);
    expect_tcp(t, .seq = L + 2 * ST_MSS, .len = mss);
    expect_tcp(t, .seq = L + 2 * ST_MSS + mss, .len = 2000 - mss);
    expect_no_tx(t);
}

static void test_frag_needed_counts_timestamp_option_space(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED, .peer_ts = true);
    uint8_t quote[64];
    size_t n = send_and_quote(t, &c, 1, quote, sizeof(quote));
    feed(t, frag_needed(quote, n, 1000));
    /* RFC 7323 appendix A: 1000 - 20 - 20 - 12. */
    expect_tcp(t, .seq = c.iss + 1, .len = 948, .total_len = 1000);
    expect_tcp(t, .seq = c.iss + 1 + 948, .len = c.mss - 948);
    assert_int_equal(st_tcp_info(c.fd).mss, 948);
}

static void test_frag_needed_for_a_sequence_not_in_flight_is_ignored(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint8_t quote[64];
    size_t n = send_and_quote(t, &c, 1, quote, sizeof(quote));
    /* RFC 5927 4.1 / 7.2: once acknowledged, the sequence number is no longer in flight; a
     * forged or stale message must not shrink the MSS. */
    feed(t, tcp(.flags = ACK, .seq = c.irs + 1, .ack = c.iss + 1 + c.mss));
    feed(t, frag_needed(quote, n, 1200));
    expect_no_tx(t);
    assert_int_equal(st_tcp_info(c.fd).mss, ST_MSS);
    assert_int_equal(counter(t, "tcp.pmtu_ignored"), 1);
    /* Beyond SND.NXT: ignored too. */
    n = send_and_quote(t, &c, 1, quote, sizeof(quote));
    quote[20 + 4] ^= 0x40;   /* the quoted sequence number moves 2^30 ahead */
    feed(t, frag_needed(quote, n, 1200));
    expect_no_tx(t);
    assert_int_equal(counter(t, "tcp.pmtu_ignored"), 2);
}

static void test_frag_needed_with_an_implausible_mtu_is_ignored(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint8_t quote[64];
    size_t n = send_and_quote(t, &c, 1, quote, sizeof(quote));
    /* Below Linux's min_pmtu (552): ignored (ustack's documented choice; Linux would use 552
     * instead). At or above the current MTU: nothing to lower. */
    feed(t, frag_needed(quote, n, 551));
    feed(t, frag_needed(quote, n, 68));
    feed(t, frag_needed(quote, n, 1500));
    feed(t, frag_needed(quote, n, 9000));
    expect_no_tx(t);
    assert_int_equal(st_tcp_info(c.fd).mss, ST_MSS);
    assert_int_equal(counter(t, "tcp.pmtu_ignored"), 4);
    /* 552 itself is believed. */
    feed(t, frag_needed(quote, n, 552));
    expect_tcp(t, .seq = c.iss + 1, .len = 512);
    assert_int_equal(st_tcp_info(c.fd).mss, 512);
}

static void test_frag_needed_does_not_reset_the_connection(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint8_t quote[64];
    size_t n = send_and_quote(t, &c, 1, quote, sizeof(quote));
    feed(t, frag_needed(quote, n, 1400));
    st_drain_tx(t);
    assert_int_equal(st_tcp_state(c.fd), ESTABLISHED);
    int err = -1;
    socklen_t len = sizeof(err);
    assert_int_equal(ust_getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    assert_int_equal(err, 0);   /* not an error for TCP: it adapts (RFC 1122 4.2.3.9) */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, st_setup, st_teardown)
        T(test_frag_needed_lowers_the_mss_and_resends_smaller),
        T(test_frag_needed_counts_timestamp_option_space),
        T(test_frag_needed_for_a_sequence_not_in_flight_is_ignored),
        T(test_frag_needed_with_an_implausible_mtu_is_ignored),
        T(test_frag_needed_does_not_reset_the_connection),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
