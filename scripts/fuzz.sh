#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/fuzz_*.c) with clang and runs each
# briefly: scripts/fuzz.sh [RUNS]   (default 20000 runs per target; FUZZ_SECONDS caps time)
# A crash, leak or sanitizer report fails the script and leaves the input in build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200000}
secs=${FUZZ_SECONDS:-15}
command -v clang >/dev/null || { echo "fuzz: clang is needed" >&2; exit 1; }
CC=clang cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSLICER_FUZZ=ON >/dev/null
targets=()
for src in fuzz/fuzz_*.c; do
    targets+=("$(basename "$src" .c)")
done
cmake --build build-fuzz --target "${targets[@]}"
for t in "${targets[@]}"; do
    corpus=fuzz/corpus/${t#fuzz_}
    work=$(mktemp -d -t slicer-fuzz.XXXXXX)
    cp -r "$corpus"/. "$work"/ 2>/dev/null || true
    echo "fuzz: $t ($runs runs, at most ${secs}s)"
    if ! (cd build-fuzz && "./$t" -runs="$runs" -max_total_time="$secs" -max_len=8192 \
        -print_final_stats=0 "$work" >"$t.log" 2>&1); then
        echo "fuzz: $t failed:" >&2
        tail -40 "build-fuzz/$t.log" >&2
        rm -rf "$work"
        exit 1
    fi
    tail -1 "build-fuzz/$t.log"
    rm -rf "$work"
done
