#!/usr/bin/env python3
"""
The AF_XDP link (src/link/afxdp.c) against the Linux kernel over a veth pair (netns.Topology
kind "afxdp"): the kernel at .1 on uk0, `ustack echo` at .2 on afxdp:uu0 in its own namespace.

  kernel_ping      the kernel's ping: 100 requests at 10 ms, 100 replies, intact, no duplicates
  tcp_upload       16 MiB from the kernel's TCP to `ustack echo --discard`, sha256 checked at
                   both ends
  tcp_download     16 MiB from `ustack echo --source` to the kernel's TCP, sha256 checked at
                   both ends
  mode_logged      ustack said which mode it bound (copy or zero-copy, native or generic XDP)
                   and, wherever it fell back (no zero-copy; native XDP refused, as veth does
                   above an MTU of about 3.5 KB: run with --mtu 9000), why
  no_leak          each ustack process exited 0 with no pool buffer left in use

Skipped (exit 77, with the reason) only when AF_XDP cannot be had at all: a ustack built without
libxdp/libbpf (--no-afxdp-build, passed by CMake), or a kernel without AF_XDP sockets (socket()
refuses the family). Anything else that goes wrong is a failure.

The kernel end transmits with full checksums (ethtool -K uk0 tx off): AF_XDP hands over frames
without the kernel's checksum metadata, so a partial checksum left for "hardware" on a veth
would arrive unfinished, just as it would on a real wire if nothing completed it.
"""
import errno
import os
import re
import shutil

import netns
from netns import expect

PORT = 5001
NBYTES = 16 << 20
LIMIT = 15                # seconds per transfer


def extra_args(ap):
    ap.add_argument("--no-afxdp-build", action="store_true",
                    help="ustack was configured without libxdp/libbpf: skip, saying so")
    ap.add_argument("--mtu", type=int, help="the veth pair's MTU (default the kernel's, 1500)")


def probe_kernel(ns):
    """Raises Skip if this kernel has no AF_XDP sockets in ns."""
    r = ns.python(r"""
import socket
try:
    socket.socket(44, socket.SOCK_RAW, 0).close()     # AF_XDP, <linux/socket.h>
    print("ok")
except OSError as e:
    print("errno %d %s" % (e.errno, e.strerror))
""", timeout=10, text=True)
    out = r.stdout.strip()
    if out == "ok":
        return
    expect(out.startswith("errno "), "the AF_XDP probe failed: " + r.describe())
    code = int(out.split()[1])
    if code in (errno.EAFNOSUPPORT, errno.EPERM, errno.EACCES):
        raise netns.Skip("this kernel (%s) refuses AF_XDP sockets: socket(AF_XDP) -> %s"
                         % (os.uname().release, out[6:]))
    raise netns.TestFailure("socket(AF_XDP) failed unexpectedly: " + out)


def kernel_ping(t, count=100):
    r = t.kernel.run(["ping", "-n", "-c", count, "-i", 0.01, "-W", 1, t.ustack_ip],
                     timeout=20 + count * 1.1, text=True)
    got = netns.ping_summary(r.stdout)
    expect(got == (count, count), "ping: %s, wanted %d of %d\n%s" % (
        "%d received of %d" % (got[1], got[0]) if got else "no summary", count, count,
        r.describe()))
    for bad in ("DUP!", "wrong data byte", "truncated"):
        expect(bad not in r.stdout, "ping printed %r:\n%s" % (bad, r.describe()))


def stop_ok(t, proc, outputs):
    status = proc.stop(timeout=5)
    outputs.append((proc.name, proc.output()))
    expect(status == 0, "%s exited with status %s:\n%s" % (
        proc.name, status, netns.indent(netns.tail(proc.output()))))


def result(proc, mode):
    m = proc.wait_for(r"^tcp %s: (\d+) bytes sha256 ([0-9a-f]{64})" % mode, timeout=10)
    return int(m.group(1)), m.group(2)


def transfer(t, outputs, mode, run):
    """Starts `ustack echo --MODE`, calls run(server), and stops the server even if run failed
    (it holds the interface's queue: the next case could not bind it otherwise)."""
    t.forget_neighbours()
    extra = (NBYTES,) if mode == "source" else ()
    server = t.start_ustack("echo", "--port", PORT, "--" + mode, *extra, "--log=info",
                            pcap=False)
    try:
        run(server)
    finally:
        if server.alive():
            stop_ok(t, server, outputs)


def case_upload(t, outputs):
    want = netns.stream_sha256(NBYTES)

    def run(server):
        n, digest, secs, note = netns.tcp_upload(t.kernel, t.ustack_ip, PORT, NBYTES, LIMIT)
        expect((n, digest) == (NBYTES, want), "the kernel sent %d bytes with sha256 %s, wanted "
               "%d / %s" % (n, digest, NBYTES, want))
        got = result(server, "discard")
        expect(got == (NBYTES, want), "ustack received %d bytes with sha256 %s, wanted %d / %s"
               % (got[0], got[1], NBYTES, want))
        netns.log("    upload   %d MiB kernel -> ustack: %.3f s, %.0f Mbit/s %s" % (
            NBYTES >> 20, secs, NBYTES * 8 / secs / 1e6, note))
    transfer(t, outputs, "discard", run)


def case_download(t, outputs):
    want = netns.stream_sha256(NBYTES)

    def run(server):
        n, digest, secs, _ = netns.tcp_download(t.kernel, t.ustack_ip, PORT, LIMIT)
        sent = result(server, "source")
        expect(sent == (NBYTES, want), "ustack sent %d bytes with sha256 %s, wanted %d / %s"
               % (sent[0], sent[1], NBYTES, want))
        expect((n, digest) == (NBYTES, want), "the kernel received %d bytes with sha256 %s, "
               "wanted %d / %s" % (n, digest, NBYTES, want))
        netns.log("    download %d MiB ustack -> kernel: %.3f s, %.0f Mbit/s" % (
            NBYTES >> 20, secs, NBYTES * 8 / secs / 1e6))
    transfer(t, outputs, "source", run)


def case_mode_logged(outputs):
    expect(outputs, "no ustack process output to check")
    for name, out in outputs:
        m = re.search(r"afxdp:uu0 queue 0: (copy|zero-copy) mode, (native|generic) XDP", out)
        expect(m, "%s did not say which AF_XDP mode it bound:\n%s" % (
            name, netns.indent(netns.tail(out))))
        netns.log("    %s: %s" % (name, m.group(0)))
        if m.group(1) == "copy":
            expect("no zero-copy on this interface" in out,
                   "%s fell back to copy mode without saying why:\n%s" % (
                       name, netns.indent(netns.tail(out))))
        if m.group(2) == "generic":
            expect("native XDP refused" in out,
                   "%s fell back to generic XDP without saying why:\n%s" % (
                       name, netns.indent(netns.tail(out))))


def case_no_leak(outputs):
    for name, out in outputs:
        expect("still in use" not in out, "%s leaked pool buffers:\n%s" % (
            name, netns.indent(netns.tail(out))))


def main():
    args = netns.parse_args("ustack's AF_XDP link against the kernel", extra=extra_args)
    if args.no_afxdp_build:
        raise netns.Skip("ustack was built without AF_XDP (libxdp/libbpf were not found when "
                         "it was configured; install libxdp-dev and libbpf-dev)")
    with netns.Lab("afxdp", args) as lab:
        t = lab.ustack_topology("afxdp", mtu=args.mtu)
        probe_kernel(t.ustack_ns)
        # Full checksums from the kernel end (see above); TSO off too, so that no super-frame
        # larger than a UMEM chunk is sent if XDP runs in generic mode.
        if shutil.which("ethtool"):
            t.kernel.run(["ethtool", "-K", t.kernel_dev, "tx", "off", "tso", "off"],
                         check=True, timeout=10)
        else:
            raise netns.TestFailure("ethtool is needed (scripts/install-deps.sh installs it)")
        suite = netns.Suite(lab, args.only, args.skip)
        outputs = []
        box = []
        if suite.case("echo_starts", lambda: box.append(
                t.start_ustack("echo", "--port", 7, "--log=info", pcap=False)), always=True):
            echo = box[0]
            suite.case("kernel_ping", kernel_ping, t)
            suite.case("echo_stops", stop_ok, t, echo, outputs, always=True)
        else:
            suite.skip("kernel_ping", "ustack echo did not start")
        suite.case("tcp_upload", case_upload, t, outputs)
        suite.case("tcp_download", case_download, t, outputs)
        suite.case("mode_logged", case_mode_logged, outputs)
        suite.case("no_leak", case_no_leak, outputs)
        return suite.status()


if __name__ == "__main__":
    netns.main(main)
