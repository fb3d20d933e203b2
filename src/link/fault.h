/*
 * Fault injection: a link middleware that wraps any link (same vtable) and drops, duplicates,
 * reorders, delays and corrupts the frames passing through it, on transmit and on receive
 * separately. It stands in for netem, which this machine's kernel lacks, and drives the packet
 * tests' "lossy wire" scenarios.
 *
 * Entry point: link_fault_create(). Everything is deterministic for a given seed, configuration,
 * clock and sequence of calls: each fault draws from its own generator (seeded from cfg->seed,
 * the direction and the fault), so enabling one fault never changes another's choices.
 *
 * Per direction, each frame goes through these stages in order:
 *   1. drop_nth   drop the frame whose 1-based index in this direction is listed;
 *   2. drop_p     drop with probability drop_p;
 *   3. dup_p      with probability dup_p, also send a copy (from `pool`, via pkt_copy; an empty
 *                 pool is counted in dup_nobufs, never fatal). The copy follows the original
 *                 through stages 4-6 independently;
 *   4. corrupt_p  flip one random bit of one random byte at or after corrupt_offset (frames no
 *                 longer than the offset are left alone and counted in corrupt_short);
 *   5. reorder_p  hold the frame back until reorder_gap further frames have passed this stage
 *                 (frames that are themselves held do not count), or until reorder_max_hold_ns has
 *                 elapsed, whichever comes first; it then goes on to stage 6;
 *   6. delay      hold every frame until now + delay_ns + uniform[0, jitter_ns]; frames leave in
 *                 release-time order (ties in arrival order), so jitter may reorder them.
 * Held frames (stages 5 and 6) are released during later rx_burst/tx_burst calls once the clock
 * reaches them; next_event_ns reports the earliest. A direction holds at most hold_max frames;
 * a frame that would exceed it is dropped and counted in hold_overflow.
 *
 * Transmit: with no transmit fault configured and nothing held, tx_burst passes straight through
 * (back-pressure included). Otherwise the injector behaves as a lossy wire: it consumes every
 * frame (returns n), and frames the inner link then refuses are dropped and counted in
 * tx_refused. An inner link that has failed (-ENETDOWN) is detected with a zero-frame tx_burst
 * before anything is consumed, so its error reaches the caller with the frames still the
 * caller's. Frames held on transmit are released on tx_burst and rx_burst calls alike.
 *
 * OWNERSHIP: as link.h. Held frames belong to the injector; destroy frees them all and destroys
 * the inner link. link_fault_create() takes ownership of `inner` only when it succeeds.
 */
#ifndef UST_LINK_FAULT_H
#define UST_LINK_FAULT_H

#include <stdint.h>
#include <stdio.h>

#include "base/clock.h"
#include "base/pkt.h"
#include "link/link.h"

#define FAULT_DROP_LIST_MAX 16
#define FAULT_DEFAULT_HOLD_MAX 1024u
#define FAULT_HOLD_MAX_LIMIT 65536u
#define FAULT_DEFAULT_REORDER_HOLD_NS (50 * NS_PER_MS)
#define FAULT_MAX_DELAY_NS (3600 * NS_PER_SEC)

/* One direction's faults. All zero means no fault. */
struct fault_dir_config {
    uint32_t drop_nth[FAULT_DROP_LIST_MAX]; /* 1-based frame indices to drop; a 0 ends the list */
    double drop_p;                  /* probability of dropping a frame, 0..1 */
    double dup_p;                   /* probability of duplicating a frame, 0..1 (needs a pool) */
    double corrupt_p;               /* probability of flipping one bit, 0..1 */
    uint32_t corrupt_offset;        /* first byte that may be corrupted, e.g. 14 + 20 + 8 */
    double reorder_p;               /* probability of holding a frame back, 0..1 */
    uint32_t reorder_gap;           /* frames that overtake a held one; 0: 1 */
    uint64_t reorder_max_hold_ns;   /* release a held frame after this long anyway; 0: 50 ms */
    uint64_t delay_ns;              /* fixed delay */
    uint64_t jitter_ns;             /* plus uniform [0, jitter_ns] */
};

struct fault_config {
    uint64_t seed;
    uint32_t hold_max;              /* frames held per direction, 1..65536; 0: 1024 */
    struct fault_dir_config tx;     /* frames the stack transmits */
    struct fault_dir_config rx;     /* frames the inner link receives */
};

enum fault_dir { FAULT_TX = 0, FAULT_RX = 1 };

#define FAULT_COUNTERS(X)                                                           \
    X(frames, "frames entering the stages (none while the direction has no fault)") \
    X(drop_nth, "dropped: index in the drop list")                                  \
    X(drop_random, "dropped: random loss")                                          \
    X(dup, "duplicates made")                                                       \
    X(dup_nobufs, "duplicates not made: the pool was empty")                        \
    X(corrupt, "frames with one bit flipped")                                       \
    X(corrupt_short, "frames chosen for corruption but no longer than the offset")  \
    X(reorder_held, "frames held back to be overtaken")                             \
    X(reorder_timeout, "held-back frames released by the maximum hold time")        \
    X(delayed, "frames delayed")                                                    \
    X(hold_overflow, "dropped: the held-frame cap was reached")                     \
    X(tx_refused, "dropped: the inner link refused or failed the frame (transmit)") \
    X(out, "frames that left this direction")

CTR_DEFINE(fault_ctrs, FAULT_COUNTERS)

/* Wraps inner. clock times the delays (a fake clock makes them exact); pool supplies duplicates
 * and may be NULL when no duplication is configured. Returns 0, -EINVAL for a bad configuration
 * (a probability outside 0..1, duplication without a pool, a delay above an hour), or -ENOMEM.
 * On success the new link owns inner; on failure the caller still does. */
int link_fault_create(struct link *inner, const struct fault_config *cfg, struct clk *clock,
                      struct pkt_pool *pool, struct link **out);

/* Parses a textual specification, as the `fault` runtime option carries it: comma-separated
 * key=value items, e.g. "loss=0.01,seed=7" or "tx.delay=5ms,jitter=1ms,rx.reorder=2%".
 * A key prefixed tx. or rx. sets that direction; without a prefix it sets both. Probabilities
 * are 0..1 or a percentage ("2%"), times carry a unit (ns, us, ms, s), lists are separated by
 * slashes ("drop_nth=3/7"). fault_config_help() lists the keys. Starts from an all-zero cfg.
 * Returns 0, or -EINVAL with a log line naming the bad item. */
int fault_config_parse(const char *spec, struct fault_config *cfg);
/* Prints the keys fault_config_parse() accepts, one per line with its meaning. */
void fault_config_help(FILE *f);

/* Counters of one direction of a fault link, named "<link name>.fault.tx" / ".fault.rx". */
const struct fault_ctrs *link_fault_counters(struct link *l, enum fault_dir dir);
struct ctr_group link_fault_ctr_group(struct link *l, enum fault_dir dir);
/* Frames currently held in one direction (reordering and delay). */
unsigned link_fault_held(struct link *l, enum fault_dir dir);

#endif
