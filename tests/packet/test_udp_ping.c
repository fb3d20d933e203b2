/*
 * ICMP echo ("ping") sockets, as Linux's socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP): the request
 * leaves with the socket's identifier and a checksum the stack computed, the reply is read back
 * whole, and anything but an echo request is refused.
 */
#include "stacktest.h"

#include <arpa/inet.h>
#include <string.h>

#include "ustack/ustack.h"

static int ping_socket(struct st *t)
{
    int fd = ust_stack_socket(t->s, AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    assert_true(fd >= 0);
    return fd;
}

/* An echo request as an application writes it: identifier and checksum left for the stack. */
static size_t request(uint8_t *buf, uint8_t type, uint8_t code, uint16_t seq, const char *data)
{
    size_t len = strlen(data);
    buf[0] = type;
    buf[1] = code;
    buf[2] = buf[3] = 0;                  /* checksum: the stack's business */
    wire_put16(buf + 4, 0x0bad);          /* identifier: replaced by the socket's */
    wire_put16(buf + 6, seq);
    memcpy(buf + 8, data, len);
    return 8 + len;
}

static void test_ping_request_carries_the_socket_identifier(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int fd = ping_socket(t);
    uint8_t msg[64];
    size_t len = request(msg, ICMP_ECHO_REQUEST, 0, 0x1812, "ping!");
    assert_int_equal(st_sendto(fd, msg, len, ST_PEER, 0), (ssize_t)len);
    uint16_t id = st_local_port(fd);    /* chosen when it first sent */
    assert_in_range(id, t->cfg.port_min, t->cfg.port_max);
    /* The harness parsed it with icmp_parse: its checksum is right. */
    expect_tx(t, want_icmp(.eth_dst = &st_peer_mac, .src = ST_ADDR, .dst = ST_PEER,
                           .type = ICMP_ECHO_REQUEST, .code = 0, .echo_id = id, .seq = 0x1812,
                           .df = true, .data = "ping!"));
    expect_no_tx(t);
    assert_int_equal(counter(t, "udp.ping_out"), 1);
    ust_close(fd);
}

static void test_ping_bound_identifier_is_used(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int fd = ping_socket(t);
    assert_int_equal(st_bind(fd, 0, 0x1899), 0);
    uint8_t msg[64];
    size_t len = request(msg, ICMP_ECHO_REQUEST, 0, 1, "x");
    assert_int_equal(st_sendto(fd, msg, len, ST_PEER, 0), (ssize_t)len);
    expect_tx(t, want_icmp(.type = ICMP_ECHO_REQUEST, .echo_id = 0x1899, .seq = 1));
    ust_close(fd);
}

static void test_ping_reply_is_received_whole(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int fd = ping_socket(t);
    uint8_t msg[64];
    size_t len = request(msg, ICMP_ECHO_REQUEST, 0, 7, "hello");
    assert_int_equal(st_sendto(fd, msg, len, ST_PEER, 0), (ssize_t)len);
    uint16_t id = st_local_port(fd);
    expect_tx(t, want_icmp(.type = ICMP_ECHO_REQUEST, .echo_id = id));

    /* A reply for another socket's identifier is not ours. */
    feed(t, icmp(.type = ICMP_ECHO_REPLY, .echo_id = (uint16_t)(id + 1), .seq = 7,
                 .data = "hello"));
    feed(t, icmp(.type = ICMP_ECHO_REPLY, .echo_id = id, .seq = 7, .data = "hello"));
    uint8_t buf[64], want[64];
    struct sockaddr_in from;
    assert_int_equal(st_recv(fd, buf, sizeof(buf), &from), 8 + 5);
    /* Header included, exactly as it arrived. */
    struct st_frame reply = icmp(.type = ICMP_ECHO_REPLY, .echo_id = id, .seq = 7,
                                 .data = "hello");
    assert_int_equal(st_build_l4(&reply, want, sizeof(want)), 8 + 5);
    assert_memory_equal(buf, want, 8 + 5);
    assert_int_equal(ntohl(from.sin_addr.s_addr), ST_PEER);
    expect_errno(st_recv(fd, buf, sizeof(buf), NULL), EAGAIN);
    assert_int_equal(counter(t, "udp.ping_in"), 1);
    expect_no_tx(t);
    ust_close(fd);
}

static void test_ping_refuses_anything_but_an_echo_request(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int fd = ping_socket(t);
    uint8_t msg[64];
    /* As Linux's ping_common_sendmsg: type 8 code 0 only, and at least a whole header. */
    size_t len = request(msg, ICMP_TIMESTAMP, 0, 1, "x");
    expect_errno(st_sendto(fd, msg, len, ST_PEER, 0), EINVAL);
    len = request(msg, ICMP_ECHO_REPLY, 0, 1, "x");
    expect_errno(st_sendto(fd, msg, len, ST_PEER, 0), EINVAL);
    len = request(msg, ICMP_ECHO_REQUEST, 1, 1, "x");
    expect_errno(st_sendto(fd, msg, len, ST_PEER, 0), EINVAL);
    request(msg, ICMP_ECHO_REQUEST, 0, 1, "x");
    expect_errno(st_sendto(fd, msg, 4, ST_PEER, 0), EINVAL);
    expect_no_tx(t);
    assert_int_equal(counter(t, "udp.ping_out"), 0);
    ust_close(fd);
}

static void test_ping_largest_request_is_65515_bytes(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int fd = ping_socket(t);
    static uint8_t msg[65516];
    request(msg, ICMP_ECHO_REQUEST, 0, 2, "");
    /* As Linux (measured on 6.18): the message, ICMP header included, fills a whole datagram. */
    expect_errno(st_sendto(fd, msg, 65516, ST_PEER, 0), EMSGSIZE);
    expect_no_tx(t);
    assert_int_equal(st_sendto(fd, msg, 65515, ST_PEER, 0), 65515);
    expect_tx(t, want_ipv4(.proto = IPPROTO_ICMP, .frag_off = 0, .mf = true, .df = false));
    assert_int_equal(st_drain_tx(t), 44);
    ust_close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, st_setup, st_teardown)
        T(test_ping_request_carries_the_socket_identifier),
        T(test_ping_bound_identifier_is_used),
        T(test_ping_reply_is_received_whole),
        T(test_ping_refuses_anything_but_an_echo_request),
        T(test_ping_largest_request_is_65515_bytes),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
