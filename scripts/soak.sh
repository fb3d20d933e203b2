#!/bin/sh
# make soak: the long versions. Connection churn between two stacks (tests/soak/soak_churn:
# ROUNDS rounds of 10,000 connections, memory must stay flat and nothing may be left), then the
# interop transfers with 1 GiB instead of their make-check sizes (UST_SOAK=1).
set -e
build=${1:-build}
rounds=${SOAK_ROUNDS:-50}
echo "== connection churn: $rounds rounds of 10,000 connections"
"$build/tests/soak/soak_churn" "$rounds" 10000 256
if [ "$(id -u)" = 0 ]; then
    echo "== interop transfers, 1 GiB each (UST_SOAK=1)"
    (cd "$build" && UST_SOAK=1 ctest --output-on-failure -L interop -R 'tcp|bridge' --timeout 1800)
else
    echo "== interop transfers skipped: they need root (network namespaces)"
fi
