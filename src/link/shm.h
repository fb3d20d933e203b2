/*
 * The shared-memory wire: a point-to-point link between the stacks of two processes on one host,
 * through a named file in /dev/shm (the CLAN distributed message queue, without the network).
 *
 *   shm:/dev/shm/ust-NAME,side=0|1[,mtu=N][,slots=N][,verify=0|1]
 *
 * Received frames are marked checksum-valid (LINK_OFF_RX_CSUM), as Linux treats loopback and
 * veth: nothing between two processes' memory corrupts a frame; verify=1 checks them anyway.
 *
 * Both processes name the same file, one with side=0 and one with side=1, in either order.
 * Whoever comes first creates the file (mode 0600, O_EXCL-like under an flock), lays out the
 * header and rings, and may transmit at once; the second validates the header and attaches.
 * Once both are attached the second removes the names (the file and its two doorbell FIFOs,
 * NAME.door0 and NAME.door1): the mapping and the descriptors live on, and a later open of the
 * name starts a fresh wire. A stale file whose creator died before anyone attached is rebuilt.
 *
 * LAYOUT (offsets from the start of the file, all fixed by the header's slots and buf_size and
 * checked before use: a file whose header is not exactly what this version would have written is
 * refused with -EPROTO or -EINVAL and a log line naming the field):
 *
 *   header            magic, version, sizes, offsets, and per side pid / state / sleeping flag
 *   per direction d   (frames that side d sends; side 1-d receives and owns the buffers)
 *     used ring       descriptors {buffer index, length}: sender produces, receiver consumes
 *     free ring       buffer indices the sender may fill: receiver produces, sender consumes
 *     slab            slots buffers of buf_size bytes; frame data at buffer + headroom
 *
 * Each ring's producer and consumer indices sit on separate cache lines; each side keeps a
 * private copy of the other's index and rereads the shared one only when the ring looks full
 * (producer) or empty (consumer) (struct shm_ring_end below, unit-tested on its own).
 *
 * ZERO-COPY RECEIVE. The receiver's slab is the region of a packet pool of its own (pkt.h,
 * pkt_pool_config.region): a received frame is handed to the stack as the pool descriptor of the
 * slab buffer it arrived in, and goes back to that pool when the stack frees it; the next
 * rx_burst posts every free buffer to the free ring again (like an AF_XDP fill ring). Transmit
 * copies each frame once, into a buffer the receiver posted (so LINK_TX_SYNC, LINK_OFF_SG).
 * OWNERSHIP: frames returned by rx_burst belong to the caller as usual, but their buffers live in
 * the mapping: every one must be freed before the link is destroyed (the stack frees its
 * protocols' queues first). The peer can write to the slab at any time; memory safety does not
 * depend on it: descriptors are copied once and bounds-checked (index < slots, length within the
 * buffer, buffer actually posted), and the stack's parsers copy header fields into values before
 * use, so a hostile peer can change only payload bytes it sent itself. (A peer of our own uid
 * could also truncate the file, and our next access would fault; but such a peer could ptrace
 * us too. The checks are against corrupt files, mistakes and garbage in the mapping.)
 *
 * SIZING. A sender that finds no posted buffer leaves its frames to the stack, which drops and
 * counts them like a full NIC queue (tx_drop_link_full), and TCP retransmits. Frames a receiving
 * stack keeps (TCP's receive and out-of-order queues hold them in place) keep their buffers, so
 * `slots` should exceed a receive window's worth of frames: the default (1024 buffers up to
 * 8 KiB, fewer above, 8 MiB of slab per direction) covers the default 1 MiB TCP buffer.
 *
 * WAKEUPS, only when the peer sleeps. Each side has a doorbell FIFO that it reads (wait_fd). The
 * stack asks for wait_fd just before it sleeps; that call arms the side's `sleeping` flag, and
 * rereads the ring (a seq_cst fence between, the store-buffer pattern); if frames or news came in
 * meanwhile it returns an always-readable descriptor instead, so poll() does not sleep. A sender,
 * after publishing, clears the peer's flag if set and writes one byte to its doorbell; the
 * receiver reads the doorbell empty when it finds its flag cleared. A flag nobody cleared stays
 * armed until the peer's next frames (another thread of the stack may still be asleep on the
 * doorbell). A side that spins never arms, so a busy exchange makes no system call at all. (A
 * futex would need the stack's sleeping path changed, and an eventfd cannot be shared by
 * unrelated processes without a unix socket; a FIFO is named, pollable and needs neither.)
 *
 * PEER DEATH. Each side holds the other's doorbell open for writing (O_RDWR, so the open never
 * blocks), and its own for reading only: when the peer exits, killed or not, the kernel closes
 * its descriptors, the doorbell hangs up (POLLHUP wakes a sleeper) and reads return end-of-file.
 * A side also marks itself detached in the header when it closes, and its pid is checked with
 * kill(pid, 0) at most every SHM_LIVENESS_MS while the ring is idle (so a hang-up that wakes a
 * side whose flag is still armed is noticed within that time). Any of these makes rx_burst and
 * tx_burst return -ENETDOWN from then on (the stack marks the interface down).
 */
#ifndef UST_LINK_SHM_H
#define UST_LINK_SHM_H

#include <stdatomic.h>
#include <stdint.h>

#include "link/link.h"

struct link_env;

#define SHM_MAGIC 0x31574d4853545355ull   /* "USTSHMW1" read as little-endian bytes */
#define SHM_VERSION 1u
#define SHM_HEADROOM 64u                  /* bytes before the frame in each buffer */
#define SHM_ETH_HDR 14u
#define SHM_MIN_MTU 68u
#define SHM_MAX_BUF 65536u                /* the packet pool's largest buffer */
#define SHM_MAX_MTU (SHM_MAX_BUF - SHM_HEADROOM - SHM_ETH_HDR)   /* 65,458 */
#define SHM_MIN_SLOTS 2u
#define SHM_MAX_SLOTS 65536u
#define SHM_LIVENESS_MS 100u

/* ---- The single-producer single-consumer ring, as it sits in shared memory ---- */

struct shm_ring_ctl {
    _Alignas(64) _Atomic uint32_t prod;   /* next entry to fill; only the producer writes */
    _Alignas(64) _Atomic uint32_t cons;   /* next entry to take; only the consumer writes */
};

_Static_assert(sizeof(struct shm_ring_ctl) == 128, "two cache lines");

/* One side's view of a ring: its own index, and its last reading of the other's. Indices are
 * free-running; entries [cons, prod) are full. */
struct shm_ring_end {
    struct shm_ring_ctl *ctl;
    uint32_t mask;                        /* entries - 1 */
    uint32_t mine;                        /* our index (prod if we produce, cons if we consume) */
    uint32_t theirs;                      /* the other side's index, as last read */
    uint64_t rereads;                     /* times the shared index was read */
};

/* Starts a producer (produce != 0) or consumer view of a ring of mask + 1 entries. */
void shm_ring_attach(struct shm_ring_end *e, struct shm_ring_ctl *ctl, uint32_t mask,
                     int produce);

/* Producer: free entries, at least `want` if the ring has them. Rereads the consumer's index only
 * when the private copy shows fewer than `want`. -EPROTO if the consumer's index is impossible
 * (ahead of ours, or more than a ring behind): a corrupt or hostile peer. */
static inline int64_t shm_ring_space(struct shm_ring_end *e, uint32_t want)
{
    uint32_t size = e->mask + 1;
    uint32_t used = e->mine - e->theirs;
    if (size - used >= want)
        return size - used;
    uint32_t cons = atomic_load_explicit(&e->ctl->cons, memory_order_acquire);
    e->rereads++;
    used = e->mine - cons;
    if (used > size)
        return -71;   /* -EPROTO; the bad value is not kept */
    e->theirs = cons;
    return (int64_t)(size - used);
}

/* Consumer: full entries, at least `want` if there are. Rereads the producer's index only when
 * the private copy shows fewer than `want`. -EPROTO if the producer's index is impossible. */
static inline int64_t shm_ring_avail(struct shm_ring_end *e, uint32_t want)
{
    uint32_t avail = e->theirs - e->mine;
    if (avail >= want)
        return avail;
    uint32_t prod = atomic_load_explicit(&e->ctl->prod, memory_order_acquire);
    e->rereads++;
    avail = prod - e->mine;
    if (avail > e->mask + 1)
        return -71;   /* -EPROTO; the bad value is not kept */
    e->theirs = prod;
    return (int64_t)avail;
}

/* Publishes our index after filling (producer) or taking (consumer) entries up to e->mine. */
static inline void shm_ring_publish(struct shm_ring_end *e, int produce)
{
    atomic_store_explicit(produce ? &e->ctl->prod : &e->ctl->cons, e->mine,
                          memory_order_release);
}

/* ---- The file ---- */

struct shm_desc {
    uint32_t buf;                         /* buffer index in the receiver's slab */
    uint32_t len;                         /* frame bytes at buffer + headroom */
};

enum shm_side_state {
    SHM_SIDE_FREE = 0,                    /* nobody has attached this side yet */
    SHM_SIDE_ATTACHED = 1,
    SHM_SIDE_DETACHED = 2,                /* closed: the wire is finished */
};

struct shm_side_info {
    _Alignas(64) _Atomic uint32_t pid;
    _Atomic uint32_t state;               /* enum shm_side_state */
    _Alignas(64) _Atomic uint32_t sleeping;   /* armed by this side, cleared by the peer */
};

struct shm_dir_layout {
    uint64_t used_off;                    /* struct shm_ring_ctl, then slots shm_desc */
    uint64_t free_off;                    /* struct shm_ring_ctl, then slots uint32_t */
    uint64_t slab_off;                    /* slots * buf_size bytes, page aligned */
};

struct shm_hdr {
    uint64_t magic;                       /* SHM_MAGIC */
    uint32_t version;                     /* SHM_VERSION */
    uint32_t hdr_size;                    /* sizeof(struct shm_hdr) */
    uint32_t mtu;                         /* largest IP packet */
    uint32_t slots;                       /* ring entries and buffers per direction */
    uint32_t buf_size;                    /* bytes per buffer, a power of two */
    uint32_t headroom;                    /* SHM_HEADROOM */
    uint64_t file_size;
    struct shm_dir_layout dir[2];         /* dir[d]: frames side d sends */
    struct shm_side_info side[2];
};

/* The geometry a (mtu, slots) pair gives: buffer size and the canonical layout. Returns 0 or
 * -EINVAL (out of range). */
int shm_layout(uint32_t mtu, uint32_t slots, struct shm_hdr *h);

/* Checks a header found in a file of file_size bytes: every field must be in range and every
 * offset exactly where shm_layout puts it. Returns 0, -EPROTO (not a ustack wire file, or another
 * version) or -EINVAL (a bad size or offset); *why names the problem. */
int shm_hdr_validate(const struct shm_hdr *h, uint64_t file_size, const char **why);

/* ---- The link ---- */

struct shm_config {
    const char *path;                     /* the file; its directory must exist */
    unsigned side;                        /* 0 or 1 */
    uint32_t mtu;                         /* 0: take the file's, or default_mtu when creating */
    uint32_t default_mtu;                 /* for a new wire when mtu is 0; 0: 1500 */
    uint32_t slots;                       /* 0: take the file's, or a default by MTU */
    bool verify_csum;                     /* verify received checksums instead of trusting */
};

#define SHM_COUNTERS(X)                                                             \
    X(rx_bad_desc, "received descriptors refused: bad index, length, or buffer not posted") \
    X(tx_too_long, "frames consumed and dropped by tx_burst: longer than MTU + 14")  \
    X(tx_wakeups, "doorbell writes to a sleeping peer")                              \
    X(rx_sleeps, "times this side armed its doorbell before sleeping")               \
    X(ring_rereads, "shared ring indices read (the lazy copy looked full or empty)")

CTR_DEFINE(shm_ctrs, SHM_COUNTERS)

/* Opens one side of the wire. Returns 0, -EINVAL (bad configuration, or a file that is not a
 * regular file owned by us with mode 0600), -EPROTO (not a wire file, or another version),
 * -EBUSY (this side is attached by a live process), or an errno from the system. Each failure
 * logs why. */
int link_shm_open(const struct shm_config *cfg, struct link **out);

/* Parses "PATH,side=N[,mtu=N][,slots=N]" (the part after "shm:") and opens it. */
int link_shm_open_spec(const char *arg, const struct link_env *env, struct link **out);

const struct shm_ctrs *link_shm_counters(struct link *l);
struct ctr_group link_shm_ctr_group(struct link *l);

#endif
