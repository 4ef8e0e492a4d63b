#!/usr/bin/env bash
# Runs every unit-test binary of a build under valgrind memcheck, following
# Criterion's worker processes, and fails on any memory error or definite /
# indirect leak in any process. usage: scripts/valgrind-unit.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: valgrind-unit.sh BUILD_DIR}
logs=$(mktemp -d -t slicer-vg.XXXXXX)
trap 'rm -rf "$logs"' EXIT
status=0
shopt -s nullglob
tests=("$build"/test_*)
[[ ${#tests[@]} -gt 0 ]] || { echo "valgrind: no unit tests in $build" >&2; exit 1; }
for t in "${tests[@]}"; do
    [[ -x "$t" && -f "$t" ]] || continue
    name=$(basename "$t")
    rm -f "$logs"/*
    if ! SLICER_UNDER_VALGRIND=1 valgrind -q --trace-children=yes --leak-check=full \
        --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
        --log-file="$logs/vg.%p" "$t" --jobs 1 --ascii >"$logs/out" 2>&1; then
        echo "valgrind: $name: tests failed" >&2
        cat "$logs/out" >&2
        status=1
    fi
    if grep -l 'ERROR SUMMARY: [1-9]' "$logs"/vg.* >/dev/null 2>&1; then
        echo "valgrind: $name: memory errors or leaks:" >&2
        cat "$logs"/vg.* >&2
        status=1
    else
        echo "valgrind: $name: clean ($(tail -1 "$logs/out"))"
    fi
done
exit $status
