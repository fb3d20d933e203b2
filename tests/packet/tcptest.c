/* TCP connections in a chosen state against the scripted peer (see tcptest.h). */
#include "tcptest.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "sock/sock.h"

#define TS_HZ_NS NS_PER_MS       /* the stack's timestamp clock ticks every millisecond */

int st_tcp_socket(struct st *t)
{
    int fd = ust_stack_socket(t->s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        fail_msg("ust_stack_socket(SOCK_STREAM): %s", strerror(errno));
    return fd;
}

int st_tcp_listener(struct st *t, uint16_t port, int backlog)
{
    int fd = st_tcp_socket(t);
    if (st_bind(fd, 0, port) != 0)
        fail_msg("bind to port %u: %s", port, strerror(errno));
    if (ust_listen(fd, backlog) != 0)
        fail_msg("listen: %s", strerror(errno));
    return fd;
}

enum tcp_state st_tcp_state(int fd)
{
    struct sock *so = sock_get(fd);
    assert_non_null(so);
    assert_int_equal(so->type, SOCK_STREAM);
    enum tcp_state st = tcp_state(so->tcp);
    sock_put(so);
    return st;
}

uint32_t conn_tsval(const struct conn *c)
{
    return (uint32_t)(c->t->clock.fake_ns / TS_HZ_NS) + c->ts_offset;
}

struct ust_tcp_info st_tcp_info(int fd)
{
    struct ust_tcp_info i;
    if (ust_tcp_info(fd, &i) != 0)
        fail_msg("ust_tcp_info: %s", strerror(errno));
    return i;
}

void st_send_all_(int fd, const void *data, size_t len, const char *file, int line)
{
    ssize_t n = ust_send(fd, data, len, MSG_DONTWAIT);
    if (n != (ssize_t)len) {
        print_error("send of %zu bytes returned %zd (%s)\n", len, n,
                    n < 0 ? strerror(errno) : "short");
        _fail(file, line);
    }
}

size_t st_read_avail(int fd, void *buf, size_t cap)
{
    size_t got = 0;
    while (got < cap) {
        ssize_t n = ust_recv(fd, (uint8_t *)buf + got, cap - got, MSG_DONTWAIT);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

size_t st_quote_last(struct st *t, uint8_t *buf, size_t cap, size_t l4)
{
    const struct st_rx *rx = t->rx;
    size_t n = rx->ip.hdr_len + l4;
    assert_true(n <= cap && n <= rx->eth.payload_len);
    memcpy(buf, rx->eth.payload, n);
    return n;
}

struct st_helper {
    struct st *t;
    struct sock *so;
    st_step_fn *step;
    void *arg;
    unsigned steps;
    atomic_bool stop;            /* the test's call has returned: no more steps */
    pthread_t thread;
};

static void *helper_main(void *p)
{
    struct st_helper *h = p;
    struct ust_stack *s = h->t->s;
    uint64_t seen = UINT64_MAX;
    for (bool more = true; more && !atomic_load(&h->stop);) {
        pthread_mutex_lock(&s->lock);
        if (h->so->waiters && s->ctrs.polls != seen) {
            seen = s->ctrs.polls;
            more = h->step(h->t, h->arg, h->steps++);
        }
        pthread_mutex_unlock(&s->lock);
        sched_yield();
    }
    return NULL;
}

struct st_helper *st_helper_start(struct st *t, int fd, st_step_fn *step, void *arg)
{
    struct st_helper *h = calloc(1, sizeof(*h));
    assert_non_null(h);
    *h = (struct st_helper){ .t = t, .so = sock_get(fd), .step = step, .arg = arg };
    atomic_init(&h->stop, false);
    assert_non_null(h->so);
    assert_int_equal(pthread_create(&h->thread, NULL, helper_main, h), 0);
    return h;
}

unsigned st_helper_join(struct st_helper *h)
{
    atomic_store(&h->stop, true);
    pthread_join(h->thread, NULL);
    sock_put(h->so);
    unsigned n = h->steps;
    free(h);
    return n;
}

void st_pattern(uint8_t *buf, size_t n, uint32_t offset)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t x = (uint32_t)(offset + i);
        buf[i] = (uint8_t)(x ^ (x >> 8) ^ (x >> 16) ^ 0x5a);
    }
}

/* ---- The handshake ---- */

static void set_opt(int fd, int level, int name, int v)
{
    if (ust_setsockopt(fd, level, name, &v, sizeof(v)) != 0)
        fail_msg("setsockopt(%d, %d, %d): %s", level, name, v, strerror(errno));
}

static void apply_socket_options(int fd, const struct conn_opts *o)
{
    if (o->rcvbuf)
        set_opt(fd, SOL_SOCKET, SO_RCVBUF, o->rcvbuf);
    if (o->sndbuf)
        set_opt(fd, SOL_SOCKET, SO_SNDBUF, o->sndbuf);
    if (o->nodelay)
        set_opt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
}

/* The peer's handshake options as frame fields. */
static void peer_syn_options(const struct conn_opts *o, struct st_frame *f, uint32_t tsecr)
{
    f->mss = o->peer_mss;
    f->ws = o->peer_ws;
    f->sack_perm = o->peer_sack;
    f->tsval = o->peer_ts ? (int64_t)o->peer_tsval : -1;
    f->tsecr = tsecr;
}

/* What the connection negotiated, as RFC 7323 / RFC 2018 / RFC 9293 3.7.1 say. */
static void negotiated(struct conn *c, const struct conn_opts *o)
{
    c->ts = o->peer_ts;
    c->sack = o->peer_sack;
    c->wscale = o->peer_ws >= 0;
    c->snd_ws = (uint8_t)(c->wscale ? (o->peer_ws > 14 ? 14 : o->peer_ws) : 0);
    c->rcv_ws = c->wscale ? ST_WS : 0;
    uint32_t mss = o->peer_mss >= 0 ? (uint32_t)o->peer_mss : 536;
    if (mss > ST_MSS)
        mss = ST_MSS;
    c->mss = (uint16_t)(mss - (c->ts ? 12 : 0));
    c->peer_tsval = o->peer_tsval;
}

/* The stack's SYN window: its receive space, unscaled, at most 65535 (RFC 7323 2.2). */
static uint32_t syn_window(const struct conn_opts *o)
{
    uint32_t space = ST_RCVBUF;
    if (o->rcvbuf) {
        uint32_t v = (uint32_t)o->rcvbuf * 2;
        space = (v < 2304 ? 2304 : v) / 2;
    }
    return space > 65535 ? 65535 : space;
}

/* The window field once the connection is synchronized: the whole buffer, scaled. */
static int64_t est_window(const struct conn *c, const struct conn_opts *o)
{
    uint32_t space = ST_RCVBUF;
    if (o->rcvbuf) {
        uint32_t v = (uint32_t)o->rcvbuf * 2;
        space = (v < 2304 ? 2304 : v) / 2;
    }
    space >>= c->rcv_ws;
    return space > 65535 ? 65535 : space;
}

static void learn_ts_offset(struct conn *c, const struct st_rx *rx)
{
    if (rx->tcp.opt.present & TCP_HAS_TIMESTAMP)
        c->ts_offset = rx->tcp.opt.ts_val - (uint32_t)(c->t->clock.fake_ns / TS_HZ_NS);
}

static void active_open(struct conn *c, const struct conn_opts *o, enum tcp_state state,
                        const char *file, int line)
{
    struct st *t = c->t;
    c->fd = st_tcp_socket(t);
    apply_socket_options(c->fd, o);
    if (st_bind(c->fd, 0, ST_LPORT) != 0)
        fail_msg("bind: %s", strerror(errno));
    tcp_isn_override_for_tests(t->s, o->iss);
    errno = 0;
    if (st_connect(c->fd, ST_PEER, ST_PEER_PORT) != -1 || errno != EINPROGRESS)
        fail_msg("connect: want EINPROGRESS, got %s", strerror(errno));
    const struct st_rx *rx =
        st_expect_tx(t, want_tcp(.flags = SYN, .seq = o->iss, .ack = 0, .window = syn_window(o),
                                 .mss = ST_MSS, .sack_perm = 1, .ws = ST_WS, .tsecr = 0,
                                 .nsack = 0, .len = 0), file, line);
    learn_ts_offset(c, rx);
    uint32_t our_tsval = rx->tcp.opt.ts_val;
    c->snd_nxt = o->iss + 1;
    c->rcv_nxt = o->irs;
    if (state == SYN_SENT)
        return;
    advance(t, o->rtt_ms);
    struct st_frame synack = tcp(.flags = SYN | ACK, .seq = o->irs, .ack = o->iss + 1,
                                 .window = o->peer_window);
    peer_syn_options(o, &synack, our_tsval);
    feed(t, synack);
    negotiated(c, o);
    c->rcv_nxt = o->irs + 1;
    st_expect_tx(t, want_tcp(.flags = ACK, .seq = c->snd_nxt, .ack = c->rcv_nxt,
                             .window = est_window(c, o),
                             .tsval = c->ts ? (int64_t)conn_tsval(c) : ST_NONE,
                             .tsecr = c->ts ? (int64_t)o->peer_tsval : ST_NONE, .nsack = 0,
                             .len = 0), file, line);
}

static void passive_open(struct conn *c, const struct conn_opts *o, enum tcp_state state,
                         const char *file, int line)
{
    struct st *t = c->t;
    c->lfd = st_tcp_socket(t);
    apply_socket_options(c->lfd, o);
    if (st_bind(c->lfd, 0, ST_LPORT) != 0 || ust_listen(c->lfd, o->backlog) != 0)
        fail_msg("bind/listen: %s", strerror(errno));
    tcp_isn_override_for_tests(t->s, o->iss);
    struct st_frame syn = tcp(.flags = SYN, .seq = o->irs, .window = o->peer_window);
    peer_syn_options(o, &syn, 0);
    feed(t, syn);
    negotiated(c, o);
    /* RFC 7323 / RFC 2018: the SYN-ACK carries an option only if the SYN did. */
    const struct st_rx *rx = st_expect_tx(
        t, want_tcp(.flags = SYN | ACK, .seq = o->iss, .ack = o->irs + 1,
                    .window = syn_window(o), .mss = ST_MSS, .sack_perm = o->peer_sack,
                    .ws = o->peer_ws >= 0 ? ST_WS : ST_NONE,
                    .tsecr = o->peer_ts ? (int64_t)o->peer_tsval : ST_NONE, .nsack = 0,
                    .len = 0),
        file, line);
    learn_ts_offset(c, rx);
    c->snd_nxt = o->iss + 1;
    c->rcv_nxt = o->irs + 1;
    if (state == SYN_RECEIVED)
        return;
    advance(t, o->rtt_ms);
    struct st_frame ack = tcp(.flags = ACK, .seq = c->rcv_nxt, .ack = c->snd_nxt,
                              .window = o->peer_window);
    if (o->peer_ts) {
        ack.tsval = o->peer_tsval + 1;
        ack.tsecr = rx->tcp.opt.ts_val;
        c->peer_tsval = o->peer_tsval + 1;
    }
    feed(t, ack);
    st_expect_no_tx(t, file, line);
    c->fd = ust_accept4(c->lfd, NULL, NULL, SOCK_NONBLOCK);
    if (c->fd < 0)
        fail_msg("accept4: %s", strerror(errno));
}

/* The peer's FIN-less segment flags for its later segments: timestamps if negotiated. */
static struct st_frame peer_seg(struct conn *c, uint16_t flags, uint32_t seq, uint32_t ack)
{
    struct st_frame f = tcp(.flags = flags, .seq = seq, .ack = ack);
    if (c->ts) {
        f.tsval = ++c->peer_tsval;
        f.tsecr = conn_tsval(c);
    }
    return f;
}

static int64_t want_tsval(const struct conn *c)
{
    return c->ts ? (int64_t)conn_tsval(c) : ST_NONE;
}

static int64_t want_tsecr(const struct conn *c)
{
    return c->ts ? (int64_t)c->peer_tsval : ST_NONE;
}

static void our_fin(struct conn *c, const struct conn_opts *o, const char *file, int line)
{
    if (o->orphan) {
        assert_int_equal(ust_close(c->fd), 0);
        c->fd = -1;
    } else {
        assert_int_equal(ust_shutdown(c->fd, SHUT_WR), 0);
    }
    st_expect_tx(c->t, want_tcp(.flags = FIN | ACK, .seq = c->snd_nxt, .ack = c->rcv_nxt,
                                .tsval = want_tsval(c), .tsecr = want_tsecr(c), .len = 0),
                 file, line);
    c->snd_nxt++;
}

static void peer_fin(struct conn *c, uint32_t ack, const char *file, int line)
{
    feed(c->t, peer_seg(c, FIN | ACK, c->rcv_nxt, ack));
    c->rcv_nxt++;
    st_expect_tx(c->t, want_tcp(.flags = ACK, .seq = c->snd_nxt, .ack = c->rcv_nxt,
                                .tsval = want_tsval(c), .tsecr = want_tsecr(c), .len = 0),
                 file, line);
}

struct conn conn_in_state_(struct st *t, enum tcp_state state, struct conn_opts o,
                           const char *file, int line)
{
    struct conn c = { .t = t, .fd = -1, .lfd = -1, .iss = o.iss, .irs = o.irs };
    st_resolve_peer(t);
    if (o.passive)
        passive_open(&c, &o, state, file, line);
    else
        active_open(&c, &o, state, file, line);
    if (state == SYN_SENT || state == SYN_RECEIVED)
        return c;
    switch (state) {
    case ESTABLISHED:
        break;
    case FIN_WAIT_1:
        our_fin(&c, &o, file, line);
        break;
    case FIN_WAIT_2:
        our_fin(&c, &o, file, line);
        feed(t, peer_seg(&c, ACK, c.rcv_nxt, c.snd_nxt));
        st_expect_no_tx(t, file, line);
        break;
    case TIME_WAIT:
        our_fin(&c, &o, file, line);
        feed(t, peer_seg(&c, ACK, c.rcv_nxt, c.snd_nxt));
        st_expect_no_tx(t, file, line);
        peer_fin(&c, c.snd_nxt, file, line);
        break;
    case CLOSING:
        our_fin(&c, &o, file, line);
        peer_fin(&c, c.snd_nxt - 1, file, line);   /* its FIN crossed ours */
        break;
    case CLOSE_WAIT:
        peer_fin(&c, c.snd_nxt, file, line);
        break;
    case LAST_ACK:
        peer_fin(&c, c.snd_nxt, file, line);
        our_fin(&c, &o, file, line);
        break;
    default:
        fail_msg("conn_in_state: no recipe for state %d", state);
    }
    st_expect_no_tx(t, file, line);
    if (c.fd >= 0 && st_tcp_state(c.fd) != state) {
        print_error("conn_in_state: the connection is in state %d, want %d\n",
                    st_tcp_state(c.fd), state);
        _fail(file, line);
    }
    return c;
}
