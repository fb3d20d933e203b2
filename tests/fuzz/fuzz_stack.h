/*
 * fuzz_stack's shared parts: the world, reading the input, failing with the history, feeding
 * frames; fuzz_stack.c holds the IPv4/ICMP/UDP side and the driver, fuzz_stack_tcp.c the TCP
 * side (its connections, the peer that plays them, their operations and checks).
 */
#ifndef UST_FUZZ_STACK_H
#define UST_FUZZ_STACK_H

#include "fuzz_common.h"

#include "base/clock.h"
#include "base/pkt.h"
#include "net/stack.h"
#include "ustack/config.h"
#include "wire/eth.h"
#include "wire/ipv4.h"

#define MTU 1500
#define FRAME_CAP (ETH_HDR_LEN + ETH_VLAN_TAG_LEN + MTU + 64)

/* Addresses, host order (198.18.0.0/15, as the packet tests). */
#define ADDR 0xc6120002u         /* the stack */
#define PEER 0xc6120001u         /* resolved neighbour and gateway */
#define PENDING 0xc6120003u      /* incomplete neighbour */
#define BCAST 0xc61200ffu        /* the directed broadcast */
#define NET(h) (0xc6120000u | (h))
#define FAR(h) (0xc0000200u | (h))   /* off link, reached through the gateway */
#define LIMITED_BCAST 0xffffffffu

extern const struct eth_addr our_mac, peer_mac;

/* ---- Failing, and leaving the history behind ---- */

extern bool tracing;             /* UST_FUZZ_STACK_TRACE set: say what happens, on stderr */
#define TRACE(...)                                                                     \
    do {                                                                               \
        if (tracing)                                                                   \
            fprintf(stderr, __VA_ARGS__);                                              \
    } while (0)

void history_dump(void);

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
            history_dump();                                                            \
            abort();                                                                   \
        }                                                                              \
    } while (0)

/* ---- Reading the input ---- */

struct rd {
    const uint8_t *p;
    size_t n;
};

static inline uint8_t rd_u8(struct rd *r)
{
    if (!r->n)
        return 0;
    r->n--;
    return *r->p++;
}

static inline uint16_t rd_u16(struct rd *r)
{
    uint16_t hi = rd_u8(r);
    return (uint16_t)(hi << 8 | rd_u8(r));
}

static inline uint32_t rd_u32(struct rd *r)
{
    uint32_t hi = rd_u16(r);
    return hi << 16 | rd_u16(r);
}

/* Copies up to n bytes; what the input lacks is zero. */
static inline void rd_bytes(struct rd *r, uint8_t *dst, size_t n)
{
    size_t k = n < r->n ? n : r->n;
    memcpy(dst, r->p, k);
    memset(dst + k, 0, n - k);
    r->p += k;
    r->n -= k;
}

/* ---- The world ---- */

enum sock_id {
    SK_ADDR, SK_ANY, SK_DBCAST, SK_CONN, SK_BCAST, SK_PENDING, SK_EPHEM, SK_PING, N_SOCKS
};

#define MAX_CTRS 1024

struct world {
    struct clk clock;
    struct ust_stack *s;
    struct link *peer;
    struct pkt_pool *pool;       /* the peer's frames */
    int fd[N_SOCKS];
    uint64_t ctrs[MAX_CTRS];
    bool gauge[MAX_CTRS];        /* may go down (set when the counters are snapshot) */
    unsigned n_ctrs;
    uint8_t last_frame[FRAME_CAP];   /* the last template frame fed, for OP_REPEAT */
    size_t last_frame_len;
    size_t last_l3;              /* where its ARP or IP header starts */
    uint8_t last_sent[576];      /* the start of the last datagram the stack sent */
    size_t last_sent_len;
    unsigned inputs;             /* since the world was made */
};

extern struct world w;

void set_opt(struct ust_config *c, const char *name, const char *value);
void feed(const uint8_t *frame, size_t len);
unsigned drain_peer(void);   /* takes, checks and frees what the stack sent */
void settle(void);           /* runs the stack until idle, draining */
void count_chain(uint32_t held[3], const struct pkt *p);

/* ---- The TCP side (fuzz_stack_tcp.c) ---- */

void fz_tcp_config(struct ust_config *c);
void fz_tcp_make(void);          /* after the UDP sockets and ARP: listener and connections */
void fz_tcp_unmake(void);        /* closes everything; checks nothing is left */
void fz_tcp_revive(void);        /* remakes connections that died */
void fz_tcp_check(void);         /* invariants of every connection, after each operation */
void fz_tcp_count_held(uint32_t held[3]);   /* buffers TCP holds (accounting) */
void fz_tcp_sent(const struct ipv4_repr *ip);   /* a TCP segment the stack sent: check, learn */
void fz_op_tcp_seg(struct rd *r);
void fz_op_tcp_icmp(struct rd *r);
void fz_op_tcp_call(struct rd *r);
void fz_op_tcp_flood(struct rd *r);

#endif
