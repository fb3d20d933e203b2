/*
 * The AF_XDP link (link/afxdp.c) without a peer stack: malformed specs and missing interfaces
 * are refused cleanly; and, as root, frames sent on the loopback interface of a fresh network
 * namespace of this process come back through the XDP program to the same socket, so the UMEM
 * bookkeeping is checked exactly: what was sent is what is received, transmitted buffers return
 * to the pool on completion, and destroying the link returns every buffer lent to the kernel.
 * In a build without libxdp every spec is refused with EPROTONOSUPPORT.
 */
#include "testutil.h"

#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "link/afxdp.h"
#include "link/open.h"

static int open_spec(struct pkt_pool *pool, const char *spec, struct link **l)
{
    struct link_env env = { .mtu = 1500, .pool = pool };
    *l = NULL;
    return link_open(spec, &env, l);
}

static void test_malformed_specs_are_refused(void **state)
{
    struct pkt_pool *pool = *state;
    const char *bad[] = {
        "afxdp:", "afxdp:,queue=1", "afxdp:lo,zc=1", "afxdp:lo,queue=x", "afxdp:lo,queue=-1",
        "afxdp:lo,queue=70000", "afxdp:lo,zerocopy=2", "afxdp:lo,zerocopy=", "afxdp:lo,queue",
        "afxdp:averyveryverylongifname",
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct link *l;
        int err = open_spec(pool, bad[i], &l);
        assert_int_equal(err, link_afxdp_built ? -EINVAL : -EPROTONOSUPPORT);
        assert_null(l);
    }
    assert_int_equal(pkt_pool_in_use(pool), 0);
}

static void test_missing_interface_is_enodev(void **state)
{
    struct link *l;
    int err = open_spec(*state, "afxdp:ustnosuchif9,queue=0,zerocopy=0", &l);
    assert_int_equal(err, link_afxdp_built ? -ENODEV : -EPROTONOSUPPORT);
    assert_null(l);
}

/* A fresh network namespace with lo up, or false (with the reason) if that is not allowed. */
static bool private_loopback(void)
{
    if (!link_afxdp_built || geteuid() != 0 || unshare(CLONE_NEWNET) != 0)
        return false;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = { 0 };
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    bool ok = fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
    ifr.ifr_flags |= IFF_UP;
    ok = ok && ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* Receives up to n frames within about a second. */
static unsigned rx_wait(struct link *l, struct pkt **got, unsigned n)
{
    unsigned have = 0;
    for (int tries = 0; have < n && tries < 100; tries++) {
        int r = link_rx_burst(l, got + have, n - have);
        assert_true(r >= 0);
        have += (unsigned)r;
        if (have < n) {
            struct pollfd pfd = { .fd = link_wait_fd(l), .events = POLLIN };
            poll(&pfd, 1, 10);
        }
    }
    return have;
}

static struct pkt *frame(struct pkt_pool *pool, unsigned i, uint32_t len)
{
    struct pkt *p = pkt_alloc(pool);
    assert_non_null(p);
    uint8_t *d = pkt_put(p, len);
    assert_non_null(d);
    memset(d, 0xff, 6);                                   /* broadcast */
    memcpy(d + 6, (uint8_t[]){ 0x02, 0, 0x5e, 0, 0, 1 }, 6);
    d[12] = 0x88, d[13] = 0xb5;                           /* IEEE local experimental */
    for (uint32_t k = 14; k < len; k++)
        d[k] = (uint8_t)(i * 31 + k);
    return p;
}

static void test_loopback_frames_come_back_and_buffers_return(void **state)
{
    (void)state;
    if (!private_loopback()) {
        print_message("skipped: needs root and a build with AF_XDP\n");
        skip();
    }
    struct pkt_pool *pool = test_pool_new(256);
    struct link *l;
    assert_int_equal(open_spec(pool, "afxdp:lo,zerocopy=0", &l), 0);
    assert_int_equal(link_afxdp_zerocopy(l), 0);
    assert_false(l->caps.offloads & LINK_TX_SYNC);
    uint32_t lent = pkt_pool_in_use(pool);
    assert_true(lent > 0 && lent <= 256 - 64);   /* the fill ring, never the last quarter */

    enum { N = 40 };
    struct pkt *tx[N];
    for (unsigned i = 0; i < N; i++)
        tx[i] = frame(pool, i, 60 + i * 37);
    assert_int_equal(link_tx_burst(l, tx, N), N);
    struct pkt *got[N];
    unsigned n = rx_wait(l, got, N);
    assert_int_equal(n, N);
    for (unsigned i = 0; i < N; i++) {
        struct pkt *want = frame(pool, i, 60 + i * 37);
        assert_int_equal(got[i]->len, want->len);
        assert_memory_equal(got[i]->data, want->data, want->len);
        assert_true(pkt_headroom(got[i]) >= pkt_pool_headroom(pool));
        pkt_free(want);
        pkt_free(got[i]);
    }
    assert_int_equal(l->ctrs.tx_frames, N);
    assert_int_equal(l->ctrs.rx_frames, N);
    /* The transmitted buffers came back through the completion ring; after one more burst the
     * pool holds exactly the fill ring's lent buffers again. */
    struct pkt *none[4];
    for (int tries = 0; tries < 100 && pkt_pool_in_use(pool) != lent; tries++) {
        assert_int_equal(link_rx_burst(l, none, 4), 0);
        usleep(1000);
    }
    assert_int_equal(pkt_pool_in_use(pool), lent);
    const struct afxdp_ctrs *c = link_afxdp_counters(l);
    assert_int_equal(c->rx_bad_desc + c->comp_bad_desc + c->xsk_tx_invalid, 0);
    link_destroy(l);
    test_pool_free(pool);   /* fails if destroy left any lent buffer in use */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_malformed_specs_are_refused, test_pool_setup,
                                        test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_missing_interface_is_enodev, test_pool_setup,
                                        test_pool_teardown),
        cmocka_unit_test(test_loopback_frames_come_back_and_buffers_return),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
