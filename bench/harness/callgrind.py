"""Exact instruction counts per operation with valgrind's callgrind.

The benchmark program switches collection on only around its N measured operations
(CALLGRIND_TOGGLE_COLLECT, see bench/bench.c). We run it twice, with N and with 2N operations,
and divide the difference of the totals by the difference of the operation counts: whatever
happens once per run (the toggles, the call into the kernel loop) cancels out.

Costs are also attributed to functions (self cost, from the callgrind output file) and to
where their source lives: ustack's library (src/), the benchmark loop itself (bench/), or
anything else (glibc, ...).
"""

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .model import IcountPath, RunContext
from .runner import BenchError, expand, parse_figure

VALGRIND = ["valgrind", "--tool=callgrind", "--collect-atstart=no", "--dump-instr=no",
            "--compress-strings=no", "--compress-pos=no"]


@dataclass
class Profile:
    """One callgrind run: total instructions, self instructions per (function, file), ops, and
    the inclusive cost of the calls made to each function from another one."""
    total: int
    ops: int
    by_function: dict
    extra: dict = field(default_factory=dict)
    inclusive: dict = field(default_factory=dict)


@dataclass
class IcountResult:
    path: IcountPath
    per_op: float = 0.0             # every instruction in the measured loop, per operation
    per_op_ustack: float = 0.0      # the part spent in ustack's own code (src/)
    per_op_bench: float = 0.0       # the benchmark loop's own bookkeeping (bench/)
    per_op_other: float = 0.0       # anything else (glibc, ...)
    per_op_excluded: float = 0.0    # in the functions path.exclude matches
    top: list = field(default_factory=list)   # [(function, file, instructions per op)]
    top_net: list = field(default_factory=list)   # the same without the excluded functions
    parts: dict = field(default_factory=dict)     # label -> inclusive instructions per op
    extra: dict = field(default_factory=dict)
    error: str = ""

    @property
    def per_op_net(self) -> float:
        """Instructions per operation without the excluded functions (checksum, copy)."""
        return self.per_op - self.per_op_excluded

    @property
    def target_met(self):
        if self.path.target is None or self.error:
            return None
        return self.per_op_net <= self.path.target


def parse_callgrind_out(text: str, with_calls: bool = False) -> tuple:
    """Returns (total Ir, {(function, file): self Ir}) from an uncompressed callgrind file;
    with_calls adds a third element, {callee function: inclusive Ir of the calls made to it
    from other functions} (a recursive call is not added again)."""
    totals = re.search(r"^(?:totals|summary):\s*(\d+)", text, re.M)
    if not totals:
        raise BenchError("callgrind output has no totals line")
    positions = re.search(r"^positions:\s*(.*)$", text, re.M)
    n_positions = len(positions.group(1).split()) if positions else 1
    costs, inclusive, fn, file, callee = {}, {}, None, None, None
    skip_next_cost = False      # the line after calls= is the callee's inclusive cost
    for line in text.splitlines():
        if line.startswith("fl="):
            file = line[3:]
        elif line.startswith("fn="):
            fn = (line[3:], file)
        elif line.startswith("cfn="):
            callee = line[4:]
        elif line.startswith("calls="):
            skip_next_cost = True
        elif line[:1].isdigit() or line[:1] in "+-*":
            # Positions first, then the Ir count; a line with positions only costs 0.
            fields = line.split()[n_positions:]
            cost = int(fields[0]) if fields else 0
            if skip_next_cost:
                skip_next_cost = False
                if callee is not None and fn is not None and callee != fn[0]:
                    inclusive[callee] = inclusive.get(callee, 0) + cost
            elif fn is not None:
                costs[fn] = costs.get(fn, 0) + cost
    if with_calls:
        return int(totals.group(1)), costs, inclusive
    return int(totals.group(1)), costs


def run_profile(path: IcountPath, ctx: RunContext, ops: int) -> Profile:
    out_file = ctx.work_dir / f"callgrind.{re.sub(r'[^A-Za-z0-9]+', '_', path.name)}.{ops}"
    argv = VALGRIND + [f"--callgrind-out-file={out_file}"]
    functions = (path.function,) if isinstance(path.function, str) else path.function or ()
    argv += [f"--toggle-collect={fn}" for fn in functions]
    argv += expand(path.command, ctx) + [f"icount={ops}"]
    if path.function:
        argv.append("collect=fn")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        tail = " / ".join(proc.stderr.strip().splitlines()[-3:])
        raise BenchError(f"callgrind run failed (exit {proc.returncode}): {tail}")
    _, extra = parse_figure(proc.stdout)
    total, by_function, inclusive = parse_callgrind_out(Path(out_file).read_text(), True)
    return Profile(total, int(extra.get("ops", ops)), by_function, extra, inclusive)


def origin(file: str, source_root: Path) -> str:
    """'ustack', 'bench' or 'other', from a source file path in the callgrind output."""
    root = str(source_root.resolve())
    if file.startswith(root + "/src/") or file.startswith(root + "/include/"):
        return "ustack"
    if file.startswith(root + "/bench/"):
        return "bench"
    return "other"


def measure(path: IcountPath, ctx: RunContext, source_root: Path, top_n: int = 6) -> IcountResult:
    """Instructions per operation of one path: the 2N run minus the N run."""
    result = IcountResult(path)
    try:
        small = run_profile(path, ctx, path.ops)
        large = run_profile(path, ctx, 2 * path.ops)
    except (BenchError, OSError, subprocess.TimeoutExpired) as exc:
        result.error = str(exc)
        return result
    d_ops = large.ops - small.ops
    if d_ops <= 0:
        result.error = "the larger run did no more operations than the smaller one"
        return result
    result.per_op = (large.total - small.total) / d_ops
    result.extra = large.extra
    per_function = []
    for key in set(small.by_function) | set(large.by_function):
        diff = large.by_function.get(key, 0) - small.by_function.get(key, 0)
        per_function.append((key[0], key[1], diff / d_ops))
        kind = origin(key[1], source_root)
        setattr(result, f"per_op_{kind}", getattr(result, f"per_op_{kind}") + diff / d_ops)
    per_function.sort(key=lambda item: -item[2])
    result.top = [item for item in per_function[:top_n] if item[2] >= 0.05]
    if path.exclude:
        excluded = re.compile(path.exclude)
        kept = []
        for item in per_function:
            if excluded.search(item[0]):
                result.per_op_excluded += item[2]
            else:
                kept.append(item)
        result.top_net = [item for item in kept[:2 * top_n] if item[2] >= 0.05]
    for label, function in path.parts.items():
        diff = large.inclusive.get(function, 0) - small.inclusive.get(function, 0)
        result.parts[label] = diff / d_ops
    return result


def valgrind_version() -> str:
    try:
        return subprocess.run(["valgrind", "--version"], capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
