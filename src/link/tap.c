/*
 * The TAP link: frames to and from the kernel through a TAP device
 * ("tap:IFNAME[,vnet=0][,tso=0]").
 *
 * The kernel sees an ordinary Ethernet interface; ustack is the host at the other end of its
 * cable. The device is created if it does not exist (and then disappears with us), or attached
 * to if it was made beforehand (`ip tuntap add dev IFNAME mode tap`).
 *
 * With the virtio-net header (the default, vnet=1) every frame carries offload information:
 * - received frames may have a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM: the kernel left it
 *   for the "hardware"), marked PKT_F_CSUM_PARTIAL so nobody verifies it as a full checksum, or
 *   be marked already verified (DATA_VALID -> PKT_F_CSUM_VALID);
 * - transmitted frames may leave the L4 checksum to the kernel (PKT_F_CSUM_PARTIAL) and may be
 *   TCP super-frames the kernel segments (gso_size set): LINK_OFF_TX_CSUM | LINK_OFF_TSO4.
 * - with a pool of big buffers (link_env.big_pool) and unless "tso=0", we offer to take TCP
 *   super-frames (TUN_F_TSO4): the kernel then hands over up to 64 KiB of a TCP stream in one
 *   frame instead of cutting it into MTU-sized segments, the receive side of segmentation
 *   offload (like GRO). Such a frame's checksum is always partial.
 *
 * Receive buffers: each read offers a frame buffer and, behind it, a spare big buffer (readv
 * scatters what does not fit the first into the second). An ordinary frame fills only the
 * first; a super-frame's first part is then copied over into the big buffer (a few hundred
 * bytes: the headers and the start of the payload), which goes up the stack whole, and a new
 * spare is taken. Without a spare (the big pool is empty), a super-frame that arrives is
 * dropped and counted; TCP's retransmission recovers it.
 *
 * One read() or writev() per frame: TAP has no batched calls. rx_burst reads until the device is
 * empty or the burst is full, except in sparse mode: reading on until read() finds nothing
 * costs one system call more per burst, and for request/response traffic a burst is a single
 * frame, so that read would be one call in four (wait, read, the empty read, write). When
 * bursts have been single frames, rx_burst stops after one frame; the device's readiness is
 * level-triggered (LINK_RX_LEVEL), so a sleeper waiting on it wakes at once for any frame
 * left, and a frame left behind is only delayed, never lost (the stack also reads such a link
 * again before sleeping when that has lately found frames: speculative receive, net/stack.h).
 * A probe, a sparse burst that reads on to the end, comes TAP_SPARSE_PROBE bursts after sparse
 * mode begins and then at gaps that double up to TAP_SPARSE_PROBE_MAX bursts (the empty read
 * it makes is the cost of noticing a stream); a probe that finds more than one frame ends
 * sparse mode.
 */
#include "link/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/log.h"
#include "link/ifinfo.h"
#include "link/vnet.h"

CTR_DESCRIBE(tap_ctrs, TAP_COUNTERS)

#define TAP_IOV_MAX 72   /* virtio header + up to 71 buffers: a TSO frame of 64 segments fits */
/* Sparse mode's probes: the first comes TAP_SPARSE_PROBE bursts in; each that finds one frame
 * at most doubles the gap to the next, up to TAP_SPARSE_PROBE_MAX bursts. */
#define TAP_SPARSE_PROBE 8
#define TAP_SPARSE_PROBE_MAX 64

struct tap_link {
    struct link link;
    int fd;
    bool vnet;
    bool rx_gso;                 /* TUN_F_TSO4 offered: super-frames may arrive */
    struct pkt_pool *pool;
    struct pkt_pool *big_pool;
    struct pkt *spare;           /* big buffer behind each read (rx_gso), or NULL */
    bool sparse;                 /* bursts are single frames: stop after one (see above) */
    uint8_t sparse_bursts;       /* sparse bursts since the last one read on to the end */
    uint8_t sparse_gap;          /* bursts from one probe to the next (sparse mode) */
    struct tap_ctrs ctrs;
    char ctr_name[48];
};

/* A scratch tail for reads without a spare: a super-frame that lands here is dropped. */
static uint8_t tap_overflow[65536];

static struct tap_link *tap_of(struct link *l)
{
    return (struct tap_link *)(void *)l;   /* the link is the first member */
}

/* Turns a received virtio-net header into packet flags. False: drop the frame (counted). */
static bool take_vnet_hdr(struct tap_link *t, const struct virtio_net_hdr *h, struct pkt *p)
{
    switch (vnet_hdr_to_pkt(h, t->rx_gso, p)) {
    case VNET_RX_OK:
        break;
    case VNET_RX_BAD_GSO:
        t->ctrs.rx_gso_dropped++;   /* a kind never offered: a kernel surprise */
        return false;
    case VNET_RX_BAD_CSUM:
        t->ctrs.rx_bad_vnet++;
        return false;
    }
    if (p->gso_size)
        t->ctrs.rx_gso++;
    if (p->flags & PKT_F_CSUM_PARTIAL)
        t->ctrs.rx_csum_partial++;
    return true;
}

/* Reads one frame. Consumes p: returns the frame's length with the packet holding it (p, or a
 * big buffer if it did not fit p) in *out, 0 for a frame dropped (counted), or a negative
 * errno. */
static ssize_t tap_read(struct tap_link *t, struct pkt *p, struct pkt **out)
{
    struct virtio_net_hdr h;
    uint32_t room = pkt_tailroom(p);
    ssize_t r;
    if (!t->vnet) {
        r = read(t->fd, p->data, room);
        if (r <= 0) {
            pkt_free(p);
            return r < 0 ? -errno : 0;
        }
        *out = p;
        return r;
    }
    if (t->rx_gso && !t->spare)
        t->spare = pkt_alloc(t->big_pool);
    struct pkt *big = t->spare;
    struct iovec iov[3] = { { &h, sizeof(h) }, { p->data, room },
                            { tap_overflow, sizeof(tap_overflow) } };
    if (big && pkt_tailroom(big) > room)
        iov[2] = (struct iovec){ big->data + room, pkt_tailroom(big) - room };
    r = readv(t->fd, iov, t->rx_gso ? 3 : 2);
    if (r < 0) {
        int err = errno;
        pkt_free(p);
        return -err;
    }
    size_t len = (size_t)r > sizeof(h) ? (size_t)r - sizeof(h) : 0;
    struct pkt *f = p;
    if (len > room) {
        if (len >= room + iov[2].iov_len) {
            t->ctrs.rx_too_long++;   /* perhaps cut short: never trusted */
            len = 0;
        } else if (iov[2].iov_base == tap_overflow) {
            t->ctrs.rx_gso_nobufs++;
            len = 0;
        } else {
            memcpy(big->data, p->data, room);   /* the frame is now whole in the big buffer */
            t->spare = NULL;
            pkt_free(p);
            f = big;
        }
    }
    f->len = (uint32_t)len;
    if (len == 0 || !take_vnet_hdr(t, &h, f)) {
        if (f == big) {
            /* Emptied again, kept for the next read. */
            big->len = 0;
            big->flags = 0;
            big->gso_size = 0;
            t->spare = big;
        } else {
            pkt_free(f);
        }
        return 0;
    }
    *out = f;
    return (ssize_t)len;
}

static int tap_rx_burst(struct link *l, struct pkt **pkts, unsigned n)
{
    struct tap_link *t = tap_of(l);
    unsigned got = 0;
    if (t->sparse && ++t->sparse_bursts < t->sparse_gap)
        n = n < 1 ? n : 1;
    else
        t->sparse_bursts = 0;
    while (got < n) {
        struct pkt *p = pkt_alloc(t->pool);
        if (!p) {
            l->ctrs.rx_nobufs++;
            break;   /* the frame stays in the device until buffers come back */
        }
        struct pkt *f = NULL;
        ssize_t r = tap_read(t, p, &f);
        if (r == 0)
            continue;
        if (r < 0) {
            if (r == -EAGAIN)
                t->ctrs.rx_empty++;
            if (r == -EAGAIN || r == -EINTR)
                break;
            return got ? (int)got : (int)r;
        }
        f->len = (uint32_t)r;
        l->ctrs.rx_frames++;
        l->ctrs.rx_bytes += (uint64_t)r;
        pkts[got++] = f;
    }
    /* Sparse while bursts that read to the end find one frame at most; the longer it lasts,
     * the rarer the probes (a thickening stream is still noticed within 64 frames). */
    if (n > 1) {
        if (got > 1 || !t->sparse)
            t->sparse_gap = TAP_SPARSE_PROBE;
        else if (t->sparse_gap < TAP_SPARSE_PROBE_MAX)
            t->sparse_gap *= 2;
        t->sparse = got <= 1;
    }
    return (int)got;
}

/* The frame's buffers (a ->frag chain for a gathered super-frame) as an iovec after iov[0]. */
static int frame_iov(struct pkt *p, struct iovec *iov, int max)
{
    int n = 1;
    for (; p && n < max; p = p->frag)
        iov[n++] = (struct iovec){ p->data, p->len };
    return p ? -1 : n;
}

static int tap_tx_burst(struct link *l, struct pkt **pkts, unsigned n)
{
    struct tap_link *t = tap_of(l);
    unsigned sent = 0;
    for (; sent < n; sent++) {
        struct pkt *p = pkts[sent];
        struct virtio_net_hdr h;
        vnet_hdr_from_pkt(p, &h);
        struct iovec iov[TAP_IOV_MAX];
        iov[0] = (struct iovec){ &h, sizeof(h) };
        int niov = frame_iov(p, iov, TAP_IOV_MAX);
        ssize_t r;
        if (niov < 0) {
            errno = EMSGSIZE;   /* a chain longer than we gather: drop it, counted below */
            r = -1;
        } else if (t->vnet) {
            r = writev(t->fd, iov, niov);
        } else {
            r = writev(t->fd, iov + 1, niov - 1);
        }
        if (r < 0) {
            if (errno == EAGAIN || errno == ENOBUFS)
                break;      /* back-pressure: the caller keeps the rest */
            if (errno == EINTR) {
                sent--;
                continue;
            }
            /* EIO: the interface is down. Like a cable with nobody at the other end, the
             * frame is lost but the link is not broken. */
            t->ctrs.tx_errors++;
            pkt_free_frame(p);
            continue;
        }
        l->ctrs.tx_frames++;
        l->ctrs.tx_bytes += (uint64_t)r - (t->vnet ? sizeof(h) : 0);
        pkt_free_frame(p);
    }
    return (int)sent;
}

static int tap_wait_fd(struct link *l)
{
    return tap_of(l)->fd;
}

static void tap_destroy(struct link *l)
{
    struct tap_link *t = tap_of(l);
    close(t->fd);
    pkt_free(t->spare);
    free(t);
}

static int tap_add_counters(struct link *l, struct ctr_set *set)
{
    struct tap_link *t = tap_of(l);
    return ctr_set_add(set, CTR_GROUP(t->ctr_name, tap_ctrs, &t->ctrs));
}

static const struct link_ops tap_ops = {
    .rx_burst = tap_rx_burst,
    .tx_burst = tap_tx_burst,
    .wait_fd = tap_wait_fd,
    .destroy = tap_destroy,
    .add_counters = tap_add_counters,
};

static int tap_attach(struct tap_link *t, const char *ifname)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (t->vnet ? IFF_VNET_HDR : 0);
    if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
        int err = -errno;
        ust_log(UST_LOG_ERROR, "tap:%s: TUNSETIFF: %s", ifname, strerror(errno));
        return err;
    }
    /* We can take frames whose checksum the kernel left unfinished (TUN_F_CSUM), and TCP
     * super-frames if we have big buffers for them (TUN_F_TSO4). */
    unsigned off = TUN_F_CSUM | (t->rx_gso ? TUN_F_TSO4 : 0);
    if (t->vnet && ioctl(t->fd, TUNSETOFFLOAD, off) < 0) {
        int err = -errno;
        ust_log(UST_LOG_ERROR, "tap:%s: TUNSETOFFLOAD: %s", ifname, strerror(errno));
        return err;
    }
    return 0;
}

int link_tap_open(const char *spec, const struct link_env *env, struct link **out)
{
    char ifname[IFNAMSIZ];
    const char *opts;
    if (ifspec_split(spec, ifname, sizeof(ifname), &opts) != 0) {
        ust_log(UST_LOG_ERROR, "tap link \"%s\": expected tap:IFNAME[,vnet=0][,tso=0]", spec);
        return -EINVAL;
    }
    if (!env->pool)
        return -EINVAL;
    struct tap_link *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    const char *vnet = ifspec_option(opts, "vnet");
    t->vnet = !(vnet && vnet[0] == '0');
    t->pool = env->pool;
    t->big_pool = env->big_pool;
    const char *tso = ifspec_option(opts, "tso");
    t->rx_gso = t->vnet && t->big_pool && !(tso && tso[0] == '0');
    t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    int err = t->fd < 0 ? -errno : tap_attach(t, ifname);
    struct ifinfo info;
    if (!err)
        err = ifinfo_get(ifname, &info);
    if (err) {
        if (t->fd >= 0)
            close(t->fd);
        free(t);
        return err == -ENOENT ? -ENODEV : err;
    }
    char name[40];
    snprintf(name, sizeof(name), "tap:%s", ifname);
    link_init(&t->link, &tap_ops, name);
    snprintf(t->ctr_name, sizeof(t->ctr_name), "%s.tap", t->link.name);
    t->link.caps.mtu = info.mtu;
    memcpy(t->link.caps.mac, info.mac, 6);
    /* writev() gathers and copies; rx_burst reads until EAGAIN, and the descriptor is
     * readable while the device queue holds a frame. */
    t->link.caps.offloads = LINK_TX_SYNC | LINK_OFF_SG | LINK_RX_LEVEL;
    if (t->vnet)
        t->link.caps.offloads |= LINK_OFF_RX_CSUM | LINK_OFF_TX_CSUM | LINK_OFF_TSO4;
    *out = &t->link;
    return 0;
}

const struct tap_ctrs *link_tap_counters(struct link *l)
{
    return &tap_of(l)->ctrs;
}
