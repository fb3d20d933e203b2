/*
 * UDP headers (RFC 768).
 */
#ifndef UST_WIRE_UDP_H
#define UST_WIRE_UDP_H

#include "wire/wire.h"

#define UDP_HDR_LEN 8

struct udp_repr {
    uint16_t sport;
    uint16_t dport;
    uint16_t checksum;           /* as received (memory order); 0 means "not computed" */
    /* Filled by udp_parse; for udp_emit only payload_len is used. */
    const uint8_t *payload;
    size_t payload_len;          /* the UDP length field minus 8 */
};

/* Parses a datagram of `len` bytes (the IP payload): length field >= 8 and <= len (a shorter
 * length field wins: trailing bytes are ignored). Does not verify the checksum. */
int udp_parse(const uint8_t *buf, size_t len, struct udp_repr *out);

/* Writes the 8-byte header with length 8 + payload_len and a zero checksum (see
 * udp_set_checksum). Returns UDP_HDR_LEN, or 0 if cap is too small or the length overflows. */
size_t udp_emit(const struct udp_repr *r, uint8_t *buf, size_t cap);

/* Parses the UDP header quoted in an ICMP error: as udp_parse, but the length field may exceed
 * what is quoted (payload_len is what is there). */
int udp_parse_quoted(const uint8_t *buf, size_t len, struct udp_repr *out);

/* Stores a folded checksum (memory order, e.g. from csum_fold) into the header at buf, sending a
 * computed 0 as 0xffff. For callers that summed the payload while copying it. */
void udp_store_checksum(uint8_t *buf, uint16_t check);

/* `pseudo` is csum_ipv4_pseudo(src, dst, 17, len). A zero checksum field is accepted (RFC 768). */
bool udp_checksum_ok(const uint8_t *buf, size_t len, uint32_t pseudo);
/* Computes and stores the checksum of the whole datagram buf[0..len); a computed 0 is sent as
 * 0xffff (RFC 768). */
void udp_set_checksum(uint8_t *buf, size_t len, uint32_t pseudo);

#endif
