/*
 * Timer wheel: deadlines are never early and at most one tick late, cancel and re-arm are exact,
 * cascades across every level deliver on time, and next() never points past work. The last test
 * checks the wheel against a brute-force model under random arm/cancel/advance sequences.
 */
#include "testutil.h"

#include <stdlib.h>

#include "base/clock.h"
#include "base/rand.h"
#include "base/timer.h"

/* Start near the top of a 2^42-tick span so that absolute tick values are large and wrap-prone. */
#define T0 (UINT64_C(0x3ff) << 40)

struct probe {
    struct timer t;
    unsigned fired;
    uint64_t fired_at;      /* `now` passed to the callback */
    uint64_t rearm_every;   /* if nonzero, the callback re-arms for fired_at + rearm_every */
    struct timer_wheel *w;
    struct probe *cancel_on_fire;
};

static void probe_fn(struct timer *t, uint64_t now)
{
    struct probe *p = container_of(t, struct probe, t);
    p->fired++;
    p->fired_at = now;
    if (p->rearm_every)
        timer_arm(p->w, &p->t, now + p->rearm_every);
    if (p->cancel_on_fire)
        timer_cancel(p->w, &p->cancel_on_fire->t);
}

static void probe_init(struct probe *p, struct timer_wheel *w)
{
    *p = (struct probe){ .w = w };
    timer_init(&p->t, probe_fn);
}

static void test_resolution_is_at_most_one_ms(void **state)
{
    (void)state;
    struct timer_wheel w;
    timer_wheel_init(&w, T0, 0);
    assert_true(timer_wheel_resolution_ns(&w) <= NS_PER_MS);
    timer_wheel_init(&w, T0, 99);
    assert_true(timer_wheel_resolution_ns(&w) <= NS_PER_MS);
}

static void test_fires_at_deadline_never_before(void **state)
{
    (void)state;
    struct timer_wheel w;
    timer_wheel_init(&w, T0, 0);
    uint64_t res = timer_wheel_resolution_ns(&w);
    struct probe p;
    probe_init(&p, &w);

    uint64_t deadline = T0 + 10 * NS_PER_MS + 123;   /* not on a tick boundary */
    timer_arm(&w, &p.t, deadline);
    assert_true(timer_is_armed(&p.t));
    assert_int_equal(timer_wheel_armed(&w), 1);

    assert_int_equal(timer_wheel_advance(&w, deadline - 1), 0);
    assert_int_equal(p.fired, 0);
    /* Not at the deadline itself either: it is rounded up to the next tick. */
    assert_int_equal(timer_wheel_advance(&w, deadline), 0);
    uint64_t due = (deadline + res - 1) / res * res;
    assert_true(due - deadline < res);
    assert_int_equal(timer_wheel_advance(&w, due - 1), 0);
    assert_int_equal(timer_wheel_advance(&w, due), 1);
    assert_int_equal(p.fired, 1);
    assert_int_equal(p.fired_at, due);
    assert_false(timer_is_armed(&p.t));
    assert_int_equal(timer_wheel_armed(&w), 0);
    /* Exactly once. */
    assert_int_equal(timer_wheel_advance(&w, due + 100 * NS_PER_MS), 0);
    assert_int_equal(p.fired, 1);
}

static void test_deadline_on_tick_boundary_fires_on_that_tick(void **state)
{
    (void)state;
    struct timer_wheel w;
    timer_wheel_init(&w, T0, 0);
    uint64_t res = timer_wheel_resolution_ns(&w);
    struct probe p;
    probe_init(&p, &w);
    uint64_t deadline = (T0 / res + 7) * res;
    timer_arm(&w, &p.t, deadline);
    assert_int_equal(timer_wheel_advance(&w, deadline - 1), 0);
    assert_int_equal(timer_wheel_advance(&w, deadline), 1);
}

static void test_cancel_and_rearm(void **state)
{
    (void)state;
    struct timer_wheel w;
    timer_wheel_init(&w, T0, 0);
    struct probe a, b;
    probe_init(&a, &w);
    probe_init(&b, &w);

    timer_cancel(&w, &a.t);                /* not armed: harmless */
    timer_arm(&w, &a.t, T0 + 5 * NS_PER_MS);
    timer_arm(&w, &b.t, T0 + 5 * NS_PER_MS);
    timer_cancel(&w, &a.t);
    timer_cancel(&w, &a.t);
    assert_false(timer_is_armed(&a.t));
    assert_int_equal(timer_wheel_armed(&w), 1);

    /* Re-arming moves the timer rather than adding a second one. */
    timer_arm(&w, &b.t, T0 + 50 * NS_PER_MS);
    timer_arm(&w, &b.t, T0 + 2 * NS_PER_SEC);
    assert_int_equal(timer_wheel_armed(&w), 1);
    assert_int_equal(timer_wheel_advance(&w, T0 + NS_PER_SEC), 0);
    assert_int_equal(timer_wheel_advance(&w, T0 + 3 * NS_PER_SEC), 1);
    assert_int_equal(a.fired, 0);
    assert_int_equal(b.fired, 1);
}

static void test_next_deadline(void **state)
{
    (void)state;
    struct timer_wheel w;
    timer_wheel_init(&w, T0, 0);
    uint64_t res = timer_wheel_resolution_ns(&w);
    assert_true(timer_wheel_next(&w) == TIMER_NONE);

    struct probe near, far;
    probe_init(&near, &w);
    probe_init(&far, &w);

    /* Within 64 ticks: exact (the tick at which it fires). */
    uint64_t d = T0 + 20 * res + 1;
    timer_arm(&w, &near.t, d);
    uint64_t next = timer_wheel_next(&w);
    assert_true(next >= d && next - d < res);

    /* Far away: never later than the deadline. Following next() reaches it in a few steps. */
    timer_cancel(&w, &near.t);
    uint64_t fd = T0 + 3600 * NS_PER_SEC + 17;
    timer_arm(&w, &far.t, fd);
    unsigned steps = 0;
    uint64_t now = T0;
    while (far.fired == 0) {
        next = timer_wheel_next(&w);
        assert_true(next != TIMER_NONE);
        assert_true(next > now);
        assert_true(next < fd + res);
        now = next;
        timer_wheel_advance(&w, now);
        assert_true(++steps <= TIMER_LEVELS + 1);
    }
    assert_true(now >= fd && now - fd < res);
    assert_true(timer_wheel_next(&w) == TIMER_NONE);
}

/* One timer per level (and one beyond the wheel's span), checked with one big jump and with
 * small steps. */
static void check_levels(bool small_steps)
{
    struct timer_wheel w;
    timer_wheel_init(&w, T0, 0);
    uint64_t res = timer_wheel_resolution_ns(&w);
    enum { N = TIMER_LEVELS + 2 };
    struct probe p[N];
    uint64_t deadline[N];
    for (unsigned i = 0; i < N; i++) {
        probe_init(&p[i], &w);
        /* 64^i ticks plus a bit, so each lands on a different level */
        uint64_t ticks = i < 8 ? (UINT64_C(1) << (6 * i)) + 3 : (UINT64_C(1) << 45);
        deadline[i] = T0 + ticks * res + res / 2;
        timer_arm(&w, &p[i].t, deadline[i]);
    }
    uint64_t end = deadline[N - 1] + res;
    if (small_steps) {
        /* Walk by next() as a sleeping stack would, checking each fire time exactly. */
        uint64_t now = T0;
        while (timer_wheel_armed(&w)) {
            now = timer_wheel_next(&w);
            assert_true(now <= end);
            timer_wheel_advance(&w, now);
        }
        for (unsigned i = 0; i < N; i++) {
            assert_int_equal(p[i].fired, 1);
            assert_true(p[i].fired_at >= deadline[i]);
            assert_true(p[i].fired_at - deadline[i] < res);
        }
    } else {
        assert_int_equal(timer_wheel_advance(&w, end), N);
        for (unsigned i = 0; i < N; i++)
            assert_int_equal(p[i].fired, 1);
    }
}

static void test_every_level_fires_on_time(void **state)
{
    (void)state;
    check_levels(true);
    check_levels(false);
}

static void test_periodic_rearm_from_callback(void **state)
{
    (void)state;
    struct timer_wheel w;
    timer_wheel_init(&w, T0, 0);
    struct probe p;
    probe_init(&p, &w);
    p.rearm_every = 10 * NS_PER_MS;
    timer_arm(&w, &p.t, T0 + 10 * NS_PER_MS);
    for (uint64_t now = T0; now <= T0 + NS_PER_SEC; now += NS_PER_MS)
        timer_wheel_advance(&w, now);
    /* Fires every 10 ms (plus at most a tick of lateness each time, carried forward). */
    assert_true(p.fired >= 90 && p.fired <= 100);
    assert_true(timer_is_armed(&p.t));
    timer_cancel(&w, &p.t);
    assert_int_equal(timer_wheel_armed(&w), 0);
}

static void test_rearm_in_the_past_waits_for_next_tick(void **state)
{
    (void)state;
    struct timer_wheel w;
    timer_wheel_init(&w, T0, 0);
    uint64_t res = timer_wheel_resolution_ns(&w);
    struct probe p;
    probe_init(&p, &w);
    p.rearm_every = 1; /* re-arms for "now + 1 ns": already reached at the next tick */
    timer_arm(&w, &p.t, T0 + res);
    assert_int_equal(timer_wheel_advance(&w, T0 + res), 1);
    /* The same advance call does not loop on it. */
    assert_int_equal(p.fired, 1);
    assert_int_equal(timer_wheel_advance(&w, T0 + 2 * res), 1);
    assert_int_equal(p.fired, 2);
    timer_cancel(&w, &p.t);
}

static void test_callback_cancels_another_expired_timer(void **state)
{
    (void)state;
    struct timer_wheel w;
    timer_wheel_init(&w, T0, 0);
    struct probe a, b;
    probe_init(&a, &w);
    probe_init(&b, &w);
    uint64_t d = T0 + 3 * NS_PER_MS;
    /* Same slot: whichever fires first cancels the other, which must then not fire. */
    a.cancel_on_fire = &b;
    b.cancel_on_fire = &a;
    timer_arm(&w, &a.t, d);
    timer_arm(&w, &b.t, d);
    assert_int_equal(timer_wheel_advance(&w, d + NS_PER_MS), 1);
    assert_int_equal(a.fired + b.fired, 1);
    assert_int_equal(timer_wheel_armed(&w), 0);
}

static void test_time_going_backwards_is_ignored(void **state)
{
    (void)state;
    struct timer_wheel w;
    timer_wheel_init(&w, T0 + NS_PER_SEC, 0);
    struct probe p;
    probe_init(&p, &w);
    timer_arm(&w, &p.t, T0 + NS_PER_SEC + 5 * NS_PER_MS);
    assert_int_equal(timer_wheel_advance(&w, T0), 0);
    assert_int_equal(timer_wheel_advance(&w, T0 + NS_PER_SEC + 6 * NS_PER_MS), 1);
}

/* ---- Model check: the wheel against a list of deadlines ---- */

#define MODEL_TIMERS 200

struct model_timer {
    struct timer t;
    uint64_t due;       /* when the current arming must fire: its deadline rounded up to a tick,
                         * or the tick after the last advance() if that had already passed it */
    bool armed;         /* in the model */
    unsigned fired;
    uint64_t fired_at;
};

static struct model_timer model[MODEL_TIMERS];
static struct timer_wheel model_wheel;
static uint64_t model_now;
static uint64_t model_advanced;   /* `now` of the last advance() */

static void model_fn(struct timer *t, uint64_t now)
{
    struct model_timer *m = container_of(t, struct model_timer, t);
    assert_true(m->armed);
    assert_true(now == model_now);
    assert_true(m->due <= now);     /* never early */
    m->armed = false;
    m->fired++;
    m->fired_at = now;
}

static void run_model(uint64_t seed, unsigned shift)
{
    struct rng r;
    rng_seed(&r, seed);
    model_now = T0 + rng_below(&r, 1u << 30);
    model_advanced = model_now;
    timer_wheel_init(&model_wheel, model_now, shift);
    uint64_t res = timer_wheel_resolution_ns(&model_wheel);
    for (unsigned i = 0; i < MODEL_TIMERS; i++) {
        model[i] = (struct model_timer){ 0 };
        timer_init(&model[i].t, model_fn);
    }
    static const uint64_t spans[] = { 100 * NS_PER_US, 5 * NS_PER_MS, 300 * NS_PER_MS,
                                      20 * NS_PER_SEC, 3 * 3600 * NS_PER_SEC };
    for (unsigned step = 0; step < 20000; step++) {
        unsigned op = rng_below(&r, 10);
        struct model_timer *m = &model[rng_below(&r, MODEL_TIMERS)];
        if (op < 5) {
            uint64_t span = spans[rng_below(&r, 5)];
            /* Some deadlines are already in the past. */
            uint64_t d = model_now - span / 8 + (rng_next(&r) % span);
            timer_arm(&model_wheel, &m->t, d);
            uint64_t first_tick = (model_advanced / res + 1) * res;
            m->due = (d + res - 1) / res * res;
            if (m->due < first_tick)
                m->due = first_tick;
            m->armed = true;
            m->fired = 0;
        } else if (op < 7) {
            timer_cancel(&model_wheel, &m->t);
            m->armed = false;
        } else {
            uint64_t span = spans[rng_below(&r, 5)];
            uint64_t next = timer_wheel_next(&model_wheel);
            /* Half the time jump straight to the reported next event, as a sleeper would. */
            if (op == 9 && next != TIMER_NONE && next > model_now)
                model_now = next;
            else
                model_now += rng_next(&r) % span;
            /* Everything armed and due by then in the model: */
            bool due[MODEL_TIMERS];
            for (unsigned i = 0; i < MODEL_TIMERS; i++) {
                due[i] = model[i].armed && model[i].due <= model_now;
                /* next() never pointed past a due timer. */
                if (due[i])
                    assert_true(next <= model[i].due);
            }
            timer_wheel_advance(&model_wheel, model_now);
            model_advanced = model_now;
            for (unsigned i = 0; i < MODEL_TIMERS; i++) {
                if (due[i]) {
                    assert_int_equal(model[i].fired, 1);
                    assert_false(timer_is_armed(&model[i].t));
                } else {
                    assert_int_equal(model[i].armed, timer_is_armed(&model[i].t));
                }
            }
        }
        unsigned armed = 0;
        for (unsigned i = 0; i < MODEL_TIMERS; i++)
            armed += model[i].armed;
        assert_int_equal(timer_wheel_armed(&model_wheel), armed);
    }
}

static void test_model_random_sequences(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 6; seed++)
        run_model(seed, seed % 2 ? 0 : TIMER_MAX_SHIFT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolution_is_at_most_one_ms),
        cmocka_unit_test(test_fires_at_deadline_never_before),
        cmocka_unit_test(test_deadline_on_tick_boundary_fires_on_that_tick),
        cmocka_unit_test(test_cancel_and_rearm),
        cmocka_unit_test(test_next_deadline),
        cmocka_unit_test(test_every_level_fires_on_time),
        cmocka_unit_test(test_periodic_rearm_from_callback),
        cmocka_unit_test(test_rearm_in_the_past_waits_for_next_tick),
        cmocka_unit_test(test_callback_cancels_another_expired_timer),
        cmocka_unit_test(test_time_going_backwards_is_ignored),
        cmocka_unit_test(test_model_random_sequences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
