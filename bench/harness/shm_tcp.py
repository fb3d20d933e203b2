"""The shm-tcp scenarios: TCP between two processes, ustack <-> ustack over the shared-memory
wire against kernel <-> kernel, both run by bench/shm_tcp.c (one program, the socket calls
switched by api=ustack|kernel; it forks the server, pins both processes itself and prints the
client's figure).

Most kernel baselines use loopback (no set-up). The bulk baseline runs over a veth pair with
MTU 65535 between two namespaces, which this module makes with tests/interop/netns.py (names
ust-*, a /24 of 198.18.0.0/15, no default route, removed on every path) in the scenario's setup
and removes in its teardown; shm_tcp joins them itself (netns=SERVER_NS,CLIENT_NS).
"""

import types
from pathlib import Path

from .model import RunContext
from .runner import BenchError, expand, parse_figure, run_command
from .udp_rtt import _netns

VETH_MTU = 65535


class VethPair:
    """Setup, teardown and the kernel side of a scenario whose baseline needs two namespaces
    joined by a veth pair of MTU `mtu` (server .4 in KS, client .3 in KC)."""

    def __init__(self, key: str, argv: list, mtu: int = VETH_MTU):
        self.key = key
        self.argv = argv          # shm_tcp's command, without netns= and addr=
        self.mtu = mtu
        self.lab = None
        self.ks = self.kc = self.ks_ip = None

    def setup(self, ctx: RunContext) -> None:
        netns = _netns()
        if not Path(ctx.build / "bench" / "shm_tcp").is_file():
            raise BenchError(f"missing program {ctx.build}/bench/shm_tcp (build it first)")
        args = types.SimpleNamespace(build_dir=str(ctx.build), ustack=None,
                                     artifacts=str(ctx.work_dir / "shm-tcp"), deadline=None)
        try:
            self.lab = netns.Lab("bench_shm_tcp_" + self.key, args)
            self.kc = self.lab.namespace("kc", ipv6=False)
            self.ks = self.lab.namespace("ks", ipv6=False)
            self.lab.veth(self.kc, "shmc0", self.ks, "shms0", mtu=self.mtu)
            self.ks_ip = self.lab.addr(4)
            prefix = self.lab.subnet.prefixlen
            self.kc.ip("addr", "add", f"{self.lab.addr(3)}/{prefix}", "dev", "shmc0")
            self.ks.ip("addr", "add", f"{self.ks_ip}/{prefix}", "dev", "shms0")
            self.lab.assert_isolated()
        except (netns.TestFailure, netns.Skip) as exc:
            self.teardown(ctx)
            raise BenchError(str(exc).strip().splitlines()[0][:300]) from exc

    def teardown(self, ctx: RunContext) -> None:
        if self.lab is not None:
            self.lab.close()
            self.lab = None

    def kernel(self, ctx: RunContext) -> tuple:
        """One figure of the kernel side, in the namespaces."""
        if self.lab is None:
            raise BenchError("the namespaces are not there (setup failed)")
        argv = expand(self.argv, ctx) + [f"netns={self.ks.name},{self.kc.name}",
                                         f"addr={self.ks_ip}"]
        return parse_figure(run_command(argv))
