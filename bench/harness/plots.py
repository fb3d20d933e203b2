"""Plots with gnuplot (PNG): figures against a parameter, and the spread of every run.

  line plots   one per PlotPoint.plot name: each side is a line through its medians at each x,
               with bars from min to max (e.g. checksum and memcpy GB/s against buffer size);
  dot plots    one per scenario group: every run of every side as a dot, the median as a bar,
               so the spread (and any outlier) is visible at a glance.
"""

import re
import subprocess
from collections import defaultdict
from pathlib import Path

COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
# noenhanced: underscores in names such as csum_partial are not subscripts.
TERMINAL = "set terminal pngcairo noenhanced size 900,520 font 'DejaVu Sans,10'"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def gnuplot_quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def run_gnuplot(script: str) -> None:
    proc = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"gnuplot failed: {proc.stderr.strip()}")


def sides_of(result) -> list:
    """(index, side result) for the sides that have figures: 0 subject, 1 baseline."""
    sides = [result.subject, result.baseline]
    return [(i, side) for i, side in enumerate(sides) if side is not None and side.values]


def line_plot(name: str, results: list, data_dir: Path, out: Path) -> None:
    """Medians with min-max bars against each scenario's PlotPoint.x, one line per side label."""
    series = defaultdict(list)      # side label -> [(x, median, min, max, xtick)]
    for r in results:
        for _, side in sides_of(r):
            point = r.scenario.plot
            series[side.label].append((point.x, side.median, side.min, side.max,
                                       point.xtick or str(point.x)))
    first = results[0].scenario
    plots = []
    for n, (label, points) in enumerate(series.items()):
        data = data_dir / f"line-{slug(name)}-{n}.dat"
        data.write_text("".join(f"{x} {med} {lo} {hi} \"{tick}\"\n"
                                for x, med, lo, hi, tick in sorted(points)))
        plots.append(f"{gnuplot_quote(str(data))} using 1:2:3:4:xtic(5) with yerrorlines "
                     f"lw 2 pt 7 ps 0.8 lc rgb '{COLOURS[n % len(COLOURS)]}' "
                     f"title {gnuplot_quote(label)}")
    script = "\n".join([
        TERMINAL, f"set output {gnuplot_quote(str(out))}",
        f"set title {gnuplot_quote(name + ' (medians; bars: min to max)')}",
        f"set xlabel {gnuplot_quote(first.plot.xlabel)}",
        f"set ylabel {gnuplot_quote(f'{first.unit} ({first.better} is better)')}",
        "set logscale x 2" if first.plot.logx else "",
        "set grid ytics", "set key top left", "set yrange [0:*]",
        "set offsets graph 0.03, graph 0.03, 0, 0",
        "plot " + ", \\\n     ".join(plots), ""])
    run_gnuplot(script)


def legend_labels(results: list) -> dict:
    """Side index -> legend text: the sides' own label where the whole group shares it."""
    labels = {}
    for s, generic in ((0, "ustack"), (1, "baseline")):
        names = {side.label for r in results for i, side in sides_of(r) if i == s}
        if names:
            labels[s] = names.pop() if len(names) == 1 else generic
    return labels


def dot_plot(group: str, results: list, data_dir: Path, out: Path) -> None:
    """Every run as a dot, medians as horizontal bars; subject left, baseline right of each tick."""
    labels = legend_labels(results)
    shift = 0.17 if len(labels) > 1 else 0.0
    dots = data_dir / f"dots-{slug(group)}.dat"
    medians = data_dir / f"medians-{slug(group)}.dat"
    values = []
    with dots.open("w") as fd, medians.open("w") as fm:
        for i, r in enumerate(results):
            for s, side in sides_of(r):
                x = i + (-shift if s == 0 else shift)
                for run, value in enumerate(side.values):
                    jitter = (run - (len(side.values) - 1) / 2) * 0.025
                    fd.write(f"{s} {x + jitter} {value}\n")
                    values.append(value)
                fm.write(f"{s} {x} {side.median}\n")
    ticks = ", ".join(f"{gnuplot_quote(short_name(r.scenario))} {i}" for i, r in enumerate(results))
    units = sorted({r.scenario.unit for r in results})
    log_y = values and min(values) > 0 and max(values) / min(values) > 30
    plots = []
    for s, label in sorted(labels.items()):
        colour = COLOURS[s]
        plots.append(f"{gnuplot_quote(str(dots))} using ($1=={s}?$2:1/0):3 with points pt 7 "
                     f"ps 0.6 lc rgb '{colour}' title {gnuplot_quote(label + ', each run')}")
        plots.append(f"{gnuplot_quote(str(medians))} using ($1=={s}?$2:1/0):3:(0.12) "
                     f"with xerrorbars pt -1 lw 2 lc rgb '{colour}' "
                     f"title {gnuplot_quote(label + ', median')}")
    script = "\n".join([
        TERMINAL, f"set output {gnuplot_quote(str(out))}",
        f"set title {gnuplot_quote(group + ': every run')}",
        f"set ylabel {gnuplot_quote(' / '.join(units))}",
        f"set xtics ({ticks})" + (" rotate by 30 right" if len(results) > 4 else ""),
        f"set xrange [-0.6:{len(results) - 0.4}]",
        "set logscale y" if log_y else "set yrange [0:*]",
        "set grid ytics", "set key outside bottom center horizontal",
        "plot " + ", \\\n     ".join(plots), ""])
    run_gnuplot(script)


def short_name(scenario) -> str:
    """The scenario name without its group prefix ("pool/alloc-free" -> "alloc-free")."""
    return scenario.name.split("/", 1)[-1]


def make_all(results: list, img_dir: Path, data_dir: Path) -> dict:
    """Draws every plot; returns {"lines": {plot name: path}, "dots": {group: path}}."""
    img_dir.mkdir(parents=True, exist_ok=True)
    made = {"lines": {}, "dots": {}}
    ok = [r for r in results if r.ok]
    by_plot, by_group = defaultdict(list), defaultdict(list)
    for r in ok:
        by_group[r.scenario.group].append(r)
        if r.scenario.plot:
            by_plot[r.scenario.plot.plot].append(r)
    for name, members in by_plot.items():
        out = img_dir / f"bench-{slug(name)}.png"
        line_plot(name, members, data_dir, out)
        made["lines"][name] = out
    for group, members in by_group.items():
        out = img_dir / f"bench-runs-{slug(group)}.png"
        dot_plot(group, members, data_dir, out)
        made["dots"][group] = out
    remove_stale(img_dir, set(made["lines"].values()) | set(made["dots"].values()))
    return made


def remove_stale(img_dir: Path, keep: set) -> None:
    """Deletes our plots (bench-*.png) of scenarios or groups that no longer exist."""
    for old in img_dir.glob("bench-*.png"):
        if old not in keep:
            old.unlink()
