/*
 * Common ground for the wire formats: parse results and big-endian field access.
 *
 * wire/ is stateless: every parser takes (pointer, length), checks every length before reading a
 * field, and either fills a host-order "repr" struct or returns a negative enum wire_err naming
 * what was wrong (the caller counts the drop under that reason). Every emitter writes a repr into
 * a caller's buffer of a given capacity and returns the bytes written, or 0 if it does not fit.
 * Nothing above wire/ reads raw header bytes.
 */
#ifndef UST_WIRE_WIRE_H
#define UST_WIRE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum wire_err {
    WIRE_OK = 0,
    WIRE_ETRUNC = -1,    /* buffer shorter than the header, or than a length the header declares */
    WIRE_EVERSION = -2,  /* wrong version field */
    WIRE_EHDRLEN = -3,   /* header length field below its minimum (IHL < 5, data offset < 5) */
    WIRE_ELEN = -4,      /* length fields that contradict each other */
    WIRE_ECSUM = -5,     /* checksum mismatch */
    WIRE_EOPT = -6,      /* malformed option (length 0 or 1, past the end, wrong size) */
    WIRE_EUNSUPP = -7,   /* well formed but not something we handle (e.g. ARP over non-Ethernet) */
};

#define WIRE_NERR 8

/* A short name for a parse result ("ok", "truncated", "bad-version", ...). */
const char *wire_strerror(int err);

static inline uint16_t wire_get16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t wire_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void wire_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void wire_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

#endif
