#!/usr/bin/env bash
# slicer's DRA driver against a real kubelet: a Node run by the kubelet built with
# the control plane, on fakecri (a CRI served from memory: test/cluster/add-kubelet-node),
# the agent (--handoff dra) with its sockets in that kubelet's root dir, the controller
# (--handoff dra). The kubelet's plugin watcher registers the agent; two pods with
# claims of deploy/'s DeviceClass go Running: the kubelet called NodePrepareResources
# and handed the runtime exactly the CDI device the agent answered for each pod's claim
# (fakecri records CreateContainer), and the CDI project's library resolves that
# device to the slice's own nodes only. A pod that ends is unprepared by the kubelet:
# its CDI spec, GPUSlice and MIG instance go, the other pod's stay. The agent killed
# while a claim is prepared finds it in its journal when the kubelet unprepares it.
# usage: bash test/e2e/kubelet.sh /path/to/slicer   (ctest passes it and SLICER_EMU_LIBRARY)
set -uo pipefail
SLICER=${1:?usage: kubelet.sh /path/to/slicer}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d -t slicer-e2e-kubelet.XXXXXX)
trap 'e2e_cleanup; [[ -n "${KEEP:-}" ]] || rm -rf "$T"' EXIT
trap 'exit 130' INT TERM
# shellcheck source=../lib/check.sh
source "$SRC/test/lib/check.sh"
# shellcheck source=../lib/e2e.sh
source "$SRC/test/lib/e2e.sh"

CDICHECK=$("$SRC/test/lib/gobuild.sh" "$SRC/test/cdi") || { echo "FAIL - building test/cdi"; exit 1; }
FX=$T/nvidia
"$SRC/test/lib/nvidia-fixture.sh" "$FX" 1
NODE=real-node-0
e2e_up
ok "a real control plane is up"
k apply -f "$SRC/deploy/base/deviceclass.yaml" >/dev/null
if ! "$CLUSTER/add-kubelet-node" "$NODE" --state "$STATE" >>"$T/nodes.log" 2>&1; then
    echo "FAIL - a real kubelet for $NODE:"; tail -20 "$T/nodes.log"; echo "$checks passed, 1 failed"; exit 1
fi
KD=$STATE/kubelet-$NODE
ok "a real kubelet runs $NODE on fakecri (runtime $(k get node "$NODE" -o jsonpath='{.status.nodeInfo.containerRuntimeVersion}'))"
mkdir -p "$T/agent-$NODE"
echo A100-SXM4-40GB:1 >"$T/agent-$NODE/gpus"
CDI=$T/cdi
agent_flags=(--handoff dra --kubelet-dir "$KD/root" --cdi-dir "$CDI" --driver-root "$FX/driver" --host-driver-root "$FX/driver"
    --dev-root "$FX/dev" --proc-root "$FX/proc" --cdi-hook none)
e2e_agent "$NODE" "${agent_flags[@]}"
e2e_controller one --handoff dra
registered() { grep -q "the kubelet registered DRA driver mig.slicer.dev" "$T/agent-$NODE.log"; }
wait_for 60 registered && ok "the kubelet's plugin watcher registers the agent as DRA driver mig.slicer.dev" ||
    fail "the kubelet registers the agent" "'the kubelet registered' in the agent's log"
slices() { k get resourceslices --field-selector "spec.nodeName=$NODE" -o name 2>/dev/null | grep -q .; }
wait_for 60 slices

cat <<YAML | k apply -f - >/dev/null
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: mig-1g-5gb, namespace: default}
spec:
  spec:
    devices:
      requests:
        - name: mig
          exactly:
            deviceClassName: mig.slicer.dev
            selectors:
              - cel: {expression: "device.attributes['mig.slicer.dev'].profile == '1g.5gb'"}
YAML
pod() { # pod NAME: a pod on the kubelet's node with one 1g.5gb claim (no token volume to mount)
    cat <<YAML | k apply -f - >/dev/null
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: default}
spec:
  nodeSelector: {kubernetes.io/hostname: $NODE}
  automountServiceAccountToken: false
  resourceClaims: [{name: mig, resourceClaimTemplateName: mig-1g-5gb}]
  containers:
    - name: c
      image: registry.k8s.io/pause:3.10
      resources: {claims: [{name: mig}]}
YAML
}
running() { [[ "$(k get pod "$1" -o jsonpath='{.status.phase}' 2>/dev/null)" == Running ]]; }
pod p1
pod p2
if wait_for 120 running p1 && wait_for 60 running p2; then
    ok "two pods with claims of the DeviceClass run on the kubelet's node"
else
    fail "two pods with claims run on the kubelet's node" "p1 and p2 Running"
    k get pods -o wide; tail -5 "$KD/kubelet.log"
fi
# The CDI device each pod's container was created with, and the one its claim should have.
claim_of() { k get pod "$1" -o jsonpath='{.status.resourceClaimStatuses[0].resourceClaimName}'; }
want_cdi() {
    local c
    c=$(k get resourceclaim "$(claim_of "$1")" -o json)
    jq -r '"mig.slicer.dev/mig=\(.metadata.uid)-\(.status.allocation.devices.results[0].device)"' <<<"$c"
}
got_cdi() { jq -r --arg p "$1" 'select(.pod == $p) | .cdiDevices | join(",")' "$KD/created.jsonl" | tail -1; }
for p in p1 p2; do
    out=$(got_cdi "$p")
    w=$(want_cdi "$p")
    [[ -n "$out" && "$out" == "$w" ]] &&
        ok "the kubelet created $p's container with exactly its claim's CDI device ($w)" ||
        fail "the kubelet created $p's container with its claim's CDI device" "$w"
done
[[ "$(got_cdi p1)" != "$(got_cdi p2)" ]] && ok "...two different devices" || fail "...two different devices" "distinct"
if out=$("$CDICHECK" "$CDI" "$(got_cdi p1)" 2>&1); then
    nodes=$(jq -r '[.deviceNodes[].path] | map(select(startswith("/dev/nvidia-caps/"))) | length' <<<"$out")
    [[ "$nodes" == 2 ]] && ok "the CDI library resolves p1's device to its GI and CI capability nodes only" ||
        fail "the CDI library resolves p1's device to its own capability nodes" "2 cap nodes, got $nodes"
else
    fail "the CDI library loads the specs the agent wrote" "cdicheck exit 0"
fi
instances() { jq '[.gpus[0].gpu_instances[]?] | length' "$T/agent-$NODE/emu-state.json"; }
out=$(instances)
expect_out "the emulated A100 holds the two pods' instances" '^2$'

# p1 ends: the kubelet unprepares its claim.
c1=$(k get resourceclaim "$(claim_of p1)" -o jsonpath='{.metadata.uid}')
k delete pod p1 --wait=false >/dev/null
unprepared() { grep -q "claim default/.* unprepared" "$T/agent-$NODE.log"; }
wait_for 90 unprepared && ok "when p1 ends the kubelet calls NodeUnprepareResources" ||
    fail "when p1 ends the kubelet calls NodeUnprepareResources" "'unprepared' in the agent's log"
[[ ! -e "$CDI/mig.slicer.dev-$c1.json" ]] && ok "...which removes p1's CDI spec" || fail "...which removes p1's CDI spec" "no spec"
one_left() { [[ "$(instances)" == 1 ]] && [[ -z "$(k get gslice -l "slicer.dev/claim-uid=$c1" -o name)" ]]; }
wait_for 60 one_left && ok "...then p1's GPUSlice and MIG instance go; p2's stay" ||
    fail "...then p1's GPUSlice and MIG instance go" "1 instance, no GPUSlice of claim $c1"
running p2 && ok "p2 still runs" || fail "p2 still runs" "Running"

# The agent is killed while p2's claim is prepared; the kubelet's Unprepare reaches the new one.
c2=$(k get resourceclaim "$(claim_of p2)" -o jsonpath='{.metadata.uid}')
e2e_kill "agent-$NODE" KILL
e2e_agent "$NODE" "${agent_flags[@]}"
wait_for 60 grep -q "1 prepared claim(s) journaled" "$T/agent-$NODE.log" &&
    ok "a restarted agent finds p2's prepared claim in its journal" ||
    fail "a restarted agent finds p2's prepared claim in its journal" "'1 prepared claim(s) journaled'"
k delete pod p2 --wait=false >/dev/null
none_left() { [[ "$(instances)" == 0 ]] && [[ ! -e "$CDI/mig.slicer.dev-$c2.json" ]] && [[ -z "$(k get gslice -o name)" ]]; }
wait_for 120 none_left && ok "...and when p2 ends: unprepared, its spec, GPUSlice and instance gone" ||
    fail "...and when p2 ends everything of it goes" "no instance, no spec, no GPUSlice"
for f in "$T"/agent-*.log "$T"/controller-*.log; do
    if grep -qE '"level":"error"|AddressSanitizer' "$f"; then
        out=$(grep -E '"level":"error"|AddressSanitizer' "$f" | head -5)
        fail "no errors in $(basename "$f")" "none"
    fi
done
summary
