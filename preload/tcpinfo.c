/*
 * getsockopt(TCP_INFO) on a ustack socket: Linux's struct tcp_info (linux/tcp.h), filled from
 * ust_tcp_info. Fields ustack does not track are zero. As Linux, at most *len bytes are written
 * and *len says how many.
 */
#include <linux/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include "pl.h"

/* Linux's tcp_ca_state numbers. */
enum { CA_OPEN = 0, CA_RECOVERY = 3, CA_LOSS = 4 };

static uint32_t segs(uint32_t bytes, uint32_t mss)
{
    return mss ? (bytes + mss - 1) / mss : 0;
}

int pl_get_tcp_info(int fd, void *val, socklen_t *len)
{
    struct ust_tcp_info u;
    if (!val || !len) {
        errno = EFAULT;
        return -1;
    }
    if ((int)*len < 0) {
        errno = EINVAL;
        return -1;
    }
    if (ust_tcp_info(fd, &u) < 0)
        return -1;
    struct tcp_info t;
    memset(&t, 0, sizeof(t));
    uint32_t mss = u.mss ? u.mss : 536;
    t.tcpi_state = u.state;
    t.tcpi_ca_state = u.in_recovery == 1 ? CA_RECOVERY : u.in_recovery == 2 ? CA_LOSS : CA_OPEN;
    t.tcpi_retransmits = (uint8_t)u.retransmits;
    t.tcpi_backoff = u.backoff;
    if (u.options & UST_TCPI_OPT_TIMESTAMPS)
        t.tcpi_options |= TCPI_OPT_TIMESTAMPS;
    if (u.options & UST_TCPI_OPT_SACK)
        t.tcpi_options |= TCPI_OPT_SACK;
    if (u.options & UST_TCPI_OPT_WSCALE) {
        t.tcpi_options |= TCPI_OPT_WSCALE;
        t.tcpi_snd_wscale = u.snd_wscale & 15;
        t.tcpi_rcv_wscale = u.rcv_wscale & 15;
    }
    t.tcpi_rto = u.rto_us;
    t.tcpi_snd_mss = u.mss;
    t.tcpi_rcv_mss = u.rcv_mss;
    t.tcpi_advmss = u.mss;
    /* Linux counts these in segments. */
    t.tcpi_unacked = segs(u.unacked, mss);
    t.tcpi_sacked = segs(u.sacked, mss);
    t.tcpi_lost = segs(u.lost, mss);
    t.tcpi_retrans = segs(u.retrans, mss);
    t.tcpi_rtt = u.srtt_us;
    t.tcpi_rttvar = u.rttvar_us;
    t.tcpi_snd_ssthresh = u.ssthresh >= 0x7fffffffu ? 0x7fffffffu : segs(u.ssthresh, mss);
    t.tcpi_snd_cwnd = segs(u.cwnd, mss);
    t.tcpi_rcv_space = u.rcv_wnd;
    t.tcpi_rcv_ssthresh = u.rcv_wnd;
    t.tcpi_total_retrans = u.total_retrans;
    t.tcpi_bytes_acked = u.bytes_acked;
    t.tcpi_bytes_received = u.bytes_received;
    t.tcpi_segs_out = (uint32_t)u.segs_out;
    t.tcpi_segs_in = (uint32_t)u.segs_in;
    t.tcpi_notsent_bytes = u.unsent;
    t.tcpi_min_rtt = u.min_rtt_us;
    t.tcpi_snd_wnd = u.snd_wnd;
    socklen_t n = *len < (socklen_t)sizeof(t) ? *len : (socklen_t)sizeof(t);
    memcpy(val, &t, n);
    *len = n;
    return 0;
}
