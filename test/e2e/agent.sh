#!/usr/bin/env bash
# `slicer agent` in cluster mode on a real control plane (test/cluster) and the
# emulated NVML (state shared in a file, so kills and restarts find the GPUs as
# they were): the GPUNode and the Node capacity it publishes, GPUSlices created
# by hand with kubectl (with the finalizer, as the controller makes them) made
# Ready and torn down, refusals with NVML's words and nothing left, kill -9
# during creation and teardown, a foreign instance (made by a host-mode agent on
# the same GPUs), and a reboot (new boot ID, MIG state gone).
# usage: bash test/e2e/agent.sh /path/to/slicer   (ctest passes it and SLICER_EMU_LIBRARY)
set -uo pipefail
SLICER=${1:?usage: agent.sh /path/to/slicer}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
CLUSTER=$SRC/test/cluster
EMU=${SLICER_EMU_LIBRARY:-$(dirname "$SLICER")/emu/libnvidia-ml.so.1}
T=$(mktemp -d -t slicer-e2e-agent.XXXXXX)
STATE=$T/cluster
NODE=gpu-node-0
AGENT_PID= HOST_PID= RUN_PID=
cleanup() {
    for p in $RUN_PID $HOST_PID $AGENT_PID; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    "$CLUSTER/down" --state "$STATE" >/dev/null 2>&1
    [[ -n "${KEEP:-}" ]] || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# shellcheck source=../lib/check.sh
source "$SRC/test/lib/check.sh"

if [[ ! -f "$EMU" ]]; then
    echo "FAIL - the emulated NVML is not at $EMU (set SLICER_EMU_LIBRARY)"; echo "0 passed, 1 failed"; exit 1
fi
export SLICER_NVML_LIBRARY=$EMU SLICER_EMU_GPUS=A100-SXM4-40GB:2 SLICER_EMU_STATE=$T/emu-state.json

# --- flags, without a cluster -------------------------------------------------------------------
slicer agent --help
expect_rc "slicer agent --help exits 0" 0
expect_out "...and documents the cluster flags" '--node-name.*' 
expect_out "...--heartbeat" '--heartbeat SECONDS'
expect_out "...--boot-id-file" '--boot-id-file PATH'
expect_out "...--events" "--events KIND .*'warnings' \\(default"
slicer agent --heartbeat 0
expect_rc "--heartbeat 0 is a usage error (2)" 2
slicer agent --events some
expect_rc "--events some is a usage error (2)" 2
expect_err "...naming the choices" "--events is 'warnings' or 'all', not 'some'"
slicer agent --bogus
expect_rc "an unknown flag is a usage error (2)" 2
slicer agent --kubeconfig "$T/none" --node-name x --state-dir "$T/x" --boot-id-file /proc/sys/kernel/random/boot_id
expect_rc "a kubeconfig that does not exist is a failure (3)" 3
expect_err "...saying so" 'none'

if ! "$CLUSTER/up" --state "$STATE" >"$T/up.log" 2>&1; then
    echo "FAIL - test/cluster/up failed:"; tail -30 "$T/up.log"
    echo "$((checks - fails)) passed, $((fails + 1)) failed"; exit 1
fi
# shellcheck disable=SC1091
. "$STATE/cluster.env"
export KUBECONFIG
k() { "$KUBECTL" "$@"; }
kk() { out=$(k "$@" 2>"$T/stderr"); rc=$?; err=$(<"$T/stderr"); } # keeps out, err, rc
ok "a real control plane is up"
k apply -f "$SRC/deploy/base/crd-gpunodes.yaml" -f "$SRC/deploy/base/crd-gpuslices.yaml" >/dev/null
k wait --for=condition=Established --timeout=60s crd/gpunodes.slicer.dev crd/gpuslices.slicer.dev >/dev/null
"$CLUSTER/add-gpu-node" "$NODE" --gpus 2 --state "$STATE" >/dev/null 2>&1
kk get node "$NODE"
expect_rc "the kwok GPU node $NODE exists" 0

# --- helpers --------------------------------------------------------------------------------------
echo boot-one >"$T/boot_id"
N=0
AGENT_FLAGS=()
start_agent() { # start_agent [VAR=VALUE...]: the agent in the background, its own log
    N=$((N + 1))
    env "$@" "$SLICER" agent --node-name "$NODE" --state-dir "$T/state" --boot-id-file "$T/boot_id" \
        --heartbeat 2 --log-level debug "${AGENT_FLAGS[@]}" >"$T/agent.$N.log" 2>&1 &
    AGENT_PID=$!
}
stop_agent() { # SIGTERM, wait; keeps the exit code in rc
    kill "$AGENT_PID"; wait "$AGENT_PID"; rc=$?; AGENT_PID=
}
kill9_agent() { kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=; }
# wait_for SECONDS FUNCTION [ARGS...]: re-runs FUNCTION until it succeeds
wait_for() {
    local deadline=$((SECONDS + $1)); shift
    until "$@"; do ((SECONDS >= deadline)) && return 1; sleep 0.2; done
}
slice() { # slice NAME PROFILE START SIZE [GPU-UUID]: a GPUSlice as the controller makes it
    cat <<EOF | k apply -f - >/dev/null
apiVersion: slicer.dev/v1alpha1
kind: GPUSlice
metadata:
  name: $1
  namespace: default
  labels: {slicer.dev/node: $NODE, slicer.dev/pod-uid: 0a1b2c3d}
  finalizers: [slicer.dev/teardown]
spec:
  podName: pod-$1
  podUID: 0a1b2c3d-0000-0000-0000-000000000000
  container: devices-0
  profile: $2
  nodeName: $NODE
  gpuUUID: ${5:-$GPU0}
  placement: {start: $3, size: $4}
EOF
}
phase_of() { k get gslice "$1" -o jsonpath='{.status.phase}' 2>/dev/null; }
phase_is() { [[ "$(phase_of "$1")" == "$2" ]]; }
gone() { ! k get gslice "$1" >/dev/null 2>&1; }
ready_true() { [[ "$(k get gnode "$NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]; }
# The emulator's instances: "gpu start profile migUUID" lines ("-" without CI).
emu_instances() {
    jq -r '.gpus[] | .index as $g | .gpu_instances[] | "\($g) \(.start) \(.profile) \(.compute_instances[0].uuid // "-")"' \
        "$SLICER_EMU_STATE"
}
# Ready slices' MIG UUIDs == the emulator's slicer-made instances (all but `foreign`).
FOREIGN_UUID=none
converged() {
    local want have
    want=$(k get gslice -o json | jq -r '.items[] | select(.status.phase == "Ready") | .status.migUUID' | sort)
    have=$(emu_instances | awk -v f="$FOREIGN_UUID" '$4 != f {print $4}' | sort)
    [[ "$want" == "$have" ]]
}
expect_converged() {
    if wait_for 20 converged; then ok "$1"; else
        out="Ready slices: $(k get gslice -o json | jq -c '[.items[] | {n: .metadata.name, p: .status.phase, u: .status.migUUID}]')
emulator: $(emu_instances | tr '\n' ';')"
        fail "$1" "Ready GPUSlices' MIG UUIDs == the emulator's instances"
    fi
}
events() { k get events.events.k8s.io -A -o json | jq -r '.items[] | "\(.reason) \(.regarding.kind)/\(.regarding.name): \(.note)"'; }
journal() { jq -c '[.slices[] | {slice, phase}]' "$T/state/cluster-journal.json"; }

# --- the GPUNode and the Node capacity ------------------------------------------------------------
AGENT_FLAGS=(--events all) # the success Events too (until the next start)
start_agent
if wait_for 30 ready_true; then ok "the agent publishes GPUNode $NODE with Ready=True"; else
    out=$(cat "$T/agent.$N.log"); fail "the agent publishes GPUNode $NODE with Ready=True" "Ready=True"; fi
GPU0=$(jq -r '.gpus[0].uuid' "$SLICER_EMU_STATE")
GPU1=$(jq -r '.gpus[1].uuid' "$SLICER_EMU_STATE")
kk get gnode "$NODE" -o json
st=$(jq -c .status <<<"$out")
out=$st
expect_out "...gpuCount 2" '"gpuCount":2'
expect_out "...bootID from --boot-id-file" '"bootID":"boot-one"'
expect_out "...agentVersion and heartbeatTime" '"agentVersion":"[0-9][^"]*".*"heartbeatTime":"20[0-9-]+T'
out=$(jq -c '[.gpus[] | {index, uuid, model, migMode, memoryMiB}]' <<<"$st")
expect_out "...both GPUs with the emulator's UUIDs, NVML's model name and MIG mode" \
    "\"index\":0,\"uuid\":\"$GPU0\",\"model\":\"NVIDIA A100-SXM4-40GB\",\"migMode\":true,\"memoryMiB\":[0-9]+}.*\"uuid\":\"$GPU1\""
out=$(jq -c '.gpus[0].profiles[] | select(.name == "1g.5gb")' <<<"$st")
expect_out "...profiles from NVML: 1g.5gb has GI profile id 19, CI profile 0, 1 slice, 7 placements" \
    '"ciProfileId":0,"giProfileId":19,.*"placements":\[\{"size":1,"start":0\}.*\{"size":1,"start":6\}\],"sliceCount":1'
out=$(jq -r '[.gpus[0].profiles[].name] | sort | join(",")' <<<"$st")
expect_out "...and every other A100-40GB profile" '^1g\.10gb,1g\.5gb,1g\.5gb\+me,2g\.10gb,3g\.20gb,4g\.20gb,7g\.40gb$'
out=$(jq -c '[.gpus[].instances[]]' <<<"$st")
expect_out "...no instances yet" '^\[\]$'

node_res() { k get node "$NODE" -o json | jq -c "{c: .status.capacity, a: .status.allocatable}"; }
cap_set() { [[ "$(k get node "$NODE" -o jsonpath='{.status.capacity.mig\.slicer\.dev/1g\.5gb}')" == 14 ]]; }
wait_for 20 cap_set
out=$(node_res)
expect_out "Node capacity: mig.slicer.dev/1g.5gb = 14 (7 per empty GPU x 2)" '"c":\{.*"mig.slicer.dev/1g.5gb":"14"'
expect_out "...7g.40gb = 2, 3g.20gb = 4, 1g.5gb+me written 1g.5gb.me = 2" \
    '"mig.slicer.dev/1g.5gb.me":"2".*"mig.slicer.dev/3g.20gb":"4".*"mig.slicer.dev/7g.40gb":"2"'
expect_out "...allocatable the same" '"a":\{.*"mig.slicer.dev/1g.5gb":"14".*"mig.slicer.dev/7g.40gb":"2"'
expect_out "...kwok's own cpu/memory/pods kept" '"c":\{"cpu":"1k"'
k patch node "$NODE" --subresource=status --type=merge \
    -p '{"status":{"capacity":{"mig.slicer.dev/9g.99gb":"3"},"allocatable":{"mig.slicer.dev/9g.99gb":"3"}}}' >/dev/null
stale_gone() { ! node_res | grep -q 9g.99gb; }
if wait_for 15 stale_gone; then ok "...a mig.slicer.dev/ resource the GPUs do not offer is removed at the next heartbeat"
else out=$(node_res); fail "...a stale mig.slicer.dev/ resource is removed" "no 9g.99gb"; fi
sleep 3
out=$(node_res)
expect_out "...and the capacity stays after heartbeats (kwok does not overwrite it)" '"mig.slicer.dev/1g.5gb":"14"'

k delete gnode "$NODE" >/dev/null
gnode_back() { k get gnode "$NODE" -o jsonpath='{.status.gpuCount}' 2>/dev/null | grep -qx 2; }
if wait_for 15 gnode_back; then ok "a deleted GPUNode is made again and filled at the next heartbeat"
else out=$(k get gnode -o yaml); fail "the GPUNode is made again" "gpuCount 2"; fi

# --- a slice made and torn down ------------------------------------------------------------------
# Every phase s1's status goes through, as a watch sees it.
k get gslice -w -o jsonpath='{.metadata.name} {.status.phase}{"\n"}' >"$T/s1.watch" 2>/dev/null &
WATCH_PID=$!
sleep 1
slice s1 1g.5gb 0 1
if wait_for 20 phase_is s1 Ready; then ok "GPUSlice s1 (1g.5gb at 0) becomes Ready"; else
    out=$(k get gslice s1 -o yaml); fail "GPUSlice s1 becomes Ready" "phase Ready"; fi
kk get gslice s1 -o json
U1=$(jq -r .status.migUUID <<<"$out")
out=$(jq -c .status <<<"$out")
sleep 1; kill "$WATCH_PID" 2>/dev/null; wait "$WATCH_PID" 2>/dev/null
status_out=$out
out=$(awk '$1 == "s1" {print $2 ? $2 : "-"}' "$T/s1.watch" | uniq | tr '\n' ' ')
expect_out "...a quick creation goes from no phase straight to Ready: one status write" '^- Ready $'
out=$status_out
expect_out "...with migUUID, giId, ciId, createdTime and readyTime" \
    '"ciId":0,"createdTime":"20.*","giId":[0-9]+,"migUUID":"MIG-[0-9a-f-]+","phase":"Ready","readyTime":"20'
out=$(emu_instances)
expect_out "...the emulator holds that MIG UUID on GPU 0 at 0 (1g.5gb)" "^0 0 1g.5gb $U1\$"
instances() { k get gnode "$NODE" -o json | jq -c '[.status.gpus[].instances[]]'; }
has_instance() { instances | grep -q "\"slice\":\"$1\""; }
wait_for 10 has_instance default/s1
out=$(instances)
expect_out "...the GPUNode lists the instance with slice default/s1" \
    "\"ciId\":0,\"giId\":[0-9]+,\"migUUID\":\"$U1\",\"profile\":\"1g.5gb\",\"size\":1,\"slice\":\"default/s1\",\"start\":0"
has_event() { events | grep -qE "$1"; }
wait_for 10 has_event "^SliceCreated GPUSlice/s1: created 1g.5gb at 0"
out=$(events)
expect_out "...and a SliceCreated Event on the slice" "^SliceCreated GPUSlice/s1: created 1g.5gb at 0 .*$U1"
out=$(journal)
expect_out "...the journal ($T/state/cluster-journal.json) has it, ready" '\{"slice":"default/s1","phase":"ready"\}'

kk delete gslice s1 --timeout=20s
expect_rc "deleting s1 returns once the agent removed its finalizer" 0
kk get gslice s1
expect_rc "...the object is gone" 1
out=$(emu_instances)
expect_no "...the MIG instance is destroyed (emulator state)" "$U1"
wait_for 10 has_event "^SliceDestroyed GPUSlice/s1"
out=$(events)
expect_out "...a SliceDestroyed Event" '^SliceDestroyed GPUSlice/s1: destroyed 1g.5gb at 0'
out=$(journal)
expect_out "...the journal is empty" '^\[\]$'

# --- refusals: NVML's words, nothing left ---------------------------------------------------------
slice s2 1g.5gb 0 1
slice s3 2g.10gb 0 2
wait_for 20 phase_is s2 Ready
wait_for 20 phase_is s3 Failed
kk get gslice s2 s3 -o jsonpath='{range .items[*]}{.metadata.name}={.status.phase};{end}'
expect_out "s2 (1g.5gb at 0) Ready, s3 (2g.10gb at 0:2, overlapping it) Failed" '^s2=Ready;s3=Failed;$'
kk get gslice s3 -o jsonpath='{.status.message}'
expect_out "...s3's message has NVML's words and what is in the way" \
    'creating 2g.10gb at 0:2 on GPU 0; in the way: GI [0-9]+ \(1g.5gb at 0:1\): Insufficient Resources \(NVML_ERROR_INSUFFICIENT_RESOURCES\)'
out=$(emu_instances)
expect_count "...and GPU 0 holds only s2's instance" '^0 ' 1
wait_for 10 has_event "^NVMLError GPUSlice/s3"
out=$(events)
expect_out "...an NVMLError Event on s3" '^NVMLError GPUSlice/s3: .*INSUFFICIENT_RESOURCES'
slice s3x 1g.5gb 0 1 GPU-00000000-0000-0000-0000-000000000000
wait_for 20 phase_is s3x Failed
kk get gslice s3x -o jsonpath='{.status.phase}: {.status.message}'
expect_out "a slice on a GPU this node does not have is Failed, saying so" '^Failed: GPU GPU-0+-.* is not on node gpu-node-0'
k delete gslice s3 s3x --timeout=20s >/dev/null

stop_agent
expect_rc "SIGTERM stops the agent cleanly (exit 0)" 0
kk get gnode "$NODE" -o jsonpath='{.status.conditions[0].status}/{.status.conditions[0].reason}'
expect_out "...and the GPUNode says Ready=False (AgentStopped)" '^False/AgentStopped$'

AGENT_FLAGS=()
# Injected NVML faults: the process's first CI create fails (UNKNOWN), and its second GI
# destroy (the first is the failed create's roll-back) says IN_USE.
start_agent SLICER_EMU_FAULTS=nvmlGpuInstanceCreateComputeInstance:1:UNKNOWN,nvmlGpuInstanceDestroy:2:IN_USE
wait_for 20 ready_true
slice s4 2g.10gb 2 2
wait_for 20 phase_is s4 Failed
kk get gslice s4 -o jsonpath='{.status.phase}: {.status.message}'
expect_out "an NVML fault while creating the CI: Failed, with NVML's words" \
    '^Failed: creating 2g.10gb at 2 on GPU 0: GI [0-9]+: creating the compute instance .*NVML_ERROR_UNKNOWN'
out=$(emu_instances)
expect_no "...and its GI was removed again (nothing at 2 on GPU 0)" '^0 2 '
expect_converged "...state file == Ready GPUSlices"
k delete gslice s4 --timeout=20s >/dev/null
slice s4b 1g.5gb 3 1
wait_for 20 phase_is s4b Ready
kk delete gslice s4b --timeout=30s
expect_rc "a teardown that NVML refuses (IN_USE) is retried until the object goes" 0
wait_for 10 has_event "^NVMLError GPUSlice/s4b"
out=$(events)
expect_out "...with an NVMLError Event in NVML's words" '^NVMLError GPUSlice/s4b: destroying 1g.5gb at 3 on GPU 0: .*NVML_ERROR_IN_USE'
expect_no "...and with --events warnings (the default) no SliceCreated for it" '^SliceCreated GPUSlice/s4b'
grep -q 'slice default/s4b: .*IN_USE.*retrying in' "$T/agent.$N.log" && ok "...and a retry with backoff in the log" \
    || { out=$(cat "$T/agent.$N.log"); fail "...a retry with backoff" "retrying in"; }
out=$(emu_instances)
expect_no "...and the instance is gone" '^0 3 '
stop_agent

# --- kill -9 during creation and teardown ---------------------------------------------------------
# Every GI/CI create and destroy of the emulator sleeps 4 s: kills land inside them.
start_agent SLICER_EMU_LATENCY_MS=4000
wait_for 20 ready_true
slice s5 3g.20gb 4 4 "$GPU1"
wait_for 20 phase_is s5 Creating
kill9_agent
kk get gslice s5 -o jsonpath='{.status.phase}'
expect_out "kill -9 while s5's GI is being created: s5 stays Creating" '^Creating$'
out=$(journal)
expect_out "...journaled before NVML was called" '"slice":"default/s5","phase":"creating"'
start_agent SLICER_EMU_LATENCY_MS=4000
if wait_for 30 phase_is s5 Ready; then ok "...after a restart s5 is Ready (its creation resumed)"
else out=$(k get gslice -o wide); fail "...after a restart s5 is Ready" "s5 Ready"; fi
slice s6 2g.10gb 2 2 "$GPU1"
wait_for 20 phase_is s6 Creating
sleep 6 # GI made at 4 s, CI due at 8 s: 2 s of margin each way
kill9_agent
out=$(emu_instances)
expect_out "kill -9 between s6's GI and its CI: the GI is there without CI" '^1 2 2g.10gb -$'
start_agent
if wait_for 30 phase_is s6 Ready; then ok "...after a restart s6 is Ready"
else out=$(k get gslice -o wide); fail "...after a restart s6 is Ready" "s6 Ready"; fi
out=$(emu_instances)
expect_out "...s6's GI got its CI (adopted and finished, not made twice)" '^1 2 2g.10gb MIG-'
expect_count "...GPU 1 holds exactly two instances" '^1 ' 2
expect_converged "...state file == Ready GPUSlices"
uuids=$(k get gslice -o jsonpath='{range .items[*]}{.status.migUUID}{"\n"}{end}' | grep . | sort)
[[ "$(uniq <<<"$uuids" | wc -l)" == "$(wc -l <<<"$uuids")" ]] && ok "...no MIG UUID is handed to two slices" \
    || { out=$uuids; fail "...no MIG UUID handed twice" "distinct UUIDs"; }
stop_agent

start_agent SLICER_EMU_LATENCY_MS=4000
wait_for 20 ready_true
k delete gslice s5 --wait=false >/dev/null
wait_for 20 phase_is s5 Releasing
sleep 1
kill9_agent
kk get gslice s5 -o jsonpath='{.status.phase}/{.metadata.finalizers[0]}'
expect_out "kill -9 while s5's CI is being destroyed: s5 is Releasing and keeps its finalizer" '^Releasing/slicer.dev/teardown$'
start_agent SLICER_EMU_LATENCY_MS=4000
if wait_for 30 gone s5; then ok "...after a restart s5's teardown finishes and the object goes"
else out=$(k get gslice -o wide); fail "...after a restart s5 is gone" "no s5"; fi
k delete gslice s6 --wait=false >/dev/null
wait_for 20 phase_is s6 Releasing
sleep 6 # CI destroyed at 4 s, GI due at 8 s
kill9_agent
out=$(emu_instances)
expect_out "kill -9 between s6's CI and GI destroy: the GI is left without CI" '^1 2 2g.10gb -$'
start_agent
if wait_for 30 gone s6; then ok "...after a restart s6 is gone"
else out=$(k get gslice -o wide); fail "...after a restart s6 is gone" "no s6"; fi
out=$(emu_instances)
expect_no "...and GPU 1 holds nothing" '^1 '
expect_converged "...state file == Ready GPUSlices"

# An orphan: journaled, but its GPUSlice is gone (deleted by force while the agent was down).
slice s7 1g.5gb 6 1 "$GPU1"
wait_for 20 phase_is s7 Ready
stop_agent
k patch gslice s7 --type=json -p '[{"op":"remove","path":"/metadata/finalizers"}]' >/dev/null
k delete gslice s7 --timeout=20s >/dev/null
start_agent
no_gpu1() { ! emu_instances | grep -q '^1 '; }
if wait_for 20 no_gpu1; then ok "a journaled instance whose GPUSlice vanished is destroyed at start-up"
else out=$(emu_instances); fail "the orphan is destroyed" "nothing on GPU 1"; fi
out=$(journal)
expect_out "...and its entry dropped" '^\[\{"slice":"default/s2","phase":"ready"\}\]$'

# --- a foreign instance: made by a host-mode agent on the same (emulated) GPUs --------------------
"$SLICER" agent --host --socket "$T/host.sock" --state-dir "$T/host-state" >"$T/host.log" 2>&1 &
HOST_PID=$!
for _ in $(seq 50); do [[ -S "$T/host.sock" ]] && break; sleep 0.1; done
"$SLICER" run --socket "$T/host.sock" -p 1g.10gb --owner foreign -- sleep 600 >"$T/run.log" 2>&1 &
RUN_PID=$!
foreign_made() { emu_instances | grep -q ' 1g.10gb MIG-'; }
wait_for 20 foreign_made
read -r FG FSTART _ FOREIGN_UUID < <(emu_instances | grep ' 1g.10gb ')
[[ -n "$FOREIGN_UUID" ]] && ok "slicer run (host mode) made a foreign 1g.10gb at $FSTART on GPU $FG" \
    || { out=$(cat "$T/run.log" "$T/host.log"); fail "a foreign instance is made" "a 1g.10gb instance"; }
foreign_listed() { instances | grep -q "\"migUUID\":\"$FOREIGN_UUID\",\"profile\":\"1g.10gb\",\"size\":2,\"slice\":\"\""; }
if wait_for 15 foreign_listed; then ok "...the GPUNode reports it with slice \"\""
else out=$(instances); fail "...the GPUNode reports it with slice \"\"" "the foreign instance, slice \"\""; fi
wait_for 10 has_event "^ForeignInstance GPUNode/$NODE"
out=$(events)
expect_out "...a ForeignInstance Event on the GPUNode" "^ForeignInstance GPUNode/$NODE: GPU $FG .* at $FSTART:2 that slicer did not make"
FGPU=$(jq -r ".gpus[$FG].uuid" "$SLICER_EMU_STATE")
slice s8 1g.10gb "$FSTART" 2 "$FGPU"
wait_for 20 phase_is s8 Failed
kk get gslice s8 -o jsonpath='{.status.message}'
expect_out "a slice at exactly the foreign instance's placement is Failed, not handed it" 'left untouched'
k delete gslice s8 --timeout=20s >/dev/null
out=$(emu_instances)
expect_out "...and the foreign instance is untouched (same MIG UUID), after s8's deletion too" "^$FG $FSTART 1g.10gb $FOREIGN_UUID\$"
kill "$RUN_PID"; wait "$RUN_PID" 2>/dev/null; RUN_PID=
kill "$HOST_PID"; wait "$HOST_PID" 2>/dev/null; HOST_PID=
FOREIGN_UUID=none
expect_converged "...the host agent released it: state file == Ready GPUSlices"

# --- a reboot: new boot ID, MIG instances gone -------------------------------------------------------
slice s9 7g.40gb 0 8 "$GPU1"
wait_for 20 phase_is s9 Ready
stop_agent
rm -f "$SLICER_EMU_STATE" "$SLICER_EMU_STATE.lock" # the GPUs come back empty
echo boot-two >"$T/boot_id"
start_agent
wait_for 20 has_event "^NodeRebooted GPUNode/$NODE"
out=$(events)
expect_out "after a reboot: a NodeRebooted Event on the GPUNode" "^NodeRebooted GPUNode/$NODE: boot ID boot-two, was boot-one"
if wait_for 20 phase_is s2 Failed && wait_for 20 phase_is s9 Failed; then ok "...the Ready slices s2 and s9 are Failed"
else out=$(k get gslice -o wide); fail "...the Ready slices are Failed" "s2, s9 Failed"; fi
kk get gslice s9 -o jsonpath='{.status.message}'
expect_out "...saying the node rebooted" 'the node rebooted'
kk get gnode "$NODE" -o jsonpath='{.status.bootID}'
expect_out "...the GPUNode has the new boot ID" '^boot-two$'
out=$(journal)
expect_out "...the journal is empty" '^\[\]$'
out=$(emu_instances)
expect_no "...and nothing was made again" '.'
kk delete gslice s2 s9 --timeout=20s
expect_rc "...Failed slices are deleted at once (finalizer removed, nothing to destroy)" 0
stop_agent
expect_rc "the agent stops cleanly (exit 0)" 0
out=$(grep -hE 'Sanitizer|runtime error| error ' "$T"/agent.*.log | grep -v 'error: true' | head)
expect_no "no agent logged an error or a sanitizer report" '.'

summary
