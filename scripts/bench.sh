#!/usr/bin/env bash
# The benchmarks, as `make bench` runs them: scripts/bench.sh BUILD_DIR [--quick]
# BUILD_DIR is an optimised (Release) build that is already built. Runs
# bench_place first, then every other bench_* executable found there, then
# the cluster benchmark (scripts/bench-cluster.sh) and the DRA side-by-side one
# (scripts/bench-dra.sh), and prints their tables
# (docs/benchmarks.md explains them).
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${1:-build-bench}
shift || true
args=("$@")

if [[ ! -x "$dir/bench_place" ]]; then
    echo "bench: $dir/bench_place not found; build first:" >&2
    echo "  cmake -S . -B $dir -G Ninja -DCMAKE_BUILD_TYPE=Release && cmake --build $dir" >&2
    exit 1
fi
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$dir/CMakeCache.txt" 2>/dev/null || true)
if [[ "$build_type" != "Release" ]]; then
    echo "bench: warning: $dir is a '${build_type:-unknown}' build, not Release" >&2
fi

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
printf 'machine: %s, %s cores\n' "${cpu:-unknown CPU}" "$(nproc)"

rc=0
run() {
    local name=$1
    shift
    printf '\n==> %s\n' "$name"
    "$@" || {
        echo "bench: $name failed (exit $?)" >&2
        rc=1
    }
}

run bench_place "$dir/bench_place" "${args[@]}"

for exe in "$dir"/bench_*; do
    name=$(basename "$exe")
    [[ -x "$exe" && -f "$exe" && "$name" != bench_place ]] || continue
    case "$name" in
    bench_nvml)
        lib="$dir/emu/libnvidia-ml.so.1"
        if [[ -e "$lib" ]]; then
            run "$name" "$exe" "$lib" "${args[@]}"
        else
            echo "bench: skipping $name: $lib not built" >&2
        fi
        ;;
    bench_cluster | bench_dra) ;; # need the clusters bench-cluster.sh and bench-dra.sh set up: below
    *)
        run "$name" "$exe" "${args[@]}"
        ;;
    esac
done
run bench_cluster scripts/bench-cluster.sh "$dir" "${args[@]}"
run bench_dra scripts/bench-dra.sh "$dir" "${args[@]}"
exit $rc
