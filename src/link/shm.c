/*
 * The shared-memory wire (see shm.h for the file layout, the wakeup and peer-death protocols and
 * the ownership rules).
 *
 * Entry points: link_shm_open() / link_shm_open_spec(), then the link vtable; shm_layout() and
 * shm_hdr_validate() are exported for the tests.
 *
 * Opening, under an flock on the file so two openers never interleave:
 *   - an empty file is ours to lay out (we are the creator);
 *   - a file with a valid header whose other side is attached by a live process is joined;
 *   - a valid file nobody live is attached to (a stale wire) has its names removed, and we start
 *     again with a fresh file;
 *   - anything else (short file, bad magic, version, sizes or offsets, wrong owner or mode) is
 *     refused without being touched.
 */
#include "link/shm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "link/open.h"

CTR_DESCRIBE(shm_ctrs, SHM_COUNTERS)

#define PAGE 4096u

/* ---- Rings ---- */

void shm_ring_attach(struct shm_ring_end *e, struct shm_ring_ctl *ctl, uint32_t mask,
                     int produce)
{
    e->ctl = ctl;
    e->mask = mask;
    e->rereads = 0;
    uint32_t prod = atomic_load_explicit(&ctl->prod, memory_order_acquire);
    uint32_t cons = atomic_load_explicit(&ctl->cons, memory_order_acquire);
    e->mine = produce ? prod : cons;
    e->theirs = produce ? cons : prod;
}

/* ---- Layout and validation ---- */

static uint64_t round_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

static bool is_pow2(uint32_t v)
{
    return v && (v & (v - 1)) == 0;
}

int shm_layout(uint32_t mtu, uint32_t slots, struct shm_hdr *h)
{
    if (mtu < SHM_MIN_MTU || mtu > SHM_MAX_MTU || !is_pow2(slots) || slots < SHM_MIN_SLOTS ||
        slots > SHM_MAX_SLOTS)
        return -EINVAL;
    uint32_t buf_size = 256;
    while (buf_size < SHM_HEADROOM + SHM_ETH_HDR + mtu)
        buf_size <<= 1;
    memset(h, 0, sizeof(*h));
    h->magic = SHM_MAGIC;
    h->version = SHM_VERSION;
    h->hdr_size = sizeof(*h);
    h->mtu = mtu;
    h->slots = slots;
    h->buf_size = buf_size;
    h->headroom = SHM_HEADROOM;
    uint64_t off = round_up(sizeof(*h), PAGE);
    uint64_t used_bytes = sizeof(struct shm_ring_ctl) + (uint64_t)slots * sizeof(struct shm_desc);
    uint64_t free_bytes = sizeof(struct shm_ring_ctl) + (uint64_t)slots * sizeof(uint32_t);
    for (unsigned d = 0; d < 2; d++) {
        h->dir[d].used_off = off;
        off = round_up(off + used_bytes, 64);
        h->dir[d].free_off = off;
        off = round_up(off + free_bytes, 64);
    }
    off = round_up(off, PAGE);
    for (unsigned d = 0; d < 2; d++) {
        h->dir[d].slab_off = off;
        off += (uint64_t)slots * buf_size;
    }
    h->file_size = off;
    return 0;
}

int shm_hdr_validate(const struct shm_hdr *h, uint64_t file_size, const char **why)
{
    static const char *unused;
    if (!why)
        why = &unused;
    if (file_size < sizeof(*h))
        return *why = "file too short for a header", -EPROTO;
    if (h->magic != SHM_MAGIC)
        return *why = "bad magic: not a ustack shm wire file", -EPROTO;
    if (h->version != SHM_VERSION)
        return *why = "unsupported version", -EPROTO;
    if (h->hdr_size != sizeof(*h))
        return *why = "bad header size", -EINVAL;
    if (h->headroom != SHM_HEADROOM)
        return *why = "bad headroom", -EINVAL;
    struct shm_hdr want;
    if (shm_layout(h->mtu, h->slots, &want) != 0)
        return *why = "mtu or slots out of range", -EINVAL;
    if (h->buf_size != want.buf_size)
        return *why = "buffer size does not match the mtu", -EINVAL;
    if (h->file_size != want.file_size || h->file_size != file_size)
        return *why = "file size does not match the header", -EINVAL;
    for (unsigned d = 0; d < 2; d++)
        if (h->dir[d].used_off != want.dir[d].used_off ||
            h->dir[d].free_off != want.dir[d].free_off ||
            h->dir[d].slab_off != want.dir[d].slab_off)
            return *why = "ring or slab offset out of place", -EINVAL;
    return 0;
}

/* ---- The link ---- */

struct shm_link {
    struct link link;
    struct shm_ctrs ctrs;
    uint8_t *base;                 /* the whole file, mapped shared */
    size_t size;
    struct shm_hdr *hdr;
    unsigned side;
    uint32_t slots, buf_size, max_frame;
    /* Transmit (direction `side`): we fill the peer's buffers. */
    struct shm_ring_end tx_used;   /* producer */
    struct shm_ring_end tx_free;   /* consumer */
    struct shm_desc *tx_desc;
    uint32_t *tx_bufs;
    uint8_t *tx_slab;
    /* Receive (direction 1 - side): the peer fills ours. */
    struct shm_ring_end rx_used;   /* consumer */
    struct shm_ring_end rx_free;   /* producer */
    uint32_t free_lag;             /* the peer's free-ring consumer index minus its used-ring
                                    * producer index: constant, as it takes one buffer per frame */
    struct shm_desc *rx_desc;
    uint32_t *rx_bufs;
    struct pkt_pool *pool;         /* over our receive slab */
    struct pkt **posted;           /* posted[i]: buffer i's descriptor while the peer may fill it */
    struct shm_side_info *me, *peer;
    int fd;                        /* the file (for the flock at teardown) */
    int door_rx;                   /* our doorbell, read end: wait_fd */
    int door_tx;                   /* the peer's doorbell (O_RDWR: never blocks, never ENXIO) */
    int ready_fd;                  /* an eventfd that is always readable */
    bool armed;                    /* we set me->sleeping and have not cleared it */
    bool created;                  /* we laid the file out (unlinked again if opening fails) */
    bool down;
    bool verify_csum;              /* check received checksums (verify=1) instead of trusting */
    unsigned idle_polls;
    uint64_t next_liveness_ns;
    char path[PATH_MAX];
    char door[2][PATH_MAX];
    char ctr_name[48];
};

static const struct link_ops shm_ops;

static struct shm_link *shm_of(struct link *l)
{
    return (struct shm_link *)(void *)l;   /* the link is the first member */
}

static bool pid_alive(uint32_t pid)
{
    return pid != 0 && pid <= INT_MAX && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

static int go_down(struct shm_link *s, const char *why)
{
    if (!s->down)
        ust_log(UST_LOG_WARN, "shm link %s: %s; the link is down", s->path, why);
    s->down = true;
    return -ENETDOWN;
}

/* Reads the doorbell empty. -ENETDOWN if it hung up: the peer closed it, by exiting or not. */
static int drain_doorbell(struct shm_link *s)
{
    char buf[64];
    for (;;) {
        ssize_t r = read(s->door_rx, buf, sizeof(buf));
        if (r > 0 && r < (ssize_t)sizeof(buf))
            return 0;   /* a FIFO read that comes back short has emptied it: no EAGAIN round */
        if (r > 0)
            continue;
        if (r == 0 &&
            atomic_load_explicit(&s->peer->state, memory_order_acquire) != SHM_SIDE_FREE)
            return go_down(s, "the peer closed its end (it closed the link or exited)");
        return 0;   /* EAGAIN, or no peer yet (a FIFO nobody ever wrote reads as EOF) */
    }
}

/* The slow checks, made at most every SHM_LIVENESS_MS while the receive ring is idle. */
static int check_peer(struct shm_link *s)
{
    uint32_t st = atomic_load_explicit(&s->peer->state, memory_order_acquire);
    if (st == SHM_SIDE_DETACHED)
        return go_down(s, "the peer closed the wire");
    if (st == SHM_SIDE_ATTACHED &&
        !pid_alive(atomic_load_explicit(&s->peer->pid, memory_order_relaxed)))
        return go_down(s, "the peer's process is gone");
    return 0;
}

/* check_peer(), at most every SHM_LIVENESS_MS (kill() is a system call; the clock is not). */
static int maybe_check_peer(struct shm_link *s)
{
    uint64_t now = clk_mono_ns();
    if (now < s->next_liveness_ns)
        return 0;
    s->next_liveness_ns = now + SHM_LIVENESS_MS * NS_PER_MS;
    return check_peer(s);
}

/* Checks on the peer while the receive ring is empty. */
static int idle_check(struct shm_link *s)
{
    /* The peer writes its state once per session, so reading it on every idle poll is cheap;
     * the pid check is a system call, made at most every SHM_LIVENESS_MS. */
    if (atomic_load_explicit(&s->peer->state, memory_order_relaxed) == SHM_SIDE_DETACHED)
        return check_peer(s);
    if ((++s->idle_polls & 63) != 1)
        return 0;
    return maybe_check_peer(s);
}

/* The free ring's consumer index as the frames we took prove it: an honest sender takes one
 * posted buffer per frame and had read its entry before it published the frame, so entries up to
 * here may be written again without reading the shared index, a line the peer writes on every
 * burst (with every buffer posted, the ring always looks full: each refill reread it, a cache
 * miss per frame). Only moves the private copy forward and never past our own index, so a lying
 * peer can only lose buffers of its own wire. */
static void free_ring_catch_up(struct shm_link *s)
{
    uint32_t taken = s->rx_used.mine + s->free_lag;
    uint32_t gain = taken - s->rx_free.theirs;
    if (gain <= s->rx_free.mine - s->rx_free.theirs)
        s->rx_free.theirs = taken;
}

/* Posts every buffer our pool has back (the stack freed them) to the peer. */
static int refill(struct shm_link *s)
{
    uint32_t n = pkt_pool_count(s->pool) - pkt_pool_in_use(s->pool);
    if (!n)
        return 0;
    free_ring_catch_up(s);
    int64_t space = shm_ring_space(&s->rx_free, n);
    if (space < 0)
        return go_down(s, "the peer corrupted a free ring index");
    if (n > space)
        n = (uint32_t)space;   /* cannot happen with an honest peer: slots buffers, slots entries */
    struct pkt *batch[64];
    for (uint32_t done = 0; done < n;) {
        uint32_t k = n - done < 64 ? n - done : 64;
        if (pkt_alloc_bulk(s->pool, batch, k) != 0)
            break;   /* cannot happen: we counted them */
        for (uint32_t i = 0; i < k; i++) {
            s->posted[batch[i]->index] = batch[i];
            s->rx_bufs[s->rx_free.mine++ & s->rx_free.mask] = batch[i]->index;
        }
        done += k;
    }
    shm_ring_publish(&s->rx_free, 1);
    return 0;
}

/* After a possible sleep: if the peer rang (it clears our flag when it does), reads the doorbell
 * empty and disarms. A flag still set stays armed: another thread of the stack may be asleep on
 * the doorbell (the bottom-half helper), and the peer's next frames must wake it; the cost is
 * one doorbell write at most before the next sleep. */
static int check_doorbell(struct shm_link *s)
{
    if (atomic_load_explicit(&s->me->sleeping, memory_order_relaxed))
        return 0;
    s->armed = false;
    return drain_doorbell(s);
}

/* Takes one descriptor; the frame's packet, or NULL (bad descriptor, counted). */
static struct pkt *take_desc(struct shm_link *s)
{
    struct shm_desc d = s->rx_desc[s->rx_used.mine++ & s->rx_used.mask];   /* copied once */
    if (d.buf >= s->slots || !s->posted[d.buf]) {
        s->ctrs.rx_bad_desc++;
        return NULL;
    }
    struct pkt *p = s->posted[d.buf];
    s->posted[d.buf] = NULL;
    if (d.len < SHM_ETH_HDR || d.len > s->max_frame) {
        s->ctrs.rx_bad_desc++;
        pkt_free(p);   /* back to the pool: posted again by the next refill */
        return NULL;
    }
    /* pkt_alloc made it a fresh empty packet when it was posted, and nobody has touched the
     * descriptor since: only the length is new. */
    p->len = d.len;
    if (!s->verify_csum)
        p->flags |= PKT_F_CSUM_VALID;   /* see link_shm_open: nothing corrupts shared memory */
    return p;
}

static int shm_rx_burst(struct link *l, struct pkt **pkts, unsigned n)
{
    struct shm_link *s = shm_of(l);
    if (s->down)
        return -ENETDOWN;
    if (s->armed && check_doorbell(s) < 0)
        return -ENETDOWN;
    if (refill(s) < 0)
        return -ENETDOWN;
    int64_t avail = shm_ring_avail(&s->rx_used, n);
    if (avail < 0)
        return go_down(s, "the peer corrupted a ring index");
    unsigned got = 0, take = avail < n ? (unsigned)avail : n;
    for (unsigned i = 0; i < take; i++) {
        struct pkt *p = take_desc(s);
        if (p) {
            l->ctrs.rx_bytes += p->len;
            pkts[got++] = p;
        }
    }
    if (take) {
        shm_ring_publish(&s->rx_used, 0);
        s->idle_polls = 0;
    } else if (idle_check(s) < 0) {
        return -ENETDOWN;
    }
    l->ctrs.rx_frames += got;
    return (int)got;
}

static void ring_doorbell(struct shm_link *s)
{
    /* Pairs with the fence in shm_wait_fd(): either the peer sees our frames when it rereads
     * the ring after arming, or we see its flag here. */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&s->peer->sleeping, memory_order_relaxed) &&
        atomic_exchange_explicit(&s->peer->sleeping, 0, memory_order_relaxed)) {
        ssize_t r = write(s->door_tx, "", 1);
        (void)r;   /* EAGAIN: the FIFO is full of rings already, which wakes it as well */
        s->ctrs.tx_wakeups++;
    }
}

static int shm_tx_burst(struct link *l, struct pkt **pkts, unsigned n)
{
    struct shm_link *s = shm_of(l);
    if (s->down)
        return -ENETDOWN;
    int64_t bufs = shm_ring_avail(&s->tx_free, n);
    int64_t room = shm_ring_space(&s->tx_used, n);
    if (bufs < 0 || room < 0)
        return go_down(s, "the peer corrupted a ring index");
    if (bufs < n && maybe_check_peer(s) < 0)
        return -ENETDOWN;
    if (room < bufs)
        bufs = room;
    unsigned done = 0;
    uint32_t filled = 0;
    for (; done < n; done++) {
        struct pkt *p = pkts[done];
        uint32_t len = p->frag ? pkt_frame_len(p) : p->len;
        if (len > s->max_frame || len < SHM_ETH_HDR) {
            s->ctrs.tx_too_long++;
            pkt_free_frame(p);
            continue;
        }
        if (filled == bufs)
            break;
        uint32_t b = s->tx_bufs[s->tx_free.mine++ & s->tx_free.mask];
        if (b >= s->slots) {
            /* The peer posted a buffer it does not have: nothing we write can be trusted. */
            s->tx_free.mine--;
            shm_ring_publish(&s->tx_used, 1);
            shm_ring_publish(&s->tx_free, 0);
            return go_down(s, "the peer posted a bad buffer index");
        }
        uint8_t *dst = s->tx_slab + (size_t)b * s->buf_size + SHM_HEADROOM;
        if (p->frag)
            pkt_frame_copy(p, dst, len);
        else
            memcpy(dst, p->data, len);
        s->tx_desc[s->tx_used.mine++ & s->tx_used.mask] = (struct shm_desc){ .buf = b,
                                                                              .len = len };
        filled++;
        l->ctrs.tx_bytes += len;
        pkt_free_frame(p);
    }
    if (filled) {
        shm_ring_publish(&s->tx_used, 1);
        shm_ring_publish(&s->tx_free, 0);
        ring_doorbell(s);
        l->ctrs.tx_frames += filled;
    }
    return (int)done;   /* the caller keeps pkts[done..n) and counts them (link.h) */
}

/* Called by the stack just before it sleeps: arms our flag so the peer rings, and answers the
 * always-readable descriptor if there is something to do already. */
static int shm_wait_fd(struct link *l)
{
    struct shm_link *s = shm_of(l);
    if (s->down)
        return s->ready_fd;
    if (refill(s) < 0)
        return s->ready_fd;   /* rx_burst reports it */
    if (!s->armed) {
        s->armed = true;
        s->ctrs.rx_sleeps++;
        atomic_store_explicit(&s->me->sleeping, 1, memory_order_relaxed);
    }
    atomic_thread_fence(memory_order_seq_cst);
    if (shm_ring_avail(&s->rx_used, 1) != 0 ||
        atomic_load_explicit(&s->peer->state, memory_order_acquire) == SHM_SIDE_DETACHED)
        return s->ready_fd;
    return s->door_rx;
}

/* Removes the names (the file and its doorbells). The caller holds the file's flock. */
static void unlink_names(const char *path, char door[2][PATH_MAX])
{
    unlink(path);
    unlink(door[0]);
    unlink(door[1]);
}

static void shm_destroy(struct link *l)
{
    struct shm_link *s = shm_of(l);
    if (s->hdr) {
        if (s->fd >= 0)
            flock(s->fd, LOCK_EX);
        atomic_store_explicit(&s->me->state, SHM_SIDE_DETACHED, memory_order_release);
        if (atomic_load_explicit(&s->peer->state, memory_order_acquire) == SHM_SIDE_FREE)
            unlink_names(s->path, s->door);   /* nobody came: the names are still ours */
        if (s->door_tx >= 0) {
            ssize_t r = write(s->door_tx, "", 1);   /* wake it to see that we left */
            (void)r;
        }
    }
    if (s->posted)
        for (uint32_t i = 0; i < s->slots; i++)
            pkt_free(s->posted[i]);
    if (s->pool && pkt_pool_destroy(s->pool))
        ust_log(UST_LOG_ERROR, "shm link %s: received frames were still held at destroy",
                s->path);
    free(s->posted);
    if (s->base)
        munmap(s->base, s->size);
    if (s->door_rx >= 0)
        close(s->door_rx);
    if (s->door_tx >= 0)
        close(s->door_tx);
    if (s->ready_fd >= 0)
        close(s->ready_fd);
    if (s->fd >= 0)
        close(s->fd);   /* drops the flock */
    free(s);
}

static const struct link_ops shm_ops = {
    .rx_burst = shm_rx_burst,
    .tx_burst = shm_tx_burst,
    .wait_fd = shm_wait_fd,
    .destroy = shm_destroy,
};

/* ---- Opening ---- */

/* Checks that an object we opened is ours alone: the right type, our uid, no group or other
 * permission. */
static int check_owned(int fd, mode_t type, const char *what, const char *path, struct stat *st)
{
    if (fstat(fd, st) < 0)
        return -errno;
    if ((st->st_mode & S_IFMT) != type) {
        ust_log(UST_LOG_ERROR, "shm link: %s %s is not a %s", what, path,
                type == S_IFREG ? "regular file" : "FIFO");
        return -EINVAL;
    }
    if (st->st_uid != geteuid() || (st->st_mode & 077) != 0) {
        ust_log(UST_LOG_ERROR, "shm link: %s %s must be owned by us with mode 0600 (uid %u, "
                "mode %03o)", what, path, (unsigned)st->st_uid, (unsigned)(st->st_mode & 0777));
        return -EINVAL;
    }
    return 0;
}

static int open_doorbells(struct shm_link *s)
{
    s->door_rx = open(s->door[s->side], O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
    s->door_tx = open(s->door[1 - s->side], O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
    if (s->door_rx < 0 || s->door_tx < 0) {
        int err = -errno;
        ust_log(UST_LOG_ERROR, "shm link %s: cannot open its doorbells: %s", s->path,
                strerror(-err));
        return err;
    }
    struct stat st;
    int err = check_owned(s->door_rx, S_IFIFO, "doorbell", s->door[s->side], &st);
    if (!err)
        err = check_owned(s->door_tx, S_IFIFO, "doorbell", s->door[1 - s->side], &st);
    return err;
}

/* Lays out a new wire in the empty file. */
static int create_wire(struct shm_link *s, const struct shm_config *cfg)
{
    struct shm_hdr h;
    uint32_t mtu = cfg->mtu ? cfg->mtu : cfg->default_mtu ? cfg->default_mtu : 1500;
    uint32_t slots = cfg->slots;
    if (!slots) {
        struct shm_hdr probe;
        if (shm_layout(mtu, 2, &probe) != 0)
            goto bad;
        slots = (8u << 20) / probe.buf_size;
        slots = slots > 1024 ? 1024 : slots < 64 ? 64 : slots;
    }
    if (shm_layout(mtu, slots, &h) != 0)
        goto bad;
    if (ftruncate(s->fd, (off_t)h.file_size) < 0)
        return -errno;
    s->size = h.file_size;
    s->base = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
    if (s->base == MAP_FAILED) {
        s->base = NULL;
        return -errno;
    }
    memcpy(s->base, &h, sizeof(h));
    /* Every buffer starts posted: the first side may send before the second arrives. */
    for (unsigned d = 0; d < 2; d++) {
        struct shm_ring_ctl *fc = (struct shm_ring_ctl *)(void *)(s->base + h.dir[d].free_off);
        uint32_t *bufs = (uint32_t *)(void *)(fc + 1);
        for (uint32_t i = 0; i < slots; i++)
            bufs[i] = i;
        atomic_store_explicit(&fc->prod, slots, memory_order_release);
    }
    for (unsigned d = 0; d < 2; d++) {
        unlink(s->door[d]);
        if (mkfifo(s->door[d], 0600) < 0) {
            int err = -errno;
            ust_log(UST_LOG_ERROR, "shm link: cannot create %s: %s", s->door[d], strerror(-err));
            return err;
        }
    }
    return 0;
bad:
    ust_log(UST_LOG_ERROR, "shm link %s: mtu must be %u..%u and slots a power of two %u..%u",
            s->path, SHM_MIN_MTU, SHM_MAX_MTU, SHM_MIN_SLOTS, SHM_MAX_SLOTS);
    return -EINVAL;
}

enum join_verdict { JOIN_OK, JOIN_STALE };

/* Validates the file's header and decides whether we may join it. */
static int examine_wire(struct shm_link *s, const struct shm_config *cfg, const struct stat *st,
                        enum join_verdict *verdict)
{
    struct shm_hdr h;
    const char *why = "file too short for a header";
    int err = -EPROTO;
    ssize_t got = pread(s->fd, &h, sizeof(h), 0);
    if (got == (ssize_t)sizeof(h))
        err = shm_hdr_validate(&h, (uint64_t)st->st_size, &why);
    if (err) {
        ust_log(UST_LOG_ERROR, "shm link %s: refused: %s", s->path, why);
        return err;
    }
    s->size = h.file_size;
    s->base = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
    if (s->base == MAP_FAILED) {
        s->base = NULL;
        return -errno;
    }
    struct shm_hdr *m = (struct shm_hdr *)(void *)s->base;
    struct shm_side_info *me = &m->side[s->side], *peer = &m->side[1 - s->side];
    uint32_t my_pid = atomic_load(&me->pid), peer_pid = atomic_load(&peer->pid);
    if (atomic_load(&me->state) == SHM_SIDE_ATTACHED && pid_alive(my_pid)) {
        ust_log(UST_LOG_ERROR, "shm link %s: side %u is attached by live process %u", s->path,
                s->side, my_pid);
        return -EBUSY;
    }
    bool peer_live = atomic_load(&peer->state) == SHM_SIDE_ATTACHED && pid_alive(peer_pid);
    *verdict = peer_live && atomic_load(&me->state) == SHM_SIDE_FREE ? JOIN_OK : JOIN_STALE;
    if (*verdict == JOIN_OK &&
        ((cfg->mtu && cfg->mtu != h.mtu) || (cfg->slots && cfg->slots != h.slots))) {
        ust_log(UST_LOG_ERROR, "shm link %s: the wire has mtu=%u,slots=%u; asked for mtu=%u,"
                "slots=%u", s->path, h.mtu, h.slots, cfg->mtu, cfg->slots);
        return -EINVAL;
    }
    return 0;
}

/* Sets up our views of the rings, the receive pool and the descriptors. */
static int attach_views(struct shm_link *s)
{
    struct shm_hdr *h = s->hdr = (struct shm_hdr *)(void *)s->base;
    s->slots = h->slots;
    s->buf_size = h->buf_size;
    s->max_frame = h->mtu + SHM_ETH_HDR;
    uint32_t mask = s->slots - 1;
    const struct shm_dir_layout *tx = &h->dir[s->side], *rx = &h->dir[1 - s->side];
    struct shm_ring_ctl *c;
    c = (struct shm_ring_ctl *)(void *)(s->base + tx->used_off);
    shm_ring_attach(&s->tx_used, c, mask, 1);
    s->tx_desc = (struct shm_desc *)(void *)(c + 1);
    c = (struct shm_ring_ctl *)(void *)(s->base + tx->free_off);
    shm_ring_attach(&s->tx_free, c, mask, 0);
    s->tx_bufs = (uint32_t *)(void *)(c + 1);
    s->tx_slab = s->base + tx->slab_off;
    c = (struct shm_ring_ctl *)(void *)(s->base + rx->used_off);
    shm_ring_attach(&s->rx_used, c, mask, 0);
    s->rx_desc = (struct shm_desc *)(void *)(c + 1);
    c = (struct shm_ring_ctl *)(void *)(s->base + rx->free_off);
    shm_ring_attach(&s->rx_free, c, mask, 1);
    s->rx_bufs = (uint32_t *)(void *)(c + 1);
    /* The free ring's consumer index first: the peer publishes it after the used ring's
     * producer index, so reading them in this order can only underestimate the lag (safe: a
     * lower bound) if the peer is sending meanwhile. */
    uint32_t free_cons = atomic_load_explicit(&c->cons, memory_order_acquire);
    uint32_t used_prod = atomic_load_explicit(&((struct shm_ring_ctl *)(void *)(s->base +
                                                rx->used_off))->prod, memory_order_acquire);
    s->free_lag = free_cons - used_prod;
    s->me = &h->side[s->side];
    s->peer = &h->side[1 - s->side];

    char name[64];
    snprintf(name, sizeof(name), "shm%u.rx", s->side);
    struct pkt_pool_config pc = { .name = name, .count = s->slots, .buf_size = s->buf_size,
                                  .headroom = SHM_HEADROOM, .region = s->base + rx->slab_off };
    int err = pkt_pool_create(&pc, &s->pool);
    if (err)
        return err;
    s->posted = calloc(s->slots, sizeof(*s->posted));
    if (!s->posted)
        return -ENOMEM;
    /* Nobody has received in this direction yet (we are its receiver): every buffer is posted. */
    for (uint32_t i = 0; i < s->slots; i++) {
        struct pkt *p = pkt_alloc(s->pool);
        s->posted[p->index] = p;
    }
    return 0;
}

/* One attempt: 0 (attached), 1 (a stale wire was removed: try again), or a negative errno. */
static int try_open(struct shm_link *s, const struct shm_config *cfg)
{
    s->fd = open(s->path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (s->fd < 0) {
        int err = -errno;
        ust_log(UST_LOG_ERROR, "shm link: cannot open %s: %s", s->path, strerror(-err));
        return err;
    }
    if (flock(s->fd, LOCK_EX) < 0)
        return -errno;
    struct stat st;
    int err = check_owned(s->fd, S_IFREG, "file", s->path, &st);
    if (err)
        return err;
    if (st.st_nlink == 0)
        return 1;   /* removed while we waited for the lock */
    bool creator = st.st_size == 0;
    if (creator) {
        s->created = true;
        if ((err = create_wire(s, cfg)) != 0)
            return err;
    } else {
        enum join_verdict v = JOIN_STALE;
        if ((err = examine_wire(s, cfg, &st, &v)) != 0)
            return err;
        if (v == JOIN_STALE) {
            ust_log(UST_LOG_INFO, "shm link %s: stale wire (nobody live attached): starting "
                    "a fresh one", s->path);
            unlink_names(s->path, s->door);
            return 1;
        }
    }
    if ((err = open_doorbells(s)) != 0 || (err = attach_views(s)) != 0)
        return err;
    atomic_store_explicit(&s->me->pid, (uint32_t)getpid(), memory_order_relaxed);
    atomic_store_explicit(&s->me->state, SHM_SIDE_ATTACHED, memory_order_release);
    if (!creator)
        unlink_names(s->path, s->door);   /* both attached: the names have served */
    flock(s->fd, LOCK_UN);
    return 0;
}

static void reset_attempt(struct shm_link *s)
{
    if (s->base)
        munmap(s->base, s->size);
    s->base = NULL;
    s->hdr = NULL;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

int link_shm_open(const struct shm_config *cfg, struct link **out)
{
    if (!cfg || !cfg->path || !*cfg->path || cfg->side > 1 ||
        strlen(cfg->path) + 8 >= PATH_MAX) {
        ust_log(UST_LOG_ERROR, "shm link: needs a path and side=0 or side=1");
        return -EINVAL;
    }
    struct shm_hdr probe;
    if ((cfg->mtu && shm_layout(cfg->mtu, SHM_MIN_SLOTS, &probe) != 0) ||
        (cfg->slots && shm_layout(1500, cfg->slots, &probe) != 0)) {
        ust_log(UST_LOG_ERROR, "shm link %s: mtu must be %u..%u and slots a power of two %u..%u",
                cfg->path, SHM_MIN_MTU, SHM_MAX_MTU, SHM_MIN_SLOTS, SHM_MAX_SLOTS);
        return -EINVAL;
    }
    struct shm_link *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->fd = s->door_rx = s->door_tx = -1;
    s->side = cfg->side;
    snprintf(s->path, sizeof(s->path), "%s", cfg->path);
    for (unsigned d = 0; d < 2; d++)
        snprintf(s->door[d], sizeof(s->door[d]), "%s.door%u", cfg->path, d);
    s->ready_fd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
    int err = s->ready_fd < 0 ? -errno : 1;
    for (int attempt = 0; attempt < 4 && err == 1; attempt++) {
        err = try_open(s, cfg);
        if (err == 1)
            reset_attempt(s);
    }
    if (err) {
        if (err == 1) {
            ust_log(UST_LOG_ERROR, "shm link %s: the name keeps changing under us", s->path);
            err = -EAGAIN;
        }
        if (s->created && s->fd >= 0)
            unlink_names(s->path, s->door);   /* ours, half made: nobody can use it */
        s->hdr = NULL;   /* not attached: leave the file's state alone */
        shm_destroy(&s->link);
        return err;
    }
    char name[32];
    const char *base = strrchr(cfg->path, '/');
    snprintf(name, sizeof(name), "shm:%s.%u", base ? base + 1 : cfg->path, cfg->side);
    link_init(&s->link, &shm_ops, name);
    s->link.caps.mtu = s->hdr->mtu;
    /* Received checksums are trusted (LINK_OFF_RX_CSUM: every frame is marked valid), as
     * Linux trusts them on loopback and veth: a frame crosses by one copy in memory, which no
     * medium can corrupt, and a checksum is no defence against a peer that means harm (it can
     * compute valid ones). The sender still computes them (its payload sum comes with the
     * copy into the segment), so captures show correct frames; verify=1 checks them anyway. */
    s->verify_csum = cfg->verify_csum;
    s->link.caps.offloads = LINK_TX_SYNC | LINK_OFF_SG | (cfg->verify_csum ? 0 : LINK_OFF_RX_CSUM);
    snprintf(s->ctr_name, sizeof(s->ctr_name), "%s.shm", s->link.name);
    *out = &s->link;
    return 0;
}

static int parse_u32(const char *v, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long x = strtoul(v, &end, 10);
    if (errno || end == v || *end || x > UINT32_MAX)
        return -EINVAL;
    *out = (uint32_t)x;
    return 0;
}

int link_shm_open_spec(const char *arg, const struct link_env *env, struct link **out)
{
    char buf[PATH_MAX + 64];
    if (strlen(arg) >= sizeof(buf))
        return -EINVAL;
    snprintf(buf, sizeof(buf), "%s", arg);
    struct shm_config cfg = { .side = 2 };
    char *save = NULL;
    char *path = strtok_r(buf, ",", &save);
    int err = path ? 0 : -EINVAL;
    for (char *kv; !err && (kv = strtok_r(NULL, ",", &save)) != NULL;) {
        char *eq = strchr(kv, '=');
        uint32_t v = 0;
        if (!eq || parse_u32(eq + 1, &v) != 0)
            err = -EINVAL;
        else if (strncmp(kv, "side=", 5) == 0 && v <= 1)
            cfg.side = v;
        else if (strncmp(kv, "mtu=", 4) == 0)
            cfg.mtu = v;
        else if (strncmp(kv, "slots=", 6) == 0)
            cfg.slots = v;
        else if (strncmp(kv, "verify=", 7) == 0 && v <= 1)
            cfg.verify_csum = v;
        else
            err = -EINVAL;
    }
    if (err || cfg.side > 1) {
        ust_log(UST_LOG_ERROR, "link \"shm:%s\": expected shm:PATH,side=0|1[,mtu=N][,slots=N][,verify=0|1]",
                arg);
        return -EINVAL;
    }
    cfg.path = path;
    /* Without mtu=, a new wire takes the stack's MTU (as much of it as a buffer holds). */
    if (env && env->mtu)
        cfg.default_mtu = env->mtu < SHM_MAX_MTU ? env->mtu : SHM_MAX_MTU;
    return link_shm_open(&cfg, out);
}

const struct shm_ctrs *link_shm_counters(struct link *l)
{
    struct shm_link *s = shm_of(l);
    s->ctrs.ring_rereads = s->tx_used.rereads + s->tx_free.rereads + s->rx_used.rereads +
                           s->rx_free.rereads;
    return &s->ctrs;
}

struct ctr_group link_shm_ctr_group(struct link *l)
{
    struct shm_link *s = shm_of(l);
    link_shm_counters(l);
    return CTR_GROUP(s->ctr_name, shm_ctrs, &s->ctrs);
}
