/*
 * Descriptors and wake-ups (src/sock/sock.c, poll.c): every socket's number is a duplicate of
 * one placeholder eventfd (no kernel file of its own), its close-on-exec flag is its own, and
 * threads sleep on their own eventfds ("lines"), which the protocol's notification writes for
 * each waiter a socket lists: ust_poll wakes when another thread delivers to a socket it
 * watches, the placeholder is never written, a thread's line goes at thread exit, and a forked
 * child makes its own. With private_fds the numbers come from a space of their own above any
 * kernel descriptor, cost no descriptor and are not limited by RLIMIT_NOFILE.
 */
#include "stacktest.h"
#include "tcptest.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/stack.h"
#include "sock/sock.h"
#include "ustack/ustack.h"

/* A field of /proc/self/fdinfo/fd ("eventfd-id", "eventfd-count"); -1 if absent. */
static long long fdinfo(int fd, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long long v = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            v = strtoll(line + n + 1, NULL, 10);
    fclose(f);
    return v;
}

static void test_socket_numbers_duplicate_the_placeholder(void **state)
{
    struct st *t = *state;
    int ph = sock_placeholder();
    assert_true(ph >= 0);
    long long id = fdinfo(ph, "eventfd-id");
    assert_true(id >= 0);
    int u = ust_stack_socket(t->s, AF_INET, SOCK_DGRAM, 0);
    int c = ust_stack_socket(t->s, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(u >= 0 && c >= 0 && u != c && u != ph && c != ph);
    /* The same kernel file behind every number: a socket costs the kernel a table slot only. */
    assert_int_equal(fdinfo(u, "eventfd-id"), id);
    assert_int_equal(fdinfo(c, "eventfd-id"), id);
    /* Close-on-exec belongs to each number, as for any descriptor. */
    assert_int_equal(fcntl(u, F_GETFD), 0);
    assert_int_equal(fcntl(c, F_GETFD), FD_CLOEXEC);
    assert_int_equal(ust_fcntl(u, F_SETFD, FD_CLOEXEC), 0);
    assert_int_equal(fcntl(u, F_GETFD), FD_CLOEXEC);
    assert_int_equal(fcntl(c, F_GETFD), FD_CLOEXEC);
    /* O_NONBLOCK is the socket's, never the shared file's. */
    assert_int_equal(ust_fcntl(u, F_SETFL, O_NONBLOCK), 0);
    assert_true(ust_fcntl(u, F_GETFL) & O_NONBLOCK);
    assert_false(ust_fcntl(c, F_GETFL) & O_NONBLOCK);
    assert_int_equal(ust_close(u), 0);
    assert_int_equal(fcntl(u, F_GETFD), -1);   /* the number went back to the kernel */
    assert_int_equal(errno, EBADF);
    assert_int_equal(fcntl(ph, F_GETFD), FD_CLOEXEC);   /* the placeholder stays */
    assert_int_equal(ust_close(c), 0);
}

static void test_private_numbers_are_above_the_kernels_and_cost_no_descriptor(void **state)
{
    struct st *t = *state;
    st_restart(t, "private_fds=1", "max_sockets=300");
    /* A soft limit far below what we open: private numbers do not count against it. */
    struct rlimit old;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    struct rlimit low = { .rlim_cur = 64, .rlim_max = old.rlim_max };
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    int fds[300];
    for (int i = 0; i < 300; i++) {
        fds[i] = ust_stack_socket(t->s, AF_INET, SOCK_DGRAM, 0);
        assert_true(fds[i] >= SOCK_PRIVATE_BASE);
        assert_int_equal(fcntl(fds[i], F_GETFD), -1);   /* not a kernel descriptor */
        assert_int_equal(errno, EBADF);
    }
    /* max_sockets still holds. */
    assert_int_equal(ust_stack_socket(t->s, AF_INET, SOCK_DGRAM, 0), -1);
    assert_int_equal(errno, EMFILE);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    /* A closed number is free again, and is the next given out. */
    int again = fds[17];
    assert_int_equal(ust_close(again), 0);
    assert_int_equal(ust_close(again), -1);
    assert_int_equal(errno, EBADF);
    fds[17] = ust_stack_socket(t->s, AF_INET, SOCK_DGRAM, 0);
    assert_int_equal(fds[17], again);
    /* Close-on-exec is kept by the socket. */
    int c = ust_stack_socket(t->s, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(c, -1);   /* max_sockets */
    assert_int_equal(ust_close(fds[0]), 0);
    c = ust_stack_socket(t->s, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(c, fds[0]);
    fds[0] = c;
    assert_int_equal(ust_fcntl(c, F_GETFD), FD_CLOEXEC);
    assert_int_equal(ust_fcntl(fds[1], F_GETFD), 0);
    assert_int_equal(ust_fcntl(fds[1], F_SETFD, FD_CLOEXEC), 0);
    assert_int_equal(ust_fcntl(fds[1], F_GETFD), FD_CLOEXEC);
    for (int i = 0; i < 300; i++)
        assert_int_equal(ust_close(fds[i]), 0);
}

static void test_private_numbers_accept_and_poll_with_kernel_descriptors(void **state)
{
    struct st *t = *state;
    st_restart(t, "private_fds=1");
    /* Accepted connections get private numbers too (conn_in_state accepts it). */
    struct conn c = conn_in_state(t, ESTABLISHED, .passive = true);
    assert_true(c.fd >= SOCK_PRIVATE_BASE);
    /* One ust_poll over a kernel pipe and the private socket: each reports its own. */
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    assert_int_equal(write(pipefd[1], "k", 1), 1);
    struct pollfd p[2] = { { .fd = pipefd[0], .events = POLLIN },
                           { .fd = c.fd, .events = POLLIN | POLLOUT } };
    assert_int_equal(ust_poll(p, 2, 0), 2);
    assert_int_equal(p[0].revents, POLLIN);
    assert_int_equal(p[1].revents, POLLOUT);
    close(pipefd[0]);
    close(pipefd[1]);
    assert_int_equal(ust_close(c.fd), 0);
    st_drain_tx(t);
}

/* Delivers a datagram to port 5001 from another thread once the test's thread is asleep in
 * ust_poll (a waiter is on the socket), processing it as any thread entering the stack would. */
struct deliverer {
    struct st *t;
    struct sock *so;
    atomic_bool delivered;
};

static void *deliver_when_asleep(void *arg)
{
    struct deliverer *d = arg;
    struct ust_stack *s = d->t->s;
    for (unsigned i = 0; i < 5000000; i++) {
        pthread_mutex_lock(&s->lock);
        bool asleep = d->so->waiters != NULL && s->sleepers > 0;
        pthread_mutex_unlock(&s->lock);
        if (asleep)
            break;
        sched_yield();
    }
    st_inject_frame(d->t, udp(.dport = 5001, .data = "wake"));
    stack_enter(s);
    stack_process(s);
    stack_leave(s);
    atomic_store(&d->delivered, true);
    return NULL;
}

static void test_poll_sleeps_on_the_thread_line_and_wakes_on_delivery(void **state)
{
    struct st *t = *state;
    int a = st_udp_bound(t, 0, 5000), b = st_udp_bound(t, 0, 5001);
    struct deliverer d = { .t = t, .so = sock_get(b) };
    atomic_init(&d.delivered, false);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, deliver_when_asleep, &d), 0);
    struct pollfd p[2] = { { .fd = a, .events = POLLIN }, { .fd = b, .events = POLLIN } };
    /* A fake clock stands still, so nothing but the delivery can end this before 10 s. */
    int rc = ust_poll(p, 2, 10000);
    pthread_join(th, NULL);
    assert_true(atomic_load(&d.delivered));
    assert_int_equal(rc, 1);
    assert_int_equal(p[0].revents, 0);
    assert_int_equal(p[1].revents, POLLIN);
    /* The poll left no waiter behind, and woke through the thread's line: nothing wrote the
     * placeholder behind the sockets' numbers. */
    assert_null(d.so->waiters);
    assert_int_equal(fdinfo(b, "eventfd-count"), 0);
    int line = sock_thread_line();
    assert_true(line >= 0);
    /* Drained after the wake-up, unless the poll woke first on the loop link's descriptor
     * (the injected frame) and the delivery wrote the line before the poll took its waiters
     * off: then one stale wake-up remains, which costs the next sleep one round (valgrind's
     * thread scheduling makes that order the usual one). Never more than one. */
    assert_true(fdinfo(line, "eventfd-count") <= 1);
    sock_put(d.so);
    char buf[8];
    assert_int_equal(ust_recv(b, buf, sizeof(buf), 0), 4);
    assert_memory_equal(buf, "wake", 4);
    ust_close(a);
    ust_close(b);
}

static void *line_of_thread(void *arg)
{
    int *fd = arg;
    *fd = sock_thread_line();
    return NULL;
}

static void test_each_thread_has_its_own_line_closed_at_exit(void **state)
{
    (void)state;
    int mine = sock_thread_line();
    assert_true(mine >= 0);
    assert_int_equal(sock_thread_line(), mine);   /* made once */
    int theirs = -1;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, line_of_thread, &theirs), 0);
    pthread_join(th, NULL);
    assert_true(theirs >= 0 && theirs != mine);
    assert_int_equal(fcntl(theirs, F_GETFD), -1);   /* closed when its thread ended */
    assert_int_equal(errno, EBADF);
    assert_int_equal(fcntl(mine, F_GETFD), FD_CLOEXEC);
}

static void test_forked_child_makes_its_own_line(void **state)
{
    (void)state;
    int mine = sock_thread_line();
    long long id = fdinfo(mine, "eventfd-id");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* The parent's line is not the child's: a sleep here must not drain the parent's
         * wake-ups. */
        int line = sock_thread_line();
        _exit(line >= 0 && fdinfo(line, "eventfd-id") != id ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(sock_thread_line(), mine);
    assert_int_equal(fdinfo(mine, "eventfd-id"), id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, st_setup, st_teardown)
        T(test_socket_numbers_duplicate_the_placeholder),
        T(test_poll_sleeps_on_the_thread_line_and_wakes_on_delivery),
        T(test_each_thread_has_its_own_line_closed_at_exit),
        T(test_forked_child_makes_its_own_line),
        T(test_private_numbers_are_above_the_kernels_and_cost_no_descriptor),
        T(test_private_numbers_accept_and_poll_with_kernel_descriptors),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
