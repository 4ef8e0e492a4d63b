# slicer on a real control plane, for the end-to-end tests (sourced by
# test/e2e/*.sh after test/lib/check.sh; not a test itself).
#
# The caller sets SLICER (the binary), SRC (the source tree) and T (a scratch
# folder it removes), and calls e2e_cleanup from its EXIT trap. Components run
# as local processes with the arguments deploy/ gives their containers (read
# from the rendered manifests, so a flag that deploy/ passes and the binary
# does not know fails here), and each talks to the apiserver as its own
# ServiceAccount with deploy/'s RBAC, through a token kubeconfig.
#
#   e2e_up                       cluster up, CRDs + namespace + RBAC applied
#   e2e_webhook [ARGS]           slicer webhook, registered at 127.0.0.1
#   e2e_controller ID [ARGS]     a controller named ID (leader election on)
#   e2e_gpu_node NODE GPUS [add-gpu-node options] [-- agent options]   a kwok node + its agent;
#                                GPUS is SLICER_EMU_GPUS (e.g. A100-SXM4-40GB:2)
#   e2e_agent NODE [ARGS]        (re)start NODE's agent (state kept in $T/agent-NODE)
#   e2e_kill NAME [SIGNAL]       stop a component (controller-ID, agent-NODE, webhook)
#   wait_for SECONDS FN [ARGS]   poll FN every 0.2 s until it succeeds
CLUSTER=$SRC/test/cluster
STATE=$T/cluster
declare -A E2E_PID=()
E2E_EMU_LIBRARY=${SLICER_EMU_LIBRARY:?SLICER_EMU_LIBRARY must name the emulated libnvidia-ml (ctest sets it)}

k() { "$KUBECTL" "$@"; }
kk() { out=$(k "$@" 2>"$T/stderr"); rc=$?; err=$(<"$T/stderr"); } # keeps out, err, rc

wait_for() {
    local deadline=$((SECONDS + $1)); shift
    until "$@"; do [[ $SECONDS -ge $deadline ]] && return 1; sleep 0.2; done
}

e2e_cleanup() {
    local name
    for name in "${!E2E_PID[@]}"; do kill -9 "${E2E_PID[$name]}" 2>/dev/null; done
    for name in "${!E2E_PID[@]}"; do wait "${E2E_PID[$name]}" 2>/dev/null; done
    "$CLUSTER/down" --state "$STATE" >/dev/null 2>&1
    if [[ ${E2E_KEEP_LOGS:-} && -d "$T" ]]; then
        mkdir -p "$E2E_KEEP_LOGS" && cp "$T"/*.log "$E2E_KEEP_LOGS"/ 2>/dev/null
    fi
}

e2e_up() {
    if ! "$CLUSTER/up" --state "$STATE" >"$T/up.log" 2>&1; then
        echo "FAIL - test/cluster/up failed:"; tail -30 "$T/up.log"
        echo "0 passed, 1 failed"; exit 1
    fi
    # shellcheck disable=SC1091
    . "$STATE/cluster.env"
    export KUBECONFIG
    k apply -f "$SRC/deploy/base/namespace.yaml" -f "$SRC/deploy/base/crd-gpunodes.yaml" \
        -f "$SRC/deploy/base/crd-gpuslices.yaml" -f "$SRC/deploy/base/rbac.yaml" \
        -f "$SRC/deploy/base/flowschema.yaml" >/dev/null
    if ! k wait --for=condition=Established --timeout=60s crd/gpunodes.slicer.dev \
        crd/gpuslices.slicer.dev >/dev/null; then
        echo "FAIL - deploy/base's CRDs are not established"; echo "0 passed, 1 failed"; exit 1
    fi
    k kustomize "$SRC/deploy/overlays/emulated" >"$T/emulated.yaml"
    k create --dry-run=client --validate=false -o json -f "$T/emulated.yaml" |
        jq -s '{items: .}' >"$T/emulated.json"
}

# e2e_args KIND NAME: the container args deploy/ (emulated overlay) gives, one per line,
# with $(VAR) references replaced from the environment as the kubelet does.
e2e_args() {
    jq -r --arg kind "$1" --arg name "$2" \
        '.items[] | select(.kind == $kind and .metadata.name == $name)
         | .spec.template.spec.containers[0].args[]' "$T/emulated.json" |
        while IFS= read -r a; do
            local ref var
            while [[ "$a" =~ \$\(([A-Z_]+)\) ]]; do
                ref=${BASH_REMATCH[0]} var=${BASH_REMATCH[1]}
                a=${a/"$ref"/${!var:-}}
            done
            printf '%s\n' "$a"
        done
}

# e2e_kubeconfig SA: a kubeconfig that authenticates as slicer-system/SA.
e2e_kubeconfig() {
    local file=$T/kubeconfig-$1 token
    [[ -f "$file" ]] && { echo "$file"; return; }
    token=$(k create token "$1" -n slicer-system --duration=4h) || return 1
    cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: e2e, cluster: {server: "$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')", certificate-authority: "$CLUSTER_CA_CERT"}}]
users: [{name: $1, user: {token: "$token"}}]
contexts: [{name: e2e, context: {cluster: e2e, user: $1}}]
current-context: e2e
EOF
    echo "$file"
}

# e2e_start NAME LOG CMD...: runs CMD in the background as component NAME.
e2e_start() {
    local name=$1 log=$2; shift 2
    "$@" >>"$log" 2>&1 &
    E2E_PID[$name]=$!
}

e2e_kill() {
    local pid=${E2E_PID[$1]:-}
    [[ -n "$pid" ]] || return 0
    kill "-${2:-TERM}" "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    unset "E2E_PID[$1]"
}

e2e_alive() { [[ -n "${E2E_PID[$1]:-}" ]] && kill -0 "${E2E_PID[$1]}" 2>/dev/null; }

e2e_webhook() {
    "$CLUSTER/issue-cert" slicer-webhook --state "$STATE" >/dev/null || return 1
    local args
    mapfile -t args < <(e2e_args Deployment slicer-webhook)
    # deploy/'s flags, with the certificate and the address of this test.
    local i
    for i in "${!args[@]}"; do
        case "${args[$i]}" in
        /etc/slicer/tls/tls.crt) args[i]=$STATE/pki/slicer-webhook.crt ;;
        /etc/slicer/tls/tls.key) args[i]=$STATE/pki/slicer-webhook.key ;;
        8443) args[i]=0 ;;
        esac
    done
    : >"$T/webhook.log"
    local kc
    kc=$(e2e_kubeconfig slicer-webhook) || return 1
    e2e_start webhook "$T/webhook.log" env KUBECONFIG="$kc" "$SLICER" "${args[@]}" --address 127.0.0.1 "$@"
    local port=
    for _ in $(seq 100); do
        port=$(grep -oE '127\.0\.0\.1:[0-9]+' "$T/webhook.log" | head -1 | cut -d: -f2)
        [[ -n "$port" ]] && break
        sleep 0.05
    done
    [[ -n "$port" ]] || { echo "webhook did not start:"; cat "$T/webhook.log"; return 1; }
    E2E_WEBHOOK_PORT=$port
    jq --arg url "https://127.0.0.1:$port/mutate-pods" --arg ca "$(base64 -w0 "$CLUSTER_CA_CERT")" \
        '.items[] | select(.kind == "MutatingWebhookConfiguration")
         | .webhooks[0].clientConfig = {url: $url, caBundle: $ca}' "$T/emulated.json" |
        k apply -f - >/dev/null || return 1
}

# e2e_controller ID [EXTRA ARGS]
e2e_controller() {
    local id=$1; shift
    local kc args
    kc=$(e2e_kubeconfig slicer-controller) || return 1
    mapfile -t args < <(POD_NAME=$id e2e_args Deployment slicer-controller)
    e2e_start "controller-$id" "$T/controller-$id.log" \
        env KUBECONFIG="$kc" "$SLICER" "${args[@]}" "$@"
}

# e2e_gpu_node NODE GPUS [add-gpu-node options] [-- agent options]
e2e_gpu_node() {
    local node=$1 gpus=$2; shift 2
    local model=${gpus%%[:,]*} count=0 part opts=()
    while [[ $# -gt 0 && "$1" != -- ]]; do opts+=("$1"); shift; done
    [[ "${1:-}" == -- ]] && shift
    IFS=, read -ra parts <<<"$gpus"
    for part in "${parts[@]}"; do
        [[ "$part" == *:* ]] && count=$((count + ${part#*:})) || count=$((count + 1))
    done
    "$CLUSTER/add-gpu-node" "$node" --state "$STATE" --gpus "$count" --model "$model" \
        --label slicer.dev/emulated-gpus=true "${opts[@]}" >>"$T/nodes.log" 2>&1 || return 1
    mkdir -p "$T/agent-$node"
    echo "$gpus" >"$T/agent-$node/gpus"
    e2e_agent "$node" "$@"
}

# e2e_agent NODE [EXTRA ARGS]: NODE's agent, with its own emulated GPUs and state.
e2e_agent() {
    local node=$1; shift
    local kc args dir=$T/agent-$node
    kc=$(e2e_kubeconfig slicer-agent) || return 1
    mapfile -t args < <(NODE_NAME=$node e2e_args DaemonSet slicer-agent)
    local i
    for i in "${!args[@]}"; do
        [[ "${args[$i]}" == /var/lib/slicer ]] && args[i]=$dir
    done
    [[ -f "$dir/boot_id" ]] || cat /proc/sys/kernel/random/boot_id >"$dir/boot_id"
    e2e_start "agent-$node" "$T/agent-$node.log" \
        env KUBECONFIG="$kc" SLICER_NVML_LIBRARY="$E2E_EMU_LIBRARY" \
        SLICER_EMU_GPUS="$(<"$dir/gpus")" SLICER_EMU_STATE="$dir/emu-state.json" \
        ${E2E_AGENT_ENV:-} "$SLICER" "${args[@]}" --boot-id-file "$dir/boot_id" "$@"
}

# The MIG instances NODE's emulated GPUs hold now, one "gpu profile start migUUID" per line.
e2e_emu_instances() {
    local f=$T/agent-$1/emu-state.json
    [[ -f "$f" ]] || return 0
    jq -r '.gpus[] | .index as $g | .gpu_instances[]? |
           "\($g) \(.profile) \(.start) \(.compute_instances[0].uuid // "-")"' "$f"
}
