/*
 * ARP for IPv4 over Ethernet: request and reply from the samples, Ethernet padding, truncation
 * at every length, other hardware/protocol types and opcodes, byte-exact emit.
 */
#include "testutil.h"

#include <string.h>

#include "test_wire_samples.h"
#include "wire/arp.h"

#define IP_A 0xc6120001u       /* 198.18.0.1 */
#define IP_B 0xc6120002u       /* 198.18.0.2 */

static const struct eth_addr mac_a = { { 0x52, 0x54, 0x00, 0xab, 0xcd, 0x01 } };
static const struct eth_addr mac_b = { { 0x52, 0x54, 0x00, 0xab, 0xcd, 0x02 } };
static const struct eth_addr mac_zero = { { 0 } };

static const uint8_t *arp_of(enum wire_sample_id id, size_t *len)
{
    const struct wire_sample *s = &wire_samples[id];
    *len = s->len - s->l3_off;
    return s->frame + s->l3_off;
}

static void test_arp_parse_request_ignores_ethernet_padding(void **state)
{
    (void)state;
    size_t len;
    const uint8_t *p = arp_of(SAMPLE_arp_request, &len);
    assert_int_equal(len, 46);                 /* 28 bytes of ARP, 18 of padding */
    struct arp_repr r;
    assert_int_equal(arp_parse(p, len, &r), WIRE_OK);
    assert_int_equal(r.op, ARP_OP_REQUEST);
    assert_true(eth_addr_equal(&r.sha, &mac_a));
    assert_int_equal(r.spa, IP_A);
    assert_true(eth_addr_equal(&r.tha, &mac_zero));
    assert_int_equal(r.tpa, IP_B);
}

static void test_arp_parse_reply(void **state)
{
    (void)state;
    size_t len;
    const uint8_t *p = arp_of(SAMPLE_arp_reply, &len);
    struct arp_repr r;
    assert_int_equal(arp_parse(p, ARP_LEN, &r), WIRE_OK);
    assert_int_equal(r.op, ARP_OP_REPLY);
    assert_true(eth_addr_equal(&r.sha, &mac_b));
    assert_int_equal(r.spa, IP_B);
    assert_true(eth_addr_equal(&r.tha, &mac_a));
    assert_int_equal(r.tpa, IP_A);
}

static void test_arp_parse_truncated_at_every_length(void **state)
{
    (void)state;
    size_t len;
    const uint8_t *p = arp_of(SAMPLE_arp_reply, &len);
    struct arp_repr r;
    for (size_t n = 0; n < ARP_LEN; n++)
        assert_int_equal(arp_parse(p, n, &r), WIRE_ETRUNC);
}

static void test_arp_parse_refuses_other_hardware_protocol_or_opcode(void **state)
{
    (void)state;
    size_t len;
    const uint8_t *p = arp_of(SAMPLE_arp_request, &len);
    static const struct { size_t at; uint8_t value; } edits[] = {
        { 1, 6 },       /* hardware type 6: IEEE 802 networks */
        { 0, 1 },       /* hardware type 0x0101 */
        { 2, 0x86 },    /* protocol 0x8600 */
        { 3, 0xdd },    /* protocol 0x08dd */
        { 4, 8 },       /* 8-byte hardware addresses */
        { 5, 16 },      /* 16-byte protocol addresses (IPv6 has NDP instead) */
        { 7, 3 },       /* RARP request (RFC 903) */
        { 7, 0 },
        { 6, 1 },       /* opcode 0x0101 */
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        uint8_t pkt[ARP_LEN];
        memcpy(pkt, p, sizeof pkt);
        pkt[edits[i].at] = edits[i].value;
        struct arp_repr r;
        assert_int_equal(arp_parse(pkt, sizeof pkt, &r), WIRE_EUNSUPP);
        /* Judged from the fixed part alone: the addresses need not be there. */
        assert_int_equal(arp_parse(pkt, 8, &r), WIRE_EUNSUPP);
    }
}

static void test_arp_emit_reproduces_the_captured_reply(void **state)
{
    (void)state;
    size_t len;
    const uint8_t *p = arp_of(SAMPLE_arp_reply, &len);
    struct arp_repr r = { .op = ARP_OP_REPLY, .sha = mac_b, .spa = IP_B, .tha = mac_a,
                          .tpa = IP_A };
    uint8_t out[ARP_LEN];
    assert_int_equal(arp_emit(&r, out, sizeof out), ARP_LEN);
    assert_memory_equal(out, p, ARP_LEN);
}

static void test_arp_emit_then_parse_round_trips(void **state)
{
    (void)state;
    size_t len;
    const uint8_t *p = arp_of(SAMPLE_arp_request, &len);
    struct arp_repr a, b;
    assert_int_equal(arp_parse(p, len, &a), WIRE_OK);
    uint8_t out[ARP_LEN];
    assert_int_equal(arp_emit(&a, out, sizeof out), ARP_LEN);
    assert_int_equal(arp_parse(out, sizeof out, &b), WIRE_OK);
    assert_int_equal(b.op, a.op);
    assert_true(eth_addr_equal(&b.sha, &a.sha));
    assert_int_equal(b.spa, a.spa);
    assert_true(eth_addr_equal(&b.tha, &a.tha));
    assert_int_equal(b.tpa, a.tpa);
    assert_memory_equal(out, p, ARP_LEN);
}

static void test_arp_emit_refuses_small_buffer(void **state)
{
    (void)state;
    struct arp_repr r = { .op = ARP_OP_REQUEST, .sha = mac_a, .spa = IP_A, .tpa = IP_B };
    uint8_t out[ARP_LEN];
    memset(out, 0xee, sizeof out);
    for (size_t cap = 0; cap < ARP_LEN; cap++)
        assert_int_equal(arp_emit(&r, out, cap), 0);
    assert_int_equal(out[0], 0xee);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arp_parse_request_ignores_ethernet_padding),
        cmocka_unit_test(test_arp_parse_reply),
        cmocka_unit_test(test_arp_parse_truncated_at_every_length),
        cmocka_unit_test(test_arp_parse_refuses_other_hardware_protocol_or_opcode),
        cmocka_unit_test(test_arp_emit_reproduces_the_captured_reply),
        cmocka_unit_test(test_arp_emit_then_parse_round_trips),
        cmocka_unit_test(test_arp_emit_refuses_small_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
