/*
 * The virtio-net header <-> packet offload state (see vnet.h).
 */
#include "link/vnet.h"

#include <string.h>

enum vnet_rx_result vnet_hdr_to_pkt(const struct virtio_net_hdr *h, bool take_gso,
                                    struct pkt *p)
{
    if (h->gso_type != VIRTIO_NET_HDR_GSO_NONE) {
        if (!take_gso || (h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) != VIRTIO_NET_HDR_GSO_TCPV4 ||
            h->gso_size == 0)
            return VNET_RX_BAD_GSO;
        p->gso_size = h->gso_size;   /* for information: TCP takes the frame as one segment */
    }
    if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        /* The 16-bit field must lie inside the frame, past csum_start. */
        if ((uint32_t)h->csum_start + h->csum_offset + 2u > p->len)
            return VNET_RX_BAD_CSUM;
        p->flags |= PKT_F_CSUM_PARTIAL;
        p->csum_start = h->csum_start;
        p->csum_offset = h->csum_offset;
    } else if (h->flags & VIRTIO_NET_HDR_F_DATA_VALID) {
        p->flags |= PKT_F_CSUM_VALID;
    }
    return VNET_RX_OK;
}

void vnet_hdr_from_pkt(const struct pkt *p, struct virtio_net_hdr *h)
{
    memset(h, 0, sizeof(*h));
    if (p->flags & PKT_F_CSUM_PARTIAL) {
        h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        h->csum_start = p->csum_start;
        h->csum_offset = p->csum_offset;
    }
    /* A "super-frame" of one segment goes out plain: Linux's segmenter refuses a GSO packet no
     * longer than its segment size (tcp_gso_segment: -EINVAL), and the kernel then drops it
     * (dev_queue_xmit says ENOMEM) wherever it must cut it in software. */
    if (p->gso_size && pkt_frame_len(p) > (uint32_t)p->gso_hdr_len + p->gso_size) {
        h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
        h->gso_size = p->gso_size;
        h->hdr_len = p->gso_hdr_len;
    }
}
