/*
 * TCP's tables and connection life cycle: the established table (4-tuple -> connection,
 * TIME_WAIT entries included), the bind table (local port -> every connection, listener and
 * TIME_WAIT entry using it), the listener table (local port -> its listeners, kept by
 * tcp_set_state), ephemeral ports, allocation, state changes, and teardown.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "net/stack.h"
#include "tcp/table.h"
#include "tcp/tcb.h"

CTR_DESCRIBE(tcp_ctrs, TCP_COUNTERS)

#define BHASH_SIZE 65536u
#define PRIVILEGED_PORTS_BELOW 1024

int tcp_init(struct ust_stack *s)
{
    struct tcp_table *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->ehash_size = 1024;
    while (t->ehash_size < s->cfg.max_sockets)
        t->ehash_size <<= 1;
    t->ehash = calloc(t->ehash_size, sizeof(*t->ehash));
    t->bhash = calloc(BHASH_SIZE, sizeof(*t->bhash));
    t->lhash = calloc(BHASH_SIZE, sizeof(*t->lhash));
    s->tcp = t;
    if (!t->ehash || !t->bhash || !t->lhash)
        return -ENOMEM;
    t->cc_default = cc_find(s->cfg.tcp_cc);
    if (!t->cc_default) {
        ust_log(UST_LOG_ERROR, "tcp_cc \"%s\" is not one of %s", s->cfg.tcp_cc, cc_names());
        return -EINVAL;
    }
    return 0;
}

void tcp_destroy(struct ust_stack *s)
{
    struct tcp_table *t = s->tcp;
    if (!t)
        return;
    if (t->ehash) {
        /* What is left is orphaned: connections closing or in TIME_WAIT. */
        for (uint32_t i = 0; i < t->ehash_size; i++) {
            while (t->ehash[i]) {
                struct tcp_conn *c = t->ehash[i];
                if (c->compact) {
                    tcp_tw_kill(s, c);
                } else {
                    struct tcb *tp = (struct tcb *)c;
                    tp->notify = NULL;
                    tcp_orphan(tp);
                    tcp_done(tp);
                }
            }
        }
    }
    free(t->ehash);
    free(t->bhash);
    free(t->lhash);
    free(t);
    s->tcp = NULL;
}

struct ctr_group tcp_ctr_group(struct ust_stack *s)
{
    return CTR_GROUP("tcp", tcp_ctrs, &s->tcp->ctrs);
}

struct tcp_ctrs *tcp_counters(struct ust_stack *s)
{
    return &s->tcp->ctrs;
}

uint32_t tcp_connection_count(struct ust_stack *s)
{
    return s->tcp ? s->tcp->conns : 0;
}

uint32_t tcp_tcb_count(struct ust_stack *s)
{
    return s->tcp ? s->tcp->tcbs : 0;
}

uint32_t tcp_time_wait_count(struct ust_stack *s)
{
    return s->tcp ? s->tcp->tws : 0;
}

/* ---- Allocation ---- */

struct tcb *tcb_alloc(struct ust_stack *s)
{
    struct tcb *tp = calloc(1, sizeof(*tp));
    if (!tp)
        return NULL;
    tp->stack = s;
    tp->c.state = TCPS_CLOSED;
    tp->rcvbuf = s->cfg.tcp_rmem;
    tp->sndbuf = s->cfg.tcp_wmem;
    tp->cc = s->tcp->cc_default;
    tp->keepidle_s = (uint16_t)s->cfg.tcp_keepalive_time_s;     /* config caps: 32767 */
    tp->keepintvl_s = (uint16_t)s->cfg.tcp_keepalive_intvl_s;
    tp->keepcnt = (uint8_t)s->cfg.tcp_keepalive_probes;      /* 127 */
    tcp_rtt_init(tp);
    tcp_timers_init(tp);
    s->tcp->tcbs++;
    return tp;
}

static void purge_queue(struct pkt **head, struct pkt **tail)
{
    pkt_free_chain(*head);
    *head = NULL;
    if (tail)
        *tail = NULL;
}

void tcp_orphan(struct tcb *tp)
{
    if (!tp->orphan)
        tp->stack->tcp->orphans++;
    tp->orphan = true;
}

void tcp_mem_sync(struct tcb *tp)
{
    struct sockmem *m = &tp->stack->mem;
    uint64_t held = (uint64_t)tp->rcv_mem + tp->snd_mem;
    if (held > UINT32_MAX)
        held = UINT32_MAX;   /* what one connection is charged, at most (absurd buffers only) */
    if (held > tp->mem_charged)
        sockmem_charge(m, held - tp->mem_charged);
    else if (held < tp->mem_charged)
        sockmem_uncharge(m, tp->mem_charged - held);
    tp->mem_charged = (uint32_t)held;
}

bool tcp_mem_may_grow(const struct tcb *tp, size_t bytes)
{
    /* What the queues hold beyond what was charged counts too: the check may come before the
     * next sync. */
    uint64_t held = (uint64_t)tp->rcv_mem + tp->snd_mem;
    uint64_t pending = held > tp->mem_charged ? held - tp->mem_charged : 0;
    return sockmem_may_charge(&tp->stack->mem, pending + bytes);
}

void tcb_free(struct tcb *tp)
{
    struct ust_stack *s = tp->stack;
    tcp_timers_stop(tp);
    purge_queue(&tp->snd_head, &tp->snd_tail);
    tp->send_head = NULL;
    purge_queue(&tp->rcv_head, &tp->rcv_tail);
    tcp_ooo_purge(tp);
    tp->snd_mem = tp->rcv_mem = 0;
    tcp_mem_sync(tp);
    if (tp->orphan)
        s->tcp->orphans--;
    s->tcp->tcbs--;
    s->tcp->tcb_frees++;
    assert(!tp->c.in_ehash && s->tcp->ehash_last != &tp->c);   /* removed before it is freed */
    free(tp->ack_cache);
    free(tp);
}

/* ---- Hash tables ---- */

static uint32_t ehash_index(struct ust_stack *s, uint32_t laddr, uint16_t lport, uint32_t raddr,
                            uint16_t rport)
{
    return hash_flow(s->secret.k0 ^ 0x7463, raddr, laddr, (uint32_t)rport << 16 | lport) &
           (s->tcp->ehash_size - 1);
}

void tcp_ehash_insert(struct ust_stack *s, struct tcp_conn *c)
{
    uint32_t i = ehash_index(s, c->laddr, c->lport, c->raddr, c->rport);
    c->hash_next = s->tcp->ehash[i];
    s->tcp->ehash[i] = c;
    c->in_ehash = true;
    s->tcp->ehash_last = NULL;
}

void tcp_ehash_remove(struct ust_stack *s, struct tcp_conn *c)
{
    if (!c->in_ehash)
        return;
    struct tcp_conn **pp = &s->tcp->ehash[ehash_index(s, c->laddr, c->lport, c->raddr,
                                                      c->rport)];
    while (*pp != c)
        pp = &(*pp)->hash_next;
    *pp = c->hash_next;
    c->hash_next = NULL;
    c->in_ehash = false;
    if (s->tcp->ehash_last == c)
        s->tcp->ehash_last = NULL;
}

struct tcp_conn *tcp_ehash_lookup(struct ust_stack *s, uint32_t laddr, uint16_t lport,
                                  uint32_t raddr, uint16_t rport)
{
    struct tcp_conn *c = tcp_conn_is(s->tcp->ehash_last, laddr, lport, raddr, rport);
    if (c)
        return c;
    for (c = s->tcp->ehash[ehash_index(s, laddr, lport, raddr, rport)]; c; c = c->hash_next)
        if (tcp_conn_is(c, laddr, lport, raddr, rport))
            break;
    if (c)
        s->tcp->ehash_last = c;
    return c;
}

/* A socket bound by bind() goes at the head of its port's chain; a connection goes after the
 * bound sockets (a walk over at most those), so they stay ahead of every connection. */
void tcp_bhash_insert(struct ust_stack *s, struct tcp_conn *c)
{
    struct tcp_conn **pp = &s->tcp->bhash[c->lport];
    c->bind_front = !c->compact && ((struct tcb *)c)->bound_by_user;
    if (!c->bind_front)
        while (*pp && (*pp)->bind_front)
            pp = &(*pp)->bind_next;
    c->bind_next = *pp;
    if (c->bind_next)
        c->bind_next->bind_pprev = &c->bind_next;
    *pp = c;
    c->bind_pprev = pp;
}

void tcp_bhash_remove(struct ust_stack *s, struct tcp_conn *c)
{
    (void)s;
    if (!c->bind_pprev)
        return;
    *c->bind_pprev = c->bind_next;
    if (c->bind_next)
        c->bind_next->bind_pprev = c->bind_pprev;
    c->bind_next = NULL;
    c->bind_pprev = NULL;
}

static void lhash_insert(struct ust_stack *s, struct tcb *tp)
{
    struct tcb **head = &s->tcp->lhash[tp->c.lport];
    tp->listen_next = *head;
    *head = tp;
}

/* O(listeners on the port): a handful at most (SO_REUSEPORT, one per local address). */
static void lhash_remove(struct ust_stack *s, struct tcb *tp)
{
    struct tcb **pp = &s->tcp->lhash[tp->c.lport];
    while (*pp && *pp != tp)
        pp = &(*pp)->listen_next;
    if (*pp)
        *pp = tp->listen_next;
    tp->listen_next = NULL;
}

struct tcb *tcp_listeners(struct ust_stack *s, uint16_t lport)
{
    return s->tcp->lhash[lport];
}

/* The most specific listener: one bound to laddr beats one bound to the wildcard. Of equals,
 * the one that started listening last (the bind table's order before listeners had their own
 * table: the most recently bound first). */
struct tcb *tcp_listener_lookup(struct ust_stack *s, uint32_t laddr, uint16_t lport)
{
    struct tcb *wild = NULL;
    for (struct tcb *lp = s->tcp->lhash[lport]; lp; lp = lp->listen_next) {
        if (lp->c.laddr == laddr)
            return lp;
        if (lp->c.laddr == 0 && !wild)
            wild = lp;
    }
    return wild;
}

/* ---- Ports ---- */

/* Linux's bind conflict rule (inet_csk_bind_conflict): same port, overlapping addresses, unless
 * both set SO_REUSEADDR and the other is not listening, or both set SO_REUSEPORT. A TIME_WAIT
 * entry only stands in the way of a socket without SO_REUSEADDR. */
bool tcp_port_conflicts(struct ust_stack *s, const struct tcb *tp, uint32_t addr, uint16_t port)
{
    for (struct tcp_conn *c = s->tcp->bhash[port]; c; c = c->bind_next) {
        if (c == &tp->c)
            continue;
        if (c->laddr && addr && c->laddr != addr)
            continue;
        if (c->state == TCPS_TIME_WAIT) {
            if (!tp->reuseaddr)
                return true;
            continue;
        }
        const struct tcb *o = (const struct tcb *)c;
        if (tp->reuseaddr && o->reuseaddr && c->state != TCPS_LISTEN)
            continue;
        if (tp->reuseport && o->reuseport)
            continue;
        return true;
    }
    return false;
}

static bool port_in_use(struct ust_stack *s, uint16_t port)
{
    return s->tcp->bhash[port] != NULL;
}

int tcp_bind(struct tcb *tp, uint32_t addr, uint16_t port)
{
    struct ust_stack *s = tp->stack;
    if (tp->c.lport || tp->c.state != TCPS_CLOSED)
        return -EINVAL;
    if (addr && !stack_is_local_addr(s, addr))
        return -EADDRNOTAVAIL;
    if (port && port < PRIVILEGED_PORTS_BELOW && geteuid() != 0)
        return -EACCES;
    if (port) {
        if (tcp_port_conflicts(s, tp, addr, port))
            return -EADDRINUSE;
    } else {
        /* Linux gives bind(port 0) a port nobody uses at all, from the ephemeral range. */
        uint32_t lo = s->cfg.port_min, n = s->cfg.port_max - s->cfg.port_min + 1;
        uint64_t ctr = s->tcp->port_counter++;
        uint32_t start = (uint32_t)(siphash24(&s->secret, &ctr, sizeof(ctr)) % n);
        uint32_t i;
        for (i = 0; i < n && port_in_use(s, (uint16_t)(lo + (start + i) % n)); i++)
            ;
        if (i == n)
            return -EADDRINUSE;
        port = (uint16_t)(lo + (start + i) % n);
    }
    tp->c.laddr = addr;
    tp->c.lport = port;
    tp->bound_by_user = true;
    tcp_bhash_insert(s, &tp->c);
    return 0;
}

/* RFC 6056 3.3.3 (Algorithm 3): a per-destination offset from a keyed hash, plus a counter that
 * moves on with every connection, so ports are unpredictable to others yet spread for one peer.
 * The port must make a unique 4-tuple and not be bound by a non-connected socket. */
int tcp_pick_port(struct ust_stack *s, struct tcb *tp, uint32_t raddr, uint16_t rport,
                  uint16_t *port)
{
    /* No padding: every byte hashed is defined (a uint16_t here left two bytes of stack
     * garbage in the key, so the port, and everything after it, varied from run to run). */
    struct { uint32_t l, r, rp; } key = { tp->c.laddr, raddr, rport };
    uint32_t offset = (uint32_t)siphash24(&s->secret, &key, sizeof(key));
    uint32_t lo = s->cfg.port_min, n = s->cfg.port_max - s->cfg.port_min + 1;
    for (uint32_t i = 0; i < n; i++) {
        uint16_t p = (uint16_t)(lo + (offset + s->tcp->next_ephemeral + i) % n);
        if (tcp_ehash_lookup(s, tp->c.laddr, p, raddr, rport))
            continue;
        /* Listeners and bound sockets are ahead of the port's connections (tcp_bhash_insert),
         * so this never walks those. */
        bool blocked = s->tcp->lhash[p] != NULL;
        for (struct tcp_conn *c = s->tcp->bhash[p]; c && c->bind_front && !blocked;
             c = c->bind_next)
            blocked = c->state == TCPS_CLOSED;
        if (blocked)
            continue;
        s->tcp->next_ephemeral += i + 1;
        *port = p;
        return 0;
    }
    return -EADDRNOTAVAIL;   /* as Linux when the range is exhausted */
}

/* ---- State ---- */

static const char *const state_names[] = {
    "CLOSED", "LISTEN", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1",
    "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT",
};

const char *tcp_state_name(enum tcp_state st)
{
    return st <= TCPS_TIME_WAIT ? state_names[st] : "?";
}

static bool counts_as_established(uint8_t st)
{
    return st == TCPS_ESTABLISHED || st == TCPS_CLOSE_WAIT;
}

void tcp_set_state(struct tcb *tp, enum tcp_state state)
{
    struct tcp_table *t = tp->stack->tcp;
    uint8_t old = tp->c.state;
    if (old == state)
        return;
    ust_debug("tcp %u -> %u.%u.%u.%u:%u: %s -> %s", tp->c.lport, tp->c.raddr >> 24,
              (tp->c.raddr >> 16) & 255, (tp->c.raddr >> 8) & 255, tp->c.raddr & 255,
              tp->c.rport, state_names[old], state_names[state]);
    if (counts_as_established(old) && !counts_as_established(state))
        t->ctrs.curr_estab--;
    if (!counts_as_established(old) && counts_as_established(state))
        t->ctrs.curr_estab++;
    if (old == TCPS_LISTEN)
        lhash_remove(tp->stack, tp);
    if (state == TCPS_LISTEN)
        lhash_insert(tp->stack, tp);
    bool was_conn = old >= TCPS_SYN_SENT, is_conn = state >= TCPS_SYN_SENT;
    if (!was_conn && is_conn)
        t->conns++;
    if (was_conn && !is_conn)
        t->conns--;
    tp->c.state = (uint8_t)state;
}

void tcp_notify(struct tcb *tp)
{
    if (tp->notify)
        tp->notify(tp->owner);
    else if (tp->parent && tp->parent->notify)
        tp->parent->notify(tp->parent->owner);
}

void tcp_done(struct tcb *tp)
{
    struct ust_stack *s = tp->stack;
    if (tp->c.state == TCPS_LISTEN)
        tcp_listen_close(tp);
    if (tp->parent && tp->c.state == TCPS_SYN_RECEIVED)
        tp->parent->synq_len--;
    tcp_timers_stop(tp);
    tcp_ehash_remove(s, &tp->c);
    if (tp->c.state != TCPS_LISTEN && tp->c.state != TCPS_CLOSED)
        tp->done = true;
    tcp_set_state(tp, TCPS_CLOSED);
    purge_queue(&tp->snd_head, &tp->snd_tail);
    tp->send_head = NULL;
    tp->snd_queued = 0;
    tp->snd_mem = 0;
    tcp_ooo_purge(tp);
    tcp_mem_sync(tp);
    if (tp->orphan && !tp->parent) {
        tcp_bhash_remove(s, &tp->c);
        tcb_free(tp);
        return;
    }
    if (tp->parent && !tp->accept_queued) {
        /* An embryonic connection its listener never handed out. */
        tcp_bhash_remove(s, &tp->c);
        tcb_free(tp);
        return;
    }
    tcp_notify(tp);
}

void tcp_abort(struct tcb *tp, int err)
{
    tp->error = err;
    tcp_done(tp);
}

/* The link under ifc is gone for good: on a point-to-point wire (link/shm) that means the one
 * host at its far end, and with it the peer of every connection routed over it, has gone. Such
 * a connection would otherwise learn of it only by retransmitting until tcp_retries2 gives up,
 * or, idle, by keepalive. It is reset instead, as if the peer's RST had arrived (RFC 9293
 * 3.10.7.4: RECEIVEs and SENDs get "reset", the user an unsolicited "connection reset"):
 * ECONNRESET, the error a program sees when a kernel peer's process dies (its kernel resets the
 * connection). Not ENETDOWN: Linux reports that for sending on a down device, never on a
 * connection, and a program reading ENETDOWN would expect the path to come back. */
void tcp_iface_down(struct ust_stack *s, struct iface *ifc)
{
    struct tcp_table *t = s->tcp;
    if (!t || !t->ehash)
        return;
    for (uint32_t i = 0; i < t->ehash_size; i++) {
        struct tcp_conn *c = t->ehash[i];
        while (c) {
            struct tcp_conn *next = c->hash_next;   /* tcp_abort unlinks (and may free) c */
            struct tcb *tp = (struct tcb *)c;
            if (!c->compact && c->state != TCPS_LISTEN && tp->rt.ifc == ifc) {
                t->ctrs.iface_down_resets++;
                if (c->state == TCPS_ESTABLISHED || c->state == TCPS_CLOSE_WAIT)
                    t->ctrs.estab_resets++;
                tcp_abort(tp, ECONNRESET);
            }
            c = next;
        }
    }
}
