#!/usr/bin/env python3
"""
ustack's IPv4, ARP, ICMP and UDP against the Linux kernel, over one link kind (--link tap,
tap-novnet or afpacket; see netns.Topology). The kernel is at .1 and ustack at .2 of the test's
own /24 of 198.18.0.0/15.

--group ping: the kernel's ping (a 100-request burst at 10 ms, 8000 bytes, then sizes from 0 to
  65507 bytes, fragmented both ways) against `ustack echo`; then `ustack ping` (56 and 8000
  bytes) towards the kernel.
--group udp:  socat and ncat against `ustack echo`'s UDP echo (exact bytes back), kernel
  datagrams up to 65507 bytes, ECONNREFUSED for a kernel connected socket sending to a closed
  ustack port; then `ustack udp-client` against a kernel UDP echo server (up to 60,000-byte
  datagrams, sha256 of what the server received == ustack's == recomputed here), and
  ECONNREFUSED seen by ustack for a closed kernel port.
"""
import hashlib
import re
import signal

import netns
from netns import expect

ECHO_PORT = 7            # ustack echo's UDP port
KERNEL_ECHO_PORT = 7007  # the kernel-side UDP echo server's
CLOSED_PORT = 9          # nobody listens here, on either side


def start_echo(suite, t, dependents):
    """Starts `ustack echo` as a case of its own; returns it, or None after marking the cases
    that need it as not run."""
    box = []
    if suite.case("echo_starts", lambda: box.append(t.start_ustack("echo", "--port", ECHO_PORT)),
                  always=True):
        return box[0]
    for name in dependents:
        suite.skip(name, "ustack echo did not start")
    return None


def stop_ustack(proc):
    """Stops a ustack process and checks it exits 0 (it prints its counters then)."""
    status = proc.stop(timeout=5)
    how = "was killed by %s" % signal.Signals(-status).name if status < 0 else \
        "exited with status %d" % status
    expect(status == 0, "%s %s%s:\n%s" % (
        proc.name, how, " (after SIGKILL: SIGINT did not stop it)" if proc.killed else "",
        netns.indent(netns.tail(proc.output()))))


def kernel_ping(t, count, size=56, interval=0.01, per_reply_s=1):
    """The kernel's ping at ustack; checks every request was answered once, intact."""
    # No -w: with a deadline, iputils ping keeps sending until `count` replies arrive.
    r = t.kernel.run(["ping", "-n", "-c", count, "-s", size, "-i", interval, "-W", per_reply_s,
                      t.ustack_ip], timeout=20 + count * (interval + per_reply_s), text=True)
    got = netns.ping_summary(r.stdout)
    expect(got == (count, count), "ping -s %d: %s, wanted %d of %d\n%s" % (
        size, "%d received of %d transmitted" % (got[1], got[0]) if got else "no summary",
        count, count, r.describe()))
    for bad in ("DUP!", "wrong data byte", "truncated"):
        expect(bad not in r.stdout, "ping -s %d printed %r:\n%s" % (size, bad, r.describe()))
    want_line = "%d bytes from %s" % (size + 8, t.ustack_ip)
    expect(r.stdout.count(want_line) == count,
           "ping -s %d: expected %d lines with %r\n%s" % (size, count, want_line, r.describe()))


# ---- the ping group

def case_kernel_ping_burst(t):
    kernel_ping(t, 100, interval=0.01)


def link_mac(ns, dev):
    m = re.search(r"link/ether ([0-9a-f:]{17})", netns.decode(ns.ip("link", "show", dev).stdout))
    expect(m, "no MAC address on %s in %s" % (dev, ns))
    return m.group(1)


def case_ustack_has_own_mac(t):
    """The kernel learnt a MAC for ustack's address (by ARP) that is none of the interfaces':
    ustack has its own identity on the link (docs/design.md, "Identity")."""
    kernel_ping(t, 1)
    out = netns.decode(t.kernel.ip("neigh", "show", t.ustack_ip, "dev", t.kernel_dev).stdout)
    m = re.search(r"lladdr ([0-9a-f:]{17})", out)
    expect(m, "the kernel has no neighbour entry for %s: %r" % (t.ustack_ip, out))
    theirs = {link_mac(t.kernel, t.kernel_dev)}
    if t.kind == "afpacket":
        theirs.add(link_mac(t.ustack_ns, t.link.split(":", 1)[1]))
    expect(m.group(1) not in theirs,
           "ustack answers with MAC %s, which is an interface's own (%s)" % (
               m.group(1), ", ".join(sorted(theirs))))


def case_kernel_ping_8000(t):
    kernel_ping(t, 10, size=8000, interval=0.02)


# 0: no timestamp in the payload; 1472: the largest unfragmented at MTU 1500; 1473: the smallest
# fragmented; 2952/2953: the two-/three-fragment boundary.
PING_SIZES = (0, 1, 1472, 1473, 2952, 2953, 30000, 65000)


def case_kernel_ping_sizes(t):
    for size in PING_SIZES:
        kernel_ping(t, 2, size=size, interval=0.02, per_reply_s=2)


def case_kernel_ping_65507(t):
    """The largest ping there is: a 65,535-byte datagram each way (its own case, run last
    while ustack echo is up, so that a failure here does not hide others)."""
    kernel_ping(t, 2, size=65507, interval=0.02, per_reply_s=2)


def ustack_ping(t, count, size=56, interval=0.01):
    t.forget_neighbours()
    r = t.run_ustack("ping", "-c", count, "-s", size, "-i", interval, "-W", 2, t.kernel_ip,
                     timeout=20 + count * interval)
    line = "%d packets transmitted, %d received, 0%% packet loss" % (count, count)
    expect(r.returncode == 0 and line in r.stdout,
           "wanted exit 0 and %r:\n%s" % (line, r.describe()))
    want_line = "%d bytes from %s" % (size + 8, t.kernel_ip)
    expect(r.stdout.count(want_line) == count,
           "expected %d lines with %r\n%s" % (count, want_line, r.describe()))


def case_ustack_ping(t):
    ustack_ping(t, 20)


def case_ustack_ping_8000(t):
    ustack_ping(t, 5, size=8000, interval=0.02)


def group_ping(lab, t, suite):
    echo = start_echo(suite, t, ["kernel_ping_burst", "ustack_has_own_mac", "kernel_ping_8000",
                                 "kernel_ping_sizes", "kernel_ping_65507"])
    if echo:
        suite.case("kernel_ping_burst", case_kernel_ping_burst, t)
        suite.case("ustack_has_own_mac", case_ustack_has_own_mac, t)
        suite.case("kernel_ping_8000", case_kernel_ping_8000, t)
        suite.case("kernel_ping_sizes", case_kernel_ping_sizes, t)
        suite.case("kernel_ping_65507", case_kernel_ping_65507, t)
        suite.case("echo_exits_cleanly", stop_ustack, echo)
    suite.case("ustack_ping", case_ustack_ping, t)
    suite.case("ustack_ping_8000", case_ustack_ping_8000, t)


# ---- the udp group

# 14 bytes of text; every byte value (1472: the largest unfragmented datagram); 4000 bytes:
# three fragments. A datagram per write: at most 4096 bytes (see netns.exchange_via_stdio).
STDIO_PAYLOADS = (b"hello, ustack\n", (bytes(range(256)) * 6)[:1472],
                  bytes((i * 7 + 3) & 0xff for i in range(4000)))


def case_stdio_client(t, argv):
    c = t.kernel.spawn(argv, name=argv[0], stdin=True, binary=True)
    netns.exchange_via_stdio(c, STDIO_PAYLOADS)
    c.close_stdin()
    c.stop()


# Sends one datagram per size from a kernel socket, checks each comes back identical.
KERNEL_UDP_CLIENT = r"""
import socket, sys
ip, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
s.connect((ip, port))
s.settimeout(2.0)
bad = 0
for size in map(int, sys.argv[3:]):
    data = bytes((i * 31 + size) & 0xff for i in range(size))
    s.send(data)
    try:
        back = s.recv(65535)
    except Exception as e:
        print("size %d: %s" % (size, e)); bad += 1; continue
    if back != data:
        print("size %d: came back as %d different bytes" % (size, len(back))); bad += 1
    else:
        print("size %d: ok" % size)
sys.exit(1 if bad else 0)
"""

KERNEL_UDP_SIZES = (0, 1, 1472, 1473, 8000, 30000, 60000)


def case_kernel_datagrams(t, sizes=KERNEL_UDP_SIZES):
    r = t.kernel.python(KERNEL_UDP_CLIENT, t.ustack_ip, ECHO_PORT, *sizes, timeout=30, text=True)
    expect(r.returncode == 0, r.describe())


def case_kernel_sees_refused(t):
    got = netns.udp_refused_probe(t.kernel, t.ustack_ip, CLOSED_PORT)
    expect(got == "ECONNREFUSED",
           "a kernel connected UDP socket sending to ustack's closed port %d saw %r, "
           "wanted ECONNREFUSED" % (CLOSED_PORT, got))


def udp_client_content(size, count):
    """sha256 of what `ustack udp-client` sends (its fill(): an LCG per datagram)."""
    h = hashlib.sha256()
    for n in range(count):
        x = (n * 2654435761 + 1) & 0xffffffff
        buf = bytearray(size)
        for i in range(size):
            x = (x * 1103515245 + 12345) & 0xffffffff
            buf[i] = (x >> 16) & 0xff
        h.update(buf)
    return h.hexdigest()


def case_udp_client(t, size, count):
    srv = netns.kernel_udp_echo(t.kernel, t.kernel_ip, KERNEL_ECHO_PORT)
    t.forget_neighbours()
    r = t.run_ustack("udp-client", "--server", "%s:%d" % (t.kernel_ip, KERNEL_ECHO_PORT),
                     "--size", size, "--count", count, "--timeout-ms", 3000, timeout=30)
    n, nbytes, server_sha = netns.udp_echo_summary(srv)
    m = re.search(r"^udp-client: (\d+)/(\d+) echoed, sha256 ([0-9a-f]{64})$", r.stdout, re.M)
    expect(r.returncode == 0 and m and m.group(1) == m.group(2) == str(count),
           "wanted exit 0 and \"udp-client: %d/%d echoed, sha256 ...\" (the kernel's echo "
           "server received %d datagrams, %d bytes):\n%s" % (count, count, n, nbytes,
                                                              r.describe()))
    expect((n, nbytes) == (count, count * size),
           "the kernel's echo server received %d datagrams, %d bytes; wanted %d, %d" % (
               n, nbytes, count, count * size))
    want = udp_client_content(size, count)
    expect(m.group(3) == server_sha == want,
           "sha256 mismatch: ustack udp-client %s, kernel server received %s, expected %s" % (
               m.group(3), server_sha, want))


def case_ustack_sees_refused(t):
    t.forget_neighbours()
    r = t.run_ustack("udp-client", "--server", "%s:%d" % (t.kernel_ip, CLOSED_PORT),
                     "--count", 1, "--timeout-ms", 3000, timeout=20)
    expect(r.returncode == 1 and "ECONNREFUSED" in r.stdout,
           "wanted exit 1 and ECONNREFUSED from a closed kernel port:\n" + r.describe())


def group_udp(lab, t, suite):
    echo = start_echo(suite, t, ["socat_echo", "ncat_echo", "kernel_sees_refused",
                                 "kernel_datagrams", "kernel_datagram_65507"])
    if echo:
        suite.case("socat_echo", case_stdio_client, t,
                   ["socat", "-", "UDP4:%s:%d" % (t.ustack_ip, ECHO_PORT)])
        suite.case("ncat_echo", case_stdio_client, t,
                   ["ncat", "--udp", t.ustack_ip, str(ECHO_PORT)])
        suite.case("kernel_sees_refused", case_kernel_sees_refused, t)
        suite.case("kernel_datagrams", case_kernel_datagrams, t)
        # The largest UDP datagram (65,535 bytes of IPv4) last, like kernel_ping_65507.
        suite.case("kernel_datagram_65507", case_kernel_datagrams, t, (65507,))
        suite.case("echo_exits_cleanly", stop_ustack, echo)
    suite.case("udp_client_100x50", case_udp_client, t, 100, 50)
    suite.case("udp_client_1472x20", case_udp_client, t, 1472, 20)
    suite.case("udp_client_60000x10", case_udp_client, t, 60000, 10)
    suite.case("ustack_sees_refused", case_ustack_sees_refused, t)


GROUPS = {"ping": group_ping, "udp": group_udp}


def main():
    args = netns.parse_args(__doc__, extra=lambda ap: ap.add_argument(
        "--group", required=True, choices=sorted(GROUPS)))
    with netns.Lab("%s_%s" % (args.link, args.group), args) as lab:
        lab.ustack_path()   # fail early, clearly, if the tool is missing
        t = lab.ustack_topology(args.link)
        netns.log("%s over %s: kernel %s on %s in %s, ustack %s in %s" % (
            args.group, t.link, t.kernel_ip, t.kernel_dev, t.kernel, t.ustack_ip, t.ustack_ns))
        suite = netns.Suite(lab, args.only, args.skip)
        GROUPS[args.group](lab, t, suite)
        return suite.status()


if __name__ == "__main__":
    netns.main(main)
