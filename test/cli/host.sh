#!/usr/bin/env bash
# Host mode end to end with real processes: `slicer agent --host` on emulated
# GPUs (through dlopen of build/emu/libnvidia-ml.so.1) and `slicer run`.
# usage: bash test/cli/host.sh /path/to/slicer   (ctest passes it)
set -uo pipefail
SLICER=${1:?usage: host.sh /path/to/slicer}
EMU=${SLICER_EMU_LIBRARY:-$(dirname "$SLICER")/emu/libnvidia-ml.so.1}
command -v socat >/dev/null || { echo "host.sh: socat is missing (scripts/deps.sh installs it)"; exit 1; }

T=$(mktemp -d -t slicer-host.XXXXXX)
SOCK=$T/agent.sock
export SLICER_NVML_LIBRARY=$EMU SLICER_EMU_STATE=$T/emu-state.json SLICER_SOCKET=$SOCK
export SLICER_EMU_GPUS=A100-SXM4-40GB,A100-SXM4-40GB
AGENT_PID=
fails=0 checks=0

cleanup() {
    [[ -n "$AGENT_PID" ]] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
    jobs -p | xargs -r kill 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

ok()   { checks=$((checks + 1)); echo "ok   - $*"; }
fail() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }
api()  { printf '%s\n' "$1" | socat -t 5 - "UNIX-CONNECT:$SOCK"; }
slices() { api '{"op":"list"}' | grep -o '"phase":"[a-z]*"' | wc -l; }
instances() { api '{"op":"list"}' | grep -o '"slice":[0-9]*' | wc -l; }
# Predicates, so that wait_for asks the agent again on every try.
slices_are() { test "$(slices)" = "$1"; }
ready_slices_are() { test "$(api '{"op":"list"}' | grep -o '"phase":"ready"' | wc -l)" = "$1"; }
instances_are() { test "$(instances)" = "$1"; }

start_agent() {
    "$SLICER" agent --host --state-dir "$T/state" --check-interval 100 --log-level debug \
        >>"$T/agent.log" 2>&1 &
    AGENT_PID=$!
    for _ in $(seq 100); do [[ -S $SOCK ]] && api '{"op":"list"}' >/dev/null 2>&1 && return 0; sleep 0.05; done
    echo "agent did not start:"; cat "$T/agent.log"; return 1
}
stop_agent() { kill "$AGENT_PID"; wait "$AGENT_PID"; local rc=$?; AGENT_PID=; return $rc; }
wait_for() { # wait_for SECONDS CMD...: poll until CMD succeeds
    local deadline=$((SECONDS + $1)); shift
    until "$@"; do [[ $SECONDS -ge $deadline ]] && return 1; sleep 0.1; done
}

# --- no agent yet -------------------------------------------------------------------
out=$("$SLICER" run -p 1g.5gb -- true 2>&1); rc=$?
check "run without an agent exits 125" test "$rc" = 125
check "run without an agent says how to start one" grep -q 'slicer agent --host' <<<"$out"

start_agent || exit 1
check "socket mode is 0660" test "$(stat -c %a "$SOCK")" = 660
out=$("$SLICER" agent --host 2>&1); rc=$?
check "a second agent on the same socket is refused" test "$rc" = 3
check "...saying another agent serves it" grep -q 'already serving' <<<"$out"

# --- the command gets its devices, exit codes pass through -----------------------------
out=$("$SLICER" run -p 1g.5gb -- sh -c 'echo "N=$NVIDIA_VISIBLE_DEVICES C=$CUDA_VISIBLE_DEVICES"')
check "NVIDIA_VISIBLE_DEVICES is a MIG UUID" grep -qE '^N=MIG-[0-9a-f-]{36} C=0$' <<<"$out"
out=$("$SLICER" run -p 1g.5gb -n 3 -- sh -c 'echo "$NVIDIA_VISIBLE_DEVICES|$CUDA_VISIBLE_DEVICES"')
check "-n 3 gives three UUIDs and CUDA 0,1,2" grep -qE '^MIG-[^,]+,MIG-[^,]+,MIG-[^,|]+\|0,1,2$' <<<"$out"
"$SLICER" run -p 2g.10gb -- sh -c 'exit 7'; rc=$?
check "the command's exit code is slicer run's" test "$rc" = 7
check "slices are released after the command" wait_for 5 slices_are 0

# --- bad input ------------------------------------------------------------------------------
out=$("$SLICER" run -p 9g.99gb -- true 2>&1); rc=$?
check "unknown profile exits 125" test "$rc" = 125
check "unknown profile lists what exists" grep -q '1g.5gb' <<<"$out"
"$SLICER" run -p 1g.5gb -n 0 -- true 2>/dev/null; check "-n 0 is a usage error" test $? = 2
"$SLICER" run -p 1g.5gb -n 100000 -- true 2>/dev/null; check "huge -n is a usage error" test $? = 2
"$SLICER" run -- true 2>/dev/null; check "missing -p is a usage error" test $? = 2
out=$(api '{"op":"create","profile":"1g.5gb","count":1000}')
check "API: count over the limit is refused" grep -q '"ok":false' <<<"$out"
out=$(api '{"op":"create","profile":"1g.5gb","count":20}')
check "API: more than the GPUs hold is refused with a reason" grep -q 'no room' <<<"$out"
out=$(api '{"op":"create", "profile": 5}')
check "API: wrong types are refused" grep -q '"ok":false' <<<"$out"
out=$(api '{not json')
check "API: malformed JSON gets an error reply" grep -q 'malformed JSON' <<<"$out"
out=$(api '{"op":"explode"}')
check "API: unknown op is named" grep -q "unknown op 'explode'" <<<"$out"
out=$(head -c 70000 /dev/zero | tr '\0' 'x' | socat -t 5 - "UNIX-CONNECT:$SOCK")
check "API: an oversized request is refused" grep -q 'larger than' <<<"$out"
check "the agent survived all of it" kill -0 "$AGENT_PID"

# --- concurrency: never share a slice, never exceed the GPUs ----------------------------------
runs=()
for i in $(seq 20); do
    "$SLICER" run -p 1g.5gb -- sh -c "echo \$NVIDIA_VISIBLE_DEVICES > $T/dev.$i; sleep 2" \
        >/dev/null 2>"$T/err.$i" &
    runs+=($!)
done
started_at_least() { test "$(ls "$T"/dev.* 2>/dev/null | wc -l)" -ge "$1"; }
wait_for 10 started_at_least 14
sleep 0.5
got=$(cat "$T"/dev.* 2>/dev/null | wc -l)
distinct=$(cat "$T"/dev.* 2>/dev/null | sort -u | wc -l)
check "14 of 20 concurrent runs got a slice (2 GPUs x 7)" test "$got" = 14
check "no slice was handed to two runs" test "$distinct" = "$got"
check "the other 6 were refused with 'no room'" test "$(grep -l 'no room' "$T"/err.* | wc -l)" = 6
wait "${runs[@]}" # not a bare `wait`: the agent is a background job too
check "everything is released afterwards" wait_for 5 slices_are 0

# --- owners: killed slicer run, dead pid, TTL ----------------------------------------------------
"$SLICER" run -p 3g.20gb -- sleep 30 & RUN=$!
wait_for 5 slices_are 1
kill -9 "$RUN"; wait "$RUN" 2>/dev/null
check "SIGKILLed slicer run: its slice is released" wait_for 5 slices_are 0

sleep 30 & OWNER=$!
out=$(api "{\"op\":\"create\",\"profile\":\"1g.5gb\",\"owner\":\"pidtest\",\"pid\":$OWNER}")
check "API create with a pid" grep -q '"ok":true' <<<"$out"
kill "$OWNER"; wait "$OWNER" 2>/dev/null
check "owner process died: its slice is released" wait_for 5 slices_are 0

"$SLICER" run --ttl 1 -p 1g.5gb -- sleep 30 & RUN=$! # outlives the TTL however slow the machine
wait_for 5 slices_are 1
check "TTL expired: released while the command still runs" wait_for 5 slices_are 0
check "...and the command was not killed" kill -0 "$RUN"
kill "$RUN"; wait "$RUN" 2>/dev/null

"$SLICER" run -p 1g.5gb -- sleep 30 & RUN=$!
wait_for 5 slices_are 1
kill -TERM "$RUN"; wait "$RUN"; rc=$?
check "SIGTERM is forwarded to the command (exit 143)" test "$rc" = 143
check "...and its slice released" wait_for 5 slices_are 0

# --- the agent crashes in the middle of a create; a restart converges --------------------------
stop_agent; check "the agent stops cleanly on SIGTERM" test $? = 0
SLICER_EMU_FAULTS=nvmlGpuInstanceCreateComputeInstance:1:CRASH start_agent
"$SLICER" run -p 3g.20gb -- true 2>"$T/crash.err"; rc=$?
check "a run whose agent dies mid-create fails (125)" test "$rc" = 125
wait "$AGENT_PID" 2>/dev/null; AGENT_PID=
start_agent
check "after restart nothing is left half made" instances_are 0
check "the journal was rolled back" slices_are 0
check "the restart said what it rolled back" grep -q 'rolling it back' "$T/agent.log"
out=$("$SLICER" run -p 3g.20gb -- sh -c 'echo $NVIDIA_VISIBLE_DEVICES')
check "and the next run works" grep -q '^MIG-' <<<"$out"

# --- the agent is SIGKILLed while a slice is in use ---------------------------------------------
"$SLICER" run -p 7g.40gb -- sleep 30 >/dev/null & RUN=$!
wait_for 5 ready_slices_are 1 # made, not still being made (that one is rolled back, above)
kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=
start_agent
check "a SIGKILLed agent finds its running slice again" slices_are 1
kill "$RUN"; wait "$RUN" 2>/dev/null
check "...and releases it when the owner goes" wait_for 5 slices_are 0

echo "$((checks - fails)) passed, $fails failed"
[[ $fails -eq 0 ]] || { echo "--- agent log"; tail -50 "$T/agent.log"; exit 1; }
