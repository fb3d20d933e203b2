"""The benchmark scenarios: what `make bench` measures, against what, and to which target.

Add a scenario by appending to SCENARIOS (see harness/model.py for every field, and the
"Adding a scenario" section of docs/benchmarks.md). Keep like with like: both sides pinned the
same way, polling the same way, doing the same amount of work per operation.
"""

from harness.model import IcountPath, PlotPoint, Scenario, Side, program

# Single-threaded microbenchmarks run on vCPU 1 (vCPU 0 takes most interrupts and housekeeping).
ONE_CPU = "1"

POOL_CONDITIONS = ("one thread, nothing else running in the process; a pool of 4096 buffers "
                   "of 2 KiB (128 B headroom); malloc asks glibc for 2048 bytes, too big for "
                   "its per-thread cache (tcache stops at 1032 B)")

TIMER_CONDITIONS = ("16384 timers, all armed (arm-cancel: half) at any time; deadlines drawn "
                    "log-uniformly from bands 50 us-4 ms, 4 ms-1 s, 1 s-2 min and 2 min-2 h, so "
                    "they land on wheel levels 0 to 4 (65.5 us ticks); the clock stands still")

TIMER_FIRE_CONDITIONS = ("16384 timers, all armed, deadlines log-uniform in 50 us-4 ms and "
                         "4 ms-1 s (levels 0 to 2); each callback re-arms its timer; the clock "
                         "moves 50 us per advance() call")

CSUM_CONDITIONS = ("the same page-aligned buffers of random bytes reused call after call: up to "
                   "256 KiB they stay in L1/L2 (48 KiB / 1 MiB per core), 1 MiB spills to L3, "
                   "64 MiB is out of cache (a Zen 5 CCD has 32 MiB of L3; the VM reports the "
                   "host's 508 MiB total); GB/s = buffer bytes x calls / time (for memcpy the "
                   "bytes copied); the checksum uses the implementation the library picks for "
                   "this CPU")


def reference_scenarios() -> list:
    return [
        Scenario(name="reference/spin", group="Machine reference",
                 title="one step of a dependent multiply-add chain (4 cycles on Zen)",
                 unit="ns/op", better="lower", cpus=ONE_CPU,
                 subject=Side("imul+add chain", program("bench_base", "spin")),
                 conditions="no memory traffic at all: this measures how fast the vCPU runs "
                            "during this benchmark run; when the host is busy this and every "
                            "other timing slow down together"),
    ]


def pool_scenarios() -> list:
    both = dict(group="Packet pool", unit="ns/op", better="lower", target="<= 15 ns/op",
                cpus=ONE_CPU, conditions=POOL_CONDITIONS)
    return [
        Scenario(name="pool/alloc-free", title="allocate one packet, free it again",
                 subject=Side("pkt_alloc+pkt_free", program("bench_base", "pkt-alloc-free")),
                 baseline=Side("malloc(2048)+free",
                               program("bench_base", "malloc-free", size=2048)),
                 icount="pkt_alloc+pkt_free", **both),
        Scenario(name="pool/alloc-free-burst32",
                 title="allocate 32 packets, then free the 32 (per packet)",
                 subject=Side("pkt_alloc+pkt_free",
                              program("bench_base", "pkt-alloc-free-burst", burst=32)),
                 baseline=Side("malloc(2048)+free",
                               program("bench_base", "malloc-free-burst", burst=32, size=2048)),
                 icount="pkt_alloc+pkt_free, bursts of 32", **both),
    ]


def timer_scenarios() -> list:
    both = dict(group="Timer wheel", unit="ns/op", better="lower", cpus=ONE_CPU)
    return [
        Scenario(name="timer/arm-cancel",
                 title="arm one timer and cancel another (per pair)",
                 subject=Side("timer_arm+timer_cancel",
                              program("bench_base", "timer-arm-cancel")),
                 target="<= 30 ns/op", icount="timer_arm+timer_cancel",
                 conditions=TIMER_CONDITIONS, **both),
        Scenario(name="timer/rearm",
                 title="move an armed timer to a new deadline (TCP restarting its RTO)",
                 subject=Side("timer_arm (armed)", program("bench_base", "timer-rearm")),
                 target="<= 30 ns/op", icount="timer_arm of an armed timer",
                 conditions=TIMER_CONDITIONS, **both),
        Scenario(name="timer/arm-fire",
                 title="a timer's life: armed, cascaded, fired by advance() "
                       "(clock in 50 us steps; per fired timer)",
                 subject=Side("arm+advance+fire", program("bench_base", "timer-arm-fire")),
                 icount="timer arm+advance+fire", conditions=TIMER_FIRE_CONDITIONS, **both),
    ]


# (bytes, short name): the four sizes of the targets, and enough in between for a curve.
CSUM_SIZES = [(64, "64"), (256, "256"), (1500, "1500"), (4096, "4K"), (16384, "16K"),
              (65536, "64K"), (262144, "256K"), (1048576, "1M"), (67108864, "64M")]


def human_size(size: int) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} B"


def csum_scenarios(kind: str) -> list:
    """csum_partial (kind "csum") or csum_copy (kind "csum-copy") against memcpy, every size."""
    function = "csum_partial" if kind == "csum" else "csum_copy"
    group = ("Checksum: csum_partial vs memcpy" if kind == "csum"
             else "Checksum while copying: csum_copy vs memcpy")
    plot = f"{function} and memcpy throughput against buffer size"
    return [
        Scenario(name=f"{kind}/{tick}", group=group,
                 title=f"{function} of a {human_size(size)} buffer",
                 unit="GB/s", better="higher", target=">= 0.5x baseline", cpus=ONE_CPU,
                 subject=Side(function, program("bench_csum", kind, size=size)),
                 baseline=Side("memcpy", program("bench_csum", "memcpy", size=size)),
                 conditions=CSUM_CONDITIONS,
                 plot=PlotPoint(plot, x=size, xtick=tick, xlabel="buffer size (bytes)",
                                logx=True))
        for size, tick in CSUM_SIZES
    ]


SCENARIOS = reference_scenarios() + pool_scenarios() + timer_scenarios() + csum_scenarios("csum") + \
    csum_scenarios("csum-copy")

# Code paths whose instructions per operation callgrind counts (exact, unlike time).
ICOUNTS = [
    IcountPath("pkt_alloc+pkt_free", ["{build}/bench/bench_base", "pkt-alloc-free"], 100_000,
               "one packet at a time"),
    IcountPath("pkt_alloc+pkt_free, bursts of 32",
               ["{build}/bench/bench_base", "pkt-alloc-free-burst", "burst=32"], 102_400,
               "32 allocations then 32 frees; per packet"),
    IcountPath("malloc(2048)+free", ["{build}/bench/bench_base", "malloc-free", "size=2048"],
               100_000, "glibc, the pool's baseline"),
    IcountPath("timer_arm+timer_cancel", ["{build}/bench/bench_base", "timer-arm-cancel"],
               100_000, "deadlines on levels 0-4, 8192 timers armed"),
    IcountPath("timer_arm of an armed timer", ["{build}/bench/bench_base", "timer-rearm"],
               100_000, "unlink and place again"),
    IcountPath("timer arm+advance+fire", ["{build}/bench/bench_base", "timer-arm-fire"],
               200_000, "per fired timer: advance() every 50 us, callback re-arms"),
    IcountPath("csum_partial, 1500 B", ["{build}/bench/bench_csum", "csum", "size=1500"],
               20_000, "per call; the implementation valgrind's CPU gets"),
    IcountPath("csum_partial, 64 B", ["{build}/bench/bench_csum", "csum", "size=64"],
               100_000, "per call; the implementation valgrind's CPU gets"),
    IcountPath("csum_partial, 1500 B, generic",
               ["{build}/bench/bench_csum", "csum", "size=1500", "impl=generic"],
               20_000, "per call; the portable C version"),
    IcountPath("csum_copy, 1500 B", ["{build}/bench/bench_csum", "csum-copy", "size=1500"],
               20_000, "per call; the implementation valgrind's CPU gets"),
]
