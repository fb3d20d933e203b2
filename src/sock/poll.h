/*
 * Waiting on ustack stacks and kernel descriptors at once: what ust_poll (poll.c) and
 * ust_epoll_wait (epoll.c) share.
 *
 * sock_sleep() is the one place a thread sleeps on several stacks: in one poll(2) (ppoll with a
 * signal mask) over the caller's own descriptors, every stack's link descriptors and wake-up
 * line, with a timeout no later than the earliest stack timer or link event. Around the sleep it
 * lets the caller register as a waiter (so protocol notifications write a descriptor it sleeps
 * on) and look once more for readiness after registering, so a notification that lands between
 * the caller's last look and its registration is never lost.
 *
 * Also here: what ust_poll and ust_close need from epoll.c.
 */
#ifndef UST_SOCK_POLL_H
#define UST_SOCK_POLL_H

#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

struct ust_stack;
struct ep;

struct sock_sleep {
    struct ust_stack *const *stacks;
    unsigned n_stacks;
    struct pollfd *fds;          /* the caller's descriptors; revents are filled in */
    nfds_t nfds;
    /* Called for each stack with its lock held (delta +1 before the sleep, -1 after), then
     * once with s == NULL and no lock. With delta +1, returning true means something is ready
     * already: the sleep is skipped. May be NULL. */
    bool (*arm)(void *ctx, struct ust_stack *s, int delta);
    void *ctx;
    const sigset_t *sigmask;     /* ppoll's mask, or NULL */
};

/* Sleeps until one of the descriptors fires, a stack may have work, or `deadline_ns`
 * (CLOCK_MONOTONIC, UINT64_MAX: none) passes. A stack on a fake clock never bounds the sleep
 * with a timer that is not due yet: its clock does not move while we sleep. Drains the stacks'
 * wake-up lines. Returns 0, -EINTR (a signal) or -ENOMEM. */
int sock_sleep(const struct sock_sleep *w, uint64_t deadline_ns);

/* ---- epoll instances (epoll.c) seen from the rest of sock/ ---- */

/* True if fd is an epoll instance of ustack's; epoll_close closes it (0 or a negative errno). */
bool epoll_fd_is_ours(int fd);
int epoll_close(int fd);

/* The instance behind fd with a reference, or NULL if fd is not one of ustack's. While watched
 * (epoll_watch(ep, 1)), its descriptor is kept readable whenever its ustack sockets have
 * events, as it is while registered in another instance. */
struct ep *epoll_get(int fd);
void epoll_put(struct ep *ep);
void epoll_watch(struct ep *ep, int delta);
/* Runs the stacks behind the instance (and the instances nested in it) and brings its
 * descriptor's readability up to date: poll(2) on it then answers for its ustack sockets too. */
void epoll_refresh(struct ep *ep);
/* Calls add(ctx, s) for every stack behind the instance and the instances nested in it.
 * Returns the first nonzero result of add. */
int epoll_for_each_stack(struct ep *ep, int (*add)(void *ctx, struct ust_stack *s), void *ctx);

#endif
