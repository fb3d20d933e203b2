/*
 * A seeded two-stack network simulation (STYLE.md, after smoltcp's netsim): two ustack stacks on a
 * loop pair, each end behind the fault middleware (src/link/fault.h: loss, reordering,
 * duplication, delay), one fake clock for both. A client transfers a few MiB to a server over
 * TCP; the server checks every byte (memcmp against the pattern), then both close.
 *
 * Each scenario's figures (simulated time, throughput, segments, retransmissions, timeouts,
 * recoveries) go into a table that is compared with the golden file checked in beside this test,
 * tests/packet/golden/tcp_netsim.txt: any change in TCP's behaviour under loss shows up as a
 * diff there. To accept a deliberate change, run the test with UST_GOLDEN_UPDATE=1 and commit
 * the new file. Everything is deterministic: the fault injector's draws come from the seeds,
 * the clock is fake, and each stack's secret (ISNs, ports, timestamp offsets) is fixed.
 */
#include "tcptest.h"

#include <stdio.h>
#include <stdlib.h>

#include "link/fault.h"
#include "link/loop.h"
#include "link/pcap.h"
#include "net/arp.h"
#include "tcp/tcp.h"
#include "ustack/ustack.h"

#define SIM_BYTES (4u << 20)
#define SIM_PORT 5001
#define SIM_LIMIT_NS (3600ull * NS_PER_SEC)   /* a stuck transfer fails, it does not hang */

static const struct eth_addr mac_a = { { 0x02, 0, 0, 0, 0, 0x0a } };
static const struct eth_addr mac_b = { { 0x02, 0, 0, 0, 0, 0x0b } };
#define ADDR_A ST_NET(10)        /* the server */
#define ADDR_B ST_NET(11)        /* the client */

struct scenario {
    const char *name;
    uint64_t seed;
    double loss, reorder, dup;
    uint64_t delay_ms, jitter_ms;
    bool both_ways;              /* the server sends the same stream back at the same time */
};

static const struct scenario scenarios[] = {
    { "clean", 1, 0, 0, 0, 5, 0, false },
    { "loss1", 2, 0.01, 0, 0, 5, 0, false },
    { "loss5", 3, 0.05, 0, 0, 5, 0, false },
    { "reorder", 4, 0, 0.05, 0, 5, 0, false },
    { "jitter", 5, 0, 0, 0, 5, 4, false },
    { "dup", 6, 0, 0, 0.05, 5, 0, false },
    { "mixed", 7, 0.02, 0.02, 0.02, 5, 2, false },
    { "both_ways", 8, 0.01, 0.01, 0, 5, 0, true },
    { "loss5_lan", 9, 0.05, 0, 0, 1, 0, false },   /* a short path, as the interop bridge */
};

struct node {
    struct ust_stack *s;
    struct pkt_pool *dup_pool;
    struct link *fault;
};

struct sim {
    struct clk clock;
    struct node a, b;
    uint8_t *pattern;
};

static struct ust_stack *make_stack(struct sim *sim, struct node *n, struct link *end,
                                    const struct scenario *sc, unsigned dir, const char *addr,
                                    const char *mac)
{
    struct pkt_pool_config pc = { .name = dir ? "dup.b" : "dup.a", .count = 1024,
                                  .buf_size = PKT_DEFAULT_BUF_SIZE,
                                  .headroom = PKT_DEFAULT_HEADROOM };
    assert_int_equal(pkt_pool_create(&pc, &n->dup_pool), 0);
    struct fault_config fc = { .seed = sc->seed * 2 + dir };
    fc.tx = (struct fault_dir_config){ .drop_p = sc->loss, .dup_p = sc->dup,
                                       .reorder_p = sc->reorder, .reorder_gap = 3,
                                       .delay_ns = sc->delay_ms * NS_PER_MS,
                                       .jitter_ns = sc->jitter_ms * NS_PER_MS };
    assert_int_equal(link_fault_create(end, &fc, &sim->clock, n->dup_pool, &n->fault), 0);
    struct link *l = n->fault;
    const char *only = getenv("NETSIM_ONLY");
    if (getenv("NETSIM_PCAP") && (only ? strcmp(only, sc->name) == 0 : sc->both_ways)) {
        char path[256];
        snprintf(path, sizeof(path), "/tmp/netsim_%u.pcap", dir);
        assert_int_equal(link_pcap_create(n->fault, path, &sim->clock, &l), 0);
    }
    struct ust_config cfg;
    ust_config_defaults(&cfg);
    assert_int_equal(ust_config_set(&cfg, "addr", addr), 0);
    assert_int_equal(ust_config_set(&cfg, "mac", mac), 0);
    int err = 0;
    n->s = stack_create_on(&cfg, &sim->clock, l, &err);
    if (!n->s)
        fail_msg("stack_create_on: %s", strerror(-err));
    /* Fixed secrets: the same ISNs, ports and timestamp offsets on every run. */
    n->s->secret = (struct hash_key){ 0x5eed0000u + dir, sc->seed };
    return n->s;
}

static void neighbour(struct ust_stack *s, uint32_t ip, const struct eth_addr *mac)
{
    stack_enter(s);
    assert_int_equal(arp_add_static(&s->ifaces[0], ip, mac), 0);
    stack_leave(s);
}

/* Polls both stacks until neither has anything more to do now; returns the next time either
 * needs the clock. *worked says whether any frame was received on the way. */
static uint64_t settle(struct sim *sim, bool *worked)
{
    uint64_t na, nb;
    *worked = false;
    for (;;) {
        int ra = ust_stack_poll(sim->a.s, &na);
        int rb = ust_stack_poll(sim->b.s, &nb);
        assert_true(ra >= 0 && rb >= 0);
        if (ra == 0 && rb == 0)
            return na < nb ? na : nb;
        *worked = true;
    }
}

struct stream {
    int fd;
    uint32_t sent, received;
    bool shut, eof;
};

/* Writes what the socket takes, reads and checks what arrived. Returns true on progress. */
static bool pump(struct sim *sim, struct stream *st, bool sends, bool receives)
{
    bool progress = false;
    if (sends && st->sent < SIM_BYTES) {
        ssize_t n = ust_send(st->fd, sim->pattern + st->sent, SIM_BYTES - st->sent,
                             MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            st->sent += (uint32_t)n;
            progress = true;
        } else if (errno != EAGAIN) {
            fail_msg("send: %s after %u bytes", strerror(errno), st->sent);
        }
    }
    if (sends && st->sent == SIM_BYTES && !st->shut) {
        assert_int_equal(ust_shutdown(st->fd, SHUT_WR), 0);
        st->shut = true;
        progress = true;
    }
    static uint8_t buf[64 * 1024];
    while (receives && !st->eof) {
        ssize_t n = ust_recv(st->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0) {
            assert_int_equal(errno, EAGAIN);
            break;
        }
        if (n == 0) {
            st->eof = true;
            assert_int_equal(st->received, SIM_BYTES);
        } else {
            assert_true(st->received + (uint32_t)n <= SIM_BYTES);
            if (memcmp(buf, sim->pattern + st->received, (size_t)n) != 0)
                fail_msg("the byte stream differs at offset %u", st->received);
            st->received += (uint32_t)n;
        }
        progress = true;
    }
    return progress;
}

static uint64_t ctr(struct ust_stack *s, const char *name)
{
    uint64_t v;
    if (ust_stack_counter(s, name, &v) != 0)
        fail_msg("no counter %s", name);
    return v;
}

/* Appends the scenario's line of figures to out (and, with NETSIM_ONLY, more counters to
 * stderr): a is the server's stack, b the client's. */
static void report(const struct scenario *sc, struct sim *sim, struct ust_stack *a,
                   struct ust_stack *b, int client_fd, uint64_t elapsed, char *out, size_t cap)
{
    struct ust_tcp_info ci = st_tcp_info(client_fd);
    const struct fault_ctrs *fa = link_fault_counters(sim->a.fault, FAULT_TX);
    const struct fault_ctrs *fb = link_fault_counters(sim->b.fault, FAULT_TX);
    uint64_t bytes = (uint64_t)SIM_BYTES * (sc->both_ways ? 2 : 1);
    double mbps = (double)bytes * 8 / ((double)elapsed / 1e9) / 1e6;
    size_t len = strlen(out);
    snprintf(out + len, cap - len,
             "%-10s %4llu %8llu %9.3f %8.2f %6llu %6llu %5u %4llu %4llu %4llu %4llu %5llu %5llu "
             "%5llu %5llu\n",
             sc->name, (unsigned long long)sc->seed, (unsigned long long)bytes,
             (double)elapsed / 1e6, mbps, (unsigned long long)ctr(b, "tcp.out_segs"),
             (unsigned long long)ctr(b, "tcp.retrans_segs") +
                 (unsigned long long)ctr(a, "tcp.retrans_segs"),
             ci.total_retrans, (unsigned long long)(ctr(a, "tcp.timeouts") + ctr(b, "tcp.timeouts")),
             (unsigned long long)(ctr(a, "tcp.fast_retrans") + ctr(b, "tcp.fast_retrans")),
             (unsigned long long)(ctr(a, "tcp.dsack_recv") + ctr(b, "tcp.dsack_recv")),
             (unsigned long long)(ctr(a, "tcp.ooo_segs") + ctr(b, "tcp.ooo_segs")),
             (unsigned long long)(fa->drop_random + fb->drop_random),
             (unsigned long long)(fa->dup + fb->dup),
             (unsigned long long)(fa->reorder_held + fb->reorder_held),
             (unsigned long long)(fa->out + fb->out));

    if (getenv("NETSIM_ONLY")) {
        static const char *const extra[] = { "tcp.rack_lost", "tcp.rack_reo_timeouts",
                                             "tcp.tlp_probes", "tcp.tlp_losses",
                                             "tcp.sack_recoveries", "tcp.timeouts",
                                             "tcp.in_csum_errors", "tcp.in_errs" };
        for (size_t k = 0; k < sizeof(extra) / sizeof(extra[0]); k++)
            fprintf(stderr, "%s client %llu server %llu\n", extra[k],
                    (unsigned long long)ctr(b, extra[k]), (unsigned long long)ctr(a, extra[k]));
    }
}

/* Runs one scenario; appends its line to out. */
static void run(const struct scenario *sc, uint8_t *pattern, char *out, size_t cap)
{
    struct sim sim = { .pattern = pattern };
    clk_init_fake(&sim.clock, ST_CLOCK_START);
    struct link *ea, *eb;
    struct link_loop_config lc = { .ring_size = 4096, .mtu = 1500 };
    assert_int_equal(link_loop_pair(&lc, &ea, &eb), 0);
    struct ust_stack *a = make_stack(&sim, &sim.a, ea, sc, 0, "198.18.0.10/24",
                                     "02:00:00:00:00:0a");
    struct ust_stack *b = make_stack(&sim, &sim.b, eb, sc, 1, "198.18.0.11/24",
                                     "02:00:00:00:00:0b");
    bool worked;
    settle(&sim, &worked);   /* the start-up announcements */
    neighbour(a, ADDR_B, &mac_b);
    neighbour(b, ADDR_A, &mac_a);

    int lfd = ust_stack_socket(a, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(lfd >= 0);
    assert_int_equal(st_bind(lfd, 0, SIM_PORT), 0);
    assert_int_equal(ust_listen(lfd, 4), 0);
    struct stream client = { .fd = ust_stack_socket(b, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0) };
    struct stream server = { .fd = -1 };
    assert_true(client.fd >= 0);
    uint64_t start = sim.clock.fake_ns;
    expect_errno(st_connect(client.fd, ADDR_A, SIM_PORT), EINPROGRESS);

    bool done = false;
    while (!done) {
        assert_true(sim.clock.fake_ns - start < SIM_LIMIT_NS);
        uint64_t next = settle(&sim, &worked);
        bool progress = false;
        if (server.fd < 0) {
            server.fd = ust_accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
            progress = server.fd >= 0;
        }
        if (st_tcp_state(client.fd) != SYN_SENT) {
            progress |= pump(&sim, &client, true, sc->both_ways);
            if (server.fd >= 0)
                progress |= pump(&sim, &server, sc->both_ways, true);
        }
        done = server.eof && (!sc->both_ways || client.eof);
        if (done || progress)
            continue;
        /* The socket calls above run the stacks too (a receive processes what has arrived
         * and may answer it): settle again, so the clock never skips past what they sent. */
        next = settle(&sim, &worked);
        if (worked)
            continue;
        assert_true(next != UINT64_MAX);   /* nothing scheduled and nothing to do: stuck */
        if (next > sim.clock.fake_ns)
            clk_set(&sim.clock, next);
    }
    uint64_t elapsed = sim.clock.fake_ns - start;

    report(sc, &sim, a, b, client.fd, elapsed, out, cap);
    ust_close(client.fd);
    ust_close(server.fd);
    ust_close(lfd);
    ust_stack_destroy(a);
    ust_stack_destroy(b);
    assert_int_equal(pkt_pool_in_use(sim.a.dup_pool), 0);
    assert_int_equal(pkt_pool_in_use(sim.b.dup_pool), 0);
    pkt_pool_destroy(sim.a.dup_pool);
    pkt_pool_destroy(sim.b.dup_pool);
}

static const char header[] =
    "# tests/packet/test_tcp_netsim.c: two ustack stacks, 5 ms each way (loss5_lan: 1 ms),\n"
    "# faults on both\n"
    "# directions; columns: scenario, seed, bytes moved, simulated ms, Mbit/s (simulated),\n"
    "# client segments out, segments retransmitted (both stacks), client total_retrans,\n"
    "# timeouts, fast recoveries, D-SACKs received, out-of-order segments queued, frames the\n"
    "# injector dropped, duplicated, held back (reordered), and let through.\n"
    "# Regenerate with UST_GOLDEN_UPDATE=1 after a deliberate change, and commit the diff.\n";

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    static char buf[16384];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

static void test_tcp_transfers_through_a_lossy_link_match_the_golden_figures(void **state)
{
    (void)state;
    uint8_t *pattern = malloc(SIM_BYTES);
    assert_non_null(pattern);
    st_pattern(pattern, SIM_BYTES, 0);
    static char table[8192];
    snprintf(table, sizeof(table), "%s", header);
    /* NETSIM_ONLY=name runs one scenario and prints its line (for investigating; with
     * NETSIM_PCAP the capture is of that scenario), without comparing. */
    const char *only = getenv("NETSIM_ONLY");
    /* NETSIM_SEEDS=N with NETSIM_ONLY: that scenario with N seeds more (its seed + 100 k), to
     * tell a change in behaviour from the luck of one seed. */
    unsigned seeds = only && getenv("NETSIM_SEEDS") ? (unsigned)atoi(getenv("NETSIM_SEEDS")) : 0;
    for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
        if (only && strcmp(only, scenarios[i].name) != 0)
            continue;
        run(&scenarios[i], pattern, table, sizeof(table));
        for (unsigned k = 1; k <= seeds && k <= 40; k++) {
            struct scenario sc = scenarios[i];
            sc.seed += 100 * k;
            run(&sc, pattern, table, sizeof(table));
        }
    }
    free(pattern);
    printf("%s", table);
    if (only)
        return;

    const char *src = getenv("UST_TEST_SRC");
    assert_non_null(src);
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/packet/golden/tcp_netsim.txt", src);
    if (getenv("UST_GOLDEN_UPDATE")) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(table, f);
        fclose(f);
        return;
    }
    const char *golden = read_file(path);
    if (!golden)
        fail_msg("no golden file %s (run with UST_GOLDEN_UPDATE=1 to make it)", path);
    if (strcmp(golden, table) != 0) {
        print_error("the figures differ from %s:\n--- golden\n%s--- now\n%s", path, golden,
                    table);
        fail();
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_transfers_through_a_lossy_link_match_the_golden_figures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
