/*
 * The TAP link's receive bursts (link/tap.c), against a real TAP device in a private network
 * namespace of the test's own (unshare; nothing is visible outside it): frames the kernel
 * transmits on the device (sent through an AF_PACKET socket bound to it) are what rx_burst
 * reads. Checks sparse mode: after single-frame bursts, a burst stops after one frame, the
 * device stays readable for what is left (LINK_RX_LEVEL), a probing burst that finds
 * several frames goes back to reading until the device is empty, and probes grow rarer while
 * bursts stay single (seen in tap.rx_empty, the reads that find the device empty).
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "link/link.h"
#include "link/open.h"
#include "link/tap.h"

#define TAP_NAME "ustsparse0"
#define ETHERTYPE_TEST 0x88b5    /* IEEE 802 local experimental */

struct tap_fixture {
    struct pkt_pool *pool;
    struct link *link;
    int tx;                      /* AF_PACKET socket on the device: the kernel's side */
    int ifindex;
};

/* A private network namespace without IPv6 (no autoconfiguration frames on the device), or
 * false if that is not allowed here. */
static bool private_netns(void)
{
    if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0)
        return false;
    int fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        bool ok = write(fd, "1", 1) == 1;
        close(fd);
        if (!ok)
            return false;
    }
    return true;
}

static void bring_up(const char *name)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct ifreq ifr = { 0 };
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    assert_int_equal(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
    ifr.ifr_flags |= IFF_UP;
    assert_int_equal(ioctl(fd, SIOCSIFFLAGS, &ifr), 0);
    close(fd);
}

static int setup(void **state)
{
    if (!private_netns()) {
        *state = NULL;
        return 0;
    }
    struct tap_fixture *f = test_malloc(sizeof(*f));
    f->pool = test_pool_new(512);
    struct link_env env = { .mtu = 1500, .pool = f->pool };
    assert_int_equal(link_open("tap:" TAP_NAME ",vnet=0", &env, &f->link), 0);
    bring_up(TAP_NAME);
    f->ifindex = (int)if_nametoindex(TAP_NAME);
    assert_true(f->ifindex > 0);
    f->tx = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    assert_true(f->tx >= 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct tap_fixture *f = *state;
    if (!f)
        return 0;
    close(f->tx);
    link_destroy(f->link);
    test_pool_free(f->pool);   /* fails if a buffer is still in use */
    test_free(f);
    return 0;
}

/* The kernel transmits n broadcast frames on the device (queued for our reads on return). */
static void kernel_sends(struct tap_fixture *f, unsigned n)
{
    uint8_t d[60];
    memset(d, 0xff, 6);
    memcpy(d + 6, (uint8_t[]){ 0x02, 0, 0x5e, 0, 0, 1 }, 6);
    d[12] = ETHERTYPE_TEST >> 8, d[13] = ETHERTYPE_TEST & 0xff;
    struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_ifindex = f->ifindex,
                              .sll_halen = 6 };
    memset(to.sll_addr, 0xff, 6);
    for (unsigned i = 0; i < n; i++) {
        memset(d + 14, (int)i, sizeof(d) - 14);
        assert_int_equal(sendto(f->tx, d, sizeof(d), 0, (struct sockaddr *)&to, sizeof(to)),
                         (ssize_t)sizeof(d));
    }
}

static bool readable(struct tap_fixture *f, int timeout_ms)
{
    struct pollfd pfd = { .fd = link_wait_fd(f->link), .events = POLLIN };
    return poll(&pfd, 1, timeout_ms) == 1 && (pfd.revents & POLLIN);
}

/* One burst of up to 32; frees what it got and returns how many. */
static int burst(struct tap_fixture *f)
{
    struct pkt *got[32];
    int n = link_rx_burst(f->link, got, 32);
    assert_true(n >= 0);
    for (int i = 0; i < n; i++) {
        assert_int_equal(got[i]->len, 60);
        assert_int_equal(got[i]->data[12] << 8 | got[i]->data[13], ETHERTYPE_TEST);
        pkt_free(got[i]);
    }
    return n;
}

static void test_sparse_bursts_stop_after_one_frame_and_stay_readable(void **state)
{
    struct tap_fixture *f = *state;
    if (!f) {
        print_message("skipped: needs root to make a network namespace\n");
        skip();
    }
    /* Single frames, read to the end: sparse mode begins. */
    for (int i = 0; i < 2; i++) {
        kernel_sends(f, 1);
        assert_true(readable(f, 1000));
        assert_int_equal(burst(f), 1);
        assert_false(readable(f, 0));
    }
    /* Three frames: each burst now takes one, and the device says more are waiting. */
    kernel_sends(f, 3);
    for (int i = 0; i < 3; i++) {
        assert_true(readable(f, 1000));
        assert_int_equal(burst(f), 1);
    }
    assert_false(readable(f, 0));
}

static void test_a_probe_that_finds_several_frames_ends_sparse_mode(void **state)
{
    struct tap_fixture *f = *state;
    if (!f) {
        print_message("skipped: needs root to make a network namespace\n");
        skip();
    }
    kernel_sends(f, 1);
    assert_true(readable(f, 1000));
    assert_int_equal(burst(f), 1);   /* read to the end: one frame, sparse from now on */
    /* Twenty frames: single-frame bursts until a probe (at most 8 bursts in) takes the rest. */
    kernel_sends(f, 20);
    unsigned total = 0, bursts = 0;
    int n = 0;
    while (total < 20 && bursts < 8) {
        n = burst(f);
        bursts++;
        total += (unsigned)n;
        if (n > 1)
            break;
        assert_int_equal(n, 1);
    }
    assert_true(n > 1);
    assert_int_equal(total, 20);
    /* Out of sparse mode: a burst reads everything there is. */
    kernel_sends(f, 5);
    assert_true(readable(f, 1000));
    assert_int_equal(burst(f), 5);
}

static void test_probes_grow_rarer_while_bursts_stay_single(void **state)
{
    struct tap_fixture *f = *state;
    if (!f) {
        print_message("skipped: needs root to make a network namespace\n");
        skip();
    }
    const struct tap_ctrs *c = link_tap_counters(f->link);
    kernel_sends(f, 1);
    assert_true(readable(f, 1000));
    assert_int_equal(burst(f), 1);   /* read to the end: sparse from now on */
    assert_int_equal(c->rx_empty, 1);
    /* One frame per burst: only the probes read on to the empty device, 8 bursts in, then at
     * gaps of 16, 32, 64, 64 bursts. */
    static const unsigned probes[] = { 8, 24, 56, 120, 184 };
    unsigned next = 0;
    for (unsigned i = 1; i <= 184; i++) {
        kernel_sends(f, 1);
        assert_true(readable(f, 1000));
        assert_int_equal(burst(f), 1);
        if (i == probes[next])
            next++;
        assert_int_equal(c->rx_empty, 1 + next);
    }
    assert_int_equal(next, 5);
    /* A probe that finds two frames ends sparse mode, and the next time it begins, the first
     * probe is 8 bursts in again. */
    for (unsigned i = 1; i < 64; i++) {
        kernel_sends(f, 1);
        assert_int_equal(burst(f), 1);
    }
    kernel_sends(f, 2);
    assert_int_equal(burst(f), 2);   /* the probe, 64 bursts after the last */
    kernel_sends(f, 1);
    assert_int_equal(burst(f), 1);   /* read to the end: sparse again */
    uint64_t empty = c->rx_empty;
    for (unsigned i = 1; i <= 8; i++) {
        kernel_sends(f, 1);
        assert_int_equal(burst(f), 1);
        assert_int_equal(c->rx_empty, empty + (i == 8));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sparse_bursts_stop_after_one_frame_and_stay_readable,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_probe_that_finds_several_frames_ends_sparse_mode,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_probes_grow_rarer_while_bursts_stay_single,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
