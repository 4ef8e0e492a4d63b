#!/usr/bin/env bash
# The agent as the DRA driver mig.slicer.dev on the real control plane (1.37):
# its ResourceSlices of partitionable devices (counters per GPU) are accepted by
# the API server, split within the API's limits on an 8-GPU node, and owned by
# the Node; the real kube-scheduler's allocator, given only those slices and
# deploy/'s DeviceClass, never hands out two overlapping MIG placements (7 x
# 1g.5gb on one A100-40GB, the 8th waits and runs when one ends; a 7g.40gb
# after them); instances made outside DRA are taken capacity (a GPUSlice's
# instance blocks a 7g.40gb claim until it is destroyed); a restart with the
# same GPUs rewrites nothing; --handoff env removes what dra mode published.
# The kubelet side, driven with the kubelet's own Go client packages
# (test/kubelet/call): registration; the controller (--handoff dra) writes the
# GPUSlice of a claim the scheduler allocated, the agent makes it, and
# NodePrepareResources answers with a CDI device that the CDI project's
# library (test/cdi) resolves to exactly that MIG slice's nodes; repeated and
# after an agent restart the same; when the pod ends the claim and its
# GPUSlice go but the instance stays until NodeUnprepareResources, which
# removes the spec; a CDI folder it cannot write, a claim under another uid or
# one that does not exist is a clear error.
# usage: bash test/e2e/dra.sh /path/to/slicer   (ctest passes it and SLICER_EMU_LIBRARY)
set -uo pipefail
SLICER=${1:?usage: dra.sh /path/to/slicer}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d -t slicer-e2e-dra.XXXXXX)
trap 'e2e_cleanup; [[ -n "${KEEP:-}" ]] || rm -rf "$T"' EXIT
trap 'exit 130' INT TERM
# shellcheck source=../lib/check.sh
source "$SRC/test/lib/check.sh"
# shellcheck source=../lib/e2e.sh
source "$SRC/test/lib/e2e.sh"

# --- flags ----------------------------------------------------------------------------------------
slicer agent --help
expect_out "slicer agent --help documents --handoff" "--handoff MODE"
slicer agent --handoff magic
expect_rc "--handoff magic is a usage error (2)" 2
expect_err "...naming the choices" "--handoff is 'auto', 'env' or 'dra', not 'magic'"

CALL=$("$SRC/test/lib/gobuild.sh" "$SRC/test/kubelet" ./call) || { echo "FAIL - building test/kubelet/call"; exit 1; }
CDICHECK=$("$SRC/test/lib/gobuild.sh" "$SRC/test/cdi") || { echo "FAIL - building test/cdi"; exit 1; }
FX=$T/nvidia
"$SRC/test/lib/nvidia-fixture.sh" "$FX" 8
# The flags of a DRA-mode agent of NODE: its own kubelet folder and CDI folder, the fixture
# driver, dev and proc roots (what a GPU node shows; the emulated GPUs' minors are 0..N-1).
dra_flags() {
    printf '%s\n' --handoff dra --kubelet-dir "$T/kubelet-$1" --cdi-dir "$T/cdi-$1" \
        --driver-root "$FX/driver" --host-driver-root "$FX/driver" --dev-root "$FX/dev" --proc-root "$FX/proc" --cdi-hook none \
        --prepare-timeout 20
}
dra_agent() { local f; mapfile -t f < <(dra_flags "$1"); e2e_agent "$1" "${f[@]}"; }
dra_gpu_node() { local f; mapfile -t f < <(dra_flags "$1"); e2e_gpu_node "$1" "$2" -- "${f[@]}"; }

e2e_up
ok "a real control plane is up"
k apply -f "$SRC/deploy/base/deviceclass.yaml" >/dev/null
kk get deviceclass mig.slicer.dev -o name
expect_rc "deploy/'s DeviceClass mig.slicer.dev is accepted" 0

slices_of() { # slices_of NODE: the node's ResourceSlices of our driver, as a JSON array
    k get resourceslices --field-selector "spec.nodeName=$1,spec.driver=mig.slicer.dev" -o json |
        jq '.items'
}
pool_complete() { # pool_complete NODE [MIN_GEN]: every slice of the pool at one generation
    local s
    s=$(slices_of "$1") || return 1
    jq -e --argjson min "${2:-1}" 'length > 0 and
        (map(.spec.pool.generation) | unique | length == 1 and .[0] >= $min) and
        (length == .[0].spec.pool.resourceSliceCount)' <<<"$s" >/dev/null
}
gen_of() { slices_of "$1" | jq '.[0].spec.pool.generation // 0'; }
counter() { # counter NODE SET NAME: a counter's value in the node's counter slices
    slices_of "$1" | jq -r --arg s "$2" --arg c "$3" \
        '[.[].spec.sharedCounters // [] | .[] | select(.name == $s) | .counters[$c].value][0]'
}

# --- a node with two A100s --------------------------------------------------------------------------
dra_gpu_node gpu-node-0 A100-SXM4-40GB:2 || { echo "FAIL - could not start gpu-node-0"; exit 1; }
if wait_for 60 pool_complete gpu-node-0; then
    ok "gpu-node-0 publishes a complete pool of ResourceSlices"
else
    fail "gpu-node-0 publishes a complete pool of ResourceSlices" "slices within 60 s"
    tail -20 "$T/agent-gpu-node-0.log"
fi
s=$(slices_of gpu-node-0)
out=$(jq -c '[length, ([.[] | select(.spec.sharedCounters)] | length),
              ([.[].spec.devices // [] | length] | add)]' <<<"$s")
expect_out "...one counter slice and 50 devices (25 placements per A100-40GB)" '^\[2,1,50\]$'
out=$(jq -r '[.[].spec.sharedCounters // [] | .[] | .name] | join(",")' <<<"$s")
expect_out "...one counter set per GPU" '^gpu0,gpu1$'
out=$(jq -r '.[].spec.devices // [] | .[] | select(.name == "gpu1-3g-20gb-at4") |
    [.attributes.profile.string, .attributes.placementStart.int, .attributes.placementSize.int,
     (.attributes.parentUUID.string | startswith("GPU-")), .capacity.memory.value,
     (.consumesCounters[0].counters | keys | join(" "))] | @tsv' <<<"$s")
expect_out "...a device per (GPU, profile, placement) with its attributes and what it consumes" \
    $'^3g.20gb\t4\t4\ttrue\t[0-9]+Mi\tcompute-slices instances memory-slice-4 memory-slice-5 memory-slice-6 memory-slice-7$'
node_uid=$(k get node gpu-node-0 -o jsonpath='{.metadata.uid}')
out=$(jq -r '[.[].metadata.ownerReferences[0] | "\(.kind)/\(.name)/\(.uid)"] | unique | .[]' <<<"$s")
expect_out "...owned by the Node (deleting it deletes them)" "^Node/gpu-node-0/$node_uid\$"

# --- eight GPUs: several device slices, within the API's limits ------------------------------------
dra_gpu_node gpu-node-8 H100-80GB-HBM3:8 || { echo "FAIL - could not start gpu-node-8"; exit 1; }
wait_for 60 pool_complete gpu-node-8
s=$(slices_of gpu-node-8)
out=$(jq -c '[length, ([.[] | select(.spec.sharedCounters)] | length),
              ([.[].spec.devices // [] | length] | max), ([.[].spec.devices // [] | length] | add),
              ([.[].spec.sharedCounters // [] | length] | max)]' <<<"$s")
expect_out "8 x H100: 1 counter slice (8 sets) and 4 device slices of at most 64 (200 devices)" \
    '^\[5,1,64,200,8\]$'

# --- the real scheduler allocates from these slices: no two overlapping placements --------------------
dra_gpu_node gpu-node-1 A100-SXM4-40GB:1 || { echo "FAIL - could not start gpu-node-1"; exit 1; }
wait_for 60 pool_complete gpu-node-1
for p in 1g.5gb 7g.40gb; do
    cat <<EOF | k apply -f - >/dev/null
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: mig-${p//./-}, namespace: default}
spec:
  spec:
    devices:
      requests:
        - name: mig
          exactly:
            deviceClassName: mig.slicer.dev
            selectors:
              - cel: {expression: "device.attributes['mig.slicer.dev'].profile == '$p'"}
EOF
done
claim_pod() { # claim_pod NAME PROFILE NODE
    cat <<EOF | k apply -f - >/dev/null
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: default}
spec:
  nodeSelector: {kubernetes.io/hostname: $3}
  resourceClaims: [{name: mig, resourceClaimTemplateName: mig-${2//./-}}]
  containers:
    - name: c
      image: registry.k8s.io/pause:3.10
      resources: {claims: [{name: mig}]}
EOF
}
running() { [[ "$(k get pod "$1" -o jsonpath='{.status.phase}' 2>/dev/null)" == Running ]]; }
unschedulable() {
    [[ "$(k get pod "$1" -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].reason}' 2>/dev/null)" == Unschedulable ]]
}
for i in 1 2 3 4 5 6 7 8; do claim_pod "small-$i" 1g.5gb gpu-node-1; done
n=0
for i in 1 2 3 4 5 6 7 8; do wait_for 60 running "small-$i" && n=$((n + 1)) || true; done
# The allocated devices' placements (start of each) on gpu-node-1.
allocated() {
    k get resourceclaims -n default -o json |
        jq -r '.items[] | select(.status.allocation) | .status.allocation.devices.results[] |
               select(.pool == "gpu-node-1") | .device'
}
out=$(allocated | sort)
if [[ $n -eq 7 ]] && ! running small-8; then
    ok "the scheduler allocates 7 x 1g.5gb on the A100-40GB from slicer's slices"
else
    fail "the scheduler allocates 7 x 1g.5gb on the A100-40GB from slicer's slices" "7 Running, the 8th not (got $n)"
fi
expect_count "...on 7 distinct devices" '^gpu0-1g-5gb-at[0-6]$' 7
[[ $(sort -u <<<"$out" | wc -l) -eq 7 ]] && ok "...no device handed out twice" || fail "...no device handed out twice" "7 unique"
wait_for 30 unschedulable small-8
out=$(k get pod small-8 -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].message}')
expect_out "the 8th waits: the counters refuse an overlapping placement" "cannot allocate all claims|resourceclaim"
victim=$(for i in 1 2 3 4 5 6 7; do running "small-$i" && { echo "small-$i"; break; }; done)
k delete pod "$victim" --wait=false >/dev/null
if wait_for 90 running small-8; then ok "...and runs once one ends"; else fail "...and runs once one ends" "small-8 Running"; fi
for i in 1 2 3 4 5 6 7 8; do k delete pod "small-$i" --ignore-not-found --wait=false >/dev/null; done
claims_gone() { [[ -z "$(allocated)" ]]; }
wait_for 90 claims_gone && ok "their claims are deallocated when the pods go" || fail "their claims are deallocated when the pods go" "no allocated claim"
claim_pod big 7g.40gb gpu-node-1
if wait_for 90 running big; then ok "a 7g.40gb gets the whole GPU after them"; else fail "a 7g.40gb gets the whole GPU after them" "big Running"; fi
k delete pod big --wait=false >/dev/null

# --- instances made outside DRA are taken capacity ------------------------------------------------
dra_gpu_node gpu-node-2 A100-SXM4-40GB:1 || { echo "FAIL - could not start gpu-node-2"; exit 1; }
wait_for 60 pool_complete gpu-node-2
g0=$(gen_of gpu-node-2)
gpu=$(k get gnode gpu-node-2 -o jsonpath='{.status.gpus[0].uuid}')
cat <<EOF | k apply -f - >/dev/null
apiVersion: slicer.dev/v1alpha1
kind: GPUSlice
metadata:
  name: outside-dra
  namespace: default
  labels: {slicer.dev/node: gpu-node-2, slicer.dev/pod-uid: 0a1b2c3d}
  finalizers: [slicer.dev/teardown]
spec:
  podName: nobody
  podUID: 0a1b2c3d-0000-0000-0000-000000000000
  container: devices-0
  profile: 3g.20gb
  nodeName: gpu-node-2
  gpuUUID: $gpu
  placement: {start: 4, size: 4}
EOF
taken() { [[ "$(counter gpu-node-2 gpu0 memory-slice-4)" == 0 ]] && pool_complete gpu-node-2 $((g0 + 1)); }
if wait_for 60 taken; then
    ok "a GPUSlice's instance (not a DRA allocation) zeroes its memory slices' counters, in a new generation"
else
    fail "a GPUSlice's instance zeroes its counters" "memory-slice-4 = 0, generation > $g0"
fi
out="$(counter gpu-node-2 gpu0 compute-slices) $(counter gpu-node-2 gpu0 instances) $(counter gpu-node-2 gpu0 memory-slice-0)"
expect_out "...and takes its compute slices and one instance (7-3, 7-1), leaving slice 0" '^4 6 1$'
claim_pod big2 7g.40gb gpu-node-2
wait_for 60 unschedulable big2 && ok "...so the scheduler cannot give a 7g.40gb there" || fail "...so the scheduler cannot give a 7g.40gb there" "big2 Unschedulable"
k delete gslice outside-dra --wait=false >/dev/null
if wait_for 120 running big2; then ok "...until the instance is destroyed"; else fail "...until the instance is destroyed" "big2 Running"; fi
k delete pod big2 --wait=false >/dev/null

# --- the kubelet side: registration, Prepare with CDI, Unprepare ---------------------------------------
K1=$T/kubelet-gpu-node-1
out=$("$CALL" -reg "$K1/plugins_registry/mig.slicer.dev-reg.sock" register 2>&1)
expect_out "the agent registers as DRA plugin mig.slicer.dev with the kubelet's plugin watcher" \
    '"type":"DRAPlugin".*"name":"mig.slicer.dev"'
expect_out "...naming its DRA socket and the v1 service first" \
    "\"endpoint\":\"$K1/plugins/mig.slicer.dev/dra.sock\".*\"supported_versions\":\\[\"v1.DRAPlugin\""
DRA1=$K1/plugins/mig.slicer.dev/dra.sock
# From here the controller makes GPUSlices for allocated claims (--handoff dra). It is
# killed before the claim is allocated and started again after, with the agent killed in
# between: a claim allocated while they were down is still made and prepared.
e2e_controller one --handoff dra
wait_for 60 grep -q "leading as" "$T/controller-one.log"
e2e_kill controller-one KILL
# The CDI folder replaced by a file: Prepare must say why it cannot answer.
rm -rf "$T/cdi-gpu-node-1" && touch "$T/cdi-gpu-node-1"
claim_pod held 1g.5gb gpu-node-1
wait_for 90 running held
cl=$(k get resourceclaims -n default -o json | jq -c '.items[] | select(.metadata.ownerReferences[0].name == "held")')
cname=$(jq -r .metadata.name <<<"$cl") cuid=$(jq -r .metadata.uid <<<"$cl")
cdev=$(jq -r '.status.allocation.devices.results[0].device' <<<"$cl")
cstart=${cdev##*-at}
[[ -n "$cname" && "$cdev" == gpu0-1g-5gb-at* ]] && ok "the scheduler allocated $cdev to claim $cname" ||
    fail "the scheduler allocated a device to the held pod's claim" "a gpu0-1g-5gb device"
out=$(k get gslice -l "slicer.dev/claim-uid=$cuid" -o name)
[[ -z "$out" ]] && ok "...while no controller runs, no GPUSlice is made for it" ||
    fail "...while no controller runs, no GPUSlice is made for it" "none"
e2e_kill agent-gpu-node-1 KILL
dra_agent gpu-node-1
e2e_controller one --handoff dra
gslice_ready() { [[ "$(k get gslice -l "slicer.dev/claim-uid=$cuid" -o jsonpath='{.items[0].status.phase}')" == Ready ]]; }
if wait_for 60 gslice_ready; then
    ok "the controller writes a GPUSlice for the claim's device and the agent makes it Ready"
else
    fail "the controller writes a GPUSlice for the claim's device" "a Ready GPUSlice labelled with the claim's uid"
fi
gs=$(k get gslice -l "slicer.dev/claim-uid=$cuid" -o json | jq -c '.items[0]')
out=$(jq -r '[.spec.nodeName, .spec.placement.start, .spec.profile, .spec.podName,
              .metadata.ownerReferences[0].kind, .metadata.ownerReferences[0].uid] | @tsv' <<<"$gs")
expect_out "...at the allocated placement, for the pod, owned by the claim" \
    $'^gpu-node-1\t'"$cstart"$'\t1g.5gb\theld\tResourceClaim\t'"$cuid\$"
gsname=$(jq -r .metadata.name <<<"$gs")
out=$("$CALL" -dra "$DRA1" prepare "default/$cname/$cuid" 2>&1)
expect_out "a CDI folder the agent cannot write is a clear Prepare error" \
    "\"error\":\"claim default/$cname: writing its CDI spec: creating a temp file in $T/cdi-gpu-node-1: Not a directory"
rm -f "$T/cdi-gpu-node-1" && mkdir "$T/cdi-gpu-node-1"
out=$("$CALL" -dra "$DRA1" prepare "default/$cname/$cuid" 2>&1)
qual="mig.slicer.dev/mig=$cuid-$cdev"
expect_out "NodePrepareResources answers the claim's device and its CDI ID" \
    "\"$cuid\":\\{\"devices\":\\[\\{\"request_names\":\\[\"mig\"\\],\"pool_name\":\"gpu-node-1\",\"device_name\":\"$cdev\",\"cdi_device_ids\":\\[\"$qual\"\\]"
mig=$(k get gslice "$gsname" -o jsonpath='{.status.migUUID}')
untaken() { [[ "$(counter gpu-node-1 gpu0 memory-slice-$cstart) $(counter gpu-node-1 gpu0 instances)" == "1 7" ]]; }
wait_for 10 untaken # republished on the tick after the instance is made
out="$(counter gpu-node-1 gpu0 memory-slice-$cstart) $(counter gpu-node-1 gpu0 instances)"
expect_out "the instance of a claim's GPUSlice is not taken capacity (its allocation counts it)" '^1 7$'
gi=$(jq -r --arg s "$cstart" '.gpus[0].gpu_instances[] | select(.start == ($s | tonumber)) | .id' "$T/agent-gpu-node-1/emu-state.json")
gim=$(grep -E "^gpu0/gi$gi/access " "$FX/proc/driver/nvidia-caps/mig-minors" | cut -d' ' -f2)
cim=$(grep -E "^gpu0/gi$gi/ci0/access " "$FX/proc/driver/nvidia-caps/mig-minors" | cut -d' ' -f2)
if out=$("$CDICHECK" "$T/cdi-gpu-node-1" "$qual" 2>&1); then
    ok "the CDI project's library loads the spec the agent wrote ($mig)"
else
    fail "the CDI project's library loads the spec the agent wrote" "cdicheck exit 0"
fi
out=$(jq -r '[.deviceNodes[].path] | sort | join(" ")' <<<"$out")
want=$(printf '%s\n' /dev/nvidia-caps/nvidia-cap$gim /dev/nvidia-caps/nvidia-cap$cim /dev/nvidia-uvm \
    /dev/nvidia-uvm-tools /dev/nvidia0 /dev/nvidiactl | sort | paste -sd' ')
[[ "$out" == "$want" ]] && ok "...and it gives the container GPU 0's node and exactly that GI's and CI's capability nodes" ||
    fail "...and it gives the container exactly its slice's nodes" "$want"
out=$("$CALL" -dra "$DRA1" -v v1beta1 prepare "default/$cname/$cuid" 2>&1)
expect_out "a repeated Prepare (v1beta1 this time) gives the same answer" "\"cdi_device_ids\":\\[\"$qual\"\\]"
e2e_kill agent-gpu-node-1 KILL
dra_agent gpu-node-1
serving() { "$CALL" -timeout 2s -reg "$K1/plugins_registry/mig.slicer.dev-reg.sock" register >/dev/null 2>&1; }
wait_for 30 serving
out=$("$CALL" -dra "$DRA1" prepare "default/$cname/$cuid" 2>&1)
expect_out "...and after the agent is killed and restarted (its journal of prepared claims)" "\"cdi_device_ids\":\\[\"$qual\"\\]"
out=$("$CALL" -dra "$DRA1" prepare "default/$cname/0000-not-its-uid" 2>&1)
expect_out "Prepare of a claim under another uid is refused, saying why" "has uid $cuid, not 0000-not-its-uid"
out=$("$CALL" -dra "$DRA1" prepare "default/no-such-claim/1234" 2>&1)
expect_out "Prepare of a claim that does not exist says so" "no-such-claim.*(404|not found|NotFound)"
# The pod ends: its claim goes, so does the GPUSlice (owned by the claim, released by the
# controller); the instance stays while the claim is prepared, until the kubelet unprepares it.
inst_there() { jq -e --arg s "$cstart" '[.gpus[0].gpu_instances[]? | select(.start == ($s | tonumber))] | length == 1' "$T/agent-gpu-node-1/emu-state.json" >/dev/null; }
k delete pod held --wait=false >/dev/null
claim_gone() { ! k get resourceclaim -n default "$cname" >/dev/null 2>&1; }
wait_for 90 claim_gone
gs_deleting() { [[ -n "$(k get gslice "$gsname" -o jsonpath='{.metadata.deletionTimestamp}' 2>/dev/null)" ]] || ! k get gslice "$gsname" >/dev/null 2>&1; }
wait_for 60 gs_deleting && ok "when the pod ends and its claim goes, its GPUSlice is released" ||
    fail "when the pod ends and its claim goes, its GPUSlice is released" "$gsname deleting"
sleep 3
inst_there && ok "...but the instance stays while the kubelet has the claim prepared" ||
    fail "...but the instance stays while the kubelet has the claim prepared" "the instance at $cstart"
out=$("$CALL" -dra "$DRA1" unprepare "default/$cname/$cuid" 2>&1)
expect_out "NodeUnprepareResources succeeds" "\"$cuid\":\\{\\}"
[[ ! -e "$T/cdi-gpu-node-1/mig.slicer.dev-$cuid.json" ]] && ok "...and removes the claim's CDI spec" ||
    fail "...and removes the claim's CDI spec" "no spec file"
inst_gone() { ! inst_there && ! k get gslice "$gsname" >/dev/null 2>&1; }
wait_for 30 inst_gone && ok "...after which the instance is destroyed and the GPUSlice is gone" ||
    fail "...after which the instance is destroyed and the GPUSlice is gone" "no instance at $cstart, no $gsname"
out=$("$CALL" -dra "$DRA1" unprepare "default/$cname/$cuid" 2>&1)
expect_out "a repeated Unprepare succeeds (idempotent)" "\"$cuid\":\\{\\}"
e2e_kill controller-one

# --- a restart rewrites nothing; --handoff env cleans up ----------------------------------------------
rvs() { slices_of gpu-node-8 | jq -c '[.[].metadata.resourceVersion] | sort'; }
before=$(rvs)
e2e_kill agent-gpu-node-8
dra_agent gpu-node-8
wait_for 30 grep -q "ResourceSlices of node gpu-node-8 are current" "$T/agent-gpu-node-8.log"
out=$(rvs)
[[ "$out" == "$before" ]] && ok "an agent restarted with the same GPUs leaves its slices as they were" ||
    fail "an agent restarted with the same GPUs leaves its slices as they were" "$before"
e2e_kill agent-gpu-node-0
e2e_agent gpu-node-0 --handoff env
no_slices() { [[ "$(slices_of gpu-node-0 | jq length)" == 0 ]]; }
wait_for 60 no_slices && ok "--handoff env removes the slices dra mode published" ||
    fail "--handoff env removes the slices dra mode published" "no ResourceSlice of gpu-node-0"
k delete node gpu-node-8 >/dev/null
gc() { [[ "$(slices_of gpu-node-8 | jq length)" == 0 ]]; }
e2e_kill agent-gpu-node-8
wait_for 90 gc && ok "deleting a Node deletes its ResourceSlices (owner reference)" ||
    fail "deleting a Node deletes its ResourceSlices (owner reference)" "none left"

for f in "$T"/agent-*.log; do
    if grep -qE 'ERROR|AddressSanitizer' "$f"; then
        out=$(grep -E 'ERROR|AddressSanitizer' "$f" | head -5)
        fail "no errors in $(basename "$f")" "none"
    fi
done
summary
