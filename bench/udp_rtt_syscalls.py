#!/usr/bin/env python3
"""System calls per UDP round trip: the udp-rtt scenarios (bench/harness/udp_rtt.py) with each
echo server under `strace -f -c`, ustack echo over TAP and udp_rtt's kernel server over veth.

    sudo python3 bench/udp_rtt_syscalls.py [--build build] [--only 1core-blocking]

Prints, per scenario and side, each system call's count per request (calls / requests, the
warm-up included). strace slows every call down, so the round-trip times it also prints mean
nothing; the counts are what this is for. They are exact for the 1-core blocking scenario (one
request at a time, each side runs only when the other waits); a spinning server's counts
depend on how often it finds nothing, i.e. on timing.
"""

import argparse
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import udp_rtt                       # noqa: E402
from harness.model import RunContext              # noqa: E402


def parse_strace_c(text: str) -> dict:
    """{syscall: calls} from strace -c's table."""
    calls = {}
    for line in text.splitlines():
        f = line.split()
        # % time, seconds, usecs/call, calls, [errors], syscall
        if len(f) >= 5 and re.fullmatch(r"[\d.]+", f[0]) and f[-1] != "total":
            calls[f[-1]] = int(f[3])
    return calls


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--keep", help="write the strace files to this directory")
    ap.add_argument("--only", help="scenario key: 1core-blocking or 2core-spinning")
    args = ap.parse_args()
    requests = udp_rtt.COUNT + udp_rtt.WARMUP
    for config in (udp_rtt.ONE_CORE_BLOCKING, udp_rtt.TWO_CORES_SPINNING):
        if args.only and args.only != config.key:
            continue
        with tempfile.TemporaryDirectory(prefix="ust-rtt-strace-") as tmp:
            tmp = args.keep or tmp
            work = Path(tmp)
            ctx = RunContext(build=Path(args.build).resolve(), ms=50, quick=True, work_dir=work)
            bench = udp_rtt.Bench(config, ctx, strace_dir=work)
            try:
                for side, run in (("ustack", bench.ustack_run), ("kernel", bench.kernel_run)):
                    value, _ = run(ctx)
                    calls = parse_strace_c((work / f"{side}.strace").read_text())
                    per = {k: v / requests for k, v in calls.items() if v / requests >= 0.01}
                    total = sum(per.values())
                    detail = ", ".join(f"{k} {v:.2f}" for k, v in
                                       sorted(per.items(), key=lambda kv: -kv[1]))
                    print(f"{config.key} {side}: {total:.2f} system calls per request "
                          f"({detail}); round trip under strace {value:.1f} us", flush=True)
            finally:
                bench.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
