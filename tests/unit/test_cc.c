/*
 * Congestion control: the registry, the RFC 5681 building blocks, NewReno and CUBIC driven hook
 * by hook with exact expectations, and a fluid model of one flow through a bottleneck (a fixed
 * bandwidth-delay product plus a drop-tail buffer) showing NewReno's sawtooth and CUBIC's
 * concave/convex growth.
 *
 * A `struct conn` plays TCP: it holds the view, applies every decision the module returns (and
 * hands each hook an output poisoned with garbage, so a hook that forgets a field shows), and keeps
 * the private area deliberately misaligned (the modules promise not to care).
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "tcp/cc/cc.h"

/* CUBIC internals exported for this test (defined in src/tcp/cc/cubic.c). */
uint32_t cc_cubic_cbrt(uint64_t x);
uint32_t cc_cubic_k_ms(uint32_t w_max, uint32_t cwnd_epoch, uint32_t mss);
uint32_t cc_cubic_w(uint32_t w_max, uint32_t k_ms, uint64_t t_ms, uint32_t mss);
void cc_cubic_peek(const void *priv, uint32_t *w_max, uint32_t *k_ms, uint32_t *w_est);

#define MSS 1000u
#define SEG(n) ((uint32_t)(n) * MSS)
#define MS 1000u                 /* microseconds */
#define POISON 0xdeadbeefu

struct conn {
    const struct cc_ops *ops;
    struct cc_view v;
    _Alignas(8) uint8_t area[CC_PRIV_SIZE + 1];
    uint8_t *priv;               /* area + 1: misaligned on purpose */
    uint32_t rtt_sample_us;      /* passed to on_ack */
};

static void conn_apply(struct conn *c, const struct cc_out *out)
{
    assert_int_not_equal(out->cwnd, POISON);
    assert_int_not_equal(out->ssthresh, POISON);
    c->v.cwnd = out->cwnd;
    c->v.ssthresh = out->ssthresh;
}

/* A connection just established: IW = 10 segments, ssthresh "arbitrarily high". */
static void conn_open(struct conn *c, const struct cc_ops *ops, uint32_t rtt_us)
{
    *c = (struct conn){
        .ops = ops,
        .v = { .mss = MSS, .srtt_us = rtt_us, .min_rtt_us = rtt_us, .now_us = 1000000,
               .cwnd_limited = true },
        .rtt_sample_us = rtt_us,
    };
    c->priv = c->area + 1;
    memset(c->area, 0xa5, sizeof c->area);   /* init must not rely on zeroed memory */
    struct cc_out out = { .cwnd = 10 * MSS, .ssthresh = UINT32_MAX };
    ops->init(c->priv, &c->v, &out);
    conn_apply(c, &out);
}

/* New data acknowledged. TCP keeps the pipe full: the flight is cwnd (loss tests set their own
 * flight before calling loss()). */
static void ack(struct conn *c, uint32_t bytes)
{
    struct cc_out out = { POISON, POISON };
    c->v.flight = c->v.cwnd;
    c->ops->on_ack(c->priv, &c->v, bytes, c->rtt_sample_us, &out);
    conn_apply(c, &out);
}

static void loss(struct conn *c, enum cc_loss kind)
{
    struct cc_out out = { POISON, POISON };
    c->ops->on_loss(c->priv, &c->v, kind, &out);
    conn_apply(c, &out);
}

static void recovery_exit(struct conn *c)
{
    struct cc_out out = { POISON, POISON };
    c->ops->on_recovery_exit(c->priv, &c->v, &out);
    conn_apply(c, &out);
}

static void after_idle(struct conn *c)
{
    struct cc_out out = { POISON, POISON };
    c->ops->after_idle(c->priv, &c->v, &out);
    conn_apply(c, &out);
}

/* One round trip in which every segment of the window is acknowledged, `per_ack` bytes at a
 * time, the ACKs spread evenly over `rtt_us`. */
static void round_trip(struct conn *c, uint32_t per_ack, uint32_t rtt_us)
{
    uint32_t window = c->v.cwnd;
    uint32_t n = (window + per_ack - 1) / per_ack;
    uint64_t start = c->v.now_us;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t bytes = i + 1 < n ? per_ack : window - i * per_ack;
        c->v.now_us = start + (uint64_t)rtt_us * (i + 1) / n;
        ack(c, bytes);
    }
}

/* ---- Registry ---- */

static void test_find_by_name_and_alias(void **state)
{
    (void)state;
    assert_ptr_equal(cc_find("newreno"), &cc_newreno);
    assert_ptr_equal(cc_find("reno"), &cc_newreno);
    assert_ptr_equal(cc_find("cubic"), &cc_cubic);
    assert_null(cc_find("CUBIC"));
    assert_null(cc_find("cubic "));
    assert_null(cc_find("bbr"));
    assert_null(cc_find(""));
    assert_null(cc_find(NULL));
}

static void test_names_list_every_module_once(void **state)
{
    (void)state;
    char names[128];
    snprintf(names, sizeof names, "%s", cc_names());
    assert_string_equal(names, "newreno,cubic");
    unsigned seen_newreno = 0, seen_cubic = 0;
    for (char *save, *tok = strtok_r(names, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        const struct cc_ops *ops = cc_find(tok);
        assert_non_null(ops);
        assert_string_equal(ops->name, tok);
        assert_true(strlen(tok) < CC_NAME_MAX);
        seen_newreno += ops == &cc_newreno;
        seen_cubic += ops == &cc_cubic;
    }
    assert_int_equal(seen_newreno, 1);
    assert_int_equal(seen_cubic, 1);
}

/* ---- Building blocks ---- */

static void test_slow_start_counts_bytes_up_to_two_segments(void **state)
{
    (void)state;
    struct cc_view v = { .mss = MSS };
    struct cc_out out = { .cwnd = SEG(10), .ssthresh = SEG(100) };
    assert_int_equal(cc_slow_start(&v, 500, &out), 0);       /* partial segment: 500 bytes */
    assert_int_equal(out.cwnd, 10500);
    assert_int_equal(cc_slow_start(&v, SEG(2), &out), 0);    /* delayed ACK: both segments */
    assert_int_equal(out.cwnd, 12500);
    assert_int_equal(cc_slow_start(&v, SEG(5), &out), 0);    /* stretch ACK: L = 2 SMSS */
    assert_int_equal(out.cwnd, 14500);
    assert_int_equal(out.ssthresh, SEG(100));
}

static void test_slow_start_stops_at_ssthresh_and_returns_the_rest(void **state)
{
    (void)state;
    struct cc_view v = { .mss = MSS };
    struct cc_out out = { .cwnd = 19500, .ssthresh = 20000 };
    assert_int_equal(cc_slow_start(&v, SEG(2), &out), 1500);
    assert_int_equal(out.cwnd, 20000);
    /* At ssthresh slow start is over: everything is left for congestion avoidance. */
    assert_int_equal(cc_slow_start(&v, SEG(1), &out), SEG(1));
    assert_int_equal(out.cwnd, 20000);
    out.cwnd = 25000;
    assert_int_equal(cc_slow_start(&v, 700, &out), 700);
    assert_int_equal(out.cwnd, 25000);
}

static void test_additive_increase_adds_one_mss_per_w_bytes(void **state)
{
    (void)state;
    struct cc_view v = { .mss = MSS };
    struct cc_out out = { .cwnd = SEG(10), .ssthresh = SEG(5) };
    uint32_t credit = 0;
    for (int i = 0; i < 9; i++)
        cc_additive_increase(&v, SEG(10), MSS, &credit, &out);
    assert_int_equal(out.cwnd, SEG(10));
    assert_int_equal(credit, SEG(9));
    cc_additive_increase(&v, SEG(10), MSS, &credit, &out);
    assert_int_equal(out.cwnd, SEG(11));
    assert_int_equal(credit, 0);
    cc_additive_increase(&v, SEG(11), SEG(25), &credit, &out);   /* two windows' worth at once */
    assert_int_equal(out.cwnd, SEG(13));
    assert_int_equal(credit, SEG(3));
    cc_additive_increase(&v, 10, 2500, &credit, &out);   /* w < MSS acts as one MSS */
    assert_int_equal(out.cwnd, SEG(18));
    assert_int_equal(credit, 500);
    out.cwnd = UINT32_MAX - 10;
    cc_additive_increase(&v, MSS, MSS, &credit, &out);   /* saturates, never wraps */
    assert_int_equal(out.cwnd, UINT32_MAX);
    assert_int_equal(out.ssthresh, SEG(5));
}

static void test_reno_ssthresh_is_half_the_flight_at_least_two_segments(void **state)
{
    (void)state;
    struct cc_view v = { .mss = MSS, .cwnd = SEG(100), .flight = SEG(30) };
    assert_int_equal(cc_reno_ssthresh(&v), SEG(15));   /* the flight, not cwnd */
    v.flight = 4001;
    assert_int_equal(cc_reno_ssthresh(&v), 2000);
    v.flight = 3000;
    assert_int_equal(cc_reno_ssthresh(&v), SEG(2));
    v.flight = 0;
    assert_int_equal(cc_reno_ssthresh(&v), SEG(2));
}

static void test_restart_window_is_min_of_iw_and_cwnd(void **state)
{
    (void)state;
    struct cc_view v = { .mss = MSS, .cwnd = SEG(50) };
    assert_int_equal(cc_restart_window(&v), SEG(10));
    v.cwnd = SEG(4);
    assert_int_equal(cc_restart_window(&v), SEG(4));
    v.mss = 1460;
    v.cwnd = 1u << 30;
    assert_int_equal(cc_restart_window(&v), 14600);
}

/* ---- NewReno ---- */

static void test_newreno_slow_start_doubles_per_rtt(void **state)
{
    (void)state;
    struct conn c;
    /* One ACK per segment: cwnd doubles every round trip. */
    conn_open(&c, &cc_newreno, 10 * MS);
    assert_int_equal(c.v.cwnd, SEG(10));
    assert_int_equal(c.v.ssthresh, UINT32_MAX);
    for (uint32_t expect = SEG(20); expect <= SEG(160); expect *= 2) {
        round_trip(&c, MSS, 10 * MS);
        assert_int_equal(c.v.cwnd, expect);
    }
    /* Delayed ACKs (every second segment): still doubles, thanks to byte counting with L = 2. */
    conn_open(&c, &cc_newreno, 10 * MS);
    for (uint32_t expect = SEG(20); expect <= SEG(160); expect *= 2) {
        round_trip(&c, SEG(2), 10 * MS);
        assert_int_equal(c.v.cwnd, expect);
    }
    /* Stretch ACKs of 4 segments: L = 2 caps each at 2 MSS, so x1.5 per round trip. */
    conn_open(&c, &cc_newreno, 10 * MS);
    c.v.cwnd = SEG(8);
    static const uint32_t stretch[] = { 12, 18, 28 };   /* 18 -> 28: 4 ACKs of 4, one of 2 */
    for (size_t i = 0; i < 3; i++) {
        round_trip(&c, SEG(4), 10 * MS);
        assert_int_equal(c.v.cwnd, SEG(stretch[i]));
    }
}

static void test_newreno_congestion_avoidance_adds_one_mss_per_window(void **state)
{
    (void)state;
    struct conn c;
    conn_open(&c, &cc_newreno, 10 * MS);
    c.v.cwnd = 14500;
    c.v.ssthresh = SEG(15);
    ack(&c, MSS);          /* reaches ssthresh; 500 bytes go to congestion avoidance */
    assert_int_equal(c.v.cwnd, SEG(15));
    for (int i = 0; i < 14; i++)
        ack(&c, MSS);      /* 14500 bytes counted: not yet a window */
    assert_int_equal(c.v.cwnd, SEG(15));
    ack(&c, MSS);          /* 15500 >= 15000: one MSS, 500 carried */
    assert_int_equal(c.v.cwnd, SEG(16));
    for (int i = 0; i < 15; i++)
        ack(&c, MSS);
    assert_int_equal(c.v.cwnd, SEG(16));
    ack(&c, MSS);
    assert_int_equal(c.v.cwnd, SEG(17));
    /* Then exactly one MSS per round trip, whether ACKs cover one or two segments. */
    for (uint32_t n = 18; n <= 40; n++) {
        round_trip(&c, n % 2 ? MSS : SEG(2), 10 * MS);
        assert_int_equal(c.v.cwnd, SEG(n));
        assert_int_equal(c.v.ssthresh, SEG(15));
    }
}

static void test_newreno_does_not_grow_when_not_cwnd_limited_or_in_recovery(void **state)
{
    (void)state;
    struct conn c;
    conn_open(&c, &cc_newreno, 10 * MS);
    c.v.cwnd_limited = false;
    round_trip(&c, MSS, 10 * MS);
    assert_int_equal(c.v.cwnd, SEG(10));
    c.v.cwnd_limited = true;
    c.v.in_recovery = true;
    round_trip(&c, MSS, 10 * MS);
    assert_int_equal(c.v.cwnd, SEG(10));
    c.v.in_recovery = false;
    ack(&c, MSS);
    assert_int_equal(c.v.cwnd, SEG(11));
}

static void test_newreno_fast_loss_halves_flight_and_exit_deflates(void **state)
{
    (void)state;
    struct conn c;
    conn_open(&c, &cc_newreno, 10 * MS);
    c.v.cwnd = SEG(40);
    c.v.flight = SEG(36);   /* RFC 5681 eqn 4 uses FlightSize, not cwnd */
    loss(&c, CC_LOSS_FAST);
    assert_int_equal(c.v.ssthresh, SEG(18));
    assert_int_equal(c.v.cwnd, SEG(18));
    /* TCP inflates cwnd during recovery; leaving recovery deflates it to ssthresh. */
    c.v.cwnd = SEG(21);
    c.v.in_recovery = true;
    recovery_exit(&c);
    c.v.in_recovery = false;
    assert_int_equal(c.v.cwnd, SEG(18));
    assert_int_equal(c.v.ssthresh, SEG(18));
    /* Congestion avoidance from there: one MSS after a window of ACKs. */
    round_trip(&c, MSS, 10 * MS);
    assert_int_equal(c.v.cwnd, SEG(19));
    /* A tiny flight still leaves two segments; ECE is answered the same way (RFC 3168). */
    c.v.flight = 2500;
    loss(&c, CC_LOSS_FAST);
    assert_int_equal(c.v.ssthresh, SEG(2));
    assert_int_equal(c.v.cwnd, SEG(2));
    c.v.cwnd = SEG(30);
    c.v.flight = SEG(30);
    loss(&c, CC_LOSS_ECN);
    assert_int_equal(c.v.ssthresh, SEG(15));
    assert_int_equal(c.v.cwnd, SEG(15));
}

static void test_newreno_rto_sets_loss_window_and_keeps_ssthresh_on_backoff(void **state)
{
    (void)state;
    struct conn c;
    conn_open(&c, &cc_newreno, 10 * MS);
    c.v.cwnd = SEG(40);
    c.v.flight = SEG(40);
    loss(&c, CC_LOSS_RTO);
    assert_int_equal(c.v.ssthresh, SEG(20));
    assert_int_equal(c.v.cwnd, SEG(1));
    /* The timer fires again for the same segment: ssthresh is not lowered again (RFC 5681 3.1). */
    c.v.flight = SEG(1);
    loss(&c, CC_LOSS_RTO);
    assert_int_equal(c.v.ssthresh, SEG(20));
    assert_int_equal(c.v.cwnd, SEG(1));
    /* Slow start from one segment: 1, 2, 4, ... up to ssthresh, then linear. */
    uint32_t expect[] = { 2, 4, 8, 16, 20, 21 };
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        round_trip(&c, MSS, 10 * MS);
        assert_int_equal(c.v.cwnd, SEG(expect[i]));
    }
    /* New data was acked: a later timeout is a new event and halves the flight again. */
    c.v.flight = SEG(16);
    loss(&c, CC_LOSS_RTO);
    assert_int_equal(c.v.ssthresh, SEG(8));
    assert_int_equal(c.v.cwnd, SEG(1));
}

static void test_newreno_after_idle_restarts_from_restart_window(void **state)
{
    (void)state;
    struct conn c;
    conn_open(&c, &cc_newreno, 10 * MS);
    c.v.cwnd = SEG(40);
    c.v.ssthresh = SEG(20);
    after_idle(&c);
    assert_int_equal(c.v.cwnd, SEG(10));       /* RW = min(IW, cwnd) */
    assert_int_equal(c.v.ssthresh, SEG(30));   /* 3/4 of the old cwnd is remembered */
    round_trip(&c, MSS, 10 * MS);
    round_trip(&c, MSS, 10 * MS);
    assert_int_equal(c.v.cwnd, SEG(30));       /* slow start back to it */
    /* A small window is kept as it is, and a higher ssthresh too. */
    c.v.cwnd = SEG(6);
    c.v.ssthresh = SEG(50);
    after_idle(&c);
    assert_int_equal(c.v.cwnd, SEG(6));
    assert_int_equal(c.v.ssthresh, SEG(50));
}

/* ---- CUBIC: the arithmetic ---- */

static void test_cubic_cbrt_is_the_floor_of_the_cube_root(void **state)
{
    (void)state;
    for (uint64_t x = 0; x < 200000; x++) {
        uint64_t y = cc_cubic_cbrt(x);
        assert_true(y * y * y <= x && (y + 1) * (y + 1) * (y + 1) > x);
    }
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t probe = x >> (i % 64);
        unsigned __int128 y = cc_cubic_cbrt(probe);
        assert_true(y * y * y <= probe && (y + 1) * (y + 1) * (y + 1) > probe);
    }
    assert_int_equal(cc_cubic_cbrt(UINT64_MAX), 2642245);
    assert_int_equal(cc_cubic_cbrt(UINT64_C(2642245) * 2642245 * 2642245), 2642245);
    assert_int_equal(cc_cubic_cbrt(UINT64_C(2642245) * 2642245 * 2642245 - 1), 2642244);
}

static void test_cubic_k_matches_rfc9438_eqn2(void **state)
{
    (void)state;
    /* K = cbrt((W_max - cwnd_epoch) / C), C = 0.4:
     *   W_max 100, cwnd_epoch 70 segments:   cbrt(30 / 0.4)  = cbrt(75)   = 4.2172 s
     *   W_max 1000, cwnd_epoch 700 (MSS 1460): cbrt(750)     = 9.0856 s
     *   W_max 10, cwnd_epoch 7:                cbrt(7.5)     = 1.9574 s
     *   W_max 80000, cwnd_epoch 56000:         cbrt(60000)   = 39.149 s */
    assert_int_equal(cc_cubic_k_ms(SEG(100), SEG(70), MSS), 4217);
    assert_int_equal(cc_cubic_k_ms(1000 * 1460, 700 * 1460, 1460), 9085);
    assert_int_equal(cc_cubic_k_ms(SEG(10), SEG(7), MSS), 1957);
    assert_int_equal(cc_cubic_k_ms(SEG(80000), SEG(56000), MSS), 39148);
    /* At or above W_max: K = 0. */
    assert_int_equal(cc_cubic_k_ms(SEG(70), SEG(70), MSS), 0);
    assert_int_equal(cc_cubic_k_ms(SEG(70), SEG(90), MSS), 0);
    /* The largest difference a 32-bit window allows, with a one-byte MSS, does not overflow:
     * cbrt((2^32 - 1) * 2.5e9) ms. */
    assert_int_equal(cc_cubic_k_ms(UINT32_MAX, 0, 1), 2206141);
}

static void test_cubic_window_matches_rfc9438_eqn1(void **state)
{
    (void)state;
    /* W_max 100 segments, K = 4.217 s. W_cubic(t) = 0.4 (t - K)^3 + 100 segments:
     *   t = 0:      100 - 0.4 * 4.217^3 = 70.00 segments (cwnd_epoch, within rounding of K)
     *   t = 2 s:    100 - 0.4 * 2.217^3 = 95.641
     *   t = K:      100 exactly
     *   t = K + 1:  100.4
     *   t = K + 5:  150
     *   t = K + 10: 500 */
    const uint32_t k = 4217;
    assert_in_range(cc_cubic_w(SEG(100), k, 0, MSS), 70000, 70010);
    assert_in_range(cc_cubic_w(SEG(100), k, 2000, MSS), 95638, 95644);
    assert_int_equal(cc_cubic_w(SEG(100), k, k, MSS), 100000);
    assert_int_equal(cc_cubic_w(SEG(100), k, k + 1000, MSS), 100400);
    assert_int_equal(cc_cubic_w(SEG(100), k, k + 5000, MSS), 150000);
    assert_int_equal(cc_cubic_w(SEG(100), k, k + 10000, MSS), 500000);
    /* Odd MSS: 0.4 * 1460 * 3^3 = 15768 bytes above W_max three seconds after K. */
    assert_int_equal(cc_cubic_w(1460000, 100, 3100, 1460), 1460000 + 15768);
    /* Far out it saturates instead of wrapping; far before K it stops at zero. */
    assert_int_equal(cc_cubic_w(SEG(100), 0, UINT64_C(1) << 40, MSS), UINT32_MAX);
    assert_int_equal(cc_cubic_w(SEG(100), 1000000, 0, MSS), 0);
}

/* ---- CUBIC: the hooks ---- */

/* A CUBIC connection in congestion avoidance at `cwnd`, ssthresh below it, no loss yet. */
static void cubic_in_ca(struct conn *c, uint32_t cwnd, uint32_t rtt_us)
{
    conn_open(c, &cc_cubic, rtt_us);
    c->v.cwnd = cwnd;
    c->v.ssthresh = cwnd;
}

static void test_cubic_loss_multiplies_by_beta_and_remembers_w_max(void **state)
{
    (void)state;
    struct conn c;
    uint32_t w_max, k, w_est;
    cubic_in_ca(&c, SEG(100), 100 * MS);
    c.v.flight = SEG(60);   /* CUBIC uses cwnd (4.6, as Linux), not the flight */
    loss(&c, CC_LOSS_FAST);
    assert_int_equal(c.v.ssthresh, SEG(70));
    assert_int_equal(c.v.cwnd, SEG(70));
    cc_cubic_peek(c.priv, &w_max, &k, &w_est);
    assert_int_equal(w_max, SEG(100));
    /* Recovery exit at ssthresh; the first ACK after it starts the epoch: K from eqn 2. */
    c.v.cwnd = SEG(73);
    recovery_exit(&c);
    assert_int_equal(c.v.cwnd, SEG(70));
    ack(&c, MSS);
    cc_cubic_peek(c.priv, &w_max, &k, &w_est);
    assert_int_equal(k, 4217);
    assert_int_equal(w_est, SEG(70));
    /* ECE: same reduction, floor 1 MSS; loss: floor 2 MSS; ssthresh always >= 2 MSS. */
    c.v.cwnd = 1500;
    loss(&c, CC_LOSS_ECN);
    assert_int_equal(c.v.cwnd, 1050);
    assert_int_equal(c.v.ssthresh, SEG(2));
    c.v.cwnd = 1500;
    loss(&c, CC_LOSS_FAST);
    assert_int_equal(c.v.cwnd, SEG(2));
    assert_int_equal(c.v.ssthresh, SEG(2));
}

static void test_cubic_fast_convergence_lowers_w_max(void **state)
{
    (void)state;
    struct conn c;
    uint32_t w_max, k, w_est;
    cubic_in_ca(&c, SEG(100), 100 * MS);
    loss(&c, CC_LOSS_FAST);
    recovery_exit(&c);
    /* The next loss comes before cwnd is back to W_max: the flow's share is shrinking, so
     * W_max = cwnd (1 + beta) / 2 = 90 * 0.85 = 76.5 segments (4.7). */
    c.v.cwnd = SEG(90);
    loss(&c, CC_LOSS_FAST);
    cc_cubic_peek(c.priv, &w_max, &k, &w_est);
    assert_int_equal(w_max, 76500);
    assert_int_equal(c.v.ssthresh, SEG(63));
    assert_int_equal(c.v.cwnd, SEG(63));
    recovery_exit(&c);
    ack(&c, MSS);
    cc_cubic_peek(c.priv, &w_max, &k, &w_est);
    assert_int_equal(k, 3231);   /* cbrt((76.5 - 63) / 0.4) = cbrt(33.75) = 3.2317 s */
    /* A loss above W_max remembers cwnd itself. */
    c.v.cwnd = SEG(80);
    loss(&c, CC_LOSS_FAST);
    cc_cubic_peek(c.priv, &w_max, &k, &w_est);
    assert_int_equal(w_max, SEG(80));
}

static void test_cubic_rto_restarts_from_one_segment_with_k_zero(void **state)
{
    (void)state;
    struct conn c;
    uint32_t w_max, k, w_est;
    cubic_in_ca(&c, SEG(100), 100 * MS);
    loss(&c, CC_LOSS_RTO);
    assert_int_equal(c.v.cwnd, SEG(1));
    assert_int_equal(c.v.ssthresh, SEG(70));
    loss(&c, CC_LOSS_RTO);   /* backed-off timer, same segment: nothing more is taken */
    assert_int_equal(c.v.cwnd, SEG(1));
    assert_int_equal(c.v.ssthresh, SEG(70));
    /* Plain slow start to ssthresh (no HyStart++ after a loss)... */
    uint32_t expect[] = { 2, 4, 8, 16, 32, 64, 70 };
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        round_trip(&c, MSS, 100 * MS);
        assert_int_equal(c.v.cwnd, SEG(expect[i]));
    }
    /* ...then, 4.8: the first epoch after a timeout has K = 0, W_max = cwnd_epoch, W_est too. */
    ack(&c, MSS);
    cc_cubic_peek(c.priv, &w_max, &k, &w_est);
    assert_int_equal(k, 0);
    assert_int_equal(w_max, SEG(70));
    assert_int_equal(w_est, SEG(70));
}

static void test_cubic_reno_friendly_region_dominates_at_short_rtt(void **state)
{
    (void)state;
    struct conn c;
    uint32_t w_max, k, w_est;
    /* 1 ms RTT: after a loss at 100 segments, K = 4.2 s is 4200 round trips away, and W_cubic
     * hardly moves; W_est grows by alpha = 9/17 segment per round trip (eqn 4). */
    cubic_in_ca(&c, SEG(100), 1 * MS);
    loss(&c, CC_LOSS_FAST);
    recovery_exit(&c);
    for (unsigned r = 1; r <= 40; r++) {
        round_trip(&c, MSS, 1 * MS);
        cc_cubic_peek(c.priv, &w_max, &k, &w_est);
        /* cwnd follows W_est (the first round trips, while W_est is still below W_cubic, add
         * a few bytes along the curve) */
        assert_in_range(c.v.cwnd, w_est, w_est + 100);
        uint32_t reno = SEG(70) + r * MSS * 9 / 17;   /* 70 + 0.529 r segments */
        assert_in_range(c.v.cwnd, reno - SEG(2), reno + MSS);
    }
    assert_true(cc_cubic_w(w_max, k, 40, MSS) < SEG(71));   /* the cubic: still about 70 */
    /* Once W_est reaches cwnd_prior (100 segments), alpha = 1: exactly Reno's one per RTT. */
    while (c.v.cwnd < SEG(100))
        round_trip(&c, MSS, 1 * MS);
    uint32_t from = c.v.cwnd;
    for (unsigned r = 0; r < 20; r++)
        round_trip(&c, MSS, 1 * MS);
    assert_in_range(c.v.cwnd, from + SEG(19), from + SEG(21));
}

static void test_cubic_app_limited_time_does_not_count(void **state)
{
    (void)state;
    struct conn c;
    cubic_in_ca(&c, SEG(100), 100 * MS);
    loss(&c, CC_LOSS_FAST);
    recovery_exit(&c);
    round_trip(&c, MSS, 100 * MS);   /* epoch starts */
    uint32_t before = c.v.cwnd;
    /* Ten seconds of ACKs while the application, not cwnd, limits the flow: no growth, and the
     * ten seconds are not part of t (else W_cubic(10 s) = 100 + 0.4 * 5.8^3 = 178 segments and
     * the next window would jump by half). */
    c.v.cwnd_limited = false;
    for (int i = 0; i < 100; i++)
        round_trip(&c, SEG(10), 100 * MS);
    assert_int_equal(c.v.cwnd, before);
    c.v.cwnd_limited = true;
    round_trip(&c, MSS, 100 * MS);
    /* One more round trip at t = 0.2 s: W_cubic(0.3 s) = 100 - 0.4 * 3.92^3 = 75.9 segments. */
    assert_in_range(c.v.cwnd, before, SEG(77));
}

static void test_cubic_after_idle_restarts_and_opens_a_new_epoch(void **state)
{
    (void)state;
    struct conn c;
    uint32_t w_max, k, w_est;
    cubic_in_ca(&c, SEG(100), 100 * MS);
    loss(&c, CC_LOSS_FAST);
    recovery_exit(&c);
    for (int i = 0; i < 10; i++)
        round_trip(&c, MSS, 100 * MS);
    uint32_t cwnd = c.v.cwnd;
    after_idle(&c);
    assert_int_equal(c.v.cwnd, SEG(10));
    assert_true(cwnd > SEG(80) && cwnd * 3 / 4 < SEG(70));
    assert_int_equal(c.v.ssthresh, SEG(70));   /* max(ssthresh, 3/4 cwnd) */
    c.v.now_us += 30 * 1000 * MS;   /* the idle time must not count either */
    round_trip(&c, MSS, 100 * MS);
    assert_int_equal(c.v.cwnd, SEG(20));
    round_trip(&c, MSS, 100 * MS);
    assert_int_equal(c.v.cwnd, SEG(40));
    round_trip(&c, MSS, 100 * MS);   /* 30 ACKs to ssthresh, 10 along the curve */
    assert_in_range(c.v.cwnd, SEG(70), SEG(71));
    /* The epoch began at 70 segments within the last round trip: K from eqn 2 again, and the
     * window grows along the curve, not from a 30-second-old t. */
    cc_cubic_peek(c.priv, &w_max, &k, &w_est);
    assert_int_equal(w_max, SEG(100));
    assert_int_equal(k, 4217);
    round_trip(&c, MSS, 100 * MS);
    assert_in_range(c.v.cwnd, SEG(71), SEG(74));   /* W_cubic(0.2 s) = 74.6 segments */
}

static void test_cubic_concave_then_plateau_then_convex(void **state)
{
    (void)state;
    struct conn c;
    uint32_t w_max, k, w_est;
    const uint32_t rtt = 100 * MS;
    /* One loss at 1000 segments and no other: K = cbrt(300 / 0.4) = 9.086 s, 91 round trips. */
    cubic_in_ca(&c, SEG(1000), rtt);
    loss(&c, CC_LOSS_FAST);
    recovery_exit(&c);
    uint64_t t0 = c.v.now_us;
    ack(&c, MSS);   /* t_epoch */
    cc_cubic_peek(c.priv, &w_max, &k, &w_est);
    assert_int_equal(k, 9085);
    uint32_t cwnd[181];
    uint64_t reach_us = 0;
    cwnd[0] = c.v.cwnd;
    for (unsigned r = 1; r <= 180; r++) {
        round_trip(&c, MSS, rtt);
        cwnd[r] = c.v.cwnd;
        uint64_t t_ms = (c.v.now_us - t0) / 1000;
        /* cwnd chases the target W_cubic(t + RTT) and stays between it and W_cubic(t). */
        assert_in_range(cwnd[r], cc_cubic_w(w_max, k, t_ms, MSS) - SEG(2),
                        cc_cubic_w(w_max, k, t_ms + 100, MSS) + SEG(1));
        if (!reach_us && cwnd[r] >= w_max)
            reach_us = c.v.now_us - t0;
    }
    /* Back at W_max about K after the reduction. */
    assert_in_range(reach_us, (uint64_t)k * 1000 - 2 * rtt, (uint64_t)k * 1000 + 2 * rtt);
    /* Concave: ten-round gains shrink toward K; plateau: within 1 s of K the window stays within
     * two segments of W_max; convex: the gains grow again, beyond anything Reno would do. */
    for (unsigned r = 10; r + 10 <= 80; r += 10)
        assert_true(cwnd[r + 10] - cwnd[r] < cwnd[r] - cwnd[r - 10]);
    for (unsigned r = 81; r <= 101; r++)
        assert_in_range(cwnd[r], w_max - SEG(2), w_max + SEG(2));
    for (unsigned r = 110; r + 10 <= 180; r += 10)
        assert_true(cwnd[r + 10] - cwnd[r] > cwnd[r] - cwnd[r - 10]);
    assert_true(cwnd[180] - cwnd[170] > SEG(20));
    printf("cubic single loss at 1000 seg, RTT 100 ms: K %u ms, back at W_max after %llu ms; "
           "cwnd at +2 s %u, +5 s %u, +9 s %u, +13 s %u, +18 s %u segments\n", k,
           (unsigned long long)reach_us / 1000, cwnd[20] / MSS, cwnd[50] / MSS, cwnd[90] / MSS,
           cwnd[130] / MSS, cwnd[180] / MSS);
}

/* ---- CUBIC: HyStart++ (RFC 9406) ---- */

static void test_hystart_keeps_slow_start_while_the_rtt_is_flat(void **state)
{
    (void)state;
    struct conn c;
    conn_open(&c, &cc_cubic, 50 * MS);
    for (uint32_t expect = SEG(20); expect <= SEG(1280); expect *= 2) {
        round_trip(&c, MSS, 50 * MS);
        assert_int_equal(c.v.cwnd, expect);
        assert_int_equal(c.v.ssthresh, UINT32_MAX);
    }
}

/* Three round trips at 50 ms: 10 -> 20 -> 40 -> 80 segments. */
static void hystart_three_flat_rounds(struct conn *c)
{
    conn_open(c, &cc_cubic, 50 * MS);
    for (int i = 0; i < 3; i++)
        round_trip(c, MSS, 50 * MS);
    assert_int_equal(c->v.cwnd, SEG(80));
}

static void test_hystart_delay_increase_leads_through_css_to_ca(void **state)
{
    (void)state;
    struct conn c;
    hystart_three_flat_rounds(&c);
    /* RttThresh = max(4 ms, min(50 / 8, 16 ms)) = 6.25 ms; 57 ms >= 56.25: after N_RTT_SAMPLE = 8
     * ACKs at full slow start, CSS: a quarter of the growth (72 ACKs x 250 bytes). */
    c.rtt_sample_us = 57 * MS;
    round_trip(&c, MSS, 57 * MS);
    assert_int_equal(c.v.cwnd, 80000 + 8000 + 18000);
    /* CSS rounds grow x1.25 (a partial last ACK counts a quarter of its bytes). */
    static const uint32_t css[] = { 132500, 165625, 207031, 258788 };
    for (size_t i = 0; i < 4; i++) {
        round_trip(&c, MSS, 57 * MS);
        assert_int_equal(c.v.cwnd, css[i]);
        assert_int_equal(c.v.ssthresh, UINT32_MAX);
    }
    /* CSS_ROUNDS = 5 rounds done: ssthresh = cwnd, congestion avoidance (K = 0, 4.10). */
    ack(&c, MSS);
    assert_int_equal(c.v.ssthresh, 258788);
    uint32_t w_max, k, w_est;
    cc_cubic_peek(c.priv, &w_max, &k, &w_est);
    assert_int_equal(w_max, 258788);
    assert_int_equal(k, 0);
    round_trip(&c, MSS, 57 * MS);
    assert_in_range(c.v.cwnd, 258788, 258788 + SEG(2));
}

static void test_hystart_spurious_exit_resumes_slow_start(void **state)
{
    (void)state;
    struct conn c;
    hystart_three_flat_rounds(&c);
    c.rtt_sample_us = 57 * MS;
    round_trip(&c, MSS, 57 * MS);
    assert_int_equal(c.v.cwnd, 106000);
    /* The RTT falls below the CSS baseline: 8 ACKs in CSS (+250), then slow start again. */
    c.rtt_sample_us = 50 * MS;
    round_trip(&c, MSS, 50 * MS);
    assert_int_equal(c.v.cwnd, 106000 + 2000 + 98000);
    round_trip(&c, MSS, 50 * MS);
    assert_int_equal(c.v.cwnd, 412000);
    assert_int_equal(c.v.ssthresh, UINT32_MAX);
}

static void test_hystart_is_only_for_the_initial_slow_start(void **state)
{
    (void)state;
    struct conn c;
    hystart_three_flat_rounds(&c);
    c.v.flight = c.v.cwnd;
    loss(&c, CC_LOSS_RTO);
    assert_int_equal(c.v.ssthresh, SEG(56));
    /* The RTT climbs 10 ms a round, which would send HyStart++ to CSS as soon as a round has 8
     * samples (16 segments): this slow start goes on regardless, up to ssthresh. */
    uint32_t expect[] = { 2, 4, 8, 16, 32, 56 };
    for (size_t i = 0; i < 6; i++) {
        c.rtt_sample_us = (50 + 10 * (uint32_t)i) * MS;
        round_trip(&c, MSS, c.rtt_sample_us);
        assert_int_equal(c.v.cwnd, SEG(expect[i]));
    }
}

static void test_hystart_ignores_acks_without_rtt_samples(void **state)
{
    (void)state;
    struct conn c;
    hystart_three_flat_rounds(&c);
    c.rtt_sample_us = 0;   /* e.g. only retransmitted segments acked (Karn) */
    round_trip(&c, MSS, 57 * MS);
    assert_int_equal(c.v.cwnd, SEG(160));
}

/* ---- A fluid model: one flow through a bottleneck ---- */

struct path {
    uint32_t bdp;            /* bytes in flight that fill the link at the base RTT */
    uint32_t buffer;         /* drop-tail queue in front of the link */
    uint32_t base_rtt_us;
};

#define FLUID_MAX_EVENTS 256
#define FLUID_MAX_ROUNDS 4096

struct fluid {
    uint64_t start_us;
    uint64_t round_us[FLUID_MAX_ROUNDS];  /* when each round trip began, from the start */
    uint32_t round_cwnd[FLUID_MAX_ROUNDS];
    uint64_t delivered;                   /* bytes through the link */
    unsigned rounds, losses;
    unsigned loss_round[FLUID_MAX_EVENTS];
    uint32_t loss_cwnd[FLUID_MAX_EVENTS];   /* cwnd whose round overflowed the queue */
    uint64_t loss_us[FLUID_MAX_EVENTS];
    uint32_t low, high;                   /* cwnd range after the first loss */
};

static void fluid_start(struct fluid *f, struct conn *c)
{
    memset(f, 0, sizeof *f);
    f->start_us = c->v.now_us;
    f->low = UINT32_MAX;
}

/* cwnd in the round trip under way at t_us (from the start). */
static uint32_t fluid_cwnd_at(const struct fluid *f, uint64_t t_us)
{
    unsigned n = f->rounds < FLUID_MAX_ROUNDS ? f->rounds : FLUID_MAX_ROUNDS;
    uint32_t cwnd = 0;
    for (unsigned i = 0; i < n && f->round_us[i] <= t_us; i++)
        cwnd = f->round_cwnd[i];
    return cwnd;
}

/* One round trip of the whole window. A window above bdp + buffer overflows the queue: the loss
 * is seen by duplicate ACKs in that round trip (on_loss), repaired in the next one (during which
 * the reduced window flows), and recovery ends. Returns whether there was a loss. */
static bool fluid_round(struct conn *c, const struct path *p, struct fluid *f)
{
    uint32_t w = c->v.cwnd;
    uint32_t rtt = w > p->bdp ? (uint32_t)((uint64_t)p->base_rtt_us * w / p->bdp) : p->base_rtt_us;
    c->v.srtt_us = rtt;
    c->v.min_rtt_us = p->base_rtt_us;
    c->rtt_sample_us = rtt;
    if (f->rounds < FLUID_MAX_ROUNDS) {
        f->round_us[f->rounds] = c->v.now_us - f->start_us;
        f->round_cwnd[f->rounds] = w;
    }
    f->rounds++;
    if (f->losses) {
        f->low = w < f->low ? w : f->low;
        f->high = w > f->high ? w : f->high;
    }
    if (w <= p->bdp + p->buffer) {
        round_trip(c, MSS, rtt);
        f->delivered += w;
        return false;
    }
    if (f->losses < FLUID_MAX_EVENTS) {
        f->loss_round[f->losses] = f->rounds;
        f->loss_cwnd[f->losses] = w;
        f->loss_us[f->losses] = c->v.now_us - f->start_us;
    }
    f->losses++;
    c->v.flight = w;
    loss(c, CC_LOSS_FAST);
    c->v.now_us += rtt;
    f->delivered += p->bdp + p->buffer;
    c->v.in_recovery = true;
    uint32_t w2 = c->v.cwnd;
    if (f->rounds < FLUID_MAX_ROUNDS) {
        f->round_us[f->rounds] = c->v.now_us - f->start_us;
        f->round_cwnd[f->rounds] = w2;
    }
    f->rounds++;
    c->v.now_us += w2 > p->bdp ? (uint64_t)p->base_rtt_us * w2 / p->bdp : p->base_rtt_us;
    f->delivered += w2;
    recovery_exit(c);
    c->v.in_recovery = false;
    return true;
}

/* Link utilisation so far, in percent. */
static unsigned fluid_utilisation(const struct fluid *f, const struct conn *c, const struct path *p)
{
    uint64_t elapsed = c->v.now_us - f->start_us;
    return (unsigned)(f->delivered * 100 * p->base_rtt_us / ((uint64_t)p->bdp * elapsed));
}

static void test_fluid_newreno_sawtooth(void **state)
{
    (void)state;
    struct conn c;
    struct fluid f;
    /* 50 segments of BDP at 10 ms, a 25-segment buffer: losses above 75 segments. */
    const struct path p = { .bdp = SEG(50), .buffer = SEG(25), .base_rtt_us = 10 * MS };
    conn_open(&c, &cc_newreno, p.base_rtt_us);
    fluid_start(&f, &c);
    while (f.rounds < 400)
        fluid_round(&c, &p, &f);
    /* Slow start 10, 20, 40, 80: the first loss at 80 segments halves the flight to 40. */
    assert_int_equal(f.loss_cwnd[0], SEG(80));
    assert_int_equal(f.loss_round[0], 4);
    /* Then the sawtooth: +1 segment a round trip from 38 to 75, a loss at 76, halved to 38.
     * 38 rounds of growth + the lossy round + the recovery round: a 40-round period. */
    assert_true(f.losses >= 9);
    for (unsigned i = 1; i < f.losses; i++) {
        assert_int_equal(f.loss_cwnd[i], SEG(76));
        if (i >= 2)
            assert_int_equal(f.loss_round[i] - f.loss_round[i - 1], 40);
    }
    assert_int_equal(f.low, SEG(38));
    assert_int_equal(f.high, SEG(76));
    unsigned util = fluid_utilisation(&f, &c, &p);
    uint64_t period_us = f.loss_us[f.losses - 1] - f.loss_us[f.losses - 2];
    printf("newreno sawtooth (BDP 50 seg @ 10 ms, buffer 25): %u losses in %u rounds, cwnd "
           "%u..%u seg, period 40 rounds = %llu ms, utilisation %u%%\n", f.losses, f.rounds,
           f.low / MSS, f.high / MSS, (unsigned long long)period_us / 1000, util);
    assert_in_range(util, 90, 100);
}

/* CUBIC through the same kind of bottleneck: for each epoch (the time after a loss), K and W_max
 * read after its first round trip, when it began, and when cwnd was back at W_max (if it was). */
struct cubic_epochs {
    unsigned n;
    uint32_t k_ms[FLUID_MAX_EVENTS], w_max[FLUID_MAX_EVENTS];
    uint64_t start_us[FLUID_MAX_EVENTS];
    uint64_t reach_us[FLUID_MAX_EVENTS];   /* 0: the next loss came first */
};

static void fluid_run_cubic(struct conn *c, const struct path *p, struct fluid *f,
                            struct cubic_epochs *e, uint64_t duration_us)
{
    memset(e, 0, sizeof *e);
    bool fresh = false;
    uint64_t began = 0;
    while (c->v.now_us - f->start_us < duration_us) {
        if (fluid_round(c, p, f)) {
            began = c->v.now_us - f->start_us;   /* recovery is over: the epoch starts */
            fresh = true;
            continue;
        }
        uint32_t w_est;
        if (fresh && e->n < FLUID_MAX_EVENTS) {
            cc_cubic_peek(c->priv, &e->w_max[e->n], &e->k_ms[e->n], &w_est);
            e->start_us[e->n++] = began;
            fresh = false;
        }
        if (e->n && !e->reach_us[e->n - 1] && c->v.cwnd >= e->w_max[e->n - 1])
            e->reach_us[e->n - 1] = c->v.now_us - f->start_us - e->start_us[e->n - 1];
    }
}

/* The window's gain over [a, a + d] and over [a + d, a + 2d]. */
static void fluid_gains(const struct fluid *f, uint64_t a, uint64_t d, int64_t *first,
                        int64_t *second)
{
    int64_t w0 = fluid_cwnd_at(f, a), w1 = fluid_cwnd_at(f, a + d), w2 = fluid_cwnd_at(f, a + 2 * d);
    *first = w1 - w0;
    *second = w2 - w1;
}

/* Each epoch that got back to W_max did so in about K, concave (gains shrinking) and, if
 * `convex`, convex beyond it (gains growing until the next loss; on small windows the
 * Reno-friendly region takes over there instead). Returns how many epochs were checked. */
static unsigned check_cubic_epoch_shapes(const struct fluid *f, const struct cubic_epochs *e,
                                         uint32_t rtt_us, bool convex)
{
    unsigned shaped = 0;
    /* Epoch i follows loss i and ends with loss i + 1. */
    for (unsigned i = 0; i + 1 < e->n && i + 1 < f->losses; i++) {
        if (!e->reach_us[i])
            continue;
        uint64_t k_us = (uint64_t)e->k_ms[i] * 1000, start = e->start_us[i];
        /* RFC 9438: back at W_max K after the reduction (a round trip either way). */
        assert_in_range(e->reach_us[i], k_us - 2 * rtt_us, k_us + 2 * rtt_us);
        int64_t g1, g2;
        fluid_gains(f, start, k_us / 2, &g1, &g2);
        assert_true(g1 > 2 * g2);
        uint64_t after = f->loss_us[i + 1] - start - k_us;   /* K .. the loss ending it */
        fluid_gains(f, start + k_us, after / 2, &g1, &g2);
        if (convex)
            assert_true(g2 > 2 * g1);
        shaped++;
    }
    return shaped;
}

static void test_fluid_cubic_sawtooth(void **state)
{
    (void)state;
    struct conn c;
    static struct fluid f, reno;
    struct cubic_epochs e;
    /* 100 segments of BDP at 100 ms, a 20-segment buffer: losses above 120 segments. */
    const struct path p = { .bdp = SEG(100), .buffer = SEG(20), .base_rtt_us = 100 * MS };
    const uint32_t capacity = p.bdp + p.buffer;
    conn_open(&c, &cc_cubic, p.base_rtt_us);
    fluid_start(&f, &c);
    fluid_run_cubic(&c, &p, &f, &e, 120 * 1000 * MS);
    unsigned util = fluid_utilisation(&f, &c, &p);
    /* Slow start overshoots to 160 (no RTT rise before the buffer overflows in this model);
     * then every loss is within two segments above the capacity and takes cwnd to 0.7 of it. */
    assert_int_equal(f.loss_cwnd[0], SEG(160));
    assert_true(f.losses >= 10);
    for (unsigned i = 1; i < f.losses; i++)
        assert_in_range(f.loss_cwnd[i], capacity + 1, capacity + SEG(2));
    assert_in_range(f.low, capacity * 7 / 10, capacity * 7 / 10 + SEG(1));
    assert_true(f.high <= capacity + SEG(2));
    /* A loss below the last W_max (the first one after 160, then every other) lowers W_max by
     * fast convergence to 0.85 cwnd; the next epoch gets back to it in about K, then probes up to
     * the capacity (at 100 segments and 100 ms, W_est outgrows the convex curve: Reno-friendly
     * region); W_max is then the loss window again. */
    unsigned shaped = check_cubic_epoch_shapes(&f, &e, p.base_rtt_us, false);
    assert_true(shaped >= 5);
    for (unsigned i = 1; i < e.n; i++)
        if (e.w_max[i] < capacity)
            assert_in_range(e.w_max[i], capacity * 85 / 100, (capacity + SEG(2)) * 85 / 100);
    /* NewReno on the same path, for comparison: halving to 60 leaves the link idle a while. */
    conn_open(&c, &cc_newreno, p.base_rtt_us);
    fluid_start(&reno, &c);
    while (c.v.now_us - reno.start_us < 120 * 1000 * MS)
        fluid_round(&c, &p, &reno);
    unsigned reno_util = fluid_utilisation(&reno, &c, &p);
    printf("cubic sawtooth (BDP 100 seg @ 100 ms, buffer 20): %u losses in 120 s, cwnd %u..%u "
           "seg; epochs alternate K %u ms (W_max %u, back at it after %llu ms) and K %u ms "
           "(W_max %u, lost first); utilisation %u%% (newreno %u%%, %u losses)\n", f.losses,
           f.low / MSS, f.high / MSS, e.k_ms[e.n - 2], e.w_max[e.n - 2] / MSS,
           (unsigned long long)e.reach_us[e.n - 2] / 1000, e.k_ms[e.n - 1],
           e.w_max[e.n - 1] / MSS, util, reno_util, reno.losses);
    assert_true(util >= 95);
    assert_true(util > reno_util);
}

/* A large BDP: NewReno needs W/2 round trips to climb back after a loss, CUBIC about K seconds
 * whatever the RTT (K = cbrt(0.3 W / C)). */
static void test_fluid_cubic_beats_newreno_on_a_long_fat_path(void **state)
{
    (void)state;
    struct conn c;
    static struct fluid f, reno;
    struct cubic_epochs e;
    const struct path p = { .bdp = SEG(1000), .buffer = SEG(100), .base_rtt_us = 100 * MS };
    const uint64_t duration = 300ull * 1000 * MS;
    conn_open(&c, &cc_cubic, p.base_rtt_us);
    fluid_start(&f, &c);
    fluid_run_cubic(&c, &p, &f, &e, duration);
    unsigned util = fluid_utilisation(&f, &c, &p);
    assert_true(check_cubic_epoch_shapes(&f, &e, p.base_rtt_us, true) >= 5);
    conn_open(&c, &cc_newreno, p.base_rtt_us);
    fluid_start(&reno, &c);
    while (c.v.now_us - reno.start_us < duration)
        fluid_round(&c, &p, &reno);
    unsigned reno_util = fluid_utilisation(&reno, &c, &p);
    uint64_t reno_period = reno.loss_us[reno.losses - 1] - reno.loss_us[reno.losses - 2];
    uint64_t cubic_cycle = f.loss_us[f.losses - 1] - f.loss_us[f.losses - 3];   /* two epochs */
    printf("long fat path (BDP 1000 seg @ 100 ms, buffer 100): newreno %u losses, period %llu ms, "
           "cwnd %u..%u seg, utilisation %u%%; cubic %u losses, two-epoch cycle %llu ms, cwnd "
           "%u..%u seg, utilisation %u%%\n", reno.losses, (unsigned long long)reno_period / 1000,
           reno.low / MSS, reno.high / MSS, reno_util, f.losses,
           (unsigned long long)cubic_cycle / 1000, f.low / MSS, f.high / MSS, util);
    /* NewReno: 550 round trips (about 56 s) from 550 to 1100 segments; CUBIC goes through two
     * epochs (one with W_max lowered by fast convergence) in less than half that. */
    assert_true(reno_period > 50ull * 1000 * MS);
    assert_true(cubic_cycle < reno_period / 2);
    assert_true(util >= reno_util + 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find_by_name_and_alias),
        cmocka_unit_test(test_names_list_every_module_once),
        cmocka_unit_test(test_slow_start_counts_bytes_up_to_two_segments),
        cmocka_unit_test(test_slow_start_stops_at_ssthresh_and_returns_the_rest),
        cmocka_unit_test(test_additive_increase_adds_one_mss_per_w_bytes),
        cmocka_unit_test(test_reno_ssthresh_is_half_the_flight_at_least_two_segments),
        cmocka_unit_test(test_restart_window_is_min_of_iw_and_cwnd),
        cmocka_unit_test(test_newreno_slow_start_doubles_per_rtt),
        cmocka_unit_test(test_newreno_congestion_avoidance_adds_one_mss_per_window),
        cmocka_unit_test(test_newreno_does_not_grow_when_not_cwnd_limited_or_in_recovery),
        cmocka_unit_test(test_newreno_fast_loss_halves_flight_and_exit_deflates),
        cmocka_unit_test(test_newreno_rto_sets_loss_window_and_keeps_ssthresh_on_backoff),
        cmocka_unit_test(test_newreno_after_idle_restarts_from_restart_window),
        cmocka_unit_test(test_cubic_cbrt_is_the_floor_of_the_cube_root),
        cmocka_unit_test(test_cubic_k_matches_rfc9438_eqn2),
        cmocka_unit_test(test_cubic_window_matches_rfc9438_eqn1),
        cmocka_unit_test(test_cubic_loss_multiplies_by_beta_and_remembers_w_max),
        cmocka_unit_test(test_cubic_fast_convergence_lowers_w_max),
        cmocka_unit_test(test_cubic_rto_restarts_from_one_segment_with_k_zero),
        cmocka_unit_test(test_cubic_reno_friendly_region_dominates_at_short_rtt),
        cmocka_unit_test(test_cubic_app_limited_time_does_not_count),
        cmocka_unit_test(test_cubic_after_idle_restarts_and_opens_a_new_epoch),
        cmocka_unit_test(test_cubic_concave_then_plateau_then_convex),
        cmocka_unit_test(test_hystart_keeps_slow_start_while_the_rtt_is_flat),
        cmocka_unit_test(test_hystart_delay_increase_leads_through_css_to_ca),
        cmocka_unit_test(test_hystart_spurious_exit_resumes_slow_start),
        cmocka_unit_test(test_hystart_is_only_for_the_initial_slow_start),
        cmocka_unit_test(test_hystart_ignores_acks_without_rtt_samples),
        cmocka_unit_test(test_fluid_newreno_sawtooth),
        cmocka_unit_test(test_fluid_cubic_sawtooth),
        cmocka_unit_test(test_fluid_cubic_beats_newreno_on_a_long_fat_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
