#!/bin/sh
# Installs the Debian packages that ustack's build, tests, fuzzers and benchmarks need.
#   scripts/install-deps.sh           install whatever is missing (root, apt)
#   scripts/install-deps.sh --check   list what is missing; exit 1 if anything is
# `make` runs the check on every invocation and this script only when something is missing.
set -eu

# package            what for
PACKAGES="
build-essential      compiler, make
cmake                build system
pkg-config           ustack.pc is checked with it
clang                fuzzers (libFuzzer) and the sanitizer build
libclang-rt-14-dev   libFuzzer, ASan and UBSan runtimes for clang
libcmocka-dev        unit and packet tests
libssl-dev           SHA-256 in the ustack tool, for checking transfers
tshark               decodes test captures to check ustack's wire formats against Wireshark
gnuplot-nox          benchmark plots
python3              benchmark harness
valgrind             instruction counts (callgrind) and memcheck
iproute2             network namespaces for interop tests
iputils-ping         the kernel's ping in interop tests (floods, fragmented echo requests)
socat                UDP echo client and server on the kernel side in interop tests
ncat                 a second UDP client on the kernel side in interop tests
ethtool              turns TSO off on the kernel's veth ends behind the impairment bridge
libxdp-dev           the AF_XDP link (libxdp: XSK rings and its default XDP program)
libbpf-dev           the AF_XDP link (libxdp is built on libbpf)
curl                 HTTP client, on the kernel and under ustack run, in interop tests
iperf3               bulk TCP under ustack run against the kernel's, in interop tests
redis-server         an unmodified server under ustack run in interop tests
redis-tools          redis-benchmark and redis-cli, against it and under it
python3-scapy        forged frames (the attacker) in the interop attack tests
"

names=$(printf '%s\n' "$PACKAGES" | awk 'NF { print $1 }')
missing=""
for p in $names; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done

if [ "${1:-}" = "--check" ]; then
    [ -z "$missing" ] && exit 0
    echo "missing Debian packages:$missing"
    exit 1
fi

[ -z "$missing" ] && { echo "install-deps: nothing missing"; exit 0; }

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to install:$missing" >&2
    exit 1
fi
echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer for it.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
