"""docs/benchmarks.md: the machine, the method, a table per scenario group, instruction counts,
and the plots. The page is regenerated from scratch on every full run."""

import os
from collections import defaultdict
from pathlib import Path

from .report import also_rows, fmt, fmt_met, fmt_ratio, icount_of

METHOD = """\
- Each scenario has a *subject* (ustack) and usually a *baseline* measured in the same run.
  The two sides run **interleaved** (subject, baseline, subject, baseline, ...), {runs} times
  each after one discarded warm-up round, each run a separate process. Figures are **medians**
  of those runs, with min and max beside them; *ratio* is subject median / baseline median
  (for ns/op lower is better, for GB/s higher is better).
- A run of a C benchmark program warms up (doubling batches for at least 10 ms), then times one
  batch sized to last about {ms} ms with `clock_gettime(CLOCK_MONOTONIC)` around the loop, and
  divides by the number of operations. Results are kept alive with empty `asm volatile`
  statements so the compiler cannot drop the work.
- Single-threaded microbenchmarks are pinned to one vCPU with `taskset -c 1`; the conditions
  line of each scenario says how it was pinned (derived from what the harness did) and under
  which conditions it ran. Network scenarios pin their client and server themselves and say
  how, and whether each side blocks or spins: on this VM waking a blocked thread on the other
  vCPU costs 35-40 us, so only same-core vs same-core and spinning vs spinning are compared.
- Network round trips (udp-rtt, tcp-rtt) run in network namespaces created by the scenario's
  setup (`tests/interop/netns.py`: namespaces `ust-*`, addresses from 198.18.0.0/15, no route
  out) and removed by its teardown. Each run starts the server (ustack or the kernel's), runs
  one client invocation (`bench/udp_rtt.c`, `--tcp` for TCP: N requests one at a time after a
  warm-up, every reply checked byte for byte, `clock_gettime` around each send/receive pair)
  and stops the server; the run's figure is the client's median round trip, its p99 is
  summarised beside it.
- Bulk throughput (tcp-bulk) uses the same namespaces: each run starts the server
  (`ustack echo --discard` or `--source N`, with `--no-hash`, or `bench/tcp_bulk.c`'s kernel
  server), the kernel client (`tcp_bulk client`) moves 1 GiB over one connection and reports
  bytes x 8 / time from establishment to end of stream, as Gbit/s.
- TCP between two processes (shm-tcp) comes from `bench/shm_tcp.c`, one program for both
  sides whose socket calls are switched between `ust_*` and the kernel's, so the work per
  operation is the same: it forks the server, pins both processes itself, and the client
  reports the figure. ustack's two processes each run a stack on one shm wire
  (`/dev/shm/ust-bench-tcp-PID`); the kernel's use loopback, except bulk, which uses a veth
  pair with MTU 65535 between two namespaces the scenario's setup makes. Round trips: 64 bytes,
  TCP_NODELAY, 20,000 after 2,000 of warm-up, median; spinning means every wait is a
  `recv`/`send(MSG_DONTWAIT)` loop on both sides (ustack's stacks also get `spin_us`), blocking
  means blocking calls (ustack sleeps in poll(2) on the wire's doorbell). Bulk: 1 GiB in 64 KiB
  writes, timed to the server's one-byte answer after the last byte. Connections per second:
  connect, accept, one byte each way, server closes first, 20,000 per run, either two blocking
  processes on one vCPU or one thread driving both ends with non-blocking sockets (ustack's
  thread then polls the waiting end's peer stack, as the kernel's loopback does the peer's work
  in the sender's system call). `bench/bench_shmrtt.c` counts one round trip's instructions
  with both stacks in one process (callgrind).
- Memory per idle connection (tcp-mem) comes from `bench/bench_tcpmem.c`: one stack, a
  scripted peer on a loop link, a fake clock; the resident set before and after opening the
  connections (the first batch opened before measuring), plus what the kernel holds for their
  descriptors (slab objects, and the descriptor table computed from the kernel's layout),
  divided by their number. It does not vary from run to run, so it is measured three times
  without a warm-up round.
- Unmodified programs (redis, iperf3; `bench/harness/apps.py`) run under `ustack run` against
  the same Debian binaries on the kernel, in namespaces as above. *redis over TAP*:
  `ustack run -- redis-server` on a TAP device vs redis-server on the kernel over a veth pair,
  redis-benchmark on the kernel in both cases. *redis over shm*: redis-server and
  redis-benchmark both under ustack, joined by the shared-memory wire, vs both on the kernel
  over loopback (a namespace's own). Each run starts redis-server afresh from an RDB file that
  holds the key GET asks for (so every GET hits) and runs one `redis-benchmark -c 50 -n 200000
  -P 1 -t set` (or `get`) `--csv`; the figure is its requests per second, with each process's
  CPU time per request (all its threads, from /proc: under ustack the bottom half too) and its
  kernel share beside it. *iperf3*: one stream, `-t 3 -O 1`, ustack as the client or as the
  server over TAP vs both on the kernel over veth; the figure is what the receiver got per
  second. Servers are pinned to vCPU 1 and clients to vCPU 0; every program blocks (epoll_wait,
  select; ustack with spin_us=0 and its bottom half on, `ustack run`'s defaults).
- Targets are checked against the median (or against the ratio, for "x baseline" targets).
- Instruction counts come from `valgrind --tool=callgrind`: the program switches collection on
  only around N operations; a run with 2N operations minus the run with N, divided by N, gives
  instructions per operation, exactly and repeatably. They include the benchmark loop's own few
  instructions, shown separately. Valgrind emulates the CPU, so they count the code path
  valgrind's emulated CPU selects (see the Notes). Some paths count only inside one function
  and everything it calls (`valgrind --toggle-collect=FUNCTION`, e.g. `ipv4_input` for TCP's
  receive path), and set the checksum and copy functions apart (see "Without checksum and
  copy")."""

HOW_TO_ADD = """\
Scenarios are entries in the `SCENARIOS` list of `bench/scenarios.py`. Each names a group, a
one-line title, a unit and whether lower or higher is better, a *subject* side and optionally a
*baseline* side, a target (`"<= 30 ns/op"` on the subject's median or `">= 0.5x baseline"` on
the ratio), `cpus` for `taskset -c` pinning and a `conditions` line (polling mode, sizes, ...).
A side is a command (any program whose last output line is a JSON object with a `"value"`, or a
bare number; `{build}` and `{ms}` are substituted) or a Python callable returning the figure.
`setup`/`teardown` hooks (commands or callables) run once around the scenario, e.g. to create
and delete network namespaces (see `bench/harness/udp_rtt.py`, which uses
`tests/interop/netns.py`; `bench/harness/apps.py` does the same for unmodified programs under
`ustack run`). A callable side may return `(figure, {fields})`; fields named in the
scenario's `also` are summarised beside the figure (e.g. a p99, CPU time per request), and
`pins` states the pinning when the sides pin what they start themselves. Small C programs live in `bench/` (see `bench/bench.h`: write a
kernel that does the operation n times, register it in the program's scenario table). Code
paths to count with callgrind are entries of `ICOUNTS` in the same file; `function=` counts
only inside one function (inclusive), `exclude=` sets functions apart by name (a regular
expression), `parts=` shows the inclusive count of chosen callees, and `target=` is checked
against the count without the excluded functions. `max_runs=` and `warmup=False` suit figures
that do not vary from run to run (memory). One scenario alone:
`python3 bench/run.py --build build --only tcp-bulk` (any part of the name; repeatable)."""


def machine_table(m: dict) -> list:
    rows = [
        ("CPU", f"{m['cpu']}, {m['vcpus']} vCPUs; {m['cpu_features']}"),
        ("Kernel", m["kernel"]),
        ("Memory", m["memory"]),
        ("OS", m["os"]),
        ("Compiler", f"{m['compiler']}; build type {m['build_type']} (`{m['c_flags']}`)"),
        ("glibc, valgrind, python", f"{m['glibc']}, {m['valgrind']}, Python {m['python']}"),
        ("Date", m["date"]),
        ("Commit", m["commit"]),
        ("Load average (1 min) before / after the run",
         f"{m['load_before']:.2f} / {m.get('load_after', -1):.2f} "
         "(the benchmarks themselves keep one vCPU busy)"),
    ]
    lines = ["| | |", "|---|---|"] + [f"| {key} | {value} |" for key, value in rows]
    return lines + ["", f"> {m['note']}"]


def cell(side) -> str:
    if side is None or not side.values:
        return "-"
    return f"**{fmt(side.median)}** ({fmt(side.min)}–{fmt(side.max)})"


def summary_table(results: list, icounts: dict) -> list:
    lines = ["| scenario | unit | ustack median | baseline median | ratio | instr/op (callgrind) "
             "| target | met |",
             "|---|---|---:|---:|---:|---:|---|---|"]
    for r in results:
        sc = r.scenario
        if not r.ok:
            lines.append(f"| {sc.name} | {sc.unit} | failed: {r.error} | | | | {sc.target or '-'} | |")
            continue
        base = fmt(r.baseline.median) if r.baseline and r.baseline.values else "-"
        lines.append(f"| {sc.name} | {sc.unit} | {fmt(r.subject.median)} | {base} | "
                     f"{fmt_ratio(r.ratio)} | {fmt(icount_of(r, icounts))} | {sc.target or '-'} | "
                     f"{fmt_met(r.target_met)} |")
    return lines


def group_section(group: str, results: list, icounts: dict, images: dict, docs_dir: Path) -> list:
    lines = [f"## {group}", ""]
    conditions = {r.scenario.full_conditions() for r in results}
    if len(conditions) == 1:
        lines += [f"Conditions: {conditions.pop()}.", ""]
    lines += ["| scenario | what is measured | ustack: median (min–max) | "
              "baseline: median (min–max) | ratio | target | met |",
              "|---|---|---:|---:|---:|---|---|"]
    for r in results:
        sc = r.scenario
        what = f"{sc.title} [{sc.unit}]"
        if not r.ok:
            lines.append(f"| {sc.name} | {what} | failed: {r.error} | | | {sc.target or '-'} | |")
            continue
        base_label = f"{r.baseline.label}: " if r.baseline else ""
        lines.append(f"| {sc.name} | {what} | {r.subject.label}: {cell(r.subject)} | "
                     f"{base_label}{cell(r.baseline)} | {fmt_ratio(r.ratio)} | "
                     f"{sc.target or '-'} | {fmt_met(r.target_met)} |")
    extra = also_rows(results)
    if extra:
        spread = lambda s: "-" if s is None else f"**{fmt(s[0])}** ({fmt(s[1])}–{fmt(s[2])})"
        lines += ["", "Other figures of the same runs (median over the runs of each run's "
                      "figure, min–max):", "",
                  "| scenario | figure | ustack | baseline | ratio |", "|---|---|---:|---:|---:|"]
        lines += [f"| {name} | {label} | {spread(subject)} | {spread(baseline)} | "
                  f"{fmt_ratio(ratio)} |" for name, label, subject, baseline, ratio in extra]
    if len({r.scenario.full_conditions() for r in results}) > 1:
        lines += [""] + [f"- {r.scenario.name}: {r.scenario.full_conditions()}" for r in results]
    for path in images.get(group, []):
        lines += ["", f"![{group}]({os.path.relpath(path, docs_dir)})"]
    return lines + [""]


def icount_section(icounts: list) -> list:
    lines = ["## Instruction counts (callgrind)", "",
             "| path | instructions/op | in ustack (src/) | benchmark loop | other | "
             "where they go (instructions/op) | notes |",
             "|---|---:|---:|---:|---:|---|---|"]
    for ic in icounts:
        if ic.error:
            lines.append(f"| {ic.path.name} | failed: {ic.error} | | | | | |")
            continue
        top = "; ".join(f"`{fn}` {cost:.1f}" for fn, _, cost in ic.top)
        note = ic.path.note
        if "impl" in ic.extra:
            note += f" (checksum implementation under valgrind: {ic.extra['impl']})"
        lines.append(f"| {ic.path.name} | **{ic.per_op:.1f}** | {ic.per_op_ustack:.1f} | "
                     f"{ic.per_op_bench:.1f} | {ic.per_op_other:.1f} | {top} | {note} |")
    net = [ic for ic in icounts if ic.path.exclude and not ic.error]
    if net:
        lines += ["", "### Without checksum and copy", "",
                  "The same counts with the checksum functions (`csum_*` and the loops behind "
                  "them in src/wire/checksum.c) and glibc's `memcpy`/`memmove` set apart: what "
                  "the protocol code itself costs. Functions by their own instructions; "
                  "\"of which\" rows are inclusive (everything the function calls, checksum "
                  "and copy included).", "",
                  "| path | instructions/op | checksum + copy | **net** | target | met | "
                  "top functions, net (instructions/op) | of which (inclusive) |",
                  "|---|---:|---:|---:|---|---|---|---|"]
        for ic in net:
            top = "; ".join(f"`{fn}` {cost:.1f}" for fn, _, cost in ic.top_net[:10])
            parts = "; ".join(f"{label}: {cost:.1f}" for label, cost in ic.parts.items()) or "-"
            target = f"<= {ic.path.target:g}" if ic.path.target is not None else "-"
            lines.append(f"| {ic.path.name} | {ic.per_op:.1f} | {ic.per_op_excluded:.1f} | "
                         f"**{ic.per_op_net:.1f}** | {target} | {fmt_met(ic.target_met)} | "
                         f"{top} | {parts} |")
    return lines + [""]


def images_by_group(results: list, made: dict) -> dict:
    """Line plots go under the group of their first scenario, dot plots under their group."""
    images = defaultdict(list)
    placed = set()
    for r in results:
        plot = r.scenario.plot
        if plot and plot.plot in made["lines"] and plot.plot not in placed:
            images[r.scenario.group].append(made["lines"][plot.plot])
            placed.add(plot.plot)
    for group, path in made["dots"].items():
        images[group].append(path)
    return images


def write(path: Path, machine: dict, options: dict, results: list, icounts: list,
          made: dict, notes: list) -> None:
    by_name = {ic.path.name: ic for ic in icounts}
    groups = defaultdict(list)
    for r in results:
        groups[r.scenario.group].append(r)
    images = images_by_group(results, made)
    lines = ["# Benchmarks", "",
             f"Generated by `make bench` (`python3 bench/run.py --build BUILD`) on "
             f"{machine['date']}; do not edit by hand, run it again. The raw figures of every "
             f"run are in `bench/results/latest.json`.", "",
             "## Machine", ""] + machine_table(machine)
    lines += ["", "## Method", "", METHOD.format(**options), "",
              "## Summary", ""] + summary_table(results, by_name) + [""]
    for group, members in groups.items():
        lines += group_section(group, members, by_name, images, path.parent)
    if icounts:
        lines += icount_section(icounts)
    if notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in notes] + [""]
    lines += ["## Adding a scenario", "", HOW_TO_ADD, ""]
    path.write_text("\n".join(lines))
