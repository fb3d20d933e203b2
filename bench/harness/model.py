"""What a benchmark scenario is: two sides, a unit, a target and the conditions it runs under.

A scenario compares a *subject* (ustack) with an optional *baseline* (the kernel, glibc, ...).
Each side produces one figure per run, either from a command (whose last line of output is a
JSON object with a "value", or a bare number) or from a Python callable (returning the figure,
or (figure, dict of other fields)). The harness runs the two sides interleaved, several times
each, and reports medians and their ratio; fields named in a scenario's `also` (e.g. a p99
beside a median) are summarised the same way.

Commands are lists of strings in which these placeholders are replaced before running:
    {build}   the CMake build directory given with --build
    {ms}      the duration of one timed run in milliseconds (shorter with --quick)
"""

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Union


@dataclass
class RunContext:
    """What a command or callable may need to know about this invocation of the harness."""
    build: Path          # the CMake build directory
    ms: int              # duration of one timed run, milliseconds
    quick: bool          # --quick: a short demonstration, not a measurement to keep
    work_dir: Path       # a scratch directory that lives as long as the harness run


# A setup or teardown hook: a command (run unpinned, must exit 0) or a callable.
Hook = Union[list, Callable[[RunContext], None]]


@dataclass
class Side:
    """One side of a comparison: how to obtain one figure."""
    label: str                                   # e.g. "pkt_alloc+pkt_free", "Linux TCP"
    command: Optional[list] = None               # argv with placeholders
    func: Optional[Callable[[RunContext], Union[float, tuple]]] = None   # figure [, fields]
    cpus: Optional[str] = None                   # taskset -c list; None: the scenario's

    def __post_init__(self):
        if (self.command is None) == (self.func is None):
            raise ValueError(f"side {self.label!r}: give exactly one of command and func")


def program(name: str, scenario: str, **params) -> list:
    """The argv for one of the C benchmark programs in bench/ (built into {build}/bench/)."""
    args = [f"{{build}}/bench/{name}", scenario]
    args += [f"{key}={value}" for key, value in params.items()]
    if "ms" not in params:
        args.append("ms={ms}")
    return args


@dataclass(frozen=True)
class Target:
    """A goal such as "<= 30 ns/op" (on the subject's median) or ">= 0.5x baseline" (on the
    ratio subject/baseline of the medians)."""
    text: str
    op: str
    value: float
    on_ratio: bool

    def is_met(self, subject_median: float, ratio: Optional[float]) -> Optional[bool]:
        figure = ratio if self.on_ratio else subject_median
        if figure is None:
            return None
        return {
            "<=": figure <= self.value, "<": figure < self.value,
            ">=": figure >= self.value, ">": figure > self.value,
        }[self.op]


_TARGET_RE = re.compile(r"^\s*(<=|>=|<|>)\s*([0-9]*\.?[0-9]+)\s*(.*?)\s*$")


def parse_target(text: str, unit: str) -> Target:
    match = _TARGET_RE.match(text)
    if not match:
        raise ValueError(f"target {text!r}: expected e.g. '<= 30 ns/op' or '>= 0.5x baseline'")
    op, value, rest = match.groups()
    if rest == "x baseline":
        return Target(text, op, float(value), on_ratio=True)
    if rest not in ("", unit):
        raise ValueError(f"target {text!r}: unit {rest!r} is not the scenario's unit {unit!r}")
    return Target(text, op, float(value), on_ratio=False)


@dataclass
class PlotPoint:
    """Places a scenario on a line plot: `plot` names the figure (its title), `x` is its
    abscissa (e.g. the buffer size) and `xtick` the label written there. Each side becomes one
    line, labelled with the side's label; points show medians, bars show min and max."""
    plot: str
    x: float
    xtick: str = ""
    xlabel: str = ""
    logx: bool = False


@dataclass
class Scenario:
    name: str                        # unique, e.g. "pool/alloc-free"; --only filters on it
    group: str                       # heading in the report; one dot plot per group
    title: str                       # one line: what is measured
    unit: str                        # e.g. "ns/op", "GB/s", "us", "Mpps"
    better: str                      # "lower" or "higher"
    subject: Side
    baseline: Optional[Side] = None
    target: Optional[str] = None     # see Target
    conditions: str = ""             # polling mode, sizes, ...; pinning is added from `cpus`
    cpus: Optional[str] = None       # pin both sides with `taskset -c CPUS`; None: not pinned
    pins: Optional[str] = None       # how the sides pin themselves (e.g. taskset inside a
                                     # network namespace), when the harness does not: replaces
                                     # the pinning derived from `cpus`
    also: dict = field(default_factory=dict)   # other result fields to summarise, e.g.
                                               # {"p99_us": "p99"}: field -> label
    setup: Optional[Hook] = None     # run once before the first run
    teardown: Optional[Hook] = None  # run once after the last run, even on failure
    runs: Optional[int] = None       # at least this many runs per side, whatever --runs says
    max_runs: Optional[int] = None   # at most this many (a figure that does not vary from run
                                     # to run, e.g. memory, need not be repeated)
    warmup: bool = True              # one discarded round first
    icount: Optional[str] = None     # name of an IcountPath shown beside this scenario
    plot: Optional[PlotPoint] = None
    parsed_target: Optional[Target] = field(init=False, default=None)

    def __post_init__(self):
        if self.better not in ("lower", "higher"):
            raise ValueError(f"{self.name}: better must be 'lower' or 'higher'")
        if self.target:
            self.parsed_target = parse_target(self.target, self.unit)
            if self.parsed_target.on_ratio and self.baseline is None:
                raise ValueError(f"{self.name}: a target on the ratio needs a baseline")

    def cpus_of(self, side: Side) -> Optional[str]:
        return side.cpus if side.cpus is not None else self.cpus

    def pinning(self) -> str:
        """The pinning half of the conditions line, derived from what the harness really does
        (or stated by the scenario, for sides that pin what they start themselves)."""
        if self.pins:
            return self.pins
        sides = [self.subject] + ([self.baseline] if self.baseline else [])
        pins = {self.cpus_of(side) for side in sides}
        if pins == {None}:
            return "not pinned"
        if len(pins) == 1:
            return f"pinned with taskset -c {pins.pop()}"
        return "; ".join(f"{s.label}: taskset -c {self.cpus_of(s) or '(none)'}" for s in sides)

    def full_conditions(self) -> str:
        return "; ".join(part for part in (self.pinning(), self.conditions) if part)


@dataclass
class IcountPath:
    """A code path whose instructions per operation callgrind counts exactly.

    `command` runs one of the benchmark programs; the harness appends icount=N and runs it under
    `valgrind --tool=callgrind --collect-atstart=no`, the program switching collection on around
    exactly its N operations. Two runs (N and 2N operations) are subtracted, so that set-up and
    the first, cold passes drop out and the figure is per operation."""
    name: str
    command: list
    ops: int
    note: str = ""
    # Count only inside one function (inclusive of everything it calls): valgrind runs with
    # --toggle-collect=FUNCTION and the program gets collect=fn (so it does not toggle itself).
    # Without it, everything between the program's two toggles around its loop counts. A tuple
    # gives several: collection toggles on entering and on leaving each, so a second function
    # that is only ever called inside the first is cut out of the count.
    function: Union[str, tuple, None] = None
    # Functions whose own instructions are set apart (a regular expression on their names,
    # e.g. checksum and copy): the figure checked against `target` is the count without them.
    exclude: Optional[str] = None
    exclude_label: str = ""          # e.g. "csum*, memcpy"
    # Inclusive counts of functions called inside the counted region, shown as "of which":
    # {label: function name}.
    parts: dict = field(default_factory=dict)
    target: Optional[float] = None   # at most this many instructions per op (net of `exclude`)
