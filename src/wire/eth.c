/*
 * Ethernet II headers (see eth.h). Parse: destination, source, EtherType, then up to
 * ETH_MAX_VLAN_TAGS 802.1Q / 802.1ad tags, each a TPID (the EtherType slot) and a 16-bit TCI
 * followed by the next EtherType. Emit: an untagged header only.
 */
#include "wire/eth.h"

/* IEEE 802.3 3.2.6: values of the Length/Type field from 0x0600 up are EtherTypes; below 1536
 * they are the length of an 802.3 (LLC) frame. */
#define ETHERTYPE_MIN 0x0600

static bool ethertype_is_vlan_tag(uint16_t type)
{
    return type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ;
}

int eth_parse(const uint8_t *buf, size_t len, struct eth_repr *out)
{
    if (len < ETH_HDR_LEN)
        return WIRE_ETRUNC;
    struct eth_repr r = { 0 };
    memcpy(r.dst.b, buf, ETH_ADDR_LEN);
    memcpy(r.src.b, buf + ETH_ADDR_LEN, ETH_ADDR_LEN);
    size_t off = 2 * ETH_ADDR_LEN;      /* the EtherType (or TPID) slot */
    uint16_t type = wire_get16(buf + off);
    /* IEEE 802.1Q 9.3: a tag is the TPID we just read, then the TCI, then the next type. */
    while (ethertype_is_vlan_tag(type)) {
        if (r.vlan_count == ETH_MAX_VLAN_TAGS)
            return WIRE_EUNSUPP;
        if (len < off + 2 + ETH_VLAN_TAG_LEN)
            return WIRE_ETRUNC;
        if (r.vlan_count == 0)
            r.vlan_tci = wire_get16(buf + off + 2);
        type = wire_get16(buf + off + ETH_VLAN_TAG_LEN);
        off += ETH_VLAN_TAG_LEN;
        r.vlan_count++;
    }
    if (type < ETHERTYPE_MIN)
        return WIRE_EUNSUPP;
    r.ethertype = type;
    r.hdr_len = (uint8_t)(off + 2);
    r.payload = buf + r.hdr_len;
    r.payload_len = len - r.hdr_len;
    *out = r;
    return WIRE_OK;
}

size_t eth_emit(const struct eth_repr *r, uint8_t *buf, size_t cap)
{
    if (cap < ETH_HDR_LEN)
        return 0;
    memcpy(buf, r->dst.b, ETH_ADDR_LEN);
    memcpy(buf + ETH_ADDR_LEN, r->src.b, ETH_ADDR_LEN);
    wire_put16(buf + 2 * ETH_ADDR_LEN, r->ethertype);
    return ETH_HDR_LEN;
}
