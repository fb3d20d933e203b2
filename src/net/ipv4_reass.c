/*
 * IPv4 reassembly (RFC 791 3.2, RFC 1122 3.3.2).
 *
 * Fragments of one datagram (same source, destination, ID and protocol) are kept in offset order
 * on a preallocated entry, with their IP headers pulled off (p->data at the fragment's payload,
 * p->frag_off its offset). Policy, each case counted:
 * - an exact duplicate of a fragment already held is dropped alone (a retransmitted copy);
 * - any other overlap drops the whole datagram: overlapping fragments are a known evasion and
 *   denial-of-service technique and no honest sender produces them (Linux does the same since
 *   4.19; RFC 5722 says so for IPv6);
 * - a fragment that would make the datagram longer than 65,535 bytes, a non-final fragment whose
 *   length is not a multiple of 8, or a final fragment contradicting an earlier one is dropped
 *   with the whole datagram;
 * - at most reasm_max datagrams and reasm_mem bytes of buffers are held; beyond that new
 *   fragments are dropped (not older datagrams evicted: an attacker cannot push out honest
 *   traffic by flooding, only fail to get in);
 * - a datagram not complete within reasm_timeout_ms is dropped; if its first fragment had
 *   arrived, the sender gets "fragment reassembly time exceeded" (RFC 792, RFC 1122 3.3.2).
 * A completed datagram is copied into one buffer behind a fresh 20-byte header.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net/stack.h"
#include "wire/icmp.h"

static void reass_timer(struct timer *t, uint64_t now);

int ipv4_reass_init(struct ust_stack *s)
{
    struct ipv4_state *st = &s->ipv4;
    uint32_t n = s->cfg.reasm_max;
    st->reasm_n_buckets = 1;
    while (st->reasm_n_buckets < n)
        st->reasm_n_buckets <<= 1;
    st->reasm = calloc(n, sizeof(*st->reasm));
    st->reasm_buckets = calloc(st->reasm_n_buckets, sizeof(*st->reasm_buckets));
    if (!st->reasm || !st->reasm_buckets)
        return -ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        st->reasm[i].stack = s;
        timer_init(&st->reasm[i].timer, reass_timer);
    }
    return 0;
}

static struct reasm **bucket_of(struct ust_stack *s, uint32_t src, uint32_t dst, uint16_t id,
                                uint8_t proto)
{
    uint32_t h = hash_flow(s->secret.k0, src, dst, (uint32_t)id << 8 | proto);
    return &s->ipv4.reasm_buckets[h & (s->ipv4.reasm_n_buckets - 1)];
}

/* Frees an entry and everything it holds. */
static void reass_release(struct reasm *r)
{
    struct ust_stack *s = r->stack;
    struct reasm **pp = bucket_of(s, r->src, r->dst, r->id, r->protocol);
    while (*pp != r)
        pp = &(*pp)->hash_next;
    *pp = r->hash_next;
    timer_cancel(&s->wheel, &r->timer);
    pkt_free_chain(r->frags);
    s->ipv4.reasm_mem -= r->mem;
    s->ipv4.reasm_count--;
    r->frags = NULL;
    r->in_use = false;
    r->hash_next = NULL;
}

void ipv4_reass_destroy(struct ust_stack *s)
{
    struct ipv4_state *st = &s->ipv4;
    if (st->reasm)
        for (uint32_t i = 0; i < s->cfg.reasm_max; i++)
            if (st->reasm[i].in_use)
                reass_release(&st->reasm[i]);
    free(st->reasm);
    free(st->reasm_buckets);
    st->reasm = NULL;
    st->reasm_buckets = NULL;
}

static void reass_fail(struct reasm *r, uint64_t *counter)
{
    (*counter)++;
    r->stack->ipv4.ctrs.reasm_fails++;
    reass_release(r);
}

static void reass_timer(struct timer *t, uint64_t now)
{
    struct reasm *r = container_of(t, struct reasm, timer);
    struct ust_stack *s = r->stack;
    (void)now;
    struct pkt *first = r->frags;
    if (first && first->frag_off == 0 && r->first_hdr_len) {
        /* The first fragment still carries its header just before its payload. */
        struct ipv4_repr orig;
        const uint8_t *hdr = first->data - r->first_hdr_len;
        if (ipv4_parse_quoted(hdr, r->first_hdr_len + first->len, &orig) == 0)
            icmp_send_error(r->ifc, first, &orig, r->first_hdr_len + first->len,
                            ICMP_TIME_EXCEEDED, 1 /* fragment reassembly time exceeded */, 0);
    }
    reass_fail(r, &s->ipv4.ctrs.reasm_timeout);
}

static struct reasm *reass_find(struct ust_stack *s, const struct ipv4_repr *ip)
{
    for (struct reasm *r = *bucket_of(s, ip->src, ip->dst, ip->id, ip->protocol); r;
         r = r->hash_next)
        if (r->src == ip->src && r->dst == ip->dst && r->id == ip->id &&
            r->protocol == ip->protocol)
            return r;
    return NULL;
}

static struct reasm *reass_create(struct iface *ifc, const struct ipv4_repr *ip)
{
    struct ust_stack *s = ifc->stack;
    if (s->ipv4.reasm_count >= s->cfg.reasm_max)
        return NULL;
    struct reasm *r = NULL;
    for (uint32_t i = 0; i < s->cfg.reasm_max; i++) {
        if (!s->ipv4.reasm[i].in_use) {
            r = &s->ipv4.reasm[i];
            break;
        }
    }
    if (!r)
        return NULL;
    *r = (struct reasm){ .src = ip->src, .dst = ip->dst, .id = ip->id, .protocol = ip->protocol,
                         .in_use = true, .ifc = ifc, .stack = s, .timer = r->timer };
    struct reasm **b = bucket_of(s, ip->src, ip->dst, ip->id, ip->protocol);
    r->hash_next = *b;
    *b = r;
    s->ipv4.reasm_count++;
    timer_arm(&s->wheel, &r->timer, s->now + (uint64_t)s->cfg.reasm_timeout_ms * NS_PER_MS);
    return r;
}

enum insert_result { INSERT_OK, INSERT_DUPLICATE, INSERT_OVERLAP };

/* Links p into r's offset-ordered list, refusing overlaps. */
static enum insert_result reass_insert(struct reasm *r, struct pkt *p)
{
    uint32_t off = p->frag_off, end = off + p->len;
    struct pkt *prev = NULL, *next = r->frags;
    while (next && next->frag_off < off) {
        prev = next;
        next = next->next;
    }
    if (next && next->frag_off == off && next->len == p->len)
        return INSERT_DUPLICATE;
    if ((prev && prev->frag_off + prev->len > off) || (next && next->frag_off < end))
        return INSERT_OVERLAP;
    p->next = next;
    if (prev)
        prev->next = p;
    else
        r->frags = p;
    return INSERT_OK;
}

/* Copies the complete datagram into one buffer behind a fresh header; NULL if no buffer. */
static struct pkt *reass_join(struct reasm *r, struct ipv4_repr *ip)
{
    struct ust_stack *s = r->stack;
    uint32_t total = r->total;
    struct pkt *out = stack_alloc(s);
    if (out && pkt_tailroom(out) < IPV4_HDR_LEN + total) {
        pkt_free(out);
        out = pkt_alloc(s->big_pool);
        if (out)
            pkt_reset_headroom(out, 0);   /* a 65,535-byte datagram fills the buffer */
    }
    if (!out || pkt_tailroom(out) < IPV4_HDR_LEN + total) {
        pkt_free(out);
        return NULL;
    }
    struct ipv4_repr h = { .src = r->src, .dst = r->dst, .protocol = r->protocol,
                           .ttl = r->ttl, .tos = r->tos, .id = r->id,
                           .payload_len = (uint16_t)total };
    uint8_t *dst = pkt_put(out, IPV4_HDR_LEN + total);
    ipv4_emit(&h, dst, IPV4_HDR_LEN);
    for (struct pkt *f = r->frags; f; f = f->next)
        memcpy(dst + IPV4_HDR_LEN + f->frag_off, f->data, f->len);
    /* It arrived as its first fragment did (Linux keeps the head's pkt_type). */
    *ipv4_rx_cb(out) = *ipv4_rx_cb(r->frags);
    if (ipv4_parse(out->data, out->len, ip) != 0) {
        pkt_free(out);
        return NULL;
    }
    return out;
}

/* Checks a fragment's extent against what is known of the datagram. False: drop everything. */
static bool extent_is_sane(const struct reasm *r, const struct ipv4_repr *ip)
{
    uint32_t end = (uint32_t)ip->frag_off + ip->payload_len;
    if (end > (uint32_t)IPV4_MAX_LEN - ip->hdr_len)
        return false;     /* RFC 791: 65,535 bytes at most ("ping of death") */
    if (ip->mf && (ip->payload_len == 0 || (ip->payload_len & 7) != 0))
        return false;     /* every fragment but the last carries a multiple of 8 bytes */
    if (!ip->mf && r->have_last && end != r->total)
        return false;     /* two different ends */
    if (ip->mf && r->have_last && end > r->total)
        return false;     /* past the known end */
    if (!ip->mf) {
        for (struct pkt *f = r->frags; f; f = f->next)
            if (f->frag_off + f->len > end)
                return false;   /* data held beyond this "last" fragment */
    }
    return true;
}

struct pkt *ipv4_reass_input(struct iface *ifc, struct ipv4_repr *ip, struct pkt *p)
{
    struct ust_stack *s = ifc->stack;
    struct ipv4_ctrs *c = &s->ipv4.ctrs;
    c->reasm_reqds++;
    if (s->ipv4.reasm_mem + pkt_buf_size(p) > s->cfg.reasm_mem) {
        c->reasm_over_mem++;
        goto drop;
    }
    struct reasm *r = reass_find(s, ip);
    if (!r) {
        r = reass_create(ifc, ip);
        if (!r) {
            c->reasm_over_count++;
            goto drop;
        }
    }
    if (!extent_is_sane(r, ip)) {
        reass_fail(r, &c->reasm_bad_length);
        goto drop;
    }
    pkt_pull(p, ip->hdr_len);
    p->frag_off = ip->frag_off;
    switch (reass_insert(r, p)) {
    case INSERT_DUPLICATE:
        c->reasm_duplicate++;
        goto drop;
    case INSERT_OVERLAP:
        reass_fail(r, &c->reasm_overlap);
        goto drop;
    case INSERT_OK:
        break;
    }
    r->held_bytes += p->len;
    r->mem += pkt_buf_size(p);
    s->ipv4.reasm_mem += pkt_buf_size(p);
    if (ip->frag_off == 0) {
        r->first_hdr_len = ip->hdr_len;
        r->ttl = ip->ttl;
        r->tos = ip->tos;
    }
    if (!ip->mf) {
        r->have_last = true;
        r->total = (uint32_t)ip->frag_off + ip->payload_len;
    }
    if (!r->have_last || r->held_bytes != r->total)
        return NULL;
    /* No overlaps and every byte counted: the fragments tile [0, total). */
    struct pkt *whole = reass_join(r, ip);
    if (!whole) {
        reass_fail(r, &c->reasm_no_big_buffer);
        return NULL;
    }
    c->reasm_oks++;
    reass_release(r);
    return whole;
drop:
    pkt_free(p);
    return NULL;
}
