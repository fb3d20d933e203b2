/*
 * Keepalive (RFC 1122 4.2.3.6; issue 4 item 7): SO_KEEPALIVE with Linux's defaults (7200 s idle,
 * 75 s apart, 9 probes), TCP_KEEPIDLE / TCP_KEEPINTVL / TCP_KEEPCNT, what resets the idle time,
 * an answered probe, and the reset and ETIMEDOUT when the peer is gone. As Linux, a probe is an
 * empty ACK at SND.UNA - 1, which the peer must answer.
 */
#include "tcptest.h"

static void set(int fd, int level, int name, int v)
{
    assert_int_equal(ust_setsockopt(fd, level, name, &v, sizeof(v)), 0);
}

static struct conn keepalive_conn(struct st *t, int idle, int intvl, int cnt)
{
    struct conn c = conn_in_state(t, ESTABLISHED);
    if (idle) {
        set(c.fd, IPPROTO_TCP, TCP_KEEPIDLE, idle);
        set(c.fd, IPPROTO_TCP, TCP_KEEPINTVL, intvl);
        set(c.fd, IPPROTO_TCP, TCP_KEEPCNT, cnt);
    }
    set(c.fd, SOL_SOCKET, SO_KEEPALIVE, 1);
    return c;
}

static void test_keepalive_defaults_probe_after_two_hours_nine_times(void **state)
{
    struct st *t = *state;
    struct conn c = keepalive_conn(t, 0, 0, 0);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    /* Linux's tcp_keepalive_time 7200 s, tcp_keepalive_intvl 75 s, tcp_keepalive_probes 9. */
    expect_tcp_after(t, 7200 * 1000, .flags = ACK, .seq = L - 1, .ack = R, .len = 0);
    for (int k = 2; k <= 9; k++)
        expect_tcp_after(t, 75 * 1000, .flags = ACK, .seq = L - 1, .ack = R, .len = 0);
    /* Nine unanswered: at the next interval the peer is declared gone; Linux sends a reset. */
    expect_tcp_after(t, 75 * 1000, .flags = RST | ACK, .seq = L, .ack = R);
    expect_no_tx(t);
    assert_int_equal(st_tcp_state(c.fd), CLOSED);
    char b;
    expect_errno(ust_recv(c.fd, &b, 1, 0), ETIMEDOUT);
    assert_int_equal(counter(t, "tcp.keepalive_probes"), 9);
    assert_int_equal(counter(t, "tcp.keepalive_timeouts"), 1);
}

static void test_keepidle_keepintvl_keepcnt_set_the_schedule(void **state)
{
    struct st *t = *state;
    struct conn c = keepalive_conn(t, 10, 2, 3);
    uint32_t L = c.iss + 1;
    expect_tcp_after(t, 10000, .flags = ACK, .seq = L - 1, .len = 0);
    expect_tcp_after(t, 2000, .flags = ACK, .seq = L - 1, .len = 0);
    expect_tcp_after(t, 2000, .flags = ACK, .seq = L - 1, .len = 0);
    expect_tcp_after(t, 2000, .flags = RST | ACK, .seq = L);
    assert_int_equal(st_tcp_state(c.fd), CLOSED);
    int v;
    socklen_t len = sizeof(v);
    assert_int_equal(ust_getsockopt(c.fd, IPPROTO_TCP, TCP_KEEPCNT, &v, &len), 0);
    assert_int_equal(v, 3);
}

static void test_answered_probe_restarts_the_idle_time(void **state)
{
    struct st *t = *state;
    struct conn c = keepalive_conn(t, 10, 2, 3);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    for (int round = 0; round < 5; round++) {
        expect_tcp_after(t, 10000, .flags = ACK, .seq = L - 1, .ack = R, .len = 0);
        advance(t, 100);
        /* The peer answers (RFC 1122 4.2.3.6): alive; the next probe comes after a full idle
         * time again, and answered probes never add up to a timeout. */
        feed(t, tcp(.flags = ACK, .seq = R, .ack = L));
        expect_no_tx(t);
    }
    assert_int_equal(st_tcp_state(c.fd), ESTABLISHED);
    assert_int_equal(counter(t, "tcp.keepalive_timeouts"), 0);
}

static void test_answer_after_some_probes_keeps_the_connection(void **state)
{
    struct st *t = *state;
    struct conn c = keepalive_conn(t, 10, 2, 3);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    expect_tcp_after(t, 10000, .seq = L - 1);
    expect_tcp_after(t, 2000, .seq = L - 1);
    expect_tcp_after(t, 2000, .seq = L - 1);
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L));   /* the third probe is answered */
    advance(t, 9999);
    expect_no_tx(t);
    assert_int_equal(st_tcp_state(c.fd), ESTABLISHED);
    expect_tcp_after(t, 1, .seq = L - 1);
}

static void test_received_data_restarts_the_idle_time(void **state)
{
    struct st *t = *state;
    struct conn c = keepalive_conn(t, 10, 2, 3);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    advance(t, 9000);
    feed(t, tcp(.flags = ACK | PSH, .seq = R, .ack = L, .data = "hi"));
    expect_tcp(t, .flags = ACK, .ack = R + 2);
    /* The probe comes 10 s after the last segment received. */
    expect_tcp_after(t, 10000, .flags = ACK, .seq = L - 1, .ack = R + 2);
}

static void test_no_probes_while_data_is_in_flight(void **state)
{
    struct st *t = *state;
    st_restart(t, "tcp_retries2=30", "tcp_max_rto_ms=2000");
    struct conn c = keepalive_conn(t, 5, 1, 2);
    uint32_t L = c.iss + 1;
    conn_send(&c, "x", 1);
    expect_tcp(t, .data = "x");
    /* The retransmission timer watches the peer; keepalive stays quiet. */
    for (int i = 0; i < 30; i++) {
        advance(t, 1000);
        const struct st_rx *rx;
        while ((rx = st_take_tx(t)))
            assert_int_equal(rx->tcp.seq, L);   /* retransmissions of "x", never probes */
    }
    assert_int_equal(counter(t, "tcp.keepalive_probes"), 0);
    assert_int_equal(st_tcp_state(c.fd), ESTABLISHED);
}

static void test_without_so_keepalive_an_idle_connection_is_silent(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED);
    set(c.fd, IPPROTO_TCP, TCP_KEEPIDLE, 1);
    advance(t, 10ull * 24 * 3600 * 1000);
    expect_no_tx(t);
    assert_int_equal(st_tcp_state(c.fd), ESTABLISHED);
}

static void test_so_keepalive_off_stops_the_probes(void **state)
{
    struct st *t = *state;
    struct conn c = keepalive_conn(t, 10, 2, 3);
    expect_tcp_after(t, 10000, .seq = c.iss);
    set(c.fd, SOL_SOCKET, SO_KEEPALIVE, 0);
    advance(t, 3600 * 1000);
    expect_no_tx(t);
    assert_int_equal(st_tcp_state(c.fd), ESTABLISHED);
}

static void test_keepalive_probe_carries_timestamps(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED, .peer_ts = true);
    set(c.fd, IPPROTO_TCP, TCP_KEEPIDLE, 10);
    set(c.fd, SOL_SOCKET, SO_KEEPALIVE, 1);
    advance(t, 10000 - 1);
    expect_tcp_after(t, 1, .flags = ACK, .seq = c.iss, .tsval = conn_tsval(&c) + 1, /* 1 ms on */
                     .tsecr = c.peer_tsval);
}

static void test_accepted_connection_inherits_keepalive_settings(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int lfd = st_tcp_socket(t);
    set(lfd, SOL_SOCKET, SO_KEEPALIVE, 1);
    set(lfd, IPPROTO_TCP, TCP_KEEPIDLE, 30);
    set(lfd, IPPROTO_TCP, TCP_KEEPINTVL, 5);
    set(lfd, IPPROTO_TCP, TCP_KEEPCNT, 1);
    assert_int_equal(st_bind(lfd, 0, ST_LPORT), 0);
    assert_int_equal(ust_listen(lfd, 4), 0);
    tcp_isn_override_for_tests(t->s, CONN_ISS);
    feed(t, tcp(.flags = SYN, .seq = CONN_IRS, .mss = 1460));
    expect_tcp(t, .flags = SYN | ACK, .seq = CONN_ISS);
    feed(t, tcp(.flags = ACK, .seq = CONN_IRS + 1, .ack = CONN_ISS + 1));
    int fd = ust_accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
    assert_true(fd >= 0);
    expect_tcp_after(t, 30000, .flags = ACK, .seq = CONN_ISS, .len = 0);
    expect_tcp_after(t, 5000, .flags = RST | ACK, .seq = CONN_ISS + 1);
    assert_int_equal(st_tcp_state(fd), CLOSED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, st_setup, st_teardown)
        T(test_keepalive_defaults_probe_after_two_hours_nine_times),
        T(test_keepidle_keepintvl_keepcnt_set_the_schedule),
        T(test_answered_probe_restarts_the_idle_time),
        T(test_answer_after_some_probes_keeps_the_connection),
        T(test_received_data_restarts_the_idle_time),
        T(test_no_probes_while_data_is_in_flight),
        T(test_without_so_keepalive_an_idle_connection_is_silent),
        T(test_so_keepalive_off_stops_the_probes),
        T(test_keepalive_probe_carries_timestamps),
        T(test_accepted_connection_inherits_keepalive_settings),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
