/*
 * TCP headers and options (RFC 9293 3.1; MSS RFC 9293 3.7.1; window scale and timestamps RFC 7323;
 * SACK RFC 2018).
 *
 * Parsing: every option is length-checked. EOL ends the list; NOP is skipped; unknown options are
 * skipped by their length; an option with length 0 or 1, a length running past the header, or a
 * known option with the wrong length is malformed and the segment is refused (WIRE_EOPT): RFC
 * 1122 4.2.2.5 asks only that an illegal length not crash us, and dropping such a segment is what
 * a hostile-input policy wants. (Linux stops parsing instead; we count the drop.) A repeated
 * option: the last one wins.
 *
 * Emitting: options are laid out in the order and with the padding Linux uses, so ustack looks
 * like the stack users know on the wire:
 *   SYN:  MSS, SACK-permitted + timestamps (or NOP NOP timestamps), NOP NOP SACK-permitted (if no
 *         timestamps), NOP window scale
 *   data: NOP NOP timestamps, NOP NOP SACK blocks
 */
#ifndef UST_WIRE_TCP_H
#define UST_WIRE_TCP_H

#include "wire/wire.h"

#define TCP_HDR_LEN 20
#define TCP_MAX_HDR_LEN 60
#define TCP_MAX_OPT_LEN 40
#define TCP_MAX_SACK_BLOCKS 4

enum tcp_flag {
    TCP_FIN = 0x001,
    TCP_SYN = 0x002,
    TCP_RST = 0x004,
    TCP_PSH = 0x008,
    TCP_ACK = 0x010,
    TCP_URG = 0x020,
    TCP_ECE = 0x040,
    TCP_CWR = 0x080,
    TCP_AE = 0x100,              /* the former NS bit (RFC 3540, historic), now AccECN's */
};

enum tcp_opt_kind {
    TCP_OPT_EOL = 0,
    TCP_OPT_NOP = 1,
    TCP_OPT_MSS = 2,
    TCP_OPT_WSCALE = 3,
    TCP_OPT_SACK_PERM = 4,
    TCP_OPT_SACK = 5,
    TCP_OPT_TIMESTAMP = 8,
};

/* Which options a repr carries (bits of tcp_options.present). */
enum tcp_opt_bit {
    TCP_HAS_MSS = 1u << 0,
    TCP_HAS_WSCALE = 1u << 1,
    TCP_HAS_SACK_PERM = 1u << 2,
    TCP_HAS_SACK = 1u << 3,
    TCP_HAS_TIMESTAMP = 1u << 4,
};

struct tcp_sack_block {
    uint32_t start;              /* left edge */
    uint32_t end;                /* right edge: first sequence number after the block */
};

struct tcp_options {
    uint8_t present;             /* enum tcp_opt_bit */
    uint8_t wscale;              /* shift as received (the receiver clamps to 14, RFC 7323 2.3) */
    uint16_t mss;
    uint8_t sack_count;          /* 1..4 when TCP_HAS_SACK */
    struct tcp_sack_block sack[TCP_MAX_SACK_BLOCKS];
    uint32_t ts_val;
    uint32_t ts_ecr;
};

struct tcp_repr {
    uint16_t sport;
    uint16_t dport;
    uint32_t seq;
    uint32_t ack;
    uint16_t flags;              /* enum tcp_flag */
    uint16_t window;             /* as on the wire (unscaled) */
    uint16_t urgent;
    uint16_t checksum;           /* as received (memory order) */
    uint8_t hdr_len;             /* data offset * 4: 20..60 */
    struct tcp_options opt;
    /* Filled by tcp_parse; ignored by tcp_emit. */
    const uint8_t *payload;
    size_t payload_len;
};

/* tcp_parse for any header (the case tcp_parse does not inline). */
int tcp_parse_full(const uint8_t *buf, size_t len, struct tcp_repr *out);

/* The fixed header's fields, and no options yet. Filled field by field rather than from a
 * compound literal: the SACK blocks are read only up to sack_count, so the 32 bytes of them
 * need no clearing on every segment. */
static inline __attribute__((always_inline)) void
tcp_fill_(const uint8_t *buf, size_t len, size_t hdr_len, struct tcp_repr *out)
{
    out->sport = wire_get16(buf);
    out->dport = wire_get16(buf + 2);
    out->seq = wire_get32(buf + 4);
    out->ack = wire_get32(buf + 8);
    out->flags = (uint16_t)((buf[12] & 0x01) << 8 | buf[13]);   /* AE below the data offset */
    out->window = wire_get16(buf + 14);
    memcpy(&out->checksum, buf + 16, sizeof out->checksum);
    out->urgent = wire_get16(buf + 18);
    out->hdr_len = (uint8_t)hdr_len;
    out->payload = buf + hdr_len;
    out->payload_len = len - hdr_len;
    struct tcp_options *o = &out->opt;
    o->present = 0;
    o->wscale = 0;
    o->mss = 0;
    o->sack_count = 0;
    o->ts_val = 0;
    o->ts_ecr = 0;
}

/* The layout Linux (and every stack that copies it) puts on all but the handshake's segments:
 * NOP, NOP, timestamp (RFC 7323 appendix A), read at once without walking the options. */
#define TCP_TS_ALIGNED 0x0101080au   /* NOP NOP kind 8 length 10, as a big-endian word */

static inline __attribute__((always_inline)) void
tcp_fill_ts_(const uint8_t *buf, struct tcp_options *o)
{
    o->ts_val = wire_get32(buf + TCP_HDR_LEN + 4);
    o->ts_ecr = wire_get32(buf + TCP_HDR_LEN + 8);
    o->present = TCP_HAS_TIMESTAMP;
}

/* Parses a segment of `len` bytes (the IP payload): data offset >= 5 and within len, options
 * well formed. Does not verify the checksum (see tcp_checksum_ok). On failure *out is
 * unspecified. Inline for the header of nearly every segment after the handshake (NOP, NOP,
 * timestamp, see TCP_TS_ALIGNED); any other goes to tcp_parse_full. */
static inline int tcp_parse(const uint8_t *buf, size_t len, struct tcp_repr *out)
{
    size_t hdr_len = TCP_HDR_LEN + 12;
    if (len < hdr_len || buf[12] >> 4 != hdr_len / 4 ||
        wire_get32(buf + TCP_HDR_LEN) != TCP_TS_ALIGNED)
        return tcp_parse_full(buf, len, out);
    tcp_fill_(buf, len, hdr_len, out);
    tcp_fill_ts_(buf, &out->opt);
    return WIRE_OK;
}

/* Reads what an ICMP error quotes of a segment (RFC 792: its first 8 bytes): sport, dport and
 * seq; the other fields are zero. */
int tcp_parse_quoted(const uint8_t *buf, size_t len, struct tcp_repr *out);

/* The header length tcp_emit will write for r (20 plus options, padded to 4), or 0 if the
 * options do not fit in 40 bytes. */
size_t tcp_header_len(const struct tcp_repr *r);

/* Writes the header and options with a zero checksum. Returns the header length, or 0 if cap is
 * too small or the options do not fit. r->hdr_len is ignored (computed). */
size_t tcp_emit(const struct tcp_repr *r, uint8_t *buf, size_t cap);

/* `pseudo` is csum_ipv4_pseudo(src, dst, 6, len). */
bool tcp_checksum_ok(const uint8_t *buf, size_t len, uint32_t pseudo);
/* Computes and stores the checksum of the whole segment buf[0..len). */
void tcp_set_checksum(uint8_t *buf, size_t len, uint32_t pseudo);
/* Stores an already folded checksum (memory order) into the header at buf, for callers that
 * summed the payload while copying it. */
void tcp_store_checksum(uint8_t *buf, uint16_t check);

#endif
