/*
 * Real packets shared by the wire-format unit tests, the tshark interop check and the fuzz seed
 * corpus: whole Ethernet frames with their layer offsets written down independently of the
 * parsers under test. The bytes are in test_wire_samples.c.
 */
#ifndef UST_TEST_WIRE_SAMPLES_H
#define UST_TEST_WIRE_SAMPLES_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_SAMPLE_LIST(X)                                                            \
    X(tcp_syn)                 /* Linux SYN: mss 1460,sackOK,TS,nop,wscale 7 */        \
    X(tcp_synack)              /* Linux SYN-ACK, same options */                       \
    X(tcp_data_sack)           /* PSH|ACK, 36 bytes: nop,nop,TS,nop,nop,sack 2 blocks */ \
    X(tcp_ack_sack3)           /* ACK, 40 bytes of options: TS and 3 SACK blocks */    \
    X(tcp_rst)                 /* RST|ACK, no options, Ethernet-padded */              \
    X(icmp_echo_request)       /* ping id 0x1c2b seq 1, 56 bytes */                    \
    X(icmp_echo_reply)         /* its reply */                                         \
    X(udp_plain)               /* UDP 53124 -> 9999 "hello\n", Ethernet-padded */      \
    X(icmp_port_unreach)       /* port unreachable quoting udp_plain's datagram */     \
    X(icmp_frag_needed)        /* frag needed, MTU 1400, 28-byte quote of a TCP segment */ \
    X(arp_request)             /* who-has 198.18.0.2 tell 198.18.0.1 */                \
    X(arp_reply)               /* 198.18.0.2 is-at 52:54:00:ab:cd:02 */                \
    X(vlan_udp_dns)            /* 802.1Q prio 5 VLAN 100, DNS query */                 \
    X(qinq_udp_dns)            /* 802.1ad VLAN 200 + 802.1Q VLAN 100, DNS query */     \
    X(ipv4_frag_first)         /* MF, offset 0, of a 188-byte UDP datagram */          \
    X(ipv4_frag_last)          /* offset 96, the rest of it */                         \
    X(ipv4_router_alert_igmp)  /* IGMPv2 report, IPv4 Router Alert option (IHL 6) */

enum wire_sample_id {
#define X(name) SAMPLE_##name,
    WIRE_SAMPLE_LIST(X)
#undef X
    SAMPLE_COUNT
};

struct wire_sample {
    const char *name;
    const uint8_t *frame;
    size_t len;              /* the whole frame, padding included */
    size_t l3_off;           /* Ethernet payload (after any VLAN tags) */
    size_t l4_off;           /* IPv4 payload; 0 for ARP */
    size_t l4_len;           /* IPv4 total length minus header (padding excluded); 0 for ARP */
};

extern const struct wire_sample wire_samples[SAMPLE_COUNT];

#endif
