#!/usr/bin/env bash
# Runs one libFuzzer harness under ASan + UBSan.
#   tools/fuzz.sh NAME SECONDS [extra libFuzzer flags]     e.g. tools/fuzz.sh ini 600
# Harness: tests/fuzz/fuzz_NAME.c. The seed corpus tests/fuzz/corpus/NAME is copied into a work
# corpus under build-fuzz/ (the repo keeps only small seeds); crashes are written to
# tests/fuzz/crashes/NAME/, where ctest replays them. Prints executions per second and the total.
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: tools/fuzz.sh NAME SECONDS}
secs=${2:?usage: tools/fuzz.sh NAME SECONDS}
shift 2
[ -f "tests/fuzz/fuzz_$name.c" ] || { echo "fuzz.sh: no harness tests/fuzz/fuzz_$name.c" >&2; exit 2; }

# Several fuzz.sh may run at once: one configures and builds at a time.
mkdir -p build-fuzz
(
  flock 9
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -DAGIR_FUZZ=ON -DAGIR_CUDA=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build-fuzz -j "$(nproc)" --target "fuzz_$name" >/dev/null
) 9>build-fuzz/.build.lock

work=build-fuzz/corpus/$name
crashes=tests/fuzz/crashes/$name
mkdir -p "$work" "$crashes"
cp -n tests/fuzz/corpus/"$name"/* "$work"/ 2>/dev/null || true
dict=tests/fuzz/$name.dict
dict_flag=()
[ -f "$dict" ] && dict_flag=(-dict="$dict")

export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
log=build-fuzz/fuzz_$name.log
set +e
build-fuzz/tests/"fuzz_$name" "$work" -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 \
  -artifact_prefix="$crashes/" "${dict_flag[@]}" "$@" >"$log" 2>&1
rc=$?
set -e
runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
rate=$(grep -E '^stat::average_exec_per_sec' "$log" | awk '{print $2}')
echo "fuzz $name: ${secs}s, ${runs:-?} executions, ${rate:-?} exec/s, exit $rc (log: $log)"
if [ $rc -ne 0 ]; then
  tail -n 40 "$log"
  exit 1
fi
