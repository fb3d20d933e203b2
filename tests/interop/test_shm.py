#!/usr/bin/env python3
"""
Two ustack processes over the shared-memory wire (shm:/dev/shm/ust-...): no kernel network, no
namespaces, no root needed.

  discard  `ustack tcp-client --send 64 MiB` -> `ustack echo --discard`: the client sends, closes,
           and exits 0; the sha256 the server printed == the client's == `ustack gen`'s.
  source   `ustack echo --source 64 MiB` -> `ustack tcp-client --send 0`: the same the other way.
  kill     the discard server is killed (SIGKILL, by PID) while a 6.4 GB send is under way (the
           client has used 0.1 s of CPU and is still running): the
           client must end with ETIMEDOUT or ECONNRESET within KILL_BOUND_S (the link reports
           down as soon as the peer's doorbell hangs up and the stack resets the connections
           routed over it: ECONNRESET; --tcp_retries2=3 at --tcp_max_rto_ms=500 bound it to
           ETIMEDOUT should that fail).
  idle     the echo server is killed under an idle connection (`tcp-client --send 0
           --keep-open`: connected, nothing sent or outstanding either way, the client asleep in
           ust_poll): the client must end with ECONNRESET within IDLE_BOUND_S (the link reports
           down when the peer's doorbell hangs up, and the stack resets every connection routed
           over it; before, only keepalive, after 2 hours, would have noticed).
  corrupt  a file that is not a wire (and one with a damaged header) is refused with a clear
           message and left as it was.

Every process is started here, killed by PID, and every /dev/shm/ust-... name is removed, even
on failure. Exit status 0 (all passed), 1 (a failure), 77 (skipped: no /dev/shm).
"""
import argparse
import hashlib
import os
import signal
import subprocess
import sys
import time

MIB64 = 64 << 20
KILL_BOUND_S = 15.0
IDLE_BOUND_S = 2.0
PORT = 5001
SERVER = "198.18.250.2"
CLIENT = "198.18.250.1"

procs = []
names = []


def log(msg):
    print(msg, flush=True)


def wire_name(tag):
    path = "/dev/shm/ust-test-py-%d-%s" % (os.getpid(), tag)
    names.append(path)
    remove_names(path)
    return path


def remove_names(path):
    for p in (path, path + ".door0", path + ".door1"):
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass


def spawn(argv):
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    procs.append(p)
    return p


def kill(p, sig=signal.SIGKILL):
    if p.poll() is None:
        os.kill(p.pid, sig)


def cleanup():
    for p in procs:
        kill(p)
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    for path in names:
        remove_names(path)


def wait_line(p, prefix, timeout):
    """Reads p's output until a line starts with prefix; returns (line, all lines read)."""
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        line = p.stdout.readline().decode(errors="replace")
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith(prefix):
            return line.strip(), lines
    raise AssertionError("no line starting %r from %s; got:\n%s" %
                         (prefix, p.args[1], "\n".join(lines[-20:])))


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


class Case:
    def __init__(self, ustack, deadline):
        self.ustack = ustack
        self.deadline = deadline

    def echo(self, wire, *mode, extra=()):
        p = spawn([self.ustack, "echo", "--link", "shm:%s,side=1" % wire,
                   "--addr", SERVER + "/24", "--port", str(PORT), *mode, *extra])
        wait_line(p, "ustack echo: ready", 10)
        return p

    def client(self, wire, send, extra=()):
        return spawn([self.ustack, "tcp-client", "--link", "shm:%s,side=0" % wire,
                      "--addr", CLIENT + "/24", "--server", "%s:%d" % (SERVER, PORT),
                      "--send", str(send), "--timeout-s", "40", *extra])

    def gen_sha(self, n):
        h = hashlib.sha256()
        with subprocess.Popen([self.ustack, "gen", str(n)], stdout=subprocess.PIPE) as g:
            while True:
                b = g.stdout.read(1 << 20)
                if not b:
                    break
                h.update(b)
        return h.hexdigest()


def sha_of(line, key):
    words = line.split()
    return words[words.index(key) + 1]


def case_discard(c):
    wire = wire_name("discard")
    server = c.echo(wire, "--discard")
    client = c.client(wire, MIB64)
    out, _ = client.communicate(timeout=40)
    out = out.decode(errors="replace")
    expect(client.returncode == 0, "client failed:\n" + out)
    line, _ = wait_line(server, "tcp discard:", 10)
    want = c.gen_sha(MIB64)
    expect(("sent %d sha256 %s" % (MIB64, want)) in out, "client sent the wrong stream:\n" + out)
    expect(line.split()[2] == str(MIB64) and sha_of(line, "sha256") == want,
           "server received something else: " + line)
    # Both attached: the names are gone.
    expect(not os.path.exists(wire), "the wire's name outlived the rendezvous")
    kill(server, signal.SIGTERM)
    server.wait(timeout=10)


def case_source(c):
    wire = wire_name("source")
    server = c.echo(wire, "--source", str(MIB64))
    client = c.client(wire, 0)
    out, _ = client.communicate(timeout=40)
    out = out.decode(errors="replace")
    expect(client.returncode == 0, "client failed:\n" + out)
    want = c.gen_sha(MIB64)
    expect(("received %d sha256 %s" % (MIB64, want)) in out,
           "client received something else:\n" + out)
    line, _ = wait_line(server, "tcp source:", 10)
    expect(sha_of(line, "sha256") == want, "server sent something else: " + line)
    kill(server, signal.SIGTERM)
    server.wait(timeout=10)


def case_kill(c):
    wire = wire_name("kill")
    server = c.echo(wire, "--discard")
    client = c.client(wire, 100 * MIB64,
                      extra=("--tcp_retries2=3", "--tcp_max_rto_ms=500",
                             "--tcp_syn_retries=2"))
    # Mid-transfer: the client has spent CPU_TICKS of CPU time (starting and connecting take a
    # few ms; moving data is what takes more), and is still running.
    deadline = time.monotonic() + 15
    while cpu_ticks(client.pid) < CPU_TICKS and time.monotonic() < deadline:
        expect(client.poll() is None, "the client ended before the kill")
        time.sleep(0.01)
    expect(cpu_ticks(client.pid) >= CPU_TICKS, "the client never got going")
    expect(client.poll() is None, "the client finished before the kill")
    kill(server)
    killed_at = time.monotonic()
    server.wait(timeout=5)
    try:
        out, _ = client.communicate(timeout=KILL_BOUND_S + 5)
    except subprocess.TimeoutExpired:
        raise AssertionError("the client hung after its peer was killed")
    took = time.monotonic() - killed_at
    out = out.decode(errors="replace")
    expect(client.returncode == 1, "client exit %s:\n%s" % (client.returncode, out))
    expect("ETIMEDOUT" in out or "ECONNRESET" in out, "no ETIMEDOUT/ECONNRESET:\n" + out)
    expect(took < KILL_BOUND_S, "the client took %.1f s to give up" % took)
    expect("link is down" in out, "the link did not report the peer's death:\n" + out)
    log("    client gave up %.2f s after the kill" % took)


def case_idle(c):
    wire = wire_name("idle")
    server = c.echo(wire)
    client = c.client(wire, 0, extra=("--keep-open",))
    wait_line(client, "tcp-client: connected", 10)
    expect(client.poll() is None, "the client ended before the kill")
    kill(server)
    killed_at = time.monotonic()
    server.wait(timeout=5)
    try:
        out, _ = client.communicate(timeout=IDLE_BOUND_S + 10)
    except subprocess.TimeoutExpired:
        raise AssertionError("the idle client did not notice its peer's death")
    took = time.monotonic() - killed_at
    out = out.decode(errors="replace")
    expect(client.returncode == 1, "client exit %s:\n%s" % (client.returncode, out))
    expect("connection 0: ECONNRESET" in out, "no ECONNRESET:\n" + out)
    expect("link is down" in out, "the link did not report the peer's death:\n" + out)
    expect(took < IDLE_BOUND_S, "the idle client took %.2f s to see the reset" % took)
    log("    idle client saw ECONNRESET %.2f s after the kill" % took)


CPU_TICKS = 10   # clock ticks (1/100 s on Linux)


def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks (0 once it is gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0


def case_corrupt(c):
    wire = wire_name("corrupt")
    fd = os.open(wire, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, b"not a wire, just someone's data\n" * 200)
    os.close(fd)
    before = open(wire, "rb").read()
    p = subprocess.run([c.ustack, "echo", "--link", "shm:%s,side=1" % wire,
                        "--addr", SERVER + "/24"], capture_output=True, timeout=10)
    err = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
    expect(p.returncode != 0, "a foreign file was accepted")
    expect("bad magic" in err and "refused" in err, "no clear error:\n" + err)
    expect(open(wire, "rb").read() == before, "the foreign file was modified")


CASES = [("discard", case_discard), ("source", case_source), ("kill", case_kill),
         ("idle", case_idle), ("corrupt", case_corrupt)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ustack", required=True)
    ap.add_argument("--build-dir")
    ap.add_argument("--deadline", type=float, default=50)
    ap.add_argument("--case", action="append")
    a = ap.parse_args()
    if not os.path.isdir("/dev/shm"):
        print("SKIP: no /dev/shm")
        return 77
    signal.signal(signal.SIGTERM, lambda *_: (cleanup(), sys.exit(1)))
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(
        AssertionError("deadline of %.0f s passed" % a.deadline)))
    signal.alarm(int(a.deadline))
    c = Case(a.ustack, a.deadline)
    failed = 0
    try:
        for name, fn in CASES:
            if a.case and name not in a.case:
                continue
            t0 = time.monotonic()
            try:
                fn(c)
                log("ok   %s (%.1f s)" % (name, time.monotonic() - t0))
            except AssertionError as e:
                failed += 1
                log("FAIL %s: %s" % (name, e))
            finally:
                cleanup()
                procs.clear()
    finally:
        signal.alarm(0)
        cleanup()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
