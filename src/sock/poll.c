/*
 * ust_poll: poll(2) over any mix of ustack sockets and kernel descriptors (the CLAN requirement:
 * one call waits on both).
 *
 * Each round asks every ustack socket for its readiness (running its stack first) and asks the
 * kernel about the rest with a zero timeout. If nothing is ready, it sleeps in one poll(2) on the
 * kernel descriptors, every involved stack's link descriptors and wake-up line, and each ustack
 * socket's eventfd (registered as a waiter, so its protocol's notification wakes us), with a
 * timeout no later than the earliest stack timer. Then it goes round again.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/stack.h"
#include "sock/sock.h"

#define POLL_STACK_MAX 8
#define POLL_ON_STACK 64

struct poll_ctx {
    struct pollfd *fds;
    nfds_t nfds;
    struct sock **socks;         /* socks[i] for ustack descriptors, else NULL */
    struct ust_stack *stacks[POLL_STACK_MAX];
    unsigned n_stacks;
};

/* Evaluates every descriptor once. Returns the number with events (poll's count). */
static int poll_round(struct poll_ctx *c)
{
    int ready = 0;
    for (unsigned k = 0; k < c->n_stacks; k++) {
        struct ust_stack *s = c->stacks[k];
        stack_enter(s);
        for (nfds_t i = 0; i < c->nfds; i++) {
            struct sock *so = c->socks[i];
            if (!so || so->stack != s)
                continue;
            unsigned ev = sock_poll_events(so);
            /* POLLERR, POLLHUP and POLLNVAL are reported whether asked for or not. */
            c->fds[i].revents = (short)(ev & ((unsigned)c->fds[i].events | POLLERR | POLLHUP |
                                              POLLNVAL));
        }
        stack_leave(s);
    }
    for (nfds_t i = 0; i < c->nfds; i++) {
        if (c->socks[i] || c->fds[i].fd < 0) {
            if (c->fds[i].fd < 0)
                c->fds[i].revents = 0;
            continue;
        }
        struct pollfd k = { .fd = c->fds[i].fd, .events = c->fds[i].events };
        c->fds[i].revents = poll(&k, 1, 0) == 1 ? k.revents : 0;
    }
    for (nfds_t i = 0; i < c->nfds; i++)
        ready += c->fds[i].revents != 0;
    return ready;
}

static void set_waiting(struct poll_ctx *c, int delta)
{
    for (unsigned k = 0; k < c->n_stacks; k++) {
        struct ust_stack *s = c->stacks[k];
        pthread_mutex_lock(&s->lock);
        for (nfds_t i = 0; i < c->nfds; i++)
            if (c->socks[i] && c->socks[i]->stack == s)
                c->socks[i]->waiters += (unsigned)delta;
        s->sleepers += (unsigned)delta;
        pthread_mutex_unlock(&s->lock);
    }
}

static bool is_wake_line(const struct poll_ctx *c, int fd)
{
    for (unsigned k = 0; k < c->n_stacks; k++)
        if (c->stacks[k]->wake_fd == fd)
            return true;
    for (nfds_t i = 0; i < c->nfds; i++)
        if (c->socks[i] && c->socks[i]->fd == fd)
            return true;
    return false;
}

/* Sleeps until something may have changed or `deadline` passes. */
static int poll_sleep(struct poll_ctx *c, uint64_t deadline)
{
    size_t cap = c->nfds + c->n_stacks * (STACK_MAX_IFACES + 1);
    struct pollfd local[POLL_ON_STACK];
    struct pollfd *w = cap <= POLL_ON_STACK ? local : calloc(cap, sizeof(*w));
    if (!w)
        return -ENOMEM;
    nfds_t n = 0;
    uint64_t until = deadline;
    for (nfds_t i = 0; i < c->nfds; i++) {
        if (c->fds[i].fd < 0)
            continue;
        short events = c->socks[i] ? POLLIN : c->fds[i].events;   /* a socket's eventfd */
        w[n++] = (struct pollfd){ .fd = c->fds[i].fd, .events = events };
    }
    for (unsigned k = 0; k < c->n_stacks; k++) {
        struct ust_stack *s = c->stacks[k];
        pthread_mutex_lock(&s->lock);
        for (unsigned i = 0; i < s->n_ifaces; i++) {
            int fd = s->ifaces[i].down ? -1 : link_wait_fd(s->ifaces[i].link);
            if (fd >= 0)
                w[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
            uint64_t t = link_next_event_ns(s->ifaces[i].link);
            if (t < until)
                until = t;
        }
        uint64_t t = timer_wheel_next(&s->wheel);
        if (t < until)
            until = t;
        w[n++] = (struct pollfd){ .fd = s->wake_fd, .events = POLLIN };
        pthread_mutex_unlock(&s->lock);
    }
    int timeout = -1;
    if (until != UINT64_MAX) {
        uint64_t now = clk_mono_ns();
        uint64_t ms = until > now ? (until - now + NS_PER_MS - 1) / NS_PER_MS : 0;
        timeout = ms > 3600000 ? 3600000 : (int)ms;
    }
    set_waiting(c, 1);
    int rc = poll(w, n, timeout);
    int err = rc < 0 ? errno : 0;
    set_waiting(c, -1);
    /* Drain the eventfds that fired (sockets' and stacks' wake-up lines), so the next sleep
     * does not return at once. Link descriptors are drained by their own receive calls. */
    for (nfds_t i = 0; i < n; i++) {
        if (!(w[i].revents & POLLIN) || !is_wake_line(c, w[i].fd))
            continue;
        uint64_t v;
        ssize_t r = read(w[i].fd, &v, sizeof(v));
        (void)r;
    }
    if (w != local)
        free(w);
    return err == EINTR ? -EINTR : 0;
}

static int add_stack(struct poll_ctx *c, struct ust_stack *s)
{
    for (unsigned k = 0; k < c->n_stacks; k++)
        if (c->stacks[k] == s)
            return 0;
    if (c->n_stacks == POLL_STACK_MAX)
        return -EINVAL;
    c->stacks[c->n_stacks++] = s;
    return 0;
}

static int poll_loop(struct poll_ctx *c, int timeout_ms)
{
    uint64_t deadline = timeout_ms < 0 ? UINT64_MAX
                                       : clk_mono_ns() + (uint64_t)timeout_ms * NS_PER_MS;
    for (;;) {
        int ready = poll_round(c);
        if (ready || timeout_ms == 0)
            return ready;
        if (clk_mono_ns() >= deadline)
            return 0;
        int err = poll_sleep(c, deadline);
        if (err)
            return err;
    }
}

int ust_poll(struct pollfd *fds, nfds_t nfds, int timeout_ms)
{
    if (nfds && !fds) {
        errno = EFAULT;
        return -1;
    }
    struct sock *local[POLL_ON_STACK];
    struct poll_ctx c = { .fds = fds, .nfds = nfds };
    c.socks = nfds <= POLL_ON_STACK ? local : calloc(nfds, sizeof(*c.socks));
    if (!c.socks) {
        errno = ENOMEM;
        return -1;
    }
    int err = 0;
    for (nfds_t i = 0; i < nfds; i++) {
        c.socks[i] = sock_get(fds[i].fd);
        if (c.socks[i] && !err)
            err = add_stack(&c, c.socks[i]->stack);
    }
    int rc;
    if (err)
        rc = err;
    else if (c.n_stacks)
        rc = poll_loop(&c, timeout_ms);
    else
        rc = poll(fds, nfds, timeout_ms);   /* kernel descriptors only; errno from poll */
    for (nfds_t i = 0; i < nfds; i++)
        if (c.socks[i])
            sock_put(c.socks[i]);
    if (c.socks != local)
        free(c.socks);
    if (rc < 0 && (err || c.n_stacks)) {
        errno = -rc;
        return -1;
    }
    return rc;
}
