/*
 * epoll over ustack sockets (src/sock/epoll.c), against what Linux's epoll does for the same
 * calls: level-triggered, edge-triggered and one-shot entries on readability and writability,
 * EPOLLRDHUP / EPOLLHUP / EPOLLERR from a peer's FIN, a reset and an ICMP error, kernel
 * descriptors (a pipe, an eventfd) beside ustack sockets in one instance, nested instances,
 * ust_poll on an instance, the errno of every misuse, data returned as given, sockets leaving
 * every instance when closed, maxevents, and waits woken (or interrupted) by another thread.
 *
 * UDP runs on the scripted-peer stack (stacktest.h). TCP runs between two stacks on the two
 * ends of one loop link, sharing one fake clock: pump() lets them talk until both are quiet.
 * No test sleeps: waits have a zero timeout, or block until another thread (driven step by step)
 * wakes them.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "stacktest.h"

/* The EFAULT cases hand the kernel a NULL array on purpose; valgrind (the memcheck_ tests)
 * would report that system call argument, so its reporting is off around them. */
#if defined(__has_include) && __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define VALGRIND_DISABLE_ERROR_REPORTING ((void)0)
#define VALGRIND_ENABLE_ERROR_REPORTING ((void)0)
#endif

#include "link/loop.h"
#include "sock/sock.h"
#include "tcp/tcp.h"
#include "ustack/ustack.h"

/* ---- Helpers ---- */

static int ep_new(void)
{
    int ep = ust_epoll_create1(EPOLL_CLOEXEC);
    assert_true(ep >= 0);
    return ep;
}

static void ep_ctl(int ep, int op, int fd, uint32_t events, uint64_t data)
{
    struct epoll_event ev = { .events = events, .data.u64 = data };
    if (ust_epoll_ctl(ep, op, fd, &ev) != 0)
        fail_msg("epoll_ctl(%d, %d, %d, %#x): %s", ep, op, fd, events, strerror(errno));
}

#define ep_add(ep, fd, events, data) ep_ctl((ep), EPOLL_CTL_ADD, (fd), (events), (data))
#define ep_mod(ep, fd, events, data) ep_ctl((ep), EPOLL_CTL_MOD, (fd), (events), (data))

/* Waits with a zero timeout. */
static int ep_take(int ep, struct epoll_event *ev, int max)
{
    int n = ust_epoll_wait(ep, ev, max, 0);
    if (n < 0)
        fail_msg("epoll_wait: %s", strerror(errno));
    return n;
}

/* Exactly one event, with these bits and this data. */
#define expect_event(ep, bits, data) expect_event_((ep), (bits), (data), __LINE__)
static void expect_event_(int ep, uint32_t bits, uint64_t data, int line)
{
    struct epoll_event ev[4];
    memset(ev, 0, sizeof(ev));
    int n = ep_take(ep, ev, 4);
    if (n != 1 || ev[0].events != bits || ev[0].data.u64 != data)
        fail_msg("line %d: %d events, first %#x data %#llx; want 1: %#x data %#llx", line, n,
                 n ? ev[0].events : 0, n ? (unsigned long long)ev[0].data.u64 : 0ull, bits,
                 (unsigned long long)data);
}

#define expect_no_event(ep) expect_no_event_((ep), __LINE__)
static void expect_no_event_(int ep, int line)
{
    struct epoll_event ev[4];
    int n = ep_take(ep, ev, 4);
    if (n != 0)
        fail_msg("line %d: %d events (first %#x data %#llx), want none", line, n, ev[0].events,
                 (unsigned long long)ev[0].data.u64);
}

/* A datagram from the scripted peer to our port. */
static void datagram_to(struct st *t, uint16_t port, const char *text)
{
    feed(t, udp(.dport = port, .data = text));
}

static short poll_one(int fd, short events)
{
    struct pollfd p = { .fd = fd, .events = events };
    int n = ust_poll(&p, 1, 0);
    assert_true(n >= 0);
    return n ? p.revents : 0;
}

/* ---- Two stacks on one loop link, for TCP ---- */

#define A_ADDR ST_ADDR           /* 198.18.0.2: the client's stack */
#define B_ADDR ST_PEER           /* 198.18.0.1: the server's */
#define B_PORT 80

struct pair {
    struct clk clock;
    struct ust_stack *a, *b;
};

static struct ust_stack *pair_stack(struct pair *p, struct link *l, const char *addr,
                                    const char *mac)
{
    struct ust_config cfg;
    ust_config_defaults(&cfg);
    assert_int_equal(ust_config_set(&cfg, "addr", addr), 0);
    assert_int_equal(ust_config_set(&cfg, "mac", mac), 0);
    int err = 0;
    struct ust_stack *s = stack_create_on(&cfg, &p->clock, l, &err);
    if (!s)
        fail_msg("stack_create_on: %s", strerror(-err));
    return s;
}

/* Lets the stacks exchange frames until both are quiet. */
static void pump(struct pair *p)
{
    for (int i = 0; i < 1000; i++) {
        int n = ust_stack_poll(p->a, NULL);
        n += ust_stack_poll(p->b, NULL);
        if (n == 0)
            return;
    }
    fail_msg("the stacks never went quiet");
}

static void pair_advance(struct pair *p, uint64_t ms)
{
    clk_advance(&p->clock, ms * NS_PER_MS);
    pump(p);
}

static int pair_setup(void **state)
{
    struct pair *p = calloc(1, sizeof(*p));
    assert_non_null(p);
    clk_init_fake(&p->clock, ST_CLOCK_START);
    struct link_loop_config lc = { .ring_size = 4096 };
    struct link *la, *lb;
    assert_int_equal(link_loop_pair(&lc, &la, &lb), 0);
    p->a = pair_stack(p, la, "198.18.0.2/24", "02:00:00:00:00:02");
    p->b = pair_stack(p, lb, "198.18.0.1/24", "02:00:00:00:00:01");
    pump(p);
    *state = p;
    return 0;
}

/* Closes what the test left open, lets TCP finish (TIME_WAIT included), and checks that every
 * frame went home before the stacks go. */
static int pair_teardown(void **state)
{
    struct pair *p = *state;
    struct ust_stack *both[2] = { p->a, p->b };
    for (int i = 0; i < 2; i++) {
        pthread_mutex_lock(&both[i]->lock);
        sock_close_all(both[i]);
        pthread_mutex_unlock(&both[i]->lock);
    }
    pump(p);
    for (int i = 0; i < 300 && (tcp_connection_count(p->a) || tcp_connection_count(p->b)); i++)
        pair_advance(p, 1000);
    uint32_t left = 0;
    for (int i = 0; i < 2; i++)
        left += pkt_pool_in_use(both[i]->pool) + pkt_pool_in_use(both[i]->big_pool) +
                tcp_connection_count(both[i]);
    ust_stack_destroy(p->a);
    ust_stack_destroy(p->b);
    free(p);
    if (left)
        print_error("%u buffers or connections left\n", left);
    assert_int_equal(left, 0);
    return 0;
}

static int tcp_socket(struct ust_stack *s)
{
    int fd = ust_stack_socket(s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(fd >= 0);
    return fd;
}

/* A listener on b, a client on a connected to it, and the accepted server side. */
static void tcp_connected(struct pair *p, int *client, int *server, int *listener)
{
    int l = tcp_socket(p->b);
    assert_int_equal(st_bind(l, B_ADDR, B_PORT), 0);
    assert_int_equal(ust_listen(l, 8), 0);
    int c = tcp_socket(p->a);
    expect_errno(st_connect(c, B_ADDR, B_PORT), EINPROGRESS);
    pump(p);
    int s = ust_accept4(l, NULL, NULL, SOCK_NONBLOCK);
    assert_true(s >= 0);
    *client = c;
    *server = s;
    if (listener)
        *listener = l;
    else
        ust_close(l);
}

static size_t drain(int fd)
{
    char buf[4096];
    size_t total = 0;
    ssize_t n;
    while ((n = ust_recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
        total += (size_t)n;
    return total;
}

/* ---- Level-triggered, edge-triggered, one-shot: readability (UDP) ---- */

static void test_epoll_level_triggered_reports_readable_until_read(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    int ep = ep_new();
    ep_add(ep, fd, EPOLLIN, 42);
    expect_no_event(ep);
    datagram_to(t, 7, "one");
    expect_event(ep, EPOLLIN, 42);
    expect_event(ep, EPOLLIN, 42);       /* still readable: reported again */
    char buf[8];
    assert_int_equal(st_recv(fd, buf, sizeof(buf), NULL), 3);
    expect_no_event(ep);
    datagram_to(t, 7, "two");
    expect_event(ep, EPOLLIN, 42);
    ust_close(ep);
    ust_close(fd);
}

static void test_epoll_edge_triggered_reports_each_arrival_once(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    int ep = ep_new();
    ep_add(ep, fd, EPOLLIN | EPOLLET, 7);
    expect_no_event(ep);
    datagram_to(t, 7, "one");
    expect_event(ep, EPOLLIN, 7);
    expect_no_event(ep);                 /* no change since */
    /* Linux (sk_data_ready): more data is a change even while the first is unread. */
    datagram_to(t, 7, "two");
    expect_event(ep, EPOLLIN, 7);
    expect_no_event(ep);
    char buf[8];
    assert_int_equal(st_recv(fd, buf, sizeof(buf), NULL), 3);
    expect_no_event(ep);                 /* reading part of it changes nothing worth a report */
    assert_int_equal(st_recv(fd, buf, sizeof(buf), NULL), 3);
    expect_no_event(ep);
    datagram_to(t, 7, "three");          /* readable again after EAGAIN: an edge */
    expect_event(ep, EPOLLIN, 7);
    expect_no_event(ep);
    ust_close(ep);
    ust_close(fd);
}

static void test_epoll_edge_triggered_add_of_a_ready_socket_reports_once(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    datagram_to(t, 7, "early");
    int ep = ep_new();
    ep_add(ep, fd, EPOLLIN | EPOLLET, 1);
    expect_event(ep, EPOLLIN, 1);        /* as Linux's ep_insert: ready now is reported */
    expect_no_event(ep);
    ust_close(ep);
    ust_close(fd);
}

/* Registration does not look at the link (a lazy entry: over TAP a failing readv per call, and
 * event loops such as hiredis's register and unregister for every request); epoll_wait looks
 * before it answers. Items deleted are reused: many add/delete rounds, each seen exactly. */
static void test_epoll_ctl_leaves_the_link_to_epoll_wait(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    int ep = ep_new();
    st_inject_frame(t, udp(.dport = 7, .data = "one"));      /* on the wire, not yet taken */
    uint64_t polls = counter(t, "stack.polls"), frames = counter(t, "stack.rx_frames");
    ep_add(ep, fd, EPOLLIN | EPOLLET, 3);
    ep_mod(ep, fd, EPOLLIN | EPOLLOUT | EPOLLET, 3);
    assert_int_equal(counter(t, "stack.polls"), polls);
    assert_int_equal(counter(t, "stack.rx_frames"), frames);
    expect_event(ep, EPOLLIN | EPOLLOUT, 3);
    assert_int_equal(counter(t, "stack.rx_frames"), frames + 1);
    for (uint64_t i = 0; i < 200; i++) {
        assert_int_equal(ust_epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL), 0);
        expect_no_event(ep);
        ep_add(ep, fd, EPOLLIN, i);
        expect_event(ep, EPOLLIN, i);       /* "one" is still unread */
    }
    char buf[8];
    assert_int_equal(st_recv(fd, buf, sizeof(buf), NULL), 3);
    expect_no_event(ep);
    ust_close(ep);
    ust_close(fd);
}

static void test_epoll_oneshot_reports_once_until_mod(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    int ep = ep_new();
    ep_add(ep, fd, EPOLLIN | EPOLLONESHOT, 5);
    datagram_to(t, 7, "one");
    expect_event(ep, EPOLLIN, 5);
    expect_no_event(ep);
    datagram_to(t, 7, "two");
    expect_no_event(ep);                 /* disabled, even for new data */
    ep_mod(ep, fd, EPOLLIN | EPOLLONESHOT, 6);
    expect_event(ep, EPOLLIN, 6);        /* re-armed, and still readable */
    expect_no_event(ep);
    drain(fd);
    ep_mod(ep, fd, EPOLLIN | EPOLLONESHOT, 6);
    expect_no_event(ep);
    datagram_to(t, 7, "three");
    expect_event(ep, EPOLLIN, 6);
    ust_close(ep);
    ust_close(fd);
}

/* ---- Writability (UDP: always writable) ---- */

static void test_epoll_writability_level_edge_and_oneshot(void **state)
{
    struct st *t = *state;
    int lt = st_udp_socket(t), et = st_udp_socket(t), one = st_udp_socket(t);
    int ep_lt = ep_new(), ep_et = ep_new(), ep_one = ep_new();
    ep_add(ep_lt, lt, EPOLLOUT, 1);
    ep_add(ep_et, et, EPOLLOUT | EPOLLET, 2);
    ep_add(ep_one, one, EPOLLOUT | EPOLLONESHOT, 3);
    for (int i = 0; i < 3; i++)
        expect_event(ep_lt, EPOLLOUT, 1);
    expect_event(ep_et, EPOLLOUT, 2);
    expect_no_event(ep_et);
    expect_event(ep_one, EPOLLOUT, 3);
    expect_no_event(ep_one);
    ep_mod(ep_one, one, EPOLLOUT | EPOLLONESHOT, 4);
    expect_event(ep_one, EPOLLOUT, 4);
    /* Interest in more than is true reports what is true. */
    ep_mod(ep_lt, lt, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI, 1);
    expect_event(ep_lt, EPOLLOUT, 1);
    ep_mod(ep_lt, lt, EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND, 1);
    expect_event(ep_lt, EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND, 1);
    /* No interest at all: nothing (EPOLLERR and EPOLLHUP would still come). */
    ep_mod(ep_lt, lt, 0, 1);
    expect_no_event(ep_lt);
    ust_close(ep_lt);
    ust_close(ep_et);
    ust_close(ep_one);
    ust_close(lt);
    ust_close(et);
    ust_close(one);
}

/* ---- Errors (UDP: an ICMP port unreachable) ---- */

static size_t send_and_capture(struct st *t, int fd, uint8_t *quote, size_t cap)
{
    assert_int_equal(st_connect(fd, ST_PEER, 9), 0);
    assert_int_equal(ust_send(fd, "?", 1, 0), 1);
    const struct st_rx *rx = expect_tx(t, want_udp(.dst = ST_PEER, .dport = 9));
    size_t n = rx->ip.total_len;
    assert_true(n <= cap);
    memcpy(quote, rx->eth.payload, n);
    return n;
}

static void test_epoll_err_is_reported_without_being_asked_for(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int fd = st_udp_socket(t);
    int ep = ep_new(), ep_et = ep_new();
    uint8_t quote[64];
    size_t n = send_and_capture(t, fd, quote, sizeof(quote));
    ep_add(ep, fd, EPOLLIN, 11);
    ep_add(ep_et, fd, EPOLLIN | EPOLLET, 12);
    expect_no_event(ep);
    expect_no_event(ep_et);
    feed(t, icmp(.type = ICMP_DEST_UNREACH, .code = ICMP_PORT_UNREACH, .data = quote, .len = n));
    expect_event(ep, EPOLLERR, 11);
    expect_event(ep, EPOLLERR, 11);
    expect_event(ep_et, EPOLLERR, 12);
    expect_no_event(ep_et);
    int err = 0;
    socklen_t len = sizeof(err);
    assert_int_equal(ust_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    assert_int_equal(err, ECONNREFUSED);
    expect_no_event(ep);
    expect_no_event(ep_et);
    ust_close(ep);
    ust_close(ep_et);
    ust_close(fd);
}

static void test_epoll_shutdown_reports_rdhup_and_hup(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int fd = st_udp_socket(t);
    assert_int_equal(st_connect(fd, ST_PEER, 9), 0);
    int ep = ep_new();
    ep_add(ep, fd, EPOLLIN | EPOLLRDHUP | EPOLLET, 3);
    expect_no_event(ep);
    assert_int_equal(ust_shutdown(fd, SHUT_RD), 0);
    expect_event(ep, EPOLLIN | EPOLLRDHUP, 3);
    expect_no_event(ep);
    assert_int_equal(ust_shutdown(fd, SHUT_WR), 0);
    expect_event(ep, EPOLLIN | EPOLLRDHUP | EPOLLHUP, 3);
    ust_close(ep);
    ust_close(fd);
}

/* ---- Data, maxevents, fairness ---- */

static void test_epoll_data_comes_back_as_given(void **state)
{
    struct st *t = *state;
    int a = st_udp_bound(t, 0, 7), b = st_udp_bound(t, 0, 8), c = st_udp_bound(t, 0, 9);
    int ep = ep_new();
    static int target;
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &target };
    assert_int_equal(ust_epoll_ctl(ep, EPOLL_CTL_ADD, a, &ev), 0);
    ev = (struct epoll_event){ .events = EPOLLIN, .data.u64 = 0xfedcba9876543210ull };
    assert_int_equal(ust_epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev), 0);
    ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = c };
    assert_int_equal(ust_epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev), 0);
    datagram_to(t, 7, "a");
    datagram_to(t, 8, "b");
    datagram_to(t, 9, "c");
    struct epoll_event out[8];
    memset(out, 0xa5, sizeof(out));
    assert_int_equal(ep_take(ep, out, 8), 3);
    bool seen[3] = { false, false, false };
    for (int i = 0; i < 3; i++) {
        assert_int_equal(out[i].events, EPOLLIN);
        if (out[i].data.ptr == &target)
            seen[0] = true;
        else if (out[i].data.u64 == 0xfedcba9876543210ull)
            seen[1] = true;
        else if (out[i].data.fd == c)
            seen[2] = true;
    }
    assert_true(seen[0] && seen[1] && seen[2]);
    /* MOD replaces the data. */
    ep_mod(ep, b, EPOLLIN, 99);
    assert_int_equal(ep_take(ep, out, 8), 3);
    int found = 0;
    for (int i = 0; i < 3; i++)
        found += out[i].data.u64 == 99;
    assert_int_equal(found, 1);
    ust_close(ep);
    ust_close(a);
    ust_close(b);
    ust_close(c);
}

static void test_epoll_maxevents_leaves_the_rest_for_the_next_call_first(void **state)
{
    struct st *t = *state;
    int fd[3];
    int ep = ep_new();
    for (int i = 0; i < 3; i++) {
        fd[i] = st_udp_bound(t, 0, (uint16_t)(7 + i));
        ep_add(ep, fd[i], EPOLLIN, (uint64_t)i);
        datagram_to(t, (uint16_t)(7 + i), "x");
    }
    struct epoll_event ev[3];
    assert_int_equal(ep_take(ep, ev, 2), 2);
    bool seen[3] = { false, false, false };
    seen[ev[0].data.u64] = seen[ev[1].data.u64] = true;
    int left = !seen[0] ? 0 : !seen[1] ? 1 : 2;
    assert_int_equal(ep_take(ep, ev, 1), 1);
    assert_int_equal(ev[0].data.u64, left);   /* what was not reached goes first */
    assert_int_equal(ep_take(ep, ev, 3), 3);  /* level-triggered: all still there */
    /* A positive timeout with events ready does not wait. */
    assert_int_equal(ust_epoll_wait(ep, ev, 3, 60000), 3);
    expect_errno(ust_epoll_wait(ep, ev, 0, 0), EINVAL);
    expect_errno(ust_epoll_wait(ep, ev, -1, 0), EINVAL);
    expect_errno(ust_epoll_wait(ep, ev, INT_MAX, 0), EINVAL);
    ust_close(ep);
    for (int i = 0; i < 3; i++)
        ust_close(fd[i]);
}

/* ---- Kernel descriptors beside ustack sockets ---- */

static void test_epoll_mixes_a_pipe_an_eventfd_and_sockets(void **state)
{
    struct st *t = *state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    int efd = eventfd(0, EFD_NONBLOCK);
    assert_true(efd >= 0);
    int u = st_udp_bound(t, 0, 7);
    int ep = ep_new();
    ep_add(ep, p[0], EPOLLIN, 100);
    ep_add(ep, efd, EPOLLIN | EPOLLET, 200);
    ep_add(ep, u, EPOLLIN, 300);
    expect_no_event(ep);
    assert_int_equal(write(p[1], "k", 1), 1);
    expect_event(ep, EPOLLIN, 100);
    uint64_t one = 1;
    assert_int_equal(write(efd, &one, sizeof(one)), sizeof(one));
    datagram_to(t, 7, "u");
    struct epoll_event ev[8];
    int n = ep_take(ep, ev, 8);
    assert_int_equal(n, 3);
    uint64_t sum = 0;
    for (int i = 0; i < n; i++) {
        assert_int_equal(ev[i].events, EPOLLIN);
        sum += ev[i].data.u64;
    }
    assert_int_equal(sum, 600);
    /* The eventfd was edge-triggered (the kernel's own semantics), the rest level. */
    n = ep_take(ep, ev, 8);
    assert_int_equal(n, 2);
    assert_int_equal(ev[0].data.u64 + ev[1].data.u64, 400);
    /* One at a time, the two parts take turns. */
    uint64_t first = 0;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ep_take(ep, ev, 1), 1);
        assert_true(ev[0].data.u64 != first);
        first = ev[0].data.u64;
    }
    /* The pipe's writer goes: EPOLLHUP without asking. */
    char c;
    assert_int_equal(read(p[0], &c, 1), 1);
    close(p[1]);
    ep_mod(ep, p[0], 0, 100);
    char buf[8];
    assert_int_equal(st_recv(u, buf, sizeof(buf), NULL), 1);
    expect_event(ep, EPOLLHUP, 100);
    /* Removal goes to the right place too. */
    assert_int_equal(ust_epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL), 0);
    assert_int_equal(ust_epoll_ctl(ep, EPOLL_CTL_DEL, u, NULL), 0);
    datagram_to(t, 7, "u");
    expect_no_event(ep);
    ust_close(ep);
    close(p[0]);
    close(efd);
    ust_close(u);
}

/* ---- Errors as Linux's ---- */

static void test_epoll_ctl_errnos_are_linuxs(void **state)
{
    struct st *t = *state;
    int u = st_udp_socket(t);
    int ep = ep_new();
    int file = open("/proc/self/stat", O_RDONLY);
    assert_true(file >= 0);
    struct epoll_event ev = { .events = EPOLLIN };
    /* EFAULT: no event for ADD / MOD (before anything else is looked at). */
    expect_errno(ust_epoll_ctl(ep, EPOLL_CTL_ADD, u, NULL), EFAULT);
    expect_errno(ust_epoll_ctl(ep, EPOLL_CTL_MOD, u, NULL), EFAULT);
    expect_errno(ust_epoll_ctl(-1, EPOLL_CTL_ADD, u, NULL), EFAULT);
    /* ENOENT: not there. */
    expect_errno(ust_epoll_ctl(ep, EPOLL_CTL_DEL, u, NULL), ENOENT);
    expect_errno(ust_epoll_ctl(ep, EPOLL_CTL_MOD, u, &ev), ENOENT);
    /* EEXIST: twice. */
    assert_int_equal(ust_epoll_ctl(ep, EPOLL_CTL_ADD, u, &ev), 0);
    expect_errno(ust_epoll_ctl(ep, EPOLL_CTL_ADD, u, &ev), EEXIST);
    /* EINVAL: an unknown op, the instance in itself, an epfd that is no epoll instance. */
    expect_errno(ust_epoll_ctl(ep, 99, u, &ev), EINVAL);
    expect_errno(ust_epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev), EINVAL);
    expect_errno(ust_epoll_ctl(u, EPOLL_CTL_ADD, ep, &ev), EINVAL);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    expect_errno(ust_epoll_ctl(pfd[0], EPOLL_CTL_ADD, u, &ev), EINVAL);
    /* EPOLLEXCLUSIVE: not with MOD, not with other events, and an exclusive entry stays. */
    struct epoll_event ex = { .events = EPOLLIN | EPOLLEXCLUSIVE };
    expect_errno(ust_epoll_ctl(ep, EPOLL_CTL_MOD, u, &ex), EINVAL);
    int u2 = st_udp_socket(t);
    ex.events = EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT;
    expect_errno(ust_epoll_ctl(ep, EPOLL_CTL_ADD, u2, &ex), EINVAL);
    ex.events = EPOLLIN | EPOLLEXCLUSIVE | EPOLLRDHUP;
    expect_errno(ust_epoll_ctl(ep, EPOLL_CTL_ADD, u2, &ex), EINVAL);
    ex.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLEXCLUSIVE;
    assert_int_equal(ust_epoll_ctl(ep, EPOLL_CTL_ADD, u2, &ex), 0);
    expect_errno(ust_epoll_ctl(ep, EPOLL_CTL_MOD, u2, &ev), EINVAL);
    assert_int_equal(ust_epoll_ctl(ep, EPOLL_CTL_DEL, u2, NULL), 0);
    /* EPERM: a regular file cannot be polled. */
    expect_errno(ust_epoll_ctl(ep, EPOLL_CTL_ADD, file, &ev), EPERM);
    /* EBADF: a closed descriptor, either side. */
    int gone = st_udp_socket(t);
    ust_close(gone);
    expect_errno(ust_epoll_ctl(ep, EPOLL_CTL_ADD, gone, &ev), EBADF);
    expect_errno(ust_epoll_ctl(ep, EPOLL_CTL_DEL, gone, NULL), EBADF);
    expect_errno(ust_epoll_ctl(gone, EPOLL_CTL_ADD, u, &ev), EBADF);
    expect_errno(ust_epoll_ctl(-1, EPOLL_CTL_ADD, u, &ev), EBADF);
    /* ELOOP: an instance inside one it contains. */
    int outer = ep_new();
    ep_add(outer, ep, EPOLLIN, 0);
    expect_errno(ust_epoll_ctl(ep, EPOLL_CTL_ADD, outer, &ev), ELOOP);
    /* EPERM: a kernel epoll instance cannot watch a ustack socket. */
    int kep = epoll_create1(EPOLL_CLOEXEC);
    assert_true(kep >= 0);
    expect_errno(ust_epoll_ctl(kep, EPOLL_CTL_ADD, u, &ev), EPERM);
    /* The rest of a kernel instance's business is the kernel's. */
    assert_int_equal(ust_epoll_ctl(kep, EPOLL_CTL_ADD, pfd[0], &ev), 0);
    expect_errno(ust_epoll_ctl(kep, EPOLL_CTL_ADD, pfd[0], &ev), EEXIST);
    struct epoll_event out;
    assert_int_equal(ust_epoll_wait(kep, &out, 1, 0), 0);
    close(kep);
    /* Creation. */
    expect_errno(ust_epoll_create(0), EINVAL);
    expect_errno(ust_epoll_create(-1), EINVAL);
    expect_errno(ust_epoll_create1(1), EINVAL);
    int e2 = ust_epoll_create(1);
    assert_true(e2 >= 0);
    assert_int_equal(ust_fcntl(e2, F_GETFD), 0);
    assert_int_equal(ust_fcntl(ep, F_GETFD), FD_CLOEXEC);
    assert_false(ust_is_socket(e2));
    /* An instance is not a socket, a file or a pipe. */
    char b = 0;
    expect_errno(ust_read(e2, &b, 1), EINVAL);
    expect_errno(ust_write(e2, &b, 1), EINVAL);
    ust_close(e2);
    ust_close(outer);
    ust_close(ep);
    ust_close(u);
    ust_close(u2);
    close(pfd[0]);
    close(pfd[1]);
    close(file);
}

static void test_epoll_wait_errnos_are_linuxs(void **state)
{
    struct st *t = *state;
    int ep = ep_new();
    int u = st_udp_bound(t, 0, 7);
    struct epoll_event ev[2];
    expect_errno(ust_epoll_wait(-1, ev, 1, 0), EBADF);
    expect_errno(ust_epoll_wait(-1, ev, 0, 0), EBADF);
    expect_errno(ust_epoll_wait(u, ev, 1, 0), EINVAL);   /* a socket is no instance */
    expect_errno(ust_epoll_wait(ep, ev, 0, 0), EINVAL);
    /* No events: a NULL array is never written, so Linux says 0; with one, EFAULT. */
    ep_add(ep, u, EPOLLIN, 1);
    assert_int_equal(ust_epoll_wait(ep, NULL, 1, 0), 0);
    datagram_to(t, 7, "x");
    expect_errno(ust_epoll_wait(ep, NULL, 1, 0), EFAULT);
    expect_event(ep, EPOLLIN, 1);        /* and it was not lost */
    int p[2];
    assert_int_equal(pipe(p), 0);
    int kep = ep_new();
    ep_add(kep, p[1], EPOLLOUT, 2);
    VALGRIND_DISABLE_ERROR_REPORTING;
    expect_errno(ust_epoll_wait(kep, NULL, 1, 0), EFAULT);
    VALGRIND_ENABLE_ERROR_REPORTING;
    /* A closed instance is a closed descriptor. */
    int gone = ep_new();
    assert_int_equal(ust_close(gone), 0);
    expect_errno(ust_epoll_wait(gone, ev, 1, 0), EBADF);
    expect_errno(ust_close(gone), EBADF);
    ust_close(kep);
    ust_close(ep);
    ust_close(u);
    close(p[0]);
    close(p[1]);
}

/* ---- Closing ---- */

static void test_epoll_closing_a_socket_removes_it_from_every_instance(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    int ep1 = ep_new(), ep2 = ep_new();
    ep_add(ep1, fd, EPOLLIN, 1);
    ep_add(ep2, fd, EPOLLIN | EPOLLET, 2);
    datagram_to(t, 7, "x");
    ust_close(fd);                       /* ready, and closed before anyone looked */
    expect_no_event(ep1);
    expect_no_event(ep2);
    expect_errno(ust_epoll_ctl(ep1, EPOLL_CTL_DEL, fd, NULL), EBADF);
    /* The number comes back for a new socket, which is in no instance. */
    int again = st_udp_bound(t, 0, 7);
    assert_int_equal(again, fd);
    expect_errno(ust_epoll_ctl(ep1, EPOLL_CTL_DEL, again, NULL), ENOENT);
    datagram_to(t, 7, "y");
    expect_no_event(ep1);
    ep_add(ep1, again, EPOLLIN, 3);
    expect_event(ep1, EPOLLIN, 3);
    ust_close(ep1);
    ust_close(ep2);
    ust_close(again);
}

static void test_epoll_closing_an_instance_leaves_its_sockets_alone(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    int ep = ep_new();
    ep_add(ep, fd, EPOLLIN, 1);
    assert_int_equal(ust_close(ep), 0);
    expect_errno(fcntl(ep, F_GETFD), EBADF);   /* the descriptor is really gone */
    datagram_to(t, 7, "x");
    char buf[4];
    assert_int_equal(st_recv(fd, buf, sizeof(buf), NULL), 1);
    int ep2 = ep_new();
    assert_int_equal(ep2, ep);           /* same number, a new instance */
    expect_no_event(ep2);
    ep_add(ep2, fd, EPOLLIN, 2);
    datagram_to(t, 7, "y");
    expect_event(ep2, EPOLLIN, 2);
    ust_close(ep2);
    ust_close(fd);
}

static void test_epoll_instance_closed_behind_our_back_is_replaced_cleanly(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    int ep = ep_new();
    ep_add(ep, fd, EPOLLIN, 1);
    close(ep);                           /* not ust_close: ustack did not see it go */
    int ep2 = ep_new();
    assert_int_equal(ep2, ep);           /* the number again: the old state goes now */
    datagram_to(t, 7, "x");
    expect_no_event(ep2);
    ep_add(ep2, fd, EPOLLIN, 2);
    expect_event(ep2, EPOLLIN, 2);
    ust_close(ep2);
    ust_close(fd);
}

/* ---- Nesting, and ust_poll on an instance ---- */

static void test_epoll_nested_instance_reports_its_sockets(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    int inner = ep_new(), outer = ep_new();
    ep_add(inner, fd, EPOLLIN, 1);
    ep_add(outer, inner, EPOLLIN, 77);
    expect_no_event(outer);
    assert_int_equal(poll_one(inner, POLLIN), 0);
    datagram_to(t, 7, "x");
    expect_event(outer, EPOLLIN, 77);
    expect_event(outer, EPOLLIN, 77);    /* level-triggered in the outer one too */
    assert_int_equal(poll_one(inner, POLLIN | POLLOUT), POLLIN);
    expect_event(inner, EPOLLIN, 1);
    char buf[4];
    assert_int_equal(st_recv(fd, buf, sizeof(buf), NULL), 1);
    expect_no_event(outer);
    assert_int_equal(poll_one(inner, POLLIN), 0);
    /* Edge-triggered outside: once per change inside. */
    ep_mod(outer, inner, EPOLLIN | EPOLLET, 78);
    datagram_to(t, 7, "y");
    expect_event(outer, EPOLLIN, 78);
    expect_no_event(outer);
    assert_int_equal(st_recv(fd, buf, sizeof(buf), NULL), 1);
    /* Three deep. */
    int top = ep_new();
    ep_add(top, outer, EPOLLIN, 79);
    expect_no_event(top);
    datagram_to(t, 7, "z");
    expect_event(top, EPOLLIN, 79);
    /* Gone from the outer one when closed. */
    assert_int_equal(st_recv(fd, buf, sizeof(buf), NULL), 1);
    ep_mod(outer, inner, EPOLLIN, 80);
    ust_close(inner);
    datagram_to(t, 7, "w");
    expect_no_event(outer);
    expect_no_event(top);
    ust_close(top);
    ust_close(outer);
    ust_close(fd);
}

/* ---- TCP between two stacks ---- */

static void test_epoll_tcp_edge_triggered_writable_once_and_not_for_acks(void **state)
{
    struct pair *p = *state;
    int c, s;
    tcp_connected(p, &c, &s, NULL);
    int ep = ep_new();
    ep_add(ep, c, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, 3);
    expect_event(ep, EPOLLOUT, 3);
    expect_no_event(ep);
    /* Our own data acknowledged: no change worth a report (Linux: none either). */
    assert_int_equal(ust_send(c, "hello", 5, 0), 5);
    pump(p);
    pair_advance(p, 500);
    assert_int_equal(drain(s), 5);
    pair_advance(p, 500);
    expect_no_event(ep);
    /* The peer's data: reported with everything that is true. */
    assert_int_equal(ust_send(s, "abc", 3, 0), 3);
    pump(p);
    expect_event(ep, EPOLLIN | EPOLLOUT, 3);
    expect_no_event(ep);
    /* More data while the first is unread: reported again (Linux's sk_data_ready). */
    assert_int_equal(ust_send(s, "def", 3, 0), 3);
    pump(p);
    expect_event(ep, EPOLLIN | EPOLLOUT, 3);
    assert_int_equal(drain(c), 6);
    expect_no_event(ep);
    assert_int_equal(ust_send(s, "g", 1, 0), 1);
    pump(p);
    expect_event(ep, EPOLLIN | EPOLLOUT, 3);
    ust_close(ep);
    ust_close(c);
    ust_close(s);
}

static void test_epoll_tcp_edge_triggered_writable_again_when_the_buffer_drains(void **state)
{
    struct pair *p = *state;
    int c, s;
    tcp_connected(p, &c, &s, NULL);
    int sndbuf = 8192;
    assert_int_equal(ust_setsockopt(c, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
    int et = ep_new(), lt = ep_new();
    ep_add(et, c, EPOLLOUT | EPOLLET, 1);
    ep_add(lt, c, EPOLLOUT, 2);
    expect_event(et, EPOLLOUT, 1);
    char chunk[1000];
    memset(chunk, 'x', sizeof(chunk));
    unsigned sends = 0;
    while (ust_send(c, chunk, sizeof(chunk), 0) > 0)
        sends++;
    assert_int_equal(errno, EAGAIN);
    assert_true(sends > 0);
    expect_no_event(et);
    expect_no_event(lt);                 /* not writable: nothing, level or edge */
    /* The peer takes it; ACKs free the buffer: one report, edge-triggered. */
    for (int i = 0; i < 50 && !(poll_one(c, POLLOUT) & POLLOUT); i++) {
        pump(p);
        drain(s);
        pair_advance(p, 200);
    }
    expect_event(et, EPOLLOUT, 1);
    expect_no_event(et);
    expect_event(lt, EPOLLOUT, 2);
    expect_event(lt, EPOLLOUT, 2);
    ust_close(et);
    ust_close(lt);
    ust_close(c);
    ust_close(s);
}

static void test_epoll_tcp_peer_fin_reports_rdhup(void **state)
{
    struct pair *p = *state;
    int c, s;
    tcp_connected(p, &c, &s, NULL);
    int ep = ep_new(), plain = ep_new();
    ep_add(ep, c, EPOLLIN | EPOLLRDHUP | EPOLLET, 1);
    ep_add(plain, c, EPOLLIN, 2);
    expect_no_event(ep);
    assert_int_equal(ust_shutdown(s, SHUT_WR), 0);
    pump(p);
    expect_event(ep, EPOLLIN | EPOLLRDHUP, 1);
    expect_no_event(ep);
    expect_event(plain, EPOLLIN, 2);     /* no EPOLLRDHUP unless asked for */
    /* Our side closes too: the connection is over in both directions. */
    assert_int_equal(ust_shutdown(c, SHUT_WR), 0);
    pump(p);
    ep_mod(ep, c, EPOLLIN | EPOLLOUT | EPOLLRDHUP, 1);
    expect_event(ep, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLHUP, 1);
    ust_close(ep);
    ust_close(plain);
    ust_close(c);
    ust_close(s);
}

static void test_epoll_tcp_reset_reports_err_and_hup_without_being_asked(void **state)
{
    struct pair *p = *state;
    int c, s;
    tcp_connected(p, &c, &s, NULL);
    int none = ep_new(), all = ep_new();
    ep_add(none, s, 0, 1);               /* no interest: EPOLLERR | EPOLLHUP still come */
    ep_add(all, s, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, 2);
    expect_no_event(none);
    expect_event(all, EPOLLOUT, 2);
    /* SO_LINGER 0: the close is a reset. */
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    assert_int_equal(ust_setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    ust_close(c);
    pump(p);
    expect_event(none, EPOLLERR | EPOLLHUP, 1);
    expect_event(none, EPOLLERR | EPOLLHUP, 1);
    expect_event(all, EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLRDHUP, 2);
    expect_no_event(all);
    char b;
    expect_errno(ust_recv(s, &b, 1, 0), ECONNRESET);
    /* The error is taken; the hang-up stays. */
    expect_event(none, EPOLLHUP, 1);
    ust_close(none);
    ust_close(all);
    ust_close(s);
}

static void test_epoll_tcp_refused_connect_reports_err_hup_and_out(void **state)
{
    struct pair *p = *state;
    int c = tcp_socket(p->a);
    int ep = ep_new();
    ep_add(ep, c, EPOLLOUT | EPOLLONESHOT, 9);
    expect_errno(st_connect(c, B_ADDR, 81), EINPROGRESS);
    expect_no_event(ep);                 /* connecting: not writable yet */
    pump(p);
    expect_event(ep, EPOLLOUT | EPOLLERR | EPOLLHUP, 9);
    expect_no_event(ep);                 /* one-shot */
    int err = 0;
    socklen_t len = sizeof(err);
    assert_int_equal(ust_getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    assert_int_equal(err, ECONNREFUSED);
    ust_close(ep);
    ust_close(c);
}

static void test_epoll_tcp_connect_completion_and_listener_in_one_instance(void **state)
{
    struct pair *p = *state;
    /* One instance, sockets of two stacks: it runs both. */
    int l = tcp_socket(p->b);
    assert_int_equal(st_bind(l, B_ADDR, B_PORT), 0);
    assert_int_equal(ust_listen(l, 8), 0);
    int c = tcp_socket(p->a);
    int ep = ep_new();
    ep_add(ep, l, EPOLLIN | EPOLLET, 1);
    ep_add(ep, c, EPOLLOUT | EPOLLET, 2);
    /* Linux's tcp_poll: a socket never connected is writable and hung up. */
    expect_event(ep, EPOLLOUT | EPOLLHUP, 2);
    expect_errno(st_connect(c, B_ADDR, B_PORT), EINPROGRESS);
    expect_no_event(ep);                 /* connecting */
    /* No pump: ust_epoll_wait runs the stacks itself, a few rounds for the handshake. */
    struct epoll_event ev[4];
    uint64_t seen = 0;
    for (int i = 0; i < 10 && seen != 3; i++) {
        int n = ep_take(ep, ev, 4);
        for (int k = 0; k < n; k++) {
            assert_int_equal(ev[k].events, ev[k].data.u64 == 1 ? EPOLLIN : EPOLLOUT);
            seen |= ev[k].data.u64;
        }
    }
    assert_int_equal(seen, 3);
    expect_no_event(ep);
    int s = ust_accept4(l, NULL, NULL, SOCK_NONBLOCK);
    assert_true(s >= 0);
    expect_no_event(ep);
    /* Data across, through the instance alone. */
    ep_add(ep, s, EPOLLIN, 3);
    assert_int_equal(ust_send(c, "ping", 4, 0), 4);
    for (int i = 0; i < 10; i++) {
        int n = ep_take(ep, ev, 4);
        if (n == 1 && ev[0].data.u64 == 3)
            break;
        assert_int_equal(n, 0);
    }
    char buf[8];
    assert_int_equal(ust_recv(s, buf, sizeof(buf), 0), 4);
    assert_memory_equal(buf, "ping", 4);
    ust_close(ep);
    ust_close(l);
    ust_close(c);
    ust_close(s);
}

/* ---- Waiting for real: woken by another thread, or interrupted ---- */

struct waiter {
    int ep;
    int timeout;
    const sigset_t *mask;
    int n;
    int err;
    struct epoll_event ev;
    sigset_t block;
    bool use_block;
};

static void *wait_thread(void *arg)
{
    struct waiter *w = arg;
    if (w->use_block)
        pthread_sigmask(SIG_BLOCK, &w->block, NULL);
    errno = 0;
    w->n = ust_epoll_pwait(w->ep, &w->ev, 1, w->timeout, w->mask);
    w->err = errno;
    return NULL;
}

/* Until a thread sleeps on the stack (in sock_sleep): spins, no sleep. */
static void until_asleep(struct ust_stack *s)
{
    for (;;) {
        pthread_mutex_lock(&s->lock);
        unsigned n = s->sleepers;
        pthread_mutex_unlock(&s->lock);
        if (n)
            return;
        sched_yield();
    }
}

static void test_epoll_wait_is_woken_by_a_datagram_another_thread_sends(void **state)
{
    struct st *t = *state;
    int rx = st_udp_bound(t, 0, 7);
    int tx = st_udp_socket(t);
    int ep = ep_new();
    ep_add(ep, rx, EPOLLIN | EPOLLET, 55);
    struct waiter w = { .ep = ep, .timeout = -1 };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, wait_thread, &w), 0);
    until_asleep(t->s);
    /* To our own address: delivered by this thread, inside the stack, while the other one
     * sleeps; the notification must wake it. */
    assert_int_equal(st_sendto(tx, "wake", 4, ST_ADDR, 7), 4);
    pthread_join(th, NULL);
    assert_int_equal(w.n, 1);
    assert_int_equal(w.ev.events, EPOLLIN);
    assert_int_equal(w.ev.data.u64, 55);
    ust_close(ep);
    ust_close(rx);
    ust_close(tx);
}

static void test_epoll_wait_is_woken_by_an_eventfd(void **state)
{
    struct st *t = *state;
    int u = st_udp_bound(t, 0, 7);       /* a stack to sleep on as well */
    int efd = eventfd(0, EFD_NONBLOCK);
    int ep = ep_new();
    ep_add(ep, u, EPOLLIN, 1);
    ep_add(ep, efd, EPOLLIN, 2);
    struct waiter w = { .ep = ep, .timeout = -1 };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, wait_thread, &w), 0);
    until_asleep(t->s);
    uint64_t one = 1;
    assert_int_equal(write(efd, &one, sizeof(one)), sizeof(one));
    pthread_join(th, NULL);
    assert_int_equal(w.n, 1);
    assert_int_equal(w.ev.data.u64, 2);
    ust_close(ep);
    close(efd);
    ust_close(u);
}

static void on_usr1(int sig)
{
    (void)sig;
}

static void test_epoll_pwait_is_interrupted_by_a_signal_its_mask_lets_in(void **state)
{
    struct st *t = *state;
    int u = st_udp_bound(t, 0, 7);
    int ep = ep_new();
    ep_add(ep, u, EPOLLIN, 1);
    struct sigaction sa = { .sa_handler = on_usr1 }, old;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
    /* The thread blocks SIGUSR1 and lets it in only while it waits: however early the signal
     * comes, the wait ends with EINTR (ppoll's atomic mask). */
    sigset_t during;
    sigemptyset(&during);
    struct waiter w = { .ep = ep, .timeout = -1, .mask = &during, .use_block = true };
    sigemptyset(&w.block);
    sigaddset(&w.block, SIGUSR1);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, wait_thread, &w), 0);
    until_asleep(t->s);
    pthread_kill(th, SIGUSR1);
    pthread_join(th, NULL);
    assert_int_equal(w.n, -1);
    assert_int_equal(w.err, EINTR);
    sigaction(SIGUSR1, &old, NULL);
    /* The socket's events are still there for the next wait. */
    datagram_to(t, 7, "x");
    expect_event(ep, EPOLLIN, 1);
    ust_close(ep);
    ust_close(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, st_setup, st_teardown)
#define P(name) cmocka_unit_test_setup_teardown(name, pair_setup, pair_teardown)
        T(test_epoll_level_triggered_reports_readable_until_read),
        T(test_epoll_edge_triggered_reports_each_arrival_once),
        T(test_epoll_edge_triggered_add_of_a_ready_socket_reports_once),
        T(test_epoll_oneshot_reports_once_until_mod),
        T(test_epoll_writability_level_edge_and_oneshot),
        T(test_epoll_err_is_reported_without_being_asked_for),
        T(test_epoll_shutdown_reports_rdhup_and_hup),
        T(test_epoll_data_comes_back_as_given),
        T(test_epoll_maxevents_leaves_the_rest_for_the_next_call_first),
        T(test_epoll_mixes_a_pipe_an_eventfd_and_sockets),
        T(test_epoll_ctl_errnos_are_linuxs),
        T(test_epoll_ctl_leaves_the_link_to_epoll_wait),
        T(test_epoll_wait_errnos_are_linuxs),
        T(test_epoll_closing_a_socket_removes_it_from_every_instance),
        T(test_epoll_closing_an_instance_leaves_its_sockets_alone),
        T(test_epoll_instance_closed_behind_our_back_is_replaced_cleanly),
        T(test_epoll_nested_instance_reports_its_sockets),
        P(test_epoll_tcp_edge_triggered_writable_once_and_not_for_acks),
        P(test_epoll_tcp_edge_triggered_writable_again_when_the_buffer_drains),
        P(test_epoll_tcp_peer_fin_reports_rdhup),
        P(test_epoll_tcp_reset_reports_err_and_hup_without_being_asked),
        P(test_epoll_tcp_refused_connect_reports_err_hup_and_out),
        P(test_epoll_tcp_connect_completion_and_listener_in_one_instance),
        T(test_epoll_wait_is_woken_by_a_datagram_another_thread_sends),
        T(test_epoll_wait_is_woken_by_an_eventfd),
        T(test_epoll_pwait_is_interrupted_by_a_signal_its_mask_lets_in),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
