#!/usr/bin/env bash
# CDI specs from the cdi module, checked by the CDI project's own Go library
# (test/cdi/main.go over tags.cncf.io/container-device-interface, the code
# containerd and CRI-O use): a fixture driver root, dev root (real character
# device nodes, made with mknod) and proc/driver/nvidia-caps/mig-minors in a
# temp folder; specs for two MIG slices on two GPUs, one spec file each; the
# library loads them without error, and injecting slice A gives the container
# exactly GPU 0's node and A's two capability nodes (none of B's), the control
# nodes, the driver's libraries, binary, firmware, socket, hooks and env.
# Then A's spec is removed and A no longer resolves while B still does.
#
#   test/cdi/cdi.sh PATH/TO/cdi_gen
# Exit: 0 pass, 1 fail, 77 skipped (no Go toolchain to build the checker).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GEN=${1:?usage: cdi.sh PATH/TO/cdi_gen}
GO_BIN=${GO:-/usr/local/go/bin/go}
if [[ ! -x "$GO_BIN" ]] && ! command -v go >/dev/null 2>&1; then
    echo "cdi.sh: no Go toolchain: skipped" >&2
    exit 77
fi
command -v jq >/dev/null || { echo "cdi.sh: jq is required" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || { echo "cdi.sh: needs root (mknod of the fixture device nodes)" >&2; exit 1; }
CHECK=$("$ROOT/test/lib/gobuild.sh" "$ROOT/test/cdi")

tmp=$(mktemp -d -t slicer-cdi.XXXXXX)
trap '[[ -n ${KEEP:-} ]] || rm -rf "$tmp"' EXIT
fails=0
check() { # DESCRIPTION JQ-FILTER FILE: the filter must print true
    if [[ $(jq -r "$2" "$3") == true ]]; then
        echo "ok   $1"
    else
        echo "FAIL $1 ($2)"
        fails=$((fails + 1))
    fi
}

# ---- fixture: driver root (merged /usr: lib -> usr/lib) --------------------------
V=550.54.15
drv=$tmp/driver
lib=$drv/usr/lib/x86_64-linux-gnu
mkdir -p "$lib/vdpau" "$drv/usr/bin" "$drv/usr/lib/firmware/nvidia/$V" "$drv/run/nvidia-persistenced"
ln -s usr/lib "$drv/lib"
[[ -d $drv/lib/x86_64-linux-gnu ]] || { echo "cdi.sh: fixture: lib -> usr/lib not made"; exit 1; }
for l in libcuda libnvidia-ml libnvidia-ptxjitcompiler libnvidia-nvvm; do
    echo "$l" >"$lib/$l.so.$V"
    ln -s "$l.so.$V" "$lib/$l.so.1"
done
ln -s libcuda.so.1 "$lib/libcuda.so"
echo vdpau >"$lib/vdpau/libvdpau_nvidia.so.$V"
echo other >"$lib/libfoo.so.1.2.3"
echo old >"$lib/libcuda.so.470.1.2" # a stale older driver: not chosen, not mounted
printf '#!/bin/sh\n' >"$drv/usr/bin/nvidia-smi"
chmod 755 "$drv/usr/bin/nvidia-smi"
echo fw >"$drv/lib/firmware/nvidia/$V/gsp_ga10x.bin"
sock=0
if command -v python3 >/dev/null 2>&1 &&
    python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
        "$drv/run/nvidia-persistenced/socket" 2>/dev/null; then
    sock=1
fi

# ---- fixture: dev root and mig-minors (GPU minors 0 and 1) -----------------------
dev=$tmp/devroot
mkdir -p "$dev/dev/nvidia-caps"
mknod "$dev/dev/nvidia0" c 195 0
mknod "$dev/dev/nvidia1" c 195 1
mknod "$dev/dev/nvidiactl" c 195 255
mknod "$dev/dev/nvidia-uvm" c 510 0
mknod "$dev/dev/nvidia-uvm-tools" c 510 1
for m in 21 22 57 58; do mknod "$dev/dev/nvidia-caps/nvidia-cap$m" c 237 "$m"; done
proc=$tmp/proc
mkdir -p "$proc/driver/nvidia-caps"
cat >"$proc/driver/nvidia-caps/mig-minors" <<'MINORS'
config 1
monitor 2
gpu0/gi1/access 21
gpu0/gi1/ci0/access 22
gpu0/gi2/access 30
gpu1/gi2/access 57
gpu1/gi2/ci0/access 58
MINORS
specs=$tmp/cdi
mkdir -p "$specs"
gen() { "$GEN" --driver-root "$drv" --dev-root "$dev" --proc-root "$proc" --dir "$specs" "$@"; }

# ---- specs for slice A (GPU 0, GI 1, CI 0) and slice B (GPU 1, GI 2, CI 0) --------
qa=$(gen --base claim-a mig-a:0:1:0)
qb=$(gen --base claim-b mig-b:1:2:0)
[[ $qa == mig.slicer.dev/mig=mig-a && $qb == mig.slicer.dev/mig=mig-b ]] ||
    { echo "FAIL qualified names: '$qa' '$qb'"; exit 1; }
check "spec A declares cdiVersion 0.5.0 and kind mig.slicer.dev/mig" \
    '.cdiVersion == "0.5.0" and .kind == "mig.slicer.dev/mig"' "$specs/claim-a.json"
[[ $(stat -c %a "$specs/claim-a.json") == 644 ]] && echo "ok   spec file mode 0644" ||
    { echo "FAIL spec file mode $(stat -c %a "$specs/claim-a.json")"; fails=$((fails + 1)); }

"$CHECK" "$specs" "$qa" >"$tmp/a.json"
"$CHECK" "$specs" "$qb" >"$tmp/b.json"
a=$tmp/a.json
check "the library lists both devices" \
    '.devices == ["mig.slicer.dev/mig=mig-a", "mig.slicer.dev/mig=mig-b"]' "$a"
check "A gets exactly GPU 0, its GI/CI caps, ctl and uvm nodes" \
    '[.deviceNodes[].path] | sort == ["/dev/nvidia-caps/nvidia-cap21", "/dev/nvidia-caps/nvidia-cap22",
      "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia0", "/dev/nvidiactl"]' "$a"
check "A's nodes carry the host's major:minor" \
    '[.deviceNodes[] | "\(.path) \(.type) \(.major):\(.minor)"] | sort ==
      ["/dev/nvidia-caps/nvidia-cap21 c 237:21", "/dev/nvidia-caps/nvidia-cap22 c 237:22",
       "/dev/nvidia-uvm c 510:0", "/dev/nvidia-uvm-tools c 510:1", "/dev/nvidia0 c 195:0",
       "/dev/nvidiactl c 195:255"]' "$a"
check "A's cgroup allows exactly its nodes" \
    '.cgroupAllow | sort == ["c 195:0 rwm allow=true", "c 195:255 rwm allow=true",
      "c 237:21 rwm allow=true", "c 237:22 rwm allow=true", "c 510:0 rwm allow=true",
      "c 510:1 rwm allow=true"]' "$a"
check "A gets nothing of GPU 1 (nvidia1, cap57, cap58)" \
    '[.deviceNodes[].path | select(test("nvidia1$|cap5[78]$"))] == []' "$a"
check "A mounts the driver libraries of version $V read-only, from the driver root" \
    "[.mounts[] | select(.destination | test(\"\\\\.so\\\\.\")) | .destination] | sort ==
      [\"/usr/lib/x86_64-linux-gnu/libcuda.so.$V\", \"/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.$V\",
       \"/usr/lib/x86_64-linux-gnu/libnvidia-nvvm.so.$V\",
       \"/usr/lib/x86_64-linux-gnu/libnvidia-ptxjitcompiler.so.$V\",
       \"/usr/lib/x86_64-linux-gnu/vdpau/libvdpau_nvidia.so.$V\"]" "$a"
check "library mounts come from the driver root and are ro,nosuid,nodev,rbind,rprivate" \
    "[.mounts[] | select(.destination | test(\"libcuda\"))][0] |
      .source == \"$lib/libcuda.so.$V\" and .options == [\"ro\",\"nosuid\",\"nodev\",\"rbind\",\"rprivate\"]" "$a"
check "A mounts nvidia-smi and the GSP firmware" \
    "[.mounts[].destination] | contains([\"/usr/bin/nvidia-smi\", \"/lib/firmware/nvidia/$V/gsp_ga10x.bin\"])" "$a"
if [[ $sock -eq 1 ]]; then
    check "A mounts the persistenced socket noexec" \
        '[.mounts[] | select(.destination == "/run/nvidia-persistenced/socket") | .options] ==
          [["nosuid","nodev","rbind","rprivate","noexec"]]' "$a"
fi
check "env NVIDIA_VISIBLE_DEVICES=void and the libcuda folder" \
    '.env | contains(["NVIDIA_VISIBLE_DEVICES=void", "NVIDIA_CTK_LIBCUDA_DIR=/usr/lib/x86_64-linux-gnu"])' "$a"
check "hooks: nvidia-cdi-hook create-symlinks, enable-cuda-compat, update-ldcache, disable-device-node-modification" \
    '[.hooks[] | select(.stage == "createContainer" and .path == "/usr/bin/nvidia-cdi-hook") | .args[1]] ==
      ["create-symlinks", "enable-cuda-compat", "update-ldcache", "disable-device-node-modification"]' "$a"
check "create-symlinks recreates libcuda.so and the host's SONAME links" \
    '[.hooks[] | select(.args[1] == "create-symlinks") | .args[2:][]] | contains([
      "libcuda.so.1::/usr/lib/x86_64-linux-gnu/libcuda.so",
      "libcuda.so.'"$V"'::/usr/lib/x86_64-linux-gnu/libcuda.so.1",
      "libnvidia-ml.so.'"$V"'::/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1"])' "$a"
check "update-ldcache names the library folders" \
    '[.hooks[] | select(.args[1] == "update-ldcache") | .args[2:]] ==
      [["--folder", "/usr/lib/x86_64-linux-gnu", "--folder", "/usr/lib/x86_64-linux-gnu/vdpau"]]' "$a"
check "enable-cuda-compat knows the host driver version" \
    '[.hooks[] | select(.args[1] == "enable-cuda-compat") | .args[2]] == ["--host-driver-version='"$V"'"]' "$a"
check "no stale or foreign library is mounted" \
    '[.mounts[].destination | select(test("libfoo|470"))] == []' "$a"
check "B gets GPU 1 and caps 57/58, nothing of A" \
    '[.deviceNodes[].path | select(test("nvidia[0-9]+$|cap[0-9]+$"))] | sort ==
      ["/dev/nvidia-caps/nvidia-cap57", "/dev/nvidia-caps/nvidia-cap58", "/dev/nvidia1"]' "$tmp/b.json"

# ---- the checker is strict: it refuses what a runtime would refuse ------------------
neg() { # DESCRIPTION JQ-EDIT EXPECTED-MESSAGE
    rm -rf "$tmp/neg" && mkdir "$tmp/neg"
    jq "$2" "$specs/claim-b.json" >"$tmp/neg/claim-b.json"
    if "$CHECK" "$tmp/neg" "$qb" >/dev/null 2>"$tmp/err"; then
        echo "FAIL the checker accepted $1"; fails=$((fails + 1))
    elif grep -q "$3" "$tmp/err"; then
        echo "ok   the checker refuses $1"
    else
        echo "FAIL the checker refused $1 for another reason: $(cat "$tmp/err")"; fails=$((fails + 1))
    fi
}
neg "a version too old for hostPath (0.4.0)" '.cdiVersion = "0.4.0"' 'at least v0.5.0'
neg "an unknown field" '.devices[0].containerEdits.bogus = 1' 'bogus'
neg "a missing host device node" '.devices[0].containerEdits.deviceNodes[0].hostPath += "x"' 'nvidia1x'

# ---- errors are clear and write nothing ----------------------------------------------
if gen --base bad mig-x:0:9:0 2>"$tmp/err"; then
    echo "FAIL a GI without a mig-minors line was accepted"; fails=$((fails + 1))
elif grep -q 'gpu0/gi9/access' "$tmp/err" && [[ ! -e $specs/bad.json ]]; then
    echo "ok   a GI without a mig-minors line: $(cat "$tmp/err")"
else
    echo "FAIL unclear error: $(cat "$tmp/err")"; fails=$((fails + 1))
fi
if gen --base bad mig-x:0:2:0 2>"$tmp/err"; then
    echo "FAIL a CI without a mig-minors line was accepted"; fails=$((fails + 1))
elif grep -q 'gpu0/gi2/ci0/access' "$tmp/err"; then
    echo "ok   a CI without a mig-minors line: $(cat "$tmp/err")"
else
    echo "FAIL unclear error: $(cat "$tmp/err")"; fails=$((fails + 1))
fi

# ---- removal ----------------------------------------------------------------------
"$GEN" --dir "$specs" --base claim-a --remove
[[ ! -e $specs/claim-a.json ]] && echo "ok   spec A removed" ||
    { echo "FAIL spec A still there"; fails=$((fails + 1)); }
"$GEN" --dir "$specs" --base claim-a --remove && echo "ok   removing it again succeeds"
if "$CHECK" "$specs" "$qa" >/dev/null 2>"$tmp/err"; then
    echo "FAIL A still resolves after its spec was removed"; fails=$((fails + 1))
else
    echo "ok   A no longer resolves: $(cat "$tmp/err")"
fi
"$CHECK" "$specs" "$qb" >/dev/null && echo "ok   B still resolves"
left=$(find "$specs" -name '.*' -type f | wc -l)
[[ $left -eq 0 ]] && echo "ok   no temp files left" || { echo "FAIL $left temp files left"; fails=$((fails + 1)); }

[[ $fails -eq 0 ]] || { echo "cdi.sh: $fails check(s) failed"; exit 1; }
echo "cdi.sh: all checks passed"
