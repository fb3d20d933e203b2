/*
 * ARP (RFC 826, RFC 1122 2.3.2, RFC 5227) and the neighbour cache, frame by frame: replies,
 * announcements, resolution with its retries and queue, the reachable/stale/delay/probe cycle,
 * address conflicts, a full cache and static entries.
 */
#include "stacktest.h"

#include <errno.h>
#include <string.h>

#include "link/loop.h"
#include "ustack/ustack.h"

static int neigh_state(struct st *t, uint32_t ip)
{
    const struct neigh *n = arp_lookup(t->s, t->ifc, ip);
    return n ? n->state : NEIGH_FREE;
}

/* The broadcast request the stack sends to resolve `ip`. */
#define want_request_for(ip)                                                         \
    want_arp(.eth_dst = &st_bcast_mac, .eth_src = &st_mac, .op = ARP_OP_REQUEST,         \
             .sha = &st_mac, .spa = ST_ADDR, .tha = &st_zero_mac, .tpa = (ip))

static void test_arp_announces_its_address_at_start(void **state)
{
    struct st *t = *state;
    t->keep_announce = true;
    st_restart(t, NULL);
    /* RFC 5227 2.4: a request with sender and target both our address, to everyone. */
    expect_tx(t, want_arp(.eth_dst = &st_bcast_mac, .eth_src = &st_mac, .op = ARP_OP_REQUEST,
                          .sha = &st_mac, .spa = ST_ADDR, .tha = &st_zero_mac, .tpa = ST_ADDR));
    expect_no_tx(t);
    assert_int_equal(counter(t, "arp.tx_requests"), 1);
}

static void test_arp_replies_to_a_request_for_its_address(void **state)
{
    struct st *t = *state;
    feed(t, arp_request());
    expect_tx(t, want_arp(.eth_dst = &st_peer_mac, .eth_src = &st_mac, .op = ARP_OP_REPLY,
                          .sha = &st_mac, .spa = ST_ADDR, .tha = &st_peer_mac, .tpa = ST_PEER));
    expect_no_tx(t);
    assert_int_equal(counter(t, "arp.rx_requests"), 1);
    assert_int_equal(counter(t, "arp.tx_replies"), 1);
    /* RFC 826: the requester is learned on the way (unconfirmed, so stale). */
    assert_int_equal(neigh_state(t, ST_PEER), NEIGH_STALE);
}

static void test_arp_does_not_reply_for_other_addresses(void **state)
{
    struct st *t = *state;
    feed(t, arp_request(.tpa = ST_OTHER));
    expect_no_tx(t);
    assert_int_equal(counter(t, "arp.drop_not_for_us"), 1);
    /* Linux's arp_accept=0: others' conversations create no entry. */
    assert_int_equal(neigh_state(t, ST_PEER), NEIGH_FREE);
}

static void test_arp_replies_to_an_address_probe_without_learning(void **state)
{
    struct st *t = *state;
    /* RFC 5227 2.1.1: a probe has sender address 0; the answer goes to its MAC. */
    feed(t, arp_request(.spa = 0));
    expect_tx(t, want_arp(.eth_dst = &st_peer_mac, .op = ARP_OP_REPLY, .spa = ST_ADDR,
                          .tha = &st_peer_mac, .tpa = 0));
    assert_int_equal(neigh_state(t, 0), NEIGH_FREE);
}

static void test_arp_first_packet_waits_for_the_reply(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 5000);
    assert_int_equal(st_sendto(fd, "first", 5, ST_PEER, 9), 5);
    expect_tx(t, want_request_for(ST_PEER));
    expect_no_tx(t);
    assert_int_equal(counter(t, "arp.queued"), 1);
    assert_int_equal(neigh_state(t, ST_PEER), NEIGH_INCOMPLETE);

    feed(t, arp_reply());
    expect_tx(t, want_udp(.eth_dst = &st_peer_mac, .dst = ST_PEER, .dport = 9, .data = "first"));
    expect_no_tx(t);
    assert_int_equal(neigh_state(t, ST_PEER), NEIGH_REACHABLE);
    assert_int_equal(counter(t, "arp.resolved"), 1);
    ust_close(fd);
}

static void test_arp_reply_sends_the_queue_in_order(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 5000);
    const char *msgs[] = { "one", "two", "three", "four" };
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(st_sendto(fd, msgs[i], strlen(msgs[i]), ST_PEER, 9),
                         (ssize_t)strlen(msgs[i]));
    expect_tx(t, want_request_for(ST_PEER));
    expect_no_tx(t);   /* one request for the four */
    feed(t, arp_reply());
    for (unsigned i = 0; i < 4; i++)
        expect_tx(t, want_udp(.eth_dst = &st_peer_mac, .data = msgs[i]));
    expect_no_tx(t);
    ust_close(fd);
}

static void test_arp_queue_limit_drops_the_oldest(void **state)
{
    struct st *t = *state;
    st_restart(t, "arp_queue=3");
    int fd = st_udp_bound(t, 0, 5000);
    const char *msgs[] = { "1", "2", "3", "4", "5" };
    for (unsigned i = 0; i < 5; i++)
        assert_int_equal(st_sendto(fd, msgs[i], 1, ST_PEER, 9), 1);
    expect_tx(t, want_request_for(ST_PEER));
    assert_int_equal(counter(t, "arp.queue_drops"), 2);
    /* RFC 1122 2.3.2.2: keep the latest. */
    feed(t, arp_reply());
    expect_tx(t, want_udp(.data = "3"));
    expect_tx(t, want_udp(.data = "4"));
    expect_tx(t, want_udp(.data = "5"));
    expect_no_tx(t);
    ust_close(fd);
}

static void test_arp_queues_together_hold_at_most_a_quarter_of_the_pool(void **state)
{
    struct st *t = *state;
    /* 256 buffers: at most 64 packets wait for resolution, whatever the entries could hold
     * (arp.c): three unanswered addresses take 30, 30 and 4; the other 26 are dropped. */
    st_restart(t, "pool_buffers=256", "arp_queue=30");
    int fd = st_udp_bound(t, 0, 5000);
    const uint32_t to[] = { ST_PEER, ST_OTHER, ST_NET(4) };
    for (unsigned k = 0; k < 3; k++) {
        for (unsigned i = 0; i < 30; i++)
            assert_int_equal(st_sendto(fd, "x", 1, to[k], 9), 1);
        expect_tx(t, want_request_for(to[k]));
    }
    expect_no_tx(t);
    assert_int_equal(counter(t, "arp.queued"), 64);
    assert_int_equal(counter(t, "arp.queue_total_drops"), 26);
    assert_int_equal(counter(t, "arp.queue_drops"), 0);
    /* The peer answers: its 30 go, and there is room again. */
    feed(t, arp_reply());
    for (unsigned i = 0; i < 30; i++)
        expect_tx(t, want_udp(.data = "x"));
    expect_no_tx(t);
    assert_int_equal(st_sendto(fd, "y", 1, ST_NET(4), 9), 1);
    expect_no_tx(t);
    assert_int_equal(counter(t, "arp.queued"), 65);
    assert_int_equal(counter(t, "arp.queue_total_drops"), 26);
    ust_close(fd);
}

static void test_arp_retries_at_the_retransmit_interval_then_gives_up(void **state)
{
    struct st *t = *state;
    int fd = st_udp_socket(t);
    assert_int_equal(st_connect(fd, ST_PEER, 9), 0);
    assert_int_equal(ust_send(fd, "a", 1, 0), 1);
    assert_int_equal(ust_send(fd, "b", 1, 0), 1);
    expect_tx(t, want_request_for(ST_PEER));
    /* arp_retries requests in all, arp_retrans_ms apart. */
    expect_tx_after(t, t->cfg.arp_retrans_ms, want_request_for(ST_PEER));
    expect_tx_after(t, t->cfg.arp_retrans_ms, want_request_for(ST_PEER));
    advance(t, t->cfg.arp_retrans_ms - 1);
    expect_no_tx(t);
    assert_int_equal(neigh_state(t, ST_PEER), NEIGH_INCOMPLETE);
    advance_ns(t, NS_PER_MS + ST_TICK_NS);
    expect_no_tx(t);
    assert_int_equal(neigh_state(t, ST_PEER), NEIGH_FREE);
    assert_int_equal(counter(t, "arp.tx_requests"), 1 + 3);   /* with the announcement */
    assert_int_equal(counter(t, "arp.resolve_failed"), 1);
    assert_int_equal(counter(t, "arp.unresolved_drops"), 2);

    /* Host unreachable is a soft error: as Linux without IP_RECVERR, a connected UDP socket
     * is not told (measured on Linux 6.18: SO_ERROR 0, recv EAGAIN, the next send succeeds). */
    int err = -1;
    socklen_t len = sizeof(err);
    assert_int_equal(ust_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    assert_int_equal(err, 0);
    char buf[8];
    expect_errno(ust_recv(fd, buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
    /* The next datagram starts a new resolution. */
    assert_int_equal(ust_send(fd, "c", 1, 0), 1);
    expect_tx(t, want_request_for(ST_PEER));
    ust_close(fd);
}

static void test_arp_reachable_goes_stale_after_the_reachable_time(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 5000);
    assert_int_equal(st_sendto(fd, "x", 1, ST_PEER, 9), 1);
    expect_tx(t, want_request_for(ST_PEER));
    feed(t, arp_reply());
    expect_tx(t, want_udp(.data = "x"));
    assert_int_equal(neigh_state(t, ST_PEER), NEIGH_REACHABLE);
    advance_ns(t, t->cfg.arp_reachable_ms * NS_PER_MS - 1);
    assert_int_equal(neigh_state(t, ST_PEER), NEIGH_REACHABLE);
    advance_ns(t, ST_TICK_NS);
    assert_int_equal(neigh_state(t, ST_PEER), NEIGH_STALE);
    expect_no_tx(t);   /* going stale sends nothing */
    ust_close(fd);
}

static void test_arp_stale_entry_in_use_is_probed_by_unicast(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 5000);
    feed(t, arp_request());                    /* learned unconfirmed: stale */
    expect_tx(t, want_arp(.op = ARP_OP_REPLY));
    assert_int_equal(neigh_state(t, ST_PEER), NEIGH_STALE);

    /* RFC 1122 2.3.2.1: a stale entry is used at once, and checked after a delay. */
    assert_int_equal(st_sendto(fd, "now", 3, ST_PEER, 9), 3);
    expect_tx(t, want_udp(.eth_dst = &st_peer_mac, .data = "now"));
    assert_int_equal(neigh_state(t, ST_PEER), NEIGH_DELAY);
    /* Linux's delay_first_probe_time (5 s), then a unicast request to the cached MAC. */
    expect_tx_after(t, 5000, want_arp(.eth_dst = &st_peer_mac, .op = ARP_OP_REQUEST,
                                      .sha = &st_mac, .spa = ST_ADDR, .tha = &st_zero_mac,
                                      .tpa = ST_PEER));
    assert_int_equal(neigh_state(t, ST_PEER), NEIGH_PROBE);
    feed(t, arp_reply());
    assert_int_equal(neigh_state(t, ST_PEER), NEIGH_REACHABLE);
    expect_no_tx(t);
    ust_close(fd);
}

static void test_arp_unanswered_probes_free_the_entry(void **state)
{
    struct st *t = *state;
    int fd = st_udp_bound(t, 0, 5000);
    feed(t, arp_request());
    expect_tx(t, want_arp(.op = ARP_OP_REPLY));
    assert_int_equal(st_sendto(fd, "now", 3, ST_PEER, 9), 3);
    expect_tx(t, want_udp(.data = "now"));
    expect_tx_after(t, 5000, want_arp(.eth_dst = &st_peer_mac, .tpa = ST_PEER));
    expect_tx_after(t, t->cfg.arp_retrans_ms, want_arp(.eth_dst = &st_peer_mac, .tpa = ST_PEER));
    expect_tx_after(t, t->cfg.arp_retrans_ms, want_arp(.eth_dst = &st_peer_mac, .tpa = ST_PEER));
    advance_ns(t, t->cfg.arp_retrans_ms * NS_PER_MS + ST_TICK_NS);
    expect_no_tx(t);
    assert_int_equal(neigh_state(t, ST_PEER), NEIGH_FREE);
    assert_int_equal(counter(t, "arp.resolve_failed"), 1);
    ust_close(fd);
}

static void test_arp_claim_of_our_address_is_a_conflict_and_not_learned(void **state)
{
    struct st *t = *state;
    /* RFC 5227 2.4: another host announcing our address. */
    feed(t, arp_request(.sha = st_other_mac, .eth_src = st_other_mac, .spa = ST_ADDR,
                        .tpa = ST_ADDR));
    feed(t, arp_reply(.sha = st_other_mac, .eth_src = st_other_mac, .spa = ST_ADDR));
    expect_no_tx(t);
    assert_int_equal(counter(t, "arp.addr_conflicts"), 2);
    assert_int_equal(neigh_state(t, ST_ADDR), NEIGH_FREE);
}

static void test_arp_full_cache_drops_then_evicts_the_oldest_resolved(void **state)
{
    struct st *t = *state;
    st_restart(t, "arp_cache=8");
    int fd = st_udp_bound(t, 0, 5000);
    for (uint32_t h = 10; h < 18; h++) {
        assert_int_equal(st_sendto(fd, "x", 1, ST_NET(h), 9), 1);
        expect_tx(t, want_request_for(ST_NET(h)));
        advance(t, 1);
    }
    /* Every entry is waiting for an answer: none can be taken. */
    assert_int_equal(st_sendto(fd, "x", 1, ST_NET(18), 9), 1);
    expect_no_tx(t);
    assert_int_equal(counter(t, "arp.table_full"), 1);

    /* Two answers: the one resolved first is the least recently updated. */
    feed(t, arp_reply(.spa = ST_NET(11), .sha = st_other_mac, .eth_src = st_other_mac));
    expect_tx(t, want_udp(.dst = ST_NET(11)));
    advance(t, 1);
    feed(t, arp_reply(.spa = ST_NET(12), .sha = st_other_mac, .eth_src = st_other_mac));
    expect_tx(t, want_udp(.dst = ST_NET(12)));
    assert_int_equal(st_sendto(fd, "y", 1, ST_NET(18), 9), 1);
    expect_tx(t, want_request_for(ST_NET(18)));
    assert_int_equal(counter(t, "arp.evicted"), 1);
    assert_int_equal(neigh_state(t, ST_NET(11)), NEIGH_FREE);
    assert_int_equal(neigh_state(t, ST_NET(12)), NEIGH_REACHABLE);
    assert_int_equal(neigh_state(t, ST_NET(18)), NEIGH_INCOMPLETE);
    ust_close(fd);
}

static void test_arp_static_entry_refuses_updates(void **state)
{
    struct st *t = *state;
    st_resolve_peer(t);
    feed(t, arp_reply(.sha = st_other_mac, .eth_src = st_other_mac));
    feed(t, arp_request(.sha = st_other_mac, .eth_src = st_other_mac, .tpa = ST_OTHER));
    assert_int_equal(counter(t, "arp.static_refused"), 2);
    assert_int_equal(neigh_state(t, ST_PEER), NEIGH_STATIC);
    assert_memory_equal(arp_lookup(t->s, t->ifc, ST_PEER)->mac.b, st_peer_mac.b, 6);
    /* Still used as configured, and never timed out. */
    advance(t, t->cfg.arp_reachable_ms + t->cfg.arp_stale_ms + 10000);
    int fd = st_udp_bound(t, 0, 5000);
    assert_int_equal(st_sendto(fd, "x", 1, ST_PEER, 9), 1);
    expect_tx(t, want_udp(.eth_dst = &st_peer_mac, .data = "x"));
    expect_no_tx(t);
    ust_close(fd);
}

static void test_arp_counts_a_neighbour_whose_mac_changes(void **state)
{
    struct st *t = *state;
    /* Learned from its request (no count: a first resolution), then moved, then back: RFC 826
     * merges each claim; every change is counted (a flapping neighbour shows here). */
    feed(t, arp_request());
    st_drain_tx(t);
    assert_int_equal(counter(t, "arp.lladdr_changes"), 0);
    feed(t, arp_reply(.sha = st_other_mac, .eth_src = st_other_mac));
    assert_memory_equal(arp_lookup(t->s, t->ifc, ST_PEER)->mac.b, st_other_mac.b, 6);
    feed(t, arp_reply());
    feed(t, arp_reply());   /* the same again: no change */
    assert_memory_equal(arp_lookup(t->s, t->ifc, ST_PEER)->mac.b, st_peer_mac.b, 6);
    assert_int_equal(counter(t, "arp.lladdr_changes"), 2);
    expect_no_tx(t);
}

static void test_arp_static_option_makes_entries_that_refuse_updates(void **state)
{
    struct st *t = *state;
    st_restart(t, "arp_static=198.18.0.1=02:00:00:00:00:01,198.18.0.3=02:00:00:00:00:03");
    assert_int_equal(neigh_state(t, ST_PEER), NEIGH_STATIC);
    assert_int_equal(neigh_state(t, ST_OTHER), NEIGH_STATIC);
    assert_memory_equal(arp_lookup(t->s, t->ifc, ST_OTHER)->mac.b, st_other_mac.b, 6);
    feed(t, arp_reply(.sha = st_other_mac, .eth_src = st_other_mac));
    feed(t, arp_request(.sha = st_other_mac, .eth_src = st_other_mac));
    st_drain_tx(t);   /* the request for our address is still answered */
    assert_memory_equal(arp_lookup(t->s, t->ifc, ST_PEER)->mac.b, st_peer_mac.b, 6);
    assert_int_equal(counter(t, "arp.static_refused"), 2);
    assert_int_equal(counter(t, "arp.lladdr_changes"), 0);
}

/* The error creating a stack with arp_static = spec (0 if it was created). */
static int stack_error_with_arp_static(const char *spec)
{
    struct ust_config cfg;
    ust_config_defaults(&cfg);
    assert_int_equal(ust_config_set(&cfg, "addr", "198.18.0.2/24"), 0);
    assert_int_equal(ust_config_set(&cfg, "mac", "02:00:00:00:00:02"), 0);
    assert_int_equal(ust_config_set(&cfg, "arp_static", spec), 0);
    struct link_loop_config lc = { .ring_size = 64, .mtu = 1500 };
    struct link *a, *b;
    assert_int_equal(link_loop_pair(&lc, &a, &b), 0);
    struct clk clock;
    clk_init_fake(&clock, ST_CLOCK_START);
    int err = 0;
    struct ust_stack *s = stack_create_on(&cfg, &clock, a, &err);
    struct pkt *frames[8];
    int n;
    while ((n = b->ops->rx_burst(b, frames, 8)) > 0)   /* its announcement */
        for (int i = 0; i < n; i++)
            pkt_free_frame(frames[i]);
    if (s)
        ust_stack_destroy(s);
    link_destroy(b);
    return err;
}

static void test_arp_static_option_is_checked(void **state)
{
    (void)state;
    assert_int_equal(stack_error_with_arp_static("198.18.0.1=02:00:00:00:00:01"), 0);
    static const char *const bad[] = {
        "198.18.0.1",                          /* no MAC */
        "198.18.0.1=02:00:00:00:00",           /* short MAC */
        "198.18.0.1=01:00:5e:00:00:01",        /* multicast MAC */
        "198.18.0.1=00:00:00:00:00:00",        /* zero MAC */
        "198.18.1.1=02:00:00:00:00:01",        /* not on the link's network */
        "198.18.0.2=02:00:00:00:00:01",        /* our own address */
        "198.18.0.255=02:00:00:00:00:01",      /* the network's broadcast */
        "198.18.0.1=02:00:00:00:00:01,x",      /* a good one, then garbage */
        "198.18.0.1/24=02:00:00:00:00:01",     /* a prefix, not a host */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(stack_error_with_arp_static(bad[i]), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, st_setup, st_teardown)
        T(test_arp_announces_its_address_at_start),
        T(test_arp_replies_to_a_request_for_its_address),
        T(test_arp_does_not_reply_for_other_addresses),
        T(test_arp_replies_to_an_address_probe_without_learning),
        T(test_arp_first_packet_waits_for_the_reply),
        T(test_arp_reply_sends_the_queue_in_order),
        T(test_arp_queue_limit_drops_the_oldest),
        T(test_arp_queues_together_hold_at_most_a_quarter_of_the_pool),
        T(test_arp_retries_at_the_retransmit_interval_then_gives_up),
        T(test_arp_reachable_goes_stale_after_the_reachable_time),
        T(test_arp_stale_entry_in_use_is_probed_by_unicast),
        T(test_arp_unanswered_probes_free_the_entry),
        T(test_arp_claim_of_our_address_is_a_conflict_and_not_learned),
        T(test_arp_full_cache_drops_then_evicts_the_oldest_resolved),
        T(test_arp_static_entry_refuses_updates),
        T(test_arp_counts_a_neighbour_whose_mac_changes),
        T(test_arp_static_option_makes_entries_that_refuse_updates),
        T(test_arp_static_option_is_checked),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
