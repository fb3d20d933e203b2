/*
 * The virtio-net header helpers the tap and afpacket links share (link/vnet.h): which received
 * headers are taken and what packet offload state they give, which are refused and why, and
 * the header made for a frame to transmit. And the counter hook (link_add_counters): a stack
 * sees a middleware's groups, then the wrapped links', down to the driver's own.
 */
#include "testutil.h"

#include <errno.h>
#include <string.h>

#include "base/clock.h"
#include "link/fault.h"
#include "link/gso.h"
#include "link/loop.h"
#include "link/vnet.h"

/* Ethernet 14 + IPv4 20: where a TCP/IPv4 checksum starts; the field is 16 bytes in. */
#define L4 34u
#define TCP_CSUM_AT 16u

static struct pkt *frame(struct pkt_pool *pool, uint32_t len)
{
    struct pkt *p = pkt_alloc(pool);
    assert_non_null(p);
    assert_non_null(pkt_put(p, len));
    memset(p->data, 0, len);
    return p;
}

static void test_rx_tcp4_superframe_with_partial_checksum(void **state)
{
    struct pkt *p = frame(*state, 1500);
    struct virtio_net_hdr h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
                                .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .hdr_len = 66,
                                .gso_size = 1448, .csum_start = L4,
                                .csum_offset = TCP_CSUM_AT };
    assert_int_equal(vnet_hdr_to_pkt(&h, true, p), VNET_RX_OK);
    assert_int_equal(p->gso_size, 1448);
    assert_int_equal(p->flags, PKT_F_CSUM_PARTIAL);
    assert_int_equal(p->csum_start, L4);
    assert_int_equal(p->csum_offset, TCP_CSUM_AT);
    pkt_free(p);
}

static void test_rx_ecn_bit_is_still_tcp4(void **state)
{
    struct pkt *p = frame(*state, 200);
    struct virtio_net_hdr h = { .gso_type = VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN,
                                .gso_size = 100 };
    assert_int_equal(vnet_hdr_to_pkt(&h, true, p), VNET_RX_OK);
    assert_int_equal(p->gso_size, 100);
    assert_int_equal(p->flags, 0);
    pkt_free(p);
}

static void test_rx_other_superframes_are_refused(void **state)
{
    const uint8_t kinds[] = { VIRTIO_NET_HDR_GSO_TCPV6, VIRTIO_NET_HDR_GSO_UDP,
                              5 /* UDP_L4 */, VIRTIO_NET_HDR_GSO_ECN };
    for (unsigned i = 0; i < sizeof(kinds); i++) {
        struct pkt *p = frame(*state, 1500);
        struct virtio_net_hdr h = { .gso_type = kinds[i], .gso_size = 1000 };
        assert_int_equal(vnet_hdr_to_pkt(&h, true, p), VNET_RX_BAD_GSO);
        pkt_free(p);
    }
    /* TCPv4, but not offered (tap with tso=0), or without a segment size. */
    struct pkt *p = frame(*state, 1500);
    struct virtio_net_hdr h = { .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 1000 };
    assert_int_equal(vnet_hdr_to_pkt(&h, false, p), VNET_RX_BAD_GSO);
    h.gso_size = 0;
    assert_int_equal(vnet_hdr_to_pkt(&h, true, p), VNET_RX_BAD_GSO);
    pkt_free(p);
}

static void test_rx_checksum_place_must_be_inside_the_frame(void **state)
{
    struct pkt *p = frame(*state, 60);
    /* The field's last byte is the frame's last: taken. */
    struct virtio_net_hdr h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 40,
                                .csum_offset = 18 };
    assert_int_equal(vnet_hdr_to_pkt(&h, true, p), VNET_RX_OK);
    assert_int_equal(p->flags, PKT_F_CSUM_PARTIAL);
    /* One byte further, or a start past the end (no wrap-around in the sum): refused. */
    p->flags = 0;
    h.csum_offset = 19;
    assert_int_equal(vnet_hdr_to_pkt(&h, true, p), VNET_RX_BAD_CSUM);
    h = (struct virtio_net_hdr){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 0xffff,
                                 .csum_offset = 0xffff };
    assert_int_equal(vnet_hdr_to_pkt(&h, true, p), VNET_RX_BAD_CSUM);
    pkt_free(p);
}

static void test_rx_data_valid_and_plain(void **state)
{
    struct pkt *p = frame(*state, 100);
    struct virtio_net_hdr h = { .flags = VIRTIO_NET_HDR_F_DATA_VALID };
    assert_int_equal(vnet_hdr_to_pkt(&h, true, p), VNET_RX_OK);
    assert_int_equal(p->flags, PKT_F_CSUM_VALID);
    assert_int_equal(p->gso_size, 0);
    p->flags = 0;
    h = (struct virtio_net_hdr){ 0 };
    assert_int_equal(vnet_hdr_to_pkt(&h, true, p), VNET_RX_OK);
    assert_int_equal(p->flags, 0);
    assert_int_equal(p->gso_size, 0);
    pkt_free(p);
}

static void test_tx_header_for_superframe_and_plain_frame(void **state)
{
    struct pkt *p = frame(*state, 1000);
    p->flags = PKT_F_CSUM_PARTIAL;
    p->csum_start = L4;
    p->csum_offset = TCP_CSUM_AT;
    p->gso_size = 500;
    p->gso_hdr_len = 66;
    struct virtio_net_hdr h;
    memset(&h, 0xa5, sizeof(h));
    vnet_hdr_from_pkt(p, &h);
    assert_int_equal(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
    assert_int_equal(h.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
    assert_int_equal(h.gso_size, 500);
    assert_int_equal(h.hdr_len, 66);
    assert_int_equal(h.csum_start, L4);
    assert_int_equal(h.csum_offset, TCP_CSUM_AT);
    /* And back: the receiving side's view is the sender's. */
    struct pkt *q = frame(*state, 1000);
    assert_int_equal(vnet_hdr_to_pkt(&h, true, q), VNET_RX_OK);
    assert_int_equal(q->flags, p->flags);
    assert_int_equal(q->gso_size, p->gso_size);
    assert_int_equal(q->csum_start, p->csum_start);
    assert_int_equal(q->csum_offset, p->csum_offset);
    /* One segment's worth (66 + 934 bytes): an ordinary frame, checksum still partial. */
    p->gso_size = 934;
    vnet_hdr_from_pkt(p, &h);
    assert_int_equal(h.gso_type, VIRTIO_NET_HDR_GSO_NONE);
    assert_int_equal(h.gso_size, 0);
    assert_int_equal(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
    p->gso_size = 933;
    vnet_hdr_from_pkt(p, &h);
    assert_int_equal(h.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
    /* A plain frame: an all-zero header (nothing for the kernel to do). */
    p->flags = 0;
    p->gso_size = 0;
    memset(&h, 0xa5, sizeof(h));
    vnet_hdr_from_pkt(p, &h);
    struct virtio_net_hdr zero;
    memset(&zero, 0, sizeof(zero));
    assert_memory_equal(&h, &zero, sizeof(h));
    pkt_free(p);
    pkt_free(q);
}

static void test_counters_pass_through_middleware(void **state)
{
    struct clk clock;
    clk_init_fake(&clock, 0);
    struct link *a, *b;
    struct link_loop_config cfg = { .name_a = "la", .name_b = "lb" };
    assert_int_equal(link_loop_pair(&cfg, &a, &b), 0);
    struct fault_config fc;
    assert_int_equal(fault_config_parse("tx.loss=1", &fc), 0);
    struct link *f, *g;
    assert_int_equal(link_fault_create(a, &fc, &clock, *state, &f), 0);
    assert_int_equal(link_gso_create(f, *state, &g), 0);

    struct ctr_set set = { .n = 0 };
    assert_int_equal(link_add_counters(g, &set), 0);
    /* gso: common + own; fault: common + tx + rx; loop: common + own. */
    assert_int_equal(set.n, 7);
    struct pkt *p = frame(*state, 100);
    assert_int_equal(link_tx_burst(g, &p, 1), 1);   /* copied by gso, dropped by the fault */
    assert_int_equal(ctr_set_get(&set, "la+fault+gso.tx_frames"), 1);
    assert_int_equal(ctr_set_get(&set, "la+fault+gso.gso.dropped"), 0);
    assert_int_equal(ctr_set_get(&set, "la+fault.fault.tx.drop_random"), 1);
    assert_int_equal(ctr_set_get(&set, "la+fault.fault.rx.frames"), 0);
    assert_int_equal(ctr_set_get(&set, "la.tx_frames"), 0);
    assert_int_equal(ctr_set_get(&set, "la.loop.tx_too_long"), 0);

    /* A full set: the groups that fit are in, and the caller hears of the rest. */
    struct ctr_set small = { .n = CTR_SET_MAX - 3 };
    assert_int_equal(link_add_counters(g, &small), -ENOSPC);
    assert_int_equal(small.n, CTR_SET_MAX);
    link_destroy(g);
    link_destroy(b);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, test_pool_setup, test_pool_teardown)
    const struct CMUnitTest tests[] = {
        T(test_rx_tcp4_superframe_with_partial_checksum),
        T(test_rx_ecn_bit_is_still_tcp4),
        T(test_rx_other_superframes_are_refused),
        T(test_rx_checksum_place_must_be_inside_the_frame),
        T(test_rx_data_valid_and_plain),
        T(test_tx_header_for_superframe_and_plain_frame),
        T(test_counters_pass_through_middleware),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
