/*
 * The AF_PACKET link: frames to and from any existing interface, e.g. one end of a veth pair
 * ("afpacket:IFNAME").
 *
 * Receive: a TPACKET_V2 ring mapped into our memory. V2 hands over each frame as soon as it
 * arrives; V3 batches frames into blocks that are handed over when full or when a timer (in
 * milliseconds) retires them, which costs a millisecond of latency when traffic is light. Each
 * frame is copied from its ring slot into a pool buffer (the ring slot goes back to the kernel at
 * once; a copy of a frame costs far less than the system call it saves).
 * Transmit: sendmmsg(), one system call per burst, bypassing the qdisc layer.
 *
 * The socket ignores frames the host itself sends (PACKET_IGNORE_OUTGOING), puts the interface in
 * promiscuous mode (our MAC is not the interface's), and marks frames whose checksum the kernel
 * left unfinished (TP_STATUS_CSUMNOTREADY: locally generated, e.g. by the kernel on the other end
 * of a veth) as PKT_F_CSUM_PARTIAL. The interface should carry no kernel IP address, or the
 * kernel will answer ARP and reset connections for addresses that are ustack's.
 */
#include "link/afpacket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "link/ifinfo.h"

CTR_DESCRIBE(afpacket_ctrs, AFPACKET_COUNTERS)

#define RING_BLOCK_SIZE (1u << 16)
#define RING_BLOCKS 64u
#define TX_BURST_MAX 64u

struct afpacket_link {
    struct link link;
    int fd;
    uint8_t *ring;
    size_t ring_size;
    uint32_t frame_size;
    uint32_t frame_nr;
    uint32_t next;               /* next ring slot to look at */
    struct pkt_pool *pool;
    struct afpacket_ctrs ctrs;
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

/* Copies one ring frame into a packet. False: drop it (counted). */
static bool take_frame(struct afpacket_link *a, struct tpacket2_hdr *h, struct pkt *p)
{
    if (h->tp_snaplen < h->tp_len || h->tp_snaplen > pkt_tailroom(p)) {
        a->ctrs.rx_truncated++;
        return false;
    }
    memcpy(p->data, (uint8_t *)h + h->tp_mac, h->tp_snaplen);
    p->len = h->tp_snaplen;
    if (h->tp_status & TP_STATUS_CSUMNOTREADY) {
        p->flags |= PKT_F_CSUM_PARTIAL;
        a->ctrs.rx_csum_partial++;
    } else if (h->tp_status & TP_STATUS_CSUM_VALID) {
        p->flags |= PKT_F_CSUM_VALID;
    }
    return true;
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
        struct pkt *p = pkt_alloc(a->pool);
        if (!p) {
            l->ctrs.rx_nobufs++;
            break;   /* leave the frame in the ring until buffers come back */
        }
        if (take_frame(a, h, p)) {
            l->ctrs.rx_frames++;
            l->ctrs.rx_bytes += p->len;
            pkts[got++] = p;
        } else {
            pkt_free(p);
        }
        __atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        a->next = (a->next + 1) % a->frame_nr;
    }
    return (int)got;
}

static int af_tx_burst(struct link *l, struct pkt **pkts, unsigned n)
{
    struct afpacket_link *a = af_of(l);
    struct mmsghdr msgs[TX_BURST_MAX];
    struct iovec iov[TX_BURST_MAX];
    if (n > TX_BURST_MAX)
        n = TX_BURST_MAX;
    for (unsigned i = 0; i < n; i++) {
        iov[i] = (struct iovec){ pkts[i]->data, pkts[i]->len };
        msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
    }
    unsigned done = 0;
    while (done < n) {
        int r = sendmmsg(a->fd, msgs + done, n - done, MSG_DONTWAIT);
        if (r > 0) {
            done += (unsigned)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == ENOBUFS))
            break;      /* back-pressure */
        if (r < 0 && (errno == ENETDOWN || errno == ENXIO)) {
            /* The interface went down or away: drop the frame, keep going. */
            a->ctrs.tx_errors++;
            pkt_free(pkts[done]);
            pkts[done] = NULL;
            done++;
            continue;
        }
        return done ? (int)done : -(r < 0 ? errno : EIO);
    }
    for (unsigned i = 0; i < done; i++) {
        if (!pkts[i])
            continue;
        l->ctrs.tx_frames++;
        l->ctrs.tx_bytes += pkts[i]->len;
        pkt_free(pkts[i]);
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

static const struct link_ops af_ops = {
    .rx_burst = af_rx_burst,
    .tx_burst = af_tx_burst,
    .wait_fd = af_wait_fd,
    .destroy = af_destroy,
};

static int set_int(int fd, int level, int name, int v)
{
    return setsockopt(fd, level, name, &v, sizeof(v)) < 0 ? -errno : 0;
}

static int setup_ring(struct afpacket_link *a, uint32_t mtu)
{
    uint32_t frame = TPACKET_ALIGN(TPACKET2_HDRLEN) + mtu + ETH_HLEN + 8;
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
    a->fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (a->fd < 0)
        return -errno;
    int err = setup_ring(a, mtu);
    if (err)
        return err;
    struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
                               .sll_ifindex = info->index };
    if (bind(a->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
        return -errno;
    struct packet_mreq mr = { .mr_ifindex = info->index, .mr_type = PACKET_MR_PROMISC };
    if (setsockopt(a->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0)
        return -errno;
    /* Both are optimisations or conveniences the kernel may lack; not fatal. */
    if (set_int(a->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1) != 0)
        ust_log(UST_LOG_WARN, "afpacket: PACKET_IGNORE_OUTGOING unavailable");
    set_int(a->fd, SOL_PACKET, PACKET_QDISC_BYPASS, 1);
    return 0;
}

int link_afpacket_open(const char *spec, const struct link_env *env, struct link **out)
{
    char ifname[IFNAMSIZ];
    const char *opts;
    if (ifspec_split(spec, ifname, sizeof(ifname), &opts) != 0) {
        ust_log(UST_LOG_ERROR, "afpacket link \"%s\": expected afpacket:IFNAME", spec);
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
    a->link.caps.mtu = info.mtu;
    a->link.caps.offloads = LINK_TX_SYNC;   /* sendmmsg() copies the frames */
    memcpy(a->link.caps.mac, info.mac, 6);
    *out = &a->link;
    return 0;
}

const struct afpacket_ctrs *link_afpacket_counters(struct link *l)
{
    return &af_of(l)->ctrs;
}
