/*
 * Packet capture: a link middleware that wraps any link (same vtable) and writes every frame
 * received or transmitted through it to a classic pcap file (pcap_file.h), readable by tcpdump,
 * tshark and Wireshark, then passes the frame on unchanged.
 *
 * Entry point: link_pcap_create(). Timestamps come from the given clock, read once per burst (a
 * fake clock gives exact, reproducible capture times). Both directions go to the same file in the
 * order the calls happen; classic pcap has no direction field.
 *
 * Only what really crossed is recorded: on receive, the frames the inner link returned; on
 * transmit, only the frames the inner link accepted. Because an accepted frame belongs to the
 * inner link at once (it may already be freed or on another core), tx_burst copies each frame
 * (up to the snap length) into a staging buffer made at creation before handing the burst down,
 * and writes the records of the accepted prefix afterwards.
 *
 * Write errors (a full disk) are counted in write_errors and never affect traffic.
 *
 * OWNERSHIP: as link.h; the middleware never keeps a frame. destroy closes the file and destroys
 * the inner link. link_pcap_create() takes ownership of `inner` only when it succeeds.
 */
#ifndef UST_LINK_PCAP_H
#define UST_LINK_PCAP_H

#include "base/clock.h"
#include "link/link.h"

#define PCAP_COUNTERS(X)                                                            \
    X(records, "frames written to the capture file")                                \
    X(write_errors, "frames not written because the file could not be written")

CTR_DEFINE(pcap_ctrs, PCAP_COUNTERS)

/* Wraps inner, capturing to `path` (created or truncated). Returns 0, -EINVAL, -ENOMEM, or the
 * negative errno of creating the file (the caller then still owns inner). */
int link_pcap_create(struct link *inner, const char *path, struct clk *clock, struct link **out);

/* Pushes buffered records to the file, so that a reader sees everything captured so far.
 * Returns 0 or a negative errno (also counted). l must be a pcap link. */
int link_pcap_flush(struct link *l);

/* Capture counters, named "<link name>.pcap". */
const struct pcap_ctrs *link_pcap_counters(struct link *l);
struct ctr_group link_pcap_ctr_group(struct link *l);

#endif
