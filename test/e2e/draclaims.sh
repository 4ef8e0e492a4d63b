#!/usr/bin/env bash
# slicer's placement for the users' own claims under the DRA handoff, on the real
# control plane (1.37): a pod that names, in spec.resourceClaims, a ResourceClaim or
# ResourceClaimTemplate of the user's that asks for class mig.slicer.dev is gated and
# labelled by the webhook (which watches those objects), so that the controller
# places its claims with the placement engine and writes their allocation (finalizer,
# devices, node selector, reservedFor) rather than kube-scheduler's first fit; the
# agent makes the MIG instances; the pod runs; nothing is left afterwards.
# usage: bash test/e2e/draclaims.sh /path/to/slicer   (ctest passes it and SLICER_EMU_LIBRARY)
set -uo pipefail
SLICER=${1:?usage: draclaims.sh /path/to/slicer}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d -t slicer-e2e-draclaims.XXXXXX)
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
dra_gpu_node() { local f; mapfile -t f < <(dra_flags "$1"); e2e_gpu_node "$1" "$2" -- "${f[@]}"; }

e2e_up
ok "a real control plane is up"
k apply -f "$SRC/deploy/base/deviceclass.yaml" >/dev/null
# deploy/'s flags (--handoff auto: DRA, the DeviceClass is in); its debug log names the claims it learns.
e2e_webhook --log-level debug || { echo "FAIL - the webhook did not start"; exit 1; }
e2e_controller one || { echo "FAIL - the controller did not start"; exit 1; }
dra_gpu_node gpu-node-1 A100-SXM4-40GB:1 || { echo "FAIL - could not start gpu-node-1"; exit 1; }
pool() { [[ -n "$(k get resourceslices --field-selector spec.nodeName=gpu-node-1 -o name)" ]]; }
wait_for 60 pool || fail "gpu-node-1 publishes its ResourceSlices" "within 60 s"
watching() {
    grep -q 'watching ResourceClaimTemplates' "$T/webhook.log" &&
        grep -q 'watching ResourceClaims' "$T/webhook.log"
}
wait_for 30 watching && ok "the webhook watches ResourceClaims and ResourceClaimTemplates (deploy/'s RBAC lets it)" ||
    fail "the webhook watches ResourceClaims and ResourceClaimTemplates (deploy/'s RBAC lets it)" \
        "'watching ResourceClaim(Template)s' in its log: $(grep -i claim "$T/webhook.log" | tail -3)"

# known KIND NS/NAME: the webhook has seen it as one of class mig.slicer.dev.
known() { grep -q "$1 $2 asks for mig.slicer.dev" "$T/webhook.log"; }
# user_pod NAME FIELD VALUE: a pod naming the user's claim (FIELD resourceClaimName) or
# template (resourceClaimTemplateName), with no gate and no label of its own.
user_pod() {
    k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: default}
spec:
  resourceClaims: [{name: mig, $2: $3}]
  containers:
    - name: c
      image: registry.k8s.io/pause:3.10
      resources: {claims: [{name: mig}]}
YAML
}
running() { [[ "$(k get pod "$1" -o jsonpath='{.status.phase}' 2>/dev/null)" == Running ]]; }
# The claim a pod's entry "mig" resolved to.
claim_of() { k get pod "$1" -o jsonpath='{.status.resourceClaimStatuses[?(@.name=="mig")].resourceClaimName}'; }
# claim_state CLAIM: "finalizer<TAB>pools<TAB>reserved pods<TAB>devices (sorted, space separated)".
claim_state() {
    k get resourceclaim "$1" -o json |
        jq -r '[(.metadata.finalizers // [] | index("resource.kubernetes.io/delete-protection") != null),
                (.status.allocation.devices.results // [] | map(.pool) | unique | join(",")),
                (.status.reservedFor // [] | map(.name) | join(",")),
                (.status.allocation.devices.results // [] | map(.device) | sort | join(" "))] | @tsv'
}
allocated() {
    k get resourceclaims -A -o json |
        jq -r '.items[] | select(.status.allocation) | .status.allocation.devices.results[] | .device'
}
gslices() { k get gslice -A -o name | wc -l; }
instances() { k get gnode gpu-node-1 -o json | jq '[.status.gpus[].instances // [] | .[]] | length'; }
nothing_left() { [[ -z "$(allocated)" && "$(gslices)" -eq 0 && "$(instances)" -eq 0 ]]; }

# --- a user's ResourceClaimTemplate: 1 x 3g.20gb ---------------------------------------------------
k apply -f - >/dev/null <<'YAML'
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: half-gpu, namespace: default}
spec:
  spec:
    devices:
      requests:
        - name: mig
          exactly:
            deviceClassName: mig.slicer.dev
            count: 1
            selectors:
              - cel: {expression: "device.attributes['mig.slicer.dev'].profile == '3g.20gb'"}
YAML
wait_for 20 known ResourceClaimTemplate default/half-gpu &&
    ok "the webhook learns that the user's template asks for mig.slicer.dev" ||
    fail "the webhook learns that the user's template asks for mig.slicer.dev" "a log line"
user_pod from-template resourceClaimTemplateName half-gpu
out=$(k get pod from-template -o jsonpath='{.metadata.labels.slicer\.dev/managed}')
expect_out "a pod naming that template is labelled slicer.dev/managed by the webhook" '^true$'
grep -q 'pod default/from-template: names 1 ResourceClaim(s) of class mig.slicer.dev of its own: gated' "$T/webhook.log" &&
    ok "...and gated, the webhook says" || fail "...and gated, the webhook says" "its log line"
if wait_for 90 running from-template; then ok "...and it ends Running"; else
    fail "...and it ends Running" "Running, got $(k get pod from-template -o jsonpath='{.status.phase}')"
    tail -20 "$T/controller-one.log"
fi
claim=$(claim_of from-template)
out=$(claim_state "$claim")
expect_out "...its claim allocated on gpu-node-1 (finalizer, pool, the pod reserved, one 3g.20gb)" \
    $'^true\tgpu-node-1\tfrom-template\tgpu0-3g-20gb-at[04]$'
grep -q "ResourceClaim default/$claim allocated on gpu-node-1 for pod default/from-template" "$T/controller-one.log" &&
    ok "...written by slicer's placement, not kube-scheduler's" ||
    fail "...written by slicer's placement, not kube-scheduler's" "'allocated on gpu-node-1' in the controller's log"

# --- a user's ResourceClaim: 2 x 1g.5gb -----------------------------------------------------------------
k apply -f - >/dev/null <<'YAML'
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: two-small, namespace: default}
spec:
  devices:
    requests:
      - name: mig
        exactly:
          deviceClassName: mig.slicer.dev
          count: 2
          selectors:
            - cel: {expression: 'device.attributes["mig.slicer.dev"].profile == "1g.5gb"'}
YAML
wait_for 20 known ResourceClaim default/two-small &&
    ok "the webhook learns that the user's claim asks for mig.slicer.dev" ||
    fail "the webhook learns that the user's claim asks for mig.slicer.dev" "a log line"
user_pod from-claim resourceClaimName two-small
out=$(k get pod from-claim -o jsonpath='{.metadata.labels.slicer\.dev/managed}')
expect_out "a pod naming that claim is labelled slicer.dev/managed by the webhook" '^true$'
if wait_for 90 running from-claim; then ok "...and it ends Running"; else
    fail "...and it ends Running" "Running, got $(k get pod from-claim -o jsonpath='{.status.phase}')"
    tail -20 "$T/controller-one.log"
fi
out=$(claim_state two-small)
expect_out "...the claim allocated on gpu-node-1: two 1g.5gb" \
    $'^true\tgpu-node-1\tfrom-claim\tgpu0-1g-5gb-at[0-6] gpu0-1g-5gb-at[0-6]$'
[[ $(cut -f4 <<<"$out" | tr ' ' '\n' | sort -u | wc -l) -eq 2 ]] && ok "...distinct" || fail "...distinct" "2 devices"
grep -q "ResourceClaim default/two-small allocated on gpu-node-1 for pod default/from-claim" "$T/controller-one.log" &&
    ok "...written by slicer's placement" ||
    fail "...written by slicer's placement" "'allocated on gpu-node-1' in the controller's log"

# --- a claim of another class is none of the webhook's business ----------------------------------------
k apply -f - >/dev/null <<'YAML'
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: other-class, namespace: default}
spec:
  devices:
    requests:
      - name: gpu
        exactly: {deviceClassName: gpu.example.com}
YAML
user_pod other resourceClaimName other-class
out=$(k get pod other -o jsonpath='{.metadata.labels}{.spec.schedulingGates}')
expect_out "a pod naming a claim of another class is left alone (no label, no gate)" '^$'

# --- everything goes -------------------------------------------------------------------------------------
k delete pod from-template from-claim other --wait=false >/dev/null
k delete resourceclaim two-small other-class --wait=false >/dev/null
k delete resourceclaimtemplate half-gpu >/dev/null
wait_for 120 nothing_left && ok "after deleting everything no GPUSlice, no allocated claim and no MIG instance is left" ||
    fail "after deleting everything no GPUSlice, no allocated claim and no MIG instance is left" \
        "allocated=[$(allocated | tr '\n' ' ')] gslices=$(gslices) instances=$(instances)"
forgot() { grep -q "ResourceClaim default/two-small is gone" "$T/webhook.log"; }
wait_for 30 forgot && ok "...and the webhook forgets the user's claim" ||
    fail "...and the webhook forgets the user's claim" "'ResourceClaim default/two-small is gone' in its log"

summary
