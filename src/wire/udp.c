/*
 * UDP headers (see udp.h). RFC 768: source port, destination port, length (header and data),
 * checksum over the pseudo-header, header and data; 0 means the sender computed none.
 */
#include "wire/udp.h"

#include "wire/checksum.h"

int udp_parse(const uint8_t *buf, size_t len, struct udp_repr *out)
{
    if (len < UDP_HDR_LEN)
        return WIRE_ETRUNC;
    uint16_t ulen = wire_get16(buf + 4);
    if (ulen < UDP_HDR_LEN)              /* RFC 768: the length counts the 8-byte header */
        return WIRE_ELEN;
    if (ulen > len)
        return WIRE_ETRUNC;
    struct udp_repr r = {
        .sport = wire_get16(buf),
        .dport = wire_get16(buf + 2),
        .payload = buf + UDP_HDR_LEN,
        .payload_len = (size_t)ulen - UDP_HDR_LEN,
    };
    memcpy(&r.checksum, buf + 6, sizeof r.checksum);
    *out = r;
    return WIRE_OK;
}

size_t udp_emit(const struct udp_repr *r, uint8_t *buf, size_t cap)
{
    if (cap < UDP_HDR_LEN || r->payload_len > UINT16_MAX - UDP_HDR_LEN)
        return 0;
    wire_put16(buf, r->sport);
    wire_put16(buf + 2, r->dport);
    wire_put16(buf + 4, (uint16_t)(UDP_HDR_LEN + r->payload_len));
    wire_put16(buf + 6, 0);
    return UDP_HDR_LEN;
}

bool udp_checksum_ok(const uint8_t *buf, size_t len, uint32_t pseudo)
{
    if (len < UDP_HDR_LEN)
        return false;
    if (buf[6] == 0 && buf[7] == 0)      /* RFC 768: "all zero ... no checksum" */
        return true;
    return csum_fold(csum_partial(buf, len, pseudo)) == 0;
}

void udp_set_checksum(uint8_t *buf, size_t len, uint32_t pseudo)
{
    if (len < UDP_HDR_LEN)
        return;
    wire_put16(buf + 6, 0);
    uint16_t check = csum_fold(csum_partial(buf, len, pseudo));
    /* RFC 768: a computed zero is sent as all ones, zero being "no checksum". */
    if (check == 0)
        check = 0xffff;
    memcpy(buf + 6, &check, sizeof check);
}

int udp_parse_quoted(const uint8_t *buf, size_t len, struct udp_repr *out)
{
    /* RFC 792: an error quotes the first 8 bytes of the datagram, enough for the header; the
     * length field may describe more than is quoted. */
    if (len < UDP_HDR_LEN)
        return WIRE_ETRUNC;
    size_t avail = len - UDP_HDR_LEN;
    uint16_t ulen = wire_get16(buf + 4);
    if (ulen < UDP_HDR_LEN)
        return WIRE_ELEN;
    struct udp_repr r = {
        .sport = wire_get16(buf),
        .dport = wire_get16(buf + 2),
        .payload = buf + UDP_HDR_LEN,
        .payload_len = (size_t)ulen - UDP_HDR_LEN < avail ? (size_t)ulen - UDP_HDR_LEN : avail,
    };
    memcpy(&r.checksum, buf + 6, sizeof r.checksum);
    *out = r;
    return WIRE_OK;
}

void udp_store_checksum(uint8_t *buf, uint16_t check)
{
    /* RFC 768: a computed zero is sent as all ones, zero being "no checksum". */
    if (check == 0)
        check = 0xffff;
    memcpy(buf + 6, &check, sizeof check);
}
