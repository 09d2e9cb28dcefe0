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
# DuckDB's delta extension (delta-kernel-rs) is the independent reader of
# the lake's Delta log in tests/it/delta.rs. It loads only into DuckDB
# 1.4.4, not the 2.x above, so it gets a virtualenv of its own, outside the
# clone.
DELTA_VENV="${TRAILLAKE_DELTA_VENV:-$HOME/.cache/traillake-delta-venv}"
if ! "$DELTA_VENV/bin/python" -c 'import duckdb, duckdb_ext' 2>/dev/null; then
  # Debian's python3 makes virtualenvs only with python3-venv installed.
  if ! python3 -m venv "$DELTA_VENV" 2>/dev/null; then
    rm -rf "$DELTA_VENV"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    fi
    python3 -m venv "$DELTA_VENV"
  fi
  "$DELTA_VENV/bin/pip" install --quiet --disable-pip-version-check \
    'duckdb==1.4.4' 'duckdb-ext-delta==1.4.4.20260205'
fi
export TRAILLAKE_DELTA_PYTHON="$DELTA_VENV/bin/python"
# Headless Chromium (Debian's) renders detect's HTML report and takes its
# screenshot (tests/it/detect.rs).
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
# strace shows that no connection leaves loopback while the metadata
# service is disabled (tests/it/aws.rs).
if ! command -v strace >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && apt-get install -y -qq strace >/dev/null
fi
cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
# The compaction-only build (no DataFusion) stays a build.
cargo clippy --no-default-features --lib --bins --quiet -- -D warnings
# Benches run once each in test mode, so they cannot rot.
cargo test --benches
# Last, so the closing lines are the integration tests' summary.
cargo test --lib --bins --tests
