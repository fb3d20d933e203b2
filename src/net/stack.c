/*
 * The stack instance (see stack.h): creation from a configuration, the receive loop, timers,
 * batched transmission, sleeping and waking, and teardown.
 */
#include "net/stack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/log.h"
#include "link/open.h"
#include "sock/sock.h"
#include "tcp/tcp.h"
#include "udp/udp.h"

CTR_DESCRIBE(stack_ctrs, STACK_COUNTERS)

static struct ust_stack *default_stack;

/* ---- Parsing the addressing options ---- */

int stack_parse_cidr(const char *text, uint32_t *addr, uint8_t *prefix_len)
{
    char buf[64];
    if (snprintf(buf, sizeof(buf), "%s", text) >= (int)sizeof(buf))
        return -EINVAL;
    char *slash = strchr(buf, '/');
    long plen = 32;
    if (slash) {
        *slash = 0;
        char *end;
        plen = strtol(slash + 1, &end, 10);
        if (*end || end == slash + 1 || plen < 1 || plen > 32)
            return -EINVAL;
    }
    struct in_addr a;
    if (inet_pton(AF_INET, buf, &a) != 1)
        return -EINVAL;
    *addr = ntohl(a.s_addr);
    *prefix_len = (uint8_t)plen;
    return 0;
}

int stack_parse_mac(const char *text, struct eth_addr *mac)
{
    unsigned b[6];
    char tail;
    if (sscanf(text, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
               &tail) != 6)
        return -EINVAL;
    for (int i = 0; i < 6; i++) {
        if (b[i] > 255)
            return -EINVAL;
        mac->b[i] = (uint8_t)b[i];
    }
    if (eth_addr_is_multicast(mac))
        return -EINVAL;
    return 0;
}

/* A random locally administered unicast address (IEEE 802: bit 1 set, bit 0 clear). */
static void random_mac(struct ust_stack *s, struct eth_addr *mac)
{
    uint64_t r = siphash24(&s->secret, &s->n_ifaces, sizeof(s->n_ifaces));
    memcpy(mac->b, &r, 6);
    mac->b[0] = (uint8_t)((mac->b[0] & 0xfe) | 0x02);
}

static bool is_unicast_host(uint32_t addr, uint32_t mask)
{
    uint32_t host = addr & ~mask;
    if (addr == 0 || (addr >> 24) == 127 || (addr >> 28) >= 14)
        return false;      /* zero, loopback, multicast, reserved */
    return mask == 0xffffffffu || mask == 0xfffffffeu || (host != 0 && host != ~mask);
}

/* ---- Interfaces ---- */

static int iface_setup(struct ust_stack *s, struct link *l, const char *addr, const char *mac)
{
    if (s->n_ifaces >= STACK_MAX_IFACES) {
        ust_log(UST_LOG_ERROR, "at most %d links per stack", STACK_MAX_IFACES);
        return -ENOSPC;
    }
    struct iface *ifc = &s->ifaces[s->n_ifaces];
    *ifc = (struct iface){ .stack = s, .link = l, .index = s->n_ifaces };
    if (stack_parse_cidr(addr, &ifc->addr, &ifc->prefix_len) != 0) {
        ust_log(UST_LOG_ERROR, "addr \"%s\" is not an IPv4 address/prefix (198.18.0.2/24)", addr);
        return -EINVAL;
    }
    ifc->netmask = ifc->prefix_len == 32 ? 0xffffffffu : ~(0xffffffffu >> ifc->prefix_len);
    ifc->bcast = ifc->prefix_len < 31 ? ifc->addr | ~ifc->netmask : 0xffffffffu;
    if (!is_unicast_host(ifc->addr, ifc->netmask)) {
        ust_log(UST_LOG_ERROR, "addr \"%s\" is not a unicast host address", addr);
        return -EINVAL;
    }
    if (mac && *mac) {
        if (stack_parse_mac(mac, &ifc->mac) != 0) {
            ust_log(UST_LOG_ERROR, "mac \"%s\" is not a unicast MAC address", mac);
            return -EINVAL;
        }
    } else {
        random_mac(s, &ifc->mac);
    }
    if (memcmp(ifc->mac.b, l->caps.mac, 6) == 0) {
        /* The kernel would answer for this address and reset our connections. */
        ust_log(UST_LOG_ERROR, "the stack's MAC must differ from the interface's own");
        return -EINVAL;
    }
    ifc->mtu = s->cfg.mtu;
    if (l->caps.mtu && l->caps.mtu < ifc->mtu)
        ifc->mtu = l->caps.mtu;
    if (ifc->mtu < 68) {
        ust_log(UST_LOG_ERROR, "link %s has an MTU below 68", l->name);
        return -EINVAL;
    }
    s->n_ifaces++;
    link_add_counters(l, &s->ctr_set);
    return 0;
}

struct iface *stack_iface_by_addr(struct ust_stack *s, uint32_t addr)
{
    for (unsigned i = 0; i < s->n_ifaces; i++)
        if (s->ifaces[i].addr == addr)
            return &s->ifaces[i];
    return NULL;
}

bool stack_is_local_addr(struct ust_stack *s, uint32_t addr)
{
    return stack_iface_by_addr(s, addr) != NULL;
}

/* ---- Creation and teardown ---- */

static int make_pools(struct ust_stack *s)
{
    /* Frame buffers hold the largest frame the MTU allows, plus headroom for our headers and
     * a driver's prefix (a virtio-net header). */
    uint32_t buf_size = PKT_DEFAULT_BUF_SIZE;
    while (buf_size < s->cfg.mtu + ETH_HDR_LEN + 2 * ETH_VLAN_TAG_LEN + PKT_DEFAULT_HEADROOM)
        buf_size <<= 1;
    struct pkt_pool_config frames = { .name = "pool", .count = s->cfg.pool_buffers,
                                      .buf_size = buf_size, .headroom = PKT_DEFAULT_HEADROOM,
                                      .prefault = s->cfg.prefault };
    /* Big buffers hold whole datagrams of up to 65,535 bytes: only an IP header of headroom,
     * so that a maximal UDP datagram (65,515 bytes with its header) and its IP header fit. */
    struct pkt_pool_config big = { .name = "bigpool", .count = s->cfg.big_buffers,
                                   .buf_size = 65536, .headroom = IPV4_HDR_LEN,
                                   .prefault = s->cfg.prefault };
    int err = pkt_pool_create(&frames, &s->pool);
    if (!err)
        err = pkt_pool_create(&big, &s->big_pool);
    if (err)
        return err;
    ctr_set_add(&s->ctr_set, pkt_pool_ctr_group(s->pool));
    ctr_set_add(&s->ctr_set, pkt_pool_ctr_group(s->big_pool));
    sockmem_init(&s->mem, &s->cfg,
                 (uint64_t)frames.count * frames.buf_size + (uint64_t)big.count * big.buf_size);
    ctr_set_add(&s->ctr_set, CTR_GROUP("sockmem", sockmem_ctrs, &s->mem.ctrs));
    return 0;
}

static int stack_init_protocols(struct ust_stack *s)
{
    int err = arp_init(s);
    if (!err)
        err = ipv4_init(s);
    if (!err)
        err = icmp_init(s);
    if (!err)
        err = udp_init(s);
    if (!err)
        err = tcp_init(s);
    if (err)
        return err;
    ctr_set_add(&s->ctr_set, CTR_GROUP("stack", stack_ctrs, &s->ctrs));
    ctr_set_add(&s->ctr_set, CTR_GROUP("arp", arp_ctrs, &s->arp.ctrs));
    ctr_set_add(&s->ctr_set, CTR_GROUP("ipv4", ipv4_ctrs, &s->ipv4.ctrs));
    ctr_set_add(&s->ctr_set, CTR_GROUP("icmp", icmp_ctrs, &s->icmp.ctrs));
    ctr_set_add(&s->ctr_set, udp_ctr_group(s));
    ctr_set_add(&s->ctr_set, tcp_ctr_group(s));
    return 0;
}

static int parse_gateway(struct ust_stack *s)
{
    if (!s->cfg.gw[0])
        return 0;
    uint8_t plen;
    if (stack_parse_cidr(s->cfg.gw, &s->gateway, &plen) != 0 || plen != 32) {
        ust_log(UST_LOG_ERROR, "gw \"%s\" is not an IPv4 address", s->cfg.gw);
        return -EINVAL;
    }
    const struct iface *ifc = &s->ifaces[0];
    if ((s->gateway & ifc->netmask) != (ifc->addr & ifc->netmask) || s->gateway == ifc->addr) {
        ust_log(UST_LOG_ERROR, "gw %s is not another host on %s's network", s->cfg.gw,
                s->cfg.addr);
        return -EINVAL;
    }
    return 0;
}

/* Allocates a stack with its pools, timers and secret, but no interface yet. */
static struct ust_stack *stack_new(const struct ust_config *cfg, struct clk *clock, int *err)
{
    struct ust_stack *s = calloc(1, sizeof(*s));
    if (!s) {
        *err = -ENOMEM;
        return NULL;
    }
    s->cfg = *cfg;
    s->wake_fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    clk_init_real(&s->own_clock);
    s->clock = clock ? clock : &s->own_clock;
    s->now = clk_now(s->clock);
    hash_key_random(&s->secret);
    timer_wheel_init(&s->wheel, s->now, 0);
    *err = 0;
    if (cfg->log[0]) {
        int level = ust_log_parse_level(cfg->log);
        if (level < 0) {
            ust_log(UST_LOG_ERROR, "log \"%s\" is not error, warn, info or debug", cfg->log);
            *err = -EINVAL;
        } else {
            ust_log_set_level((enum ust_log_level)level);
        }
    }
    if (!*err && cfg->port_min > cfg->port_max) {
        ust_log(UST_LOG_ERROR, "port_min %u is above port_max %u", cfg->port_min, cfg->port_max);
        *err = -EINVAL;
    }
    if (!*err) {
        s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (s->wake_fd < 0)
            *err = -errno;
    }
    if (!*err)
        *err = make_pools(s);
    if (*err) {
        ust_stack_destroy(s);
        return NULL;
    }
    return s;
}

/* Gives the stack its first interface (consuming l) and starts the protocols. */
static int stack_start(struct ust_stack *s, struct link *l)
{
    int err = iface_setup(s, l, s->cfg.addr, s->cfg.mac);
    if (err) {
        link_destroy(l);
        return err;
    }
    if ((err = parse_gateway(s)) != 0 || (err = stack_init_protocols(s)) != 0)
        return err;
    if (s->cfg.arp_static[0] && (err = arp_config_static(&s->ifaces[0], s->cfg.arp_static)) != 0)
        return err;
    arp_announce(&s->ifaces[0]);
    iface_flush(&s->ifaces[0]);
    if (!default_stack)
        default_stack = s;
    return 0;
}

struct ust_stack *stack_create_on(const struct ust_config *cfg, struct clk *clock,
                                  struct link *l, int *err)
{
    struct ust_stack *s = stack_new(cfg, clock, err);
    if (!s) {
        link_destroy(l);
        return NULL;
    }
    if ((*err = stack_start(s, l)) != 0) {
        ust_stack_destroy(s);
        return NULL;
    }
    return s;
}

struct ust_stack *ust_stack_create(const struct ust_config *cfg)
{
    if (!cfg) {
        errno = EINVAL;
        return NULL;
    }
    int err;
    struct ust_stack *s = stack_new(cfg, NULL, &err);
    if (!s) {
        errno = -err;
        return NULL;
    }
    struct link_env env = { .mtu = cfg->mtu, .clock = s->clock, .pool = s->pool,
                            .big_pool = s->big_pool, .pcap = cfg->pcap, .fault = cfg->fault };
    struct link *l = NULL;
    err = link_open(cfg->link, &env, &l);
    if (!err)
        err = stack_start(s, l);
    if (err) {
        ust_stack_destroy(s);
        errno = -err;
        return NULL;
    }
    return s;
}

int ust_stack_add_link(struct ust_stack *s, const char *spec, const char *addr, const char *mac)
{
    if (!s || !spec || !addr) {
        errno = EINVAL;
        return -1;
    }
    stack_enter(s);
    struct link_env env = { .mtu = s->cfg.mtu, .clock = s->clock, .pool = s->pool,
                            .big_pool = s->big_pool };
    struct link *l = NULL;
    int err = link_open(spec, &env, &l);
    if (!err) {
        err = iface_setup(s, l, addr, mac);
        if (err)
            link_destroy(l);
    }
    int index = err ? -1 : (int)s->n_ifaces - 1;
    if (!err)
        arp_announce(&s->ifaces[index]);
    stack_leave(s);
    if (err)
        errno = -err;
    return index;
}

void ust_stack_destroy(struct ust_stack *s)
{
    if (!s)
        return;
    if (default_stack == s)
        default_stack = NULL;
    sock_close_all(s);
    tcp_destroy(s);
    udp_destroy(s);
    ipv4_destroy(s);
    arp_destroy(s);
    pkt_free_chain(s->loopq_head);
    for (unsigned i = 0; i < s->n_ifaces; i++) {
        struct iface *ifc = &s->ifaces[i];
        pkt_free_bulk(ifc->txq, ifc->txq_len);
        link_destroy(ifc->link);
    }
    pkt_pool_destroy(s->pool);
    pkt_pool_destroy(s->big_pool);
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void ust_stack_set_default(struct ust_stack *s)
{
    default_stack = s;
}

struct ust_stack *ust_stack_default(void)
{
    return default_stack;
}

/* ---- The receive loop ---- */

struct pkt *stack_alloc(struct ust_stack *s)
{
    return pkt_alloc(s->pool);
}

void stack_loopback(struct ust_stack *s, struct pkt *p)
{
    p->next = NULL;
    if (s->loopq_tail)
        s->loopq_tail->next = p;
    else
        s->loopq_head = p;
    s->loopq_tail = p;
}

static void run_loopback(struct ust_stack *s)
{
    /* Take the whole queue: datagrams looped while delivering these wait for the next pass. */
    struct pkt *p = s->loopq_head;
    s->loopq_head = s->loopq_tail = NULL;
    while (p) {
        struct pkt *next = p->next;
        p->next = NULL;
        ipv4_input(&s->ifaces[0], p);
        p = next;
    }
}

/* A link failed: the interface is down for good (nothing brings it back). Its connections are
 * ended by iface_down_notify() at the next point where no protocol code is running: this may
 * be called from inside TCP's output (a flush of a full transmit queue). */
static void iface_failed(struct iface *ifc, int err)
{
    struct ust_stack *s = ifc->stack;
    s->ctrs.link_errors++;
    if (!ifc->down) {
        ust_log(UST_LOG_ERROR, "link %s failed: %s", ifc->link->name, strerror(-err));
        s->down_pending = true;
        stack_wake(s);   /* a thread asleep on other descriptors must come and see */
    }
    ifc->down = true;
}

/* Tells TCP about interfaces that failed since the last call, so that connections routed over
 * them end now (ECONNRESET) instead of retransmitting into a dead link. Called between
 * protocol events only (the top of process(), after the flush in stack_leave). */
static void iface_down_notify(struct ust_stack *s)
{
    s->down_pending = false;
    for (unsigned i = 0; i < s->n_ifaces; i++)
        if (s->ifaces[i].down && !s->ifaces[i].down_notified) {
            s->ifaces[i].down_notified = true;
            tcp_iface_down(s, &s->ifaces[i]);
        }
}

static int poll_iface(struct iface *ifc)
{
    struct ust_stack *s = ifc->stack;
    struct pkt *burst[256];
    unsigned want = s->cfg.rx_burst < 256 ? s->cfg.rx_burst : 256;
    int n = link_rx_burst(ifc->link, burst, want);
    if (n < 0) {
        iface_failed(ifc, n);
        return 0;
    }
    ifc->rx_drained = n == 0 || ((unsigned)n < want && (ifc->link->caps.offloads & LINK_RX_LEVEL));
    s->ctrs.rx_frames += (unsigned)n;
    for (int i = 0; i < n; i++) {
        /* Warm the next frame's header while this one is handled. */
        if (i + 1 < n)
            __builtin_prefetch(burst[i + 1]->data);
        eth_input(ifc, burst[i]);
    }
    return n;
}

/* Speculative receive (stack.h): should a thread about to sleep read ifc, known to be empty?
 * Yes while speculation is on (credit left), and for a trial read once every spec_gap sleeps
 * while it is off. A read that is not made is a sleep, which counts down to the next trial. */
static bool iface_speculates(struct iface *ifc)
{
    if (!ifc->stack->cfg.rx_speculate)
        return false;
    if (ifc->spec_credit)
        return true;
    if (ifc->spec_wait) {
        ifc->spec_wait--;
        return false;
    }
    return true;
}

/* What a speculative read of ifc found (n frames). A read that finds frames saves a poll(2)
 * and one that finds nothing costs a readv(2) (on TAP), so the credit counts up and down by one
 * (up to STACK_SPEC_CREDIT) and lasts while more than half the reads find frames. A read that
 * takes the last unit, or a trial that finds nothing, schedules the next trial, twice as far
 * away as the last, up to STACK_SPEC_GAP_MAX sleeps. */
static void iface_speculated(struct iface *ifc, int n)
{
    struct ust_stack *s = ifc->stack;
    s->ctrs.rx_speculative++;
    if (n > 0) {
        if (ifc->spec_credit < STACK_SPEC_CREDIT)
            ifc->spec_credit++;
        ifc->spec_gap = 0;
        return;
    }
    s->ctrs.rx_speculative_empty++;
    if (ifc->spec_credit && --ifc->spec_credit)
        return;
    ifc->spec_gap = !ifc->spec_gap ? 1
                    : ifc->spec_gap >= STACK_SPEC_GAP_MAX / 2 ? STACK_SPEC_GAP_MAX
                                                              : (uint8_t)(ifc->spec_gap * 2);
    ifc->spec_wait = ifc->spec_gap;
}

int stack_speculate(struct ust_stack *s)
{
    pthread_mutex_lock(&s->lock);
    int frames = 0;
    bool looked = false;
    for (unsigned i = 0; i < s->n_ifaces; i++) {
        struct iface *ifc = &s->ifaces[i];
        if (ifc->down || !ifc->rx_drained || !iface_speculates(ifc))
            continue;
        if (!looked)
            s->now = clk_now(s->clock);
        looked = true;
        int n = poll_iface(ifc);
        iface_speculated(ifc, n);
        frames += n;
    }
    if (looked)
        s->ctrs.polls++;
    stack_leave(s);
    return frames;
}

/* Checks the links (all, or only those not known to be empty), then loopback and timers. */
static int process(struct ust_stack *s, bool all)
{
    int frames = 0;
    bool looked = false;
    s->rx_skipped = false;
    for (unsigned i = 0; i < s->n_ifaces; i++) {
        struct iface *ifc = &s->ifaces[i];
        if (ifc->down)
            continue;
        if (all || !ifc->rx_drained || link_next_event_ns(ifc->link) <= s->now) {
            frames += poll_iface(ifc);
            looked = true;
        } else {
            s->rx_skipped = true;
        }
    }
    if (looked || all)
        s->ctrs.polls++;
    if (!s->rx_skipped)
        s->rx_checked = s->now;
    if (s->down_pending)
        iface_down_notify(s);
    if (s->loopq_head)
        run_loopback(s);
    timer_wheel_advance(&s->wheel, s->now);
    return frames;
}

int stack_process(struct ust_stack *s)
{
    return process(s, true);
}

void stack_enter(struct ust_stack *s)
{
    pthread_mutex_lock(&s->lock);
    s->now = clk_now(s->clock);
    stack_process(s);
}

void stack_enter_lazy(struct ust_stack *s)
{
    pthread_mutex_lock(&s->lock);
    s->now = clk_now(s->clock);
    if (s->now - s->rx_checked >= STACK_LAZY_RX_NS) {
        stack_process(s);
        return;
    }
    s->rx_skipped = true;
    if (s->loopq_head)
        run_loopback(s);
    timer_wheel_advance(&s->wheel, s->now);
}

void stack_enter_before_sleep(struct ust_stack *s)
{
    pthread_mutex_lock(&s->lock);
    s->now = clk_now(s->clock);
    process(s, false);
}

bool stack_rx_is_stale(const struct ust_stack *s)
{
    return s->rx_skipped;
}

void stack_leave(struct ust_stack *s)
{
    if (s->loopq_head)
        run_loopback(s);
    for (unsigned i = 0; i < s->n_ifaces; i++)
        iface_flush(&s->ifaces[i]);
    if (s->down_pending)
        iface_down_notify(s);
    pthread_mutex_unlock(&s->lock);
}

int ust_stack_poll(struct ust_stack *s, uint64_t *next_ns)
{
    if (!s) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&s->lock);
    s->now = clk_now(s->clock);
    int n = stack_process(s);
    /* Transmit what this pass produced first: a link that holds frames back (the fault
     * injector's delay) only knows when it will release them once it has them. */
    if (s->loopq_head)
        run_loopback(s);
    for (unsigned i = 0; i < s->n_ifaces; i++)
        iface_flush(&s->ifaces[i]);
    if (next_ns) {
        uint64_t next = timer_wheel_next(&s->wheel);
        for (unsigned i = 0; i < s->n_ifaces; i++) {
            uint64_t t = link_next_event_ns(s->ifaces[i].link);
            if (t < next)
                next = t;
        }
        if (s->loopq_head)
            next = s->now;
        *next_ns = next;
    }
    stack_leave(s);
    return n;
}

/* ---- Sleeping and waking ---- */

static uint64_t stack_next_event(struct ust_stack *s)
{
    uint64_t next = timer_wheel_next(&s->wheel);
    for (unsigned i = 0; i < s->n_ifaces; i++) {
        uint64_t t = link_next_event_ns(s->ifaces[i].link);
        if (t < next)
            next = t;
    }
    return next;
}

uint64_t stack_spin_until(const struct ust_stack *s, uint64_t now_mono)
{
    return now_mono + (uint64_t)s->cfg.spin_us * NS_PER_US;
}

void spin_begin(struct spin *sp, const sigset_t *sigmask, bool exact)
{
    sp->begun = true;
    sp->rounds = 0;
    sp->allowed = sigmask;
    sp->blocked = false;
    if (!exact && !sigmask)
        return;
    sigset_t all;
    sigfillset(&all);
    sp->blocked = pthread_sigmask(SIG_BLOCK, &all, &sp->old) == 0;
}

/* A signal whose default action is to do nothing interrupts nobody unless it has a handler. */
static bool ignored_by_default(int sig)
{
    if (sig != SIGCHLD && sig != SIGURG && sig != SIGWINCH && sig != SIGCONT)
        return false;
    struct sigaction sa;
    return sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL;
}

/* True if a signal that should interrupt the caller is pending now. */
static bool spin_signal_pending(const struct spin *sp)
{
    sigset_t pending;
    if (sigpending(&pending) != 0)
        return false;
    const sigset_t *mask = sp->allowed ? sp->allowed : &sp->old;
    for (int sig = 1; sig < NSIG; sig++)
        if (sigismember(&pending, sig) == 1 && sigismember(mask, sig) == 0 &&
            !ignored_by_default(sig))
            return true;
    return false;
}

bool spin_signalled(struct spin *sp)
{
    return sp->blocked && ++sp->rounds % 64 == 0 && spin_signal_pending(sp);
}

bool spin_end(struct spin *sp)
{
    sp->begun = false;
    if (!sp->blocked)
        return false;
    /* A signal that came after the last look is delivered when the mask is restored: the
     * caller must report it (EINTR), or a sleep that follows would wait as if none came. */
    bool signalled = spin_signal_pending(sp);
    pthread_sigmask(SIG_SETMASK, &sp->old, NULL);
    sp->blocked = false;
    return signalled;
}

/* Hands every interface's queued frames to its link. */
static void flush_all(struct ust_stack *s)
{
    for (unsigned i = 0; i < s->n_ifaces; i++)
        if (s->ifaces[i].txq_len)
            iface_flush(&s->ifaces[i]);
}

/* stack_process() by a thread registered as a waiter whose *awake flag (NULL: none) tells
 * notifiers to leave it alone meanwhile. The thread is awake and holds the lock, and looks at
 * what it waits for when stack_wait returns, so a notification its own processing raises need
 * not write (and then read back) its own eventfd: two system calls per wake-up saved. */
static int process_awake(struct ust_stack *s, bool *awake)
{
    if (awake)
        *awake = true;
    int n = stack_process(s);
    if (awake)
        *awake = false;
    return n;
}

/* Polls the links for up to the configured spin time (real time, whatever the stack's clock)
 * or until deadline_ns (stack clock). Returns 1 as soon as a round processed a frame, -EINTR if
 * a signal came, else 0. Lock held. */
static int spin_for_work(struct ust_stack *s, uint64_t deadline_ns, bool *awake)
{
    if (!s->cfg.spin_us)
        return 0;
    uint64_t until = stack_spin_until(s, clk_mono_ns());
    struct spin sp;
    spin_begin(&sp, NULL, s->cfg.spin_signals);
    int rc = 0;
    while (s->now < deadline_ns && clk_mono_ns() < until) {
        /* What earlier rounds produced (an ARP reply, an ACK, a retransmission a timer made)
         * goes out now, as before a sleep: the answer we spin for may depend on it. */
        flush_all(s);
        /* Let other threads in between rounds. */
        pthread_mutex_unlock(&s->lock);
        if (spin_signalled(&sp)) {
            rc = -EINTR;
        }
        pthread_mutex_lock(&s->lock);
        s->now = clk_now(s->clock);
        if (rc || process_awake(s, awake) > 0) {
            rc = rc ? rc : 1;
            break;
        }
    }
    /* Signals are delivered with the lock released (a handler may call into the stack). */
    pthread_mutex_unlock(&s->lock);
    if (spin_end(&sp) && rc == 0)
        rc = -EINTR;
    pthread_mutex_lock(&s->lock);
    return rc;
}

/* Reads an eventfd that poll(2) said was readable: one read resets its counter. */
static void drain_eventfd(const struct pollfd *p)
{
    uint64_t v;
    if ((p->revents & POLLIN) && read(p->fd, &v, sizeof(v)) < 0)
        v = 0;   /* another thread drained it first */
}

int stack_wait(struct ust_stack *s, uint64_t deadline_ns, int extra_fd)
{
    return stack_wait_registered(s, deadline_ns, extra_fd, NULL);
}

int stack_wait_registered(struct ust_stack *s, uint64_t deadline_ns, int extra_fd,
                          bool *awake)
{
    int spun = spin_for_work(s, deadline_ns, awake);
    if (spun)
        return spun < 0 ? spun : 0;
    /* Anything queued must go out before we sleep: the answer may depend on it. */
    for (unsigned i = 0; i < s->n_ifaces; i++)
        iface_flush(&s->ifaces[i]);
    uint64_t until = stack_next_event(s);
    if (deadline_ns < until)
        until = deadline_ns;
    struct pollfd pfd[STACK_MAX_IFACES + 2];
    nfds_t n = 0;
    for (unsigned i = 0; i < s->n_ifaces; i++) {
        int fd = s->ifaces[i].down ? -1 : link_wait_fd(s->ifaces[i].link);
        if (fd >= 0)
            pfd[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
    }
    nfds_t wake = n;
    pfd[n++] = (struct pollfd){ .fd = s->wake_fd, .events = POLLIN };
    if (extra_fd >= 0)
        pfd[n++] = (struct pollfd){ .fd = extra_fd, .events = POLLIN };
    int timeout = -1;
    if (until != UINT64_MAX) {
        uint64_t now = clk_now(s->clock);
        uint64_t ms = until > now ? (until - now + NS_PER_MS - 1) / NS_PER_MS : 0;
        timeout = ms > 3600000 ? 3600000 : (int)ms;
    }
    if (s->clock->fake && timeout != 0)
        timeout = 0;    /* a fake clock does not move while we sleep: tests never block */
    s->sleepers++;
    pthread_mutex_unlock(&s->lock);
    int rc = poll(pfd, n, timeout);
    int err = rc < 0 ? errno : 0;
    pthread_mutex_lock(&s->lock);
    s->sleepers--;
    if (rc > 0) {
        /* Only the lines that fired need reading; link descriptors are drained by their own
         * receive calls. */
        for (nfds_t i = wake; i < n; i++)
            drain_eventfd(&pfd[i]);
    }
    s->now = clk_now(s->clock);
    process_awake(s, awake);
    return err == EINTR ? -EINTR : 0;
}

void stack_wake(struct ust_stack *s)
{
    if (s->sleepers) {
        uint64_t one = 1;
        ssize_t rc = write(s->wake_fd, &one, sizeof(one));
        (void)rc;   /* a full counter already means "wake up" */
    }
}

/* ---- Transmission ---- */

/* Frees frames the link did not take, with their ->frag chains (gathered super-frames). */
static void free_frames(struct pkt **frames, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        pkt_free_frame(frames[i]);
}

void iface_flush(struct iface *ifc)
{
    struct ust_stack *s = ifc->stack;
    unsigned n = ifc->txq_len;
    if (!n)
        return;
    ifc->txq_len = 0;
    if (ifc->down) {
        s->ctrs.tx_drop_link_down += n;
        free_frames(ifc->txq, n);
        return;
    }
    int sent = link_tx_burst(ifc->link, ifc->txq, n);
    if (sent < 0) {
        iface_failed(ifc, sent);
        s->ctrs.tx_drop_link_down += n;
        free_frames(ifc->txq, n);
        return;
    }
    s->ctrs.tx_frames += (unsigned)sent;
    if ((unsigned)sent < n) {
        /* A full link ring is like a full NIC queue: the frames are lost, and counted. */
        s->ctrs.tx_drop_link_full += n - (unsigned)sent;
        free_frames(ifc->txq + sent, n - (unsigned)sent);
    }
}

void iface_xmit(struct iface *ifc, struct pkt *p)
{
    if (ifc->txq_len == STACK_TX_BATCH)
        iface_flush(ifc);
    ifc->txq[ifc->txq_len++] = p;
}

/* ---- Counters ---- */

void ust_stack_print_counters(struct ust_stack *s, FILE *f, int all)
{
    pthread_mutex_lock(&s->lock);
    ctr_set_print(f, &s->ctr_set, !all);
    pthread_mutex_unlock(&s->lock);
}

int ust_stack_counter(struct ust_stack *s, const char *name, uint64_t *value)
{
    pthread_mutex_lock(&s->lock);
    int rc = ctr_set_find(&s->ctr_set, name, value);
    pthread_mutex_unlock(&s->lock);
    if (rc) {
        errno = -rc;
        return -1;
    }
    return 0;
}
