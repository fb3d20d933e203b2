/*
 * The POSIX-shaped API (include/ustack/ustack.h): argument checks with Linux's errno for each
 * misuse, then the socket and protocol layers.
 *
 * A descriptor that is not a ustack socket is passed to the kernel's call of the same name, so a
 * program can route every socket call through ust_* and get ustack for its ustack sockets and
 * the usual behaviour (including EBADF and ENOTSOCK) for everything else.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "net/stack.h"
#include "sock/poll.h"
#include "sock/sock.h"
#include "sock/stream.h"
#include "tcp/tcp.h"
#include "udp/udp.h"

static int write_addr(struct sockaddr *addr, socklen_t *len, uint32_t ip, uint16_t port);

/* Returns -1 with errno set from a negative result, else the result. */
static inline long ret_errno(long rc)
{
    if (rc < 0) {
        errno = (int)-rc;
        return -1;
    }
    return rc;
}

/* ---- Creating and closing ---- */

int ust_stack_socket(struct ust_stack *s, int domain, int type, int protocol)
{
    int flags = type & (SOCK_NONBLOCK | SOCK_CLOEXEC);
    int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (domain != AF_INET)
        return socket(domain, type, protocol);   /* not ours: the kernel's */
    if (base != SOCK_DGRAM && base != SOCK_STREAM && base != SOCK_RAW &&
        base != SOCK_SEQPACKET)
        return (int)ret_errno(-EINVAL);
    bool dgram_ok = base == SOCK_DGRAM &&
                    (protocol == 0 || protocol == IPPROTO_UDP || protocol == IPPROTO_ICMP);
    bool stream_ok = base == SOCK_STREAM && (protocol == 0 || protocol == IPPROTO_TCP);
    if (!dgram_ok && !stream_ok)
        return (int)ret_errno(-EPROTONOSUPPORT);
    if (!s)
        return (int)ret_errno(-ENETDOWN);
    int proto = protocol ? protocol : (stream_ok ? IPPROTO_TCP : IPPROTO_UDP);
    return (int)ret_errno(sock_create(s, base, proto, flags & SOCK_NONBLOCK,
                                      flags & SOCK_CLOEXEC));
}

int ust_socket(int domain, int type, int protocol)
{
    return ust_stack_socket(ust_stack_default(), domain, type, protocol);
}

int ust_close(int fd)
{
    if (epoll_fd_is_ours(fd))
        return (int)ret_errno(epoll_close(fd));
    if (!sock_fd_is_ours(fd))
        return close(fd);
    return (int)ret_errno(sock_close(fd));
}

int ust_is_socket(int fd)
{
    return sock_fd_is_ours(fd);
}

/* ---- Addresses ---- */

/* Checks a sockaddr for bind/connect as Linux's inet_bind / inet_dgram_connect do. */
static int read_addr(const struct sockaddr *addr, socklen_t len, struct sockaddr_in *out,
                     bool allow_unspec_any)
{
    if (!addr || len < (socklen_t)sizeof(struct sockaddr_in))
        return -EINVAL;
    memcpy(out, addr, sizeof(*out));
    if (out->sin_family == AF_INET)
        return 0;
    /* Linux accepts AF_UNSPEC with INADDR_ANY in bind, for old programs. */
    if (allow_unspec_any && out->sin_family == AF_UNSPEC && out->sin_addr.s_addr == INADDR_ANY)
        return 0;
    return -EAFNOSUPPORT;
}

int ust_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    struct sock *so = sock_get(fd);
    if (!so)
        return bind(fd, addr, len);
    struct sockaddr_in sin;
    int rc = read_addr(addr, len, &sin, true);
    if (!rc) {
        uint32_t a = ntohl(sin.sin_addr.s_addr);
        uint16_t port = ntohs(sin.sin_port);
        stack_enter(so->stack);
        rc = so->type == SOCK_STREAM ? tcp_bind(so->tcp, a, port) : udp_bind(&so->udp, a, port);
        stack_leave(so->stack);
    }
    sock_put(so);
    return (int)ret_errno(rc);
}

int ust_listen(int fd, int backlog)
{
    struct sock *so = sock_get(fd);
    if (!so)
        return listen(fd, backlog);
    int rc = -EOPNOTSUPP;   /* as Linux for a datagram socket */
    if (so->type == SOCK_STREAM) {
        stack_enter(so->stack);
        rc = tcp_listen(so->tcp, backlog);
        stack_leave(so->stack);
        sock_notify(so);
    }
    sock_put(so);
    return (int)ret_errno(rc);
}

int ust_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    struct sock *so = sock_get(fd);
    if (!so)
        return accept4(fd, addr, len, flags);
    int rc;
    if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) {
        rc = -EINVAL;
    } else if (so->type != SOCK_STREAM) {
        rc = -EOPNOTSUPP;
    } else if (addr && !len) {
        rc = -EFAULT;
    } else {
        struct sock *child;
        rc = stream_accept(so, &child, flags & SOCK_NONBLOCK, flags & SOCK_CLOEXEC);
        if (!rc) {
            rc = child->fd;
            if (addr) {
                uint32_t a = 0;
                uint16_t p = 0;
                stack_enter(so->stack);
                tcp_peer(child->tcp, &a, &p);
                stack_leave(so->stack);
                write_addr(addr, len, a, p);
            }
        }
    }
    sock_put(so);
    return (int)ret_errno(rc);
}

int ust_accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    return ust_accept4(fd, addr, len, 0);
}

int ust_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    struct sock *so = sock_get(fd);
    if (!so)
        return connect(fd, addr, len);
    int rc;
    if (so->type == SOCK_STREAM) {
        struct sockaddr_in sin;
        rc = read_addr(addr, len, &sin, false);
        if (!rc)
            rc = stream_connect(so, ntohl(sin.sin_addr.s_addr), ntohs(sin.sin_port));
    } else if (addr && len >= (socklen_t)sizeof(sa_family_t) && addr->sa_family == AF_UNSPEC) {
        /* Dissolve the association (POSIX connect(2), datagram sockets). */
        stack_enter(so->stack);
        udp_disconnect(&so->udp);
        stack_leave(so->stack);
        rc = 0;
    } else {
        struct sockaddr_in sin;
        rc = read_addr(addr, len, &sin, false);
        if (!rc) {
            stack_enter(so->stack);
            rc = udp_connect(&so->udp, ntohl(sin.sin_addr.s_addr), ntohs(sin.sin_port));
            stack_leave(so->stack);
        }
    }
    sock_put(so);
    return (int)ret_errno(rc);
}

static int write_addr(struct sockaddr *addr, socklen_t *len, uint32_t ip, uint16_t port)
{
    if (!addr || !len)
        return -EFAULT;
    if ((int)*len < 0)
        return -EINVAL;
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
                               .sin_addr.s_addr = htonl(ip) };
    /* Linux copies what fits and reports the full length. */
    memcpy(addr, &sin, *len < sizeof(sin) ? *len : sizeof(sin));
    *len = sizeof(sin);
    return 0;
}

int ust_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
    struct sock *so = sock_get(fd);
    if (!so)
        return getsockname(fd, addr, len);
    uint32_t a;
    uint16_t p;
    stack_enter(so->stack);
    if (so->type == SOCK_STREAM) {
        tcp_local(so->tcp, &a, &p);
    } else {
        a = so->udp.laddr;
        p = so->udp.lport;
    }
    int rc = write_addr(addr, len, a, p);
    stack_leave(so->stack);
    sock_put(so);
    return (int)ret_errno(rc);
}

int ust_getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
    struct sock *so = sock_get(fd);
    if (!so)
        return getpeername(fd, addr, len);
    uint32_t a;
    uint16_t p;
    stack_enter(so->stack);
    int rc;
    if (so->type == SOCK_STREAM)
        rc = tcp_peer(so->tcp, &a, &p) ? write_addr(addr, len, a, p) : -ENOTCONN;
    else
        rc = so->udp.connected ? write_addr(addr, len, so->udp.raddr, so->udp.rport) : -ENOTCONN;
    stack_leave(so->stack);
    sock_put(so);
    return (int)ret_errno(rc);
}

/* ---- Sending ---- */

static ssize_t sock_send(struct sock *so, const struct msghdr *msg, int flags)
{
    if (so->type == SOCK_STREAM) {
        /* Linux ignores a destination given to a connected stream socket. */
        if (flags & MSG_OOB)
            return -EOPNOTSUPP;   /* urgent data is not supported */
        if (msg->msg_iovlen > IOV_MAX)
            return -EMSGSIZE;
        return stream_send(so, msg->msg_iov, msg->msg_iovlen, flags);
    }
    if (flags & MSG_OOB)
        return -EOPNOTSUPP;
    if (flags & MSG_MORE)
        return -EOPNOTSUPP;   /* UDP corking is not implemented: refuse rather than split */
    struct sockaddr_in dst;
    const struct sockaddr_in *to = NULL;
    if (msg->msg_name) {
        if (msg->msg_namelen < sizeof(struct sockaddr_in))
            return -EINVAL;
        memcpy(&dst, msg->msg_name, sizeof(dst));
        if (dst.sin_family != AF_INET && dst.sin_family != AF_UNSPEC)
            return -EAFNOSUPPORT;
        to = &dst;
    }
    if (msg->msg_iovlen > IOV_MAX)
        return -EMSGSIZE;
    struct ust_stack *s = so->stack;
    stack_enter_lazy(s);   /* a datagram goes out whatever has arrived */
    ssize_t rc = (so->shutdown & SOCK_SEND_SHUTDOWN)
                     ? -EPIPE
                     : udp_sendmsg(&so->udp, msg->msg_iov, msg->msg_iovlen, to, flags);
    stack_leave(s);
    return rc;
}

ssize_t ust_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    struct sock *so = sock_get(fd);
    if (!so)
        return sendmsg(fd, msg, flags);
    ssize_t rc = msg ? sock_send(so, msg, flags) : -EFAULT;
    sock_put(so);
    return ret_errno(rc);
}

ssize_t ust_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
                   socklen_t tolen)
{
    struct sock *so = sock_get(fd);
    if (!so)
        return sendto(fd, buf, len, flags, to, tolen);
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    struct msghdr msg = { .msg_name = (void *)to, .msg_namelen = to ? tolen : 0,
                          .msg_iov = &iov, .msg_iovlen = 1 };
    ssize_t rc = sock_send(so, &msg, flags);
    sock_put(so);
    return ret_errno(rc);
}

ssize_t ust_send(int fd, const void *buf, size_t len, int flags)
{
    return ust_sendto(fd, buf, len, flags, NULL, 0);
}

ssize_t ust_write(int fd, const void *buf, size_t len)
{
    if (!sock_fd_is_ours(fd))
        return write(fd, buf, len);
    return ust_sendto(fd, buf, len, 0, NULL, 0);
}

/* ---- Receiving ---- */

static ssize_t sock_recv(struct sock *so, struct msghdr *msg, int flags)
{
    if (so->type == SOCK_STREAM) {
        if (flags & MSG_OOB)
            return -EINVAL;   /* Linux: no urgent byte waiting */
        ssize_t n = stream_recv(so, msg->msg_iov, msg->msg_iovlen, flags);
        if (n >= 0) {
            msg->msg_namelen = 0;   /* a stream's peer is not reported per read */
            msg->msg_controllen = 0;
            msg->msg_flags = 0;
        }
        return n;
    }
    if (flags & MSG_OOB)
        return -EOPNOTSUPP;
    if (flags & MSG_ERRQUEUE)
        return -EAGAIN;       /* no error queue (IP_RECVERR is not supported) */
    struct ust_stack *s = so->stack;
    struct sockaddr_in from;
    int msg_flags = 0;
    ssize_t rc;
    /* Queued data is returned without looking at the links; only "nothing there" needs to
     * know what has arrived. */
    stack_enter_lazy(s);
    uint64_t deadline = sock_deadline(so, flags & MSG_DONTWAIT, so->rcvtimeo_ns);
    for (;;) {
        rc = udp_recvmsg(&so->udp, msg->msg_iov, msg->msg_iovlen, flags, &from, &msg_flags);
        if (rc != -EAGAIN)
            break;
        if (stack_rx_is_stale(s)) {
            stack_process(s);
            continue;
        }
        if (so->shutdown & SOCK_RCV_SHUTDOWN) {
            rc = 0;
            break;
        }
        if (s->now >= deadline)
            break;
        int err = sock_wait(so, deadline);
        if (err) {
            rc = err;
            break;
        }
    }
    stack_leave(s);
    if (rc >= 0) {
        if (msg->msg_name) {
            socklen_t n = msg->msg_namelen < sizeof(from) ? msg->msg_namelen : sizeof(from);
            memcpy(msg->msg_name, &from, n);
            msg->msg_namelen = sizeof(from);
        }
        msg->msg_controllen = 0;
        msg->msg_flags = msg_flags;
    }
    return rc;
}

ssize_t ust_recvmsg(int fd, struct msghdr *msg, int flags)
{
    struct sock *so = sock_get(fd);
    if (!so)
        return recvmsg(fd, msg, flags);
    ssize_t rc = msg ? sock_recv(so, msg, flags) : -EFAULT;
    sock_put(so);
    return ret_errno(rc);
}

ssize_t ust_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
                     socklen_t *fromlen)
{
    struct sock *so = sock_get(fd);
    if (!so)
        return recvfrom(fd, buf, len, flags, from, fromlen);
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    struct msghdr msg = { .msg_name = from, .msg_namelen = from && fromlen ? *fromlen : 0,
                          .msg_iov = &iov, .msg_iovlen = 1 };
    if (from && !fromlen) {
        sock_put(so);
        return ret_errno(-EFAULT);
    }
    ssize_t rc = sock_recv(so, &msg, flags);
    if (rc >= 0 && from)
        *fromlen = msg.msg_namelen;
    sock_put(so);
    return ret_errno(rc);
}

ssize_t ust_recv(int fd, void *buf, size_t len, int flags)
{
    return ust_recvfrom(fd, buf, len, flags, NULL, NULL);
}

ssize_t ust_read(int fd, void *buf, size_t len)
{
    if (!sock_fd_is_ours(fd))
        return read(fd, buf, len);
    return ust_recvfrom(fd, buf, len, 0, NULL, NULL);
}

/* ---- Control ---- */

int ust_shutdown(int fd, int how)
{
    struct sock *so = sock_get(fd);
    if (!so)
        return shutdown(fd, how);
    int rc = 0;
    if (how < SHUT_RD || how > SHUT_RDWR) {
        rc = -EINVAL;
    } else {
        stack_enter(so->stack);
        if (so->type == SOCK_STREAM) {
            rc = tcp_shutdown(so->tcp, how);
        } else {
            /* Linux: on an unconnected datagram socket the flags are set but ENOTCONN
             * returned. */
            so->shutdown |= (uint8_t)(how + 1);
            if (!so->udp.connected)
                rc = -ENOTCONN;
        }
        sock_notify(so);
        stack_leave(so->stack);
    }
    sock_put(so);
    return (int)ret_errno(rc);
}

int ust_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    struct sock *so = sock_get(fd);
    if (!so)
        return setsockopt(fd, level, name, val, len);
    stack_enter(so->stack);
    int rc = sock_setsockopt(so, level, name, val, len);
    stack_leave(so->stack);
    sock_put(so);
    return (int)ret_errno(rc);
}

int ust_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    struct sock *so = sock_get(fd);
    if (!so)
        return getsockopt(fd, level, name, val, len);
    stack_enter(so->stack);
    int rc = sock_getsockopt(so, level, name, val, len);
    stack_leave(so->stack);
    sock_put(so);
    return (int)ret_errno(rc);
}

int ust_fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    long arg = va_arg(ap, long);
    va_end(ap);
    struct sock *so = sock_get(fd);
    if (!so)
        return fcntl(fd, cmd, arg);
    int rc;
    switch (cmd) {
    case F_GETFL:
        rc = O_RDWR | (so->nonblock ? O_NONBLOCK : 0);
        break;
    case F_SETFL:
        so->nonblock = (arg & O_NONBLOCK) != 0;
        rc = 0;
        break;
    case F_GETFD:
    case F_SETFD:
        if (sock_fd_private(fd)) {   /* no kernel descriptor: the socket keeps the flag */
            if (cmd == F_SETFD)
                so->cloexec = (arg & FD_CLOEXEC) != 0;
            rc = cmd == F_GETFD ? (so->cloexec ? FD_CLOEXEC : 0) : 0;
            break;
        }
        rc = fcntl(fd, cmd, arg);   /* FD_CLOEXEC lives on the real descriptor */
        sock_put(so);
        return rc;
    default:
        rc = -EINVAL;
        break;
    }
    sock_put(so);
    return (int)ret_errno(rc);
}

int ust_ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    struct sock *so = sock_get(fd);
    if (!so)
        return ioctl(fd, req, arg);
    int rc = 0;
    int v;
    switch (req) {
    case FIONBIO:
        if (!arg) {
            rc = -EFAULT;
            break;
        }
        memcpy(&v, arg, sizeof(v));
        so->nonblock = v != 0;
        break;
    case FIONREAD:
        if (!arg) {
            rc = -EFAULT;
            break;
        }
        stack_enter(so->stack);
        v = so->type == SOCK_STREAM ? (int)tcp_readable_bytes(so->tcp)
                                    : (int)udp_next_size(&so->udp);
        stack_leave(so->stack);
        memcpy(arg, &v, sizeof(v));
        break;
    case SIOCOUTQ:
        if (!arg) {
            rc = -EFAULT;
            break;
        }
        stack_enter(so->stack);
        v = so->type == SOCK_STREAM ? (int)tcp_unsent_bytes(so->tcp) : 0;
        stack_leave(so->stack);
        memcpy(arg, &v, sizeof(v));
        break;
    default:
        rc = -ENOTTY;
        break;
    }
    sock_put(so);
    return (int)ret_errno(rc);
}

/* ---- Vectored I/O and TCP state ---- */

ssize_t ust_readv(int fd, const struct iovec *iov, int iovcnt)
{
    if (!sock_fd_is_ours(fd))
        return readv(fd, iov, iovcnt);
    if (iovcnt < 0 || iovcnt > IOV_MAX)
        return ret_errno(-EINVAL);
    struct msghdr msg = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
    return ust_recvmsg(fd, &msg, 0);
}

ssize_t ust_writev(int fd, const struct iovec *iov, int iovcnt)
{
    if (!sock_fd_is_ours(fd))
        return writev(fd, iov, iovcnt);
    if (iovcnt < 0 || iovcnt > IOV_MAX)
        return ret_errno(-EINVAL);
    struct msghdr msg = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
    return ust_sendmsg(fd, &msg, 0);
}

int ust_tcp_info(int fd, struct ust_tcp_info *info)
{
    struct sock *so = sock_get(fd);
    if (!so)
        return (int)ret_errno(fcntl(fd, F_GETFD) < 0 ? -EBADF : -ENOTSOCK);
    int rc = 0;
    if (so->type != SOCK_STREAM || !info) {
        rc = info ? -EOPNOTSUPP : -EFAULT;
    } else {
        stack_enter(so->stack);
        tcp_get_info(so->tcp, info);
        stack_leave(so->stack);
    }
    sock_put(so);
    return (int)ret_errno(rc);
}
