/*
 * ust_real_*: the next definitions of the interposed functions (see real.h).
 */
#include "real.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <fcntl.h>

static void *pl_next(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p) {
        /* Nothing sensible can continue: the program's own call has nowhere to go. */
        static const char msg[] = "ustack preload: cannot find the next definition of a libc "
                                  "function\n";
        ssize_t rc = ust_real_write(2, msg, sizeof(msg) - 1);
        (void)rc;
        abort();
    }
    return p;
}

#define PL_REAL_DEF_(ret, name, params, args)                                                   \
    static ret(*next_##name) params;                                                             \
    ret ust_real_##name params                                                                   \
    {                                                                                            \
        ret(*fn) params = __atomic_load_n(&next_##name, __ATOMIC_RELAXED);                       \
        if (!fn) {                                                                               \
            fn = (ret(*) params)pl_next(#name);                                                  \
            __atomic_store_n(&next_##name, fn, __ATOMIC_RELAXED);                                \
        }                                                                                        \
        return fn args;                                                                          \
    }
PL_REAL_FUNCS(PL_REAL_DEF_)
#undef PL_REAL_DEF_

typedef int (*fcntl_fn)(int, int, ...);
typedef int (*ioctl_fn)(int, unsigned long, ...);
static fcntl_fn next_fcntl, next_fcntl64;
static ioctl_fn next_ioctl;

/* fcntl's third argument is an int, a long or a pointer depending on the command; passing it on
 * as a long (the widest) is what glibc's own wrappers do. */
int ust_real_fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    long arg = va_arg(ap, long);
    va_end(ap);
    fcntl_fn fn = __atomic_load_n(&next_fcntl, __ATOMIC_RELAXED);
    if (!fn) {
        fn = (fcntl_fn)pl_next("fcntl");
        __atomic_store_n(&next_fcntl, fn, __ATOMIC_RELAXED);
    }
    return fn(fd, cmd, arg);
}

int ust_real_fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    long arg = va_arg(ap, long);
    va_end(ap);
    fcntl_fn fn = __atomic_load_n(&next_fcntl64, __ATOMIC_RELAXED);
    if (!fn) {
        fn = (fcntl_fn)pl_next("fcntl64");
        __atomic_store_n(&next_fcntl64, fn, __ATOMIC_RELAXED);
    }
    return fn(fd, cmd, arg);
}

int ust_real_ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    ioctl_fn fn = __atomic_load_n(&next_ioctl, __ATOMIC_RELAXED);
    if (!fn) {
        fn = (ioctl_fn)pl_next("ioctl");
        __atomic_store_n(&next_ioctl, fn, __ATOMIC_RELAXED);
    }
    return fn(fd, req, arg);
}

void pl_real_init(void)
{
    int e = errno;
    ust_real_fcntl(-1, F_GETFD);
    ust_real_fcntl64(-1, F_GETFD);
    ust_real_ioctl(-1, 0, NULL);
    errno = e;
}
