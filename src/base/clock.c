/* Clocks (see clock.h). */
#include "base/clock.h"

void clk_init_real(struct clk *c)
{
    c->fake = false;
    c->fake_ns = 0;
}

void clk_init_fake(struct clk *c, uint64_t start_ns)
{
    c->fake = true;
    c->fake_ns = start_ns;
}

void clk_advance(struct clk *c, uint64_t delta_ns)
{
    if (c->fake)
        c->fake_ns += delta_ns;
}

void clk_set(struct clk *c, uint64_t t)
{
    if (c->fake && t > c->fake_ns)
        c->fake_ns = t;
}
