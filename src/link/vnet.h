/*
 * The virtio-net header (struct virtio_net_hdr, linux/virtio_net.h) that the kernel puts before
 * each frame on a TAP device with IFF_VNET_HDR and on an AF_PACKET socket with PACKET_VNET_HDR,
 * and expects before each frame we send there: what a "NIC" did or must do to the frame.
 *
 * Entry points: vnet_hdr_to_pkt() turns a received header into packet offload state (and checks
 * it against the frame); vnet_hdr_from_pkt() fills a header for a frame to transmit.
 *
 * Received (the kernel is the sender):
 * - gso_type TCPV4 (optionally with the ECN bit): a TCP/IPv4 super-frame, up to 64 KiB, that the
 *   kernel did not cut into segments (its TSO/GSO left to us, like GRO). gso_size (the segment
 *   size) is kept for information: TCP takes the frame as one big segment. Other kinds (TCPv6,
 *   UDP) are refused: this stack would not know what to do with them;
 * - NEEDS_CSUM: the L4 checksum is partial (only the pseudo-header sum is in the field, from
 *   csum_start to the end, stored at csum_start + csum_offset): PKT_F_CSUM_PARTIAL, never verified
 *   as a full checksum. The place must lie inside the frame;
 * - DATA_VALID: the checksum was verified already (PKT_F_CSUM_VALID).
 * Transmitted: PKT_F_CSUM_PARTIAL becomes NEEDS_CSUM, gso_size a TCPV4 super-frame with the
 * header length every segment repeats (gso_hdr_len), unless the frame holds one segment at most
 * (then it goes out as an ordinary frame).
 *
 * Both borrow the packet. The fields are in host byte order (the legacy header, which tap and
 * packet sockets use by default, is native-endian on a little-endian host).
 */
#ifndef UST_LINK_VNET_H
#define UST_LINK_VNET_H

#include <linux/virtio_net.h>
#include <stdint.h>

#include "base/pkt.h"

enum vnet_rx_result {
    VNET_RX_OK = 0,
    VNET_RX_BAD_GSO,      /* a super-frame of a kind we do not take, or a malformed one */
    VNET_RX_BAD_CSUM,     /* a partial checksum whose place is not inside the frame */
};

/* Sets p's flags, csum_start/csum_offset and gso_size from h for a received frame of p->len
 * bytes. take_gso: super-frames are acceptable at all. Returns VNET_RX_OK or why the frame
 * must be dropped (p's offload state is then unspecified). */
enum vnet_rx_result vnet_hdr_to_pkt(const struct virtio_net_hdr *h, bool take_gso,
                                    struct pkt *p);

/* Fills h for transmitting frame p. */
void vnet_hdr_from_pkt(const struct pkt *p, struct virtio_net_hdr *h);

#endif
