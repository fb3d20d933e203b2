/*
 * udp_parse on arbitrary datagrams; accepted ones round-trip through udp_emit, and a checksum
 * set by udp_set_checksum verifies with the same pseudo-header (taken from the input too).
 */
#include "fuzz_common.h"

#include "wire/checksum.h"
#include "wire/udp.h"

static uint8_t out[65536];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct udp_repr a;
    int err = udp_parse(data, size, &a);
    FUZZ_CHECK(fuzz_is_wire_result(err));
    uint32_t pseudo = size >= 4 ? (uint32_t)data[0] << 24 | (uint32_t)data[size - 1] << 8 |
                                  data[size / 2]
                                : 0;
    (void)udp_checksum_ok(data, size, pseudo);      /* must not read out of bounds */
    if (err)
        return 0;
    FUZZ_CHECK(a.payload == data + UDP_HDR_LEN);
    FUZZ_CHECK(fuzz_within(data, size, a.payload, a.payload_len));
    FUZZ_CHECK(a.payload_len + UDP_HDR_LEN == wire_get16(data + 4));
    FUZZ_CHECK(memcmp(&a.checksum, data + 6, 2) == 0);

    size_t len = UDP_HDR_LEN + a.payload_len;
    FUZZ_CHECK(udp_emit(&a, out, UDP_HDR_LEN - 1) == 0);
    FUZZ_CHECK(udp_emit(&a, out, sizeof out) == UDP_HDR_LEN);
    memcpy(out + UDP_HDR_LEN, a.payload, a.payload_len);
    struct udp_repr b;
    FUZZ_CHECK(udp_parse(out, len, &b) == WIRE_OK);
    FUZZ_CHECK(a.sport == b.sport && a.dport == b.dport && a.payload_len == b.payload_len);
    FUZZ_CHECK(b.checksum == 0 && udp_checksum_ok(out, len, pseudo));
    udp_set_checksum(out, len, pseudo);
    FUZZ_CHECK(!(out[6] == 0 && out[7] == 0));      /* zero means "none" (RFC 768) */
    FUZZ_CHECK(udp_checksum_ok(out, len, pseudo));
    FUZZ_CHECK(memcmp(out, data, 6) == 0 && memcmp(out + 8, data + 8, a.payload_len) == 0);
    return 0;
}
