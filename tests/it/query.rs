//! `traillake query`: the seed's queries and the alert presets through the
//! real binary, compared with an independent reading of the raw logs;
//! partition and row-group pruning; output formats; errors.

use std::collections::BTreeMap;
use std::path::Path;

use super::helpers::*;
use serde_json::Value;

fn query(lake: &Path, args: &[&str]) -> (i32, String, String) {
    on_lake("query", lake, args)
}

fn json_rows(lake: &Path, args: &[&str]) -> Vec<Value> {
    let mut a = args.to_vec();
    a.extend(["--format", "json"]);
    let (code, out, err) = query(lake, &a);
    assert_eq!(code, 0, "{args:?}: {err}");
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Distinct raw events (one per partition and eventID).
fn distinct(raw: Vec<RawEvent>) -> Vec<Value> {
    let mut seen = BTreeMap::new();
    for e in raw {
        let id = e.record["eventID"].as_str().unwrap().to_string();
        seen.entry((e.partition, id)).or_insert(e.record);
    }
    seen.into_values().collect()
}

fn s(v: &Value) -> Value {
    match v {
        Value::Null => Value::Null,
        Value::String(_) => v.clone(),
        other => Value::String(other.to_string()),
    }
}

/// JSON rows of `(key, n)` as a map.
fn counts(rows: &[Value], key: &str) -> BTreeMap<String, u64> {
    rows.iter()
        .map(|r| {
            (
                r[key].as_str().unwrap().to_string(),
                r["n"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn sorted(mut rows: Vec<Vec<Value>>) -> Vec<Vec<Value>> {
    rows.sort_by_key(|r| serde_json::to_string(r).unwrap());
    rows
}

fn lake_for(tmp: &Path, src: &Path, extra: &[&str]) -> std::path::PathBuf {
    let lake = tmp.join(format!(
        "lake-{}",
        src.file_name().unwrap().to_string_lossy()
    ));
    let (code, _, err) = compact(src, &lake, extra);
    assert_eq!(code, 0, "{err}");
    lake
}

#[test]
fn seed_queries_answer_like_the_raw_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("real");
    copy_dir(&repo().join("tests/data/flaws2"), &src);
    copy_dir(&repo().join("tests/data/invictus"), &src);
    let gen = tmp.path().join("gen");
    generate(&gen, &["--days", "2", "--events-per-day", "300"]);
    for source in [src, gen] {
        let lake = lake_for(tmp.path(), &source, &[]);
        let events = distinct(read_raw(&source));

        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for r in &events {
            *counts
                .entry(r["eventName"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        let got: BTreeMap<String, u64> = json_rows(&lake, &["--preset", "top-events"])
            .iter()
            .map(|r| {
                (
                    r["eventname"].as_str().unwrap().to_string(),
                    r["events"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, counts);

        // The seed's own SQL, unchanged.
        let ip = events
            .iter()
            .filter_map(|r| r["sourceIPAddress"].as_str())
            .find(|ip| ip.starts_with(|c: char| c.is_ascii_digit()))
            .unwrap()
            .to_string();
        let sql = format!(
            "SELECT eventtime, eventname, useridentity.arn FROM cloudtrail WHERE sourceipaddress = '{ip}' ORDER BY eventtime"
        );
        let got: Vec<Vec<Value>> = json_rows(&lake, &[&sql])
            .into_iter()
            .map(|r| r.as_object().unwrap().values().cloned().collect())
            .collect();
        let want: Vec<Vec<Value>> = events
            .iter()
            .filter(|r| r["sourceIPAddress"] == ip.as_str())
            .map(|r| {
                vec![
                    s(&r["eventTime"]),
                    s(&r["eventName"]),
                    s(&r["userIdentity"]["arn"]),
                ]
            })
            .collect();
        assert_eq!(sorted(got.clone()), sorted(want));
        let times: Vec<String> = got
            .iter()
            .map(|r| r[0].as_str().unwrap().to_string())
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "ORDER BY eventtime");

        let got: Vec<Vec<Value>> = json_rows(&lake, &["--preset", "errors"])
            .into_iter()
            .map(|r| r.as_object().unwrap().values().cloned().collect())
            .collect();
        let want: Vec<Vec<Value>> = events
            .iter()
            .filter(|r| !r["errorCode"].is_null())
            .map(|r| {
                vec![
                    s(&r["eventTime"]),
                    s(&r["eventName"]),
                    s(&r["userIdentity"]["arn"]),
                    s(&r["errorCode"]),
                    s(&r["errorMessage"]),
                ]
            })
            .collect();
        assert_eq!(sorted(got), sorted(want));

        let got = json_rows(&lake, &["--preset", "assumed-roles"]).len();
        let want = events
            .iter()
            .filter(|r| r["userIdentity"]["type"] == "AssumedRole")
            .count();
        assert_eq!(got, want);

        let t = events[0]["eventTime"].as_str().unwrap();
        let (y, m, d) = (&t[0..4], &t[5..7], &t[8..10]);
        let sql = format!(
            "SELECT count(*) AS n FROM cloudtrail WHERE year = '{y}' AND month = '{m}' AND day = '{d}'"
        );
        let got = json_rows(&lake, &[&sql])[0]["n"].as_u64().unwrap();
        let want = events
            .iter()
            .filter(|r| r["eventTime"].as_str().unwrap().starts_with(&t[..10]))
            .count();
        assert_eq!(got as usize, want);
        let day = json_rows(
            &lake,
            &[
                "--preset",
                "day",
                "--param",
                &format!("year={y}"),
                "--param",
                &format!("month={m}"),
                "--param",
                &format!("day={d}"),
            ],
        );
        assert_eq!(day.len(), want);
    }
}

#[test]
fn alert_presets_find_the_flaws2_attack() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_for(tmp.path(), &repo().join("tests/data/flaws2"), &[]);
    let attacker = "104.102.221.250";

    let rows = json_rows(&lake, &["--preset", "anonymous-then-role"]);
    assert!(!rows.is_empty());
    assert!(
        rows.iter().all(|r| r["sourceipaddress"] == attacker),
        "{rows:?}"
    );
    let sessions: Vec<&str> = rows
        .iter()
        .map(|r| r["role_session"].as_str().unwrap())
        .collect();
    assert!(
        sessions.iter().any(|s| s.contains("assumed-role/level3/")),
        "{sessions:?}"
    );
    assert!(
        sessions.iter().any(|s| s.contains("assumed-role/level1/")),
        "{sessions:?}"
    );

    // With AWS's ranges, only the attacker's laptop is outside AWS.
    let ranges = repo().join("tests/data/ip-ranges-sample.json");
    let rows = json_rows(
        &lake,
        &[
            "--preset",
            "role-outside-aws",
            "--ip-ranges",
            ranges.to_str().unwrap(),
        ],
    );
    assert!(
        rows.iter().all(|r| r["sourceipaddress"] == attacker),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r["role"] == "level3" && r["eventname"] == "ListBuckets"),
        "{rows:?}"
    );
    // Without them it says what it assumes, and Lambda's own address shows.
    let (code, out, err) = query(&lake, &["--preset", "role-outside-aws", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("no --ip-ranges given: every IP address counted as outside AWS"),
        "{err}"
    );
    assert!(out.contains("34.234.236.212"));
    // Statements of one invocation share a session: the warning comes once;
    // a service name needs no ranges, so it brings none.
    let warning = "no --ip-ranges given";
    let (code, _, err) = query(
        &lake,
        &["SELECT is_aws_address('1.2.3.4'); SELECT is_aws_address('5.6.7.8')"],
    );
    assert_eq!((code, err.matches(warning).count()), (0, 1), "{err}");
    let (code, _, err) = query(&lake, &["SELECT is_aws_address('lambda.amazonaws.com')"]);
    assert_eq!((code, err.matches(warning).count()), (0, 0), "{err}");

    let rows = json_rows(&lake, &["--preset", "cli-on-compute-role"]);
    assert!(
        rows.iter()
            .any(|r| r["role"] == "level3" && r["eventname"] == "ListBuckets"),
        "{rows:?}"
    );
    assert!(rows
        .iter()
        .all(|r| r["useragent"].as_str().unwrap().contains("aws-cli")));

    let rows = json_rows(&lake, &["--preset", "recon-from-app-role"]);
    assert!(
        rows.iter()
            .any(|r| r["role"] == "level3" && r["eventname"] == "ListBuckets"),
        "{rows:?}"
    );
}

#[test]
fn json_functions_work_on_the_json_text_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let src = repo().join("tests/data/flaws2");
    let lake = lake_for(tmp.path(), &src, &[]);
    let rows = json_rows(
        &lake,
        &["SELECT json_extract_scalar(requestparameters, '$.bucketName') AS bucket, count(*) AS n FROM cloudtrail WHERE eventname = 'GetObject' GROUP BY 1"],
    );
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for e in distinct(read_raw(&src)) {
        if e["eventName"] == "GetObject" {
            *want
                .entry(
                    e["requestParameters"]["bucketName"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                )
                .or_default() += 1;
        }
    }
    let got = counts(&rows, "bucket");
    assert_eq!(got, want);
}

/// `DESCRIBE` answers as Athena does: Athena's type names (`string`,
/// `struct<...>`, `array<struct<...>>`), the partition keys marked, and
/// whatever name the saved query gives the table.
#[test]
fn describe_gives_athenas_types() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_for(tmp.path(), &repo().join("tests/data/flaws2"), &[]);
    for name in [
        "cloudtrail",
        "cloudtrail_logs_mybucket",
        "\"db\".\"CloudTrail\"",
    ] {
        let rows = json_rows(&lake, &[&format!("DESCRIBE {name}")]);
        let row = |col: &str| {
            rows.iter()
                .find(|r| r["col_name"] == col)
                .unwrap_or_else(|| panic!("{col} in {rows:?}"))
                .clone()
        };
        assert_eq!(row("eventname")["data_type"], "string");
        assert_eq!(
            row("resources")["data_type"],
            "array<struct<arn:string,accountid:string,type:string>>"
        );
        assert!(row("useridentity")["data_type"]
            .as_str()
            .unwrap()
            .starts_with("struct<type:string,principalid:string,"));
        assert_eq!(row("day")["comment"], "partition key");
        assert_eq!(row("eventname")["comment"], "");
    }
}

fn explain_number(err: &str, prefix: &str) -> (usize, usize) {
    let line = err
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("{prefix} in {err}"));
    let nums: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    (nums[0], nums.get(1).copied().unwrap_or(0))
}

#[test]
fn a_one_day_query_opens_only_that_days_files_and_time_ranges_skip_row_groups() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("gen");
    generate(&src, &["--days", "3", "--events-per-day", "2000"]);
    let cfg = tmp.path().join("small-groups.toml");
    std::fs::write(&cfg, "[compact]\nrow_group_rows = 250\n").unwrap();
    let lake = lake_for(tmp.path(), &src, &["--config", cfg.to_str().unwrap()]);
    let files = snapshot(&lake);
    let day16: Vec<_> = files.keys().filter(|k| k.contains("/day=16/")).collect();

    let (code, _, err) = query(
        &lake,
        &[
            "--explain",
            "--preset",
            "day",
            "--param",
            "year=2024",
            "--param",
            "month=01",
            "--param",
            "day=16",
        ],
    );
    assert_eq!(code, 0, "{err}");
    // Only that day's folders are listed: their files and bytes, no other's.
    let day16_bytes: usize = day16.iter().map(|k| files[*k].len()).sum();
    assert_eq!(
        explain_number(&err, "files:"),
        (day16.len(), day16_bytes),
        "{err}"
    );
    assert!(day16.len() < files.len());
    assert_eq!(explain_number(&err, "partitions:").0, day16.len());
    // At most the root, the account, region, year and month folders, and
    // that day's partitions: fewer than an unpruned walk, which lists every
    // partition too.
    let partitions: std::collections::BTreeSet<_> = files
        .keys()
        .map(|k| k.rsplit_once('/').unwrap().0)
        .collect();
    let levels: std::collections::BTreeSet<_> = partitions
        .iter()
        .flat_map(|p| {
            let parts: Vec<&str> = p.split('/').collect();
            (1..parts.len()).map(move |n| parts[..n].join("/"))
        })
        .collect();
    let day16_partitions = partitions.iter().filter(|p| p.contains("/day=16")).count();
    assert!(day16_partitions < partitions.len());
    let (listed, _) = explain_number(&err, "folders listed:");
    assert!(
        listed <= 1 + levels.len() + day16_partitions,
        "{listed} folders listed, {} levels, {day16_partitions} partitions of the day: {err}",
        levels.len()
    );

    // Rows are sorted by time in row groups of 250: a 30-minute window
    // skips most of them by statistics.
    let (code, out, err) = query(
        &lake,
        &["--explain", "--format", "csv", "SELECT count(*) AS n FROM cloudtrail WHERE eventtime BETWEEN '2024-01-15T10:00:00Z' AND '2024-01-15T10:30:00Z'"],
    );
    assert_eq!(code, 0, "{err}");
    let n: usize = out.lines().nth(1).unwrap().parse().unwrap();
    let want = distinct(read_raw(&src))
        .iter()
        .filter(|r| {
            let t = r["eventTime"].as_str().unwrap();
            ("2024-01-15T10:00:00Z"..="2024-01-15T10:30:00Z").contains(&t)
        })
        .count();
    assert_eq!(n, want);
    // "row_groups_pruned_statistics: <total> total → <matched> matched"
    let (total, matched) = explain_number(&err, "row_groups_pruned_statistics");
    assert!(
        matched > 0 && matched * 4 < total,
        "too few row groups skipped: {err}"
    );
}

#[test]
fn formats_and_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_for(tmp.path(), &repo().join("tests/data/flaws2"), &[]);
    let sql = "SELECT eventname, useragent FROM cloudtrail WHERE eventname = 'ListBuckets'";
    let (code, out, _) = query(&lake, &["--format", "csv", sql]);
    assert_eq!(code, 0);
    let mut lines = out.split("\r\n");
    assert_eq!(lines.next(), Some("eventname,useragent"));
    let row = lines.next().unwrap();
    assert!(row.starts_with("ListBuckets,"), "{row}");
    // The bracketed user agent holds spaces but no comma: no quotes needed.
    assert!(row.contains("[aws-cli/1.16.19"), "{row}");

    let (code, out, _) = query(
        &lake,
        &[
            "--format",
            "json",
            "SELECT eventname, eventtime, useridentity FROM cloudtrail ORDER BY eventtime LIMIT 1",
        ],
    );
    assert_eq!(code, 0);
    let first = out.lines().next().unwrap();
    assert!(
        first.starts_with("{\"eventname\":"),
        "columns in SELECT order: {first}"
    );
    let v: Value = serde_json::from_str(first).unwrap();
    assert!(v["useridentity"].is_object());

    let (code, out, _) = query(&lake, &["--preset", "top-events"]);
    assert_eq!(code, 0);
    assert!(out.contains("| eventname"), "{out}");

    let (code, _, err) = query(&lake, &["SELEC nonsense"]);
    assert_eq!(code, 2);
    assert!(err.starts_with("traillake: in the SQL:"), "{err}");
    assert!(!err.contains("panicked"));
    let (code, _, err) = query(&lake, &["SELECT nosuchcolumn FROM cloudtrail"]);
    assert_eq!(code, 2);
    assert!(err.contains("nosuchcolumn"), "{err}");
    let (code, _, err) = query(&lake, &["--preset", "by-ip"]);
    assert_eq!(code, 2);
    assert!(err.contains("--param ip"), "{err}");
    let (code, out, _) = query(&lake, &["--list-presets"]);
    assert_eq!(code, 0);
    for p in [
        "top-events",
        "by-ip",
        "assumed-roles",
        "errors",
        "day",
        "role-outside-aws",
        "cli-on-compute-role",
        "anonymous-then-role",
        "recon-from-app-role",
    ] {
        assert!(out.contains(p), "{p}");
    }
}

#[test]
fn since_and_until_read_only_the_windows_days_for_presets_and_sql() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("gen");
    generate(&src, &["--days", "5", "--events-per-day", "300"]);
    let lake = lake_for(tmp.path(), &src, &[]);
    let files = snapshot(&lake);
    let in_window = |k: &&String| k.contains("/day=16/") || k.contains("/day=17/");
    let window_files = files.keys().filter(in_window).count();
    assert!(window_files > 0 && window_files < files.len());

    // A preset that scans the table twice (a self-join) reads the window's
    // files in both scans, and no other.
    let args = [
        "--explain",
        "--since",
        "2024-01-16",
        "--until",
        "2024-01-17",
        "--preset",
        "anonymous-then-role",
    ];
    let (code, _, err) = query(&lake, &args);
    assert_eq!(code, 0, "{err}");
    let scans: Vec<&str> = err.lines().filter(|l| l.starts_with("files:")).collect();
    assert_eq!(scans.len(), 2, "{err}");
    for line in scans {
        let n: usize = line
            .split(|c: char| !c.is_ascii_digit())
            .find(|s| !s.is_empty())
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(n, window_files, "{line}: {err}");
    }

    // SQL: the answer is the window's events, as the raw logs have them.
    let rows = json_rows(
        &lake,
        &[
            "--since",
            "2024-01-16",
            "--until",
            "2024-01-17",
            "SELECT day, count(*) AS n FROM cloudtrail GROUP BY day ORDER BY day",
        ],
    );
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for r in distinct(read_raw(&src)) {
        let day = &r["eventTime"].as_str().unwrap()[8..10];
        if day == "16" || day == "17" {
            *want.entry(day.to_string()).or_default() += 1;
        }
    }
    let got = counts(&rows, "day");
    assert_eq!(got, want);

    // A time ago far enough back reads everything; a bad one is bad usage.
    let all = json_rows(
        &lake,
        &["--since", "100000d", "SELECT count(*) AS n FROM cloudtrail"],
    );
    let total = distinct(read_raw(&src)).len() as u64;
    assert_eq!(all[0]["n"].as_u64(), Some(total));
    let (code, _, err) = query(&lake, &["--since", "7 days", "SELECT 1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--since"), "{err}");
}

/// Our corpus of Athena queries (tests/corpus/queries.sql) answers as DuckDB
/// does on the same files, and the 80 public queries run unchanged, those
/// with rows on these logs answering as DuckDB does too; every function of
/// the Trino function table answers as Trino does.
#[test]
fn the_query_corpus_answers_like_duckdb_and_the_public_queries_run() {
    engines(&["duckdb"]);
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("real");
    for set in ["flaws2", "invictus", "stratus-red-team"] {
        copy_dir(
            &repo().join("tests/data").join(set).join("AWSLogs"),
            &src.join("AWSLogs"),
        );
    }
    let lake = lake_for(tmp.path(), &src, &[]);
    let text = corpus_script("check.py", &lake, &[]);
    // Every query was compared, none skipped.
    let corpus = std::fs::read_to_string(repo().join("tests/corpus/queries.sql")).unwrap();
    let n = corpus.lines().filter(|l| l.starts_with("-- name:")).count();
    assert!(n >= 150, "{n} corpus queries");
    assert!(
        text.contains(&format!("corpus: {n} queries, {n} equal to DuckDB's")),
        "{text}"
    );
    assert!(text.contains("public: 80 of 80 run unchanged"), "{text}");
    // As published (original_sql): all but the templates (`${...}`,
    // `{database}.`), which fail on Athena too.
    assert!(text.contains("public as published: 73 of 80 run"), "{text}");
    // Trino's functions, each as Trino answers, and docs/trino-functions.md
    // saying exactly that.
    let text = corpus_script("functions.py", &lake, &["--check"]);
    assert!(text.contains(", 0 error(s)"), "{text}");
}

/// Runs `tests/corpus/SCRIPT TRAILLAKE LAKE ARGS...`, which must succeed;
/// what it printed.
fn corpus_script(script: &str, lake: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("python3")
        .arg(repo().join("tests/corpus").join(script))
        .arg(env!("CARGO_BIN_EXE_traillake"))
        .arg(lake)
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// An event CloudTrail sends again with `addendum.reason = UPDATED_DATA`
/// supersedes its original: both rows are kept (`cloudtrail_all_versions`),
/// and `cloudtrail`, the presets and `detect` see the event once, in its
/// latest version, whether the update came in the same run or a later one.
#[test]
fn an_updated_event_supersedes_its_original_and_both_are_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp
        .path()
        .join("src/AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/15");
    std::fs::create_dir_all(&folder).unwrap();
    let rec = |id: &str, agent: &str, addendum: &str| {
        format!(
            r#"{{"eventVersion":"1.09","eventTime":"2024-01-15T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","awsRegion":"us-east-1","eventID":"{id}","userAgent":"{agent}","recipientAccountId":"111122223333"{addendum}}}"#
        )
    };
    let write = |name: &str, records: &[String]| {
        let doc = format!("{{\"Records\":[{}]}}", records.join(","));
        std::fs::write(folder.join(name), gz(doc.as_bytes())).unwrap();
    };
    let update = |id: &str, original: &str| {
        rec(
            id,
            "updated",
            &format!(
                r#","addendum":{{"reason":"UPDATED_DATA","updatedFields":"userAgent","originalRequestID":"r","originalEventID":"{original}"}}"#
            ),
        )
    };
    // Run 1: an original and, in the same run, another original with its
    // update; run 2: the update of the first.
    write(
        "a.json.gz",
        &[rec("e1", "first", ""), rec("e2", "first", "")],
    );
    write("b.json.gz", &[update("u2", "e2")]);
    let lake = tmp.path().join("lake");
    let src = tmp.path().join("src");
    let (code, _, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    let ids = |table: &str| -> Vec<String> {
        json_rows(
            &lake,
            &[&format!("select eventid from {table} order by eventid")],
        )
        .into_iter()
        .map(|r| r["eventid"].as_str().unwrap().to_string())
        .collect()
    };
    assert_eq!(ids("cloudtrail"), ["e1", "u2"]);
    write("c.json.gz", &[update("u1", "e1")]);
    let (code, _, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(ids("cloudtrail"), ["u1", "u2"]);
    assert_eq!(ids("cloudtrail_all_versions"), ["e1", "e2", "u1", "u2"]);
    // Columns the query does not name are read to decide, not returned;
    // counts and presets see each event once.
    let rows = json_rows(
        &lake,
        &["select count(*) as n, min(useragent) as a from cloudtrail"],
    );
    assert_eq!(
        (rows[0]["n"].as_i64(), rows[0]["a"].as_str()),
        (Some(2), Some("updated"))
    );
    let rows = json_rows(&lake, &["--preset", "top-events"]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        rows[0]
            .as_object()
            .unwrap()
            .values()
            .filter_map(Value::as_i64)
            .next(),
        Some(2)
    );
    // detect: one alert per event.
    let rules = tmp.path().join("rule.yml");
    std::fs::write(
        &rules,
        sigma_rule(
            "Key created",
            "0f3c8a7e-0000-4000-8000-0000000000aa",
            "eventName: CreateAccessKey",
        ),
    )
    .unwrap();
    let (code, alerts, err) = detect_json(&lake, &rules);
    assert_eq!(code, 0, "{err}");
    let alerted: Vec<String> = alerts
        .iter()
        .filter(|a| a["title"] == "Key created")
        .map(|a| a["eventid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(alerted.len(), 2, "{alerts:?}");
    assert!(alerted.iter().all(|id| id.starts_with('u')), "{alerted:?}");
}

/// Saved queries run as saved: any one table name reads the lake, quoted
/// names match whatever their case, and the partition columns of common
/// Athena tables prune as `year/month/day` do, at every level.
#[test]
fn saved_names_and_partition_columns_read_the_lake_and_prune() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    generate_logs(&src, [2, 2, 3, 40], &[]);
    let lake = lake_for(tmp.path(), &src, &[]);
    let count = |sql: &str| -> (i64, String) {
        let (code, out, err) = query(&lake, &["--format", "csv", "--explain", sql]);
        assert_eq!(code, 0, "{sql}: {err}");
        (out.lines().nth(1).unwrap().parse().unwrap(), err)
    };
    let (all, _) = count("select count(*) from cloudtrail");
    for sql in [
        "select count(*) from cloudtrail_logs",
        "select count(*) from traillake.cloudtrail",
        r#"select count(*) from "AwsDataCatalog"."Security"."CloudTrail_Logs""#,
        "select count(*) from default.cloudtrail_logs_my_trail_bucket",
        "with t as (select * from cloudtrail_000000000000) select count(*) from t",
        "select count(*) from cloudtrail_logs where cloudtrail_logs.eventname is not null",
        r#"select count(*) from cloudtrail_logs where "eventName" is not null"#,
    ] {
        assert_eq!(count(sql).0, all, "{sql}");
    }
    // Quoted camelCase result names come out as Athena gives them.
    let rows = json_rows(
        &lake,
        &[r#"select "eventName", "userIdentity"."type" from logs limit 1"#],
    );
    let names: Vec<&String> = rows[0].as_object().unwrap().keys().collect();
    assert_eq!(names, ["eventname", "type"]);
    // Partition columns as saved tables name them, pruned like the lake's.
    let (want, plain) = count(
        "select count(*) from cloudtrail where year = '2024' and month = '01' and day >= '16'",
    );
    let listed = |explain: &str| -> Vec<String> {
        explain
            .lines()
            .filter(|l| l.starts_with("folders listed") || l.starts_with("partitions:"))
            .map(str::to_string)
            .collect()
    };
    for sql in [
        "select count(*) from t where date_partition >= '2024/01/16'",
        "select count(*) from t where '2024/01/16' <= dt",
        r#"select count(*) from t where "timestamp" between '2024/01/16' and '2024/12/31'"#,
        "select count(*) from t where yyyy = '2024' and mm = '01' and dd >= '16'",
    ] {
        let (n, explain) = count(sql);
        assert_eq!(n, want, "{sql}");
        assert_eq!(listed(&explain), listed(&plain), "{sql}: {explain}");
    }
    let (n, _) = count(
        "select count(*) from t where account_partition = '111111111111' \
         and region_partition in ('us-east-1')",
    );
    let (m, _) = count(
        "select count(*) from cloudtrail where account = '111111111111' and region = 'us-east-1'",
    );
    assert_eq!(n, m);
    // A name the query defines itself is its own: `dt` as an alias.
    let rows = json_rows(
        &lake,
        &["select day as dt, count(*) as n from cloudtrail group by dt order by dt"],
    );
    assert_eq!(rows.len(), 3);
    // Two tables other than the lake: not guessed.
    let (code, _, err) = query(&lake, &["select * from a join b on a.x = b.x"]);
    assert_eq!(code, 2, "{err}");
}

/// The prompt on a terminal (a pseudo-terminal, `tests/pty/prompt.py`):
/// a table capped at 40 rows with the count, Ctrl-C during a slow query
/// cancels it and keeps the prompt (exit 0 at `.quit`), Tab completes a
/// struct field and a preset name, dot commands, the history saved.
#[test]
fn the_prompt_cancels_a_query_on_ctrl_c_and_keeps_going() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    // Enough rows that a two-way cross join runs for minutes.
    generate_logs(&src, [1, 1, 1, 50_000], &[]);
    let lake = lake_for(tmp.path(), &src, &[]);
    let out = std::process::Command::new("python3")
        .arg(repo().join("tests/pty/prompt.py"))
        .arg(env!("CARGO_BIN_EXE_traillake"))
        .arg(&lake)
        .arg(tmp.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
