/*
 * The fault-injection middleware over a loop pair, with a fake clock: each fault alone with its
 * exact outcome (listed drops, seeded loss within a statistical bound and reproducible, duplicates,
 * reordering, delay and jitter, one-bit corruption past an offset), combinations, the held-frame
 * cap, lossy-wire transmit, a failed inner link, and teardown with frames held.
 *
 * The topology in every test: fault(a) <-> b, where a and b are the two ends of a loop pair.
 * Frames are numbered from 1 through their payload (linktest.h), so the frame index the injector
 * counts equals the number a frame carries.
 */
#include "testutil.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "link/fault.h"
#include "link/loop.h"
#include "linktest.h"

#define T0 (1000 * NS_PER_SEC)

struct rig {
    struct link *f;      /* fault(a) */
    struct link *b;      /* the far end */
    struct clk clock;
};

static void rig_open(struct rig *r, const struct fault_config *cfg, struct pkt_pool *dup_pool,
                     uint32_t ring)
{
    struct link_loop_config lc = { .ring_size = ring ? ring : 256 };
    struct link *a;
    clk_init_fake(&r->clock, T0);
    assert_int_equal(link_loop_pair(&lc, &a, &r->b), 0);
    assert_int_equal(link_fault_create(a, cfg, &r->clock, dup_pool, &r->f), 0);
}

static void rig_close(struct rig *r)
{
    link_destroy(r->f);
    link_destroy(r->b);
}

/* An rx_burst on the fault link: releases transmit-held frames whose time has come. */
static void nudge(struct rig *r)
{
    struct pkt *p;
    assert_int_equal(link_rx_burst(r->f, &p, 1), 0);
}

static const struct fault_ctrs *tx_ctrs(struct rig *r)
{
    return link_fault_counters(r->f, FAULT_TX);
}

static const struct fault_ctrs *rx_ctrs(struct rig *r)
{
    return link_fault_counters(r->f, FAULT_RX);
}

static void assert_seqs(const uint32_t *got, unsigned n, const uint32_t *want, unsigned wn)
{
    assert_int_equal(n, wn);
    for (unsigned i = 0; i < n; i++)
        if (got[i] != want[i])
            fail_msg("frame %u: got %u, want %u", i, got[i], want[i]);
}

/* ---- no fault ---- */

static void test_no_fault_is_transparent(void **state)
{
    struct pkt_pool *pool = *state;
    struct rig r;
    struct fault_config cfg = { .seed = 1 };
    rig_open(&r, &cfg, NULL, 8);
    assert_string_equal(r.f->name, "loop.a+fault");
    assert_int_equal(r.f->caps.mtu, 1500);
    assert_int_equal(link_next_event_ns(r.f), UINT64_MAX);

    /* Back-pressure passes through: 8 of 12 fit, the caller keeps 4. */
    struct pkt *pkts[12];
    for (uint32_t i = 0; i < 12; i++)
        pkts[i] = lt_seq_frame(pool, i + 1, 60);
    assert_int_equal(link_tx_burst(r.f, pkts, 12), 8);
    pkt_free_bulk(pkts + 8, 4);
    struct pkt *got[16];
    assert_int_equal(lt_rx_all(r.b, got, 16), 8);
    for (uint32_t i = 0; i < 8; i++)
        assert_ptr_equal(got[i], pkts[i]);
    pkt_free_bulk(got, 8);
    assert_int_equal(r.f->ctrs.tx_frames, 8);
    assert_int_equal(r.f->ctrs.tx_bytes, 8 * 60);

    lt_tx_seqs(r.b, pool, 1, 3, 70, 3);
    uint32_t seqs[4];
    assert_int_equal(lt_rx_seqs(r.f, seqs, 4), 3);
    assert_int_equal(r.f->ctrs.rx_frames, 3);
    assert_int_equal(r.f->ctrs.rx_bytes, 3 * 70);
    assert_int_equal(tx_ctrs(&r)->frames, 0);   /* the stages never ran */
    rig_close(&r);
}

/* ---- drop by index ---- */

static void test_drops_listed_frames_on_transmit(void **state)
{
    struct pkt_pool *pool = *state;
    struct rig r;
    struct fault_config cfg = { .tx.drop_nth = { 3, 7 } };
    rig_open(&r, &cfg, NULL, 0);
    lt_tx_seqs(r.f, pool, 1, 10, 60, 3);
    uint32_t seqs[16];
    unsigned n = lt_rx_seqs(r.b, seqs, 16);
    const uint32_t want[] = { 1, 2, 4, 5, 6, 8, 9, 10 };
    assert_seqs(seqs, n, want, 8);
    assert_int_equal(tx_ctrs(&r)->frames, 10);
    assert_int_equal(tx_ctrs(&r)->drop_nth, 2);
    assert_int_equal(tx_ctrs(&r)->out, 8);
    assert_int_equal(r.f->ctrs.tx_frames, 8);
    rig_close(&r);
}

static void test_drops_listed_frames_on_receive(void **state)
{
    struct pkt_pool *pool = *state;
    struct rig r;
    struct fault_config cfg = { .rx.drop_nth = { 1, 10, 5 } };
    rig_open(&r, &cfg, NULL, 0);
    lt_tx_seqs(r.b, pool, 1, 12, 60, 12);
    uint32_t seqs[16];
    unsigned n = lt_rx_seqs(r.f, seqs, 16);
    const uint32_t want[] = { 2, 3, 4, 6, 7, 8, 9, 11, 12 };
    assert_seqs(seqs, n, want, 9);
    assert_int_equal(rx_ctrs(&r)->drop_nth, 3);
    assert_int_equal(tx_ctrs(&r)->frames, 0);
    rig_close(&r);
}

/* ---- random loss ---- */

#define LOSS_FRAMES 10000u

/* Sends LOSS_FRAMES frames through fault(a) with drop_p = p and records which arrived. */
static unsigned run_loss(struct pkt_pool *pool, uint64_t seed, double p, uint8_t *arrived)
{
    struct rig r;
    struct fault_config cfg = { .seed = seed, .tx.drop_p = p };
    rig_open(&r, &cfg, NULL, 64);
    memset(arrived, 0, LOSS_FRAMES);
    for (uint32_t first = 1; first <= LOSS_FRAMES; first += 25) {
        lt_tx_seqs(r.f, pool, first, 25, 60, 25);
        uint32_t seqs[25];
        unsigned n = lt_rx_seqs(r.b, seqs, 25);
        for (unsigned i = 0; i < n; i++) {
            assert_true(seqs[i] >= first && seqs[i] < first + 25);
            arrived[seqs[i] - 1] = 1;
        }
    }
    unsigned lost = 0;
    for (unsigned i = 0; i < LOSS_FRAMES; i++)
        lost += !arrived[i];
    assert_int_equal(tx_ctrs(&r)->drop_random, lost);
    /* With p = 0 the direction has no fault and its stages never run. */
    assert_int_equal(tx_ctrs(&r)->frames, p > 0 ? LOSS_FRAMES : 0);
    rig_close(&r);
    return lost;
}

static void test_random_loss_is_bounded_and_reproducible(void **state)
{
    struct pkt_pool *pool = *state;
    static uint8_t first[LOSS_FRAMES], again[LOSS_FRAMES], other[LOSS_FRAMES];
    /* Binomial(10000, 0.3): mean 3000, sd 45.8. Four sd either side. */
    const unsigned lo = 3000 - 184, hi = 3000 + 184;
    unsigned lost = run_loss(pool, 0x5eed, 0.3, first);
    assert_in_range(lost, lo, hi);
    assert_int_equal(run_loss(pool, 0x5eed, 0.3, again), lost);
    assert_memory_equal(first, again, LOSS_FRAMES);    /* exactly the same frames */
    unsigned lost2 = run_loss(pool, 0x5eee, 0.3, other);
    assert_in_range(lost2, lo, hi);
    assert_memory_not_equal(first, other, LOSS_FRAMES);

    /* The extremes are exact. */
    assert_int_equal(run_loss(pool, 1, 0.0, other), 0);
    assert_int_equal(run_loss(pool, 1, 1.0, other), LOSS_FRAMES);
}

/* ---- duplication ---- */

static void test_duplicates_follow_their_original(void **state)
{
    struct pkt_pool *pool = *state;
    struct pkt_pool *dups = test_pool_new(16);
    struct rig r;
    struct fault_config cfg = { .tx.dup_p = 1.0 };
    rig_open(&r, &cfg, dups, 0);
    lt_tx_seqs(r.f, pool, 1, 5, 80, 5);
    struct pkt *got[16];
    assert_int_equal(lt_rx_all(r.b, got, 16), 10);
    for (unsigned i = 0; i < 10; i++) {
        uint8_t want[80];
        lt_seq_bytes(want, i / 2 + 1, 80);
        assert_int_equal(got[i]->len, 80);
        assert_memory_equal(got[i]->data, want, 80);
        /* The original first, then its copy from the duplicates' pool. */
        assert_ptr_equal(got[i]->pool, i % 2 ? dups : pool);
    }
    pkt_free_bulk(got, 10);
    assert_int_equal(tx_ctrs(&r)->dup, 5);
    assert_int_equal(tx_ctrs(&r)->out, 10);
    rig_close(&r);
    test_pool_free(dups);
}

static void test_empty_duplicate_pool_is_counted_not_fatal(void **state)
{
    struct pkt_pool *pool = *state;
    struct pkt_pool *dups = test_pool_new(2);
    struct rig r;
    struct fault_config cfg = { .rx.dup_p = 1.0 };
    rig_open(&r, &cfg, dups, 0);
    lt_tx_seqs(r.b, pool, 1, 5, 60, 5);
    struct pkt *got[16];
    assert_int_equal(lt_rx_all(r.f, got, 16), 7);
    const uint32_t want[] = { 1, 1, 2, 2, 3, 4, 5 };
    for (unsigned i = 0; i < 7; i++)
        assert_int_equal(lt_frame_seq(got[i]), want[i]);
    pkt_free_bulk(got, 7);
    assert_int_equal(rx_ctrs(&r)->dup, 2);
    assert_int_equal(rx_ctrs(&r)->dup_nobufs, 3);
    rig_close(&r);
    test_pool_free(dups);
}

static void test_duplicate_rate_is_bounded(void **state)
{
    struct pkt_pool *pool = *state;
    struct pkt_pool *dups = test_pool_new(64);
    struct rig r;
    struct fault_config cfg = { .seed = 99, .tx.dup_p = 0.25 };
    rig_open(&r, &cfg, dups, 0);
    unsigned received = 0;
    for (uint32_t first = 1; first <= 4000; first += 20) {
        lt_tx_seqs(r.f, pool, first, 20, 60, 20);
        uint32_t seqs[64];
        received += lt_rx_seqs(r.b, seqs, 64);
    }
    /* Binomial(4000, 0.25): mean 1000, sd 27.4. */
    assert_int_equal(received - 4000, tx_ctrs(&r)->dup);
    assert_in_range(tx_ctrs(&r)->dup, 1000 - 110, 1000 + 110);
    rig_close(&r);
    test_pool_free(dups);
}

/* ---- reordering ---- */

/* Sends frames 1..n through a reordering transmit side and returns the order b sees, after the
 * maximum hold time has released the stragglers. */
static unsigned run_reorder(struct pkt_pool *pool, uint64_t seed, unsigned n, uint32_t *order,
                            uint64_t *held)
{
    struct rig r;
    struct fault_config cfg = {
        .seed = seed,
        .tx = { .reorder_p = 0.2, .reorder_gap = 2, .reorder_max_hold_ns = 5 * NS_PER_MS },
    };
    rig_open(&r, &cfg, NULL, 0);
    lt_tx_seqs(r.f, pool, 1, n, 60, 7);
    unsigned got = lt_rx_seqs(r.b, order, n);
    clk_advance(&r.clock, 5 * NS_PER_MS);
    nudge(&r);
    got += lt_rx_seqs(r.b, order + got, n - got);
    *held = tx_ctrs(&r)->reorder_held;
    assert_int_equal(link_fault_held(r.f, FAULT_TX), 0);
    rig_close(&r);
    return got;
}

static void test_reorder_gives_the_exact_order_for_a_seed(void **state)
{
    struct pkt_pool *pool = *state;
    uint32_t order[30], again[30];
    uint64_t held;
    assert_int_equal(run_reorder(pool, 4, 30, order, &held), 30);
    /* Seed 4 holds back 1, 7, 11, 14, 16, 18, 19, 28 and 29. Each held frame comes out right
     * after the second frame that passed it (14 and 16 overlap; 18 and 19 were held together and
     * leave together); 28 and 29 see only 30 pass and leave at the maximum hold time. */
    const uint32_t want[30] = { 2, 3, 1, 4, 5, 6, 8, 9, 7, 10, 12, 13, 11, 15, 17, 14, 20,
                                16, 21, 18, 19, 22, 23, 24, 25, 26, 27, 30, 28, 29 };
    assert_seqs(order, 30, want, 30);
    assert_int_equal(held, 9);
    uint64_t held2;
    assert_int_equal(run_reorder(pool, 4, 30, again, &held2), 30);
    assert_memory_equal(order, again, sizeof(order));
    assert_int_equal(run_reorder(pool, 5, 30, again, &held2), 30);
    assert_memory_not_equal(order, again, sizeof(order));
}

static void test_reorder_hold_ends_at_the_maximum_time(void **state)
{
    struct pkt_pool *pool = *state;
    struct rig r;
    struct fault_config cfg = {
        .tx = { .reorder_p = 1.0, .reorder_gap = 3, .reorder_max_hold_ns = 5 * NS_PER_MS },
    };
    rig_open(&r, &cfg, NULL, 0);
    lt_tx_seqs(r.f, pool, 1, 2, 60, 2);
    assert_int_equal(link_fault_held(r.f, FAULT_TX), 2);
    assert_int_equal(link_next_event_ns(r.f), T0 + 5 * NS_PER_MS);
    uint32_t seqs[4];
    clk_advance(&r.clock, 5 * NS_PER_MS - 1);
    nudge(&r);
    assert_int_equal(lt_rx_seqs(r.b, seqs, 4), 0);
    clk_advance(&r.clock, 1);
    nudge(&r);
    const uint32_t want[] = { 1, 2 };
    assert_seqs(seqs, lt_rx_seqs(r.b, seqs, 4), want, 2);
    assert_int_equal(tx_ctrs(&r)->reorder_timeout, 2);
    assert_int_equal(link_next_event_ns(r.f), UINT64_MAX);
    rig_close(&r);
}

/* ---- delay and jitter ---- */

static void test_delay_releases_nothing_early_and_everything_on_time(void **state)
{
    struct pkt_pool *pool = *state;
    struct rig r;
    struct fault_config cfg = { .tx.delay_ns = 10 * NS_PER_MS, .rx.delay_ns = 3 * NS_PER_MS };
    rig_open(&r, &cfg, NULL, 0);
    lt_tx_seqs(r.f, pool, 1, 5, 60, 5);
    lt_tx_seqs(r.b, pool, 101, 4, 60, 4);
    uint32_t seqs[8];
    assert_int_equal(lt_rx_seqs(r.f, seqs, 8), 0);      /* rx: held now, due at T0 + 3 ms */
    assert_int_equal(link_fault_held(r.f, FAULT_TX), 5);
    assert_int_equal(link_fault_held(r.f, FAULT_RX), 4);
    assert_int_equal(link_next_event_ns(r.f), T0 + 3 * NS_PER_MS);

    clk_set(&r.clock, T0 + 3 * NS_PER_MS - 1);
    assert_int_equal(lt_rx_seqs(r.f, seqs, 8), 0);
    clk_set(&r.clock, T0 + 3 * NS_PER_MS);
    const uint32_t want_rx[] = { 101, 102, 103, 104 };
    assert_seqs(seqs, lt_rx_seqs(r.f, seqs, 8), want_rx, 4);
    assert_int_equal(link_next_event_ns(r.f), T0 + 10 * NS_PER_MS);

    clk_set(&r.clock, T0 + 10 * NS_PER_MS - 1);
    nudge(&r);
    assert_int_equal(lt_rx_seqs(r.b, seqs, 8), 0);
    clk_set(&r.clock, T0 + 10 * NS_PER_MS);
    struct pkt *none[1];
    assert_int_equal(link_tx_burst(r.f, none, 0), 0);    /* a transmit call releases too */
    const uint32_t want_tx[] = { 1, 2, 3, 4, 5 };
    assert_seqs(seqs, lt_rx_seqs(r.b, seqs, 8), want_tx, 5);
    assert_int_equal(tx_ctrs(&r)->delayed, 5);
    assert_int_equal(link_next_event_ns(r.f), UINT64_MAX);
    rig_close(&r);
}

/* Delay 10 ms plus up to 10 ms of jitter, 200 frames sent at once, the clock then stepped by
 * 1 ms: stores the arrival order and each frame's arrival step. */
static void run_jitter(uint64_t seed, uint32_t *order, unsigned *step)
{
    struct pkt_pool *pool = test_pool_new(256);
    struct rig r;
    struct fault_config cfg = {
        .seed = seed, .tx = { .delay_ns = 10 * NS_PER_MS, .jitter_ns = 10 * NS_PER_MS },
    };
    rig_open(&r, &cfg, NULL, 0);
    lt_tx_seqs(r.f, pool, 1, 200, 60, 50);
    assert_int_equal(link_fault_held(r.f, FAULT_TX), 200);
    unsigned got = 0;
    for (unsigned ms = 0; ms <= 20; ms++) {
        clk_set(&r.clock, T0 + ms * NS_PER_MS);
        nudge(&r);
        unsigned n = lt_rx_seqs(r.b, order + got, 200 - got);
        for (unsigned i = 0; i < n; i++)
            step[got + i] = ms;
        got += n;
    }
    assert_int_equal(got, 200);
    assert_int_equal(link_fault_held(r.f, FAULT_TX), 0);
    rig_close(&r);
    test_pool_free(pool);
}

static void test_jitter_spreads_and_may_reorder(void **state)
{
    (void)state;
    uint32_t order[200], again[200];
    unsigned step[200], step2[200];
    run_jitter(11, order, step);
    unsigned per_ms[21] = { 0 }, inversions = 0;
    for (unsigned i = 0; i < 200; i++) {
        assert_in_range(step[i], 10, 20);     /* nothing before the fixed delay */
        per_ms[step[i]]++;
        if (i && order[i] < order[i - 1])
            inversions++;
    }
    /* Uniform over 10 ms: every 1 ms step (10..19, and 20 exactly) gets some, none most. */
    for (unsigned ms = 11; ms <= 19; ms++)
        assert_in_range(per_ms[ms], 5, 40);
    assert_true(inversions > 20);
    run_jitter(11, again, step2);
    assert_memory_equal(order, again, sizeof(order));
    assert_memory_equal(step, step2, sizeof(step));
}

/* ---- corruption ---- */

static unsigned bit_diffs(const uint8_t *a, const uint8_t *b, size_t len, size_t *first)
{
    unsigned bits = 0;
    *first = len;
    for (size_t i = 0; i < len; i++) {
        uint8_t x = a[i] ^ b[i];
        if (x && *first == len)
            *first = i;
        bits += (unsigned)__builtin_popcount(x);
    }
    return bits;
}

static void test_corrupt_flips_exactly_one_bit_past_the_offset(void **state)
{
    struct pkt_pool *pool = *state;
    struct rig r;
    /* Transmit: payload only (after Ethernet, IPv4 and UDP headers). Receive: an offset the
     * frames do not reach. */
    struct fault_config cfg = {
        .seed = 3,
        .tx = { .corrupt_p = 1.0, .corrupt_offset = LT_HDR_LEN },
        .rx = { .corrupt_p = 1.0, .corrupt_offset = 60 },
    };
    rig_open(&r, &cfg, NULL, 0);
    unsigned seen_bytes[100] = { 0 };
    for (uint32_t first = 1; first <= 200; first += 40) {
        lt_tx_seqs(r.f, pool, first, 40, 100, 40);
        struct pkt *got[40];
        assert_int_equal(lt_rx_all(r.b, got, 40), 40);
        for (unsigned i = 0; i < 40; i++) {
            uint8_t want[100];
            size_t at;
            lt_seq_bytes(want, first + i, 100);   /* in order: nothing reorders here */
            assert_int_equal(bit_diffs(got[i]->data, want, 100, &at), 1);
            assert_true(at >= LT_HDR_LEN && at < 100);
            seen_bytes[at]++;
        }
        pkt_free_bulk(got, 40);
    }
    /* The byte is random over the whole range: both ends of it were hit. */
    unsigned low = 0, high = 0;
    for (unsigned i = LT_HDR_LEN; i < 71; i++)
        low += seen_bytes[i];
    for (unsigned i = 71; i < 100; i++)
        high += seen_bytes[i];
    assert_true(low > 50 && high > 50);
    assert_int_equal(tx_ctrs(&r)->corrupt, 200);

    /* 60-byte frames and offset 60: nothing to corrupt, counted, delivered intact. */
    lt_tx_seqs(r.b, pool, 1, 3, 60, 3);
    struct pkt *got[4];
    assert_int_equal(lt_rx_all(r.f, got, 4), 3);
    for (unsigned i = 0; i < 3; i++) {
        uint8_t want[60];
        lt_seq_bytes(want, i + 1, 60);
        assert_memory_equal(got[i]->data, want, 60);
    }
    pkt_free_bulk(got, 3);
    assert_int_equal(rx_ctrs(&r)->corrupt, 0);
    assert_int_equal(rx_ctrs(&r)->corrupt_short, 3);
    rig_close(&r);
}

/* ---- combinations ---- */

static void test_combined_faults_on_both_directions(void **state)
{
    struct pkt_pool *pool = *state;
    struct pkt_pool *dups = test_pool_new(16);
    struct rig r;
    struct fault_config cfg = {
        .tx = { .drop_nth = { 2 }, .dup_p = 1.0, .delay_ns = NS_PER_MS },
        .rx = { .drop_nth = { 1 }, .dup_p = 1.0 },
    };
    rig_open(&r, &cfg, dups, 0);
    lt_tx_seqs(r.f, pool, 1, 4, 60, 4);
    lt_tx_seqs(r.b, pool, 11, 3, 60, 3);
    uint32_t seqs[16];
    /* Receive: 11 dropped, the rest doubled, no delay. */
    const uint32_t want_rx[] = { 12, 12, 13, 13 };
    assert_seqs(seqs, lt_rx_seqs(r.f, seqs, 16), want_rx, 4);
    /* Transmit: 2 dropped, the rest doubled, all a millisecond late. */
    assert_int_equal(lt_rx_seqs(r.b, seqs, 16), 0);
    clk_advance(&r.clock, NS_PER_MS);
    nudge(&r);
    const uint32_t want_tx[] = { 1, 1, 3, 3, 4, 4 };
    assert_seqs(seqs, lt_rx_seqs(r.b, seqs, 16), want_tx, 6);
    assert_int_equal(tx_ctrs(&r)->delayed, 6);
    rig_close(&r);
    test_pool_free(dups);
}

/* Which of 2000 frames a drop_p = 0.3 transmit side lets through, with other faults on too. */
static void run_loss_with(struct pkt_pool *pool, const struct fault_config *cfg, uint8_t *arrived)
{
    struct pkt_pool *dups = test_pool_new(64);
    struct rig r;
    rig_open(&r, cfg, dups, 0);
    memset(arrived, 0, 2000);
    for (uint32_t first = 1; first <= 2000; first += 20) {
        lt_tx_seqs(r.f, pool, first, 20, 100, 20);
        struct pkt *got[64];
        unsigned n = lt_rx_all(r.b, got, 64);
        for (unsigned i = 0; i < n; i++) {
            uint32_t seq = lt_frame_seq(got[i]);   /* corruption stays past the number */
            assert_in_range(seq, first, first + 19);
            arrived[seq - 1] = 1;
        }
        pkt_free_bulk(got, n);
    }
    rig_close(&r);
    test_pool_free(dups);
}

static void test_faults_draw_from_independent_generators(void **state)
{
    struct pkt_pool *pool = *state;
    static uint8_t alone[2000], combined[2000];
    struct fault_config cfg = { .seed = 42, .tx.drop_p = 0.3 };
    run_loss_with(pool, &cfg, alone);
    cfg.tx.dup_p = 0.5;
    cfg.tx.corrupt_p = 0.5;
    cfg.tx.corrupt_offset = LT_HDR_LEN + 4;
    run_loss_with(pool, &cfg, combined);
    /* Turning on duplication and corruption does not change which frames are lost. */
    assert_memory_equal(alone, combined, sizeof(alone));
}

/* ---- bounds and teardown ---- */

static void test_held_frames_above_the_cap_are_dropped(void **state)
{
    struct pkt_pool *pool = *state;
    struct rig r;
    struct fault_config cfg = { .hold_max = 4, .tx.delay_ns = NS_PER_MS,
                                .rx = { .reorder_p = 1.0, .reorder_gap = 5 } };
    rig_open(&r, &cfg, NULL, 0);
    lt_tx_seqs(r.f, pool, 1, 10, 60, 10);
    assert_int_equal(link_fault_held(r.f, FAULT_TX), 4);
    assert_int_equal(tx_ctrs(&r)->hold_overflow, 6);
    assert_int_equal(pkt_pool_in_use(pool), 4);
    clk_advance(&r.clock, NS_PER_MS);
    nudge(&r);
    uint32_t seqs[16];
    const uint32_t want[] = { 1, 2, 3, 4 };
    assert_seqs(seqs, lt_rx_seqs(r.b, seqs, 16), want, 4);

    lt_tx_seqs(r.b, pool, 1, 7, 60, 7);
    assert_int_equal(lt_rx_seqs(r.f, seqs, 16), 0);
    assert_int_equal(link_fault_held(r.f, FAULT_RX), 4);
    assert_int_equal(rx_ctrs(&r)->hold_overflow, 3);
    rig_close(&r);       /* frees the four held on receive */
}

static void test_destroy_frees_every_held_frame(void **state)
{
    struct pkt_pool *pool = *state;
    struct pkt_pool *dups = test_pool_new(16);
    struct rig r;
    struct fault_config cfg = {
        .seed = 5,
        .tx = { .delay_ns = NS_PER_SEC, .reorder_p = 0.5 },
        .rx = { .dup_p = 1.0 },
    };
    rig_open(&r, &cfg, dups, 0);
    lt_tx_seqs(r.f, pool, 1, 8, 60, 8);                 /* held: reordered or delayed */
    assert_int_equal(link_fault_held(r.f, FAULT_TX), 8);
    assert_true(tx_ctrs(&r)->reorder_held > 0);
    lt_tx_seqs(r.b, pool, 1, 3, 60, 3);
    struct pkt *one;
    assert_int_equal(link_rx_burst(r.f, &one, 1), 1);  /* five more wait, released */
    pkt_free(one);
    assert_int_equal(link_next_event_ns(r.f), 0);       /* ... so poll again now */
    lt_tx_seqs(r.b, pool, 4, 2, 60, 2);                 /* and two in the loop ring */
    rig_close(&r);
    test_pool_free(dups);                               /* every copy came back too */
}

static void test_received_frames_beyond_the_burst_wait_for_the_next_call(void **state)
{
    struct pkt_pool *pool = *state;
    struct pkt_pool *dups = test_pool_new(8);
    struct rig r;
    struct fault_config cfg = { .rx.dup_p = 1.0 };
    rig_open(&r, &cfg, dups, 0);
    lt_tx_seqs(r.b, pool, 1, 3, 60, 3);
    struct pkt *got[8];
    assert_int_equal(link_rx_burst(r.f, got, 3), 3);
    assert_int_equal(link_next_event_ns(r.f), 0);
    assert_int_equal(link_rx_burst(r.f, got + 3, 8), 3);
    const uint32_t want[] = { 1, 1, 2, 2, 3, 3 };
    for (unsigned i = 0; i < 6; i++)
        assert_int_equal(lt_frame_seq(got[i]), want[i]);
    pkt_free_bulk(got, 6);
    assert_int_equal(link_next_event_ns(r.f), UINT64_MAX);
    assert_int_equal(r.f->ctrs.rx_frames, 6);
    rig_close(&r);
    test_pool_free(dups);
}

static void test_next_event_is_the_earliest_held_frame(void **state)
{
    struct pkt_pool *pool = *state;
    struct rig r;
    struct fault_config cfg = {
        .tx = { .delay_ns = 10 * NS_PER_MS },
        .rx = { .reorder_p = 1.0, .reorder_max_hold_ns = 3 * NS_PER_MS },
    };
    rig_open(&r, &cfg, NULL, 0);
    lt_tx_seqs(r.f, pool, 1, 1, 60, 1);
    assert_int_equal(link_next_event_ns(r.f), T0 + 10 * NS_PER_MS);
    clk_advance(&r.clock, NS_PER_MS);
    lt_tx_seqs(r.b, pool, 1, 1, 60, 1);
    nudge(&r);                                          /* held on receive until T0 + 4 ms */
    assert_int_equal(link_next_event_ns(r.f), T0 + 4 * NS_PER_MS);
    clk_set(&r.clock, T0 + 4 * NS_PER_MS);
    uint32_t seqs[2];
    assert_int_equal(lt_rx_seqs(r.f, seqs, 2), 1);
    assert_int_equal(rx_ctrs(&r)->reorder_timeout, 1);
    assert_int_equal(link_next_event_ns(r.f), T0 + 10 * NS_PER_MS);
    rig_close(&r);
}

static void test_refused_frames_are_lost_like_on_a_wire(void **state)
{
    struct pkt_pool *pool = *state;
    struct rig r;
    struct fault_config cfg = { .tx.delay_ns = NS_PER_MS };
    rig_open(&r, &cfg, NULL, 4);                        /* the loop ring holds 4 */
    lt_tx_seqs(r.f, pool, 1, 8, 60, 8);                 /* all consumed */
    clk_advance(&r.clock, NS_PER_MS);
    nudge(&r);
    assert_int_equal(tx_ctrs(&r)->tx_refused, 4);
    assert_int_equal(r.f->ctrs.tx_frames, 4);
    uint32_t seqs[8];
    const uint32_t want[] = { 1, 2, 3, 4 };
    assert_seqs(seqs, lt_rx_seqs(r.b, seqs, 8), want, 4);
    rig_close(&r);
}

static void test_failed_inner_link_is_reported_before_consuming(void **state)
{
    struct pkt_pool *pool = *state;
    struct rig r;
    struct fault_config cfg = { .tx.drop_p = 0.5, .rx.drop_nth = { 1 } };
    rig_open(&r, &cfg, NULL, 0);
    lt_tx_seqs(r.b, pool, 1, 3, 60, 3);
    link_destroy(r.b);
    struct pkt *p = lt_seq_frame(pool, 1, 60);
    assert_int_equal(link_tx_burst(r.f, &p, 1), -ENETDOWN);
    assert_int_equal(tx_ctrs(&r)->frames, 0);           /* p is still ours */
    pkt_free(p);
    uint32_t seqs[4];
    struct pkt *got[4];
    assert_int_equal(link_rx_burst(r.f, got, 4), 2);    /* 1 dropped; 2 and 3 delivered */
    seqs[0] = lt_frame_seq(got[0]);
    seqs[1] = lt_frame_seq(got[1]);
    pkt_free_bulk(got, 2);
    assert_int_equal(seqs[0], 2);
    assert_int_equal(seqs[1], 3);
    assert_int_equal(link_rx_burst(r.f, got, 4), -ENETDOWN);
    link_destroy(r.f);
}

static void test_bad_configs_are_refused(void **state)
{
    (void)state;
    struct clk clock;
    clk_init_fake(&clock, T0);
    struct link *a, *b, *f = NULL;
    assert_int_equal(link_loop_pair(NULL, &a, &b), 0);
    const struct fault_config bad[] = {
        { .tx.drop_p = 1.5 },
        { .rx.drop_p = -0.1 },
        { .tx.corrupt_p = NAN },
        { .rx.reorder_p = 2 },
        { .tx.dup_p = 0.1 },                     /* duplication needs a pool */
        { .rx.delay_ns = FAULT_MAX_DELAY_NS + 1 },
        { .tx.jitter_ns = UINT64_MAX },
        { .hold_max = FAULT_HOLD_MAX_LIMIT + 1 },
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(link_fault_create(a, &bad[i], &clock, NULL, &f), -EINVAL);
    struct fault_config ok = { .seed = 1 };
    assert_int_equal(link_fault_create(NULL, &ok, &clock, NULL, &f), -EINVAL);
    assert_int_equal(link_fault_create(a, NULL, &clock, NULL, &f), -EINVAL);
    assert_int_equal(link_fault_create(a, &ok, NULL, NULL, &f), -EINVAL);
    assert_null(f);
    /* After a failure the caller still owns a. */
    assert_int_equal(link_fault_create(a, &ok, &clock, NULL, &f), 0);
    struct ctr_group g = link_fault_ctr_group(f, FAULT_RX);
    assert_string_equal(g.name, "loop.a+fault.fault.rx");
    assert_int_equal(g.n, fault_ctrs_count);
    link_destroy(f);
    link_destroy(b);
}

/* ---- the textual form ---- */

static void test_spec_sets_both_directions_or_one(void **state)
{
    (void)state;
    struct fault_config c;
    assert_int_equal(fault_config_parse("seed=7,loss=1%,tx.delay=5ms,rx.jitter=250us,"
                                        "drop_nth=3/7,reorder=0.1,reorder_gap=2,"
                                        "reorder_hold=1s,hold=64,tx.corrupt=0.5,"
                                        "tx.corrupt_offset=42,rx.dup=1,rx.delay=0", &c), 0);
    assert_int_equal(c.seed, 7);
    assert_int_equal(c.hold_max, 64);
    assert_true(c.tx.drop_p == 0.01 && c.rx.drop_p == 0.01);
    assert_int_equal(c.tx.delay_ns, 5 * NS_PER_MS);
    assert_int_equal(c.rx.delay_ns, 0);
    assert_int_equal(c.tx.jitter_ns, 0);
    assert_int_equal(c.rx.jitter_ns, 250 * NS_PER_US);
    for (int d = 0; d < 2; d++) {
        const struct fault_dir_config *dc = d ? &c.rx : &c.tx;
        assert_int_equal(dc->drop_nth[0], 3);
        assert_int_equal(dc->drop_nth[1], 7);
        assert_int_equal(dc->drop_nth[2], 0);
        assert_true(dc->reorder_p == 0.1);
        assert_int_equal(dc->reorder_gap, 2);
        assert_int_equal(dc->reorder_max_hold_ns, NS_PER_SEC);
    }
    assert_true(c.tx.corrupt_p == 0.5 && c.rx.corrupt_p == 0);
    assert_int_equal(c.tx.corrupt_offset, 42);
    assert_true(c.rx.dup_p == 1.0 && c.tx.dup_p == 0);

    assert_int_equal(fault_config_parse("", &c), 0);
    assert_int_equal(c.tx.drop_p, 0);
    assert_int_equal(fault_config_parse(NULL, &c), 0);
    assert_int_equal(fault_config_parse("drop=0.25,", &c), 0);   /* a trailing comma is fine */
    assert_true(c.tx.drop_p == 0.25);
}

static void test_spec_rejects_malformed_items(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "loss=2", "loss=-0.1", "loss=150%", "loss=0.1x", "loss", "loss=", "bogus=1",
        "tx.", "tx.seed=1", "delay=5", "delay=5 ms", "delay=2h", "delay=3601s", "jitter=-1ms",
        "drop_nth=0", "drop_nth=3//7", "drop_nth=1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17",
        "seed=abc", "seed=-1", "hold=0", "hold=65537", "reorder_gap=1.5", ",loss=0.1",
        "loss=0.1,,dup=0.1",
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct fault_config c = { .seed = 99 };
        if (fault_config_parse(bad[i], &c) != -EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_int_equal(c.seed, 0);     /* nothing half-applied */
    }
    /* Sixteen indices is the most. */
    struct fault_config c;
    assert_int_equal(fault_config_parse("drop_nth=1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16", &c),
                     0);
    assert_int_equal(c.rx.drop_nth[15], 16);
}

static void test_spec_help_lists_every_key(void **state)
{
    (void)state;
    char buf[4096] = { 0 };
    FILE *f = fmemopen(buf, sizeof(buf) - 1, "w");
    assert_non_null(f);
    fault_config_help(f);
    fclose(f);
    static const char *const keys[] = { "seed=N", "hold=N", "loss=P", "drop=P", "drop_nth=",
                                        "dup=P", "corrupt=P", "corrupt_offset=N", "reorder=P",
                                        "reorder_gap=N", "reorder_hold=TIME", "delay=TIME",
                                        "jitter=TIME" };
    for (unsigned i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (!strstr(buf, keys[i]))
            fail_msg("help lacks %s:\n%s", keys[i], buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, test_pool_setup, test_pool_teardown)
        T(test_no_fault_is_transparent),
        T(test_drops_listed_frames_on_transmit),
        T(test_drops_listed_frames_on_receive),
        T(test_random_loss_is_bounded_and_reproducible),
        T(test_duplicates_follow_their_original),
        T(test_empty_duplicate_pool_is_counted_not_fatal),
        T(test_duplicate_rate_is_bounded),
        T(test_reorder_gives_the_exact_order_for_a_seed),
        T(test_reorder_hold_ends_at_the_maximum_time),
        T(test_delay_releases_nothing_early_and_everything_on_time),
        T(test_jitter_spreads_and_may_reorder),
        T(test_corrupt_flips_exactly_one_bit_past_the_offset),
        T(test_combined_faults_on_both_directions),
        T(test_faults_draw_from_independent_generators),
        T(test_held_frames_above_the_cap_are_dropped),
        T(test_destroy_frees_every_held_frame),
        T(test_received_frames_beyond_the_burst_wait_for_the_next_call),
        T(test_next_event_is_the_earliest_held_frame),
        T(test_refused_frames_are_lost_like_on_a_wire),
        T(test_failed_inner_link_is_reported_before_consuming),
        T(test_bad_configs_are_refused),
        T(test_spec_sets_both_directions_or_one),
        T(test_spec_rejects_malformed_items),
        T(test_spec_help_lists_every_key),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
