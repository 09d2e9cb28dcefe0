//! Damage to a lake is never silent and never permanent: `compact` stops on
//! a missing, changed, unreadable or foreign file in a partition it touches
//! (naming `repair`), `verify` lists every kind of damage, and `repair`
//! gives back exactly the rows of the source (checked by our reader and by
//! DuckDB), safe to run again.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::helpers::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A source of 2 accounts x 2 regions x 2 days, compacted.
fn made(t: &Path) -> (PathBuf, PathBuf) {
    let src = t.join("src");
    generate_logs(&src, [2, 2, 2, 150], &[]);
    let lake = t.join("lake");
    let (code, _, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = on_lake("verify", &lake, &[]);
    assert_eq!(code, 0, "a fresh lake verifies: {out}{err}");
    (src, lake)
}

/// Puts one more event into the source, in the folder (and partition) of
/// the first event of the first object: a new delivery that touches that
/// partition. Returns the partition's folder in the lake.
fn deliver_one_more(src: &Path, lake: &Path, n: u32) -> PathBuf {
    let first = walk(src)
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(".json.gz"))
        .unwrap();
    let data = std::fs::read(&first).unwrap();
    let mut text = String::new();
    use std::io::Read;
    flate2::read::GzDecoder::new(&data[..])
        .read_to_string(&mut text)
        .unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let mut record = doc["Records"][0].clone();
    record["eventID"] = Value::String(format!("00000000-repair-test-{n:04}"));
    let time = record["eventTime"].as_str().unwrap().to_string();
    let (y, m, d) = (&time[0..4], &time[5..7], &time[8..10]);
    let partition = lake.join(format!(
        "account={}/region={}/year={y}/month={m}/day={d}",
        record["recipientAccountId"].as_str().unwrap(),
        record["awsRegion"].as_str().unwrap()
    ));
    let out = first.parent().unwrap().join(format!("zz_more_{n}.json.gz"));
    let doc = serde_json::json!({ "Records": [record] });
    std::fs::write(out, gz(doc.to_string().as_bytes())).unwrap();
    partition
}

fn data_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    v.sort();
    v
}

/// Rows and distinct events of the lake's Parquet files, as DuckDB counts
/// them.
fn duckdb_counts(lake: &Path) -> (u64, u64) {
    engines(&["duckdb"]);
    let script = format!(
        "import duckdb\nr = duckdb.sql(\"select count(*), count(distinct eventid || eventtime) from \
         read_parquet('{}/account=*/*/*/*/*/*.parquet')\").fetchall()[0]\nprint(r[0], r[1])",
        s(lake)
    );
    let out = succeed(std::process::Command::new("python3").args(["-c", &script]));
    let text = String::from_utf8(out).unwrap();
    let mut it = text.split_whitespace().map(|n| n.parse::<u64>().unwrap());
    (it.next().unwrap(), it.next().unwrap())
}

/// The lake holds exactly the source's events, by our reader and DuckDB's.
fn assert_exact(src: &Path, lake: &Path) {
    let raw = read_raw(src);
    assert_lake_matches(lake, &raw);
    let distinct: std::collections::BTreeSet<(String, String)> = raw
        .iter()
        .map(|e| {
            (
                e.record["eventID"].as_str().unwrap().to_string(),
                e.record["eventTime"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        duckdb_counts(lake),
        (distinct.len() as u64, distinct.len() as u64)
    );
}

fn repair(src: &Path, lake: &Path) -> (i32, String) {
    let out = bin()
        .args(["repair", "-q", "--source", s(src), "--lake", s(lake)])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn a_deleted_lake_file_stops_compact_and_repair_reads_its_rows_again() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, lake) = made(tmp.path());
    let partition = deliver_one_more(&src, &lake, 1);
    let victim = data_files(&partition).remove(0);
    std::fs::remove_file(&victim).unwrap();
    let name = victim.file_name().unwrap().to_str().unwrap();

    // Before: exit 0 and the file's rows gone for good. Now: exit 1,
    // naming the file and the command that puts it right.
    let (code, _, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(name) && err.contains("missing"), "{err}");
    assert!(err.contains("traillake repair --source"), "{err}");
    let (code, out, _) = on_lake("verify", &lake, &[]);
    assert_eq!(code, 1);
    assert!(out.contains(name) && out.contains("missing"), "{out}");

    let (code, err) = repair(&src, &lake);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("read again:"), "{err}");
    assert_exact(&src, &lake);
    let (code, out, err) = on_lake("verify", &lake, &[]);
    assert_eq!(code, 0, "{out}{err}");
    // Again: nothing to do, nothing changes.
    let before = snapshot(&lake);
    let (code, err) = repair(&src, &lake);
    assert_eq!(code, 0, "{err}");
    assert_eq!(before, snapshot(&lake));
    let (code, report, err) = compact(&src, &lake, &[]);
    assert_eq!(
        (code, report["rows_written"].as_u64()),
        (0, Some(0)),
        "{err}"
    );
}

#[test]
fn truncated_and_foreign_files_are_named_and_set_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, lake) = made(tmp.path());
    let partition = deliver_one_more(&src, &lake, 2);
    let victim = data_files(&partition).remove(0);
    let bytes = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, &bytes[..bytes.len() / 2]).unwrap();
    // A Parquet file of someone else's in another partition, and a note
    // beside it.
    let first_other = walk(&lake)
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "parquet") && !p.starts_with(&partition))
        .unwrap();
    let other_dir = first_other.parent().unwrap().to_path_buf();
    std::fs::write(other_dir.join("notes.parquet"), b"not parquet at all").unwrap();
    std::fs::write(other_dir.join("README.txt"), b"hello").unwrap();

    let (code, _, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("changed since it was written"), "{err}");
    let (code, _, err) = on_lake(
        "query",
        &lake,
        &["select max(eventname), count(distinct eventid) from cloudtrail"],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("traillake verify"), "{err}");
    let (code, out, _) = on_lake("verify", &lake, &[]);
    assert_eq!(code, 1);
    for needle in [
        "changed since it was written",
        "notes.parquet",
        "README.txt",
    ] {
        assert!(out.contains(needle), "{needle}: {out}");
    }
    let (code, err) = repair(&src, &lake);
    assert_eq!(code, 0, "{err}");
    assert!(!other_dir.join("notes.parquet").exists());
    let aside: Vec<PathBuf> = walk(&lake.join("_traillake/quarantine"))
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".set-aside"))
        .collect();
    assert!(
        aside
            .iter()
            .any(|p| p.to_string_lossy().contains("notes.parquet")),
        "{aside:?}"
    );
    assert_exact(&src, &lake);
    let (code, out, err) = on_lake("verify", &lake, &[]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn damaged_state_is_refused_naming_repair_and_stray_files_are_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, lake) = made(tmp.path());
    let state = lake.join("_traillake");
    // Stray files alone: runs go on.
    for dir in ["journal", "sources", "ledger", "manifest"] {
        std::fs::create_dir_all(state.join(dir)).unwrap();
        std::fs::write(state.join(dir).join(".DS_Store"), b"\0\0\x01Bud1").unwrap();
    }
    deliver_one_more(&src, &lake, 3);
    let (code, _, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "stray files are not state: {err}");

    // A truncated ledger segment, a garbage journal, a truncated source
    // state: refused, naming repair.
    let segment = walk(&state.join("ledger"))
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    let text = std::fs::read(&segment).unwrap();
    std::fs::write(&segment, &text[..text.len() / 2]).unwrap();
    let (code, _, err) = compact(&src, &lake, &["--full-scan"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("traillake repair"), "{err}");
    std::fs::write(
        state.join("journal/20240101T000000-000000-all-1.json"),
        b"{garbage",
    )
    .unwrap();
    let source_state = walk(&state.join("sources"))
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    std::fs::write(&source_state, b"{\"source\":").unwrap();
    let (code, _, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("traillake repair"), "{err}");
    // A Delta reader reads the last version, which the damaged state
    // does not touch; a lake read from its folders (no log) applies the
    // journals, and fails on a garbage one, naming repair.
    let (code, _, err) = on_lake("query", &lake, &["select count(*) from cloudtrail"]);
    assert_eq!(code, 0, "{err}");
    let log = lake.join("_delta_log");
    let aside = tmp.path().join("delta_log_aside");
    std::fs::rename(&log, &aside).unwrap();
    let (code, _, err) = on_lake("query", &lake, &["select count(*) from cloudtrail"]);
    assert_eq!(
        code, 1,
        "a damaged lake is a failed run, not bad SQL: {err}"
    );
    assert!(err.contains("repair"), "{err}");
    std::fs::rename(&aside, &log).unwrap();

    let (code, out, _) = on_lake("verify", &lake, &[]);
    assert_eq!(code, 1);
    for needle in ["ledger", "commit journal", "source state", "stray"] {
        assert!(out.contains(needle), "{needle}: {out}");
    }
    let (code, err) = repair(&src, &lake);
    assert_eq!(code, 0, "{err}");
    assert_exact(&src, &lake);
    let (code, report, err) = compact(&src, &lake, &[]);
    assert_eq!(
        (code, report["rows_written"].as_u64()),
        (0, Some(0)),
        "{err}"
    );
    let (code, out, err) = on_lake("verify", &lake, &[]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn a_journal_naming_paths_outside_the_lake_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, lake) = made(tmp.path());
    let victim = tmp.path().join("victim");
    std::fs::create_dir_all(victim.join("inner")).unwrap();
    std::fs::write(victim.join("inner/keep.txt"), b"keep").unwrap();
    let run = "20240101T000000-000000-all-1";
    let journal = serde_json::json!({
        "run_id": run,
        "moves": [[format!("_traillake/staging/{run}/../../../victim/inner"), "x"]],
        "deletes": ["../victim/inner/keep.txt", "../victim/inner"],
    });
    let dir = lake.join("_traillake/journal");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{run}.json")), journal.to_string()).unwrap();
    let (code, _, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("outside the lake"), "{err}");
    assert!(victim.join("inner/keep.txt").exists());
    let (code, err) = repair(&src, &lake);
    assert_eq!(code, 0, "{err}");
    assert!(victim.join("inner/keep.txt").exists());
    assert_exact(&src, &lake);
}
