"""Runs traillake's DDL in Spark SQL and reads its lake with DuckDB, and checks
both engines' answers against an independent reading of the raw logs
(gzip + json from Python's standard library).

    python3 check_engines.py JOBS.json

JOBS.json is a list of {"name", "database", "ddl" (file), "raw" (folder),
"lake" (folder), "style" ("projection" | "hive"), optionally "scan_cost" (the
output of `traillake scan-cost --format json` on that lake)}. Exits 0 when
every answer matches, 1 with the differences otherwise. Driven by
tests/ddl.rs.

scan-cost's lake bytes are recomputed from DuckDB's own reading of the
Parquet metadata: each file's footer (length from its last 8 bytes) plus the
column chunks the query needs, in the row groups whose statistics cannot rule
the filter out.
"""

import collections
import glob
import gzip
import json
import os
import sys
import tempfile


def lake_glob(lake):
    """The lake's Parquet files: account/region/year/month/day/*.parquet."""
    return os.path.join(lake, "*", "*", "*", "*", "*", "*.parquet")


def raw_events(raw_dir):
    """Distinct events of the raw logs: one per (partition, eventID), the copy
    from the first log object in key order, as the lake keeps them."""
    files = []
    for root, _, names in os.walk(raw_dir):
        for n in names:
            p = os.path.join(root, n)
            if "CloudTrail-Digest" in p or not (n.endswith(".json.gz") or n.endswith(".json")):
                continue
            files.append(p)
    events = {}
    for p in sorted("file://" + os.path.realpath(f) for f in files):
        path = p[len("file://"):]
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            doc = json.load(f)
        for r in doc["Records"]:
            t = r["eventTime"]
            part = (r["recipientAccountId"], r["awsRegion"], t[0:4], t[5:7], t[8:10])
            events.setdefault((part, r["eventID"]), r)
    return [(part, r) for (part, _), r in events.items()]


def ident(r, *path):
    v = r
    for k in path:
        if not isinstance(v, dict):
            return None
        v = v.get(k)
    return v


def most_common_ip(events):
    ips = collections.Counter(r.get("sourceIPAddress") for _, r in events)
    for ip, _ in ips.most_common():
        if ip and ip[0].isdigit():
            return ip
    return ips.most_common(1)[0][0]


def expected_answers(events):
    """The seed's five queries and the delta-encoded columns, answered from
    the raw records."""
    ip = most_common_ip(events)
    first_day = min(part for part, _ in events)
    by_name = collections.Counter(r["eventName"] for _, r in events)
    return ip, first_day, {
        "top_events": sorted(by_name.items()),
        "by_ip": sorted(
            (r["eventTime"], r["eventName"], ident(r, "userIdentity", "arn"))
            for _, r in events
            if r.get("sourceIPAddress") == ip
        ),
        "assumed_roles": sorted(
            (r["eventTime"], r.get("sourceIPAddress"), r["eventName"], ident(r, "userIdentity", "arn"))
            for _, r in events
            if ident(r, "userIdentity", "type") == "AssumedRole"
        ),
        "errors": sorted(
            (r["eventTime"], r["eventName"], ident(r, "userIdentity", "arn"), r.get("errorCode"), r.get("errorMessage"))
            for _, r in events
            if r.get("errorCode") is not None
        ),
        "day": [(sum(1 for part, _ in events if part[2:] == first_day[2:]),)],
        "ids": sorted(
            ((r["eventID"], r.get("requestID"), r.get("sourceIPAddress"),
              ident(r, "userIdentity", "accessKeyId"), ident(r, "userIdentity", "principalId"),
              ident(r, "userIdentity", "sessionContext", "attributes", "creationDate"),
              ident(r, "userIdentity", "sessionContext", "sessionIssuer", "principalId"))
             for _, r in events),
            key=nulls_first,
        ),
    }


def nulls_first(row):
    """A sort key for rows that may hold None."""
    return tuple((v is not None, v or "") for v in row)


def sort_rows(name, rows):
    return sorted(rows, key=nulls_first) if name == "ids" else sorted(rows)


def seed_queries(table, ip, day):
    y, m, d = day[2:]
    return {
        "top_events": f"SELECT eventname, count(*) AS n FROM {table} GROUP BY eventname",
        "by_ip": f"SELECT eventtime, eventname, useridentity.arn FROM {table} "
        f"WHERE sourceipaddress = '{ip}' ORDER BY eventtime",
        "assumed_roles": f"SELECT eventtime, sourceipaddress, eventname, useridentity.arn FROM {table} "
        "WHERE useridentity.type = 'AssumedRole' ORDER BY eventtime",
        "errors": f"SELECT eventtime, eventname, useridentity.arn, errorcode, errormessage FROM {table} "
        "WHERE errorcode IS NOT NULL ORDER BY eventtime",
        "day": f"SELECT count(*) FROM {table} WHERE year = '{y}' AND month = '{m}' AND day = '{d}'",
        # Not the seed's: every column written in a delta encoding, whole.
        "ids": "SELECT eventid, requestid, sourceipaddress, useridentity.accesskeyid, "
        "useridentity.principalid, "
        "useridentity.sessioncontext.attributes.creationdate, "
        f"useridentity.sessioncontext.sessionissuer.principalid FROM {table}",
    }


def statements(ddl_text):
    """Statements as printed, each without its terminating ';'."""
    parts = [s.strip() for s in ddl_text.split(";\n")]
    return [s.rstrip(";") for s in parts if s]


def check_spark(jobs, problems):
    from pyspark.sql import SparkSession

    work = tempfile.mkdtemp(prefix="traillake-spark-")
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("traillake-interop")
        .config("spark.sql.warehouse.dir", os.path.join(work, "warehouse"))
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={work}")
        .config("javax.jdo.option.ConnectionURL", f"jdbc:derby:;databaseName={work}/metastore_db;create=true")
        .enableHiveSupport()
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    print(f"spark {spark.version}")
    try:
        for job in jobs:
            with open(job["ddl"]) as f:
                for stmt in statements(f.read()):
                    spark.sql(stmt)
            table = f"`{job['database']}`.`cloudtrail`"
            if job["style"] == "projection":
                # Spark has no partition projection: register partitions the
                # way a Hive metastore user would.
                spark.sql(f"MSCK REPAIR TABLE {table}")
            events = raw_events(job["raw"])
            ip, day, want = expected_answers(events)
            for name, sql in seed_queries(table, ip, day).items():
                got = sort_rows(name, (tuple(row) for row in spark.sql(sql).collect()))
                if got != want[name]:
                    problems.append(f"spark {job['name']} {name}: got {got[:5]}... want {want[name][:5]}...")
            parts = sorted(tuple(r) for r in spark.sql(f"SHOW PARTITIONS {table}").collect())
            want_parts = sorted({"/".join(f"{c}={v}" for c, v in zip(
                ["account", "region", "year", "month", "day"], p)) for p, _ in events})
            if [p[0] for p in parts] != want_parts:
                problems.append(f"spark {job['name']} partitions: {parts} != {want_parts}")
            print(f"spark {job['name']} ({job['style']}): {len(events)} events, seed queries checked")
    finally:
        spark.stop()


def check_duckdb(jobs, problems):
    import duckdb

    print(f"duckdb {duckdb.__version__}")
    con = duckdb.connect()
    for job in jobs:
        src = (f"read_parquet('{lake_glob(job['lake'])}', hive_partitioning = true, "
               "hive_types_autocast = false)")
        events = raw_events(job["raw"])
        want = sorted(collections.Counter(part for part, _ in events).items())
        got = con.sql(
            f"SELECT account, region, year, month, day, count(*) FROM {src} GROUP BY ALL"
        ).fetchall()
        got = sorted(((a, r, y, m, d), n) for a, r, y, m, d, n in got)
        if got != want:
            problems.append(f"duckdb {job['name']} counts per partition: {got} != {want}")
        ip, day, answers = expected_answers(events)
        con.execute(f"CREATE OR REPLACE VIEW cloudtrail AS SELECT * FROM {src}")
        for name, sql in seed_queries("cloudtrail", ip, day).items():
            rows = sort_rows(name, (tuple(r) for r in con.sql(sql).fetchall()))
            if rows != answers[name]:
                problems.append(f"duckdb {job['name']} {name}: got {rows[:5]}... want {answers[name][:5]}...")
        print(f"duckdb {job['name']}: {len(want)} partitions, seed queries checked")
        if "scan_cost" in job:
            check_scan_cost(con, job, problems)


# Leaf columns and the row-group filter of the presets whose reads are
# plain: (leaves, rule on a row group's {leaf: (min, max, nulls, rows)}).
SCAN_PRESETS = {
    "top-events": (["eventname"], None),
    "by-ip": (["eventtime", "eventname", "useridentity, arn", "sourceipaddress"],
              ("sourceipaddress", "=", "ip")),
    "assumed-roles": (["eventtime", "sourceipaddress", "eventname", "useridentity, arn",
                       "useridentity, type"], ("useridentity, type", "=", "AssumedRole")),
    "errors": (["eventtime", "eventname", "useridentity, arn", "errorcode", "errormessage"],
               ("errorcode", "not null", None)),
}


def check_scan_cost(con, job, problems):
    """Lake bytes of the plain presets from DuckDB's parquet_metadata."""
    with open(job["scan_cost"]) as f:
        reported = {o["query"]: o for o in map(json.loads, f)}
    files = sorted(glob.glob(lake_glob(job["lake"])))
    ip = None
    if "by-ip" in reported:
        ip = reported["by-ip"]["sql"].split("sourceipaddress = '")[1].split("'")[0]
    for name, (leaves, rule) in SCAN_PRESETS.items():
        if name not in reported:
            problems.append(f"scan-cost {job['name']}: no {name} row")
            continue
        total = 0
        for path in files:
            with open(path, "rb") as fh:
                fh.seek(-8, os.SEEK_END)
                footer = int.from_bytes(fh.read(4), "little") + 8
            meta = con.execute(
                "SELECT row_group_id, path_in_schema, total_compressed_size, "
                "stats_min_value, stats_max_value, stats_null_count, row_group_num_rows "
                "FROM parquet_metadata(?)", [path]).fetchall()
            groups = collections.defaultdict(dict)
            for rg, leaf, size, lo, hi, nulls, rows in meta:
                groups[rg][leaf] = (size, lo, hi, nulls, rows)
            needed = 0
            for cols in groups.values():
                if rule is not None:
                    leaf, op, value = rule
                    _, lo, hi, nulls, rows = cols[leaf]
                    value = ip if value == "ip" else value
                    if op == "not null" and nulls == rows:
                        continue
                    if op == "=" and (nulls == rows or (lo is not None and value < lo)
                                      or (hi is not None and value > hi)):
                        continue
                needed += sum(cols[leaf][0] for leaf in leaves)
            total += footer + needed
        got = reported[name]["lake_bytes"]
        if got != total:
            problems.append(f"scan-cost {job['name']} {name}: traillake {got} != duckdb {total}")
    print(f"duckdb {job['name']}: scan-cost lake bytes of {', '.join(SCAN_PRESETS)} checked")


def main():
    with open(sys.argv[1]) as f:
        jobs = json.load(f)
    problems = []
    check_duckdb([j for j in jobs if j["style"] == "projection"], problems)
    check_spark(jobs, problems)
    for p in problems:
        print("MISMATCH", p)
    print(f"{len(problems)} mismatches")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
