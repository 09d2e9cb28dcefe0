//! The lake as a Delta table, read by an independent reader: DuckDB 1.4.4's
//! `delta` extension (delta-kernel-rs, from the PyPI wheel
//! `duckdb-ext-delta`) and a plain-Python replay of the log
//! (`tests/interop/delta_check.py`), after one run, incremental runs with
//! merges, kills mid-commit, concurrent shards, and on the loopback S3
//! server.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::helpers::*;

/// The virtualenv with DuckDB 1.4.4 and its delta extension, which
/// `scripts/test.sh` makes (DuckDB 2.x cannot load the extension). Missing
/// is a failure, never a skip.
fn delta_python() -> PathBuf {
    let python = std::env::var_os("TRAILLAKE_DELTA_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap())
                .join(".cache/traillake-delta-venv/bin/python")
        });
    assert!(
        python.exists(),
        "{} is missing: scripts/test.sh makes it (duckdb==1.4.4 and duckdb-ext-delta)",
        python.display()
    );
    python
}

/// What the independent readers see of `lake` (at `version`, or latest).
fn delta_check(lake: &Path, version: Option<i64>) -> Value {
    let mut cmd = Command::new(delta_python());
    cmd.arg(repo().join("tests/interop/delta_check.py"))
        .arg(lake);
    if let Some(v) = version {
        cmd.args(["--version", &v.to_string()]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "delta_check: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `(partition, eventid)` -> times seen.
fn counted(rows: &Value) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for r in rows.as_array().unwrap() {
        let key = (
            r[0].as_str().unwrap().to_string(),
            r[1].as_str().unwrap_or("").to_string(),
        );
        *out.entry(key).or_default() += 1;
    }
    out
}

/// Each distinct raw event once.
fn expected(raw: &[RawEvent]) -> BTreeMap<(String, String), usize> {
    raw.iter()
        .map(|e| {
            (
                (
                    e.partition.clone(),
                    e.record["eventID"].as_str().unwrap().to_string(),
                ),
                1,
            )
        })
        .collect()
}

/// The Delta table holds exactly the raw events once each, and the log's
/// active files are the partition folders' files.
fn assert_delta_matches(lake: &Path, raw: &[RawEvent]) -> Value {
    let seen = delta_check(lake, None);
    let want = expected(raw);
    let got = counted(&seen["rows"]);
    let doubled: Vec<_> = got.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(doubled.is_empty(), "delta_scan doubles events: {doubled:?}");
    let missing: Vec<_> = want
        .keys()
        .filter(|k| !got.contains_key(*k))
        .take(5)
        .collect();
    assert!(missing.is_empty(), "delta_scan misses events: {missing:?}");
    assert_eq!(
        got.len(),
        want.len(),
        "delta_scan rows vs distinct raw events"
    );
    assert_eq!(
        got,
        counted(&seen["folder_rows"]),
        "delta_scan's rows vs DuckDB's read of the partition folders"
    );
    assert_eq!(
        seen["replay_files"], seen["folder_files"],
        "the log's active files vs the partition folders' files"
    );
    seen
}

/// A config making a run merge as soon as two small files pile up.
fn merging(dir: &Path) -> String {
    let cfg = dir.join("merge.toml");
    std::fs::write(&cfg, "[compact]\nmerge_files = 2\n").unwrap();
    cfg.display().to_string()
}

/// Log objects of `dir`, in time order, in `n` groups.
fn drops(dir: &Path, n: usize) -> Vec<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = walk(dir)
        .into_iter()
        .filter(|p| {
            let s = p.to_string_lossy();
            s.ends_with(".json.gz") && !s.contains("Digest")
        })
        .collect();
    files.sort_by_key(|p| p.file_name().unwrap().to_owned());
    (0..n)
        .map(|i| files[i * files.len() / n..(i + 1) * files.len() / n].to_vec())
        .collect()
}

/// Copies `files` of `from` into `to`, at the same relative paths.
fn drop_into(from: &Path, files: &[PathBuf], to: &Path) {
    for f in files {
        let rel = f.strip_prefix(from).unwrap();
        std::fs::create_dir_all(to.join(rel).parent().unwrap()).unwrap();
        std::fs::copy(f, to.join(rel)).unwrap();
    }
}

fn history(lake: &Path) -> Vec<Value> {
    let (code, out, err) = on_lake("history", lake, &["--format", "json"]);
    assert_eq!(code, 0, "{err}");
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn one_run_makes_a_delta_table_of_exactly_the_raw_events() {
    engines(&["duckdb"]);
    let src = repo().join("tests/data");
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let (code, report, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    let raw: Vec<RawEvent> = ["flaws2", "invictus", "stratus-red-team"]
        .iter()
        .flat_map(|s| read_raw(&src.join(s)))
        .collect();
    let seen = assert_delta_matches(&lake, &raw);
    assert_eq!(seen["version"], 0);
    let h = history(&lake);
    assert_eq!(h.len(), 1);
    assert_eq!(h[0]["version"], 0);
    assert_eq!(h[0]["run"], report["run_id"]);
    assert_eq!(h[0]["rows_written"], report["rows_written"]);
    assert_eq!(h[0]["files_added"], report["files_written"]);
    // The protocol Athena reads, and per-file statistics on eventtime.
    let first = std::fs::read_to_string(lake.join("_delta_log/00000000000000000000.json")).unwrap();
    let actions: Vec<Value> = first
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let protocol = actions.iter().find_map(|a| a.get("protocol")).unwrap();
    assert_eq!(protocol["minReaderVersion"], 1);
    assert_eq!(protocol["minWriterVersion"], 2);
    let add = actions.iter().find_map(|a| a.get("add")).unwrap();
    let stats: Value = serde_json::from_str(add["stats"].as_str().unwrap()).unwrap();
    assert!(stats["numRecords"].as_u64().unwrap() > 0);
    assert!(
        stats["minValues"]["eventtime"].as_str().unwrap()
            <= stats["maxValues"]["eventtime"].as_str().unwrap()
    );
    // A run with nothing new commits nothing.
    let (code, _, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(history(&lake).len(), 1, "an empty run committed a version");
    // verify compares the log with the folders.
    let (code, out, err) = on_lake("verify", &lake, &["--json"]);
    assert_eq!(code, 0, "{out}{err}");
}

/// Hourly drops of one day, each compacted: merges replace files, and a
/// reader polling `delta_scan` all along never sees an event twice or a
/// committed one missing, while a reader of the Hive folders may. Replaced
/// files deleted at once (the default), a poll that had loaded the version
/// before may fail on one (never a wrong count); kept an hour, none does.
#[test]
fn incremental_runs_with_merges_never_show_a_delta_reader_half_a_run() {
    engines(&["duckdb"]);
    for keep in [0, 1] {
        let (polls, wrong, failed, hive_wrong) = poll_through_24_runs(keep);
        eprintln!(
            "keep_replaced_hours = {keep}: {polls} polls during 24 runs: delta_scan saw a count \
             no committed run had {wrong} time(s) and failed on a replaced file {failed} \
             time(s); the Hive folders' count was wrong {hive_wrong} time(s)"
        );
        assert!(polls > 0);
        assert_eq!(wrong, 0, "a Delta reader saw half a run");
        if keep > 0 {
            assert_eq!(failed, 0, "a Delta reader found a kept file gone");
        }
    }
}

/// 24 hourly runs with a poller: (polls, wrong Delta counts, failed Delta
/// reads, wrong Hive counts).
fn poll_through_24_runs(keep_replaced_hours: u32) -> (usize, usize, usize, usize) {
    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("all");
    generate_logs(&all, [1, 1, 1, 2400], &[]);
    let hours = drops(&all, 24);
    assert_eq!(hours.len(), 24);
    let cfg = dir.path().join("keep.toml");
    std::fs::write(
        &cfg,
        format!("[delta]\nkeep_replaced_hours = {keep_replaced_hours}\n"),
    )
    .unwrap();
    let cfg = cfg.display().to_string();
    let src = dir.path().join("src");
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    // The poller: delta_scan's count and the folders' count, in a loop,
    // until the stop file appears.
    let stop = dir.path().join("stop");
    let log = dir.path().join("observed.jsonl");
    let poller = Command::new(delta_python())
        .arg("-c")
        .arg(POLLER)
        .arg(&lake)
        .arg(&stop)
        .arg(&log)
        .spawn()
        .unwrap();
    let mut counts_after_runs: Vec<u64> = vec![0];
    let mut raw_so_far = Vec::new();
    let mut changing_runs = 0;
    for (i, hour) in hours.iter().enumerate() {
        drop_into(&all, hour, &src);
        let (code, report, err) = compact(&src, &lake, &["--config", &cfg]);
        assert_eq!(code, 0, "run {i}: {err}");
        if report["files_written"].as_u64() > Some(0) {
            changing_runs += 1;
        }
        raw_so_far = read_raw(&src);
        counts_after_runs.push(expected(&raw_so_far).len() as u64);
    }
    std::fs::write(&stop, "").unwrap();
    let out = poller.wait_with_output().unwrap();
    assert!(out.status.success());
    let seen = assert_delta_matches(&lake, &raw_so_far);
    // One version per run that changed a file (a drop of only copies
    // of delivered files changes nothing).
    assert_eq!(seen["version"], changing_runs - 1, "one version per run");
    assert!(changing_runs >= 20, "{changing_runs}");
    let removed: u64 = history(&lake)
        .iter()
        .map(|v| v["files_removed"].as_u64().unwrap_or(0))
        .sum();
    assert!(removed > 0, "no run merged files");
    let (mut polls, mut wrong, mut failed, mut hive_wrong) = (0, 0, 0, 0);
    for line in std::fs::read_to_string(&log).unwrap().lines() {
        let o: Value = serde_json::from_str(line).unwrap();
        polls += 1;
        let ok = |n: &Value| n.as_u64().is_some_and(|n| counts_after_runs.contains(&n));
        match o["delta"].as_str() {
            Some(e) if e.contains("No such file") => failed += 1,
            _ if !ok(&o["delta"]) || o["delta"] != o["delta_distinct"] => {
                eprintln!("delta reader: {o}");
                wrong += 1;
            }
            _ => {}
        }
        if !o["hive"].is_null() && !ok(&o["hive"]) {
            hive_wrong += 1;
        }
    }
    (polls, wrong, failed, hive_wrong)
}

/// Polls a lake: one JSON line per poll with delta_scan's row count and
/// distinct (partition, eventid) count, and the Hive folders' row count.
const POLLER: &str = r#"
import glob, json, os, sys, duckdb, duckdb_ext
lake, stop, log = sys.argv[1:4]
ext = glob.glob(os.path.join(list(duckdb_ext.__path__)[0], "extensions",
                "v" + duckdb.__version__, "*", "delta.duckdb_extension"))[0]
con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
con.execute(f"LOAD '{ext}'")
with open(log, "w") as out:
    while not os.path.exists(stop):
        o = {}
        if os.path.isdir(os.path.join(lake, "_delta_log")):
            try:
                o["delta"], o["delta_distinct"] = con.execute(
                    f"SELECT count(*), count(DISTINCT (account, region, year, month, day, eventid)) FROM delta_scan('{lake}')").fetchone()
            except duckdb.Error as e:
                o["delta"] = o["delta_distinct"] = "error: " + str(e)
        else:
            o["delta"] = o["delta_distinct"] = 0
        try:
            o["hive"] = con.execute(
                f"SELECT count(*) FROM read_parquet('{lake}/account=*/*/*/*/*/*.parquet')").fetchone()[0]
        except duckdb.Error:
            o["hive"] = None
        out.write(json.dumps(o) + "\n")
        out.flush()
"#;

/// Killed at each step of its commit (after the journal, after the data
/// moves, after the Delta version), then run again: the log and the
/// folders agree and hold each event once; the killed run's version is in
/// the log once.
#[test]
fn a_kill_at_each_commit_step_then_a_rerun_leaves_log_and_folders_agreeing() {
    engines(&["duckdb"]);
    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("all");
    generate_logs(&all, [2, 1, 2, 300], &[]);
    let cfg = merging(dir.path());
    let halves = drops(&all, 2);
    for point in ["after-journal", "after-data-moves", "after-delta-commit"] {
        let src = dir.path().join(format!("src-{point}"));
        let lake = dir.path().join(format!("lake-{point}"));
        // A first run, then a second whose commit is killed.
        drop_into(&all, &halves[0], &src);
        let (code, _, err) = compact(&src, &lake, &["--config", &cfg]);
        assert_eq!(code, 0, "{err}");
        drop_into(&all, &halves[1], &src);
        let out = bin()
            .args(["compact", "--config", &cfg, "--source"])
            .arg(&src)
            .arg("--lake")
            .arg(&lake)
            .env("TRAILLAKE_FAILPOINT", point)
            .current_dir(std::env::temp_dir())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{point}: the failpoint did not fire");
        let (code, report, err) = compact(&src, &lake, &["--config", &cfg]);
        assert_eq!(code, 0, "{point}: {err}");
        assert_eq!(
            report["recovered_runs"].as_array().map(Vec::len),
            Some(1),
            "{point}: the killed run is finished from its journal: {report}"
        );
        assert_delta_matches(&lake, &read_raw(&src));
        let runs: Vec<String> = history(&lake)
            .iter()
            .filter_map(|v| v["run"].as_str().map(str::to_string))
            .collect();
        let mut unique = runs.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            unique.len(),
            runs.len(),
            "{point}: a run committed twice: {runs:?}"
        );
        let (code, out, err) = on_lake("verify", &lake, &["--json"]);
        assert_eq!(code, 0, "{point}: {out}{err}");
    }
}

/// Three shards started at once commit through the log's optimistic
/// concurrency, twice (the second time merging into their own files).
#[test]
fn three_concurrent_shards_commit_through_the_log() {
    engines(&["duckdb"]);
    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("all");
    generate_logs(&all, [3, 2, 2, 200], &[]);
    let cfg = merging(dir.path());
    let src = dir.path().join("src");
    let lake = dir.path().join("lake");
    for half in drops(&all, 2) {
        drop_into(&all, &half, &src);
        let children: Vec<_> = (0..3)
            .map(|k| {
                bin()
                    .args(["compact", "--quiet", "--config", &cfg, "--shard"])
                    .arg(format!("{k}/3"))
                    .arg("--source")
                    .arg(&src)
                    .arg("--lake")
                    .arg(&lake)
                    .current_dir(std::env::temp_dir())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    assert_delta_matches(&lake, &read_raw(&src));
    let h = history(&lake);
    assert_eq!(h.len(), 6, "one version per shard run: {h:?}");
}

/// A lake compacted with the log off gets its first version, from the
/// files its partitions hold, at its next run with the log on; `--as-of`
/// reads an older version; kept files stay readable for it.
#[test]
fn an_older_lake_gets_its_first_version_and_older_versions_stay_readable() {
    engines(&["duckdb"]);
    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("all");
    generate_logs(&all, [1, 1, 2, 400], &[]);
    let src = dir.path().join("src");
    let lake = dir.path().join("lake");
    // The first run brings rows to both days; the next ones merge into
    // one day each.
    let quarters = drops(&all, 4);
    drop_into(&all, &quarters[0], &src);
    drop_into(&all, &quarters[2], &src);
    let off = dir.path().join("off.toml");
    std::fs::write(
        &off,
        "[compact]\nmerge_files = 2\n[delta]\nenabled = false\n",
    )
    .unwrap();
    let on = dir.path().join("on.toml");
    std::fs::write(
        &on,
        "[compact]\nmerge_files = 2\n[delta]\nkeep_replaced_hours = 24\n",
    )
    .unwrap();
    let cfg = |c: &Path| vec!["--config".to_string(), c.display().to_string()];
    let run = |c: &Path| {
        let out = bin()
            .args(cfg(c))
            .args(["compact", "--json", "--source"])
            .arg(&src)
            .arg("--lake")
            .arg(&lake)
            .current_dir(std::env::temp_dir())
            .output()
            .unwrap();
        report_of(out)
    };
    let (code, _, err) = run(&off);
    assert_eq!(code, 0, "{err}");
    assert!(!lake.join("_delta_log").exists());
    // With the log on: version 0 holds the second day's file as it was,
    // and the first day's merged one.
    drop_into(&all, &quarters[1], &src);
    let (code, report, err) = run(&on);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("the lake had no Delta log"), "{err}");
    assert_eq!(report["delta_version"], 0, "{report}");
    assert!(report["files_replaced"].as_u64().unwrap() > 0, "{report}");
    let at_zero = expected(&read_raw(&src)).len();
    assert_delta_matches(&lake, &read_raw(&src));
    // Version 1 merges into the second day; the file it replaces is kept.
    drop_into(&all, &quarters[3], &src);
    let (code, report, err) = run(&on);
    assert_eq!(code, 0, "{err}");
    assert_eq!(report["delta_version"], 1, "{report}");
    let raw = read_raw(&src);
    assert_delta_matches(&lake, &raw);
    // Version 0 still reads, by our query and by DuckDB over the replay.
    let count = |args: &[&str]| -> u64 {
        let mut a = vec!["SELECT count(*) AS n FROM cloudtrail", "--format", "json"];
        a.extend_from_slice(args);
        let (code, out, err) = on_lake("query", &lake, &a);
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        v["n"].as_u64().unwrap()
    };
    assert_eq!(count(&[]), expected(&raw).len() as u64);
    assert_eq!(count(&["--as-of", "0"]), at_zero as u64);
    let old = delta_check(&lake, Some(0));
    assert_eq!(old["version"], 0);
    assert_eq!(old["rows"].as_array().unwrap().len(), at_zero);
    // verify knows the kept files; a Hive reader counts them (the
    // documented trade-off), the Delta table does not.
    let (code, out, err) = on_lake("verify", &lake, &["--json"]);
    assert_eq!(code, 0, "{out}{err}");
    // Once the lists expire, the next run deletes the kept files.
    let lists = walk(&lake.join("_traillake/retained"));
    assert_eq!(lists.len(), 2, "a list per run that replaced files");
    let mut kept_files: Vec<String> = Vec::new();
    for list in &lists {
        let mut kept: Value = serde_json::from_slice(&std::fs::read(list).unwrap()).unwrap();
        for f in kept["files"].as_array().unwrap() {
            assert!(lake.join(f.as_str().unwrap()).exists(), "{f} is gone");
            kept_files.push(f.as_str().unwrap().to_string());
        }
        kept["until_ms"] = 0.into();
        std::fs::write(list, serde_json::to_vec(&kept).unwrap()).unwrap();
    }
    let (code, _, err) = run(&on);
    assert_eq!(code, 0, "{err}");
    for f in &kept_files {
        assert!(!lake.join(f).exists(), "{f} kept past its time");
    }
    assert!(walk(&lake.join("_traillake/retained")).is_empty());
    assert_delta_matches(&lake, &raw);
    // An older version whose files are gone fails with a clear message.
    let (code, _, err) = on_lake(
        "query",
        &lake,
        &["SELECT count(*) FROM cloudtrail", "--as-of", "0"],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("version 0") && err.contains("keep_replaced_hours"),
        "{err}"
    );
    // The log turned off on a lake that has one: the run says so, once.
    let (code, _, err) = run(&off);
    assert_eq!(code, 0, "{err}");
    let warning = "[delta] enabled = false, but the lake has a Delta log";
    assert_eq!(err.matches(warning).count(), 1, "{err}");
}

/// The same on the loopback S3 server: the log is committed by conditional
/// PUT, and DuckDB reads a copy of it.
#[test]
fn the_log_on_s3_holds_exactly_the_raw_events() {
    engines(&["duckdb"]);
    let server = S3Server::start();
    server.create_bucket("src");
    server.create_bucket("lake");
    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("all");
    generate_logs(&all, [2, 1, 2, 300], &[]);
    server.upload(&all, "src", "");
    let env = server.env();
    for shard in ["0/2", "1/2"] {
        let (code, _, err) = compact_env("s3://src", "s3://lake/l", &["--shard", shard], &env);
        assert_eq!(code, 0, "{err}");
    }
    let (code, _, err) = compact_env("s3://src", "s3://lake/l", &[], &env);
    assert_eq!(code, 0, "{err}");
    let local = dir.path().join("copy");
    server.download("lake", "l", &local);
    let raw = read_raw_as(&all, "s3://src");
    assert_delta_matches(&local, &raw);
    let mut cmd = bin();
    cmd.args(["history", "--format", "json", "--lake", "s3://lake/l"]);
    for (k, v) in &env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
}
