#!/usr/bin/env python3
"""
Checks the interop framework itself (netns.py) with the kernel alone, no ustack:
namespaces joined by veth and TAP, the kernel's ping, the kernel-side peers (UDP echo server,
socat, ncat, the ECONNREFUSED probe), and that everything is removed after a normal end, a
signal, a SIGKILL of the test (the next test collects the leftovers) and a missed deadline.
"""
import os
import re
import signal
import subprocess
import sys
import time

import netns
from netns import expect


def two_namespaces(lab):
    a, b = lab.namespace("a"), lab.namespace("b")
    lab.veth(a, "va", b, "vb")
    a.ip("addr", "add", lab.cidr(1), "dev", "va")
    b.ip("addr", "add", lab.cidr(2), "dev", "vb")
    lab.assert_isolated()
    return a, b


def case_veth_ping(lab, a, b):
    r = a.run(["ping", "-c", "100", "-i", "0.01", "-W", "1", "-w", "20", lab.addr(2)],
              timeout=30, text=True)
    expect(netns.ping_summary(r.stdout) == (100, 100), r.describe())
    r = a.run(["ping", "-c", "5", "-i", "0.05", "-s", "8000", "-W", "1", "-w", "10",
               lab.addr(2)], timeout=20, text=True)
    expect(netns.ping_summary(r.stdout) == (5, 5), r.describe())
    expect(r.stdout.count("8008 bytes from") == 5, r.describe())


def case_no_route_out(lab, a, b):
    r = a.run(["ping", "-c", "1", "-W", "1", "192.0.2.1"], timeout=10, text=True)
    expect(r.returncode != 0 and "unreachable" in r.text().lower(),
           "a packet to 192.0.2.1 should find no route: " + r.describe())


TAP_ATTACH = r"""
import fcntl, os, struct, sys, time
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", sys.argv[1].encode(), 0x0002 | 0x1000))
print("attached", flush=True)
time.sleep(30)
"""


def case_tap(lab, a, b):
    tap = lab.tap(a, "ust0")
    a.ip("addr", "add", lab.cidr(3), "dev", tap)
    r = a.ip("link", "show", tap)
    expect("NO-CARRIER" in netns.decode(r.stdout), netns.decode(r.stdout))
    p = a.spawn_python(TAP_ATTACH, tap, name="tap-attach", ready="^attached")
    deadline = time.monotonic() + 5
    while "LOWER_UP" not in netns.decode(a.ip("link", "show", tap).stdout):
        expect(time.monotonic() < deadline, "the TAP device never got a carrier")
        time.sleep(0.05)
    expect(p.stop() == -signal.SIGINT or p.returncode == 1,
           "tap-attach: status %s" % p.returncode)


def case_udp_peers(lab, a, b):
    srv = netns.kernel_udp_echo(b, lab.addr(2), 7)
    payloads = [b"hello, ustack\n", bytes(range(256)) * 5 + b"!" * 192, bytes(range(250)) * 16]
    clients = [
        ["socat", "-", "UDP4:%s:7" % lab.addr(2)],
        ["ncat", "--udp", lab.addr(2), "7"],
    ]
    for argv in clients:
        c = a.spawn(argv, name=argv[0], stdin=True, binary=True)
        netns.exchange_via_stdio(c, payloads)
        c.close_stdin()
        c.stop()
    n, nbytes, _ = netns.udp_echo_summary(srv)
    expect((n, nbytes) == (6, 2 * sum(map(len, payloads))), "server saw %d/%d" % (n, nbytes))


def case_refused(lab, a, b):
    got = netns.udp_refused_probe(a, lab.addr(2), 9)
    expect(got == "ECONNREFUSED", "the probe saw %r" % got)


def case_wait_for_failure_shows_output(lab, a, b):
    p = a.spawn(["sh", "-c", "echo something went wrong; exit 3"], name="failing")
    try:
        p.wait_for("^ready", timeout=5)
    except netns.TestFailure as e:
        msg = str(e)
        expect("something went wrong" in msg and "status 3" in msg, "message: " + msg)
        return
    raise netns.TestFailure("wait_for did not fail")


# ---- cleanup checks: a child process builds a lab, then is signalled, killed or runs late.

def child(mode):
    def body():
        args = netns.parse_args("child", ["--deadline", "60"])
        with netns.Lab("selftest_child", args) as lab:
            a, b = two_namespaces(lab)
            lab.tap(a, "ust0")
            p = a.spawn(["sleep", "60"], name="sleeper")
            print("CHILD namespaces=%s,%s pid=%d" % (a, b, p.pid), flush=True)
            if mode == "late":
                # The deadline runs out one second from now, once everything exists (however
                # long a loaded machine took to make it): the Lab's SIGALRM, as --deadline sets.
                signal.alarm(1)
            time.sleep(30)
    netns.main(body)


lab_artifacts = []   # the parent lab's artefact directory (its parent holds the child's)


def run_child(mode, action):
    """Starts a child in `mode`, waits for its report line, applies action(popen); returns the
    (namespaces, sleeper pid, child exit status, child output)."""
    c = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", mode],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 15
        while "CHILD" not in line and time.monotonic() < deadline:
            line = c.stdout.readline()
            if not line:
                break
        m = re.search(r"namespaces=(\S+),(\S+) pid=(\d+)", line)
        expect(m, "the child printed %r" % line)
        action(c)
        out, _ = c.communicate(timeout=15)
        return [m.group(1), m.group(2)], int(m.group(3)), c.returncode, out
    finally:
        if c.poll() is None:
            c.kill()
            c.wait(5)
        # The child's (empty) artefact directory, left behind when it was SIGKILLed.
        d = os.path.join(os.path.dirname(lab_artifacts[0]), "selftest_child-%d" % c.pid)
        if os.path.isdir(d) and not os.listdir(d):
            os.rmdir(d)


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie of a dead parent is reaped by init soon; look at its state
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def wait_gone(pid, seconds=5):
    deadline = time.monotonic() + seconds
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return gone(pid)


def case_cleanup_on_sigterm(lab, a, b):
    names, pid, status, out = run_child("hold", lambda c: c.send_signal(signal.SIGTERM))
    expect(status != 0, "the child exited 0 after SIGTERM:\n" + out)
    left = [n for n in names if n in netns.netns_list()]
    expect(not left, "namespaces left after SIGTERM: %s\n%s" % (left, out))
    expect(wait_gone(pid), "the child's process %d survived" % pid)
    expect(not any(os.path.exists(os.path.join(netns.STATE_DIR, n + ".owner")) for n in names),
           "ownership markers left behind")


def case_cleanup_on_sigint(lab, a, b):
    names, pid, status, out = run_child("hold", lambda c: c.send_signal(signal.SIGINT))
    left = [n for n in names if n in netns.netns_list()]
    expect(not left, "namespaces left after SIGINT: %s\n%s" % (left, out))
    expect(wait_gone(pid), "the child's process %d survived" % pid)


def case_cleanup_after_sigkill(lab, a, b):
    names, pid, status, out = run_child("hold", lambda c: c.kill())
    expect(status == -signal.SIGKILL, "child status %s" % status)
    expect(wait_gone(pid), "the child's process %d survived its parent's SIGKILL" % pid)
    # Left behind: nobody could clean up. (A test starting meanwhile in parallel may already
    # have collected them, as every Lab does at its start: that is the mechanism under test too.)
    marked = [n for n in names if os.path.exists(os.path.join(netns.STATE_DIR, n + ".owner"))]
    left = [n for n in names if n in netns.netns_list()]
    expect(set(left) <= set(marked), "namespaces %s exist but only %s are marked as ours" % (
        left, marked))
    netns.collect_stale()
    left = [n for n in names if n in netns.netns_list()]
    expect(not left, "stale namespaces not collected: %s" % left)


def case_deadline(lab, a, b):
    t0 = time.monotonic()
    names, pid, status, out = run_child("late", lambda c: None)
    expect(status == 1 and "deadline" in out, "child status %s:\n%s" % (status, out))
    expect(time.monotonic() - t0 < 10, "the deadline did not stop the child in time")
    left = [n for n in names if n in netns.netns_list()]
    expect(not left, "namespaces left after the deadline: %s" % left)
    expect(wait_gone(pid), "the child's process %d survived" % pid)


def main():
    args = netns.parse_args(__doc__)
    with netns.Lab("selftest", args) as lab:
        a, b = two_namespaces(lab)
        lab_artifacts.append(lab.artifacts)
        suite = netns.Suite(lab, args.only, args.skip)
        for name, fn in [("veth_ping", case_veth_ping), ("no_route_out", case_no_route_out),
                         ("tap", case_tap), ("udp_peers", case_udp_peers),
                         ("refused", case_refused),
                         ("wait_for_failure_shows_output", case_wait_for_failure_shows_output),
                         ("cleanup_on_sigterm", case_cleanup_on_sigterm),
                         ("cleanup_on_sigint", case_cleanup_on_sigint),
                         ("cleanup_after_sigkill", case_cleanup_after_sigkill),
                         ("deadline", case_deadline)]:
            suite.case(name, fn, lab, a, b)
        return suite.status()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        netns.main(main)
