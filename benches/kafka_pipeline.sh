#!/usr/bin/env bash
# Kafka mode end to end: five stage processes and a local broker (tansu).
# Prints statuses/s (from the first line written to the raw topic, which the
# replay logs as "replay started", until the aggregate has handled the
# end-of-replay marker on every partition; the replay process's start-up is
# printed, not counted) and p50/p99 latency from the raw topic to the
# aggregate stage (hdrhistogram in the aggregate process).
#
#   benches/kafka_pipeline.sh [DUMP] [REPEAT]
#
# DUMP defaults to the demo fixture; REPEAT concatenates it that many times.
# Ids and event times then repeat: the aggregate refuses the copies as late
# (dead letters), so the stages do the work but the windows are those of one
# copy. The embedded pipeline bench's generated dump (1M statuses of ~3.3 KB)
# is more realistic:
#
#   cargo bench --bench pipeline -- --only gen
#   CONFIG=/tmp/canary-pipeline-bench/bench.toml \
#       benches/kafka_pipeline.sh /tmp/canary-pipeline-bench/dump.jsonl 1
#
# Environment: CONFIG (pipeline config; the demo's by default), TIMEOUT
# (seconds to wait for the pipeline to finish, 300), CANARY_BENCH_PORT,
# KEEP_WORK=1 (keep the work directory with every stage's log), PERF=1
# (perf record the stages and the broker during the run; implies KEEP_WORK),
# BENCH_LOG (stage log level, info), BENCH_STAGE_ARGS (more arguments for
# every stage, e.g. "--kafka-option linger.ms=1 --batch-size 20000").
#
# Exits non-zero with the stage logs' tails when the pipeline does not finish
# in time; the stage processes and the broker are stopped (by PID) either way.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DUMP="${1:-$ROOT/fixtures/demo/stream.jsonl.gz}"
REPEAT="${2:-8}"
CONFIG="${CONFIG:-$ROOT/fixtures/demo/canary.toml}"
TIMEOUT="${TIMEOUT:-300}"
PORT="${CANARY_BENCH_PORT:-19192}"
PARTITIONS=4
WORK="$(mktemp -d)"
[ "${PERF:-0}" = 1 ] && KEEP_WORK=1
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/canary"

PIDS=()
BROKER_PID=""
# Stops a process by PID: SIGTERM, then SIGKILL if it has not exited after $2 s.
stop_pid() {
    local pid="$1" grace="$2"
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 $((grace * 10))); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "bench: PID $pid still running ${grace}s after SIGTERM: SIGKILL" >&2
        kill -9 "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    set +e
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do stop_pid "$p" 15; done
    [ -n "$BROKER_PID" ] && stop_pid "$BROKER_PID" 5
    if [ "${KEEP_WORK:-0}" = 1 ]; then echo "bench: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
    echo "bench: FAILED: $*" >&2
    for f in "$WORK"/*.log; do
        [ -f "$f" ] || continue
        echo "--- $(basename "$f") (last lines)" >&2
        tail -n 5 "$f" >&2
    done
    exit 1
}

cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
"$ROOT/scripts/kafka-broker.sh" install >/dev/null
BROKER_PID="$("$ROOT/scripts/kafka-broker.sh" start "$PORT" "$WORK/broker")"

INPUT="$WORK/input.jsonl"
if [ "$REPEAT" = 1 ] && [[ "$DUMP" != *.gz ]]; then
    INPUT="$DUMP"
else
    for _ in $(seq 1 "$REPEAT"); do
        case "$DUMP" in *.gz) zcat "$DUMP" ;; *) cat "$DUMP" ;; esac
    done >"$INPUT"
fi
LINES=$(wc -l <"$INPUT")

# The whole run's windows, from the embedded pipeline: the Kafka run must give as many.
WANT=$("$BIN" run --config "$CONFIG" --input "$INPUT" --emit-windows \
    --metrics-addr off 2>/dev/null | grep -c '"type":"window"' || true)

COMMON=(--config "$CONFIG" --brokers "127.0.0.1:$PORT" --partitions "$PARTITIONS"
    --topic-prefix bench. --group-prefix bench- --kafka-option session.timeout.ms=10000)
STAGES=(ingest normalize language sentiment aggregate)
for s in "${STAGES[@]}"; do
    extra=()
    if [ "$s" = aggregate ]; then
        extra=(--state-dir "$WORK/state" --alerts-out "$WORK/alerts.jsonl" --emit-windows --latency-out "$WORK/latency.json")
    fi
    # shellcheck disable=SC2086 # BENCH_STAGE_ARGS is a list of arguments
    CANARY_LOG="${BENCH_LOG:-info}" "$BIN" stage "$s" "${COMMON[@]}" "${extra[@]}" ${BENCH_STAGE_ARGS:-} \
        >"$WORK/$s.log" 2>&1 &
    PIDS+=($!)
done

count() { # count PATTERN FILE: matching lines, 0 when the file does not exist yet
    grep -c -- "$1" "$2" 2>/dev/null || true
}
alive_or_fail() {
    local i
    for i in "${!PIDS[@]}"; do
        kill -0 "${PIDS[$i]}" 2>/dev/null || fail "stage ${STAGES[$i]} exited"
    done
}

# Every stage must hold its partitions first (group joins take seconds on tansu).
joined=0
for _ in $(seq 1 600); do
    joined=0
    for s in "${STAGES[@]}"; do
        [ "$(count ' assigned ' "$WORK/$s.log")" -ge 1 ] && joined=$((joined + 1))
    done
    [ "$joined" -ge 5 ] && break
    alive_or_fail
    sleep 0.1
done
[ "$joined" -ge 5 ] || fail "only $joined of 5 stages were assigned partitions within 60 s"

PERF_PID=""
if [ "${PERF:-0}" = 1 ]; then
    # Profile the stages and the broker for the run: perf report -i $WORK/perf.data
    pids=$(IFS=,; echo "${PIDS[*]},$BROKER_PID")
    perf record -F 499 -g -p "$pids" -o "$WORK/perf.data" 2>"$WORK/perf.log" &
    PERF_PID=$!
    sleep 0.5
fi
start=$(date +%s.%N)
# The replay's own CPU (user + system seconds) from bash's `time`.
TIMEFORMAT='%U %S'
{ time "$BIN" replay --brokers "127.0.0.1:$PORT" --topic-prefix bench. "$INPUT" \
    2>"$WORK/replay.log"; } 2>"$WORK/replay.time" || fail "replay failed"
replayed=$(date +%s.%N)
# The clock starts when the replay writes its first line: after its process
# start, topic check and the broker's producer id (up to a second on tansu).
launched=$start
started_at=$(grep -m1 'replay started' "$WORK/replay.log" | cut -d' ' -f1 | sed 's/\x1b\[[0-9;]*m//g')
start=$(date -d "$started_at" +%s.%N) || fail "no start time in the replay log"

# Done when the aggregate has handled the end marker on every partition: each
# partition is ordered, so everything replayed before it has been aggregated.
# (Window counts alone would not do: with repeated input the windows are
# complete long before the copies have gone through.)
ends=0
for _ in $(seq 1 $((TIMEOUT * 10))); do
    ends=$(count "end of replay" "$WORK/aggregate.log")
    [ "$ends" -ge "$PARTITIONS" ] && break
    alive_or_fail
    sleep 0.1
done
end=$(date +%s.%N)
[ "$ends" -ge "$PARTITIONS" ] ||
    fail "the aggregate saw the end marker on $ends of $PARTITIONS partitions within ${TIMEOUT}s"

if [ -n "$PERF_PID" ]; then
    kill -INT "$PERF_PID" 2>/dev/null || true
    wait "$PERF_PID" 2>/dev/null || true
fi
# CPU seconds of each stage, before they stop.
cpu=""
for i in "${!PIDS[@]}"; do
    t=$(awk '{print ($14 + $15) / 100}' "/proc/${PIDS[$i]}/stat" 2>/dev/null || echo "?")
    cpu="$cpu ${STAGES[$i]}=${t}s"
done
broker_cpu=$(awk '{print ($14 + $15) / 100}' "/proc/$BROKER_PID/stat" 2>/dev/null || echo "?")

# The aggregate writes the latency histogram and its last outputs on the way out.
agg=${PIDS[4]}
stop_pid "$agg" 15
got=$(count '"type":"window"' "$WORK/alerts.jsonl")

echo "input: $DUMP x $REPEAT, config $CONFIG"
echo "lines: $LINES  windows: $got of $WANT (embedded run)"
echo "replay process start-up seconds (not counted): $(echo "$start - $launched" | bc)"
echo "replay seconds: $(echo "$replayed - $start" | bc)"
echo "seconds: $(echo "$end - $start" | bc)"
echo "statuses_per_second: $(echo "$LINES / ($end - $start)" | bc)"
echo "latency: $(cat "$WORK/latency.json" 2>/dev/null || echo n/a)"
replay_cpu=$(awk '{print $1 + $2}' "$WORK/replay.time" 2>/dev/null || echo "?")
echo "cpu:$cpu broker=${broker_cpu}s replay=${replay_cpu}s"
echo "load: $(uptime | sed 's/.*load average: //')"
[ "$got" = "$WANT" ] || fail "the aggregate wrote $got windows, the embedded run $WANT"
