/*
 * IPv4 input and output (RFC 791, RFC 1122 3.2.1): every malformed or misaddressed datagram is
 * dropped and counted under its own counter, link padding is trimmed, and datagrams larger than
 * the MTU leave as fragments while those that fit leave with DF set.
 */
#include "stacktest.h"

#include <string.h>

#include "ustack/ustack.h"
#include "wire/checksum.h"

/* A socket on port 7 that must not have received anything. */
static void expect_nothing_delivered(int fd)
{
    char buf[64];
    expect_errno(st_recv(fd, buf, sizeof(buf), NULL), EAGAIN);
}

static void test_ipv4_wrong_version_is_a_header_error(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    feed(t, udp(.version = 6, .data = "v6?"));
    expect_nothing_delivered(fd);
    expect_no_tx(t);
    assert_int_equal(counter(t, "ipv4.in_hdr_errors"), 1);
    assert_int_equal(counter(t, "udp.in_datagrams"), 0);
    ust_close(fd);
}

static void test_ipv4_header_length_below_five_words_is_a_header_error(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    feed(t, udp(.ihl = 4, .data = "short"));
    expect_nothing_delivered(fd);
    expect_no_tx(t);
    assert_int_equal(counter(t, "ipv4.in_hdr_errors"), 1);
    ust_close(fd);
}

static void test_ipv4_total_length_beyond_the_frame_is_truncated(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    feed(t, udp(.data = "cut", .total_len = 20 + 8 + 3 + 1));
    expect_nothing_delivered(fd);
    expect_no_tx(t);
    assert_int_equal(counter(t, "ipv4.in_truncated"), 1);
    assert_int_equal(counter(t, "ipv4.in_hdr_errors"), 0);
    ust_close(fd);
}

static void test_ipv4_total_length_below_the_header_is_a_header_error(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    feed(t, udp(.data = "x", .total_len = 19));
    expect_nothing_delivered(fd);
    assert_int_equal(counter(t, "ipv4.in_hdr_errors"), 1);
    ust_close(fd);
}

static void test_ipv4_bad_header_checksum_is_a_header_error(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    feed(t, udp(.data = "sum", .bad_ip_csum = true));
    expect_nothing_delivered(fd);
    expect_no_tx(t);
    assert_int_equal(counter(t, "ipv4.in_hdr_errors"), 1);
    ust_close(fd);
}

static void test_ipv4_datagram_for_another_host_is_an_address_error(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    /* RFC 1122 3.3.1.1: a host does not forward; the frame was sent to our MAC anyway. */
    feed(t, udp(.dst = ST_OTHER, .data = "not yours"));
    expect_nothing_delivered(fd);
    expect_no_tx(t);
    assert_int_equal(counter(t, "ipv4.in_addr_errors"), 1);
    ust_close(fd);
}

static void test_ipv4_martian_sources_are_dropped(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int fd = st_udp_bound(t, 0, 7);
    /* RFC 1122 3.2.1.3: a source must name one host: not 0, not loopback (g: 127/8 never
     * appears outside a host), not multicast or reserved, not a broadcast. Linux drops all. */
    const uint32_t martians[] = { 0, 0x7f000001u, 0x7f123456u, 0xe0000001u, 0xf0000001u,
                                  0xffffffffu, ST_BCAST };
    for (unsigned i = 0; i < sizeof(martians) / sizeof(martians[0]); i++)
        feed(t, udp(.src = martians[i], .data = "martian"));
    expect_nothing_delivered(fd);
    expect_no_tx(t);
    assert_int_equal(counter(t, "ipv4.in_martian_source"), 7);
    assert_int_equal(counter(t, "ipv4.in_delivers"), 0);
    ust_close(fd);
}

static void test_ipv4_our_own_address_as_source_from_the_link_is_martian(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    feed(t, udp(.src = ST_ADDR, .data = "spoofed"));
    feed(t, udp(.src = ST_ADDR, .dport = 9, .data = "spoofed"));   /* closed: no ICMP to us */
    expect_nothing_delivered(fd);
    expect_no_tx(t);
    assert_int_equal(counter(t, "ipv4.in_martian_source"), 2);
    /* What the stack sends itself is delivered. */
    int tx = st_udp_bound(t, 0, 5000);
    assert_int_equal(st_sendto(tx, "self", 4, ST_ADDR, 7), 4);
    char buf[8];
    struct sockaddr_in from;
    assert_int_equal(st_recv(fd, buf, sizeof(buf), &from), 4);
    assert_int_equal(ntohl(from.sin_addr.s_addr), ST_ADDR);
    assert_int_equal(ntohs(from.sin_port), 5000);
    expect_no_tx(t);
    ust_close(fd);
    ust_close(tx);
}

static void test_ipv4_ethernet_padding_is_trimmed(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int fd = st_udp_bound(t, 0, 7);
    /* 14 + 20 + 8 + 2 = 44 bytes, padded to the 60-byte minimum with 0xee. */
    feed(t, udp(.data = "hi", .pad = 16));
    char buf[64];
    assert_int_equal(st_recv(fd, buf, sizeof(buf), NULL), 2);
    assert_memory_equal(buf, "hi", 2);
    /* An echo request's checksum covers everything up to the total length: padding included,
     * it would not verify. The reply carries the data only. */
    feed(t, icmp(.data = "ping", .pad = 12));
    expect_tx(t, want_icmp(.type = ICMP_ECHO_REPLY, .data = "ping", .total_len = 20 + 8 + 4));
    expect_no_tx(t);
    assert_int_equal(counter(t, "icmp.in_errors"), 0);
    ust_close(fd);
}

static void test_ipv4_options_are_accepted(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    feed(t, udp(.ihl = 8, .data = "options"));   /* 12 bytes of NOPs */
    char buf[64];
    assert_int_equal(st_recv(fd, buf, sizeof(buf), NULL), 7);
    assert_memory_equal(buf, "options", 7);
    ust_close(fd);
}

static void test_ipv4_frames_for_other_macs_are_ignored(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    feed(t, udp(.eth_dst = st_other_mac, .data = "x"));
    expect_nothing_delivered(fd);
    assert_int_equal(counter(t, "stack.eth_drop_not_for_us"), 1);
    assert_int_equal(counter(t, "ipv4.in_receives"), 0);
    ust_close(fd);
}

/* ---- Output ---- */

static void fill_pattern(uint8_t *buf, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(seed + i * 7 + (i >> 8));
}

static void test_ipv4_udp_that_fits_leaves_whole_with_df(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int fd = st_udp_bound(t, 0, 5000);
    static uint8_t data[1472];
    fill_pattern(data, sizeof(data), 3);
    assert_int_equal(st_sendto(fd, data, sizeof(data), ST_PEER, 9), (ssize_t)sizeof(data));
    /* Linux's IP_PMTUDISC_WANT default: DF on everything that fits. */
    expect_tx(t, want_udp(.eth_dst = &st_peer_mac, .eth_src = &st_mac, .src = ST_ADDR,
                          .dst = ST_PEER, .ttl = 64, .tos = 0, .df = true, .mf = false,
                          .frag_off = 0, .total_len = 1500, .sport = 5000, .dport = 9,
                          .data = data, .len = sizeof(data)));
    expect_no_tx(t);
    ust_close(fd);
}

static void test_ipv4_udp_larger_than_the_mtu_leaves_as_fragments(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int fd = st_udp_bound(t, 0, 5000);
    static uint8_t data[4000];
    fill_pattern(data, sizeof(data), 11);
    assert_int_equal(st_sendto(fd, data, sizeof(data), ST_PEER, 9), 4000);
    /* RFC 791: 4008 bytes of UDP in pieces of (1500 - 20) & ~7 = 1480, DF clear, one ID. */
    static uint8_t whole[4008];
    const struct st_rx *rx = expect_tx(t, want_ipv4(.proto = IPPROTO_UDP, .src = ST_ADDR,
                                                    .dst = ST_PEER, .df = false, .mf = true,
                                                    .frag_off = 0, .total_len = 1500));
    int64_t id = rx->ip.id;
    memcpy(whole, rx->data, 1480);
    rx = expect_tx(t, want_ipv4(.id = id, .df = false, .mf = true, .frag_off = 1480,
                                .total_len = 1500));
    memcpy(whole + 1480, rx->data, 1480);
    rx = expect_tx(t, want_ipv4(.id = id, .df = false, .mf = false, .frag_off = 2960,
                                .total_len = 20 + 4008 - 2960));
    memcpy(whole + 2960, rx->data, 4008 - 2960);
    expect_no_tx(t);
    /* Put back together, it is the datagram sent, with a correct checksum. */
    struct udp_repr u;
    assert_int_equal(udp_parse(whole, sizeof(whole), &u), 0);
    assert_int_equal(u.sport, 5000);
    assert_int_equal(u.dport, 9);
    assert_int_equal(u.payload_len, 4000);
    assert_memory_equal(u.payload, data, 4000);
    assert_true(udp_checksum_ok(whole, sizeof(whole),
                                csum_ipv4_pseudo(ST_ADDR, ST_PEER, IPPROTO_UDP, 4008)));
    assert_int_equal(counter(t, "ipv4.frag_creates"), 3);
    assert_int_equal(counter(t, "ipv4.frag_oks"), 1);
    ust_close(fd);
}

static void test_ipv4_largest_udp_datagram_leaves_as_45_fragments(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int fd = st_udp_bound(t, 0, 5000);
    static uint8_t data[65507];
    fill_pattern(data, sizeof(data), 5);
    /* 65,507 bytes is UDP's limit over IPv4: 65,535 - 20 - 8. */
    assert_int_equal(st_sendto(fd, data, sizeof(data), ST_PEER, 9), 65507);
    static uint8_t whole[65515];
    int64_t id = ST_ANY;
    for (unsigned i = 0; i < 45; i++) {
        uint32_t off = i * 1480, len = i < 44 ? 1480 : 65515 - 44 * 1480;
        const struct st_rx *rx = expect_tx(t, want_ipv4(.id = id, .frag_off = off,
                                                        .mf = i < 44, .df = false,
                                                        .total_len = 20 + len));
        id = rx->ip.id;
        memcpy(whole + off, rx->data, len);
    }
    expect_no_tx(t);
    assert_true(udp_checksum_ok(whole, sizeof(whole),
                                csum_ipv4_pseudo(ST_ADDR, ST_PEER, IPPROTO_UDP, 65515)));
    assert_memory_equal(whole + 8, data, sizeof(data));
    ust_close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, st_setup, st_teardown)
        T(test_ipv4_wrong_version_is_a_header_error),
        T(test_ipv4_header_length_below_five_words_is_a_header_error),
        T(test_ipv4_total_length_beyond_the_frame_is_truncated),
        T(test_ipv4_total_length_below_the_header_is_a_header_error),
        T(test_ipv4_bad_header_checksum_is_a_header_error),
        T(test_ipv4_datagram_for_another_host_is_an_address_error),
        T(test_ipv4_martian_sources_are_dropped),
        T(test_ipv4_our_own_address_as_source_from_the_link_is_martian),
        T(test_ipv4_ethernet_padding_is_trimmed),
        T(test_ipv4_options_are_accepted),
        T(test_ipv4_frames_for_other_macs_are_ignored),
        T(test_ipv4_udp_that_fits_leaves_whole_with_df),
        T(test_ipv4_udp_larger_than_the_mtu_leaves_as_fragments),
        T(test_ipv4_largest_udp_datagram_leaves_as_45_fragments),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
