/*
 * ARP and the neighbour cache (see arp.h for the state machine and ownership).
 */
#include "net/arp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "net/stack.h"
#include "wire/arp.h"
#include "wire/icmp.h"

CTR_DESCRIBE(arp_ctrs, ARP_COUNTERS)

/* Linux's delay_first_probe_time: how long a stale entry in use waits for a confirmation from
 * above before probing. */
#define NEIGH_DELAY_NS (5 * NS_PER_SEC)

static const struct eth_addr broadcast_mac = { { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } };
static const struct eth_addr zero_mac = { { 0 } };

static void neigh_timer(struct timer *t, uint64_t now);

/* ---- The table ---- */

int arp_init(struct ust_stack *s)
{
    struct arp_table *at = &s->arp;
    at->n_entries = s->cfg.arp_cache;
    at->n_buckets = 1;
    while (at->n_buckets < at->n_entries)
        at->n_buckets <<= 1;
    at->entries = calloc(at->n_entries, sizeof(*at->entries));
    at->buckets = calloc(at->n_buckets, sizeof(*at->buckets));
    if (!at->entries || !at->buckets)
        return -ENOMEM;
    for (uint32_t i = 0; i < at->n_entries; i++) {
        at->entries[i].stack = s;
        timer_init(&at->entries[i].timer, neigh_timer);
    }
    return 0;
}

static void neigh_drop_queue(struct neigh *n, bool report)
{
    struct ust_stack *s = n->stack;
    struct pkt *p = n->queue_head;
    n->queue_head = n->queue_tail = NULL;
    n->queue_len = 0;
    while (p) {
        struct pkt *next = p->next;
        p->next = NULL;
        s->arp.queued--;
        if (report) {
            /* RFC 1122 2.3.2.2 / Linux: the sender learns the host is unreachable. */
            s->arp.ctrs.unresolved_drops++;
            icmp_report_local(s, p, ICMP_DEST_UNREACH, ICMP_HOST_UNREACH);
        }
        pkt_free(p);
        p = next;
    }
}

void arp_destroy(struct ust_stack *s)
{
    struct arp_table *at = &s->arp;
    if (at->entries) {
        for (uint32_t i = 0; i < at->n_entries; i++) {
            timer_cancel(&s->wheel, &at->entries[i].timer);
            neigh_drop_queue(&at->entries[i], false);
        }
    }
    free(at->entries);
    free(at->buckets);
    at->entries = NULL;
    at->buckets = NULL;
}

static struct neigh **bucket_of(struct ust_stack *s, const struct iface *ifc, uint32_t ip)
{
    uint32_t h = hash_flow(s->secret.k0, ip, ifc->index, 0);
    return &s->arp.buckets[h & (s->arp.n_buckets - 1)];
}

static struct neigh *neigh_find(struct ust_stack *s, const struct iface *ifc, uint32_t ip)
{
    for (struct neigh *n = *bucket_of(s, ifc, ip); n; n = n->hash_next)
        if (n->ip == ip && n->ifc == ifc)
            return n;
    return NULL;
}

const struct neigh *arp_lookup(struct ust_stack *s, const struct iface *ifc, uint32_t ip)
{
    return neigh_find(s, ifc, ip);
}

bool arp_can_send_now(struct ust_stack *s, const struct iface *ifc, uint32_t next_hop)
{
    const struct neigh *n = neigh_find(s, ifc, next_hop);
    return n && n->state != NEIGH_INCOMPLETE;
}

static void neigh_release(struct neigh *n)
{
    struct ust_stack *s = n->stack;
    struct neigh **pp = bucket_of(s, n->ifc, n->ip);
    while (*pp != n)
        pp = &(*pp)->hash_next;
    *pp = n->hash_next;
    timer_cancel(&s->wheel, &n->timer);
    neigh_drop_queue(n, false);
    n->state = NEIGH_FREE;
    n->hash_next = NULL;
    s->arp.used--;
}

int arp_delete(struct iface *ifc, uint32_t ip)
{
    struct neigh *n = neigh_find(ifc->stack, ifc, ip);
    if (!n)
        return -ENOENT;
    neigh_release(n);   /* drops what waits on it */
    return 0;
}

/* A free entry, or the least recently updated one that holds nothing and is not static. */
static struct neigh *neigh_slot(struct ust_stack *s)
{
    struct arp_table *at = &s->arp;
    struct neigh *victim = NULL;
    for (uint32_t i = 0; i < at->n_entries; i++) {
        struct neigh *n = &at->entries[i];
        if (n->state == NEIGH_FREE)
            return n;
        if ((n->state == NEIGH_STALE || n->state == NEIGH_REACHABLE) &&
            (!victim || n->updated_ns < victim->updated_ns))
            victim = n;
    }
    if (victim) {
        at->ctrs.evicted++;
        neigh_release(victim);
    }
    return victim;
}

static struct neigh *neigh_create(struct ust_stack *s, struct iface *ifc, uint32_t ip)
{
    struct neigh *n = neigh_slot(s);
    if (!n)
        return NULL;
    n->ip = ip;
    n->ifc = ifc;
    n->mac = zero_mac;
    n->probes = 0;
    n->updated_ns = s->now;
    struct neigh **b = bucket_of(s, ifc, ip);
    n->hash_next = *b;
    *b = n;
    s->arp.used++;
    return n;
}

/* ---- Sending ARP ---- */

static void arp_send(struct iface *ifc, uint16_t op, uint32_t tpa, const struct eth_addr *tha,
                     const struct eth_addr *dst, uint32_t spa)
{
    struct ust_stack *s = ifc->stack;
    struct pkt *p = stack_alloc(s);
    if (!p)
        return;
    struct arp_repr a = { .op = op, .sha = ifc->mac, .spa = spa, .tha = *tha, .tpa = tpa };
    arp_emit(&a, pkt_put(p, ARP_LEN), ARP_LEN);
    if (op == ARP_OP_REQUEST)
        s->arp.ctrs.tx_requests++;
    else
        s->arp.ctrs.tx_replies++;
    eth_output(ifc, p, dst, ETHERTYPE_ARP);
}

static void send_request(struct neigh *n, bool unicast)
{
    arp_send(n->ifc, ARP_OP_REQUEST, n->ip, &zero_mac, unicast ? &n->mac : &broadcast_mac,
             n->ifc->addr);
    n->probes++;
}

void arp_announce(struct iface *ifc)
{
    /* RFC 5227 2.4: an announcement is a request with sender and target both our address. */
    arp_send(ifc, ARP_OP_REQUEST, ifc->addr, &zero_mac, &broadcast_mac, ifc->addr);
}

/* ---- State changes (one function, so each is logged) ---- */

static const char *const state_names[] = { "free", "incomplete", "reachable", "stale",
                                           "delay", "probe", "static" };

static void neigh_set_state(struct neigh *n, enum neigh_state state, uint64_t timeout_ns)
{
    struct ust_stack *s = n->stack;
    ust_debug("arp: %u.%u.%u.%u %s -> %s", n->ip >> 24, (n->ip >> 16) & 255, (n->ip >> 8) & 255,
              n->ip & 255, state_names[n->state], state_names[state]);
    n->state = (uint8_t)state;
    n->updated_ns = s->now;
    if (timeout_ns)
        timer_arm(&s->wheel, &n->timer, s->now + timeout_ns);
    else
        timer_cancel(&s->wheel, &n->timer);
}

static void neigh_flush_queue(struct neigh *n)
{
    struct pkt *p = n->queue_head;
    n->queue_head = n->queue_tail = NULL;
    n->queue_len = 0;
    while (p) {
        struct pkt *next = p->next;
        p->next = NULL;
        n->stack->arp.queued--;
        eth_output(n->ifc, p, &n->mac, ETHERTYPE_IPV4);
        p = next;
    }
}

static void neigh_fail(struct neigh *n)
{
    struct ust_stack *s = n->stack;
    s->arp.ctrs.resolve_failed++;
    ust_log(UST_LOG_INFO, "arp: no answer from %u.%u.%u.%u", n->ip >> 24, (n->ip >> 16) & 255,
            (n->ip >> 8) & 255, n->ip & 255);
    /* Detach the queue first: reporting may make a transport send again to this address. */
    struct neigh detached = *n;
    n->queue_head = n->queue_tail = NULL;
    n->queue_len = 0;
    neigh_release(n);
    neigh_drop_queue(&detached, true);
}

static void neigh_timer(struct timer *t, uint64_t now)
{
    struct neigh *n = container_of(t, struct neigh, timer);
    struct ust_stack *s = n->stack;
    const struct ust_config *c = &s->cfg;
    (void)now;
    switch (n->state) {
    case NEIGH_INCOMPLETE:
    case NEIGH_PROBE:
        if (n->probes >= c->arp_retries) {
            neigh_fail(n);
            return;
        }
        send_request(n, n->state == NEIGH_PROBE);
        timer_arm(&s->wheel, &n->timer, s->now + c->arp_retrans_ms * NS_PER_MS);
        return;
    case NEIGH_REACHABLE:
        neigh_set_state(n, NEIGH_STALE, c->arp_stale_ms * NS_PER_MS);
        return;
    case NEIGH_DELAY:
        n->probes = 0;
        neigh_set_state(n, NEIGH_PROBE, c->arp_retrans_ms * NS_PER_MS);
        send_request(n, true);
        return;
    case NEIGH_STALE:
        neigh_release(n);   /* unused for arp_stale_ms */
        return;
    default:
        return;
    }
}

/* ---- Output ---- */

/* Packets waiting for resolution, all entries together: a quarter of the packet pool. Each
 * entry may hold arp_queue packets (Linux's unres_qlen), but a flood of packets to addresses
 * that never answer (SYN-ACKs to a SYN flood's forged on-link sources) fills every entry it
 * can make: 256 entries of 101 would be more than the whole pool, and every connection would
 * starve. Beyond the quarter, a packet for an address not yet resolved is dropped, counted;
 * the entries' retries end within arp_retries * arp_retrans_ms and free their queues. */
static bool queues_full(const struct ust_stack *s)
{
    return s->arp.queued >= s->cfg.pool_buffers / 4;
}

/* The frame as a queue may keep it: one buffer that is ours alone. The queue links frames through
 * ->next, and a frame sent without a copy to a link that copies synchronously (LINK_TX_SYNC) is
 * not ours alone: a TCP segment is then a reference to the buffer on its connection's send
 * queue, which is linked through ->next as well, and a TSO super-frame chains more such buffers
 * (->frag). The one is copied; the other, larger than a buffer, is dropped and counted (TCP
 * sends it again, as after any loss). Consumes p; returns the frame to queue, or NULL. */
static struct pkt *frame_to_queue(struct ust_stack *s, struct pkt *p)
{
    if (!p->frag && !pkt_is_shared(p))
        return p;
    struct pkt *q = p->frag ? NULL : pkt_copy(s->pool, p);
    pkt_free_frame(p);
    if (!q)
        s->arp.ctrs.queue_copy_drops++;
    return q;
}

/* Consumes p. */
static void neigh_enqueue(struct neigh *n, struct pkt *p)
{
    struct ust_stack *s = n->stack;
    if (n->queue_len < s->cfg.arp_queue && queues_full(s)) {
        s->arp.ctrs.queue_total_drops++;
        pkt_free_frame(p);
        return;
    }
    p = frame_to_queue(s, p);
    if (!p)
        return;
    if (n->queue_len >= s->cfg.arp_queue) {
        /* Keep the newest (RFC 1122 2.3.2.2): drop the oldest. */
        struct pkt *old = n->queue_head;
        n->queue_head = old->next;
        if (!n->queue_head)
            n->queue_tail = NULL;
        n->queue_len--;
        s->arp.queued--;
        pkt_free(old);
        s->arp.ctrs.queue_drops++;
    }
    p->next = NULL;
    if (n->queue_tail)
        n->queue_tail->next = p;
    else
        n->queue_head = p;
    n->queue_tail = p;
    n->queue_len++;
    s->arp.queued++;
    s->arp.ctrs.queued++;
}

const struct eth_addr *arp_output_mac(struct iface *ifc, uint32_t next_hop,
                                      const struct neigh **hint)
{
    const struct neigh *h = *hint;
    /* Any state but these three sends at once with no step (see arp_output). */
    if (h && h->ip == next_hop && h->ifc == ifc && h->state != NEIGH_FREE &&
        h->state != NEIGH_INCOMPLETE && h->state != NEIGH_STALE)
        return &h->mac;
    struct neigh *n = neigh_find(ifc->stack, ifc, next_hop);
    if (!n || n->state == NEIGH_INCOMPLETE)
        return NULL;
    if (n->state == NEIGH_STALE)   /* as arp_output (RFC 1122 2.3.2.1) */
        neigh_set_state(n, NEIGH_DELAY, NEIGH_DELAY_NS);
    *hint = n;
    return &n->mac;
}

void arp_output(struct iface *ifc, uint32_t next_hop, struct pkt *p)
{
    struct ust_stack *s = ifc->stack;
    struct neigh *n = neigh_find(s, ifc, next_hop);
    if (!n) {
        n = neigh_create(s, ifc, next_hop);
        if (!n) {
            s->arp.ctrs.table_full++;
            pkt_free_frame(p);
            return;
        }
        n->state = NEIGH_INCOMPLETE;
        neigh_enqueue(n, p);
        send_request(n, false);
        timer_arm(&s->wheel, &n->timer, s->now + s->cfg.arp_retrans_ms * NS_PER_MS);
        return;
    }
    switch (n->state) {
    case NEIGH_INCOMPLETE:
        neigh_enqueue(n, p);
        return;
    case NEIGH_STALE:
        /* RFC 1122 2.3.2.1: verify a cached entry that is in use, without holding traffic. */
        neigh_set_state(n, NEIGH_DELAY, NEIGH_DELAY_NS);
        break;
    default:
        break;
    }
    eth_output(ifc, p, &n->mac, ETHERTYPE_IPV4);
}

/* ---- Input ---- */

static bool sender_is_valid(const struct arp_repr *a)
{
    if (eth_addr_is_multicast(&a->sha) || eth_addr_equal(&a->sha, &zero_mac))
        return false;
    return (a->spa >> 28) < 14 && a->spa != 0xffffffffu;   /* not multicast or broadcast */
}

/* RFC 826 "merge": learn or refresh the sender's address. */
static void arp_learn(struct iface *ifc, const struct arp_repr *a, bool for_us)
{
    struct ust_stack *s = ifc->stack;
    if (a->spa == 0)
        return;    /* an address probe (RFC 5227): nothing to learn */
    struct neigh *n = neigh_find(s, ifc, a->spa);
    if (n && n->state == NEIGH_STATIC) {
        if (!eth_addr_equal(&n->mac, &a->sha))
            s->arp.ctrs.static_refused++;
        return;
    }
    if (!n) {
        if (!for_us)
            return;   /* Linux's arp_accept=0: do not create entries from others' chatter */
        n = neigh_create(s, ifc, a->spa);
        if (!n)
            return;
        n->state = NEIGH_STALE;
    }
    bool changed = !eth_addr_equal(&n->mac, &a->sha);
    if (changed && !eth_addr_equal(&n->mac, &zero_mac)) {   /* not a first resolution */
        /* RFC 826 merges whatever the sender says, as Linux does once its locktime has
         * passed: a host that moved, or an attacker. Counted and logged; static entries
         * (arp_static) are the defence against a hostile link. */
        s->arp.ctrs.lladdr_changes++;
        ust_log(UST_LOG_INFO, "arp: %u.%u.%u.%u moved to %02x:%02x:%02x:%02x:%02x:%02x",
                n->ip >> 24, (n->ip >> 16) & 255, (n->ip >> 8) & 255, n->ip & 255, a->sha.b[0],
                a->sha.b[1], a->sha.b[2], a->sha.b[3], a->sha.b[4], a->sha.b[5]);
    }
    n->mac = a->sha;
    if (a->op == ARP_OP_REPLY) {
        if (n->state == NEIGH_INCOMPLETE)
            s->arp.ctrs.resolved++;
        n->probes = 0;
        neigh_set_state(n, NEIGH_REACHABLE, s->cfg.arp_reachable_ms * NS_PER_MS);
    } else if (n->state == NEIGH_INCOMPLETE || changed || n->state == NEIGH_STALE) {
        if (n->state == NEIGH_INCOMPLETE)
            s->arp.ctrs.resolved++;
        neigh_set_state(n, NEIGH_STALE, s->cfg.arp_stale_ms * NS_PER_MS);
    }
    if (n->queue_head)
        neigh_flush_queue(n);
}

void arp_input(struct iface *ifc, struct pkt *p)
{
    struct ust_stack *s = ifc->stack;
    struct arp_repr a;
    s->arp.ctrs.rx++;
    if (arp_parse(p->data, p->len, &a) != 0) {
        s->arp.ctrs.drop_malformed++;
        goto out;
    }
    if (a.op == ARP_OP_REQUEST)
        s->arp.ctrs.rx_requests++;
    else
        s->arp.ctrs.rx_replies++;
    if (!sender_is_valid(&a)) {
        s->arp.ctrs.drop_bad_sender++;
        goto out;
    }
    if (a.spa == ifc->addr) {
        /* Someone else claims our address (RFC 5227 2.4 conflict): count it, never learn it. */
        s->arp.ctrs.addr_conflicts++;
        ust_log(UST_LOG_WARN, "arp: %02x:%02x:%02x:%02x:%02x:%02x claims our address",
                a.sha.b[0], a.sha.b[1], a.sha.b[2], a.sha.b[3], a.sha.b[4], a.sha.b[5]);
        goto out;
    }
    bool for_us = a.tpa == ifc->addr;
    arp_learn(ifc, &a, for_us);
    if (a.op == ARP_OP_REQUEST) {
        if (for_us)
            arp_send(ifc, ARP_OP_REPLY, a.spa, &a.sha, &a.sha, ifc->addr);
        else
            s->arp.ctrs.drop_not_for_us++;
    }
out:
    pkt_free(p);
}

int arp_add_static(struct iface *ifc, uint32_t ip, const struct eth_addr *mac)
{
    struct ust_stack *s = ifc->stack;
    struct neigh *n = neigh_find(s, ifc, ip);
    if (!n)
        n = neigh_create(s, ifc, ip);
    if (!n)
        return -ENOSPC;
    n->mac = *mac;
    neigh_set_state(n, NEIGH_STATIC, 0);
    if (n->queue_head)
        neigh_flush_queue(n);
    return 0;
}

/* One "IP=MAC" of the arp_static option (text without the comma). */
static int config_one_static(struct iface *ifc, const char *text)
{
    char ip_text[64];
    const char *eq = strchr(text, '=');
    if (!eq || (size_t)(eq - text) >= sizeof(ip_text))
        return -EINVAL;
    memcpy(ip_text, text, (size_t)(eq - text));
    ip_text[eq - text] = 0;
    uint32_t ip;
    uint8_t plen;
    struct eth_addr mac;
    if (stack_parse_cidr(ip_text, &ip, &plen) != 0 || plen != 32 ||
        stack_parse_mac(eq + 1, &mac) != 0 || eth_addr_equal(&mac, &zero_mac))
        return -EINVAL;
    uint32_t host = ip & ~ifc->netmask;
    if ((ip & ifc->netmask) != (ifc->addr & ifc->netmask) || ip == ifc->addr || host == 0 ||
        host == ~ifc->netmask)
        return -EINVAL;   /* not another host on this network */
    return arp_add_static(ifc, ip, &mac);
}

int arp_config_static(struct iface *ifc, const char *spec)
{
    char buf[UST_CONFIG_STR_MAX];
    snprintf(buf, sizeof(buf), "%s", spec);
    char *save = NULL;
    for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        int err = config_one_static(ifc, item);
        if (err) {
            ust_log(UST_LOG_ERROR, "arp_static: \"%s\" is not IP=MAC for another host on "
                    "the link's network (%s)", item, err == -ENOSPC ? "cache full" : "invalid");
            return -EINVAL;
        }
    }
    return 0;
}
