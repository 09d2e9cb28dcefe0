#!/usr/bin/env bash
# What the Delta log costs as a lake ages: commit time and log bytes per
# run, and the time to load the table's state (`traillake history --limit
# 1`: the newest checkpoint and the commits after it) after many runs, with
# checkpoints (every 10 versions, the default) and without.
#
#   scripts/bench-delta.sh [BIN] [DAILY_RUNS] [RUNS_IN_A_DAY]
#
# Defaults: target/release/traillake, 365 daily runs (one day of logs
# each: a year of nightly jobs), 288 runs over one day's logs (every five
# minutes). Small logs (a few events a file) keep the runs quick: the log's
# costs depend on the number of versions and files, not on their bytes.
set -euo pipefail
BIN=$(realpath "${1:-${CARGO_TARGET_DIR:-target}/release/traillake}")
DAILY=${2:-365}
INTRADAY=${3:-288}
WORK=$(mktemp -d /tmp/traillake-delta.XXXXXX)
cd "$WORK"
printf '[delta]\ncheckpoint_interval = 10\n' > with.toml
printf '[delta]\ncheckpoint_interval = 100000\n' > without.toml

# Copies the next log objects (in time order) into src/ and compacts.
run_drops() { # name, config, all-dir, number of drops
  local name=$1 cfg=$2 all=$3 n=$4
  rm -rf "src-$name" "lake-$name"
  python3 - "$all" "src-$name" "$n" <<'PY' > "drops-$name.txt"
import os, sys
all_, src, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
files = sorted((os.path.join(r, f) for r, _, fs in os.walk(all_) for f in fs
                if f.endswith(".json.gz") and "Digest" not in r), key=os.path.basename)
per = -(-len(files) // n)
for i in range(n):
    print(" ".join(files[i * per:(i + 1) * per]))
PY
  local i=0 total=0
  : > "runs-$name.log"
  while read -r line; do
    for f in $line; do
      rel=${f#"$all"/}; mkdir -p "src-$name/$(dirname "$rel")"; cp "$f" "src-$name/$rel"
    done
    start=$(date +%s%N)
    "$BIN" --config "$cfg" compact --quiet --source "src-$name" --lake "lake-$name" > /dev/null 2>> "err-$name.log"
    end=$(date +%s%N)
    echo "$(( (end - start) / 1000000 ))" >> "runs-$name.log"
    i=$((i + 1))
  done < "drops-$name.txt"
}

load_time() { # lake -> median ms of 5 loads
  for _ in 1 2 3 4 5; do
    start=$(date +%s%N)
    "$BIN" history --limit 1 --lake "$1" > /dev/null
    end=$(date +%s%N)
    echo $(( (end - start) / 1000000 ))
  done | sort -n | sed -n 3p
}

report() { # name
  local lake="lake-$1"
  local versions commits bytes ckpt
  versions=$(ls "$lake/_delta_log" | grep -c '^[0-9]*\.json$')
  bytes=$(du -sb "$lake/_delta_log" | cut -f1)
  commits=$(find "$lake/_delta_log" -name '*.json' -printf '%s\n' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  ckpt=$(find "$lake/_delta_log" -name '*.checkpoint.parquet' | wc -l)
  local runs_ms
  runs_ms=$(sort -n "runs-$1.log" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "$1: $versions versions, $ckpt checkpoints, log $bytes bytes (median commit file $commits bytes), median run ${runs_ms} ms, state load $(load_time "$lake") ms (history --limit 1, median of 5)"
}

"$BIN" generate --out daily --accounts 1 --regions 1 --days "$DAILY" --events-per-day 24 > /dev/null
"$BIN" generate --out intraday --accounts 1 --regions 1 --days 1 --events-per-day "$((INTRADAY * 8))" > /dev/null
for cfg in with without; do
  run_drops "daily-$cfg" "$cfg.toml" "$WORK/daily" "$DAILY"
  report "daily-$cfg"
  run_drops "intraday-$cfg" "$cfg.toml" "$WORK/intraday" "$INTRADAY"
  report "intraday-$cfg"
done
# A wide table: version 0 naming WIDE files (a large organization's lake:
# 100k+ files), then one nightly run on top. Peak RSS and time of loading
# the state and of the run's commit (the files need not exist for either).
WIDE=${WIDE:-100000}
python3 - "$WORK/lake-daily-with" "$WORK/wide" "$WIDE" <<'PY'
import json, os, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.makedirs(os.path.join(dst, "_delta_log"))
head = [l for l in open(os.path.join(src, "_delta_log", "00000000000000000000.json"))
        if '"protocol"' in l or '"metaData"' in l]
add = json.loads(next(l for l in open(os.path.join(src, "_delta_log", "00000000000000000000.json")) if '"add"' in l))["add"]
with open(os.path.join(dst, "_delta_log", "00000000000000000000.json"), "w") as out:
    out.writelines(head)
    for i in range(n):
        a = dict(add)
        acct, day = 100000000000 + i % 500, i // 500
        a["path"] = f"account={acct}/region=us-east-1/year=2024/month={day // 28 % 12 + 1:02d}/day={day % 28 + 1:02d}/part-wide-{i:07d}.parquet"
        a["partitionValues"] = {"account": str(acct), "region": "us-east-1", "year": "2024",
                                "month": f"{day // 28 % 12 + 1:02d}", "day": f"{day % 28 + 1:02d}"}
        out.write(json.dumps({"add": a}) + "\n")
PY
mkdir -p wide/_traillake/runs && echo '{}' > wide/_traillake/runs/wide.json  # a lake, to `history`
/usr/bin/time -v "$BIN" history --limit 1 --lake wide > /dev/null 2> time.log
echo "wide ($WIDE files, one JSON commit of $(du -sb wide/_delta_log | cut -f1) bytes): state load $(awk -F': ' '/Elapsed/ {print $2}' time.log) wall, peak RSS $(awk -F': ' '/Maximum resident/ {print int($2/1024)}' time.log) MiB"
mkdir -p wide-src && cp -r daily/AWSLogs wide-src/ && find wide-src -name '*.json.gz' ! -path '*Digest*' | sort | tail -n +2 | xargs rm -f
/usr/bin/time -v "$BIN" compact --source wide-src --lake wide --json > wide-run.json 2> time.log
echo "wide: a run adding one file: $(awk -F': ' '/Elapsed/ {print $2}' time.log) wall, peak RSS $(awk -F': ' '/Maximum resident/ {print int($2/1024)}' time.log) MiB, switch $(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(round(r["commit_seconds"],2), "s, version", r.get("delta_version"))' wide-run.json)"
echo "work: $WORK"
