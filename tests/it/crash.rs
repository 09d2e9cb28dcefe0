//! Crash safety: `compact` killed with SIGKILL at many instants, then run
//! again, leaves exactly the lake of one clean run (no event lost, none
//! doubled, no orphan file a reader would see), on local disk and on S3.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::helpers::*;

/// Starts `compact`, kills it with SIGKILL after `delay` if still running;
/// whether the kill landed mid-run.
fn run_and_kill(
    src: &str,
    lake: &str,
    extra: &[&str],
    env: &[(&str, String)],
    delay: Duration,
) -> bool {
    let mut cmd = bin();
    cmd.args(["compact", "--source", src, "--lake", lake])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + delay;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    true
}

fn timed_run(src: &str, lake: &str, extra: &[&str], env: &[(&str, String)]) -> Duration {
    let start = Instant::now();
    let (code, r, err) = compact_env(src, lake, extra, env);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        r["records_read"].as_u64().unwrap(),
        r["rows_written"].as_u64().unwrap()
            + r["duplicates_dropped"].as_u64().unwrap()
            + r["records_quarantined"].as_u64().unwrap()
    );
    start.elapsed()
}

/// Nothing but partition data files outside `_traillake/`, and no staged
/// or journaled leftovers inside it.
fn assert_clean(lake: &Path) {
    for f in walk(lake) {
        let rel = f.strip_prefix(lake).unwrap().to_string_lossy().to_string();
        if rel.starts_with("_delta_log/") {
            // Commits and checkpoints only: no temporary commit left.
            assert!(
                rel.ends_with(".json")
                    || rel.ends_with(".checkpoint.parquet")
                    || rel == "_delta_log/_last_checkpoint",
                "leftover {rel}"
            );
        } else if rel.starts_with("_traillake/") {
            assert!(!rel.starts_with("_traillake/staging/"), "leftover {rel}");
            assert!(!rel.starts_with("_traillake/journal/"), "leftover {rel}");
        } else {
            assert!(rel.ends_with(".parquet"), "orphan {rel}");
            assert!(
                traillake::partition::PartitionKey::from_hive_path(&rel).is_some(),
                "file outside a partition: {rel}"
            );
        }
    }
}

/// Delays spread over a clean run's duration, with a reproducible jitter.
fn delays(total: Duration, n: u32) -> Vec<Duration> {
    let mut x: u64 = 0x5eed;
    (0..n)
        .map(|i| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let jitter = (x >> 33) as f64 / (1u64 << 31) as f64; // 0..1
            total.mul_f64((f64::from(i) + jitter) / f64::from(n))
        })
        .collect()
}

#[test]
fn killed_at_any_instant_then_rerun_gives_the_clean_lake_locally() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    generate(&src, &["--days", "2", "--events-per-day", "1500"]);
    // A tiny memory budget makes runs spill and merge from sorted runs, and
    // small files merge as soon as there are two, so kills land there too.
    let cfg = tmp.path().join("spill.toml");
    std::fs::write(&cfg, "[compact]\nmemory_budget_mb = 2\nmerge_files = 2\n").unwrap();
    let cfg = cfg.to_string_lossy().to_string();
    let src = src.to_string_lossy().to_string();

    let reference = tmp.path().join("reference");
    let total = timed_run(&src, &reference.to_string_lossy(), &[], &[]);
    let want = read_lake(&reference);

    let mut landed = 0;
    let n = 12;
    for (i, delay) in delays(total, n).into_iter().enumerate() {
        let lake = tmp.path().join(format!("lake{i}"));
        let lake_s = lake.to_string_lossy().to_string();
        let extra: Vec<&str> = if i % 2 == 0 {
            vec![]
        } else {
            vec!["--config", &cfg]
        };
        if i % 4 == 1 {
            // The first day in the lake already (merged with, or checked
            // against, while the rest comes in), with small files merging
            // at once.
            let mut first = extra.clone();
            first.extend(["--until", "2024-01-15"]);
            timed_run(&src, &lake_s, &first, &[]);
        }
        landed += usize::from(run_and_kill(&src, &lake_s, &extra, &[], delay));
        if i % 3 == 0 {
            // Killed again, during recovery or the second attempt.
            run_and_kill(&src, &lake_s, &extra, &[], delay / 2);
        }
        timed_run(&src, &lake_s, &extra, &[]);
        assert_eq!(
            read_lake(&lake),
            want,
            "kill {i} after {delay:?} changed the lake"
        );
        assert_clean(&lake);
    }
    // Most kills landed while a run was going (the last may come too late).
    eprintln!(
        "{landed} of {n} kills landed mid-run, at {:?} of a {total:?} run",
        delays(total, n)
    );
    assert!(
        landed * 3 >= n as usize * 2,
        "{landed} of {n} kills landed mid-run"
    );
}

#[test]
fn killed_at_any_instant_then_rerun_gives_the_clean_lake_on_s3() {
    let s3 = S3Server::start();
    s3.create_bucket("raw");
    s3.create_bucket("lake");
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("src");
    generate(&local, &["--days", "2", "--events-per-day", "600"]);
    s3.upload(&local, "raw", "logs");
    let env = s3.env();

    let total = timed_run("s3://raw/logs", "s3://lake/reference", &[], &env);
    let reference = tmp.path().join("reference");
    s3.download("lake", "reference", &reference);
    let want = read_lake(&reference);

    let mut landed = 0;
    for (i, delay) in delays(total, 5).into_iter().enumerate() {
        let prefix = format!("crash{i}");
        let url = format!("s3://lake/{prefix}");
        landed += usize::from(run_and_kill("s3://raw/logs", &url, &[], &env, delay));
        timed_run("s3://raw/logs", &url, &[], &env);
        let got = tmp.path().join(&prefix);
        s3.download("lake", &prefix, &got);
        assert_eq!(
            read_lake(&got),
            want,
            "kill {i} after {delay:?} changed the lake"
        );
        assert_clean(&got);
    }
    eprintln!(
        "on S3, {landed} of 5 kills landed mid-run, at {:?} of a {total:?} run",
        delays(total, 5)
    );
    assert!(landed >= 3, "{landed} of 5 kills landed mid-run");
}
