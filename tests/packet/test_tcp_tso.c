/*
 * Segmentation offload: on a link that cuts super-frames (here the software segmenter,
 * link/gso.h, on the loop link), consecutive full-sized segments leave as one frame, and what
 * reaches the wire is exactly what they would have been one by one: sequence numbers, flags
 * (PSH only on the last), options, checksums (checked by the harness on every segment).
 */
#include "tcptest.h"

#include "link/gso.h"

static uint8_t data[64 * 1460];

static const struct gso_ctrs *gso(struct st *t)
{
    return link_gso_counters(t->ifc->link);
}

static void start_with_gso(struct st *t, const char *tso)
{
    t->gso = true;
    st_restart(t, tso);
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
    t->gso = true;
    st_restart(t, "tcp_tso=0", "tcp_tlp=0");
    st_pattern(data, sizeof(data), 0);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, st_setup, st_teardown)
        T(test_initial_window_leaves_as_one_super_frame),
        T(test_psh_only_on_the_last_segment_of_a_super_frame),
        T(test_a_partial_tail_goes_in_a_frame_of_its_own),
        T(test_super_frames_respect_the_peer_window),
        T(test_tcp_tso_off_sends_segments_one_by_one),
        T(test_segments_leave_for_the_link_to_checksum),
        T(test_segments_are_summed_where_the_link_does_not_checksum),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
