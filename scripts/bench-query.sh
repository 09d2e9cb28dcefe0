#!/usr/bin/env bash
# Latency of the seed's queries: `traillake query` vs DuckDB on the same
# Parquet files (hive partitioning), medians of RUNS runs, wall time of the
# whole process for both (DuckDB's includes starting Python, shown apart).
#
#   scripts/bench-query.sh LAKE [RUNS]
#
# LAKE: a lake compacted by traillake, e.g. from scripts/bench-vs-duckdb.sh
# (its work dir keeps lake-tl/). Needs python3 with duckdb.
set -euo pipefail
cd "$(dirname "$0")/.."
LAKE=$(realpath "$1")
RUNS=${2:-5}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/traillake-target}
PROFILE=${PROFILE:-release}
BIN="$CARGO_TARGET_DIR/$PROFILE/traillake"
cargo build --quiet --profile "$PROFILE"
python3 -c 'import duckdb' 2>/dev/null || pip install --quiet duckdb

IP=$("$BIN" query --lake "$LAKE" --format csv \
  "SELECT sourceipaddress FROM cloudtrail WHERE sourceipaddress LIKE '1%' GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1" | sed -n 2p | tr -d "\r")
DAY=$("$BIN" query --lake "$LAKE" --format csv "SELECT year, month, day FROM cloudtrail GROUP BY 1,2,3 ORDER BY 1,2,3 LIMIT 1" | sed -n 2p | tr -d "\r")
IFS=, read -r Y M D <<< "$DAY"

names=(top-events by-ip assumed-roles errors one-day first-3-calls lag-per-arn count-distinct)
queries=(
  "SELECT eventname, count(*) AS n FROM cloudtrail GROUP BY eventname ORDER BY n DESC"
  "SELECT eventtime, eventname, useridentity.arn FROM cloudtrail WHERE sourceipaddress = '$IP' ORDER BY eventtime"
  "SELECT eventtime, sourceipaddress, eventname, useridentity.arn FROM cloudtrail WHERE useridentity.type = 'AssumedRole' ORDER BY eventtime"
  "SELECT eventtime, eventname, useridentity.arn, errorcode, errormessage FROM cloudtrail WHERE errorcode IS NOT NULL ORDER BY eventtime"
  "SELECT count(*) FROM cloudtrail WHERE year = '$Y' AND month = '$M' AND day = '$D'"
  "SELECT arn, eventname, eventtime FROM (SELECT useridentity.arn AS arn, eventname, eventtime, row_number() OVER (PARTITION BY useridentity.arn ORDER BY eventtime) AS rn FROM cloudtrail) WHERE rn <= 3"
  "SELECT useridentity.arn, eventtime, lag(eventtime) OVER (PARTITION BY useridentity.arn ORDER BY eventtime) AS prev FROM cloudtrail"
  "SELECT eventsource, count(*) AS n, count(DISTINCT useridentity.arn) AS who, count(DISTINCT sourceipaddress) AS ips FROM cloudtrail GROUP BY eventsource"
)

WORK=$(mktemp -d)
cat > "$WORK/dd.py" <<'PY'
import duckdb, sys
lake, sql = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET threads TO 2")
con.execute(f"CREATE VIEW cloudtrail AS SELECT * FROM read_parquet('{lake}/*/*/*/*/*/*.parquet', hive_partitioning = true, hive_types_autocast = false)")
rows = con.execute(sql).fetchall()
print(len(rows))
PY

# Milliseconds one command takes.
ms() { local s e; s=$(date +%s%N); "$@" > /dev/null; e=$(date +%s%N); echo $(((e - s) / 1000000)); }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

py=(); for _ in $(seq "$RUNS"); do py+=("$(ms python3 -c 'import duckdb; duckdb.connect()')"); done
echo "lake: $LAKE ($(du -sh "$LAKE" | cut -f1)); $RUNS runs each, median ms; python3+duckdb start alone: $(median "${py[@]}") ms"
printf '%-14s %12s %12s %8s\n' query traillake_ms duckdb_ms rows
for i in "${!names[@]}"; do
  t=(); d=()
  for _ in $(seq "$RUNS"); do
    t+=("$(ms "$BIN" query --lake "$LAKE" --format csv "${queries[$i]}")")
    d+=("$(ms python3 "$WORK/dd.py" "$LAKE" "${queries[$i]}")")
  done
  rows=$(python3 "$WORK/dd.py" "$LAKE" "${queries[$i]}")
  printf '%-14s %12s %12s %8s\n' "${names[$i]}" "$(median "${t[@]}")" "$(median "${d[@]}")" "$rows"
done
rm -rf "$WORK"
