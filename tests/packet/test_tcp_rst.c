/*
 * Resets and acceptability (RFC 9293 3.5.2, 3.10.7.1, 3.10.7.4 first to fifth checks) with the
 * protections of RFC 5961: only an RST at exactly RCV.NXT resets; one elsewhere in the window
 * draws a challenge ACK, one outside is dropped silently; a SYN in a synchronized state draws a
 * challenge ACK; challenge ACKs are rate limited; an ACK of data never sent, or far older than
 * SND.UNA, is answered and its segment dropped. And the resets a closed port sends.
 */
#include "tcptest.h"

#include <poll.h>

/* ---- RST in a synchronized state ---- */

static void test_rst_in_window_gets_a_challenge_ack(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    /* RFC 5961 3.2: in the window but not RCV.NXT: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>. */
    feed(t, tcp(.flags = RST, .seq = R + 1));
    expect_tcp(t, .flags = ACK, .seq = L, .ack = R, .window = ST_WIN, .len = 0);
    feed(t, tcp(.flags = RST | ACK, .seq = R + 60000, .ack = L));
    expect_tcp(t, .flags = ACK, .seq = L, .ack = R);
    expect_no_tx(t);
    assert_int_equal(st_tcp_state(c.fd), ESTABLISHED);
    assert_int_equal(counter(t, "tcp.challenge_acks"), 2);
    assert_int_equal(counter(t, "tcp.in_rsts"), 0);
}

static void test_rst_at_rcv_nxt_resets_with_econnreset(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t R = c.irs + 1;
    feed(t, tcp(.flags = RST, .seq = R));
    expect_no_tx(t);
    assert_int_equal(st_tcp_state(c.fd), CLOSED);
    char b;
    expect_errno(ust_recv(c.fd, &b, 1, 0), ECONNRESET);
    /* The error is reported once; then the connection reads as ended (as Linux). */
    assert_int_equal(ust_recv(c.fd, &b, 1, 0), 0);
    expect_errno(ust_send(c.fd, "x", 1, MSG_NOSIGNAL), EPIPE);
    assert_int_equal(counter(t, "tcp.in_rsts"), 1);
    assert_int_equal(counter(t, "tcp.estab_resets"), 1);
    assert_int_equal(tcp_connection_count(t->s), 0);
}

static void test_rst_after_data_wraps_at_rcv_nxt(void **state)
{
    struct st *t = *state;
    /* The peer's ISN is 256 bytes below 2^32: after 300 bytes RCV.NXT has wrapped. */
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    uint8_t data[300];
    st_pattern(data, sizeof(data), 0);
    feed(t, tcp(.flags = ACK | PSH, .seq = R, .ack = L, .data = data, .len = sizeof(data)));
    expect_tcp(t, .flags = ACK, .ack = R + 300);
    assert_true(R + 300 < R);   /* wrapped */
    feed(t, tcp(.flags = RST, .seq = R + 299));    /* one below RCV.NXT: outside, dropped */
    expect_no_tx(t);
    feed(t, tcp(.flags = RST, .seq = R + 301));    /* one above: in the window, a challenge */
    expect_tcp(t, .flags = ACK, .ack = R + 300);
    feed(t, tcp(.flags = RST, .seq = R + 300));
    expect_no_tx(t);
    assert_int_equal(st_tcp_state(c.fd), CLOSED);
}

static void test_rst_outside_the_window_is_dropped_silently(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t R = c.irs + 1;
    /* RFC 5961 3.2 / RFC 9293 3.10.7.4: below RCV.NXT, or at or beyond RCV.NXT + RCV.WND. */
    feed(t, tcp(.flags = RST, .seq = R - 1));
    feed(t, tcp(.flags = RST, .seq = R - 100000));
    feed(t, tcp(.flags = RST, .seq = R + ST_RCVBUF + 1));
    feed(t, tcp(.flags = RST | ACK, .seq = R + 0x80000000u, .ack = c.iss + 1));
    expect_no_tx(t);
    assert_int_equal(st_tcp_state(c.fd), ESTABLISHED);
    assert_int_equal(counter(t, "tcp.challenge_acks"), 0);
}

static void test_rst_is_exempt_from_paws(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED, .peer_ts = true);
    /* RFC 7323 5.2: an RST with an old timestamp still counts (if at RCV.NXT). */
    feed(t, tcp(.flags = RST, .seq = c.irs + 1, .tsval = c.peer_tsval - 1000, .tsecr = 0));
    expect_no_tx(t);
    assert_int_equal(st_tcp_state(c.fd), CLOSED);
}

static void test_rst_in_close_wait_reports_epipe(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, CLOSE_WAIT);
    feed(t, tcp(.flags = RST, .seq = c.rcv_nxt));
    expect_no_tx(t);
    assert_int_equal(st_tcp_state(c.fd), CLOSED);
    /* As Linux's tcp_reset: EPIPE in CLOSE_WAIT, ECONNRESET elsewhere. */
    expect_errno(ust_send(c.fd, "x", 1, MSG_NOSIGNAL), EPIPE);
}

static void test_rst_in_fin_wait_1_closes(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, FIN_WAIT_1);
    feed(t, tcp(.flags = RST, .seq = c.rcv_nxt));
    expect_no_tx(t);
    assert_int_equal(st_tcp_state(c.fd), CLOSED);
    char b;
    expect_errno(ust_recv(c.fd, &b, 1, 0), ECONNRESET);
}

static void test_rst_closes_an_orphan_in_last_ack(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, LAST_ACK, .orphan = true);
    assert_int_equal(tcp_connection_count(t->s), 1);
    feed(t, tcp(.flags = RST, .seq = c.rcv_nxt));
    expect_no_tx(t);
    assert_int_equal(tcp_connection_count(t->s), 0);
}

/* ---- SYN in a synchronized state ---- */

static void test_syn_in_established_gets_a_challenge_ack(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    /* RFC 5961 4.2: whatever its sequence number, a challenge ACK; the connection stays. */
    feed(t, tcp(.flags = SYN, .seq = R + 5, .mss = 1460));
    expect_tcp(t, .flags = ACK, .seq = L, .ack = R, .len = 0);
    feed(t, tcp(.flags = SYN, .seq = c.irs, .mss = 1460));
    expect_tcp(t, .flags = ACK, .seq = L, .ack = R);
    feed(t, tcp(.flags = SYN | ACK, .seq = R, .ack = L));
    expect_tcp(t, .flags = ACK, .seq = L, .ack = R);
    /* Outside the window, above and below: still a challenge ACK (counted and rate limited
     * as one), not the plain ACK other unacceptable segments get. */
    feed(t, tcp(.flags = SYN, .seq = R + (1u << 30), .mss = 1460));
    expect_tcp(t, .flags = ACK, .seq = L, .ack = R);
    feed(t, tcp(.flags = SYN, .seq = R - 5000, .mss = 1460));
    expect_tcp(t, .flags = ACK, .seq = L, .ack = R);
    expect_no_tx(t);
    assert_int_equal(st_tcp_state(c.fd), ESTABLISHED);
    assert_int_equal(counter(t, "tcp.challenge_acks"), 5);
    assert_int_equal(counter(t, "tcp.outside_window"), 0);
}

static void test_syn_with_data_in_established_delivers_nothing(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    feed(t, tcp(.flags = SYN | ACK, .seq = R, .ack = L, .data = "evil"));
    expect_tcp(t, .flags = ACK, .seq = L, .ack = R);
    char b[8];
    expect_errno(ust_recv(c.fd, b, sizeof(b), 0), EAGAIN);
}

static void test_challenge_acks_are_rate_limited_per_second(void **state)
{
    struct st *t = *state;
    st_restart(t, "tcp_challenge_ack_limit=3");
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    /* RFC 5961 7: at most tcp_challenge_ack_limit per second, stack-wide (a deliberate
     * difference: Linux 6.x has no global limit by default, only a per-socket 0.5 s one for
     * out-of-window duplicate ACKs). Each second's budget is secret and random, between half
     * the limit and the limit (CVE-2016-5696; tcp_input.c): 2 or 3 here. */
    for (int i = 0; i < 5; i++)
        feed(t, tcp(.flags = RST, .seq = R + 10 + i));
    unsigned sent = 0;
    const struct st_rx *rx;
    while ((rx = st_take_tx(t)) != NULL) {
        assert_int_equal(rx->tcp.flags, ACK);
        assert_int_equal(rx->tcp.seq, L);
        assert_int_equal(rx->tcp.ack, R);
        sent++;
    }
    assert_in_range(sent, 2, 3);
    assert_int_equal(counter(t, "tcp.challenge_acks"), sent);
    assert_int_equal(counter(t, "tcp.challenge_limited"), 5 - sent);
    /* The SYN shares the budget. */
    feed(t, tcp(.flags = SYN, .seq = R + 3));
    expect_no_tx(t);
    /* A second later the budget is back. */
    advance(t, 1000);
    feed(t, tcp(.flags = SYN, .seq = R + 3));
    expect_tcp(t, .flags = ACK, .seq = L, .ack = R);
    assert_int_equal(st_tcp_state(c.fd), ESTABLISHED);
}

static void test_challenge_ack_budget_is_random_and_never_above_the_limit(void **state)
{
    struct st *t = *state;
    st_restart(t, "tcp_challenge_ack_limit=10");
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t R = c.irs + 1;
    /* 32 seconds of 20 in-window RSTs each: every second sends 5..10 challenge ACKs, and
     * they are not all the same number (a fixed budget is the CVE-2016-5696 side channel). */
    unsigned lo = 10, hi = 0;
    for (int sec = 0; sec < 32; sec++) {
        for (int i = 0; i < 20; i++)
            feed(t, tcp(.flags = RST, .seq = R + 10 + i));
        unsigned sent = st_drain_tx(t);
        assert_in_range(sent, 5, 10);
        lo = sent < lo ? sent : lo;
        hi = sent > hi ? sent : hi;
        advance(t, 1000);
    }
    assert_true(lo < hi);
    assert_int_equal(st_tcp_state(c.fd), ESTABLISHED);
}

/* ---- ACK acceptability (RFC 9293 3.10.7.4 fifth check, RFC 5961 5) ---- */

static void test_ack_of_unsent_data_is_answered_and_the_segment_dropped(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    /* SEG.ACK > SND.NXT: send an ACK, drop the segment (its data too). */
    feed(t, tcp(.flags = ACK | PSH, .seq = R, .ack = L + 1, .data = "abc"));
    expect_tcp(t, .flags = ACK, .seq = L, .ack = R, .len = 0);
    expect_no_tx(t);
    char b[8];
    expect_errno(ust_recv(c.fd, b, sizeof(b), 0), EAGAIN);
    /* The same data with a right ACK is taken. */
    feed(t, tcp(.flags = ACK | PSH, .seq = R, .ack = L, .data = "abc"));
    expect_tcp(t, .flags = ACK, .seq = L, .ack = R + 3);
    assert_int_equal(ust_recv(c.fd, b, sizeof(b), 0), 3);
}

static void test_ack_far_below_snd_una_gets_a_challenge_ack(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED, .peer_window = 1000, .peer_ws = -1);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    /* RFC 5961 5.2: acceptable only if SND.UNA - MAX.SND.WND <= SEG.ACK. MAX.SND.WND = 1000
     * here. An ACK 1001 below SND.UNA (and wrapped: SND.UNA is 0xfffffc01) is a blind
     * injection: challenge ACK, data dropped. */
    feed(t, tcp(.flags = ACK | PSH, .seq = R, .ack = L - 1001, .window = 1000, .data = "zz"));
    expect_tcp(t, .flags = ACK, .seq = L, .ack = R);
    assert_int_equal(counter(t, "tcp.challenge_acks"), 1);
    char b[8];
    expect_errno(ust_recv(c.fd, b, sizeof(b), 0), EAGAIN);
    /* 1000 below is still acceptable (an old duplicate ACK): its data is taken. */
    feed(t, tcp(.flags = ACK | PSH, .seq = R, .ack = L - 1000, .window = 1000, .data = "ok"));
    expect_tcp(t, .flags = ACK, .seq = L, .ack = R + 2);
    assert_int_equal(ust_recv(c.fd, b, sizeof(b), 0), 2);
}

static void test_segment_without_ack_flag_is_dropped(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t R = c.irs + 1;
    /* RFC 9293 3.10.7.4 fifth check: "if the ACK bit is off, drop the segment". */
    feed(t, tcp(.flags = PSH, .seq = R, .data = "noack"));
    expect_no_tx(t);
    char b[8];
    expect_errno(ust_recv(c.fd, b, sizeof(b), 0), EAGAIN);
}

/* ---- Sequence acceptability (first check) ---- */

static void test_segment_beyond_the_window_is_answered_with_an_ack(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED, .rcvbuf = 8192);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    /* The window is 8192 bytes (SO_RCVBUF 8192 asks for 16384 of buffer, half of it data). */
    feed(t, tcp(.flags = ACK, .seq = R + 8193, .ack = L, .data = "late"));
    expect_tcp(t, .flags = ACK, .seq = L, .ack = R, .window = 8192 >> ST_WS);
    assert_int_equal(counter(t, "tcp.outside_window"), 1);
    char b[8];
    expect_errno(ust_recv(c.fd, b, sizeof(b), 0), EAGAIN);
}

static void test_out_of_window_pure_acks_are_answered_at_most_twice_a_second(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    /* Linux's tcp_oow_rate_limited (tcp_invalid_ratelimit, 500 ms): a pure ACK outside the
     * window draws one ACK, the next ones within 500 ms none (counted). */
    feed(t, tcp(.flags = ACK, .seq = R + 0x40000000, .ack = L));
    expect_tcp(t, .flags = ACK, .seq = L, .ack = R);
    feed(t, tcp(.flags = ACK, .seq = R + 0x40000000, .ack = L));
    feed(t, tcp(.flags = ACK, .seq = R - 100000, .ack = L));
    expect_no_tx(t);
    assert_int_equal(counter(t, "tcp.outside_window"), 3);
    assert_int_equal(counter(t, "tcp.oow_acks_limited"), 2);
    /* A segment with data is always answered: a retransmission needs its ACK. */
    feed(t, tcp(.flags = ACK, .seq = R + 0x40000000, .ack = L, .data = "far"));
    expect_tcp(t, .flags = ACK, .seq = L, .ack = R);
    advance(t, 499);
    feed(t, tcp(.flags = ACK, .seq = R + 0x40000000, .ack = L));
    expect_no_tx(t);
    advance(t, 1);
    feed(t, tcp(.flags = ACK, .seq = R + 0x40000000, .ack = L));
    expect_tcp(t, .flags = ACK, .seq = L, .ack = R);
    assert_int_equal(counter(t, "tcp.oow_acks_limited"), 3);
}

static void test_out_of_window_ack_limit_can_be_turned_off(void **state)
{
    struct st *t = *state;
    st_restart(t, "tcp_invalid_ratelimit_ms=0");
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    for (int i = 0; i < 3; i++) {
        feed(t, tcp(.flags = ACK, .seq = R + 0x40000000, .ack = L));
        expect_tcp(t, .flags = ACK, .seq = L, .ack = R);
    }
    assert_int_equal(counter(t, "tcp.oow_acks_limited"), 0);
}

static void test_old_duplicate_segment_is_acked_with_a_dsack(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    feed(t, tcp(.flags = ACK | PSH, .seq = R, .ack = L, .data = "abcdef"));
    expect_tcp(t, .flags = ACK, .ack = R + 6, .nsack = 0);
    /* The same segment again: RFC 9293 says ACK it; RFC 2883 4 reports it as a D-SACK. */
    feed(t, tcp(.flags = ACK | PSH, .seq = R, .ack = L, .data = "abcdef"));
    expect_tcp(t, .flags = ACK, .seq = L, .ack = R + 6, .nsack = 1, .sack = { { R, R + 6 } });
    expect_no_tx(t);
    /* It was not delivered twice. */
    char b[16];
    assert_int_equal(ust_recv(c.fd, b, sizeof(b), 0), 6);
    expect_errno(ust_recv(c.fd, b, sizeof(b), 0), EAGAIN);
}

/* ---- Replies from a closed port (RFC 9293 3.10.7.1) ---- */

static void test_closed_port_answers_an_ack_with_rst_at_its_ack_number(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    feed(t, tcp(.flags = ACK, .seq = 1000, .ack = 0xfffffffeu, .dport = 9));
    expect_tcp(t, .sport = 9, .flags = RST, .seq = 0xfffffffeu, .ack = 0, .window = 0,
               .hdr_len = 20, .len = 0);
    assert_int_equal(counter(t, "tcp.no_port"), 1);
    assert_int_equal(counter(t, "tcp.out_rsts"), 1);
}

static void test_closed_port_answers_a_syn_with_rst_ack(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    /* <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>: a SYN counts one, a FIN one, data its bytes;
     * the sum wraps. */
    feed(t, tcp(.flags = SYN, .seq = 0xffffffffu, .dport = 9, .mss = 1460));
    expect_tcp(t, .sport = 9, .flags = RST | ACK, .seq = 0, .ack = 0, .hdr_len = 20);
    feed(t, tcp(.flags = FIN | PSH, .seq = 0xfffffff0u, .dport = 9, .data = "0123456789abcdef"));
    expect_tcp(t, .sport = 9, .flags = RST | ACK, .seq = 0, .ack = 1);
    expect_no_tx(t);
}

static void test_closed_port_never_answers_a_rst(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    feed(t, tcp(.flags = RST, .seq = 5, .dport = 9));
    feed(t, tcp(.flags = RST | ACK, .seq = 5, .ack = 7, .dport = 9));
    expect_no_tx(t);
}

static void test_listener_answers_a_stray_ack_with_rst(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int lfd = st_tcp_listener(t, ST_LPORT, 4);
    /* RFC 9293 3.10.7.2: an ACK to a listener gets <SEQ=SEG.ACK><CTL=RST> (it is not a valid
     * SYN cookie either). An RST is ignored; a FIN without SYN or ACK is dropped. */
    feed(t, tcp(.flags = ACK, .seq = 1, .ack = 12345));
    expect_tcp(t, .flags = RST, .seq = 12345, .hdr_len = 20);
    feed(t, tcp(.flags = RST, .seq = 1));
    feed(t, tcp(.flags = FIN, .seq = 1));
    expect_no_tx(t);
    assert_int_equal(counter(t, "tcp.syncookies_failed"), 1);
    ust_close(lfd);
}

static void test_syn_ack_to_a_listener_gets_rst(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int lfd = st_tcp_listener(t, ST_LPORT, 4);
    feed(t, tcp(.flags = SYN | ACK, .seq = 1, .ack = 999));
    expect_tcp(t, .flags = RST, .seq = 999);
    expect_no_tx(t);
    ust_close(lfd);
}

/* ---- Malformed segments ---- */

static void test_bad_checksum_is_dropped_and_counted(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED);
    feed(t, tcp(.flags = RST, .seq = c.irs + 1, .bad_tcp_csum = true));
    feed(t, tcp(.flags = SYN, .seq = 1, .dport = 9, .bad_tcp_csum = true));
    expect_no_tx(t);
    assert_int_equal(st_tcp_state(c.fd), ESTABLISHED);
    assert_int_equal(counter(t, "tcp.in_csum_errors"), 2);
    assert_int_equal(counter(t, "tcp.in_errs"), 2);
}

static void test_malformed_option_drops_the_segment(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int lfd = st_tcp_listener(t, ST_LPORT, 4);
    /* An MSS option of length 3 (wire/tcp.h: refused, counted). */
    static const uint8_t bad[] = { 2, 3, 5, 1 };
    feed(t, tcp(.flags = SYN, .seq = 1, .raw_opts = bad, .raw_opts_len = sizeof(bad)));
    expect_no_tx(t);
    assert_int_equal(counter(t, "tcp.in_errs"), 1);
    /* Unknown options are skipped; options in another order than Linux's are fine. */
    static const uint8_t odd[] = { 3, 3, 2, 99, 4, 0xab, 0xcd, 4, 2, 2, 4, 0x02, 0x18 };
    feed(t, tcp(.flags = SYN, .seq = 1, .raw_opts = odd, .raw_opts_len = sizeof(odd)));
    expect_tcp(t, .flags = SYN | ACK, .ack = 2, .mss = ST_MSS, .ws = ST_WS, .sack_perm = 1);
    ust_close(lfd);
}

static void test_tcp_to_a_broadcast_address_is_dropped(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int lfd = st_tcp_listener(t, ST_LPORT, 4);
    /* RFC 1122 4.2.3.10: a SYN to a broadcast address is ignored (no SYN-ACK, no RST). */
    feed(t, tcp(.eth_dst = st_bcast_mac, .dst = ST_BCAST, .flags = SYN, .seq = 1));
    feed(t, tcp(.eth_dst = st_bcast_mac, .dst = ST_BCAST, .flags = ACK, .seq = 1, .dport = 9));
    expect_no_tx(t);
    ust_close(lfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, st_setup, st_teardown)
        T(test_rst_in_window_gets_a_challenge_ack),
        T(test_rst_at_rcv_nxt_resets_with_econnreset),
        T(test_rst_after_data_wraps_at_rcv_nxt),
        T(test_rst_outside_the_window_is_dropped_silently),
        T(test_rst_is_exempt_from_paws),
        T(test_rst_in_close_wait_reports_epipe),
        T(test_rst_in_fin_wait_1_closes),
        T(test_rst_closes_an_orphan_in_last_ack),
        T(test_syn_in_established_gets_a_challenge_ack),
        T(test_syn_with_data_in_established_delivers_nothing),
        T(test_challenge_acks_are_rate_limited_per_second),
        T(test_challenge_ack_budget_is_random_and_never_above_the_limit),
        T(test_ack_of_unsent_data_is_answered_and_the_segment_dropped),
        T(test_ack_far_below_snd_una_gets_a_challenge_ack),
        T(test_segment_without_ack_flag_is_dropped),
        T(test_segment_beyond_the_window_is_answered_with_an_ack),
        T(test_old_duplicate_segment_is_acked_with_a_dsack),
        T(test_closed_port_answers_an_ack_with_rst_at_its_ack_number),
        T(test_closed_port_answers_a_syn_with_rst_ack),
        T(test_closed_port_never_answers_a_rst),
        T(test_listener_answers_a_stray_ack_with_rst),
        T(test_syn_ack_to_a_listener_gets_rst),
        T(test_bad_checksum_is_dropped_and_counted),
        T(test_malformed_option_drops_the_segment),
        T(test_tcp_to_a_broadcast_address_is_dropped),
        T(test_out_of_window_pure_acks_are_answered_at_most_twice_a_second),
        T(test_out_of_window_ack_limit_can_be_turned_off),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
