/*
 * Ethernet in and out of the stack: which frames are ours, and framing on the way out.
 *
 * A frame is ours if it is addressed to the interface's MAC or to the broadcast address, carries
 * IPv4 or ARP, and is not tagged with a VLAN other than 0 (a priority tag, RFC-less but common,
 * which Linux also accepts as untagged). Everything else is a counted drop.
 */
#include "net/stack.h"

void eth_input(struct iface *ifc, struct pkt *p)
{
    struct ust_stack *s = ifc->stack;
    struct eth_repr e;
    if (eth_parse(p->data, p->len, &e) != 0) {
        s->ctrs.eth_drop_short++;
        goto drop;
    }
    if (!eth_addr_equal(&e.dst, &ifc->mac) && !eth_addr_is_broadcast(&e.dst)) {
        s->ctrs.eth_drop_not_for_us++;
        goto drop;
    }
    if (eth_addr_equal(&e.src, &ifc->mac)) {
        s->ctrs.eth_drop_own_source++;
        goto drop;
    }
    if (e.vlan_count && (e.vlan_count > 1 || (e.vlan_tci & 0x0fff) != 0)) {
        s->ctrs.eth_drop_vlan++;
        goto drop;
    }
    pkt_pull(p, e.hdr_len);
    switch (e.ethertype) {
    case ETHERTYPE_IPV4:
        *ipv4_rx_cb(p) = (struct ipv4_rx_cb){ .link_broadcast = eth_addr_is_broadcast(&e.dst) };
        ipv4_input(ifc, p);
        return;
    case ETHERTYPE_ARP:
        arp_input(ifc, p);
        return;
    default:
        s->ctrs.eth_drop_ethertype++;
        goto drop;
    }
drop:
    pkt_free(p);
}

void eth_output(struct iface *ifc, struct pkt *p, const struct eth_addr *dst, uint16_t ethertype)
{
    struct eth_repr e = { .dst = *dst, .src = ifc->mac, .ethertype = ethertype };
    uint8_t *hdr = pkt_push(p, ETH_HDR_LEN);
    if (!hdr) {
        /* Every buffer is allocated with room for our headers; this is our own bug. */
        ifc->stack->ipv4.ctrs.out_discards++;
        pkt_free_frame(p);
        return;
    }
    eth_emit(&e, hdr, ETH_HDR_LEN);
    iface_xmit(ifc, p);
}
