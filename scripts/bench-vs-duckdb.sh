#!/usr/bin/env bash
# Times `traillake compact` against DuckDB's read_json + COPY ... PARTITION_BY
# on the same generated CloudTrail logs, in the same run, and prints the
# ratio of medians, the peak RSS of each and their CPU seconds (user + system),
# all from /usr/bin/time -v.
#
#   [ACCOUNTS=3] [REGIONS=2] [DAYS=3] [DUCKDB=1] [BIN=traillake] [WORK=dir]
#   scripts/bench-vs-duckdb.sh [EVENTS_PER_DAY] [RUNS]
#
# Default: 3 accounts x 2 regions x 3 days x 17,700 events ~ 430 MB of JSON.
# DAYS=9 triples the input with the same partition size (memory flatness);
# REGIONS=5 DAYS=2 with 2000 events is the many-small-files case (8,640
# files of ~2.3 KB gzipped, 30 partitions); DUCKDB=0 times traillake alone.
# Needs: cargo, python3 with duckdb (pip install duckdb), /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."
# The peer's job, shared with scripts/bench-peers.sh.
PEERS=$PWD/scripts/peers

EVENTS=${1:-17700}
RUNS=${2:-3}
DAYS=${DAYS:-3}
ACCOUNTS=${ACCOUNTS:-3}
REGIONS=${REGIONS:-2}
DUCKDB=${DUCKDB:-1}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/traillake-target}
# `release` by default: `dist` (thin LTO, one codegen unit) also LTOs DataFusion,
# which takes far longer to build than the measurement is worth here.
PROFILE=${PROFILE:-release}
WORK=${WORK:-$(mktemp -d /tmp/traillake-bench.XXXXXX)}
mkdir -p "$WORK"
python3 -c 'import duckdb' 2>/dev/null || pip install --quiet duckdb
# BIN=path times that binary (an earlier build, say) instead of building.
if [ -z "${BIN:-}" ]; then
  BIN="$CARGO_TARGET_DIR/$PROFILE/traillake"
  cargo build --quiet --profile "$PROFILE"
fi
# Out of the checkout, so the binary reads no config.toml.
cd "$WORK"

SRC="$WORK/src"
if [ ! -d "$SRC/AWSLogs" ]; then
  "$BIN" generate --out "$SRC" --accounts "$ACCOUNTS" --regions "$REGIONS" --days "$DAYS" --events-per-day "$EVENTS" > "$WORK/generated.json"
fi
JSON_BYTES=$(python3 -c "import json;print(json.load(open('$WORK/generated.json'))['json_bytes'])")
GZ_BYTES=$(python3 -c "import json;print(json.load(open('$WORK/generated.json'))['gz_bytes'])")

# shellcheck source=scripts/peers/measure.sh
. "$PEERS/measure.sh"


tl_times=(); dd_times=(); tl_cpu=(); dd_cpu=(); tl_rss=0; dd_rss=0
for i in $(seq "$RUNS"); do
  rm -rf "$WORK/lake-tl" "$WORK/lake-dd"
  read -r t r c < <(measure "$BIN" compact --source "$SRC" --lake "$WORK/lake-tl" --threads 2)
  tl_times+=("$t"); tl_cpu+=("$c"); [ "$r" -gt "$tl_rss" ] && tl_rss=$r
  if [ "$DUCKDB" = 1 ]; then
    read -r t r c < <(measure python3 "$PEERS/duckdb_copy.py" "$SRC" "$WORK/lake-dd")
    dd_times+=("$t"); dd_cpu+=("$c"); [ "$r" -gt "$dd_rss" ] && dd_rss=$r
  else
    mkdir -p "$WORK/lake-dd"; dd_times+=(0); dd_cpu+=(0)
  fi
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
TL=$(median "${tl_times[@]}"); DD=$(median "${dd_times[@]}")
TL_CPU=$(median "${tl_cpu[@]}"); DD_CPU=$(median "${dd_cpu[@]}")
TL_OUT=$(find "$WORK/lake-tl" -name '*.parquet' -printf '%s\n' | awk '{s+=$1} END {print s}')
DD_OUT=$(find "$WORK/lake-dd" -name '*.parquet' -printf '%s\n' | awk '{s+=$1} END {print s+0}')

python3 - "$JSON_BYTES" "$GZ_BYTES" "$TL" "$DD" "$tl_rss" "$dd_rss" "$TL_OUT" "$DD_OUT" "$RUNS" "${tl_times[*]}" "${dd_times[*]}" "$TL_CPU" "$DD_CPU" <<'PY'
import sys
json_b, gz_b, tl, dd, tl_rss, dd_rss, tl_out, dd_out, runs = sys.argv[1:10]
json_b, gz_b, tl, dd = int(json_b), int(gz_b), float(tl), float(dd)
tl_cpu, dd_cpu = float(sys.argv[12]), float(sys.argv[13])
mb = lambda b: int(b) / 1e6
print(f"input: {mb(json_b):.0f} MB of JSON ({mb(gz_b):.0f} MB gzipped); {runs} runs each, medians; machine: " + str(__import__("os").cpu_count()) + " cores")
print(f"{'engine':<10} {'median s':>9} {'MB/s JSON':>10} {'peak RSS MiB':>13} {'lake MB':>8} {'CPU s':>7}   runs")
print(f"{'traillake':<10} {tl:>9.2f} {mb(json_b)/tl:>10.0f} {int(tl_rss)/1024:>13.0f} {mb(tl_out):>8.1f} {tl_cpu:>7.2f}   {sys.argv[10]}")
if dd > 0:
    print(f"{'duckdb':<10} {dd:>9.2f} {mb(json_b)/dd:>10.0f} {int(dd_rss)/1024:>13.0f} {mb(dd_out):>8.1f} {dd_cpu:>7.2f}   {sys.argv[11]}")
    print(f"ratio (duckdb / traillake, median wall time): {dd/tl:.1f}x")
    # CPU seconds (user + system): a second view of the same runs, not the
    # goal's measure (that is wall time).
    print(f"ratio of median CPU seconds: {dd_cpu/tl_cpu:.1f}x")
PY
echo "work dir: $WORK"
