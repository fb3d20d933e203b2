/*
 * Listening (issue 4, item 8): the backlog (Linux's backlog + 1), the accept queue and what
 * happens when it is full (SYNs dropped; a completing ACK forgotten, the SYN-ACK repeated, as
 * Linux with tcp_abort_on_overflow = 0), SYN cookies when the SYN queue is full (the MSS in the
 * ISN, window scale and SACK-permitted in the low bits of our TSval, as Linux), their validity,
 * a listener closing with connections still queued, and a listener found on its port behind
 * connections (the bind chain keeps unconnected entries first).
 */
#include "tcptest.h"

#include <arpa/inet.h>

#include "net/stack.h"
#include "sock/sock.h"
#include "tcp/table.h"
#include "tcp/tcb.h"

#define IRS 0xfffffff0u

/* The peer opens from port `sport`: its SYN, our SYN-ACK (returned), nothing else. */
static const struct st_rx *syn(struct st *t, uint16_t sport, uint32_t irs)
{
    feed(t, tcp(.sport = sport, .flags = SYN, .seq = irs, .mss = 1460, .ws = 7,
                .sack_perm = true));
    return expect_tcp(t, .dport = sport, .flags = SYN | ACK, .ack = irs + 1);
}

static void complete(struct st *t, uint16_t sport, uint32_t irs, uint32_t iss)
{
    feed(t, tcp(.sport = sport, .flags = ACK, .seq = irs + 1, .ack = iss + 1));
}

static int accept_nb(int lfd)
{
    return ust_accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
}

/* ---- Backlog and the accept queue ---- */

static void test_backlog_n_queues_n_plus_1_then_drops_syns(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int lfd = st_tcp_listener(t, ST_LPORT, 2);
    /* As Linux (sk_acceptq_is_full is "more than backlog"): three complete connections wait. */
    for (uint16_t i = 0; i < 3; i++) {
        uint32_t iss = syn(t, (uint16_t)(41000 + i), IRS)->tcp.seq;
        complete(t, (uint16_t)(41000 + i), IRS, iss);
    }
    expect_no_tx(t);
    /* A fourth SYN is dropped while the queue is full (Linux's tcp_conn_request): no SYN-ACK,
     * no reset; the peer's SYN retransmission will find room later. */
    feed(t, tcp(.sport = 41003, .flags = SYN, .seq = IRS, .mss = 1460));
    expect_no_tx(t);
    assert_int_equal(counter(t, "tcp.listen_overflows"), 1);
    int fd = accept_nb(lfd);
    assert_true(fd >= 0);
    feed(t, tcp(.sport = 41003, .flags = SYN, .seq = IRS, .mss = 1460));
    expect_tcp(t, .dport = 41003, .flags = SYN | ACK, .ack = IRS + 1);
    assert_int_equal(counter(t, "tcp.passive_opens"), 3);
}

static void test_accept_returns_connections_in_order_then_eagain(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int lfd = st_tcp_listener(t, ST_LPORT, 8);
    for (uint16_t i = 0; i < 3; i++) {
        uint32_t iss = syn(t, (uint16_t)(41000 + i), IRS)->tcp.seq;
        complete(t, (uint16_t)(41000 + i), IRS, iss);
    }
    for (uint16_t i = 0; i < 3; i++) {
        struct sockaddr_in sin;
        socklen_t len = sizeof(sin);
        int fd = ust_accept4(lfd, (struct sockaddr *)&sin, &len, SOCK_NONBLOCK);
        assert_true(fd >= 0);
        assert_int_equal(ntohs(sin.sin_port), 41000 + i);
    }
    expect_errno(accept_nb(lfd), EAGAIN);
}

static void test_full_accept_queue_forgets_the_ack_and_repeats_the_syn_ack(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    /* Backlog 1: two embryos at most, two in the accept queue. */
    int lfd = st_tcp_listener(t, ST_LPORT, 1);
    uint32_t a = syn(t, 41000, IRS)->tcp.seq;
    uint32_t b = syn(t, 41001, IRS)->tcp.seq;
    complete(t, 41000, IRS, a);
    uint32_t c = syn(t, 41002, IRS)->tcp.seq;   /* admitted: the queue had room */
    complete(t, 41001, IRS, b);                 /* the accept queue is full now */
    expect_no_tx(t);
    /* C's handshake completes with no room: the ACK is forgotten (Linux,
     * tcp_abort_on_overflow = 0): no reset, C stays in SYN_RECEIVED. */
    advance(t, 100);
    complete(t, 41002, IRS, c);
    expect_no_tx(t);
    assert_int_equal(counter(t, "tcp.listen_overflows"), 1);
    assert_true(accept_nb(lfd) >= 0);
    assert_true(accept_nb(lfd) >= 0);
    expect_errno(accept_nb(lfd), EAGAIN);
    /* C's SYN-ACK is repeated by its timer (the RTO from the handshake's 100 ms sample:
     * 100 + 200); the peer's next ACK finds room. */
    expect_tcp_after(t, 300 - 100 + 100, .dport = 41002, .flags = SYN | ACK, .seq = c,
                     .ack = IRS + 1);
    complete(t, 41002, IRS, c);
    expect_no_tx(t);
    int fc = accept_nb(lfd);
    assert_true(fc >= 0);
    assert_int_equal(st_tcp_state(fc), ESTABLISHED);
    /* And C carries data like any connection. */
    feed(t, tcp(.sport = 41002, .flags = ACK | PSH, .seq = IRS + 1, .ack = c + 1, .data = "c"));
    expect_tcp(t, .dport = 41002, .flags = ACK, .ack = IRS + 2);
}

static void test_a_repeated_syn_ack_keeps_the_window_an_ack_offered(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    st_tcp_listener(t, ST_LPORT, 8);
    const struct st_rx *rx = syn(t, 41000, IRS);
    uint32_t iss = rx->tcp.seq;
    uint8_t shift = rx->tcp.opt.wscale;
    /* A segment outside the window, in SYN_RECEIVED: answered with an ACK (RFC 9293
     * 3.10.7.4), whose window is scaled (RFC 7323 2.2), so it may offer more than the SYN-ACK's
     * 16 bits could. */
    feed(t, tcp(.sport = 41000, .flags = ACK, .seq = IRS + 1 + (1u << 30), .ack = iss + 1));
    rx = expect_tcp(t, .dport = 41000, .flags = ACK, .seq = iss + 1, .ack = IRS + 1);
    uint32_t edge = IRS + 1 + ((uint32_t)rx->tcp.window << shift);
    assert_true(edge - (IRS + 1) > 0xffff);
    /* The SYN-ACK again, on its timer (RFC 6298 2.1: 1 s with no RTT sample): it offers all
     * that 16 bits say, and the edge stays where the ACK put it (RFC 7323 2.4). */
    expect_tcp_after(t, 1000, .dport = 41000, .flags = SYN | ACK, .seq = iss, .ack = IRS + 1,
                     .window = 0xffff);
    complete(t, 41000, IRS, iss);
    expect_no_tx(t);
    /* The peer may send anywhere in what the ACK offered: a byte past the SYN-ACK's 64 KiB is
     * in the window, held out of order and SACKed (RFC 2018). */
    uint32_t far = IRS + 1 + 0x10000 + 100;
    feed(t, tcp(.sport = 41000, .flags = ACK | PSH, .seq = far, .ack = iss + 1, .data = "y"));
    rx = expect_tcp(t, .dport = 41000, .flags = ACK, .ack = IRS + 1, .nsack = 1,
                    .sack = { { far, far + 1 } });
    /* (A scaled window may round down, by less than one unit of it.) */
    assert_true(seq_geq(IRS + 1 + ((uint32_t)(rx->tcp.window + 1) << shift) - 1, edge));
    expect_no_tx(t);
}

static void test_a_syn_with_fin_opens_nothing(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    st_tcp_listener(t, ST_LPORT, 8);
    /* Dropped, as Linux does at a listener: no SYN-ACK, no embryo. */
    feed(t, tcp(.sport = 41000, .flags = SYN | FIN, .seq = IRS, .mss = 1460));
    expect_no_tx(t);
    assert_int_equal(counter(t, "tcp.syn_fin_drops"), 1);
    assert_int_equal(tcp_connection_count(t->s), 0);
    /* The same SYN without FIN opens as usual. */
    syn(t, 41000, IRS);
    assert_int_equal(tcp_connection_count(t->s), 1);
}

static void test_closing_a_listener_resets_what_it_never_handed_out(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int lfd = st_tcp_listener(t, ST_LPORT, 8);
    uint32_t a = syn(t, 41000, IRS)->tcp.seq;
    complete(t, 41000, IRS, a);
    uint32_t b = syn(t, 41001, IRS)->tcp.seq;   /* still in SYN_RECEIVED */
    assert_int_equal(tcp_connection_count(t->s), 2);
    ust_close(lfd);
    /* The queued connection: a reset (as Linux's inet_csk_listen_stop -> tcp_disconnect). The
     * embryo: a reset too (a deliberate difference: Linux drops its request sockets silently
     * and resets the peer's later ACK instead). */
    expect_tcp(t, .dport = 41000, .flags = RST | ACK, .seq = a + 1, .ack = IRS + 1);
    expect_tcp(t, .dport = 41001, .flags = RST | ACK, .seq = b + 1, .ack = IRS + 1);
    expect_no_tx(t);
    assert_int_equal(tcp_connection_count(t->s), 0);
}

static void test_accept_on_a_socket_that_is_not_listening_is_einval(void **state)
{
    struct st *t = *state;
    int fd = st_tcp_socket(t);
    expect_errno(accept_nb(fd), EINVAL);
    assert_int_equal(st_bind(fd, 0, ST_LPORT), 0);
    expect_errno(accept_nb(fd), EINVAL);
    ust_close(fd);
}

static void test_listen_twice_only_changes_the_backlog(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int lfd = st_tcp_listener(t, ST_LPORT, 0);
    assert_int_equal(ust_listen(lfd, 5), 0);
    for (uint16_t i = 0; i < 6; i++) {
        uint32_t iss = syn(t, (uint16_t)(41000 + i), IRS)->tcp.seq;
        complete(t, (uint16_t)(41000 + i), IRS, iss);
    }
    expect_no_tx(t);
    assert_int_equal(counter(t, "tcp.listen_overflows"), 0);
}

/* ---- SYN cookies ---- */

/* A listener whose SYN queue holds one embryo (tcp_max_syn_backlog = 1), which the first SYN
 * fills: the next SYN is answered with a cookie. */
static int cookie_listener(struct st *t)
{
    st_restart(t, "tcp_max_syn_backlog=1");
    st_resolve_peer(t);
    int lfd = st_tcp_listener(t, ST_LPORT, 16);
    syn(t, 40999, IRS);
    return lfd;
}

static void test_syn_cookie_carries_mss_wscale_and_sack_in_the_timestamp(void **state)
{
    struct st *t = *state;
    int lfd = cookie_listener(t);
    feed(t, tcp(.flags = SYN, .seq = IRS, .mss = 1460, .ws = 5, .sack_perm = true, .tsval = 777,
                .tsecr = 0));
    /* The SYN-ACK looks like any other (options mirrored), but nothing is kept. As Linux
     * (cookie_init_timestamp): the low 6 bits of TSval are the window scale (4 bits) and
     * SACK-permitted (bit 4). */
    const struct st_rx *rx = expect_tcp(t, .flags = SYN | ACK, .ack = IRS + 1, .mss = ST_MSS,
                                        .ws = ST_WS, .sack_perm = 1, .tsecr = 777);
    uint32_t cookie = rx->tcp.seq, tsval = rx->tcp.opt.ts_val;
    assert_int_equal(tsval & 0x3f, 0x10 | 5);
    assert_int_equal(counter(t, "tcp.syncookies_sent"), 1);
    assert_int_equal(tcp_connection_count(t->s), 1);   /* only the first embryo */
    /* The ACK (echoing that TSval) creates the connection from the cookie alone. */
    feed(t, tcp(.flags = ACK, .seq = IRS + 1, .ack = cookie + 1, .tsval = 778, .tsecr = tsval));
    expect_no_tx(t);
    assert_int_equal(counter(t, "tcp.syncookies_recv"), 1);
    int fd = accept_nb(lfd);
    assert_true(fd >= 0);
    struct ust_tcp_info i = st_tcp_info(fd);
    assert_int_equal(i.state, 1);   /* TCP_ESTABLISHED in Linux's numbering */
    assert_int_equal(i.options, UST_TCPI_OPT_TIMESTAMPS | UST_TCPI_OPT_SACK | UST_TCPI_OPT_WSCALE);
    assert_int_equal(i.snd_wscale, 5);
    assert_int_equal(i.rcv_wscale, ST_WS);
    assert_int_equal(i.mss, 1460 - 12);
    /* It works: data both ways, our window scaled, the peer's window scaled by 5. */
    feed(t, tcp(.flags = ACK | PSH, .seq = IRS + 1, .ack = cookie + 1, .window = 100,
                .tsval = 779, .tsecr = tsval, .data = "cookie"));
    expect_tcp(t, .flags = ACK, .seq = cookie + 1, .ack = IRS + 7, .tsecr = 779);
    assert_int_equal(st_tcp_info(fd).snd_wnd, 100 << 5);
    char b[8];
    assert_int_equal(ust_recv(fd, b, sizeof(b), 0), 6);
}

static void test_syn_cookie_without_timestamps_keeps_only_the_mss(void **state)
{
    struct st *t = *state;
    int lfd = cookie_listener(t);
    feed(t, tcp(.flags = SYN, .seq = IRS, .mss = 1400, .ws = 7, .sack_perm = true));
    /* The SYN-ACK offers the MSS alone (Linux's tcp_clear_options): had it offered window
     * scaling, the peer would scale the unscaled windows this connection sends (RFC 7323 2.2;
     * found by fuzz_stack). */
    uint32_t cookie = expect_tcp(t, .flags = SYN | ACK, .ack = IRS + 1, .hdr_len = 24)->tcp.seq;
    feed(t, tcp(.flags = ACK, .seq = IRS + 1, .ack = cookie + 1));
    int fd = accept_nb(lfd);
    assert_true(fd >= 0);
    /* Without timestamps nothing recalls the SYN's window scale or SACK-permitted; the MSS is
     * the largest of Linux's table (536, 1300, 1440, 1460) not above 1400. */
    struct ust_tcp_info i = st_tcp_info(fd);
    assert_int_equal(i.options, 0);
    assert_int_equal(i.mss, 1300);
    assert_int_equal(i.rcv_wscale, 0);
    feed(t, tcp(.flags = ACK | PSH, .seq = IRS + 1, .ack = cookie + 1, .data = "x"));
    expect_tcp(t, .flags = ACK, .ack = IRS + 2, .window = 65535, .nsack = 0, .hdr_len = 20);
}

static void test_ack_with_a_wrong_cookie_gets_a_reset(void **state)
{
    struct st *t = *state;
    int lfd = cookie_listener(t);
    feed(t, tcp(.flags = SYN, .seq = IRS, .mss = 1460));
    uint32_t cookie = expect_tcp(t, .flags = SYN | ACK)->tcp.seq;
    feed(t, tcp(.flags = ACK, .seq = IRS + 1, .ack = cookie + 2));
    expect_tcp(t, .flags = RST, .seq = cookie + 2);
    /* Another ISN. (A peer ISN off by 1 to 3 would decode as another MSS index and pass: the
     * cookie's layout is Linux's, which has the same property.) */
    feed(t, tcp(.flags = ACK, .seq = IRS + 1001, .ack = cookie + 1));
    expect_tcp(t, .flags = RST, .seq = cookie + 1);
    assert_int_equal(counter(t, "tcp.syncookies_failed"), 2);
    expect_errno(accept_nb(lfd), EAGAIN);
}

static void test_syn_cookie_expires_after_two_periods(void **state)
{
    struct st *t = *state;
    int lfd = cookie_listener(t);
    feed(t, tcp(.flags = SYN, .seq = IRS, .mss = 1460));
    uint32_t cookie = expect_tcp(t, .flags = SYN | ACK)->tcp.seq;
    /* Valid for two 64 s periods after the one it was made in (at most ~192 s). */
    advance(t, 200 * 1000);
    st_drain_tx(t);   /* the first embryo's SYN-ACK retransmissions */
    feed(t, tcp(.flags = ACK, .seq = IRS + 1, .ack = cookie + 1));
    expect_tcp(t, .flags = RST, .seq = cookie + 1);
    expect_errno(accept_nb(lfd), EAGAIN);
}

static void test_syn_cookie_survives_a_minute(void **state)
{
    struct st *t = *state;
    int lfd = cookie_listener(t);
    feed(t, tcp(.flags = SYN, .seq = IRS, .mss = 536));
    uint32_t cookie = expect_tcp(t, .flags = SYN | ACK)->tcp.seq;
    advance(t, 60 * 1000);
    st_drain_tx(t);   /* the first embryo's SYN-ACK retransmissions */
    feed(t, tcp(.flags = ACK, .seq = IRS + 1, .ack = cookie + 1));
    int fd = accept_nb(lfd);
    assert_true(fd >= 0);
    assert_int_equal(st_tcp_info(fd).mss, 536);
}

static void test_syn_cookie_timestamp_is_never_ahead_of_the_clock(void **state)
{
    struct st *t = *state;
    int lfd = cookie_listener(t);
    /* 64 consecutive milliseconds cover every value of the TSval's low 6 bits. */
    for (uint16_t i = 0; i < 64; i++) {
        uint16_t port = (uint16_t)(42000 + i);
        feed(t, tcp(.sport = port, .flags = SYN, .seq = IRS, .mss = 1460, .ws = 9,
                    .sack_perm = true, .tsval = 5, .tsecr = 0));
        const struct st_rx *rx = expect_tcp(t, .dport = port, .flags = SYN | ACK);
        uint32_t cookie = rx->tcp.seq, synack_ts = rx->tcp.opt.ts_val;
        feed(t, tcp(.sport = port, .flags = ACK | PSH, .seq = IRS + 1, .ack = cookie + 1,
                    .tsval = 6, .tsecr = synack_ts, .data = "d"));
        /* The ACK of the data: its TSval must not be older than the SYN-ACK's, or the peer's
         * PAWS (TS.Recent = the SYN-ACK's TSval) would drop it. */
        rx = expect_tcp(t, .dport = port, .flags = ACK, .ack = IRS + 2);
        assert_true((int32_t)(rx->tcp.opt.ts_val - synack_ts) >= 0);
        int fd = accept_nb(lfd);
        assert_true(fd >= 0);
        assert_int_equal(st_tcp_info(fd).snd_wscale, 9 > 14 ? 14 : 9);
        ust_close(fd);
        st_drain_tx(t);
        advance(t, 1);
        st_drain_tx(t);
    }
}

static void test_listener_is_found_behind_a_connection_on_its_port(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    /* Both bound to the port (SO_REUSEADDR, neither listening yet: allowed, as Linux), the
     * listener first; then the other connects and the listener listens. A port's bind chain
     * keeps its unconnected entries first and the lookup stops at the first connection
     * (tcp_table.c): the socket that connected must have moved behind the listener. */
    int one = 1;
    int lfd = st_tcp_socket(t), cfd = st_tcp_socket(t);
    for (int i = 0; i < 2; i++) {
        int fd = i ? cfd : lfd;
        assert_int_equal(ust_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
        assert_int_equal(st_bind(fd, 0, ST_LPORT), 0);
    }
    struct sockaddr_in peer = { .sin_family = AF_INET, .sin_port = htons(ST_PEER_PORT),
                                .sin_addr.s_addr = htonl(ST_PEER) };
    expect_errno(ust_connect(cfd, (struct sockaddr *)&peer, sizeof(peer)), EINPROGRESS);
    expect_tcp(t, .sport = ST_LPORT, .dport = ST_PEER_PORT, .flags = SYN);
    assert_int_equal(ust_listen(lfd, 8), 0);
    syn(t, 41000, IRS);
    assert_int_equal(counter(t, "tcp.no_port"), 0);
}

static void test_without_syncookies_a_full_syn_queue_drops_syns(void **state)
{
    struct st *t = *state;
    st_restart(t, "tcp_max_syn_backlog=1", "tcp_syncookies=0");
    st_resolve_peer(t);
    int lfd = st_tcp_listener(t, ST_LPORT, 16);
    syn(t, 40999, IRS);
    feed(t, tcp(.flags = SYN, .seq = IRS, .mss = 1460));
    expect_no_tx(t);
    assert_int_equal(counter(t, "tcp.syn_queue_drops"), 1);
    (void)lfd;
}


/* ---- The listener and bind tables with many connections on one port ---- */

/* Walks the port's bind chain: every back link right, the sockets bound by bind() ahead of the
 * connections. Returns the entries. */
static unsigned bind_chain_check(struct st *t, uint16_t port)
{
    unsigned n = 0;
    bool front = true;
    struct tcp_conn **pp = &t->s->tcp->bhash[port];
    for (struct tcp_conn *c = *pp; c; pp = &c->bind_next, c = c->bind_next, n++) {
        assert_ptr_equal(c->bind_pprev, pp);
        assert_int_equal(c->lport, port);
        if (!c->bind_front)
            front = false;
        assert_true(c->bind_front == front);
    }
    return n;
}

static struct tcb *tcb_of(int fd)
{
    struct sock *so = sock_get(fd);
    assert_non_null(so);
    struct tcb *tp = so->tcp;
    sock_put(so);
    return tp;
}

static void open_accepted(struct st *t, int lfd, uint16_t sport, int *fd)
{
    uint32_t iss = syn(t, sport, IRS)->tcp.seq;
    complete(t, sport, IRS, iss);
    *fd = accept_nb(lfd);
    assert_true(*fd >= 0);
}

/* Abortive close (SO_LINGER 0): the connection leaves every table at once. */
static void abort_fd(struct st *t, int fd, uint16_t sport)
{
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    assert_int_equal(ust_setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    assert_int_equal(ust_close(fd), 0);
    expect_tcp(t, .dport = sport, .flags = RST | ACK);
}

#define MANY 48

static void test_listener_found_among_many_connections_removed_in_any_order(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int lfd = st_tcp_listener(t, ST_LPORT, MANY);
    int fd[MANY];
    for (unsigned i = 0; i < MANY; i++)
        open_accepted(t, lfd, (uint16_t)(41000 + i), &fd[i]);
    /* The listener (bound) heads the chain; the connections follow it. */
    assert_int_equal(bind_chain_check(t, ST_LPORT), 1 + MANY);
    assert_ptr_equal(tcp_listener_lookup(t->s, ST_ADDR, ST_LPORT), tcb_of(lfd));
    /* Remove them in a scrambled order (a stride coprime with MANY): the middle, the ends. */
    for (unsigned k = 0; k < MANY; k++) {
        unsigned i = (k * 29u + 7u) % MANY;
        abort_fd(t, fd[i], (uint16_t)(41000 + i));
        assert_int_equal(bind_chain_check(t, ST_LPORT), 1 + MANY - 1 - k);
        if (k % 8 == 0) {
            /* The listener still answers a new SYN after each removal. */
            uint16_t sport = (uint16_t)(42000 + k);
            syn(t, sport, IRS);
            feed(t, tcp(.sport = sport, .flags = RST, .seq = IRS + 1));
            expect_no_tx(t);
        }
    }
    assert_int_equal(bind_chain_check(t, ST_LPORT), 1);
    assert_int_equal(tcp_connection_count(t->s), 0);
    ust_close(lfd);
    assert_int_equal(bind_chain_check(t, ST_LPORT), 0);
    assert_null(tcp_listener_lookup(t->s, ST_ADDR, ST_LPORT));
}

/* A listener bound to the address wins over the wildcard one whatever the order they were
 * made in; closing either leaves the other answering. */
static void test_specific_listener_beats_wildcard_and_each_survives_the_other(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int one = 1;
    int wild = st_tcp_socket(t), spec = st_tcp_socket(t);
    assert_int_equal(ust_setsockopt(wild, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)), 0);
    assert_int_equal(ust_setsockopt(spec, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)), 0);
    assert_int_equal(st_bind(spec, ST_ADDR, ST_LPORT), 0);
    assert_int_equal(ust_listen(spec, 8), 0);
    assert_int_equal(st_bind(wild, 0, ST_LPORT), 0);
    assert_int_equal(ust_listen(wild, 8), 0);
    int fd[4];
    for (unsigned i = 0; i < 4; i++)
        open_accepted(t, spec, (uint16_t)(41000 + i), &fd[i]);
    expect_errno(accept_nb(wild), EAGAIN);
    assert_int_equal(bind_chain_check(t, ST_LPORT), 2 + 4);
    ust_close(spec);
    /* The accepted connections are the application's: they stay; the wildcard takes SYNs. */
    assert_int_equal(bind_chain_check(t, ST_LPORT), 1 + 4);
    int w;
    open_accepted(t, wild, 41010, &w);
    for (unsigned i = 0; i < 4; i++)
        abort_fd(t, fd[i], (uint16_t)(41000 + i));
    abort_fd(t, w, 41010);
    ust_close(wild);
    assert_int_equal(bind_chain_check(t, ST_LPORT), 0);
    /* Nobody listens: a SYN gets a reset. */
    feed(t, tcp(.sport = 41020, .flags = SYN, .seq = IRS, .mss = 1460));
    expect_tcp(t, .dport = 41020, .flags = RST | ACK, .seq = 0, .ack = IRS + 1);
}

/* RFC 6056's ephemeral ports skip a port with a listener even when its bind chain is long
 * with connections (it no longer walks them to find the listener). */
static void test_ephemeral_port_skips_a_listening_port_with_connections(void **state)
{
    struct st *t = *state;
    st_restart(t, "port_min=5001", "port_max=5002");
    st_resolve_peer(t);
    int lfd = st_tcp_listener(t, 5001, 8);
    int fd[4];
    for (unsigned i = 0; i < 4; i++)
        open_accepted(t, lfd, (uint16_t)(41000 + i), &fd[i]);
    int c = st_tcp_socket(t);
    expect_errno(st_connect(c, ST_PEER, 80), EINPROGRESS);
    expect_tcp(t, .sport = 5002, .dport = 80, .flags = SYN);
    /* Port 5002 is taken for (peer, 80) now, 5001 has a listener: no port is left. */
    int d = st_tcp_socket(t);
    expect_errno(st_connect(d, ST_PEER, 80), EADDRNOTAVAIL);
    (void)fd;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, st_setup, st_teardown)
        T(test_backlog_n_queues_n_plus_1_then_drops_syns),
        T(test_accept_returns_connections_in_order_then_eagain),
        T(test_full_accept_queue_forgets_the_ack_and_repeats_the_syn_ack),
        T(test_a_repeated_syn_ack_keeps_the_window_an_ack_offered),
        T(test_a_syn_with_fin_opens_nothing),
        T(test_closing_a_listener_resets_what_it_never_handed_out),
        T(test_accept_on_a_socket_that_is_not_listening_is_einval),
        T(test_listen_twice_only_changes_the_backlog),
        T(test_syn_cookie_carries_mss_wscale_and_sack_in_the_timestamp),
        T(test_syn_cookie_without_timestamps_keeps_only_the_mss),
        T(test_ack_with_a_wrong_cookie_gets_a_reset),
        T(test_syn_cookie_expires_after_two_periods),
        T(test_syn_cookie_survives_a_minute),
        T(test_syn_cookie_timestamp_is_never_ahead_of_the_clock),
        T(test_without_syncookies_a_full_syn_queue_drops_syns),
        T(test_listener_found_among_many_connections_removed_in_any_order),
        T(test_specific_listener_beats_wildcard_and_each_survives_the_other),
        T(test_ephemeral_port_skips_a_listening_port_with_connections),
        T(test_listener_is_found_behind_a_connection_on_its_port),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
