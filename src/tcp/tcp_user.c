/*
 * The calls sockets make on TCP (see tcp.h): RFC 9293 3.10.1 - 3.10.6 (OPEN, SEND, RECEIVE,
 * CLOSE, ABORT, STATUS) in the shape Linux gives them, with Linux's errno for each misuse.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>

#include "base/log.h"
#include "net/stack.h"
#include "tcp/table.h"
#include "tcp/tcb.h"
#include "ustack/ustack.h"

#define TCP_MIN_USER_MSS 88      /* Linux's TCP_MIN_MSS for TCP_MAXSEG */
#define TCP_MAX_USER_MSS 32767

struct tcb *tcp_create(struct ust_stack *s, tcp_notify_fn *notify, void *owner)
{
    struct tcb *tp = tcb_alloc(s);
    if (tp) {
        tp->notify = notify;
        tp->owner = owner;
    }
    return tp;
}

void tcp_set_owner(struct tcb *tp, tcp_notify_fn *notify, void *owner)
{
    tp->notify = notify;
    tp->owner = owner;
}

int tcp_linger_seconds(const struct tcb *tp)
{
    return tp->linger_on ? (int)tp->linger_s : -1;
}

enum tcp_state tcp_state(const struct tcb *tp)
{
    return (enum tcp_state)tp->c.state;
}

int tcp_take_error(struct tcb *tp)
{
    int e = tp->error;
    tp->error = 0;
    return e;
}

/* ---- Opening ---- */

int tcp_listen(struct tcb *tp, int backlog)
{
    struct ust_stack *s = tp->stack;
    uint32_t max = s->cfg.somaxconn;
    /* Linux: a backlog above somaxconn (or negative) is somaxconn; room for backlog + 1. */
    uint32_t b = (backlog < 0 || (uint32_t)backlog > max) ? max : (uint32_t)backlog;
    if (tp->c.state == TCPS_LISTEN) {
        tp->backlog = (uint16_t)(b + 1);
        return 0;
    }
    if (tp->c.state != TCPS_CLOSED || tp->done)
        return -EINVAL;
    if (!tp->c.lport) {
        int err = tcp_bind(tp, 0, 0);
        if (err)
            return err;
    }
    /* Two listeners on one address and port only with SO_REUSEPORT on both. */
    for (struct tcb *o = tcp_listeners(s, tp->c.lport); o; o = o->listen_next) {
        if ((o->c.laddr == 0 || tp->c.laddr == 0 || o->c.laddr == tp->c.laddr) &&
            !(tp->reuseport && o->reuseport))
            return -EADDRINUSE;
    }
    tp->backlog = (uint16_t)(b + 1);
    tcp_set_state(tp, TCPS_LISTEN);
    return 0;
}

int tcp_connect(struct tcb *tp, uint32_t addr, uint16_t port)
{
    struct ust_stack *s = tp->stack;
    switch (tp->c.state) {
    case TCPS_CLOSED:
        if (tp->done)
            return -EISCONN;   /* Linux: a socket that was connected cannot connect again */
        break;
    case TCPS_SYN_SENT:
    case TCPS_SYN_RECEIVED:
        return -EALREADY;
    default:
        return -EISCONN;
    }
    if (addr == 0)
        addr = s->ifaces[0].addr;   /* Linux: INADDR_ANY means this host */
    if (ipv4_route(s, addr, &tp->rt) != 0 || tp->rt.broadcast || (addr >> 28) == 14)
        return -ENETUNREACH;
    if (!tp->c.laddr)
        tp->c.laddr = tp->rt.src;
    if (!tp->c.lport) {
        uint16_t p;
        int err = tcp_pick_port(s, tp, addr, port, &p);
        if (err)
            return err;
        tp->c.lport = p;
    } else if (tcp_ehash_lookup(s, tp->c.laddr, tp->c.lport, addr, port)) {
        return -EADDRNOTAVAIL;
    }
    /* With its peer set, the socket moves behind the port's unconnected entries (a bound one
     * was among them: tcp_bhash_insert keeps listeners first). */
    tcp_bhash_remove(s, &tp->c);
    tp->c.raddr = addr;
    tp->c.rport = port;
    tcp_bhash_insert(s, &tp->c);
    tp->iss = tcp_isn(s, tp->c.laddr, tp->c.lport, addr, port);
    tp->snd_una = tp->iss;
    tp->snd_nxt = tp->iss + 1;
    tp->write_seq = tp->iss + 1;
    tp->snd_wl1 = tp->snd_wl2 = 0;
    tp->adv_mss = (uint16_t)(ipv4_max_unfragmented(&tp->rt) - TCP_HDR_LEN);
    if (tp->user_mss && tp->user_mss < tp->adv_mss)
        tp->adv_mss = tp->user_mss;
    tp->rcv_wscale = s->cfg.tcp_window_scaling ? tcp_choose_wscale(s) : 0;
    tp->ts_offset = tcp_ts_offset(s, tp->c.laddr, addr);
    tcp_set_state(tp, TCPS_SYN_SENT);
    tcp_ehash_insert(s, &tp->c);
    tcp_counters(s)->active_opens++;
    tcp_send_syn(tp);
    tcp_arm_rtx(tp);
    return 0;
}

/* ---- Sending ---- */

static bool send_allowed(struct tcb *tp, ssize_t *err)
{
    if (tp->error) {
        *err = -tcp_take_error(tp);
        return false;
    }
    if ((tp->shutdown & TCP_SHUT_WR) || tp->fin_queued || tp->done) {
        *err = -EPIPE;
        return false;
    }
    switch (tp->c.state) {
    case TCPS_ESTABLISHED:
    case TCPS_CLOSE_WAIT:
        return true;
    case TCPS_SYN_SENT:
    case TCPS_SYN_RECEIVED:
        *err = -EAGAIN;   /* the socket layer waits for the handshake */
        return false;
    default:
        /* Never connected (CLOSED), listening, or closing: EPIPE, as Linux's
         * sk_stream_wait_connect (checked on Linux 6.18), not POSIX's ENOTCONN. */
        *err = -EPIPE;
        return false;
    }
}

/* The stack's socket memory is at mem_max and this connection has something queued already
 * (net/sockmem.h): no new segment until memory is freed. */
static bool mem_holds_send(const struct tcb *tp)
{
    return tp->snd_head && !tcp_mem_may_grow(tp, pkt_pool_buf_size(tp->stack->pool));
}

ssize_t tcp_send(struct tcb *tp, const struct iovec *iov, size_t iovcnt, int flags)
{
    ssize_t err;
    if (!send_allowed(tp, &err))
        return err;
    size_t total = 0;
    for (size_t i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    if (total == 0)
        return 0;
    size_t queued = tcp_queue_data(tp, iov, iovcnt, 0, total);
    if (queued == 0) {
        if (tp->snd_queued < tp->sndbuf && mem_holds_send(tp))
            tp->stack->mem.ctrs.tcp_send_limited++;   /* it waits for memory, not buffer */
        return -EAGAIN;
    }
    if (!(flags & MSG_MORE))
        tcp_output(tp);
    return (ssize_t)queued;
}

/* ---- Receiving ---- */

/* After the user read data: tell the peer when the window has grown enough to matter
 * (RFC 1122 4.2.3.3: by at least min(buffer / 2, MSS) beyond what we advertised). */
static void maybe_window_update(struct tcb *tp)
{
    uint32_t used = tp->rcv_queued + tp->ooo_bytes;
    uint32_t space = used < tp->rcvbuf ? tp->rcvbuf - used : 0;
    uint32_t advertised = tp->rcv_adv - tp->rcv_nxt;
    uint32_t step = tp->rcvbuf / 2 < tp->adv_mss ? tp->rcvbuf / 2 : tp->adv_mss;
    if (space > advertised && space - advertised >= step &&
        (advertised < tp->rcvbuf / 2 || advertised < 2u * tp->adv_mss))
        tp->ack_now = true;
}

static size_t copy_out(struct tcb *tp, const struct iovec *iov, size_t iovcnt, bool peek)
{
    size_t done = 0, iv = 0, iv_off = 0;
    struct pkt *p = tp->rcv_head;
    uint32_t p_off = 0;
    while (p && iv < iovcnt) {
        size_t n = p->len - p_off;
        size_t room = iov[iv].iov_len - iv_off;
        if (n > room)
            n = room;
        memcpy((uint8_t *)iov[iv].iov_base + iv_off, p->data + p_off, n);
        done += n;
        iv_off += n;
        p_off += (uint32_t)n;
        if (iv_off == iov[iv].iov_len) {
            iv++;
            iv_off = 0;
        }
        if (p_off == p->len) {
            struct pkt *next = p->next;
            if (!peek) {
                tp->rcv_head = next;
                tp->rcv_mem -= pkt_buf_size(p);
                pkt_free(p);
            }
            p = next;
            p_off = 0;
        }
    }
    if (!peek) {
        if (p && p_off)
            pkt_pull(p, p_off);
        if (!tp->rcv_head)
            tp->rcv_tail = NULL;
        tp->rcv_queued -= (uint32_t)done;
    }
    return done;
}

ssize_t tcp_recv(struct tcb *tp, const struct iovec *iov, size_t iovcnt, int flags)
{
    if (tp->c.state == TCPS_LISTEN)
        return -ENOTCONN;
    if (tp->rcv_head) {
        size_t n = copy_out(tp, iov, iovcnt, flags & MSG_PEEK);
        if (!(flags & MSG_PEEK)) {
            tcp_mem_sync(tp);
            maybe_window_update(tp);
            if (tp->ack_now)
                tcp_output(tp);
        }
        return (ssize_t)n;
    }
    if (tp->error)
        return -tcp_take_error(tp);
    if (tp->fin_received || (tp->shutdown & TCP_SHUT_RD) || tp->done)
        return 0;   /* end of stream */
    if (tp->c.state == TCPS_CLOSED)
        return -ENOTCONN;
    return -EAGAIN;
}

/* ---- Closing ---- */

/* Our FIN and the state it leads to (RFC 9293 3.10.4). Returns false if the connection was
 * aborted instead (no buffer for the FIN): an orphan's tcb is then freed. */
static bool send_fin(struct tcb *tp)
{
    if (tp->fin_queued)
        return true;
    switch (tp->c.state) {
    case TCPS_SYN_RECEIVED:
    case TCPS_ESTABLISHED:
        tcp_set_state(tp, TCPS_FIN_WAIT_1);
        break;
    case TCPS_CLOSE_WAIT:
        tcp_set_state(tp, TCPS_LAST_ACK);
        break;
    default:
        return true;
    }
    if (!tcp_queue_fin(tp)) {
        tcp_send_rst_for(tp);   /* no buffer even for a FIN: abort rather than hang */
        tcp_abort(tp, ENOBUFS);
        return false;
    }
    tcp_output(tp);
    return true;
}

int tcp_shutdown(struct tcb *tp, int how)
{
    uint8_t st = tp->c.state;
    if (st == TCPS_CLOSED && !tp->done)
        return -ENOTCONN;
    if (st == TCPS_LISTEN) {
        /* Linux: shutting down a listener stops it listening. */
        tcp_done(tp);
        return 0;
    }
    if (how == SHUT_RD || how == SHUT_RDWR)
        tp->shutdown |= TCP_SHUT_RD;
    if (how == SHUT_WR || how == SHUT_RDWR) {
        tp->shutdown |= TCP_SHUT_WR;
        if (st == TCPS_SYN_SENT) {
            tcp_done(tp);
            return 0;
        }
        send_fin(tp);
    }
    tcp_notify(tp);
    return 0;
}

void tcp_close(struct tcb *tp)
{
    tp->notify = NULL;
    tp->owner = NULL;
    tcp_orphan(tp);
    uint8_t st = tp->c.state;
    if (st == TCPS_CLOSED || st == TCPS_LISTEN || st == TCPS_SYN_SENT) {
        tcp_done(tp);
        return;
    }
    if (st == TCPS_TIME_WAIT) {
        /* Only TIME_WAIT's duties are left: a compact entry does them (and the connection is
         * no longer counted as one, as a closed Linux socket in TIME_WAIT). */
        tcp_time_wait_closed(tp);
        return;
    }
    /* Too many connections closing already (tcp_max_orphans): as Linux's tcp_close with
     * tcp_check_oom, this one is reset instead of finishing, so that closed connections whose
     * peers never answer cannot pile up without bound. */
    bool too_many = tp->stack->tcp->orphans > tp->stack->cfg.tcp_max_orphans;
    if (too_many)
        tcp_counters(tp->stack)->orphan_aborts++;
    /* RFC 2525 2.17 and Linux: closing with unread data, or with SO_LINGER and a zero
     * timeout, aborts: an RST tells the peer its data was not consumed. */
    if (too_many || tp->rcv_queued || (tp->linger_on && tp->linger_s == 0)) {
        tcp_send_rst_for(tp);
        if (st == TCPS_ESTABLISHED || st == TCPS_CLOSE_WAIT)
            tcp_counters(tp->stack)->estab_resets++;
        tcp_done(tp);
        return;
    }
    if (!send_fin(tp))
        return;   /* aborted and freed */
    if (tp->c.state == TCPS_FIN_WAIT_2)
        timer_arm(&tp->stack->wheel, &tp->keep_timer,
                  tp->stack->now + (uint64_t)tp->stack->cfg.tcp_fin_timeout_s * NS_PER_SEC);
}

bool tcp_close_pending(const struct tcb *tp)
{
    uint8_t st = tp->c.state;
    return st == TCPS_FIN_WAIT_1 || st == TCPS_CLOSING || st == TCPS_LAST_ACK;
}

/* ---- Readiness (Linux's tcp_poll) ---- */

static bool writable(const struct tcb *tp)
{
    /* Linux's sk_stream_is_writeable: free space at least half of what is queued. */
    uint32_t free_space = tp->snd_queued < tp->sndbuf ? tp->sndbuf - tp->snd_queued : 0;
    if (mem_holds_send(tp))
        return false;   /* mem_max reached: as Linux, whose sk_stream_moderate_sndbuf then
                         * shrinks SO_SNDBUF to what is queued (here it stays as set) */
    return free_space > 0 && free_space >= tp->snd_queued / 2;
}

unsigned tcp_poll_events(const struct tcb *tp)
{
    uint8_t st = tp->c.state;
    if (st == TCPS_LISTEN)
        return tp->accept_head ? POLLIN | POLLRDNORM : 0;
    unsigned ev = 0;
    bool rd_shut = tp->fin_received || (tp->shutdown & TCP_SHUT_RD) || tp->done;
    bool wr_shut = (tp->shutdown & TCP_SHUT_WR) || tp->done;
    if ((rd_shut && wr_shut) || st == TCPS_CLOSED)
        ev |= POLLHUP;
    if (rd_shut)
        ev |= POLLIN | POLLRDNORM | POLLRDHUP;
    if (st != TCPS_SYN_SENT && st != TCPS_SYN_RECEIVED) {
        if (tp->rcv_head)
            ev |= POLLIN | POLLRDNORM;
        if (wr_shut || writable(tp))
            ev |= POLLOUT | POLLWRNORM;
    }
    if (tp->error)
        ev |= POLLERR;
    return ev;
}

/* ---- Addresses and sizes ---- */

void tcp_local(const struct tcb *tp, uint32_t *addr, uint16_t *port)
{
    *addr = tp->c.laddr;
    *port = tp->c.lport;
}

bool tcp_peer(const struct tcb *tp, uint32_t *addr, uint16_t *port)
{
    uint8_t st = tp->c.state;
    if (st == TCPS_CLOSED || st == TCPS_LISTEN || st == TCPS_SYN_SENT)
        return false;
    *addr = tp->c.raddr;
    *port = tp->c.rport;
    return true;
}

uint32_t tcp_readable_bytes(const struct tcb *tp)
{
    return tp->rcv_queued;
}

uint32_t tcp_unsent_bytes(const struct tcb *tp)
{
    /* Data bytes only: our FIN takes a sequence number but is not data, and once it is
     * acknowledged (snd_una == write_seq) there is nothing left to subtract it from. */
    uint32_t n = tp->write_seq - tp->snd_una;
    return tp->fin_queued && n ? n - 1 : n;
}

void tcp_set_buffers(struct tcb *tp, uint32_t rcvbuf, uint32_t sndbuf)
{
    /* Linux stores twice what was asked (for bookkeeping) and windows about half of that:
     * the payload we hold is the amount asked for. */
    if (rcvbuf)
        tp->rcvbuf = rcvbuf / 2;
    if (sndbuf)
        tp->sndbuf = sndbuf / 2;
}

void tcp_get_buffers(const struct tcb *tp, uint32_t *rcvbuf, uint32_t *sndbuf)
{
    *rcvbuf = tp->rcvbuf * 2;
    *sndbuf = tp->sndbuf * 2;
}

int tcp_set_ip_options(struct tcb *tp, int ttl, int tos)
{
    if (ttl != -2)
        tp->ttl = ttl == -1 ? 0 : (uint8_t)ttl;
    if (tos != -2)
        tp->tos = (uint8_t)tos;
    return 0;
}

void tcp_set_reuse(struct tcb *tp, bool reuseaddr, bool reuseport)
{
    tp->reuseaddr = reuseaddr;
    tp->reuseport = reuseport;
}
