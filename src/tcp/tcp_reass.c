/*
 * The out-of-order queue: segments beyond RCV.NXT wait here, sorted and disjoint, until the hole
 * before them fills (RFC 9293 3.10.7.4 seventh step; RFC 5681 4.2 for the ACKs they cause).
 *
 * Overlaps: the first copy of a byte that we accept wins, wherever it waits (docs/security.md,
 * "Overlapping segments"). A new segment first takes the held bytes it overlaps
 * (tcp_ooo_overlay: it may carry different ones), then is trimmed to what it adds; a segment
 * wholly inside held data is a duplicate (reported with D-SACK, RFC 2883); held segments
 * wholly inside a new one are dropped, their bytes already copied into it. The in-order path
 * (tcp_input.c) overlays held bytes the same way, and bytes already delivered are never
 * replaced. Linux is not consistent here (a new out-of-order segment covering held ones
 * replaces them, and in-order data wins over held data); we keep the first copy everywhere, so
 * a segment that lands in the window cannot rewrite data already accepted, whatever the order.
 * The queue holds at most the receive buffer's worth of payload.
 *
 * Memory: a segment costs its whole buffer, not its payload (a peer sending one-byte segments
 * with holes between them would otherwise hold a 2 KiB buffer per byte, and could take the
 * whole packet pool with one connection). As Linux (tcp_try_rmem_schedule against sk_rcvbuf),
 * the buffers of the receive and out-of-order queues together stay within twice the receive
 * buffer (SO_RCVBUF as getsockopt reports it). Beyond that, a segment that lies before the
 * queue's last one makes room by dropping held segments from the end (Linux's
 * tcp_prune_ofo_queue: the data nearest RCV.NXT is what lets the application progress); any
 * other is dropped. Both are counted (ooo_pruned, ooo_drops).
 */
#include <string.h>

#include "net/stack.h"
#include "tcp/table.h"
#include "tcp/tcb.h"

static void note_duplicate(struct tcb *tp, uint32_t start, uint32_t end)
{
    if (!tp->sack_ok)
        return;
    tp->dsack = (struct tcp_sack_block){ start, end };
    tp->dsack_pending = true;
}

static void ooo_unlink_free(struct tcb *tp, struct pkt **pp)
{
    struct pkt *q = *pp;
    *pp = q->next;
    tp->ooo_bytes -= q->len;
    tp->rcv_mem -= pkt_buf_size(q);
    pkt_free(q);
}

static uint64_t rcv_mem_limit(const struct tcb *tp)
{
    return 2ull * tp->rcvbuf;   /* Linux's sk_rcvbuf: SO_RCVBUF doubled, in buffer bytes */
}

/* Frees held segments from the end of the queue, those after `seq`, until `need` more buffer
 * bytes fit. Returns false if they do not. */
static bool ooo_make_room(struct tcb *tp, uint32_t seq, uint32_t need)
{
    while ((uint64_t)tp->rcv_mem + need > rcv_mem_limit(tp)) {
        struct pkt **last = NULL;
        for (struct pkt **pp = &tp->ooo_head; *pp; pp = &(*pp)->next)
            last = pp;
        if (!last || seq_leq(seg_cb(*last)->seq, seq))
            return false;
        ooo_unlink_free(tp, last);
        tcp_counters(tp->stack)->ooo_pruned++;
        /* What we reported may be gone (RFC 2018 8 allows reneging; the sender keeps data
         * until it is cumulatively acknowledged): report afresh, as Linux's tcp_sack_reset. */
        tp->sack_recent_n = 0;
    }
    return true;
}

void tcp_ooo_overlay(const struct tcb *tp, struct pkt *p, uint32_t seq)
{
    uint32_t end = seq + p->len;
    if (pkt_is_shared(p))
        return;   /* cannot happen: received segments are TCP's alone (pkt.h) */
    for (struct pkt *q = tp->ooo_head; q && seq_lt(seg_cb(q)->seq, end); q = q->next) {
        uint32_t qs = seg_cb(q)->seq, qe = qs + q->len;   /* payload only, not the FIN */
        if (seq_leq(qe, seq))
            continue;
        uint32_t from = seq_max(qs, seq), to = seq_min(qe, end);
        memcpy(p->data + (from - seq), q->data + (from - qs), to - from);
    }
}

void tcp_ooo_insert(struct tcb *tp, struct pkt *p)
{
    struct tcp_ctrs *c = tcp_counters(tp->stack);
    struct tcp_seg_cb *cb = seg_cb(p);
    if (tp->ooo_bytes + p->len > tp->rcvbuf ||
        !ooo_make_room(tp, cb->seq, pkt_buf_size(p))) {
        c->ooo_drops++;
        pkt_free(p);
        return;
    }
    tcp_ooo_overlay(tp, p, cb->seq);   /* the first copy wins: before anything is trimmed */
    /* Find the first held segment that ends after we start. */
    struct pkt **pp = &tp->ooo_head;
    while (*pp && seq_leq(seg_cb(*pp)->end_seq, cb->seq))
        pp = &(*pp)->next;
    if (*pp && seq_leq(seg_cb(*pp)->seq, cb->seq) && seq_geq(seg_cb(*pp)->end_seq, cb->end_seq)) {
        note_duplicate(tp, cb->seq, cb->end_seq);   /* wholly inside held data */
        pkt_free(p);
        return;
    }
    if (*pp && seq_lt(seg_cb(*pp)->seq, cb->seq)) {
        /* Overlaps the tail of the held one: keep only our new part. */
        uint32_t cut = seg_cb(*pp)->end_seq - cb->seq;
        note_duplicate(tp, cb->seq, seg_cb(*pp)->end_seq);
        pkt_pull(p, cut);
        cb->seq += cut;
        pp = &(*pp)->next;
    }
    /* Held segments wholly inside ours carry nothing new (their bytes are in ours): drop them. */
    while (*pp && seq_geq(seg_cb(*pp)->seq, cb->seq) &&
           seq_leq(seg_cb(*pp)->end_seq, cb->end_seq))
        ooo_unlink_free(tp, pp);
    if (*pp && seq_lt(seg_cb(*pp)->seq, cb->end_seq)) {
        /* Our tail overlaps the next held one: cut ours short (and any FIN, which would sit
         * beyond bytes that exist). */
        uint32_t keep = seg_cb(*pp)->seq - cb->seq;
        pkt_trim(p, keep);
        cb->end_seq = cb->seq + keep;
        cb->tcp_flags = 0;
    }
    p->next = *pp;
    *pp = p;
    tp->ooo_bytes += p->len;
    tp->rcv_mem += pkt_buf_size(p);
    c->ooo_segs++;
    tcp_sack_note_received(tp, cb->seq, cb->end_seq);
}

bool tcp_ooo_drain(struct tcb *tp)
{
    bool fin = false;
    struct pkt *p;
    while ((p = tp->ooo_head) && seq_leq(seg_cb(p)->seq, tp->rcv_nxt)) {
        struct tcp_seg_cb *cb = seg_cb(p);
        tp->ooo_head = p->next;
        tp->ooo_bytes -= p->len;
        tp->rcv_mem -= pkt_buf_size(p);
        if (seq_leq(cb->end_seq, tp->rcv_nxt)) {
            pkt_free(p);   /* everything in it arrived meanwhile */
            continue;
        }
        uint32_t old = tp->rcv_nxt - cb->seq;
        pkt_pull(p, old);
        tp->rcv_nxt += p->len;
        fin = cb->tcp_flags & TCP_FIN;
        if (p->len && !(tp->shutdown & TCP_SHUT_RD))
            tcp_rcv_append(tp, p);
        else
            pkt_free(p);
        if (fin)
            break;
    }
    return fin;
}

void tcp_ooo_purge(struct tcb *tp)
{
    while (tp->ooo_head)
        ooo_unlink_free(tp, &tp->ooo_head);
}
