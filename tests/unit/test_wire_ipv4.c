/*
 * IPv4 headers: real datagrams from the samples (TCP, fragments, the Router Alert option, ICMP
 * quotes), truncation at every length, total length against the buffer both ways, IHL below 5
 * and past the end, version, checksum (every single-bit error), option lists well and badly
 * formed, the quoted-header parser, emit and round trips.
 */
#include "testutil.h"

#include <string.h>

#include "test_wire_samples.h"
#include "wire/checksum.h"
#include "wire/ipv4.h"

#define IP_A 0xc6120001u       /* 198.18.0.1 */
#define IP_B 0xc6120002u       /* 198.18.0.2 */

/* Copies a sample's Ethernet payload (padding included) into buf; returns its length. */
static size_t ip_copy(enum wire_sample_id id, uint8_t *buf, size_t cap)
{
    const struct wire_sample *s = &wire_samples[id];
    size_t len = s->len - s->l3_off;
    assert_true(len <= cap);
    memcpy(buf, s->frame + s->l3_off, len);
    return len;
}

/* Recomputes the header checksum after a test edits the header. */
static void fix_checksum(uint8_t *ip)
{
    size_t hdr_len = (size_t)(ip[0] & 0x0f) * 4;
    if (hdr_len < IPV4_HDR_LEN)
        hdr_len = IPV4_HDR_LEN;
    ip[10] = ip[11] = 0;
    uint16_t check = csum_fold(csum_partial(ip, hdr_len, 0));
    memcpy(ip + 10, &check, sizeof check);
}

/* Rebuilds the tcp_syn datagram with `opts` (a multiple of 4 bytes) after the fixed header. */
static size_t syn_with_options(const uint8_t *opts, size_t n, uint8_t *out)
{
    uint8_t ip[128];
    size_t len = ip_copy(SAMPLE_tcp_syn, ip, sizeof ip);
    assert_int_equal(n % 4, 0);
    memcpy(out, ip, IPV4_HDR_LEN);
    memcpy(out + IPV4_HDR_LEN, opts, n);
    memcpy(out + IPV4_HDR_LEN + n, ip + IPV4_HDR_LEN, len - IPV4_HDR_LEN);
    out[0] = (uint8_t)(0x40 | (IPV4_HDR_LEN + n) / 4);
    wire_put16(out + 2, (uint16_t)(len + n));
    fix_checksum(out);
    return len + n;
}

static void test_ipv4_parse_tcp_syn_datagram(void **state)
{
    (void)state;
    uint8_t ip[128];
    size_t len = ip_copy(SAMPLE_tcp_syn, ip, sizeof ip);
    struct ipv4_repr r;
    assert_int_equal(ipv4_parse(ip, len, &r), WIRE_OK);
    assert_int_equal(r.src, IP_A);
    assert_int_equal(r.dst, IP_B);
    assert_int_equal(r.protocol, IPPROTO_TCP);
    assert_int_equal(r.ttl, 64);
    assert_int_equal(r.tos, 0);
    assert_true(r.df);
    assert_false(r.mf);
    assert_int_equal(r.id, 0x6b1c);
    assert_int_equal(r.frag_off, 0);
    assert_false(ipv4_is_fragment(&r));
    assert_int_equal(r.hdr_len, 20);
    assert_int_equal(r.total_len, 60);
    assert_null(r.options);
    assert_int_equal(r.options_len, 0);
    assert_ptr_equal(r.payload, ip + 20);
    assert_int_equal(r.payload_len, 40);
}

static void test_ipv4_ethernet_padding_after_total_length_is_not_payload(void **state)
{
    (void)state;
    uint8_t ip[128];
    size_t len = ip_copy(SAMPLE_tcp_rst, ip, sizeof ip);
    assert_int_equal(len, 46);                      /* 40 bytes of datagram, 6 of padding */
    struct ipv4_repr r;
    assert_int_equal(ipv4_parse(ip, len, &r), WIRE_OK);
    assert_int_equal(r.total_len, 40);
    assert_int_equal(r.payload_len, 20);
}

static void test_ipv4_truncated_header_at_every_length(void **state)
{
    (void)state;
    uint8_t ip[128];
    ip_copy(SAMPLE_tcp_syn, ip, sizeof ip);
    struct ipv4_repr r;
    for (size_t len = 0; len < IPV4_HDR_LEN; len++) {
        assert_int_equal(ipv4_parse(ip, len, &r), WIRE_ETRUNC);
        assert_int_equal(ipv4_parse_quoted(ip, len, &r), WIRE_ETRUNC);
    }
}

static void test_ipv4_total_length_longer_than_buffer_is_truncated(void **state)
{
    (void)state;
    uint8_t ip[128];
    ip_copy(SAMPLE_tcp_syn, ip, sizeof ip);
    struct ipv4_repr r;
    for (size_t len = IPV4_HDR_LEN; len < 60; len++)
        assert_int_equal(ipv4_parse(ip, len, &r), WIRE_ETRUNC);
    assert_int_equal(ipv4_parse(ip, 60, &r), WIRE_OK);
}

static void test_ipv4_total_length_shorter_than_header_is_rejected(void **state)
{
    (void)state;
    uint8_t ip[128];
    size_t len = ip_copy(SAMPLE_tcp_syn, ip, sizeof ip);
    struct ipv4_repr r;
    for (uint16_t total = 0; total < IPV4_HDR_LEN; total++) {
        wire_put16(ip + 2, total);
        fix_checksum(ip);
        assert_int_equal(ipv4_parse(ip, len, &r), WIRE_ELEN);
        assert_int_equal(ipv4_parse_quoted(ip, len, &r), WIRE_ELEN);
    }
    /* With options, the header is 24 bytes: a total of 20..23 still cuts into it. */
    len = ip_copy(SAMPLE_ipv4_router_alert_igmp, ip, sizeof ip);
    for (uint16_t total = 20; total < 24; total++) {
        wire_put16(ip + 2, total);
        fix_checksum(ip);
        assert_int_equal(ipv4_parse(ip, len, &r), WIRE_ELEN);
    }
}

static void test_ipv4_ihl_below_five_is_rejected(void **state)
{
    (void)state;
    uint8_t ip[128];
    size_t len = ip_copy(SAMPLE_tcp_syn, ip, sizeof ip);
    struct ipv4_repr r;
    for (uint8_t ihl = 0; ihl < 5; ihl++) {
        ip[0] = (uint8_t)(0x40 | ihl);
        fix_checksum(ip);
        assert_int_equal(ipv4_parse(ip, len, &r), WIRE_EHDRLEN);
        assert_int_equal(ipv4_parse_quoted(ip, len, &r), WIRE_EHDRLEN);
    }
}

static void test_ipv4_ihl_past_the_buffer_is_truncated(void **state)
{
    (void)state;
    uint8_t ip[128];
    ip_copy(SAMPLE_tcp_syn, ip, sizeof ip);
    ip[0] = 0x4f;                                   /* a 60-byte header */
    struct ipv4_repr r;
    for (size_t len = IPV4_HDR_LEN; len < 60; len++) {
        assert_int_equal(ipv4_parse(ip, len, &r), WIRE_ETRUNC);
        assert_int_equal(ipv4_parse_quoted(ip, len, &r), WIRE_ETRUNC);
    }
}

static void test_ipv4_version_other_than_4_is_rejected(void **state)
{
    (void)state;
    uint8_t ip[128];
    size_t len = ip_copy(SAMPLE_tcp_syn, ip, sizeof ip);
    static const uint8_t versions[] = { 0, 5, 6, 15 };
    struct ipv4_repr r;
    for (size_t i = 0; i < sizeof versions; i++) {
        ip[0] = (uint8_t)(versions[i] << 4 | 5);
        fix_checksum(ip);
        assert_int_equal(ipv4_parse(ip, len, &r), WIRE_EVERSION);
        assert_int_equal(ipv4_parse_quoted(ip, len, &r), WIRE_EVERSION);
    }
}

static void test_ipv4_bad_header_checksum_is_rejected(void **state)
{
    (void)state;
    uint8_t ip[128];
    size_t len = ip_copy(SAMPLE_tcp_syn, ip, sizeof ip);
    ip[8]--;                                        /* TTL changed without the checksum */
    struct ipv4_repr r;
    assert_int_equal(ipv4_parse(ip, len, &r), WIRE_ECSUM);
}

static void test_ipv4_every_single_bit_error_in_header_is_caught(void **state)
{
    (void)state;
    uint8_t ip[128];
    size_t len = ip_copy(SAMPLE_tcp_syn, ip, sizeof ip);
    struct ipv4_repr r;
    for (size_t bit = 0; bit < IPV4_HDR_LEN * 8; bit++) {
        ip[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        int err = ipv4_parse(ip, len, &r);
        if (err == WIRE_OK)
            fail_msg("flipping bit %zu went unnoticed", bit);
        ip[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    assert_int_equal(ipv4_parse(ip, len, &r), WIRE_OK);
}

static void test_ipv4_router_alert_option_is_walked_and_skipped(void **state)
{
    (void)state;
    uint8_t ip[128];
    size_t len = ip_copy(SAMPLE_ipv4_router_alert_igmp, ip, sizeof ip);
    struct ipv4_repr r;
    assert_int_equal(ipv4_parse(ip, len, &r), WIRE_OK);
    assert_int_equal(r.hdr_len, 24);
    assert_int_equal(r.options_len, 4);
    assert_ptr_equal(r.options, ip + 20);
    static const uint8_t router_alert[] = { 0x94, 0x04, 0x00, 0x00 };   /* RFC 2113 */
    assert_memory_equal(r.options, router_alert, 4);
    assert_int_equal(r.protocol, 2);                /* IGMP */
    assert_int_equal(r.ttl, 1);
    assert_int_equal(r.tos, 0xc0);
    assert_int_equal(r.dst, 0xe00000fbu);           /* 224.0.0.251 */
    assert_ptr_equal(r.payload, ip + 24);
    assert_int_equal(r.payload_len, 8);
}

struct option_case {
    const char *what;
    uint8_t len;
    uint8_t bytes[40];
    int want;
};

static const struct option_case option_cases[] = {
    { "four NOPs", 4, { 1, 1, 1, 1 }, WIRE_OK },
    { "EOL then garbage", 4, { 0, 0xff, 0xff, 0xff }, WIRE_OK },
    { "NOP, Router Alert, EOL padding", 8, { 1, 0x94, 4, 0, 0, 0, 0, 0 }, WIRE_OK },
    { "loose source route, EOL", 8, { 0x83, 7, 4, 198, 18, 0, 9, 0 }, WIRE_OK },
    { "timestamp option", 12, { 0x44, 12, 5, 0, 1, 2, 3, 4, 5, 6, 7, 8 }, WIRE_OK },
    { "record route filling 40 bytes", 40, { 7, 39, 4 }, WIRE_OK },
    { "length 0", 4, { 7, 0, 0, 0 }, WIRE_EOPT },
    { "length 1", 4, { 7, 1, 0, 0 }, WIRE_EOPT },
    { "length running past the header", 4, { 0x94, 5, 0, 0 }, WIRE_EOPT },
    { "record route one byte too long", 40, { 7, 41, 4 }, WIRE_EOPT },
    { "kind in the last byte, no length", 4, { 1, 1, 1, 0x94 }, WIRE_EOPT },
    { "good option then length 0", 8, { 0x94, 4, 0, 0, 0x88, 0, 0, 0 }, WIRE_EOPT },
};

static void test_ipv4_option_lists_are_walked_and_malformed_ones_rejected(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof option_cases / sizeof option_cases[0]; i++) {
        const struct option_case *c = &option_cases[i];
        uint8_t ip[128];
        size_t len = syn_with_options(c->bytes, c->len, ip);
        struct ipv4_repr r;
        int got = ipv4_parse(ip, len, &r);
        if (got != c->want)
            fail_msg("%s: ipv4_parse gave %s", c->what, wire_strerror(got));
        assert_int_equal(ipv4_parse_quoted(ip, len, &r), c->want);
        if (got == WIRE_OK) {
            assert_int_equal(r.hdr_len, IPV4_HDR_LEN + c->len);
            assert_int_equal(r.options_len, c->len);
            assert_int_equal(r.payload_len, 40);
        }
    }
}

static void test_ipv4_fragments_are_recognised(void **state)
{
    (void)state;
    uint8_t ip[256];
    struct ipv4_repr r;
    size_t len = ip_copy(SAMPLE_ipv4_frag_first, ip, sizeof ip);
    assert_int_equal(ipv4_parse(ip, len, &r), WIRE_OK);
    assert_true(r.mf);
    assert_false(r.df);
    assert_int_equal(r.frag_off, 0);
    assert_int_equal(r.id, 0x5150);
    assert_int_equal(r.payload_len, 96);
    assert_true(ipv4_is_fragment(&r));

    len = ip_copy(SAMPLE_ipv4_frag_last, ip, sizeof ip);
    assert_int_equal(ipv4_parse(ip, len, &r), WIRE_OK);
    assert_false(r.mf);
    assert_int_equal(r.frag_off, 96);
    assert_int_equal(r.id, 0x5150);
    assert_int_equal(r.payload_len, 92);
    assert_true(ipv4_is_fragment(&r));
}

/* The datagram quoted by the "fragmentation needed" sample: its header and 8 bytes of a TCP
 * segment whose datagram was 1500 bytes. */
static const uint8_t *frag_needed_quote(size_t *len)
{
    const struct wire_sample *s = &wire_samples[SAMPLE_icmp_frag_needed];
    *len = s->l4_len - 8;                            /* after the 8-byte ICMP header */
    return s->frame + s->l4_off + 8;
}

static void test_ipv4_parse_quoted_accepts_a_cut_short_datagram(void **state)
{
    (void)state;
    size_t len;
    const uint8_t *q = frag_needed_quote(&len);
    assert_int_equal(len, 28);
    struct ipv4_repr r;
    assert_int_equal(ipv4_parse_quoted(q, len, &r), WIRE_OK);
    assert_int_equal(r.total_len, 1500);
    assert_int_equal(r.protocol, IPPROTO_TCP);
    assert_int_equal(r.src, IP_A);
    assert_int_equal(r.dst, IP_B);
    assert_ptr_equal(r.payload, q + 20);
    assert_int_equal(r.payload_len, 8);
    /* The ordinary parser calls the same bytes truncated. */
    assert_int_equal(ipv4_parse(q, len, &r), WIRE_ETRUNC);
}

static void test_ipv4_parse_quoted_whole_datagram_drops_nothing(void **state)
{
    (void)state;
    const struct wire_sample *s = &wire_samples[SAMPLE_icmp_port_unreach];
    const uint8_t *q = s->frame + s->l4_off + 8;
    size_t len = s->l4_len - 8;
    struct ipv4_repr r;
    assert_int_equal(ipv4_parse_quoted(q, len, &r), WIRE_OK);
    assert_int_equal(r.total_len, len);
    assert_int_equal(r.payload_len, len - 20);
    assert_int_equal(r.protocol, IPPROTO_UDP);
}

static void test_ipv4_parse_quoted_ignores_the_checksum(void **state)
{
    (void)state;
    size_t len;
    const uint8_t *q = frag_needed_quote(&len);
    uint8_t copy[64];
    memcpy(copy, q, len);
    copy[8] = 1;                                     /* TTL as the router saw it */
    struct ipv4_repr r;
    assert_int_equal(ipv4_parse_quoted(copy, len, &r), WIRE_OK);
    assert_int_equal(r.ttl, 1);
}

static void test_ipv4_emit_reproduces_the_captured_header(void **state)
{
    (void)state;
    uint8_t ip[128];
    size_t len = ip_copy(SAMPLE_tcp_syn, ip, sizeof ip);
    struct ipv4_repr r;
    assert_int_equal(ipv4_parse(ip, len, &r), WIRE_OK);
    uint8_t out[IPV4_HDR_LEN];
    assert_int_equal(ipv4_emit(&r, out, sizeof out), IPV4_HDR_LEN);
    assert_memory_equal(out, ip, IPV4_HDR_LEN);
}

static void test_ipv4_emit_then_parse_round_trips(void **state)
{
    (void)state;
    struct ipv4_repr in = {
        .src = IP_B, .dst = 0xe00000fbu, .protocol = IPPROTO_UDP, .ttl = 255, .tos = 0xb9,
        .df = false, .mf = true, .id = 0xfedc, .frag_off = 8191 * 8, .payload_len = 1480,
    };
    uint8_t buf[1500] = { 0 };
    assert_int_equal(ipv4_emit(&in, buf, sizeof buf), IPV4_HDR_LEN);
    struct ipv4_repr out;
    assert_int_equal(ipv4_parse(buf, sizeof buf, &out), WIRE_OK);
    assert_int_equal(out.src, in.src);
    assert_int_equal(out.dst, in.dst);
    assert_int_equal(out.protocol, in.protocol);
    assert_int_equal(out.ttl, in.ttl);
    assert_int_equal(out.tos, in.tos);
    assert_int_equal(out.df, in.df);
    assert_int_equal(out.mf, in.mf);
    assert_int_equal(out.id, in.id);
    assert_int_equal(out.frag_off, in.frag_off);
    assert_int_equal(out.hdr_len, IPV4_HDR_LEN);
    assert_int_equal(out.total_len, 1500);
    assert_int_equal(out.payload_len, in.payload_len);
}

static void test_ipv4_emit_of_parsed_datagram_with_options_drops_them(void **state)
{
    (void)state;
    uint8_t ip[128];
    size_t len = ip_copy(SAMPLE_ipv4_router_alert_igmp, ip, sizeof ip);
    struct ipv4_repr a, b;
    assert_int_equal(ipv4_parse(ip, len, &a), WIRE_OK);
    uint8_t out[128];
    assert_int_equal(ipv4_emit(&a, out, sizeof out), IPV4_HDR_LEN);
    memcpy(out + IPV4_HDR_LEN, a.payload, a.payload_len);
    assert_int_equal(ipv4_parse(out, IPV4_HDR_LEN + a.payload_len, &b), WIRE_OK);
    assert_int_equal(b.hdr_len, IPV4_HDR_LEN);
    assert_int_equal(b.total_len, 28);
    assert_int_equal(b.payload_len, a.payload_len);
    assert_memory_equal(b.payload, a.payload, a.payload_len);
    assert_int_equal(b.src, a.src);
    assert_int_equal(b.dst, a.dst);
    assert_int_equal(b.tos, a.tos);
    assert_int_equal(b.ttl, a.ttl);
    assert_int_equal(b.df, a.df);
}

static void test_ipv4_emit_refuses_small_buffer_and_oversized_payload(void **state)
{
    (void)state;
    struct ipv4_repr r = { .src = IP_A, .dst = IP_B, .protocol = IPPROTO_TCP, .ttl = 64 };
    uint8_t out[IPV4_HDR_LEN];
    for (size_t cap = 0; cap < IPV4_HDR_LEN; cap++)
        assert_int_equal(ipv4_emit(&r, out, cap), 0);
    r.payload_len = IPV4_MAX_LEN - IPV4_HDR_LEN;
    assert_int_equal(ipv4_emit(&r, out, sizeof out), IPV4_HDR_LEN);
    assert_int_equal(wire_get16(out + 2), IPV4_MAX_LEN);
    r.payload_len = IPV4_MAX_LEN - IPV4_HDR_LEN + 1;
    assert_int_equal(ipv4_emit(&r, out, sizeof out), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4_parse_tcp_syn_datagram),
        cmocka_unit_test(test_ipv4_ethernet_padding_after_total_length_is_not_payload),
        cmocka_unit_test(test_ipv4_truncated_header_at_every_length),
        cmocka_unit_test(test_ipv4_total_length_longer_than_buffer_is_truncated),
        cmocka_unit_test(test_ipv4_total_length_shorter_than_header_is_rejected),
        cmocka_unit_test(test_ipv4_ihl_below_five_is_rejected),
        cmocka_unit_test(test_ipv4_ihl_past_the_buffer_is_truncated),
        cmocka_unit_test(test_ipv4_version_other_than_4_is_rejected),
        cmocka_unit_test(test_ipv4_bad_header_checksum_is_rejected),
        cmocka_unit_test(test_ipv4_every_single_bit_error_in_header_is_caught),
        cmocka_unit_test(test_ipv4_router_alert_option_is_walked_and_skipped),
        cmocka_unit_test(test_ipv4_option_lists_are_walked_and_malformed_ones_rejected),
        cmocka_unit_test(test_ipv4_fragments_are_recognised),
        cmocka_unit_test(test_ipv4_parse_quoted_accepts_a_cut_short_datagram),
        cmocka_unit_test(test_ipv4_parse_quoted_whole_datagram_drops_nothing),
        cmocka_unit_test(test_ipv4_parse_quoted_ignores_the_checksum),
        cmocka_unit_test(test_ipv4_emit_reproduces_the_captured_header),
        cmocka_unit_test(test_ipv4_emit_then_parse_round_trips),
        cmocka_unit_test(test_ipv4_emit_of_parsed_datagram_with_options_drops_them),
        cmocka_unit_test(test_ipv4_emit_refuses_small_buffer_and_oversized_payload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
