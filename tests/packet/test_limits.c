/*
 * Limits (issue 7, item 4): each limit enforced, with its errno and its counter, and recovery
 * once the resource is free again.
 *
 * - max_sockets: socket() and accept() fail with EMFILE (stack.sock_emfile); accept takes its
 *   descriptor before the connection, so the connection stays queued (Linux's do_accept).
 * - mem_max, the socket memory of the whole stack (net/sockmem.h, Linux's tcp_mem / udp_mem):
 *   a TCP send takes what fits and then fails with EAGAIN, unless its send queue is empty; TCP
 *   data in order is dropped unacknowledged unless the receive queue is empty; out-of-order
 *   segments and UDP datagrams are dropped; a UDP send fails with ENOBUFS. mem_pressure holds
 *   TCP's offered window at four segments.
 *
 * The other limits have their tests beside the code they bound: the SYN queue without and with
 * cookies and the accept queue (test_tcp_listen.c), reassembly memory and datagram count
 * (test_net_reass.c), the out-of-order queue (test_tcp_data.c).
 *
 * sockmem.tcp_send_limited counts refused attempts, and one ust_send may try twice (again after
 * looking at the links, stream.c), so the tests check it grew, not by how much.
 *
 * Every buffer at MTU 1500 is 2 KiB (BUF), so the limits below count buffers: a full-sized
 * segment of 1460 bytes holds one buffer.
 */
#include "tcptest.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/resource.h>

#define BUF 2048u
#define MSS ST_MSS

static uint8_t payload[64 * 1024];

/* ---- max_sockets ---- */

static void test_socket_beyond_max_sockets_is_emfile_and_counted(void **state)
{
    struct st *t = *state;
    st_restart(t, "max_sockets=2");
    int a = st_udp_socket(t);
    int b = st_tcp_socket(t);
    expect_errno(ust_stack_socket(t->s, AF_INET, SOCK_DGRAM, 0), EMFILE);
    expect_errno(ust_stack_socket(t->s, AF_INET, SOCK_STREAM, 0), EMFILE);
    assert_int_equal(counter(t, "stack.sock_emfile"), 2);
    /* A closed socket makes room at once. */
    ust_close(a);
    int c = st_udp_socket(t);
    assert_true(c >= 0);
    ust_close(b);
    ust_close(c);
}

static void test_accept_beyond_max_sockets_is_emfile_and_the_connection_stays_queued(void **state)
{
    struct st *t = *state;
    st_restart(t, "max_sockets=2");
    st_resolve_peer(t);
    int lfd = st_tcp_listener(t, ST_LPORT, 8);
    int u = st_udp_socket(t);   /* the second socket: the stack is at its limit */
    feed(t, tcp(.flags = SYN, .seq = CONN_IRS, .mss = 1460));
    uint32_t iss = expect_tcp(t, .flags = SYN | ACK, .ack = CONN_IRS + 1)->tcp.seq;
    feed(t, tcp(.flags = ACK, .seq = CONN_IRS + 1, .ack = iss + 1));
    /* As Linux: EMFILE, and nothing happens to the connection (no reset, still queued). */
    expect_errno(ust_accept4(lfd, NULL, NULL, SOCK_NONBLOCK), EMFILE);
    expect_errno(ust_accept4(lfd, NULL, NULL, SOCK_NONBLOCK), EMFILE);
    expect_no_tx(t);
    assert_int_equal(counter(t, "stack.sock_emfile"), 2);
    assert_int_equal(tcp_connection_count(t->s), 1);
    /* It arrives intact once there is room, with the data sent meanwhile. */
    feed(t, tcp(.flags = ACK | PSH, .seq = CONN_IRS + 1, .ack = iss + 1, .data = "queued"));
    expect_tcp(t, .flags = ACK, .ack = CONN_IRS + 7);
    ust_close(u);
    int fd = ust_accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
    assert_true(fd >= 0);
    char b[8];
    assert_int_equal(ust_recv(fd, b, sizeof(b), 0), 6);
    assert_memory_equal(b, "queued", 6);
    assert_int_equal(counter(t, "tcp.out_rsts"), 0);
    ust_close(fd);
    ust_close(lfd);
    st_drain_tx(t);
}

/* An accept that finds nothing queued and may not wait says EAGAIN before it reserves a
 * descriptor: a non-blocking accept loop mostly finds nothing, and the reservation costs a dup
 * and a close. So with the process out of descriptors it says EAGAIN, where Linux (which takes
 * the descriptor first) says EMFILE; once a connection is queued it says EMFILE as Linux, and
 * the connection stays queued. */
static void test_accept_with_nothing_queued_needs_no_descriptor(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int lfd = st_tcp_listener(t, ST_LPORT, 8);
    struct rlimit saved, rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    int lowest = dup(0);
    assert_true(lowest >= 0);
    close(lowest);
    rl = saved;
    rl.rlim_cur = (rlim_t)lowest;   /* every new descriptor would be past the limit */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    expect_errno(ust_accept4(lfd, NULL, NULL, SOCK_NONBLOCK), EAGAIN);
    feed(t, tcp(.flags = SYN, .seq = CONN_IRS, .mss = 1460));
    uint32_t iss = expect_tcp(t, .flags = SYN | ACK, .ack = CONN_IRS + 1)->tcp.seq;
    feed(t, tcp(.flags = ACK, .seq = CONN_IRS + 1, .ack = iss + 1));
    expect_errno(ust_accept4(lfd, NULL, NULL, SOCK_NONBLOCK), EMFILE);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
    int fd = ust_accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
    assert_true(fd >= 0);
    expect_errno(ust_accept4(lfd, NULL, NULL, SOCK_NONBLOCK), EAGAIN);
    expect_no_tx(t);
    ust_close(fd);
    ust_close(lfd);
    st_drain_tx(t);
}

static void test_poll_with_more_entries_than_the_descriptor_limit_is_einval(void **state)
{
    (void)state;
    /* As Linux: refused before anything is read or allocated for the caller's count. */
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    struct pollfd p = { .fd = -1 };
    expect_errno(ust_poll(&p, (nfds_t)rl.rlim_cur + 1, 0), EINVAL);
    expect_errno(ust_poll(&p, (nfds_t)-1, 0), EINVAL);
}

/* ---- Connections the user has closed ---- */

/* A passive connection from the peer's port `sport`, accepted: returns its descriptor and our
 * ISS in *iss. */
static int accepted(struct st *t, int lfd, uint16_t sport, uint32_t *iss)
{
    feed(t, tcp(.sport = sport, .flags = SYN, .seq = CONN_IRS, .mss = 1460));
    *iss = expect_tcp(t, .dport = sport, .flags = SYN | ACK, .ack = CONN_IRS + 1)->tcp.seq;
    feed(t, tcp(.sport = sport, .flags = ACK, .seq = CONN_IRS + 1, .ack = *iss + 1));
    int fd = ust_accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
    assert_true(fd >= 0);
    return fd;
}

static void test_close_beyond_max_orphans_resets(void **state)
{
    struct st *t = *state;
    st_restart(t, "tcp_max_orphans=1");
    st_resolve_peer(t);
    int lfd = st_tcp_listener(t, ST_LPORT, 8);
    uint32_t a_iss, b_iss;
    int a = accepted(t, lfd, 41000, &a_iss);
    int b = accepted(t, lfd, 41001, &b_iss);
    /* The first closed connection may finish its close (FIN; the peer does not answer). */
    ust_close(a);
    expect_tcp(t, .dport = 41000, .flags = FIN | ACK, .seq = a_iss + 1);
    /* The second would be one orphan too many: reset, as Linux (TCPAbortOnMemory). */
    ust_close(b);
    expect_tcp(t, .dport = 41001, .flags = RST | ACK, .seq = b_iss + 1);
    expect_no_tx(t);
    assert_int_equal(counter(t, "tcp.orphan_aborts"), 1);
    assert_int_equal(tcp_connection_count(t->s), 1);
    /* Once the first is gone, a close finishes normally again. */
    feed(t, tcp(.sport = 41000, .flags = ACK | FIN, .seq = CONN_IRS + 1, .ack = a_iss + 2));
    expect_tcp(t, .dport = 41000, .flags = ACK, .ack = CONN_IRS + 2);   /* now TIME_WAIT */
    int c = accepted(t, lfd, 41002, &b_iss);
    ust_close(c);
    expect_tcp(t, .dport = 41002, .flags = FIN | ACK, .seq = b_iss + 1);
    assert_int_equal(counter(t, "tcp.orphan_aborts"), 1);
    ust_close(lfd);
    st_drain_tx(t);
}

static void test_time_wait_beyond_max_tw_buckets_is_skipped(void **state)
{
    struct st *t = *state;
    st_restart(t, "tcp_max_tw_buckets=1");
    st_resolve_peer(t);
    int lfd = st_tcp_listener(t, ST_LPORT, 8);
    uint32_t iss[2];
    for (uint16_t i = 0; i < 2; i++) {
        uint16_t port = (uint16_t)(41000 + i);
        int fd = accepted(t, lfd, port, &iss[i]);
        ust_close(fd);
        expect_tcp(t, .dport = port, .flags = FIN | ACK, .seq = iss[i] + 1);
        feed(t, tcp(.sport = port, .flags = ACK | FIN, .seq = CONN_IRS + 1, .ack = iss[i] + 2));
        expect_tcp(t, .dport = port, .flags = ACK, .ack = CONN_IRS + 2);
    }
    assert_int_equal(counter(t, "tcp.tw_created"), 2);
    assert_int_equal(counter(t, "tcp.tw_overflows"), 1);
    /* The first is in TIME_WAIT and acknowledges a repeated FIN; the second is gone: the
     * repeated FIN finds no connection and gets a reset. */
    feed(t, tcp(.sport = 41000, .flags = ACK | FIN, .seq = CONN_IRS + 1, .ack = iss[0] + 2));
    expect_tcp(t, .dport = 41000, .flags = ACK, .ack = CONN_IRS + 2);
    feed(t, tcp(.sport = 41001, .flags = ACK | FIN, .seq = CONN_IRS + 1, .ack = iss[1] + 2));
    expect_tcp(t, .dport = 41001, .flags = RST, .seq = iss[1] + 2);
    ust_close(lfd);
}

/* ---- mem_max: the stack's socket memory ---- */

static void test_mem_max_default_is_three_quarters_of_the_pools(void **state)
{
    struct st *t = *state;
    /* 16384 frame buffers of 2 KiB and 64 big ones of 64 KiB. */
    uint64_t pools = 16384ull * BUF + 64ull * 65536;
    assert_int_equal(counter(t, "sockmem.limit"), pools / 4 * 3);
    assert_int_equal(counter(t, "sockmem.used"), 0);
    st_restart(t, "mem_max=1m");
    assert_int_equal(counter(t, "sockmem.limit"), 1048576);
}

/* `n` full-sized segments from the peer, starting at its byte `from` (of payload[]), each
 * acknowledged as it comes (quick ACKs at the start of a connection). */
static void feed_segments(struct st *t, struct conn *c, uint32_t from, unsigned n)
{
    uint32_t R = c->irs + 1, L = c->iss + 1;
    for (unsigned k = 0; k < n; k++) {
        uint32_t off = from + k * MSS;
        feed(t, tcp(.flags = ACK, .seq = R + off, .ack = L, .data = payload + off, .len = MSS));
        expect_tcp(t, .flags = ACK, .ack = R + off + MSS);
    }
}

static void test_socket_memory_counts_every_queued_buffer(void **state)
{
    struct st *t = *state;
    st_pattern(payload, sizeof(payload), 0);
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t R = c.irs + 1, L = c.iss + 1;
    /* Far from the limit, in-order data takes the fast path (header prediction): charged too. */
    feed_segments(t, &c, 0, 2);
    assert_int_equal(counter(t, "sockmem.used"), 2 * BUF);
    conn_send(&c, "x", 1);
    expect_tcp(t, .seq = L, .data = "x");
    assert_int_equal(counter(t, "sockmem.used"), 3 * BUF);
    static uint8_t got[2 * MSS];
    assert_int_equal(ust_recv(c.fd, got, sizeof(got), 0), 2 * MSS);
    assert_int_equal(counter(t, "sockmem.used"), BUF);
    feed(t, tcp(.flags = ACK, .seq = R + 2 * MSS, .ack = L + 1));
    assert_int_equal(counter(t, "sockmem.used"), 0);
    assert_int_equal(counter(t, "sockmem.peak"), 3 * BUF);
}

static void test_tcp_data_beyond_mem_max_is_dropped_unacknowledged_until_read(void **state)
{
    struct st *t = *state;
    st_pattern(payload, sizeof(payload), 0);
    st_restart(t, "mem_max=8k", "mem_pressure=8k");
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t R = c.irs + 1, L = c.iss + 1;
    feed_segments(t, &c, 0, 4);   /* four buffers: the limit */
    assert_int_equal(counter(t, "sockmem.used"), 4 * BUF);
    /* The fifth: dropped, and the ACK at once still asks for it (Linux's tcp_data_queue). */
    feed(t, tcp(.flags = ACK, .seq = R + 4 * MSS, .ack = L, .data = payload + 4 * MSS,
                .len = MSS));
    expect_tcp(t, .flags = ACK, .ack = R + 4 * MSS);
    expect_no_tx(t);
    assert_int_equal(counter(t, "sockmem.tcp_rcv_drops"), 1);
    assert_int_equal(counter(t, "tcp.rcvq_drops"), 1);
    assert_int_equal(counter(t, "sockmem.used"), 4 * BUF);
    /* Reading gives the memory back; the peer's retransmission is taken. */
    static uint8_t got[8 * MSS];
    assert_int_equal(ust_recv(c.fd, got, sizeof(got), 0), 4 * MSS);
    assert_int_equal(counter(t, "sockmem.used"), 0);
    st_drain_tx(t);   /* the window update */
    feed_segments(t, &c, 4 * MSS, 1);
    assert_int_equal(ust_recv(c.fd, got + 4 * MSS, sizeof(got) - 4 * MSS, 0), MSS);
    assert_memory_equal(got, payload, 5 * MSS);
    assert_int_equal(counter(t, "sockmem.peak"), 4 * BUF);
}

static void test_tcp_keeps_one_segment_in_order_whatever_the_memory(void **state)
{
    struct st *t = *state;
    st_pattern(payload, sizeof(payload), 0);
    st_restart(t, "mem_max=4k", "mem_pressure=4k");
    /* UDP datagrams hold the whole budget. */
    int u = st_udp_bound(t, 0, 7);
    feed(t, udp(.data = "one"));
    feed(t, udp(.data = "two"));
    assert_int_equal(counter(t, "sockmem.used"), 2 * BUF);
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t R = c.irs + 1, L = c.iss + 1;
    /* An empty receive queue takes a segment anyway (Linux's sk_forced_mem_schedule), so a
     * reader always gets something to read; the next one waits for memory. */
    feed_segments(t, &c, 0, 1);
    feed(t, tcp(.flags = ACK, .seq = R + MSS, .ack = L, .data = payload + MSS, .len = MSS));
    expect_tcp(t, .flags = ACK, .ack = R + MSS);
    assert_int_equal(counter(t, "sockmem.tcp_rcv_drops"), 1);
    assert_int_equal(counter(t, "sockmem.used"), 3 * BUF);
    uint8_t got[MSS];
    assert_int_equal(ust_recv(c.fd, got, sizeof(got), 0), MSS);
    assert_memory_equal(got, payload, MSS);
    ust_close(u);
}

static void test_tcp_out_of_order_beyond_mem_max_is_dropped_and_the_hole_still_fills(void **state)
{
    struct st *t = *state;
    st_pattern(payload, sizeof(payload), 0);
    st_restart(t, "mem_max=8k", "mem_pressure=8k");
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t R = c.irs + 1, L = c.iss + 1;
    /* Segments 1..5 arrive, 0 is missing: four are held, the fifth is dropped. */
    for (uint32_t k = 1; k <= 5; k++) {
        feed(t, tcp(.flags = ACK, .seq = R + k * MSS, .ack = L, .data = payload + k * MSS,
                    .len = MSS));
        expect_tcp(t, .flags = ACK, .ack = R);
    }
    assert_int_equal(counter(t, "sockmem.tcp_ofo_drops"), 1);
    assert_int_equal(counter(t, "tcp.ooo_segs"), 4);
    assert_int_equal(counter(t, "sockmem.used"), 4 * BUF);
    /* The hole fills: the receive queue is empty, so the segment is taken whatever the memory,
     * and what was held follows it. */
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L, .data = payload, .len = MSS));
    expect_tcp(t, .flags = ACK, .ack = R + 5 * MSS);
    static uint8_t got[8 * MSS];
    assert_int_equal(ust_recv(c.fd, got, sizeof(got), 0), 5 * MSS);
    assert_memory_equal(got, payload, 5 * MSS);
    /* And the dropped one comes again. */
    st_drain_tx(t);
    feed_segments(t, &c, 5 * MSS, 1);
}

static void test_tcp_send_beyond_mem_max_is_eagain_until_acknowledged(void **state)
{
    struct st *t = *state;
    st_pattern(payload, sizeof(payload), 0);
    st_restart(t, "mem_max=8k", "mem_pressure=8k");
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t R = c.irs + 1, L = c.iss + 1;
    /* Four segments' buffers fit; the send takes what they hold. */
    assert_int_equal(ust_send(c.fd, payload, 10 * MSS, MSG_DONTWAIT), 4 * MSS);
    assert_true(counter(t, "sockmem.tcp_send_limited") >= 1);   /* per attempt */
    for (uint32_t k = 0; k < 4; k++)
        expect_tcp(t, .seq = L + k * MSS, .len = MSS, .data = payload + k * MSS);
    expect_no_tx(t);
    /* Nothing more, and poll says so (as Linux, whose sndbuf shrinks to what is queued). */
    expect_errno(ust_send(c.fd, payload + 4 * MSS, MSS, MSG_DONTWAIT), EAGAIN);
    assert_true(counter(t, "sockmem.tcp_send_limited") >= 2);   /* per attempt */
    struct pollfd p = { .fd = c.fd, .events = POLLOUT };
    assert_int_equal(ust_poll(&p, 1, 0), 0);
    /* The peer's ACK frees the queue: writable, and sending again. */
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L + 4 * MSS));
    assert_int_equal(counter(t, "sockmem.used"), 0);
    assert_int_equal(ust_poll(&p, 1, 0), 1);
    assert_int_equal(ust_send(c.fd, payload + 4 * MSS, MSS, MSG_DONTWAIT), MSS);
    expect_tcp(t, .seq = L + 4 * MSS, .len = MSS, .data = payload + 4 * MSS);
}

static void test_tcp_send_with_an_empty_queue_always_takes_one_segment(void **state)
{
    struct st *t = *state;
    st_pattern(payload, sizeof(payload), 0);
    st_restart(t, "mem_max=4k", "mem_pressure=4k");
    int u = st_udp_bound(t, 0, 7);
    feed(t, udp(.data = "one"));
    feed(t, udp(.data = "two"));
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t L = c.iss + 1;
    /* The budget is spent by someone else, yet the connection can always make progress (Linux's
     * force_schedule when the write queue is empty): one segment, then EAGAIN. */
    assert_int_equal(ust_send(c.fd, payload, 3 * MSS, MSG_DONTWAIT), MSS);
    expect_tcp(t, .seq = L, .len = MSS);
    expect_errno(ust_send(c.fd, payload, MSS, MSG_DONTWAIT), EAGAIN);
    assert_true(counter(t, "sockmem.tcp_send_limited") >= 2);   /* per attempt */
    ust_close(u);
}

static void test_udp_beyond_mem_max_drops_datagrams_and_sends_fail_with_enobufs(void **state)
{
    struct st *t = *state;
    st_restart(t, "mem_max=4k");
    st_resolve_peer(t);
    int fd = st_udp_bound(t, 0, 7);
    feed(t, udp(.data = "one"));
    feed(t, udp(.data = "two"));
    feed(t, udp(.data = "three"));   /* the budget holds two buffers */
    assert_int_equal(counter(t, "sockmem.udp_rcv_drops"), 1);
    assert_int_equal(counter(t, "udp.rcvbuf_errors"), 0);   /* not the socket's own buffer */
    assert_int_equal(counter(t, "udp.in_datagrams"), 2);
    expect_errno(st_sendto(fd, "x", 1, ST_PEER, 9), ENOBUFS);
    assert_int_equal(counter(t, "sockmem.udp_send_nobufs"), 1);
    expect_no_tx(t);
    /* A datagram read makes room for one more each way. */
    char b[8];
    assert_int_equal(st_recv(fd, b, sizeof(b), NULL), 3);
    assert_memory_equal(b, "one", 3);
    assert_int_equal(st_sendto(fd, "x", 1, ST_PEER, 9), 1);
    expect_tx(t, want_udp(.dport = 9, .data = "x"));
    feed(t, udp(.data = "four"));
    assert_int_equal(st_recv(fd, b, sizeof(b), NULL), 3);
    assert_memory_equal(b, "two", 3);
    assert_int_equal(st_recv(fd, b, sizeof(b), NULL), 4);
    assert_memory_equal(b, "four", 4);
    assert_int_equal(counter(t, "sockmem.used"), 0);
    ust_close(fd);
}

static void test_mem_pressure_stops_the_offered_window_from_growing(void **state)
{
    struct st *t = *state;
    st_pattern(payload, sizeof(payload), 0);
    st_restart(t, "mem_pressure=4k");
    struct conn c = conn_in_state(t, ESTABLISHED);
    uint32_t R = c.irs + 1, L = c.iss + 1;
    uint8_t got[MSS];
    /* No pressure: a segment read moves the right edge on, so the next ACK offers the whole
     * buffer less what is queued. */
    feed_segments(t, &c, 0, 1);
    assert_int_equal(ust_recv(c.fd, got, sizeof(got), 0), MSS);
    st_drain_tx(t);
    feed(t, tcp(.flags = ACK, .seq = R + MSS, .ack = L, .data = payload + MSS, .len = MSS));
    expect_tcp(t, .flags = ACK, .ack = R + 2 * MSS, .window = (ST_RCVBUF - MSS) >> ST_WS);
    uint32_t edge = R + 2 * MSS + (((ST_RCVBUF - MSS) >> ST_WS) << ST_WS);   /* offered */
    assert_int_equal(ust_recv(c.fd, got, sizeof(got), 0), MSS);
    st_drain_tx(t);
    /* Datagrams push the stack past mem_pressure (three buffers > 4 KiB). */
    int u = st_udp_bound(t, 0, 7);
    for (int k = 0; k < 3; k++)
        feed(t, udp(.data = "p"));
    assert_int_equal(counter(t, "sockmem.pressure_entered"), 1);
    /* Under pressure the right edge stays where it was (it never moves back, RFC 7323 2.4):
     * reading no longer opens the window. */
    feed(t, tcp(.flags = ACK, .seq = R + 2 * MSS, .ack = L, .data = payload + 2 * MSS,
                .len = MSS));
    expect_tcp(t, .flags = ACK, .ack = R + 3 * MSS, .window = (edge - (R + 3 * MSS)) >> ST_WS);
    assert_int_equal(ust_recv(c.fd, got, sizeof(got), 0), MSS);
    st_drain_tx(t);
    feed(t, tcp(.flags = ACK, .seq = R + 3 * MSS, .ack = L, .data = payload + 3 * MSS,
                .len = MSS));
    expect_tcp(t, .flags = ACK, .ack = R + 4 * MSS, .window = (edge - (R + 4 * MSS)) >> ST_WS);
    assert_int_equal(ust_recv(c.fd, got, sizeof(got), 0), MSS);
    st_drain_tx(t);
    /* Pressure over: the window opens again. */
    ust_close(u);
    feed(t, tcp(.flags = ACK, .seq = R + 4 * MSS, .ack = L, .data = payload + 4 * MSS,
                .len = MSS));
    expect_tcp(t, .flags = ACK, .ack = R + 5 * MSS, .window = (ST_RCVBUF - MSS) >> ST_WS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, st_setup, st_teardown)
        T(test_socket_beyond_max_sockets_is_emfile_and_counted),
        T(test_accept_beyond_max_sockets_is_emfile_and_the_connection_stays_queued),
        T(test_accept_with_nothing_queued_needs_no_descriptor),
        T(test_poll_with_more_entries_than_the_descriptor_limit_is_einval),
        T(test_close_beyond_max_orphans_resets),
        T(test_time_wait_beyond_max_tw_buckets_is_skipped),
        T(test_mem_max_default_is_three_quarters_of_the_pools),
        T(test_socket_memory_counts_every_queued_buffer),
        T(test_tcp_data_beyond_mem_max_is_dropped_unacknowledged_until_read),
        T(test_tcp_keeps_one_segment_in_order_whatever_the_memory),
        T(test_tcp_out_of_order_beyond_mem_max_is_dropped_and_the_hole_still_fills),
        T(test_tcp_send_beyond_mem_max_is_eagain_until_acknowledged),
        T(test_tcp_send_with_an_empty_queue_always_takes_one_segment),
        T(test_udp_beyond_mem_max_drops_datagrams_and_sends_fail_with_enobufs),
        T(test_mem_pressure_stops_the_offered_window_from_growing),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
