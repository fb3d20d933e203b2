/*
 * TCP output: queueing the user's data as segments, choosing what to send (flow control, Nagle,
 * congestion control, loss recovery), and building segments.
 *
 * Entry points: tcp_queue_data / tcp_queue_fin (from tcp_user.c), tcp_output (whenever anything
 * may have become sendable), tcp_send_ack, tcp_send_syn, tcp_send_probe, tcp_retransmit_seg,
 * tcp_send_rst_for, tcp_send_reset (replies for segments without a connection).
 *
 * Where RFCs leave a choice we do what Linux does: PSH on the last segment of what is queued,
 * DF on every segment (path MTU discovery), zero-window and keepalive probes as an empty segment
 * with SEG.SEQ = SND.UNA - 1, pure ACKs from SND.NXT.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net/arp.h"
#include "net/stack.h"
#include "tcp/table.h"
#include "tcp/tcb.h"
#include "wire/checksum.h"

/* Segments in one TSO super-frame, at most (Linux's default gso_max_segs is 64K; a 64 KiB frame
 * of 1448-byte segments holds 45). */
#define TCP_TSO_MAX_SEGS 64

/* ---- Queueing data ---- */

/* The route's link completes our TCP checksums (LINK_OFF_TX_CSUM), so queued payload need not
 * be summed: a segment then leaves with a partial checksum, whole or cut from a super-frame. */
static bool csum_offloaded(const struct tcb *tp)
{
    return !tp->rt.local && tp->rt.ifc && (tp->rt.ifc->link->caps.offloads & LINK_OFF_TX_CSUM);
}

static struct pkt *new_segment(struct tcb *tp)
{
    struct pkt *p = stack_alloc(tp->stack);
    if (!p)
        return NULL;
    struct tcp_seg_cb *cb = seg_cb(p);
    *cb = (struct tcp_seg_cb){ .seq = tp->write_seq, .end_seq = tp->write_seq,
                               .off = (uint16_t)pkt_headroom(p),
                               .flags = csum_offloaded(tp) ? SEG_NOSUM : 0 };
    p->next = NULL;
    if (tp->snd_tail)
        tp->snd_tail->next = p;
    else
        tp->snd_head = p;
    tp->snd_tail = p;
    if (!tp->send_head)
        tp->send_head = p;
    tp->snd_mem += pkt_buf_size(p);
    tcp_mem_sync(tp);
    return p;
}

/* The stack's socket memory at mem_max (net/sockmem.h): a new segment waits, unless the send
 * queue is empty. As Linux's tcp_sendmsg (sk_stream_alloc_skb with force_schedule when the
 * write and retransmit queues are empty): a connection can always make progress, and its own
 * ACKs, which free its queue, are what wakes a sender waiting for memory. */
static bool mem_allows_segment(const struct tcb *tp)
{
    return !tp->snd_head || tcp_mem_may_grow(tp, pkt_pool_buf_size(tp->stack->pool));
}

/* Copies up to `n` bytes from the iovec (starting `skip` bytes in) into the segment's payload,
 * summing them on the way unless the link will (SEG_NOSUM). Returns the bytes copied. */
static size_t fill_segment(struct pkt *p, const struct iovec *iov, size_t iovcnt, size_t skip,
                           size_t n)
{
    struct tcp_seg_cb *cb = seg_cb(p);
    uint8_t *dst = p->buf + cb->off + cb->len;
    size_t done = 0;
    for (size_t i = 0; i < iovcnt && done < n; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        size_t take = iov[i].iov_len - skip;
        if (take > n - done)
            take = n - done;
        const uint8_t *src = (const uint8_t *)iov[i].iov_base + skip;
        if (cb->flags & SEG_NOSUM)
            memcpy(dst + done, src, take);
        else
            cb->csum = csum_add_at(cb->csum, csum_copy(dst + done, src, take, 0), cb->len + done);
        done += take;
        skip = 0;
    }
    cb->len = (uint16_t)(cb->len + done);
    cb->end_seq += (uint32_t)done;
    return done;
}

size_t tcp_queue_data(struct tcb *tp, const struct iovec *iov, size_t iovcnt, size_t skip,
                      size_t max)
{
    size_t done = 0;
    while (done < max && tp->snd_queued < tp->sndbuf) {
        struct pkt *p = tp->snd_tail;
        /* Top up the last segment if it is still unsent and has room (this is what makes
         * Nagle coalesce small writes), else start a new one. */
        bool reuse = p && tp->send_head && !pkt_is_shared(p) && seg_cb(p)->len < tp->mss &&
                     !(seg_cb(p)->tcp_flags & TCP_FIN);
        if (!reuse && !mem_allows_segment(tp))
            break;
        if (!reuse && !(p = new_segment(tp))) {
            tcp_counters(tp->stack)->nobufs++;
            break;
        }
        size_t room = tp->mss - seg_cb(p)->len;
        size_t want = max - done < room ? max - done : room;
        if (want > tp->sndbuf - tp->snd_queued)
            want = tp->sndbuf - tp->snd_queued;
        size_t got = fill_segment(p, iov, iovcnt, skip + done, want);
        tp->write_seq += (uint32_t)got;
        tp->snd_queued += (uint32_t)got;
        done += got;
        if (got == 0)
            break;
    }
    return done;
}

bool tcp_queue_fin(struct tcb *tp)
{
    struct pkt *p = tp->snd_tail;
    if (!(p && tp->send_head && !pkt_is_shared(p))) {
        p = new_segment(tp);
        if (!p)
            return false;
    }
    seg_cb(p)->tcp_flags |= TCP_FIN;
    seg_cb(p)->end_seq++;
    tp->write_seq++;
    tp->fin_queued = true;
    return true;
}

/* Cuts an unsent segment after `len` payload bytes; the rest becomes the next segment. */
static bool split_segment(struct tcb *tp, struct pkt *p, uint16_t len)
{
    struct tcp_seg_cb *cb = seg_cb(p);
    struct pkt *q = stack_alloc(tp->stack);
    if (!q)
        return false;
    struct tcp_seg_cb *qc = seg_cb(q);
    uint16_t rest = (uint16_t)(cb->len - len);
    *qc = (struct tcp_seg_cb){ .seq = cb->seq + len, .end_seq = cb->end_seq,
                               .off = (uint16_t)pkt_headroom(q), .len = rest,
                               .flags = cb->flags & SEG_NOSUM, .tcp_flags = cb->tcp_flags };
    memcpy(q->buf + qc->off, p->buf + cb->off + len, rest);
    cb->len = len;
    cb->end_seq = cb->seq + len;
    cb->tcp_flags &= (uint8_t)~TCP_FIN;
    if (!(cb->flags & SEG_NOSUM)) {
        qc->csum = csum_partial(q->buf + qc->off, rest, 0);
        cb->csum = csum_partial(p->buf + cb->off, len, 0);
    }
    q->next = p->next;
    p->next = q;
    if (tp->snd_tail == p)
        tp->snd_tail = q;
    tp->snd_mem += pkt_buf_size(q);
    tcp_mem_sync(tp);
    return true;
}

/* ---- Windows ---- */

uint32_t tcp_flight(const struct tcb *tp)
{
    /* RFC 6675 SetPipe(), kept as running byte counts: what was sent, minus what the peer has
     * (SACKed) or is deemed lost, plus what was sent again. */
    uint32_t out = tp->snd_nxt - tp->snd_una;
    uint32_t gone = tp->sacked_bytes + tp->lost_bytes + (uint32_t)tp->reno_dupacks * tp->mss;
    uint32_t pipe = out > gone ? out - gone : 0;
    return pipe + tp->retrans_bytes;
}

static uint32_t receive_space(const struct tcb *tp)
{
    uint32_t used = tp->rcv_queued + tp->ooo_bytes;
    uint32_t space = used < tp->rcvbuf ? tp->rcvbuf - used : 0;
    /* Socket memory under pressure (net/sockmem.h): offer at most four segments, as Linux's
     * tcp_adjust_rcv_ssthresh, so senders slow down before data must be dropped. */
    if (tp->stack->mem.under_pressure && space > 4u * tp->adv_mss)
        space = 4u * tp->adv_mss;
    return space;
}

/* RFC 9293 3.8.6.2.2 and RFC 1122 4.2.3.3: advertise more only in steps of at least
 * min(buffer / 2, MSS), and never move the right edge back (RFC 7323 2.4). */
uint16_t tcp_adv_window(struct tcb *tp)
{
    uint32_t space = receive_space(tp);
    uint32_t right = tp->rcv_nxt + space;
    uint32_t step = tp->rcvbuf / 2 < tp->adv_mss ? tp->rcvbuf / 2 : tp->adv_mss;
    if (seq_lt(right, tp->rcv_adv) || right - tp->rcv_adv < step)
        right = seq_max(tp->rcv_adv, tp->rcv_nxt);
    uint32_t wnd = right - tp->rcv_nxt;
    uint32_t field = wnd >> tp->rcv_wscale;
    if (field > 0xffff)
        field = 0xffff;
    /* What the field says is what the peer will use: record that, rounded as it was. */
    uint32_t said = field << tp->rcv_wscale;
    if (seq_gt(tp->rcv_nxt + said, tp->rcv_adv) || said == wnd)
        tp->rcv_adv = tp->rcv_nxt + said;
    tp->rcv_wnd = said;
    return (uint16_t)field;
}

/* ---- Building segments ---- */

static void syn_options(struct tcb *tp, struct tcp_options *o)
{
    const struct ust_config *c = &tp->stack->cfg;
    bool active = tp->c.state == TCPS_SYN_SENT;
    o->present |= TCP_HAS_MSS;
    o->mss = tp->adv_mss;
    if (active ? c->tcp_sack : tp->sack_ok)
        o->present |= TCP_HAS_SACK_PERM;
    if (active ? c->tcp_timestamps : tp->ts_ok)
        o->present |= TCP_HAS_TIMESTAMP;
    if (active ? c->tcp_window_scaling : tp->wscale_ok) {
        o->present |= TCP_HAS_WSCALE;
        o->wscale = tp->rcv_wscale;
    }
}

/* SACK blocks a segment may carry beside `paylen` bytes of data: at most 4, or 3 with
 * timestamps (RFC 2018 3), and no more than fit within the path's MSS (tp->mss already counts
 * the timestamp option), so that no segment outgrows the MTU. */
static unsigned sack_room(const struct tcb *tp, bool ts, uint32_t paylen)
{
    unsigned max = ts ? 3 : 4;
    uint32_t room = tp->mss > paylen ? tp->mss - paylen : 0;
    unsigned fit = room >= 12 ? (room - 4) / 8 : 0;
    return fit < max ? fit : max;
}

/* The payload a new segment carries: the MSS less the SACK blocks we have to report, which
 * ride on data as well (Linux's tcp_current_mss), so full segments keep them. */
static uint16_t send_mss(const struct tcb *tp)
{
    if (!tp->sack_ok)
        return tp->mss;
    unsigned n = (tp->dsack_pending ? 1u : 0u) + tp->sack_recent_n;
    unsigned max = tp->ts_ok ? 3 : 4;
    uint32_t opt = n ? 4 + 8 * (n < max ? n : max) : 0;
    return (uint16_t)(tp->mss > 2 * opt ? tp->mss - opt : tp->mss);
}

static void build_options(struct tcb *tp, uint16_t flags, uint32_t paylen,
                          struct tcp_options *o)
{
    o->present = 0;
    if (flags & TCP_SYN)
        syn_options(tp, o);
    else if (tp->ts_ok)
        o->present |= TCP_HAS_TIMESTAMP;
    if (o->present & TCP_HAS_TIMESTAMP) {
        o->ts_val = tcp_ts_now(tp);
        o->ts_ecr = (flags & TCP_ACK) ? tp->ts_recent : 0;
    }
    if (!(flags & TCP_SYN) && tp->sack_ok) {
        unsigned max = sack_room(tp, o->present & TCP_HAS_TIMESTAMP, paylen);
        o->sack_count = max ? (uint8_t)tcp_sack_blocks(tp, o->sack, max) : 0;
        if (o->sack_count)
            o->present |= TCP_HAS_SACK;
    }
}

/* A frame buffer holding the segment's payload that we may prepend headers to: the segment
 * itself (a reference) when the link copies frames out before tx_burst returns, else a copy. */
static struct pkt *payload_for_xmit(struct tcb *tp, struct pkt *seg)
{
    struct tcp_seg_cb *cb = seg_cb(seg);
    bool zero_copy = !tp->rt.local && (tp->rt.ifc->link->caps.offloads & LINK_TX_SYNC) &&
                     !pkt_is_shared(seg);
    if (zero_copy) {
        /* What the buffer last carried as a frame goes: a super-frame's first segment keeps its
         * gso_size otherwise, and sent alone would go to the link as a super-frame. */
        seg->data = seg->buf + cb->off;
        seg->len = cb->len;
        seg->flags = 0;
        seg->gso_size = 0;
        return pkt_ref(seg);
    }
    struct pkt *p = stack_alloc(tp->stack);
    if (p)
        memcpy(pkt_put(p, cb->len), seg->buf + cb->off, cb->len);
    return p;
}

/* Chains the payloads of the `n` segments queued after `seg` behind frame p (->frag): they leave
 * in one super-frame (TSO; see tso_segments). Returns the payload bytes added. */
static uint32_t gather_segments(struct pkt *p, struct pkt *seg, unsigned n)
{
    uint32_t added = 0;
    struct pkt *tail = p;
    for (struct pkt *q = seg->next; n--; q = q->next) {
        struct tcp_seg_cb *qc = seg_cb(q);
        q->data = q->buf + qc->off;
        q->len = qc->len;
        q->flags = 0;
        tail->frag = pkt_ref(q);
        tail = q;
        added += qc->len;
    }
    return added;
}

/* The sum of the segment's payload (0 for none): kept from the copy, or taken now for a segment
 * queued unsummed that must leave with a full checksum after all. */
static uint32_t payload_sum(struct pkt *seg)
{
    if (!seg)
        return 0;
    struct tcp_seg_cb *cb = seg_cb(seg);
    return (cb->flags & SEG_NOSUM) ? csum_partial(seg->buf + cb->off, cb->len, 0) : cb->csum;
}

/* Builds and sends one segment: `seg`'s payload (NULL for none) at sequence `seq`; with
 * `more` > 0, also the payloads of the `more` segments queued after it, as one super-frame of
 * MSS-sized segments that the link cuts (TSO: every segment gets the same header and options,
 * the sequence numbers advance, and only the last keeps PSH and FIN, as a NIC does). */
static int xmit_frame(struct tcb *tp, struct pkt *seg, uint32_t seq, uint16_t flags,
                      unsigned more)
{
    struct ust_stack *s = tp->stack;
    struct tcp_repr th = { .sport = tp->c.lport, .dport = tp->c.rport, .seq = seq,
                           .ack = (flags & TCP_ACK) ? tp->rcv_nxt : 0, .flags = flags };
    build_options(tp, flags, seg ? seg_cb(seg)->len : 0, &th.opt);
    if (flags & TCP_SYN) {
        /* RFC 7323 2.2: unscaled. A SYN-ACK sent again offers at least what was offered
         * before (2.4: the right edge never moves left), by it or by an ACK sent in
         * SYN_RECEIVED; Linux repeats the first SYN-ACK's window (req->rsk_rcv_wnd). */
        uint32_t space = receive_space(tp);
        if (tp->c.state == TCPS_SYN_RECEIVED && seq_gt(tp->rcv_adv, tp->rcv_nxt + space))
            space = tp->rcv_adv - tp->rcv_nxt;
        th.window = (uint16_t)(space > 0xffff ? 0xffff : space);
        if (tp->c.state != TCPS_SYN_RECEIVED || seq_gt(tp->rcv_nxt + th.window, tp->rcv_adv))
            tp->rcv_adv = tp->rcv_nxt + th.window;
        tp->rcv_wnd = th.window;   /* what tcp_info reports until the first scaled window */
    } else {
        th.window = tcp_adv_window(tp);
    }
    size_t hlen = tcp_header_len(&th);
    struct pkt *p = seg ? payload_for_xmit(tp, seg) : stack_alloc(s);
    if (!p || hlen == 0) {
        pkt_free(p);
        tcp_counters(s)->nobufs++;
        return -ENOBUFS;
    }
    bool partial = more || (seg && (seg_cb(seg)->flags & SEG_NOSUM) && csum_offloaded(tp));
    uint32_t paylen = p->len;
    if (more)
        paylen += gather_segments(p, seg, more);
    uint8_t *hdr = pkt_push(p, (uint32_t)hlen);
    tcp_emit(&th, hdr, hlen);
    uint32_t pseudo = csum_ipv4_pseudo(tp->c.laddr, tp->c.raddr, IPPROTO_TCP,
                                       (uint16_t)(hlen + paylen));
    if (partial) {
        /* The link completes the checksum (each segment's, for a super-frame): the field holds
         * the pseudo-header sum over the frame's length, which a segmenter adjusts. */
        tcp_store_checksum(hdr, (uint16_t)~csum_fold(pseudo));
        p->flags |= PKT_F_CSUM_PARTIAL;
        p->csum_start = ETH_HDR_LEN + IPV4_HDR_LEN;
        p->csum_offset = 16;
    } else {
        tcp_store_checksum(hdr, csum_fold(csum_add(csum_partial(hdr, hlen, payload_sum(seg)),
                                                   pseudo)));
    }
    if (more) {
        p->gso_size = seg_cb(seg)->len;
        p->gso_hdr_len = (uint16_t)(ETH_HDR_LEN + IPV4_HDR_LEN + hlen);
    }
    struct ipv4_tx h = { .src = tp->c.laddr, .dst = tp->c.raddr, .protocol = IPPROTO_TCP,
                         .ttl = tp->ttl, .tos = tp->tos, .df = true };
    tcp_counters(s)->out_segs += 1 + more;
    tp->segs_out += 1 + more;
    if (flags & TCP_ACK) {
        tp->last_ack_sent = tp->rcv_nxt;
        tcp_ack_sent(tp);
    }
    tp->last_send_ns = s->now;
    int err = ipv4_output(s, &tp->rt, &h, p);
    if (more) {
        /* The segments are the frame's buffers only until the link has written it out (it
         * copies synchronously: LINK_TX_SYNC), which flushing the interface makes now. */
        iface_flush(tp->rt.ifc);
        struct pkt *q = seg;
        for (unsigned i = 0; i <= more; i++, q = q->next)
            q->frag = NULL;
    }
    return err;
}

static int xmit(struct tcb *tp, struct pkt *seg, uint32_t seq, uint16_t flags)
{
    return xmit_frame(tp, seg, seq, flags, 0);
}

/* ---- Pure ACKs from a template ----
 *
 * A connection's pure ACKs differ only in a few fields (wire/tcp_ack.h), so the frame is built
 * once and then copied with those filled in, instead of building TCP, IP and Ethernet headers
 * from reprs and passing the datagram down through ipv4_output and arp_output. The result is
 * the frame xmit() would send, byte for byte, with the same side effects; every ACK that
 * xmit() would build differently takes xmit(): one carrying SACK blocks (RFC 2018), one to a
 * local or broadcast route, one whose next hop's address is not resolved (arp_output queues
 * it), or one without a buffer (xmit counts it). */

static bool ack_key_matches(const struct tcb *tp, const struct eth_addr *mac, uint8_t ttl)
{
    const struct tcp_ack_key *k = &tp->ack_cache->key;
    return k->ifc == tp->rt.ifc && eth_addr_equal(&k->mac, mac) && k->laddr == tp->c.laddr &&
           k->raddr == tp->c.raddr && k->lport == tp->c.lport && k->rport == tp->c.rport &&
           k->ttl == ttl && k->tos == tp->tos && k->ts == tp->ts_ok;
}

static void build_ack_tmpl(struct tcb *tp, const struct eth_addr *mac, uint8_t ttl)
{
    struct ust_stack *s = tp->stack;
    struct tcp_ack_key *k = &tp->ack_cache->key;
    const struct neigh *hint = k->neigh;
    *k = (struct tcp_ack_key){ .neigh = hint, .ifc = tp->rt.ifc, .mac = *mac, .laddr = tp->c.laddr,
                               .raddr = tp->c.raddr, .lport = tp->c.lport,
                               .rport = tp->c.rport, .ttl = ttl, .tos = tp->tos,
                               .ts = tp->ts_ok,
                               .ip_id = ipv4_id_counter(s, tp->c.laddr, tp->c.raddr,
                                                        IPPROTO_TCP) };
    struct eth_repr e = { .dst = *mac, .src = tp->rt.ifc->mac, .ethertype = ETHERTYPE_IPV4 };
    struct ipv4_repr ip = { .src = tp->c.laddr, .dst = tp->c.raddr, .protocol = IPPROTO_TCP,
                            .ttl = ttl, .tos = tp->tos, .df = true };
    struct tcp_repr th = { .sport = tp->c.lport, .dport = tp->c.rport, .flags = TCP_ACK };
    th.opt.present = tp->ts_ok ? TCP_HAS_TIMESTAMP : 0;
    tcp_ack_tmpl_init(&tp->ack_cache->tmpl, &e, &ip, &th);
}

/* Sends xmit(tp, NULL, tp->snd_nxt, TCP_ACK)'s frame from the template; false (nothing done)
 * when that ACK must take xmit(). */
static bool send_ack_from_template(struct tcb *tp)
{
    struct ust_stack *s = tp->stack;
    if (tp->rt.local || tp->rt.broadcast ||
        (tp->sack_ok && (tp->dsack_pending || tp->sack_recent_n)))
        return false;
    if (!tp->ack_cache) {
        /* Only a connection that receives data sends ACKs often enough to be worth it. */
        if (!tp->bytes_received || !(tp->ack_cache = calloc(1, sizeof(*tp->ack_cache))))
            return false;
    }
    struct pkt *p = stack_alloc(s);
    if (!p)
        return false;
    const struct eth_addr *mac = arp_output_mac(tp->rt.ifc, tp->rt.next_hop,
                                                &tp->ack_cache->key.neigh);
    if (!mac) {
        pkt_free(p);
        return false;
    }
    uint8_t ttl = tp->ttl ? tp->ttl : (uint8_t)s->cfg.ttl;   /* as ipv4_output's default */
    if (!ack_key_matches(tp, mac, ttl))
        build_ack_tmpl(tp, mac, ttl);
    uint16_t window = tcp_adv_window(tp);
    uint32_t ts_val = tp->ts_ok ? tcp_ts_now(tp) : 0;
    const struct tcp_ack_tmpl *t = &tp->ack_cache->tmpl;
    uint16_t id = (*tp->ack_cache->key.ip_id)++;
    tcp_ack_tmpl_emit(t, pkt_push(p, t->len), id, tp->snd_nxt,
                      tp->rcv_nxt, window, ts_val, tp->ts_recent);
    tcp_counters(s)->out_segs++;
    tp->segs_out++;
    tp->last_ack_sent = tp->rcv_nxt;
    tcp_ack_sent(tp);
    tp->last_send_ns = s->now;
    ipv4_output_frame(s, &tp->rt, p);
    return true;
}

void tcp_send_ack(struct tcb *tp)
{
    if (!send_ack_from_template(tp))
        xmit(tp, NULL, tp->snd_nxt, TCP_ACK);
}

void tcp_send_syn(struct tcb *tp)
{
    uint16_t flags = TCP_SYN | (tp->c.state == TCPS_SYN_RECEIVED ? TCP_ACK : 0);
    xmit(tp, NULL, tp->iss, flags);
}

void tcp_send_probe(struct tcb *tp)
{
    /* As Linux: an empty segment one below SND.UNA is outside the peer's window, so it must
     * answer with an ACK carrying its current window (RFC 9293 3.10.7.4 first check). */
    xmit(tp, NULL, tp->snd_una - 1, TCP_ACK);
}

void tcp_send_rst_for(struct tcb *tp)
{
    xmit(tp, NULL, tp->snd_nxt, TCP_RST | TCP_ACK);
    tcp_counters(tp->stack)->out_rsts++;
}

static uint16_t data_flags(const struct pkt *p)
{
    uint16_t f = TCP_ACK;
    if (seg_cb((struct pkt *)p)->tcp_flags & TCP_FIN)
        f |= TCP_FIN;
    if (!p->next && seg_cb((struct pkt *)p)->len)
        f |= TCP_PSH;
    return f;
}

int tcp_retransmit_seg(struct tcb *tp, struct pkt *p)
{
    /* A partly acknowledged segment is resent whole (it may be shared, so it is not trimmed in
     * place); the peer discards the part it has. */
    struct tcp_seg_cb *cb = seg_cb(p);
    if (cb->len > tp->mss && !pkt_is_shared(p) && split_segment(tp, p, tp->mss)) {
        /* Bigger than the MSS path MTU discovery lowered (RFC 1191): cut to fit first, as
         * Linux's tcp_retransmit_skb does, or it would be dropped again and again. The tail
         * keeps the marks, so the byte counts (lost, retransmitted) stay whole. */
        struct tcp_seg_cb *tail = seg_cb(p->next);
        tail->flags = cb->flags;
        tail->xmits = cb->xmits;
        tail->xmit_ns = cb->xmit_ns;
    }
    int err = xmit(tp, p, cb->seq, data_flags(p));
    if (err)
        return err;
    if ((cb->flags & SEG_LOST) && !(cb->flags & SEG_RETRANS)) {
        cb->flags |= SEG_RETRANS;
        tp->retrans_bytes += cb->end_seq - cb->seq;
    }
    cb->flags |= SEG_EVER_RETRANS;
    if (tp->in_recovery)
        tp->prr.out += cb->end_seq - cb->seq;   /* RFC 6937 3: prr_out */
    tcp_undo_note_retransmit(tp);
    cb->xmits++;
    cb->xmit_ns = tp->stack->now;
    tp->total_retrans++;
    tcp_counters(tp->stack)->retrans_segs++;
    return 0;
}

/* ---- Deciding what to send ---- */

static bool can_send_data(const struct tcb *tp)
{
    uint8_t st = tp->c.state;
    return st == TCPS_ESTABLISHED || st == TCPS_CLOSE_WAIT || st == TCPS_FIN_WAIT_1 ||
           st == TCPS_CLOSING || st == TCPS_LAST_ACK;
}

/* RFC 6675 5 (NextSeg rule 1, and Linux's go-back after an RTO): resend segments deemed lost
 * while the pipe has room. Returns the number sent. */
static unsigned retransmit_lost(struct tcb *tp)
{
    unsigned sent = 0;
    while (tp->lost_bytes > tp->retrans_bytes) {
        if (tcp_flight(tp) >= tp->cwnd) {
            tp->cwnd_limited = true;   /* lost data waits on cwnd (after an RTO: slow start) */
            break;
        }
        struct pkt *p = tcp_sack_next_seg(tp);
        if (!p || tcp_retransmit_seg(tp, p) != 0)
            break;
        sent++;
    }
    return sent;
}

/* RFC 896 / RFC 1122 4.2.3.4: hold a small segment back while earlier data is unacknowledged,
 * unless TCP_NODELAY; TCP_CORK holds every partial segment. A FIN goes at once. As Linux
 * (tcp_minshall_check), only an unacknowledged *small* segment holds the next one back, so the
 * tail of a write larger than the MSS is not delayed by the peer's delayed ACK. */
static bool nagle_holds(const struct tcb *tp, const struct pkt *p, uint16_t mss)
{
    const struct tcp_seg_cb *cb = seg_cb((struct pkt *)p);
    if (cb->len >= mss || (cb->tcp_flags & TCP_FIN) || p->next)
        return false;
    if (tp->cork)
        return true;
    return !tp->nodelay && seq_gt(tp->snd_sml, tp->snd_una);
}

/* The part of the segment the peer's window allows (RFC 1122 4.2.3.4 sender SWS avoidance:
 * a partial segment only if it is at least half the largest window the peer ever offered).
 * 0: wait. */
static uint32_t window_allows(struct tcb *tp, struct pkt *p)
{
    struct tcp_seg_cb *cb = seg_cb(p);
    uint32_t right = tp->snd_una + tp->snd_wnd;
    if (seq_leq(cb->seq + cb->len, right))
        return cb->len ? cb->len : 1;   /* a bare FIN always fits */
    uint32_t usable = seq_gt(right, cb->seq) ? right - cb->seq : 0;
    if (usable && (usable >= tp->max_snd_wnd / 2 || tp->sws_override) && usable < cb->len)
        return usable;
    return 0;
}

/* Segmentation offload: how many of the segments queued after `p` (full-sized, about to be sent)
 * may leave with it in one super-frame. They must be full-sized too (a FIN only on the last),
 * fit the peer's window and the congestion window, and the frame at most 64 KiB. Only where the
 * link cuts super-frames and takes gathered frames it copies at once (the queued segments
 * themselves are its buffers), and the neighbour is known (the frame must not wait). */
static unsigned tso_segments(struct tcb *tp, struct pkt *p, uint16_t mss)
{
    struct ust_stack *s = tp->stack;
    const unsigned need = LINK_OFF_TSO4 | LINK_OFF_SG | LINK_TX_SYNC | LINK_OFF_TX_CSUM;
    if (seg_cb(p)->len != mss || (seg_cb(p)->tcp_flags & TCP_FIN) || !p->next ||
        !s->cfg.tcp_tso || tp->rt.local || tp->rt.broadcast ||
        (tp->rt.ifc->link->caps.offloads & need) != need ||
        !arp_can_send_now(s, tp->rt.ifc, tp->rt.next_hop))
        return 0;
    /* 40 bytes of TCP options at most: IPv4's 64 KiB bound holds for any header. */
    unsigned max = (IPV4_MAX_LEN - IPV4_HDR_LEN - 60) / mss;
    if (max > TCP_TSO_MAX_SEGS)
        max = TCP_TSO_MAX_SEGS;
    uint32_t right = tp->snd_una + tp->snd_wnd;
    uint32_t budget = tp->cwnd > tcp_flight(tp) + mss ? tp->cwnd - tcp_flight(tp) - mss : 0;
    unsigned more = 0;
    for (struct pkt *q = p->next; q && more + 1 < max; q = q->next) {
        const struct tcp_seg_cb *qc = seg_cb(q);
        if (qc->len != mss || pkt_is_shared(q) || seq_gt(qc->end_seq, right) || budget < mss)
            break;
        budget -= mss;
        more++;
        if (qc->tcp_flags & TCP_FIN)
            break;
    }
    return more;
}

static unsigned send_new_data(struct tcb *tp)
{
    unsigned sent = 0;
    struct pkt *p;
    while ((p = tp->send_head)) {
        struct tcp_seg_cb *cb = seg_cb(p);
        uint16_t mss = send_mss(tp);
        if (cb->len > mss && !split_segment(tp, p, mss))
            break;
        uint32_t allowed = window_allows(tp, p);
        if (!allowed)
            break;
        if (allowed < cb->len && !split_segment(tp, p, (uint16_t)allowed))
            break;
        if (tcp_flight(tp) + cb->len > tp->cwnd && tcp_flight(tp) > 0) {
            tp->cwnd_limited = true;
            break;
        }
        if (nagle_holds(tp, p, mss))
            break;
        unsigned more = tso_segments(tp, p, mss);
        struct pkt *last = p;
        for (unsigned i = 0; i < more; i++)
            last = last->next;
        if (xmit_frame(tp, p, cb->seq, data_flags(last), more) != 0)
            break;
        for (unsigned i = 0; i <= more; i++, p = p->next) {
            cb = seg_cb(p);
            cb->xmit_ns = tp->stack->now;
            cb->xmits = 1;
            tp->snd_nxt = cb->end_seq;
            if (tp->in_recovery)
                tp->prr.out += cb->end_seq - cb->seq;   /* RFC 6937 3: prr_out */
            if (cb->len < mss)
                tp->snd_sml = cb->end_seq;   /* Minshall: the last small segment sent */
            tp->send_head = p->next;
            sent++;
        }
    }
    return sent;
}

void tcp_output(struct tcb *tp)
{
    if (!can_send_data(tp)) {
        if (tp->ack_now && tp->c.state != TCPS_SYN_SENT && tp->c.state != TCPS_CLOSED)
            tcp_send_ack(tp);
        return;
    }
    tp->cwnd_limited = false;
    unsigned sent = retransmit_lost(tp);
    if (tp->snd_nxt == tp->snd_una && tp->last_send_ns &&
        tp->stack->now - tp->last_send_ns > (uint64_t)tcp_rto_us(tp) * 1000 && tp->cc->after_idle) {
        /* RFC 5681 4.1: restart from a smaller window after an idle period. */
        struct cc_view v;
        struct cc_out o = { tp->cwnd, tp->ssthresh };
        tcp_cc_view(tp, &v);
        tp->cc->after_idle(tp->cc_priv, &v, &o);
        tcp_cc_apply(tp, &o);
    }
    unsigned fresh = send_new_data(tp);
    sent += fresh;
    if (!sent && tp->ack_now)
        tcp_send_ack(tp);
    if (tp->snd_nxt != tp->snd_una) {
        tcp_xmit_timer_after_send(tp, fresh != 0);   /* RTO, PTO or RACK timer (tcp_rack.c) */
    } else if (tp->send_head && tp->rtx_mode == RTX_NONE) {
        tcp_arm_persist(tp);   /* data waits for a window that is closed */
    }
}

/* ---- Resets for segments without a connection (RFC 9293 3.10.7.1, 3.5.2) ---- */

/* A header-only segment not sent by a connection (resets, TIME_WAIT ACKs), from src to dst. */
void tcp_send_raw(struct ust_stack *s, const struct tcp_repr *r, uint32_t src, uint32_t dst)
{
    struct route rt;
    if (ipv4_route(s, dst, &rt) != 0)
        return;
    size_t hlen = tcp_header_len(r);
    struct pkt *p = stack_alloc(s);
    if (!p || !hlen) {
        pkt_free(p);
        return;
    }
    uint8_t *hdr = pkt_put(p, (uint32_t)hlen);
    tcp_emit(r, hdr, hlen);
    tcp_set_checksum(hdr, hlen, csum_ipv4_pseudo(src, dst, IPPROTO_TCP, (uint16_t)hlen));
    struct ipv4_tx h = { .src = src, .dst = dst, .protocol = IPPROTO_TCP, .df = true };
    tcp_counters(s)->out_segs++;
    if (r->flags & TCP_RST)
        tcp_counters(s)->out_rsts++;
    ipv4_output(s, &rt, &h, p);
}

void tcp_send_reset(struct ust_stack *s, struct iface *ifc, const struct ipv4_repr *ip,
                    const struct tcp_repr *th, uint32_t seg_len)
{
    (void)ifc;
    if (th->flags & TCP_RST)
        return;   /* never a reset for a reset */
    struct tcp_repr r = { .sport = th->dport, .dport = th->sport };
    if (th->flags & TCP_ACK) {
        r.seq = th->ack;
        r.flags = TCP_RST;
    } else {
        r.ack = th->seq + seg_len;
        r.flags = TCP_RST | TCP_ACK;
    }
    tcp_send_raw(s, &r, ip->dst, ip->src);
}
