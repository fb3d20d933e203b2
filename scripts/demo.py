#!/usr/bin/env python3
"""
`make demo`: ustack at work, next to the Linux kernel doing the same job.

In network namespaces of its own (ust-demo-*, addresses from 198.18.0.0/15, no route out, all
removed at the end) it
  1. starts a ustack stack on a TAP device with `ustack echo` (ICMP echo, UDP and TCP echo),
     and lets the kernel's own programs use it: ping, socat over UDP, a TCP transfer each way
     with the bytes checked by sha256;
  2. serves a file with an unmodified `python3 -m http.server` running on ustack
     (`ustack run -- ...`, the LD_PRELOAD launcher) and fetches it with the kernel's curl, and
     the other way round, checking the sha256;
  3. does the same measurements between two kernel namespaces over a veth pair and prints
     both side by side.
The comparison is indicative (one short run, no pinning); `make bench` measures properly.
"""
import hashlib
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "interop"))
import netns  # noqa: E402
from netns import expect  # noqa: E402

NBYTES = 64 << 20
PORT = 5001


def say(msg=""):
    print(msg, flush=True)


def ping_avg(ns, ip, count=20):
    r = ns.run(["ping", "-n", "-q", "-c", count, "-i", "0.01", "-W", 1, ip], timeout=30,
               text=True)
    m = re.search(r"= [0-9.]+/([0-9.]+)/", r.stdout)
    got = netns.ping_summary(r.stdout)
    expect(m and got == (count, count), "ping %s failed:\n%s" % (ip, r.describe()))
    return float(m.group(1)) * 1000.0


def udp_echo_check(ns, ip, port):
    msg = b"hello from the kernel's socat, via ustack\n"
    r = ns.run(["socat", "-t", "2", "-T", "2", "-", "UDP:%s:%d" % (ip, port)], input=msg,
               timeout=10)
    expect(r.stdout == msg, "socat got %r back, wanted %r" % (r.stdout, msg))
    return msg.decode().strip()


def check_transfer(what, got, want_sha):
    n, digest, secs, note = got
    expect(n == NBYTES and digest == want_sha and not note,
           "%s: %d bytes sha256 %s%s, wanted %d / %s" % (what, n, digest, note, NBYTES,
                                                         want_sha))
    return n * 8 / secs / 1e9


def ustack_side(lab, results):
    t = lab.ustack_topology("tap")
    say("== ustack: %s on %s, the kernel at %s on the same TAP device" % (
        t.ustack_ip, t.link, t.kernel_ip))
    echo = t.start_ustack("echo", "--port", PORT, pcap=False)
    say("   $ %s" % " ".join(t.ustack_argv("echo", "--port", PORT, pcap=False)[1:]))
    rtt = ping_avg(t.kernel, t.ustack_ip)
    say("   kernel's ping -> ustack: 20/20 replies, average %.1f us" % rtt)
    say("   kernel's socat (UDP) -> ustack echo: %r came back" %
        udp_echo_check(t.kernel, t.ustack_ip, PORT))
    echo.stop()
    results["ping round trip (us)"] = [rtt]

    want = netns.stream_sha256(NBYTES)
    sink = t.start_ustack("echo", "--port", PORT, "--discard", pcap=False)
    up = netns.tcp_upload(t.kernel, t.ustack_ip, PORT, NBYTES, limit=60)
    sink.wait_for(r"^tcp discard: %d bytes sha256 %s" % (NBYTES, want), timeout=10)
    sink.stop()
    gbit_up = check_transfer("upload to ustack", up, want)
    say("   kernel TCP -> ustack: 64 MiB, sha256 %s.. checked at both ends, %.2f Gbit/s" % (
        want[:12], gbit_up))

    src = t.start_ustack("echo", "--port", PORT, "--source", NBYTES, pcap=False)
    down = netns.tcp_download(t.kernel, t.ustack_ip, PORT, limit=60)
    src.stop()
    gbit_down = check_transfer("download from ustack", down, want)
    say("   ustack TCP -> kernel: 64 MiB, sha256 checked, %.2f Gbit/s" % gbit_down)
    results["TCP into the stack (Gbit/s)"] = [gbit_up]
    results["TCP out of the stack (Gbit/s)"] = [gbit_down]
    return t



def unmodified_programs(lab, t):
    """python3's http.server under ustack, the kernel's curl fetching from it, and curl under
    ustack fetching from the kernel's http.server."""
    say("== unmodified programs on ustack (ustack run: LD_PRELOAD, nothing recompiled)")
    d = tempfile.mkdtemp(prefix="ust-demo-")
    try:
        data = os.urandom(16 << 20)
        with open(os.path.join(d, "file.bin"), "wb") as f:
            f.write(data)
        want = hashlib.sha256(data).hexdigest()
        run = [lab.ustack_path(), "run", "--link", t.link, "--addr",
               "%s/%d" % (t.ustack_ip, t.prefix), "--"]
        say("   $ ustack run --link %s --addr %s/%d -- python3 -m http.server 8001" % (
            t.link, t.ustack_ip, t.prefix))
        srv = t.ustack_ns.spawn(run + ["/usr/bin/python3", "-u", "-m", "http.server", "--bind",
                                       t.ustack_ip, "8001", "--directory", d],
                                ready="Serving HTTP", name="httpd-on-ustack")
        out = os.path.join(d, "got.bin")
        r = t.kernel.run(["curl", "-sS", "--max-time", "30", "-o", out,
                          "http://%s:8001/file.bin" % t.ustack_ip], timeout=40, text=True)
        srv.stop()
        expect(r.returncode == 0, "the kernel's curl failed:\n" + r.describe())
        with open(out, "rb") as f:
            got = hashlib.sha256(f.read()).hexdigest()
        expect(got == want, "curl got sha256 %s, wanted %s" % (got, want))
        say("   kernel's curl <- http.server on ustack: 16 MiB, sha256 %s.. matches" % want[:12])
        os.unlink(out)
        srv = t.kernel.spawn([sys.executable, "-u", "-m", "http.server", "--bind", t.kernel_ip,
                              "8002", "--directory", d], ready="Serving HTTP", name="httpd")
        r = t.ustack_ns.run(run + ["curl", "-sS", "--max-time", "30", "-o", out,
                                   "http://%s:8002/file.bin" % t.kernel_ip], timeout=40,
                            text=True)
        srv.stop()
        expect(r.returncode == 0, "curl under ustack failed:\n" + r.describe())
        with open(out, "rb") as f:
            got = hashlib.sha256(f.read()).hexdigest()
        expect(got == want, "curl under ustack got sha256 %s, wanted %s" % (got, want))
        say("   curl on ustack <- the kernel's http.server: 16 MiB, sha256 matches")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def kernel_side(lab, results):
    a, b = lab.namespace("ka"), lab.namespace("kb")
    lab.veth(a, "ud1", b, "ud2")
    ip_a, ip_b = lab.addr(11), lab.addr(12)
    a.ip("addr", "add", lab.cidr(11), "dev", "ud1")
    b.ip("addr", "add", lab.cidr(12), "dev", "ud2")
    lab.assert_isolated()
    say("== kernel: %s and %s in two namespaces over a veth pair" % (ip_a, ip_b))
    rtt = ping_avg(a, ip_b)
    say("   ping: average %.1f us" % rtt)
    want = netns.stream_sha256(NBYTES)
    sink = netns.kernel_tcp_discard(b, ip_b, PORT)
    up = netns.tcp_upload(a, ip_b, PORT, NBYTES, limit=60)
    sink.stop()
    gbit = check_transfer("kernel upload", up, want)
    src = netns.kernel_tcp_source(a, ip_a, PORT, NBYTES)
    down = netns.tcp_download(b, ip_a, PORT, limit=60)
    src.stop()
    gbit2 = check_transfer("kernel download", down, want)
    say("   TCP: 64 MiB each way, %.2f and %.2f Gbit/s" % (gbit, gbit2))
    results["ping round trip (us)"].append(rtt)
    results["TCP into the stack (Gbit/s)"].append(gbit)
    results["TCP out of the stack (Gbit/s)"].append(gbit2)


def main():
    args = netns.parse_args("ustack's demonstration")
    if not args.build_dir:
        args.build_dir = "build"
    with netns.Lab("demo", args, deadline=300) as lab:
        results = {}
        t = ustack_side(lab, results)
        unmodified_programs(lab, t)
        kernel_side(lab, results)
        say()
        say("%-32s %14s %14s %8s" % ("", "ustack (TAP)", "kernel (veth)", "ratio"))
        for k, (u, kv) in results.items():
            say("%-32s %14.2f %14.2f %7.2fx" % (k, u, kv, u / kv))
        say()
        say("One short unpinned run; `make bench` measures like for like (docs/benchmarks.md).")
    return 0


if __name__ == "__main__":
    netns.main(main)
