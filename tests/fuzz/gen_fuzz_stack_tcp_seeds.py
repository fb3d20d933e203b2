#!/usr/bin/env python3
"""Writes fuzz_stack's TCP seed inputs (corpus/fuzz_stack/tcp_*): each drives one of the
connections fuzz_stack_tcp.c keeps (see its header comment for the operations' bytes) through a
state or a rule. Run from anywhere; the files are committed, so run it again only after changing
the operations' encoding."""
import os
import struct

OP_ADVANCE, OP_DRAIN = 7, 14
OP_TCP_SEG, OP_TCP_ICMP, OP_TCP_CALL, OP_TCP_FLOOD = 15, 16, 17, 18
(SYN_SENT, SYN_RCVD, EST_CLIENT, EST_SERVER, FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT, LAST_ACK,
 CLOSING, TIME_WAIT) = range(10)
AUX0, LISTENER = 10, 16
FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 1, 2, 4, 8, 16, 32, 64, 128
# sequence modes: in order, ahead, old, window edge, far, half space, peer ISN, raw
S_INORDER, S_AHEAD, S_OLD, S_EDGE, S_FAR, S_HALF, S_IRS, S_RAW = range(8)
# acknowledgment modes: all, last acked, part, beyond, old, ISS + d, half space, raw
A_ALL, A_UNA, A_PART, A_BEYOND, A_OLD, A_ISS, A_HALF, A_RAW = range(8)
# calls
C_SEND, C_RECV, C_SHUT, C_CLOSE, C_ABORT, C_SETOPT, C_INFO, C_CONNECT, C_REMAKE, C_SENDRECV = range(10)


def u16(v):
    return struct.pack(">H", v & 0xffff)


def u32(v):
    return struct.pack(">I", v & 0xffffffff)


def seg(conn, flags, smode=S_INORDER, amode=A_ALL, plen=0, sd=0, ad=0, mss=None, ws=None,
        sackp=False, ts=None, sack=None, raw=None, win=None, bad=False, seq=None, ack=None):
    o = 0
    tail = b""
    if mss is not None:
        o |= 1
        tail += u16(mss)
    if ws is not None:
        o |= 2
        tail += bytes([ws])
    if sackp:
        o |= 4
    if ts is not None:   # (mode, delta)
        o |= 8
        tail += bytes([ts[0]]) + u16(ts[1])
    if sack is not None:   # [(base mode, offset, length)]
        o |= 16
        tail += bytes([len(sack) - 1])
        for bm, off, ln in sack:
            tail += bytes([bm]) + u16(off) + u16(ln)
    if raw is not None:
        o |= 32
        tail += bytes([len(raw)]) + raw
    if win == 0:
        o |= 0x40
    elif win is not None:
        o |= 0x80
        tail += u16(win)
    m = smode | amode << 3 | (0x40 if bad else 0)
    b = bytes([OP_TCP_SEG, conn, flags, m, o]) + u16(plen) + u16(sd) + u16(ad) + tail
    if smode == S_RAW:
        b += u32(seq)
    if amode == A_RAW:
        b += u32(ack)
    return b


def call(sel, c, arg=0, b=0):
    return bytes([OP_TCP_CALL, sel, c]) + u16(arg) + bytes([b])


def icmp(conn, kind, mtu_index=0, qmode=0, full=False):
    return bytes([OP_TCP_ICMP, conn, kind | qmode << 3 | (0x40 if full else 0)]) + u16(mtu_index)


def advance_ms(ms):
    return bytes([OP_ADVANCE, 1]) + u16(ms)


def next_timer(n=1):
    return (bytes([OP_ADVANCE, 3]) + u16(0)) * n


def drain():
    return bytes([OP_DRAIN])


def flood(n, complete=False, data=False, ts=False, accept=False):
    return bytes([OP_TCP_FLOOD, n - 1,
                  (1 if complete else 0) | (2 if data else 0) | (4 if ts else 0) |
                  (16 if accept else 0)])


SEEDS = {
    # Handshakes the fuzzer completes itself.
    "tcp_syn_sent_synack": seg(SYN_SENT, SYN | ACK, S_IRS, A_ISS, ad=1, mss=1460, ws=7, sackp=True) + drain(),
    "tcp_syn_sent_rst": seg(SYN_SENT, RST | ACK, S_IRS, A_ISS, ad=1) + drain(),
    "tcp_syn_sent_timeout": next_timer(8) + drain(),
    "tcp_syn_rcvd_ack_accept": seg(SYN_RCVD, ACK, amode=A_ALL) + call(LISTENER, 0) + drain(),
    "tcp_syn_rcvd_rst": seg(SYN_RCVD, RST, amode=A_ALL) + drain(),
    # Data both ways, in order, out of order (reassembly, SACK blocks we send), overlaps.
    "tcp_est_client_data": call(EST_CLIENT, C_SEND, 3000, 1) + drain() + seg(EST_CLIENT, ACK | PSH, plen=500)
        + call(EST_CLIENT, C_RECV, 65535) + drain(),
    "tcp_est_server_ooo": seg(EST_SERVER, ACK, S_AHEAD, plen=300, sd=600) + seg(EST_SERVER, ACK, S_AHEAD, plen=300, sd=100)
        + seg(EST_SERVER, ACK | PSH, plen=700) + call(EST_SERVER, C_RECV, 4000) + drain(),
    "tcp_est_overlap_old": seg(EST_CLIENT, ACK, plen=400) + seg(EST_CLIENT, ACK, S_OLD, plen=600, sd=199) + drain(),
    "tcp_est_window_edge": seg(EST_SERVER, ACK, S_EDGE, plen=100, sd=1) + seg(EST_SERVER, ACK, S_EDGE, plen=1, sd=4) + drain(),
    "tcp_est_far_and_wrap": seg(EST_CLIENT, ACK, S_FAR, plen=10) + seg(EST_CLIENT, ACK, S_HALF, plen=10)
        + seg(EST_CLIENT, ACK | RST, S_HALF) + drain(),
    # RFC 5961: in-window RST and SYN get challenge ACKs; an exact RST resets.
    "tcp_est_rst_in_window": seg(EST_SERVER, RST, S_AHEAD, sd=10) + seg(EST_SERVER, SYN, S_AHEAD, sd=5) + drain(),
    "tcp_est_rst_exact": seg(EST_CLIENT, RST) + drain() + call(EST_CLIENT, C_RECV, 100),
    "tcp_est_ack_unsent": seg(EST_CLIENT, ACK, amode=A_BEYOND, ad=1000) + seg(EST_CLIENT, ACK, amode=A_OLD) + drain(),
    # Loss recovery: data out, the peer SACKs parts of it, duplicate ACKs, then the RTO.
    "tcp_sack_recovery": call(EST_CLIENT, C_SEND, 6000, 1) + drain()
        + seg(EST_CLIENT, ACK, amode=A_UNA, sack=[(0, 1400, 1400)])
        + seg(EST_CLIENT, ACK, amode=A_UNA, sack=[(0, 1400, 1400)])
        + seg(EST_CLIENT, ACK, amode=A_UNA, sack=[(0, 1400, 2800)])
        + seg(EST_CLIENT, ACK, amode=A_UNA, sack=[(0, 1400, 4200), (1, 0, 0)])
        + drain() + next_timer(2) + seg(EST_CLIENT, ACK, amode=A_ALL) + drain(),
    "tcp_sack_blocks_wild": call(EST_SERVER, C_SEND, 4000, 1) + drain()
        + seg(EST_SERVER, ACK, amode=A_UNA, sack=[(1, 100, 50), (2, 0, 5000), (4, 300, 10), (8 | 0, 1, 2000)])
        + drain(),
    # Without SACK (the remade EST_SERVER's peer offers no options): NewReno's partial ACK.
    "tcp_reno_recovery_partial_ack": call(EST_SERVER, C_REMAKE) + call(EST_SERVER, C_SEND, 6000, 1) + drain()
        + seg(EST_SERVER, ACK, amode=A_UNA) * 5 + drain() + seg(EST_SERVER, ACK, amode=A_PART, ad=536)
        + seg(EST_SERVER, ACK, amode=A_PART, ad=1600) + seg(EST_SERVER, ACK) + drain(),
    "tcp_newreno_module": call(EST_CLIENT, C_SETOPT, 14 | 1 << 4) + call(EST_CLIENT, C_SEND, 5000, 1) + drain()
        + seg(EST_CLIENT, ACK, amode=A_PART, ad=1400) + seg(EST_CLIENT, ACK, amode=A_UNA) * 4
        + seg(EST_CLIENT, ACK) + drain(),
    "tcp_rto_until_death": call(EST_SERVER, C_SEND, 2000, 1) + next_timer(12) + drain(),
    # Zero window: persist probes; the window opens again.
    "tcp_zero_window_persist": seg(EST_CLIENT, ACK, win=0) + call(EST_CLIENT, C_SEND, 2000, 1) + next_timer(4)
        + seg(EST_CLIENT, ACK, win=65535) + drain(),
    "tcp_receive_window_full": seg(EST_SERVER, ACK, plen=1460) + seg(EST_SERVER, ACK, S_AHEAD, plen=1460, sd=1460)
        + seg(EST_SERVER, ACK, S_AHEAD, plen=1460, sd=2920) + seg(EST_SERVER, ACK, S_AHEAD, plen=1460, sd=4380)
        + seg(EST_SERVER, ACK, S_AHEAD, plen=1460, sd=5840) + drain() + call(EST_SERVER, C_RECV, 3000) + drain(),
    # Timestamps: PAWS drops an old one; a far one; timestamps on a connection without them.
    "tcp_ts_paws": seg(EST_SERVER, ACK, plen=10, ts=(0, 5)) + seg(EST_SERVER, ACK, plen=10, ts=(2, 1000)) + drain(),
    "tcp_ts_far_and_echo": seg(EST_SERVER, ACK, plen=10, ts=(3, 2)) + seg(EST_SERVER, ACK, ts=(4, 7)) + drain(),
    # Malformed and odd options, every flag, a bad checksum.
    "tcp_bad_options": seg(EST_CLIENT, ACK, raw=bytes([5, 3, 0, 8, 1, 0])) + seg(EST_CLIENT, ACK, raw=bytes([2, 40]))
        + seg(EST_CLIENT, ACK, raw=bytes([8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 3, 3, 99])) + drain(),
    "tcp_all_flags": seg(EST_SERVER, 0xff) + seg(SYN_RCVD, 0xff) + seg(TIME_WAIT, 0xff) + seg(LAST_ACK, 0) + drain(),
    "tcp_bad_checksum": seg(EST_CLIENT, ACK | PSH, plen=100, bad=True) + drain(),
    "tcp_urg_ece_cwr": seg(EST_SERVER, ACK | URG | PSH, plen=50, sd=0) + seg(EST_SERVER, ACK | ECE | CWR, plen=50) + drain(),
    # Closing: each state's next step.
    "tcp_fin_wait_1_acked": seg(FIN_WAIT_1, ACK) + drain(),
    "tcp_fin_wait_1_fin": seg(FIN_WAIT_1, FIN | ACK, amode=A_UNA) + drain() + advance_ms(3000),
    "tcp_fin_wait_2_fin": seg(FIN_WAIT_2, FIN | ACK, plen=20) + drain() + call(FIN_WAIT_2, C_RECV, 100),
    "tcp_fin_wait_2_timeout": next_timer(6) + drain(),
    "tcp_close_wait_close": call(CLOSE_WAIT, C_RECV, 100) + call(CLOSE_WAIT, C_CLOSE) + drain() + seg(CLOSE_WAIT, ACK) + drain(),
    "tcp_last_ack_acked": seg(LAST_ACK, ACK) + drain(),
    "tcp_last_ack_rtx": next_timer(5) + drain(),
    "tcp_closing_acked": seg(CLOSING, ACK) + drain(),
    "tcp_time_wait_fin_again": seg(TIME_WAIT, FIN | ACK, S_OLD, sd=0) + drain() + advance_ms(2500) + drain(),
    "tcp_time_wait_syn_recycle": seg(TIME_WAIT, SYN, S_AHEAD, sd=1000) + drain(),
    "tcp_time_wait_rst": seg(TIME_WAIT, RST) + drain(),
    # Socket calls: shutdowns, SO_LINGER 0, options, keepalive, Nagle and cork.
    "tcp_shutdown_both": call(EST_SERVER, C_SHUT, 2) + call(EST_CLIENT, C_SHUT, 0) + drain() + seg(EST_SERVER, FIN | ACK) + drain(),
    "tcp_linger0_close": call(EST_CLIENT, C_SEND, 100, 1) + call(EST_CLIENT, C_ABORT) + drain(),
    "tcp_close_with_unread": seg(EST_SERVER, ACK | PSH, plen=100) + call(EST_SERVER, C_CLOSE) + drain(),
    "tcp_keepalive": call(EST_CLIENT, C_SETOPT, 2 | 1 << 4) + call(EST_CLIENT, C_SETOPT, 3 | 1 << 4)
        + call(EST_CLIENT, C_SETOPT, 5 | 1 << 4) + advance_ms(1500) * 4 + drain(),
    "tcp_nodelay_cork": call(EST_SERVER, C_SETOPT, 1 | 1 << 4) + call(EST_SERVER, C_SEND, 100, 1) + call(EST_SERVER, C_SEND, 100, 1)
        + call(EST_SERVER, C_SETOPT, 1) + call(EST_SERVER, C_SETOPT, 0 | 1 << 4) + call(EST_SERVER, C_SEND, 10, 1) + drain(),
    "tcp_delayed_ack": seg(EST_CLIENT, ACK | PSH, plen=10) + advance_ms(20) + advance_ms(30) + drain(),
    "tcp_maxseg_buffers_info": call(EST_CLIENT, C_SETOPT, 6 | 100 << 4) + call(EST_CLIENT, C_SETOPT, 7 | 2 << 4)
        + call(EST_CLIENT, C_INFO, 0) + call(EST_CLIENT, C_INFO, 3) + call(EST_CLIENT, C_CONNECT) + drain(),
    "tcp_remake_all": b"".join(call(i, C_REMAKE) for i in range(10)) + drain(),
    # ICMP errors quoting live connections.
    "tcp_icmp_frag_needed": call(EST_CLIENT, C_SEND, 3000, 1) + icmp(EST_CLIENT, 0, 8) + icmp(EST_CLIENT, 0, 2)
        + icmp(EST_CLIENT, 0, 0) + drain(),
    "tcp_icmp_port_unreach_syn_sent": icmp(SYN_SENT, 1, qmode=2) + next_timer(2) + drain(),
    "tcp_icmp_errors_established": icmp(EST_SERVER, 2, qmode=1) + icmp(EST_SERVER, 5) + icmp(EST_SERVER, 7, qmode=5, full=True) + drain(),
    # The listener: SYN queue full, cookies, their completion, accept queue overflow.
    "tcp_syn_flood_cookies": flood(8, complete=True, ts=True) + call(LISTENER, 0) + drain(),
    "tcp_cookie_with_data": flood(6, complete=True, data=True, accept=True) + call(AUX0 + 3, C_RECV, 1000) + drain(),
    "tcp_listener_relisten_close": call(LISTENER, 1, 0) + flood(4) + call(LISTENER, 3) + drain(),
}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_stack")
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"{len(SEEDS)} seeds in {out}")


if __name__ == "__main__":
    main()
