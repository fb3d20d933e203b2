/*
 * Sending (issue 4, items 5 - 7): the initial window and slow start (RFC 6928, RFC 5681), Nagle
 * (RFC 896, RFC 1122 4.2.3.4, with Linux's Minshall variant), TCP_NODELAY, TCP_CORK and
 * MSG_MORE, the peer's window (scaling, sender silly-window avoidance), zero-window probing (RFC
 * 9293 3.8.6.1: the persist timer, its backoff, a window that reopens; RFC 1122 4.2.2.17: a peer
 * that answers is never given up on, unless TCP_USER_TIMEOUT says how long a closed window may
 * last: RFC 5482, as Linux's tcp_probe_timer), and a send through 2^32.
 */
#include "tcptest.h"

#define MSS ST_MSS

static uint8_t payload[256 * 1024];

static void fill(void)
{
    st_pattern(payload, sizeof(payload), 0);
}

/* ---- Initial window and slow start ---- */

static void test_initial_window_is_ten_segments(void **state)
{
    struct st *t = *state;
    fill();
    struct conn c = conn_in_state(t, ESTABLISHED, .rtt_ms = 10);
    uint32_t L = c.iss + 1;
    conn_send(&c, payload, 20 * MSS);
    /* RFC 6928: 10 segments; the last of them is not the end of what is queued: no PSH. */
    for (int k = 0; k < 10; k++)
        expect_tcp(t, .flags = ACK, .seq = L + k * MSS, .len = MSS, .window = ST_WIN);
    expect_no_tx(t);
    struct ust_tcp_info i = st_tcp_info(c.fd);
    assert_int_equal(i.cwnd, 10 * MSS);
    assert_int_equal(i.unacked, 10 * MSS);
    assert_int_equal(i.unsent, 10 * MSS);
}

static void test_slow_start_grows_by_what_each_ack_covers(void **state)
{
    struct st *t = *state;
    fill();
    struct conn c = conn_in_state(t, ESTABLISHED, .rtt_ms = 10);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    conn_send(&c, payload, 30 * MSS);
    st_drain_tx(t);
    advance(t, 10);
    /* RFC 5681 3.1 with byte counting (RFC 3465): an ACK for two segments adds two: four new
     * segments go (two replacing those acknowledged, two more). */
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L + 2 * MSS));
    for (int k = 10; k < 14; k++)
        expect_tcp(t, .seq = L + k * MSS, .len = MSS);
    expect_no_tx(t);
    assert_int_equal(st_tcp_info(c.fd).cwnd, 12 * MSS);
}

/* ---- Nagle, TCP_NODELAY, TCP_CORK, MSG_MORE ---- */

static void test_nagle_holds_a_small_segment_while_one_is_unacknowledged(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    conn_send(&c, "a", 1);
    expect_tcp(t, .flags = ACK | PSH, .seq = L, .data = "a");   /* nothing in flight: at once */
    conn_send(&c, "b", 1);
    conn_send(&c, "c", 1);
    expect_no_tx(t);   /* RFC 896: wait for the ACK, coalescing */
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L + 1));
    expect_tcp(t, .flags = ACK | PSH, .seq = L + 1, .data = "bc");
    expect_no_tx(t);
}

static void test_nagle_sends_the_tail_of_a_large_write_at_once(void **state)
{
    struct st *t = *state;
    fill();
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t L = c.iss + 1;
    /* As Linux (Minshall's variant, checked on Linux 6.18 with a scripted peer): only an
     * unacknowledged small segment holds the next one; full segments in flight do not. */
    conn_send(&c, payload, 2 * MSS + 500);
    expect_tcp(t, .flags = ACK, .seq = L, .len = MSS);
    expect_tcp(t, .flags = ACK, .seq = L + MSS, .len = MSS);
    expect_tcp(t, .flags = ACK | PSH, .seq = L + 2 * MSS, .len = 500);
    /* Now a small one is in flight: the next small write waits. */
    conn_send(&c, "x", 1);
    expect_no_tx(t);
    feed(t, tcp(.flags = ACK, .seq = c.irs + 1, .ack = L + 2 * MSS + 500));
    expect_tcp(t, .flags = ACK | PSH, .seq = L + 2 * MSS + 500, .data = "x");
}

static void test_nagle_waits_for_the_small_segment_only(void **state)
{
    struct st *t = *state;
    fill();
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    conn_send(&c, "s", 1);
    expect_tcp(t, .seq = L, .data = "s");
    conn_send(&c, payload, MSS + 10);
    /* A full segment may go; its 11-byte tail waits for the first small one's ACK. */
    expect_tcp(t, .flags = ACK, .seq = L + 1, .len = MSS);
    expect_no_tx(t);
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L + 1));
    expect_tcp(t, .flags = ACK | PSH, .seq = L + 1 + MSS, .len = 10);
}

static void test_tcp_nodelay_sends_every_write(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED, .nodelay = true);
    uint32_t L = c.iss + 1;
    conn_send(&c, "a", 1);
    conn_send(&c, "b", 1);
    conn_send(&c, "c", 1);
    expect_tcp(t, .flags = ACK | PSH, .seq = L, .data = "a");
    expect_tcp(t, .flags = ACK | PSH, .seq = L + 1, .data = "b");
    expect_tcp(t, .flags = ACK | PSH, .seq = L + 2, .data = "c");
    expect_no_tx(t);
}

static void test_setting_tcp_nodelay_pushes_what_nagle_held(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t L = c.iss + 1;
    conn_send(&c, "a", 1);
    conn_send(&c, "b", 1);
    expect_tcp(t, .data = "a");
    expect_no_tx(t);
    int one = 1;
    assert_int_equal(ust_setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
    expect_tcp(t, .flags = ACK | PSH, .seq = L + 1, .data = "b");
}

static void test_tcp_cork_holds_partial_segments_until_uncorked(void **state)
{
    struct st *t = *state;
    fill();
    struct conn c = conn_in_state(t, ESTABLISHED, .nodelay = true);
    uint32_t L = c.iss + 1;
    int on = 1, off = 0;
    assert_int_equal(ust_setsockopt(c.fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on)), 0);
    conn_send(&c, payload, 100);
    conn_send(&c, payload + 100, 100);
    expect_no_tx(t);   /* corked, even with nothing in flight and TCP_NODELAY */
    conn_send(&c, payload + 200, MSS);
    /* A full segment goes; the 200-byte remainder stays corked. */
    expect_tcp(t, .flags = ACK, .seq = L, .len = MSS);
    expect_no_tx(t);
    assert_int_equal(ust_setsockopt(c.fd, IPPROTO_TCP, TCP_CORK, &off, sizeof(off)), 0);
    const struct st_rx *rx = expect_tcp(t, .flags = ACK | PSH, .seq = L + MSS, .len = 200);
    assert_memory_equal(rx->data, payload + MSS, 200);
}

static void test_msg_more_waits_for_the_next_write(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED, .nodelay = true);
    uint32_t L = c.iss + 1;
    assert_int_equal(ust_send(c.fd, "head", 4, MSG_MORE), 4);
    expect_no_tx(t);
    assert_int_equal(ust_send(c.fd, "body", 4, 0), 4);
    expect_tcp(t, .flags = ACK | PSH, .seq = L, .data = "headbody");
}

/* ---- The peer's window ---- */

static void test_peer_window_is_scaled_and_respected(void **state)
{
    struct st *t = *state;
    fill();
    struct conn c = conn_in_state(t, ESTABLISHED, .peer_ws = 2);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    /* Window field 1000 with shift 2: 4000 bytes. */
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L, .window = 1000));
    conn_send(&c, payload, 10 * MSS);
    expect_tcp(t, .seq = L, .len = MSS);
    expect_tcp(t, .seq = L + MSS, .len = MSS);
    /* 1080 left: more than half the largest window ever offered (65535 in the SYN-ACK)? No:
     * sender SWS avoidance (RFC 1122 4.2.3.4) holds it. */
    expect_no_tx(t);
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L + 2 * MSS, .window = 1000));
    expect_tcp(t, .seq = L + 2 * MSS, .len = MSS);
    expect_tcp(t, .seq = L + 3 * MSS, .len = MSS);
    expect_no_tx(t);
}

static void test_sender_sws_sends_a_partial_segment_of_half_the_max_window(void **state)
{
    struct st *t = *state;
    fill();
    struct conn c = conn_in_state(t, ESTABLISHED, .peer_ws = -1, .peer_window = 2000);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    conn_send(&c, payload, 3 * MSS);
    expect_tcp(t, .seq = L, .len = MSS);
    /* 540 usable: below half of the largest window (1000): held. */
    expect_no_tx(t);
    /* The window slides: 1000 usable now, half the maximum: a partial segment goes. */
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L + 460, .window = 2000));
    expect_tcp(t, .seq = L + MSS, .len = 1000);
    expect_no_tx(t);
}

static void test_small_window_is_used_when_the_persist_timer_fires(void **state)
{
    struct st *t = *state;
    fill();
    struct conn c = conn_in_state(t, ESTABLISHED, .peer_ws = -1, .rtt_ms = 100);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    /* The peer offers 500 bytes and keeps offering only that (a tiny receiver). Sender SWS
     * avoidance waits for more, but not forever: RFC 1122 4.2.3.4 (4) sends what fits when
     * the override (persist) timeout fires, as Linux's tcp_write_wakeup does. */
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L, .window = 500));
    conn_send(&c, payload, 2000);
    expect_no_tx(t);
    expect_tcp_after(t, 300, .flags = ACK, .seq = L, .len = 500);
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L + 500, .window = 500));
    expect_no_tx(t);
}

/* ---- Zero window ---- */

static void test_zero_window_probes_back_off_and_the_window_reopens(void **state)
{
    struct st *t = *state;
    fill();
    struct conn c = conn_in_state(t, ESTABLISHED, .rtt_ms = 100);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L, .window = 0));
    conn_send(&c, payload, 3000);
    expect_no_tx(t);
    /* RFC 9293 3.8.6.1: probe after an RTO (300 ms), doubling. As Linux, a probe is an empty
     * segment at SND.UNA - 1: outside the peer's window, so it must answer with its window. */
    uint64_t gap = 300;
    for (int k = 1; k <= 5; k++, gap *= 2) {
        expect_tcp_after(t, gap, .flags = ACK, .seq = L - 1, .ack = R, .len = 0);
        assert_int_equal(counter(t, "tcp.zero_window_probes"), k);
    }
    /* The window opens (2000 << 7): data at once, and no more probes. */
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L, .window = 2000));
    expect_tcp(t, .flags = ACK, .seq = L, .len = MSS);
    expect_tcp(t, .flags = ACK, .seq = L + MSS, .len = MSS);
    expect_tcp(t, .flags = ACK | PSH, .seq = L + 2 * MSS, .len = 3000 - 2 * MSS);
    expect_no_tx(t);
    advance(t, 100000);
    st_drain_tx(t);   /* (retransmissions of the unacknowledged segment) */
    assert_int_equal(counter(t, "tcp.zero_window_probes"), 5);
}

static void test_answered_zero_window_probes_never_time_out(void **state)
{
    struct st *t = *state;
    fill();
    st_restart(t, "tcp_retries2=3");
    struct conn c = conn_in_state(t, ESTABLISHED, .rtt_ms = 100);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L, .window = 0));
    conn_send(&c, payload, 100);
    /* RFC 1122 4.2.2.17: the connection stays open as long as the peer answers the probes
     * (Linux resets its probe count on every ACK, tcp_ack). */
    uint64_t gap = 300;
    for (int k = 0; k < 8; k++, gap = gap * 2 > 120000 ? 120000 : gap * 2) {
        expect_tcp_after(t, gap, .flags = ACK, .seq = L - 1, .len = 0);
        feed(t, tcp(.flags = ACK, .seq = R, .ack = L, .window = 0));
    }
    assert_int_equal(st_tcp_state(c.fd), ESTABLISHED);
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L, .window = 100));
    expect_tcp(t, .flags = ACK | PSH, .seq = L, .len = 100);
}

static void test_unanswered_zero_window_probes_time_out(void **state)
{
    struct st *t = *state;
    fill();
    st_restart(t, "tcp_retries2=3");
    struct conn c = conn_in_state(t, ESTABLISHED, .rtt_ms = 100);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L, .window = 0));
    conn_send(&c, payload, 100);
    expect_tcp_after(t, 300, .seq = L - 1);
    expect_tcp_after(t, 600, .seq = L - 1);
    expect_tcp_after(t, 1200, .seq = L - 1);
    /* Linux's rule (tcp_probe_timer): tcp_retries2 probes without any answer, then fail. */
    advance_past(t, 2400);
    expect_no_tx(t);
    assert_int_equal(st_tcp_state(c.fd), CLOSED);
    char b;
    expect_errno(ust_recv(c.fd, &b, 1, 0), ETIMEDOUT);
}

static void test_user_timeout_ends_an_answered_zero_window(void **state)
{
    struct st *t = *state;
    fill();
    struct conn c = conn_in_state(t, ESTABLISHED, .rtt_ms = 100);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    int ms = 2000;
    assert_int_equal(ust_setsockopt(c.fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms)), 0);
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L, .window = 0));
    conn_send(&c, payload, 100);
    /* The peer answers every probe, still with a closed window (a reader that never reads).
     * TCP_USER_TIMEOUT bounds the wait from the first probe (at 300 ms), answered or not
     * (Linux's tcp_probe_timer): probes at 0.3, 0.9 and 2.1 s, then the timer fires when the
     * 2 s are over (2.3 s, not the 4.5 s of the backoff: tcp_clamp_probe0_to_user_timeout). */
    expect_tcp_after(t, 300, .flags = ACK, .seq = L - 1, .len = 0);
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L, .window = 0));
    expect_tcp_after(t, 600, .flags = ACK, .seq = L - 1, .len = 0);
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L, .window = 0));
    expect_tcp_after(t, 1200, .flags = ACK, .seq = L - 1, .len = 0);
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L, .window = 0));
    advance(t, 199);
    assert_int_equal(st_tcp_state(c.fd), ESTABLISHED);
    advance_past(t, 1);
    expect_no_tx(t);   /* no RST, as Linux's tcp_write_err */
    assert_int_equal(st_tcp_state(c.fd), CLOSED);
    assert_int_equal(counter(t, "tcp.timeout_aborts"), 1);
    assert_int_equal(counter(t, "tcp.zero_window_probes"), 3);
    char b;
    expect_errno(ust_recv(c.fd, &b, 1, 0), ETIMEDOUT);
}

static void test_user_timeout_restarts_when_the_window_opens(void **state)
{
    struct st *t = *state;
    fill();
    struct conn c = conn_in_state(t, ESTABLISHED, .rtt_ms = 100, .peer_ws = -1,
                                  .peer_window = 1000);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    int ms = 1000;
    assert_int_equal(ust_setsockopt(c.fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms)), 0);
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L, .window = 0));
    conn_send(&c, payload, 600);
    expect_tcp_after(t, 300, .flags = ACK, .seq = L - 1, .len = 0);
    /* A slow reader: 500 bytes of window after 0.8 s of waiting, then closed again. */
    advance(t, 500);
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L, .window = 500));
    expect_tcp(t, .flags = ACK, .seq = L, .len = 500);
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L + 500, .window = 0));
    /* The closed window counts from its own first probe (after an RTO, 0.3 s): the earlier
     * wait does not add up. Probes at +0, +0.6 s, then the end at +1 s. */
    expect_tcp_after(t, 300, .flags = ACK, .seq = L + 499, .len = 0);
    expect_tcp_after(t, 600, .flags = ACK, .seq = L + 499, .len = 0);
    advance(t, 399);
    assert_int_equal(st_tcp_state(c.fd), ESTABLISHED);
    advance_past(t, 1);
    expect_no_tx(t);
    assert_int_equal(st_tcp_state(c.fd), CLOSED);
    assert_int_equal(counter(t, "tcp.timeout_aborts"), 1);
}

/* ---- Through 2^32 ---- */

static void test_send_through_2_32_with_acks_arrives_intact(void **state)
{
    struct st *t = *state;
    fill();
    struct conn c = conn_in_state(t, ESTABLISHED, .iss = 0xffff8000u, .rtt_ms = 1);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    /* 200 KB from 32 KiB below 2^32, the peer acknowledging every segment it gets. */
    const uint32_t total = 200 * 1024;
    uint32_t acked = 0;
    uint32_t written = 0;
    static uint8_t seen[256 * 1024];
    while (acked < total) {
        if (written < total) {
            ssize_t n = ust_send(c.fd, payload + written, total - written, MSG_DONTWAIT);
            if (n > 0)
                written += (uint32_t)n;
        }
        const struct st_rx *rx;
        uint32_t ack = acked;
        while ((rx = st_take_tx(t))) {
            uint32_t off = rx->tcp.seq - L;
            assert_true(off + rx->len <= total);
            memcpy(seen + off, rx->data, rx->len);
            if (off + rx->len > ack)
                ack = off + (uint32_t)rx->len;
        }
        assert_true(ack > acked || written > acked);
        acked = ack;
        feed(t, tcp(.flags = ACK, .seq = R, .ack = L + acked));
    }
    assert_memory_equal(seen, payload, total);
    struct ust_tcp_info i = st_tcp_info(c.fd);
    assert_int_equal(i.bytes_acked, total);
    assert_int_equal(i.total_retrans, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, st_setup, st_teardown)
        T(test_initial_window_is_ten_segments),
        T(test_slow_start_grows_by_what_each_ack_covers),
        T(test_nagle_holds_a_small_segment_while_one_is_unacknowledged),
        T(test_nagle_sends_the_tail_of_a_large_write_at_once),
        T(test_nagle_waits_for_the_small_segment_only),
        T(test_tcp_nodelay_sends_every_write),
        T(test_setting_tcp_nodelay_pushes_what_nagle_held),
        T(test_tcp_cork_holds_partial_segments_until_uncorked),
        T(test_msg_more_waits_for_the_next_write),
        T(test_peer_window_is_scaled_and_respected),
        T(test_sender_sws_sends_a_partial_segment_of_half_the_max_window),
        T(test_small_window_is_used_when_the_persist_timer_fires),
        T(test_zero_window_probes_back_off_and_the_window_reopens),
        T(test_answered_zero_window_probes_never_time_out),
        T(test_unanswered_zero_window_probes_time_out),
        T(test_user_timeout_ends_an_answered_zero_window),
        T(test_user_timeout_restarts_when_the_window_opens),
        T(test_send_through_2_32_with_acks_arrives_intact),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
