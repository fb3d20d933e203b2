#!/usr/bin/env python3
"""
Unmodified Debian programs on ustack through `ustack run` (the LD_PRELOAD shim, preload/),
against the Linux kernel over a TAP device: the kernel at .1, the program under ustack at .2.

--group http:  curl under ustack downloads a 50 MiB file from the kernel's `python3 -m
  http.server`; the kernel's curl downloads it from `ustack run -- python3 -m http.server`.
  sha256 of what arrived == the file's.
--group tools: socat and ncat, each both ways (under ustack sending to the kernel, and the
  kernel sending to them), 8 MiB each, sha256 checked; UDP echo both ways (python3 under ustack
  against a kernel echo, the kernel against `socat UDP-LISTEN ... PIPE` under ustack).
--group iperf: `iperf3 -c` under ustack against the kernel's `iperf3 -s`, and the reverse, 5 s
  each, both complete with their JSON reports.
--group redis: `ustack run -- redis-server` answers `redis-benchmark -q -n 100000 -t set,get`
  with -P 16 and -P 1 (a case each, --only pipeline16 / nopipeline: -P 1 alone takes 15-30 s on
  a loaded machine) from the kernel without errors, every GET a hit (the server's stats);
  redis-cli under ustack sets and gets a key on the kernel's redis-server.
--group ready: tests/preload/mixready (a pipe, an eventfd, a TCP and a UDP socket in select,
  poll, epoll level- and edge-triggered) prints the same transcript on the kernel's sockets and
  under ustack, and so does tests/preload/sigrestart (EINTR and SA_RESTART of a blocking recv,
  with SO_RCVTIMEO, with signal(), and poll); UST_LOG=debug shows each decision, and a loopback connection under ustack stays
  with the kernel; a forked child using an inherited ustack socket gets ENOTSUP and a log line
  while the parent's connection keeps working; dup, F_DUPFD and dup2 of a ustack socket (the
  socket lives on through the duplicate when the original number is closed; every socket's
  number and duplicate is the one placeholder eventfd, /proc/self/fdinfo) and a spawned child
  finding a ustack descriptor closed; an epoll registration made before connect carried over to
  the ustack socket; a taken link making every socket the kernel's, with the reason logged; socket.sendfile onto a ustack socket (sha256 at the kernel
  sink), TCP_INFO in Linux's layout, and 8 threads with a connection each; the bottom half
  acknowledging while the program sleeps, and nothing acknowledging without it.
"""
import hashlib
import os
import sys
import time

import netns
from netns import expect

HTTP_BYTES = 50 << 20
TOOL_BYTES = 8 << 20
ECHO_PORT = 7007

# A kernel TCP and UDP echo service; the TCP side closes its half when it reads end of file.
KERNEL_ECHO = r"""
import socket, sys, threading
ip, port = sys.argv[1], int(sys.argv[2])
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind((ip, port)); t.listen(8)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((ip, port))
def udp():
    while True:
        d, a = u.recvfrom(65536); u.sendto(d, a)
def conn(c):
    while True:
        d = c.recv(65536)
        if not d:
            c.shutdown(socket.SHUT_WR); return
        c.sendall(d)
threading.Thread(target=udp, daemon=True).start()
print("echo ready", flush=True)
while True:
    c, _ = t.accept()
    threading.Thread(target=conn, args=(c,), daemon=True).start()
"""


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Env:
    def __init__(self, lab, t):
        self.lab, self.t = lab, t
        self.dir = lab.artifacts
        self.build = os.path.dirname(os.path.dirname(lab.ustack_path()))

    def run_prefix(self, log=None):
        t = self.t
        argv = [self.lab.ustack_path(), "run", "--link", t.link,
                "--addr", "%s/%d" % (t.ustack_ip, t.prefix)]
        if log:
            argv += ["--log", log]
        return argv + ["--"]

    def make_file(self, name, nbytes):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            left = nbytes
            while left:
                n = min(left, 1 << 20)
                f.write(os.urandom(n))
                left -= n
        return path, sha256_file(path)

    def check_file(self, path, want_sha, what, describe):
        expect(os.path.exists(path), "%s: nothing arrived\n%s" % (what, describe()))
        size, got = os.path.getsize(path), sha256_file(path)
        expect(got == want_sha, "%s: %d bytes arrived, sha256 %s, wanted %s\n%s" % (
            what, size, got, want_sha, describe()))

    def forget(self):
        self.t.forget_neighbours()   # every ustack process has a new MAC


# ---- http ----

def http_download(e, src, sha):
    """curl under ustack <- the kernel's python3 http.server."""
    t = e.t
    srv = t.kernel.spawn([sys.executable, "-u", "-m", "http.server", "--bind", t.kernel_ip,
                          "8000", "--directory", e.dir], ready="Serving HTTP", name="k-httpd")
    out = os.path.join(e.dir, "down.bin")
    try:
        r = t.ustack_ns.run(e.run_prefix() + ["curl", "-sS", "--max-time", "25", "-o", out,
                                              "http://%s:8000/%s" % (t.kernel_ip,
                                                                     os.path.basename(src))],
                            timeout=30, text=True)
        expect(r.returncode == 0, "curl under ustack failed:\n" + r.describe())
        e.check_file(out, sha, "curl under ustack", r.describe)
    finally:
        srv.stop()
        if os.path.exists(out):
            os.unlink(out)
        e.forget()


def http_serve(e, src, sha):
    """The kernel's curl <- python3 http.server under ustack."""
    t = e.t
    srv = t.ustack_ns.spawn(e.run_prefix() + ["/usr/bin/python3", "-u", "-m", "http.server",
                                              "--bind", t.ustack_ip, "8001", "--directory",
                                              e.dir],
                            ready="Serving HTTP", name="u-httpd")
    out = os.path.join(e.dir, "up.bin")
    try:
        r = t.kernel.run(["curl", "-sS", "--max-time", "25", "-o", out,
                          "http://%s:8001/%s" % (t.ustack_ip, os.path.basename(src))],
                         timeout=30, text=True)
        expect(r.returncode == 0, "kernel curl from the ustack server failed:\n%s\n%s" % (
            r.describe(), srv.describe()))
        e.check_file(out, sha, "kernel curl from http.server under ustack",
                     lambda: r.describe() + srv.describe())
        st = srv.stop()
        expect(st == 0, "http.server under ustack exited %s:\n%s" % (st, srv.describe()))
    finally:
        srv.stop()
        if os.path.exists(out):
            os.unlink(out)
        e.forget()


# ---- socat and ncat ----

LISTEN_PORT = 9000


def wait_listening(ns, proc, on_ustack):
    """Waits until the receiver listens: a ustack one says so in its debug log, a kernel one
    shows in `ss`."""
    if on_ustack:
        proc.wait_for(r"fd \d+ listen: ustack", timeout=10)
        return
    for _ in range(200):
        r = ns.run(["ss", "-Hltn", "sport = :%d" % LISTEN_PORT], timeout=5, text=True)
        if r.stdout.strip():
            return
        expect(proc.alive(), "the receiver died:\n" + proc.describe())
        time.sleep(0.05)
    raise netns.TestFailure("nothing listens on %d:\n%s" % (LISTEN_PORT, proc.describe()))


def tool_case(e, name, src, sha, receiver_on_ustack, recv_cmd, send_cmd):
    """recv_cmd listens and writes what it receives to a file; send_cmd sends the file."""
    t = e.t
    out = os.path.join(e.dir, name + ".out")
    if receiver_on_ustack:
        recv_argv = e.run_prefix(log="debug") + recv_cmd(t.ustack_ip, out)
        send_argv = send_cmd(t.ustack_ip, src)
        recv_ns, send_ns = t.ustack_ns, t.kernel
    else:
        recv_argv = recv_cmd(t.kernel_ip, out)
        send_argv = e.run_prefix() + send_cmd(t.kernel_ip, src)
        recv_ns, send_ns = t.kernel, t.ustack_ns
    rx = recv_ns.spawn(recv_argv, name=name + "-rx")
    try:
        wait_listening(recv_ns, rx, receiver_on_ustack)
        r = send_ns.run(send_argv, timeout=30, text=True)
        expect(r.returncode == 0, "%s sender failed:\n%s\n%s" % (name, r.describe(),
                                                                  rx.describe()))
        st = rx.wait(timeout=20)
        expect(st == 0, "%s receiver exited %s:\n%s" % (name, st, rx.describe()))
        e.check_file(out, sha, name, lambda: r.describe() + rx.describe())
    finally:
        rx.stop()
        if os.path.exists(out):
            os.unlink(out)
        e.forget()


def socat_recv(ip, out):
    return ["socat", "-u", "TCP-LISTEN:%d,bind=%s,reuseaddr" % (LISTEN_PORT, ip),
            "CREATE:" + out]


def socat_send(ip, src):
    return ["socat", "-u", "OPEN:" + src, "TCP:%s:%d" % (ip, LISTEN_PORT)]


def ncat_recv(ip, out):
    return ["sh", "-c", 'exec ncat -l --recv-only "$0" "$1" > "$2"', ip, str(LISTEN_PORT), out]


def ncat_send(ip, src):
    return ["sh", "-c", 'exec ncat --send-only "$0" "$1" < "$2"', ip, str(LISTEN_PORT), src]


# ---- readiness, decisions, fork ----

# A kernel TCP service that echoes each chunk 300 ms after it arrives.
KERNEL_SLOW_ECHO = r"""
import socket, sys, threading, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2]))); l.listen(4)
print("slow echo ready", flush=True)
def conn(c):
    while True:
        d = c.recv(100)
        if not d:
            return
        time.sleep(0.3)
        c.sendall(d)
while True:
    c, _ = l.accept()
    threading.Thread(target=conn, args=(c,), daemon=True).start()
"""


def transcripts_match(e, prog_name, argv, what):
    """Runs a transcript program on the kernel and under ustack; they must print the same."""
    t = e.t
    prog = os.path.join(e.build, "tests", "preload", prog_name)
    expect(os.access(prog, os.X_OK), "no %s (build the tests)" % prog)
    k = t.kernel.run([prog] + argv, timeout=30, text=True)
    expect(k.returncode == 0 and k.stdout.endswith("done\n"),
           "%s on the kernel failed:\n%s" % (prog_name, k.describe()))
    u = t.ustack_ns.run(e.run_prefix() + [prog] + argv, timeout=30, text=True)
    expect(u.returncode == 0, "%s under ustack failed:\n%s" % (prog_name, u.describe()))
    if u.stdout != k.stdout:
        import difflib
        diff = "".join(difflib.unified_diff(k.stdout.splitlines(True),
                                            u.stdout.splitlines(True), "kernel", "ustack"))
        raise netns.TestFailure("%s differs from Linux's:\n%s" % (what, netns.indent(diff)))


def sigrestart(e):
    t = e.t
    echo = t.kernel.spawn_python(KERNEL_SLOW_ECHO, t.kernel_ip, ECHO_PORT + 1, name="k-slow",
                                 ready="slow echo ready")
    try:
        transcripts_match(e, "preload_sigrestart", [t.kernel_ip, ECHO_PORT + 1],
                          "EINTR / SA_RESTART behaviour")
    finally:
        echo.stop()
        e.forget()


def mixready(e):
    t = e.t
    prog = os.path.join(e.build, "tests", "preload", "preload_mixready")
    expect(os.access(prog, os.X_OK), "no %s (build the tests)" % prog)
    echo = t.kernel.spawn_python(KERNEL_ECHO, t.kernel_ip, ECHO_PORT, name="k-echo",
                                 ready="echo ready")
    try:
        k = t.kernel.run([prog, t.kernel_ip, ECHO_PORT], timeout=30, text=True)
        expect(k.returncode == 0 and k.stdout.endswith("done\n"),
               "mixready on the kernel failed:\n" + k.describe())
        u = t.ustack_ns.run(e.run_prefix() + [prog, t.kernel_ip, ECHO_PORT], timeout=30,
                            text=True)
        expect(u.returncode == 0, "mixready under ustack failed:\n" + u.describe())
        if u.stdout != k.stdout:
            import difflib
            diff = "".join(difflib.unified_diff(k.stdout.splitlines(True),
                                                u.stdout.splitlines(True), "kernel", "ustack"))
            raise netns.TestFailure("readiness differs from Linux's:\n" + netns.indent(diff))
    finally:
        echo.stop()
        e.forget()


def decisions(e):
    """UST_LOG=debug: the on-link connection goes to ustack, a loopback one to the kernel, and
    both transfers work."""
    t = e.t
    src, sha = e.make_file("small.bin", 1 << 20)
    k1 = t.kernel.spawn([sys.executable, "-u", "-m", "http.server", "--bind", t.kernel_ip,
                         "8002", "--directory", e.dir], ready="Serving HTTP", name="k-httpd2")
    k2 = t.kernel.spawn([sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1",
                         "8003", "--directory", e.dir], ready="Serving HTTP", name="k-httpd3")
    out1, out2 = os.path.join(e.dir, "d1.bin"), os.path.join(e.dir, "d2.bin")
    try:
        r = t.ustack_ns.run(e.run_prefix(log="debug") + [
            "curl", "-sS", "--max-time", "20",
            "-o", out1, "http://%s:8002/small.bin" % t.kernel_ip,
            "-o", out2, "http://127.0.0.1:8003/small.bin"], timeout=30, text=True)
        expect(r.returncode == 0, "curl failed:\n" + r.describe())
        e.check_file(out1, sha, "on-link download", r.describe)
        e.check_file(out2, sha, "loopback download", r.describe)
        log = r.stderr
        for want in ("socket: pending", "connect: ustack (destination on ustack's network)",
                     "connect: kernel (loopback destination)"):
            expect(want in log, "the debug log lacks %r:\n%s" % (want, r.describe()))
    finally:
        k1.stop()
        k2.stop()
        e.forget()


FORK_CHILD = r"""
import errno, os, socket, sys
ip, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((ip, port))
s.sendall(b"before")
assert s.recv(100) == b"before"
pid = os.fork()
if pid == 0:
    try:
        s.send(b"child")
        os._exit(10)
    except OSError as e:
        os._exit(0 if e.errno == errno.ENOTSUP else 11)
_, st = os.waitpid(pid, 0)
print("child status", os.waitstatus_to_exitcode(st), flush=True)
s.sendall(b"after")
got = b""
while len(got) < 5:
    d = s.recv(100)
    if not d:
        break
    got += d
print("parent got", got.decode(), flush=True)
"""


def fork_child(e):
    t = e.t
    echo = t.kernel.spawn_python(KERNEL_ECHO, t.kernel_ip, ECHO_PORT, name="k-echo2",
                                 ready="echo ready")
    try:
        r = t.ustack_ns.run(e.run_prefix(log="warn") + ["/usr/bin/python3", "-c", FORK_CHILD,
                                                        t.kernel_ip, ECHO_PORT],
                            timeout=30, text=True)
        expect(r.returncode == 0, "the fork script failed:\n" + r.describe())
        expect("child status 0" in r.stdout, "the child did not get ENOTSUP:\n" + r.describe())
        expect("parent got after" in r.stdout, "the parent's connection broke:\n" + r.describe())
        expect("inherited through fork cannot be used in the child" in r.stderr,
               "no log line for the child's refused call:\n" + r.describe())
    finally:
        echo.stop()
        e.forget()


# The kernel sends 256 KiB to a program that sleeps before reading, and watches its own send
# queue (SIOCOUTQ): it empties only if ustack acknowledges while the program sleeps.
BH_SENDER = r"""
import fcntl, socket, struct, sys, time
ip, port = sys.argv[1], int(sys.argv[2])
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((ip, port)); l.listen(1)
print("sender ready", flush=True)
c, _ = l.accept()
c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
c.sendall(b"x" * (256 << 10))
t0 = time.monotonic()
while time.monotonic() - t0 < 1.5:
    if struct.unpack("i", fcntl.ioctl(c, 0x5411, b"    "))[0] == 0:   # TIOCOUTQ
        print("acked in %.3f s" % (time.monotonic() - t0), flush=True)
        break
    time.sleep(0.01)
else:
    print("still unacked after 1.5 s", flush=True)
time.sleep(5)
"""

BH_SLEEPER = r"""
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
time.sleep(2.5)            # computing: no call into the stack
got = 0
while got < (256 << 10):
    d = s.recv(1 << 16)
    if not d:
        break
    got += len(d)
print("received", got, flush=True)
"""


def bottom_half(e, on):
    t = e.t
    port = 9100 + int(on)
    snd = t.kernel.spawn_python(BH_SENDER, t.kernel_ip, port, name="k-sender-%d" % on,
                                ready="sender ready")
    try:
        prefix = e.run_prefix()
        if not on:
            prefix.insert(2, "--no-bottom-half")
        r = t.ustack_ns.run(prefix + ["/usr/bin/python3", "-c", BH_SLEEPER, t.kernel_ip, port],
                            timeout=30, text=True)
        expect(r.returncode == 0 and "received %d" % (256 << 10) in r.stdout,
               "the sleeping receiver failed:\n" + r.describe())
        snd.wait_for(r"^(acked|still)", timeout=5)
        out = snd.output()
        if on:
            expect("acked in" in out, "with the bottom half the data was not acknowledged while "
                   "the program slept:\n" + snd.describe())
        else:
            expect("still unacked" in out, "without the bottom half something acknowledged "
                   "while the program slept (the test cannot tell):\n" + snd.describe())
    finally:
        snd.stop()
        e.forget()


DUP_SCRIPT = r"""
import os, select, socket, subprocess, sys
ip, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((ip, port))
def echo(fd_out, fd_in, msg):
    os.write(fd_out, msg)
    got = b""
    while len(got) < len(msg):
        got += os.read(fd_in, 100)
    assert got == msg, (got, msg)
def eventfd_id(fd):
    with open("/proc/self/fdinfo/%d" % fd) as f:
        for line in f:
            if line.startswith("eventfd-id:"):
                return int(line.split()[1])
    return None
fd2 = os.dup(s.fileno())                     # fcntl(F_DUPFD_CLOEXEC)
echo(fd2, s.fileno(), b"via-dup")
# Every ustack socket's number (and its duplicates) is one shared placeholder eventfd.
s2 = socket.create_connection((ip, port))
ids = {eventfd_id(s.fileno()), eventfd_id(s2.fileno()), eventfd_id(fd2)}
assert len(ids) == 1 and None not in ids, ("one placeholder", ids)
echo(s2.fileno(), s2.fileno(), b"second")
s2.close()
s.close()                                    # the socket lives on through fd2
echo(fd2, fd2, b"after-close")
fd3 = os.dup2(fd2, 60)                       # dup2 (dup3 when not inheritable)
p = select.poll(); p.register(fd3, select.POLLIN)
os.write(fd2, b"poll")
assert p.poll(5000) == [(fd3, select.POLLIN)], "poll on the dup"
assert os.read(fd3, 100) == b"poll"
os.close(fd2)
echo(fd3, fd3, b"last-one")
# exec: a ustack socket cannot cross it; the new image finds the number closed
os.set_inheritable(fd3, True)
r = subprocess.run([sys.executable, "-c",
                    "import os, sys\ntry:\n os.fstat(int(sys.argv[1])); print('open')\n"
                    "except OSError: print('closed')", str(fd3)],
                   close_fds=False, capture_output=True, text=True)
print("child saw", r.stdout.strip(), flush=True)
echo(fd3, fd3, b"after-exec")
os.close(fd3)
print("dup ok", flush=True)
"""


def dup_exec(e):
    t = e.t
    echo = t.kernel.spawn_python(KERNEL_ECHO, t.kernel_ip, ECHO_PORT, name="k-echo3",
                                 ready="echo ready")
    try:
        r = t.ustack_ns.run(e.run_prefix(log="info") + ["/usr/bin/python3", "-c", DUP_SCRIPT,
                                                        t.kernel_ip, ECHO_PORT],
                            timeout=30, text=True)
        expect(r.returncode == 0 and "dup ok" in r.stdout, "dup script failed:\n" + r.describe())
        expect("child saw closed" in r.stdout, "the exec'd child saw the ustack descriptor "
               "open:\n" + r.describe())
        expect("closed in the new image" in r.stderr, "no log line for exec:\n" + r.describe())
    finally:
        echo.stop()
        e.forget()


# Under ustack: socket.sendfile (os.sendfile onto a ustack socket), TCP_INFO, and 8 threads each
# with its own connection doing echo round trips at once (one stack, one lock).
API_SCRIPT = r"""
import hashlib, os, socket, struct, sys, threading
ip, port, sink_port, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
# sendfile
s = socket.create_connection((ip, sink_port))
with open(path, "rb") as f:
    sent = s.sendfile(f)
s.close()
print("sendfile sent", sent, flush=True)
# TCP_INFO, Linux's layout: state u8, ..., rto u32 at 8, snd_mss at 16, rtt at 68, cwnd at 80
s = socket.create_connection((ip, port))
s.sendall(b"x" * 1000)
got = 0
while got < 1000:
    got += len(s.recv(4096))
ti = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
state, = struct.unpack_from("B", ti, 0)
rto, ato, snd_mss, rcv_mss = struct.unpack_from("IIII", ti, 8)
rtt, rttvar, ssthresh, cwnd = struct.unpack_from("IIII", ti, 68)
print("tcp_info state=%d mss=%d rto_ok=%d rtt_ok=%d cwnd_ok=%d" % (
    state, snd_mss, rto >= 200000, 0 < rtt < 1000000, cwnd >= 2), flush=True)
s.close()
# threads
errors = []
def worker(k):
    try:
        c = socket.create_connection((ip, port))
        for i in range(200):
            msg = b"%d-%d;" % (k, i)
            c.sendall(msg)
            got = b""
            while len(got) < len(msg):
                got += c.recv(100)
            assert got == msg, (got, msg)
        c.close()
    except Exception as e:
        errors.append(repr(e))
ts = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
[t.start() for t in ts]
[t.join(20) for t in ts]
print("threads errors", len(errors), errors[:3], flush=True)
"""

# A kernel TCP sink that writes the sha256 of what one connection carried.
KERNEL_SINK = r"""
import hashlib, socket, sys
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2]))); l.listen(1)
print("sink ready", flush=True)
c, _ = l.accept()
h, n = hashlib.sha256(), 0
while True:
    d = c.recv(1 << 16)
    if not d:
        break
    h.update(d); n += len(d)
print("sink got %d %s" % (n, h.hexdigest()), flush=True)
"""


def api_calls(e):
    t = e.t
    src, sha = e.make_file("api.bin", 3 << 20)
    echo = t.kernel.spawn_python(KERNEL_ECHO, t.kernel_ip, ECHO_PORT, name="k-echo4",
                                 ready="echo ready")
    sink = t.kernel.spawn_python(KERNEL_SINK, t.kernel_ip, 9200, name="k-sink",
                                 ready="sink ready")
    try:
        r = t.ustack_ns.run(e.run_prefix() + ["/usr/bin/python3", "-c", API_SCRIPT, t.kernel_ip,
                                              ECHO_PORT, 9200, src], timeout=30, text=True)
        expect(r.returncode == 0, "the script failed:\n" + r.describe())
        expect("sendfile sent %d" % (3 << 20) in r.stdout, "sendfile:\n" + r.describe())
        sink.wait_for(r"^sink got", timeout=10)
        expect("sink got %d %s" % (3 << 20, sha) in sink.output(),
               "sendfile's bytes differ:\n" + sink.describe())
        expect("tcp_info state=1 mss=1448 rto_ok=1 rtt_ok=1 cwnd_ok=1" in r.stdout,
               "TCP_INFO:\n" + r.describe())
        expect("threads errors 0" in r.stdout, "threads:\n" + r.describe())
    finally:
        echo.stop()
        sink.stop()
        e.forget()


def udp_socat(e, ustack_client):
    """UDP: socat under ustack against the kernel's echo service, and the kernel's socat against
    a UDP echo under ustack (socat itself), each datagram checked."""
    t = e.t
    msgs = ["datagram %d %s" % (i, "y" * (i * 37 % 1400)) for i in range(20)]
    if ustack_client:
        srv = t.kernel.spawn_python(KERNEL_ECHO, t.kernel_ip, ECHO_PORT, name="k-echo5",
                                    ready="echo ready")
        cli_ns, cli_prefix, dst = t.ustack_ns, e.run_prefix(), t.kernel_ip
    else:
        srv = t.ustack_ns.spawn(e.run_prefix(log="debug") + [
            "socat", "UDP-LISTEN:%d,bind=%s" % (ECHO_PORT, t.ustack_ip), "PIPE"],
            name="u-udp-echo", ready=r"fd \d+ bind: ustack")
        cli_ns, cli_prefix, dst = t.kernel, [], t.ustack_ip
    try:
        code = ("import socket, sys\n"
                "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)\n"
                "s.connect((sys.argv[1], int(sys.argv[2])))\n"
                "for m in sys.argv[3:]:\n"
                "    s.send(m.encode()); assert s.recv(2000).decode() == m, m\n"
                "print('udp ok', len(sys.argv) - 3)\n")
        r = cli_ns.run(cli_prefix + ["/usr/bin/python3", "-c", code, dst, ECHO_PORT] + msgs,
                       timeout=30, text=True)
        expect(r.returncode == 0 and "udp ok %d" % len(msgs) in r.stdout,
               "UDP echo failed:\n%s\n%s" % (r.describe(), srv.describe()))
    finally:
        srv.stop()
        e.forget()


# ---- iperf3 and redis ----

def iperf_case(e, client_on_ustack):
    """iperf3 -c for 5 s, one side under ustack; both must finish with their JSON report."""
    import json
    t = e.t
    port = 5201 if client_on_ustack else 5202
    if client_on_ustack:
        srv = t.kernel.spawn(["iperf3", "-s", "-1", "--forceflush", "-B", t.kernel_ip, "-p",
                              port], name="k-iperf3", ready="Server listening")
        cli = t.ustack_ns.run(e.run_prefix() + ["iperf3", "-c", t.kernel_ip, "-p", port, "-t",
                                                "5", "-J"], timeout=30, text=True)
    else:
        srv = t.ustack_ns.spawn(e.run_prefix() + ["iperf3", "-s", "-1", "--forceflush", "-B",
                                                  t.ustack_ip, "-p", port],
                                name="u-iperf3", ready="Server listening")
        cli = t.kernel.run(["iperf3", "-c", t.ustack_ip, "-p", port, "-t", "5", "-J"],
                           timeout=30, text=True)
    try:
        expect(cli.returncode == 0, "iperf3 -c failed:\n%s\n%s" % (cli.describe(),
                                                                   srv.describe()))
        try:
            rep = json.loads(cli.stdout)
        except ValueError:
            raise netns.TestFailure("iperf3 -c printed no JSON report:\n" + cli.describe())
        expect("error" not in rep, "iperf3 reported an error: %s" % rep.get("error"))
        sent = rep["end"]["sum_sent"]["bytes"]
        got = rep["end"]["sum_received"]["bytes"]
        expect(sent > 0 and 0 < got <= sent, "iperf3: sent %d, received %d" % (sent, got))
        st = srv.wait(timeout=10)
        expect(st == 0, "iperf3 -s exited %s:\n%s" % (st, srv.describe()))
        netns.log("    iperf3 %s: %.0f Mbit/s received (%d bytes)" % (
            "under ustack -> kernel" if client_on_ustack else "kernel -> under ustack",
            rep["end"]["sum_received"]["bits_per_second"] / 1e6, got))
    finally:
        srv.stop()
        e.forget()


def redis_stat(ns, host, port, prefix=()):
    r = ns.run(list(prefix) + ["redis-cli", "-h", host, "-p", port, "info", "stats"],
               timeout=10, text=True)
    expect(r.returncode == 0, "redis-cli info failed:\n" + r.describe())
    return {k: v for k, _, v in (l.strip().partition(":") for l in r.stdout.splitlines())}


def redis_server_under_ustack(e, pipeline):
    """redis-benchmark -n 100000 -t set,get -P pipeline from the kernel: no errors, and the
    server counted every GET as a hit."""
    t = e.t
    srv = t.ustack_ns.spawn(e.run_prefix() + ["redis-server", "--bind", t.ustack_ip, "--port",
                                              6379, "--save", "", "--appendonly", "no",
                                              "--protected-mode", "no"],
                            name="u-redis", ready="Ready to accept")
    try:
        for p in (pipeline,):
            r = t.kernel.run(["redis-benchmark", "-h", t.ustack_ip, "-p", 6379, "-q", "-n",
                              100000, "-t", "set,get", "-P", p], timeout=40, text=True)
            import re
            final = re.findall(r"(SET|GET): ([0-9.]+) requests per second", r.stdout)
            expect(r.returncode == 0 and [k for k, _ in final] == ["SET", "GET"] and
                   "rror" not in r.stdout + r.stderr,
                   "redis-benchmark -P %d:\n%s\n%s" % (p, r.describe(), srv.describe()))
            netns.log("    redis-benchmark -P %d: SET %s/s, GET %s/s" % (p, final[0][1],
                                                                     final[1][1]))
        st = redis_stat(t.kernel, t.ustack_ip, 6379)
        expect(st.get("keyspace_hits") == "100000" and st.get("keyspace_misses") == "0",
               "server stats: hits %s misses %s" % (st.get("keyspace_hits"),
                                                   st.get("keyspace_misses")))
    finally:
        srv.stop()
        e.forget()


def redis_cli_under_ustack(e):
    t = e.t
    srv = t.kernel.spawn(["redis-server", "--bind", t.kernel_ip, "--port", 6380, "--save", "",
                          "--appendonly", "no", "--protected-mode", "no"],
                         name="k-redis", ready="Ready to accept")
    try:
        cli = ["redis-cli", "-h", t.kernel_ip, "-p", 6380]
        r = t.ustack_ns.run(e.run_prefix() + cli + ["set", "ustack-key", "hello from ustack"],
                            timeout=15, text=True)
        expect(r.returncode == 0 and r.stdout.strip() == "OK", "set:\n" + r.describe())
        r = t.ustack_ns.run(e.run_prefix() + cli + ["get", "ustack-key"], timeout=15, text=True)
        expect(r.returncode == 0 and r.stdout.strip() == "hello from ustack",
               "get:\n" + r.describe())
        r = t.kernel.run(cli + ["get", "ustack-key"], timeout=15, text=True)
        expect(r.stdout.strip() == "hello from ustack", "kernel get:\n" + r.describe())
    finally:
        srv.stop()
        e.forget()


def need(*programs):
    import shutil
    for p in programs:
        if not shutil.which(p):
            raise netns.Skip("%s is not installed (scripts/install-deps.sh installs it)" % p)


# A socket registered in epoll before connect (still pending) is registered again as the ustack
# socket that replaces it; the connection's writability and the echo's readability arrive.
EPOLL_EARLY = r"""
import select, socket, sys
ip, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(); s.setblocking(False)
ep = select.epoll()
ep.register(s.fileno(), select.EPOLLOUT | select.EPOLLIN)
try:
    s.connect((ip, port))
except BlockingIOError:
    pass
ev = ep.poll(5)
print("after connect", [(fd == s.fileno(), e & (select.EPOLLOUT | select.EPOLLIN)) for fd, e in ev])
ep.modify(s.fileno(), select.EPOLLIN)
s.send(b"early")
got = b""
for _ in range(50):
    for fd, e in ep.poll(0.1):
        if e & select.EPOLLIN:
            got += s.recv(100)
    if len(got) >= 5:
        break
print("echo", got.decode(), flush=True)
"""


def epoll_before_connect(e):
    t = e.t
    echo = t.kernel.spawn_python(KERNEL_ECHO, t.kernel_ip, ECHO_PORT, name="k-echo6",
                                 ready="echo ready")
    try:
        r = t.ustack_ns.run(e.run_prefix(log="debug") + ["/usr/bin/python3", "-c", EPOLL_EARLY,
                                                         t.kernel_ip, ECHO_PORT],
                            timeout=30, text=True)
        expect(r.returncode == 0 and "after connect [(True, 4)]" in r.stdout and
               "echo early" in r.stdout, "epoll before connect:\n" + r.describe())
        expect("connect: ustack" in r.stderr, "the socket did not go to ustack:\n" +
               r.describe())
    finally:
        echo.stop()
        e.forget()


def stack_unavailable(e):
    """The link is taken (by `ustack echo`): the program's stack cannot be made, so its sockets
    stay the kernel's, the log says why, and the download works through the kernel."""
    t = e.t
    holder = t.start_ustack("echo", "--port", 7, pcap=False)
    src, sha = e.make_file("fallback.bin", 1 << 20)
    srv = t.kernel.spawn([sys.executable, "-u", "-m", "http.server", "--bind", t.kernel_ip,
                          "8004", "--directory", e.dir], ready="Serving HTTP", name="k-httpd4")
    out = os.path.join(e.dir, "fallback.out")
    try:
        r = t.ustack_ns.run(e.run_prefix(log="debug") + [
            "curl", "-sS", "--max-time", "20", "-o", out,
            "http://%s:8004/fallback.bin" % t.kernel_ip], timeout=30, text=True)
        expect(r.returncode == 0, "curl failed:\n" + r.describe())
        e.check_file(out, sha, "download through the kernel", r.describe)
        expect("cannot create the stack on tap:" in r.stderr and
               "every socket goes to the kernel" in r.stderr and
               "socket: kernel (no stack)" in r.stderr,
               "no fallback in the log:\n" + r.describe())
    finally:
        srv.stop()
        holder.stop()
        e.forget()


def main():
    def extra(ap):
        ap.add_argument("--group", choices=("http", "tools", "ready", "iperf", "redis"),
                        required=True)
    args = netns.parse_args(__doc__, extra=extra)
    with netns.Lab("preload_" + args.group, args) as lab:
        t = lab.ustack_topology("tap")
        e = Env(lab, t)
        suite = netns.Suite(lab, args.only, args.skip)
        if args.group == "http":
            src, sha = e.make_file("file.bin", HTTP_BYTES)
            suite.case("curl_under_ustack_downloads_50MiB", http_download, e, src, sha)
            suite.case("kernel_curl_from_ustack_http_server", http_serve, e, src, sha)
        elif args.group == "tools":
            src, sha = e.make_file("file.bin", TOOL_BYTES)
            suite.case("socat_ustack_to_kernel", tool_case, e, "socat_u2k", src, sha, False,
                       socat_recv, socat_send)
            suite.case("socat_kernel_to_ustack", tool_case, e, "socat_k2u", src, sha, True,
                       socat_recv, socat_send)
            suite.case("ncat_ustack_to_kernel", tool_case, e, "ncat_u2k", src, sha, False,
                       ncat_recv, ncat_send)
            suite.case("ncat_kernel_to_ustack", tool_case, e, "ncat_k2u", src, sha, True,
                       ncat_recv, ncat_send)
            suite.case("udp_python_under_ustack_to_kernel_echo", udp_socat, e, True)
            suite.case("udp_kernel_to_socat_echo_under_ustack", udp_socat, e, False)
        elif args.group == "iperf":
            need("iperf3")
            suite.case("iperf3_client_under_ustack", iperf_case, e, True)
            suite.case("iperf3_server_under_ustack", iperf_case, e, False)
        elif args.group == "redis":
            need("redis-server", "redis-benchmark", "redis-cli")
            suite.case("redis_benchmark_pipeline16", redis_server_under_ustack, e, 16)
            suite.case("redis_benchmark_nopipeline", redis_server_under_ustack, e, 1)
            suite.case("redis_cli_under_ustack", redis_cli_under_ustack, e)
        else:
            suite.case("mixed_readiness_matches_linux", mixready, e)
            suite.case("eintr_and_sa_restart_match_linux", sigrestart, e)
            suite.case("decisions_logged_loopback_stays_kernel", decisions, e)
            suite.case("forked_child_gets_enotsup", fork_child, e)
            suite.case("dup_dup2_and_exec", dup_exec, e)
            suite.case("epoll_registration_before_connect", epoll_before_connect, e)
            suite.case("stack_unavailable_falls_back_to_kernel", stack_unavailable, e)
            suite.case("sendfile_tcp_info_threads", api_calls, e)
            suite.case("bottom_half_acks_while_program_computes", bottom_half, e, True)
            suite.case("no_bottom_half_nothing_acks_meanwhile", bottom_half, e, False)
        return suite.status()


if __name__ == "__main__":
    netns.main(main)
