/*
 * Stream (TCP) sockets: blocking, timeouts and signals around the calls tcp/ provides.
 *
 * Each function runs under the stack lock (stack_enter/leave) and waits with sock_wait() when
 * TCP says "not yet" (-EAGAIN) and the socket is blocking: for the handshake (connect), for a
 * connection (accept), for buffer space (send: a blocking send queues everything, as Linux's
 * does), for data (recv; MSG_WAITALL until the buffer is full). SO_SNDTIMEO / SO_RCVTIMEO bound
 * the waits; a signal ends them with EINTR (or with what was done so far).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>

#include "net/stack.h"
#include "sock/sock.h"
#include "sock/stream.h"
#include "tcp/tcp.h"

int stream_connect(struct sock *so, uint32_t addr, uint16_t port)
{
    struct ust_stack *s = so->stack;
    stack_enter(s);
    int rc;
    int pending = tcp_take_error(so->tcp);
    if (pending) {
        rc = -pending;   /* the result of an earlier non-blocking attempt */
        goto out;
    }
    rc = tcp_connect(so->tcp, addr, port);
    if (rc)
        goto out;
    if (so->nonblock) {
        rc = -EINPROGRESS;
        goto out;
    }
    uint64_t deadline = sock_deadline(so, false, so->sndtimeo_ns);
    while (tcp_state(so->tcp) == TCPS_SYN_SENT || tcp_state(so->tcp) == TCPS_SYN_RECEIVED) {
        if (s->now >= deadline) {
            rc = -EINPROGRESS;   /* Linux: SO_SNDTIMEO expiry leaves it connecting */
            goto out;
        }
        if ((rc = sock_wait(so, deadline)) != 0)
            goto out;
    }
    int err = tcp_take_error(so->tcp);
    rc = err ? -err : (tcp_state(so->tcp) == TCPS_CLOSED ? -ECONNREFUSED : 0);
out:
    stack_leave(s);
    return rc;
}

int stream_accept(struct sock *so, struct sock **child, bool nonblock, bool cloexec)
{
    struct ust_stack *s = so->stack;
    int err;
    stack_enter(s);
    uint64_t deadline = sock_deadline(so, false, so->rcvtimeo_ns);
    struct tcb *tp;
    /* Nothing to accept and no waiting: EAGAIN at once. Reserving the descriptor first would
     * cost a dup and a close (two system calls) for nothing, and a non-blocking accept loop
     * mostly finds nothing. Differs from Linux only when the process is out of descriptors
     * (Linux says EMFILE even then; the stack's own max_sockets still does). */
    if (tcp_accept_would_block(so->tcp) && s->now >= deadline &&
        s->n_socks < s->cfg.max_sockets) {
        err = -EAGAIN;
        goto out;
    }
    /* The descriptor first (Linux's do_accept): EMFILE leaves the connection queued. */
    if ((err = sock_reserve(s, nonblock, cloexec, child)) != 0)
        goto out;
    while (!(tp = tcp_accept(so->tcp, sock_notify, NULL, &err))) {
        if (err == -EAGAIN && s->now < deadline)
            err = sock_wait(so, deadline);
        if (err) {
            sock_unreserve(*child);
            goto out;
        }
    }
    sock_adopt(*child, tp);
out:
    stack_leave(s);
    return err;
}

/* SIGPIPE for a write on a connection whose sending side is closed (POSIX send()), unless the
 * caller said MSG_NOSIGNAL. */
static ssize_t pipe_error(ssize_t rc, int flags)
{
    if (rc == -EPIPE && !(flags & MSG_NOSIGNAL))
        raise(SIGPIPE);
    return rc;
}

/* Advances an iovec cursor by n bytes (copying the array into `tmp` first time). */
static size_t iov_skip(const struct iovec **iov, size_t *cnt, struct iovec *tmp, size_t n)
{
    size_t left = n;
    size_t i = 0;
    while (i < *cnt && left >= (*iov)[i].iov_len)
        left -= (*iov)[i++].iov_len;
    size_t rest = *cnt - i;
    if (rest > STREAM_IOV_MAX)
        rest = STREAM_IOV_MAX;
    for (size_t k = 0; k < rest; k++)
        tmp[k] = (*iov)[i + k];
    if (rest && left) {
        tmp[0].iov_base = (uint8_t *)tmp[0].iov_base + left;
        tmp[0].iov_len -= left;
    }
    *iov = tmp;
    *cnt = rest;
    return n;
}

ssize_t stream_send(struct sock *so, const struct iovec *iov, size_t iovcnt, int flags)
{
    struct ust_stack *s = so->stack;
    struct iovec tmp[STREAM_IOV_MAX];
    size_t total = 0;
    for (size_t i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    size_t done = 0;
    ssize_t rc = 0;
    /* With nothing unacknowledged, nothing waiting on the links can change what this send
     * does (bar a window update after a zero window, which the persist timer covers): the
     * data goes out on the window known, without a look at the links (stack.h: a lazy entry;
     * over TAP a readv(2) that fails). A request/response server's reply is such a send: the
     * request it answers acknowledged the last reply. With data in flight, ACKs waiting may
     * open the window: look first, as a bulk sender needs. */
    stack_enter_lazy(s);
    if (stack_rx_is_stale(s) && tcp_unsent_bytes(so->tcp))
        stack_process(s);
    uint64_t deadline = sock_deadline(so, flags & MSG_DONTWAIT, so->sndtimeo_ns);
    for (;;) {
        rc = tcp_send(so->tcp, iov, iovcnt, flags);
        if (rc > 0) {
            done += (size_t)rc;
            if (done == total)
                break;
            iov_skip(&iov, &iovcnt, tmp, (size_t)rc);
            continue;
        }
        if (rc == -EAGAIN && stack_rx_is_stale(s)) {
            stack_process(s);
            continue;
        }
        if (rc == 0 || rc != -EAGAIN || s->now >= deadline)
            break;
        if ((rc = sock_wait(so, deadline)) != 0)
            break;
    }
    stack_leave(s);
    if (done)
        return (ssize_t)done;   /* what was queued counts, whatever stopped the rest */
    return pipe_error(rc, flags);
}

ssize_t stream_recv(struct sock *so, const struct iovec *iov, size_t iovcnt, int flags)
{
    struct ust_stack *s = so->stack;
    struct iovec tmp[STREAM_IOV_MAX];
    size_t total = 0;
    for (size_t i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    bool waitall = (flags & MSG_WAITALL) && !(flags & (MSG_PEEK | MSG_DONTWAIT));
    size_t done = 0;
    ssize_t rc = 0;
    /* Queued data is returned without looking at the links, as for UDP (api.c; stack.h: a
     * lazy entry); "nothing there" (or the end of the stream) is only said after looking. */
    stack_enter_lazy(s);
    if (stack_rx_is_stale(s) && !tcp_readable_bytes(so->tcp))
        stack_process(s);
    uint64_t deadline = sock_deadline(so, flags & MSG_DONTWAIT, so->rcvtimeo_ns);
    while (total) {
        rc = tcp_recv(so->tcp, iov, iovcnt, flags);
        if (rc > 0) {
            done += (size_t)rc;
            if (!waitall || done == total)
                break;
            iov_skip(&iov, &iovcnt, tmp, (size_t)rc);
            continue;
        }
        if (rc == 0 || rc != -EAGAIN || s->now >= deadline)
            break;
        if ((rc = sock_wait(so, deadline)) != 0)
            break;
    }
    stack_leave(s);
    return done ? (ssize_t)done : rc;
}

int stream_close(struct sock *so)
{
    /* SO_LINGER with a timeout: block until the FIN exchange is over or the time runs out
     * (Linux's sk_stream_wait_close); the rest of the close goes on without us. */
    struct ust_stack *s = so->stack;
    struct tcb *tp = so->tcp;
    int linger = tcp_linger_seconds(tp);
    if (linger > 0 && !so->nonblock && tcp_readable_bytes(tp) == 0) {
        tcp_shutdown(tp, SHUT_WR);
        uint64_t deadline = s->now + (uint64_t)linger * NS_PER_SEC;
        while (tcp_close_pending(tp) && s->now < deadline)
            if (sock_wait(so, deadline) != 0)
                break;
    }
    tcp_close(tp);
    so->tcp = NULL;
    return 0;
}
