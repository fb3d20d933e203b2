/*
 * UDP sockets through the POSIX-shaped API: one test per errno a misuse earns, each as Linux
 * returns it (checked against Linux 6.18 where in doubt), and the receive path: MSG_PEEK,
 * MSG_TRUNC, checksums, the receive buffer, ephemeral ports, broadcasts, FIONREAD and ust_poll.
 */
#include "stacktest.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "sock/sock.h"
#include "ustack/ustack.h"

static void test_udp_bind_with_the_ipv6_family_is_eafnosupport(void **state)
{
    struct st *t = *state;
    int fd = st_udp_socket(t);
    struct sockaddr_in6 six = { .sin6_family = AF_INET6, .sin6_port = htons(5000) };
    expect_errno(ust_bind(fd, (struct sockaddr *)&six, sizeof(six)), EAFNOSUPPORT);
    /* AF_UNSPEC passes only with INADDR_ANY (Linux keeps it for old programs). */
    struct sockaddr_in sin = st_sin(ST_ADDR, 5000);
    sin.sin_family = AF_UNSPEC;
    expect_errno(ust_bind(fd, (struct sockaddr *)&sin, sizeof(sin)), EAFNOSUPPORT);
    sin.sin_addr.s_addr = htonl(INADDR_ANY);
    assert_int_equal(ust_bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ust_close(fd);
}

static void test_udp_bind_with_a_short_address_is_einval(void **state)
{
    struct st *t = *state;
    int fd = st_udp_socket(t);
    struct sockaddr_in sin = st_sin(0, 5000);
    expect_errno(ust_bind(fd, (struct sockaddr *)&sin, sizeof(sin) - 1), EINVAL);
    expect_errno(ust_connect(fd, (struct sockaddr *)&sin, sizeof(sin) - 1), EINVAL);
    ust_close(fd);
}

static void test_udp_bind_twice_is_einval(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 5000);
    expect_errno(st_bind(fd, 0, 5001), EINVAL);
    assert_int_equal(st_local_port(fd), 5000);
    ust_close(fd);
}

static void test_udp_sendto_port_zero_is_einval(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int fd = st_udp_socket(t);
    expect_errno(st_sendto(fd, "x", 1, ST_PEER, 0), EINVAL);
    expect_no_tx(t);
    ust_close(fd);
}

static void test_udp_bind_to_a_port_in_use_is_eaddrinuse(void **state)
{
    struct st *t = *state;
    int a = st_udp_bound(t, 0, 5000);
    int b = st_udp_socket(t);
    expect_errno(st_bind(b, 0, 5000), EADDRINUSE);
    expect_errno(st_bind(b, ST_ADDR, 5000), EADDRINUSE);   /* overlaps the wildcard */
    assert_int_equal(st_bind(b, ST_ADDR, 5001), 0);
    ust_close(a);
    ust_close(b);
}

static void test_udp_so_reuseaddr_on_both_sockets_shares_a_port(void **state)
{
    struct st *t = *state;
    int one = 1;
    int a = st_udp_socket(t), b = st_udp_socket(t), c = st_udp_socket(t);
    assert_int_equal(ust_setsockopt(a, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
    assert_int_equal(st_bind(a, 0, 5000), 0);
    expect_errno(st_bind(b, 0, 5000), EADDRINUSE);   /* b did not ask */
    assert_int_equal(ust_setsockopt(c, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
    assert_int_equal(st_bind(c, 0, 5000), 0);
    ust_close(a);
    ust_close(b);
    ust_close(c);
}

static void test_udp_bind_to_a_foreign_address_is_eaddrnotavail(void **state)
{
    struct st *t = *state;
    int fd = st_udp_socket(t);
    expect_errno(st_bind(fd, ST_NET(99), 5000), EADDRNOTAVAIL);
    ust_close(fd);
}

static void test_udp_broadcast_without_so_broadcast_is_eacces(void **state)
{
    struct st *t = *state;
    int fd = st_udp_socket(t);
    expect_errno(st_sendto(fd, "x", 1, ST_BCAST, 9), EACCES);
    expect_errno(st_sendto(fd, "x", 1, 0xffffffffu, 9), EACCES);
    expect_errno(st_connect(fd, ST_BCAST, 9), EACCES);
    expect_no_tx(t);
    ust_close(fd);
}

static void test_udp_broadcast_with_so_broadcast_is_sent(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 5000);
    int one = 1;
    assert_int_equal(ust_setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)), 0);
    assert_int_equal(st_sendto(fd, "all", 3, ST_BCAST, 9), 3);
    expect_tx(t, want_udp(.eth_dst = &st_bcast_mac, .src = ST_ADDR, .dst = ST_BCAST,
                          .sport = 5000, .dport = 9, .data = "all"));
    assert_int_equal(st_sendto(fd, "all", 3, 0xffffffffu, 9), 3);
    expect_tx(t, want_udp(.eth_dst = &st_bcast_mac, .dst = 0xffffffffu, .data = "all"));
    expect_no_tx(t);   /* no ARP for a broadcast */
    ust_close(fd);
}

static void test_udp_send_without_a_destination_is_edestaddrreq(void **state)
{
    struct st *t = *state;
    int fd = st_udp_socket(t);
    expect_errno(ust_send(fd, "x", 1, 0), EDESTADDRREQ);
    ust_close(fd);
}

static void test_udp_off_link_destination_without_a_gateway_is_enetunreach(void **state)
{
    struct st *t = *state;
    int fd = st_udp_socket(t);
    expect_errno(st_sendto(fd, "x", 1, 0xc6130001u /* 198.19.0.1 */, 9), ENETUNREACH);
    expect_errno(st_connect(fd, 0xc6130001u, 9), ENETUNREACH);
    expect_no_tx(t);
    ust_close(fd);
}

static void test_udp_65508_bytes_is_emsgsize(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int fd = st_udp_socket(t);
    static char big[65508];
    expect_errno(st_sendto(fd, big, sizeof(big), ST_PEER, 9), EMSGSIZE);
    expect_no_tx(t);
    assert_int_equal(st_sendto(fd, big, sizeof(big) - 1, ST_PEER, 9), 65507);
    assert_int_equal(st_drain_tx(t), 45);
    ust_close(fd);
}

static void test_udp_ip_ttl_and_ip_tos_set_the_outgoing_header(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int fd = st_udp_bound(t, 0, 5000);
    int ttl = 5, tos = 0x10;
    assert_int_equal(ust_setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl)), 0);
    assert_int_equal(ust_setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos)), 0);
    assert_int_equal(st_sendto(fd, "x", 1, ST_PEER, 9), 1);
    expect_tx(t, want_udp(.ttl = 5, .tos = 0x10));
    /* As Linux: 0 and 256 are refused, -1 means the default again. */
    ttl = 0;
    expect_errno(ust_setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl)), EINVAL);
    ttl = 256;
    expect_errno(ust_setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl)), EINVAL);
    ttl = -1;
    assert_int_equal(ust_setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl)), 0);
    socklen_t len = sizeof(ttl);
    assert_int_equal(ust_getsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, &len), 0);
    assert_int_equal(ttl, 64);
    assert_int_equal(st_sendto(fd, "y", 1, ST_PEER, 9), 1);
    expect_tx(t, want_udp(.ttl = 64, .tos = 0x10));
    ust_close(fd);
}

static void test_udp_recv_with_msg_dontwait_on_an_empty_socket_is_eagain(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    char buf[8];
    expect_errno(ust_recv(fd, buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
    ust_close(fd);
}

static void test_udp_recv_on_a_nonblocking_socket_is_eagain(void **state)
{
    struct st *t = *state;
    char buf[8];
    int a = ust_stack_socket(t->s, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    assert_true(a >= 0);
    expect_errno(ust_recv(a, buf, sizeof(buf), 0), EAGAIN);
    int b = st_udp_socket(t);
    assert_int_equal(ust_fcntl(b, F_SETFL, ust_fcntl(b, F_GETFL) | O_NONBLOCK), 0);
    assert_true(ust_fcntl(b, F_GETFL) & O_NONBLOCK);
    expect_errno(ust_recv(b, buf, sizeof(buf), 0), EAGAIN);
    int c = st_udp_socket(t);
    assert_int_equal(ust_ioctl(c, FIONBIO, &(int){ 1 }), 0);
    expect_errno(ust_recv(c, buf, sizeof(buf), 0), EAGAIN);
    ust_close(a);
    ust_close(b);
    ust_close(c);
}

/* Moves the fake clock 1 ms at a time while a receiver is blocked, and only once the receiver
 * has looked at the clock again, so the time it wakes at is exact. */
struct clock_pusher {
    struct st *t;
    struct sock *so;
    atomic_bool done;
};

static void *push_clock(void *arg)
{
    struct clock_pusher *c = arg;
    uint64_t seen = UINT64_MAX;
    while (!atomic_load(&c->done)) {
        struct ust_stack *s = c->t->s;
        pthread_mutex_lock(&s->lock);
        if (c->so->waiters && s->ctrs.polls != seen) {
            seen = s->ctrs.polls;
            clk_advance(&c->t->clock, NS_PER_MS);
        }
        pthread_mutex_unlock(&s->lock);
        sched_yield();
    }
    return NULL;
}

static void test_udp_so_rcvtimeo_expires_with_eagain(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    struct timeval tv = { .tv_sec = 0, .tv_usec = 250000 };
    assert_int_equal(ust_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    /* With a fake clock the stack never sleeps: it is the clock moving that ends the wait. */
    struct clock_pusher c = { .t = t, .so = sock_get(fd) };
    atomic_init(&c.done, false);
    pthread_t th;
    uint64_t start = t->clock.fake_ns;
    assert_int_equal(pthread_create(&th, NULL, push_clock, &c), 0);
    char buf[8];
    errno = 0;
    ssize_t rc = ust_recv(fd, buf, sizeof(buf), 0);
    int err = errno;
    atomic_store(&c.done, true);
    pthread_join(th, NULL);
    sock_put(c.so);
    assert_int_equal(rc, -1);
    assert_int_equal(err, EAGAIN);
    assert_int_equal(t->clock.fake_ns - start, 250 * NS_PER_MS);
    ust_close(fd);
}

static void test_udp_getpeername_unconnected_is_enotconn(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 5000);
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    expect_errno(ust_getpeername(fd, (struct sockaddr *)&sin, &len), ENOTCONN);
    ust_close(fd);
}

static void test_udp_closed_descriptor_is_ebadf(void **state)
{
    struct st *t = *state;
    int fd = st_udp_socket(t);
    assert_int_equal(ust_close(fd), 0);
    expect_errno(ust_send(fd, "x", 1, 0), EBADF);
    expect_errno(ust_close(fd), EBADF);
    expect_errno(ust_close(-1), EBADF);
}

static void test_udp_send_on_a_pipe_is_enotsock(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    expect_errno(ust_send(p[1], "x", 1, 0), ENOTSOCK);
    assert_false(ust_is_socket(p[1]));
    close(p[0]);
    close(p[1]);
}

static void test_udp_unsupported_protocol_is_eprotonosupport(void **state)
{
    struct st *t = *state;
    expect_errno(ust_stack_socket(t->s, AF_INET, SOCK_DGRAM, IPPROTO_TCP), EPROTONOSUPPORT);
    expect_errno(ust_stack_socket(t->s, AF_INET, SOCK_DGRAM, 99), EPROTONOSUPPORT);
}

static void test_udp_unknown_socket_option_is_enoprotoopt(void **state)
{
    struct st *t = *state;
    int fd = st_udp_socket(t);
    int v = 1;
    socklen_t len = sizeof(v);
    expect_errno(ust_setsockopt(fd, SOL_SOCKET, 9999, &v, sizeof(v)), ENOPROTOOPT);
    expect_errno(ust_setsockopt(fd, IPPROTO_IP, 9999, &v, sizeof(v)), ENOPROTOOPT);
    expect_errno(ust_getsockopt(fd, SOL_SOCKET, 9999, &v, &len), ENOPROTOOPT);
    expect_errno(ust_getsockopt(fd, IPPROTO_UDP, 9999, &v, &len), ENOPROTOOPT);
    ust_close(fd);
}

/* Connects fd to the peer's port 9, sends one byte and returns the IPv4 datagram that left, to
 * be quoted in an ICMP error. */
static size_t send_and_capture(struct st *t, int fd, uint8_t *quote, size_t cap)
{
    assert_int_equal(st_connect(fd, ST_PEER, 9), 0);
    assert_int_equal(ust_send(fd, "?", 1, 0), 1);
    const struct st_rx *rx = expect_tx(t, want_udp(.dst = ST_PEER, .dport = 9));
    size_t n = rx->ip.total_len;
    assert_true(n <= cap);
    memcpy(quote, rx->eth.payload, n);
    return n;
}

static int so_error(int fd)
{
    int err = -1;
    socklen_t len = sizeof(err);
    assert_int_equal(ust_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    return err;
}

static void test_udp_connected_socket_gets_econnrefused_after_port_unreachable(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int fd = st_udp_socket(t);
    uint8_t quote[64];
    size_t n = send_and_capture(t, fd, quote, sizeof(quote));
    feed(t, icmp(.type = ICMP_DEST_UNREACH, .code = ICMP_PORT_UNREACH, .data = quote, .len = n));
    assert_int_equal(counter(t, "udp.icmp_errors"), 1);
    char buf[8];
    expect_errno(ust_recv(fd, buf, sizeof(buf), MSG_DONTWAIT), ECONNREFUSED);
    /* Reported once. */
    expect_errno(ust_recv(fd, buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
    assert_int_equal(so_error(fd), 0);
    ust_close(fd);
}

static void test_udp_unconnected_socket_ignores_port_unreachable(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int fd = st_udp_bound(t, 0, 5000);
    assert_int_equal(st_sendto(fd, "?", 1, ST_PEER, 9), 1);
    const struct st_rx *rx = expect_tx(t, want_udp(.dport = 9));
    uint8_t quote[64];
    size_t n = rx->ip.total_len;
    memcpy(quote, rx->eth.payload, n);
    feed(t, icmp(.type = ICMP_DEST_UNREACH, .code = ICMP_PORT_UNREACH, .data = quote, .len = n));
    assert_int_equal(so_error(fd), 0);
    assert_int_equal(st_sendto(fd, "!", 1, ST_PEER, 9), 1);
    ust_close(fd);
}

static void test_udp_icmp_errors_reach_a_connected_socket_only_when_hard(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int fd = st_udp_socket(t);
    uint8_t quote[64];
    size_t n = send_and_capture(t, fd, quote, sizeof(quote));
    /* Measured on Linux 6.18 (a connected socket, no IP_RECVERR): icmp_err_convert's fatal
     * codes, parameter problem and fragmentation needed are reported; the rest are not. */
    static const struct { uint8_t type, code; int err; } cases[] = {
        { 3, 0, 0 }, { 3, 1, 0 }, { 3, 2, ENOPROTOOPT }, { 3, 3, ECONNREFUSED },
        { 3, 4, EMSGSIZE }, { 3, 5, 0 }, { 3, 6, ENETUNREACH }, { 3, 7, EHOSTDOWN },
        { 3, 8, ENONET }, { 3, 9, ENETUNREACH }, { 3, 10, EHOSTUNREACH }, { 3, 11, 0 },
        { 3, 12, 0 }, { 3, 13, EHOSTUNREACH }, { 3, 14, EHOSTUNREACH },
        { 3, 15, EHOSTUNREACH }, { 11, 0, 0 }, { 11, 1, 0 }, { 12, 0, EPROTO }, { 4, 0, 0 },
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        feed(t, icmp(.type = cases[i].type, .code = cases[i].code,
                     .rest = cases[i].code == ICMP_FRAG_NEEDED ? 1200 : 0, .data = quote,
                     .len = n));
        if (so_error(fd) != cases[i].err)
            fail_msg("ICMP type %u code %u: want errno %d", cases[i].type, cases[i].code,
                     cases[i].err);
    }
    ust_close(fd);
}

static void test_udp_pending_error_waits_behind_argument_errors(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int fd = st_udp_socket(t);
    uint8_t quote[64];
    size_t n = send_and_capture(t, fd, quote, sizeof(quote));
    feed(t, icmp(.type = ICMP_DEST_UNREACH, .code = ICMP_PORT_UNREACH, .data = quote, .len = n));
    /* Linux checks the arguments first and the socket's error when it takes a buffer: the
     * error stays pending through EINVAL and EMSGSIZE, then the next real send reports it. */
    static char big[65508];
    expect_errno(st_sendto(fd, "x", 1, ST_PEER, 0), EINVAL);
    expect_errno(ust_send(fd, big, sizeof(big), 0), EMSGSIZE);
    expect_errno(ust_send(fd, "x", 1, 0), ECONNREFUSED);
    expect_no_tx(t);
    assert_int_equal(ust_send(fd, "x", 1, 0), 1);
    expect_tx(t, want_udp(.data = "x"));
    ust_close(fd);
}

static void test_udp_connect_af_unspec_dissolves_the_association(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int fd = st_udp_socket(t);
    assert_int_equal(st_connect(fd, ST_PEER, 9), 0);
    uint16_t port = st_local_port(fd);
    assert_true(port != 0);
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    assert_int_equal(ust_getpeername(fd, (struct sockaddr *)&sin, &len), 0);
    struct sockaddr unspec = { .sa_family = AF_UNSPEC };
    assert_int_equal(ust_connect(fd, &unspec, sizeof(unspec)), 0);
    expect_errno(ust_getpeername(fd, (struct sockaddr *)&sin, &len), ENOTCONN);
    expect_errno(ust_send(fd, "x", 1, 0), EDESTADDRREQ);
    /* As Linux's __udp_disconnect: the port connect chose is given back. */
    assert_int_equal(st_local_port(fd), 0);
    /* A port chosen by bind stays. */
    int b = st_udp_bound(t, 0, 5000);
    assert_int_equal(st_connect(b, ST_PEER, 9), 0);
    assert_int_equal(ust_connect(b, &unspec, sizeof(unspec)), 0);
    assert_int_equal(st_local_port(b), 5000);
    feed(t, udp(.src = ST_OTHER, .eth_src = st_other_mac, .dport = 5000, .data = "any"));
    char buf[8];
    assert_int_equal(st_recv(b, buf, sizeof(buf), NULL), 3);
    ust_close(fd);
    ust_close(b);
}

static void test_udp_connected_socket_receives_only_from_its_peer(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 5000);
    assert_int_equal(st_connect(fd, ST_PEER, 9), 0);
    feed(t, udp(.src = ST_OTHER, .eth_src = st_other_mac, .sport = 9, .dport = 5000,
                .data = "stranger"));
    feed(t, udp(.sport = 10, .dport = 5000, .data = "other port"));
    feed(t, udp(.sport = 9, .dport = 5000, .data = "peer"));
    char buf[16];
    assert_int_equal(st_recv(fd, buf, sizeof(buf), NULL), 4);
    assert_memory_equal(buf, "peer", 4);
    expect_errno(st_recv(fd, buf, sizeof(buf), NULL), EAGAIN);
    ust_close(fd);
}

static void test_udp_msg_peek_leaves_the_datagram(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    feed(t, udp(.data = "peekaboo"));
    char buf[16];
    struct sockaddr_in from;
    socklen_t len = sizeof(from);
    assert_int_equal(ust_recvfrom(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT,
                                  (struct sockaddr *)&from, &len), 8);
    assert_memory_equal(buf, "peekaboo", 8);
    assert_int_equal(ntohl(from.sin_addr.s_addr), ST_PEER);
    assert_int_equal(ntohs(from.sin_port), ST_PEER_PORT);
    memset(buf, 0, sizeof(buf));
    assert_int_equal(st_recv(fd, buf, sizeof(buf), NULL), 8);
    assert_memory_equal(buf, "peekaboo", 8);
    expect_errno(st_recv(fd, buf, sizeof(buf), NULL), EAGAIN);
    ust_close(fd);
}

static ssize_t recv_msg(int fd, void *buf, size_t cap, int flags, int *msg_flags)
{
    struct iovec iov = { .iov_base = buf, .iov_len = cap };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    ssize_t rc = ust_recvmsg(fd, &msg, flags | MSG_DONTWAIT);
    *msg_flags = msg.msg_flags;
    return rc;
}

static void test_udp_msg_trunc_reports_the_flag_and_the_real_length(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    char buf[16];
    int flags;
    feed(t, udp(.data = "abcdefgh"));
    assert_int_equal(recv_msg(fd, buf, 3, 0, &flags), 3);   /* what was copied */
    assert_true(flags & MSG_TRUNC);
    assert_memory_equal(buf, "abc", 3);
    feed(t, udp(.data = "abcdefgh"));
    assert_int_equal(recv_msg(fd, buf, 3, MSG_TRUNC, &flags), 8);   /* the datagram's length */
    assert_true(flags & MSG_TRUNC);
    feed(t, udp(.data = "abc"));
    assert_int_equal(recv_msg(fd, buf, 3, 0, &flags), 3);
    assert_false(flags & MSG_TRUNC);
    expect_errno(st_recv(fd, buf, sizeof(buf), NULL), EAGAIN);   /* the rest was discarded */
    ust_close(fd);
}

static void test_udp_zero_checksum_is_accepted(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    feed(t, udp(.data = "nosum", .udp_csum = ST_CSUM_NONE));   /* RFC 768: "no checksum" */
    char buf[8];
    assert_int_equal(st_recv(fd, buf, sizeof(buf), NULL), 5);
    ust_close(fd);
}

static void test_udp_length_beyond_the_datagram_is_dropped_and_counted(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int fd = st_udp_bound(t, 0, 7);
    feed(t, udp(.data = "long", .udp_len = 8 + 5));
    feed(t, udp(.data = "short", .udp_len = 7));
    char buf[8];
    expect_errno(st_recv(fd, buf, sizeof(buf), NULL), EAGAIN);
    expect_no_tx(t);
    assert_int_equal(counter(t, "udp.in_errors"), 2);
    /* A length field shorter than the IP payload wins: the rest is padding. */
    feed(t, udp(.data = "data+pad", .udp_len = 8 + 4, .udp_csum = ST_CSUM_NONE));
    assert_int_equal(st_recv(fd, buf, sizeof(buf), NULL), 4);
    assert_memory_equal(buf, "data", 4);
    ust_close(fd);
}

static void test_udp_bad_checksum_is_dropped_and_counted(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int fd = st_udp_bound(t, 0, 7);
    feed(t, udp(.data = "bad", .udp_csum = ST_CSUM_BAD));
    feed(t, udp(.dport = 9, .data = "bad", .udp_csum = ST_CSUM_BAD));   /* closed port */
    char buf[8];
    expect_errno(st_recv(fd, buf, sizeof(buf), NULL), EAGAIN);
    expect_no_tx(t);   /* no port unreachable for a corrupt datagram */
    assert_int_equal(counter(t, "udp.in_csum_errors"), 2);
    assert_int_equal(counter(t, "udp.in_errors"), 2);
    ust_close(fd);
}

static int get_buf(int fd, int name)
{
    int v = -1;
    socklen_t len = sizeof(v);
    assert_int_equal(ust_getsockopt(fd, SOL_SOCKET, name, &v, &len), 0);
    return v;
}

static void test_udp_so_rcvbuf_is_doubled_and_clamped(void **state)
{
    struct st *t = *state;
    int fd = st_udp_socket(t);
    assert_int_equal(get_buf(fd, SO_RCVBUF), (int)t->cfg.rmem_default);
    const struct { int set, rcv, snd; } cases[] = {
        { 10000, 20000, 20000 },   /* doubled for bookkeeping */
        { 0, 2304, 4608 },         /* SOCK_MIN_RCVBUF, SOCK_MIN_SNDBUF */
        { 1000, 2304, 4608 },
        { 1 << 30, 2 * 4194304, 2 * 4194304 },   /* capped at rmem_max / wmem_max, doubled */
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int v = cases[i].set;
        assert_int_equal(ust_setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)), 0);
        assert_int_equal(ust_setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)), 0);
        assert_int_equal(get_buf(fd, SO_RCVBUF), cases[i].rcv);
        assert_int_equal(get_buf(fd, SO_SNDBUF), cases[i].snd);
    }
    ust_close(fd);
}

static void test_udp_full_receive_buffer_drops_and_counts(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    int v = 0;
    assert_int_equal(ust_setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)), 0);
    /* 2304 bytes; each datagram holds a 2048-byte buffer. Linux's rule: refuse while what is
     * held exceeds the buffer, so the second still gets in and the third does not. */
    feed(t, udp(.data = "1"));
    feed(t, udp(.data = "2"));
    feed(t, udp(.data = "3"));
    assert_int_equal(counter(t, "udp.rcvbuf_errors"), 1);
    assert_int_equal(counter(t, "udp.in_datagrams"), 2);
    char buf[8];
    assert_int_equal(st_recv(fd, buf, sizeof(buf), NULL), 1);
    assert_int_equal(buf[0], '1');
    feed(t, udp(.data = "4"));
    assert_int_equal(st_recv(fd, buf, sizeof(buf), NULL), 1);
    assert_int_equal(buf[0], '2');
    assert_int_equal(st_recv(fd, buf, sizeof(buf), NULL), 1);
    assert_int_equal(buf[0], '4');
    ust_close(fd);
}

static void test_udp_ephemeral_ports_stay_within_the_range(void **state)
{
    struct st *t = *state;
    st_restart(t, "port_min=40000", "port_max=40003");
    st_resolve_peer(t);
    int fds[4];
    bool used[4] = { false };
    for (int i = 0; i < 4; i++) {
        fds[i] = st_udp_bound(t, 0, 0);
        uint16_t p = st_local_port(fds[i]);
        assert_in_range(p, 40000, 40003);
        assert_false(used[p - 40000]);
        used[p - 40000] = true;
    }
    int more = st_udp_socket(t);
    expect_errno(st_bind(more, 0, 0), EADDRINUSE);
    expect_errno(st_sendto(more, "x", 1, ST_PEER, 9), EAGAIN);   /* Linux's inet_autobind */
    for (int i = 0; i < 4; i++)
        ust_close(fds[i]);
    /* A port given back is used again, by a send this time. */
    assert_int_equal(st_sendto(more, "x", 1, ST_PEER, 9), 1);
    assert_in_range(st_local_port(more), 40000, 40003);
    ust_close(more);
}

static void test_udp_broadcast_is_delivered_to_every_bound_socket(void **state)
{
    struct st *t = *state;
    int one = 1, fds[3];
    for (int i = 0; i < 3; i++) {
        fds[i] = st_udp_socket(t);
        assert_int_equal(ust_setsockopt(fds[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
        assert_int_equal(st_bind(fds[i], i < 2 ? 0 : ST_ADDR, 7), 0);
    }
    feed(t, udp(.eth_dst = st_bcast_mac, .dst = ST_BCAST, .data = "to all"));
    feed(t, udp(.eth_dst = st_bcast_mac, .dst = 0xffffffffu, .data = "to all"));
    char buf[16];
    for (int i = 0; i < 2; i++) {
        for (int k = 0; k < 2; k++) {
            assert_int_equal(st_recv(fds[i], buf, sizeof(buf), NULL), 6);
            assert_memory_equal(buf, "to all", 6);
        }
    }
    /* A socket bound to the unicast address hears no broadcasts (as Linux). */
    expect_errno(st_recv(fds[2], buf, sizeof(buf), NULL), EAGAIN);
    assert_int_equal(counter(t, "udp.in_datagrams"), 4);
    for (int i = 0; i < 3; i++)
        ust_close(fds[i]);
}

static void test_udp_fionread_is_the_size_of_the_next_datagram(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    int n = -1;
    assert_int_equal(ust_ioctl(fd, FIONREAD, &n), 0);
    assert_int_equal(n, 0);
    feed(t, udp(.data = "12345"));
    feed(t, udp(.data = "1234567"));
    assert_int_equal(ust_ioctl(fd, FIONREAD, &n), 0);
    assert_int_equal(n, 5);
    char buf[16];
    assert_int_equal(st_recv(fd, buf, sizeof(buf), NULL), 5);
    assert_int_equal(ust_ioctl(fd, FIONREAD, &n), 0);
    assert_int_equal(n, 7);
    ust_close(fd);
}

static short poll_events(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };
    int n = ust_poll(&p, 1, 0);
    assert_true(n >= 0);
    return n ? p.revents : 0;
}

static void test_udp_poll_reports_pollin_pollout_and_pollerr(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int fd = st_udp_socket(t);
    assert_int_equal(poll_events(fd), POLLOUT);
    uint8_t quote[64];
    size_t n = send_and_capture(t, fd, quote, sizeof(quote));
    feed(t, udp(.sport = 9, .dport = st_local_port(fd), .data = "in"));
    assert_int_equal(poll_events(fd), POLLIN | POLLOUT);
    feed(t, icmp(.type = ICMP_DEST_UNREACH, .code = ICMP_PORT_UNREACH, .data = quote, .len = n));
    assert_int_equal(poll_events(fd), POLLIN | POLLOUT | POLLERR);
    assert_int_equal(so_error(fd), ECONNREFUSED);
    char buf[8];
    assert_int_equal(st_recv(fd, buf, sizeof(buf), NULL), 2);
    assert_int_equal(poll_events(fd), POLLOUT);
    ust_close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, st_setup, st_teardown)
        T(test_udp_bind_with_the_ipv6_family_is_eafnosupport),
        T(test_udp_bind_with_a_short_address_is_einval),
        T(test_udp_bind_twice_is_einval),
        T(test_udp_sendto_port_zero_is_einval),
        T(test_udp_bind_to_a_port_in_use_is_eaddrinuse),
        T(test_udp_so_reuseaddr_on_both_sockets_shares_a_port),
        T(test_udp_bind_to_a_foreign_address_is_eaddrnotavail),
        T(test_udp_broadcast_without_so_broadcast_is_eacces),
        T(test_udp_broadcast_with_so_broadcast_is_sent),
        T(test_udp_send_without_a_destination_is_edestaddrreq),
        T(test_udp_off_link_destination_without_a_gateway_is_enetunreach),
        T(test_udp_65508_bytes_is_emsgsize),
        T(test_udp_ip_ttl_and_ip_tos_set_the_outgoing_header),
        T(test_udp_recv_with_msg_dontwait_on_an_empty_socket_is_eagain),
        T(test_udp_recv_on_a_nonblocking_socket_is_eagain),
        T(test_udp_so_rcvtimeo_expires_with_eagain),
        T(test_udp_getpeername_unconnected_is_enotconn),
        T(test_udp_closed_descriptor_is_ebadf),
        T(test_udp_send_on_a_pipe_is_enotsock),
        T(test_udp_unsupported_protocol_is_eprotonosupport),
        T(test_udp_unknown_socket_option_is_enoprotoopt),
        T(test_udp_connected_socket_gets_econnrefused_after_port_unreachable),
        T(test_udp_unconnected_socket_ignores_port_unreachable),
        T(test_udp_icmp_errors_reach_a_connected_socket_only_when_hard),
        T(test_udp_pending_error_waits_behind_argument_errors),
        T(test_udp_connect_af_unspec_dissolves_the_association),
        T(test_udp_connected_socket_receives_only_from_its_peer),
        T(test_udp_msg_peek_leaves_the_datagram),
        T(test_udp_msg_trunc_reports_the_flag_and_the_real_length),
        T(test_udp_zero_checksum_is_accepted),
        T(test_udp_length_beyond_the_datagram_is_dropped_and_counted),
        T(test_udp_bad_checksum_is_dropped_and_counted),
        T(test_udp_so_rcvbuf_is_doubled_and_clamped),
        T(test_udp_full_receive_buffer_drops_and_counts),
        T(test_udp_ephemeral_ports_stay_within_the_range),
        T(test_udp_broadcast_is_delivered_to_every_bound_socket),
        T(test_udp_fionread_is_the_size_of_the_next_datagram),
        T(test_udp_poll_reports_pollin_pollout_and_pollerr),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
