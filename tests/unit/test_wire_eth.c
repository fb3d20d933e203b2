/*
 * Ethernet II framing: untagged, 802.1Q and 802.1ad tagged frames from the samples, truncation at
 * every length, 802.3 length fields, too many tags, emit and round trip; wire_strerror.
 */
#include "testutil.h"

#include <string.h>

#include "test_wire_samples.h"
#include "wire/eth.h"

static const struct eth_addr mac_a = { { 0x52, 0x54, 0x00, 0xab, 0xcd, 0x01 } };
static const struct eth_addr mac_b = { { 0x52, 0x54, 0x00, 0xab, 0xcd, 0x02 } };

static void test_eth_parse_untagged_ipv4_frame(void **state)
{
    (void)state;
    const struct wire_sample *s = &wire_samples[SAMPLE_tcp_syn];
    struct eth_repr r;
    assert_int_equal(eth_parse(s->frame, s->len, &r), WIRE_OK);
    assert_true(eth_addr_equal(&r.dst, &mac_b));
    assert_true(eth_addr_equal(&r.src, &mac_a));
    assert_int_equal(r.ethertype, ETHERTYPE_IPV4);
    assert_int_equal(r.vlan_count, 0);
    assert_int_equal(r.hdr_len, ETH_HDR_LEN);
    assert_ptr_equal(r.payload, s->frame + 14);
    assert_int_equal(r.payload_len, s->len - 14);
}

static void test_eth_parse_arp_frame_keeps_padding_in_payload(void **state)
{
    (void)state;
    const struct wire_sample *s = &wire_samples[SAMPLE_arp_request];
    struct eth_repr r;
    assert_int_equal(eth_parse(s->frame, s->len, &r), WIRE_OK);
    assert_true(eth_addr_is_broadcast(&r.dst));
    assert_true(eth_addr_is_multicast(&r.dst));
    assert_false(eth_addr_is_multicast(&r.src));
    assert_int_equal(r.ethertype, ETHERTYPE_ARP);
    assert_int_equal(r.payload_len, ETH_MIN_FRAME - ETH_HDR_LEN);
}

static void test_eth_parse_skips_one_8021q_tag(void **state)
{
    (void)state;
    const struct wire_sample *s = &wire_samples[SAMPLE_vlan_udp_dns];
    struct eth_repr r;
    assert_int_equal(eth_parse(s->frame, s->len, &r), WIRE_OK);
    assert_int_equal(r.ethertype, ETHERTYPE_IPV4);
    assert_int_equal(r.vlan_count, 1);
    assert_int_equal(r.vlan_tci, 5 << 13 | 100);     /* priority 5, VLAN 100 */
    assert_int_equal(r.hdr_len, 18);
    assert_ptr_equal(r.payload, s->frame + s->l3_off);
    assert_int_equal(r.payload_len, s->len - s->l3_off);
}

static void test_eth_parse_skips_qinq_tags_and_reports_the_outer_one(void **state)
{
    (void)state;
    const struct wire_sample *s = &wire_samples[SAMPLE_qinq_udp_dns];
    struct eth_repr r;
    assert_int_equal(eth_parse(s->frame, s->len, &r), WIRE_OK);
    assert_int_equal(r.ethertype, ETHERTYPE_IPV4);
    assert_int_equal(r.vlan_count, 2);
    assert_int_equal(r.vlan_tci, 200);                /* the 802.1ad service tag */
    assert_int_equal(r.hdr_len, 22);
    assert_ptr_equal(r.payload, s->frame + s->l3_off);
}

static void test_eth_parse_refuses_a_third_vlan_tag(void **state)
{
    (void)state;
    const struct wire_sample *s = &wire_samples[SAMPLE_qinq_udp_dns];
    uint8_t frame[128];
    /* Insert a third 802.1Q tag after the two. */
    memcpy(frame, s->frame, 20);
    frame[20] = 0x81;
    frame[21] = 0x00;
    frame[22] = 0x00;
    frame[23] = 0x07;
    memcpy(frame + 24, s->frame + 20, s->len - 20);
    struct eth_repr r;
    assert_int_equal(eth_parse(frame, s->len + 4, &r), WIRE_EUNSUPP);
}

static void test_eth_parse_truncated_at_every_length(void **state)
{
    (void)state;
    static const enum wire_sample_id ids[] = { SAMPLE_tcp_syn, SAMPLE_vlan_udp_dns,
                                               SAMPLE_qinq_udp_dns };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        const struct wire_sample *s = &wire_samples[ids[i]];
        struct eth_repr r;
        for (size_t len = 0; len < s->l3_off; len++)
            assert_int_equal(eth_parse(s->frame, len, &r), WIRE_ETRUNC);
        assert_int_equal(eth_parse(s->frame, s->l3_off, &r), WIRE_OK);
        assert_int_equal(r.payload_len, 0);
    }
}

static void test_eth_parse_refuses_8023_length_field(void **state)
{
    (void)state;
    uint8_t frame[60] = { 0 };
    memcpy(frame, mac_b.b, 6);
    memcpy(frame + 6, mac_a.b, 6);
    struct eth_repr r;
    frame[12] = 0x05;          /* 0x05dc = 1500: an 802.3 length, LLC follows */
    frame[13] = 0xdc;
    assert_int_equal(eth_parse(frame, sizeof frame, &r), WIRE_EUNSUPP);
    frame[13] = 0xff;          /* 0x05ff: neither a length nor an EtherType */
    assert_int_equal(eth_parse(frame, sizeof frame, &r), WIRE_EUNSUPP);
    frame[12] = 0x06;          /* 0x0600: the first EtherType */
    frame[13] = 0x00;
    assert_int_equal(eth_parse(frame, sizeof frame, &r), WIRE_OK);
    assert_int_equal(r.ethertype, 0x0600);
}

static void test_eth_parse_refuses_8023_length_field_after_a_tag(void **state)
{
    (void)state;
    const struct wire_sample *s = &wire_samples[SAMPLE_vlan_udp_dns];
    uint8_t frame[128];
    memcpy(frame, s->frame, s->len);
    frame[16] = 0x00;          /* the inner type becomes a length */
    frame[17] = 0x40;
    struct eth_repr r;
    assert_int_equal(eth_parse(frame, s->len, &r), WIRE_EUNSUPP);
}

static void test_eth_emit_writes_untagged_header(void **state)
{
    (void)state;
    const struct wire_sample *s = &wire_samples[SAMPLE_vlan_udp_dns];
    struct eth_repr r;
    assert_int_equal(eth_parse(s->frame, s->len, &r), WIRE_OK);
    uint8_t out[ETH_HDR_LEN];
    assert_int_equal(eth_emit(&r, out, sizeof out), ETH_HDR_LEN);
    assert_memory_equal(out, s->frame, 12);          /* addresses */
    assert_int_equal(out[12], 0x08);                 /* the payload's type, no tag */
    assert_int_equal(out[13], 0x00);
}

static void test_eth_emit_then_parse_round_trips(void **state)
{
    (void)state;
    struct eth_repr in = { .dst = mac_a, .src = mac_b, .ethertype = ETHERTYPE_ARP };
    uint8_t frame[ETH_MIN_FRAME] = { 0 };
    assert_int_equal(eth_emit(&in, frame, sizeof frame), ETH_HDR_LEN);
    struct eth_repr out;
    assert_int_equal(eth_parse(frame, sizeof frame, &out), WIRE_OK);
    assert_true(eth_addr_equal(&out.dst, &in.dst));
    assert_true(eth_addr_equal(&out.src, &in.src));
    assert_int_equal(out.ethertype, in.ethertype);
    assert_int_equal(out.vlan_count, 0);
    assert_ptr_equal(out.payload, frame + ETH_HDR_LEN);
}

static void test_eth_emit_refuses_small_buffer(void **state)
{
    (void)state;
    struct eth_repr in = { .dst = mac_a, .src = mac_b, .ethertype = ETHERTYPE_IPV4 };
    uint8_t frame[ETH_HDR_LEN + 1];
    memset(frame, 0xee, sizeof frame);
    for (size_t cap = 0; cap < ETH_HDR_LEN; cap++)
        assert_int_equal(eth_emit(&in, frame, cap), 0);
    assert_int_equal(frame[0], 0xee);
    assert_int_equal(eth_emit(&in, frame, ETH_HDR_LEN), ETH_HDR_LEN);
    assert_int_equal(frame[ETH_HDR_LEN], 0xee);
}

static void test_wire_strerror_names_every_error(void **state)
{
    (void)state;
    static const char *const names[WIRE_NERR] = {
        "ok", "truncated", "bad-version", "bad-header-length",
        "bad-length", "bad-checksum", "bad-option", "unsupported",
    };
    for (int i = 0; i < WIRE_NERR; i++)
        assert_string_equal(wire_strerror(-i), names[i]);
    assert_string_equal(wire_strerror(-WIRE_NERR), "unknown-error");
    assert_string_equal(wire_strerror(1), "unknown-error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eth_parse_untagged_ipv4_frame),
        cmocka_unit_test(test_eth_parse_arp_frame_keeps_padding_in_payload),
        cmocka_unit_test(test_eth_parse_skips_one_8021q_tag),
        cmocka_unit_test(test_eth_parse_skips_qinq_tags_and_reports_the_outer_one),
        cmocka_unit_test(test_eth_parse_refuses_a_third_vlan_tag),
        cmocka_unit_test(test_eth_parse_truncated_at_every_length),
        cmocka_unit_test(test_eth_parse_refuses_8023_length_field),
        cmocka_unit_test(test_eth_parse_refuses_8023_length_field_after_a_tag),
        cmocka_unit_test(test_eth_emit_writes_untagged_header),
        cmocka_unit_test(test_eth_emit_then_parse_round_trips),
        cmocka_unit_test(test_eth_emit_refuses_small_buffer),
        cmocka_unit_test(test_wire_strerror_names_every_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
