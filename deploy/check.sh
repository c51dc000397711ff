#!/usr/bin/env bash
# Validates the monitoring configuration with the real tools: promtool checks
# and unit-tests the Prometheus config and rules, amtool checks the rendered
# Alertmanager config and where its routes send each kind of alert.
# Exits non-zero on the first failure. Needs promtool and amtool
# (scripts/install-ops-tools.sh installs them).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for tool in promtool amtool; do
    command -v "$tool" >/dev/null || { echo "check.sh: $tool not found (run scripts/install-ops-tools.sh)" >&2; exit 1; }
done

step() { echo "== $*"; }

step "promtool check config"
(cd "$here/prometheus" && promtool check config prometheus.yml)

step "promtool check rules"
promtool check rules "$here"/prometheus/rules/*.yml

step "promtool test rules"
(cd "$here/prometheus" && promtool test rules tests/*.test.yml)

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

step "render alertmanager.yml"
CANARY_COMMS_WEBHOOK_URL=https://comms.example.invalid/hook \
CANARY_OPS_PAGE_WEBHOOK_URL=https://ops-page.example.invalid/hook \
CANARY_OPS_WEBHOOK_URL=https://ops.example.invalid/hook \
CANARY_CARE_WEBHOOK_URL=https://care.example.invalid/hook \
    sh "$here/alertmanager/render.sh" "$here/alertmanager/alertmanager.yml" "$tmp/alertmanager.yml"
if grep -q '\${' "$tmp/alertmanager.yml"; then
    echo "check.sh: placeholders left after rendering" >&2; exit 1
fi
if (unset CANARY_COMMS_WEBHOOK_URL; sh "$here/alertmanager/render.sh" "$here/alertmanager/alertmanager.yml" "$tmp/unset.yml" 2>/dev/null); then
    echo "check.sh: render.sh accepted an unset variable" >&2; exit 1
fi

step "amtool check-config"
amtool check-config "$tmp/alertmanager.yml"

step "amtool config routes test"
route() {
    local want="$1"; shift
    local got
    got="$(amtool config routes test --config.file="$tmp/alertmanager.yml" "$@" 2>/dev/null)"
    if [ "$got" != "$want" ]; then
        echo "check.sh: labels $* route to '$got', expected '$want'" >&2; exit 1
    fi
    echo "  $* -> $got"
}
route comms-lead alertname=CanaryNegativeShareSpike team=comms severity=page watch=acme lang=en kind=negative_share
route comms-lead alertname=CanaryVolumeSpike team=comms severity=page watch=globex lang=all kind=volume
route ops-page alertname=CanaryStageStalled team=ops severity=critical stage=normalize
route ops alertname=CanaryDeadLettersHigh team=ops severity=warning stage=ingest reason=bad_json
route care alertname=CanaryCareSlaBreach team=care severity=warning watch=acme
route ops alertname=Unrelated

step "kubernetes-validate (Kubernetes 1.30 schemas)"
kv="$here/../.tools/ops-venv/bin/kubernetes-validate"
[ -x "$kv" ] || kv="$(command -v kubernetes-validate || true)"
[ -n "$kv" ] || { echo "check.sh: kubernetes-validate not found (run scripts/install-ops-tools.sh)" >&2; exit 1; }
(cd "$here/k8s" && "$kv" --kubernetes-version 1.30.0 --strict namespace.yaml configmap.yaml secret.yaml stages.yaml)

echo "check.sh: all checks passed"
