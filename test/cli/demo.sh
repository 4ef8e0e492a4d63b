#!/usr/bin/env bash
# `make demo` (scripts/demo.sh) is the README's first command: it must tell
# the seed's story on the emulated A100 and exit 0 with nothing leaked.
# usage: bash test/cli/demo.sh /path/to/slicer   (ctest passes it)
set -uo pipefail
SLICER=${1:?usage: demo.sh /path/to/slicer}
T=$(mktemp -d -t slicer-demotest.XXXXXX)
trap 'rm -rf "$T"' EXIT
# shellcheck source=../lib/check.sh
source "$(dirname "$0")/../lib/check.sh"
DEMO=$(dirname "$0")/../../scripts/demo.sh

out=$(bash "$DEMO" "$SLICER" 2>"$T/stderr"); rc=$?; err=$(<"$T/stderr")
expect_rc "the demo exits 0" 0
expect_count "seven tiny models get distinct MIG devices" '^  tiny-[1-7]: serving on MIG-[0-9a-f-]{36}' 7
[[ $(grep -oE '^  tiny-[1-7]: serving on MIG-[0-9a-f-]{36}' <<<"$out" | awk '{print $4}' | sort -u | wc -l) == 7 ]] \
    && ok "...no device shared" || fail "...no device shared" "7 distinct UUIDs"
expect_out "the GPU is drawn full of 1g.5gb" '^  \| 1g.5gb\| 1g.5gb\| 1g.5gb\| 1g.5gb\| 1g.5gb\| 1g.5gb\| 1g.5gb\|   .   \|$'
expect_out "the eighth is refused with the reason" "no room for 1 x 1g.5gb: "
expect_out "...and slicer run's exit code 125" '^  \(exit 125\)$'
expect_count "two medium models on 3g.20gb" '^  medium-[12]: serving on MIG-' 2
expect_out "the GPU is drawn as two 3g.20gb" '^  \| 3g.20gb +\| 3g.20gb +\|$'
expect_count "one large model on 7g.40gb" '^  large: serving on MIG-' 1
expect_out "the GPU is drawn as one 7g.40gb" '^  \| 7g.40gb +\|$'
expect_out "the evening GPU is whole again" 'can still add: 1g.5gb x7, .*7g.40gb x1'
expect_out "it says nothing is left over" 'no instance left over'
summary
