#!/usr/bin/env python3
"""
The impairment bridge (`ustack bridge`, tools/cmd_bridge.c) on a path between the kernel (near,
.1) and a far end (.2), which is the kernel (--endpoint kernel) or a ustack process on its veth
end (--endpoint ustack); see netns.BridgeTopology. Each --case configures one impairment, the
same in both directions, and moves 16 MiB each way with TCP (near -> far, then far -> near),
with the sha256 checked at both ends, then reads the bridge's counters to check that the
impairment really happened, in about the configured proportion:

  clean    no fault: ping, and every frame in came out (partial checksums completed)
  loss1    1% loss                    loss5    5% loss
  delay    20 ms +- 5 ms each way (delay=15ms, jitter=10ms) and 25% reordering; ping shows it
  dup      5% duplication
  corrupt  0.1% corruption past the IPv4 header: the receivers drop those frames for a bad
           checksum (their counters say so) and the data still arrives intact
  basics   (kernel only) the tool itself: bad arguments, delay punctuality, no CPU when idle,
           SIGTERM, --duration, and its captures

The far end's servers: with the kernel, small python programs (netns.kernel_tcp_discard /
kernel_tcp_source); with ustack, `ustack echo --port P --discard` (counts and hashes what each
connection sends: "tcp discard: N bytes sha256 HEX ...") and `ustack echo --port P --source N`
(sends N bytes of the test stream to whoever connects: "tcp source: N bytes sha256 HEX ...").
Both ends send the project's test stream (netns.stream_bytes), so the test knows its sha256.
The ustack variants run when USTACK_ENABLED (below) is True, as now, or UST_BRIDGE_USTACK=1 is
in the environment; otherwise they exit 77 (skipped), saying why.

Throughput is printed (Mbit/s per transfer), not checked: the machine is shared.
"""
import math
import os
import re
import signal
import statistics
import struct
import time

import netns
from netns import expect

PORT = 5001
NBYTES = 16 << 20
SEED = 7
LIMIT = 15            # seconds for one transfer: both must fit in the test's deadline
# ustack sending under 5% loss both ways still takes many times the kernel's time, because the
# kernel here sends with BBR (this machine's default), which does not slow down for random loss;
# with CUBIC or Reno the kernel takes as long as ustack or longer (17-30 s for 16 MiB, with 26-48
# RTOs). ustack (CUBIC, RACK-TLP, PRR) takes 5-12 s on the shared machine, with about 10-25 RTOs
# (two losses in a row at the tail of a small flight): its download keeps more room than the
# kernel's, and the ustack variants a longer deadline (tests/interop/CMakeLists.txt).
# Correctness is checked here; speed belongs to the benchmarks.
USTACK_DOWNLOAD_LIMIT = 25

# The ustack variants are registered but skip until this is True (or UST_BRIDGE_USTACK=1 is in
# the environment, to run them by hand): they hold ustack's TCP to the same cases as the
# kernel's, which is for its authors to switch on.
USTACK_ENABLED = True

# case: (fault specification for both directions, extra bridge options)
CASES = {
    "clean": (None, {}),
    "loss1": ("loss=1%", {}),
    "loss5": ("loss=5%", {}),
    "delay": ("delay=15ms,jitter=10ms,reorder=25%", {"hold_max": 8192}),
    "dup": ("dup=5%", {}),
    "corrupt": ("corrupt=0.1%", {}),
    "basics": (None, {}),
}


def extra_args(ap):
    ap.add_argument("--endpoint", choices=netns.FAR_KINDS, default="kernel",
                    help="what runs at the far end of the bridge")
    ap.add_argument("--case", choices=sorted(CASES), default="clean")


# ---- the far end: the kernel or ustack, behind one interface

class KernelFar:
    """TCP servers on the far kernel (python, the kernel's sockets)."""

    def __init__(self, t):
        self.t = t
        self.outputs = []

    def check_available(self):
        pass

    def start_discard(self):
        return netns.kernel_tcp_discard(self.t.far, self.t.far_ip, PORT)

    def start_source(self, nbytes):
        return netns.kernel_tcp_source(self.t.far, self.t.far_ip, PORT + 1, nbytes)

    def source_port(self):
        return PORT + 1

    def discard_result(self, proc):
        m = proc.wait_for(r"^discard: (\d+) bytes sha256 ([0-9a-f]{64})$", timeout=15)
        return int(m.group(1)), m.group(2)

    def source_result(self, proc):
        m = proc.wait_for(r"^source: sent (\d+) bytes sha256 ([0-9a-f]{64})$", timeout=15)
        return int(m.group(1)), m.group(2)

    def stop(self, proc):
        proc.stop()
        self.outputs.append(proc.output())

    def checksum_errors(self):
        """Segments and datagrams the far kernel dropped as damaged, so far."""
        return kernel_checksum_errors(self.t.far)


class UstackFar:
    """`ustack echo` in its TCP --discard and --source modes on afpacket:uk2."""

    def __init__(self, t):
        self.t = t
        self.outputs = []

    @staticmethod
    def check_enabled():
        if not (USTACK_ENABLED or os.environ.get("UST_BRIDGE_USTACK") == "1"):
            raise netns.Skip("the ustack variants are not enabled yet (USTACK_ENABLED in "
                             "tests/interop/test_bridge.py, or UST_BRIDGE_USTACK=1)")

    def check_available(self):
        r = self.t.far.run([self.t.lab.ustack_path(), "echo", "--help"], timeout=10, text=True)
        missing = [m for m in ("--discard", "--source") if m not in r.text()]
        if missing:
            raise netns.Skip("`ustack echo` has no %s mode yet (the ustack variants of the "
                             "bridge tests need its TCP discard and source servers)"
                             % " or ".join(missing))

    def _start(self, *args):
        self.t.forget_neighbours()
        return self.t.start_ustack("echo", "--port", PORT, *args, pcap=False)

    def start_discard(self):
        return self._start("--discard")

    def start_source(self, nbytes):
        return self._start("--source", nbytes)

    def source_port(self):
        return PORT

    @staticmethod
    def _result(proc, mode):
        rx = r"^tcp %s: (\d+) bytes sha256 ([0-9a-f]{64})" % mode
        try:
            m = proc.wait_for(rx, timeout=10)
        except netns.TestFailure:
            proc.stop()      # it may print its summary only when it stops
            m = re.search(rx, proc.output(), re.M)
            expect(m, "%s printed no byte count and sha256:\n%s" % (
                proc.name, netns.indent(netns.tail(proc.output()))))
        return int(m.group(1)), m.group(2)

    def discard_result(self, proc):
        return self._result(proc, "discard")

    def source_result(self, proc):
        return self._result(proc, "source")

    def stop(self, proc):
        status = proc.stop(timeout=5)
        self.outputs.append(proc.output())
        expect(status == 0, "%s exited with status %s:\n%s" % (
            proc.name, status, netns.indent(netns.tail(proc.output()))))

    def checksum_errors(self):
        """Frames the ustack processes dropped for a bad checksum: the sum of their counters
        whose name says csum (None if they print none)."""
        total, seen = 0, False
        for out in self.outputs:
            for m in re.finditer(r"^\s*(\S*csum\S*)\s+(\d+)\s*$", out, re.M):
                total += int(m.group(2))
                seen = True
        return total if seen else None


def kernel_checksum_errors(ns):
    """TCP segments (bad checksum or header), UDP datagrams and ICMP messages ns's kernel
    dropped as damaged."""
    s = netns.tcp_snmp(ns)
    return s["Tcp"]["InErrs"] + s["Udp"]["InCsumErrors"] + s["Icmp"]["InCsumErrors"]


# ---- checks

def about(count, n, p, what):
    """count should be about n * p (a binomial count): within six standard deviations, plus
    three for small n. Loose on purpose: it tells "happened at the configured rate" from "did
    not happen" or "happened at another rate", without failing by chance."""
    mean = n * p
    sd = math.sqrt(n * p * (1 - p))
    lo, hi = max(0.0, mean - 6 * sd - 3), mean + 6 * sd + 3
    expect(lo <= count <= hi, "%s: %d of %d frames (%.2f%%), configured %.2f%%: wanted %d..%d" % (
        what, count, n, 100.0 * count / max(n, 1), 100 * p, math.ceil(lo), math.floor(hi)))


def conserved(c, name):
    """Every frame the bridge took in (and every duplicate it made) was dropped by a fault,
    sent on, still held, or lost with a reason."""
    d = c[name]
    took = d["in"] + d["duplicated"]
    went = d["dropped"] + d["out"] + d["held"] + d["lost"]
    expect(took == went, "%s: in %d + duplicated %d != dropped %d + out %d + held %d + lost %d"
           % (name, d["in"], d["duplicated"], d["dropped"], d["out"], d["held"], d["lost"]))


def mbit(nbytes, secs):
    return nbytes * 8 / secs / 1e6 if secs > 0 else float("inf")


def transfers(t, far, ping=None):
    """Starts the far discard server, runs `ping` (a function) if given, uploads NBYTES from
    near to far, then downloads NBYTES from far's source server; checks the sha256 everywhere.
    Returns the two rates in Mbit/s."""
    want = netns.stream_sha256(NBYTES)
    server = far.start_discard()
    if ping:
        ping()
    n, digest, secs, note = netns.tcp_upload(t.near, t.far_ip, PORT, NBYTES, LIMIT)
    expect(n == NBYTES and digest == want, "the near end sent %d bytes with sha256 %s, "
           "wanted %d / %s" % (n, digest, NBYTES, want))
    got = far.discard_result(server)
    expect(got == (NBYTES, want), "the far end received %d bytes with sha256 %s, wanted %d / %s"
           % (got[0], got[1], NBYTES, want))
    far.stop(server)
    up = mbit(NBYTES, secs)
    netns.log("    upload   %d MiB near -> far: %.3f s, %.0f Mbit/s%s" % (
        NBYTES >> 20, secs, up, " " + note if note else ""))

    server = far.start_source(NBYTES)
    limit = USTACK_DOWNLOAD_LIMIT if t.far_kind == "ustack" else LIMIT
    n, digest, secs, _ = netns.tcp_download(t.near, t.far_ip, far.source_port(), limit)
    sent = far.source_result(server)
    expect(sent == (NBYTES, want), "the far end sent %d bytes with sha256 %s, wanted %d / %s"
           % (sent[0], sent[1], NBYTES, want))
    expect(n == NBYTES and digest == want, "the near end received %d bytes with sha256 %s, "
           "wanted %d / %s" % (n, digest, NBYTES, want))
    far.stop(server)
    down = mbit(NBYTES, secs)
    netns.log("    download %d MiB far -> near: %.3f s, %.0f Mbit/s" % (NBYTES >> 20, secs, down))
    return up, down


def near_ping(t, count, interval, per_reply_s=2):
    r = t.near.run(["ping", "-n", "-c", count, "-i", interval, "-W", per_reply_s, t.far_ip],
                   timeout=20 + count * (interval + per_reply_s), text=True)
    got = netns.ping_summary(r.stdout)
    expect(got == (count, count), "ping: %s, wanted %d of %d\n%s" % (
        "%d received of %d" % (got[1], got[0]) if got else "no summary", count, count,
        r.describe()))
    expect("DUP!" not in r.stdout, "ping saw duplicates:\n" + r.describe())
    return netns.ping_rtts(r.stdout)


def rtt_text(rtts):
    q = sorted(rtts)
    return "min %.2f median %.2f max %.2f ms over %d" % (q[0], statistics.median(q), q[-1], len(q))


# ---- the cases

def case_clean(t, far):
    def ping():
        rtts = near_ping(t, 20, 0.01)
        netns.log("    ping: " + rtt_text(rtts))
        expect(max(rtts) < 20, "ping through a clean bridge took up to %.1f ms" % max(rtts))
    t.start_bridge(seed=SEED)
    transfers(t, far, ping)
    c = t.stop_bridge()
    for name in ("a2b", "b2a"):
        d = c[name]
        conserved(c, name)
        for k in ("dropped", "duplicated", "reordered", "delayed", "corrupted", "lost"):
            expect(d[k] == 0, "%s: %s %d on a clean path" % (name, k, d[k]))
        expect(d["out"] == d["in"] and d["in"] > 1000, "%s: in %d, out %d" % (
            name, d["in"], d["out"]))
        expect(d["truncated"] == 0, "%s: %d super-frames arrived" % (name, d["truncated"]))
    if t.offload == "tso off":
        # The near kernel leaves its TCP checksums to the "hardware": the bridge finished them
        # (and the sha256 and the transfer's success say it finished them right).
        expect(c["a2b"]["csum_completed"] > 1000, "a2b: only %d partial checksums completed"
               % c["a2b"]["csum_completed"])


def case_loss(t, far, p):
    t.start_bridge(a2b=case_spec(t), b2a=case_spec(t), seed=SEED)
    transfers(t, far)
    c = t.stop_bridge()
    for name in ("a2b", "b2a"):
        d = c[name]
        conserved(c, name)
        about(d["dropped"], d["in"], p, name + " dropped")
        expect(d["overflow"] == 0 and d["lost"] == 0, "%s: overflow %d, lost %d" % (
            name, d["overflow"], d["lost"]))


def case_delay(t, far):
    spec = case_spec(t)
    lo_ms, hi_ms, hold_ms = 15.0, 25.0, 50.0    # delay, delay + jitter, reorder's longest hold

    def ping():
        # Pings 50 ms apart, so a request or reply held back for reordering waits for the
        # reorder hold time (nothing else overtakes it); the others show the delay alone.
        rtts = near_ping(t, 30, 0.05)
        netns.log("    ping: " + rtt_text(rtts))
        floor, top = 2 * lo_ms - 0.5, 2 * hi_ms + 3
        expect(min(rtts) >= floor, "ping took %.2f ms, less than twice the %g ms delay" % (
            min(rtts), lo_ms))
        plain = [x for x in rtts if x <= top]
        # Neither way held back: 0.75 * 0.75 of them, on average.
        expect(len(plain) >= 0.3 * len(rtts), "only %d of %d pings took %g..%g ms:\n%s" % (
            len(plain), len(rtts), floor, top, " ".join("%.1f" % x for x in rtts)))
        expect(max(rtts) <= 2 * (hi_ms + hold_ms) + 10, "a ping took %.1f ms" % max(rtts))

    t.start_bridge(a2b=spec, b2a=spec, seed=SEED, hold_max=CASES["delay"][1]["hold_max"])
    transfers(t, far, ping)
    c = t.stop_bridge()
    for name in ("a2b", "b2a"):
        d = c[name]
        conserved(c, name)
        expect(d["dropped"] == 0 and d["lost"] == 0, "%s: dropped %d, lost %d" % (
            name, d["dropped"], d["lost"]))
        # Every frame is delayed, once out of the reordering stage; a few may still be held
        # (in either stage) when the bridge stops.
        expect(d["in"] - d["held"] <= d["delayed"] <= d["in"],
               "%s: %d frames in, %d delayed, %d held" % (
                   name, d["in"], d["delayed"], d["held"]))
        about(d["reordered"], d["in"], 0.25, name + " reordered")


def case_dup(t, far):
    t.start_bridge(a2b=case_spec(t), b2a=case_spec(t), seed=SEED)
    transfers(t, far)
    c = t.stop_bridge()
    for name in ("a2b", "b2a"):
        d = c[name]
        conserved(c, name)
        about(d["duplicated"], d["in"], 0.05, name + " duplicated")
        expect(d["out"] == d["in"] + d["duplicated"], "%s: in %d + duplicated %d, out %d" % (
            name, d["in"], d["duplicated"], d["out"]))


def case_corrupt(t, far):
    near_before = kernel_checksum_errors(t.near)
    far_before = far.checksum_errors() if t.far_kind == "kernel" else 0
    t.start_bridge(a2b=case_spec(t), b2a=case_spec(t), seed=SEED)
    transfers(t, far)
    c = t.stop_bridge()
    for name in ("a2b", "b2a"):
        conserved(c, name)
        about(c[name]["corrupted"], c[name]["in"], 0.001, name + " corrupted")
    expect(c["a2b"]["corrupted"] + c["b2a"]["corrupted"] > 0, "nothing was corrupted")
    # Each corrupted frame must have been dropped by its receiver as damaged (not accepted:
    # the sha256 checks above would catch that too). A corrupted ARP frame is not counted
    # anywhere: allow one.
    near_errors = kernel_checksum_errors(t.near) - near_before
    far_errors = far.checksum_errors()
    if far_errors is not None:
        far_errors -= far_before
    netns.log("    damaged frames dropped: near kernel %d (b2a corrupted %d), far %s %s "
              "(a2b corrupted %d)" % (near_errors, c["b2a"]["corrupted"], t.far_kind,
                                      far_errors, c["a2b"]["corrupted"]))
    for who, errors, corrupted in (("near kernel", near_errors, c["b2a"]["corrupted"]),
                                   ("far " + t.far_kind, far_errors, c["a2b"]["corrupted"])):
        if errors is None:
            netns.log("    note: the far ustack prints no checksum counter; not compared")
            continue
        expect(corrupted - 1 <= errors <= corrupted,
               "the %s dropped %d damaged frames; the bridge corrupted %d towards it" % (
                   who, errors, corrupted))


def case_spec(t):
    """The fault specification of the case t runs."""
    return CASES[t.case][0]


# ---- basics: the tool itself (kernel far end only)

def pcap_records(path):
    """The number of records in a classic pcap file."""
    with open(path, "rb") as f:
        data = f.read()
    expect(len(data) >= 24 and data[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4",
                                            b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"),
           "%s is not a pcap file" % path)
    endian = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    off, n = 24, 0
    while off + 16 <= len(data):
        incl = struct.unpack_from(endian + "I", data, off + 8)[0]
        off += 16 + incl
        n += 1
    expect(off == len(data), "%s: a truncated record at the end" % path)
    return n


def cpu_ticks_and_switches(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    with open("/proc/%d/status" % pid) as f:
        m = re.search(r"^voluntary_ctxt_switches:\s+(\d+)", f.read(), re.M)
    return int(fields[11]) + int(fields[12]), int(m.group(1))


def case_basics(t, far):
    ustack = t.lab.ustack_path()
    bad = [
        ([], "--a and --b are required"),
        (["--a", "afpacket:ub1", "--b", "afpacket:ub1"], "the same link"),
        (["--a", "afpacket:ub1", "--b", "afpacket:ub2", "--a2b", "tx.loss=1%"], "prefixes"),
        (["--a", "afpacket:ub1", "--b", "afpacket:ub2", "--b2a", "loss=2"], "not a fault"),
        (["--a", "afpacket:ub1", "--b", "afpacket:ub2", "--duration", "0"], "--duration"),
        (["--a", "afpacket:ub1", "--b", "afpacket:nosuch0"], "nosuch0"),
    ]
    for args, says in bad:
        r = t.bridge_ns.run([ustack, "bridge"] + args, timeout=10, text=True)
        expect(r.returncode in (1, 2) and says in r.text(),
               "wanted a refusal mentioning %r: %s" % (says, r.describe()))
    r = t.bridge_ns.run([ustack, "bridge", "--help"], timeout=10, text=True)
    expect(r.returncode == 0 and "ustack bridge --a afpacket:ub1" in r.stdout, r.describe())

    # A 5 ms delay each way: the round trip is 10 ms and a bit, never less.
    p = t.start_bridge(a2b="delay=5ms", b2a="delay=5ms", seed=SEED, pcap=True)
    rtts = near_ping(t, 20, 0.02)
    netns.log("    ping with delay=5ms each way: " + rtt_text(rtts))
    expect(min(rtts) >= 10.0, "a ping came back in %.2f ms, before the 10 ms delay" % min(rtts))
    expect(statistics.median(rtts) <= 13.0, "pings took %.2f ms (median), wanted about 10" %
           statistics.median(rtts))

    # Idle: it sleeps (no CPU time, hardly any wake-ups).
    time.sleep(0.2)
    cpu0, sw0 = cpu_ticks_and_switches(p.pid)
    time.sleep(1.0)
    cpu1, sw1 = cpu_ticks_and_switches(p.pid)
    netns.log("    idle for 1 s: %d clock ticks of CPU, %d wake-ups" % (cpu1 - cpu0, sw1 - sw0))
    expect(cpu1 - cpu0 <= 2 and sw1 - sw0 <= 20, "the idle bridge used %d ticks of CPU and woke "
           "%d times in a second" % (cpu1 - cpu0, sw1 - sw0))

    # SIGTERM stops it like SIGINT, with its counters; the captures hold every frame.
    status = p.stop(sig=signal.SIGTERM)
    c = netns.bridge_counters(p.output())
    expect(status == 0 and set(c) == {"a2b", "b2a"}, "after SIGTERM: status %s\n%s" % (
        status, netns.indent(p.output())))
    for name in ("a2b", "b2a"):
        conserved(c, name)
        expect(c[name]["delayed"] == c[name]["in"] >= 20, "%s: %s" % (name, c[name]))
    t.bridge = None
    name = p.name
    got_a = pcap_records(t.lab.pcap_path(name + "-a"))
    got_b = pcap_records(t.lab.pcap_path(name + "-b"))
    want_a = c["a2b"]["in"] + c["b2a"]["out"]
    want_b = c["b2a"]["in"] + c["a2b"]["out"]
    expect((got_a, got_b) == (want_a, want_b), "captures hold %d (a) and %d (b) frames, wanted "
           "%d and %d" % (got_a, got_b, want_a, want_b))

    # --duration ends it by itself.
    p = t.start_bridge(duration=0.5)
    status = p.wait(timeout=10)
    expect(status == 0 and "stopped after 0.5" in p.output(), p.describe())
    t.bridge = None


def main():
    args = netns.parse_args("ustack bridge: impairments on a path, checked end to end",
                            extra=extra_args)
    if args.endpoint == "ustack":
        if args.case == "basics":
            raise netns.Skip("the basics case runs with the kernel at the far end only")
        UstackFar.check_enabled()
    with netns.Lab("bridge_%s_%s" % (args.endpoint, args.case), args) as lab:
        t = lab.bridge_topology(far=args.endpoint)
        t.case = args.case
        far = KernelFar(t) if args.endpoint == "kernel" else UstackFar(t)
        far.check_available()
        netns.log("bridge path: near kernel %s, far %s %s, kernel offloads: %s" % (
            t.near_ip, args.endpoint, t.far_ip, t.offload))
        suite = netns.Suite(lab, args.only, args.skip)
        run = {
            "clean": lambda: case_clean(t, far),
            "loss1": lambda: case_loss(t, far, 0.01),
            "loss5": lambda: case_loss(t, far, 0.05),
            "delay": lambda: case_delay(t, far),
            "dup": lambda: case_dup(t, far),
            "corrupt": lambda: case_corrupt(t, far),
            "basics": lambda: case_basics(t, far),
        }[args.case]
        suite.case("%s_%s" % (args.endpoint, args.case), run)
        return suite.status()


netns.main(main)
