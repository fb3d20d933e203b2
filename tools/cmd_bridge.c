/*
 * ustack bridge: a two-port impairment wire between two interfaces, for paths this machine's
 * kernel cannot impair itself (it has no netem).
 *
 *   ustack bridge --a afpacket:ub1 --b afpacket:ub2 --a2b loss=1% --b2a delay=10ms
 *
 * Every frame received on port a is sent out of port b and the other way round, unchanged
 * except for the faults configured for its direction (link/fault.h: loss, delay with jitter,
 * reordering, duplication, corruption; seeded, at most hold-max frames held per direction). It
 * is not a switch: no addresses are learnt and nothing is filtered, so anything can run across
 * it, the kernel's TCP or a ustack process.
 *
 * Each port is a chain of links, innermost first:
 *
 *     driver (afpacket/tap) -> checksum completion -> [pcap] -> [fault, receive side]
 *
 * and the bridge moves bursts from one chain's rx_burst to the other chain's tx_burst.
 *  - Checksum completion: frames the kernel hands over before their TCP/UDP checksum is done
 *    (a local sender on the other end of a veth, TP_STATUS_CSUMNOTREADY / VIRTIO_NET_HDR_F_
 *    NEEDS_CSUM, PKT_F_CSUM_PARTIAL here) carry only the pseudo-header sum in the field. Sent on
 *    as they are they would reach the receiver as plain frames with a wrong checksum and be
 *    dropped, so the bridge finishes the checksum, as the "hardware" would have. It does so
 *    before the faults, so a corrupted frame reaches the receiver with a checksum that no longer
 *    matches and is dropped there, like a frame damaged on a real wire.
 *  - The faults act on the receive side of the port a frame enters by, so frames come back to
 *    the bridge loop after impairment and back-pressure from the outgoing port is kept: frames
 *    the outgoing link refuses stay queued (that direction stops reading until they leave), and
 *    are retried after a short back-off. The capture of a port shows the frames as they crossed
 *    that port's wire: received ones before impairment, sent ones after.
 *
 * The loop sleeps in ppoll() on both ports' descriptors with a timeout from the fault links'
 * next_event_ns (the next delayed frame's release), so it uses no CPU when idle and releases
 * delayed frames on time; SIGINT and SIGTERM are only unblocked inside ppoll, so a stop request
 * is never lost between the check and the sleep. When traffic flows it moves up to a burst per
 * direction per turn, and sleeps only when a turn found nothing to do.
 *
 * Frames are never larger than the interfaces' MTU: afpacket ports are opened without offloads
 * (",vnet=0", unless the spec says vnet=1), so a TCP sender with segmentation offload on
 * (TSO/GSO, the veth default) hands the bridge super-frames larger than any ring slot, which are
 * dropped and counted as truncated; turn it off on the sending interfaces
 * (`ip link set dev IF gso_max_segs 1`, or `ethtool -K IF tso off`).
 */
#include <errno.h>
#include <math.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/pkt.h"
#include "link/afpacket.h"
#include "link/fault.h"
#include "link/ifinfo.h"
#include "link/link.h"
#include "link/open.h"
#include "link/pcap.h"
#include "ustack.h"
#include "wire/checksum.h"
#include "wire/eth.h"
#include "wire/ipv4.h"

#define BR_BURST 64u                       /* frames moved per call */
#define BR_TURNS 16u                       /* turns of work between checks of time and signals */
#define BR_HEADROOM 64u                    /* the bridge prepends nothing */
#define BR_BACKOFF_MIN_NS (20 * NS_PER_US) /* first retry after the outgoing link refused */
#define BR_BACKOFF_MAX_NS (1 * NS_PER_MS)
#define BR_DEFAULT_MTU 1500u
#define BR_DEFAULT_CORRUPT_OFFSET 34u      /* Ethernet + a 20-byte IPv4 header */
#define BR_MAX_DURATION_S (365.0 * 86400)

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int bridge_usage(FILE *f, int status)
{
    fprintf(f,
"usage: ustack bridge --a LINK --b LINK [--a2b FAULTS] [--b2a FAULTS] [--seed N]\n"
"                     [--hold-max N] [--duration S] [--pcap-a FILE] [--pcap-b FILE]\n"
"\n"
"Joins two links into one wire: every frame received on a is sent out of b and every frame\n"
"received on b out of a, unchanged except for the faults of its direction. Not a switch:\n"
"nothing is learnt or filtered. Runs until SIGINT/SIGTERM or --duration seconds, then prints\n"
"per-direction counters (in, dropped, duplicated, reordered, delayed, corrupted, out).\n"
"\n"
"  --a, --b LINK      afpacket:IFNAME (an existing interface, e.g. a veth end) or tap:IFNAME\n"
"  --a2b, --b2a F     faults for frames going from a to b / from b to a, in the syntax of\n"
"                     `ustack help fault` without the tx./rx. prefixes, e.g.\n"
"                     loss=1%%   delay=15ms,jitter=10ms,reorder=25%%   dup=5%%   corrupt=0.1%%\n"
"                     corrupt_offset defaults to %u (past Ethernet and IPv4 headers), so a\n"
"                     corrupted frame fails the receiver's TCP/UDP checksum and is dropped\n"
"  --seed N           seed of the random choices (default 0; b2a uses a different stream).\n"
"                     A seed=N item in a fault spec sets that direction's seed\n"
"  --hold-max N       frames held (delayed or reordered) per direction at most (default %u);\n"
"                     a frame beyond it is dropped and counted, like a full netem queue\n"
"  --duration S       stop after S seconds (decimals allowed); default: until a signal\n"
"  --pcap-a, --pcap-b FILE   record each port's wire: frames received on it as they came,\n"
"                     frames sent out of it after impairment\n"
"\n"
"It prints \"ustack bridge: ready\" once both ports are open. Frames with a checksum the\n"
"sending kernel left unfinished are completed before any fault is applied.\n"
"\n"
"Impairing the path between two kernel namespaces (as root; the bridge's namespace has no\n"
"addresses, and nothing here touches the host's namespace):\n"
"\n"
"  ip netns add ustk1; ip netns add ustbr; ip netns add ustk2\n"
"  ip -n ustk1 link add uk1 type veth peer name ub1 netns ustbr\n"
"  ip -n ustk2 link add uk2 type veth peer name ub2 netns ustbr\n"
"  ip -n ustk1 addr add 198.18.0.1/24 dev uk1; ip -n ustk2 addr add 198.18.0.2/24 dev uk2\n"
"  ip netns exec ustk1 ethtool -K uk1 tso off; ip netns exec ustk2 ethtool -K uk2 tso off\n"
"  for l in ustk1:uk1 ustk2:uk2 ustbr:ub1 ustbr:ub2; do ip -n ${l%%:*} link set ${l#*:} up; done\n"
"  ip netns exec ustbr ustack bridge --a afpacket:ub1 --b afpacket:ub2 \\\n"
"      --a2b delay=10ms,loss=1%% --b2a delay=10ms &\n"
"  ip netns exec ustk1 ping -c 3 198.18.0.2          # about 20 ms\n"
"  kill -INT %%1; ip netns delete ustk1; ip netns delete ustk2; ip netns delete ustbr\n"
"\n"
"Turning TSO off keeps the kernels' TCP from handing the veth super-frames longer than the\n"
"MTU, which no wire carries (without ethtool: ip -n NS link set IF gso_max_segs 1, slower).\n"
"For a ustack process on one side, leave out that side's address and run it on its veth end\n"
"instead (e.g. ustack echo --link afpacket:uk2 --addr 198.18.0.2/24).\n",
            BR_DEFAULT_CORRUPT_OFFSET, FAULT_DEFAULT_HOLD_MAX);
    return status;
}

/* ---- checksum completion (a link middleware private to the bridge) ---- */

struct csum_link {
    struct link link;
    struct link *inner;
    uint64_t completed;        /* partial checksums finished */
    uint64_t unknown;          /* partial, but not TCP/UDP over IPv4/IPv6 we could find: as is */
};

static struct csum_link *csum_of(struct link *l)
{
    return (struct csum_link *)(void *)l;   /* the link is the first member */
}

/* Skips IPv6 extension headers that may precede TCP/UDP. Returns the L4 offset, or 0. */
static uint32_t ipv6_l4(const uint8_t *f, uint32_t off, uint32_t end, uint8_t *proto)
{
    uint8_t nh = f[off + 6];
    off += 40;
    for (unsigned i = 0; i < 8; i++) {
        if (nh != 0 && nh != 43 && nh != 60)     /* hop-by-hop, routing, destination options */
            break;
        if (off + 8 > end)
            return 0;
        nh = f[off];
        off += 8u * (f[off + 1] + 1u);
    }
    *proto = nh;
    return off;
}

/* Where the L4 checksum of frame f goes: [*start, *end) is what it covers, *field its offset.
 * False if the frame is not TCP or UDP over IPv4/IPv6 or does not hold together. */
static bool csum_place(const uint8_t *f, uint32_t len, uint32_t *start, uint32_t *end,
                       uint32_t *field, bool *udp)
{
    struct eth_repr eth;
    if (eth_parse(f, len, &eth) != WIRE_OK)
        return false;
    uint32_t l3 = eth.hdr_len, l4;
    uint8_t proto;
    if (eth.ethertype == ETHERTYPE_IPV4) {
        struct ipv4_repr ip;
        if (ipv4_parse(f + l3, len - l3, &ip) != WIRE_OK || ipv4_is_fragment(&ip))
            return false;
        proto = ip.protocol;
        l4 = l3 + ip.hdr_len;
        *end = l3 + ip.total_len;
    } else if (eth.ethertype == ETHERTYPE_IPV6) {
        if (len < l3 + 40 || (f[l3] >> 4) != 6)
            return false;
        *end = l3 + 40 + wire_get16(f + l3 + 4);
        if (*end > len)
            return false;
        l4 = ipv6_l4(f, l3, *end, &proto);
        if (!l4)
            return false;
    } else {
        return false;
    }
    uint32_t hdr;
    if (proto == IPPROTO_TCP)
        hdr = 20, *field = l4 + 16;
    else if (proto == IPPROTO_UDP)
        hdr = 8, *field = l4 + 6;
    else
        return false;
    if (l4 + hdr > *end || *end > len)
        return false;
    *start = l4;
    *udp = proto == IPPROTO_UDP;
    return true;
}

/* Finishes a partial checksum in place: the field holds the pseudo-header sum (the kernel's
 * CHECKSUM_PARTIAL convention), so summing from the L4 header to the end and folding gives the
 * final value. */
static void csum_complete(struct csum_link *c, struct pkt *p)
{
    uint32_t start, end, field;
    bool udp;
    if (!csum_place(p->data, p->len, &start, &end, &field, &udp)) {
        c->unknown++;
        return;
    }
    uint16_t sum = csum_fold(csum_partial(p->data + start, end - start, 0));
    if (udp && sum == 0)
        sum = 0xffff;                            /* RFC 768: zero means "no checksum" */
    memcpy(p->data + field, &sum, sizeof(sum));
    p->flags &= ~(uint32_t)PKT_F_CSUM_PARTIAL;
    c->completed++;
}

static int csum_rx_burst(struct link *l, struct pkt **pkts, unsigned n)
{
    struct csum_link *c = csum_of(l);
    int got = link_rx_burst(c->inner, pkts, n);
    for (int i = 0; i < got; i++) {
        if (pkts[i]->flags & PKT_F_CSUM_PARTIAL)
            csum_complete(c, pkts[i]);
        pkts[i]->gso_size = 0;
    }
    if (got > 0)
        l->ctrs.rx_frames += (unsigned)got;
    return got;
}

static int csum_tx_burst(struct link *l, struct pkt **pkts, unsigned n)
{
    int sent = link_tx_burst(csum_of(l)->inner, pkts, n);
    if (sent > 0)
        l->ctrs.tx_frames += (unsigned)sent;
    return sent;
}

static int csum_wait_fd(struct link *l)
{
    return link_wait_fd(csum_of(l)->inner);
}

static uint64_t csum_next_event_ns(struct link *l)
{
    return link_next_event_ns(csum_of(l)->inner);
}

static void csum_destroy(struct link *l)
{
    struct csum_link *c = csum_of(l);
    link_destroy(c->inner);
    free(c);
}

static const struct link_ops csum_ops = {
    .rx_burst = csum_rx_burst,
    .tx_burst = csum_tx_burst,
    .wait_fd = csum_wait_fd,
    .next_event_ns = csum_next_event_ns,
    .destroy = csum_destroy,
};

/* Wraps inner (owning it on success). */
static struct csum_link *csum_link_create(struct link *inner)
{
    struct csum_link *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    link_init(&c->link, &csum_ops, inner->name);
    c->link.caps = inner->caps;
    c->inner = inner;
    return c;
}

/* ---- ports and directions ---- */

struct port {
    char label;                /* 'a' or 'b' */
    const char *spec;          /* LINK */
    const char *pcap;          /* capture file, or NULL */
    struct link *drv;          /* the driver */
    struct csum_link *csum;    /* checksum completion around it */
    struct link *fault;        /* fault link (receive side) around it all, or NULL */
    struct link *io;           /* the outermost link: what the loop calls */
    int fd;
    bool warned_truncated;     /* the segmentation offload hint was printed */
};

struct direction {
    const char *name;          /* "a2b" */
    struct port *from, *to;
    const char *spec;          /* faults, or NULL */
    struct fault_config cfg;
    struct pkt *q[BR_BURST];   /* received, not yet taken by `to` */
    unsigned qhead, qn;
    uint64_t retry_at_ns;      /* when q is non-empty: next try */
    uint64_t backoff_ns;
    uint64_t out;              /* frames `to` accepted */
    uint64_t refused;          /* tx_burst calls that left frames behind (back-pressure) */
    uint64_t lost;             /* frames discarded by the bridge: a failed link, or at exit */
};

struct bridge {
    struct clk clock;
    struct pkt_pool *pool;
    struct port port[2];
    struct direction dir[2];   /* a2b, b2a */
    uint64_t seed;
    uint32_t hold_max;         /* 0: the spec's or the default */
    double duration_s;
    int failed;                /* a link failed: exit status 1 */
    /* How punctual the sleeps for a held frame's release were (the machine's timer, mostly). */
    uint64_t timed_wakes;      /* sleeps that ended by their timeout */
    uint64_t late_max_ns;      /* the latest such wake-up, after its time */
    uint64_t late_over_1ms;    /* wake-ups more than a millisecond late */
};

/* True if the comma-separated spec has an item "key=...". */
static bool spec_has_key(const char *spec, const char *key)
{
    size_t k = strlen(key);
    for (const char *s = spec; s && *s;) {
        if (strncmp(s, key, k) == 0 && s[k] == '=')
            return true;
        s = strchr(s, ',');
        if (s)
            s++;
    }
    return false;
}

static int parse_faults(struct bridge *br, struct direction *d)
{
    if (!d->spec || !*d->spec)
        return 0;
    struct fault_config fc;
    if (fault_config_parse(d->spec, &fc) != 0) {
        fprintf(stderr, "ustack bridge: --%s %s: not a fault specification (ustack help fault)\n",
                d->name, d->spec);
        return 2;
    }
    if (memcmp(&fc.tx, &fc.rx, sizeof(fc.tx)) != 0) {
        fprintf(stderr, "ustack bridge: --%s %s: tx./rx. prefixes have no meaning here; "
                        "--a2b and --b2a choose the direction\n", d->name, d->spec);
        return 2;
    }
    d->cfg = (struct fault_config){ .seed = fc.seed, .hold_max = fc.hold_max, .rx = fc.rx };
    if (!spec_has_key(d->spec, "corrupt_offset"))
        d->cfg.rx.corrupt_offset = BR_DEFAULT_CORRUPT_OFFSET;
    if (!spec_has_key(d->spec, "seed"))
        d->cfg.seed = br->seed ^ (d == &br->dir[1] ? 0x9e3779b97f4a7c15ull : 0);
    if (br->hold_max)
        d->cfg.hold_max = br->hold_max;
    return 0;
}

static uint32_t dir_hold_max(const struct direction *d)
{
    if (!d->spec)
        return 0;
    return d->cfg.hold_max ? d->cfg.hold_max : FAULT_DEFAULT_HOLD_MAX;
}

/* The MTU of the interface a link spec names, if it exists already (else the default). */
static uint32_t spec_mtu(const char *spec)
{
    const char *colon = strchr(spec, ':');
    char name[IFNAMSIZ];
    const char *opts;
    struct ifinfo info;
    if (!colon || ifspec_split(colon + 1, name, sizeof(name), &opts) != 0 ||
        ifinfo_get(name, &info) != 0 || info.mtu == 0)
        return BR_DEFAULT_MTU;
    return info.mtu;
}

/* The spec the bridge opens: an afpacket port without offloads (",vnet=0") unless it says
 * otherwise. A wire carries no super-frames, and the bridge keeps frames as they crossed it (no
 * big buffers here to take them). */
static const char *port_spec(const struct port *p, char *buf, size_t cap)
{
    if (strncmp(p->spec, "afpacket:", 9) != 0 || strstr(p->spec, "vnet="))
        return p->spec;
    snprintf(buf, cap, "%s,vnet=0", p->spec);
    return buf;
}

static int open_port(struct bridge *br, struct port *p, struct direction *leaving, uint32_t mtu)
{
    struct link_env env = { .mtu = mtu, .clock = &br->clock, .pool = br->pool };
    char spec[128];
    int err = link_open(port_spec(p, spec, sizeof(spec)), &env, &p->drv);
    if (err) {
        fprintf(stderr, "ustack bridge: --%c %s: %s\n", p->label, p->spec, strerror(-err));
        return err;
    }
    if (p->drv->caps.mtu + ETH_HDR_LEN + 2 * ETH_VLAN_TAG_LEN + BR_HEADROOM >
        pkt_pool_buf_size(br->pool)) {
        fprintf(stderr, "ustack bridge: --%c %s: MTU %u is larger than the bridge's buffers\n",
                p->label, p->spec, p->drv->caps.mtu);
        link_destroy(p->drv);
        p->drv = NULL;
        return -EMSGSIZE;
    }
    p->csum = csum_link_create(p->drv);
    if (!p->csum) {
        link_destroy(p->drv);
        p->drv = NULL;
        return -ENOMEM;
    }
    p->io = &p->csum->link;
    if (p->pcap) {
        struct link *cap;
        err = link_pcap_create(p->io, p->pcap, &br->clock, &cap);
        if (err) {
            fprintf(stderr, "ustack bridge: --pcap-%c %s: %s\n", p->label, p->pcap,
                    strerror(-err));
            return err;         /* p->io is destroyed by the caller */
        }
        p->io = cap;
    }
    if (leaving->spec) {
        struct link *f;
        err = link_fault_create(p->io, &leaving->cfg, &br->clock, br->pool, &f);
        if (err) {
            fprintf(stderr, "ustack bridge: --%s %s: %s\n", leaving->name, leaving->spec,
                    strerror(-err));
            return err;
        }
        p->fault = f;
        p->io = f;
    }
    p->fd = link_wait_fd(p->io);
    return 0;
}

static int bridge_open(struct bridge *br)
{
    uint32_t mtu = spec_mtu(br->port[0].spec);
    uint32_t mtu_b = spec_mtu(br->port[1].spec);
    if (mtu_b > mtu)
        mtu = mtu_b;
    uint32_t need = mtu + ETH_HDR_LEN + 2 * ETH_VLAN_TAG_LEN + BR_HEADROOM, buf = 2048;
    while (buf < need && buf < 65536)
        buf <<= 1;
    /* Held frames and their duplicates, a queue and a receive burst per direction, the fault
     * links' release lists, and slack. */
    uint32_t count = dir_hold_max(&br->dir[0]) + dir_hold_max(&br->dir[1]) + 8 * BR_BURST + 256;
    struct pkt_pool_config pc = { .name = "bridge", .count = count, .buf_size = buf,
                                  .headroom = BR_HEADROOM };
    int err = pkt_pool_create(&pc, &br->pool);
    if (err) {
        fprintf(stderr, "ustack bridge: cannot make a pool of %u x %u bytes: %s\n", count, buf,
                strerror(-err));
        return err;
    }
    for (unsigned i = 0; i < 2; i++) {
        err = open_port(br, &br->port[i], &br->dir[i], mtu);
        if (err)
            return err;
    }
    return 0;
}

/* Frees the frames still queued for an outgoing port (counted as lost). */
static void bridge_drop_queues(struct bridge *br)
{
    for (unsigned i = 0; i < 2; i++) {
        struct direction *d = &br->dir[i];
        if (d->qn) {
            pkt_free_bulk(d->q + d->qhead, d->qn);
            d->lost += d->qn;
            d->qn = 0;
        }
    }
}

static void bridge_close(struct bridge *br)
{
    bridge_drop_queues(br);
    for (unsigned i = 0; i < 2; i++) {
        struct port *p = &br->port[i];
        if (p->io)
            link_destroy(p->io);
        else if (p->drv)
            link_destroy(p->drv);
        p->io = p->drv = p->fault = NULL;
    }
    if (br->pool)
        pkt_pool_destroy(br->pool);
    br->pool = NULL;
}

/* ---- the loop ---- */

/* Hands the queued frames of d to its outgoing port. */
static void dir_send(struct bridge *br, struct direction *d, uint64_t now)
{
    int sent = link_tx_burst(d->to->io, d->q + d->qhead, d->qn);
    if (sent < 0) {
        fprintf(stderr, "ustack bridge: %s: sending on %s failed: %s\n", d->name, d->to->spec,
                strerror(-sent));
        pkt_free_bulk(d->q + d->qhead, d->qn);
        d->lost += d->qn;
        d->qn = 0;
        br->failed = 1;
        return;
    }
    d->out += (unsigned)sent;
    d->qhead += (unsigned)sent;
    d->qn -= (unsigned)sent;
    if (d->qn == 0) {
        d->backoff_ns = 0;
        return;
    }
    d->refused++;
    d->backoff_ns = d->backoff_ns ? d->backoff_ns * 2 : BR_BACKOFF_MIN_NS;
    if (d->backoff_ns > BR_BACKOFF_MAX_NS)
        d->backoff_ns = BR_BACKOFF_MAX_NS;
    d->retry_at_ns = now + d->backoff_ns;
}

/* One burst in one direction. Returns true if a frame moved. */
static bool dir_step(struct bridge *br, struct direction *d, uint64_t now)
{
    bool moved = false;
    if (d->qn) {
        if (now < d->retry_at_ns)
            return false;
        uint64_t before = d->out;
        dir_send(br, d, now);
        moved = d->out != before;
        if (d->qn)
            return moved;
    }
    int got = link_rx_burst(d->from->io, d->q, BR_BURST);
    if (got < 0) {
        fprintf(stderr, "ustack bridge: %s: receiving on %s failed: %s\n", d->name,
                d->from->spec, strerror(-got));
        br->failed = 1;
        return moved;
    }
    if (got == 0)
        return moved;
    d->qhead = 0;
    d->qn = (unsigned)got;
    dir_send(br, d, now);
    return true;
}

/* Sleeps until a port has frames, a held frame is due, a refused queue may be retried, the
 * deadline passes, or a signal arrives (unblocked only here: see the file comment). */
static void bridge_wait(struct bridge *br, uint64_t end_ns, const sigset_t *during)
{
    struct pollfd pfd[2];
    nfds_t n = 0;
    uint64_t wake = end_ns;
    for (unsigned i = 0; i < 2; i++) {
        struct direction *d = &br->dir[i];
        if (d->qn) {           /* blocked on the outgoing port: don't read more */
            if (d->retry_at_ns < wake)
                wake = d->retry_at_ns;
            continue;
        }
        uint64_t t = link_next_event_ns(d->from->io);
        if (t < wake)
            wake = t;
        /* Asked again before every sleep: a link may arm its wakeup in the call (shm). */
        int fd = d->from->fd >= 0 ? link_wait_fd(d->from->io) : -1;
        if (fd >= 0)
            pfd[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
    }
    struct timespec ts, *tsp = NULL;
    if (wake != UINT64_MAX) {
        uint64_t now = clk_now(&br->clock);
        uint64_t left = wake > now ? wake - now : 0;
        ts.tv_sec = (time_t)(left / NS_PER_SEC);
        ts.tv_nsec = (long)(left % NS_PER_SEC);
        tsp = &ts;
        if (left == 0)
            return;
    }
    int r = ppoll(pfd, n, tsp, during);
    if (r < 0 && errno != EINTR) {
        perror("ustack bridge: ppoll");
        br->failed = 1;
    }
    if (r == 0 && wake < end_ns) {
        uint64_t late = clk_now(&br->clock) - wake;
        br->timed_wakes++;
        if (late > br->late_max_ns)
            br->late_max_ns = late;
        if (late > NS_PER_MS)
            br->late_over_1ms++;
    }
}

static uint64_t port_truncated(const struct port *p)
{
    if (strncmp(p->spec, "afpacket:", 9) != 0)
        return 0;
    return link_afpacket_counters(p->drv)->rx_truncated;
}

/* Says once per port, as soon as it happens, that a sender hands over super-frames. */
static void warn_truncated(struct bridge *br)
{
    for (unsigned i = 0; i < 2; i++) {
        struct port *p = &br->port[i];
        if (p->warned_truncated || port_truncated(p) == 0)
            continue;
        p->warned_truncated = true;
        fprintf(stderr, "ustack bridge: --%c %s: frames longer than the MTU arrive and are "
                        "dropped: the sender uses segmentation offload (TSO/GSO); turn it off "
                        "on the sending interface (ethtool -K IF tso off, or ip link set dev IF "
                        "gso_max_segs 1)\n", p->label, p->spec);
    }
}

static void bridge_run(struct bridge *br)
{
    sigset_t stop_sigs, during;
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGINT);
    sigaddset(&stop_sigs, SIGTERM);
    uint64_t start = clk_now(&br->clock);
    uint64_t end = br->duration_s > 0 ? start + (uint64_t)(br->duration_s * 1e9) : UINT64_MAX;
    while (!stop_requested && !br->failed) {
        uint64_t now = clk_now(&br->clock);
        if (now >= end)
            break;
        bool busy = false;
        for (unsigned turn = 0; turn < BR_TURNS && !br->failed; turn++) {
            bool moved = dir_step(br, &br->dir[0], now);
            moved |= dir_step(br, &br->dir[1], now);
            if (!moved)
                break;
            busy = true;
            now = clk_now(&br->clock);
        }
        if (busy || br->failed)
            continue;
        warn_truncated(br);
        /* Nothing to do: sleep. The stop signals are blocked from the check to the sleep and
         * unblocked atomically by ppoll, so one arriving in between ends the sleep at once. */
        sigprocmask(SIG_BLOCK, &stop_sigs, &during);
        if (!stop_requested)
            bridge_wait(br, end, &during);
        sigprocmask(SIG_SETMASK, &during, NULL);
    }
}

/* ---- counters ---- */

static void print_direction(struct bridge *br, struct direction *d)
{
    struct port *from = d->from, *to = d->to;
    uint64_t dropped = 0, overflow = 0, dup = 0, reorder = 0, delayed = 0, corrupt = 0, held = 0;
    if (from->fault) {
        const struct fault_ctrs *f = link_fault_counters(from->fault, FAULT_RX);
        dropped = f->drop_nth + f->drop_random + f->hold_overflow;
        overflow = f->hold_overflow;
        dup = f->dup;
        reorder = f->reorder_held;
        delayed = f->delayed;
        corrupt = f->corrupt;
        held = link_fault_held(from->fault, FAULT_RX);
    }
    uint64_t ring_drops = 0, truncated = port_truncated(from), tx_errors = 0;
    if (strncmp(from->spec, "afpacket:", 9) == 0)
        ring_drops = link_afpacket_counters(from->drv)->rx_ring_drops;
    if (strncmp(to->spec, "afpacket:", 9) == 0)
        tx_errors = link_afpacket_counters(to->drv)->tx_errors;
    printf("ustack bridge: %s in=%llu dropped=%llu duplicated=%llu reordered=%llu delayed=%llu "
           "corrupted=%llu out=%llu held=%llu lost=%llu overflow=%llu csum_completed=%llu "
           "csum_unknown=%llu refused=%llu ring_drops=%llu truncated=%llu nobufs=%llu "
           "tx_errors=%llu\n",
           d->name, (unsigned long long)from->drv->ctrs.rx_frames, (unsigned long long)dropped,
           (unsigned long long)dup, (unsigned long long)reorder, (unsigned long long)delayed,
           (unsigned long long)corrupt, (unsigned long long)d->out, (unsigned long long)held,
           (unsigned long long)d->lost, (unsigned long long)overflow,
           (unsigned long long)from->csum->completed, (unsigned long long)from->csum->unknown,
           (unsigned long long)d->refused, (unsigned long long)ring_drops,
           (unsigned long long)truncated, (unsigned long long)from->drv->ctrs.rx_nobufs,
           (unsigned long long)tx_errors);
    (void)br;
}

/* ---- the command ---- */

static int parse_args(struct bridge *br, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return -1;
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "ustack bridge: unexpected argument \"%s\"\n", a);
            return 2;
        }
        char name[32];
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        if (len >= sizeof(name)) {
            fprintf(stderr, "ustack bridge: unknown option \"%s\"\n", a);
            return 2;
        }
        memcpy(name, a, len);
        name[len] = 0;
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            fprintf(stderr, "ustack bridge: %s needs a value\n", name);
            return 2;
        }
        unsigned long x;
        if (strcmp(name, "--a") == 0) {
            br->port[0].spec = v;
        } else if (strcmp(name, "--b") == 0) {
            br->port[1].spec = v;
        } else if (strcmp(name, "--a2b") == 0) {
            br->dir[0].spec = *v ? v : NULL;
        } else if (strcmp(name, "--b2a") == 0) {
            br->dir[1].spec = *v ? v : NULL;
        } else if (strcmp(name, "--pcap-a") == 0) {
            br->port[0].pcap = v;
        } else if (strcmp(name, "--pcap-b") == 0) {
            br->port[1].pcap = v;
        } else if (strcmp(name, "--seed") == 0) {
            char *end;
            errno = 0;
            br->seed = strtoull(v, &end, 0);
            if (errno || *end || end == v || *v == '-') {
                fprintf(stderr, "ustack bridge: --seed %s: not a number\n", v);
                return 2;
            }
        } else if (strcmp(name, "--hold-max") == 0) {
            if (tool_parse_uint(v, FAULT_HOLD_MAX_LIMIT, &x) != 0 || x == 0) {
                fprintf(stderr, "ustack bridge: --hold-max %s: 1 to %u\n", v,
                        FAULT_HOLD_MAX_LIMIT);
                return 2;
            }
            br->hold_max = (uint32_t)x;
        } else if (strcmp(name, "--duration") == 0) {
            char *end;
            double s = strtod(v, &end);
            if (end == v || *end || !isfinite(s) || s <= 0 || s > BR_MAX_DURATION_S) {
                fprintf(stderr, "ustack bridge: --duration %s: seconds, more than 0\n", v);
                return 2;
            }
            br->duration_s = s;
        } else {
            fprintf(stderr, "ustack bridge: unknown option \"%s\"\n", name);
            return 2;
        }
    }
    if (!br->port[0].spec || !br->port[1].spec) {
        fprintf(stderr, "ustack bridge: --a and --b are required\n");
        return 2;
    }
    if (strcmp(br->port[0].spec, br->port[1].spec) == 0) {
        fprintf(stderr, "ustack bridge: --a and --b are the same link\n");
        return 2;
    }
    return 0;
}

int cmd_bridge(int argc, char **argv)
{
    static struct bridge br;    /* large (two queues); static, the command runs once */
    br = (struct bridge){ 0 };
    br.port[0] = (struct port){ .label = 'a', .fd = -1 };
    br.port[1] = (struct port){ .label = 'b', .fd = -1 };
    br.dir[0] = (struct direction){ .name = "a2b", .from = &br.port[0], .to = &br.port[1] };
    br.dir[1] = (struct direction){ .name = "b2a", .from = &br.port[1], .to = &br.port[0] };
    int status = parse_args(&br, argc, argv);
    if (status < 0)
        return bridge_usage(stdout, 0);
    if (status)
        return bridge_usage(stderr, status);
    for (unsigned i = 0; i < 2; i++)
        if ((status = parse_faults(&br, &br.dir[i])) != 0)
            return status;
    clk_init_real(&br.clock);

    struct sigaction sa = { .sa_handler = on_signal };   /* no SA_RESTART */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (bridge_open(&br) != 0) {
        bridge_close(&br);
        return 1;
    }
    printf("ustack bridge: ready a=%s b=%s a2b=%s b2a=%s\n", br.port[0].spec, br.port[1].spec,
           br.dir[0].spec ? br.dir[0].spec : "-", br.dir[1].spec ? br.dir[1].spec : "-");
    fflush(stdout);
    uint64_t t0 = clk_now(&br.clock);
    bridge_run(&br);
    double secs = (double)(clk_now(&br.clock) - t0) / 1e9;
    warn_truncated(&br);
    printf("ustack bridge: stopped after %.3f s%s timed_wakes=%llu late_max_us=%llu "
           "late_over_1ms=%llu\n", secs, br.failed ? " (a link failed)" : "",
           (unsigned long long)br.timed_wakes, (unsigned long long)(br.late_max_ns / 1000),
           (unsigned long long)br.late_over_1ms);
    bridge_drop_queues(&br);
    print_direction(&br, &br.dir[0]);
    print_direction(&br, &br.dir[1]);
    bridge_close(&br);
    fflush(stdout);
    return br.failed ? 1 : 0;
}
