/*
 * Hierarchical timer wheel (see timer.h for the design and guarantees).
 *
 * Invariants, with C_k = cur >> (6k) the block of 64^k ticks that `cur` is in:
 * - a level-0 timer's tick lies in [cur, cur + 63], so slot (tick & 63) is unambiguous;
 * - a level-k timer (k >= 1) lies in a block B with B << 6k >= cur and B <= C_k + 64; it is
 *   cascaded (moved down) when advance() reaches tick B << 6k.
 * Cascading re-places each timer by its own deadline, so cascading a slot early is harmless: the
 * only thing that must never happen is reaching a tick without first cascading what is due there.
 */
#include "base/timer.h"

#include <assert.h>

#define SLOT_MASK (TIMER_SLOTS - 1)
#define LEVEL_SPAN_BITS(k) (TIMER_SLOT_BITS * (k))
#define MAX_DELTA ((UINT64_C(1) << (TIMER_SLOT_BITS * TIMER_LEVELS)) - 1)

void timer_wheel_init(struct timer_wheel *w, uint64_t now_ns, unsigned shift)
{
    *w = (struct timer_wheel){ 0 };
    if (shift == 0)
        shift = TIMER_DEFAULT_SHIFT;
    if (shift > TIMER_MAX_SHIFT)
        shift = TIMER_MAX_SHIFT;
    w->shift = shift;
    w->cur = (now_ns >> shift) + 1;
    w->next_hint = TIMER_NONE;
}

void timer_init(struct timer *t, timer_fn *fn)
{
    *t = (struct timer){ .fn = fn };
}

/* The first tick at or after the deadline: a timer never fires early. */
static inline uint64_t deadline_tick(const struct timer_wheel *w, uint64_t deadline_ns)
{
    uint64_t mask = ((uint64_t)1 << w->shift) - 1;
    return (deadline_ns >> w->shift) + ((deadline_ns & mask) != 0);
}

static inline void slot_link(struct timer_wheel *w, struct timer *t, unsigned level,
                             unsigned slot)
{
    struct timer **head = &w->slots[level][slot];
    t->next = *head;
    if (t->next)
        t->next->pprev = &t->next;
    *head = t;
    t->pprev = head;
    w->occupied[level] |= UINT64_C(1) << slot;
}

/* Links t where its deadline belongs relative to w->cur. */
static void wheel_place(struct timer_wheel *w, struct timer *t)
{
    uint64_t tick = deadline_tick(w, t->deadline_ns);
    if (tick < w->cur)
        tick = w->cur;
    uint64_t delta = tick - w->cur;
    unsigned level = 0;
    if (delta >= TIMER_SLOTS) {
        if (delta > MAX_DELTA) {
            delta = MAX_DELTA;           /* parked at the far end, re-placed on cascade */
            tick = w->cur + MAX_DELTA;
        }
        level = (unsigned)(63 - __builtin_clzll(delta)) / TIMER_SLOT_BITS;
    }
    uint64_t block = tick >> LEVEL_SPAN_BITS(level);
    slot_link(w, t, level, (unsigned)(block & SLOT_MASK));
    /* The tick at which this placement needs attention: its own tick at level 0, the start of
     * its block above. */
    uint64_t event = block << LEVEL_SPAN_BITS(level);
    if (event < w->next_hint)
        w->next_hint = event;
}

static inline void slot_unlink(struct timer_wheel *w, struct timer *t)
{
    *t->pprev = t->next;
    if (t->next)
        t->next->pprev = t->pprev;
    /* A slot empties only when its first timer goes with nothing after it: then pprev is the
     * slot's head, inside w->slots, and its index names the level and slot. (On fire_slot's
     * local list pprev points outside: no bit to maintain.) */
    uintptr_t off = (uintptr_t)t->pprev - (uintptr_t)&w->slots[0][0];
    if (!t->next && off < sizeof(w->slots)) {
        size_t i = off / sizeof(w->slots[0][0]);
        w->occupied[i / TIMER_SLOTS] &= ~(UINT64_C(1) << (i % TIMER_SLOTS));
    }
    t->next = NULL;
    t->pprev = NULL;
}

void timer_arm(struct timer_wheel *w, struct timer *t, uint64_t deadline_ns)
{
    if (t->pprev)
        slot_unlink(w, t);
    else
        w->armed++;
    t->deadline_ns = deadline_ns;
    wheel_place(w, t);
}

void timer_cancel(struct timer_wheel *w, struct timer *t)
{
    if (!t->pprev)
        return;
    slot_unlink(w, t);
    w->armed--;
}

static inline uint64_t rotr64(uint64_t v, unsigned r)
{
    r &= 63;
    return r ? (v >> r) | (v << (64 - r)) : v;
}

/* The earliest tick at which advance() has something to do, or TIMER_NONE. */
static uint64_t next_event_tick(const struct timer_wheel *w)
{
    uint64_t best = TIMER_NONE;
    for (unsigned k = 0; k < TIMER_LEVELS; k++) {
        uint64_t occ = w->occupied[k];
        if (!occ)
            continue;
        unsigned bits = LEVEL_SPAN_BITS(k);
        /* First block whose start has not been processed yet. */
        uint64_t first = (w->cur + (((uint64_t)1 << bits) - 1)) >> bits;
        uint64_t d = (uint64_t)__builtin_ctzll(rotr64(occ, (unsigned)(first & SLOT_MASK)));
        uint64_t event = (first + d) << bits;
        if (event < best)
            best = event;
    }
    return best;
}

/* Moves every timer of one higher-level slot down to where it now belongs. */
static void cascade(struct timer_wheel *w, unsigned level, unsigned slot)
{
    struct timer *list = w->slots[level][slot];
    w->slots[level][slot] = NULL;
    w->occupied[level] &= ~(UINT64_C(1) << slot);
    while (list) {
        struct timer *t = list;
        list = t->next;
        wheel_place(w, t);
    }
}

/* Fires the level-0 slot of tick `tick`; w->cur is already past it. */
static unsigned fire_slot(struct timer_wheel *w, uint64_t tick, uint64_t now_ns)
{
    unsigned slot = (unsigned)(tick & SLOT_MASK);
    struct timer *expired = w->slots[0][slot];
    if (!expired)
        return 0;
    /* Detach the list so that callbacks arming timers land in a live slot, and so that a
     * callback cancelling another expired timer unlinks it from this local list. */
    w->slots[0][slot] = NULL;
    w->occupied[0] &= ~(UINT64_C(1) << slot);
    expired->pprev = &expired;   /* on a local list: outside w->slots, no bit to maintain */

    unsigned fired = 0;
    while (expired) {
        struct timer *t = expired;
        slot_unlink(w, t);
        assert(deadline_tick(w, t->deadline_ns) <= tick);
        w->armed--;
        fired++;
        t->fn(t, now_ns);
    }
    return fired;
}

/* The part of timer_wheel_advance (timer.h) that runs when the hint says work may be due. */
unsigned timer_wheel_advance_slow(struct timer_wheel *w, uint64_t now_ns)
{
    uint64_t now_tick = now_ns >> w->shift;
    unsigned fired = 0;
    uint64_t t;
    while ((t = next_event_tick(w)) <= now_tick) {
        w->cur = t;
        for (unsigned k = TIMER_LEVELS - 1; k >= 1; k--) {
            unsigned bits = LEVEL_SPAN_BITS(k);
            if (t & (((uint64_t)1 << bits) - 1))
                continue;
            unsigned slot = (unsigned)((t >> bits) & SLOT_MASK);
            if (w->occupied[k] & (UINT64_C(1) << slot))
                cascade(w, k, slot);
        }
        w->cur = t + 1;
        fired += fire_slot(w, t, now_ns);
    }
    if (now_tick >= w->cur)
        w->cur = now_tick + 1;
    w->next_hint = t;
    return fired;
}

uint64_t timer_wheel_next(const struct timer_wheel *w)
{
    uint64_t t = next_event_tick(w);
    if (t == TIMER_NONE || t > (TIMER_NONE >> w->shift))
        return TIMER_NONE;
    return t << w->shift;
}
