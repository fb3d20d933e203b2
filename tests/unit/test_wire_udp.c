/*
 * UDP: datagrams from the samples (plain, over VLAN tags, a first fragment), the length field
 * against the buffer both ways, truncation at every length, checksums (verified, absent,
 * corrupted, a computed zero sent as all ones), emit and round trips.
 */
#include "testutil.h"

#include <netinet/in.h>
#include <string.h>

#include "test_wire_samples.h"
#include "wire/checksum.h"
#include "wire/udp.h"

#define IP_A 0xc6120001u       /* 198.18.0.1 */
#define IP_B 0xc6120002u       /* 198.18.0.2 */
#define IP_DNS 0xc6120035u     /* 198.18.0.53 */

static size_t udp_copy(enum wire_sample_id id, uint8_t *buf, size_t cap)
{
    const struct wire_sample *s = &wire_samples[id];
    assert_true(s->l4_len <= cap);
    memcpy(buf, s->frame + s->l4_off, s->l4_len);
    return s->l4_len;
}

static void test_udp_parse_plain_datagram(void **state)
{
    (void)state;
    uint8_t d[64];
    size_t len = udp_copy(SAMPLE_udp_plain, d, sizeof d);
    struct udp_repr r;
    assert_int_equal(udp_parse(d, len, &r), WIRE_OK);
    assert_int_equal(r.sport, 53124);
    assert_int_equal(r.dport, 9999);
    assert_int_equal(r.payload_len, 6);
    assert_ptr_equal(r.payload, d + UDP_HDR_LEN);
    assert_memory_equal(r.payload, "hello\n", 6);
    assert_int_not_equal(r.checksum, 0);
    assert_true(udp_checksum_ok(d, len, csum_ipv4_pseudo(IP_A, IP_B, IPPROTO_UDP, (uint16_t)len)));
}

static void test_udp_parse_dns_query_behind_vlan_tags(void **state)
{
    (void)state;
    static const enum wire_sample_id ids[] = { SAMPLE_vlan_udp_dns, SAMPLE_qinq_udp_dns };
    for (size_t i = 0; i < 2; i++) {
        uint8_t d[64];
        size_t len = udp_copy(ids[i], d, sizeof d);
        struct udp_repr r;
        assert_int_equal(udp_parse(d, len, &r), WIRE_OK);
        assert_int_equal(r.sport, 40001 + i);
        assert_int_equal(r.dport, 53);
        assert_int_equal(r.payload_len, 29);
        assert_true(udp_checksum_ok(d, len, csum_ipv4_pseudo(IP_A, IP_DNS, IPPROTO_UDP,
                                                             (uint16_t)len)));
    }
}

static void test_udp_length_longer_than_first_fragment_is_truncated(void **state)
{
    (void)state;
    /* The first fragment holds the header of a 188-byte datagram but only 96 bytes of it:
     * reassembly must come first. */
    uint8_t d[128];
    size_t len = udp_copy(SAMPLE_ipv4_frag_first, d, sizeof d);
    assert_int_equal(len, 96);
    struct udp_repr r;
    assert_int_equal(udp_parse(d, len, &r), WIRE_ETRUNC);
}

static void test_udp_length_shorter_than_buffer_wins(void **state)
{
    (void)state;
    uint8_t d[64];
    size_t len = udp_copy(SAMPLE_udp_plain, d, sizeof d);
    memset(d + len, 0xaa, 10);                       /* bytes the length field leaves out */
    struct udp_repr r;
    assert_int_equal(udp_parse(d, len + 10, &r), WIRE_OK);
    assert_int_equal(r.payload_len, 6);
}

static void test_udp_length_below_header_is_rejected(void **state)
{
    (void)state;
    uint8_t d[64];
    size_t len = udp_copy(SAMPLE_udp_plain, d, sizeof d);
    struct udp_repr r;
    for (uint16_t ulen = 0; ulen < UDP_HDR_LEN; ulen++) {
        wire_put16(d + 4, ulen);
        assert_int_equal(udp_parse(d, len, &r), WIRE_ELEN);
    }
    wire_put16(d + 4, UDP_HDR_LEN);                  /* an empty datagram is fine */
    assert_int_equal(udp_parse(d, len, &r), WIRE_OK);
    assert_int_equal(r.payload_len, 0);
}

static void test_udp_truncated_at_every_length(void **state)
{
    (void)state;
    uint8_t d[64];
    size_t len = udp_copy(SAMPLE_udp_plain, d, sizeof d);
    struct udp_repr r;
    for (size_t n = 0; n < len; n++)
        assert_int_equal(udp_parse(d, n, &r), WIRE_ETRUNC);
    assert_int_equal(udp_parse(d, len, &r), WIRE_OK);
}

static void test_udp_checksum_detects_corruption(void **state)
{
    (void)state;
    uint8_t d[64];
    size_t len = udp_copy(SAMPLE_udp_plain, d, sizeof d);
    uint32_t pseudo = csum_ipv4_pseudo(IP_A, IP_B, IPPROTO_UDP, (uint16_t)len);
    d[UDP_HDR_LEN] ^= 0x20;                          /* "Hello" */
    assert_false(udp_checksum_ok(d, len, pseudo));
    d[UDP_HDR_LEN] ^= 0x20;
    /* The pseudo-header counts: the same bytes to another address do not verify. */
    assert_false(udp_checksum_ok(d, len, csum_ipv4_pseudo(IP_A, IP_DNS, IPPROTO_UDP,
                                                          (uint16_t)len)));
    assert_false(udp_checksum_ok(d, 7, pseudo));
}

static void test_udp_zero_checksum_means_none(void **state)
{
    (void)state;
    uint8_t d[64];
    size_t len = udp_copy(SAMPLE_udp_plain, d, sizeof d);
    d[6] = d[7] = 0;                                 /* RFC 768: the sender computed none */
    d[UDP_HDR_LEN] ^= 0x20;
    struct udp_repr r;
    assert_int_equal(udp_parse(d, len, &r), WIRE_OK);
    assert_int_equal(r.checksum, 0);
    assert_true(udp_checksum_ok(d, len, csum_ipv4_pseudo(IP_A, IP_B, IPPROTO_UDP,
                                                         (uint16_t)len)));
}

static void test_udp_set_checksum_reproduces_the_captured_one(void **state)
{
    (void)state;
    uint8_t d[64];
    size_t len = udp_copy(SAMPLE_udp_plain, d, sizeof d);
    uint8_t want[2] = { d[6], d[7] };
    d[6] = 0x12;
    d[7] = 0x34;
    udp_set_checksum(d, len, csum_ipv4_pseudo(IP_A, IP_B, IPPROTO_UDP, (uint16_t)len));
    assert_memory_equal(d + 6, want, 2);
}

static void test_udp_computed_zero_checksum_is_sent_as_all_ones(void **state)
{
    (void)state;
    /* Choose the last two payload bytes so that everything sums to 0xffff: the complement, the
     * checksum, is then 0, which RFC 768 says to send as 0xffff. */
    uint8_t d[UDP_HDR_LEN + 4] = { 0x30, 0x39, 0x00, 0x35, 0x00, 0x0c, 0, 0, 'h', 'i', 0, 0 };
    uint32_t pseudo = csum_ipv4_pseudo(IP_A, IP_B, IPPROTO_UDP, sizeof d);
    uint16_t need = csum_fold(csum_partial(d, sizeof d, pseudo));   /* ~sum completes it */
    memcpy(d + 10, &need, sizeof need);
    udp_set_checksum(d, sizeof d, pseudo);
    assert_int_equal(d[6], 0xff);
    assert_int_equal(d[7], 0xff);
    assert_true(udp_checksum_ok(d, sizeof d, pseudo));
}

static void test_udp_emit_then_parse_round_trips(void **state)
{
    (void)state;
    uint8_t d[UDP_HDR_LEN + 100];
    for (size_t i = 0; i < 100; i++)
        d[UDP_HDR_LEN + i] = (uint8_t)i;
    struct udp_repr in = { .sport = 5353, .dport = 65535, .payload_len = 100 };
    assert_int_equal(udp_emit(&in, d, sizeof d), UDP_HDR_LEN);
    assert_int_equal(d[6] | d[7], 0);                /* emit leaves the checksum to the caller */
    uint32_t pseudo = csum_ipv4_pseudo(IP_B, IP_A, IPPROTO_UDP, sizeof d);
    udp_set_checksum(d, sizeof d, pseudo);
    struct udp_repr out;
    assert_int_equal(udp_parse(d, sizeof d, &out), WIRE_OK);
    assert_int_equal(out.sport, in.sport);
    assert_int_equal(out.dport, in.dport);
    assert_int_equal(out.payload_len, in.payload_len);
    assert_true(udp_checksum_ok(d, sizeof d, pseudo));
}

static void test_udp_emit_refuses_small_buffer_and_oversized_payload(void **state)
{
    (void)state;
    struct udp_repr r = { .sport = 1, .dport = 2 };
    uint8_t d[UDP_HDR_LEN];
    for (size_t cap = 0; cap < UDP_HDR_LEN; cap++)
        assert_int_equal(udp_emit(&r, d, cap), 0);
    r.payload_len = 65535 - UDP_HDR_LEN;
    assert_int_equal(udp_emit(&r, d, sizeof d), UDP_HDR_LEN);
    assert_int_equal(wire_get16(d + 4), 65535);
    r.payload_len++;
    assert_int_equal(udp_emit(&r, d, sizeof d), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_udp_parse_plain_datagram),
        cmocka_unit_test(test_udp_parse_dns_query_behind_vlan_tags),
        cmocka_unit_test(test_udp_length_longer_than_first_fragment_is_truncated),
        cmocka_unit_test(test_udp_length_shorter_than_buffer_wins),
        cmocka_unit_test(test_udp_length_below_header_is_rejected),
        cmocka_unit_test(test_udp_truncated_at_every_length),
        cmocka_unit_test(test_udp_checksum_detects_corruption),
        cmocka_unit_test(test_udp_zero_checksum_means_none),
        cmocka_unit_test(test_udp_set_checksum_reproduces_the_captured_one),
        cmocka_unit_test(test_udp_computed_zero_checksum_is_sent_as_all_ones),
        cmocka_unit_test(test_udp_emit_then_parse_round_trips),
        cmocka_unit_test(test_udp_emit_refuses_small_buffer_and_oversized_payload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
