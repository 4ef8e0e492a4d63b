#!/usr/bin/env bash
# The seed scenario, end to end on a real control plane: slicer webhook,
# controller and one agent (on one emulated A100-SXM4-40GB) as local processes
# with deploy/'s flags, Deployments applied with kubectl as a user would.
#   7 x 1g.5gb -> 7 Running pods, 7 distinct MIG UUIDs, each pod's env on its own
#   an 8th replica stays gated with a NoCapacity Event
#   scale to 0 -> every slice destroyed (emulated NVML and the API agree)
#   2 x 3g.20gb -> Running; deleted; then 1 x 7g.40gb -> Running
# usage: bash test/e2e/seed.sh /path/to/slicer   (ctest passes it)
set -uo pipefail
SLICER=${1:?usage: seed.sh /path/to/slicer}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d -t slicer-e2e-seed.XXXXXX)
cleanup() { e2e_cleanup; rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
# shellcheck source=../lib/check.sh
source "$SRC/test/lib/check.sh"
# shellcheck source=../lib/e2e.sh
source "$SRC/test/lib/e2e.sh"

e2e_up
ok "a real control plane is up, with deploy/'s CRDs and RBAC"
e2e_webhook || { fail "slicer webhook starts" "a serving webhook"; summary; exit 1; }
e2e_controller one
e2e_gpu_node gpu-0 A100-SXM4-40GB:1 || { fail "node gpu-0 and its agent start" "a Ready node"; summary; exit 1; }

gnode_ready() { [[ "$(k get gpunode "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]; }
wait_for 60 gnode_ready gpu-0
kk get gpunode gpu-0 -o json
rc=$?
out=$(jq -r '.status.gpus[] | "\(.index) \(.model) mig=\(.migMode) \(.profiles | map(.name) | join(","))"' <<<"$out" 2>/dev/null)
expect_out "the agent publishes GPUNode gpu-0: one A100-SXM4-40GB with MIG on and its profiles" \
    '^0 NVIDIA A100-SXM4-40GB mig=true .*1g\.5gb.*3g\.20gb.*7g\.40gb'
alloc() { k get node "$1" -o json | jq -r --arg r "mig.slicer.dev/$2" '.status.allocatable[$r] // ""'; }
has_alloc() { [[ "$(alloc "$1" "$2")" == "$3" ]]; }
wait_for 30 has_alloc gpu-0 1g.5gb 7
out="1g.5gb=$(alloc gpu-0 1g.5gb) 3g.20gb=$(alloc gpu-0 3g.20gb) 7g.40gb=$(alloc gpu-0 7g.40gb)"
expect_out "the Node's allocatable says 7 x 1g.5gb, 2 x 3g.20gb, 1 x 7g.40gb" \
    '^1g\.5gb=7 3g\.20gb=2 7g\.40gb=1$'

k create namespace e2e >/dev/null
wait_for 20 k get serviceaccount default -n e2e -o name >/dev/null 2>&1

deployment() { # deployment NAME REPLICAS PROFILE: a Deployment asking one slice per pod
    cat <<EOF
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
        - name: model
          image: registry.invalid/model:1
          resources:
            limits: {nvidia.com/mig-$3: 1, cpu: 100m, memory: 64Mi}
EOF
}
running() { # running APP N: exactly N pods of APP are Running
    [[ "$(k get pods -n e2e -l "app=$1" --field-selector=status.phase=Running -o name | wc -l)" == "$2" ]]
}
pods_gone() { [[ -z "$(k get pods -n e2e -l "app=$1" -o name)" ]]; }
slices() { k get gslice -n e2e -o name | wc -l; }
no_slices() { [[ "$(slices)" == 0 && -z "$(e2e_emu_instances gpu-0)" ]]; }
# "pod mig-uuid" for each pod of APP: the annotation its env reads
devices() {
    k get pods -n e2e -l "app=$1" -o json |
        jq -r '.items[] | "\(.metadata.name) \(.metadata.annotations["slicer.dev/devices-0"] // "-")"'
}

# --- 7 x 1g.5gb ----------------------------------------------------------------------------
deployment tiny 7 1g.5gb | kk apply -f -
expect_rc "a Deployment of 7 x nvidia.com/mig-1g.5gb is accepted" 0
if wait_for 90 running tiny 7; then ok "all 7 pods are Running"; else
    out=$(k get pods -n e2e -o wide; k get gslice -n e2e); fail "all 7 pods are Running" "7 Running"
fi
out=$(devices tiny)
expect_count "each pod carries one MIG UUID in slicer.dev/devices-0" ' MIG-[0-9a-f-]+$' 7
n=$(awk '{print $2}' <<<"$out" | sort -u | grep -c '^MIG-')
[[ "$n" == 7 ]] && ok "...and the 7 UUIDs are distinct" || fail "the 7 UUIDs are distinct" "7 distinct, got $n"
emu=$(e2e_emu_instances gpu-0)
missing=0
while read -r _ uuid; do grep -q " $uuid\$" <<<"$emu" || missing=$((missing + 1)); done <<<"$out"
[[ $missing == 0 && $(wc -l <<<"$emu") == 7 ]] && ok "...and they are the 7 instances on the emulated GPU" ||
    { out=$emu; fail "the pods' UUIDs are the GPU's instances" "7 instances, all annotated ($missing missing)"; }
out=$(k get pods -n e2e -l app=tiny -o json | jq -r '.items[0].spec.containers[0].env[] |
      "\(.name)=\(.value // .valueFrom.fieldRef.fieldPath)"')
expect_out "the container's NVIDIA_VISIBLE_DEVICES reads that annotation" \
    "^NVIDIA_VISIBLE_DEVICES=metadata.annotations\['slicer.dev/devices-0'\]$"
expect_out "...and CUDA_VISIBLE_DEVICES is 0" '^CUDA_VISIBLE_DEVICES=0$'
out=$(k get pods -n e2e -l app=tiny -o json | jq -r '.items[] | "\(.spec.nodeName) \(.spec.nodeSelector["kubernetes.io/hostname"]) \(.spec.schedulingGates // [] | length)"' | sort -u)
expect_out "every pod is pinned to gpu-0, bound there, with no gate left" '^gpu-0 gpu-0 0$'
kk get gslice -n e2e
expect_count "kubectl get gslice shows 7 Ready slices on gpu-0" ' gpu-0 +GPU-[^ ]+ +1g\.5gb +[0-6] +Ready ' 7
# Events: each pod's SliceReady says where its slice is; SliceScheduled comes only for a pod
# that waited over a second for its slice (here, with an idle agent, not every one of them).
slicer_events() { # "reason note" of the controller's Events on app=tiny pods
    k get events.events.k8s.io -n e2e -o json | jq -r '.items[] | select(.reportingController ==
        "slicer.dev/controller" and (.regarding.name | startswith("tiny-"))) | "\(.reason) \(.note)"'
}
ready_events() { [[ $(slicer_events | grep -c '^SliceReady ') -ge 7 ]]; }
wait_for 20 ready_events
out=$(slicer_events)
expect_count "every pod's SliceReady names its node, profile, GPU and start" \
    '^SliceReady every MIG slice is Ready \(node gpu-0: 1g\.5gb on GPU-[0-9a-f-]+ at start [0-6]\): devices annotated' 7
n=$(grep -c '^SliceScheduled ' <<<"$out")
[[ $n -lt 7 ]] && ok "...and a pod whose slice was Ready within a second got no SliceScheduled ($n of 7 did)" ||
    fail "a quickly served pod gets one Event, not two" "fewer than 7 SliceScheduled, got $n"

# --- an 8th replica: no room ---------------------------------------------------------------
k scale deployment tiny -n e2e --replicas=8 >/dev/null
gated_pod() { k get pods -n e2e -l app=tiny -o json | jq -r '.items[] | select(.spec.schedulingGates // [] | length > 0) | .metadata.name'; }
has_gated() { [[ -n "$(gated_pod)" ]]; }
wait_for 30 has_gated
eighth=$(gated_pod)
no_capacity() { k get events.events.k8s.io -n e2e -o json | jq -e --arg p "$eighth" '.items[] | select(.regarding.name == $p and .reason == "NoCapacity")' >/dev/null; }
if wait_for 30 no_capacity; then ok "the 8th replica gets a NoCapacity Event"; else
    out=$(k get events.events.k8s.io -n e2e); fail "the 8th replica gets a NoCapacity Event" "an Event"; fi
out=$(k get events.events.k8s.io -n e2e -o json | jq -r --arg p "$eighth" '.items[] | select(.regarding.name == $p and .reason == "NoCapacity") | .note')
expect_out "...saying why" '1g\.5gb'
sleep 2
out=$(k get pod -n e2e "$eighth" -o jsonpath='{.status.phase} {.spec.schedulingGates[*].name}')
expect_out "...and stays Pending with its gate" '^Pending slicer.dev/gpu-slice$'
[[ $(wc -l <<<"$(e2e_emu_instances gpu-0)") == 7 ]] && ok "...with nothing allocated for it" ||
    fail "nothing is allocated for the 8th" "7 instances"

# --- scale to 0: everything goes -----------------------------------------------------------
k scale deployment tiny -n e2e --replicas=0 >/dev/null
wait_for 60 pods_gone tiny
if wait_for 60 no_slices; then ok "scaled to 0: no GPUSlice and no MIG instance is left"; else
    out="slices=$(slices) instances=$(e2e_emu_instances gpu-0)"; fail "scale to 0 frees everything" "0 and none"; fi
gnode_empty() { [[ "$(k get gpunode gpu-0 -o jsonpath='{.status.gpus[0].instances}')" =~ ^(\[\])?$ ]]; }
wait_for 60 gnode_empty && ok "...and GPUNode gpu-0 lists no instance" ||
    { out=$(k get gpunode gpu-0 -o jsonpath='{.status.gpus[0].instances}'); fail "GPUNode lists no instance" "[]"; }
k delete deployment tiny -n e2e >/dev/null

# --- 2 x 3g.20gb, then 1 x 7g.40gb on the same GPU -----------------------------------------
deployment half 2 3g.20gb | k apply -f - >/dev/null
if wait_for 60 running half 2; then ok "2 x 3g.20gb: both Running on the GPU the 1g.5gb pods left"; else
    out=$(k get pods -n e2e -o wide; k get gslice -n e2e); fail "2 x 3g.20gb Running" "2 Running"; fi
out=$(devices half)
n=$(awk '{print $2}' <<<"$out" | sort -u | grep -c '^MIG-')
[[ "$n" == 2 ]] && ok "...with 2 distinct MIG UUIDs" || fail "2 distinct UUIDs" "2"
out=$(e2e_emu_instances gpu-0 | awk '{print $2, $3}' | sort | tr '\n' ' ')
expect_out "...at starts 0 and 4" '^3g\.20gb 0 3g\.20gb 4 $'
k delete deployment half -n e2e >/dev/null
wait_for 60 pods_gone half
wait_for 60 no_slices && ok "deleting the Deployment frees both" || fail "both freed" "no slice"

deployment whole 1 7g.40gb | k apply -f - >/dev/null
if wait_for 60 running whole 1; then ok "1 x 7g.40gb: Running"; else
    out=$(k get pods -n e2e -o wide; k get gslice -n e2e); fail "7g.40gb Running" "1 Running"; fi
out=$(e2e_emu_instances gpu-0 | awk '{print $2, $3}')
expect_out "...on the whole GPU" '^7g\.40gb 0$'
k delete deployment whole -n e2e >/dev/null
wait_for 60 no_slices && ok "...and freed when deleted" || fail "freed" "no slice"

for c in webhook controller-one agent-gpu-0; do
    e2e_alive "$c" && ok "$c ran throughout" || { out=$(tail -20 "$T/${c}.log"); fail "$c ran throughout" "alive"; }
done
summary
