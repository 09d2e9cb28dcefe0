#!/usr/bin/env bash
# Every real log source of the team's collection, compacted, then read as a
# Delta table by DuckDB's delta extension (tests/interop/delta_check.py):
# its rows (partition, eventid) must equal those DuckDB reads from the
# partition folders' Parquet files, and the log's active files the folders'
# files. For reference, also a rough count from the raw JSON (gzip + json in
# Python, Insights skipped as compact does by default; it ignores the
# lake's finer rules, e.g. conflicting copies of one eventID kept both),
# printed, not checked: the lake's exactness against the raw logs is what
# tests/it/compact.rs proves.
#
#   scripts/delta-real-sources.sh [BIN] [DATA_DIR]
#
# DATA_DIR defaults to ../shared/data (folders with a `lake/` in
# CloudTrail's S3 layout). Needs the virtualenv scripts/test.sh makes.
set -euo pipefail
BIN=$(realpath "${1:-${CARGO_TARGET_DIR:-target}/release/traillake}")
DATA=$(realpath "${2:-$(dirname "$0")/../../shared/data}")
PY=${TRAILLAKE_DELTA_PYTHON:-$HOME/.cache/traillake-delta-venv/bin/python}
CHECK=$(realpath "$(dirname "$0")/../tests/interop/delta_check.py")
WORK=$(mktemp -d /tmp/traillake-real.XXXXXX)
cd "$WORK"
fail=0
for src in $(find "$DATA" -mindepth 3 -maxdepth 3 -type d -name lake | sort); do
  name=$(basename "$(dirname "$src")")
  rm -rf lake
  "$BIN" compact --quiet --source "$src" --lake lake > /dev/null 2> compact.err || {
    echo "FAIL $name: compact: $(tail -1 compact.err)"; fail=1; continue; }
  "$PY" "$CHECK" lake > seen.json
  if python3 - "$src" seen.json "$name" <<'PY'
import collections, gzip, json, os, sys
src, seen, name = sys.argv[1:4]
want = collections.Counter()
ids = set()
for root, _, files in os.walk(src):
    for f in files:
        p = os.path.join(root, f)
        if "CloudTrail-Digest" in p or "CloudTrail-Insight" in p or not (f.endswith(".json.gz") or f.endswith(".json")):
            continue
        raw = open(p, "rb").read()
        try:
            doc = json.loads(gzip.decompress(raw) if f.endswith(".gz") else raw)
        except Exception:
            continue  # quarantined by compact as well
        if not isinstance(doc, dict) or not isinstance(doc.get("Records"), list):
            continue
        parts = p.split("/")
        path_account = parts[parts.index("CloudTrail") - 1] if "CloudTrail" in parts else None
        for r in doc["Records"]:
            if not isinstance(r, dict) or not isinstance(r.get("eventTime"), str):
                continue
            t = r["eventTime"]
            part = "account=%s/region=%s/year=%s/month=%s/day=%s" % (
                r.get("recipientAccountId") or path_account, r.get("awsRegion"), t[0:4], t[5:7], t[8:10])
            eid = r.get("eventID")
            if eid is None:
                want[(part, None, json.dumps(r, sort_keys=True))] += 1
            elif (part, eid) not in ids:
                ids.add((part, eid))
                want[(part, eid)] += 1
got = json.load(open(seen))
rows = collections.Counter((p, e) for p, e in got["rows"])
folders = collections.Counter((p, e) for p, e in got["folder_rows"])
ok = rows == folders and got["replay_files"] == got["folder_files"]
print(("ok  " if ok else "FAIL") + f" {name}: delta_scan {sum(rows.values())} rows = folders' "
      f"{sum(folders.values())}: {rows == folders}; log files = folders' files "
      f"({len(got['replay_files'])}): {got['replay_files'] == got['folder_files']}; "
      f"version {got['version']}; raw JSON: {sum(want.values())} distinct events")
sys.exit(0 if ok else 1)
PY
  then :; else fail=1; fi
done
rm -rf "$WORK"
exit $fail
