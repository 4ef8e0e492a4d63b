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
SLICER_BENCH_CLUSTER_KUBECONFIG=$admin "$dir/bench_cluster" ${quick:+"$quick"}
rc=$?

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
