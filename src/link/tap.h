/*
 * The TAP link driver ("tap:IFNAME[,vnet=0]"); see tap.c for offloads and behaviour.
 */
#ifndef UST_LINK_TAP_H
#define UST_LINK_TAP_H

#include "link/link.h"
#include "link/open.h"

#define TAP_COUNTERS(X)                                                             \
    X(rx_empty, "reads that found the device empty (EAGAIN): what sparse mode saves")   \
    X(rx_csum_partial, "frames received with a checksum the kernel left unfinished")  \
    X(rx_gso, "TCP super-frames received (the kernel's segmentation left to us)")     \
    X(rx_gso_dropped, "dropped: super-frames of a kind we did not offer to take")     \
    X(rx_gso_nobufs, "dropped: super-frames that found no big buffer free")           \
    X(rx_bad_vnet, "dropped: a partial checksum placed outside the frame")              \
    X(rx_too_long, "dropped: frames longer than every buffer offered")               \
    X(tx_errors, "frames lost: the device refused them (interface down)")

CTR_DEFINE(tap_ctrs, TAP_COUNTERS)

/* Opens (creating if needed) the TAP device named in spec. Returns 0, -EINVAL, -ENODEV, -EPERM
 * (no CAP_NET_ADMIN), or another negative errno. */
int link_tap_open(const char *spec, const struct link_env *env, struct link **out);
const struct tap_ctrs *link_tap_counters(struct link *l);

#endif
