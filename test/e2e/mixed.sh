#!/usr/bin/env bash
# Mixed and multi, bad input and clean-up, end to end on a real control plane:
# three kwok GPU nodes with different emulated GPUs (2 x A100-SXM4-40GB; one
# H100 labelled pool=h100; one A30 behind a taint), each with its own agent,
# plus the webhook and the controller, all with deploy/'s flags.
#   pods with N>1 slices, several containers and an init container; nodeSelector,
#   taints and tolerations; a pod pinned to a full node stays gated; a
#   Kueue-style extra gate is waited for; bad requests are refused and a gate
#   removed by hand gets nothing; a completed Job, deleted pods and a deleted
#   namespace free everything. At the end each node's GPUs hold exactly the
#   instances the API's GPUSlices name.
# usage: bash test/e2e/mixed.sh /path/to/slicer   (ctest passes it)
set -uo pipefail
SLICER=${1:?usage: mixed.sh /path/to/slicer}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d -t slicer-e2e-mixed.XXXXXX)
cleanup() { e2e_cleanup; rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
# shellcheck source=../lib/check.sh
source "$SRC/test/lib/check.sh"
# shellcheck source=../lib/e2e.sh
source "$SRC/test/lib/e2e.sh"
NODES=(a100x2 h100 a30)

e2e_up
e2e_webhook || { fail "slicer webhook starts" "a serving webhook"; summary; exit 1; }
e2e_controller one
e2e_gpu_node a100x2 A100-SXM4-40GB:2 &&
    e2e_gpu_node h100 H100-80GB-HBM3:1 --label pool=h100 &&
    e2e_gpu_node a30 A30:1 --taint ||
    { fail "three GPU nodes and their agents start" "Ready nodes"; summary; exit 1; }
gnode_ready() { [[ "$(k get gpunode "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]; }
all_ready() { local n; for n in "${NODES[@]}"; do gnode_ready "$n" || return 1; done; }
wait_for 60 all_ready && ok "three GPU nodes, each with its agent's GPUNode Ready" ||
    { out=$(k get gpunodes); fail "three GPUNodes Ready" "Ready True"; }
alloc() { k get node "$1" -o json | jq -r --arg r "mig.slicer.dev/$2" '.status.allocatable[$r] // ""'; }
has_alloc() { [[ "$(alloc "$1" "$2")" == "$3" ]]; }
wait_for 30 has_alloc a100x2 1g.5gb 14 && wait_for 30 has_alloc h100 1g.10gb 7 &&
    wait_for 30 has_alloc a30 1g.6gb 4 && ok "each Node's allocatable counts its own GPUs (14 x 1g.5gb, 7 x 1g.10gb, 4 x 1g.6gb)" ||
    { out=$(k get nodes -o json | jq -c '.items[] | {(.metadata.name): .status.allocatable}'); fail "allocatable per node" "14, 7, 4"; }
k create namespace e2e >/dev/null
wait_for 20 k get serviceaccount default -n e2e -o name >/dev/null 2>&1

phase() { k get pod -n e2e "$1" -o jsonpath='{.status.phase}' 2>/dev/null; }
is_running() { [[ "$(phase "$1")" == Running ]]; }
gates() { k get pod -n e2e "$1" -o jsonpath='{.spec.schedulingGates[*].name}'; }
uid() { k get pod -n "${2:-e2e}" "$1" -o jsonpath='{.metadata.uid}'; }
pod_slices() { k get gslice -A -l "slicer.dev/pod-uid=$(uid "$1" "${2:-e2e}")" -o name | wc -l; }
annotation() { k get pod -n e2e "$1" -o json | jq -r --arg a "slicer.dev/$2" '.metadata.annotations[$a] // ""'; }
event() { # event POD REASON: the note of POD's last Event with REASON
    k get events.events.k8s.io -n e2e -o json |
        jq -r --arg p "$1" --arg r "$2" '[.items[] | select(.regarding.name == $p and .reason == $r)] | last | .note // empty'
}
has_event() { [[ -n "$(event "$1" "$2")" ]]; }
show() { out=$(k get pod -n e2e "$1" -o wide 2>&1; k get gslice -A 2>&1; k get events.events.k8s.io -n e2e 2>&1 | tail -5); }
mig_pod() { # mig_pod NAME LIMITS [EXTRA SPEC YAML]: a pod whose container limits LIMITS
    cat <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: e2e}
spec:
${3:-}
  containers:
    - name: model
      image: registry.invalid/model:1
      resources: {limits: {$2}}
EOF
}

# --- several slices, containers and an init container in one pod --------------------------
k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: multi, namespace: e2e}
spec:
  initContainers:
    - {name: fetch, image: registry.invalid/fetch:1, resources: {limits: {nvidia.com/mig-1g.5gb: 1}}}
  containers:
    - {name: train, image: registry.invalid/train:1, resources: {limits: {nvidia.com/mig-1g.5gb: 2}}}
    - {name: serve, image: registry.invalid/serve:1, resources: {limits: {nvidia.com/mig-2g.10gb: 1}}}
EOF
if wait_for 60 is_running multi; then ok "a pod with 2 + 1 slices in two containers and 1 in an init container is Running"; else
    show multi; fail "multi Running" "Running"; fi
out="$(annotation multi devices-0) | $(annotation multi devices-1) | $(annotation multi devices-init-0)"
expect_out "...its containers get 2, 1 and 1 MIG UUIDs" '^MIG-[^,|]+,MIG-[^,|]+ \| MIG-[^,|]+ \| MIG-[^,|]+$'
n=$(grep -oE 'MIG-[0-9a-f-]+' <<<"$out" | sort -u | wc -l)
[[ $n == 4 ]] && ok "...four distinct ones" || fail "four distinct UUIDs" "4, got $n"
out=$(k get gslice -n e2e -o json | jq -r --arg u "$(uid multi)" '.items[] | select(.spec.podUID == $u) | .spec.nodeName' | sort -u)
expect_out "...all on the node whose GPUs offer those profiles" '^a100x2$'
out=$(k get pod -n e2e multi -o json | jq -r '.spec.containers[0].env[] | select(.name == "CUDA_VISIBLE_DEVICES") | .value')
expect_out "...and CUDA_VISIBLE_DEVICES=0,1 for the container with two" '^0,1$'

# --- nodeSelector, taints and tolerations ----------------------------------------------------
mig_pod picky 'nvidia.com/mig-1g.10gb: 1' '  nodeSelector: {pool: h100}' | k apply -f - >/dev/null
wait_for 60 is_running picky && out=$(k get pod -n e2e picky -o jsonpath='{.spec.nodeName}') || show picky
expect_out "a 1g.10gb pod with nodeSelector pool=h100 runs on h100 (the A100s offer 1g.10gb too)" '^h100$'
mig_pod shy 'nvidia.com/mig-1g.6gb: 1' | k apply -f - >/dev/null
wait_for 30 has_event shy NoCapacity
out=$(event shy NoCapacity)
expect_out "a 1g.6gb pod without a toleration for the A30 node's taint gets NoCapacity" 'taint'
out=$(gates shy)
expect_out "...and stays gated" 'slicer.dev/gpu-slice'
mig_pod brave 'nvidia.com/mig-1g.6gb: 1' '  tolerations: [{key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}]' |
    k apply -f - >/dev/null
wait_for 60 is_running brave && out=$(k get pod -n e2e brave -o jsonpath='{.spec.nodeName}') || show brave
expect_out "the same ask with the toleration runs on a30" '^a30$'

# --- a pod pinned to a full node stays gated -------------------------------------------------
mig_pod big 'nvidia.com/mig-7g.80gb: 1' '  nodeSelector: {pool: h100}' | k apply -f - >/dev/null
# picky holds a 1g.10gb on h100: 7g.80gb cannot fit until it goes
wait_for 30 has_event big NoCapacity && ok "7g.80gb on h100 waits while picky's 1g.10gb is there" ||
    { show big; fail "big waits with NoCapacity" "NoCapacity"; }
k delete pod -n e2e picky --wait=false >/dev/null
wait_for 60 is_running big && ok "...and runs once picky is deleted (retried when capacity frees)" ||
    { show big; fail "big Running after picky goes" "Running"; }
mig_pod pinned 'nvidia.com/mig-1g.10gb: 1' '  nodeSelector: {kubernetes.io/hostname: h100}' | k apply -f - >/dev/null
wait_for 30 has_event pinned NoCapacity && ok "a pod pinned to the full h100 gets NoCapacity (the A100s have room)" ||
    { show pinned; fail "pinned NoCapacity" "NoCapacity"; }
sleep 1
[[ "$(gates pinned)" == slicer.dev/gpu-slice && "$(pod_slices pinned)" == 0 ]] &&
    ok "...stays gated with no slice" || { show pinned; fail "pinned stays gated" "gated, 0 slices"; }

# --- a Kueue-style extra gate ----------------------------------------------------------------
mig_pod queued 'nvidia.com/mig-1g.5gb: 1' '  schedulingGates: [{name: kueue.x-k8s.io/admission}]' | k apply -f - >/dev/null
sleep 3
out="$(gates queued) slices=$(pod_slices queued)"
expect_out "a pod with another gate as well is not placed while that gate is there" \
    '^kueue.x-k8s.io/admission slicer.dev/gpu-slice slices=0$'
k patch pod -n e2e queued --type=json -p '[{"op":"remove","path":"/spec/schedulingGates/0"}]' >/dev/null
wait_for 60 is_running queued && ok "...and placed and Running once it is removed" || { show queued; fail "queued Running" "Running"; }

# --- bad input: refused, nothing allocated ---------------------------------------------------
refused() { # refused WHAT LIMITS [REQUESTS] PATTERN
    local what=$1 limits=$2 requests=$3 pattern=$4
    out=$(printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bad","namespace":"e2e"},"spec":{"containers":[{"name":"model","image":"x","resources":{"limits":%s%s}}]}}' \
        "$limits" "${requests:+,\"requests\":$requests}" | k create -f - 2>&1)
    rc=$?
    err=$out
    [[ $rc != 0 ]] && grep -qE -- "$pattern" <<<"$out" && ok "$what" || fail "$what" "refused with /$pattern/"
}
refused "an unknown profile is refused, naming the valid ones" '{"nvidia.com/mig-9g.99gb":"1"}' '' \
    'unknown MIG profile.*9g\.99gb.*1g\.5gb'
refused "a profile no GPU here offers (1g.18gb: H200) is refused, listing what the cluster's GPUNodes offer" \
    '{"nvidia.com/mig-1g.18gb":"1"}' '' "no GPU in this cluster offers MIG profile '1g.18gb'.*it offers: 1g\\.5gb.*1g\\.10gb.*1g\\.6gb"
refused "a count of 0 is refused" '{"nvidia.com/mig-1g.5gb":"0"}' '' 'whole number from 1 to 64'
refused "a fractional count is refused" '{"nvidia.com/mig-1g.5gb":"500m"}' '' 'whole|integer'
refused "requests different from limits are refused" '{"nvidia.com/mig-1g.5gb":"2"}' '{"nvidia.com/mig-1g.5gb":"1"}' 'requests'
refused "asking for mig.slicer.dev/* directly is refused" '{"mig.slicer.dev/1g.5gb":"1"}' '' 'mig.slicer.dev'
out=$(k get gslice -A -o json | jq -r '.items[].spec.podName' | grep -c '^bad$')
[[ "$out" == 0 ]] && ok "...and nothing was allocated for any of them" || fail "no slice for refused pods" "0"

# --- our gate removed by hand ----------------------------------------------------------------
k patch pod -n e2e shy --type=json -p '[{"op":"remove","path":"/spec/schedulingGates/0"}]' >/dev/null
wait_for 30 has_event shy GateRemoved && ok "removing slicer's gate by hand gets a GateRemoved Warning" ||
    { show shy; fail "GateRemoved Event" "an Event"; }
sleep 1
out="slices=$(pod_slices shy) devices=$(annotation shy devices-0)"
expect_out "...and nothing is allocated for that pod" '^slices=0 devices=$'

# --- clean-up: a Job that completes, deleted pods, a deleted namespace -----------------------
k apply -f - >/dev/null <<EOF
apiVersion: batch/v1
kind: Job
metadata: {name: once, namespace: e2e}
spec:
  template:
    metadata: {annotations: {slicer.dev/fake-succeed-after: "2s"}}
    spec:
      restartPolicy: Never
      containers:
        - {name: c, image: registry.invalid/job:1, resources: {limits: {nvidia.com/mig-1g.5gb: 1}}}
EOF
if k wait --for=condition=Complete job/once -n e2e --timeout=90s >/dev/null 2>&1; then
    ok "a Job asking for a slice completes"; else show once; fail "Job completes" "Complete"; fi
job_pod=$(k get pods -n e2e -l job-name=once -o jsonpath='{.items[0].metadata.name}')
no_pod_slices() { [[ "$(pod_slices "$1" "${2:-e2e}")" == 0 ]]; }
wait_for 60 no_pod_slices "$job_pod" && ok "...and its finished pod's slice is released while the pod object stays" ||
    { show "$job_pod"; fail "Job's slice released" "0 slices"; }
has_event "$job_pod" SliceReleased && ok "...with a SliceReleased Event" || fail "SliceReleased Event" "an Event"

k create namespace doomed >/dev/null
wait_for 20 k get serviceaccount default -n doomed -o name >/dev/null 2>&1
for i in 0 1; do
    mig_pod "d$i" 'nvidia.com/mig-1g.5gb: 1' | sed 's/namespace: e2e/namespace: doomed/' | k apply -f - >/dev/null
done
running_in() { [[ "$(k get pods -n "$1" --field-selector=status.phase=Running -o name | wc -l)" == "$2" ]]; }
wait_for 60 running_in doomed 2 && ok "two slice pods run in namespace doomed" || fail "doomed pods Running" "2 Running"
k delete namespace doomed --wait=false >/dev/null
ns_slices() { k get gslice -n "$1" -o name 2>/dev/null | wc -l; }
ns_empty() { [[ "$(ns_slices doomed)" == 0 ]] && ! k get namespace doomed >/dev/null 2>&1; }
wait_for 90 ns_empty && ok "deleting the namespace destroys its slices and the namespace goes" ||
    { out=$(k get gslice -n doomed; k get ns doomed -o yaml | tail -20); fail "namespace deleted" "gone"; }

k delete pods -n e2e --all --wait=false >/dev/null
# Every node's GPUs hold exactly what the API's GPUSlices name, and no UUID is given twice.
agree() {
    local n api emu
    for n in "${NODES[@]}"; do
        api=$(k get gslice -A -l "slicer.dev/node=$n" -o json | jq -r '.items[].status.migUUID // empty' | sort)
        emu=$(e2e_emu_instances "$n" | awk '{print $4}' | sort)
        [[ "$api" == "$emu" ]] || return 1
    done
}
no_slice_left() { [[ "$(k get gslice -A -o name | wc -l)" == 0 ]]; }
wait_for 90 no_slice_left && wait_for 30 agree &&
    ok "once the pods are gone no slice is left, in the API or on any GPU" ||
    { out=$(k get gslice -A; for n in "${NODES[@]}"; do echo "$n:"; e2e_emu_instances "$n"; done); fail "nothing left" "no slice"; }
for c in webhook controller-one agent-a100x2 agent-h100 agent-a30; do
    e2e_alive "$c" && ok "$c ran throughout" || { out=$(tail -20 "$T/${c}.log"); fail "$c ran throughout" "alive"; }
done
summary
