#!/usr/bin/env bash
# `slicer plan` and the binary's top level, through the real binary.
# usage: bash test/cli/plan.sh /path/to/slicer   (ctest passes it)
set -uo pipefail
SLICER=${1:?usage: plan.sh /path/to/slicer}
A100=A100-SXM4-40GB
T=$(mktemp -d -t slicer-plan.XXXXXX)
trap 'rm -rf "$T"' EXIT
# shellcheck source=../lib/check.sh
source "$(dirname "$0")/../lib/check.sh"
plan() { slicer plan "$@"; }
usage_error() { # usage_error WHAT STDERR-REGEX ARGS...: exit 2, message on stderr, stdout empty
    local what=$1 re=$2; shift 2
    plan "$@"
    expect_rc "$what: exit 2" 2
    expect_err "$what: says so" "$re"
    [[ -z "$out" ]] && ok "$what: nothing on stdout" || fail "$what: nothing on stdout" "empty stdout"
}

# --- the binary's top level --------------------------------------------------------------
slicer --help
expect_rc "--help exits 0" 0
expect_out "--help lists plan" '^  plan '
expect_out "--help documents exit code 2" '^  2  usage error'
slicer --version
expect_rc "--version exits 0" 0
expect_out "--version prints the version" '^slicer [0-9]+\.[0-9]+\.[0-9]+'
slicer frobnicate
expect_rc "an unknown command exits 2" 2
expect_err "...naming it" "unknown command 'frobnicate'"
expect_err "...with the usage on stderr" '^usage: slicer'
slicer
expect_rc "no command exits 2" 2
slicer --log-level loud plan --gpu $A100
expect_rc "a bad --log-level exits 2" 2
expect_err "...naming the levels" 'error, warn, info or debug'
slicer --log-level debug plan --gpu $A100 1g.5gb=1
expect_err "--log-level debug before the command logs at debug" 'debug.*placing 1 requests'
plan --gpu $A100 1g.5gb=1 --log-level debug --log-format json
expect_err "global options after the command work too (JSON logs)" '"level":"debug"'
expect_rc "...and the plan still runs" 0
plan --help
expect_rc "plan --help exits 0" 0
expect_out "plan --help shows PROFILE=COUNT" 'PROFILE=COUNT'
expect_out "plan --help shows the seed example" "slicer plan --gpu $A100 1g.5gb=7"
expect_out "plan --help documents exit codes" 'exit codes: 0 every request placed, 1'

# --- the seed story on one A100-SXM4-40GB ---------------------------------------------------
plan --gpu $A100 1g.5gb=7
expect_rc "7 x 1g.5gb: exit 0" 0
expect_out "7 x 1g.5gb: all placed" '^placed 7 of 7 requests \(policy best-fit\)$'
expect_count "7 x 1g.5gb: seven boxes" '1g\.5gb\|' 7
expect_out "7 x 1g.5gb: the header counts them" 'compute 7/7, memory slices 7/8, instances 7/7'
expect_out "7 x 1g.5gb: nothing more fits" '^  can still add: nothing$'
expect_no "7 x 1g.5gb: nothing unplaced" 'not placed'
plan --gpu $A100 1g.5gb=8
expect_rc "8 x 1g.5gb: exit 1" 1
expect_out "8 x 1g.5gb: 7 of 8" '^placed 7 of 8 requests'
expect_count "8 x 1g.5gb: exactly one not placed" '^not placed:' 1
expect_out "8 x 1g.5gb: the eighth, with its reason" '^not placed: 1g\.5gb #8: [a-z]'
plan --gpu $A100 3g.20gb=2
expect_rc "2 x 3g.20gb: exit 0" 0
expect_count "2 x 3g.20gb: two boxes" '\| 3g\.20gb ' 2
plan --gpu $A100 3g.20gb=3
expect_rc "3 x 3g.20gb: exit 1" 1
expect_out "3 x 3g.20gb: the third is refused" '^not placed: 3g\.20gb #3: '
plan --gpu $A100 7g.40gb=1
expect_rc "7g.40gb: exit 0" 0
expect_out "7g.40gb: the whole GPU" 'compute 7/7, memory slices 8/8, instances 1/7'
plan --gpu $A100 4g.20gb=1 3g.20gb=1
expect_rc "4g.20gb + 3g.20gb: exit 0" 0
expect_out "4g.20gb + 3g.20gb: 4g at slice 0, then 3g" '^  \| 4g\.20gb +\| 3g\.20gb +\|$'
plan --gpu $A100 3g.20gb=1 1g.5gb=4
expect_rc "3g.20gb + 4 x 1g.5gb: exit 0" 0
expect_out "3g.20gb + 4 x 1g.5gb: all 5 placed" '^placed 5 of 5 '
plan --gpu $A100 2g.10gb=3 1g.10gb=1
expect_rc "3 x 2g.10gb + 1g.10gb: exit 0" 0
expect_out "3 x 2g.10gb + 1g.10gb: compute 7/7, 4 instances" 'compute 7/7, memory slices 8/8, instances 4/7'
plan --gpu $A100 1g.10gb=4
expect_rc "4 x 1g.10gb: exit 0" 0
expect_count "4 x 1g.10gb: four boxes" '\| 1g\.10gb ' 4

# --- pictures are well formed: every grid line of a GPU has the same width --------------------
grid_ok() { # every '+---' / '|' line of each GPU block is as wide as its first border
    awk '/^GPU /{w=0} /^  [+|]/{ if (!w) w=length($0); else if (length($0)!=w) bad=1 } END{exit bad}' <<<"$out"
}
for args in "--gpu A30 2g.12gb=1 1g.6gb=1" "--gpu $A100 3g.20gb=1 1g.5gb=4 1g.5gb+me=1" \
    "--gpu RTX-PRO-6000-96GB 2g.48gb=1 1g.24gb+me.all=1" "--gpu H200 1g.18gb+me=1 4g.71gb=1"; do
    # shellcheck disable=SC2086
    plan $args
    grid_ok && ok "grid lines line up: $args" || fail "grid lines line up: $args" "equal widths"
done
plan --gpu RTX-PRO-6000-96GB 1g.24gb=4
expect_out "12-slice ruler goes to 11" ' 10 +11$'
expect_count "12-slice: four 3-slice boxes" '\| 1g\.24gb ' 4
plan --gpu A30 1g.6gb=1
expect_out "4-slice ruler" '^ +0 +1 +2 +3$'
expect_count "free slices are dots" '\| +\. +' 3
plan --gpu $A100
expect_rc "no requests: exit 0" 0
expect_out "no requests: an empty GPU can take a 7g.40gb" 'can still add: .*7g\.40gb x1'

# --- GPU names, counts, several models ---------------------------------------------------
plan --gpu "NVIDIA A100-SXM4-40GB" 1g.5gb=1
nvml=$out
expect_rc "the NVML name is accepted" 0
plan --gpu $A100 1g.5gb=1
[[ "$out" == "$nvml" ]] && ok "an alias gives the same plan" || fail "an alias gives the same plan" "$nvml"
plan --gpu "a100 sxm4 40gb" 1g.5gb=1
expect_rc "names ignore case and spaces" 0
plan --gpu $A100 --gpus 2 1g.5gb=14
expect_rc "--gpus 2: 14 x 1g.5gb fit" 0
expect_count "--gpus 2: both GPUs full" 'instances 7/7' 2
expect_out "--gpus 2: GPU 1 is drawn" '^GPU 1: NVIDIA A100-SXM4-40GB'
plan --gpus 2 --gpu $A100 1g.5gb=15
expect_rc "--gpus before --gpu, 15 x 1g.5gb: exit 1" 1
expect_out "...the fifteenth is not placed" '^not placed: 1g\.5gb #15'
plan --gpu $A100:2 1g.5gb=14
expect_rc "MODEL:2 is two GPUs" 0
expect_count "MODEL:2: both full" 'instances 7/7' 2
plan --gpu A30 --gpu $A100:2 --json 4g.24gb=1 7g.40gb=2
expect_rc "three GPUs of two models" 0
expect_out "4g.24gb goes to the A30 (GPU 0)" '"gpu": 0,'
expect_count "...and the A100s each take a 7g.40gb" '"profile": "7g\.40gb"' 4
usage_error "--gpus twice" 'already given' --gpu $A100 --gpus 2 --gpus 3
usage_error "--gpus and MODEL:N" 'already given' --gpu $A100:2 --gpus 3
usage_error "--gpus without --gpu" 'add --gpu MODEL' --gpus 2 1g.5gb=1
usage_error "no --gpu" '--gpu MODEL is required' 1g.5gb=1
usage_error "MODEL:0" 'whole number from 1' --gpu $A100:0 1g.5gb=1
usage_error "too many GPUs" 'more than 100000 GPUs' --gpu $A100:60000 --gpu $A100:60000

# --- usage errors ----------------------------------------------------------------------------
usage_error "unknown GPU" "no GPU model matches 'V100'.*NVIDIA A100-SXM4-40GB.*NVIDIA H100 80GB HBM3" \
    --gpu V100 1g.5gb=1
usage_error "unknown profile" "'9g\.99gb'.*offers: 1g\.5gb, 1g\.5gb\+me, 1g\.10gb, 2g\.10gb, 3g\.20gb, 4g\.20gb, 7g\.40gb" \
    --gpu $A100 9g.99gb=1
usage_error "a profile of another model" "NVIDIA A30 offers: 1g\.6gb" --gpu A30 1g.5gb=1
for bad in 0 -1 x 3x "" " 3" +3 10001 99999999999999999999; do
    usage_error "COUNT '$bad'" "'1g\.5gb=${bad//+/\\+}': COUNT must be a whole number" \
        --gpu $A100 "1g.5gb=$bad"
done
usage_error "no COUNT" "'1g\.5gb': expected PROFILE=COUNT" --gpu $A100 1g.5gb
usage_error "no PROFILE" "'=3': expected PROFILE=COUNT" --gpu $A100 =3
usage_error "K of 0" "'1g\.5gb:0=1': K must be" --gpu $A100 1g.5gb:0=1
usage_error "unknown policy" "'worst'.*best-fit, first-fit" --gpu $A100 --policy worst 1g.5gb=1
usage_error "unknown option" "unknown option '--frob'" --gpu $A100 --frob
usage_error "missing value" "option '--gpu' needs a value" --gpu

# --- JSON ------------------------------------------------------------------------------------
plan --gpu $A100 --json 1g.5gb=8
expect_rc "--json, 8 x 1g.5gb: exit 1" 1
expect_out "--json: policy" '"policy": "best-fit"'
expect_out "--json: placed/requested" '"placed": 7,'
expect_count "--json: seven placed requests" '"placed": true' 7
expect_count "--json: one not placed" '"placed": false' 1
expect_out "--json: with its reason" '"reason": "[a-z]'
expect_out "--json: GPU fields" '"memSlices": 8,'
expect_out "--json: compute used" '"computeUsed": 7,'
expect_out "--json: canAdd" '"canAdd": \{'
expect_out "--json: instances carry their request" '"request": 7'
if command -v python3 >/dev/null; then
    py=$(python3 -c '
import json, sys
d = json.load(sys.stdin)
g = d["gpus"][0]
assert d["policy"] == "best-fit" and d["placed"] == 7 and d["requested"] == 8
assert g["index"] == 0 and g["model"] == "NVIDIA A100-SXM4-40GB" and g["computeSlices"] == 7
assert len(g["instances"]) == 7 and all(i["size"] == 1 for i in g["instances"])
assert sorted(i["start"] for i in g["instances"]) == list(range(7))
assert all(v == 0 for v in g["canAdd"].values())
r = d["requests"]
assert [x["id"] for x in r] == list(range(1, 9))
assert sum(x["placed"] for x in r) == 7 and all(len(x["slices"]) == x["placed"] for x in r)
assert "reason" in r[7] and not r[7]["placed"]
print("ok")' <<<"$out" 2>&1)
    [[ "$py" == ok ]] && ok "--json parses and holds the plan (python3)" \
        || fail "--json parses and holds the plan (python3)" "python3 says ok, not: $py"
fi
plan --gpu $A100 --json --used 0:1g.5gb@0
expect_out "--json: a --used instance has request null" '"request": null'

# --- policies: first-fit strands a 4g.20gb that best-fit keeps --------------------------------
plan --gpu $A100 --policy best-fit 1g.5gb=3 4g.20gb=1
expect_rc "best-fit: 3 x 1g.5gb + 4g.20gb all fit" 0
expect_out "best-fit: the 4g.20gb at slice 0" '^  \| 4g\.20gb +\| 1g\.5gb\| 1g\.5gb\| 1g\.5gb\| +\. +\|$'
plan --gpu $A100 --policy first-fit 1g.5gb=3 4g.20gb=1
expect_rc "first-fit: the same batch leaves one out" 1
expect_out "first-fit: the 4g.20gb is stranded" '^not placed: 4g\.20gb #4: '
expect_out "first-fit: says its policy" '\(policy first-fit\)'

# --- K slices all or nothing ---------------------------------------------------------------------
plan --gpu $A100 1g.5gb:7=1
expect_rc ":7 on one A100 fits" 0
expect_count ":7: one request, seven boxes labelled #1" '\| #1 ' 7
plan --gpu $A100 1g.5gb:8=1
expect_rc ":8 on one A100 does not" 1
expect_out ":8: nothing is placed (all or nothing)" 'instances 0/7'
expect_out ":8: says why" '^not placed: 1g\.5gb:8 #1: '
plan --gpu $A100 --policy first-fit 1g.5gb=2 1g.5gb:6=1
expect_rc "first-fit: 2 singles, then a :6 with 5 left: exit 1" 1
expect_out "...the :6 is not placed" '^not placed: 1g\.5gb:6 #3'
expect_out "...and no part of it is drawn" 'instances 2/7'
plan --gpu $A100:2 --json 3g.20gb:3=1
expect_rc ":3 x 3g.20gb over two A100s" 0
expect_count "...three slices" '"start": [04]' 6

# --- existing instances (--used) ---------------------------------------------------------------
plan --gpu $A100 --used 0:1g.5gb@0 4g.20gb=1
expect_rc "a 1g.5gb at slice 0 blocks 4g.20gb" 1
expect_out "...the box says used" '^  \| 1g\.5gb\|'
expect_out "...labelled used" '^  \| used  \|'
expect_out "...and the reason" '^not placed: 4g\.20gb #1: '
plan --gpu $A100 --used 0:1g.5gb@6 4g.20gb=1 3g.20gb=1
expect_rc "a 1g.5gb at slice 6 blocks the 3g.20gb at 4" 1
usage_error "--used at a start NVIDIA does not list" 'may start at 0, 4' --gpu $A100 --used 0:3g.20gb@2
usage_error "--used overlapping" 'already taken' --gpu $A100 --used 0:1g.5gb@0 --used 0:1g.5gb@0
usage_error "--used on a missing GPU" 'no GPU 3' --gpu $A100 --used 3:1g.5gb@0
usage_error "--used with a bad profile" "no profile '9g'.*its profiles: 1g\.5gb" --gpu $A100 --used 0:9g@0
usage_error "--used malformed" 'expected GPU:PROFILE@START' --gpu $A100 --used 0-1g.5gb

summary
