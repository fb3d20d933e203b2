/*
 * The AF_PACKET link: frames to and from any existing interface, e.g. one end of a veth pair
 * ("afpacket:IFNAME[,vnet=0]").
 *
 * Offloads (the default; ",vnet=0" turns them off). The socket has PACKET_VNET_HDR: every frame
 * in either direction carries a virtio-net header (link/vnet.h), as on a TAP device, so:
 * - the kernel may hand us TCP super-frames of up to 64 KiB (its TSO/GSO left undone: a veth
 *   end has TSO on by default, and its peer's TCP then sends such frames): gso_size is set and
 *   TCP takes each as one big segment; their checksum, and that of other frames a local kernel
 *   sender made, is partial (PKT_F_CSUM_PARTIAL with csum_start/csum_offset), never verified as
 *   a full one;
 * - we may send TCP super-frames and partial checksums (LINK_OFF_TSO4 | LINK_OFF_TX_CSUM), which
 *   the kernel segments and completes, or hands as they are to a receiver that takes them.
 * If the interface has TSO off, the kernel cuts our super-frames in software (GSO) before they
 * leave it, so a bridge or wire behind it sees MTU-sized frames either way.
 * With vnet=0 frames are plain (a super-frame arrives cut short and is dropped, counted as
 * rx_truncated), and frames the kernel left with an unfinished checksum are still marked
 * PKT_F_CSUM_PARTIAL from the ring's TP_STATUS_CSUMNOTREADY, without its place. The impairment
 * bridge opens its ports so (tools/cmd_bridge.c): a wire carries no super-frames.
 *
 * Receive: a TPACKET_V2 ring of MTU-sized slots mapped into our memory, and for the rare frame
 * larger than a slot (a super-frame) the socket's ordinary receive queue. V2 hands over each
 * frame as soon as it arrives; V3 batches frames into blocks handed over when full or when a
 * timer (in milliseconds) retires them, which costs a millisecond of latency when traffic is
 * light. Slots of 64 KiB would hold super-frames too, but make a ring of a useful number of
 * slots tens of MiB. Instead PACKET_COPY_THRESH asks the kernel to queue a frame that does not
 * fit its slot, whole, on the receive queue as well, and to mark the slot TP_STATUS_COPY (both
 * under one lock, so queue order is ring order); we then read the frame with one recvmsg()
 * straight into a 64 KiB buffer of link_env.big_pool. A system call per super-frame (up to 45
 * segments of data) costs little; ordinary frames keep the ring's zero system calls. Ordinary
 * frames are copied from their slot into a pool buffer (the slot goes back to the kernel at
 * once; a copy of a frame costs far less than the system call it saves). Without a big buffer
 * free a super-frame is dropped (rx_gso_nobufs) and TCP's retransmission recovers it; a
 * super-frame the kernel could not queue (receive buffer full) arrives cut short and is dropped
 * (rx_truncated).
 *
 * Transmit: sendmmsg(), one system call per burst. Each message
 * gathers its frame's buffers (a ->frag chain: LINK_OFF_SG) behind the virtio-net header, and
 * the kernel copies them before the call returns (LINK_TX_SYNC). A PACKET_TX_RING would need our
 * copy of each frame into the ring, could not gather chains, and still a send() to start it:
 * sendmmsg moves the same frames with the one copy the kernel makes anyway. Frames go through
 * the interface's qdisc (a veth's is noqueue: straight to the driver): PACKET_QDISC_BYPASS would
 * also skip the kernel's software segmentation (GSO), and the kernel drops a super-frame for an
 * interface with TSO off instead of cutting it (__dev_direct_xmit). With vnet=0 the bypass is on.
 *
 * Measured (64 MiB over a veth pair against the kernel's TCP, 2-vCPU VM, quiet, medians of 5):
 * kernel -> ustack 4.2-4.4 Gbit/s with the kernel's TSO on (about 1,100 frames, 1,050 of them
 * read by recvmsg), against 2.7 Gbit/s before this design with TSO turned off on the kernel's
 * side (with it on, the old ring dropped every super-frame: 0.4 MB in 20 s); ustack -> kernel
 * 1.73-1.76 Gbit/s in about 830 super-frames, against 1.54-1.64 Gbit/s in 46,000 frames.
 *
 * The socket ignores frames the host itself sends (PACKET_IGNORE_OUTGOING) and puts the
 * interface in promiscuous mode (our MAC is not the interface's). The interface should carry no
 * kernel IP address, or the kernel will answer ARP and reset connections for addresses that are
 * ustack's.
 */
#include "link/afpacket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/log.h"
#include "link/ifinfo.h"
#include "link/vnet.h"

CTR_DESCRIBE(afpacket_ctrs, AFPACKET_COUNTERS)

#define RING_BLOCK_SIZE (1u << 16)
#define RING_BLOCKS 64u
#define TX_BURST_MAX 64u
#define TX_IOV_FRAME_MAX 80u     /* buffers of one frame: a TCP super-frame's header buffer and
                                  * its segments (64 at most), the virtio-net header, slack */
#define TX_IOV_MAX 1024u         /* buffers of one sendmmsg() call */
#define RX_QUEUE_BYTES (4u << 20) /* receive queue for super-frames (see the file comment) */

struct afpacket_link {
    struct link link;
    int fd;
    bool vnet;                   /* PACKET_VNET_HDR: a virtio_net_hdr before every frame */
    uint8_t *ring;
    size_t ring_size;
    uint32_t frame_size;
    uint32_t frame_nr;
    uint32_t next;               /* next ring slot to look at */
    struct pkt_pool *pool;
    struct pkt_pool *big_pool;   /* for super-frames, or NULL (they are then dropped) */
    struct afpacket_ctrs ctrs;
    char ctr_name[48];
    /* Transmit scratch: one sendmmsg() call's messages, headers and buffers. */
    struct mmsghdr msgs[TX_BURST_MAX];
    struct virtio_net_hdr tx_vnet[TX_BURST_MAX];
    struct iovec iov[TX_IOV_MAX];
};

static struct afpacket_link *af_of(struct link *l)
{
    return (struct afpacket_link *)(void *)l;   /* the link is the first member */
}

static struct tpacket2_hdr *slot(struct afpacket_link *a, uint32_t i)
{
    return (struct tpacket2_hdr *)(void *)(a->ring + (size_t)i * a->frame_size);
}

static void collect_ring_drops(struct afpacket_link *a)
{
    struct tpacket_stats st;
    socklen_t len = sizeof(st);
    if (getsockopt(a->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
        a->ctrs.rx_ring_drops += st.tp_drops;
}

/* Applies a received virtio-net header to p. False: drop the frame (counted). */
static bool take_vnet(struct afpacket_link *a, const struct virtio_net_hdr *h, struct pkt *p)
{
    switch (vnet_hdr_to_pkt(h, true, p)) {
    case VNET_RX_OK:
        break;
    case VNET_RX_BAD_GSO:
        a->ctrs.rx_gso_dropped++;
        return false;
    case VNET_RX_BAD_CSUM:
        a->ctrs.rx_bad_vnet++;
        return false;
    }
    if (p->gso_size)
        a->ctrs.rx_gso++;
    if (p->flags & PKT_F_CSUM_PARTIAL)
        a->ctrs.rx_csum_partial++;
    return true;
}

/* Copies one ring frame into a packet. False: drop it (counted). */
static bool take_frame(struct afpacket_link *a, struct tpacket2_hdr *h, struct pkt *p)
{
    if (h->tp_snaplen < h->tp_len || h->tp_snaplen > pkt_tailroom(p)) {
        a->ctrs.rx_truncated++;
        return false;
    }
    const uint8_t *frame = (const uint8_t *)h + h->tp_mac;
    memcpy(p->data, frame, h->tp_snaplen);
    p->len = h->tp_snaplen;
    if (a->vnet) {
        /* The kernel puts the header just before the frame (tpacket_rcv). */
        struct virtio_net_hdr vh;
        memcpy(&vh, frame - sizeof(vh), sizeof(vh));
        return take_vnet(a, &vh, p);
    }
    if (h->tp_status & TP_STATUS_CSUMNOTREADY) {
        p->flags |= PKT_F_CSUM_PARTIAL;
        a->ctrs.rx_csum_partial++;
    } else if (h->tp_status & TP_STATUS_CSUM_VALID) {
        p->flags |= PKT_F_CSUM_VALID;
    }
    return true;
}

/* Reads the frame the kernel queued for a TP_STATUS_COPY slot (a frame longer than the slot)
 * into a big buffer. Returns it, or NULL if it was dropped (counted; the queue entry is gone
 * either way, so queue and ring stay in step). */
static struct pkt *take_copied(struct afpacket_link *a)
{
    struct virtio_net_hdr vh;
    struct pkt *big = a->big_pool ? pkt_alloc(a->big_pool) : NULL;
    struct iovec iov[2] = { { &vh, sizeof(vh) } };
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 1 };
    if (big) {
        iov[1] = (struct iovec){ big->data, pkt_tailroom(big) };
        msg.msg_iovlen = 2;
    }
    ssize_t r;
    do {
        r = recvmsg(a->fd, &msg, MSG_DONTWAIT | MSG_TRUNC);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        a->ctrs.rx_copy_missing++;   /* the kernel said it queued one: should not happen */
        pkt_free(big);
        return NULL;
    }
    if (!big) {
        a->ctrs.rx_gso_nobufs++;
        return NULL;
    }
    if ((size_t)r <= sizeof(vh) || (msg.msg_flags & MSG_TRUNC)) {
        a->ctrs.rx_truncated++;
        pkt_free(big);
        return NULL;
    }
    big->len = (uint32_t)((size_t)r - sizeof(vh));
    if (!take_vnet(a, &vh, big)) {
        pkt_free(big);
        return NULL;
    }
    a->ctrs.rx_copied++;
    return big;
}

static int af_rx_burst(struct link *l, struct pkt **pkts, unsigned n)
{
    struct afpacket_link *a = af_of(l);
    unsigned got = 0;
    while (got < n) {
        struct tpacket2_hdr *h = slot(a, a->next);
        uint32_t status = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
        if (!(status & TP_STATUS_USER))
            break;
        if (status & TP_STATUS_LOSING)
            collect_ring_drops(a);
        struct pkt *p = NULL;
        if (status & TP_STATUS_COPY) {
            p = take_copied(a);
        } else {
            p = pkt_alloc(a->pool);
            if (!p) {
                l->ctrs.rx_nobufs++;
                break;   /* leave the frame in the ring until buffers come back */
            }
            if (!take_frame(a, h, p)) {
                pkt_free(p);
                p = NULL;
            }
        }
        if (p) {
            l->ctrs.rx_frames++;
            l->ctrs.rx_bytes += p->len;
            pkts[got++] = p;
        }
        __atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        a->next = (a->next + 1) % a->frame_nr;
    }
    return (int)got;
}

/* Sets up message i for frame p, its buffers from a->iov[iov_at]. Returns the number of iovecs
 * used, or -1 if the frame has more buffers than one message gathers. */
static int tx_message(struct afpacket_link *a, unsigned i, struct pkt *p, unsigned iov_at)
{
    struct iovec *iov = a->iov + iov_at;
    unsigned k = 0;
    if (a->vnet) {
        vnet_hdr_from_pkt(p, &a->tx_vnet[i]);
        iov[k++] = (struct iovec){ &a->tx_vnet[i], sizeof(a->tx_vnet[i]) };
    }
    for (struct pkt *q = p; q; q = q->frag) {
        if (k == TX_IOV_FRAME_MAX)
            return -1;
        iov[k++] = (struct iovec){ q->data, q->len };
    }
    a->msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = iov, .msg_iovlen = k } };
    return (int)k;
}

/* Builds the messages of one sendmmsg() call from the frames pkts[0..n): as many as the
 * scratch arrays hold. A frame with more buffers than we gather is dropped (counted) and set
 * to NULL if it comes first, else the call ends before it. Returns the number of pkts covered:
 * 1 with pkts[0] NULL for such a drop, else the number of messages. */
static unsigned tx_build(struct afpacket_link *a, struct pkt **pkts, unsigned n)
{
    unsigned m = 0, iov_at = 0;
    for (; m < n && m < TX_BURST_MAX && iov_at + TX_IOV_FRAME_MAX <= TX_IOV_MAX; m++) {
        int k = tx_message(a, m, pkts[m], iov_at);
        if (k < 0) {
            if (m > 0)
                break;
            a->ctrs.tx_errors++;   /* longer than any chain we make: never sendable */
            pkt_free_frame(pkts[0]);
            pkts[0] = NULL;
            return 1;
        }
        iov_at += (unsigned)k;
    }
    return m;
}

/* Sends the m messages built for pkts[0..m) as far as the socket takes them, consuming the
 * frames it takes; a frame the kernel refuses outright is dropped (counted). Returns how many
 * of pkts were consumed, or a negative errno if the first failed for good. */
static int tx_send(struct afpacket_link *a, struct pkt **pkts, unsigned m)
{
    unsigned done = 0;
    while (done < m) {
        int r = sendmmsg(a->fd, a->msgs + done, m - done, MSG_DONTWAIT);
        if (r > 0) {
            for (unsigned i = done; i < done + (unsigned)r; i++) {
                a->link.ctrs.tx_frames++;
                a->link.ctrs.tx_bytes += pkt_frame_len(pkts[i]);
                pkt_free_frame(pkts[i]);
            }
            done += (unsigned)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == ENOBUFS))
            break;      /* back-pressure */
        if (r < 0 && (errno == ENETDOWN || errno == ENXIO || errno == EMSGSIZE ||
                      errno == EINVAL || errno == ENOMEM)) {
            /* The interface went down or away, or the kernel refused this one frame (too long
             * for the device, a header it finds malformed, or one its software segmentation
             * could not cut: dev_queue_xmit says ENOMEM): drop it, keep going. */
            a->ctrs.tx_errors++;
            pkt_free_frame(pkts[done]);
            done++;
            continue;
        }
        return done ? (int)done : -(r < 0 ? errno : EIO);
    }
    return (int)done;
}

static int af_tx_burst(struct link *l, struct pkt **pkts, unsigned n)
{
    struct afpacket_link *a = af_of(l);
    unsigned done = 0;
    while (done < n) {
        unsigned m = tx_build(a, pkts + done, n - done);
        if (!pkts[done]) {
            done++;     /* dropped while building */
            continue;
        }
        int r = tx_send(a, pkts + done, m);
        if (r < 0)
            return done ? (int)done : r;
        done += (unsigned)r;
        if ((unsigned)r < m)
            break;      /* back-pressure: the caller keeps pkts[done..n) */
    }
    return (int)done;
}

static int af_wait_fd(struct link *l)
{
    return af_of(l)->fd;
}

static void af_destroy(struct link *l)
{
    struct afpacket_link *a = af_of(l);
    if (a->ring)
        munmap(a->ring, a->ring_size);
    if (a->fd >= 0)
        close(a->fd);
    free(a);
}

static int af_add_counters(struct link *l, struct ctr_set *set)
{
    struct afpacket_link *a = af_of(l);
    return ctr_set_add(set, CTR_GROUP(a->ctr_name, afpacket_ctrs, &a->ctrs));
}

static const struct link_ops af_ops = {
    .rx_burst = af_rx_burst,
    .tx_burst = af_tx_burst,
    .wait_fd = af_wait_fd,
    .destroy = af_destroy,
    .add_counters = af_add_counters,
};

static int set_int(int fd, int level, int name, int v)
{
    return setsockopt(fd, level, name, &v, sizeof(v)) < 0 ? -errno : 0;
}

static int setup_ring(struct afpacket_link *a, uint32_t mtu)
{
    /* Header, MAC header (a VLAN tag too), the virtio-net header before it, the frame. */
    uint32_t frame = TPACKET_ALIGN(TPACKET2_HDRLEN) + mtu + ETH_HLEN + 8 +
                     (a->vnet ? (uint32_t)sizeof(struct virtio_net_hdr) : 0);
    uint32_t size = 256;
    while (size < frame)
        size <<= 1;
    uint32_t block = size > RING_BLOCK_SIZE ? size : RING_BLOCK_SIZE;
    struct tpacket_req req = { .tp_block_size = block, .tp_block_nr = RING_BLOCKS,
                               .tp_frame_size = size,
                               .tp_frame_nr = (block / size) * RING_BLOCKS };
    int err = set_int(a->fd, SOL_PACKET, PACKET_VERSION, TPACKET_V2);
    if (!err && setsockopt(a->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0)
        err = -errno;
    if (err)
        return err;
    a->frame_size = size;
    a->frame_nr = req.tp_frame_nr;
    a->ring_size = (size_t)block * RING_BLOCKS;
    a->ring = mmap(NULL, a->ring_size, PROT_READ | PROT_WRITE, MAP_SHARED, a->fd, 0);
    if (a->ring == MAP_FAILED) {
        a->ring = NULL;
        return -errno;
    }
    return 0;
}

static int af_setup(struct afpacket_link *a, const struct ifinfo *info, uint32_t mtu)
{
    /* Protocol 0: nothing arrives before bind() names the interface. */
    a->fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (a->fd < 0)
        return -errno;
    int err = 0;
    if (a->vnet) {
        /* Before the ring: the header changes the slots' layout. A frame too long for its slot
         * is also queued whole for recvmsg() (PACKET_COPY_THRESH, any nonzero value), in a
         * queue big enough for a burst of super-frames (SO_RCVBUFFORCE needs CAP_NET_ADMIN,
         * which opening the socket took; SO_RCVBUF is capped by net.core.rmem_max). */
        err = set_int(a->fd, SOL_PACKET, PACKET_VNET_HDR, 1);
        if (!err)
            err = set_int(a->fd, SOL_PACKET, PACKET_COPY_THRESH, 1);
        if (!err && set_int(a->fd, SOL_SOCKET, SO_RCVBUFFORCE, (int)RX_QUEUE_BYTES) != 0)
            set_int(a->fd, SOL_SOCKET, SO_RCVBUF, (int)RX_QUEUE_BYTES);
        if (err)
            return err;
    }
    err = setup_ring(a, mtu);
    if (err)
        return err;
    struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
                               .sll_ifindex = info->index };
    if (bind(a->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
        return -errno;
    struct packet_mreq mr = { .mr_ifindex = info->index, .mr_type = PACKET_MR_PROMISC };
    if (setsockopt(a->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0)
        return -errno;
    /* Both are optimisations or conveniences the kernel may lack; not fatal. The qdisc bypass
     * only without super-frames: it also bypasses the kernel's software segmentation, so a
     * super-frame for an interface with TSO off would be dropped (ENOBUFS) instead of cut. */
    if (set_int(a->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1) != 0)
        ust_log(UST_LOG_WARN, "afpacket: PACKET_IGNORE_OUTGOING unavailable");
    if (!a->vnet)
        set_int(a->fd, SOL_PACKET, PACKET_QDISC_BYPASS, 1);
    return 0;
}

int link_afpacket_open(const char *spec, const struct link_env *env, struct link **out)
{
    char ifname[IFNAMSIZ];
    const char *opts;
    if (ifspec_split(spec, ifname, sizeof(ifname), &opts) != 0) {
        ust_log(UST_LOG_ERROR, "afpacket link \"%s\": expected afpacket:IFNAME[,vnet=0]",
                spec);
        return -EINVAL;
    }
    if (!env->pool)
        return -EINVAL;
    struct ifinfo info;
    int err = ifinfo_get(ifname, &info);
    if (err) {
        ust_log(UST_LOG_ERROR, "afpacket:%s: no such interface", ifname);
        return err;
    }
    struct afpacket_link *a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    a->fd = -1;
    a->pool = env->pool;
    a->big_pool = env->big_pool;
    const char *vnet = ifspec_option(opts, "vnet");
    a->vnet = !(vnet && vnet[0] == '0');
    uint32_t mtu = info.mtu > env->mtu ? info.mtu : env->mtu;
    err = af_setup(a, &info, mtu);
    if (err) {
        ust_log(UST_LOG_ERROR, "afpacket:%s: %s", ifname, strerror(-err));
        af_destroy(&a->link);
        return err;
    }
    char name[40];
    snprintf(name, sizeof(name), "afpacket:%s", ifname);
    link_init(&a->link, &af_ops, name);
    snprintf(a->ctr_name, sizeof(a->ctr_name), "%s.afpacket", a->link.name);
    a->link.caps.mtu = info.mtu;
    /* sendmmsg() gathers each frame's buffers and copies them before it returns. */
    a->link.caps.offloads = LINK_TX_SYNC | LINK_OFF_SG;
    if (a->vnet)
        a->link.caps.offloads |= LINK_OFF_RX_CSUM | LINK_OFF_TX_CSUM | LINK_OFF_TSO4;
    memcpy(a->link.caps.mac, info.mac, 6);
    *out = &a->link;
    return 0;
}

const struct afpacket_ctrs *link_afpacket_counters(struct link *l)
{
    return &af_of(l)->ctrs;
}
