#!/usr/bin/env bash
# `slicer controller` on a real control plane (test/cluster): the CRDs of
# deploy/base, kwok GPU nodes, GPUNode objects and GPUSlice status written with
# kubectl as the agent would (this test plays the agent), pods created in the
# form the webhook gives them, and the real controller (two of them, leader
# elected, at the end). Checked with kubectl: GPUSlices with the contract's
# name, labels, owner, finalizer and spec; Events; the ungate (annotation, pin,
# gate gone) and kwok running the pod; NoCapacity and the retry when capacity
# frees; release; NVMLError and re-placement; other gates; a pin to a full
# node; a gate removed by hand; an unreadable ask; failover without a
# placement handed out twice.
# usage: bash test/e2e/controller.sh /path/to/slicer   (ctest passes it)
set -uo pipefail
SLICER=${1:?usage: controller.sh /path/to/slicer}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d -t slicer-e2e-controller.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    e2e_cleanup
    [[ -n "${KEEP:-}" ]] || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# shellcheck source=../lib/check.sh
source "$SRC/test/lib/check.sh"
# shellcheck source=../lib/e2e.sh
source "$SRC/test/lib/e2e.sh" # the cluster's set-up, k, kk, wait_for
command -v jq >/dev/null || { echo "FAIL - jq is needed"; echo "0 passed, 1 failed"; exit 1; }

# --- the command line (no cluster needed) ------------------------------------------------------------
slicer controller --help
expect_rc "slicer controller --help" 0
expect_out "...documents every flag and exit code 4" '--retry-backoff MS.*|4 leadership lost'
slicer controller --policy worst-fit
expect_rc "an unknown --policy is a usage error" 2
expect_err "...naming the valid ones" 'best-fit or first-fit'
slicer controller --batch-window 5ms
expect_rc "--batch-window takes whole milliseconds" 2
slicer controller --lease-duration 3 --renew-deadline 3
expect_rc "a renew deadline not below the lease duration is refused" 2
slicer controller --kubeconfig "$T/none.yaml" --no-leader-elect
expect_rc "an unreadable kubeconfig is a failure (exit 3)" 3

e2e_up
ok "a real control plane is up, with deploy/'s CRDs"
poll() { wait_for "$@"; } # poll SECONDS FN ARGS...: FN (run afresh each try) succeeds in time
# check WHAT SECONDS FN ARGS...: FN must succeed within SECONDS
check() {
    local what=$1 secs=$2; shift 2
    if poll "$secs" "$@"; then ok "$what"; else fail "$what" "$* within ${secs}s"; fi
}
# stays WHAT SECONDS FN ARGS...: FN must keep succeeding for SECONDS
stays() {
    local what=$1 end=$((SECONDS + $2)); shift 2
    while ((SECONDS < end)); do
        "$@" || { fail "$what" "$* to hold for the whole time"; return; }
        sleep 0.5
    done
    ok "$what"
}

k create namespace e2e >/dev/null

# --- playing the agent -----------------------------------------------------------------------
A100="NVIDIA A100-SXM4-40GB"
PROFILES=$(jq -c --arg m "$A100" '[.gpus[] | select(.name == $m) | .profiles[] | {name,
    giProfileId: .nvml_profile_id, ciProfileId: .nvml_profile_id, sliceCount: .slices,
    memoryMiB: .memory_mib, placements}]' "$SRC/data/mig-profiles.json")
now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
gpu_uuid() { printf 'GPU-%08d-0000-4000-8000-%012d' "$1" "$2"; } # gpu_uuid NODE# GPU#

# gpu_node NAME N#: a kwok node with one A100-40GB, its GPUNode and its capacity
gpu_node() {
    "$CLUSTER/add-gpu-node" "$1" --gpus 1 --state "$STATE" >/dev/null 2>&1 || return 1
    k patch node "$1" --subresource=status --type=merge -p \
        '{"status":{"capacity":{"mig.slicer.dev/1g.5gb":"7"},"allocatable":{"mig.slicer.dev/1g.5gb":"7"}}}' >/dev/null
    printf 'apiVersion: slicer.dev/v1alpha1\nkind: GPUNode\nmetadata: {name: %s}\nspec: {nodeName: %s}\n' \
        "$1" "$1" | k apply -f - >/dev/null
    agent_report "$1" "$2"
}
# agent_report NODE N#: GPUNode status as the agent writes it, instances = its Ready slices
agent_report() {
    local inst
    inst=$(k get gslice -A -o json | jq -c --arg n "$1" '[.items[] | select(.spec.nodeName == $n
        and .status.phase == "Ready") | {profile: .spec.profile, start: .spec.placement.start,
        size: .spec.placement.size, giId: (.spec.placement.start + 1), ciId: 0,
        migUUID: .status.migUUID, slice: (.metadata.namespace + "/" + .metadata.name)}]')
    k patch gpunode "$1" --subresource=status --type=merge -p "$(jq -nc --arg u "$(gpu_uuid "$2" 0)" \
        --arg m "$A100" --argjson p "$PROFILES" --argjson i "$inst" --arg t "$(now)" '{status: {
        gpuCount: 1, bootID: "boot-1", agentVersion: "e2e", heartbeatTime: $t,
        conditions: [{type: "Ready", status: "True", reason: "NVMLRead", lastTransitionTime: $t}],
        gpus: [{index: 0, uuid: $u, model: $m, memoryMiB: 40960, migMode: true, profiles: $p,
                instances: $i}]}}')" >/dev/null
}
# agent_ready NAME...: the agent made these slices (Ready with a MIG UUID)
agent_ready() {
    local s
    for s in "$@"; do
        k patch gslice -n e2e "$s" --subresource=status --type=merge -p "{\"status\":{\"phase\":\"Ready\",
            \"migUUID\":\"MIG-$(k get gslice -n e2e "$s" -o jsonpath='{.metadata.uid}')\",
            \"giId\":1,\"ciId\":0,\"createdTime\":\"$(now)\",\"readyTime\":\"$(now)\"}}" >/dev/null
    done
}
# agent_teardown: the agent destroyed every deleted slice's instance: finalizer off
agent_teardown() {
    local s
    for s in $(k get gslice -n e2e -o json | jq -r '.items[] | select(.metadata.deletionTimestamp) | .metadata.name'); do
        k patch gslice -n e2e "$s" --type=json -p '[{"op":"remove","path":"/metadata/finalizers"}]' >/dev/null
    done
}

# --- pods as the webhook leaves them ------------------------------------------------------------
# pod NAME COUNT [EXTRA-SPEC-JSON] [GATES-JSON]
pod() {
    local gates=${4:-'[{"name":"slicer.dev/gpu-slice"}]'} extra=${3:-'{}'}
    jq -nc --arg n "$1" --arg c "$2" --argjson x "$extra" --argjson g "$gates" '{apiVersion: "v1",
        kind: "Pod", metadata: {name: $n, labels: {"slicer.dev/managed": "true", app: "e2e"}},
        spec: ({schedulingGates: $g, containers: [{name: "model", image: "registry.invalid/model:1",
        env: [{name: "NVIDIA_VISIBLE_DEVICES", valueFrom: {fieldRef: {fieldPath:
        "metadata.annotations['"'"'slicer.dev/devices-0'"'"']"}}}, {name: "CUDA_VISIBLE_DEVICES",
        value: "0"}], resources: {limits: {"mig.slicer.dev/1g.5gb": $c, cpu: "100m"},
        requests: {"mig.slicer.dev/1g.5gb": $c, cpu: "100m"}}}]} + $x)}' | k create -n e2e -f - >/dev/null
}
uid() { k get pod -n e2e "$1" -o jsonpath='{.metadata.uid}'; }
slices_of() { k get gslice -n e2e -l "slicer.dev/pod-uid=$(uid "$1")" -o name 2>/dev/null | sed 's|.*/||'; }
has_slices() { out=$(slices_of "$1"); [[ $(grep -c . <<<"$out") == "${2:-1}" ]]; }
no_slices() { out=$(slices_of "$1"); [[ -z "$out" ]]; }
gates() { k get pod -n e2e "$1" -o jsonpath='{.spec.schedulingGates[*].name}'; }
gated() { out=$(gates "$1"); [[ "$out" == *slicer.dev/gpu-slice* ]]; }
ungated() { out=$(gates "$1"); [[ -z "$out" ]]; }
phase_is() { out=$(k get pod -n e2e "$1" -o jsonpath='{.status.phase}'); [[ "$out" == "$2" ]]; }
# event POD REASON [REGEX]: an Event with that reason on the pod (its note matching)
event() {
    out=$(k get events -n e2e -o json | jq -r --arg p "$1" --arg r "$2" '.items[] |
        select(.involvedObject.name == $p and .reason == $r) | "\(.reason) \(.type) \(.message)"')
    [[ -n "$out" ]] && grep -qE -- "${3:-.}" <<<"$out"
}
# no two slices share a memory slice of a GPU, and no pod has more slices than it asks
no_double() {
    out=$(k get gslice -A -o json | jq -r '[.items[] | .spec as $s | range($s.placement.start;
        $s.placement.start + $s.placement.size) | "\($s.gpuUUID)/\(.)"] | group_by(.) |
        map(select(length > 1)) | .[] | .[0]')
    [[ -z "$out" ]] || return 1
    local asks
    asks=$(k get pod -n e2e -o json | jq -c '[.items[] | {key: .metadata.uid, value: ([.spec.containers[] |
        .resources.limits // {} | to_entries[] | select(.key | startswith("mig.slicer.dev/")) |
        .value | tonumber] | add // 0)}] | from_entries')
    out=$(k get gslice -A -o json | jq -r --argjson a "$asks" '[.items[] | .spec.podUID] | group_by(.) |
        map(select(length > ($a[.[0]] // 0))) | .[] | "pod \(.[0]): \(length) slices"')
    [[ -z "$out" ]]
}
log_has() { out=$(grep -cE -- "$2" "$1"); [[ "$out" -ge "${3:-1}" ]]; }

gpu_node gpu-a 1 || { fail "kwok node gpu-a" "add-gpu-node to succeed"; summary; exit 1; }
ok "kwok node gpu-a with one A100-SXM4-40GB, its GPUNode written as the agent does"

# --- one controller, leader-elected ---------------------------------------------------------------
ELECT=(--lease-duration 4 --renew-deadline 3 --retry-period 1 --retry-backoff 1000)
"$SLICER" controller --kubeconfig "$KUBECONFIG" --identity ctl-a "${ELECT[@]}" --log-level debug \
    >"$T/ctl-a.log" 2>&1 &
CTL_A=$!
PIDS+=("$CTL_A")
lease_holder() { out=$(k get lease -n slicer-system slicer-controller -o jsonpath='{.spec.holderIdentity}' 2>/dev/null); [[ "$out" == "$1" ]]; }
check "controller ctl-a takes the Lease slicer-system/slicer-controller" 20 lease_holder ctl-a

pod p1 1
check "a gated pod gets its GPUSlice" 15 has_slices p1
U1=$(uid p1)
S1=$(slices_of p1)
[[ "$S1" == "p1-${U1:0:8}-0" ]] && ok "...named <pod>-<uid[:8]>-0 ($S1)" || fail "...named p1-${U1:0:8}-0" "$S1"
kk get gslice -n e2e "$S1" -o json
GA=$(gpu_uuid 1 0)
out=$(jq -c '.spec' <<<"$out")
[[ "$out" == "{\"container\":\"devices-0\",\"gpuUUID\":\"$GA\",\"nodeName\":\"gpu-a\",\"placement\":{\"size\":1,\"start\":"*",\"podName\":\"p1\",\"podUID\":\"$U1\",\"profile\":\"1g.5gb\"}" ]] \
    && ok "...its spec: pod, uid, container devices-0, profile, node, GPU, placement" || fail "...its spec" "the contract's spec"
kk get gslice -n e2e "$S1" -o json
out=$(jq -c '[.metadata.labels, .metadata.finalizers, (.metadata.ownerReferences | map({apiVersion, kind, name, uid, controller}))]' <<<"$out")
[[ "$out" == "[{\"slicer.dev/node\":\"gpu-a\",\"slicer.dev/pod-uid\":\"$U1\"},[\"slicer.dev/teardown\"],[{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"name\":\"p1\",\"uid\":\"$U1\",\"controller\":true}]]" ]] \
    && ok "...labels node and pod-uid, finalizer slicer.dev/teardown, owned by the pod (controller)" \
    || fail "...labels, finalizer, owner" "the contract's metadata"
check "...SliceScheduled Event on the pod naming node and GPU" 10 event p1 SliceScheduled "Normal node gpu-a: 1g.5gb on $GA at start"
reporter() { out=$(k get events -n e2e -o json | jq -r '.items[] | select(.involvedObject.name == "p1" and
    .reason == "SliceScheduled") | "\(.reportingComponent)/\(.reportingInstance)"'); [[ "$out" == "slicer.dev/controller/ctl-a" ]]; }
check "...reported by slicer.dev/controller, instance ctl-a (--identity)" 5 reporter
stays "...and the pod stays gated until its slice is Ready" 2 gated p1

agent_ready "$S1"
agent_report gpu-a 1
check "slice Ready: the pod is ungated" 10 ungated p1
MIG1="MIG-$(k get gslice -n e2e "$S1" -o jsonpath='{.metadata.uid}')"
kk get pod -n e2e p1 -o jsonpath='{.metadata.annotations.slicer\.dev/devices-0}'
expect_out "...annotated slicer.dev/devices-0 with the slice's MIG UUID" "^$MIG1\$"
kk get pod -n e2e p1 -o jsonpath='{.spec.nodeSelector.kubernetes\.io/hostname}'
expect_out "...pinned to its node (nodeSelector kubernetes.io/hostname)" '^gpu-a$'
check "...SliceReady Event" 10 event p1 SliceReady Normal
check "...and the scheduler binds it, kwok runs it" 20 phase_is p1 Running

# --- capacity: 7 x 1g.5gb fill an A100-40GB ---------------------------------------------------------
for i in 2 3 4 5 6 7; do pod "p$i" 1; done
all_placed() { local i; for i in 2 3 4 5 6 7; do has_slices "p$i" || return 1; done; }
check "six more 1g.5gb pods are placed on the same GPU" 20 all_placed
check "...no memory slice of a GPU is handed out twice" 5 no_double
pod p8 1
check "the 8th 1g.5gb pod gets NoCapacity, saying why" 15 event p8 NoCapacity 'Warning no node can take 1 x 1g.5gb now: 0/1 nodes can take it: 1 without room on their GPUs'
stays "...stays gated, without slices" 2 no_slices p8
n_waits=$(grep -c 'pod e2e/p8 waits' "$T/ctl-a.log")
agent_report gpu-a 1 # a heartbeat: a new heartbeatTime, the same instances
sleep 2
[[ $(grep -c 'pod e2e/p8 waits' "$T/ctl-a.log") == "$n_waits" ]] && ok "...and is not tried again on a mere GPUNode heartbeat (no poll)" \
    || fail "...not retried on a heartbeat" "$n_waits 'waits' lines"

# --- release, and the retry when capacity frees ---------------------------------------------------
k delete pod -n e2e p1 --wait=false >/dev/null
releasing() { out=$(k get gslice -n e2e "$1" -o jsonpath='{.status.phase}/{.metadata.deletionTimestamp}' 2>/dev/null); [[ "$out" == Releasing/?* ]]; }
check "p1 deleted: its slice goes Releasing and is deleted (held by the agent's finalizer)" 20 releasing "$S1"
check "...SliceReleased Event on p1" 10 event p1 SliceReleased Normal
stays "...p8 still waits while the instance exists" 1 no_slices p8
agent_teardown
gone() { ! k get gslice -n e2e "$1" >/dev/null 2>&1; }
check "the agent removes its finalizer: the slice is gone" 10 gone "$S1"
agent_report gpu-a 1
check "...and the waiting p8 is placed (retry when capacity frees)" 15 has_slices p8
check "...still nothing handed out twice" 5 no_double

# --- NVML refuses a slice: NVMLError, release, placement again ----------------------------------------
S8=$(slices_of p8)
k patch gslice -n e2e "$S8" --subresource=status --type=merge \
    -p '{"status":{"phase":"Failed","message":"nvmlGpuInstanceCreateWithPlacement: Insufficient Resources"}}' >/dev/null
check "a Failed slice: NVMLError Event with NVML's words" 10 event p8 NVMLError 'Warning .*Insufficient Resources'
check "...the slice is released" 10 releasing "$S8"
agent_teardown
fresh() { out=$(k get gslice -n e2e "$1" -o jsonpath='{.status.phase}/{.metadata.deletionTimestamp}' 2>/dev/null); [[ $? == 0 && "$out" == / ]]; }
check "...and after --retry-backoff the pod is placed again (a fresh slice)" 15 fresh "$S8"

# --- a second node; other gates; a pin to a full node -----------------------------------------------
gpu_node gpu-b 2 || fail "kwok node gpu-b" "add-gpu-node to succeed"
pod kq 1 '{}' '[{"name":"kueue.x-k8s.io/admission"},{"name":"slicer.dev/gpu-slice"}]'
stays "a pod whose Kueue gate is still there is not placed" 3 no_slices kq
k patch pod -n e2e kq --type=json -p '[{"op":"remove","path":"/spec/schedulingGates/0"}]' >/dev/null
check "...once ours is its last gate it is placed" 15 has_slices kq
kk get gslice -n e2e "$(slices_of kq)" -o jsonpath='{.spec.nodeName}'
expect_out "...on the node with room (gpu-b)" '^gpu-b$'
pod pin 1 '{"nodeSelector":{"kubernetes.io/hostname":"gpu-a"}}'
check "a pod pinned to the full node gpu-a gets NoCapacity" 15 event pin NoCapacity "0/2 nodes can take it: 1 not matching the pod's node selector, 1 without room"
stays "...and stays gated without slices, though gpu-b has room" 2 no_slices pin

# --- our gate removed by hand; an ask the controller cannot read --------------------------------------
pod gr 1 '{}' '[{"name":"example.com/hold"},{"name":"slicer.dev/gpu-slice"}]'
k patch pod -n e2e gr --type=json -p '[{"op":"remove","path":"/spec/schedulingGates/1"}]' >/dev/null
check "our gate removed by hand: GateRemoved Warning" 10 event gr GateRemoved Warning
k patch pod -n e2e gr --type=json -p '[{"op":"remove","path":"/spec/schedulingGates/0"}]' >/dev/null
stays "...and nothing is allocated for it" 2 no_slices gr
jq -nc '{apiVersion: "v1", kind: "Pod", metadata: {name: "bad", labels: {"slicer.dev/managed": "true"}},
    spec: {schedulingGates: [{name: "slicer.dev/gpu-slice"}], containers: [{name: "c", image: "x",
    resources: {limits: {"mig.slicer.dev/9g.99gb": "1"}, requests: {"mig.slicer.dev/9g.99gb": "1"}}}]}}' |
    k create -n e2e -f - >/dev/null
check "a pod whose ask cannot be read: InvalidRequest Warning" 10 event bad InvalidRequest 'Warning .*unknown profile'
stays "...nothing allocated" 1 no_slices bad

# --- a partial set, as a leader that crashed between two creates leaves it --------------------------------
pod part 2 '{}' '[{"name":"example.com/hold"},{"name":"slicer.dev/gpu-slice"}]'
UP=$(uid part)
GB=$(gpu_uuid 2 0)
free_start=$(k get gslice -A -o json | jq --arg g "$GB" '[.items[] | select(.spec.gpuUUID == $g) |
    .spec.placement.start] as $u | [range(7) | select(. as $s | $u | index($s) | not)] | .[0]')
jq -nc --arg u "$UP" --arg g "$GB" --argjson s "$free_start" '{apiVersion: "slicer.dev/v1alpha1",
    kind: "GPUSlice", metadata: {name: "part-\($u[0:8])-0", namespace: "e2e", labels: {"slicer.dev/node":
    "gpu-b", "slicer.dev/pod-uid": $u}, ownerReferences: [{apiVersion: "v1", kind: "Pod", name: "part",
    uid: $u, controller: true}], finalizers: ["slicer.dev/teardown"]}, spec: {podName: "part", podUID: $u,
    container: "devices-0", profile: "1g.5gb", nodeName: "gpu-b", gpuUUID: $g, placement: {start: $s,
    size: 1}}}' | k create -f - >/dev/null
k patch pod -n e2e part --type=json -p '[{"op":"remove","path":"/spec/schedulingGates/0"}]' >/dev/null
check "a pod with 1 of its 2 slices (a crash mid-batch): the partial set is released" 10 releasing "part-${UP:0:8}-0"
check "...SliceReleased saying why" 10 event part SliceReleased 'incomplete'
agent_teardown
check "...and the pod is placed again with both slices" 15 has_slices part 2
check "...nothing handed out twice" 5 no_double

# --- a standby, then kill -9 the leader -------------------------------------------------------------
"$SLICER" controller --kubeconfig "$KUBECONFIG" --identity ctl-b "${ELECT[@]}" --log-level debug \
    >"$T/ctl-b.log" 2>&1 &
CTL_B=$!
PIDS+=("$CTL_B")
pod sb1 1
check "with a standby running, the leader places a new pod" 15 has_slices sb1
stays "...the standby ctl-b acts on nothing and the Lease stays ctl-a's" 3 lease_holder ctl-a
log_has "$T/ctl-b.log" 'placed|ungated' && fail "...the standby placed nothing" "no 'placed' in ctl-b's log" \
    || ok "...the standby placed nothing"
KQ=$(slices_of kq)
kill -9 "$CTL_A"; wait "$CTL_A" 2>/dev/null
ok "leader ctl-a killed with SIGKILL"
pod sb2 1
agent_ready "$KQ"
agent_report gpu-b 2
check "the standby ctl-b takes the Lease" 20 lease_holder ctl-b
check "...places the pod created while no one led" 15 has_slices sb2
check "...ungates the pod whose slice became Ready meanwhile" 15 ungated kq
check "...and nothing is placed twice (GPU memory slices, slices per pod)" 5 no_double
cnt=$(k get gslice -n e2e -o name | wc -l)
want=$(k get pod -n e2e -l slicer.dev/managed=true -o json | jq '[.items[] | select(.metadata.name |
    test("^(p[2-8]|kq|sb1|sb2)$"))] | length + 2') # + part's two
[[ "$cnt" == "$want" ]] && ok "...one slice per placed pod ($cnt)" || fail "...one slice per placed pod" "$want slices, not $cnt"

# --- a frozen leader loses the Lease and exits 4 ------------------------------------------------------
"$SLICER" controller --kubeconfig "$KUBECONFIG" --identity ctl-c "${ELECT[@]}" --log-level debug \
    >"$T/ctl-c.log" 2>&1 &
CTL_C=$!
PIDS+=("$CTL_C")
check "a third controller ctl-c starts as a standby" 10 log_has "$T/ctl-c.log" 'started as ctl-c'
kill -STOP "$CTL_B"
check "leader ctl-b frozen (SIGSTOP): ctl-c takes the Lease" 20 lease_holder ctl-c
kill -CONT "$CTL_B"
exited() { ! kill -0 "$1" 2>/dev/null; }
check "ctl-b resumed: it sees it lost the Lease and exits" 10 exited "$CTL_B"
wait "$CTL_B"; rc=$?
expect_rc "...with exit code 4 (leadership lost)" 4
pod sc1 1
check "ctl-c places new pods" 15 has_slices sc1
check "...and nothing is placed twice" 5 no_double

# --- clean stop ------------------------------------------------------------------------------------
kill -TERM "$CTL_C"; wait "$CTL_C"; rc=$?
expect_rc "SIGTERM: the controller stops cleanly (exit 0)" 0
kk get lease -n slicer-system slicer-controller -o jsonpath='{.spec.holderIdentity}'
expect_out "...and hands the Lease back (holder empty)" '^$'
out=$(grep -hE 'AddressSanitizer|LeakSanitizer|runtime error|ERROR SUMMARY' "$T"/ctl-*.log)
[[ -z "$out" ]] && ok "no controller reported a memory error or leak (when built with sanitizers)" \
    || fail "no sanitizer reports" "none"
summary
