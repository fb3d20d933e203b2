/*
 * The real (next) definitions of every function the shim interposes.
 *
 * PL_REAL_FUNCS lists them once. For each, real.c defines ust_real_NAME(), which calls the next
 * definition in the lookup order (dlsym(RTLD_NEXT): normally glibc's), resolved on first use.
 * The shim calls these for descriptors that are not ustack's; and libustack itself, linked into
 * the shim, calls them too: its objects are copied with `objcopy --redefine-syms=real.syms`, which
 * renames every reference to NAME into ust_real_NAME, so the stack's own system calls (the TAP
 * descriptor's read and write, its eventfds, its poll) never come back into the shim.
 * real.syms must list the same names (a unit test compares them).
 */
#ifndef UST_PRELOAD_REAL_H
#define UST_PRELOAD_REAL_H

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/* X(return type, name, (parameters), (arguments)) */
#define PL_REAL_FUNCS(X)                                                                         \
    X(int, socket, (int d, int t, int p), (d, t, p))                                             \
    X(int, bind, (int fd, const struct sockaddr *a, socklen_t l), (fd, a, l))                    \
    X(int, listen, (int fd, int b), (fd, b))                                                     \
    X(int, accept, (int fd, struct sockaddr *a, socklen_t *l), (fd, a, l))                       \
    X(int, accept4, (int fd, struct sockaddr *a, socklen_t *l, int f), (fd, a, l, f))            \
    X(int, connect, (int fd, const struct sockaddr *a, socklen_t l), (fd, a, l))                 \
    X(ssize_t, read, (int fd, void *b, size_t n), (fd, b, n))                                    \
    X(ssize_t, write, (int fd, const void *b, size_t n), (fd, b, n))                             \
    X(ssize_t, readv, (int fd, const struct iovec *v, int n), (fd, v, n))                        \
    X(ssize_t, writev, (int fd, const struct iovec *v, int n), (fd, v, n))                       \
    X(ssize_t, send, (int fd, const void *b, size_t n, int f), (fd, b, n, f))                    \
    X(ssize_t, recv, (int fd, void *b, size_t n, int f), (fd, b, n, f))                          \
    X(ssize_t, sendto, (int fd, const void *b, size_t n, int f, const struct sockaddr *a,        \
                        socklen_t l), (fd, b, n, f, a, l))                                       \
    X(ssize_t, recvfrom, (int fd, void *b, size_t n, int f, struct sockaddr *a, socklen_t *l),   \
      (fd, b, n, f, a, l))                                                                       \
    X(ssize_t, sendmsg, (int fd, const struct msghdr *m, int f), (fd, m, f))                     \
    X(ssize_t, recvmsg, (int fd, struct msghdr *m, int f), (fd, m, f))                           \
    X(int, sendmmsg, (int fd, struct mmsghdr *v, unsigned int n, int f), (fd, v, n, f))          \
    X(int, recvmmsg, (int fd, struct mmsghdr *v, unsigned int n, int f, struct timespec *t),     \
      (fd, v, n, f, t))                                                                          \
    X(int, shutdown, (int fd, int how), (fd, how))                                               \
    X(int, close, (int fd), (fd))                                                                \
    X(int, setsockopt, (int fd, int lv, int nm, const void *v, socklen_t l), (fd, lv, nm, v, l)) \
    X(int, getsockopt, (int fd, int lv, int nm, void *v, socklen_t *l), (fd, lv, nm, v, l))      \
    X(int, getsockname, (int fd, struct sockaddr *a, socklen_t *l), (fd, a, l))                  \
    X(int, getpeername, (int fd, struct sockaddr *a, socklen_t *l), (fd, a, l))                  \
    X(int, poll, (struct pollfd *f, nfds_t n, int t), (f, n, t))                                 \
    X(int, ppoll, (struct pollfd *f, nfds_t n, const struct timespec *t, const sigset_t *m),     \
      (f, n, t, m))                                                                              \
    X(int, select, (int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t), (n, r, w, e, t)) \
    X(int, pselect, (int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *t,           \
                     const sigset_t *m), (n, r, w, e, t, m))                                     \
    X(int, epoll_create, (int s), (s))                                                           \
    X(int, epoll_create1, (int f), (f))                                                          \
    X(int, epoll_ctl, (int ep, int op, int fd, struct epoll_event *e), (ep, op, fd, e))          \
    X(int, epoll_wait, (int ep, struct epoll_event *e, int n, int t), (ep, e, n, t))             \
    X(int, epoll_pwait, (int ep, struct epoll_event *e, int n, int t, const sigset_t *m),        \
      (ep, e, n, t, m))                                                                          \
    X(int, dup, (int fd), (fd))                                                                  \
    X(int, dup2, (int a, int b), (a, b))                                                         \
    X(int, dup3, (int a, int b, int f), (a, b, f))                                               \
    X(int, execve, (const char *p, char *const a[], char *const e[]), (p, a, e))                 \
    X(int, posix_spawn, (pid_t *pid, const char *p, const posix_spawn_file_actions_t *fa,        \
                         const posix_spawnattr_t *at, char *const a[], char *const e[]),         \
      (pid, p, fa, at, a, e))                                                                    \
    X(int, posix_spawnp, (pid_t *pid, const char *p, const posix_spawn_file_actions_t *fa,       \
                          const posix_spawnattr_t *at, char *const a[], char *const e[]),        \
      (pid, p, fa, at, a, e))                                                                    \
    X(ssize_t, sendfile, (int o, int i, off_t *off, size_t n), (o, i, off, n))                   \
    X(ssize_t, splice, (int i, loff_t *oi, int o, loff_t *oo, size_t n, unsigned int f),         \
      (i, oi, o, oo, n, f))

#define PL_REAL_DECL_(ret, name, params, args) ret ust_real_##name params;
PL_REAL_FUNCS(PL_REAL_DECL_)
#undef PL_REAL_DECL_

/* The variadic ones, with the one argument every command we know takes. */
int ust_real_fcntl(int fd, int cmd, ...);
int ust_real_fcntl64(int fd, int cmd, ...);
int ust_real_ioctl(int fd, unsigned long req, ...);

/* Resolves every pointer now (the constructor calls it; ust_real_* also resolve lazily). */
void pl_real_init(void);

#endif
