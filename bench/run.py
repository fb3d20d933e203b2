#!/usr/bin/env python3
"""ustack's benchmark harness: every scenario side by side with its baseline.

    python3 bench/run.py --build build              everything; rewrites docs/benchmarks.md
    python3 bench/run.py --build build --quick      a short demonstration (docs untouched)
    python3 bench/run.py --build build --only csum  scenarios whose name contains "csum"
    python3 bench/run.py --list                     what there is

Scenarios live in bench/scenarios.py; the machinery in bench/harness/. Results go to
bench/results/latest.json (full runs) or bench/results/partial.json (--quick, --only, or fewer
than MIN_RUNS runs), and docs/benchmarks.md with its plots in docs/img/ is regenerated after a
full run. Standard library only.
"""

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import callgrind, docs, machine, plots, report
from harness.model import RunContext
from harness.runner import expand, run_scenario
from scenarios import ICOUNTS, SCENARIOS

BENCH_DIR = Path(__file__).resolve().parent
SOURCE_ROOT = BENCH_DIR.parent
MIN_RUNS = 5            # fewer runs than this never reach the docs
DEFAULT_RUNS = 7
QUICK_RUNS = 3
DEFAULT_MS = 50
QUICK_MS = 10
BORDERLINE = 0.03       # a figure this close to its target is flagged in the docs
BUSY_LOAD = 0.5         # a load average above this before we start means competing work
QUIET_SYSCALL_NS = 87   # ns per getppid on a quiet machine of this kind (measured earlier)


def parse_args(argv: list) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default="build", help="CMake build directory (default: build)")
    p.add_argument("--only", metavar="NAME", action="append",
                   help="run scenarios and counted paths whose name contains NAME (repeatable)")
    p.add_argument("--runs", type=int, help=f"runs per side (default {DEFAULT_RUNS}, "
                                            f"--quick {QUICK_RUNS})")
    p.add_argument("--ms", type=int, help=f"duration of one timed run in ms (default "
                                          f"{DEFAULT_MS}, --quick {QUICK_MS})")
    p.add_argument("--quick", action="store_true",
                   help="fewer, shorter runs; does not touch docs/ unless --docs is given")
    p.add_argument("--docs", action="store_true",
                   help="regenerate docs/benchmarks.md even after a partial run")
    p.add_argument("--no-docs", action="store_true", help="do not touch docs/")
    p.add_argument("--no-icount", action="store_true", help="skip the callgrind counts")
    p.add_argument("--json", metavar="PATH", help="where to write the results")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = p.parse_args(argv)
    args.runs = args.runs or (QUICK_RUNS if args.quick else DEFAULT_RUNS)
    args.ms = args.ms or (QUICK_MS if args.quick else DEFAULT_MS)
    if args.runs < 1 or args.ms < 1:
        p.error("--runs and --ms must be positive")
    return args


def selected(items: list, only: list, name_of) -> list:
    if not only:
        return list(items)
    return [item for item in items if any(word in name_of(item) for word in only)]


def selected_icounts(icounts: list, only: list, scenarios: list) -> list:
    """Counted paths whose name matches, and those that the selected scenarios show."""
    if not only:
        return list(icounts)
    shown = {sc.icount for sc in scenarios}
    return [ic for ic in icounts if ic.name in shown or any(word in ic.name for word in only)]


def list_scenarios(scenarios: list, icounts: list) -> None:
    for sc in scenarios:
        base = f"  vs {sc.baseline.label}" if sc.baseline else ""
        print(f"{sc.name:28} [{sc.unit}, {sc.better} is better, target {sc.target or '-'}]")
        print(f"{'':28} {sc.subject.label}{base}; {sc.full_conditions()}")
    print("\ninstruction counts (callgrind):")
    for ic in icounts:
        print(f"  {ic.name:36} {ic.note}")


def missing_programs(scenarios: list, icounts: list, ctx: RunContext) -> list:
    """Programs under the build directory that the selected scenarios need but that do not exist."""
    commands = [ic.command for ic in icounts]
    for sc in scenarios:
        commands += [side.command for side in (sc.subject, sc.baseline)
                     if side is not None and side.command is not None]
    wanted = {expand(cmd, ctx)[0] for cmd in commands if "{build}" in str(cmd[0])}
    return sorted(path for path in wanted if not Path(path).is_file())


def progress_line(result, seconds: float) -> str:
    sc = result.scenario
    if not result.ok:
        return f"{sc.name:26} FAILED: {result.error}"
    text = f"{sc.name:26} {result.subject.label} {report.fmt(result.subject.median)} {sc.unit}"
    if result.baseline:
        text += (f" | {result.baseline.label} {report.fmt(result.baseline.median)}"
                 f" | ratio {report.fmt_ratio(result.ratio)}")
    if sc.target:
        text += f" | target {sc.target}: {report.fmt_met(result.target_met)}"
    return text + f"  ({seconds:.1f} s)"


def run_all(scenarios: list, ctx: RunContext, runs: int) -> list:
    results = []
    for sc in scenarios:
        started = time.monotonic()
        count = max(runs, sc.runs or 0)
        if sc.max_runs:
            count = min(count, sc.max_runs)
        result = run_scenario(sc, ctx, count, warmup=sc.warmup)
        print(progress_line(result, time.monotonic() - started), flush=True)
        results.append(result)
    return results


def count_instructions(icounts: list, ctx: RunContext) -> list:
    if not shutil.which("valgrind"):
        print("valgrind not found: no instruction counts", file=sys.stderr)
        return []
    counted = []
    for path in icounts:
        started = time.monotonic()
        result = callgrind.measure(path, ctx, SOURCE_ROOT)
        status = f"FAILED: {result.error}" if result.error else f"{result.per_op:.1f} instr/op"
        print(f"{path.name:36} {status}  ({time.monotonic() - started:.1f} s)", flush=True)
        counted.append(result)
    return counted


def is_borderline(result) -> bool:
    """Whether the figure a target is checked against lies within BORDERLINE of the threshold."""
    target = result.scenario.parsed_target
    if target is None or not result.ok or not target.value:
        return False
    figure = result.ratio if target.on_ratio else result.subject.median
    return figure is not None and abs(figure / target.value - 1) < BORDERLINE


def notes_for(results: list, icounts: list, info: dict) -> list:
    """Remarks the reader of the docs needs, derived from this run."""
    notes = []
    if info["build_type"] not in ("RelWithDebInfo", "Release"):
        notes.append(f"The build type is {info['build_type']}, not RelWithDebInfo: the timings "
                     f"are not representative.")
    timed = {r.subject.extra.get("impl") for r in results if r.subject.extra.get("impl")}
    # Paths that pick an implementation themselves (impl=...) say nothing about the default.
    counted = {ic.extra.get("impl") for ic in icounts if ic.extra.get("impl")
               and not any(str(arg).startswith("impl=") for arg in ic.path.command)}
    if timed and counted and timed != counted:
        notes.append(f"The checksum ran the {', '.join(sorted(timed))} implementation in the "
                     f"timed runs but {', '.join(sorted(counted))} under valgrind, whose "
                     f"emulated CPU lacks some of this CPU's vector extensions: the instruction "
                     f"counts describe the latter.")
    if max(info["load_before"], info.get("load_after", 0)) > 1.0 + BUSY_LOAD:
        notes.append(f"Other work was running during this run (load average "
                     f"{info['load_before']:.2f} before, {info.get('load_after', -1):.2f} after; "
                     f"the benchmark itself accounts for about 1): treat the timings with care.")
    syscall = next((r for r in results if r.scenario.name == "reference/syscall" and r.ok), None)
    if syscall and syscall.subject.median > 3 * QUIET_SYSCALL_NS:
        notes.append(f"A system call cost {report.fmt(syscall.subject.median)} ns in this run "
                     f"(reference/syscall; about {QUIET_SYSCALL_NS} ns on a quiet machine of this "
                     f"kind): the host was busy. The network round trips make several system "
                     f"calls per request on both sides and are slowed accordingly; compare their "
                     f"ratios, not their absolute figures, with other runs.")
    for r in results:
        limited = r.subject.extra.get("limited_by") if r.ok else None
        if limited:
            notes.append(f"{r.scenario.name} held {r.subject.extra.get('conns')} connections, "
                         f"not the {r.subject.extra.get('conns_asked')} asked: {limited} "
                         f"(every ustack socket's descriptor is an eventfd, and this process "
                         f"could not raise the hard limit); tcp-mem/idle-100k-queued holds the "
                         f"full count without descriptors.")
    close = [r.scenario.name for r in results if is_borderline(r)]
    if close:
        notes.append(f"Within {BORDERLINE:.0%} of their target, so the verdict can change from "
                     f"one run to the next on this noisy machine: {', '.join(close)}.")
    failed = [r.scenario.name for r in results if not r.ok]
    failed += [ic.path.name for ic in icounts if ic.error]
    if failed:
        notes.append(f"Failed in this run: {', '.join(failed)}.")
    return notes


def main(argv: list) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)   # quiet when piped into head
    args = parse_args(argv)
    scenarios = selected(SCENARIOS, args.only, lambda sc: sc.name)
    icounts = [] if args.no_icount else selected_icounts(ICOUNTS, args.only, scenarios)
    if args.list:
        list_scenarios(scenarios, icounts)
        return 0
    if not scenarios and not icounts:
        print(f"no scenario matches {args.only}", file=sys.stderr)
        return 2

    build = Path(args.build).resolve()
    with tempfile.TemporaryDirectory(prefix="ustack-bench-") as work:
        ctx = RunContext(build=build, ms=args.ms, quick=args.quick, work_dir=Path(work))
        missing = missing_programs(scenarios, icounts, ctx)
        if missing:
            print(f"missing programs (build first: cmake --build {args.build}): "
                  f"{' '.join(missing)}", file=sys.stderr)
            return 2
        info = machine.describe(build, SOURCE_ROOT)
        print(f"ustack bench: {info['cpu']}, {info['vcpus']} vCPUs, kernel {info['kernel']}, "
              f"{info['compiler']}; {args.runs} runs per side, {args.ms} ms each", flush=True)
        if info["load_before"] > BUSY_LOAD:
            print(f"warning: load average {info['load_before']:.2f}: something else is "
                  f"running, timings will be disturbed", file=sys.stderr)
        print(flush=True)
        results = run_all(scenarios, ctx, args.runs)
        info["load_after"] = machine.load_average()
        counted = count_instructions(icounts, ctx)
        by_name = {ic.path.name: ic for ic in counted}
        print("\n" + report.terminal_table(results, by_name))
        also = report.also_table(results)
        if also:
            print("\n" + also)
        if counted:
            print("\n" + report.icount_table(counted))
        return publish(args, info, results, counted, ctx)


def publish(args, info: dict, results: list, counted: list, ctx: RunContext) -> int:
    """Writes the JSON result, and the docs page with its plots when the run was a full one."""
    complete = not args.only and not args.quick and args.runs >= MIN_RUNS and not args.no_icount
    default_json = "latest.json" if complete else "partial.json"
    json_path = Path(args.json) if args.json else BENCH_DIR / "results" / default_json
    options = {"runs": args.runs, "ms": args.ms, "quick": args.quick, "only": args.only,
               "build": str(ctx.build)}
    report.write_json(json_path, info, options, results, counted)
    print(f"\nresults: {json_path}")

    if args.no_docs or not (complete or args.docs):
        if not args.no_docs:
            print("docs/benchmarks.md left alone (partial run; --docs to write it anyway)")
    else:
        docs_dir = SOURCE_ROOT / "docs"
        try:
            made = plots.make_all(results, docs_dir / "img", ctx.work_dir)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            print(f"warning: no plots: {exc}", file=sys.stderr)
            made = {"lines": {}, "dots": {}}
        notes = notes_for(results, counted, info)
        docs.write(docs_dir / "benchmarks.md", info, options, results, counted, made, notes)
        print(f"docs: {docs_dir / 'benchmarks.md'}, plots in {docs_dir / 'img'}")
    failed = any(not r.ok for r in results) or any(ic.error for ic in counted)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        # SIGINT (and, while network scenarios run, SIGTERM/SIGHUP: tests/interop/netns.py turns
        # them into KeyboardInterrupt); the scenario's teardown has already run.
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
