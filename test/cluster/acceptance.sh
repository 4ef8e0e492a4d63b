#!/usr/bin/env bash
# Acceptance test of the test control plane (ctest: cluster/acceptance).
# Starts a cluster with test/cluster/up, adds fake GPU nodes, registers a
# mutating webhook on 127.0.0.1, applies a 3-replica Deployment with kubectl and
# checks: the real scheduler put 3 pods on kwok nodes, kwok made them Running,
# the webhook's mutation is on every pod, deleting the Deployment removes the
# pods (garbage collector), a Job's pod Succeeds, --dry-run=server creates
# nothing, and a second cluster runs beside the first. Cleans up on any exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/slicer-cluster-test.XXXXXX")
STATE="$WORK/state"
STATE2="$WORK/state2"
passed=0 failed=0

cleanup() {
    local rc=$?
    "$HERE/down" --state "$STATE2" >/dev/null 2>&1 || true
    if [[ $rc -ne 0 && -d "$STATE/logs" ]]; then
        echo "---- component logs (last lines) ----"
        for f in "$STATE"/logs/*.log; do
            echo "== $f"
            tail -15 "$f"
        done
    fi
    "$HERE/down" --state "$STATE" >/dev/null 2>&1 || true
    rm -rf "$WORK" "$STATE.failed-logs" "$STATE2.failed-logs"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() {
    passed=$((passed + 1))
    echo "ok - $*"
}
fail() {
    failed=$((failed + 1))
    echo "FAIL - $*"
    echo "$passed passed, $failed failed"
    exit 1
}
# until_true SECONDS DESCRIPTION CMD...: poll CMD every 0.5 s, fail after SECONDS.
until_true() {
    local secs=$1 what=$2 end
    shift 2
    end=$(($(date +%s) + secs))
    until "$@" >/dev/null 2>&1; do
        [[ $(date +%s) -lt $end ]] || fail "$what (not within ${secs}s)"
        sleep 0.5
    done
}

# ---- up -------------------------------------------------------------------------
t0=$(date +%s.%N)
"$HERE/up" --state "$STATE" || fail "test/cluster/up exited with $?"
t1=$(date +%s.%N)
ok "cluster up in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')s"
. "$STATE/cluster.env"
export KUBECONFIG
k() { "$KUBECTL" "$@"; }

ver=$(k version -o json | jq -r .serverVersion.gitVersion)
[[ "$ver" == "$K8S_VERSION" ]] || fail "server reports version '$ver', want $K8S_VERSION"
ok "kube-apiserver reports $ver"
cver=$(k version -o json | jq -r .clientVersion.gitVersion)
[[ "$cver" == "$K8S_VERSION" ]] || fail "kubectl reports version '$cver', want $K8S_VERSION"
ok "kubectl reports $cver"

# The machine's own kubectl (v1.32 here, outside the supported skew) for the basics.
if [[ -x /usr/bin/kubectl ]]; then
    /usr/bin/kubectl get namespaces default -o name >/dev/null 2>&1 || fail "/usr/bin/kubectl get namespaces failed"
    ok "/usr/bin/kubectl ($(/usr/bin/kubectl version --client -o json 2>/dev/null | jq -r .clientVersion.gitVersion)) works against it too"
fi

# ---- fake GPU nodes -------------------------------------------------------------
"$HERE/add-gpu-node" gpu-node-0 --state "$STATE" --gpus 8 --model A100-SXM4-40GB || fail "add-gpu-node gpu-node-0"
"$HERE/add-gpu-node" gpu-node-1 --state "$STATE" --gpus 4 --model H100-80GB-HBM3 || fail "add-gpu-node gpu-node-1"
[[ "$(k get nodes -l slicer.dev/mig-capable=true -o name | wc -l)" -eq 2 ]] || fail "2 MIG-capable nodes expected"
lbl=$(k get node gpu-node-1 -o jsonpath='{.metadata.labels.slicer\.dev/gpu-model} {.metadata.labels.slicer\.dev/gpu-count} {.metadata.annotations.kwok\.x-k8s\.io/node}')
[[ "$lbl" == "H100-80GB-HBM3 4 fake" ]] || fail "gpu-node-1 labels/annotation: '$lbl'"
ok "two kwok GPU nodes Ready with their labels ($lbl)"
"$HERE/add-gpu-node" gpu-node-0 --state "$STATE" >/dev/null 2>&1 && fail "adding an existing node must fail"
rc=0
"$HERE/add-gpu-node" gpu-node-9 --state "$STATE" --model NoSuchGPU >/dev/null 2>&1 || rc=$?
[[ $rc -eq 2 ]] || fail "an unknown model must be a usage error (exit 2)"
ok "add-gpu-node rejects a duplicate node and an unknown model"

# ---- the test webhook -----------------------------------------------------------
"$HERE/issue-cert" testwebhook --state "$STATE" >/dev/null || fail "issue-cert testwebhook"
nohup "$CLUSTER_BIN_DIR/testwebhook" --tls-cert "$STATE/pki/testwebhook.crt" --tls-key "$STATE/pki/testwebhook.key" \
    --port-file "$STATE/testwebhook.port" --call-log "$STATE/testwebhook.calls" \
    >"$STATE/logs/testwebhook.log" 2>&1 </dev/null &
echo $! >"$STATE/pids/testwebhook.pid" # so `down` stops it too
until_true 20 "test webhook listening" test -s "$STATE/testwebhook.port"
WH_PORT=$(<"$STATE/testwebhook.port")
until_true 20 "test webhook healthy" curl -fsS --cacert "$CLUSTER_CA_CERT" "https://127.0.0.1:$WH_PORT/healthz"
ok "test webhook serving on 127.0.0.1:$WH_PORT"

k apply -f - >/dev/null <<EOF || fail "apply MutatingWebhookConfiguration"
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: slicer-acceptance
webhooks:
- name: pods.acceptance.slicer.dev
  clientConfig:
    url: https://127.0.0.1:$WH_PORT/mutate
    caBundle: $(base64 -w0 "$CLUSTER_CA_CERT")
  rules:
  - apiGroups: [""]
    apiVersions: ["v1"]
    operations: ["CREATE"]
    resources: ["pods"]
  namespaceSelector:
    matchLabels:
      slicer.dev/acceptance: "true"
  failurePolicy: Fail
  sideEffects: None
  admissionReviewVersions: ["v1"]
  timeoutSeconds: 5
EOF
k apply -f - >/dev/null <<EOF || fail "apply namespace"
apiVersion: v1
kind: Namespace
metadata:
  name: accept
  labels:
    slicer.dev/acceptance: "true"
EOF
until_true 60 "default service account in namespace accept" k get serviceaccount default -n accept
ok "webhook configuration and namespace applied"

# ---- a Deployment -----------------------------------------------------------------
deploy() {
    cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: accept
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: registry.invalid/slicer/pause:1
        resources:
          requests: {cpu: 100m, memory: 64Mi}
EOF
}
deploy | k apply --dry-run=server -f - >/dev/null || fail "kubectl apply --dry-run=server"
k get deployment web -n accept >/dev/null 2>&1 && fail "--dry-run=server created the Deployment"
ok "kubectl apply --dry-run=server validates and creates nothing"

deploy | k apply -f - >/dev/null || fail "kubectl apply Deployment"
k wait --for=condition=Available deployment/web -n accept --timeout=90s >/dev/null ||
    fail "Deployment web not Available in 90s: $(k get pods -n accept -o wide 2>&1)"
pods=$(k get pods -n accept -l app=web -o json)
n=$(jq '.items | length' <<<"$pods")
[[ "$n" -eq 3 ]] || fail "3 pods expected, got $n"
running=$(jq '[.items[] | select(.status.phase == "Running")] | length' <<<"$pods")
[[ "$running" -eq 3 ]] || fail "3 Running pods expected, got $running"
bad=$(jq -r '[.items[] | select(.spec.nodeName != "gpu-node-0" and .spec.nodeName != "gpu-node-1") | .metadata.name] | join(" ")' <<<"$pods")
[[ -z "$bad" ]] || fail "pods not on a kwok node: $bad"
sched=$(k get events -n accept -o json | jq '[.items[] | select(.reason == "Scheduled" and ((.reportingComponent // .source.component) == "default-scheduler"))] | length')
[[ "$sched" -ge 3 ]] || fail "expected 3 Scheduled events from default-scheduler, got $sched"
ok "3 pods scheduled by default-scheduler onto kwok nodes ($(jq -r '[.items[].spec.nodeName] | join(",")' <<<"$pods")) and Running"

mut=$(jq '[.items[] | select(.metadata.labels["slicer.dev/webhook-seen"] == "true" and (.metadata.annotations["slicer.dev/webhook-uid"] // "") != "")] | length' <<<"$pods")
[[ "$mut" -eq 3 ]] || fail "webhook mutation on $mut of 3 pods"
calls=$(grep -c '^CREATE Pod accept/' "$STATE/testwebhook.calls" || true)
[[ "$calls" -ge 3 ]] || fail "webhook saw $calls pod creations, want >= 3"
uid_ok=0
for uid in $(jq -r '.items[].metadata.annotations["slicer.dev/webhook-uid"]' <<<"$pods"); do
    grep -q "uid=$uid\$" "$STATE/testwebhook.calls" && uid_ok=$((uid_ok + 1))
done
[[ "$uid_ok" -eq 3 ]] || fail "webhook call log matches $uid_ok of 3 pods' request uids"
ok "mutating webhook called for each pod creation ($calls calls) and its label/annotation are on the pods"

# ---- garbage collection -------------------------------------------------------------
k delete deployment web -n accept --wait=true --timeout=60s >/dev/null || fail "delete Deployment"
no_pods() { [[ -z "$(k get pods -n accept -l app=web -o name)" && -z "$(k get replicasets -n accept -l app=web -o name)" ]]; }
until_true 90 "pods and ReplicaSet of the deleted Deployment gone" no_pods
ok "deleting the Deployment removed its ReplicaSet and pods (garbage collector, kwok pod-delete)"

# ---- pods that succeed --------------------------------------------------------------------
k apply -f - >/dev/null <<EOF || fail "apply Job"
apiVersion: batch/v1
kind: Job
metadata:
  name: once
  namespace: accept
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: registry.invalid/slicer/job:1
EOF
k wait --for=condition=Complete job/once -n accept --timeout=90s >/dev/null ||
    fail "Job not Complete in 90s: $(k get pods -n accept -o wide 2>&1)"
ok "a Job's pod Succeeded (kwok pod-complete stage) and the Job controller completed the Job"
k apply -f - >/dev/null <<EOF || fail "apply pod with fake-succeed-after"
apiVersion: v1
kind: Pod
metadata:
  name: short
  namespace: accept
  annotations:
    slicer.dev/fake-succeed-after: "1s"
spec:
  containers:
  - name: c
    image: registry.invalid/slicer/short:1
EOF
k wait --for=jsonpath='{.status.phase}'=Succeeded pod/short -n accept --timeout=60s >/dev/null ||
    fail "pod with slicer.dev/fake-succeed-after did not Succeed"
ok "a pod annotated slicer.dev/fake-succeed-after=1s Succeeded"

# ---- restarts ------------------------------------------------------------------------
"$HERE/restart" kube-apiserver --state "$STATE" >/dev/null 2>&1 || fail "restart kube-apiserver"
"$HERE/restart" etcd --kill --state "$STATE" >/dev/null 2>&1 || fail "restart etcd after SIGKILL"
k get namespace accept >/dev/null || fail "namespace accept lost across the restarts"
k run after-restart -n accept --image=registry.invalid/slicer/after:1 --restart=Never >/dev/null ||
    fail "creating a pod after the restarts"
k wait --for=jsonpath='{.status.phase}'=Running pod/after-restart -n accept --timeout=60s >/dev/null ||
    fail "pod created after the restarts not Running: $(k get pod after-restart -n accept -o wide 2>&1)"
seen=$(k get pod after-restart -n accept -o jsonpath='{.metadata.labels.slicer\.dev/webhook-seen}')
[[ "$seen" == "true" ]] || fail "webhook mutation missing on the pod created after the restarts"
ok "kube-apiserver (SIGTERM) and etcd (SIGKILL) restarted by test/cluster/restart; data kept, new pod scheduled, mutated, Running"

# ---- RSS of the control plane --------------------------------------------------------------
total=0 line=""
for c in "${COMPONENTS[@]}"; do
    pid=$(pid_of "$STATE" "$c") || fail "$c is not running"
    rss=$(awk '/^VmRSS:/ {print int($2 / 1024)}' "/proc/$pid/status")
    total=$((total + rss))
    line+="$c=${rss}MiB "
done
ok "all components running; RSS: ${line}total=${total}MiB"

# ---- a second cluster beside the first ---------------------------------------------------
"$HERE/up" --state "$STATE2" >/dev/null 2>&1 || fail "a second cluster (other --state) did not start"
u2=$(grep '^APISERVER_URL=' "$STATE2/cluster.env" | cut -d= -f2)
[[ "$u2" != "$APISERVER_URL" ]] || fail "the two clusters share the API server address"
"$KUBECTL" --kubeconfig "$STATE2/kubeconfig" get namespace accept >/dev/null 2>&1 &&
    fail "the second cluster sees the first one's namespace"
"$KUBECTL" --kubeconfig "$STATE2/kubeconfig" get namespace default >/dev/null || fail "the second cluster does not answer"
rc=0
"$HERE/up" --state "$STATE2" >/dev/null 2>&1 || rc=$?
[[ $rc -eq 4 ]] || fail "up on a running cluster's state must exit 4"
"$HERE/down" --state "$STATE2" >/dev/null || fail "down of the second cluster"
[[ ! -e "$STATE2" ]] || fail "down left $STATE2 behind"
ok "a second cluster ran beside the first on other ports ($u2) and stopped cleanly"

# ---- down -------------------------------------------------------------------------------------
pids=()
for f in "$STATE"/pids/*.pid; do pids+=("$(<"$f")"); done
"$HERE/down" --state "$STATE" || fail "test/cluster/down exited with $?"
for p in "${pids[@]}"; do
    kill -0 "$p" 2>/dev/null && fail "pid $p still running after down"
done
[[ ! -e "$STATE" ]] || fail "down left $STATE behind"
ok "down stopped all ${#pids[@]} processes and removed the state"

echo "$passed passed, $failed failed"
