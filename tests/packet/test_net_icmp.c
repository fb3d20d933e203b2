/*
 * ICMP (RFC 792, RFC 1122 3.2.2): echo replies, the errors the stack sends (port and protocol
 * unreachable, quoting at most 576 bytes in all), the cases where RFC 1122 forbids an error,
 * and the rate limit, timed to the nanosecond with the fake clock.
 */
#include "stacktest.h"

#include <string.h>

#include "ustack/ustack.h"

#define ICMP_ERROR_TOS 0xc0      /* Linux sends errors with precedence "internetwork control" */

static void test_icmp_echo_request_is_answered_with_same_id_seq_and_data(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    feed(t, icmp(.echo_id = 0x1812, .seq = 0x0ab1, .data = "abcdefgh01234567", .ttl = 3));
    /* RFC 792 / RFC 1122 3.2.2.6: same identifier, sequence and data, from the address the
     * request was sent to. */
    expect_tx(t, want_icmp(.eth_dst = &st_peer_mac, .eth_src = &st_mac, .src = ST_ADDR,
                           .dst = ST_PEER, .ttl = 64, .type = ICMP_ECHO_REPLY, .code = 0,
                           .echo_id = 0x1812, .seq = 0x0ab1, .data = "abcdefgh01234567"));
    expect_no_tx(t);
    assert_int_equal(counter(t, "icmp.in_echos"), 1);
    assert_int_equal(counter(t, "icmp.out_echo_replies"), 1);
}

static void test_icmp_echo_reply_waits_for_the_peer_address(void **state)
{
    struct st *t = *state;
    /* An echo request teaches nothing about the sender's MAC: the reply waits for ARP. */
    feed(t, icmp(.echo_id = 0x1812, .seq = 2, .data = "who"));
    st_answer_arp(t);
    expect_tx(t, want_icmp(.eth_dst = &st_peer_mac, .type = ICMP_ECHO_REPLY, .echo_id = 0x1812,
                           .seq = 2, .data = "who"));
    expect_no_tx(t);
}

static void test_icmp_echo_with_a_bad_checksum_is_dropped(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    feed(t, icmp(.data = "bad", .bad_icmp_csum = true));
    expect_no_tx(t);
    assert_int_equal(counter(t, "icmp.in_errors"), 1);
}

static void test_icmp_broadcast_echo_is_not_answered(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    /* Linux's icmp_echo_ignore_broadcasts=1 (RFC 1122 3.2.2.6 leaves the choice). */
    feed(t, icmp(.eth_dst = st_bcast_mac, .dst = ST_BCAST, .data = "smurf"));
    feed(t, icmp(.eth_dst = st_bcast_mac, .dst = 0xffffffffu, .data = "smurf"));
    expect_no_tx(t);
    assert_int_equal(counter(t, "icmp.in_broadcast_echo"), 2);
}

static void test_icmp_udp_to_a_closed_port_gets_port_unreachable(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    struct st_frame d = udp(.dport = 9, .data = "knock", .id = 0x1812, .ttl = 17);
    uint8_t orig[64];
    size_t n = st_build_ip(&d, orig, sizeof(orig));
    feed(t, d);
    /* RFC 1122 4.1.3.1, quoting the whole datagram as it arrived. */
    expect_tx(t, want_icmp(.eth_dst = &st_peer_mac, .src = ST_ADDR, .dst = ST_PEER,
                           .tos = ICMP_ERROR_TOS, .type = ICMP_DEST_UNREACH,
                           .code = ICMP_PORT_UNREACH, .rest = 0, .data = orig, .len = n));
    expect_no_tx(t);
    assert_int_equal(counter(t, "udp.no_ports"), 1);
    assert_int_equal(counter(t, "icmp.out_dest_unreachs"), 1);
}

static void test_icmp_error_is_at_most_576_bytes(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    static uint8_t data[1000], orig[1100];
    memset(data, 0x42, sizeof(data));
    struct st_frame d = udp(.dport = 9, .data = data, .len = sizeof(data));
    st_build_ip(&d, orig, sizeof(orig));
    feed(t, d);
    /* RFC 1812 4.3.2.3, as Linux: IP header, ICMP header, then as much of the datagram as
     * fits in 576 bytes. */
    expect_tx(t, want_icmp(.type = ICMP_DEST_UNREACH, .code = ICMP_PORT_UNREACH,
                           .total_len = 576, .data = orig, .len = 576 - 20 - 8));
    expect_no_tx(t);
}

static void test_icmp_unknown_protocol_gets_protocol_unreachable(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    struct st_frame d = ipv4(.proto = 253, .data = "experiment");
    uint8_t orig[64];
    size_t n = st_build_ip(&d, orig, sizeof(orig));
    feed(t, d);
    /* RFC 1122 3.2.2.1. */
    expect_tx(t, want_icmp(.src = ST_ADDR, .dst = ST_PEER, .type = ICMP_DEST_UNREACH,
                           .code = ICMP_PROTO_UNREACH, .data = orig, .len = n));
    expect_no_tx(t);
    assert_int_equal(counter(t, "ipv4.in_unknown_protos"), 1);
}

static void test_icmp_no_error_about_an_icmp_error(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    /* The first fragment of a large "destination unreachable" whose end never comes: its
     * reassembly times out, and the time exceeded it would earn is an error about an error. */
    static uint8_t quote[2000];
    memset(quote, 0, sizeof(quote));
    struct st_frame err = icmp(.type = ICMP_DEST_UNREACH, .code = ICMP_PORT_UNREACH,
                               .data = quote, .len = sizeof(quote), .id = 0x1813);
    st_feed_fragments(t, &err, 1480, NULL, 1);
    advance_ns(t, t->cfg.reasm_timeout_ms * NS_PER_MS + ST_TICK_NS);
    expect_no_tx(t);
    assert_int_equal(counter(t, "ipv4.reasm_timeout"), 1);
    assert_int_equal(counter(t, "icmp.out_suppressed"), 1);
    /* The same for an echo request is answered (the control). */
    struct st_frame echo = icmp(.data = quote, .len = sizeof(quote), .id = 0x1814);
    st_feed_fragments(t, &echo, 1480, NULL, 1);
    advance_ns(t, t->cfg.reasm_timeout_ms * NS_PER_MS + ST_TICK_NS);
    expect_tx(t, want_icmp(.type = ICMP_TIME_EXCEEDED, .code = 1));
}

static void test_icmp_no_error_about_a_broadcast(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    /* RFC 1122 3.2.2: not for a datagram to an IP broadcast address ... */
    feed(t, udp(.eth_dst = st_bcast_mac, .dst = ST_BCAST, .dport = 9, .data = "b1"));
    feed(t, udp(.eth_dst = st_bcast_mac, .dst = 0xffffffffu, .dport = 9, .data = "b2"));
    feed(t, ipv4(.eth_dst = st_bcast_mac, .dst = ST_BCAST, .data = "b3"));
    /* ... nor for one that came as a link-layer broadcast (Linux: pkt_type != PACKET_HOST). */
    feed(t, udp(.eth_dst = st_bcast_mac, .dport = 9, .data = "b4"));
    feed(t, ipv4(.eth_dst = st_bcast_mac, .data = "b5"));
    expect_no_tx(t);
    assert_int_equal(counter(t, "udp.no_ports"), 3);
    assert_int_equal(counter(t, "ipv4.in_unknown_protos"), 2);
    /* The same datagram sent to our MAC is answered (the control). */
    feed(t, udp(.dport = 9, .data = "b4"));
    expect_tx(t, want_icmp(.type = ICMP_DEST_UNREACH, .code = ICMP_PORT_UNREACH));
}

static void test_icmp_no_error_about_a_non_first_fragment(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    static uint8_t data[4000];
    struct st_frame d = udp(.dport = 9, .data = data, .len = sizeof(data), .id = 0x1815);
    st_feed_fragments(t, &d, 1480, (const unsigned[]){ 1, 2 }, 2);
    advance_ns(t, t->cfg.reasm_timeout_ms * NS_PER_MS + ST_TICK_NS);
    expect_no_tx(t);
    /* Whole, the datagram earns its port unreachable, quoting the rebuilt header. */
    st_feed_fragments(t, &d, 1480, (const unsigned[]){ 2, 1, 0 }, 3);
    const struct st_rx *rx = expect_tx(t, want_icmp(.type = ICMP_DEST_UNREACH,
                                                    .code = ICMP_PORT_UNREACH,
                                                    .total_len = 576));
    struct ipv4_repr q;
    assert_int_equal(ipv4_parse_quoted(rx->data, rx->len, &q), 0);
    assert_int_equal(q.frag_off, 0);
    assert_false(q.mf);
    assert_int_equal(q.total_len, 20 + 8 + sizeof(data));
}

static void test_icmp_no_error_about_a_bad_source(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    const uint32_t bad[] = { 0, 0x7f000001u, 0xe0000001u, 0xf0000001u, ST_BCAST };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        feed(t, udp(.src = bad[i], .dport = 9, .data = "who?"));
        feed(t, ipv4(.src = bad[i], .data = "who?"));
    }
    expect_no_tx(t);
}

static void test_icmp_errors_are_rate_limited_burst_then_rate(void **state)
{
    struct st *t = *state;
    st_restart(t, "icmp_burst=3", "icmp_rate=10");   /* one per 100 ms after 3 at once */
    st_resolve_peer(t);
    for (int i = 0; i < 5; i++)
        feed(t, udp(.dport = 9, .data = "x"));
    for (int i = 0; i < 3; i++)
        expect_tx(t, want_icmp(.type = ICMP_DEST_UNREACH));
    expect_no_tx(t);
    assert_int_equal(counter(t, "icmp.out_rate_limited"), 2);

    advance_ns(t, 100 * NS_PER_MS - 1);
    feed(t, udp(.dport = 9, .data = "x"));
    expect_no_tx(t);
    advance_ns(t, 1);
    feed(t, udp(.dport = 9, .data = "x"));
    expect_tx(t, want_icmp(.type = ICMP_DEST_UNREACH));
    feed(t, udp(.dport = 9, .data = "x"));
    expect_no_tx(t);

    /* 250 ms earn two and a half. */
    advance(t, 250);
    for (int i = 0; i < 3; i++)
        feed(t, udp(.dport = 9, .data = "x"));
    expect_tx(t, want_icmp(.type = ICMP_DEST_UNREACH));
    expect_tx(t, want_icmp(.type = ICMP_DEST_UNREACH));
    expect_no_tx(t);

    /* A long quiet spell refills the burst, no more. */
    advance(t, 10000);
    for (int i = 0; i < 5; i++)
        feed(t, udp(.dport = 9, .data = "x"));
    assert_int_equal(st_drain_tx(t), 3);
    assert_int_equal(counter(t, "icmp.out_dest_unreachs"), 3 + 1 + 2 + 3);
    assert_int_equal(counter(t, "icmp.out_rate_limited"), 2 + 1 + 1 + 1 + 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, st_setup, st_teardown)
        T(test_icmp_echo_request_is_answered_with_same_id_seq_and_data),
        T(test_icmp_echo_reply_waits_for_the_peer_address),
        T(test_icmp_echo_with_a_bad_checksum_is_dropped),
        T(test_icmp_broadcast_echo_is_not_answered),
        T(test_icmp_udp_to_a_closed_port_gets_port_unreachable),
        T(test_icmp_error_is_at_most_576_bytes),
        T(test_icmp_unknown_protocol_gets_protocol_unreachable),
        T(test_icmp_no_error_about_an_icmp_error),
        T(test_icmp_no_error_about_a_broadcast),
        T(test_icmp_no_error_about_a_non_first_fragment),
        T(test_icmp_no_error_about_a_bad_source),
        T(test_icmp_errors_are_rate_limited_burst_then_rate),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
