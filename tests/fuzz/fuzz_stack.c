/*
 * The whole input path: a stack with a fake clock on one end of a loop link, its sockets, and a
 * peer on the other end that plays whatever each input says.
 *
 * The world is made by the first input and kept across inputs: it is rebuilt every RESET_EVERY
 * inputs, or every UST_FUZZ_STACK_RESET inputs from the environment (1 makes every input stand
 * alone). The parity of the length of the input that makes a world chooses its link: the
 * loop link as it is, or wrapped in the software segmentation link (link/gso.c), which offers
 * TSO and checksum offload as TAP does, so the stack sends TCP super-frames and partial
 * checksums and the peer gets them cut and summed. UST_FUZZ_STACK_TRACE prints each operation, socket call and frame sent and,
 * at the end of each input, the nonzero counters. The limits are small so that the edges are
 * reachable: 128 frame buffers, 2 big ones, a 64-frame link ring, 8 ARP entries with 4 queued
 * packets each, 4 datagrams and 64 KiB under reassembly, an ICMP burst of 4, 16 KiB receive
 * buffers. Sockets (all non-blocking):
 *   SK_ADDR    198.18.0.2:5000, SO_REUSEADDR        SK_ANY      0.0.0.0:5000, SO_REUSEADDR
 *   SK_DBCAST  198.18.0.255:5000, SO_REUSEADDR      SK_CONN     *:5001 connected to PEER:7000
 *   SK_BCAST   *:5002, SO_BROADCAST                 SK_PENDING  *:5003 connected to PENDING:7003
 *   SK_EPHEM   unbound until it sends               SK_PING     an ICMP echo ("ping") socket
 * ARP starts with PEER (198.18.0.1, also the gateway) resolved and PENDING (198.18.0.3)
 * incomplete with two of SK_PENDING's datagrams queued on it. PEER answers the stack's ARP
 * requests (at the next drain); PENDING never does. TCP's listener and connections in every
 * state, with their own operations and checks, are fuzz_stack_tcp.c's (see its header comment);
 * UST_FUZZ_STACK_PARANOID settles the stack and checks the buffer accounting after every
 * operation (slow; for finding which operation leaked).
 *
 * An input is a sequence of operations: an op byte (taken modulo OP_COUNT) and its arguments;
 * bytes past the end read as zero, and the input ends at an op boundary. A fed frame waits in the
 * link until the stack next runs (a socket call, a poll, the start of a clock advance, a drain),
 * so frames can arrive in one burst. Frame templates take a layer-2 byte first (destination MAC
 * 2 bits: ours, broadcast, another host's, multicast; source MAC 2 bits: the template's own,
 * another host's, ours, multicast; a VLAN tag bit followed by its 16-bit TCI; 2 bits counting
 * (u16 position, u8 xor) edits applied to the finished frame; a bit that recomputes the IPv4
 * header checksum after the edits). IPv4 templates then take an L3 block: a selector byte
 * (source 3 bits: the template's own, PEER, PENDING, 198.18.0.H, 192.0.2.H, a martian, ours,
 * loopback; destination 2 bits: ours, 255.255.255.255, 198.18.0.255, another or a multicast
 * address; DF; options present; TOS present), H, TTL, [TOS], [options length, bytes].
 *
 *   OP_RAW       u16 length, bytes: a frame as is
 *   OP_UDP       L2 L3, u8 (dport 3 bits, sport 2 bits, checksum good/zero/bad 2 bits, length
 *                field fuzzed), [u16 dport], [u16 sport], [u16 length field], u16 payload length
 *   OP_FRAG      L2 L3, u8 (slot 2 bits, kind 2 bits: UDP to 5000, UDP PEER:7000 to 5001, echo
 *                request, UDP to a closed port; MF auto/1/0 2 bits; new total), [u16 total],
 *                u16 offset in 8-byte units, u16 length: a piece of a datagram under reassembly,
 *                cut from the whole datagram the slot describes (its checksums are right)
 *   OP_ARP       L2, u8 (kind 2 bits: reply from PENDING, request for us, announcement, fuzzed;
 *                sender IP 3 bits; sender MAC 2 bits; flip op), [u32 IPs]
 *   OP_ECHO      L2 L3, u8 (reply to our ping socket instead of a request to us; checksum;
 *                id from input; nonzero code), [u16 id], u16 seq, u16 payload length, [u8 code]
 *   OP_ICMP_ERR  L2 L3, u8 (type 3 bits, quote: a socket's flow, the last datagram the stack
 *                sent, or fuzzed, 2 bits; quoted protocol; rest from input), u8 code, u8 socket,
 *                u8 quote length, u16 quoted total length, [u32 rest]
 *   OP_REPEAT    u8 (count 6 bits, step 2 bits): the last template frame again, count + 1
 *                times, unchanged or stepped each time (the next fragment, a new IP ID, a new
 *                source address)
 *   OP_ADVANCE   u8 mode, u16 value: the clock moves (us, ms, 100 ms, or to the next timer)
 *   OP_SEND      u8 socket, u8 destination/port/flags, u8 (size mode, header, repeats 3 bits),
 *                u16 size, [u16 port], [u8 H]: sendmsg, once or up to 128 times (H counting up)
 *   OP_RECV      u8 socket, u8 flags/iovecs, u16 buffer size
 *   OP_CONNECT   u8 socket, u8 address kind, u16 port, u8 H
 *   OP_SETOPT    u8 socket, u8 option, u32 value, u8 length
 *   OP_SOCKMISC  u8 socket, u8 call (getsockopt, names, FIONREAD, poll, shutdown, bind,
 *                close and reopen), u16 argument
 *   OP_POLL      u8 count: ust_stack_poll
 *   OP_DRAIN     the stack runs until idle; every frame it sent is checked and freed; the
 *                buffer accounting is checked
 *   OP_TCP_SEG, OP_TCP_ICMP, OP_TCP_CALL, OP_TCP_FLOOD: see fuzz_stack_tcp.c
 *
 * Checked throughout: every frame the stack sends parses with wire/ (IPv4 header checksum, and
 * for whole datagrams, and datagrams rebuilt from the stack's own fragments, the UDP or ICMP
 * checksum), comes from our MAC and address and is something the stack may send; no counter ever
 * goes down; a send that succeeds leaves a trace (a frame, a queued packet, a counted drop or a
 * loopback delivery); reassembly memory stays within reasm_mem and matches what the entries hold; the ARP
 * cache is consistent (queues only on incomplete entries, a timer on every live entry). After each
 * input, once the stack is idle and the link drained: every buffer of the three pools in use is
 * held by an ARP queue, a reassembly, a socket's receive queue or the loopback queue (no leak).
 * Before each reset the sockets are read dry and the same holds; after it the peer's pool is
 * empty.
 *
 * When a check fails, or AddressSanitizer reports an error, the inputs since the last reset are
 * written next to the crash (the -artifact_prefix) as fuzz_stack-history-NNNN; running the
 * target on those files in order replays the failure.
 */
#include "fuzz_stack.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#define HAVE_ASAN_CALLBACK 1
#endif
#endif

#include "base/clock.h"
#include "base/pkt.h"
#include "link/gso.h"
#include "link/loop.h"
#include "net/stack.h"
#include "sock/sock.h"
#include "udp/udp.h"
#include "ustack/ustack.h"
#include "wire/arp.h"
#include "wire/checksum.h"
#include "wire/eth.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

#define RESET_EVERY 64
#define MAX_HISTORY_BYTES (8u << 20)

const struct eth_addr our_mac = { { 0x02, 0, 0, 0, 0, 0x02 } };
const struct eth_addr peer_mac = { { 0x02, 0, 0, 0, 0, 0x01 } };
static const struct eth_addr pending_mac = { { 0x02, 0, 0, 0, 0, 0x03 } };
static const struct eth_addr other_mac = { { 0x02, 0, 0, 0, 0, 0x42 } };
static const struct eth_addr bcast_mac = { { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } };
static const struct eth_addr mcast_mac = { { 0x01, 0x00, 0x5e, 0, 0, 0x01 } };

/* ---- Failing, and leaving the history behind ---- */

static char artifact_prefix[512] = "./";
bool tracing;
/* Kept in static memory: a malloc per input would look like a leak to libFuzzer, which would
 * then run LeakSanitizer after every input. */
static struct {
    uint8_t bytes[MAX_HISTORY_BYTES];
    size_t start[RESET_EVERY * 4 + 1];
    unsigned n;
    bool complete;               /* false once an input could not be kept */
} history;

static void history_clear(void)
{
    history.n = 0;
    history.complete = true;
}

static void history_add(const uint8_t *data, size_t size)
{
    size_t used = history.start[history.n];
    if (history.n == RESET_EVERY * 4 || size > MAX_HISTORY_BYTES - used) {
        history.complete = false;
        return;
    }
    memcpy(history.bytes + used, data, size);
    history.start[++history.n] = used + size;
}

/* Writes with plain system calls: this also runs inside AddressSanitizer's report. */
void history_dump(void)
{
    char path[600];
    for (unsigned i = 0; i < history.n; i++) {
        snprintf(path, sizeof path, "%sfuzz_stack-history-%04u", artifact_prefix, i);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            continue;
        ssize_t rc = write(fd, history.bytes + history.start[i],
                           history.start[i + 1] - history.start[i]);
        (void)rc;
        close(fd);
    }
    fprintf(stderr, "fuzz_stack: %u inputs since the last reset written to %sfuzz_stack-history-*%s\n",
            history.n, artifact_prefix, history.complete ? "" : " (incomplete)");
}


#ifdef HAVE_ASAN_CALLBACK
static void on_asan_report(const char *report)
{
    (void)report;
    history_dump();
}
#endif

/* ---- Reading the input ---- */



struct sock_plan {
    int protocol;
    bool bind;
    uint32_t bind_addr;
    uint16_t bind_port;
    bool reuse, broadcast;
    uint32_t conn_addr;          /* 0: not connected */
    uint16_t conn_port;
};

#define UDP_BOUND(addr, port) .protocol = IPPROTO_UDP, .bind = true, .bind_addr = (addr), \
                              .bind_port = (port)

static const struct sock_plan plans[N_SOCKS] = {
    [SK_ADDR] = { UDP_BOUND(ADDR, 5000), .reuse = true },
    [SK_ANY] = { UDP_BOUND(0, 5000), .reuse = true },
    [SK_DBCAST] = { UDP_BOUND(BCAST, 5000), .reuse = true },
    [SK_CONN] = { UDP_BOUND(0, 5001), .conn_addr = PEER, .conn_port = 7000 },
    [SK_BCAST] = { UDP_BOUND(0, 5002), .broadcast = true },
    [SK_PENDING] = { UDP_BOUND(0, 5003), .conn_addr = PENDING, .conn_port = 7003 },
    [SK_EPHEM] = { .protocol = IPPROTO_UDP },
    [SK_PING] = { .protocol = IPPROTO_ICMP },
};


struct world w;
static unsigned reset_every = RESET_EVERY;
static bool paranoid;            /* UST_FUZZ_STACK_PARANOID: settle and account after each op */
static uint8_t pattern[65536];   /* payload bytes for everything we build */
static uint8_t rxbuf[65536];

void set_opt(struct ust_config *c, const char *name, const char *value)
{
    int rc = ust_config_set(c, name, value);
    if (rc)
        fprintf(stderr, "fuzz_stack: option %s=%s: %d\n", name, value, rc);
    CHECK(rc == 0);
}

static void make_config(struct ust_config *c)
{
    static const char *const opts[][2] = {
        { "addr", "198.18.0.2/24" }, { "mac", "02:00:00:00:00:02" }, { "gw", "198.18.0.1" },
        { "log", "error" }, { "mtu", "1500" }, { "pool_buffers", "128" }, { "big_buffers", "2" },
        { "rx_burst", "16" }, { "arp_cache", "8" }, { "arp_queue", "4" },
        { "arp_reachable_ms", "2000" }, { "arp_retrans_ms", "200" }, { "arp_retries", "3" },
        { "arp_stale_ms", "4000" }, { "reasm_timeout_ms", "1000" }, { "reasm_mem", "65536" },
        { "reasm_max", "4" }, { "icmp_rate", "100" }, { "icmp_burst", "4" },
        { "rmem_default", "16384" }, { "rmem_max", "131072" }, { "max_sockets", "64" },
    };
    ust_config_defaults(c);
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        set_opt(c, opts[i][0], opts[i][1]);
    fz_tcp_config(c);
}

static struct sock *sock_of(enum sock_id k)
{
    struct sock *so = sock_get(w.fd[k]);
    CHECK(so != NULL);
    sock_put(so);   /* the table keeps its reference; we only look */
    return so;
}

static struct sockaddr_in sin_of(uint32_t addr, uint16_t port)
{
    return (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(port),
                                 .sin_addr.s_addr = htonl(addr) };
}

/* Opens socket k as its plan says. At start-up every step must work; on a reopen, state the
 * fuzzer left (a port taken by another socket) may refuse a step. */
static void open_socket(enum sock_id k, bool must)
{
    const struct sock_plan *pl = &plans[k];
    int one = 1;
    w.fd[k] = ust_stack_socket(w.s, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, pl->protocol);
    CHECK(w.fd[k] >= 0);
    int rc = 0;
    if (pl->reuse)
        rc |= ust_setsockopt(w.fd[k], SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (pl->broadcast)
        rc |= ust_setsockopt(w.fd[k], SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
    if (pl->bind) {
        struct sockaddr_in a = sin_of(pl->bind_addr, pl->bind_port);
        rc |= ust_bind(w.fd[k], (struct sockaddr *)&a, sizeof a);
    }
    if (pl->conn_addr) {
        struct sockaddr_in a = sin_of(pl->conn_addr, pl->conn_port);
        rc |= ust_connect(w.fd[k], (struct sockaddr *)&a, sizeof a);
    }
    CHECK(!must || rc == 0);
}

/* ---- Feeding frames ---- */

void feed(const uint8_t *frame, size_t len)
{
    struct pkt *p = pkt_alloc(w.pool);
    if (!p)
        return;   /* the stack holds every peer buffer: nothing more can arrive */
    uint8_t *d = pkt_put(p, (uint32_t)len);
    CHECK(d != NULL);
    memcpy(d, frame, len);
    int n = link_tx_burst(w.peer, &p, 1);
    if (n == 0) {
        /* The ring towards the stack is full: let it take a burst, then try again. */
        CHECK(ust_stack_poll(w.s, NULL) >= 0);
        n = link_tx_burst(w.peer, &p, 1);
    }
    CHECK(n >= 0);
    if (n == 0)
        pkt_free(p);
}

/* ---- Checking what the stack sends ---- */

/* Rebuilds datagrams from the stack's own fragments, which leave in order. */
static struct {
    bool active;
    uint16_t id;
    uint8_t protocol;
    uint32_t dst;
    uint32_t next;               /* the offset the next fragment must have */
    uint8_t buf[IPV4_MAX_LEN];
} defrag;

static void check_sent_l4(uint8_t protocol, const uint8_t *l4, size_t len, uint32_t dst)
{
    if (protocol == IPPROTO_UDP) {
        struct udp_repr u;
        CHECK(udp_parse(l4, len, &u) == WIRE_OK);
        CHECK(u.payload_len + UDP_HDR_LEN == len);
        CHECK(u.sport != 0);   /* a socket sends from a bound port (connected to port 0 may
                                  * send to port 0, as on Linux) */
        CHECK(u.checksum != 0);   /* we always compute it */
        CHECK(udp_checksum_ok(l4, len, csum_ipv4_pseudo(ADDR, dst, IPPROTO_UDP, (uint16_t)len)));
        return;
    }
    CHECK(protocol == IPPROTO_ICMP);
    struct icmp_repr m;
    CHECK(icmp_parse(l4, len, &m) == WIRE_OK);
    if (m.type == ICMP_ECHO_REPLY || m.type == ICMP_ECHO_REQUEST) {
        CHECK(m.code == 0);
        return;
    }
    CHECK(m.type == ICMP_DEST_UNREACH || m.type == ICMP_TIME_EXCEEDED);
    /* RFC 1122 3.2.2: a 576-byte reply at most, quoting a datagram from the one we answer. */
    CHECK(IPV4_HDR_LEN + len <= 576);
    struct ipv4_repr q;
    CHECK(ipv4_parse_quoted(m.data, m.data_len, &q) == WIRE_OK);
    CHECK(q.src == dst && q.frag_off == 0);
    CHECK(!(q.protocol == IPPROTO_ICMP && q.payload_len >= 1 && icmp_is_error(q.payload[0])));
}

static void defrag_add(const struct ipv4_repr *ip)
{
    if (ip->frag_off == 0) {
        defrag.active = true;
        defrag.id = ip->id;
        defrag.protocol = ip->protocol;
        defrag.dst = ip->dst;
        defrag.next = 0;
    }
    if (!defrag.active || ip->id != defrag.id || ip->protocol != defrag.protocol ||
        ip->dst != defrag.dst || ip->frag_off != defrag.next) {
        defrag.active = false;   /* a piece went missing (a full ring, an ARP queue) */
        return;
    }
    CHECK(defrag.next + ip->payload_len <= IPV4_MAX_LEN - IPV4_HDR_LEN);
    memcpy(defrag.buf + defrag.next, ip->payload, ip->payload_len);
    defrag.next += ip->payload_len;
    if (!ip->mf) {
        defrag.active = false;
        check_sent_l4(defrag.protocol, defrag.buf, defrag.next, defrag.dst);
    }
}

static void check_sent_ipv4(const struct eth_repr *e)
{
    struct ipv4_repr ip;
    CHECK(ipv4_parse(e->payload, e->payload_len, &ip) == WIRE_OK);   /* header checksum too */
    CHECK(ip.hdr_len == IPV4_HDR_LEN && ip.total_len == e->payload_len);
    CHECK(ip.src == ADDR);
    CHECK(ip.dst != 0 && ip.dst != ADDR && (ip.dst >> 28) != 14 && (ip.dst >> 24) != 127);
    CHECK(ip.ttl != 0);
    if (ip.dst == LIMITED_BCAST || ip.dst == BCAST)
        CHECK(eth_addr_is_broadcast(&e->dst));
    if (ip.frag_off == 0) {
        size_t n = ip.total_len < sizeof w.last_sent ? ip.total_len : sizeof w.last_sent;
        memcpy(w.last_sent, e->payload, n);
        w.last_sent_len = n;
    }
    if (!ipv4_is_fragment(&ip) && ip.protocol == IPPROTO_TCP) {
        CHECK(ip.df);   /* TCP does path MTU discovery: never fragmented */
        fz_tcp_sent(&ip);
        return;
    }
    if (!ipv4_is_fragment(&ip)) {
        check_sent_l4(ip.protocol, ip.payload, ip.payload_len, ip.dst);
        return;
    }
    CHECK(!ip.df && ip.protocol != IPPROTO_TCP);
    CHECK((uint32_t)ip.frag_off + ip.payload_len <= IPV4_MAX_LEN - IPV4_HDR_LEN);
    if (ip.mf)
        CHECK(ip.payload_len > 0 && ip.payload_len % 8 == 0);
    defrag_add(&ip);
}

/* PEER is a live host: it answers the stack's ARP requests (after the drain that saw them), so
 * its TCP connections outlive the ARP cache's timers. PENDING never answers. */
static bool peer_owes_arp_reply;

static void check_sent_arp(const struct eth_repr *e)
{
    struct arp_repr a;
    CHECK(arp_parse(e->payload, e->payload_len, &a) == WIRE_OK);
    CHECK(eth_addr_equal(&a.sha, &our_mac) && a.spa == ADDR);
    if (a.op == ARP_OP_REQUEST) {
        CHECK(eth_addr_is_broadcast(&e->dst) || a.tpa != ADDR);
        if (a.tpa == PEER)
            peer_owes_arp_reply = true;
    } else {
        CHECK(a.op == ARP_OP_REPLY);
        CHECK(eth_addr_equal(&e->dst, &a.tha) && a.tpa != ADDR);
    }
}

static void trace_sent(const struct eth_repr *e)
{
    struct ipv4_repr ip;
    if (e->ethertype == ETHERTYPE_ARP || ipv4_parse(e->payload, e->payload_len, &ip) != 0) {
        TRACE("  sent: ethertype %04x, %zu bytes\n", e->ethertype, e->payload_len);
        return;
    }
    TRACE("  sent: IPv4 proto %u to %08x id %u off %u%s, %u bytes, first %02x\n", ip.protocol,
          ip.dst, ip.id, ip.frag_off, ip.mf ? " MF" : "", ip.payload_len,
          ip.payload_len ? ip.payload[0] : 0);
}

static void check_sent_frame(const uint8_t *buf, size_t len)
{
    struct eth_repr e;
    CHECK(len <= ETH_HDR_LEN + MTU);
    CHECK(eth_parse(buf, len, &e) == WIRE_OK);
    trace_sent(&e);
    CHECK(e.vlan_count == 0 && eth_addr_equal(&e.src, &our_mac));
    CHECK(!eth_addr_is_multicast(&e.dst) || eth_addr_is_broadcast(&e.dst));
    CHECK(e.dst.b[0] | e.dst.b[1] | e.dst.b[2] | e.dst.b[3] | e.dst.b[4] | e.dst.b[5]);
    if (e.ethertype == ETHERTYPE_ARP) {
        check_sent_arp(&e);
        return;
    }
    CHECK(e.ethertype == ETHERTYPE_IPV4);
    check_sent_ipv4(&e);
}

/* Takes, checks and frees everything the stack sent. Returns how many frames that was. */
unsigned drain_peer(void)
{
    struct pkt *burst[64];
    unsigned total = 0;
    int n;
    while ((n = link_rx_burst(w.peer, burst, 64)) > 0) {
        for (int i = 0; i < n; i++) {
            check_sent_frame(burst[i]->data, burst[i]->len);
            pkt_free(burst[i]);
        }
        total += (unsigned)n;
    }
    CHECK(n == 0);
    if (peer_owes_arp_reply) {
        uint8_t f[ETH_HDR_LEN + ARP_LEN];
        struct eth_repr e = { .dst = our_mac, .src = peer_mac, .ethertype = ETHERTYPE_ARP };
        struct arp_repr a = { .op = ARP_OP_REPLY, .sha = peer_mac, .spa = PEER, .tha = our_mac,
                              .tpa = ADDR };
        eth_emit(&e, f, ETH_HDR_LEN);
        arp_emit(&a, f + ETH_HDR_LEN, ARP_LEN);
        peer_owes_arp_reply = false;
        feed(f, sizeof f);
    }
    return total;
}

/* Runs the stack until it has nothing left to do at this time. */
void settle(void)
{
    for (unsigned round = 0;; round++) {
        CHECK(round < 10000);   /* more would be a livelock */
        int n = ust_stack_poll(w.s, NULL);
        CHECK(n >= 0);
        unsigned sent = drain_peer();
        if (n == 0 && sent == 0 && !w.s->loopq_head)
            return;
    }
}

/* ---- Invariants ---- */

static void check_counters(bool snapshot_only)
{
    const struct ctr_set *set = &w.s->ctr_set;
    unsigned k = 0;
    for (unsigned g = 0; g < set->n; g++) {
        for (unsigned i = 0; i < set->groups[g].n; i++, k++) {
            CHECK(k < MAX_CTRS);
            uint64_t v = ctr_group_value(&set->groups[g], i);
            if (snapshot_only) {
                /* Gauges, not counters: curr_estab (fuzz_stack_tcp.c checks it against the
                 * connections) and sockmem.used (socket memory held now). */
                const char *name = set->groups[g].desc[i].name;
                w.gauge[k] = strcmp(name, "curr_estab") == 0 ||
                             (strcmp(set->groups[g].name, "sockmem") == 0 &&
                              strcmp(name, "used") == 0);
            } else if (v < w.ctrs[k] && !w.gauge[k]) {
                fprintf(stderr, "counter %s.%s went from %llu to %llu\n", set->groups[g].name,
                        set->groups[g].desc[i].name, (unsigned long long)w.ctrs[k],
                        (unsigned long long)v);
                CHECK(v >= w.ctrs[k]);
            }
            w.ctrs[k] = v;
        }
    }
    CHECK(snapshot_only || k == w.n_ctrs);
    w.n_ctrs = k;
}

static void check_reassembly(void)
{
    const struct ust_stack *s = w.s;
    uint32_t count = 0, mem = 0;
    for (uint32_t i = 0; i < s->cfg.reasm_max; i++) {
        const struct reasm *r = &s->ipv4.reasm[i];
        if (!r->in_use) {
            CHECK(!r->frags && !timer_is_armed(&r->timer));
            continue;
        }
        count++;
        mem += r->mem;
        CHECK(timer_is_armed(&r->timer));
        uint32_t held = 0, end = 0, bufs = 0;
        for (const struct pkt *f = r->frags; f; f = f->next) {
            CHECK(f->frag_off >= end);   /* sorted, no overlap */
            end = f->frag_off + f->len;
            held += f->len;
            bufs += pkt_buf_size(f);
        }
        CHECK(held == r->held_bytes && bufs == r->mem);
        CHECK(!r->have_last || (end <= r->total && held < r->total));
    }
    CHECK(count == s->ipv4.reasm_count && mem == s->ipv4.reasm_mem);
    CHECK(mem <= s->cfg.reasm_mem);
}

static void check_arp(void)
{
    const struct arp_table *at = &w.s->arp;
    uint32_t used = 0;
    for (uint32_t i = 0; i < at->n_entries; i++) {
        const struct neigh *n = &at->entries[i];
        unsigned q = 0;
        for (const struct pkt *p = n->queue_head; p; p = p->next)
            q++;
        CHECK(q == n->queue_len && q <= w.s->cfg.arp_queue);
        if (n->state == NEIGH_FREE) {
            CHECK(q == 0 && !timer_is_armed(&n->timer));
            continue;
        }
        used++;
        CHECK(q == 0 || n->state == NEIGH_INCOMPLETE);
        CHECK(n->state == NEIGH_STATIC || timer_is_armed(&n->timer));
        CHECK(arp_lookup(w.s, n->ifc, n->ip) == n);
    }
    CHECK(used == at->used);
}

static void check_state(void)
{
    check_counters(false);
    check_reassembly();
    check_arp();
    fz_tcp_check();
}

/* Counts held buffers by pool: [0] the stack's frames, [1] its big buffers, [2] the peer's. */
void count_chain(uint32_t held[3], const struct pkt *p)
{
    for (unsigned k = 0; p; p = p->next, k++) {
        CHECK(k < 1u << 20);
        CHECK(p->refs == 0);
        if (p->pool == w.s->pool)
            held[0]++;
        else if (p->pool == w.s->big_pool)
            held[1]++;
        else if (p->pool == w.pool)
            held[2]++;
        else
            CHECK(!"a buffer from a pool we do not know");
    }
}

/* With the stack idle and the link drained, every buffer in use must be held somewhere. */
static void check_accounting(void)
{
    const struct ust_stack *s = w.s;
    uint32_t held[3] = { 0, 0, 0 };
    for (uint32_t i = 0; i < s->arp.n_entries; i++)
        count_chain(held, s->arp.entries[i].queue_head);
    for (uint32_t i = 0; i < s->cfg.reasm_max; i++)
        if (s->ipv4.reasm[i].in_use)
            count_chain(held, s->ipv4.reasm[i].frags);
    for (const struct sock *so = s->socks; so; so = so->stack_next) {
        if (so->type != SOCK_DGRAM)
            continue;
        uint32_t before = held[0] + held[1] + held[2], bytes = 0;
        count_chain(held, so->udp.rx_head);
        for (const struct pkt *p = so->udp.rx_head; p; p = p->next)
            bytes += pkt_buf_size(p);
        CHECK(held[0] + held[1] + held[2] - before == so->udp.rx_count);
        CHECK(bytes == so->udp.rx_bytes);
    }
    count_chain(held, s->loopq_head);
    fz_tcp_count_held(held);
    CHECK(s->ifaces[0].txq_len == 0);
    if (pkt_pool_in_use(s->pool) != held[0] || pkt_pool_in_use(s->big_pool) != held[1] ||
        pkt_pool_in_use(w.pool) != held[2])
        fprintf(stderr, "in use: frames %u (held %u), big %u (held %u), peer %u (held %u)\n",
                pkt_pool_in_use(s->pool), held[0], pkt_pool_in_use(s->big_pool), held[1],
                pkt_pool_in_use(w.pool), held[2]);
    CHECK(pkt_pool_in_use(s->pool) == held[0]);
    CHECK(pkt_pool_in_use(s->big_pool) == held[1]);
    CHECK(pkt_pool_in_use(w.pool) == held[2]);
}

/* ---- Making and unmaking the world ---- */

/* A datagram under reassembly, whole, from which fragments are cut. */
static struct slot {
    bool valid;
    uint8_t kind;
    uint16_t total;              /* IP payload bytes */
    uint8_t data[IPV4_MAX_LEN];
} slots[4];

static void build_arp(uint8_t *frame, uint16_t op, const struct eth_addr *sha, uint32_t spa,
                      const struct eth_addr *tha, uint32_t tpa, const struct eth_addr *dst)
{
    struct eth_repr e = { .dst = *dst, .src = *sha, .ethertype = ETHERTYPE_ARP };
    struct arp_repr a = { .op = op, .sha = *sha, .spa = spa, .tha = *tha, .tpa = tpa };
    eth_emit(&e, frame, ETH_HDR_LEN);
    arp_emit(&a, frame + ETH_HDR_LEN, ARP_LEN);
}

/* PEER resolved, PENDING incomplete with two datagrams from SK_PENDING waiting. */
static void prime_arp(void)
{
    uint8_t frame[ETH_HDR_LEN + ARP_LEN];
    CHECK(ust_send(w.fd[SK_CONN], "hello", 5, 0) == 5);
    build_arp(frame, ARP_OP_REPLY, &peer_mac, PEER, &our_mac, ADDR, &our_mac);
    feed(frame, sizeof frame);
    settle();
    CHECK(ust_send(w.fd[SK_PENDING], "first", 5, 0) == 5);
    CHECK(ust_send(w.fd[SK_PENDING], "second", 6, 0) == 6);
    settle();
    const struct neigh *n = arp_lookup(w.s, &w.s->ifaces[0], PEER);
    CHECK(n && n->state == NEIGH_REACHABLE);
    n = arp_lookup(w.s, &w.s->ifaces[0], PENDING);
    CHECK(n && n->state == NEIGH_INCOMPLETE && n->queue_len == 2);
}

/* With `offload`, the stack's end of the loop is wrapped in the software segmentation link
 * (link/gso.c), which offers TSO, gather and checksum offload as TAP with the virtio-net header
 * does: the stack then queues unsummed payload, leaves checksums partial and sends TCP
 * super-frames, and the peer receives them cut and summed (from its own pool). */
static void world_make(bool offload)
{
    struct ust_config cfg;
    make_config(&cfg);
    struct link_loop_config lc = { .ring_size = 64, .mtu = MTU, .name_a = "link",
                                   .name_b = "peer" };
    struct link *a, *b;
    CHECK(link_loop_pair(&lc, &a, &b) == 0);
    struct pkt_pool_config pc = { .name = "peer", .count = 512, .buf_size = 2048,
                                  .headroom = PKT_DEFAULT_HEADROOM };
    CHECK(pkt_pool_create(&pc, &w.pool) == 0);
    w.peer = b;
    if (offload)
        CHECK(link_gso_create(a, w.pool, &a) == 0);
    TRACE("world: %s\n", offload ? "offloads (TSO, checksums)" : "no offloads");
    clk_init_fake(&w.clock, (1ull << 44) + 12345);
    int err;
    w.s = stack_create_on(&cfg, &w.clock, a, &err);
    CHECK(w.s != NULL);
    /* Same choices every time (ephemeral ports, IP IDs, hash buckets): the fuzzer then sees
     * the same behaviour for the same inputs. Done before anything is hashed. */
    w.s->secret = (struct hash_key){ 0x0123456789abcdefull, 0xfedcba9876543210ull };
    for (unsigned i = 0; i < 256; i++)
        w.s->ipv4.ids[i] = (uint16_t)(i * 257);
    for (int k = 0; k < N_SOCKS; k++)
        open_socket((enum sock_id)k, true);
    prime_arp();
    fz_tcp_make();
    memset(&defrag, 0, sizeof defrag);
    memset(slots, 0, sizeof slots);   /* a history replays from the same start */
    peer_owes_arp_reply = false;
    w.last_frame_len = 0;
    w.last_sent_len = 0;
    w.inputs = 0;
    check_counters(true);
    check_state();
    check_accounting();
}

static void world_unmake(void)
{
    settle();
    fz_tcp_unmake();
    /* Read every socket dry: what remains in use is held by ARP and reassembly alone. */
    for (int k = 0; k < N_SOCKS; k++) {
        const struct udp_pcb *pcb = &sock_of((enum sock_id)k)->udp;
        for (unsigned i = 0; pcb->rx_head; i++) {
            CHECK(i < 100000);
            CHECK(ust_recv(w.fd[k], rxbuf, sizeof rxbuf, MSG_DONTWAIT) >= 0 || errno != EBADF);
        }
    }
    settle();
    check_accounting();
    ust_stack_destroy(w.s);   /* closes the sockets too */
    w.s = NULL;
    CHECK(link_rx_burst(w.peer, (struct pkt *[1]){ NULL }, 1) == -ENETDOWN);
    link_destroy(w.peer);
    CHECK(pkt_pool_in_use(w.pool) == 0);
    CHECK(pkt_pool_destroy(w.pool) == 0);
    w.pool = NULL;
}

/* ---- Frame templates ---- */

struct frame {
    uint8_t b[FRAME_CAP];
    size_t len;
    size_t l3;                   /* where the ARP or IP header starts */
};

struct l2 {
    uint8_t dst_sel, src_sel;
    bool vlan;
    uint16_t tci;
    unsigned edits;
    bool fix;
};

struct l3 {
    uint8_t src_sel, dst_sel, host, ttl, tos, opt_len;
    bool df;
    uint8_t opt[40];
};

static void read_l2(struct rd *r, struct l2 *l)
{
    uint8_t b = rd_u8(r);
    *l = (struct l2){ .dst_sel = b & 3, .src_sel = (b >> 2) & 3, .vlan = (b & 0x10) != 0,
                      .edits = (b >> 5) & 3, .fix = (b & 0x80) != 0 };
    if (l->vlan)
        l->tci = rd_u16(r);
}

static void read_l3(struct rd *r, struct l3 *l)
{
    uint8_t b = rd_u8(r);
    *l = (struct l3){ .src_sel = b & 7, .dst_sel = (b >> 3) & 3, .df = (b & 0x20) != 0 };
    l->host = rd_u8(r);
    l->ttl = rd_u8(r);
    if (b & 0x80)
        l->tos = rd_u8(r);
    if (b & 0x40) {
        uint8_t n = rd_u8(r) % 41;
        rd_bytes(r, l->opt, n);
        l->opt_len = (uint8_t)((n + 3) & ~3);   /* padded with zeros: end of options */
    }
}

static uint32_t pick_src(const struct l3 *l, uint32_t natural)
{
    static const uint32_t martians[4] = { 0, LIMITED_BCAST, 0xe0000001u, BCAST };
    switch (l->src_sel) {
    case 0: return natural;
    case 1: return PEER;
    case 2: return PENDING;
    case 3: return NET(l->host);
    case 4: return FAR(l->host);
    case 5: return martians[l->host & 3];
    case 6: return ADDR;
    default: return 0x7f000001u;
    }
}

static uint32_t pick_dst(const struct l3 *l, uint32_t natural)
{
    switch (l->dst_sel) {
    case 0: return natural;
    case 1: return LIMITED_BCAST;
    case 2: return BCAST;
    default: return l->host & 1 ? NET(l->host) : 0xe0000000u | l->host;
    }
}

/* Writes the Ethernet header (and tag) and sets f->l3. */
static void put_eth(struct frame *f, const struct l2 *l, const struct eth_addr *natural_src,
                    uint16_t ethertype)
{
    static const struct eth_addr *const dsts[4] = { &our_mac, &bcast_mac, &other_mac,
                                                    &mcast_mac };
    const struct eth_addr *srcs[4] = { natural_src, &other_mac, &our_mac, &mcast_mac };
    memcpy(f->b, dsts[l->dst_sel]->b, ETH_ADDR_LEN);
    memcpy(f->b + 6, srcs[l->src_sel]->b, ETH_ADDR_LEN);
    size_t off = 12;
    if (l->vlan) {
        wire_put16(f->b + off, ETHERTYPE_VLAN);
        wire_put16(f->b + off + 2, l->tci);
        off += 4;
    }
    wire_put16(f->b + off, ethertype);
    f->l3 = off + 2;
    f->len = f->l3;
}

static void ipv4_fix_checksum(uint8_t *hdr, size_t hdr_len)
{
    hdr[10] = hdr[11] = 0;
    uint16_t c = csum_fold(csum_partial(hdr, hdr_len, 0));
    memcpy(hdr + 10, &c, 2);
}

/* Writes an IPv4 header with the L3 block's options after the Ethernet header; returns where
 * the payload goes (f->len then covers the header only). The caller adds payload_len bytes. */
static uint8_t *put_ipv4(struct frame *f, const struct l3 *l, const struct ipv4_repr *h)
{
    struct ipv4_repr r = *h;
    r.ttl = l->ttl;
    r.tos = l->tos;
    r.df = r.df || l->df;
    r.payload_len = (uint16_t)(h->payload_len + l->opt_len);
    uint8_t *hdr = f->b + f->l3;
    ipv4_emit(&r, hdr, IPV4_HDR_LEN);
    if (l->opt_len) {
        hdr[0] = (uint8_t)(0x40 | (IPV4_HDR_LEN + l->opt_len) / 4);
        memcpy(hdr + IPV4_HDR_LEN, l->opt, l->opt_len);
        ipv4_fix_checksum(hdr, IPV4_HDR_LEN + l->opt_len);
    }
    f->len = f->l3 + IPV4_HDR_LEN + l->opt_len;
    return f->b + f->len;
}

/* The payload space left in a frame after its headers. */
static size_t room(const struct frame *f)
{
    return ETH_HDR_LEN + MTU - (f->len < ETH_HDR_LEN + MTU ? f->len : ETH_HDR_LEN + MTU);
}

/* Applies the edits, fixes the header checksum if asked, feeds the frame and keeps a copy. */
static void finish_and_feed(struct rd *r, struct frame *f, const struct l2 *l)
{
    for (unsigned i = 0; i < l->edits; i++) {
        uint16_t pos = rd_u16(r);
        uint8_t x = rd_u8(r);
        f->b[pos % f->len] ^= x ? x : 0xff;
    }
    bool is_ip = wire_get16(f->b + f->l3 - 2) == ETHERTYPE_IPV4;
    if (l->fix && is_ip && f->len >= f->l3 + IPV4_HDR_LEN) {
        size_t hl = (size_t)(f->b[f->l3] & 15) * 4;
        if (hl >= IPV4_HDR_LEN && f->l3 + hl <= f->len)
            ipv4_fix_checksum(f->b + f->l3, hl);
    }
    memcpy(w.last_frame, f->b, f->len);
    w.last_frame_len = f->len;
    w.last_l3 = f->l3;
    feed(f->b, f->len);
}

static uint16_t sock_port(enum sock_id k)
{
    return sock_of(k)->udp.lport;
}

/* Checksum modes: 0 right, 1 zero (UDP: "none"), 2 wrong, 3 right. */
static void udp_finish(uint8_t *udp, size_t len, uint32_t src, uint32_t dst, unsigned mode)
{
    udp_set_checksum(udp, len, csum_ipv4_pseudo(src, dst, IPPROTO_UDP, (uint16_t)len));
    if (mode == 1)
        udp[6] = udp[7] = 0;
    else if (mode == 2)
        udp[7] ^= 0x5a;
}

static void op_udp(struct rd *r)
{
    struct l2 l2;
    struct l3 l3;
    struct frame f;
    read_l2(r, &l2);
    read_l3(r, &l3);
    uint8_t b = rd_u8(r);
    static const enum sock_id dports[6] = { SK_ADDR, SK_CONN, SK_BCAST, SK_PENDING, SK_EPHEM,
                                            SK_PING };
    unsigned dsel = b & 7, ssel = (b >> 3) & 3;
    uint16_t dport = dsel < 6 ? sock_port(dports[dsel]) : dsel == 6 ? 6000 : rd_u16(r);
    uint16_t sport = ssel == 0 ? 7000 : ssel == 1 ? 7003 : ssel == 2 ? rd_u16(r) : 0;
    bool fuzz_len = (b & 0x80) != 0;
    uint16_t len_field = fuzz_len ? rd_u16(r) : 0;
    size_t plen = rd_u16(r);
    uint32_t src = pick_src(&l3, PEER), dst = pick_dst(&l3, ADDR);
    put_eth(&f, &l2, &peer_mac, ETHERTYPE_IPV4);
    size_t space = room(&f) - IPV4_HDR_LEN - l3.opt_len - UDP_HDR_LEN;
    plen %= space + 1;
    struct ipv4_repr h = { .src = src, .dst = dst, .protocol = IPPROTO_UDP,
                           .id = (uint16_t)plen, .payload_len = (uint16_t)(UDP_HDR_LEN + plen) };
    uint8_t *udp = put_ipv4(&f, &l3, &h);
    struct udp_repr u = { .sport = sport, .dport = dport, .payload_len = plen };
    udp_emit(&u, udp, UDP_HDR_LEN);
    memcpy(udp + UDP_HDR_LEN, pattern, plen);
    udp_finish(udp, UDP_HDR_LEN + plen, src, dst, (b >> 5) & 3);
    if (fuzz_len)
        wire_put16(udp + 4, len_field);
    f.len += UDP_HDR_LEN + plen;
    finish_and_feed(r, &f, &l2);
}

/* ---- Fragments ---- */


static void slot_build(struct slot *sl, uint8_t kind, uint16_t total, uint32_t src)
{
    uint16_t old = sl->valid ? sl->total : 0;
    sl->valid = true;
    sl->kind = kind;
    sl->total = total;
    memcpy(sl->data, pattern, total);
    if (old > total)
        memset(sl->data + total, 0, old - total);
    if (kind == 2) {
        if (total < ICMP_HDR_LEN)
            return;
        struct icmp_repr m = { .type = ICMP_ECHO_REQUEST, .rest = 0x12340000u | total,
                               .data = sl->data + ICMP_HDR_LEN, .data_len = total - ICMP_HDR_LEN };
        icmp_emit(&m, sl->data, total);
        return;
    }
    if (total < UDP_HDR_LEN)
        return;
    uint16_t dport = kind == 0 ? 5000 : kind == 1 ? 5001 : 6000;
    struct udp_repr u = { .sport = 7000, .dport = dport, .payload_len = total - UDP_HDR_LEN };
    udp_emit(&u, sl->data, UDP_HDR_LEN);
    udp_finish(sl->data, total, src, ADDR, 0);
}

static void op_frag(struct rd *r)
{
    struct l2 l2;
    struct l3 l3;
    struct frame f;
    read_l2(r, &l2);
    read_l3(r, &l3);
    uint8_t b = rd_u8(r);
    unsigned idx = b & 3, kind = (b >> 2) & 3, mf_mode = (b >> 4) & 3;
    struct slot *sl = &slots[idx];
    uint16_t total = (b & 0x40) ? rd_u16(r) : sl->valid ? sl->total : 3000;
    uint32_t off = (uint32_t)(rd_u16(r) % 8192) * 8;
    size_t len = rd_u16(r);
    uint32_t src = pick_src(&l3, PEER), dst = pick_dst(&l3, ADDR);
    if (!sl->valid || sl->kind != kind || sl->total != total)
        slot_build(sl, (uint8_t)kind, total, src);
    put_eth(&f, &l2, &peer_mac, ETHERTYPE_IPV4);
    len %= room(&f) - IPV4_HDR_LEN - l3.opt_len + 1;
    bool mf = mf_mode == 1 ? true : mf_mode == 2 ? false : off + len < total;
    struct ipv4_repr h = { .src = src, .dst = dst,
                           .protocol = kind == 2 ? IPPROTO_ICMP : IPPROTO_UDP,
                           .id = (uint16_t)(0x7000 + idx), .mf = mf, .frag_off = (uint16_t)off,
                           .payload_len = (uint16_t)len };
    uint8_t *payload = put_ipv4(&f, &l3, &h);
    size_t have = off < IPV4_MAX_LEN ? IPV4_MAX_LEN - off : 0;
    memcpy(payload, sl->data + off, len < have ? len : have);
    if (len > have)
        memset(payload + have, 0, len - have);
    f.len += len;
    finish_and_feed(r, &f, &l2);
}

/* ---- ARP ---- */

static void op_arp(struct rd *r)
{
    struct l2 l2;
    struct frame f;
    read_l2(r, &l2);
    uint8_t b = rd_u8(r);
    unsigned kind = b & 3, ssel = (b >> 2) & 7, hsel = (b >> 5) & 3;
    static const uint32_t senders[8] = { PENDING, PEER, NET(0x21), ADDR, 0, FAR(1), BCAST,
                                         0xe0000001u };
    uint32_t spa = kind == 3 ? rd_u32(r) : senders[ssel];
    const struct eth_addr *natural = spa == PEER ? &peer_mac : spa == PENDING ? &pending_mac
                                                                              : &other_mac;
    static const struct eth_addr zero = { { 0 } };
    const struct eth_addr *shas[4] = { natural, &other_mac, &zero, &mcast_mac };
    const struct eth_addr *sha = shas[hsel];
    uint16_t op = kind == 0 ? ARP_OP_REPLY : ARP_OP_REQUEST;
    if (b & 0x80)
        op = op == ARP_OP_REPLY ? ARP_OP_REQUEST : ARP_OP_REPLY;
    uint32_t tpa = kind == 2 ? spa : kind == 3 ? rd_u32(r) : ADDR;
    const struct eth_addr *tha = op == ARP_OP_REPLY ? &our_mac : &zero;
    put_eth(&f, &l2, sha, ETHERTYPE_ARP);
    struct arp_repr a = { .op = op, .sha = *sha, .spa = spa, .tha = *tha, .tpa = tpa };
    arp_emit(&a, f.b + f.l3, ARP_LEN);
    f.len = f.l3 + ARP_LEN;
    finish_and_feed(r, &f, &l2);
}

/* ---- ICMP ---- */

static void op_echo(struct rd *r)
{
    struct l2 l2;
    struct l3 l3;
    struct frame f;
    read_l2(r, &l2);
    read_l3(r, &l3);
    uint8_t b = rd_u8(r);
    bool reply = b & 1;
    uint16_t id = (b & 8) ? rd_u16(r) : reply ? sock_port(SK_PING) : 0x4242;
    uint16_t seq = rd_u16(r);
    size_t plen = rd_u16(r);
    uint8_t code = (b & 0x10) ? rd_u8(r) : 0;
    uint32_t src = pick_src(&l3, PEER), dst = pick_dst(&l3, ADDR);
    put_eth(&f, &l2, &peer_mac, ETHERTYPE_IPV4);
    plen %= room(&f) - IPV4_HDR_LEN - l3.opt_len - ICMP_HDR_LEN + 1;
    struct ipv4_repr h = { .src = src, .dst = dst, .protocol = IPPROTO_ICMP, .id = seq,
                           .payload_len = (uint16_t)(ICMP_HDR_LEN + plen) };
    uint8_t *icmp = put_ipv4(&f, &l3, &h);
    struct icmp_repr m = { .type = reply ? ICMP_ECHO_REPLY : ICMP_ECHO_REQUEST, .code = code,
                           .rest = (uint32_t)id << 16 | seq, .data = pattern, .data_len = plen };
    icmp_emit(&m, icmp, ICMP_HDR_LEN + plen);
    if (((b >> 1) & 3) == 2)
        icmp[3] ^= 0x5a;
    f.len += ICMP_HDR_LEN + plen;
    finish_and_feed(r, &f, &l2);
}

/* The start of a datagram that socket k might have sent: IP header, then its UDP header (or,
 * for the ping socket, an echo request header). Returns its length (at most cap). */
static size_t quote_flow(uint8_t *q, size_t cap, enum sock_id k, uint16_t total, bool other)
{
    const struct udp_pcb *pcb = &sock_of(k)->udp;
    uint32_t src = pcb->laddr && pcb->laddr != BCAST ? pcb->laddr : ADDR;
    uint32_t dst = pcb->raddr ? pcb->raddr : PEER;
    uint8_t proto = other ? IPPROTO_TCP : pcb->protocol;
    struct ipv4_repr h = { .src = src, .dst = dst, .protocol = proto, .ttl = 64, .id = 99,
                           .payload_len = (uint16_t)(total > IPV4_HDR_LEN ? total - IPV4_HDR_LEN
                                                                           : 0) };
    ipv4_emit(&h, q, IPV4_HDR_LEN);
    uint8_t *l4 = q + IPV4_HDR_LEN;
    memcpy(l4, pattern, cap - IPV4_HDR_LEN);
    if (proto == IPPROTO_ICMP) {
        struct icmp_repr m = { .type = ICMP_ECHO_REQUEST, .rest = (uint32_t)pcb->lport << 16 };
        icmp_emit(&m, l4, ICMP_HDR_LEN);
    } else {
        struct udp_repr u = { .sport = pcb->lport, .dport = pcb->rport ? pcb->rport : 7000,
                              .payload_len = h.payload_len >= 8 ? h.payload_len - 8u : 0 };
        udp_emit(&u, l4, UDP_HDR_LEN);
    }
    return cap;
}

static void op_icmp_err(struct rd *r)
{
    struct l2 l2;
    struct l3 l3;
    struct frame f;
    read_l2(r, &l2);
    read_l3(r, &l3);
    uint8_t b = rd_u8(r);
    static const uint8_t types[8] = { ICMP_DEST_UNREACH, ICMP_DEST_UNREACH, ICMP_TIME_EXCEEDED,
                                      ICMP_PARAM_PROBLEM, ICMP_SOURCE_QUENCH, ICMP_REDIRECT,
                                      ICMP_TIMESTAMP, ICMP_DEST_UNREACH };
    uint8_t type = types[b & 7];
    unsigned qsel = (b >> 3) & 3;
    uint8_t code = rd_u8(r) % 16;
    enum sock_id k = (enum sock_id)(rd_u8(r) % N_SOCKS);
    uint8_t ql = rd_u8(r);
    uint16_t qtotal = rd_u16(r);
    uint32_t rest = (b & 0x80) ? rd_u32(r) : 0;
    size_t qlen = ql < 40 ? ql : 28 + (size_t)(ql - 40);
    uint8_t quote[576];
    if (qsel == 1 && w.last_sent_len) {
        qlen = qlen < w.last_sent_len ? qlen : w.last_sent_len;
        memcpy(quote, w.last_sent, qlen);
    } else if (qsel == 2) {
        rd_bytes(r, quote, qlen);
    } else {
        quote_flow(quote, sizeof quote, k, qtotal ? qtotal : 100, (b & 0x20) != 0);
    }
    uint32_t src = pick_src(&l3, PEER), dst = pick_dst(&l3, ADDR);
    put_eth(&f, &l2, &peer_mac, ETHERTYPE_IPV4);
    size_t max = room(&f) - IPV4_HDR_LEN - l3.opt_len - ICMP_HDR_LEN;
    qlen = qlen < max ? qlen : max;
    struct ipv4_repr h = { .src = src, .dst = dst, .protocol = IPPROTO_ICMP, .id = 7,
                           .payload_len = (uint16_t)(ICMP_HDR_LEN + qlen) };
    uint8_t *icmp = put_ipv4(&f, &l3, &h);
    struct icmp_repr m = { .type = type, .code = code, .rest = rest, .data = quote,
                           .data_len = qlen };
    icmp_emit(&m, icmp, ICMP_HDR_LEN + qlen);
    if (b & 0x40)
        icmp[2] ^= 0x33;   /* a bad checksum */
    f.len += ICMP_HDR_LEN + qlen;
    finish_and_feed(r, &f, &l2);
}

static void op_raw(struct rd *r)
{
    static uint8_t frame[FRAME_CAP];
    size_t len = rd_u16(r) % (FRAME_CAP + 1);
    len = len < r->n ? len : r->n;
    rd_bytes(r, frame, len);
    feed(frame, len);
}

/* Steps the kept frame for the next repetition: the next fragment (offset += its length), a new
 * IP ID (a new datagram), or a new source address (a new host; ARP's sender too). */
static void step_frame(uint8_t *f, size_t len, size_t l3, unsigned mode)
{
    uint16_t type = wire_get16(f + l3 - 2);
    if (type == ETHERTYPE_ARP && len >= l3 + ARP_LEN) {
        wire_put32(f + l3 + 14, wire_get32(f + l3 + 14) + 1);
        return;
    }
    if (type != ETHERTYPE_IPV4 || len < l3 + IPV4_HDR_LEN)
        return;
    uint8_t *ip = f + l3;
    size_t hl = (size_t)(ip[0] & 15) * 4;
    if (mode == 1) {
        uint16_t frag = wire_get16(ip + 6);
        uint16_t step = (uint16_t)((wire_get16(ip + 2) - hl) / 8);
        frag = (uint16_t)((frag & 0xe000) | ((frag + (step ? step : 1)) & 0x1fff));
        wire_put16(ip + 6, frag);
    } else if (mode == 2) {
        wire_put16(ip + 4, (uint16_t)(wire_get16(ip + 4) + 1));
    } else {
        wire_put32(ip + 12, wire_get32(ip + 12) + 1);
        if (ip[9] == IPPROTO_UDP && (wire_get16(ip + 6) & 0x3fff) == 0 &&
            len >= l3 + hl + UDP_HDR_LEN)
            ip[hl + 6] = ip[hl + 7] = 0;   /* "no checksum": still valid from the new source */
    }
    if (hl >= IPV4_HDR_LEN && l3 + hl <= len)
        ipv4_fix_checksum(ip, hl);
}

static void op_repeat(struct rd *r)
{
    uint8_t b = rd_u8(r);
    unsigned n = b % 64 + 1, mode = b >> 6;
    for (unsigned i = 0; i < n && w.last_frame_len; i++) {
        if (mode)
            step_frame(w.last_frame, w.last_frame_len, w.last_l3, mode);
        feed(w.last_frame, w.last_frame_len);
    }
}

/* ---- Time ---- */

static void op_advance(struct rd *r)
{
    uint8_t mode = rd_u8(r);
    uint16_t v = rd_u16(r);
    uint64_t delta;
    /* What was fed arrived before the wait. */
    for (unsigned i = 0; i < 64 && ust_stack_poll(w.s, NULL) > 0; i++)
        ;
    switch (mode & 3) {
    case 0:
        delta = v * NS_PER_US;
        break;
    case 1:
        delta = v * NS_PER_MS;
        break;
    case 2:
        delta = v * 100 * NS_PER_MS;
        break;
    default: {
        /* To the next timer, give or take a few ticks. */
        uint64_t next = timer_wheel_next(&w.s->wheel);
        uint64_t now = clk_now(&w.clock);
        delta = next == TIMER_NONE ? NS_PER_SEC : next > now ? next - now : 0;
        delta += (v % 4) * timer_wheel_resolution_ns(&w.s->wheel);
        break;
    }
    }
    clk_advance(&w.clock, delta);
    CHECK(ust_stack_poll(w.s, NULL) >= 0);
}

/* ---- Socket calls ---- */

/* Destination choices shared by sendto and connect. */
static uint32_t pick_peer_addr(unsigned sel, uint8_t host)
{
    static const uint32_t fixed[8] = { PEER, PENDING, 0, ADDR, LIMITED_BCAST, BCAST, 0, 0 };
    static const uint32_t odd[4] = { 0, 0xe0000001u, 0x7f000001u, 0xf0000001u };
    if (sel == 2)
        return NET(host);
    if (sel == 6)
        return FAR(host);
    if (sel == 7)
        return odd[host & 3];
    return fixed[sel];
}

/* What a datagram becomes once a send has succeeded: frames handed to the link (or refused by
 * it, counted), a packet waiting for ARP or dropped for want of an ARP entry (counted), or a
 * delivery to ourselves. A successful send must leave one of these traces. */
static uint64_t send_outcomes(void)
{
    const struct ust_stack *s = w.s;
    return s->ctrs.tx_frames + s->ctrs.tx_drop_link_full + s->ctrs.tx_drop_link_down +
           s->arp.ctrs.queued + s->arp.ctrs.table_full + s->ipv4.ctrs.out_loopback;
}

static void send_once(enum sock_id k, uint8_t b, uint8_t m, size_t len, struct sockaddr_in *to)
{
    int flags = MSG_DONTWAIT | ((b & 0x20) ? MSG_MORE : 0) | ((b & 0x40) ? MSG_OOB : 0);
    /* A ping socket needs an echo request header; the payload follows in a second piece. */
    uint8_t hdr[ICMP_HDR_LEN] = { (m & 4) ? 13 : ICMP_ECHO_REQUEST, (m & 8) ? 1 : 0, 0, 0,
                                  0, 0, 0, (uint8_t)len };
    size_t first = len < sizeof hdr ? len : sizeof hdr;
    struct iovec iov[2] = { { hdr, first }, { pattern, len - first } };
    struct msghdr msg = { .msg_name = to, .msg_namelen = (m & 16) ? 8 : sizeof *to,
                          .msg_iov = iov, .msg_iovlen = 2 };
    if (b & 0x80)
        msg.msg_name = NULL, msg.msg_namelen = 0;   /* the connected peer */
    uint64_t before = send_outcomes();
    ssize_t rc = ust_sendmsg(w.fd[k], &msg, flags);
    TRACE("  socket %d sends %zu bytes to %08x:%u: %zd %s\n", k, len,
          msg.msg_name ? ntohl(to->sin_addr.s_addr) : 0, ntohs(to->sin_port), rc,
          rc < 0 ? strerror(errno) : "");
    CHECK(rc == -1 || (size_t)rc == len);
    CHECK(rc >= 0 || errno != EBADF);
    CHECK(rc < 0 || send_outcomes() > before);
}

static void op_send(struct rd *r)
{
    enum sock_id k = (enum sock_id)(rd_u8(r) % N_SOCKS);
    uint8_t b = rd_u8(r);
    uint8_t m = rd_u8(r);
    size_t len = rd_u16(r);
    if (!(m & 1))
        len %= 1501;   /* mostly single frames; otherwise anything up to 65535 */
    unsigned dsel = b & 7, psel = (b >> 3) & 3;
    uint16_t port = psel == 0 ? 5000 : psel == 1 ? 5001 : psel == 2 ? rd_u16(r) : 0;
    uint8_t host = (dsel == 2 || dsel == 6 || dsel == 7) ? rd_u8(r) : 0;
    unsigned reps = (m >> 5) ? 1u << (m >> 5) : 1;   /* up to 128: floods, full tables */
    for (unsigned i = 0; i < reps; i++) {
        struct sockaddr_in to = sin_of(pick_peer_addr(dsel, (uint8_t)(host + i)), port);
        if (m & 2)
            to.sin_family = AF_UNSPEC;
        send_once(k, b, m, len, &to);
    }
}

static void op_recv(struct rd *r)
{
    enum sock_id k = (enum sock_id)(rd_u8(r) % N_SOCKS);
    uint8_t b = rd_u8(r);
    size_t len = rd_u16(r);
    int flags = MSG_DONTWAIT | ((b & 1) ? MSG_PEEK : 0) | ((b & 2) ? MSG_TRUNC : 0) |
                ((b & 4) ? MSG_OOB : 0) | ((b & 8) ? MSG_ERRQUEUE : 0);
    unsigned rounds = (b & 0x80) ? 1000 : 1;   /* read the queue dry */
    for (unsigned i = 0; i < rounds; i++) {
        size_t a = len / 3, c = len - 2 * a;
        struct iovec iov[3] = { { rxbuf, a }, { rxbuf + a, a }, { rxbuf + 2 * a, c } };
        struct sockaddr_in from;
        struct msghdr msg = { .msg_name = (b & 16) ? &from : NULL,
                              .msg_namelen = (b & 32) ? 4 : sizeof from, .msg_iov = iov,
                              .msg_iovlen = (b & 64) ? 3 : 1 };
        if (!(b & 64))
            iov[0].iov_len = len;
        ssize_t rc = ust_recvmsg(w.fd[k], &msg, flags);
        TRACE("  socket %d receives: %zd %s\n", k, rc, rc < 0 ? strerror(errno) : "");
        if (rc < 0) {
            CHECK(errno != EBADF && errno != EFAULT);
            break;
        }
        CHECK((size_t)rc <= 65535);
        CHECK((flags & MSG_TRUNC) || (size_t)rc <= len);
    }
}

static void op_connect(struct rd *r)
{
    enum sock_id k = (enum sock_id)(rd_u8(r) % N_SOCKS);
    uint8_t b = rd_u8(r);
    uint16_t port = rd_u16(r);
    uint8_t host = rd_u8(r);
    struct sockaddr_in to = sin_of(pick_peer_addr(b & 7, host), port);
    socklen_t len = sizeof to;
    switch ((b >> 3) & 7) {
    case 0:
        to.sin_family = AF_UNSPEC;   /* dissolve the association */
        break;
    case 1:
        len = 4;
        break;
    case 2:
        to.sin_family = AF_INET6;
        break;
    default:
        break;
    }
    int rc = ust_connect(w.fd[k], (struct sockaddr *)&to, len);
    CHECK(rc == 0 || errno != EBADF);
}

static void op_setopt(struct rd *r)
{
    static const int opts[][2] = {
        { SOL_SOCKET, SO_RCVBUF }, { SOL_SOCKET, SO_SNDBUF }, { SOL_SOCKET, SO_BROADCAST },
        { SOL_SOCKET, SO_REUSEADDR }, { SOL_SOCKET, SO_RCVTIMEO }, { SOL_SOCKET, SO_KEEPALIVE },
        { IPPROTO_IP, IP_TTL }, { IPPROTO_IP, IP_TOS }, { IPPROTO_UDP, 1 }, { 99, 1 },
    };
    enum sock_id k = (enum sock_id)(rd_u8(r) % N_SOCKS);
    unsigned which = rd_u8(r) % (sizeof opts / sizeof opts[0]);
    uint32_t v = rd_u32(r);
    uint8_t lsel = rd_u8(r);
    union {
        int i;
        struct timeval tv;
        uint8_t bytes[32];
    } val;
    memset(&val, 0, sizeof val);
    if (opts[which][1] == SO_RCVTIMEO && opts[which][0] == SOL_SOCKET)
        val.tv = (struct timeval){ .tv_sec = (int16_t)(v >> 16), .tv_usec = (int32_t)(v & 0xfffff) };
    else
        val.i = (int)v;
    socklen_t len = lsel & 1 ? (socklen_t)(lsel >> 1) % sizeof val : sizeof val.i;
    if (opts[which][1] == SO_RCVTIMEO && !(lsel & 1))
        len = sizeof val.tv;
    int rc = ust_setsockopt(w.fd[k], opts[which][0], opts[which][1], &val, len);
    CHECK(rc == 0 || errno != EBADF);
}

static void sock_reopen(enum sock_id k)
{
    CHECK(ust_close(w.fd[k]) == 0);
    open_socket(k, false);
}

static void op_sockmisc(struct rd *r)
{
    enum sock_id k = (enum sock_id)(rd_u8(r) % N_SOCKS);
    uint8_t call = rd_u8(r);
    uint16_t arg = rd_u16(r);
    int fd = w.fd[k], v = 0;
    union {
        int i;
        uint8_t bytes[64];
    } val;
    socklen_t len = sizeof val;
    struct sockaddr_in sa;
    socklen_t salen = (arg & 1) ? 4 : sizeof sa;
    switch (call % 10) {
    case 0:
        (void)ust_getsockopt(fd, SOL_SOCKET, SO_ERROR, &val, &len);
        break;
    case 1:
        len = arg & 7;
        (void)ust_getsockopt(fd, (arg & 8) ? IPPROTO_IP : SOL_SOCKET, arg >> 4, &val, &len);
        break;
    case 2:
        (void)ust_getsockname(fd, (struct sockaddr *)&sa, &salen);
        break;
    case 3:
        (void)ust_getpeername(fd, (struct sockaddr *)&sa, &salen);
        break;
    case 4:
        CHECK(ust_ioctl(fd, FIONREAD, &v) == 0 && v >= 0);
        break;
    case 5: {
        struct pollfd pfd[N_SOCKS];
        for (int i = 0; i < N_SOCKS; i++)
            pfd[i] = (struct pollfd){ .fd = w.fd[i], .events = (short)arg };
        CHECK(ust_poll(pfd, N_SOCKS, 0) >= 0);
        break;
    }
    case 6:
        (void)ust_shutdown(fd, arg % 4);
        break;
    case 7: {
        static const uint32_t addrs[4] = { 0, ADDR, BCAST, PEER };
        sa = sin_of(addrs[arg & 3], (arg & 4) ? (uint16_t)(arg >> 3) : 0);
        (void)ust_bind(fd, (struct sockaddr *)&sa, sizeof sa);
        break;
    }
    case 8:
        CHECK(ust_fcntl(fd, F_GETFL, 0L) & O_NONBLOCK);
        break;
    default:
        sock_reopen(k);
        break;
    }
}

static void op_poll(struct rd *r)
{
    unsigned n = rd_u8(r) % 4 + 1;
    for (unsigned i = 0; i < n; i++) {
        uint64_t next;
        CHECK(ust_stack_poll(w.s, &next) >= 0);
    }
}

static void op_drain(struct rd *r)
{
    (void)r;
    settle();
    check_accounting();
}

/* ---- The driver ---- */

typedef void op_fn(struct rd *r);

static const struct {
    op_fn *fn;
    const char *name;
} ops[] = {
    { op_raw, "raw" }, { op_udp, "udp" }, { op_frag, "frag" }, { op_arp, "arp" },
    { op_echo, "echo" }, { op_icmp_err, "icmp_err" }, { op_repeat, "repeat" },
    { op_advance, "advance" }, { op_send, "send" }, { op_recv, "recv" },
    { op_connect, "connect" }, { op_setopt, "setopt" }, { op_sockmisc, "sockmisc" },
    { op_poll, "poll" }, { op_drain, "drain" }, { fz_op_tcp_seg, "tcp_seg" },
    { fz_op_tcp_icmp, "tcp_icmp" }, { fz_op_tcp_call, "tcp_call" },
    { fz_op_tcp_flood, "tcp_flood" },
};

#define OP_COUNT (sizeof ops / sizeof ops[0])

/* libFuzzer runs an input a second time when it allocated more blocks than it freed, to look
 * for a leak; and so does a replay (running the target on files), for every file. Here the
 * world outlives the input, so a connection made is such an input, and the second run would
 * apply it to the world again: a history written by the fuzzer would then not replay the same.
 * So -detect_leaks=0 is added unless given: every input runs once, fuzzing and replaying alike.
 * Leaks are the buffer accounting's to find (and the world's teardown checks that no connection,
 * control block or TIME_WAIT entry is left). libFuzzer reads its flags after this returns. */
static void no_leak_reruns(int *argc, char ***argv)
{
    static char flag[] = "-detect_leaks=0";
    static char *args[256];
    if (*argc >= (int)(sizeof args / sizeof args[0]) - 1)
        return;
    for (int i = 1; i < *argc; i++)
        if (strncmp((*argv)[i], "-detect_leaks=", 14) == 0)
            return;
    args[0] = (*argv)[0];
    args[1] = flag;      /* first, before any file or directory arguments */
    for (int i = 1; i < *argc; i++)
        args[i + 1] = (*argv)[i];
    args[++*argc] = NULL;
    *argv = args;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    for (int i = 1; i < *argc; i++) {
        const char *a = (*argv)[i];
        if (strncmp(a, "-artifact_prefix=", 17) == 0)
            snprintf(artifact_prefix, sizeof artifact_prefix, "%s", a + 17);
    }
    no_leak_reruns(argc, argv);
    tracing = getenv("UST_FUZZ_STACK_TRACE") != NULL;
    paranoid = getenv("UST_FUZZ_STACK_PARANOID") != NULL;
    const char *e = getenv("UST_FUZZ_STACK_RESET");
    if (e && atoi(e) > 0)
        reset_every = (unsigned)atoi(e) < RESET_EVERY * 4 ? (unsigned)atoi(e) : RESET_EVERY * 4;
    for (size_t i = 0; i < sizeof pattern; i++)
        pattern[i] = (uint8_t)(i * 7 + (i >> 8));
#ifdef HAVE_ASAN_CALLBACK
    __asan_set_error_report_callback(on_asan_report);
#endif
    return 0;   /* the world is made by the first input (see LLVMFuzzerTestOneInput) */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The world is made by the first input and remade every reset_every inputs (each runs
     * exactly once: see no_leak_reruns). Whether the length of the input that makes it is odd
     * picks the link's offloads: a history, which starts with that input, replays in the same
     * kind of world, and half the corpus's worlds have them. */
    if (!w.s || w.inputs >= reset_every) {
        if (w.s)
            world_unmake();
        world_make(size & 1);
        history_clear();
    }
    w.inputs++;
    history_add(data, size);
    fz_tcp_revive();
    struct rd r = { data, size };
    while (r.n) {
        unsigned op = rd_u8(&r) % OP_COUNT;
        TRACE("op %s\n", ops[op].name);
        ops[op].fn(&r);
        check_state();
        if (paranoid) {
            settle();
            check_accounting();
        }
    }
    settle();
    check_state();
    check_accounting();
    if (tracing)
        ctr_set_print(stderr, &w.s->ctr_set, true);
    return 0;
}
