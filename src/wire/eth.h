/*
 * Ethernet II framing (IEEE 802.3 with EtherType), with 802.1Q / 802.1ad tags skipped on parse.
 */
#ifndef UST_WIRE_ETH_H
#define UST_WIRE_ETH_H

#include "wire/wire.h"

#define ETH_ADDR_LEN 6
#define ETH_HDR_LEN 14
#define ETH_VLAN_TAG_LEN 4
#define ETH_MAX_VLAN_TAGS 2          /* a frame with more tags is refused (WIRE_EUNSUPP) */
#define ETH_MIN_FRAME 60             /* without FCS; shorter frames are padded on emit by links */

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806
#define ETHERTYPE_VLAN 0x8100        /* 802.1Q */
#define ETHERTYPE_QINQ 0x88a8        /* 802.1ad service tag */
#define ETHERTYPE_IPV6 0x86dd

struct eth_addr {
    uint8_t b[ETH_ADDR_LEN];
};

struct eth_repr {
    struct eth_addr dst;
    struct eth_addr src;
    uint16_t ethertype;      /* of the payload, after any VLAN tags */
    uint16_t vlan_tci;       /* outermost tag's TCI (priority, DEI, VLAN id), if vlan_count > 0 */
    uint8_t vlan_count;      /* tags skipped */
    uint8_t hdr_len;         /* ETH_HDR_LEN + 4 * vlan_count */
    /* Filled by eth_parse; ignored by eth_emit. */
    const uint8_t *payload;
    size_t payload_len;
};

/* Parses the header of a frame of `len` bytes. An EtherType below 0x0600 is an 802.3 length
 * (LLC frames): WIRE_EUNSUPP. */
int eth_parse(const uint8_t *buf, size_t len, struct eth_repr *out);

/* Writes an untagged 14-byte header (vlan fields ignored). Returns ETH_HDR_LEN, or 0 if
 * cap < ETH_HDR_LEN. */
size_t eth_emit(const struct eth_repr *r, uint8_t *buf, size_t cap);

static inline bool eth_addr_is_broadcast(const struct eth_addr *a)
{
    static const uint8_t bc[ETH_ADDR_LEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    return memcmp(a->b, bc, ETH_ADDR_LEN) == 0;
}

static inline bool eth_addr_is_multicast(const struct eth_addr *a)
{
    return a->b[0] & 1;
}

static inline bool eth_addr_equal(const struct eth_addr *a, const struct eth_addr *b)
{
    return memcmp(a->b, b->b, ETH_ADDR_LEN) == 0;
}

#endif
