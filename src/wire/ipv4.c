/*
 * IPv4 headers (see ipv4.h): ipv4_parse for received datagrams, ipv4_parse_quoted for the
 * datagram an ICMP error quotes, ipv4_emit for a 20-byte header without options.
 *
 * Layout (RFC 791 3.1): version and IHL, type of service, total length, identification, flags
 * and fragment offset, TTL, protocol, header checksum, source, destination, options.
 */
#include "wire/ipv4.h"

#include "wire/checksum.h"

/* RFC 791 3.1 "Options": a single-byte option (End of Option List, No Operation), or type,
 * length (counting type and length, so at least 2), data. EOL ends the list; what follows it
 * is padding. A length below 2 or running past the header is malformed. */
static int ipv4_walk_options(const uint8_t *opt, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t type = opt[i];
        if (type == IPV4_OPT_EOL)
            return WIRE_OK;
        if (type == IPV4_OPT_NOP) {
            i++;
            continue;
        }
        if (len - i < 2)
            return WIRE_EOPT;
        uint8_t olen = opt[i + 1];
        if (olen < 2 || olen > len - i)
            return WIRE_EOPT;
        i += olen;
    }
    return WIRE_OK;
}

/* What both parsers check first: the fixed header, the version, IHL and the whole header
 * inside the buffer. Fills everything but payload_len. */
static int ipv4_parse_header(const uint8_t *buf, size_t len, struct ipv4_repr *r)
{
    if (len < IPV4_HDR_LEN)
        return WIRE_ETRUNC;
    if (buf[0] >> 4 != IPV4_VERSION)
        return WIRE_EVERSION;
    size_t hdr_len = (size_t)(buf[0] & 0x0f) * 4;
    if (hdr_len < IPV4_HDR_LEN)            /* RFC 791 3.1: IHL is at least 5 */
        return WIRE_EHDRLEN;
    if (hdr_len > len)
        return WIRE_ETRUNC;
    ipv4_fill_(buf, hdr_len, r);
    return WIRE_OK;
}

/* The checks after the header's: total_len within the buffer, options well formed. */
static int ipv4_check_lengths(const uint8_t *buf, size_t len, struct ipv4_repr *out)
{
    if (out->total_len < out->hdr_len)
        return WIRE_ELEN;
    /* Bytes after total_len are link padding (Ethernet pads frames to 60 bytes); fewer bytes
     * than total_len means the datagram was cut. */
    if (out->total_len > len)
        return WIRE_ETRUNC;
    if (out->options_len) {
        int err = ipv4_walk_options(buf + IPV4_HDR_LEN, out->options_len);
        if (err)
            return err;
    }
    out->payload_len = (uint16_t)(out->total_len - out->hdr_len);
    return WIRE_OK;
}

int ipv4_parse_full(const uint8_t *buf, size_t len, struct ipv4_repr *out)
{
    /* Straight into *out (on failure its contents are unspecified). The checksum is checked
     * before the lengths, as in ipv4_parse. */
    int err = ipv4_parse_header(buf, len, out);
    if (err)
        return err;
    if (csum_fold(csum_partial(buf, out->hdr_len, 0)) != 0)
        return WIRE_ECSUM;
    return ipv4_check_lengths(buf, len, out);
}

int ipv4_parse_quoted(const uint8_t *buf, size_t len, struct ipv4_repr *out)
{
    struct ipv4_repr r;
    int err = ipv4_parse_header(buf, len, &r);
    if (err)
        return err;
    /* RFC 792 and RFC 1122 3.2.2: an ICMP error quotes the header and at least 8 bytes of data
     * (RFC 1812 4.3.2.3: routers may send more), rarely the whole datagram. The quote only
     * serves to find the flow it concerns, so its checksum is not checked (Linux does not
     * either): what matters is that every field we read lies inside the quote. */
    if (r.total_len < r.hdr_len)
        return WIRE_ELEN;
    err = ipv4_walk_options(buf + IPV4_HDR_LEN, r.options_len);
    if (err)
        return err;
    size_t end = r.total_len < len ? r.total_len : len;
    r.payload_len = (uint16_t)(end - r.hdr_len);
    *out = r;
    return WIRE_OK;
}

size_t ipv4_emit(const struct ipv4_repr *r, uint8_t *buf, size_t cap)
{
    if (cap < IPV4_HDR_LEN || (size_t)IPV4_HDR_LEN + r->payload_len > IPV4_MAX_LEN)
        return 0;
    uint16_t frag = (uint16_t)((r->frag_off / 8) & IPV4_FRAG_MASK);
    if (r->df)
        frag |= IPV4_FLAG_DF;
    if (r->mf)
        frag |= IPV4_FLAG_MF;
    buf[0] = IPV4_VERSION << 4 | IPV4_HDR_LEN / 4;
    buf[1] = r->tos;
    wire_put16(buf + 2, (uint16_t)(IPV4_HDR_LEN + r->payload_len));
    wire_put16(buf + 4, r->id);
    wire_put16(buf + 6, frag);
    buf[8] = r->ttl;
    buf[9] = r->protocol;
    wire_put16(buf + 10, 0);
    wire_put32(buf + 12, r->src);
    wire_put32(buf + 16, r->dst);
    uint16_t check = csum_fold(csum_partial_20(buf));
    memcpy(buf + 10, &check, sizeof check);
    return IPV4_HDR_LEN;
}
