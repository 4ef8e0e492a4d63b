#!/usr/bin/env bash
# slicer's own placement under the DRA handoff, on the real control plane (1.37):
# pods keep asking nvidia.com/mig-<profile>: N; the webhook (--handoff dra)
# gives each a ResourceClaim from slicer's per-profile ResourceClaimTemplate
# and gates it; the controller (--handoff dra) makes the template, places the
# claims with the placement engine and writes their allocation as
# kube-scheduler would (finalizer, devices, node selector, reservedFor); the
# agent makes the MIG instances; the gate goes; the real kube-scheduler binds
# the pod where its claims are. The seed's three scenarios as Deployments on
# one A100-40GB (7 x 1g.5gb, 2 x 3g.20gb, 1 x 7g.40gb) end Running on
# distinct devices; one more waits with NoCapacity and runs when one ends; a
# claim slicer cannot read is left to kube-scheduler's allocator, saying so;
# a profile no GPU offers and more slices than a GPU holds wait with a clear
# NoCapacity; a claim that keeps its slices on one GPU is placed so; pods are
# ungated as soon as their claims are allocated (the kubelet's Prepare waits
# for the instances); claims allocated while the agent is down and the
# controller restarted are made once; a slice NVML refuses fails its pod, whose
# owner makes a new one; everything is destroyed afterwards.
# usage: bash test/e2e/draplace.sh /path/to/slicer   (ctest passes it and SLICER_EMU_LIBRARY)
set -uo pipefail
SLICER=${1:?usage: draplace.sh /path/to/slicer}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d -t slicer-e2e-draplace.XXXXXX)
trap 'e2e_cleanup; [[ -n "${KEEP:-}" ]] || rm -rf "$T"' EXIT
trap 'exit 130' INT TERM
# shellcheck source=../lib/check.sh
source "$SRC/test/lib/check.sh"
# shellcheck source=../lib/e2e.sh
source "$SRC/test/lib/e2e.sh"

FX=$T/nvidia
"$SRC/test/lib/nvidia-fixture.sh" "$FX" 2
dra_flags() {
    printf '%s\n' --kubelet-dir "$T/kubelet-$1" --cdi-dir "$T/cdi-$1" \
        --driver-root "$FX/driver" --host-driver-root "$FX/driver" --dev-root "$FX/dev" --proc-root "$FX/proc" --cdi-hook none
}
dra_agent() { local f; mapfile -t f < <(dra_flags "$1"); e2e_agent "$1" "${f[@]}"; }
dra_gpu_node() { local f; mapfile -t f < <(dra_flags "$1"); e2e_gpu_node "$1" "$2" -- "${f[@]}"; }

e2e_up
ok "a real control plane is up"
k apply -f "$SRC/deploy/base/deviceclass.yaml" >/dev/null
# No --handoff anywhere: deploy/'s flags, whose default (auto) is DRA once the DeviceClass is in.
e2e_webhook || { echo "FAIL - the webhook did not start"; exit 1; }
e2e_controller one || { echo "FAIL - the controller did not start"; exit 1; }
dra_gpu_node gpu-node-1 A100-SXM4-40GB:1 || { echo "FAIL - could not start gpu-node-1"; exit 1; }
pool() { [[ -n "$(k get resourceslices --field-selector spec.nodeName=gpu-node-1 -o name)" ]]; }
wait_for 60 pool || fail "gpu-node-1 publishes its ResourceSlices" "within 60 s"
n=$(cat "$T/webhook.log" "$T/controller-one.log" "$T/agent-gpu-node-1.log" |
    grep -c -- '--handoff auto: DRA (DeviceClass mig.slicer.dev is installed)')
[[ $n -eq 3 ]] && ok "webhook, controller and agent choose the DRA handoff by default (the DeviceClass is in)" ||
    fail "webhook, controller and agent choose the DRA handoff by default (the DeviceClass is in)" "3 log lines, got $n"

deployment() { # deployment NAME PROFILE REPLICAS [SLICES PER POD]
    cat <<EOF | k apply -f - >/dev/null
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1, namespace: default}
spec:
  replicas: $3
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}}
    spec:
      containers:
        - name: c
          image: registry.k8s.io/pause:3.10
          resources: {limits: {nvidia.com/mig-$2: "${4:-1}"}}
EOF
}
pods_of() { k get pods -l "app=$1" -o json; }
running_count() { pods_of "$1" | jq '[.items[] | select(.status.phase == "Running")] | length'; }
all_running() { [[ "$(running_count "$1")" -eq "$2" ]]; }
# The devices allocated on gpu-node-1, one per line.
allocated() {
    k get resourceclaims -n default -o json |
        jq -r '.items[] | select(.status.allocation) | .status.allocation.devices.results[] |
               select(.pool == "gpu-node-1") | .device'
}
gslices() { k get gslice -A -o name | wc -l; }
instances() { k get gnode gpu-node-1 -o json | jq '[.status.gpus[].instances // [] | .[]] | length'; }
nothing_left() { [[ -z "$(allocated)" && "$(gslices)" -eq 0 && "$(instances)" -eq 0 ]]; }

# --- 7 x 1g.5gb -------------------------------------------------------------------------------------
deployment small 1g.5gb 7
if wait_for 120 all_running small 7; then
    ok "7 x 1g.5gb (a Deployment asking nvidia.com/mig-1g.5gb) end Running"
else
    fail "7 x 1g.5gb (a Deployment asking nvidia.com/mig-1g.5gb) end Running" "7 Running, got $(running_count small)"
    tail -20 "$T/controller-one.log"
fi
p=$(pods_of small | jq -c '.items[0]')
out=$(jq -r '[.spec.resourceClaims[0].resourceClaimTemplateName,
              (.spec.containers[0].resources.limits // {} | has("nvidia.com/mig-1g.5gb")),
              ([.spec.containers[0].env // [] | .[].name] | join(","))] | @tsv' <<<"$p")
expect_out "...each through a claim from slicer's template, no MIG limit and no env left" \
    $'^slicer-mig-1g-5gb-x1\tfalse\t$'
kk get resourceclaimtemplate slicer-mig-1g-5gb-x1 -o jsonpath='{.spec.spec.devices.requests[0].exactly.count}'
expect_out "...the controller made that template in the namespace" '^1$'
out=$(allocated | sort)
expect_count "...allocated on 7 devices of gpu-node-1" '^gpu0-1g-5gb-at[0-6]$' 7
[[ $(sort -u <<<"$out" | wc -l) -eq 7 ]] && ok "...all distinct" || fail "...all distinct" "7 unique devices"
c=$(k get resourceclaims -o json | jq -c '[.items[] | select(.status.allocation)][0]')
out=$(jq -r '[(.metadata.finalizers | index("resource.kubernetes.io/delete-protection") != null),
              .status.allocation.nodeSelector.nodeSelectorTerms[0].matchFields[0].values[0],
              .status.reservedFor[0].resource] | @tsv' <<<"$c")
expect_out "...each written as kube-scheduler would: finalizer, the node's selector, the pod reserved" \
    $'^true\tgpu-node-1\tpods$'
pod=$(jq -r '.status.reservedFor[0].name' <<<"$c")
out=$(k get events --field-selector "involvedObject.name=$pod,reason=ClaimsAllocated" -o jsonpath='{.items[*].message}')
expect_out "...and the pod is told where (ClaimsAllocated)" "its ResourceClaims are allocated \(node gpu-node-1: gpu0-1g-5gb-at[0-6] \(claim "
out=$(k get pod "$pod" -o jsonpath='{.spec.schedulingGates}{.spec.nodeName}')
expect_out "...ungated, and bound by kube-scheduler to that node" '^gpu-node-1$'
grep -q "allocated on gpu-node-1" "$T/controller-one.log" &&
    ok "...slicer's placement wrote the allocations" ||
    fail "...slicer's placement wrote the allocations" "'allocated on gpu-node-1' in the controller's log"

# --- the 8th waits with NoCapacity, and runs when one ends ------------------------------------------------
deployment extra 1g.5gb 1
nocap() {
    local p
    p=$(pods_of extra | jq -r '.items[0].metadata.name')
    [[ -n "$p" && "$p" != null ]] &&
        [[ -n "$(k get events --field-selector "involvedObject.name=$p,reason=NoCapacity" -o name)" ]]
}
if wait_for 60 nocap; then ok "an 8th 1g.5gb waits with a NoCapacity Event"; else fail "an 8th 1g.5gb waits with a NoCapacity Event" "the Event"; fi
p=$(pods_of extra | jq -r '.items[0].metadata.name')
out=$(k get events --field-selector "involvedObject.name=$p,reason=NoCapacity" -o jsonpath='{.items[0].message}')
expect_out "...saying why" "no node can take 1 x 1g.5gb"
k scale deployment small --replicas=6 >/dev/null
if wait_for 90 all_running extra 1; then ok "...and runs once one ends"; else fail "...and runs once one ends" "extra Running"; fi
out=$(allocated | sort)
[[ $(wc -l <<<"$out") -eq 7 && $(sort -u <<<"$out" | wc -l) -eq 7 ]] &&
    ok "...still 7 distinct devices: none handed out twice" ||
    fail "...still 7 distinct devices: none handed out twice" "$(tr '\n' ' ' <<<"$out")"
k delete deployment small extra >/dev/null
wait_for 120 nothing_left && ok "the claims, GPUSlices and instances go with the pods" ||
    fail "the claims, GPUSlices and instances go with the pods" "allocated=[$(allocated | tr '\n' ' ')] gslices=$(gslices) instances=$(instances)"

# --- 2 x 3g.20gb, then 1 x 7g.40gb ------------------------------------------------------------------------
deployment half 3g.20gb 2
if wait_for 120 all_running half 2; then ok "2 x 3g.20gb end Running"; else fail "2 x 3g.20gb end Running" "2 Running"; fi
out=$(allocated | sort | tr '\n' ' ')
expect_out "...on the two halves of the GPU" '^gpu0-3g-20gb-at0 gpu0-3g-20gb-at4 $'
k delete deployment half >/dev/null
wait_for 120 nothing_left || fail "the 3g.20gb slices go" "nothing left"
deployment whole 7g.40gb 1
if wait_for 120 all_running whole 1; then ok "1 x 7g.40gb ends Running"; else fail "1 x 7g.40gb ends Running" "Running"; fi
out=$(allocated)
expect_out "...on the whole GPU" '^gpu0-7g-40gb-at0$'
k delete deployment whole >/dev/null
wait_for 120 nothing_left || fail "the 7g.40gb slice goes" "nothing left"

# --- faults: claims allocated while the agent is down, the controller restarted before they are
# made, and the first MIG instance refused by NVML when the agent is back --------------------------
e2e_kill agent-gpu-node-1 KILL # a crash: its GPUNode stays Ready (a clean stop marks it not Ready)
deployment fault 2g.10gb 3
three_allocated() { [[ "$(allocated | wc -l)" -eq 3 ]]; }
if wait_for 60 three_allocated; then
    ok "with the agent down, slicer still allocates 3 x 2g.10gb claims"
else
    fail "with the agent down, slicer still allocates 3 x 2g.10gb claims" "3 allocated, got $(allocated | wc -l)"
fi
phases() { k get gslice -A -o json | jq -r '[.items[] | (.status.phase // "Pending")] | sort | join(",")'; }
ungated() { [[ "$(pods_of fault | jq '[.items[] | select(.spec.schedulingGates == null)] | length')" -eq 3 ]]; }
wait_for 30 ungated
out="$(phases) $(ungated && echo ungated)"
expect_out "...ungated at once, their GPUSlices waiting for the agent (the kubelet waits for them)" \
    '^Pending,Pending,Pending ungated$'
e2e_kill controller-one
e2e_controller one || fail "the controller restarts" "started"
E2E_AGENT_ENV=SLICER_EMU_FAULTS=nvmlDeviceCreateGpuInstanceWithPlacement:1:INSUFFICIENT_RESOURCES \
    dra_agent gpu-node-1 || fail "the agent restarts" "started"
lost() { [[ -n "$(k get events --field-selector reason=SliceLost -o name)" ]]; }
if wait_for 60 lost; then
    ok "...the slice NVML refused fails its pod (SliceLost), so that its owner makes a new one"
else
    fail "...the slice NVML refused fails its pod (SliceLost), so that its owner makes a new one" "the Event"
fi
made() { [[ "$(phases)" == Ready,Ready,Ready && "$(instances)" -eq 3 ]] && all_running fault 3; }
if wait_for 120 made; then
    ok "...and after the restarts 3 pods run on 3 Ready GPUSlices"
else
    fail "...and after the restarts 3 pods run on 3 Ready GPUSlices" "phases $(phases), instances $(instances), running $(running_count fault)"
fi
out=$(allocated | sort)
[[ $(wc -l <<<"$out") -eq 3 && $(sort -u <<<"$out" | wc -l) -eq 3 && "$(gslices)" -eq 3 ]] &&
    ok "...on 3 distinct devices, one GPUSlice each: nothing made twice" ||
    fail "...on 3 distinct devices, one GPUSlice each: nothing made twice" "devices [$(tr '\n' ' ' <<<"$out")] gslices $(gslices)"
k delete deployment fault >/dev/null
wait_for 120 nothing_left && ok "...and nothing is left after them" ||
    fail "...and nothing is left after them" "allocated=[$(allocated | tr '\n' ' ')] gslices=$(gslices) instances=$(instances)"
e2e_kill agent-gpu-node-1
dra_agent gpu-node-1 || fail "the agent restarts without faults" "started"

# --- what slicer's placement does not read goes to kube-scheduler; bad input waits, saying why --------------
cat <<EOF | k apply -f - >/dev/null
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: any-mig, namespace: default}
spec:
  spec:
    devices:
      requests:
        - name: mig
          exactly:
            deviceClassName: mig.slicer.dev
            selectors:
              - cel: {expression: "device.attributes['mig.slicer.dev'].placementSize == 2"}
---
apiVersion: v1
kind: Pod
metadata: {name: own-claim, namespace: default, labels: {slicer.dev/managed: "true"}}
spec:
  schedulingGates: [{name: slicer.dev/gpu-slice}]
  resourceClaims: [{name: mig, resourceClaimTemplateName: any-mig}]
  containers:
    - name: c
      image: registry.k8s.io/pause:3.10
      resources: {claims: [{name: mig}]}
EOF
running() { [[ "$(k get pod "$1" -o jsonpath='{.status.phase}' 2>/dev/null)" == Running ]]; }
if wait_for 90 running own-claim; then ok "a user's claim with a selector slicer does not read runs"; else fail "a user's claim with a selector slicer does not read runs" "Running"; fi
out=$(k get events --field-selector "involvedObject.name=own-claim,reason=SchedulerAllocates" -o jsonpath='{.items[0].message}')
expect_out "...allocated by kube-scheduler, and the pod is told why" "does not read.*kube-scheduler allocates its claims"
out=$(allocated)
expect_out "...on a 2-slice device" '^gpu0-(1g-10gb|2g-10gb)-at[0-6]$'
k delete pod own-claim --wait=false >/dev/null
wait_for 120 nothing_left || fail "its slice goes" "nothing left"

# A user's claim that keeps its 2 slices on one GPU (matchAttribute parentUUID): slicer places it.
cat <<EOF | k apply -f - >/dev/null
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: pair, namespace: default}
spec:
  devices:
    requests:
      - name: mig
        exactly:
          deviceClassName: mig.slicer.dev
          selectors:
            - cel: {expression: 'device.attributes["mig.slicer.dev"].profile == "1g.5gb"'}
          count: 2
    constraints:
      - matchAttribute: mig.slicer.dev/parentUUID
EOF
wait_for 20 k get resourceclaim pair -o name >/dev/null 2>&1
cat <<EOF | k apply -f - >/dev/null
apiVersion: v1
kind: Pod
metadata: {name: pair-pod, namespace: default, labels: {slicer.dev/managed: "true"}}
spec:
  schedulingGates: [{name: slicer.dev/gpu-slice}]
  resourceClaims: [{name: mig, resourceClaimName: pair}]
  containers:
    - name: c
      image: registry.k8s.io/pause:3.10
      resources: {claims: [{name: mig}]}
EOF
if wait_for 90 running pair-pod; then ok "a user's claim of 2 x 1g.5gb on one GPU (matchAttribute parentUUID) runs"; else fail "a user's claim of 2 x 1g.5gb on one GPU (matchAttribute parentUUID) runs" "Running"; fi
grep -q "ResourceClaim default/pair allocated on gpu-node-1" "$T/controller-one.log" &&
    ok "...placed by slicer" || fail "...placed by slicer" "the controller's allocation"
out=$(allocated | sort | tr '\n' ' ')
expect_out "...2 devices of one GPU" '^gpu0-1g-5gb-at[0-6] gpu0-1g-5gb-at[0-6] $'
k delete pod pair-pod >/dev/null
k delete resourceclaim pair >/dev/null
wait_for 120 nothing_left || fail "its slices go" "nothing left"

cat <<EOF | k apply -f - >/dev/null
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: no-such-profile, namespace: default}
spec:
  devices:
    requests:
      - name: mig
        exactly:
          deviceClassName: mig.slicer.dev
          selectors:
            - cel: {expression: "device.attributes['mig.slicer.dev'].profile == '9g.99gb'"}
---
apiVersion: v1
kind: Pod
metadata: {name: bad-profile, namespace: default, labels: {slicer.dev/managed: "true"}}
spec:
  schedulingGates: [{name: slicer.dev/gpu-slice}]
  resourceClaims: [{name: mig, resourceClaimName: no-such-profile}]
  containers:
    - name: c
      image: registry.k8s.io/pause:3.10
      resources: {claims: [{name: mig}]}
EOF
badcap() { [[ -n "$(k get events --field-selector involvedObject.name=bad-profile,reason=NoCapacity -o name)" ]]; }
if wait_for 60 badcap; then ok "a claim for a profile no GPU offers waits with NoCapacity"; else fail "a claim for a profile no GPU offers waits with NoCapacity" "the Event"; fi
out=$(k get events --field-selector involvedObject.name=bad-profile,reason=NoCapacity -o jsonpath='{.items[0].message}')
expect_out "...naming the profile" "9g.99gb"
out=$(k get pod bad-profile -o jsonpath='{.spec.schedulingGates[0].name}')
expect_out "...and stays gated, nothing allocated" '^slicer.dev/gpu-slice$'
# More slices than any GPU holds, through the webhook: waits with NoCapacity saying why.
deployment toobig 7g.40gb 1 2
toobig_nocap() {
    local p
    for p in $(pods_of toobig | jq -r '.items[] | select(.spec.resourceClaims[0].resourceClaimTemplateName == "slicer-mig-7g-40gb-x2") | .metadata.name'); do
        [[ -n "$(k get events --field-selector "involvedObject.name=$p,reason=NoCapacity" -o name)" ]] && return 0
    done
    return 1
}
if wait_for 60 toobig_nocap; then ok "2 x 7g.40gb (more than the one GPU holds) waits with NoCapacity"; else fail "2 x 7g.40gb (more than the one GPU holds) waits with NoCapacity" "the Event"; fi
k delete deployment toobig >/dev/null
k delete pod bad-profile >/dev/null
k delete resourceclaim no-such-profile >/dev/null
wait_for 60 nothing_left && ok "nothing is left on the GPU at the end" ||
    fail "nothing is left on the GPU at the end" "allocated=[$(allocated | tr '\n' ' ')] gslices=$(gslices) instances=$(instances)"

summary
