#!/usr/bin/env bash
# The DRA side-by-side benchmark, as `make bench` runs it: scripts/bench-dra.sh BUILD_DIR [--quick]
# One test control plane (test/cluster) with NODES kwok nodes of GPUS emulated
# A100-SXM4-40GB each, one `slicer agent --handoff dra` per node publishing
# ResourceSlices of driver mig.slicer.dev, deploy/'s DeviceClass, and slicer's
# controller (--handoff dra) running throughout. The same fixed-seed churning
# trace (BUILD_DIR/bench_dra) is played twice on those same nodes and slices:
#   kube-scheduler  pods reference a ResourceClaimTemplate per profile (class
#                   mig.slicer.dev, a CEL selector on the profile); the
#                   scheduler's own DRA allocator picks node and device
#   slicer          pods ask nvidia.com/mig-<profile>: 1; the webhook
#                   (--handoff dra) gives them slicer's claim and gate; the
#                   controller's placement engine allocates
# Between the two everything is deleted and the script waits until no claim,
# GPUSlice or MIG instance is left. Prints one table (docs/benchmarks.md, "DRA
# side by side"). NODES x GPUS is 4 x 4 (SLICER_BENCH_DRA_NODES
# and SLICER_BENCH_DRA_GPUS override). Needs the cluster binaries
# (test/cluster/build); without them it says so and exits 0.
set -uo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
dir=$(cd "${1:-build-bench}" && pwd)
shift || true
quick=${1:-}
export SLICER_BENCH_DRA_NODES=${SLICER_BENCH_DRA_NODES:-4}
export SLICER_BENCH_DRA_GPUS=${SLICER_BENCH_DRA_GPUS:-4}
nodes=$SLICER_BENCH_DRA_NODES gpus=$SLICER_BENCH_DRA_GPUS
SLICER=$dir/slicer
export SLICER_EMU_LIBRARY=$dir/emu/libnvidia-ml.so.1

# shellcheck source=../test/cluster/lib.sh
. "$SRC/test/cluster/lib.sh"
if [[ ! -x "$BIN_DIR/kube-apiserver" ]]; then
    echo "dra: skipped (control plane not built: test/cluster/build)"
    exit 0
fi
if [[ ! -x "$dir/bench_dra" ]]; then
    echo "dra: skipped ($dir/bench_dra not built)"
    exit 0
fi
T=$(mktemp -d -t slicer-bench-dra.XXXXXX)
# shellcheck source=../test/lib/check.sh
source "$SRC/test/lib/check.sh"
# shellcheck source=../test/lib/e2e.sh
source "$SRC/test/lib/e2e.sh"
cleanup() { e2e_cleanup; rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

NS=bench-dra
FX=$T/nvidia
"$SRC/test/lib/nvidia-fixture.sh" "$FX" "$gpus" >/dev/null
t0=$SECONDS
e2e_up
# Every pod of either mode has a claim made from a template by kube-controller-manager's
# resourceclaim controller (a create and a pod status write per pod), and kube-scheduler binds
# it: at their client defaults (20 and 50 requests/s) they, not the allocators, would cap this
# trace at about 10 pods/s. Both get room for 25 pods/s, in both modes alike.
for c in kube-controller-manager kube-scheduler; do
    printf ' --kube-api-qps=300 --kube-api-burst=600' >>"$STATE/cmd/$c"
    "$CLUSTER/restart" "$c" --state "$STATE" >>"$T/up.log" 2>&1 ||
        { echo "bench-dra: restarting $c failed" >&2; tail "$T/up.log" >&2; exit 1; }
done
k apply -f "$SRC/deploy/base/deviceclass.yaml" >/dev/null
# The controller runs in both modes: under kube-scheduler's allocation it still writes the
# GPUSlice of every allocated claim, so the agents make the same instances either way.
e2e_controller bench --handoff dra --lease-duration 60 --renew-deadline 40 --retry-period 5 ${SLICER_BENCH_DRA_CONTROLLER_ARGS:-} ||
    { echo "bench-dra: the controller did not start" >&2; exit 1; }
for i in $(seq 0 $((nodes - 1))); do
    e2e_gpu_node "dra-$i" "A100-SXM4-40GB:$gpus" -- --handoff dra --log-level warn \
        --kubelet-dir "$T/kubelet-dra-$i" --cdi-dir "$T/cdi-dra-$i" --driver-root "$FX/driver" \
        --dev-root "$FX/dev" --proc-root "$FX/proc" --cdi-hook none ||
        { echo "bench-dra: adding node dra-$i failed" >&2; tail "$T/nodes.log" >&2; exit 1; }
done
pools() { # every node's pool is published, complete, at one generation
    k get resourceslices -o json | jq -e --argjson n "$nodes" '
        [.items[] | select(.spec.driver == "mig.slicer.dev")] | group_by(.spec.pool.name)
        | length == $n and all(.[]; (map(.spec.pool.generation) | unique | length == 1)
                                    and length == .[0].spec.pool.resourceSliceCount)' >/dev/null
}
if ! wait_for 120 pools; then
    echo "bench-dra: not all $nodes nodes published their ResourceSlices" >&2
    exit 1
fi
k create namespace "$NS" >/dev/null
wait_for 30 k get serviceaccount default -n "$NS" -o name >/dev/null 2>&1
# kube-scheduler's mode: one template per profile, selecting it as dra.sh's claims do.
for p in 1g.5gb 1g.10gb 2g.10gb 3g.20gb 4g.20gb 7g.40gb; do
    cat <<EOF
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: bench-${p//./-}, namespace: $NS}
spec:
  spec:
    devices:
      requests:
        - name: mig
          exactly:
            deviceClassName: mig.slicer.dev
            selectors:
              - cel: {expression: "device.attributes['mig.slicer.dev'].profile == '$p'"}
---
EOF
done | k apply -f - >/dev/null
echo "dra: $nodes nodes x $gpus A100-SXM4-40GB (emulated, DRA ResourceSlices), ready after $((SECONDS - t0)) s"

admin=$T/kubeconfig-admin
cp "$KUBECONFIG" "$admin"
instances() { k get gpunodes -o json | jq '[.items[].status.gpus[]?.instances // [] | .[]] | length'; }
nothing_left() {
    [[ -z "$(k get pods,resourceclaims -n "$NS" -o name)" && -z "$(k get gslice -A -o name)" &&
        "$(instances)" -eq 0 ]]
}
rows=()
mode() { # mode NAME: one run of the trace, then everything deleted
    local out
    out=$(SLICER_BENCH_CLUSTER_KUBECONFIG=$admin "$dir/bench_dra" --mode "$1" ${quick:+"$quick"})
    local rc=$?
    grep -v '^ROW' <<<"$out"
    rows+=("$(grep '^ROW' <<<"$out")")
    k delete pods -n "$NS" -l app=bench-dra --wait=false >/dev/null 2>&1
    if ! wait_for 180 nothing_left; then
        echo "bench-dra: after $1, claims, GPUSlices or instances are left" >&2
        return 1
    fi
    return $rc
}
rc=0
mode scheduler || rc=1
# slicer's mode: the webhook turns nvidia.com/mig-<p> into slicer's claim (and gate).
e2e_webhook --handoff dra || { echo "bench-dra: the webhook did not start" >&2; exit 1; }
mode slicer || rc=1

printf '\nDRA side by side: the same trace, the same %d x %d A100-SXM4-40GB and ResourceSlices\n' \
    "$nodes" "$gpus"
printf '%-15s %11s %7s %11s %7s %7s %11s %11s %12s\n' allocator "admitted" "adm %" "mem slices" \
    "mem %" "large %" "stranded 7g" "stranded 3g" "Running ms"
printf '%-15s %11s %7s %11s %7s %7s %11s %11s %12s\n' "" "/ offered" "" "admitted" "" "" \
    "end / mean" "end / mean" "p50 / p99"
for r in "${rows[@]}"; do
    [[ -n "$r" ]] || continue
    IFS=$'\t' read -r _ name off adm admp mem memp largep s7 s3 s7m s3m p50 p99 <<<"$r"
    printf '%-15s %11s %7s %11s %7s %7s %11s %11s %12s\n' "$name" "$adm / $off" "$admp" "$mem" \
        "$memp" "$largep" "$s7 / $s7m" "$s3 / $s3m" "$p50 / $p99"
done
exit $rc
