/*
 * Software segmentation offload: a middleware that gives any link the transmit offloads of a
 * NIC (LINK_OFF_TSO4, LINK_OFF_SG, LINK_OFF_TX_CSUM, LINK_TX_SYNC) by doing their work itself,
 * as the kernel's GSO does for a device without them.
 *
 * Entry points: link_gso_create() wraps a link; link_gso_segment() is the segmenter alone.
 *
 * What it does to each transmitted frame (Ethernet + IPv4 + TCP or UDP):
 * - a TCP super-frame (gso_size set) is cut into segments of gso_size payload bytes, each with
 *   the headers repeated, the IPv4 total length, identification (+1 per segment) and header
 *   checksum rewritten, the sequence number advanced, FIN and PSH only on the last segment and
 *   CWR only on the first (as a NIC and Linux's tcp_gso_segment do), and a full TCP checksum;
 * - any other frame whose checksum is partial gets it completed;
 * - every frame is copied into fresh buffers of the middleware's pool, so the caller may hand it
 *   shared packets and ->frag chains (that is what LINK_TX_SYNC and LINK_OFF_SG promise).
 * A frame it cannot handle (not IPv4/TCP with gso_size, headers past the first buffer, a
 * segment that would not fit a buffer) is dropped and counted.
 *
 * The packet tests use it on the loop link to check exactly what a stack sending super-frames
 * puts on the wire; a real NIC or the kernel behind TAP does the same in hardware or in GSO.
 *
 * OWNERSHIP: as link.h. The wrapped link is destroyed with the middleware.
 */
#ifndef UST_LINK_GSO_H
#define UST_LINK_GSO_H

#include "base/counters.h"
#include "base/pkt.h"
#include "link/link.h"

#define GSO_COUNTERS(X)                                                             \
    X(superframes, "super-frames cut into segments")                                \
    X(segments, "segments made from super-frames")                                  \
    X(csum_completed, "partial checksums completed")                                \
    X(dropped, "frames dropped: not a super-frame we can cut, or no buffer")

CTR_DEFINE(gso_ctrs, GSO_COUNTERS)

/* Wraps inner; frames are rebuilt in buffers from pool. Returns 0 or -EINVAL / -ENOMEM. */
int link_gso_create(struct link *inner, struct pkt_pool *pool, struct link **out);

/* Cuts (or, for an ordinary frame, copies) frame p into at most max frames in out, allocated from
 * pool, with complete checksums. Borrows p. Returns the number of frames made, or a negative
 * errno (-EINVAL: a frame it cannot cut; -ENOBUFS; -EMSGSIZE: more than max segments). */
int link_gso_segment(const struct pkt *p, struct pkt_pool *pool, struct pkt **out, unsigned max);

const struct gso_ctrs *link_gso_counters(struct link *l);

#endif
