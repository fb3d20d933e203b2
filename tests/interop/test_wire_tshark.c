/*
 * ustack's wire parsers against Wireshark's dissectors: the sample packets (tests/unit/
 * test_wire_samples.c) are written to a pcap file with the pcap writer, tshark decodes it into
 * one line of fields per frame, and every field is compared with what ustack's parsers make of
 * the same bytes: addresses, VLAN tags, every IPv4 header field, ports, raw sequence numbers,
 * flags, window, each TCP option value, lengths, checksum verdicts, ARP and ICMP fields,
 * including the datagram an ICMP error quotes. One test per frame.
 */
#include "testutil.h"

#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "link/pcap_file.h"
#include "test_wire_samples.h"
#include "wire/arp.h"
#include "wire/checksum.h"
#include "wire/eth.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"
#include "wire/udp.h"

#define TSHARK_FIELDS(X)                                                                   \
    X(ETH_DST, "eth.dst") X(ETH_SRC, "eth.src") X(ETH_TYPE, "eth.type")                    \
    X(VLAN_ID, "vlan.id") X(VLAN_PRIO, "vlan.priority") X(VLAN_ETYPE, "vlan.etype")        \
    X(QINQ_ID, "ieee8021ad.id") X(QINQ_PRIO, "ieee8021ad.priority")                        \
    X(IP_SRC, "ip.src") X(IP_DST, "ip.dst") X(IP_PROTO, "ip.proto") X(IP_TTL, "ip.ttl")    \
    X(IP_ID, "ip.id") X(IP_DSFIELD, "ip.dsfield") X(IP_DF, "ip.flags.df")                  \
    X(IP_MF, "ip.flags.mf") X(IP_FRAG, "ip.frag_offset") X(IP_HDR_LEN, "ip.hdr_len")       \
    X(IP_LEN, "ip.len") X(IP_CSUM, "ip.checksum.status")                                   \
    X(TCP_SPORT, "tcp.srcport") X(TCP_DPORT, "tcp.dstport") X(TCP_SEQ, "tcp.seq")          \
    X(TCP_ACK, "tcp.ack") X(TCP_FLAGS, "tcp.flags") X(TCP_WIN, "tcp.window_size_value")    \
    X(TCP_URG, "tcp.urgent_pointer") X(TCP_HDR_LEN, "tcp.hdr_len") X(TCP_LEN, "tcp.len")   \
    X(TCP_KINDS, "tcp.option_kind") X(TCP_MSS, "tcp.options.mss_val")                      \
    X(TCP_WSCALE, "tcp.options.wscale.shift") X(TCP_TSVAL, "tcp.options.timestamp.tsval")  \
    X(TCP_TSECR, "tcp.options.timestamp.tsecr") X(TCP_SACK_LE, "tcp.options.sack_le")      \
    X(TCP_SACK_RE, "tcp.options.sack_re") X(TCP_CSUM, "tcp.checksum.status")               \
    X(UDP_SPORT, "udp.srcport") X(UDP_DPORT, "udp.dstport") X(UDP_LEN, "udp.length")       \
    X(UDP_CSUM, "udp.checksum.status")                                                     \
    X(ICMP_TYPE, "icmp.type") X(ICMP_CODE, "icmp.code") X(ICMP_ID, "icmp.ident")           \
    X(ICMP_SEQ, "icmp.seq") X(ICMP_MTU, "icmp.mtu") X(ICMP_CSUM, "icmp.checksum.status")   \
    X(ARP_OP, "arp.opcode") X(ARP_SHA, "arp.src.hw_mac") X(ARP_SPA, "arp.src.proto_ipv4")  \
    X(ARP_THA, "arp.dst.hw_mac") X(ARP_TPA, "arp.dst.proto_ipv4")

enum field {
#define X(id, name) F_##id,
    TSHARK_FIELDS(X)
#undef X
    F_COUNT
};

static const char *const field_names[F_COUNT] = {
#define X(id, name) [F_##id] = name,
    TSHARK_FIELDS(X)
#undef X
};

/* tshark's output: one line per frame, split into fields in place. */
static struct {
    char pcap_path[512];
    char *output;
    size_t nframes;
    char *cols[SAMPLE_COUNT][F_COUNT];
} tshark;

/* The checks of one frame: mismatches are reported together at the end. */
struct frame_check {
    const struct wire_sample *sample;
    char *const *cols;
    unsigned failures;
};

static void expect(struct frame_check *fc, enum field f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void expect(struct frame_check *fc, enum field f, const char *fmt, ...)
{
    char want[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(want, sizeof want, fmt, ap);
    va_end(ap);
    if (strcmp(fc->cols[f], want) != 0) {
        print_error("%s: %s: tshark says \"%s\", ustack \"%s\"\n", fc->sample->name,
                    field_names[f], fc->cols[f], want);
        fc->failures++;
    }
}

static void fmt_mac(const struct eth_addr *a, char *out, size_t cap)
{
    snprintf(out, cap, "%02x:%02x:%02x:%02x:%02x:%02x", a->b[0], a->b[1], a->b[2], a->b[3],
             a->b[4], a->b[5]);
}

static void fmt_ip(uint32_t a, char *out, size_t cap)
{
    snprintf(out, cap, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

/* Appends to a ';'-joined list, tshark's aggregation of repeated fields. */
static void join(char *list, size_t cap, const char *item)
{
    size_t used = strlen(list);
    snprintf(list + used, cap - used, "%s%s", used ? ";" : "", item);
}

static bool kind_listed(const char *kinds, unsigned kind)
{
    char copy[256], *save = NULL;
    snprintf(copy, sizeof copy, "%s", kinds);
    for (char *t = strtok_r(copy, ";", &save); t; t = strtok_r(NULL, ";", &save))
        if ((unsigned)atoi(t) == kind)
            return true;
    return false;
}

/* ---- Per-layer checks ---- */

static void check_eth(struct frame_check *fc, const struct eth_repr *e)
{
    char mac[32];
    fmt_mac(&e->dst, mac, sizeof mac);
    expect(fc, F_ETH_DST, "%s", mac);
    fmt_mac(&e->src, mac, sizeof mac);
    expect(fc, F_ETH_SRC, "%s", mac);
    unsigned vid = e->vlan_tci & 0x0fff, prio = e->vlan_tci >> 13;
    switch (e->vlan_count) {
    case 0:
        expect(fc, F_ETH_TYPE, "0x%04x", e->ethertype);
        expect(fc, F_VLAN_ID, "%s", "");
        break;
    case 1:
        expect(fc, F_ETH_TYPE, "0x%04x", ETHERTYPE_VLAN);
        expect(fc, F_VLAN_ID, "%u", vid);
        expect(fc, F_VLAN_PRIO, "%u", prio);
        expect(fc, F_VLAN_ETYPE, "0x%04x", e->ethertype);
        break;
    default:
        /* Wireshark shows the 802.1ad service tag apart from the 802.1Q tag inside it. */
        expect(fc, F_ETH_TYPE, "0x%04x", ETHERTYPE_QINQ);
        expect(fc, F_QINQ_ID, "%u", vid);
        expect(fc, F_QINQ_PRIO, "%u", prio);
        expect(fc, F_VLAN_ETYPE, "0x%04x", e->ethertype);
        break;
    }
}

static void check_arp(struct frame_check *fc, const struct eth_repr *e)
{
    struct arp_repr a;
    assert_int_equal(arp_parse(e->payload, e->payload_len, &a), WIRE_OK);
    char buf[32];
    expect(fc, F_ARP_OP, "%u", a.op);
    fmt_mac(&a.sha, buf, sizeof buf);
    expect(fc, F_ARP_SHA, "%s", buf);
    fmt_ip(a.spa, buf, sizeof buf);
    expect(fc, F_ARP_SPA, "%s", buf);
    fmt_mac(&a.tha, buf, sizeof buf);
    expect(fc, F_ARP_THA, "%s", buf);
    fmt_ip(a.tpa, buf, sizeof buf);
    expect(fc, F_ARP_TPA, "%s", buf);
}

/* One IPv4 field of a header as tshark prints it. */
static void fmt_ip_field(enum field f, const struct ipv4_repr *r, const uint8_t *hdr, char *out,
                         size_t cap)
{
    switch (f) {
    case F_IP_SRC: fmt_ip(r->src, out, cap); break;
    case F_IP_DST: fmt_ip(r->dst, out, cap); break;
    case F_IP_PROTO: snprintf(out, cap, "%u", r->protocol); break;
    case F_IP_TTL: snprintf(out, cap, "%u", r->ttl); break;
    case F_IP_ID: snprintf(out, cap, "0x%04x", r->id); break;
    case F_IP_DSFIELD: snprintf(out, cap, "0x%02x", r->tos); break;
    case F_IP_DF: snprintf(out, cap, "%d", r->df); break;
    case F_IP_MF: snprintf(out, cap, "%d", r->mf); break;
    case F_IP_FRAG: snprintf(out, cap, "%u", r->frag_off / 8u); break;  /* the raw field */
    case F_IP_HDR_LEN: snprintf(out, cap, "%u", r->hdr_len); break;
    case F_IP_LEN: snprintf(out, cap, "%u", r->total_len); break;
    case F_IP_CSUM:     /* 1: good, 0: bad, as Wireshark's checksum status */
        snprintf(out, cap, "%d", csum_fold(csum_partial(hdr, r->hdr_len, 0)) == 0);
        break;
    default: out[0] = 0; break;
    }
}

/* IPv4 fields for the datagram and, in an ICMP error, the one it quotes (tshark lists both). */
static void check_ip_headers(struct frame_check *fc, const struct ipv4_repr *const *reprs,
                             const uint8_t *const *hdrs, size_t n)
{
    for (enum field f = F_IP_SRC; f <= F_IP_CSUM; f++) {
        char list[256] = "";
        for (size_t i = 0; i < n; i++) {
            char one[64];
            fmt_ip_field(f, reprs[i], hdrs[i], one, sizeof one);
            join(list, sizeof list, one);
        }
        expect(fc, f, "%s", list);
    }
}

static void check_tcp_options(struct frame_check *fc, const struct tcp_options *o)
{
    const char *kinds = fc->cols[F_TCP_KINDS];
    static const struct { unsigned bit, kind; } known[] = {
        { TCP_HAS_MSS, TCP_OPT_MSS }, { TCP_HAS_WSCALE, TCP_OPT_WSCALE },
        { TCP_HAS_SACK_PERM, TCP_OPT_SACK_PERM }, { TCP_HAS_SACK, TCP_OPT_SACK },
        { TCP_HAS_TIMESTAMP, TCP_OPT_TIMESTAMP },
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (!(o->present & known[i].bit) != !kind_listed(kinds, known[i].kind)) {
            print_error("%s: option kind %u: tshark lists \"%s\", ustack's bits %#x\n",
                        fc->sample->name, known[i].kind, kinds, o->present);
            fc->failures++;
        }
    }
    char buf[128] = "";
    if (o->present & TCP_HAS_MSS)
        snprintf(buf, sizeof buf, "%u", o->mss);
    expect(fc, F_TCP_MSS, "%s", buf);
    buf[0] = 0;
    if (o->present & TCP_HAS_WSCALE)
        snprintf(buf, sizeof buf, "%u", o->wscale);
    expect(fc, F_TCP_WSCALE, "%s", buf);
    char val[32] = "", ecr[32] = "";
    if (o->present & TCP_HAS_TIMESTAMP) {
        snprintf(val, sizeof val, "%u", o->ts_val);
        snprintf(ecr, sizeof ecr, "%u", o->ts_ecr);
    }
    expect(fc, F_TCP_TSVAL, "%s", val);
    expect(fc, F_TCP_TSECR, "%s", ecr);
    char le[128] = "", re[128] = "";
    for (unsigned i = 0; (o->present & TCP_HAS_SACK) && i < o->sack_count; i++) {
        char one[16];
        snprintf(one, sizeof one, "%u", o->sack[i].start);
        join(le, sizeof le, one);
        snprintf(one, sizeof one, "%u", o->sack[i].end);
        join(re, sizeof re, one);
    }
    expect(fc, F_TCP_SACK_LE, "%s", le);
    expect(fc, F_TCP_SACK_RE, "%s", re);
}

static void check_tcp(struct frame_check *fc, const struct ipv4_repr *ip)
{
    struct tcp_repr t;
    assert_int_equal(tcp_parse(ip->payload, ip->payload_len, &t), WIRE_OK);
    expect(fc, F_TCP_SPORT, "%u", t.sport);
    expect(fc, F_TCP_DPORT, "%u", t.dport);
    expect(fc, F_TCP_SEQ, "%u", t.seq);
    expect(fc, F_TCP_ACK, "%u", t.ack);
    expect(fc, F_TCP_FLAGS, "0x%04x", t.flags);
    expect(fc, F_TCP_WIN, "%u", t.window);
    expect(fc, F_TCP_URG, "%u", t.urgent);
    expect(fc, F_TCP_HDR_LEN, "%u", t.hdr_len);
    expect(fc, F_TCP_LEN, "%zu", t.payload_len);
    check_tcp_options(fc, &t.opt);
    uint32_t pseudo = csum_ipv4_pseudo(ip->src, ip->dst, IPPROTO_TCP, ip->payload_len);
    expect(fc, F_TCP_CSUM, "%d", tcp_checksum_ok(ip->payload, ip->payload_len, pseudo));
}

static void check_udp(struct frame_check *fc, const struct ipv4_repr *ip)
{
    struct udp_repr u;
    int err = udp_parse(ip->payload, ip->payload_len, &u);
    if (ip->mf) {
        /* A first fragment: the header announces more than the fragment holds. Wireshark
         * leaves the checksum unverified (2); ustack waits for reassembly. */
        assert_int_equal(err, WIRE_ETRUNC);
        assert_true((size_t)atoi(fc->cols[F_UDP_LEN]) > ip->payload_len);
        expect(fc, F_UDP_CSUM, "2");
        return;
    }
    assert_int_equal(err, WIRE_OK);
    expect(fc, F_UDP_SPORT, "%u", u.sport);
    expect(fc, F_UDP_DPORT, "%u", u.dport);
    expect(fc, F_UDP_LEN, "%zu", u.payload_len + UDP_HDR_LEN);
    uint16_t ulen = (uint16_t)(u.payload_len + UDP_HDR_LEN);
    uint32_t pseudo = csum_ipv4_pseudo(ip->src, ip->dst, IPPROTO_UDP, ulen);
    expect(fc, F_UDP_CSUM, "%d", udp_checksum_ok(ip->payload, ulen, pseudo));
}

/* The quoted datagram's transport header: all of a UDP header, or the first 8 bytes of TCP's
 * (ports and sequence number, RFC 792), which is all Wireshark shows as well. */
static void check_quoted_transport(struct frame_check *fc, const struct ipv4_repr *q)
{
    if (q->protocol == IPPROTO_UDP) {
        check_udp(fc, q);
        return;
    }
    assert_int_equal(q->protocol, IPPROTO_TCP);
    assert_true(q->payload_len >= 8);
    expect(fc, F_TCP_SPORT, "%u", wire_get16(q->payload));
    expect(fc, F_TCP_DPORT, "%u", wire_get16(q->payload + 2));
    expect(fc, F_TCP_SEQ, "%u", wire_get32(q->payload + 4));
    expect(fc, F_TCP_CSUM, "%s", "");
}

static void check_icmp(struct frame_check *fc, const struct ipv4_repr *ip)
{
    struct icmp_repr m;
    expect(fc, F_ICMP_CSUM, "%d", icmp_parse(ip->payload, ip->payload_len, &m) == WIRE_OK);
    assert_int_equal(icmp_parse(ip->payload, ip->payload_len, &m), WIRE_OK);
    expect(fc, F_ICMP_TYPE, "%u", m.type);
    expect(fc, F_ICMP_CODE, "%u", m.code);
    bool echo = m.type == ICMP_ECHO_REQUEST || m.type == ICMP_ECHO_REPLY;
    char id[16] = "", seq[16] = "", mtu[16] = "";
    if (echo) {
        snprintf(id, sizeof id, "%u", icmp_echo_id(&m));
        snprintf(seq, sizeof seq, "%u", icmp_echo_seq(&m));
    }
    if (m.type == ICMP_DEST_UNREACH && m.code == ICMP_FRAG_NEEDED)
        snprintf(mtu, sizeof mtu, "%u", icmp_next_hop_mtu(&m));
    expect(fc, F_ICMP_ID, "%s", id);
    expect(fc, F_ICMP_SEQ, "%s", seq);
    expect(fc, F_ICMP_MTU, "%s", mtu);

    if (!icmp_is_error(m.type)) {
        check_ip_headers(fc, (const struct ipv4_repr *[]){ ip },
                         (const uint8_t *[]){ ip->payload - ip->hdr_len }, 1);
        return;
    }
    struct ipv4_repr q;
    assert_int_equal(ipv4_parse_quoted(m.data, m.data_len, &q), WIRE_OK);
    check_ip_headers(fc, (const struct ipv4_repr *[]){ ip, &q },
                     (const uint8_t *[]){ ip->payload - ip->hdr_len, m.data }, 2);
    check_quoted_transport(fc, &q);
}

static void check_ipv4(struct frame_check *fc, const struct eth_repr *e)
{
    struct ipv4_repr ip;
    assert_int_equal(ipv4_parse(e->payload, e->payload_len, &ip), WIRE_OK);
    if (ip.protocol == IPPROTO_ICMP) {
        check_icmp(fc, &ip);
        return;
    }
    check_ip_headers(fc, (const struct ipv4_repr *[]){ &ip },
                     (const uint8_t *[]){ e->payload }, 1);
    if (ip.frag_off != 0) {
        expect(fc, F_UDP_SPORT, "%s", "");          /* no transport header in a later piece */
        expect(fc, F_TCP_SPORT, "%s", "");
        return;
    }
    if (ip.protocol == IPPROTO_TCP)
        check_tcp(fc, &ip);
    else if (ip.protocol == IPPROTO_UDP)
        check_udp(fc, &ip);
}

static void test_tshark_agrees_on_frame(void **state)
{
    enum wire_sample_id id = *(const enum wire_sample_id *)*state;
    assert_true(id < tshark.nframes);
    struct frame_check fc = { .sample = &wire_samples[id], .cols = tshark.cols[id] };
    struct eth_repr e;
    assert_int_equal(eth_parse(fc.sample->frame, fc.sample->len, &e), WIRE_OK);
    check_eth(&fc, &e);
    if (e.ethertype == ETHERTYPE_ARP)
        check_arp(&fc, &e);
    else if (e.ethertype == ETHERTYPE_IPV4)
        check_ipv4(&fc, &e);
    else
        fail_msg("%s: unexpected EtherType %#x", fc.sample->name, e.ethertype);
    assert_int_equal(fc.failures, 0);
}

/* ---- Running tshark once for all frames ---- */

static void write_samples_pcap(const char *path)
{
    struct pcap_file pf;
    assert_int_equal(pcap_file_open(&pf, path, 0), 0);
    for (size_t i = 0; i < SAMPLE_COUNT; i++) {
        uint64_t t = (uint64_t)(1700000000 + i) * 1000000000u;
        assert_int_equal(pcap_file_write(&pf, t, wire_samples[i].frame, wire_samples[i].len), 0);
    }
    assert_int_equal(pcap_file_close(&pf), 0);
}

/* Splits the output into lines, and each line into F_COUNT comma-separated fields. */
static void split_output(char *out)
{
    char *line = out;
    while (*line && tshark.nframes < SAMPLE_COUNT) {
        char *end = strchr(line, '\n');
        if (end)
            *end = 0;
        char **cols = tshark.cols[tshark.nframes++];
        char *p = line;
        for (size_t f = 0; f < F_COUNT; f++) {
            cols[f] = p;
            char *comma = p ? strchr(p, ',') : NULL;
            if (comma)
                *comma = 0;
            p = comma ? comma + 1 : NULL;
            if (!cols[f])
                cols[f] = "";
        }
        if (!end)
            break;
        line = end + 1;
    }
}

static int run_tshark(void **state)
{
    (void)state;
    test_tmp_path(tshark.pcap_path, sizeof tshark.pcap_path, "wire-samples.pcap");
    write_samples_pcap(tshark.pcap_path);
    char cmd[4096];
    int n = snprintf(cmd, sizeof cmd,
                     "%s -n -r '%s' -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE"
                     " -o udp.check_checksum:TRUE -o ip.defragment:FALSE"
                     " -o tcp.relative_sequence_numbers:FALSE"
                     " -o tcp.analyze_sequence_numbers:FALSE"
                     " -T fields -E separator=, -E aggregator=';' -E occurrence=a",
                     UST_TSHARK, tshark.pcap_path);
    for (size_t f = 0; f < F_COUNT && n > 0 && (size_t)n < sizeof cmd; f++)
        n += snprintf(cmd + n, sizeof cmd - (size_t)n, " -e %s", field_names[f]);
    if (n <= 0 || (size_t)n + sizeof " 2>/dev/null" > sizeof cmd) {
        print_error("tshark command too long\n");
        return -1;
    }
    strcat(cmd, " 2>/dev/null");
    int status = -1;
    tshark.output = test_run_capture(cmd, &status);
    if (!tshark.output || status != 0) {
        print_error("tshark failed (status %d): %s\n", status, cmd);
        return -1;
    }
    split_output(tshark.output);
    if (tshark.nframes != SAMPLE_COUNT) {
        print_error("tshark decoded %zu frames, expected %d\n", tshark.nframes, SAMPLE_COUNT);
        return -1;
    }
    return 0;
}

static int clean_up(void **state)
{
    (void)state;
    free(tshark.output);
    unlink(tshark.pcap_path);
    return 0;
}

static const enum wire_sample_id sample_ids[SAMPLE_COUNT] = {
#define X(name) SAMPLE_##name,
    WIRE_SAMPLE_LIST(X)
#undef X
};

int main(void)
{
    const struct CMUnitTest tests[] = {
#define X(name) { "test_tshark_agrees_on_" #name, test_tshark_agrees_on_frame, NULL, NULL, \
                  (void *)&sample_ids[SAMPLE_##name] },
        WIRE_SAMPLE_LIST(X)
#undef X
    };
    return cmocka_run_group_tests(tests, run_tshark, clean_up);
}
