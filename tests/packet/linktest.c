/* Helpers for the link packet tests (see linktest.h). */
#include "testutil.h"

#include "linktest.h"

#include <string.h>

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

static uint16_t ipv4_header_csum(const uint8_t *h)
{
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2)
        sum += (uint32_t)(h[i] << 8 | h[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

size_t lt_udp_frame(uint8_t *buf, size_t cap, const struct lt_udp *u)
{
    size_t len = LT_HDR_LEN + u->payload_len;
    assert_true(len <= cap);
    memset(buf, 0, LT_HDR_LEN);
    memcpy(buf, u->dst_mac, 6);
    memcpy(buf + 6, u->src_mac, 6);
    put16(buf + 12, 0x0800);
    uint8_t *ip = buf + 14;
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(20 + 8 + u->payload_len));
    ip[8] = 64;                  /* TTL */
    ip[9] = 17;                  /* UDP */
    put32(ip + 12, u->src_ip);
    put32(ip + 16, u->dst_ip);
    put16(ip + 10, ipv4_header_csum(ip));
    uint8_t *udp = ip + 20;
    put16(udp, u->sport);
    put16(udp + 2, u->dport);
    put16(udp + 4, (uint16_t)(8 + u->payload_len));
    if (u->payload_len)
        memcpy(udp + 8, u->payload, u->payload_len);
    return len;
}

void lt_seq_bytes(uint8_t *buf, uint32_t seq, size_t len)
{
    assert_true(len >= LT_MIN_FRAME);
    uint8_t payload[2048];
    size_t plen = len - LT_HDR_LEN;
    assert_true(plen <= sizeof(payload));
    put32(payload, seq);
    for (size_t i = 4; i < plen; i++)
        payload[i] = (uint8_t)(seq * 31 + i);
    struct lt_udp u = {
        .src_mac = { 0x02, 0, 0, 0, 0, 0x0a },
        .dst_mac = { 0x02, 0, 0, 0, 0, 0x0b },
        .src_ip = 0xc6120001,    /* 198.18.0.1 */
        .dst_ip = 0xc6120002,    /* 198.18.0.2 */
        .sport = 4000,
        .dport = 5000,
        .payload = payload,
        .payload_len = plen,
    };
    lt_udp_frame(buf, len, &u);
}

struct pkt *lt_seq_frame(struct pkt_pool *pool, uint32_t seq, size_t len)
{
    uint8_t buf[2048];
    assert_true(len <= sizeof(buf));
    lt_seq_bytes(buf, seq, len);
    return test_pkt_from(pool, buf, len);
}

uint32_t lt_frame_seq(const struct pkt *p)
{
    assert_true(p->len >= LT_MIN_FRAME);
    const uint8_t *s = p->data + LT_HDR_LEN;
    return (uint32_t)s[0] << 24 | (uint32_t)s[1] << 16 | (uint32_t)s[2] << 8 | s[3];
}

unsigned lt_rx_all(struct link *l, struct pkt **out, unsigned max)
{
    unsigned got = 0;
    while (got < max) {
        int r = link_rx_burst(l, out + got, max - got);
        assert_true(r >= 0);
        if (r == 0)
            break;
        got += (unsigned)r;
    }
    return got;
}

unsigned lt_rx_seqs(struct link *l, uint32_t *seqs, unsigned max)
{
    unsigned got = 0;
    struct pkt *burst[32];
    while (got < max) {
        unsigned want = max - got < 32 ? max - got : 32;
        int r = link_rx_burst(l, burst, want);
        assert_true(r >= 0);
        if (r == 0)
            break;
        for (int i = 0; i < r; i++) {
            seqs[got++] = lt_frame_seq(burst[i]);
            pkt_free(burst[i]);
        }
    }
    return got;
}

void lt_tx_seqs(struct link *l, struct pkt_pool *pool, uint32_t first, unsigned count,
                size_t len, unsigned burst)
{
    struct pkt *pkts[64];
    assert_true(burst >= 1 && burst <= 64);
    for (unsigned done = 0; done < count;) {
        unsigned m = count - done < burst ? count - done : burst;
        for (unsigned i = 0; i < m; i++)
            pkts[i] = lt_seq_frame(pool, first + done + i, len);
        assert_int_equal(link_tx_burst(l, pkts, m), (int)m);
        done += m;
    }
}
