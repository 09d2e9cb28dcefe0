#!/usr/bin/env python3
"""Runs tests/corpus/queries.sql through `traillake query` and DuckDB on the
same lake and compares the answers; then runs the 80 public Athena queries
(athena-public.jsonl) through traillake and checks they run.

    check.py TRAILLAKE LAKE

Prints one line per query and a summary; exits 1 if any answer differs, a
query returns no rows, or a public query fails that is not listed as failing.
"""
import datetime
import decimal
import json
import math
import os
import re
import subprocess
import sys

import duckdb

HERE = os.path.dirname(os.path.abspath(__file__))
TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]00(:?00)?)?$")

# Public queries that do not run unchanged, and why (kept in step with the
# README's table).
PUBLIC_FAILING = {}

# Public queries that are templates as published (`${lookback_days}`,
# `{database}.`): they fail on Athena too until filled in.
PUBLISHED_TEMPLATES = {
    "forensics-agent-privesc", "forensics-agent-console", "unres-tf-events-by-role",
    "unres-tf-action-summary", "unres-tf-resource-summary", "unres-det-console-bruteforce",
    "unres-det-rapid-enumeration",
}


def parse_corpus(path):
    blocks, cur = [], None
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("-- name:"):
            cur = {"name": line[8:].strip(), "about": "", "ordered": False, "sql": [], "duckdb": None,
                   "unordered_lists": False}
            blocks.append(cur)
        elif cur is None:
            continue
        elif line.startswith("-- about:"):
            cur["about"] = line[9:].strip()
        elif line.strip() == "-- ordered":
            cur["ordered"] = True
        elif line.strip() == "-- unordered-lists":
            cur["unordered_lists"] = True
        elif line.strip() == "-- duckdb:":
            cur["duckdb"] = []
        elif line.strip():
            (cur["sql"] if cur["duckdb"] is None else cur["duckdb"]).append(line)
    for b in blocks:
        b["sql"] = "\n".join(b["sql"])
        b["duckdb"] = "\n".join(b["duckdb"]) if b["duckdb"] is not None else b["sql"]
    return blocks


def norm(v):
    """One spelling for a value whichever engine gave it."""
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float, decimal.Decimal)):
        f = float(v)
        if math.isnan(f):
            return "NaN"  # as arrow's JSON writer spells it
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        if math.isfinite(f) and f == int(f) and abs(f) < 2**53:
            return int(f)
        return round(f, 6)
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return v.isoformat(sep=" ")
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, dict):
        return {k.lower(): norm(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [norm(x) for x in v]
    if isinstance(v, str):
        m = TIMESTAMP.match(v)
        if m:
            return f"{m.group(1)} {m.group(2)}{m.group(3) or ''}"
        if v[:1] in "{[":
            try:
                return norm(json.loads(v))
            except ValueError:
                pass
        return v
    return str(v)


# Athena spellings DuckDB has under another name, for the public queries
# (athena-public-duckdb.sql gives the whole DuckDB query where these are not
# enough).
MECHANICAL = [
    (re.compile(r"\bjson_extract_scalar\s*\(", re.I), "json_extract_string("),
    (re.compile(r"\bfrom_iso8601_timestamp\s*\(([^()]*)\)", re.I), r"CAST(\1 AS TIMESTAMPTZ)"),
    (re.compile(r"\bregexp_like\s*\(", re.I), "regexp_matches("),
]
LIMIT = re.compile(r"\s+LIMIT\s+(\d+)\s*;?\s*$", re.I)


def duckdb_spelling(sql):
    for pattern, repl in MECHANICAL:
        sql = pattern.sub(repl, sql)
    return sql


def sort_lists(v):
    if isinstance(v, list):
        return sorted((sort_lists(x) for x in v), key=lambda x: json.dumps(x, sort_keys=True, default=str))
    if isinstance(v, dict):
        return {k: sort_lists(x) for k, x in v.items()}
    return v


def same_answer(got, want, ordered=False, limit=None, unordered_lists=False):
    """Whether two answers agree; with `limit`, `want` is the answer without
    the LIMIT, of which `got` must be `limit` rows (or all)."""
    if unordered_lists:
        got = [sort_lists(r) for r in got]
        want = [sort_lists(r) for r in want]
    if limit is not None:
        if len(got) != min(limit, len(want)):
            return False
        pool = {}
        for r in map(key, want):
            pool[r] = pool.get(r, 0) + 1
        for r in map(key, got):
            if pool.get(r, 0) == 0:
                return False
            pool[r] -= 1
        return True
    if ordered:
        return got == want
    return sorted(map(key, got)) == sorted(map(key, want))


def key(row):
    return json.dumps(row, sort_keys=True, default=str)


def ours(bin_, lake, sql):
    p = subprocess.run([bin_, "query", "--lake", lake, "--format", "json", sql],
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        return None, (p.stderr.strip().splitlines() or ["?"])[-1]
    rows = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    return [[norm(v) for v in r.values()] for r in rows], None


def main():
    bin_, lake = sys.argv[1], sys.argv[2]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    # The partition columns last and in the lake's order, as our table has
    # them (DuckDB puts them last in name order).
    con.execute(f"""CREATE VIEW cloudtrail AS SELECT * EXCLUDE (account, region, year, month, day),
        account, region, year, month, day FROM read_parquet('{lake}/**/*.parquet',
        hive_partitioning = true, hive_types_autocast = false)""")
    failures = 0
    corpus = parse_corpus(os.path.join(HERE, "queries.sql"))
    for q in corpus:
        got, err = ours(bin_, lake, q["sql"])
        if err:
            print(f"FAIL {q['name']}: traillake: {err}")
            failures += 1
            continue
        try:
            want = [[norm(v) for v in r] for r in con.execute(q["duckdb"]).fetchall()]
        except duckdb.Error as e:
            print(f"FAIL {q['name']}: duckdb: {e}")
            failures += 1
            continue
        if not got:
            print(f"FAIL {q['name']}: no rows (a corpus query must return rows)")
            failures += 1
            continue
        if not same_answer(got, want, q["ordered"], unordered_lists=q["unordered_lists"]):
            print(f"FAIL {q['name']}: traillake {len(got)} rows, duckdb {len(want)}")
            only_ours = sorted(set(map(key, got)) - set(map(key, want)))[:3]
            only_duck = sorted(set(map(key, want)) - set(map(key, got)))[:3]
            print(f"  only traillake: {only_ours}\n  only duckdb: {only_duck}")
            failures += 1
            continue
        print(f"ok   {q['name']}: {len(got)} rows, equal to DuckDB's")
    public = [json.loads(l) for l in open(os.path.join(HERE, "athena-public.jsonl"), encoding="utf-8")]
    corpus_failures = failures
    overrides = {b["name"]: b for b in parse_corpus(os.path.join(HERE, "athena-public-duckdb.sql"))}
    ran = with_rows = checked = 0
    as_published = 0
    for q in public:
        # As published first: it must run unless it is a template that
        # fails on Athena too; then its answer is checked like the
        # rewritten one's.
        template = q["id"] in PUBLISHED_TEMPLATES
        got_pub, err_pub = ours(bin_, lake, q["original_sql"])
        if err_pub and not template:
            print(f"FAIL public {q['id']} as published: {err_pub}")
            failures += 1
        elif not err_pub and template:
            print(f"FAIL public {q['id']} as published: runs now; take it off PUBLISHED_TEMPLATES")
            failures += 1
        elif not err_pub:
            as_published += 1
        got, err = ours(bin_, lake, q["sql"])
        expected_failure = PUBLIC_FAILING.get(q["id"])
        if err and not expected_failure:
            print(f"FAIL public {q['id']}: {err}")
            failures += 1
        elif not err and expected_failure:
            print(f"FAIL public {q['id']}: runs now; take it off PUBLIC_FAILING")
            failures += 1
        elif not err:
            ran += 1
            with_rows += bool(got)
            if not got:
                print(f"ok   public {q['id']}: runs, no rows on these logs")
                continue
            o = overrides.get(q["id"])
            duck_sql = o["sql"] if o else duckdb_spelling(q["sql"])
            m = LIMIT.search(duck_sql)
            limit = int(m.group(1)) if m else None
            if m:
                duck_sql = duck_sql[: m.start()]
            try:
                want = [[norm(v) for v in r] for r in con.execute(duck_sql).fetchall()]
            except duckdb.Error as e:
                print(f"FAIL public {q['id']}: duckdb: {e}")
                failures += 1
                continue
            if not same_answer(got, want, limit=limit, unordered_lists=bool(o and o["unordered_lists"])):
                print(f"FAIL public {q['id']}: traillake {len(got)} rows, duckdb {len(want)}")
                print(f"  only traillake: {sorted(set(map(key, got)) - set(map(key, want)))[:3]}")
                failures += 1
                continue
            if got_pub is not None and not same_answer(
                    got_pub, want, limit=limit, unordered_lists=bool(o and o["unordered_lists"])):
                print(f"FAIL public {q['id']} as published: traillake {len(got_pub)} rows, "
                      f"duckdb {len(want)}")
                failures += 1
                continue
            checked += 1
            print(f"ok   public {q['id']}: {len(got)} rows, equal to DuckDB's")
    print(f"corpus: {len(corpus)} queries, {len(corpus) - corpus_failures} equal to DuckDB's")
    print(f"public: {ran} of {len(public)} run unchanged, {with_rows} with rows on these logs, "
          f"{checked} of those equal to DuckDB's")
    print(f"public as published: {as_published} of {len(public)} run, the other "
          f"{len(public) - as_published} are templates that fail on Athena too")
    print(f"failures: {failures}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
