#!/usr/bin/env bash
# deploy/'s ValidatingAdmissionPolicy slicer-pod-guard (the env handoff's guard) on the
# real control plane, with slicer running: a MIG pod still gets its slice and runs (the
# controller may annotate and ungate); a tenant with the right to update pods may not
# point the annotation at another MIG UUID, remove it, add one, or remove the gate; no
# pod may set NVIDIA_VISIBLE_DEVICES itself (the webhook's downward-API form passes);
# kube-system is exempt.
# usage: bash test/e2e/guard.sh /path/to/slicer   (ctest passes it and SLICER_EMU_LIBRARY)
set -uo pipefail
SLICER=${1:?usage: guard.sh /path/to/slicer}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d -t slicer-e2e-guard.XXXXXX)
trap 'e2e_cleanup; [[ -n "${KEEP:-}" ]] || rm -rf "$T"' EXIT
trap 'exit 130' INT TERM
# shellcheck source=../lib/check.sh
source "$SRC/test/lib/check.sh"
# shellcheck source=../lib/e2e.sh
source "$SRC/test/lib/e2e.sh"

e2e_up
ok "a real control plane is up, with deploy/'s CRDs and RBAC"
kk apply -f "$SRC/deploy/base/podguard.yaml"
expect_rc "deploy/'s ValidatingAdmissionPolicy and its binding are accepted" 0
typed() { [[ -z "$(k get validatingadmissionpolicy slicer-pod-guard -o jsonpath='{.status.typeChecking.expressionWarnings}')" && -n "$(k get validatingadmissionpolicy slicer-pod-guard -o jsonpath='{.status.observedGeneration}')" ]]; }
wait_for 30 typed && ok "...and its CEL type-checks without warnings" ||
    fail "...and its CEL type-checks without warnings" "$(k get validatingadmissionpolicy slicer-pod-guard -o jsonpath='{.status.typeChecking}')"
e2e_webhook || { fail "slicer webhook starts" "a serving webhook"; summary; exit 1; }
e2e_controller one
e2e_gpu_node gpu-0 A100-SXM4-40GB:1 || { fail "node gpu-0 and its agent start" "a Ready node"; summary; exit 1; }
auto_env() {
    [[ $(cat "$T/webhook.log" "$T/controller-one.log" "$T/agent-gpu-0.log" |
        grep -c -- '--handoff auto: env (no DeviceClass mig.slicer.dev') -eq 3 ]]
}
wait_for 20 auto_env && ok "without slicer's DeviceClass, webhook, controller and agent choose the env handoff" ||
    fail "without slicer's DeviceClass, webhook, controller and agent choose the env handoff" "3 log lines"
k create namespace team >/dev/null
wait_for 20 k get serviceaccount default -n team -o name >/dev/null 2>&1
# A tenant: may create, update and patch pods in its namespace, nothing else.
k create role pod-editor -n team --verb=get,list,create,update,patch,delete --resource=pods >/dev/null
k create serviceaccount tenant -n team >/dev/null
k create rolebinding tenant -n team --role=pod-editor --serviceaccount=team:tenant >/dev/null
TK=$T/kubeconfig-tenant
tok=$(k create token tenant -n team --duration=1h)
cat >"$TK" <<KC
apiVersion: v1
kind: Config
clusters: [{name: e2e, cluster: {server: "$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')", certificate-authority: "$CLUSTER_CA_CERT"}}]
users: [{name: tenant, user: {token: "$tok"}}]
contexts: [{name: e2e, context: {cluster: e2e, user: tenant, namespace: team}}]
current-context: e2e
KC
tenant() { out=$(KUBECONFIG=$TK "$KUBECTL" "$@" 2>"$T/stderr"); rc=$?; err=$(<"$T/stderr"); }
mig_pod() { # mig_pod NAME: a pod asking one 1g.5gb, as a user writes it
    cat <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: team}
spec:
  containers:
    - name: model
      image: registry.invalid/model:1
      resources: {limits: {nvidia.com/mig-1g.5gb: 1}}
YAML
}
running() { [[ "$(k get pod "$1" -n team -o jsonpath='{.status.phase}' 2>/dev/null)" == Running ]]; }

mig_pod a >"$T/a.yaml"
tenant apply -f "$T/a.yaml"
expect_rc "the tenant creates a MIG pod (the webhook's env form passes the guard)" 0
if wait_for 90 running a; then ok "...and slicer's controller annotates and ungates it: it runs"; else
    fail "...and slicer's controller annotates and ungates it: it runs" "Running"
fi
mig=$(k get pod a -n team -o jsonpath="{.metadata.annotations['slicer\.dev/devices-0']}")
[[ "$mig" == MIG-* ]] && ok "its annotation names its MIG device ($mig)" || fail "its annotation names its MIG device" "MIG-..."

tenant annotate pod a --overwrite "slicer.dev/devices-0=MIG-00000000-0000-0000-0000-someone-else"
expect_rc "the tenant may not point the annotation at another MIG device" 1
expect_err "...the policy says why" "slicer-pod-guard.*only slicer's controller may set or change slicer.dev/\\* annotations.*system:serviceaccount:team:tenant may not"
tenant annotate pod a "slicer.dev/devices-0-"
expect_rc "...nor remove it" 1
tenant annotate pod a "slicer.dev/devices-1=MIG-x"
expect_rc "...nor add one" 1
tenant annotate pod a "team.example/note=fine"
expect_rc "other annotations stay the tenant's to change" 0
out=$(k get pod a -n team -o jsonpath="{.metadata.annotations['slicer\.dev/devices-0']}")
[[ "$out" == "$mig" ]] && ok "the pod's device annotation is unchanged" || fail "the pod's device annotation is unchanged" "$mig"

# A pod whose gate the tenant tries to remove before slicer does: no GPU node has room left
# for a 7g.40gb next to pod a, so it stays gated.
cat >"$T/obj.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: big, namespace: team}
spec:
  containers:
    - name: model
      image: registry.invalid/model:1
      resources: {limits: {nvidia.com/mig-7g.40gb: 1}}
YAML
tenant apply -f "$T/obj.yaml"
gated() { [[ "$(k get pod big -n team -o jsonpath='{.spec.schedulingGates[*].name}')" == *slicer.dev/gpu-slice* ]]; }
wait_for 20 gated
tenant patch pod big --type=json -p '[{"op": "remove", "path": "/spec/schedulingGates"}]'
expect_rc "the tenant may not remove slicer's scheduling gate" 1
expect_err "...the policy says why" "only slicer's controller may remove the scheduling gate slicer.dev/gpu-slice"
gated && ok "...and the pod stays gated" || fail "...and the pod stays gated" "gate present"

cat >"$T/obj.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: sneaky, namespace: team}
spec:
  containers:
    - name: c
      image: registry.invalid/cuda:12
      env: [{name: NVIDIA_VISIBLE_DEVICES, value: all}]
YAML
tenant apply -f "$T/obj.yaml"
expect_rc "a pod that sets NVIDIA_VISIBLE_DEVICES itself is refused" 1
expect_err "...saying how to ask for a slice instead" "may not set NVIDIA_VISIBLE_DEVICES itself: ask for a MIG slice"
cat >"$T/obj.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: sneaky2, namespace: team}
spec:
  initContainers:
    - name: i
      image: registry.invalid/cuda:12
      env: [{name: NVIDIA_VISIBLE_DEVICES, valueFrom: {fieldRef: {fieldPath: "metadata.labels['x']"}}}]
  containers: [{name: c, image: registry.invalid/cuda:12}]
YAML
tenant apply -f "$T/obj.yaml"
expect_rc "...also in an init container, also from another field" 1
cat >"$T/obj.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: system-tool, namespace: kube-system}
spec:
  containers:
    - name: c
      image: registry.invalid/cuda:12
      env: [{name: NVIDIA_VISIBLE_DEVICES, value: all}]
YAML
kk apply -f "$T/obj.yaml"
expect_rc "kube-system is exempt (as for the webhook)" 0
k delete pod system-tool -n kube-system --wait=false >/dev/null

k delete pod a -n team --wait=false >/dev/null
no_slices() { [[ -z "$(k get gslice -n team -o name)" ]]; }
if wait_for 90 running big; then ok "once pod a ends, the controller ungates the 7g.40gb pod and it runs"; else
    fail "once pod a ends, the controller ungates the 7g.40gb pod" "big Running"
fi
k delete pod big -n team --wait=false >/dev/null
wait_for 90 no_slices && ok "every slice is released at the end" || fail "every slice is released at the end" "no GPUSlice"
summary
