#!/usr/bin/env bash
# The cluster benchmark, as `make bench` runs it: scripts/bench-cluster.sh BUILD_DIR [--quick]
# Brings up the test control plane (test/cluster) with NODES kwok nodes of 8
# emulated A100-SXM4-40GB each, one `slicer agent` per node, the webhook and
# the controller as local processes with deploy/'s flags (test/lib/e2e.sh),
# then runs BUILD_DIR/bench_cluster (pods created -> gate removed -> Running)
# and prints each component's peak RSS. NODES is 100 (10 with --quick;
# SLICER_BENCH_NODES overrides). Needs the cluster binaries (test/cluster/build);
# without them it says so and exits 0.
set -uo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
dir=$(cd "${1:-build-bench}" && pwd)
shift || true
quick=${1:-}
nodes=${SLICER_BENCH_NODES:-$([[ "$quick" == --quick ]] && echo 10 || echo 100)}
SLICER=$dir/slicer
export SLICER_EMU_LIBRARY=$dir/emu/libnvidia-ml.so.1

# shellcheck source=../test/cluster/lib.sh
. "$SRC/test/cluster/lib.sh"
if [[ ! -x "$BIN_DIR/kube-apiserver" ]]; then
    echo "cluster: skipped (control plane not built: test/cluster/build)"
    exit 0
fi
T=$(mktemp -d -t slicer-bench-cluster.XXXXXX)
# shellcheck source=../test/lib/check.sh
source "$SRC/test/lib/check.sh"
# shellcheck source=../test/lib/e2e.sh
source "$SRC/test/lib/e2e.sh"
cleanup() { e2e_cleanup; rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$SECONDS
e2e_up
e2e_webhook || { echo "bench-cluster: the webhook did not start" >&2; exit 1; }
# The Deployment's flags, but a longer Lease: on this 2-core machine the apiserver, starved by
# 100 agents and a 1000-pod burst, answers a renewal in more than the default 10 s, and a
# controller that cannot renew steps down and exits (as client-go's do); here nobody restarts it.
e2e_controller bench --lease-duration 60 --renew-deadline 40 --retry-period 5
for i in $(seq 0 $((nodes - 1))); do
    "$CLUSTER/add-gpu-node" "gpu-$i" --state "$STATE" --gpus 8 --model A100-SXM4-40GB \
        --label slicer.dev/emulated-gpus=true --no-wait >>"$T/nodes.log" 2>&1 ||
        { echo "bench-cluster: adding node gpu-$i failed" >&2; tail "$T/nodes.log" >&2; exit 1; }
    mkdir -p "$T/agent-gpu-$i"
    echo A100-SXM4-40GB:8 >"$T/agent-gpu-$i/gpus"
    e2e_agent "gpu-$i" --log-level warn
done
ready() { [[ "$(k get gpunodes -o json | jq '[.items[] | select(.status.conditions[]? | .type == "Ready" and .status == "True")] | length')" == "$nodes" ]]; }
if ! wait_for 300 ready; then
    echo "bench-cluster: not all $nodes GPUNodes became Ready" >&2
    exit 1
fi
k create namespace bench >/dev/null
wait_for 30 k get serviceaccount default -n bench -o name >/dev/null 2>&1
echo "cluster: $nodes nodes x 8 A100-SXM4-40GB (emulated), ready after $((SECONDS - t0)) s"

admin=$T/kubeconfig-admin
cp "$KUBECONFIG" "$admin"
# The apiserver's own count of the requests it served (apiserver_request_total), before and after
# the pods, by verb and resource: what each pod costs it.
requests() {
    k get --raw /metrics | awk '/^apiserver_request_total\{/ {
        v = r = s = ""
        if (match($0, /verb="[^"]*"/)) v = substr($0, RSTART + 6, RLENGTH - 7)
        if (match($0, /resource="[^"]*"/)) r = substr($0, RSTART + 10, RLENGTH - 11)
        if (match($0, /subresource="[^"]*"/)) s = substr($0, RSTART + 13, RLENGTH - 14)
        n[v " " r (s == "" ? "" : "/" s)] += $NF
    } END { for (x in n) print x, n[x] }'
}
# CPU seconds (user + system) each component used, from /proc/PID/stat.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0; }
cpu() {
    local name pid
    for name in etcd kube-apiserver kube-scheduler kube-controller-manager kwok; do
        pid=$(pid_of "$STATE" "$name") && echo "$name $(cpu_of "$pid")"
    done
    for name in "${!E2E_PID[@]}"; do
        case $name in agent-*) echo "agents $(cpu_of "${E2E_PID[$name]}")" ;;
        controller-*) echo "controller $(cpu_of "${E2E_PID[$name]}")" ;;
        *) echo "$name $(cpu_of "${E2E_PID[$name]}")" ;; esac
    done
}
cpu >"$T/cpu.before"
requests >"$T/requests.before"
SLICER_BENCH_CLUSTER_KUBECONFIG=$admin "$dir/bench_cluster" ${quick:+"$quick"}
rc=$?
requests >"$T/requests.after"
cpu >"$T/cpu.after"
pods=${SLICER_BENCH_PODS:-$([[ "$quick" == --quick ]] && echo 100 || echo 1000)}
printf '\nCPU during the run (user + system; the machine has %s cores)\n%-24s %8s %8s\n' "$(nproc)" \
    component seconds "ms/pod"
awk -v pods="$pods" 'NR == FNR { b[$1] += $2; next } { a[$1] += $2 }
    END { for (x in a) printf "%-24s %8.1f %8.1f\n", x, a[x] - b[x], (a[x] - b[x]) * 1000 / pods }' \
    "$T/cpu.before" "$T/cpu.after" | sort -k2 -rn
printf '\napiserver requests per pod during the run (writes; all %s pods)\n' "$pods"
awk -v pods="$pods" 'NR == FNR { b[$1 " " $2] = $3; next }
    $1 ~ /^(POST|PUT|PATCH|DELETE|APPLY)$/ { d = $3 - b[$1 " " $2]; if (d > 0) { printf "%-8s %-36s %7.2f\n", $1, $2, d / pods; t += d } }
    END { printf "%-45s %7.2f\n", "writes in all", t / pods }' \
    "$T/requests.before" "$T/requests.after" | sort -k3 -rn
awk -v pods="$pods" 'NR == FNR { b[$1 " " $2] = $3; next }
    $1 ~ /^(GET|LIST)$/ { d = $3 - b[$1 " " $2]; if (d > 0) printf "%-8s %-36s %7.2f\n", $1, $2, d / pods; t += d }
    END { printf "%-45s %7.2f\n", "reads (GET, LIST) in all", t / pods }' \
    "$T/requests.before" "$T/requests.after"

rss() { awk '/^VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null; } # peak RSS, KiB
agents=()
for name in "${!E2E_PID[@]}"; do [[ $name == agent-* ]] && agents+=("$(rss "${E2E_PID[$name]}")"); done
max=$(printf '%s\n' "${agents[@]}" | sort -n | tail -1)
avg=$(printf '%s\n' "${agents[@]}" | awk '{s += $1} END {if (NR) printf "%d", s / NR}')
printf '\n%-22s %12s\n' "component" "peak RSS"
mb() { awk -v k="${2:-0}" -v w="$1" 'BEGIN { printf "%-22s %9.1f MB\n", w, k / 1024 }'; }
mb controller "$(rss "${E2E_PID[controller-bench]}")"
mb webhook "$(rss "${E2E_PID[webhook]}")"
mb "agent (max of $nodes)" "$max"
mb "agent (mean)" "$avg"
exit $rc
