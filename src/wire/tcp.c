/*
 * TCP headers and options (see tcp.h for the parse policy and the emitted layout).
 *
 * Header (RFC 9293 3.1): source and destination ports, sequence number, acknowledgment number,
 * data offset (4 bits) with 4 control bits (3 reserved, then AE) and 8 more control bits,
 * window, checksum, urgent pointer, then options up to data offset * 4.
 */
#include "wire/tcp.h"

#include <assert.h>

#include "wire/checksum.h"

/* Option lengths, counting kind and length bytes. */
#define TCPOLEN_MSS 4                /* RFC 9293 3.2 */
#define TCPOLEN_WSCALE 3             /* RFC 7323 2.2 */
#define TCPOLEN_SACK_PERM 2          /* RFC 2018 2 */
#define TCPOLEN_SACK_BASE 2          /* RFC 2018 3: 2 + 8 per block */
#define TCPOLEN_SACK_BLOCK 8
#define TCPOLEN_TIMESTAMP 10         /* RFC 7323 3.2 */

#define TCP_FLAGS_LOW_MASK 0xff      /* CWR ECE URG ACK PSH RST SYN FIN, byte 13 */
#define TCP_FLAG_AE_BIT 0x01         /* in byte 12, below the data offset */

/* ---- Parsing ---- */

static int tcp_parse_sack(const uint8_t *opt, uint8_t olen, struct tcp_options *o)
{
    /* RFC 2018 3: length 2 + 8n with n >= 1; the 40-byte option space bounds n by 4. */
    if (olen < TCPOLEN_SACK_BASE + TCPOLEN_SACK_BLOCK ||
        (olen - TCPOLEN_SACK_BASE) % TCPOLEN_SACK_BLOCK != 0)
        return WIRE_EOPT;
    unsigned n = (unsigned)(olen - TCPOLEN_SACK_BASE) / TCPOLEN_SACK_BLOCK;
    if (n > TCP_MAX_SACK_BLOCKS)
        return WIRE_EOPT;
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *b = opt + TCPOLEN_SACK_BASE + i * TCPOLEN_SACK_BLOCK;
        o->sack[i].start = wire_get32(b);
        o->sack[i].end = wire_get32(b + 4);
    }
    o->sack_count = (uint8_t)n;
    o->present |= TCP_HAS_SACK;
    return WIRE_OK;
}

/* One option of kind opt[0] and a length olen already checked to lie within the option space.
 * A known kind with the wrong length is malformed; unknown kinds are skipped. */
static int tcp_parse_option(const uint8_t *opt, uint8_t olen, struct tcp_options *o)
{
    switch (opt[0]) {
    case TCP_OPT_MSS:
        if (olen != TCPOLEN_MSS)
            return WIRE_EOPT;
        o->mss = wire_get16(opt + 2);
        o->present |= TCP_HAS_MSS;
        return WIRE_OK;
    case TCP_OPT_WSCALE:
        if (olen != TCPOLEN_WSCALE)
            return WIRE_EOPT;
        o->wscale = opt[2];
        o->present |= TCP_HAS_WSCALE;
        return WIRE_OK;
    case TCP_OPT_SACK_PERM:
        if (olen != TCPOLEN_SACK_PERM)
            return WIRE_EOPT;
        o->present |= TCP_HAS_SACK_PERM;
        return WIRE_OK;
    case TCP_OPT_SACK:
        return tcp_parse_sack(opt, olen, o);
    case TCP_OPT_TIMESTAMP:
        if (olen != TCPOLEN_TIMESTAMP)
            return WIRE_EOPT;
        o->ts_val = wire_get32(opt + 2);
        o->ts_ecr = wire_get32(opt + 6);
        o->present |= TCP_HAS_TIMESTAMP;
        return WIRE_OK;
    default:
        return WIRE_OK;
    }
}

/* RFC 9293 3.2: an option is a single kind byte (EOL, NOP) or kind, length (counting both),
 * data. EOL ends the list and the rest is padding. RFC 1122 4.2.2.5 wants any length handled
 * without crashing; we refuse the segment (see tcp.h). */
static int tcp_parse_options(const uint8_t *opt, size_t len, struct tcp_options *o)
{
    size_t i = 0;
    while (i < len) {
        uint8_t kind = opt[i];
        if (kind == TCP_OPT_EOL)
            break;
        if (kind == TCP_OPT_NOP) {
            i++;
            continue;
        }
        if (len - i < 2)
            return WIRE_EOPT;            /* no room for the length byte */
        uint8_t olen = opt[i + 1];
        if (olen < 2 || olen > len - i)
            return WIRE_EOPT;            /* would not advance, or runs past the header */
        int err = tcp_parse_option(opt + i, olen, o);
        if (err)
            return err;
        i += olen;
    }
    return WIRE_OK;
}

int tcp_parse_full(const uint8_t *buf, size_t len, struct tcp_repr *out)
{
    if (len < TCP_HDR_LEN)
        return WIRE_ETRUNC;
    size_t hdr_len = (size_t)(buf[12] >> 4) * 4;
    if (hdr_len < TCP_HDR_LEN)           /* RFC 9293 3.1: data offset is at least 5 */
        return WIRE_EHDRLEN;
    if (hdr_len > len)
        return WIRE_ETRUNC;
    tcp_fill_(buf, len, hdr_len, out);
    if (hdr_len == TCP_HDR_LEN + 12 && wire_get32(buf + TCP_HDR_LEN) == TCP_TS_ALIGNED) {
        tcp_fill_ts_(buf, &out->opt);
        return WIRE_OK;
    }
    return tcp_parse_options(buf + TCP_HDR_LEN, hdr_len - TCP_HDR_LEN, &out->opt);
}

/* ---- Emitting ----
 *
 * Linux's layout (tcp_options_write()), every option group 4-byte aligned by NOPs so no EOL or
 * trailing padding is ever needed:
 *   MSS                       02 04 mm mm
 *   SACK-permitted + TS       04 02 08 0a vvvv eeee      (when both)
 *   or timestamps alone       01 01 08 0a vvvv eeee
 *   SACK-permitted alone      01 01 04 02
 *   window scale              01 03 03 ss
 *   SACK blocks               01 01 05 ll (ssss eeee)*n
 */
#define TCP_MSS_SPACE 4
#define TCP_TS_SPACE 12
#define TCP_SACK_PERM_SPACE 4
#define TCP_WSCALE_SPACE 4
#define TCP_SACK_SPACE(n) (4 + TCPOLEN_SACK_BLOCK * (n))

static size_t tcp_options_len(const struct tcp_options *o)
{
    size_t n = 0;
    if (o->present & TCP_HAS_MSS)
        n += TCP_MSS_SPACE;
    if (o->present & TCP_HAS_TIMESTAMP)
        n += TCP_TS_SPACE;         /* carries SACK-permitted in its first two bytes if set */
    else if (o->present & TCP_HAS_SACK_PERM)
        n += TCP_SACK_PERM_SPACE;
    if (o->present & TCP_HAS_WSCALE)
        n += TCP_WSCALE_SPACE;
    if (o->present & TCP_HAS_SACK)
        n += TCP_SACK_SPACE(o->sack_count);
    return n;
}

size_t tcp_header_len(const struct tcp_repr *r)
{
    const struct tcp_options *o = &r->opt;
    if ((o->present & TCP_HAS_SACK) &&
        (o->sack_count == 0 || o->sack_count > TCP_MAX_SACK_BLOCKS))
        return 0;
    size_t n = tcp_options_len(o);
    return n > TCP_MAX_OPT_LEN ? 0 : TCP_HDR_LEN + n;
}

static uint8_t *put4(uint8_t *p, uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    p[0] = a;
    p[1] = b;
    p[2] = c;
    p[3] = d;
    return p + 4;
}

static uint8_t *tcp_emit_options(const struct tcp_options *o, uint8_t *p)
{
    if (o->present & TCP_HAS_MSS) {
        p = put4(p, TCP_OPT_MSS, TCPOLEN_MSS, 0, 0);
        wire_put16(p - 2, o->mss);
    }
    if (o->present & TCP_HAS_TIMESTAMP) {
        if (o->present & TCP_HAS_SACK_PERM)
            p = put4(p, TCP_OPT_SACK_PERM, TCPOLEN_SACK_PERM, TCP_OPT_TIMESTAMP,
                     TCPOLEN_TIMESTAMP);
        else
            p = put4(p, TCP_OPT_NOP, TCP_OPT_NOP, TCP_OPT_TIMESTAMP, TCPOLEN_TIMESTAMP);
        wire_put32(p, o->ts_val);
        wire_put32(p + 4, o->ts_ecr);
        p += 8;
    } else if (o->present & TCP_HAS_SACK_PERM) {
        p = put4(p, TCP_OPT_NOP, TCP_OPT_NOP, TCP_OPT_SACK_PERM, TCPOLEN_SACK_PERM);
    }
    if (o->present & TCP_HAS_WSCALE)
        p = put4(p, TCP_OPT_NOP, TCP_OPT_WSCALE, TCPOLEN_WSCALE, o->wscale);
    if (o->present & TCP_HAS_SACK) {
        p = put4(p, TCP_OPT_NOP, TCP_OPT_NOP, TCP_OPT_SACK,
                 (uint8_t)(TCPOLEN_SACK_BASE + TCPOLEN_SACK_BLOCK * o->sack_count));
        for (unsigned i = 0; i < o->sack_count; i++) {
            wire_put32(p, o->sack[i].start);
            wire_put32(p + 4, o->sack[i].end);
            p += TCPOLEN_SACK_BLOCK;
        }
    }
    return p;
}

size_t tcp_emit(const struct tcp_repr *r, uint8_t *buf, size_t cap)
{
    size_t hdr_len = tcp_header_len(r);
    if (hdr_len == 0 || cap < hdr_len)
        return 0;
    wire_put16(buf, r->sport);
    wire_put16(buf + 2, r->dport);
    wire_put32(buf + 4, r->seq);
    wire_put32(buf + 8, r->ack);
    buf[12] = (uint8_t)(hdr_len / 4 << 4 | ((r->flags >> 8) & TCP_FLAG_AE_BIT));
    buf[13] = (uint8_t)(r->flags & TCP_FLAGS_LOW_MASK);
    wire_put16(buf + 14, r->window);
    wire_put16(buf + 16, 0);
    wire_put16(buf + 18, r->urgent);
    uint8_t *end = tcp_emit_options(&r->opt, buf + TCP_HDR_LEN);
    assert(end == buf + hdr_len);       /* tcp_options_len and tcp_emit_options agree */
    (void)end;
    return hdr_len;
}

/* ---- Checksum (RFC 9293 3.1: over the pseudo-header, the header and the data) ---- */

bool tcp_checksum_ok(const uint8_t *buf, size_t len, uint32_t pseudo)
{
    if (len < TCP_HDR_LEN)
        return false;
    return csum_fold(csum_partial(buf, len, pseudo)) == 0;
}

void tcp_set_checksum(uint8_t *buf, size_t len, uint32_t pseudo)
{
    if (len < TCP_HDR_LEN)
        return;
    wire_put16(buf + 16, 0);
    uint16_t check = csum_fold(csum_partial(buf, len, pseudo));
    memcpy(buf + 16, &check, sizeof check);
}

void tcp_store_checksum(uint8_t *buf, uint16_t check)
{
    memcpy(buf + 16, &check, sizeof check);   /* RFC 9293 3.1: bytes 16-17 of the header */
}

int tcp_parse_quoted(const uint8_t *buf, size_t len, struct tcp_repr *out)
{
    /* RFC 792: an ICMP error quotes 8 bytes of the segment: ports and sequence number. */
    if (len < 8)
        return WIRE_ETRUNC;
    *out = (struct tcp_repr){ .sport = wire_get16(buf), .dport = wire_get16(buf + 2),
                              .seq = wire_get32(buf + 4) };
    return WIRE_OK;
}
