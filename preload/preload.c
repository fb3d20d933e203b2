/*
 * libustack-preload.so: the process's stack, the pending -> ustack switch, fork and exit.
 *
 * One stack per process, created from the UST_* environment (what `ustack run` sets) when the
 * program makes its first AF_INET socket. Without UST_LINK, or if the stack cannot be created,
 * every socket stays the kernel's and the log says why once.
 *
 * Entry points here: pl_stack(), pl_settle() (a pending socket decided), pl_adopt(),
 * pl_child_refuse(); the constructor (tables, fork handlers) and destructor (at exit, close every
 * ustack socket and let the stack finish sending, bounded by UST_EXIT_LINGER_MS: the kernel would
 * keep sending a closed socket's data after the process exits; ustack's state dies with it).
 */
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/stack.h"
#include "pl.h"
#include "sock/sock.h"
#include "tcp/tcp.h"

struct pl_policy pl_policy;
volatile bool pl_forked;

static pthread_mutex_t stack_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct ust_stack *the_stack;
static int stack_state;          /* 0: not tried, 1: ready, -1: none */

static void fill_policy(struct ust_stack *s)
{
    pthread_mutex_lock(&s->lock);
    pl_policy.n_nets = 0;
    for (unsigned i = 0; i < s->n_ifaces && i < PL_MAX_NETS; i++)
        pl_policy.nets[pl_policy.n_nets++] =
            (struct pl_net){ .addr = s->ifaces[i].addr, .mask = s->ifaces[i].netmask };
    pl_policy.gateway = s->gateway;
    pthread_mutex_unlock(&s->lock);
}

static bool env_bool(const char *name, bool def)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    return !(strcmp(v, "0") == 0 || strcasecmp(v, "no") == 0 || strcasecmp(v, "off") == 0 ||
             strcasecmp(v, "false") == 0);
}

static struct ust_stack *create_stack(void)
{
    struct ust_config cfg;
    char err[160] = "";
    ust_config_defaults(&cfg);
    if (ust_config_from_env(&cfg, err, sizeof(err)) != 0) {
        pl_log(UST_LOG_ERROR, "%s: every socket goes to the kernel", err);
        return NULL;
    }
    if (pl_parse_bind_any(getenv("UST_BIND_ANY"), &pl_policy.bind_any_kernel) != 0)
        pl_log(UST_LOG_WARN, "UST_BIND_ANY=%s is not ustack or kernel: ustack",
               getenv("UST_BIND_ANY"));
    if (!cfg.link[0]) {
        pl_log(UST_LOG_INFO, "UST_LINK is not set: every socket goes to the kernel");
        return NULL;
    }
    if (cfg.private_fds) {
        /* The program hands its descriptors to the kernel too: they must be real ones. */
        pl_log(UST_LOG_WARN, "UST_PRIVATE_FDS is ignored under ustack run: sockets get kernel "
               "descriptor numbers");
        cfg.private_fds = 0;
    }
    struct ust_stack *s = ust_stack_create(&cfg);
    if (!s) {
        pl_log(UST_LOG_ERROR, "cannot create the stack on %s (%s): every socket goes to the "
               "kernel", cfg.link, strerror(errno));
        return NULL;
    }
    fill_policy(s);
    pl_log(UST_LOG_INFO, "stack up on %s, %s%s%s", cfg.link, cfg.addr,
           cfg.gw[0] ? " via " : "", cfg.gw);
    if (env_bool("UST_BOTTOM_HALF", true))
        pl_bh_start(s);
    return s;
}

struct ust_stack *pl_stack(void)
{
    if (pl_forked)
        return NULL;
    int st = __atomic_load_n(&stack_state, __ATOMIC_ACQUIRE);
    if (st)
        return st > 0 ? the_stack : NULL;
    pthread_mutex_lock(&stack_mtx);
    if (!stack_state) {
        the_stack = create_stack();
        __atomic_store_n(&stack_state, the_stack ? 1 : -1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&stack_mtx);
    return the_stack;
}

int pl_child_refuse(int fd, const char *call)
{
    pl_log(UST_LOG_WARN, "%s(%d): a ustack socket inherited through fork cannot be used in the "
           "child (its stack lives in the parent): ENOTSUP", call, fd);
    errno = ENOTSUP;
    return -1;
}

void pl_adopt(int fd)
{
    pl_fd_lock();
    pl_set_kind(fd, PL_FD_USTACK);
    pl_fd_unlock();
}

/* Builds the ustack socket for a pending descriptor and puts it under the same number. Fd lock
 * held. Returns 0 or a negative errno. */
static int make_ustack(int fd, struct pl_pending *p, struct ust_stack *s)
{
    int fl = ust_real_fcntl(fd, F_GETFL);
    int fdfl = ust_real_fcntl(fd, F_GETFD);
    if (fl < 0 || fdfl < 0)
        return -errno;
    int type = p->type | ((fl & O_NONBLOCK) ? SOCK_NONBLOCK : 0);
    int ufd = ust_stack_socket(s, AF_INET, type, p->protocol);
    if (ufd < 0)
        return -errno;
    for (unsigned i = 0; i < p->n_opts; i++) {
        struct pl_opt *o = &p->opts[i];
        if (ust_setsockopt(ufd, o->level, o->name, o->val, o->len) < 0)
            pl_log(UST_LOG_DEBUG, "fd %d: option %d/%d not taken by ustack (%s), ignored", fd,
                   o->level, o->name, strerror(errno));
    }
    if (p->bound_any) {
        struct sockaddr_in any = { .sin_family = AF_INET };
        if (ust_bind(ufd, (struct sockaddr *)&any, sizeof(any)) < 0) {
            int err = -errno;
            ust_close(ufd);
            return err;
        }
    }
    int err = sock_renumber(ufd, fd, fdfl & FD_CLOEXEC);
    if (err) {
        ust_close(ufd);
        return err;
    }
    /* The kernel socket is gone, and with it its epoll registrations: register the ustack
     * socket where the program had put it. */
    for (unsigned i = 0; i < p->n_ep; i++) {
        struct epoll_event ev = p->ep[i].ev;
        if (ust_epoll_ctl(p->ep[i].epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
            pl_log(UST_LOG_WARN, "fd %d: cannot add to epoll %d after the switch to ustack: %s",
                   fd, p->ep[i].epfd, strerror(errno));
    }
    return 0;
}

enum pl_kind pl_settle(int fd, enum pl_verdict v, const char *call, const char *why)
{
    if (v == PL_UNDECIDED)
        return PL_FD_PENDING;
    pl_fd_lock();
    struct pl_pending *p = pl_pending(fd);
    if (!p) {   /* another thread decided it meanwhile */
        enum pl_kind k = pl_kind(fd);
        pl_fd_unlock();
        return k;
    }
    struct ust_stack *s = pl_stack();
    if (v == PL_USTACK && !s) {
        v = PL_KERNEL;
        why = "no stack in this process";
    }
    if (v == PL_USTACK) {
        int err = make_ustack(fd, p, s);
        if (err) {
            pl_log(UST_LOG_WARN, "fd %d %s: kernel (cannot make a ustack socket: %s)", fd, call,
                   strerror(-err));
            v = PL_KERNEL;
        }
    }
    enum pl_kind k = v == PL_USTACK ? PL_FD_USTACK : PL_FD_KERNEL;
    pl_set_kind(fd, k);
    pl_fd_unlock();
    pl_log(UST_LOG_DEBUG, "fd %d %s: %s (%s)", fd, call, k == PL_FD_USTACK ? "ustack" : "kernel",
           why);
    return k;
}

/* ---- fork ---- */

/* The shim's own locks are held across fork, so the child's copies are consistent and free.
 * Order as everywhere: the descriptor lock, then the stack-creation lock. */
static void atfork_prepare(void)
{
    pl_fd_lock();
    pthread_mutex_lock(&stack_mtx);
}

static void atfork_parent(void)
{
    pthread_mutex_unlock(&stack_mtx);
    pl_fd_unlock();
}

static void atfork_child(void)
{
    pl_forked = true;
    pthread_mutex_unlock(&stack_mtx);
    pl_fd_unlock();
}

/* ---- Load and exit ---- */

__attribute__((constructor)) static void pl_init(void)
{
    pl_real_init();
    pl_signals_init();
    if (pl_fdtab_init() != 0)
        pl_log(UST_LOG_ERROR, "cannot map the descriptor table: every socket goes to the kernel");
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* As the kernel does at exit: close what is open (a FIN, or RST for unread data), then keep the
 * stack going until its connections are done or UST_EXIT_LINGER_MS (default 2000) passes. */
__attribute__((destructor)) static void pl_fini(void)
{
    if (pl_forked || __atomic_load_n(&stack_state, __ATOMIC_ACQUIRE) <= 0)
        return;
    struct ust_stack *s = the_stack;
    int high = pl_fd_high();
    for (int fd = 0; fd <= high; fd++) {
        if (pl_kind(fd) == PL_FD_USTACK) {
            pl_set_kind(fd, PL_FD_KERNEL);
            ust_close(fd);
        }
    }
    const char *v = getenv("UST_EXIT_LINGER_MS");
    uint64_t linger = v && *v ? strtoull(v, NULL, 10) : 2000;
    uint64_t until = mono_ms() + linger;
    for (;;) {
        uint64_t next = UINT64_MAX;
        ust_stack_poll(s, &next);
        pthread_mutex_lock(&s->lock);
        uint32_t conns = tcp_connection_count(s);
        pthread_mutex_unlock(&s->lock);
        uint64_t now = mono_ms();
        if (!conns || now >= until)
            break;
        struct pollfd pfd[STACK_MAX_IFACES];
        nfds_t n = 0;
        for (unsigned i = 0; i < s->n_ifaces; i++) {
            int lfd = link_wait_fd(s->ifaces[i].link);
            if (lfd >= 0)
                pfd[n++] = (struct pollfd){ .fd = lfd, .events = POLLIN };
        }
        ust_real_poll(pfd, n, 10);
    }
}
