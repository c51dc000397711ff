#!/usr/bin/env bash
# Kafka mode end to end: five stage processes and a local broker (tansu).
# Prints statuses/s (from the first line written to the raw topic until the
# aggregate has seen the end-of-replay marker) and p50/p99 latency from the
# raw topic to the aggregate stage (hdrhistogram in the aggregate process).
#
#   benches/kafka_pipeline.sh [DUMP] [REPEAT]
#
# DUMP defaults to the demo fixture; REPEAT concatenates it that many times
# (ids repeat, so the aggregate de-duplicates them: the stages still do the work).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DUMP="${1:-$ROOT/fixtures/demo/stream.jsonl.gz}"
REPEAT="${2:-8}"
PORT="${CANARY_BENCH_PORT:-19192}"
WORK="$(mktemp -d)"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/canary"

cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
"$ROOT/scripts/kafka-broker.sh" install >/dev/null
BROKER_PID="$("$ROOT/scripts/kafka-broker.sh" start "$PORT" "$WORK/broker")"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait "${PIDS[@]}" 2>/dev/null || true
    kill "$BROKER_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

INPUT="$WORK/input.jsonl"
for _ in $(seq 1 "$REPEAT"); do
    case "$DUMP" in *.gz) zcat "$DUMP" ;; *) cat "$DUMP" ;; esac
done >"$INPUT"
LINES=$(wc -l <"$INPUT")

COMMON=(--config "$ROOT/fixtures/demo/canary.toml" --brokers "127.0.0.1:$PORT"
    --topic-prefix bench. --group-prefix bench- --kafka-option session.timeout.ms=10000)
for s in ingest normalize language sentiment aggregate; do
    extra=()
    if [ "$s" = aggregate ]; then
        extra=(--state-dir "$WORK/state" --alerts-out "$WORK/alerts.jsonl" --emit-windows --latency-out "$WORK/latency.json")
    fi
    CANARY_LOG=info "$BIN" stage "$s" "${COMMON[@]}" "${extra[@]}" >"$WORK/$s.log" 2>&1 &
    PIDS+=($!)
done
# Wait until every stage holds its partitions (group joins take seconds on tansu).
for _ in $(seq 1 120); do
    n=$(grep -l "assigned" "$WORK"/*.log 2>/dev/null | wc -l)
    [ "$n" -ge 5 ] && break
    sleep 0.5
done

# The whole run's windows, from the embedded pipeline: the Kafka run is done when it has them all.
WANT=$("$BIN" run --config "$ROOT/fixtures/demo/canary.toml" --input "$INPUT" --emit-windows \
    --metrics-addr off 2>/dev/null | grep -c '"type":"window"')

start=$(date +%s.%N)
"$BIN" replay --brokers "127.0.0.1:$PORT" --topic-prefix bench. "$INPUT" 2>"$WORK/replay.log"
for _ in $(seq 1 3000); do
    got=$(grep -c '"type":"window"' "$WORK/alerts.jsonl" 2>/dev/null || true)
    [ "${got:-0}" -ge "$WANT" ] && break
    sleep 0.1
done
end=$(date +%s.%N)
kill "${PIDS[4]}" && wait "${PIDS[4]}" || true
echo "lines: $LINES windows: $got of $WANT"
echo "seconds: $(echo "$end - $start" | bc)"
echo "statuses_per_second: $(echo "$LINES / ($end - $start)" | bc)"
echo "latency: $(cat "$WORK/latency.json" 2>/dev/null || echo n/a)"
