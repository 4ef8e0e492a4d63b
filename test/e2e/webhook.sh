#!/usr/bin/env bash
# slicer's admission path on a real control plane (test/cluster): the CRDs and
# every manifest of deploy/ against the real apiserver, then `slicer webhook`
# registered with deploy/'s own MutatingWebhookConfiguration (clientConfig
# pointed at 127.0.0.1) and pods created with the real kubectl, as a user would:
# MIG pods are rewritten and gated, bad ones refused with the webhook's words,
# other pods never reach the webhook, and with the webhook down only MIG pods
# are blocked.
# usage: bash test/e2e/webhook.sh /path/to/slicer   (ctest passes it)
set -uo pipefail
SLICER=${1:?usage: webhook.sh /path/to/slicer}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
CLUSTER=$SRC/test/cluster
T=$(mktemp -d -t slicer-e2e-webhook.XXXXXX)
STATE=$T/cluster
WH_PID=
cleanup() {
    [[ -n "$WH_PID" ]] && kill "$WH_PID" 2>/dev/null && wait "$WH_PID" 2>/dev/null
    "$CLUSTER/down" --state "$STATE" >/dev/null 2>&1
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# shellcheck source=../lib/check.sh
source "$SRC/test/lib/check.sh"

if ! "$CLUSTER/up" --state "$STATE" >"$T/up.log" 2>&1; then
    echo "FAIL - test/cluster/up failed:"; tail -30 "$T/up.log"
    echo "0 passed, 1 failed"; exit 1
fi
# shellcheck disable=SC1091
. "$STATE/cluster.env"
export KUBECONFIG
k() { "$KUBECTL" "$@"; }
kk() { out=$(k "$@" 2>"$T/stderr"); rc=$?; err=$(<"$T/stderr"); } # keeps out, err, rc
ok "a real control plane is up ($("$KUBECTL" version -o json | grep -o '"gitVersion": *"[^"]*"' | tail -1))"

# --- deploy/ against the real apiserver ----------------------------------------------------
kk kustomize "$SRC/deploy"
expect_rc "deploy/ renders with kustomize" 0
k kustomize "$SRC/deploy" >"$T/all.yaml"
kk apply --dry-run=server -f "$SRC/deploy/base/namespace.yaml" -f "$SRC/deploy/base/crd-gpunodes.yaml" \
    -f "$SRC/deploy/base/crd-gpuslices.yaml"
expect_rc "namespace and CRDs pass --dry-run=server" 0
k apply -f "$SRC/deploy/base/namespace.yaml" -f "$SRC/deploy/base/crd-gpunodes.yaml" \
    -f "$SRC/deploy/base/crd-gpuslices.yaml" >/dev/null
kk wait --for=condition=Established --timeout=60s crd/gpunodes.slicer.dev crd/gpuslices.slicer.dev
expect_rc "both CRDs are established" 0
kk apply --dry-run=server -f "$T/all.yaml"
expect_rc "every manifest of deploy/ passes kubectl apply --dry-run=server" 0
expect_err "...without warnings" '^$'
k kustomize "$SRC/deploy/overlays/emulated" >"$T/emulated.yaml"
kk apply --dry-run=server -f "$T/emulated.yaml"
expect_rc "the emulated overlay passes kubectl apply --dry-run=server too" 0
out=$(k create --dry-run=client --validate=false -o json -f "$T/emulated.yaml" | jq -r 'select(.kind == "DaemonSet") |
    .spec.template.spec | "\(.nodeSelector | keys[0]) \(.containers[0].env | map(.name) | join(","))"')
expect_out "...its agents run on slicer.dev/emulated-gpus nodes with the emulated NVML" \
    '^slicer.dev/emulated-gpus NODE_NAME,SLICER_NVML_LIBRARY,SLICER_EMU_GPUS,SLICER_EMU_STATE$'

# --- the CRDs behave as documented ----------------------------------------------------------
slice() { # slice NAME PHASE-OR-EMPTY: a GPUSlice manifest
    cat <<EOF
apiVersion: slicer.dev/v1alpha1
kind: GPUSlice
metadata: {name: $1, namespace: default}
spec:
  podName: tiny-0
  podUID: 0a1b2c3d
  container: devices-0
  profile: 1g.5gb
  nodeName: gpu-node-0
  gpuUUID: GPU-7b806a81-ff97-fbbf-2bbc-7321a29a5968
  placement: {start: 6, size: 1}
EOF
}
slice s1 | k apply -f - >/dev/null
kk patch gslice s1 --subresource=status --type=merge -p '{"status":{"phase":"Ready","migUUID":"MIG-x"}}'
expect_rc "the status subresource takes a phase" 0
kk get gslice -A
expect_out "kubectl get gslice -A shows pod, node, GPU, profile, start, phase" \
    '^default +s1 +tiny-0 +gpu-node-0 +GPU-7b806a81-ff97-fbbf-2bbc-7321a29a5968 +1g.5gb +6 +Ready'
kk patch gslice s1 --subresource=status --type=merge -p '{"status":{"phase":"Done"}}'
expect_rc "an unknown phase is refused" 1
expect_err "...naming the valid ones" 'Pending.*Creating.*Ready.*Releasing.*Failed'
kk patch gslice s1 --type=merge -p '{"spec":{"placement":{"start":5}}}'
expect_rc "a slice's spec is immutable" 1
expect_err "...with the CRD's message" 'immutable'
slice s2 | sed 's/GPU-7b80/gpu-7b80/' >"$T/obj.json"
kk apply -f "$T/obj.json"
expect_rc "a GPU UUID without GPU- is refused" 1
k delete gslice s1 >/dev/null

# --- slicer webhook behind deploy/'s MutatingWebhookConfiguration ----------------------------
"$CLUSTER/issue-cert" slicer-webhook --state "$STATE" >/dev/null
"$SLICER" webhook --tls-cert "$STATE/pki/slicer-webhook.crt" --tls-key "$STATE/pki/slicer-webhook.key" \
    --address 127.0.0.1 --port 0 >"$T/webhook.log" 2>&1 &
WH_PID=$!
for _ in $(seq 100); do grep -q 'serving https' "$T/webhook.log" && break; sleep 0.05; done
PORT=$(grep -oE '127\.0\.0\.1:[0-9]+' "$T/webhook.log" | head -1 | cut -d: -f2)
# The configuration exactly as deploy/ ships it, but for the clientConfig.
awk 'BEGIN { RS = "\n---\n" } /(^|\n)kind: MutatingWebhookConfiguration\n/ { print }' "$T/all.yaml" >"$T/mwc.yaml"
k patch --local -f "$T/mwc.yaml" --type=json -o yaml -p "[{\"op\":\"replace\",\"path\":\"/webhooks/0/clientConfig\",\"value\":{\"url\":\"https://127.0.0.1:$PORT/mutate-pods\",\"caBundle\":\"$(base64 -w0 "$CLUSTER_CA_CERT")\"}}]" \
    >"$T/mwc-local.yaml"
kk apply -f "$T/mwc-local.yaml"
expect_rc "deploy/'s MutatingWebhookConfiguration (pointed at 127.0.0.1) is accepted" 0
k create namespace e2e >/dev/null
for _ in $(seq 100); do k get serviceaccount default -n e2e >/dev/null 2>&1 && break; sleep 0.2; done

pod() { # pod NAME LIMITS-JSON [REQUESTS-JSON]: a pod manifest (JSON)
    printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"%s","labels":{"app":"e2e"}},"spec":{"containers":[{"name":"model","image":"registry.invalid/model:1","env":[{"name":"NVIDIA_VISIBLE_DEVICES","value":"all"}],"resources":{"limits":%s%s}}]}}' \
        "$1" "$2" "${3:+,\"requests\":$3}"
}
metric() { curl -s --cacert "$CLUSTER_CA_CERT" "https://127.0.0.1:$PORT/metrics" | grep "^$1" | awk '{print $2}'; }

# Retry the first create: a new webhook configuration takes a moment to be used.
for _ in $(seq 50); do
    pod tiny '{"nvidia.com/mig-1g.5gb":"1","cpu":"100m"}' >"$T/obj.json"
    kk create -n e2e -f "$T/obj.json" -o json
    [[ $rc == 0 ]] && grep -q 'mig.slicer.dev' <<<"$out" && break
    k delete pod -n e2e tiny --now >/dev/null 2>&1
    sleep 0.2
done
expect_rc "a pod asking for nvidia.com/mig-1g.5gb is created" 0
kk get pod -n e2e tiny -o jsonpath='{.spec.containers[0].resources.limits}'
expect_out "...asking for mig.slicer.dev/1g.5gb instead" '"mig.slicer.dev/1g.5gb":"1"'
expect_no "...and no longer for nvidia.com/mig-1g.5gb" 'nvidia.com/mig'
expect_out "...its other limits kept" '"cpu":"100m"'
kk get pod -n e2e tiny -o jsonpath='{.spec.schedulingGates[*].name}'
expect_out "...gated with slicer.dev/gpu-slice" '^slicer.dev/gpu-slice$'
kk get pod -n e2e tiny -o jsonpath='{.metadata.labels.slicer\.dev/managed}/{.metadata.labels.app}'
expect_out "...labelled slicer.dev/managed=true, its own labels kept" '^true/e2e$'
kk get pod -n e2e tiny -o jsonpath='{range .spec.containers[0].env[*]}{.name}={.value}{.valueFrom.fieldRef.fieldPath};{end}'
expect_out "...NVIDIA_VISIBLE_DEVICES from the devices annotation (not 'all')" \
    "NVIDIA_VISIBLE_DEVICES=metadata.annotations\['slicer.dev/devices-0'\];"
expect_out "...CUDA_VISIBLE_DEVICES=0" 'CUDA_VISIBLE_DEVICES=0;'
kk get pod -n e2e tiny -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].reason}'
expect_out "...and held back from the scheduler (SchedulingGated)" '^SchedulingGated$'

pod three '{"nvidia.com/mig-1g.5gb.me":"1","nvidia.com/mig-2g.10gb":"2"}' >"$T/obj.json"
kk create -n e2e -f "$T/obj.json"
expect_rc "a pod asking for 1g.5gb+me (written 1g.5gb.me) and 2 x 2g.10gb is created" 0
kk get pod -n e2e three -o jsonpath='{.spec.containers[0].resources.limits}'
expect_out "...with both renamed" '"mig.slicer.dev/1g.5gb.me":"1".*"mig.slicer.dev/2g.10gb":"2"|"mig.slicer.dev/2g.10gb":"2".*"mig.slicer.dev/1g.5gb.me":"1"'

refused() { # refused WHAT NAME LIMITS [REQUESTS] REGEX
    local what=$1 name=$2 limits=$3 req=$4 re=$5
    pod "$name" "$limits" "$req" >"$T/obj.json"
    kk create -n e2e -f "$T/obj.json"
    expect_rc "$what: refused" 1
    expect_err "$what: kubectl prints the webhook's reason" "$re"
    kk get pod -n e2e "$name"
    expect_rc "$what: no pod was created" 1
}
refused "an unknown profile" bad1 '{"nvidia.com/mig-9g.99gb":"1"}' "" \
    "admission webhook \"pods.slicer.dev\" denied the request: container 'model': unknown MIG profile '9g.99gb'.*this cluster offers: .*1g.5gb"
refused "count 0" bad2 '{"nvidia.com/mig-1g.5gb":"0"}' "" 'must be a whole number from 1 to 64'
refused "a fractional count" bad3 '{"nvidia.com/mig-1g.5gb":"500m"}' "" 'must be a whole number'
refused "requests that differ from limits" bad4 '{"nvidia.com/mig-1g.5gb":"2"}' '{"nvidia.com/mig-1g.5gb":"1"}' \
    'requests and limits of nvidia.com/mig-1g.5gb differ'
refused "asking for mig.slicer.dev/ directly" bad5 '{"mig.slicer.dev/1g.5gb":"1"}' "" \
    'asks for mig.slicer.dev/1g.5gb itself'

before=$(metric 'slicer_webhook_reviews_total{outcome="pass"}')
sent_before=$(( $(metric 'slicer_webhook_reviews_total{outcome="patch"}') + before ))
pod plain '{"cpu":"100m"}' >"$T/obj.json"
kk create -n e2e -f "$T/obj.json"
expect_rc "a pod without MIG is created" 0
kk get pod -n e2e plain -o jsonpath='{.metadata.labels.slicer\.dev/managed}{.spec.schedulingGates}'
expect_out "...untouched" '^$'
sent_after=$(( $(metric 'slicer_webhook_reviews_total{outcome="patch"}') + $(metric 'slicer_webhook_reviews_total{outcome="pass"}') ))
[[ "$sent_after" == "$sent_before" ]] && ok "...without even reaching the webhook (matchConditions)" \
    || fail "...without reaching the webhook" "no new review, got $sent_before -> $sent_after"
pod sys '{"nvidia.com/mig-1g.5gb":"1"}' >"$T/obj.json"
kk create -n kube-system -f "$T/obj.json" -o jsonpath='{.spec.containers[0].resources.limits}'
expect_out "kube-system is excluded (namespaceSelector): its pod is not rewritten" 'nvidia.com/mig-1g.5gb'

# --- the cluster's offer: a GPUNode (as an agent publishes it) narrows what is accepted -----------
k apply -f - >/dev/null <<EOF
apiVersion: slicer.dev/v1alpha1
kind: GPUNode
metadata: {name: h100-node}
spec: {nodeName: h100-node}
EOF
k patch gpunode h100-node --subresource=status --type=merge -p '{"status":{"gpuCount":1,"gpus":[
  {"index":0,"uuid":"GPU-11111111-2222-3333-4444-555555555555","model":"NVIDIA H100 80GB HBM3","migMode":true,
   "profiles":[{"name":"1g.10gb"}]}]}}' >/dev/null
H100="1g.10gb, 1g.10gb+me, 1g.20gb, 2g.20gb, 3g.40gb, 4g.40gb, 7g.80gb"
offered() { grep -qF "the cluster offers 7 MIG profile(s): $H100" "$T/webhook.log"; }
for _ in $(seq 100); do offered && break; sleep 0.1; done
offered && ok "the webhook learns from its GPUNode watch that the cluster offers the H100's 7 profiles" ||
    fail "the webhook learns the offer" "a log line naming the H100's 7 profiles"
refused "1g.5gb when only an H100 is there" bad6 '{"nvidia.com/mig-1g.5gb":"1"}' "" \
    "no GPU in this cluster offers MIG profile '1g.5gb' \(nvidia.com/mig-1g.5gb\); it offers: 1g.10gb, 1g.10gb.me, 1g.20gb, 2g.20gb, 3g.40gb, 4g.40gb, 7g.80gb$"
pod h100pod '{"nvidia.com/mig-3g.40gb":"1"}' >"$T/obj.json"
kk create -n e2e -f "$T/obj.json"
expect_rc "...while 3g.40gb, which it offers, is accepted" 0
n0=$(grep -c 'no GPUNode offers a MIG profile yet' "$T/webhook.log")
k delete gpunode h100-node >/dev/null
back() { [[ $(grep -c 'no GPUNode offers a MIG profile yet' "$T/webhook.log") -gt $n0 ]]; }
for _ in $(seq 100); do back && break; sleep 0.1; done
pod again '{"nvidia.com/mig-1g.5gb":"1"}' >"$T/obj.json"
kk create -n e2e -f "$T/obj.json"
expect_rc "with the GPUNode gone, the whole catalog is accepted again" 0

# --- the webhook down: failurePolicy Fail, but only for MIG pods --------------------------------
kill "$WH_PID"; wait "$WH_PID" 2>/dev/null; WH_PID=
pod down1 '{"nvidia.com/mig-1g.5gb":"1"}' >"$T/obj.json"
kk create -n e2e -f "$T/obj.json"
expect_rc "with the webhook down a MIG pod is refused (failurePolicy Fail)" 1
expect_err "...saying the webhook could not be called" 'failed calling webhook "pods.slicer.dev"'
pod down2 '{"cpu":"50m"}' >"$T/obj.json"
kk create -n e2e -f "$T/obj.json"
expect_rc "...while pods without MIG are still created" 0

summary
