#!/usr/bin/env bash
# Installs the Debian packages slicer needs to build and test, if any is
# missing. Idempotent and silent when everything is present.
set -euo pipefail

PACKAGES=(
    gcc make cmake ninja-build pkg-config git
    libjansson-dev libcriterion-dev libcurl4-openssl-dev libyaml-dev
    libmicrohttpd-dev libgnutls28-dev
    libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler
    clang clang-format valgrind socat curl openssl libclang-rt-14-dev
    jq iproute2
)

missing=()
for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "deps: need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists when they are missing or older than a day.
if [[ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -1)" ]]; then
    $SUDO apt-get update -qq >/dev/null
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done" >&2
