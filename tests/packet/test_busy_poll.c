/*
 * Busy polling (the spin_us option) and lazy link checks, seen at the API.
 *
 * A thread that spins instead of sleeping must answer exactly as a sleeping one: ust_poll and
 * ust_epoll_wait report the same events and time out when they should, a blocking receive gets
 * the datagram, and a signal still interrupts the call (EINTR). A helper thread puts a frame on
 * the wire once the stack has been polled a few times by the waiting thread (so it arrives
 * during the spin) and records whether that thread was asleep at that moment: with spinning it
 * never is. Nothing here measures time beyond "a timeout did not end early".
 *
 * Lazy checks: a UDP send, and a receive that finds data already queued, do not look at the
 * link (on TAP that is a failing readv per call); the link is looked at by the next call that
 * could otherwise answer "nothing", or once its last look is STACK_LAZY_RX_NS old on the
 * stack's clock.
 *
 * Speculative receive: a poll about to sleep (nothing ready) reads a link known to be empty
 * while more than half of such reads find frames (a credit counted up and down), and once
 * stopped tries again at growing gaps (net/stack.h). Each poll here first has the stack find
 * the link empty, so whether it reads the link before sleeping is the heuristic's decision
 * alone, seen in the stack.rx_speculative counters.
 */
#include "stacktest.h"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/time.h>
#include <unistd.h>

#include "ustack/ustack.h"

#define SPIN_LONG "spin_us=5000000"   /* longer than any wait below: the caller never sleeps */
#define HELPER_LIMIT_NS (5 * NS_PER_SEC)

/* ---- A helper that acts while the test's thread spins ---- */

struct helper {
    struct st *t;
    uint64_t polls_before;       /* stack.polls when the test's call began */
    uint16_t dport;              /* datagram to this port, or ... */
    int pipe_fd;                 /* ... a byte into this pipe (>= 0) */
    bool acted;
    bool slept;                  /* the test's thread was asleep when the helper acted */
    pthread_t thread;
};

static void *helper_main(void *p)
{
    struct helper *h = p;
    struct ust_stack *s = h->t->s;
    uint64_t give_up = clk_mono_ns() + HELPER_LIMIT_NS;
    while (!h->acted && clk_mono_ns() < give_up) {
        pthread_mutex_lock(&s->lock);
        /* Three more looks at the link than when the call began: it is polling, not done. */
        if (s->ctrs.polls >= h->polls_before + 3) {
            h->slept = s->sleepers != 0;
            if (h->pipe_fd >= 0)
                h->acted = write(h->pipe_fd, "k", 1) == 1;
            else {
                st_inject_frame(h->t, udp(.dport = h->dport, .data = "spun"));
                h->acted = true;
            }
        }
        pthread_mutex_unlock(&s->lock);
        sched_yield();
    }
    return NULL;
}

static void helper_start(struct helper *h, struct st *t, uint16_t dport, int pipe_fd)
{
    *h = (struct helper){ .t = t, .dport = dport, .pipe_fd = pipe_fd,
                          .polls_before = counter(t, "stack.polls") };
    assert_int_equal(pthread_create(&h->thread, NULL, helper_main, h), 0);
}

static void helper_join(struct helper *h)
{
    pthread_join(h->thread, NULL);
    assert_true(h->acted);
    assert_false(h->slept);
}

static void expect_datagram(int fd, const char *want)
{
    char buf[16];
    ssize_t n = st_recv(fd, buf, sizeof(buf), NULL);
    assert_int_equal(n, (ssize_t)strlen(want));
    assert_memory_equal(buf, want, strlen(want));
}

/* ---- ust_poll ---- */

static void test_spinning_poll_returns_the_datagram_that_arrives_while_it_spins(void **state)
{
    struct st *t = *state;
    st_restart(t, SPIN_LONG);
    int fd = st_udp_bound(t, 0, 7);
    struct helper h;
    helper_start(&h, t, 7, -1);
    struct pollfd p = { .fd = fd, .events = POLLIN };
    assert_int_equal(ust_poll(&p, 1, 4000), 1);
    helper_join(&h);
    assert_int_equal(p.revents, POLLIN);
    expect_datagram(fd, "spun");
    ust_close(fd);
}

static void test_spinning_poll_reports_only_the_events_asked_for(void **state)
{
    struct st *t = *state;
    st_restart(t, SPIN_LONG);
    int fd = st_udp_bound(t, 0, 7);
    int other = st_udp_bound(t, 0, 8);
    struct helper h;
    helper_start(&h, t, 8, -1);
    struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = other, .events = POLLIN } };
    assert_int_equal(ust_poll(p, 2, 4000), 1);
    helper_join(&h);
    assert_int_equal(p[0].revents, 0);
    assert_int_equal(p[1].revents, POLLIN);
    /* Asked for both, a socket with a datagram is readable and writable. */
    p[1].events = POLLIN | POLLOUT;
    assert_int_equal(ust_poll(&p[1], 1, 4000), 1);
    assert_int_equal(p[1].revents, POLLIN | POLLOUT);
    expect_datagram(other, "spun");
    ust_close(fd);
    ust_close(other);
}

static void test_spinning_poll_sees_a_kernel_descriptor(void **state)
{
    struct st *t = *state;
    st_restart(t, SPIN_LONG);
    int fd = st_udp_bound(t, 0, 7);
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    struct helper h;
    helper_start(&h, t, 0, pipefd[1]);
    struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = pipefd[0], .events = POLLIN } };
    assert_int_equal(ust_poll(p, 2, 4000), 1);
    helper_join(&h);
    assert_int_equal(p[0].revents, 0);
    assert_int_equal(p[1].revents, POLLIN);
    close(pipefd[0]);
    close(pipefd[1]);
    ust_close(fd);
}

static void test_spinning_poll_times_out(void **state)
{
    struct st *t = *state;
    st_restart(t, "spin_us=10000000");   /* far longer than the timeout */
    int fd = st_udp_bound(t, 0, 7);
    struct pollfd p = { .fd = fd, .events = POLLIN, .revents = -1 };
    uint64_t start = clk_mono_ns();
    assert_int_equal(ust_poll(&p, 1, 30), 0);
    assert_true(clk_mono_ns() - start >= 30 * NS_PER_MS);   /* not early */
    assert_int_equal(p.revents, 0);
    ust_close(fd);
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

/* Arms SIGALRM (no SA_RESTART) to fire once after `ms`; returns the old action. */
static struct sigaction alarm_in(unsigned ms)
{
    struct sigaction sa = { .sa_handler = on_alarm }, old;
    assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
    alarms = 0;
    struct itimerval it = { .it_value = { .tv_sec = 0, .tv_usec = (suseconds_t)ms * 1000 } };
    assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
    return old;
}

static void alarm_off(const struct sigaction *old)
{
    struct itimerval off = { { 0, 0 }, { 0, 0 } };
    setitimer(ITIMER_REAL, &off, NULL);
    sigaction(SIGALRM, old, NULL);
}

static void test_spinning_poll_is_interrupted_by_a_signal(void **state)
{
    struct st *t = *state;
    st_restart(t, "spin_us=10000000");
    int fd = st_udp_bound(t, 0, 7);
    struct pollfd p = { .fd = fd, .events = POLLIN };
    struct sigaction old = alarm_in(20);
    errno = 0;
    int n = ust_poll(&p, 1, 3000);   /* a spin that missed the signal would time out instead */
    int err = errno;
    alarm_off(&old);
    assert_int_equal(n, -1);
    assert_int_equal(err, EINTR);
    assert_int_equal(alarms, 1);
    /* The signal mask is the caller's again: a second alarm is handled as usual. */
    sigset_t now;
    assert_int_equal(pthread_sigmask(SIG_BLOCK, NULL, &now), 0);
    assert_int_equal(sigismember(&now, SIGALRM), 0);
    ust_close(fd);
}

static void test_spinning_without_blocking_signals_runs_the_handler_and_goes_on(void **state)
{
    struct st *t = *state;
    st_restart(t, "spin_us=1000000", "spin_signals=0");
    int fd = st_udp_bound(t, 0, 7);
    struct pollfd p = { .fd = fd, .events = POLLIN };
    /* The alarm comes 20 ms into a 1 s spin: its handler runs there and then (nothing is
     * blocked), and the call goes on to its timeout, as a loop of non-blocking calls would. */
    struct sigaction old = alarm_in(20);
    sigset_t before, after;
    sigemptyset(&before);
    sigemptyset(&after);
    assert_int_equal(pthread_sigmask(SIG_BLOCK, NULL, &before), 0);
    int n = ust_poll(&p, 1, 1100);
    assert_int_equal(pthread_sigmask(SIG_BLOCK, NULL, &after), 0);
    alarm_off(&old);
    assert_int_equal(n, 0);
    assert_int_equal(alarms, 1);
    for (int sig = 1; sig < NSIG; sig++)
        assert_int_equal(sigismember(&after, sig), sigismember(&before, sig));
    ust_close(fd);
}

/* ---- ust_epoll_wait ---- */

static void test_spinning_epoll_wait_returns_the_event(void **state)
{
    struct st *t = *state;
    st_restart(t, SPIN_LONG);
    int fd = st_udp_bound(t, 0, 7);
    int ep = ust_epoll_create1(0);
    assert_true(ep >= 0);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 77 };
    assert_int_equal(ust_epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
    struct helper h;
    helper_start(&h, t, 7, -1);
    struct epoll_event out[4];
    memset(out, 0, sizeof(out));
    assert_int_equal(ust_epoll_wait(ep, out, 4, 4000), 1);
    helper_join(&h);
    assert_int_equal(out[0].events, EPOLLIN);
    assert_int_equal(out[0].data.u64, 77);
    expect_datagram(fd, "spun");
    ust_close(ep);
    ust_close(fd);
}

static void test_spinning_epoll_wait_times_out(void **state)
{
    struct st *t = *state;
    st_restart(t, "spin_us=10000000");
    int fd = st_udp_bound(t, 0, 7);
    int ep = ust_epoll_create1(0);
    assert_true(ep >= 0);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 77 };
    assert_int_equal(ust_epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
    struct epoll_event out[4];
    uint64_t start = clk_mono_ns();
    assert_int_equal(ust_epoll_wait(ep, out, 4, 30), 0);
    assert_true(clk_mono_ns() - start >= 30 * NS_PER_MS);
    struct sigaction old = alarm_in(20);
    errno = 0;
    int n = ust_epoll_wait(ep, out, 4, 3000);
    int err = errno;
    alarm_off(&old);
    assert_int_equal(n, -1);
    assert_int_equal(err, EINTR);
    ust_close(ep);
    ust_close(fd);
}

/* ---- Blocking receive (sock_wait -> stack_wait) ---- */

static void test_spinning_blocking_recv_gets_the_datagram(void **state)
{
    struct st *t = *state;
    st_restart(t, SPIN_LONG);
    int fd = st_udp_bound(t, 0, 7);
    struct helper h;
    helper_start(&h, t, 7, -1);
    char buf[16];
    assert_int_equal(ust_recv(fd, buf, sizeof(buf), 0), 4);   /* blocking */
    helper_join(&h);
    assert_memory_equal(buf, "spun", 4);
    ust_close(fd);
}

static void test_spinning_blocking_recv_is_interrupted_by_a_signal(void **state)
{
    struct st *t = *state;
    st_restart(t, "spin_us=10000000");
    int fd = st_udp_bound(t, 0, 7);
    /* SO_RCVTIMEO runs on the stack's clock, which the test holds still: only the signal can
     * end this call (a spin that missed it would run its 10 s, then sleep with timeout 0 and
     * spin again). The helper's time limit is not involved: no helper. */
    struct sigaction old = alarm_in(20);
    char buf[16];
    errno = 0;
    ssize_t n = ust_recv(fd, buf, sizeof(buf), 0);
    int err = errno;
    alarm_off(&old);
    assert_int_equal(n, -1);
    assert_int_equal(err, EINTR);
    assert_int_equal(alarms, 1);
    ust_close(fd);
}

/* ---- Lazy looks at the link ---- */

static void test_recv_returns_queued_data_without_looking_at_the_link(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    feed(t, udp(.dport = 7, .data = "one"));
    st_inject_frame(t, udp(.dport = 7, .data = "two"));     /* on the wire, not yet taken */
    uint64_t polls = counter(t, "stack.polls"), frames = counter(t, "stack.rx_frames");
    expect_datagram(fd, "one");
    assert_int_equal(counter(t, "stack.polls"), polls);
    assert_int_equal(counter(t, "stack.rx_frames"), frames);
    /* The socket is empty now: "nothing" is not an answer before the link is looked at. */
    expect_datagram(fd, "two");
    assert_int_equal(counter(t, "stack.rx_frames"), frames + 1);
    char buf[8];
    expect_errno(ust_recv(fd, buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
    ust_close(fd);
}

static void test_udp_send_looks_at_the_link_only_once_its_last_look_is_old(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    int fd = st_udp_bound(t, 0, 7);
    assert_true(ust_stack_poll(t->s, NULL) >= 0);            /* a look at the link, now */
    st_inject_frame(t, udp(.dport = 7, .data = "in"));
    uint64_t frames = counter(t, "stack.rx_frames");
    assert_int_equal(st_sendto(fd, "out", 3, ST_PEER, 9), 3);
    expect_tx(t, want_udp(.dport = 9, .data = "out"));
    assert_int_equal(counter(t, "stack.rx_frames"), frames);  /* left on the wire */
    clk_advance(&t->clock, STACK_LAZY_RX_NS - 1);
    assert_int_equal(st_sendto(fd, "out", 3, ST_PEER, 9), 3);
    expect_tx(t, want_udp(.dport = 9, .data = "out"));
    assert_int_equal(counter(t, "stack.rx_frames"), frames);
    clk_advance(&t->clock, 1);                                 /* now the look is old */
    assert_int_equal(st_sendto(fd, "out", 3, ST_PEER, 9), 3);
    expect_tx(t, want_udp(.dport = 9, .data = "out"));
    assert_int_equal(counter(t, "stack.rx_frames"), frames + 1);
    expect_no_tx(t);
    expect_datagram(fd, "in");
    ust_close(fd);
}

static void test_poll_without_timeout_looks_at_the_link(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    struct pollfd p = { .fd = fd, .events = POLLIN };
    assert_int_equal(ust_poll(&p, 1, 0), 0);
    st_inject_frame(t, udp(.dport = 7, .data = "x"));
    assert_int_equal(ust_poll(&p, 1, 0), 1);
    assert_int_equal(p.revents, POLLIN);
    /* A poll that may sleep: the link was found empty, so the sleep watches it. */
    expect_datagram(fd, "x");
    st_inject_frame(t, udp(.dport = 7, .data = "y"));
    assert_int_equal(ust_poll(&p, 1, 2000), 1);
    assert_int_equal(p.revents, POLLIN);
    expect_datagram(fd, "y");
    ust_close(fd);
}

/* ---- Speculative receive ---- */

/* One ust_poll that may sleep, after a look that found the link empty (so the stack knows it
 * is) and, with `data`, a datagram put on the wire since, not yet taken. Returns how many
 * speculative reads the poll made (0 or 1). A poll that finds nothing times out after 1 ms. */
static unsigned poll_after_empty_look(struct st *t, int fd, const char *data)
{
    assert_int_equal(ust_stack_poll(t->s, NULL), 0);
    if (data)
        st_inject_frame(t, udp(.dport = 7, .data = data));
    uint64_t spec = counter(t, "stack.rx_speculative");
    struct pollfd p = { .fd = fd, .events = POLLIN };
    assert_int_equal(ust_poll(&p, 1, data ? 2000 : 1), data ? 1 : 0);
    if (data)
        expect_datagram(fd, data);
    return (unsigned)(counter(t, "stack.rx_speculative") - spec);
}

static void test_poll_reads_a_link_known_empty_while_that_finds_frames(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    /* The first poll tries; each read that finds the datagram keeps speculation on. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(poll_after_empty_look(t, fd, "req"), 1);
    assert_int_equal(counter(t, "stack.rx_speculative"), 5);
    assert_int_equal(counter(t, "stack.rx_speculative_empty"), 0);
    assert_int_equal(counter(t, "udp.in_datagrams"), 5);
    ust_close(fd);
}

/* Polls that each find a datagram by speculation, enough to fill the credit. */
static void fill_credit(struct st *t, int fd)
{
    for (unsigned i = 0; i < STACK_SPEC_CREDIT; i++)
        assert_int_equal(poll_after_empty_look(t, fd, "req"), 1);
}

/* Empty speculative reads: with full credit, STACK_SPEC_CREDIT of them in a row stop
 * speculation; then a trial read comes after 1, 2, 4, ... polls that sleep without one, up to
 * STACK_SPEC_GAP_MAX. */
static void expect_speculation_stops_then_trials(struct st *t, int fd, unsigned misses,
                                                 unsigned trials)
{
    uint64_t empty = counter(t, "stack.rx_speculative_empty");
    for (unsigned i = 0; i < misses; i++)
        assert_int_equal(poll_after_empty_look(t, fd, NULL), 1);
    assert_int_equal(counter(t, "stack.rx_speculative_empty"), empty + misses);
    unsigned gap = 1;
    for (unsigned k = 0; k < trials; k++) {
        for (unsigned i = 0; i < gap; i++)
            assert_int_equal(poll_after_empty_look(t, fd, NULL), 0);
        assert_int_equal(poll_after_empty_look(t, fd, NULL), 1);
        gap = gap * 2 > STACK_SPEC_GAP_MAX ? STACK_SPEC_GAP_MAX : gap * 2;
    }
    assert_int_equal(counter(t, "stack.rx_speculative_empty"), empty + misses + trials);
}

static void test_empty_speculative_reads_stop_it_and_trials_grow_rarer(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    fill_credit(t, fd);
    expect_speculation_stops_then_trials(t, fd, STACK_SPEC_CREDIT, 6);   /* 1, 2, 4, 8, 16, 16 */
    ust_close(fd);
}

static void test_speculation_lasts_while_half_the_reads_find_frames(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    assert_int_equal(poll_after_empty_look(t, fd, "req"), 1);   /* credit 1 */
    for (int i = 0; i < 3 * STACK_SPEC_CREDIT; i++) {
        assert_int_equal(poll_after_empty_look(t, fd, "req"), 1);
        assert_int_equal(poll_after_empty_look(t, fd, NULL), 1);
    }
    /* Credit 1 again: one read that finds nothing stops it. */
    expect_speculation_stops_then_trials(t, fd, 1, 1);
    ust_close(fd);
}

static void test_a_trial_that_finds_a_frame_restarts_speculation(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    fill_credit(t, fd);
    expect_speculation_stops_then_trials(t, fd, STACK_SPEC_CREDIT, 2);   /* next: 4 polls on */
    /* A datagram waiting while no read is due is found after the sleep, not before it. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(poll_after_empty_look(t, fd, "late"), 0);
    assert_int_equal(counter(t, "udp.in_datagrams"), STACK_SPEC_CREDIT + 3);
    assert_int_equal(poll_after_empty_look(t, fd, NULL), 0);
    assert_int_equal(poll_after_empty_look(t, fd, "found"), 1);   /* the trial */
    /* On again with one unit of credit, and the gap after it starts over at one poll. */
    expect_speculation_stops_then_trials(t, fd, 1, 1);
    ust_close(fd);
}

static void test_a_poll_that_finds_a_socket_ready_reads_nothing_speculatively(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 7);
    assert_int_equal(poll_after_empty_look(t, fd, "req"), 1);   /* speculation is on */
    feed(t, udp(.dport = 7, .data = "one"));
    feed(t, udp(.dport = 7, .data = "two"));
    assert_int_equal(ust_stack_poll(t->s, NULL), 0);           /* the link is known empty */
    uint64_t polls = counter(t, "stack.polls");
    struct pollfd p = { .fd = fd, .events = POLLIN };
    for (int i = 0; i < 2; i++) {
        /* Queued data: no sleep is coming, so no read of the link either. */
        assert_int_equal(ust_poll(&p, 1, 2000), 1);
        expect_datagram(fd, i ? "two" : "one");
    }
    assert_int_equal(counter(t, "stack.polls"), polls);
    assert_int_equal(counter(t, "stack.rx_speculative"), 1);
    ust_close(fd);
}

static void test_rx_speculate_off_never_reads_a_link_known_empty(void **state)
{
    struct st *t = *state;
    st_restart(t, "rx_speculate=0");
    int fd = st_udp_bound(t, 0, 7);
    for (int i = 0; i < 3; i++)
        assert_int_equal(poll_after_empty_look(t, fd, "req"), 0);   /* found after the sleep */
    assert_int_equal(poll_after_empty_look(t, fd, NULL), 0);
    assert_int_equal(counter(t, "udp.in_datagrams"), 3);
    assert_int_equal(counter(t, "stack.rx_speculative"), 0);
    ust_close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, st_setup, st_teardown)
        T(test_spinning_poll_returns_the_datagram_that_arrives_while_it_spins),
        T(test_spinning_poll_reports_only_the_events_asked_for),
        T(test_spinning_poll_sees_a_kernel_descriptor),
        T(test_spinning_poll_times_out),
        T(test_spinning_poll_is_interrupted_by_a_signal),
        T(test_spinning_without_blocking_signals_runs_the_handler_and_goes_on),
        T(test_spinning_epoll_wait_returns_the_event),
        T(test_spinning_epoll_wait_times_out),
        T(test_spinning_blocking_recv_gets_the_datagram),
        T(test_spinning_blocking_recv_is_interrupted_by_a_signal),
        T(test_recv_returns_queued_data_without_looking_at_the_link),
        T(test_udp_send_looks_at_the_link_only_once_its_last_look_is_old),
        T(test_poll_without_timeout_looks_at_the_link),
        T(test_poll_reads_a_link_known_empty_while_that_finds_frames),
        T(test_empty_speculative_reads_stop_it_and_trials_grow_rarer),
        T(test_speculation_lasts_while_half_the_reads_find_frames),
        T(test_a_trial_that_finds_a_frame_restarts_speculation),
        T(test_a_poll_that_finds_a_socket_ready_reads_nothing_speculatively),
        T(test_rx_speculate_off_never_reads_a_link_known_empty),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
