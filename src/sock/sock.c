/*
 * Socket objects, the process-wide descriptor table, blocking, and socket options (see sock.h).
 */
#include "sock/sock.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/log.h"
#include "net/stack.h"
#include "sock/stream.h"
#include "tcp/tcp.h"

static void sock_release_fd(struct sock *so);

/* ---- The descriptor table ---- */

#define PRIVATE_MAX (1u << 22)   /* private numbers, at most */
#define FDTAB_MAX ((size_t)SOCK_PRIVATE_BASE + PRIVATE_MAX)

static pthread_once_t fdtab_once = PTHREAD_ONCE_INIT;
static struct sock **fdtab;
static size_t fdtab_size;

static void fdtab_init(void)
{
    /* The kernel's own ceiling (fs.nr_open defaults to 2^20); the limit may be raised later,
     * so the table does not follow RLIMIT_NOFILE. Then the private numbers. Reserved address
     * space: pages appear only where descriptors are used. */
    size_t n = FDTAB_MAX;
    void *mem = mmap(NULL, n * sizeof(*fdtab), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED)
        return;
    fdtab = mem;
    fdtab_size = n;
}

static bool fdtab_ready(void)
{
    if (__atomic_load_n(&fdtab, __ATOMIC_ACQUIRE))
        return true;
    pthread_once(&fdtab_once, fdtab_init);
    return fdtab != NULL;
}

/* The table's lock, taken to read by every call on a socket and to write by socket creation,
 * close and renumbering. One word: readers count in the low bits, a writer holds the top bit.
 * pthread_rwlock's general machinery cost about 90 instructions per read; this costs two
 * atomic additions. It prefers readers, as glibc's default rwlock does: a reader waits only
 * while a writer holds the lock, never for one that is waiting, so a signal handler that
 * calls into a socket while its thread holds the read lock cannot deadlock. Holders never
 * block or sleep (a handful of instructions), so waiting is a yielding spin. */
#define FDTAB_WRITER 0x80000000u
static uint32_t fdtab_word;

static void fdtab_read_lock(void)
{
    while (__atomic_fetch_add(&fdtab_word, 1, __ATOMIC_ACQUIRE) & FDTAB_WRITER) {
        __atomic_fetch_sub(&fdtab_word, 1, __ATOMIC_RELAXED);
        while (__atomic_load_n(&fdtab_word, __ATOMIC_RELAXED) & FDTAB_WRITER)
            sched_yield();
    }
}

static void fdtab_read_unlock(void)
{
    __atomic_fetch_sub(&fdtab_word, 1, __ATOMIC_RELEASE);
}

static void fdtab_write_lock(void)
{
    uint32_t idle = 0;
    while (!__atomic_compare_exchange_n(&fdtab_word, &idle, FDTAB_WRITER, false,
                                        __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
        idle = 0;
        sched_yield();
    }
}

static void fdtab_write_unlock(void)
{
    __atomic_fetch_and(&fdtab_word, ~FDTAB_WRITER, __ATOMIC_RELEASE);
}

struct sock *sock_get(int fd)
{
    if (fd < 0 || !fdtab_ready() || (size_t)fd >= fdtab_size)
        return NULL;
    fdtab_read_lock();
    struct sock *so = fdtab[fd];
    if (so)
        __atomic_add_fetch(&so->refs, 1, __ATOMIC_RELAXED);
    fdtab_read_unlock();
    return so;
}

void sock_put(struct sock *so)
{
    /* The caller's operation may have taken readiness away (data read, buffer filled): epoll
     * notes it now, or it could not tell a later notification's events are new. */
    if (__atomic_load_n(&so->ep_items, __ATOMIC_ACQUIRE))
        epoll_sock_settle(so);
    if (__atomic_sub_fetch(&so->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    /* Last reference: the descriptor number can be given back now. */
    sock_release_fd(so);
    free(so);
}

bool sock_fd_is_ours(int fd)
{
    if (fd < 0 || !fdtab_ready() || (size_t)fd >= fdtab_size)
        return false;
    fdtab_read_lock();
    bool ours = fdtab[fd] != NULL;
    fdtab_read_unlock();
    return ours;
}

/* ---- Life cycle ---- */

/* ---- Descriptors and wake-up lines ---- */

static pthread_once_t placeholder_once = PTHREAD_ONCE_INIT;
static int placeholder_fd = -1;
static int placeholder_err;

static void placeholder_init(void)
{
    /* Close-on-exec: duplicates carry their own flag, so it says nothing about the sockets'. */
    placeholder_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    placeholder_err = placeholder_fd < 0 ? -errno : 0;
}

int sock_placeholder(void)
{
    pthread_once(&placeholder_once, placeholder_init);
    return placeholder_fd >= 0 ? placeholder_fd : placeholder_err;
}

static __thread int thread_line = -1;
static pthread_once_t line_once = PTHREAD_ONCE_INIT;
static pthread_key_t line_key;

static void line_thread_exit(void *v)
{
    close((int)(intptr_t)v - 1);
}

/* The child of fork shares its parent's eventfds: its own sleeps must not drain the parent's
 * wake-ups (nor the parent's wake the child), so it forgets the line and makes its own. */
static void line_after_fork_child(void)
{
    if (thread_line >= 0)
        close(thread_line);
    thread_line = -1;
    pthread_setspecific(line_key, NULL);
}

static void line_init(void)
{
    pthread_key_create(&line_key, line_thread_exit);
    pthread_atfork(NULL, NULL, line_after_fork_child);
}

int sock_thread_line(void)
{
    if (thread_line >= 0)
        return thread_line;
    pthread_once(&line_once, line_init);
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    thread_line = fd;
    pthread_setspecific(line_key, (void *)(intptr_t)(fd + 1));   /* closed at thread exit */
    return fd;
}

void sock_waiter_add(struct sock *so, struct sock_waiter *w)
{
    w->next = so->waiters;
    so->waiters = w;
}

void sock_waiter_del(struct sock *so, struct sock_waiter *w)
{
    struct sock_waiter **pp = &so->waiters;
    while (*pp && *pp != w)
        pp = &(*pp)->next;
    if (*pp)
        *pp = w->next;
}

/* ---- Private numbers (sock.h) ---- */

/* Numbers given back, reused last in first out; `next` is the lowest never given out. */
static struct {
    pthread_mutex_t lock;
    uint32_t next;
    uint32_t n_free, cap;
    uint32_t *free;
} privnums = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int private_fd_get(void)
{
    int fd = -EMFILE;
    pthread_mutex_lock(&privnums.lock);
    if (privnums.n_free)
        fd = (int)privnums.free[--privnums.n_free];
    else if (privnums.next < PRIVATE_MAX)
        fd = SOCK_PRIVATE_BASE + (int)privnums.next++;
    pthread_mutex_unlock(&privnums.lock);
    return fd;
}

/* Gives a private number back. The list only grows to the numbers ever given out, so a failed
 * allocation here loses the number, never memory or correctness. */
static void private_fd_put(int fd)
{
    pthread_mutex_lock(&privnums.lock);
    if (privnums.n_free == privnums.cap) {
        uint32_t cap = privnums.cap ? privnums.cap * 2 : 256;
        uint32_t *f = realloc(privnums.free, cap * sizeof(*f));
        if (f) {
            privnums.free = f;
            privnums.cap = cap;
        }
    }
    if (privnums.n_free < privnums.cap)
        privnums.free[privnums.n_free++] = (uint32_t)fd;
    pthread_mutex_unlock(&privnums.lock);
}

/* Gives the socket's number back: to the kernel, or to the private space. */
static void sock_release_fd(struct sock *so)
{
    if (sock_fd_private(so->fd))
        private_fd_put(so->fd);
    else
        close(so->fd);
}

/* The socket's number: a duplicate of the placeholder (the lowest free number, as socket(2)
 * would give), or a private one when the stack asks for them. */
static int sock_new_fd(const struct ust_stack *s, bool cloexec)
{
    if (s->cfg.private_fds)
        return private_fd_get();
    int ph = sock_placeholder();
    if (ph < 0)
        return ph;
    int fd = fcntl(ph, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, 0);
    if (fd < 0)
        return -errno;
    if ((size_t)fd >= SOCK_PRIVATE_BASE) {
        close(fd);
        return -EMFILE;
    }
    return fd;
}

/* A socket object with its descriptor, not yet attached to anything. */
static int sock_new(struct ust_stack *s, int type, int protocol, bool nonblock, bool cloexec,
                    struct sock **out)
{
    if (!fdtab_ready())
        return -ENOMEM;
    struct sock *so = calloc(1, type == SOCK_STREAM ? SOCK_STREAM_SIZE : sizeof(*so));
    if (!so)
        return -ENOBUFS;
    int fd = sock_new_fd(s, cloexec);
    if (fd < 0) {
        free(so);
        return fd;
    }
    so->fd = fd;
    so->cloexec = cloexec;
    so->type = (uint8_t)type;
    so->protocol = (uint8_t)protocol;
    so->nonblock = nonblock;
    so->refs = 1;
    so->stack = s;
    *out = so;
    return 0;
}

static void sock_discard(struct sock *so)
{
    sock_release_fd(so);
    free(so);
}

/* Links the socket into its stack's list. Stack lock held. */
static int sock_attach(struct sock *so)
{
    struct ust_stack *s = so->stack;
    if (s->n_socks >= s->cfg.max_sockets) {
        s->ctrs.sock_emfile++;
        return -EMFILE;
    }
    so->stack_next = s->socks;
    if (s->socks)
        s->socks->stack_pprev = &so->stack_next;
    s->socks = so;
    so->stack_pprev = &s->socks;
    s->n_socks++;
    return 0;
}

/* Makes the descriptor visible. The table lock is a leaf: nothing else is taken under it, so
 * this may run with or without a stack lock held. */
static void sock_publish(struct sock *so)
{
    fdtab_write_lock();
    fdtab[so->fd] = so;
    fdtab_write_unlock();
}

int sock_create(struct ust_stack *s, int type, int protocol, bool nonblock, bool cloexec)
{
    struct sock *so;
    int err = sock_new(s, type, protocol, nonblock, cloexec, &so);
    if (err)
        return err;
    stack_enter(s);
    err = sock_attach(so);
    if (!err) {
        if (type == SOCK_STREAM) {
            so->tcp = tcp_create(s, sock_notify, so);
            if (!so->tcp)
                err = -ENOBUFS;
        } else {
            udp_pcb_init(s, &so->udp, (uint8_t)protocol, sock_notify, so);
        }
        if (err) {
            *so->stack_pprev = so->stack_next;
            if (so->stack_next)
                so->stack_next->stack_pprev = so->stack_pprev;
            s->n_socks--;
        }
    }
    stack_leave(s);
    if (err) {
        sock_discard(so);
        return err;
    }
    sock_publish(so);
    return so->fd;
}

int sock_reserve(struct ust_stack *s, bool nonblock, bool cloexec, struct sock **out)
{
    struct sock *so;
    int err = sock_new(s, SOCK_STREAM, IPPROTO_TCP, nonblock, cloexec, &so);
    if (err)
        return err;
    if ((err = sock_attach(so)) != 0) {
        sock_discard(so);
        return err;
    }
    *out = so;
    return 0;
}

void sock_unreserve(struct sock *so)
{
    *so->stack_pprev = so->stack_next;
    if (so->stack_next)
        so->stack_next->stack_pprev = so->stack_pprev;
    so->stack->n_socks--;
    sock_discard(so);
}

void sock_adopt(struct sock *so, struct tcb *tp)
{
    so->tcp = tp;
    tcp_set_owner(tp, sock_notify, so);
    sock_publish(so);
}

/* Detaches the socket from its protocol and stack. Stack lock held. */
static void sock_detach(struct sock *so)
{
    struct ust_stack *s = so->stack;
    if (so->ep_items)
        epoll_sock_closed(so);   /* as Linux, before the protocol's close (and any linger) */
    if (so->type == SOCK_STREAM) {
        if (so->tcp)
            stream_close(so);   /* may wait (SO_LINGER) before `closing` is set */
    } else {
        udp_close(&so->udp);
    }
    so->closing = true;
    *so->stack_pprev = so->stack_next;
    if (so->stack_next)
        so->stack_next->stack_pprev = so->stack_pprev;
    s->n_socks--;
    sock_notify(so);   /* blocked callers wake up and see `closing` */
}

static struct sock *fdtab_remove(int fd)
{
    fdtab_write_lock();
    struct sock *so = fdtab[fd];
    fdtab[fd] = NULL;
    fdtab_write_unlock();
    return so;
}

int sock_renumber(int from, int to, bool cloexec)
{
    if (from < 0 || to < 0 || !fdtab_ready() || (size_t)from >= fdtab_size ||
        (size_t)to >= fdtab_size || from == to)
        return -EBADF;
    struct sock *so = sock_get(from);
    if (!so)
        return -EBADF;
    struct ust_stack *s = so->stack;
    int err = 0;
    stack_enter(s);
    fdtab_write_lock();
    if (fdtab[to] || so->waiters || so->ep_items) {
        err = -EBUSY;
    } else if (dup3(from, to, cloexec ? O_CLOEXEC : 0) < 0) {
        err = -errno;
    } else {
        fdtab[from] = NULL;
        fdtab[to] = so;
        so->fd = to;
    }
    fdtab_write_unlock();
    stack_leave(s);
    if (!err)
        close(from);
    __atomic_sub_fetch(&so->refs, 1, __ATOMIC_ACQ_REL);   /* ours; the table's remains */
    return err;
}

int sock_rekey(int from, int to)
{
    if (from < 0 || to < 0 || !fdtab_ready() || (size_t)from >= fdtab_size ||
        (size_t)to >= fdtab_size || from == to)
        return -EBADF;
    struct sock *so = sock_get(from);
    if (!so)
        return -EBADF;
    struct ust_stack *s = so->stack;
    int err = 0;
    stack_enter(s);
    fdtab_write_lock();
    if (fdtab[to]) {
        err = -EBUSY;
    } else {
        fdtab[from] = NULL;
        fdtab[to] = so;
        so->fd = to;
    }
    fdtab_write_unlock();
    stack_leave(s);
    __atomic_sub_fetch(&so->refs, 1, __ATOMIC_ACQ_REL);   /* ours; the table's remains */
    return err;
}

int sock_close(int fd)
{
    if (fd < 0 || !fdtab_ready() || (size_t)fd >= fdtab_size)
        return -EBADF;
    struct sock *so = fdtab_remove(fd);
    if (!so)
        return -EBADF;
    struct ust_stack *s = so->stack;
    stack_enter(s);
    sock_detach(so);
    stack_leave(s);
    sock_put(so);   /* the table's reference */
    return 0;
}

void sock_close_all(struct ust_stack *s)
{
    while (s->socks) {
        struct sock *so = s->socks;
        fdtab_remove(so->fd);
        so->nonblock = true;   /* no lingering while the stack goes away */
        sock_detach(so);
        sock_put(so);
    }
}

/* ---- Readiness and blocking ---- */

unsigned sock_poll_events(struct sock *so)
{
    if (so->closing)
        return POLLNVAL;
    if (so->type == SOCK_STREAM)
        return tcp_poll_events(so->tcp);
    unsigned ev = udp_poll_events(&so->udp);
    if (so->shutdown & SOCK_RCV_SHUTDOWN)
        ev |= POLLIN | POLLRDNORM | POLLRDHUP;
    if (so->shutdown == (SOCK_RCV_SHUTDOWN | SOCK_SEND_SHUTDOWN))
        ev |= POLLHUP;
    return ev;
}

void sock_notify(void *owner)
{
    struct sock *so = owner;
    if (so->ep_items)
        epoll_sock_notify(so);
    for (struct sock_waiter *w = so->waiters; w; w = w->next) {
        if (w->awake)
            continue;   /* it is processing the stack and looks at the socket next */
        uint64_t one = 1;
        ssize_t rc = write(w->line, &one, sizeof(one));
        (void)rc;   /* EAGAIN means the counter is already nonzero: still a wake-up */
    }
}

uint64_t sock_deadline(const struct sock *so, bool dontwait, uint64_t timeout_ns)
{
    if (dontwait || so->nonblock)
        return 0;
    return timeout_ns ? so->stack->now + timeout_ns : UINT64_MAX;
}

bool (*sock_interrupted)(void);

int sock_wait(struct sock *so, uint64_t deadline_ns)
{
    if (so->closing)
        return -EBADF;
    if (sock_interrupted && sock_interrupted())
        return -EINTR;
    struct sock_waiter w = { .line = sock_thread_line() };
    if (w.line < 0)
        return w.line;
    sock_waiter_add(so, &w);
    int rc = stack_wait_registered(so->stack, deadline_ns, w.line, &w.awake);
    sock_waiter_del(so, &w);
    if (so->closing)
        return -EBADF;
    return rc;
}

/* ---- Options ---- */

static int get_int(const void *val, socklen_t len, int *out)
{
    if (!val || len < (socklen_t)sizeof(int))
        return -EINVAL;
    memcpy(out, val, sizeof(int));
    return 0;
}

static int get_timeval(const void *val, socklen_t len, uint64_t *ns)
{
    struct timeval tv;
    if (!val || len < (socklen_t)sizeof(tv))
        return -EINVAL;
    memcpy(&tv, val, sizeof(tv));
    if (tv.tv_usec < 0 || tv.tv_usec >= 1000000)
        return -EDOM;   /* as Linux's sock_set_timeout */
    if (tv.tv_sec < 0) {
        *ns = 1;        /* Linux: a negative timeout means "do not wait" */
        return 0;
    }
    *ns = (uint64_t)tv.tv_sec * NS_PER_SEC + (uint64_t)tv.tv_usec * NS_PER_US;
    return 0;
}

/* Linux: a buffer request is capped at the sysctl maximum and doubled for bookkeeping. */
static uint32_t buffer_size(int val, uint32_t max, uint32_t min)
{
    uint64_t v = val < 0 ? 0 : (uint64_t)val;
    if (v > max)
        v = max;
    v *= 2;
    return v < min ? min : (uint32_t)v;
}

/* SOL_SOCKET options of a stream socket: buffers and reuse here, the rest TCP's. */
static int set_stream_socket_level(struct sock *so, int name, const void *val, socklen_t len)
{
    struct ust_config *c = &so->stack->cfg;
    int v;
    if (name == SO_KEEPALIVE || name == SO_LINGER)
        return tcp_setsockopt(so->tcp, SOL_SOCKET, name, val, len);
    int err = get_int(val, len, &v);
    if (err)
        return err;
    switch (name) {
    case SO_RCVBUF:
        tcp_set_buffers(so->tcp, buffer_size(v, c->rmem_max, 2304), 0);
        return 0;
    case SO_SNDBUF:
        tcp_set_buffers(so->tcp, 0, buffer_size(v, c->wmem_max, 4608));
        return 0;
    case SO_REUSEADDR:
        so->reuseaddr = v != 0;
        break;
    case SO_REUSEPORT:
        so->reuseport = v != 0;
        break;
    case SO_BROADCAST:
    case SO_DONTROUTE:
    case SO_OOBINLINE:
        return 0;   /* accepted and meaningless for TCP, as on Linux */
    default:
        return -ENOPROTOOPT;
    }
    tcp_set_reuse(so->tcp, so->reuseaddr, so->reuseport);
    return 0;
}

static int set_socket_level(struct sock *so, int name, const void *val, socklen_t len)
{
    struct ust_config *c = &so->stack->cfg;
    int v;
    switch (name) {
    case SO_RCVTIMEO:
        return get_timeval(val, len, &so->rcvtimeo_ns);
    case SO_SNDTIMEO:
        return get_timeval(val, len, &so->sndtimeo_ns);
    default:
        break;
    }
    if (so->type == SOCK_STREAM)
        return set_stream_socket_level(so, name, val, len);
    int err = get_int(val, len, &v);
    if (err)
        return err;
    switch (name) {
    case SO_RCVBUF:
        so->udp.rcvbuf = buffer_size(v, c->rmem_max, 2304);   /* SOCK_MIN_RCVBUF */
        return 0;
    case SO_SNDBUF:
        so->udp.sndbuf = buffer_size(v, c->wmem_max, 4608);   /* SOCK_MIN_SNDBUF */
        return 0;
    case SO_REUSEADDR:
        so->udp.reuseaddr = v != 0;
        return 0;
    case SO_BROADCAST:
        so->udp.broadcast = v != 0;
        return 0;
    case SO_KEEPALIVE:
    case SO_DONTROUTE:
    case SO_OOBINLINE:
        return 0;       /* accepted and meaningless for datagrams, as on Linux */
    default:
        return -ENOPROTOOPT;
    }
}

static int set_ip_level(struct sock *so, int name, const void *val, socklen_t len)
{
    int v;
    int err = get_int(val, len, &v);
    if (err)
        return err;
    switch (name) {
    case IP_TTL:
        if (v == -1)
            v = 0;      /* back to the default */
        else if (v < 1 || v > 255)
            return -EINVAL;
        so->udp.ttl = (uint8_t)v;
        return 0;
    case IP_TOS:
        so->udp.tos = (uint8_t)v;
        return 0;
    default:
        return -ENOPROTOOPT;
    }
}

int sock_setsockopt(struct sock *so, int level, int name, const void *val, socklen_t len)
{
    if (level == SOL_SOCKET)
        return set_socket_level(so, name, val, len);
    if (so->type == SOCK_STREAM) {
        if (level == IPPROTO_TCP)
            return tcp_setsockopt(so->tcp, level, name, val, len);
        if (level == IPPROTO_IP && (name == IP_TTL || name == IP_TOS)) {
            int v;
            int err = get_int(val, len, &v);
            if (err)
                return err;
            if (name == IP_TTL && v != -1 && (v < 1 || v > 255))
                return -EINVAL;
            return tcp_set_ip_options(so->tcp, name == IP_TTL ? v : -2,
                                      name == IP_TOS ? v : -2);
        }
        return -ENOPROTOOPT;
    }
    if (level == IPPROTO_IP)
        return set_ip_level(so, name, val, len);
    if (level == IPPROTO_UDP)
        return -ENOPROTOOPT;
    return -ENOPROTOOPT;
}

/* Writes an int option as Linux does: at most *len bytes, *len set to what was written. */
static int put_int(void *val, socklen_t *len, int v)
{
    if (!len || (int)*len < 0)
        return -EINVAL;
    socklen_t n = *len < (socklen_t)sizeof(int) ? *len : (socklen_t)sizeof(int);
    memcpy(val, &v, n);
    *len = n;
    return 0;
}

static int put_timeval(void *val, socklen_t *len, uint64_t ns)
{
    struct timeval tv = { .tv_sec = (time_t)(ns / NS_PER_SEC),
                          .tv_usec = (suseconds_t)(ns % NS_PER_SEC / NS_PER_US) };
    if (!len || *len < (socklen_t)sizeof(tv))
        return -EINVAL;
    memcpy(val, &tv, sizeof(tv));
    *len = sizeof(tv);
    return 0;
}

static int get_stream_socket_level(struct sock *so, int name, void *val, socklen_t *len)
{
    uint32_t rcv, snd;
    switch (name) {
    case SO_ERROR:
        return put_int(val, len, tcp_take_error(so->tcp));
    case SO_RCVBUF:
    case SO_SNDBUF:
        tcp_get_buffers(so->tcp, &rcv, &snd);
        return put_int(val, len, (int)(name == SO_RCVBUF ? rcv : snd));
    case SO_REUSEADDR:
        return put_int(val, len, so->reuseaddr);
    case SO_REUSEPORT:
        return put_int(val, len, so->reuseport);
    default:
        return tcp_getsockopt(so->tcp, SOL_SOCKET, name, val, len);
    }
}

static int get_socket_level(struct sock *so, int name, void *val, socklen_t *len)
{
    switch (name) {
    case SO_TYPE:
        return put_int(val, len, so->type);
    case SO_DOMAIN:
        return put_int(val, len, AF_INET);
    case SO_PROTOCOL:
        return put_int(val, len, so->protocol);
    case SO_RCVTIMEO:
        return put_timeval(val, len, so->rcvtimeo_ns);
    case SO_SNDTIMEO:
        return put_timeval(val, len, so->sndtimeo_ns);
    default:
        break;
    }
    if (so->type == SOCK_STREAM)
        return get_stream_socket_level(so, name, val, len);
    switch (name) {
    case SO_ERROR: {
        int e = so->udp.error;
        so->udp.error = 0;
        return put_int(val, len, e);
    }
    case SO_RCVBUF:
        return put_int(val, len, (int)so->udp.rcvbuf);
    case SO_SNDBUF:
        return put_int(val, len, (int)so->udp.sndbuf);
    case SO_REUSEADDR:
        return put_int(val, len, so->udp.reuseaddr);
    case SO_BROADCAST:
        return put_int(val, len, so->udp.broadcast);
    case SO_ACCEPTCONN:
        return put_int(val, len, 0);
    default:
        return -ENOPROTOOPT;
    }
}

int sock_getsockopt(struct sock *so, int level, int name, void *val, socklen_t *len)
{
    if (!val || !len)
        return -EFAULT;
    if (level == SOL_SOCKET)
        return get_socket_level(so, name, val, len);
    if (so->type == SOCK_STREAM)
        return level == IPPROTO_TCP ? tcp_getsockopt(so->tcp, level, name, val, len)
                                    : -ENOPROTOOPT;
    if (level == IPPROTO_IP) {
        if (name == IP_TTL)
            return put_int(val, len, so->udp.ttl ? so->udp.ttl : (int)so->stack->cfg.ttl);
        if (name == IP_TOS)
            return put_int(val, len, so->udp.tos);
    }
    return -ENOPROTOOPT;
}
