/*
 * fuzz_stack's TCP side: a listener and connections in every state of RFC 9293's diagram,
 * played by a peer that reads what the stack sends and aims its segments at the live 4-tuples.
 *
 * The stack listens on :80 with a backlog of 2 (room for 3 waiting, a SYN queue of 2: SYN
 * cookies from the third embryo on). Each role below is a connection with PEER, made through a
 * real handshake (and a real close) when the world is made, and made again at the start of any
 * input that finds it dead (CLOSED, or gone from the tables), with a new peer port:
 *   SYN_SENT      we connected; the peer never answers
 *   SYN_RCVD      the peer's SYN to :80; it never sends the ACK
 *   EST_CLIENT    we connected; ESTABLISHED        EST_SERVER    accepted from :80; ESTABLISHED
 *   FIN_WAIT_1    we shut down (or closed: an orphan, every other generation); FIN not acked
 *   FIN_WAIT_2    the same, FIN acked              CLOSE_WAIT    the peer sent its FIN
 *   LAST_ACK      CLOSE_WAIT, then we shut down    CLOSING       FIN_WAIT_1, then the peer's FIN
 *   TIME_WAIT     we closed (a compact entry, or the full TCB every other generation), the
 *                 peer acked and sent its FIN
 * and N_AUX more 4-tuples that OP_TCP_FLOOD's SYNs use (and OP_TCP_CALL's accept adopts). The
 * handshakes vary the peer's options with the generation (all of MSS, window scale, SACK and
 * timestamps; none; timestamps and a small MSS; SACK and the largest shift) and some sockets get
 * a small SO_RCVBUF so zero windows come quickly.
 *
 * The peer learns from every segment the stack sends on a role's 4-tuple: the stack's ISS (SYN),
 * the highest sequence number it has sent, its last ACK and window, its TSval and options.
 *
 * Operations (after the op byte):
 *   OP_TCP_SEG    u8 connection, u8 flags (FIN SYN RST PSH ACK URG ECE CWR), u8 (seq mode 3
 *                 bits, ack mode 3 bits, bad checksum, AE), u8 options (MSS, WS, SACK-permitted,
 *                 timestamps, SACK blocks, raw bytes instead, window mode 2 bits), u16 payload
 *                 length, u16 seq delta, u16 ack delta, then per option: [u16 MSS] [u8 shift]
 *                 [u8 TS mode, u16 delta] [u8 count, per block u8 base, u16 offset, u16 length]
 *                 [u8 length, bytes], [u16 window], [u32 seq] [u32 ack] for the raw modes.
 *                 Sequence numbers relative to the stack's last ACK (in order, ahead, old, at
 *                 the window's right edge, far, half the space away, the peer's ISN, raw);
 *                 acknowledgments relative to what the stack has sent (all, the last acked, a
 *                 part, beyond, old, its ISN, half the space away, raw).
 *   OP_TCP_ICMP   u8 connection, u8 kind (frag-needed, port/host/protocol/net unreachable,
 *                 time exceeded, source quench, admin prohibited; quoted sequence number mode),
 *                 u16 MTU (frag-needed's next-hop MTU, or an index in a table of edges),
 *                 [u32 seq]
 *   OP_TCP_CALL   u8 connection (or the listener), u8 call, u16 argument: send, recv (peek),
 *                 shutdown, close, close with SO_LINGER 0, setsockopt (TCP_NODELAY, TCP_CORK,
 *                 SO_KEEPALIVE and its times, TCP_MAXSEG, buffers, TCP_USER_TIMEOUT, ...),
 *                 getsockopt / tcp_info / ioctl / poll, accept, remake, listen, connect again
 *   OP_TCP_FLOOD  u8 count, u8 mode: SYNs to :80 from the auxiliary 4-tuples (SYN queue full:
 *                 cookies), then optionally the ACKs that complete them (with data)
 *
 * Checked: every segment the stack sends parses, has a right checksum, no SYN with FIN or RST,
 * no data on an RST, DF set; every data byte it sends, and every byte a recv returns, is the
 * byte of the stream at that sequence number: both ends write stream_byte(seq) (the peer for its
 * payloads, the harness for what it passes to send), so any misplaced, stale or corrupted byte
 * shows, whatever the reassembly, retransmission or SACK path it took. The right edge of the
 * window the stack offers on a 4-tuple never moves left (RFC 9293 3.8.6), and
 * TcpCurrEstab equals the connections in ESTABLISHED or CLOSE_WAIT. Every connection keeps
 * snd_una <= snd_nxt <= write_seq and its queue byte counts equal to its queues. With the stack
 * idle, every buffer a connection holds is counted (accounting), including those of reset
 * connections still waiting on the accept queue, and each listener's SYN and accept queue
 * lengths match what it holds. At reset every socket is closed with SO_LINGER 0 and the
 * listener closed; then the clock runs (bounded: at most two hours of fake time) until no
 * connection, control block or TIME_WAIT entry is left.
 */
#include "fuzz_stack.h"

#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "sock/sock.h"
#include "tcp/table.h"
#include "tcp/tcb.h"
#include "ustack/ustack.h"
#include "wire/checksum.h"
#include "wire/icmp.h"
#include "wire/tcp.h"

#define LPORT 80
#define LBACKLOG 2

enum role {
    R_SYN_SENT, R_SYN_RCVD, R_EST_CLIENT, R_EST_SERVER, R_FIN_WAIT_1, R_FIN_WAIT_2,
    R_CLOSE_WAIT, R_LAST_ACK, R_CLOSING, R_TIME_WAIT, N_ROLES
};
#define N_AUX 6
#define N_CONNS (N_ROLES + N_AUX)

static const uint8_t role_state[N_ROLES] = {
    [R_SYN_SENT] = TCPS_SYN_SENT, [R_SYN_RCVD] = TCPS_SYN_RECEIVED,
    [R_EST_CLIENT] = TCPS_ESTABLISHED, [R_EST_SERVER] = TCPS_ESTABLISHED,
    [R_FIN_WAIT_1] = TCPS_FIN_WAIT_1, [R_FIN_WAIT_2] = TCPS_FIN_WAIT_2,
    [R_CLOSE_WAIT] = TCPS_CLOSE_WAIT, [R_LAST_ACK] = TCPS_LAST_ACK,
    [R_CLOSING] = TCPS_CLOSING, [R_TIME_WAIT] = TCPS_TIME_WAIT,
};

/* One 4-tuple (ADDR:lport, PEER:rport) as the peer sees it. */
struct pconn {
    int fd;                      /* the stack's socket, -1 if none (embryo, orphan, aux) */
    bool used;                   /* the 4-tuple is set */
    uint16_t lport, rport;       /* the stack's port, the peer's */
    uint16_t gen;                /* times remade */
    /* The peer's own side. */
    uint32_t irs;                /* the peer's ISN */
    uint32_t p_nxt;              /* after the highest sequence number the peer sent in order */
    uint32_t p_ack;              /* highest acknowledgment the peer sent */
    uint32_t p_tsval;            /* the peer's last TSval */
    uint8_t variant;             /* the peer's handshake options (see syn_options) */
    /* Learned from the stack's segments. */
    bool have_iss;
    uint32_t iss;
    uint32_t s_nxt;              /* after the highest sequence number the stack sent */
    uint32_t s_ack;              /* its last acknowledgment (its rcv_nxt, as far as we know) */
    uint16_t s_win;              /* its last window field */
    uint8_t s_shift;             /* window scale in force for its windows */
    bool s_acked;
    bool s_ts, s_ws, s_sack;     /* options in its SYN or SYN-ACK */
    uint8_t s_wscale;
    uint32_t s_tsval;
    bool s_fin;
    uint32_t s_fin_seq;
    bool s_edge_ok;
    uint32_t s_edge;             /* right edge of the window the stack offered: never moves left */
    const struct tcb *s_edge_tcb;   /* the control block (and its IRS) that offered it */
    uint32_t s_edge_irs;
    uint32_t rd_end;             /* end of the stream queued when we shut reading down: the
                                  * stack discards what comes after (tcp_close.c's test) */
};

static struct pconn pc[N_CONNS];
static int lfd = -1;
static uint16_t ip_id;
static uint8_t sbuf[65536];

/* The byte at sequence number s of either direction's stream (see the header comment). */
static inline uint8_t stream_byte(uint32_t s)
{
    return (uint8_t)(s + (s >> 8) * 3 + (s >> 16) * 5 + (s >> 24) * 11);
}

static struct tcb *tcb_of_fd(int fd)
{
    struct sock *so = sock_get(fd);
    CHECK(so != NULL && so->type == SOCK_STREAM);
    sock_put(so);
    return so->tcp;
}

static struct tcp_conn *lookup(const struct pconn *c)
{
    return c->used ? tcp_ehash_lookup(w.s, ADDR, c->lport, PEER, c->rport) : NULL;
}

/* The connection behind a pconn: its socket's, or whatever holds its 4-tuple. */
static uint8_t conn_state(const struct pconn *c)
{
    if (c->fd >= 0)
        return tcb_of_fd(c->fd)->c.state;
    const struct tcp_conn *k = lookup(c);
    return k ? k->state : TCPS_CLOSED;
}

static struct tcb *conn_tcb(const struct pconn *c)
{
    if (c->fd >= 0)
        return tcb_of_fd(c->fd);
    struct tcp_conn *k = lookup(c);
    return k && !k->compact ? (struct tcb *)k : NULL;
}

static uint32_t peer_ts_now(void)
{
    return (uint32_t)(clk_now(&w.clock) / NS_PER_MS) + 0x7fff0000u;
}

/* ---- The peer's segments ---- */

struct seg {
    uint16_t flags;
    uint32_t seq, ack;
    uint16_t win;
    struct tcp_options opt;
    size_t len;                  /* payload bytes: stream_byte() of their sequence numbers */
    const uint8_t *raw_opt;      /* options as bytes instead of opt */
    size_t raw_opt_len;
    bool bad_csum;
};

static void peer_send(struct pconn *c, const struct seg *g)
{
    static uint8_t f[FRAME_CAP];
    memcpy(f, our_mac.b, ETH_ADDR_LEN);
    memcpy(f + 6, peer_mac.b, ETH_ADDR_LEN);
    wire_put16(f + 12, ETHERTYPE_IPV4);
    uint8_t *ip = f + ETH_HDR_LEN, *th = ip + IPV4_HDR_LEN;
    struct tcp_repr r = { .sport = c->rport, .dport = c->lport, .seq = g->seq, .ack = g->ack,
                          .flags = g->flags, .window = g->win, .opt = g->opt };
    if (g->raw_opt)
        r.opt.present = 0;
    size_t hl = tcp_emit(&r, th, TCP_MAX_HDR_LEN);
    if (!hl) {
        r.opt.present = 0;   /* too many options for 40 bytes */
        hl = tcp_emit(&r, th, TCP_MAX_HDR_LEN);
    }
    CHECK(hl >= TCP_HDR_LEN);
    if (g->raw_opt) {
        size_t n = g->raw_opt_len < TCP_MAX_OPT_LEN ? g->raw_opt_len : TCP_MAX_OPT_LEN;
        size_t padded = (n + 3) & ~(size_t)3;
        memcpy(th + TCP_HDR_LEN, g->raw_opt, n);
        memset(th + TCP_HDR_LEN + n, 0, padded - n);
        hl = TCP_HDR_LEN + padded;
        th[12] = (uint8_t)((hl / 4) << 4 | (th[12] & 0x0f));
    }
    size_t max = MTU - IPV4_HDR_LEN - hl;
    size_t len = g->len < max ? g->len : max;
    uint32_t dseq = g->seq + ((g->flags & TCP_SYN) ? 1 : 0);
    for (size_t i = 0; i < len; i++)
        th[hl + i] = stream_byte(dseq + (uint32_t)i);
    size_t tl = hl + len;
    tcp_set_checksum(th, tl, csum_ipv4_pseudo(PEER, ADDR, IPPROTO_TCP, (uint16_t)tl));
    if (g->bad_csum)
        th[17] ^= 0x41;
    struct ipv4_repr h = { .src = PEER, .dst = ADDR, .protocol = IPPROTO_TCP, .ttl = 64,
                           .df = true, .id = ip_id++, .payload_len = (uint16_t)tl };
    ipv4_emit(&h, ip, IPV4_HDR_LEN);
    size_t flen = ETH_HDR_LEN + IPV4_HDR_LEN + tl;
    TRACE("  peer %u -> %u: flags %03x seq %08x ack %08x win %u len %zu\n", c->rport,
          c->lport, g->flags, g->seq, g->ack, g->win, len);
    memcpy(w.last_frame, f, flen);
    w.last_frame_len = flen;
    w.last_l3 = ETH_HDR_LEN;
    if ((g->flags & TCP_ACK) && seq_gt(g->ack, c->p_ack) && c->have_iss &&
        seq_leq(g->ack, c->s_nxt))
        c->p_ack = g->ack;
    if ((g->opt.present & TCP_HAS_TIMESTAMP) && !g->raw_opt && seq_gt(g->opt.ts_val, c->p_tsval))
        c->p_tsval = g->opt.ts_val;
    feed(f, flen);
}

/* The options of the peer's SYN or SYN-ACK, by variant; a SYN-ACK only echoes what the stack's
 * SYN offered (RFC 7323 1.3, 2.2; RFC 2018 2). */
static struct tcp_options syn_options(struct pconn *c, bool synack)
{
    struct tcp_options o = { 0 };
    switch (c->variant % 4) {
    case 0:
        o.present = TCP_HAS_MSS | TCP_HAS_WSCALE | TCP_HAS_SACK_PERM | TCP_HAS_TIMESTAMP;
        o.mss = 1460;
        o.wscale = 7;
        break;
    case 1:
        break;   /* nothing: MSS 536, no scaling, no SACK, no timestamps */
    case 2:
        o.present = TCP_HAS_MSS | TCP_HAS_TIMESTAMP;
        o.mss = 600;
        break;
    default:
        o.present = TCP_HAS_MSS | TCP_HAS_WSCALE | TCP_HAS_SACK_PERM;
        o.mss = 1400;
        o.wscale = 14;
        break;
    }
    if (synack) {
        if (!c->s_ts)
            o.present &= (uint8_t)~TCP_HAS_TIMESTAMP;
        if (!c->s_ws)
            o.present &= (uint8_t)~TCP_HAS_WSCALE;
        if (!c->s_sack)
            o.present &= (uint8_t)~TCP_HAS_SACK_PERM;
    }
    c->p_tsval = peer_ts_now();
    o.ts_val = c->p_tsval;
    o.ts_ecr = synack ? c->s_tsval : 0;
    return o;
}

/* Timestamps on a segment of an established connection, if the handshake agreed on them. */
static void add_ts(struct pconn *c, struct seg *g)
{
    if (!c->s_ts || !(syn_options(c, false).present & TCP_HAS_TIMESTAMP))
        return;
    g->opt.present |= TCP_HAS_TIMESTAMP;
    uint32_t now = peer_ts_now();
    g->opt.ts_val = seq_gt(now, c->p_tsval) ? now : c->p_tsval;
    g->opt.ts_ecr = c->s_tsval;
}

/* An ACK (with flags) from where the peer stands: seq p_nxt, ack everything the stack sent. */
static void peer_ack(struct pconn *c, uint16_t flags, uint32_t ack)
{
    struct seg g = { .flags = (uint16_t)(TCP_ACK | flags), .seq = c->p_nxt, .ack = ack,
                     .win = 65535 };
    add_ts(c, &g);
    peer_send(c, &g);
    if (flags & TCP_FIN)
        c->p_nxt++;
}

/* ---- Learning from the stack's segments ---- */

static struct pconn *find(uint32_t dst, uint16_t sport, uint16_t dport)
{
    if (dst != PEER)
        return NULL;
    for (unsigned i = 0; i < N_CONNS; i++)
        if (pc[i].used && pc[i].lport == sport && pc[i].rport == dport)
            return &pc[i];
    return NULL;
}

/* The window check of an ACK the stack sent (not a SYN or RST): RFC 9293 3.8.6 (shrinking is
 * strongly discouraged; ustack never shrinks) and RFC 7323 2.4: the window's right edge must not
 * move left (a scaled window may round down by less than one unit). */
static void check_window_edge(struct pconn *c, const struct tcp_repr *t)
{
    /* The shift the connection applies: a peer can make a cookie connection disagree with
     * the SYNs by echoing a TSecr that is not the cookie's (its low bits carry the
     * options, as Linux's), so the SYNs' agreement is not always the truth. */
    const struct tcb *ctp = conn_tcb(c);
    /* A socket's connection that lost its 4-tuple (reset, say) while another now holds it:
     * the segment is the new incarnation's (a SYN cookie's ACK makes one without a SYN-ACK
     * that would have told us), and the old right edge says nothing about it. */
    const struct tcp_conn *k = lookup(c);
    if (ctp && k && !k->compact && k != &ctp->c) {
        ctp = (const struct tcb *)k;
        c->s_edge_ok = false;
    }
    /* Likewise a new control block on the 4-tuple, or the same memory made again for
     * another SYN (its ISN differs): an embryo that gave up and the peer's next SYN. */
    if (ctp && (ctp != c->s_edge_tcb || ctp->irs != c->s_edge_irs)) {
        c->s_edge_tcb = ctp;
        c->s_edge_irs = ctp->irs;
        c->s_edge_ok = false;
    }
    /* The shift the stack really applies, while its control block is there to ask; the
     * handshake model's guess (s_shift) cannot know the options of a fuzzed SYN. */
    if (ctp)
        c->s_shift = ctp->rcv_wscale;
    uint8_t shift = c->s_shift;
    uint32_t edge = t->ack + ((uint32_t)t->window << shift);
    if (c->s_edge_ok && seq_lt(edge + ((1u << shift) - 1), c->s_edge)) {
        const struct tcb *tp = ctp;
        fprintf(stderr, "window edge %u -> %u moved left: %08x -> %08x (ack %08x win %u "
                "shift %u flags %03x)\n", c->lport, c->rport, c->s_edge, edge, t->ack,
                t->window, shift, t->flags);
        if (tp)
            fprintf(stderr, "  tcb state %u rcv_nxt %08x rcv_adv %08x rcv_wnd %u rcv_wscale "
                    "%u rcvbuf %u queued %u ooo %u irs %08x fd %d\n", tp->c.state,
                    tp->rcv_nxt, tp->rcv_adv, tp->rcv_wnd, tp->rcv_wscale, tp->rcvbuf,
                    tp->rcv_queued, tp->ooo_bytes, tp->irs, c->fd);
    }
    CHECK(!c->s_edge_ok || seq_geq(edge + ((1u << shift) - 1), c->s_edge));
    if (!c->s_edge_ok || seq_gt(edge, c->s_edge))
        c->s_edge = edge;
    c->s_edge_ok = true;
}

static void learn(struct pconn *c, const struct tcp_repr *t)
{
    uint16_t fl = t->flags;
    if (fl & TCP_SYN) {
        c->have_iss = true;
        c->iss = t->seq;
        c->s_nxt = t->seq + 1;
        c->s_fin = false;
        c->s_ts = (t->opt.present & TCP_HAS_TIMESTAMP) != 0;
        c->s_ws = (t->opt.present & TCP_HAS_WSCALE) != 0;
        c->s_sack = (t->opt.present & TCP_HAS_SACK_PERM) != 0;
        c->s_wscale = t->opt.wscale;
        bool peer_ws = (syn_options(c, false).present & TCP_HAS_WSCALE) != 0;
        c->s_shift = c->s_ws && peer_ws ? c->s_wscale : 0;
        c->s_edge_ok = false;   /* a new incarnation; its SYN's window is not scaled */
        if (!(fl & TCP_ACK))
            c->p_ack = 0;   /* our SYN-ACK will acknowledge it */
    }
    uint32_t end = t->seq + (uint32_t)t->payload_len + ((fl & TCP_SYN) ? 1 : 0) +
                   ((fl & TCP_FIN) ? 1 : 0);
    if (c->have_iss && seq_gt(end, c->s_nxt) && !(fl & TCP_RST))
        c->s_nxt = end;
    if (fl & TCP_FIN) {
        c->s_fin = true;
        c->s_fin_seq = t->seq + (uint32_t)t->payload_len;
    }
    /* A reset ends the connection (or, from SYN_RECEIVED, refuses an ACK): what the 4-tuple
     * carries next may be a new incarnation's (a SYN cookie's ACK makes one), with windows of
     * its own. */
    if (fl & TCP_RST)
        c->s_edge_ok = false;
    if ((fl & TCP_ACK) && !(fl & (TCP_RST | TCP_SYN)) && c->have_iss)
        check_window_edge(c, t);
    if ((fl & TCP_ACK) && !(fl & TCP_RST)) {
        c->s_ack = t->ack;
        c->s_acked = true;
        c->s_win = t->window;
        if ((fl & TCP_SYN) && !c->p_nxt)
            c->p_nxt = t->ack;
    }
    if (t->opt.present & TCP_HAS_TIMESTAMP)
        c->s_tsval = t->opt.ts_val;
}

void fz_tcp_sent(const struct ipv4_repr *ip)
{
    struct tcp_repr t;
    CHECK(tcp_parse(ip->payload, ip->payload_len, &t) == WIRE_OK);
    bool sum_ok = tcp_checksum_ok(ip->payload, ip->payload_len,
                                  csum_ipv4_pseudo(ADDR, ip->dst, IPPROTO_TCP, ip->payload_len));
    if (!sum_ok)
        fprintf(stderr, "bad TCP checksum: %u -> %08x:%u flags %03x seq %08x ack %08x len %zu\n",
                t.sport, ip->dst, t.dport, t.flags, t.seq, t.ack, t.payload_len);
    CHECK(sum_ok);
    TRACE("  sent: TCP %u -> %08x:%u flags %03x seq %08x ack %08x win %u len %zu\n", t.sport,
          ip->dst, t.dport, t.flags, t.seq, t.ack, t.window, t.payload_len);
    /* Port 0 only in a reset answering a segment from or to port 0 (Linux does the same). */
    CHECK((t.sport != 0 && t.dport != 0) || (t.flags & TCP_RST));
    CHECK(!((t.flags & TCP_SYN) && (t.flags & (TCP_FIN | TCP_RST))));
    CHECK(!(t.flags & TCP_RST) || t.payload_len == 0);
    CHECK(t.payload_len == 0 || (t.flags & TCP_ACK));   /* data only once synchronized */
    /* Every data byte is the stream's byte at its sequence number. */
    uint32_t dseq = t.seq + ((t.flags & TCP_SYN) ? 1 : 0);
    for (size_t i = 0; i < t.payload_len; i++) {
        if (t.payload[i] != stream_byte(dseq + (uint32_t)i))
            fprintf(stderr, "byte %zu of a segment at %08x is %02x, not %02x\n", i, dseq,
                    t.payload[i], stream_byte(dseq + (uint32_t)i));
        CHECK(t.payload[i] == stream_byte(dseq + (uint32_t)i));
    }
    struct pconn *c = find(ip->dst, t.sport, t.dport);
    if (c)
        learn(c, &t);
}

/* ---- Making connections ---- */

static void set_int(int fd, int level, int name, int v)
{
    (void)ust_setsockopt(fd, level, name, &v, sizeof v);
}

static void close_abort(int fd)
{
    struct linger l = { .l_onoff = 1, .l_linger = 0 };
    (void)ust_setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    CHECK(ust_close(fd) == 0);
}

static void model_new(struct pconn *c, unsigned idx, uint16_t rport)
{
    uint16_t gen = (uint16_t)(c->gen + 1);
    int fd = c->fd;
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->gen = gen;
    c->used = true;
    c->rport = rport;
    /* Near 2^32 so sequence numbers wrap early, and different for every generation. */
    c->irs = 0xfffff000u - idx * 0x00100000u + gen * 0x9e37u;
    c->p_nxt = c->irs + 1;
    c->variant = (uint8_t)(idx + gen);
}

static void open_listener(void)
{
    lfd = ust_stack_socket(w.s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    CHECK(lfd >= 0);
    set_int(lfd, SOL_SOCKET, SO_REUSEADDR, 1);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(LPORT) };
    if (ust_bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || ust_listen(lfd, LBACKLOG) != 0) {
        TRACE("  listener: %s\n", strerror(errno));
        CHECK(ust_close(lfd) == 0);
        lfd = -1;
    }
}

/* We connect to PEER:rport; the SYN is learned. */
static bool client_open(struct pconn *c)
{
    c->fd = ust_stack_socket(w.s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0)
        return false;
    if (c->variant % 3 == 1)
        set_int(c->fd, SOL_SOCKET, SO_RCVBUF, 2048);   /* zero windows come quickly */
    if (c->variant % 5 == 2)
        set_int(c->fd, IPPROTO_TCP, TCP_NODELAY, 1);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(c->rport),
                             .sin_addr.s_addr = htonl(PEER) };
    if (ust_connect(c->fd, (struct sockaddr *)&a, sizeof a) == 0 || errno != EINPROGRESS)
        return false;
    struct sockaddr_in me;
    socklen_t len = sizeof me;
    CHECK(ust_getsockname(c->fd, (struct sockaddr *)&me, &len) == 0);
    c->lport = ntohs(me.sin_port);
    drain_peer();
    return c->have_iss;
}

static void client_answer(struct pconn *c)
{
    struct seg g = { .flags = TCP_SYN | TCP_ACK, .seq = c->irs, .ack = c->iss + 1,
                     .win = 65535, .opt = syn_options(c, true) };
    peer_send(c, &g);
    c->p_nxt = c->irs + 1;
    settle();
}

/* Takes every connection waiting on the listener: the one for c (if given) becomes c's
 * socket, others go to an auxiliary 4-tuple that matches, or are reset. */
static void accept_all(struct pconn *want)
{
    for (unsigned i = 0; i < 8 && lfd >= 0; i++) {
        struct sockaddr_in a;
        socklen_t len = sizeof a;
        int fd = ust_accept4(lfd, (struct sockaddr *)&a, &len, SOCK_NONBLOCK);
        if (fd < 0) {
            CHECK(errno == EAGAIN || errno == EINVAL || errno == ECONNABORTED);
            return;
        }
        uint16_t port = ntohs(a.sin_port);
        struct pconn *c = ntohl(a.sin_addr.s_addr) == PEER ? find(PEER, LPORT, port) : NULL;
        if (c && c->fd < 0 && (c == want || !want)) {
            c->fd = fd;
            continue;
        }
        TRACE("  accepted %08x:%u: no place, reset\n", ntohl(a.sin_addr.s_addr), port);
        close_abort(fd);
    }
}

/* The peer's SYN to :80; the SYN-ACK is learned. */
static bool server_open(struct pconn *c)
{
    c->lport = LPORT;
    struct seg g = { .flags = TCP_SYN, .seq = c->irs, .win = 65535,
                     .opt = syn_options(c, false) };
    peer_send(c, &g);
    c->p_nxt = c->irs + 1;
    settle();
    return c->have_iss;
}

static void server_complete(struct pconn *c)
{
    peer_ack(c, 0, c->iss + 1);
    settle();
    accept_all(c);
}

/* We close our side: shutdown, or close (the connection becomes an orphan). */
static void our_fin(struct pconn *c, bool orphan)
{
    if (c->fd < 0)
        return;
    if (orphan) {
        CHECK(ust_close(c->fd) == 0);
        c->fd = -1;
    } else {
        CHECK(ust_shutdown(c->fd, SHUT_WR) == 0);
    }
    settle();
}

static void role_make(unsigned i)
{
    struct pconn *c = &pc[i];
    if (c->fd >= 0)
        close_abort(c->fd);
    c->fd = -1;
    model_new(c, i, (uint16_t)(20000 + i * 128 + (c->gen + 1) % 128));
    bool orphan = c->gen & 1;
    bool ok;
    switch (i) {
    case R_SYN_SENT:
        client_open(c);
        return;
    case R_SYN_RCVD:
        server_open(c);
        return;
    case R_EST_SERVER:
    case R_CLOSE_WAIT:
    case R_LAST_ACK:
        ok = server_open(c);
        if (ok)
            server_complete(c);
        if (!ok || c->fd < 0 || i == R_EST_SERVER)
            return;
        peer_ack(c, TCP_FIN, c->s_nxt);
        settle();
        if (i == R_LAST_ACK)
            our_fin(c, orphan);
        return;
    default:
        ok = client_open(c);
        if (ok)
            client_answer(c);
        if (!ok || i == R_EST_CLIENT)
            return;
        our_fin(c, orphan);
        if (!c->s_fin)
            return;
        if (i == R_FIN_WAIT_2)
            peer_ack(c, 0, c->s_nxt);
        else if (i == R_CLOSING)
            peer_ack(c, TCP_FIN, c->s_fin_seq);   /* our FIN not acknowledged yet */
        else if (i == R_TIME_WAIT)
            peer_ack(c, TCP_FIN, c->s_nxt);
        settle();
        return;
    }
}

void fz_tcp_config(struct ust_config *c)
{
    static const char *const opts[][2] = {
        { "tcp_rmem", "8192" }, { "tcp_wmem", "8192" }, { "tcp_max_syn_backlog", "2" },
        { "tcp_syn_retries", "2" }, { "tcp_synack_retries", "2" }, { "tcp_retries2", "3" },
        { "tcp_min_rto_ms", "200" }, { "tcp_max_rto_ms", "3000" }, { "tcp_delack_ms", "40" },
        { "tcp_fin_timeout_s", "3" }, { "tcp_time_wait_ms", "2000" },
        { "tcp_keepalive_time_s", "5" }, { "tcp_keepalive_intvl_s", "1" },
        { "tcp_keepalive_probes", "2" }, { "tcp_challenge_ack_limit", "20" },
    };
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        set_opt(c, opts[i][0], opts[i][1]);
}

void fz_tcp_make(void)
{
    memset(pc, 0, sizeof pc);
    for (unsigned i = 0; i < N_CONNS; i++)
        pc[i].fd = -1;
    ip_id = 0;
    open_listener();
    CHECK(lfd >= 0);
    for (unsigned i = 0; i < N_ROLES; i++) {
        role_make(i);
        if (conn_state(&pc[i]) != role_state[i])
            fprintf(stderr, "role %u: state %u, not %u\n", i, conn_state(&pc[i]), role_state[i]);
        CHECK(conn_state(&pc[i]) == role_state[i]);   /* a fresh world reaches every state */
    }
}

void fz_tcp_revive(void)
{
    if (lfd < 0)
        open_listener();
    for (unsigned i = 0; i < N_ROLES; i++) {
        if (conn_state(&pc[i]) != TCPS_CLOSED)
            continue;
        TRACE("remake role %u\n", i);
        role_make(i);
    }
}

void fz_tcp_unmake(void)
{
    for (unsigned i = 0; i < N_CONNS; i++) {
        if (pc[i].fd >= 0)
            close_abort(pc[i].fd);
        pc[i].fd = -1;
    }
    if (lfd >= 0)
        CHECK(ust_close(lfd) == 0);
    lfd = -1;
    settle();
    /* Orphans the fuzzer left finish by themselves with a silent peer: retransmission, persist
     * and FIN_WAIT_2 limits, TIME_WAIT. */
    const struct tcp_table *t = w.s->tcp;
    uint64_t start = clk_now(&w.clock);
    for (unsigned i = 0; t->conns || t->tcbs || t->tws; i++) {
        if (i >= 100000 || clk_now(&w.clock) - start > 2 * 3600 * NS_PER_SEC)
            fprintf(stderr, "left: %u connections, %u control blocks, %u TIME_WAIT\n", t->conns,
                    t->tcbs, t->tws);
        CHECK(i < 100000 && clk_now(&w.clock) - start <= 2 * 3600 * NS_PER_SEC);
        uint64_t next = timer_wheel_next(&w.s->wheel), now = clk_now(&w.clock);
        clk_advance(&w.clock, next == TIMER_NONE ? NS_PER_SEC
                              : next > now ? next - now + timer_wheel_resolution_ns(&w.s->wheel)
                                           : timer_wheel_resolution_ns(&w.s->wheel));
        settle();
    }
    CHECK(tcp_connection_count(w.s) == 0);
}

/* ---- Checks ---- */

static void check_tcb(const struct tcb *tp)
{
    CHECK(seq_leq(tp->snd_una, tp->snd_nxt));
    CHECK(seq_leq(tp->snd_nxt, tp->write_seq));
    uint32_t snd = 0, rcv = 0;
    unsigned n = 0;
    for (struct pkt *p = tp->snd_head; p; p = p->next, n++) {
        CHECK(n < 100000);
        snd += seg_cb(p)->len;
    }
    for (const struct pkt *p = tp->rcv_head; p; p = p->next, n++) {
        CHECK(n < 100000);
        rcv += p->len;
    }
    CHECK(snd == tp->snd_queued);
    CHECK(rcv == tp->rcv_queued);
}

void fz_tcp_check(void)
{
    if (!w.s || !w.s->tcp)
        return;
    for (const struct sock *so = w.s->socks; so; so = so->stack_next) {
        if (so->type != SOCK_STREAM || !so->tcp)
            continue;
        check_tcb(so->tcp);
    }
    for (unsigned i = 0; i < N_CONNS; i++) {
        const struct tcb *tp = pc[i].fd < 0 ? conn_tcb(&pc[i]) : NULL;
        if (tp)
            check_tcb(tp);
    }
}

void fz_tcp_count_held(uint32_t held[3])
{
    static const struct tcb *seen[1024];
    unsigned n = 0;
    const struct tcp_table *t = w.s->tcp;
    for (const struct sock *so = w.s->socks; so; so = so->stack_next) {
        if (so->type != SOCK_STREAM || !so->tcp)
            continue;
        CHECK(n < 1024);
        seen[n++] = so->tcp;
        /* Waiting to be accepted: maybe already reset, off the tables, data still queued. */
        for (const struct tcb *a = so->tcp->accept_head; a && n < 1024; a = a->accept_next)
            seen[n++] = a;
    }
    for (uint32_t b = 0; b < t->ehash_size; b++) {
        for (const struct tcp_conn *k = t->ehash[b]; k; k = k->hash_next) {
            if (k->compact)
                continue;
            bool dup = false;
            for (unsigned j = 0; j < n && !dup; j++)
                dup = seen[j] == (const struct tcb *)k;
            CHECK(n < 1024);
            if (!dup)
                seen[n++] = (const struct tcb *)k;
        }
    }
    uint32_t total = 0, estab = 0;
    for (unsigned j = 0; j < n; j++) {
        const struct tcb *tp = seen[j];
        estab += tp->c.state == TCPS_ESTABLISHED || tp->c.state == TCPS_CLOSE_WAIT;
        if (tp->c.state == TCPS_LISTEN) {
            /* The listener's counts match its queues. */
            uint32_t synq = 0, acc = 0;
            for (unsigned k = 0; k < n; k++)
                synq += seen[k]->parent == tp && seen[k]->c.state == TCPS_SYN_RECEIVED &&
                        !seen[k]->accept_queued;
            for (const struct tcb *a = tp->accept_head; a; a = a->accept_next, acc++)
                CHECK(acc < 1024 && a->parent == tp);
            CHECK(synq == tp->synq_len && acc == tp->accept_len);
        }
        uint32_t mem = 0;
        count_chain(held, tp->snd_head);
        count_chain(held, tp->rcv_head);
        count_chain(held, tp->ooo_head);
        for (const struct pkt *p = tp->rcv_head; p; p = p->next)
            mem += pkt_buf_size(p);
        for (const struct pkt *p = tp->ooo_head; p; p = p->next)
            mem += pkt_buf_size(p);
        CHECK(mem == tp->rcv_mem);
        total++;
    }
    CHECK(total <= t->tcbs);
    CHECK(estab == t->ctrs.curr_estab);   /* TcpCurrEstab (RFC 4022) */
}

/* ---- Operations ---- */

static struct pconn *pick(uint8_t b)
{
    return &pc[b % N_CONNS];
}

static uint32_t seq_for(struct pconn *c, unsigned mode, uint16_t d, struct rd *r)
{
    uint32_t base = c->s_acked ? c->s_ack : c->p_nxt;
    switch (mode) {
    case 0: return base;
    case 1: return base + d;
    case 2: return base - d - 1;
    case 3: return base + ((uint32_t)c->s_win << c->s_shift) - 2 + (d % 5);
    case 4: return base + 0x40000000u + d;
    case 5: return base + 0x80000000u + d;
    case 6: return c->irs + d;
    default: return rd_u32(r);
    }
}

static uint32_t ack_for(struct pconn *c, unsigned mode, uint16_t d, struct rd *r)
{
    uint32_t una = c->p_ack ? c->p_ack : c->iss + 1;
    switch (mode) {
    case 0: return c->s_nxt;
    case 1: return una;
    case 2: return una + (uint32_t)(d % ((uint64_t)(c->s_nxt - una) + 1));
    case 3: return c->s_nxt + 1 + d;
    case 4: return c->s_nxt - 0x40000000u - d;
    case 5: return c->iss + d;
    case 6: return c->s_nxt + 0x80000000u;
    default: return rd_u32(r);
    }
}

void fz_op_tcp_seg(struct rd *r)
{
    struct pconn *c = pick(rd_u8(r));
    uint8_t fl = rd_u8(r), m = rd_u8(r), o = rd_u8(r);
    uint16_t plen = rd_u16(r), sd = rd_u16(r), ad = rd_u16(r);
    struct seg g = { .flags = (uint16_t)(fl | ((m & 0x80) ? TCP_AE : 0)), .bad_csum = m & 0x40,
                     .len = plen & 0x8000 ? plen & 0x7fff : plen % 1461 };
    uint8_t raw[TCP_MAX_OPT_LEN];
    if (o & 1) {
        g.opt.present |= TCP_HAS_MSS;
        g.opt.mss = rd_u16(r);
    }
    if (o & 2) {
        g.opt.present |= TCP_HAS_WSCALE;
        g.opt.wscale = rd_u8(r);
    }
    if (o & 4)
        g.opt.present |= TCP_HAS_SACK_PERM;
    if (o & 8) {
        /* Near the TS.Recent the stack keeps (our last TSval), or older, or far. */
        uint8_t tm = rd_u8(r);
        uint16_t td = rd_u16(r);
        uint32_t now = peer_ts_now(), last = c->p_tsval;
        static const uint32_t far[4] = { 0, 1, 0x80000000u, 0xffffffffu };
        uint32_t v = tm & 3;
        g.opt.present |= TCP_HAS_TIMESTAMP;
        g.opt.ts_val = v == 0 ? (seq_gt(now, last) ? now : last) + td
                     : v == 1 ? last : v == 2 ? last - td - 1 : last + far[td & 3];
        g.opt.ts_ecr = (tm & 4) ? c->s_tsval + (int16_t)td : (tm & 8) ? 0 : c->s_tsval;
    }
    if (o & 16) {
        uint8_t nb = rd_u8(r);
        g.opt.present |= TCP_HAS_SACK;
        g.opt.sack_count = (uint8_t)(nb % TCP_MAX_SACK_BLOCKS + 1);
        uint32_t una = c->p_ack ? c->p_ack : c->iss + 1;
        for (unsigned i = 0; i < g.opt.sack_count; i++) {
            uint8_t bm = rd_u8(r);
            uint16_t off = rd_u16(r), len = rd_u16(r);
            uint32_t base = (bm & 3) == 0 ? una : (bm & 3) == 1 ? c->s_nxt
                          : (bm & 3) == 2 ? c->iss : una + (c->s_nxt - una) / 2;
            uint32_t start = (bm & 4) ? base - off : base + off;
            g.opt.sack[i] = (struct tcp_sack_block){ start, start + ((bm & 8) ? -(uint32_t)len
                                                                              : len) };
        }
    }
    if (o & 32) {
        uint8_t n = rd_u8(r) % (TCP_MAX_OPT_LEN + 1);
        rd_bytes(r, raw, n);
        g.raw_opt = raw;
        g.raw_opt_len = n;
    }
    switch (o >> 6) {
    case 0: g.win = 65535; break;
    case 1: g.win = 0; break;
    case 2: g.win = rd_u16(r); break;
    default: g.win = 1; break;
    }
    drain_peer();   /* learn what the stack said since */
    g.seq = seq_for(c, m & 7, sd, r);
    g.ack = ack_for(c, (m >> 3) & 7, ad, r);
    if ((g.flags & TCP_SYN) && !(g.flags & TCP_ACK) && (m & 7) == 6) {
        c->irs = g.seq;   /* a new connection attempt from the peer */
        c->p_nxt = g.seq + 1;
    }
    peer_send(c, &g);
    uint32_t end = g.seq + (uint32_t)g.len + ((g.flags & TCP_SYN) ? 1 : 0) +
                   ((g.flags & TCP_FIN) ? 1 : 0);
    if ((m & 7) <= 1 && seq_gt(end, c->p_nxt))
        c->p_nxt = end;
}

void fz_op_tcp_icmp(struct rd *r)
{
    static const uint16_t mtus[16] = { 0, 1, 68, 296, 508, 552, 576, 1006, 1280, 1400,
                                       1492, 1499, 1500, 1501, 9000, 65535 };
    static const uint8_t kinds[8][2] = {
        { ICMP_DEST_UNREACH, 4 }, { ICMP_DEST_UNREACH, 3 }, { ICMP_DEST_UNREACH, 1 },
        { ICMP_DEST_UNREACH, 2 }, { ICMP_DEST_UNREACH, 0 }, { ICMP_TIME_EXCEEDED, 0 },
        { ICMP_SOURCE_QUENCH, 0 }, { ICMP_DEST_UNREACH, 13 },
    };
    struct pconn *c = pick(rd_u8(r));
    uint8_t k = rd_u8(r);
    uint16_t mv = rd_u16(r);
    uint16_t mtu = (k & 0x80) ? mv : mtus[mv % 16];
    drain_peer();
    uint32_t una = c->p_ack ? c->p_ack : c->iss;
    uint32_t seq;
    switch ((k >> 3) & 7) {
    case 0: seq = una; break;
    case 1: seq = c->s_nxt - 1; break;
    case 2: seq = c->iss; break;
    case 3: seq = c->s_nxt; break;
    case 4: seq = una - 1; break;
    case 5: seq = c->s_nxt + 0x40000000u; break;
    default: seq = rd_u32(r); break;
    }
    /* The quoted datagram: our IP header and the first bytes of our segment. */
    uint8_t q[IPV4_HDR_LEN + TCP_HDR_LEN];
    struct ipv4_repr qh = { .src = ADDR, .dst = PEER, .protocol = IPPROTO_TCP, .ttl = 64,
                            .df = true, .id = 1, .payload_len = 1400 };
    ipv4_emit(&qh, q, IPV4_HDR_LEN);
    struct tcp_repr qt = { .sport = c->lport, .dport = c->rport, .seq = seq, .ack = c->s_ack,
                           .flags = TCP_ACK, .window = 1000 };
    tcp_emit(&qt, q + IPV4_HDR_LEN, TCP_HDR_LEN);
    size_t qlen = (k & 0x40) ? sizeof q : IPV4_HDR_LEN + 8;   /* RFC 792: 8 bytes at least */
    uint8_t f[ETH_HDR_LEN + IPV4_HDR_LEN + ICMP_HDR_LEN + sizeof q];
    memcpy(f, our_mac.b, ETH_ADDR_LEN);
    memcpy(f + 6, peer_mac.b, ETH_ADDR_LEN);
    wire_put16(f + 12, ETHERTYPE_IPV4);
    uint8_t type = kinds[k & 7][0], code = kinds[k & 7][1];
    struct ipv4_repr h = { .src = PEER, .dst = ADDR, .protocol = IPPROTO_ICMP, .ttl = 64,
                           .id = ip_id++, .payload_len = (uint16_t)(ICMP_HDR_LEN + qlen) };
    ipv4_emit(&h, f + ETH_HDR_LEN, IPV4_HDR_LEN);
    struct icmp_repr m = { .type = type, .code = code,
                           .rest = (type == ICMP_DEST_UNREACH && code == 4) ? mtu : 0,
                           .data = q, .data_len = qlen };
    icmp_emit(&m, f + ETH_HDR_LEN + IPV4_HDR_LEN, ICMP_HDR_LEN + qlen);
    size_t flen = ETH_HDR_LEN + IPV4_HDR_LEN + ICMP_HDR_LEN + qlen;
    TRACE("  peer ICMP %u/%u mtu %u quoting %u -> %u seq %08x\n", type, code, mtu, c->lport,
          c->rport, seq);
    memcpy(w.last_frame, f, flen);
    w.last_frame_len = flen;
    w.last_l3 = ETH_HDR_LEN;
    feed(f, flen);
}

static void call_send(struct pconn *c, uint16_t arg, uint8_t b)
{
    struct tcb *tp = tcb_of_fd(c->fd);
    size_t len = (b & 1) ? arg : arg % 3000u;
    uint32_t at = tp->write_seq;   /* where these bytes will sit in the stream */
    for (size_t i = 0; i < len; i++)
        sbuf[i] = stream_byte(at + (uint32_t)i);
    int flags = MSG_DONTWAIT | MSG_NOSIGNAL | ((b & 2) ? MSG_MORE : 0) | ((b & 4) ? MSG_OOB : 0);
    ssize_t rc = ust_send(c->fd, sbuf, len, flags);
    TRACE("  send %zu on %d: %zd %s\n", len, c->fd, rc, rc < 0 ? strerror(errno) : "");
    CHECK(rc < 0 ? errno != EBADF && errno != EFAULT : (size_t)rc <= len);
    CHECK(rc <= 0 || tp->write_seq - at == (uint32_t)rc);
}

static void call_recv(struct pconn *c, uint16_t arg, uint8_t b)
{
    struct tcb *tp = tcb_of_fd(c->fd);
    uint32_t end = (tp->shutdown & TCP_SHUT_RD) ? c->rd_end
                                                 : tp->rcv_nxt - (tp->fin_received ? 1 : 0);
    uint32_t at = end - tp->rcv_queued;
    int flags = MSG_DONTWAIT | ((b & 1) ? MSG_PEEK : 0) | ((b & 2) ? MSG_WAITALL : 0);
    ssize_t rc = ust_recv(c->fd, sbuf, arg, flags);
    TRACE("  recv %u on %d (%u <- %u): %zd %s\n", arg, c->fd, c->lport, c->rport, rc,
          rc < 0 ? strerror(errno) : "");
    if (rc < 0) {
        CHECK(errno != EBADF && errno != EFAULT);
        return;
    }
    CHECK((size_t)rc <= arg);
    for (ssize_t i = 0; i < rc; i++) {
        if (sbuf[i] != stream_byte(at + (uint32_t)i))
            fprintf(stderr, "byte %zd read at %08x is %02x, not %02x (state %u rcv_nxt %08x "
                    "left %u fin %d)\n", i, at, sbuf[i], stream_byte(at + (uint32_t)i),
                    tp->c.state, tp->rcv_nxt, tp->rcv_queued, tp->fin_received);
        CHECK(sbuf[i] == stream_byte(at + (uint32_t)i));
    }
}

static void call_shutdown(struct pconn *c, int how)
{
    const struct tcb *tp = tcb_of_fd(c->fd);
    bool was_rd = tp->shutdown & TCP_SHUT_RD;
    int rc = ust_shutdown(c->fd, how);
    TRACE("  shutdown %d on %d (%u <- %u): %d\n", how, c->fd, c->lport, c->rport, rc);
    /* Read after the call: the call first ran the stack, queueing what was waiting on the
     * link before reading was shut. */
    if (rc == 0 && !was_rd && (tp->shutdown & TCP_SHUT_RD))
        c->rd_end = tp->rcv_nxt - (tp->fin_received ? 1 : 0);
}

static void call_setopt(int fd, uint16_t arg)
{
    static const int opts[][2] = {
        { IPPROTO_TCP, TCP_NODELAY }, { IPPROTO_TCP, TCP_CORK }, { SOL_SOCKET, SO_KEEPALIVE },
        { IPPROTO_TCP, TCP_KEEPIDLE }, { IPPROTO_TCP, TCP_KEEPINTVL },
        { IPPROTO_TCP, TCP_KEEPCNT }, { IPPROTO_TCP, TCP_MAXSEG }, { SOL_SOCKET, SO_RCVBUF },
        { SOL_SOCKET, SO_SNDBUF }, { IPPROTO_TCP, TCP_USER_TIMEOUT },
        { IPPROTO_TCP, TCP_QUICKACK }, { SOL_SOCKET, SO_LINGER }, { IPPROTO_IP, IP_TTL },
        { IPPROTO_IP, IP_TOS }, { IPPROTO_TCP, TCP_CONGESTION }, { IPPROTO_TCP, TCP_DEFER_ACCEPT },
    };
    unsigned which = arg % 16;
    int v = arg >> 4;
    int level = opts[which][0], name = opts[which][1], rc;
    switch (which) {
    case 0: case 1: case 2: case 10: v &= 1; break;
    case 3: case 4: case 5: v = v % 4; break;
    case 6: v = 80 + v % 1400; break;
    case 7: case 8: v = 256 + v * 16; break;
    case 9: v = v * 4; break;
    default: break;
    }
    if (which == 11) {
        struct linger l = { .l_onoff = v & 1, .l_linger = (v >> 1) % 3 };
        rc = ust_setsockopt(fd, level, name, &l, sizeof l);
    } else if (which == 14) {
        const char *cc = (v & 1) ? "newreno" : "cubic";
        rc = ust_setsockopt(fd, level, name, cc, (socklen_t)strlen(cc));
    } else {
        rc = ust_setsockopt(fd, level, name, &v, sizeof v);
    }
    TRACE("  setsockopt %d/%d = %d: %d\n", level, name, v, rc);
    CHECK(rc == 0 || errno != EBADF);
}

static void call_info(int fd, uint16_t arg)
{
    int v = 0;
    socklen_t len = sizeof v;
    struct sockaddr_in sa;
    socklen_t salen = sizeof sa;
    switch (arg % 6) {
    case 0: {
        struct ust_tcp_info ti;
        CHECK(ust_tcp_info(fd, &ti) == 0);
        CHECK(ti.state <= 12);
        break;
    }
    case 1:
        CHECK(ust_getsockopt(fd, SOL_SOCKET, SO_ERROR, &v, &len) == 0);
        CHECK(v >= 0);
        break;
    case 2:
        CHECK(ust_ioctl(fd, FIONREAD, &v) == 0 || errno == EINVAL);
        CHECK(v >= 0);
        break;
    case 3:
        CHECK(ust_ioctl(fd, SIOCOUTQ, &v) == 0 || errno == EINVAL);
        CHECK(v >= 0);
        break;
    case 4:
        (void)ust_getpeername(fd, (struct sockaddr *)&sa, &salen);
        break;
    default: {
        struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT | POLLRDHUP };
        CHECK(ust_poll(&p, 1, 0) >= 0);
        break;
    }
    }
}

void fz_op_tcp_call(struct rd *r)
{
    uint8_t sel = rd_u8(r), call = rd_u8(r);
    uint16_t arg = rd_u16(r);
    uint8_t b = rd_u8(r);
    if (sel % (N_CONNS + 1) == N_CONNS) {
        /* The listener. */
        switch (call % 4) {
        case 0:
            accept_all(NULL);
            break;
        case 1:
            if (lfd >= 0)
                (void)ust_listen(lfd, arg % 5);
            break;
        case 2:
            if (lfd >= 0)
                (void)ust_shutdown(lfd, SHUT_RDWR);   /* Linux: stops listening */
            break;
        default:
            if (lfd >= 0)
                CHECK(ust_close(lfd) == 0);
            lfd = -1;
            open_listener();
            break;
        }
        return;
    }
    struct pconn *c = pick(sel);
    unsigned idx = (unsigned)(c - pc);
    if (call % 10 == 8) {
        if (idx < N_ROLES)
            role_make(idx);
        return;
    }
    if (c->fd < 0)
        return;
    switch (call % 10) {
    case 0:
        call_send(c, arg, b);
        break;
    case 1:
        call_recv(c, arg, b);
        break;
    case 2:
        call_shutdown(c, arg % 3);
        break;
    case 3:
        CHECK(ust_close(c->fd) == 0);
        c->fd = -1;
        break;
    case 4:
        close_abort(c->fd);
        c->fd = -1;
        break;
    case 5:
        call_setopt(c->fd, arg);
        break;
    case 6:
        call_info(c->fd, arg);
        break;
    case 7: {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(c->rport),
                                 .sin_addr.s_addr = htonl(PEER) };
        int rc = ust_connect(c->fd, (struct sockaddr *)&a, sizeof a);
        CHECK(rc == 0 || errno != EBADF);
        break;
    }
    default:
        call_send(c, arg, b);
        call_recv(c, 65535, 0);
        break;
    }
}

void fz_op_tcp_flood(struct rd *r)
{
    uint8_t n = (uint8_t)(rd_u8(r) % 16 + 1), mode = rd_u8(r);
    for (unsigned i = 0; i < n; i++) {
        unsigned idx = N_ROLES + i % N_AUX;
        struct pconn *c = &pc[idx];
        if (c->fd >= 0)
            close_abort(c->fd);
        c->fd = -1;
        model_new(c, idx, (uint16_t)(30000 + idx * 64 + c->gen % 64));
        c->lport = LPORT;
        struct seg g = { .flags = TCP_SYN, .seq = c->irs, .win = 65535,
                         .opt = syn_options(c, false) };
        if (mode & 4)
            g.opt.present |= TCP_HAS_TIMESTAMP;
        peer_send(c, &g);
    }
    settle();
    if (!(mode & 1))
        return;
    for (unsigned i = 0; i < N_AUX && i < n; i++) {
        struct pconn *c = &pc[N_ROLES + i];
        if (!c->have_iss)
            continue;
        struct seg g = { .flags = TCP_ACK | ((mode & 2) ? TCP_PSH : 0), .seq = c->irs + 1,
                         .ack = c->iss + 1, .win = 65535, .len = (mode & 2) ? 100 : 0 };
        if (c->s_ts || (mode & 8)) {
            g.opt.present = TCP_HAS_TIMESTAMP;
            g.opt.ts_val = peer_ts_now();
            g.opt.ts_ecr = c->s_tsval;
        }
        peer_send(c, &g);
        c->p_nxt = c->irs + 1 + (uint32_t)g.len;
    }
    settle();
    if (mode & 16)
        accept_all(NULL);
}
