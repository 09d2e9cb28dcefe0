#!/usr/bin/env bash
# A day delivered twice: compacts EVENTS generated events of one account,
# region and day, then the same objects again under new keys in the same
# folders (as CloudTrail re-delivers after an outage), and prints each run's
# wall time, the ratio and peak RSS. Every row of the second run is a
# duplicate of a row of a lake file that stays.
#
#   [BIN=traillake] [RUNS=3] scripts/bench-redelivery.sh [EVENTS]
#
# Needs: cargo, /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${1:-2000}
RUNS=${RUNS:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/traillake-target}
if [ -z "${BIN:-}" ]; then
  cargo build --quiet --release
  BIN="$CARGO_TARGET_DIR/release/traillake"
fi
WORK=$(mktemp -d /tmp/traillake-redelivery.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
"$BIN" generate --out "$WORK/src" --accounts 1 --regions 1 --days 1 \
  --events-per-day "$EVENTS" >/dev/null
# The same objects again under new names, beside the originals.
mkdir -p "$WORK/again"
(cd "$WORK/src" && find . -name '*.json.gz' | while read -r f; do
  d="$WORK/again/$(dirname "$f")"; mkdir -p "$d"; cp "$f" "$d/again-$(basename "$f")"
done)
run() { # run LABEL -> "seconds rss_kib"
  /usr/bin/time -f '%e %M' -o "$WORK/time" "$BIN" compact --quiet --json \
    --source "$WORK/src" --lake "$WORK/lake" >"$WORK/$1.json" 2>"$WORK/$1.err"
  cat "$WORK/time"
}
first=(); second=()
for i in $(seq "$RUNS"); do
  rm -rf "$WORK/lake" "$WORK/src/redelivered"
  find "$WORK/src" -name 'again-*' -delete
  read -r t1 m1 < <(run first)
  cp -r "$WORK/again/." "$WORK/src/"
  read -r t2 m2 < <(run second)
  dups=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["duplicates_dropped"], r["rows_written"])' "$WORK/second.json")
  echo "run $i: first ${t1} s (${m1} KiB), again ${t2} s (${m2} KiB); second run: duplicates, rows written = $dups"
  first+=("$t1"); second+=("$t2")
done
python3 - "${first[*]}" "${second[*]}" "$EVENTS" <<'PY'
import statistics, sys
a = [float(x) for x in sys.argv[1].split()]
b = [float(x) for x in sys.argv[2].split()]
ma, mb = statistics.median(a), statistics.median(b)
print(f"{sys.argv[3]} events: first run median {ma:.2f} s, the day again {mb:.2f} s: {mb / ma:.2f}x")
PY
