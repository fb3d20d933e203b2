#!/bin/sh
# ctest's brief run of one fuzz target: run_fuzz_smoke.sh FUZZER SEED_DIR WORK_DIR
# The fuzzer works on a fresh copy of its seed corpus under WORK_DIR (in the build tree, so
# ctest never writes into the source tree) and leaves any crash input in WORK_DIR/artifacts.
# A crash, a leak or a broken invariant makes the fuzzer, and so the test, fail.
# The seed is fixed (FUZZ_SEED overrides it) so that make check is repeatable: a slower machine
# runs a prefix of the same sequence of inputs. Exploring with fresh seeds is make fuzz's job.
set -eu
fuzzer=$1
seeds=$2
work=$3
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
if [ -d "$seeds" ]; then
    cp -R "$seeds/." "$work/corpus/"
fi
exec "$fuzzer" -seed="${FUZZ_SEED:-1}" -runs=100000 -max_total_time=10 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$work/corpus"
