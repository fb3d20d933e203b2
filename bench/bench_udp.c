/*
 * The UDP echo path of a ustack server, in one process: a whole stack on one end of a loop link
 * (link/loop.h), a scripted peer on the other end, and a fake clock that never moves (no timer
 * ever fires, so every operation takes exactly the same path). For callgrind instruction counts;
 * it runs timed as well (ns per echoed datagram, in-process, no system call on the wire).
 *
 *   bench_udp udp-echo        one operation: the peer sends a 64-byte request (an Ethernet
 *                             frame: UDP to port 7), the server does ust_recvfrom(MSG_DONTWAIT)
 *                             and ust_sendto of the same bytes, the peer takes the reply back
 *   bench_udp udp-echo-tool   the same, with the server's loop as `ustack echo` runs it:
 *                             ust_poll (timeout 0), ust_recvfrom, ust_sendto
 *   bench_udp udp-echo-drain  the same with a ust_recvfrom that finds the socket empty
 *                             (EAGAIN) after the echo, as a loop reading until EAGAIN does
 *   bench_udp peer            the same without a stack: the peer allocates the request frame,
 *                             copies it in and sends it, the far end of the loop takes it and
 *                             sends the same frame back, the peer takes it and frees it: what
 *                             the two scenarios above spend outside the stack proper
 *
 * Options: size=N (UDP payload bytes, 64), ms=, icount=.
 *
 * Every reply is checked (length, addresses, ports, payload) before the measurement starts; in
 * the measured loop only its length is.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/pkt.h"
#include "bench.h"
#include "link/loop.h"
#include "net/arp.h"
#include "net/stack.h"
#include "ustack/ustack.h"
#include "wire/checksum.h"
#include "wire/eth.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

#define STACK_IP 0xc6120002u     /* 198.18.0.2 */
#define PEER_IP 0xc6120001u      /* 198.18.0.1 */
#define PEER_PORT 40001
#define ECHO_PORT 7
#define MAX_PAYLOAD 1472u
#define CLOCK_START ((1ull << 44) + 12345)

static const struct eth_addr stack_mac = { { 0x02, 0, 0, 0, 0, 0x02 } };
static const struct eth_addr peer_mac = { { 0x02, 0, 0, 0, 0, 0x01 } };

struct echo_ctx {
    struct ust_stack *s;
    struct link *peer;           /* the peer's end of the loop */
    struct link *other;          /* "peer" scenario: the far end, driven by the peer too */
    struct pkt_pool *pool;       /* the peer's frames */
    struct clk clock;
    int fd;                      /* the server's socket */
    size_t size;
    uint8_t request[ETH_HDR_LEN + IPV4_HDR_LEN + UDP_HDR_LEN + MAX_PAYLOAD];
    size_t request_len;
    size_t reply_len;
    uint8_t buf[65536];          /* the server's receive buffer */
};

/* The peer's request frame: Ethernet, IPv4, UDP, a payload of recognisable bytes. */
static void build_request(struct echo_ctx *c)
{
    uint8_t *f = c->request;
    struct eth_repr e = { .dst = stack_mac, .src = peer_mac, .ethertype = ETHERTYPE_IPV4 };
    size_t off = eth_emit(&e, f, sizeof(c->request));
    struct ipv4_repr ip = { .src = PEER_IP, .dst = STACK_IP, .protocol = IPPROTO_UDP,
                            .ttl = 64, .id = 0x5eed, .df = true,
                            .payload_len = (uint16_t)(UDP_HDR_LEN + c->size) };
    off += ipv4_emit(&ip, f + off, sizeof(c->request) - off);
    struct udp_repr u = { .sport = PEER_PORT, .dport = ECHO_PORT, .payload_len = c->size };
    size_t udp_off = off;
    off += udp_emit(&u, f + off, sizeof(c->request) - off);
    for (size_t i = 0; i < c->size; i++)
        f[off + i] = (uint8_t)(i * 7 + 1);
    off += c->size;
    udp_set_checksum(f + udp_off, UDP_HDR_LEN + c->size,
                     csum_ipv4_pseudo(PEER_IP, STACK_IP, IPPROTO_UDP,
                                      (uint16_t)(UDP_HDR_LEN + c->size)));
    c->request_len = off;
    c->reply_len = off;
}

static void inject(struct echo_ctx *c, struct link *on)
{
    struct pkt *p = pkt_alloc(c->pool);
    if (!p)
        bench_die("the peer's pool is empty");
    memcpy(pkt_put(p, (uint32_t)c->request_len), c->request, c->request_len);
    if (link_tx_burst(on, &p, 1) != 1)
        bench_die("the loop refused a frame");
}

/* Takes the one frame waiting on `on`; returns it (the caller frees it). */
static struct pkt *take(struct link *on)
{
    struct pkt *p[4];
    int n = link_rx_burst(on, p, 4);
    if (n != 1)
        bench_die("expected one frame on the loop, found %d", n);
    return p[0];
}

static void take_reply(struct echo_ctx *c)
{
    struct pkt *p = take(c->peer);
    if (p->len < c->reply_len)
        bench_die("the reply is %u bytes, the request was %zu", p->len, c->reply_len);
    pkt_free(p);
}

static void server_plain(struct echo_ctx *c)
{
    struct sockaddr_in from;
    socklen_t fl = sizeof(from);
    ssize_t n = ust_recvfrom(c->fd, c->buf, sizeof(c->buf), MSG_DONTWAIT,
                             (struct sockaddr *)&from, &fl);
    if (n < 0)
        bench_die("ust_recvfrom: %s", strerror(errno));
    if (ust_sendto(c->fd, c->buf, (size_t)n, 0, (struct sockaddr *)&from, fl) != n)
        bench_die("ust_sendto: %s", strerror(errno));
}

/* As tools/cmd_echo.c's serve() does it for one datagram. */
static void server_tool(struct echo_ctx *c)
{
    struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
    if (ust_poll(&pfd, 1, 0) != 1)
        bench_die("ust_poll: the socket is not readable");
    server_plain(c);
}

/* The same, reading until EAGAIN. */
static void server_drain(struct echo_ctx *c)
{
    server_tool(c);
    struct sockaddr_in from;
    socklen_t fl = sizeof(from);
    if (ust_recvfrom(c->fd, c->buf, sizeof(c->buf), MSG_DONTWAIT, (struct sockaddr *)&from,
                     &fl) >= 0 || errno != EAGAIN)
        bench_die("ust_recvfrom: a second datagram, or not EAGAIN");
}

static uint64_t k_echo(void *ctx, uint64_t n)
{
    struct echo_ctx *c = ctx;
    for (uint64_t i = 0; i < n; i++) {
        inject(c, c->peer);
        server_plain(c);
        take_reply(c);
    }
    return n;
}

static uint64_t k_echo_tool(void *ctx, uint64_t n)
{
    struct echo_ctx *c = ctx;
    for (uint64_t i = 0; i < n; i++) {
        inject(c, c->peer);
        server_tool(c);
        take_reply(c);
    }
    return n;
}

static uint64_t k_echo_drain(void *ctx, uint64_t n)
{
    struct echo_ctx *c = ctx;
    for (uint64_t i = 0; i < n; i++) {
        inject(c, c->peer);
        server_drain(c);
        take_reply(c);
    }
    return n;
}

/* The echo without a stack: the far end sends the request frame straight back. */
static uint64_t k_peer(void *ctx, uint64_t n)
{
    struct echo_ctx *c = ctx;
    for (uint64_t i = 0; i < n; i++) {
        inject(c, c->peer);
        struct pkt *p = take(c->other);
        if (link_tx_burst(c->other, &p, 1) != 1)
            bench_die("the loop refused a frame");
        take_reply(c);
    }
    return n;
}

/* Checks one echo completely: the reply goes back to the peer, from the server, same bytes. */
static void verify_echo(struct echo_ctx *c, void (*server)(struct echo_ctx *))
{
    inject(c, c->peer);
    server(c);
    struct pkt *p = take(c->peer);
    struct eth_repr e;
    struct ipv4_repr ip;
    struct udp_repr u;
    if (eth_parse(p->data, p->len, &e) != 0 || e.ethertype != ETHERTYPE_IPV4 ||
        memcmp(&e.dst, &peer_mac, sizeof(peer_mac)) != 0 ||
        ipv4_parse(e.payload, e.payload_len, &ip) != 0 || ip.protocol != IPPROTO_UDP ||
        ip.src != STACK_IP || ip.dst != PEER_IP || udp_parse(ip.payload, ip.payload_len, &u) ||
        u.sport != ECHO_PORT || u.dport != PEER_PORT || u.payload_len != c->size ||
        memcmp(u.payload, c->request + c->request_len - c->size, c->size) != 0)
        bench_die("the server's reply is not the echo of the request");
    c->reply_len = (size_t)(u.payload + u.payload_len - p->data);
    pkt_free(p);
}

static void setup_stack(struct echo_ctx *c)
{
    struct ust_config cfg;
    ust_config_defaults(&cfg);
    if (ust_config_set(&cfg, "addr", "198.18.0.2/24") || ust_config_set(&cfg, "mac",
                                                                         "02:00:00:00:00:02"))
        bench_die("config refused");
    struct pkt_pool_config pc = { .name = "peer", .count = 256,
                                  .buf_size = PKT_DEFAULT_BUF_SIZE,
                                  .headroom = PKT_DEFAULT_HEADROOM };
    if (pkt_pool_create(&pc, &c->pool) != 0)
        bench_die("pkt_pool_create failed");
    struct link *a;
    struct link_loop_config lc = { .name_a = "stack", .name_b = "peer" };
    if (link_loop_pair(&lc, &a, &c->peer) != 0)
        bench_die("link_loop_pair failed");
    clk_init_fake(&c->clock, CLOCK_START);
    int err = 0;
    c->s = stack_create_on(&cfg, &c->clock, a, &err);
    if (!c->s)
        bench_die("stack_create_on: %s", strerror(-err));
    pkt_free(take(c->peer));   /* the stack's gratuitous ARP announcement */
    stack_enter(c->s);
    err = arp_add_static(&c->s->ifaces[0], PEER_IP, &peer_mac);
    stack_leave(c->s);
    if (err)
        bench_die("arp_add_static: %s", strerror(-err));
    c->fd = ust_stack_socket(c->s, AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(ECHO_PORT) };
    if (c->fd < 0 || ust_bind(c->fd, (struct sockaddr *)&sin, sizeof(sin)) != 0)
        bench_die("socket/bind: %s", strerror(errno));
}

int main(int argc, char **argv)
{
    static const char *const known[] = { "size", NULL };
    static struct echo_ctx c;
    struct bench_args a;
    bench_args_parse(&a, argc, argv, known,
                     "udp-echo|udp-echo-tool|udp-echo-drain|peer [size=64] [ms=N] [icount=N]");
    c.size = (size_t)bench_arg_u64(&a, "size", 64);
    if (c.size < 1 || c.size > MAX_PAYLOAD)
        bench_die("size must be 1..%u", MAX_PAYLOAD);
    build_request(&c);
    bench_kernel *k;
    if (strcmp(a.scenario, "peer") == 0) {
        struct pkt_pool_config pc = { .name = "peer", .count = 256,
                                      .buf_size = PKT_DEFAULT_BUF_SIZE,
                                      .headroom = PKT_DEFAULT_HEADROOM };
        if (pkt_pool_create(&pc, &c.pool) != 0 || link_loop_pair(NULL, &c.other, &c.peer) != 0)
            bench_die("pool or loop set-up failed");
        k = k_peer;
    } else if (strcmp(a.scenario, "udp-echo") == 0) {
        setup_stack(&c);
        verify_echo(&c, server_plain);
        k = k_echo;
    } else if (strcmp(a.scenario, "udp-echo-tool") == 0) {
        setup_stack(&c);
        verify_echo(&c, server_tool);
        k = k_echo_tool;
    } else if (strcmp(a.scenario, "udp-echo-drain") == 0) {
        setup_stack(&c);
        verify_echo(&c, server_drain);
        k = k_echo_drain;
    } else {
        bench_die("unknown scenario '%s'", a.scenario);
    }
    char extra[64];
    snprintf(extra, sizeof(extra), "\"size\": %zu", c.size);
    bench_run(&a, k, &c, 0, extra);
    if (c.s)
        ust_stack_destroy(c.s);
    else
        link_destroy(c.other);
    link_destroy(c.peer);
    pkt_pool_destroy(c.pool);
    return 0;
}
