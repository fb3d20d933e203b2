/*
 * Helpers for the link packet tests: hand-written Ethernet/IPv4/UDP frames (no dependency on
 * wire/), frames numbered through their payload so that order, loss and duplication can be read
 * back, and draining a link.
 */
#ifndef UST_TESTS_LINKTEST_H
#define UST_TESTS_LINKTEST_H

#include <stddef.h>
#include <stdint.h>

#include "base/pkt.h"
#include "link/link.h"

#define LT_HDR_LEN 42u           /* Ethernet 14 + IPv4 20 + UDP 8 */
#define LT_MIN_FRAME 60u         /* Ethernet minimum without FCS */

struct lt_udp {
    uint8_t src_mac[6];
    uint8_t dst_mac[6];
    uint32_t src_ip;             /* host order */
    uint32_t dst_ip;
    uint16_t sport;
    uint16_t dport;
    const void *payload;
    size_t payload_len;
};

/* Writes an Ethernet/IPv4/UDP frame (valid IPv4 header checksum, UDP checksum 0) into buf and
 * returns its length. */
size_t lt_udp_frame(uint8_t *buf, size_t cap, const struct lt_udp *u);

/* The bytes of numbered frame `seq`, `len` bytes long (>= LT_MIN_FRAME): a UDP frame between two
 * fixed hosts whose payload starts with seq (big endian) followed by a pattern derived from seq. */
void lt_seq_bytes(uint8_t *buf, uint32_t seq, size_t len);
/* A packet from pool holding lt_seq_bytes(seq, len). */
struct pkt *lt_seq_frame(struct pkt_pool *pool, uint32_t seq, size_t len);
/* The number carried by a frame made by lt_seq_frame. */
uint32_t lt_frame_seq(const struct pkt *p);

/* Receives from l until it returns 0 (or max frames), storing the frames; returns the count.
 * A negative rx_burst answer fails the test. */
unsigned lt_rx_all(struct link *l, struct pkt **out, unsigned max);
/* Same, freeing each frame after storing its number in seqs. */
unsigned lt_rx_seqs(struct link *l, uint32_t *seqs, unsigned max);
/* Transmits frames first..first+count-1 of length len in bursts of up to `burst`, asserting that
 * every frame is accepted. */
void lt_tx_seqs(struct link *l, struct pkt_pool *pool, uint32_t first, unsigned count,
                size_t len, unsigned burst);

#endif
