"""Presenting results: number formatting, the terminal table, and the JSON result file."""

import json
import statistics
from pathlib import Path
from typing import Optional


def fmt(value: Optional[float]) -> str:
    """Three significant figures, without exponent notation for everyday magnitudes."""
    if value is None:
        return "-"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def fmt_ratio(ratio: Optional[float]) -> str:
    # Four significant figures, so that a ratio just under a target such as 0.5x does not
    # print as 0.500x.
    return "-" if ratio is None else f"{ratio:#.4g}x"


def fmt_met(met: Optional[bool]) -> str:
    return {True: "yes", False: "NO", None: "-"}[met]


def fmt_spread(side) -> str:
    """'median [min-max]' of one side, or '-' when it has no figures."""
    if side is None or not side.values:
        return "-"
    return f"{fmt(side.median)} [{fmt(side.min)}-{fmt(side.max)}]"


def icount_of(result, icounts: dict) -> Optional[float]:
    name = result.scenario.icount
    found = icounts.get(name) if name else None
    return found.per_op if found and not found.error else None


def table(rows: list, header: list) -> str:
    """A plain-text table with columns padded to their widest cell."""
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]
    line = lambda row: "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths))
    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule] + [line(row) for row in rows])


def terminal_table(results: list, icounts: dict) -> str:
    header = ["scenario", "unit", "subject median [min-max]", "baseline median [min-max]",
              "ratio", "instr/op", "target", "met"]
    rows = []
    for r in results:
        sc = r.scenario
        if not r.ok:
            rows.append([sc.name, sc.unit, f"FAILED: {r.error}", "", "", "", sc.target or "", ""])
            continue
        rows.append([sc.name, sc.unit, fmt_spread(r.subject), fmt_spread(r.baseline),
                     fmt_ratio(r.ratio), fmt(icount_of(r, icounts)), sc.target or "-",
                     fmt_met(r.target_met)])
    return table(rows, header)


def also_stats(side, key: str) -> Optional[tuple]:
    """(median, min, max) over the runs of field `key` (Scenario.also) of one side, or None."""
    values = side.also(key) if side is not None else []
    if not values:
        return None
    return statistics.median(values), min(values), max(values)


def also_rows(results: list) -> list:
    """[scenario name, figure label, subject stats, baseline stats, ratio] for every field a
    scenario summarises besides its figure (Scenario.also); stats as also_stats."""
    rows = []
    for r in results:
        for key, label in r.scenario.also.items():
            subject, baseline = also_stats(r.subject, key), also_stats(r.baseline, key)
            if subject is None and baseline is None:
                continue
            ratio = subject[0] / baseline[0] if subject and baseline and baseline[0] else None
            rows.append([r.scenario.name, label, subject, baseline, ratio])
    return rows


def also_table(results: list) -> str:
    spread = lambda s: "-" if s is None else f"{fmt(s[0])} [{fmt(s[1])}-{fmt(s[2])}]"
    rows = [[name, label, spread(subject), spread(baseline), fmt_ratio(ratio)]
            for name, label, subject, baseline, ratio in also_rows(results)]
    if not rows:
        return ""
    return table(rows, ["scenario", "figure", "subject median [min-max]",
                        "baseline median [min-max]", "ratio"])


def icount_net_rows(icounts: list) -> list:
    """For paths that set some functions apart (checksum, copy): [name, total, excluded, net,
    target, met, top functions of the net part, the "of which" parts]."""
    rows = []
    for ic in icounts:
        if ic.error or not ic.path.exclude:
            continue
        top = ", ".join(f"{fn} {cost:.1f}" for fn, _, cost in ic.top_net[:8])
        parts = ", ".join(f"{label} {cost:.1f}" for label, cost in ic.parts.items())
        target = f"<= {ic.path.target:g}" if ic.path.target is not None else "-"
        rows.append([ic.path.name, f"{ic.per_op:.1f}", f"{ic.per_op_excluded:.1f}",
                     f"{ic.per_op_net:.1f}", target, fmt_met(ic.target_met), top, parts])
    return rows


def icount_table(icounts: list) -> str:
    header = ["path", "instr/op", "in ustack", "bench loop", "other", "top functions (instr/op)"]
    rows = []
    for ic in icounts:
        if ic.error:
            rows.append([ic.path.name, f"FAILED: {ic.error}", "", "", "", ""])
            continue
        top = ", ".join(f"{fn} {cost:.1f}" for fn, _, cost in ic.top[:4])
        rows.append([ic.path.name, f"{ic.per_op:.1f}", f"{ic.per_op_ustack:.1f}",
                     f"{ic.per_op_bench:.1f}", f"{ic.per_op_other:.1f}", top])
    text = table(rows, header)
    net = icount_net_rows(icounts)
    if net:
        text += "\n\n" + table([row[:6] for row in net],
                               ["path", "instr/op", "csum+copy", "net", "target", "met"])
        for row in net:
            text += f"\n  {row[0]}: top (net) {row[6]}" + (f"\n    of which: {row[7]}"
                                                           if row[7] else "")
    return text


def side_json(side) -> Optional[dict]:
    if side is None:
        return None
    stats = {"median": side.median, "min": side.min, "max": side.max} if side.values else {}
    return {"label": side.label, "how": side.how, "runs": side.values, **stats,
            "extra": side.extra, "run_fields": side.extras}


def scenario_json(r, icounts: dict) -> dict:
    sc = r.scenario
    return {
        "name": sc.name, "group": sc.group, "title": sc.title, "unit": sc.unit,
        "better": sc.better, "target": sc.target, "conditions": sc.full_conditions(),
        "cpus": sc.cpus, "error": r.error,
        "subject": side_json(r.subject), "baseline": side_json(r.baseline),
        "ratio": r.ratio, "target_met": r.target_met,
        "icount": sc.icount, "instructions_per_op": icount_of(r, icounts),
    }


def icount_json(ic) -> dict:
    return {
        "name": ic.path.name, "command": ic.path.command, "ops": ic.path.ops,
        "note": ic.path.note, "error": ic.error or None,
        "instructions_per_op": ic.per_op, "ustack": ic.per_op_ustack,
        "bench_loop": ic.per_op_bench, "other": ic.per_op_other,
        "top": [{"function": fn, "file": file, "per_op": cost} for fn, file, cost in ic.top],
        "function": ic.path.function, "exclude": ic.path.exclude,
        "excluded": ic.per_op_excluded if ic.path.exclude else None,
        "net": ic.per_op_net if ic.path.exclude else None,
        "top_net": [{"function": fn, "file": file, "per_op": cost}
                    for fn, file, cost in ic.top_net],
        "parts": ic.parts, "target": ic.path.target, "target_met": ic.target_met,
        "extra": ic.extra,
    }


def write_json(path: Path, machine: dict, options: dict, results: list, icounts: list) -> None:
    by_name = {ic.path.name: ic for ic in icounts}
    document = {
        "machine": machine,
        "options": options,
        "scenarios": [scenario_json(r, by_name) for r in results],
        "icounts": [icount_json(ic) for ic in icounts],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
