/*
 * The stack instance: the hub that owns the links, the packet pools, the timer wheel, and the
 * state of every protocol, under one lock.
 *
 * Entry points (stack.c): stack_enter()/stack_leave() bracket every API call: take the lock, read
 * the clock once, process received bursts and due timers; on leaving, flush queued transmissions
 * and release the lock. Protocol code in between sees `s->now` and never reads a clock.
 *
 * Checking the links is not free (on TAP it is a readv(2) that usually fails with EAGAIN), so a
 * call that has no need to know what arrived enters with stack_enter_lazy(): a UDP send, a TCP
 * send with nothing unacknowledged, a receive that finds data already queued (as Onload and
 * Linux's busy polling do: queued data is returned without looking at the device), an
 * epoll_ctl. It checks the links only if the last check is older
 * than STACK_LAZY_RX_NS on the stack's clock, so frames that arrive while a program only sends
 * are still handled soon. A call that would report "nothing" (EAGAIN, an empty poll) or go to
 * sleep checks first (stack_process).
 *
 * Speculative receive: ust_poll's first round checks only the links not known to be empty
 * (stack_enter_before_sleep), since its sleep watches the others. But in request/response
 * traffic on one core the answer to our reply is often already waiting when we get there (the
 * peer ran while our reply was sent), and the sleep, poll(2), then returns at once: a system
 * call for nothing. So when nothing is ready and it is about to sleep, it first reads the links
 * known to be empty whose such reads lately found frames (stack_speculate), and sleeps only if
 * they find nothing. Each such read that finds frames adds one to the link's credit (at most
 * STACK_SPEC_CREDIT), each that finds nothing takes one, and with none left it stops (so it
 * lasts while more than half find frames); then a trial read every spec_gap sleeps (doubling
 * up to STACK_SPEC_GAP_MAX while they find nothing) notices when the pattern comes back.
 * cfg.rx_speculate = 0 turns it off. Decided in one place: iface_speculates (stack.c).
 *
 * Busy polling: a thread about to sleep (stack_wait, and sock_sleep's callers ust_poll and
 * ust_epoll_wait) first polls for up to cfg.spin_us microseconds of real time, checking every
 * link in each round. What a round costs depends on the link: a loop or AF_PACKET ring is a
 * look at shared memory; TAP has no ring, so each round is one readv(2) (still far cheaper than
 * a wake-up from poll(2), 35-40 us across vCPUs here). spin_us = 0 (the default) never spins.
 *
 * Output: protocol code hands finished frames to iface_xmit(), which queues them per interface;
 * the queue is flushed as one burst when it fills or when the stack is left, so a driver makes one
 * system call per burst.
 */
#ifndef UST_NET_STACK_H
#define UST_NET_STACK_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/clock.h"
#include "base/counters.h"
#include "base/hash.h"
#include "base/pkt.h"
#include "base/timer.h"
#include "link/link.h"
#include "net/arp.h"
#include "net/icmp.h"
#include "net/ipv4.h"
#include "net/sockmem.h"
#include "ustack/ustack.h"
#include "wire/eth.h"

#define STACK_MAX_IFACES 4
#define STACK_TX_BATCH 32
/* A lazy entry checks the links anyway once the last check is this old (stack clock). */
#define STACK_LAZY_RX_NS (50 * NS_PER_US)
/* Speculative receive (above): the most credit a link can have (empty reads in a row that
 * stop speculation then), and the largest number of sleeps between trial reads once stopped. */
#define STACK_SPEC_CREDIT 8
#define STACK_SPEC_GAP_MAX 16

struct udp_table;
struct tcp_table;
struct sock;

struct iface {
    struct ust_stack *stack;
    struct link *link;
    unsigned index;              /* position in stack->ifaces */
    struct eth_addr mac;
    uint32_t addr;               /* host order */
    uint32_t netmask;            /* host order */
    uint8_t prefix_len;
    uint32_t bcast;              /* the directed broadcast address (RFC 922); 0xffffffff (the
                                  * limited broadcast) for a /31 or /32, which have none */
    uint32_t mtu;                /* IP MTU: the smaller of the option and the link's */
    bool down;                   /* the link failed; nothing is sent or received */
    bool down_notified;          /* TCP has ended the connections routed over it */
    bool rx_drained;             /* the last check found the link empty: its wait_fd will
                                  * wake a sleeper for anything that arrives after it */
    /* Speculative receive (stack.c, iface_speculates): */
    uint8_t spec_credit;         /* speculative reads that found frames minus those that
                                  * found none, 0..STACK_SPEC_CREDIT (0: not speculating) */
    uint8_t spec_wait;           /* not speculating: sleeps left before the next trial read */
    uint8_t spec_gap;            /* the gap before that trial, doubled by each empty trial */
    unsigned txq_len;
    struct pkt *txq[STACK_TX_BATCH];
};

#define STACK_COUNTERS(X)                                                           \
    X(polls, "times the links were looked at for received frames")                  \
    X(rx_speculative, "looks before a sleep at a link known to be empty (speculative)")  \
    X(rx_speculative_empty, "speculative looks that found nothing (a wasted read)")     \
    X(rx_frames, "frames taken from links")                                         \
    X(eth_drop_short, "dropped: frame shorter than an Ethernet header")             \
    X(eth_drop_not_for_us, "dropped: destination MAC neither ours nor broadcast")  \
    X(eth_drop_vlan, "dropped: VLAN-tagged frame (VLAN id other than 0)")           \
    X(eth_drop_ethertype, "dropped: EtherType we do not handle")                    \
    X(eth_drop_own_source, "dropped: a frame with our own MAC as its source")       \
    X(tx_frames, "frames handed to links")                                          \
    X(tx_drop_link_full, "frames dropped because the link refused them")           \
    X(tx_drop_link_down, "frames dropped because the link failed")                 \
    X(link_errors, "errors returned by links")                                      \
    X(sock_emfile, "socket() and accept() refused with EMFILE: max_sockets reached")

CTR_DEFINE(stack_ctrs, STACK_COUNTERS)

struct ust_stack {
    pthread_mutex_t lock;
    struct ust_config cfg;
    struct clk *clock;           /* own_clock, or a test's fake clock */
    struct clk own_clock;
    uint64_t now;                /* time of the current entry */
    uint64_t rx_checked;         /* `now` of the last check of the links (stack_process) */
    bool rx_skipped;             /* this entry was lazy and did not check the links */
    bool down_pending;           /* an interface failed: its connections are still to end */
    struct pkt_pool *pool;       /* frames */
    struct pkt_pool *big_pool;   /* reassembled and oversized datagrams */
    struct timer_wheel wheel;
    struct hash_key secret;      /* keys every unpredictable choice */
    unsigned n_ifaces;
    struct iface ifaces[STACK_MAX_IFACES];
    uint32_t gateway;            /* host order, 0 if none */
    struct arp_table arp;
    struct ipv4_state ipv4;
    struct icmp_state icmp;
    struct udp_table *udp;
    struct tcp_table *tcp;
    struct sock *socks;          /* every socket of this stack, through sock->stack_next */
    unsigned n_socks;
    struct sockmem mem;          /* socket buffer memory of all sockets (sockmem.h) */
    struct pkt *loopq_head;      /* datagrams we sent to ourselves, delivered on the next pass */
    struct pkt *loopq_tail;
    unsigned sleepers;           /* threads asleep in stack_wait */
    int wake_fd;                 /* eventfd that wakes them */
    struct stack_ctrs ctrs;
    struct ctr_set ctr_set;
};

/* Makes a stack on an already opened link (consumed), with an optional clock (NULL: the real
 * one). For tests and tools that build their own links. NULL and *err on failure. */
struct ust_stack *stack_create_on(const struct ust_config *cfg, struct clk *clock,
                                  struct link *l, int *err);
/* "198.18.0.2/24" (a missing prefix means /32). Returns 0 or -EINVAL. */
int stack_parse_cidr(const char *text, uint32_t *addr, uint8_t *prefix_len);
/* "02:00:00:00:00:01", unicast only. Returns 0 or -EINVAL. */
int stack_parse_mac(const char *text, struct eth_addr *mac);

/* Takes the lock, reads the clock and processes what the links and timers have. */
void stack_enter(struct ust_stack *s);
/* The same for a call that does not need to see what arrived: due timers always, the links
 * only if their last check is at least STACK_LAZY_RX_NS old (see above). */
void stack_enter_lazy(struct ust_stack *s);
/* The same for a caller that, finding nothing, will sleep on the links' descriptors (which
 * fire for any frame that arrives after a link was found empty): checks only the links whose
 * last check did not find them empty. */
void stack_enter_before_sleep(struct ust_stack *s);
/* Speculative receive (above), for a caller that found nothing ready and is about to sleep:
 * takes the lock, reads the links known to be empty that the heuristic picks, and leaves.
 * Returns the frames processed (if any, the caller looks again instead of sleeping). */
int stack_speculate(struct ust_stack *s);
/* True if this entry skipped links (so "nothing there" needs a stack_process). */
bool stack_rx_is_stale(const struct ust_stack *s);
/* Flushes transmissions and releases the lock. */
void stack_leave(struct ust_stack *s);
/* Processes up to one burst per link and the due timers; returns frames processed. Lock held. */
int stack_process(struct ust_stack *s);
/* Sleeps (lock released) until a link may have frames, a timer is due, the stack is woken,
 * extra_fd (if >= 0) is readable, or `deadline_ns` passes (UINT64_MAX: no deadline). Spins first
 * for the configured spin time (returning as soon as a round processed a frame). Lock held on
 * entry and return; the links and timers have been processed again and s->now is fresh.
 * Returns 0, or -EINTR if a signal interrupted the sleep. */
int stack_wait(struct ust_stack *s, uint64_t deadline_ns, int extra_fd);
/* The same for a caller registered as a socket's waiter (whose notifications write its eventfd
 * = extra_fd): *awake is set while this thread processes the links itself, and notifiers skip
 * a waiter that is awake, so its own processing does not wake it through its own eventfd. */
int stack_wait_registered(struct ust_stack *s, uint64_t deadline_ns, int extra_fd,
                          bool *awake);
/* The CLOCK_MONOTONIC time until which a thread about to sleep on s should poll instead,
 * starting `now_mono`: now_mono + cfg.spin_us, or now_mono for no spinning. */
uint64_t stack_spin_until(const struct ust_stack *s, uint64_t now_mono);

/* A spinning thread must still return EINTR when a signal arrives, as poll(2) and recv(2)
 * would, yet it makes no system call that a signal could interrupt (or, on TAP, none that
 * reports one). So while it spins, signals are blocked and looked for every few rounds; a
 * signal the caller's own mask (or `sigmask`, ppoll's) lets through ends the spin, and is
 * handled when spin_end restores the mask. Blocking costs three system calls per spin
 * (block, sigpending, restore). With the option spin_signals=0 (and no `sigmask`) the spin
 * blocks nothing and makes no system call: a signal's handler runs at once and the call goes
 * on, as a program's own loop of non-blocking calls does; EINTR comes only from the sleep that
 * may follow. Callers zero the struct before the first spin_begin. */
struct spin {
    sigset_t old;                /* the thread's mask before the spin */
    const sigset_t *allowed;     /* NULL: the old mask decides what interrupts */
    unsigned rounds;
    bool begun;
    bool blocked;
};
/* exact: block signals as above (cfg.spin_signals of the stacks involved; forced by sigmask). */
void spin_begin(struct spin *sp, const sigset_t *sigmask, bool exact);
/* True if a signal that should interrupt the caller is waiting (checked every few rounds). */
bool spin_signalled(struct spin *sp);
/* Restores the mask (pending signals are delivered now); true if one of them should interrupt
 * the caller. Does nothing (false) if the spin was not begun or has ended. */
bool spin_end(struct spin *sp);
/* Wakes every thread sleeping in stack_wait. */
void stack_wake(struct ust_stack *s);

/* Queues a finished Ethernet frame for transmission on ifc (consumes p). */
void iface_xmit(struct iface *ifc, struct pkt *p);
/* Sends everything queued on ifc now. */
void iface_flush(struct iface *ifc);

/* Our interface whose address is `addr`, or NULL. */
struct iface *stack_iface_by_addr(struct ust_stack *s, uint32_t addr);
/* True if addr is one of ours. */
bool stack_is_local_addr(struct ust_stack *s, uint32_t addr);

/* Allocates a frame buffer; counts exhaustion. NULL when the pool is empty. */
struct pkt *stack_alloc(struct ust_stack *s);

/* Queues a datagram (p->data at the IP header) for local delivery on the next pass. */
void stack_loopback(struct ust_stack *s, struct pkt *p);

/* Handles one received Ethernet frame (consumes p). */
void eth_input(struct iface *ifc, struct pkt *p);
/* Prepends an Ethernet header to p (data at the payload) and queues it on ifc (consumes p). */
void eth_output(struct iface *ifc, struct pkt *p, const struct eth_addr *dst, uint16_t ethertype);

#endif
