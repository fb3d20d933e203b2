/*
 * epoll over ustack sockets and kernel descriptors: ust_epoll_create, _ctl, _wait, _pwait.
 *
 * An instance is a kernel epoll descriptor (its number is the instance's number, so it closes,
 * survives exec or not, and counts against the descriptor limit like any other) plus ustack's
 * own state. Kernel descriptors registered in it go into the kernel epoll, which watches them
 * itself. ustack sockets get an item here, as Linux's epitem: an interest set and the user's
 * data, on the socket's list of watchers and, when it may have events, on a ready list (one per
 * stack, in the instance). The kernel epoll also holds the instance's "line", an eventfd raised
 * while its ustack sockets have events and someone needs the descriptor itself to say so: a
 * thread asleep in ust_epoll_wait, an instance it is nested in, or ust_poll.
 *
 * Readiness comes from the one upward call the protocols make, sock_notify, through
 * epoll_sock_notify (per segment: a few loads when nothing is watching, a pointer test in
 * sock_notify when nothing is). Notifications carry no reason, so a socket remembers what it
 * looked like at the last observation (ep_seen, ep_rx): a level-triggered item is queued when a
 * notification finds it ready, an edge-triggered one when events became newly true since then or
 * more data arrived (Linux wakes edge-triggered waiters on every sk_data_ready: a second datagram
 * is reported even if the first is still unread). The application's own calls take readiness
 * away without any notification, so sock_put observes a watched socket again after each call
 * (epoll_sock_settle): a later arrival is then recognised as new.
 *
 * ust_epoll_wait runs the stacks behind the instance (so their notifications fill the ready
 * lists), reports what the ready lists hold as Linux's ep_send_events does (level-triggered items
 * go back on the list, one-shot items are disabled), then asks the kernel epoll for its part
 * with a zero timeout, alternating which part goes first. With nothing ready it sleeps in
 * sock_sleep (poll.h) on the kernel epoll descriptor (which includes the line) and the stacks'
 * link descriptors and wake-up lines, no later than their earliest timer.
 *
 * Nesting: an instance registered in another goes into the outer kernel epoll like any kernel
 * descriptor (the kernel checks loops and depth: ELOOP), is marked watched so its line follows
 * its ustack readiness, and the outer instance runs its stacks and refreshes its line before
 * asking the kernel.
 *
 * Locks, outermost first: a stack's lock, then an instance's mtx (which guards its items, ready
 * lists, slots and counters). nest_lock (the nesting links) and the instance table's lock are
 * leaves. An item's links are changed only with both its stack's lock and its instance's mtx
 * held, so the notification path (stack lock) may read them.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "net/stack.h"
#include "sock/poll.h"
#include "sock/sock.h"
#include "tcp/tcp.h"
#include "udp/udp.h"

_Static_assert(EPOLLIN == POLLIN && EPOLLPRI == POLLPRI && EPOLLOUT == POLLOUT &&
                   EPOLLERR == POLLERR && EPOLLHUP == POLLHUP && EPOLLRDNORM == POLLRDNORM &&
                   EPOLLRDBAND == POLLRDBAND && EPOLLWRNORM == POLLWRNORM &&
                   EPOLLWRBAND == POLLWRBAND && EPOLLRDHUP == POLLRDHUP,
               "epoll's event bits are poll's (sock_poll_events speaks poll)");

/* Linux's fs/eventpoll.c names. */
#define EP_PRIVATE_BITS (EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE)
#define EPOLLEXCLUSIVE_OK_BITS                                                       \
    (EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE)
#define EP_MAX_EVENTS (INT_MAX / (int)sizeof(struct epoll_event))
#define EP_MAX_NESTS 8           /* recursion guard; the kernel stops real loops with ELOOP */
/* Items kept for reuse per instance: event loops (hiredis's ae, libevent) delete a socket's
 * registration and add it again for every request they send. */
#define EP_SPARE_MAX 64

/* Descriptor-indexed tables: a directory of lazily allocated chunks. */
#define DIR_SHIFT 10
#define DIR_CHUNK (1u << DIR_SHIFT)
#define DIR_SIZE 1024u           /* DIR_SIZE * DIR_CHUNK = 2^20 descriptors, as sock's table */

struct ep_list {
    struct ep_list *next, *prev;
};

/* A ustack socket in an instance (Linux's epitem). */
struct ep_item {
    struct ep *ep;
    struct sock *so;
    int fd;
    unsigned slot;               /* its stack's slot in ep->slots */
    uint32_t events;             /* interest (EPOLLERR | EPOLLHUP always) and private flags */
    epoll_data_t data;
    struct ep_list ready;        /* on its slot's ready list, or pointing at itself */
    struct ep_list in_slot;      /* on its slot's list of items */
    struct ep_item *sock_next;   /* the socket's watchers */
    struct ep_item **sock_pprev;
};

/* The items of one stack in one instance. */
struct ep_slot {
    struct ust_stack *stack;     /* NULL: free */
    unsigned n_items;
    struct ep_list items;
    struct ep_list ready;
};

/* "outer holds inner": an instance registered in another. */
struct ep_nest {
    struct ep *outer, *inner;
    struct ep_nest *next_in_outer, *next_in_inner;
};

struct ep {
    int fd;                      /* the kernel epoll descriptor: the instance's number */
    int line;                    /* eventfd in fd, raised while ustack sockets have events */
    int refs;                    /* the table's and one per caller using it (atomic) */
    pthread_mutex_t mtx;
    bool closed;
    bool line_up;
    bool kernel_first;           /* the kernel's part goes first next time (fairness) */
    unsigned sleepers;           /* threads asleep in ust_epoll_wait on it */
    unsigned watched;            /* outer instances and ust_poll callers relying on the line */
    unsigned n_kernel;           /* kernel descriptors registered (an upper bound) */
    unsigned n_slots;
    unsigned next_slot;          /* where the next scan starts (fairness) */
    struct ep_slot **slots;
    struct ep_item **dir[DIR_SIZE];   /* items by descriptor */
    struct ep_item *spare;       /* freed items kept for reuse, linked by sock_next (mtx) */
    unsigned n_spare;
    struct ep_nest *nested;      /* instances registered in it (nest_lock) */
    struct ep_nest *parents;     /* instances it is registered in (nest_lock) */
};

static pthread_rwlock_t eptab_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct ep **eptab[DIR_SIZE];
static bool eptab_used;          /* an instance was ever made: else lookups are free */
static pthread_mutex_t nest_lock = PTHREAD_MUTEX_INITIALIZER;

static int ret_errno(int rc)
{
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    return rc;
}

/* ---- Lists ---- */

static void list_init(struct ep_list *h)
{
    h->next = h->prev = h;
}

static bool list_empty(const struct ep_list *h)
{
    return h->next == h;
}

static void list_add_tail(struct ep_list *h, struct ep_list *n)
{
    n->prev = h->prev;
    n->next = h;
    h->prev->next = n;
    h->prev = n;
}

static void list_add_head(struct ep_list *h, struct ep_list *n)
{
    list_add_tail(h->next, n);
}

static void list_del(struct ep_list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    list_init(n);
}

/* Moves everything on `from` to the tail of `to`. */
static void list_splice_tail(struct ep_list *to, struct ep_list *from)
{
    if (list_empty(from))
        return;
    from->next->prev = to->prev;
    to->prev->next = from->next;
    from->prev->next = to;
    to->prev = from->prev;
    list_init(from);
}

#define item_of(ptr, field) ((struct ep_item *)((char *)(ptr) - offsetof(struct ep_item, field)))

static bool item_queued(const struct ep_item *it)
{
    return !list_empty(&it->ready);
}

/* ---- Descriptor directories ---- */

static void **dir_slot(void ***dir, int fd, bool create)
{
    if (fd < 0 || (unsigned)fd >= DIR_SIZE * DIR_CHUNK)
        return NULL;
    void **chunk = dir[(unsigned)fd >> DIR_SHIFT];
    if (!chunk && create) {
        chunk = calloc(DIR_CHUNK, sizeof(*chunk));
        dir[(unsigned)fd >> DIR_SHIFT] = chunk;
    }
    return chunk ? &chunk[(unsigned)fd & (DIR_CHUNK - 1)] : NULL;
}

static void dir_free(void ***dir)
{
    for (unsigned i = 0; i < DIR_SIZE; i++)
        free(dir[i]);
}

static struct ep_item *item_find(struct ep *ep, int fd)
{
    void **p = dir_slot((void ***)ep->dir, fd, false);
    return p ? *p : NULL;
}

/* ---- The instance table, references ---- */

struct ep *epoll_get(int fd)
{
    if (!__atomic_load_n(&eptab_used, __ATOMIC_ACQUIRE))
        return NULL;
    pthread_rwlock_rdlock(&eptab_lock);
    void **p = dir_slot((void ***)eptab, fd, false);
    struct ep *ep = p ? *p : NULL;
    if (ep)
        __atomic_add_fetch(&ep->refs, 1, __ATOMIC_RELAXED);
    pthread_rwlock_unlock(&eptab_lock);
    return ep;
}

bool epoll_fd_is_ours(int fd)
{
    struct ep *ep = epoll_get(fd);
    if (ep)
        epoll_put(ep);
    return ep != NULL;
}

void epoll_put(struct ep *ep)
{
    if (__atomic_sub_fetch(&ep->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    /* Last reference: the descriptor number goes back to the kernel now, as a socket's. */
    if (ep->fd >= 0)
        close(ep->fd);
    close(ep->line);
    for (unsigned i = 0; i < ep->n_slots; i++)
        free(ep->slots[i]);
    free(ep->slots);
    while (ep->spare) {
        struct ep_item *it = ep->spare;
        ep->spare = it->sock_next;
        free(it);
    }
    dir_free((void ***)ep->dir);
    pthread_mutex_destroy(&ep->mtx);
    free(ep);
}

/* ---- The line ---- */

/* mtx held. */
static void line_raise(struct ep *ep)
{
    if (ep->line_up)
        return;
    uint64_t one = 1;
    if (write(ep->line, &one, sizeof(one)) == (ssize_t)sizeof(one))
        ep->line_up = true;
}

/* mtx held. */
static void line_lower(struct ep *ep)
{
    if (!ep->line_up)
        return;
    uint64_t v;
    if (read(ep->line, &v, sizeof(v)) < 0)
        v = 0;   /* nothing to drain */
    ep->line_up = false;
}

/* mtx held. */
static bool has_ready(const struct ep *ep)
{
    for (unsigned i = 0; i < ep->n_slots; i++)
        if (!list_empty(&ep->slots[i]->ready))
            return true;
    return false;
}

/* ---- Items ---- */

static uint32_t sock_rx_queued(struct sock *so)
{
    return so->type == SOCK_STREAM ? tcp_readable_bytes(so->tcp) : so->udp.rx_count;
}

/* Puts the item on its slot's ready list. Its stack's lock and mtx held. */
static void item_queue_locked(struct ep_item *it)
{
    struct ep *ep = it->ep;
    if (item_queued(it))
        return;
    list_add_tail(&ep->slots[it->slot]->ready, &it->ready);
    if (ep->sleepers || ep->watched)
        line_raise(ep);
}

/* Its stack's lock held. */
static void item_queue(struct ep_item *it)
{
    pthread_mutex_lock(&it->ep->mtx);
    item_queue_locked(it);
    pthread_mutex_unlock(&it->ep->mtx);
}

/* Takes the item out of its instance and its socket's list, and frees it. Its stack's lock and
 * mtx held. */
static void item_remove(struct ep_item *it)
{
    struct ep *ep = it->ep;
    struct ep_slot *sl = ep->slots[it->slot];
    list_del(&it->ready);
    list_del(&it->in_slot);
    if (--sl->n_items == 0)
        sl->stack = NULL;
    void **p = dir_slot((void ***)ep->dir, it->fd, false);
    if (p)
        *p = NULL;
    if (it->sock_next)
        it->sock_next->sock_pprev = it->sock_pprev;
    __atomic_store_n(it->sock_pprev, it->sock_next, __ATOMIC_RELEASE);
    if (ep->n_spare < EP_SPARE_MAX) {
        it->sock_next = ep->spare;
        ep->spare = it;
        ep->n_spare++;
    } else {
        free(it);
    }
}

/* A fresh item (zeroed), from the spares if there are any. mtx held. */
static struct ep_item *item_alloc(struct ep *ep)
{
    struct ep_item *it = ep->spare;
    if (!it)
        return calloc(1, sizeof(*it));
    ep->spare = it->sock_next;
    ep->n_spare--;
    memset(it, 0, sizeof(*it));
    return it;
}

/* The slot for stack s, made if need be. mtx held. */
static int slot_for(struct ep *ep, struct ust_stack *s, unsigned *out)
{
    unsigned free_slot = ep->n_slots;
    for (unsigned i = 0; i < ep->n_slots; i++) {
        if (ep->slots[i]->stack == s) {
            *out = i;
            return 0;
        }
        if (!ep->slots[i]->stack && free_slot == ep->n_slots)
            free_slot = i;
    }
    if (free_slot == ep->n_slots) {
        struct ep_slot **v = realloc(ep->slots, (ep->n_slots + 1) * sizeof(*v));
        if (!v)
            return -ENOMEM;
        ep->slots = v;
        struct ep_slot *sl = calloc(1, sizeof(*sl));
        if (!sl)
            return -ENOMEM;
        list_init(&sl->items);
        list_init(&sl->ready);
        ep->slots[ep->n_slots++] = sl;
    }
    ep->slots[free_slot]->stack = s;
    /* A sleeper does not watch this stack's links yet: wake it to look again (Linux wakes
     * waiters on an insertion too). */
    if (ep->sleepers)
        line_raise(ep);
    *out = free_slot;
    return 0;
}

/* EPOLL_CTL_ADD for a ustack socket. Its stack's lock and mtx held. */
static int item_add(struct ep *ep, int fd, struct sock *so, const struct epoll_event *ev)
{
    struct ep_item *it = item_alloc(ep);
    void **p = dir_slot((void ***)ep->dir, fd, true);
    unsigned slot;
    int err = !it || !p ? -ENOMEM : slot_for(ep, so->stack, &slot);
    if (err) {
        free(it);
        return err;
    }
    *it = (struct ep_item){ .ep = ep, .so = so, .fd = fd, .slot = slot,
                            .events = ev->events | EPOLLERR | EPOLLHUP, .data = ev->data };
    list_init(&it->ready);
    struct ep_slot *sl = ep->slots[slot];
    list_add_tail(&sl->items, &it->in_slot);
    sl->n_items++;
    *p = it;
    unsigned cur = sock_poll_events(so);
    if (!so->ep_items) {
        /* The first watcher: observation starts now. */
        so->ep_seen = cur;
        so->ep_rx = sock_rx_queued(so);
    }
    it->sock_next = so->ep_items;
    if (it->sock_next)
        it->sock_next->sock_pprev = &it->sock_next;
    it->sock_pprev = &so->ep_items;
    __atomic_store_n(&so->ep_items, it, __ATOMIC_RELEASE);
    /* Linux's ep_insert: ready now (edge-triggered or not) means reported. */
    if (cur & it->events & ~EP_PRIVATE_BITS)
        item_queue_locked(it);
    return 0;
}

/* EPOLL_CTL_MOD. Its stack's lock and mtx held. */
static int item_mod(struct ep_item *it, const struct epoll_event *ev)
{
    if (it->events & EPOLLEXCLUSIVE)
        return -EINVAL;          /* Linux: an exclusive entry cannot be modified */
    it->events = ev->events | EPOLLERR | EPOLLHUP;
    it->data = ev->data;
    /* Linux's ep_modify: re-armed, and queued if ready now (how EPOLLONESHOT is re-armed). */
    if (sock_poll_events(it->so) & it->events & ~EP_PRIVATE_BITS)
        item_queue_locked(it);
    return 0;
}

/* ---- The hooks sock.c calls ---- */

/* What changed since the last observation, and which items want to hear of it. Stack lock
 * held. */
static void sock_observe(struct sock *so)
{
    uint32_t cur = sock_poll_events(so);
    uint32_t rx = sock_rx_queued(so);
    uint32_t edge = cur & ~so->ep_seen;
    if (rx > so->ep_rx)
        edge |= cur & (EPOLLIN | EPOLLRDNORM);   /* more data: Linux's sk_data_ready */
    so->ep_seen = cur;
    so->ep_rx = rx;
    for (struct ep_item *it = so->ep_items; it; it = it->sock_next) {
        uint32_t want = it->events & ~EP_PRIVATE_BITS;   /* 0: a disabled one-shot */
        uint32_t key = (it->events & EPOLLET) ? edge : cur;
        if ((key & want) && !item_queued(it))
            item_queue(it);
    }
}

void epoll_sock_notify(struct sock *so)
{
    sock_observe(so);
}

void epoll_sock_settle(struct sock *so)
{
    struct ust_stack *s = so->stack;
    pthread_mutex_lock(&s->lock);
    if (so->ep_items)
        sock_observe(so);
    pthread_mutex_unlock(&s->lock);
}

void epoll_sock_closed(struct sock *so)
{
    /* Linux removes a file from every instance when its last reference goes. */
    while (so->ep_items) {
        struct ep_item *it = so->ep_items;
        struct ep *ep = it->ep;
        pthread_mutex_lock(&ep->mtx);
        item_remove(it);
        pthread_mutex_unlock(&ep->mtx);
    }
}

/* ---- Stacks and nesting ---- */

struct stack_ref {
    unsigned slot;
    struct ust_stack *stack;
};

/* The instance's stacks and their slots (starting one further round each time when `rotate`,
 * for fairness). *out is `local` or malloc'd. */
static unsigned slot_list(struct ep *ep, struct stack_ref *local, unsigned cap, bool rotate,
                          struct stack_ref **out)
{
    pthread_mutex_lock(&ep->mtx);
    unsigned n = ep->n_slots;
    struct stack_ref *v = n <= cap ? local : malloc(n * sizeof(*v));
    unsigned k = 0;
    if (v) {
        unsigned start = n && rotate ? ep->next_slot++ % n : 0;
        for (unsigned i = 0; i < n; i++) {
            unsigned j = (start + i) % n;
            if (ep->slots[j]->stack)
                v[k++] = (struct stack_ref){ j, ep->slots[j]->stack };
        }
    }
    pthread_mutex_unlock(&ep->mtx);
    *out = v ? v : local;
    return k;
}

/* The instances registered in ep, each with a reference. *out is malloc'd (or NULL). */
static unsigned nested_list(struct ep *ep, struct ep ***out)
{
    pthread_mutex_lock(&nest_lock);
    unsigned n = 0;
    for (struct ep_nest *l = ep->nested; l; l = l->next_in_outer)
        n++;
    struct ep **v = n ? malloc(n * sizeof(*v)) : NULL;
    unsigned k = 0;
    for (struct ep_nest *l = ep->nested; v && l; l = l->next_in_outer) {
        __atomic_add_fetch(&l->inner->refs, 1, __ATOMIC_RELAXED);
        v[k++] = l->inner;
    }
    pthread_mutex_unlock(&nest_lock);
    *out = v;
    return k;
}

static void nested_release(struct ep **v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        epoll_put(v[i]);
    free(v);
}

static int for_each_stack(struct ep *ep, int (*add)(void *, struct ust_stack *), void *ctx,
                          unsigned depth)
{
    int rc = 0;
    pthread_mutex_lock(&ep->mtx);
    for (unsigned i = 0; i < ep->n_slots && !rc; i++)
        if (ep->slots[i]->stack)
            rc = add(ctx, ep->slots[i]->stack);
    pthread_mutex_unlock(&ep->mtx);
    if (rc || depth >= EP_MAX_NESTS)
        return rc;
    struct ep **v;
    unsigned n = nested_list(ep, &v);
    for (unsigned i = 0; i < n && !rc; i++)
        rc = for_each_stack(v[i], add, ctx, depth + 1);
    nested_release(v, n);
    return rc;
}

int epoll_for_each_stack(struct ep *ep, int (*add)(void *ctx, struct ust_stack *s), void *ctx)
{
    return for_each_stack(ep, add, ctx, 0);
}

static void refresh(struct ep *ep, unsigned depth);

/* Refreshes the instances nested in ep, so the kernel's view of them is right. */
static void refresh_nested(struct ep *ep, unsigned depth)
{
    if (depth >= EP_MAX_NESTS)
        return;
    struct ep **v;
    unsigned n = nested_list(ep, &v);
    for (unsigned i = 0; i < n; i++)
        refresh(v[i], depth + 1);
    nested_release(v, n);
}

/* Runs the instance's stacks, drops what no longer has events from its ready lists (without
 * reporting anything), and sets its line to say whether the rest has. */
static void refresh(struct ep *ep, unsigned depth)
{
    refresh_nested(ep, depth);
    struct stack_ref local[8], *v;
    unsigned n = slot_list(ep, local, 8, false, &v);
    bool ready = false;
    for (unsigned i = 0; i < n; i++) {
        stack_enter(v[i].stack);
        pthread_mutex_lock(&ep->mtx);
        struct ep_slot *sl = v[i].slot < ep->n_slots ? ep->slots[v[i].slot] : NULL;
        if (sl && sl->stack == v[i].stack) {
            for (struct ep_list *l = sl->ready.next, *next; l != &sl->ready; l = next) {
                next = l->next;
                struct ep_item *it = item_of(l, ready);
                if (sock_poll_events(it->so) & it->events & ~EP_PRIVATE_BITS)
                    ready = true;
                else
                    list_del(l);
            }
        }
        pthread_mutex_unlock(&ep->mtx);
        stack_leave(v[i].stack);
    }
    if (v != local)
        free(v);
    pthread_mutex_lock(&ep->mtx);
    if (ready)
        line_raise(ep);
    else
        line_lower(ep);
    pthread_mutex_unlock(&ep->mtx);
}

void epoll_refresh(struct ep *ep)
{
    refresh(ep, 0);
}

void epoll_watch(struct ep *ep, int delta)
{
    pthread_mutex_lock(&ep->mtx);
    ep->watched += (unsigned)delta;
    pthread_mutex_unlock(&ep->mtx);
}

/* Records that outer now holds inner (the kernel has accepted it). */
static int nest_add(struct ep *outer, struct ep *inner)
{
    struct ep_nest *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    pthread_mutex_lock(&nest_lock);
    *l = (struct ep_nest){ .outer = outer, .inner = inner, .next_in_outer = outer->nested,
                           .next_in_inner = inner->parents };
    outer->nested = l;
    inner->parents = l;
    pthread_mutex_unlock(&nest_lock);
    epoll_watch(inner, 1);
    return 0;
}

/* Unlinks l from both lists. nest_lock held. */
static void nest_unlink(struct ep_nest *l)
{
    struct ep_nest **pp = &l->outer->nested;
    while (*pp != l)
        pp = &(*pp)->next_in_outer;
    *pp = l->next_in_outer;
    pp = &l->inner->parents;
    while (*pp != l)
        pp = &(*pp)->next_in_inner;
    *pp = l->next_in_inner;
}

/* Forgets that outer holds inner. */
static void nest_del(struct ep *outer, struct ep *inner)
{
    pthread_mutex_lock(&nest_lock);
    struct ep_nest *l = outer->nested;
    while (l && l->inner != inner)
        l = l->next_in_outer;
    if (l)
        nest_unlink(l);
    pthread_mutex_unlock(&nest_lock);
    if (l) {
        epoll_watch(inner, -1);
        free(l);
    }
}

/* Forgets every link ep takes part in, as outer or inner (it is being closed). */
static void nest_forget(struct ep *ep)
{
    for (;;) {
        pthread_mutex_lock(&nest_lock);
        struct ep_nest *l = ep->nested ? ep->nested : ep->parents;
        if (l) {
            nest_unlink(l);
            /* Linked, the inner one is not torn down yet: it still has its table's
             * reference, and now ours too. */
            __atomic_add_fetch(&l->inner->refs, 1, __ATOMIC_RELAXED);
        }
        pthread_mutex_unlock(&nest_lock);
        if (!l)
            return;
        epoll_watch(l->inner, -1);
        epoll_put(l->inner);
        free(l);
    }
}

/* ---- Creating and closing ---- */

static void teardown(struct ep *ep);

int ust_epoll_create1(int flags)
{
    if (flags & ~EPOLL_CLOEXEC)
        return ret_errno(-EINVAL);
    struct ep *ep = calloc(1, sizeof(*ep));
    if (!ep)
        return ret_errno(-ENOMEM);
    ep->fd = epoll_create1(flags);
    if (ep->fd < 0) {
        int err = -errno;
        free(ep);
        return ret_errno(err);
    }
    ep->line = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event lev = { .events = EPOLLIN, .data.u64 = (uint64_t)(uintptr_t)ep };
    int err = 0;
    if (ep->line < 0 || epoll_ctl(ep->fd, EPOLL_CTL_ADD, ep->line, &lev) < 0)
        err = -errno;
    else if ((unsigned)ep->fd >= DIR_SIZE * DIR_CHUNK)
        err = -EMFILE;
    if (err) {
        if (ep->line >= 0)
            close(ep->line);
        close(ep->fd);
        free(ep);
        return ret_errno(err);
    }
    pthread_mutex_init(&ep->mtx, NULL);
    ep->refs = 1;
    pthread_rwlock_wrlock(&eptab_lock);
    void **p = dir_slot((void ***)eptab, ep->fd, true);
    struct ep *stale = p ? *p : NULL;
    if (p)
        *p = ep;
    __atomic_store_n(&eptab_used, true, __ATOMIC_RELEASE);
    pthread_rwlock_unlock(&eptab_lock);
    if (!p) {
        epoll_put(ep);
        return ret_errno(-ENOMEM);
    }
    if (stale) {
        /* The number was ours before: that instance's descriptor was closed behind our back
         * (close instead of ust_close). Its state goes now; its number is not its own. */
        stale->fd = -1;
        teardown(stale);
        epoll_put(stale);
    }
    return ep->fd;
}

int ust_epoll_create(int size)
{
    if (size <= 0)
        return ret_errno(-EINVAL);   /* Linux: the size is ignored but must be positive */
    return ust_epoll_create1(0);
}

/* Takes every item out (the sockets live on) and every nesting link. */
static void teardown(struct ep *ep)
{
    pthread_mutex_lock(&ep->mtx);
    ep->closed = true;
    pthread_mutex_unlock(&ep->mtx);
    struct stack_ref local[8], *v;
    unsigned n = slot_list(ep, local, 8, false, &v);
    for (unsigned i = 0; i < n; i++) {
        struct ust_stack *s = v[i].stack;
        pthread_mutex_lock(&s->lock);
        pthread_mutex_lock(&ep->mtx);
        struct ep_slot *sl = ep->slots[v[i].slot];
        while (sl->stack == s && !list_empty(&sl->items))
            item_remove(item_of(sl->items.next, in_slot));
        pthread_mutex_unlock(&ep->mtx);
        pthread_mutex_unlock(&s->lock);
    }
    if (v != local)
        free(v);
    nest_forget(ep);
    pthread_mutex_lock(&ep->mtx);
    line_lower(ep);
    pthread_mutex_unlock(&ep->mtx);
}

int epoll_close(int fd)
{
    pthread_rwlock_wrlock(&eptab_lock);
    void **p = dir_slot((void ***)eptab, fd, false);
    struct ep *ep = p ? *p : NULL;
    if (ep)
        *p = NULL;
    pthread_rwlock_unlock(&eptab_lock);
    if (!ep)
        return -EBADF;
    teardown(ep);
    epoll_put(ep);   /* the table's reference: the descriptor closes with the last one */
    return 0;
}

/* ---- epoll_ctl ---- */

/* A ustack socket: an item here. */
static int ctl_sock(struct ep *ep, int op, int fd, struct sock *so, struct epoll_event *ev)
{
    /* Linux: EPOLLEXCLUSIVE only when adding, and only with a few events. */
    if (op != EPOLL_CTL_DEL && (ev->events & EPOLLEXCLUSIVE) &&
        (op == EPOLL_CTL_MOD ||
         (op == EPOLL_CTL_ADD && (ev->events & ~EPOLLEXCLUSIVE_OK_BITS))))
        return -EINVAL;
    struct ust_stack *s = so->stack;
    /* Registration needs the socket's state as it is, not what waits on the links: a lazy
     * entry (stack.h), as Linux's epoll_ctl does not run the network either. The next
     * epoll_wait looks at the links before it answers. */
    stack_enter_lazy(s);
    pthread_mutex_lock(&ep->mtx);
    int rc;
    struct ep_item *it = item_find(ep, fd);
    if (ep->closed) {
        rc = -EBADF;
    } else if (op == EPOLL_CTL_ADD) {
        rc = it ? -EEXIST : item_add(ep, fd, so, ev);
    } else if (op == EPOLL_CTL_DEL) {
        rc = it ? 0 : -ENOENT;
        if (it)
            item_remove(it);
    } else if (op == EPOLL_CTL_MOD) {
        rc = it ? item_mod(it, ev) : -ENOENT;
    } else {
        rc = -EINVAL;
    }
    pthread_mutex_unlock(&ep->mtx);
    stack_leave(s);
    return rc;
}

/* Anything else: the kernel's epoll watches it. Another ustack instance is also recorded as
 * nested, so this one runs its stacks and it keeps its line up to date. */
static int ctl_kernel(struct ep *ep, int op, int fd, struct epoll_event *ev)
{
    pthread_mutex_lock(&ep->mtx);
    bool closed = ep->closed;
    pthread_mutex_unlock(&ep->mtx);
    if (closed)
        return -EBADF;
    struct ep *inner = epoll_get(fd);
    int rc = epoll_ctl(ep->fd, op, fd, ev) < 0 ? -errno : 0;
    if (!rc && (op == EPOLL_CTL_ADD || op == EPOLL_CTL_DEL)) {
        pthread_mutex_lock(&ep->mtx);
        if (op == EPOLL_CTL_ADD)
            ep->n_kernel++;
        else if (ep->n_kernel)
            ep->n_kernel--;
        pthread_mutex_unlock(&ep->mtx);
        if (inner && op == EPOLL_CTL_ADD && nest_add(ep, inner) != 0) {
            epoll_ctl(ep->fd, EPOLL_CTL_DEL, fd, NULL);
            rc = -ENOMEM;
        } else if (inner && op == EPOLL_CTL_DEL) {
            nest_del(ep, inner);
        }
    }
    if (inner)
        epoll_put(inner);
    return rc;
}

/* A kernel epoll descriptor cannot watch a ustack socket (its eventfd is not the socket).
 * Answer as Linux does for a descriptor it cannot poll, after its earlier checks. */
static int ctl_foreign(int epfd)
{
    static int probe = -1;
    if (fcntl(epfd, F_GETFD) < 0)
        return -EBADF;
    int fd = __atomic_load_n(&probe, __ATOMIC_ACQUIRE);
    if (fd < 0) {
        int made = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        int expect = -1;
        if (made >= 0 && !__atomic_compare_exchange_n(&probe, &expect, made, false,
                                                      __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            close(made);
        fd = __atomic_load_n(&probe, __ATOMIC_ACQUIRE);
    }
    /* ENOENT for our never-registered probe means epfd is an epoll instance. */
    if (fd >= 0 && epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL) < 0 && errno == ENOENT)
        return -EPERM;
    return -EINVAL;
}

int ust_epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
    /* Linux copies the event in before anything else. */
    if (op != EPOLL_CTL_DEL && !event)
        return ret_errno(-EFAULT);
    struct ep *ep = epoll_get(epfd);
    struct sock *so = sock_get(fd);
    int rc;
    if (!ep && !so)
        return epoll_ctl(epfd, op, fd, event);   /* the kernel's, errno and all */
    if (!ep)
        rc = ctl_foreign(epfd);
    else if (so)
        rc = ctl_sock(ep, op, fd, so, event);
    else
        rc = ctl_kernel(ep, op, fd, event);
    if (so)
        sock_put(so);
    if (ep)
        epoll_put(ep);
    return ret_errno(rc);
}

/* ---- epoll_wait ---- */

/* Reports the slot's ready items as Linux's ep_send_events. Its stack's lock and mtx held.
 * Returns the number of events, or -EFAULT when there was one to report and nowhere to put it. */
static int scan_slot(struct ep_slot *sl, struct epoll_event *events, int max)
{
    struct ep_list todo, again;
    list_init(&todo);
    list_init(&again);
    list_splice_tail(&todo, &sl->ready);
    int n = 0;
    while (!list_empty(&todo) && n < max) {
        struct ep_item *it = item_of(todo.next, ready);
        list_del(&it->ready);
        uint32_t ev = sock_poll_events(it->so) & it->events & ~EP_PRIVATE_BITS;
        if (!ev)
            continue;            /* no longer ready: off the list until notified */
        if (!events) {
            list_add_head(&todo, &it->ready);
            n = -EFAULT;
            break;
        }
        events[n].events = ev;
        events[n].data = it->data;
        n++;
        if (it->events & EPOLLONESHOT)
            it->events &= EP_PRIVATE_BITS;     /* disabled until EPOLL_CTL_MOD */
        else if (!(it->events & EPOLLET))
            list_add_tail(&again, &it->ready); /* level-triggered: looked at again next time */
    }
    /* What was not reached stays first; level-triggered items go behind it. */
    list_splice_tail(&sl->ready, &todo);
    list_splice_tail(&sl->ready, &again);
    return n;
}

/* The ustack sockets' part: runs each stack, then reports its slot. */
static int collect_ustack(struct ep *ep, struct epoll_event *events, int max)
{
    struct stack_ref local[8], *v;
    unsigned ns = slot_list(ep, local, 8, true, &v);
    int n = 0;
    for (unsigned i = 0; i < ns && n < max; i++) {
        stack_enter(v[i].stack);
        pthread_mutex_lock(&ep->mtx);
        struct ep_slot *sl = v[i].slot < ep->n_slots ? ep->slots[v[i].slot] : NULL;
        int k = 0;
        if (sl && sl->stack == v[i].stack)
            k = scan_slot(sl, events ? events + n : NULL, max - n);
        pthread_mutex_unlock(&ep->mtx);
        stack_leave(v[i].stack);
        if (k < 0) {
            n = n ? n : k;
            break;
        }
        n += k;
    }
    if (v != local)
        free(v);
    return n;
}

/* The kernel descriptors' part, without our own line's event. */
static int collect_kernel(struct ep *ep, struct epoll_event *events, int max)
{
    if (max <= 0)
        return 0;
    int k = epoll_wait(ep->fd, events, max, 0);
    if (k < 0)
        return -errno;
    int n = 0;
    for (int i = 0; i < k; i++)
        if (events[i].data.u64 != (uint64_t)(uintptr_t)ep)
            events[n++] = events[i];
    return n;
}

/* One look at everything. Returns the number of events or a negative errno. */
static int collect(struct ep *ep, struct epoll_event *events, int max)
{
    refresh_nested(ep, 0);
    pthread_mutex_lock(&ep->mtx);
    line_lower(ep);              /* we are looking now; raised again below if need be */
    bool kernel = ep->n_kernel > 0;
    bool kernel_first = ep->kernel_first = !ep->kernel_first;
    pthread_mutex_unlock(&ep->mtx);
    int n = 0;
    if (kernel && kernel_first)
        n = collect_kernel(ep, events, max);
    if (n >= 0) {
        int k = collect_ustack(ep, events ? events + n : NULL, max - n);
        n = k < 0 ? (n ? n : k) : n + k;
    }
    if (kernel && !kernel_first && n >= 0 && n < max) {
        int k = collect_kernel(ep, events ? events + n : NULL, max - n);
        n = k < 0 ? (n ? n : k) : n + k;
    }
    /* Level-triggered items left on the lists are for other sleepers and outer instances too
     * (Linux's ep_done_scan wakes the waiters again). */
    pthread_mutex_lock(&ep->mtx);
    if ((ep->sleepers || ep->watched) && has_ready(ep))
        line_raise(ep);
    pthread_mutex_unlock(&ep->mtx);
    return n;
}

struct stack_set {
    struct ust_stack **v;
    unsigned n, cap;
    struct ust_stack *local[8];
};

static int stack_set_add(void *ctx, struct ust_stack *s)
{
    struct stack_set *set = ctx;
    for (unsigned i = 0; i < set->n; i++)
        if (set->v[i] == s)
            return 0;
    if (set->n == set->cap) {
        unsigned cap = set->cap * 2;
        struct ust_stack **v = malloc(cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        memcpy(v, set->v, set->n * sizeof(*v));
        if (set->v != set->local)
            free(set->v);
        set->v = v;
        set->cap = cap;
    }
    set->v[set->n++] = s;
    return 0;
}

/* Registers (or not) as a sleeper; on registering, says whether something got ready after
 * all. The stacks need nothing: the instance's line is what notifications raise. */
static bool ep_arm(void *ctx, struct ust_stack *s, int delta)
{
    struct ep *ep = ctx;
    if (s)
        return false;
    pthread_mutex_lock(&ep->mtx);
    ep->sleepers += (unsigned)delta;
    bool ready = delta > 0 && has_ready(ep);
    pthread_mutex_unlock(&ep->mtx);
    return ready;
}

static int ep_sleep(struct ep *ep, uint64_t deadline, const sigset_t *sigmask)
{
    struct stack_set set = { .v = NULL, .cap = 8 };
    set.v = set.local;
    int err = epoll_for_each_stack(ep, stack_set_add, &set);
    if (!err) {
        struct pollfd own = { .fd = ep->fd, .events = POLLIN };
        struct sock_sleep w = { .stacks = set.v, .n_stacks = set.n, .fds = &own, .nfds = 1,
                                .arm = ep_arm, .ctx = ep, .sigmask = sigmask };
        err = sock_sleep(&w, deadline);
    }
    if (set.v != set.local)
        free(set.v);
    return err;
}

/* Busy polling: the largest spin time of the stacks behind the instance, and whether any of
 * them wants signals blocked while spinning (spin[2]). */
static int spin_add(void *ctx, struct ust_stack *s)
{
    uint64_t *spin = ctx;
    uint64_t t = stack_spin_until(s, spin[0]);
    if (t > spin[1])
        spin[1] = t;
    if (s->cfg.spin_signals)
        spin[2] = 1;
    return 0;
}

static int ep_wait(struct ep *ep, struct epoll_event *events, int maxevents, int timeout,
                   const sigset_t *sigmask)
{
    uint64_t start = clk_mono_ns();
    uint64_t deadline = timeout < 0 ? UINT64_MAX : start + (uint64_t)timeout * NS_PER_MS;
    uint64_t spin[3] = { start, start, 0 };    /* from, until, signals blocked */
    if (timeout != 0)
        epoll_for_each_stack(ep, spin_add, spin);
    struct spin sp = { .begun = false };
    int n;
    for (;;) {
        n = collect(ep, events, maxevents);
        uint64_t now = clk_mono_ns();
        if (n != 0 || timeout == 0 || now >= deadline)
            break;
        if (now < spin[1]) {
            /* Spinning: every round runs the stacks (collect checks their links). */
            if (!sp.begun)
                spin_begin(&sp, sigmask, spin[2] != 0);
            else if (spin_signalled(&sp))
                n = -EINTR;
            if (n)
                break;
            continue;
        }
        if (spin_end(&sp)) {
            n = -EINTR;
            break;
        }
        n = ep_sleep(ep, deadline, sigmask);
        if (n)
            break;
    }
    if (spin_end(&sp) && n == 0)
        n = -EINTR;
    return n;
}

int ust_epoll_pwait(int epfd, struct epoll_event *events, int maxevents, int timeout,
                    const sigset_t *sigmask)
{
    struct ep *ep = epoll_get(epfd);
    if (!ep)
        return epoll_pwait(epfd, events, maxevents, timeout, sigmask);   /* the kernel's */
    int rc = maxevents <= 0 || maxevents > EP_MAX_EVENTS
                 ? -EINVAL
                 : ep_wait(ep, events, maxevents, timeout, sigmask);
    epoll_put(ep);
    return ret_errno(rc);
}

int ust_epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
    return ust_epoll_pwait(epfd, events, maxevents, timeout, NULL);
}
