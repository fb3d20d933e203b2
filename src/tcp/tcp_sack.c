/*
 * Selective acknowledgment (RFC 2018), D-SACK (RFC 2883) and SACK-based loss recovery
 * (RFC 6675).
 *
 * Receiving side: the blocks we report describe the out-of-order queue; the first block holds
 * the most recently received segment (RFC 2018 4), the others follow in order of recency, and a
 * duplicate goes first as a D-SACK block (RFC 2883 4).
 *
 * Sending side: the peer's blocks mark segments of the send queue SACKED and feed RACK
 * (tcp_rack.c, RFC 8985), which decides which segments are lost: as Linux, RACK replaces RFC
 * 6675's IsLost() (its reordering window is zero when DupThresh segments are SACKed and no
 * reordering was seen, RFC 8985 6.2 step 4, which covers the DupThresh rule). NextSeg() returns
 * the first segment deemed lost that has not been resent. The byte counts kept in the TCB
 * (sacked, lost, retransmitted) give the "pipe" (tcp_flight) without walking the queue.
 */
#include "net/stack.h"
#include "tcp/table.h"
#include "tcp/tcb.h"

/* ---- What we report ---- */

static bool run_holds(const struct tcp_sack_block *run, uint32_t start, uint32_t end)
{
    return seq_leq(run->start, start) && seq_geq(run->end, end);
}

/* The whole contiguous run of out-of-order data that contains [start, end). The queue is
 * sorted and disjoint: runs are its stretches of touching segments. (Merging in one pass only
 * what touches [start, end) would miss the run's earlier segments.) */
static struct tcp_sack_block ooo_run(const struct tcb *tp, uint32_t start, uint32_t end)
{
    struct tcp_sack_block run = { start, end };
    bool open = false;
    for (struct pkt *p = tp->ooo_head; p; p = p->next) {
        struct tcp_seg_cb *cb = seg_cb(p);
        if (open && seq_leq(cb->seq, run.end)) {
            run.end = seq_max(run.end, cb->end_seq);   /* touches: the run goes on */
            continue;
        }
        if (open && run_holds(&run, start, end))
            return run;
        run = (struct tcp_sack_block){ cb->seq, cb->end_seq };
        open = true;
    }
    if (open && run_holds(&run, start, end))
        return run;
    return (struct tcp_sack_block){ start, end };
}

static bool blocks_touch(const struct tcp_sack_block *a, const struct tcp_sack_block *b)
{
    return seq_leq(a->start, b->end) && seq_leq(b->start, a->end);
}

void tcp_sack_note_received(struct tcb *tp, uint32_t start, uint32_t end)
{
    if (!tp->sack_ok)
        return;
    struct tcp_sack_block first = ooo_run(tp, start, end);
    struct tcp_sack_block keep[TCP_MAX_SACK_BLOCKS];
    unsigned n = 0;
    keep[n++] = first;
    for (unsigned i = 0; i < tp->sack_recent_n && n < TCP_MAX_SACK_BLOCKS; i++)
        if (!blocks_touch(&tp->sack_recent[i], &first))
            keep[n++] = tp->sack_recent[i];
    for (unsigned i = 0; i < n; i++)
        tp->sack_recent[i] = keep[i];
    tp->sack_recent_n = (uint8_t)n;
}

void tcp_sack_update_recent(struct tcb *tp)
{
    unsigned n = 0;
    for (unsigned i = 0; i < tp->sack_recent_n; i++) {
        struct tcp_sack_block b = tp->sack_recent[i];
        if (seq_leq(b.end, tp->rcv_nxt))
            continue;   /* now cumulatively acknowledged */
        if (seq_lt(b.start, tp->rcv_nxt))
            b.start = tp->rcv_nxt;
        tp->sack_recent[n++] = b;
    }
    tp->sack_recent_n = (uint8_t)n;
}

unsigned tcp_sack_blocks(struct tcb *tp, struct tcp_sack_block *out, unsigned max)
{
    unsigned n = 0;
    if (tp->dsack_pending && n < max)
        out[n++] = tp->dsack;
    for (unsigned i = 0; i < tp->sack_recent_n && n < max; i++)
        out[n++] = tp->sack_recent[i];
    return n;
}

/* ---- What the peer reports ---- */

static void mark_sacked(struct tcb *tp, struct pkt *p)
{
    struct tcp_seg_cb *cb = seg_cb(p);
    uint32_t span = cb->end_seq - cb->seq;
    if (cb->flags & SEG_SACKED)
        return;
    if (cb->flags & SEG_LOST)
        tp->lost_bytes -= span;
    if (cb->flags & SEG_RETRANS)
        tp->retrans_bytes -= span;
    /* Its loss state gives way to SACKED; what the segment is (ever resent, payload unsummed)
     * stays: a SACKed segment may be sent again (the peer reneged, RFC 2018 8) and must then
     * still leave for the link to checksum. */
    cb->flags = (uint8_t)((cb->flags & (SEG_EVER_RETRANS | SEG_NOSUM)) | SEG_SACKED);
    tp->sacked_bytes += span;
    if (seq_gt(cb->end_seq, tp->high_sacked))
        tp->high_sacked = cb->end_seq;
}

/* RFC 2883 4: a first block below the cumulative ACK, or inside the second block, reports a
 * duplicate, not new information. */
static bool is_dsack(const struct tcp_options *o, uint32_t ack)
{
    const struct tcp_sack_block *b = &o->sack[0];
    if (seq_leq(b->end, ack))
        return true;
    return o->sack_count > 1 && seq_geq(b->start, o->sack[1].start) &&
           seq_leq(b->end, o->sack[1].end);
}

bool tcp_sack_process(struct tcb *tp, const struct tcp_options *o, uint32_t ack)
{
    unsigned first = 0;
    bool dsack = false;
    if (o->sack_count && is_dsack(o, ack)) {
        tcp_counters(tp->stack)->dsack_recv++;
        first = 1;
        dsack = true;
        tcp_undo_note_dsack(tp, o->sack[0].start, o->sack[0].end);
    }
    for (unsigned i = first; i < o->sack_count; i++) {
        uint32_t start = o->sack[i].start, end = o->sack[i].end;
        /* Ignore blocks that are empty, reversed, or outside what we sent (RFC 2018 and
         * hostile peers: a block may never mark unsent data). */
        if (!seq_lt(start, end) || seq_lt(start, tp->snd_una) || seq_gt(end, tp->snd_nxt))
            continue;
        for (struct pkt *p = tp->snd_head; p && p != tp->send_head; p = p->next) {
            struct tcp_seg_cb *cb = seg_cb(p);
            if (seq_geq(cb->seq, end))
                break;
            if (seq_geq(cb->seq, start) && seq_leq(cb->end_seq, end) &&
                !(cb->flags & SEG_SACKED)) {
                mark_sacked(tp, p);
                tcp_rack_delivered(tp, cb);   /* RFC 8985 6.2 steps 2 and 3 */
            }
        }
    }
    return dsack;
}

bool tcp_seg_mark_lost(struct tcb *tp, struct pkt *p)
{
    struct tcp_seg_cb *cb = seg_cb(p);
    uint32_t span = cb->end_seq - cb->seq;
    if (cb->flags & SEG_SACKED)
        return false;
    if (cb->flags & SEG_RETRANS) {
        /* A retransmission lost as well: it counts as lost again, not in flight, and
         * NextSeg() picks it up once more. */
        cb->flags &= (uint8_t)~SEG_RETRANS;
        tp->retrans_bytes -= span;
        return true;
    }
    if (cb->flags & SEG_LOST)
        return false;
    cb->flags |= SEG_LOST;
    tp->lost_bytes += span;
    return true;
}

struct pkt *tcp_sack_next_seg(struct tcb *tp)
{
    for (struct pkt *p = tp->snd_head; p && p != tp->send_head; p = p->next) {
        uint8_t f = seg_cb(p)->flags;
        if ((f & SEG_LOST) && !(f & (SEG_RETRANS | SEG_SACKED)))
            return p;
    }
    return NULL;
}
