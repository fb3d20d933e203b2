/*
 * The AF_PACKET link driver ("afpacket:IFNAME[,vnet=0]"); see afpacket.c for offloads and
 * behaviour.
 */
#ifndef UST_LINK_AFPACKET_H
#define UST_LINK_AFPACKET_H

#include "link/link.h"
#include "link/open.h"

#define AFPACKET_COUNTERS(X)                                                        \
    X(rx_csum_partial, "frames received with a checksum the kernel left unfinished")  \
    X(rx_gso, "TCP super-frames received (the kernel's segmentation left to us)")     \
    X(rx_copied, "frames longer than a ring slot read whole from the socket queue")  \
    X(rx_gso_dropped, "dropped: super-frames of a kind we do not take (not TCP/IPv4)")  \
    X(rx_gso_nobufs, "dropped: super-frames that found no big buffer free")           \
    X(rx_bad_vnet, "dropped: a partial checksum placed outside the frame")            \
    X(rx_copy_missing, "ring slots marked copied whose frame was not queued")        \
    X(rx_truncated, "dropped: frames longer than a ring slot, not queued whole")    \
    X(rx_ring_drops, "frames the kernel dropped because the ring was full")         \
    X(tx_errors, "frames lost: sendmmsg failed for them")

CTR_DEFINE(afpacket_ctrs, AFPACKET_COUNTERS)

/* Binds to an existing interface. Returns 0, -EINVAL, -ENODEV, -EPERM, or a negative errno. */
int link_afpacket_open(const char *spec, const struct link_env *env, struct link **out);
const struct afpacket_ctrs *link_afpacket_counters(struct link *l);

#endif
