# Shared by test/cluster/{build,up,down,add-gpu-node}: pinned versions, cache
# paths, small helpers. Sourced, not run.
# shellcheck shell=bash

CLUSTER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$CLUSTER_DIR/versions.sh"
GO_BIN=${GO:-/usr/local/go/bin/go}
[[ -x "$GO_BIN" ]] || GO_BIN=$(command -v go 2>/dev/null || echo /usr/local/go/bin/go)
SLICER_CACHE=${SLICER_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/slicer}
CLUSTER_CACHE="$SLICER_CACHE/cluster"
GO_CACHE_ROOT="$SLICER_CACHE/go"
# Default state folder of `up`/`down`; `--state DIR` or SLICER_CLUSTER_STATE override it.
DEFAULT_STATE=${SLICER_CLUSTER_STATE:-${TMPDIR:-/tmp}/slicer-cluster-$(id -u)}

info() { printf 'cluster: %s\n' "$*" >&2; }
die() { # CODE MESSAGE
    local code=$1
    shift
    printf 'cluster: error: %s\n' "$*" >&2
    exit "$code"
}
die_usage() {
    printf 'cluster: error: %s (see --help)\n' "$*" >&2
    exit 2
}

# The cache key: versions plus a hash of everything that goes into the build, so a
# change to a wrapper module, a version or BUILD_RECIPE rebuilds into a new folder.
_key_hash() {
    (
        cd "$CLUSTER_DIR"
        cat versions.sh k8s/go.mod k8s/go.sum etcd/go.mod etcd/go.sum etcd/main.go \
            kwok/go.mod kwok/go.sum testwebhook/go.mod testwebhook/main.go k8s/fakecri/main.go
        "$GO_BIN" env GOVERSION 2>/dev/null || true
    ) | sha256sum | cut -c1-12
}
KEY="k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION-$(_key_hash)"
KEY_DIR="$CLUSTER_CACHE/$KEY"
BIN_DIR="$KEY_DIR/bin"
BINARIES=(kube-apiserver kube-scheduler kube-controller-manager kubectl kubelet fakecri etcd kwok testwebhook)

binaries_built() {
    local b
    [[ -f "$KEY_DIR/BUILDINFO" ]] || return 1
    for b in "${BINARIES[@]}"; do
        [[ -x "$BIN_DIR/$b" ]] || return 1
    done
}

# ---- state folders and processes ------------------------------------------------
# A state folder is ours when it holds this marker; `down` removes nothing else.
MARKER=.slicer-cluster
# Start order; `down` stops in reverse.
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

# pid_of STATE NAME: the pid recorded for NAME if that process is still ours (its
# command line names the state folder), else nothing.
pid_of() {
    local state=$1 name=$2 pid
    [[ -f "$state/pids/$name.pid" ]] || return 1
    pid=$(<"$state/pids/$name.pid")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/cmdline ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$state/" || return 1
    echo "$pid"
}

cluster_running() { # STATE
    local f name
    [[ -d "$1/pids" ]] || return 1
    for f in "$1"/pids/*.pid; do
        [[ -e "$f" ]] || continue
        name=$(basename "$f" .pid)
        pid_of "$1" "$name" >/dev/null && return 0
    done
    return 1
}

# stop_pid NAME PID [SIGNAL]: SIGNAL (default TERM), then KILL after 10 s.
stop_pid() {
    local name=$1 pid=$2 sig=${3:-TERM} i
    info "stopping $name (pid $pid, SIG$sig)"
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    info "$name (pid $pid) still there after 10s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 20; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

# stop_cluster STATE: TERM every recorded process (reverse start order, then any
# extra pid files tests registered), KILL what is left after 10 s. Returns 1 if
# something survived.
stop_cluster() {
    local state=$1 name pid f i names=() left=()
    for f in "$state"/pids/*.pid; do
        [[ -e "$f" ]] || continue
        name=$(basename "$f" .pid)
        [[ " ${COMPONENTS[*]} " == *" $name "* ]] || names+=("$name")
    done
    for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do names+=("${COMPONENTS[i]}"); done
    for name in "${names[@]}"; do
        pid=$(pid_of "$state" "$name") || continue
        stop_pid "$name" "$pid" || left+=("$name:$pid")
    done
    if [[ ${#left[@]} -gt 0 ]]; then
        info "could not stop: ${left[*]}"
        return 1
    fi
}

# unmount_under DIR: lazily unmounts whatever is mounted below DIR, deepest first (a real
# kubelet bind-mounts its root dir and mounts pods' volumes there).
unmount_under() {
    local dir m
    dir=$(cd "$1" 2>/dev/null && pwd) || return 0
    awk -v d="$dir/" 'index($2 "/", d) == 1 {print $2}' /proc/mounts | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

remove_state() { # STATE: only a folder that carries our marker
    [[ -e "$1/$MARKER" ]] || return 0
    unmount_under "$1"
    rm -rf "$1"
}

# free_port [TAKEN...]: a TCP port on 127.0.0.1 nobody listens on, below the
# ephemeral range, not among TAKEN.
free_port() {
    local p i
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + RANDOM % 12000))
        [[ " $* " == *" $p "* ]] && continue
        [[ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ]] || continue
        echo "$p"
        return 0
    done
    die 1 "found no free TCP port on 127.0.0.1"
}

# start_process STATE NAME BINARY ARGS...: runs $BIN_DIR/BINARY in the background,
# output to STATE/logs/NAME.log, pid to STATE/pids/NAME.pid.
start_process() {
    local state=$1 name=$2 bin=$3
    shift 3
    info "starting $name"
    {
        printf '# %s' "$BIN_DIR/$bin"
        printf ' %q' "$@"
        printf '\n'
    } >"$state/logs/$name.log"
    mkdir -p "$state/cmd"
    printf '%q ' "$BIN_DIR/$bin" "$@" >"$state/cmd/$name" # for test/cluster/restart
    nohup "$BIN_DIR/$bin" "$@" >>"$state/logs/$name.log" 2>&1 </dev/null &
    echo $! >"$state/pids/$name.pid"
}

# wait_healthy STATE NAME TIMEOUT CMD...: runs CMD every 0.5 s until it succeeds,
# printing progress; fails (with the log tail) on timeout or when NAME's process
# has exited. NAME without a pid file only waits.
wait_healthy() {
    local state=$1 name=$2 timeout=$3
    shift 3
    local t0 now last=-1 el has_pid=0
    t0=$(date +%s)
    if [[ -f "$state/pids/$name.pid" ]]; then
        has_pid=1
        mkdir -p "$state/health"
        printf '%q ' "$@" >"$state/health/$name" # for test/cluster/restart
    fi
    printf 'cluster: waiting for %s ' "$name" >&2
    while :; do
        if "$@" >/dev/null 2>&1; then
            now=$(date +%s)
            printf ' ready (%ss)\n' "$((now - t0))" >&2
            return 0
        fi
        if [[ $has_pid -eq 1 ]] && ! pid_of "$state" "$name" >/dev/null; then
            printf ' exited\n' >&2
            show_log "$state" "$name"
            die 1 "$name exited during start-up (log: $state/logs/$name.log)"
        fi
        now=$(date +%s)
        el=$((now - t0))
        if [[ $el -ge $timeout ]]; then
            printf ' timed out\n' >&2
            [[ $has_pid -eq 1 ]] && show_log "$state" "$name"
            die 1 "$name was not healthy after ${timeout}s (check: $*)"
        fi
        if [[ $el -ne $last ]]; then
            printf '.' >&2
            last=$el
        fi
        sleep 0.5
    done
}

show_log() { # STATE NAME
    [[ -f "$1/logs/$2.log" ]] || return 0
    printf -- '---- last lines of %s ----\n' "$1/logs/$2.log" >&2
    tail -25 "$1/logs/$2.log" >&2
    printf -- '----\n' >&2
}

# ---- certificates (openssl, ECDSA P-256) ------------------------------------------
make_ca() { # PREFIX CN -> PREFIX.crt PREFIX.key
    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -keyout "$1.key" -out "$1.crt" -days 30 -subj "/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        2>/dev/null || die 1 "openssl could not create the CA $1.crt"
}

# issue_cert CA_PREFIX PREFIX server|client SUBJECT [SANS] -> PREFIX.crt PREFIX.key
issue_cert() {
    local ca=$1 out=$2 kind=$3 subj=$4 sans=${5:-} eku ext
    case "$kind" in
    server) eku="serverAuth,clientAuth" ;;
    client) eku="clientAuth" ;;
    *) die 2 "issue_cert: kind must be server or client" ;;
    esac
    ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$eku"
    [[ -n "$sans" ]] && ext+=$'\n'"subjectAltName=$sans"
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -keyout "$out.key" -out "$out.csr" -subj "$subj" 2>/dev/null &&
        openssl x509 -req -in "$out.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial \
            -days 30 -sha256 -out "$out.crt" -extfile <(printf '%s\n' "$ext") 2>/dev/null ||
        die 1 "openssl could not issue $out.crt"
    rm -f "$out.csr"
}

# write_kubeconfig FILE SERVER CA USER CERT KEY
write_kubeconfig() {
    cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: slicer-test
  cluster:
    server: $2
    certificate-authority: $3
users:
- name: $4
  user:
    client-certificate: $5
    client-key: $6
contexts:
- name: $4@slicer-test
  context:
    cluster: slicer-test
    user: $4
current-context: $4@slicer-test
EOF
}

# resolve_state DIR: the absolute path of an existing cluster state folder.
resolve_state() {
    [[ -d "$1" && -e "$1/$MARKER" ]] || die 1 "no cluster state at $1 (is the cluster up? test/cluster/up --state $1)"
    (cd "$1" && pwd)
}
