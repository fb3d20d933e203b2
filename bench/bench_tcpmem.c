/*
 * Memory per idle established TCP connection: one stack holding N connections (default
 * 100,000) whose buffers are empty, against a scripted peer on a loop link (link/loop.h) with a
 * fake clock that never moves (so no timer fires and nothing is sent once they are open).
 *
 *   bench_tcpmem queued [conns=N]    the stack listens on 4 ports; the peer opens the
 *                                    connections (SYN, then the ACK of the SYN-ACK, options as
 *                                    Linux sends them: MSS, SACK-permitted, timestamps, window
 *                                    scale) from one address and many ports; they stay
 *                                    ESTABLISHED on the listeners' accept queues (backlog raised
 *                                    to hold them): connection state only, no socket object and
 *                                    no descriptor
 *   bench_tcpmem accepted [conns=N]  the same, and the application accepts each: a socket
 *                                    object and a descriptor per connection
 *   bench_tcpmem connected [conns=N] the stack connects (non-blocking ust_connect) to 4 ports
 *                                    of the peer, which answers each SYN with a SYN-ACK
 *   ... fds=private                  sockets numbered from the stack's private space
 *                                    (option private_fds: no kernel descriptors)
 *
 * By default every ustack socket's descriptor is a kernel descriptor (a duplicate of one
 * placeholder eventfd), so "accepted" and "connected" need N descriptors: RLIMIT_NOFILE's soft
 * and hard limits are raised to N + spare; when the hard limit cannot be raised (that needs
 * CAP_SYS_RESOURCE), they open as many as it allows and say why ("conns", "limited_by"). With
 * fds=private no descriptor limit applies.
 *
 * The connections are opened in batches of 256; the first batch before measuring (it touches
 * pages once for all: packet buffers, the arena's first growth). Before the second batch and
 * after the last, the program reads its resident set (/proc/self/statm), the heap glibc has
 * handed out (mallinfo2: uordblks + hblkhd), the kernel's slab objects for files and eventfds
 * (/proc/slabinfo, if readable) and the size of its kernel descriptor table (computed from the
 * highest descriptor, fs/file.c's layout); the differences divided by the connections opened
 * meanwhile are the figures. Then it checks that every connection is ESTABLISHED with nothing
 * queued (ust_tcp_info: unread, unsent, unacked all 0) and that no packet buffer is held.
 *
 * Options raised for the purpose: max_sockets (N + 64), somaxconn (65535), port_min/port_max
 * (1024-65535, connected), and RLIMIT_NOFILE.
 *
 * Prints one JSON line: {"value": user + kernel bytes per connection, "rss_per_conn",
 * "kernel_per_conn", "heap_per_conn", ...}.
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/pkt.h"
#include "bench.h"
#include "link/loop.h"
#include "net/arp.h"
#include "net/stack.h"
#include "sock/sock.h"
#include "tcp/tcb.h"
#include "ustack/ustack.h"
#include "wire/checksum.h"
#include "wire/eth.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"

#define STACK_IP 0xc6120002u     /* 198.18.0.2 */
#define PEER_IP 0xc6120001u      /* 198.18.0.1 */
/* Listening ports (the stack's or the peer's): a few. Listeners have a table of their own
 * (tcp_listener_lookup is O(listeners on the port)), so 25,000 connections on one port cost a
 * SYN no more than one does. */
#define NPORTS 4
#define BASE_PORT 5001
#define PEER_PORT_MIN 1024
#define BATCH 256
#define CLOCK_START ((1ull << 44) + 12345)
#define MAX_CONNS 1000000u

static const struct eth_addr stack_mac = { { 0x02, 0, 0, 0, 0, 0x02 } };
static const struct eth_addr peer_mac = { { 0x02, 0, 0, 0, 0, 0x01 } };

struct mem_ctx {
    struct ust_stack *s;
    struct link *peer;
    struct pkt_pool *pool;
    struct clk clock;
    int lfd[NPORTS];
    int *fds;
    uint32_t n;                  /* connections open */
    uint64_t unexpected;         /* frames from the stack that were not what the peer expected */
};

struct snapshot {
    uint64_t rss, heap;
    int64_t slab;                /* bytes of filp + eventfd_ctx objects; -1 if unreadable */
    uint64_t fdtable;            /* the kernel's descriptor table of this process, bytes */
};

/* ---- Measuring ---- */

static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (!f || fscanf(f, "%lu %lu", &size, &resident) != 2)
        bench_die("cannot read /proc/self/statm");
    fclose(f);
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Active objects x object size of the slab caches that hold a file and an eventfd. The whole
 * machine's, so other processes add noise; with 100,000 objects of ours it is small. */
static int64_t slab_bytes(void)
{
    FILE *f = fopen("/proc/slabinfo", "r");
    if (!f)
        return -1;
    char line[512];
    int64_t total = 0;
    bool found = false;
    while (fgets(line, sizeof(line), f)) {
        char name[64];
        long active, num, size;
        if (sscanf(line, "%63s %ld %ld %ld", name, &active, &num, &size) != 4)
            continue;
        if (strcmp(name, "filp") == 0 || strcmp(name, "eventfd_ctx") == 0) {
            total += (int64_t)active * size;
            found = true;
        }
    }
    fclose(f);
    return found ? total : -1;
}

/* The size of the kernel's descriptor table once descriptor `max_fd` exists, from its layout
 * (fs/file.c, alloc_fdtable: a power of two of at least 1 KiB worth of slots, one pointer per
 * slot, two bitmaps of a bit per slot and one of a bit per 64 slots). It is kvmalloc'ed, so
 * neither the resident set nor the slab rows see it. */
static uint64_t fdtable_bytes(int max_fd)
{
    uint64_t per_kib = 1024 / sizeof(void *);
    uint64_t nr = ((uint64_t)max_fd + 1 + per_kib - 1) / per_kib;
    uint64_t p = 1;
    while (p < nr)
        p <<= 1;
    nr = p * per_kib;
    return nr * sizeof(void *) + 2 * nr / 8 + nr / 64 / 8;
}

static struct snapshot snap(int max_fd)
{
    struct mallinfo2 mi = mallinfo2();
    return (struct snapshot){ .rss = rss_bytes(), .heap = mi.uordblks + mi.hblkhd,
                              .slab = slab_bytes(), .fdtable = fdtable_bytes(max_fd) };
}

/* The highest kernel descriptor among ours (private numbers are not the kernel's). */
static int highest_fd(const struct mem_ctx *c)
{
    int max = 2;
    for (unsigned k = 0; k < NPORTS; k++)
        if (c->lfd[k] > max && !sock_fd_private(c->lfd[k]))
            max = c->lfd[k];
    for (uint32_t i = 0; i < c->n; i++)
        if (c->fds[i] > max && !sock_fd_private(c->fds[i]))
            max = c->fds[i];
    return max;
}

/* ---- The peer ---- */

static void send_tcp(struct mem_ctx *c, uint16_t sport, uint16_t dport, uint16_t flags,
                     uint32_t seq, uint32_t ack, const struct tcp_options *opt)
{
    struct pkt *p = pkt_alloc(c->pool);
    if (!p)
        bench_die("the peer's pool is empty");
    uint8_t *f = pkt_put(p, ETH_HDR_LEN + IPV4_HDR_LEN + TCP_MAX_HDR_LEN);
    struct eth_repr e = { .dst = stack_mac, .src = peer_mac, .ethertype = ETHERTYPE_IPV4 };
    size_t off = eth_emit(&e, f, p->len);
    struct tcp_repr t = { .sport = sport, .dport = dport, .seq = seq, .ack = ack,
                          .flags = flags, .window = 0xffff, .opt = *opt };
    size_t th = tcp_header_len(&t);
    struct ipv4_repr ip = { .src = PEER_IP, .dst = STACK_IP, .protocol = IPPROTO_TCP,
                            .ttl = 64, .df = true, .payload_len = (uint16_t)th };
    off += ipv4_emit(&ip, f + off, p->len - off);
    if (tcp_emit(&t, f + off, p->len - off) != th)
        bench_die("tcp_emit failed");
    tcp_set_checksum(f + off, th, csum_ipv4_pseudo(PEER_IP, STACK_IP, IPPROTO_TCP,
                                                   (uint16_t)th));
    pkt_trim(p, (uint32_t)(off + th));
    if (link_tx_burst(c->peer, &p, 1) != 1)
        bench_die("the loop refused a frame");
}

/* Lets the stack process everything the peer sent. */
static void pump(struct mem_ctx *c)
{
    stack_enter(c->s);
    while (stack_process(c->s) > 0)
        ;
    stack_leave(c->s);
}

/* Takes every frame the stack sent; calls fn on each TCP segment. */
static void drain(struct mem_ctx *c, void (*fn)(struct mem_ctx *, const struct tcp_repr *))
{
    struct pkt *p[64];
    int n;
    while ((n = link_rx_burst(c->peer, p, 64)) > 0) {
        for (int i = 0; i < n; i++) {
            struct eth_repr e;
            struct ipv4_repr ip;
            struct tcp_repr th;
            if (eth_parse(p[i]->data, p[i]->len, &e) == 0 && e.ethertype == ETHERTYPE_IPV4 &&
                ipv4_parse(e.payload, e.payload_len, &ip) == 0 && ip.protocol == IPPROTO_TCP &&
                tcp_parse(ip.payload, ip.payload_len, &th) == 0 && fn)
                fn(c, &th);
            else
                c->unexpected++;
            pkt_free(p[i]);
        }
    }
}

static struct tcp_options syn_opts(uint32_t tsval)
{
    return (struct tcp_options){ .present = TCP_HAS_MSS | TCP_HAS_SACK_PERM | TCP_HAS_TIMESTAMP |
                                            TCP_HAS_WSCALE,
                                 .mss = 1460, .wscale = 7, .ts_val = tsval };
}

/* passive: the stack's SYN-ACK, answered with the handshake's last ACK. */
static void on_synack(struct mem_ctx *c, const struct tcp_repr *th)
{
    if (th->flags != (TCP_SYN | TCP_ACK)) {
        c->unexpected++;
        return;
    }
    struct tcp_options ts = { .present = TCP_HAS_TIMESTAMP, .ts_val = 1000,
                              .ts_ecr = th->opt.ts_val };
    send_tcp(c, th->dport, th->sport, TCP_ACK, th->ack, th->seq + 1, &ts);
}

/* active: the stack's SYN, answered with a SYN-ACK. */
static void on_syn(struct mem_ctx *c, const struct tcp_repr *th)
{
    if (th->flags != TCP_SYN) {
        c->unexpected++;
        return;
    }
    struct tcp_options o = syn_opts(1000);
    o.ts_ecr = th->opt.ts_val;
    send_tcp(c, th->dport, th->sport, TCP_SYN | TCP_ACK, 0x10000000u + th->sport,
             th->seq + 1, &o);
}

/* active: the handshake's last ACK from the stack; nothing to answer. */
static void on_ack(struct mem_ctx *c, const struct tcp_repr *th)
{
    if (th->flags != TCP_ACK)
        c->unexpected++;
}

/* ---- Opening ---- */

static void open_passive(struct mem_ctx *c, uint32_t from, uint32_t count, bool accept)
{
    for (uint32_t i = from; i < from + count; i++) {
        struct tcp_options o = syn_opts(1000);
        send_tcp(c, (uint16_t)(PEER_PORT_MIN + i / NPORTS), (uint16_t)(BASE_PORT + i % NPORTS),
                 TCP_SYN, 0x20000000u + i * 7919u, 0, &o);
    }
    pump(c);
    drain(c, on_synack);
    pump(c);
    drain(c, NULL);
    if (!accept) {
        c->n += count;
        return;
    }
    for (unsigned k = 0; k < NPORTS; k++) {
        for (;;) {
            int fd = ust_accept4(c->lfd[k], NULL, NULL, SOCK_NONBLOCK);
            if (fd < 0) {
                if (errno != EAGAIN)
                    bench_die("ust_accept4: %s", strerror(errno));
                break;
            }
            c->fds[c->n++] = fd;
        }
    }
    if (c->n != from + count)
        bench_die("%u connections accepted, expected %u", c->n, from + count);
}

static void open_active(struct mem_ctx *c, uint32_t from, uint32_t count)
{
    for (uint32_t i = from; i < from + count; i++) {
        int fd = ust_stack_socket(c->s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (fd < 0)
            bench_die("connection %u: ust_stack_socket: %s", i, strerror(errno));
        struct sockaddr_in to = { .sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)(BASE_PORT + i % NPORTS)),
                                  .sin_addr.s_addr = htonl(PEER_IP) };
        if (ust_connect(fd, (struct sockaddr *)&to, sizeof(to)) == 0 || errno != EINPROGRESS)
            bench_die("connection %u: ust_connect: %s", i, strerror(errno));
        c->fds[c->n++] = fd;
    }
    drain(c, on_syn);
    pump(c);
    drain(c, on_ack);
}

static void check_idle(struct mem_ctx *c, bool queued)
{
    if (queued) {
        /* No descriptors: the listeners' accept queues hold them. */
        uint32_t estab = 0;
        for (unsigned k = 0; k < NPORTS; k++) {
            struct sock *so = sock_get(c->lfd[k]);
            if (!so)
                bench_die("listener %u vanished", k);
            estab += so->tcp->accept_len;
            for (struct tcb *tp = so->tcp->accept_head; tp; tp = tp->accept_next) {
                if (tp->c.state != TCPS_ESTABLISHED || tp->rcv_queued || tp->snd_queued ||
                    tp->snd_una != tp->snd_nxt)
                    bench_die("a queued connection is not idle and ESTABLISHED");
            }
            sock_put(so);
        }
        if (estab != c->n)
            bench_die("%u connections on the accept queues, expected %u", estab, c->n);
    }
    for (uint32_t i = 0; !queued && i < c->n; i++) {
        struct ust_tcp_info ti;
        if (ust_tcp_info(c->fds[i], &ti) != 0)
            bench_die("ust_tcp_info: %s", strerror(errno));
        if (ti.state != TCP_ESTABLISHED || ti.unread || ti.unsent || ti.unacked)
            bench_die("connection %u: state %u, %u unread, %u unsent, %u unacked", i, ti.state,
                      ti.unread, ti.unsent, ti.unacked);
    }
    if (pkt_pool_in_use(c->s->pool) != 0 || pkt_pool_in_use(c->pool) != 0)
        bench_die("packet buffers held: %u of the stack's, %u of the peer's",
                  pkt_pool_in_use(c->s->pool), pkt_pool_in_use(c->pool));
    if (c->unexpected)
        bench_die("%" PRIu64 " unexpected frames from the stack", c->unexpected);
}

#define FD_SPARE (NPORTS + 64)   /* descriptors for the listeners and everything else */

/* Raises RLIMIT_NOFILE (soft and hard) to `need` if it can; returns how many descriptors there
 * are room for, and in *why the errno of a refused raise (0 if none was refused). Raising the
 * hard limit needs CAP_SYS_RESOURCE (root usually has it; a container may not give it). */
static uint64_t raise_nofile(uint64_t need, int *why)
{
    *why = 0;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        bench_die("getrlimit: %s", strerror(errno));
    if (rl.rlim_cur >= need)
        return rl.rlim_cur;
    struct rlimit want = { .rlim_cur = need, .rlim_max = rl.rlim_max < need ? need
                                                                              : rl.rlim_max };
    if (setrlimit(RLIMIT_NOFILE, &want) == 0)
        return need;
    *why = errno;
    rl.rlim_cur = rl.rlim_max;   /* the hard limit, at least */
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        bench_die("setrlimit(RLIMIT_NOFILE): %s", strerror(errno));
    return rl.rlim_max;
}

static void setup(struct mem_ctx *c, uint32_t conns, bool active, uint32_t backlog,
                  bool private_fds)
{
    struct ust_config cfg;
    ust_config_defaults(&cfg);
    char max[32];
    snprintf(max, sizeof(max), "%u", conns + 64);
    if (ust_config_set(&cfg, "addr", "198.18.0.2/24") ||
        ust_config_set(&cfg, "mac", "02:00:00:00:00:02") ||
        ust_config_set(&cfg, "max_sockets", max) ||
        ust_config_set(&cfg, "somaxconn", "65535") ||
        (private_fds && ust_config_set(&cfg, "private_fds", "1")) ||
        (active && (ust_config_set(&cfg, "port_min", "1024") ||
                    ust_config_set(&cfg, "port_max", "65535"))))
        bench_die("config refused");
    struct pkt_pool_config pc = { .name = "peer", .count = 4 * BATCH,
                                  .buf_size = PKT_DEFAULT_BUF_SIZE,
                                  .headroom = PKT_DEFAULT_HEADROOM };
    if (pkt_pool_create(&pc, &c->pool) != 0)
        bench_die("pkt_pool_create failed");
    struct link *a;
    struct link_loop_config lc = { .name_a = "stack", .name_b = "peer", .ring_size = 4 * BATCH };
    if (link_loop_pair(&lc, &a, &c->peer) != 0)
        bench_die("link_loop_pair failed");
    clk_init_fake(&c->clock, CLOCK_START);
    int err = 0;
    c->s = stack_create_on(&cfg, &c->clock, a, &err);
    if (!c->s)
        bench_die("stack_create_on: %s", strerror(-err));
    drain(c, NULL);   /* the gratuitous ARP announcement */
    c->unexpected = 0;
    stack_enter(c->s);
    err = arp_add_static(&c->s->ifaces[0], PEER_IP, &peer_mac);
    stack_leave(c->s);
    if (err)
        bench_die("arp_add_static: %s", strerror(-err));
    for (unsigned k = 0; k < NPORTS; k++) {
        c->lfd[k] = -1;
        if (active)
            continue;
        c->lfd[k] = ust_stack_socket(c->s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        struct sockaddr_in sin = { .sin_family = AF_INET,
                                   .sin_port = htons((uint16_t)(BASE_PORT + k)) };
        if (c->lfd[k] < 0 || ust_bind(c->lfd[k], (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
            ust_listen(c->lfd[k], (int)backlog) != 0)
            bench_die("listener: %s", strerror(errno));
    }
    /* The benchmark's own array of descriptors, touched now so that it is not counted. */
    c->fds = malloc(conns * sizeof(*c->fds));
    if (!c->fds)
        bench_die("out of memory");
    memset(c->fds, 0xff, conns * sizeof(*c->fds));
}

int main(int argc, char **argv)
{
    static const char *const known[] = { "conns", "fds", NULL };
    static struct mem_ctx c;
    struct bench_args a;
    bench_args_parse(&a, argc, argv, known, "passive|active [conns=N]");
    bool active = strcmp(a.scenario, "connected") == 0;
    bool queued = strcmp(a.scenario, "queued") == 0;
    if (!active && !queued && strcmp(a.scenario, "accepted") != 0)
        bench_die("unknown scenario '%s'", a.scenario);
    uint64_t conns = bench_arg_u64(&a, "conns", 100000), asked = conns;
    if (conns < 1 || conns > MAX_CONNS)
        bench_die("conns must be 1..%u", MAX_CONNS);
    const char *fds = bench_arg_str(&a, "fds", "kernel");
    bool private_fds = strcmp(fds, "private") == 0;
    if (!private_fds && strcmp(fds, "kernel") != 0)
        bench_die("fds must be kernel or private");
    char limited_by[160] = "";
    if (!queued && !private_fds) {
        int why;
        uint64_t room = raise_nofile(conns + FD_SPARE, &why);
        if (room < conns + FD_SPARE) {
            if (room < 2 * FD_SPARE + BATCH)
                bench_die("RLIMIT_NOFILE allows only %" PRIu64 " descriptors", room);
            conns = room - FD_SPARE;
            snprintf(limited_by, sizeof(limited_by),
                     "RLIMIT_NOFILE: hard limit %" PRIu64 ", raising it refused (%s%s)", room,
                     strerror(why), why == EPERM ? ": no CAP_SYS_RESOURCE" : "");
        }
    }
    uint32_t per_port = (uint32_t)((conns + NPORTS - 1) / NPORTS);
    uint32_t backlog = queued ? per_port : BATCH;
    if (backlog > 65535)
        bench_die("%u connections per listener: more than a backlog can hold", per_port);
    setup(&c, (uint32_t)conns, active, backlog, private_fds);

    /* A first batch before measuring: what the first connections touch once for all (packet
     * buffers' pages, the arena's first growth) is not a cost per connection. */
    uint32_t warm = conns >= 4 * BATCH ? BATCH : 0;
    if (active && warm)
        open_active(&c, 0, warm);
    else if (warm)
        open_passive(&c, 0, warm, !queued);
    struct snapshot before = snap(highest_fd(&c));
    uint64_t t0 = clk_mono_ns();
    for (uint32_t i = warm; i < conns; i += BATCH) {
        uint32_t count = conns - i < BATCH ? (uint32_t)conns - i : BATCH;
        if (active)
            open_active(&c, i, count);
        else
            open_passive(&c, i, count, !queued);
    }
    uint64_t t1 = clk_mono_ns();
    struct snapshot after = snap(highest_fd(&c));
    check_idle(&c, queued);

    double n = (double)(conns - warm);
    double rss = (double)(after.rss - before.rss) / n;
    double slab = before.slab >= 0 && after.slab >= 0 ? (double)(after.slab - before.slab) / n
                                                      : -1;
    double fdt = (double)(after.fdtable - before.fdtable) / n;
    double kernel = (slab > 0 ? slab : 0) + fdt;
    printf("{\"scenario\": \"%s\", \"value\": %.1f, \"unit\": \"B/conn\", \"conns\": %" PRIu64
           ", \"conns_asked\": %" PRIu64 ", \"measured_over\": %" PRIu64
           ", \"limited_by\": \"%s\", \"established\": %" PRIu64
           ", \"rss_per_conn\": %.1f, \"heap_per_conn\": %.1f, \"kernel_slab_per_conn\": %.1f, "
           "\"kernel_fdtable_per_conn\": %.1f, \"kernel_per_conn\": %.1f, "
           "\"with_kernel_per_conn\": %.1f, "
           "\"rss_before_kib\": %" PRIu64 ", \"rss_after_kib\": %" PRIu64
           ", \"heap_before_kib\": %" PRIu64 ", \"heap_after_kib\": %" PRIu64
           ", \"sizeof_tcb\": %zu, \"sizeof_sock\": %zu, \"open_s\": %.3f}\n",
           a.scenario, rss + kernel, conns, asked, conns - warm, limited_by, (uint64_t)c.n,
           rss, (double)(after.heap - before.heap) / n, slab, fdt, kernel, rss + kernel,
           before.rss >> 10, after.rss >> 10, before.heap >> 10, after.heap >> 10,
           sizeof(struct tcb), (size_t)SOCK_STREAM_SIZE, (double)(t1 - t0) / 1e9);
    fflush(stdout);
    /* Exit without closing: 100,000 closes would send 100,000 FINs to nobody. */
    return 0;
}
