#!/usr/bin/env bash
# What the fuzz corpus reaches, line by line:
#   scripts/fuzz-coverage.sh [-b BUILD_DIR] [TARGET]
#
# Configures BUILD_DIR (default build-cov) as a UST_FUZZ=ON build with clang's source-based
# coverage (-fprofile-instr-generate -fcoverage-mapping), builds TARGET (default fuzz_stack),
# replays its corpus, tests/fuzz/corpus/TARGET/, once (-runs=0: no mutation), and prints
# llvm-cov's report for the library's files (src/): regions, functions and lines, each with
# how many the corpus never reached. The report is also written to BUILD_DIR/coverage/TARGET.txt,
# and `llvm-cov show` with the same arguments (printed at the end) shows the lines themselves.
set -euo pipefail

usage() {
    echo "usage: $0 [-b BUILD_DIR] [TARGET]" >&2
    exit 2
}

root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-cov
while getopts b: opt; do
    case $opt in
    b) build=$OPTARG ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -le 1 ] || usage
target=${1:-fuzz_stack}
corpus=$root/tests/fuzz/corpus/$target
[ -d "$corpus" ] || { echo "fuzz-coverage.sh: no corpus $corpus" >&2; exit 2; }
for tool in clang llvm-profdata llvm-cov; do
    command -v "$tool" >/dev/null || { echo "fuzz-coverage.sh: $tool not found" >&2; exit 2; }
done

flags="-fprofile-instr-generate -fcoverage-mapping"
CC=clang cmake -S "$root" -B "$build" -DUST_FUZZ=ON -DUST_TESTS=ON -DUST_BENCH=OFF \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="-fprofile-instr-generate" >/dev/null
cmake --build "$build" --target "$target" -j"$(nproc)" >/dev/null

out=$build/coverage
mkdir -p "$out"
rm -f "$out/$target".profraw "$out/$target".profdata
bin=$build/tests/fuzz/$target
(cd "$out" && LLVM_PROFILE_FILE="$out/$target.profraw" \
    "$bin" -runs=0 -artifact_prefix="$out/" "$corpus" >"$out/$target.log" 2>&1) || {
    echo "fuzz-coverage.sh: $target failed on its corpus; see $out/$target.log" >&2
    exit 1
}
llvm-profdata merge -sparse "$out/$target.profraw" -o "$out/$target.profdata"
llvm-cov report "$bin" -instr-profile="$out/$target.profdata" "$root/src" |
    sed "s|$root/||" | tee "$out/$target.txt"
echo "fuzz-coverage.sh: $(find "$corpus" -type f | wc -l) inputs replayed; lines:" \
     "llvm-cov show $bin -instr-profile=$out/$target.profdata FILE"
