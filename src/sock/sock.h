/*
 * Socket objects and the descriptor table.
 *
 * Every ustack socket is backed by a real kernel descriptor whose number is the socket's
 * descriptor: a duplicate of one process-wide placeholder eventfd (sock_placeholder), made when
 * the socket is created. So ustack descriptors never collide with the program's other
 * descriptors, and FD_CLOEXEC and descriptor limits behave as usual, while a socket costs the
 * kernel only a slot in the descriptor table (no file or eventfd of its own). Nothing ever reads
 * or writes the placeholder.
 *
 * Wake-ups go to threads, not sockets: a thread that sleeps on sockets (a blocking call,
 * ust_poll) puts a sock_waiter naming its own eventfd (sock_thread_line, one per thread, made on
 * first need) on each socket's list, and the protocol's notification writes the eventfd of every
 * waiter listed. So ust_poll sleeps on one eventfd however many sockets it watches.
 *
 * A stack configured with private_fds numbers its sockets from a space of its own instead,
 * SOCK_PRIVATE_BASE and up: above any number the kernel can give (fs.nr_open is at most 2^20),
 * so they still never collide with kernel descriptors, but they cost no kernel descriptor and
 * RLIMIT_NOFILE does not limit them (max_sockets does). Only a program that reaches its
 * sockets through ust_* calls may use them (never the LD_PRELOAD shim: the program would hand
 * them to the kernel); FD_CLOEXEC is kept in the socket.
 *
 * The table maps descriptor numbers to sockets for the whole process (sockets of several stacks
 * share it). Lookups take a reference under a read lock; close removes the entry first and frees
 * the socket when the last reference goes, so a socket is never freed under a thread using it.
 *
 * Locks: the table lock is a leaf (held for a lookup or an update, nothing taken under it).
 */
#ifndef UST_SOCK_SOCK_H
#define UST_SOCK_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tcp/tcp.h"
#include "udp/udp.h"

struct ust_stack;
struct ep_item;

enum sock_shutdown {
    SOCK_RCV_SHUTDOWN = 1,
    SOCK_SEND_SHUTDOWN = 2,
};

/* A thread asleep on a socket, on the socket's list for the time of the sleep (stack lock). */
struct sock_waiter {
    struct sock_waiter *next;
    int line;                    /* the thread's eventfd (sock_thread_line) */
    bool awake;                  /* processing the stack itself: no need to write its line */
};

/* The first number of the private descriptor space (see above). */
#define SOCK_PRIVATE_BASE (1 << 20)

static inline bool sock_fd_private(int fd)
{
    return fd >= SOCK_PRIVATE_BASE;
}

struct sock {
    int fd;                      /* a duplicate of the placeholder, or a private number */
    int refs;                    /* the table's plus one per thread using it (atomic) */
    uint8_t type;                /* SOCK_STREAM or SOCK_DGRAM */
    uint8_t protocol;            /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP */
    bool nonblock;               /* O_NONBLOCK */
    bool closing;                /* closed: blocked callers return EBADF */
    bool cloexec;                /* FD_CLOEXEC of a private number (a duplicate has its own) */
    bool reuseaddr, reuseport;   /* SOCK_STREAM: SO_REUSEADDR, SO_REUSEPORT */
    uint8_t shutdown;            /* enum sock_shutdown */
    struct sock_waiter *waiters; /* threads sleeping on it (stack lock) */
    uint64_t rcvtimeo_ns;        /* SO_RCVTIMEO, 0 = forever */
    uint64_t sndtimeo_ns;        /* SO_SNDTIMEO */
    struct ust_stack *stack;
    struct sock *stack_next;     /* the stack's list of sockets */
    struct sock **stack_pprev;
    /* epoll (epoll.c), all under the stack lock: the instances watching it, and what it looked
     * like when last observed, to tell which events a notification makes newly true. */
    struct ep_item *ep_items;
    uint32_t ep_seen;            /* readiness (POLL* bits) */
    uint32_t ep_rx;              /* receive queue length (bytes or datagrams) */
    /* Last, so that a stream socket is allocated without room for a pcb it never uses
     * (SOCK_STREAM_SIZE). */
    union {
        struct udp_pcb udp;      /* SOCK_DGRAM */
        struct tcb *tcp;         /* SOCK_STREAM: owned by TCP once closed */
    };
};

/* A stream socket's allocation: everything up to and including the tcb pointer. */
#define SOCK_STREAM_SIZE (offsetof(struct sock, tcp) + sizeof(struct tcb *))

/* The socket behind fd with a reference taken, or NULL if fd is not a ustack socket. */
struct sock *sock_get(int fd);
/* Drops the reference. For a socket epoll watches this takes the stack lock (to note what the
 * caller's operation changed), so it is never called with the lock held on a live socket. */
void sock_put(struct sock *so);
bool sock_fd_is_ours(int fd);

/* Creates a socket on s. Returns its descriptor or a negative errno. */
int sock_create(struct ust_stack *s, int type, int protocol, bool nonblock, bool cloexec);
/* A descriptor for a connection about to be accepted (*out), made before anything leaves the
 * accept queue, as Linux's accept takes its descriptor first: at EMFILE the connection stays
 * queued. Then sock_adopt gives it the connection, or sock_unreserve gives it back. Stack lock
 * held for all three. */
int sock_reserve(struct ust_stack *s, bool nonblock, bool cloexec, struct sock **out);
void sock_adopt(struct sock *so, struct tcb *tp);
void sock_unreserve(struct sock *so);
/* Moves the socket behind descriptor `from` to number `to` (which must not be a ustack socket):
 * the placeholder is duplicated onto `to` (replacing whatever `to` was, atomically, as dup3 does),
 * the table and the socket follow, and `from` is closed. For the LD_PRELOAD shim, which decides
 * late that a descriptor the program already holds becomes a ustack socket. The socket must
 * have no waiters and no epoll watchers yet. Returns 0 or a negative errno. */
int sock_renumber(int from, int to, bool cloexec);
/* Makes the socket known by number `to` instead of `from`, where `to` is already a duplicate
 * of its descriptor (the shim's dup of a ustack socket, when the original number is closed);
 * closes nothing. Threads asleep on it are unaffected (they sleep on their own eventfds).
 * Returns 0 or a negative errno. */
int sock_rekey(int from, int to);
/* Closes it (the descriptor becomes free). Returns 0 or a negative errno. */
int sock_close(int fd);
/* Closes every socket of a stack being destroyed. */
void sock_close_all(struct ust_stack *s);

/* Readiness (POLLIN, POLLOUT, POLLERR, POLLHUP ...) under the stack lock. */
unsigned sock_poll_events(struct sock *so);

/* The protocol's "something changed" call: wakes threads sleeping on the socket. */
void sock_notify(void *owner);

/* epoll's hooks (epoll.c). Under the stack lock: epoll_sock_notify when something may have
 * changed, epoll_sock_closed when the socket is closed (it leaves every instance). Without it:
 * epoll_sock_settle after an application's call on a watched socket. */
void epoll_sock_notify(struct sock *so);
void epoll_sock_closed(struct sock *so);
void epoll_sock_settle(struct sock *so);

/* Set by the LD_PRELOAD shim: true when a signal handler has run in the calling thread since its
 * current call began. A sleep about to start then ends the call with EINTR, as the kernel's
 * signal_pending() check does, so a handler that ran between two sleeps (while the thread was
 * processing packets, not blocked in poll) still interrupts the call. NULL: not consulted. */
extern bool (*sock_interrupted)(void);

/* Blocks (stack lock held) until the socket may have changed, deadline_ns passes, or a signal.
 * Returns 0, -EINTR, -EBADF if the socket was closed meanwhile, or the errno of making the
 * thread's eventfd (-EMFILE ...). */
int sock_wait(struct sock *so, uint64_t deadline_ns);

/* The calling thread's wake-up eventfd (non-blocking, close-on-exec), made on first use and
 * closed when the thread exits; a forked child makes its own. A negative errno if it cannot be
 * made. */
int sock_thread_line(void);
/* Puts w (w->line set) on / takes it off the socket's waiters. Stack lock held. */
void sock_waiter_add(struct sock *so, struct sock_waiter *w);
void sock_waiter_del(struct sock *so, struct sock_waiter *w);
/* The descriptor every socket's number duplicates (made on first use), or a negative errno. */
int sock_placeholder(void);

/* Deadline for a blocking operation: now for a non-blocking one, else now + timeout (if any). */
uint64_t sock_deadline(const struct sock *so, bool dontwait, uint64_t timeout_ns);

int sock_setsockopt(struct sock *so, int level, int name, const void *val, socklen_t len);
int sock_getsockopt(struct sock *so, int level, int name, void *val, socklen_t *len);

#endif
