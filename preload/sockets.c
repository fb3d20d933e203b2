/*
 * The interposed socket calls: socket, bind, listen, accept, connect, the send and receive
 * families, shutdown, close, options, names, fcntl, ioctl, dup.
 *
 * Each looks at the descriptor's kind (fdtab.h): kernel descriptors go straight to the next
 * definition (glibc's), ustack ones to ust_*, and pending ones are decided when the call names
 * an address (decide.h), then go where the decision sent them.
 */
#include <fcntl.h>
#include <limits.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>

#include "pl.h"
#include "sock/sock.h"

/* ---- Creating ---- */

int socket(int domain, int type, int protocol)
{
    int fd = ust_real_socket(domain, type, protocol);
    if (fd < 0 || domain != AF_INET)
        return fd;
    int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    bool ok = (base == SOCK_STREAM && (protocol == 0 || protocol == IPPROTO_TCP)) ||
              (base == SOCK_DGRAM && (protocol == 0 || protocol == IPPROTO_UDP));
    if (!ok) {
        pl_log(UST_LOG_DEBUG, "fd %d socket: kernel (type %d protocol %d is not TCP or UDP)", fd,
               base, protocol);
        return fd;
    }
    if (!pl_stack()) {
        pl_log(UST_LOG_DEBUG, "fd %d socket: kernel (no stack)", fd);
        return fd;
    }
    pl_fd_lock();
    int err = pl_make_pending(fd, base, protocol);
    pl_fd_unlock();
    if (err)
        pl_log(UST_LOG_WARN, "fd %d socket: kernel (%s)", fd, strerror(-err));
    else
        pl_log(UST_LOG_DEBUG, "fd %d socket: pending (%s), decided at bind or connect", fd,
               base == SOCK_STREAM ? "TCP" : "UDP");
    return fd;
}

/* The IPv4 address and port in a sockaddr, if it is one. */
static bool sin_of(const struct sockaddr *a, socklen_t len, uint32_t *addr, uint16_t *port)
{
    if (!a || len < (socklen_t)sizeof(struct sockaddr_in))
        return false;
    struct sockaddr_in sin;
    memcpy(&sin, a, sizeof(sin));
    if (sin.sin_family != AF_INET && !(sin.sin_family == AF_UNSPEC && !sin.sin_addr.s_addr))
        return false;
    *addr = ntohl(sin.sin_addr.s_addr);
    *port = ntohs(sin.sin_port);
    return true;
}

/* Decides a pending descriptor for a call naming destination `a` (connect, sendto). */
static enum pl_kind settle_dst(int fd, const struct sockaddr *a, socklen_t len, const char *call)
{
    uint32_t addr;
    uint16_t port;
    if (!sin_of(a, len, &addr, &port) || (a && a->sa_family == AF_UNSPEC))
        return pl_settle(fd, PL_KERNEL, call, "not an IPv4 destination");
    const char *why = "";
    enum pl_verdict v = pl_decide_connect(&pl_policy, addr, &why);
    return pl_settle(fd, v, call, why);
}

int bind(int fd, const struct sockaddr *a, socklen_t len)
{
    enum pl_kind k = pl_kind(fd);
    if (k == PL_FD_PENDING) {
        uint32_t addr;
        uint16_t port;
        if (!sin_of(a, len, &addr, &port)) {
            pl_settle(fd, PL_KERNEL, "bind", "not an IPv4 address");
        } else {
            const char *why = "";
            enum pl_verdict v = pl_decide_bind(&pl_policy, addr, port, &why);
            if (v == PL_UNDECIDED) {
                int rc = ust_real_bind(fd, a, len);
                if (rc == 0) {
                    pl_fd_lock();
                    struct pl_pending *p = pl_pending(fd);
                    if (p)
                        p->bound_any = true;
                    pl_fd_unlock();
                    pl_log(UST_LOG_DEBUG, "fd %d bind: still pending (%s)", fd, why);
                }
                return rc;
            }
            pl_settle(fd, v, "bind", why);
        }
    }
    if (pl_is_ustack(fd))
        return pl_forked ? pl_child_refuse(fd, "bind") : ust_bind(pl_ufd(fd), a, len);
    return ust_real_bind(fd, a, len);
}

int listen(int fd, int backlog)
{
    enum pl_kind k = pl_kind(fd);
    if (k == PL_FD_PENDING) {
        const char *why = "";
        pl_settle(fd, pl_decide_listen(&pl_policy, &why), "listen", why);
    }
    if (!pl_is_ustack(fd))
        return ust_real_listen(fd, backlog);
    if (pl_forked)
        return pl_child_refuse(fd, "listen");
    int rc = ust_listen(pl_ufd(fd), backlog);
    if (rc == 0)
        pl_log(UST_LOG_DEBUG, "fd %d listen: ustack, backlog %d", fd, backlog);
    return rc;
}

int accept4(int fd, struct sockaddr *a, socklen_t *len, int flags)
{
    if (!pl_is_ustack(fd))
        return ust_real_accept4(fd, a, len, flags);
    if (pl_forked)
        return pl_child_refuse(fd, "accept");
    int c = (int)PL_RESTARTING(pl_ufd(fd), SO_RCVTIMEO, ust_accept4(pl_ufd(fd), a, len, flags));
    if (c >= 0) {
        pl_adopt(c);
        pl_log(UST_LOG_DEBUG, "fd %d accept: ustack connection fd %d", fd, c);
    }
    return c;
}

int accept(int fd, struct sockaddr *a, socklen_t *len)
{
    if (!pl_is_ustack(fd))
        return ust_real_accept(fd, a, len);
    return accept4(fd, a, len, 0);
}

int connect(int fd, const struct sockaddr *a, socklen_t len)
{
    if (pl_kind(fd) == PL_FD_PENDING)
        settle_dst(fd, a, len, "connect");
    if (pl_is_ustack(fd)) {
        if (pl_forked)
            return pl_child_refuse(fd, "connect");
        /* Not restarted (see signals.c); a signal during it still ends it with EINTR. */
        pl_restart_begin();
        return ust_connect(pl_ufd(fd), a, len);
    }
    return ust_real_connect(fd, a, len);
}

/* ---- Sending ---- */

/* A possibly blocking call on a ustack socket: refused in a forked child, restarted after a
 * signal as Linux would (signals.c). `call` is evaluated once per attempt. */
#define ustack_io(fd, name, timeo_opt, call)                                                   \
    (pl_forked ? pl_child_refuse((fd), (name)) : PL_RESTARTING(pl_ufd(fd), (timeo_opt), (call)))

/* Decides a pending socket by the destination of a send, if the call names one. */
static void settle_for_send(int fd, const struct sockaddr *to, socklen_t tolen, const char *call)
{
    if (to && pl_kind(fd) == PL_FD_PENDING)
        settle_dst(fd, to, tolen, call);
}

ssize_t sendto(int fd, const void *b, size_t n, int f, const struct sockaddr *to, socklen_t tl)
{
    settle_for_send(fd, to, tl, "sendto");
    if (pl_is_ustack(fd))
        return ustack_io(fd, "sendto", SO_SNDTIMEO, ust_sendto(pl_ufd(fd), b, n, f, to, tl));
    return ust_real_sendto(fd, b, n, f, to, tl);
}

ssize_t send(int fd, const void *b, size_t n, int f)
{
    if (pl_is_ustack(fd))
        return ustack_io(fd, "send", SO_SNDTIMEO, ust_send(pl_ufd(fd), b, n, f));
    return ust_real_send(fd, b, n, f);
}

ssize_t sendmsg(int fd, const struct msghdr *m, int f)
{
    settle_for_send(fd, m ? m->msg_name : NULL, m ? m->msg_namelen : 0, "sendmsg");
    if (pl_is_ustack(fd))
        return ustack_io(fd, "sendmsg", SO_SNDTIMEO, ust_sendmsg(pl_ufd(fd), m, f));
    return ust_real_sendmsg(fd, m, f);
}

ssize_t write(int fd, const void *b, size_t n)
{
    if (pl_is_ustack(fd))
        return ustack_io(fd, "write", SO_SNDTIMEO, ust_send(pl_ufd(fd), b, n, 0));
    return ust_real_write(fd, b, n);
}

ssize_t writev(int fd, const struct iovec *v, int n)
{
    if (pl_is_ustack(fd))
        return ustack_io(fd, "writev", SO_SNDTIMEO, ust_writev(pl_ufd(fd), v, n));
    return ust_real_writev(fd, v, n);
}

/* Linux's sendmmsg: sends until one fails; returns how many went, or the first error. */
int sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int f)
{
    settle_for_send(fd, n && v ? v[0].msg_hdr.msg_name : NULL,
                    n && v ? v[0].msg_hdr.msg_namelen : 0, "sendmmsg");
    if (!pl_is_ustack(fd))
        return ust_real_sendmmsg(fd, v, n, f);
    if (pl_forked)
        return pl_child_refuse(fd, "sendmmsg");
    if (n > UIO_MAXIOV)
        n = UIO_MAXIOV;
    pl_restart_begin();
    unsigned i;
    for (i = 0; i < n; i++) {
        ssize_t rc = ust_sendmsg(pl_ufd(fd), &v[i].msg_hdr, f);
        if (rc < 0)
            return i ? (int)i : -1;
        v[i].msg_len = (unsigned)rc;
    }
    return (int)i;
}

/* ---- Receiving ---- */

ssize_t recv(int fd, void *b, size_t n, int f)
{
    if (pl_is_ustack(fd))
        return ustack_io(fd, "recv", SO_RCVTIMEO, ust_recv(pl_ufd(fd), b, n, f));
    return ust_real_recv(fd, b, n, f);
}

ssize_t recvfrom(int fd, void *b, size_t n, int f, struct sockaddr *a, socklen_t *l)
{
    if (pl_is_ustack(fd))
        return ustack_io(fd, "recvfrom", SO_RCVTIMEO, ust_recvfrom(pl_ufd(fd), b, n, f, a, l));
    return ust_real_recvfrom(fd, b, n, f, a, l);
}

ssize_t recvmsg(int fd, struct msghdr *m, int f)
{
    if (pl_is_ustack(fd))
        return ustack_io(fd, "recvmsg", SO_RCVTIMEO, ust_recvmsg(pl_ufd(fd), m, f));
    return ust_real_recvmsg(fd, m, f);
}

ssize_t read(int fd, void *b, size_t n)
{
    if (pl_is_ustack(fd))
        return ustack_io(fd, "read", SO_RCVTIMEO, ust_recv(pl_ufd(fd), b, n, 0));
    return ust_real_read(fd, b, n);
}

ssize_t readv(int fd, const struct iovec *v, int n)
{
    if (pl_is_ustack(fd))
        return ustack_io(fd, "readv", SO_RCVTIMEO, ust_readv(pl_ufd(fd), v, n));
    return ust_real_readv(fd, v, n);
}

/* Linux's recvmmsg: the first datagram may block, the rest are taken while available
 * (MSG_WAITFORONE's behaviour is the one we give); returns how many, or the first error. The
 * timeout is checked between datagrams, as Linux does. */
int recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int f, struct timespec *t)
{
    if (!pl_is_ustack(fd))
        return ust_real_recvmmsg(fd, v, n, f, t);
    if (pl_forked)
        return pl_child_refuse(fd, "recvmmsg");
    if (n > UIO_MAXIOV)
        n = UIO_MAXIOV;
    pl_restart_begin();
    unsigned i;
    for (i = 0; i < n; i++) {
        int flags = f & ~MSG_WAITFORONE;
        if (i && (f & MSG_WAITFORONE))
            flags |= MSG_DONTWAIT;
        ssize_t rc = ust_recvmsg(pl_ufd(fd), &v[i].msg_hdr, flags);
        if (rc < 0) {
            if (i && errno == EAGAIN)
                break;
            return i ? (int)i : -1;
        }
        v[i].msg_len = (unsigned)rc;
    }
    return (int)i;
}

/* ---- Fortified entry points (glibc's _FORTIFY_SOURCE): the check, then ours. ---- */

extern void __chk_fail(void) __attribute__((noreturn));

ssize_t __read_chk(int fd, void *b, size_t n, size_t buflen);
ssize_t __read_chk(int fd, void *b, size_t n, size_t buflen)
{
    if (n > buflen)
        __chk_fail();
    return read(fd, b, n);
}

ssize_t __recv_chk(int fd, void *b, size_t n, size_t buflen, int f);
ssize_t __recv_chk(int fd, void *b, size_t n, size_t buflen, int f)
{
    if (n > buflen)
        __chk_fail();
    return recv(fd, b, n, f);
}

ssize_t __recvfrom_chk(int fd, void *b, size_t n, size_t buflen, int f, struct sockaddr *a,
                       socklen_t *l);
ssize_t __recvfrom_chk(int fd, void *b, size_t n, size_t buflen, int f, struct sockaddr *a,
                       socklen_t *l)
{
    if (n > buflen)
        __chk_fail();
    return recvfrom(fd, b, n, f, a, l);
}

/* ---- Control ---- */

int shutdown(int fd, int how)
{
    if (pl_is_ustack(fd))
        return pl_forked ? pl_child_refuse(fd, "shutdown") : ust_shutdown(pl_ufd(fd), how);
    return ust_real_shutdown(fd, how);
}

/* Closes a ustack socket's number: an alias just goes; a primary with aliases hands the socket
 * to one of them (as Linux, the socket lives while any descriptor refers to it); the last one
 * closes the socket. */
static int close_ustack(int fd, enum pl_kind k)
{
    pl_fd_lock();
    if (k == PL_FD_ALIAS) {
        pl_alias_drop(fd);
        pl_fd_unlock();
        pl_log(UST_LOG_DEBUG, "fd %d close (a duplicate of a ustack socket)", fd);
        return ust_real_close(fd);
    }
    int next = k == PL_FD_USTACK ? pl_alias_first(fd) : -1;
    if (next >= 0) {
        int err = sock_rekey(fd, next);
        if (!err)
            pl_alias_successor(fd);
        pl_set_kind(fd, PL_FD_KERNEL);
        pl_fd_unlock();
        pl_log(UST_LOG_DEBUG, "fd %d close: the socket lives on as fd %d%s", fd, next,
               err ? " (rekey failed)" : "");
        return ust_real_close(fd);
    }
    pl_set_kind(fd, PL_FD_KERNEL);
    pl_fd_unlock();
    pl_log(UST_LOG_DEBUG, "fd %d close (ustack %s)", fd, k == PL_FD_EPOLL ? "epoll" : "socket");
    pl_restart_begin();   /* SO_LINGER may wait */
    return ust_close(fd);
}

int close(int fd)
{
    enum pl_kind k = pl_kind(fd);
    if (k == PL_FD_KERNEL)
        return ust_real_close(fd);
    if (k == PL_FD_PENDING || pl_forked) {
        /* A forked child only lets go of its copy of the number: the socket is the parent's. */
        pl_fd_lock();
        if (k == PL_FD_ALIAS)
            pl_alias_drop(fd);
        pl_set_kind(fd, PL_FD_KERNEL);
        pl_fd_unlock();
        return ust_real_close(fd);
    }
    return close_ustack(fd, k);
}

int setsockopt(int fd, int level, int name, const void *v, socklen_t l)
{
    enum pl_kind k = pl_kind(fd);
    if (pl_is_ustack(fd))
        return pl_forked ? pl_child_refuse(fd, "setsockopt")
                         : ust_setsockopt(pl_ufd(fd), level, name, v, l);
    int rc = ust_real_setsockopt(fd, level, name, v, l);
    if (k == PL_FD_PENDING && rc == 0) {
        pl_fd_lock();
        struct pl_pending *p = pl_pending(fd);
        bool kept = !p || pl_pending_add_opt(p, level, name, v, l);
        pl_fd_unlock();
        if (!kept)
            pl_settle(fd, PL_KERNEL, "setsockopt", "too many options to carry over");
    }
    return rc;
}

int getsockopt(int fd, int level, int name, void *v, socklen_t *l)
{
    if (!pl_is_ustack(fd))
        return ust_real_getsockopt(fd, level, name, v, l);
    if (pl_forked)
        return pl_child_refuse(fd, "getsockopt");
    if (level == IPPROTO_TCP && name == TCP_INFO)
        return pl_get_tcp_info(pl_ufd(fd), v, l);
    return ust_getsockopt(pl_ufd(fd), level, name, v, l);
}

int getsockname(int fd, struct sockaddr *a, socklen_t *l)
{
    if (pl_is_ustack(fd))
        return pl_forked ? pl_child_refuse(fd, "getsockname") : ust_getsockname(pl_ufd(fd), a, l);
    return ust_real_getsockname(fd, a, l);
}

int getpeername(int fd, struct sockaddr *a, socklen_t *l)
{
    if (pl_is_ustack(fd))
        return pl_forked ? pl_child_refuse(fd, "getpeername") : ust_getpeername(pl_ufd(fd), a, l);
    return ust_real_getpeername(fd, a, l);
}

/* ---- fcntl, ioctl, dup ---- */

/* A new descriptor for a ustack socket (dup): a kernel duplicate of its eventfd, recorded as an
 * alias of the socket's number. `make` performs the kernel's dup; returns its result. */
static int dup_ustack(int fd, int newfd)
{
    if (newfd < 0)
        return newfd;
    int primary = pl_ufd(fd);
    pl_fd_lock();
    pl_alias_add(primary, newfd);
    pl_fd_unlock();
    pl_log(UST_LOG_DEBUG, "fd %d: duplicate of ustack socket %d", newfd, primary);
    return newfd;
}

static int ustack_fcntl(int fd, int cmd, long arg)
{
    if (pl_forked)
        return pl_child_refuse(fd, "fcntl");
    switch (cmd) {
    case F_GETFL:
    case F_SETFL:
        return ust_fcntl(pl_ufd(fd), cmd, arg);
    case F_GETFD:
    case F_SETFD:
        return ust_real_fcntl(fd, cmd, arg);   /* close-on-exec belongs to the number */
    case F_DUPFD:
    case F_DUPFD_CLOEXEC:
        return dup_ustack(fd, ust_real_fcntl(fd, cmd, arg));
    default:
        /* Locks, owners, signals: meaningless on a socket or unsupported; as for an unknown
         * command. */
        errno = EINVAL;
        return -1;
    }
}

/* A pending socket duplicated is shared by two numbers: it stays the kernel's. */
static void pending_dup(int fd, const char *call)
{
    if (pl_kind(fd) == PL_FD_PENDING)
        pl_settle(fd, PL_KERNEL, call, "duplicated before bind or connect");
}

int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    long arg = va_arg(ap, long);
    va_end(ap);
    if (pl_is_ustack(fd))
        return ustack_fcntl(fd, cmd, arg);
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
        pending_dup(fd, "fcntl(F_DUPFD)");
    return ust_real_fcntl(fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...);
int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    long arg = va_arg(ap, long);
    va_end(ap);
    if (pl_is_ustack(fd))
        return ustack_fcntl(fd, cmd, arg);
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
        pending_dup(fd, "fcntl(F_DUPFD)");
    return ust_real_fcntl64(fd, cmd, arg);
}

int ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (!pl_is_ustack(fd))
        return ust_real_ioctl(fd, req, arg);
    if (pl_forked)
        return pl_child_refuse(fd, "ioctl");
    if (req == FIOCLEX || req == FIONCLEX)
        return ust_real_ioctl(fd, req, arg);   /* the flag lives on the real descriptor */
    return ust_ioctl(pl_ufd(fd), req, arg);
}

int dup(int fd)
{
    if (pl_is_ustack(fd))
        return pl_forked ? pl_child_refuse(fd, "dup") : dup_ustack(fd, ust_real_dup(fd));
    pending_dup(fd, "dup");
    return ust_real_dup(fd);
}

/* The number being replaced stops being ours first: dup2 over a ustack socket closes it. */
static void replaced(int newfd)
{
    enum pl_kind k = pl_kind(newfd);
    if (k == PL_FD_KERNEL)
        return;
    if (k == PL_FD_PENDING || pl_forked) {
        pl_fd_lock();
        if (k == PL_FD_ALIAS)
            pl_alias_drop(newfd);
        pl_set_kind(newfd, PL_FD_KERNEL);
        pl_fd_unlock();
        return;
    }
    /* Hand the socket on (or close it) while the number still refers to the eventfd; the
     * kernel's dup2 then replaces the number. */
    int next = -1;
    pl_fd_lock();
    if (k == PL_FD_ALIAS) {
        pl_alias_drop(newfd);
    } else if (k == PL_FD_USTACK && (next = pl_alias_first(newfd)) >= 0) {
        if (sock_rekey(newfd, next) == 0)
            pl_alias_successor(newfd);
    }
    pl_set_kind(newfd, PL_FD_KERNEL);
    pl_fd_unlock();
    if ((k == PL_FD_USTACK && next < 0) || k == PL_FD_EPOLL) {
        /* ust_close releases the number; dup2 takes it again below. */
        ust_close(newfd);
    }
}

static int dup_to(int oldfd, int newfd, int flags, bool three)
{
    if (oldfd == newfd)
        return three ? ust_real_dup3(oldfd, newfd, flags) : ust_real_dup2(oldfd, newfd);
    if (pl_forked && pl_is_ustack(oldfd))
        return pl_child_refuse(oldfd, three ? "dup3" : "dup2");
    pending_dup(oldfd, three ? "dup3" : "dup2");
    if (ust_real_fcntl(oldfd, F_GETFD) < 0)
        return -1;   /* EBADF, and newfd untouched, as dup2 */
    if (three && (flags & ~O_CLOEXEC)) {
        errno = EINVAL;
        return -1;
    }
    replaced(newfd);
    int rc = three ? ust_real_dup3(oldfd, newfd, flags) : ust_real_dup2(oldfd, newfd);
    if (rc >= 0 && pl_is_ustack(oldfd))
        dup_ustack(oldfd, rc);
    return rc;
}

int dup2(int oldfd, int newfd)
{
    return dup_to(oldfd, newfd, 0, false);
}

int dup3(int oldfd, int newfd, int flags)
{
    return dup_to(oldfd, newfd, flags, true);
}
