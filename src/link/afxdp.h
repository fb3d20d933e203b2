/*
 * The AF_XDP link driver ("afxdp:IFNAME[,queue=N][,zerocopy=0|1]"); see afxdp.c.
 *
 * Built only when libxdp and libbpf were found at configure time; otherwise afxdp_none.c
 * provides link_afxdp_open, which refuses with a message saying so.
 */
#ifndef UST_LINK_AFXDP_H
#define UST_LINK_AFXDP_H

#include "link/link.h"
#include "link/open.h"

#define AFXDP_COUNTERS(X)                                                           \
    X(rx_bad_desc, "dropped: receive descriptors for buffers the kernel did not hold") \
    X(comp_bad_desc, "completions for buffers the kernel did not hold (ignored)")    \
    X(fill_short, "receive bursts after which the fill ring could not be refilled")  \
    X(tx_copied, "frames copied into the pool before transmission (foreign buffer)") \
    X(tx_nobufs, "frames lost: a foreign frame too large for, or no buffer to copy into") \
    X(tx_kicks, "sendto() calls that told the kernel to transmit")                   \
    X(tx_kick_errors, "sendto() calls that failed with an unexpected errno")          \
    X(rx_kicks, "wake-ups of the kernel's receive side (fill ring needed it)")       \
    X(xsk_rx_dropped, "kernel: frames dropped (XDP_STATISTICS rx_dropped)")          \
    X(xsk_rx_ring_full, "kernel: frames dropped because the rx ring was full")        \
    X(xsk_fill_empty, "kernel: frames dropped because the fill ring was empty")      \
    X(xsk_tx_invalid, "kernel: transmit descriptors it refused as invalid")

CTR_DEFINE(afxdp_ctrs, AFXDP_COUNTERS)

/* True if this build includes the AF_XDP driver. */
extern const int link_afxdp_built;

/* Binds an AF_XDP socket to queue N (default 0) of an existing interface, with the stack's
 * packet pool (env->pool) as its UMEM. zerocopy=1 asks for zero-copy and fails if the interface
 * cannot; zerocopy=0 uses copy mode; without the option zero-copy is tried first and copy mode
 * used (with a log line saying why) if the interface refuses it. Returns 0, -EINVAL,
 * -ENODEV, -EPROTONOSUPPORT (built without AF_XDP), or the kernel's errno. */
int link_afxdp_open(const char *spec, const struct link_env *env, struct link **out);
/* The driver's counters, with the kernel's XDP_STATISTICS read now. */
const struct afxdp_ctrs *link_afxdp_counters(struct link *l);
/* 1 if the socket is bound in zero-copy mode, 0 in copy mode. */
int link_afxdp_zerocopy(struct link *l);

#endif
