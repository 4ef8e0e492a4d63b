#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it:
#   1. style: clang-format and the banned-functions grep
#   2. build with -Werror, build the test control plane if missing
#      (test/cluster/build), run every test (ctest)
#   3. build with ASan+UBSan, run every test again except the label `cluster`
#      (tests against the real control plane run once, in step 2)
#   4. valgrind over the unit-test binaries
#   5. each libFuzzer target (fuzz/) for a short run
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}

step() { printf '\n==> %s\n' "$*"; }

step "style"
scripts/check-style.sh

step "build (-Werror)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLICER_WERROR=ON >/dev/null
cmake --build build
step "test control plane (test/cluster/build; a no-op once cached, the first build takes ~13 min)"
test/cluster/build
step "tests"
ctest --test-dir build --output-on-failure -j "$JOBS"

step "build (ASan+UBSan)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSLICER_WERROR=ON -DSLICER_SANITIZE=ON >/dev/null
cmake --build build-asan
step "tests under ASan+UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$JOBS" -LE cluster

step "unit tests under valgrind"
scripts/valgrind-unit.sh build

step "fuzz targets (libFuzzer, briefly)"
scripts/fuzz.sh
