/* arp_parse on arbitrary packets; what is accepted is re-emitted byte for byte. */
#include "fuzz_common.h"

#include "wire/arp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arp_repr a;
    int err = arp_parse(data, size, &a);
    FUZZ_CHECK(fuzz_is_wire_result(err));
    if (err)
        return 0;
    FUZZ_CHECK(size >= ARP_LEN);
    FUZZ_CHECK(a.op == ARP_OP_REQUEST || a.op == ARP_OP_REPLY);

    uint8_t buf[ARP_LEN];
    FUZZ_CHECK(arp_emit(&a, buf, sizeof buf - 1) == 0);
    FUZZ_CHECK(arp_emit(&a, buf, sizeof buf) == ARP_LEN);
    FUZZ_CHECK(memcmp(buf, data, ARP_LEN) == 0);    /* every field is kept */
    struct arp_repr b;
    FUZZ_CHECK(arp_parse(buf, sizeof buf, &b) == WIRE_OK);
    FUZZ_CHECK(a.op == b.op && a.spa == b.spa && a.tpa == b.tpa);
    FUZZ_CHECK(eth_addr_equal(&a.sha, &b.sha) && eth_addr_equal(&a.tha, &b.tha));
    return 0;
}
