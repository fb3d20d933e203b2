/*
 * ICMPv4: echo request and reply, a port unreachable quoting a UDP datagram down to its ports, a
 * "fragmentation needed" with its next-hop MTU, truncation at every length, every single-bit
 * error, emit with data copied, in place or overlapping, and round trips.
 */
#include "testutil.h"

#include <string.h>

#include "test_wire_samples.h"
#include "wire/checksum.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

static const uint8_t *icmp_of(enum wire_sample_id id, size_t *len)
{
    const struct wire_sample *s = &wire_samples[id];
    *len = s->l4_len;
    return s->frame + s->l4_off;
}

static void test_icmp_parse_echo_request(void **state)
{
    (void)state;
    size_t len;
    const uint8_t *p = icmp_of(SAMPLE_icmp_echo_request, &len);
    struct icmp_repr r;
    assert_int_equal(icmp_parse(p, len, &r), WIRE_OK);
    assert_int_equal(r.type, ICMP_ECHO_REQUEST);
    assert_int_equal(r.code, 0);
    assert_int_equal(icmp_echo_id(&r), 0x1c2b);
    assert_int_equal(icmp_echo_seq(&r), 1);
    assert_false(icmp_is_error(r.type));
    assert_ptr_equal(r.data, p + ICMP_HDR_LEN);
    assert_int_equal(r.data_len, 56);
}

static void test_icmp_emit_echo_reply_reproduces_the_captured_one(void **state)
{
    (void)state;
    size_t len, reply_len;
    const uint8_t *req = icmp_of(SAMPLE_icmp_echo_request, &len);
    const uint8_t *reply = icmp_of(SAMPLE_icmp_echo_reply, &reply_len);
    struct icmp_repr r;
    assert_int_equal(icmp_parse(req, len, &r), WIRE_OK);
    r.type = ICMP_ECHO_REPLY;                       /* RFC 792: same id, seq and data */
    uint8_t out[128];
    assert_int_equal(icmp_emit(&r, out, sizeof out), reply_len);
    assert_memory_equal(out, reply, reply_len);
}

static void test_icmp_port_unreachable_quotes_the_udp_ports(void **state)
{
    (void)state;
    size_t len;
    const uint8_t *p = icmp_of(SAMPLE_icmp_port_unreach, &len);
    struct icmp_repr r;
    assert_int_equal(icmp_parse(p, len, &r), WIRE_OK);
    assert_int_equal(r.type, ICMP_DEST_UNREACH);
    assert_int_equal(r.code, ICMP_PORT_UNREACH);
    assert_int_equal(r.rest, 0);
    assert_true(icmp_is_error(r.type));

    struct ipv4_repr ip;
    assert_int_equal(ipv4_parse_quoted(r.data, r.data_len, &ip), WIRE_OK);
    assert_int_equal(ip.protocol, IPPROTO_UDP);
    assert_int_equal(ip.src, 0xc6120001u);
    assert_int_equal(ip.dst, 0xc6120002u);
    struct udp_repr u;
    assert_int_equal(udp_parse(ip.payload, ip.payload_len, &u), WIRE_OK);
    assert_int_equal(u.sport, 53124);
    assert_int_equal(u.dport, 9999);
}

static void test_icmp_frag_needed_carries_next_hop_mtu(void **state)
{
    (void)state;
    size_t len;
    const uint8_t *p = icmp_of(SAMPLE_icmp_frag_needed, &len);
    struct icmp_repr r;
    assert_int_equal(icmp_parse(p, len, &r), WIRE_OK);
    assert_int_equal(r.type, ICMP_DEST_UNREACH);
    assert_int_equal(r.code, ICMP_FRAG_NEEDED);
    assert_int_equal(icmp_next_hop_mtu(&r), 1400);   /* RFC 1191 4 */
    struct ipv4_repr ip;
    assert_int_equal(ipv4_parse_quoted(r.data, r.data_len, &ip), WIRE_OK);
    assert_int_equal(ip.protocol, IPPROTO_TCP);
    assert_int_equal(ip.payload_len, 8);             /* ports and sequence number */
}

static void test_icmp_param_problem_pointer(void **state)
{
    (void)state;
    struct icmp_repr r = { .type = ICMP_PARAM_PROBLEM, .rest = 0x0c000000u };
    uint8_t out[ICMP_HDR_LEN];
    assert_int_equal(icmp_emit(&r, out, sizeof out), ICMP_HDR_LEN);
    struct icmp_repr back;
    assert_int_equal(icmp_parse(out, sizeof out, &back), WIRE_OK);
    assert_int_equal(icmp_param_pointer(&back), 12);
    assert_true(icmp_is_error(back.type));
}

static void test_icmp_truncated_at_every_length(void **state)
{
    (void)state;
    size_t len;
    const uint8_t *p = icmp_of(SAMPLE_icmp_echo_request, &len);
    struct icmp_repr r;
    for (size_t n = 0; n < ICMP_HDR_LEN; n++)
        assert_int_equal(icmp_parse(p, n, &r), WIRE_ETRUNC);
    /* A shorter message than the sender's fails its checksum instead. */
    for (size_t n = ICMP_HDR_LEN; n < len; n += 2)
        assert_int_equal(icmp_parse(p, n, &r), WIRE_ECSUM);
}

static void test_icmp_every_single_bit_error_is_caught(void **state)
{
    (void)state;
    size_t len;
    const uint8_t *p = icmp_of(SAMPLE_icmp_port_unreach, &len);
    uint8_t m[128];
    memcpy(m, p, len);
    struct icmp_repr r;
    for (size_t bit = 0; bit < len * 8; bit++) {
        m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(icmp_parse(m, len, &r), WIRE_ECSUM);
        m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    assert_int_equal(icmp_parse(m, len, &r), WIRE_OK);
}

static void test_icmp_emit_with_data_already_in_place(void **state)
{
    (void)state;
    uint8_t buf[64];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 3);
    struct icmp_repr r = { .type = ICMP_ECHO_REQUEST, .rest = 0x00070009u,
                           .data = buf + ICMP_HDR_LEN, .data_len = 33 };
    assert_int_equal(icmp_emit(&r, buf, sizeof buf), ICMP_HDR_LEN + 33);
    struct icmp_repr back;
    assert_int_equal(icmp_parse(buf, ICMP_HDR_LEN + 33, &back), WIRE_OK);
    assert_int_equal(icmp_echo_id(&back), 7);
    assert_int_equal(icmp_echo_seq(&back), 9);
    for (size_t i = 0; i < 33; i++)
        assert_int_equal(back.data[i], (uint8_t)((i + ICMP_HDR_LEN) * 3));
}

static void test_icmp_emit_with_overlapping_data_moves_it(void **state)
{
    (void)state;
    /* An error being built over the datagram it quotes: the quote starts 4 bytes in. */
    uint8_t buf[64], want[40];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i + 1);
    memcpy(want, buf + 4, sizeof want);
    struct icmp_repr r = { .type = ICMP_DEST_UNREACH, .code = ICMP_HOST_UNREACH,
                           .data = buf + 4, .data_len = sizeof want };
    assert_int_equal(icmp_emit(&r, buf, sizeof buf), ICMP_HDR_LEN + sizeof want);
    struct icmp_repr back;
    assert_int_equal(icmp_parse(buf, ICMP_HDR_LEN + sizeof want, &back), WIRE_OK);
    assert_memory_equal(back.data, want, sizeof want);
}

static void test_icmp_emit_then_parse_round_trips(void **state)
{
    (void)state;
    uint8_t data[301];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(0xff - i);
    for (size_t n = 0; n <= sizeof data; n += 7) {
        struct icmp_repr in = { .type = ICMP_TIMESTAMP, .code = 0, .rest = 0xdeadbeefu,
                                .data = data, .data_len = n };
        uint8_t out[ICMP_HDR_LEN + sizeof data];
        assert_int_equal(icmp_emit(&in, out, sizeof out), ICMP_HDR_LEN + n);
        struct icmp_repr back;
        assert_int_equal(icmp_parse(out, ICMP_HDR_LEN + n, &back), WIRE_OK);
        assert_int_equal(back.type, in.type);
        assert_int_equal(back.code, in.code);
        assert_int_equal(back.rest, in.rest);
        assert_int_equal(back.data_len, n);
        if (n)
            assert_memory_equal(back.data, data, n);
    }
}

static void test_icmp_emit_refuses_small_buffer(void **state)
{
    (void)state;
    uint8_t data[16] = { 0 };
    struct icmp_repr r = { .type = ICMP_ECHO_REPLY, .data = data, .data_len = sizeof data };
    uint8_t out[ICMP_HDR_LEN + sizeof data];
    memset(out, 0xee, sizeof out);
    for (size_t cap = 0; cap < sizeof out; cap++)
        assert_int_equal(icmp_emit(&r, out, cap), 0);
    assert_int_equal(out[0], 0xee);
    assert_int_equal(icmp_emit(&r, out, sizeof out), sizeof out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_icmp_parse_echo_request),
        cmocka_unit_test(test_icmp_emit_echo_reply_reproduces_the_captured_one),
        cmocka_unit_test(test_icmp_port_unreachable_quotes_the_udp_ports),
        cmocka_unit_test(test_icmp_frag_needed_carries_next_hop_mtu),
        cmocka_unit_test(test_icmp_param_problem_pointer),
        cmocka_unit_test(test_icmp_truncated_at_every_length),
        cmocka_unit_test(test_icmp_every_single_bit_error_is_caught),
        cmocka_unit_test(test_icmp_emit_with_data_already_in_place),
        cmocka_unit_test(test_icmp_emit_with_overlapping_data_moves_it),
        cmocka_unit_test(test_icmp_emit_then_parse_round_trips),
        cmocka_unit_test(test_icmp_emit_refuses_small_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
