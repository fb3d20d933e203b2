"""The udp-rtt and tcp-rtt scenarios: 64-byte UDP or TCP request/response round trips, ustack
vs the kernel.

For TCP (Config.proto "tcp") everything is the same except: one connection per client
invocation (a run), TCP_NODELAY on the kernel's ends, `ustack echo` serving TCP echo on the
same port, and the client reading each reply until it is whole.

    ustack<->kernel over TAP    namespace A: TAP device ust0 with the kernel's address (.1);
                                `ustack echo` attached to it (.2); the client (kernel socket)
                                in A talks to .2 through ust0
    kernel<->kernel over veth   namespace KC (client, .3) and KS (server, .4) joined by a veth
                                pair; the server is `udp_rtt server`

The namespaces, devices and addresses come from tests/interop/netns.py (names ust-*, a /24 of
198.18.0.0/15, no default route, everything removed on every path: teardown, exceptions,
SIGINT/SIGTERM/SIGHUP, interpreter exit). The scenario's setup makes them, its teardown removes
them. Each run starts the server, waits for it to say it is ready, runs one client invocation
and stops the server by PID: one server at a time, so a spinning server never competes with
the other side's run.
"""

import os
import re
import signal
import time
import types
from dataclasses import dataclass
from pathlib import Path

from .model import RunContext
from .runner import BenchError, parse_figure

SOURCE_ROOT = Path(__file__).resolve().parents[2]
INTEROP_DIR = SOURCE_ROOT / "tests" / "interop"

PORT = 7
SIZE = 64
COUNT = 20000            # measured round trips per run (the brief: at least 10,000)
WARMUP = 2000            # round trips before them, not measured (ARP, caches, frequency)
CLIENT_TIMEOUT_S = 120   # one client invocation, at most (it bounds itself at 60 s)
SERVER_LIFETIME_S = 600  # a server that is somehow not stopped exits by itself
SPIN_US = 10_000_000     # ustack's largest spin_us: "never sleep" for a spinning server
# TCP loses nothing (a lost segment comes back after an RTO of 200 ms or more), so the client's
# receive timeout only guards against a hang; on a loaded machine a stall of 200 ms happens.
TCP_TIMEOUT_MS = 5000
# What Bench(count_only=True) counts: every call the servers make per request (each counted
# tracepoint slows every system call a little, so not all of them).
COUNTED_SYSCALLS = ("read", "readv", "write", "writev", "ppoll", "poll", "epoll_wait",
                    "epoll_pwait", "recvfrom", "sendto", "recvmsg", "sendmsg", "rt_sigprocmask",
                    "rt_sigpending", "sched_yield", "futex")


@dataclass(frozen=True)
class Config:
    """One like-for-like configuration: where the client and the server run, and whether
    they block or spin."""
    key: str
    client_cpu: str
    server_cpu: str
    spin: bool
    proto: str = "udp"

    @property
    def tcp(self) -> bool:
        return self.proto == "tcp"

    @property
    def spin_us(self) -> int:
        return SPIN_US if self.spin else 0


ONE_CORE_BLOCKING = Config("1core-blocking", client_cpu="1", server_cpu="1", spin=False)
TWO_CORES_SPINNING = Config("2core-spinning", client_cpu="0", server_cpu="1", spin=True)
TCP_ONE_CORE_BLOCKING = Config("1core-blocking", client_cpu="1", server_cpu="1", spin=False,
                               proto="tcp")
TCP_TWO_CORES_SPINNING = Config("2core-spinning", client_cpu="0", server_cpu="1", spin=True,
                                proto="tcp")


def _netns():
    """tests/interop/netns.py, imported from its place (it is the interop tests' library)."""
    import sys
    if str(INTEROP_DIR) not in sys.path:
        sys.path.insert(0, str(INTEROP_DIR))
    import netns
    return netns


class Bench:
    """The namespaces of one scenario and how to run one figure on either side."""

    def __init__(self, config: Config, ctx: RunContext, strace_dir: Path = None,
                 count_only: bool = False):
        netns = _netns()
        self.config = config
        self.ctx = ctx
        # When set, each server runs under `perf trace -s -o DIR/SIDE.strace` (slower, for
        # system call counts only: bench/udp_rtt_syscalls.py).
        self.strace_dir = strace_dir
        # With count_only, perf stat counts the syscall tracepoints in the kernel instead: the
        # calls keep their speed, so the scheduler's choices stay those of the benchmark.
        self.count_only = count_only
        self.udp_rtt = str(ctx.build / "bench" / "udp_rtt")
        self.ustack = str(ctx.build / "tools" / "ustack")
        for path in (self.udp_rtt, self.ustack):
            if not Path(path).is_file():
                raise BenchError(f"missing program {path} (build it first)")
        args = types.SimpleNamespace(build_dir=str(ctx.build), ustack=self.ustack,
                                     artifacts=str(ctx.work_dir / f"{config.proto}-rtt"),
                                     deadline=None)
        self.lab = netns.Lab(f"bench_{config.proto}_rtt_" + config.key, args)
        try:
            # ustack over TAP: the usual interop topology, kernel .1 and ustack .2 on ust0.
            self.tap = self.lab.ustack_topology("tap")
            self.tap.kernel.sysctl("net.ipv6.conf.all.disable_ipv6", 1)   # no RS/MLD noise
            # kernel over veth: client .3 in KC, server .4 in KS.
            self.kc = self.lab.namespace("kc", ipv6=False)
            self.ks = self.lab.namespace("ks", ipv6=False)
            self.lab.veth(self.kc, "rttc0", self.ks, "rtts0")
            self.kc_ip, self.ks_ip = self.lab.addr(3), self.lab.addr(4)
            prefix = self.lab.subnet.prefixlen
            self.kc.ip("addr", "add", f"{self.kc_ip}/{prefix}", "dev", "rttc0")
            self.ks.ip("addr", "add", f"{self.ks_ip}/{prefix}", "dev", "rtts0")
            self.lab.assert_isolated()
        except Exception:
            self.lab.close()
            raise

    def close(self) -> None:
        self.lab.close()

    def traced(self, side: str, argv: list) -> list:
        """argv, under perf trace -s if system calls are being counted."""
        if self.strace_dir is None:
            return argv
        out = str(self.strace_dir / f"{side}.strace")
        if self.count_only:
            events = ",".join("syscalls:sys_enter_" + c for c in COUNTED_SYSCALLS)
            return ["perf", "stat", "-x", ",", "-e", events, "-o", out, "--"] + argv
        return ["perf", "trace", "-s", "-o", out, "--"] + argv

    def stop_server(self, side: str, server) -> None:
        """Stops a server; a traced one first gets SIGINT in its whole process group (the
        tracer and the server) and time to write its summary."""
        if self.strace_dir is not None and server.alive():
            out = self.strace_dir / f"{side}.strace"
            try:
                os.killpg(server.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and \
                    not (out.exists() and "sys" in out.read_text()):
                time.sleep(0.05)
        server.stop()

    def client_argv(self, to_ip: str) -> list:
        c = self.config
        return ["taskset", "-c", c.client_cpu, self.udp_rtt, "client", "--to", to_ip,
                "--port", PORT, "--size", SIZE, "--count", COUNT, "--warmup", WARMUP] + \
            (["--spin"] if c.spin else []) + \
            (["--tcp", "--timeout-ms", TCP_TIMEOUT_MS] if c.tcp else [])

    def run_client(self, ns, to_ip: str, server, side: str) -> tuple:
        """Runs one client invocation against a ready server; returns (median, fields), the
        fields including the server's CPU time and sleeps per request over the run."""
        before = process_usage(server.pid)
        r = ns.run(self.client_argv(to_ip), timeout=CLIENT_TIMEOUT_S, text=True)
        after = process_usage(server.pid)
        if r.returncode != 0:
            raise BenchError(f"{side} run: client failed (exit {r.returncode}): "
                             f"{' / '.join(r.stderr.strip().splitlines()[-3:])}")
        if not server.alive():
            raise BenchError(f"the server exited during the run: {server.describe(8)}")
        value, extra = parse_figure(r.stdout)
        requests = COUNT + WARMUP
        if before and after:
            ticks = after["user"] + after["sys"] - before["user"] - before["sys"]
            extra.update({
                "server_cpu_us": (after["oncpu_ns"] - before["oncpu_ns"]) / 1000 / requests,
                "server_wait_us": (after["wait_ns"] - before["wait_ns"]) / 1000 / requests,
                "server_sys_share": (after["sys"] - before["sys"]) / ticks if ticks else None,
                "server_sleeps": (after["nvcsw"] - before["nvcsw"]) / requests,
                "server_preempted": (after["nivcsw"] - before["nivcsw"]) / requests,
            })
        return value, extra

    def spin_signals_args(self) -> list:
        """A spinning echo spins without blocking signals (spin_signals=0): no system call
        per spin, the semantics of the kernel server's own recv(MSG_DONTWAIT) loop."""
        return ["--spin_signals=0"] if self.config.spin else []

    def ustack_run(self, ctx: RunContext) -> tuple:
        """One figure: the client against `ustack echo` on the TAP device."""
        c, t = self.config, self.tap
        t.forget_neighbours()       # each ustack process picks a new MAC
        argv = ["taskset", "-c", c.server_cpu] + self.traced("ustack", t.ustack_argv(
            "echo", "--port", PORT, f"--spin_us={c.spin_us}", *self.spin_signals_args(),
            pcap=False))
        server = t.ustack_ns.spawn(argv, name="ustack-echo", ready=r"^ustack echo: ready")
        try:
            value, extra = self.run_client(t.kernel, t.ustack_ip, server, "ustack")
        finally:
            self.stop_server("ustack", server)
        counters = server_counters(server.output())
        extra.update(counters)
        if "stack.polls" in counters:
            extra["link_polls"] = counters["stack.polls"] / (COUNT + WARMUP)
        if "tap.rx_empty" in counters:
            extra["link_empty_reads"] = counters["tap.rx_empty"] / (COUNT + WARMUP)
        if "stack.rx_speculative" in counters:
            # A speculative read that found the request saved the poll(2) of a sleep.
            hits = counters["stack.rx_speculative"] - counters.get("stack.rx_speculative_empty", 0)
            extra["speculative_hits"] = hits / (COUNT + WARMUP)
        if c.tcp and "tcp.out_segs" in counters:
            # One connection: the handshake and close add a handful to COUNT + WARMUP replies.
            extra["tcp_out_segs"] = counters["tcp.out_segs"] / (COUNT + WARMUP)
            extra["tcp_in_segs"] = counters.get("tcp.in_segs", 0) / (COUNT + WARMUP)
        return value, extra

    def kernel_run(self, ctx: RunContext) -> tuple:
        """One figure: the client against udp_rtt's kernel echo server over veth."""
        c = self.config
        argv = ["taskset", "-c", c.server_cpu] + self.traced("kernel", [
            self.udp_rtt, "server", "--addr", self.ks_ip, "--port", PORT, "--lifetime",
            SERVER_LIFETIME_S] + (["--spin"] if c.spin else []) + (["--tcp"] if c.tcp else []))
        server = self.ks.spawn(argv, name=f"kernel-{c.proto}-echo",
                               ready=r"^udp_rtt server: ready")
        try:
            return self.run_client(self.kc, self.ks_ip, server, "kernel")
        finally:
            self.stop_server("kernel", server)


def process_usage(pid: int) -> dict:
    """What a running process has used so far: time on a CPU and time runnable but waiting for
    one (ns, /proc/PID/schedstat: other work on the machine shows there), user
    and system time (clock ticks, /proc/PID/stat) and context switches (/proc/PID/status);
    {} if it is gone."""
    try:
        sched = Path(f"/proc/{pid}/schedstat").read_text().split()
        oncpu, waiting = int(sched[0]), int(sched[1])
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        status = Path(f"/proc/{pid}/status").read_text()
    except (OSError, ValueError, IndexError):
        return {}
    switches = dict(re.findall(r"^(voluntary_ctxt_switches|nonvoluntary_ctxt_switches):\s+(\d+)",
                               status, re.M))
    return {"oncpu_ns": oncpu, "wait_ns": waiting, "user": int(stat[11]), "sys": int(stat[12]),
            "nvcsw": int(switches.get("voluntary_ctxt_switches", 0)),
            "nivcsw": int(switches.get("nonvoluntary_ctxt_switches", 0))}


def server_counters(text: str) -> dict:
    """A few of the counters `ustack echo` prints when it stops (e.g. stack.polls), to see how
    much work each datagram took."""
    wanted = ("stack.polls", "stack.rx_frames", "stack.tx_frames", "udp.rx_datagrams",
              "udp.tx_datagrams", "tcp.in_segs", "tcp.out_segs", "stack.rx_speculative",
              "stack.rx_speculative_empty")
    found = {}
    for name in wanted:
        m = re.search(r"^\s*" + re.escape(name) + r"\s+(\d+)", text, re.M)
        if m:
            found[name] = int(m.group(1))
    m = re.search(r"^\s*tap:\S+\.tap\.rx_empty\s+(\d+)", text, re.M)
    if m:
        found["tap.rx_empty"] = int(m.group(1))
    return found


class NetScenario:
    """The hooks and sides of one scenario run on network namespaces, sharing one bench (an
    instance of `bench_class`, with ustack_run, kernel_run and close) between setup and
    teardown. Errors from netns (TestFailure, Skip) become BenchError, so a failing network
    scenario is reported as failed and the others still run."""

    bench_class = None

    def __init__(self, config):
        self.config = config
        self.bench = None

    def _guard(self, fn, *args):
        netns = _netns()
        try:
            return fn(*args)
        except (netns.TestFailure, netns.Skip) as exc:
            raise BenchError(str(exc).strip().splitlines()[0][:300]) from exc

    def setup(self, ctx: RunContext) -> None:
        self.bench = self._guard(self.bench_class, self.config, ctx)

    def teardown(self, ctx: RunContext) -> None:
        if self.bench is not None:
            self.bench.close()
            self.bench = None

    def side_functions(self) -> tuple:
        """The two side callables (ustack, kernel); the caller gives each a `how`."""
        def ustack(ctx: RunContext) -> tuple:
            return self._guard(self.bench.ustack_run, ctx)

        def kernel(ctx: RunContext) -> tuple:
            return self._guard(self.bench.kernel_run, ctx)

        return ustack, kernel


class Scenario(NetScenario):
    """One udp-rtt (or tcp-rtt) scenario."""

    bench_class = Bench

    def sides(self) -> tuple:
        """The two side callables (ustack, kernel), each with a `how` the report shows."""
        c = self.config
        ustack, kernel = self.side_functions()
        spin = (" --spin" if c.spin else "") + \
            (f" --tcp --timeout-ms {TCP_TIMEOUT_MS}" if c.tcp else "")
        client = (f"taskset -c {c.client_cpu} udp_rtt client --to IP --port {PORT} --size {SIZE} "
                  f"--count {COUNT} --warmup {WARMUP}{spin}")
        ustack.how = (f"namespace A: taskset -c {c.server_cpu} ustack echo --link tap:ust0 "
                      f"--addr .2 --port {PORT} --spin_us={c.spin_us}"
                      f"{' --spin_signals=0' if c.spin else ''}; {client} (to .2, "
                      f"through ust0)")
        kernel.how = (f"namespace KS: taskset -c {c.server_cpu} udp_rtt server --addr .4 "
                      f"--port {PORT}{spin}; namespace KC: {client} (to .4, through veth)")
        return ustack, kernel
