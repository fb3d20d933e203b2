/*
 * ARP for IPv4 over Ethernet (RFC 826). Other hardware or protocol types are refused.
 */
#ifndef UST_WIRE_ARP_H
#define UST_WIRE_ARP_H

#include "wire/eth.h"

#define ARP_LEN 28
#define ARP_OP_REQUEST 1
#define ARP_OP_REPLY 2

struct arp_repr {
    uint16_t op;                 /* ARP_OP_REQUEST or ARP_OP_REPLY */
    struct eth_addr sha;         /* sender hardware address */
    uint32_t spa;                /* sender protocol address, host order */
    struct eth_addr tha;         /* target hardware address */
    uint32_t tpa;                /* target protocol address, host order */
};

/* Parses an ARP packet (the Ethernet payload). Hardware type other than Ethernet (1), protocol
 * other than IPv4, address lengths other than 6 and 4, or an opcode other than request/reply:
 * WIRE_EUNSUPP. Trailing bytes (Ethernet padding) are ignored. */
int arp_parse(const uint8_t *buf, size_t len, struct arp_repr *out);

/* Writes the 28-byte packet. Returns ARP_LEN, or 0 if cap is too small. */
size_t arp_emit(const struct arp_repr *r, uint8_t *buf, size_t cap);

#endif
