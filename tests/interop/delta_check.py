"""Reads a traillake lake as a Delta table, independently of traillake.

Two readers, neither ours:
  * DuckDB 1.4.4 with its `delta` extension (delta-kernel-rs), from the
    PyPI wheel `duckdb-ext-delta`: `delta_scan(LAKE)` gives the rows;
  * a plain-Python replay of `_delta_log/` (the newest checkpoint, read
    with DuckDB's Parquet reader, then the JSON commits after it) gives
    the active files, compared with the Parquet files in the partition
    folders (less those `_traillake/retained/` keeps for older versions).

Usage: delta_check.py LAKE [--version N]  ->  one JSON object on stdout:
  rows: [[partition, eventid], ...]   (every row delta_scan returns; for
        an older version, its replayed files read with read_parquet, since
        this delta_scan reads only the latest)
  folder_rows: the same, read from the partition folders' Parquet files
  replay_files, folder_files: sorted relative paths
  version: the version replayed
Needs DuckDB 1.4.4 (2.x cannot load the extension): scripts/test.sh makes
a virtualenv with it.
"""

import glob
import json
import os
import sys
import urllib.parse

import duckdb
import duckdb_ext

PARTS = ["account", "region", "year", "month", "day"]


def connect():
    ext = glob.glob(
        os.path.join(
            list(duckdb_ext.__path__)[0],
            "extensions",
            "v" + duckdb.__version__,
            "*",
            "delta.duckdb_extension",
        )
    )
    if not ext:
        sys.exit(f"no delta extension for DuckDB {duckdb.__version__} in duckdb_ext")
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{ext[0]}'")
    return con


def replay(con, lake, upto=None):
    """The active files after replaying the log up to version `upto`."""
    log = os.path.join(lake, "_delta_log")
    commits = {}
    checkpoints = {}
    for name in os.listdir(log):
        stem = name.split(".")[0]
        if not stem.isdigit():
            continue
        v = int(stem)
        if name.endswith(".json") and name.count(".") == 1:
            commits[v] = os.path.join(log, name)
        elif name.endswith(".checkpoint.parquet"):
            checkpoints[v] = os.path.join(log, name)
    last = max(commits) if upto is None else upto
    active = {}
    start = 0
    usable = [v for v in checkpoints if v <= last]
    if usable:
        cp = max(usable)
        rows = con.execute(
            "SELECT add.path FROM read_parquet(?) WHERE add.path IS NOT NULL",
            [checkpoints[cp]],
        ).fetchall()
        active = {urllib.parse.unquote(p): True for (p,) in rows}
        start = cp + 1
    for v in range(start, last + 1):
        if v not in commits:
            sys.exit(f"version {v} missing from the log (checkpoint {start - 1})")
        with open(commits[v]) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                action = json.loads(line)
                if "add" in action:
                    active[urllib.parse.unquote(action["add"]["path"])] = True
                elif "remove" in action:
                    active.pop(urllib.parse.unquote(action["remove"]["path"]), None)
    return last, sorted(active)


def folder_files(lake):
    kept = set()
    for f in glob.glob(os.path.join(lake, "_traillake", "retained", "*.json")):
        kept.update(json.load(open(f))["files"])
    out = []
    for path in glob.glob(os.path.join(lake, "account=*", "*", "*", "*", "*", "*.parquet")):
        rel = os.path.relpath(path, lake)
        if rel not in kept:
            out.append(rel)
    return sorted(out)


def main():
    lake = os.path.abspath(sys.argv[1])
    version = None
    if "--version" in sys.argv:
        version = int(sys.argv[sys.argv.index("--version") + 1])
    con = connect()
    v, files = replay(con, lake, version)
    partition = ", ".join(f"'{p}=' || {p}" for p in PARTS)
    if version is None:
        scan = f"delta_scan('{lake}')"
    else:
        # This delta_scan reads the latest version only: read an older
        # one's files (from the replay) with DuckDB's Parquet reader.
        paths = "[" + ", ".join("'" + os.path.join(lake, f) + "'" for f in files) + "]"
        types = ", ".join(f"'{p}': VARCHAR" for p in PARTS)
        scan = f"read_parquet({paths}, hive_partitioning = true, hive_types = {{{types}}})"
    rows = con.execute(f"SELECT concat_ws('/', {partition}), eventid FROM {scan}").fetchall() if files or version is None else []
    folder_rows = []
    if version is None:
        types = ", ".join(f"'{p}': VARCHAR" for p in PARTS)
        glob_ = os.path.join(lake, "account=*", "*", "*", "*", "*", "*.parquet")
        kept = set()
        for f in glob.glob(os.path.join(lake, "_traillake", "retained", "*.json")):
            kept.update(os.path.join(lake, k) for k in json.load(open(f))["files"])
        paths = [p for p in glob.glob(glob_) if p not in kept]
        if paths:
            listing = "[" + ", ".join("'" + p + "'" for p in paths) + "]"
            folder_rows = con.execute(
                f"SELECT concat_ws('/', {partition}), eventid FROM read_parquet({listing}, "
                f"hive_partitioning = true, hive_types = {{{types}}})"
            ).fetchall()
    print(
        json.dumps(
            {
                "version": v,
                "folder_rows": [[p, e] for (p, e) in folder_rows],
                "rows": [[p, e] for (p, e) in rows],
                "replay_files": files,
                "folder_files": folder_files(lake) if version is None else None,
            }
        )
    )


if __name__ == "__main__":
    main()
