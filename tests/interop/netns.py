"""
netns.py: network namespaces, veth pairs, TAP devices and processes for ustack's interop tests.

Standard library only. Needs root, iproute2 (`ip`) and /dev/net/tun.

Network safety (docs/design.md, "Network safety"), enforced here rather than left to each test:
- every namespace is created by this module, named ust-<test>-<pid>-<tag>, and removed with
  everything in it when the test ends: normally, by exception, by SIGINT/SIGTERM/SIGHUP, by its
  own deadline (SIGALRM), or at interpreter exit (atexit). Namespaces left behind by a test
  process that was SIGKILLed are removed by the next test that starts (see collect_stale);
- devices (veth pairs, TAP devices) are only ever created inside those namespaces, so nothing
  appears in the host's namespace;
- each Lab gets its own /24 from 198.18.0.0/15, chosen under a file lock so tests running in
  parallel never share one; only addresses from that /24 are ever configured;
- no namespace gets a default route (checked by Lab.assert_isolated before traffic starts);
- processes are started in their own session with PR_SET_PDEATHSIG=SIGKILL (they die with the
  test), and stopped by PID / own process group (SIGINT, then SIGKILL after a timeout); nothing is
  ever killed by name;
- every wait has a timeout.

A test in a few lines:

    import netns
    from netns import expect

    def main():
        args = netns.parse_args("what this test checks")    # --build-dir, --link, --deadline ...
        with netns.Lab("my_test", args) as lab:              # its own /24, cleaned up on exit
            t = lab.ustack_topology(args.link)               # kernel .1 <-> ustack .2
            suite = netns.Suite(lab, args.only, args.skip)
            echo = t.start_ustack("echo", "--port", 7)       # waits for "ustack echo: ready"
            def ping_once():
                r = t.kernel.run(["ping", "-c", 1, "-W", 1, t.ustack_ip], text=True)
                expect(netns.ping_summary(r.stdout) == (1, 1), r.describe())
            suite.case("ping_once", ping_once)
            return suite.status()                            # 0, or 1 with every output shown

    netns.main(main)                                         # exit 0 / 1 / 77 (skipped)

See tests/interop/test_ipv4.py for a complete example with several cases (Suite).

An impaired path: lab.bridge_topology(far="kernel" or "ustack") puts `ustack bridge` between the
kernel at .1 and the far end at .2 (BridgeTopology: start_bridge(a2b=..., b2a=...) with fault
specifications, stop_bridge() returns its per-direction counters); kernel_tcp_discard,
kernel_tcp_source, tcp_upload and tcp_download move checked bulk data over it with the kernel's
TCP. tests/interop/test_bridge.py uses them.
"""

import argparse
import atexit
import ctypes
import errno
import fcntl
import hashlib
import ipaddress
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback

NET = ipaddress.ip_network("198.18.0.0/15")
STATE_DIR = "/run/ustack-interop"          # subnet locks and namespace ownership markers
SUBNET_FIRST = 16                          # /24 number (0..511 inside 198.18.0.0/15) we start at
SUBNET_LAST = 511                          # ... and end at; 198.18.0-15.x are left to demos
SKIP = 77                                  # exit status ctest's SKIP_RETURN_CODE reports as skipped
DEFAULT_TIMEOUT = 30.0                     # seconds, for any command that does not say

_PR_SET_PDEATHSIG = 1


class TestFailure(Exception):
    """A check failed. The message says what was expected and what happened."""


class Deadline(BaseException):
    """The test ran out of its time budget (SIGALRM). A BaseException, so that it ends the
    whole test rather than one case."""


class Skip(Exception):
    """The test cannot run here (not root, no /dev/net/tun ...): exits with SKIP."""


def expect(cond, message):
    """Raises TestFailure(message) unless cond holds."""
    if not cond:
        raise TestFailure(message)


def log(msg):
    print(msg, flush=True)


def indent(text, prefix="    | "):
    text = text if text.endswith("\n") or not text else text + "\n"
    return "".join(prefix + line for line in text.splitlines(True))


def tail(text, lines=60):
    parts = text.splitlines(True)
    if len(parts) <= lines:
        return text
    return "[... %d earlier lines ...]\n" % (len(parts) - lines) + "".join(parts[-lines:])


def _quote_args(argv):
    """A command line for a message: a multi-line argument (a python snippet) is abbreviated."""
    out = []
    for a in argv:
        if "\n" in a:
            first = next((l for l in a.splitlines() if l.strip()), "")
            out.append("'<%d-line script: %s ...>'" % (a.count("\n") + 1, first.strip()[:40]))
        else:
            out.append(shlex.quote(a))
    return " ".join(out)


def decode(b):
    if b is None:
        return ""
    if isinstance(b, str):
        return b
    return b.decode("utf-8", "replace")


def _proc_start_time(pid):
    """The start time of process pid (clock ticks since boot), or None if it does not exist."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


# --------------------------------------------------------------------------------------------
# Global cleanup: every Lab registers here, atexit and the signal handlers tear them all down.

_labs = []
_handlers_installed = False


def _cleanup_all():
    for lab in list(_labs):
        lab.close()


def _on_signal(signum, frame):
    # Turn the signal into an exception in the main thread, so try/finally and `with` blocks
    # unwind and clean up in order. A second signal during cleanup is ignored (see Lab.close).
    if signum == signal.SIGALRM:
        raise Deadline("the test's deadline passed")
    raise KeyboardInterrupt("signal %d" % signum)


def _install_handlers():
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(_cleanup_all)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
        signal.signal(s, _on_signal)


# --------------------------------------------------------------------------------------------
# Small helpers around iproute2.

def _run_host(argv, timeout=DEFAULT_TIMEOUT, check=True):
    """Runs a command in the host namespace (only `ip netns ...` and `ip -n NS ...`)."""
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    if check and r.returncode != 0:
        raise TestFailure("command failed (exit %d): %s\n%s" % (
            r.returncode, " ".join(shlex.quote(a) for a in argv),
            indent(decode(r.stdout) + decode(r.stderr))))
    return r


def netns_list():
    r = _run_host(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in decode(r.stdout).splitlines() if line.strip()]


def _netns_pids(name):
    r = _run_host(["ip", "netns", "pids", name], check=False, timeout=10)
    return [int(x) for x in decode(r.stdout).split() if x.isdigit()]


def _netns_delete(name):
    """Deletes namespace `name` (created by us): kills what still runs in it, by PID, first."""
    for attempt in range(3):
        pids = _netns_pids(name)
        for pid in pids:
            # Only processes inside our own namespace; started by our tests (descendants that
            # escaped their process group, e.g. a daemonising server).
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if pids:
            time.sleep(0.1)
        r = _run_host(["ip", "netns", "delete", name], check=False, timeout=10)
        if r.returncode == 0 or name not in netns_list():
            return True
        time.sleep(0.2)
    return False


def _ensure_state_dir():
    os.makedirs(STATE_DIR, exist_ok=True)


def collect_stale():
    """Removes namespaces a previous test created whose owning process is gone (it was killed
    with SIGKILL, e.g. by a ctest timeout, and could not clean up). Only namespaces with our
    ownership marker are considered, never anybody else's."""
    _ensure_state_dir()
    for entry in os.listdir(STATE_DIR):
        if not entry.endswith(".owner"):
            continue
        path = os.path.join(STATE_DIR, entry)
        try:
            with open(path) as f:
                pid_s, start_s = f.read().split()[:2]
            pid, start = int(pid_s), int(start_s)
        except (OSError, ValueError):
            continue
        if _proc_start_time(pid) == start:
            continue   # the owner still runs
        name = entry[:-len(".owner")]
        if name in netns_list():
            log("netns: removing stale namespace %s (owner pid %d is gone)" % (name, pid))
            _netns_delete(name)
        try:
            os.unlink(path)
        except OSError:
            pass


# --------------------------------------------------------------------------------------------
# Processes.

_libc = ctypes.CDLL(None, use_errno=True)   # looked up before any fork: the child only calls


def _child_setup():
    # Runs in the child between fork and exec (start_new_session has already made it a session
    # and process group leader): die with the test process, whatever kills it. The setting
    # survives the exec of `ip netns exec` and its exec of the command.
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Proc:
    """A background process in a namespace. A reader thread per stream collects its stdout and
    stderr; wait_for() waits for a line in either; write() feeds its stdin (stdin=True);
    stop() ends it by PID."""

    def __init__(self, lab, ns, argv, name, env=None, stdin=False, binary=False):
        self.lab = lab
        self.binary = binary     # stdout is data, not text: kept, but not shown in reports
        self.ns = ns
        self.argv = list(argv)
        self.name = name
        self.returncode = None
        self.killed = False
        self._out = []           # stdout chunks (bytes)
        self._log = []           # stdout and stderr chunks in arrival order (text)
        self._cond = threading.Condition()
        self._open = 2           # streams not at EOF yet
        full = ["ip", "netns", "exec", ns.name] + self.argv
        self.popen = subprocess.Popen(full, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      start_new_session=True, preexec_fn=_child_setup, env=env)
        self.pid = self.popen.pid
        self._readers = [threading.Thread(target=self._read, args=(f, keep), daemon=True,
                                          name="reader-%s" % name)
                         for f, keep in ((self.popen.stdout, True), (self.popen.stderr, False))]
        for t in self._readers:
            t.start()

    def _read(self, f, is_stdout):
        while True:
            try:
                chunk = f.read1(65536)
            except (OSError, ValueError):
                chunk = b""
            if not chunk:
                break
            with self._cond:
                if is_stdout:
                    self._out.append(chunk)
                if not (is_stdout and self.binary):
                    self._log.append(decode(chunk))
                self._cond.notify_all()
        with self._cond:
            self._open -= 1
            self._cond.notify_all()

    def output(self):
        """Everything the process printed so far, stdout and stderr interleaved, as text."""
        with self._cond:
            return "".join(self._log)

    def stdout_bytes(self):
        """Its stdout so far, exactly."""
        with self._cond:
            return b"".join(self._out)

    def write(self, data):
        """Writes data to the process's stdin (spawned with stdin=True)."""
        self.popen.stdin.write(data)
        self.popen.stdin.flush()

    def close_stdin(self):
        try:
            if self.popen.stdin:
                self.popen.stdin.close()
        except (OSError, ValueError):
            pass

    def _exited(self):
        """True once the process has exited (it may still be an unreaped zombie)."""
        if self.returncode is not None:
            return True
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None

    def alive(self):
        return not self._exited()

    def _wait_cond(self, pred, timeout):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                r = pred()
                if r:
                    return r
                if self._open == 0:
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(min(left, 0.2))

    def _fail(self, what):
        if self.alive():
            why = what
        else:
            self._reap(1.0)
            why = "%s (it exited with status %s)" % (what, self.returncode)
        raise TestFailure("%s: %s\n  command: %s\n  output:\n%s" % (
            self.name, why, self.cmdline(), indent(tail(self.output()))))

    def wait_for(self, pattern, timeout=10.0):
        """Waits until the output (stdout or stderr) matches regex `pattern` (re.M) and returns
        the match; fails with the output so far if the process exits first or time runs out."""
        rx = re.compile(pattern, re.M)
        m = self._wait_cond(lambda: rx.search("".join(self._log)), timeout)
        if not m:
            self._fail("no output matching %r within %.1f s" % (pattern, timeout))
        return m

    def wait_stdout_len(self, n, timeout=5.0):
        """Waits until stdout holds at least n bytes; returns all of it (maybe shorter on
        timeout or exit: the caller compares)."""
        self._wait_cond(lambda: sum(len(c) for c in self._out) >= n, timeout)
        return self.stdout_bytes()

    def cmdline(self):
        return "ip netns exec %s %s" % (self.ns.name, _quote_args(self.argv))

    def _reap(self, timeout):
        try:
            self.returncode = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        return self.returncode

    def _kill_group(self, sig):
        # Safe only while the leader is not reaped: its PID (= our group id) is still ours.
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def wait(self, timeout=DEFAULT_TIMEOUT):
        """Waits for the process to exit by itself; returns its status. Fails on timeout."""
        deadline = time.monotonic() + timeout
        while not self._exited():
            if time.monotonic() > deadline:
                self._fail("still running after %.1f s" % timeout)
            time.sleep(0.02)
        return self.stop()

    def stop(self, timeout=5.0, sig=signal.SIGINT):
        """Stops the process: `sig` (SIGINT), then SIGKILL to its process group if it has not
        exited after `timeout` seconds. Returns its exit status (negative: killed by a signal).
        Idempotent."""
        if self.returncode is not None:
            return self.returncode
        if not self._exited():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + timeout
            while not self._exited() and time.monotonic() < deadline:
                time.sleep(0.02)
            self.killed = not self._exited()
        # The leader has exited (a zombie until reaped) or is stuck: kill what is left of its
        # group (forked children), then reap it.
        self._kill_group(signal.SIGKILL)
        if self._reap(5.0) is None:
            raise TestFailure("%s (pid %d) did not die after SIGKILL" % (self.name, self.pid))
        self.close_stdin()
        for t in self._readers:
            t.join(2.0)
        return self.returncode

    def describe(self, lines=60):
        if self.returncode is not None:
            status = "exit status %d%s" % (self.returncode, " after SIGKILL" if self.killed else "")
        else:
            status = "running" if self.alive() else "exited"
        extra = " [%d bytes of binary stdout not shown]" % len(self.stdout_bytes()) \
            if self.binary else ""
        return "--- %s (pid %d, %s): %s%s\n%s" % (self.name, self.pid, status, self.cmdline(),
                                                  extra, indent(tail(self.output(), lines)))


class Result:
    """The outcome of Namespace.run: returncode, stdout, stderr (bytes unless text=True)."""

    def __init__(self, argv, ns, returncode, stdout, stderr):
        self.argv, self.ns = argv, ns
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr

    def text(self):
        return decode(self.stdout) + decode(self.stderr)

    def describe(self):
        return "command (in %s, exit %s): %s\n  stdout:\n%s  stderr:\n%s" % (
            self.ns, self.returncode, _quote_args(self.argv),
            indent(tail(decode(self.stdout))), indent(tail(decode(self.stderr))))


# --------------------------------------------------------------------------------------------
# Namespaces.

class Namespace:
    """A network namespace created by a Lab. Only the Lab creates them (Lab.namespace)."""

    def __init__(self, lab, name):
        self.lab = lab
        self.name = name

    def __str__(self):
        return self.name

    def ip(self, *args, check=True, timeout=DEFAULT_TIMEOUT):
        """Runs `ip -n NS args...`."""
        return _run_host(["ip", "-n", self.name] + [str(a) for a in args], timeout=timeout,
                         check=check)

    def sysctl(self, key, value):
        self.run(["sysctl", "-q", "-w", "%s=%s" % (key, value)], check=True, timeout=10)

    def run(self, argv, input=None, timeout=DEFAULT_TIMEOUT, check=False, text=False, env=None):
        """Runs argv in this namespace and waits for it (at most `timeout` seconds, then it is
        killed and TestFailure raised). Returns a Result. With check=True a non-zero exit is a
        TestFailure showing the output."""
        argv = [str(a) for a in argv]
        full = ["ip", "netns", "exec", self.name] + argv
        p = subprocess.Popen(full, stdin=subprocess.PIPE if input is not None else
                             subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True, preexec_fn=_child_setup, env=env)
        try:
            out, err = p.communicate(input=input, timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)   # the leader is not reaped yet: ours
            except ProcessLookupError:
                pass
            out, err = p.communicate(timeout=5)
            r = Result(argv, self.name, None, out, err)
            raise TestFailure("timed out after %.1f s: %s" % (timeout, r.describe()))
        except BaseException:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(5)
            raise
        try:
            os.killpg(p.pid, signal.SIGKILL)   # forked leftovers; the leader is reaped: ESRCH
        except ProcessLookupError:
            pass
        if text:
            out, err = decode(out), decode(err)
        r = Result(argv, self.name, p.returncode, out, err)
        if check and p.returncode != 0:
            raise TestFailure(r.describe())
        return r

    def python(self, code, *args, **kw):
        """Runs a python3 snippet (`code`, with sys.argv[1:] = args) in this namespace."""
        return self.run([sys.executable, "-c", code] + [str(a) for a in args], **kw)

    def spawn(self, argv, name=None, ready=None, ready_timeout=10.0, env=None, stdin=False,
              binary=False):
        """Starts argv in the background in this namespace. With `ready` (a regex), waits for a
        matching output line first. stdin=True gives it a pipe (Proc.write); binary=True says
        its stdout is data (Proc.stdout_bytes) to leave out of reports. Returns a Proc; the Lab
        stops it at the end if the test does not."""
        argv = [str(a) for a in argv]
        p = Proc(self.lab, self, argv, name or os.path.basename(argv[0]), env=env, stdin=stdin,
                 binary=binary)
        self.lab._procs.append(p)
        if ready:
            p.wait_for(ready, ready_timeout)
        return p

    def spawn_python(self, code, *args, name="python", ready=None, ready_timeout=10.0):
        return self.spawn([sys.executable, "-u", "-c", code] + list(args), name=name,
                          ready=ready, ready_timeout=ready_timeout)

    def addrs(self):
        r = self.ip("-o", "addr", "show")
        out = []
        for line in decode(r.stdout).splitlines():
            f = line.split()
            if len(f) >= 4 and f[2] in ("inet", "inet6"):
                out.append((f[1], f[3]))
        return out


# --------------------------------------------------------------------------------------------
# The lab: everything one test creates.

class Lab:
    """Everything one test creates: namespaces (with their devices), processes, one /24 from
    198.18.0.0/15, an artefact directory. Use it as a context manager; close() undoes it all,
    and is also called from atexit and on SIGINT/SIGTERM/SIGHUP/SIGALRM."""

    def __init__(self, test, args=None, deadline=None):
        if os.geteuid() != 0:
            raise Skip("interop tests need root (network namespaces)")
        if shutil.which("ip") is None:
            raise Skip("no `ip` (iproute2)")
        _install_handlers()
        self.test = re.sub(r"[^a-z0-9]+", "_", test.lower()).strip("_")[:24] or "test"
        self.args = args
        self.pid = os.getpid()
        self.failed = False
        self.closed = False
        self._procs = []
        self._report_hooks = []    # called before a failure report (see on_report)
        self._namespaces = []
        self._lock_fd = None
        self._start = time.monotonic()
        _labs.append(self)
        collect_stale()
        self.subnet = self._take_subnet()
        try:   # the test stream's generator, for this process and the scripts it starts
            os.environ["UST_USTACK"] = self.ustack_path()
        except TestFailure:
            pass   # tests that need the tool fail later with the reason
        base = getattr(args, "artifacts", None) or os.path.join(
            os.environ.get("UST_TEST_TMP", "/tmp"), "interop")
        self.artifacts = os.path.join(base, "%s-%d" % (self.test, self.pid))
        os.makedirs(self.artifacts, exist_ok=True)
        deadline = deadline if deadline is not None else getattr(args, "deadline", None)
        if deadline:
            signal.alarm(int(deadline))

    # -- addresses

    def _take_subnet(self):
        """Locks one /24 of 198.18.0.0/15 for this process (the lock dies with the process)."""
        _ensure_state_dir()
        nets = list(NET.subnets(new_prefix=24))
        for i in range(SUBNET_FIRST, SUBNET_LAST + 1):
            path = os.path.join(STATE_DIR, "subnet-%d.lock" % i)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    continue
                raise
            self._lock_fd = fd
            return nets[i]
        raise TestFailure("no free /24 left in %s" % NET)

    def addr(self, host):
        """The address of host number `host` (1..254) in this test's /24, as a string."""
        expect(1 <= host <= 254, "host number %d out of range" % host)
        return str(self.subnet.network_address + host)

    def cidr(self, host):
        return "%s/%d" % (self.addr(host), self.subnet.prefixlen)

    # -- namespaces and devices

    def namespace(self, tag, ipv6=True):
        """Creates namespace ust-<test>-<pid>-<tag> with lo up. ipv6=False disables IPv6 on
        every interface in it (the kernel then sends nothing unasked on them)."""
        tag = re.sub(r"[^a-z0-9]+", "", tag.lower())[:8]
        name = "ust-%s-%d-%s" % (self.test, self.pid, tag)
        expect(name not in [n.name for n in self._namespaces], "namespace %s twice" % name)
        _ensure_state_dir()
        with open(os.path.join(STATE_DIR, name + ".owner"), "w") as f:
            f.write("%d %d\n" % (self.pid, _proc_start_time(self.pid)))
        ns = Namespace(self, name)
        self._namespaces.append(ns)    # before it exists: close() tolerates a missing one
        last = None
        for attempt in range(5):       # concurrent first use of /run/netns can fail once
            r = _run_host(["ip", "netns", "add", name], check=False)
            if r.returncode == 0:
                break
            last = r
            time.sleep(0.1 * (attempt + 1))
        else:
            raise TestFailure("ip netns add %s failed: %s" % (name, decode(last.stderr)))
        if not ipv6:
            ns.sysctl("net.ipv6.conf.all.disable_ipv6", 1)
            ns.sysctl("net.ipv6.conf.default.disable_ipv6", 1)
        ns.ip("link", "set", "lo", "up")
        return ns

    def veth(self, ns_a, name_a, ns_b, name_b, mtu=None):
        """A veth pair with end name_a in ns_a and name_b in ns_b, both up, no addresses."""
        for n in (name_a, name_b):
            expect(len(n) <= 15, "interface name %r longer than 15 characters" % n)
        ns_a.ip("link", "add", name_a, "type", "veth", "peer", "name", name_b,
                "netns", ns_b.name)
        for ns, n in ((ns_a, name_a), (ns_b, name_b)):
            if mtu:
                ns.ip("link", "set", n, "mtu", mtu)
            ns.ip("link", "set", n, "up")
        return name_a, name_b

    def tap(self, ns, name, mtu=None):
        """A persistent TAP device `name` in ns (up, no address, NO-CARRIER until a process
        attaches to it). Removed with the namespace."""
        expect(len(name) <= 15, "interface name %r longer than 15 characters" % name)
        ns.ip("tuntap", "add", "dev", name, "mode", "tap")
        if mtu:
            ns.ip("link", "set", name, "mtu", mtu)
        ns.ip("link", "set", name, "up")
        return name

    def assert_isolated(self):
        """Checks the safety rules on what exists now: our namespaces have no default route and
        no address outside 198.18.0.0/15 (or loopback / IPv6 link-local)."""
        for ns in self._namespaces:
            for fam in ("-4", "-6"):
                r = ns.ip(fam, "route", "show", "default")
                expect(not decode(r.stdout).strip(),
                       "namespace %s has a default route: %s" % (ns, decode(r.stdout)))
            for dev, a in ns.addrs():
                ip = ipaddress.ip_interface(a).ip
                ok = ip in NET or ip.is_loopback or ip.is_link_local
                expect(ok, "namespace %s: address %s on %s is outside %s" % (ns, a, dev, NET))

    # -- ustack

    def ustack_path(self):
        a = self.args
        path = getattr(a, "ustack", None) or os.environ.get("UST_USTACK") or \
            os.path.join(getattr(a, "build_dir", None) or "build", "tools", "ustack")
        path = os.path.abspath(path)
        if not os.access(path, os.X_OK):
            raise TestFailure("no ustack tool at %s (build it, or pass --build-dir/--ustack)"
                              % path)
        return path

    def pcap_path(self, name):
        return os.path.join(self.artifacts, name + ".pcap")

    def ustack_topology(self, kind, **kw):
        """The usual interop set-up: the kernel at .1 and a ustack stack at .2 of this test's
        /24, joined by link `kind`; see Topology."""
        return Topology(self, kind, **kw)

    def bridge_topology(self, far="kernel", **kw):
        """A path through the impairment bridge: the kernel at .1, the far end (the kernel or a
        ustack process) at .2, `ustack bridge` in between; see BridgeTopology."""
        return BridgeTopology(self, far, **kw)

    # -- teardown

    def elapsed(self):
        return time.monotonic() - self._start

    def on_report(self, fn):
        """Calls fn() before each failure report, e.g. to stop a process that prints its
        counters when it stops, so that the report shows them."""
        self._report_hooks.append(fn)

    def report(self):
        """Everything useful after a failure: each process's output, kept artefacts."""
        for fn in self._report_hooks:
            try:
                fn()
            except Exception as e:
                log("netns: before the report: %s" % e)
        # ustack's processes and anything that died unasked in full; other helpers briefly.
        parts = [p.describe(60 if p.name.startswith("ustack") or getattr(p, "died", False)
                            else 8) for p in self._procs]
        files = sorted(os.listdir(self.artifacts)) if os.path.isdir(self.artifacts) else []
        if files:
            parts.append("--- artefacts kept in %s: %s" % (self.artifacts, ", ".join(files)))
        return "\n".join(parts)

    def close(self):
        """Stops every process, removes every namespace (and so every device in it), releases
        the /24. Idempotent; never raises; a second signal cannot interrupt it."""
        if self.closed:
            return
        self.closed = True
        signal.alarm(0)
        old = {}
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
            try:
                old[s] = signal.signal(s, signal.SIG_IGN)
            except ValueError:   # not the main thread
                pass
        problems = []
        try:
            for p in reversed(self._procs):
                try:
                    p.stop(timeout=3.0)
                except Exception as e:     # keep going: the namespaces must go regardless
                    problems.append("stopping %s: %s" % (p.name, e))
            for ns in reversed(self._namespaces):
                try:
                    if ns.name in netns_list() and not _netns_delete(ns.name):
                        problems.append("could not delete namespace %s" % ns.name)
                except Exception as e:
                    problems.append("deleting %s: %s" % (ns.name, e))
                try:
                    os.unlink(os.path.join(STATE_DIR, ns.name + ".owner"))
                except OSError:
                    pass
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None
            if os.path.isdir(self.artifacts) and (not self.failed or
                                                   not os.listdir(self.artifacts)):
                shutil.rmtree(self.artifacts, ignore_errors=True)
        finally:
            for s, h in old.items():
                signal.signal(s, h)
            if self in _labs:
                _labs.remove(self)
        for msg in problems:
            log("netns: cleanup problem: " + msg)

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is not None:
            self.failed = True
            if not isinstance(ev, Skip):
                log(self.report())
        self.close()
        return False


# --------------------------------------------------------------------------------------------
# The usual topology: the kernel and one ustack stack on one link.

LINK_KINDS = ("tap", "tap-novnet", "afpacket", "afxdp")


class Topology:
    """The Linux kernel at <net>.1 and a ustack stack at <net>.2 of the lab's /24.

    kind "tap" (and "tap-novnet", the same without the virtio-net header): one namespace;
    a TAP device ust0 is created beforehand with the kernel's address on it, and ustack runs in
    the same namespace on tap:ust0. kernel == ustack_ns.

    kind "afpacket": namespace K (the kernel, veth end uk0 with <net>.1) and namespace U (veth
    end uu0, up, no address, IPv6 off so its kernel stays silent); ustack runs in U on
    afpacket:uu0 with its own random MAC. kind "afxdp": the same, ustack on afxdp:uu0.

    Attributes: kernel (Namespace), ustack_ns (Namespace), link (ustack's link spec),
    kernel_ip, ustack_ip, prefix, kernel_dev (the kernel's interface).
    """

    def __init__(self, lab, kind, mtu=None):
        expect(kind in LINK_KINDS, "unknown link kind %r (one of %s)" % (kind, LINK_KINDS))
        self.lab, self.kind = lab, kind
        self.kernel_ip, self.ustack_ip = lab.addr(1), lab.addr(2)
        self.prefix = lab.subnet.prefixlen
        if kind.startswith("tap"):
            ns = lab.namespace("a")
            self.kernel = self.ustack_ns = ns
            self.kernel_dev = lab.tap(ns, "ust0", mtu=mtu)
            self.link = "tap:ust0" + (",vnet=0" if kind == "tap-novnet" else "")
        else:
            self.kernel = lab.namespace("k")
            self.ustack_ns = lab.namespace("u", ipv6=False)
            self.kernel_dev, udev = lab.veth(self.kernel, "uk0", self.ustack_ns, "uu0", mtu=mtu)
            self.link = ("afxdp:" if kind == "afxdp" else "afpacket:") + udev
        self.kernel.ip("addr", "add", "%s/%d" % (self.kernel_ip, self.prefix),
                       "dev", self.kernel_dev)
        lab.assert_isolated()
        self._n = 0

    def ustack_argv(self, cmd, *args, pcap=True, name=None):
        """argv for `ustack CMD --link L --addr ustack_ip/prefix [--pcap=...] ARGS...`."""
        argv = [self.lab.ustack_path(), cmd, "--link", self.link,
                "--addr", "%s/%d" % (self.ustack_ip, self.prefix)]
        if pcap:
            argv.append("--pcap=" + self.lab.pcap_path(name))
        return argv + [str(a) for a in args]

    def _name(self, cmd):
        self._n += 1
        return "ustack-%s-%d" % (cmd, self._n)

    def start_ustack(self, cmd, *args, ready=None, ready_timeout=10.0, pcap=True):
        """Starts a long-running ustack subcommand (e.g. "echo") in the ustack namespace and
        waits for its "ustack CMD: ready" line."""
        name = self._name(cmd)
        return self.ustack_ns.spawn(self.ustack_argv(cmd, *args, pcap=pcap, name=name),
                                    name=name, ready=ready or r"^ustack %s: ready" % cmd,
                                    ready_timeout=ready_timeout)

    def run_ustack(self, cmd, *args, timeout=DEFAULT_TIMEOUT, pcap=True):
        """Runs a ustack subcommand to completion (e.g. "ping") in the ustack namespace."""
        name = self._name(cmd)
        return self.ustack_ns.run(self.ustack_argv(cmd, *args, pcap=pcap, name=name),
                                  timeout=timeout, text=True)

    def forget_neighbours(self):
        """Flushes the kernel's ARP cache on the link (each ustack process has a new MAC)."""
        self.kernel.ip("neigh", "flush", "dev", self.kernel_dev)


# --------------------------------------------------------------------------------------------
# A path through the impairment bridge (`ustack bridge`, tools/cmd_bridge.c).

FAR_KINDS = ("kernel", "ustack")

BRIDGE_LINE = re.compile(r"^ustack bridge: (a2b|b2a) (.*)$", re.M)


def disable_tso(ns, dev):
    """Keeps the kernel's TCP on dev from sending super-frames (TSO/GSO) longer than the MTU,
    which a veth carries but no wire, and so no bridge, does. With ethtool, TSO goes off: the
    kernel still cuts its large sends into frames in software, a burst at a time, and leaves
    their checksums partial (the bridge completes them). Without it, gso_max_segs 1 makes TCP
    send one segment at a time (slower: a few hundred Mbit/s at most). Returns which."""
    if shutil.which("ethtool"):
        ns.run(["ethtool", "-K", dev, "tso", "off"], check=True, timeout=10)
        return "tso off"
    ns.ip("link", "set", "dev", dev, "gso_max_segs", 1)
    return "gso_max_segs 1"


def bridge_counters(text):
    """The per-direction counters a stopped bridge printed: {"a2b": {"in": n, ...}, "b2a": ...}
    (keys: in, dropped, duplicated, reordered, delayed, corrupted, out, held, lost, overflow,
    csum_completed, ...)."""
    out = {}
    for m in BRIDGE_LINE.finditer(text):
        out[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return out


class BridgeTopology(Topology):
    """A path with the impairment bridge in the middle, three namespaces:

        near (k1): the kernel, veth end uk1 with <net>.1
          <-> bridge (br): veth ends ub1 (port a) and ub2 (port b), up, no addresses, IPv6 off;
              `ustack bridge --a afpacket:ub1 --b afpacket:ub2` runs here (start_bridge)
          <-> far (k2): veth end uk2; far="kernel": the kernel with <net>.2 on it;
              far="ustack": no address, a ustack process on afpacket:uk2 at <net>.2 (start_ustack)

    Frames from near to far go a2b, replies b2a. IPv6 is off in all three, so the wire carries
    only what the test sends (and ARP). The veth ends of near and far send no super-frames
    (disable_tso). The Topology attributes keep their meaning (kernel = near, ustack_ns = far,
    link = "afpacket:uk2", kernel_ip, ustack_ip), so start_ustack / run_ustack / ustack_argv
    work on the far side; also near, far, near_ip, far_ip, far_kind, bridge_ns, offload.
    """

    def __init__(self, lab, far="kernel", mtu=None):
        expect(far in FAR_KINDS, "unknown far end %r (one of %s)" % (far, FAR_KINDS))
        self.lab, self.kind, self.far_kind = lab, "bridge-" + far, far
        self.near_ip, self.far_ip = lab.addr(1), lab.addr(2)
        self.kernel_ip, self.ustack_ip = self.near_ip, self.far_ip
        self.prefix = lab.subnet.prefixlen
        self.near = self.kernel = lab.namespace("k1", ipv6=False)
        self.bridge_ns = lab.namespace("br", ipv6=False)
        self.far = self.ustack_ns = lab.namespace("k2", ipv6=False)
        self.kernel_dev, self.port_a = lab.veth(self.near, "uk1", self.bridge_ns, "ub1", mtu=mtu)
        self.far_dev, self.port_b = lab.veth(self.far, "uk2", self.bridge_ns, "ub2", mtu=mtu)
        self.link = "afpacket:" + self.far_dev
        self.near.ip("addr", "add", lab.cidr(1), "dev", self.kernel_dev)
        self.offload = disable_tso(self.near, self.kernel_dev)
        if far == "kernel":
            self.far.ip("addr", "add", lab.cidr(2), "dev", self.far_dev)
        # A ustack far end sends TSO super-frames over afpacket too: with TSO off on its veth
        # end, its kernel cuts them in software (GSO) before they reach the bridge.
        disable_tso(self.far, self.far_dev)
        lab.assert_isolated()
        self._n = 0
        self.bridge = None        # the running bridge's Proc
        self.counters = None      # the last stopped bridge's counters (bridge_counters)
        lab.on_report(self._stop_for_report)

    def start_bridge(self, a2b=None, b2a=None, seed=None, hold_max=None, duration=None,
                     pcap=False, extra=()):
        """Starts `ustack bridge` between ports a (towards near) and b (towards far) with the
        given fault specifications (ustack help fault) and waits for "ustack bridge: ready".
        pcap=True records each port's wire into the artefacts. One bridge at a time."""
        expect(self.bridge is None or not self.bridge.alive(), "a bridge is running already")
        self._n += 1
        name = "ustack-bridge-%d" % self._n
        argv = [self.lab.ustack_path(), "bridge", "--a", "afpacket:" + self.port_a,
                "--b", "afpacket:" + self.port_b]
        for opt, v in (("--a2b", a2b), ("--b2a", b2a), ("--seed", seed),
                       ("--hold-max", hold_max), ("--duration", duration)):
            if v is not None:
                argv += [opt, v]
        if pcap:
            argv += ["--pcap-a", self.lab.pcap_path(name + "-a"),
                     "--pcap-b", self.lab.pcap_path(name + "-b")]
        self.bridge = self.bridge_ns.spawn(argv + list(extra), name=name,
                                           ready=r"^ustack bridge: ready")
        return self.bridge

    def _stop_for_report(self):
        # A failure report shows the bridge's counters: it prints them when it stops.
        if self.bridge is not None and self.bridge.alive():
            self.bridge.stop(timeout=3)

    def stop_bridge(self):
        """Stops the bridge (SIGINT), checks that it exited 0 with its counters, logs them and
        returns them (also kept in self.counters)."""
        p, self.bridge = self.bridge, None
        expect(p is not None, "no bridge was started")
        status = p.stop(timeout=5)
        counters = bridge_counters(p.output())
        expect(status == 0 and set(counters) == {"a2b", "b2a"},
               "%s: wanted exit 0 and its counters, got status %s%s:\n%s" % (
                   p.name, status, " (after SIGKILL)" if p.killed else "",
                   indent(tail(p.output()))))
        for line in p.output().splitlines():
            if line.startswith("ustack bridge: ") and "ready" not in line:
                log("    " + line)
        self.counters = counters
        return counters


# --------------------------------------------------------------------------------------------
# Kernel-side peers: small programs the tests run in a namespace against ustack.

# A UDP echo server on the kernel's sockets: echoes every datagram to its sender, keeps a sha256
# of all bytes received in order; prints "udp-echo: ready ..." and, on SIGINT/SIGTERM,
# "udp-echo: N datagrams, B bytes, sha256 HEX". Exits by itself after LIFETIME seconds.
UDP_ECHO_SERVER = r"""
import hashlib, signal, socket, sys
ip, port, lifetime = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
h, n, nbytes = hashlib.sha256(), 0, 0
def done(*_):
    print("udp-echo: %d datagrams, %d bytes, sha256 %s" % (n, nbytes, h.hexdigest()), flush=True)
    sys.exit(0)
signal.signal(signal.SIGINT, done)
signal.signal(signal.SIGTERM, done)
signal.signal(signal.SIGALRM, done)
signal.alarm(lifetime)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind((ip, port))
print("udp-echo: ready on %s:%d" % (ip, port), flush=True)
while True:
    data, peer = s.recvfrom(65535)
    h.update(data)
    n += 1
    nbytes += len(data)
    s.sendto(data, peer)
"""

# A connected UDP socket sends to IP:PORT (a closed port) up to TRIES times, one second apart,
# and prints what it saw: "ECONNREFUSED", "REPLY <n bytes>" or "NOTHING".
UDP_REFUSED_PROBE = r"""
import socket, sys
ip, port, tries = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((ip, port))
s.settimeout(1.0)
for i in range(tries):
    try:
        s.send(b"is anybody there? %d" % i)
        data = s.recv(65535)
        print("REPLY %d bytes" % len(data))
        sys.exit(0)
    except ConnectionRefusedError:
        print("ECONNREFUSED")
        sys.exit(0)
    except socket.timeout:
        continue
print("NOTHING")
"""


def kernel_udp_echo(ns, ip, port, lifetime=120):
    """Starts UDP_ECHO_SERVER on ip:port in ns; returns its Proc once it is ready."""
    return ns.spawn_python(UDP_ECHO_SERVER, ip, port, lifetime, name="kernel-udp-echo",
                           ready=r"^udp-echo: ready")


def udp_echo_summary(proc):
    """Stops a kernel_udp_echo server; returns (datagrams, bytes, sha256 hex)."""
    proc.stop()
    m = re.search(r"^udp-echo: (\d+) datagrams, (\d+) bytes, sha256 ([0-9a-f]{64})$",
                  proc.output(), re.M)
    expect(m, "the kernel's UDP echo server printed no summary:\n" + indent(proc.output()))
    return int(m.group(1)), int(m.group(2)), m.group(3)


def udp_refused_probe(ns, ip, port, tries=3):
    """Returns what a connected kernel UDP socket in ns sees when it sends to ip:port:
    "ECONNREFUSED", "REPLY n bytes" or "NOTHING"."""
    r = ns.python(UDP_REFUSED_PROBE, ip, port, tries, timeout=tries + 10, text=True)
    expect(r.returncode == 0, "the UDP probe failed: " + r.describe())
    return r.stdout.strip()


def exchange_via_stdio(proc, payloads, timeout=5.0):
    """Drives a stdio datagram client (socat, ncat) spawned with stdin=True: writes each
    payload (one write, one datagram: keep them <= 4096 bytes, PIPE_BUF, so the client reads
    each whole) and waits for the same bytes to come back on its stdout before the next.
    Fails, saying where the bytes first differ, if they do not come back identical."""
    want = b""
    for i, data in enumerate(payloads):
        expect(len(data) <= 4096, "payload %d: %d bytes, more than PIPE_BUF" % (i, len(data)))
        want += data
        proc.write(data)
        got = proc.wait_stdout_len(len(want), timeout)
        if got != want:
            diff = next((j for j in range(min(len(got), len(want))) if got[j] != want[j]),
                        min(len(got), len(want)))
            raise TestFailure(
                "%s: after datagram %d (%d bytes) stdout holds %d bytes, wanted %d; first "
                "difference at byte %d (got %r, wanted %r)\n  command: %s\n  output:\n%s" % (
                    proc.name, i, len(data), len(got), len(want), diff,
                    got[diff:diff + 16], want[diff:diff + 16], proc.cmdline(),
                    indent(tail(proc.output()))))


def ping_summary(text):
    """Parses iputils' "N packets transmitted, M received, ..." line: (N, M) or None."""
    m = re.search(r"^(\d+) packets transmitted, (\d+) received", text, re.M)
    return (int(m.group(1)), int(m.group(2))) if m else None


def ping_rtts(text):
    """The round-trip times (ms) of iputils ping's reply lines, in order."""
    return [float(x) for x in re.findall(r"time=([0-9.]+) ms", text)]


# TCP bulk transfers with the kernel's sockets. The bytes are the project's test stream, the
# same as `ustack echo --source` and `ustack tcp-client` send (tools/tool_common.c,
# tool_stream_fill): its 8-byte little-endian word i is splitmix64(i). So every process, and the
# test, knows the bytes and their sha256 beforehand. Python would take seconds to compute 64 MiB
# of it, so the scripts ask `ustack gen` (whose path is in UST_USTACK, set by the Lab).
_STREAM = r"""
import os, subprocess
def stream_bytes(n):
    tool = os.environ.get("UST_USTACK") or "build/tools/ustack"
    return subprocess.run([tool, "gen", str(n)], check=True, stdout=subprocess.PIPE).stdout
"""

exec(_STREAM)   # defines stream_bytes(n) here too

_stream_digests = {}


def stream_sha256(n):
    """The sha256 (hex) of the first n bytes of the test stream."""
    if n not in _stream_digests:
        _stream_digests[n] = hashlib.sha256(stream_bytes(n)).hexdigest()
    return _stream_digests[n]


# A TCP server that, for each connection, reads until EOF, then prints
# "discard: N bytes sha256 HEX" and closes (so the sender sees the end). Exits after LIFETIME s.
TCP_DISCARD_SERVER = r"""
import hashlib, signal, socket, sys
ip, port, lifetime = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
signal.alarm(lifetime)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((ip, port))
s.listen(4)
print("discard: ready on %s:%d" % (ip, port), flush=True)
while True:
    c, peer = s.accept()
    h, n = hashlib.sha256(), 0
    while True:
        b = c.recv(1 << 20)
        if not b:
            break
        h.update(b)
        n += len(b)
    print("discard: %d bytes sha256 %s" % (n, h.hexdigest()), flush=True)
    c.close()
"""

# A TCP server that sends the first N bytes of the test stream to each connection, closes it
# and prints "source: sent N bytes sha256 HEX". Exits after LIFETIME s.
TCP_SOURCE_SERVER = _STREAM + r"""
import hashlib, signal, socket, sys
ip, port, n, lifetime = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
signal.alarm(lifetime)
data = stream_bytes(n)
digest = hashlib.sha256(data).hexdigest()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((ip, port))
s.listen(4)
print("source: ready on %s:%d" % (ip, port), flush=True)
while True:
    c, peer = s.accept()
    c.sendall(data)
    c.shutdown(socket.SHUT_WR)
    c.settimeout(10)
    try:
        while c.recv(65536):
            pass
    except OSError:
        pass
    c.close()
    print("source: sent %d bytes sha256 %s" % (n, digest), flush=True)
"""

# A TCP client that sends the first N bytes of the test stream to IP:PORT, half-closes, waits
# for the server to close, and prints "upload: N bytes sha256 HEX in T s" (T from connected to
# the server's close). LIMIT seconds bound it all: if they run out before every byte is sent it
# prints what it sent with "(deadline ...)" and exits 1; a server that never closes after
# receiving everything is noted "(no close)".
TCP_UPLOAD = _STREAM + r"""
import hashlib, socket, sys, time
ip, port, n, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
data = stream_bytes(n)
end = time.monotonic() + limit
s = socket.create_connection((ip, port), timeout=min(limit, 15))
t0 = time.monotonic()
view, sent, note = memoryview(data), 0, ""
while sent < n:
    left = end - time.monotonic()
    if left <= 0:
        note = " (deadline: %d of %d bytes sent in %g s)" % (sent, n, limit)
        break
    s.settimeout(left)
    try:
        sent += s.send(view[sent:sent + (1 << 20)])
    except socket.timeout:
        pass
if sent == n:
    s.shutdown(socket.SHUT_WR)
    try:
        while True:
            s.settimeout(max(end - time.monotonic(), 0.001))
            if not s.recv(65536):
                break
    except socket.timeout:
        note = " (no close)"
dt = time.monotonic() - t0
digest = hashlib.sha256(view[:sent]).hexdigest()
print("upload: %d bytes sha256 %s in %.3f s%s" % (sent, digest, dt, note))
sys.exit(0 if sent == n else 1)
"""

# A TCP client that reads from IP:PORT until EOF and prints "download: N bytes sha256 HEX in T s".
# If LIMIT seconds pass first it prints what it got with "(deadline ...)" and exits 1.
TCP_DOWNLOAD = r"""
import hashlib, socket, sys, time
ip, port, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
end = time.monotonic() + limit
s = socket.create_connection((ip, port), timeout=min(limit, 15))
t0 = time.monotonic()
h, n, note = hashlib.sha256(), 0, ""
while True:
    s.settimeout(max(end - time.monotonic(), 0.001))
    try:
        b = s.recv(1 << 20)
    except socket.timeout:
        note = " (deadline: no end of stream after %g s)" % limit
        break
    if not b:
        break
    h.update(b)
    n += len(b)
dt = time.monotonic() - t0
print("download: %d bytes sha256 %s in %.3f s%s" % (n, h.hexdigest(), dt, note))
sys.exit(1 if note else 0)
"""

TRANSFER_LINE = re.compile(r"^(upload|download): (\d+) bytes sha256 ([0-9a-f]{64}) "
                           r"in ([0-9.]+) s(.*)$", re.M)


def kernel_tcp_discard(ns, ip, port, lifetime=120):
    """Starts TCP_DISCARD_SERVER on ip:port in ns; returns its Proc once it is ready."""
    return ns.spawn_python(TCP_DISCARD_SERVER, ip, port, lifetime, name="kernel-tcp-discard",
                           ready=r"^discard: ready")


def kernel_tcp_source(ns, ip, port, nbytes, lifetime=120):
    """Starts TCP_SOURCE_SERVER (nbytes of the test stream to each client) in ns; returns its
    Proc once it is ready."""
    return ns.spawn_python(TCP_SOURCE_SERVER, ip, port, nbytes, lifetime,
                           name="kernel-tcp-source", ready=r"^source: ready")


def _transfer(ns, code, args, limit):
    r = ns.python(code, *args, timeout=limit + 15, text=True)
    m = TRANSFER_LINE.search(r.stdout)
    expect(r.returncode == 0 and m, "the transfer failed: " + r.describe())
    return int(m.group(2)), m.group(3), float(m.group(4)), m.group(5).strip()


def tcp_upload(ns, ip, port, nbytes, limit=30):
    """Sends nbytes of the test stream from ns to ip:port with the kernel's TCP, in at most
    `limit` seconds. Returns (bytes, sha256 hex, seconds, note)."""
    return _transfer(ns, TCP_UPLOAD, (ip, port, nbytes, limit), limit)


def tcp_download(ns, ip, port, limit=30):
    """Reads everything ip:port sends until it closes, with the kernel's TCP in ns, in at most
    `limit` seconds. Returns (bytes, sha256 hex, seconds, note)."""
    return _transfer(ns, TCP_DOWNLOAD, (ip, port, limit), limit)


def tcp_snmp(ns):
    """The kernel's IPv4 SNMP counters in ns (/proc/net/snmp) as {"Tcp": {"InErrs": n, ...},
    "Ip": ..., "Udp": ..., "Icmp": ...}."""
    r = ns.run(["cat", "/proc/net/snmp"], check=True, timeout=10, text=True)
    out, lines = {}, r.stdout.splitlines()
    for names, values in zip(lines[0::2], lines[1::2]):
        group, keys = names.split(":", 1)
        out[group] = dict(zip(keys.split(), (int(v) for v in values.split(":", 1)[1].split())))
    return out


# --------------------------------------------------------------------------------------------
# Running tests: arguments, cases, exit status.

def parse_args(description, argv=None, extra=None):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--build-dir", help="ustack's build directory (finds tools/ustack)")
    ap.add_argument("--ustack", help="path of the ustack tool (default BUILD_DIR/tools/ustack)")
    ap.add_argument("--link", default="tap", choices=LINK_KINDS, help="link kind")
    ap.add_argument("--deadline", type=float, default=50.0,
                    help="seconds before the test gives up and cleans up (SIGALRM)")
    ap.add_argument("--artifacts", help="where to keep pcaps and logs of failed tests")
    ap.add_argument("--only", action="append", default=[],
                    help="run only cases whose name contains this (repeatable)")
    ap.add_argument("--skip", action="append", default=[],
                    help="leave out cases whose name contains this (repeatable)")
    if extra:
        extra(ap)
    return ap.parse_args(argv)


class Suite:
    """Named cases run in order against one lab; a failing case does not stop the others.
    Prints `ok NAME (t s)` or `FAIL NAME: message` per case and the processes' output after a
    failure."""

    def __init__(self, lab, only=(), skip=()):
        self.lab, self.only, self.skipped = lab, list(only), list(skip)
        self.results = []

    def case(self, name, fn, *args, always=False, **kw):
        """Runs fn(*args, **kw) as case `name`; True if it passed. A case that others need
        (always=True) runs even when --only leaves it out."""
        if not always and not self._selected(name):
            return None
        t0 = time.monotonic()
        try:
            fn(*args, **kw)
        except Exception as e:
            self.lab.failed = True
            self.results.append((name, False))
            log("FAIL %s (%.2f s): %s%s" % (name, time.monotonic() - t0, e, self._deaths()))
            if not isinstance(e, TestFailure):
                log(traceback.format_exc())
            return False
        self.results.append((name, True))
        log("ok   %s (%.2f s)" % (name, time.monotonic() - t0))
        return True

    def _selected(self, name):
        if self.only and not any(o in name for o in self.only):
            return False
        return not any(x in name for x in self.skipped)

    def _deaths(self):
        """A note naming background processes that exited without being asked to (a crash
        explains most failures after it)."""
        notes = []
        for p in self.lab._procs:
            if p.returncode is None and not p.alive():
                p._reap(1.0)
                if p.returncode is not None:
                    p.died = True
            if getattr(p, "died", False) and not getattr(p, "died_noted", False):
                p.died_noted = True
                how = ("killed by signal %d" % -p.returncode) if p.returncode < 0 else \
                    "exit status %d" % p.returncode
                notes.append("\n  NOTE: %s (pid %d) exited on its own, %s" % (p.name, p.pid, how))
        return "".join(notes)

    def skip(self, name, why):
        """Records case `name` as failed without running it (something it needs failed)."""
        if not self._selected(name):
            return
        self.lab.failed = True
        self.results.append((name, False))
        log("FAIL %s: not run: %s" % (name, why))

    def status(self):
        failed = [n for n, ok in self.results if not ok]
        log("%d passed, %d failed%s" % (len(self.results) - len(failed), len(failed),
                                       (": " + ", ".join(failed)) if failed else ""))
        if failed:
            log(self.lab.report())
        return 1 if failed or not self.results else 0


def main(fn):
    """Runs fn() (returns an exit status or None) as a test's main: Skip -> 77, TestFailure or
    Deadline -> 1 with the message, everything cleaned up in all cases."""
    status = 1
    try:
        status = fn() or 0
    except Skip as e:
        log("SKIP: %s" % e)
        status = SKIP
    except (TestFailure, Deadline) as e:
        log("FAIL: %s" % e)
    except KeyboardInterrupt as e:
        log("interrupted (%s)" % e)
        status = 130
    except Exception:
        log("ERROR:\n" + traceback.format_exc())
    finally:
        _cleanup_all()
    sys.exit(status)


if __name__ == "__main__":
    # By hand: `python3 tests/interop/netns.py --collect` removes namespaces that tests killed
    # with SIGKILL left behind (the next test does it anyway); `--list` shows ours.
    if os.geteuid() != 0:
        sys.exit("netns.py: needs root")
    if sys.argv[1:] == ["--collect"]:
        collect_stale()
    elif sys.argv[1:] == ["--list"]:
        _ensure_state_dir()
        for entry in sorted(os.listdir(STATE_DIR)):
            if entry.endswith(".owner"):
                with open(os.path.join(STATE_DIR, entry)) as f:
                    print(entry[:-len(".owner")], "owner pid", f.read().split()[0])
    else:
        sys.exit("usage: netns.py --collect | --list")
