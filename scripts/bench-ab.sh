#!/usr/bin/env bash
# Alternates compactions of one source with two or more binaries, so builds
# are compared in the same spell of this shared machine, and prints each
# run and each binary's medians (wall and CPU seconds, peak RSS, lake bytes),
# from /usr/bin/time -v.
#
#   scripts/bench-ab.sh SRC ROUNDS BIN...
#
# SRC: generated logs, e.g. `traillake generate --out SRC --accounts 3
# --regions 2 --days 3 --events-per-day 17700` (the 430 MB bench).
set -euo pipefail
SRC=$(realpath "$1"); ROUNDS=$2; shift 2
WORK=$(mktemp -d /tmp/traillake-ab.XXXXXX)
cd "$WORK" # no config.toml: an older binary would refuse newer keys
for _ in $(seq "$ROUNDS"); do
  for b in "$@"; do
    rm -rf lake
    /usr/bin/time -v "$b" compact --threads 2 --source "$SRC" --lake lake > /dev/null 2> time.log
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' time.log | awk -F: '{print $1*60+$2}')
    cpu=$(awk -F': ' '/User time|System time/ {s+=$2} END {print s}' time.log)
    rss=$(awk -F': ' '/Maximum resident set size/ {print int($2/1024)}' time.log)
    bytes=$(find lake -name '*.parquet' -printf '%s\n' | awk '{s+=$1} END {print s}')
    echo "$b wall $wall cpu $cpu rss $rss lake $bytes" | tee -a runs.log
  done
done
python3 - "$WORK/runs.log" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(lambda: collections.defaultdict(list))
for line in open(sys.argv[1]):
    p = line.split()
    for k, v in zip(p[1::2], p[2::2]):
        runs[p[0]][k].append(float(v))
for b, m in runs.items():
    print("median", b, " ".join(f"{k} {statistics.median(v):.15g}" for k, v in m.items()))
PY
rm -rf "$WORK/lake"
