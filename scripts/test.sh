#!/usr/bin/env bash
# The test command: installs test dependencies (idempotent), checks formatting
# and lints, then runs every test of the workspace.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

bash scripts/setup.sh
# Deployment files: promtool/amtool checks and rule unit tests, manifest schemas.
bash deploy/check.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# The build without Kafka (no librdkafka, no cmake) is one that ships.
cargo build --no-default-features
# The stage logic must stay free of the async runtime and the Kafka client.
if cargo tree -p canary-core -e normal --prefix none | grep -E '^(tokio|rdkafka|prometheus) ' >/dev/null; then
    echo "canary-core depends on tokio, rdkafka or prometheus" >&2
    exit 1
fi
cargo nextest run --workspace --no-fail-fast
cargo test --workspace --doc
# Bounded fuzzing of the line parser and the stream reader: CI sets
# CANARY_FUZZ_SECONDS (needs a nightly toolchain and cargo-fuzz).
if [ "${CANARY_FUZZ_SECONDS:-0}" -gt 0 ]; then
    bash scripts/fuzz.sh "$CANARY_FUZZ_SECONDS"
fi
