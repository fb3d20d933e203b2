/*
 * ARP for IPv4 over Ethernet (see arp.h). RFC 826 "Packet format": hardware type, protocol type,
 * hardware and protocol address lengths, opcode, then sender and target address pairs.
 */
#include "wire/arp.h"

#define ARP_FIXED_LEN 8              /* the fields before the addresses */
#define ARP_HTYPE_ETHERNET 1         /* RFC 826: ar$hrd for 10Mb Ethernet; IANA hardware type 1 */
#define ARP_PLEN_IPV4 4

int arp_parse(const uint8_t *buf, size_t len, struct arp_repr *out)
{
    /* The fixed part first: its address lengths say how long the rest is, so a packet for
     * another hardware or protocol is reported as unsupported rather than truncated. */
    if (len < ARP_FIXED_LEN)
        return WIRE_ETRUNC;
    if (wire_get16(buf) != ARP_HTYPE_ETHERNET || wire_get16(buf + 2) != ETHERTYPE_IPV4 ||
        buf[4] != ETH_ADDR_LEN || buf[5] != ARP_PLEN_IPV4)
        return WIRE_EUNSUPP;
    uint16_t op = wire_get16(buf + 6);
    if (op != ARP_OP_REQUEST && op != ARP_OP_REPLY)
        return WIRE_EUNSUPP;
    if (len < ARP_LEN)
        return WIRE_ETRUNC;
    struct arp_repr r = { .op = op };
    memcpy(r.sha.b, buf + 8, ETH_ADDR_LEN);
    r.spa = wire_get32(buf + 14);
    memcpy(r.tha.b, buf + 18, ETH_ADDR_LEN);
    r.tpa = wire_get32(buf + 24);
    *out = r;
    return WIRE_OK;
}

size_t arp_emit(const struct arp_repr *r, uint8_t *buf, size_t cap)
{
    if (cap < ARP_LEN)
        return 0;
    wire_put16(buf, ARP_HTYPE_ETHERNET);
    wire_put16(buf + 2, ETHERTYPE_IPV4);
    buf[4] = ETH_ADDR_LEN;
    buf[5] = ARP_PLEN_IPV4;
    wire_put16(buf + 6, r->op);
    memcpy(buf + 8, r->sha.b, ETH_ADDR_LEN);
    wire_put32(buf + 14, r->spa);
    memcpy(buf + 18, r->tha.b, ETH_ADDR_LEN);
    wire_put32(buf + 24, r->tpa);
    return ARP_LEN;
}
