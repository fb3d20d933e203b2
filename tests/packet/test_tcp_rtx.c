/*
 * Reliability (issue 4, item 4): the retransmission timer (RFC 6298: its values, Karn's rule,
 * samples from timestamps, exponential backoff up to the maximum, ETIMEDOUT after tcp_retries2
 * timeouts or TCP_USER_TIMEOUT), the go-back after a timeout, fast retransmit and NewReno's
 * partial ACKs without SACK (RFC 5681, RFC 6582), SACK-based recovery that resends exactly the
 * holes (RFC 6675), and D-SACK from the peer (RFC 2883).
 *
 * Most tests use NewReno (tcp_cc=newreno) so the windows are RFC 5681's arithmetic, no window
 * scaling (so a duplicate ACK carries exactly the window the handshake set), and an MSS of 1000.
 */
#include "tcptest.h"

#define MSS 1000

static uint8_t payload[64 * 1024];

static void fill(size_t n)
{
    st_pattern(payload, n, 0);
}

/* A NewReno connection, 1000-byte segments, no window scaling, a 100 ms handshake RTT: RTO =
 * 100 + max(4 * 50, 200) = 300 ms. */
static struct conn reno_conn(struct st *t, bool sack, bool ts)
{
    st_restart(t, "tcp_cc=newreno");
    return conn_in_state(t, ESTABLISHED, .peer_mss = MSS + (ts ? 12 : 0), .peer_ws = -1,
                         .peer_sack = sack, .peer_ts = ts, .rtt_ms = 100);
}

/* ---- RTO values and backoff (RFC 6298) ---- */

static void test_rto_follows_rfc6298_from_the_handshake_sample(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED, .rtt_ms = 100);
    struct ust_tcp_info i = st_tcp_info(c.fd);
    /* 2.2: SRTT = R, RTTVAR = R/2, RTO = SRTT + max(G, K*RTTVAR) with Linux's 200 ms floor on
     * the variance term: 100 + max(200, 200) = 300 ms. */
    assert_int_equal(i.srtt_us, 100000);
    assert_int_equal(i.rttvar_us, 50000);
    assert_int_equal(i.rto_us, 300000);
    /* 2.3: a second sample of 20 ms: RTTVAR = 3/4 50 + 1/4 |100 - 20| = 57.5 ms, SRTT = 7/8 100
     * + 1/8 20 = 90 ms, RTO = 90 + 230 = 320 ms. */
    conn_send(&c, "x", 1);
    expect_tcp(t, .flags = ACK | PSH, .seq = c.iss + 1, .data = "x");
    advance(t, 20);
    feed(t, tcp(.flags = ACK, .seq = c.irs + 1, .ack = c.iss + 2));
    i = st_tcp_info(c.fd);
    assert_int_equal(i.srtt_us, 90000);
    assert_int_equal(i.rttvar_us, 57500);
    assert_int_equal(i.rto_us, 320000);
    assert_int_equal(i.min_rtt_us, 20000);
}

static void test_rto_doubles_to_the_maximum_then_etimedout(void **state)
{
    struct st *t = *state;
    st_restart(t, "tcp_tlp=0");   /* the RTO alone (a tail loss probe would go first) */
    struct conn c = conn_in_state(t, ESTABLISHED, .rtt_ms = 100);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    conn_send(&c, "data", 4);
    expect_tcp(t, .flags = ACK | PSH, .seq = L, .ack = R, .data = "data");
    /* RFC 6298 5.5: 300 ms, doubling, capped at tcp_max_rto_ms (120 s, Linux's TCP_RTO_MAX);
     * tcp_retries2 = 15 retransmissions, then the connection fails (no reset is sent, as
     * Linux). Each retransmission is the same segment. */
    uint64_t rto = 300;
    for (int k = 1; k <= 15; k++) {
        expect_tcp_after(t, rto, .flags = ACK | PSH, .seq = L, .ack = R, .data = "data");
        struct ust_tcp_info i = st_tcp_info(c.fd);
        assert_int_equal(i.retransmits, k);
        assert_int_equal(i.backoff, k);
        rto = rto * 2 > 120000 ? 120000 : rto * 2;
        assert_int_equal(i.rto_us, rto * 1000);
    }
    advance(t, rto - 1);
    assert_int_equal(st_tcp_state(c.fd), ESTABLISHED);
    advance_past(t, 1);
    expect_no_tx(t);
    assert_int_equal(st_tcp_state(c.fd), CLOSED);
    char b;
    expect_errno(ust_recv(c.fd, &b, 1, 0), ETIMEDOUT);
    assert_int_equal(counter(t, "tcp.timeouts"), 15);
    assert_int_equal(counter(t, "tcp.retrans_segs"), 15);
}

static void test_min_and_max_rto_are_configurable(void **state)
{
    struct st *t = *state;
    st_restart(t, "tcp_min_rto_ms=20", "tcp_max_rto_ms=1000", "tcp_tlp=0");
    struct conn c = conn_in_state(t, ESTABLISHED, .rtt_ms = 10);
    /* 10 + max(4 * 5, 20) = 30 ms; backoff 60, 120, ... capped at 1 s. */
    assert_int_equal(st_tcp_info(c.fd).rto_us, 30000);
    conn_send(&c, "d", 1);
    expect_tcp(t, .flags = ACK | PSH, .data = "d");
    uint64_t rto = 30;
    for (int k = 0; k < 8; k++) {
        expect_tcp_after(t, rto, .flags = ACK | PSH, .data = "d");
        rto = rto * 2 > 1000 ? 1000 : rto * 2;
    }
    assert_int_equal(rto, 1000);
}

static void test_tcp_user_timeout_bounds_the_retransmissions(void **state)
{
    struct st *t = *state;
    st_restart(t, "tcp_tlp=0");
    struct conn c = conn_in_state(t, ESTABLISHED, .rtt_ms = 100);
    int ms = 2000;
    assert_int_equal(ust_setsockopt(c.fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms)), 0);
    conn_send(&c, "x", 1);
    expect_tcp(t, .flags = ACK | PSH, .data = "x");
    /* Retransmissions at 0.3, 0.9, 2.1 s; at the timeout after that the stall (counted from
     * the first timeout, at 0.3 s) has lasted more than 2 s: ETIMEDOUT. */
    expect_tcp_after(t, 300, .data = "x");
    expect_tcp_after(t, 600, .data = "x");
    expect_tcp_after(t, 1200, .data = "x");
    advance(t, 2399);
    assert_int_equal(st_tcp_state(c.fd), ESTABLISHED);
    advance_past(t, 1);
    expect_no_tx(t);
    assert_int_equal(st_tcp_state(c.fd), CLOSED);
    int err = 0;
    socklen_t len = sizeof(err);
    assert_int_equal(ust_getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    assert_int_equal(err, ETIMEDOUT);
}

static void test_timeout_reports_the_last_icmp_error(void **state)
{
    struct st *t = *state;
    st_restart(t, "tcp_retries2=2", "tcp_tlp=0");
    struct conn c = conn_in_state(t, ESTABLISHED, .rtt_ms = 100);
    conn_send(&c, "x", 1);
    expect_tcp(t, .flags = ACK | PSH, .data = "x");
    uint8_t quote[64];
    size_t n = st_quote_last(t, quote, sizeof(quote), 8);
    /* RFC 1122 4.2.3.9: host unreachable is a soft error during a connection: remembered, not
     * fatal... */
    feed(t, icmp(.type = ICMP_DEST_UNREACH, .code = 1, .data = quote, .len = n));
    assert_int_equal(st_tcp_state(c.fd), ESTABLISHED);
    expect_tcp_after(t, 300, .data = "x");
    expect_tcp_after(t, 600, .data = "x");
    advance_past(t, 1200);
    /* ... and reported instead of ETIMEDOUT when the connection gives up, as Linux does. */
    char b;
    expect_errno(ust_recv(c.fd, &b, 1, 0), EHOSTUNREACH);
}

static void test_icmp_error_for_a_sequence_not_in_flight_is_ignored(void **state)
{
    struct st *t = *state;
    st_restart(t, "tcp_retries2=1", "tcp_tlp=0");
    struct conn c = conn_in_state(t, ESTABLISHED, .rtt_ms = 100);
    conn_send(&c, "x", 1);
    expect_tcp(t, .flags = ACK | PSH, .data = "x");
    uint8_t quote[64];
    size_t n = st_quote_last(t, quote, sizeof(quote), 8);
    quote[20 + 7] ^= 0x80;   /* the quoted sequence number, 2^31 away (RFC 5927 4.1) */
    feed(t, icmp(.type = ICMP_DEST_UNREACH, .code = 1, .data = quote, .len = n));
    expect_tcp_after(t, 300, .data = "x");
    advance_past(t, 600);
    char b;
    expect_errno(ust_recv(c.fd, &b, 1, 0), ETIMEDOUT);
}

/* ---- Karn and timestamps ---- */

static void test_ack_of_a_retransmission_keeps_the_backoff_without_timestamps(void **state)
{
    struct st *t = *state;
    struct conn c = reno_conn(t, false, false);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    fill(2 * MSS);
    conn_send(&c, payload, 2 * MSS);
    expect_tcp(t, .seq = L, .len = MSS);
    expect_tcp(t, .seq = L + MSS, .len = MSS);
    expect_tcp_after(t, 300, .seq = L, .len = MSS);   /* RTO: the first again, cwnd 1 */
    expect_no_tx(t);
    advance(t, 50);
    /* The ACK of the retransmitted segment is ambiguous (Karn, RFC 6298 3): no sample, and
     * the backed-off RTO stays until a valid one (RFC 6298 5, as Linux's tcp_ack_update_rtt:
     * "only reset backoff on valid RTT measurement"). The go-back sends the second. */
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L + MSS));
    expect_tcp(t, .seq = L + MSS, .len = MSS);
    struct ust_tcp_info i = st_tcp_info(c.fd);
    assert_int_equal(i.srtt_us, 100000);
    assert_int_equal(i.backoff, 1);
    assert_int_equal(i.rto_us, 600000);
    expect_tcp_after(t, 600, .seq = L + MSS, .len = MSS);
}

static void test_timestamps_give_an_rtt_sample_for_a_retransmission(void **state)
{
    struct st *t = *state;
    struct conn c = reno_conn(t, false, true);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    conn_send(&c, "x", 1);
    expect_tcp(t, .seq = L, .data = "x");
    const struct st_rx *rx = expect_tcp_after(t, 300, .seq = L, .data = "x",
                                              .tsval = conn_tsval(&c) + 300);
    uint32_t echoed = rx->tcp.opt.ts_val;
    advance(t, 50);
    /* RFC 7323 4.1: the echo of the retransmission's TSval is unambiguous: a 50 ms sample.
     * RTTVAR = 3/4 50 + 1/4 |100 - 50| = 50 ms; SRTT = 7/8 100 + 1/8 50 = 93.75 ms. And a
     * valid sample ends the backoff. */
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L + 1, .tsval = c.peer_tsval + 1,
                .tsecr = echoed));
    struct ust_tcp_info i = st_tcp_info(c.fd);
    assert_int_equal(i.srtt_us, 93750);
    assert_int_equal(i.rttvar_us, 50000);
    assert_int_equal(i.backoff, 0);
    assert_int_equal(i.rto_us, 293750);
}

/* ---- After a timeout ---- */

static void test_rto_resends_from_snd_una_in_slow_start(void **state)
{
    struct st *t = *state;
    struct conn c = reno_conn(t, false, false);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    fill(5 * MSS);
    conn_send(&c, payload, 5 * MSS);
    for (int k = 0; k < 5; k++)
        expect_tcp(t, .seq = L + k * MSS, .len = MSS);
    /* RFC 5681 3.1 / RFC 6298 5.4: the first unacknowledged segment goes again, with a loss
     * window of one segment; ssthresh = max(flight / 2, 2 MSS) = 2500. */
    expect_tcp_after(t, 300, .seq = L, .len = MSS);
    expect_no_tx(t);
    struct ust_tcp_info i = st_tcp_info(c.fd);
    assert_int_equal(i.cwnd, MSS);
    assert_int_equal(i.ssthresh, 2500);
    assert_int_equal(i.in_recovery, 2);
    /* Each ACK grows the window by what it acknowledges (slow start): two more go. */
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L + MSS));
    expect_tcp(t, .seq = L + MSS, .len = MSS);
    expect_tcp(t, .seq = L + 2 * MSS, .len = MSS);
    expect_no_tx(t);
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L + 3 * MSS));
    expect_tcp(t, .seq = L + 3 * MSS, .len = MSS);
    expect_tcp(t, .seq = L + 4 * MSS, .len = MSS, .flags = ACK | PSH);
    expect_no_tx(t);
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L + 5 * MSS));
    expect_no_tx(t);
    i = st_tcp_info(c.fd);
    assert_int_equal(i.in_recovery, 0);
    assert_int_equal(i.total_retrans, 5);
}

static void test_rto_does_not_resend_what_the_peer_sacked(void **state)
{
    struct st *t = *state;
    struct conn c = reno_conn(t, true, false);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    fill(5 * MSS);
    conn_send(&c, payload, 5 * MSS);
    for (int k = 0; k < 5; k++)
        expect_tcp(t, .seq = L + k * MSS, .len = MSS);
    /* The peer has the 2nd and 3rd: too few SACKed segments for loss at once, so RACK's
     * reordering timer (RFC 8985 6.3) runs out a quarter of min_RTT later (25 ms) and the
     * first is resent then, in fast recovery. */
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L, .nsack = 1,
                .sack = { { L + MSS, L + 3 * MSS } }));
    expect_no_tx(t);
    expect_tcp_after(t, 25, .seq = L, .len = MSS);
    expect_no_tx(t);
    assert_int_equal(counter(t, "tcp.rack_reo_timeouts"), 1);
    /* That is lost too: the RTO resends it once more. */
    expect_tcp_after(t, 300, .seq = L, .len = MSS);
    expect_no_tx(t);
    assert_int_equal(counter(t, "tcp.timeouts"), 1);
    /* The cumulative ACK covers the first; of the rest only the 4th and 5th go again. */
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L + MSS, .nsack = 1,
                .sack = { { L + MSS, L + 3 * MSS } }));
    expect_tcp(t, .seq = L + 3 * MSS, .len = MSS);
    expect_tcp(t, .seq = L + 4 * MSS, .len = MSS);
    expect_no_tx(t);
}

/* ---- Fast retransmit and NewReno (no SACK) ---- */

static void dupack(struct st *t, const struct conn *c, uint32_t ack)
{
    feed(t, tcp(.flags = ACK, .seq = c->irs + 1, .ack = ack));
}

static void test_three_duplicate_acks_trigger_fast_retransmit(void **state)
{
    struct st *t = *state;
    struct conn c = reno_conn(t, false, false);
    uint32_t L = c.iss + 1;
    fill(10 * MSS);
    conn_send(&c, payload, 10 * MSS);
    for (int k = 0; k < 10; k++)
        expect_tcp(t, .seq = L + k * MSS, .len = MSS);
    /* RFC 5681 3.2: two duplicates change nothing; the third resends the first segment at
     * once, with ssthresh = flight / 2. cwnd is PRR's (RFC 6937 3): the pipe (10 sent - 3
     * that left - 1 lost + 1 resent = 7) plus sndcnt, CEIL(1 * 5 / 10) - 1 resent = 0. */
    dupack(t, &c, L);
    dupack(t, &c, L);
    expect_no_tx(t);
    dupack(t, &c, L);
    expect_tcp(t, .flags = ACK, .seq = L, .len = MSS);
    expect_no_tx(t);
    struct ust_tcp_info i = st_tcp_info(c.fd);
    assert_int_equal(i.in_recovery, 1);
    assert_int_equal(i.ssthresh, 5 * MSS);
    assert_int_equal(i.cwnd, 7 * MSS);
    assert_int_equal(counter(t, "tcp.fast_retrans"), 1);
    assert_int_equal(counter(t, "tcp.reno_recoveries"), 1);
    /* More duplicates: each says a segment left the network (RFC 6582 3.2 step 4); with no new
     * data queued, nothing more to send and no second retransmission. */
    for (int k = 0; k < 5; k++)
        dupack(t, &c, L);
    expect_no_tx(t);
    assert_int_equal(counter(t, "tcp.retrans_segs"), 1);
}

static void test_dupacks_during_recovery_clock_out_new_data(void **state)
{
    struct st *t = *state;
    struct conn c = reno_conn(t, false, false);
    uint32_t L = c.iss + 1;
    fill(12 * MSS);
    conn_send(&c, payload, 12 * MSS);   /* ten go (IW10), two wait for the window */
    for (int k = 0; k < 10; k++)
        expect_tcp(t, .seq = L + k * MSS, .len = MSS);
    expect_no_tx(t);
    for (int k = 0; k < 3; k++)
        dupack(t, &c, L);
    expect_tcp(t, .seq = L, .len = MSS);   /* fast retransmit */
    /* Proportional Rate Reduction (RFC 6937 3, as Linux's tcp_cwnd_reduction): pipe = 10 sent
     * - 3 that left - 1 lost + 1 resent = 7. Above ssthresh (5), what may go since recovery
     * began is CEIL(delivered * 5 / 10): the 4th duplicate (2 delivered, 1 sent) sends
     * nothing; the 5th brings the pipe to ssthresh; from there the reduction bound (SSRB)
     * holds it at ssthresh: one new segment for each that leaves (6th, 7th). */
    dupack(t, &c, L);
    dupack(t, &c, L);
    expect_no_tx(t);
    dupack(t, &c, L);
    expect_tcp(t, .seq = L + 10 * MSS, .len = MSS);
    expect_no_tx(t);
    dupack(t, &c, L);
    expect_tcp(t, .seq = L + 11 * MSS, .len = MSS, .flags = ACK | PSH);
    expect_no_tx(t);
}

static void test_newreno_partial_ack_resends_the_next_hole_at_once(void **state)
{
    struct st *t = *state;
    struct conn c = reno_conn(t, false, false);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    fill(10 * MSS);
    conn_send(&c, payload, 10 * MSS);
    for (int k = 0; k < 10; k++)
        expect_tcp(t, .seq = L + k * MSS, .len = MSS);
    for (int k = 0; k < 3; k++)
        dupack(t, &c, L);
    expect_tcp(t, .seq = L, .len = MSS);
    /* Segments 1-3 arrive, 4 was lost too: the partial ACK (below RecoveryPoint = L + 10000)
     * resends segment 4 at once, without waiting for three more duplicates (RFC 6582 3.2
     * step 5). */
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L + 3 * MSS));
    expect_tcp(t, .seq = L + 3 * MSS, .len = MSS);
    expect_no_tx(t);
    assert_int_equal(st_tcp_info(c.fd).in_recovery, 1);
    /* Another partial ACK: segment 7 is next. */
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L + 6 * MSS));
    expect_tcp(t, .seq = L + 6 * MSS, .len = MSS);
    expect_no_tx(t);
    /* The full ACK ends recovery: cwnd deflates to ssthresh (RFC 6582 3.2 step 3). */
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L + 10 * MSS));
    expect_no_tx(t);
    struct ust_tcp_info i = st_tcp_info(c.fd);
    assert_int_equal(i.in_recovery, 0);
    assert_int_equal(i.cwnd, 5 * MSS);
    assert_int_equal(i.ssthresh, 5 * MSS);
    assert_int_equal(counter(t, "tcp.retrans_segs"), 3);
    assert_int_equal(counter(t, "tcp.timeouts"), 0);
}

static void test_window_update_is_not_a_duplicate_ack(void **state)
{
    struct st *t = *state;
    struct conn c = reno_conn(t, false, false);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    fill(4 * MSS);
    conn_send(&c, payload, 4 * MSS);
    for (int k = 0; k < 4; k++)
        expect_tcp(t, .seq = L + k * MSS, .len = MSS);
    /* RFC 5681 2 (the window changed) and segments with data are not duplicates. */
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L, .window = 60000));
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L, .window = 50000));
    feed(t, tcp(.flags = ACK | PSH, .seq = R, .ack = L, .window = 50000, .data = "d"));
    expect_tcp(t, .flags = ACK, .ack = R + 1, .len = 0);
    feed(t, tcp(.flags = ACK, .seq = R + 1, .ack = L, .window = 40000));
    expect_no_tx(t);
    assert_int_equal(counter(t, "tcp.fast_retrans"), 0);
}

/* ---- SACK recovery (RFC 6675) ---- */

static void sack_ack(struct st *t, const struct conn *c, uint32_t ack, unsigned n,
                     const struct tcp_sack_block *b)
{
    struct st_frame f = tcp(.flags = ACK, .seq = c->irs + 1, .ack = ack, .nsack = (uint8_t)n);
    memcpy(f.sack, b, n * sizeof(*b));
    feed(t, f);
}

#define SEG(k) (L + ((k) - 1) * MSS)   /* segment k's first byte, 1-based */

static void test_sack_recovery_resends_exactly_the_holes(void **state)
{
    struct st *t = *state;
    struct conn c = reno_conn(t, true, false);
    uint32_t L = c.iss + 1;
    fill(10 * MSS);
    conn_send(&c, payload, 10 * MSS);
    for (int k = 1; k <= 10; k++)
        expect_tcp(t, .seq = SEG(k), .len = MSS);
    /* Segments 1 and 5 are lost. Two SACKed segments above the first: not yet (RACK's
     * reordering window, a quarter of min_RTT, has not passed; it is zero once DupThresh = 3
     * segments, more than 2 * SMSS bytes, are SACKed: RFC 8985 6.2 step 4, RFC 6675 4). */
    sack_ack(t, &c, L, 1, (struct tcp_sack_block[]){ { SEG(2), SEG(3) } });
    sack_ack(t, &c, L, 1, (struct tcp_sack_block[]){ { SEG(2), SEG(4) } });
    expect_no_tx(t);
    sack_ack(t, &c, L, 1, (struct tcp_sack_block[]){ { SEG(2), SEG(5) } });
    expect_tcp(t, .seq = SEG(1), .len = MSS);
    expect_no_tx(t);
    assert_int_equal(counter(t, "tcp.sack_recoveries"), 1);
    /* Segment 6 SACKed: in recovery, with no reordering seen, RACK's reordering window is
     * zero (RFC 8985 6.2 step 4), so segment 5, sent before it, is lost at once (as Linux;
     * RFC 6675's IsLost alone would wait for a third SACKed segment above it). */
    sack_ack(t, &c, L, 2, (struct tcp_sack_block[]){ { SEG(6), SEG(8) }, { SEG(2), SEG(5) } });
    expect_tcp(t, .seq = SEG(5), .len = MSS);
    expect_no_tx(t);
    sack_ack(t, &c, L, 2, (struct tcp_sack_block[]){ { SEG(6), SEG(9) }, { SEG(2), SEG(5) } });
    expect_no_tx(t);
    sack_ack(t, &c, L, 2, (struct tcp_sack_block[]){ { SEG(6), SEG(11) }, { SEG(2), SEG(5) } });
    expect_no_tx(t);
    struct ust_tcp_info i = st_tcp_info(c.fd);
    assert_int_equal(i.sacked, 8 * MSS);
    assert_int_equal(i.retrans, 2 * MSS);
    /* The retransmissions arrive: cumulative ACKs, recovery over, nothing else resent. */
    sack_ack(t, &c, SEG(5), 1, (struct tcp_sack_block[]){ { SEG(6), SEG(11) } });
    expect_no_tx(t);
    feed(t, tcp(.flags = ACK, .seq = c.irs + 1, .ack = SEG(11)));
    expect_no_tx(t);
    i = st_tcp_info(c.fd);
    assert_int_equal(i.in_recovery, 0);
    assert_int_equal(i.sacked, 0);
    assert_int_equal(i.total_retrans, 2);
    assert_int_equal(counter(t, "tcp.timeouts"), 0);
}

static void test_sack_recovery_with_three_holes_in_one_ack(void **state)
{
    struct st *t = *state;
    struct conn c = reno_conn(t, true, false);
    uint32_t L = c.iss + 1;
    fill(10 * MSS);
    conn_send(&c, payload, 10 * MSS);
    for (int k = 1; k <= 10; k++)
        expect_tcp(t, .seq = SEG(k), .len = MSS);
    /* One ACK reports 2, 4 and 6-10: holes at 1 and 3 have 3+ SACKed segments above; 5 has
     * five. All three are lost; the pipe (10 - 7 SACKed - 3 lost = 0) lets all three go, in
     * sequence order (NextSeg rule 1), and nothing else. */
    sack_ack(t, &c, L, 3, (struct tcp_sack_block[]){ { SEG(6), SEG(11) }, { SEG(4), SEG(5) },
                                                     { SEG(2), SEG(3) } });
    expect_tcp(t, .seq = SEG(1), .len = MSS);
    expect_tcp(t, .seq = SEG(3), .len = MSS);
    expect_tcp(t, .seq = SEG(5), .len = MSS);
    expect_no_tx(t);
}

/* ---- Proportional Rate Reduction (RFC 6937) ---- */

static void test_prr_spreads_sending_over_the_recovery(void **state)
{
    struct st *t = *state;
    struct conn c = reno_conn(t, true, false);
    uint32_t L = c.iss + 1;
    fill(20 * MSS);
    conn_send(&c, payload, 20 * MSS);   /* ten go (IW10) */
    for (int k = 1; k <= 10; k++)
        expect_tcp(t, .seq = SEG(k), .len = MSS);
    expect_no_tx(t);
    /* Segment 1 lost; the SACKs of 2-4 start recovery: ssthresh = 5, RecoverFS = the window
     * before, 10. RFC 6937 3: while the pipe is above ssthresh, the segments sent since
     * recovery began (prr_out) may reach CEIL(delivered * 5 / 10), one for every second
     * segment delivered: 3 delivered, 2 go (the fast retransmission and a new segment). */
    sack_ack(t, &c, L, 1, (struct tcp_sack_block[]){ { SEG(2), SEG(5) } });
    expect_tcp(t, .seq = SEG(1), .len = MSS);
    expect_tcp(t, .seq = SEG(11), .len = MSS);
    expect_no_tx(t);
    assert_int_equal(st_tcp_info(c.fd).ssthresh, 5 * MSS);
    sack_ack(t, &c, L, 1, (struct tcp_sack_block[]){ { SEG(2), SEG(6) } });   /* 4: 2 */
    expect_no_tx(t);
    sack_ack(t, &c, L, 1, (struct tcp_sack_block[]){ { SEG(2), SEG(7) } });   /* 5: 3 */
    expect_tcp(t, .seq = SEG(12), .len = MSS);
    expect_no_tx(t);
    sack_ack(t, &c, L, 1, (struct tcp_sack_block[]){ { SEG(2), SEG(8) } });   /* 6: 3 */
    expect_no_tx(t);
    /* The pipe (12 sent - 7 SACKed - 1 lost + 1 resent = 5) is down to ssthresh: from here
     * the reduction bound holds it there, one segment out for each one that leaves. */
    sack_ack(t, &c, L, 1, (struct tcp_sack_block[]){ { SEG(2), SEG(9) } });
    expect_no_tx(t);
    sack_ack(t, &c, L, 1, (struct tcp_sack_block[]){ { SEG(2), SEG(10) } });
    expect_tcp(t, .seq = SEG(13), .len = MSS);
    expect_no_tx(t);
    sack_ack(t, &c, L, 1, (struct tcp_sack_block[]){ { SEG(2), SEG(11) } });
    expect_tcp(t, .seq = SEG(14), .len = MSS);
    expect_no_tx(t);
    /* The retransmission arrives: recovery ends with cwnd = ssthresh (as it began: the
     * sending rate came down gradually, not by a pause). */
    feed(t, tcp(.flags = ACK, .seq = c.irs + 1, .ack = SEG(15)));
    struct ust_tcp_info i = st_tcp_info(c.fd);
    assert_int_equal(i.in_recovery, 0);
    assert_int_equal(i.cwnd, 5 * MSS);
    for (int k = 15; k <= 19; k++)
        expect_tcp(t, .seq = SEG(k), .len = MSS);
    expect_no_tx(t);
    assert_int_equal(counter(t, "tcp.retrans_segs"), 1);
}

static void test_prr_slow_starts_the_repair_after_heavy_loss(void **state)
{
    struct st *t = *state;
    struct conn c = reno_conn(t, true, false);
    uint32_t L = c.iss + 1;
    fill(10 * MSS);
    conn_send(&c, payload, 10 * MSS);
    for (int k = 1; k <= 10; k++)
        expect_tcp(t, .seq = SEG(k), .len = MSS);
    /* Segments 1-7 lost; one ACK SACKs 8-10: all seven are deemed lost, the pipe is 0
     * (3 delivered, 7 lost) and then 1 with the fast retransmission. Below ssthresh, RFC
     * 6937's slow-start reduction bound sends at most what was delivered (3) beyond what
     * was sent, and no more than ssthresh - pipe: 3 more, 4 in all (RFC 6675 alone would
     * fill cwnd = ssthresh, 5, at once). */
    sack_ack(t, &c, L, 1, (struct tcp_sack_block[]){ { SEG(8), SEG(11) } });
    for (int k = 1; k <= 4; k++)
        expect_tcp(t, .seq = SEG(k), .len = MSS);
    expect_no_tx(t);
    /* Segments 1 and 2 arrive (SND.UNA advances, no new loss): 2 delivered, pipe 2: the
     * bound is 2 + 1 (the ACK advanced SND.UNA, Linux's rule), room is 5 - 2 = 3. */
    feed(t, tcp(.flags = ACK, .seq = c.irs + 1, .ack = SEG(3), .nsack = 1,
                .sack = { { SEG(8), SEG(11) } }));
    for (int k = 5; k <= 7; k++)
        expect_tcp(t, .seq = SEG(k), .len = MSS);
    expect_no_tx(t);
    assert_int_equal(counter(t, "tcp.timeouts"), 0);
}

static void test_sack_blocks_outside_what_was_sent_are_ignored(void **state)
{
    struct st *t = *state;
    struct conn c = reno_conn(t, true, false);
    uint32_t L = c.iss + 1;
    fill(4 * MSS);
    conn_send(&c, payload, 4 * MSS);
    for (int k = 1; k <= 4; k++)
        expect_tcp(t, .seq = SEG(k), .len = MSS);
    /* Beyond SND.NXT, reversed, or empty: none marks anything (a hostile peer cannot make us
     * think unsent data arrived, nor trigger recovery). */
    sack_ack(t, &c, L, 3, (struct tcp_sack_block[]){ { SEG(2), SEG(6) }, { SEG(4), SEG(2) },
                                                     { SEG(3), SEG(3) } });
    expect_no_tx(t);
    assert_int_equal(st_tcp_info(c.fd).sacked, 0);
}


/* ---- RACK-TLP (RFC 8985) ---- */

static void test_rack_detects_a_lost_retransmission_without_an_rto(void **state)
{
    struct st *t = *state;
    struct conn c = reno_conn(t, true, false);
    uint32_t L = c.iss + 1;
    fill(12 * MSS);
    conn_send(&c, payload, 12 * MSS);   /* ten go (IW10), two wait */
    for (int k = 1; k <= 10; k++)
        expect_tcp(t, .seq = SEG(k), .len = MSS);
    expect_no_tx(t);
    /* Segment 1 lost: three SACKed above it, so it goes at once (6.2 step 4: zero window),
     * with one new segment: PRR (RFC 6937) lets CEIL(3 delivered * 5 / 10) = 2 go. */
    sack_ack(t, &c, L, 1, (struct tcp_sack_block[]){ { SEG(2), SEG(5) } });
    expect_tcp(t, .seq = SEG(1), .len = MSS);
    expect_tcp(t, .seq = SEG(11), .len = MSS);
    expect_no_tx(t);
    /* The rest arrive; the pipe is below ssthresh and the last new segment goes. Segment 11
     * went at the same instant as the retransmission, so its SACK says nothing about it. */
    advance(t, 10);
    sack_ack(t, &c, L, 1, (struct tcp_sack_block[]){ { SEG(2), SEG(12) } });
    expect_tcp(t, .seq = SEG(12), .len = MSS);
    expect_no_tx(t);
    /* Segment 12, sent after the retransmission of 1, is SACKed while 1 is not: the
     * retransmission was lost as well (RFC 8985 2.2, 6.2 step 5), and goes again now rather
     * than after an RTO. */
    advance(t, 50);
    sack_ack(t, &c, L, 1, (struct tcp_sack_block[]){ { SEG(2), SEG(13) } });
    expect_tcp(t, .seq = SEG(1), .len = MSS);
    expect_no_tx(t);
    assert_int_equal(counter(t, "tcp.timeouts"), 0);
    assert_int_equal(counter(t, "tcp.retrans_segs"), 2);
    assert_int_equal(counter(t, "tcp.sack_recoveries"), 1);
}

static void test_rack_waits_a_reordering_window_once_reordering_is_seen(void **state)
{
    struct st *t = *state;
    struct conn c = reno_conn(t, true, false);
    uint32_t L = c.iss + 1;
    fill(10 * MSS);
    conn_send(&c, payload, 10 * MSS);
    for (int k = 1; k <= 10; k++)
        expect_tcp(t, .seq = SEG(k), .len = MSS);
    /* Segment 2 arrives after 3: delivered below the highest delivered, never resent, so
     * that is reordering (RFC 8985 6.2 step 3). */
    sack_ack(t, &c, L, 1, (struct tcp_sack_block[]){ { SEG(3), SEG(4) } });
    feed(t, tcp(.flags = ACK, .seq = c.irs + 1, .ack = SEG(4)));
    expect_no_tx(t);
    /* Now three segments SACKed above a hole are not enough: the hole gets a quarter of
     * min_RTT (25 ms) from its transmission before it counts as lost. */
    sack_ack(t, &c, SEG(4), 1, (struct tcp_sack_block[]){ { SEG(5), SEG(8) } });
    expect_no_tx(t);
    expect_tcp_after(t, 25, .seq = SEG(4), .len = MSS);
    expect_no_tx(t);
}

static void test_tlp_resends_the_last_segment_after_two_rtts(void **state)
{
    struct st *t = *state;
    struct conn c = reno_conn(t, true, false);
    uint32_t L = c.iss + 1;
    fill(3 * MSS);
    conn_send(&c, payload, 3 * MSS);
    for (int k = 1; k <= 3; k++)
        expect_tcp(t, .seq = SEG(k), .len = MSS);
    /* RFC 8985 7.2: PTO = 2 * SRTT (+ 2 ms, as Linux, with more than one segment out) = 202
     * ms, before the 300 ms RTO; with no new data, the probe is the last segment (7.3). */
    expect_tcp_after(t, 202, .seq = SEG(3), .len = MSS);
    expect_no_tx(t);
    assert_int_equal(counter(t, "tcp.tlp_probes"), 1);
    /* Its SACK, an RTT later, shows 1 and 2 missing: sent more than RACK.rtt + reo_wnd (100
     * + 25 ms) before the probe, they are lost, and fast recovery resends both instead of
     * waiting for the RTO. */
    advance(t, 100);
    sack_ack(t, &c, L, 1, (struct tcp_sack_block[]){ { SEG(3), SEG(4) } });
    expect_tcp(t, .seq = SEG(1), .len = MSS);
    expect_tcp(t, .seq = SEG(2), .len = MSS);
    expect_no_tx(t);
    assert_int_equal(counter(t, "tcp.timeouts"), 0);
    assert_int_equal(st_tcp_info(c.fd).in_recovery, 1);
}

static void test_tlp_with_a_flight_out_resends_its_last_segment(void **state)
{
    struct st *t = *state;
    struct conn c = reno_conn(t, true, false);
    fill(12 * MSS);
    uint32_t L = c.iss + 1;
    conn_send(&c, payload, 11 * MSS);   /* ten go (IW10) */
    for (int k = 1; k <= 10; k++)
        expect_tcp(t, .seq = SEG(k), .len = MSS);
    expect_no_tx(t);
    /* Ten out and silence: most likely the peer's ACK of them was lost. The probe is the last
     * segment again (tcp_tlp_resend; RFC 8985 7.3 would send segment 11), which the peer has
     * and answers at once (RFC 9293 3.10.7.4), where a new segment alone would wait for its
     * delayed ACK. */
    expect_tcp_after(t, 202, .seq = SEG(10), .len = MSS);
    expect_no_tx(t);
    assert_int_equal(counter(t, "tcp.tlp_probes"), 1);
    /* The answer: everything arrived, and a D-SACK for the probe's copy. Nothing was lost
     * (7.4): no recovery, the window stays, and the new data goes. */
    advance(t, 100);
    sack_ack(t, &c, SEG(11), 1, (struct tcp_sack_block[]){ { SEG(10), SEG(11) } });
    expect_tcp(t, .seq = SEG(11), .len = MSS);
    expect_no_tx(t);
    struct ust_tcp_info i = st_tcp_info(c.fd);
    assert_int_equal(i.in_recovery, 0);
    assert_true(i.cwnd >= 10 * MSS);
    assert_int_equal(counter(t, "tcp.tlp_losses"), 0);
    assert_int_equal(counter(t, "tcp.timeouts"), 0);
}

static void test_tlp_resend_off_sends_new_data_then_the_rto_follows(void **state)
{
    struct st *t = *state;
    st_restart(t, "tcp_cc=newreno", "tcp_tlp_resend=0");
    struct conn c = conn_in_state(t, ESTABLISHED, .peer_mss = MSS, .peer_ws = -1,
                                  .peer_sack = true, .rtt_ms = 100);
    fill(11 * MSS);
    uint32_t L = c.iss + 1;
    conn_send(&c, payload, 11 * MSS);   /* ten go (IW10) */
    for (int k = 1; k <= 10; k++)
        expect_tcp(t, .seq = SEG(k), .len = MSS);
    expect_no_tx(t);
    /* RFC 8985 7.3, as Linux: the probe is new data when there is some, whatever cwnd says. */
    expect_tcp_after(t, 202, .seq = SEG(11), .len = MSS);
    expect_no_tx(t);
    /* One probe per episode: then the RTO, from the probe. */
    expect_tcp_after(t, 300, .seq = SEG(1), .len = MSS);
    assert_int_equal(counter(t, "tcp.tlp_probes"), 1);
    assert_int_equal(counter(t, "tcp.timeouts"), 1);
}

static void test_tlp_with_one_segment_out_sends_new_data(void **state)
{
    struct st *t = *state;
    struct conn c = reno_conn(t, true, false);
    uint32_t L = c.iss + 1;
    fill(200);
    conn_send(&c, payload, 100);
    expect_tcp(t, .seq = L, .len = 100);
    conn_send(&c, payload + 100, 100);   /* Nagle holds it: a small segment is out */
    expect_no_tx(t);
    /* One segment out: the peer may be holding its delayed ACK for it, which a second segment
     * releases (RFC 5681 4.2), so the probe is the new data (RFC 8985 7.3). The PTO, 2 * SRTT
     * + the worst-case delayed ACK (7.2), is capped by the RTO: 300 ms. */
    expect_tcp_after(t, 300, .seq = L + 100, .len = 100);
    expect_no_tx(t);
    assert_int_equal(counter(t, "tcp.tlp_probes"), 1);
}

/* Recovery: segment 1 lost and resent; the rest SACKed, then the ACKs stop (the one for the
 * retransmission was lost). Returns with the last SACK just fed. */
static struct conn recovery_then_silence(struct st *t)
{
    struct conn c = conn_in_state(t, ESTABLISHED, .peer_mss = MSS, .peer_ws = -1,
                                  .peer_sack = true, .rtt_ms = 100);
    uint32_t L = c.iss + 1;
    fill(10 * MSS);
    conn_send(&c, payload, 10 * MSS);
    for (int k = 1; k <= 10; k++)
        expect_tcp(t, .seq = SEG(k), .len = MSS);
    sack_ack(t, &c, L, 1, (struct tcp_sack_block[]){ { SEG(2), SEG(5) } });
    expect_tcp(t, .seq = SEG(1), .len = MSS);
    advance(t, 10);
    sack_ack(t, &c, L, 1, (struct tcp_sack_block[]){ { SEG(2), SEG(11) } });
    expect_no_tx(t);
    assert_int_equal(st_tcp_info(c.fd).in_recovery, 1);
    return c;
}

static void test_tlp_in_recovery_when_the_acks_stop(void **state)
{
    struct st *t = *state;
    st_restart(t, "tcp_cc=newreno");
    struct conn c = recovery_then_silence(t);
    uint32_t L = c.iss + 1;
    /* tcp_tlp_recovery (a departure from RFC 8985 7.2 and Linux, which leave this to the RTO):
     * a PTO (2 * SRTT + 2 ms) after the last ACK, the probe resends the last segment the peer
     * has not SACKed, here the retransmission of segment 1. */
    expect_tcp_after(t, 202, .seq = SEG(1), .len = MSS);
    expect_no_tx(t);
    assert_int_equal(counter(t, "tcp.tlp_probes"), 1);
    /* The retransmission had arrived: everything is acknowledged, the copy D-SACKed. */
    advance(t, 100);
    sack_ack(t, &c, SEG(11), 1, (struct tcp_sack_block[]){ { SEG(1), SEG(2) } });
    expect_no_tx(t);
    assert_int_equal(st_tcp_info(c.fd).in_recovery, 0);
    assert_int_equal(counter(t, "tcp.timeouts"), 0);
    assert_int_equal(counter(t, "tcp.tlp_losses"), 0);
}

static void test_tlp_recovery_off_leaves_the_silence_to_the_rto(void **state)
{
    struct st *t = *state;
    st_restart(t, "tcp_cc=newreno", "tcp_tlp_recovery=0");
    struct conn c = recovery_then_silence(t);
    uint32_t L = c.iss + 1;
    /* RFC 8985 7.2, as Linux: no probe in recovery; the RTO (300 ms, armed when recovery
     * began, 10 ms ago) resends segment 1. */
    expect_tcp_after(t, 290, .seq = SEG(1), .len = MSS);
    assert_int_equal(counter(t, "tcp.tlp_probes"), 0);
    assert_int_equal(counter(t, "tcp.timeouts"), 1);
}

static void test_tlp_is_off_without_sack(void **state)
{
    struct st *t = *state;
    struct conn c = reno_conn(t, false, false);
    uint32_t L = c.iss + 1;
    fill(3 * MSS);
    conn_send(&c, payload, 3 * MSS);
    for (int k = 1; k <= 3; k++)
        expect_tcp(t, .seq = SEG(k), .len = MSS);
    expect_tcp_after(t, 300, .seq = SEG(1), .len = MSS);   /* the RTO, as before */
    assert_int_equal(counter(t, "tcp.tlp_probes"), 0);
}

/* ---- D-SACK from the peer (RFC 2883) ---- */

static void test_dsack_received_is_counted_and_marks_nothing(void **state)
{
    struct st *t = *state;
    struct conn c = reno_conn(t, true, false);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    fill(3 * MSS);
    conn_send(&c, payload, 3 * MSS);
    for (int k = 1; k <= 3; k++)
        expect_tcp(t, .seq = SEG(k), .len = MSS);
    feed(t, tcp(.flags = ACK, .seq = R, .ack = SEG(2)));
    /* RFC 2883 4: a first block below the cumulative ACK reports a duplicate. */
    sack_ack(t, &c, SEG(2), 1, (struct tcp_sack_block[]){ { SEG(1), SEG(2) } });
    /* Or a first block inside the second. */
    sack_ack(t, &c, SEG(2), 2,
             (struct tcp_sack_block[]){ { SEG(3), SEG(3) + 500 }, { SEG(3), SEG(4) } });
    expect_no_tx(t);
    assert_int_equal(counter(t, "tcp.dsack_recv"), 2);
    struct ust_tcp_info i = st_tcp_info(c.fd);
    assert_int_equal(i.sacked, MSS);   /* the second block of the last ACK */
    assert_int_equal(i.in_recovery, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, st_setup, st_teardown)
        T(test_rto_follows_rfc6298_from_the_handshake_sample),
        T(test_rto_doubles_to_the_maximum_then_etimedout),
        T(test_min_and_max_rto_are_configurable),
        T(test_tcp_user_timeout_bounds_the_retransmissions),
        T(test_timeout_reports_the_last_icmp_error),
        T(test_icmp_error_for_a_sequence_not_in_flight_is_ignored),
        T(test_ack_of_a_retransmission_keeps_the_backoff_without_timestamps),
        T(test_timestamps_give_an_rtt_sample_for_a_retransmission),
        T(test_rto_resends_from_snd_una_in_slow_start),
        T(test_rto_does_not_resend_what_the_peer_sacked),
        T(test_three_duplicate_acks_trigger_fast_retransmit),
        T(test_dupacks_during_recovery_clock_out_new_data),
        T(test_newreno_partial_ack_resends_the_next_hole_at_once),
        T(test_window_update_is_not_a_duplicate_ack),
        T(test_rack_detects_a_lost_retransmission_without_an_rto),
        T(test_rack_waits_a_reordering_window_once_reordering_is_seen),
        T(test_tlp_resends_the_last_segment_after_two_rtts),
        T(test_tlp_with_a_flight_out_resends_its_last_segment),
        T(test_tlp_resend_off_sends_new_data_then_the_rto_follows),
        T(test_tlp_with_one_segment_out_sends_new_data),
        T(test_tlp_is_off_without_sack),
        T(test_tlp_in_recovery_when_the_acks_stop),
        T(test_tlp_recovery_off_leaves_the_silence_to_the_rto),
        T(test_sack_recovery_resends_exactly_the_holes),
        T(test_sack_recovery_with_three_holes_in_one_ack),
        T(test_sack_blocks_outside_what_was_sent_are_ignored),
        T(test_prr_spreads_sending_over_the_recovery),
        T(test_prr_slow_starts_the_repair_after_heavy_loss),
        T(test_dsack_received_is_counted_and_marks_nothing),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
