#!/usr/bin/env bash
# Installs the monitoring tools the deploy checks and the alerting-stack test
# run: Debian's prometheus (with promtool) and prometheus-alertmanager (with
# amtool), and kubernetes-validate (PyPI) in a venv under .tools/. Idempotent.
#
# The Debian packages ship init scripts; this script keeps them from starting
# the services, and stops any that an earlier install started, so nothing
# holds ports 9090/9093/9094 (the tests use free ports anyway).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.tools/ops-venv"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

need_apt=()
command -v promtool >/dev/null && command -v prometheus >/dev/null || need_apt+=(prometheus)
command -v amtool >/dev/null && command -v prometheus-alertmanager >/dev/null || need_apt+=(prometheus-alertmanager)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)

if [ ${#need_apt[@]} -gt 0 ]; then
    # invoke-rc.d asks policy-rc.d before starting a service: 101 = "not now".
    policy=/usr/sbin/policy-rc.d
    added_policy=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
        $SUDO chmod 0755 "$policy"
        added_policy=1
    fi
    trap '[ -n "$added_policy" ] && $SUDO rm -f "$policy"' EXIT
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${need_apt[@]}"
else
    echo "install-ops-tools: prometheus and alertmanager already installed"
fi

# If a service was started anyway (systemd machines), stop it and keep it off.
for svc in prometheus prometheus-alertmanager prometheus-node-exporter; do
    if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
        $SUDO systemctl disable --now "$svc" || true
    elif [ -x "/etc/init.d/$svc" ] && "/etc/init.d/$svc" status >/dev/null 2>&1; then
        $SUDO "/etc/init.d/$svc" stop || true
    fi
done

if [ ! -x "$VENV/bin/kubernetes-validate" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate==1.37.0
fi

promtool --version | head -1
amtool --version 2>&1 | head -1
"$VENV/bin/kubernetes-validate" --version
