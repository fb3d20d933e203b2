/*
 * The pcap middleware: a known exchange captured through pcap(fault(loop)) with a fake clock and
 * decoded by tshark field by field, timestamps included; the file header tcpdump expects; frames
 * a full ring refused are not recorded; write errors are counted and never stop traffic; a bad
 * path fails cleanly.
 */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "link/fault.h"
#include "link/loop.h"
#include "link/pcap.h"
#include "linktest.h"

/* 2023-11-14 22:13:20.123456789 UTC: a realistic epoch time, with every nanosecond digit set. */
#define T0 (1700000000ull * NS_PER_SEC + 123456789ull)

static const uint8_t MAC_A[6] = { 0x02, 0x00, 0x5e, 0x00, 0x00, 0x0a };
static const uint8_t MAC_B[6] = { 0x02, 0x00, 0x5e, 0x00, 0x00, 0x0b };
#define IP_A 0xc6120001u   /* 198.18.0.1 */
#define IP_B 0xc6120002u   /* 198.18.0.2 */

static struct pkt *udp_pkt(struct pkt_pool *pool, bool from_a, uint16_t sport, uint16_t dport,
                           const char *payload)
{
    struct lt_udp u = {
        .src_ip = from_a ? IP_A : IP_B,
        .dst_ip = from_a ? IP_B : IP_A,
        .sport = sport,
        .dport = dport,
        .payload = payload,
        .payload_len = strlen(payload),
    };
    memcpy(u.src_mac, from_a ? MAC_A : MAC_B, 6);
    memcpy(u.dst_mac, from_a ? MAC_B : MAC_A, 6);
    uint8_t buf[256];
    size_t len = lt_udp_frame(buf, sizeof(buf), &u);
    return test_pkt_from(pool, buf, len);
}

static void tx_one(struct link *l, struct pkt *p)
{
    assert_int_equal(link_tx_burst(l, &p, 1), 1);
}

static void rx_expect(struct link *l, unsigned n)
{
    struct pkt *got[8];
    assert_int_equal(lt_rx_all(l, got, 8), n);
    pkt_free_bulk(got, n);
}

static char *tshark_fields(const char *path, const char *fields)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "tshark -r '%s' -T fields %s 2>/dev/null", path, fields);
    int status;
    char *out = test_run_capture(cmd, &status);
    assert_non_null(out);
    assert_int_equal(status, 0);
    return out;
}

static void test_exchange_through_fault_and_loop_decodes_in_tshark(void **state)
{
    struct pkt_pool *pool = *state;
    char path[512];
    test_tmp_path(path, sizeof(path), "exchange.pcap");
    struct clk clock;
    clk_init_fake(&clock, T0);
    struct link *a, *b, *f, *cap;
    assert_int_equal(link_loop_pair(NULL, &a, &b), 0);
    /* The capture sits above the injector: it records what the stack sent, including the
     * second frame, which the injector then loses. */
    struct fault_config fc = { .tx.drop_nth = { 2 } };
    assert_int_equal(link_fault_create(a, &fc, &clock, NULL, &f), 0);
    assert_int_equal(link_pcap_create(f, path, &clock, &cap), 0);
    assert_string_equal(cap->name, "loop.a+fault+pcap");

    struct pkt *burst[2] = { udp_pkt(pool, true, 40001, 40002, "ping"),
                             udp_pkt(pool, true, 40001, 40002, "lost") };
    assert_int_equal(link_tx_burst(cap, burst, 2), 2);
    rx_expect(b, 1);
    clk_advance(&clock, 1500 * NS_PER_US);
    tx_one(b, udp_pkt(pool, false, 40002, 40001, "pong"));
    clk_advance(&clock, 500 * NS_PER_US);                /* received at T0 + 2 ms */
    rx_expect(cap, 1);
    clk_advance(&clock, 7 * NS_PER_SEC + 1);
    tx_one(cap, udp_pkt(pool, true, 40003, 53, "x"));
    rx_expect(b, 1);
    assert_int_equal(link_pcap_counters(cap)->records, 4);
    assert_int_equal(link_pcap_flush(cap), 0);
    link_destroy(cap);
    link_destroy(b);

    char *out = tshark_fields(path, "-e frame.time_epoch -e eth.src -e eth.dst -e ip.src "
                                    "-e ip.dst -e udp.srcport -e udp.dstport -e frame.len "
                                    "-e udp.payload");
    /* tshark also checks the headers: 1 is "good". */
    char *sums = tshark_fields(path, "-o ip.check_checksum:TRUE -e ip.checksum.status "
                                     "-e udp.length");
    assert_int_equal(unlink(path), 0);
    const char *want =
        "1700000000.123456789\t02:00:5e:00:00:0a\t02:00:5e:00:00:0b\t198.18.0.1\t198.18.0.2"
        "\t40001\t40002\t46\t70696e67\n"
        "1700000000.123456789\t02:00:5e:00:00:0a\t02:00:5e:00:00:0b\t198.18.0.1\t198.18.0.2"
        "\t40001\t40002\t46\t6c6f7374\n"
        "1700000000.125456789\t02:00:5e:00:00:0b\t02:00:5e:00:00:0a\t198.18.0.2\t198.18.0.1"
        "\t40002\t40001\t46\t706f6e67\n"
        "1700000007.125456790\t02:00:5e:00:00:0a\t02:00:5e:00:00:0b\t198.18.0.1\t198.18.0.2"
        "\t40003\t53\t43\t78\n";
    if (strcmp(out, want) != 0)
        fail_msg("tshark printed:\n%s\nwanted:\n%s", out, want);
    assert_string_equal(sums, "1\t12\n1\t12\n1\t12\n1\t9\n");
    free(out);
    free(sums);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void test_file_has_the_classic_header_tcpdump_reads(void **state)
{
    struct pkt_pool *pool = *state;
    char path[512];
    test_tmp_path(path, sizeof(path), "header.pcap");
    struct clk clock;
    clk_init_fake(&clock, T0);
    struct link *a, *b, *cap;
    assert_int_equal(link_loop_pair(NULL, &a, &b), 0);
    assert_int_equal(link_pcap_create(a, path, &clock, &cap), 0);
    struct pkt *p = lt_seq_frame(pool, 7, 64);
    uint8_t frame[64];
    memcpy(frame, p->data, 64);
    tx_one(cap, p);
    rx_expect(b, 1);
    link_destroy(cap);
    link_destroy(b);

    uint8_t buf[256];
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    size_t n = fread(buf, 1, sizeof(buf), fp);
    fclose(fp);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "capinfos -t -M '%s' 2>/dev/null", path);
    int status;
    char *out = test_run_capture(cmd, &status);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(n, 24 + 16 + 64);
    /* Global header: nanosecond magic, version 2.4, zone 0, sigfigs 0, snaplen, Ethernet. This
     * machine is little endian; readers detect the byte order from the magic. */
    const uint8_t global[24] = { 0x4d, 0x3c, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0,
                                 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0 };
    assert_memory_equal(buf, global, 24);
    assert_int_equal(le32(buf + 24), 1700000000u);       /* seconds */
    assert_int_equal(le32(buf + 28), 123456789u);        /* nanoseconds */
    assert_int_equal(le32(buf + 32), 64);                /* captured length */
    assert_int_equal(le32(buf + 36), 64);                /* original length */
    assert_memory_equal(buf + 40, frame, 64);
    /* Wireshark's own reader names the format. */
    assert_non_null(out);
    assert_int_equal(status, 0);
    assert_non_null(strstr(out, "File type:           nsecpcap"));
    free(out);
}

static void test_frames_the_ring_refused_are_not_recorded(void **state)
{
    struct pkt_pool *pool = *state;
    char path[512];
    test_tmp_path(path, sizeof(path), "refused.pcap");
    struct clk clock;
    clk_init_fake(&clock, T0);
    struct link_loop_config lc = { .ring_size = 4 };
    struct link *a, *b, *cap;
    assert_int_equal(link_loop_pair(&lc, &a, &b), 0);
    assert_int_equal(link_pcap_create(a, path, &clock, &cap), 0);
    struct pkt *pkts[6];
    for (uint32_t i = 0; i < 6; i++)
        pkts[i] = lt_seq_frame(pool, i + 1, 60 + i);
    assert_int_equal(link_tx_burst(cap, pkts, 6), 4);
    assert_int_equal(link_pcap_counters(cap)->records, 4);
    assert_int_equal(cap->ctrs.tx_frames, 4);
    rx_expect(b, 4);
    clk_advance(&clock, NS_PER_MS);
    assert_int_equal(link_tx_burst(cap, pkts + 4, 2), 2);  /* sent (and recorded) later */
    rx_expect(b, 2);
    link_destroy(cap);
    link_destroy(b);

    char *out = tshark_fields(path, "-e frame.len -e frame.time_epoch");
    assert_int_equal(unlink(path), 0);
    assert_string_equal(out, "60\t1700000000.123456789\n61\t1700000000.123456789\n"
                             "62\t1700000000.123456789\n63\t1700000000.123456789\n"
                             "64\t1700000000.124456789\n65\t1700000000.124456789\n");
    free(out);
}

static void test_write_errors_are_counted_and_traffic_flows(void **state)
{
    struct pkt_pool *pool = *state;
    struct clk clock;
    clk_init_fake(&clock, T0);
    struct link *a, *b, *cap;
    assert_int_equal(link_loop_pair(NULL, &a, &b), 0);
    /* Every write to /dev/full fails with ENOSPC once stdio flushes its buffer. */
    assert_int_equal(link_pcap_create(a, "/dev/full", &clock, &cap), 0);
    for (uint32_t i = 0; i < 20; i++) {
        lt_tx_seqs(cap, pool, i, 1, 1000, 1);
        uint32_t seq;
        assert_int_equal(lt_rx_seqs(b, &seq, 1), 1);
        assert_int_equal(seq, i);
    }
    lt_tx_seqs(b, pool, 100, 3, 1000, 3);
    uint32_t seqs[4];
    assert_int_equal(lt_rx_seqs(cap, seqs, 4), 3);
    const struct pcap_ctrs *c = link_pcap_counters(cap);
    assert_true(c->write_errors > 0);
    assert_int_equal(c->records + c->write_errors, 23);
    assert_int_equal(link_pcap_flush(cap), -ENOSPC);
    struct ctr_group g = link_pcap_ctr_group(cap);
    assert_string_equal(g.name, "loop.a+pcap.pcap");
    link_destroy(cap);
    link_destroy(b);
}

static void test_bad_path_fails_and_leaves_the_link_to_the_caller(void **state)
{
    (void)state;
    struct clk clock;
    clk_init_fake(&clock, T0);
    struct link *a, *b, *cap = NULL;
    assert_int_equal(link_loop_pair(NULL, &a, &b), 0);
    assert_int_equal(link_pcap_create(a, "/nonexistent-ust-dir/x.pcap", &clock, &cap), -ENOENT);
    assert_int_equal(link_pcap_create(a, NULL, &clock, &cap), -EINVAL);
    assert_null(cap);
    link_destroy(a);
    link_destroy(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, test_pool_setup, test_pool_teardown)
        T(test_exchange_through_fault_and_loop_decodes_in_tshark),
        T(test_file_has_the_classic_header_tcpdump_reads),
        T(test_frames_the_ring_refused_are_not_recorded),
        T(test_write_errors_are_counted_and_traffic_flows),
        T(test_bad_path_fails_and_leaves_the_link_to_the_caller),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
