/*
 * Closing (RFC 9293 3.6, 3.10.4): active, passive and simultaneous close; half-close with
 * shutdown(); abortive close (SO_LINGER 0, unread data: RFC 2525 2.17); the FIN_WAIT_2 timeout of
 * an orphan; and TIME_WAIT: its 2 MSL (Linux's 60 s), the repeated FIN it re-acknowledges, the
 * RST that ends it (as Linux, tcp_rfc1337 = 0) and the SYN that may reopen it (RFC 6191).
 * What Linux 6.18 does in TIME_WAIT was checked with a scripted peer: data, a repeated FIN and an
 * old SYN each get an ACK; a bare ACK gets nothing; a SYN above RCV.NXT opens a new connection.
 */
#include "tcptest.h"

#include <poll.h>

#include "net/stack.h"
#include "tcp/tcp.h"

#define TW_MS 60000              /* tcp_time_wait_ms */

/* ---- Active close ---- */

static void test_active_close_walks_fin_wait_1_fin_wait_2_time_wait(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    assert_int_equal(ust_shutdown(c.fd, SHUT_WR), 0);
    expect_tcp(t, .flags = FIN | ACK, .seq = L, .ack = R, .window = ST_WIN, .len = 0);
    assert_int_equal(st_tcp_state(c.fd), FIN_WAIT_1);
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L + 1));
    expect_no_tx(t);
    assert_int_equal(st_tcp_state(c.fd), FIN_WAIT_2);
    feed(t, tcp(.flags = FIN | ACK, .seq = R, .ack = L + 1));
    expect_tcp(t, .flags = ACK, .seq = L + 1, .ack = R + 1, .len = 0);
    assert_int_equal(st_tcp_state(c.fd), TIME_WAIT);
    char b;
    assert_int_equal(ust_recv(c.fd, &b, 1, 0), 0);   /* end of stream */
    assert_int_equal(counter(t, "tcp.tw_created"), 1);
}

static void test_fin_is_retransmitted_until_acknowledged(void **state)
{
    struct st *t = *state;
    st_restart(t, "tcp_tlp=0");   /* the RTO alone (test_tcp_rtx.c has the probe first) */
    struct conn c = conn_in_state(t, FIN_WAIT_1);
    /* The FIN is data to the retransmission timer. The handshake measured an RTT of ~0, so
     * the RTO is Linux's 200 ms floor (plus the RTT), doubling. */
    expect_tcp_after(t, 200, .flags = FIN | ACK, .seq = c.snd_nxt - 1, .ack = c.rcv_nxt);
    expect_tcp_after(t, 400, .flags = FIN | ACK, .seq = c.snd_nxt - 1, .ack = c.rcv_nxt);
    feed(t, tcp(.flags = ACK, .seq = c.rcv_nxt, .ack = c.snd_nxt));
    assert_int_equal(st_tcp_state(c.fd), FIN_WAIT_2);
    advance(t, 10000);
    expect_no_tx(t);
}

static void test_an_orphan_with_no_buffer_for_its_fin_gives_up(void **state)
{
    struct st *t = *state;
    /* Every buffer of the pool held elsewhere (here by the test; in life by other sockets'
     * receive queues, say): a closed connection's FIN is queued, but no buffer is left to send
     * it in (the loop link takes copies). The timer tries again, each try counting as an
     * unanswered probe, and after tcp_retries2 of them the orphan ends instead of holding its
     * buffers for ever (fuzz_stack found one that never did). */
    st_restart(t, "pool_buffers=64", "tcp_retries2=3");
    struct conn c = conn_in_state(t, ESTABLISHED);
    static struct pkt *held[64];
    unsigned n = 0;
    stack_enter(t->s);
    while (n < 64 && (held[n] = pkt_alloc(t->s->pool)))
        n++;
    pkt_free(held[--n]);   /* one left: for the FIN's own segment */
    stack_leave(t->s);
    assert_int_equal(ust_close(c.fd), 0);
    expect_no_tx(t);
    assert_true(counter(t, "tcp.nobufs") >= 1);
    assert_int_equal(tcp_connection_count(t->s), 1);
    for (unsigned i = 0; i < 600 && tcp_connection_count(t->s); i++)
        advance(t, 100);
    assert_int_equal(tcp_connection_count(t->s), 0);
    assert_int_equal(counter(t, "tcp.timeout_aborts"), 1);
    expect_no_tx(t);
    stack_enter(t->s);
    while (n)
        pkt_free(held[--n]);
    stack_leave(t->s);
}

static void test_fin_follows_the_data_queued_before_close(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    conn_send(&c, "last words", 10);
    expect_tcp(t, .flags = ACK | PSH, .seq = L, .data = "last words");
    assert_int_equal(ust_close(c.fd), 0);
    /* The FIN waits for nothing: it goes in its own segment after the data in flight. */
    expect_tcp(t, .flags = FIN | ACK, .seq = L + 10, .ack = R, .len = 0);
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L + 11));
    feed(t, tcp(.flags = FIN | ACK, .seq = R, .ack = L + 11));
    expect_tcp(t, .flags = ACK, .seq = L + 11, .ack = R + 1);
    expect_no_tx(t);
}

static void test_fin_rides_on_unsent_data_after_close(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED, .peer_window = 0, .peer_ws = -1);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    /* The peer's window is closed: the data waits, and close() puts the FIN on it. */
    conn_send(&c, "queued", 6);
    expect_no_tx(t);
    assert_int_equal(ust_close(c.fd), 0);
    expect_no_tx(t);
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L, .window = 1000));
    expect_tcp(t, .flags = FIN | PSH | ACK, .seq = L, .ack = R, .data = "queued");
    expect_no_tx(t);
}

/* ---- Passive and simultaneous close ---- */

static void test_passive_close_walks_close_wait_last_ack_closed(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    feed(t, tcp(.flags = FIN | ACK, .seq = R, .ack = L));
    expect_tcp(t, .flags = ACK, .seq = L, .ack = R + 1);   /* a FIN is acknowledged at once */
    assert_int_equal(st_tcp_state(c.fd), CLOSE_WAIT);
    char b;
    assert_int_equal(ust_recv(c.fd, &b, 1, 0), 0);
    /* We may still send (half-close). */
    conn_send(&c, "bye", 3);
    expect_tcp(t, .flags = ACK | PSH, .seq = L, .ack = R + 1, .data = "bye");
    assert_int_equal(ust_close(c.fd), 0);
    expect_tcp(t, .flags = FIN | ACK, .seq = L + 3, .ack = R + 1);
    assert_int_equal(tcp_connection_count(t->s), 1);   /* LAST_ACK, orphaned */
    feed(t, tcp(.flags = ACK, .seq = R + 1, .ack = L + 4));
    expect_no_tx(t);
    assert_int_equal(tcp_connection_count(t->s), 0);
    assert_int_equal(counter(t, "tcp.tw_created"), 0);
}

static void test_last_ack_fin_is_retransmitted(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, LAST_ACK, .orphan = true);
    expect_tcp_after(t, 200, .flags = FIN | ACK, .seq = c.snd_nxt - 1, .ack = c.rcv_nxt);
    feed(t, tcp(.flags = ACK, .seq = c.rcv_nxt, .ack = c.snd_nxt));
    assert_int_equal(tcp_connection_count(t->s), 0);
}

static void test_simultaneous_close_walks_closing_to_time_wait(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, CLOSING);   /* FINs crossed; ours not yet acknowledged */
    feed(t, tcp(.flags = ACK, .seq = c.rcv_nxt, .ack = c.snd_nxt));
    expect_no_tx(t);
    assert_int_equal(st_tcp_state(c.fd), TIME_WAIT);
}

static void test_simultaneous_close_fin_ack_together(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, FIN_WAIT_1);
    /* The peer's FIN acknowledges ours: straight to TIME_WAIT. */
    feed(t, tcp(.flags = FIN | ACK, .seq = c.rcv_nxt, .ack = c.snd_nxt));
    expect_tcp(t, .flags = ACK, .seq = c.snd_nxt, .ack = c.rcv_nxt + 1);
    assert_int_equal(st_tcp_state(c.fd), TIME_WAIT);
}

/* ---- Half-close ---- */

static void test_shutdown_wr_still_receives(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, FIN_WAIT_2);
    uint32_t R = c.rcv_nxt;
    feed(t, tcp(.flags = ACK | PSH, .seq = R, .ack = c.snd_nxt, .data = "more"));
    expect_tcp(t, .flags = ACK, .seq = c.snd_nxt, .ack = R + 4);
    char b[8];
    assert_int_equal(ust_recv(c.fd, b, sizeof(b), 0), 4);
    assert_memory_equal(b, "more", 4);
    expect_errno(ust_send(c.fd, "x", 1, MSG_NOSIGNAL), EPIPE);
    /* Poll: readable data gone, not hung up yet; writing is over. */
    struct pollfd p = { .fd = c.fd, .events = POLLIN | POLLOUT | POLLRDHUP };
    assert_int_equal(ust_poll(&p, 1, 0), 1);
    assert_int_equal(p.revents, POLLOUT);
    feed(t, tcp(.flags = FIN | ACK, .seq = R + 4, .ack = c.snd_nxt));
    expect_tcp(t, .flags = ACK, .ack = R + 5);
    assert_int_equal(ust_poll(&p, 1, 0), 1);
    assert_int_equal(p.revents, POLLIN | POLLOUT | POLLRDHUP | POLLHUP);
}

static void test_shutdown_rd_discards_later_data_but_acknowledges_it(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    assert_int_equal(ust_shutdown(c.fd, SHUT_RD), 0);
    expect_no_tx(t);   /* nothing on the wire (as Linux) */
    char b[8];
    assert_int_equal(ust_recv(c.fd, b, sizeof(b), 0), 0);
    feed(t, tcp(.flags = ACK | PSH, .seq = R, .ack = L, .data = "ignored"));
    expect_tcp(t, .flags = ACK, .ack = R + 7);
    assert_int_equal(ust_recv(c.fd, b, sizeof(b), 0), 0);
    conn_send(&c, "out", 3);   /* the sending side is untouched */
    expect_tcp(t, .flags = ACK | PSH, .seq = L, .data = "out");
}

/* ---- Abortive close ---- */

static void test_so_linger_zero_closes_with_rst(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    assert_int_equal(ust_setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    conn_send(&c, "unacked", 7);
    expect_tcp(t, .flags = ACK | PSH, .seq = L, .data = "unacked");
    assert_int_equal(ust_close(c.fd), 0);
    /* As Linux's tcp_send_active_reset: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=RST,ACK>. */
    expect_tcp(t, .flags = RST | ACK, .seq = L + 7, .ack = R, .len = 0);
    expect_no_tx(t);
    assert_int_equal(tcp_connection_count(t->s), 0);
    assert_int_equal(counter(t, "tcp.tw_created"), 0);
    /* The peer's next segment finds nothing: a reset. */
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L + 7));
    expect_tcp(t, .flags = RST, .seq = L + 7);
}

static void test_close_with_unread_data_sends_rst(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    feed(t, tcp(.flags = ACK | PSH, .seq = R, .ack = L, .data = "unread"));
    expect_tcp(t, .flags = ACK, .ack = R + 6);
    assert_int_equal(ust_close(c.fd), 0);
    /* RFC 2525 2.17 and Linux: the data was not consumed, so a reset, not a FIN. */
    expect_tcp(t, .flags = RST | ACK, .seq = L, .ack = R + 6);
    expect_no_tx(t);
    assert_int_equal(tcp_connection_count(t->s), 0);
}

static void test_data_for_a_closed_socket_draws_rst(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, FIN_WAIT_2, .orphan = true);
    /* The user has closed: new data cannot be delivered (RFC 2525 2.17, as Linux). */
    feed(t, tcp(.flags = ACK | PSH, .seq = c.rcv_nxt, .ack = c.snd_nxt, .data = "hello?"));
    expect_tcp(t, .flags = RST | ACK, .seq = c.snd_nxt);
    expect_no_tx(t);
    assert_int_equal(tcp_connection_count(t->s), 0);
}

static void test_close_in_syn_sent_is_silent(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, SYN_SENT);
    assert_int_equal(ust_close(c.fd), 0);
    expect_no_tx(t);
    assert_int_equal(tcp_connection_count(t->s), 0);
    /* The late SYN-ACK is answered with a reset. */
    feed(t, tcp(.flags = SYN | ACK, .seq = c.irs, .ack = c.iss + 1));
    expect_tcp(t, .flags = RST, .seq = c.iss + 1);
}

/* ---- FIN_WAIT_2 ---- */

static void test_orphan_in_fin_wait_2_is_dropped_after_tcp_fin_timeout(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, FIN_WAIT_2, .orphan = true);
    /* Linux's tcp_fin_timeout (60 s): the peer never sent its FIN. Quietly gone. */
    advance(t, 60000 - 1);
    assert_int_equal(tcp_connection_count(t->s), 1);
    advance_past(t, 1);
    expect_no_tx(t);
    assert_int_equal(tcp_connection_count(t->s), 0);
    feed(t, tcp(.flags = FIN | ACK, .seq = c.rcv_nxt, .ack = c.snd_nxt));
    expect_tcp(t, .flags = RST, .seq = c.snd_nxt);
}

static void test_fin_wait_2_with_an_open_socket_waits_forever(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, FIN_WAIT_2);
    advance(t, 3600 * 1000);
    expect_no_tx(t);
    assert_int_equal(st_tcp_state(c.fd), FIN_WAIT_2);
}

/* ---- TIME_WAIT ---- */

static void test_time_wait_lasts_60_seconds(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, TIME_WAIT, .orphan = true);
    uint16_t window = t->rx->tcp.window;   /* of the ACK that entered TIME_WAIT */
    assert_int_equal(tcp_connection_count(t->s), 0);   /* a compact entry, not a connection */
    /* Data at 59.999 s is answered from TIME_WAIT (the window as last advertised, as Linux;
     * it does not restart the timer)... */
    advance(t, TW_MS - 1);
    feed(t, tcp(.flags = ACK | PSH, .seq = c.rcv_nxt, .ack = c.snd_nxt, .data = "x"));
    expect_tcp(t, .flags = ACK, .seq = c.snd_nxt, .ack = c.rcv_nxt, .window = window,
               .hdr_len = 20);
    /* ... and after 60 s the entry is gone: the port answers with a reset. */
    advance_past(t, 1);
    feed(t, tcp(.flags = ACK | PSH, .seq = c.rcv_nxt, .ack = c.snd_nxt, .data = "x"));
    expect_tcp(t, .flags = RST, .seq = c.snd_nxt);
}

static void test_time_wait_of_an_open_socket_lasts_60_seconds(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, TIME_WAIT);
    advance(t, TW_MS - 1);
    assert_int_equal(st_tcp_state(c.fd), TIME_WAIT);
    feed(t, tcp(.flags = ACK | PSH, .seq = c.rcv_nxt, .ack = c.snd_nxt, .data = "x"));
    expect_tcp(t, .flags = ACK, .seq = c.snd_nxt, .ack = c.rcv_nxt);
    advance_past(t, 1);
    assert_int_equal(st_tcp_state(c.fd), CLOSED);
}

static void test_closing_a_socket_in_time_wait_keeps_only_a_compact_entry(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, TIME_WAIT);
    assert_int_equal(tcp_connection_count(t->s), 1);   /* the user still holds it */
    advance(t, 20000);
    assert_int_equal(ust_close(c.fd), 0);
    expect_no_tx(t);
    /* No longer a connection (as a closed Linux socket in TIME_WAIT), but TIME_WAIT goes on
     * for the 40 s left of its 60: a repeated FIN is still acknowledged... */
    assert_int_equal(tcp_connection_count(t->s), 0);
    advance(t, TW_MS - 20000 - 1);
    feed(t, tcp(.flags = ACK | PSH, .seq = c.rcv_nxt, .ack = c.snd_nxt, .data = "x"));
    expect_tcp(t, .flags = ACK, .seq = c.snd_nxt, .ack = c.rcv_nxt);
    /* ... until 60 s after the connection entered it. */
    advance_past(t, 1);
    feed(t, tcp(.flags = ACK | PSH, .seq = c.rcv_nxt, .ack = c.snd_nxt, .data = "x"));
    expect_tcp(t, .flags = RST, .seq = c.snd_nxt);
}

static void test_time_wait_reacknowledges_a_repeated_fin_and_restarts(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, TIME_WAIT, .orphan = true);
    advance(t, 30000);
    /* Our last ACK was lost: the peer repeats its FIN. ACK it, and wait 2 MSL again. */
    feed(t, tcp(.flags = FIN | ACK, .seq = c.rcv_nxt - 1, .ack = c.snd_nxt));
    expect_tcp(t, .flags = ACK, .seq = c.snd_nxt, .ack = c.rcv_nxt);
    advance(t, TW_MS - 1);
    feed(t, tcp(.flags = ACK | PSH, .seq = c.rcv_nxt, .ack = c.snd_nxt, .data = "x"));
    expect_tcp(t, .flags = ACK, .seq = c.snd_nxt, .ack = c.rcv_nxt);   /* still there */
    advance_past(t, 1);
    feed(t, tcp(.flags = ACK | PSH, .seq = c.rcv_nxt, .ack = c.snd_nxt, .data = "x"));
    expect_tcp(t, .flags = RST, .seq = c.snd_nxt);
}

static void test_time_wait_of_an_open_socket_reacknowledges_a_repeated_fin(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, TIME_WAIT);
    advance(t, 30000);
    feed(t, tcp(.flags = FIN | ACK, .seq = c.rcv_nxt - 1, .ack = c.snd_nxt));
    expect_tcp(t, .flags = ACK, .seq = c.snd_nxt, .ack = c.rcv_nxt);
    advance(t, TW_MS - 1);
    assert_int_equal(st_tcp_state(c.fd), TIME_WAIT);
    advance_past(t, 1);
    assert_int_equal(st_tcp_state(c.fd), CLOSED);
}

static void test_time_wait_ignores_a_bare_ack(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, TIME_WAIT, .orphan = true);
    feed(t, tcp(.flags = ACK, .seq = c.rcv_nxt, .ack = c.snd_nxt));
    expect_no_tx(t);
}

static void test_rst_ends_time_wait(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, TIME_WAIT, .orphan = true);
    /* As Linux with tcp_rfc1337 = 0 (RFC 1337 would keep it): the entry goes at once. */
    feed(t, tcp(.flags = RST, .seq = c.rcv_nxt));
    expect_no_tx(t);
    feed(t, tcp(.flags = ACK | PSH, .seq = c.rcv_nxt, .ack = c.snd_nxt, .data = "x"));
    expect_tcp(t, .flags = RST, .seq = c.snd_nxt);
}

static void test_time_wait_with_timestamps_echoes_the_peer(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, TIME_WAIT, .orphan = true, .peer_ts = true);
    advance(t, 5000);
    feed(t, tcp(.flags = FIN | ACK, .seq = c.rcv_nxt - 1, .ack = c.snd_nxt,
                .tsval = c.peer_tsval + 5, .tsecr = 1));
    /* The entry keeps the timestamp clock: TSval moves on, TSecr is TS.Recent (the FIN that
     * made TIME_WAIT: RFC 7323 4.3 does not update it from a segment below Last.ACK.sent). */
    expect_tcp(t, .flags = ACK, .seq = c.snd_nxt, .ack = c.rcv_nxt, .tsval = conn_tsval(&c),
               .tsecr = c.peer_tsval, .hdr_len = 32);
}

/* A passive connection the server side closed first: TIME_WAIT on the listener's port. */
static struct conn server_time_wait(struct st *t, bool ts)
{
    return conn_in_state(t, TIME_WAIT, .passive = true, .orphan = true, .peer_ts = ts);
}

static void test_syn_above_rcv_nxt_reopens_time_wait(void **state)
{
    struct st *t = *state;
    struct conn c = server_time_wait(t, false);
    /* RFC 1122 4.2.2.13 / RFC 6191 without timestamps: a SYN beyond the old sequence space
     * starts a new incarnation through the listener. */
    tcp_isn_override_for_tests(t->s, 0xfffffff0u);
    feed(t, tcp(.flags = SYN, .seq = c.rcv_nxt + 100000, .mss = 1460));
    expect_tcp(t, .flags = SYN | ACK, .seq = 0xfffffff0u, .ack = c.rcv_nxt + 100001,
               .mss = ST_MSS);
    assert_int_equal(counter(t, "tcp.tw_recycled"), 1);
    feed(t, tcp(.flags = ACK, .seq = c.rcv_nxt + 100001, .ack = 0xfffffff1u));
    int fd = ust_accept4(c.lfd, NULL, NULL, SOCK_NONBLOCK);
    assert_true(fd >= 0);
    assert_int_equal(st_tcp_state(fd), ESTABLISHED);
}

static void test_old_syn_in_time_wait_gets_an_ack(void **state)
{
    struct st *t = *state;
    struct conn c = server_time_wait(t, false);
    feed(t, tcp(.flags = SYN, .seq = c.rcv_nxt - 1, .mss = 1460));
    expect_tcp(t, .flags = ACK, .seq = c.snd_nxt, .ack = c.rcv_nxt);
    expect_no_tx(t);
    assert_int_equal(counter(t, "tcp.tw_recycled"), 0);
}

static void test_syn_with_newer_timestamp_reopens_time_wait(void **state)
{
    struct st *t = *state;
    struct conn c = server_time_wait(t, true);
    /* RFC 6191: with timestamps, a newer TSval decides, whatever the sequence number. */
    feed(t, tcp(.flags = SYN, .seq = c.rcv_nxt - 5000, .mss = 1460, .tsval = c.peer_tsval + 1,
                .tsecr = 0));
    expect_tcp(t, .flags = SYN | ACK, .ack = c.rcv_nxt - 4999, .tsecr = c.peer_tsval + 1);
    assert_int_equal(counter(t, "tcp.tw_recycled"), 1);
}

static void test_syn_with_older_timestamp_does_not_reopen_time_wait(void **state)
{
    struct st *t = *state;
    struct conn c = server_time_wait(t, true);
    feed(t, tcp(.flags = SYN, .seq = c.rcv_nxt + 5000, .mss = 1460, .tsval = c.peer_tsval - 1,
                .tsecr = 0));
    expect_tcp(t, .flags = ACK, .seq = c.snd_nxt, .ack = c.rcv_nxt);
    assert_int_equal(counter(t, "tcp.tw_recycled"), 0);
}

static void test_time_wait_holds_the_port_against_bind(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, TIME_WAIT, .orphan = true);
    (void)c;
    int fd = st_tcp_socket(t);
    expect_errno(st_bind(fd, 0, ST_LPORT), EADDRINUSE);
    int one = 1;
    assert_int_equal(ust_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
    assert_int_equal(st_bind(fd, 0, ST_LPORT), 0);   /* as Linux: SO_REUSEADDR passes */
    ust_close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, st_setup, st_teardown)
        T(test_active_close_walks_fin_wait_1_fin_wait_2_time_wait),
        T(test_fin_is_retransmitted_until_acknowledged),
        T(test_an_orphan_with_no_buffer_for_its_fin_gives_up),
        T(test_fin_follows_the_data_queued_before_close),
        T(test_fin_rides_on_unsent_data_after_close),
        T(test_passive_close_walks_close_wait_last_ack_closed),
        T(test_last_ack_fin_is_retransmitted),
        T(test_simultaneous_close_walks_closing_to_time_wait),
        T(test_simultaneous_close_fin_ack_together),
        T(test_shutdown_wr_still_receives),
        T(test_shutdown_rd_discards_later_data_but_acknowledges_it),
        T(test_so_linger_zero_closes_with_rst),
        T(test_close_with_unread_data_sends_rst),
        T(test_data_for_a_closed_socket_draws_rst),
        T(test_close_in_syn_sent_is_silent),
        T(test_orphan_in_fin_wait_2_is_dropped_after_tcp_fin_timeout),
        T(test_fin_wait_2_with_an_open_socket_waits_forever),
        T(test_time_wait_lasts_60_seconds),
        T(test_time_wait_of_an_open_socket_lasts_60_seconds),
        T(test_closing_a_socket_in_time_wait_keeps_only_a_compact_entry),
        T(test_time_wait_reacknowledges_a_repeated_fin_and_restarts),
        T(test_time_wait_of_an_open_socket_reacknowledges_a_repeated_fin),
        T(test_time_wait_ignores_a_bare_ack),
        T(test_rst_ends_time_wait),
        T(test_time_wait_with_timestamps_echoes_the_peer),
        T(test_syn_above_rcv_nxt_reopens_time_wait),
        T(test_old_syn_in_time_wait_gets_an_ack),
        T(test_syn_with_newer_timestamp_reopens_time_wait),
        T(test_syn_with_older_timestamp_does_not_reopen_time_wait),
        T(test_time_wait_holds_the_port_against_bind),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
