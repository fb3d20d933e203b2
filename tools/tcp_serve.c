/*
 * The TCP side of `ustack echo`: one listener and its connections, all non-blocking, driven by
 * the caller's ust_poll loop. Three modes:
 *   echo      write back what arrives (reading stops while a write is pending); at the end
 *             print "tcp echo: N bytes sha256 H" of what was echoed;
 *   discard   read and hash everything; at the end print "tcp discard: N bytes sha256 H";
 *   source    send N bytes of the test stream to whoever connects, then close our side; print
 *             "tcp source: N bytes sha256 H" when done.
 * tcp_server_set_hash(t, false) skips the SHA-256 (it prints "sha256 -"): for throughput
 * measurements, where hashing would cost as much as the stack.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ustack.h"

#define MAX_CONNS 4096
#define IO_CHUNK 65536

struct conn {
    int fd;
    uint8_t *pending;            /* echo: bytes read but not yet written back */
    size_t pending_len, pending_off;
    uint64_t sent;               /* source: stream bytes written */
    bool shut;                   /* source: our FIN is queued */
    struct tool_hash hash;
    char peer[32];
};

struct tcp_server {
    int lfd;
    enum tcp_mode mode;
    uint64_t source_bytes;
    bool hash;
    unsigned n;
    struct conn *conns[MAX_CONNS];
    uint8_t buf[IO_CHUNK];
};

struct tcp_server *tcp_server_open(uint16_t port, enum tcp_mode mode, uint64_t source_bytes)
{
    struct tcp_server *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->mode = mode;
    t->source_bytes = source_bytes;
    t->hash = true;
    t->lfd = ust_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
    if (t->lfd < 0 || ust_setsockopt(t->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        ust_bind(t->lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
        ust_listen(t->lfd, 4096) < 0) {
        if (t->lfd >= 0)
            ust_close(t->lfd);
        free(t);
        return NULL;
    }
    return t;
}

void tcp_server_set_hash(struct tcp_server *t, bool on)
{
    t->hash = on;
}

int tcp_server_set_user_timeout(struct tcp_server *t, unsigned ms)
{
    int v = (int)ms;
    return ust_setsockopt(t->lfd, IPPROTO_TCP, TCP_USER_TIMEOUT, &v, sizeof(v)) < 0 ? -errno : 0;
}

/* Counts (and hashes, unless hashing is off) bytes that went through connection c. */
static void account(struct tcp_server *t, struct conn *c, const uint8_t *buf, size_t n)
{
    if (t->hash)
        tool_hash_update(&c->hash, buf, n);
    else
        c->hash.bytes += n;
}

static void conn_close(struct tcp_server *t, unsigned i, const char *why)
{
    struct conn *c = t->conns[i];
    char hex[65];
    tool_hash_final(&c->hash, hex);
    if (!t->hash)
        strcpy(hex, "-");
    if (t->mode == TCP_MODE_ECHO)
        printf("tcp echo: %llu bytes sha256 %s from %s%s%s\n", (unsigned long long)c->hash.bytes,
               hex, c->peer, why ? ": " : "", why ? why : "");
    else if (t->mode == TCP_MODE_DISCARD)
        printf("tcp discard: %llu bytes sha256 %s from %s%s%s\n",
               (unsigned long long)c->hash.bytes, hex, c->peer, why ? ": " : "", why ? why : "");
    else if (t->mode == TCP_MODE_SOURCE)
        printf("tcp source: %llu bytes sha256 %s to %s%s%s\n", (unsigned long long)c->hash.bytes,
               hex, c->peer, why ? ": " : "", why ? why : "");
    fflush(stdout);
    ust_close(c->fd);
    free(c->pending);
    free(c);
    t->conns[i] = t->conns[--t->n];
}

static void accept_all(struct tcp_server *t)
{
    for (;;) {
        struct sockaddr_in from;
        socklen_t fl = sizeof(from);
        int fd = ust_accept4(t->lfd, (struct sockaddr *)&from, &fl, SOCK_NONBLOCK);
        if (fd < 0)
            return;
        struct conn *c = t->n < MAX_CONNS ? calloc(1, sizeof(*c)) : NULL;
        if (!c) {
            ust_close(fd);
            continue;
        }
        c->fd = fd;
        uint32_t a = ntohl(from.sin_addr.s_addr);
        snprintf(c->peer, sizeof(c->peer), "%u.%u.%u.%u:%u", a >> 24, (a >> 16) & 255,
                 (a >> 8) & 255, a & 255, ntohs(from.sin_port));
        tool_hash_init(&c->hash);
        t->conns[t->n++] = c;
    }
}

unsigned tcp_server_pollfds(struct tcp_server *t, struct pollfd *fds, unsigned max)
{
    unsigned k = 0;
    if (k < max)
        fds[k++] = (struct pollfd){ .fd = t->lfd, .events = POLLIN };
    for (unsigned i = 0; i < t->n && k < max; i++) {
        struct conn *c = t->conns[i];
        short ev = POLLIN;
        if (c->pending_len || (t->mode == TCP_MODE_SOURCE && !c->shut))
            ev = (short)(c->pending_len ? POLLOUT : POLLIN | POLLOUT);
        fds[k++] = (struct pollfd){ .fd = c->fd, .events = ev };
    }
    return k;
}

/* Returns false when the connection is finished. A read shorter than the buffer took all
 * there was, so it goes back to the caller's poll instead of reading on: the read that would
 * find the socket empty is a look at the link (on TAP a readv(2) that fails with EAGAIN), one
 * system call in four for request/response traffic, while poll reports anything that arrives
 * since (and often reads it first: speculative receive, docs/design.md). */
static bool do_echo(struct tcp_server *t, struct conn *c)
{
    while (c->pending_len) {
        ssize_t w = ust_send(c->fd, c->pending + c->pending_off, c->pending_len, MSG_NOSIGNAL);
        if (w < 0)
            return errno == EAGAIN;
        c->pending_off += (size_t)w;
        c->pending_len -= (size_t)w;
    }
    for (;;) {
        ssize_t r = ust_recv(c->fd, t->buf, sizeof(t->buf), 0);
        if (r == 0)
            return false;
        if (r < 0)
            return errno == EAGAIN;
        account(t, c, t->buf, (size_t)r);
        ssize_t w = ust_send(c->fd, t->buf, (size_t)r, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN)
            return false;
        if (w < r) {
            size_t left = (size_t)r - (w > 0 ? (size_t)w : 0);
            uint8_t *p = realloc(c->pending, left);
            if (!p)
                return false;
            memcpy(p, t->buf + (r - (ssize_t)left), left);
            c->pending = p;
            c->pending_len = left;
            c->pending_off = 0;
            return true;
        }
        if ((size_t)r < sizeof(t->buf))
            return true;
    }
}

static bool do_discard(struct tcp_server *t, struct conn *c)
{
    for (;;) {
        ssize_t r = ust_recv(c->fd, t->buf, sizeof(t->buf), 0);
        if (r == 0)
            return false;
        if (r < 0)
            return errno == EAGAIN;
        account(t, c, t->buf, (size_t)r);
    }
}

static bool do_source(struct tcp_server *t, struct conn *c)
{
    while (c->sent < t->source_bytes) {
        size_t n = t->source_bytes - c->sent < sizeof(t->buf) ? t->source_bytes - c->sent
                                                               : sizeof(t->buf);
        tool_stream_fill(c->sent, t->buf, n);
        ssize_t w = ust_send(c->fd, t->buf, n, MSG_NOSIGNAL);
        if (w < 0)
            return errno == EAGAIN;
        account(t, c, t->buf, (size_t)w);
        c->sent += (size_t)w;
    }
    if (!c->shut) {
        ust_shutdown(c->fd, SHUT_WR);
        c->shut = true;
    }
    /* Wait for the peer's end of stream, so we close with nothing unread. */
    ssize_t r;
    while ((r = ust_recv(c->fd, t->buf, sizeof(t->buf), 0)) > 0)
        ;
    return r < 0 && errno == EAGAIN;
}

void tcp_server_handle(struct tcp_server *t, const struct pollfd *fds, unsigned n)
{
    if (n && fds[0].revents)
        accept_all(t);
    /* fds[1 + i] belongs to conns[i] as they were when the array was built; closing swaps
     * the last into a freed slot, so walk backwards. */
    unsigned conns = n > 0 ? n - 1 : 0;
    if (conns > t->n)
        conns = t->n;
    for (unsigned i = conns; i-- > 0;) {
        if (!fds[1 + i].revents)
            continue;
        struct conn *c = t->conns[i];
        bool alive = t->mode == TCP_MODE_ECHO      ? do_echo(t, c)
                     : t->mode == TCP_MODE_DISCARD ? do_discard(t, c)
                                                   : do_source(t, c);
        if (!alive)
            conn_close(t, i, (fds[1 + i].revents & POLLERR) ? "error" : NULL);
    }
}

void tcp_server_close(struct tcp_server *t)
{
    while (t->n)
        conn_close(t, t->n - 1, "stopped");
    ust_close(t->lfd);
    free(t);
}
