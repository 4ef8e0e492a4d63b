#!/usr/bin/env bash
# `slicer webhook` over real HTTPS with curl and openssl: the AdmissionReview
# exchange, bad bodies, oversized bodies, TLS versions, certificate rotation
# without restart, junk on the port, metrics, and a clean stop.
# usage: bash test/cli/webhook.sh /path/to/slicer   (ctest passes it)
set -uo pipefail
SLICER=${1:?usage: webhook.sh /path/to/slicer}
T=$(mktemp -d -t slicer-webhook.XXXXXX)
PID=
cleanup() {
    [[ -n "$PID" ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
# shellcheck source=../lib/check.sh
source "$(dirname "$0")/../lib/check.sh"

newcert() { # newcert DIR CN: an ECDSA key and a self-signed certificate for 127.0.0.1
    mkdir -p "$1"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
        -keyout "$1/key.pem" -out "$1/cert.pem" -subj "/CN=$2" \
        -addext subjectAltName=IP:127.0.0.1,DNS:localhost 2>/dev/null
}
serial() { openssl x509 -noout -serial -in "$1"; }
served_serial() {
    openssl s_client -connect "127.0.0.1:$PORT" -servername localhost </dev/null 2>/dev/null |
        openssl x509 -noout -serial 2>/dev/null
}
https() { # https METHOD PATH [curl args...]: sets out (body) and rc (HTTP status)
    local m=$1 p=$2; shift 2
    out=$(curl -s --max-time 10 --cacert "$T/ca/cert.pem" -X "$m" -o "$T/body" -w '%{http_code}' \
        "$@" "https://127.0.0.1:$PORT$p"); rc=$out; out=$(<"$T/body"); err=
}
review() { # review OP JSON-OBJECT: an AdmissionReview body
    printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"uid-%s","kind":{"group":"","version":"v1","kind":"Pod"},"namespace":"demo","operation":"%s","object":%s}}' \
        "$RANDOM" "$1" "$2"
}
POD_1G='{"metadata":{"name":"tiny"},"spec":{"containers":[{"name":"model","resources":{"limits":{"nvidia.com/mig-1g.5gb":"1"}}}]}}'
POD_BAD='{"metadata":{"name":"bad"},"spec":{"containers":[{"name":"model","resources":{"limits":{"nvidia.com/mig-9g.99gb":"1"}}}]}}'

# --- usage -----------------------------------------------------------------------------------
slicer webhook --help
expect_rc "--help exits 0" 0
expect_out "--help names the endpoint" 'POST /mutate-pods'
slicer webhook --port 1
expect_rc "no certificate is a usage error" 2
expect_err "...saying both flags are needed" '--tls-cert and --tls-key are required'
slicer webhook --tls-cert "$T/none.pem" --tls-key "$T/none.pem" --port 0
expect_rc "a missing certificate file fails with 3" 3
expect_err "...naming it" 'none.pem'
newcert "$T/ca" first
newcert "$T/other" other
slicer webhook --tls-cert "$T/ca/cert.pem" --tls-key "$T/other/key.pem" --port 0
expect_rc "a key that is not the certificate's fails with 3" 3
expect_err "...saying so" 'does not belong to the certificate'

# --- serving --------------------------------------------------------------------------------
cp "$T/ca/cert.pem" "$T/cert.pem"; cp "$T/ca/key.pem" "$T/key.pem"
"$SLICER" webhook --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" --address 127.0.0.1 --port 0 \
    >"$T/log" 2>&1 &
PID=$!
for _ in $(seq 100); do grep -q 'serving https' "$T/log" && break; sleep 0.05; done
PORT=$(grep -oE '127\.0\.0\.1:[0-9]+' "$T/log" | head -1 | cut -d: -f2)
[[ -n "$PORT" ]] && ok "it logs the port it serves" || { fail "it logs the port" "a port"; cat "$T/log"; exit 1; }

https GET /healthz;  expect_rc "/healthz is 200" 200
https GET /readyz;   expect_rc "/readyz is 200" 200
https GET /nothing;  expect_rc "an unknown path is 404" 404
https GET /mutate-pods; expect_rc "GET /mutate-pods is 405" 405

review CREATE "$POD_1G" >"$T/req.json"
https POST /mutate-pods -H 'Content-Type: application/json' --data-binary @"$T/req.json"
expect_rc "a pod asking for 1g.5gb: 200" 200
expect_out "...allowed, with a JSON patch" '"allowed":true,"patchType":"JSONPatch","patch":"'
uid=$(grep -oE '"uid":"uid-[0-9]+"' "$T/req.json")
expect_out "...answering the request's uid" "$uid"
patch=$(grep -oE '"patch":"[^"]+"' <<<"$out" | cut -d'"' -f4 | base64 -d)
grep -q '"mig.slicer.dev/1g.5gb":"1"' <<<"$patch" && ok "the patch asks for mig.slicer.dev/1g.5gb" \
    || fail "the patch asks for mig.slicer.dev/1g.5gb" "$patch"
grep -q 'slicer.dev/gpu-slice' <<<"$patch" && ok "the patch adds the gate" || fail "the patch adds the gate" "$patch"

review CREATE "$POD_BAD" >"$T/req.json"
https POST /mutate-pods --data-binary @"$T/req.json"
expect_rc "an unknown profile: still 200 (a decision)" 200
expect_out "...refused" '"allowed":false'
expect_out "...naming the container and profile, and listing valid ones" "container 'model': unknown MIG profile '9g.99gb'.*1g.5gb"

https POST /mutate-pods --data-binary 'not json at all'
expect_rc "a body that is not JSON: 400" 400
expect_out "...with the reason" 'not JSON'
https POST /mutate-pods --data-binary '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}'
expect_rc "an AdmissionReview without a request: 400" 400
expect_out "...saying what is missing" 'no request.uid'
head -c $((5 << 20)) /dev/zero | tr '\0' ' ' >"$T/big"
https POST /mutate-pods --data-binary @"$T/big"
expect_rc "a 5 MiB body: 413" 413

# --- TLS ------------------------------------------------------------------------------------
openssl s_client -connect "127.0.0.1:$PORT" -tls1_1 </dev/null >/dev/null 2>&1
[[ $? -ne 0 ]] && ok "TLS 1.1 is refused" || fail "TLS 1.1 is refused" "a failed handshake"
openssl s_client -connect "127.0.0.1:$PORT" -tls1_2 </dev/null >/dev/null 2>&1
[[ $? -eq 0 ]] && ok "TLS 1.2 works" || fail "TLS 1.2 works" "a handshake"
head -c 4096 /dev/urandom | socat -t 2 - "TCP:127.0.0.1:$PORT" >/dev/null 2>&1
printf 'GET / HTTP/1.1\r\n\r\n' | socat -t 2 - "TCP:127.0.0.1:$PORT" >/dev/null 2>&1
https GET /healthz; expect_rc "junk and plain HTTP on the port do not hurt it" 200

# --- certificate rotation without restart -------------------------------------------------------
first=$(served_serial)
[[ "$first" == "$(serial "$T/ca/cert.pem")" ]] && ok "it serves the first certificate" \
    || fail "it serves the first certificate" "$(serial "$T/ca/cert.pem"), not $first"
newcert "$T/new" second
cp "$T/new/key.pem" "$T/key.tmp"; cp "$T/new/cert.pem" "$T/cert.tmp"
mv "$T/key.tmp" "$T/key.pem"; mv "$T/cert.tmp" "$T/cert.pem"
want=$(serial "$T/new/cert.pem") got=
for _ in $(seq 40); do got=$(served_serial); [[ "$got" == "$want" ]] && break; sleep 0.1; done
[[ "$got" == "$want" ]] && ok "a replaced certificate is served without a restart" \
    || fail "a replaced certificate is served without a restart" "$want, not $got"
echo "garbage" >"$T/cert.pem"
sleep 1.2
https GET /healthz --cacert "$T/new/cert.pem"
expect_rc "a broken new certificate keeps the previous one serving" 200
[[ "$(served_serial)" == "$want" ]] && ok "...the previous one exactly" || fail "...the previous one" "$want"
grep -q 'new certificate not loaded' "$T/log" && ok "...and the failure is logged" \
    || fail "...and the failure is logged" "a warning in the log"

# --- metrics and stop ---------------------------------------------------------------------------
out=$(curl -s --cacert "$T/new/cert.pem" "https://127.0.0.1:$PORT/metrics")
expect_out "metrics count the patched review" '^slicer_webhook_reviews_total\{outcome="patch"\} 1$'
expect_out "metrics count the refusal" '^slicer_webhook_reviews_total\{outcome="deny"\} 1$'
expect_out "metrics count the bad bodies" '^slicer_webhook_reviews_total\{outcome="bad_request"\} 2$'
expect_out "metrics count the oversized body" '^slicer_webhook_reviews_total\{outcome="too_large"\} 1$'
expect_out "metrics count the reload" '^slicer_webhook_certificate_reloads_total\{result="ok"\} 1$'
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=
expect_rc "SIGTERM stops it with exit 0" 0
summary
