#!/usr/bin/env bash
# The whole test suite: set up and build, run ctest, then the same suite under ASan + UBSan.
#   tools/test.sh            everything (what CI runs)
#   tools/test.sh -R config  only tests matching a regex, in both builds
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

tools/setup.sh
echo "== tests (release build)"
ctest --test-dir build --output-on-failure -j "$jobs" "$@"

echo "== tests (AddressSanitizer + UndefinedBehaviorSanitizer)"
BUILD_DIR=build-san BUILD_TYPE=RelWithDebInfo CMAKE_ARGS="-DAGIR_SANITIZE=ON -DAGIR_CUDA=OFF" tools/setup.sh
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
ctest --test-dir build-san --output-on-failure -j "$jobs" "$@"
