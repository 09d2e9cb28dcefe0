#!/usr/bin/env bash
# The project's test command (README, .ci/run): format, lints, then every
# unit and integration test. Cargo builds are cached outside the clone.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/traillake-target}"
# Tests run real components: Spark SQL (Java 17) and DuckDB read our lakes;
# moto is the S3-compatible server the S3 tests start on loopback; PyYAML
# reads Sigma rules for the independent evaluator of the detect tests.
python3 -c 'import pyspark, duckdb, moto.server, flask_cors, yaml' 2>/dev/null ||
  python3 -m pip install --quiet --disable-pip-version-check \
    'pyspark==4.3.0' 'duckdb==2.0.1' 'moto[server]==5.2.1' 'PyYAML==6.0.3'
# strace shows that no connection leaves loopback while the metadata
# service is disabled (tests/it/aws.rs).
if ! command -v strace >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && apt-get install -y -qq strace >/dev/null
fi
cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
# Benches run once each in test mode, so they cannot rot.
cargo test --benches
# Last, so the closing lines are the integration tests' summary.
cargo test --lib --bins --tests
