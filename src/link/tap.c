/*
 * The TAP link: frames to and from the kernel through a TAP device ("tap:IFNAME[,vnet=0]").
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
 * We do not offer to receive super-frames (TUN_F_TSO4 is not set), so no received frame is
 * larger than the interface's MTU.
 *
 * One read() or writev() per frame: TAP has no batched calls. rx_burst reads until the device is
 * empty or the burst is full.
 */
#include "link/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/log.h"
#include "link/ifinfo.h"

CTR_DESCRIBE(tap_ctrs, TAP_COUNTERS)

#define TAP_IOV_MAX 64   /* virtio header + up to 63 buffers of one frame */

struct tap_link {
    struct link link;
    int fd;
    bool vnet;
    struct pkt_pool *pool;
    struct tap_ctrs ctrs;
};

static struct tap_link *tap_of(struct link *l)
{
    return (struct tap_link *)(void *)l;   /* the link is the first member */
}

/* Turns a received virtio-net header into packet flags. False: drop the frame. */
static bool take_vnet_hdr(struct tap_link *t, const struct virtio_net_hdr *h, struct pkt *p)
{
    if (h->gso_type != VIRTIO_NET_HDR_GSO_NONE) {
        t->ctrs.rx_gso_dropped++;   /* never offered (no TUN_F_TSO*): a kernel surprise */
        return false;
    }
    if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        p->flags |= PKT_F_CSUM_PARTIAL;
        p->csum_start = h->csum_start;
        p->csum_offset = h->csum_offset;
        t->ctrs.rx_csum_partial++;
    } else if (h->flags & VIRTIO_NET_HDR_F_DATA_VALID) {
        p->flags |= PKT_F_CSUM_VALID;
    }
    return true;
}

static int tap_rx_burst(struct link *l, struct pkt **pkts, unsigned n)
{
    struct tap_link *t = tap_of(l);
    unsigned got = 0;
    while (got < n) {
        struct pkt *p = pkt_alloc(t->pool);
        if (!p) {
            l->ctrs.rx_nobufs++;
            break;   /* the frame stays in the device until buffers come back */
        }
        struct virtio_net_hdr h;
        struct iovec iov[2] = { { &h, sizeof(h) }, { p->data, pkt_tailroom(p) } };
        ssize_t r = t->vnet ? readv(t->fd, iov, 2) : read(t->fd, p->data, pkt_tailroom(p));
        if (r < 0) {
            int err = errno;
            pkt_free(p);
            if (err == EAGAIN || err == EINTR)
                break;
            return got ? (int)got : -err;
        }
        size_t len = (size_t)r - (t->vnet ? sizeof(h) : 0);
        if (t->vnet && ((size_t)r < sizeof(h) || !take_vnet_hdr(t, &h, p))) {
            pkt_free(p);
            continue;
        }
        p->len = (uint32_t)len;
        l->ctrs.rx_frames++;
        l->ctrs.rx_bytes += len;
        pkts[got++] = p;
    }
    return (int)got;
}

static void fill_vnet_hdr(const struct pkt *p, struct virtio_net_hdr *h)
{
    memset(h, 0, sizeof(*h));
    if (p->flags & PKT_F_CSUM_PARTIAL) {
        h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        h->csum_start = p->csum_start;
        h->csum_offset = p->csum_offset;
    }
    if (p->gso_size) {
        h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
        h->gso_size = p->gso_size;
        h->hdr_len = p->gso_hdr_len;
    }
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
        fill_vnet_hdr(p, &h);
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
    free(t);
}

static const struct link_ops tap_ops = {
    .rx_burst = tap_rx_burst,
    .tx_burst = tap_tx_burst,
    .wait_fd = tap_wait_fd,
    .destroy = tap_destroy,
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
    /* We can take frames whose checksum the kernel left unfinished (TUN_F_CSUM). */
    if (t->vnet && ioctl(t->fd, TUNSETOFFLOAD, TUN_F_CSUM) < 0) {
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
        ust_log(UST_LOG_ERROR, "tap link \"%s\": expected tap:IFNAME[,vnet=0]", spec);
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
