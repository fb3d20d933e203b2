"""The app scenarios: unmodified programs (redis-server, redis-benchmark, iperf3) under
`ustack run` against the same programs on the kernel.

    redis over TAP      namespace A: TAP device ust0 with the kernel's address (.1);
                        `ustack run --link tap:ust0 --addr .2 -- redis-server` attached to it;
                        redis-benchmark (kernel sockets) in A talks to .2 through ust0
    redis over veth     namespace KS: redis-server on .4; namespace KC: redis-benchmark on .3,
                        the two joined by a veth pair
    redis over shm      both redis-server (`ustack run --link shm:W,side=1 --addr .2`) and
                        redis-benchmark (`ustack run --link shm:W,side=0 --addr .1`) under
                        ustack, joined by the shared-memory wire W (/dev/shm/ust-bench-...),
                        started inside namespace L (which they do not use: they have no kernel
                        socket on the network)
    redis on loopback   namespace L: redis-server and redis-benchmark on 127.0.0.1 (the
                        namespace's own loopback, so no other program's port is in the way)
    iperf3 over TAP     namespace A: `ustack run ... -- iperf3 -s` (or -c) on ust0 against the
                        kernel's iperf3 -c (or -s) on .1
    iperf3 over veth    iperf3 -s in KS (.4), iperf3 -c in KC (.3)

Each run starts its server afresh and stops it by PID, so only one server exists at a time.
GET runs find their key: every redis-server starts from the same RDB file (made in the
scenario's setup by a kernel redis-server) holding the key redis-benchmark asks for
("key:__rand_int__", value "xxx", as its SET writes it), and saves nothing.

Namespaces, devices and addresses come from tests/interop/netns.py, as for udp_rtt.py.
"""

import json
import os
import re
import resource
import subprocess
import types
from dataclasses import dataclass
from pathlib import Path

from .model import RunContext
from .runner import BenchError
from .udp_rtt import NetScenario, _netns

REDIS_PORT = 6379
REDIS_CLIENTS = 50
REDIS_REQUESTS = 200_000       # per run (--quick: QUICK_REDIS_REQUESTS)
QUICK_REDIS_REQUESTS = 50_000
REDIS_KEY = "key:__rand_int__"  # what redis-benchmark's SET writes and GET reads without -r
REDIS_VALUE = "xxx"             # its -d 3 default
IPERF_PORT = 5201
IPERF_SECONDS = 3               # measured, after IPERF_OMIT of slow start (--quick: 1 and 0)
IPERF_OMIT = 1
CLIENT_CPU = "0"
SERVER_CPU = "1"
CLIENT_TIMEOUT_S = 300
SERVER_READY_S = 20.0


@dataclass(frozen=True)
class Config:
    key: str          # scenario name suffix, e.g. "tap-get"
    app: str          # "redis" or "iperf3"
    path: str         # "tap" (ustack over TAP vs kernel over veth) or "shm" (both under ustack
                      # over the shm wire vs both on the kernel over loopback)
    op: str = ""      # redis: "set" or "get"; iperf3: "client" or "server" (ustack's role)


REDIS_TAP_SET = Config("tap-set", "redis", "tap", "set")
REDIS_TAP_GET = Config("tap-get", "redis", "tap", "get")
REDIS_SHM_SET = Config("shm-set", "redis", "shm", "set")
REDIS_SHM_GET = Config("shm-get", "redis", "shm", "get")
IPERF_USTACK_CLIENT = Config("ustack-client", "iperf3", "tap", "client")
IPERF_USTACK_SERVER = Config("ustack-server", "iperf3", "tap", "server")


def tree_usage(pid: int) -> dict:
    """What a running process has used so far, all its threads together (the bottom half is a
    thread of the program under ustack): on-CPU and runnable-but-waiting time (ns, each
    thread's /proc/PID/task/TID/schedstat), user and system time (clock ticks, /proc/PID/stat)
    and voluntary / involuntary context switches; {} if it is gone."""
    total = {"oncpu_ns": 0, "wait_ns": 0, "nvcsw": 0, "nivcsw": 0}
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        tids = os.listdir(f"/proc/{pid}/task")
    except (OSError, ValueError, IndexError):
        return {}
    for tid in tids:
        try:
            sched = Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()
            status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
        except OSError:
            continue      # a thread that ended meanwhile
        total["oncpu_ns"] += int(sched[0])
        total["wait_ns"] += int(sched[1])
        for key, name in (("nvcsw", "voluntary_ctxt_switches"),
                          ("nivcsw", "nonvoluntary_ctxt_switches")):
            m = re.search(r"^" + name + r":\s+(\d+)", status, re.M)
            total[key] += int(m.group(1)) if m else 0
    total.update(user=int(stat[11]), sys=int(stat[12]))
    return total


def usage_fields(prefix: str, before: dict, after: dict, ops: float) -> dict:
    """Per-operation CPU time, waiting time, sleeps and the kernel's share, from two tree_usage
    samples."""
    if not before or not after or ops <= 0:
        return {}
    ticks = after["user"] + after["sys"] - before["user"] - before["sys"]
    return {
        f"{prefix}_cpu_us": (after["oncpu_ns"] - before["oncpu_ns"]) / 1000 / ops,
        f"{prefix}_wait_us": (after["wait_ns"] - before["wait_ns"]) / 1000 / ops,
        f"{prefix}_sys_share": (after["sys"] - before["sys"]) / ticks if ticks else None,
        f"{prefix}_sleeps": (after["nvcsw"] - before["nvcsw"]) / ops,
    }


def children_cpu() -> tuple:
    """(user s, system s) of this process's reaped children so far: a client run with
    Namespace.run is one of them once it has been waited for."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime, r.ru_stime


def client_fields(before: tuple, after: tuple, ops: float) -> dict:
    user, sys_ = after[0] - before[0], after[1] - before[1]
    if ops <= 0 or user + sys_ <= 0:
        return {}
    return {"client_cpu_us": (user + sys_) * 1e6 / ops, "client_sys_share": sys_ / (user + sys_)}


def parse_redis_csv(text: str, op: str) -> dict:
    """redis-benchmark --csv: a header line, then one line per test, e.g.
    "GET","140056.02","0.189","0.064","0.183","0.271","0.343","1.135"."""
    rows = [[c.strip('"') for c in line.strip().split(",")]
            for line in text.splitlines() if line.startswith('"')]
    if not rows or rows[0][0] != "test":
        raise BenchError(f"redis-benchmark --csv printed no header: {text[-300:]!r}")
    head = rows[0]
    for row in rows[1:]:
        if row[0] == op.upper() and len(row) == len(head):
            return {k: float(v) for k, v in zip(head[1:], row[1:])}
    raise BenchError(f"redis-benchmark --csv has no {op.upper()} line: {text[-300:]!r}")


def redis_version() -> str:
    """The installed redis-server's version, for the conditions line."""
    try:
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "(not installed)"
    m = re.search(r"v=(\S+)", out)
    return m.group(1) if m else "(unknown version)"


def redis_server_argv(bind: str, rdb_dir: str) -> list:
    """redis-server as the scenarios run it: no persistence written, the key loaded from
    rdb_dir/bench.rdb, no protected mode (clients come from another address)."""
    return ["redis-server", "--bind", bind, "--port", str(REDIS_PORT), "--save", "",
            "--appendonly", "no", "--protected-mode", "no", "--dir", rdb_dir,
            "--dbfilename", "bench.rdb"]


def redis_requests(ctx: RunContext) -> int:
    return QUICK_REDIS_REQUESTS if ctx.quick else REDIS_REQUESTS


def redis_benchmark_argv(host: str, op: str, requests: int) -> list:
    return ["redis-benchmark", "-h", host, "-p", str(REDIS_PORT), "-c", str(REDIS_CLIENTS),
            "-n", str(requests), "-P", "1", "-t", op, "--csv"]


class Bench:
    """The namespaces of one app scenario and how to run one figure on either side."""

    def __init__(self, config: Config, ctx: RunContext):
        netns = _netns()
        self.config = config
        self.ctx = ctx
        self.ustack = str(ctx.build / "tools" / "ustack")
        if not Path(self.ustack).is_file():
            raise BenchError(f"missing program {self.ustack} (build it first)")
        self.work = ctx.work_dir / f"{config.app}-{config.key}"
        self.work.mkdir(parents=True, exist_ok=True)
        self.wires = []
        args = types.SimpleNamespace(build_dir=str(ctx.build), ustack=self.ustack,
                                     artifacts=str(self.work / "artifacts"), deadline=None)
        self.lab = netns.Lab(f"bench_{config.app}_{config.key}".replace("-", "_"), args)
        try:
            if config.path == "tap":
                self._tap_and_veth()
            else:
                # Loopback needs no devices; the shm wire needs no namespace. L just keeps the
                # kernel's redis off every other program's ports.
                self.lo = self.lab.namespace("l", ipv6=False)
                self.client_ip, self.server_ip = self.lab.addr(1), self.lab.addr(2)
            self.lab.assert_isolated()
            if config.app == "redis":
                self._make_rdb(self.lo if config.path == "shm" else self.ks)
        except Exception:
            self.close()
            raise

    def _tap_and_veth(self) -> None:
        self.tap = self.lab.ustack_topology("tap")
        self.tap.kernel.sysctl("net.ipv6.conf.all.disable_ipv6", 1)   # no RS/MLD noise
        self.kc = self.lab.namespace("kc", ipv6=False)
        self.ks = self.lab.namespace("ks", ipv6=False)
        self.lab.veth(self.kc, "appc0", self.ks, "apps0")
        self.kc_ip, self.ks_ip = self.lab.addr(3), self.lab.addr(4)
        prefix = self.lab.subnet.prefixlen
        self.kc.ip("addr", "add", f"{self.kc_ip}/{prefix}", "dev", "appc0")
        self.ks.ip("addr", "add", f"{self.ks_ip}/{prefix}", "dev", "apps0")

    def _make_rdb(self, ns) -> None:
        """bench.rdb holding redis-benchmark's key, written by a kernel redis-server on ns's
        loopback, so that every server the runs start has it and GETs hit."""
        netns = _netns()
        srv = ns.spawn(redis_server_argv("127.0.0.1", str(self.work)), name="redis-rdb", ready="Ready to accept",
                       ready_timeout=SERVER_READY_S)
        try:
            cli = ["redis-cli", "-h", "127.0.0.1", "-p", str(REDIS_PORT)]
            for cmd in (["set", REDIS_KEY, REDIS_VALUE], ["save"]):
                r = ns.run(cli + cmd, timeout=20, text=True)
                netns.expect(r.returncode == 0 and r.stdout.strip() == "OK",
                             "making bench.rdb: " + r.describe())
        finally:
            srv.stop()
        if not (self.work / "bench.rdb").is_file():
            raise BenchError(f"redis-server wrote no {self.work / 'bench.rdb'}")

    def close(self) -> None:
        self.lab.close()
        for wire in self.wires:
            remove_wire(wire)

    def run_prefix(self, link: str, ip: str) -> list:
        return [self.ustack, "run", "--link", link, "--addr",
                f"{ip}/{self.lab.subnet.prefixlen}", "--"]

    def new_wire(self) -> str:
        wire = f"/dev/shm/ust-bench-{os.getpid()}-{len(self.wires)}"
        self.wires.append(wire)
        remove_wire(wire)
        return wire

    # -- one figure

    def ustack_run(self, ctx: RunContext) -> tuple:
        if self.config.app == "iperf3":
            return self._iperf(ustack=True)
        return self._redis(ustack=True)

    def kernel_run(self, ctx: RunContext) -> tuple:
        if self.config.app == "iperf3":
            return self._iperf(ustack=False)
        return self._redis(ustack=False)

    def _redis_ends(self, ustack: bool) -> tuple:
        """(server namespace, server argv, client namespace, client argv prefix, host) for one
        redis run, each end pinned."""
        c, rdb = self.config, str(self.work)
        if c.path == "tap" and ustack:
            t = self.tap
            t.forget_neighbours()       # each ustack process picks a new MAC
            return (t.ustack_ns, self.run_prefix(t.link, t.ustack_ip) +
                    redis_server_argv(t.ustack_ip, rdb), t.kernel, [], t.ustack_ip)
        if c.path == "tap":
            return self.ks, redis_server_argv(self.ks_ip, rdb), self.kc, [], self.ks_ip
        if ustack:
            wire = self.new_wire()
            return (self.lo, self.run_prefix(f"shm:{wire},side=1", self.server_ip) +
                    redis_server_argv(self.server_ip, rdb), self.lo,
                    self.run_prefix(f"shm:{wire},side=0", self.client_ip), self.server_ip)
        return self.lo, redis_server_argv("127.0.0.1", rdb), self.lo, [], "127.0.0.1"

    def _redis(self, ustack: bool) -> tuple:
        c = self.config
        side = "ustack" if ustack else "kernel"
        sns, sargv, cns, cprefix, host = self._redis_ends(ustack)
        server = sns.spawn(["taskset", "-c", SERVER_CPU] + sargv, name=f"{side}-redis",
                           ready="Ready to accept", ready_timeout=SERVER_READY_S)
        n = redis_requests(self.ctx)
        try:
            before, cbefore = tree_usage(server.pid), children_cpu()
            r = cns.run(["taskset", "-c", CLIENT_CPU] + cprefix +
                        redis_benchmark_argv(host, c.op, n), timeout=CLIENT_TIMEOUT_S, text=True)
            after, cafter = tree_usage(server.pid), children_cpu()
            if r.returncode != 0 or "rror" in r.stdout + r.stderr:
                raise BenchError(f"{side} run: redis-benchmark failed (exit {r.returncode}): "
                                 f"{' / '.join((r.stdout + r.stderr).strip().splitlines()[-3:])}")
            if not server.alive():
                raise BenchError(f"redis-server exited during the run: {server.describe(8)}")
        finally:
            server.stop()
        row = parse_redis_csv(r.stdout, c.op)
        extra = {"p50_ms": row.get("p50_latency_ms"), "p99_ms": row.get("p99_latency_ms")}
        extra.update(usage_fields("server", before, after, n))
        extra.update(client_fields(cbefore, cafter, n))
        return row["rps"], extra

    def _iperf_ends(self, ustack: bool) -> tuple:
        """(server namespace, server argv, client namespace, client argv, server address)."""
        role, t = self.config.op, getattr(self, "tap", None)
        if not ustack:
            return self.ks, [], self.kc, [], self.ks_ip
        t.forget_neighbours()
        prefix = self.run_prefix(t.link, t.ustack_ip)
        if role == "server":
            return t.ustack_ns, prefix, t.kernel, [], t.ustack_ip
        return t.kernel, [], t.ustack_ns, prefix, t.kernel_ip

    def _iperf(self, ustack: bool) -> tuple:
        side = "ustack" if ustack else "kernel"
        sns, sprefix, cns, cprefix, host = self._iperf_ends(ustack)
        seconds, omit = (1, 0) if self.ctx.quick else (IPERF_SECONDS, IPERF_OMIT)
        server = sns.spawn(["taskset", "-c", SERVER_CPU] + sprefix +
                           ["iperf3", "-s", "-1", "--forceflush", "-B", host, "-p", str(IPERF_PORT)],
                           name=f"{side}-iperf3", ready="Server listening",
                           ready_timeout=SERVER_READY_S)
        try:
            before = tree_usage(server.pid)
            r = cns.run(["taskset", "-c", CLIENT_CPU] + cprefix +
                        ["iperf3", "-c", host, "-p", str(IPERF_PORT), "-t", str(seconds),
                         "-O", str(omit), "-J"], timeout=CLIENT_TIMEOUT_S, text=True)
            after = tree_usage(server.pid)
            try:
                rep = json.loads(r.stdout)
            except ValueError:
                rep = {"error": "no JSON report"}
            if r.returncode != 0 or "error" in rep:
                raise BenchError(f"{side} run: iperf3 -c failed (exit {r.returncode}): "
                                 f"{rep.get('error')}: {r.stderr.strip()[-200:]}")
            server.wait(timeout=20)
        finally:
            server.stop()
        end = rep["end"]
        cpu = end.get("cpu_utilization_percent", {})
        extra = {"client_cpu_share": cpu.get("host_total", 0) / 100,
                 "server_cpu_share": cpu.get("remote_total", 0) / 100,
                 "retransmits": end.get("sum_sent", {}).get("retransmits")}
        wall = seconds + omit
        if before and after:
            extra["server_wait_share"] = (after["wait_ns"] - before["wait_ns"]) / 1e9 / wall
        return end["sum_received"]["bits_per_second"] / 1e9, extra


def remove_wire(wire: str) -> None:
    """Removes a shm wire's names (the file and its doorbells), if they are still there."""
    for path in (wire, wire + ".door0", wire + ".door1"):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


class Scenario(NetScenario):
    """Hooks and sides of one app scenario."""

    bench_class = Bench

    def sides(self) -> tuple:
        c = self.config
        ustack, kernel = self.side_functions()
        pin = f"taskset -c {SERVER_CPU}"
        cpin = f"taskset -c {CLIENT_CPU}"
        if c.app == "redis":
            bench = (f"redis-benchmark -c {REDIS_CLIENTS} -n N -P 1 -t {c.op} --csv")
            server = "redis-server --save '' --appendonly no (key loaded from bench.rdb)"
            if c.path == "tap":
                ustack.how = (f"namespace A: {pin} ustack run --link tap:ust0 --addr .2 -- "
                              f"{server}; {cpin} {bench} -h .2 (kernel, through ust0)")
                kernel.how = (f"namespace KS: {pin} {server} on .4; namespace KC: {cpin} "
                              f"{bench} -h .4 (through veth)")
            else:
                ustack.how = (f"{pin} ustack run --link shm:W,side=1 --addr .2 -- {server}; "
                              f"{cpin} ustack run --link shm:W,side=0 --addr .1 -- {bench} -h .2")
                kernel.how = (f"namespace L: {pin} {server} on 127.0.0.1; {cpin} {bench} "
                              f"-h 127.0.0.1")
            return ustack, kernel
        client = f"iperf3 -c IP -t {IPERF_SECONDS} -O {IPERF_OMIT} -J"
        srv = "iperf3 -s -1 -B IP"
        if c.op == "client":
            ustack.how = (f"namespace A: {pin} {srv} on .1 (kernel); {cpin} ustack run "
                          f"--link tap:ust0 --addr .2 -- {client} to .1")
        else:
            ustack.how = (f"namespace A: {pin} ustack run --link tap:ust0 --addr .2 -- {srv} "
                          f"on .2; {cpin} {client} to .2 (kernel)")
        kernel.how = f"namespace KS: {pin} {srv} on .4; namespace KC: {cpin} {client} to .4"
        return ustack, kernel
