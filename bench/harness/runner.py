"""Running scenarios: interleaved runs of the two sides, pinning, hooks, and the statistics."""

import json
import os
import shlex
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Optional

from .model import Hook, RunContext, Scenario, Side

# A command that takes longer than this is stuck, not slow.
COMMAND_TIMEOUT_S = 300


class BenchError(Exception):
    """A side could not produce its figure (command failed, output unreadable, ...)."""


@dataclass
class SideResult:
    label: str
    how: str                                      # the command line, or the callable's name
    values: list = field(default_factory=list)    # one figure per run, in run order
    extra: dict = field(default_factory=dict)     # other fields of the last JSON result line
    extras: list = field(default_factory=list)    # other fields of each kept run, in run order

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def max(self) -> float:
        return max(self.values)

    def also(self, key: str) -> list:
        """Field `key` of every kept run that reported it (see Scenario.also)."""
        return [float(e[key]) for e in self.extras if isinstance(e.get(key), (int, float))]


@dataclass
class ScenarioResult:
    scenario: Scenario
    subject: SideResult
    baseline: Optional[SideResult]
    error: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.subject.values)

    @property
    def ratio(self) -> Optional[float]:
        if not self.ok or not self.baseline or not self.baseline.values:
            return None
        base = self.baseline.median
        return self.subject.median / base if base else None

    @property
    def target_met(self) -> Optional[bool]:
        target = self.scenario.parsed_target
        if target is None or not self.ok:
            return None
        return target.is_met(self.subject.median, self.ratio)


def expand(argv: list, ctx: RunContext) -> list:
    """Fills the {build} and {ms} placeholders of a command."""
    return [str(arg).format(build=ctx.build, ms=ctx.ms) for arg in argv]


def pinned(argv: list, cpus: Optional[str]) -> list:
    return (["taskset", "-c", cpus] if cpus else []) + argv


def describe(side: Side, cpus: Optional[str], ctx: RunContext) -> str:
    """What is run for one figure of this side, as a shell would show it."""
    if side.command is not None:
        return shlex.join(pinned(expand(side.command, ctx), cpus))
    how = getattr(side.func, "how", None)   # a callable may say what it runs
    name = how or "python: " + getattr(side.func, "__name__", repr(side.func)) + "()"
    return name + (f", pinned to CPUs {cpus}" if cpus else "")


def parse_figure(stdout: str) -> tuple:
    """The figure in a command's output: its last non-empty line, a JSON object with a "value"
    or a bare number. Returns (value, other fields of the JSON object)."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise BenchError("no output")
    last = lines[-1].strip()
    try:
        record = json.loads(last)
    except json.JSONDecodeError as exc:
        raise BenchError(f"last line is not JSON or a number: {last!r}") from exc
    if isinstance(record, (int, float)):
        return float(record), {}
    if not isinstance(record, dict) or "value" not in record:
        raise BenchError(f"result line has no \"value\": {last!r}")
    extra = {k: v for k, v in record.items() if k != "value"}
    return float(record["value"]), extra


def run_command(argv: list, cpus: Optional[str] = None) -> str:
    """Runs argv (pinned if cpus is given) and returns its stdout; raises BenchError."""
    full = pinned(argv, cpus)
    try:
        proc = subprocess.run(full, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
    except FileNotFoundError as exc:
        raise BenchError(f"cannot run {shlex.join(full)}: {exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"timed out after {COMMAND_TIMEOUT_S} s: {shlex.join(full)}") from exc
    if proc.returncode != 0:
        tail = " / ".join(proc.stderr.strip().splitlines()[-3:])
        raise BenchError(f"exit {proc.returncode}: {shlex.join(full)}" + (f": {tail}" if tail else ""))
    return proc.stdout


def call_pinned(side: Side, cpus: Optional[str], ctx: RunContext) -> tuple:
    """Runs a Python side, with this process pinned to `cpus` for the duration of the call.
    Returns (figure, other fields): the callable returns the figure or such a pair."""
    saved = os.sched_getaffinity(0)
    if cpus:
        os.sched_setaffinity(0, parse_cpu_list(cpus))
    try:
        got = side.func(ctx)
    finally:
        os.sched_setaffinity(0, saved)
    if isinstance(got, tuple):
        value, extra = got
        return float(value), dict(extra)
    return float(got), {}


def parse_cpu_list(text: str) -> set:
    """'1', '0,2', '0-3' -> a set of CPU numbers (the taskset -c syntax, without strides)."""
    cpus = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def measure_once(side: Side, result: SideResult, cpus: Optional[str], ctx: RunContext) -> tuple:
    """One figure of one side: (value, other fields)."""
    if side.func is not None:
        value, extra = call_pinned(side, cpus, ctx)
    else:
        value, extra = parse_figure(run_command(expand(side.command, ctx), cpus))
    result.extra = extra
    return value, extra


def run_hook(hook: Optional[Hook], ctx: RunContext, what: str) -> None:
    """Runs a setup or teardown hook; a failing command raises BenchError naming the hook."""
    if hook is None:
        return
    if callable(hook):
        hook(ctx)
        return
    try:
        run_command(expand(hook, ctx))
    except BenchError as exc:
        raise BenchError(f"{what}: {exc}") from exc


def run_scenario(sc: Scenario, ctx: RunContext, runs: int, warmup: bool = True,
                 progress=None) -> ScenarioResult:
    """Runs the sides interleaved (subject, baseline, subject, baseline, ...), `runs` times each,
    after one discarded warm-up round. Hooks run around the whole lot."""
    sides = [sc.subject] + ([sc.baseline] if sc.baseline else [])
    results = [SideResult(side.label, describe(side, sc.cpus_of(side), ctx)) for side in sides]
    outcome = ScenarioResult(sc, results[0], results[1] if len(results) > 1 else None)
    try:
        run_hook(sc.setup, ctx, "setup")
        rounds = ([False] if warmup else []) + [True] * runs
        for number, keep in enumerate(rounds):
            for side, result in zip(sides, results):
                value, extra = measure_once(side, result, sc.cpus_of(side), ctx)
                if keep:
                    result.values.append(value)
                    result.extras.append(extra)
            if progress:
                progress(sc, number + 1, len(rounds))
    except BenchError as exc:
        outcome.error = str(exc)
    finally:
        try:
            run_hook(sc.teardown, ctx, "teardown")
        except BenchError as exc:
            outcome.error = outcome.error or str(exc)
            print(f"warning: {sc.name}: teardown failed: {exc}", file=sys.stderr)
    return outcome
