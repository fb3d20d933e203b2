/*
 * The stack test harness: a whole stack on one end of a loop link, a scripted peer on the other,
 * and a fake clock that only the test moves.
 *
 *   struct st *t = *state;                        st_setup made 198.18.0.2/24 on a fresh stack
 *   st_resolve_peer(t);                           the stack knows the peer's MAC from now on
 *   feed(t, udp(.dport = 9, .data = "hi"));       real bytes through the real input path
 *   expect_tx(t, want_icmp(.type = 3, .code = 3, .dst = ST_PEER));
 *   expect_no_tx(t);                              and nothing else went out
 *   advance(t, 1000);                             the fake clock moves, timers run
 *
 * Frames are described by designated initialisers over a default template, so a test names only
 * what differs: arp_request(), arp_reply(), ipv4() (payload taken as is: fragments, unknown
 * protocols), udp(), icmp(), tcp(). They are built with the wire/ emitters; malformed fields
 * (version, IHL, total length, checksums) are patched in afterwards. Expectations work the same
 * way: want_arp(), want_ipv4(), want_udp(), want_icmp(), want_tcp() compare only the fields the
 * test names, after the frame has been parsed by wire/ (so every checksum the stack wrote is
 * verified too). TCP connections in a chosen state, against this scripted peer, come from
 * tcptest.h.
 *
 * The peer never answers ARP by itself: a test that needs the stack to reach the peer either
 * plays the exchange (expect_tx(want_arp(...)) then feed(arp_reply())), or calls
 * st_resolve_peer(), which installs a static entry so no ARP frame or ARP timer appears later.
 *
 * Teardown (st_teardown) closes the sockets the test left open, releases what the protocols
 * still hold (ARP queues, fragments under reassembly), and asserts that the stack's frame pool,
 * its big pool and the peer's pool are all back to zero buffers in use, and that no socket
 * memory is still charged (sockmem.used): every test also proves that it leaked nothing.
 */
#ifndef UST_TESTS_STACKTEST_H
#define UST_TESTS_STACKTEST_H

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "testutil.h"

#include "base/clock.h"
#include "net/stack.h"
#include "wire/arp.h"
#include "wire/eth.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"
#include "wire/udp.h"

/* The templates below are designated initialisers that the test's own fields override: that is
 * the point, so the warning about overriding an initialiser is off in the files that use them. */
#ifdef __clang__
#pragma clang diagnostic ignored "-Winitializer-overrides"
#else
#pragma GCC diagnostic ignored "-Woverride-init"
#endif

/* Addresses (198.18.0.0/15 only), host order. */
#define ST_ADDR 0xc6120002u      /* 198.18.0.2: the stack under test */
#define ST_PEER 0xc6120001u      /* 198.18.0.1: the scripted peer */
#define ST_OTHER 0xc6120003u     /* 198.18.0.3: another host on the link */
#define ST_BCAST 0xc61200ffu     /* 198.18.0.255: the link's directed broadcast */
#define ST_NET(host) (0xc6120000u | (host))
#define ST_PEER_PORT 40001       /* the peer's usual source port */
#define ST_LPORT 5001            /* the stack's port in TCP tests (listening or bound) */

extern const struct eth_addr st_mac;        /* 02:00:00:00:00:02, the stack's */
extern const struct eth_addr st_peer_mac;   /* 02:00:00:00:00:01 */
extern const struct eth_addr st_other_mac;  /* 02:00:00:00:00:03 */
extern const struct eth_addr st_bcast_mac;
extern const struct eth_addr st_zero_mac;

#define ST_CLOCK_START ((1ull << 44) + 12345)   /* a large, unaligned start: ~4.9 hours */
#define ST_TICK_NS (1ull << TIMER_DEFAULT_SHIFT) /* timer resolution: timers fire within one */

struct st_rx;

/* ---- The harness ---- */

struct st {
    struct ust_stack *s;
    struct iface *ifc;           /* the stack's interface */
    struct link *peer;           /* the peer's end of the loop */
    struct pkt_pool *pool;       /* the peer's buffers */
    struct clk clock;
    struct ust_config cfg;
    bool keep_announce;          /* leave the start-up announcement for the test to check */
    bool gso;                    /* the stack's link does segmentation offload (link/gso.h) */
    struct st_rx *rx;            /* the frame expect_tx took last */
};

/* cmocka fixtures: a stack with the default options at 198.18.0.2/24, its start-up gratuitous
 * ARP already checked and taken. */
int st_setup(void **state);
int st_teardown(void **state);

/* Tears the stack down (with the leak checks) and starts another with "name=value" options
 * applied over the defaults: st_restart(t, "arp_queue=3", "mtu=576"). */
#define st_restart(t, ...) st_restart_((t), (const char *const[]){ __VA_ARGS__, NULL })
void st_restart_(struct st *t, const char *const *options);

/* Moves the fake clock and lets the stack run its timers. */
void advance(struct st *t, uint64_t ms);
void advance_ns(struct st *t, uint64_t ns);
/* Moves the clock `ms` and one timer tick more: a timer due in `ms` has fired. */
void advance_past(struct st *t, uint64_t ms);

/* The value of counter "group.name"; fails the test if there is no such counter. */
uint64_t counter(struct st *t, const char *name);

/* Makes the stack know `mac` for `ip` (a static ARP entry) / the peer's address. */
void st_resolve(struct st *t, uint32_t ip, const struct eth_addr *mac);
void st_resolve_peer(struct st *t);
/* Takes the next frame, which must be the stack's broadcast ARP request for the peer, and
 * answers it as the peer: the ordinary exchange, for tests that want it but not its details. */
#define st_answer_arp(t) st_answer_arp_((t), __FILE__, __LINE__)
void st_answer_arp_(struct st *t, const char *file, int line);

/* ---- Frames the peer sends ---- */

enum st_kind { ST_ARP = 1, ST_IPV4, ST_UDP, ST_ICMP, ST_TCP };
enum st_csum { ST_CSUM_OK = 0, ST_CSUM_NONE, ST_CSUM_BAD };

struct st_frame {
    enum st_kind kind;
    /* Ethernet */
    struct eth_addr eth_dst, eth_src;
    uint16_t ethertype;          /* 0: ARP or IPv4, from kind */
    size_t pad;                  /* bytes of link padding (0xee) after the datagram */
    /* ARP */
    uint16_t op;
    struct eth_addr sha, tha;
    uint32_t spa, tpa;
    /* IPv4 */
    uint32_t src, dst;
    uint8_t proto, ttl, tos;
    uint16_t id;
    uint16_t frag_off;           /* bytes */
    bool df, mf;
    uint8_t version;             /* written as is */
    uint8_t ihl;                 /* 0: 5; 6..15 adds NOP options; below 5 is written as is */
    uint16_t total_len;          /* 0: the real length; else written as is */
    bool bad_ip_csum;
    /* UDP */
    uint16_t sport, dport;
    uint16_t udp_len;            /* 0: the real length; else written as is (after the checksum) */
    enum st_csum udp_csum;
    /* ICMP */
    uint8_t type, code;
    uint16_t echo_id;            /* echo messages: the rest-of-header word, with seq */
    uint32_t rest;               /* other messages (ORed in) */
    bool bad_icmp_csum;
    /* TCP (and the ports above). seq is also ICMP echo's sequence number (16 bits). */
    uint32_t seq, ack;
    uint16_t flags;              /* TCP_SYN | TCP_ACK ... */
    uint16_t window, urgent;
    int32_t mss;                 /* options, laid out as Linux does (wire/tcp.h): -1 absent */
    int32_t ws;                  /* window scale shift; -1 absent */
    bool sack_perm;
    int64_t tsval;               /* -1: no timestamps option */
    uint32_t tsecr;
    uint8_t nsack;               /* SACK blocks in sack[] */
    struct tcp_sack_block sack[TCP_MAX_SACK_BLOCKS];
    const uint8_t *raw_opts;     /* if set: these option bytes instead (padded to 4 with EOL) */
    size_t raw_opts_len;
    bool bad_tcp_csum;
    /* The innermost payload; len 0 with data set means strlen(data). */
    const void *data;
    size_t len;
};

#define ST_IPV4_DEFAULTS_                                                            \
    .eth_dst = st_mac, .eth_src = st_peer_mac, .version = 4, .src = ST_PEER,            \
    .dst = ST_ADDR, .ttl = 64, .id = 0x5eed

#define arp_request(...)                                                             \
    ((struct st_frame){ .kind = ST_ARP, .eth_dst = st_bcast_mac, .eth_src = st_peer_mac,  \
                        .op = ARP_OP_REQUEST, .sha = st_peer_mac, .spa = ST_PEER,         \
                        .tpa = ST_ADDR, __VA_ARGS__ })
#define arp_reply(...)                                                               \
    ((struct st_frame){ .kind = ST_ARP, .eth_dst = st_mac, .eth_src = st_peer_mac,        \
                        .op = ARP_OP_REPLY, .sha = st_peer_mac, .spa = ST_PEER,           \
                        .tha = st_mac, .tpa = ST_ADDR, __VA_ARGS__ })
/* An IPv4 datagram whose payload is .data as it is (protocol 253, "experimentation"). */
#define ipv4(...)                                                                    \
    ((struct st_frame){ .kind = ST_IPV4, ST_IPV4_DEFAULTS_, .proto = 253, __VA_ARGS__ })
#define udp(...)                                                                     \
    ((struct st_frame){ .kind = ST_UDP, ST_IPV4_DEFAULTS_, .proto = IPPROTO_UDP,          \
                        .sport = ST_PEER_PORT, .dport = 7, __VA_ARGS__ })
/* A TCP segment from the peer's usual port to the stack's test port, window 65535, no
 * options: name flags, seq, ack and what else differs. */
#define tcp(...)                                                                     \
    ((struct st_frame){ .kind = ST_TCP, ST_IPV4_DEFAULTS_, .proto = IPPROTO_TCP,          \
                        .sport = ST_PEER_PORT, .dport = ST_LPORT, .window = 65535,        \
                        .mss = -1, .ws = -1, .tsval = -1, __VA_ARGS__ })
/* An echo request unless .type says otherwise. */
#define icmp(...)                                                                    \
    ((struct st_frame){ .kind = ST_ICMP, ST_IPV4_DEFAULTS_, .proto = IPPROTO_ICMP,        \
                        .type = ICMP_ECHO_REQUEST, .echo_id = 0x1812, .seq = 1, __VA_ARGS__ })

/* Writes the whole frame / only the IPv4 datagram / only the transport part (UDP header and data
 * with its checksum, ICMP message, or the raw payload) into buf; returns the length. */
size_t st_build(const struct st_frame *f, uint8_t *buf, size_t cap);
size_t st_build_ip(const struct st_frame *f, uint8_t *buf, size_t cap);
size_t st_build_l4(const struct st_frame *f, uint8_t *buf, size_t cap);

/* Sends the frame from the peer and lets the stack process it. */
#define feed(t, frame) st_feed_frame((t), (frame))
void st_feed_frame(struct st *t, struct st_frame f);
void st_feed_bytes(struct st *t, const void *bytes, size_t len);
/* Puts the frame on the wire without letting the stack process it: for a helper thread that
 * holds the stack lock while the test's thread is blocked in a call (see tcptest.h). */
void st_inject_frame(struct st *t, struct st_frame f);

/* Feeds the transport part of `whole` (built as st_build_l4) as fragments of `piece` payload
 * bytes each, in the order given by `order` (indices, `n` of them; NULL: in order). */
void st_feed_fragments(struct st *t, const struct st_frame *whole, size_t piece,
                       const unsigned *order, unsigned n);

/* ---- Frames the stack sends ---- */

#define ST_ANY INT64_MIN
#define ST_NONE (INT64_MIN + 1)  /* want_tcp: this option must be absent */

struct st_want {
    enum st_kind kind;
    const struct eth_addr *eth_dst, *eth_src;    /* NULL: any */
    /* ARP */
    int64_t op, spa, tpa;
    const struct eth_addr *sha, *tha;
    /* IPv4 */
    int64_t src, dst, proto, ttl, tos, id, frag_off, df, mf, total_len;
    /* UDP */
    int64_t sport, dport;
    /* ICMP */
    int64_t type, code, echo_id, seq, rest;   /* seq: also TCP's sequence number */
    /* TCP: header fields, then options (ST_NONE: absent; sack_perm 0 / 1; nsack 0: no SACK
     * option, n: exactly these n blocks). */
    int64_t ack, flags, window, urgent, hdr_len;
    int64_t mss, ws, sack_perm, tsval, tsecr, nsack;
    struct tcp_sack_block sack[TCP_MAX_SACK_BLOCKS];
    /* The innermost payload: UDP data, ICMP data after the 8-byte header, or the whole IPv4
     * payload for want_ipv4. data NULL: not compared; len ST_ANY: not compared (but with data
     * set and len ST_ANY, len is strlen(data)). */
    const void *data;
    int64_t len;
};

#define ST_WANT_ANY_                                                                 \
    .op = ST_ANY, .spa = ST_ANY, .tpa = ST_ANY, .src = ST_ANY, .dst = ST_ANY,            \
    .proto = ST_ANY, .ttl = ST_ANY, .tos = ST_ANY, .id = ST_ANY, .frag_off = ST_ANY,     \
    .df = ST_ANY, .mf = ST_ANY, .total_len = ST_ANY, .sport = ST_ANY, .dport = ST_ANY,   \
    .type = ST_ANY, .code = ST_ANY, .echo_id = ST_ANY, .seq = ST_ANY, .rest = ST_ANY,    \
    .ack = ST_ANY, .flags = ST_ANY, .window = ST_ANY, .urgent = ST_ANY, .hdr_len = ST_ANY, \
    .mss = ST_ANY, .ws = ST_ANY, .sack_perm = ST_ANY, .tsval = ST_ANY, .tsecr = ST_ANY,    \
    .nsack = ST_ANY, .len = ST_ANY

#define want_arp(...) ((struct st_want){ ST_WANT_ANY_, .kind = ST_ARP, __VA_ARGS__ })
#define want_ipv4(...) ((struct st_want){ ST_WANT_ANY_, .kind = ST_IPV4, __VA_ARGS__ })
#define want_udp(...) ((struct st_want){ ST_WANT_ANY_, .kind = ST_UDP, __VA_ARGS__ })
#define want_icmp(...) ((struct st_want){ ST_WANT_ANY_, .kind = ST_ICMP, __VA_ARGS__ })
/* From the stack's test port to the peer's usual port; every other field as named. */
#define want_tcp(...)                                                                \
    ((struct st_want){ ST_WANT_ANY_, .kind = ST_TCP, .sport = ST_LPORT,                   \
                       .dport = ST_PEER_PORT, __VA_ARGS__ })

/* A frame the stack sent, parsed. Valid until the next expect_tx / st_take_tx. */
struct st_rx {
    uint8_t *frame;
    size_t frame_len;
    struct eth_repr eth;
    struct arp_repr arp;         /* ethertype ARP */
    struct ipv4_repr ip;         /* ethertype IPv4 */
    struct udp_repr udp;         /* IPv4, UDP, not a fragment */
    struct icmp_repr icmp;       /* IPv4, ICMP, not a fragment */
    struct tcp_repr tcp;         /* IPv4, TCP, not a fragment */
    const uint8_t *data;         /* the innermost payload, as for st_want (TCP: its data) */
    size_t len;
};

/* Takes the next frame the stack sent and checks the fields `want` names; fails the test (at the
 * caller's line) if there is none or a field differs. */
#define expect_tx(t, want) st_expect_tx((t), (want), __FILE__, __LINE__)
const struct st_rx *st_expect_tx(struct st *t, struct st_want want, const char *file, int line);
/* Nothing is sent until `ms` have passed (to the nanosecond), then `want` within one timer tick:
 * a timer's period checked to the wheel's resolution. */
#define expect_tx_after(t, ms, want) st_expect_tx_after((t), (ms), (want), __FILE__, __LINE__)
const struct st_rx *st_expect_tx_after(struct st *t, uint64_t ms, struct st_want want,
                                       const char *file, int line);
/* Fails if the stack sent anything. */
#define expect_no_tx(t) st_expect_no_tx((t), __FILE__, __LINE__)
void st_expect_no_tx(struct st *t, const char *file, int line);
/* The next frame the stack sent, parsed, or NULL. */
const struct st_rx *st_take_tx(struct st *t);
/* Takes and counts every frame the stack has sent. */
unsigned st_drain_tx(struct st *t);
/* A one-line description of a frame (tcpdump-like for TCP), for failure messages and traces. */
void st_describe(const struct st_rx *rx, char *buf, size_t cap);

/* ---- Sockets ---- */

struct sockaddr_in st_sin(uint32_t addr, uint16_t port);
/* A UDP socket on the stack (fails the test if it cannot be made). */
int st_udp_socket(struct st *t);
/* A UDP socket bound to (addr, port). */
int st_udp_bound(struct st *t, uint32_t addr, uint16_t port);
int st_bind(int fd, uint32_t addr, uint16_t port);
int st_connect(int fd, uint32_t addr, uint16_t port);
ssize_t st_sendto(int fd, const void *buf, size_t len, uint32_t addr, uint16_t port);
/* Non-blocking receive; *from (if not NULL) gets the sender. */
ssize_t st_recv(int fd, void *buf, size_t cap, struct sockaddr_in *from);
/* The socket's local port. */
uint16_t st_local_port(int fd);

/* `call` must fail with errno `err`. */
#define expect_errno(call, err)                                                      \
    do {                                                                             \
        errno = 0;                                                                   \
        long rc_ = (long)(call);                                                     \
        if (rc_ != -1 || errno != (err)) {                                           \
            print_error("%s: returned %ld errno %d (%s), want -1 errno %d (%s)\n", #call, \
                        rc_, errno, strerror(errno), (err), strerror(err));          \
            fail();                                                                  \
        }                                                                            \
    } while (0)

#endif
