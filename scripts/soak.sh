#!/bin/sh
# make soak: the long versions. Connection churn between two stacks (tests/soak/soak_churn:
# SOAK_ROUNDS rounds of 10,000 connections, 256 at a time; resident memory sampled after every
# round must stay within SOAK_TOLERANCE_KIB of what it was after SOAK_WARMUP rounds, and after
# every round both stacks must be back to no connection, no socket but the listener, no packet
# buffer in use and no socket memory charged), then the interop transfers with 1 GiB instead of
# their make-check sizes (UST_SOAK=1).
set -e
build=${1:-build}
rounds=${SOAK_ROUNDS:-50}
warmup=${SOAK_WARMUP:-2}
tolerance=${SOAK_TOLERANCE_KIB:-1024}
echo "== connection churn: $rounds rounds of 10,000 connections (RSS tolerance $tolerance KiB after $warmup warm-up rounds)"
"$build/tests/soak/soak_churn" "$rounds" 10000 256 "$warmup" "$tolerance"
if [ "$(id -u)" = 0 ]; then
    echo "== interop transfers, 1 GiB each (UST_SOAK=1)"
    (cd "$build" && UST_SOAK=1 ctest --output-on-failure -L interop -R 'tcp|bridge' --timeout 1800)
else
    echo "== interop transfers skipped: they need root (network namespaces)"
fi
