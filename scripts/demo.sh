#!/usr/bin/env bash
# `make demo`: the seed story told by the planner on one A100-SXM4-40GB.
# usage: scripts/demo.sh build/slicer
# Each step prints a heading, the command, and what slicer answers. Steps that
# leave a request unplaced exit 1 on purpose; the demo goes on and exits 0.
set -uo pipefail
SLICER=${1:-build/slicer}
GPU=A100-SXM4-40GB
[[ -x "$SLICER" ]] || { echo "demo: $SLICER is not built (run make)" >&2; exit 1; }

step=0
heading() {
    step=$((step + 1))
    printf '\n=== %d. %s\n\n' "$step" "$*"
}
show() {
    printf '$ slicer %s\n' "$*"
    "$SLICER" "$@"
    printf '(exit %d)\n' $?
}

heading "Seven 1g.5gb slices fit on one $GPU at once"
show plan --gpu $GPU 1g.5gb=7

heading "An eighth 1g.5gb does not: slicer says which one and why"
show plan --gpu $GPU 1g.5gb=8

heading "Two 3g.20gb: each takes half the memory"
show plan --gpu $GPU 3g.20gb=2

heading "One 7g.40gb: the whole GPU"
show plan --gpu $GPU 7g.40gb=1

heading "4g.20gb + 3g.20gb: the 4g.20gb can only start at slice 0"
show plan --gpu $GPU 4g.20gb=1 3g.20gb=1

heading "first-fit: three 1g.5gb in NVML's order take slice 0 and strand the 4g.20gb"
show plan --gpu $GPU --policy first-fit 1g.5gb=3 4g.20gb=1

heading "best-fit (the default): the same batch, everything fits"
show plan --gpu $GPU --policy best-fit 1g.5gb=3 4g.20gb=1

heading "Fragmentation already there: a 1g.5gb someone left at slice 0 (--used)"
show plan --gpu $GPU --used 0:1g.5gb@0 4g.20gb=1 3g.20gb=1

printf '\nslicer plan --help tells the rest; docs/cli.md is the reference.\n'
exit 0
