/*
 * IPv4 headers (RFC 791, RFC 1122 3.2.1).
 *
 * Options are not interpreted but their TLV structure is walked within the header so that a
 * malformed list is refused (WIRE_EOPT) instead of trusted; fragments are recognised (offset and
 * MF) and left to the reassembler.
 */
#ifndef UST_WIRE_IPV4_H
#define UST_WIRE_IPV4_H

#include <netinet/in.h>   /* IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP */

#include "wire/checksum.h"
#include "wire/wire.h"

#define IPV4_HDR_LEN 20
#define IPV4_MAX_HDR_LEN 60
#define IPV4_MAX_LEN 65535

#define IPV4_VERSION 4
#define IPV4_FLAG_DF 0x4000
#define IPV4_FLAG_MF 0x2000
#define IPV4_FRAG_MASK 0x1fff        /* the offset, in units of 8 bytes */

#define IPV4_OPT_EOL 0
#define IPV4_OPT_NOP 1

struct ipv4_repr {
    uint32_t src;                /* host order */
    uint32_t dst;                /* host order */
    uint8_t protocol;
    uint8_t ttl;
    uint8_t tos;                 /* DSCP << 2 | ECN */
    bool df;                     /* don't fragment */
    bool mf;                     /* more fragments */
    uint16_t id;
    uint16_t frag_off;           /* fragment offset in bytes (the field times 8) */
    uint8_t hdr_len;             /* 20..60 */
    uint16_t total_len;          /* header and payload, as in the header */
    /* Filled by the parsers; ignored by ipv4_emit except payload_len. */
    const uint8_t *options;
    uint8_t options_len;
    const uint8_t *payload;
    uint16_t payload_len;        /* ipv4_emit writes total_len = 20 + payload_len */
};

/* ipv4_parse for any header (the case ipv4_parse does not inline). */
int ipv4_parse_full(const uint8_t *buf, size_t len, struct ipv4_repr *out);

/* Fills every field of r but payload_len from a header of hdr_len bytes (already checked to lie
 * in the buffer). With the constant 20 of the common case the option fields cost nothing. */
static inline __attribute__((always_inline)) void
ipv4_fill_(const uint8_t *buf, size_t hdr_len, struct ipv4_repr *r)
{
    uint16_t frag = wire_get16(buf + 6);
    /* Field by field: every one is set, so nothing needs clearing first. */
    r->src = wire_get32(buf + 12);
    r->dst = wire_get32(buf + 16);
    r->protocol = buf[9];
    r->ttl = buf[8];
    r->tos = buf[1];
    r->df = (frag & IPV4_FLAG_DF) != 0;
    r->mf = (frag & IPV4_FLAG_MF) != 0;
    r->id = wire_get16(buf + 4);
    r->frag_off = (uint16_t)((frag & IPV4_FRAG_MASK) * 8);
    r->hdr_len = (uint8_t)hdr_len;
    r->total_len = wire_get16(buf + 2);
    r->options = hdr_len > IPV4_HDR_LEN ? buf + IPV4_HDR_LEN : NULL;
    r->options_len = (uint8_t)(hdr_len - IPV4_HDR_LEN);
    r->payload = buf + hdr_len;
    r->payload_len = 0;
}

/* Parses a datagram of `len` bytes (the Ethernet payload): version 4, IHL >= 5, header within
 * len, total_len >= header and <= len (a longer frame is Ethernet padding: the payload is cut to
 * total_len), options well formed, header checksum correct. On failure *out is unspecified.
 * Inline for the common header (no options: first byte 0x45), where the same checks need no
 * loop; any other goes to ipv4_parse_full. */
static inline int ipv4_parse(const uint8_t *buf, size_t len, struct ipv4_repr *out)
{
    if (len < IPV4_HDR_LEN || buf[0] != (IPV4_VERSION << 4 | IPV4_HDR_LEN / 4))
        return ipv4_parse_full(buf, len, out);
    ipv4_fill_(buf, IPV4_HDR_LEN, out);
    /* RFC 1122 3.2.1.2 and RFC 791 3.1: the checksum covers the header only; a header that
     * sums to 0xffff (folds to 0) is intact. Checked before the lengths, as Linux does, so a
     * corrupted length field is counted as corruption. */
    if (csum_fold(csum_partial_20(buf)) != 0)
        return WIRE_ECSUM;
    if (out->total_len < IPV4_HDR_LEN)
        return WIRE_ELEN;
    /* Bytes after total_len are link padding (Ethernet pads frames to 60 bytes); fewer bytes
     * than total_len means the datagram was cut. */
    if (out->total_len > len)
        return WIRE_ETRUNC;
    out->payload_len = (uint16_t)(out->total_len - IPV4_HDR_LEN);
    return WIRE_OK;
}

/* Parses the datagram header quoted in an ICMP error: as ipv4_parse, but without checking the
 * checksum, and total_len may exceed len (the quote is cut short): payload_len is what is there. */
int ipv4_parse_quoted(const uint8_t *buf, size_t len, struct ipv4_repr *out);

/* Writes a 20-byte header (no options) with its checksum. Returns IPV4_HDR_LEN, or 0 if cap is
 * too small or 20 + payload_len exceeds IPV4_MAX_LEN. */
size_t ipv4_emit(const struct ipv4_repr *r, uint8_t *buf, size_t cap);

static inline bool ipv4_is_fragment(const struct ipv4_repr *r)
{
    return r->mf || r->frag_off != 0;
}

#endif
