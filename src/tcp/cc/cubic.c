/*
 * CUBIC congestion control (RFC 9438), with HyStart++ (RFC 9406) in the initial slow start.
 *
 * After a congestion event CUBIC grows cwnd along W_cubic(t) = C (t - K)^3 + W_max (4.2): fast
 * right after the reduction, flattening out (concave, 4.4) as it nears the window where the loss
 * happened, then probing beyond it ever faster (convex, 4.5). A Reno estimate W_est (4.3) keeps it
 * at least as fast as Reno where Reno does well (short RTTs, small windows). Losses cut cwnd and
 * ssthresh to beta_cubic = 0.7 of cwnd (4.6), with fast convergence (4.7); a timeout restarts from
 * one segment with K = 0 (4.8). Below ssthresh: byte-counted slow start (cc_slow_start), with
 * HyStart++ watching the RTT to leave the first slow start before it overshoots.
 *
 * Arithmetic is integer only. Windows are bytes; the cubic is evaluated with t and K in
 * milliseconds (2^-10 s is what Linux uses; ms keeps the figures readable), which is finer than
 * any change it could make to a window. Times come from the view (now_us, srtt_us, min_rtt_us).
 *
 * Entry point: the cc_cubic ops table. All state lives in the TCB's private area (struct cubic);
 * every hook writes both fields of `out`, starting from the view.
 */
#include "tcp/cc/cc.h"

#include <string.h>

/* RFC 9438 4.1.1 constants as exact fractions. */
#define CUBIC_BETA_NUM 7u        /* beta_cubic = 0.7 (4.6) */
#define CUBIC_BETA_DEN 10u
#define CUBIC_FC_NUM 17u         /* fast convergence: W_max = cwnd (1 + beta_cubic) / 2 (4.7) */
#define CUBIC_FC_DEN 20u
#define CUBIC_ALPHA_NUM 9u       /* alpha_cubic = 3 (1 - beta_cubic) / (1 + beta_cubic) = 9/17 */
#define CUBIC_ALPHA_DEN 17u
/* C = 0.4 segments/s^3. With t in ms: C (t/1000)^3 segments = t^3 * 2 * MSS / 5e9 bytes. */
#define CUBIC_CUBE_DIV UINT64_C(5000000000)
/* ... and for K (eqn 2): K^3 = D / (C * MSS) s^3 = D * 2.5e9 / MSS ms^3 for D bytes. */
#define CUBIC_K_MUL UINT64_C(2500000000)
/* |t - K| is clamped so that its cube fits in 63 bits (about 35 minutes). */
#define CUBIC_OFFS_MAX_MS ((UINT64_C(1) << 21) - 1)

/* RFC 9406 4.3 HyStart++ constants (times in microseconds). */
#define HS_MIN_RTT_THRESH_US 4000u
#define HS_MAX_RTT_THRESH_US 16000u
#define HS_MIN_RTT_DIVISOR 8u
#define HS_N_RTT_SAMPLE 8u
#define HS_CSS_GROWTH_DIVISOR 4u
#define HS_CSS_ROUNDS 5u
#define HS_NO_RTT UINT32_MAX     /* "infinity" */

enum hs_phase {
    HS_OFF,      /* not the initial slow start any more: plain slow start below ssthresh */
    HS_SS,       /* initial slow start, watching the RTT */
    HS_CSS,      /* Conservative Slow Start */
};

struct hystart {
    uint32_t last_round_min_rtt;   /* lastRoundMinRTT, us */
    uint32_t round_min_rtt;        /* currentRoundMinRTT, us */
    uint32_t css_baseline;         /* cssBaselineMinRtt, us */
    uint32_t round_left;           /* bytes to be acknowledged before the round ends */
    uint8_t samples;               /* rttSampleCount (saturates) */
    uint8_t css_rounds;            /* rounds ended while in CSS */
    uint8_t phase;                 /* enum hs_phase */
};

struct cubic {
    uint64_t epoch_us;      /* t_epoch, slid forward over application-limited periods (5.8) */
    uint64_t last_ack_us;   /* when on_ack last ran */
    uint32_t w_max;         /* W_max, bytes; 0: none (K = 0 from the next epoch's cwnd) */
    uint32_t k_ms;          /* K of the current epoch */
    uint32_t cwnd_prior;    /* cwnd when ssthresh was last set; 0: never */
    uint32_t w_est;         /* W_est, the Reno estimate (4.3) */
    uint32_t est_credit;    /* bytes acked toward W_est's next MSS */
    uint32_t credit;        /* remainder of acked * (target - cwnd) / cwnd, below cwnd */
    struct hystart hs;
    bool in_epoch;          /* a congestion avoidance stage is under way: epoch_us, k_ms valid */
    bool rto_pending;       /* an RTO set ssthresh and no new data has been acked since */
};
_Static_assert(sizeof(struct cubic) <= CC_PRIV_SIZE, "cubic state exceeds CC_PRIV_SIZE");

/* Exported for tests/unit/test_cc.c, which declares them too (cc.h is the modules' interface and
 * stays free of CUBIC internals). */
uint32_t cc_cubic_cbrt(uint64_t x);
uint32_t cc_cubic_k_ms(uint32_t w_max, uint32_t cwnd_epoch, uint32_t mss);
uint32_t cc_cubic_w(uint32_t w_max, uint32_t k_ms, uint64_t t_ms, uint32_t mss);
void cc_cubic_peek(const void *priv, uint32_t *w_max, uint32_t *k_ms, uint32_t *w_est);

/* ---- Arithmetic ---- */

static uint32_t add_sat(uint32_t a, uint64_t b)
{
    uint64_t sum = (uint64_t)a + b;
    return sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
}

static uint32_t max_u32(uint32_t a, uint32_t b)
{
    return a > b ? a : b;
}

/* floor(cbrt(x)) by Newton's iteration y' = (2y + x / y^2) / 3 on integers. Started above the
 * root, the iterates fall strictly until they reach floor(cbrt(x)), where the next one stops
 * falling (the AM-GM inequality keeps every iterate at or above the root). */
uint32_t cc_cubic_cbrt(uint64_t x)
{
    if (x == 0)
        return 0;
    unsigned bits = 64 - (unsigned)__builtin_clzll(x);
    uint64_t y = UINT64_C(1) << ((bits + 2) / 3);   /* 2^ceil(bits/3) > cbrt(x) */
    for (;;) {
        uint64_t next = (2 * y + x / (y * y)) / 3;
        if (next >= y)
            return (uint32_t)y;
        y = next;
    }
}

/* RFC 9438 4.2 eqn 2: K = cbrt((W_max - cwnd_epoch) / C), here in ms. 0 when cwnd_epoch is at or
 * above W_max. (W_max - cwnd_epoch) < 2^32 keeps the product below 2^64. */
uint32_t cc_cubic_k_ms(uint32_t w_max, uint32_t cwnd_epoch, uint32_t mss)
{
    if (w_max <= cwnd_epoch || mss == 0)
        return 0;
    return cc_cubic_cbrt((uint64_t)(w_max - cwnd_epoch) * CUBIC_K_MUL / mss);
}

/* RFC 9438 4.2 eqn 1: W_cubic(t) = C (t - K)^3 + W_max, in bytes, t and K in ms. */
uint32_t cc_cubic_w(uint32_t w_max, uint32_t k_ms, uint64_t t_ms, uint32_t mss)
{
    if (mss > UINT16_MAX)   /* a TCP MSS is 16 bits; the bound keeps the products in range */
        mss = UINT16_MAX;
    uint64_t offs = t_ms >= k_ms ? t_ms - k_ms : k_ms - t_ms;
    if (offs > CUBIC_OFFS_MAX_MS)
        offs = CUBIC_OFFS_MAX_MS;
    uint64_t cube = offs * offs * offs;
    /* cube * 2 * mss / CUBIC_CUBE_DIV, in two parts so that no product overflows */
    uint64_t delta = cube / CUBIC_CUBE_DIV * 2 * mss + cube % CUBIC_CUBE_DIV * 2 * mss / CUBIC_CUBE_DIV;
    if (t_ms >= k_ms)
        return add_sat(w_max, delta);
    return delta < w_max ? w_max - (uint32_t)delta : 0;
}

/* ---- State ---- */

/* The private area is a byte array with no alignment promise: copy the state in and out. */
static struct cubic cubic_load(const void *priv)
{
    struct cubic c;
    memcpy(&c, priv, sizeof c);
    return c;
}

static void cubic_store(void *priv, const struct cubic *c)
{
    memcpy(priv, c, sizeof *c);
}

void cc_cubic_peek(const void *priv, uint32_t *w_max, uint32_t *k_ms, uint32_t *w_est)
{
    struct cubic c = cubic_load(priv);
    *w_max = c.w_max;
    *k_ms = c.k_ms;
    *w_est = c.w_est;
}

static void out_from_view(const struct cc_view *v, struct cc_out *out)
{
    out->cwnd = v->cwnd;
    out->ssthresh = v->ssthresh;
}

/* The RTT of 4.2's target: the smoothed RTT, else the lowest seen, else none yet. */
static uint32_t cubic_rtt_us(const struct cc_view *v)
{
    return v->srtt_us ? v->srtt_us : v->min_rtt_us;
}

/* ---- HyStart++ (RFC 9406 4.2), initial slow start only ---- */

static void hystart_reset(struct hystart *hs)
{
    *hs = (struct hystart){
        .last_round_min_rtt = HS_NO_RTT,
        .round_min_rtt = HS_NO_RTT,
        .css_baseline = HS_NO_RTT,
        .phase = HS_SS,
    };
}

/* A round ends when the ACK for windowEnd (SND.NXT when the round began) arrives. The view has no
 * sequence numbers, but reaching windowEnd means acknowledging what was in flight when the round
 * began, so the round is counted down in acknowledged bytes. */
static void hystart_count_round(struct hystart *hs, const struct cc_view *v, uint32_t acked)
{
    if (acked < hs->round_left) {
        hs->round_left -= acked;
        return;
    }
    hs->last_round_min_rtt = hs->round_min_rtt;
    hs->round_min_rtt = HS_NO_RTT;
    hs->samples = 0;
    hs->round_left = v->flight;
    if (hs->phase == HS_CSS && hs->css_rounds < UINT8_MAX)
        hs->css_rounds++;
}

static void hystart_sample(struct hystart *hs, uint32_t rtt_us)
{
    if (rtt_us == 0)
        return;   /* no sample on this ACK (Karn) */
    if (rtt_us < hs->round_min_rtt)
        hs->round_min_rtt = rtt_us;
    if (hs->samples < UINT8_MAX)
        hs->samples++;
    if (hs->samples < HS_N_RTT_SAMPLE)
        return;
    if (hs->phase == HS_SS) {
        if (hs->last_round_min_rtt == HS_NO_RTT)
            return;
        /* RttThresh = max(MIN_RTT_THRESH, min(lastRoundMinRTT / MIN_RTT_DIVISOR, MAX_RTT_THRESH)) */
        uint32_t thresh = hs->last_round_min_rtt / HS_MIN_RTT_DIVISOR;
        if (thresh > HS_MAX_RTT_THRESH_US)
            thresh = HS_MAX_RTT_THRESH_US;
        if (thresh < HS_MIN_RTT_THRESH_US)
            thresh = HS_MIN_RTT_THRESH_US;
        if (hs->round_min_rtt >= (uint64_t)hs->last_round_min_rtt + thresh) {
            hs->css_baseline = hs->round_min_rtt;   /* the delay grew: leave slow start for CSS */
            hs->css_rounds = 0;
            hs->phase = HS_CSS;
        }
    } else if (hs->round_min_rtt < hs->css_baseline) {
        hs->css_baseline = HS_NO_RTT;   /* the RTT fell back: the exit was spurious */
        hs->phase = HS_SS;
    }
}

/* Slow start or CSS for one ACK; returns the bytes left over for congestion avoidance. */
static uint32_t hystart_on_ack(struct hystart *hs, const struct cc_view *v, uint32_t acked,
                               uint32_t rtt_us, struct cc_out *out)
{
    hystart_count_round(hs, v, acked);
    if (hs->phase == HS_CSS && hs->css_rounds >= HS_CSS_ROUNDS) {
        /* CSS_ROUNDS rounds in CSS: congestion avoidance from here on, ssthresh = cwnd. */
        hs->phase = HS_OFF;
        out->ssthresh = out->cwnd;
        return acked;
    }
    uint32_t left;
    if (hs->phase == HS_CSS) {
        /* cwnd += min(N, L * SMSS) / CSS_GROWTH_DIVISOR */
        struct cc_out ss = *out;
        left = cc_slow_start(v, acked, &ss);
        out->cwnd += (ss.cwnd - out->cwnd) / HS_CSS_GROWTH_DIVISOR;
    } else {
        left = cc_slow_start(v, acked, out);
    }
    hystart_sample(hs, rtt_us);
    return left;
}

/* ---- Congestion avoidance (RFC 9438 4.2 - 4.5) ---- */

/* A congestion avoidance stage begins (4.2): t_epoch = now, cwnd_epoch = cwnd. */
static void cubic_epoch_start(struct cubic *c, const struct cc_view *v, uint32_t cwnd)
{
    c->in_epoch = true;
    c->epoch_us = v->now_us;
    c->hs.phase = HS_OFF;       /* the initial slow start is over */
    c->w_est = cwnd;            /* 4.3: W_est = cwnd_epoch */
    c->est_credit = 0;
    c->credit = 0;
    if (c->cwnd_prior == 0)     /* 4.10: the first slow start ended without a loss */
        c->cwnd_prior = cwnd;
    if (c->w_max <= cwnd) {
        /* 4.8 (after a timeout) and 4.10 (no loss yet): K = 0, W_max = cwnd_epoch. ustack (like
         * Linux) does the same whenever cwnd_epoch is already at or above W_max. */
        c->w_max = cwnd;
        c->k_ms = 0;
    } else {
        c->k_ms = cc_cubic_k_ms(c->w_max, cwnd, v->mss);
    }
}

/* 4.3 eqn 4 in bytes: W_est += alpha_cubic * acked * MSS / cwnd, i.e. one MSS of W_est per
 * cwnd / alpha_cubic bytes acked. alpha_cubic becomes 1 once W_est has reached cwnd_prior. */
static void cubic_grow_w_est(struct cubic *c, const struct cc_view *v, uint32_t acked,
                             uint32_t cwnd)
{
    uint64_t w = cwnd;
    if (c->w_est < c->cwnd_prior)
        w = w * CUBIC_ALPHA_DEN / CUBIC_ALPHA_NUM;
    struct cc_out est = { .cwnd = c->w_est };
    cc_additive_increase(v, w > UINT32_MAX ? UINT32_MAX : (uint32_t)w, acked, &c->est_credit, &est);
    c->w_est = est.cwnd;
}

/* 4.2: target = W_cubic(t + RTT), kept within [cwnd, 1.5 cwnd]. */
static uint32_t cubic_target(const struct cubic *c, uint64_t t_us, uint32_t cwnd, uint32_t mss)
{
    uint32_t w = cc_cubic_w(c->w_max, c->k_ms, t_us / 1000, mss);
    uint32_t hi = add_sat(cwnd, cwnd / 2);
    return w < cwnd ? cwnd : w > hi ? hi : w;
}

static void cubic_avoid(struct cubic *c, const struct cc_view *v, uint32_t acked,
                        struct cc_out *out)
{
    if (!c->in_epoch)
        cubic_epoch_start(c, v, out->cwnd);
    uint64_t t_us = v->now_us > c->epoch_us ? v->now_us - c->epoch_us : 0;
    cubic_grow_w_est(c, v, acked, out->cwnd);
    /* 4.3 Reno-friendly region: W_cubic(t) < W_est, and cwnd follows W_est. */
    if (cc_cubic_w(c->w_max, c->k_ms, t_us / 1000, v->mss) < c->w_est) {
        out->cwnd = max_u32(out->cwnd, c->w_est);
        return;
    }
    /* 4.4 concave (cwnd < W_max) and 4.5 convex (cwnd >= W_max) regions: the same rule, cwnd +=
     * (target - cwnd) / cwnd per acked segment. Counted in bytes, that is acked * (target - cwnd)
     * / cwnd bytes, the remainder carried to the next ACK: cwnd follows the curve byte by byte
     * instead of in whole segments, and never passes the target. */
    uint32_t cwnd = out->cwnd;
    uint32_t target = cubic_target(c, t_us + cubic_rtt_us(v), cwnd, v->mss);
    if (target > cwnd && cwnd > 0) {
        uint64_t scaled = (uint64_t)acked * (target - cwnd) + c->credit;
        uint64_t grow = scaled / cwnd;
        c->credit = (uint32_t)(scaled % cwnd);
        out->cwnd = grow < target - cwnd ? cwnd + (uint32_t)grow : target;
    }
}

/* 4.2 and 5.8: t leaves out application-limited periods, during which cwnd does not grow: slide
 * the epoch forward by the time since the previous ACK. */
static void cubic_app_limited(struct cubic *c, const struct cc_view *v)
{
    if (c->in_epoch && v->now_us > c->last_ack_us)
        c->epoch_us += v->now_us - c->last_ack_us;
    if (c->epoch_us > v->now_us)
        c->epoch_us = v->now_us;
}

/* ---- Hooks ---- */

static void cubic_init(void *priv, const struct cc_view *v, struct cc_out *out)
{
    (void)out;   /* RFC 6928's initial window and the initial ssthresh stand */
    struct cubic c = { .last_ack_us = v->now_us };
    hystart_reset(&c.hs);
    cubic_store(priv, &c);
}

static void cubic_on_ack(void *priv, const struct cc_view *v, uint32_t acked, uint32_t rtt_us,
                         struct cc_out *out)
{
    struct cubic c = cubic_load(priv);
    out_from_view(v, out);
    c.rto_pending = false;   /* new data acked: a later RTO is about a new segment */
    if (v->in_recovery) {
        /* TCP does not call on_ack in recovery; nothing to decide if it does */
    } else if (!v->cwnd_limited) {
        cubic_app_limited(&c, v);   /* 5.8: no growth while the application limits the flow */
    } else {
        if (out->cwnd < out->ssthresh)
            acked = c.hs.phase == HS_OFF ? cc_slow_start(v, acked, out)
                                         : hystart_on_ack(&c.hs, v, acked, rtt_us, out);
        if (acked > 0 && out->cwnd >= out->ssthresh)
            cubic_avoid(&c, v, acked, out);
    }
    c.last_ack_us = v->now_us;
    cubic_store(priv, &c);
}

/* 4.6 multiplicative decrease, 4.7 fast convergence, 4.8 timeout. */
static void cubic_on_loss(void *priv, const struct cc_view *v, enum cc_loss kind,
                          struct cc_out *out)
{
    struct cubic c = cubic_load(priv);
    out_from_view(v, out);
    c.in_epoch = false;   /* the next congestion avoidance stage starts a new epoch */
    c.credit = 0;
    c.est_credit = 0;
    c.hs.phase = HS_OFF;  /* RFC 9406 4.2: loss ends HyStart++; ssthresh is set below */
    if (kind == CC_LOSS_RTO && c.rto_pending) {
        /* RFC 5681 3.1: the timer fired again for the same segment: ssthresh and W_max stay. */
        out->cwnd = v->mss;
        cubic_store(priv, &c);
        return;
    }
    uint32_t cwnd = v->cwnd;
    /* 4.7: a loss below the last W_max means the share is shrinking: release more. */
    if (cwnd < c.w_max)
        c.w_max = (uint32_t)((uint64_t)cwnd * CUBIC_FC_NUM / CUBIC_FC_DEN);
    else
        c.w_max = cwnd;
    c.cwnd_prior = cwnd;
    /* 4.6: ssthresh = cwnd * beta_cubic (cwnd rather than flight size, as Linux: growth stops
     * while the flow is not cwnd-limited, which 4.6 requires of implementations doing so). */
    uint32_t reduced = (uint32_t)((uint64_t)cwnd * CUBIC_BETA_NUM / CUBIC_BETA_DEN);
    out->ssthresh = max_u32(reduced, 2 * v->mss);
    switch (kind) {
    case CC_LOSS_RTO:
        /* 4.8: cwnd as Reno (RFC 5681 3.1 loss window, one segment); the next congestion
         * avoidance stage has K = 0 and W_max = its cwnd_epoch. */
        out->cwnd = v->mss;
        c.w_max = 0;
        c.rto_pending = true;
        break;
    case CC_LOSS_ECN:
        out->cwnd = max_u32(reduced, v->mss);   /* 4.6: at least 1 MSS on ECE */
        break;
    case CC_LOSS_FAST:
    default:
        out->cwnd = max_u32(reduced, 2 * v->mss);   /* 4.6: at least 2 MSS on loss */
        break;
    }
    cubic_store(priv, &c);
}

static void cubic_on_recovery_exit(void *priv, const struct cc_view *v, struct cc_out *out)
{
    struct cubic c = cubic_load(priv);
    out_from_view(v, out);
    out->cwnd = v->ssthresh;   /* RFC 6675 / RFC 6582: recovery ends at ssthresh */
    c.in_epoch = false;        /* 4.2: the congestion avoidance stage starts now */
    cubic_store(priv, &c);
}

static void cubic_after_idle(void *priv, const struct cc_view *v, struct cc_out *out)
{
    struct cubic c = cubic_load(priv);
    out_from_view(v, out);
    /* As newreno: ssthresh = max(ssthresh, 3/4 cwnd) (RFC 2861 3, Linux), cwnd = restart window
     * (RFC 5681 4.1). The idle time must not count in t (5.8): the growth after the restart is a
     * new slow start and then a new epoch, with the W_max learnt before. */
    uint32_t three_quarters = (uint32_t)((uint64_t)v->cwnd * 3 / 4);
    out->ssthresh = max_u32(out->ssthresh, three_quarters);
    out->cwnd = cc_restart_window(v);
    c.in_epoch = false;
    c.credit = 0;
    c.est_credit = 0;
    if (c.hs.phase != HS_OFF)   /* still the initial slow start: watch the RTT afresh */
        hystart_reset(&c.hs);
    cubic_store(priv, &c);
}

const struct cc_ops cc_cubic = {
    .name = "cubic",
    .init = cubic_init,
    .on_ack = cubic_on_ack,
    .on_loss = cubic_on_loss,
    .on_recovery_exit = cubic_on_recovery_exit,
    .after_idle = cubic_after_idle,
};
