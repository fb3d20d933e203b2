/*
 * Time for the stack: monotonic nanoseconds, from the system or from a fake clock.
 *
 * The protocol core never reads a clock itself: the stack reads its clock once when it is entered
 * and passes `now` down. Tests give the stack a fake clock and move it with clk_advance(), so every
 * timer-driven behaviour is deterministic.
 */
#ifndef UST_BASE_CLOCK_H
#define UST_BASE_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define NS_PER_US 1000ull
#define NS_PER_MS 1000000ull
#define NS_PER_SEC 1000000000ull

struct clk {
    bool fake;
    uint64_t fake_ns;   /* the fake clock's time; only moves forwards */
};

/* CLOCK_MONOTONIC in nanoseconds (a vDSO call, about 20 ns). */
static inline uint64_t clk_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static inline uint64_t clk_now(const struct clk *c)
{
    return c->fake ? c->fake_ns : clk_mono_ns();
}

void clk_init_real(struct clk *c);
void clk_init_fake(struct clk *c, uint64_t start_ns);
/* Moves a fake clock forwards; does nothing to a real one. */
void clk_advance(struct clk *c, uint64_t delta_ns);
/* Sets a fake clock to t if t is later than its time; never moves it backwards. */
void clk_set(struct clk *c, uint64_t t);

#endif
