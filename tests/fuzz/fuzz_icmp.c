/*
 * icmp_parse on arbitrary messages; accepted ones are re-emitted, with the data copied and with
 * the data already in place, and must come out as the same bytes (the checksum may change only
 * from 0xffff to 0x0000, the two forms of one's complement zero) and parse to the same repr.
 */
#include "fuzz_common.h"

#include "wire/icmp.h"

static uint8_t out[65536 + ICMP_HDR_LEN];

static void check_emitted(const uint8_t *data, size_t size, const struct icmp_repr *a)
{
    FUZZ_CHECK(memcmp(out, data, 2) == 0 && memcmp(out + 4, data + 4, size - 4) == 0);
    bool same_check = memcmp(out + 2, data + 2, 2) == 0;
    bool zero_forms = data[2] == 0xff && data[3] == 0xff && out[2] == 0 && out[3] == 0;
    FUZZ_CHECK(same_check || zero_forms);
    struct icmp_repr b;
    FUZZ_CHECK(icmp_parse(out, size, &b) == WIRE_OK);
    FUZZ_CHECK(a->type == b.type && a->code == b.code && a->rest == b.rest);
    FUZZ_CHECK(b.data == out + ICMP_HDR_LEN && b.data_len == a->data_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct icmp_repr a;
    int err = icmp_parse(data, size, &a);
    FUZZ_CHECK(fuzz_is_wire_result(err));
    if (err || size > sizeof out)
        return 0;
    FUZZ_CHECK(a.data == data + ICMP_HDR_LEN && a.data_len == size - ICMP_HDR_LEN);

    FUZZ_CHECK(icmp_emit(&a, out, size - 1) == 0);
    FUZZ_CHECK(icmp_emit(&a, out, size) == size);
    check_emitted(data, size, &a);

    /* Again with the data already where it goes. */
    memset(out, 0, ICMP_HDR_LEN);
    memcpy(out + ICMP_HDR_LEN, a.data, a.data_len);
    struct icmp_repr in_place = a;
    in_place.data = out + ICMP_HDR_LEN;
    FUZZ_CHECK(icmp_emit(&in_place, out, size) == size);
    check_emitted(data, size, &a);
    return 0;
}
