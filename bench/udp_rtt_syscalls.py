#!/usr/bin/env python3
"""System calls per UDP round trip: the udp-rtt scenarios (bench/harness/udp_rtt.py) with each
echo server under `perf trace -s`, ustack echo over TAP and udp_rtt's kernel server over veth.

    sudo python3 bench/udp_rtt_syscalls.py [--build build] [--only 1core-blocking] [--stat]

Prints, per scenario and side, each system call's count per request (calls / requests, the
warm-up included). perf trace slows every call down, so the round-trip times it also prints
mean nothing; the counts are what this is for. But they depend on timing too: a spinning
server's on how often it finds nothing, and in the 1-core blocking scenario on whether the
client preempts the server when the reply wakes it (then the next request is already there
when the server looks for it, and ustack reads it at once: speculative receive), which is the
scheduler's choice and changes with the machine's load and with the tracing itself. --stat
counts with perf stat on a few syscall tracepoints (harness.udp_rtt.COUNTED_SYSCALLS) instead,
which slows the calls much less. Runs 5,000 requests after 500 of warm-up per side.
"""

import argparse
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import udp_rtt                       # noqa: E402
from harness.model import RunContext              # noqa: E402


def parse_summary(text: str) -> dict:
    """{syscall: calls} from perf trace -s's tables (summed over the threads), or from perf
    stat -x, on the syscalls:sys_enter_* tracepoints."""
    calls = {}
    for line in text.splitlines():
        f = line.split(",")
        if len(f) > 2 and f[0].isdigit() and f[2].startswith("syscalls:sys_enter_"):
            name = f[2][len("syscalls:sys_enter_"):]
            calls[name] = calls.get(name, 0) + int(f[0])
            continue
        f = line.split()
        # syscall, calls, errors, total, min, avg, max, stddev
        if len(f) == 8 and re.fullmatch(r"\d+", f[1]) and re.fullmatch(r"\d+", f[2]):
            calls[f[0]] = calls.get(f[0], 0) + int(f[1])
    return calls


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--keep", help="write the strace files to this directory")
    ap.add_argument("--only", help="scenario key: 1core-blocking or 2core-spinning")
    ap.add_argument("--stat", action="store_true",
                    help="count with perf stat on the syscall tracepoints instead of perf trace: "
                         "the calls keep their speed (perf trace slows each, which changes when "
                         "the scheduler lets the client preempt the server, and so the mix)")
    args = ap.parse_args()
    udp_rtt.COUNT, udp_rtt.WARMUP = 5000, 500
    requests = udp_rtt.COUNT + udp_rtt.WARMUP
    for config in (udp_rtt.ONE_CORE_BLOCKING, udp_rtt.TWO_CORES_SPINNING):
        if args.only and args.only != config.key:
            continue
        with tempfile.TemporaryDirectory(prefix="ust-rtt-strace-") as tmp:
            tmp = args.keep or tmp
            work = Path(tmp)
            ctx = RunContext(build=Path(args.build).resolve(), ms=50, quick=True, work_dir=work)
            bench = udp_rtt.Bench(config, ctx, strace_dir=work, count_only=args.stat)
            try:
                for side, run in (("ustack", bench.ustack_run), ("kernel", bench.kernel_run)):
                    value, _ = run(ctx)
                    calls = parse_summary((work / f"{side}.strace").read_text())
                    per = {k: v / requests for k, v in calls.items() if v / requests >= 0.01}
                    total = sum(per.values())
                    detail = ", ".join(f"{k} {v:.2f}" for k, v in
                                       sorted(per.items(), key=lambda kv: -kv[1]))
                    print(f"{config.key} {side}: {total:.2f} system calls per request "
                          f"({detail}); round trip while traced {value:.1f} us", flush=True)
            finally:
                bench.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
