/* eth_parse on arbitrary frames; accepted headers round-trip through eth_emit (untagged). */
#include "fuzz_common.h"

#include "wire/eth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct eth_repr a;
    int err = eth_parse(data, size, &a);
    FUZZ_CHECK(fuzz_is_wire_result(err));
    if (err)
        return 0;
    FUZZ_CHECK(a.vlan_count <= ETH_MAX_VLAN_TAGS);
    FUZZ_CHECK(a.hdr_len == ETH_HDR_LEN + ETH_VLAN_TAG_LEN * a.vlan_count);
    FUZZ_CHECK(a.payload == data + a.hdr_len && a.payload_len == size - a.hdr_len);
    FUZZ_CHECK(a.ethertype >= 0x0600);
    FUZZ_CHECK(a.ethertype != ETHERTYPE_VLAN && a.ethertype != ETHERTYPE_QINQ);

    uint8_t buf[ETH_HDR_LEN];
    FUZZ_CHECK(eth_emit(&a, buf, sizeof buf - 1) == 0);
    FUZZ_CHECK(eth_emit(&a, buf, sizeof buf) == ETH_HDR_LEN);
    struct eth_repr b;
    FUZZ_CHECK(eth_parse(buf, sizeof buf, &b) == WIRE_OK);
    FUZZ_CHECK(eth_addr_equal(&a.dst, &b.dst) && eth_addr_equal(&a.src, &b.src));
    FUZZ_CHECK(a.ethertype == b.ethertype);
    FUZZ_CHECK(b.vlan_count == 0 && b.payload_len == 0);
    if (a.vlan_count == 0)
        FUZZ_CHECK(memcmp(buf, data, ETH_HDR_LEN) == 0);
    return 0;
}
