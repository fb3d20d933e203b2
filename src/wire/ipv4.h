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

#include "wire/wire.h"

#define IPV4_HDR_LEN 20
#define IPV4_MAX_HDR_LEN 60
#define IPV4_MAX_LEN 65535

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

/* Parses a datagram of `len` bytes (the Ethernet payload): version 4, IHL >= 5, header within
 * len, total_len >= header and <= len (a longer frame is Ethernet padding: the payload is cut to
 * total_len), options well formed, header checksum correct. On failure *out is unspecified. */
int ipv4_parse(const uint8_t *buf, size_t len, struct ipv4_repr *out);

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
