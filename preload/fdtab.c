/*
 * Descriptor bookkeeping of the shim (fdtab.h).
 */
#include "fdtab.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

uint8_t *pl_kinds;
int32_t *pl_links;
static struct pl_pending **pendings;
static int fd_high = -1;
static pthread_mutex_t fd_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t fd_once = PTHREAD_ONCE_INIT;

static void map_tables(void)
{
    void *k = mmap(NULL, PL_FD_MAX, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    void *p = mmap(NULL, PL_FD_MAX * sizeof(*pendings), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    void *l = mmap(NULL, PL_FD_MAX * sizeof(*pl_links), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (k == MAP_FAILED || p == MAP_FAILED || l == MAP_FAILED) {
        if (k != MAP_FAILED)
            munmap(k, PL_FD_MAX);
        if (p != MAP_FAILED)
            munmap(p, PL_FD_MAX * sizeof(*pendings));
        if (l != MAP_FAILED)
            munmap(l, PL_FD_MAX * sizeof(*pl_links));
        return;
    }
    pendings = p;
    pl_links = l;
    __atomic_store_n(&pl_kinds, (uint8_t *)k, __ATOMIC_RELEASE);
}

int pl_fdtab_init(void)
{
    pthread_once(&fd_once, map_tables);
    return pl_kinds ? 0 : -ENOMEM;
}

void pl_fd_lock(void)
{
    pthread_mutex_lock(&fd_mtx);
}

void pl_fd_unlock(void)
{
    pthread_mutex_unlock(&fd_mtx);
}

void pl_set_kind(int fd, enum pl_kind k)
{
    if (fd < 0 || (unsigned)fd >= PL_FD_MAX || !pl_kinds)
        return;
    if (k == PL_FD_KERNEL)
        pl_links[fd] = 0;
    if (k != PL_FD_PENDING && pendings[fd]) {
        free(pendings[fd]);
        pendings[fd] = NULL;
    }
    if (k != PL_FD_KERNEL && fd > fd_high)
        fd_high = fd;
    __atomic_store_n(&pl_kinds[fd], (uint8_t)k, __ATOMIC_RELAXED);
}

struct pl_pending *pl_pending(int fd)
{
    if (pl_kind(fd) != PL_FD_PENDING)
        return NULL;
    return pendings[fd];
}

int pl_make_pending(int fd, int type, int protocol)
{
    if (fd < 0 || (unsigned)fd >= PL_FD_MAX || !pl_kinds)
        return -EBADF;
    struct pl_pending *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->type = type;
    p->protocol = protocol;
    free(pendings[fd]);
    pendings[fd] = p;
    pl_set_kind(fd, PL_FD_PENDING);
    return 0;
}

bool pl_pending_add_opt(struct pl_pending *p, int level, int name, const void *val,
                        socklen_t len)
{
    if (len > PL_OPT_LEN || (len && !val))
        return false;
    struct pl_opt *o = NULL;
    for (unsigned i = 0; i < p->n_opts && !o; i++)
        if (p->opts[i].level == level && p->opts[i].name == name)
            o = &p->opts[i];   /* the last value set wins, as it would on the socket */
    if (!o) {
        if (p->n_opts == PL_MAX_OPTS)
            return false;
        o = &p->opts[p->n_opts++];
    }
    o->level = level;
    o->name = name;
    o->len = len;
    if (len)
        memcpy(o->val, val, len);
    return true;
}

bool pl_pending_epoll(struct pl_pending *p, int epfd, int op, const struct epoll_event *ev)
{
    unsigned i = 0;
    while (i < p->n_ep && p->ep[i].epfd != epfd)
        i++;
    if (op == EPOLL_CTL_DEL) {
        if (i < p->n_ep)
            p->ep[i] = p->ep[--p->n_ep];
        return true;
    }
    if (i == p->n_ep) {
        if (op != EPOLL_CTL_ADD)
            return true;   /* MOD of something not added: the kernel said ENOENT already */
        if (p->n_ep == PL_MAX_EP)
            return false;
        p->n_ep++;
    }
    p->ep[i].epfd = epfd;
    p->ep[i].ev = ev ? *ev : (struct epoll_event){ 0 };
    return true;
}

void pl_alias_add(int primary, int alias)
{
    if (alias < 0 || (unsigned)alias >= PL_FD_MAX || !pl_kinds)
        return;
    pl_links[primary]++;
    __atomic_store_n(&pl_links[alias], primary, __ATOMIC_RELAXED);
    pl_set_kind(alias, PL_FD_ALIAS);
}

int pl_alias_drop(int alias)
{
    if (pl_kind(alias) != PL_FD_ALIAS)
        return -1;
    int primary = pl_links[alias];
    pl_links[alias] = 0;
    pl_set_kind(alias, PL_FD_KERNEL);
    if (pl_links[primary] > 0)
        pl_links[primary]--;
    return primary;
}

int pl_alias_successor(int primary)
{
    if (pl_kind(primary) != PL_FD_USTACK || pl_links[primary] <= 0)
        return -1;
    int next = -1;
    int32_t n = pl_links[primary];
    for (int fd = 0; fd <= fd_high; fd++) {
        if (pl_kind(fd) != PL_FD_ALIAS || pl_links[fd] != primary)
            continue;
        if (next < 0) {
            next = fd;
            pl_set_kind(next, PL_FD_USTACK);
            pl_links[next] = n - 1;
        } else {
            __atomic_store_n(&pl_links[fd], next, __ATOMIC_RELAXED);
        }
    }
    pl_links[primary] = 0;
    return next;
}

int pl_alias_first(int primary)
{
    if (pl_kind(primary) != PL_FD_USTACK || pl_links[primary] <= 0)
        return -1;
    for (int fd = 0; fd <= fd_high; fd++)
        if (pl_kind(fd) == PL_FD_ALIAS && pl_links[fd] == primary)
            return fd;
    return -1;
}

int pl_fd_high(void)
{
    return __atomic_load_n(&fd_high, __ATOMIC_RELAXED);
}
