/*
 * ust_poll: poll(2) over any mix of ustack sockets and kernel descriptors (the CLAN requirement:
 * one call waits on both), and sock_sleep, the sleep it shares with ust_epoll_wait (poll.h).
 *
 * Each round asks every ustack socket for its readiness (running its stack first) and asks the
 * kernel about the rest with a zero timeout. If nothing is ready, it sleeps in sock_sleep on the
 * kernel descriptors, every involved stack's link descriptors and wake-up line, and the thread's
 * own eventfd (sock_thread_line), with a waiter naming it on each ustack socket, so any of their
 * protocols' notifications wakes us; the timeout is no later than the earliest stack timer.
 * Then it goes round again.
 *
 * An epoll instance's descriptor (epoll.c) is polled as the kernel descriptor it is, after its
 * stacks have run and its readability has been brought up to date, so it reads as ready when
 * its ustack sockets have events, as poll(2) on an epoll descriptor does.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "net/stack.h"
#include "sock/poll.h"
#include "sock/sock.h"

#define POLL_STACK_MAX 8
#define POLL_ON_STACK 64

/* ---- The shared sleep ---- */

/* Nanoseconds until the stack next needs to run (a timer or a link's scheduled event), or
 * UINT64_MAX. Lock held. */
static uint64_t stack_due_in(struct ust_stack *s)
{
    uint64_t t = timer_wheel_next(&s->wheel);
    for (unsigned i = 0; i < s->n_ifaces; i++) {
        uint64_t l = link_next_event_ns(s->ifaces[i].link);
        if (l < t)
            t = l;
    }
    if (t == UINT64_MAX)
        return UINT64_MAX;
    uint64_t now = clk_now(s->clock);
    if (t <= now)
        return 0;
    /* A fake clock stands still while we sleep: only a due timer counts. */
    return s->clock->fake ? UINT64_MAX : t - now;
}

/* Adds the stack's link descriptors and wake-up line to p; returns how many. Lock held. */
static nfds_t stack_wait_fds(struct ust_stack *s, struct pollfd *p)
{
    nfds_t n = 0;
    for (unsigned i = 0; i < s->n_ifaces; i++) {
        int fd = s->ifaces[i].down ? -1 : link_wait_fd(s->ifaces[i].link);
        if (fd >= 0)
            p[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
    }
    p[n++] = (struct pollfd){ .fd = s->wake_fd, .events = POLLIN };
    return n;
}

static bool arm_all(const struct sock_sleep *w, int delta, struct pollfd *p, nfds_t *n,
                    uint64_t *rel)
{
    bool ready = false;
    for (unsigned k = 0; k < w->n_stacks; k++) {
        struct ust_stack *s = w->stacks[k];
        pthread_mutex_lock(&s->lock);
        if (delta > 0) {
            *n += stack_wait_fds(s, p + *n);
            uint64_t due = stack_due_in(s);
            if (due < *rel)
                *rel = due;
        }
        s->sleepers += (unsigned)delta;
        if (w->arm && w->arm(w->ctx, s, delta))
            ready = true;
        pthread_mutex_unlock(&s->lock);
    }
    if (w->arm && w->arm(w->ctx, NULL, delta))
        ready = true;
    return ready;
}

int sock_sleep(const struct sock_sleep *w, uint64_t deadline_ns)
{
    if (sock_interrupted && sock_interrupted())
        return -EINTR;   /* a handler ran since the call began (sock.h) */
    size_t cap = w->nfds + w->n_stacks * (STACK_MAX_IFACES + 1);
    struct pollfd local[POLL_ON_STACK];
    struct pollfd *p = cap <= POLL_ON_STACK ? local : calloc(cap, sizeof(*p));
    if (!p)
        return -ENOMEM;
    nfds_t n = w->nfds;
    if (n)
        memcpy(p, w->fds, n * sizeof(*p));
    uint64_t now = clk_mono_ns();
    uint64_t rel = deadline_ns == UINT64_MAX ? UINT64_MAX
                   : deadline_ns > now       ? deadline_ns - now
                                             : 0;
    bool ready = arm_all(w, 1, p, &n, &rel);
    int err = 0;
    if (!ready) {
        struct timespec ts = { .tv_sec = (time_t)(rel / NS_PER_SEC),
                               .tv_nsec = (long)(rel % NS_PER_SEC) };
        if (ppoll(p, n, rel == UINT64_MAX ? NULL : &ts, w->sigmask) < 0)
            err = errno;
    }
    nfds_t unused = 0;
    arm_all(w, -1, NULL, &unused, &rel);
    /* Drain the stacks' wake-up lines that fired, so the next sleep does not return at once.
     * Link descriptors are drained by their own receive calls. */
    for (nfds_t i = w->nfds; i < n; i++) {
        bool line = false;
        for (unsigned k = 0; k < w->n_stacks && !line; k++)
            line = w->stacks[k]->wake_fd == p[i].fd;
        uint64_t v;
        if (line && (p[i].revents & POLLIN) && read(p[i].fd, &v, sizeof(v)) < 0)
            v = 0;   /* already drained by another sleeper */
    }
    for (nfds_t i = 0; i < w->nfds; i++)
        w->fds[i].revents = ready ? 0 : p[i].revents;
    if (p != local)
        free(p);
    return err == EINTR ? -EINTR : 0;
}

/* ---- ust_poll ---- */

/* What is behind one of the caller's descriptors. */
struct poll_obj {
    struct sock *so;             /* a ustack socket, else NULL */
    struct ep *ep;               /* a ustack epoll instance, else NULL */
    struct sock_waiter w;        /* on so's waiters while we sleep */
};

struct poll_ctx {
    struct pollfd *fds;
    nfds_t nfds;
    int line;                    /* the thread's eventfd, while sleeping */
    struct poll_obj *obj;        /* obj[i] for fds[i] */
    struct ust_stack *stacks[POLL_STACK_MAX];
    unsigned n_stacks;
};

/* The revents of one ustack socket. Stack lock held. */
static short sock_revents(struct sock *so, short events)
{
    unsigned ev = sock_poll_events(so);
    /* POLLERR, POLLHUP and POLLNVAL are reported whether asked for or not. */
    return (short)(ev & ((unsigned)events | POLLERR | POLLHUP | POLLNVAL));
}

/* Evaluates every descriptor once. Returns the number with events (poll's count). With
 * `all` false the stacks check only the links not known to be empty: for a round after which
 * the caller sleeps on the links if nothing is ready. */
static int poll_round(struct poll_ctx *c, bool all)
{
    int ready = 0;
    for (unsigned k = 0; k < c->n_stacks; k++) {
        struct ust_stack *s = c->stacks[k];
        if (all)
            stack_enter(s);
        else
            stack_enter_before_sleep(s);
        for (nfds_t i = 0; i < c->nfds; i++) {
            struct sock *so = c->obj[i].so;
            if (so && so->stack == s)
                c->fds[i].revents = sock_revents(so, c->fds[i].events);
        }
        stack_leave(s);
    }
    for (nfds_t i = 0; i < c->nfds; i++) {
        if (c->obj[i].so || c->fds[i].fd < 0) {
            if (c->fds[i].fd < 0)
                c->fds[i].revents = 0;
            continue;
        }
        if (c->obj[i].ep)
            epoll_refresh(c->obj[i].ep);
        struct pollfd k = { .fd = c->fds[i].fd, .events = c->fds[i].events };
        c->fds[i].revents = poll(&k, 1, 0) == 1 ? k.revents : 0;
    }
    for (nfds_t i = 0; i < c->nfds; i++)
        ready += c->fds[i].revents != 0;
    return ready;
}

/* Registers (or not) as a waiter on the stack's sockets, so their notifications write the
 * thread's eventfd we sleep on; on registering, says whether one is ready after all. Lock
 * held. */
static bool poll_arm(void *ctx, struct ust_stack *s, int delta)
{
    struct poll_ctx *c = ctx;
    bool ready = false;
    for (nfds_t i = 0; s && i < c->nfds; i++) {
        struct sock *so = c->obj[i].so;
        if (!so || so->stack != s)
            continue;
        if (delta > 0) {
            c->obj[i].w = (struct sock_waiter){ .line = c->line };
            sock_waiter_add(so, &c->obj[i].w);
            if (sock_revents(so, c->fds[i].events))
                ready = true;
        } else {
            sock_waiter_del(so, &c->obj[i].w);
        }
    }
    return ready;
}

/* Sleeps until something may have changed or `deadline` passes: on the kernel descriptors
 * and, for the ustack sockets, on the thread's eventfd (their numbers are only placeholders). */
static int poll_sleep(struct poll_ctx *c, uint64_t deadline)
{
    c->line = sock_thread_line();
    if (c->line < 0)
        return c->line;
    struct pollfd local[POLL_ON_STACK];
    struct pollfd *w = c->nfds < POLL_ON_STACK ? local : calloc(c->nfds + 1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    nfds_t n = 0;
    bool socks = false;
    for (nfds_t i = 0; i < c->nfds; i++) {
        if (c->obj[i].so)
            socks = true;
        else if (c->fds[i].fd >= 0)
            w[n++] = (struct pollfd){ .fd = c->fds[i].fd, .events = c->fds[i].events };
    }
    nfds_t line = n;
    if (socks)
        w[n++] = (struct pollfd){ .fd = c->line, .events = POLLIN };
    struct sock_sleep sl = { .stacks = c->stacks, .n_stacks = c->n_stacks, .fds = w, .nfds = n,
                             .arm = poll_arm, .ctx = c };
    int err = sock_sleep(&sl, deadline);
    /* Drain the line if it fired, so the next sleep does not return at once. */
    uint64_t v;
    if (socks && (w[line].revents & POLLIN) && read(c->line, &v, sizeof(v)) < 0)
        v = 0;
    if (w != local)
        free(w);
    return err;
}

static int add_stack(void *ctx, struct ust_stack *s)
{
    struct poll_ctx *c = ctx;
    for (unsigned k = 0; k < c->n_stacks; k++)
        if (c->stacks[k] == s)
            return 0;
    if (c->n_stacks == POLL_STACK_MAX)
        return -EINVAL;
    c->stacks[c->n_stacks++] = s;
    return 0;
}

/* Busy polling: until when the caller polls instead of sleeping (the largest spin time of the
 * stacks involved, from now_mono). */
static uint64_t poll_spin_until(const struct poll_ctx *c, uint64_t now_mono)
{
    uint64_t until = now_mono;
    for (unsigned k = 0; k < c->n_stacks; k++) {
        uint64_t t = stack_spin_until(c->stacks[k], now_mono);
        if (t > until)
            until = t;
    }
    return until;
}

/* Whether the spin blocks signals (net/stack.h struct spin): if any stack involved asks. */
static bool poll_spin_signals(const struct poll_ctx *c)
{
    for (unsigned k = 0; k < c->n_stacks; k++)
        if (c->stacks[k]->cfg.spin_signals)
            return true;
    return false;
}

/* Speculative receive (net/stack.h): reads the links each stack expects to hold frames already
 * though they were found empty. True if any frame came, so the caller looks again instead of
 * sleeping. */
static bool poll_speculate(struct poll_ctx *c)
{
    bool found = false;
    for (unsigned k = 0; k < c->n_stacks; k++)
        if (stack_speculate(c->stacks[k]) > 0)
            found = true;
    return found;
}

/* With timeout 0 one round, checking every link. Otherwise the first round checks only the links
 * not known to be empty (the sleep watches the rest), and before the first sleep, speculative
 * receive may read some of those; spinning rounds and rounds after a sleep check every link. */
static int poll_loop(struct poll_ctx *c, int timeout_ms)
{
    if (timeout_ms == 0)
        return poll_round(c, true);
    uint64_t start = clk_mono_ns();
    uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : start + (uint64_t)timeout_ms * NS_PER_MS;
    uint64_t spin_until = poll_spin_until(c, start);
    bool all = false, speculated = false;
    struct spin sp = { .begun = false };
    int rc;
    for (;;) {
        rc = poll_round(c, all);
        if (rc)
            break;
        uint64_t now = clk_mono_ns();
        if (now >= deadline)
            break;
        all = true;
        if (now < spin_until) {
            speculated = true;   /* spinning rounds read every link anyway */
            if (!sp.begun)
                spin_begin(&sp, NULL, poll_spin_signals(c));
            else if (spin_signalled(&sp))
                rc = -EINTR;
            if (rc)
                break;
            continue;
        }
        if (spin_end(&sp)) {
            rc = -EINTR;
            break;
        }
        if (!speculated) {
            speculated = true;
            if (poll_speculate(c)) {
                all = false;     /* the links were just read: the next round need not */
                continue;
            }
        }
        rc = poll_sleep(c, deadline);
        if (rc)
            break;
    }
    if (spin_end(&sp) && rc == 0)
        rc = -EINTR;
    return rc;
}

/* Finds the ustack objects among the descriptors and the stacks behind them. */
static int poll_lookup(struct poll_ctx *c)
{
    int err = 0;
    for (nfds_t i = 0; i < c->nfds; i++) {
        c->obj[i].so = sock_get(c->fds[i].fd);
        c->obj[i].ep = c->obj[i].so ? NULL : epoll_get(c->fds[i].fd);
        if (c->obj[i].so && !err)
            err = add_stack(c, c->obj[i].so->stack);
        if (c->obj[i].ep) {
            epoll_watch(c->obj[i].ep, 1);
            if (!err)
                err = epoll_for_each_stack(c->obj[i].ep, add_stack, c);
        }
    }
    return err;
}

int ust_poll(struct pollfd *fds, nfds_t nfds, int timeout_ms)
{
    if (nfds && !fds) {
        errno = EFAULT;
        return -1;
    }
    /* As Linux's do_sys_poll: more entries than the descriptor limit is EINVAL, which also
     * bounds the allocation below by something other than the caller's number. */
    struct rlimit rl;
    if (nfds > POLL_ON_STACK && getrlimit(RLIMIT_NOFILE, &rl) == 0 && nfds > rl.rlim_cur) {
        errno = EINVAL;
        return -1;
    }
    struct poll_obj local[POLL_ON_STACK];
    struct poll_ctx c = { .fds = fds, .nfds = nfds };
    c.obj = nfds <= POLL_ON_STACK ? local : calloc(nfds, sizeof(*c.obj));
    if (!c.obj) {
        errno = ENOMEM;
        return -1;
    }
    int err = poll_lookup(&c);
    int rc;
    if (err)
        rc = err;
    else if (c.n_stacks)
        rc = poll_loop(&c, timeout_ms);
    else
        rc = poll(fds, nfds, timeout_ms);   /* kernel descriptors only; errno from poll */
    for (nfds_t i = 0; i < nfds; i++) {
        if (c.obj[i].so)
            sock_put(c.obj[i].so);
        if (c.obj[i].ep) {
            epoll_watch(c.obj[i].ep, -1);
            epoll_put(c.obj[i].ep);
        }
    }
    if (c.obj != local)
        free(c.obj);
    if (rc < 0 && (err || c.n_stacks)) {
        errno = -rc;
        return -1;
    }
    return rc;
}
