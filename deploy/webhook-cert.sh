#!/usr/bin/env bash
# Makes the webhook's TLS material on a cluster without cert-manager: a CA and
# a serving certificate for slicer-webhook.slicer-system.svc, stored in the
# Secret slicer-webhook-tls, and the CA put into the MutatingWebhookConfiguration
# `slicer` as its caBundle. Run after `kubectl apply -k deploy/`; run again to
# rotate (the webhook reads the new pair without a restart).
# usage: deploy/webhook-cert.sh [--days N] [--namespace NS]   (uses kubectl's context)
set -euo pipefail
days=365 ns=slicer-system
while [[ $# -gt 0 ]]; do
    case "$1" in
    --days) days=$2; shift 2 ;;
    --namespace) ns=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "webhook-cert.sh: unknown argument '$1' (--help)" >&2; exit 2 ;;
    esac
done
command -v openssl >/dev/null || { echo "webhook-cert.sh: openssl is needed" >&2; exit 1; }
command -v kubectl >/dev/null || { echo "webhook-cert.sh: kubectl is needed" >&2; exit 1; }
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
svc=slicer-webhook.$ns.svc
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days "$days" \
    -keyout "$d/ca.key" -out "$d/ca.crt" -subj "/CN=slicer-webhook-ca" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$d/tls.key" -out "$d/tls.csr" -subj "/CN=$svc" 2>/dev/null
printf 'subjectAltName=DNS:%s,DNS:%s.cluster.local,DNS:slicer-webhook.%s\nextendedKeyUsage=serverAuth\n' \
    "$svc" "$svc" "$ns" >"$d/ext"
openssl x509 -req -in "$d/tls.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
    -days "$days" -extfile "$d/ext" -out "$d/tls.crt" 2>/dev/null
kubectl -n "$ns" create secret tls slicer-webhook-tls --cert "$d/tls.crt" --key "$d/tls.key" \
    --dry-run=client -o yaml | kubectl apply -f -
bundle=$(base64 -w0 <"$d/ca.crt")
kubectl patch mutatingwebhookconfiguration slicer --type=json \
    -p "[{\"op\":\"add\",\"path\":\"/webhooks/0/clientConfig/caBundle\",\"value\":\"$bundle\"}]"
echo "webhook-cert.sh: Secret $ns/slicer-webhook-tls and the caBundle of MutatingWebhookConfiguration slicer are set (valid $days days)"
