#!/usr/bin/env bash
# The project's test command (README, .ci/run): format, lints, then every
# unit and integration test. Cargo builds are cached outside the clone.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/traillake-target}"
cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
# Benches run once each in test mode, so they cannot rot.
cargo test --benches
# Last, so the closing lines are the integration tests' summary.
cargo test --lib --bins --tests
