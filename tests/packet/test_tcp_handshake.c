/*
 * Opening a connection (RFC 9293 3.5, 3.10.7.2 - 3.10.7.3): active, passive and simultaneous
 * open; every combination of the options either side may offer (MSS RFC 9293 3.7.1, window
 * scale and timestamps RFC 7323, SACK-permitted RFC 2018); the SYN and SYN-ACK retransmission
 * timers; and the segments a SYN_SENT connection must ignore or answer with a reset.
 * Initial sequence numbers sit just below 2^32 (tcptest.h), so the first data bytes wrap.
 */
#include "tcptest.h"

#include <arpa/inet.h>
#include <stdio.h>

/* ---- The SYN we send ---- */

static void test_active_open_syn_offers_every_option_in_linux_order(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, SYN_SENT);
    /* conn_in_state checked the options; here the layout: MSS, SACK-permitted + TS, NOP WS
     * (40 bytes of header, as Linux's SYN), DF set, the default TTL. */
    const struct st_rx *rx = t->rx;
    assert_int_equal(rx->tcp.hdr_len, 40);
    const uint8_t *opt = rx->data - 20;
    static const uint8_t layout[] = { 2, 4, 0x05, 0xb4, 4, 2, 8, 10 };
    assert_memory_equal(opt, layout, sizeof(layout));
    assert_int_equal(opt[16], 1);   /* NOP */
    assert_int_equal(opt[17], 3);   /* window scale */
    assert_true(rx->ip.df);
    assert_int_equal(rx->ip.ttl, 64);
    assert_int_equal(st_tcp_state(c.fd), SYN_SENT);
}

static void test_isn_override_is_one_shot_and_rfc6528_resumes(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    tcp_isn_override_for_tests(t->s, 0x12345678);
    int a = st_tcp_socket(t);
    expect_errno(st_connect(a, ST_PEER, 80), EINPROGRESS);
    expect_tx(t, want_tcp(.sport = ST_ANY, .dport = 80, .flags = SYN, .seq = 0x12345678));
    int b = st_tcp_socket(t);
    expect_errno(st_connect(b, ST_PEER, 80), EINPROGRESS);
    const struct st_rx *rx = expect_tx(t, want_tcp(.sport = ST_ANY, .dport = 80, .flags = SYN));
    assert_int_not_equal(rx->tcp.seq, 0x12345678);
    ust_close(a);
    ust_close(b);
}

/* ---- Every option combination ---- */

struct combo {
    int32_t mss, ws;
    bool sack, ts;
};

/* The 16 combinations of the peer's four options. */
static struct combo combo_of(unsigned bits)
{
    return (struct combo){ .mss = (bits & 1) ? 1400 : -1, .ws = (bits & 2) ? 5 : -1,
                           .sack = bits & 4, .ts = bits & 8 };
}

/* After the handshake: what tcp_info says was negotiated, and that the first data segment and
 * the first window the stack advertises honour it. */
static void check_negotiated(struct st *t, const struct conn *c, const struct combo *k)
{
    struct ust_tcp_info i = st_tcp_info(c->fd);
    uint8_t want_opts = (k->ts ? UST_TCPI_OPT_TIMESTAMPS : 0) | (k->sack ? UST_TCPI_OPT_SACK : 0) |
                        (k->ws >= 0 ? UST_TCPI_OPT_WSCALE : 0);
    assert_int_equal(i.options, want_opts);
    assert_int_equal(i.snd_wscale, k->ws >= 0 ? k->ws : 0);
    assert_int_equal(i.rcv_wscale, k->ws >= 0 ? ST_WS : 0);
    /* RFC 9293 3.7.1: 536 when the peer sent no MSS; RFC 7323 appendix A: the 12 bytes of the
     * timestamp option come out of every segment. */
    uint32_t mss = (k->mss >= 0 ? 1400 : 536) - (k->ts ? 12 : 0);
    assert_int_equal(i.mss, mss);
    assert_int_equal(c->mss, mss);

    /* The peer's window: scaled by its shift once synchronized (RFC 7323 2.2). */
    uint32_t L = c->iss + 1, R = c->irs + 1;
    struct st_frame upd = tcp(.flags = ACK, .seq = R, .ack = L, .window = 100);
    if (k->ts) {
        upd.tsval = c->peer_tsval + 1;
        upd.tsecr = conn_tsval(c);
    }
    feed(t, upd);
    expect_no_tx(t);
    assert_int_equal(st_tcp_info(c->fd).snd_wnd, 100u << (k->ws >= 0 ? k->ws : 0));

    /* Data, once the window is wide open again: segments of exactly the MSS, timestamps
     * exactly when negotiated, no SYN options, our window in our scale. */
    upd.window = 65535;
    if (k->ts)
        upd.tsval++;
    feed(t, upd);
    uint8_t buf[1500];
    st_pattern(buf, sizeof(buf), 0);
    conn_send(c, buf, sizeof(buf));
    int64_t tsval = k->ts ? (int64_t)conn_tsval(c) : ST_NONE;
    int64_t tsecr = k->ts ? (int64_t)upd.tsval : ST_NONE;
    uint32_t our_win = k->ws >= 0 ? ST_WIN : 65535;
    expect_tcp(t, .flags = ACK, .seq = L, .ack = R, .window = our_win, .tsval = tsval,
               .tsecr = tsecr, .nsack = 0, .sack_perm = 0, .mss = ST_NONE, .ws = ST_NONE,
               .len = mss);
    st_drain_tx(t);
}

static void run_matrix(struct st *t, bool passive)
{
    for (unsigned bits = 0; bits < 16; bits++) {
        struct combo k = combo_of(bits);
        struct conn c = conn_in_state(t, ESTABLISHED, .passive = passive, .peer_mss = k.mss,
                                      .peer_ws = k.ws, .peer_sack = k.sack, .peer_ts = k.ts);
        check_negotiated(t, &c, &k);
        st_restart(t, "mtu=1500");
    }
}

static void test_active_open_negotiates_each_of_16_peer_option_combinations(void **state)
{
    run_matrix(*state, false);
}

static void test_passive_open_negotiates_each_of_16_peer_option_combinations(void **state)
{
    run_matrix(*state, true);
}

/* The stack side: with an option switched off in the configuration the stack neither offers it
 * nor accepts it, whatever the peer says. */
static void check_stack_without(struct st *t, const char *option, bool passive)
{
    char setting[64];
    snprintf(setting, sizeof(setting), "%s=0", option);
    st_restart(t, setting);
    st_resolve_peer(t);
    bool sack = strcmp(option, "tcp_sack") != 0;
    bool ts = strcmp(option, "tcp_timestamps") != 0;
    bool ws = strcmp(option, "tcp_window_scaling") != 0;
    int fd = -1, lfd = -1;
    uint32_t iss = 0xffffffffu, irs = 0xfffffff0u;
    tcp_isn_override_for_tests(t->s, iss);
    if (passive) {
        lfd = st_tcp_listener(t, ST_LPORT, 4);
        feed(t, tcp(.flags = SYN, .seq = irs, .mss = 1460, .ws = 7, .sack_perm = true,
                    .tsval = 500, .tsecr = 0));
        expect_tcp(t, .flags = SYN | ACK, .seq = iss, .ack = irs + 1, .mss = ST_MSS,
                   .sack_perm = sack, .ws = ws ? ST_WS : ST_NONE, .tsval = ts ? ST_ANY : ST_NONE,
                   .tsecr = ts ? 500 : ST_NONE);
        feed(t, tcp(.flags = ACK, .seq = irs + 1, .ack = iss + 1, .tsval = 501,
                    .tsecr = (uint32_t)t->rx->tcp.opt.ts_val));
        fd = ust_accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
        assert_true(fd >= 0);
    } else {
        fd = st_tcp_socket(t);
        assert_int_equal(st_bind(fd, 0, ST_LPORT), 0);
        expect_errno(st_connect(fd, ST_PEER, ST_PEER_PORT), EINPROGRESS);
        expect_tcp(t, .flags = SYN, .seq = iss, .mss = ST_MSS, .sack_perm = sack,
                   .ws = ws ? ST_WS : ST_NONE, .tsval = ts ? ST_ANY : ST_NONE,
                   .tsecr = ts ? 0 : ST_NONE);
        /* The peer answers with everything anyway (as a broken peer might). */
        feed(t, tcp(.flags = SYN | ACK, .seq = irs, .ack = iss + 1, .mss = 1460, .ws = 7,
                    .sack_perm = true, .tsval = 500, .tsecr = 1));
        expect_tcp(t, .flags = ACK, .seq = iss + 1, .ack = irs + 1,
                   .tsval = ts ? ST_ANY : ST_NONE, .window = ws ? ST_WIN : 65535);
    }
    struct ust_tcp_info i = st_tcp_info(fd);
    assert_int_equal(i.options, (ts ? UST_TCPI_OPT_TIMESTAMPS : 0) | (sack ? UST_TCPI_OPT_SACK : 0) |
                                    (ws ? UST_TCPI_OPT_WSCALE : 0));
    assert_int_equal(i.snd_wscale, ws ? 7 : 0);
    assert_int_equal(i.rcv_wscale, ws ? ST_WS : 0);
    expect_no_tx(t);
    ust_close(fd);
    if (lfd >= 0)
        ust_close(lfd);
    st_drain_tx(t);
}

static void test_stack_without_sack_neither_offers_nor_accepts_it(void **state)
{
    check_stack_without(*state, "tcp_sack", false);
    check_stack_without(*state, "tcp_sack", true);
}

static void test_stack_without_timestamps_neither_offers_nor_accepts_them(void **state)
{
    check_stack_without(*state, "tcp_timestamps", false);
    check_stack_without(*state, "tcp_timestamps", true);
}

static void test_stack_without_window_scaling_neither_offers_nor_accepts_it(void **state)
{
    check_stack_without(*state, "tcp_window_scaling", false);
    check_stack_without(*state, "tcp_window_scaling", true);
}

static void test_window_scale_above_14_is_clamped_to_14(void **state)
{
    struct st *t = *state;
    /* RFC 7323 2.3: a shift above 14 is used as 14 (and logged). */
    struct conn c = conn_in_state(t, ESTABLISHED, .peer_ws = 15);
    assert_int_equal(st_tcp_info(c.fd).snd_wscale, 14);
    feed(t, tcp(.flags = ACK, .seq = c.irs + 1, .ack = c.iss + 1, .window = 3));
    assert_int_equal(st_tcp_info(c.fd).snd_wnd, 3u << 14);
    st_restart(t, "mtu=1500");
    c = conn_in_state(t, ESTABLISHED, .passive = true, .peer_ws = 255);
    assert_int_equal(st_tcp_info(c.fd).snd_wscale, 14);
}

static void test_syn_window_is_never_scaled(void **state)
{
    struct st *t = *state;
    /* RFC 7323 2.2: the window in a SYN or SYN-ACK is never scaled. The peer offers 1000 with
     * shift 7: the stack may send 1000 bytes, not 128000. */
    struct conn c = conn_in_state(t, ESTABLISHED, .peer_window = 1000);
    assert_int_equal(st_tcp_info(c.fd).snd_wnd, 1000);
    uint8_t buf[3000];
    st_pattern(buf, sizeof(buf), 0);
    conn_send(&c, buf, sizeof(buf));
    expect_tcp(t, .flags = ACK, .seq = c.iss + 1, .len = 1000);
    expect_no_tx(t);
}

static void test_mss_announced_is_clamped_to_the_route_mtu(void **state)
{
    struct st *t = *state;
    st_restart(t, "mtu=1280");
    st_resolve_peer(t);
    int fd = st_tcp_socket(t);
    expect_errno(st_connect(fd, ST_PEER, ST_PEER_PORT), EINPROGRESS);
    expect_tcp(t, .dport = ST_PEER_PORT, .sport = ST_ANY, .flags = SYN, .mss = 1240);
    /* A peer announcing more than our MTU allows: segments still fit the route. */
    uint32_t iss = t->rx->tcp.seq;
    uint16_t lport = t->rx->tcp.sport;
    feed(t, tcp(.dport = lport, .flags = SYN | ACK, .seq = 1, .ack = iss + 1, .mss = 9000));
    expect_tcp(t, .sport = lport, .flags = ACK);
    assert_int_equal(st_tcp_info(fd).mss, 1240);
    ust_close(fd);
    st_drain_tx(t);
}

static void test_tcp_maxseg_lowers_the_mss_announced_and_used(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int fd = st_tcp_socket(t);
    int v = 1000;
    assert_int_equal(ust_setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &v, sizeof(v)), 0);
    assert_int_equal(st_bind(fd, 0, ST_LPORT), 0);
    tcp_isn_override_for_tests(t->s, 0xfffffffe);
    expect_errno(st_connect(fd, ST_PEER, ST_PEER_PORT), EINPROGRESS);
    expect_tcp(t, .flags = SYN, .seq = 0xfffffffe, .mss = 1000);
    feed(t, tcp(.flags = SYN | ACK, .seq = 7, .ack = 0xffffffff, .mss = 1460));
    expect_tcp(t, .flags = ACK, .seq = 0xffffffff, .ack = 8);
    uint8_t buf[2500];
    st_pattern(buf, sizeof(buf), 0);
    conn_send(&(struct conn){ .fd = fd }, buf, sizeof(buf));
    /* The first data byte is sequence number 0xffffffff: the segments wrap through 2^32. */
    expect_tcp(t, .flags = ACK, .seq = 0xffffffff, .len = 1000);
    expect_tcp(t, .flags = ACK, .seq = 999, .len = 1000);
    expect_tcp(t, .flags = ACK | PSH, .seq = 1999, .len = 500);
    expect_no_tx(t);
    ust_close(fd);
    st_drain_tx(t);
}

static void test_peer_without_mss_option_gets_536_byte_segments(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, ESTABLISHED, .peer_mss = -1, .peer_ws = -1,
                                  .peer_sack = false);
    uint8_t buf[600];
    st_pattern(buf, sizeof(buf), 0);
    conn_send(&c, buf, sizeof(buf));
    /* RFC 9293 3.7.1 (and RFC 1122 4.2.2.6): the default send MSS is 536. */
    expect_tcp(t, .flags = ACK, .seq = c.iss + 1, .ack = c.irs + 1, .len = 536, .hdr_len = 20,
               .window = 65535);
    expect_tcp(t, .flags = ACK | PSH, .seq = c.iss + 1 + 536, .len = 64);
    expect_no_tx(t);
}

static void test_tiny_peer_mss_is_floored_at_48_before_options_as_linux(void **state)
{
    struct st *t = *state;
    /* A SYN announcing MSS 1 would have us send 1-byte segments (CVE-2019-11479). Linux
     * floors the MSS at tcp_min_snd_mss, 48, and then takes the options off: 48 bytes of
     * data per segment without timestamps, 36 with them (tests/interop/test_attacks.py
     * compares both with the kernel's own segments). */
    struct conn c = conn_in_state(t, ESTABLISHED, .passive = true, .peer_mss = 1);
    assert_int_equal(st_tcp_info(c.fd).mss, 48);
    uint8_t buf[100];
    st_pattern(buf, sizeof(buf), 0);
    conn_send(&c, buf, sizeof(buf));
    expect_tcp(t, .flags = ACK, .seq = c.iss + 1, .len = 48);
    expect_tcp(t, .flags = ACK, .seq = c.iss + 49, .len = 48);
    expect_tcp(t, .flags = ACK | PSH, .seq = c.iss + 97, .len = 4);
    expect_no_tx(t);
    st_restart(t, "mtu=1500");
    c = conn_in_state(t, ESTABLISHED, .passive = true, .peer_mss = 47, .peer_ts = true);
    assert_int_equal(st_tcp_info(c.fd).mss, 36);
    conn_send(&c, buf, 40);
    expect_tcp(t, .flags = ACK, .seq = c.iss + 1, .len = 36, .hdr_len = 32);
    expect_tcp(t, .flags = ACK | PSH, .seq = c.iss + 37, .len = 4);
    expect_no_tx(t);
}

/* ---- SYN_SENT: what the answer to our SYN may be ---- */

static void test_syn_sent_rst_ack_is_econnrefused(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, SYN_SENT);
    feed(t, tcp(.flags = RST | ACK, .seq = 0, .ack = c.iss + 1, .window = 0));
    expect_no_tx(t);
    assert_int_equal(st_tcp_state(c.fd), CLOSED);
    int err = 0;
    socklen_t len = sizeof(err);
    assert_int_equal(ust_getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    assert_int_equal(err, ECONNREFUSED);
    assert_int_equal(counter(t, "tcp.attempt_fails"), 1);
}

static void test_syn_sent_rst_with_bad_ack_is_ignored(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, SYN_SENT);
    /* RFC 9293 3.10.7.3: an unacceptable ACK (not our SYN) with RST: drop it. */
    feed(t, tcp(.flags = RST | ACK, .ack = c.iss + 2));
    feed(t, tcp(.flags = RST | ACK, .ack = c.iss));
    /* RFC 5961 3.2 / RFC 9293: an RST without ACK is not acceptable in SYN_SENT. */
    feed(t, tcp(.flags = RST, .seq = 0));
    expect_no_tx(t);
    assert_int_equal(st_tcp_state(c.fd), SYN_SENT);
}

static void test_syn_sent_syn_ack_with_bad_ack_gets_a_reset(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, SYN_SENT);
    /* RFC 9293 3.10.7.3: <SEQ=SEG.ACK><CTL=RST>, and the connection stays in SYN_SENT. */
    feed(t, tcp(.flags = SYN | ACK, .seq = 1000, .ack = c.iss + 7, .mss = 1460));
    expect_tcp(t, .flags = RST, .seq = c.iss + 7, .ack = 0, .hdr_len = 20);
    feed(t, tcp(.flags = ACK, .seq = 1000, .ack = c.iss - 5));
    expect_tcp(t, .flags = RST, .seq = c.iss - 5);
    expect_no_tx(t);
    assert_int_equal(st_tcp_state(c.fd), SYN_SENT);
    /* The real SYN-ACK still completes the handshake. */
    feed(t, tcp(.flags = SYN | ACK, .seq = c.irs, .ack = c.iss + 1));
    expect_tcp(t, .flags = ACK, .seq = c.iss + 1, .ack = c.irs + 1);
    assert_int_equal(st_tcp_state(c.fd), ESTABLISHED);
}

static void test_syn_sent_segment_without_syn_or_rst_is_dropped(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, SYN_SENT);
    /* RFC 9293 3.10.7.3 fifth: neither SYN nor RST: drop (an acceptable ACK alone). */
    feed(t, tcp(.flags = ACK, .seq = 5, .ack = c.iss + 1));
    feed(t, tcp(.flags = FIN | ACK, .seq = 5, .ack = c.iss + 1));
    expect_no_tx(t);
    assert_int_equal(st_tcp_state(c.fd), SYN_SENT);
}

static void test_syn_retransmissions_back_off_then_connect_times_out(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, SYN_SENT);
    /* RFC 6298 2.1 and 5.5: 1 s, then doubling; tcp_syn_retries = 6 as Linux: SYNs at 1, 3, 7,
     * 15, 31 and 63 s, failure at 127 s. Each repeats the first SYN exactly. */
    uint64_t gap = 1000;
    for (int i = 0; i < 6; i++, gap *= 2)
        expect_tcp_after(t, gap, .flags = SYN, .seq = c.iss, .mss = ST_MSS, .ws = ST_WS,
                         .sack_perm = 1, .tsecr = 0);
    advance(t, gap - 1);
    assert_int_equal(st_tcp_state(c.fd), SYN_SENT);
    advance_past(t, 1);
    expect_no_tx(t);   /* Linux sends no RST when it gives up */
    assert_int_equal(st_tcp_state(c.fd), CLOSED);
    char b;
    expect_errno(ust_recv(c.fd, &b, 1, 0), ETIMEDOUT);
    assert_int_equal(counter(t, "tcp.attempt_fails"), 1);
}

static void test_syn_ack_from_retransmitted_syn_takes_no_rtt_sample(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, SYN_SENT);
    expect_tcp_after(t, 1000, .flags = SYN, .seq = c.iss);
    advance(t, 10);
    feed(t, tcp(.flags = SYN | ACK, .seq = c.irs, .ack = c.iss + 1));
    expect_tcp(t, .flags = ACK);
    /* Karn (RFC 6298 3): the SYN was sent twice, the SYN-ACK's RTT is ambiguous: no sample.
     * RFC 6298 5.7: the SYN timed out, so the RTO is 3 s once data transmission begins (Linux's
     * TCP_TIMEOUT_FALLBACK in tcp_init_metrics). */
    struct ust_tcp_info i = st_tcp_info(c.fd);
    assert_int_equal(i.srtt_us, 0);
    assert_int_equal(i.rto_us, 3000000);
    conn_send(&c, "x", 1);
    expect_tcp(t, .flags = ACK | PSH, .seq = c.iss + 1, .data = "x");
    expect_tcp_after(t, 3000, .flags = ACK | PSH, .seq = c.iss + 1, .data = "x");
}

static void test_initial_window_is_one_segment_after_two_syn_retransmissions(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, SYN_SENT);
    expect_tcp_after(t, 1000, .flags = SYN, .seq = c.iss);
    expect_tcp_after(t, 2000, .flags = SYN, .seq = c.iss);
    feed(t, tcp(.flags = SYN | ACK, .seq = c.irs, .ack = c.iss + 1, .mss = 1000));
    expect_tcp(t, .flags = ACK);
    /* RFC 5681 3.1 (and RFC 6928): the SYN was lost, so one segment, not ten. Linux applies it
     * after more than one SYN retransmission (tcp_init_metrics). */
    assert_int_equal(st_tcp_info(c.fd).cwnd, 1000);
    uint8_t buf[5000];
    st_pattern(buf, sizeof(buf), 0);
    conn_send(&c, buf, sizeof(buf));
    expect_tcp(t, .flags = ACK, .seq = c.iss + 1, .len = 1000);
    expect_no_tx(t);
}

static void test_initial_window_is_ten_segments_after_one_syn_retransmission(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, SYN_SENT);
    expect_tcp_after(t, 1000, .flags = SYN, .seq = c.iss);
    feed(t, tcp(.flags = SYN | ACK, .seq = c.irs, .ack = c.iss + 1, .mss = 100));
    expect_tcp(t, .flags = ACK);
    /* RFC 6928: IW = min(10 MSS, max(2 MSS, 14600)); with a 100-byte MSS, ten segments. */
    assert_int_equal(st_tcp_info(c.fd).cwnd, 1000);
    uint8_t buf[1200];
    st_pattern(buf, sizeof(buf), 0);
    conn_send(&c, buf, sizeof(buf));
    for (int i = 0; i < 10; i++)
        expect_tcp(t, .flags = ACK, .seq = c.iss + 1 + 100 * i, .len = 100);
    expect_no_tx(t);
}

static void test_syn_ack_rtt_sample_sets_the_first_rto(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, SYN_SENT);
    advance(t, 30);
    feed(t, tcp(.flags = SYN | ACK, .seq = c.irs, .ack = c.iss + 1));
    expect_tcp(t, .flags = ACK);
    /* RFC 6298 2.2: SRTT = R, RTTVAR = R/2; RTO = SRTT + max(4 RTTVAR, 200 ms) (Linux's floor
     * on the variance term, see tcp_rtt.c). */
    struct ust_tcp_info i = st_tcp_info(c.fd);
    assert_int_equal(i.srtt_us, 30000);
    assert_int_equal(i.rttvar_us, 15000);
    assert_int_equal(i.rto_us, 230000);
}

/* ---- Passive open ---- */

static void test_passive_open_syn_ack_mirrors_the_peer_options(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, SYN_RECEIVED, .passive = true, .peer_ts = true);
    /* SACK-permitted + TS, NOP WS: 40 bytes, as Linux's SYN-ACK. */
    assert_int_equal(t->rx->tcp.hdr_len, 40);
    assert_int_equal(t->rx->tcp.opt.ts_ecr, c.peer_tsval);
    expect_no_tx(t);
    assert_int_equal(tcp_connection_count(t->s), 1);
}

static void test_syn_received_retransmits_syn_ack_then_gives_up_silently(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, SYN_RECEIVED, .passive = true);
    /* tcp_synack_retries = 5 as Linux: SYN-ACKs again after 1, 2, 4, 8, 16 s; the embryo is
     * dropped 32 s later, without a reset. */
    uint64_t gap = 1000;
    for (int i = 0; i < 5; i++, gap *= 2)
        expect_tcp_after(t, gap, .flags = SYN | ACK, .seq = c.iss, .ack = c.irs + 1,
                         .mss = ST_MSS, .ws = ST_WS, .sack_perm = 1);
    advance(t, gap - 1);
    assert_int_equal(tcp_connection_count(t->s), 1);
    advance_past(t, 1);
    expect_no_tx(t);
    assert_int_equal(tcp_connection_count(t->s), 0);
    /* The handshake's ACK now finds only the listener: a reset (RFC 9293 3.10.7.2). */
    feed(t, tcp(.flags = ACK, .seq = c.irs + 1, .ack = c.iss + 1));
    /* With cookies on, the listener first tries the ACK as a cookie; it is not one. */
    expect_tcp(t, .flags = RST, .seq = c.iss + 1, .hdr_len = 20);
    expect_errno(ust_accept(c.lfd, NULL, NULL), EAGAIN);
}

static void test_syn_received_repeated_syn_gets_the_syn_ack_again(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, SYN_RECEIVED, .passive = true);
    /* Our SYN-ACK was lost and the peer repeats its SYN: answer it the same way. */
    feed(t, tcp(.flags = SYN, .seq = c.irs, .mss = 1460, .ws = 7, .sack_perm = true));
    expect_tcp(t, .flags = SYN | ACK, .seq = c.iss, .ack = c.irs + 1, .mss = ST_MSS);
    expect_no_tx(t);
}

static void test_syn_received_rst_returns_the_listener_to_listen(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, SYN_RECEIVED, .passive = true);
    /* RFC 9293 3.10.7.4 second check: a passive open goes back to LISTEN quietly. */
    feed(t, tcp(.flags = RST, .seq = c.irs + 1));
    expect_no_tx(t);
    assert_int_equal(tcp_connection_count(t->s), 0);
    expect_errno(ust_accept(c.lfd, NULL, NULL), EAGAIN);
    /* The listener still listens. */
    feed(t, tcp(.flags = SYN, .seq = 77, .sport = 40002));
    expect_tcp(t, .dport = 40002, .flags = SYN | ACK, .ack = 78);
}

static void test_syn_received_ack_with_bad_ack_number_gets_a_reset(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, SYN_RECEIVED, .passive = true);
    /* RFC 9293 3.10.7.4 fifth check, SYN-RECEIVED: unacceptable ACK -> <SEQ=SEG.ACK><RST>. */
    feed(t, tcp(.flags = ACK, .seq = c.irs + 1, .ack = c.iss + 5));
    expect_tcp(t, .flags = RST, .seq = c.iss + 5);
    expect_no_tx(t);
    /* The embryo is still there: the right ACK completes it. */
    feed(t, tcp(.flags = ACK, .seq = c.irs + 1, .ack = c.iss + 1));
    expect_no_tx(t);
    int fd = ust_accept4(c.lfd, NULL, NULL, SOCK_NONBLOCK);
    assert_true(fd >= 0);
    assert_int_equal(st_tcp_state(fd), ESTABLISHED);
}

static void test_passive_open_data_on_the_handshake_ack_is_delivered(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, SYN_RECEIVED, .passive = true);
    feed(t, tcp(.flags = ACK | PSH, .seq = c.irs + 1, .ack = c.iss + 1, .data = "early"));
    /* Quick-ack mode at the start of a connection (as Linux): the data is ACKed at once. */
    expect_tcp(t, .flags = ACK, .seq = c.iss + 1, .ack = c.irs + 6, .len = 0);
    int fd = ust_accept4(c.lfd, NULL, NULL, SOCK_NONBLOCK);
    assert_true(fd >= 0);
    char buf[16];
    assert_int_equal(ust_recv(fd, buf, sizeof(buf), 0), 5);
    assert_memory_equal(buf, "early", 5);
}

static void test_accept_reports_the_peer_address(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, SYN_RECEIVED, .passive = true);
    feed(t, tcp(.flags = ACK, .seq = c.irs + 1, .ack = c.iss + 1));
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    int fd = ust_accept4(c.lfd, (struct sockaddr *)&sin, &len, SOCK_NONBLOCK);
    assert_true(fd >= 0);
    assert_int_equal(len, sizeof(sin));
    assert_int_equal(ntohl(sin.sin_addr.s_addr), ST_PEER);
    assert_int_equal(ntohs(sin.sin_port), ST_PEER_PORT);
}

/* ---- Simultaneous open (RFC 9293 figure 7) ---- */

static void test_simultaneous_open_reaches_established(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, SYN_SENT);
    /* The peer's SYN crosses ours: SYN_RECEIVED, and a SYN-ACK with our ISN again and the
     * options our SYN offered that the peer's SYN also carries. */
    feed(t, tcp(.flags = SYN, .seq = c.irs, .mss = 1460, .ws = 7, .sack_perm = true));
    expect_tcp(t, .flags = SYN | ACK, .seq = c.iss, .ack = c.irs + 1, .mss = ST_MSS,
               .ws = ST_WS, .sack_perm = 1, .tsval = ST_NONE);
    expect_no_tx(t);
    assert_int_equal(st_tcp_state(c.fd), SYN_RECEIVED);
    /* Its SYN-ACK arrives (the answer to our SYN): established, and the duplicate SYN in it is
     * acknowledged. Linux 6.18 does the same (checked with a scripted peer): it accepts the
     * SYN-ACK in SYN_RECV as the completing ACK (tcp_validate_incoming) and ACKs (with a
     * D-SACK for the SYN; ustack reports D-SACK for data only). */
    feed(t, tcp(.flags = SYN | ACK, .seq = c.irs, .ack = c.iss + 1, .mss = 1460, .ws = 7,
                .sack_perm = true));
    expect_tcp(t, .flags = ACK, .seq = c.iss + 1, .ack = c.irs + 1, .window = ST_WIN,
               .len = 0);
    expect_no_tx(t);
    assert_int_equal(st_tcp_state(c.fd), ESTABLISHED);
    struct ust_tcp_info i = st_tcp_info(c.fd);
    assert_int_equal(i.options, UST_TCPI_OPT_SACK | UST_TCPI_OPT_WSCALE);
    /* Data flows both ways. */
    feed(t, tcp(.flags = ACK | PSH, .seq = c.irs + 1, .ack = c.iss + 1, .data = "hi"));
    expect_tcp(t, .flags = ACK, .seq = c.iss + 1, .ack = c.irs + 3);
    conn_send(&c, "yo", 2);
    expect_tcp(t, .flags = ACK | PSH, .seq = c.iss + 1, .ack = c.irs + 3, .data = "yo");
}

static void test_simultaneous_open_completed_by_a_plain_ack(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, SYN_SENT);
    feed(t, tcp(.flags = SYN, .seq = c.irs, .mss = 1460));
    expect_tcp(t, .flags = SYN | ACK, .seq = c.iss, .ack = c.irs + 1, .ws = ST_NONE,
               .sack_perm = 0);
    feed(t, tcp(.flags = ACK, .seq = c.irs + 1, .ack = c.iss + 1));
    expect_no_tx(t);
    assert_int_equal(st_tcp_state(c.fd), ESTABLISHED);
    int err = -1;
    socklen_t len = sizeof(err);
    assert_int_equal(ust_getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    assert_int_equal(err, 0);
}

static void test_simultaneous_open_syn_ack_is_retransmitted(void **state)
{
    struct st *t = *state;
    struct conn c = conn_in_state(t, SYN_SENT);
    advance(t, 400);
    feed(t, tcp(.flags = SYN, .seq = c.irs, .mss = 1460));
    expect_tcp(t, .flags = SYN | ACK, .seq = c.iss, .ack = c.irs + 1);
    /* The retransmission timer now repeats the SYN-ACK (1 s, no backoff yet). */
    expect_tcp_after(t, 1000, .flags = SYN | ACK, .seq = c.iss, .ack = c.irs + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, st_setup, st_teardown)
        T(test_active_open_syn_offers_every_option_in_linux_order),
        T(test_isn_override_is_one_shot_and_rfc6528_resumes),
        T(test_active_open_negotiates_each_of_16_peer_option_combinations),
        T(test_passive_open_negotiates_each_of_16_peer_option_combinations),
        T(test_stack_without_sack_neither_offers_nor_accepts_it),
        T(test_stack_without_timestamps_neither_offers_nor_accepts_them),
        T(test_stack_without_window_scaling_neither_offers_nor_accepts_it),
        T(test_window_scale_above_14_is_clamped_to_14),
        T(test_syn_window_is_never_scaled),
        T(test_mss_announced_is_clamped_to_the_route_mtu),
        T(test_tcp_maxseg_lowers_the_mss_announced_and_used),
        T(test_peer_without_mss_option_gets_536_byte_segments),
        T(test_tiny_peer_mss_is_floored_at_48_before_options_as_linux),
        T(test_syn_sent_rst_ack_is_econnrefused),
        T(test_syn_sent_rst_with_bad_ack_is_ignored),
        T(test_syn_sent_syn_ack_with_bad_ack_gets_a_reset),
        T(test_syn_sent_segment_without_syn_or_rst_is_dropped),
        T(test_syn_retransmissions_back_off_then_connect_times_out),
        T(test_syn_ack_from_retransmitted_syn_takes_no_rtt_sample),
        T(test_initial_window_is_one_segment_after_two_syn_retransmissions),
        T(test_initial_window_is_ten_segments_after_one_syn_retransmission),
        T(test_syn_ack_rtt_sample_sets_the_first_rto),
        T(test_passive_open_syn_ack_mirrors_the_peer_options),
        T(test_syn_received_retransmits_syn_ack_then_gives_up_silently),
        T(test_syn_received_repeated_syn_gets_the_syn_ack_again),
        T(test_syn_received_rst_returns_the_listener_to_listen),
        T(test_syn_received_ack_with_bad_ack_number_gets_a_reset),
        T(test_passive_open_data_on_the_handshake_ack_is_delivered),
        T(test_accept_reports_the_peer_address),
        T(test_simultaneous_open_reaches_established),
        T(test_simultaneous_open_completed_by_a_plain_ack),
        T(test_simultaneous_open_syn_ack_is_retransmitted),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
