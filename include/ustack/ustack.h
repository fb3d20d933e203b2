/*
 * ustack: a user-level TCP/IP stack.
 *
 * This is the public API. Everything a program needs to use ustack natively is declared under
 * include/ustack/; nothing else is installed. Exported symbols start with ust_.
 *
 * A program creates a stack (its own MAC and IPv4 address on a link), then uses sockets on it
 * with calls shaped like POSIX: ust_socket, ust_bind, ust_sendto, ust_recvfrom, ust_poll ...
 * They return -1 and set errno exactly as Linux does for the same misuse. Socket descriptors are
 * real descriptor numbers reserved from the kernel, so they never collide with the program's
 * other descriptors and ust_poll can wait on both kinds at once.
 *
 * Execution model: no thread of ustack's own. Every call processes whatever the links received
 * and whatever timers are due, does its work, transmits and returns. A program that sits in its
 * own event loop calls ust_stack_poll() (or ust_poll) to keep the stack moving.
 */
#ifndef USTACK_USTACK_H
#define USTACK_USTACK_H

#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "ustack/config.h"

#ifdef __cplusplus
extern "C" {
#endif

#define UST_API __attribute__((visibility("default")))

#define UST_VERSION_MAJOR 0
#define UST_VERSION_MINOR 1
#define UST_VERSION_PATCH 0

/* The library's version as "major.minor.patch". */
UST_API const char *ust_version(void);

/* ---- Stacks ---- */

struct ust_stack;

/* Creates a stack from a configuration (see config.h: at least `link` and `addr`). Returns NULL
 * and sets errno on failure (EINVAL for a bad option value, ENODEV for a link that cannot be
 * opened, ENOMEM); the reason is logged. The first stack created becomes the default stack that
 * ust_socket() uses. */
UST_API struct ust_stack *ust_stack_create(const struct ust_config *cfg);

/* Adds another interface: a link, an address/prefix (e.g. "198.18.1.2/24") and optionally a
 * MAC (NULL or "" for a random one). Returns its index (>= 1), or -1 and errno. */
UST_API int ust_stack_add_link(struct ust_stack *s, const char *link, const char *addr,
                               const char *mac);

/* Closes every socket of the stack, releases its links and memory. */
UST_API void ust_stack_destroy(struct ust_stack *s);

/* Processes received frames and due timers without blocking. Returns the number of frames
 * processed (>= 0) or -1 and errno; stores in *next_ns (if not NULL) the CLOCK_MONOTONIC time in
 * nanoseconds by which it should be called again, or UINT64_MAX. */
UST_API int ust_stack_poll(struct ust_stack *s, uint64_t *next_ns);

/* The stack ust_socket() uses; ust_stack_create sets it the first time. */
UST_API void ust_stack_set_default(struct ust_stack *s);
UST_API struct ust_stack *ust_stack_default(void);

/* Writes the stack's counters as "group.counter value" lines (only nonzero ones unless all). */
UST_API void ust_stack_print_counters(struct ust_stack *s, FILE *f, int all);
/* Reads one counter by "group.counter" name. Returns 0, or -1 and errno ENOENT. */
UST_API int ust_stack_counter(struct ust_stack *s, const char *name, uint64_t *value);

/* ---- Sockets (POSIX-shaped; AF_INET; SOCK_STREAM and SOCK_DGRAM) ---- */

UST_API int ust_socket(int domain, int type, int protocol);
UST_API int ust_stack_socket(struct ust_stack *s, int domain, int type, int protocol);
UST_API int ust_bind(int fd, const struct sockaddr *addr, socklen_t len);
UST_API int ust_listen(int fd, int backlog);
UST_API int ust_accept(int fd, struct sockaddr *addr, socklen_t *len);
UST_API int ust_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
UST_API int ust_connect(int fd, const struct sockaddr *addr, socklen_t len);
UST_API ssize_t ust_send(int fd, const void *buf, size_t len, int flags);
UST_API ssize_t ust_sendto(int fd, const void *buf, size_t len, int flags,
                           const struct sockaddr *to, socklen_t tolen);
UST_API ssize_t ust_sendmsg(int fd, const struct msghdr *msg, int flags);
UST_API ssize_t ust_recv(int fd, void *buf, size_t len, int flags);
UST_API ssize_t ust_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
                             socklen_t *fromlen);
UST_API ssize_t ust_recvmsg(int fd, struct msghdr *msg, int flags);
UST_API ssize_t ust_read(int fd, void *buf, size_t len);
UST_API ssize_t ust_write(int fd, const void *buf, size_t len);
UST_API ssize_t ust_readv(int fd, const struct iovec *iov, int iovcnt);
UST_API ssize_t ust_writev(int fd, const struct iovec *iov, int iovcnt);
UST_API int ust_close(int fd);
UST_API int ust_shutdown(int fd, int how);
UST_API int ust_setsockopt(int fd, int level, int name, const void *val, socklen_t len);
UST_API int ust_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
UST_API int ust_getsockname(int fd, struct sockaddr *addr, socklen_t *len);
UST_API int ust_getpeername(int fd, struct sockaddr *addr, socklen_t *len);
/* F_GETFL / F_SETFL (O_NONBLOCK), F_GETFD / F_SETFD (FD_CLOEXEC). */
UST_API int ust_fcntl(int fd, int cmd, ...);
/* FIONBIO, FIONREAD. */
UST_API int ust_ioctl(int fd, unsigned long req, ...);
/* Like poll(2) over any mix of ustack sockets and kernel descriptors. */
UST_API int ust_poll(struct pollfd *fds, nfds_t nfds, int timeout_ms);
/* Nonzero if fd is a ustack socket. */
UST_API int ust_is_socket(int fd);

/* ---- epoll over ustack sockets and kernel descriptors ----
 *
 * An instance is a real descriptor (a kernel epoll descriptor underneath): close it with
 * ust_close. Kernel descriptors registered in it are watched by the kernel's epoll itself;
 * ustack sockets by ustack, with Linux's semantics: level-triggered by default, EPOLLET reports
 * a change (events newly true, or more data arriving), EPOLLONESHOT disables the entry after
 * one report until EPOLL_CTL_MOD, EPOLLERR and EPOLLHUP are always reported, data comes back as
 * given, and closing a socket takes it out of every instance. Errors are Linux's for the same
 * misuse. An instance may be registered in another (nested); ust_poll on an instance reports
 * POLLIN while it has events. A descriptor that is not a ustack instance is passed to the
 * kernel's call of the same name. */
UST_API int ust_epoll_create(int size);
UST_API int ust_epoll_create1(int flags);
UST_API int ust_epoll_ctl(int epfd, int op, int fd, struct epoll_event *event);
UST_API int ust_epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout);
UST_API int ust_epoll_pwait(int epfd, struct epoll_event *events, int maxevents, int timeout,
                            const sigset_t *sigmask);

/* ---- TCP connection state, for observation and research ---- */

struct ust_tcp_info {
    uint8_t state;               /* Linux's numbering (netinet/tcp.h: TCP_ESTABLISHED = 1 ...) */
    uint8_t options;             /* UST_TCPI_OPT_* negotiated */
    uint8_t snd_wscale, rcv_wscale;
    uint8_t in_recovery;         /* 1 in fast recovery, 2 after a timeout, 0 otherwise */
    uint8_t backoff;             /* RTO doublings now in force */
    uint16_t retransmits;        /* consecutive timeouts without progress */
    uint32_t mss;                /* send MSS (payload per segment) */
    uint32_t rcv_mss;            /* largest segment received */
    uint32_t cwnd;               /* congestion window, bytes */
    uint32_t ssthresh;           /* slow-start threshold, bytes */
    uint32_t srtt_us, rttvar_us, rto_us, min_rtt_us;
    uint32_t snd_wnd;            /* peer's window, bytes */
    uint32_t rcv_wnd;            /* our advertised window, bytes */
    uint32_t unacked;            /* bytes sent and not acknowledged */
    uint32_t sacked;             /* bytes the peer has SACKed */
    uint32_t lost;               /* bytes deemed lost, not yet resent */
    uint32_t retrans;            /* bytes resent and not yet acknowledged */
    uint32_t total_retrans;      /* segments retransmitted over the connection's life */
    uint32_t unsent;             /* bytes queued and not yet sent */
    uint32_t unread;             /* bytes received and not yet read */
    uint64_t bytes_acked;
    uint64_t bytes_received;
    uint64_t segs_out, segs_in;
    char congestion[16];         /* the congestion control module's name */
};

#define UST_TCPI_OPT_TIMESTAMPS 1
#define UST_TCPI_OPT_SACK 2
#define UST_TCPI_OPT_WSCALE 4

/* Fills info for a TCP socket. Returns 0, or -1 and errno (EBADF, ENOTSOCK, EOPNOTSUPP). */
UST_API int ust_tcp_info(int fd, struct ust_tcp_info *info);

#ifdef __cplusplus
}
#endif

#endif
