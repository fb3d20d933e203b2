/*
 * ustack tcp-client: connects to a server from a ustack stack, sends BYTES of the test stream
 * (then closes its sending side), reads everything the server sends until it closes, and
 * prints both byte counts and SHA-256 sums; optionally over several connections at once.
 *
 *   ustack tcp-client --link L --addr A/P --server IP:PORT [--send BYTES] [--connections N]
 *                     [--timeout-s S] [--cc NAME] [--keep-open]
 *
 * --keep-open: do not close the sending side after the data; say "tcp-client: connected" once
 * each connection is established and wait until the server closes (with --send 0, an idle
 * connection: interop_shm kills the server under it).
 *
 * With several connections it also says how many sent and received exactly what the first did.
 * At the end it prints "tcp.connections_live N": connections not closed yet (0 when all went
 * well; TIME_WAIT does not count).
 *
 * Exit status 0 if every connection completed (the peer closed, nothing failed); 1 otherwise,
 * with the errno name; 2 for a usage error.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ustack.h"

#define MAX_CONNS 4096
#define CHUNK 65536

struct client_opts {
    struct sockaddr_in server;
    unsigned long long send;
    unsigned long conns, timeout_s;
    const char *cc;
    bool stats, keep_open;
};

struct cconn {
    int fd;
    bool connected, shut, done;
    uint64_t sent;
    struct tool_hash tx, rx;
};

static int usage(FILE *f, int status)
{
    fprintf(f, "usage: ustack tcp-client --link LINK --addr ADDR/PREFIX --server IP:PORT\n"
               "         [--send BYTES] [--connections N] [--timeout-s S] [--cc NAME] [--stats]\n"
               "         [--keep-open]\n"
               "         [OPTIONS]\n");
    return status;
}

static int parse_opts(int *argc, char **argv, struct client_opts *o)
{
    *o = (struct client_opts){ .conns = 1, .timeout_s = 60 };
    bool have_server = false;
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i], *v = i + 1 < *argc ? argv[i + 1] : NULL;
        int bad = 0;
        char *end = NULL;
        if (strcmp(a, "--server") == 0 && v)
            bad = tool_parse_ipv4(v, &o->server, true), have_server = true;
        else if (strcmp(a, "--send") == 0 && v)
            o->send = strtoull(v, &end, 10), bad = *end != 0;
        else if (strcmp(a, "--connections") == 0 && v)
            bad = tool_parse_uint(v, MAX_CONNS, &o->conns) || o->conns == 0;
        else if (strcmp(a, "--timeout-s") == 0 && v)
            bad = tool_parse_uint(v, 86400, &o->timeout_s);
        else if (strcmp(a, "--cc") == 0 && v)
            o->cc = v;
        else if (strcmp(a, "--stats") == 0) {
            o->stats = true;
            continue;
        } else if (strcmp(a, "--keep-open") == 0) {
            o->keep_open = true;
            continue;
        }
        else {
            argv[out++] = argv[i];
            continue;
        }
        if (bad)
            return fprintf(stderr, "ustack tcp-client: %s %s: invalid\n", a, v), 2;
        i++;
    }
    *argc = out;
    return have_server ? 0 : usage(stderr, 2);
}

static const char *errno_name(int e)
{
    switch (e) {
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case EPIPE: return "EPIPE";
    default: return strerror(e);
    }
}

/* Moves one connection along; returns 0, or an errno when it failed. */
static int step(struct cconn *c, const struct client_opts *o, uint8_t *buf)
{
    if (!c->connected) {
        int err = 0;
        socklen_t l = sizeof(err);
        ust_getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err)
            return err;
        struct sockaddr_in peer;
        socklen_t pl = sizeof(peer);
        if (ust_getpeername(c->fd, (struct sockaddr *)&peer, &pl) < 0)
            return 0;   /* still connecting */
        c->connected = true;
        if (o->keep_open) {
            printf("tcp-client: connected\n");
            fflush(stdout);
        }
    }
    while (c->sent < o->send) {
        size_t n = o->send - c->sent < CHUNK ? (size_t)(o->send - c->sent) : CHUNK;
        tool_stream_fill(c->sent, buf, n);
        ssize_t w = ust_send(c->fd, buf, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno != EAGAIN)
                return errno;
            break;   /* the peer must read first: read what it sent us meanwhile */
        }
        tool_hash_update(&c->tx, buf, (size_t)w);
        c->sent += (uint64_t)w;
    }
    if (c->sent == o->send && !c->shut && !o->keep_open) {
        ust_shutdown(c->fd, SHUT_WR);
        c->shut = true;
    }
    for (;;) {
        ssize_t r = ust_recv(c->fd, buf, CHUNK, 0);
        if (r == 0) {
            c->done = true;
            return 0;
        }
        if (r < 0)
            return errno == EAGAIN ? 0 : errno;
        tool_hash_update(&c->rx, buf, (size_t)r);
    }
}

static int open_conn(struct cconn *c, const struct client_opts *o)
{
    c->fd = ust_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0)
        return errno;
    if (o->cc && ust_setsockopt(c->fd, IPPROTO_TCP, TCP_CONGESTION, o->cc, strlen(o->cc)) < 0)
        return errno;
    tool_hash_init(&c->tx);
    tool_hash_init(&c->rx);
    if (ust_connect(c->fd, (struct sockaddr *)&o->server, sizeof(o->server)) < 0 &&
        errno != EINPROGRESS)
        return errno;
    return 0;
}

static int run(struct cconn *cs, const struct client_opts *o)
{
    static uint8_t buf[CHUNK];
    static struct pollfd fds[MAX_CONNS];
    time_t deadline = time(NULL) + (time_t)o->timeout_s;
    unsigned left = (unsigned)o->conns;
    while (left) {
        if (time(NULL) > deadline) {
            printf("tcp-client: timed out with %u connections unfinished\n", left);
            return 1;
        }
        unsigned n = 0;
        for (unsigned i = 0; i < o->conns; i++) {
            if (cs[i].done)
                continue;
            bool writing = !cs[i].connected || cs[i].sent < o->send;
            fds[n++] = (struct pollfd){ .fd = cs[i].fd,
                                        .events = (short)(POLLIN | (writing ? POLLOUT : 0)) };
        }
        ust_poll(fds, n, 1000);
        for (unsigned i = 0; i < o->conns; i++) {
            if (cs[i].done)
                continue;
            int err = step(&cs[i], o, buf);
            if (err) {
                printf("tcp-client: connection %u: %s\n", i, errno_name(err));
                return 1;
            }
            if (cs[i].done)
                left--;
        }
    }
    return 0;
}

int cmd_tcp_client(int argc, char **argv)
{
    struct client_opts o;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return usage(stdout, 0);
    int status = parse_opts(&argc, argv, &o);
    if (status)
        return status;
    struct ust_config cfg;
    struct ust_stack *s = tool_stack("tcp-client", &cfg, &argc, argv, &status);
    if (!s)
        return status < 0 ? usage(stdout, 0) : status;
    struct cconn *cs = calloc(o.conns, sizeof(*cs));
    status = cs ? 0 : 1;
    for (unsigned i = 0; i < o.conns && !status; i++) {
        int err = open_conn(&cs[i], &o);
        if (err) {
            printf("tcp-client: connect %u: %s\n", i, errno_name(err));
            status = 1;
        }
    }
    if (!status)
        status = run(cs, &o);
    /* Connection 0's sums, and how many of the others sent and received exactly the same. */
    char tx0[65] = "", rx0[65] = "";
    unsigned same_tx = 0, same_rx = 0;
    for (unsigned i = 0; cs && i < o.conns; i++) {
        char tx[65], rx[65];
        tool_hash_final(&cs[i].tx, tx);
        tool_hash_final(&cs[i].rx, rx);
        if (i == 0) {
            memcpy(tx0, tx, sizeof(tx));
            memcpy(rx0, rx, sizeof(rx));
            printf("tcp-client: sent %llu sha256 %s; received %llu sha256 %s\n",
                   (unsigned long long)cs[i].tx.bytes, tx, (unsigned long long)cs[i].rx.bytes, rx);
        }
        same_tx += cs[i].tx.bytes == cs[0].tx.bytes && strcmp(tx, tx0) == 0;
        same_rx += cs[i].rx.bytes == cs[0].rx.bytes && strcmp(rx, rx0) == 0;
        ust_close(cs[i].fd);
    }
    if (cs && o.conns > 1)
        printf("tcp-client: %lu connections: %u sent the same as the first, %u received the "
               "same\n", o.conns, same_tx, same_rx);
    if (!status && o.conns > 1)
        printf("tcp-client: %lu connections completed\n", o.conns);
    free(cs);
    tool_print_tcp_live(s, stdout, 1000);
    if (o.stats)
        ust_stack_print_counters(s, stderr, 0);
    ust_stack_destroy(s);
    return status;
}
