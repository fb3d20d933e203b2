/*
 * Software segmentation offload (see gso.h).
 */
#include "link/gso.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/checksum.h"

CTR_DESCRIBE(gso_ctrs, GSO_COUNTERS)

#define GSO_ETH_LEN 14u
#define GSO_MAX_OUT 64u          /* segments per super-frame (64 KiB of 1 KiB segments) */
#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_CWR 0x80

struct gso_link {
    struct link link;
    struct link *inner;
    struct pkt_pool *pool;
    struct gso_ctrs ctrs;
    char ctr_name[48];
};

static struct gso_link *gso_of(struct link *l)
{
    return (struct gso_link *)(void *)l;   /* the link is the first member */
}

static uint16_t get16(const uint8_t *b)
{
    return (uint16_t)(b[0] << 8 | b[1]);
}

static void put16(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void put32(uint8_t *b, uint32_t v)
{
    put16(b, (uint16_t)(v >> 16));
    put16(b + 2, (uint16_t)v);
}

/* Copies n bytes starting `off` bytes into the frame (p and its ->frag chain) to dst. */
static void frame_copy_at(const struct pkt *p, uint32_t off, uint8_t *dst, uint32_t n)
{
    for (; p && off >= p->len; p = p->frag)
        off -= p->len;
    while (p && n) {
        uint32_t take = p->len - off < n ? p->len - off : n;
        memcpy(dst, p->data + off, take);
        dst += take;
        n -= take;
        off = 0;
        p = p->frag;
    }
}

static void store_csum(uint8_t *field, uint16_t folded)
{
    memcpy(field, &folded, sizeof(folded));   /* memory order, as checksum.h says */
}

/* A copy of the whole frame, its partial checksum (if any) completed. */
static int copy_frame(const struct pkt *p, struct pkt_pool *pool, struct pkt **out)
{
    uint32_t len = pkt_frame_len(p);
    struct pkt *q = pkt_alloc(pool);
    if (!q)
        return -ENOBUFS;
    if (pkt_tailroom(q) < len) {
        pkt_free(q);
        return -EMSGSIZE;
    }
    frame_copy_at(p, 0, pkt_put(q, len), len);
    if (p->flags & PKT_F_CSUM_PARTIAL) {
        uint32_t start = p->csum_start, at = start + p->csum_offset;
        if (at + 2u > len) {
            pkt_free(q);
            return -EINVAL;
        }
        /* The field holds the pseudo-header sum: summing from csum_start covers it. */
        store_csum(q->data + at, csum_fold(csum_partial(q->data + start, len - start, 0)));
    }
    *out = q;
    return 1;
}

int link_gso_segment(const struct pkt *p, struct pkt_pool *pool, struct pkt **out, unsigned max)
{
    if (max == 0)
        return -EMSGSIZE;
    if (!p->gso_size)
        return copy_frame(p, pool, out);
    /* Ethernet (untagged), IPv4, TCP, all in the first buffer. */
    const uint8_t *eth = p->data;
    if (p->len < GSO_ETH_LEN + 20 || get16(eth + 12) != 0x0800)
        return -EINVAL;
    const uint8_t *ip = eth + GSO_ETH_LEN;
    uint32_t ihl = (ip[0] & 0xfu) * 4u;
    if ((ip[0] >> 4) != 4 || ihl < 20 || ip[9] != 6 || p->len < GSO_ETH_LEN + ihl + 20)
        return -EINVAL;
    const uint8_t *th = ip + ihl;
    uint32_t doff = (uint32_t)(th[12] >> 4) * 4u;
    uint32_t hdr = GSO_ETH_LEN + ihl + doff;
    uint32_t total = pkt_frame_len(p);
    if (doff < 20 || p->len < hdr || total <= hdr)
        return -EINVAL;
    uint32_t payload = total - hdr, mss = p->gso_size;
    unsigned nseg = (payload + mss - 1) / mss;
    if (nseg > max)
        return -EMSGSIZE;
    uint32_t src = get32(ip + 12), dst = get32(ip + 16), seq = get32(th + 4);
    uint16_t id = get16(ip + 4);
    for (unsigned i = 0; i < nseg; i++) {
        uint32_t off = i * mss, len = payload - off < mss ? payload - off : mss;
        struct pkt *q = pkt_alloc(pool);
        if (!q || pkt_tailroom(q) < hdr + len) {
            pkt_free(q);
            pkt_free_bulk(out, i);
            return q ? -EMSGSIZE : -ENOBUFS;
        }
        uint8_t *b = pkt_put(q, hdr + len);
        memcpy(b, p->data, hdr);
        frame_copy_at(p, hdr + off, b + hdr, len);
        uint8_t *qip = b + GSO_ETH_LEN, *qth = qip + ihl;
        put16(qip + 2, (uint16_t)(ihl + doff + len));
        put16(qip + 4, (uint16_t)(id + i));
        put16(qip + 10, 0);
        store_csum(qip + 10, csum_fold(csum_partial(qip, ihl, 0)));
        put32(qth + 4, seq + off);
        if (i + 1 < nseg)
            qth[13] &= (uint8_t)~(TCP_FIN | TCP_PSH);
        if (i > 0)
            qth[13] &= (uint8_t)~TCP_CWR;
        put16(qth + 16, 0);
        uint32_t sum = csum_partial(qth, doff + len, 0);
        sum = csum_add(sum, csum_ipv4_pseudo(src, dst, 6, (uint16_t)(doff + len)));
        store_csum(qth + 16, csum_fold(sum));
        out[i] = q;
    }
    return (int)nseg;
}

static int gso_tx_burst(struct link *l, struct pkt **pkts, unsigned n)
{
    struct gso_link *g = gso_of(l);
    for (unsigned i = 0; i < n; i++) {
        struct pkt *p = pkts[i];
        struct pkt *out[GSO_MAX_OUT];
        int k = link_gso_segment(p, g->pool, out, GSO_MAX_OUT);
        if (k < 0) {
            g->ctrs.dropped++;
        } else {
            if (p->gso_size) {
                g->ctrs.superframes++;
                g->ctrs.segments += (unsigned)k;
            } else if (p->flags & PKT_F_CSUM_PARTIAL) {
                g->ctrs.csum_completed++;
            }
            int sent = link_tx_all_or_drop(g->inner, out, (unsigned)k);
            if (sent < 0)
                return i ? (int)i : sent;   /* the link failed: pkts[i..] stay the caller's */
            l->ctrs.tx_frames++;
        }
        pkt_free_frame(p);   /* copied: done with it, as LINK_TX_SYNC promises */
    }
    return (int)n;
}

static int gso_rx_burst(struct link *l, struct pkt **pkts, unsigned n)
{
    int got = link_rx_burst(gso_of(l)->inner, pkts, n);
    if (got > 0)
        l->ctrs.rx_frames += (unsigned)got;
    return got;
}

static int gso_wait_fd(struct link *l)
{
    return link_wait_fd(gso_of(l)->inner);
}

static uint64_t gso_next_event_ns(struct link *l)
{
    return link_next_event_ns(gso_of(l)->inner);
}

static void gso_destroy(struct link *l)
{
    struct gso_link *g = gso_of(l);
    link_destroy(g->inner);
    free(g);
}

static int gso_add_counters(struct link *l, struct ctr_set *set)
{
    struct gso_link *g = gso_of(l);
    int err = ctr_set_add(set, CTR_GROUP(g->ctr_name, gso_ctrs, &g->ctrs));
    return err ? err : link_add_counters(g->inner, set);
}

static const struct link_ops gso_ops = {
    .rx_burst = gso_rx_burst,
    .tx_burst = gso_tx_burst,
    .wait_fd = gso_wait_fd,
    .next_event_ns = gso_next_event_ns,
    .destroy = gso_destroy,
    .add_counters = gso_add_counters,
};

int link_gso_create(struct link *inner, struct pkt_pool *pool, struct link **out)
{
    if (!inner || !pool || !out)
        return -EINVAL;
    struct gso_link *g = calloc(1, sizeof(*g));
    if (!g)
        return -ENOMEM;
    char name[sizeof(g->link.name)];
    snprintf(name, sizeof(name), "%.27s+gso", inner->name);
    link_init(&g->link, &gso_ops, name);
    snprintf(g->ctr_name, sizeof(g->ctr_name), "%s.gso", g->link.name);
    g->link.caps = inner->caps;
    g->link.caps.offloads |= LINK_OFF_TSO4 | LINK_OFF_SG | LINK_OFF_TX_CSUM | LINK_TX_SYNC;
    g->inner = inner;
    g->pool = pool;
    *out = &g->link;
    return 0;
}

const struct gso_ctrs *link_gso_counters(struct link *l)
{
    return &gso_of(l)->ctrs;
}
