/*
 * ICMP for IPv4 (RFC 792, RFC 1122 3.2.2, RFC 1191 for "fragmentation needed" with MTU).
 */
#ifndef UST_WIRE_ICMP_H
#define UST_WIRE_ICMP_H

#include "wire/wire.h"

#define ICMP_HDR_LEN 8

enum icmp_type {
    ICMP_ECHO_REPLY = 0,
    ICMP_DEST_UNREACH = 3,
    ICMP_SOURCE_QUENCH = 4,
    ICMP_REDIRECT = 5,
    ICMP_ECHO_REQUEST = 8,
    ICMP_TIME_EXCEEDED = 11,
    ICMP_PARAM_PROBLEM = 12,
    ICMP_TIMESTAMP = 13,
    ICMP_TIMESTAMP_REPLY = 14,
};

enum icmp_unreach_code {
    ICMP_NET_UNREACH = 0,
    ICMP_HOST_UNREACH = 1,
    ICMP_PROTO_UNREACH = 2,
    ICMP_PORT_UNREACH = 3,
    ICMP_FRAG_NEEDED = 4,
    ICMP_SR_FAILED = 5,
    ICMP_NET_UNKNOWN = 6,
    ICMP_HOST_UNKNOWN = 7,
    ICMP_NET_PROHIBITED = 9,
    ICMP_HOST_PROHIBITED = 10,
    ICMP_ADMIN_PROHIBITED = 13,
};

struct icmp_repr {
    uint8_t type;
    uint8_t code;
    uint32_t rest;               /* the 4 "rest of header" bytes, host order; helpers below */
    /* Filled by icmp_parse; for icmp_emit, the data to copy after the header. */
    const uint8_t *data;         /* echo payload, or the quoted datagram of an error */
    size_t data_len;
};

/* Parses an ICMP message of `len` bytes (the IPv4 payload): at least 8 bytes, checksum over the
 * whole message correct. The type is not judged here. */
int icmp_parse(const uint8_t *buf, size_t len, struct icmp_repr *out);

/* As icmp_parse without the checksum: for messages we are about to (re)write ourselves, such as
 * a ping socket's request, whose checksum the application need not have computed. */
int icmp_parse_header(const uint8_t *buf, size_t len, struct icmp_repr *out);

/* Writes the header followed by data_len bytes of data (data may already be in place at
 * buf + 8), with the checksum. Returns 8 + data_len, or 0 if cap is too small. */
size_t icmp_emit(const struct icmp_repr *r, uint8_t *buf, size_t cap);

/* Error messages quote the datagram that caused them (RFC 1122 3.2.2). */
static inline bool icmp_is_error(uint8_t type)
{
    return type == ICMP_DEST_UNREACH || type == ICMP_SOURCE_QUENCH || type == ICMP_REDIRECT ||
           type == ICMP_TIME_EXCEEDED || type == ICMP_PARAM_PROBLEM;
}

static inline uint16_t icmp_echo_id(const struct icmp_repr *r) { return (uint16_t)(r->rest >> 16); }
static inline uint16_t icmp_echo_seq(const struct icmp_repr *r) { return (uint16_t)r->rest; }
/* RFC 1191: next-hop MTU of a "fragmentation needed" message (0 from pre-RFC 1191 routers). */
static inline uint16_t icmp_next_hop_mtu(const struct icmp_repr *r) { return (uint16_t)r->rest; }
static inline uint8_t icmp_param_pointer(const struct icmp_repr *r) { return (uint8_t)(r->rest >> 24); }

#endif
