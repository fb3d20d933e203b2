/*
 * udp_rtt: a UDP (or, with --tcp, TCP) request/response round-trip client and echo server, on
 * the kernel's sockets. bench/run.py runs the client against `ustack echo` (over a TAP device)
 * and against this program's own server (over a veth pair), in network namespaces (scenario
 * groups udp-rtt and tcp-rtt).
 *
 * --tcp (client and server): one TCP connection per client invocation, TCP_NODELAY on both
 * ends. The server accepts one connection at a time and echoes whatever arrives, all of it,
 * until the client closes. The client writes each request whole and reads until the whole
 * reply is there (a reply may arrive in pieces); a read that times out is a failure (TCP
 * loses nothing), so "lost" is always 0. The rest is as for UDP.
 *
 *   udp_rtt server --addr IP [--port 7] [--spin] [--lifetime S]
 *       Echoes every datagram to its sender. Blocking recvfrom by default; --spin polls with
 *       recvfrom(MSG_DONTWAIT) in a loop and never sleeps. Prints "udp_rtt server: ready ..."
 *       once bound; exits on SIGINT/SIGTERM (printing how many datagrams it echoed) or after
 *       S seconds (default 600), whichever comes first.
 *
 *   udp_rtt client --to IP [--port 7] [--size 64] [--count 20000] [--warmup 2000] [--spin]
 *                  [--timeout-ms 200] [--max-seconds 60]
 *       Sends `warmup` + `count` requests of `size` bytes one at a time on a connected socket,
 *       waiting for each reply before the next. Blocking recv by default (SO_RCVTIMEO bounds
 *       it); --spin polls with recv(MSG_DONTWAIT). Each request carries its sequence number and
 *       a pattern derived from it; a reply must be the same bytes, else the client fails (a
 *       reply to an earlier, timed-out request is skipped). A request without a reply within
 *       timeout-ms counts as lost; more than 1% lost, or max-seconds passing, is a failure.
 *       The round trip is CLOCK_MONOTONIC from before send to after the reply's recv.
 *       Prints one JSON line: {"value": median_us, "median_us", "p99_us", "mean_us", "min_us",
 *       "max_us", "count", "lost", ...} and, per measured round trip, the client's own CPU time
 *       on the vCPU (/proc/self/schedstat), its user and system time and voluntary context
 *       switches (getrusage): "client_cpu_us", "client_user_us", "client_sys_us",
 *       "client_sleeps". Exit status 0, or 1 on failure (message on stderr).
 *
 * Pinning is left to taskset; the program itself never changes its affinity.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "kprog.h"

#define MAX_SIZE 1472u            /* one Ethernet frame at MTU 1500 */
#define MAX_COUNT 10000000u
#define MIN_SIZE 8u               /* the sequence number */
#define LOSS_LIMIT_PERMILLE 10u   /* more than 1% lost fails the run */

const char *const kprog_name = "udp_rtt";

static void usage(void)
{
    fputs("usage: udp_rtt server --addr IP [--port N] [--spin] [--tcp] [--lifetime S]\n"
          "       udp_rtt client --to IP [--port N] [--size B] [--count N] [--warmup N] [--spin]\n"
          "                      [--tcp] [--timeout-ms T] [--max-seconds S]\n",
          stderr);
    exit(2);
}

struct opts {
    const char *addr;
    unsigned long port, size, count, warmup, timeout_ms, max_seconds, lifetime;
    bool spin, tcp;
};

static void parse(int argc, char **argv, struct opts *o, bool server)
{
    *o = (struct opts){ .port = 7, .size = 64, .count = 20000, .warmup = 2000,
                        .timeout_ms = 200, .max_seconds = 60, .lifetime = 600 };
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--spin") == 0) {
            o->spin = true;
            continue;
        }
        if (strcmp(a, "--tcp") == 0) {
            o->tcp = true;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (strcmp(a, server ? "--addr" : "--to") == 0)
            o->addr = v;
        else if (strcmp(a, "--port") == 0)
            o->port = (unsigned long)parse_num(a, v, 1, 65535);
        else if (server && strcmp(a, "--lifetime") == 0)
            o->lifetime = (unsigned long)parse_num(a, v, 1, 86400);
        else if (!server && strcmp(a, "--size") == 0)
            o->size = (unsigned long)parse_num(a, v, MIN_SIZE, MAX_SIZE);
        else if (!server && strcmp(a, "--count") == 0)
            o->count = (unsigned long)parse_num(a, v, 1, MAX_COUNT);
        else if (!server && strcmp(a, "--warmup") == 0)
            o->warmup = (unsigned long)parse_num(a, v, 0, MAX_COUNT);
        else if (!server && strcmp(a, "--timeout-ms") == 0)
            o->timeout_ms = (unsigned long)parse_num(a, v, 1, 10000);
        else if (!server && strcmp(a, "--max-seconds") == 0)
            o->max_seconds = (unsigned long)parse_num(a, v, 1, 3600);
        else
            usage();
    }
    if (!o->addr)
        usage();
}

/* ---- Server ---- */

static void set_nodelay(int fd)
{
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
        die("TCP_NODELAY: %s", strerror(errno));
}

/* Echoes one connection until the peer closes it (or we are stopped); returns bytes echoed. */
static uint64_t tcp_echo_conn(int fd, const struct opts *o, uint64_t deadline)
{
    static char buf[65536];
    uint64_t echoed = 0, polls = 0;
    while (!stop_requested) {
        ssize_t n = recv(fd, buf, sizeof(buf), o->spin ? MSG_DONTWAIT : 0);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if ((++polls & 0xffff) == 0 && now_ns() > deadline)
                    break;
                continue;
            }
            if (errno == EINTR)
                continue;
            if (errno == ECONNRESET)
                break;
            die("recv: %s", strerror(errno));
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = send(fd, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EINTR && !stop_requested)
                    continue;
                return echoed;
            }
            off += w;
        }
        echoed += (uint64_t)n;
    }
    return echoed;
}

static int run_tcp_server(const struct opts *o)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0)
        die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sin = sockaddr_of(o->addr, o->port);
    if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(lfd, 8) < 0)
        die("bind/listen %s:%lu: %s", o->addr, o->port, strerror(errno));
    handle_signals();
    alarm((unsigned)o->lifetime);
    uint64_t deadline = now_ns() + (uint64_t)o->lifetime * 1000000000u;
    printf("udp_rtt server: ready on %s:%lu (tcp, %s)\n", o->addr, o->port,
           o->spin ? "spinning: recv(MSG_DONTWAIT) in a loop" : "blocking recv");
    fflush(stdout);
    uint64_t echoed = 0, conns = 0;
    while (!stop_requested) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            die("accept: %s", strerror(errno));
        }
        set_nodelay(fd);
        echoed += tcp_echo_conn(fd, o, deadline);
        conns++;
        close(fd);
    }
    printf("udp_rtt server: echoed %" PRIu64 " bytes on %" PRIu64 " connections\n", echoed,
           conns);
    close(lfd);
    return 0;
}

static int run_server(const struct opts *o)
{
    if (o->tcp)
        return run_tcp_server(o);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    struct sockaddr_in sin = sockaddr_of(o->addr, o->port);
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
        die("bind %s:%lu: %s", o->addr, o->port, strerror(errno));
    handle_signals();
    alarm((unsigned)o->lifetime);
    uint64_t deadline = now_ns() + (uint64_t)o->lifetime * 1000000000u;
    printf("udp_rtt server: ready on %s:%lu (%s)\n", o->addr, o->port,
           o->spin ? "spinning: recvfrom(MSG_DONTWAIT) in a loop" : "blocking recvfrom");
    fflush(stdout);

    static char buf[65536];
    uint64_t echoed = 0, polls = 0;
    while (!stop_requested) {
        struct sockaddr_in from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(fd, buf, sizeof(buf), o->spin ? MSG_DONTWAIT : 0,
                             (struct sockaddr *)&from, &fl);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                /* Spinning: the signal handler and SIGALRM end us; the deadline is a second
                 * bound in case a signal is missed. */
                if ((++polls & 0xffff) == 0 && now_ns() > deadline)
                    break;
                continue;
            }
            if (errno == EINTR)
                continue;
            die("recvfrom: %s", strerror(errno));
        }
        if (sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl) != n)
            die("sendto: %s", n < 0 ? strerror(errno) : "short");
        echoed++;
    }
    printf("udp_rtt server: echoed %" PRIu64 " datagrams\n", echoed);
    close(fd);
    return 0;
}

/* ---- Client ---- */

static void fill(uint8_t *buf, size_t size, uint64_t seq)
{
    memcpy(buf, &seq, sizeof(seq));
    uint32_t x = (uint32_t)seq * 2654435761u + 1;
    for (size_t i = sizeof(seq); i < size; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 24);
    }
}

/* Time this thread has run on a CPU (ns), from /proc/self/schedstat; 0 if unavailable. */
static uint64_t oncpu_ns(void)
{
    FILE *f = fopen("/proc/self/schedstat", "r");
    unsigned long long ns = 0;
    if (f) {
        if (fscanf(f, "%llu", &ns) != 1)
            ns = 0;
        fclose(f);
    }
    return ns;
}

struct usage {
    uint64_t oncpu_ns, user_us, sys_us, nvcsw;
};

static struct usage usage_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (struct usage){
        .oncpu_ns = oncpu_ns(),
        .user_us = (uint64_t)ru.ru_utime.tv_sec * 1000000u + (uint64_t)ru.ru_utime.tv_usec,
        .sys_us = (uint64_t)ru.ru_stime.tv_sec * 1000000u + (uint64_t)ru.ru_stime.tv_usec,
        .nvcsw = (uint64_t)ru.ru_nvcsw,
    };
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of sorted v[0..n), nearest rank. */
static double quantile_us(const uint64_t *v, size_t n, double q)
{
    size_t rank = (size_t)(q * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)v[rank - 1] / 1000.0;
}

static double median_us(const uint64_t *v, size_t n)
{
    if (n % 2)
        return (double)v[n / 2] / 1000.0;
    return ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2000.0;
}

/* TCP: reads the whole reply to `seq` (it may come in pieces); returns the time the last piece
 * arrived. A timeout is fatal: TCP does not lose replies. */
static uint64_t await_tcp_reply(int fd, const struct opts *o, const uint8_t *want, uint8_t *got,
                                uint64_t seq)
{
    uint64_t give_up = now_ns() + o->timeout_ms * 1000000u;
    uint64_t spins = 0, t = 0;
    size_t have = 0;
    while (have < o->size) {
        ssize_t n = recv(fd, got + have, o->size - have, o->spin ? MSG_DONTWAIT : 0);
        t = now_ns();
        if (n == 0)
            die("request %" PRIu64 ": the server closed the connection", seq);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (!o->spin || ((++spins & 0xff) == 0 && t > give_up))
                    die("request %" PRIu64 ": no reply within %lu ms", seq, o->timeout_ms);
                continue;
            }
            if (errno == EINTR && !stop_requested)
                continue;
            die("recv: %s", strerror(errno));
        }
        have += (size_t)n;
    }
    if (memcmp(got, want, o->size) != 0)
        die("request %" PRIu64 ": the reply differs from the request", seq);
    return t;
}

/* Waits for the reply to `seq`; returns its round trip end time, or 0 if it timed out. */
static uint64_t await_reply(int fd, const struct opts *o, const uint8_t *want, uint8_t *got,
                            uint64_t seq, uint64_t *stale)
{
    uint64_t give_up = now_ns() + o->timeout_ms * 1000000u;
    uint64_t spins = 0;
    for (;;) {
        ssize_t n = recv(fd, got, MAX_SIZE + 1, o->spin ? MSG_DONTWAIT : 0);
        uint64_t t = now_ns();
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (!o->spin || ((++spins & 0xff) == 0 && t > give_up))
                    return 0;   /* blocking: SO_RCVTIMEO expired */
                continue;
            }
            if (errno == EINTR && !stop_requested)
                continue;
            if (errno == ECONNREFUSED)
                die("request %" PRIu64 ": connection refused (nothing listens at %s:%lu)",
                    seq, o->addr, o->port);
            die("recv: %s", strerror(errno));
        }
        uint64_t their;
        if ((size_t)n >= sizeof(their)) {
            memcpy(&their, got, sizeof(their));
            if (their < seq) {   /* the late reply to a request we gave up on */
                ++*stale;
                continue;
            }
        }
        if ((size_t)n != o->size || memcmp(got, want, o->size) != 0)
            die("request %" PRIu64 ": the reply (%zd bytes) differs from the request (%lu bytes)",
                seq, n, o->size);
        return t;
    }
}

static int run_client(const struct opts *o)
{
    int fd = socket(AF_INET, o->tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    struct sockaddr_in to = sockaddr_of(o->addr, o->port);
    if (connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0)
        die("connect %s:%lu: %s", o->addr, o->port, strerror(errno));
    if (o->tcp)
        set_nodelay(fd);
    struct timeval tv = { .tv_sec = (time_t)(o->timeout_ms / 1000),
                          .tv_usec = (suseconds_t)(o->timeout_ms % 1000) * 1000 };
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
        die("SO_RCVTIMEO: %s", strerror(errno));
    handle_signals();
    alarm((unsigned)o->max_seconds + 5);   /* a last resort if the loop below hangs */

    uint64_t total = o->warmup + o->count;
    uint64_t *rtt = malloc(o->count * sizeof(*rtt));
    static uint8_t req[MAX_SIZE], rep[MAX_SIZE + 1];
    if (!rtt)
        die("out of memory");
    uint64_t lost = 0, stale = 0, kept = 0;
    uint64_t started = now_ns(), deadline = started + o->max_seconds * 1000000000u;
    struct usage u0 = usage_now();
    for (uint64_t seq = 1; seq <= total; seq++) {
        if (seq == o->warmup + 1)
            u0 = usage_now();
        if (stop_requested)
            die("interrupted after %" PRIu64 " requests", seq - 1);
        fill(req, o->size, seq);
        uint64_t t0 = now_ns();
        if (t0 > deadline)
            die("still running after %lu s (%" PRIu64 " of %" PRIu64 " requests done)",
                o->max_seconds, seq - 1, total);
        ssize_t n = send(fd, req, o->size, MSG_NOSIGNAL);
        if (n != (ssize_t)o->size) {
            if (n < 0 && errno == ECONNREFUSED)
                die("request %" PRIu64 ": connection refused", seq);
            die("send: %s", n < 0 ? strerror(errno) : "short");
        }
        uint64_t t1 = o->tcp ? await_tcp_reply(fd, o, req, rep, seq)
                             : await_reply(fd, o, req, rep, seq, &stale);
        if (!t1) {
            lost++;
            if (lost * 1000 > total * LOSS_LIMIT_PERMILLE || (lost == seq && seq >= 10))
                die("%" PRIu64 " of %" PRIu64 " requests without a reply within %lu ms", lost,
                    seq, o->timeout_ms);
            continue;
        }
        if (seq > o->warmup)
            rtt[kept++] = t1 - t0;
    }
    struct usage u1 = usage_now();
    double elapsed_s = (double)(now_ns() - started) / 1e9;
    if (kept == 0)
        die("no round trip measured");
    double per = (double)(total - o->warmup);   /* requests sent in the measured phase */
    double sum = 0;
    for (uint64_t i = 0; i < kept; i++)
        sum += (double)rtt[i];
    qsort(rtt, kept, sizeof(*rtt), cmp_u64);
    printf("{\"value\": %.3f, \"median_us\": %.3f, \"p99_us\": %.3f, \"mean_us\": %.3f, "
           "\"min_us\": %.3f, \"max_us\": %.3f, \"count\": %" PRIu64 ", \"warmup\": %lu, "
           "\"lost\": %" PRIu64 ", \"stale\": %" PRIu64 ", \"size\": %lu, \"proto\": \"%s\", "
           "\"client\": \"%s\", "
           "\"elapsed_s\": %.3f, \"client_cpu_us\": %.3f, \"client_user_us\": %.3f, "
           "\"client_sys_us\": %.3f, \"client_sleeps\": %.3f}\n",
           median_us(rtt, kept), median_us(rtt, kept), quantile_us(rtt, kept, 0.99),
           sum / (double)kept / 1000.0, (double)rtt[0] / 1000.0,
           (double)rtt[kept - 1] / 1000.0, kept, o->warmup, lost, stale, o->size,
           o->tcp ? "tcp" : "udp", o->spin ? "spinning recv(MSG_DONTWAIT)" : "blocking recv", elapsed_s,
           (double)(u1.oncpu_ns - u0.oncpu_ns) / 1000.0 / per,
           (double)(u1.user_us - u0.user_us) / per, (double)(u1.sys_us - u0.sys_us) / per,
           (double)(u1.nvcsw - u0.nvcsw) / per);
    free(rtt);
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    struct opts o;
    if (strcmp(argv[1], "server") == 0) {
        parse(argc, argv, &o, true);
        return run_server(&o);
    }
    if (strcmp(argv[1], "client") == 0) {
        parse(argc, argv, &o, false);
        return run_client(&o);
    }
    usage();
}
