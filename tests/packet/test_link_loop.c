/*
 * The loop link: in-order delivery without copies, bursts, back-pressure of a full ring, eventfd
 * readiness, the MTU rule, a destroyed peer, frames freed at teardown, counters, and two threads
 * exchanging frames through both rings.
 *
 * Every test runs with test_pool_setup/test_pool_teardown, so each also proves that no frame
 * leaked.
 */
#include "testutil.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>

#include "link/loop.h"
#include "linktest.h"

static void make_pair(uint32_t ring, uint32_t mtu, struct link **a, struct link **b)
{
    struct link_loop_config cfg = { .ring_size = ring, .mtu = mtu };
    assert_int_equal(link_loop_pair(&cfg, a, b), 0);
}

static bool fd_readable(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int r = poll(&p, 1, 0);
    assert_true(r >= 0);
    return r == 1 && (p.revents & POLLIN);
}

static void test_frames_arrive_in_order_without_copy(void **state)
{
    struct pkt_pool *pool = *state;
    struct link *a, *b;
    make_pair(0, 0, &a, &b);
    assert_string_equal(a->name, "loop.a");
    assert_string_equal(b->name, "loop.b");
    assert_int_equal(a->caps.mtu, 1500);

    struct pkt *sent[10];
    for (uint32_t i = 0; i < 10; i++) {
        sent[i] = lt_seq_frame(pool, i, 100 + i);
        assert_int_equal(link_tx_burst(a, &sent[i], 1), 1);
    }
    struct pkt *got[16];
    assert_int_equal(lt_rx_all(b, got, 16), 10);
    for (uint32_t i = 0; i < 10; i++) {
        assert_ptr_equal(got[i], sent[i]);      /* the same descriptor: nothing copied */
        assert_ptr_equal(got[i]->pool, pool);   /* still belongs to the sender's pool */
        assert_int_equal(got[i]->len, 100 + i);
        assert_int_equal(lt_frame_seq(got[i]), i);
    }
    pkt_free_bulk(got, 10);
    assert_int_equal(a->ctrs.tx_frames, 10);
    assert_int_equal(a->ctrs.tx_bytes, 10 * 100 + 45);
    assert_int_equal(b->ctrs.rx_frames, 10);
    assert_int_equal(b->ctrs.rx_bytes, 10 * 100 + 45);
    assert_int_equal(a->ctrs.rx_frames, 0);
    assert_int_equal(link_rx_burst(a, got, 16), 0);   /* nothing came the other way */
    link_destroy(a);
    link_destroy(b);
}

static void test_bursts_and_partial_reads(void **state)
{
    struct pkt_pool *pool = *state;
    struct link *a, *b;
    make_pair(64, 0, &a, &b);
    lt_tx_seqs(a, pool, 0, 32, 64, 32);
    struct pkt *got[8];
    for (uint32_t round = 0; round < 4; round++) {
        assert_int_equal(link_rx_burst(b, got, 8), 8);
        for (uint32_t i = 0; i < 8; i++)
            assert_int_equal(lt_frame_seq(got[i]), round * 8 + i);
        pkt_free_bulk(got, 8);
    }
    assert_int_equal(link_rx_burst(b, got, 8), 0);
    assert_int_equal(link_rx_burst(b, got, 0), 0);
    link_destroy(a);
    link_destroy(b);
}

static void test_directions_are_independent(void **state)
{
    struct pkt_pool *pool = *state;
    struct link *a, *b;
    make_pair(8, 0, &a, &b);
    lt_tx_seqs(a, pool, 100, 3, 60, 3);
    lt_tx_seqs(b, pool, 200, 5, 60, 5);
    uint32_t seqs[8];
    assert_int_equal(lt_rx_seqs(a, seqs, 8), 5);
    for (uint32_t i = 0; i < 5; i++)
        assert_int_equal(seqs[i], 200 + i);
    assert_int_equal(lt_rx_seqs(b, seqs, 8), 3);
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(seqs[i], 100 + i);
    link_destroy(a);
    link_destroy(b);
}

static void test_full_ring_is_back_pressure(void **state)
{
    struct pkt_pool *pool = *state;
    struct link *a, *b;
    make_pair(8, 0, &a, &b);
    struct pkt *pkts[12];
    for (uint32_t i = 0; i < 12; i++)
        pkts[i] = lt_seq_frame(pool, i, 60);
    /* Eight fit; the caller keeps the other four. */
    assert_int_equal(link_tx_burst(a, pkts, 12), 8);
    assert_int_equal(link_tx_burst(a, pkts + 8, 4), 0);
    assert_int_equal(pkt_pool_in_use(pool), 12);

    struct pkt *got[3];
    assert_int_equal(link_rx_burst(b, got, 3), 3);
    pkt_free_bulk(got, 3);
    /* Room for three again: the producer rereads the consumer's index once the ring looks full. */
    assert_int_equal(link_tx_burst(a, pkts + 8, 4), 3);
    /* The caller decides what to do with the last one; link_tx_all_or_drop counts it. */
    assert_int_equal(link_tx_all_or_drop(a, pkts + 11, 1), 0);
    assert_int_equal(a->ctrs.tx_busy, 1);
    assert_int_equal(a->ctrs.tx_frames, 11);

    uint32_t seqs[16];
    assert_int_equal(lt_rx_seqs(b, seqs, 16), 8);
    for (uint32_t i = 0; i < 8; i++)
        assert_int_equal(seqs[i], 3 + i);
    link_destroy(a);
    link_destroy(b);
}

static void test_ring_wraps_around_many_times(void **state)
{
    struct pkt_pool *pool = *state;
    struct link *a, *b;
    make_pair(4, 0, &a, &b);
    uint32_t next_tx = 0, next_rx = 0;
    for (unsigned round = 0; round < 1000; round++) {
        unsigned burst = 1 + round % 5;     /* sometimes more than the ring holds */
        struct pkt *pkts[5];
        for (unsigned i = 0; i < burst; i++)
            pkts[i] = lt_seq_frame(pool, next_tx + i, 60);
        int sent = link_tx_burst(a, pkts, burst);
        assert_true(sent >= 1 && sent <= 4);
        next_tx += (uint32_t)sent;
        pkt_free_bulk(pkts + sent, burst - (unsigned)sent);
        uint32_t seqs[4];
        unsigned got = lt_rx_seqs(b, seqs, 1 + round % 4);
        for (unsigned i = 0; i < got; i++)
            assert_int_equal(seqs[i], next_rx++);
    }
    uint32_t seqs[4];
    unsigned got = lt_rx_seqs(b, seqs, 4);
    for (unsigned i = 0; i < got; i++)
        assert_int_equal(seqs[i], next_rx++);
    assert_int_equal(next_rx, next_tx);
    link_destroy(a);
    link_destroy(b);
}

static void test_wait_fd_is_readable_only_while_frames_wait(void **state)
{
    struct pkt_pool *pool = *state;
    struct link *a, *b;
    make_pair(8, 0, &a, &b);
    int fa = link_wait_fd(a), fb = link_wait_fd(b);
    assert_true(fa >= 0 && fb >= 0 && fa != fb);
    assert_false(fd_readable(fb));
    assert_false(fd_readable(fa));

    lt_tx_seqs(a, pool, 0, 2, 60, 2);
    assert_true(fd_readable(fb));
    assert_false(fd_readable(fa));          /* only the receiving side */
    assert_int_equal(link_loop_counters(a)->tx_wakeups, 1);

    /* A frame arriving while the receiver is awake costs no signal. */
    lt_tx_seqs(a, pool, 2, 1, 60, 1);
    assert_int_equal(link_loop_counters(a)->tx_wakeups, 1);

    struct pkt *got[8];
    assert_int_equal(link_rx_burst(b, got, 8), 3);
    pkt_free_bulk(got, 3);
    /* Drained only when rx finds the ring empty. */
    assert_true(fd_readable(fb));
    assert_int_equal(link_rx_burst(b, got, 8), 0);
    assert_false(fd_readable(fb));
    assert_int_equal(link_rx_burst(b, got, 8), 0);   /* empty again: no change */
    assert_false(fd_readable(fb));

    lt_tx_seqs(a, pool, 3, 1, 60, 1);
    assert_true(fd_readable(fb));
    assert_int_equal(link_loop_counters(a)->tx_wakeups, 2);
    assert_int_equal(lt_rx_all(b, got, 8), 1);
    pkt_free(got[0]);
    assert_false(fd_readable(fb));
    link_destroy(a);
    link_destroy(b);
}

static void test_frames_longer_than_mtu_are_consumed_and_counted(void **state)
{
    struct pkt_pool *pool = *state;
    struct link *a, *b;
    make_pair(8, 100, &a, &b);
    assert_int_equal(a->caps.mtu, 100);
    struct pkt *pkts[4] = {
        lt_seq_frame(pool, 1, 114),   /* MTU + 14: the largest allowed */
        lt_seq_frame(pool, 2, 115),   /* one byte too long */
        lt_seq_frame(pool, 3, 60),
        lt_seq_frame(pool, 4, 1000),
    };
    /* All four are consumed; the two long ones are freed, not returned. */
    assert_int_equal(link_tx_burst(a, pkts, 4), 4);
    assert_int_equal(link_loop_counters(a)->tx_too_long, 2);
    assert_int_equal(a->ctrs.tx_frames, 2);
    assert_int_equal(pkt_pool_in_use(pool), 2);
    uint32_t seqs[4];
    assert_int_equal(lt_rx_seqs(b, seqs, 4), 2);
    assert_int_equal(seqs[0], 1);
    assert_int_equal(seqs[1], 3);

    uint64_t v = 0;
    struct ctr_group g = link_loop_ctr_group(a);
    assert_string_equal(g.name, "loop.a.loop");
    assert_int_equal(ctr_group_find(&g, "tx_too_long", &v), 0);
    assert_int_equal(v, 2);
    link_destroy(a);
    link_destroy(b);
}

static void test_destroyed_peer_gives_enetdown(void **state)
{
    struct pkt_pool *pool = *state;
    struct link *a, *b;
    make_pair(8, 0, &a, &b);
    lt_tx_seqs(a, pool, 0, 3, 60, 3);     /* waiting in b's receive ring */
    lt_tx_seqs(b, pool, 10, 2, 60, 2);    /* waiting in a's receive ring */
    struct pkt *got[8];
    assert_int_equal(link_rx_burst(a, got, 8), 2);   /* a takes them and goes idle ... */
    pkt_free_bulk(got, 2);
    assert_int_equal(link_rx_burst(a, got, 8), 0);
    assert_false(fd_readable(link_wait_fd(a)));
    lt_tx_seqs(b, pool, 12, 2, 60, 2);    /* ... then two more arrive */

    link_destroy(b);
    assert_int_equal(pkt_pool_in_use(pool), 2);      /* b freed the three sent to it */
    assert_true(fd_readable(link_wait_fd(a)));       /* a sleeper would wake up */

    struct pkt *p = lt_seq_frame(pool, 99, 60);
    assert_int_equal(link_tx_burst(a, &p, 1), -ENETDOWN);
    assert_int_equal(link_tx_all_or_drop(a, &p, 1), -ENETDOWN);  /* frees p */

    /* What b sent before going away is still delivered, then the error. */
    assert_int_equal(link_rx_burst(a, got, 8), 2);
    assert_int_equal(lt_frame_seq(got[0]), 12);
    assert_int_equal(lt_frame_seq(got[1]), 13);
    pkt_free_bulk(got, 2);
    assert_int_equal(link_rx_burst(a, got, 8), -ENETDOWN);
    assert_int_equal(link_rx_burst(a, got, 8), -ENETDOWN);
    assert_true(fd_readable(link_wait_fd(a)));       /* a dead link stays readable */
    link_destroy(a);
}

static void test_destroy_frees_frames_in_both_rings(void **state)
{
    struct pkt_pool *pool = *state;
    struct link *a, *b;
    make_pair(16, 0, &a, &b);
    lt_tx_seqs(a, pool, 0, 5, 60, 5);
    lt_tx_seqs(b, pool, 0, 7, 60, 7);
    assert_int_equal(pkt_pool_in_use(pool), 12);
    link_destroy(a);                          /* frees the 7 queued towards a */
    assert_int_equal(pkt_pool_in_use(pool), 5);
    link_destroy(b);                          /* frees the 5 queued towards b */
    assert_int_equal(pkt_pool_in_use(pool), 0);
    link_destroy(NULL);
}

static void test_bad_configs_are_refused(void **state)
{
    (void)state;
    struct link *a = NULL, *b = NULL;
    struct link_loop_config cfg = { .ring_size = 3 };
    assert_int_equal(link_loop_pair(&cfg, &a, &b), -EINVAL);
    cfg.ring_size = 1;
    assert_int_equal(link_loop_pair(&cfg, &a, &b), -EINVAL);
    cfg.ring_size = LINK_LOOP_MAX_RING * 2;
    assert_int_equal(link_loop_pair(&cfg, &a, &b), -EINVAL);
    cfg = (struct link_loop_config){ .mtu = 67 };
    assert_int_equal(link_loop_pair(&cfg, &a, &b), -EINVAL);
    cfg.mtu = 65536;
    assert_int_equal(link_loop_pair(&cfg, &a, &b), -EINVAL);
    assert_null(a);
    assert_null(b);

    cfg = (struct link_loop_config){ .ring_size = 2, .mtu = 9000, .name_a = "left",
                                     .name_b = "right" };
    assert_int_equal(link_loop_pair(&cfg, &a, &b), 0);
    assert_string_equal(a->name, "left");
    assert_string_equal(b->name, "right");
    assert_int_equal(b->caps.mtu, 9000);
    assert_int_equal(link_next_event_ns(a), UINT64_MAX);
    link_destroy(b);
    link_destroy(a);
    assert_int_equal(link_loop_pair(NULL, &a, &b), 0);
    link_destroy(a);
    link_destroy(b);
}

/* ---- two threads: frames go a -> b and come back b -> a, so no pool is touched meanwhile ---- */

#define PING_FRAMES 48u
#define PING_TOTAL 200000u

struct ping_side {
    struct link *l;
    unsigned moved;           /* frames this side forwarded */
    unsigned bad;             /* frames out of order */
    unsigned sleeps;          /* times it slept in poll() */
};

/* Receives what arrives and sends it straight back, sleeping on wait_fd when there is nothing;
 * side a checks the order of the numbers it sees come back. */
static void *ping_run(void *arg)
{
    struct ping_side *s = arg;
    bool checker = strcmp(s->l->name, "loop.a") == 0;
    uint32_t expect = 0;
    while (s->moved < PING_TOTAL) {
        struct pkt *burst[16];
        int r = link_rx_burst(s->l, burst, 16);
        if (r < 0)
            break;
        if (r == 0) {
            struct pollfd p = { .fd = link_wait_fd(s->l), .events = POLLIN };
            /* A lost wakeup would stall here: the timeout turns it into a failure, not a hang. */
            if (poll(&p, 1, 10000) == 0)
                break;
            s->sleeps++;
            continue;
        }
        for (int i = 0; i < r; i++) {
            if (checker && lt_frame_seq(burst[i]) != expect % PING_FRAMES)
                s->bad++;
            expect++;
        }
        /* Both rings hold every frame in play, so sending back never meets a full ring. */
        if (link_tx_burst(s->l, burst, (unsigned)r) != r)
            break;
        s->moved += (unsigned)r;
    }
    return NULL;
}

static void test_two_threads_exchange_frames_in_order(void **state)
{
    struct pkt_pool *pool = *state;
    struct link *a, *b;
    make_pair(64, 0, &a, &b);
    /* Numbers 0..47 start in b's receive ring, as if a had just sent them. */
    lt_tx_seqs(a, pool, 0, PING_FRAMES, 60, PING_FRAMES);
    struct ping_side sa = { .l = a }, sb = { .l = b };
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&tb, NULL, ping_run, &sb), 0);
    assert_int_equal(pthread_create(&ta, NULL, ping_run, &sa), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_true(sb.moved >= PING_TOTAL);
    assert_true(sa.moved >= PING_TOTAL);
    assert_int_equal(sa.bad, 0);
    /* Whatever is still in flight is freed by the two destroys. */
    link_destroy(a);
    link_destroy(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, test_pool_setup, test_pool_teardown)
        T(test_frames_arrive_in_order_without_copy),
        T(test_bursts_and_partial_reads),
        T(test_directions_are_independent),
        T(test_full_ring_is_back_pressure),
        T(test_ring_wraps_around_many_times),
        T(test_wait_fd_is_readable_only_while_frames_wait),
        T(test_frames_longer_than_mtu_are_consumed_and_counted),
        T(test_destroyed_peer_gives_enetdown),
        T(test_destroy_frees_frames_in_both_rings),
        T(test_bad_configs_are_refused),
        T(test_two_threads_exchange_frames_in_order),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
