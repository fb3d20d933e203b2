/*
 * The AF_XDP link: frames to and from one queue of an existing interface through an XDP socket
 * ("afxdp:IFNAME[,queue=N][,zerocopy=0|1]"), using libxdp for the rings and for the XDP program
 * that steers the queue's frames to the socket (libxdp's bundled default program: nothing is
 * compiled, no clang needed).
 *
 * UMEM: the stack's packet pool region (base/pkt.h) is registered as the socket's UMEM, one
 * UMEM chunk per pool buffer (aligned mode, chunk size = buffer size, so 2 KiB or 4 KiB). A
 * frame's UMEM address is simply its offset in the region, and pkt_pool_lookup() turns an
 * address the kernel returns back into the packet descriptor. No frame is ever copied by us:
 *
 *   fill ring        buffers taken from the pool (pkt_alloc) and lent to the kernel to receive
 *                    into; they stay "in use" in the pool while the kernel holds them.
 *   rx ring          the kernel gives a filled buffer back: its descriptor becomes the received
 *                    packet (data = the address the kernel wrote at, len = its length) and is
 *                    handed to the caller, who owns it from then on. The kernel writes a frame
 *                    XDP_PACKET_HEADROOM (256) bytes into its chunk, more than the pool's own
 *                    headroom, so headers can still be pushed in front of it.
 *   tx ring          tx_burst puts the caller's frame (its data offset and length) on the ring;
 *                    the buffer now belongs to the kernel ...
 *   completion ring  ... until its address comes back here, when it is returned to the pool
 *                    (pkt_free). Hence this link is not LINK_TX_SYNC: a frame is in flight
 *                    after tx_burst returns, so it must not be shared (pkt_ref).
 *
 * Every buffer lent to the kernel has a bit in `lent`; an address the kernel hands back for a
 * buffer we did not lend (a kernel bug or a corrupted ring) is counted and ignored, never
 * trusted, and destroy() returns every buffer still lent once the socket is closed.
 *
 * Wake-ups (XDP_USE_NEED_WAKEUP): the kernel sets a flag on the tx ring and the fill ring when
 * it needs a system call to make progress; we make one (sendto for tx, recvfrom for the fill
 * ring) only then. In copy mode the kernel moves at most 32 frames per sendto (TX_BATCH_SIZE in
 * net/xdp/xsk.c) and answers EAGAIN when more remain, so the kick is repeated; a kick that could
 * not finish is retried on the next rx_burst or tx_burst, and next_event_ns asks for one soon.
 *
 * Modes: zero-copy needs driver support (veth has none: EOPNOTSUPP); then we fall back to copy
 * mode and say so. libxdp attaches its program in native (driver) mode; where the driver
 * refuses (veth above an MTU of about 3.5 KB: ERANGE) we retry in generic (skb) mode and say so.
 *
 * Checksums: AF_XDP carries no checksum metadata, so frames the kernel generated with a partial
 * checksum (veth with tx checksum offload on the other end) arrive with an unfinished checksum
 * and are dropped as bad by the stack. The kernel end of such a link must not offload its
 * transmit checksums (ethtool -K DEV tx off), as with any real wire.
 */
#include "link/afxdp.h"

#include <errno.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

#include "base/log.h"
#include "link/ifinfo.h"

CTR_DESCRIBE(afxdp_ctrs, AFXDP_COUNTERS)

const int link_afxdp_built = 1;

#define RING_MAX 2048u           /* entries per ring (each a power of two) */
#define RING_MIN 8u
#define TX_BURST_MAX 64u
#define COMP_BATCH 256u
#define KICK_TRIES 8u            /* sendto calls per kick before leaving the rest for later */
#define UMEM_CHUNK_MAX 4096u     /* aligned-mode chunks are at most a page */
#define BUSY_RETRIES 100u        /* waiting for the kernel to release a queue: 100 x 10 ms */
#define BUSY_RETRY_US 10000u

struct afxdp_link {
    struct link link;
    struct xsk_umem *umem;
    struct xsk_socket *xsk;
    struct xsk_ring_prod fill;
    struct xsk_ring_cons comp;
    struct xsk_ring_cons rx;
    struct xsk_ring_prod tx;
    int fd;
    struct pkt_pool *pool;
    uint8_t *region;
    size_t region_size;
    uint32_t buf_size;
    uint32_t buf_shift;
    uint32_t ring_size;          /* entries in each of the four rings */
    uint32_t fill_target;        /* buffers we try to keep lent on the fill ring */
    uint32_t fill_lent;          /* buffers on the fill ring or being filled */
    uint32_t tx_lent;            /* buffers on the tx ring or awaiting completion */
    uint64_t *lent;              /* one bit per pool buffer: lent to the kernel */
    bool zerocopy;
    bool skb_mode;               /* generic XDP: native refused */
    bool need_wakeup;            /* the kernel honours XDP_USE_NEED_WAKEUP */
    bool kick_pending;           /* frames left on the tx ring without a finished kick */
    struct afxdp_ctrs ctrs;
};

static struct afxdp_link *xl_of(struct link *l)
{
    return (struct afxdp_link *)(void *)l;   /* the link is the first member */
}

/* ---- The lent-buffer map ---- */

static bool lent_test(const struct afxdp_link *x, uint32_t i)
{
    return (x->lent[i >> 6] >> (i & 63)) & 1;
}

static void lent_set(struct afxdp_link *x, uint32_t i)
{
    x->lent[i >> 6] |= (uint64_t)1 << (i & 63);
}

static void lent_clear(struct afxdp_link *x, uint32_t i)
{
    x->lent[i >> 6] &= ~((uint64_t)1 << (i & 63));
}

/* The packet whose buffer holds UMEM address addr and is lent to the kernel (and, with len,
 * whose chunk holds [addr, addr + len)), or NULL. */
static struct pkt *lent_pkt(struct afxdp_link *x, uint64_t addr, uint32_t len)
{
    if (addr >= x->region_size)
        return NULL;
    uint32_t i = (uint32_t)(addr >> x->buf_shift);
    uint64_t off = addr & (x->buf_size - 1);
    if (!lent_test(x, i) || off + len > x->buf_size)
        return NULL;
    return pkt_pool_lookup(x->pool, addr);
}

/* ---- Kernel wake-ups ---- */

/* Tells the kernel to transmit what is on the tx ring, if it needs telling. */
static void kick_tx(struct afxdp_link *x)
{
    x->kick_pending = false;
    if (x->need_wakeup && !xsk_ring_prod__needs_wakeup(&x->tx))
        return;
    for (unsigned i = 0; i < KICK_TRIES; i++) {
        x->ctrs.tx_kicks++;
        if (sendto(x->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0)
            return;
        switch (errno) {
        case EINTR:
        case EAGAIN:     /* copy mode: 32 frames per call, more remain */
            continue;
        case EBUSY:      /* the completion ring is full or another kick is running */
        case ENOBUFS:    /* the kernel could not allocate an skb (copy mode) */
            x->kick_pending = true;
            return;
        case ENETDOWN:
        case ENXIO:
            return;      /* the frames complete (as errors) or wait for the link */
        default:
            x->ctrs.tx_kick_errors++;
            return;
        }
    }
    x->kick_pending = true;
}

static void kick_fill(struct afxdp_link *x)
{
    if (x->need_wakeup && xsk_ring_prod__needs_wakeup(&x->fill)) {
        x->ctrs.rx_kicks++;
        recvfrom(x->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
    }
}

/* ---- Rings ---- */

/* Returns transmitted buffers to the pool. */
static void reclaim_completions(struct afxdp_link *x)
{
    uint32_t idx;
    uint32_t n;
    while ((n = xsk_ring_cons__peek(&x->comp, COMP_BATCH, &idx)) > 0) {
        for (uint32_t i = 0; i < n; i++) {
            uint64_t addr = *xsk_ring_cons__comp_addr(&x->comp, idx + i);
            struct pkt *p = lent_pkt(x, addr, 0);
            if (!p) {
                x->ctrs.comp_bad_desc++;
                continue;
            }
            lent_clear(x, p->index);
            x->tx_lent--;
            pkt_free(p);
        }
        xsk_ring_cons__release(&x->comp, n);
        if (n < COMP_BATCH)
            break;
    }
}

/* Lends pool buffers to the fill ring, up to fill_target, keeping a quarter of the pool free
 * for the stack itself. */
static void refill(struct afxdp_link *x)
{
    uint32_t want = x->fill_target - x->fill_lent;
    if (want == 0)
        return;
    uint32_t count = pkt_pool_count(x->pool);
    uint32_t avail = count - pkt_pool_in_use(x->pool);
    uint32_t reserve = count / 4;
    avail = avail > reserve ? avail - reserve : 0;
    if (want > avail)
        want = avail;
    uint32_t idx;
    if (want == 0 || xsk_ring_prod__reserve(&x->fill, want, &idx) != want) {
        if (x->fill_lent == 0)
            x->ctrs.fill_short++;
        return;
    }
    for (uint32_t i = 0; i < want; i++) {
        struct pkt *p = pkt_alloc(x->pool);   /* cannot fail: avail counted free buffers */
        lent_set(x, p->index);
        *xsk_ring_prod__fill_addr(&x->fill, idx + i) = (uint64_t)p->index << x->buf_shift;
    }
    xsk_ring_prod__submit(&x->fill, want);
    x->fill_lent += want;
    kick_fill(x);
}

static int xl_rx_burst(struct link *l, struct pkt **pkts, unsigned n)
{
    struct afxdp_link *x = xl_of(l);
    reclaim_completions(x);
    if (x->kick_pending)
        kick_tx(x);
    uint32_t idx;
    uint32_t got = xsk_ring_cons__peek(&x->rx, n, &idx);
    unsigned out = 0;
    for (uint32_t i = 0; i < got; i++) {
        const struct xdp_desc *d = xsk_ring_cons__rx_desc(&x->rx, idx + i);
        struct pkt *p = lent_pkt(x, d->addr, d->len);
        if (!p) {
            x->ctrs.rx_bad_desc++;
            continue;
        }
        lent_clear(x, p->index);
        x->fill_lent--;
        /* The descriptor was initialised by pkt_alloc when it was lent, and nothing has
         * touched it since: only the extent is new. */
        p->data = x->region + d->addr;
        p->len = d->len;
        l->ctrs.rx_frames++;
        l->ctrs.rx_bytes += d->len;
        pkts[out++] = p;
    }
    if (got)
        xsk_ring_cons__release(&x->rx, got);
    refill(x);
    return (int)out;
}

/* A frame tx_burst can put on the ring as it is: one unshared buffer of our pool. Otherwise a
 * copy in a fresh pool buffer (and the original is freed), or NULL if the pool is empty or the
 * frame does not fit a buffer. */
static struct pkt *tx_frame(struct afxdp_link *x, struct pkt *p)
{
    if (p->pool == x->pool && !p->frag && !pkt_is_shared(p))
        return p;
    uint32_t len = pkt_frame_len(p);
    struct pkt *c = len <= x->buf_size - pkt_pool_headroom(x->pool) ? pkt_alloc(x->pool) : NULL;
    if (c) {
        c->len = pkt_frame_copy(p, c->data, len);
        x->ctrs.tx_copied++;
    }
    pkt_free_frame(p);
    return c;
}

static int xl_tx_burst(struct link *l, struct pkt **pkts, unsigned n)
{
    struct afxdp_link *x = xl_of(l);
    reclaim_completions(x);
    if (n > TX_BURST_MAX)
        n = TX_BURST_MAX;
    uint32_t idx;
    uint32_t k = xsk_ring_prod__reserve(&x->tx, n, &idx);
    if (k == 0) {
        kick_tx(x);    /* make room: the kernel may be waiting for a kick */
        return 0;
    }
    uint32_t used = 0;
    for (uint32_t i = 0; i < k; i++) {
        struct pkt *p = tx_frame(x, pkts[i]);
        if (!p) {
            x->ctrs.tx_nobufs++;   /* consumed and lost */
            continue;
        }
        struct xdp_desc *d = xsk_ring_prod__tx_desc(&x->tx, idx + used++);
        d->addr = (uint64_t)(p->data - x->region);
        d->len = p->len;
        d->options = 0;
        lent_set(x, p->index);
        x->tx_lent++;
        l->ctrs.tx_frames++;
        l->ctrs.tx_bytes += p->len;
    }
    /* Reserved slots a failed copy left unused are given back (the producer index has not
     * been published yet, so this only moves our cached copy). */
    x->tx.cached_prod -= k - used;
    if (used)
        xsk_ring_prod__submit(&x->tx, used);
    kick_tx(x);
    return (int)k;
}

static int xl_wait_fd(struct link *l)
{
    return xl_of(l)->fd;
}

static uint64_t xl_next_event_ns(struct link *l)
{
    /* A kick that could not finish: poll again at once rather than sleep on frames we hold. */
    return xl_of(l)->kick_pending ? 0 : UINT64_MAX;
}

static void read_xdp_stats(struct afxdp_link *x)
{
    struct xdp_statistics st;
    socklen_t len = sizeof(st);
    if (x->fd >= 0 && getsockopt(x->fd, SOL_XDP, XDP_STATISTICS, &st, &len) == 0) {
        x->ctrs.xsk_rx_dropped = st.rx_dropped;
        x->ctrs.xsk_rx_ring_full = st.rx_ring_full;
        x->ctrs.xsk_fill_empty = st.rx_fill_ring_empty_descs;
        x->ctrs.xsk_tx_invalid = st.tx_invalid_descs;
    }
}

static void xl_destroy(struct link *l)
{
    struct afxdp_link *x = xl_of(l);
    read_xdp_stats(x);
    if (x->ctrs.xsk_rx_dropped || x->ctrs.xsk_tx_invalid || x->ctrs.rx_bad_desc ||
        x->ctrs.comp_bad_desc)
        ust_log(UST_LOG_WARN, "%s: kernel dropped %llu, rx ring full %llu, fill ring empty "
                "%llu, invalid tx %llu; bad rx descriptors %llu, bad completions %llu",
                l->name, (unsigned long long)x->ctrs.xsk_rx_dropped,
                (unsigned long long)x->ctrs.xsk_rx_ring_full,
                (unsigned long long)x->ctrs.xsk_fill_empty,
                (unsigned long long)x->ctrs.xsk_tx_invalid,
                (unsigned long long)x->ctrs.rx_bad_desc,
                (unsigned long long)x->ctrs.comp_bad_desc);
    /* Closing the socket and the UMEM ends the kernel's use of every buffer we lent it. */
    if (x->xsk)
        xsk_socket__delete(x->xsk);
    if (x->umem)
        xsk_umem__delete(x->umem);
    if (x->lent) {
        uint32_t count = pkt_pool_count(x->pool);
        for (uint32_t i = 0; i < count; i++)
            if (lent_test(x, i))
                pkt_free(pkt_pool_lookup(x->pool, (uint64_t)i << x->buf_shift));
        free(x->lent);
    }
    free(x);
}

static const struct link_ops xl_ops = {
    .rx_burst = xl_rx_burst,
    .tx_burst = xl_tx_burst,
    .wait_fd = xl_wait_fd,
    .next_event_ns = xl_next_event_ns,
    .destroy = xl_destroy,
};

/* ---- Opening ---- */

/* libbpf and libxdp print to stderr by default, including chatter such as "No bpffs found"
 * on every start; their lines go to our log at debug level instead (UST_LOG=debug shows them).
 * Our own messages carry the errno of whatever failed. */
__attribute__((format(printf, 2, 0)))
static void lib_vprint(const char *lib, const char *fmt, va_list ap)
{
    char line[400];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n')
        line[--n] = 0;
    ust_debug("afxdp: %s: %s", lib, line);
}

__attribute__((format(printf, 2, 0)))
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    (void)level;
    lib_vprint("libbpf", fmt, ap);
    return 0;
}

__attribute__((format(printf, 2, 0)))
static int libxdp_print(enum libxdp_print_level level, const char *fmt, va_list ap)
{
    (void)level;
    lib_vprint("libxdp", fmt, ap);
    return 0;
}

static void set_printers(void)
{
    libbpf_set_print(libbpf_print);
    libxdp_set_print(libxdp_print);
}

struct afxdp_opts {
    char ifname[IFNAMSIZ];
    uint32_t queue;
    int zerocopy;                /* -1: try, fall back; 0: copy mode; 1: zero-copy or fail */
};

static int parse_uint_opt(const char *v, uint32_t max, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (end == v || (*end && *end != ',') || errno || n > max || *v == '-')
        return -EINVAL;
    *out = (uint32_t)n;
    return 0;
}

static int parse_spec(const char *spec, struct afxdp_opts *o)
{
    const char *opts;
    o->queue = 0;
    o->zerocopy = -1;
    if (ifspec_split(spec, o->ifname, sizeof(o->ifname), &opts) != 0)
        return -EINVAL;
    for (const char *p = opts; p && *p;) {
        const char *v;
        uint32_t n;
        if ((v = ifspec_option(p, "queue")) == p + 6) {
            if (parse_uint_opt(v, 1u << 16, &o->queue))
                return -EINVAL;
        } else if ((v = ifspec_option(p, "zerocopy")) == p + 9) {
            if (parse_uint_opt(v, 1, &n))
                return -EINVAL;
            o->zerocopy = (int)n;
        } else {
            return -EINVAL;
        }
        p = strchr(p, ',');
        if (p)
            p++;
    }
    return 0;
}

static uint32_t ring_size_for(uint32_t count)
{
    uint32_t r = RING_MAX;
    while (r > RING_MIN && r > count / 4)
        r >>= 1;
    return r;
}

static int create_umem(struct afxdp_link *x)
{
    struct xsk_umem_config uc = {
        .fill_size = x->ring_size, .comp_size = x->ring_size, .frame_size = x->buf_size,
        .frame_headroom = 0, .flags = 0,
    };
    return xsk_umem__create(&x->umem, x->region, x->region_size, &x->fill, &x->comp, &uc);
}

/* Registers a fresh UMEM and creates the socket on it. A failed attempt leaves libxdp's UMEM
 * socket bound (libxdp uses the UMEM's own socket for the first XSK), so each attempt starts
 * from a new registration. */
static int create_socket(struct afxdp_link *x, const struct afxdp_opts *o, bool zc,
                         uint32_t xdp_flags)
{
    if (x->umem) {
        xsk_umem__delete(x->umem);
        x->umem = NULL;
    }
    int uerr = create_umem(x);
    if (uerr) {
        x->umem = NULL;
        ust_log(UST_LOG_ERROR, "afxdp:%s: cannot register the packet pool as UMEM: %s",
                o->ifname, strerror(-uerr));
        return uerr;
    }
    struct xsk_socket_config sc = {
        .rx_size = x->ring_size, .tx_size = x->ring_size, .libxdp_flags = 0,
        .xdp_flags = xdp_flags,
        .bind_flags = (uint16_t)(XDP_USE_NEED_WAKEUP | (zc ? XDP_ZEROCOPY : XDP_COPY)),
    };
    int err = xsk_socket__create(&x->xsk, o->ifname, o->queue, x->umem, &x->rx, &x->tx, &sc);
    if (err == -EINVAL) {
        /* Kernels before 5.3 reject the wake-up flag; then every kick is made. */
        sc.bind_flags &= (uint16_t)~XDP_USE_NEED_WAKEUP;
        int err2 = xsk_socket__create(&x->xsk, o->ifname, o->queue, x->umem, &x->rx, &x->tx,
                                      &sc);
        if (err2 == 0) {
            x->need_wakeup = false;
            return 0;
        }
    }
    if (err)
        x->xsk = NULL;
    x->need_wakeup = err == 0;
    return err;
}

/* Copy mode: libxdp attaches its program in native (driver) mode where it can; a driver may
 * still refuse native XDP for this interface (veth: ERANGE above an MTU of about 3.5 KB), and
 * then generic (skb) mode, which every interface has, is used instead. */
static int bind_copy(struct afxdp_link *x, const struct afxdp_opts *o)
{
    int err = create_socket(x, o, false, 0);
    if (err == 0 || err == -EPERM || err == -ENODEV)
        return err;
    /* The failed attempt had bound the queue before the attach failed; the kernel frees a
     * closed socket's claim on the queue from a work queue (xp_release_deferred), so for a
     * moment the queue is still busy: retry for up to about a second. */
    int err2 = create_socket(x, o, false, XDP_FLAGS_SKB_MODE);
    for (unsigned i = 0; err2 == -EBUSY && i < BUSY_RETRIES; i++) {
        usleep(BUSY_RETRY_US);
        err2 = create_socket(x, o, false, XDP_FLAGS_SKB_MODE);
    }
    if (err2 == 0) {
        ust_log(UST_LOG_WARN, "afxdp:%s: native XDP refused (%s%s); using generic (skb) XDP",
                o->ifname, strerror(-err),
                err == -ERANGE ? ": the MTU is too large for this driver's native XDP" : "");
        x->skb_mode = true;
    }
    return err2;
}

/* Binds zero-copy or copy mode as asked, falling back from zero-copy when allowed. */
static int bind_socket(struct afxdp_link *x, const struct afxdp_opts *o)
{
    int err;
    if (o->zerocopy != 0) {
        err = create_socket(x, o, true, 0);
        if (err == 0) {
            x->zerocopy = true;
            return 0;
        }
        if (o->zerocopy == 1) {
            ust_log(UST_LOG_ERROR, "afxdp:%s: zero-copy refused by the interface: %s", o->ifname,
                    strerror(-err));
            return err;
        }
        ust_log(UST_LOG_WARN, "afxdp:%s: no zero-copy on this interface (%s); using copy mode",
                o->ifname, strerror(-err));
    }
    err = bind_copy(x, o);
    if (err)
        ust_log(UST_LOG_ERROR, "afxdp:%s queue %u: cannot create the XDP socket: %s%s",
                o->ifname, o->queue, strerror(-err),
                err == -EPERM ? " (needs CAP_NET_ADMIN and CAP_BPF, or root)" : "");
    return err;
}

static int xl_setup(struct afxdp_link *x, const struct afxdp_opts *o)
{
    x->region = pkt_pool_region(x->pool, &x->region_size);
    x->buf_size = pkt_pool_buf_size(x->pool);
    x->buf_shift = (uint32_t)__builtin_ctz(x->buf_size);
    if (x->buf_size > UMEM_CHUNK_MAX) {
        ust_log(UST_LOG_ERROR, "afxdp:%s: pool buffers of %u bytes are larger than a UMEM chunk "
                "may be (%u): use an MTU of at most %u", o->ifname, x->buf_size, UMEM_CHUNK_MAX,
                UMEM_CHUNK_MAX - PKT_DEFAULT_HEADROOM - 22);
        return -EINVAL;
    }
    uint32_t count = pkt_pool_count(x->pool);
    x->ring_size = ring_size_for(count);
    x->fill_target = x->ring_size;
    x->lent = calloc((count + 63) / 64, sizeof(uint64_t));
    if (!x->lent)
        return -ENOMEM;
    int err = bind_socket(x, o);
    if (err)
        return err;
    x->fd = xsk_socket__fd(x->xsk);
    refill(x);
    return 0;
}

int link_afxdp_open(const char *spec, const struct link_env *env, struct link **out)
{
    struct afxdp_opts o;
    if (parse_spec(spec, &o) != 0) {
        ust_log(UST_LOG_ERROR, "afxdp link \"%s\": expected afxdp:IFNAME[,queue=N]"
                "[,zerocopy=0|1]", spec);
        return -EINVAL;
    }
    if (!env->pool)
        return -EINVAL;
    static pthread_once_t printers_once = PTHREAD_ONCE_INIT;
    pthread_once(&printers_once, set_printers);
    struct ifinfo info;
    int err = ifinfo_get(o.ifname, &info);
    if (err) {
        ust_log(UST_LOG_ERROR, "afxdp:%s: no such interface", o.ifname);
        return err;
    }
    struct afxdp_link *x = calloc(1, sizeof(*x));
    if (!x)
        return -ENOMEM;
    x->fd = -1;
    x->pool = env->pool;
    err = xl_setup(x, &o);
    if (err) {
        xl_destroy(&x->link);
        return err;
    }
    char name[40];
    snprintf(name, sizeof(name), "afxdp:%s", o.ifname);
    link_init(&x->link, &xl_ops, name);
    /* The largest frame a chunk takes after the kernel's XDP headroom. */
    uint32_t room = x->buf_size - XDP_PACKET_HEADROOM - 14;
    x->link.caps.mtu = info.mtu < room ? info.mtu : room;
    x->link.caps.offloads = 0;   /* frames are in flight after tx_burst: not LINK_TX_SYNC */
    memcpy(x->link.caps.mac, info.mac, 6);
    ust_log(UST_LOG_INFO, "afxdp:%s queue %u: %s mode, %s XDP, rings of %u, UMEM %zu bytes in "
            "%u-byte chunks", o.ifname, o.queue, x->zerocopy ? "zero-copy" : "copy",
            x->skb_mode ? "generic" : "native", x->ring_size, x->region_size, x->buf_size);
    *out = &x->link;
    return 0;
}

const struct afxdp_ctrs *link_afxdp_counters(struct link *l)
{
    struct afxdp_link *x = xl_of(l);
    read_xdp_stats(x);
    return &x->ctrs;
}

int link_afxdp_zerocopy(struct link *l)
{
    return xl_of(l)->zerocopy;
}
