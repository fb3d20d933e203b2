/*
 * tcp_bulk: single-stream TCP bulk transfer on the kernel's sockets, the client side of the
 * tcp-bulk scenarios and the kernel's server for their baseline. bench/run.py runs the client
 * against `ustack echo --discard/--source --no-hash` (over a TAP device) and against this
 * program's own server (over a veth pair), in network namespaces.
 *
 *   tcp_bulk server --addr IP [--port 5201] --discard|--source BYTES [--lifetime S]
 *       Serves one connection at a time, as `ustack echo` does: --discard reads (64 KiB at a
 *       time) and counts until the peer closes; --source writes BYTES of the test stream (the
 *       one tools/ generate: 8-byte word i is splitmix64(i), little-endian), 64 KiB at a time,
 *       then shuts its side down and reads until the peer closes. No hashing (ustack echo runs
 *       with --no-hash). Blocking calls. Prints "tcp_bulk server: ready ..." once listening;
 *       exits on SIGINT/SIGTERM or after S seconds (default 600).
 *
 *   tcp_bulk client --to IP [--port 5201] --send BYTES | --recv [--max-seconds 60]
 *       --send: connects, writes BYTES (128 KiB writes of a fixed pattern, as iperf3 does),
 *       shuts its side down and reads until the server closes: the time runs from the
 *       connection's establishment to that end of stream, so it covers every byte delivered.
 *       --recv: connects and reads (128 KiB at a time) until the server closes; the time runs
 *       from establishment to end of stream. Prints one JSON line: {"value": Gbit/s,
 *       "bytes", "seconds", "client_cpu_s", "client_sys_share"}. Exit status 0, or 1 on failure
 *       (message on stderr); a transfer that lasts longer than max-seconds fails.
 *
 * Pinning is left to taskset; the program never changes its affinity.
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
#include <time.h>
#include <unistd.h>

#include "kprog.h"

#define SERVER_CHUNK 65536u       /* as tools/tcp_serve.c */
#define CLIENT_CHUNK 131072u      /* iperf3's default write size */

const char *const kprog_name = "tcp_bulk";

static void usage(void)
{
    fputs("usage: tcp_bulk server --addr IP [--port N] --discard|--source BYTES [--lifetime S]\n"
          "       tcp_bulk client --to IP [--port N] --send BYTES|--recv [--max-seconds S]\n",
          stderr);
    exit(2);
}

struct opts {
    const char *addr;
    unsigned long port, lifetime, max_seconds;
    bool discard, recv;
    unsigned long long source, send;
};

static void parse(int argc, char **argv, struct opts *o, bool server)
{
    *o = (struct opts){ .port = 5201, .lifetime = 600, .max_seconds = 60 };
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (server && strcmp(a, "--discard") == 0) {
            o->discard = true;
            continue;
        }
        if (!server && strcmp(a, "--recv") == 0) {
            o->recv = true;
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        i++;
        if (strcmp(a, server ? "--addr" : "--to") == 0)
            o->addr = v;
        else if (strcmp(a, "--port") == 0)
            o->port = (unsigned long)parse_num(a, v, 1, 65535);
        else if (server && strcmp(a, "--source") == 0)
            o->source = parse_num(a, v, 1, 1ull << 40);
        else if (server && strcmp(a, "--lifetime") == 0)
            o->lifetime = (unsigned long)parse_num(a, v, 1, 86400);
        else if (!server && strcmp(a, "--send") == 0)
            o->send = parse_num(a, v, 1, 1ull << 40);
        else if (!server && strcmp(a, "--max-seconds") == 0)
            o->max_seconds = (unsigned long)parse_num(a, v, 1, 3600);
        else
            usage();
    }
    if (!o->addr || (server && o->discard == (o->source != 0)) ||
        (!server && o->recv == (o->send != 0)))
        usage();
}

/* The test stream (tools/tool_common.c): word i is splitmix64(i). */
static inline uint64_t stream_word(uint64_t i)
{
    uint64_t z = i * UINT64_C(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Fills buf with stream bytes [offset, offset + n); offset and n multiples of 8 except at the
 * very end. */
static void stream_fill(uint64_t offset, uint8_t *buf, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = stream_word((offset + i) >> 3);
        memcpy(buf + i, &w, 8);
    }
    if (i < n) {
        uint64_t w = stream_word((offset + i) >> 3);
        memcpy(buf + i, &w, n - i);
    }
}

/* Reads until end of stream; returns bytes read, or -1 if stopped or on error. */
static long long read_to_end(int fd, uint8_t *buf, size_t cap, uint64_t deadline)
{
    long long total = 0;
    for (;;) {
        ssize_t n = recv(fd, buf, cap, 0);
        if (n == 0)
            return total;
        if (n < 0) {
            if (errno == EINTR && !stop_requested && now_ns() < deadline)
                continue;
            return -1;
        }
        total += n;
    }
}

/* ---- Server ---- */

static void serve_one(int fd, const struct opts *o, uint64_t deadline)
{
    static uint8_t buf[SERVER_CHUNK];
    if (o->discard) {
        long long got = read_to_end(fd, buf, sizeof(buf), deadline);
        printf("tcp_bulk server: discarded %lld bytes\n", got);
        fflush(stdout);
        return;
    }
    uint64_t sent = 0;
    while (sent < o->source && !stop_requested) {
        size_t n = o->source - sent < sizeof(buf) ? (size_t)(o->source - sent) : sizeof(buf);
        stream_fill(sent, buf, n);
        for (size_t off = 0; off < n;) {
            ssize_t w = send(fd, buf + off, n - off, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EINTR && !stop_requested)
                    continue;
                printf("tcp_bulk server: send failed after %" PRIu64 " bytes: %s\n", sent + off,
                       strerror(errno));
                return;
            }
            off += (size_t)w;
        }
        sent += n;
    }
    shutdown(fd, SHUT_WR);
    read_to_end(fd, buf, sizeof(buf), deadline);
    printf("tcp_bulk server: sent %" PRIu64 " bytes\n", sent);
    fflush(stdout);
}

static int run_server(const struct opts *o)
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
    printf("tcp_bulk server: ready on %s:%lu (%s)\n", o->addr, o->port,
           o->discard ? "discard" : "source");
    fflush(stdout);
    while (!stop_requested) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            die("accept: %s", strerror(errno));
        }
        serve_one(fd, o, deadline);
        close(fd);
    }
    close(lfd);
    return 0;
}

/* ---- Client ---- */

static double cpu_s(const struct rusage *ru, bool sys)
{
    const struct timeval *tv = sys ? &ru->ru_stime : &ru->ru_utime;
    return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

static int run_client(const struct opts *o)
{
    static uint8_t buf[CLIENT_CHUNK];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    handle_signals();
    alarm((unsigned)o->max_seconds + 5);   /* a last resort */
    struct sockaddr_in to = sockaddr_of(o->addr, o->port);
    if (connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0)
        die("connect %s:%lu: %s", o->addr, o->port, strerror(errno));
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    uint64_t t0 = now_ns(), deadline = t0 + o->max_seconds * 1000000000ull;
    long long bytes;
    if (o->recv) {
        bytes = read_to_end(fd, buf, sizeof(buf), deadline);
        if (bytes < 0)
            die("recv: %s", stop_requested ? "timed out" : strerror(errno));
    } else {
        for (size_t i = 0; i < sizeof(buf); i++)
            buf[i] = (uint8_t)(i * 131 + 7);
        unsigned long long sent = 0;
        while (sent < o->send) {
            size_t n = o->send - sent < sizeof(buf) ? (size_t)(o->send - sent) : sizeof(buf);
            ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EINTR && !stop_requested)
                    continue;
                die("send after %llu bytes: %s", sent,
                    stop_requested ? "timed out" : strerror(errno));
            }
            sent += (unsigned long long)w;
        }
        shutdown(fd, SHUT_WR);
        if (read_to_end(fd, buf, sizeof(buf), deadline) < 0)
            die("waiting for the server to close: %s",
                stop_requested ? "timed out" : strerror(errno));
        bytes = (long long)sent;
    }
    uint64_t t1 = now_ns();
    getrusage(RUSAGE_SELF, &r1);
    close(fd);
    double seconds = (double)(t1 - t0) / 1e9;
    double user = cpu_s(&r1, false) - cpu_s(&r0, false), sys = cpu_s(&r1, true) - cpu_s(&r0, true);
    if (bytes <= 0)
        die("no bytes transferred");
    printf("{\"value\": %.4f, \"gbit_s\": %.4f, \"bytes\": %lld, \"seconds\": %.4f, "
           "\"direction\": \"%s\", \"client_cpu_s\": %.4f, \"client_sys_share\": %.4f}\n",
           (double)bytes * 8 / seconds / 1e9, (double)bytes * 8 / seconds / 1e9, bytes, seconds,
           o->recv ? "server to client" : "client to server", user + sys,
           user + sys > 0 ? sys / (user + sys) : 0);
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
