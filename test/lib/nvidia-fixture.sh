#!/usr/bin/env bash
# Makes what an NVIDIA GPU node shows a DRA driver, in a folder, for the tests:
#   DIR/driver   a driver root: libcuda/libnvidia-ml/... of version 550.54.15, nvidia-smi
#   DIR/dev      a dev root: /dev/nvidia<0..N-1>, nvidiactl, nvidia-uvm(-tools) and
#                /dev/nvidia-caps/nvidia-cap<M> for every GI minor below and the minor of
#                each GI's CI 0 (the emulator gives a full-size CI the id 0)
#   DIR/proc     a proc root: driver/nvidia-caps/mig-minors listing, for GPU minors
#                0..N-1, GI ids 0..14 and CI ids 0..7, each its own capability minor
# (real character device nodes, so it needs root: mknod).
#   test/lib/nvidia-fixture.sh DIR N
set -euo pipefail
dir=${1:?usage: nvidia-fixture.sh DIR NGPUS}
n=${2:?usage: nvidia-fixture.sh DIR NGPUS}
V=550.54.15
lib=$dir/driver/usr/lib/x86_64-linux-gnu
mkdir -p "$lib" "$dir/driver/usr/bin" "$dir/dev/dev/nvidia-caps" "$dir/proc/driver/nvidia-caps"
for l in libcuda libnvidia-ml libnvidia-ptxjitcompiler libnvidia-nvvm; do
    echo "$l" >"$lib/$l.so.$V"
    ln -sf "$l.so.$V" "$lib/$l.so.1"
done
printf '#!/bin/sh\n' >"$dir/driver/usr/bin/nvidia-smi"
chmod 755 "$dir/driver/usr/bin/nvidia-smi"
d=$dir/dev/dev
mknod "$d/nvidiactl" c 195 255
mknod "$d/nvidia-uvm" c 510 0
mknod "$d/nvidia-uvm-tools" c 510 1
minors=$dir/proc/driver/nvidia-caps/mig-minors
{ echo "config 1"; echo "monitor 2"; } >"$minors"
m=3
for ((g = 0; g < n; g++)); do
    mknod "$d/nvidia$g" c 195 "$g"
    for ((gi = 0; gi < 15; gi++)); do
        echo "gpu$g/gi$gi/access $m" >>"$minors"
        mknod "$d/nvidia-caps/nvidia-cap$m" c 237 "$m"
        m=$((m + 1))
        for ((ci = 0; ci < 8; ci++)); do
            echo "gpu$g/gi$gi/ci$ci/access $m" >>"$minors"
            [[ $ci -gt 0 ]] || mknod "$d/nvidia-caps/nvidia-cap$m" c 237 "$m"
            m=$((m + 1))
        done
    done
done
