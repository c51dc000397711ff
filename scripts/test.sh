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
# The stage logic must stay free of the async runtime and the Kafka client.
if cargo tree -p canary-core -e normal --prefix none | grep -E '^(tokio|rdkafka|prometheus) ' >/dev/null; then
    echo "canary-core depends on tokio, rdkafka or prometheus" >&2
    exit 1
fi
cargo nextest run --workspace --no-fail-fast
cargo test --workspace --doc
