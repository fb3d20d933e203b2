"""The tcp-bulk scenarios: single-stream TCP bulk throughput, ustack vs the kernel, each way.

    ustack<->kernel over TAP    namespace A: TAP device ust0 with the kernel's address (.1);
                                `ustack echo --discard|--source N --no-hash` attached to it
                                (.2); the client (bench/tcp_bulk.c, kernel socket) in A talks
                                to .2 through ust0
    kernel<->kernel over veth   namespace KC (client, .3) and KS (server, .4) joined by a veth
                                pair; the server is `tcp_bulk server --discard|--source N`

Both directions: "to-server" (the client sends N bytes, the server discards them) and
"from-server" (the server sends N bytes of the test stream, the client reads them). The client
times from the connection's establishment to the end of the stream and reports Gbit/s. Each
run starts its server afresh and stops it by PID, so only one server exists at a time. MTU
1500 on both paths; every interface keeps its default offloads (veth: TSO/GSO on).

Namespaces, devices and addresses come from tests/interop/netns.py, as for udp_rtt.py.
"""

import re
import types
from dataclasses import dataclass
from pathlib import Path

from .model import RunContext
from .runner import BenchError, parse_figure
from .udp_rtt import NetScenario, _netns, process_usage

PORT = 5201
BYTES = 1 << 30          # per run (1 GiB); --quick: QUICK_BYTES
QUICK_BYTES = 1 << 28
CLIENT_MAX_S = 120       # a transfer slower than BYTES / 120 s (72 Mbit/s for 1 GiB) fails
CLIENT_TIMEOUT_S = 180
SERVER_LIFETIME_S = 900
CLIENT_CPU = "0"
SERVER_CPU = "1"


@dataclass(frozen=True)
class Config:
    key: str                 # "to-server" or "from-server"

    @property
    def server_sends(self) -> bool:
        return self.key == "from-server"


TO_SERVER = Config("to-server")
FROM_SERVER = Config("from-server")


def transfer_bytes(ctx: RunContext) -> int:
    return QUICK_BYTES if ctx.quick else BYTES


class Bench:
    """The namespaces of one scenario and how to run one figure on either side."""

    def __init__(self, config: Config, ctx: RunContext):
        netns = _netns()
        self.config = config
        self.tcp_bulk = str(ctx.build / "bench" / "tcp_bulk")
        self.ustack = str(ctx.build / "tools" / "ustack")
        for path in (self.tcp_bulk, self.ustack):
            if not Path(path).is_file():
                raise BenchError(f"missing program {path} (build it first)")
        args = types.SimpleNamespace(build_dir=str(ctx.build), ustack=self.ustack,
                                     artifacts=str(ctx.work_dir / "tcp-bulk"), deadline=None)
        self.lab = netns.Lab("bench_tcp_bulk_" + config.key.replace("-", "_"), args)
        try:
            self.tap = self.lab.ustack_topology("tap")
            self.tap.kernel.sysctl("net.ipv6.conf.all.disable_ipv6", 1)
            self.kc = self.lab.namespace("kc", ipv6=False)
            self.ks = self.lab.namespace("ks", ipv6=False)
            self.lab.veth(self.kc, "bulkc0", self.ks, "bulks0")
            self.kc_ip, self.ks_ip = self.lab.addr(3), self.lab.addr(4)
            prefix = self.lab.subnet.prefixlen
            self.kc.ip("addr", "add", f"{self.kc_ip}/{prefix}", "dev", "bulkc0")
            self.ks.ip("addr", "add", f"{self.ks_ip}/{prefix}", "dev", "bulks0")
            self.lab.assert_isolated()
        except Exception:
            self.lab.close()
            raise

    def close(self) -> None:
        self.lab.close()

    def client_argv(self, to_ip: str, nbytes: int) -> list:
        way = ["--recv"] if self.config.server_sends else ["--send", nbytes]
        return ["taskset", "-c", CLIENT_CPU, self.tcp_bulk, "client", "--to", to_ip,
                "--port", PORT, "--max-seconds", CLIENT_MAX_S] + way

    def run_client(self, ns, to_ip: str, server, nbytes: int) -> tuple:
        before = process_usage(server.pid)
        r = ns.run(self.client_argv(to_ip, nbytes), timeout=CLIENT_TIMEOUT_S, text=True)
        after = process_usage(server.pid)
        if r.returncode != 0:
            raise BenchError(f"{'ustack' if server.name.startswith('ustack') else 'kernel'} "
                             f"run: client failed (exit {r.returncode}): "
                             f"{' / '.join(r.stderr.strip().splitlines()[-3:])}")
        if not server.alive():
            raise BenchError(f"the server exited during the run: {server.describe(8)}")
        value, extra = parse_figure(r.stdout)
        if int(extra.get("bytes", 0)) != nbytes:
            raise BenchError(f"{extra.get('bytes')} bytes transferred, expected {nbytes}")
        seconds = float(extra.get("seconds") or 0)
        if before and after and seconds > 0:
            ticks = after["user"] + after["sys"] - before["user"] - before["sys"]
            oncpu = (after["oncpu_ns"] - before["oncpu_ns"]) / 1e9
            extra.update({
                # Busy share of the server's vCPU during the transfer (1.0: it never waited).
                "server_cpu_share": oncpu / seconds,
                # Runnable but not running: the machine's other work took the vCPU.
                "server_wait_share": (after["wait_ns"] - before["wait_ns"]) / 1e9 / seconds,
                "server_sys_share": (after["sys"] - before["sys"]) / ticks if ticks else None,
                "server_ns_per_kib": oncpu * 1e9 / (nbytes / 1024),
            })
        client_cpu = extra.get("client_cpu_s")
        if isinstance(client_cpu, (int, float)) and seconds > 0:
            extra["client_cpu_share"] = client_cpu / seconds
        return value, extra

    def ustack_run(self, ctx: RunContext) -> tuple:
        nbytes = transfer_bytes(ctx)
        t = self.tap
        t.forget_neighbours()
        mode = ["--source", nbytes] if self.config.server_sends else ["--discard"]
        argv = ["taskset", "-c", SERVER_CPU] + t.ustack_argv(
            "echo", "--port", PORT, *mode, "--no-hash", pcap=False)
        server = t.ustack_ns.spawn(argv, name="ustack-bulk", ready=r"^ustack echo: ready")
        try:
            value, extra = self.run_client(t.kernel, t.ustack_ip, server, nbytes)
        finally:
            server.stop()
        extra.update(server_counters(server.output(), nbytes))
        return value, extra

    def kernel_run(self, ctx: RunContext) -> tuple:
        nbytes = transfer_bytes(ctx)
        mode = ["--source", nbytes] if self.config.server_sends else ["--discard"]
        argv = ["taskset", "-c", SERVER_CPU, self.tcp_bulk, "server", "--addr", self.ks_ip,
                "--port", PORT, "--lifetime", SERVER_LIFETIME_S] + mode
        server = self.ks.spawn(argv, name="kernel-bulk", ready=r"^tcp_bulk server: ready")
        try:
            return self.run_client(self.kc, self.ks_ip, server, nbytes)
        finally:
            server.stop()


def server_counters(text: str, nbytes: int) -> dict:
    """What `ustack echo` says about the transfer when it stops: frames and segments per MiB,
    retransmissions."""
    found = {}
    for name in ("stack.rx_frames", "stack.tx_frames", "stack.polls", "tcp.in_segs",
                 "tcp.out_segs", "tcp.retrans_segs"):
        m = re.search(r"^\s*" + re.escape(name) + r"\s+(\d+)", text, re.M)
        if m:
            found[name] = int(m.group(1))
    mib = nbytes / (1 << 20)
    out = {}
    if "stack.rx_frames" in found:
        out["rx_frames_per_mib"] = found["stack.rx_frames"] / mib
    if "stack.tx_frames" in found:
        out["tx_frames_per_mib"] = found["stack.tx_frames"] / mib
    if "tcp.retrans_segs" in found:
        out["retrans_segs"] = found["tcp.retrans_segs"]
    return out


class Scenario(NetScenario):
    """Hooks and sides of one tcp-bulk scenario."""

    bench_class = Bench

    def sides(self) -> tuple:
        c = self.config
        ustack, kernel = self.side_functions()
        way = "--recv" if c.server_sends else "--send BYTES"
        mode = "--source BYTES" if c.server_sends else "--discard"
        client = f"taskset -c {CLIENT_CPU} tcp_bulk client --to IP --port {PORT} {way}"
        ustack.how = (f"namespace A: taskset -c {SERVER_CPU} ustack echo --link tap:ust0 "
                      f"--addr .2 --port {PORT} {mode} --no-hash; {client} (to .2, through "
                      f"ust0)")
        kernel.how = (f"namespace KS: taskset -c {SERVER_CPU} tcp_bulk server --addr .4 "
                      f"--port {PORT} {mode}; namespace KC: {client} (to .4, through veth)")
        return ustack, kernel
