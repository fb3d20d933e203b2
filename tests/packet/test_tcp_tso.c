/*
 * Segmentation offload: on a link that cuts super-frames (here the software segmenter,
 * link/gso.h, on the loop link), consecutive full-sized segments leave as one frame, and what
 * reaches the wire is exactly what they would have been one by one: sequence numbers, flags
 * (PSH only on the last), options, checksums (checked by the harness on every segment).
 */
#include "tcptest.h"

#include "link/gso.h"
#include "net/arp.h"
#include "sock/sock.h"
#include "tcp/tcb.h"

static uint8_t data[64 * 1460];

static const struct gso_ctrs *gso(struct st *t)
{
    return link_gso_counters(t->ifc->link);
}

/* A restart on the loop link wrapped in the software segmenter, with the options given (as
 * st_restart), and the pattern written. */
#define start_with_gso(t, ...) start_with_gso_((t), (const char *const[]){ __VA_ARGS__, NULL })
static void start_with_gso_(struct st *t, const char *const *options)
{
    t->gso = true;
    st_restart_(t, options);
    st_pattern(data, sizeof(data), 0);
}

static void test_initial_window_leaves_as_one_super_frame(void **state)
{
    struct st *t = *state;
    start_with_gso(t, "tcp_tso=1");
    struct conn c = conn_in_state(t, ESTABLISHED, .nodelay = true);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    /* Eleven segments' worth: the initial window (RFC 6928: 10) goes at once, the rest waits. */
    conn_send(&c, data, 11 * 1460);
    for (uint32_t i = 0; i < 10; i++)
        expect_tcp(t, .flags = ACK, .seq = L + i * 1460, .ack = R, .data = data + i * 1460,
                   .len = 1460);
    expect_no_tx(t);
    assert_int_equal(gso(t)->superframes, 1);
    assert_int_equal(gso(t)->segments, 10);
    /* The ACK of two segments lets the last one go, with PSH: it ends what was written. */
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L + 2 * 1460, .window = ST_WIN));
    expect_tcp(t, .flags = ACK | PSH, .seq = L + 10 * 1460, .ack = R, .data = data + 10 * 1460,
               .len = 1460);
    expect_no_tx(t);
    assert_int_equal(gso(t)->superframes, 1);
}

static void test_a_super_frame_s_first_segment_sent_again_alone_is_no_super_frame(void **state)
{
    struct st *t = *state;
    /* The first segment is the super-frame's own buffer (sent by reference): sent again alone,
     * on the RTO, it must not still say it is a super-frame (gso_size). */
    start_with_gso(t, "tcp_tso=1", "tcp_tlp=0");
    struct conn c = conn_in_state(t, ESTABLISHED, .nodelay = true, .rtt_ms = 100);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    conn_send(&c, data, 3 * 1460);
    for (uint32_t i = 0; i < 3; i++)
        expect_tcp(t, .flags = ACK | (i == 2 ? PSH : 0), .seq = L + i * 1460, .ack = R,
                   .data = data + i * 1460, .len = 1460);
    assert_int_equal(gso(t)->superframes, 1);
    expect_tcp_after(t, 300, .flags = ACK, .seq = L, .ack = R, .data = data, .len = 1460);
    expect_no_tx(t);
    assert_int_equal(gso(t)->superframes, 1);
    assert_int_equal(gso(t)->segments, 3);
}

static void test_psh_only_on_the_last_segment_of_a_super_frame(void **state)
{
    struct st *t = *state;
    start_with_gso(t, "tcp_tso=1");
    struct conn c = conn_in_state(t, ESTABLISHED, .nodelay = true);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    conn_send(&c, data, 3 * 1460);
    expect_tcp(t, .flags = ACK, .seq = L, .ack = R, .len = 1460);
    expect_tcp(t, .flags = ACK, .seq = L + 1460, .ack = R, .len = 1460);
    expect_tcp(t, .flags = ACK | PSH, .seq = L + 2 * 1460, .ack = R, .len = 1460);
    expect_no_tx(t);
    assert_int_equal(gso(t)->superframes, 1);
    assert_int_equal(gso(t)->segments, 3);
}

static void test_a_partial_tail_goes_in_a_frame_of_its_own(void **state)
{
    struct st *t = *state;
    start_with_gso(t, "tcp_tso=1");
    struct conn c = conn_in_state(t, ESTABLISHED, .nodelay = true);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    conn_send(&c, data, 2 * 1460 + 100);
    expect_tcp(t, .flags = ACK, .seq = L, .ack = R, .len = 1460);
    expect_tcp(t, .flags = ACK, .seq = L + 1460, .ack = R, .len = 1460);
    expect_tcp(t, .flags = ACK | PSH, .seq = L + 2 * 1460, .ack = R, .data = data + 2 * 1460,
               .len = 100);
    expect_no_tx(t);
    assert_int_equal(gso(t)->superframes, 1);
    assert_int_equal(gso(t)->segments, 2);
    assert_int_equal(gso(t)->csum_completed, 1);   /* the tail's checksum was left partial */
}

static void test_super_frames_respect_the_peer_window(void **state)
{
    struct st *t = *state;
    start_with_gso(t, "tcp_tso=1");
    /* A peer window of 4 segments (scaled by 2^7: 4 * 1460 = 5840 = 45.6 * 128, so 46). */
    struct conn c = conn_in_state(t, ESTABLISHED, .nodelay = true, .peer_window = 5888);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L, .window = 46));
    conn_send(&c, data, 8 * 1460);
    for (uint32_t i = 0; i < 4; i++)
        expect_tcp(t, .flags = ACK, .seq = L + i * 1460, .ack = R, .len = 1460);
    expect_no_tx(t);
    assert_int_equal(gso(t)->segments, 4);
}

static void test_tcp_tso_off_sends_segments_one_by_one(void **state)
{
    struct st *t = *state;
    start_with_gso(t, "tcp_tso=0");
    struct conn c = conn_in_state(t, ESTABLISHED, .nodelay = true);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    conn_send(&c, data, 3 * 1460);
    for (uint32_t i = 0; i < 3; i++)
        expect_tcp(t, .flags = ACK | (i == 2 ? PSH : 0), .seq = L + i * 1460, .ack = R,
                   .len = 1460);
    expect_no_tx(t);
    assert_int_equal(gso(t)->superframes, 0);
}

static void test_segments_leave_for_the_link_to_checksum(void **state)
{
    struct st *t = *state;
    /* The link completes checksums (LINK_OFF_TX_CSUM), so the payload is not summed when it is
     * queued: every segment, first transmission or retransmission, leaves with a partial
     * checksum that the link completes (the harness verifies each one). */
    start_with_gso(t, "tcp_tso=0", "tcp_tlp=0");
    struct conn c = conn_in_state(t, ESTABLISHED, .nodelay = true, .rtt_ms = 100);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    conn_send(&c, data, 1460 + 700);
    expect_tcp(t, .flags = ACK, .seq = L, .ack = R, .data = data, .len = 1460);
    expect_tcp(t, .flags = ACK | PSH, .seq = L + 1460, .ack = R, .data = data + 1460,
               .len = 700);
    expect_no_tx(t);
    assert_int_equal(gso(t)->csum_completed, 2);
    /* RFC 6298 5.4: the first unacknowledged segment again after the RTO (300 ms). */
    expect_tcp_after(t, 300, .flags = ACK, .seq = L, .ack = R, .data = data, .len = 1460);
    expect_no_tx(t);
    assert_int_equal(gso(t)->csum_completed, 3);
}

static void test_segments_are_summed_where_the_link_does_not_checksum(void **state)
{
    struct st *t = *state;
    /* The plain loop link offers no checksum offload: full checksums (the harness verifies
     * them), none left for a link to complete. */
    struct conn c = conn_in_state(t, ESTABLISHED, .nodelay = true);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    st_pattern(data, sizeof(data), 0);
    conn_send(&c, data, 1460 + 700);
    expect_tcp(t, .flags = ACK, .seq = L, .ack = R, .data = data, .len = 1460);
    expect_tcp(t, .flags = ACK | PSH, .seq = L + 1460, .ack = R, .data = data + 1460,
               .len = 700);
    expect_no_tx(t);
}

static void test_a_sacked_segment_keeps_its_payload_unsummed(void **state)
{
    struct st *t = *state;
    /* The SACK scoreboard's marks must not lose the mark that a segment's payload was never
     * summed (SEG_NOSUM): a SACKed segment can be sent again (a tail loss probe with the window
     * closed sends the most recent one, RFC 8985 7.3; a peer may renege, RFC 2018 8), and with
     * the mark gone it left with a checksum over a sum never taken (fuzz_stack found it). */
    start_with_gso(t, "tcp_tso=0");
    struct conn c = conn_in_state(t, ESTABLISHED, .nodelay = true, .rtt_ms = 100);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    conn_send(&c, data, 2 * 1460);
    expect_tcp(t, .flags = ACK, .seq = L, .ack = R, .data = data, .len = 1460);
    expect_tcp(t, .flags = ACK | PSH, .seq = L + 1460, .ack = R, .data = data + 1460,
               .len = 1460);
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L, .window = ST_WIN, .nsack = 1,
                .sack = { { L + 1460, L + 2 * 1460 } }));
    struct sock *so = sock_get(c.fd);
    assert_non_null(so);
    struct pkt *last = so->tcp->snd_head->next;
    assert_int_equal(seg_cb(last)->seq, L + 1460);
    assert_true(seg_cb(last)->flags & SEG_SACKED);
    assert_true(seg_cb(last)->flags & SEG_NOSUM);
    sock_put(so);
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L + 2 * 1460, .window = ST_WIN));
    st_drain_tx(t);   /* whatever loss recovery sent meanwhile (checked by the harness) */
    assert_int_equal(st_tcp_info(c.fd).unacked, 0);
}

/* ---- Segments for a neighbour being resolved ---- */

/* The peer's neighbour entry gone, as after arp_stale_ms without traffic: the next segments
 * wait for ARP. */
static void forget_peer(struct st *t)
{
    stack_enter(t->s);
    assert_int_equal(arp_delete(t->ifc, ST_PEER), 0);
    stack_leave(t->s);
}

/* An established connection whose peer's neighbour entry is then gone: three segments written,
 * the ARP request answered, the three sent in order (they waited). */
static struct conn three_segments_through_arp(struct st *t)
{
    struct conn c = conn_in_state(t, ESTABLISHED, .nodelay = true);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    forget_peer(t);
    conn_send(&c, data, 3 * 1460);
    st_answer_arp(t);
    for (uint32_t i = 0; i < 3; i++)
        expect_tcp(t, .flags = ACK | (i == 2 ? PSH : 0), .seq = L + i * 1460, .ack = R,
                   .data = data + i * 1460, .len = 1460);
    expect_no_tx(t);
    assert_int_equal(counter(t, "arp.queued"), 3);
    return c;
}

static void test_segments_wait_for_arp_as_copies(void **state)
{
    struct st *t = *state;
    /* A link that copies frames as it sends them (LINK_TX_SYNC) is handed the segments' own
     * buffers, which stay on the send queue, linked through ->next. The ARP queue links what
     * waits through ->next too: it must hold copies, and the send queue stay whole. */
    start_with_gso(t, "tcp_tso=0");
    struct conn c = three_segments_through_arp(t);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    assert_int_equal(counter(t, "arp.queue_copy_drops"), 0);
    /* The send queue is whole: the next write goes out behind them, and the ACK of all four
     * frees them (the teardown checks that every buffer came back). */
    conn_send(&c, data + 3 * 1460, 1460);
    expect_tcp(t, .flags = ACK | PSH, .seq = L + 3 * 1460, .ack = R, .data = data + 3 * 1460,
               .len = 1460);
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L + 4 * 1460, .window = ST_WIN));
    expect_no_tx(t);
    assert_int_equal(st_tcp_info(c.fd).unacked, 0);
}

static void test_no_super_frame_waits_for_arp(void **state)
{
    struct st *t = *state;
    /* A super-frame chains the send queue's buffers, too many to copy into one: segments for a
     * neighbour being resolved leave one by one (and wait as copies); once it is known, the
     * next write leaves as a super-frame again. */
    start_with_gso(t, "tcp_tso=1");
    struct conn c = three_segments_through_arp(t);
    uint32_t L = c.iss + 1, R = c.irs + 1;
    assert_int_equal(gso(t)->superframes, 0);
    conn_send(&c, data + 3 * 1460, 3 * 1460);
    for (uint32_t i = 3; i < 6; i++)
        expect_tcp(t, .flags = ACK | (i == 5 ? PSH : 0), .seq = L + i * 1460, .ack = R,
                   .data = data + i * 1460, .len = 1460);
    expect_no_tx(t);
    assert_int_equal(gso(t)->superframes, 1);
    assert_int_equal(gso(t)->segments, 3);
    feed(t, tcp(.flags = ACK, .seq = R, .ack = L + 6 * 1460, .window = ST_WIN));
    expect_no_tx(t);
    assert_int_equal(st_tcp_info(c.fd).unacked, 0);
    assert_int_equal(counter(t, "arp.queue_copy_drops"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, st_setup, st_teardown)
        T(test_initial_window_leaves_as_one_super_frame),
        T(test_a_super_frame_s_first_segment_sent_again_alone_is_no_super_frame),
        T(test_psh_only_on_the_last_segment_of_a_super_frame),
        T(test_a_partial_tail_goes_in_a_frame_of_its_own),
        T(test_super_frames_respect_the_peer_window),
        T(test_tcp_tso_off_sends_segments_one_by_one),
        T(test_segments_leave_for_the_link_to_checksum),
        T(test_segments_are_summed_where_the_link_does_not_checksum),
        T(test_a_sacked_segment_keeps_its_payload_unsummed),
        T(test_segments_wait_for_arp_as_copies),
        T(test_no_super_frame_waits_for_arp),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
