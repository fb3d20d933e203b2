/*
 * TCP's per-segment cost, in one process: a whole stack on one end of a loop link (link/loop.h),
 * a scripted peer on the other end, and a fake clock that never moves (no timer ever fires, so
 * every segment takes the same path). For callgrind instruction counts; it runs timed as well
 * (ns per segment, in-process, no system call on the wire).
 *
 * The peer opens the connection to a listener of the stack (SYN with MSS 1460, SACK-permitted,
 * timestamps and window scale 7, as Linux sends it), and the stack accepts it. Then:
 *
 *   bench_tcp rx    one operation: the peer sends the next in-order full-sized data segment
 *                   (1448 bytes of payload with the timestamp option: a 1500-byte IP packet),
 *                   the application takes it with ust_recv(MSG_DONTWAIT), and the peer takes
 *                   whatever the stack sent (its ACK for every second segment)
 *   bench_tcp tx    one operation: the application writes one full segment (1448 bytes) with
 *                   ust_send(MSG_DONTWAIT); the peer takes the data segment the stack sent and
 *                   acknowledges every second one (so every ust_send but the first finds an
 *                   ACK to process every other time)
 *
 * The peer builds its frames from templates whose TCP checksum it updates incrementally (RFC
 * 1624) in code of its own, so that its work never shows up in ustack's checksum functions.
 *
 * Options: ms=, icount=, collect=fn (the harness runs valgrind with --toggle-collect=FUNCTION
 * itself, so the driver must not toggle collection around the loop; see bench.h).
 *
 * Both paths are checked before the measurement: the stream of sequence numbers, the bytes
 * received (rx), the payload and the ACK-driven progress of the send queue (tx).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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
#include "wire/tcp.h"

#define STACK_IP 0xc6120002u     /* 198.18.0.2 */
#define PEER_IP 0xc6120001u      /* 198.18.0.1 */
#define PEER_PORT 40001
#define STACK_PORT 5001
#define PEER_ISS 0xfff00000u     /* the peer's first sequence number (wraps after 1 MiB) */
#define PEER_TSVAL 0x10000000u
#define PEER_WS 7
#define MSS_OPT 1460             /* MTU 1500 - 40 */
#define SEG 1448                 /* MSS minus the 12 bytes of the timestamp option */
#define CLOCK_START ((1ull << 44) + 12345)
#define FRAME_MAX (ETH_HDR_LEN + 1500)

static const struct eth_addr stack_mac = { { 0x02, 0, 0, 0, 0, 0x02 } };
static const struct eth_addr peer_mac = { { 0x02, 0, 0, 0, 0, 0x01 } };

struct tcp_ctx {
    struct ust_stack *s;
    struct link *peer;           /* the peer's end of the loop */
    struct pkt_pool *pool;       /* the peer's frames */
    struct clk clock;
    int lfd, fd;                 /* the stack's listener and connection */
    uint32_t snd_nxt;            /* the peer's next sequence number */
    uint32_t rcv_nxt;            /* what the peer has received of the stack's stream */
    uint32_t stack_tsval;        /* the stack's timestamp (the clock stands still) */
    /* A frame template (Ethernet + IPv4 + TCP with timestamps) and where its fields are. */
    uint8_t frame[FRAME_MAX];
    size_t frame_len;
    size_t tcp_off;
    uint16_t check;              /* the template's TCP checksum (memory order) */
    uint32_t seq, ack;           /* the values in the template now */
    unsigned taken;              /* tx: data segments the peer has taken since its last ACK */
    uint64_t ops;
    uint8_t app[65536];          /* the application's buffer */
};

/* ---- The peer's frames ---- */

/* One's complement: the checksum after a 32-bit field changed (RFC 1624 eqn. 3), in the peer's
 * own code. `check` in memory order; values host order. */
static uint16_t peer_csum_replace32(uint16_t check, uint32_t old_val, uint32_t new_val)
{
    uint32_t sum = (uint16_t)~ntohs(check);
    sum += (uint16_t)~(old_val >> 16);
    sum += (uint16_t)~(old_val & 0xffff);
    sum += new_val >> 16;
    sum += new_val & 0xffff;
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return htons((uint16_t)~sum);
}

/* Builds a segment from the peer into c->frame (a full checksum, with the library: set-up only)
 * and remembers it as the template. */
static void build(struct tcp_ctx *c, uint16_t flags, uint32_t seq, uint32_t ack,
                  const struct tcp_options *opt, size_t payload)
{
    uint8_t *f = c->frame;
    struct eth_repr e = { .dst = stack_mac, .src = peer_mac, .ethertype = ETHERTYPE_IPV4 };
    size_t off = eth_emit(&e, f, sizeof(c->frame));
    struct tcp_repr t = { .sport = PEER_PORT, .dport = STACK_PORT, .seq = seq, .ack = ack,
                          .flags = flags, .window = 0xffff };
    t.opt = *opt;
    size_t th = tcp_header_len(&t);
    struct ipv4_repr ip = { .src = PEER_IP, .dst = STACK_IP, .protocol = IPPROTO_TCP,
                            .ttl = 64, .id = 0, .df = true,
                            .payload_len = (uint16_t)(th + payload) };
    off += ipv4_emit(&ip, f + off, sizeof(c->frame) - off);
    c->tcp_off = off;
    if (tcp_emit(&t, f + off, sizeof(c->frame) - off) != th)
        bench_die("tcp_emit failed");
    for (size_t i = 0; i < payload; i++)
        f[off + th + i] = (uint8_t)(i * 13 + 5);
    tcp_set_checksum(f + off, th + payload,
                     csum_ipv4_pseudo(PEER_IP, STACK_IP, IPPROTO_TCP, (uint16_t)(th + payload)));
    memcpy(&c->check, f + off + 16, 2);
    c->frame_len = off + th + payload;
    c->seq = seq;
    c->ack = ack;
}

/* Moves the template to new seq/ack numbers, updating its checksum incrementally. */
static void retarget(struct tcp_ctx *c, uint32_t seq, uint32_t ack)
{
    uint8_t *t = c->frame + c->tcp_off;
    if (seq != c->seq) {
        c->check = peer_csum_replace32(c->check, c->seq, seq);
        uint32_t v = htonl(seq);
        memcpy(t + 4, &v, 4);
        c->seq = seq;
    }
    if (ack != c->ack) {
        c->check = peer_csum_replace32(c->check, c->ack, ack);
        uint32_t v = htonl(ack);
        memcpy(t + 8, &v, 4);
        c->ack = ack;
    }
    memcpy(t + 16, &c->check, 2);
}

static void inject(struct tcp_ctx *c)
{
    struct pkt *p = pkt_alloc(c->pool);
    if (!p)
        bench_die("the peer's pool is empty");
    memcpy(pkt_put(p, (uint32_t)c->frame_len), c->frame, c->frame_len);
    if (link_tx_burst(c->peer, &p, 1) != 1)
        bench_die("the loop refused a frame");
}

/* Takes the frames the stack sent; returns how many. */
static int drain(struct tcp_ctx *c)
{
    struct pkt *p[32];
    int total = 0, n;
    while ((n = link_rx_burst(c->peer, p, 32)) > 0) {
        for (int i = 0; i < n; i++)
            pkt_free(p[i]);
        total += n;
    }
    return total;
}

/* Takes exactly one frame the stack sent and parses it as TCP (set-up and checks only). */
static struct pkt *take_tcp(struct tcp_ctx *c, struct tcp_repr *th)
{
    struct pkt *p[4];
    int n = link_rx_burst(c->peer, p, 4);
    if (n != 1)
        bench_die("expected one frame from the stack, found %d", n);
    struct eth_repr e;
    struct ipv4_repr ip;
    if (eth_parse(p[0]->data, p[0]->len, &e) != 0 || e.ethertype != ETHERTYPE_IPV4 ||
        ipv4_parse(e.payload, e.payload_len, &ip) != 0 || ip.protocol != IPPROTO_TCP ||
        ip.src != STACK_IP || ip.dst != PEER_IP || tcp_parse(ip.payload, ip.payload_len, th) != 0 ||
        th->sport != STACK_PORT || th->dport != PEER_PORT)
        bench_die("the stack sent something other than a segment of the connection");
    return p[0];
}

/* Lets the stack process what the peer sent (and flush what it answers). */
static void pump(struct tcp_ctx *c)
{
    stack_enter(c->s);
    stack_leave(c->s);
}

/* ---- Set-up: the stack, a listener, the peer's handshake ---- */

static void setup(struct tcp_ctx *c)
{
    struct ust_config cfg;
    ust_config_defaults(&cfg);
    if (ust_config_set(&cfg, "addr", "198.18.0.2/24") ||
        ust_config_set(&cfg, "mac", "02:00:00:00:00:02"))
        bench_die("config refused");
    struct pkt_pool_config pc = { .name = "peer", .count = 1024,
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
    drain(c);   /* the stack's gratuitous ARP announcement */
    stack_enter(c->s);
    err = arp_add_static(&c->s->ifaces[0], PEER_IP, &peer_mac);
    stack_leave(c->s);
    if (err)
        bench_die("arp_add_static: %s", strerror(-err));

    c->lfd = ust_stack_socket(c->s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(STACK_PORT) };
    if (c->lfd < 0 || ust_bind(c->lfd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
        ust_listen(c->lfd, 8) != 0)
        bench_die("listener: %s", strerror(errno));

    /* SYN, as Linux sends it: MSS, SACK-permitted, timestamps, window scale. */
    struct tcp_options syn = { .present = TCP_HAS_MSS | TCP_HAS_SACK_PERM | TCP_HAS_TIMESTAMP |
                                          TCP_HAS_WSCALE,
                               .mss = MSS_OPT, .wscale = PEER_WS, .ts_val = PEER_TSVAL };
    build(c, TCP_SYN, PEER_ISS, 0, &syn, 0);
    inject(c);
    pump(c);
    struct tcp_repr th;
    struct pkt *p = take_tcp(c, &th);
    if (th.flags != (TCP_SYN | TCP_ACK) || th.ack != PEER_ISS + 1 ||
        !(th.opt.present & TCP_HAS_TIMESTAMP) || !(th.opt.present & TCP_HAS_WSCALE))
        bench_die("no SYN-ACK with timestamps and window scaling");
    pkt_free(p);
    c->rcv_nxt = th.seq + 1;
    c->stack_tsval = th.opt.ts_val;
    c->snd_nxt = PEER_ISS + 1;

    /* The handshake's ACK; from now on every segment carries NOP NOP timestamps. */
    struct tcp_options ts = { .present = TCP_HAS_TIMESTAMP, .ts_val = PEER_TSVAL,
                              .ts_ecr = c->stack_tsval };
    build(c, TCP_ACK, c->snd_nxt, c->rcv_nxt, &ts, 0);
    inject(c);
    struct sockaddr_in from;
    socklen_t fl = sizeof(from);
    c->fd = ust_accept4(c->lfd, (struct sockaddr *)&from, &fl, SOCK_NONBLOCK);
    if (c->fd < 0)
        bench_die("ust_accept4: %s", strerror(errno));
    struct ust_tcp_info info;
    if (ust_tcp_info(c->fd, &info) != 0 || info.mss != SEG ||
        info.options != (UST_TCPI_OPT_TIMESTAMPS | UST_TCPI_OPT_SACK | UST_TCPI_OPT_WSCALE))
        bench_die("the connection did not negotiate MSS %d with every option (mss %u)", SEG,
                  info.mss);
    if (drain(c) != 0)
        bench_die("the stack sent something after the handshake");
}

/* ---- rx: in-order full-sized segments into the stack ---- */

static void rx_setup(struct tcp_ctx *c)
{
    struct tcp_options ts = { .present = TCP_HAS_TIMESTAMP, .ts_val = PEER_TSVAL,
                              .ts_ecr = c->stack_tsval };
    build(c, TCP_ACK, c->snd_nxt, c->rcv_nxt, &ts, SEG);
    if (c->frame_len != ETH_HDR_LEN + 1500)
        bench_die("the data segment is %zu bytes, not a full frame", c->frame_len);
}

static void rx_one(struct tcp_ctx *c)
{
    retarget(c, c->snd_nxt, c->rcv_nxt);
    inject(c);
    ssize_t n = ust_recv(c->fd, c->app, sizeof(c->app), MSG_DONTWAIT);
    if (n != SEG)
        bench_die("ust_recv returned %zd (%s), expected %d", n, n < 0 ? strerror(errno) : "",
                  SEG);
    c->snd_nxt += SEG;
    drain(c);
}

static uint64_t k_rx(void *ctx, uint64_t n)
{
    struct tcp_ctx *c = ctx;
    for (uint64_t i = 0; i < n; i++)
        rx_one(c);
    return n;
}

/* A few segments with every reply checked: data intact, ACK for every second segment (after
 * Linux's quick-ACK start, every segment) acknowledging all so far. */
static void rx_verify(struct tcp_ctx *c)
{
    for (unsigned i = 0; i < 64; i++) {
        retarget(c, c->snd_nxt, c->rcv_nxt);
        inject(c);
        ssize_t n = ust_recv(c->fd, c->app, sizeof(c->app), MSG_DONTWAIT);
        if (n != SEG || memcmp(c->app, c->frame + c->frame_len - SEG, SEG) != 0)
            bench_die("segment %u: ust_recv returned %zd bytes, or other bytes", i, n);
        c->snd_nxt += SEG;
        struct pkt *p[4];
        int got = link_rx_burst(c->peer, p, 4);
        for (int j = 0; j < got; j++)
            pkt_free(p[j]);
        if (got > 1)
            bench_die("segment %u: %d frames from the stack", i, got);
    }
    struct ust_tcp_info info;
    if (ust_tcp_info(c->fd, &info) != 0 || info.bytes_received != 64u * SEG)
        bench_die("the stack received %llu bytes, not %u",
                  (unsigned long long)info.bytes_received, 64u * SEG);
    /* An ACK now and then: exactly the next two segments produce one ACK covering both. */
    for (unsigned i = 0; i < 2; i++) {
        retarget(c, c->snd_nxt, c->rcv_nxt);
        inject(c);
        if (ust_recv(c->fd, c->app, sizeof(c->app), MSG_DONTWAIT) != SEG)
            bench_die("ust_recv failed");
        c->snd_nxt += SEG;
        if (i == 0) {
            if (drain(c) != 0)
                bench_die("an ACK after one segment: not delayed");
            continue;
        }
        struct tcp_repr th;
        struct pkt *p = take_tcp(c, &th);
        if (th.flags != TCP_ACK || th.ack != c->snd_nxt || th.payload_len != 0)
            bench_die("expected a pure ACK of %u, got flags %#x ack %u", c->snd_nxt, th.flags,
                      th.ack);
        pkt_free(p);
    }
}

/* ---- tx: full-sized segments out of the stack ---- */

static void tx_setup(struct tcp_ctx *c)
{
    struct tcp_options ts = { .present = TCP_HAS_TIMESTAMP, .ts_val = PEER_TSVAL,
                              .ts_ecr = c->stack_tsval };
    build(c, TCP_ACK, c->snd_nxt, c->rcv_nxt, &ts, 0);   /* the peer's pure ACK */
    for (size_t i = 0; i < SEG; i++)
        c->app[i] = (uint8_t)(i * 7 + 3);
}

static void tx_one(struct tcp_ctx *c)
{
    if (ust_send(c->fd, c->app, SEG, MSG_DONTWAIT) != SEG)
        bench_die("ust_send: %s", strerror(errno));
    c->rcv_nxt += SEG;
    int n = drain(c);
    if (n != 1)
        bench_die("ust_send of one segment put %d frames on the wire", n);
    if (++c->taken == 2) {
        c->taken = 0;
        retarget(c, c->snd_nxt, c->rcv_nxt);
        inject(c);
    }
}

static uint64_t k_tx(void *ctx, uint64_t n)
{
    struct tcp_ctx *c = ctx;
    for (uint64_t i = 0; i < n; i++)
        tx_one(c);
    return n;
}

static void tx_verify(struct tcp_ctx *c)
{
    for (unsigned i = 0; i < 64; i++) {
        if (ust_send(c->fd, c->app, SEG, MSG_DONTWAIT) != SEG)
            bench_die("ust_send: %s", strerror(errno));
        struct tcp_repr th;
        struct pkt *p = take_tcp(c, &th);
        if (th.seq != c->rcv_nxt || th.payload_len != SEG ||
            memcmp(th.payload, c->app, SEG) != 0 || !(th.flags & TCP_ACK))
            bench_die("segment %u: seq %u (expected %u), %zu bytes", i, th.seq, c->rcv_nxt,
                      th.payload_len);
        pkt_free(p);
        c->rcv_nxt += SEG;
        if (++c->taken == 2) {
            c->taken = 0;
            retarget(c, c->snd_nxt, c->rcv_nxt);
            inject(c);
        }
    }
    pump(c);
    struct ust_tcp_info info;
    if (ust_tcp_info(c->fd, &info) != 0 || info.bytes_acked != 64u * SEG || info.unacked != 0)
        bench_die("the peer's ACKs were not taken: %llu bytes acked, %u unacked",
                  (unsigned long long)info.bytes_acked, info.unacked);
}

int main(int argc, char **argv)
{
    static const char *const known[] = { NULL };
    static struct tcp_ctx c;
    struct bench_args a;
    bench_args_parse(&a, argc, argv, known, "rx|tx [ms=N] [icount=N] [collect=fn]");
    setup(&c);
    bench_kernel *k;
    if (strcmp(a.scenario, "rx") == 0) {
        rx_setup(&c);
        rx_verify(&c);
        k = k_rx;
    } else if (strcmp(a.scenario, "tx") == 0) {
        tx_setup(&c);
        tx_verify(&c);
        k = k_tx;
    } else {
        bench_die("unknown scenario '%s'", a.scenario);
    }
    char extra[64];
    snprintf(extra, sizeof(extra), "\"segment_bytes\": %d", SEG);
    bench_run(&a, k, &c, 0, extra);
    /* The stack's last frames (FIN or RST) belong to its pool: take them before it goes. */
    ust_close(c.fd);
    ust_close(c.lfd);
    pump(&c);
    drain(&c);
    ust_stack_destroy(c.s);
    link_destroy(c.peer);
    pkt_pool_destroy(c.pool);
    return 0;
}
