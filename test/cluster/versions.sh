# The pinned versions of the test control plane (sourced by lib.sh). Changing one
# means changing the matching wrapper module too: k8s/go.mod (k8s.io/kubernetes and
# every staging replace at v0.<minor>.<patch>), etcd/go.mod, kwok/go.mod; then
# `go mod tidy` there (never `go get -u`).
# shellcheck shell=bash
K8S_VERSION=v1.37.2
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.8.0
# Bump when test/cluster/build changes how the binaries are built (flags), so the
# cache key changes and the next `up` rebuilds.
BUILD_RECIPE=2 # 2: also kubelet and fakecri (a real kubelet on a CRI served from memory)
