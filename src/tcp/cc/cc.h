/*
 * Congestion control: a small table of operations per algorithm, chosen per socket by name
 * (TCP_CONGESTION) or per stack (the tcp_cc option).
 *
 * A module never sees the TCB. Each hook gets a read-only view of the connection (struct
 * cc_view), the module's own private state, and writes its decision (the new cwnd and ssthresh)
 * into struct cc_out, which TCP applies. Hooks may be NULL. The standard building blocks
 * (slow start, additive increase, Reno's ssthresh) are exported so modules compose them, the
 * way CUBIC falls back to Reno-friendly growth.
 *
 * Units: bytes for windows, microseconds for times.
 */
#ifndef UST_TCP_CC_H
#define UST_TCP_CC_H

#include <stdbool.h>
#include <stdint.h>

#define CC_NAME_MAX 16
#define CC_PRIV_SIZE 64

struct cc_view {
    uint32_t cwnd;             /* current congestion window */
    uint32_t ssthresh;         /* current slow-start threshold */
    uint32_t mss;              /* sender maximum segment size */
    uint32_t flight;           /* bytes in flight (RFC 6675 "pipe" during recovery) */
    uint32_t srtt_us;          /* smoothed RTT, 0 before the first sample */
    uint32_t min_rtt_us;       /* lowest RTT seen, 0 before the first sample */
    uint64_t now_us;
    bool in_recovery;
    bool cwnd_limited;         /* the last flight was limited by cwnd, not by the application */
};

struct cc_out {
    uint32_t cwnd;
    uint32_t ssthresh;
};

enum cc_loss {
    CC_LOSS_FAST,              /* loss detected by duplicate ACKs or SACK: fast recovery */
    CC_LOSS_RTO,               /* retransmission timeout */
    CC_LOSS_ECN,               /* congestion experienced (ECE) */
};

struct cc_ops {
    const char *name;
    /* Sets the initial window (out arrives holding RFC 6928's 10 segments). */
    void (*init)(void *priv, const struct cc_view *v, struct cc_out *out);
    /* New data acknowledged outside recovery. */
    void (*on_ack)(void *priv, const struct cc_view *v, uint32_t acked, uint32_t rtt_us,
                   struct cc_out *out);
    /* Loss detected: set ssthresh (and cwnd for an RTO). */
    void (*on_loss)(void *priv, const struct cc_view *v, enum cc_loss kind, struct cc_out *out);
    /* Fast recovery ended (RFC 5681 3.2 step 6 / RFC 6675 5). */
    void (*on_recovery_exit)(void *priv, const struct cc_view *v, struct cc_out *out);
    /* Sending resumed after an idle period longer than the RTO (RFC 5681 4.1). */
    void (*after_idle)(void *priv, const struct cc_view *v, struct cc_out *out);
};

/* The module called `name`, or NULL. */
const struct cc_ops *cc_find(const char *name);
/* Comma-separated names of every module, for help and TCP_CONGESTION errors. */
const char *cc_names(void);

/* ---- Building blocks (RFC 5681) ---- */

/* RFC 5681 3.1 with RFC 3465 byte counting (L = 2 segments): cwnd grows by what was acked, but
 * not past ssthresh. Returns the bytes of `acked` left over once ssthresh is reached. */
uint32_t cc_slow_start(const struct cc_view *v, uint32_t acked, struct cc_out *out);
/* Additive increase: about one `mss` per window of w bytes acknowledged (RFC 5681 3.1 eqn 3,
 * byte-counted). `credit` carries partial progress between calls (module state). */
void cc_additive_increase(const struct cc_view *v, uint32_t w, uint32_t acked, uint32_t *credit,
                          struct cc_out *out);
/* RFC 5681 eqn 4: ssthresh = max(flight / 2, 2 * mss). */
uint32_t cc_reno_ssthresh(const struct cc_view *v);
/* RFC 5681 4.1 restart window: min(initial window, cwnd). */
uint32_t cc_restart_window(const struct cc_view *v);

extern const struct cc_ops cc_newreno;
extern const struct cc_ops cc_cubic;

#endif
