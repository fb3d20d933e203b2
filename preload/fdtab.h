/*
 * The shim's view of each descriptor number: kernel (anything we do not handle: the default),
 * pending (an AF_INET kernel socket not yet decided, with what the program set on it), ustack
 * (a ustack socket), or epoll (a ustack epoll instance).
 *
 * A byte per number in reserved address space (pages appear only where descriptors are used),
 * read with one relaxed load on every interposed call: a kernel descriptor costs the shim one
 * compare. Pending sockets carry a small record (options to replay, epoll registrations).
 * Updates are serialised by pl_fd_lock(); a lookup needs no lock.
 */
#ifndef UST_PRELOAD_FDTAB_H
#define UST_PRELOAD_FDTAB_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#define PL_FD_MAX (1u << 20)      /* the kernel's nr_open ceiling, as sock/'s table */

enum pl_kind {
    PL_FD_KERNEL = 0,
    PL_FD_PENDING = 1,
    PL_FD_USTACK = 2,
    PL_FD_EPOLL = 3,
    PL_FD_ALIAS = 4,             /* a dup of a ustack socket: pl_links[fd] is its primary */
};

#define PL_MAX_OPTS 16
#define PL_OPT_LEN 32
#define PL_MAX_EP 4

struct pl_opt {
    int level, name;
    socklen_t len;
    unsigned char val[PL_OPT_LEN];
};

struct pl_pending {
    int type;                    /* SOCK_STREAM or SOCK_DGRAM */
    int protocol;
    bool bound_any;              /* bind(0.0.0.0:0) seen: replay it */
    unsigned n_opts;
    struct pl_opt opts[PL_MAX_OPTS];
    unsigned n_ep;               /* epoll instances it was added to, to add the ustack socket */
    struct {
        int epfd;
        struct epoll_event ev;
    } ep[PL_MAX_EP];
};

extern uint8_t *pl_kinds;
/* For an alias: its primary's number. For a primary: how many aliases it has. */
extern int32_t *pl_links;

/* Maps the tables (idempotent). 0 or a negative errno. */
int pl_fdtab_init(void);

static inline enum pl_kind pl_kind(int fd)
{
    if (fd < 0 || (unsigned)fd >= PL_FD_MAX || !pl_kinds)
        return PL_FD_KERNEL;
    return (enum pl_kind)__atomic_load_n(&pl_kinds[fd], __ATOMIC_RELAXED);
}

/* True for a ustack socket's descriptor: the socket's own number or a dup of it. */
static inline bool pl_is_ustack(int fd)
{
    enum pl_kind k = pl_kind(fd);
    return k == PL_FD_USTACK || k == PL_FD_ALIAS;
}

/* The number ustack knows the socket by (fd itself, or an alias's primary), or -1. */
static inline int pl_ufd(int fd)
{
    enum pl_kind k = pl_kind(fd);
    if (k == PL_FD_USTACK)
        return fd;
    if (k == PL_FD_ALIAS)
        return __atomic_load_n(&pl_links[fd], __ATOMIC_RELAXED);
    return -1;
}

void pl_fd_lock(void);
void pl_fd_unlock(void);

/* Under the lock. set_kind frees a pending record when the kind changes away from pending. */
void pl_set_kind(int fd, enum pl_kind k);
struct pl_pending *pl_pending(int fd);
/* Makes fd pending with a fresh record. 0 or -ENOMEM (fd stays kernel). */
int pl_make_pending(int fd, int type, int protocol);
/* Records a setsockopt for replay; false if it does not fit (the caller decides kernel). */
bool pl_pending_add_opt(struct pl_pending *p, int level, int name, const void *val,
                        socklen_t len);
/* Records an epoll registration (op ADD/MOD/DEL); false if it does not fit. */
bool pl_pending_epoll(struct pl_pending *p, int epfd, int op, const struct epoll_event *ev);
/* Aliases (dup of a ustack socket), under the lock. alias_add makes `alias` (a kernel dup of
 * the primary's eventfd) an alias of `primary`. alias_drop forgets an alias and returns its
 * primary. alias_successor, for a primary being closed while it has aliases: picks one of them
 * to become the primary, repoints the others at it and returns it (or -1 if none). */
void pl_alias_add(int primary, int alias);
int pl_alias_drop(int alias);
int pl_alias_successor(int primary);
/* The alias alias_successor would pick, without changing anything; -1 if none. */
int pl_alias_first(int primary);

/* Highest descriptor number ever given a non-kernel kind (for scans). */
int pl_fd_high(void);

#endif
