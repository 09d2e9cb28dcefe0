//! Integration tests: the real `traillake` binary on real CloudTrail logs
//! (tests/data, see SOURCES.md there) and on generated logs, checked against
//! an independent reading of the raw JSON.

use std::path::Path;

use super::helpers::*;
use serde_json::Value;

fn real_source(dir: &Path) {
    copy_dir(&repo().join("tests/data/flaws2"), dir);
    copy_dir(&repo().join("tests/data/invictus"), dir);
}

fn n(report: &Value, field: &str) -> u64 {
    report[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} missing in {report}"))
}

fn assert_reconciles(r: &Value) {
    assert_eq!(
        n(r, "records_read"),
        n(r, "rows_written") + n(r, "duplicates_dropped") + n(r, "records_quarantined"),
        "{r}"
    );
}

#[test]
fn real_logs_land_exactly_once_with_equal_values() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, lake) = (tmp.path().join("src"), tmp.path().join("lake"));
    real_source(&src);
    let (code, r, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(n(&r, "inputs_listed"), 63);
    assert_eq!(n(&r, "inputs_read"), 63);
    assert_eq!(n(&r, "records_read"), 2937);
    assert_eq!(n(&r, "rows_written"), 2937);
    assert_eq!(n(&r, "duplicates_dropped"), 0);
    assert_reconciles(&r);
    let raw = read_raw(&src);
    assert_eq!(raw.len(), 2937);
    assert_lake_matches(&lake, &raw);
    // invictus: the path says 218007301253, the records 123837392027.
    let partitions: Vec<String> = read_lake(&lake).keys().cloned().collect();
    assert_eq!(
        partitions,
        [
            "account=123837392027/region=us-east-1/year=2023/month=07/day=10",
            "account=653711331788/region=us-east-1/year=2018/month=11/day=28",
        ]
    );
}

#[test]
fn a_rerun_with_no_new_input_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, lake) = (tmp.path().join("src"), tmp.path().join("lake"));
    copy_dir(&repo().join("tests/data/flaws2"), &src);
    let (code, _, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    let before = snapshot(&lake);
    let (code, r, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(n(&r, "inputs_read"), 0);
    assert_eq!(r["skipped_by_reason"]["already_ingested"], 8);
    assert_eq!(n(&r, "rows_written"), 0);
    assert_eq!(snapshot(&lake), before, "a data file changed");
}

#[test]
fn two_batches_merge_into_the_same_lake_as_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let all = tmp.path().join("all");
    generate(
        &all,
        &["--days", "3", "--events-per-day", "300", "--seed", "7"],
    );
    let files: Vec<_> = walk(&all);
    // Batch 1: the first two days' folders; batch 2: the rest, whose first
    // files hold events of the previous day (delivered after midnight).
    let src = tmp.path().join("src");
    let in_batch1 = |p: &Path| !p.to_string_lossy().contains("/2024/01/17/");
    for f in files.iter().filter(|p| in_batch1(p)) {
        let dest = src.join(f.strip_prefix(&all).unwrap());
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(f, dest).unwrap();
    }
    let (lake_inc, lake_one) = (tmp.path().join("inc"), tmp.path().join("one"));
    let (code, r1, err) = compact(&src, &lake_inc, &[]);
    assert_eq!(code, 0, "{err}");
    for f in files.iter().filter(|p| !in_batch1(p)) {
        let dest = src.join(f.strip_prefix(&all).unwrap());
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(f, dest).unwrap();
    }
    let (code, r2, err) = compact(&src, &lake_inc, &[]);
    assert_eq!(code, 0, "{err}");
    assert_reconciles(&r1);
    assert_reconciles(&r2);
    let (code, r, err) = compact(&src, &lake_one, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        n(&r1, "rows_written") + n(&r2, "rows_written"),
        n(&r, "rows_written")
    );
    assert_eq!(read_lake(&lake_inc), read_lake(&lake_one));
    // A re-run adds a file where a partition got new rows; small files are
    // merged only once enough of them pile up (compact.merge_files).
    let per_partition = |lake: &Path| {
        let mut m = std::collections::BTreeMap::<String, usize>::new();
        for k in snapshot(lake).keys() {
            *m.entry(k.rsplit_once('/').unwrap().0.to_string())
                .or_default() += 1;
        }
        m
    };
    assert!(per_partition(&lake_inc).values().all(|&c| c <= 2));
    assert!(per_partition(&lake_one).values().all(|&c| c == 1));
    assert_lake_matches(&lake_inc, &read_raw(&src));
}

#[test]
fn generated_logs_dedupe_deliveries_and_split_at_midnight() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, lake) = (tmp.path().join("src"), tmp.path().join("lake"));
    generate_logs(&src, [2, 3, 2, 2000], &[]);
    let raw = read_raw(&src);
    let distinct: std::collections::HashSet<_> = raw
        .iter()
        .map(|e| e.record["eventID"].as_str().unwrap().to_string())
        .collect();
    assert!(
        distinct.len() < raw.len(),
        "the generator made no duplicate delivery"
    );
    let (code, r, err) = compact(&src, &lake, &["--threads", "2"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(n(&r, "records_read"), raw.len() as u64);
    assert_eq!(n(&r, "rows_written"), distinct.len() as u64);
    assert_eq!(
        n(&r, "duplicates_dropped"),
        (raw.len() - distinct.len()) as u64
    );
    // Digest folders are not even listed.
    assert!(r["skipped_by_reason"].get("digest").is_none(), "{r}");
    assert!(
        r["skipped_by_reason"]["writability_check"]
            .as_u64()
            .unwrap()
            > 0
    );
    // Some events of the 15th were delivered into the 16th's folder.
    assert!(raw
        .iter()
        .any(|e| e.source_url.contains("/2024/01/16/") && e.partition.ends_with("day=15")));
    assert_lake_matches(&lake, &raw);
}

#[test]
fn a_small_memory_budget_spills_and_gives_the_same_lake() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    generate(&src, &["--days", "2", "--events-per-day", "1500"]);
    let config = tmp.path().join("tight.toml");
    std::fs::write(&config, "[compact]\nmemory_budget_mb = 1\n").unwrap();
    let (lake_a, lake_b) = (tmp.path().join("a"), tmp.path().join("b"));
    let cfg = config.to_string_lossy().to_string();
    let (code, ra, err) = compact(&src, &lake_a, &["--config", &cfg]);
    assert_eq!(code, 0, "{err}");
    let (code, rb, err) = compact(&src, &lake_b, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(ra["rows_written"], rb["rows_written"]);
    assert_eq!(ra["duplicates_dropped"], rb["duplicates_dropped"]);
    assert_eq!(read_lake(&lake_a), read_lake(&lake_b));
    assert!(walk(&lake_a.join("_traillake"))
        .iter()
        .all(|p| !p.to_string_lossy().contains("staging")));
    // Spills compressed with LZ4 (the other codec) give the same lake.
    let lz4 = tmp.path().join("lz4.toml");
    std::fs::write(
        &lz4,
        "[compact]\nmemory_budget_mb = 1\nspill_compression = \"lz4\"\n",
    )
    .unwrap();
    let lake_c = tmp.path().join("c");
    let (code, rc, err) = compact(&src, &lake_c, &["--config", &lz4.to_string_lossy()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(rc["duplicates_dropped"], rb["duplicates_dropped"]);
    assert_eq!(read_lake(&lake_c), read_lake(&lake_b));
    // A codec it does not know is refused, naming the two it does.
    std::fs::write(&lz4, "[compact]\nspill_compression = \"zip\"\n").unwrap();
    let (code, _, err) = compact(
        &src,
        &tmp.path().join("d"),
        &["--config", &lz4.to_string_lossy()],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("use none or lz4"), "{err}");
}

#[test]
fn partitions_staged_while_decoding_take_late_rows_exactly_once() {
    // Small chunks: each partition is staged as soon as a chunk brings it
    // nothing, while later chunks decode. A copy of an early file delivered
    // again under the last key (a late, duplicate delivery) must be merged
    // into what was staged, deduplicated, not written twice.
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    generate_logs(&src, [2, 1, 3, 3000], &[]);
    let logs: Vec<_> = walk(&src)
        .into_iter()
        .filter(|p| {
            p.to_string_lossy().contains("/CloudTrail/")
                && p.to_string_lossy().ends_with(".json.gz")
        })
        .collect();
    let (first, last) = (logs.first().unwrap(), logs.last().unwrap());
    let late = last.with_file_name("zzzz_late_redelivery.json.gz");
    std::fs::copy(first, &late).unwrap();
    let config = tmp.path().join("chunks.toml");
    std::fs::write(&config, "[compact]\nchunk_mb = 1\n").unwrap();
    let (chunked, whole) = (tmp.path().join("a"), tmp.path().join("b"));
    let cfg = config.to_string_lossy().to_string();
    let (code, ra, err) = compact(&src, &chunked, &["--config", &cfg]);
    assert_eq!(code, 0, "{err}");
    assert_reconciles(&ra);
    let (code, rb, err) = compact(&src, &whole, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(ra["rows_written"], rb["rows_written"]);
    assert_eq!(ra["duplicates_dropped"], rb["duplicates_dropped"]);
    assert_eq!(ra["partitions_written"], rb["partitions_written"]);
    assert_lake_matches(&chunked, &read_raw(&src));
    assert_eq!(read_lake(&chunked), read_lake(&whole));
    assert!(walk(&chunked.join("_traillake"))
        .iter()
        .all(|p| !p.to_string_lossy().contains("staging")));
}

#[test]
fn bad_input_is_quarantined_and_the_rest_is_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, lake) = (tmp.path().join("src"), tmp.path().join("lake"));
    copy_dir(&repo().join("tests/data/flaws2"), &src);
    let day = src.join("AWSLogs/653711331788/CloudTrail/us-east-1/2018/11/28");
    let good = gz(br#"{"Records":[{"eventTime":"2018-11-28T23:00:00Z","eventID":"x1","recipientAccountId":"653711331788","awsRegion":"us-east-1"}]}"#);
    std::fs::write(day.join("truncated.json.gz"), &good[..good.len() / 2]).unwrap();
    std::fs::write(day.join("empty.json.gz"), b"").unwrap();
    std::fs::write(day.join("plain.json.gz"), b"{\"Records\":[]}").unwrap();
    std::fs::write(day.join("badjson.json.gz"), gz(b"{\"Records\":[{\"a\":")).unwrap();
    std::fs::write(day.join("notarray.json.gz"), gz(b"{\"Records\":{}}")).unwrap();
    std::fs::write(
        day.join("onebad.json.gz"),
        gz(br#"{"Records":[{"eventName":"NoTime","eventID":"x2"},{"eventTime":"2018-11-28T23:01:00Z","eventID":"x3","recipientAccountId":"653711331788","awsRegion":"us-east-1"}]}"#),
    )
    .unwrap();
    let (code, r, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("truncated.json.gz"), "{err}");
    assert!(
        err.contains("onebad.json.gz: record 0: no eventTime"),
        "{err}"
    );
    let q = r["quarantined"].as_array().unwrap();
    let named = |name: &str| q.iter().any(|e| e["key"].as_str().unwrap().ends_with(name));
    for f in [
        "truncated.json.gz",
        "empty.json.gz",
        "plain.json.gz",
        "badjson.json.gz",
        "notarray.json.gz",
        "onebad.json.gz",
    ] {
        assert!(named(f), "{f} not quarantined: {q:?}");
    }
    assert_eq!(n(&r, "files_quarantined"), 5);
    assert_eq!(n(&r, "records_quarantined"), 1);
    assert_eq!(n(&r, "records_read"), 37 + 2);
    assert_eq!(n(&r, "rows_written"), 37 + 1);
    assert_reconciles(&r);
    assert_eq!(
        n(&r, "inputs_listed"),
        n(&r, "inputs_read") + n(&r, "inputs_skipped") + n(&r, "files_quarantined")
    );
    // The bad record is kept verbatim.
    let qdir = walk(&lake.join("_traillake/quarantine"));
    let text = std::fs::read_to_string(&qdir[0]).unwrap();
    assert!(
        text.contains(r#""raw":{"eventName":"NoTime","eventID":"x2"}"#),
        "{text}"
    );
    // --strict turns quarantine into exit 1; whole-file failures are retried.
    let (code, r, _) = compact(&src, &lake, &["--strict"]);
    assert_eq!(code, 1);
    assert_eq!(n(&r, "files_quarantined"), 5);
    assert_eq!(n(&r, "rows_written"), 0);
}

#[test]
fn dry_run_lists_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, lake) = (tmp.path().join("src"), tmp.path().join("lake"));
    copy_dir(&repo().join("tests/data/flaws2"), &src);
    let out = bin()
        .args(["compact", "--dry-run", "--source"])
        .arg(&src)
        .arg("--lake")
        .arg(&lake)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("read\t")).count(),
        8
    );
    assert!(!lake.exists());
}

#[test]
fn filters_select_folders_by_date_account_and_region() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, lake) = (tmp.path().join("src"), tmp.path().join("lake"));
    generate(&src, &["--days", "3", "--events-per-day", "100"]);
    let (code, r, err) = compact(
        &src,
        &lake,
        &[
            "--since",
            "2024-01-16",
            "--until",
            "2024-01-16",
            "--region",
            "us-east-1",
            "--account",
            "111111111111",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(n(&r, "inputs_read") > 0);
    for p in read_lake(&lake).keys() {
        assert!(
            p.starts_with("account=111111111111/region=us-east-1/"),
            "{p}"
        );
        // Folder 16 holds events of the 16th and late ones of the 15th.
        assert!(p.ends_with("day=16") || p.ends_with("day=15"), "{p}");
    }
    let (code, _, err) = compact(&src, &lake, &["--since", "16-01-2024"]);
    assert_eq!(code, 2);
    assert!(err.contains("--since"), "{err}");
}

#[test]
fn a_lake_inside_the_source_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    copy_dir(&repo().join("tests/data/flaws2"), &src);
    let (code, _, err) = compact(&src, &src.join("lake"), &[]);
    assert_eq!(code, 2);
    assert!(err.contains("inside the source"), "{err}");
}

#[test]
fn an_interrupted_commit_is_finished_by_the_next_run() {
    // Simulate a crash after the journal was written: stage a copy of the
    // lake's file, write the journal by hand, and let the next run recover.
    let tmp = tempfile::tempdir().unwrap();
    let (src, lake) = (tmp.path().join("src"), tmp.path().join("lake"));
    copy_dir(&repo().join("tests/data/flaws2"), &src);
    let (code, _, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    let before = read_lake(&lake);
    let files: Vec<String> = snapshot(&lake).into_keys().collect();
    assert_eq!(files.len(), 1);
    let old = &files[0];
    let dir = old.rsplit_once('/').unwrap().0;
    let staged = format!("_traillake/staging/crashed/{dir}/part-crashed-00000.parquet.staged");
    std::fs::create_dir_all(lake.join(&staged).parent().unwrap()).unwrap();
    std::fs::copy(lake.join(old), lake.join(&staged)).unwrap();
    // A run that died before committing leaves staging only.
    let orphan = lake.join("_traillake/staging/died/x.parquet.staged");
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::write(&orphan, b"junk").unwrap();
    let journal = serde_json::json!({
        "run_id": "crashed",
        "moves": [[staged, format!("{dir}/part-crashed-00000.parquet")]],
        "deletes": [old],
        "ledger": [],
    });
    std::fs::create_dir_all(lake.join("_traillake/journal")).unwrap();
    // A put killed before its rename leaves `name#n` behind.
    let partial = lake.join("_traillake/journal/died.json#1");
    std::fs::write(&partial, b"{\"run_").unwrap();
    std::fs::write(
        lake.join("_traillake/journal/crashed.json"),
        journal.to_string(),
    )
    .unwrap();
    let (code, r, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(r["recovered_runs"], serde_json::json!(["crashed"]));
    let after: Vec<String> = snapshot(&lake).into_keys().collect();
    assert_eq!(after, [format!("{dir}/part-crashed-00000.parquet")]);
    assert_eq!(read_lake(&lake), before);
    assert!(!orphan.exists());
    assert!(!partial.exists());
    assert!(!lake.join("_traillake/journal/crashed.json").exists());
}

/// Rows per partition as a sorted list, whatever files they are in.
fn rows_by_partition(lake: &Path) -> std::collections::BTreeMap<String, Vec<String>> {
    read_lake(lake)
        .into_iter()
        .map(|(p, rows)| {
            let mut rows: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
            rows.sort();
            (p, rows)
        })
        .collect()
}

#[test]
fn shards_together_make_the_lake_of_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    generate_logs(&src, [2, 2, 3, 400], &[]);
    let one = tmp.path().join("one");
    let (code, r1, err) = compact(&src, &one, &[]);
    assert_eq!(code, 0, "{err}");

    // Three shards at once, with no coordination, K from the environment
    // as an AWS Batch array job gives it.
    let sharded = tmp.path().join("sharded");
    let children: Vec<_> = (0..3)
        .map(|k| {
            bin()
                .args(["compact", "--json", "--shard", "3", "--source"])
                .arg(&src)
                .arg("--lake")
                .arg(&sharded)
                .env("AWS_BATCH_JOB_ARRAY_INDEX", k.to_string())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut rows = 0;
    let mut read = 0;
    for c in children {
        let (code, r, err) = report_of(c.wait_with_output().unwrap());
        assert_eq!(code, 0, "{err}");
        assert_reconciles(&r);
        assert!(r["shard"].as_str().unwrap().ends_with("of3"));
        rows += n(&r, "rows_written");
        read += n(&r, "inputs_read");
    }
    assert_eq!(
        read,
        n(&r1, "inputs_read"),
        "every object read by exactly one shard"
    );
    assert_eq!(rows, n(&r1, "rows_written"));
    assert_eq!(rows_by_partition(&sharded), rows_by_partition(&one));

    // A shard's re-run with new input merges only its own files.
    let (code, r, err) = compact(&src, &sharded, &["--shard", "1/3"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(n(&r, "inputs_read"), 0);
    assert_eq!(rows_by_partition(&sharded), rows_by_partition(&one));
}
