#!/usr/bin/env bash
# Fuzzes the line parser and the stream reader for a bounded time each.
#
#   scripts/fuzz.sh [SECONDS]      # default 60 per target
#
# Needs a nightly toolchain and cargo-fuzz (`rustup toolchain install nightly
# --profile minimal`, `cargo install cargo-fuzz`); exits 0 with a message when
# they are absent, unless CANARY_REQUIRE_FUZZ=1. A crash fails the script and
# leaves the input under fuzz/artifacts/<target>/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECS="${1:-60}"
cd "$ROOT/fuzz"

if ! cargo +nightly --version >/dev/null 2>&1 || ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    msg="fuzz: nightly toolchain or cargo-fuzz not installed, fuzzing skipped"
    if [ "${CANARY_REQUIRE_FUZZ:-0}" = 1 ]; then echo "$msg" >&2; exit 1; fi
    echo "$msg"
    exit 0
fi

# The corpus starts from the committed seeds and, when present, one file per
# line of the public tweet samples (they stay in shared/, not in the repo).
CORPUS="$ROOT/fuzz/corpus/parse_line"
mkdir -p "$CORPUS"
cp seeds/* "$CORPUS/"
SHARED="$ROOT/../shared/data/twitter_api_json"
if [ -d "$SHARED" ]; then
    for f in "$SHARED"/*/*; do
        split -l 1 -a 4 "$f" "$CORPUS/$(basename "$f")."
    done
fi

# A toolchain that cannot build the targets (no C++ compiler for libFuzzer,
# a broken nightly) is an environment problem, not a finding: say so and skip.
BUILD_LOG="$(mktemp)"
if ! cargo +nightly fuzz build >"$BUILD_LOG" 2>&1; then
    tail -30 "$BUILD_LOG" >&2
    msg="fuzz: the targets do not build with this toolchain, fuzzing skipped"
    if [ "${CANARY_REQUIRE_FUZZ:-0}" = 1 ]; then echo "$msg" >&2; exit 1; fi
    echo "$msg"
    exit 0
fi
rm -f "$BUILD_LOG"

for target in parse_line read_stream; do
    echo "fuzz: $target for ${SECS}s"
    LOG="$(mktemp)"
    # libFuzzer exits non-zero on a crash, leak, timeout or out-of-memory and
    # writes the input to fuzz/artifacts/<target>/.
    if ! cargo +nightly fuzz run "$target" "$CORPUS" -- \
        -max_len=65536 -max_total_time="$SECS" -timeout=10 -rss_limit_mb=4096 \
        -print_final_stats=1 >"$LOG" 2>&1; then
        tail -60 "$LOG" >&2
        echo "fuzz: $target failed; inputs in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb)" "$LOG" || true
    rm -f "$LOG"
done
echo "fuzz: no crash in ${SECS}s per target"
