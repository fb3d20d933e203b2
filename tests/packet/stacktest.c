/* The stack test harness (see stacktest.h). */
#include "stacktest.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link/loop.h"
#include "sock/sock.h"
#include "tcp/table.h"
#include "tcp/tcb.h"
#include "ustack/ustack.h"
#include "link/gso.h"
#include "wire/checksum.h"

const struct eth_addr st_mac = { { 0x02, 0, 0, 0, 0, 0x02 } };
const struct eth_addr st_peer_mac = { { 0x02, 0, 0, 0, 0, 0x01 } };
const struct eth_addr st_other_mac = { { 0x02, 0, 0, 0, 0, 0x03 } };
const struct eth_addr st_bcast_mac = { { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } };
const struct eth_addr st_zero_mac = { { 0 } };

#define ST_FRAME_MAX (IPV4_MAX_LEN + 128)
#define ST_RING 4096

/* The harness's private state behind struct st. */
struct st_priv {
    struct st pub;
    uint8_t scratch[ST_FRAME_MAX];     /* frames being built */
    uint8_t l4[ST_FRAME_MAX];          /* transport parts cut into fragments */
    uint8_t rx_frame[ST_FRAME_MAX];    /* the last frame taken */
    struct st_rx rx;
};

static struct st_priv *priv(struct st *t)
{
    return container_of(t, struct st_priv, pub);
}

/* ---- Starting and stopping ---- */

static void apply_options(struct ust_config *cfg, const char *const *options)
{
    for (; options && *options; options++) {
        char name[64];
        const char *eq = strchr(*options, '=');
        assert_non_null(eq);
        assert_true((size_t)(eq - *options) < sizeof(name));
        memcpy(name, *options, (size_t)(eq - *options));
        name[eq - *options] = 0;
        if (ust_config_set(cfg, name, eq + 1) != 0)
            fail_msg("option %s refused", *options);
    }
}

static uint32_t peer_buf_size(uint32_t mtu)
{
    uint32_t size = PKT_DEFAULT_BUF_SIZE;
    while (size < mtu + ETH_HDR_LEN + 8 + PKT_DEFAULT_HEADROOM && size < 65536)
        size <<= 1;
    return size;
}

static void st_start(struct st *t, const char *const *options)
{
    ust_config_defaults(&t->cfg);
    assert_int_equal(ust_config_set(&t->cfg, "addr", "198.18.0.2/24"), 0);
    assert_int_equal(ust_config_set(&t->cfg, "mac", "02:00:00:00:00:02"), 0);
    apply_options(&t->cfg, options);

    struct pkt_pool_config pc = { .name = "peer", .count = 2048,
                                  .buf_size = peer_buf_size(t->cfg.mtu),
                                  .headroom = PKT_DEFAULT_HEADROOM };
    assert_int_equal(pkt_pool_create(&pc, &t->pool), 0);
    struct link_loop_config lc = { .ring_size = ST_RING, .mtu = t->cfg.mtu };
    struct link *a;
    assert_int_equal(link_loop_pair(&lc, &a, &t->peer), 0);
    if (t->gso)
        assert_int_equal(link_gso_create(a, t->pool, &a), 0);   /* segments into peer buffers */
    clk_init_fake(&t->clock, ST_CLOCK_START);
    int err = 0;
    t->s = stack_create_on(&t->cfg, &t->clock, a, &err);
    if (!t->s)
        fail_msg("stack_create_on: %s", strerror(-err));
    t->ifc = &t->s->ifaces[0];
    if (!t->keep_announce) {
        /* RFC 5227 2.4: the stack announces its address once it is up. */
        expect_tx(t, want_arp(.eth_dst = &st_bcast_mac, .eth_src = &st_mac,
                              .op = ARP_OP_REQUEST, .sha = &st_mac, .spa = ST_ADDR,
                              .tha = &st_zero_mac, .tpa = ST_ADDR));
        expect_no_tx(t);
    }
}

/* Every TCP control block left once the sockets are closed must be an orphan still finishing
 * its close, reachable from the established table; anything else leaked. */
static bool st_tcp_tcbs_accounted(struct ust_stack *s)
{
    struct tcp_table *tt = s->tcp;
    uint32_t reachable = 0;
    for (uint32_t i = 0; i < tt->ehash_size; i++)
        for (struct tcp_conn *c = tt->ehash[i]; c; c = c->hash_next)
            reachable += !c->compact;
    if (reachable != tt->tcbs)
        print_error("leaked TCP control blocks: %u allocated, %u in the tables\n", tt->tcbs,
                    reachable);
    return reachable == tt->tcbs;
}

/* Releases what the stack holds and destroys everything; false (with the counts printed) if a
 * buffer did not come home. */
static bool st_stop(struct st *t)
{
    struct ust_stack *s = t->s;
    if (!s)
        return true;
    pthread_mutex_lock(&s->lock);
    sock_close_all(s);         /* the sockets' receive queues */
    bool tcbs_ok = st_tcp_tcbs_accounted(s);
    tcp_destroy(s);            /* orphans still closing hold their send queues */
    arp_destroy(s);            /* packets waiting for resolution (destroy may run it again) */
    ipv4_destroy(s);           /* fragments under reassembly (likewise) */
    pkt_free_chain(s->loopq_head);
    s->loopq_head = s->loopq_tail = NULL;
    for (unsigned i = 0; i < s->n_ifaces; i++)
        iface_flush(&s->ifaces[i]);
    pthread_mutex_unlock(&s->lock);
    st_drain_tx(t);
    uint32_t frames = pkt_pool_in_use(s->pool), big = pkt_pool_in_use(s->big_pool);
    /* Every socket buffer charged to the stack's memory was given back (net/sockmem.h). */
    uint64_t charged = s->mem.ctrs.used;
    if (charged)
        print_error("socket memory still charged: %llu bytes\n", (unsigned long long)charged);
    ust_stack_destroy(s);
    t->s = NULL;
    link_destroy(t->peer);
    t->peer = NULL;
    uint32_t peer = pkt_pool_in_use(t->pool);
    pkt_pool_destroy(t->pool);
    t->pool = NULL;
    if (frames || big || peer)
        print_error("leaked buffers: %u frames, %u big, %u of the peer's\n", frames, big, peer);
    return !frames && !big && !peer && tcbs_ok && !charged;
}

int st_setup(void **state)
{
    struct st_priv *p = calloc(1, sizeof(*p));
    assert_non_null(p);
    p->pub.rx = &p->rx;
    st_start(&p->pub, NULL);
    *state = &p->pub;
    return 0;
}

int st_teardown(void **state)
{
    struct st *t = *state;
    bool clean = st_stop(t);
    free(priv(t));
    assert_true(clean);
    return 0;
}

void st_restart_(struct st *t, const char *const *options)
{
    assert_true(st_stop(t));
    st_start(t, options);
}

/* ---- Time, counters, neighbours ---- */

void advance_ns(struct st *t, uint64_t ns)
{
    clk_advance(&t->clock, ns);
    assert_true(ust_stack_poll(t->s, NULL) >= 0);
}

void advance(struct st *t, uint64_t ms)
{
    advance_ns(t, ms * NS_PER_MS);
}

void advance_past(struct st *t, uint64_t ms)
{
    advance_ns(t, ms * NS_PER_MS + ST_TICK_NS);
}

uint64_t counter(struct st *t, const char *name)
{
    uint64_t v;
    if (ust_stack_counter(t->s, name, &v) != 0)
        fail_msg("no counter %s", name);
    return v;
}

void st_resolve(struct st *t, uint32_t ip, const struct eth_addr *mac)
{
    stack_enter(t->s);
    int rc = arp_add_static(t->ifc, ip, mac);
    stack_leave(t->s);
    assert_int_equal(rc, 0);
}

void st_resolve_peer(struct st *t)
{
    st_resolve(t, ST_PEER, &st_peer_mac);
}

void st_answer_arp_(struct st *t, const char *file, int line)
{
    st_expect_tx(t, want_arp(.eth_dst = &st_bcast_mac, .op = ARP_OP_REQUEST, .spa = ST_ADDR,
                             .tpa = ST_PEER), file, line);
    st_feed_frame(t, arp_reply());
}

/* ---- Building frames ---- */

static size_t data_len(const struct st_frame *f)
{
    if (f->len || !f->data)
        return f->len;
    return strlen(f->data);
}

static size_t build_udp(const struct st_frame *f, uint8_t *buf, size_t cap)
{
    size_t len = data_len(f);
    struct udp_repr u = { .sport = f->sport, .dport = f->dport, .payload_len = len };
    assert_true(UDP_HDR_LEN + len <= cap);
    assert_int_equal(udp_emit(&u, buf, cap), UDP_HDR_LEN);
    if (len)
        memcpy(buf + UDP_HDR_LEN, f->data, len);
    uint32_t pseudo = csum_ipv4_pseudo(f->src, f->dst, IPPROTO_UDP,
                                       (uint16_t)(UDP_HDR_LEN + len));
    if (f->udp_csum != ST_CSUM_NONE)
        udp_set_checksum(buf, UDP_HDR_LEN + len, pseudo);
    if (f->udp_csum == ST_CSUM_BAD) {
        uint8_t wrong = (uint8_t)(buf[7] + 1);
        buf[7] = wrong == 0 && buf[6] == 0 ? 1 : wrong;   /* wrong, and never 0 ("none") */
    }
    if (f->udp_len)
        wire_put16(buf + 4, f->udp_len);
    return UDP_HDR_LEN + len;
}

static size_t build_icmp(const struct st_frame *f, uint8_t *buf, size_t cap)
{
    bool echo = f->type == ICMP_ECHO_REQUEST || f->type == ICMP_ECHO_REPLY;
    struct icmp_repr m = { .type = f->type, .code = f->code,
                           .rest = (echo ? (uint32_t)f->echo_id << 16 | (f->seq & 0xffff) : 0) |
                                   f->rest,
                           .data = f->data, .data_len = data_len(f) };
    size_t n = icmp_emit(&m, buf, cap);
    assert_int_equal(n, ICMP_HDR_LEN + m.data_len);
    if (f->bad_icmp_csum)
        buf[2] ^= 0xff;
    return n;
}

static void tcp_frame_options(const struct st_frame *f, struct tcp_options *o)
{
    *o = (struct tcp_options){ 0 };
    if (f->mss >= 0) {
        o->present |= TCP_HAS_MSS;
        o->mss = (uint16_t)f->mss;
    }
    if (f->ws >= 0) {
        o->present |= TCP_HAS_WSCALE;
        o->wscale = (uint8_t)f->ws;
    }
    if (f->sack_perm)
        o->present |= TCP_HAS_SACK_PERM;
    if (f->tsval >= 0) {
        o->present |= TCP_HAS_TIMESTAMP;
        o->ts_val = (uint32_t)f->tsval;
        o->ts_ecr = f->tsecr;
    }
    if (f->nsack) {
        assert_true(f->nsack <= TCP_MAX_SACK_BLOCKS);
        o->present |= TCP_HAS_SACK;
        o->sack_count = f->nsack;
        memcpy(o->sack, f->sack, sizeof(o->sack));
    }
}

static size_t build_tcp(const struct st_frame *f, uint8_t *buf, size_t cap)
{
    size_t len = data_len(f);
    struct tcp_repr r = { .sport = f->sport, .dport = f->dport, .seq = f->seq, .ack = f->ack,
                          .flags = f->flags, .window = f->window, .urgent = f->urgent };
    size_t hlen;
    if (f->raw_opts) {
        size_t olen = (f->raw_opts_len + 3) & ~(size_t)3;
        assert_true(olen <= TCP_MAX_OPT_LEN);
        hlen = TCP_HDR_LEN + olen;
        assert_true(hlen + len <= cap);
        assert_int_equal(tcp_emit(&r, buf, cap), TCP_HDR_LEN);
        memset(buf + TCP_HDR_LEN, TCP_OPT_EOL, olen);
        memcpy(buf + TCP_HDR_LEN, f->raw_opts, f->raw_opts_len);
        buf[12] = (uint8_t)((hlen / 4) << 4 | (buf[12] & 0x0f));
    } else {
        tcp_frame_options(f, &r.opt);
        hlen = tcp_header_len(&r);
        assert_true(hlen && hlen + len <= cap);
        assert_int_equal(tcp_emit(&r, buf, cap), hlen);
    }
    if (len)
        memcpy(buf + hlen, f->data, len);
    tcp_set_checksum(buf, hlen + len,
                     csum_ipv4_pseudo(f->src, f->dst, IPPROTO_TCP, (uint16_t)(hlen + len)));
    if (f->bad_tcp_csum)
        buf[17] ^= 0xff;
    return hlen + len;
}

size_t st_build_l4(const struct st_frame *f, uint8_t *buf, size_t cap)
{
    switch (f->kind) {
    case ST_UDP:
        return build_udp(f, buf, cap);
    case ST_TCP:
        return build_tcp(f, buf, cap);
    case ST_ICMP:
        return build_icmp(f, buf, cap);
    case ST_IPV4: {
        size_t len = data_len(f);
        assert_true(len <= cap);
        if (len)
            memcpy(buf, f->data, len);
        return len;
    }
    default:
        fail_msg("not an IPv4 frame");
        return 0;
    }
}

size_t st_build_ip(const struct st_frame *f, uint8_t *buf, size_t cap)
{
    unsigned ihl = f->ihl ? f->ihl : 5;
    size_t opt_len = ihl > 5 ? (ihl - 5) * 4 : 0;
    size_t hdr_len = IPV4_HDR_LEN + opt_len;
    assert_true(cap >= hdr_len);
    size_t l4 = st_build_l4(f, buf + hdr_len, cap - hdr_len);
    struct ipv4_repr r = { .src = f->src, .dst = f->dst, .protocol = f->proto, .ttl = f->ttl,
                           .tos = f->tos, .df = f->df, .mf = f->mf, .id = f->id,
                           .frag_off = f->frag_off, .payload_len = (uint16_t)(opt_len + l4) };
    assert_int_equal(ipv4_emit(&r, buf, cap), IPV4_HDR_LEN);
    memset(buf + IPV4_HDR_LEN, IPV4_OPT_NOP, opt_len);
    /* The fields ipv4_emit would not write wrong, patched in and summed again. */
    buf[0] = (uint8_t)(f->version << 4 | (ihl & 0x0f));
    if (f->total_len)
        wire_put16(buf + 2, f->total_len);
    wire_put16(buf + 10, 0);
    uint16_t check = csum_fold(csum_partial(buf, hdr_len, 0));
    memcpy(buf + 10, &check, sizeof(check));
    if (f->bad_ip_csum)
        buf[10] ^= 0xff;
    return hdr_len + l4;
}

size_t st_build(const struct st_frame *f, uint8_t *buf, size_t cap)
{
    uint16_t type = f->kind == ST_ARP ? ETHERTYPE_ARP : ETHERTYPE_IPV4;
    struct eth_repr e = { .dst = f->eth_dst, .src = f->eth_src,
                          .ethertype = f->ethertype ? f->ethertype : type };
    assert_int_equal(eth_emit(&e, buf, cap), ETH_HDR_LEN);
    size_t len = ETH_HDR_LEN;
    if (f->kind == ST_ARP) {
        struct arp_repr a = { .op = f->op, .sha = f->sha, .spa = f->spa, .tha = f->tha,
                              .tpa = f->tpa };
        len += arp_emit(&a, buf + len, cap - len);
    } else {
        len += st_build_ip(f, buf + len, cap - len);
    }
    assert_true(len + f->pad <= cap);
    memset(buf + len, 0xee, f->pad);
    return len + f->pad;
}

void st_feed_bytes(struct st *t, const void *bytes, size_t len)
{
    struct pkt *p = pkt_alloc(t->pool);
    assert_non_null(p);
    uint8_t *dst = pkt_put(p, (uint32_t)len);
    if (!dst) {
        pkt_free(p);
        fail_msg("a %zu-byte frame does not fit the peer's buffers", len);
    }
    memcpy(dst, bytes, len);
    assert_int_equal(link_tx_burst(t->peer, &p, 1), 1);
    assert_true(ust_stack_poll(t->s, NULL) >= 0);
}

static void inject_bytes(struct st *t, const void *bytes, size_t len)
{
    struct pkt *p = pkt_alloc(t->pool);
    assert_non_null(p);
    uint8_t *dst = pkt_put(p, (uint32_t)len);
    assert_non_null(dst);
    memcpy(dst, bytes, len);
    assert_int_equal(link_tx_burst(t->peer, &p, 1), 1);
}

void st_inject_frame(struct st *t, struct st_frame f)
{
    uint8_t *buf = priv(t)->scratch;
    inject_bytes(t, buf, st_build(&f, buf, ST_FRAME_MAX));
}

void st_feed_frame(struct st *t, struct st_frame f)
{
    uint8_t *buf = priv(t)->scratch;
    size_t len = st_build(&f, buf, ST_FRAME_MAX);
    st_feed_bytes(t, buf, len);
}

void st_feed_fragments(struct st *t, const struct st_frame *whole, size_t piece,
                       const unsigned *order, unsigned n)
{
    uint8_t *l4 = priv(t)->l4;
    size_t total = st_build_l4(whole, l4, ST_FRAME_MAX);
    assert_true(piece % 8 == 0);
    for (unsigned i = 0; i < n; i++) {
        size_t off = (order ? order[i] : i) * piece;
        assert_true(off < total);
        size_t len = total - off < piece ? total - off : piece;
        struct st_frame f = *whole;
        f.kind = ST_IPV4;
        f.data = l4 + off;
        f.len = len;
        f.frag_off = (uint16_t)off;
        f.mf = off + len < total;
        st_feed_frame(t, f);
    }
}

/* ---- Frames the stack sends ---- */

/* Appends to buf at *n, bounded by cap. */
#define APPEND(buf, n, cap, ...)                                                     \
    do {                                                                             \
        if (*(n) < (cap)) {                                                          \
            int k_ = snprintf((buf) + *(n), (cap) - *(n), __VA_ARGS__);              \
            *(n) += k_ > 0 ? (size_t)k_ : 0;                                         \
        }                                                                            \
    } while (0)

static void describe_tcp(const struct tcp_repr *th, size_t len, char *buf, size_t cap)
{
    size_t n = 0;
    static const struct { uint16_t bit; char c; } names[] = {
        { TCP_SYN, 'S' }, { TCP_FIN, 'F' }, { TCP_RST, 'R' }, { TCP_PSH, 'P' },
        { TCP_URG, 'U' }, { TCP_ECE, 'E' }, { TCP_CWR, 'W' }, { TCP_ACK, '.' },
    };
    APPEND(buf, &n, cap, " TCP %u > %u [", th->sport, th->dport);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (th->flags & names[i].bit)
            APPEND(buf, &n, cap, "%c", names[i].c);
    APPEND(buf, &n, cap, "] seq %u ack %u win %u len %zu", th->seq, th->ack, th->window, len);
    const struct tcp_options *o = &th->opt;
    if (o->present & TCP_HAS_MSS)
        APPEND(buf, &n, cap, " mss %u", o->mss);
    if (o->present & TCP_HAS_SACK_PERM)
        APPEND(buf, &n, cap, " sackOK");
    if (o->present & TCP_HAS_TIMESTAMP)
        APPEND(buf, &n, cap, " TS %u/%u", o->ts_val, o->ts_ecr);
    if (o->present & TCP_HAS_WSCALE)
        APPEND(buf, &n, cap, " wscale %u", o->wscale);
    if (o->present & TCP_HAS_SACK)
        for (unsigned i = 0; i < o->sack_count; i++)
            APPEND(buf, &n, cap, " sack %u-%u", o->sack[i].start, o->sack[i].end);
}

void st_describe(const struct st_rx *rx, char *buf, size_t cap)
{
    if (rx->eth.ethertype == ETHERTYPE_ARP) {
        snprintf(buf, cap, "ARP op %u spa %08x tpa %08x", rx->arp.op, rx->arp.spa, rx->arp.tpa);
        return;
    }
    if (rx->eth.ethertype != ETHERTYPE_IPV4) {
        snprintf(buf, cap, "ethertype %04x", rx->eth.ethertype);
        return;
    }
    int n = snprintf(buf, cap, "IPv4 %08x > %08x proto %u id %u off %u%s len %u", rx->ip.src,
                     rx->ip.dst, rx->ip.protocol, rx->ip.id, rx->ip.frag_off,
                     rx->ip.mf ? " MF" : "", rx->ip.total_len);
    if (n > 0 && (size_t)n < cap && !ipv4_is_fragment(&rx->ip)) {
        if (rx->ip.protocol == IPPROTO_ICMP)
            snprintf(buf + n, cap - (size_t)n, " ICMP type %u code %u", rx->icmp.type,
                     rx->icmp.code);
        else if (rx->ip.protocol == IPPROTO_UDP)
            snprintf(buf + n, cap - (size_t)n, " UDP %u > %u", rx->udp.sport, rx->udp.dport);
        else if (rx->ip.protocol == IPPROTO_TCP)
            describe_tcp(&rx->tcp, rx->len, buf + n, cap - (size_t)n);
    }
}

#define ST_FAIL(file, line, ...)                                                     \
    do {                                                                             \
        print_error(__VA_ARGS__);                                                    \
        _fail(file, line);                                                           \
    } while (0)

static void parse_ipv4(struct st_rx *rx, const char *file, int line)
{
    int err = ipv4_parse(rx->eth.payload, rx->eth.payload_len, &rx->ip);
    if (err)
        ST_FAIL(file, line, "the stack sent a bad IPv4 header: %s\n", wire_strerror(err));
    rx->data = rx->ip.payload;
    rx->len = rx->ip.payload_len;
    if (ipv4_is_fragment(&rx->ip))
        return;
    if (rx->ip.protocol == IPPROTO_UDP) {
        err = udp_parse(rx->ip.payload, rx->ip.payload_len, &rx->udp);
        uint32_t pseudo = csum_ipv4_pseudo(rx->ip.src, rx->ip.dst, IPPROTO_UDP,
                                           rx->ip.payload_len);
        if (err || rx->udp.checksum == 0 ||
            !udp_checksum_ok(rx->ip.payload, rx->ip.payload_len, pseudo))
            ST_FAIL(file, line, "the stack sent a bad UDP header or checksum\n");
        rx->data = rx->udp.payload;
        rx->len = rx->udp.payload_len;
    } else if (rx->ip.protocol == IPPROTO_ICMP) {
        err = icmp_parse(rx->ip.payload, rx->ip.payload_len, &rx->icmp);
        if (err)
            ST_FAIL(file, line, "the stack sent a bad ICMP message: %s\n", wire_strerror(err));
        rx->data = rx->icmp.data;
        rx->len = rx->icmp.data_len;
    } else if (rx->ip.protocol == IPPROTO_TCP) {
        err = tcp_parse(rx->ip.payload, rx->ip.payload_len, &rx->tcp);
        if (err)
            ST_FAIL(file, line, "the stack sent a bad TCP header: %s\n", wire_strerror(err));
        uint32_t pseudo = csum_ipv4_pseudo(rx->ip.src, rx->ip.dst, IPPROTO_TCP,
                                           rx->ip.payload_len);
        if (!tcp_checksum_ok(rx->ip.payload, rx->ip.payload_len, pseudo))
            ST_FAIL(file, line, "the stack sent a TCP segment with a bad checksum\n");
        rx->data = rx->tcp.payload;
        rx->len = rx->tcp.payload_len;
    }
}

static const struct st_rx *take_tx(struct st *t, const char *file, int line)
{
    struct st_priv *p = priv(t);
    struct pkt *f;
    int n = link_rx_burst(t->peer, &f, 1);
    assert_true(n >= 0);
    if (n == 0)
        return NULL;
    struct st_rx *rx = &p->rx;
    *rx = (struct st_rx){ .frame = p->rx_frame, .frame_len = f->len };
    assert_true(f->len <= ST_FRAME_MAX);
    memcpy(p->rx_frame, f->data, f->len);
    pkt_free(f);
    if (eth_parse(rx->frame, rx->frame_len, &rx->eth) != 0)
        ST_FAIL(file, line, "the stack sent a frame without an Ethernet header\n");
    if (rx->eth.ethertype == ETHERTYPE_ARP) {
        if (arp_parse(rx->eth.payload, rx->eth.payload_len, &rx->arp) != 0)
            ST_FAIL(file, line, "the stack sent a malformed ARP packet\n");
    } else if (rx->eth.ethertype == ETHERTYPE_IPV4) {
        parse_ipv4(rx, file, line);
    }
    return rx;
}

const struct st_rx *st_take_tx(struct st *t)
{
    return take_tx(t, __FILE__, __LINE__);
}

unsigned st_drain_tx(struct st *t)
{
    unsigned n = 0;
    while (st_take_tx(t))
        n++;
    return n;
}

struct check_ctx {
    const struct st_rx *rx;
    const char *file;
    int line;
};

static void check(const struct check_ctx *c, const char *what, int64_t got, int64_t want)
{
    if (want == ST_ANY || got == want)
        return;
    char d[512];
    st_describe(c->rx, d, sizeof(d));
    ST_FAIL(c->file, c->line, "%s: got %lld (%#llx), want %lld (%#llx)\n  frame: %s\n", what,
            (long long)got, (unsigned long long)got, (long long)want, (unsigned long long)want,
            d);
}

static void check_mac(const struct check_ctx *c, const char *what, const struct eth_addr *got,
                      const struct eth_addr *want)
{
    if (!want || eth_addr_equal(got, want))
        return;
    const uint8_t *g = got->b, *w = want->b;
    ST_FAIL(c->file, c->line,
            "%s: got %02x:%02x:%02x:%02x:%02x:%02x, want %02x:%02x:%02x:%02x:%02x:%02x\n",
            what, g[0], g[1], g[2], g[3], g[4], g[5], w[0], w[1], w[2], w[3], w[4], w[5]);
}

static void check_kind(const struct check_ctx *c, enum st_kind kind)
{
    const struct st_rx *rx = c->rx;
    bool ip = rx->eth.ethertype == ETHERTYPE_IPV4;
    bool whole = ip && !ipv4_is_fragment(&rx->ip);
    bool ok = (kind == ST_ARP && rx->eth.ethertype == ETHERTYPE_ARP) || (kind == ST_IPV4 && ip) ||
              (kind == ST_UDP && whole && rx->ip.protocol == IPPROTO_UDP) ||
              (kind == ST_ICMP && whole && rx->ip.protocol == IPPROTO_ICMP) ||
              (kind == ST_TCP && whole && rx->ip.protocol == IPPROTO_TCP);
    if (!ok) {
        char d[512];
        st_describe(rx, d, sizeof(d));
        static const char *const names[] = { "?", "ARP", "IPv4", "UDP", "ICMP", "TCP" };
        ST_FAIL(c->file, c->line, "want %s, the stack sent: %s\n", names[kind], d);
    }
}

/* An option: ST_ANY not compared, ST_NONE must be absent, else present with this value. */
static void check_opt(const struct check_ctx *c, const char *what, bool present, int64_t got,
                      int64_t want)
{
    if (want == ST_ANY)
        return;
    char d[512];
    if (want == ST_NONE) {
        if (present) {
            st_describe(c->rx, d, sizeof(d));
            ST_FAIL(c->file, c->line, "%s: present (%lld), want absent\n  frame: %s\n", what,
                    (long long)got, d);
        }
        return;
    }
    if (!present) {
        st_describe(c->rx, d, sizeof(d));
        ST_FAIL(c->file, c->line, "%s: absent, want %lld\n  frame: %s\n", what,
                (long long)want, d);
    }
    check(c, what, got, want);
}

static void check_tcp(const struct check_ctx *c, const struct tcp_repr *th, const struct st_want *w)
{
    const struct tcp_options *o = &th->opt;
    check(c, "tcp.sport", th->sport, w->sport);
    check(c, "tcp.dport", th->dport, w->dport);
    check(c, "tcp.flags", th->flags, w->flags);
    check(c, "tcp.seq", th->seq, w->seq);
    check(c, "tcp.ack", th->ack, w->ack);
    check(c, "tcp.window", th->window, w->window);
    check(c, "tcp.urgent", th->urgent, w->urgent);
    check(c, "tcp.hdr_len", th->hdr_len, w->hdr_len);
    check_opt(c, "tcp option mss", o->present & TCP_HAS_MSS, o->mss, w->mss);
    check_opt(c, "tcp option wscale", o->present & TCP_HAS_WSCALE, o->wscale, w->ws);
    if (w->sack_perm != ST_ANY)
        check(c, "tcp option sackOK", (o->present & TCP_HAS_SACK_PERM) != 0, w->sack_perm != 0);
    bool ts = o->present & TCP_HAS_TIMESTAMP;
    check_opt(c, "tcp option TSval", ts, o->ts_val, w->tsval);
    check_opt(c, "tcp option TSecr", ts, o->ts_ecr, w->tsecr);
    if (w->nsack == ST_ANY)
        return;
    unsigned n = (o->present & TCP_HAS_SACK) ? o->sack_count : 0;
    check(c, "tcp SACK blocks", n, w->nsack);
    for (unsigned i = 0; i < n; i++) {
        check(c, "tcp SACK block start", o->sack[i].start, w->sack[i].start);
        check(c, "tcp SACK block end", o->sack[i].end, w->sack[i].end);
    }
}

static void check_fields(const struct check_ctx *c, const struct st_want *w)
{
    const struct st_rx *rx = c->rx;
    check_mac(c, "eth.dst", &rx->eth.dst, w->eth_dst);
    check_mac(c, "eth.src", &rx->eth.src, w->eth_src);
    if (w->kind == ST_ARP) {
        check(c, "arp.op", rx->arp.op, w->op);
        check(c, "arp.spa", rx->arp.spa, w->spa);
        check(c, "arp.tpa", rx->arp.tpa, w->tpa);
        check_mac(c, "arp.sha", &rx->arp.sha, w->sha);
        check_mac(c, "arp.tha", &rx->arp.tha, w->tha);
        return;
    }
    check(c, "ip.src", rx->ip.src, w->src);
    check(c, "ip.dst", rx->ip.dst, w->dst);
    check(c, "ip.proto", rx->ip.protocol, w->proto);
    check(c, "ip.ttl", rx->ip.ttl, w->ttl);
    check(c, "ip.tos", rx->ip.tos, w->tos);
    check(c, "ip.id", rx->ip.id, w->id);
    check(c, "ip.frag_off", rx->ip.frag_off, w->frag_off);
    check(c, "ip.df", rx->ip.df, w->df);
    check(c, "ip.mf", rx->ip.mf, w->mf);
    check(c, "ip.total_len", rx->ip.total_len, w->total_len);
    if (w->kind == ST_UDP) {
        check(c, "udp.sport", rx->udp.sport, w->sport);
        check(c, "udp.dport", rx->udp.dport, w->dport);
    } else if (w->kind == ST_ICMP) {
        check(c, "icmp.type", rx->icmp.type, w->type);
        check(c, "icmp.code", rx->icmp.code, w->code);
        check(c, "icmp.echo_id", icmp_echo_id(&rx->icmp), w->echo_id);
        check(c, "icmp.seq", icmp_echo_seq(&rx->icmp), w->seq);
        check(c, "icmp.rest", rx->icmp.rest, w->rest);
    } else if (w->kind == ST_TCP) {
        check_tcp(c, &rx->tcp, w);
    }
}

const struct st_rx *st_expect_tx(struct st *t, struct st_want want, const char *file, int line)
{
    const struct st_rx *rx = take_tx(t, file, line);
    if (!rx)
        ST_FAIL(file, line, "expected a frame; the stack sent nothing\n");
    struct check_ctx c = { .rx = rx, .file = file, .line = line };
    check_kind(&c, want.kind);
    check_fields(&c, &want);
    if (want.data && want.len == ST_ANY)
        want.len = (int64_t)strlen(want.data);
    check(&c, "payload length", (int64_t)rx->len, want.len);
    if (want.data && memcmp(rx->data, want.data, rx->len) != 0)
        ST_FAIL(file, line, "payload differs\n");
    return rx;
}

const struct st_rx *st_expect_tx_after(struct st *t, uint64_t ms, struct st_want want,
                                       const char *file, int line)
{
    advance_ns(t, ms * NS_PER_MS - 1);
    st_expect_no_tx(t, file, line);
    advance_ns(t, ST_TICK_NS);
    return st_expect_tx(t, want, file, line);
}

void st_expect_no_tx(struct st *t, const char *file, int line)
{
    const struct st_rx *rx = take_tx(t, file, line);
    if (!rx)
        return;
    char d[512];
    st_describe(rx, d, sizeof(d));
    ST_FAIL(file, line, "expected nothing; the stack sent: %s\n", d);
}

/* ---- Sockets ---- */

struct sockaddr_in st_sin(uint32_t addr, uint16_t port)
{
    return (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(port),
                                 .sin_addr.s_addr = htonl(addr) };
}

int st_udp_socket(struct st *t)
{
    int fd = ust_stack_socket(t->s, AF_INET, SOCK_DGRAM, 0);
    if (fd < 0)
        fail_msg("ust_stack_socket: %s", strerror(errno));
    return fd;
}

int st_bind(int fd, uint32_t addr, uint16_t port)
{
    struct sockaddr_in sin = st_sin(addr, port);
    return ust_bind(fd, (struct sockaddr *)&sin, sizeof(sin));
}

int st_udp_bound(struct st *t, uint32_t addr, uint16_t port)
{
    int fd = st_udp_socket(t);
    if (st_bind(fd, addr, port) != 0)
        fail_msg("bind to %08x:%u: %s", addr, port, strerror(errno));
    return fd;
}

int st_connect(int fd, uint32_t addr, uint16_t port)
{
    struct sockaddr_in sin = st_sin(addr, port);
    return ust_connect(fd, (struct sockaddr *)&sin, sizeof(sin));
}

ssize_t st_sendto(int fd, const void *buf, size_t len, uint32_t addr, uint16_t port)
{
    struct sockaddr_in sin = st_sin(addr, port);
    return ust_sendto(fd, buf, len, 0, (struct sockaddr *)&sin, sizeof(sin));
}

ssize_t st_recv(int fd, void *buf, size_t cap, struct sockaddr_in *from)
{
    socklen_t len = sizeof(*from);
    return ust_recvfrom(fd, buf, cap, MSG_DONTWAIT, (struct sockaddr *)from,
                        from ? &len : NULL);
}

uint16_t st_local_port(int fd)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    assert_int_equal(ust_getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    return ntohs(sin.sin_port);
}
