/*
 * SA_RESTART for ustack's blocking calls.
 *
 * A ustack call that sleeps (recv on an empty socket, accept, a send waiting for buffer space)
 * sleeps in poll(2) inside the process; a signal handler interrupts that sleep and the call
 * returns EINTR. Linux instead restarts accept, connect, recv*, send*, read, write, readv and
 * writev when every handler that ran was installed with SA_RESTART, unless the socket has a
 * timeout (SO_RCVTIMEO / SO_SNDTIMEO), and never restarts poll, select or epoll_wait
 * (signal(7), "Interruption of system calls and library functions by signal handlers").
 *
 * To know which handlers ran, sigaction and signal are interposed: the program's handler is
 * recorded and a trampoline installed in its place, which notes in a thread-local counter
 * whether the handler asked for SA_RESTART, then calls it. sigaction's old action reports the
 * program's handler, never the trampoline. pl_restart_begin/pl_restart_after bracket a blocking
 * call: after an EINTR, the call is retried if only SA_RESTART handlers ran.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "pl.h"
#include "sock/sock.h"

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);

struct pl_handler {
    struct sigaction user;       /* what the program installed */
    bool wrapped;                /* the kernel holds our trampoline for it */
};

static struct pl_handler handlers[_NSIG];
static pthread_mutex_t sig_mtx = PTHREAD_MUTEX_INITIALIZER;
/* Initial-exec: the shim is loaded with the program (LD_PRELOAD), so its thread-locals can live
 * in the static TLS block and be reached without a __tls_get_addr call, on every interposed
 * call and in the trampoline (a signal handler, where that call is best avoided). */
#define PL_TLS __thread __attribute__((tls_model("initial-exec")))
static PL_TLS unsigned sig_ran;          /* handlers run since pl_restart_begin */
static PL_TLS unsigned sig_norestart;    /* of which without SA_RESTART */

static sigaction_fn next_sigaction(void)
{
    static sigaction_fn fn;
    sigaction_fn f = __atomic_load_n(&fn, __ATOMIC_RELAXED);
    if (!f) {
        f = (sigaction_fn)dlsym(RTLD_NEXT, "sigaction");
        __atomic_store_n(&fn, f, __ATOMIC_RELAXED);
    }
    return f;
}

static void trampoline(int sig, siginfo_t *info, void *uctx)
{
    int e = errno;
    struct sigaction *u = &handlers[sig].user;
    sig_ran++;
    if (!(u->sa_flags & SA_RESTART))
        sig_norestart++;
    if (u->sa_flags & SA_RESETHAND)
        handlers[sig].wrapped = false;   /* the kernel put SIG_DFL back */
    errno = e;
    if (u->sa_flags & SA_SIGINFO)
        u->sa_sigaction(sig, info, uctx);
    else if (u->sa_handler != SIG_IGN && u->sa_handler != SIG_DFL)
        u->sa_handler(sig);
}

static bool is_handler(const struct sigaction *a)
{
    if (a->sa_flags & SA_SIGINFO)
        return a->sa_sigaction != NULL;
    return a->sa_handler != SIG_DFL && a->sa_handler != SIG_IGN;
}

int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    sigaction_fn real = next_sigaction();
    if (sig <= 0 || sig >= _NSIG)
        return real(sig, act, old);
    pthread_mutex_lock(&sig_mtx);
    struct sigaction prev_user = handlers[sig].user;
    bool prev_wrapped = handlers[sig].wrapped;
    int rc;
    if (act && is_handler(act)) {
        struct sigaction ours = *act;
        ours.sa_flags |= SA_SIGINFO;
        ours.sa_sigaction = trampoline;
        /* The handler must be recorded before the kernel can deliver to the trampoline. */
        handlers[sig].user = *act;
        rc = real(sig, &ours, old);
        if (rc == 0)
            handlers[sig].wrapped = true;
        else
            handlers[sig].user = prev_user;
    } else {
        rc = real(sig, act, old);
        if (rc == 0 && act)
            handlers[sig].wrapped = false;
    }
    if (rc == 0 && old && prev_wrapped) {
        /* Report the program's handler, with the mask and flags the kernel had. */
        old->sa_flags = prev_user.sa_flags;
        if (prev_user.sa_flags & SA_SIGINFO)
            old->sa_sigaction = prev_user.sa_sigaction;
        else
            old->sa_handler = prev_user.sa_handler;
    }
    pthread_mutex_unlock(&sig_mtx);
    return rc;
}

/* glibc's signal() has BSD semantics: SA_RESTART, the signal blocked while its handler runs,
 * and the handler stays installed. */
sighandler_t signal(int sig, sighandler_t h)
{
    struct sigaction a, old;
    memset(&a, 0, sizeof(a));
    a.sa_handler = h;
    a.sa_flags = SA_RESTART;
    sigemptyset(&a.sa_mask);
    if (sig > 0 && sig < _NSIG)
        sigaddset(&a.sa_mask, sig);
    if (sigaction(sig, &a, &old) < 0)
        return SIG_ERR;
    return old.sa_handler;
}

sighandler_t bsd_signal(int sig, sighandler_t h);
sighandler_t bsd_signal(int sig, sighandler_t h)
{
    return signal(sig, h);
}

/* sock_interrupted's answer (src/sock/sock.h). */
static bool interrupted(void)
{
    return sig_ran != 0;
}

void pl_signals_init(void)
{
    sock_interrupted = interrupted;
}

void pl_restart_begin(void)
{
    sig_ran = 0;
    sig_norestart = 0;
}

bool pl_restart_after(long rc, int fd, int timeo_opt)
{
    if (rc >= 0 || errno != EINTR || !sig_ran || sig_norestart)
        return false;
    /* Not with a timeout on the socket (signal(7)). */
    struct timeval tv = { 0, 0 };
    socklen_t len = sizeof(tv);
    bool timeout = timeo_opt && ust_getsockopt(fd, SOL_SOCKET, timeo_opt, &tv, &len) == 0 &&
                   (tv.tv_sec || tv.tv_usec);
    errno = EINTR;   /* the look at the option ran the stack, which may have set errno */
    if (timeout)
        return false;
    sig_ran = 0;
    return true;
}
