/*
 * ICMP for IPv4 (see icmp.h). RFC 792: type, code, checksum, four bytes whose meaning depends on
 * the type (identifier and sequence number, next-hop MTU, pointer, gateway), then data; the
 * checksum covers the whole message.
 */
#include "wire/icmp.h"

#include "wire/checksum.h"

int icmp_parse(const uint8_t *buf, size_t len, struct icmp_repr *out)
{
    if (len < ICMP_HDR_LEN)
        return WIRE_ETRUNC;
    /* RFC 792: "the 16-bit one's complement of the one's complement sum of the ICMP message
     * starting with the ICMP Type"; RFC 1122 3.2.2: a message with a bad checksum is dropped. */
    if (csum_fold(csum_partial(buf, len, 0)) != 0)
        return WIRE_ECSUM;
    return icmp_parse_header(buf, len, out);
}

int icmp_parse_header(const uint8_t *buf, size_t len, struct icmp_repr *out)
{
    if (len < ICMP_HDR_LEN)
        return WIRE_ETRUNC;
    *out = (struct icmp_repr){
        .type = buf[0],
        .code = buf[1],
        .rest = wire_get32(buf + 4),
        .data = buf + ICMP_HDR_LEN,
        .data_len = len - ICMP_HDR_LEN,
    };
    return WIRE_OK;
}

static bool ranges_overlap(const uint8_t *a, const uint8_t *b, size_t len)
{
    return a < b + len && b < a + len;
}

size_t icmp_emit(const struct icmp_repr *r, uint8_t *buf, size_t cap)
{
    if (cap < ICMP_HDR_LEN || r->data_len > cap - ICMP_HDR_LEN)
        return 0;
    uint8_t *data = buf + ICMP_HDR_LEN;
    uint32_t sum;
    /* Sum the data while copying it in, unless it is there already (or overlaps its place). */
    if (r->data_len == 0 || r->data == data) {
        sum = csum_partial(data, r->data_len, 0);
    } else if (ranges_overlap(r->data, data, r->data_len)) {
        memmove(data, r->data, r->data_len);
        sum = csum_partial(data, r->data_len, 0);
    } else {
        sum = csum_copy(data, r->data, r->data_len, 0);
    }
    buf[0] = r->type;
    buf[1] = r->code;
    wire_put16(buf + 2, 0);
    wire_put32(buf + 4, r->rest);
    uint16_t check = csum_fold(csum_partial(buf, ICMP_HDR_LEN, sum));
    memcpy(buf + 2, &check, sizeof check);
    return ICMP_HDR_LEN + r->data_len;
}
