/*
 * The AF_PACKET link driver ("afpacket:IFNAME"); see afpacket.c.
 */
#ifndef UST_LINK_AFPACKET_H
#define UST_LINK_AFPACKET_H

#include "link/link.h"
#include "link/open.h"

#define AFPACKET_COUNTERS(X)                                                        \
    X(rx_csum_partial, "frames received with a checksum the kernel left unfinished")  \
    X(rx_truncated, "dropped: frames longer than a ring slot")                      \
    X(rx_ring_drops, "frames the kernel dropped because the ring was full")         \
    X(tx_errors, "frames lost: sendmmsg failed for them")

CTR_DEFINE(afpacket_ctrs, AFPACKET_COUNTERS)

/* Binds to an existing interface. Returns 0, -EINVAL, -ENODEV, -EPERM, or a negative errno. */
int link_afpacket_open(const char *spec, const struct link_env *env, struct link **out);
const struct afpacket_ctrs *link_afpacket_counters(struct link *l);

#endif
