/*
 * bench_shmrtt: the CPU work of one 64-byte TCP round trip over the shared-memory wire, with
 * both stacks in this one process (so callgrind counts every instruction of both sides exactly;
 * the two-process timing is bench/shm_tcp.c's).
 *
 *   bench_shmrtt rtt [size=64] [ms=N] [icount=N]     one op = one round trip: the client's
 *       ust_send, the server's ust_recv (its stack_enter takes the frame from the wire) and
 *       ust_send of the echo, the client's ust_recv; every call with MSG_DONTWAIT, as the
 *       spinning scenario shm-tcp/rtt-2core-spinning makes them, and each finds its data at
 *       once.
 *   bench_shmrtt idle [ms=N] [icount=N]               one op = one spinning round that finds
 *       nothing: ust_recv(MSG_DONTWAIT) on an empty socket (EAGAIN) after looking at the wire.
 *
 * Fake clock (no timer fires), MTU 1500, TCP_NODELAY on both ends, timestamps on.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "bench.h"
#include "link/open.h"
#include "net/stack.h"
#include "ustack/ustack.h"

struct ctx {
    int c, s;                   /* client and server sockets */
    size_t size;
    uint8_t buf[2048];
};

static struct ust_stack *make_stack(struct clk *clock, const char *spec, const char *addr)
{
    struct link_env env = { .mtu = 1500 };
    struct link *l = NULL;
    if (link_open(spec, &env, &l) != 0)
        bench_die("cannot open %s", spec);
    struct ust_config cfg;
    ust_config_defaults(&cfg);
    ust_config_set(&cfg, "addr", addr);
    ust_config_set(&cfg, "pool_buffers", "1024");
    int err = 0;
    struct ust_stack *s = stack_create_on(&cfg, clock, l, &err);
    if (!s)
        bench_die("stack_create_on: %s", strerror(-err));
    return s;
}

static void pump(struct ust_stack *a, struct ust_stack *b)
{
    for (int i = 0; i < 100; i++)
        if (ust_stack_poll(a, NULL) + ust_stack_poll(b, NULL) == 0)
            break;
}

static void recv_all(int fd, uint8_t *buf, size_t n)
{
    for (size_t have = 0; have < n;) {
        ssize_t r = ust_recv(fd, buf + have, n - have, MSG_DONTWAIT);
        if (r <= 0)
            bench_die("recv: %s", r < 0 ? strerror(errno) : "end of stream");
        have += (size_t)r;
    }
}

static uint64_t round_trips(void *p, uint64_t n)
{
    struct ctx *x = p;
    for (uint64_t i = 0; i < n; i++) {
        x->buf[0] = (uint8_t)i;
        if (ust_send(x->c, x->buf, x->size, MSG_DONTWAIT) != (ssize_t)x->size)
            bench_die("client send: %s", strerror(errno));
        recv_all(x->s, x->buf, x->size);
        if (ust_send(x->s, x->buf, x->size, MSG_DONTWAIT) != (ssize_t)x->size)
            bench_die("server send: %s", strerror(errno));
        recv_all(x->c, x->buf, x->size);
    }
    return n;
}

static uint64_t idle_rounds(void *p, uint64_t n)
{
    struct ctx *x = p;
    for (uint64_t i = 0; i < n; i++)
        if (ust_recv(x->c, x->buf, sizeof(x->buf), MSG_DONTWAIT) != -1 || errno != EAGAIN)
            bench_die("idle recv found something");
    return n;
}

int main(int argc, char **argv)
{
    static const char *const known[] = { "size", NULL };
    struct bench_args a;
    bench_args_parse(&a, argc, argv, known, "bench_shmrtt rtt|idle [size=64]");
    ust_log_set_level(UST_LOG_ERROR);
    static struct ctx x;
    x.size = bench_arg_u64(&a, "size", 64);
    if (x.size < 1 || x.size > 1448)
        bench_die("size must be 1..1448");
    char path[96], spec[160];
    snprintf(path, sizeof(path), "/dev/shm/ust-bench-shmrtt-%d", (int)getpid());
    struct clk clock;
    clk_init_fake(&clock, 1000 * NS_PER_SEC);
    snprintf(spec, sizeof(spec), "shm:%s,side=0", path);
    struct ust_stack *cs = make_stack(&clock, spec, "198.18.0.1/24");
    snprintf(spec, sizeof(spec), "shm:%s,side=1", path);
    struct ust_stack *ss = make_stack(&clock, spec, "198.18.0.2/24");

    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(80) };
    inet_pton(AF_INET, "198.18.0.2", &sin.sin_addr);
    int one = 1;
    int l = ust_stack_socket(ss, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (ust_bind(l, (struct sockaddr *)&sin, sizeof(sin)) || ust_listen(l, 4))
        bench_die("listen: %s", strerror(errno));
    x.c = ust_stack_socket(cs, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (ust_connect(x.c, (struct sockaddr *)&sin, sizeof(sin)) == 0 || errno != EINPROGRESS)
        bench_die("connect: %s", strerror(errno));
    pump(cs, ss);
    x.s = ust_accept4(l, NULL, NULL, SOCK_NONBLOCK);
    if (x.s < 0)
        bench_die("accept: %s", strerror(errno));
    ust_setsockopt(x.c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ust_setsockopt(x.s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    memset(x.buf, 'r', sizeof(x.buf));

    if (strcmp(a.scenario, "rtt") == 0)
        bench_run(&a, round_trips, &x, 0, NULL);
    else if (strcmp(a.scenario, "idle") == 0)
        bench_run(&a, idle_rounds, &x, 0, NULL);
    else
        bench_die("unknown scenario '%s'", a.scenario);
    ust_close(x.c);
    ust_close(x.s);
    ust_close(l);
    ust_stack_destroy(cs);
    ust_stack_destroy(ss);
    unlink(path);
    return 0;
}
