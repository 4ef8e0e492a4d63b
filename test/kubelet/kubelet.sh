#!/usr/bin/env bash
# kubelet/grpc: slicer's kubelet DRA plugin (src/kubelet) against the kubelet's
# own Go client packages. Starts test/kubelet/dra_fixture on fresh socket
# folders, runs the Go driver (test/kubelet/client, built by
# test/lib/gobuild.sh) against it, stops the fixture with SIGTERM and checks it
# exits 0 (under ASan that includes the leak check) and removes its sockets.
# Before that, a fixture killed with SIGKILL leaves stale sockets that the next
# one must replace.
#
#   test/kubelet/kubelet.sh FIXTURE_BINARY
#
# Exit: 0 pass, 1 a mismatch or a crash, 77 skipped (no Go toolchain, or the Go
# modules are neither in the cache nor downloadable).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FIXTURE=${1:?usage: kubelet.sh FIXTURE_BINARY}
SLOW_MS=1000

GO_BIN=${GO:-/usr/local/go/bin/go}
if [[ ! -x "$GO_BIN" ]] && ! command -v go >/dev/null 2>&1; then
    echo "kubelet.sh: no Go toolchain, skipping" >&2
    exit 77
fi
buildlog=$(mktemp)
client=$(bash "$ROOT/test/lib/gobuild.sh" "$ROOT/test/kubelet" ./client 2>"$buildlog") || {
    cat "$buildlog" >&2
    # Modules neither in the cache nor downloadable: nothing to test with.
    if grep -qE 'no such host|dial tcp|module lookup disabled|connection refused' "$buildlog"; then
        rm -f "$buildlog"
        echo "kubelet.sh: the Go modules cannot be fetched here, skipping" >&2
        exit 77
    fi
    rm -f "$buildlog"
    echo "kubelet.sh: FAIL: could not build the Go driver" >&2
    exit 1
}
rm -f "$buildlog"

# sun_path holds 108 bytes: keep the folder short.
dir=$(mktemp -d /tmp/slicer-kl.XXXXXX)
pid=
cleanup() {
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
REG="$dir/registry/mig.slicer.dev-reg.sock"
DRA="$dir/plugins/mig.slicer.dev/dra.sock"

fail() {
    echo "kubelet.sh: FAIL: $*" >&2
    for f in "$dir"/fixture*.err; do
        [[ -f "$f" ]] && { echo "---- $f (tail)" >&2; tail -30 "$f" >&2; }
    done
    exit 1
}

# start NAME: runs the fixture in the background, waits for "ready".
start() {
    local name=$1 i
    "$FIXTURE" --registry "$dir/registry" --plugin-dir "$dir/plugins/mig.slicer.dev" \
        --slow-ms "$SLOW_MS" >"$dir/$name.out" 2>"$dir/$name.err" &
    pid=$!
    for ((i = 0; i < 100; i++)); do
        grep -q '^ready$' "$dir/$name.out" 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || fail "$name exited before it was ready"
        sleep 0.1
    done
    grep -q '^ready$' "$dir/$name.out" || fail "$name not ready after 10 s"
    [[ -S "$REG" && -S "$DRA" ]] || fail "$name: sockets missing ($REG, $DRA)"
}

# 1. A fixture killed hard leaves its sockets; the next one replaces them.
start fixture-killed
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
pid=
[[ -S "$REG" && -S "$DRA" ]] || fail "a killed fixture left no stale sockets to test with"

# 2. The real run.
start fixture
echo "kubelet.sh: fixture pid $pid; Go driver $client" >&2
"$client" -reg "$REG" -dra "$DRA" -slow "${SLOW_MS}ms" || fail "the Go driver found a mismatch"

# 3. A clean stop: exit 0 (ASan's leak check included), sockets removed.
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
[[ $rc -eq 0 ]] || fail "the fixture exited $rc after SIGTERM"
if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' "$dir/fixture.err"; then
    fail "sanitizer report in the fixture's log"
fi
[[ ! -e "$REG" && ! -e "$DRA" ]] || fail "sockets left behind after a clean stop"
echo "kubelet.sh: PASS" >&2
