/*
 * TCP's per-stack state (private to src/tcp; tcp_table.c owns it).
 */
#ifndef UST_TCP_TABLE_H
#define UST_TCP_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "tcp/cc/cc.h"
#include "tcp/tcp.h"

struct tcp_conn;
struct tcb;

struct tcp_table {
    struct tcp_conn **ehash;     /* established, SYN_RECEIVED and TIME_WAIT by 4-tuple */
    uint32_t ehash_size;         /* power of two */
    /* The entry tcp_ehash_lookup found last, so a burst for one connection skips the hash. It
     * is always what a walk of its chain would find first: any insertion (which could put a
     * match ahead of it) or its own removal clears it. */
    struct tcp_conn *ehash_last;
    /* By local port (65536 heads): every connection, listener, bound socket and TIME_WAIT
     * entry using the port, doubly linked so removal is O(1). Sockets bound by bind() come
     * first, the port's connections after them, so the questions asked of bound sockets
     * (tcp_pick_port) never walk the connections. */
    struct tcp_conn **bhash;
    /* Listeners by local port (65536 heads), linked through listen_next: a SYN finds its
     * listener in O(listeners on the port), however many connections the port has. */
    struct tcb **lhash;
    uint32_t conns;              /* connections past SYN_SENT, TIME_WAIT excluded */
    uint32_t tcbs;               /* allocated control blocks (leak checks) */
    uint32_t tws;                /* TIME_WAIT entries */
    uint64_t tcb_frees;          /* control blocks freed so far: tells a caller holding a
                                  * pointer across a call whether it may still be valid */
    uint32_t orphans;            /* control blocks closed by the user, still alive */
    uint64_t port_counter;
    uint32_t next_ephemeral;     /* RFC 6056 Algorithm 3's counter */
    const struct cc_ops *cc_default;
    uint64_t challenge_start_ns; /* RFC 5961 7: the rate limit's current second */
    uint32_t challenge_count;    /* challenge ACKs left in it (a random budget) */
    bool isn_override;           /* tests only: tcp_isn_override_for_tests() armed */
    uint32_t isn_override_value;
    /* tcp_ts_offset's last answer: a pair of hosts keeps its offset, so connections between the
     * same two addresses (the usual case) skip the SipHash. */
    bool ts_off_valid;
    uint32_t ts_off_laddr, ts_off_raddr, ts_off;
    struct tcp_ctrs ctrs;
};

bool tcp_port_conflicts(struct ust_stack *s, const struct tcb *tp, uint32_t addr, uint16_t port);
const char *tcp_state_name(enum tcp_state st);

#endif
