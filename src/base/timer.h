/*
 * Hierarchical timer wheel with absolute deadlines.
 *
 * Time is cut into ticks of 2^shift ns (default 2^16 ns = 65.5 us; any shift up to 19, 524 us,
 * keeps the resolution under 1 ms). Level 0 has 64 slots of one tick each; each higher level has
 * 64 slots of 64 times the span of the level below; TIMER_LEVELS levels cover 2^42 ticks (years
 * at the default resolution). Deadlines beyond that wait in the top level and are re-placed when
 * their slot comes round.
 *
 * - timer_arm() and timer_cancel() are O(1): find the level from the distance to the deadline
 *   (one count-leading-zeros), link into a doubly linked slot list, set an occupancy bit.
 * - A timer never fires early: its deadline is rounded up to a tick, and it fires in the first
 *   timer_wheel_advance(now) whose `now` has reached that tick. It fires at most one tick late.
 * - When a higher-level slot comes due its timers move down a level ("cascade"); each timer
 *   moves at most once per level, so the cost per timer stays O(1) amortised.
 * - timer_wheel_next() finds, from the occupancy bitmaps, the earliest time at which advance()
 *   will have work: exact for deadlines within 64 ticks, otherwise the start of the slot that
 *   holds the deadline (a caller that sleeps until then wakes at worst once per level early).
 * - advance() skips empty stretches through the bitmaps, so a long sleep costs nothing per tick.
 *
 * Timers are embedded in their owner's structure (container_of in the callback). The wheel does
 * not allocate. Callbacks may arm and cancel any timer, including the one firing; a timer armed
 * inside a callback for a time already reached fires at the next tick, not in the same pass.
 */
#ifndef UST_BASE_TIMER_H
#define UST_BASE_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TIMER_SLOT_BITS 6
#define TIMER_SLOTS (1u << TIMER_SLOT_BITS)
#define TIMER_LEVELS 7
#define TIMER_DEFAULT_SHIFT 16u
#define TIMER_MAX_SHIFT 19u
#define TIMER_NONE UINT64_MAX

struct timer;
typedef void timer_fn(struct timer *t, uint64_t now_ns);

struct timer {
    struct timer *next;
    struct timer **pprev;   /* the pointer that points at us; NULL when not armed */
    uint64_t deadline_ns;   /* absolute time requested by the last timer_arm() */
    timer_fn *fn;
    /* No level or slot: where it is linked, when that matters (its slot's occupancy bit, once
     * the slot empties), is told by pprev pointing into the wheel's slots (slot_unlink). 32
     * bytes, not 40, in every connection's three timers. */
};

struct timer_wheel {
    uint64_t cur;           /* next tick to process: every timer due before it has fired */
    uint64_t next_hint;     /* lower bound on the next tick with work */
    uint32_t shift;         /* tick length is 2^shift ns */
    uint32_t armed;         /* number of armed timers */
    uint64_t occupied[TIMER_LEVELS];    /* bit s set <=> slots[level][s] is not empty */
    struct timer *slots[TIMER_LEVELS][TIMER_SLOTS];
};

#define container_of(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* shift 0 selects TIMER_DEFAULT_SHIFT; above TIMER_MAX_SHIFT it is clamped to it. */
void timer_wheel_init(struct timer_wheel *w, uint64_t now_ns, unsigned shift);

void timer_init(struct timer *t, timer_fn *fn);

/* Arms t to fire at deadline_ns (re-arms it if it is already armed). */
void timer_arm(struct timer_wheel *w, struct timer *t, uint64_t deadline_ns);

/* Disarms t; harmless if it is not armed. */
void timer_cancel(struct timer_wheel *w, struct timer *t);

static inline bool timer_is_armed(const struct timer *t)
{
    return t->pprev != NULL;
}

/* Fires every timer whose deadline (rounded up to a tick) has been reached by now_ns. Returns the
 * number fired. `now_ns` earlier than a previous call's is treated as that earlier time. */
unsigned timer_wheel_advance_slow(struct timer_wheel *w, uint64_t now_ns);

/* Inline because every entry into a stack calls it and it almost always has nothing to do: the
 * quick test costs a few instructions, where a call that saves registers for the slow path cost
 * about 55 (a spinning 64-byte round trip enters its stacks five or more times). */
static inline unsigned timer_wheel_advance(struct timer_wheel *w, uint64_t now_ns)
{
    uint64_t now_tick = now_ns >> w->shift;
    if (now_tick < w->next_hint) {
        if (now_tick >= w->cur)
            w->cur = now_tick + 1;
        return 0;
    }
    return timer_wheel_advance_slow(w, now_ns);
}

/* The earliest time at which advance() will have work (see above), or TIMER_NONE. */
uint64_t timer_wheel_next(const struct timer_wheel *w);

static inline uint32_t timer_wheel_armed(const struct timer_wheel *w)
{
    return w->armed;
}

static inline uint64_t timer_wheel_resolution_ns(const struct timer_wheel *w)
{
    return (uint64_t)1 << w->shift;
}

#endif
