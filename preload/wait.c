/*
 * Waiting: poll, ppoll, select, pselect and epoll, over any mix of kernel descriptors and ustack
 * sockets in one call (ust_poll and ust_epoll_* do the mixing; sock/poll.c sleeps on both
 * without spinning). A call that holds no ustack descriptor goes to the kernel unchanged.
 *
 * ppoll and pselect with a signal mask: the mask is installed around the wait with
 * pthread_sigmask, not atomically as the kernel does; a signal that arrives between the
 * unblocking and the sleep runs its handler but does not cut the sleep short (documented in
 * preload/README.md).
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pl.h"

static bool has_ustack(const struct pollfd *f, nfds_t n)
{
    for (nfds_t i = 0; i < n; i++) {
        enum pl_kind k = pl_kind(f[i].fd);
        if (k == PL_FD_USTACK || k == PL_FD_EPOLL || k == PL_FD_ALIAS)
            return true;
    }
    return false;
}

/* In a forked child ustack sockets read as invalid (POLLNVAL) and the rest is the kernel's. */
static int child_poll(struct pollfd *f, nfds_t n, int timeout)
{
    struct pollfd *k = calloc(n ? n : 1, sizeof(*k));
    if (!k) {
        errno = ENOMEM;
        return -1;
    }
    int bad = 0;
    for (nfds_t i = 0; i < n; i++) {
        k[i] = f[i];
        if (pl_is_ustack(f[i].fd)) {
            k[i].fd = -1;
            bad++;
        }
    }
    int rc = ust_real_poll(k, n, bad ? 0 : timeout);
    for (nfds_t i = 0; rc >= 0 && i < n; i++)
        f[i].revents = pl_is_ustack(f[i].fd) ? POLLNVAL : k[i].revents;
    free(k);
    if (rc >= 0)
        rc += bad;
    return rc;
}

/* ust_poll over the socket numbers ustack knows: duplicates (aliases) are asked about under
 * their socket's number. */
static int ustack_poll(struct pollfd *f, nfds_t n, int timeout)
{
    pl_restart_begin();   /* a handler running from here on ends the wait: EINTR */
    bool alias = false;
    for (nfds_t i = 0; i < n && !alias; i++)
        alias = pl_kind(f[i].fd) == PL_FD_ALIAS;
    if (!alias)
        return ust_poll(f, n, timeout);
    struct pollfd *c = malloc((n ? n : 1) * sizeof(*c));
    if (!c) {
        errno = ENOMEM;
        return -1;
    }
    for (nfds_t i = 0; i < n; i++) {
        c[i] = f[i];
        if (pl_kind(f[i].fd) == PL_FD_ALIAS)
            c[i].fd = pl_ufd(f[i].fd);
    }
    int rc = ust_poll(c, n, timeout);
    for (nfds_t i = 0; i < n; i++)
        f[i].revents = c[i].revents;
    free(c);
    return rc;
}

int poll(struct pollfd *f, nfds_t n, int timeout)
{
    if (!f || !has_ustack(f, n))
        return ust_real_poll(f, n, timeout);
    if (pl_forked)
        return child_poll(f, n, timeout);
    return ustack_poll(f, n, timeout);
}

int __poll_chk(struct pollfd *f, nfds_t n, int timeout, size_t fdslen);
int __poll_chk(struct pollfd *f, nfds_t n, int timeout, size_t fdslen)
{
    extern void __chk_fail(void) __attribute__((noreturn));
    if (fdslen / sizeof(*f) < n)
        __chk_fail();
    return poll(f, n, timeout);
}

static int ts_to_ms(const struct timespec *t);

int __ppoll_chk(struct pollfd *f, nfds_t n, const struct timespec *t, const sigset_t *m,
                size_t fdslen);
int __ppoll_chk(struct pollfd *f, nfds_t n, const struct timespec *t, const sigset_t *m,
                size_t fdslen)
{
    extern void __chk_fail(void) __attribute__((noreturn));
    if (fdslen / sizeof(*f) < n)
        __chk_fail();
    return ppoll(f, n, t, m);
}

static int ts_to_ms(const struct timespec *t)
{
    if (!t)
        return -1;
    if (t->tv_sec < 0 || t->tv_nsec < 0 || t->tv_nsec >= 1000000000)
        return -2;
    uint64_t ms = (uint64_t)t->tv_sec * 1000 + ((uint64_t)t->tv_nsec + 999999) / 1000000;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* poll with a temporary signal mask (see the note at the top). */
static int poll_masked(struct pollfd *f, nfds_t n, int ms, const sigset_t *m)
{
    sigset_t old;
    if (m)
        pthread_sigmask(SIG_SETMASK, m, &old);
    int rc = pl_forked ? child_poll(f, n, ms) : ustack_poll(f, n, ms);
    int e = errno;
    if (m)
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return rc;
}

int ppoll(struct pollfd *f, nfds_t n, const struct timespec *t, const sigset_t *m)
{
    if (!f || !has_ustack(f, n))
        return ust_real_ppoll(f, n, t, m);
    int ms = ts_to_ms(t);
    if (ms == -2) {
        errno = EINVAL;
        return -1;
    }
    return poll_masked(f, n, ms, m);
}

/* ---- select through poll ---- */

/* Linux's fs/select.c: which poll events make a descriptor readable, writable, exceptional. */
#define SEL_IN (POLLRDNORM | POLLRDBAND | POLLIN | POLLHUP | POLLERR)
#define SEL_OUT (POLLWRBAND | POLLWRNORM | POLLOUT | POLLERR)
#define SEL_EX (POLLPRI)

static bool sets_have_ustack(int n, fd_set *r, fd_set *w, fd_set *e)
{
    if (n > FD_SETSIZE)
        n = FD_SETSIZE;
    int high = pl_fd_high();
    if (n > high + 1)
        n = high + 1;
    for (int fd = 0; fd < n; fd++) {
        enum pl_kind k = pl_kind(fd);
        if ((k == PL_FD_USTACK || k == PL_FD_EPOLL || k == PL_FD_ALIAS) &&
            ((r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w)) || (e && FD_ISSET(fd, e))))
            return true;
    }
    return false;
}

/* select's answer computed with poll. ms: -1 forever. Returns the count of bits set. */
static int select_by_poll(int n, fd_set *r, fd_set *w, fd_set *e, int ms, const sigset_t *m)
{
    if (n > FD_SETSIZE)
        n = FD_SETSIZE;
    struct pollfd *p = calloc((size_t)(n ? n : 1), sizeof(*p));
    if (!p) {
        errno = ENOMEM;
        return -1;
    }
    nfds_t cnt = 0;
    for (int fd = 0; fd < n; fd++) {
        short ev = 0;
        if (r && FD_ISSET(fd, r))
            ev |= POLLIN | POLLRDNORM | POLLRDBAND;
        if (w && FD_ISSET(fd, w))
            ev |= POLLOUT | POLLWRNORM | POLLWRBAND;
        if (e && FD_ISSET(fd, e))
            ev |= POLLPRI;
        if (ev)
            p[cnt++] = (struct pollfd){ .fd = fd, .events = ev };
    }
    int rc = poll_masked(p, cnt, ms, m);
    if (rc < 0) {
        free(p);
        return -1;
    }
    for (nfds_t i = 0; i < cnt; i++) {
        if (p[i].revents & POLLNVAL) {
            free(p);
            errno = EBADF;   /* select reports a closed descriptor as an error, as Linux */
            return -1;
        }
    }
    int bits = 0;
    for (nfds_t i = 0; i < cnt; i++) {
        int fd = p[i].fd;
        short re = p[i].revents;
        if (r && FD_ISSET(fd, r)) {
            if (re & SEL_IN)
                bits++;
            else
                FD_CLR(fd, r);
        }
        if (w && FD_ISSET(fd, w)) {
            if (re & SEL_OUT)
                bits++;
            else
                FD_CLR(fd, w);
        }
        if (e && FD_ISSET(fd, e)) {
            if (re & SEL_EX)
                bits++;
            else
                FD_CLR(fd, e);
        }
    }
    free(p);
    return bits;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t)
{
    if (n < 0 || !sets_have_ustack(n, r, w, e))
        return ust_real_select(n, r, w, e, t);
    int ms = -1;
    if (t) {
        if (t->tv_sec < 0 || t->tv_usec < 0) {
            errno = EINVAL;
            return -1;
        }
        uint64_t v = (uint64_t)t->tv_sec * 1000 + ((uint64_t)t->tv_usec + 999) / 1000;
        ms = v > INT_MAX ? INT_MAX : (int)v;
    }
    uint64_t t0 = mono_ns();
    int rc = select_by_poll(n, r, w, e, ms, NULL);
    if (t) {
        /* Linux writes back the time not slept. */
        uint64_t used = mono_ns() - t0;
        uint64_t total = (uint64_t)t->tv_sec * 1000000000u + (uint64_t)t->tv_usec * 1000u;
        uint64_t left = used >= total ? 0 : total - used;
        t->tv_sec = (time_t)(left / 1000000000u);
        t->tv_usec = (suseconds_t)(left % 1000000000u / 1000u);
    }
    return rc;
}

int pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *t, const sigset_t *m)
{
    if (n < 0 || !sets_have_ustack(n, r, w, e))
        return ust_real_pselect(n, r, w, e, t, m);
    int ms = ts_to_ms(t);
    if (ms == -2) {
        errno = EINVAL;
        return -1;
    }
    return select_by_poll(n, r, w, e, ms, m);
}

/* ---- epoll ---- */

/* Instances are ustack's whenever this process has a stack, so they can hold ustack sockets
 * registered later; without one they are the kernel's. */
static int make_epoll(int flags, int size, bool old)
{
    if (!pl_stack())
        return old ? ust_real_epoll_create(size) : ust_real_epoll_create1(flags);
    if (old && size <= 0) {
        errno = EINVAL;
        return -1;
    }
    int fd = ust_epoll_create1(flags);
    if (fd >= 0) {
        pl_fd_lock();
        pl_set_kind(fd, PL_FD_EPOLL);
        pl_fd_unlock();
        pl_log(UST_LOG_DEBUG, "fd %d epoll_create: ustack instance", fd);
    }
    return fd;
}

int epoll_create(int size)
{
    return make_epoll(0, size, true);
}

int epoll_create1(int flags)
{
    return make_epoll(flags, 0, false);
}

int epoll_ctl(int ep, int op, int fd, struct epoll_event *ev)
{
    enum pl_kind ek = pl_kind(ep);
    enum pl_kind k = pl_kind(fd);
    if (ek != PL_FD_EPOLL || pl_forked) {
        if (k == PL_FD_USTACK || k == PL_FD_ALIAS) {
            if (pl_forked)
                return pl_child_refuse(fd, "epoll_ctl");
            /* A kernel instance (made before the stack existed) cannot watch a ustack socket. */
            pl_log(UST_LOG_WARN, "epoll_ctl(%d, fd %d): a kernel epoll instance cannot watch a "
                   "ustack socket: EPERM", ep, fd);
            errno = EPERM;
            return -1;
        }
        return ust_real_epoll_ctl(ep, op, fd, ev);
    }
    int rc = ust_epoll_ctl(ep, op, k == PL_FD_ALIAS ? pl_ufd(fd) : fd, ev);
    if (rc == 0 && k == PL_FD_PENDING) {
        pl_fd_lock();
        struct pl_pending *p = pl_pending(fd);
        bool kept = !p || pl_pending_epoll(p, ep, op, ev);
        pl_fd_unlock();
        if (!kept)
            pl_settle(fd, PL_KERNEL, "epoll_ctl", "in too many epoll instances to carry over");
    }
    return rc;
}

int epoll_wait(int ep, struct epoll_event *ev, int n, int timeout)
{
    if (pl_kind(ep) != PL_FD_EPOLL || pl_forked)
        return ust_real_epoll_wait(ep, ev, n, timeout);
    pl_restart_begin();
    return ust_epoll_wait(ep, ev, n, timeout);
}

int epoll_pwait(int ep, struct epoll_event *ev, int n, int timeout, const sigset_t *m)
{
    if (pl_kind(ep) != PL_FD_EPOLL || pl_forked)
        return ust_real_epoll_pwait(ep, ev, n, timeout, m);
    pl_restart_begin();
    return ust_epoll_pwait(ep, ev, n, timeout, m);
}

int epoll_pwait2(int ep, struct epoll_event *ev, int n, const struct timespec *t,
                 const sigset_t *m);
int epoll_pwait2(int ep, struct epoll_event *ev, int n, const struct timespec *t,
                 const sigset_t *m)
{
    int ms = ts_to_ms(t);
    if (ms == -2) {
        errno = EINVAL;
        return -1;
    }
    if (pl_kind(ep) != PL_FD_EPOLL || pl_forked)
        return ust_real_epoll_pwait(ep, ev, n, ms, m);   /* millisecond granularity */
    pl_restart_begin();
    return ust_epoll_pwait(ep, ev, n, ms, m);
}
