/*
 * IPv4 reassembly (RFC 791 3.2, RFC 1122 3.3.2, RFC 815): fragments in and out of order,
 * duplicates, overlaps, the reassembly timer and its ICMP, the memory and count limits, the
 * 65,535-byte ceiling, and the datagram handed to UDP byte for byte.
 */
#include "stacktest.h"

#include <string.h>

#include "ustack/ustack.h"

#define PIECE 1480      /* payload bytes per fragment on a 1500-byte MTU */

static uint8_t payload[65507];

static void fill_payload(size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++)
        payload[i] = (uint8_t)(seed ^ (i * 13) ^ (i >> 9));
}

/* A UDP datagram of `len` payload bytes to port 7 with IP ID `id`. */
static struct st_frame datagram(uint16_t id, size_t len)
{
    fill_payload(len, (uint8_t)id);
    return udp(.id = id, .dport = 7, .data = payload, .len = len);
}

static void expect_received(int fd, size_t len)
{
    static uint8_t buf[65536];
    struct sockaddr_in from;
    assert_int_equal(st_recv(fd, buf, sizeof(buf), &from), (ssize_t)len);
    assert_memory_equal(buf, payload, len);
    assert_int_equal(ntohl(from.sin_addr.s_addr), ST_PEER);
    assert_int_equal(ntohs(from.sin_port), ST_PEER_PORT);
}

static void expect_nothing_received(int fd)
{
    char buf[16];
    expect_errno(st_recv(fd, buf, sizeof(buf), NULL), EAGAIN);
}

static void test_reass_in_order_is_delivered_byte_exact(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    struct st_frame d = datagram(0x1801, 4000);
    st_feed_fragments(t, &d, PIECE, NULL, 2);
    expect_nothing_received(fd);
    st_feed_fragments(t, &d, PIECE, (const unsigned[]){ 2 }, 1);
    expect_received(fd, 4000);
    expect_no_tx(t);
    assert_int_equal(counter(t, "ipv4.reasm_reqds"), 3);
    assert_int_equal(counter(t, "ipv4.reasm_oks"), 1);
    ust_close(fd);
}

static void test_reass_out_of_order_is_delivered_byte_exact(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    struct st_frame d = datagram(0x1802, 4000);
    st_feed_fragments(t, &d, PIECE, (const unsigned[]){ 2, 0, 1 }, 3);
    expect_received(fd, 4000);
    assert_int_equal(counter(t, "ipv4.reasm_oks"), 1);
    ust_close(fd);
}

static void test_reass_duplicate_fragment_is_dropped_alone(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    struct st_frame d = datagram(0x1803, 4000);
    st_feed_fragments(t, &d, PIECE, (const unsigned[]){ 1, 0, 1, 2 }, 4);
    expect_received(fd, 4000);
    assert_int_equal(counter(t, "ipv4.reasm_duplicate"), 1);
    assert_int_equal(counter(t, "ipv4.reasm_fails"), 0);
    ust_close(fd);
}

static void test_reass_overlap_drops_the_whole_datagram(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int fd = st_udp_bound(t, 0, 7);
    struct st_frame d = datagram(0x1804, 4000);
    uint8_t l4[4008];
    st_build_l4(&d, l4, sizeof(l4));
    st_feed_fragments(t, &d, PIECE, NULL, 1);
    /* Starts inside the first one: not a duplicate, an overlap (Linux since 4.19, RFC 5722). */
    feed(t, ipv4(.proto = IPPROTO_UDP, .id = 0x1804, .frag_off = 8, .mf = true,
                 .data = l4 + 8, .len = PIECE));
    assert_int_equal(counter(t, "ipv4.reasm_overlap"), 1);
    assert_int_equal(counter(t, "ipv4.reasm_fails"), 1);
    /* What follows starts afresh and can never complete: the first fragment is gone. */
    st_feed_fragments(t, &d, PIECE, (const unsigned[]){ 1, 2 }, 2);
    expect_nothing_received(fd);
    advance_ns(t, t->cfg.reasm_timeout_ms * NS_PER_MS + ST_TICK_NS);
    expect_nothing_received(fd);
    expect_no_tx(t);   /* no first fragment: no time exceeded */
    assert_int_equal(counter(t, "ipv4.reasm_timeout"), 1);
    ust_close(fd);
}

static void test_reass_timeout_sends_time_exceeded_quoting_the_first_fragment(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int fd = st_udp_bound(t, 0, 7);
    struct st_frame d = datagram(0x1805, 4000);
    uint8_t l4[4008], first_ip[1600];
    st_build_l4(&d, l4, sizeof(l4));
    struct st_frame first = d;
    first.kind = ST_IPV4;
    first.data = l4;
    first.len = PIECE;
    first.mf = true;
    st_build_ip(&first, first_ip, sizeof(first_ip));
    feed(t, first);
    st_feed_fragments(t, &d, PIECE, (const unsigned[]){ 2 }, 1);
    /* RFC 1122 3.3.2: reasm_timeout_ms after the first fragment arrived, "fragment reassembly
     * time exceeded" to the sender, quoting the first fragment (576 bytes in all). */
    expect_tx_after(t, t->cfg.reasm_timeout_ms,
                    want_icmp(.eth_dst = &st_peer_mac, .src = ST_ADDR, .dst = ST_PEER,
                              .type = ICMP_TIME_EXCEEDED, .code = 1, .rest = 0,
                              .total_len = 576, .data = first_ip, .len = 576 - 28));
    expect_no_tx(t);
    expect_nothing_received(fd);
    assert_int_equal(counter(t, "ipv4.reasm_timeout"), 1);
    assert_int_equal(counter(t, "icmp.out_time_excds"), 1);
    ust_close(fd);
}

static void test_reass_timeout_without_the_first_fragment_is_silent(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    struct st_frame d = datagram(0x1806, 4000);
    st_feed_fragments(t, &d, PIECE, (const unsigned[]){ 1 }, 1);
    advance_ns(t, t->cfg.reasm_timeout_ms * NS_PER_MS + ST_TICK_NS);
    /* RFC 1122 3.3.2: the error is sent only if fragment zero has been received. */
    expect_no_tx(t);
    assert_int_equal(counter(t, "ipv4.reasm_timeout"), 1);
    assert_int_equal(counter(t, "ipv4.reasm_fails"), 1);
}

static void test_reass_memory_limit_drops_new_fragments(void **state)
{
    struct st *t = *state;
    st_restart(t, "reasm_mem=65536");
    int fd = st_udp_bound(t, 0, 7);
    /* Each fragment holds one 2048-byte buffer of the peer's: 32 fit in 64 KiB. */
    struct st_frame big = datagram(0x1807, 60000);
    st_feed_fragments(t, &big, PIECE, NULL, 33);
    assert_int_equal(counter(t, "ipv4.reasm_over_mem"), 1);
    st_feed_fragments(t, &big, PIECE, (const unsigned[]){ 40 }, 1);   /* the end: still full */
    assert_int_equal(counter(t, "ipv4.reasm_over_mem"), 2);
    struct st_frame small = datagram(0x1808, 2000);
    st_feed_fragments(t, &small, PIECE, NULL, 2);
    assert_int_equal(counter(t, "ipv4.reasm_over_mem"), 4);
    expect_nothing_received(fd);
    /* The timeout gives the memory back. */
    advance_ns(t, t->cfg.reasm_timeout_ms * NS_PER_MS + ST_TICK_NS);
    st_drain_tx(t);
    small = datagram(0x1809, 2000);
    st_feed_fragments(t, &small, PIECE, NULL, 2);
    expect_received(fd, 2000);
    ust_close(fd);
}

static void test_reass_count_limit_drops_new_datagrams(void **state)
{
    struct st *t = *state;
    st_restart(t, "reasm_max=2");
    int fd = st_udp_bound(t, 0, 7);
    struct st_frame a = datagram(0x180a, 2000);
    st_feed_fragments(t, &a, PIECE, NULL, 1);
    struct st_frame b = datagram(0x180b, 2000);
    st_feed_fragments(t, &b, PIECE, NULL, 1);
    struct st_frame c = datagram(0x180c, 2000);
    st_feed_fragments(t, &c, PIECE, NULL, 1);
    assert_int_equal(counter(t, "ipv4.reasm_over_count"), 1);
    a = datagram(0x180a, 2000);
    st_feed_fragments(t, &a, PIECE, (const unsigned[]){ 1 }, 1);
    expect_received(fd, 2000);
    /* A slot is free again. */
    c = datagram(0x180c, 2000);
    st_feed_fragments(t, &c, PIECE, (const unsigned[]){ 1, 0 }, 2);
    expect_received(fd, 2000);
    assert_int_equal(counter(t, "ipv4.reasm_over_count"), 1);
    ust_close(fd);
}

static void test_reass_ping_of_death_is_refused(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    static uint8_t data[PIECE];
    memset(data, 0x55, sizeof(data));
    feed(t, ipv4(.proto = IPPROTO_ICMP, .id = 0x180d, .mf = true, .data = data, .len = PIECE));
    /* The largest offset (8191 * 8) with more data than 65,535 bytes leave room for. */
    feed(t, ipv4(.proto = IPPROTO_ICMP, .id = 0x180d, .frag_off = 65528, .data = data,
                 .len = 100));
    assert_int_equal(counter(t, "ipv4.reasm_bad_length"), 1);
    assert_int_equal(counter(t, "ipv4.reasm_fails"), 1);
    /* Dropped with everything it came with: nothing left to time out. */
    advance_ns(t, t->cfg.reasm_timeout_ms * NS_PER_MS + ST_TICK_NS);
    expect_no_tx(t);
    assert_int_equal(counter(t, "ipv4.reasm_timeout"), 0);
}

static void test_reass_fragment_that_ends_exactly_at_the_limit_is_kept(void **state)
{
    struct st *t = *state;
    static uint8_t data[PIECE];
    feed(t, ipv4(.proto = IPPROTO_UDP, .id = 0x180e, .frag_off = 65512, .data = data, .len = 3));
    assert_int_equal(counter(t, "ipv4.reasm_bad_length"), 0);
    assert_int_equal(counter(t, "ipv4.reasm_reqds"), 1);
}

static void test_reass_middle_fragment_not_a_multiple_of_8_is_refused(void **state)
{
    struct st *t = *state;
    static uint8_t data[PIECE];
    feed(t, ipv4(.proto = IPPROTO_UDP, .id = 0x180f, .mf = true, .data = data, .len = 1001));
    assert_int_equal(counter(t, "ipv4.reasm_bad_length"), 1);
}

static void test_reass_largest_datagram_is_delivered_byte_exact(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    /* 65,507 bytes of UDP payload: a 65,535-byte datagram, in 45 fragments, last first. */
    struct st_frame d = datagram(0x1810, 65507);
    unsigned order[45];
    for (unsigned i = 0; i < 45; i++)
        order[i] = 44 - i;
    st_feed_fragments(t, &d, PIECE, order, 45);
    expect_received(fd, 65507);
    assert_int_equal(counter(t, "ipv4.reasm_oks"), 1);
    ust_close(fd);
}

static void test_reass_echo_request_is_answered_in_fragments(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    fill_payload(3000, 9);
    struct st_frame ping = icmp(.id = 0x1811, .echo_id = 0x1812, .seq = 3, .data = payload,
                                .len = 3000);
    st_feed_fragments(t, &ping, PIECE, (const unsigned[]){ 1, 2, 0 }, 3);
    /* 3,008 bytes of ICMP: 1480 + 1480 + 48. */
    static uint8_t whole[3008];
    const struct st_rx *rx = expect_tx(t, want_ipv4(.proto = IPPROTO_ICMP, .dst = ST_PEER,
                                                    .frag_off = 0, .mf = true));
    memcpy(whole, rx->data, PIECE);
    int64_t id = rx->ip.id;
    rx = expect_tx(t, want_ipv4(.id = id, .frag_off = PIECE, .mf = true));
    memcpy(whole + PIECE, rx->data, PIECE);
    rx = expect_tx(t, want_ipv4(.id = id, .frag_off = 2 * PIECE, .mf = false, .len = 48));
    memcpy(whole + 2 * PIECE, rx->data, 48);
    expect_no_tx(t);
    struct icmp_repr m;
    assert_int_equal(icmp_parse(whole, sizeof(whole), &m), 0);
    assert_int_equal(m.type, ICMP_ECHO_REPLY);
    assert_int_equal(icmp_echo_id(&m), 0x1812);
    assert_int_equal(icmp_echo_seq(&m), 3);
    assert_memory_equal(m.data, payload, 3000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, st_setup, st_teardown)
        T(test_reass_in_order_is_delivered_byte_exact),
        T(test_reass_out_of_order_is_delivered_byte_exact),
        T(test_reass_duplicate_fragment_is_dropped_alone),
        T(test_reass_overlap_drops_the_whole_datagram),
        T(test_reass_timeout_sends_time_exceeded_quoting_the_first_fragment),
        T(test_reass_timeout_without_the_first_fragment_is_silent),
        T(test_reass_memory_limit_drops_new_fragments),
        T(test_reass_count_limit_drops_new_datagrams),
        T(test_reass_ping_of_death_is_refused),
        T(test_reass_fragment_that_ends_exactly_at_the_limit_is_kept),
        T(test_reass_middle_fragment_not_a_multiple_of_8_is_refused),
        T(test_reass_largest_datagram_is_delivered_byte_exact),
        T(test_reass_echo_request_is_answered_in_fragments),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
