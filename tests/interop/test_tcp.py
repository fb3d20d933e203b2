#!/usr/bin/env python3
"""
ustack's TCP against the Linux kernel's, over one link kind (--link tap or afpacket; see
netns.Topology): the kernel at .1 and ustack at .2 of the test's own /24 of 198.18.0.0/15, no
impairment (tests/interop/test_bridge.py puts the impairment bridge in the path). Every byte
moved is the project's test stream (netns.stream_bytes), so both ends' sha256 are checked
against the same known value.

--group bulk: 64 MiB each way and both ways at once, sha256-checked at both ends:
  kernel_to_ustack        the kernel uploads to `ustack echo --discard`
  ustack_to_kernel        `ustack echo --source` serves the kernel's download
  ustack_client_to_kernel `ustack tcp-client --send` to a kernel discard server (active open)
  echo_kernel_client      one connection, both directions at once: a kernel client sends 64 MiB
                          to `ustack echo` while reading the echo back
  echo_ustack_client      the same from the other side: `ustack tcp-client` to a kernel echo
                          server
--group conns: 1,000 concurrent connections each way, each used and closed:
  ustack_1000_clients     `ustack tcp-client --connections 1000` to a kernel echo server that
                          echoes nothing until all 1,000 are established at once
  kernel_1000_clients     a kernel client opens 1,000 connections to `ustack echo`, all
                          established before any is used, each echoing its own bytes
  after each: ustack's live connection count (tcp.connections_live, printed at exit) is 0 and
  the kernel's `ss -tan` shows nothing but listeners and TIME_WAIT (on the side that closed
  first: all 1,000 of the kernel's connections when it did).
--group options: during an established connection, the kernel's `ss -tino` shows sack, ts and
  wscale:S,R, with S the window scale ustack put in its SYN (SYN-ACK) and R the kernel's, read
  from ustack's pcap of the handshake; once with ustack passive (the kernel connects to
  `ustack echo`) and once active (`ustack tcp-client` to a kernel server).

Over afpacket the kernel's veth end keeps its default, TSO on: the kernel's TCP hands ustack
super-frames of up to 64 KiB, which its AF_PACKET link takes whole (virtio-net header), and
ustack sends its own, which the kernel takes whole. --kernel-tso off turns TSO off there
(netns.disable_tso), so the kernel sends MTU-sized frames instead (not registered).

Transfer times and rates are printed, not checked (the machine is shared); each transfer has its
own time limit, and the whole run its deadline.
"""
import os
import re
import struct
import sys
import time

import netns
from netns import expect

PORT = 5001              # ustack echo's TCP port
KERNEL_PORT = 5002       # the kernel's servers'
BULK = 64 << 20          # bytes per bulk transfer
LIMIT = 20               # seconds for one bulk transfer (6 s at most under ASan here)
if os.environ.get("UST_SOAK"):   # make soak: the long versions
    BULK, LIMIT = 1 << 30, 300
CONNS = 1000             # concurrent connections
CONN_BYTES = 1000        # bytes each of them echoes


def mbit(nbytes, secs):
    return "%.0f Mbit/s" % (nbytes * 8 / secs / 1e6) if secs > 0 else "-"


def stop_ustack(proc):
    """Stops a ustack process (SIGINT), checks it exits 0; returns its output."""
    status = proc.stop(timeout=10)
    expect(status == 0, "%s exited with status %s%s:\n%s" % (
        proc.name, status, " (after SIGKILL: SIGINT did not stop it)" if proc.killed else "",
        netns.indent(netns.tail(proc.output()))))
    return proc.output()


def connections_live(text, who):
    """The tcp.connections_live line a ustack tool prints at exit."""
    m = re.findall(r"^tcp\.connections_live (\d+)$", text, re.M)
    expect(len(m) == 1, "%s printed %d tcp.connections_live lines, wanted 1:\n%s" % (
        who, len(m), netns.indent(netns.tail(text))))
    return int(m[0])


def ustack_lines(text, mode):
    """(bytes, sha256, peer, note) of each "tcp MODE: ..." line `ustack echo` printed."""
    return [(int(n), h, peer, note) for n, h, peer, note in re.findall(
        r"^tcp %s: (\d+) bytes sha256 ([0-9a-f]{64}) (?:from|to) (\S+?)(?:: (\w+))?$"
        % mode, text, re.M)]


def one_ustack_line(text, mode, nbytes):
    got = ustack_lines(text, mode)
    expect(len(got) == 1, "ustack echo printed %d \"tcp %s:\" lines, wanted 1:\n%s" % (
        len(got), mode, netns.indent(netns.tail(text))))
    n, h, peer, note = got[0]
    want = netns.stream_sha256(nbytes)
    expect((n, h, note) == (nbytes, want, ""),
           "ustack %s: %d bytes sha256 %s %s, wanted %d bytes sha256 %s" % (
               mode, n, h, note or "(ok)", nbytes, want))


def stuck_sockets(ns):
    """The kernel's TCP sockets in ns that are neither listening nor in TIME_WAIT, as
    `ss -tan` lines."""
    r = ns.run(["ss", "-tan"], check=True, timeout=10, text=True)
    return [l for l in r.stdout.splitlines()[1:]
            if l.split() and l.split()[0] not in ("LISTEN", "TIME-WAIT")]


def expect_no_stuck_sockets(ns, settle_s=3.0):
    """Nothing but listeners and TIME_WAIT in ns's kernel. A connection whose last ACK is
    still on its way may show LAST-ACK for a moment: wait up to settle_s for it."""
    end = time.monotonic() + settle_s
    while True:
        left = stuck_sockets(ns)
        if not left or time.monotonic() > end:
            break
        time.sleep(0.05)
    expect(not left, "the kernel still has %d TCP sockets that are neither listening nor in "
           "TIME_WAIT after %.0f s:\n%s" % (len(left), settle_s,
                                            netns.indent("\n".join(left[:40]))))


def time_wait_count(ns, dst_ip, dst_port):
    """The kernel's connections to dst_ip:dst_port in TIME_WAIT."""
    r = ns.run(["ss", "-tanH", "state", "time-wait", "dst", "%s:%d" % (dst_ip, dst_port)],
               check=True, timeout=10, text=True)
    return len([l for l in r.stdout.splitlines() if l.strip()])


# ---- kernel-side programs

# An echo server: echoes what each connection sends, and closes it after the client's end of
# stream, printing "echo: N bytes sha256 HEX" of what it received (= sent back). With GATE > 1
# it echoes nothing until GATE connections are established at once (then prints "echo: all
# GATE connected"). Exits after LIFETIME s.
KERNEL_ECHO_SERVER = r"""
import hashlib, resource, selectors, signal, socket, sys
ip, port, gate, lifetime = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
signal.alarm(lifetime)
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
sel = selectors.DefaultSelector()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((ip, port))
s.listen(4096)
s.setblocking(False)
sel.register(s, selectors.EVENT_READ)
conns, opened, gated = {}, 0, gate <= 1
print("echo: ready on %s:%d" % (ip, port), flush=True)
def update(c):
    st = conns[c]
    ev = (0 if st["eof"] or not gated or len(st["out"]) > (4 << 20) else selectors.EVENT_READ) \
        | (selectors.EVENT_WRITE if st["out"] and gated else 0)
    if ev != st["ev"]:
        if st["ev"] and ev:
            sel.modify(c, ev)
        elif ev:
            sel.register(c, ev)
        else:
            sel.unregister(c)
        st["ev"] = ev
    if st["eof"] and not st["out"]:
        if st["ev"]:
            sel.unregister(c)
        c.close()
        print("echo: %d bytes sha256 %s" % (st["n"], st["h"].hexdigest()), flush=True)
        del conns[c]
while True:
    for key, mask in sel.select():
        c = key.fileobj
        if c is s:
            while True:
                try:
                    a, _ = s.accept()
                except BlockingIOError:
                    break
                a.setblocking(False)
                conns[a] = {"h": hashlib.sha256(), "n": 0, "out": bytearray(), "eof": False,
                            "ev": 0}
                opened += 1
                if not gated and opened >= gate:
                    gated = True
                    print("echo: all %d connected" % gate, flush=True)
                    for x in list(conns):
                        update(x)
                else:
                    update(a)
            continue
        st = conns[c]
        if mask & selectors.EVENT_READ:
            try:
                b = c.recv(1 << 20)
            except ConnectionError as e:
                print("echo: connection error %s" % e, flush=True)
                b = b""
            if b:
                st["h"].update(b)
                st["n"] += len(b)
                st["out"] += b
            else:
                st["eof"] = True
        if mask & selectors.EVENT_WRITE and st["out"]:
            try:
                k = c.send(st["out"])
                del st["out"][:k]
            except BlockingIOError:
                pass
        update(c)
"""

# One connection to IP:PORT, both directions at once: a thread sends the first N bytes of the
# test stream and half-closes, the main thread reads until the end of stream. Prints
# "echo-client: sent N sha256 H; received M sha256 H2 in T s[ (deadline)]".
KERNEL_ECHO_CLIENT = netns._STREAM + r"""
import hashlib, socket, sys, threading, time
ip, port, n, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
data = stream_bytes(n)
sent_digest = hashlib.sha256(data).hexdigest()
s = socket.create_connection((ip, port), timeout=10)
s.settimeout(limit)
t0 = time.monotonic()
def send():
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
    except OSError as e:
        print("echo-client: send: %s" % e, flush=True)
th = threading.Thread(target=send, daemon=True)
th.start()
h, got, note = hashlib.sha256(), 0, ""
try:
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        h.update(b)
        got += len(b)
except socket.timeout:
    note = " (deadline)"
dt = time.monotonic() - t0
th.join(1)
print("echo-client: sent %d sha256 %s; received %d sha256 %s in %.3f s%s" % (
    n, sent_digest, got, h.hexdigest(), dt, note), flush=True)
sys.exit(1 if note else 0)
"""

# N connections to IP:PORT at once: all are connected before any sends; then connection i sends
# BYTES bytes of its own (a header naming i, then the test stream from offset i), reads them
# back, checks them, half-closes and waits for the server's close. Prints
# "many: N connected at once, E echoed intact, C closed by the server in T s" and a line per
# problem (at most 20).
KERNEL_MANY_CLIENTS = netns._STREAM + r"""
import errno, resource, selectors, socket, sys, time
ip, port, n, nbytes, limit = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                              int(sys.argv[4]), float(sys.argv[5]))
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
stream = stream_bytes(nbytes + n)
end = time.monotonic() + limit
t0 = time.monotonic()
problems = []
def problem(msg):
    if len(problems) < 20:
        print("many: " + msg, flush=True)
    problems.append(msg)
sel = selectors.DefaultSelector()
socks = []
for i in range(n):
    c = socket.socket()
    c.setblocking(False)
    err = c.connect_ex((ip, port))
    if err not in (0, errno.EINPROGRESS):
        problem("connect %d: %s" % (i, errno.errorcode.get(err, err)))
        c.close()
        continue
    socks.append(c)
    sel.register(c, selectors.EVENT_WRITE, i)
connected = 0
while connected < len(socks) and time.monotonic() < end:
    for key, _ in sel.select(max(end - time.monotonic(), 0.001)):
        c, i = key.fileobj, key.data
        sel.unregister(c)
        err = c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            problem("connection %d: %s" % (i, errno.errorcode.get(err, err)))
            continue
        connected += 1
if connected < n:
    problem("only %d of %d connected" % (connected, n))
payload = {}
state = {}
for c in socks:
    if c.fileno() < 0:
        continue
    try:
        c.getpeername()
    except OSError:
        continue
    i = socks.index(c)
    p = (b"connection %06d " % i + stream[i:i + nbytes])[:nbytes]
    payload[c] = p
    state[c] = {"i": i, "sent": 0, "got": bytearray(), "phase": "echo"}
    sel.register(c, selectors.EVENT_READ | selectors.EVENT_WRITE)
echoed = closed = 0
while state and time.monotonic() < end:
    for key, mask in sel.select(max(end - time.monotonic(), 0.001)):
        c = key.fileobj
        st = state[c]
        p = payload[c]
        if mask & selectors.EVENT_WRITE and st["sent"] < len(p):
            st["sent"] += c.send(p[st["sent"]:])
            if st["sent"] == len(p):
                sel.modify(c, selectors.EVENT_READ)
        if not mask & selectors.EVENT_READ:
            continue
        try:
            b = c.recv(65536)
        except ConnectionError as e:
            problem("connection %d: %s" % (st["i"], e))
            b = None
        if st["phase"] == "echo" and b:
            st["got"] += b
            if len(st["got"]) >= len(p):
                if st["got"] == p:
                    echoed += 1
                else:
                    problem("connection %d: %d bytes came back different" % (st["i"],
                                                                             len(st["got"])))
                st["phase"] = "close"
                c.shutdown(socket.SHUT_WR)
            continue
        if b:
            problem("connection %d: %d bytes more than it sent" % (st["i"], len(b)))
            continue
        if b == b"":
            if st["phase"] == "close":
                closed += 1
            else:
                problem("connection %d: end of stream after %d of %d bytes" % (
                    st["i"], len(st["got"]), len(p)))
        sel.unregister(c)
        c.close()
        del state[c]
if state:
    problem("%d connections unfinished at the deadline" % len(state))
print("many: %d connected at once, %d echoed intact, %d closed by the server in %.3f s" % (
    connected, echoed, closed, time.monotonic() - t0), flush=True)
sys.exit(1 if problems else 0)
"""

# Accepts one connection, prints "hold: accepted", reads nothing until its stdin closes, then
# reads everything until the end of stream and prints "hold: N bytes sha256 H".
KERNEL_HOLD_SERVER = r"""
import hashlib, signal, socket, sys
ip, port, lifetime = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
signal.alarm(lifetime)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((ip, port))
s.listen(4)
print("hold: ready on %s:%d" % (ip, port), flush=True)
c, _ = s.accept()
print("hold: accepted", flush=True)
sys.stdin.read()
h, n = hashlib.sha256(), 0
while True:
    b = c.recv(1 << 20)
    if not b:
        break
    h.update(b)
    n += len(b)
c.close()
print("hold: %d bytes sha256 %s" % (n, h.hexdigest()), flush=True)
"""

# Connects, sends the first N bytes of the test stream, reads them back, prints "hold: echoed",
# then keeps the connection open until its stdin closes; then half-closes and reads to the end.
KERNEL_HOLD_CLIENT = netns._STREAM + r"""
import socket, sys
ip, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = stream_bytes(n)
s = socket.create_connection((ip, port), timeout=10)
s.sendall(data)
got = b""
while len(got) < n:
    b = s.recv(65536)
    if not b:
        break
    got += b
print("hold: %s" % ("echoed" if got == data else "bad echo: %d bytes" % len(got)), flush=True)
sys.stdin.read()
s.shutdown(socket.SHUT_WR)
while s.recv(65536):
    pass
s.close()
print("hold: closed", flush=True)
"""


def kernel_echo_server(t, gate=1, lifetime=60):
    return t.kernel.spawn_python(KERNEL_ECHO_SERVER, t.kernel_ip, KERNEL_PORT, gate, lifetime,
                                 name="kernel-tcp-echo", ready=r"^echo: ready")


def echo_server_lines(proc):
    return [(int(n), h) for n, h in
            re.findall(r"^echo: (\d+) bytes sha256 ([0-9a-f]{64})$", proc.output(), re.M)]


def run_case(suite, name, fn, t):
    """suite.case(name, fn, t), then stops what the case left running (after a failure), so
    that the next case starts with free ports."""
    def guarded():
        try:
            fn(t)
        finally:
            for p in t.lab._procs:
                if p.returncode is None and p.alive():
                    p.stop(timeout=3)
    suite.case(name, guarded)


# ---- the bulk group

def case_kernel_to_ustack(t):
    u = t.start_ustack("echo", "--port", PORT, "--discard", pcap=False)
    n, sha, secs, note = netns.tcp_upload(t.kernel, t.ustack_ip, PORT, BULK, limit=LIMIT)
    netns.log("    kernel -> ustack: %d bytes in %.2f s, %s" % (n, secs, mbit(n, secs)))
    want = netns.stream_sha256(BULK)
    expect((n, sha, note) == (BULK, want, ""),
           "the kernel sent %d bytes sha256 %s %s; wanted %d, %s" % (n, sha, note, BULK, want))
    out = stop_ustack(u)
    one_ustack_line(out, "discard", BULK)
    expect(connections_live(out, u.name) == 0, "ustack echo left connections open")


def case_ustack_to_kernel(t):
    u = t.start_ustack("echo", "--port", PORT, "--source", BULK, pcap=False)
    n, sha, secs, note = netns.tcp_download(t.kernel, t.ustack_ip, PORT, limit=LIMIT)
    netns.log("    ustack -> kernel: %d bytes in %.2f s, %s" % (n, secs, mbit(n, secs)))
    want = netns.stream_sha256(BULK)
    expect((n, sha, note) == (BULK, want, ""),
           "the kernel received %d bytes sha256 %s %s; wanted %d, %s" % (n, sha, note, BULK,
                                                                          want))
    out = stop_ustack(u)
    one_ustack_line(out, "source", BULK)
    expect(connections_live(out, u.name) == 0, "ustack echo left connections open")


def tcp_client(t, *args, timeout):
    t.forget_neighbours()
    t0 = time.monotonic()
    r = t.run_ustack("tcp-client", "--server", "%s:%d" % (t.kernel_ip, KERNEL_PORT), *args,
                     timeout=timeout, pcap=False)
    return r, time.monotonic() - t0


def client_sums(r):
    m = re.search(r"^tcp-client: sent (\d+) sha256 ([0-9a-f]{64}); received (\d+) sha256 "
                  r"([0-9a-f]{64})$", r.stdout, re.M)
    expect(r.returncode == 0 and m, "wanted exit 0 and the client's sums:\n" + r.describe())
    return int(m.group(1)), m.group(2), int(m.group(3)), m.group(4)


def case_ustack_client_to_kernel(t):
    srv = netns.kernel_tcp_discard(t.kernel, t.kernel_ip, KERNEL_PORT)
    r, secs = tcp_client(t, "--send", BULK, "--timeout-s", LIMIT, timeout=LIMIT + 10)
    netns.log("    ustack client -> kernel: %d bytes in %.2f s (whole process), %s" % (
        BULK, secs, mbit(BULK, secs)))
    want = netns.stream_sha256(BULK)
    sent, sent_sha, got, _ = client_sums(r)
    expect((sent, sent_sha, got) == (BULK, want, 0),
           "tcp-client sent %d bytes sha256 %s, received %d; wanted %d, %s, 0" % (
               sent, sent_sha, got, BULK, want))
    m = srv.wait_for(r"^discard: (\d+) bytes sha256 ([0-9a-f]{64})$", timeout=10)
    srv.stop()
    expect((int(m.group(1)), m.group(2)) == (BULK, want),
           "the kernel received %s bytes sha256 %s; wanted %d, %s" % (m.group(1), m.group(2),
                                                                    BULK, want))
    expect(connections_live(r.stdout, "tcp-client") == 0, "tcp-client left connections open")


def case_echo_kernel_client(t):
    u = t.start_ustack("echo", "--port", PORT, pcap=False)
    r = t.kernel.python(KERNEL_ECHO_CLIENT, t.ustack_ip, PORT, BULK, LIMIT,
                        timeout=LIMIT + 15, text=True)
    m = re.search(r"^echo-client: sent (\d+) sha256 ([0-9a-f]{64}); received (\d+) sha256 "
                  r"([0-9a-f]{64}) in ([0-9.]+) s$", r.stdout, re.M)
    expect(r.returncode == 0 and m, "the kernel's echo client failed: " + r.describe())
    secs = float(m.group(5))
    netns.log("    kernel <-> ustack echo: %d bytes each way in %.2f s, %s each way" % (
        BULK, secs, mbit(BULK, secs)))
    want = netns.stream_sha256(BULK)
    got = (int(m.group(1)), m.group(2), int(m.group(3)), m.group(4))
    expect(got == (BULK, want, BULK, want),
           "the kernel sent %d bytes sha256 %s and received %d sha256 %s; wanted %d, %s "
           "both ways" % (got + (BULK, want)))
    out = stop_ustack(u)
    one_ustack_line(out, "echo", BULK)
    expect(connections_live(out, u.name) == 0, "ustack echo left connections open")


def case_echo_ustack_client(t):
    srv = kernel_echo_server(t)
    r, secs = tcp_client(t, "--send", BULK, "--timeout-s", LIMIT, timeout=LIMIT + 10)
    netns.log("    ustack client <-> kernel echo: %d bytes each way in %.2f s (whole process), "
              "%s each way" % (BULK, secs, mbit(BULK, secs)))
    want = netns.stream_sha256(BULK)
    got = client_sums(r)
    expect(got == (BULK, want, BULK, want),
           "tcp-client sent %d bytes sha256 %s and received %d sha256 %s; wanted %d, %s both "
           "ways" % (got + (BULK, want)))
    srv.wait_for(r"^echo: \d+ bytes", timeout=10)
    expect(echo_server_lines(srv) == [(BULK, want)],
           "the kernel's echo server saw %s; wanted [(%d, %s)]" % (echo_server_lines(srv),
                                                                   BULK, want))
    srv.stop()
    expect(connections_live(r.stdout, "tcp-client") == 0, "tcp-client left connections open")


def group_bulk(t, suite):
    run_case(suite, "kernel_to_ustack", case_kernel_to_ustack, t)
    run_case(suite, "ustack_to_kernel", case_ustack_to_kernel, t)
    run_case(suite, "ustack_client_to_kernel", case_ustack_client_to_kernel, t)
    run_case(suite, "echo_kernel_client", case_echo_kernel_client, t)
    run_case(suite, "echo_ustack_client", case_echo_ustack_client, t)


# ---- the conns group

def case_ustack_1000_clients(t):
    srv = kernel_echo_server(t, gate=CONNS)
    r, secs = tcp_client(t, "--send", CONN_BYTES, "--connections", CONNS, "--timeout-s", 20,
                         timeout=35)
    netns.log("    %d ustack connections to the kernel's echo server in %.2f s" % (CONNS, secs))
    want = netns.stream_sha256(CONN_BYTES)
    sums = client_sums(r)
    expect(sums == (CONN_BYTES, want, CONN_BYTES, want),
           "tcp-client's first connection sent %d bytes sha256 %s and received %d sha256 %s; "
           "wanted %d, %s both ways" % (sums + (CONN_BYTES, want)))
    line = "tcp-client: %d connections: %d sent the same as the first, %d received the same" % (
        CONNS, CONNS, CONNS)
    expect(line in r.stdout, "wanted %r:\n%s" % (line, r.describe()))
    expect("echo: all %d connected" % CONNS in srv.output(),
           "the kernel's echo server never had all %d connections at once" % CONNS)
    lines = echo_server_lines(srv)
    expect(len(lines) == CONNS and set(lines) == {(CONN_BYTES, want)},
           "the kernel's echo server closed %d connections, %d with %d bytes sha256 %s; "
           "wanted all %d" % (len(lines), lines.count((CONN_BYTES, want)), CONN_BYTES, want,
                              CONNS))
    expect(connections_live(r.stdout, "tcp-client") == 0,
           "tcp-client left connections open:\n" + r.describe())
    # ustack closed first (its FIN went with its data): TIME_WAIT is on its side.
    expect_no_stuck_sockets(t.kernel)
    srv.stop()


def case_kernel_1000_clients(t):
    u = t.start_ustack("echo", "--port", PORT, pcap=False)
    r = t.kernel.python(KERNEL_MANY_CLIENTS, t.ustack_ip, PORT, CONNS, CONN_BYTES, 25,
                        timeout=40, text=True)
    want = "many: %d connected at once, %d echoed intact, %d closed by the server" % (
        CONNS, CONNS, CONNS)
    expect(r.returncode == 0 and want in r.stdout, "wanted %r:\n%s" % (want, r.describe()))
    netns.log("    " + r.stdout.strip().splitlines()[-1])
    # The kernel closed first: its side is in TIME_WAIT, nothing else may be left.
    expect_no_stuck_sockets(t.kernel)
    tw = time_wait_count(t.kernel, t.ustack_ip, PORT)
    expect(tw == CONNS, "the kernel has %d connections in TIME_WAIT, wanted %d" % (tw, CONNS))
    out = stop_ustack(u)
    lines = ustack_lines(out, "echo")
    bad = [l for l in lines if l[0] != CONN_BYTES or l[3]]
    expect(len(lines) == CONNS and not bad,
           "ustack echo closed %d connections, wanted %d each with %d bytes; not so: %s" % (
               len(lines), CONNS, CONN_BYTES, bad[:5]))
    expect(connections_live(out, u.name) == 0,
           "ustack echo left connections open:\n" + netns.indent(netns.tail(out)))


def group_conns(t, suite):
    run_case(suite, "ustack_1000_clients", case_ustack_1000_clients, t)
    run_case(suite, "kernel_1000_clients", case_kernel_1000_clients, t)


# ---- the options group

def pcap_frames(path):
    """The frames of a pcap file (microsecond or nanosecond, either byte order)."""
    with open(path, "rb") as f:
        data = f.read()
    expect(len(data) >= 24, "%s: no pcap header" % path)
    magic = struct.unpack("<I", data[:4])[0]
    end = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    link = struct.unpack(end + "I", data[20:24])[0]
    expect(link == 1, "%s: link type %d, wanted Ethernet" % (path, link))
    out, off = [], 24
    while off + 16 <= len(data):
        incl = struct.unpack(end + "I", data[off + 8:off + 12])[0]
        out.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return out


def syn_options(frames, src_ip):
    """The TCP options of the first SYN (or SYN-ACK) from src_ip among Ethernet frames:
    {"mss": n, "wscale": n, "sack_ok": True, "ts": True} for those present."""
    src = bytes(int(x) for x in src_ip.split("."))
    for fr in frames:
        if len(fr) < 14 + 20 or fr[12:14] != b"\x08\x00":
            continue
        ip = fr[14:]
        ihl = (ip[0] & 15) * 4
        if ip[9] != 6 or ip[12:16] != src:
            continue
        tcp = ip[ihl:]
        if not tcp[13] & 0x02:
            continue
        opts, i, out = tcp[20:(tcp[12] >> 4) * 4], 0, {}
        while i < len(opts):
            kind = opts[i]
            if kind == 0:
                break
            if kind == 1:
                i += 1
                continue
            ln = opts[i + 1] if i + 1 < len(opts) else 0
            if ln < 2:
                break
            body = opts[i + 2:i + ln]
            if kind == 2:
                out["mss"] = struct.unpack(">H", body)[0]
            elif kind == 3:
                out["wscale"] = body[0]
            elif kind == 4:
                out["sack_ok"] = True
            elif kind == 8:
                out["ts"] = True
            i += ln
        return out
    raise netns.TestFailure("no SYN from %s in the capture" % src_ip)


def ss_info(ns, peer_ip):
    """The kernel's `ss -tino` line pair for its established connection with peer_ip, as
    (the address line, the set of info tokens, {"wscale": (snd, rcv)})."""
    # -o as well: iproute2 6.1's ss prints "ts" and "sack" only with it (show_options).
    r = ns.run(["ss", "-tino", "state", "established", "dst", peer_ip], check=True,
               timeout=10, text=True)
    lines = r.stdout.splitlines()[1:]
    expect(len(lines) == 2, "wanted one established connection with %s in `ss -tino`:\n%s" % (
        peer_ip, r.stdout))
    tokens = set(lines[1].split())
    m = re.search(r"\bwscale:(\d+),(\d+)\b", lines[1])
    return lines[0], tokens, (int(m.group(1)), int(m.group(2))) if m else None, lines[1]


def check_negotiated(t, pcap, info_line, tokens, wscale):
    frames = pcap_frames(pcap)
    ours = syn_options(frames, t.ustack_ip)
    theirs = syn_options(frames, t.kernel_ip)
    netns.log("    ustack's SYN options %s, the kernel's %s; ss: %s" % (ours, theirs,
                                                                        info_line.strip()))
    expect("sack" in tokens and "ts" in tokens,
           "the kernel's ss -tino does not show both sack and ts: %s" % info_line)
    expect(ours.get("sack_ok") and ours.get("ts") and "wscale" in ours,
           "ustack's SYN lacks SACK-permitted, timestamps or window scale: %s" % ours)
    expect(wscale is not None, "no wscale in the kernel's ss -tino: %s" % info_line)
    # ss prints wscale:<the peer's shift (the kernel's snd_wscale)>,<its own (rcv_wscale)>.
    expect(wscale == (ours["wscale"], theirs.get("wscale")),
           "ss -tino shows wscale:%d,%d; ustack offered %s and the kernel %s" % (
               wscale + (ours["wscale"], theirs.get("wscale"))))


def case_options_ustack_passive(t):
    u = t.start_ustack("echo", "--port", PORT)
    pcap = t.lab.pcap_path(u.name)
    c = t.kernel.spawn([sys.executable, "-u", "-c", KERNEL_HOLD_CLIENT, t.ustack_ip,
                        str(PORT), "100000"], name="kernel-hold-client", stdin=True,
                       ready=r"^hold: ")
    expect("hold: echoed" in c.output(), "the kernel's client: " + c.describe())
    try:
        _, tokens, wscale, line = ss_info(t.kernel, t.ustack_ip)
    finally:
        c.close_stdin()
    c.wait_for(r"^hold: closed", timeout=10)
    c.stop()
    out = stop_ustack(u)
    one_ustack_line(out, "echo", 100000)
    check_negotiated(t, pcap, line, tokens, wscale)


def case_options_ustack_active(t):
    srv = t.kernel.spawn([sys.executable, "-u", "-c", KERNEL_HOLD_SERVER, t.kernel_ip,
                          str(KERNEL_PORT), "60"], name="kernel-hold-server", stdin=True,
                         ready=r"^hold: ready")
    t.forget_neighbours()
    nbytes = 8 << 20     # more than the kernel buffers unread: the connection stays established
    name = t._name("tcp-client")
    pcap = t.lab.pcap_path(name)
    cli = t.ustack_ns.spawn(t.ustack_argv("tcp-client", "--server", "%s:%d" % (
        t.kernel_ip, KERNEL_PORT), "--send", nbytes, "--timeout-s", 20, name=name), name=name)
    srv.wait_for(r"^hold: accepted", timeout=10)
    try:
        _, tokens, wscale, line = ss_info(t.kernel, t.ustack_ip)
    finally:
        srv.close_stdin()
    m = srv.wait_for(r"^hold: (\d+) bytes sha256 ([0-9a-f]{64})$", timeout=20)
    status = cli.wait(timeout=20)
    expect(status == 0, "tcp-client: " + cli.describe())
    want = netns.stream_sha256(nbytes)
    expect((int(m.group(1)), m.group(2)) == (nbytes, want),
           "the kernel received %s bytes sha256 %s, wanted %d, %s" % (m.group(1), m.group(2),
                                                                    nbytes, want))
    check_negotiated(t, pcap, line, tokens, wscale)


def group_options(t, suite):
    run_case(suite, "options_ustack_passive", case_options_ustack_passive, t)
    run_case(suite, "options_ustack_active", case_options_ustack_active, t)


GROUPS = {"bulk": group_bulk, "conns": group_conns, "options": group_options}


def main():
    def extra(ap):
        ap.add_argument("--group", required=True, choices=sorted(GROUPS))
        ap.add_argument("--kernel-tso", choices=("on", "off"), default="on",
                        help="afpacket: TSO on the kernel's veth end (default on, the veth "
                             "default: the kernel sends ustack super-frames)")
    args = netns.parse_args(__doc__, extra=extra)
    if os.environ.get("UST_SOAK"):
        args.deadline = max(args.deadline, 1800)
    with netns.Lab("tcp_%s_%s" % (args.link, args.group), args) as lab:
        lab.ustack_path()
        t = lab.ustack_topology(args.link)
        if t.kind == "afpacket" and args.kernel_tso == "off":
            # The kernel cuts its sends into MTU-sized frames itself, as for a NIC without TSO.
            netns.log("afpacket: %s on %s" % (netns.disable_tso(t.kernel, t.kernel_dev),
                                             t.kernel_dev))
        netns.log("tcp %s over %s: kernel %s on %s in %s, ustack %s in %s" % (
            args.group, t.link, t.kernel_ip, t.kernel_dev, t.kernel, t.ustack_ip, t.ustack_ns))
        if args.group == "bulk":
            netns.stream_sha256(BULK)   # computed once, before any transfer's clock runs
        suite = netns.Suite(lab, args.only, args.skip)
        GROUPS[args.group](t, suite)
        return suite.status()


if __name__ == "__main__":
    netns.main(main)
