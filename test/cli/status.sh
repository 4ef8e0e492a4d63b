#!/usr/bin/env bash
# `slicer status` through the real binary, on the emulated NVML (dlopen of
# build/emu/libnvidia-ml.so.1): NVML's view alone, then with a host agent
# whose slices show their owners, a foreign instance, a MIG-disabled GPU, JSON.
# usage: bash test/cli/status.sh /path/to/slicer   (ctest passes it)
set -uo pipefail
SLICER=${1:?usage: status.sh /path/to/slicer}
EMU=${SLICER_EMU_LIBRARY:-$(dirname "$SLICER")/emu/libnvidia-ml.so.1}
T=$(mktemp -d -t slicer-status.XXXXXX)
AGENT_PID=
cleanup() {
    [[ -n "$AGENT_PID" ]] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
# shellcheck source=../lib/check.sh
source "$(dirname "$0")/../lib/check.sh"
export SLICER_NVML_LIBRARY=$EMU SLICER_EMU_STATE=$T/emu-state.json SLICER_SOCKET=$T/agent.sock
export SLICER_EMU_GPUS=A100-SXM4-40GB,H100-80GB,A30 SLICER_EMU_MIG_DISABLED=2
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)" <<<"$out"; }

# --- usage ---------------------------------------------------------------------------------
slicer status --help
expect_rc "--help exits 0" 0
expect_out "--help documents --json" '^  --json'
slicer status --frobnicate
expect_rc "an unknown option is a usage error" 2
slicer status extra
expect_rc "an extra argument is a usage error" 2
SLICER_NVML_LIBRARY=$T/no-such-lib.so slicer status
expect_rc "NVML that cannot be loaded: exit 3" 3
expect_err "...saying which library" 'no-such-lib.so'

# --- NVML's view, no agent -----------------------------------------------------------------
slicer status
expect_rc "status without an agent exits 0" 0
expect_out "GPU 0 is the A100" '^GPU 0: NVIDIA A100-SXM4-40GB'
expect_out "GPU 1 is the H100" '^GPU 1: NVIDIA H100 80GB HBM3'
expect_out "GPU 2's MIG mode is off, and it says how to turn it on" 'MIG mode is off.*nvidia-smi -i 2 -mig 1'
expect_out "an empty A100 can take seven 1g.5gb" 'can still add: 1g.5gb x7'
expect_out "it says no agent answers" '^host agent: no host agent answers'

# --- with an agent: owners, and an instance that is not slicer's -----------------------------
"$SLICER" agent --host --state-dir "$T/state" --check-interval 100 >"$T/agent.log" 2>&1 &
AGENT_PID=$!
for _ in $(seq 100); do [[ -S $T/agent.sock ]] && break; sleep 0.05; done
ready_at_least() { # ready_at_least N: waits until the agent has N ready slices
    for _ in $(seq 100); do
        slicer status
        [[ $(grep -cE '^  #[0-9]+ +ready ' <<<"$out") -ge $1 ]] && return 0
        sleep 0.1
    done
    return 1
}
# One after the other, so that the layout (and what is left) is always the same.
"$SLICER" run -p 3g.20gb -- sleep 30 >/dev/null 2>&1 & RUN1=$!
ready_at_least 1
"$SLICER" run -p 1g.5gb -n 2 -- sleep 30 >/dev/null 2>&1 & RUN2=$!
ready_at_least 3
slicer status
expect_rc "status with an agent exits 0" 0
expect_out "the 3g.20gb is drawn over slices 4-7" '^  \| 1g.5gb\| 1g.5gb\|   .   \|   .   \| 3g.20gb +\|$'
expect_out "...with the agent's slice numbers" '^  \| #2    \| #3    \|       \|       \| #1 +\|$'
expect_count "three instances are listed with MIG UUIDs" '^      [0-9]+-[0-9]+ +[0-9a-z.+]+ +[0-9]+ +[0-9]+  MIG-[0-9a-f-]{36}' 3
expect_out "each names its owner (the slicer run's pid)" "slice #[0-9]+ ready, owner run:$RUN1:sleep"
expect_count "the two 1g.5gb belong to the second run" "1g.5gb .*ready, owner run:$RUN2:sleep" 2
expect_out "the agent summary counts 3 slices" '^host agent: 3 slice\(s\), policy best-fit'
expect_out "the A100 has room for two more 1g.5gb" 'can still add: 1g.5gb x2,'

slicer status --json
expect_rc "--json exits 0" 0
[[ $(json 'len(d["gpus"])') == 3 ]] && ok "JSON lists 3 GPUs" || fail "JSON lists 3 GPUs" 3
[[ $(json 'sum(1 for i in d["gpus"][0]["instances"] if i["slice"] and i["uuid"].startswith("MIG-"))') == 3 ]] \
    && ok "JSON: 3 instances on GPU 0 with slices and MIG UUIDs" || fail "JSON: 3 instances on GPU 0" 3
[[ $(json 'd["gpus"][0]["canAdd"]["1g.5gb"]') == 2 ]] && ok "JSON: canAdd 1g.5gb = 2" || fail "JSON canAdd" 2
[[ $(json 'd["gpus"][2]["migEnabled"]') == False ]] && ok "JSON: GPU 2 MIG off" || fail "JSON GPU 2 MIG off" False
[[ $(json 'len(d["agent"]["slices"])') == 3 ]] && ok "JSON carries the agent's 3 slices" || fail "JSON agent slices" 3

slicer status --no-agent
expect_out "--no-agent shows NVML's view only" '^host agent: not asked'
expect_no "...without owners" 'owner run:'

kill "$RUN1" "$RUN2"; wait "$RUN1" "$RUN2" 2>/dev/null
for _ in $(seq 50); do slicer status; grep -q 'host agent: 0 slice' <<<"$out" && break; sleep 0.1; done
expect_out "after the runs end the agent holds nothing" '^host agent: 0 slice\(s\)'
expect_out "...and the A100 is whole again" 'can still add: 1g.5gb x7'

summary
