#!/usr/bin/env bash
# Builds a Go test driver (a module under test/, e.g. test/cdi) into the cache
# beside the test control plane's, keyed by a hash of the module's files and
# the Go version, and prints the binary's path. Only the first build pays; the
# module cache and build cache are shared with test/cluster/build, so a module
# that needs k8s.io packages reuses what the control plane's build fetched.
#
#   test/lib/gobuild.sh DIR [PACKAGE]   -> prints the path of the built binary
#
# Exit codes: 0 built (or cached), 2 usage, 3 the build failed (log on stderr).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/test/cluster/lib.sh"

[[ $# -ge 1 && $# -le 2 ]] || { echo "usage: gobuild.sh DIR [PACKAGE]" >&2; exit 2; }
dir=$(cd "$1" && pwd)
pkg=${2:-.}
name=$(basename "$dir")
[[ "$pkg" == "." ]] || name="$name-$(basename "$pkg")"
hash=$( (cd "$dir" && find . -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) \
    -print0 | sort -z | xargs -0 cat; "$GO_BIN" env GOVERSION; echo "$pkg") | sha256sum | cut -c1-12)
out="$SLICER_CACHE/gotest/$name-$hash"
if [[ ! -x "$out/$name" ]]; then
    export GOMODCACHE="$GO_CACHE_ROOT/mod" GOCACHE="$GO_CACHE_ROOT/build"
    export GOFLAGS="-modcacherw -mod=readonly -buildvcs=false" GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off
    mkdir -p "$SLICER_CACHE/gotest"
    tmp=$(mktemp -d "$SLICER_CACHE/gotest/.build.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    if ! (cd "$dir" && "$GO_BIN" build -trimpath -ldflags "-s -w" -o "$tmp/$name" "$pkg") >"$tmp/log" 2>&1; then
        tail -40 "$tmp/log" >&2
        echo "gobuild: go build of $dir failed" >&2
        exit 3
    fi
    rm -rf "$out"
    mkdir -p "$out"
    mv "$tmp/$name" "$out/$name"
fi
echo "$out/$name"
