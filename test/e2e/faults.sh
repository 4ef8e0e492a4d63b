#!/usr/bin/env bash
# Faults, end to end on a real control plane: the webhook, two controllers
# (leader election) and one agent on an emulated A100-SXM4-40GB, with deploy/'s
# flags. After each fault the system must converge: every pod that can run
# runs, the GPU holds exactly the instances the GPUSlices name, and no MIG
# UUID is handed to two pods.
#   kill -9 the agent while it creates a slice, and while it destroys one
#   kill -9 the leading controller right after a burst of pods (the standby leads)
#   restart the apiserver
#   NVML errors injected by the emulator (a failed GI create, a failed CI create)
# usage: bash test/e2e/faults.sh /path/to/slicer   (ctest passes it)
set -uo pipefail
SLICER=${1:?usage: faults.sh /path/to/slicer}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d -t slicer-e2e-faults.XXXXXX)
cleanup() { e2e_cleanup; rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
# shellcheck source=../lib/check.sh
source "$SRC/test/lib/check.sh"
# shellcheck source=../lib/e2e.sh
source "$SRC/test/lib/e2e.sh"

e2e_up
e2e_webhook || { fail "slicer webhook starts" "a serving webhook"; summary; exit 1; }
e2e_controller one
e2e_controller two
e2e_gpu_node gpu-0 A100-SXM4-40GB:1 || { fail "node gpu-0 and its agent start" "a Ready node"; summary; exit 1; }
k create namespace e2e >/dev/null
wait_for 20 k get serviceaccount default -n e2e -o name >/dev/null 2>&1
leader() { k get lease -n slicer-system slicer-controller -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
has_leader() { [[ -n "$(leader)" ]]; }
wait_for 30 has_leader && ok "one of the two controllers leads ($(leader))" || fail "a controller leads" "a holder"

phase() { k get pod -n e2e "$1" -o jsonpath='{.status.phase}' 2>/dev/null; }
is_running() { [[ "$(phase "$1")" == Running ]]; }
slice_phase() { # the phase of POD's (only) slice
    k get gslice -n e2e -o json | jq -r --arg p "$1" '.items[] | select(.spec.podName == $p) | .status.phase // "Pending"'
}
slice_in() { [[ "$(slice_phase "$1")" == "$2" ]]; }
running() { [[ "$(k get pods -n e2e -l "app=$1" --field-selector=status.phase=Running -o name | wc -l)" == "$2" ]]; }
show() { out=$(k get pods -n e2e -o wide 2>&1; k get gslice -A 2>&1; e2e_emu_instances gpu-0); }
# The invariant: the GPU's instances are the API's slices, and no UUID is on two pods.
agree() {
    local api emu pods
    api=$(k get gslice -A -o json | jq -r '.items[].status.migUUID // empty' | sort)
    emu=$(e2e_emu_instances gpu-0 | awk '{print $4}' | sort)
    pods=$(k get pods -n e2e -o json | jq -r '.items[].metadata.annotations["slicer.dev/devices-0"] // empty' | tr ',' '\n' | sort)
    [[ "$api" == "$emu" && -z "$(uniq -d <<<"$pods")" ]]
}
converged() { # converged WHAT: the invariant holds (polled)
    if wait_for 60 agree; then ok "$1: the GPU holds exactly the GPUSlices' instances, none given twice"; else
        show; fail "$1: GPU and API agree" "the same instances"; fi
}
mig_pod() {
    k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: e2e, labels: {app: ${2:-single}}}
spec:
  containers:
    - {name: model, image: registry.invalid/model:1, resources: {limits: {nvidia.com/mig-1g.5gb: 1}}}
EOF
}
mig_deployment() { # NAME REPLICAS: a Deployment of pods asking one 1g.5gb each
    k apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1, namespace: e2e}
spec:
  replicas: $2
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}}
    spec:
      containers:
        - {name: model, image: registry.invalid/model:1, resources: {limits: {nvidia.com/mig-1g.5gb: 1}}}
EOF
}
restart_agent() { e2e_kill agent-gpu-0 KILL; E2E_AGENT_ENV=${1:-} e2e_agent gpu-0; }

# --- kill -9 the agent while it creates a slice ----------------------------------------------
restart_agent SLICER_EMU_LATENCY_MS=3000
scheduled_note() { out=$(k get events.events.k8s.io -n e2e -o json | jq -r '.items[] | select(.regarding.name == "c1"
    and .reason == "SliceScheduled") | .note'); [[ -n "$out" ]]; }
mig_pod c1
if wait_for 30 slice_in c1 Creating; then
    # Its GI takes 3 s and its CI 3 s more: the pod waits, and the controller says where.
    wait_for 10 scheduled_note
    expect_out "c1 waits over a second for its slice: SliceScheduled says where and on what" \
        "^node gpu-0: 1g\.5gb on GPU-[0-9a-f-]+ at start [0-6]; waiting for the node's agent to create them$"
    e2e_kill agent-gpu-0 KILL
    ok "the agent is killed (-9) while c1's slice is Creating"
else show; fail "c1's slice reaches Creating" "Creating"; fi
E2E_AGENT_ENV= e2e_agent gpu-0
wait_for 60 is_running c1 && ok "...restarted, it finishes the slice and c1 runs" || { show; fail "c1 Running" "Running"; }
converged "after the agent's crash mid-creation"

# --- kill -9 the agent while it destroys a slice ---------------------------------------------
restart_agent SLICER_EMU_LATENCY_MS=3000
k delete pod -n e2e c1 --wait=false >/dev/null
if wait_for 30 slice_in c1 Releasing; then
    sleep 0.5
    e2e_kill agent-gpu-0 KILL
    ok "the agent is killed (-9) while c1's slice is Releasing"
else show; fail "c1's slice reaches Releasing" "Releasing"; fi
E2E_AGENT_ENV= e2e_agent gpu-0
nothing() { [[ -z "$(k get gslice -A -o name)" && -z "$(e2e_emu_instances gpu-0)" ]]; }
wait_for 60 nothing && ok "...restarted, it finishes the teardown: no slice, no instance" || { show; fail "teardown finished" "nothing"; }

# --- kill -9 the leading controller right after a burst ----------------------------------------
first=$(leader)
mig_deployment burst 5
some_slices() { [[ -n "$(k get gslice -n e2e -o name)" ]]; }
wait_for 30 some_slices
e2e_kill "controller-$first" KILL
ok "the leader ($first) is killed (-9) in the middle of placing a burst of 5"
other_leads() { [[ -n "$(leader)" && "$(leader)" != "$first" ]]; }
wait_for 40 other_leads && ok "...the standby ($(leader)) takes the Lease" || fail "the standby leads" "a new holder"
wait_for 90 running burst 5 && ok "...and all 5 pods run" || { show; fail "5 burst pods Running" "5"; }
out=$(k get gslice -n e2e -o name | wc -l)
[[ $out == 5 ]] && ok "...with exactly 5 slices" || fail "5 slices" "5, got $out"
converged "after the leader's crash"
e2e_controller "$first"

# --- restart the apiserver -------------------------------------------------------------------
if "$CLUSTER/restart" kube-apiserver --state "$STATE" >"$T/restart.log" 2>&1; then
    ok "the apiserver restarts"; else out=$(tail "$T/restart.log"); fail "apiserver restart" "healthy"; fi
k scale deployment burst -n e2e --replicas=7 >/dev/null
wait_for 90 running burst 7 && ok "...and 2 more replicas placed after it get their slices and run" ||
    { show; fail "7 burst pods Running" "7"; }
converged "after the apiserver restart"
k scale deployment burst -n e2e --replicas=0 >/dev/null
wait_for 90 nothing && ok "scaled to 0: nothing left" || { show; fail "nothing left" "nothing"; }

# --- NVML errors ---------------------------------------------------------------------------
failed_then_running() { # POD: an NVMLError Event, then Running
    k get events.events.k8s.io -n e2e -o json |
        jq -e --arg p "$1" '.items[] | select(.regarding.name == $p and .reason == "NVMLError")' >/dev/null &&
        is_running "$1"
}
restart_agent SLICER_EMU_FAULTS=nvmlDeviceCreateGpuInstanceWithPlacement:1:INSUFFICIENT_RESOURCES
mig_pod n1
wait_for 90 failed_then_running n1 && ok "a GI create refused by NVML: NVMLError Event, then placed again and Running" ||
    { show; out+=$(k get events.events.k8s.io -n e2e | tail -5); fail "n1 NVMLError then Running" "both"; }
converged "after a refused GI create"
restart_agent SLICER_EMU_FAULTS=nvmlGpuInstanceCreateComputeInstance:1:UNKNOWN
mig_pod n2
wait_for 90 failed_then_running n2 && ok "a CI create failing after its GI: NVMLError, the GI rolled back, placed again and Running" ||
    { show; fail "n2 NVMLError then Running" "both"; }
converged "after a failed CI create"
k delete pods -n e2e --all --wait=false >/dev/null
wait_for 90 nothing && ok "all pods deleted: nothing left" || { show; fail "nothing left" "nothing"; }

# --- the node reboots under a running pod ----------------------------------------------------
mig_deployment lost 1
wait_for 60 running lost 1 || { show; fail "the lost Deployment's pod runs" "Running"; }
old=$(k get pods -n e2e -l app=lost -o jsonpath='{.items[0].metadata.name}')
old_uuid=$(k get pod -n e2e "$old" -o jsonpath='{.metadata.annotations.slicer\.dev/devices-0}')
# A reboot: the agent goes down, the boot ID changes, and the MIG instances are gone.
e2e_kill agent-gpu-0 KILL
cat /proc/sys/kernel/random/uuid >"$T/agent-gpu-0/boot_id"
rm -f "$T/agent-gpu-0/emu-state.json" "$T/agent-gpu-0/emu-state.json.lock"
E2E_AGENT_ENV= e2e_agent gpu-0
pod_failed() { out=$(k get pod -n e2e "$old" -o jsonpath='{.status.phase}/{.status.reason}' 2>/dev/null); [[ "$out" == Failed/SliceLost ]]; }
wait_for 60 pod_failed
expect_out "after a reboot its slice is lost: the pod is Failed, reason SliceLost" '^Failed/SliceLost$'
lost_event() { out=$(k get events.events.k8s.io -n e2e -o json | jq -r --arg p "$old" '.items[] |
    select(.regarding.name == $p and .reason == "SliceLost") | "\(.type) \(.note)"'); [[ -n "$out" ]]; }
wait_for 20 lost_event
expect_out "...a SliceLost Warning says which slice and why" \
    "^Warning MIG slice lost-.* \(1g\.5gb on GPU-.*, node gpu-0\) is lost: .*reboot.*owner makes a new one$"
new_runs() { local n; n=$(k get pods -n e2e -l app=lost --field-selector=status.phase=Running -o jsonpath='{.items[*].metadata.name}');
    [[ -n "$n" && "$n" != "$old" ]]; }
wait_for 90 new_runs && ok "...its Deployment's new pod gets a new slice and runs" || { show; fail "a new lost pod Running" "Running"; }
new_uuid=$(k get pods -n e2e -l app=lost --field-selector=status.phase=Running -o jsonpath='{.items[0].metadata.annotations.slicer\.dev/devices-0}')
[[ "$new_uuid" == MIG-* && "$new_uuid" != "$old_uuid" ]] && ok "...with another MIG UUID than the lost one" ||
    fail "a new MIG UUID" "MIG-... other than $old_uuid, got '$new_uuid'"
old_slices() { [[ -z "$(k get gslice -n e2e -o json | jq -r --arg p "$old" '.items[] | select(.spec.podName == $p) | .metadata.name')" ]]; }
wait_for 60 old_slices && ok "...and the lost pod's Failed slice is released" || { show; fail "the old slice released" "gone"; }
k delete deployment lost -n e2e >/dev/null
k delete pods -n e2e --all --wait=false >/dev/null
wait_for 90 nothing && ok "deleted: nothing left" || { show; fail "nothing left" "nothing"; }

for c in webhook controller-two controller-one agent-gpu-0; do
    [[ -z "${E2E_PID[$c]:-}" ]] && continue
    e2e_alive "$c" && ok "$c is still running" || { out=$(tail -20 "$T/${c}.log"); fail "$c running" "alive"; }
done
summary
