#!/usr/bin/env python3
"""
Floods and resource exhaustion (issue 7, item 3): `ustack echo` over TAP, the attacker and a
legitimate client on the kernel's side, the legitimate traffic checked byte for byte (sha256)
while the attack goes on, and ustack's counters showing the defence at work. docs/security.md
("Floods and resource exhaustion") lists the defences and the figures.

Addresses: the kernel at .1 of the lab's /24, ustack at .2 with a /25 and the kernel as its
gateway, so that the attacker's forged sources (.128 - .254: the upper half of the lab's own
/24, which nothing owns) are reached through the kernel, which does not forward and drops
what ustack sends them. ustack has a fixed MAC, which the attacker's frames are addressed to.
The attacks are raw frames sent on the kernel's end of the TAP device: ust_flood
(tests/interop/flood.c, AF_PACKET + sendmmsg, bounded by count and time) for the floods,
python AF_PACKET sockets for the hand-made peers.

--group synflood    a SYN flood of at least 50,000 SYNs per second (measured: frames the flooder
                    handed the kernel, per second of flooding) from random forged sources and
                    ports, while a kernel client opens 1,000 connections at once, each echoing
                    its own 1,000 bytes (checked, and each one's sha256 matched with what ustack
                    echoed). ustack's SYN queue fills with the flood, then SYN cookies answer
                    (tcp.syncookies_sent), and all 1,000 legitimate connections are made from
                    cookies (tcp.syncookies_recv).
--group zerowindow  a peer that never reads and one that reads a byte every 10 ms make ustack's
                    echo fill its buffers: ustack holds at most its receive and send buffers
                    (measured from the kernel's side), probes the closed window with doubling
                    intervals (from ustack's pcap), and TCP_USER_TIMEOUT (3 s, `ustack echo
                    --user-timeout`) ends each connection (tcp.timeout_aborts); an 8 MiB echo
                    alongside is unharmed.
--group ooo         a forged peer on an established connection sends 20,000 one-byte segments,
                    each after a hole: the out-of-order queue stays within twice the receive
                    buffer of buffer memory (1,024 segments held, as ustack's SACK blocks show;
                    tcp.ooo_drops; the packet pool never runs dry); then it sends its 256 KiB
                    in order and gets exactly those bytes back; an 8 MiB echo alongside is
                    unharmed.
--group frag        overlapping fragments drop their whole datagram (ipv4.reasm_overlap; an exact
                    duplicate is dropped alone), then fragment floods of datagrams that never
                    complete fill the reassembly table (ipv4.reasm_over_count) and its memory
                    (ipv4.reasm_over_mem) while UDP datagrams (sha256 of all) and a 4 MiB TCP
                    echo go through unharmed; once the flood's datagrams time out, fragmented
                    datagrams are reassembled again.
"""
import hashlib
import json
import os
import re
import struct
import sys
import time

import netns
from netns import expect

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_tcp  # noqa: E402  (its kernel-side clients)

PORT = 5001                    # ustack echo's TCP and UDP port
USTACK_MAC = "02:75:73:74:00:02"
SYN_RATE = 50000               # SYNs per second the flood must reach
CONNS = 1000                   # legitimate connections during the SYN flood
CONN_BYTES = 1000
SYN_QUEUE = 4096               # tcp_max_syn_backlog and the echo's listen backlog
TCP_RMEM = TCP_WMEM = 1 << 20  # ustack's defaults (tcp_rmem, tcp_wmem)
ECHO_CHUNK = 65536             # bytes `ustack echo` reads at once (tools/tcp_serve.c)
USER_TIMEOUT_MS = 3000
LEGIT_BYTES = 8 << 20          # the echo that runs alongside an attack


# ---- set-up and ustack's counters

class Setup:
    """The TAP topology with ustack at .2/25 behind the kernel (.1) as its gateway."""

    def __init__(self, lab, flood_tool, link):
        self.lab, self.flood_tool = lab, flood_tool
        self.t = lab.ustack_topology(link)
        self.ns = self.t.kernel
        self.dev = self.t.kernel_dev
        r = self.ns.run(["cat", "/sys/class/net/%s/address" % self.dev], check=True, text=True)
        self.kernel_mac = r.stdout.strip()
        # What ustack sends to the forged sources reaches this namespace's kernel, which drops
        # it (no forwarding). On a veth that work runs in the sender's context, so it is
        # charged to ustack: keep it small by leaving out the early demultiplexing (a socket
        # lookup per segment). Standing in for a network that carries the replies away.
        self.ns.sysctl("net.ipv4.ip_early_demux", 0)
        self.forged = lab.addr(128)          # forged sources: .128 ...
        self.forged_count = 127              # ... .254
        self.pcap = None

    def start_echo(self, *extra, pcap=False):
        t = self.t
        name = t._name("echo")
        argv = [self.lab.ustack_path(), "echo", "--link", t.link, "--addr",
                "%s/25" % t.ustack_ip, "--gw", t.kernel_ip, "--mac", USTACK_MAC,
                "--port", PORT] + [str(a) for a in extra]
        if pcap:
            self.pcap = self.lab.pcap_path(name)
            argv.append("--pcap=" + self.pcap)
        t.forget_neighbours()
        return t.ustack_ns.spawn(argv, name=name, ready=r"^ustack echo: ready")

    def flood(self, mode, rate, seconds, count, *extra):
        argv = [self.flood_tool, "--ifname", self.dev, "--src-mac", self.kernel_mac,
                "--dst-mac", USTACK_MAC, "--dst", self.t.ustack_ip, "--src", self.forged,
                "--src-count", self.forged_count, "--mode", mode, "--dport", PORT,
                "--rate", rate, "--seconds", seconds, "--count", count] + list(extra)
        return self.ns.spawn(argv, name="flood-" + mode, ready=r"^flood: started")

    def tx_dropped(self):
        """Frames the kernel's end of the TAP device dropped (ustack's queue was full)."""
        r = self.ns.run(["ip", "-s", "-j", "link", "show", "dev", self.dev], check=True,
                        text=True)
        return json.loads(r.stdout)[0]["stats64"]["tx"]["dropped"]

    def rx_packets(self):
        """Frames the kernel's end received from ustack (its answers, here)."""
        r = self.ns.run(["ip", "-s", "-j", "link", "show", "dev", self.dev], check=True,
                        text=True)
        return json.loads(r.stdout)[0]["stats64"]["rx"]["packets"]

    def wait_for_answers(self, count, secs):
        """Waits until ustack has sent `count` more frames than now (bounded by secs)."""
        start = self.rx_packets()
        deadline = time.monotonic() + secs
        while self.rx_packets() - start < count:
            expect(time.monotonic() < deadline,
                   "ustack did not answer %d frames within %d s" % (count, secs))
            time.sleep(0.01)


FLOOD_LINE = re.compile(r"^flood: sent (\d+) frames in ([0-9.]+) s, (\d+) frames/s, "
                        r"(\d+) dropped by the interface, (\d+) send errors$", re.M)


def flood_result(proc):
    """Stops the flooder if it still runs; returns (frames, seconds, frames the interface
    dropped at once). Send errors (other than a full queue) fail the test."""
    proc.stop(timeout=5)
    m = FLOOD_LINE.search(proc.output())
    expect(m and m.group(5) == "0", "the flooder printed no summary, or errors:\n" +
           proc.describe())
    return int(m.group(1)), float(m.group(2)), int(m.group(4))


def stop_echo(proc):
    """Stops ustack echo, checks it exits 0; returns (output, counters)."""
    out = test_tcp.stop_ustack(proc)
    ctrs = {k: int(v) for k, v in re.findall(r"^([a-z][\w:+,=.-]*\.\w+) (\d+)$", out, re.M)}
    return out, ctrs


def ctr(ctrs, name):
    return ctrs.get(name, 0)    # ustack prints the counters that are not zero


def show(ctrs, *names):
    netns.log("    ustack: " + ", ".join("%s %d" % (n, ctr(ctrs, n)) for n in names))


def echo_lines(out):
    return test_tcp.ustack_lines(out, "echo")


def legit_echo_client(s):
    """Starts the kernel's 8 MiB two-way echo client at ustack (test_tcp.KERNEL_ECHO_CLIENT)."""
    return s.ns.spawn([sys.executable, "-u", "-c", test_tcp.KERNEL_ECHO_CLIENT, s.t.ustack_ip,
                       str(PORT), str(LEGIT_BYTES), "30"], name="legit-echo-client")


def check_legit_echo(proc, out):
    """The legitimate echo: the kernel sent and got back LEGIT_BYTES of the test stream, and
    ustack printed the same count and sha256 for the connection."""
    status = proc.wait(timeout=40)
    m = re.search(r"^echo-client: sent (\d+) sha256 ([0-9a-f]{64}); received (\d+) sha256 "
                  r"([0-9a-f]{64}) in ([0-9.]+) s$", proc.output(), re.M)
    want = netns.stream_sha256(LEGIT_BYTES)
    expect(status == 0 and m and (int(m.group(1)), m.group(2), int(m.group(3)), m.group(4)) ==
           (LEGIT_BYTES, want, LEGIT_BYTES, want),
           "the legitimate echo client did not get its %d bytes back intact:\n%s" % (
               LEGIT_BYTES, proc.describe()))
    got = [l for l in echo_lines(out) if l[0] == LEGIT_BYTES]
    expect(len(got) == 1 and got[0][1] == want and not got[0][3],
           "ustack did not echo the legitimate %d bytes intact: %s" % (LEGIT_BYTES, got))
    netns.log("    legitimate echo: %d bytes each way intact in %s s" % (LEGIT_BYTES,
                                                                         m.group(5)))


def expect_pool_never_dry(ctrs):
    expect(ctr(ctrs, "pool.exhausted") == 0 and
           not any(k.endswith(".rx_nobufs") and v for k, v in ctrs.items()),
           "ustack's packet pool ran dry: pool.exhausted %d, %s" % (
               ctr(ctrs, "pool.exhausted"),
               {k: v for k, v in ctrs.items() if k.endswith("rx_nobufs")}))


# ---- synflood

def expected_conn_digests():
    """sha256 of what each of KERNEL_MANY_CLIENTS's connections sends (and gets back)."""
    stream = netns.stream_bytes(CONN_BYTES + CONNS)
    return sorted(hashlib.sha256((b"connection %06d " % i + stream[i:i + CONN_BYTES])
                                 [:CONN_BYTES]).hexdigest() for i in range(CONNS))


def case_synflood(s):
    echo = s.start_echo("--rx_burst=256")
    dropped0 = s.tx_dropped()
    # Bounded: at most 30 s, at most 30 s worth of frames; stopped when the client is done.
    flood = s.flood("syn", s.syn_rate * 11 // 10, 30, 40 * s.syn_rate)
    # The client starts once the SYN queue is full of the flood's embryos: ustack has answered
    # more SYNs than the queue holds (its SYN-ACKs reach the kernel's end, which drops them).
    s.wait_for_answers(SYN_QUEUE + 256, 20)
    r = s.ns.python(test_tcp.KERNEL_MANY_CLIENTS, s.t.ustack_ip, PORT, CONNS, CONN_BYTES, 25,
                    timeout=40, text=True)
    still_flooding = flood.alive()
    frames, secs, refused = flood_result(flood)
    dropped = max(s.tx_dropped() - dropped0, refused)
    rate = frames / secs if secs else 0
    netns.log("    flood: %d SYNs in %.2f s = %.0f SYN/s (%d dropped by the kernel before "
              "ustack's link)" % (frames, secs, rate, dropped))
    out, ctrs = stop_echo(echo)
    show(ctrs, "tcp.syncookies_sent", "tcp.syncookies_recv", "tcp.syncookies_failed",
         "tcp.syn_queue_drops", "tcp.listen_overflows", "tcp.passive_opens",
         "tcp.retrans_segs", "stack.rx_frames", "stack.polls")
    show(ctrs, *sorted(k for k in ctrs if "drop" in k and k.startswith(("afpacket", "tap"))))
    want = "many: %d connected at once, %d echoed intact, %d closed by the server" % (
        CONNS, CONNS, CONNS)
    expect(r.returncode == 0 and want in r.stdout,
           "the legitimate client under the SYN flood: wanted %r:\n%s" % (want, r.describe()))
    netns.log("    legitimate: " + r.stdout.strip().splitlines()[-1])
    expect(still_flooding, "the flood ended before the legitimate client did:\n" +
           flood.describe())
    expect(rate >= s.syn_rate, "the flood reached %.0f SYN/s, wanted at least %d" % (
        rate, s.syn_rate))
    lines = echo_lines(out)
    digests = sorted(h for n, h, peer, note in lines if n == CONN_BYTES and not note)
    expect(digests == expected_conn_digests(),
           "ustack echoed %d connections; wanted the %d legitimate ones, each with its own "
           "%d bytes (sha256)" % (len(lines), CONNS, CONN_BYTES))
    # The SYN queue (4,096) filled with the flood's embryos before the client began: every
    # legitimate connection came from a cookie, and every other SYN ustack took in was
    # answered with one. (What ustack took in: its frames, less the legitimate client's, at
    # most 10 per connection with retransmissions.)
    expect(ctr(ctrs, "tcp.syncookies_recv") == CONNS,
           "tcp.syncookies_recv %d, wanted %d (every legitimate connection from a cookie)" % (
               ctr(ctrs, "tcp.syncookies_recv"), CONNS))
    answered = ctr(ctrs, "tcp.syncookies_sent") + SYN_QUEUE
    took = ctr(ctrs, "stack.rx_frames")
    expect(took - 10 * CONNS <= answered <= frames + CONNS,
           "ustack took in %d frames and answered %d SYNs (cookies and the SYN queue's %d); "
           "wanted every flood SYN it took in answered" % (took, answered, SYN_QUEUE))
    netns.log("    ustack took in %d frames (%.0f%% of the flood's; %d dropped by its AF_PACKET "
              "ring while it was behind) and answered %d SYNs, %d of them with cookies" % (
                  took, 100.0 * took / frames, ctr(ctrs, "afpacket:uu0.afpacket.rx_ring_drops"),
                  answered, ctr(ctrs, "tcp.syncookies_sent")))
    expect(ctr(ctrs, "tcp.syncookies_failed") == 0 and ctr(ctrs, "tcp.syn_queue_drops") == 0,
           "cookies failed or SYNs dropped: %s" % ctrs)
    # The SYN queue held its limit of the flood's embryos, and no more (each lives out its
    # SYN-ACK retransmissions); the legitimate connections were all closed.
    live = test_tcp.connections_live(out, echo.name)
    expect(live == SYN_QUEUE, "tcp.connections_live %d when the echo stopped, wanted the "
           "SYN queue's %d embryos" % (live, SYN_QUEUE))
    expect(ctr(ctrs, "tcp.passive_opens") == CONNS,
           "tcp.passive_opens %d, wanted %d" % (ctr(ctrs, "tcp.passive_opens"), CONNS))
    expect_pool_never_dry(ctrs)


# ---- zerowindow

# A kernel client that makes ustack's echo fill its buffers: it sends the test stream and
# never reads (MODE zero) or reads one byte every 10 ms (MODE slow), until nothing more goes
# for a second. Then it measures what ustack must be holding: what the kernel handed over and
# ustack acknowledged (sent - SIOCOUTQ) minus what came back (SIOCINQ + read). Then it waits,
# reading as before, until the connection ends (ustack's RST answers the kernel's next probe
# once TCP_USER_TIMEOUT has ended it) or LIMIT s pass.
STALL_CLIENT = netns._STREAM + r"""
import fcntl, hashlib, socket, struct, sys, time
ip, port, mode, limit = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
SIOCINQ, SIOCOUTQ = 0x541B, 0x5411
data = stream_bytes(8 << 20)
s = socket.create_connection((ip, port), timeout=5)
s.setblocking(False)
print("stall: local port %d" % s.getsockname()[1], flush=True)
sent, got, t0 = 0, bytearray(), time.monotonic()
next_read, last = t0, t0
def read_some():
    global next_read
    if mode != "slow" or time.monotonic() < next_read:
        return
    next_read += 0.01
    try:
        got.extend(s.recv(1))
    except (BlockingIOError, OSError):
        pass
while time.monotonic() - last < 1.0 and time.monotonic() - t0 < limit:
    try:
        n = s.send(data[sent:sent + 65536])
    except BlockingIOError:
        n = 0
    sent += n
    if n:
        last = time.monotonic()
    read_some()
    time.sleep(0.001)
def q(req):
    return struct.unpack("i", fcntl.ioctl(s.fileno(), req, b"\0\0\0\0"))[0]
outq, inq = q(SIOCOUTQ), q(SIOCINQ)
stalled = time.monotonic()
print("stall: sent %d outq %d inq %d read %d holds %d" % (sent, outq, inq, len(got),
      sent - outq - inq - len(got)), flush=True)
state = None
while time.monotonic() - t0 < limit:
    read_some()
    state = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
    if state == 7:   # TCP_CLOSE
        break
    time.sleep(0.005)
err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
print("stall: read %d sha256 %s; %s %.1f s after the stall, error %d" % (
      len(got), hashlib.sha256(got).hexdigest(), "closed" if state == 7 else "still open",
      time.monotonic() - stalled, err), flush=True)
"""


def pcap_records(path):
    """(seconds, frame) of each record of a pcap file (micro- or nanosecond, either order)."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    end = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    nano = struct.unpack(end + "I", data[:4])[0] == 0xa1b23c4d
    out, off = [], 24
    while off + 16 <= len(data):
        sec, frac, incl = struct.unpack(end + "III", data[off:off + 12])
        out.append((sec + frac / (1e9 if nano else 1e6), data[off + 16:off + 16 + incl]))
        off += 16 + incl
    return out


def tcp_of(frame):
    """(src, dst, sport, dport, seq, ack, flags, payload length) of an IPv4 TCP frame, or
    None."""
    if len(frame) < 54 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
        return None
    ip = frame[14:]
    ihl, total = (ip[0] & 15) * 4, struct.unpack(">H", ip[2:4])[0]
    th = ip[ihl:]
    sport, dport, seq, ack = struct.unpack(">HHII", th[:12])
    doff = (th[12] >> 4) * 4
    return ip[12:16], ip[16:20], sport, dport, seq, ack, th[13], total - ihl - doff


def zero_window_probes(s, port):
    """Times of ustack's zero-window probes to the kernel's port (an empty ACK one below what
    it has sent: SND.UNA - 1 with nothing outstanding), and of its RSTs to that port."""
    ustack = bytes(int(x) for x in s.t.ustack_ip.split("."))
    probes, rsts, top = [], [], None
    for when, fr in pcap_records(s.pcap):
        seg = tcp_of(fr)
        if not seg or seg[0] != ustack or seg[3] != port:
            continue
        _, _, _, _, seq, _, flags, plen = seg
        end = (seq + plen + (1 if flags & 0x03 else 0)) & 0xffffffff
        if flags & 0x04:
            rsts.append(when)
        elif plen == 0 and top is not None and (seq + 1) & 0xffffffff == top:
            probes.append(when)
        if top is None or (end - top) & 0x80000000 == 0:
            top = end
    return probes, rsts


def check_stall(s, proc, out, mode):
    m = proc.wait_for(r"^stall: sent (\d+) outq (\d+) inq (\d+) read (\d+) holds (\d+)$",
                      timeout=1)
    holds = int(m.group(5))
    port = int(proc.wait_for(r"^stall: local port (\d+)$", timeout=1).group(1))
    end = proc.wait_for(r"^stall: read (\d+) sha256 ([0-9a-f]{64}); (closed|still open) "
                        r"([0-9.]+) s after the stall, error (\d+)$", timeout=1)
    netns.log("    %s reader: %s; %s" % (mode, m.group(0)[7:], end.group(0)[7:]))
    # Memory: ustack holds what its receive and send buffers allow, plus the echo's one read,
    # and that much indeed (the buffers filled: the send buffer at least).
    limit = TCP_RMEM + TCP_WMEM + ECHO_CHUNK
    expect(TCP_WMEM <= holds <= limit,
           "%s reader: ustack holds %d bytes of the connection; wanted between %d and %d "
           "(its buffers)" % (mode, holds, TCP_WMEM, limit))
    nread = int(end.group(1))
    expect(end.group(2) == netns.stream_sha256(nread),
           "%s reader: the %d bytes it read are not the start of what it sent" % (mode, nread))
    expect(end.group(3) == "closed" and int(end.group(5)) == 104,   # ECONNRESET
           "%s reader: wanted the connection reset once ustack's user timeout ended it; got "
           "%s" % (mode, end.group(0)))
    # ustack's side of it: ended with an error after echoing a prefix of the stream.
    mine = [l for l in echo_lines(out) if l[2].endswith(":%d" % port)]
    expect(len(mine) == 1 and mine[0][3] == "error" and
           mine[0][1] == netns.stream_sha256(mine[0][0]),
           "%s reader: ustack echo's line for port %d: %s, wanted an error after a prefix of "
           "the stream" % (mode, port, mine))
    # The persist timer: probes at doubling intervals, none later than the user timeout after
    # the first, and the connection gone when the kernel next spoke (ustack's RST).
    probes, rsts = zero_window_probes(s, port)
    gaps = [b - a for a, b in zip(probes, probes[1:])]
    netns.log("    %s reader: %d zero-window probes, gaps %s s; RST %.2f s after the first" % (
        mode, len(probes), " ".join("%.2f" % g for g in gaps),
        rsts[0] - probes[0] if rsts and probes else -1))
    expect(len(probes) >= 3, "%s reader: %d zero-window probes, wanted 3 or more" % (
        mode, len(probes)))
    expect(all(b >= 1.5 * a for a, b in zip(gaps, gaps[1:])),
           "%s reader: probe intervals %s do not back off" % (mode, gaps))
    uto = USER_TIMEOUT_MS / 1000
    expect(probes[-1] - probes[0] < uto, "%s reader: a probe %.2f s after the first, past "
           "the %.1f s user timeout" % (mode, probes[-1] - probes[0], uto))
    expect(len(rsts) == 1 and rsts[0] - probes[0] >= uto,
           "%s reader: wanted one RST from ustack, at least %.1f s after the first probe; "
           "got %s" % (mode, uto, [r - probes[0] for r in rsts]))


def case_zerowindow(s):
    echo = s.start_echo("--user-timeout", USER_TIMEOUT_MS, pcap=True)
    zero = s.ns.spawn([sys.executable, "-u", "-c", STALL_CLIENT, s.t.ustack_ip, str(PORT),
                       "zero", "25"], name="zero-window-reader")
    slow = s.ns.spawn([sys.executable, "-u", "-c", STALL_CLIENT, s.t.ustack_ip, str(PORT),
                       "slow", "25"], name="slow-reader")
    legit = legit_echo_client(s)
    for p in (zero, slow):
        p.wait(timeout=35)
    legit.wait(timeout=35)
    out, ctrs = stop_echo(echo)
    show(ctrs, "tcp.zero_window_probes", "tcp.timeout_aborts", "tcp.out_rsts")
    check_legit_echo(legit, out)
    check_stall(s, zero, out, "zero-window")
    check_stall(s, slow, out, "slow")
    expect(ctr(ctrs, "tcp.timeout_aborts") == 2,
           "tcp.timeout_aborts %d, wanted 2" % ctr(ctrs, "tcp.timeout_aborts"))
    expect_pool_never_dry(ctrs)


# ---- ooo

# A TCP peer made by hand on an AF_PACKET socket (the kernel knows nothing of it): from a
# forged address it connects to ustack's echo, sends N one-byte segments each after a one-byte
# hole (the bytes of the stream at those places), then the first D bytes of the stream in
# order (resending from ustack's ACK when it stalls), ACKs what ustack echoes, and prints
# "ooo: echoed D bytes sha256 H".
RAW_PEER = netns._STREAM + r"""
import hashlib, os, random, socket, struct, sys, time
dev, smac, dmac, src, dst, dport, n, total = sys.argv[1:9]
n, total, dport = int(n), int(total), int(dport)
smac, dmac = bytes.fromhex(smac.replace(":", "")), bytes.fromhex(dmac.replace(":", ""))
src, dst = socket.inet_aton(src), socket.inet_aton(dst)
data = stream_bytes(total)
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 20)
sock.bind((dev, 0x0800))
sock.setblocking(False)
sport = random.randint(20000, 60000)
iss = random.getrandbits(32)
def csum(b):
    if len(b) & 1:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def send(seq, ack, flags, payload=b"", opts=b"", win=65535):
    doff = (20 + len(opts)) // 4
    th = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xffffffff, ack & 0xffffffff,
                     doff << 4, flags, win, 0, 0) + opts
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(th) + len(payload))
    c = csum(pseudo + th + payload)
    th = th[:16] + struct.pack("!H", c) + th[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(th) + len(payload), 0, 0x4000, 64, 6,
                     0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    sock.send(dmac + smac + b"\x08\x00" + ip + th + payload)
def segments():
    # ustack's TCP segments to us: (seq, ack, flags, window, payload)
    out = []
    while True:
        try:
            fr, addr = sock.recvfrom(65536)
        except BlockingIOError:
            return out
        if addr[2] == socket.PACKET_OUTGOING or len(fr) < 54:
            continue
        ip = fr[14:]
        ihl = (ip[0] & 15) * 4
        if ip[9] != 6 or ip[12:16] != dst or ip[16:20] != src:
            continue
        tl = struct.unpack("!H", ip[2:4])[0]
        th = ip[ihl:tl]
        sp, dp, seq, ack, off, flags, win = struct.unpack("!HHIIBBH", th[:16])
        if sp != dport or dp != sport:
            continue
        out.append((seq, ack, flags, win, bytes(th[(off >> 4) * 4:]), bytes(th[20:(off >> 4) * 4])))
def wait_for(pred, secs):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        for sg in segments():
            r = pred(sg)
            if r is not None:
                return r
        time.sleep(0.001)
    sys.exit("ooo: timed out")
# SYN with MSS 1460, SACK-permitted, window scale 7 (no timestamps).
syn_opts = struct.pack("!BBH", 2, 4, 1460) + b"\x01\x01\x04\x02" + b"\x01\x03\x03\x07"
send(iss, 0, 0x02, opts=syn_opts, win=64240)
synack = wait_for(lambda sg: sg if sg[2] & 0x12 == 0x12 else None, 5)
rcv_nxt = (synack[0] + 1) & 0xffffffff
base = (iss + 1) & 0xffffffff
send(base, rcv_nxt, 0x10, win=65535)
print("ooo: connected from port %d" % sport, flush=True)
echoed, acked, sacked = {}, 0, set()
def sack_blocks(opts):
    i, out = 0, []
    while i < len(opts) and opts[i] != 0:
        if opts[i] == 1:
            i += 1
            continue
        if i + 1 >= len(opts) or opts[i + 1] < 2:
            break
        if opts[i] == 5:
            body = opts[i + 2:i + opts[i + 1]]
            out += [struct.unpack("!II", body[j:j + 8]) for j in range(0, len(body) - 7, 8)]
        i += opts[i + 1]
    return out
def absorb(sg):
    # Keeps ustack's echo (by offset), the furthest ACK of our data, and the flood's bytes
    # its SACK blocks reported held (each queued segment is the first block of the duplicate
    # ACK it causes: RFC 2018 4).
    global acked, rcv_nxt
    seq, ack, flags, win, payload, opts = sg
    for l, r in sack_blocks(opts):
        for o in range((l - base) & 0xffffffff, (r - base) & 0xffffffff):
            if o <= 2 * n and o % 2 == 0:
                sacked.add(o)
    if flags & 0x10:
        a = (ack - base) & 0xffffffff
        if a <= total + 1 and a > acked:
            acked = a
    if payload:
        off = (seq - ((synack[0] + 1) & 0xffffffff)) & 0xffffffff
        if off < total:
            echoed[off] = payload
    return None
# The flood: byte 2k + 2 for k < n, each alone, the byte before it missing.
t0 = time.monotonic()
for k in range(n):
    off = 2 * k + 2
    send(base + off, rcv_nxt, 0x10, data[off:off + 1])
    if k % 128 == 0:
        for sg in segments():
            absorb(sg)
        time.sleep(0.002)   # a breath for ustack's TAP queue (1,000 frames)
time.sleep(0.2)
for sg in segments():
    absorb(sg)
print("ooo: flood of %d segments sent in %.2f s, %d of them held (SACKed)" % (
      n, time.monotonic() - t0, len(sacked)), flush=True)
# The data in order, resent from ustack's ACK whenever nothing moves for 200 ms.
def contiguous():
    got, off = 0, 0
    while off in echoed:
        got = off + len(echoed[off])
        off = got
    return got
sent, last_move, last_acked = 0, time.monotonic(), -1
end = time.monotonic() + 20
while time.monotonic() < end:
    for sg in segments():
        absorb(sg)
    have = contiguous()
    if acked >= total and have >= total:
        break
    if acked != last_acked:
        last_acked, last_move = acked, time.monotonic()
    elif time.monotonic() - last_move > 0.2:
        sent, last_move = acked, time.monotonic()    # go back to what ustack has
    if sent < total and sent - acked < 256 * 1024:
        seg = data[sent:sent + 1460]
        send(base + sent, (synack[0] + 1 + have) & 0xffffffff, 0x18, seg)
        sent += len(seg)
    else:
        send(base + sent, (synack[0] + 1 + have) & 0xffffffff, 0x10)   # ACK the echo
        time.sleep(0.002)
have = contiguous()
out, off = bytearray(), 0
while off in echoed and off < total:
    out += echoed[off]
    off += len(echoed[off])
out = bytes(out[:total])
# Close: FIN from us, ustack closes its side after it, we ACK its FIN.
fin_seq = base + total
send(fin_seq, (synack[0] + 1 + have) & 0xffffffff, 0x11)
fin = wait_for(lambda sg: sg if sg[2] & 0x01 else None, 5)
send(fin_seq + 1, (fin[0] + len(fin[4]) + 1) & 0xffffffff, 0x10)
print("ooo: echoed %d bytes sha256 %s" % (len(out), hashlib.sha256(out).hexdigest()),
      flush=True)
"""

OOO_SEGS = 20000
OOO_BYTES = 256 * 1024


def case_ooo(s):
    echo = s.start_echo()
    legit = legit_echo_client(s)
    r = s.ns.python(RAW_PEER, s.dev, s.kernel_mac, USTACK_MAC, s.lab.addr(200), s.t.ustack_ip,
                    PORT, OOO_SEGS, OOO_BYTES, timeout=40, text=True)
    m = re.search(r"^ooo: echoed (\d+) bytes sha256 ([0-9a-f]{64})$", r.stdout, re.M)
    expect(r.returncode == 0 and m, "the forged peer failed:\n" + r.describe())
    for line in r.stdout.splitlines():
        netns.log("    " + line)
    held = int(re.search(r"^ooo: flood of \d+ segments sent in [0-9.]+ s, (\d+) of them held",
                         r.stdout, re.M).group(1))
    want = netns.stream_sha256(OOO_BYTES)
    expect((int(m.group(1)), m.group(2)) == (OOO_BYTES, want),
           "the forged peer got %s bytes sha256 %s back, wanted %d, %s" % (
               m.group(1), m.group(2), OOO_BYTES, want))
    legit.wait(timeout=35)
    out, ctrs = stop_echo(echo)
    show(ctrs, "tcp.ooo_segs", "tcp.ooo_drops", "tcp.ooo_pruned", "pool.exhausted")
    check_legit_echo(legit, out)
    # The cap: buffers of the receive and out-of-order queues within twice the receive buffer,
    # 2 KiB buffers at MTU 1500: 1,024 of the flood's segments, the rest dropped. What the
    # attacked connection held is what ustack's SACK blocks reported (the counters are the
    # stack's: the legitimate echo's own out-of-order segments, if the TAP queue dropped some
    # of its frames, count there too; it never drops any).
    cap = 2 * TCP_RMEM // 2048
    queued, dropped = ctr(ctrs, "tcp.ooo_segs"), ctr(ctrs, "tcp.ooo_drops")
    expect(cap - 8 <= held <= cap,
           "ustack's SACK blocks reported %d of the flood's segments held, wanted %d (a few "
           "fewer if ACKs were lost)" % (held, cap))
    expect(queued >= cap and dropped >= 2 * cap and dropped <= OOO_SEGS - cap,
           "tcp.ooo_segs %d, tcp.ooo_drops %d: wanted %d of the %d segments queued, the rest "
           "(those that arrived) dropped" % (queued, dropped, cap, OOO_SEGS))
    expect_pool_never_dry(ctrs)


# ---- frag

# A kernel UDP client of ustack's echo: COUNT datagrams of 1 to 1472 bytes (never fragmented),
# each sent until it comes back (up to 5 tries, 0.5 s each) and checked; then prints
# "udp: N datagrams B bytes sha256 H sent, M intact back, R resent".
UDP_CLIENT = netns._STREAM + r"""
import hashlib, socket, sys
ip, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
stream = stream_bytes(count * 1472)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((ip, port))
s.settimeout(0.5)
h, total, back, resent, off = hashlib.sha256(), 0, 0, 0, 0
for i in range(count):
    n = 1 + (i * 733) % 1472
    d = stream[off:off + n]
    off += n
    h.update(d)
    total += n
    for attempt in range(5):
        s.send(d)
        try:
            while True:
                r = s.recv(65535)
                if r == d:
                    back += 1
                    break
        except socket.timeout:
            resent += 1
            continue
        break
print("udp: %d datagrams %d bytes sha256 %s sent, %d intact back, %d resent" % (
      count, total, h.hexdigest(), back, resent), flush=True)
"""

UDP_COUNT = 2000

# Hand-made fragments from the kernel's address to ustack's echo port, and a kernel UDP socket
# on the source port that sees what ustack echoes. Cases, each one datagram (its own IP ID):
#   good      two fragments that tile the datagram: echoed
#   dup       the same, its first fragment twice: the copy dropped alone, echoed
#   overlap   the second fragment starts inside the first: dropped whole
#   inside    a fragment wholly inside one already held, with different bytes: dropped whole
#   rewrite   the last fragment first, then one from 0 that runs 8 bytes into it with other
#             bytes: dropped whole
# Prints "frag: CASE echoed|nothing" for each.
FRAG_PEER = r"""
import os, socket, struct, sys, time
dev, smac, dmac, src, dst, dport, cases = sys.argv[1:8]
smac, dmac = bytes.fromhex(smac.replace(":", "")), bytes.fromhex(dmac.replace(":", ""))
dport = int(dport)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind((src, 0))
u.settimeout(0.5)
sport = u.getsockname()[1]
srcb, dstb = socket.inet_aton(src), socket.inet_aton(dst)
raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
raw.bind((dev, 0))
def csum(b):
    if len(b) & 1:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def frag(ident, off, mf, chunk):
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(chunk), ident,
                     (0x2000 if mf else 0) | (off // 8), 64, 17, 0, srcb, dstb)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    raw.send(dmac + smac + b"\x08\x00" + ip + chunk)
def datagram(payload):
    ulen = 8 + len(payload)
    h = struct.pack("!HHHH", sport, dport, ulen, 0)
    c = csum(srcb + dstb + struct.pack("!BBH", 0, 17, ulen) + h + payload) or 0xffff
    return struct.pack("!HHHH", sport, dport, ulen, c) + payload
for i, case in enumerate(cases.split(",")):
    payload = bytes((i * 7 + j) & 0xff for j in range(1992))
    d = datagram(payload)            # 2000 bytes: fragments of 1000 + 1000
    ident = 0x4000 + i
    a, b = d[:1000], d[1000:]
    if case == "good":
        frag(ident, 0, True, a); frag(ident, 1000, False, b)
    elif case == "dup":
        frag(ident, 0, True, a); frag(ident, 0, True, a); frag(ident, 1000, False, b)
    elif case == "overlap":
        frag(ident, 0, True, a); frag(ident, 992, False, d[992:])
    elif case == "inside":
        frag(ident, 0, True, a); frag(ident, 496, True, bytes(504)); frag(ident, 1000, False, b)
    elif case == "rewrite":
        frag(ident, 1000, False, b); frag(ident, 0, True, a + bytes(8))
    try:
        r = u.recv(65535)
        print("frag: %s %s" % (case, "echoed" if r == payload else "echoed wrong bytes"),
              flush=True)
    except socket.timeout:
        print("frag: %s nothing" % case, flush=True)
"""


def udp_exchange(s):
    return s.ns.spawn([sys.executable, "-u", "-c", UDP_CLIENT, s.t.ustack_ip, str(PORT),
                       str(UDP_COUNT)], name="legit-udp-client")


def check_udp(proc):
    status = proc.wait(timeout=40)
    m = re.search(r"^udp: (\d+) datagrams (\d+) bytes sha256 ([0-9a-f]{64}) sent, (\d+) intact "
                  r"back, (\d+) resent$", proc.output(), re.M)
    expect(status == 0 and m, "the UDP client failed:\n" + proc.describe())
    n, nbytes = int(m.group(1)), int(m.group(2))
    expect(int(m.group(4)) == n and m.group(3) == netns.stream_sha256(nbytes),
           "UDP under the fragment flood: %s" % m.group(0))
    netns.log("    legitimate UDP: " + m.group(0))
    return nbytes


def frag_cases(s, cases):
    r = s.ns.python(FRAG_PEER, s.dev, s.kernel_mac, USTACK_MAC, s.t.kernel_ip, s.t.ustack_ip,
                    PORT, ",".join(cases), timeout=20, text=True)
    got = dict(re.findall(r"^frag: (\w+) (.*)$", r.stdout, re.M))
    expect(r.returncode == 0 and set(got) == set(cases), "the fragment peer failed:\n" +
           r.describe())
    return got


def case_frag(s):
    # A small table (the default 64 datagrams) and memory (256 KiB: 128 of the 2 KiB buffers),
    # and a short timeout, so that one test fills both and sees them drain.
    echo = s.start_echo("--reasm_mem=262144", "--reasm_max=64", "--reasm_timeout_ms=1000")
    got = frag_cases(s, ["good", "dup", "overlap", "inside", "rewrite"])
    netns.log("    fragments: %s" % got)
    expect(got == {"good": "echoed", "dup": "echoed", "overlap": "nothing",
                   "inside": "nothing", "rewrite": "nothing"},
           "overlapping fragments must drop their datagram, a duplicate only itself: %s" % got)
    # Flood 1: one fragment each of many datagrams (the table fills); flood 2: 8 fragments each
    # of fewer (the memory fills first). Legitimate UDP (and, through the first, an 8 MiB TCP
    # echo) while each goes on; each flood is stopped once its legitimate traffic is done.
    f1 = s.flood("frag", 20000, 15, 300000, "--frag-len", 1000, "--frags-per-id", 1)
    time.sleep(0.3)
    legit = legit_echo_client(s)
    udp = udp_exchange(s)
    nbytes = check_udp(udp)
    legit.wait(timeout=35)
    expect(f1.alive(), "the first flood ended before the legitimate traffic did")
    n1, secs1, _ = flood_result(f1)
    time.sleep(1.5)   # the flood's datagrams time out (reasm_timeout_ms)
    f2 = s.flood("frag", 20000, 15, 300000, "--frag-len", 1000, "--frags-per-id", 8,
                 "--seed", 2)
    time.sleep(0.3)
    nbytes += check_udp(udp_exchange(s))
    expect(f2.alive(), "the second flood ended before the legitimate traffic did")
    n2, secs2, _ = flood_result(f2)
    netns.log("    fragment floods: %d fragments in %.2f s (1 per datagram), %d in %.2f s (8 "
              "per datagram)" % (n1, secs1, n2, secs2))
    time.sleep(1.5)   # and those of the second
    after = frag_cases(s, ["good"])
    out, ctrs = stop_echo(echo)
    show(ctrs, "ipv4.reasm_reqds", "ipv4.reasm_oks", "ipv4.reasm_fails", "ipv4.reasm_overlap",
         "ipv4.reasm_duplicate", "ipv4.reasm_over_count", "ipv4.reasm_over_mem",
         "ipv4.reasm_timeout")
    check_legit_echo(legit, out)
    expect(after == {"good": "echoed"}, "after the floods timed out, a fragmented datagram "
           "was not reassembled: %s" % after)
    expect(ctr(ctrs, "ipv4.reasm_overlap") == 3 and ctr(ctrs, "ipv4.reasm_duplicate") == 1,
           "ipv4.reasm_overlap %d (wanted 3), ipv4.reasm_duplicate %d (wanted 1)" % (
               ctr(ctrs, "ipv4.reasm_overlap"), ctr(ctrs, "ipv4.reasm_duplicate")))
    expect(ctr(ctrs, "ipv4.reasm_oks") == 3,
           "ipv4.reasm_oks %d, wanted 3 (good, dup, and good again after the floods)" %
           ctr(ctrs, "ipv4.reasm_oks"))
    expect(ctr(ctrs, "ipv4.reasm_over_count") > 0 and ctr(ctrs, "ipv4.reasm_over_mem") > 0,
           "the floods hit neither the table's limit nor the memory's: %s" % {
               k: v for k, v in ctrs.items() if k.startswith("ipv4.reasm")})
    expect_pool_never_dry(ctrs)
    netns.log("    legitimate UDP: %d bytes in all, intact" % nbytes)


GROUPS = {"synflood": case_synflood, "zerowindow": case_zerowindow, "ooo": case_ooo,
          "frag": case_frag}


def main():
    def extra(ap):
        ap.add_argument("--group", required=True, choices=sorted(GROUPS))
        ap.add_argument("--flood", required=True, help="the ust_flood tool")
        ap.add_argument("--syn-rate", type=int, default=SYN_RATE,
                        help="SYNs per second the flood must reach (it sends 10%% more)")
    args = netns.parse_args(__doc__, extra=extra)
    with netns.Lab("floods_%s" % args.group, args) as lab:
        lab.ustack_path()
        s = Setup(lab, os.path.abspath(args.flood), args.link)
        s.syn_rate = args.syn_rate
        netns.log("floods %s: kernel %s on %s in %s, ustack %s/25 (MAC %s) on %s in %s" % (
            args.group, s.t.kernel_ip, s.dev, s.ns, s.t.ustack_ip, USTACK_MAC, s.t.link,
            s.t.ustack_ns))
        suite = netns.Suite(lab, args.only, args.skip)
        suite.case(args.group, GROUPS[args.group], s)
        return suite.status()


if __name__ == "__main__":
    netns.main(main)
