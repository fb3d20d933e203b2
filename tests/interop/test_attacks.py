#!/usr/bin/env python3
"""
Injection and malformed input: an attacker on the kernel's side of the link forges frames
(python3-scapy builds them; a raw AF_PACKET socket opened inside the test's namespace sends
them and watches the wire) while a legitimate kernel client moves the test stream through
`ustack echo`, sha256-checked at both ends. Each group is one ctest (--group):

  rst      RFC 5961 3: blind in-window RSTs draw challenge ACKs, rate limited (RFC 5961 7:
           a burst of 4 x tcp_challenge_ack_limit draws between half the limit and the limit,
           a random budget per second); one outside the window is dropped silently; the
           connection survives. Control: an RST at exactly RCV.NXT resets a second connection.
  syn      RFC 5961 4: a SYN in a synchronized state, in the window or not, draws a challenge
           ACK and the connection survives.
  inject   RFC 5961 5 / RFC 9293 3.10.7.4: data at exactly RCV.NXT with an ACK too old (challenge
           ACK), an ACK of unsent data (an ACK), no ACK bit, or a bad checksum is dropped; the
           stream stays intact.
  mss      MSS 1..64 in a SYN: ustack's segments carry what Linux's carry for the same SYN
           (tcp_min_snd_mss 48, then options), compared against the kernel's own echo server.
  options  every kind of malformed TCP option on a live connection and in a SYN: counted drops
           (tcp.in_errs); unknown options, EOL and NOP padding are accepted; window scale > 14
           is used as 14; SACK blocks outside what was sent, reversed or empty mark nothing
           delivered while data is in flight (a real block does).
  overlap  overlapping segments with conflicting data, in order and out of order: the first copy
           of a byte that ustack accepts wins, everywhere (docs/security.md).
  icmp     RFC 1191 / RFC 5927: fragmentation-needed with an absurd MTU or quoting sequence
           numbers not in flight is ignored and counted, the MSS unchanged (the next
           retransmission is full-sized); a valid one lowers it.
  arp      an ARP reply claiming ustack's address is counted and ignored; a static neighbour
           entry (arp_static) refuses forged replies and requests; a dynamic one that flaps is
           counted (arp.lladdr_changes) and each change is seen on the wire.

How the attacker knows where to aim: it watches the handshake of the legitimate connection on
the wire (both initial sequence numbers) and the client's byte counts, so it knows RCV.NXT and
SND.NXT exactly while the client pauses with everything acknowledged. Ordering on the wire is
the clock: after forging, the attacker pings ustack (a barrier); ustack handles frames in order,
so when the echo reply is seen, every reply to the forged frames has been sent.

The link is TAP without the virtio-net header (tap-novnet): neither side sends super-frames, so
each frame on the wire is one segment and its size can be checked.
"""
import ctypes
import hashlib
import os
import re
import socket
import struct
import sys
import threading
import time

import netns
from netns import expect

try:   # Debian's python3-scapy (scripts/install-deps.sh); the frames are built with it
    from scapy.layers.inet import ICMP, IP, TCP
    from scapy.layers.l2 import ARP, Ether
    from scapy.packet import Raw
except ImportError:   # pragma: no cover - reported as a skip below
    Ether = None

GROUPS = ("rst", "syn", "inject", "mss", "options", "overlap", "icmp", "arp")
PORT = 5001                        # ustack echo
KPORT = 5002                       # the kernel's echo server (mss group)
USTACK_MAC = "02:00:00:00:00:02"
RAW_MAC = "02:00:00:00:00:33"      # the attacker's own host (.3), for connections it makes
EVIL_MAC = "02:00:00:00:00:66"     # the MAC forged ARP claims
ATTACK_TTL = 99                    # marks forged frames (the kernel's carry 64)
STREAM = 256 << 10                 # bytes the legitimate client sends (and gets back)
HALF = 64 << 10                    # ... before it pauses for the attack
WAIT = 5.0                         # seconds, for anything the wire should show

CLONE_NEWNET = 0x40000000
ETH_P_ALL = 3
PACKET_OUTGOING = 4
F_FIN, F_SYN, F_RST, F_PSH, F_ACK = 0x01, 0x02, 0x04, 0x08, 0x10
_libc = ctypes.CDLL(None, use_errno=True)


def seq_add(a, b):
    return (a + b) & 0xffffffff


# --------------------------------------------------------------------------------------------
# Frames: a small parser (fast enough for every frame of a transfer) and scapy builders.

def mac_str(b):
    return ":".join("%02x" % x for x in b)


def parse(frame):
    """A dict with the fields the tests look at: src, dst (MACs), arp {op, sha, spa, tha, tpa},
    ip {src, dst, proto, ttl}, tcp {sport, dport, seq, ack, flags, win, opts, payload}, icmp
    {type, code, id, seq}."""
    if len(frame) < 14:
        return {}
    f = {"dst": mac_str(frame[0:6]), "src": mac_str(frame[6:12])}
    etype = struct.unpack("!H", frame[12:14])[0]
    if etype == 0x0806 and len(frame) >= 42:
        op, sha, spa, tha, tpa = struct.unpack("!6xH6s4s6s4s", frame[14:42])
        f["arp"] = {"op": op, "sha": mac_str(sha), "spa": socket.inet_ntoa(spa),
                    "tha": mac_str(tha), "tpa": socket.inet_ntoa(tpa)}
    elif etype == 0x0800 and len(frame) >= 34:
        vihl, tot, ttl, proto, src, dst = struct.unpack("!BxH4xBB2x4s4s", frame[14:34])
        ihl = (vihl & 15) * 4
        end = min(14 + tot, len(frame)) if tot else len(frame)
        l4 = frame[14 + ihl:end]
        f["ip"] = {"src": socket.inet_ntoa(src), "dst": socket.inet_ntoa(dst), "proto": proto,
                   "ttl": ttl}
        if proto == 6 and len(l4) >= 20:
            sport, dport, seq, ack, offfl, win = struct.unpack("!HHIIHH", l4[:16])
            doff = (offfl >> 12) * 4
            f["tcp"] = {"sport": sport, "dport": dport, "seq": seq, "ack": ack,
                        "flags": offfl & 0x1ff, "win": win, "opts": l4[20:doff],
                        "payload": l4[doff:]}
        elif proto == 1 and len(l4) >= 8:
            typ, code, ident, seq = struct.unpack("!BB2xHH", l4[:8])
            f["icmp"] = {"type": typ, "code": code, "id": ident, "seq": seq}
    return f


def tcp_options(opts):
    """{kind: data} of a well-formed option list (for reading ustack's own)."""
    out, i = {}, 0
    while i < len(opts):
        k = opts[i]
        if k == 0:
            break
        if k == 1:
            i += 1
            continue
        n = opts[i + 1]
        out[k] = opts[i + 2:i + n]
        i += n
    return out


class Wire:
    """A raw AF_PACKET socket on the kernel's end of the link, opened inside the test's
    namespace (a short-lived thread setns()s into it; the socket stays there). A reader thread
    keeps every frame seen, in order: (index, time, outgoing, bytes), outgoing meaning sent by
    the kernel. It also answers ARP requests for the addresses in `answer` (the attacker's own
    host), as a host there would."""

    def __init__(self, ns, ifname):
        box = {}

        def open_in_ns():
            try:
                fd = os.open("/run/netns/" + ns.name, os.O_RDONLY)
                try:
                    if _libc.setns(fd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns")
                finally:
                    os.close(fd)
                s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
                s.bind((ifname, ETH_P_ALL))
                s.settimeout(0.1)
                box["sock"] = s
            except OSError as e:
                box["err"] = e

        t = threading.Thread(target=open_in_ns)
        t.start()
        t.join()
        expect("sock" in box, "raw socket in %s: %s" % (ns, box.get("err")))
        self.sock = box["sock"]
        self.frames = []
        self.cond = threading.Condition()
        self.answer = {}             # IP -> MAC whose ARP requests we answer
        self.running = True
        self.reader = threading.Thread(target=self._read, daemon=True, name="wire-reader")
        self.reader.start()
        self.sent = 0

    def _read(self):
        while self.running:
            try:
                data, addr = self.sock.recvfrom(1 << 17)
            except socket.timeout:
                continue
            except OSError:
                break
            outgoing = addr[2] == PACKET_OUTGOING
            with self.cond:
                self.frames.append((len(self.frames), time.monotonic(), outgoing, data))
                self.cond.notify_all()
            if data[12:14] == b"\x08\x06":
                self._maybe_answer(parse(data))

    def _maybe_answer(self, f):
        a = f.get("arp")
        if a and a["op"] == 1 and a["tpa"] in self.answer:
            mac = self.answer[a["tpa"]]
            self.send(bytes(Ether(src=mac, dst=a["sha"]) /
                            ARP(op=2, hwsrc=mac, psrc=a["tpa"], hwdst=a["sha"], pdst=a["spa"])))

    def close(self):
        self.running = False
        self.reader.join(2)
        self.sock.close()

    def send(self, frame):
        self.sock.send(frame)
        self.sent += 1

    def mark(self):
        """An index: frames seen from now on are at or after it."""
        with self.cond:
            return len(self.frames)

    def wait(self, pred, after=0, timeout=WAIT, what="a frame"):
        """The first frame at or after index `after` for which pred(parsed) holds: (index,
        time, parsed). Fails after `timeout` seconds."""
        end = time.monotonic() + timeout
        i = after
        with self.cond:
            while True:
                while i < len(self.frames):
                    idx, ts, out, data = self.frames[i]
                    f = parse(data)
                    f["out"] = out
                    if pred(f):
                        return idx, ts, f
                    i += 1
                left = end - time.monotonic()
                expect(left > 0, "no %s on the wire within %.1f s" % (what, timeout))
                self.cond.wait(min(left, 0.2))

    def between(self, pred, start, end):
        """Every parsed frame with index in [start, end) for which pred holds."""
        with self.cond:
            chunk = self.frames[start:end]
        out = []
        for idx, ts, o, data in chunk:
            f = parse(data)
            f["out"] = o
            if pred(f):
                out.append(f)
        return out


class Attack:
    """What one group needs: the lab's topology, the wire, the MACs and helpers to forge."""

    def __init__(self, lab, t):
        self.lab, self.t = lab, t
        self.kip, self.uip = t.kernel_ip, t.ustack_ip
        self.rip = lab.addr(3)                   # the attacker's own host
        r = t.kernel.run(["cat", "/sys/class/net/%s/address" % t.kernel_dev], check=True,
                         text=True)
        self.kmac = r.stdout.strip()
        self.wire = Wire(t.kernel, t.kernel_dev)
        self.wire.answer[self.rip] = RAW_MAC
        self.extra_wires = []
        self.pings = 0

    def close(self):
        for w in [self.wire] + self.extra_wires:
            w.close()

    # -- forging

    def tcp(self, sport, dport, seq, ack, flags, payload=b"", options=(), raw_opts=b"",
            window=8192, src_ip=None, src_mac=None, bad_csum=False):
        """A TCP segment to ustack as bytes, from the kernel's address by default. raw_opts:
        option bytes put in the header as they are (a multiple of 4 long)."""
        th = TCP(sport=sport, dport=dport, seq=seq & 0xffffffff, ack=ack & 0xffffffff,
                 flags=flags, window=window, options=list(options))
        if raw_opts:
            expect(len(raw_opts) % 4 == 0 and not options, "raw options must be whole words")
            th.dataofs = 5 + len(raw_opts) // 4
            payload = raw_opts + payload
        if bad_csum:
            th.chksum = 0xbad
        pkt = Ether(src=src_mac or self.kmac, dst=USTACK_MAC) / \
            IP(src=src_ip or self.kip, dst=self.uip, ttl=ATTACK_TTL) / th
        if payload:
            pkt = pkt / Raw(payload)
        return bytes(pkt)

    def barrier(self):
        """Pings ustack from the kernel's address with a forged echo request and waits for the
        reply: everything sent before it has been handled, and answered, by then. Returns the
        reply's index on the wire."""
        self.pings += 1
        n = self.pings
        self.wire.send(bytes(Ether(src=self.kmac, dst=USTACK_MAC) /
                             IP(src=self.kip, dst=self.uip, ttl=ATTACK_TTL) /
                             ICMP(type=8, id=0x7a7a, seq=n) / Raw(b"barrier")))
        idx, _, _ = self.wire.wait(lambda f: f.get("icmp", {}).get("type") == 0 and
                                   f["icmp"]["id"] == 0x7a7a and f["icmp"]["seq"] == n,
                                   what="echo reply to barrier ping %d" % n)
        return idx

    def from_ustack(self, dport, sport=PORT):
        """A predicate: a TCP frame ustack sent from sport to dport."""
        return lambda f: not f["out"] and f.get("src") == USTACK_MAC and "tcp" in f and \
            f["tcp"]["sport"] == sport and f["tcp"]["dport"] == dport

    def replies(self, mark, dport, sport=PORT):
        """ustack's TCP frames on a flow from `mark` to a barrier (taken now)."""
        end = self.barrier()
        return self.wire.between(self.from_ustack(dport, sport), mark, end)


# --------------------------------------------------------------------------------------------
# The legitimate client: the kernel's TCP through ustack echo, paused half way.

PAUSE_CLIENT = netns._STREAM + r"""
import hashlib, socket, sys
ip, port, n, half = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
data = stream_bytes(n)
s = socket.create_connection((ip, port), timeout=15)
print("client: connected %d" % s.getsockname()[1], flush=True)
def recv_exact(k):
    got = bytearray()
    while len(got) < k:
        b = s.recv(min(1 << 20, k - len(got)))
        if not b:
            break
        got += b
    return bytes(got)
h, got = hashlib.sha256(), 0
try:
    s.sendall(data[:half])
    first = recv_exact(half)
    h.update(first)
    got += len(first)
    print("client: paused after %d" % len(first), flush=True)
    sys.stdin.readline()
    s.sendall(data[half:])
    s.shutdown(socket.SHUT_WR)
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        h.update(b)
        got += len(b)
    print("client: sent %d sha256 %s; received %d sha256 %s" % (
        n, hashlib.sha256(data).hexdigest(), got, h.hexdigest()), flush=True)
except OSError as e:
    print("client: error %s after %d" % (type(e).__name__, got), flush=True)
"""


class Legit:
    """A paused legitimate connection: 4-tuple and both sides' next sequence numbers.
    rcv_nxt is what ustack expects next (RCV.NXT), snd_nxt what it sends next (SND.NXT)."""

    def __init__(self, a):
        self.a = a
        t = a.t
        mark = a.wire.mark()
        self.proc = t.kernel.spawn([sys.executable, "-u", "-c", PAUSE_CLIENT, t.ustack_ip, PORT,
                                    STREAM, HALF], name="legit-client", stdin=True,
                                   ready=r"^client: paused after %d$" % HALF, ready_timeout=20)
        self.lport = int(self.proc.wait_for(r"^client: connected (\d+)$").group(1))
        w = a.wire
        _, _, syn = w.wait(lambda f: f["out"] and "tcp" in f and f["tcp"]["sport"] == self.lport
                           and f["tcp"]["flags"] & F_SYN, after=mark, what="the client's SYN")
        _, _, synack = w.wait(lambda f: a.from_ustack(self.lport)(f) and
                              f["tcp"]["flags"] & F_SYN, after=mark, what="ustack's SYN-ACK")
        self.rcv_nxt = seq_add(syn["tcp"]["seq"], 1 + HALF)
        self.snd_nxt = seq_add(synack["tcp"]["seq"], 1 + HALF)
        # Quiet: ustack has sent (and acknowledged) everything, the kernel has acknowledged it.
        w.wait(lambda f: a.from_ustack(self.lport)(f) and f["tcp"]["ack"] == self.rcv_nxt and
               seq_add(f["tcp"]["seq"], len(f["tcp"]["payload"])) == self.snd_nxt, after=mark,
               what="ustack's last echo segment")
        w.wait(lambda f: f["out"] and "tcp" in f and f["tcp"]["sport"] == self.lport and
               f["tcp"]["ack"] == self.snd_nxt, after=mark, what="the kernel's last ACK")
        # ... and ustack has handled that ACK (it was queued before the barrier's ping), so no
        # timer of this connection (a tail loss probe) can send anything any more.
        a.barrier()

    def forge(self, seq_off=0, ack=None, flags="A", **kw):
        """A segment on this connection as the kernel would send it, at RCV.NXT + seq_off."""
        return self.a.tcp(self.lport, PORT, seq_add(self.rcv_nxt, seq_off),
                          self.snd_nxt if ack is None else ack, flags, **kw)

    def replies(self, mark):
        return self.a.replies(mark, self.lport)

    def expect_challenge_acks(self, frames, n, what):
        """n frames, each an ACK at SND.NXT acknowledging RCV.NXT, nothing else."""
        got = [(f["tcp"]["flags"], f["tcp"]["seq"], f["tcp"]["ack"], len(f["tcp"]["payload"]))
               for f in frames]
        want = [(F_ACK, self.snd_nxt, self.rcv_nxt, 0)] * n
        expect(got == want, "%s: ustack sent %s (flags, seq, ack, len), wanted %s" % (
            what, got, want))

    def finish(self):
        """Resumes the client; checks the whole stream came back intact."""
        self.proc.write(b"go\n")
        m = self.proc.wait_for(r"^client: (sent|error) .*$", timeout=20)
        want = netns.stream_sha256(STREAM)
        line = "client: sent %d sha256 %s; received %d sha256 %s" % (STREAM, want, STREAM, want)
        expect(m.group(0) == line, "the legitimate client: %r, wanted %r" % (m.group(0), line))

    def finish_reset(self):
        """Resumes the client of a connection ustack has reset: it must see the reset."""
        self.proc.write(b"go\n")
        m = self.proc.wait_for(r"^client: (sent|error) .*$", timeout=20)
        expect(re.match(r"client: error (ConnectionResetError|BrokenPipeError) after %d$" % HALF,
                        m.group(0)), "the reset connection's client: %r" % m.group(0))


def start_echo(t, *opts):
    return t.start_ustack("echo", "--port", PORT, "--mac", USTACK_MAC, *opts)


def stop_echo(proc):
    """Stops ustack echo; returns (counters dict, output)."""
    status = proc.stop(timeout=10)
    out = proc.output()
    expect(status == 0, "%s exited with status %s:\n%s" % (proc.name, status,
                                                           netns.indent(netns.tail(out))))
    expect("ustack echo: counters" in out, "%s printed no counters" % proc.name)
    ctrs = {}
    for line in out.split("ustack echo: counters", 1)[1].splitlines():
        m = re.match(r"^(\S+) (\d+)$", line)
        if m:
            ctrs[m.group(1)] = int(m.group(2))
    return ctrs, out


def expect_counters(ctrs, want):
    got = {k: ctrs.get(k, 0) for k in want}
    expect(got == want, "ustack's counters %s, wanted %s" % (got, want))


def echo_lines(out):
    """(bytes, sha256, note) of each connection ustack echo closed."""
    return [(int(n), h, note) for n, h, note in re.findall(
        r"^tcp echo: (\d+) bytes sha256 ([0-9a-f]{64}) from \S+?(?:: (.+))?$", out, re.M)]


def expect_legit_echoed(out, n=1):
    """ustack's own hash of what the legitimate client(s) sent: the whole stream."""
    want = (STREAM, netns.stream_sha256(STREAM), "")
    got = [l for l in echo_lines(out) if l == want]
    expect(len(got) == n, "ustack echo saw %d intact streams, wanted %d: %s" % (
        len(got), n, echo_lines(out)))


# --------------------------------------------------------------------------------------------
# A connection the attacker makes from its own host (.3): handshake and segments by hand.

class RawConn:
    """A TCP connection from the attacker's own host (.3) to ustack (or, with dst=(wire, ip,
    mac, port), to another peer), handshake and segments by hand. Offsets count from our
    first data byte (ours) or the peer's (theirs)."""

    def __init__(self, a, sport, dst=None, mss=1460, ws=7, ts=True, sack=True, window=65535,
                 raw_syn_opts=None):
        self.a, self.sport = a, sport
        self.wire, self.dst_ip, self.dst_mac, self.dport = dst or (a.wire, a.uip, USTACK_MAC,
                                                                    PORT)
        self.ts, self.mss, self.ws, self.sack, self.window = ts, mss, ws, sack, window
        self.isn = (0x10000000 + sport * 7919) & 0xffffffff
        self.tsval, self.ts_ecr = 1000, 0
        self.raw_syn_opts = raw_syn_opts
        self.peer_iss = None
        self.sent = 0          # our stream bytes sent (highest offset)
        self.rcv = {}          # offset in the peer's stream -> payload (as sent)
        self.rcv_nxt_off = 0   # contiguous bytes of the peer's stream received
        self.sizes = []        # payload sizes of the peer's data segments, in order

    def from_peer(self, f):
        ip = f.get("ip", {})
        return "tcp" in f and ip.get("src") == self.dst_ip and ip.get("dst") == self.a.rip and \
            f["tcp"]["sport"] == self.dport and f["tcp"]["dport"] == self.sport

    def _frame(self, th, payload=b"", build=False):
        pkt = Ether(src=RAW_MAC, dst=self.dst_mac) / \
            IP(src=self.a.rip, dst=self.dst_ip, ttl=ATTACK_TTL) / th
        if payload:
            pkt = pkt / Raw(payload)
        if build:
            return bytes(pkt)
        self.wire.send(bytes(pkt))
        return None

    def send_many(self, chunks):
        """Sends [(offset, data)...] back to back: every frame is built first (scapy takes a
        millisecond or two per frame), so they reach the peer as one burst."""
        frames = [self.segment(1 + off, "PA", data, build=True) for off, data in chunks]
        for fr in frames:
            self.wire.send(fr)
        self.sent = max([self.sent] + [off + len(d) for off, d in chunks])

    def segment(self, seq_off, flags, payload=b"", ack=True, options=None, raw_opts=b"",
                build=False, ack_off=None, sack=None):
        opts = options
        if opts is None:
            opts = []
            if self.ts and not raw_opts:
                self.tsval += 1
                opts = [("NOP", None), ("NOP", None), ("Timestamp", (self.tsval, self.ts_ecr))]
            if sack:
                opts = opts + [("NOP", None), ("NOP", None),
                               ("SAck", tuple(x & 0xffffffff for b in sack for x in b))]
        if ack_off is None:
            ack_off = self.rcv_nxt_off
        th = TCP(sport=self.sport, dport=self.dport, seq=seq_add(self.isn, seq_off),
                 ack=seq_add(self.peer_iss, 1 + ack_off) if ack else 0,
                 flags=flags, window=self.window, options=opts)
        if raw_opts:
            th.dataofs = 5 + len(raw_opts) // 4
            payload = raw_opts + payload
        return self._frame(th, payload, build)

    def syn(self):
        """Sends the SYN (introducing our host to ustack first: an ARP request to it, from
        which it learns our address); returns the wire mark before the SYN."""
        if self.dst_mac == USTACK_MAC:
            self.wire.send(bytes(Ether(src=RAW_MAC, dst="ff:ff:ff:ff:ff:ff") /
                                 ARP(op=1, hwsrc=RAW_MAC, psrc=self.a.rip, pdst=self.a.uip)))
        mark = self.wire.mark()
        th = TCP(sport=self.sport, dport=self.dport, seq=self.isn, flags="S", window=65535)
        if self.raw_syn_opts is not None:
            th.dataofs = 5 + len(self.raw_syn_opts) // 4
            self._frame(th, self.raw_syn_opts)
            return mark
        opts = [("MSS", self.mss)]
        if self.sack:
            opts.append(("SAckOK", b""))
        if self.ts:
            opts.append(("Timestamp", (self.tsval, 0)))
        if self.ws is not None:
            opts += [("NOP", None), ("WScale", self.ws)]
        th.options = opts
        self._frame(th)
        return mark

    def connect(self):
        mark = self.syn()
        _, _, f = self.wire.wait(lambda f: self.from_peer(f) and
                                 f["tcp"]["flags"] & (F_SYN | F_ACK) == F_SYN | F_ACK,
                                 after=mark, what="SYN-ACK to the attacker's SYN")
        self.peer_iss = f["tcp"]["seq"]
        self.note_ts(f)
        self.segment(1, "A")
        return f

    def note_ts(self, f):
        o = tcp_options(f["tcp"]["opts"])
        if 8 in o and len(o[8]) == 8:
            self.ts_ecr = struct.unpack("!I", o[8][:4])[0]

    def send(self, off, data, flags="PA"):
        self.segment(1 + off, flags, data)
        self.sent = max(self.sent, off + len(data))

    def ack(self):
        self.segment(1 + self.sent, "A")

    def take(self, f):
        """Notes a data segment of the peer's."""
        off = (f["tcp"]["seq"] - self.peer_iss - 1) & 0xffffffff
        data = f["tcp"]["payload"]
        self.sizes.append(len(data))
        self.note_ts(f)
        if len(self.rcv.get(off, b"")) < len(data):
            self.rcv[off] = data
        moved = True
        while moved:
            moved = False
            for o, d in self.rcv.items():
                if o <= self.rcv_nxt_off < o + len(d):
                    self.rcv_nxt_off = o + len(d)
                    moved = True

    def collect(self, n, after, ack=True, timeout=WAIT):
        """Waits for the peer's first n stream bytes (its data segments from wire index
        `after` on, placed by sequence number), ACKing each unless ack=False; returns them and
        the wire index after the last segment used."""
        i = after
        end = time.monotonic() + timeout
        while self.rcv_nxt_off < n:
            idx, _, f = self.wire.wait(lambda f: self.from_peer(f) and f["tcp"]["payload"],
                                       after=i, timeout=max(end - time.monotonic(), 0.01),
                                       what="%d bytes from the peer (have %d)" % (
                                           n, self.rcv_nxt_off))
            i = idx + 1
            self.take(f)
            if ack:
                self.ack()
        return self.stream(n), i

    def stream(self, n):
        buf = bytearray(n)
        for o, d in sorted(self.rcv.items()):
            buf[o:o + len(d)] = d[:max(0, n - o)]
        return bytes(buf[:n])

    def reset(self):
        """An RST at our next sequence number: ends the connection."""
        self.segment(1 + self.sent, "R", ack=False, options=[])


# --------------------------------------------------------------------------------------------
# The groups.

def group_rst(lab, a, suite):
    limit = 10
    echo = start_echo(a.t, "--tcp_challenge_ack_limit", limit)
    state = {}

    def burst_is_rate_limited():
        c = Legit(a)
        state["c"] = c
        n = 4 * limit
        mark = a.wire.mark()
        for i in range(n):     # distinct in-window sequence numbers, none exact
            a.wire.send(c.forge(100 + 37 * i, flags="R", ack=0))
        frames = c.replies(mark)
        k = len(frames)
        # The second's budget is random, between half the limit and the limit (RFC 5961 7,
        # and CVE-2016-5696: a fixed one is a side channel).
        expect(limit - limit // 2 <= k <= limit, "%d in-window RSTs drew %d challenge ACKs; "
               "wanted %d..%d (tcp_challenge_ack_limit)" % (n, k, limit - limit // 2, limit))
        c.expect_challenge_acks(frames, k, "RST burst")
        state["burst"] = (n, k)
        _, first_ts, _ = a.wire.wait(c.a.from_ustack(c.lport), after=mark)
        state["first_ts"] = first_ts
        netns.log("    %d in-window RSTs in a burst: %d challenge ACKs (limit %d/s)" % (n, k, limit))

    def one_rst_one_challenge():
        c = state["c"]
        # The rate limit's second began no later than its first challenge ACK was seen.
        time.sleep(max(0.0, state["first_ts"] + 1.1 - time.monotonic()))
        mark = a.wire.mark()
        a.wire.send(c.forge(1000, flags="R", ack=0))
        c.expect_challenge_acks(c.replies(mark), 1, "one in-window RST")
        mark = a.wire.mark()
        a.wire.send(c.forge(1 << 30, flags="R", ack=0))   # far outside the window
        a.wire.send(c.forge(-1, flags="R", ack=0))        # just below RCV.NXT
        c.expect_challenge_acks(c.replies(mark), 0, "RSTs outside the window")
        c.finish()

    def exact_rst_resets():
        c = Legit(a)
        mark = a.wire.mark()
        a.wire.send(c.forge(0, flags="R", ack=0))         # exactly RCV.NXT: a real reset
        c.expect_challenge_acks(c.replies(mark), 0, "the exact RST")
        c.finish_reset()

    ok = suite.case("rst_burst_rate_limited", burst_is_rate_limited)
    if ok:
        suite.case("rst_in_window_challenge_ack", one_rst_one_challenge)
    suite.case("rst_exact_resets_control", exact_rst_resets)

    def counters():
        ctrs, out = stop_echo(echo)
        n, k = state.get("burst", (0, 0))
        expect_counters(ctrs, {"tcp.challenge_acks": k + 1, "tcp.challenge_limited": n - k,
                               "tcp.in_rsts": 1, "tcp.estab_resets": 1, "tcp.in_errs": 0})
        expect_legit_echoed(out)
    suite.case("rst_counters", counters)


def group_syn(lab, a, suite):
    echo = start_echo(a.t)

    def syn_in_window():
        c = Legit(a)
        for off, what in ((1000, "in the window"), (0, "at RCV.NXT"),
                          (1 << 30, "far outside the window"), (-5000, "below RCV.NXT")):
            mark = a.wire.mark()
            a.wire.send(c.forge(off, flags="S", ack=0, options=[("MSS", 1460)]))
            c.expect_challenge_acks(c.replies(mark), 1, "a SYN %s" % what)
        mark = a.wire.mark()    # a SYN-ACK with data: the same, and its data is not taken
        a.wire.send(c.forge(0, flags="SA", payload=b"EVIL" * 8))
        c.expect_challenge_acks(c.replies(mark), 1, "a SYN-ACK with data")
        c.finish()
    suite.case("syn_challenge_ack", syn_in_window)

    def counters():
        ctrs, out = stop_echo(echo)
        expect_counters(ctrs, {"tcp.challenge_acks": 5, "tcp.challenge_limited": 0,
                               "tcp.estab_resets": 0, "tcp.in_errs": 0})
        expect_legit_echoed(out)
    suite.case("syn_counters", counters)


def group_inject(lab, a, suite):
    echo = start_echo(a.t)
    evil = b"INJECTED" * 64

    def bad_acks_dropped():
        c = Legit(a)
        # RFC 5961 5.2: an ACK older than SND.UNA - MAX.SND.WND: challenge ACK, data dropped.
        mark = a.wire.mark()
        a.wire.send(c.forge(0, ack=seq_add(c.snd_nxt, -(1 << 30)), flags="PA", payload=evil))
        c.expect_challenge_acks(c.replies(mark), 1, "data with an ACK far too old")
        # RFC 9293 3.10.7.4: an ACK of data never sent: an ACK, data dropped.
        mark = a.wire.mark()
        a.wire.send(c.forge(0, ack=seq_add(c.snd_nxt, 1 << 20), flags="PA", payload=evil))
        c.expect_challenge_acks(c.replies(mark), 1, "data acknowledging unsent data")
        # No ACK bit: dropped without a word (RFC 9293 fifth check).
        mark = a.wire.mark()
        a.wire.send(c.forge(0, flags="P", payload=evil))
        # A bad checksum: dropped before anything looks at it.
        a.wire.send(c.forge(0, flags="PA", payload=evil, bad_csum=True))
        c.expect_challenge_acks(c.replies(mark), 0, "data without ACK, or a bad checksum")
        c.finish()   # any injected byte accepted would show in the sha256
    suite.case("inject_bad_ack_dropped", bad_acks_dropped)

    def counters():
        ctrs, out = stop_echo(echo)
        expect_counters(ctrs, {"tcp.challenge_acks": 1, "tcp.in_csum_errors": 1,
                               "tcp.in_errs": 1})
        expect_legit_echoed(out)
    suite.case("inject_counters", counters)


# The kernel's echo server for the mss group (on .1): echoes each connection's bytes.
KERNEL_ECHO = r"""
import signal, socket, sys, threading
ip, port = sys.argv[1], int(sys.argv[2])
signal.alarm(60)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((ip, port))
s.listen(16)
print("kecho: ready", flush=True)
def serve(c):
    try:
        while True:
            b = c.recv(65536)
            if not b:
                break
            c.sendall(b)
    except OSError:
        pass
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


def group_mss(lab, a, suite):
    echo = start_echo(a.t)
    # The reference: the kernel's own TCP at .4 in a namespace of its own, reached over a veth
    # pair whose near end (no address) the attacker also watches. TSO off there, so each frame
    # is one of the kernel's segments.
    ref = lab.namespace("ref", ipv6=False)
    near, far = lab.veth(a.t.kernel, "ua0", ref, "ur0")
    ref.ip("addr", "add", lab.cidr(4), "dev", far)
    netns.disable_tso(ref, far)
    lab.assert_isolated()
    ref_wire = Wire(a.t.kernel, near)
    ref_wire.answer[a.rip] = RAW_MAC
    a.extra_wires.append(ref_wire)
    ref_mac = ref.run(["cat", "/sys/class/net/%s/address" % far], check=True,
                      text=True).stdout.strip()
    kecho = ref.spawn_python(KERNEL_ECHO, lab.addr(4), KPORT, name="kernel-echo",
                             ready=r"^kecho: ready")
    data = hashlib.sha256(b"mss").digest() * 16       # 512 bytes
    sport = [20000]

    def sizes(dst, mss, ts):
        sport[0] += 1
        rc = RawConn(a, sport[0], dst=dst, mss=mss, ts=ts)
        mark = rc.wire.mark()
        rc.connect()
        rc.send(0, data)
        got, _ = rc.collect(len(data), mark)
        expect(got == data, "MSS %d%s: the echo of %d bytes came back different" % (
            mss, " with timestamps" if ts else "", len(data)))
        rc.reset()
        # Each data segment once, in sequence order (a tail loss probe may repeat one).
        return [len(d) for _, d in sorted(rc.rcv.items())]

    def case(mss, ts):
        u = sizes(None, mss, ts)
        k = sizes((ref_wire, lab.addr(4), ref_mac, KPORT), mss, ts)
        netns.log("    MSS %2d%s: ustack's data segments %s, Linux's %s" % (
            mss, " ts" if ts else "   ", u, k))
        expect(u == k, "MSS %d%s: ustack sent data segments of %s bytes, "
               "Linux %s" % (mss, " with timestamps" if ts else "", u, k))
    for mss in (1, 16, 47, 48, 64):
        for ts in (False, True):
            suite.case("mss_%d%s" % (mss, "_ts" if ts else ""), case, mss, ts)

    def counters():
        kecho.stop()
        ctrs, out = stop_echo(echo)
        expect_counters(ctrs, {"tcp.in_errs": 0})
        lines = echo_lines(out)
        expect(len(lines) == 10 and all(n == len(data) for n, _, _ in lines),
               "ustack echo's connections: %s" % lines)
    suite.case("mss_counters", counters)


# Malformed option lists (each a whole number of words), and what makes each malformed.
MALFORMED = [
    ("length 0", b"\x08\x00\x00\x00"),
    ("length 1", b"\x02\x01\x00\x00"),
    ("length past the header", b"\x08\x0a\x00\x00"),
    ("unknown kind, length past the header", b"\xfe\x10\x00\x00"),
    ("kind without a length byte", b"\x01\x01\x01\x02"),
    ("MSS of length 3", b"\x02\x03\x05\x00"),
    ("MSS of length 6", b"\x02\x06\x05\xb4\x00\x00\x01\x01"),
    ("window scale of length 4", b"\x03\x04\x07\x00"),
    ("SACK-permitted of length 3", b"\x04\x03\x00\x00"),
    ("timestamps of length 8", b"\x08\x08\x00\x00\x00\x01\x00\x00"),
    ("timestamps of length 12", b"\x08\x0c" + b"\x00" * 10),
    ("SACK of length 2", b"\x05\x02\x01\x01"),
    ("SACK of length 6", b"\x05\x06\x00\x00\x00\x01\x01\x01"),
    ("SACK of length 14", b"\x05\x0e" + b"\x00" * 12 + b"\x01\x01"),
    ("a SACK block cut by the header's end", b"\x05\x0a\x00\x00\x00\x00\x00\x00"),
]
# Well formed, if odd: accepted (RFC 9293 3.1: unknown options are skipped by their length).
ODD = [
    ("NOP padding", b"\x01\x01\x01\x01"),
    ("EOL then garbage", b"\x00\xff\xff\xff"),
    ("unknown kinds", b"\xfd\x04\xbe\xef\x63\x02\x01\x01"),
    ("MSS outside a SYN", b"\x02\x04\x00\x01"),
    ("window scale outside a SYN", b"\x01\x03\x03\x0e"),
    ("SACK-permitted outside a SYN", b"\x04\x02\x01\x01"),
]


def group_options(lab, a, suite):
    # No tail loss probes, and a long retransmission timeout: the window scale and SACK cases
    # count what ustack has in flight and what it resends, and a probe or a timeout (whose RTT
    # estimate comes from our slow, hand-made handshake) would change both.
    echo = start_echo(a.t, "--tcp_tlp", 0, "--tcp_min_rto_ms", 3000)
    counts = {"malformed": 0}

    def malformed_on_live_connection():
        c = Legit(a)
        # Each option list rides on an in-window RST, which draws a challenge ACK if the
        # segment is taken: so a reply shows exactly which were parsed and which dropped.
        for what, opts in MALFORMED:
            mark = a.wire.mark()
            a.wire.send(c.forge(700, flags="R", ack=0, raw_opts=opts))
            counts["malformed"] += 1
            c.expect_challenge_acks(c.replies(mark), 0, "an RST with %s" % what)
        for what, opts in ODD:
            mark = a.wire.mark()
            a.wire.send(c.forge(700, flags="R", ack=0, raw_opts=opts))
            c.expect_challenge_acks(c.replies(mark), 1, "an RST with %s" % what)
        counts["odd"] = len(ODD)
        # SACK blocks nothing was sent for (beyond SND.NXT, reversed, below SND.UNA) on
        # ACKs: nothing in flight changes, no reply.
        mark = a.wire.mark()
        s = c.snd_nxt
        for blocks in ([(seq_add(s, 1000), seq_add(s, 2000))],
                       [(seq_add(s, -100), seq_add(s, -200))],
                       [(seq_add(s, -(1 << 30)), seq_add(s, -(1 << 29)))],
                       [(s, seq_add(s, 1 << 31))]):
            opt = b"\x01\x01\x05" + bytes([2 + 8 * len(blocks)]) + \
                b"".join(struct.pack("!II", x, y) for x, y in blocks)
            a.wire.send(c.forge(0, raw_opts=opt))
        c.expect_challenge_acks(c.replies(mark), 0, "ACKs with bogus SACK blocks")
        c.finish()
    suite.case("options_malformed_live", malformed_on_live_connection)

    def malformed_syn():
        # A SYN with a malformed option is dropped: no SYN-ACK. The barrier's reply comes
        # after anything ustack would have answered.
        for i, (what, opts) in enumerate(MALFORMED[:6]):
            rc = RawConn(a, 31000 + i, raw_syn_opts=opts)
            mark = rc.syn()
            counts["malformed"] += 1
            got = a.replies(mark, 31000 + i)
            expect(not got, "a SYN with %s was answered: %s" % (what, [
                (f["tcp"]["flags"], f["tcp"]["seq"]) for f in got]))
        # Unknown options, EOL and garbage after it in a SYN: answered, the connection works.
        rc = RawConn(a, 31100, ts=False, raw_syn_opts=b"\x02\x04\x05\xb4\xfd\x06\x00\x00\x00"
                     b"\x00\x01\x00\xff\xff\xff\xff")
        rc.connect()
        mark = a.wire.mark()
        rc.send(0, b"hello, odd options")
        got, _ = rc.collect(18, mark)
        expect(got == b"hello, odd options", "echo after a SYN with odd options: %r" % got)
        rc.reset()
    suite.case("options_malformed_syn", malformed_syn)

    def bogus_sack_in_flight():
        # ustack has 4 KiB in flight (3 segments) when ACKs that acknowledge nothing new carry
        # SACK blocks beyond SND.NXT, reversed, empty: they must mark nothing delivered, so
        # nothing is deemed lost (tcp.sack_recoveries stays 0 until the control). The control:
        # a real block over the last two segments makes RACK resend the first at once.
        rc = RawConn(a, 33500)
        rc.connect()
        data = bytes(range(256)) * 16
        mark = a.wire.mark()
        rc.send_many([(off, data[off:off + 1448]) for off in range(0, len(data), 1448)])
        rc.collect(len(data), mark, ack=False)
        n = len(data)
        mark = a.wire.mark()
        for blocks in ([(1448, 1 << 31)], [(2896, 1448)], [(1448, 1448)], [(n, n + 1000)],
                       [(1448, n + 1)], [(n + 1, 1448), (0x7fff0000, 0x10)]):
            rc.segment(1 + rc.sent, "A", ack_off=0, sack=[
                (seq_add(rc.peer_iss, 1 + x), seq_add(rc.peer_iss, 1 + y)) for x, y in blocks])
        got = a.replies(mark, rc.sport)
        expect(not got, "ACKs with bogus SACK blocks drew %s" % [
            (f["tcp"]["flags"], f["tcp"]["seq"], len(f["tcp"]["payload"])) for f in got])
        counts["sack_checked"] = True
        mark = a.wire.mark()
        rc.segment(1 + rc.sent, "A", ack_off=0, sack=[(seq_add(rc.peer_iss, 1 + 1448),
                                                        seq_add(rc.peer_iss, 1 + n))])
        a.wire.wait(lambda f: rc.from_peer(f) and f["tcp"]["seq"] == seq_add(rc.peer_iss, 1)
                    and len(f["tcp"]["payload"]) == 1448, after=mark,
                    what="the first segment resent after a real SACK block")
        rc.reset()
    suite.case("options_bogus_sack_in_flight", bogus_sack_in_flight)

    def wscale_above_14():
        # RFC 7323 2.3: a shift above 14 is used as 14. Our window field says 1: 16 KiB with
        # a shift of 14, 32 KiB with 15, 1 byte if the option were ignored. ustack's first
        # flight is its initial window (10 segments); once that is acknowledged, slow start
        # allows 12 segments, more than 16 KiB: so what it then has in flight shows the shift.
        for ws in (15, 255):
            rc = RawConn(a, 32000 + ws, ws=ws, ts=False, mss=1460, window=1)
            rc.connect()
            mark = a.wire.mark()
            # Full-sized segments in one burst: ustack echoes them full-sized, and its first
            # flight is all its initial window allows.
            rc.send_many([(i * 1460, bytes([i]) * 1460) for i in range(34)])
            rc.collect(10 * 1460, mark, ack=False)
            mark = a.wire.mark()
            rc.ack()
            acked = rc.rcv_nxt_off

            def in_flight(f):
                return (seq_add(f["tcp"]["seq"], len(f["tcp"]["payload"])) - rc.peer_iss - 1 -
                        acked) & 0xffffffff
            a.wire.wait(lambda f: rc.from_peer(f) and f["tcp"]["payload"] and
                        in_flight(f) > 16384 - 1460, after=mark, what="the second flight")
            end = a.barrier()
            flight = max(in_flight(f) for f in a.wire.between(
                lambda f: rc.from_peer(f) and f["tcp"]["payload"], mark, end))
            netns.log("    window scale %d, window field 1: %d bytes in flight after the "
                      "first ACK" % (ws, flight))
            expect(16384 - 1460 < flight <= 16384,
                   "window scale %d with window 1: ustack has %d bytes in flight, wanted at "
                   "most 16384 and more than 16384 - 1460 (the shift used as 14)" % (ws, flight))
            rc.reset()
    suite.case("options_wscale_above_14", wscale_above_14)

    def counters():
        ctrs, out = stop_echo(echo)
        expect_counters(ctrs, {"tcp.in_errs": counts["malformed"], "tcp.in_csum_errors": 0,
                               "tcp.challenge_acks": counts.get("odd", 0),
                               "tcp.sack_recoveries": 1 if "sack_checked" in counts else 0,
                               "tcp.timeouts": 0})
        expect_legit_echoed(out)
    suite.case("options_counters", counters)


def group_overlap(lab, a, suite):
    echo = start_echo(a.t)

    def overlaps():
        rc = RawConn(a, 33000)
        rc.connect()
        mark = a.wire.mark()
        # In order: bytes 0-9 arrive, then 5-19 with different bytes 5-9: the first copy stays.
        rc.send(0, b"A" * 10)
        rc.send(5, b"B" * 15)
        want = b"A" * 10 + b"B" * 10
        # Out of order, past a hole at 20-29: 30-39 held; 35-49 overlaps its tail; 25-59
        # covers both; 40-44 again with other bytes; then 20-29 fills the hole, overlapping
        # the held 25-29.
        rc.send(30, b"C" * 10)
        rc.send(35, b"D" * 15)
        rc.send(25, b"E" * 35)
        rc.send(40, b"G" * 5)
        rc.send(20, b"F" * 10)
        want += b"F" * 5 + b"E" * 5 + b"C" * 10 + b"D" * 10 + b"E" * 10
        got, _ = rc.collect(60, mark)
        expect(got == want, "the echoed stream is %r, wanted %r (the first copy of each byte "
               "wins)" % (got, want))
        # The same again with the in-order copy first: a retransmission of 0-59 with other
        # bytes changes nothing; the next bytes still come through.
        rc.send(0, b"X" * 70)
        want += b"X" * 10
        got, _ = rc.collect(70, mark)
        expect(got == want, "after a conflicting retransmission: %r, wanted %r" % (got, want))
        rc.reset()
    suite.case("overlap_first_copy_wins", overlaps)

    def legit_alongside():
        c = Legit(a)
        c.finish()
    suite.case("overlap_legit_alongside", legit_alongside)

    def counters():
        ctrs, out = stop_echo(echo)
        lines = echo_lines(out)
        expect_legit_echoed(out)
        want = hashlib.sha256(b"A" * 10 + b"B" * 10 + b"F" * 5 + b"E" * 5 + b"C" * 10 +
                              b"D" * 10 + b"E" * 10 + b"X" * 10).hexdigest()
        expect([l for l in lines if l[:2] == (70, want)],
               "ustack's own hash of the overlapped stream: %s, wanted 70 bytes %s" % (
                   lines, want))
    suite.case("overlap_counters", counters)


def frag_needed(a, quoted_seq, mtu, sport, dport, dst_ip):
    """ICMP fragmentation needed from the kernel's address, quoting a segment ustack sent
    from sport to dst_ip:dport with sequence number quoted_seq."""
    inner = bytes(IP(src=a.uip, dst=dst_ip, ttl=64, flags="DF") /
                  TCP(sport=sport, dport=dport, seq=quoted_seq & 0xffffffff, flags="PA"))
    return bytes(Ether(src=a.kmac, dst=USTACK_MAC) /
                 IP(src=a.kip, dst=a.uip, ttl=ATTACK_TTL) /
                 ICMP(type=3, code=4, nexthopmtu=mtu) / Raw(inner[:48]))


def group_icmp(lab, a, suite):
    echo = start_echo(a.t)
    counts = {"ignored": 0, "updates": 0}

    def absurd_ignored_valid_honoured():
        rc = RawConn(a, 34000, ts=True)
        rc.connect()
        data = bytes(range(256)) * 16              # 4 KiB: ustack echoes it in 3 segments
        mark = a.wire.mark()
        for off in range(0, len(data), 1448):     # full-sized: so are ustack's echoes
            rc.send(off, data[off:off + 1448])
        # Wait for the whole echo, acknowledging none of it: it is all in flight.
        got, _ = rc.collect(len(data), mark, ack=False)
        full = max(rc.sizes)
        s0 = seq_add(rc.peer_iss, 1)
        bad = [(s0, 0), (s0, 67), (s0, 551), (s0, 1500), (s0, 9000),
               (seq_add(s0, 1 << 20), 1280), (seq_add(s0, -1), 1280),
               (seq_add(s0, len(data)), 1280)]      # SND.NXT: not in flight
        mark = a.wire.mark()
        for seq, mtu in bad:
            a.wire.send(frag_needed(a, seq, mtu, PORT, rc.sport, a.rip))
        counts["ignored"] += len(bad)
        a.barrier()
        # Unchanged MSS: the retransmission timeout resends the first segment full-sized.
        _, _, f = a.wire.wait(lambda f: rc.from_peer(f) and f["tcp"]["seq"] == s0 and
                              f["tcp"]["payload"], after=mark, timeout=WAIT,
                              what="the retransmission of the first segment")
        expect(len(f["tcp"]["payload"]) == full,
               "after ignored fragmentation-needed messages ustack resent %d bytes, wanted "
               "%d (the MSS it had)" % (len(f["tcp"]["payload"]), full))
        # A plausible one for data in flight: honoured at once (RFC 1191 6.5: resend smaller).
        mark = a.wire.mark()
        a.wire.send(frag_needed(a, s0, 1280, PORT, rc.sport, a.rip))
        counts["updates"] += 1
        _, _, f = a.wire.wait(lambda f: rc.from_peer(f) and f["tcp"]["seq"] == s0 and
                              f["tcp"]["payload"], after=mark,
                              what="the first segment resent after the MTU drop")
        want = 1280 - 40 - 12
        expect(len(f["tcp"]["payload"]) == want,
               "after fragmentation needed (MTU 1280) ustack resent %d bytes, wanted %d" % (
                   len(f["tcp"]["payload"]), want))
        rc.reset()
    suite.case("icmp_frag_needed", absurd_ignored_valid_honoured)

    def legit_connection_untouched():
        c = Legit(a)
        # Nothing of it is in flight while it pauses: every message is for a sequence number
        # not in flight, whatever its MTU.
        mark = a.wire.mark()
        for seq, mtu in ((c.snd_nxt, 1280), (seq_add(c.snd_nxt, -1), 576), (c.snd_nxt, 0)):
            a.wire.send(frag_needed(a, seq, mtu, PORT, c.lport, a.kip))
        counts["ignored"] += 3
        c.expect_challenge_acks(c.replies(mark), 0, "fragmentation needed while idle")
        c.finish()
    suite.case("icmp_legit_untouched", legit_connection_untouched)

    def counters():
        ctrs, out = stop_echo(echo)
        expect_counters(ctrs, {"tcp.pmtu_ignored": counts["ignored"],
                               "tcp.pmtu_updates": counts["updates"]})
        expect_legit_echoed(out)
    suite.case("icmp_counters", counters)


def arp_reply(a, ip, mac, op=2, dst_mac=USTACK_MAC):
    """An ARP packet to ustack saying ip is at mac (a reply, or op=1 a request from it)."""
    return bytes(Ether(src=mac, dst=dst_mac) /
                 ARP(op=op, hwsrc=mac, psrc=ip, hwdst=USTACK_MAC if op == 2 else "00:00:00:00:00:00",
                     pdst=a.uip))


def group_arp(lab, a, suite):
    def ping_reply_mac(what):
        """The destination MAC of ustack's reply to a ping from the kernel's address: where
        its neighbour entry for the kernel points."""
        idx = a.barrier()
        f = a.wire.between(lambda f: "icmp" in f, idx, idx + 1)[0]
        return f["dst"]

    def static_entry():
        echo = start_echo(a.t, "--arp_static", "%s=%s" % (a.kip, a.kmac))
        c = Legit(a)
        for i in range(4):
            a.wire.send(arp_reply(a, a.kip, EVIL_MAC))
        for i in range(2):   # requests to us carry a claim too
            a.wire.send(arp_reply(a, a.kip, EVIL_MAC, op=1, dst_mac="ff:ff:ff:ff:ff:ff"))
        a.wire.send(arp_reply(a, a.uip, EVIL_MAC))    # "ustack's own address is at EVIL"
        expect(ping_reply_mac("static") == a.kmac, "ustack's static entry was changed")
        c.finish()
        ctrs, out = stop_echo(echo)
        expect_counters(ctrs, {"arp.static_refused": 6, "arp.addr_conflicts": 1,
                               "arp.lladdr_changes": 0})
        expect_legit_echoed(out)
    suite.case("arp_static_refuses", static_entry)

    def dynamic_flaps():
        echo = start_echo(a.t)
        c = Legit(a)
        seen = []
        for mac in (EVIL_MAC, a.kmac, EVIL_MAC, a.kmac):
            a.wire.send(arp_reply(a, a.kip, mac))
            seen.append(ping_reply_mac("flap"))
        expect(seen == [EVIL_MAC, a.kmac, EVIL_MAC, a.kmac],
               "ustack's replies went to %s as the forged ARP replies flapped" % seen)
        a.wire.send(arp_reply(a, a.uip, EVIL_MAC))
        c.finish()
        ctrs, out = stop_echo(echo)
        expect_counters(ctrs, {"arp.lladdr_changes": 4, "arp.addr_conflicts": 1,
                               "arp.static_refused": 0})
        expect_legit_echoed(out)
    suite.case("arp_dynamic_flaps_counted", dynamic_flaps)


def main():
    args = netns.parse_args(__doc__.split("\n\n")[0], extra=lambda ap: ap.add_argument(
        "--group", choices=GROUPS, required=True))
    if Ether is None:
        raise netns.Skip("python3-scapy is not installed (scripts/install-deps.sh)")
    with netns.Lab("attacks_" + args.group, args) as lab:
        t = lab.ustack_topology("tap-novnet")
        suite = netns.Suite(lab, args.only, args.skip)
        a = Attack(lab, t)
        try:
            globals()["group_" + args.group](lab, a, suite)
        finally:
            a.close()
        return suite.status()


netns.main(main)
