#!/usr/bin/env bash
# Long fuzz runs, for `make fuzz`:   scripts/fuzz.sh BUILD_DIR SECONDS
#
# BUILD_DIR is a UST_FUZZ=ON build (make's build-asan). Every fuzz target built there runs for
# SECONDS on a scratch copy of its corpus (BUILD_DIR/tests/fuzz/long/<target>/), one target per
# CPU at a time. Afterwards the inputs that add coverage are merged (-merge=1) into
# tests/fuzz/corpus/<target>/, crash inputs are kept in tests/fuzz/crashes/ (gitignored), and a
# line per target gives its executions. Exits nonzero if any target crashed.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
seconds=$2
root=$(cd "$(dirname "$0")/.." && pwd)
corpus_root=$root/tests/fuzz/corpus
crashes=$root/tests/fuzz/crashes
scratch_root=$build/tests/fuzz/long

targets=()
for bin in "$build"/tests/fuzz/fuzz_*; do
    [ -x "$bin" ] && [ -f "$bin" ] && targets+=("$(basename "$bin")")
done
if [ ${#targets[@]} -eq 0 ]; then
    echo "fuzz.sh: no fuzz targets in $build/tests/fuzz (configure with -DUST_FUZZ=ON)" >&2
    exit 2
fi
mkdir -p "$crashes" "$scratch_root"

# Runs one target in its scratch directory; its exit status goes to the file rc.
run_target() {
    local t=$1 dir=$scratch_root/$1
    rm -rf "$dir"
    mkdir -p "$dir/corpus"
    if [ -d "$corpus_root/$t" ]; then
        cp -R "$corpus_root/$t/." "$dir/corpus/"
    fi
    local rc=0
    "$build/tests/fuzz/$t" -max_total_time="$seconds" -timeout=25 -print_final_stats=1 \
        -artifact_prefix="$crashes/$t-" "$dir/corpus" >"$dir/log" 2>&1 || rc=$?
    echo "$rc" >"$dir/rc"
}

jobs_max=$(nproc 2>/dev/null || echo 1)
echo "fuzz.sh: ${#targets[@]} targets, ${seconds} s each, $jobs_max at a time"
running=0
for t in "${targets[@]}"; do
    if [ "$running" -ge "$jobs_max" ]; then
        wait -n || true
        running=$((running - 1))
    fi
    run_target "$t" &
    running=$((running + 1))
done
wait || true

failed=0
printf '%-16s %14s %10s %10s  %s\n' target executions corpus merged result
for t in "${targets[@]}"; do
    dir=$scratch_root/$t
    rc=$(cat "$dir/rc" 2>/dev/null || echo 1)
    execs=$(awk '/stat::number_of_executed_(runs|units):/ { print $2 }' "$dir/log" | tail -n 1)
    mkdir -p "$corpus_root/$t"
    before=$(find "$corpus_root/$t" -type f | wc -l)
    "$build/tests/fuzz/$t" -merge=1 "$corpus_root/$t" "$dir/corpus" >"$dir/merge.log" 2>&1 ||
        echo "fuzz.sh: $t: merge failed, see $dir/merge.log" >&2
    after=$(find "$corpus_root/$t" -type f | wc -l)
    result=ok
    if [ "$rc" != 0 ]; then
        result="CRASH (exit $rc): $dir/log, inputs in $crashes/$t-*"
        failed=1
    fi
    printf '%-16s %14s %10s %10s  %s\n' "$t" "${execs:-?}" "$before" "+$((after - before))" \
        "$result"
done
exit $failed
