/*
 * shm_tcp: TCP between two processes, ustack <-> ustack over the shared-memory wire (link/shm)
 * or kernel <-> kernel (loopback, or a veth pair between two namespaces), with the same code:
 * only the socket calls differ (ust_* or the kernel's). bench/run.py's scenario groups shm-tcp-*
 * run it once per figure (bench/scenarios.py: shm_tcp_scenarios).
 *
 *   shm_tcp rtt|bulk|conn api=ustack|kernel [poll=spin|block] [cores=C,S] [key=value...]
 *
 * The process forks: the child is the server (pinned to core S), the parent the client (pinned
 * to core C; give the same core twice for one-core runs). The server says "ready" on a pipe
 * once it listens; the client measures and prints one JSON line {"value": ..., ...}.
 *
 *   rtt   one connection, TCP_NODELAY on both ends; `warmup` + `count` round trips of `size`
 *         bytes (default 64), the client writing each request whole and reading the whole
 *         reply, checked byte for byte; the server echoes everything until the client closes.
 *         value = median round trip in us (CLOCK_MONOTONIC, from before send to after the last
 *         recv of the reply); p99 too.
 *   bulk  one connection; the client sends `bytes` (default 1 GiB) in writes of 64 KiB, the
 *         server reads them in 64 KiB reads and discards them, then answers one byte; value =
 *         Gbit/s of payload from the first send to the answer's arrival.
 *   conn  `count` connections one after the other: the client connects, sends one byte, reads
 *         the server's one-byte answer, reads end-of-stream, closes; the server accepts, reads
 *         the byte, answers, closes (it closes first, as an HTTP/1.0 server does, so TIME_WAIT
 *         falls on the server and the client's ports come free at once). value = connections
 *         per second over the whole run (from the first connect to the last close).
 *
 * Polling (`poll`): spin = every wait is a recv/send(MSG_DONTWAIT) loop (ustack's stacks also
 * get spin_us=10000000, so the calls that do block, connect and accept, spin too); block =
 * blocking calls (ustack: spin_us=0, it sleeps in poll(2) on the wire's doorbell).
 *
 * api=ustack: each process makes its own stack on shm:/dev/shm/ust-bench-tcp-PID,side=N (client
 * side 0 at 198.18.0.1/24, server side 1 at .2, `mtu` default 1500; the wire's names are removed
 * afterwards whatever happens), with private socket numbers (private_fds=1: the program uses
 * only ust_* calls, so its sockets need no kernel descriptor) and, when spinning,
 * spin_signals=0 (a spin makes no system call, as the kernel side's MSG_DONTWAIT loops). api=kernel: 127.0.0.1 by default; with netns=SERVER_NS,CLIENT_NS
 * (names under /run/netns, made by the harness) each process first joins its namespace and the
 * server listens on `addr`.
 *
 * Every wait is bounded (a stuck run fails after `max_seconds`, default 240); exit status 0, or 1
 * with a message on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kprog.h"
#include "ustack/ustack.h"

const char *const kprog_name = "shm_tcp";

#define PORT 5301
#define CHUNK 65536u
#define MAX_COUNT 10000000ul

/* The socket calls: the kernel's or ustack's, nothing else differs. */
struct api {
    int (*socket)(int, int, int);
    int (*bind)(int, const struct sockaddr *, socklen_t);
    int (*listen)(int, int);
    int (*accept)(int, struct sockaddr *, socklen_t *);
    int (*accept4)(int, struct sockaddr *, socklen_t *, int);
    int (*connect)(int, const struct sockaddr *, socklen_t);
    ssize_t (*send)(int, const void *, size_t, int);
    ssize_t (*recv)(int, void *, size_t, int);
    int (*setsockopt)(int, int, int, const void *, socklen_t);
    int (*close)(int);
};

static const struct api kernel_api = { socket, bind, listen, accept, accept4, connect, send,
                                       recv, setsockopt, close };
static const struct api ustack_api = { ust_socket, ust_bind, ust_listen, ust_accept, ust_accept4,
                                       ust_connect, ust_send, ust_recv, ust_setsockopt,
                                       ust_close };

struct opts {
    const char *what;             /* rtt, bulk, conn */
    bool ustack, spin;
    int cores[2];                 /* client, server */
    unsigned long size, count, warmup, mtu, max_seconds, procs;
    unsigned long long bytes;
    const char *addr;             /* the server's address (kernel) */
    char netns[2][128];           /* client's, server's namespace (kernel, optional) */
    char wire[96];                /* the shm file (ustack) */
};

static const struct api *A;
static bool spinning;            /* MSG_DONTWAIT loops */
static uint64_t give_up_ns;       /* the run's deadline */

static void pin(int core)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(core, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0)
        die("cannot pin to core %d: %s", core, strerror(errno));
}

static void check_deadline(void)
{
    if (stop_requested || now_ns() > give_up_ns)
        die("no progress within %s", stop_requested ? "the run (stopped)" : "max_seconds");
}

/* ---- Waiting: spinning (MSG_DONTWAIT loops) or blocking ---- */

/* Reads up to len bytes (at least one); 0 at end-of-stream. */
static size_t io_recv(int fd, void *buf, size_t len)
{
    for (unsigned spins = 0;; spins++) {
        ssize_t n = A->recv(fd, buf, len, spinning ? MSG_DONTWAIT : 0);
        if (n >= 0)
            return (size_t)n;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            die("recv: %s", strerror(errno));
        if ((spins & 1023) == 0 || !spinning)
            check_deadline();
    }
}

/* Reads exactly len bytes; dies at end-of-stream. */
static void io_recv_all(int fd, void *buf, size_t len)
{
    for (size_t have = 0; have < len;) {
        size_t n = io_recv(fd, (char *)buf + have, len - have);
        if (n == 0)
            die("the peer closed the connection early");
        have += n;
    }
}

/* Writes all len bytes. */
static void io_send_all(int fd, const void *buf, size_t len)
{
    size_t off = 0;
    for (unsigned spins = 0; off < len; spins++) {
        ssize_t n = A->send(fd, (const char *)buf + off, len - off,
                            MSG_NOSIGNAL | (spinning ? MSG_DONTWAIT : 0));
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            die("send: %s", strerror(errno));
        if ((spins & 1023) == 0 || !spinning)
            check_deadline();
    }
}

static void set_int(int fd, int level, int name, int v, const char *what)
{
    if (A->setsockopt(fd, level, name, &v, sizeof(v)) < 0)
        die("%s: %s", what, strerror(errno));
}

/* A bound guard on blocking calls: a blocking recv that waits this long has failed. */
static void set_timeouts(int fd)
{
    struct timeval tv = { .tv_sec = 10 };
    if (A->setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
        A->setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
        die("SO_RCVTIMEO/SO_SNDTIMEO: %s", strerror(errno));
}

static struct sockaddr_in server_addr(const struct opts *o)
{
    return sockaddr_of(o->ustack ? "198.18.0.2" : o->addr, PORT);
}

/* ---- Setting up a side: its stack (ustack) or its namespace (kernel) ---- */

static struct ust_stack *make_stack(const struct opts *o, int server);

static struct ust_stack *side_init(const struct opts *o, int server)
{
    pin(o->cores[server]);
    if (!o->ustack) {
        if (o->netns[server][0]) {
            char path[160];
            snprintf(path, sizeof(path), "/run/netns/%s", o->netns[server]);
            int nfd = open(path, O_RDONLY | O_CLOEXEC);
            if (nfd < 0 || setns(nfd, CLONE_NEWNET) < 0)
                die("cannot join namespace %s: %s", path, strerror(errno));
            close(nfd);
        }
        return NULL;
    }
    return make_stack(o, server);
}

/* A stack on the wire's side 0 (client, .1) or 1 (server, .2). */
static struct ust_stack *make_stack(const struct opts *o, int server)
{
    struct ust_config cfg;
    ust_config_defaults(&cfg);
    char link[160], num[32];
    /* Each stack's MTU as the wire's, at most what a 64 KiB pool buffer holds. */
    unsigned long mtu = o->mtu > 65386 ? 65386 : o->mtu;
    snprintf(link, sizeof(link), "shm:%s,side=%d,mtu=%lu", o->wire, server,
             o->mtu > 65458 ? 65458ul : o->mtu);
    snprintf(num, sizeof(num), "%lu", mtu);
    if (ust_config_set(&cfg, "link", link) || ust_config_set(&cfg, "mtu", num) ||
        ust_config_set(&cfg, "addr", server ? "198.18.0.2/24" : "198.18.0.1/24") ||
        ust_config_set(&cfg, "spin_us", o->spin ? "10000000" : "0") ||
        ust_config_set(&cfg, "spin_signals", o->spin ? "0" : "1") ||
        ust_config_set(&cfg, "private_fds", "1") ||
        ust_config_set(&cfg, "log", getenv("SHM_TCP_LOG") ? getenv("SHM_TCP_LOG") : "error"))
        die("bad configuration");
    if (mtu > 9000 && ust_config_set(&cfg, "pool_buffers", "2048"))
        die("bad configuration");
    struct ust_stack *s = ust_stack_create(&cfg);
    if (!s)
        die("cannot make a stack on %s: %s", link, strerror(errno));
    return s;
}

/* ---- Server ---- */

static int listen_socket(const struct opts *o)
{
    int lfd = A->socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0)
        die("socket: %s", strerror(errno));
    set_int(lfd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
    struct sockaddr_in sin = server_addr(o);
    if (A->bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || A->listen(lfd, 1024) < 0)
        die("bind/listen: %s", strerror(errno));
    return lfd;
}

static int accept_one(int lfd)
{
    for (;;) {
        int fd = A->accept(lfd, NULL, NULL);
        if (fd >= 0)
            return fd;
        if (errno != EINTR && errno != EAGAIN)
            die("accept: %s", strerror(errno));
        check_deadline();
    }
}

static void serve(const struct opts *o, int lfd)
{
    static char buf[CHUNK];
    if (strcmp(o->what, "conn") == 0) {
        for (unsigned long i = 0; i < o->count; i++) {
            int fd = accept_one(lfd);
            set_timeouts(fd);
            io_recv_all(fd, buf, 1);
            io_send_all(fd, buf, 1);
            A->close(fd);
        }
        return;
    }
    int fd = accept_one(lfd);
    set_timeouts(fd);
    if (strcmp(o->what, "rtt") == 0)
        set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
    unsigned long long got = 0;
    for (size_t n; (n = io_recv(fd, buf, sizeof(buf))) > 0;) {
        got += n;
        if (strcmp(o->what, "rtt") == 0)
            io_send_all(fd, buf, n);
        else if (got == o->bytes)
            io_send_all(fd, "k", 1);   /* everything arrived */
    }
    A->close(fd);
}

static int run_server(const struct opts *o, int ready_fd)
{
    struct ust_stack *s = side_init(o, 1);
    int lfd = listen_socket(o);
    if (write(ready_fd, "r", 1) != 1)
        die("cannot tell the client");
    serve(o, lfd);
    A->close(lfd);
    if (s) {
        /* Stay until the client has closed its side of the wire: leaving first would take the
         * link down under its last segments. */
        while (ust_stack_poll(s, NULL) >= 0 && now_ns() < give_up_ns) {
            uint64_t v;
            if (ust_stack_counter(s, "stack.link_errors", &v) == 0 && v)
                break;
            usleep(1000);
        }
        ust_stack_destroy(s);
    }
    return 0;
}

/* ---- Client ---- */

static int connect_to(const struct opts *o)
{
    int fd = A->socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    set_timeouts(fd);
    struct sockaddr_in sin = server_addr(o);
    if (A->connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
        die("connect: %s", strerror(errno));
    return fd;
}

static void fill(uint8_t *buf, size_t size, uint64_t seq)
{
    uint32_t x = (uint32_t)seq * 2654435761u + 1;
    for (size_t i = 0; i < size; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 24);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void client_rtt(const struct opts *o)
{
    int fd = connect_to(o);
    set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
    uint64_t *rtt = malloc(o->count * sizeof(*rtt));
    static uint8_t req[CHUNK], rep[CHUNK];
    if (!rtt)
        die("out of memory");
    for (unsigned long i = 0; i < o->warmup + o->count; i++) {
        fill(req, o->size, i);
        uint64_t t0 = now_ns();
        io_send_all(fd, req, o->size);
        io_recv_all(fd, rep, o->size);
        uint64_t t1 = now_ns();
        if (memcmp(req, rep, o->size) != 0)
            die("round trip %lu: the reply differs from the request", i);
        if (i >= o->warmup)
            rtt[i - o->warmup] = t1 - t0;
    }
    A->close(fd);
    qsort(rtt, o->count, sizeof(*rtt), cmp_u64);
    size_t n = o->count, p99 = (size_t)((double)n * 0.99);
    double median = n % 2 ? (double)rtt[n / 2] : ((double)rtt[n / 2 - 1] + (double)rtt[n / 2]) / 2;
    printf("{\"value\": %.3f, \"median_us\": %.3f, \"p99_us\": %.3f, \"min_us\": %.3f, "
           "\"count\": %lu, \"size\": %lu", median / 1000, median / 1000,
           (double)rtt[p99 < n ? p99 : n - 1] / 1000, (double)rtt[0] / 1000, o->count, o->size);
    free(rtt);
}

static void client_bulk(const struct opts *o)
{
    static uint8_t buf[CHUNK];
    fill(buf, sizeof(buf), 1);
    int fd = connect_to(o);
    uint64_t t0 = now_ns();
    for (unsigned long long sent = 0; sent < o->bytes;) {
        size_t n = o->bytes - sent < CHUNK ? (size_t)(o->bytes - sent) : CHUNK;
        io_send_all(fd, buf, n);
        sent += n;
    }
    char k;
    io_recv_all(fd, &k, 1);
    uint64_t t1 = now_ns();
    A->close(fd);
    double s = (double)(t1 - t0) / 1e9;
    printf("{\"value\": %.3f, \"bytes\": %llu, \"seconds\": %.4f", (double)o->bytes * 8 / s / 1e9,
           o->bytes, s);
}

static void client_conn(const struct opts *o)
{
    uint64_t t0 = now_ns();
    for (unsigned long i = 0; i < o->count; i++) {
        int fd = connect_to(o);
        char c = 'c', r;
        io_send_all(fd, &c, 1);
        io_recv_all(fd, &r, 1);
        if (io_recv(fd, &r, 1) != 0)
            die("connection %lu: data after the answer", i);
        A->close(fd);
    }
    uint64_t t1 = now_ns();
    double s = (double)(t1 - t0) / 1e9;
    printf("{\"value\": %.1f, \"conns\": %lu, \"seconds\": %.4f", (double)o->count / s, o->count,
           s);
}

/* ---- conn in one process: both ends in one thread ---- */

/* A socket on stack st (ustack) or the kernel's. */
static int socket_on(struct ust_stack *st, int type)
{
    int fd = st ? ust_stack_socket(st, AF_INET, type, 0) : socket(AF_INET, type, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    return fd;
}

/* One thread runs both ends, so while one end waits, the other's stack must be driven: for
 * ustack that is a ust_stack_poll() of the other stack (the kernel's loopback does the peer's
 * work in the sender's own system call). */
static void nudge(struct ust_stack *other, unsigned *spins)
{
    if (other)
        ust_stack_poll(other, NULL);
    if ((++*spins & 1023) == 0)
        check_deadline();
}

static void one_send(int fd, struct ust_stack *other)
{
    unsigned spins = 0;
    while (A->send(fd, "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1) {
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            die("send: %s", strerror(errno));
        nudge(other, &spins);
    }
}

/* Reads one byte (want_eof: end-of-stream) from fd. */
static void one_recv(int fd, struct ust_stack *other, bool want_eof)
{
    unsigned spins = 0;
    char c;
    ssize_t n;
    while ((n = A->recv(fd, &c, 1, MSG_DONTWAIT)) < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            die("recv: %s", strerror(errno));
        nudge(other, &spins);
    }
    if (n != (want_eof ? 0 : 1))
        die("recv: %s", want_eof ? "data instead of end-of-stream" : "end-of-stream");
}

static void conn_one_process(const struct opts *o)
{
    pin(o->cores[0]);
    struct ust_stack *ss = o->ustack ? make_stack(o, 1) : NULL;
    struct ust_stack *cs = o->ustack ? make_stack(o, 0) : NULL;
    int lfd = socket_on(ss, SOCK_STREAM | SOCK_NONBLOCK);
    set_int(lfd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
    struct sockaddr_in sin = server_addr(o);
    if (A->bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || A->listen(lfd, 1024) < 0)
        die("bind/listen: %s", strerror(errno));
    uint64_t t0 = now_ns();
    for (unsigned long i = 0; i < o->count; i++) {
        int c = socket_on(cs, SOCK_STREAM | SOCK_NONBLOCK), s;
        if (A->connect(c, (struct sockaddr *)&sin, sizeof(sin)) < 0 && errno != EINPROGRESS)
            die("connect: %s", strerror(errno));
        unsigned spins = 0;
        while ((s = A->accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                die("accept: %s", strerror(errno));
            nudge(cs, &spins);
        }
        one_send(c, ss);
        one_recv(s, cs, false);
        one_send(s, cs);
        A->close(s);
        one_recv(c, ss, false);
        one_recv(c, ss, true);
        A->close(c);
    }
    uint64_t t1 = now_ns();
    A->close(lfd);
    double secs = (double)(t1 - t0) / 1e9;
    printf("{\"value\": %.1f, \"conns\": %lu, \"seconds\": %.4f, \"procs\": 1",
           (double)o->count / secs, o->count, secs);
    if (cs) {
        /* The server's last ACKs, then both stacks go. */
        for (int k = 0; k < 100; k++)
            ust_stack_poll(ss, NULL), ust_stack_poll(cs, NULL);
        ust_stack_destroy(cs);
        ust_stack_destroy(ss);
    }
}

static void print_counters(struct ust_stack *s)
{
    static const char *const names[] = { "tcp.out_segs", "tcp.in_segs", "stack.polls",
                                         "tcp.retrans_segs", "stack.tx_drop_link_full" };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        uint64_t v;
        if (ust_stack_counter(s, names[i], &v) == 0)
            printf(", \"client_%s\": %" PRIu64, names[i], v);
    }
}

static int run_client(const struct opts *o)
{
    struct ust_stack *s = side_init(o, 0);
    if (strcmp(o->what, "rtt") == 0)
        client_rtt(o);
    else if (strcmp(o->what, "bulk") == 0)
        client_bulk(o);
    else
        client_conn(o);
    if (s)
        print_counters(s);
    printf(", \"api\": \"%s\", \"poll\": \"%s\", \"cores\": \"%d,%d\"}\n",
           o->ustack ? "ustack" : "kernel", o->spin ? "spin" : "block", o->cores[0], o->cores[1]);
    fflush(stdout);
    if (s) {
        /* Let the last FIN and ACKs reach the server before the wire goes. */
        uint64_t until = now_ns() + 20 * 1000000ull;
        while (now_ns() < until && ust_stack_poll(s, NULL) >= 0)
            ;
        ust_stack_destroy(s);
    }
    return 0;
}

/* ---- Options and the two processes ---- */

static void usage(void)
{
    fputs("usage: shm_tcp rtt|bulk|conn api=ustack|kernel [poll=spin|block] [cores=C,S]\n"
          "         [size=64] [count=N] [warmup=N] [bytes=N] [mtu=1500] [addr=127.0.0.1]\n"
          "         [netns=SERVER_NS,CLIENT_NS] [max_seconds=240] [ms=N (ignored)]\n", stderr);
    exit(2);
}

static void parse(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){ .what = argv[1], .cores = { 0, 1 }, .size = 64, .count = 0, .procs = 2,
                        .warmup = 2000, .mtu = 1500, .max_seconds = 240, .bytes = 1ull << 30,
                        .addr = "127.0.0.1" };
    if (strcmp(o->what, "rtt") && strcmp(o->what, "bulk") && strcmp(o->what, "conn"))
        usage();
    bool have_api = false;
    for (int i = 2; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq)
            usage();
        *eq = 0;
        const char *k = argv[i], *v = eq + 1;
        if (strcmp(k, "api") == 0)
            o->ustack = strcmp(v, "ustack") == 0, have_api = o->ustack || !strcmp(v, "kernel");
        else if (strcmp(k, "poll") == 0 && (!strcmp(v, "spin") || !strcmp(v, "block")))
            o->spin = strcmp(v, "spin") == 0;
        else if (strcmp(k, "cores") == 0) {
            if (sscanf(v, "%d,%d", &o->cores[0], &o->cores[1]) != 2)
                usage();
        } else if (strcmp(k, "size") == 0)
            o->size = (unsigned long)parse_num(k, v, 1, CHUNK);
        else if (strcmp(k, "count") == 0)
            o->count = (unsigned long)parse_num(k, v, 1, MAX_COUNT);
        else if (strcmp(k, "warmup") == 0)
            o->warmup = (unsigned long)parse_num(k, v, 0, MAX_COUNT);
        else if (strcmp(k, "bytes") == 0)
            o->bytes = parse_num(k, v, 1, 1ull << 40);
        else if (strcmp(k, "mtu") == 0)
            o->mtu = (unsigned long)parse_num(k, v, 576, 65535);
        else if (strcmp(k, "procs") == 0)
            o->procs = (unsigned long)parse_num(k, v, 1, 2);
        else if (strcmp(k, "max_seconds") == 0)
            o->max_seconds = (unsigned long)parse_num(k, v, 1, 3600);
        else if (strcmp(k, "addr") == 0)
            o->addr = v;
        else if (strcmp(k, "netns") == 0) {
            if (sscanf(v, "%127[^,],%127s", o->netns[1], o->netns[0]) != 2)
                usage();
        } else if (strcmp(k, "ms") != 0)   /* the harness's run length: runs are counted */
            usage();
    }
    if (!have_api)
        usage();
    if (!o->count)
        o->count = strcmp(o->what, "conn") == 0 ? 20000 : 20000;
    snprintf(o->wire, sizeof(o->wire), "/dev/shm/ust-bench-tcp-%d", (int)getpid());
}

static void remove_wire(const struct opts *o)
{
    char path[128];
    unlink(o->wire);
    for (int d = 0; d < 2; d++) {
        snprintf(path, sizeof(path), "%s.door%d", o->wire, d);
        unlink(path);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3)
        usage();
    struct opts o;
    parse(argc, argv, &o);
    A = o.ustack ? &ustack_api : &kernel_api;
    spinning = o.spin;
    handle_signals();
    give_up_ns = now_ns() + (uint64_t)o.max_seconds * 1000000000u;
    remove_wire(&o);
    if (o.procs == 1) {
        if (strcmp(o.what, "conn") != 0)
            die("procs=1 is for conn only");
        conn_one_process(&o);
        printf(", \"api\": \"%s\", \"poll\": \"spin\", \"cores\": \"%d\"}\n",
               o.ustack ? "ustack" : "kernel", o.cores[0]);
        remove_wire(&o);
        return 0;
    }
    int fds[2];
    if (pipe(fds) != 0)
        die("pipe: %s", strerror(errno));
    pid_t child = fork();
    if (child < 0)
        die("fork: %s", strerror(errno));
    if (child == 0) {
        close(fds[0]);
        alarm((unsigned)o.max_seconds + 5);
        exit(run_server(&o, fds[1]));
    }
    close(fds[1]);
    char ready;
    bool ok = read(fds[0], &ready, 1) == 1;
    int rc = ok ? run_client(&o) : 1;
    int status = 0;
    if (!ok)
        kill(child, SIGKILL);
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status))
        rc = 1, fprintf(stderr, "shm_tcp: the server failed (status %#x)\n", status);
    remove_wire(&o);
    return rc;
}
