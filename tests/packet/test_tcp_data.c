/*
 * Receiving data (RFC 9293 3.10.7.4 seventh step): in order, out of order (the queue, bounded in
 * payload and in buffer memory, immediate duplicate ACKs with SACK blocks, RFC 2018 4's order,
 * hole filling: RFC 5681 4.2),
 * duplicates and overlaps (D-SACK, RFC 2883), the window (trimming, zero window, receiver
 * silly-window avoidance: RFC 1122 4.2.3.3), delayed ACKs (RFC 1122 4.2.3.2, RFC 5681 4.2:
 * every second full-sized segment, Linux's 40 ms timer, quick-ACK at the start), PAWS
 * (RFC 7323 5), the FIN out of order, and a transfer through 2^32.
 */
#include "tcptest.h"

#define FULL 1460                /* a full-sized segment from the peer */

static uint8_t data[256 * 1024];
static uint8_t got[256 * 1024];

static void setup_data(void)
{
    st_pattern(data, sizeof(data), 0);
}

/* Segment [off, off + len) of the peer's stream. */
static struct st_frame seg(const struct conn *c, uint32_t off, uint32_t len)
{
    return tcp(.flags = ACK, .seq = c->irs + 1 + off, .ack = c->iss + 1, .data = data + off,
               .len = len);
}

static void check_read(const struct conn *c, uint32_t off, uint32_t len)
{
    assert_int_equal(st_read_avail(c->fd, got, len + 1), len);
    assert_memory_equal(got, data + off, len);
}

/* The quick-ACK segments (RFC 5681 4.2 allows ACKing every segment; Linux does at the start of
 * a connection): a passive connection has 16, each full segment ACKed at once. Returns the
 * stream offset after them. */
static uint32_t use_up_quickacks(struct st *t, const struct conn *c)
{
    uint32_t off = 0;
    for (int i = 0; i < 16; i++, off += FULL) {
        feed(t, seg(c, off, FULL));
        expect_tcp(t, .flags = ACK, .ack = c->irs + 1 + off + FULL, .len = 0);
    }
    check_read(c, 0, off);
    return off;
}

/* ---- In order, and delayed ACKs ---- */

static void test_in_order_data_is_delivered_and_acked(void **state)
{
    struct st *t = *state;
    setup_data();
    struct conn c = conn_in_state(t, ESTABLISHED, .passive = true);
    uint32_t R = c.irs + 1;
    feed(t, seg(&c, 0, 100));
    /* Quick-ACK mode: at once, the window in our scale, no options. */
    expect_tcp(t, .flags = ACK, .seq = c.iss + 1, .ack = R + 100,
               .window = (ST_RCVBUF - 100) >> ST_WS, .hdr_len = 20, .len = 0);
    check_read(&c, 0, 100);
    assert_int_equal(st_tcp_info(c.fd).bytes_received, 100);
}

/* Pure ACKs are built from a per-connection template (tcp_output.c, wire/tcp_ack.c): they must
 * be the frames the general path builds, follow every change of what the template holds (TTL,
 * TOS, the next hop's MAC), and take their IP IDs from the counter data segments use. */
static void test_pure_acks_follow_ttl_tos_mac_and_the_flows_ip_ids(void **state)
{
    struct st *t = *state;
    setup_data();
    struct conn c = conn_in_state(t, ESTABLISHED, .passive = true, .peer_ts = true);
    uint32_t R = c.irs + 1, L = c.iss + 1;
    struct st_frame s = seg(&c, 0, 100);
    s.tsval = (int64_t)c.peer_tsval + 1;
    feed(t, s);
    const struct st_rx *rx = expect_tcp(t, .flags = ACK, .seq = L, .ack = R + 100, .ttl = 64,
                                        .tos = 0, .df = 1, .tsval = conn_tsval(&c),
                                        .tsecr = s.tsval, .hdr_len = 32, .len = 0,
                                        .eth_dst = &st_peer_mac, .eth_src = &st_mac);
    int64_t id = rx->ip.id;
    /* A data segment (the general path) takes the next ID of the same counter. */
    conn_send(&c, "hello", 5);
    expect_tcp(t, .flags = ACK | PSH, .seq = L, .ack = R + 100, .id = (id + 1) & 0xffff,
               .len = 5);
    s = seg(&c, 100, 100);
    s.ack = L + 5;
    s.tsval = (int64_t)c.peer_tsval + 2;
    feed(t, s);
    expect_tcp(t, .flags = ACK, .seq = L + 5, .ack = R + 200, .id = (id + 2) & 0xffff,
               .ttl = 64, .tsecr = s.tsval, .len = 0);
    /* IP_TTL, then IP_TOS, apply to the next ACK. */
    int ttl = 9, tos = 0x10;
    assert_int_equal(ust_setsockopt(c.fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl)), 0);
    s = seg(&c, 200, 100);
    s.ack = L + 5;
    s.tsval = (int64_t)c.peer_tsval + 3;
    feed(t, s);
    expect_tcp(t, .flags = ACK, .seq = L + 5, .ack = R + 300, .id = (id + 3) & 0xffff,
               .ttl = 9, .tos = 0, .tsecr = s.tsval, .len = 0, .eth_dst = &st_peer_mac);
    assert_int_equal(ust_setsockopt(c.fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos)), 0);
    s = seg(&c, 300, 100);
    s.ack = L + 5;
    s.tsval = (int64_t)c.peer_tsval + 4;
    feed(t, s);
    expect_tcp(t, .flags = ACK, .seq = L + 5, .ack = R + 400, .id = (id + 4) & 0xffff,
               .ttl = 9, .tos = 0x10, .tsecr = s.tsval, .len = 0, .eth_dst = &st_peer_mac);
    /* The peer's MAC changes: the next ACK goes to the new one. */
    static const struct eth_addr moved = { { 0x02, 0, 0, 0, 0, 0x09 } };
    st_resolve(t, ST_PEER, &moved);
    s = seg(&c, 400, 100);
    s.ack = L + 5;
    s.tsval = (int64_t)c.peer_tsval + 5;
    feed(t, s);
    expect_tcp(t, .flags = ACK, .seq = L + 5, .ack = R + 500, .id = (id + 5) & 0xffff,
               .ttl = 9, .tos = 0x10, .tsecr = s.tsval, .len = 0, .eth_dst = &moved);
    expect_no_tx(t);
    check_read(&c, 0, 500);
}

static void test_delayed_ack_every_second_full_sized_segment(void **state)
{
    struct st *t = *state;
    setup_data();
    struct conn c = conn_in_state(t, ESTABLISHED, .passive = true);
    uint32_t R = c.irs + 1;
    uint32_t off = use_up_quickacks(t, &c);
    /* One full segment: no ACK yet. The second: an ACK for both at once. */
    feed(t, seg(&c, off, FULL));
    expect_no_tx(t);
    feed(t, seg(&c, off + FULL, FULL));
    expect_tcp(t, .flags = ACK, .ack = R + off + 2 * FULL);
    expect_no_tx(t);
    assert_int_equal(counter(t, "tcp.delayed_acks"), 0);
}

static void test_delayed_ack_timer_is_40_ms(void **state)
{
    struct st *t = *state;
    setup_data();
    struct conn c = conn_in_state(t, ESTABLISHED, .passive = true);
    uint32_t R = c.irs + 1;
    uint32_t off = use_up_quickacks(t, &c);
    feed(t, seg(&c, off, FULL));
    /* Linux's 40 ms (RFC 1122 4.2.3.2 allows up to 500 ms). */
    expect_tcp_after(t, 40, .flags = ACK, .ack = R + off + FULL, .len = 0);
    expect_no_tx(t);
    assert_int_equal(counter(t, "tcp.delayed_acks"), 1);
    /* A small segment waits for the timer too. */
    feed(t, seg(&c, off + FULL, 10));
    expect_tcp_after(t, 40, .flags = ACK, .ack = R + off + FULL + 10);
}

static void test_delayed_ack_rides_on_data_we_send(void **state)
{
    struct st *t = *state;
    setup_data();
    struct conn c = conn_in_state(t, ESTABLISHED, .passive = true);
    uint32_t R = c.irs + 1;
    uint32_t off = use_up_quickacks(t, &c);
    feed(t, seg(&c, off, FULL));
    expect_no_tx(t);
    advance(t, 10);
    conn_send(&c, "reply", 5);
    /* The pending ACK goes with the data; the timer then has nothing to send. */
    expect_tcp(t, .flags = ACK | PSH, .seq = c.iss + 1, .ack = R + off + FULL, .data = "reply");
    advance(t, 100);
    expect_no_tx(t);
}

static void test_tcp_quickack_acks_every_segment(void **state)
{
    struct st *t = *state;
    setup_data();
    struct conn c = conn_in_state(t, ESTABLISHED, .passive = true);
    uint32_t R = c.irs + 1;
    uint32_t off = use_up_quickacks(t, &c);
    int one = 1;
    assert_int_equal(ust_setsockopt(c.fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one)), 0);
    feed(t, seg(&c, off, FULL));
    expect_tcp(t, .flags = ACK, .ack = R + off + FULL);
}

/* ---- Out of order ---- */

#define BLK(a, b) { R + (a), R + (b) }

static void test_out_of_order_segments_get_immediate_acks_with_sack(void **state)
{
    struct st *t = *state;
    setup_data();
    struct conn c = conn_in_state(t, ESTABLISHED, .passive = true);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    /* RFC 5681 4.2: an immediate duplicate ACK for each; RFC 2018 4: the first block holds the
     * segment that arrived last. The peer's ISN is 256 below 2^32: these blocks wrap. */
    feed(t, seg(&c, 1000, 100));
    expect_tcp(t, .flags = ACK, .seq = L, .ack = R, .nsack = 1, .sack = { BLK(1000, 1100) });
    feed(t, seg(&c, 2000, 100));
    expect_tcp(t, .flags = ACK, .ack = R, .nsack = 2,
               .sack = { BLK(2000, 2100), BLK(1000, 1100) });
    feed(t, seg(&c, 1100, 100));   /* extends the first island */
    expect_tcp(t, .flags = ACK, .ack = R, .nsack = 2,
               .sack = { BLK(1000, 1200), BLK(2000, 2100) });
    expect_no_tx(t);
    assert_int_equal(counter(t, "tcp.ooo_segs"), 3);
    char b;
    expect_errno(ust_recv(c.fd, &b, 1, 0), EAGAIN);
    /* The hole at the start fills: ACK at once up to the next hole. */
    feed(t, seg(&c, 0, 1000));
    expect_tcp(t, .flags = ACK, .ack = R + 1200, .nsack = 1, .sack = { BLK(2000, 2100) });
    feed(t, seg(&c, 1200, 800));
    expect_tcp(t, .flags = ACK, .ack = R + 2100, .nsack = 0);
    expect_no_tx(t);
    check_read(&c, 0, 2100);
}

static void test_sack_reports_at_most_four_blocks_or_three_with_timestamps(void **state)
{
    struct st *t = *state;
    setup_data();
    struct conn c = conn_in_state(t, ESTABLISHED, .passive = true);
    uint32_t R = c.irs + 1;
    for (uint32_t i = 1; i <= 5; i++) {
        feed(t, seg(&c, i * 200, 100));
        st_take_tx(t);
    }
    /* RFC 2018 3: 40 bytes of options hold four blocks; the most recent first. */
    assert_int_equal(t->rx->tcp.opt.sack_count, 4);
    expect_no_tx(t);
    feed(t, seg(&c, 1000, 50));   /* a duplicate of the last island's start: D-SACK + 3 */
    expect_tcp(t, .flags = ACK, .ack = R, .nsack = 4,
               .sack = { BLK(1000, 1050), BLK(1000, 1100), BLK(800, 900), BLK(600, 700) });

    st_restart(t, "mtu=1500");
    c = conn_in_state(t, ESTABLISHED, .passive = true, .peer_ts = true);
    R = c.irs + 1;
    uint32_t tsval = c.peer_tsval;
    for (uint32_t i = 1; i <= 4; i++) {
        struct st_frame f = seg(&c, i * 200, 100);
        f.tsval = ++tsval;
        f.tsecr = conn_tsval(&c);
        feed(t, f);
        st_take_tx(t);
    }
    /* With the 12 bytes of timestamps, three. */
    assert_int_equal(t->rx->tcp.opt.sack_count, 3);
    assert_true(t->rx->tcp.opt.present & TCP_HAS_TIMESTAMP);
    assert_int_equal(t->rx->tcp.opt.sack[0].start, R + 800);
}

static void test_duplicate_out_of_order_segment_is_reported_as_dsack(void **state)
{
    struct st *t = *state;
    setup_data();
    struct conn c = conn_in_state(t, ESTABLISHED, .passive = true);
    uint32_t R = c.irs + 1;
    feed(t, seg(&c, 1000, 100));
    st_take_tx(t);
    feed(t, seg(&c, 1000, 100));
    /* RFC 2883 4.1.2: the D-SACK block first, then the block containing it. */
    expect_tcp(t, .flags = ACK, .ack = R, .nsack = 2,
               .sack = { BLK(1000, 1100), BLK(1000, 1100) });
    /* The D-SACK is reported once. */
    feed(t, seg(&c, 3000, 100));
    expect_tcp(t, .flags = ACK, .ack = R, .nsack = 2,
               .sack = { BLK(3000, 3100), BLK(1000, 1100) });
}

static void test_old_duplicate_below_the_window_is_reported_as_dsack(void **state)
{
    struct st *t = *state;
    setup_data();
    struct conn c = conn_in_state(t, ESTABLISHED, .passive = true);
    uint32_t R = c.irs + 1;
    feed(t, seg(&c, 0, 100));
    expect_tcp(t, .flags = ACK, .ack = R + 100, .nsack = 0);   /* quickack: each at once */
    feed(t, seg(&c, 100, 100));
    expect_tcp(t, .flags = ACK, .ack = R + 200, .nsack = 0);
    /* A retransmission of data already acknowledged (its original arrived): outside the
     * window, answered with an ACK at once that reports it as a D-SACK (RFC 2883 4.1.1, as
     * Linux's tcp_send_dupack), so the sender can tell its retransmission was spurious. */
    feed(t, seg(&c, 0, 100));
    expect_tcp(t, .flags = ACK, .ack = R + 200, .nsack = 1, .sack = { BLK(0, 100) });
    expect_no_tx(t);
}

static void test_overlapping_segments_keep_the_first_copy(void **state)
{
    struct st *t = *state;
    setup_data();
    struct conn c = conn_in_state(t, ESTABLISHED, .passive = true);
    uint32_t R = c.irs + 1;
    feed(t, seg(&c, 1000, 100));
    st_take_tx(t);
    /* [1050, 1150) overlaps the held [1000, 1100): its new part is kept, the overlap reported
     * as a duplicate (tcp_reass.c). Different bytes in the overlap would not replace ours. */
    struct st_frame f = tcp(.flags = ACK, .seq = R + 1050, .ack = c.iss + 1, .len = 100);
    uint8_t evil[100];
    memcpy(evil, data + 1050, 100);
    memset(evil, 'X', 50);
    f.data = evil;
    feed(t, f);
    expect_tcp(t, .flags = ACK, .ack = R, .nsack = 2,
               .sack = { BLK(1050, 1100), BLK(1000, 1150) });
    feed(t, seg(&c, 0, 1000));
    expect_tcp(t, .flags = ACK, .ack = R + 1150);
    check_read(&c, 0, 1150);   /* the original bytes in the overlap */
}

static void test_overlaps_keep_the_first_copy_in_and_out_of_order(void **state)
{
    struct st *t = *state;
    setup_data();
    struct conn c = conn_in_state(t, ESTABLISHED, .passive = true);
    uint32_t R = c.irs + 1;
    /* One policy everywhere (tcp_reass.c): the first copy of a byte that is accepted wins.
     * [1000, 1100) is held; [900, 1200) of X covers it: X fills around the held bytes, which
     * stay. Then [0, 950), whose last 50 bytes (Y) overlap the held X: in order or not, the
     * held copy wins. */
    feed(t, seg(&c, 1000, 100));
    static uint8_t x[300], y[950];
    memset(x, 'X', sizeof(x));
    feed(t, tcp(.flags = ACK, .seq = R + 900, .ack = c.iss + 1, .data = x, .len = 300));
    memcpy(y, data, 900);
    memset(y + 900, 'Y', 50);
    feed(t, tcp(.flags = ACK, .seq = R, .ack = c.iss + 1, .data = y, .len = 950));
    st_drain_tx(t);
    uint8_t want[1200];
    memcpy(want, data, 900);
    memset(want + 900, 'X', 100);
    memcpy(want + 1000, data + 1000, 100);
    memset(want + 1100, 'X', 100);
    assert_int_equal(st_read_avail(c.fd, got, sizeof(want) + 1), sizeof(want));
    assert_memory_equal(got, want, sizeof(want));
}

static void test_segment_overlapping_rcv_nxt_delivers_only_the_new_part(void **state)
{
    struct st *t = *state;
    setup_data();
    struct conn c = conn_in_state(t, ESTABLISHED, .passive = true);
    uint32_t R = c.irs + 1;
    feed(t, seg(&c, 0, 300));
    expect_tcp(t, .flags = ACK, .ack = R + 300);
    feed(t, seg(&c, 200, 300));
    expect_tcp(t, .flags = ACK, .ack = R + 500, .nsack = 1, .sack = { BLK(200, 300) });
    check_read(&c, 0, 500);
}

static void test_fin_out_of_order_waits_for_the_hole(void **state)
{
    struct st *t = *state;
    setup_data();
    struct conn c = conn_in_state(t, ESTABLISHED, .passive = true);
    uint32_t R = c.irs + 1;
    struct st_frame last = seg(&c, 500, 500);
    last.flags = FIN | ACK;
    feed(t, last);
    expect_tcp(t, .flags = ACK, .ack = R, .nsack = 1, .sack = { BLK(500, 1001) });
    assert_int_equal(st_tcp_state(c.fd), ESTABLISHED);
    feed(t, seg(&c, 0, 500));
    /* The data and the FIN behind it: ACKed together (FIN counts one). */
    expect_tcp(t, .flags = ACK, .ack = R + 1001, .nsack = 0);
    expect_no_tx(t);
    assert_int_equal(st_tcp_state(c.fd), CLOSE_WAIT);
    check_read(&c, 0, 1000);
    char b;
    assert_int_equal(ust_recv(c.fd, &b, 1, 0), 0);
}

static void test_out_of_order_memory_is_capped_by_buffer_size(void **state)
{
    struct st *t = *state;
    setup_data();
    /* SO_RCVBUF 16384 (8192 of window): at most 16384 bytes of buffers held, 8 of the 2 KiB
     * buffers a frame arrives in. One-byte segments with a hole before each (an attacker's
     * cheapest way to pin memory) each take a whole buffer (tcp_reass.c). */
    struct conn c = conn_in_state(t, ESTABLISHED, .passive = true, .rcvbuf = 8192);
    uint32_t R = c.irs + 1;
    for (uint32_t k = 1; k <= 20; k++) {
        feed(t, seg(&c, 2 * k, 1));
        st_drain_tx(t);
    }
    assert_int_equal(counter(t, "tcp.ooo_segs"), 8);
    assert_int_equal(counter(t, "tcp.ooo_drops"), 12);
    assert_int_equal(counter(t, "tcp.ooo_pruned"), 0);
    /* One before the queue's last makes room by dropping that last one (Linux's
     * tcp_prune_ofo_queue), and SACK starts afresh with it: [1, 3) holds it and byte 2. */
    feed(t, seg(&c, 1, 1));
    expect_tcp(t, .flags = ACK, .ack = R, .nsack = 1, .sack = { BLK(1, 3) });
    assert_int_equal(counter(t, "tcp.ooo_pruned"), 1);
    assert_int_equal(counter(t, "tcp.ooo_segs"), 9);
    /* The hole fills: everything is delivered, the bytes the peer sends again included. */
    feed(t, seg(&c, 0, 100));
    expect_tcp(t, .flags = ACK, .ack = R + 100, .nsack = 0);
    check_read(&c, 0, 100);
    feed(t, seg(&c, 100, 100));
    st_drain_tx(t);
    check_read(&c, 100, 100);
}

/* ---- The receive window ---- */

static void test_data_beyond_the_window_is_trimmed(void **state)
{
    struct st *t = *state;
    setup_data();
    struct conn c = conn_in_state(t, ESTABLISHED, .passive = true, .rcvbuf = 2048);
    uint32_t R = c.irs + 1;
    /* SO_RCVBUF 2048: 4096 of buffer, 2048 of window (32 << 7... here 16 << 7). */
    assert_int_equal(st_tcp_info(c.fd).rcv_wnd, 2048);
    feed(t, seg(&c, 0, FULL));
    expect_tcp(t, .flags = ACK, .ack = R + FULL, .window = (2048 - FULL) >> ST_WS);
    /* 1460 more, but only 588 fit: the rest is not ours to keep (RFC 9293 3.10.7.4). */
    feed(t, seg(&c, FULL, FULL));
    expect_tcp(t, .flags = ACK, .ack = R + 2048, .window = 0);
    check_read(&c, 0, 2048);
}

static void test_zero_window_then_reading_reopens_it_without_silly_windows(void **state)
{
    struct st *t = *state;
    setup_data();
    struct conn c = conn_in_state(t, ESTABLISHED, .passive = true, .rcvbuf = 4096);
    uint32_t R = c.irs + 1;
    feed(t, seg(&c, 0, FULL));
    expect_tcp(t, .ack = R + FULL, .window = 20);   /* 2636 left, in units of 128 */
    feed(t, seg(&c, FULL, FULL));
    expect_tcp(t, .ack = R + 2 * FULL, .window = 9);
    feed(t, seg(&c, 2 * FULL, 4096 - 2 * FULL));
    expect_tcp(t, .ack = R + 4096, .window = 0);
    /* A zero-window probe (one byte at RCV.NXT) is answered with the window, still 0. */
    feed(t, seg(&c, 4096, 1));
    expect_tcp(t, .flags = ACK, .ack = R + 4096, .window = 0);
    /* RFC 1122 4.2.3.3 (receiver SWS avoidance): reading 1000 bytes opens less than
     * min(buffer / 2, MSS) = 1460: no update. */
    assert_int_equal(st_read_avail(c.fd, got, 1000), 1000);
    expect_no_tx(t);
    /* 500 more: 1500 free, an update (11 << 7 = 1408: the field rounds down). */
    assert_int_equal(st_read_avail(c.fd, got, 500), 500);
    expect_tcp(t, .flags = ACK, .ack = R + 4096, .window = 11, .len = 0);
    expect_no_tx(t);
    /* The rest read: the whole buffer is offered again. */
    assert_int_equal(st_read_avail(c.fd, got, 4096), 4096 - 1500);
    expect_tcp(t, .flags = ACK, .ack = R + 4096, .window = 32);
}

static void test_window_right_edge_never_moves_back(void **state)
{
    struct st *t = *state;
    setup_data();
    struct conn c = conn_in_state(t, ESTABLISHED, .passive = true, .rcvbuf = 4096);
    uint32_t R = c.irs + 1;
    /* RFC 7323 2.4 / RFC 9293 3.8.6.2.1: what we offered stays offered. 100 bytes in: the
     * window field drops by what arrived (rounded down in our scale), never below the edge. */
    feed(t, seg(&c, 0, 100));
    const struct st_rx *rx = expect_tcp(t, .ack = R + 100);
    uint32_t edge = R + 100 + ((uint32_t)rx->tcp.window << ST_WS);
    assert_true(edge - R <= 4096);
    /* Data up to the old right edge (R + 4096) is still accepted. */
    for (uint32_t off = 100; off < 4096; off += FULL) {
        feed(t, seg(&c, off, 4096 - off < FULL ? 4096 - off : FULL));
        st_take_tx(t);
    }
    assert_int_equal(t->rx->tcp.ack, R + 4096);
    assert_int_equal(t->rx->tcp.window, 0);
}

/* ---- PAWS ---- */

static void test_paws_drops_a_segment_with_an_old_timestamp(void **state)
{
    struct st *t = *state;
    setup_data();
    struct conn c = conn_in_state(t, ESTABLISHED, .passive = true, .peer_ts = true);
    uint32_t R = c.irs + 1;
    struct st_frame f = seg(&c, 0, 100);
    f.tsval = c.peer_tsval + 10;
    f.tsecr = conn_tsval(&c);
    feed(t, f);
    expect_tcp(t, .ack = R + 100, .tsecr = c.peer_tsval + 10);
    /* RFC 7323 5.3: TSval older than TS.Recent: drop it, acknowledge (a duplicate ACK). */
    f = seg(&c, 100, 100);
    f.tsval = c.peer_tsval + 9;
    f.tsecr = conn_tsval(&c);
    feed(t, f);
    expect_tcp(t, .flags = ACK, .ack = R + 100, .tsecr = c.peer_tsval + 10, .tsval = conn_tsval(&c));
    assert_int_equal(counter(t, "tcp.paws_drops"), 1);
    check_read(&c, 0, 100);
    /* The same TSval is not older: accepted. */
    f.tsval = c.peer_tsval + 10;
    feed(t, f);
    expect_tcp(t, .ack = R + 200);
}

static void test_paws_gives_up_after_24_days_idle(void **state)
{
    struct st *t = *state;
    setup_data();
    struct conn c = conn_in_state(t, ESTABLISHED, .passive = true, .peer_ts = true);
    uint32_t R = c.irs + 1;
    /* RFC 7323 5.5: after more than 24 days idle, TS.Recent is invalid and the segment is
     * taken (its TSval becomes the new TS.Recent). */
    advance(t, 25ull * 24 * 3600 * 1000);
    struct st_frame f = seg(&c, 0, 100);
    f.tsval = c.peer_tsval - 1000000;
    f.tsecr = conn_tsval(&c);
    feed(t, f);
    expect_tcp(t, .ack = R + 100, .tsecr = c.peer_tsval - 1000000);
    assert_int_equal(counter(t, "tcp.paws_drops"), 0);
}

static void test_timestamp_of_an_out_of_order_segment_is_not_echoed(void **state)
{
    struct st *t = *state;
    setup_data();
    struct conn c = conn_in_state(t, ESTABLISHED, .passive = true, .peer_ts = true);
    uint32_t R = c.irs + 1;
    struct st_frame f = seg(&c, 1000, 100);
    f.tsval = c.peer_tsval + 50;
    f.tsecr = conn_tsval(&c);
    feed(t, f);
    /* RFC 7323 4.3: TS.Recent only from a segment at or below Last.ACK.sent, so an
     * out-of-order segment's TSval is not echoed (the echo times the hole). */
    expect_tcp(t, .ack = R, .tsecr = c.peer_tsval, .nsack = 1, .sack = { BLK(1000, 1100) });
    f = seg(&c, 0, 1000);
    f.tsval = c.peer_tsval + 60;
    f.tsecr = conn_tsval(&c);
    feed(t, f);
    expect_tcp(t, .ack = R + 1100, .tsecr = c.peer_tsval + 60);
}

/* ---- Through 2^32 ---- */

static void test_transfer_through_2_32_arrives_intact(void **state)
{
    struct st *t = *state;
    setup_data();
    struct conn c = conn_in_state(t, ESTABLISHED, .passive = true, .irs = 0xffff0000u);
    uint32_t R = c.irs + 1;
    /* 200 KB from 64 KiB below 2^32: the sequence numbers wrap a third of the way in. Read as
     * it comes, so the window never closes. */
    uint32_t total = 200 * 1024, off = 0, read = 0;
    while (off < total) {
        uint32_t n = total - off < FULL ? total - off : FULL;
        feed(t, seg(&c, off, n));
        off += n;
        st_drain_tx(t);
        size_t r = st_read_avail(c.fd, got + read, sizeof(got) - read);
        read += (uint32_t)r;
    }
    advance(t, 50);
    const struct st_rx *last = NULL, *rx;
    while ((rx = st_take_tx(t)))
        last = rx;
    if (last)
        assert_int_equal(last->tcp.ack, R + total);
    assert_int_equal(read, total);
    assert_memory_equal(got, data, total);
    assert_int_equal(st_tcp_info(c.fd).bytes_received, total);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, st_setup, st_teardown)
        T(test_in_order_data_is_delivered_and_acked),
        T(test_pure_acks_follow_ttl_tos_mac_and_the_flows_ip_ids),
        T(test_delayed_ack_every_second_full_sized_segment),
        T(test_delayed_ack_timer_is_40_ms),
        T(test_delayed_ack_rides_on_data_we_send),
        T(test_tcp_quickack_acks_every_segment),
        T(test_out_of_order_segments_get_immediate_acks_with_sack),
        T(test_sack_reports_at_most_four_blocks_or_three_with_timestamps),
        T(test_duplicate_out_of_order_segment_is_reported_as_dsack),
        T(test_old_duplicate_below_the_window_is_reported_as_dsack),
        T(test_overlapping_segments_keep_the_first_copy),
        T(test_overlaps_keep_the_first_copy_in_and_out_of_order),
        T(test_segment_overlapping_rcv_nxt_delivers_only_the_new_part),
        T(test_fin_out_of_order_waits_for_the_hole),
        T(test_out_of_order_memory_is_capped_by_buffer_size),
        T(test_data_beyond_the_window_is_trimmed),
        T(test_zero_window_then_reading_reopens_it_without_silly_windows),
        T(test_window_right_edge_never_moves_back),
        T(test_paws_drops_a_segment_with_an_old_timestamp),
        T(test_paws_gives_up_after_24_days_idle),
        T(test_timestamp_of_an_out_of_order_segment_is_not_echoed),
        T(test_transfer_through_2_32_arrives_intact),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
