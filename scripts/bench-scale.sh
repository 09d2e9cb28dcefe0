#!/usr/bin/env bash
# How a run's cost grows: with one big partition, with incremental runs over
# one day, with a year of history, and in requests on S3. Generated logs,
# release build, peak RSS and wall time from /usr/bin/time -v.
#
#   [BEFORE=/path/to/older/traillake] [AFTER=this build] [WORK=dir] [BIG_EVENTS=985000]
#   [HOURS=24] [HISTORY_DAYS=365] [CASES="big incremental history s3"]
#   scripts/bench-scale.sh
#
# With BEFORE, every case also runs that binary (an earlier build), so one
# run prints before and after side by side. The cases:
# - big: one account-region-day of BIG_EVENTS events (985,000 ~ 1.16 GB of
#   JSON) against the same JSON in 48 partitions: peak RSS, MB/s;
# - incremental: one day's files arriving over HOURS runs: bytes written /
#   final bytes, time per run, peak RSS; the lake is compared with one run's;
# - history: HISTORY_DAYS days of one account-region at 288 files a day,
#   then one new day: time and RSS against the day alone;
# - s3: a nightly run on moto with 10 and with 60 days of history: LIST and
#   GET requests (from the run report; with BEFORE, from moto's request log).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/traillake-target}
WORK=${WORK:-$(mktemp -d /tmp/traillake-scale.XXXXXX)}
mkdir -p "$WORK"
BIG_EVENTS=${BIG_EVENTS:-985000}
HOURS=${HOURS:-24}
HISTORY_DAYS=${HISTORY_DAYS:-365}
CASES=${CASES:-"big incremental history s3"}
if [ -z "${AFTER:-}" ]; then
  cargo build --quiet --release
  AFTER="$CARGO_TARGET_DIR/release/traillake"
fi
# Out of the checkout, so no binary reads its config.toml (an older one
# would refuse keys it does not know).
cd "$WORK"
BINS=("after=$AFTER")
[ -n "${BEFORE:-}" ] && BINS=("before=$BEFORE" "${BINS[@]}")

# wall seconds, peak RSS MiB of one command (its report JSON on stdout
# goes to $WORK/last.json).
measure() {
  /usr/bin/time -v "$@" > "$WORK/last.json" 2> "$WORK/time.log" || { cat "$WORK/time.log" >&2; exit 1; }
  local rss wall
  rss=$(awk -F': ' '/Maximum resident set size/ {print int($2/1024)}' "$WORK/time.log")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/time.log" |
    awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  echo "$wall $rss"
}
field() { python3 -c "import json,sys; print(json.loads(open('$WORK/last.json').read().splitlines()[-1]).get('$1', 0))"; }
json_mb() { python3 -c "import json;print(json.load(open('$1'))['json_bytes']/1e6)"; }
lake_bytes() { find "$1" -name '*.parquet' -not -path '*/_traillake/*' -printf '%s\n' | awk '{s+=$1} END {print s+0}'; }

if [[ " $CASES " == *" big "* ]]; then
  echo "== one big partition ($BIG_EVENTS events) against 48 partitions of the same JSON"
  BIG="$WORK/big"; MANY="$WORK/many"
  [ -d "$BIG/AWSLogs" ] || "$AFTER" generate --out "$BIG" --accounts 1 --regions 1 --days 1 --events-per-day "$BIG_EVENTS" > "$WORK/big.json"
  [ -d "$MANY/AWSLogs" ] || "$AFTER" generate --out "$MANY" --accounts 4 --regions 4 --days 3 --events-per-day $((BIG_EVENTS / 48)) > "$WORK/many.json"
  printf '%-8s %-6s %10s %10s %10s\n' binary case seconds MB/s peak_MiB
  for b in "${BINS[@]}"; do
    name=${b%%=*}; bin=${b#*=}
    for c in big many; do
      rm -rf "$WORK/lake-$c"
      read -r wall rss < <(measure "$bin" compact --json --source "$WORK/$c" --lake "$WORK/lake-$c")
      mb=$(json_mb "$WORK/$c.json")
      printf '%-8s %-6s %10.2f %10.0f %10d\n' "$name" "$c" "$wall" "$(echo "$mb / $wall" | bc -l)" "$rss"
    done
  done
fi

if [[ " $CASES " == *" incremental "* ]]; then
  echo "== one day in $HOURS runs as its files arrive"
  DAY="$WORK/day"
  [ -d "$DAY/AWSLogs" ] || "$AFTER" generate --out "$DAY" --accounts 1 --regions 1 --days 1 --events-per-day 100000 > "$WORK/day.json"
  for b in "${BINS[@]}"; do
    name=${b%%=*}; bin=${b#*=}
    src="$WORK/arriving-$name"; lake="$WORK/lake-inc-$name"; one="$WORK/lake-one-$name"
    rm -rf "$src" "$lake" "$one"
    written=0; times=(); peak=0
    # Files arrive by the delivery time in their name (..._YYYYMMDDTHHMMZ_...).
    for h in $(seq 0 $((HOURS - 1))); do
      python3 - "$DAY" "$src" "$h" "$HOURS" <<'PY'
import os, re, shutil, sys
day, dst, h, hours = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
stamps = []
for root, _, files in os.walk(day):
    for f in files:
        m = re.search(r'_(\d{8})T(\d{2})(\d{2})Z_', f)
        stamps.append((m.group(1) + m.group(2) + m.group(3) if m else "", os.path.join(root, f)))
first = min(s for s, _ in stamps if s)[:8]
for stamp, path in stamps:
    # By delivery time: the day's files over the runs, the next day's
    # (late events) with the last run, other objects with the first.
    if not stamp:
        slot = 0
    elif stamp[:8] != first:
        slot = hours - 1
    else:
        slot = min(hours - 1, (int(stamp[8:10]) * 60 + int(stamp[10:12])) * hours // 1440)
    if slot == h:
        rel = os.path.relpath(path, day)
        os.makedirs(os.path.dirname(os.path.join(dst, rel)), exist_ok=True)
        shutil.copy2(path, os.path.join(dst, rel))
PY
      read -r wall rss < <(measure "$bin" compact --json --source "$src" --lake "$lake")
      out=$(field bytes_out)
      written=$((written + out)); times+=("$wall"); [ "$rss" -gt "$peak" ] && peak=$rss
    done
    final=$(lake_bytes "$lake")
    measure "$bin" compact --json --source "$src" --lake "$one" > /dev/null
    rows() { python3 -c "import duckdb;print(duckdb.sql(\"select count(*), count(distinct eventid) from read_parquet('$1/**/*.parquet')\").fetchall()[0])"; }
    echo "$name: bytes written $written, final files $final, ratio $(echo "$written / $final" | bc -l | cut -c1-5)," \
      "run seconds ${times[*]}, peak RSS $peak MiB; rows (all, distinct ids): incremental $(rows "$lake"), one run $(rows "$one")"
  done
fi

if [[ " $CASES " == *" history "* ]]; then
  echo "== one new day on $HISTORY_DAYS days of history (288 files a day)"
  HIST="$WORK/history"
  [ -d "$HIST/AWSLogs" ] || "$AFTER" generate --out "$HIST" --accounts 1 --regions 1 --days "$HISTORY_DAYS" --start 2024-01-01 --events-per-day 288 > /dev/null
  NEW="$WORK/newday"
  [ -d "$NEW/AWSLogs" ] || "$AFTER" generate --out "$NEW" --accounts 1 --regions 1 --days 1 --start 2025-06-01 --events-per-day 288 --seed 7 > /dev/null
  for b in "${BINS[@]}"; do
    name=${b%%=*}; bin=${b#*=}
    src="$WORK/hist-src-$name"; lake="$WORK/lake-hist-$name"; alone="$WORK/lake-alone-$name"
    rm -rf "$src" "$lake" "$alone"; cp -r "$HIST" "$src"
    "$bin" compact --source "$src" --lake "$lake" 2> /dev/null
    cp -r "$NEW/AWSLogs" "$src/"
    read -r wall rss < <(measure "$bin" compact --json --source "$src" --lake "$lake")
    read -r wall1 rss1 < <(measure "$bin" compact --json --source "$NEW" --lake "$alone")
    echo "$name: new day on history $wall s, $rss MiB; the day alone $wall1 s, $rss1 MiB"
  done
fi

if [[ " $CASES " == *" s3 "* ]]; then
  echo "== a nightly run on S3 (moto) with 10 and 60 days of history"
  python3 -c 'import moto.server' 2>/dev/null || pip install --quiet 'moto[server]==5.2.1'
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  python3 -m moto.server -H 127.0.0.1 -p "$port" > "$WORK/moto.log" 2>&1 &
  moto=$!
  trap 'kill $moto 2>/dev/null || true' EXIT
  sleep 3
  export AWS_ACCESS_KEY_ID=AKIDBENCH AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ALLOW_HTTP=true
  export AWS_EC2_METADATA_DISABLED=true AWS_METADATA_ENDPOINT=http://127.0.0.1:9
  up() { python3 - "$@" <<'PY'
import os, sys
from concurrent.futures import ThreadPoolExecutor
import boto3
endpoint, bucket, root = os.environ["AWS_ENDPOINT_URL"], sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=endpoint)
try:
    s3.create_bucket(Bucket=bucket)
except s3.exceptions.BucketAlreadyOwnedByYou:
    pass
paths = [os.path.join(d, f) for d, _, files in os.walk(root) for f in files]
def put(p):
    s3.upload_file(p, bucket, os.path.relpath(p, root))
with ThreadPoolExecutor(16) as pool:
    list(pool.map(put, paths))
PY
  }
  for days in 10 60; do
    H="$WORK/s3hist-$days"
    [ -d "$H/AWSLogs" ] || "$AFTER" generate --out "$H" --accounts 1 --regions 2 --days "$days" --start 2024-01-01 --events-per-day 288 > /dev/null
    N="$WORK/s3new-$days"
    [ -d "$N/AWSLogs" ] || "$AFTER" generate --out "$N" --accounts 1 --regions 2 --days 1 --start "$(date -d "2024-01-01 + $days days" +%F)" --events-per-day 288 --seed 9 > /dev/null
    for b in "${BINS[@]}"; do
      name=${b%%=*}; bin=${b#*=}
      bucket="src-$days-$name"; lakeb="lake-$days-$name"
      up "$bucket" "$H"
      python3 -c "import boto3,os;boto3.client('s3',endpoint_url=os.environ['AWS_ENDPOINT_URL']).create_bucket(Bucket='$lakeb')"
      "$bin" compact --source "s3://$bucket" --lake "s3://$lakeb/lake" 2> "$WORK/err.log" > /dev/null ||
        { cat "$WORK/err.log" >&2; exit 1; }
      up "$bucket" "$N"
      before=$(wc -l < "$WORK/moto.log")
      "$bin" compact --json --source "s3://$bucket" --lake "s3://$lakeb/lake" 2> "$WORK/err.log" > "$WORK/last.json" ||
        { cat "$WORK/err.log" >&2; exit 1; }
      lists=$(tail -n +"$((before + 1))" "$WORK/moto.log" | grep -c '"GET /[^ ]*?[^ ]*list-type' || true)
      gets=$(tail -n +"$((before + 1))" "$WORK/moto.log" | grep '"GET /' | grep -vc 'list-type' || true)
      echo "$name, $days days of history: LIST $lists, GET $gets (moto's log); report: $(python3 -c "import json;r=json.loads(open('$WORK/last.json').read().splitlines()[-1]);print('source', r.get('source_requests'), 'lake', r.get('lake_requests'))" 2>/dev/null || echo n/a)"
    done
  done
fi
echo "work: $WORK"
