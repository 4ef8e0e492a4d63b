#!/usr/bin/env bash
# A burst, end to end: scripts/bench-cluster.sh --quick on the build under test
# (10 kwok nodes x 8 emulated A100s, one agent each, webhook and controller
# with deploy/'s flags; 100 pods created at 100 pods/s). Checks that every pod
# runs and what the pods cost the apiserver, from its own request counters:
# one GPUSlice create and one ungate patch per pod, and no reads per pod (the
# controller once re-read every pod on each pass until its watch showed the
# ungate). Times are printed, never asserted (docs/benchmarks.md has them).
# usage: bash test/e2e/burst.sh /path/to/slicer   (ctest passes it)
set -uo pipefail
SLICER=${1:?usage: burst.sh /path/to/slicer}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$(dirname "$SLICER")" && pwd)
T=$(mktemp -d -t slicer-e2e-burst.XXXXXX)
trap 'rm -rf "$T"' EXIT
# shellcheck source=../lib/check.sh
source "$SRC/test/lib/check.sh"

out=$("$SRC/scripts/bench-cluster.sh" "$BUILD" --quick 2>"$T/stderr"); rc=$?; err=$(<"$T/stderr")
echo "$out"
expect_rc "the quick cluster benchmark runs to the end" 0
expect_out "...100 pods through the webhook, controller and agents" '^cluster: 100 pods asking nvidia.com/mig-1g.5gb'
expect_out "...every one of them Running, no create failed" '0 creates failed, 0 not Running$'
per_pod() { awk -v v="$1" -v r="$2" '$1 == v && $2 == r {print $3}' <<<"$out"; }
n=$(per_pod POST gpuslices)
[[ "$n" == 1.00 ]] && ok "one GPUSlice create per pod" || fail "one GPUSlice create per pod" "1.00, got '$n'"
n=$(per_pod PATCH pods)
[[ "$n" == 1.00 ]] && ok "one ungate patch per pod, sent once" || fail "one ungate patch per pod" "1.00, got '$n'"
n=$(awk '/^reads \(GET, LIST\) in all/ {print $NF}' <<<"$out")
awk -v n="${n:-9}" 'BEGIN { exit !(n < 1) }' && ok "fewer than one read per pod ($n)" ||
    fail "fewer than one read per pod" "< 1, got '$n'"
n=$(per_pod GET pods)
awk -v n="${n:-0}" 'BEGIN { exit !(n < 0.2) }' && ok "...in particular no GET of each pod (${n:-0})" ||
    fail "no GET of each pod" "< 0.2 per pod, got '$n'"
summary
