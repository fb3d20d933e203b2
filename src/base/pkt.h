/*
 * Packet buffers and the pool they come from.
 *
 * A pool is created once with a fixed number of fixed-size buffers, all carved out of one
 * contiguous, page-aligned data region (so the region can later be handed to AF_XDP as its UMEM or
 * placed in a shared-memory wire). The descriptors (struct pkt) live in a separate array; each
 * points at its own buffer in the region. Nothing here calls malloc after pkt_pool_create().
 *
 * Allocation and free are O(1): a LIFO stack of free descriptors, so the most recently freed (and
 * most likely cached) buffer is reused first. Bulk forms move many buffers per call.
 *
 * A freshly allocated packet is empty, with `headroom` bytes reserved before `data` so that lower
 * layers prepend their headers in place (pkt_push) without copying the payload.
 *
 * SHARING. pkt_ref() takes an extra reference, so that a buffer can sit in a protocol's
 * retransmission queue and in a link's transmit path at once; pkt_free() drops references and
 * frees on the last. A packet with references (pkt_is_shared) must not be modified: whoever
 * wants to change a shared packet copies it. Only links that are done with a frame when tx_burst
 * returns (LINK_TX_SYNC) are handed shared packets.
 *
 * OWNERSHIP RULE. A packet has exactly one owner at any time. A function that *consumes* a packet
 * takes ownership: it must free it or hand it on, and the caller must not touch it again. A
 * function that *borrows* a packet may read and modify it but neither frees nor keeps it after
 * returning. Every function taking a struct pkt says which it does; when nothing is said, it
 * borrows. Receive functions give ownership of the packets they return to their caller.
 *
 * Exhaustion is normal, not an error path: pkt_alloc() returns NULL, the pool counts it in
 * `exhausted`, and the caller reports -ENOBUFS. Every test's teardown checks that the pool's
 * in-use count is back to zero.
 */
#ifndef UST_BASE_PKT_H
#define UST_BASE_PKT_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/counters.h"

struct pkt_pool;

#define PKT_CB_SIZE 48

/* Offload state carried with a frame between the link and the protocol layers. */
enum pkt_flags {
    PKT_F_CSUM_PARTIAL = 1u << 0, /* L4 checksum not computed: csum_start/csum_offset say where */
    PKT_F_CSUM_VALID   = 1u << 1, /* the link verified the L4 checksum (receive offload) */
};

struct pkt {
    uint8_t *data;            /* first valid byte; buf <= data <= buf + buf_size */
    uint32_t len;             /* valid bytes from data; data + len <= buf + buf_size */
    uint32_t flags;           /* enum pkt_flags */
    struct pkt *next;         /* free for the owner's use: queues and chains */
    union {                   /* free for the owner's use: */
        uint64_t time_ns;     /* a receive or release time */
        uint32_t frag_off;    /* IPv4 reassembly: this fragment's payload offset */
    };
    uint16_t csum_start;      /* PKT_F_CSUM_PARTIAL: checksum from data + csum_start ... */
    uint16_t csum_offset;     /* ... stored at data + csum_start + csum_offset */
    uint16_t gso_size;        /* segmentation offload: payload bytes per segment, 0 if none */
    uint16_t l3_off;          /* offset of the network header from data, set by the receiver */
    uint8_t *buf;             /* start of this packet's buffer in the pool's region */
    struct pkt_pool *pool;    /* the pool to return to */
    uint32_t index;           /* position in the pool: buf == region + index * buf_size */
    uint8_t in_use;           /* 1 while owned by someone, 0 while on the free stack */
    uint8_t buf_shift;        /* buffer size is 1 << buf_shift */
    uint16_t refs;            /* extra references (pkt_ref); pkt_free drops one before freeing */
    /* Second cache line: per-owner state. */
    struct pkt *frag;         /* further buffers of one frame (see pkt_free_frame) */
    uint16_t gso_hdr_len;     /* segmentation offload: header bytes every segment repeats */
    uint16_t reserved2[3];
    uint8_t cb[PKT_CB_SIZE];  /* control block: free for the current owner's use (tcp_cb ...) */
};

_Static_assert(sizeof(struct pkt) == 128, "a packet descriptor fills two cache lines");

#define PKT_POOL_COUNTERS(X)                                                       \
    X(allocs, "buffers handed out")                                                \
    X(frees, "buffers returned")                                                   \
    X(exhausted, "allocations refused because every buffer was in use (ENOBUFS)")

CTR_DEFINE(pkt_pool_ctrs, PKT_POOL_COUNTERS)

struct pkt_pool_config {
    const char *name;         /* for counters and logs; copied */
    uint32_t count;           /* number of buffers, >= 1 */
    uint32_t buf_size;        /* bytes per buffer, a power of two from 256 to 64 KiB */
    uint32_t headroom;        /* bytes reserved before data at allocation, < buf_size */
    bool prefault;            /* make every buffer's pages resident now (MAP_POPULATE), so the
                               * data path never takes a page fault and memory use is flat */
    /* Optional: carve the buffers out of this caller-owned memory (count * buf_size bytes,
     * page aligned) instead of a mapping of the pool's own, e.g. a shared-memory wire's slab
     * (link/shm.c). The caller keeps it mapped until pkt_pool_destroy() has returned, then
     * unmaps it itself; the pool never writes to it except through the packets it hands out. */
    void *region;
};

/* Defaults suited to Ethernet frames up to 1514 bytes plus prepended headers. */
#define PKT_DEFAULT_BUF_SIZE  2048u
#define PKT_DEFAULT_HEADROOM  128u

/* Creates a pool. Returns 0, -EINVAL for a bad configuration, or -ENOMEM. */
int pkt_pool_create(const struct pkt_pool_config *cfg, struct pkt_pool **out);
/* Destroys a pool. Packets still in use are a bug of the caller: they are reported (logged, and
 * the return value is their number) and the region is released anyway. */
uint32_t pkt_pool_destroy(struct pkt_pool *pool);

/* Takes one empty packet with the pool's headroom, or NULL if the pool is exhausted. */
struct pkt *pkt_alloc(struct pkt_pool *pool);
/* Takes exactly n packets (all or nothing). Returns 0 or -ENOBUFS. */
int pkt_alloc_bulk(struct pkt_pool *pool, struct pkt **pkts, unsigned n);
/* Consumes p (drops one reference). NULL is accepted and ignored. */
void pkt_free(struct pkt *p);

/* Takes another reference to p (see SHARING). */
static inline struct pkt *pkt_ref(struct pkt *p)
{
    p->refs++;
    return p;
}

static inline bool pkt_is_shared(const struct pkt *p)
{
    return p->refs != 0;
}
/* Consumes pkts[0..n). The packets may come from different pools. */
void pkt_free_bulk(struct pkt **pkts, unsigned n);
/* Consumes the chain starting at p, linked through ->next. */
void pkt_free_chain(struct pkt *p);

/* A frame may continue in further buffers linked through ->frag (scatter-gather: links that
 * offer LINK_OFF_SG accept such frames). Consumes p and every buffer of its frag chain. */
void pkt_free_frame(struct pkt *p);
/* Bytes in p and its frag chain. */
uint32_t pkt_frame_len(const struct pkt *p);
/* Copies up to cap bytes of the frame (p and its frag chain) to dst; returns bytes copied. */
uint32_t pkt_frame_copy(const struct pkt *p, void *dst, uint32_t cap);
/* Allocates a packet from `pool` holding a copy of src's data and metadata, control block
 * included (borrows src); NULL if the pool is exhausted. The copy keeps src's headroom where it
 * fits. Fragments (->frag) are not copied. */
struct pkt *pkt_copy(struct pkt_pool *pool, const struct pkt *src);

uint32_t pkt_pool_in_use(const struct pkt_pool *pool);
uint32_t pkt_pool_count(const struct pkt_pool *pool);
uint32_t pkt_pool_buf_size(const struct pkt_pool *pool);
uint32_t pkt_pool_headroom(const struct pkt_pool *pool);
const char *pkt_pool_name(const struct pkt_pool *pool);
/* The contiguous data region (buffers back to back, buffer i at offset i * buf_size). */
void *pkt_pool_region(const struct pkt_pool *pool, size_t *size);
/* The descriptor whose buffer contains region offset `off`, or NULL if out of range. */
struct pkt *pkt_pool_lookup(struct pkt_pool *pool, uint64_t off);
const struct pkt_pool_ctrs *pkt_pool_counters(const struct pkt_pool *pool);
struct ctr_group pkt_pool_ctr_group(struct pkt_pool *pool);

/* ---- Editing a packet's extent (all O(1), no copies) ---- */

static inline uint32_t pkt_headroom(const struct pkt *p)
{
    return (uint32_t)(p->data - p->buf);
}

static inline uint32_t pkt_buf_size(const struct pkt *p)
{
    return 1u << p->buf_shift;
}

static inline uint32_t pkt_tailroom(const struct pkt *p)
{
    return pkt_buf_size(p) - pkt_headroom(p) - p->len;
}

/* Grows the packet at the front by n bytes (to prepend a header). Returns the new data pointer,
 * or NULL (packet unchanged) if the headroom is smaller than n. */
static inline uint8_t *pkt_push(struct pkt *p, uint32_t n)
{
    if (n > pkt_headroom(p))
        return NULL;
    p->data -= n;
    p->len += n;
    return p->data;
}

/* Removes n bytes from the front (to strip a header). Returns the new data pointer, or NULL
 * (packet unchanged) if the packet is shorter than n. */
static inline uint8_t *pkt_pull(struct pkt *p, uint32_t n)
{
    if (n > p->len)
        return NULL;
    p->data += n;
    p->len -= n;
    return p->data;
}

/* Grows the packet at the end by n bytes. Returns a pointer to the added bytes, or NULL
 * (packet unchanged) if the tailroom is smaller than n. */
static inline uint8_t *pkt_put(struct pkt *p, uint32_t n)
{
    if (n > pkt_tailroom(p))
        return NULL;
    uint8_t *tail = p->data + p->len;
    p->len += n;
    return tail;
}

/* Shortens the packet to len bytes; a len at or above the current length changes nothing. */
static inline void pkt_trim(struct pkt *p, uint32_t len)
{
    if (len < p->len)
        p->len = len;
}

/* Empties the packet and restores the pool's headroom. */
void pkt_reset(struct pkt *p);

/* Empties the packet with `headroom` bytes before data (at most the buffer size). */
static inline void pkt_reset_headroom(struct pkt *p, uint32_t headroom)
{
    p->data = p->buf + (headroom < pkt_buf_size(p) ? headroom : pkt_buf_size(p));
    p->len = 0;
}

#endif
