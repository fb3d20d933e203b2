#!/usr/bin/env bash
# Long fuzz runs, for `make fuzz`:
#   scripts/fuzz.sh [-s SECONDS] [-r RUNS] [-j JOBS] [-p PROCS] BUILD_DIR [TARGET...]
#
# BUILD_DIR is a UST_FUZZ=ON build (make's build-asan). Each fuzz target built there (or only the
# TARGETs named) runs on a scratch copy of its corpus (BUILD_DIR/tests/fuzz/long/<target>/) until
# it has made RUNS executions or SECONDS have passed, whichever comes first (600 s when neither is
# given), JOBS targets at a time (default: one per CPU). With -p, each target runs as PROCS
# libFuzzer processes side by side (-jobs=PROCS -workers=PROCS), which share the scratch corpus
# and split RUNS between them (SECONDS is each one's limit). Afterwards the inputs that add coverage
# are merged (-merge=1) into tests/fuzz/corpus/<target>/, crash inputs are kept in
# tests/fuzz/crashes/ (gitignored), and a table gives per target its executions, seconds,
# executions per second, corpus size before and after the merge, libFuzzer's final coverage
# (cov: edges, ft: features), the date and the result; the table is also written, in Markdown,
# to BUILD_DIR/tests/fuzz/long/summary.md. Exits nonzero if any target crashed.
set -euo pipefail

usage() {
    echo "usage: $0 [-s SECONDS] [-r RUNS] [-j JOBS] [-p PROCS] BUILD_DIR [TARGET...]" >&2
    exit 2
}

seconds=
runs=
jobs_max=$(nproc 2>/dev/null || echo 1)
procs=1
while getopts s:r:j:p: opt; do
    case $opt in
    s) seconds=$OPTARG ;;
    r) runs=$OPTARG ;;
    j) jobs_max=$OPTARG ;;
    p) procs=$OPTARG ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || usage
if [ -z "$seconds" ] && [ -z "$runs" ]; then
    seconds=600
fi
build=$(cd "$1" && pwd)
shift
root=$(cd "$(dirname "$0")/.." && pwd)
corpus_root=$root/tests/fuzz/corpus
crashes=$root/tests/fuzz/crashes
scratch_root=$build/tests/fuzz/long

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for bin in "$build"/tests/fuzz/fuzz_*; do
        [ -x "$bin" ] && [ -f "$bin" ] && targets+=("$(basename "$bin")")
    done
fi
if [ ${#targets[@]} -eq 0 ]; then
    echo "fuzz.sh: no fuzz targets in $build/tests/fuzz (configure with -DUST_FUZZ=ON)" >&2
    exit 2
fi
for t in "${targets[@]}"; do
    [ -x "$build/tests/fuzz/$t" ] || { echo "fuzz.sh: no target $t in $build/tests/fuzz" >&2; exit 2; }
done
mkdir -p "$crashes" "$scratch_root"

# libFuzzer's limits: -runs=-1 and -max_total_time=0 mean "no limit".
[[ "$procs" =~ ^[1-9][0-9]*$ ]] || usage
per_proc_runs=-1
if [ -n "$runs" ]; then
    per_proc_runs=$(( (runs + procs - 1) / procs ))
fi
limits=(-runs="$per_proc_runs" -max_total_time="${seconds:-0}")
if [ "$procs" -gt 1 ]; then
    limits+=(-jobs="$procs" -workers="$procs")
fi

# Runs one target in its scratch directory; its exit status, start and end times go to files.
run_target() {
    local t=$1 dir=$scratch_root/$1
    rm -rf "$dir"
    mkdir -p "$dir/corpus"
    if [ -d "$corpus_root/$t" ]; then
        cp -R "$corpus_root/$t/." "$dir/corpus/"
    fi
    date -u +%s >"$dir/start"
    local rc=0
    # In the scratch directory: with -jobs, libFuzzer writes each process's log there
    # (fuzz-N.log).
    (cd "$dir" && "$build/tests/fuzz/$t" "${limits[@]}" -timeout=25 -print_final_stats=1 \
        -artifact_prefix="$crashes/$t-" "$dir/corpus" >"$dir/log" 2>&1) || rc=$?
    date -u +%s >"$dir/end"
    echo "$rc" >"$dir/rc"
}

echo "fuzz.sh: ${#targets[@]} targets, ${runs:-unlimited} runs or ${seconds:-unlimited} s each," \
     "$jobs_max at a time"
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
summary=$scratch_root/summary.md
fmt='%-14s %12s %8s %8s %8s %8s %7s %7s  %-10s %s\n'
printf "$fmt" target executions seconds exec/s corpus merged cov ft date result
{
    echo "| target | executions | seconds | exec/s | corpus | cov | ft | date | result |"
    echo "|---|---:|---:|---:|---:|---:|---:|---|---|"
} >"$summary"
for t in "${targets[@]}"; do
    dir=$scratch_root/$t
    rc=$(cat "$dir/rc" 2>/dev/null || echo 1)
    logs=("$dir/log")
    if [ "$procs" -gt 1 ] && compgen -G "$dir/fuzz-*.log" >/dev/null; then
        logs=("$dir"/fuzz-*.log)
    fi
    # Executions: the sum over the processes. Coverage: the last status line of each (DONE, or
    # the last pulse before a crash: "#N ... cov: C ft: F ..."), the largest.
    execs=$(awk '/stat::number_of_executed_(runs|units):/ { n += $2; seen = 1 }
                 END { if (seen) print n }' "${logs[@]}")
    cov= ft=
    for log in "${logs[@]}"; do
        status=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
        c=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status")
        f=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status")
        if [ -n "$c" ] && [ "${cov:-0}" -lt "$c" ]; then cov=$c; fi
        if [ -n "$f" ] && [ "${ft:-0}" -lt "$f" ]; then ft=$f; fi
    done
    secs=$(( $(cat "$dir/end") - $(cat "$dir/start") ))
    rate=?
    if [ -n "$execs" ] && [ "$secs" -gt 0 ]; then
        rate=$((execs / secs))
    fi
    day=$(date -u -d "@$(cat "$dir/start")" +%Y-%m-%d)
    mkdir -p "$corpus_root/$t"
    before=$(find "$corpus_root/$t" -type f | wc -l)
    "$build/tests/fuzz/$t" -merge=1 "$corpus_root/$t" "$dir/corpus" >"$dir/merge.log" 2>&1 ||
        echo "fuzz.sh: $t: merge failed, see $dir/merge.log" >&2
    after=$(find "$corpus_root/$t" -type f | wc -l)
    result=ok
    if [ "$rc" = 72 ]; then          # libFuzzer's -interrupted_exitcode: SIGINT or SIGTERM
        result="interrupted: $dir/log"
        failed=1
    elif [ "$rc" != 0 ]; then
        result="CRASH (exit $rc): ${logs[*]}, inputs in $crashes/$t-*"
        failed=1
    fi
    printf "$fmt" "$t" "${execs:-?}" "$secs" "$rate" "$before" "+$((after - before))" \
        "${cov:-?}" "${ft:-?}" "$day" "$result"
    echo "| $t | ${execs:-?} | $secs | $rate | $after | ${cov:-?} | ${ft:-?} | $day |" \
         "${result%%:*} |" >>"$summary"
done
echo "fuzz.sh: table in Markdown: $summary"
exit $failed
