#!/bin/sh
# make demo: ustack served to the kernel's own programs over a TAP device, side by side with the
# kernel talking to itself over veth (scripts/demo.py). Needs root (network namespaces).
set -e
build=${1:-build}
if [ "$(id -u)" != 0 ]; then
    echo "make demo needs root: it creates network namespaces (ust-demo-*)" >&2
    exit 1
fi
exec python3 "$(dirname "$0")/demo.py" --build-dir "$build"
