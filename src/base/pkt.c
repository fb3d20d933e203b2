/*
 * Packet buffer pool (see pkt.h for the layout and the ownership rule).
 *
 * One mmap holds the data region (page aligned, buffers back to back), unless the caller lends
 * one (cfg->region); one calloc holds the descriptor array and the free stack. Both are made at creation and never resized.
 */
#include "base/pkt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/log.h"

CTR_DESCRIBE(pkt_pool_ctrs, PKT_POOL_COUNTERS)

struct pkt_pool {
    struct pkt **free_stack;    /* free_stack[0..free_top) are free descriptors */
    uint32_t free_top;
    uint32_t count;
    uint32_t buf_size;
    uint32_t buf_shift;         /* buf_size == 1 << buf_shift */
    uint32_t headroom;
    struct pkt_pool_ctrs ctrs;
    uint8_t *region;            /* count * buf_size bytes */
    size_t region_size;
    bool region_external;       /* the caller's memory (cfg->region): not ours to unmap */
    struct pkt *descs;          /* count descriptors */
    char name[32];
};

static bool is_pow2(uint32_t v)
{
    return v && (v & (v - 1)) == 0;
}

int pkt_pool_create(const struct pkt_pool_config *cfg, struct pkt_pool **out)
{
    if (!cfg || cfg->count == 0 || !is_pow2(cfg->buf_size) || cfg->buf_size < 256 ||
        cfg->buf_size > 65536 || cfg->headroom >= cfg->buf_size)
        return -EINVAL;
    if ((uint64_t)cfg->count * cfg->buf_size > ((uint64_t)1 << 40))
        return -EINVAL;

    struct pkt_pool *pool = calloc(1, sizeof(*pool));
    if (!pool)
        return -ENOMEM;
    pool->count = cfg->count;
    pool->buf_size = cfg->buf_size;
    pool->buf_shift = (uint32_t)__builtin_ctz(cfg->buf_size);
    pool->headroom = cfg->headroom;
    snprintf(pool->name, sizeof(pool->name), "%s", cfg->name ? cfg->name : "pool");

    pool->region_size = (size_t)cfg->count * cfg->buf_size;
    pool->region_external = cfg->region != NULL;
    pool->region = cfg->region ? cfg->region
                               : mmap(NULL, pool->region_size, PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE | MAP_ANONYMOUS |
                                          (cfg->prefault ? MAP_POPULATE : 0),
                                      -1, 0);
    pool->descs = calloc(cfg->count, sizeof(*pool->descs));
    pool->free_stack = calloc(cfg->count, sizeof(*pool->free_stack));
    if (pool->region == MAP_FAILED || !pool->descs || !pool->free_stack) {
        if (pool->region == MAP_FAILED)
            pool->region = NULL;
        pkt_pool_destroy(pool);
        return -ENOMEM;
    }

    /* Push in reverse so that the first allocations walk the region upwards. */
    for (uint32_t i = 0; i < cfg->count; i++) {
        struct pkt *p = &pool->descs[i];
        p->buf = pool->region + ((size_t)i << pool->buf_shift);
        p->pool = pool;
        p->index = i;
        p->buf_shift = (uint8_t)pool->buf_shift;
        pool->free_stack[cfg->count - 1 - i] = p;
    }
    pool->free_top = cfg->count;
    *out = pool;
    return 0;
}

uint32_t pkt_pool_destroy(struct pkt_pool *pool)
{
    if (!pool)
        return 0;
    uint32_t leaked = pool->descs ? pool->count - pool->free_top : 0;
    if (leaked)
        ust_log(UST_LOG_ERROR, "pool %s destroyed with %u packets still in use", pool->name,
                leaked);
    if (pool->region && !pool->region_external)
        munmap(pool->region, pool->region_size);
    free(pool->descs);
    free(pool->free_stack);
    free(pool);
    return leaked;
}

static inline void pkt_init(struct pkt *p, uint32_t headroom)
{
    p->data = p->buf + headroom;
    p->len = 0;
    p->flags = 0;
    p->next = NULL;
    p->time_ns = 0;
    p->gso_size = 0;
    p->l3_off = 0;
    p->in_use = 1;
    p->refs = 0;
    p->frag = NULL;
    p->gso_hdr_len = 0;
}

struct pkt *pkt_alloc(struct pkt_pool *pool)
{
    if (__builtin_expect(pool->free_top == 0, 0)) {
        pool->ctrs.exhausted++;
        return NULL;
    }
    struct pkt *p = pool->free_stack[--pool->free_top];
    pkt_init(p, pool->headroom);
    pool->ctrs.allocs++;
    return p;
}

int pkt_alloc_bulk(struct pkt_pool *pool, struct pkt **pkts, unsigned n)
{
    if (n > pool->free_top) {
        pool->ctrs.exhausted++;
        return -ENOBUFS;
    }
    for (unsigned i = 0; i < n; i++) {
        struct pkt *p = pool->free_stack[--pool->free_top];
        pkt_init(p, pool->headroom);
        pkts[i] = p;
    }
    pool->ctrs.allocs += n;
    return 0;
}

void pkt_free(struct pkt *p)
{
    if (!p)
        return;
    struct pkt_pool *pool = p->pool;
    /* A double free is our own bug, never the network's. */
    assert(p->in_use && "packet freed twice");
    if (p->refs) {
        p->refs--;
        return;
    }
    assert(pool->free_top < pool->count);
    p->in_use = 0;
    pool->free_stack[pool->free_top++] = p;
    pool->ctrs.frees++;
}

void pkt_free_bulk(struct pkt **pkts, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        pkt_free(pkts[i]);
}

void pkt_free_chain(struct pkt *p)
{
    while (p) {
        struct pkt *next = p->next;
        pkt_free(p);
        p = next;
    }
}

void pkt_free_frame(struct pkt *p)
{
    while (p) {
        struct pkt *next = p->frag;
        pkt_free(p);
        p = next;
    }
}

uint32_t pkt_frame_len(const struct pkt *p)
{
    uint32_t n = 0;
    for (; p; p = p->frag)
        n += p->len;
    return n;
}

uint32_t pkt_frame_copy(const struct pkt *p, void *dst, uint32_t cap)
{
    uint32_t done = 0;
    for (; p && done < cap; p = p->frag) {
        uint32_t n = p->len < cap - done ? p->len : cap - done;
        memcpy((uint8_t *)dst + done, p->data, n);
        done += n;
    }
    return done;
}

struct pkt *pkt_copy(struct pkt_pool *pool, const struct pkt *src)
{
    struct pkt *p = pkt_alloc(pool);
    if (!p)
        return NULL;
    uint32_t headroom = pkt_headroom(src);
    if ((uint64_t)headroom + src->len > pool->buf_size)
        headroom = pool->headroom;
    if ((uint64_t)headroom + src->len > pool->buf_size) {
        pkt_free(p);
        return NULL;
    }
    p->data = p->buf + headroom;
    p->len = src->len;
    memcpy(p->data, src->data, src->len);
    p->flags = src->flags;
    p->time_ns = src->time_ns;
    p->csum_start = src->csum_start;
    p->csum_offset = src->csum_offset;
    p->gso_size = src->gso_size;
    p->l3_off = src->l3_off;
    memcpy(p->cb, src->cb, sizeof(p->cb));
    return p;
}

void pkt_reset(struct pkt *p)
{
    pkt_init(p, p->pool->headroom);
}

uint32_t pkt_pool_in_use(const struct pkt_pool *pool)
{
    return pool->count - pool->free_top;
}

uint32_t pkt_pool_count(const struct pkt_pool *pool)
{
    return pool->count;
}

uint32_t pkt_pool_buf_size(const struct pkt_pool *pool)
{
    return pool->buf_size;
}

uint32_t pkt_pool_headroom(const struct pkt_pool *pool)
{
    return pool->headroom;
}

const char *pkt_pool_name(const struct pkt_pool *pool)
{
    return pool->name;
}

void *pkt_pool_region(const struct pkt_pool *pool, size_t *size)
{
    if (size)
        *size = pool->region_size;
    return pool->region;
}

struct pkt *pkt_pool_lookup(struct pkt_pool *pool, uint64_t off)
{
    if (off >= pool->region_size)
        return NULL;
    return &pool->descs[off >> pool->buf_shift];
}

const struct pkt_pool_ctrs *pkt_pool_counters(const struct pkt_pool *pool)
{
    return &pool->ctrs;
}

struct ctr_group pkt_pool_ctr_group(struct pkt_pool *pool)
{
    return CTR_GROUP(pool->name, pkt_pool_ctrs, &pool->ctrs);
}
