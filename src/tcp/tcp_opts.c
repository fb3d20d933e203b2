/*
 * TCP socket options (IPPROTO_TCP level, and the SOL_SOCKET ones whose meaning is TCP's),
 * tcp_info, and ICMP errors about our segments (RFC 1122 4.2.3.9, RFC 1191, RFC 5927).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

#include "base/log.h"
#include "net/stack.h"
#include "tcp/table.h"
#include "tcp/tcb.h"
#include "ustack/ustack.h"
#include "wire/icmp.h"

#define TCP_MIN_USER_MSS 88      /* Linux's TCP_MIN_MSS */
#define TCP_MAX_USER_MSS 32767
#define MAX_KEEPIDLE 32767
#define MAX_KEEPCNT 127
#define PMTU_MIN 552             /* Linux's min_pmtu: smaller "fragmentation needed" is ignored */

static int read_int(const void *val, socklen_t len, int *out)
{
    if (!val || len < (socklen_t)sizeof(int))
        return -EINVAL;
    memcpy(out, val, sizeof(int));
    return 0;
}

static int set_congestion(struct tcb *tp, const void *val, socklen_t len)
{
    char name[CC_NAME_MAX];
    if (!val || len == 0)
        return -EINVAL;
    size_t n = len < sizeof(name) - 1 ? len : sizeof(name) - 1;
    memcpy(name, val, n);
    name[n] = 0;
    const struct cc_ops *cc = cc_find(name);
    if (!cc)
        return -ENOENT;   /* as Linux for an unknown algorithm */
    tp->cc = cc;
    if (tp->c.state >= TCPS_ESTABLISHED && tp->mss) {
        /* Switching mid-connection: the new module starts from the current window. */
        struct cc_view v;
        struct cc_out o = { tp->cwnd, tp->ssthresh };
        memset(tp->cc_priv, 0, sizeof(tp->cc_priv));
        tcp_cc_view(tp, &v);
        if (cc->init)
            cc->init(tp->cc_priv, &v, &o);
        o.cwnd = tp->cwnd;
        tcp_cc_apply(tp, &o);
    }
    return 0;
}

static int set_tcp_level(struct tcb *tp, int name, int v)
{
    switch (name) {
    case TCP_NODELAY:
        tp->nodelay = v != 0;
        if (tp->nodelay)
            tcp_output(tp);
        return 0;
    case TCP_CORK:
        tp->cork = v != 0;
        if (!tp->cork)
            tcp_output(tp);   /* uncorking pushes what waited */
        return 0;
    case TCP_MAXSEG:
        if (v < TCP_MIN_USER_MSS || v > TCP_MAX_USER_MSS)
            return -EINVAL;
        tp->user_mss = (uint16_t)v;
        return 0;
    case TCP_KEEPIDLE:
    case TCP_KEEPINTVL:
        if (v < 1 || v > MAX_KEEPIDLE)
            return -EINVAL;
        *(name == TCP_KEEPIDLE ? &tp->keepidle_s : &tp->keepintvl_s) = (uint16_t)v;
        if (tp->keepalive && name == TCP_KEEPIDLE)
            tcp_arm_keepalive(tp);
        return 0;
    case TCP_KEEPCNT:
        if (v < 1 || v > MAX_KEEPCNT)
            return -EINVAL;
        tp->keepcnt = (uint8_t)v;
        return 0;
    case TCP_USER_TIMEOUT:
        if (v < 0)
            return -EINVAL;
        tp->user_timeout_ms = (uint32_t)v;
        return 0;
    case TCP_QUICKACK:
        tp->quickack_opt = v != 0;
        if (v && tp->ack_pending) {
            tp->ack_now = true;
            tcp_output(tp);
        }
        return 0;
    case TCP_DEFER_ACCEPT:
        return 0;   /* accepted for compatibility (nginx sets it); the accept is not deferred */
    default:
        return -ENOPROTOOPT;
    }
}

int tcp_setsockopt(struct tcb *tp, int level, int name, const void *val, socklen_t len)
{
    if (level == IPPROTO_TCP && name == TCP_CONGESTION)
        return set_congestion(tp, val, len);
    if (level == SOL_SOCKET && name == SO_LINGER) {
        struct linger l;
        if (!val || len < (socklen_t)sizeof(l))
            return -EINVAL;
        memcpy(&l, val, sizeof(l));
        tp->linger_on = l.l_onoff != 0;
        tp->linger_s = l.l_linger < 0 ? 0 : (uint32_t)l.l_linger;
        return 0;
    }
    int v;
    int err = read_int(val, len, &v);
    if (err)
        return err;
    if (level == SOL_SOCKET && name == SO_KEEPALIVE) {
        tp->keepalive = v != 0;
        if (tp->c.state == TCPS_ESTABLISHED || tp->c.state == TCPS_CLOSE_WAIT)
            tcp_arm_keepalive(tp);
        return 0;
    }
    if (level == IPPROTO_TCP)
        return set_tcp_level(tp, name, v);
    return -ENOPROTOOPT;
}

static int put_int(void *val, socklen_t *len, int v)
{
    if ((int)*len < 0)
        return -EINVAL;
    socklen_t n = *len < (socklen_t)sizeof(int) ? *len : (socklen_t)sizeof(int);
    memcpy(val, &v, n);
    *len = n;
    return 0;
}

static int get_tcp_level(struct tcb *tp, int name, void *val, socklen_t *len)
{
    switch (name) {
    case TCP_NODELAY: return put_int(val, len, tp->nodelay);
    case TCP_CORK: return put_int(val, len, tp->cork);
    case TCP_MAXSEG: return put_int(val, len, tp->mss ? tp->mss : (tp->user_mss ? tp->user_mss : 536));
    case TCP_KEEPIDLE: return put_int(val, len, (int)tp->keepidle_s);
    case TCP_KEEPINTVL: return put_int(val, len, (int)tp->keepintvl_s);
    case TCP_KEEPCNT: return put_int(val, len, (int)tp->keepcnt);
    case TCP_USER_TIMEOUT: return put_int(val, len, (int)tp->user_timeout_ms);
    case TCP_QUICKACK: return put_int(val, len, tp->quickack_opt);
    case TCP_CONGESTION: {
        size_t n = strlen(tp->cc->name) + 1;
        if (n > *len)
            n = *len;
        memcpy(val, tp->cc->name, n);
        *len = (socklen_t)n;
        return 0;
    }
    default:
        return -ENOPROTOOPT;
    }
}

int tcp_getsockopt(struct tcb *tp, int level, int name, void *val, socklen_t *len)
{
    if (level == SOL_SOCKET && name == SO_LINGER) {
        struct linger l = { tp->linger_on, (int)tp->linger_s };
        if (*len < (socklen_t)sizeof(l))
            return -EINVAL;
        memcpy(val, &l, sizeof(l));
        *len = sizeof(l);
        return 0;
    }
    if (level == SOL_SOCKET && name == SO_KEEPALIVE)
        return put_int(val, len, tp->keepalive);
    if (level == SOL_SOCKET && name == SO_ACCEPTCONN)
        return put_int(val, len, tp->c.state == TCPS_LISTEN);
    if (level == IPPROTO_TCP)
        return get_tcp_level(tp, name, val, len);
    return -ENOPROTOOPT;
}

/* ---- tcp_info ---- */

/* Linux's numbering of states (netinet/tcp.h). */
static uint8_t linux_state(uint8_t st)
{
    static const uint8_t map[] = {
        [TCPS_CLOSED] = 7, [TCPS_LISTEN] = 10, [TCPS_SYN_SENT] = 2, [TCPS_SYN_RECEIVED] = 3,
        [TCPS_ESTABLISHED] = 1, [TCPS_FIN_WAIT_1] = 4, [TCPS_FIN_WAIT_2] = 5,
        [TCPS_CLOSE_WAIT] = 8, [TCPS_CLOSING] = 11, [TCPS_LAST_ACK] = 9, [TCPS_TIME_WAIT] = 6,
    };
    return st < sizeof(map) ? map[st] : 7;
}

void tcp_get_info(const struct tcb *tp, struct ust_tcp_info *i)
{
    memset(i, 0, sizeof(*i));
    i->state = linux_state(tp->c.state);
    i->options = (uint8_t)((tp->ts_ok ? UST_TCPI_OPT_TIMESTAMPS : 0) |
                           (tp->sack_ok ? UST_TCPI_OPT_SACK : 0) |
                           (tp->wscale_ok ? UST_TCPI_OPT_WSCALE : 0));
    i->snd_wscale = tp->snd_wscale;
    i->rcv_wscale = tp->rcv_wscale;
    i->in_recovery = tp->in_recovery ? 1 : tp->rto_recovery ? 2 : 0;
    i->backoff = tp->backoff;
    i->retransmits = tp->retries;
    i->mss = tp->mss;
    i->rcv_mss = tp->rcv_mss;
    i->cwnd = tp->cwnd;
    i->ssthresh = tp->ssthresh;
    i->srtt_us = tp->srtt_us;
    i->rttvar_us = tp->rttvar_us;
    i->rto_us = tcp_rto_us(tp);
    i->min_rtt_us = tp->min_rtt_us;
    i->snd_wnd = tp->snd_wnd;
    i->rcv_wnd = tp->rcv_wnd;
    i->unacked = tp->snd_nxt - tp->snd_una;
    i->sacked = tp->sacked_bytes;
    i->lost = tp->lost_bytes > tp->retrans_bytes ? tp->lost_bytes - tp->retrans_bytes : 0;
    i->retrans = tp->retrans_bytes;
    i->total_retrans = tp->total_retrans;
    i->unsent = tp->write_seq - tp->snd_nxt;
    i->unread = tp->rcv_queued;
    i->bytes_acked = tp->bytes_acked;
    i->bytes_received = tp->bytes_received;
    i->segs_out = tp->segs_out;
    i->segs_in = tp->segs_in;
    snprintf(i->congestion, sizeof(i->congestion), "%s", tp->cc->name);
}

/* ---- ICMP errors (RFC 1122 4.2.3.9, RFC 5927) ---- */

/* RFC 1191 / RFC 5927 7.2: lower the MSS if the quoted sequence number is one we have sent
 * and not had acknowledged, and the MTU is plausible; resend what no longer fits. */
static void pmtu_update(struct tcb *tp, uint32_t seq, uint32_t mtu)
{
    struct tcp_ctrs *c = tcp_counters(tp->stack);
    if (!seq_in(seq, tp->snd_una, tp->snd_nxt) || mtu < PMTU_MIN ||
        mtu >= ipv4_max_unfragmented(&tp->rt) + IPV4_HDR_LEN) {
        c->pmtu_ignored++;
        return;
    }
    uint32_t mss = mtu - IPV4_HDR_LEN - TCP_HDR_LEN - (tp->ts_ok ? 12 : 0);
    if (mss >= tp->mss) {
        c->pmtu_ignored++;
        return;
    }
    c->pmtu_updates++;
    tp->mss = (uint16_t)mss;
    /* Everything in flight that is now too big is lost (RFC 1191 6.5): resend it smaller. */
    for (struct pkt *p = tp->snd_head; p && p != tp->send_head; p = p->next) {
        struct tcp_seg_cb *cb = seg_cb(p);
        if (cb->len > mss && !(cb->flags & (SEG_LOST | SEG_SACKED))) {
            cb->flags |= SEG_LOST;
            tp->lost_bytes += cb->end_seq - cb->seq;
        }
    }
    tcp_output(tp);
}

void tcp_err(struct ust_stack *s, const struct ipv4_repr *quoted, uint8_t type, uint8_t code,
             uint32_t info)
{
    struct tcp_repr q;
    if (tcp_parse_quoted(quoted->payload, quoted->payload_len, &q) != 0)
        return;
    uint32_t seq = q.seq;
    struct tcp_conn *c = tcp_ehash_lookup(s, quoted->src, q.sport, quoted->dst, q.dport);
    if (!c || c->compact)
        return;
    struct tcb *tp = (struct tcb *)c;
    if (type == ICMP_DEST_UNREACH && code == ICMP_FRAG_NEEDED) {
        pmtu_update(tp, seq, info & 0xffff);
        return;
    }
    int err = icmp_errno(type, code);
    /* RFC 5927 4.1: ignore errors whose sequence number is not in flight. */
    if (!err || !seq_in(seq, tp->snd_una, tp->snd_nxt == tp->snd_una ? tp->snd_una + 1
                                                                       : tp->snd_nxt))
        return;
    /* RFC 1122 4.2.3.9: soft errors during a connection only inform; during the handshake
     * Linux fails a SYN_SENT connection on port or protocol unreachable (hard errors). */
    if (tp->c.state == TCPS_SYN_SENT && (err == ECONNREFUSED || err == ENOPROTOOPT)) {
        tcp_counters(s)->attempt_fails++;
        tcp_abort(tp, ECONNREFUSED);
        return;
    }
    tp->soft_error = err;
}
