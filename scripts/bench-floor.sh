#!/usr/bin/env bash
# How close a compaction runs to its floor, and where a peer's multiple
# leaves it. On one generated shape (default: the 48-partition one of
# bench-peers.sh), in the same spell of this shared machine:
#
# 1. the stages no run can skip, each timed alone on every thread with the
#    run's libraries and settings (examples/stage_floors.rs: gunzip, parse,
#    decode = parse + Arrow builders, encode = parquet's ArrowWriter into
#    memory), medians of ROUNDS rounds;
# 2. traillake compact and DuckDB's COPY ... PARTITION_BY, alternating,
#    RUNS times each (medians);
# then prints the floor, the run, DuckDB, and the wall time a given multiple
# of DuckDB (TARGET, default 20) would need, beside the floor.
#
#   [SHAPE=many] [RUNS=3] [ROUNDS=5] [TARGET=20] [THREADS=2] [WORK=dir] scripts/bench-floor.sh
#
# Needs: cargo, python3 with duckdb (installed with pip if missing), /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=$PWD/scripts/peers
SHAPE=${SHAPE:-many}
RUNS=${RUNS:-3}
ROUNDS=${ROUNDS:-5}
TARGET=${TARGET:-20}
THREADS=${THREADS:-2}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/traillake-target}
WORK=${WORK:-$(mktemp -d /tmp/traillake-floor.XXXXXX)}
mkdir -p "$WORK"
python3 -c 'import duckdb' 2>/dev/null || pip install --quiet duckdb
cargo build --quiet --release --bin traillake --example stage_floors
BIN=$CARGO_TARGET_DIR/release/traillake
FLOORS=$CARGO_TARGET_DIR/release/examples/stage_floors
cd "$WORK"
# shellcheck source=scripts/peers/shapes.sh
. "$PEERS/shapes.sh"
generate "$SHAPE"
src="$WORK/$SHAPE"

"$FLOORS" "$src" "$THREADS" "$ROUNDS" | tee "$WORK/floors.txt"

# shellcheck source=scripts/peers/measure.sh
. "$PEERS/measure.sh"
: > "$WORK/runs.log"
for _ in $(seq "$RUNS"); do
  rm -rf "$WORK/lake" "$WORK/out-duckdb"
  read -r wall rss cpu < <(measure "$BIN" compact --quiet --source "$src" --lake "$WORK/lake" --threads "$THREADS")
  echo "traillake $wall $rss $cpu" | tee -a "$WORK/runs.log"
  read -r wall rss cpu < <(measure python3 "$PEERS/duckdb_copy.py" "$src" "$WORK/out-duckdb")
  echo "duckdb $wall $rss $cpu" | tee -a "$WORK/runs.log"
done

python3 - "$WORK" "$TARGET" <<'PY'
import re, statistics, sys
work, target = sys.argv[1], float(sys.argv[2])
floors = open(f"{work}/floors.txt").read()
bare = float(re.search(r"builders free .*: ([0-9.]+) s", floors).group(1))
full = float(re.search(r"with the builders .*: ([0-9.]+) s", floors).group(1))
runs = {}
for line in open(f"{work}/runs.log"):
    engine, wall, _, cpu = line.split()
    runs.setdefault(engine, []).append((float(wall), float(cpu)))
tl = statistics.median(w for w, _ in runs["traillake"])
tl_cpu = statistics.median(c for _, c in runs["traillake"])
duck = statistics.median(w for w, _ in runs["duckdb"])
need = duck / target
print(f"traillake {tl:.2f} s ({tl_cpu:.2f} CPU-s), {tl / full:.0%} of the floor with builders ({full:.2f} s); "
      f"DuckDB {duck:.2f} s = {duck / tl:.1f}x traillake")
print(f"{target:g}x DuckDB needs <= {need:.2f} s: "
      f"{'below' if need < bare else 'above'} the builders-free floor ({bare:.2f} s), "
      f"{'below' if need < full else 'above'} the floor with builders ({full:.2f} s)")
PY
echo "work dir: $WORK"
