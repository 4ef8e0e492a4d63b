#!/usr/bin/env bash
# `make demo`: slicer on one GPU host, no Kubernetes, on an emulated
# A100-SXM4-40GB. A host agent owns the GPU; "model servers" ask for slices
# with `slicer run`, and the same GPU is re-sliced on demand through the day:
#   morning    seven tiny models on 1g.5gb at once (an eighth is refused)
#   midday     two medium models on 3g.20gb
#   afternoon  one large model on 7g.40gb
# After each step `slicer status` draws the GPU. At the end nothing is left
# over: the demo checks it and exits 1 if a slice leaked.
# usage: scripts/demo.sh [build/slicer]
set -uo pipefail
SLICER=${1:-build/slicer}
[[ -x "$SLICER" ]] || { echo "demo: $SLICER is not built (run make)" >&2; exit 1; }
SLICER=$(cd "$(dirname "$SLICER")" && pwd)/$(basename "$SLICER")
EMU=${SLICER_EMU_LIBRARY:-$(dirname "$SLICER")/emu/libnvidia-ml.so.1}
[[ -e "$EMU" ]] || { echo "demo: the emulated NVML $EMU is not built (run make)" >&2; exit 1; }

T=$(mktemp -d -t slicer-demo.XXXXXX)
export SLICER_NVML_LIBRARY=$EMU SLICER_EMU_STATE=$T/gpu-state.json SLICER_SOCKET=$T/agent.sock
export SLICER_EMU_GPUS=A100-SXM4-40GB
AGENT_PID=
SERVERS=()
cleanup() {
    ((${#SERVERS[@]})) && kill "${SERVERS[@]}" 2>/dev/null && wait "${SERVERS[@]}" 2>/dev/null
    [[ -n "$AGENT_PID" ]] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step=0
heading() { step=$((step + 1)); printf '\n=== %d. %s\n\n' "$step" "$*"; }
status() { printf '$ slicer status\n'; "$SLICER" status; }
ready_slices() {
    "$SLICER" status 2>/dev/null | grep -cE '^  #[0-9]+ +ready '
}
wait_slices() { # wait_slices N: until the agent holds exactly N ready slices (10 s at most)
    for _ in $(seq 200); do
        [[ $(ready_slices) == "$1" ]] && return 0
        sleep 0.05
    done
    echo "demo: the agent did not reach $1 slice(s); its log:" >&2
    tail -20 "$T/agent.log" >&2
    exit 1
}
# serve NAME PROFILE: a model server under `slicer run`, in the background
serve() {
    local name=$1 profile=$2
    "$SLICER" run -p "$profile" -- sh -c \
        'echo "  $0: serving on $NVIDIA_VISIBLE_DEVICES (CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES)"
         trap "exit 0" TERM; while :; do sleep 1; done' "$name" \
        2>>"$T/run.log" &
    SERVERS+=($!)
}
stop_servers() {
    printf '$ kill the %d server(s): slicer run forwards the signal and releases the slices\n' \
        "${#SERVERS[@]}"
    kill "${SERVERS[@]}" 2>/dev/null
    wait "${SERVERS[@]}" 2>/dev/null
    SERVERS=()
    wait_slices 0
}

heading "Start the host agent on an emulated A100-SXM4-40GB (state in $T)"
echo "\$ slicer agent --host --socket $SLICER_SOCKET --state-dir $T/state &"
"$SLICER" agent --host --state-dir "$T/state" --check-interval 200 >"$T/agent.log" 2>&1 &
AGENT_PID=$!
for _ in $(seq 200); do [[ -S $SLICER_SOCKET ]] && break; sleep 0.05; done
[[ -S $SLICER_SOCKET ]] || { echo "demo: the agent did not start:" >&2; cat "$T/agent.log" >&2; exit 1; }
status

heading "Morning: seven tiny models, each on its own 1g.5gb, at once"
echo '$ slicer run -p 1g.5gb -- tiny-N    (N = 1..7, all at the same time)'
for i in 1 2 3 4 5 6 7; do serve "tiny-$i" 1g.5gb; done
wait_slices 7
sleep 0.2 # let the servers print their devices
echo
status

heading "An eighth tiny model does not fit: slicer says why, and nothing is touched"
echo '$ slicer run -p 1g.5gb -- tiny-8'
"$SLICER" run -p 1g.5gb -- true 2>&1 | sed 's/^/  /'
printf '  (exit %d)\n' "${PIPESTATUS[0]}"

heading "Midday: the tiny models finish; two medium models on 3g.20gb"
stop_servers
echo '$ slicer run -p 3g.20gb -- medium-N    (N = 1, 2)'
serve medium-1 3g.20gb
serve medium-2 3g.20gb
wait_slices 2
sleep 0.2
echo
status

heading "Afternoon: one large model takes the whole GPU as 7g.40gb"
stop_servers
echo '$ slicer run -p 7g.40gb -- large'
serve large 7g.40gb
wait_slices 1
sleep 0.2
echo
status

heading "Evening: the large model is done; nothing is left over"
stop_servers
status
left=$("$SLICER" status --json --no-agent | grep -c '"giId"')
if [[ "$left" != 0 ]]; then
    echo "demo: $left MIG instance(s) left on the GPU: that is a leak" >&2
    exit 1
fi
printf '\nThe same GPU was re-sliced three times on demand, with no instance left over.\n'
printf 'Next: `slicer plan --help` plans offline; `slicer run --help`; docs/host-mode.md.\n'
exit 0
