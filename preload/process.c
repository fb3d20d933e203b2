/*
 * exec and the copy calls.
 *
 * exec: a ustack socket cannot outlive the process image (its state is this process's memory),
 * so before execve every ustack descriptor without FD_CLOEXEC gets it, with a log line, and
 * gets it back if execve fails. The new image starts clean; if it runs under the shim too
 * (LD_PRELOAD is inherited), it makes its own stack when it needs one. glibc's execv, execvp,
 * execvpe and execl* reach the kernel without calling execve through the PLT, so they are
 * interposed here as well, and so are posix_spawn and posix_spawnp (for which the flags are
 * restored in the parent once the call returns: glibc's child has exec'd or failed by then).
 * A vfork child that calls execve is covered by execve.
 *
 * sendfile and splice onto a ustack socket copy through a buffer: read from the file (or pipe),
 * send on the socket.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "pl.h"

#define PL_EXEC_MAX 1024

/* Marks ustack descriptors close-on-exec; remembers which it changed. */
static unsigned before_exec(int *changed, unsigned cap)
{
    unsigned n = 0;
    int high = pl_fd_high();
    for (int fd = 0; fd <= high; fd++) {
        enum pl_kind k = pl_kind(fd);
        if (k != PL_FD_USTACK && k != PL_FD_EPOLL && k != PL_FD_ALIAS)
            continue;
        int fl = ust_real_fcntl(fd, F_GETFD);
        if (fl < 0 || (fl & FD_CLOEXEC))
            continue;
        if (ust_real_fcntl(fd, F_SETFD, fl | FD_CLOEXEC) == 0) {
            pl_log(UST_LOG_INFO, "exec: ustack descriptor %d closed in the new image (its state "
                   "cannot cross exec)", fd);
            if (n < cap)
                changed[n++] = fd;
        }
    }
    return n;
}

/* Gives the flag back to the descriptors before_exec changed. */
static void after_failed_exec(const int *changed, unsigned n)
{
    int e = errno;
    for (unsigned i = 0; i < n; i++) {
        int fl = ust_real_fcntl(changed[i], F_GETFD);
        if (fl >= 0)
            ust_real_fcntl(changed[i], F_SETFD, fl & ~FD_CLOEXEC);
    }
    errno = e;
}

int execve(const char *path, char *const argv[], char *const envp[])
{
    int changed[PL_EXEC_MAX];
    /* Also in a forked child: the descriptors are its copies, and setting the flag touches no
     * stack state. */
    unsigned n = before_exec(changed, PL_EXEC_MAX);
    int rc = ust_real_execve(path, argv, envp);
    after_failed_exec(changed, n);
    return rc;
}

/* posix_spawn: glibc's child runs while the parent waits (CLONE_VFORK) and execs without the
 * PLT, so the flags are set here in the parent around the whole call. */
int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                const posix_spawnattr_t *at, char *const argv[], char *const envp[])
{
    int changed[PL_EXEC_MAX];
    unsigned n = before_exec(changed, PL_EXEC_MAX);
    int rc = ust_real_posix_spawn(pid, path, fa, at, argv, envp);
    after_failed_exec(changed, n);
    return rc;
}

int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                 const posix_spawnattr_t *at, char *const argv[], char *const envp[])
{
    int changed[PL_EXEC_MAX];
    unsigned n = before_exec(changed, PL_EXEC_MAX);
    int rc = ust_real_posix_spawnp(pid, file, fa, at, argv, envp);
    after_failed_exec(changed, n);
    return rc;
}

extern char **environ;

int execv(const char *path, char *const argv[])
{
    return execve(path, argv, environ);
}

/* execvp's search of PATH (POSIX): names with a slash are used as they are. */
int execvpe(const char *file, char *const argv[], char *const envp[])
{
    if (!*file) {
        errno = ENOENT;
        return -1;
    }
    if (strchr(file, '/'))
        return execve(file, argv, envp);
    const char *path = getenv("PATH");
    if (!path)
        path = "/bin:/usr/bin";
    size_t flen = strlen(file);
    int err = ENOENT;
    for (const char *p = path;; p++) {
        const char *end = strchr(p, ':');
        size_t dlen = end ? (size_t)(end - p) : strlen(p);
        char buf[4096];
        if (dlen + flen + 2 <= sizeof(buf)) {
            memcpy(buf, dlen ? p : ".", dlen ? dlen : 1);
            size_t o = dlen ? dlen : 1;
            buf[o++] = '/';
            memcpy(buf + o, file, flen + 1);
            execve(buf, argv, envp);
            if (errno == EACCES)
                err = EACCES;   /* remembered, as execvp does, if nothing else is found */
            else if (errno != ENOENT && errno != ENOTDIR)
                return -1;
        }
        if (!end)
            break;
        p = end;
    }
    errno = err;
    return -1;
}

int execvp(const char *file, char *const argv[])
{
    return execvpe(file, argv, environ);
}

#define PL_EXECL_MAX 1024

/* Collects execl's arguments into an array. */
#define COLLECT_ARGS(first, ap, argv, n)                                                       \
    do {                                                                                       \
        argv[0] = (char *)(first);                                                             \
        n = 1;                                                                                 \
        while (argv[n - 1] && n < PL_EXECL_MAX)                                                \
            argv[n++] = va_arg(ap, char *);                                                    \
        if (argv[n - 1]) {                                                                     \
            va_end(ap);                                                                        \
            errno = E2BIG;                                                                     \
            return -1;                                                                         \
        }                                                                                      \
    } while (0)

int execl(const char *path, const char *arg, ...)
{
    char *argv[PL_EXECL_MAX];
    unsigned n;
    va_list ap;
    va_start(ap, arg);
    COLLECT_ARGS(arg, ap, argv, n);
    va_end(ap);
    return execve(path, argv, environ);
}

int execlp(const char *file, const char *arg, ...)
{
    char *argv[PL_EXECL_MAX];
    unsigned n;
    va_list ap;
    va_start(ap, arg);
    COLLECT_ARGS(arg, ap, argv, n);
    va_end(ap);
    return execvpe(file, argv, environ);
}

int execle(const char *path, const char *arg, ...)
{
    char *argv[PL_EXECL_MAX];
    unsigned n;
    va_list ap;
    va_start(ap, arg);
    COLLECT_ARGS(arg, ap, argv, n);
    char **envp = va_arg(ap, char **);
    va_end(ap);
    return execve(path, argv, envp);
}

/* ---- sendfile, splice ---- */

#define COPY_BUF (64 * 1024)

/* Reads up to n bytes from in (at *off if off, advancing it) and sends them on the ustack
 * socket out. Returns bytes sent, or -1 and errno (a partial send returns what went). */
static ssize_t copy_to_ustack(int out, int in, off_t *off, size_t n)
{
    pl_restart_begin();
    char *buf = malloc(COPY_BUF);
    if (!buf) {
        errno = ENOMEM;
        return -1;
    }
    size_t done = 0;
    while (done < n) {
        size_t want = n - done < COPY_BUF ? n - done : COPY_BUF;
        ssize_t r = off ? pread(in, buf, want, *off) : ust_real_read(in, buf, want);
        if (r <= 0) {
            if (r < 0 && !done) {
                free(buf);
                return -1;
            }
            break;
        }
        ssize_t w = ust_send(pl_ufd(out), buf, (size_t)r, 0);
        if (w < 0) {
            int e = errno;
            if (!off && !done) {
                /* Nothing sent and the bytes were taken from a stream: cannot put them back. */
                pl_log(UST_LOG_WARN, "sendfile/splice: %zd bytes read from fd %d were lost: %s",
                       r, in, strerror(e));
            }
            free(buf);
            errno = e;
            return done ? (ssize_t)done : -1;
        }
        if (off)
            *off += w;
        done += (size_t)w;
        if (w < r) {
            if (!off)
                pl_log(UST_LOG_WARN, "sendfile/splice: %zd bytes read from fd %d were lost",
                       r - w, in);
            break;
        }
    }
    free(buf);
    return (ssize_t)done;
}

ssize_t sendfile(int out, int in, off_t *off, size_t n)
{
    if (!pl_is_ustack(out))
        return ust_real_sendfile(out, in, off, n);
    if (pl_forked)
        return pl_child_refuse(out, "sendfile");
    if (off)
        return copy_to_ustack(out, in, off, n);
    /* Without an offset, sendfile reads from (and advances) the file's position. */
    off_t pos = lseek(in, 0, SEEK_CUR);
    if (pos < 0)
        return copy_to_ustack(out, in, NULL, n);
    ssize_t rc = copy_to_ustack(out, in, &pos, n);
    lseek(in, pos, SEEK_SET);
    return rc;
}

ssize_t sendfile64(int out, int in, off_t *off, size_t n);
ssize_t sendfile64(int out, int in, off_t *off, size_t n)
{
    return sendfile(out, in, off, n);
}

ssize_t splice(int in, loff_t *oi, int out, loff_t *oo, size_t n, unsigned int f)
{
    bool in_us = pl_is_ustack(in), out_us = pl_is_ustack(out);
    if (!in_us && !out_us)
        return ust_real_splice(in, oi, out, oo, n, f);
    if (pl_forked)
        return pl_child_refuse(in_us ? in : out, "splice");
    if (in_us || oo) {
        /* From a ustack socket, the kernel has nothing to splice from. */
        pl_log(UST_LOG_WARN, "splice from a ustack socket is not supported: EINVAL");
        errno = EINVAL;
        return -1;
    }
    return copy_to_ustack(out, in, (off_t *)oi, n);
}
