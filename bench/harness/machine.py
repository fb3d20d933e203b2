"""A description of the machine, the toolchain and the source tree that produced the figures."""

import datetime
import os
import platform
import re
import subprocess
from pathlib import Path

from .callgrind import valgrind_version

NOISE_NOTE = ("This is a virtual machine on shared hardware: other tenants' load makes timings "
              "vary from run to run, so every figure is the median of interleaved runs and "
              "ustack is always compared with a baseline measured in the same run. Instruction "
              "counts (callgrind) do not depend on the load.")


def _output(argv: list, cwd=None) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=cwd)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    match = re.search(r"^model name\s*:\s*(.*)$", text, re.M)
    family = re.search(r"^cpu family\s*:\s*(\d+)", text, re.M)
    model = match.group(1).strip() if match else "unknown"
    return f"{model} (family {family.group(1)})" if family else model


def cpu_features() -> str:
    """The vector extensions that matter for checksums and copies."""
    try:
        flags = re.search(r"^flags\s*:\s*(.*)$", Path("/proc/cpuinfo").read_text(), re.M)
    except OSError:
        return ""
    have = set(flags.group(1).split()) if flags else set()
    wanted = ["sse4_2", "avx2", "avx512f", "avx512bw", "avx512vl", "erms", "fsrm"]
    return " ".join(flag for flag in wanted if flag in have)


def memory() -> str:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return "unknown"
    match = re.search(r"^MemTotal:\s*(\d+) kB", text, re.M)
    return f"{int(match.group(1)) / 1024 / 1024:.1f} GiB" if match else "unknown"


def load_average() -> float:
    """The 1-minute load average: other work competing with the benchmarks for the vCPUs."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return -1.0


def cmake_cache(build: Path) -> dict:
    cache = {}
    try:
        for line in (build / "CMakeCache.txt").read_text().splitlines():
            match = re.match(r"^([A-Za-z_0-9]+):[A-Z]+=(.*)$", line)
            if match:
                cache[match.group(1)] = match.group(2)
    except OSError:
        pass
    return cache


def compiler(build: Path) -> str:
    cc = cmake_cache(build).get("CMAKE_C_COMPILER", "cc")
    first = _output([cc, "--version"]).splitlines()
    return first[0] if first else cc


def git_commit(source_root: Path) -> str:
    commit = _output(["git", "rev-parse", "--short=12", "HEAD"], cwd=source_root) or "unknown"
    dirty = _output(["git", "status", "--porcelain", "--untracked-files=no"], cwd=source_root)
    return commit + (" (with uncommitted changes)" if dirty else "")


def describe(build: Path, source_root: Path) -> dict:
    cache = cmake_cache(build)
    return {
        "cpu": cpu_model(),
        "cpu_features": cpu_features(),
        "vcpus": os.cpu_count(),
        "kernel": platform.release(),
        "memory": memory(),
        "os": _os_name(),
        "compiler": compiler(build),
        "build_type": cache.get("CMAKE_BUILD_TYPE", "unknown"),
        "c_flags": _build_flags(cache),
        "glibc": os.confstr("CS_GNU_LIBC_VERSION") or "unknown",
        "valgrind": valgrind_version(),
        "python": platform.python_version(),
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "commit": git_commit(source_root),
        "load_before": load_average(),
        "note": NOISE_NOTE,
    }


def _build_flags(cache: dict) -> str:
    build_type = cache.get("CMAKE_BUILD_TYPE", "").upper()
    flags = cache.get("CMAKE_C_FLAGS", "") + " " + cache.get(f"CMAKE_C_FLAGS_{build_type}", "")
    return " ".join(flags.split())


def _os_name() -> str:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return platform.system()
    match = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', text, re.M)
    return match.group(1) if match else platform.system()
