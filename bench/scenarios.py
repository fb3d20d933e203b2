"""The benchmark scenarios: what `make bench` measures, against what, and to which target.

Add a scenario by appending to SCENARIOS (see harness/model.py for every field, and the
"Adding a scenario" section of docs/benchmarks.md). Keep like with like: both sides pinned the
same way, polling the same way, doing the same amount of work per operation.
"""

from harness import apps, shm_tcp, tcp_bulk, udp_rtt
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
        Scenario(name="reference/syscall", group="Machine reference",
                 title="one getppid(2) system call, in and out of the kernel",
                 unit="ns/op", better="lower", cpus=ONE_CPU,
                 subject=Side("getppid", program("bench_base", "syscall")),
                 conditions="the cheapest system call: what every read, write, poll, sendto "
                            "and recvfrom of the network scenarios pays on top of its work; in "
                            "this VM it depends on the host (87 ns measured on a quiet one)"),
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


UDP_RTT_COMMON = ("64-byte UDP payload, one request at a time, every reply checked byte for "
                  "byte; %d round trips per run after %d of warm-up, the run's figure is their "
                  "median (p99 below); each run starts its server afresh, so only one server "
                  "exists at a time; IPv6 off in the namespaces; MTU 1500" %
                  (udp_rtt.COUNT, udp_rtt.WARMUP))

UDP_RTT_SPIN_NOTE = (
    "`ustack echo` waits in ust_poll(), which spins for spin_us before it would sleep: with "
    "spin_us=10000000 the server never sleeps between requests, and each spinning round is one "
    "readv(2) on the TAP descriptor that fails with EAGAIN (TAP has no shared ring to look at); "
    "spin_signals=0: the spin blocks no signals, so it makes no other system call (the kernel "
    "server's recv(MSG_DONTWAIT) loop has the same semantics: a signal runs its handler and the "
    "loop goes on)")


UDP_ECHO_TOOL = "UDP echo as ustack echo does it, 64 B"

# Besides the median: the tail, and where the time goes (per request, from /proc and getrusage).
UDP_RTT_ALSO = {
    "p99_us": "p99 round trip (us)",
    "server_cpu_us": "server's CPU time per request (us, /proc/PID/schedstat)",
    "server_sys_share": "share of it in the kernel (stime / (utime + stime))",
    "server_sleeps": "server's voluntary context switches (sleeps) per request",
    "server_preempted": "server's involuntary context switches (preempted) per request",
    "link_polls": "ustack's looks at the TAP link per request (stack.polls)",
    "link_empty_reads": "ustack's reads of the TAP link that found it empty per request "
                        "(tap.rx_empty: a failing readv(2) each)",
    "speculative_hits": "ustack's reads before a sleep that found the request per request "
                        "(stack.rx_speculative - rx_speculative_empty: a poll(2) saved each)",
    "client_cpu_us": "client's CPU time per request (us)",
    "client_sleeps": "client's sleeps per request",
}


def udp_rtt_scenarios() -> list:
    one, two = udp_rtt.Scenario(udp_rtt.ONE_CORE_BLOCKING), \
        udp_rtt.Scenario(udp_rtt.TWO_CORES_SPINNING)
    both = dict(group="UDP round trip: ustack<->kernel over TAP vs kernel<->kernel over veth",
                unit="us", better="lower", target="<= 1.0x baseline", also=UDP_RTT_ALSO,
                icount=UDP_ECHO_TOOL)
    sides = []
    for sc in (one, two):
        ustack, kernel = sc.sides()
        sides.append((Side("ustack echo over TAP", func=ustack),
                      Side("Linux UDP over veth", func=kernel)))
    return [
        Scenario(name="udp-rtt/1core-blocking",
                 title="64 B UDP request/response round trip, client and server on one vCPU, "
                       "both blocking",
                 subject=sides[0][0], baseline=sides[0][1], setup=one.setup,
                 teardown=one.teardown,
                 pins="client and server both pinned with taskset -c 1 (inside their "
                      "namespaces)",
                 conditions="blocking: client blocking recv (SO_RCVTIMEO 200 ms); ustack echo "
                            "with spin_us=0 (sleeps in poll(2) on the TAP fd); kernel server "
                            "blocking recvfrom; " + UDP_RTT_COMMON, **both),
        Scenario(name="udp-rtt/2core-spinning",
                 title="64 B UDP request/response round trip, client spinning on vCPU 0, "
                       "server on vCPU 1",
                 subject=sides[1][0], baseline=sides[1][1], setup=two.setup,
                 teardown=two.teardown,
                 pins="client pinned with taskset -c 0, server with taskset -c 1 (inside "
                      "their namespaces)",
                 conditions="spinning: client recv(MSG_DONTWAIT) in a loop; ustack echo with "
                            "--spin_us=%d; kernel server recvfrom(MSG_DONTWAIT) in a loop; "
                            % udp_rtt.SPIN_US + UDP_RTT_COMMON + "; " + UDP_RTT_SPIN_NOTE,
                 **both),
    ]


def shm_scenarios() -> list:
    return [
        Scenario(name="shm/pps-64", group="Shared-memory wire",
                 title="64-byte frames per second from one process to another over link/shm",
                 unit="Mpps", better="higher", target=">= 15 Mpps", cpus="0,1",
                 subject=Side("shm wire (tx_burst/rx_burst)",
                              program("shm_pps", "shm", size=64, burst=32, seconds=1)),
                 baseline=Side("plain SPSC ring, memcpy in and out",
                               program("shm_pps", "ring", size=64, burst=32, seconds=1)),
                 pins="sender pinned to vCPU 0 and receiver to vCPU 1 by the program itself",
                 conditions="both processes spin, never sleep; bursts of 32; the shm sender "
                            "allocates packets from its pool, writes 64 bytes and tx_burst "
                            "copies them into buffers the receiver posted; the receiver reads "
                            "every byte in place and frees them (which posts them back); 1024 "
                            "slots; the receiver times first to last frame over 1 s"),
    ]


SHM_TCP_ALSO = {"p99_us": "p99 round trip (us)"}

SHM_TCP_COMMON = ("one program (bench/shm_tcp.c) for both sides, the socket calls switched "
                  "between ust_* and the kernel's; it forks the server and pins both processes "
                  "itself; ustack: a stack per process on a fresh shm wire "
                  "(/dev/shm/ust-bench-tcp-PID, 1024 slots), private socket numbers "
                  "(private_fds=1: no kernel descriptor per socket, the program using only "
                  "ust_* calls), spin_signals=0 when spinning (no system call per spin, as the "
                  "kernel side's MSG_DONTWAIT loops), default options otherwise "
                  "(tcp_rmem = tcp_wmem = 1 MiB, cubic, timestamps, SACK); kernel: the host's "
                  "defaults")

SHM_RTT_COMMON = ("64-byte requests and replies on one connection per run, TCP_NODELAY on "
                  "both ends, one request at a time, each reply read whole and checked byte "
                  "for byte; 20,000 round trips per run after 2,000 of warm-up, the run's "
                  "figure is their median; MTU 1500 on the wire (loopback keeps its 65536)")


def shm_tcp_cmd(what: str, api: str, **params) -> list:
    return program("shm_tcp", what, api=api, **params)


def shm_tcp_scenarios() -> list:
    """ustack <-> ustack over the shared-memory wire against kernel <-> kernel (issue 5)."""
    group = "TCP between two processes: ustack<->ustack over shm vs kernel<->kernel"
    spin2 = dict(poll="spin", cores="0,1")
    block1 = dict(poll="block", cores="1,1")
    bulk = dict(poll="spin", cores="0,1", mtu=65535, bytes=1 << 30)
    veth = shm_tcp.VethPair("bulk", shm_tcp_cmd("bulk", "kernel", **bulk))

    def kernel_bulk(ctx):
        return veth.kernel(ctx)

    kernel_bulk.how = ("shm_tcp bulk api=kernel poll=spin cores=0,1 bytes=1073741824 "
                       "netns=KS,KC addr=.4 (server in namespace KS, client in KC, veth MTU "
                       "65535)")
    veth_side = Side("kernel over veth, MTU 65535", func=kernel_bulk)
    return [
        Scenario(name="shm-tcp/rtt-2core-spinning", group=group,
                 title="64 B TCP request/response round trip, client on vCPU 0, server on "
                       "vCPU 1, both spinning (target also <= 1.0 us)",
                 unit="us", better="lower", target="<= 0.2x baseline", also=SHM_TCP_ALSO,
                 subject=Side("ustack over shm", shm_tcp_cmd("rtt", "ustack", **spin2)),
                 baseline=Side("kernel over loopback", shm_tcp_cmd("rtt", "kernel", **spin2)),
                 pins="client pinned to vCPU 0, server to vCPU 1, by the program "
                      "(sched_setaffinity)",
                 conditions="spinning: every wait is a recv/send(MSG_DONTWAIT) loop on both "
                            "sides, ustack's and the kernel's (ustack's stacks also have "
                            "spin_us=10000000, so connect and accept spin too: no side ever "
                            "sleeps); " + SHM_RTT_COMMON + "; " + SHM_TCP_COMMON),
        Scenario(name="shm-tcp/rtt-1core-blocking", group=group,
                 title="64 B TCP request/response round trip, client and server on vCPU 1, "
                       "both blocking",
                 unit="us", better="lower", target="<= 1.0x baseline", also=SHM_TCP_ALSO,
                 subject=Side("ustack over shm", shm_tcp_cmd("rtt", "ustack", **block1)),
                 baseline=Side("kernel over loopback", shm_tcp_cmd("rtt", "kernel", **block1)),
                 pins="client and server both pinned to vCPU 1 by the program",
                 conditions="blocking: blocking recv and send on both sides (ustack: "
                            "spin_us=0, a waiting side sleeps in poll(2) on the wire's "
                            "doorbell FIFO and the peer writes it one byte; the kernel: "
                            "blocking recv on loopback); " + SHM_RTT_COMMON + "; " +
                            SHM_TCP_COMMON),
        Scenario(name="shm-tcp/bulk-64k-mtu", group=group,
                 title="single-stream bulk throughput, client sending to the server, MTU "
                       "about 64 KiB, both spinning",
                 unit="Gbit/s", better="higher", target=">= 2.0x baseline",
                 subject=Side("ustack over shm", shm_tcp_cmd("bulk", "ustack", **bulk)),
                 baseline=veth_side, setup=veth.setup, teardown=veth.teardown,
                 pins="client pinned to vCPU 0, server to vCPU 1, by the program",
                 conditions="spinning: the client writes 64 KiB with send(MSG_DONTWAIT) in a "
                            "loop, the server reads 64 KiB with recv(MSG_DONTWAIT) in a loop; "
                            "1 GiB per run, timed from the first send to the server's one-byte "
                            "answer after the last byte; ustack: the wire made with mtu=65458 "
                            "(the largest a 64 KiB wire buffer holds) and each stack's MTU "
                            "65386 (the largest a 64 KiB pool buffer holds), pool_buffers "
                            "2048; no checksum offload between the stacks (every segment is "
                            "summed on send and checked on receive); kernel: a veth pair with "
                            "MTU 65535 between two namespaces (the kernel skips checksums on "
                            "veth), .3 -> .4 of a 198.18.x.0/24; " + SHM_TCP_COMMON),
        Scenario(name="shm-tcp/conn-1core", group=group,
                 title="connections per second: connect, accept, one byte each way, close; "
                       "client and server on vCPU 1, blocking",
                 unit="conn/s", better="higher", target=">= 3.0x baseline",
                 subject=Side("ustack over shm", shm_tcp_cmd("conn", "ustack", **block1)),
                 baseline=Side("kernel over loopback", shm_tcp_cmd("conn", "kernel", **block1)),
                 pins="client and server both pinned to vCPU 1 by the program",
                 conditions="blocking calls on both sides; 20,000 connections one after the "
                            "other per run, figure = connections / time from the first "
                            "connect to the last close; the client connects, sends one byte, "
                            "reads the answer and end-of-stream, closes; the server accepts, "
                            "reads, answers and closes first (TIME_WAIT on the server, so the "
                            "client's ephemeral ports come free at once; ustack keeps a "
                            "112-byte TIME_WAIT entry, the kernel its timewait socket); "
                            "kernel over loopback (tcp_tw_reuse=2 by default there); " +
                            SHM_TCP_COMMON),
        Scenario(name="shm-tcp/conn-1core-one-thread", group=group,
                 title="connections per second: connect, accept, one byte each way, close; "
                       "client and server in one thread on vCPU 1, non-blocking",
                 unit="conn/s", better="higher", target=">= 3.0x baseline",
                 subject=Side("ustack over shm", shm_tcp_cmd("conn", "ustack", procs=1,
                                                             cores="1,1")),
                 baseline=Side("kernel over loopback", shm_tcp_cmd("conn", "kernel", procs=1,
                                                                   cores="1,1")),
                 pins="one process pinned to vCPU 1 by the program",
                 conditions="one thread drives both ends with non-blocking sockets: connect, "
                            "accept, send and recv (MSG_DONTWAIT) retried until they succeed; "
                            "ustack: two stacks in the one process on the two sides of one shm "
                            "wire, and while one end waits the thread polls the other end's "
                            "stack (ust_stack_poll), as the kernel's loopback does the peer's "
                            "work inside the sender's system call; no system call on ustack's "
                            "path except the eventfd each socket is (made and closed: 4 per "
                            "connection); 20,000 connections per run, the server closes first "
                            "(TIME_WAIT on the server); " + SHM_TCP_COMMON),
    ]


TCP_RTT_COMMON = ("64-byte requests and replies on one TCP connection per run (TCP_NODELAY on "
                  "the kernel's ends), one request at a time, every reply read whole and "
                  "checked byte for byte; %d round trips per run after %d of warm-up, the "
                  "run's figure is their median (p99 below); each run starts its server afresh; "
                  "IPv6 off in the namespaces; MTU 1500; the TAP device keeps its default "
                  "offloads" % (udp_rtt.COUNT, udp_rtt.WARMUP))

TCP_RTT_ALSO = dict(UDP_RTT_ALSO)
TCP_RTT_ALSO.update({
    "server_wait_us": "server's time runnable but waiting for its vCPU per request (us, "
                      "other work on the machine)",
    "tcp_out_segs": "segments ustack sent per request (tcp.out_segs: 1 = every ACK piggybacked)",
    "tcp_in_segs": "segments ustack received per request (tcp.in_segs)",
})


def tcp_rtt_scenarios() -> list:
    one, two = udp_rtt.Scenario(udp_rtt.TCP_ONE_CORE_BLOCKING), \
        udp_rtt.Scenario(udp_rtt.TCP_TWO_CORES_SPINNING)
    both = dict(group="TCP round trip: ustack<->kernel over TAP vs kernel<->kernel over veth",
                unit="us", better="lower", target="<= 1.0x baseline", also=TCP_RTT_ALSO)
    sides = []
    for sc in (one, two):
        ustack, kernel = sc.sides()
        sides.append((Side("ustack echo (TCP) over TAP", func=ustack),
                      Side("Linux TCP over veth", func=kernel)))
    return [
        Scenario(name="tcp-rtt/1core-blocking",
                 title="64 B TCP request/response round trip, client and server on one vCPU, "
                       "both blocking",
                 subject=sides[0][0], baseline=sides[0][1], setup=one.setup,
                 teardown=one.teardown,
                 pins="client and server both pinned with taskset -c 1 (inside their "
                      "namespaces)",
                 conditions="blocking: client blocking recv (SO_RCVTIMEO %d ms: TCP loses "
                            "nothing, the timeout only guards against a hang); ustack echo "
                            "with spin_us=0 (sleeps in poll(2) on the TAP fd); kernel server "
                            "blocking recv; " % udp_rtt.TCP_TIMEOUT_MS + TCP_RTT_COMMON, **both),
        Scenario(name="tcp-rtt/2core-spinning",
                 title="64 B TCP request/response round trip, client spinning on vCPU 0, "
                       "server on vCPU 1",
                 subject=sides[1][0], baseline=sides[1][1], setup=two.setup,
                 teardown=two.teardown,
                 pins="client pinned with taskset -c 0, server with taskset -c 1 (inside "
                      "their namespaces)",
                 conditions="spinning: client recv(MSG_DONTWAIT) in a loop; ustack echo with "
                            "--spin_us=%d; kernel server recv(MSG_DONTWAIT) in a loop; "
                            % udp_rtt.SPIN_US + TCP_RTT_COMMON + "; " + UDP_RTT_SPIN_NOTE,
                 **both),
    ]


TCP_BULK_ALSO = {
    "server_cpu_share": "server's vCPU busy share during the transfer (/proc/PID/schedstat; "
                        "1 = never idle)",
    "server_wait_share": "share of the transfer the server was runnable but waiting for its "
                         "vCPU (other work on the machine)",
    "server_ns_per_kib": "server's process CPU time per KiB (ns; ustack's includes all its "
                         "protocol work, the kernel's much less: its receive processing runs "
                         "in softirq context, largely charged to the sending side)",
    "server_sys_share": "share of the server's CPU time in the kernel",
    "client_cpu_share": "client's vCPU busy share (its own process time)",
    "rx_frames_per_mib": "frames ustack received per MiB (stack.rx_frames; 1 MiB / 1448 B = "
                         "724 without receive offload)",
    "tx_frames_per_mib": "frames ustack sent per MiB (stack.tx_frames)",
    "retrans_segs": "segments ustack retransmitted (tcp.retrans_segs)",
}

TCP_BULK_COMMON = ("one connection per run carrying %d MiB (the client times from "
                   "establishment to the end of the stream); MTU 1500; every interface keeps "
                   "its default offloads (veth: TSO and GSO on; the TAP device: what ustack's "
                   "TAP link asks for, with IFF_VNET_HDR; whether ustack sends segmentation-"
                   "offload super-frames shows in its frames per MiB below: about 724 means one "
                   "frame per 1448-byte segment, i.e. none); ustack's default "
                   "buffers (tcp_rmem = tcp_wmem = 1 MiB) against the kernel's defaults "
                   "(autotuned); the kernel's congestion control is the namespaces' default "
                   "(bbr on this machine; ustack sends with cubic); server: `ustack echo ... --no-hash` or `tcp_bulk server`, "
                   "blocking / polling as each does (ustack echo sleeps in ust_poll), reads and "
                   "writes of 64 KiB, no hashing; client: kernel socket, 128 KiB writes or "
                   "reads; IPv6 off in the namespaces. The paths differ in copies: "
                   "kernel to kernel over veth, each byte is copied twice (sender's buffer "
                   "into an skb, skb into the receiver's buffer; veth passes the skb on); "
                   "through TAP three times (the TAP device's read() or write() copies "
                   "between ustack's packet buffer and an skb, on top of ustack's own copy "
                   "to or from the application), and the kernel's TCP work on the far side "
                   "runs inside ustack's write() to the device" % (tcp_bulk.BYTES >> 20))


def tcp_bulk_scenarios() -> list:
    to_server, from_server = tcp_bulk.Scenario(tcp_bulk.TO_SERVER), \
        tcp_bulk.Scenario(tcp_bulk.FROM_SERVER)
    both = dict(group="TCP bulk throughput: ustack<->kernel over TAP vs kernel<->kernel over "
                      "veth",
                unit="Gbit/s", better="higher", target=">= 1.0x baseline", also=TCP_BULK_ALSO,
                pins=f"client pinned with taskset -c {tcp_bulk.CLIENT_CPU}, server with "
                     f"taskset -c {tcp_bulk.SERVER_CPU} (inside their namespaces), as iperf3 "
                     f"-A 0,1", conditions=TCP_BULK_COMMON)
    result = []
    for sc, name, title, ulabel, klabel in (
            (to_server, "tcp-bulk/to-ustack",
             "single-stream bulk, kernel client sending to the server (ustack receives)",
             "kernel -> ustack echo --discard", "kernel -> kernel (tcp_bulk --discard)"),
            (from_server, "tcp-bulk/from-ustack",
             "single-stream bulk, the server sending to the kernel client (ustack sends)",
             "ustack echo --source -> kernel", "kernel (tcp_bulk --source) -> kernel")):
        ustack, kernel = sc.sides()
        result.append(Scenario(name=name, title=title, subject=Side(ulabel, func=ustack),
                               baseline=Side(klabel, func=kernel), setup=sc.setup,
                               teardown=sc.teardown, **both))
    return result


TCP_MEM_ALSO = {
    "heap_per_conn": "heap per connection (B, mallinfo2: what malloc handed out, its chunk "
                     "headers included)",
    "rss_per_conn": "user memory per connection (B, resident set)",
    "kernel_slab_per_conn": "kernel slab per connection (B, filp + eventfd_ctx in "
                            "/proc/slabinfo, whole machine: approximate)",
    "kernel_fdtable_per_conn": "kernel descriptor table per connection (B, computed from "
                               "fs/file.c's layout for the highest descriptor)",
    "with_kernel_per_conn": "user + kernel per connection (B): the figure",
    "conns": "connections held (all checked ESTABLISHED and idle)",
    "sizeof_tcb": "sizeof(struct tcb)",
    "sizeof_sock": "a stream socket's allocation (B, SOCK_STREAM_SIZE)",
    "open_s": "time to open them all (s)",
}

TCP_MEM_COMMON = ("one stack on a loop link with a fake clock (no timer fires), a scripted "
                  "peer opening or accepting the connections with Linux's options (MSS, "
                  "SACK-permitted, timestamps, window scale), in batches of 256; nothing "
                  "sent or received after the handshake, so every buffer is empty (checked: "
                  "ESTABLISHED, nothing unread, unsent or unacknowledged, no packet buffer "
                  "held); figure = (resident set after - before, from /proc/self/statm, + the "
                  "kernel's slab and descriptor table growth) / connections, the first batch "
                  "of 256 opened before measuring (pages touched once for all); max_sockets "
                  "raised to the count + 64, somaxconn 65535; 4 listening ports; memory is "
                  "deterministic, so %s")


def tcp_mem_scenarios() -> list:
    both = dict(group="TCP memory per idle established connection", unit="B/conn",
                better="lower", target="<= 1024 B/conn", also=TCP_MEM_ALSO, cpus=ONE_CPU,
                max_runs=3, warmup=False)
    runs = "three runs, no warm-up round"
    return [
        Scenario(name="tcp-mem/idle-100k-queued",
                 title="100,000 idle established connections held by one stack, not accepted "
                       "(on the listeners' accept queues: connection state only)",
                 subject=Side("tcb on the accept queue",
                              program("bench_tcpmem", "queued", conns=100000)),
                 conditions=TCP_MEM_COMMON % runs, **both),
        Scenario(name="tcp-mem/idle-accepted",
                 title="idle established connections, each accepted by the application "
                       "(tcb + socket + its descriptor, a duplicate of one placeholder "
                       "eventfd); 100,000 asked, as many as RLIMIT_NOFILE allows",
                 subject=Side("accepted socket",
                              program("bench_tcpmem", "accepted", conns=100000)),
                 conditions=(TCP_MEM_COMMON % runs) + "; every ustack socket's descriptor is "
                            "a kernel descriptor (a duplicate of one placeholder eventfd: a "
                            "descriptor table slot, no file of its own), so the count is "
                            "capped by RLIMIT_NOFILE when its hard limit cannot be raised "
                            "(raising it needs CAP_SYS_RESOURCE; see 'connections held')",
                 **both),
        Scenario(name="tcp-mem/idle-100k-accepted-private",
                 title="100,000 idle established connections, each accepted by the "
                       "application, sockets numbered from the stack's private space "
                       "(option private_fds: tcb + socket, no kernel descriptor)",
                 subject=Side("accepted socket, private number",
                              program("bench_tcpmem", "accepted", conns=100000,
                                      fds="private")),
                 conditions=(TCP_MEM_COMMON % runs) + "; private_fds=1: socket numbers from "
                            "2^20 up, above any kernel descriptor, so RLIMIT_NOFILE does not "
                            "cap them (for programs using the ust_* API; ustack run keeps "
                            "kernel descriptors)", **both),
        Scenario(name="tcp-mem/idle-100k-connected-private",
                 title="100,000 idle established connections the application opened with "
                       "connect(), private socket numbers (option private_fds)",
                 subject=Side("connected socket, private number",
                              program("bench_tcpmem", "connected", conns=100000,
                                      fds="private")),
                 conditions=(TCP_MEM_COMMON % runs) + "; ephemeral ports 1024-65535; "
                            "private_fds=1 as for idle-100k-accepted-private", **both),
        Scenario(name="tcp-mem/idle-connected",
                 title="idle established connections the application opened with connect(); "
                       "100,000 asked, as many as RLIMIT_NOFILE allows",
                 subject=Side("connected socket",
                              program("bench_tcpmem", "connected", conns=100000)),
                 conditions=(TCP_MEM_COMMON % runs) + "; ephemeral ports 1024-65535; "
                            "descriptors as for idle-accepted", **both),
    ]


REDIS_ALSO = {
    "p50_ms": "median latency (ms, redis-benchmark's)",
    "p99_ms": "p99 latency (ms)",
    "server_cpu_us": "redis-server's CPU time per request (us, all its threads: under ustack "
                     "the bottom half too; /proc/PID/task/*/schedstat)",
    "server_sys_share": "share of it in the kernel (stime / (utime + stime))",
    "server_sleeps": "redis-server's sleeps (voluntary context switches) per request",
    "server_wait_us": "redis-server's time runnable but waiting for its vCPU per request (us)",
    "client_cpu_us": "redis-benchmark's CPU time per request (us)",
    "client_sys_share": "share of it in the kernel",
}

REDIS_COMMON = ("redis-server %s (Debian's) with no persistence, started afresh for each run "
                "from an RDB file holding the key redis-benchmark's GET asks for; "
                "redis-benchmark -c %d -n %d -P 1 (one request per client at a time; --quick: "
                "-n %d), one test per run (-t set or -t get: 3-byte values, every GET a hit); "
                "both programs block in epoll_wait (ustack: spin_us=0, the bottom half on, "
                "as `ustack run` defaults); IPv6 off in the namespaces; MTU 1500")

IPERF_ALSO = {
    "client_cpu_share": "iperf3 client's CPU use (its own report: share of one vCPU)",
    "server_cpu_share": "iperf3 server's CPU use (the client's report of it)",
    "server_wait_share": "time the server was runnable but waiting for a vCPU, summed over its "
                         "threads (under ustack the bottom half too), per second of the run",
    "retransmits": "segments the sender retransmitted (the kernel's count; 0 when ustack sends)",
}


def app_scenarios() -> list:
    """Unmodified programs under `ustack run` (bench/harness/apps.py)."""
    pins = (f"servers pinned with taskset -c {apps.SERVER_CPU}, clients with taskset -c "
            f"{apps.CLIENT_CPU} (inside their namespaces; under ustack the bottom-half thread "
            f"shares its program's vCPU)")
    common = REDIS_COMMON % (apps.redis_version(), apps.REDIS_CLIENTS, apps.REDIS_REQUESTS,
                             apps.QUICK_REDIS_REQUESTS)
    result = []
    for cfg, target in ((apps.REDIS_TAP_SET, ">= 1.0x baseline"),
                        (apps.REDIS_TAP_GET, ">= 1.0x baseline"),
                        (apps.REDIS_SHM_SET, ">= 2.0x baseline"),
                        (apps.REDIS_SHM_GET, ">= 2.0x baseline")):
        sc = apps.Scenario(cfg)
        ustack, kernel = sc.sides()
        op = cfg.op.upper()
        if cfg.path == "tap":
            group = "redis: redis-server under ustack over TAP vs on the kernel over veth"
            title = (f"redis-benchmark {op} requests per second from the kernel against "
                     f"redis-server, 50 connections")
            subject = Side("ustack run -- redis-server over TAP", func=ustack)
            baseline = Side("redis-server on Linux over veth", func=kernel)
            where = "redis-benchmark on the kernel in both cases; "
        else:
            group = ("redis: both ends under ustack over the shm wire vs both on the kernel "
                     "over loopback")
            title = (f"redis-benchmark {op} requests per second, redis-benchmark and "
                     f"redis-server in two processes on one host, 50 connections")
            subject = Side("both under ustack run, shm wire", func=ustack)
            baseline = Side("both on Linux, loopback", func=kernel)
            where = ("the shm wire: both processes sleep on its doorbells when idle "
                     "(spin_us=0); ")
        result.append(Scenario(name=f"redis/{cfg.key}", group=group, title=title,
                               unit="req/s", better="higher", target=target,
                               subject=subject, baseline=baseline, setup=sc.setup,
                               teardown=sc.teardown, pins=pins, also=REDIS_ALSO,
                               conditions=where + common))
    for cfg, title, ulabel in (
            (apps.IPERF_USTACK_CLIENT, "iperf3 single stream, the client under ustack sending "
             "to the kernel's iperf3 -s", "ustack run -- iperf3 -c over TAP"),
            (apps.IPERF_USTACK_SERVER, "iperf3 single stream, the kernel's iperf3 -c sending "
             "to iperf3 -s under ustack", "ustack run -- iperf3 -s over TAP")):
        sc = apps.Scenario(cfg)
        ustack, kernel = sc.sides()
        result.append(Scenario(
            name=f"iperf3/{cfg.key}",
            group="iperf3: under ustack over TAP vs on the kernel over veth",
            title=title, unit="Gbit/s", better="higher", target=">= 1.0x baseline",
            subject=Side(ulabel, func=ustack),
            baseline=Side("iperf3 -c -> iperf3 -s on Linux over veth", func=kernel),
            setup=sc.setup, teardown=sc.teardown, pins=pins, also=IPERF_ALSO,
            conditions=f"iperf3 (Debian's) -t {apps.IPERF_SECONDS} -O {apps.IPERF_OMIT} (the "
                       f"first second of slow start not counted; --quick: -t 1 -O 0), one "
                       f"stream of 128 KiB writes, figure = what the receiver got per second; "
                       f"both block in select(2) (ustack: spin_us=0, bottom half on); every "
                       f"interface keeps its default offloads; MTU 1500; the kernel's "
                       f"congestion control is the namespaces' default, ustack's cubic"))
    return result


SCENARIOS = reference_scenarios() + pool_scenarios() + timer_scenarios() + csum_scenarios("csum") + \
    csum_scenarios("csum-copy") + udp_rtt_scenarios() + tcp_rtt_scenarios() + \
    tcp_bulk_scenarios() + tcp_mem_scenarios() + shm_scenarios() + \
    shm_tcp_scenarios() + app_scenarios()

TCP_RX_FAST_PATH = "TCP receive fast path: IP+TCP input per in-order segment"
TCP_TX_PATH = "TCP send path: ust_send per full segment"
# The checksum functions (src/wire/checksum.c: csum_*, and the sum_* / copy_sum_* loops behind
# them) and glibc's copies: set apart from the protocol's own instructions.
CSUM_COPY_FUNCTIONS = r"^(csum_|sum_(generic|avx2|avx512)\b|copy_sum_)|mem(cpy|move)"

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
    IcountPath(UDP_ECHO_TOOL, ["{build}/bench/bench_udp", "udp-echo-tool"], 20_000,
               "per 64-byte datagram, in one process over a loop link with a fake clock: "
               "ust_poll, ust_recvfrom, ust_sendto, as tools/cmd_echo.c loops; includes the "
               "scripted peer's part and the loop link (last of these rows)"),
    IcountPath("UDP echo reading until EAGAIN, 64 B", ["{build}/bench/bench_udp", "udp-echo-drain"],
               20_000, "the same plus the ust_recvfrom that finds the socket empty (EAGAIN), "
                       "as a server loop reading until EAGAIN does"),
    IcountPath("UDP echo: ust_recvfrom+ust_sendto, 64 B", ["{build}/bench/bench_udp", "udp-echo"],
               20_000, "the same datagram with the minimal server loop (no ust_poll, no "
                       "EAGAIN round); includes the peer's part"),
    IcountPath("UDP echo: the peer and the loop link alone", ["{build}/bench/bench_udp", "peer"],
               50_000, "the same exchange without a stack (the far end of the loop sends the "
                       "request frame straight back): the peer's alloc, copy and free and "
                       "both ring crossings, which the two rows above include; loop and pool "
                       "code is in src/, so it counts as ustack here"),
] + [
    # TCP per segment (bench/bench_tcp.c): a stack and a scripted Linux-like peer on a loop
    # link, fake clock, timestamps on, 1448-byte segments (1500-byte packets).
    IcountPath(TCP_RX_FAST_PATH, ["{build}/bench/bench_tcp", "rx"], 5_000,
               "ipv4_input and everything it calls (parse, demultiplex, the ESTABLISHED data "
               "step, queueing for the reader, and the ACK tcp_output sends for every second "
               "segment), counted by valgrind --toggle-collect=ipv4_input; the figure and "
               "target exclude checksum and copy functions; not counted: the link, Ethernet, "
               "ust_recv's copy to the application",
               function="ipv4_input", exclude=CSUM_COPY_FUNCTIONS, exclude_label="csum*, memcpy",
               parts={"tcp_input": "tcp_input",
                      "tcp_output (every segment; it sends an ACK for every 2nd)": "tcp_output",
                      "send_ack_from_template (the ACK)": "send_ack_from_template"},
               target=300),
    IcountPath("TCP receive fast path without the ACK it sends", ["{build}/bench/bench_tcp", "rx"],
               5_000,
               "the same, with tcp_output (the ACK for every second segment: building, IP, ARP, "
               "Ethernet, queueing) cut out: valgrind --toggle-collect=ipv4_input "
               "--toggle-collect=tcp_output, tcp_output being called only from tcp_input "
               "here; the part Clark, Jacobson et al. (1989) counted as TCP input",
               function=("ipv4_input", "tcp_output"), exclude=CSUM_COPY_FUNCTIONS,
               exclude_label="csum*, memcpy", target=300),
    IcountPath(TCP_TX_PATH, ["{build}/bench/bench_tcp", "tx"], 5_000,
               "ust_send of 1448 bytes and everything it calls: copying and summing the data "
               "into a segment, tcp_output building and sending it, and (every other call) the "
               "peer's ACK that stack_enter processes first; counted by valgrind "
               "--toggle-collect=ust_send; checksum and copy set apart as for receive",
               function="ust_send", exclude=CSUM_COPY_FUNCTIONS, exclude_label="csum*, memcpy",
               parts={"tcp_output": "tcp_output",
                      "ipv4_input (the peer's ACK, every 2nd call)": "ipv4_input",
                      "tcp_queue_data": "tcp_queue_data"}),
    IcountPath("TCP receive, whole loop per segment", ["{build}/bench/bench_tcp", "rx"], 5_000,
               "everything per segment: the peer writes the frame and puts it on the loop, "
               "ust_recv (stack_enter polls the loop: link, Ethernet, IP, TCP, ACK) copies it "
               "out, the peer takes the ACKs; checksums and copies included",
               exclude=CSUM_COPY_FUNCTIONS, exclude_label="csum*, memcpy"),
    IcountPath("TCP send, whole loop per segment", ["{build}/bench/bench_tcp", "tx"], 5_000,
               "everything per segment: ust_send, the peer taking the segment from the loop "
               "and acknowledging every second one; checksums and copies included",
               exclude=CSUM_COPY_FUNCTIONS, exclude_label="csum*, memcpy"),
    # TCP over the shm wire (bench/bench_shmrtt.c): both stacks in one process, fake clock.
    IcountPath("TCP 64 B round trip over shm, both stacks", ["{build}/bench/bench_shmrtt", "rtt"],
               2_000, "both sides' work for one request and its reply: client ust_send, server "
               "ust_recv (its stack_enter takes the frame off the wire) and ust_send, client "
               "ust_recv, all MSG_DONTWAIT as the spinning shm-tcp round trip makes them; the "
               "wire's copy and ring work included; checksums and copies set apart",
               exclude=CSUM_COPY_FUNCTIONS, exclude_label="csum*, memcpy",
               parts={"tcp_input": "tcp_input", "tcp_output": "tcp_output",
                      "shm_rx_burst": "shm_rx_burst", "shm_tx_burst": "shm_tx_burst",
                      "sock_get": "sock_get"}),
    IcountPath("spinning round that finds nothing (shm)", ["{build}/bench/bench_shmrtt", "idle"],
               20_000, "ust_recv(MSG_DONTWAIT) on an empty socket: lock, look at the wire, "
                       "timers, EAGAIN; the smaller, the sooner a spinning side sees a frame"),
]
