#!/usr/bin/env bash
# Runs the kube integration tests (kube_it) against a real control plane.
#   test/kube/run-it.sh KUBE_IT_BINARY [criterion args...]
# With SLICER_KUBE_IT_STATE set to the state folder of a running
# test/cluster, uses that cluster (its apiserver gets restarted by a test).
# Otherwise starts its own cluster in a fresh state folder and stops it on
# exit. Exits 77 (ctest: skipped) ONLY when the control plane cannot be
# built; any other start-up failure fails the test.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:?usage: run-it.sh KUBE_IT_BINARY}
shift
state=${SLICER_KUBE_IT_STATE:-}
if [[ -z "$state" ]]; then
    state=$(mktemp -d -t slicer-kube-it.XXXXXX)
    rmdir "$state"
    log=$state.up.log
    cleanup() {
        "$root/test/cluster/down" --state "$state" >/dev/null 2>&1 || echo "kube-it: stopping the cluster in $state failed" >&2
        rm -f "$log"
    }
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    echo "kube-it: starting a control plane in $state"
    "$root/test/cluster/up" --state "$state" >"$log" 2>&1
    rc=$?
    if [[ $rc -eq 3 ]]; then
        tail -20 "$log" >&2
        echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
        echo "!! kube-it: SKIPPED: the control plane cannot be built (test/cluster/build" >&2
        echo "!! failed, see above). The kube integration tests did NOT run." >&2
        echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
        exit 77
    elif [[ $rc -ne 0 ]]; then
        tail -40 "$log" >&2
        echo "kube-it: test/cluster/up failed (exit $rc)" >&2
        exit 1
    fi
fi
[[ -f "$state/cluster.env" ]] || { echo "kube-it: $state/cluster.env missing" >&2; exit 1; }
set -a
# shellcheck disable=SC1091
. "$state/cluster.env"
set +a
"$bin" --jobs 1 "$@"
