/*
 * sock_renumber and sock_rekey (src/sock/sock.c), which the LD_PRELOAD shim uses: a socket moved
 * onto a number the program already holds (a pending kernel socket replaced by a ustack one), and
 * a socket handed to a duplicate of its descriptor when the original number is closed. The
 * socket must keep working under its new number, the old number must be gone (or left alone),
 * and refusals must leave everything as it was. And sock_interrupted, the shim's way to end a
 * blocking call with EINTR when a signal handler ran between two sleeps.
 */
#include "stacktest.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "sock/sock.h"
#include "ustack/ustack.h"

static void receives_on(struct st *t, int fd, const char *what)
{
    feed(t, udp(.dport = 5000, .data = what));
    char buf[16];
    assert_int_equal(st_recv(fd, buf, sizeof(buf), NULL), (ssize_t)strlen(what));
    assert_memory_equal(buf, what, strlen(what));
}

static void test_renumber_moves_the_socket_onto_the_number(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 5000);
    int target = open("/dev/null", O_RDONLY);   /* a kernel descriptor the program holds */
    assert_true(target >= 0);
    assert_int_equal(sock_renumber(fd, target, false), 0);
    assert_false(ust_is_socket(fd));
    assert_int_equal(fcntl(fd, F_GETFD), -1);   /* the old number is closed */
    assert_int_equal(errno, EBADF);
    assert_true(ust_is_socket(target));
    assert_int_equal(fcntl(target, F_GETFD), 0);
    assert_int_equal(st_local_port(target), 5000);
    receives_on(t, target, "moved");
    assert_int_equal(ust_close(target), 0);
    assert_int_equal(fcntl(target, F_GETFD), -1);
}

static void test_renumber_can_set_close_on_exec(void **state)
{
    struct st *t = *state;
    int fd = st_udp_socket(t);
    int target = open("/dev/null", O_RDONLY);
    assert_int_equal(sock_renumber(fd, target, true), 0);
    assert_int_equal(fcntl(target, F_GETFD), FD_CLOEXEC);
    ust_close(target);
}

static void test_renumber_refusals_change_nothing(void **state)
{
    struct st *t = *state;
    int a = st_udp_bound(t, 0, 5000);
    int b = st_udp_socket(t);
    int plain = open("/dev/null", O_RDONLY);
    assert_int_equal(sock_renumber(a, b, false), -EBUSY);      /* b is a ustack socket */
    assert_int_equal(sock_renumber(a, a, false), -EBADF);
    assert_int_equal(sock_renumber(plain, b, false), -EBADF);  /* not a ustack socket */
    assert_int_equal(sock_renumber(-1, b, false), -EBADF);
    assert_int_equal(sock_renumber(a, -1, false), -EBADF);
    assert_true(ust_is_socket(a));
    assert_true(ust_is_socket(b));
    assert_int_equal(fcntl(plain, F_GETFD), 0);
    receives_on(t, a, "still");
    ust_close(a);
    ust_close(b);
    close(plain);
}

static void test_rekey_hands_the_socket_to_a_duplicate(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 5000);
    int dup_fd = dup(fd);   /* the same eventfd under another number */
    assert_true(dup_fd >= 0);
    assert_int_equal(sock_rekey(fd, dup_fd), 0);
    assert_false(ust_is_socket(fd));
    assert_true(ust_is_socket(dup_fd));
    assert_int_equal(fcntl(fd, F_GETFD), 0);   /* rekey closes nothing: the caller does */
    assert_int_equal(close(fd), 0);
    assert_int_equal(st_local_port(dup_fd), 5000);
    receives_on(t, dup_fd, "rekeyed");
    assert_int_equal(ust_close(dup_fd), 0);
    assert_int_equal(fcntl(dup_fd, F_GETFD), -1);   /* the last number went with the socket */
}

static void test_rekey_refuses_a_ustack_target(void **state)
{
    struct st *t = *state;
    int a = st_udp_socket(t);
    int b = st_udp_socket(t);
    assert_int_equal(sock_rekey(a, b), -EBUSY);
    assert_int_equal(sock_rekey(a, a), -EBADF);
    assert_int_equal(sock_rekey(-1, a), -EBADF);
    assert_true(ust_is_socket(a));
    assert_true(ust_is_socket(b));
    ust_close(a);
    ust_close(b);
}

/* sock_interrupted: the shim's "a signal handler ran" ends a blocking call before it sleeps. */
static bool handler_ran(void)
{
    return true;
}

static void test_interrupted_hook_ends_blocking_calls_with_eintr(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 5000);
    char buf[8];
    sock_interrupted = handler_ran;
    errno = 0;
    assert_int_equal(ust_recv(fd, buf, sizeof(buf), 0), -1);   /* blocking, nothing queued */
    assert_int_equal(errno, EINTR);
    struct pollfd p = { .fd = fd, .events = POLLIN };
    assert_int_equal(ust_poll(&p, 1, -1), -1);
    assert_int_equal(errno, EINTR);
    /* Something ready is still reported: the hook only stops sleeps. */
    sock_interrupted = NULL;
    feed(t, udp(.dport = 5000, .data = "ready"));
    sock_interrupted = handler_ran;
    assert_int_equal(ust_poll(&p, 1, -1), 1);
    assert_int_equal(ust_recv(fd, buf, sizeof(buf), 0), 5);
    sock_interrupted = NULL;
    ust_close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, st_setup, st_teardown)
        T(test_renumber_moves_the_socket_onto_the_number),
        T(test_renumber_can_set_close_on_exec),
        T(test_renumber_refusals_change_nothing),
        T(test_rekey_hands_the_socket_to_a_duplicate),
        T(test_rekey_refuses_a_ustack_target),
        T(test_interrupted_hook_ends_blocking_calls_with_eintr),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
